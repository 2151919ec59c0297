//! The data plane: `PutEvents` validates each entry as AWS does (per-entry results,
//! `FailedEntryCount`), asks the fault hook, keeps the accepted events, matches them against the
//! enabled rules of their bus and hands every target of every matching rule its input.

use crate::api::{Members, Reply, missing};
use crate::error::Fault;
use crate::model::{Delivery, Target};
use crate::ordered::Json;
use crate::state::Rule;
use crate::transform::{self, JsonPath};
use crate::{Answer, EventBridge};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError};

/// PutEvents takes at most 10 entries, and an entry at most 256 KB.
const MAX_ENTRIES: usize = 10;
const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// Accepted events kept for inspection.
const KEEP: usize = 10_000;

type EntryError = (String, String);

/// An accepted event in its three forms: for matching, for delivering, as delivered.
struct Event {
    /// The envelope as a `Value` (what patterns match).
    value: Value,
    /// The envelope in EventBridge's member order, `detail` in the producer's.
    ordered: Json,
    /// The whole event as targets receive it.
    text: String,
}

/// What a valid entry says.
struct Entry<'a> {
    bus: String,
    source: &'a str,
    detail_type: &'a str,
    detail: Json,
    detail_value: Value,
    time_ms: Option<i64>,
    resources: Value,
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn invalid(message: impl Into<String>) -> EntryError {
    ("InvalidArgument".to_owned(), message.into())
}

fn parse_entry<'a>(entry: &'a Value, buses: &BTreeSet<String>) -> Result<Entry<'a>, EntryError> {
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let source = field("Source").ok_or_else(|| {
        invalid("Parameter Source is not valid. Reason: Source is a required argument.")
    })?;
    let detail_type = field("DetailType").ok_or_else(|| {
        invalid("Parameter DetailType is not valid. Reason: DetailType is a required argument.")
    })?;
    let detail_text = field("Detail").ok_or_else(|| {
        invalid("Parameter Detail is not valid. Reason: Detail is a required argument.")
    })?;
    let malformed = || {
        (
            "MalformedDetail".to_owned(),
            "Detail is malformed.".to_owned(),
        )
    };
    let detail_value: Value = serde_json::from_str(detail_text)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(malformed)?;
    let detail = Json::parse(detail_text).map_err(|_| malformed())?;
    if entry.to_string().len() > MAX_ENTRY_BYTES {
        return Err(invalid(
            "Total size of the entries in the request is over the limit.",
        ));
    }
    let raw_bus = entry
        .get("EventBusName")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = raw_bus
        .rsplit_once(":event-bus/")
        .map_or(raw_bus, |(_, n)| n);
    if !buses.contains(name) {
        return Err(invalid(format!("Event bus {raw_bus} does not exist.")));
    }
    let resources = match entry.get("Resources") {
        None | Some(Value::Null) => json!([]),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => json!(items),
        Some(_) => {
            return Err(invalid(
                "Parameter Resources is not valid. Reason: Resources must be a list of strings.",
            ));
        }
    };
    Ok(Entry {
        bus: name.to_owned(),
        source,
        detail_type,
        detail,
        detail_value,
        // `Time` arrives as epoch seconds (the SDKs' timestamp form); absent means now.
        time_ms: entry
            .get("Time")
            .and_then(Value::as_f64)
            .map(|s| (s * 1000.0) as i64),
        resources,
    })
}

impl EventBridge {
    pub(crate) fn put_events(&self, input: &Value) -> Reply {
        let m = Members(input);
        let entries = m.array("Entries")?.ok_or_else(|| missing("Entries"))?;
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Err(Fault::validation(format!(
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and {MAX_ENTRIES}"
            )));
        }
        let now = self.clock.now_ms();
        let ingestion_time = iso(now);
        // A snapshot of buses and enabled rules, so that neither the hooks nor the targets run
        // under the state's lock (an embedder's target may well call back into EventBridge).
        let (buses, rules): (BTreeSet<String>, Vec<Arc<Rule>>) = {
            let state = self.lock();
            (
                state.buses.keys().cloned().collect(),
                state
                    .rules
                    .values()
                    .filter(|r| r.enabled() && r.pattern.is_some())
                    .cloned()
                    .collect(),
            )
        };
        let faults = self
            .faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let ids = self
            .ids
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();

        let mut results = Vec::with_capacity(entries.len());
        let mut failed = 0;
        let mut deliveries = Vec::new();
        for (index, raw) in entries.iter().enumerate() {
            let outcome = parse_entry(raw, &buses).and_then(|entry| {
                match faults
                    .as_ref()
                    .and_then(|f| f.fail_entry(&entry.bus, index, raw))
                {
                    Some(fault) => Err(fault),
                    None => Ok(entry),
                }
            });
            let entry = match outcome {
                Ok(entry) => entry,
                Err((code, message)) => {
                    failed += 1;
                    results.push(json!({"ErrorCode": code, "ErrorMessage": message}));
                    continue;
                }
            };
            let id = ids();
            let event = self.envelope(&id, &entry, now);
            for rule in rules.iter().filter(|r| r.bus == entry.bus) {
                if rule
                    .pattern
                    .as_ref()
                    .is_some_and(|p| p.matches(&event.value))
                {
                    for target in &rule.targets {
                        deliveries.push(Delivery {
                            event_id: id.clone(),
                            rule_name: rule.name.clone(),
                            rule_arn: rule.arn.clone(),
                            bus: rule.bus.clone(),
                            target_id: target.id.clone(),
                            target_arn: target.arn.clone(),
                            input: input_for(rule, target, &event, &ingestion_time),
                            dead_letter_arn: target
                                .dead_letter_config
                                .as_ref()
                                .and_then(|d| d.arn.clone()),
                            max_retry_attempts: target
                                .retry_policy
                                .as_ref()
                                .and_then(|r| r.maximum_retry_attempts)
                                .and_then(|n| u32::try_from(n).ok()),
                            max_event_age_secs: target
                                .retry_policy
                                .as_ref()
                                .and_then(|r| r.maximum_event_age_in_seconds)
                                .and_then(|n| u32::try_from(n).ok()),
                        });
                    }
                }
            }
            self.keep(event.value, &entry.bus);
            results.push(json!({"EventId": id}));
        }
        let targets = self
            .targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(targets) = targets {
            for delivery in deliveries {
                targets.deliver(delivery);
            }
        }
        Ok(Answer::ok(
            json!({"FailedEntryCount": failed, "Entries": results}),
        ))
    }

    /// The event as EventBridge delivers it: version, id, detail-type, source, account, time
    /// (from devstack's clock unless the entry gives one), region, resources, detail.
    fn envelope(&self, id: &str, entry: &Entry, now: i64) -> Event {
        let time = iso(entry.time_ms.unwrap_or(now));
        let value = json!({
            "version": "0",
            "id": id,
            "detail-type": entry.detail_type,
            "source": entry.source,
            "account": self.account_id,
            "time": time,
            "region": self.region,
            "resources": entry.resources,
            "detail": entry.detail_value,
        });
        let string = |s: &str| Json::String(s.to_owned());
        let ordered = Json::Object(vec![
            ("version".into(), string("0")),
            ("id".into(), string(id)),
            ("detail-type".into(), string(entry.detail_type)),
            ("source".into(), string(entry.source)),
            ("account".into(), string(&self.account_id)),
            ("time".into(), string(&time)),
            ("region".into(), string(&self.region)),
            ("resources".into(), Json::from(&entry.resources)),
            ("detail".into(), entry.detail.clone()),
        ]);
        let text = ordered.text();
        Event {
            value,
            ordered,
            text,
        }
    }

    /// Keeps the event for [`EventBridge::accepted`], with its bus under `event-bus-name` (a
    /// helper field of devstack's, never part of what targets receive).
    fn keep(&self, mut event: Value, bus: &str) {
        event["event-bus-name"] = json!(bus);
        let mut accepted = self.accepted.lock().unwrap_or_else(PoisonError::into_inner);
        if accepted.len() == KEEP {
            accepted.pop_front();
        }
        accepted.push_back(event);
    }
}

/// The text a target receives for `event`: `Input` as given, the `InputPath` selection (`null`
/// when the path is absent from the event: the guide does not say; devstack's choice), the
/// `InputTransformer` output, or the whole event.
fn input_for(rule: &Rule, target: &Target, event: &Event, ingestion_time: &str) -> String {
    if let Some(input) = &target.input {
        return input.clone();
    }
    if let Some(path) = &target.input_path {
        return JsonPath::parse(path)
            .ok()
            .and_then(|p| p.select(&event.ordered).map(Json::text))
            .unwrap_or_else(|| "null".to_owned());
    }
    let Some(transformer) = &target.input_transformer else {
        return event.text.clone();
    };
    let mut vars: BTreeMap<&str, Option<Json>> = transformer
        .input_paths_map
        .iter()
        .map(|(name, path)| {
            let value = JsonPath::parse(path)
                .ok()
                .and_then(|p| p.select(&event.ordered).cloned());
            (name.as_str(), value)
        })
        .collect();
    let string = |s: &str| Some(Json::String(s.to_owned()));
    vars.insert("aws.events.rule-arn", string(&rule.arn));
    vars.insert("aws.events.rule-name", string(&rule.name));
    vars.insert("aws.events.event.ingestion-time", string(ingestion_time));
    vars.insert("aws.events.event.json", Some(event.ordered.clone()));
    // "The original event payload as JSON (without the detail field)"; with `detail-type` as
    // `detailType`, as LocalStack's parity-tested implementation records EventBridge doing.
    let Json::Object(members) = &event.ordered else {
        unreachable!("the envelope is an object")
    };
    vars.insert(
        "aws.events.event",
        Some(Json::Object(
            members
                .iter()
                .filter(|(k, _)| k != "detail")
                .map(|(k, v)| {
                    let k = if k == "detail-type" { "detailType" } else { k };
                    (k.to_owned(), v.clone())
                })
                .collect(),
        )),
    );
    transform::render(&transformer.input_template, &vars)
}
