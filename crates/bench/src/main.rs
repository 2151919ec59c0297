//! `just bench`: devstack measured side by side with the floor for HTTP on this machine and
//! with `cargo lambda watch`, in one run, on loopback.
//!
//! (a) a bare axum server answering 301 (a child process): the floor;
//! (b) the trivial `fixture_redirect` lambda_http binary under devstack (library, release
//!     binaries) and under `cargo lambda watch`, at 1 connection and at many;
//! (c) the product's resolve path through devstack on the repository's template.yaml;
//! plus `devstack up`'s start time and idle memory, a breakdown of one request's time,
//! (d) SQS throughput, devstack against moto through the same client, and the product's
//! click pipeline (throughput and latency);
//! (e) WebSocket push: a click published to the frame at each of 100 watchers;
//! (f) the dashboard in headless Chromium: a click sent to the page's count moving;
//! and the targets with pass/fail. The report is printed and written to target/bench/report.md.

mod cpu;
mod dashboard;
mod flow;
mod load;
mod pipeline;
mod procs;
mod push;
mod report;
mod sqs;
mod stacks;
mod up;
mod watch;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use load::{Outcome, Plan, Request};
use report::{Check, Hop, Report, Row, lat, rate};
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::runtime::Handle;

// mimalloc: glibc malloc's free-list upkeep was a large share of this process's CPU under load.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "bench",
    about = "devstack against the HTTP floor and `cargo lambda watch`; run it through `just bench`, which builds the release binaries first."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Measured window of each load, in seconds.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Warm-up before each window (not measured), in seconds: instances start, caches fill.
    #[arg(long, default_value_t = 2.0)]
    warmup_secs: f64,
    /// Connections of the concurrent loads.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// More connection counts for the fixture under devstack, which starts one instance per
    /// concurrent request: its throughput with fewer instances than the main load's.
    #[arg(long, value_delimiter = ',', default_value = "8")]
    devstack_extra_connections: Vec<usize>,
    /// Window of each hop of the breakdown (1 connection), in seconds; 0 skips it.
    #[arg(long, default_value_t = 2.0)]
    breakdown_secs: f64,
    /// `cargo lambda watch --concurrency` values to measure at the concurrent load.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    cargo_lambda_instances: Vec<usize>,
    /// The cargo-lambda executable (`just tools` installs it into .venv).
    #[arg(long)]
    cargo_lambda: Option<PathBuf>,
    /// A cargo target directory of its own for `cargo lambda watch` (it compiles the fixtures
    /// there once). By default it shares the workspace's, where `just bench` has already built
    /// them; but each instance it starts is a `cargo run`, which waits while any other build
    /// holds that directory's lock.
    #[arg(long)]
    cargo_lambda_target_dir: Option<PathBuf>,
    /// How long `cargo lambda watch` may take to compile and serve.
    #[arg(long, default_value_t = 900)]
    cargo_lambda_deadline_secs: u64,
    /// `devstack up` starts to time (the median is reported).
    #[arg(long, default_value_t = 5)]
    up_runs: usize,
    /// devstack's instance cap per function (`devstack up --max-instances`); 0 lifts it.
    /// Default: devstack's own default.
    #[arg(long)]
    max_instances: Option<usize>,
    /// Concurrent client tasks of the SQS comparison (each measured on devstack and on moto;
    /// the deep-queue run uses the largest).
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    sqs_clients: Vec<usize>,
    /// Messages of the SQS comparison, each way.
    #[arg(long, default_value_t = 2000)]
    sqs_messages: usize,
    /// Depth of devstack's deep-queue run (0 skips it), filled and emptied in slices.
    #[arg(long, default_value_t = 100_000)]
    sqs_depth: usize,
    #[arg(long, default_value_t = 10_000)]
    sqs_slice: usize,
    /// Clicks of the pipeline's throughput run.
    #[arg(long, default_value_t = 5000)]
    clicks: usize,
    /// Concurrent PutEvents publishers of the throughput run.
    #[arg(long, default_value_t = 4)]
    click_publishers: usize,
    /// One-at-a-time clicks of the pipeline's latency run (0 skips it).
    #[arg(long, default_value_t = 300)]
    click_samples: usize,
    /// WebSocket clients watching the clicked link in the push benchmark (0 skips it).
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Clicks of the push benchmark, published one at a time.
    #[arg(long, default_value_t = 200)]
    push_samples: usize,
    /// Clicks of the dashboard benchmark, sent one at a time (0 skips it).
    #[arg(long, default_value_t = 50)]
    dashboard_clicks: usize,
    /// Parts to leave out.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<Part>,
    /// The workspace (template.yaml, crates/).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))]
    root: PathBuf,
    /// Where the report goes (default: target/bench/report.md under the workspace).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Sub {
    /// The floor server: axum answering 301 on a free port, printed on stdout.
    #[command(hide = true)]
    ServeFloor,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Floor,
    Devstack,
    CargoLambda,
    Product,
    Breakdown,
    Up,
    Memory,
    Sqs,
    Pipeline,
    Push,
    Dashboard,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Sub::ServeFloor) = cli.command {
        return serve_floor();
    }
    // Two runtimes, as two processes would have: devstack (in-process through its library)
    // on one, the load generator on the other, with named threads so that the generator's
    // own CPU time can be read from /proc.
    let services = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-svc")
        .build()?;
    let generator = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(cpu::GENERATOR_THREAD)
        .build()?;
    let bench = Bench {
        generator: generator.handle().clone(),
        root: cli.root.canonicalize().context("--root")?,
        bin_dir: std::env::current_exe()?
            .parent()
            .context("no executable dir")?
            .to_path_buf(),
        cli,
    };
    let report = services.block_on(bench.run());
    let md = report.markdown();
    println!("\n{md}");
    let out = bench
        .cli
        .out
        .clone()
        .unwrap_or_else(|| bench.root.join("target/bench/report.md"));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, &md).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("report written to {}", out.display());
    // Stop devstack's servers and instances before the runtimes go.
    services.shutdown_timeout(Duration::from_secs(2));
    generator.shutdown_timeout(Duration::from_secs(2));
    anyhow::ensure!(
        report.errors.is_empty(),
        "{} part(s) of the benchmark failed",
        report.errors.len()
    );
    Ok(())
}

struct Bench {
    cli: Cli,
    generator: Handle,
    root: PathBuf,
    bin_dir: PathBuf,
}

/// Shorthand for progress on stderr (the report goes to stdout).
macro_rules! say {
    ($($t:tt)*) => {{ eprintln!("bench: {}", format!($($t)*)); }};
}

impl Bench {
    fn wants(&self, p: Part) -> bool {
        !self.cli.skip.contains(&p)
    }

    fn plan(&self, connections: usize, secs: f64) -> Plan {
        Plan {
            connections,
            duration: Duration::from_secs_f64(secs),
            warmup: Duration::from_secs_f64(self.cli.warmup_secs),
        }
    }

    /// Runs a load on the generator's runtime and waits for it.
    async fn measure(
        &self,
        what: &str,
        req: &Request,
        connections: usize,
        servers: &[u32],
    ) -> Outcome {
        self.measure_for(what, req, connections, self.cli.secs, servers)
            .await
    }

    async fn measure_for(
        &self,
        what: &str,
        req: &Request,
        connections: usize,
        secs: f64,
        servers: &[u32],
    ) -> Outcome {
        let o = self.load(req, self.plan(connections, secs), servers).await;
        say!(
            "{what}, {connections} conn: p50 {} p99 {} {} req/s {:?}{}",
            lat(o.p50()),
            lat(o.p99()),
            rate(o.rps()),
            o.statuses,
            if o.errors > 0 {
                format!(" errors {}", o.errors)
            } else {
                String::new()
            }
        );
        o
    }

    fn data_dir(&self, name: &str) -> PathBuf {
        let d = self.root.join("target/bench").join(name);
        let _ = std::fs::create_dir_all(&d);
        d
    }

    async fn run(&self) -> Report {
        let mut r = Report::default();
        self.header(&mut r);
        let conns = self.cli.connections;
        let mut results = Results::default();

        if self.wants(Part::Floor) {
            say!("(a) floor: axum 301");
            if let Err(e) = self.floor(&mut r, &mut results).await {
                r.errors.push(format!("floor: {e:#}"));
            }
        }
        if self.wants(Part::Devstack) || self.wants(Part::CargoLambda) {
            say!("(b) fixture_redirect under devstack and cargo lambda watch");
            if let Err(e) = self.fixture(&mut r, &mut results).await {
                r.errors.push(format!("fixture_redirect: {e:#}"));
            }
        }
        if self.wants(Part::Product) {
            say!("(c) the product's resolve path under devstack");
            if let Err(e) = self.product(&mut r, &mut results).await {
                r.errors.push(format!("product: {e:#}"));
            }
        }
        if self.wants(Part::Up) {
            say!("devstack up: start time");
            if let Err(e) = self.up_time(&mut r, &mut results).await {
                r.errors.push(format!("devstack up: {e:#}"));
            }
        }
        if self.wants(Part::Memory) {
            say!("devstack up: idle memory");
            if let Err(e) = self.idle_memory(&mut r, &mut results).await {
                r.errors.push(format!("idle memory: {e:#}"));
            }
        }
        let mut queues = sqs::Measured {
            messages: self.cli.sqs_messages,
            depth: self.cli.sqs_depth,
            ..Default::default()
        };
        if self.wants(Part::Sqs) {
            say!("(d) SQS: devstack against moto, same client");
            let set = sqs::Settings {
                clients: self.cli.sqs_clients.clone(),
                messages: self.cli.sqs_messages,
                depth: self.cli.sqs_depth,
                slice: self.cli.sqs_slice,
                template: self.root.join("crates/bench/idle.yaml"),
                data_dir: self.data_dir("devstack-sqs"),
                moto: self.root.join(".venv/bin/moto_server"),
            };
            if let Err(e) = sqs::run(&set, &self.generator, &mut r, &mut queues).await {
                r.errors.push(format!("sqs: {e:#}"));
            }
        }
        let mut clicks = pipeline::Measured::default();
        if self.wants(Part::Pipeline) {
            say!("(d) the product's click pipeline under devstack");
            let set = pipeline::Settings {
                clicks: self.cli.clicks,
                publishers: self.cli.click_publishers,
                warmup: 500,
                samples: self.cli.click_samples,
                template: self.root.join("template.yaml"),
                data_dir: self.data_dir("devstack-pipeline"),
                max_instances: self.max_instances(),
            };
            if let Err(e) = pipeline::run(&set, &self.generator, &mut r, &mut clicks).await {
                r.errors.push(format!("pipeline: {e:#}"));
            }
        }
        let mut pushes = push::Measured::default();
        if self.wants(Part::Push) && self.cli.watchers > 0 {
            say!("(e) WebSocket push to the product's watchers under devstack");
            let set = push::Settings {
                watchers: self.cli.watchers,
                samples: self.cli.push_samples,
                template: self.root.join("template.yaml"),
                data_dir: self.data_dir("devstack-push"),
                max_instances: self.max_instances(),
            };
            if let Err(e) = push::run(&set, &self.generator, &mut r, &mut pushes).await {
                r.errors.push(format!("push: {e:#}"));
            }
        }
        let mut page = dashboard::Measured::default();
        if self.wants(Part::Dashboard) && self.cli.dashboard_clicks > 0 {
            say!("(f) the dashboard's live count in headless Chromium under devstack");
            let set = dashboard::Settings {
                clicks: self.cli.dashboard_clicks,
                template: self.root.join("template.yaml"),
                data_dir: self.data_dir("devstack-dashboard"),
                tests_dir: self.root.join("dashboard/tests"),
            };
            if let Err(e) = dashboard::run(&set, &mut r, &mut page).await {
                r.errors.push(format!("dashboard: {e:#}"));
            }
        }
        self.checks(&mut r, &results, conns);
        sqs::checks(&queues, &mut r);
        pipeline::checks(&clicks, &mut r);
        push::checks(&pushes, &mut r);
        dashboard::checks(&page, &mut r);
        r
    }

    fn header(&self, r: &mut Report) {
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, m)| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let commit = Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(&self.root)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        // Something else using the CPU (a build, CI) skews every number: say so up front.
        let a = cpu::Snapshot::take(&[]);
        std::thread::sleep(Duration::from_secs(1));
        let b = cpu::Snapshot::take(&[]);
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        r.header.push(format!(
            "Machine: {} CPUs ({model}); commit {commit}; window {} s after {} s warm-up per load",
            cpu::cpus(),
            self.cli.secs,
            self.cli.warmup_secs
        ));
        r.header.push(format!(
            "Background CPU before the run: {:.0}% busy over 1 s (load average {})",
            cpu::busy_share(&a, &b) * 100.0,
            loadavg
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        ));
    }

    async fn floor(&self, r: &mut Report, res: &mut Results) -> Result<()> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.arg("serve-floor")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        procs::own_group(&mut cmd);
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().context("floor stdout")?;
        let mut guard = procs::Guard(Some(child));
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let addr: SocketAddr = line.trim().parse().context("floor address")?;
        let req = Request::get(addr, "/abc123");
        stacks::expect(&req, 301, Some("https://example.com/")).await?;
        let one = self.measure("floor", &req, 1, &[guard.pid()]).await;
        let many = self
            .measure("floor", &req, self.cli.connections, &[guard.pid()])
            .await;
        guard.stop();
        r.rows.push(Row {
            scenario: "(a) floor: axum 301, child process".into(),
            instances: "-".into(),
            out: one.clone(),
            reference: "p50 65 µs".into(),
        });
        r.rows.push(Row {
            scenario: "(a) floor: axum 301, child process".into(),
            instances: "-".into(),
            out: many.clone(),
            reference: "117k req/s".into(),
        });
        res.floor = Some((one, many));
        Ok(())
    }

    fn max_instances(&self) -> Option<Option<usize>> {
        self.cli.max_instances.map(|n| (n > 0).then_some(n))
    }

    fn breakdown(&self) -> bool {
        self.wants(Part::Breakdown) && self.cli.breakdown_secs > 0.0
    }

    /// Loads `w` until the instances it decided to start are up (at most `limit`, 90 s):
    /// cargo lambda starts each with a `cargo run`, one after the other on cargo's locks, and
    /// that start-up belongs in no measured window. devstack needs no such step: its
    /// instances start at once, within the warm-up.
    async fn settle(&self, w: &watch::Watch, req: &Request, limit: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let plan = Plan {
                connections: self.cli.connections,
                warmup: Duration::ZERO,
                duration: Duration::from_secs(1),
            };
            self.load(req, plan, &[]).await;
            let running = w.instances();
            if running >= limit || w.starting() == 0 || std::time::Instant::now() > deadline {
                return running;
            }
        }
    }

    /// (b): the fixture under devstack and under `cargo lambda watch`. Both stay alive while
    /// they are compared, and the compared loads alternate in short rounds (devstack, cargo
    /// lambda, devstack, ...), so that drift in the machine (a VM's neighbours, CPU steal)
    /// falls on both alike.
    async fn fixture(&self, r: &mut Report, res: &mut Results) -> Result<()> {
        let me = std::process::id();
        let conns = self.cli.connections;
        let ds = match self.wants(Part::Devstack) {
            true => {
                let template = self.root.join("crates/bench/template.yaml");
                Some(
                    stacks::start(
                        &template,
                        &self.data_dir("devstack-fixture"),
                        &[],
                        self.max_instances(),
                    )
                    .await?,
                )
            }
            false => None,
        };
        let mut counts = match self.wants(Part::CargoLambda) {
            true => self.cli.cargo_lambda_instances.clone(),
            false => Vec::new(),
        };
        counts.retain(|n| *n > 0);
        counts.sort_unstable();
        counts.dedup();
        let mut counts = counts.into_iter();
        // The smallest setting starts now, for the one-connection rounds.
        let mut watch = match counts.next() {
            Some(n) => Some((n, self.start_watch(n).await?)),
            None => None,
        };

        let ds_req = ds.as_ref().map(|s| s.resolve("abc123"));
        for q in ds_req
            .iter()
            .chain(watch.as_ref().map(|(_, w)| w.request("abc123")).as_ref())
        {
            stacks::expect(q, 301, Some("https://example.com/")).await?;
        }
        let function = match &ds {
            Some(s) => s.function("Redirect")?,
            None => String::new(),
        };
        let ds_side = ds_req.as_ref().map(|q| (q, me));
        let mark = ds.as_ref().map(|s| s.log_position()).unwrap_or(0);
        let cl_req = watch.as_ref().map(|(_, w)| (w.request("abc123"), w.pid()));
        let (ds_one, cl_one) = self
            .alternate(ds_side, cl_req.as_ref().map(|(q, p)| (q, *p)), 1)
            .await;
        let mut cl_rows = Vec::new();
        if let (Some(one), Some((n, w))) = (&cl_one, &watch) {
            cl_rows.push(Row {
                scenario: "(b) fixture_redirect under cargo lambda watch".into(),
                instances: format!("--concurrency {n}: {}", w.instances()),
                out: one.clone(),
                reference: "p50 386 µs".into(),
            });
        }
        res.watch_one = cl_one;

        if let (Some(s), Some(req), Some(one)) = (&ds, &ds_req, &ds_one) {
            let report = s.reported_durations(&function, mark);
            if self.breakdown() {
                let invoke = s.invoke(&function, "abc123");
                stacks::expect_invoke(&invoke, 301).await?;
                let secs = self.cli.breakdown_secs;
                let direct = self
                    .measure_for("devstack fixture Invoke API", &invoke, 1, secs, &[me])
                    .await;
                if let Some((floor, _)) = &res.floor {
                    r.hops
                        .push(hop("floor: one HTTP exchange with axum (301)", floor));
                }
                r.hops.push(hop(
                    "fixture: GET through devstack's HTTP API → Lambda → fixture_redirect",
                    one,
                ));
                r.hops.push(hop(
                    "fixture: Lambda Invoke API on the edge (no gateway)",
                    &direct,
                ));
                r.hops.push(durations_hop(
                    "fixture: function duration, /next handed out → response posted (REPORT)",
                    &report,
                ));
            }
            r.rows.push(Row {
                scenario: "(b) fixture_redirect under devstack".into(),
                instances: "1".into(),
                out: one.clone(),
                reference: String::new(),
            });
            // Fewer connections first: instances, once started, stay.
            let mut extra = self.cli.devstack_extra_connections.clone();
            extra.retain(|c| *c > 1 && *c < conns);
            extra.sort_unstable();
            extra.dedup();
            for c in extra {
                let o = self.measure("devstack fixture", req, c, &[me]).await;
                r.rows.push(Row {
                    scenario: "(b) fixture_redirect under devstack".into(),
                    instances: format!("on demand: {}", s.ds.lambda.instance_count(&function)),
                    out: o,
                    reference: String::new(),
                });
            }
        }

        // The concurrent load: devstack alone if there is no cargo lambda to compare with,
        // else alternating with each cargo lambda setting in turn.
        let mut ds_many: Option<Outcome> = None;
        if watch.is_none()
            && let Some(req) = &ds_req
        {
            ds_many = Some(self.measure("devstack fixture", req, conns, &[me]).await);
        }
        while let Some((n, w)) = watch.take() {
            let req = w.request("abc123");
            if n > 1 {
                let settled = self.settle(&w, &req, n).await;
                say!("cargo lambda watch --concurrency {n}: {settled} instances");
            }
            let (d, c) = self.alternate(ds_side, Some((&req, w.pid())), conns).await;
            let running = w.instances();
            w.stop();
            if let Some(c) = c {
                cl_rows.push(Row {
                    scenario: "(b) fixture_redirect under cargo lambda watch".into(),
                    instances: format!("--concurrency {n}: {running}"),
                    out: c.clone(),
                    reference: match n {
                        1 => "2.5k req/s".into(),
                        8 => "4.8k req/s".into(),
                        _ => String::new(),
                    },
                });
                res.watch_many.push(WatchRun {
                    concurrency: n,
                    running,
                    out: c,
                    devstack: d.clone(),
                });
            }
            if let Some(d) = d {
                match &mut ds_many {
                    Some(acc) => acc.merge(d),
                    None => ds_many = Some(d),
                }
            }
            if let Some(next) = counts.next() {
                watch = Some((next, self.start_watch(next).await?));
            }
        }
        if let (Some(s), Some(one), Some(many)) = (&ds, ds_one, ds_many) {
            let instances = s.ds.lambda.instance_count(&function);
            r.rows.push(Row {
                scenario: "(b) fixture_redirect under devstack".into(),
                instances: format!("on demand: {instances}"),
                out: many.clone(),
                reference: String::new(),
            });
            res.devstack = Some((one, many, instances));
        }
        if let Some(s) = ds {
            s.ds.shutdown().await;
        }
        r.rows.extend(cl_rows);
        Ok(())
    }

    async fn start_watch(&self, n: usize) -> Result<watch::Watch> {
        let exe = self
            .cli
            .cargo_lambda
            .clone()
            .unwrap_or_else(|| self.root.join(".venv/bin/cargo-lambda"));
        let log = self.data_dir("cargo-lambda").join(format!("watch-{n}.log"));
        say!(
            "cargo lambda watch --concurrency {n} (log: {})",
            log.display()
        );
        let w = watch::Watch::start(
            &exe,
            &self.root.join("crates/fixtures"),
            self.cli.cargo_lambda_target_dir.as_deref(),
            n,
            log,
            Duration::from_secs(self.cli.cargo_lambda_deadline_secs),
        )
        .await?;
        say!("cargo lambda watch serving after {:?}", w.ready_after);
        Ok(w)
    }

    /// `connections` to each of two servers (either may be absent): both warmed up, then
    /// measured in alternating rounds that add up to the usual window.
    async fn alternate(
        &self,
        a: Option<(&Request, u32)>,
        b: Option<(&Request, u32)>,
        connections: usize,
    ) -> (Option<Outcome>, Option<Outcome>) {
        const ROUNDS: u32 = 5;
        let sides = [a, b];
        let mut out: [Option<Outcome>; 2] = [None, None];
        for (req, _) in sides.iter().flatten() {
            let warm = Plan {
                connections,
                warmup: Duration::from_secs_f64(self.cli.warmup_secs),
                duration: Duration::ZERO,
            };
            self.load(req, warm, &[]).await;
        }
        // Each round opens its connections anew: a short warm-up absorbs that.
        let round = Plan {
            connections,
            warmup: Duration::from_millis(200),
            duration: Duration::from_secs_f64(self.cli.secs) / ROUNDS,
        };
        for _ in 0..ROUNDS {
            for (i, side) in sides.iter().enumerate() {
                if let Some((req, pid)) = side {
                    let o = self.load(req, round, &[*pid]).await;
                    match &mut out[i] {
                        Some(acc) => acc.merge(o),
                        None => out[i] = Some(o),
                    }
                }
            }
        }
        for (o, name) in out.iter().zip(["devstack", "cargo lambda watch"]) {
            if let Some(o) = o {
                say!(
                    "{name}, {connections} conn (alternating): p50 {} p99 {} {} req/s {:?}",
                    lat(o.p50()),
                    lat(o.p99()),
                    rate(o.rps()),
                    o.statuses
                );
            }
        }
        let [x, y] = out;
        (x, y)
    }

    /// One load on the generator's runtime.
    async fn load(&self, req: &Request, plan: Plan, servers: &[u32]) -> Outcome {
        let req = req.clone();
        let servers = servers.to_vec();
        self.generator
            .spawn(async move { load::run(&req, plan, &servers).await })
            .await
            .unwrap_or_default()
    }

    async fn product(&self, r: &mut Report, res: &mut Results) -> Result<()> {
        let template = self.root.join("template.yaml");
        let me = std::process::id();
        let s = stacks::start(
            &template,
            &self.data_dir("devstack-product"),
            &stacks::UNTHROTTLED,
            self.max_instances(),
        )
        .await?;
        // (c) is the resolve path (gateway, resolve_link, GetItem, PutEvents); the clicks it
        // publishes wait in their queue, since counting them is the pipeline part's to measure
        // and would otherwise share these two cores.
        s.ds.pollers.stop();
        s.put_link().await?;
        let function = s.function("ResolveLinkFunction")?;
        let req = s.resolve(stacks::CODE);
        stacks::expect(&req, 301, Some(stacks::TARGET)).await?;
        let mark = s.log_position();
        let one = self.measure("product resolve", &req, 1, &[me]).await;
        let report = s.reported_durations(&function, mark);
        if self.breakdown() {
            let secs = self.cli.breakdown_secs;
            // An unknown code: GetItem finds nothing, nothing is published, 404.
            let unknown = s.resolve("nothere1");
            stacks::expect(&unknown, 404, None).await?;
            let mark = s.log_position();
            let missing = self
                .measure_for("product resolve, unknown code", &unknown, 1, secs, &[me])
                .await;
            let missing_report = s.reported_durations(&function, mark);
            let invoke = s.invoke(&function, stacks::CODE);
            stacks::expect_invoke(&invoke, 301).await?;
            let direct = self
                .measure_for("product Invoke API", &invoke, 1, secs, &[me])
                .await;
            let get = s.get_item()?;
            stacks::expect(&get, 200, None).await?;
            let get = self
                .measure_for("GetItem on the edge", &get, 1, secs, &[me])
                .await;
            let call = stacks::Running::sdk_get_item(s.dynamodb().await, s.links_table()?);
            let plan = self.plan(1, secs);
            let sdk = self
                .generator
                .spawn(async move { load::run_calls(plan, call).await })
                .await
                .unwrap_or_default();
            say!(
                "GetItem with aws-sdk-dynamodb: p50 {} {:?}",
                lat(sdk.p50()),
                sdk.statuses
            );
            let put = s.put_events()?;
            stacks::expect(&put, 200, None).await?;
            let put = self
                .measure_for("PutEvents on the edge", &put, 1, secs, &[me])
                .await;
            r.hops.push(hop(
                "product: GET /{code} through devstack (GetItem, PutEvents, 301)",
                &one,
            ));
            r.hops.push(hop(
                "product: GET /{unknown} through devstack (GetItem only, 404)",
                &missing,
            ));
            r.hops.push(hop(
                "product: Lambda Invoke API on the edge (no gateway), 301",
                &direct,
            ));
            r.hops.push(durations_hop(
                "product: resolve_link duration, 301 (REPORT)",
                &report,
            ));
            r.hops.push(durations_hop(
                "product: resolve_link duration, unknown code 404 (REPORT)",
                &missing_report,
            ));
            r.hops.push(hop(
                "product: DynamoDB GetItem on the edge, raw HTTP from the bench",
                &get,
            ));
            r.hops.push(hop(
                "product: DynamoDB GetItem on the edge, aws-sdk-dynamodb from the bench",
                &sdk,
            ));
            r.hops.push(hop(
                "product: EventBridge PutEvents on the edge, raw HTTP from the bench",
                &put,
            ));
        }
        let many = self
            .measure("product resolve", &req, self.cli.connections, &[me])
            .await;
        let instances = s.ds.lambda.instance_count(&function);
        s.ds.shutdown().await;
        r.rows.push(Row {
            scenario: "(c) product GET /{code} under devstack".into(),
            instances: "1".into(),
            out: one.clone(),
            reference: String::new(),
        });
        r.rows.push(Row {
            scenario: "(c) product GET /{code} under devstack".into(),
            instances: format!("on demand: {instances}"),
            out: many.clone(),
            reference: String::new(),
        });
        res.product = Some((one, many));
        Ok(())
    }

    async fn up_time(&self, r: &mut Report, res: &mut Results) -> Result<()> {
        let devstack = self.bin_dir.join("devstack");
        let template = self.root.join("template.yaml");
        let data = self.data_dir("devstack-up");
        let mut ready = Vec::new();
        let mut banner = Vec::new();
        let mut http = Vec::new();
        let mut first = Vec::new();
        for _ in 0..self.cli.up_runs.max(1) {
            let up = up::Up::start(&devstack, &template, &data, Duration::from_secs(60))?;
            let addr = up.http.context("the banner shows no HTTP API")?;
            // A path no route matches: the gateway answers 404 itself, no function runs.
            let answered = up
                .until_answered(
                    &Request::get(addr, "/_bench/no/route"),
                    Duration::from_secs(60),
                )
                .await?;
            // Then a first resolve: a cold start of resolve_link, GetItem, 404.
            let cold = up
                .until_answered(&Request::get(addr, "/nothere"), Duration::from_secs(60))
                .await?;
            ready.push(up.ready_in);
            banner.push(up.banner_after);
            http.push(answered);
            first.push(cold);
            up.stop();
        }
        for v in [&mut ready, &mut banner, &mut http, &mut first] {
            v.sort();
        }
        let med = |v: &[Duration]| report::percentile(v, 0.5);
        let span = |v: &[Duration]| {
            format!(
                "{} (median of {}; {} .. {})",
                lat(med(v)),
                v.len(),
                lat(v.first().copied()),
                lat(v.last().copied())
            )
        };
        r.startup.push((
            "\"ready in\" (banner: start after the executables were found)".into(),
            span(&ready),
        ));
        r.startup
            .push(("wall: spawn → banner printed".into(), span(&banner)));
        r.startup.push((
            "wall: spawn → HTTP API answers (gateway 404, no function)".into(),
            span(&http),
        ));
        r.startup.push((
            "wall: spawn → first GET /{code} answered (cold resolve_link)".into(),
            span(&first),
        ));
        res.ready = med(&ready);
        res.wall_http = med(&http);
        Ok(())
    }

    async fn idle_memory(&self, r: &mut Report, res: &mut Results) -> Result<()> {
        let devstack = self.bin_dir.join("devstack");
        let template = self.root.join("crates/bench/idle.yaml");
        let up = up::Up::start(
            &devstack,
            &template,
            &self.data_dir("devstack-idle"),
            Duration::from_secs(60),
        )?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = up.rss_bytes();
        let procs = up.processes();
        up.stop();
        r.startup.push((
            "idle VmRSS, no functions (one table), 1 s after ready".into(),
            format!("{:.1} MiB ({procs} process)", rss as f64 / MIB),
        ));
        res.idle_rss = Some(rss);
        Ok(())
    }

    fn checks(&self, r: &mut Report, res: &Results, conns: usize) {
        // (b) latency: one connection, one instance each.
        let (ds_one, ds_many) = match &res.devstack {
            Some((a, b, _)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let pair =
            |a: Option<&Outcome>, b: Option<&Outcome>, f: &dyn Fn(&Outcome) -> Option<Duration>| {
                match (a.and_then(f), b.and_then(f)) {
                    (Some(x), Some(y)) => (
                        format!(
                            "devstack {} vs cargo lambda {} ({})",
                            lat(Some(x)),
                            lat(Some(y)),
                            relative(x.as_secs_f64(), y.as_secs_f64())
                        ),
                        Some(x <= y),
                    ),
                    _ => ("-".into(), None),
                }
            };
        let (m, p) = pair(ds_one, res.watch_one.as_ref(), &|o| o.p50());
        r.checks.push(Check {
            target: "(b) devstack p50 ≤ cargo lambda watch p50, 1 connection".into(),
            measured: m,
            pass: p,
        });
        let (m, p) = pair(ds_one, res.watch_one.as_ref(), &|o| o.p99());
        r.checks.push(Check {
            target: "(b) devstack p99 ≤ cargo lambda watch p99, 1 connection".into(),
            measured: m,
            pass: p,
        });
        // (b) throughput, each cargo lambda setting against the devstack rounds that
        // alternated with it: against its best setting, and at the nearest instance count.
        let instances = res.devstack.as_ref().map(|d| d.2);
        let compare = |w: &WatchRun| -> (String, Option<bool>) {
            let d = w.devstack.as_ref().or(ds_many);
            match d {
                Some(d) => (
                    format!(
                        "devstack {} req/s (p50 {}, {} instances) vs cargo lambda {} req/s \
                         (p50 {}, --concurrency {}: {} running); {}",
                        rate(d.rps()),
                        lat(d.p50()),
                        instances.unwrap_or(0),
                        rate(w.out.rps()),
                        lat(w.out.p50()),
                        w.concurrency,
                        w.running,
                        relative(d.rps(), w.out.rps())
                    ),
                    Some(d.rps() >= w.out.rps()),
                ),
                None => ("-".into(), None),
            }
        };
        let best = res
            .watch_many
            .iter()
            .max_by(|a, b| a.out.rps().total_cmp(&b.out.rps()));
        let (m, p) = best.map(compare).unwrap_or(("-".into(), None));
        r.checks.push(Check {
            target: format!(
                "(b) devstack req/s ≥ cargo lambda watch's best setting, {conns} connections"
            ),
            measured: m,
            pass: p,
        });
        let nearest = instances.and_then(|i| {
            res.watch_many
                .iter()
                .min_by_key(|w| w.concurrency.abs_diff(i))
        });
        if let Some(w) = nearest
            && best.is_some_and(|b| b.concurrency != w.concurrency)
        {
            let (m, p) = compare(w);
            r.checks.push(Check {
                target: format!(
                    "(b) devstack req/s ≥ cargo lambda watch's, {conns} connections, nearest instance count"
                ),
                measured: m,
                pass: p,
            });
        }
        let (p_one, p_many) = match &res.product {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        r.checks.push(Check {
            target: "(c) warm resolve p50 < 1.5 ms, 1 connection".into(),
            measured: lat(p_one.and_then(|o| o.p50())),
            pass: p_one
                .and_then(|o| o.p50())
                .map(|d| d < Duration::from_micros(1500)),
        });
        r.checks.push(Check {
            target: format!("(c) ≥ 2,000 resolves/s (30x answers), {conns} connections"),
            measured: p_many
                .map(|o| format!("{} /s", rate(o.rps_of(300..=399))))
                .unwrap_or_else(|| "-".into()),
            pass: p_many.map(|o| o.rps_of(300..=399) >= 2000.0),
        });
        r.checks.push(Check {
            target: "devstack up ready in < 500 ms after the build (banner, median)".into(),
            measured: match (res.ready, res.wall_http) {
                (Some(a), Some(b)) => format!(
                    "{} (wall to first HTTP answer {})",
                    lat(Some(a)),
                    lat(Some(b))
                ),
                _ => "-".into(),
            },
            pass: res.ready.map(|d| d < Duration::from_millis(500)),
        });
        r.checks.push(Check {
            target: "idle memory < 60 MB without functions (VmRSS)".into(),
            measured: res
                .idle_rss
                .map(|b| format!("{:.1} MiB", b as f64 / MIB))
                .unwrap_or_else(|| "-".into()),
            pass: res.idle_rss.map(|b| (b as f64) < 60.0 * MIB),
        });
        // Is the generator the bottleneck? Its share of all the CPU a request costs says so.
        let share = |o: &Outcome| {
            let total = o.generator_cpu + o.server_cpu;
            (!total.is_zero()).then(|| o.generator_cpu.as_secs_f64() / total.as_secs_f64())
        };
        let worst = r
            .rows
            .iter()
            .filter(|row| !row.scenario.starts_with("(a)"))
            .filter_map(|row| share(&row.out))
            .fold(0.0f64, f64::max);
        if let Some((_, many)) = &res.floor
            && let (Some(g), Some(sv)) = (
                many.generator_cpu_per_request(),
                many.per_request(many.server_cpu),
            )
        {
            r.notes.push(format!(
                "Load generator: {:.1} µs of CPU per request at the floor's {} req/s, against \
                 {:.1} µs for the axum server; the floor's throughput is two equally cheap \
                 parties sharing {} CPUs (a cheaper client would raise it, not change the rest). \
                 In every devstack and cargo lambda row the generator is at most {:.0}% of the \
                 CPU a request costs, so it is not their bottleneck.",
                g.as_nanos() as f64 / 1e3,
                rate(many.rps()),
                sv.as_nanos() as f64 / 1e3,
                cpu::cpus(),
                worst * 100.0
            ));
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// `a` against `b` as a signed percentage: "+4%", "-12%".
fn relative(a: f64, b: f64) -> String {
    if b == 0.0 {
        return "-".into();
    }
    format!("{:+.0}%", (a / b - 1.0) * 100.0)
}

/// cargo lambda watch at the concurrent load, with devstack's rounds alternating with it.
struct WatchRun {
    concurrency: usize,
    /// Instances seen running at the end.
    running: usize,
    out: Outcome,
    devstack: Option<Outcome>,
}

#[derive(Default)]
struct Results {
    floor: Option<(Outcome, Outcome)>,
    /// 1 connection, many connections, instances devstack ran for the latter.
    devstack: Option<(Outcome, Outcome, usize)>,
    watch_one: Option<Outcome>,
    watch_many: Vec<WatchRun>,
    product: Option<(Outcome, Outcome)>,
    ready: Option<Duration>,
    wall_http: Option<Duration>,
    idle_rss: Option<u64>,
}

fn hop(what: &str, o: &Outcome) -> Hop {
    Hop {
        what: what.into(),
        p50: o.p50(),
        p99: o.p99(),
        client_cpu: o.generator_cpu_per_request(),
        samples: o.latencies_ns.len(),
    }
}

fn durations_hop(what: &str, sorted: &[Duration]) -> Hop {
    Hop {
        what: what.into(),
        p50: report::percentile(sorted, 0.5),
        p99: report::percentile(sorted, 0.99),
        client_cpu: None,
        samples: sorted.len(),
    }
}

/// The floor: axum answering every request with a 301 and a Location, nothing else. It runs
/// as a child process with tokio's default runtime, as a real server (and `devstack up`) does,
/// and exits when the bench closes its stdin, so it cannot outlive a crashed bench.
fn serve_floor() -> Result<()> {
    use axum::http::{StatusCode, header};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{}", listener.local_addr()?)?;
        stdout.flush()?;
        let app = axum::Router::new().fallback(|| async {
            (
                StatusCode::MOVED_PERMANENTLY,
                [(header::LOCATION, "https://example.com/")],
            )
        });
        std::thread::spawn(|| {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
            std::process::exit(0);
        });
        axum::serve(listener, app).await?;
        Ok(())
    })
}
