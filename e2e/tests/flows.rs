//! Scenarios across the product's parts: moderation, expiry on the virtual clock, and a
//! click counted once and pushed to its owner's WebSocket.

mod common;

use e2e::Stack;
use futures::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// A target that looks like phishing is rejected by the moderation machine (Step Functions):
/// the link reports why, and its short URL answers 410 Gone.
#[tokio::test]
async fn moderation_rejects_a_phishing_looking_url() {
    let stack = Stack::start(&[]).await.unwrap();
    let alice = stack.sign_up("alice").await.unwrap();
    let created = stack
        .call(
            Some(&alice),
            "POST",
            "/links",
            Some(json!({"url": "https://login-verify.example/phishing/account"})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{:?}", created.body);
    let code = created.body["code"].as_str().unwrap().to_owned();
    stack.alias(&code, "code-1");
    // A pending link redirects until moderation decides (the product's choice: moderation
    // must not delay a new link); the machine's verdict is awaited here.
    stack.settle().await.unwrap();

    let link = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(link.body["status"], "rejected", "{:?}", link.body);
    assert!(
        link.body["moderationReason"]
            .as_str()
            .is_some_and(|r| r.contains("phishing")),
        "{:?}",
        link.body
    );
    let resolved = stack.resolve(&code).await.unwrap();
    assert_eq!(resolved.status, 410);
    assert_eq!(resolved.location, None);

    insta::assert_json_snapshot!(stack.transcript());
    stack.shutdown().await;
}

/// A link with an expiry redirects until then and answers 410 after, on devstack's virtual
/// clock (moved through its admin API, not waited for).
#[tokio::test]
async fn a_link_expires_on_the_virtual_clock() {
    let stack = Stack::start(&[]).await.unwrap();
    let alice = stack.sign_up("alice").await.unwrap();
    // The clock starts at 2026-01-01T00:00:00Z.
    let created = stack
        .call(
            Some(&alice),
            "POST",
            "/links",
            Some(json!({"url": "https://example.com/offer", "expiresAt": "2026-01-01T01:00:00Z"})),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{:?}", created.body);
    let code = created.body["code"].as_str().unwrap().to_owned();
    stack.alias(&code, "code-1");
    stack.settle().await.unwrap();
    let before = stack.resolve(&code).await.unwrap();
    assert_eq!(before.status, 301);
    stack.settle().await.unwrap();

    stack.advance(2 * 3_600_000).await.unwrap();
    let after = stack.resolve(&code).await.unwrap();
    assert_eq!(after.status, 410);
    // Two hours on, alice's id token (an hour) has expired too: she logs in again.
    let stale = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(stale.status, 401);
    let alice = stack.log_in(&alice).await.unwrap();
    let link = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(link.body["status"], "expired", "{:?}", link.body);

    insta::assert_json_snapshot!(stack.transcript());
    stack.shutdown().await;
}

/// The owner watches a link over the WebSocket API; an anonymous visitor follows the short
/// URL; the click goes EventBridge → SQS → the aggregator, is counted once, and the new count
/// reaches the watcher within a deadline.
#[tokio::test]
async fn a_click_is_counted_once_and_pushed_to_the_watcher() {
    let stack = Stack::start(&[]).await.unwrap();
    let alice = stack.sign_up("alice").await.unwrap();
    let code = stack
        .create_link(&alice, "https://example.com/live", "code-1")
        .await
        .unwrap();
    stack.settle().await.unwrap();

    let (mut ws, _) = tokio_tungstenite::connect_async(stack.watch_url(&code, &alice).unwrap())
        .await
        .expect("the owner may watch");
    let resolved = stack.resolve(&code).await.unwrap();
    assert_eq!(resolved.status, 301);

    let frame = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => break serde_json::from_str::<Value>(&t).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("the socket ended before a count came: {other:?}"),
            }
        }
    })
    .await
    .expect("the count is pushed within 10 s");
    assert_eq!(frame["code"], code.as_str());
    assert_eq!(frame["clicks"], 1);
    stack.note("frame pushed to alice's watcher", frame);

    stack.settle().await.unwrap();
    let link = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(link.body["clicks"], 1, "counted once: {:?}", link.body);

    common::assert_transcript_with_frames!(stack);
    stack.shutdown().await;
}

/// The HTTP API's stage throttle (the template's ThrottleRateLimit / ThrottleBurstLimit,
/// overridden to 1 request/s with a burst of 2): a quick run of requests gets its burst
/// through and 429 Too Many Requests after, as API Gateway answers.
#[tokio::test]
async fn the_gateway_throttles_past_its_burst() {
    let stack = Stack::start(&[("ThrottleRateLimit", "1"), ("ThrottleBurstLimit", "2")])
        .await
        .unwrap();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = stack.call(None, "GET", "/nothere1", None).await.unwrap();
        statuses.push(r.status);
    }
    // Five requests in far less than a second: the burst of two, then throttled.
    assert_eq!(statuses, [404, 404, 429, 429, 429]);
    insta::assert_json_snapshot!(stack.transcript());
    stack.shutdown().await;
}

/// Chaos through devstack's admin API: every click message is delivered twice and half of
/// the aggregator's deletes are lost (so messages come back after their visibility timeout,
/// moved past on the virtual clock). The count is still exact: each click once.
#[tokio::test]
async fn duplicates_and_lost_deletes_leave_the_count_exact() {
    let stack = clicks_under_chaos(
        &[
            "queue=*ClickQueue* duplicate=every",
            "queue=*ClickQueue* lose-delete=0.5",
        ],
        10,
    )
    .await;
    insta::assert_json_snapshot!(stack.transcript());
    stack.shutdown().await;
}

/// DynamoDB answers every other click transaction with TransactionConflict (chaos through the
/// admin API): the aggregator reports those clicks as failed, SQS gives them back after their
/// visibility timeout, and every click is counted, once.
#[tokio::test]
async fn transaction_conflicts_lose_no_click() {
    let stack = clicks_under_chaos(
        &["table=*LinksTable* op=TransactWriteItems error=TransactionConflict nth=2"],
        6,
    )
    .await;
    insta::assert_json_snapshot!(stack.transcript());
    stack.shutdown().await;
}

/// `clicks` visits of a new link under the chaos `rules`; asserts that some messages came
/// back (the rules did something), that none is left or parked in the DLQ, and that each
/// click is counted exactly once. Up to ten receives before the DLQ: a click whose delivery
/// fails again and again must be counted, not parked.
async fn clicks_under_chaos(rules: &[&str], clicks: usize) -> Stack {
    let stack = Stack::start(&[("ClickMaxReceiveCount", "10")])
        .await
        .unwrap();
    let alice = stack.sign_up("alice").await.unwrap();
    let code = stack
        .create_link(&alice, "https://example.com/chaos", "code-1")
        .await
        .unwrap();
    stack.settle().await.unwrap();
    for rule in rules {
        stack.chaos(rule).await.unwrap();
    }
    for _ in 0..clicks {
        assert_eq!(stack.resolve(&code).await.unwrap().status, 301);
    }
    // Failed and undeleted messages stay in flight until their visibility timeout (60 s)
    // passes on the virtual clock; then they come back, and so on.
    let (left, moves) = stack.drain("Click", 61_000, 12).await.unwrap();
    assert_eq!(
        left, 0,
        "every click message was consumed (none in the DLQ)"
    );
    assert!(moves > 0, "the chaos sent some messages back");
    let link = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(
        link.body["clicks"], clicks,
        "each click counted once: {:?}",
        link.body
    );
    stack
}

/// A click that cannot be counted (every transaction conflicts, by chaos) is retried until
/// its queue's maxReceiveCount and lands in the DLQ, uncounted; once the cause is gone (the
/// rule removed) a redrive (SQS StartMessageMoveTask; by hand on moto, which lacks it) brings
/// it back and it is counted.
#[tokio::test]
async fn a_poison_click_lands_in_the_dlq_and_is_counted_after_a_redrive() {
    let stack = Stack::start(&[]).await.unwrap();
    let alice = stack.sign_up("alice").await.unwrap();
    let code = stack
        .create_link(&alice, "https://example.com/poison", "code-1")
        .await
        .unwrap();
    stack.settle().await.unwrap();
    stack
        .chaos("id=poison table=*LinksTable* op=TransactWriteItems error=TransactionConflict")
        .await
        .unwrap();
    let r = stack.resolve(&code).await.unwrap();
    assert_eq!(r.status, 301);

    // Three receives (the template's ClickMaxReceiveCount), a visibility timeout apart.
    let (left, _) = stack.drain("ClickQueue", 61_000, 10).await.unwrap();
    assert_eq!(left, 0);
    let dlq = stack.queues("ClickDlq").await.unwrap().remove(0);
    assert_eq!(dlq["visible"], 1, "the click rests in the DLQ: {dlq}");
    // What rests there, read through the SQS API (and left visible for the redrive): the
    // click event as EventBridge delivered it.
    let parked = stack
        .sqs(
            "ReceiveMessage",
            json!({"QueueUrl": dlq["url"], "VisibilityTimeout": 0, "MaxNumberOfMessages": 10}),
        )
        .await
        .unwrap();
    let messages = parked["Messages"].as_array().cloned().unwrap_or_default();
    assert_eq!(messages.len(), 1, "{parked}");
    let event: Value = serde_json::from_str(messages[0]["Body"].as_str().unwrap()).unwrap();
    assert_eq!(event["detail-type"], "link.clicked");
    assert_eq!(event["detail"]["code"], code.as_str());
    for (value, name) in [
        (&event["id"], "event-1"),
        (&event["detail"]["clickId"], "click-1"),
    ] {
        if let Some(v) = value.as_str() {
            stack.alias(v, name);
        }
    }
    stack.note("the DLQ's message", event);
    let link = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(link.body["clicks"], 0);

    // The fix, then the redrive.
    let (status, _) = stack
        .admin("DELETE", "/_devstack/chaos/rules/poison", None)
        .await
        .unwrap();
    assert_eq!(status, 200);
    stack.redrive(&dlq).await.unwrap();
    let (left, _) = stack.drain("Click", 61_000, 10).await.unwrap();
    assert_eq!(left, 0, "the DLQ and the queue are empty");
    let link = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(
        link.body["clicks"], 1,
        "counted after the redrive: {:?}",
        link.body
    );
    insta::assert_json_snapshot!(stack.transcript());
    stack.shutdown().await;
}
