//! `devstack`: the command line around the library.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use devstack::{BuildMode, Config, Devstack, Profile};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;

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
}

#[derive(clap::Args)]
struct UpArgs {
    #[arg(long, short, default_value = "template.yaml")]
    template: PathBuf,
    #[arg(long, default_value = "devstack")]
    stack_name: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Template parameters, as KEY=VALUE.
    #[arg(long, num_args = 1.., value_name = "KEY=VALUE")]
    parameter_overrides: Vec<String>,
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
    /// 'table=* op=TransactWriteItems error=TransactionConflict nth=3'. See `devstack chaos-help`.
    #[arg(long = "chaos", value_name = "RULE")]
    chaos: Vec<String>,
    /// Fault-injection rules from a YAML or JSON file (a list, or {seed, rules}).
    #[arg(long, value_name = "FILE")]
    chaos_file: Option<PathBuf>,
    /// The seed of every random fault decision: the same seed gives the same run.
    #[arg(long)]
    chaos_seed: Option<u64>,
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
    }
}

async fn up(a: UpArgs) -> Result<()> {
    let config = Config {
        template: a.template.clone(),
        stack_name: a.stack_name,
        region: a.region,
        parameter_overrides: pairs(&a.parameter_overrides, "parameter")?,
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
        .with_context(|| format!("devstack could not start {}", a.template.display()))?;
    print_banner(&ds);
    wait_for_signal().await;
    say!("devstack: stopping functions and flushing state");
    ds.shutdown().await;
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
    for ws in &s.websocket_apis {
        say!(
            "  {:<22} {}/{}  ({}; served from devstack part 4)",
            "WebSocket API",
            ds.ws_url,
            ws.stage,
            ws.logical_id
        );
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
