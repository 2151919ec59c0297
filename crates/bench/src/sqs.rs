//! SQS throughput (issue #5): devstack's queues against moto's server, through the same
//! aws-sdk-sqs client. Batched send (SendMessageBatch of 10) and batched receive+delete
//! (ReceiveMessage of up to 10, then DeleteMessageBatch), in messages per second, by a few
//! concurrent client tasks on the load generator's runtime; on devstack also one queue filled
//! to a large depth and emptied again in slices, to show the rate does not depend on depth.
//!
//! devstack keeps its state in files here (`{data}/sqs.sqlite`, as `devstack up` does): an
//! acknowledged send has been committed, as it must be in real use. Every message is checked:
//! each one sent is received and deleted exactly once.

use crate::flow::{Flow, Meter, Slice};
use crate::procs;
use crate::report::{Check, Report, rate};
use anyhow::{Context, Result, bail, ensure};
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// The batch size of both directions: SQS's maximum.
const BATCH: usize = 10;
/// The numbers for moto 5.2.5 (2,000 messages, batches of 10).
const MOTO_SEND: &str = "issue #5: moto ~50 msg/s";
const MOTO_DRAIN: &str = "issue #5: moto ~17 msg/s";
/// The target of both directions.
pub const TARGET: f64 = 5_000.0;
/// "No slowdown": the rate with the queue at its deepest within this share of the rate with it
/// (nearly) empty.
const FLAT: f64 = 0.8;

pub struct Settings {
    /// Concurrent client tasks: each setting is measured on devstack and on moto.
    pub clients: Vec<usize>,
    /// Messages of the devstack-vs-moto comparison.
    pub messages: usize,
    /// The deep-queue run (devstack only): its depth and slice; 0 skips it.
    pub depth: usize,
    pub slice: usize,
    /// devstack's template (no queues needed: the bench creates its own) and data folder.
    pub template: PathBuf,
    pub data_dir: PathBuf,
    /// `.venv/bin/moto_server`.
    pub moto: PathBuf,
}

/// What the checks need.
#[derive(Default)]
pub struct Measured {
    /// (clients, send msg/s, receive+delete msg/s)
    pub devstack: Vec<(usize, f64, f64)>,
    pub moto: Vec<(usize, f64, f64)>,
    /// Per slice: send msg/s, receive+delete msg/s (the latter in the order the queue shrank).
    pub slices: Vec<(f64, f64)>,
    pub messages: usize,
    pub depth: usize,
}

pub async fn run(
    set: &Settings,
    generator: &Handle,
    r: &mut Report,
    m: &mut Measured,
) -> Result<()> {
    let me = std::process::id();
    let ds = start_devstack(set).await?;
    let client = client(&ds.edge_url);
    for &c in &set.clients {
        let (send, drain) = compare(
            generator,
            &client,
            &format!("bench-{c}"),
            set.messages,
            c,
            &[me],
            "devstack",
            "file-backed (SQLite WAL)",
        )
        .await?;
        m.devstack.push((c, send.rate(), drain.rate()));
        r.flows.push(send);
        r.flows.push(drain);
    }
    if set.depth > 0 && set.slice > 0 {
        let clients = set.clients.iter().copied().max().unwrap_or(1);
        let slices = deep(generator, &client, set.depth, set.slice, clients, me).await?;
        m.slices = slices
            .iter()
            .map(|s| {
                (
                    s.send.as_ref().map_or(0.0, Flow::rate),
                    s.drain.as_ref().map_or(0.0, Flow::rate),
                )
            })
            .collect();
        r.slices = slices;
    }
    ds.shutdown().await;

    let moto = Moto::start(&set.moto).await.context("moto_server")?;
    let client = self::client(&moto.endpoint);
    for &c in &set.clients {
        say(&format!(
            "moto: {} messages, {c} clients (slow: minutes)",
            set.messages
        ));
        let (mut send, mut drain) = compare(
            generator,
            &client,
            &format!("bench-{c}"),
            set.messages,
            c,
            &[moto.pid()],
            "moto 5.2.5",
            "moto_server (in memory)",
        )
        .await?;
        send.reference = MOTO_SEND.into();
        drain.reference = MOTO_DRAIN.into();
        m.moto.push((c, send.rate(), drain.rate()));
        r.flows.push(send);
        r.flows.push(drain);
    }
    drop(moto);
    Ok(())
}

fn say(s: &str) {
    eprintln!("bench: {s}");
}

async fn start_devstack(set: &Settings) -> Result<devstack::Devstack> {
    let mut config = devstack::Config::new(&set.template);
    config.in_memory = false;
    config.reset = true;
    config.data_dir = set.data_dir.clone();
    config.edge_port = 0;
    config.http_port = 0;
    config.ws_port = 0;
    config.build = devstack::BuildMode {
        profile: devstack::Profile::Release,
        build: false,
    };
    config.console_logs = false;
    devstack::Devstack::start(config)
        .await
        .context("devstack could not start")
}

/// An SQS client as an application would make one, without retries: every failed call counts.
pub fn client(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .build(),
    )
}

/// `messages` sent into a new queue, then received and deleted, each direction timed.
#[allow(clippy::too_many_arguments)]
async fn compare(
    generator: &Handle,
    client: &aws_sdk_sqs::Client,
    queue: &str,
    messages: usize,
    clients: usize,
    servers: &[u32],
    backend: &str,
    storage: &str,
) -> Result<(Flow, Flow)> {
    let url = create(client, queue).await?;
    let seen = Seen::new(messages);
    let meter = Meter::start(servers);
    let sent = spawn_send(generator, client, &url, 0, messages, clients).await?;
    let usage = meter.stop();
    let send = Flow {
        scenario: format!("SQS SendMessageBatch ×{BATCH}, {storage}"),
        backend: backend.into(),
        clients: clients.to_string(),
        items: sent.ok,
        unit: "msg",
        usage,
        problems: sent.problems(),
        latencies: sent.latencies,
        reference: String::new(),
    };
    say(&format!(
        "{backend}: sent {} in {:?}: {} msg/s",
        sent.ok,
        usage.elapsed,
        rate(send.rate())
    ));
    let meter = Meter::start(servers);
    let got = spawn_drain(generator, client, &url, sent.ok, clients, &seen).await?;
    let usage = meter.stop();
    let left = depth(client, &url).await?;
    let mut problems = got.problems();
    let missing = seen.missing(0..sent.ok);
    if missing > 0 || left > 0 {
        problems.push_str(&format!(
            " {missing} never received, {left} left in the queue"
        ));
    }
    let drain = Flow {
        scenario: format!("SQS ReceiveMessage ×{BATCH} + DeleteMessageBatch, {storage}"),
        backend: backend.into(),
        clients: clients.to_string(),
        items: got.deleted,
        unit: "msg",
        usage,
        latencies: got.latencies,
        problems: problems.trim().to_owned(),
        reference: String::new(),
    };
    say(&format!(
        "{backend}: received+deleted {} in {:?}: {} msg/s",
        got.deleted,
        usage.elapsed,
        rate(drain.rate())
    ));
    Ok((send, drain))
}

/// One queue filled to `total` in slices, then emptied in slices.
async fn deep(
    generator: &Handle,
    client: &aws_sdk_sqs::Client,
    total: usize,
    slice: usize,
    clients: usize,
    me: u32,
) -> Result<Vec<Slice>> {
    let url = create(client, "bench-deep").await?;
    let seen = Seen::new(total);
    let mut slices = Vec::new();
    let mut depth = 0;
    while depth < total {
        let n = slice.min(total - depth);
        let meter = Meter::start(&[me]);
        let sent = spawn_send(generator, client, &url, depth, n, clients).await?;
        let usage = meter.stop();
        let problems = sent.problems();
        ensure!(sent.ok == n, "deep queue: a send slice failed: {problems}");
        let f = Flow {
            scenario: String::new(),
            backend: "devstack".into(),
            clients: clients.to_string(),
            items: n,
            unit: "msg",
            usage,
            latencies: sent.latencies,
            problems,
            reference: String::new(),
        };
        say(&format!(
            "deep queue: send {depth} → {}: {} msg/s",
            depth + n,
            rate(f.rate())
        ));
        slices.push(Slice {
            send_depth: (depth, depth + n),
            send: Some(f),
            drain_depth: (0, 0),
            drain: None,
        });
        depth += n;
    }
    let stored = self::depth(client, &url).await?;
    ensure!(
        stored == total,
        "deep queue: {stored} messages in the queue after sending {total}"
    );
    let mut left = total;
    let mut i = 0;
    while left > 0 {
        let n = slice.min(left);
        let meter = Meter::start(&[me]);
        let got = spawn_drain(generator, client, &url, n, clients, &seen).await?;
        let usage = meter.stop();
        let after = left.saturating_sub(got.deleted);
        let f = Flow {
            scenario: String::new(),
            backend: "devstack".into(),
            clients: clients.to_string(),
            items: got.deleted,
            unit: "msg",
            usage,
            latencies: got.latencies.clone(),
            problems: got.problems(),
            reference: String::new(),
        };
        say(&format!(
            "deep queue: receive+delete {left} → {after}: {} msg/s",
            rate(f.rate())
        ));
        if let Some(s) = slices.get_mut(i) {
            s.drain_depth = (left, after);
            s.drain = Some(f);
        } else {
            slices.push(Slice {
                send_depth: (0, 0),
                send: None,
                drain_depth: (left, after),
                drain: Some(f),
            });
        }
        ensure!(got.deleted > 0, "deep queue: nothing received");
        left = after;
        i += 1;
    }
    let missing = seen.missing(0..total);
    let stored = self::depth(client, &url).await?;
    ensure!(
        missing == 0 && stored == 0,
        "deep queue: {missing} messages never received, {stored} left"
    );
    Ok(slices)
}

async fn create(client: &aws_sdk_sqs::Client, name: &str) -> Result<String> {
    let out = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .with_context(|| format!("CreateQueue {name}"))?;
    out.queue_url.context("CreateQueue answered no QueueUrl")
}

/// Visible plus in-flight messages of the queue.
async fn depth(client: &aws_sdk_sqs::Client, url: &str) -> Result<usize> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let out = client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .context("GetQueueAttributes")?;
    let attrs = out.attributes.unwrap_or_default();
    let n = |a: A| {
        attrs
            .get(&a)
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
    };
    Ok(n(A::ApproximateNumberOfMessages) + n(A::ApproximateNumberOfMessagesNotVisible))
}

/// A body the size of a click as the product's rule delivers it (about 400 bytes), numbered.
fn body(seq: usize) -> String {
    format!(
        "{{\"seq\":{seq},\"version\":\"0\",\"id\":\"{seq:08x}-0000-4000-8000-000000000000\",\
         \"detail-type\":\"link.clicked\",\"source\":\"urlshortener\",\"account\":\"000000000000\",\
         \"time\":\"2026-11-27T10:00:00Z\",\"region\":\"us-east-1\",\"resources\":[],\
         \"detail\":{{\"version\":1,\"clickId\":\"{seq:032x}\",\"code\":\"bench42\",\
         \"linkCreatedAt\":1795773600000,\"at\":1795773600000,\
         \"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64) devstack-bench\"}}}}"
    )
}

fn seq_of(body: &str) -> Option<usize> {
    body.strip_prefix("{\"seq\":")?
        .split(',')
        .next()?
        .parse()
        .ok()
}

/// How many times each message was received.
#[derive(Clone)]
struct Seen(Arc<Vec<AtomicU8>>);

impl Seen {
    fn new(n: usize) -> Self {
        Self(Arc::new((0..n).map(|_| AtomicU8::new(0)).collect()))
    }

    /// Records a receive; false if the message was received before (or is not one of ours).
    fn mark(&self, seq: Option<usize>) -> bool {
        seq.and_then(|s| self.0.get(s))
            .is_some_and(|c| c.fetch_add(1, Ordering::Relaxed) == 0)
    }

    fn missing(&self, range: std::ops::Range<usize>) -> usize {
        self.0[range]
            .iter()
            .filter(|c| c.load(Ordering::Relaxed) == 0)
            .count()
    }
}

#[derive(Default)]
struct Sent {
    ok: usize,
    failed: usize,
    first_error: Option<String>,
    /// Per call (one batch of 10).
    latencies: Vec<Duration>,
}

impl Sent {
    fn problems(&self) -> String {
        match &self.first_error {
            None => String::new(),
            Some(e) => format!("{} failed: {e}", self.failed),
        }
    }
}

/// Sends messages `first..first + n` in batches of 10 from `clients` tasks on the generator.
async fn spawn_send(
    generator: &Handle,
    client: &aws_sdk_sqs::Client,
    url: &str,
    first: usize,
    n: usize,
    clients: usize,
) -> Result<Sent> {
    let batches = n.div_ceil(BATCH);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let client = client.clone();
        let url = url.to_owned();
        let next = next.clone();
        tasks.push(generator.spawn(async move {
            let mut out = Sent::default();
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    return out;
                }
                let seqs = first + b * BATCH..first + ((b + 1) * BATCH).min(n);
                let count = seqs.len();
                let entries = seqs
                    .enumerate()
                    .map(|(i, seq)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(body(seq))
                            .build()
                            .expect("id and body are set")
                    })
                    .collect();
                let t0 = Instant::now();
                let res = client
                    .send_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await;
                out.latencies.push(t0.elapsed());
                match res {
                    Ok(o) => {
                        out.ok += o.successful.len();
                        out.failed += o.failed.len();
                        if let Some(f) = o.failed.first() {
                            out.first_error.get_or_insert(format!("{f:?}"));
                        }
                    }
                    Err(e) => {
                        out.failed += count;
                        out.first_error.get_or_insert(format!(
                            "{}",
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        ));
                    }
                }
            }
        }));
    }
    let mut all = Sent::default();
    for t in tasks {
        let s = t.await.context("a send task panicked")?;
        all.ok += s.ok;
        all.failed += s.failed;
        all.latencies.extend(s.latencies);
        if all.first_error.is_none() {
            all.first_error = s.first_error;
        }
    }
    all.latencies.sort_unstable();
    Ok(all)
}

#[derive(Default)]
struct Drained {
    deleted: usize,
    receives: usize,
    empty: usize,
    duplicates: usize,
    failed: usize,
    first_error: Option<String>,
    /// Per receive+delete pair that received something.
    latencies: Vec<Duration>,
}

impl Drained {
    fn problems(&self) -> String {
        let mut p = Vec::new();
        if self.duplicates > 0 {
            p.push(format!("{} received twice", self.duplicates));
        }
        if let Some(e) = &self.first_error {
            p.push(format!("{} failed: {e}", self.failed));
        }
        p.join("; ")
    }
}

/// Receives (short polls of up to 10) and deletes (one batch per receive) until `target`
/// messages are deleted, from `clients` tasks on the generator.
async fn spawn_drain(
    generator: &Handle,
    client: &aws_sdk_sqs::Client,
    url: &str,
    target: usize,
    clients: usize,
    seen: &Seen,
) -> Result<Drained> {
    // A queue that loses messages must not hold the bench for ever.
    let deadline = Instant::now() + Duration::from_secs(600);
    let deleted = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let client = client.clone();
        let url = url.to_owned();
        let deleted = deleted.clone();
        let seen = seen.clone();
        tasks.push(generator.spawn(async move {
            let mut out = Drained::default();
            while deleted.load(Ordering::Relaxed) < target && Instant::now() < deadline {
                let t0 = Instant::now();
                out.receives += 1;
                let got = client
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(BATCH as i32)
                    .wait_time_seconds(0)
                    .send()
                    .await;
                let messages = match got {
                    Ok(o) => o.messages.unwrap_or_default(),
                    Err(e) => {
                        out.failed += 1;
                        out.first_error.get_or_insert(format!(
                            "ReceiveMessage: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        ));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                if messages.is_empty() {
                    // The rest is in flight to the other tasks.
                    out.empty += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let mut entries = Vec::with_capacity(messages.len());
                for (i, m) in messages.iter().enumerate() {
                    if !seen.mark(m.body.as_deref().and_then(seq_of)) {
                        out.duplicates += 1;
                    }
                    entries.push(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .set_receipt_handle(m.receipt_handle.clone())
                            .build()
                            .expect("id and handle are set"),
                    );
                }
                let res = client
                    .delete_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries))
                    .send()
                    .await;
                match res {
                    Ok(o) => {
                        deleted.fetch_add(o.successful.len(), Ordering::Relaxed);
                        out.deleted += o.successful.len();
                        out.failed += o.failed.len();
                        if let Some(f) = o.failed.first() {
                            out.first_error
                                .get_or_insert(format!("DeleteMessageBatch: {f:?}"));
                        }
                    }
                    Err(e) => {
                        out.failed += messages.len();
                        out.first_error.get_or_insert(format!(
                            "DeleteMessageBatch: {}",
                            aws_sdk_sqs::error::DisplayErrorContext(e)
                        ));
                    }
                }
                out.latencies.push(t0.elapsed());
            }
            out
        }));
    }
    let mut all = Drained::default();
    for t in tasks {
        let d = t.await.context("a receive task panicked")?;
        all.deleted += d.deleted;
        all.receives += d.receives;
        all.empty += d.empty;
        all.duplicates += d.duplicates;
        all.failed += d.failed;
        all.latencies.extend(d.latencies);
        if all.first_error.is_none() {
            all.first_error = d.first_error;
        }
    }
    if all.deleted < target {
        bail!(
            "only {} of {target} messages received and deleted within 600 s ({})",
            all.deleted,
            all.problems()
        );
    }
    all.latencies.sort_unstable();
    Ok(all)
}

/// The targets: both directions on devstack (its best client setting), and no slowdown with
/// depth.
pub fn checks(m: &Measured, r: &mut Report) {
    let best = |f: &dyn Fn(&(usize, f64, f64)) -> f64| {
        m.devstack
            .iter()
            .max_by(|a, b| f(a).total_cmp(&f(b)))
            .map(|x| (x.0, f(x)))
    };
    let moto = |c: usize, f: &dyn Fn(&(usize, f64, f64)) -> f64| {
        m.moto
            .iter()
            .find(|x| x.0 == c)
            .map(|x| format!("; moto {} msg/s with the same client", rate(f(x))))
            .unwrap_or_default()
    };
    for (what, f) in [
        (
            "batched send (SendMessageBatch ×10)",
            &(|x: &(usize, f64, f64)| x.1) as &dyn Fn(&(usize, f64, f64)) -> f64,
        ),
        ("batched receive+delete (×10)", &|x: &(usize, f64, f64)| {
            x.2
        }),
    ] {
        let b = best(f);
        r.checks.push(Check {
            target: format!(
                "SQS {what} ≥ 5,000 msg/s on devstack, durable ({} messages)",
                m.messages
            ),
            measured: b
                .map(|(c, v)| format!("{} msg/s ({c} clients){}", rate(v), moto(c, f)))
                .unwrap_or_else(|| "-".into()),
            pass: b.map(|(_, v)| v >= TARGET),
        });
    }
    let flat = |rates: Vec<f64>, deep_first: bool, what: &str| {
        if rates.len() < 2 {
            return Check {
                target: what.into(),
                measured: "-".into(),
                pass: None,
            };
        }
        let min = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rates.iter().copied().fold(0.0, f64::max);
        // The slice with the queue at its deepest against the one with it nearly empty.
        let (deep, shallow) = match deep_first {
            true => (rates[0], rates[rates.len() - 1]),
            false => (rates[rates.len() - 1], rates[0]),
        };
        Check {
            target: what.into(),
            measured: format!(
                "{} .. {} msg/s per slice; deepest slice {:.0}% of the shallowest",
                rate(min),
                rate(max),
                100.0 * deep / shallow.max(f64::MIN_POSITIVE)
            ),
            pass: Some(min >= TARGET && deep >= FLAT * shallow),
        }
    };
    let k = m.depth / 1000;
    r.checks.push(flat(
        m.slices.iter().map(|s| s.0).collect(),
        false,
        &format!(
            "SQS send as the queue grows to {k}k: every slice ≥ 5,000 msg/s, the deepest ≥ {:.0}% of the first",
            FLAT * 100.0
        ),
    ));
    r.checks.push(flat(
        m.slices.iter().map(|s| s.1).collect(),
        true,
        &format!(
            "SQS receive+delete as the queue shrinks from {k}k: every slice ≥ 5,000 msg/s, the deepest ≥ {:.0}% of the last",
            FLAT * 100.0
        ),
    ));
}

/// moto's server as a child process in its own group, stopped on drop.
pub struct Moto {
    guard: procs::Guard,
    pub endpoint: String,
}

impl Moto {
    pub async fn start(exe: &Path) -> Result<Self> {
        ensure!(
            exe.is_file(),
            "{} is missing: run `just tools` (moto[server] is in requirements-dev.txt)",
            exe.display()
        );
        let mut cmd = Command::new(exe);
        // Port 0: the server binds a free port itself and says which.
        cmd.args(["-H", "127.0.0.1", "-p", "0"])
            .env("MOTO_ACCOUNT_ID", "123456789012")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        procs::own_group(&mut cmd);
        let mut child = cmd.spawn().context("moto_server does not start")?;
        let stderr = child.stderr.take().context("moto stderr")?;
        let guard = procs::Guard(Some(child));
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads to the end, so that the server never blocks on a full pipe: it logs every
        // request (as it does by default, which is part of its cost).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some((_, addr)) = line.split_once("Running on http://") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
            .await?
            .context("moto_server did not say where it listens within 60 s")?;
        let endpoint = format!("http://{addr}");
        // Ready when it answers a ListQueues.
        let client = client(&endpoint);
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.list_queues().send().await.is_err() {
            ensure!(
                Instant::now() < deadline,
                "moto_server did not answer within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self { guard, endpoint })
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }
}
