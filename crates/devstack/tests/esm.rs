//! Event source mappings, end to end: SQS queues of `tests/fixtures/esm.yaml` polled for the
//! fixture consumer (a real `lambda_runtime` binary whose behaviour each message's body
//! commands), on devstack's virtual clock. What each batch carried is read twice: from the
//! journal's `delivery` entries and from the line the consumer prints per invocation.

use chaos::journal::{Entry, Journal, Outcome, Record};
use devstack::{ClockMode, Config, Devstack};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The queues' visibility timeout (esm.yaml).
const VISIBILITY_MS: i64 = 30_000;
/// Generous: the first settle of a test includes starting a function process.
const SETTLE: Duration = Duration::from_secs(30);

fn template() -> String {
    format!("{}/tests/fixtures/esm.yaml", env!("CARGO_MANIFEST_DIR"))
}

fn virtual_config() -> Config {
    let mut config = Config::for_tests(template());
    config.clock = ClockMode::Virtual {
        start_ms: ClockMode::VIRTUAL_EPOCH_MS,
    };
    config
}

async fn start(config: Config) -> Test {
    let ds = Devstack::start(config).await.expect("devstack starts");
    Test {
        ds,
        names: HashMap::new(),
    }
}

/// A running stack, and the body id of every message a test sent (by message id).
struct Test {
    ds: Devstack,
    names: HashMap<String, String>,
}

/// What a batch carried: each message's body id and receive count.
type Batch = Vec<(String, u32)>;

fn batch(items: &[(&str, u32)]) -> Batch {
    items.iter().map(|(id, n)| ((*id).to_owned(), *n)).collect()
}

impl Test {
    fn function(&self, logical_id: &str) -> String {
        self.ds
            .stack
            .functions
            .iter()
            .find(|f| f.logical_id == logical_id)
            .map(|f| f.name.clone())
            .unwrap_or_else(|| panic!("esm.yaml has function {logical_id}"))
    }

    fn queue(&self, logical_id: &str) -> String {
        self.ds
            .stack
            .queues
            .iter()
            .find(|q| q.logical_id == logical_id)
            .map(|q| q.name.clone())
            .unwrap_or_else(|| panic!("esm.yaml has queue {logical_id}"))
    }

    /// Sends `bodies` in one SendMessageBatch; answers their message ids.
    fn send(&mut self, queue: &str, bodies: &[Value]) -> Vec<String> {
        let queue = self.queue(queue);
        let sent = self
            .ds
            .sqs
            .send_batch(
                &queue,
                bodies
                    .iter()
                    .map(|b| (b.to_string(), sqs::SendOptions::default()))
                    .collect(),
            )
            .expect("the queue exists");
        bodies
            .iter()
            .zip(sent)
            .map(|(body, sent)| {
                let id = sent.expect("the message is accepted").message_id;
                let name = body["id"].as_str().expect("every body has an id");
                self.names.insert(id.clone(), name.to_owned());
                id
            })
            .collect()
    }

    fn name(&self, message_id: &str) -> String {
        self.names
            .get(message_id)
            .cloned()
            .unwrap_or_else(|| format!("?{message_id}"))
    }

    async fn settle(&self) {
        assert!(
            self.ds.settle(SETTLE).await,
            "the event source mappings settle within {SETTLE:?}"
        );
    }

    /// Moves the virtual clock, then waits for what that set off.
    async fn advance(&self, ms: i64) {
        self.ds.advance_clock(ms).expect("the clock is virtual");
        self.settle().await;
    }

    fn journal(&self) -> Vec<Record> {
        Journal::parse(&self.ds.chaos.journal().contents()).expect("the journal parses")
    }

    /// The batches the journal says were handed to `function`, in order.
    fn deliveries(&self, function: &str) -> Vec<Batch> {
        let function = self.function(function);
        self.journal()
            .into_iter()
            .filter_map(|r| match r.entry {
                Entry::Delivery {
                    function: f,
                    messages,
                    ..
                } if f == function => Some(
                    messages
                        .iter()
                        .map(|m| (self.name(&m.message_id), m.receive_count))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    }

    /// How `function`'s invocations ended, in order.
    fn outcomes(&self, function: &str) -> Vec<Outcome> {
        let function = self.function(function);
        self.journal()
            .into_iter()
            .filter_map(|r| match r.entry {
                Entry::Response {
                    function: f,
                    outcome,
                    ..
                } if f == function => Some(outcome),
                _ => None,
            })
            .collect()
    }

    /// The body ids of the messages of `queue` the journal says were deleted, returned to the
    /// queue, or moved to a dead-letter queue.
    fn fates(&self, queue: &str) -> Fates {
        let queue = self.queue(queue);
        let mut fates = Fates::default();
        for r in self.journal() {
            match r.entry {
                Entry::Delete {
                    queue: q,
                    message_id,
                    ..
                } if q == queue => fates.deleted.push(self.name(&message_id)),
                Entry::ReturnToQueue {
                    queue: q,
                    message_id,
                    ..
                } if q == queue => fates.returned.push(self.name(&message_id)),
                Entry::MoveToDlq {
                    queue: q,
                    message_id,
                    receive_count,
                    ..
                } if q == queue => fates.dead.push((self.name(&message_id), receive_count)),
                _ => {}
            }
        }
        fates
    }

    fn stats(&self, queue: &str) -> sqs::QueueStats {
        self.ds
            .sqs
            .stats(&self.queue(queue))
            .expect("the queue exists")
    }

    /// The batches `function` itself saw (the line the consumer prints per invocation), once
    /// it has printed as many as the journal delivered: output reaches devstack's log
    /// through a pipe, maybe just after the invocation ended.
    async fn seen(&self, function: &str) -> Vec<Batch> {
        let expected = self.deliveries(function).len();
        let name = self.function(function);
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let seen: Vec<Batch> = self
                .ds
                .lambda
                .logs()
                .since(&name, 0)
                .iter()
                .filter_map(|l| l.text.strip_prefix("sqs-consumer "))
                .map(|line| {
                    let v: Value = serde_json::from_str(line).expect("the consumer prints JSON");
                    v["records"]
                        .as_array()
                        .expect("records")
                        .iter()
                        .map(|r| {
                            let id = r["messageId"].as_str().expect("messageId");
                            assert_eq!(r["id"].as_str(), Some(self.name(id).as_str()));
                            (self.name(id), r["receiveCount"].as_u64().unwrap() as u32)
                        })
                        .collect()
                })
                .collect();
            if seen.len() >= expected || Instant::now() >= until {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Fates {
    deleted: Vec<String>,
    returned: Vec<String>,
    dead: Vec<(String, u32)>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn failures(t: &Test, items: &[&str]) -> Outcome {
    let ids = items
        .iter()
        .map(|name| {
            t.names
                .iter()
                .find(|(_, n)| n == name)
                .map(|(id, _)| id.clone())
                .expect("a message sent by the test")
        })
        .collect();
    Outcome::BatchItemFailures { ids }
}

/// The journal as a snapshot, one JSON line per record as the journal writes them: times
/// relative to the virtual epoch, message ids replaced by the body ids they carry, payloads
/// (receipt handles, attributes) left out.
fn redacted_journal(t: &Test) -> String {
    t.journal()
        .into_iter()
        .map(|mut r| {
            r.t -= ClockMode::VIRTUAL_EPOCH_MS;
            if let Entry::Delivery { payload, .. } = &mut r.entry {
                *payload = json!("[payload]");
            }
            let mut line = serde_json::to_string(&r).unwrap();
            for (id, name) in &t.names {
                line = line.replace(id.as_str(), &format!("[{name}]"));
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn partial_batch_failure_redelivers_only_the_failed_ids_until_the_dlq() {
    let mut t = start(virtual_config()).await;
    let ok = |id: &str| json!({ "id": id });
    let fail = |id: &str| json!({ "id": id, "fail": true });
    let sent = t.send(
        "WorkQueue",
        &[ok("a"), ok("b"), fail("c"), ok("d"), fail("e")],
    );
    t.settle().await;

    // One batch with all five; the three good ones are deleted, the failed two in flight.
    assert_eq!(
        t.deliveries("Consumer"),
        [batch(&[("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1)])]
    );
    assert_eq!(t.outcomes("Consumer"), [failures(&t, &["c", "e"])]);
    assert_eq!(
        t.fates("WorkQueue"),
        Fates {
            deleted: strings(&["a", "b", "d"]),
            returned: strings(&["c", "e"]),
            dead: vec![],
        }
    );
    let stats = t.stats("WorkQueue");
    assert_eq!((stats.visible, stats.in_flight), (0, 2));

    // Hidden for exactly the visibility timeout.
    t.advance(VISIBILITY_MS - 1).await;
    assert_eq!(t.deliveries("Consumer").len(), 1, "still hidden");
    t.advance(1).await;
    t.advance(VISIBILITY_MS).await;
    let again = [batch(&[("c", 2), ("e", 2)]), batch(&[("c", 3), ("e", 3)])];
    assert_eq!(t.deliveries("Consumer")[1..], again);
    assert_eq!(
        t.outcomes("Consumer")[1..],
        [failures(&t, &["c", "e"]), failures(&t, &["c", "e"])]
    );

    // Received maxReceiveCount (3) times: the next receive moves them to the DLQ.
    t.advance(VISIBILITY_MS).await;
    assert_eq!(t.deliveries("Consumer").len(), 3, "no fourth delivery");
    let fates = t.fates("WorkQueue");
    assert_eq!(fates.deleted, strings(&["a", "b", "d"]));
    assert_eq!(
        fates.dead,
        [("c".to_owned(), 3), ("e".to_owned(), 3)],
        "move-to-dlq entries for exactly the failed messages"
    );
    let stats = t.stats("WorkQueue");
    assert_eq!((stats.visible, stats.in_flight, stats.delayed), (0, 0, 0));

    // In the DLQ, with their original ids and bodies, and where they came from.
    let dlq = t.ds.sqs.peek(&t.queue("WorkDlq"), 10).unwrap();
    let work_arn = t.ds.sqs.queue_arn(&t.queue("WorkQueue"));
    assert_eq!(
        dlq.iter().map(|m| m.message_id.clone()).collect::<Vec<_>>(),
        [sent[2].clone(), sent[4].clone()]
    );
    for m in &dlq {
        assert_eq!(m.body, fail(&t.name(&m.message_id)).to_string());
        assert_eq!(m.dead_letter_source_arn.as_deref(), Some(work_arn.as_str()));
    }
    // The admin API agrees.
    let queues: Value = reqwest::get(format!("{}/_devstack/queues", t.ds.edge_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let depth = |name: &str| {
        queues["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == json!(name))
            .map(|q| (q["visible"].clone(), q["in_flight"].clone()))
            .unwrap()
    };
    assert_eq!(depth(&t.queue("WorkDlq")), (json!(2), json!(0)));
    assert_eq!(depth(&t.queue("WorkQueue")), (json!(0), json!(0)));

    // What the function itself saw: the same three batches.
    assert_eq!(
        t.seen("Consumer").await,
        [
            batch(&[("a", 1), ("b", 1), ("c", 1), ("d", 1), ("e", 1)]),
            again[0].clone(),
            again[1].clone(),
        ]
    );
    insta::assert_snapshot!("partial_batch_journal", redacted_journal(&t));
}

#[tokio::test]
async fn a_malformed_partial_batch_response_returns_the_whole_batch() {
    let mut t = start(virtual_config()).await;
    t.send(
        "WorkQueue",
        &[
            json!({"id": "a", "fail": true}),
            json!({"id": "b", "malformed": "unknown-id", "times": 1}),
            json!({"id": "c"}),
        ],
    );
    t.settle().await;
    let outcomes = t.outcomes("Consumer");
    assert!(
        matches!(&outcomes[..], [Outcome::Malformed { detail }] if detail.contains("not a message of the batch")),
        "{outcomes:?}"
    );
    assert_eq!(
        t.fates("WorkQueue"),
        Fates {
            deleted: vec![],
            returned: strings(&["a", "b", "c"]),
            dead: vec![],
        },
        "nothing deleted"
    );
    assert_eq!(t.stats("WorkQueue").in_flight, 3);

    // All three come back; this time only the reported failure stays.
    t.advance(VISIBILITY_MS).await;
    assert_eq!(
        t.deliveries("Consumer")[1..],
        [batch(&[("a", 2), ("b", 2), ("c", 2)])]
    );
    assert_eq!(t.outcomes("Consumer")[1], failures(&t, &["a"]));
    assert_eq!(t.fates("WorkQueue").deleted, strings(&["b", "c"]));

    // A response that is JSON but not an object fails the batch too.
    t.send(
        "WorkQueue",
        &[json!({"id": "d", "malformed": "not-object", "times": 1})],
    );
    t.settle().await;
    let outcomes = t.outcomes("Consumer");
    assert!(
        matches!(&outcomes[2], Outcome::Malformed { detail } if detail.contains("not an object")),
        "{outcomes:?}"
    );
    assert_eq!(
        t.fates("WorkQueue").returned,
        strings(&["a", "b", "c", "a", "d"])
    );
    assert_eq!(t.seen("Consumer").await.len(), 3);
}

#[tokio::test]
async fn a_function_error_returns_the_whole_batch_after_the_visibility_timeout() {
    let mut t = start(virtual_config()).await;
    t.send(
        "WorkQueue",
        &[
            json!({"id": "a"}),
            json!({"id": "b", "error": true, "times": 1}),
        ],
    );
    t.settle().await;
    let outcomes = t.outcomes("Consumer");
    assert!(
        matches!(&outcomes[..], [Outcome::FunctionError { .. }]),
        "{outcomes:?}"
    );
    assert_eq!(t.fates("WorkQueue").returned, strings(&["a", "b"]));
    assert!(t.fates("WorkQueue").deleted.is_empty());
    assert_eq!(t.stats("WorkQueue").in_flight, 2);

    t.advance(VISIBILITY_MS - 1).await;
    assert_eq!(t.deliveries("Consumer").len(), 1);
    t.advance(1).await;
    assert_eq!(
        t.deliveries("Consumer"),
        [batch(&[("a", 1), ("b", 1)]), batch(&[("a", 2), ("b", 2)])]
    );
    assert_eq!(t.outcomes("Consumer")[1], Outcome::Success);
    assert_eq!(t.fates("WorkQueue").deleted, strings(&["a", "b"]));
    let stats = t.stats("WorkQueue");
    assert_eq!((stats.visible, stats.in_flight), (0, 0));
    assert_eq!(t.seen("Consumer").await, t.deliveries("Consumer"));
}

#[tokio::test]
async fn a_timeout_returns_the_whole_batch() {
    // A real timeout: the function's Timeout is 1 s, the message asks for 2 s of sleep.
    let mut t = start(virtual_config()).await;
    t.send(
        "SlowQueue",
        &[
            json!({"id": "a", "sleep_ms": 2000, "times": 1}),
            json!({"id": "b"}),
        ],
    );
    t.settle().await;
    assert_eq!(t.outcomes("Slow"), [Outcome::Timeout]);
    assert_eq!(t.fates("SlowQueue").returned, strings(&["a", "b"]));
    assert_eq!(t.stats("SlowQueue").in_flight, 2);
    t.advance(VISIBILITY_MS).await;
    assert_eq!(
        t.deliveries("Slow"),
        [batch(&[("a", 1), ("b", 1)]), batch(&[("a", 2), ("b", 2)])]
    );
    assert_eq!(t.outcomes("Slow")[1], Outcome::Success);
    assert_eq!(t.fates("SlowQueue").deleted, strings(&["a", "b"]));
    assert_eq!(t.seen("Slow").await, t.deliveries("Slow"));
}

#[tokio::test]
async fn an_injected_timeout_returns_the_whole_batch() {
    // Chaos times out the first invocation when it answers: no real waiting.
    let mut config = virtual_config();
    config.chaos_rules = vec!["function=* timeout max=1".parse().unwrap()];
    let mut t = start(config).await;
    t.send("WorkQueue", &[json!({"id": "a"}), json!({"id": "b"})]);
    t.settle().await;
    assert_eq!(t.outcomes("Consumer"), [Outcome::Timeout]);
    let faults = t
        .journal()
        .into_iter()
        .filter(|r| matches!(r.entry, Entry::Fault { .. }))
        .count();
    assert_eq!(faults, 1, "the journal names the injected fault");
    assert_eq!(t.fates("WorkQueue").returned, strings(&["a", "b"]));
    assert!(t.fates("WorkQueue").deleted.is_empty());
    t.advance(VISIBILITY_MS).await;
    assert_eq!(t.outcomes("Consumer")[1..], [Outcome::Success]);
    assert_eq!(t.deliveries("Consumer")[1], batch(&[("a", 2), ("b", 2)]));
    assert_eq!(t.fates("WorkQueue").deleted, strings(&["a", "b"]));
    // The function ran both times (the first answer was dropped).
    assert_eq!(t.seen("Consumer").await, t.deliveries("Consumer"));
}

#[tokio::test]
async fn without_report_batch_item_failures_a_failure_list_is_ignored_but_an_error_returns_all() {
    let mut t = start(virtual_config()).await;
    t.send(
        "PlainQueue",
        &[json!({"id": "a"}), json!({"id": "b", "fail": true})],
    );
    t.settle().await;
    assert_eq!(t.outcomes("Plain"), [Outcome::Success]);
    assert_eq!(t.fates("PlainQueue").deleted, strings(&["a", "b"]));
    let stats = t.stats("PlainQueue");
    assert_eq!((stats.visible, stats.in_flight), (0, 0));

    // An error returns the whole batch, the message that did nothing wrong included, until
    // maxReceiveCount (2) sends both to the DLQ.
    t.send(
        "PlainQueue",
        &[json!({"id": "c"}), json!({"id": "d", "error": true})],
    );
    t.settle().await;
    t.advance(VISIBILITY_MS).await;
    t.advance(VISIBILITY_MS).await;
    assert_eq!(
        t.deliveries("Plain")[1..],
        [batch(&[("c", 1), ("d", 1)]), batch(&[("c", 2), ("d", 2)])]
    );
    let outcomes = t.outcomes("Plain");
    assert!(
        matches!(
            &outcomes[1..],
            [Outcome::FunctionError { .. }, Outcome::FunctionError { .. }]
        ),
        "{outcomes:?}"
    );
    let fates = t.fates("PlainQueue");
    assert_eq!(fates.deleted, strings(&["a", "b"]));
    assert_eq!(fates.dead, [("c".to_owned(), 2), ("d".to_owned(), 2)]);
    let dlq = t.ds.sqs.peek(&t.queue("PlainDlq"), 10).unwrap();
    assert_eq!(
        dlq.iter()
            .map(|m| t.name(&m.message_id))
            .collect::<Vec<_>>(),
        ["c", "d"]
    );
    assert_eq!(t.seen("Plain").await, t.deliveries("Plain"));
}

#[tokio::test]
async fn the_batching_window_runs_on_the_virtual_clock() {
    let mut t = start(virtual_config()).await;
    let msg = |i: usize| json!({ "id": format!("m{i}") });

    // The clock moves (waking the pollers) while the queue is empty: no window opens then.
    t.advance(1_000).await;
    t.advance(3_000).await;

    // Three messages wait in the window (received, in flight), however long in real time;
    // it counts from the first message.
    t.send("WindowQueue", &(1..=3).map(msg).collect::<Vec<_>>());
    t.settle().await;
    assert!(t.deliveries("Windowed").is_empty(), "not before the window");
    assert_eq!(t.stats("WindowQueue").in_flight, 3);
    t.advance(4_999).await;
    assert!(t.deliveries("Windowed").is_empty(), "not before the window");
    assert!(t.seen("Windowed").await.is_empty(), "never invoked");

    // The window closes: one invocation with all three.
    t.advance(1).await;
    let three = batch(&[("m1", 1), ("m2", 1), ("m3", 1)]);
    assert_eq!(t.deliveries("Windowed"), std::slice::from_ref(&three));
    let delivered_at = t
        .journal()
        .iter()
        .find(|r| matches!(r.entry, Entry::Delivery { .. }))
        .map(|r| r.t - ClockMode::VIRTUAL_EPOCH_MS);
    assert_eq!(
        delivered_at,
        Some(9_000),
        "five seconds after the first message"
    );

    // A full batch does not wait for the window: ten at once...
    t.send("WindowQueue", &(4..=13).map(msg).collect::<Vec<_>>());
    t.settle().await;
    let ten = (4..=13).map(|i| (format!("m{i}"), 1)).collect::<Batch>();
    assert_eq!(&t.deliveries("Windowed")[1..], std::slice::from_ref(&ten));

    // ...or a window that fills up.
    t.send("WindowQueue", &(14..=16).map(msg).collect::<Vec<_>>());
    t.settle().await;
    assert_eq!(t.deliveries("Windowed").len(), 2, "in the window");
    t.send("WindowQueue", &(17..=23).map(msg).collect::<Vec<_>>());
    t.settle().await;
    let filled = (14..=23).map(|i| (format!("m{i}"), 1)).collect::<Batch>();
    assert_eq!(
        &t.deliveries("Windowed")[2..],
        std::slice::from_ref(&filled)
    );
    assert_eq!(
        t.journal().last().map(|r| r.t),
        Some(ClockMode::VIRTUAL_EPOCH_MS + 9_000),
        "the clock did not move for the full batches"
    );
    assert_eq!(t.fates("WindowQueue").deleted.len(), 23);
    assert_eq!(t.seen("Windowed").await, [three, ten, filled]);
}

#[tokio::test]
async fn a_send_is_delivered_without_waiting_for_a_polling_period() {
    // The real clock: pollers wait in 20-second long polls, so a delivery within 2 s means
    // the send woke them.
    let mut t = start(Config::for_tests(template())).await;
    t.send("WorkQueue", &[json!({"id": "warm-up"})]);
    t.settle().await; // the function's process starts
    for i in 0..3 {
        let name = format!("m{i}");
        let sent = Instant::now();
        t.send("WorkQueue", &[json!({ "id": name })]);
        assert!(
            t.ds.settle(Duration::from_secs(2)).await,
            "message {i} was not handled within 2 s of its send"
        );
        assert!(
            t.fates("WorkQueue").deleted.contains(&name),
            "message {i} handled after {:?}",
            sent.elapsed()
        );
    }
    assert_eq!(t.deliveries("Consumer").len(), 4);
}
