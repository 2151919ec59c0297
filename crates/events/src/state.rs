//! Buses and rules: built from the template at every start, plus those created through the API,
//! which are kept in `{dir}/events.json`, written whole after every change through a temporary
//! file and a rename, so a crash leaves either the old or the new file, never half of one.
//!
//! Template buses and rules are never written: the template is re-read at each start and wins
//! on a name clash. A template rule changed through the API (new targets, disabled...) keeps the
//! change until devstack restarts.

use crate::error::EventsError;
use crate::model::{DeadLetterConfig, RetryPolicy, RuleInfo, Target};
use crate::pattern::Pattern;
use crate::transform::JsonPath;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const FILE: &str = "events.json";
const VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub(crate) struct Bus {
    pub name: String,
    pub description: Option<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub from_template: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub name: String,
    pub bus: String,
    pub arn: String,
    pub description: Option<String>,
    /// The pattern as the API was given it (the template's, serialised), answered back as is.
    pub event_pattern: Option<String>,
    /// None when there is no pattern, or (template rules only) when it is invalid.
    pub pattern: Option<Pattern>,
    /// `ENABLED`, `DISABLED` or `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`.
    pub state: String,
    pub targets: Vec<Target>,
    pub from_template: bool,
}

impl Rule {
    pub fn enabled(&self) -> bool {
        self.state != "DISABLED"
    }

    pub fn info(&self) -> RuleInfo {
        RuleInfo {
            name: self.name.clone(),
            arn: self.arn.clone(),
            bus: self.bus.clone(),
            pattern: self
                .event_pattern
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            enabled: self.enabled(),
            from_template: self.from_template,
            targets: self.targets.clone(),
        }
    }
}

/// Rules are keyed by (bus, name): names are unique per bus.
#[derive(Debug, Clone, Default)]
pub(crate) struct State {
    pub buses: BTreeMap<String, Bus>,
    pub rules: BTreeMap<(String, String), Arc<Rule>>,
}

/// A rule's ARN as EventBridge forms it: the bus appears unless it is the default one.
pub(crate) fn rule_arn(region: &str, account: &str, bus: &str, name: &str) -> String {
    if bus == "default" {
        format!("arn:aws:events:{region}:{account}:rule/{name}")
    } else {
        format!("arn:aws:events:{region}:{account}:rule/{bus}/{name}")
    }
}

impl State {
    /// The template's buses (and `default`) and rules; problems go to `warnings`.
    pub fn from_template(
        stack: &template::model::Stack,
        now_ms: i64,
        warnings: &mut Vec<String>,
    ) -> State {
        let mut state = State::default();
        let names =
            std::iter::once("default").chain(stack.event_buses.iter().map(|b| b.name.as_str()));
        for name in names {
            state.buses.insert(
                name.to_owned(),
                Bus {
                    name: name.to_owned(),
                    description: None,
                    created_ms: now_ms,
                    modified_ms: now_ms,
                    from_template: true,
                },
            );
        }
        for r in &stack.rules {
            if !state.buses.contains_key(&r.bus) {
                warnings.push(format!(
                    "rule {} is on event bus {}, which the template does not define: it receives no events",
                    r.name, r.bus
                ));
                continue;
            }
            let event_pattern = (!r.pattern.is_null()).then(|| r.pattern.to_string());
            let pattern = match event_pattern.as_ref().map(|_| Pattern::parse(&r.pattern)) {
                Some(Ok(p)) => Some(p),
                Some(Err(e)) => {
                    warnings.push(format!("rule {}: {e}; it matches no events", r.name));
                    None
                }
                None => None,
            };
            let targets = r
                .targets
                .iter()
                .map(|t| {
                    if let Some(path) = &t.input_path
                        && let Err(e) = JsonPath::parse(path)
                    {
                        warnings.push(format!(
                            "rule {} target {}: InputPath {e}; it receives null",
                            r.name, t.id
                        ));
                    }
                    Target {
                        id: t.id.clone(),
                        arn: t.arn.clone(),
                        input: t.input.clone(),
                        input_path: t.input_path.clone(),
                        input_transformer: None,
                        dead_letter_config: t
                            .dead_letter_arn
                            .clone()
                            .map(|arn| DeadLetterConfig { arn: Some(arn) }),
                        retry_policy: (t.max_retry_attempts.is_some()
                            || t.max_event_age_secs.is_some())
                        .then(|| RetryPolicy {
                            maximum_retry_attempts: t.max_retry_attempts.map(i64::from),
                            maximum_event_age_in_seconds: t.max_event_age_secs.map(i64::from),
                        }),
                        other: Default::default(),
                    }
                })
                .collect();
            state.rules.insert(
                (r.bus.clone(), r.name.clone()),
                Arc::new(Rule {
                    name: r.name.clone(),
                    bus: r.bus.clone(),
                    arn: r.arn.clone(),
                    description: None,
                    event_pattern,
                    pattern,
                    state: if r.enabled { "ENABLED" } else { "DISABLED" }.to_owned(),
                    targets,
                    from_template: true,
                }),
            );
        }
        state
    }

    /// Adds what the API created before; the template wins on name clashes.
    pub fn restore(
        &mut self,
        saved: Saved,
        region: &str,
        account: &str,
        warnings: &mut Vec<String>,
    ) {
        for b in saved.buses {
            self.buses.entry(b.name.clone()).or_insert(Bus {
                name: b.name,
                description: b.description,
                created_ms: b.created_ms,
                modified_ms: b.modified_ms,
                from_template: false,
            });
        }
        for r in saved.rules {
            let key = (r.bus.clone(), r.name.clone());
            if !self.buses.contains_key(&r.bus) {
                warnings.push(format!(
                    "saved rule {} dropped: its event bus {} no longer exists",
                    r.name, r.bus
                ));
                continue;
            }
            if self.rules.contains_key(&key) {
                warnings.push(format!(
                    "saved rule {} on bus {} dropped: the template defines a rule of that name",
                    r.name, r.bus
                ));
                continue;
            }
            let pattern = match r.event_pattern.as_deref().map(Pattern::parse_str) {
                Some(Ok(p)) => Some(p),
                Some(Err(e)) => {
                    warnings.push(format!("saved rule {} dropped: {e}", r.name));
                    continue;
                }
                None => None,
            };
            self.rules.insert(
                key,
                Arc::new(Rule {
                    arn: rule_arn(region, account, &r.bus, &r.name),
                    name: r.name,
                    bus: r.bus,
                    description: r.description,
                    event_pattern: r.event_pattern,
                    pattern,
                    state: r.state,
                    targets: r.targets,
                    from_template: false,
                }),
            );
        }
    }

    /// What is written: the API's buses and rules only.
    pub fn saved(&self) -> Saved {
        Saved {
            version: VERSION,
            buses: self
                .buses
                .values()
                .filter(|b| !b.from_template)
                .map(|b| SavedBus {
                    name: b.name.clone(),
                    description: b.description.clone(),
                    created_ms: b.created_ms,
                    modified_ms: b.modified_ms,
                })
                .collect(),
            rules: self
                .rules
                .values()
                .filter(|r| !r.from_template)
                .map(|r| SavedRule {
                    name: r.name.clone(),
                    bus: r.bus.clone(),
                    description: r.description.clone(),
                    event_pattern: r.event_pattern.clone(),
                    state: r.state.clone(),
                    targets: r.targets.clone(),
                })
                .collect(),
        }
    }
}

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Saved {
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub buses: Vec<SavedBus>,
    #[serde(default)]
    pub rules: Vec<SavedRule>,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SavedBus {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_ms: i64,
    pub modified_ms: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SavedRule {
    pub name: String,
    pub bus: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<String>,
    pub state: String,
    #[serde(default)]
    pub targets: Vec<Target>,
}

/// Where the state is written (nowhere when in memory).
#[derive(Debug)]
pub(crate) struct Store {
    file: Option<PathBuf>,
}

impl Store {
    pub fn in_memory() -> Store {
        Store { file: None }
    }

    /// Prepares `dir` (creating it) and reads what it holds, if anything.
    pub fn open(dir: Option<&Path>) -> Result<(Store, Saved), EventsError> {
        let Some(dir) = dir else {
            return Ok((Store::in_memory(), Saved::default()));
        };
        std::fs::create_dir_all(dir).map_err(|source| EventsError::Io {
            action: "create",
            path: dir.to_owned(),
            source,
        })?;
        let file = dir.join(FILE);
        let saved = match std::fs::read(&file) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| EventsError::BadState {
                    path: file.clone(),
                    source,
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(source) => {
                return Err(EventsError::Io {
                    action: "read",
                    path: file,
                    source,
                });
            }
        };
        Ok((Store { file: Some(file) }, saved))
    }

    /// Writes the state, if this store has a file. Called with the state's lock held, so
    /// writes happen in the order of the changes.
    pub fn save(&self, state: &State) -> Result<(), EventsError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let bytes =
            serde_json::to_vec_pretty(&state.saved()).map_err(|source| EventsError::BadState {
                path: file.clone(),
                source,
            })?;
        write_atomically(file, &bytes)
    }
}

/// Writes `bytes` to `path` through `path.tmp` and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), EventsError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| EventsError::Io {
            action,
            path,
            source,
        }
    };
    let mut f = std::fs::File::create(&tmp).map_err(io("create", &tmp))?;
    f.write_all(bytes).map_err(io("write", &tmp))?;
    // Flushed before the rename, so the new name never points at unwritten data.
    f.sync_all().map_err(io("write", &tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io("replace", path))
}
