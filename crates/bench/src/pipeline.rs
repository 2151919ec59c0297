//! The click pipeline (issue #5) on the product's template under devstack: `link.clicked`
//! events put on the bus go through ClickRule to ClickQueue, whose event source mapping
//! (`ClickBatchingWindowSeconds` = 0 here) invokes click_aggregator, which counts each click
//! once in a DynamoDB transaction.
//!
//! (a) throughput: clicks for a link that exists, published with PutEvents (10 entries per
//!     call, several publishers) straight to the bus, timed until the link's count (a
//!     strongly consistent GetItem, polled) shows them all; then checked to be exactly that
//!     once the pipeline is idle (counted once, nothing left in the queue or its DLQ);
//! (b) latency: one click at a time, from PutEvents sent to the GetItem (polled in a tight
//!     loop) that first shows it counted.
//!
//! devstack keeps its state in files, as `devstack up` does.

use crate::flow::{Flow, Meter};
use crate::report::{Check, Hop, Report, lat, percentile, rate};
use crate::stacks::{self, CODE};
use anyhow::{Context, Result, bail, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::runtime::Handle;

/// The link's `createdAt` as `stacks::Running::put_link` stores it: a click counts only for
/// the link it was served for.
const LINK_CREATED_AT: i64 = 1_795_773_600_000;
/// Entries per PutEvents call (EventBridge's maximum).
const ENTRIES: usize = 10;
/// How long the count may take to reach what was published.
const DEADLINE: Duration = Duration::from_secs(120);
/// The pause between two polls of the count during the throughput run (the latency run polls
/// without one).
const POLL_EVERY: Duration = Duration::from_millis(5);
pub const TARGET_RATE: f64 = 1_000.0;
pub const TARGET_P50: Duration = Duration::from_millis(20);

pub struct Settings {
    pub clicks: usize,
    pub publishers: usize,
    /// Clicks published (untimed) first, so that instances and caches are warm.
    pub warmup: usize,
    /// One-at-a-time clicks of the latency run; 0 skips it.
    pub samples: usize,
    pub template: PathBuf,
    pub data_dir: PathBuf,
    pub max_instances: Option<Option<usize>>,
}

#[derive(Default)]
pub struct Measured {
    /// clicks/s, the count reached once idle, the count expected.
    pub throughput: Option<(f64, i64, i64)>,
    pub latencies: Vec<Duration>,
    /// The median time of one poll (a consistent GetItem) in the latency run.
    pub resolution: Option<Duration>,
}

struct Clients {
    events: aws_sdk_eventbridge::Client,
    ddb: aws_sdk_dynamodb::Client,
    bus: String,
    table: String,
}

pub async fn run(
    set: &Settings,
    generator: &Handle,
    r: &mut Report,
    m: &mut Measured,
) -> Result<()> {
    let me = std::process::id();
    let s = stacks::start_pipeline(&set.template, &set.data_dir, set.max_instances).await?;
    s.put_link().await?;
    let function = s.function("ClickAggregatorFunction")?;
    let queue = |id: &str| {
        s.ds.stack
            .queues
            .iter()
            .find(|q| q.logical_id == id)
            .map(|q| q.name.clone())
            .with_context(|| format!("the template has no {id}"))
    };
    let (click_queue, dlq) = (queue("ClickQueue")?, queue("ClickDlq")?);
    let clients = Arc::new(Clients {
        events: events_client(&s.ds.edge_url),
        ddb: s.dynamodb().await,
        bus: s
            .ds
            .stack
            .event_buses
            .first()
            .map(|b| b.name.clone())
            .context("the template has no event bus")?,
        table: s.links_table()?,
    });
    let run_id = now_ms();
    let log_file = set.data_dir.join("logs").join(format!("{function}.log"));

    // Warm-up: instances started, caches filled.
    let mut expected = 0i64;
    if set.warmup > 0 {
        let c = clients.clone();
        let n = set.warmup;
        let p = set.publishers;
        generator
            .spawn(async move { publish(&c, run_id, 0, n, p).await })
            .await??;
        expected += n as i64;
        let c = clients.clone();
        generator
            .spawn(async move { until_count(&c, expected, POLL_EVERY).await })
            .await??;
        s.ds.settle(Duration::from_secs(30)).await;
    }

    // (a) throughput.
    let n = set.clicks;
    let log_from = std::fs::metadata(&log_file).map_or(0, |m| m.len());
    let target = expected + n as i64;
    let meter = Meter::start(&[me]);
    let t0 = Instant::now();
    let c = clients.clone();
    let first = set.warmup;
    let p = set.publishers;
    let published = generator
        .spawn(async move { publish(&c, run_id, first, n, p).await.map(|_| t0.elapsed()) });
    let c = clients.clone();
    let counted = generator.spawn(async move {
        until_count(&c, target, POLL_EVERY)
            .await
            .map(|(_, at)| at.duration_since(t0))
    });
    let published = published.await??;
    let counted = counted.await??;
    let mut usage = meter.stop();
    usage.elapsed = counted;
    // Exactly once: nothing more arrives once the pipeline is idle.
    s.ds.settle(Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let final_count = count(&clients).await?;
    let left: u64 = [&click_queue, &dlq]
        .iter()
        .map(|q| {
            s.ds.sqs
                .stats(q)
                .map(|st| st.visible + st.in_flight + st.delayed)
                .unwrap_or(0)
        })
        .sum();
    let batches = report_durations(&log_file, log_from);
    let mut problems = Vec::new();
    if final_count != target {
        problems.push(format!("count {} for {n} clicks", final_count - expected));
    }
    if left > 0 {
        problems.push(format!("{left} messages left in ClickQueue/ClickDlq"));
    }
    let clicks_per_s = n as f64 / counted.as_secs_f64();
    say(&format!(
        "pipeline: {n} clicks published in {published:?}, counted in {counted:?}: {} clicks/s; \
         {} invocations (p50 {} each); final count {} (expected {target}); {left} left",
        rate(clicks_per_s),
        batches.len(),
        lat(percentile(&batches, 0.5)),
        final_count
    ));
    m.throughput = Some((clicks_per_s, final_count - expected, n as i64));
    r.flows.push(Flow {
        scenario: format!(
            "click pipeline: PutEvents ×{ENTRIES} → rule → ClickQueue → click_aggregator, \
             until counted (published in {}; {} invocations, {:.1} clicks each)",
            lat(Some(published)),
            batches.len(),
            n as f64 / batches.len().max(1) as f64
        ),
        backend: "devstack, file-backed".into(),
        clients: format!("{p} publishers"),
        items: n,
        unit: "clicks",
        usage,
        latencies: Vec::new(),
        problems: problems.join("; "),
        reference: String::new(),
    });
    expected = final_count;

    // (b) latency, one click at a time.
    if set.samples > 0 {
        let log_from = std::fs::metadata(&log_file).map_or(0, |m| m.len());
        let c = clients.clone();
        let samples = set.samples;
        let first = set.warmup + n;
        let meter = Meter::start(&[me]);
        let one = generator
            .spawn(async move { one_by_one(&c, run_id, first, samples, expected).await })
            .await??;
        let usage = meter.stop();
        let durations = report_durations(&log_file, log_from);
        m.latencies = one.latencies.clone();
        m.resolution = percentile(&one.polls, 0.5);
        say(&format!(
            "pipeline latency: p50 {} p99 {} (poll p50 {}, PutEvents p50 {}, aggregator p50 {})",
            lat(percentile(&one.latencies, 0.5)),
            lat(percentile(&one.latencies, 0.99)),
            lat(m.resolution),
            lat(percentile(&one.puts, 0.5)),
            lat(percentile(&durations, 0.5)),
        ));
        r.flows.push(Flow {
            scenario: format!(
                "click pipeline: one click at a time, PutEvents sent → count incremented \
                 (GetItem polled in a tight loop, one poll p50 {})",
                lat(m.resolution)
            ),
            backend: "devstack, file-backed".into(),
            clients: "1".into(),
            items: samples,
            unit: "clicks",
            usage,
            latencies: one.latencies.clone(),
            problems: one.problems,
            reference: String::new(),
        });
        let hop = |what: &str, d: &[Duration], cpu: Option<Duration>| Hop {
            what: what.into(),
            p50: percentile(d, 0.5),
            p99: percentile(d, 0.99),
            client_cpu: cpu,
            samples: d.len(),
        };
        r.hops.push(hop(
            "pipeline: one click, PutEvents sent → count seen incremented (GetItem polled)",
            &one.latencies,
            None,
        ));
        r.hops.push(hop(
            "pipeline: PutEvents of one entry, aws-sdk-eventbridge from the bench",
            &one.puts,
            None,
        ));
        r.hops.push(hop(
            "pipeline: one poll, consistent GetItem, aws-sdk-dynamodb from the bench",
            &one.polls,
            None,
        ));
        r.hops.push(hop(
            "pipeline: click_aggregator duration, batch of one click (REPORT)",
            &durations,
            None,
        ));
        // The aggregator's own calls for one click, through its own store code, timed apart.
        let store = functions::store::Store::new(clients.ddb.clone(), clients.table.clone());
        let samples = set.samples;
        let calls = generator
            .spawn(async move { aggregator_calls(&store, run_id, samples).await })
            .await??;
        let tokens = set.warmup + n + set.samples;
        for (what, d) in [
            (
                format!(
                    "pipeline: click_aggregator's TransactWriteItems of one click (count_click), from the bench; ~{}k earlier tokens in the edge's ledger",
                    tokens / 1000
                ),
                &calls.count,
            ),
            (
                "pipeline: click_aggregator's BatchGetItem of the counts to push, from the bench"
                    .into(),
                &calls.counts,
            ),
            (
                "pipeline: click_aggregator's Query of the link's watchers (GSI1), from the bench"
                    .into(),
                &calls.watchers,
            ),
        ] {
            r.hops.push(hop(&what, d, None));
        }
    }
    s.ds.shutdown().await;
    Ok(())
}

fn say(s: &str) {
    eprintln!("bench: {s}");
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn events_client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    use aws_sdk_eventbridge::config::retry::RetryConfig;
    use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
    aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

/// A `link.clicked` entry as resolve_link publishes it, with a click id of its own.
fn click(c: &Clients, run: i64, seq: usize) -> PutEventsRequestEntry {
    click_entry(&c.bus, run, seq, CODE, LINK_CREATED_AT)
}

/// A `link.clicked` entry for the link `code` created at `link_created_at`, as resolve_link
/// publishes it, with the click id `bench-{run}-{seq}`.
pub(crate) fn click_entry(
    bus: &str,
    run: i64,
    seq: usize,
    code: &str,
    link_created_at: i64,
) -> PutEventsRequestEntry {
    let detail = serde_json::json!({
        "version": 1,
        "clickId": format!("bench-{run}-{seq}"),
        "code": code,
        "linkCreatedAt": link_created_at,
        "at": now_ms(),
        "userAgent": "devstack-bench",
    });
    PutEventsRequestEntry::builder()
        .source("urlshortener")
        .detail_type("link.clicked")
        .detail(detail.to_string())
        .event_bus_name(bus)
        .build()
}

async fn put(c: &Clients, entries: Vec<PutEventsRequestEntry>) -> Result<()> {
    put_entries(&c.events, entries).await
}

/// One PutEvents call; an error if it or any of its entries failed.
pub(crate) async fn put_entries(
    events: &aws_sdk_eventbridge::Client,
    entries: Vec<PutEventsRequestEntry>,
) -> Result<()> {
    let out = events
        .put_events()
        .set_entries(Some(entries))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_eventbridge::error::DisplayErrorContext(e)))
        .context("PutEvents")?;
    if out.failed_entry_count() > 0 {
        bail!(
            "PutEvents: {} entries failed: {:?}",
            out.failed_entry_count(),
            out.entries().iter().find(|e| e.error_code().is_some())
        );
    }
    Ok(())
}

/// Clicks `first..first + n`, 10 per PutEvents, from `publishers` tasks.
async fn publish(
    c: &Arc<Clients>,
    run: i64,
    first: usize,
    n: usize,
    publishers: usize,
) -> Result<()> {
    let calls = n.div_ceil(ENTRIES);
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..publishers.max(1))
        .map(|_| {
            let c = c.clone();
            let next = next.clone();
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        return Ok::<_, anyhow::Error>(());
                    }
                    let seqs = first + i * ENTRIES..first + ((i + 1) * ENTRIES).min(n);
                    put(&c, seqs.map(|s| click(&c, run, s)).collect()).await?;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.context("a publisher panicked")??;
    }
    Ok(())
}

/// The link's count, read strongly consistent.
async fn count(c: &Clients) -> Result<i64> {
    let out = c
        .ddb
        .get_item()
        .table_name(&c.table)
        .key("PK", AttributeValue::S(format!("LINK#{CODE}")))
        .key("SK", AttributeValue::S("META".into()))
        .consistent_read(true)
        .projection_expression("clicks")
        .send()
        .await
        .context("GetItem of the link")?;
    out.item
        .as_ref()
        .and_then(|i| i.get("clicks"))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .context("the link has no clicks attribute")
}

/// Polls until the count reaches `target`: the count and when the read that showed it ended.
async fn until_count(c: &Clients, target: i64, every: Duration) -> Result<(i64, Instant)> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let n = count(c).await?;
        let at = Instant::now();
        if n >= target {
            return Ok((n, at));
        }
        ensure!(
            at < deadline,
            "the count is {n} after {DEADLINE:?}, expected {target}"
        );
        tokio::time::sleep(every).await;
    }
}

struct OneByOne {
    latencies: Vec<Duration>,
    puts: Vec<Duration>,
    polls: Vec<Duration>,
    problems: String,
}

/// `samples` clicks, each published alone once the previous one is counted, timed from the
/// PutEvents call to the end of the first GetItem that shows it.
async fn one_by_one(
    c: &Clients,
    run: i64,
    first: usize,
    samples: usize,
    mut expected: i64,
) -> Result<OneByOne> {
    let mut out = OneByOne {
        latencies: Vec::with_capacity(samples),
        puts: Vec::with_capacity(samples),
        polls: Vec::new(),
        problems: String::new(),
    };
    let mut extra = 0;
    for i in 0..samples {
        let entry = click(c, run, first + i);
        let t0 = Instant::now();
        put(c, vec![entry]).await?;
        out.puts.push(t0.elapsed());
        expected += 1;
        let deadline = t0 + DEADLINE;
        loop {
            let p0 = Instant::now();
            let n = count(c).await?;
            out.polls.push(p0.elapsed());
            if n >= expected {
                out.latencies.push(t0.elapsed());
                if n > expected {
                    extra += n - expected;
                    expected = n;
                }
                break;
            }
            ensure!(
                p0 < deadline,
                "click {i} not counted after {DEADLINE:?} (count {n}, expected {expected})"
            );
        }
        // The aggregator's push and the poller's delete of this click end meanwhile: each click
        // meets an idle pipeline.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if extra > 0 {
        out.problems = format!("counted {extra} more than published");
    }
    out.latencies.sort_unstable();
    out.puts.sort_unstable();
    out.polls.sort_unstable();
    Ok(out)
}

struct AggregatorCalls {
    count: Vec<Duration>,
    counts: Vec<Duration>,
    watchers: Vec<Duration>,
}

/// What click_aggregator asks DynamoDB for one click, with its own store code: the counting
/// transaction, then (per batch) the counts to push and the watchers to push them to.
async fn aggregator_calls(
    store: &functions::store::Store,
    run: i64,
    samples: usize,
) -> Result<AggregatorCalls> {
    use domain::{ClickEvent, EpochMillis, ShortCode};
    use functions::store::ClickOutcome;
    let code = ShortCode::parse(CODE).map_err(|e| anyhow::anyhow!("{CODE}: {e}"))?;
    let mut out = AggregatorCalls {
        count: Vec::with_capacity(samples),
        counts: Vec::with_capacity(samples),
        watchers: Vec::with_capacity(samples),
    };
    for i in 0..samples {
        let click = ClickEvent {
            version: domain::events::DETAIL_VERSION,
            click_id: format!("bench-{run}-store-{i}"),
            code: code.clone(),
            link_created_at: EpochMillis(LINK_CREATED_AT),
            at: EpochMillis(now_ms()),
            referer: None,
            user_agent: Some("devstack-bench".into()),
        };
        let t0 = Instant::now();
        let outcome = store
            .count_click(&click, click.at.plus_secs(86_400))
            .await
            .map_err(|e| anyhow::anyhow!("count_click: {e}"))?;
        let t1 = Instant::now();
        ensure!(
            outcome == ClickOutcome::Counted,
            "count_click answered {outcome:?}"
        );
        store
            .counts(&code, click.at.day())
            .await
            .map_err(|e| anyhow::anyhow!("counts: {e}"))?;
        let t2 = Instant::now();
        store
            .watchers(&code)
            .await
            .map_err(|e| anyhow::anyhow!("watchers: {e}"))?;
        out.count.push(t1 - t0);
        out.counts.push(t2 - t1);
        out.watchers.push(t2.elapsed());
    }
    out.count.sort_unstable();
    out.counts.sort_unstable();
    out.watchers.sort_unstable();
    Ok(out)
}

/// Durations of the REPORT lines the function's log file got after byte `from` (sorted): one
/// per invocation, however many there were (the in-memory history keeps the latest only).
pub(crate) fn report_durations(file: &std::path::Path, from: u64) -> Vec<Duration> {
    let Ok(text) = std::fs::read(file) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    let mut d: Vec<Duration> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("REPORT ")?;
            let ms = rest.split("\tDuration: ").nth(1)?.split(' ').next()?;
            ms.parse::<f64>()
                .ok()
                .map(|ms| Duration::from_secs_f64(ms / 1e3))
        })
        .collect();
    d.sort();
    d
}

pub fn checks(m: &Measured, r: &mut Report) {
    let cores = crate::cpu::cpus();
    r.checks.push(Check {
        target: format!(
            "click pipeline ≥ 1,000 clicks/s counted exactly once ({cores} cores, window 0)"
        ),
        measured: m
            .throughput
            .map(|(v, got, want)| format!("{} clicks/s; counted {got} of {want}", rate(v)))
            .unwrap_or_else(|| "-".into()),
        pass: m
            .throughput
            .map(|(v, got, want)| v >= TARGET_RATE && got == want),
    });
    let p50 = percentile(&m.latencies, 0.5);
    r.checks.push(Check {
        target: "click pipeline PutEvents → counted p50 < 20 ms (batching window 0)".into(),
        measured: match p50 {
            Some(p) => format!(
                "p50 {} (p99 {}; {} clicks; polling resolution ~{})",
                lat(Some(p)),
                lat(percentile(&m.latencies, 0.99)),
                m.latencies.len(),
                lat(m.resolution)
            ),
            None => "-".into(),
        },
        pass: p50.map(|p| p < TARGET_P50),
    });
}
