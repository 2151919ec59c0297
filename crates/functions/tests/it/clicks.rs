//! The click aggregator: exactly-once counting, retries, deleted links, and pushes.

use crate::support::*;
use aws_sdk_dynamodb::types::AttributeValue;
use functions::store::Connection;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn clicks_of(stack: &Stack, code: &str) -> Option<u64> {
    let link = stack
        .store()
        .get_link(&domain::ShortCode::parse(code).unwrap(), true)
        .await
        .unwrap();
    link.map(|l| l.clicks)
}

async fn watch(stack: &Stack, code: &str, connection_id: &str) {
    stack
        .store()
        .put_connection(&Connection {
            id: connection_id.into(),
            code: domain::ShortCode::parse(code).unwrap(),
            owner: ALICE.into(),
            connected_at: domain::EpochMillis(T0),
            expires_at: domain::EpochMillis(T0 + 7_200_000),
        })
        .await
        .unwrap();
}

async fn mgmt_answers(stack: &Stack, status: u16, times: Option<u64>) {
    let m = Mock::given(method("POST")).and(path_regex(format!("^/{STAGE}/@connections/.+$")));
    let mut resp = ResponseTemplate::new(status);
    if status == 410 {
        resp = resp
            .insert_header("x-amzn-errortype", "GoneException")
            .insert_header("content-type", "application/json")
            .set_body_json(json!({"message": null}));
    }
    if status >= 500 {
        resp = resp.set_body_json(json!({"message": "Internal server error"}));
    }
    let mock = match times {
        Some(n) => m.respond_with(resp).up_to_n_times(n).with_priority(1),
        None => m.respond_with(resp).with_priority(5),
    };
    mock.mount(&stack.mgmt).await;
}

#[tokio::test]
async fn a_click_delivered_again_is_counted_once() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "dup"}),
    )
    .await;
    click(&stack, "dup", "r1", T0).await;
    let batch = stack.click_batch().await;
    let agg = stack.aggregator();

    let first = aggregate(&agg, batch.clone()).await;
    assert_eq!(first, json!({"batchItemFailures": []}));
    // Redelivered as a whole batch, and twice within one batch (SQS may do both).
    let again = aggregate(&agg, batch.clone()).await;
    assert!(failures(&again).is_empty());
    let record = batch["Records"][0].clone();
    let mut twice = json!({"Records": [record.clone(), record]});
    twice["Records"][1]["messageId"] = json!("m1");
    assert!(failures(&aggregate(&agg, twice).await).is_empty());

    assert_eq!(clicks_of(&stack, "dup").await, Some(1));
    let totals = stack.metric_totals();
    assert_eq!(totals.get("ClickCounted"), Some(&1));
    assert_eq!(totals.get("ClickDuplicate"), Some(&3));
}

#[tokio::test]
async fn distinct_clicks_in_one_batch_all_count() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "many"}),
    )
    .await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://b.example/", "alias": "other"}),
    )
    .await;
    for i in 0..7 {
        click(&stack, "many", &format!("r{i}"), T0 + i).await;
    }
    click(&stack, "other", "o1", T0).await;
    let out = aggregate(&stack.aggregator(), stack.click_batch().await).await;
    assert!(failures(&out).is_empty());
    assert_eq!(clicks_of(&stack, "many").await, Some(7));
    assert_eq!(clicks_of(&stack, "other").await, Some(1));
}

#[tokio::test]
async fn transaction_conflict_is_reported_for_redelivery_not_dropped() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "hot"}),
    )
    .await;
    click(&stack, "hot", "r1", T0).await;
    let batch = stack.click_batch().await;

    // A DynamoDB endpoint that cancels every TransactWriteItems as a hot item would.
    let ddb = MockServer::start().await;
    Mock::given(method("POST"))
        .and(header("x-amz-target", "DynamoDB_20120810.TransactWriteItems"))
        .respond_with(
            ResponseTemplate::new(400)
                .insert_header("content-type", "application/x-amz-json-1.0")
                .set_body_json(json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict, None]",
                    "CancellationReasons": [
                        {"Code": "None"},
                        {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
                        {"Code": "None"}
                    ]
                })),
        )
        .mount(&ddb)
        .await;
    let mut agg = stack.aggregator();
    agg.store = functions::store::Store::new(
        aws_sdk_dynamodb::Client::new(&sdk(&ddb.uri())),
        &stack.table,
    );
    let out = aggregate(&agg, batch.clone()).await;
    assert_eq!(failures(&out), ["m0"]);
    insta::assert_json_snapshot!("conflict_batch_response", out);
    assert_eq!(stack.metric_totals().get("ClickCounted"), None);

    // The redelivery, against a DynamoDB without the conflict, counts it.
    let out = aggregate(&stack.aggregator(), batch).await;
    assert!(failures(&out).is_empty());
    assert_eq!(clicks_of(&stack, "hot").await, Some(1));
}

#[tokio::test]
async fn malformed_records_are_reported_and_good_ones_in_the_batch_still_count() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "good"}),
    )
    .await;
    click(&stack, "good", "r1", T0).await;
    let good = stack.click_batch().await["Records"][0]["body"]
        .as_str()
        .unwrap()
        .to_owned();
    let good: Value = serde_json::from_str(&good).unwrap();
    let mut wrong_version = good.clone();
    wrong_version["detail"]["version"] = json!(2);
    let mut wrong_type = good.clone();
    wrong_type["detail-type"] = json!("link.created");
    let mut no_code = good.clone();
    no_code["detail"].as_object_mut().unwrap().remove("code");
    let batch = sqs_batch(&[
        json!("this is not json"),
        wrong_version,
        good,
        wrong_type,
        no_code,
    ]);
    let out = aggregate(&stack.aggregator(), batch).await;
    assert_eq!(failures(&out), ["m0", "m1", "m3", "m4"]);
    assert_eq!(clicks_of(&stack, "good").await, Some(1));
}

#[tokio::test]
async fn a_click_for_a_deleted_link_does_not_resurrect_it() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "gone"}),
    )
    .await;
    click(&stack, "gone", "r1", T0).await;
    let late = stack.click_batch().await;
    let del = stack.delete();
    let r = call(
        |q| del.handle(q),
        Req::owner(ALICE).route("DELETE", "/links/{code}", "/links/gone"),
    )
    .await;
    assert_eq!(r.status, 200);

    let out = aggregate(&stack.aggregator(), late.clone()).await;
    assert!(
        failures(&out).is_empty(),
        "acknowledged: retrying cannot help"
    );
    assert_eq!(clicks_of(&stack, "gone").await, None);
    assert_eq!(
        click(&stack, "gone", "r2", T0).await.status,
        404,
        "no partial item that redirects"
    );
    let stats = stack
        .ddb()
        .query()
        .table_name(&stack.table)
        .key_condition_expression("PK = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("LINK#gone".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(stats.count(), 0, "no stat item either");
    assert_eq!(stack.metric_totals().get("ClickDropped"), Some(&1));

    // The code is taken again by a new link: the old link's late click still does not count.
    let h = stack.create();
    let r = call(
        |q| h.handle(q),
        Req::owner(BOB)
            .route("POST", "/links", "/links")
            .json(json!({"url": "https://b.example/", "alias": "gone"}))
            .at(T0 + 5000),
    )
    .await;
    assert_eq!(r.status, 201);
    aggregate(&stack.aggregator(), late).await;
    assert_eq!(clicks_of(&stack, "gone").await, Some(0));
}

#[tokio::test]
async fn a_click_counts_on_the_day_it_happened_and_its_marker_outlives_redrive() {
    let stack = Stack::start().await;
    let h = stack.create();
    let r = call(
        |q| h.handle(q),
        Req::owner(ALICE)
            .route("POST", "/links", "/links")
            .json(json!({"url": "https://a.example/", "alias": "old-click"}))
            .at(T0 - 10 * DAY_MS),
    )
    .await;
    assert_eq!(r.status, 201);
    click(&stack, "old-click", "r1", T0 - 9 * DAY_MS).await;
    // Redriven from the DLQ nine days later: SQS stamps it with today's SentTimestamp.
    let mut batch = stack.click_batch().await;
    batch["Records"][0]["attributes"]["SentTimestamp"] = json!(T0.to_string());
    aggregate(&stack.aggregator(), batch).await;

    let out = stack
        .ddb()
        .query()
        .table_name(&stack.table)
        .key_condition_expression("PK = :pk AND begins_with(SK, :s)")
        .expression_attribute_values(":pk", AttributeValue::S("LINK#old-click".into()))
        .expression_attribute_values(":s", AttributeValue::S("STAT#".into()))
        .send()
        .await
        .unwrap();
    let days: Vec<&str> = out
        .items()
        .iter()
        .map(|i| i["SK"].as_s().unwrap().as_str())
        .collect();
    assert_eq!(days, ["STAT#2026-11-18"]);

    let click_id = domain::ClickEvent::click_id_for("r1");
    let marker = stack
        .ddb()
        .get_item()
        .table_name(&stack.table)
        .key("PK", AttributeValue::S(format!("CLICK#{click_id}")))
        .key("SK", AttributeValue::S("CLICK".into()))
        .send()
        .await
        .unwrap();
    let ttl: i64 = marker.item().unwrap()["ttl"]
        .as_n()
        .unwrap()
        .parse()
        .unwrap();
    let click_secs = (T0 - 9 * DAY_MS) / 1000;
    // Queue retention (4 d) + DLQ retention (14 d) + redrive window (7 d) after the click.
    assert_eq!(ttl - click_secs, 25 * 86_400);
}

#[tokio::test]
async fn watchers_get_the_new_count_and_gone_watchers_are_removed() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "live"}),
    )
    .await;
    watch(&stack, "live", "alive-1").await;
    watch(&stack, "live", "gone-1").await;
    Mock::given(method("POST"))
        .and(path_regex(format!("^/{STAGE}/@connections/gone-1$")))
        .respond_with(
            ResponseTemplate::new(410)
                .insert_header("x-amzn-errortype", "GoneException")
                .set_body_json(json!({"message": null})),
        )
        .mount(&stack.mgmt)
        .await;
    mgmt_answers(&stack, 200, None).await;

    click(&stack, "live", "r1", T0).await;
    click(&stack, "live", "r2", T0 + 1).await;
    let out = aggregate(&stack.aggregator(), stack.click_batch().await).await;
    assert!(failures(&out).is_empty());

    let pushes = stack.pushes().await;
    let to_alive: Vec<&Value> = pushes
        .iter()
        .filter(|(id, _)| id == "alive-1")
        .map(|(_, p)| p)
        .collect();
    // One push per link per batch, with absolute counts.
    assert_eq!(
        to_alive,
        [&json!({"code": "live", "clicks": 2, "today": 2})]
    );
    let watchers = stack
        .store()
        .watchers(&domain::ShortCode::parse("live").unwrap())
        .await
        .unwrap();
    assert_eq!(
        watchers,
        ["alive-1"],
        "the 410 watcher's connection is deleted"
    );
}

#[tokio::test]
async fn a_failed_push_is_retried_through_redelivery_and_the_update_still_arrives() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "flaky"}),
    )
    .await;
    watch(&stack, "flaky", "watcher-1").await;
    mgmt_answers(&stack, 500, Some(1)).await; // the first push fails
    mgmt_answers(&stack, 200, None).await;

    click(&stack, "flaky", "r1", T0).await;
    let batch = stack.click_batch().await;
    let agg = stack.aggregator();
    let first = aggregate(&agg, batch.clone()).await;
    assert_eq!(
        failures(&first),
        ["m0"],
        "reported so that SQS delivers it again"
    );
    assert_eq!(
        clicks_of(&stack, "flaky").await,
        Some(1),
        "the count itself committed"
    );

    // SQS redelivers after the visibility timeout: a duplicate now, which pushes again.
    let second = aggregate(&agg, batch).await;
    assert!(failures(&second).is_empty());
    assert_eq!(
        clicks_of(&stack, "flaky").await,
        Some(1),
        "and is not counted twice"
    );
    let pushes = stack.pushes().await;
    assert_eq!(pushes.len(), 2);
    assert_eq!(
        pushes[1],
        (
            "watcher-1".to_owned(),
            json!({"code": "flaky", "clicks": 1, "today": 1})
        )
    );
    assert_eq!(stack.metric_totals().get("PushFailed"), Some(&1));
}
