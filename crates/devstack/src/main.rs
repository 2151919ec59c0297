//! `devstack`: the command line around the library.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use devstack::{BuildMode, Config, Devstack, Profile};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;

// mimalloc: glibc malloc's free-list upkeep was a large share of this process's CPU under load.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Like `eprintln!`, but a closed stderr (a pipe whose reader went away) is not a panic.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

#[derive(Parser)]
#[command(
    name = "devstack",
    version,
    about = "Runs a SAM template's Rust Lambda functions locally, with the AWS services they use."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the functions, start every service, and serve until Ctrl-C.
    Up(Box<UpArgs>),
    /// Create the template's tables and queues in external backends (--dynamodb-endpoint,
    /// --sqs-endpoint), as `devstack up` does on start, and exit: for a backend's init hook.
    /// Idempotent.
    Provision(ProvisionArgs),
    /// Invoke a function of a running devstack through its Lambda API.
    Invoke {
        /// Function name (or logical id, as the template names it).
        function: String,
        /// JSON payload.
        #[arg(long, default_value = "{}")]
        payload: String,
        #[arg(long, default_value = "http://127.0.0.1:4566")]
        edge: String,
    },
    /// Print a Cognito token for a user of the running stack's user pool (created and
    /// confirmed if new): `curl -H "Authorization: Bearer $(devstack token --user a@b.c)" ...`
    Token {
        #[arg(long)]
        user: String,
        /// Print the access token instead of the id token.
        #[arg(long)]
        access: bool,
        #[arg(long, default_value = "http://127.0.0.1:4566")]
        edge: String,
    },
    /// Against a running stack of the product: wait until it answers, create a demo user and a
    /// demo link, and print commands to try them.
    Demo {
        #[arg(long, default_value = "http://127.0.0.1:4566")]
        edge: String,
        #[arg(long, default_value = "demo@example.com")]
        user: String,
        /// Seconds to wait for the stack to come up (it may still be building).
        #[arg(long, default_value_t = 900)]
        wait: u64,
    },
    /// Print a function's log (from the data folder), or list the functions with logs.
    Logs {
        function: Option<String>,
        #[arg(long, default_value = ".devstack")]
        data_dir: PathBuf,
        /// Keep printing new lines.
        #[arg(long, short)]
        follow: bool,
    },
    /// Print the delivery journal (sends, deliveries, responses, deletes, faults...), one line
    /// per entry, filtered.
    Journal(JournalArgs),
    /// Replay a journal's deliveries (and EventBridge invocations) against a fresh in-memory
    /// stack of the template, re-injecting the faults recorded with them, and compare each
    /// outcome with the recorded one. Exits 1 if one differs.
    ///
    /// The stack runs on a virtual clock from the journal's first time, without chaos rules.
    /// Its queues start empty, so its pollers stay idle, unless a replayed function publishes
    /// to a bus whose rule feeds a mapped queue: those messages are then delivered as in any
    /// run (and journaled, but not compared).
    Replay(Box<ReplayArgs>),
    /// List the running stack's queues: messages visible, in flight, delayed, and the DLQ.
    Queues {
        #[arg(long, default_value = EDGE)]
        edge: String,
    },
    /// Look into or redrive a dead-letter queue of the running stack.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
        #[arg(long, global = true, default_value = EDGE)]
        edge: String,
    },
    /// Read (`now`, the default) or move (`advance 30s`) the running stack's virtual clock.
    Clock {
        #[command(subcommand)]
        command: Option<ClockCommand>,
        #[arg(long, global = true, default_value = EDGE)]
        edge: String,
    },
    /// The running stack's fault-injection rules: list, add, remove, reset; `help` for the
    /// rule grammar.
    #[command(disable_help_subcommand = true)]
    Chaos {
        #[command(subcommand)]
        command: ChaosCommand,
        #[arg(long, global = true, default_value = EDGE)]
        edge: String,
    },
    /// List the running stack's Step Functions executions, newest first; with NAME (an
    /// execution's name or ARN), show its history as a timeline.
    Executions {
        name: Option<String>,
        #[arg(long, default_value = EDGE)]
        edge: String,
    },
}

const EDGE: &str = "http://127.0.0.1:4566";

#[derive(clap::Args)]
struct JournalArgs {
    /// Read `{DIR}/journal.jsonl` (the default: .devstack).
    #[arg(long, conflicts_with_all = ["file", "edge"])]
    data_dir: Option<PathBuf>,
    /// Read this journal file.
    #[arg(long, conflicts_with = "edge")]
    file: Option<PathBuf>,
    /// Ask a running devstack for its journal (an in-memory stack keeps it only there).
    #[arg(long)]
    edge: Option<String>,
    /// Only entries of these kinds (repeatable, or comma-separated): send, delivery, response,
    /// delete, return-to-queue, move-to-dlq, fault, invoke, put-events.
    #[arg(long, value_delimiter = ',')]
    kind: Vec<String>,
    /// Only entries about this queue (a name or glob); a dead-lettering concerns both queues.
    #[arg(long)]
    queue: Option<String>,
    /// Only entries about this function (a name or glob).
    #[arg(long)]
    function: Option<String>,
    /// Only entries about this message (or EventBridge event) id.
    #[arg(long)]
    message: Option<String>,
    /// From this time on: ms since the epoch, or 2026-01-01T00:00:00Z.
    #[arg(long)]
    since: Option<String>,
    /// Up to this time (inclusive).
    #[arg(long)]
    until: Option<String>,
    /// Print the journal's JSON lines instead of rendering them.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The journal (a data folder's journal.jsonl, or what `devstack journal --json` printed).
    journal: PathBuf,
    /// The template, stack name (that of the original run), region and parameters.
    #[command(flatten)]
    stack: StackArgs,
    /// Do not build; use executables already built.
    #[arg(long)]
    no_build: bool,
    /// Build and run dev-profile binaries instead of release ones.
    #[arg(long)]
    dev: bool,
    /// Use this executable for a function: NAME=PATH.
    #[arg(long = "function", value_name = "NAME=PATH")]
    functions: Vec<String>,
    /// Echo the functions' output.
    #[arg(long)]
    logs: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ProvisionArgs {
    /// The template, and the stack name `devstack up` will run with.
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    backends: Backends,
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Show a queue's oldest messages without receiving them.
    Peek {
        /// The queue (a name, URL or ARN).
        queue: String,
        #[arg(short, long, default_value_t = 10)]
        n: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Move a dead-letter queue's messages back to the queues they came from (or to --to),
    /// as SQS's StartMessageMoveTask does.
    Redrive {
        /// The dead-letter queue (a name, URL or ARN).
        queue: String,
        /// The destination queue's ARN (or name); by default each message's source queue.
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Subcommand)]
enum ClockCommand {
    /// Print the clock's time.
    Now,
    /// Move the virtual clock forward: 1500 (ms), 1500ms, 30s, 5m, 2h.
    Advance { by: String },
}

#[derive(Subcommand)]
enum ChaosCommand {
    /// List the armed rules, with their ids.
    List,
    /// Arm a rule, in the compact form: 'queue=* duplicate=every'.
    Add { rule: String },
    /// Disarm the rule with this id.
    Remove { id: String },
    /// Back to the rules devstack started with, their counters and random streams as new.
    Reset,
    /// Disarm every rule.
    Clear,
    /// The rule grammar.
    Help,
}

/// Which template, resolved how: what `up`, `replay` and `provision` share.
#[derive(clap::Args)]
struct StackArgs {
    #[arg(long, short, default_value = "template.yaml")]
    template: PathBuf,
    /// The stack name (function, table and queue names derive from it).
    #[arg(long, default_value = "devstack")]
    stack_name: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Template parameters, as KEY=VALUE.
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    parameter_overrides: Vec<String>,
}

impl StackArgs {
    /// `devstack up`'s defaults for this template, stack name, region and parameters.
    fn config(&self) -> Result<Config> {
        Ok(Config {
            stack_name: self.stack_name.clone(),
            region: self.region.clone(),
            parameter_overrides: pairs(&self.parameter_overrides, "parameter")?,
            ..Config::new(&self.template)
        })
    }
}

#[derive(clap::Args)]
struct UpArgs {
    #[command(flatten)]
    stack: StackArgs,
    #[arg(long, default_value = ".devstack")]
    data_dir: PathBuf,
    /// Keep no state on disk.
    #[arg(long)]
    in_memory: bool,
    /// Wipe the stored state first.
    #[arg(long)]
    reset: bool,
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    #[arg(long, default_value_t = 4566)]
    edge_port: u16,
    #[arg(long, default_value_t = 3000)]
    http_port: u16,
    #[arg(long, default_value_t = 3001)]
    ws_port: u16,
    /// Do not build; use executables already built.
    #[arg(long)]
    no_build: bool,
    /// Build and run dev-profile binaries instead of release ones.
    #[arg(long)]
    dev: bool,
    /// Use this executable for a function: NAME=PATH.
    #[arg(long = "function", value_name = "NAME=PATH")]
    functions: Vec<String>,
    /// Start no process for FUNCTION: print its Runtime API and env, and let you run it.
    #[arg(long, value_name = "FUNCTION")]
    attach: Vec<String>,
    /// Invocations in flight across all functions.
    #[arg(long, default_value_t = 1000)]
    account_concurrency: usize,
    /// Instances one function may run at once; invocations beyond wait for a free one (their
    /// concurrency is still counted, so throttling is unchanged). 0 = one instance per
    /// concurrent invocation, as Lambda does. Default: a few per CPU core.
    #[arg(long)]
    max_instances: Option<usize>,
    /// Do not echo function output.
    #[arg(long)]
    quiet: bool,
    /// `real`, or `virtual`: a clock that moves only through `devstack clock advance` (or
    /// POST /_devstack/clock), starting at 2026-01-01T00:00:00Z, with deterministic ids.
    #[arg(long, default_value = "real", value_parser = ["real", "virtual"])]
    clock: String,
    /// Start of the virtual clock, in ms since the epoch.
    #[arg(long, requires = "clock")]
    clock_start_ms: Option<i64>,
    /// A fault-injection rule (repeatable), e.g. 'queue=* duplicate=every',
    /// 'table=* op=TransactWriteItems error=TransactionConflict nth=3'. See `devstack chaos help`.
    #[arg(long = "chaos", value_name = "RULE")]
    chaos: Vec<String>,
    /// Fault-injection rules from a YAML or JSON file (a list, or {seed, rules}).
    #[arg(long, value_name = "FILE")]
    chaos_file: Option<PathBuf>,
    /// The seed of every random fault decision: the same seed gives the same run.
    #[arg(long)]
    chaos_seed: Option<u64>,
    /// Do not run the event source mappings: messages stay in their queues.
    #[arg(long)]
    no_pollers: bool,
    /// Serve this folder as the static site (the dashboard) on the edge under /dashboard/.
    /// Default: the folder that the template's bucket with `Metadata.Site` holds (`Source`,
    /// less `Exclude`), with its `Config` output as config.json.
    #[arg(long, value_name = "DIR")]
    site: Option<PathBuf>,
    /// Serve no site.
    #[arg(long, conflicts_with = "site")]
    no_site: bool,
    #[command(flatten)]
    backends: Backends,
}

/// Where DynamoDB and SQS live, when not in devstack.
#[derive(clap::Args)]
struct Backends {
    /// Keep the template's tables in this DynamoDB instead of the embedded engine: moto
    /// (http://127.0.0.1:5000), DynamoDB Local (http://127.0.0.1:8000), LocalStack, or AWS
    /// (https://dynamodb.us-east-1.amazonaws.com, with credentials in AWS_* variables).
    /// Functions still call the edge, which forwards after chaos has had its say.
    #[arg(long, value_name = "URL")]
    dynamodb_endpoint: Option<String>,
    /// Keep the template's queues in this SQS instead of devstack's own; the event source
    /// mappings poll it, still through chaos and the journal.
    #[arg(long, value_name = "URL")]
    sqs_endpoint: Option<String>,
}

fn pairs(items: &[String], what: &str) -> Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => bail!("{what} {i:?} is not KEY=VALUE"),
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Up(args) => up(*args).await,
        Command::Provision(args) => provision(args).await,
        Command::Invoke {
            function,
            payload,
            edge,
        } => invoke(&edge, &function, &payload).await,
        Command::Token { user, access, edge } => {
            let t = token(&edge, &user).await?;
            println!(
                "{}",
                if access {
                    &t["AccessToken"]
                } else {
                    &t["IdToken"]
                }
                .as_str()
                .unwrap_or_default()
            );
            Ok(())
        }
        Command::Demo { edge, user, wait } => demo(&edge, &user, wait).await,
        Command::Logs {
            function,
            data_dir,
            follow,
        } => logs(&data_dir, function.as_deref(), follow).await,
        Command::Journal(args) => journal(args).await,
        Command::Replay(args) => replay(*args).await,
        Command::Queues { edge } => queues(&edge).await,
        Command::Dlq { command, edge } => dlq(&edge, command).await,
        Command::Clock { command, edge } => clock(&edge, command).await,
        Command::Chaos { command, edge } => chaos_rules(&edge, command).await,
        Command::Executions { name, edge } => executions(&edge, name.as_deref()).await,
    }
}

async fn up(a: UpArgs) -> Result<()> {
    let config = Config {
        data_dir: a.data_dir,
        in_memory: a.in_memory,
        reset: a.reset,
        host: a.host,
        edge_port: a.edge_port,
        http_port: a.http_port,
        ws_port: a.ws_port,
        build: BuildMode {
            profile: if a.dev {
                Profile::Dev
            } else {
                Profile::Release
            },
            build: !a.no_build,
        },
        function_paths: pairs(&a.functions, "--function")?
            .into_iter()
            .map(|(k, v)| (k, PathBuf::from(v)))
            .collect(),
        attach: a.attach.into_iter().collect::<BTreeSet<_>>(),
        account_concurrency: a.account_concurrency,
        max_instances: match a.max_instances {
            Some(0) => None,
            Some(n) => Some(n),
            None => devstack::Config::default_max_instances(),
        },
        console_logs: !a.quiet,
        clock: match a.clock.as_str() {
            "virtual" => devstack::ClockMode::Virtual {
                start_ms: a
                    .clock_start_ms
                    .unwrap_or(devstack::ClockMode::VIRTUAL_EPOCH_MS),
            },
            _ => devstack::ClockMode::Real,
        },
        chaos_rules: Vec::new(),
        chaos_seed: 0,
        pollers: !a.no_pollers,
        dynamodb_endpoint: a.backends.dynamodb_endpoint.clone(),
        sqs_endpoint: a.backends.sqs_endpoint.clone(),
        site: match (a.no_site, a.site) {
            (true, _) => devstack::SiteChoice::Off,
            (false, Some(dir)) => devstack::SiteChoice::Dir(dir),
            (false, None) => devstack::SiteChoice::Template,
        },
        ..a.stack.config()?
    };
    let mut config = config;
    let mut seed = a.chaos_seed;
    if let Some(file) = &a.chaos_file {
        let rules =
            chaos::Rules::load(file).with_context(|| format!("--chaos-file {}", file.display()))?;
        seed = seed.or(rules.seed);
        config.chaos_rules.extend(rules.rules);
    }
    config
        .chaos_rules
        .extend(chaos::Rules::from_flags(a.chaos.iter().map(String::as_str)).context("--chaos")?);
    config.chaos_seed = seed.unwrap_or(0);
    let ds = Devstack::start(config)
        .await
        .with_context(|| format!("devstack could not start {}", a.stack.template.display()))?;
    print_banner(&ds);
    for (service, url) in [
        ("DynamoDB", &a.backends.dynamodb_endpoint),
        ("SQS", &a.backends.sqs_endpoint),
    ] {
        if let Some(url) = url {
            say!("  {service} is external: {url} (forwarded through the edge)");
        }
    }
    wait_for_signal().await;
    say!("devstack: stopping functions and flushing state");
    ds.shutdown().await;
    Ok(())
}

async fn provision(a: ProvisionArgs) -> Result<()> {
    if a.backends.dynamodb_endpoint.is_none() && a.backends.sqs_endpoint.is_none() {
        bail!("nothing to provision: name --dynamodb-endpoint and/or --sqs-endpoint");
    }
    let config = Config {
        dynamodb_endpoint: a.backends.dynamodb_endpoint.clone(),
        sqs_endpoint: a.backends.sqs_endpoint.clone(),
        ..a.stack.config()?
    };
    let done = devstack::provision(&config)
        .await
        .with_context(|| format!("provisioning {}", a.stack.template.display()))?;
    for t in &done.tables {
        println!(
            "table {t} in {}",
            a.backends.dynamodb_endpoint.as_deref().unwrap_or_default()
        );
    }
    for q in &done.queues {
        println!(
            "queue {q} in {}",
            a.backends.sqs_endpoint.as_deref().unwrap_or_default()
        );
    }
    Ok(())
}

fn print_banner(ds: &Devstack) {
    let s = &ds.stack;
    say!(
        "devstack {} - stack {} ({})",
        env!("CARGO_PKG_VERSION"),
        s.stack_name,
        s.region
    );
    say!("  {:<22} {}", "AWS APIs (edge)", ds.edge_url);
    match (&ds.http_url, s.http_apis.first()) {
        (Some(url), Some(api)) => {
            say!(
                "  {:<22} {url}  ({}: {} routes)",
                "HTTP API",
                api.logical_id,
                api.routes.len()
            )
        }
        _ => say!("  {:<22} (the template has none)", "HTTP API"),
    }
    if let Some(url) = &ds.dashboard_url {
        let dir = ds.site_dir.as_deref().unwrap_or(std::path::Path::new(""));
        say!(
            "  {:<22} {url}  (the site in {})",
            "Dashboard",
            dir.display()
        );
    }
    for (i, ws) in s.websocket_apis.iter().enumerate() {
        // The stage's path: `/prod`, or nothing for `$default`.
        let stage = if ws.stage == "$default" {
            String::new()
        } else {
            format!("/{}", ws.stage)
        };
        if i == 0 {
            say!(
                "  {:<22} {}{stage}  ({}: {} routes; @connections at {}{stage}/@connections)",
                "WebSocket API",
                ds.ws_url,
                ws.logical_id,
                ws.routes.len(),
                ds.ws_url.replacen("ws://", "http://", 1),
            );
        } else {
            say!(
                "  {:<22} {} is not served: devstack serves the template's first WebSocket API",
                "WebSocket API",
                ws.logical_id
            );
        }
    }
    say!("  functions:");
    for f in ds.lambda.functions() {
        let how = match &f.executable {
            Some(p) => p.display().to_string(),
            None => format!(
                "ATTACHED: run it with AWS_LAMBDA_RUNTIME_API={}",
                ds.lambda.attached_runtime_api(&f.name)
            ),
        };
        say!("    {:<40} {how}", f.name);
        if f.executable.is_none()
            && let Some(env) = ds
                .lambda
                .environment(&f.name, &ds.lambda.attached_runtime_api(&f.name))
        {
            for (k, v) in env {
                say!("      {k}={v}");
            }
        }
    }
    for t in &s.tables {
        say!("  table {}", t.name);
    }
    for m in ds.states.machines() {
        say!("  state machine {}", m.name);
    }
    // Resources without local effect, counted by type: dozens of alarms are not news.
    let mut ignored: BTreeMap<&str, usize> = BTreeMap::new();
    for i in &s.ignored {
        *ignored.entry(i.resource_type.as_str()).or_default() += 1;
    }
    if !ignored.is_empty() {
        let list: Vec<String> = ignored.iter().map(|(t, n)| format!("{n} {t}")).collect();
        say!("  no local effect: {}", list.join(", "));
    }
    for w in &s.warnings {
        say!(
            "WARNING: {}: {} (not emulated by devstack)",
            w.resource,
            w.message
        );
    }
    for w in ds.states.warnings() {
        say!("WARNING: Step Functions: {w}");
    }
    say!("ready in {} ms", ds.ready_in.as_millis());
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
    }
}

async fn invoke(edge: &str, function: &str, payload: &str) -> Result<()> {
    serde_json::from_str::<serde_json::Value>(payload).context("--payload is not valid JSON")?;
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/{function}/invocations",
            edge.trim_end_matches('/')
        ))
        .body(payload.to_owned())
        .send()
        .await
        .with_context(|| format!("no devstack answers at {edge}; is `devstack up` running?"))?;
    let status = resp.status();
    let error = resp
        .headers()
        .get("x-amz-function-error")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let body = resp.text().await.unwrap_or_default();
    println!("{body}");
    if !status.is_success() || error.is_some() {
        bail!(
            "invocation failed ({status}{})",
            error.map(|e| format!(", {e}")).unwrap_or_default()
        );
    }
    Ok(())
}

async fn logs(data_dir: &std::path::Path, function: Option<&str>, follow: bool) -> Result<()> {
    let dir = data_dir.join("logs");
    let Some(function) = function else {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .with_context(|| format!("no logs in {}", dir.display()))?
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_suffix(".log")
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        for n in names {
            println!("{n}");
        }
        return Ok(());
    };
    let path = dir.join(format!("{function}.log"));
    let mut seen = 0usize;
    loop {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("no log at {}", path.display()))?;
        print!("{}", &text[seen.min(text.len())..]);
        seen = text.len();
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

async fn token(edge: &str, user: &str) -> Result<serde_json::Value> {
    let resp = reqwest::Client::new()
        .post(format!("{}/_devstack/token", edge.trim_end_matches('/')))
        .json(&serde_json::json!({ "user": user }))
        .send()
        .await
        .with_context(|| format!("no devstack answers at {edge}; is `devstack up` running?"))?;
    let ok = resp.status().is_success();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !ok {
        bail!(
            "devstack refused: {}",
            body["message"].as_str().unwrap_or("unknown error")
        );
    }
    Ok(body)
}

async fn demo(edge: &str, user: &str, wait: u64) -> Result<()> {
    let edge = edge.trim_end_matches('/');
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    let endpoints: serde_json::Value = loop {
        if let Ok(r) = http.get(format!("{edge}/_devstack/health")).send().await
            && r.status().is_success()
        {
            break r.json().await.unwrap_or_default();
        }
        if std::time::Instant::now() > deadline {
            bail!("devstack did not come up at {edge} within {wait} s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let api = endpoints["http"]
        .as_str()
        .context("the stack has no HTTP API")?
        .to_owned();
    let tokens = token(edge, user).await?;
    let id_token = tokens["IdToken"].as_str().unwrap_or_default();
    let created = http
        .post(format!("{api}/links"))
        .bearer_auth(id_token)
        .header("idempotency-key", "devstack-demo")
        .json(&serde_json::json!({"url": "https://www.rust-lang.org/", "alias": "demo"}))
        .send()
        .await?;
    let status = created.status();
    let body = created.text().await.unwrap_or_default();
    // 409: the demo link exists from an earlier run (state is kept in .devstack/).
    if !status.is_success() && status.as_u16() != 409 {
        bail!("creating the demo link failed: {status} {body}");
    }
    let me = std::env::args().next().unwrap_or_else(|| "devstack".into());
    println!(
        r#"
Demo user {user} and demo link {api}/demo are ready. Try:

  curl -i {api}/demo                                  # the public redirect
  export TOKEN=$({me} token --user {user} --edge {edge})
  curl -s -H "Authorization: Bearer $TOKEN" {api}/links                                 # your links
  curl -s -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
       -d '{{"url":"https://example.com/"}}' {api}/links                               # a new link
  curl -s -H "Authorization: Bearer $TOKEN" {api}/links/demo                            # stats
  curl -i {api}/links                                 # without a token: 401
"#
    );
    Ok(())
}

/// A call to a running devstack's admin API (`/_devstack/...`): the JSON answer, or its
/// problem's detail as the error.
async fn admin(
    edge: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value> {
    let mut req = reqwest::Client::new().request(
        method,
        format!("{}/_devstack{path}", edge.trim_end_matches('/')),
    );
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("no devstack answers at {edge}; is `devstack up` running?"))?;
    let ok = resp.status().is_success();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !ok {
        bail!(
            "devstack answered {status}: {}",
            body["detail"]
                .as_str()
                .or(body["message"].as_str())
                .unwrap_or("no detail")
        );
    }
    Ok(body)
}

/// An SQS call through the edge, as the SDKs make it (awsJson 1.0).
async fn sqs_call(
    edge: &str,
    operation: &str,
    input: serde_json::Value,
) -> Result<serde_json::Value> {
    json10_call(edge, "AmazonSQS", "SQS", operation, input).await
}

/// An awsJson 1.0 call through the edge (`X-Amz-Target: {prefix}.{operation}`).
async fn json10_call(
    edge: &str,
    prefix: &str,
    service: &str,
    operation: &str,
    input: serde_json::Value,
) -> Result<serde_json::Value> {
    let resp = reqwest::Client::new()
        .post(edge.trim_end_matches('/'))
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("{prefix}.{operation}"))
        .body(input.to_string())
        .send()
        .await
        .with_context(|| format!("no devstack answers at {edge}; is `devstack up` running?"))?;
    let ok = resp.status().is_success();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !ok {
        bail!(
            "{service} {operation} failed: {} {}",
            body["__type"].as_str().unwrap_or("error"),
            body["message"].as_str().unwrap_or_default()
        );
    }
    Ok(body)
}

/// A time given on the command line: ms since the epoch, or `YYYY-MM-DDTHH:MM:SS[.mmm][Z]`
/// (UTC), or just the date.
fn parse_time(text: &str) -> Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    let bad =
        || anyhow::anyhow!("{text:?} is not a time (ms since the epoch, or 2026-01-01T00:00:00Z)");
    let t = text.trim_end_matches('Z');
    let (date, time) = t.split_once('T').unwrap_or((t, "00:00:00"));
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let [year, month, day] = d[..] else {
        return Err(bad());
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let h: Vec<i64> = hms
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_>>()?;
    let [hour, minute, second] = h[..] else {
        return Err(bad());
    };
    let ms: i64 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm, the inverse of the journal's).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + ms)
}

/// A duration: ms by default, or with a unit (ms, s, m, h).
fn parse_duration_ms(text: &str) -> Result<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: i64 = n
        .parse()
        .with_context(|| format!("{text:?} is not a duration (1500, 1500ms, 30s, 5m, 2h)"))?;
    let factor = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        other => bail!("unknown unit {other:?} in {text:?} (ms, s, m, h)"),
    };
    Ok(n * factor)
}

async fn journal(a: JournalArgs) -> Result<()> {
    let bytes = match (&a.edge, &a.file) {
        (Some(edge), _) => {
            let resp = reqwest::Client::new()
                .get(format!("{}/_devstack/journal", edge.trim_end_matches('/')))
                .send()
                .await
                .with_context(|| {
                    format!("no devstack answers at {edge}; is `devstack up` running?")
                })?;
            resp.bytes().await?.to_vec()
        }
        (None, Some(file)) => {
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
        }
        (None, None) => {
            let dir = a
                .data_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(".devstack"));
            let path = dir.join("journal.jsonl");
            std::fs::read(&path).with_context(|| format!("no journal at {}", path.display()))?
        }
    };
    let records = chaos::Journal::parse(&bytes)?;
    let filter = chaos::Filter {
        kinds: a
            .kind
            .iter()
            .map(|k| k.parse::<chaos::Kind>().map_err(anyhow::Error::msg))
            .collect::<Result<_>>()?,
        queue: a.queue,
        function: a.function,
        message_id: a.message,
        since: a.since.as_deref().map(parse_time).transpose()?,
        until: a.until.as_deref().map(parse_time).transpose()?,
    };
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for r in filter.select(&records) {
        let line = match a.json {
            true => serde_json::to_string(r)?,
            false => chaos::render_line(r),
        };
        if writeln!(out, "{line}").is_err() {
            break; // the reader went away (`| head`)
        }
    }
    Ok(())
}

async fn replay(a: ReplayArgs) -> Result<()> {
    let records = chaos::Journal::read(&a.journal)
        .with_context(|| format!("cannot read the journal {}", a.journal.display()))?;
    let mut config = a.stack.config()?;
    config.function_paths = pairs(&a.functions, "--function")?
        .into_iter()
        .map(|(k, v)| (k, PathBuf::from(v)))
        .collect();
    config.build = BuildMode {
        profile: if a.dev {
            Profile::Dev
        } else {
            Profile::Release
        },
        build: !a.no_build,
    };
    // Free ports: a `devstack up` may be running on the usual ones.
    (config.edge_port, config.http_port, config.ws_port) = (0, 0, 0);
    config.console_logs = a.logs;
    let report = devstack::replay::replay_journal(config, &records)
        .await
        .with_context(|| format!("replaying {}", a.journal.display()))?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    if !report.all_matched() {
        std::process::exit(1);
    }
    Ok(())
}

/// The last part of a queue URL or ARN, or the name itself.
fn queue_name(queue: &str) -> &str {
    queue
        .rsplit(['/', ':'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(queue)
}

async fn queues(edge: &str) -> Result<()> {
    let body = admin(edge, reqwest::Method::GET, "/queues", None).await?;
    let list = body["queues"].as_array().cloned().unwrap_or_default();
    let width = list
        .iter()
        .filter_map(|q| q["name"].as_str().map(str::len))
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<width$}  {:>8}  {:>9}  {:>7}  DLQ",
        "NAME", "VISIBLE", "IN FLIGHT", "DELAYED"
    );
    for q in list {
        let dlq = q["dead_letter_queue"].as_str().map_or("-", queue_name);
        println!(
            "{:<width$}  {:>8}  {:>9}  {:>7}  {dlq}",
            q["name"].as_str().unwrap_or_default(),
            q["visible"].as_u64().unwrap_or(0),
            q["in_flight"].as_u64().unwrap_or(0),
            q["delayed"].as_u64().unwrap_or(0),
        );
    }
    Ok(())
}

async fn dlq(edge: &str, command: DlqCommand) -> Result<()> {
    match command {
        DlqCommand::Peek { queue, n, json } => {
            let name = queue_name(&queue);
            let body = admin(
                edge,
                reqwest::Method::GET,
                &format!("/queues/{name}/messages?n={n}"),
                None,
            )
            .await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&body["messages"])?);
                return Ok(());
            }
            let messages = body["messages"].as_array().cloned().unwrap_or_default();
            if messages.is_empty() {
                println!("{name} is empty");
            }
            for m in messages {
                let from = m["dead_letter_source_arn"]
                    .as_str()
                    .map(|a| format!(" from {}", queue_name(a)))
                    .unwrap_or_default();
                println!(
                    "{} sent {} received {} times{from}",
                    m["message_id"].as_str().unwrap_or_default(),
                    chaos::journal::format_time(m["sent_timestamp"].as_i64().unwrap_or(0)),
                    m["receive_count"].as_u64().unwrap_or(0),
                );
                println!("  {}", m["body"].as_str().unwrap_or_default());
            }
            Ok(())
        }
        DlqCommand::Redrive { queue, to } => {
            let queues = admin(edge, reqwest::Method::GET, "/queues", None).await?;
            let arn_of = |q: &str| -> Result<String> {
                let name = queue_name(q);
                queues["queues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|e| e["name"] == name)
                    .and_then(|e| e["arn"].as_str().map(str::to_owned))
                    .with_context(|| format!("the running stack has no queue {name}"))
            };
            let source = arn_of(&queue)?;
            let mut input = serde_json::json!({ "SourceArn": source });
            if let Some(to) = &to {
                input["DestinationArn"] = serde_json::Value::String(arn_of(to)?);
            }
            sqs_call(edge, "StartMessageMoveTask", input).await?;
            let tasks = sqs_call(
                edge,
                "ListMessageMoveTasks",
                serde_json::json!({ "SourceArn": source, "MaxResults": 1 }),
            )
            .await?;
            let t = &tasks["Results"][0];
            let moved = t["ApproximateNumberOfMessagesMoved"].as_u64().unwrap_or(0);
            let status = t["Status"].as_str().unwrap_or("UNKNOWN");
            let whereto = to
                .as_deref()
                .map_or("their source queues".into(), |d| queue_name(d).to_owned());
            println!(
                "{status}: moved {moved} message(s) from {} to {whereto}",
                queue_name(&queue)
            );
            if let Some(reason) = t["FailureReason"].as_str() {
                bail!("the redrive failed: {reason}");
            }
            Ok(())
        }
    }
}

async fn clock(edge: &str, command: Option<ClockCommand>) -> Result<()> {
    let body = match command.unwrap_or(ClockCommand::Now) {
        ClockCommand::Now => admin(edge, reqwest::Method::GET, "/clock", None).await?,
        ClockCommand::Advance { by } => {
            let ms = parse_duration_ms(&by)?;
            admin(
                edge,
                reqwest::Method::POST,
                "/clock",
                Some(serde_json::json!({ "advance_ms": ms })),
            )
            .await?
        }
    };
    let now = body["now_ms"].as_i64().unwrap_or(0);
    let kind = if body["virtual"] == true {
        "virtual"
    } else {
        "real"
    };
    println!("{} ({now}, {kind} clock)", chaos::journal::format_time(now));
    Ok(())
}

async fn chaos_rules(edge: &str, command: ChaosCommand) -> Result<()> {
    use reqwest::Method;
    let print_rule = |v: &serde_json::Value| match serde_json::from_value::<chaos::Rule>(v.clone())
    {
        Ok(rule) => {
            let id = rule.id.clone().unwrap_or_default();
            let text = chaos::Rule { id: None, ..rule }.to_string();
            println!("{id:<8} {text}");
        }
        Err(_) => println!("{v}"),
    };
    let listing = |body: &serde_json::Value| {
        let rules = body["rules"].as_array().cloned().unwrap_or_default();
        println!("seed {}", body["seed"]);
        if rules.is_empty() {
            println!("no rules armed");
        }
        for r in &rules {
            print_rule(r);
        }
    };
    match command {
        ChaosCommand::List => listing(&admin(edge, Method::GET, "/chaos/rules", None).await?),
        ChaosCommand::Add { rule } => {
            // Checked here first, for the grammar's own error message.
            rule.parse::<chaos::Rule>()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let armed = admin(
                edge,
                Method::POST,
                "/chaos/rules",
                Some(serde_json::Value::String(rule)),
            )
            .await?;
            print_rule(&armed);
        }
        ChaosCommand::Remove { id } => {
            let body = admin(edge, Method::DELETE, &format!("/chaos/rules/{id}"), None).await?;
            print!("removed ");
            print_rule(&body["removed"]);
        }
        ChaosCommand::Reset => listing(&admin(edge, Method::POST, "/chaos/reset", None).await?),
        ChaosCommand::Clear => {
            let body = admin(edge, Method::DELETE, "/chaos/rules", None).await?;
            println!("removed {} rule(s)", body["removed"]);
        }
        ChaosCommand::Help => println!("{}", chaos::Rules::help()),
    }
    Ok(())
}

/// A Step Functions call through the edge (awsJson 1.0), as the SDKs make it.
async fn sfn_call(
    edge: &str,
    operation: &str,
    input: serde_json::Value,
) -> Result<serde_json::Value> {
    json10_call(edge, "AWSStepFunctions", "Step Functions", operation, input).await
}

/// Every page of a paginated Step Functions list.
async fn sfn_all(
    edge: &str,
    operation: &str,
    input: serde_json::Value,
    member: &str,
) -> Result<Vec<serde_json::Value>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = input.clone();
        if let Some(t) = &token {
            req["nextToken"] = serde_json::json!(t);
        }
        let page = sfn_call(edge, operation, req).await?;
        out.extend(page[member].as_array().cloned().unwrap_or_default());
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => return Ok(out),
        }
    }
}

/// `devstack executions [NAME]`.
async fn executions(edge: &str, name: Option<&str>) -> Result<()> {
    let machines = sfn_all(
        edge,
        "ListStateMachines",
        serde_json::json!({}),
        "stateMachines",
    )
    .await?;
    let mut all = Vec::new();
    for m in &machines {
        let arn = m["stateMachineArn"].as_str().unwrap_or_default();
        all.extend(
            sfn_all(
                edge,
                "ListExecutions",
                serde_json::json!({ "stateMachineArn": arn }),
                "executions",
            )
            .await?,
        );
    }
    let ms = |v: &serde_json::Value| (v.as_f64().unwrap_or(0.0) * 1000.0).round() as i64;
    all.sort_by_key(|e| std::cmp::Reverse(ms(&e["startDate"])));
    let machine_of = |arn: &str| arn.split(':').nth(6).unwrap_or_default().to_owned();
    let Some(name) = name else {
        if machines.is_empty() {
            println!("the running stack has no state machines");
            return Ok(());
        }
        if all.is_empty() {
            println!("no executions yet");
            return Ok(());
        }
        let width = all
            .iter()
            .filter_map(|e| e["name"].as_str().map(str::len))
            .max()
            .unwrap_or(4)
            .max(4);
        println!(
            "{:<9}  {:<24}  {:>9}  {:<width$}  STATE MACHINE",
            "STATUS", "STARTED", "TOOK", "NAME"
        );
        for e in &all {
            let start = ms(&e["startDate"]);
            let took = match e.get("stopDate") {
                Some(s) if s.is_number() => format!("{:.3}s", (ms(s) - start) as f64 / 1000.0),
                _ => "-".into(),
            };
            println!(
                "{:<9}  {:<24}  {:>9}  {:<width$}  {}",
                e["status"].as_str().unwrap_or_default(),
                chaos::journal::format_time(start),
                took,
                e["name"].as_str().unwrap_or_default(),
                machine_of(e["executionArn"].as_str().unwrap_or_default()),
            );
        }
        return Ok(());
    };
    let matching: Vec<&serde_json::Value> = all
        .iter()
        .filter(|e| e["name"] == name || e["executionArn"] == name)
        .collect();
    let arn = match matching.as_slice() {
        [one] => one["executionArn"].as_str().unwrap_or_default().to_owned(),
        [] => {
            bail!("the running stack has no execution {name:?} (`devstack executions` lists them)")
        }
        several => bail!(
            "{} executions are named {name:?}; give one's ARN: {}",
            several.len(),
            several
                .iter()
                .filter_map(|e| e["executionArn"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let described = sfn_call(
        edge,
        "DescribeExecution",
        serde_json::json!({ "executionArn": arn }),
    )
    .await?;
    let events = sfn_all(
        edge,
        "GetExecutionHistory",
        serde_json::json!({ "executionArn": arn, "maxResults": 1000 }),
        "events",
    )
    .await?;
    print!("{}", states::render_timeline(&described, &events));
    Ok(())
}
