//! Event source mappings: SQS queues polled for a Lambda function, as Lambda's pollers do it.
//!
//! A poller waits for a visible message (woken by a send, not by a polling period), gathers a
//! batch (`BatchSize`, `MaximumBatchingWindowInSeconds` on devstack's clock), invokes the
//! function synchronously with the SQS event, and then:
//!
//! - success: deletes every message of the batch;
//! - with `ReportBatchItemFailures`, a partial batch response: deletes all but the reported
//!   ids (an empty or null list is full success; an id that is not in the batch, an empty or
//!   null id, or a response that is not JSON fails the whole batch, as Lambda documents);
//! - a function error, crash or timeout: deletes nothing.
//!
//! Whatever is not deleted comes back when its visibility timeout ends, and the queue's
//! redrive policy moves it to the dead-letter queue once it has been received
//! `maxReceiveCount` times. Each step asks [`chaos::Chaos`] first (duplicate, delay, reorder,
//! lose the delete, crash or time out the invocation) and is written to the journal.
//!
//! On a virtual clock each mapping runs one batch at a time, so that a seeded run delivers the
//! same batches in the same order every time.

mod event;
mod queues;

pub use queues::{QueueError, QueueFuture, Queues};

use bytes::Bytes;
use chaos::journal::{Delivered, Entry, Outcome};
use chaos::{Chaos, InvokeFault};
use clock::SharedClock;
use lambda::{InjectedFault, InvokeError, InvokeRequest, LambdaService};
use serde_json::Value;
use sqs::Received;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Receives at most this many messages per call, as SQS allows.
const RECEIVE_MAX: usize = 10;
/// How long one wait for messages lasts before it is renewed (SQS's longest long poll).
const LONG_POLL: Duration = Duration::from_secs(20);
/// A throttled invocation is retried after this pause (the messages stay in flight meanwhile).
const THROTTLE_PAUSE: Duration = Duration::from_millis(50);
/// Concurrent batches per mapping when the template sets no `MaximumConcurrency`.
const DEFAULT_CONCURRENCY: usize = 5;

/// One mapping, resolved to names devstack serves.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// A stable id (from the template's logical ids), used in batch ids.
    pub id: String,
    /// The function's physical name.
    pub function: String,
    /// The queue's name and ARN.
    pub queue: String,
    pub queue_arn: String,
    pub batch_size: usize,
    pub window_ms: i64,
    pub report_batch_item_failures: bool,
    pub max_concurrency: Option<usize>,
    pub enabled: bool,
}

/// What the pollers work with.
#[derive(Clone)]
pub struct Deps {
    /// devstack's SQS, or an external one.
    pub sqs: Arc<dyn Queues>,
    pub lambda: LambdaService,
    pub clock: SharedClock,
    pub chaos: Arc<Chaos>,
    pub region: String,
    /// One batch at a time per mapping, for reproducible runs (the virtual clock).
    pub serial: bool,
}

struct Inner {
    deps: Deps,
    /// Woken when the clock moves or devstack stops.
    wake: Notify,
    stop: AtomicBool,
    /// Pollers receiving or delivering a batch now, across mappings (a poller waiting for
    /// its batching window to close is not counted: see `windows`).
    busy: AtomicUsize,
    /// Per poller, the clock time (ms) at which the batching window of the batch it holds
    /// closes, or `NO_WINDOW`. A window that is due makes the pollers not idle, so that a
    /// test that moves a virtual clock past it and then settles waits for that batch.
    windows: Vec<AtomicI64>,
    batches: AtomicU64,
}

/// A poller that holds no batch in a batching window.
const NO_WINDOW: i64 = i64::MAX;

/// The running pollers. Dropping them stops them.
pub struct Pollers {
    inner: Arc<Inner>,
    mappings: Vec<Mapping>,
    tasks: Vec<JoinHandle<()>>,
}

impl Pollers {
    /// Starts the pollers of every enabled mapping (on the current tokio runtime).
    pub fn start(deps: Deps, mappings: Vec<Mapping>) -> Self {
        let per_mapping = |m: &Mapping| match deps.serial {
            true => 1,
            false => m.max_concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1),
        };
        let pollers: Vec<&Mapping> = mappings
            .iter()
            .filter(|m| m.enabled)
            .flat_map(|m| std::iter::repeat_n(m, per_mapping(m)))
            .collect();
        let inner = Arc::new(Inner {
            deps,
            wake: Notify::new(),
            stop: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
            windows: pollers.iter().map(|_| AtomicI64::new(NO_WINDOW)).collect(),
            batches: AtomicU64::new(0),
        });
        let tasks = pollers
            .into_iter()
            .enumerate()
            .map(|(slot, m)| {
                let inner = inner.clone();
                let m = m.clone();
                tokio::spawn(async move { poll(inner, m, slot).await })
            })
            .collect();
        Self {
            inner,
            mappings,
            tasks,
        }
    }

    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }

    /// Re-examines every queue: call after moving a virtual clock (with `Sqs::wake`).
    pub fn wake(&self) {
        self.inner.wake.notify_waiters();
    }

    /// Pollers receiving or delivering a batch right now.
    pub fn busy(&self) -> usize {
        self.inner.busy.load(Ordering::SeqCst)
    }

    /// True when no batch is being received or delivered, no batching window is due and no
    /// mapped queue has a visible message: what a test waits for after sending or moving the
    /// clock. A batch waiting in a batching window that has not closed yet does not count
    /// (its messages are in flight until then).
    pub async fn idle(&self) -> bool {
        let now = self.inner.deps.clock.now_ms();
        if self.busy() != 0
            || self
                .inner
                .windows
                .iter()
                .any(|w| w.load(Ordering::SeqCst) <= now)
        {
            return false;
        }
        for m in self.mappings.iter().filter(|m| m.enabled) {
            match self.inner.deps.sqs.has_visible(&m.queue).await {
                Ok(false) => {}
                Ok(true) => return false,
                // Unreachable (an external service down): nothing this side can wait for.
                Err(e) => tracing::warn!(queue = %m.queue, error = %e, "queue depth unknown"),
            }
        }
        true
    }

    /// Stops the pollers (a batch being delivered is abandoned: its messages come back after
    /// their visibility timeout, as with any crash).
    pub fn stop(&self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.wake.notify_waiters();
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Pollers {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn poll(inner: Arc<Inner>, m: Mapping, slot: usize) {
    let sqs = inner.deps.sqs.clone();
    while !inner.stop.load(Ordering::SeqCst) {
        let deadline = tokio::time::Instant::now() + LONG_POLL;
        let woken = inner.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let visible = tokio::select! {
            r = sqs.wait_for_messages(&m.queue, deadline) => r,
            () = &mut woken => Ok(true),
        };
        match visible {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                // The queue is gone (deleted through the API): nothing to poll until a
                // restart re-creates it from the template.
                tracing::warn!(queue = %m.queue, error = %e, "event source mapping stopped");
                return;
            }
        }
        // Busy from before the receive until the batch's deletes are done, so that no moment
        // between them looks idle (no visible message, no batch) to `Pollers::idle`.
        inner.busy.fetch_add(1, Ordering::SeqCst);
        let batch = gather(&inner, &m, slot).await;
        if !batch.is_empty() {
            deliver_batch(&inner, &m, batch).await;
        }
        inner.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Receives a batch: up to `BatchSize`, waiting up to the batching window (devstack's clock,
/// counted from the first message received) for more. An empty batch when there was nothing
/// to receive after all. Called busy; waits in the window not busy.
async fn gather(inner: &Inner, m: &Mapping, slot: usize) -> Vec<Received> {
    let d = &inner.deps;
    let mut window_ends: Option<i64> = None;
    let mut batch: Vec<Received> = Vec::new();
    loop {
        // Registered before the clock is read, so that a clock move between the read and the
        // wait below still ends the wait.
        let woken = inner.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let want = (m.batch_size - batch.len()).min(RECEIVE_MAX);
        let got = match d.sqs.receive(&m.queue, want).await {
            Ok((got, moved)) => {
                for mv in moved {
                    record(
                        inner,
                        &Entry::MoveToDlq {
                            queue: m.queue.clone(),
                            dlq: mv.dlq,
                            message_id: mv.message_id,
                            receive_count: mv.receive_count,
                        },
                    );
                }
                got
            }
            Err(e) => {
                tracing::warn!(queue = %m.queue, error = %e, "receive failed");
                Vec::new()
            }
        };
        let now = d.clock.now_ms();
        let got_any = !got.is_empty();
        batch.extend(got);
        if batch.len() >= m.batch_size || batch.is_empty() {
            return batch;
        }
        let ends = *window_ends.get_or_insert(now + m.window_ms);
        if got_any {
            continue; // take what is there now, up to BatchSize
        }
        if now >= ends {
            return batch;
        }
        // Wait for more within the window: a send, the clock moving, or (on the real
        // clock) the window's end. Not busy meanwhile: the batch is not due yet.
        let left = Duration::from_millis((ends - now) as u64);
        let deadline = tokio::time::Instant::now() + left;
        inner.windows[slot].store(ends, Ordering::SeqCst);
        inner.busy.fetch_sub(1, Ordering::SeqCst);
        tokio::select! {
            _ = d.sqs.wait_for_messages(&m.queue, deadline) => {}
            () = &mut woken => {}
        }
        inner.busy.fetch_add(1, Ordering::SeqCst);
        inner.windows[slot].store(NO_WINDOW, Ordering::SeqCst);
        if inner.stop.load(Ordering::SeqCst) {
            return batch;
        }
    }
}

fn record(inner: &Inner, entry: &Entry) {
    let journal = inner.deps.chaos.journal();
    if journal.is_enabled()
        && let Err(e) = journal.record(inner.deps.clock.now_ms(), entry)
    {
        tracing::warn!(error = %e, "journal write failed");
    }
}

async fn deliver_batch(inner: &Inner, m: &Mapping, batch: Vec<Received>) {
    let d = &inner.deps;
    let mut records = Vec::with_capacity(batch.len());
    let mut again = Vec::new();
    for r in batch {
        let count = receive_count(&r);
        let plan = d
            .chaos
            .on_receive(&m.queue, &m.queue_arn, &r.message_id, count);
        if plan.delay_ms > 0 {
            // Held back: visible again once the delay has passed on devstack's clock.
            let secs = plan.delay_ms.div_ceil(1000).min(43_200) as u32;
            if let Err(e) = d
                .sqs
                .change_visibility(&m.queue, &r.receipt_handle, secs)
                .await
            {
                tracing::warn!(error = %e, "delay could not be applied");
            }
            continue;
        }
        if plan.duplicate {
            again.push(r.clone());
        }
        records.push(r);
    }
    let ids: Vec<String> = records.iter().map(|r| r.message_id.clone()).collect();
    if let Some(order) = d.chaos.on_batch(&m.queue, &ids) {
        let mut slots: Vec<Option<Received>> = records.into_iter().map(Some).collect();
        records = order
            .iter()
            .filter_map(|&i| slots.get_mut(i)?.take())
            .collect();
    }
    if !records.is_empty() {
        invoke_batch(inner, m, &records).await;
    }
    // A duplicate is the same message (same id, same receipt handle) delivered once more,
    // after the first delivery ended, as a second poller holding it would.
    if !again.is_empty() {
        invoke_batch(inner, m, &again).await;
    }
}

fn receive_count(r: &Received) -> u32 {
    r.attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1)
}

/// One invocation with a batch, and what follows from its answer.
async fn invoke_batch(inner: &Inner, m: &Mapping, records: &[Received]) {
    let d = &inner.deps;
    let batch_id = format!(
        "{}-{}",
        m.id,
        inner.batches.fetch_add(1, Ordering::SeqCst) + 1
    );
    let payload = event::sqs_event(records, &d.region);
    record(
        inner,
        &Entry::Delivery {
            mapping: m.id.clone(),
            function: m.function.clone(),
            queue: m.queue.clone(),
            batch: batch_id.clone(),
            messages: records
                .iter()
                .map(|r| Delivered {
                    message_id: r.message_id.clone(),
                    receive_count: receive_count(r),
                })
                .collect(),
            payload: payload.clone(),
        },
    );
    let ids: Vec<String> = records.iter().map(|r| r.message_id.clone()).collect();
    let fault = d.chaos.on_invoke(&m.function, &ids).map(|f| match f {
        InvokeFault::Crash => InjectedFault::Crash,
        InvokeFault::Timeout => InjectedFault::Timeout,
    });
    let body = Bytes::from(payload.to_string());
    let outcome = loop {
        let answer = d
            .lambda
            .invoke(InvokeRequest {
                function: m.function.clone(),
                qualifier: None,
                payload: body.clone(),
                client_context: None,
                tail_logs: false,
                fault,
            })
            .await;
        match answer {
            // Lambda's poller retries a throttled invoke while the messages stay in flight.
            Err(InvokeError::Throttled { .. }) if !inner.stop.load(Ordering::SeqCst) => {
                tokio::time::sleep(THROTTLE_PAUSE).await;
            }
            Err(e) => {
                break Outcome::FunctionError {
                    error_type: format!("devstack: {e}"),
                };
            }
            Ok(done) => {
                break match done.function_error {
                    Some(err) if err.error_type == "Sandbox.Timedout" => Outcome::Timeout,
                    Some(err) => Outcome::FunctionError {
                        error_type: err.error_type,
                    },
                    None if m.report_batch_item_failures => partial(&done.payload, &ids),
                    None => Outcome::Success,
                };
            }
        }
    };
    record(
        inner,
        &Entry::Response {
            batch: batch_id.clone(),
            function: m.function.clone(),
            outcome: outcome.clone(),
        },
    );
    let failed: HashSet<&str> = match &outcome {
        Outcome::Success => HashSet::new(),
        Outcome::BatchItemFailures { ids } => ids.iter().map(String::as_str).collect(),
        _ => records.iter().map(|r| r.message_id.as_str()).collect(),
    };
    for r in records {
        if failed.contains(r.message_id.as_str()) {
            record(
                inner,
                &Entry::ReturnToQueue {
                    queue: m.queue.clone(),
                    message_id: r.message_id.clone(),
                    batch: Some(batch_id.clone()),
                },
            );
            continue;
        }
        if d.chaos.on_batch_done(&m.queue, &r.message_id) {
            continue; // the delete is lost: the message comes back after its timeout
        }
        match d.sqs.delete(&m.queue, &r.receipt_handle).await {
            Ok(()) => record(
                inner,
                &Entry::Delete {
                    queue: m.queue.clone(),
                    message_id: r.message_id.clone(),
                    batch: Some(batch_id.clone()),
                },
            ),
            Err(e) => tracing::warn!(queue = %m.queue, error = %e, "delete failed"),
        }
    }
}

/// Reads a partial batch response (`{"batchItemFailures": [{"itemIdentifier": id}]}`) to a
/// batch of messages `ids`, as a mapping with `ReportBatchItemFailures` does (replay uses it
/// too).
pub fn partial(payload: &[u8], ids: &[String]) -> Outcome {
    let malformed = |detail: String| Outcome::Malformed { detail };
    let text = String::from_utf8_lossy(payload);
    let text = text.trim();
    // An empty or null response is full success.
    if text.is_empty() || text == "null" {
        return Outcome::Success;
    }
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return malformed(format!("the response is not JSON: {text:.200}"));
    };
    let failures = match &v {
        Value::Object(o) => match o.get("batchItemFailures") {
            None | Some(Value::Null) => return Outcome::Success,
            Some(Value::Array(a)) => a,
            Some(other) => {
                return malformed(format!("batchItemFailures is not a list: {other}"));
            }
        },
        Value::Null => return Outcome::Success,
        other => return malformed(format!("the response is not an object: {other:.200}")),
    };
    let mut out = Vec::new();
    for f in failures {
        match f.get("itemIdentifier") {
            Some(Value::String(id)) if !id.is_empty() && ids.contains(id) => {
                if !out.contains(id) {
                    out.push(id.clone());
                }
            }
            Some(Value::String(id)) if id.is_empty() => {
                return malformed("an itemIdentifier is empty".into());
            }
            Some(Value::String(id)) => {
                return malformed(format!("itemIdentifier {id} is not a message of the batch"));
            }
            _ => return malformed(format!("an entry has no itemIdentifier string: {f}")),
        }
    }
    match out.is_empty() {
        true => Outcome::Success,
        false => Outcome::BatchItemFailures { ids: out },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clock::ManualClock;
    use sqs::Sqs;
    use std::collections::BTreeMap;

    /// Pollers of one queue `q` with a five-second window, for function `f`, which is
    /// attached: its invocations wait for a Runtime API client that never comes.
    fn windowed(clock: &Arc<ManualClock>) -> (Arc<Sqs>, Pollers) {
        let shared: SharedClock = clock.clone();
        let sqs = Arc::new(
            Sqs::open(
                None,
                &[],
                "us-east-1",
                "000000000000",
                "http://127.0.0.1:9",
                shared.clone(),
            )
            .unwrap(),
        );
        sqs.create_queue("q", &BTreeMap::new(), &BTreeMap::new())
            .unwrap();
        let lambda = LambdaService::new(
            lambda::Settings {
                runtime_api_host: "127.0.0.1:9".into(),
                account_concurrency: 10,
                max_instances: Some(1),
                logs: lambda::LogSink::new(false, None),
            },
            vec![lambda::FunctionConfig {
                name: "f".into(),
                arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
                executable: None,
                environment: BTreeMap::new(),
                memory_mb: 128,
                timeout_secs: 60,
                reserved_concurrency: None,
                handler: "bootstrap".into(),
                runtime: "provided.al2023".into(),
                aliases: Vec::new(),
            }],
        );
        let pollers = Pollers::start(
            Deps {
                sqs: sqs.clone(),
                lambda,
                clock: shared,
                chaos: Arc::new(Chaos::disabled()),
                region: "us-east-1".into(),
                serial: true,
            },
            vec![Mapping {
                id: "f-q".into(),
                function: "f".into(),
                queue: "q".into(),
                queue_arn: "arn:aws:sqs:us-east-1:000000000000:q".into(),
                batch_size: 10,
                window_ms: 5_000,
                report_batch_item_failures: false,
                max_concurrency: None,
                enabled: true,
            }],
        );
        (sqs, pollers)
    }

    /// Waits (at most 10 s) for `f` to hold.
    async fn until(what: &str, f: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_batch_in_its_window_is_idle_until_the_window_is_due() {
        let clock = ManualClock::starting_at(0);
        let (sqs, pollers) = windowed(&clock);
        sqs.send("q", "one", sqs::SendOptions::default()).unwrap();
        until("the poller takes the message into its window", || {
            sqs.stats("q").unwrap().in_flight == 1 && pollers.busy() == 0
        })
        .await;
        assert!(
            pollers.idle().await,
            "a window that is not due is nothing to wait for"
        );
        clock.advance(4_999);
        assert!(pollers.idle().await);
        // Due: not idle, even before the poller has woken up to deliver it, so that a settle
        // right after moving the clock waits for the batch.
        clock.advance(1);
        assert!(!pollers.idle().await, "a due window is work to do");
        pollers.wake();
        until("the batch is delivered", || pollers.busy() == 1).await;
        assert!(!pollers.idle().await);
    }

    #[tokio::test]
    async fn the_window_counts_from_the_first_message() {
        let clock = ManualClock::starting_at(0);
        let (sqs, pollers) = windowed(&clock);
        // The clock moves while the queue is empty: the woken poller opens no window.
        pollers.wake();
        tokio::task::yield_now().await;
        clock.advance(4_000);
        pollers.wake();
        sqs.send("q", "one", sqs::SendOptions::default()).unwrap();
        until("the poller takes the message into its window", || {
            sqs.stats("q").unwrap().in_flight == 1 && pollers.busy() == 0
        })
        .await;
        clock.advance(4_999);
        assert!(
            pollers.idle().await,
            "the window ends at 9000, five seconds after the message"
        );
        clock.advance(1);
        assert!(!pollers.idle().await);
    }

    fn ids() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    #[test]
    fn partial_batch_responses() {
        let p = |s: &str| partial(s.as_bytes(), &ids());
        assert_eq!(p(""), Outcome::Success);
        assert_eq!(p("null"), Outcome::Success);
        assert_eq!(p("{}"), Outcome::Success);
        assert_eq!(p(r#"{"batchItemFailures":[]}"#), Outcome::Success);
        assert_eq!(p(r#"{"batchItemFailures":null}"#), Outcome::Success);
        assert_eq!(
            p(r#"{"batchItemFailures":[{"itemIdentifier":"b"},{"itemIdentifier":"b"}]}"#),
            Outcome::BatchItemFailures {
                ids: vec!["b".into()]
            }
        );
        for bad in [
            "not json",
            "[1]",
            r#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            r#"{"batchItemFailures":[{"id":"a"}]}"#,
            r#"{"batchItemFailures":[{"itemIdentifier":"zzz"}]}"#,
            r#"{"batchItemFailures":"a"}"#,
        ] {
            assert!(
                matches!(p(bad), Outcome::Malformed { .. }),
                "{bad} should fail the whole batch"
            );
        }
    }
}
