//! devstack: the product's stack on one machine, from its `template.yaml`.
//!
//! [`Devstack::start`] reads the template, resolves it to local endpoints, builds (or finds)
//! each function's executable, starts the DynamoDB engine with the template's tables, the
//! Lambda service, EventBridge and the HTTP and WebSocket API gateways, and serves them on
//! loopback ports.
//! The `devstack` binary is a CLI around it; tests use it as a library, each with its own
//! ports and an in-memory state.

pub mod build;
mod dynamo;
mod edge;
pub mod external;
mod idempotency;
pub mod replay;
pub mod site;
mod wiring;

pub use build::{BuildMode, Profile};

use clock::{ManualClock, SharedClock, SystemClock};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use template::model::{Endpoints, ResolveOptions, Stack};

#[derive(Debug, Clone)]
pub struct Config {
    pub template: PathBuf,
    pub stack_name: String,
    pub region: String,
    pub parameter_overrides: BTreeMap<String, String>,
    /// State (DynamoDB file, logs, build artifacts); `.devstack` by default.
    pub data_dir: PathBuf,
    /// Keep all state in memory (tests).
    pub in_memory: bool,
    /// Wipe the data folder's state first.
    pub reset: bool,
    pub host: IpAddr,
    /// 0 picks a free port.
    pub edge_port: u16,
    pub http_port: u16,
    pub ws_port: u16,
    pub build: BuildMode,
    /// `--function NAME=PATH`: executables mapped by hand (logical id or function name).
    pub function_paths: BTreeMap<String, PathBuf>,
    /// `--attach NAME`: functions whose invocations wait for an external poller.
    pub attach: BTreeSet<String>,
    pub account_concurrency: usize,
    /// Instances per function at most (see `lambda::Settings::max_instances`).
    pub max_instances: Option<usize>,
    /// Echo function output on the console.
    pub console_logs: bool,
    /// The clock every service reads.
    pub clock: ClockMode,
    /// Seeded fault injection: the rules (from `--chaos`, `--chaos-file`) and the seed.
    pub chaos_rules: Vec<chaos::Rule>,
    pub chaos_seed: u64,
    /// Run the template's event source mappings (`--no-pollers` pauses them: messages stay
    /// in their queues, to be inspected or consumed by hand).
    pub pollers: bool,
    /// `--dynamodb-endpoint`: keep the tables in this DynamoDB (moto, DynamoDB Local,
    /// LocalStack, AWS) instead of the embedded engine.
    pub dynamodb_endpoint: Option<String>,
    /// `--sqs-endpoint`: keep the queues in this SQS instead of devstack's own.
    pub sqs_endpoint: Option<String>,
    /// The static site (the dashboard) served on the edge under `/dashboard/`.
    pub site: SiteChoice,
}

/// Which static site devstack serves under `/dashboard/`, in place of the bucket and the
/// CloudFront distribution that serve it on AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteChoice {
    /// The template's bucket with `Metadata.Site` (its `Source`, less `Exclude`, and its
    /// `Config` output as `config.json`), if it declares one.
    Template,
    /// This folder instead of the `Source` (`devstack up --site DIR`); the rest as above.
    Dir(PathBuf),
    /// None (`--no-site`).
    Off,
}

/// What time devstack's services see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockMode {
    /// The system clock.
    Real,
    /// A clock that moves only when told (`/_devstack/clock`, [`Devstack::advance_clock`]),
    /// starting at this instant (ms since the epoch). Ids become deterministic too, so that a
    /// seeded run is reproduced byte for byte.
    Virtual { start_ms: i64 },
}

impl ClockMode {
    /// 2026-01-01T00:00:00Z: a fixed start, so that runs on the virtual clock are identical.
    pub const VIRTUAL_EPOCH_MS: i64 = 1_767_225_600_000;
}

impl Config {
    /// Four instances per CPU core and function: beyond that, more processes only take turns
    /// on the same cores (measured in `just bench`).
    pub fn default_max_instances() -> Option<usize> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Some(4 * cores)
    }

    /// The defaults of `devstack up` for `template`.
    pub fn new(template: impl Into<PathBuf>) -> Self {
        Self {
            template: template.into(),
            stack_name: "devstack".into(),
            region: "us-east-1".into(),
            parameter_overrides: BTreeMap::new(),
            data_dir: PathBuf::from(".devstack"),
            in_memory: false,
            reset: false,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            edge_port: 4566,
            http_port: 3000,
            ws_port: 3001,
            build: BuildMode {
                profile: Profile::Release,
                build: true,
            },
            function_paths: BTreeMap::new(),
            attach: BTreeSet::new(),
            account_concurrency: 1000,
            max_instances: Self::default_max_instances(),
            console_logs: true,
            clock: ClockMode::Real,
            chaos_rules: Vec::new(),
            chaos_seed: 0,
            pollers: true,
            dynamodb_endpoint: None,
            sqs_endpoint: None,
            site: SiteChoice::Off,
        }
    }

    /// Isolated and quick: free ports, in-memory state, dev-profile binaries (the ones
    /// `cargo test` builds), no console echo.
    pub fn for_tests(template: impl Into<PathBuf>) -> Self {
        Self {
            in_memory: true,
            edge_port: 0,
            http_port: 0,
            ws_port: 0,
            build: BuildMode {
                profile: Profile::Dev,
                build: true,
            },
            console_logs: false,
            data_dir: std::env::temp_dir().join(format!("devstack-test-{}", std::process::id())),
            ..Self::new(template)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("devstack runs on the real clock; start it with --clock virtual to move time")]
    Real,
}

#[derive(Debug, thiserror::Error)]
pub enum DevstackError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    #[error(transparent)]
    Build(#[from] build::BuildError),
    #[error(transparent)]
    Dynamo(#[from] dynamo::DynamoError),
    #[error(transparent)]
    Gateway(#[from] apigw::GatewayError),
    #[error(transparent)]
    Cognito(#[from] cognito::CognitoError),
    #[error(transparent)]
    States(#[from] states::StatesError),
    #[error(transparent)]
    Sqs(#[from] sqs::SqsError),
    #[error(transparent)]
    Events(#[from] events::EventsError),
    #[error("chaos: {0}")]
    Chaos(#[from] chaos::RuleError),
    #[error(transparent)]
    Journal(#[from] chaos::JournalError),
    #[error("event source mapping of {function}: {reason}")]
    Mapping { function: String, reason: String },
    #[error("--{flag} {name}: the template has no such function")]
    UnknownFunction { flag: &'static str, name: String },
    #[error("the external {service} at {endpoint}: {source}")]
    External {
        service: &'static str,
        endpoint: String,
        source: external::ExternalError,
    },
    #[error("the site folder {path}: {source}")]
    Site {
        path: String,
        source: std::io::Error,
    },
    #[error("the site's config output {output} is not a JSON object: {problem}")]
    SiteConfig { output: String, problem: String },
    #[error("cannot prepare the data folder {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

/// A running stack. Dropping it stops its servers; call [`Devstack::shutdown`] to also stop
/// the function processes and wait for them.
pub struct Devstack {
    pub stack: Arc<Stack>,
    pub edge_url: String,
    pub http_url: Option<String>,
    pub ws_url: String,
    /// The static site's URL on the edge (`{edge}/dashboard/`), when one is served.
    pub dashboard_url: Option<String>,
    /// The folder it serves.
    pub site_dir: Option<PathBuf>,
    /// The WebSocket API (the template's first), served on the ws port.
    pub websocket: Option<Arc<apigw::WebSocketGateway>>,
    pub lambda: lambda::LambdaService,
    pub events: Arc<events::EventBridge>,
    pub cognito: Arc<cognito::Cognito>,
    /// Step Functions: the template's state machines and their executions.
    pub states: Arc<states::StepFunctions>,
    pub sqs: Arc<sqs::Sqs>,
    pub chaos: Arc<chaos::Chaos>,
    pub pollers: Arc<esm::Pollers>,
    pub clock: SharedClock,
    /// The virtual clock, when devstack runs on one.
    pub manual_clock: Option<Arc<ManualClock>>,
    activity: Arc<wiring::Activity>,
    /// How long start took after the executables were ready.
    pub ready_in: Duration,
    servers: Vec<tokio::task::JoinHandle<()>>,
    dynamo: dynamo::Dynamo,
}

async fn bind(host: IpAddr, port: u16) -> Result<tokio::net::TcpListener, DevstackError> {
    let addr = SocketAddr::new(host, port);
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DevstackError::Listen { addr, source })
}

impl Devstack {
    pub async fn start(config: Config) -> Result<Self, DevstackError> {
        let clock_file =
            wiring::clock_file((!config.in_memory).then_some(config.data_dir.as_path()));
        let manual_clock = match config.clock {
            ClockMode::Real => None,
            ClockMode::Virtual { start_ms } => Some(ManualClock::starting_at(
                wiring::stored_clock(clock_file.as_deref()).map_or(start_ms, |t| t.max(start_ms)),
            )),
        };
        let clock: SharedClock = match &manual_clock {
            Some(m) => m.clone(),
            None => Arc::new(SystemClock),
        };
        // A seeded or virtual-clock run makes the same ids every time.
        let deterministic = manual_clock.is_some();
        let edge = bind(config.host, config.edge_port).await?;
        let http = bind(config.host, config.http_port).await?;
        let edge_url = format!(
            "http://{}",
            edge.local_addr().map_err(|source| DevstackError::Listen {
                addr: SocketAddr::new(config.host, config.edge_port),
                source
            })?
        );
        let http_addr = http.local_addr().map_err(|source| DevstackError::Listen {
            addr: SocketAddr::new(config.host, config.http_port),
            source,
        })?;
        let http_base = format!("http://{http_addr}");
        let ws = bind(config.host, config.ws_port).await?;
        let ws_addr = ws.local_addr().map_err(|source| DevstackError::Listen {
            addr: SocketAddr::new(config.host, config.ws_port),
            source,
        })?;
        let ws_base = format!("http://{ws_addr}");

        let stack = Arc::new(resolve_stack(
            &config,
            Endpoints {
                edge: edge_url.clone(),
                http_api: http_base.clone(),
                websocket_api: ws_base.clone(),
            },
        )?);

        for (flag, names) in [
            ("attach", config.attach.iter().collect::<Vec<_>>()),
            ("function", config.function_paths.keys().collect()),
        ] {
            for n in names {
                if !stack
                    .functions
                    .iter()
                    .any(|f| &f.logical_id == n || &f.name == n)
                {
                    return Err(DevstackError::UnknownFunction {
                        flag,
                        name: n.clone(),
                    });
                }
            }
        }
        let chosen = |f: &template::model::Function, set: &dyn Fn(&str) -> bool| {
            set(&f.logical_id) || set(&f.name)
        };
        let by_hand = |f: &template::model::Function| {
            config
                .function_paths
                .get(&f.logical_id)
                .or_else(|| config.function_paths.get(&f.name))
                .cloned()
        };
        let to_build: Vec<&template::model::Function> = stack
            .functions
            .iter()
            .filter(|f| by_hand(f).is_none() && !chosen(f, &|n| config.attach.contains(n)))
            .collect();
        if !config.in_memory && config.reset {
            for sub in [
                "dynamodb.sqlite",
                "dynamodb.sqlite-wal",
                "dynamodb.sqlite-shm",
                "sqs.sqlite",
                "sqs.sqlite-wal",
                "sqs.sqlite-shm",
                "states.sqlite",
                "states.sqlite-wal",
                "states.sqlite-shm",
                "events",
                "journal.jsonl",
                "boots",
                "clock",
                "logs",
            ] {
                let p = config.data_dir.join(sub);
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
        let executables =
            build::executables(&to_build, config.build, &config.data_dir.join("build"))?;
        let started = Instant::now();

        let dynamo_path = (!config.in_memory).then(|| config.data_dir.join("dynamodb.sqlite"));
        if !config.in_memory {
            std::fs::create_dir_all(&config.data_dir).map_err(|source| DevstackError::DataDir {
                path: config.data_dir.display().to_string(),
                source,
            })?;
        }
        let signer = Arc::new(external::Signer::from_env(&config.region));
        let dynamo = match &config.dynamodb_endpoint {
            Some(url) => {
                dynamo::Dynamo::external(external::Endpoint::new(url, "dynamodb", signer.clone()))
            }
            None => {
                dynamo::Dynamo::start(dynamo_path.as_deref(), clock.clone(), deterministic).await?
            }
        };
        for t in &stack.tables {
            dynamo.provision(t).await?;
        }

        let logs = lambda::LogSink::new(
            config.console_logs,
            (!config.in_memory).then(|| config.data_dir.join("logs")),
        );
        let function_configs = stack
            .functions
            .iter()
            .map(|f| {
                let executable = if chosen(f, &|n| config.attach.contains(n)) {
                    None
                } else {
                    by_hand(f).or_else(|| executables.get(&f.logical_id).cloned())
                };
                lambda::FunctionConfig {
                    name: f.name.clone(),
                    arn: f.arn.clone(),
                    executable,
                    environment: function_env(f, &stack, &edge_url),
                    memory_mb: f.memory_mb,
                    timeout_secs: f.timeout_secs,
                    reserved_concurrency: f.reserved_concurrency,
                    handler: f.handler.clone().unwrap_or_else(|| "bootstrap".into()),
                    runtime: f
                        .runtime
                        .clone()
                        .unwrap_or_else(|| "provided.al2023".into()),
                    aliases: f.alias.iter().cloned().collect(),
                }
            })
            .collect();
        let lambda = lambda::LambdaService::new(
            lambda::Settings {
                runtime_api_host: edge_url.trim_start_matches("http://").to_owned(),
                account_concurrency: config.account_concurrency,
                max_instances: config.max_instances,
                logs,
            },
            function_configs,
        );
        let journal = match config.in_memory {
            true => chaos::Journal::memory(),
            false => chaos::Journal::open(config.data_dir.join("journal.jsonl"))?,
        };
        let chaos = {
            let clock = clock.clone();
            Arc::new(
                chaos::Chaos::new(config.chaos_seed, config.chaos_rules.clone())?
                    .with_journal(journal, move || clock.now_ms()),
            )
        };
        let external_sqs = match &config.sqs_endpoint {
            Some(url) => Some(external_sqs(url, signer.clone(), &stack).await?),
            None => None,
        };
        // With an external SQS, devstack's own serves no queue of the stack.
        let queues = match external_sqs {
            Some(_) => Vec::new(),
            None => standard_queues(&stack),
        };
        let sqs = Arc::new(sqs::Sqs::open(
            (!config.in_memory).then_some(config.data_dir.as_path()),
            &queues,
            &stack.region,
            &stack.account_id,
            &edge_url,
            clock.clone(),
        )?);
        // Step Functions: Tasks reach Lambda and DynamoDB directly.
        let states = Arc::new(states::StepFunctions::open(
            &stack,
            clock.clone(),
            (!config.in_memory).then_some(config.data_dir.as_path()),
            Arc::new(wiring::StatesTasks {
                lambda: lambda.clone(),
                dynamodb: dynamo.target.clone(),
            }),
        )?);
        let events_dir = (!config.in_memory).then(|| config.data_dir.join("events"));
        let events = Arc::new(events::EventBridge::open(
            &stack,
            clock.clone(),
            events_dir.as_deref(),
        )?);
        if deterministic {
            let boot =
                wiring::boot_number((!config.in_memory).then_some(config.data_dir.as_path()));
            sqs.set_id_generator(Box::new(wiring::counter_ids(0x5e5, boot)));
            events.set_id_generator(Box::new(wiring::counter_ids(0xeb, boot)));
            states.set_id_generator(Box::new(wiring::counter_ids(0x5f, boot)));
        }
        events.set_targets(Arc::new(wiring::Targets {
            sqs: sqs.clone(),
            external_sqs: external_sqs.clone(),
            lambda: lambda.clone(),
            chaos: chaos.clone(),
            clock: clock.clone(),
            invocations: Default::default(),
            states: states.clone(),
        }));
        events.set_entry_faults(Arc::new(wiring::EntryFaults(chaos.clone())));
        for w in events.warnings().iter().chain(states.warnings()) {
            tracing::warn!("{w}");
        }
        for r in events.rules() {
            for t in &r.targets {
                if !matches!(t.service(), Some("sqs" | "lambda" | "states")) {
                    tracing::warn!(
                        rule = %r.name, target = %t.arn,
                        "this rule's target is not emulated yet: matching events are dropped"
                    );
                }
            }
        }
        let mut mappings = Vec::new();
        for m in &stack.event_source_mappings {
            let function = stack
                .functions
                .iter()
                .find(|f| f.logical_id == m.function)
                .ok_or_else(|| DevstackError::Mapping {
                    function: m.function.clone(),
                    reason: "the template has no such function".into(),
                })?;
            let queue = match external_sqs {
                Some(_) => queues_by_arn(&stack, &m.queue_arn),
                None => sqs.queue_arn_to_name(&m.queue_arn),
            }
            .ok_or_else(|| DevstackError::Mapping {
                function: m.function.clone(),
                reason: format!("no queue {} in this stack", m.queue_arn),
            })?;
            mappings.push(esm::Mapping {
                id: format!("{}-{}", m.function, queue),
                function: function.name.clone(),
                queue,
                queue_arn: m.queue_arn.clone(),
                batch_size: m.batch_size.max(1) as usize,
                window_ms: i64::from(m.max_batching_window_secs) * 1000,
                report_batch_item_failures: m.report_batch_item_failures,
                max_concurrency: m.max_concurrency.map(|c| c as usize),
                enabled: m.enabled && config.pollers,
            });
        }
        let polled: Arc<dyn esm::Queues> = match &external_sqs {
            Some(remote) => remote.clone(),
            None => sqs.clone(),
        };
        let pollers = Arc::new(esm::Pollers::start(
            esm::Deps {
                sqs: polled,
                lambda: lambda.clone(),
                clock: clock.clone(),
                chaos: chaos.clone(),
                region: stack.region.clone(),
                serial: deterministic,
            },
            mappings,
        ));
        let cognito_dir = (!config.in_memory).then(|| config.data_dir.join("cognito"));
        let cognito = Arc::new(cognito::Cognito::new(
            &stack,
            clock.clone(),
            cognito_dir.as_deref(),
        )?);
        let names: BTreeMap<String, String> = stack
            .functions
            .iter()
            .map(|f| (f.logical_id.clone(), f.name.clone()))
            .collect();
        // The first WebSocket API, with its @connections API, on the ws port.
        let websocket = match stack.websocket_apis.first() {
            Some(api) => Some(apigw::WebSocketGateway::new(
                api.clone(),
                &names,
                lambda.clone(),
                clock.clone(),
                apigw::WebSocketLimits::default(),
            )?),
            None => None,
        };
        if let Some(gw) = &websocket {
            gw.set_connection_faults(Arc::new(wiring::ConnectionFaults(chaos.clone())));
        }
        let http_url = stack.http_apis.first().map(|_| http_base.clone());
        let activity = Arc::new(wiring::Activity {
            sqs: sqs.clone(),
            pollers: pollers.clone(),
            states: states.clone(),
            websocket: websocket.clone(),
            clock_file,
        });
        let ws_url = ws_base.replacen("http://", "ws://", 1);
        let declared = stack.sites.first();
        let dir = match &config.site {
            SiteChoice::Off => None,
            SiteChoice::Template => declared.map(|d| d.source.clone()),
            SiteChoice::Dir(dir) => Some(dir.clone()),
        };
        let site = match dir {
            Some(dir) => Some(Arc::new(site::Site::new(&dir, declared, &edge_url)?)),
            None => None,
        };
        let dashboard_url = site.as_ref().map(|_| format!("{edge_url}{}", site::PREFIX));
        let site_dir = site.as_ref().map(|s| s.dir.clone());
        let state = Arc::new(edge::EdgeState {
            endpoints: serde_json::json!({"edge": edge_url, "http": http_url, "websocket": ws_base.replacen("http://", "ws://", 1)}),
            dynamodb: dynamo.endpoint.clone(),
            dynamodb_engine: dynamo.engine.clone(),
            dynamodb_external: match &dynamo.target {
                dynamo::Target::External(e) => Some(e.clone()),
                dynamo::Target::Engine { .. } => None,
            },
            external_sqs: external_sqs.clone(),
            tokens: Default::default(),
            events: events.clone(),
            sqs: sqs.clone(),
            chaos: chaos.clone(),
            clock: clock.clone(),
            manual_clock: manual_clock.clone(),
            activity: activity.clone(),
            cognito: cognito.clone(),
            states: states.clone(),
            http: reqwest::Client::new(),
            stack: stack.clone(),
            site,
        });
        let mut servers = Vec::new();
        let edge_app = edge::router(state, &lambda);
        servers.push(tokio::spawn(async move {
            let _ = axum::serve(edge, edge_app).await;
        }));

        match stack.http_apis.first() {
            Some(api) => {
                let gw = Arc::new(apigw::HttpGateway::new(
                    api.clone(),
                    &names,
                    lambda.clone(),
                    clock.clone(),
                    stack.account_id.clone(),
                )?);
                let app = gw
                    .router()
                    .into_make_service_with_connect_info::<SocketAddr>();
                servers.push(tokio::spawn(async move {
                    let _ = axum::serve(http, app).await;
                }));
            }
            None => drop(http),
        }
        match &websocket {
            Some(gw) => {
                let app = gw
                    .clone()
                    .router()
                    .into_make_service_with_connect_info::<SocketAddr>();
                servers.push(tokio::spawn(async move {
                    let _ = axum::serve(ws, app).await;
                }));
            }
            None => drop(ws),
        }
        // Executions a previous run left running go on, now that everything they call serves.
        let resumed = states.resume();
        if !resumed.is_empty() {
            tracing::info!(
                count = resumed.len(),
                "resumed the Step Functions executions left running"
            );
        }
        Ok(Self {
            ready_in: started.elapsed(),
            stack,
            edge_url,
            http_url,
            ws_url,
            dashboard_url,
            site_dir,
            websocket,
            lambda,
            events,
            cognito,
            states,
            sqs,
            chaos,
            pollers,
            clock,
            manual_clock,
            activity,
            servers,
            dynamo,
        })
    }

    /// The DynamoDB engine's own loopback endpoint, behind the edge: what the edge forwards
    /// to, for tests that compare the two and for diagnostics. Clients use the edge.
    pub fn dynamodb_engine_url(&self) -> &str {
        &self.dynamo.endpoint
    }

    /// Moves the virtual clock forward by `ms` and lets every service see it (visibility
    /// timeouts end, batching windows close). An error on the real clock.
    pub fn advance_clock(&self, ms: i64) -> Result<i64, ClockError> {
        let m = self.manual_clock.as_ref().ok_or(ClockError::Real)?;
        let now = m.advance(ms);
        self.activity.clock_moved(now);
        Ok(now)
    }

    /// Waits (real time, at most `deadline`) until the event source mappings have nothing
    /// left to do (no batch in flight, no visible message in a mapped queue) and no Step
    /// Functions execution can progress without the clock moving.
    pub async fn settle(&self, deadline: Duration) -> bool {
        self.activity.settle(deadline).await
    }

    /// Stops the function processes, then the servers.
    pub async fn shutdown(self) {
        self.pollers.stop();
        // Executions stop where they are (still running in the store, resumed next start).
        self.states.shutdown();
        self.lambda.shutdown().await;
        for s in &self.servers {
            s.abort();
        }
    }
}

impl Drop for Devstack {
    fn drop(&mut self) {
        self.states.shutdown();
        for s in &self.servers {
            s.abort();
        }
    }
}

/// The name of the stack's queue with this ARN.
fn queues_by_arn(stack: &Stack, arn: &str) -> Option<String> {
    stack
        .queues
        .iter()
        .find(|q| q.arn == arn)
        .map(|q| q.name.clone())
}

/// The template, resolved for this configuration and these endpoints.
fn resolve_stack(config: &Config, endpoints: Endpoints) -> Result<Stack, DevstackError> {
    let template = template::Template::load(&config.template)?;
    let base_dir = config
        .template
        .parent()
        .map(|p| {
            if p.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                p.to_path_buf()
            }
        })
        .unwrap_or_else(|| PathBuf::from("."));
    Ok(template::resolve(
        &template,
        &ResolveOptions {
            stack_name: config.stack_name.clone(),
            region: config.region.clone(),
            account_id: "000000000000".into(),
            parameter_overrides: config.parameter_overrides.clone(),
            endpoints,
            base_dir,
        },
    )?)
}

/// The template's standard queues (FIFO queues are not emulated: the loader warned; they are
/// left out, not half-run).
fn standard_queues(stack: &Stack) -> Vec<template::model::Queue> {
    stack
        .queues
        .iter()
        .filter(|q| !q.fifo && !q.name.ends_with(".fifo"))
        .cloned()
        .collect()
}

/// The external SQS of `--sqs-endpoint`, with the stack's queues created in it.
async fn external_sqs(
    url: &str,
    signer: Arc<external::Signer>,
    stack: &Stack,
) -> Result<Arc<external::RemoteSqs>, DevstackError> {
    let remote = Arc::new(external::RemoteSqs::new(external::Endpoint::new(
        url, "sqs", signer,
    )));
    remote
        .provision(&standard_queues(stack))
        .await
        .map_err(|source| DevstackError::External {
            service: "SQS",
            endpoint: url.to_owned(),
            source,
        })?;
    Ok(remote)
}

/// What [`provision`] created (or found) in the external backends.
#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    pub tables: Vec<String>,
    pub queues: Vec<String>,
}

/// `devstack provision`: creates the template's tables in `config.dynamodb_endpoint` and its
/// queues in `config.sqs_endpoint` (whichever are set), as `devstack up` does on start, and
/// returns. Idempotent: what exists is kept (a queue's attributes are brought to the
/// template's). For a backend's init hook (LocalStack's `ready.d`), so that it holds the
/// stack's resources before devstack runs.
pub async fn provision(config: &Config) -> Result<Provisioned, DevstackError> {
    // Physical names do not depend on the endpoints; these are placeholders.
    let local = "http://127.0.0.1:0".to_owned();
    let stack = resolve_stack(
        config,
        Endpoints {
            edge: local.clone(),
            http_api: local.clone(),
            websocket_api: local,
        },
    )?;
    let signer = Arc::new(external::Signer::from_env(&config.region));
    let mut out = Provisioned::default();
    if let Some(url) = &config.dynamodb_endpoint {
        let dynamo =
            dynamo::Dynamo::external(external::Endpoint::new(url, "dynamodb", signer.clone()));
        for t in &stack.tables {
            dynamo.provision(t).await?;
            out.tables.push(t.name.clone());
        }
    }
    if let Some(url) = &config.sqs_endpoint {
        external_sqs(url, signer, &stack).await?;
        out.queues = standard_queues(&stack)
            .into_iter()
            .map(|q| q.name)
            .collect();
    }
    Ok(out)
}

/// A function's environment: the template's (resolved) variables, then what Lambda itself
/// provides and what points the AWS SDK at devstack: region, dummy credentials (the SDK signs
/// every request), `AWS_ENDPOINT_URL`, and the log controls of `LoggingConfig`.
fn function_env(
    f: &template::model::Function,
    stack: &Stack,
    edge_url: &str,
) -> BTreeMap<String, String> {
    let mut env = f.environment.clone();
    for (k, v) in [
        ("AWS_REGION", stack.region.as_str()),
        ("AWS_DEFAULT_REGION", stack.region.as_str()),
        ("AWS_ACCESS_KEY_ID", "devstack"),
        ("AWS_SECRET_ACCESS_KEY", "devstack"),
        ("AWS_SESSION_TOKEN", "devstack"),
        ("AWS_ENDPOINT_URL", edge_url),
    ] {
        env.insert(k.into(), v.into());
    }
    if let Some(fmt) = &f.log_format {
        env.insert("AWS_LAMBDA_LOG_FORMAT".into(), fmt.clone());
    }
    if let Some(level) = &f.log_level {
        env.insert("AWS_LAMBDA_LOG_LEVEL".into(), level.clone());
    }
    env
}
