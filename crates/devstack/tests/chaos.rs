//! Seeded chaos end to end, on the virtual clock: the same seed gives a byte-identical
//! journal and another seed another one; the journal explains every duplicate and every
//! redelivery by a recorded fault; under "every message twice" and "lose half the deletes"
//! the product's aggregator still counts each click exactly once, while a deliberately naive
//! counter (crates/fixtures/src/bin/naive_counter.rs, tests/fixtures/naive.yaml) counts each
//! delivery; `Devstack::replay` of that journal on a fresh stack reproduces the naive count,
//! crashes and DynamoDB errors included; and the inspection commands (`journal`, `replay`,
//! `queues`, `dlq`, `clock`, `chaos`) work against a running stack.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use chaos::journal::{Entry, Outcome, Record};
use chaos::{Fault, Journal};
use devstack::{ClockMode, Config, Devstack};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);
const COUNTER_TABLE: &str = "devstack-CounterTable";
const COUNT_QUEUE: &str = "devstack-CountQueue";
const COUNT_DLQ: &str = "devstack-CountDlq";
const CHAOS: [&str; 2] = ["queue=* duplicate=every", "queue=* lose-delete=0.5"];

fn naive_template() -> String {
    format!("{}/tests/fixtures/naive.yaml", env!("CARGO_MANIFEST_DIR"))
}

fn product_template() -> String {
    format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"))
}

fn config(template: String, rules: &[&str], seed: u64) -> Config {
    let mut config = Config::for_tests(template);
    config.clock = ClockMode::Virtual {
        start_ms: ClockMode::VIRTUAL_EPOCH_MS,
    };
    config.chaos_rules = chaos::Rules::from_flags(rules).expect("valid rules");
    config.chaos_seed = seed;
    config
}

async fn start(config: Config) -> Devstack {
    Devstack::start(config).await.expect("devstack starts")
}

async fn dynamodb(ds: &Devstack) -> aws_sdk_dynamodb::Client {
    let conf = common::sdk_config(&ds.edge_url).await;
    aws_sdk_dynamodb::Client::new(&conf)
}

/// Publishes a `naive.counter` event for `code` on the naive stack's bus (through devstack's
/// EventBridge, as the edge would), then waits until its deliveries are over.
async fn publish(ds: &Devstack, code: &str) {
    let body = json!({"Entries": [{
        "EventBusName": "devstack-counts",
        "Source": "naive.counter",
        "DetailType": "count",
        "Detail": json!({"code": code}).to_string(),
    }]});
    let answer = ds.events.dispatch("PutEvents", body.to_string().as_bytes());
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["FailedEntryCount"], 0, "{}", answer.body);
    assert!(ds.settle(SETTLE).await, "the deliveries settle");
}

/// Brings back whatever is in flight (lost deletes, failed batches) by moving the virtual
/// clock past the queue's visibility timeout, until the queue is empty.
async fn drain(ds: &Devstack, queue: &str) {
    let visibility = ds
        .stack
        .queues
        .iter()
        .find(|q| q.name == queue)
        .map(|q| i64::from(q.visibility_timeout) * 1000)
        .expect("the queue is in the template");
    for _ in 0..20 {
        assert!(ds.settle(SETTLE).await, "the deliveries settle");
        let s = ds.sqs.stats(queue).unwrap();
        if s.visible + s.in_flight + s.delayed == 0 {
            return;
        }
        ds.advance_clock(visibility + 1000).unwrap();
    }
    panic!("{queue} does not drain: {:?}", ds.sqs.stats(queue));
}

async fn counter(ddb: &aws_sdk_dynamodb::Client, code: &str) -> i64 {
    let item = ddb
        .get_item()
        .table_name(COUNTER_TABLE)
        .key("code", AttributeValue::S(code.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    match item.item().and_then(|i| i.get("count")) {
        Some(AttributeValue::N(n)) => n.parse().unwrap(),
        _ => 0,
    }
}

fn journal_of(ds: &Devstack) -> Vec<Record> {
    Journal::parse(&ds.chaos.journal().contents()).expect("the journal parses")
}

/// The codes of the naive scenario: some links clicked more than once.
const CODES: [&str; 6] = ["a", "b", "c", "a", "b", "a"];

/// One naive run: each code published and its deliveries settled in turn, then every lost
/// delete brought back until the queue is empty. Returns the journal and the counters.
async fn naive_run(
    rules: &[&str],
    seed: u64,
    one_by_one: bool,
) -> (Vec<u8>, BTreeMap<String, i64>) {
    let ds = start(config(naive_template(), rules, seed)).await;
    for code in CODES {
        publish(&ds, code).await;
        if one_by_one {
            drain(&ds, COUNT_QUEUE).await;
        }
    }
    drain(&ds, COUNT_QUEUE).await;
    let ddb = dynamodb(&ds).await;
    let mut counts = BTreeMap::new();
    for code in CODES {
        counts.insert(code.to_owned(), counter(&ddb, code).await);
    }
    let journal = ds.chaos.journal().contents();
    ds.shutdown().await;
    (journal, counts)
}

/// Checks that the journal records every fault that shaped the run, and that every recorded
/// fault had its effect:
///
/// - a (message, receive) is delivered once, plus once per `duplicate` fault recorded for it;
/// - after a batch's response, each message it did not fail is either deleted or has a
///   `lose-delete` fault, never both;
/// - a message is received again only if none of its deletes happened, and every message
///   sent ends deleted or in the dead-letter queue.
fn check_faults(records: &[Record]) {
    let mut deliveries: BTreeMap<(String, u32), u32> = BTreeMap::new();
    let mut duplicates: BTreeMap<(String, u32), u32> = BTreeMap::new();
    let mut sent = BTreeSet::new();
    // A deleted message, with the receive whose batch deleted it.
    let mut deleted: BTreeMap<String, u32> = BTreeMap::new();
    let mut dead = BTreeSet::new();
    let mut batches: BTreeMap<&str, Vec<&chaos::Delivered>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        match &r.entry {
            Entry::Send { message_id, .. } => {
                sent.insert(message_id.clone());
            }
            Entry::Delivery {
                batch, messages, ..
            } => {
                for m in messages {
                    // Only a duplicate of the delivery that deleted it may follow a delete.
                    assert!(
                        deleted
                            .get(&m.message_id)
                            .is_none_or(|rc| *rc == m.receive_count),
                        "#{}: {} is received again after it was deleted",
                        r.seq,
                        m.message_id
                    );
                    *deliveries
                        .entry((m.message_id.clone(), m.receive_count))
                        .or_default() += 1;
                }
                batches.insert(batch, messages.iter().collect());
            }
            Entry::Fault {
                fault: Fault::Duplicate,
                message_id: Some(m),
                receive_count: Some(rc),
                ..
            } => *duplicates.entry((m.clone(), *rc)).or_default() += 1,
            Entry::Response { batch, outcome, .. } => {
                let failed: Vec<&str> = match outcome {
                    Outcome::Success => Vec::new(),
                    Outcome::BatchItemFailures { ids } => ids.iter().map(String::as_str).collect(),
                    _ => batches[batch.as_str()]
                        .iter()
                        .map(|m| m.message_id.as_str())
                        .collect(),
                };
                let mut done = BTreeSet::new();
                let mut lost = BTreeSet::new();
                for later in &records[i + 1..] {
                    match &later.entry {
                        Entry::Delete {
                            message_id,
                            batch: Some(b),
                            ..
                        } if b == batch => done.insert(message_id.as_str()),
                        Entry::ReturnToQueue { batch: Some(b), .. } if b == batch => true,
                        Entry::Fault {
                            fault: Fault::LoseDelete,
                            message_id: Some(m),
                            ..
                        } => lost.insert(m.as_str()),
                        _ => break,
                    };
                }
                let succeeded: BTreeSet<&str> = batches[batch.as_str()]
                    .iter()
                    .map(|m| m.message_id.as_str())
                    .filter(|m| !failed.contains(m))
                    .collect();
                assert!(done.is_disjoint(&lost), "#{}: {done:?} {lost:?}", r.seq);
                let explained: BTreeSet<&str> = done.union(&lost).copied().collect();
                assert_eq!(explained, succeeded, "#{}: deletes and lost deletes", r.seq);
                for m in &batches[batch.as_str()] {
                    if done.contains(m.message_id.as_str()) {
                        deleted.insert(m.message_id.clone(), m.receive_count);
                    }
                }
            }
            Entry::MoveToDlq { message_id, .. } => {
                dead.insert(message_id.clone());
            }
            _ => {}
        }
    }
    for ((m, rc), n) in &deliveries {
        let dups = duplicates.get(&(m.clone(), *rc)).copied().unwrap_or(0);
        assert_eq!(
            *n,
            1 + dups,
            "{m} (receive {rc}): deliveries vs duplicate faults"
        );
    }
    assert_eq!(
        duplicates.keys().collect::<Vec<_>>(),
        deliveries
            .keys()
            .filter(|k| duplicates.contains_key(*k))
            .collect::<Vec<_>>(),
        "every duplicate fault was a delivery"
    );
    for m in &sent {
        assert!(
            deleted.contains_key(m) != dead.contains(m),
            "{m} ends deleted or dead-lettered, once"
        );
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_journal_and_it_records_every_fault() {
    let ((first, counts), (second, _), (other, _)) = tokio::join!(
        naive_run(&CHAOS, 7, false),
        naive_run(&CHAOS, 7, false),
        naive_run(&CHAOS, 8, false),
    );
    assert!(!first.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second),
        "the same seed on the virtual clock gives a byte-identical journal"
    );
    assert_ne!(first, other, "another seed gives another run");

    for journal in [&first, &other] {
        let records = Journal::parse(journal).unwrap();
        check_faults(&records);
        let faults = |name: &str| {
            records
                .iter()
                .filter(|r| matches!(&r.entry, Entry::Fault { fault, .. } if fault.name() == name))
                .count()
        };
        assert!(faults("duplicate") >= CODES.len());
        assert!(faults("lose-delete") > 0, "half the deletes are lost");
    }
    // The naive counter counted every delivery of its messages: more than were sent.
    let records = Journal::parse(&first).unwrap();
    let delivered: usize = records
        .iter()
        .map(|r| match &r.entry {
            Entry::Delivery { messages, .. } => messages.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(counts.values().sum::<i64>() as usize, delivered);

    let rendered: Vec<String> = records.iter().map(chaos::render_line).collect();
    insta::assert_snapshot!("seeded_naive_journal", rendered.join("\n"));
}

#[tokio::test]
async fn the_aggregator_counts_exactly_once_under_duplicates_and_lost_deletes() {
    const CLICKS: i64 = 5;
    let mut config = config(product_template(), &CHAOS, 11);
    config
        .parameter_overrides
        .insert("ClickBatchingWindowSeconds".into(), "0".into());
    let ds = start(config).await;
    let ddb = dynamodb(&ds).await;
    let s = |v: &str| AttributeValue::S(v.into());
    let n = |v: i64| AttributeValue::N(v.to_string());
    let created = ClockMode::VIRTUAL_EPOCH_MS - 86_400_000;
    ddb.put_item()
        .table_name("devstack-LinksTable")
        .item("PK", s("LINK#chaos42"))
        .item("SK", s("META"))
        .item("GSI1PK", s("USER#alice"))
        .item("GSI1SK", s("LINK#2025-12-31T00:00:00.000Z#chaos42"))
        .item("code", s("chaos42"))
        .item("ownerId", s("alice"))
        .item("target", s("https://example.com/chaos"))
        .item("status", s("active"))
        .item("redirect", n(302))
        .item("clicks", n(0))
        .item("createdAt", n(created))
        .item("updatedAt", n(created))
        .item("version", n(1))
        .send()
        .await
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = ds.http_url.clone().unwrap();
    for _ in 0..CLICKS {
        let r = http.get(format!("{base}/chaos42")).send().await.unwrap();
        assert_eq!(r.status(), 302);
        assert!(ds.settle(SETTLE).await);
    }
    drain(&ds, "devstack-ClickQueue").await;

    let link = ddb
        .get_item()
        .table_name("devstack-LinksTable")
        .key("PK", s("LINK#chaos42"))
        .key("SK", s("META"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    let records = journal_of(&ds);
    assert_eq!(
        link.item().unwrap()["clicks"],
        n(CLICKS),
        "every click counted exactly once:\n{}",
        records
            .iter()
            .map(chaos::render_line)
            .collect::<Vec<_>>()
            .join("\n")
    );
    check_faults(&records);
    let deliveries = records
        .iter()
        .filter(|r| matches!(r.entry, Entry::Delivery { .. }))
        .count();
    assert!(
        deliveries >= 2 * CLICKS as usize,
        "every click was delivered at least twice ({deliveries} deliveries)"
    );
    ds.shutdown().await;
}

#[tokio::test]
async fn the_naive_counter_double_counts_and_replay_reproduces_it() {
    let (journal, counts) = naive_run(&CHAOS, 7, false).await;
    for (code, sent) in [("a", 3), ("b", 2), ("c", 1)] {
        assert!(
            counts[code] > sent,
            "{code}: counted {} for {sent} messages",
            counts[code]
        );
    }
    let records = Journal::parse(&journal).unwrap();

    let mut config = config(naive_template(), &[], 0);
    config.clock = ClockMode::Virtual {
        start_ms: records[0].t,
    };
    let fresh = start(config).await;
    let report = fresh.replay(&records).await.expect("the journal replays");
    assert!(report.all_matched(), "{}", report.render());
    assert_eq!(report.differs(), 0);
    assert_eq!(report.unrecorded(), 0);
    assert_eq!(
        report.items.len(),
        records
            .iter()
            .filter(|r| matches!(r.entry, Entry::Delivery { .. }))
            .count()
    );
    let ddb = dynamodb(&fresh).await;
    for (code, n) in &counts {
        assert_eq!(
            counter(&ddb, code).await,
            *n,
            "{code}: the replay counts the same"
        );
    }
    // The replay journals its own deliveries and responses.
    let replayed = journal_of(&fresh);
    let replays = replayed
        .iter()
        .filter(
            |r| matches!(&r.entry, Entry::Delivery { batch, .. } if batch.starts_with("replay:")),
        )
        .count();
    assert_eq!(replays, report.items.len());
    insta::assert_snapshot!("naive_replay_report", report.render());
    fresh.shutdown().await;
}

#[tokio::test]
async fn replay_injects_the_recorded_crashes_and_dynamodb_errors_again() {
    let rules = [
        "queue=* duplicate=every",
        "function=* crash=nth:3",
        "table=* op=UpdateItem error=TransactionConflict nth=4",
    ];
    let (journal, counts) = naive_run(&rules, 3, true).await;
    let records = Journal::parse(&journal).unwrap();
    check_faults(&records);
    let outcomes: BTreeSet<String> = records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Response { outcome, .. } => Some(devstack::replay::describe(outcome)),
            _ => None,
        })
        .collect();
    assert!(
        outcomes.contains("function error Runtime.ExitError")
            && outcomes
                .iter()
                .any(|o| o.starts_with("batch item failures")),
        "crashes and failed items: {outcomes:?}"
    );

    let fresh = start(config(naive_template(), &[], 0)).await;
    let report = fresh.replay(&records).await.expect("the journal replays");
    assert!(report.all_matched(), "{}", report.render());
    assert!(report.items.iter().any(|i| i.injected == ["crash"]));
    assert!(
        report
            .items
            .iter()
            .any(|i| i.injected.iter().any(|f| f.contains("TransactionConflict")))
    );
    let ddb = dynamodb(&fresh).await;
    for (code, n) in &counts {
        assert_eq!(counter(&ddb, code).await, *n, "{code}");
    }
    // The re-armed rules are gone again.
    assert!(fresh.chaos.rules().is_empty());
    insta::assert_snapshot!("faulty_replay_report", report.render());
    fresh.shutdown().await;
}

/// Runs the devstack binary; returns (success, stdout, stderr).
async fn cli(args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_devstack"))
        .args(args)
        .output()
        .await
        .expect("devstack runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn cli_ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = cli(args).await;
    assert!(ok, "devstack {args:?} failed: {stdout}{stderr}");
    stdout
}

#[tokio::test]
async fn the_inspection_commands_reach_a_running_stack() {
    let ds = start(config(naive_template(), &["function=* crash"], 1)).await;
    let edge = ds.edge_url.clone();
    let e = edge.as_str();

    let listed = cli_ok(&["chaos", "list", "--edge", e]).await;
    assert_eq!(listed, "seed 1\nr1       function=* crash=every\n");

    // Every invocation crashes: after three receives the message goes to the DLQ.
    publish(&ds, "x").await;
    let queues = cli_ok(&["queues", "--edge", e]).await;
    insta::assert_snapshot!("queues_in_flight", queues);
    for _ in 0..3 {
        let moved = cli_ok(&["clock", "advance", "31s", "--edge", e]).await;
        assert!(moved.contains("virtual clock"), "{moved}");
        assert!(ds.settle(SETTLE).await);
    }
    let now = cli_ok(&["clock", "--edge", e]).await;
    assert_eq!(
        now,
        "2026-01-01T00:01:33.000Z (1767225693000, virtual clock)\n"
    );
    let queues = cli_ok(&["queues", "--edge", e]).await;
    insta::assert_snapshot!("queues_dead_lettered", queues);

    let peeked = cli_ok(&["dlq", "peek", COUNT_DLQ, "--edge", e]).await;
    let message_id = peeked.split_whitespace().next().unwrap().to_owned();
    assert!(
        peeked.contains("received 3 times from devstack-CountQueue"),
        "{peeked}"
    );
    assert!(peeked.contains(r#""code":"x""#), "{peeked}");
    let as_json: Value = serde_json::from_str(
        &cli_ok(&["dlq", "peek", COUNT_DLQ, "-n", "1", "--json", "--edge", e]).await,
    )
    .unwrap();
    assert_eq!(as_json[0]["message_id"], message_id.as_str());

    // The journal, filtered, from the running stack and from a file.
    let faults = cli_ok(&["journal", "--edge", e, "--kind", "fault,move-to-dlq"]).await;
    insta::assert_snapshot!("journal_faults", faults);
    let file =
        std::env::temp_dir().join(format!("devstack-chaos-cli-{}.jsonl", std::process::id()));
    std::fs::write(&file, ds.chaos.journal().contents()).unwrap();
    let path = file.to_str().unwrap();
    let about = cli_ok(&[
        "journal",
        "--file",
        path,
        "--message",
        &message_id,
        "--kind",
        "delivery,response",
    ])
    .await;
    assert_eq!(about.lines().count(), 6, "{about}");
    let json_lines = cli_ok(&[
        "journal",
        "--file",
        path,
        "--kind",
        "send",
        "--json",
        "--until",
        "2026-01-01T00:00:00Z",
    ])
    .await;
    let send: Value = serde_json::from_str(json_lines.trim()).unwrap();
    assert_eq!(send["kind"], "send");
    assert_eq!(send["message_id"], message_id.as_str());
    let none = cli_ok(&["journal", "--file", path, "--since", "2026-01-02"]).await;
    assert_eq!(none, "");

    // Replaying that journal crashes the same invocations again: every outcome matches.
    let template = naive_template();
    let replay = [
        "replay",
        path,
        "--template",
        &template,
        "--dev",
        "--no-build",
    ];
    let out = cli_ok(&replay).await;
    assert!(
        out.ends_with(
            "replayed 3 deliveries and 0 invocations: 3 matched, 0 differ, 0 not recorded\n"
        ),
        "{out}"
    );
    // A journal whose recorded outcome the replay does not reproduce: exit 1.
    let tampered = String::from_utf8(ds.chaos.journal().contents())
        .unwrap()
        .replacen(
            r#""outcome":{"type":"function-error","error_type":"Runtime.ExitError"}"#,
            r#""outcome":{"type":"success"}"#,
            1,
        );
    std::fs::write(&file, tampered).unwrap();
    let (ok, out, _) = cli(&replay).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains("success -> function error Runtime.ExitError: DIFFERS"),
        "{out}"
    );
    let _ = std::fs::remove_file(&file);

    // Rules at runtime; then the message is redriven and counted (a fourth time).
    let added = cli_ok(&["chaos", "add", "queue=* duplicate=nth:2", "--edge", e]).await;
    assert_eq!(added, "r2       queue=* duplicate=nth:2\n");
    let (ok, _, err) = cli(&["chaos", "add", "queue=* duplicat", "--edge", e]).await;
    assert!(!ok && err.contains("duplicat"), "{err}");
    let reset = cli_ok(&["chaos", "reset", "--edge", e]).await;
    assert_eq!(reset, "seed 1\nr1       function=* crash=every\n");
    let removed = cli_ok(&["chaos", "remove", "r1", "--edge", e]).await;
    assert_eq!(removed, "removed r1       function=* crash=every\n");
    assert_eq!(
        cli_ok(&["chaos", "list", "--edge", e]).await,
        "seed 1\nno rules armed\n"
    );
    let (ok, _, err) = cli(&["chaos", "remove", "r1", "--edge", e]).await;
    assert!(!ok && err.contains("no chaos rule with id `r1`"), "{err}");
    let help = cli_ok(&["chaos", "help"]).await;
    assert!(help.contains("lose-delete"), "{help}");
    assert!(
        help.contains("websocket=API [connection=ID]") && help.contains("gone[=WHEN]"),
        "{help}"
    );
    let added = cli_ok(&[
        "chaos",
        "add",
        "gone websocket=* connection=c1=",
        "--edge",
        e,
    ])
    .await;
    assert_eq!(added, "r2       websocket=* connection=c1= gone=every\n");
    let removed = cli_ok(&["chaos", "remove", "r2", "--edge", e]).await;
    assert_eq!(
        removed,
        "removed r2       websocket=* connection=c1= gone=every\n"
    );

    let redriven = cli_ok(&["dlq", "redrive", COUNT_DLQ, "--edge", e]).await;
    assert_eq!(
        redriven,
        "COMPLETED: moved 1 message(s) from devstack-CountDlq to their source queues\n"
    );
    assert!(ds.settle(SETTLE).await);
    let ddb = dynamodb(&ds).await;
    assert_eq!(
        counter(&ddb, "x").await,
        4,
        "three crashed deliveries and one more"
    );
    let queues = cli_ok(&["queues", "--edge", e]).await;
    insta::assert_snapshot!("queues_empty", queues);
    let (ok, _, err) = cli(&["dlq", "peek", "nothere", "--edge", e]).await;
    assert!(!ok && err.contains("no queue nothere"), "{err}");
    ds.shutdown().await;
}
