//! SQS's rules, through the library API, on a clock the test moves: visibility, delays,
//! retention, dead-letter moves and redrive, receipt handles, long polling, durability.

mod common;

use common::*;
use serde_json::{Value, json};
use sqs::{MessageAttributeValue, SendOptions, Sqs, SqsError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

fn send(sqs: &Sqs, q: &str, body: &str) -> String {
    sqs.send(q, body, SendOptions::default())
        .unwrap()
        .message_id
}

#[test]
fn template_queues_exist_with_their_attributes_and_reopen_idempotently() {
    let clock = manual();
    let dir = tempfile::tempdir().unwrap();
    let mut q = queue("clicks");
    q.visibility_timeout = 60;
    {
        let sqs = open(Some(dir.path()), &[q.clone(), queue("other")], &clock);
        let info = sqs.queue_info("clicks").unwrap();
        assert_eq!(info.url, url("clicks"));
        assert_eq!(info.arn, arn("clicks"));
        send(&sqs, "clicks", "kept");
    }
    // The template changed; its attributes win, the messages stay.
    q.visibility_timeout = 90;
    let sqs = open(Some(dir.path()), &[q], &clock);
    let attrs = sqs
        .queue_attributes(
            "clicks",
            &["VisibilityTimeout", "ApproximateNumberOfMessages"],
        )
        .unwrap();
    assert_eq!(attrs["VisibilityTimeout"], "90");
    assert_eq!(attrs["ApproximateNumberOfMessages"], "1");
    // A queue no longer in the template is not removed (it may hold messages).
    assert!(sqs.queue_info("other").is_ok());
}

#[test]
fn fifo_queues_are_refused_clearly() {
    let mut q = queue("orders.fifo");
    q.fifo = true;
    let err = Sqs::open(None, &[q], REGION, ACCOUNT, EDGE, manual())
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("FIFO queues are not supported by devstack yet")
    );
    let sqs = open(None, &[], &manual());
    let err = sqs
        .create_queue("a.fifo", &BTreeMap::new(), &BTreeMap::new())
        .unwrap_err();
    assert!(matches!(err, SqsError::UnsupportedOperation(_)), "{err}");
    let attrs = BTreeMap::from([("FifoQueue".to_owned(), "true".to_owned())]);
    let err = sqs.create_queue("a", &attrs, &BTreeMap::new()).unwrap_err();
    assert!(err.to_string().contains("FIFO"), "{err}");
}

#[test]
fn queue_references_by_name_url_on_any_host_or_arn() {
    let sqs = open(None, &[queue("q")], &manual());
    for r in [
        "q".to_owned(),
        url("q"),
        format!("https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/q"),
        format!("http://localhost:4566/{ACCOUNT}/q/"),
        arn("q"),
    ] {
        assert_eq!(sqs.queue_info(&r).unwrap().name, "q", "{r}");
    }
    for r in [
        "http://localhost/999999999999/q".to_owned(),
        "arn:aws:sqs:eu-west-1:123456789012:q".to_owned(),
        "nope".to_owned(),
    ] {
        assert!(
            matches!(sqs.queue_info(&r), Err(SqsError::QueueDoesNotExist)),
            "{r}"
        );
    }
    assert_eq!(sqs.queue_arn_to_name(&arn("q")).as_deref(), Some("q"));
    assert_eq!(sqs.queue_arn_to_name("arn:aws:sns:us-east-1:1:q"), None);
}

#[test]
fn visibility_timeout_hides_a_received_message_on_the_devstack_clock() {
    let clock = manual();
    let sqs = open(None, &[queue("q")], &clock);
    let id = send(&sqs, "q", "hello");
    let first = sqs.receive("q", 10, None).unwrap();
    assert_eq!(first.len(), 1);
    let m = &first[0];
    assert_eq!(m.message_id, id);
    assert_eq!(m.body, "hello");
    assert_eq!(m.md5_of_body, "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(m.attributes["ApproximateReceiveCount"], "1");
    assert_eq!(m.attributes["SentTimestamp"], T0.to_string());
    assert_eq!(
        m.attributes["ApproximateFirstReceiveTimestamp"],
        T0.to_string()
    );
    assert_eq!(m.attributes["SenderId"], ACCOUNT);
    assert_eq!(m.event_source_arn, arn("q"));
    let stats = sqs.stats("q").unwrap();
    assert_eq!((stats.visible, stats.in_flight, stats.delayed), (0, 1, 0));
    assert_eq!(sqs.next_visible_at("q").unwrap(), Some(T0 + 30_000));

    clock.advance(29_999);
    assert!(sqs.receive("q", 10, None).unwrap().is_empty());
    clock.advance(1);
    let second = sqs.receive("q", 10, Some(5)).unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].attributes["ApproximateReceiveCount"], "2");
    assert_eq!(
        second[0].attributes["ApproximateFirstReceiveTimestamp"],
        T0.to_string()
    );
    assert_ne!(second[0].receipt_handle, m.receipt_handle);
    // The override applied: visible again after 5 s.
    clock.advance(5_000);
    assert_eq!(sqs.stats("q").unwrap().visible, 1);
}

#[test]
fn receipt_handles_are_per_receive() {
    let clock = manual();
    let sqs = open(None, &[queue("q")], &clock);
    send(&sqs, "q", "m");
    let old = sqs
        .receive("q", 1, Some(1))
        .unwrap()
        .remove(0)
        .receipt_handle;
    clock.advance(1_000);
    let new = sqs
        .receive("q", 1, Some(30))
        .unwrap()
        .remove(0)
        .receipt_handle;

    // An earlier receive's handle: visibility change refused as AWS does, delete a no-op.
    let err = sqs.change_visibility("q", &old, 60).unwrap_err();
    assert!(matches!(err, SqsError::InvalidParameterValue(_)), "{err}");
    assert!(
        err.to_string()
            .contains("Message does not exist or is not available for visibility timeout change")
    );
    sqs.delete("q", &old).unwrap();
    assert_eq!(sqs.stats("q").unwrap().in_flight, 1);

    // Not a handle at all.
    assert!(matches!(
        sqs.delete("q", "garbage"),
        Err(SqsError::ReceiptHandleIsInvalid(_))
    ));
    assert!(matches!(
        sqs.change_visibility("q", "garbage", 1),
        Err(SqsError::ReceiptHandleIsInvalid(_))
    ));

    // The current handle works, and a deleted message's handle deletes nothing, quietly.
    sqs.change_visibility("q", &new, 0).unwrap();
    assert_eq!(sqs.stats("q").unwrap().visible, 1);
    let newest = sqs.receive("q", 1, None).unwrap().remove(0).receipt_handle;
    sqs.delete("q", &newest).unwrap();
    sqs.delete("q", &newest).unwrap();
    assert_eq!(sqs.stats("q").unwrap(), sqs::QueueStats::default());
    assert!(sqs.change_visibility("q", &newest, 10).is_err());
}

#[test]
fn visibility_change_limits() {
    let clock = manual();
    let sqs = open(None, &[queue("q")], &clock);
    send(&sqs, "q", "m");
    let h = sqs
        .receive("q", 1, Some(43_200))
        .unwrap()
        .remove(0)
        .receipt_handle;
    assert!(sqs.change_visibility("q", &h, 43_201).is_err());
    clock.advance(10_000);
    // 12 hours in flight in all, counted from the receive.
    let err = sqs.change_visibility("q", &h, 43_200).unwrap_err();
    assert!(err.to_string().contains("Total VisibilityTimeout"), "{err}");
    sqs.change_visibility("q", &h, 43_190).unwrap();
    // A handle whose timeout ran out (not received since) is accepted and changes nothing.
    clock.advance(43_190_000);
    sqs.change_visibility("q", &h, 600).unwrap();
    assert_eq!(sqs.stats("q").unwrap().visible, 1);
}

#[test]
fn delays_per_queue_and_per_message() {
    let clock = manual();
    let mut q = queue("q");
    q.delay_seconds = 10;
    let sqs = open(None, &[q], &clock);
    send(&sqs, "q", "queue delay");
    sqs.send(
        "q",
        "own delay",
        SendOptions {
            delay_seconds: Some(0),
            ..SendOptions::default()
        },
    )
    .unwrap();
    let err = sqs
        .send(
            "q",
            "x",
            SendOptions {
                delay_seconds: Some(901),
                ..SendOptions::default()
            },
        )
        .unwrap_err();
    assert!(matches!(err, SqsError::InvalidParameterValue(_)));
    let s = sqs.stats("q").unwrap();
    assert_eq!((s.visible, s.in_flight, s.delayed), (1, 0, 1));
    assert_eq!(sqs.next_visible_at("q").unwrap(), Some(T0 + 10_000));
    let got = sqs.receive("q", 10, None).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "own delay");
    clock.advance(10_000);
    let got = sqs.receive("q", 10, None).unwrap();
    assert_eq!(got[0].body, "queue delay");
    // Its SentTimestamp is when it was sent, not when it became visible.
    assert_eq!(got[0].attributes["SentTimestamp"], T0.to_string());
}

#[test]
fn retention_removes_old_messages_even_in_flight() {
    let clock = manual();
    let mut q = queue("q");
    q.retention_period = 60;
    let sqs = open(None, &[q], &clock);
    send(&sqs, "q", "old");
    clock.advance(30_000);
    send(&sqs, "q", "new");
    sqs.receive("q", 10, Some(600)).unwrap();
    clock.advance(30_000);
    let s = sqs.stats("q").unwrap();
    assert_eq!((s.visible, s.in_flight), (0, 1));
    let peeked = sqs.peek("q", 10).unwrap();
    assert_eq!(peeked.len(), 1);
    assert_eq!(peeked[0].body, "new");
    clock.advance(30_000);
    assert_eq!(sqs.stats("q").unwrap(), sqs::QueueStats::default());
}

#[test]
fn size_limit_counts_body_and_attributes() {
    let sqs = open(None, &[queue("q")], &manual());
    let attrs = BTreeMap::from([("MaximumMessageSize".to_owned(), "1024".to_owned())]);
    sqs.set_queue_attributes("q", &attrs).unwrap();
    let body = "x".repeat(1024);
    sqs.send("q", &body, SendOptions::default()).unwrap();
    let with_attr = SendOptions {
        message_attributes: BTreeMap::from([("a".to_owned(), MessageAttributeValue::string("b"))]),
        ..SendOptions::default()
    };
    let err = sqs.send("q", &body, with_attr).unwrap_err();
    assert!(
        err.to_string()
            .contains("Message must be shorter than 1024 bytes"),
        "{err}"
    );
}

#[test]
fn a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue() {
    let clock = manual();
    let mut dlq = queue("dlq");
    dlq.retention_period = 120;
    let sqs = open(None, &[with_dlq("src", "dlq", 2), dlq], &clock);
    let options = SendOptions {
        message_attributes: BTreeMap::from([(
            "kind".to_owned(),
            MessageAttributeValue::string("click"),
        )]),
        trace_header: Some("Root=1-abc".into()),
        ..SendOptions::default()
    };
    let id = sqs.send("src", "poison", options).unwrap().message_id;
    clock.advance(1_000);
    for n in 1..=2 {
        let got = sqs.receive("src", 10, Some(1)).unwrap();
        assert_eq!(got.len(), 1, "receive {n}");
        assert_eq!(got[0].attributes["ApproximateReceiveCount"], n.to_string());
        clock.advance(1_000);
    }
    // The third attempt moves it instead of returning it.
    assert!(sqs.receive("src", 10, None).unwrap().is_empty());
    assert_eq!(sqs.stats("src").unwrap(), sqs::QueueStats::default());
    assert_eq!(sqs.stats("dlq").unwrap().visible, 1);
    let peeked = sqs.peek("dlq", 5).unwrap();
    assert_eq!(peeked[0].message_id, id);
    assert_eq!(
        peeked[0].dead_letter_source_arn.as_deref(),
        Some(arn("src").as_str())
    );

    let got = sqs.receive("dlq", 10, Some(1)).unwrap();
    assert_eq!(got[0].message_id, id);
    assert_eq!(got[0].body, "poison");
    assert_eq!(got[0].attributes["SentTimestamp"], T0.to_string());
    assert_eq!(got[0].attributes["AWSTraceHeader"], "Root=1-abc");
    assert_eq!(got[0].attributes["DeadLetterQueueSourceArn"], arn("src"));
    assert_eq!(
        got[0].message_attributes["kind"],
        MessageAttributeValue::string("click")
    );
    // Retention in the DLQ counts from the original send (a standard queue's rule).
    clock.set(T0 + 120_000);
    assert_eq!(sqs.stats("dlq").unwrap(), sqs::QueueStats::default());
}

#[test]
fn the_move_happens_within_a_batch_receive_and_the_batch_is_refilled() {
    let clock = manual();
    let sqs = open(None, &[with_dlq("src", "dlq", 1), queue("dlq")], &clock);
    send(&sqs, "src", "a");
    sqs.receive("src", 1, Some(0)).unwrap();
    send(&sqs, "src", "b");
    send(&sqs, "src", "c");
    // "a" was received once already: it moves, and b and c fill the answer.
    let got = sqs.receive("src", 2, Some(0)).unwrap();
    let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["b", "c"]);
    assert_eq!(sqs.stats("dlq").unwrap().visible, 1);
}

#[test]
fn redrive_moves_dead_letters_back_and_reports_the_task() {
    let clock = manual();
    let sqs = open(
        None,
        &[with_dlq("src", "dlq", 1), queue("dlq"), queue("elsewhere")],
        &clock,
    );
    let id = send(&sqs, "src", "m");
    sqs.receive("src", 1, Some(0)).unwrap();
    assert!(sqs.receive("src", 1, None).unwrap().is_empty());
    assert_eq!(sqs.stats("dlq").unwrap().visible, 1);
    assert_eq!(sqs.dead_letter_sources("dlq").unwrap()[0].name, "src");

    // Only a dead-letter queue can be a source.
    let err = sqs
        .start_message_move_task(&arn("elsewhere"), None, None)
        .unwrap_err();
    assert!(err.to_string().contains("Dead Letter Queue"), "{err}");

    sqs.start_message_move_task(&arn("dlq"), None, Some(10))
        .unwrap();
    let tasks = sqs.message_move_tasks(&arn("dlq"), 10).unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].status, "COMPLETED");
    assert_eq!((tasks[0].moved, tasks[0].to_move), (1, 1));
    let back = sqs.receive("src", 1, None).unwrap();
    assert_eq!(back[0].message_id, id);
    // It starts over: one receive so far.
    assert_eq!(back[0].attributes["ApproximateReceiveCount"], "1");
    assert!(!back[0].attributes.contains_key("DeadLetterQueueSourceArn"));

    // To a chosen destination; a message sent to the DLQ directly has no source of its own.
    send(&sqs, "dlq", "direct");
    sqs.start_message_move_task(&arn("dlq"), None, None)
        .unwrap();
    let last = &sqs.message_move_tasks(&arn("dlq"), 1).unwrap()[0];
    assert_eq!(last.status, "FAILED");
    assert!(
        last.failure_reason
            .as_deref()
            .unwrap()
            .contains("DestinationArn")
    );
    sqs.start_message_move_task(&arn("dlq"), Some(&arn("elsewhere")), None)
        .unwrap();
    assert_eq!(sqs.receive("elsewhere", 1, None).unwrap()[0].body, "direct");
    assert_eq!(sqs.message_move_tasks(&arn("dlq"), 10).unwrap().len(), 3);
    let handle = sqs
        .start_message_move_task(&arn("dlq"), None, None)
        .unwrap();
    assert!(matches!(
        sqs.cancel_message_move_task(&handle),
        Err(SqsError::ResourceNotFound(_))
    ));
}

#[test]
fn redrive_policy_needs_an_existing_allowing_target() {
    let sqs = open(None, &[queue("a"), queue("dlq")], &manual());
    let policy = |target: &str| {
        BTreeMap::from([(
            "RedrivePolicy".to_owned(),
            json!({"deadLetterTargetArn": arn(target), "maxReceiveCount": 3}).to_string(),
        )])
    };
    let err = sqs
        .set_queue_attributes("a", &policy("missing"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Dead letter target does not exist"),
        "{err}"
    );
    sqs.set_queue_attributes(
        "dlq",
        &BTreeMap::from([(
            "RedriveAllowPolicy".to_owned(),
            r#"{"redrivePermission":"denyAll"}"#.to_owned(),
        )]),
    )
    .unwrap();
    assert!(sqs.set_queue_attributes("a", &policy("dlq")).is_err());
    sqs.set_queue_attributes(
        "dlq",
        &BTreeMap::from([(
            "RedriveAllowPolicy".to_owned(),
            json!({"redrivePermission": "byQueue", "sourceQueueArns": [arn("a")]}).to_string(),
        )]),
    )
    .unwrap();
    sqs.set_queue_attributes("a", &policy("dlq")).unwrap();
    let attrs = sqs.queue_attributes("a", &["RedrivePolicy"]).unwrap();
    let v: Value = serde_json::from_str(&attrs["RedrivePolicy"]).unwrap();
    assert_eq!(
        v,
        json!({"deadLetterTargetArn": arn("dlq"), "maxReceiveCount": 3})
    );
}

#[test]
fn purge_once_a_minute() {
    let clock = manual();
    let sqs = open(None, &[queue("q")], &clock);
    send(&sqs, "q", "a");
    sqs.purge("q").unwrap();
    assert_eq!(sqs.stats("q").unwrap().visible, 0);
    assert!(matches!(
        sqs.purge("q"),
        Err(SqsError::PurgeQueueInProgress(_))
    ));
    clock.advance(60_000);
    sqs.purge("q").unwrap();
}

#[test]
fn durable_across_reopen() {
    let clock = manual();
    let dir = tempfile::tempdir().unwrap();
    let kept_id;
    {
        let sqs = open(Some(dir.path()), &[queue("q")], &clock);
        sqs.create_queue(
            "made-by-api",
            &BTreeMap::from([("DelaySeconds".to_owned(), "5".to_owned())]),
            &BTreeMap::from([("team".to_owned(), "x".to_owned())]),
        )
        .unwrap();
        kept_id = send(&sqs, "q", "survives");
        send(&sqs, "made-by-api", "too");
        let gone = send(&sqs, "q", "deleted");
        let got = sqs.receive("q", 10, Some(0)).unwrap();
        let h = &got
            .iter()
            .find(|m| m.message_id == gone)
            .unwrap()
            .receipt_handle;
        sqs.delete("q", h).unwrap();
    }
    assert!(dir.path().join("sqs.sqlite").exists());
    let sqs = open(Some(dir.path()), &[queue("q")], &clock);
    let got = sqs.receive("q", 10, None).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, kept_id);
    assert_eq!(got[0].attributes["ApproximateReceiveCount"], "2");
    assert_eq!(sqs.queue_tags("made-by-api").unwrap()["team"], "x");
    assert_eq!(
        sqs.queue_attributes("made-by-api", &["DelaySeconds"])
            .unwrap()["DelaySeconds"],
        "5"
    );
    assert_eq!(sqs.stats("made-by-api").unwrap().delayed, 1);
}

#[test]
fn create_queue_is_idempotent_for_the_same_attributes() {
    let sqs = open(None, &[], &manual());
    let attrs = BTreeMap::from([("VisibilityTimeout".to_owned(), "45".to_owned())]);
    let a = sqs.create_queue("q", &attrs, &BTreeMap::new()).unwrap();
    let b = sqs.create_queue("q", &attrs, &BTreeMap::new()).unwrap();
    assert_eq!(a, b);
    // Naming no attribute matches too.
    sqs.create_queue("q", &BTreeMap::new(), &BTreeMap::new())
        .unwrap();
    let other = BTreeMap::from([("VisibilityTimeout".to_owned(), "46".to_owned())]);
    let err = sqs.create_queue("q", &other, &BTreeMap::new()).unwrap_err();
    assert!(
        matches!(err, SqsError::QueueNameExists(ref a) if a == "VisibilityTimeout"),
        "{err}"
    );
    assert!(matches!(
        sqs.create_queue("bad name", &BTreeMap::new(), &BTreeMap::new()),
        Err(SqsError::InvalidParameterValue(_))
    ));
    sqs.delete_queue("q").unwrap();
    assert!(matches!(
        sqs.delete_queue("q"),
        Err(SqsError::QueueDoesNotExist)
    ));
}

#[tokio::test]
async fn a_long_poll_returns_as_soon_as_a_message_is_sent() {
    let clock = manual();
    let sqs = Arc::new(open(None, &[queue("q")], &clock));
    let poller = {
        let sqs = sqs.clone();
        tokio::spawn(async move {
            sqs.dispatch(
                "ReceiveMessage",
                json!({"QueueUrl": url("q"), "WaitTimeSeconds": 20})
                    .to_string()
                    .as_bytes(),
            )
            .await
        })
    };
    tokio::task::yield_now().await;
    send(&sqs, "q", "wake up");
    let answer = tokio::time::timeout(Duration::from_secs(10), poller)
        .await
        .expect("the long poll ended on the send")
        .unwrap();
    assert_eq!(answer.body["Messages"][0]["Body"], "wake up");
}

#[tokio::test]
async fn a_long_poll_wakes_when_the_virtual_clock_makes_a_message_visible() {
    let clock = manual();
    let sqs = Arc::new(open(None, &[queue("q")], &clock));
    send(&sqs, "q", "again");
    sqs.receive("q", 1, Some(300)).unwrap();
    let poller = {
        let sqs = sqs.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            sqs.wait_for_messages("q", deadline).await
        })
    };
    tokio::task::yield_now().await;
    clock.advance(300_000);
    sqs.wake();
    let visible = tokio::time::timeout(Duration::from_secs(10), poller)
        .await
        .expect("the wait ended on wake")
        .unwrap()
        .unwrap();
    assert!(visible);
    assert_eq!(sqs.receive("q", 1, None).unwrap()[0].body, "again");
}

#[tokio::test]
async fn a_long_poll_on_the_real_clock_ends_when_a_delay_runs_out() {
    let sqs = Sqs::open(
        None,
        &[queue("q")],
        REGION,
        ACCOUNT,
        EDGE,
        Arc::new(clock::SystemClock),
    )
    .unwrap();
    sqs.send(
        "q",
        "delayed",
        SendOptions {
            delay_seconds: Some(1),
            ..SendOptions::default()
        },
    )
    .unwrap();
    let started = std::time::Instant::now();
    let answer = sqs
        .dispatch(
            "ReceiveMessage",
            json!({"QueueUrl": url("q"), "WaitTimeSeconds": 10})
                .to_string()
                .as_bytes(),
        )
        .await;
    let waited = started.elapsed();
    assert_eq!(answer.body["Messages"][0]["Body"], "delayed");
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn a_long_poll_with_nothing_to_receive_waits_its_time_and_answers_empty() {
    let clock = manual();
    let sqs = open(None, &[queue("q")], &clock);
    let started = std::time::Instant::now();
    let answer = sqs
        .dispatch(
            "ReceiveMessage",
            json!({"QueueUrl": url("q"), "WaitTimeSeconds": 1})
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!({}));
    assert!(started.elapsed() >= Duration::from_millis(900));
}
