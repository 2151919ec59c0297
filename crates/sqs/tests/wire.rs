//! The awsJson 1.0 wire: request members, response shapes, and errors as SQS writes them.

mod common;

use common::*;
use serde_json::{Value, json};
use sqs::{Answer, Sqs, query_error};

async fn call(sqs: &Sqs, op: &str, body: Value) -> Answer {
    sqs.dispatch(op, body.to_string().as_bytes()).await
}

async fn ok(sqs: &Sqs, op: &str, body: Value) -> Value {
    let a = call(sqs, op, body.clone()).await;
    assert_eq!(a.status, 200, "{op} {body}: {}", a.body);
    a.body
}

/// Asserts an error's `__type`, its query code, and returns its message.
async fn err(sqs: &Sqs, op: &str, body: Value, shape: &str, query: &str) -> String {
    let a = call(sqs, op, body.clone()).await;
    assert_eq!(a.status, 400, "{op} {body}: {}", a.body);
    assert_eq!(a.error_code(), Some(shape), "{op} {body}: {}", a.body);
    assert_eq!(query_error(&a), Some(query), "{op} {body}");
    a.body["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_missing_queue_answers_as_sqs_does() {
    let sqs = open(None, &[], &manual());
    let a = call(&sqs, "GetQueueUrl", json!({"QueueName": "nope"})).await;
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body,
        json!({"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The specified queue does not exist."})
    );
    assert_eq!(
        query_error(&a),
        Some("AWS.SimpleQueueService.NonExistentQueue;Sender")
    );
    for (op, body) in [
        (
            "SendMessage",
            json!({"QueueUrl": url("nope"), "MessageBody": "x"}),
        ),
        ("ReceiveMessage", json!({"QueueUrl": url("nope")})),
        ("DeleteQueue", json!({"QueueUrl": url("nope")})),
        (
            "GetQueueAttributes",
            json!({"QueueUrl": url("nope"), "AttributeNames": ["All"]}),
        ),
        ("PurgeQueue", json!({"QueueUrl": url("nope")})),
    ] {
        err(
            &sqs,
            op,
            body,
            "com.amazonaws.sqs#QueueDoesNotExist",
            "AWS.SimpleQueueService.NonExistentQueue;Sender",
        )
        .await;
    }
}

#[tokio::test]
async fn protocol_errors() {
    let sqs = open(None, &[queue("q")], &manual());
    let a = sqs.dispatch("SendMessage", b"{not json").await;
    assert_eq!(
        a.error_code(),
        Some("com.amazon.coral.service#SerializationException")
    );
    assert_eq!(query_error(&a), None);
    let a = call(&sqs, "Frobnicate", json!({})).await;
    assert_eq!(
        a.error_code(),
        Some("com.amazon.coral.service#UnknownOperationException")
    );
    let m = err(
        &sqs,
        "SendMessage",
        json!({"MessageBody": "x"}),
        "com.amazonaws.sqs#MissingParameter",
        "MissingParameter;Sender",
    )
    .await;
    assert_eq!(m, "The request must contain the parameter QueueUrl.");
    err(
        &sqs,
        "SendMessage",
        json!({"QueueUrl": url("q")}),
        "com.amazonaws.sqs#MissingParameter",
        "MissingParameter;Sender",
    )
    .await;
    // An empty body is an empty input, which some clients send for no-argument operations.
    assert_eq!(sqs.dispatch("ListQueues", b"").await.status, 200);
}

#[tokio::test]
async fn create_get_list_and_delete_queues() {
    let sqs = open(None, &[queue("template-q")], &manual());
    let created = ok(
        &sqs,
        "CreateQueue",
        json!({"QueueName": "made", "Attributes": {"DelaySeconds": "3"}, "tags": {"a": "b"}}),
    )
    .await;
    assert_eq!(created, json!({"QueueUrl": url("made")}));
    assert_eq!(
        ok(
            &sqs,
            "CreateQueue",
            json!({"QueueName": "made", "Attributes": {"DelaySeconds": "3"}})
        )
        .await,
        created
    );
    let m = err(
        &sqs,
        "CreateQueue",
        json!({"QueueName": "made", "Attributes": {"DelaySeconds": "4"}}),
        "com.amazonaws.sqs#QueueNameExists",
        "QueueAlreadyExists;Sender",
    )
    .await;
    assert!(m.contains("DelaySeconds"), "{m}");
    let m = err(
        &sqs,
        "CreateQueue",
        json!({"QueueName": "orders.fifo", "Attributes": {"FifoQueue": "true"}}),
        "com.amazonaws.sqs#UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation;Sender",
    )
    .await;
    assert!(
        m.contains("FIFO queues are not supported by devstack yet"),
        "{m}"
    );
    err(
        &sqs,
        "CreateQueue",
        json!({"QueueName": "x", "Attributes": {"VisibilityTimeout": "-1"}}),
        "com.amazonaws.sqs#InvalidAttributeValue",
        "InvalidAttributeValue;Sender",
    )
    .await;
    err(
        &sqs,
        "CreateQueue",
        json!({"QueueName": "x", "Attributes": {"Colour": "blue"}}),
        "com.amazonaws.sqs#InvalidAttributeName",
        "InvalidAttributeName;Sender",
    )
    .await;
    assert_eq!(
        ok(&sqs, "GetQueueUrl", json!({"QueueName": "made"})).await,
        json!({"QueueUrl": url("made")})
    );
    assert_eq!(
        ok(&sqs, "ListQueueTags", json!({"QueueUrl": url("made")})).await,
        json!({"Tags": {"a": "b"}})
    );

    for i in 0..3 {
        ok(
            &sqs,
            "CreateQueue",
            json!({"QueueName": format!("page-{i}")}),
        )
        .await;
    }
    let all = ok(&sqs, "ListQueues", json!({})).await;
    assert_eq!(all["QueueUrls"].as_array().unwrap().len(), 5);
    assert!(all.get("NextToken").is_none());
    let first = ok(
        &sqs,
        "ListQueues",
        json!({"QueueNamePrefix": "page-", "MaxResults": 2}),
    )
    .await;
    assert_eq!(first["QueueUrls"], json!([url("page-0"), url("page-1")]));
    let token = first["NextToken"].as_str().unwrap();
    let rest = ok(
        &sqs,
        "ListQueues",
        json!({"QueueNamePrefix": "page-", "MaxResults": 2, "NextToken": token}),
    )
    .await;
    assert_eq!(rest, json!({"QueueUrls": [url("page-2")]}));
    assert_eq!(
        ok(&sqs, "ListQueues", json!({"QueueNamePrefix": "zzz"})).await,
        json!({})
    );

    ok(&sqs, "DeleteQueue", json!({"QueueUrl": url("made")})).await;
    err(
        &sqs,
        "GetQueueUrl",
        json!({"QueueName": "made"}),
        "com.amazonaws.sqs#QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue;Sender",
    )
    .await;
}

#[tokio::test]
async fn queue_attributes() {
    let clock = manual();
    let sqs = open(None, &[queue("q"), with_dlq("src", "q", 5)], &clock);
    ok(
        &sqs,
        "SendMessage",
        json!({"QueueUrl": url("q"), "MessageBody": "a"}),
    )
    .await;
    ok(
        &sqs,
        "SendMessage",
        json!({"QueueUrl": url("q"), "MessageBody": "b", "DelaySeconds": 60}),
    )
    .await;
    clock.advance(5_000);
    ok(
        &sqs,
        "SetQueueAttributes",
        json!({"QueueUrl": url("q"), "Attributes": {"ReceiveMessageWaitTimeSeconds": "2"}}),
    )
    .await;
    let all = ok(
        &sqs,
        "GetQueueAttributes",
        json!({"QueueUrl": url("q"), "AttributeNames": ["All"]}),
    )
    .await;
    let created = (T0 / 1000).to_string();
    let modified = ((T0 + 5_000) / 1000).to_string();
    assert_eq!(
        all,
        json!({"Attributes": {
            "QueueArn": arn("q"),
            "ApproximateNumberOfMessages": "1",
            "ApproximateNumberOfMessagesNotVisible": "0",
            "ApproximateNumberOfMessagesDelayed": "1",
            "CreatedTimestamp": created,
            "LastModifiedTimestamp": modified,
            "VisibilityTimeout": "30",
            "MaximumMessageSize": "262144",
            "MessageRetentionPeriod": "345600",
            "DelaySeconds": "0",
            "ReceiveMessageWaitTimeSeconds": "2",
            "SqsManagedSseEnabled": "true",
        }})
    );
    let some = ok(
        &sqs,
        "GetQueueAttributes",
        json!({"QueueUrl": url("src"), "AttributeNames": ["RedrivePolicy", "QueueArn"]}),
    )
    .await;
    assert_eq!(
        some,
        json!({"Attributes": {
            "QueueArn": arn("src"),
            "RedrivePolicy": json!({"deadLetterTargetArn": arn("q"), "maxReceiveCount": 5}).to_string(),
        }})
    );
    assert_eq!(
        ok(&sqs, "GetQueueAttributes", json!({"QueueUrl": url("q")})).await,
        json!({})
    );
    let m = err(
        &sqs,
        "GetQueueAttributes",
        json!({"QueueUrl": url("q"), "AttributeNames": ["Bogus"]}),
        "com.amazonaws.sqs#InvalidAttributeName",
        "InvalidAttributeName;Sender",
    )
    .await;
    assert_eq!(m, "Unknown Attribute Bogus.");
    assert_eq!(
        ok(
            &sqs,
            "ListDeadLetterSourceQueues",
            json!({"QueueUrl": url("q")})
        )
        .await,
        json!({"queueUrls": [url("src")]})
    );
}

#[tokio::test]
async fn send_and_receive_with_attributes_and_digests() {
    let sqs = open(None, &[queue("q")], &manual());
    let sent = ok(
        &sqs,
        "SendMessage",
        json!({
            "QueueUrl": url("q"),
            "MessageBody": "hello",
            "MessageAttributes": {
                "test_attribute_name_2": {"DataType": "String", "StringValue": "test_attribute_value_2"},
                "test_attribute_name_1": {"DataType": "String", "StringValue": "test_attribute_value_1"},
            },
            "MessageSystemAttributes": {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-x"}},
        }),
    )
    .await;
    assert_eq!(sent["MD5OfMessageBody"], "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(
        sent["MD5OfMessageAttributes"],
        "d53f3b558fe951154770f25cb63dbba9"
    );
    assert!(sent["MD5OfMessageSystemAttributes"].is_string());
    let id = sent["MessageId"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    // Nothing asked for: neither kind of attribute comes back.
    let plain = ok(
        &sqs,
        "ReceiveMessage",
        json!({"QueueUrl": url("q"), "VisibilityTimeout": 0}),
    )
    .await;
    let m = &plain["Messages"][0];
    assert_eq!(m["Body"], "hello");
    assert_eq!(m["MD5OfBody"], "5d41402abc4b2a76b9719d911017c592");
    assert!(
        m.get("Attributes").is_none() && m.get("MessageAttributes").is_none(),
        "{m}"
    );

    let one = ok(
        &sqs,
        "ReceiveMessage",
        json!({
            "QueueUrl": url("q"),
            "VisibilityTimeout": 0,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount"],
            "AttributeNames": ["SentTimestamp"],
            "MessageAttributeNames": ["test_attribute_name_1"],
        }),
    )
    .await;
    let m = &one["Messages"][0];
    assert_eq!(
        m["Attributes"],
        json!({"ApproximateReceiveCount": "2", "SentTimestamp": T0.to_string()})
    );
    assert_eq!(
        m["MessageAttributes"],
        json!({"test_attribute_name_1": {"DataType": "String", "StringValue": "test_attribute_value_1"}})
    );
    // The digest is of what came back.
    let single = {
        let mut a = sqs::MessageAttributes::new();
        a.insert(
            "test_attribute_name_1".into(),
            sqs::MessageAttributeValue::string("test_attribute_value_1"),
        );
        sqs::md5_of_attributes(&a).unwrap()
    };
    assert_eq!(m["MD5OfMessageAttributes"], single);

    let all = ok(
        &sqs,
        "ReceiveMessage",
        json!({"QueueUrl": url("q"), "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"]}),
    )
    .await;
    let m = &all["Messages"][0];
    assert_eq!(
        m["MD5OfMessageAttributes"],
        "d53f3b558fe951154770f25cb63dbba9"
    );
    let attrs = m["Attributes"].as_object().unwrap();
    for k in [
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
        "AWSTraceHeader",
    ] {
        assert!(attrs.contains_key(k), "{k} in {m}");
    }
    assert_eq!(attrs["AWSTraceHeader"], "Root=1-x");
}

#[tokio::test]
async fn receive_parameter_ranges() {
    let sqs = open(None, &[queue("q")], &manual());
    for (field, value, reason) in [
        (
            "MaxNumberOfMessages",
            11,
            "Must be between 1 and 10, if provided.",
        ),
        (
            "MaxNumberOfMessages",
            0,
            "Must be between 1 and 10, if provided.",
        ),
        (
            "VisibilityTimeout",
            43_201,
            "Must be between 0 and 43200, if provided.",
        ),
        (
            "WaitTimeSeconds",
            21,
            "Must be >= 0 and <= 20, if provided.",
        ),
    ] {
        let m = err(
            &sqs,
            "ReceiveMessage",
            json!({"QueueUrl": url("q"), field: value}),
            "com.amazonaws.sqs#InvalidParameterValue",
            "InvalidParameterValue;Sender",
        )
        .await;
        assert_eq!(
            m,
            format!("Value {value} for parameter {field} is invalid. Reason: {reason}")
        );
    }
    err(
        &sqs,
        "SendMessage",
        json!({"QueueUrl": url("q"), "MessageBody": "x", "MessageDeduplicationId": "d"}),
        "com.amazonaws.sqs#InvalidParameterValue",
        "InvalidParameterValue;Sender",
    )
    .await;
    err(
        &sqs,
        "SendMessage",
        json!({"QueueUrl": url("q"), "MessageBody": "\u{0}"}),
        "com.amazonaws.sqs#InvalidMessageContents",
        "InvalidMessageContents;Sender",
    )
    .await;
}

#[tokio::test]
async fn batches() {
    let sqs = open(None, &[queue("q")], &manual());
    let q = url("q");
    err(
        &sqs,
        "SendMessageBatch",
        json!({"QueueUrl": q, "Entries": []}),
        "com.amazonaws.sqs#EmptyBatchRequest",
        "AWS.SimpleQueueService.EmptyBatchRequest;Sender",
    )
    .await;
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"Id": format!("m{i}"), "MessageBody": "x"}))
        .collect();
    let m = err(
        &sqs,
        "SendMessageBatch",
        json!({"QueueUrl": q, "Entries": eleven}),
        "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest;Sender",
    )
    .await;
    assert_eq!(
        m,
        "Maximum number of entries per request are 10. You have sent 11."
    );
    let m = err(
        &sqs,
        "SendMessageBatch",
        json!({"QueueUrl": q, "Entries": [{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}]}),
        "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct;Sender",
    )
    .await;
    assert_eq!(m, "Id a repeated.");
    err(
        &sqs,
        "SendMessageBatch",
        json!({"QueueUrl": q, "Entries": [{"Id": "not ok!", "MessageBody": "x"}]}),
        "com.amazonaws.sqs#InvalidBatchEntryId",
        "AWS.SimpleQueueService.InvalidBatchEntryId;Sender",
    )
    .await;
    let big = "x".repeat(200_000);
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"Id": format!("m{i}"), "MessageBody": big}))
        .collect();
    err(
        &sqs,
        "SendMessageBatch",
        json!({"QueueUrl": q, "Entries": six}),
        "com.amazonaws.sqs#BatchRequestTooLong",
        "AWS.SimpleQueueService.BatchRequestTooLong;Sender",
    )
    .await;

    // Each entry on its own: one too large, one delayed out of range, two fine.
    let out = ok(
        &sqs,
        "SendMessageBatch",
        json!({"QueueUrl": q, "Entries": [
            {"Id": "ok1", "MessageBody": "one"},
            {"Id": "huge", "MessageBody": "x".repeat(262_145)},
            {"Id": "late", "MessageBody": "x", "DelaySeconds": 901},
            {"Id": "ok2", "MessageBody": "two", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "7"}}},
        ]}),
    )
    .await;
    let ids = |k: &str| -> Vec<String> {
        out[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids("Successful"), ["ok1", "ok2"]);
    assert_eq!(ids("Failed"), ["huge", "late"]);
    let failed = &out["Failed"][0];
    assert_eq!(failed["Code"], "InvalidParameterValue");
    assert_eq!(failed["SenderFault"], true);
    assert_eq!(
        out["Successful"][0]["MD5OfMessageBody"],
        sqs::md5_of_body("one")
    );
    assert!(out["Successful"][1]["MD5OfMessageAttributes"].is_string());

    let got = ok(
        &sqs,
        "ReceiveMessage",
        json!({"QueueUrl": q, "MaxNumberOfMessages": 10}),
    )
    .await;
    let handles: Vec<&str> = got["Messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ReceiptHandle"].as_str().unwrap())
        .collect();
    assert_eq!(handles.len(), 2);
    let vis = ok(
        &sqs,
        "ChangeMessageVisibilityBatch",
        json!({"QueueUrl": q, "Entries": [
            {"Id": "a", "ReceiptHandle": handles[0], "VisibilityTimeout": 60},
            {"Id": "b", "ReceiptHandle": "bogus", "VisibilityTimeout": 60},
        ]}),
    )
    .await;
    assert_eq!(vis["Successful"], json!([{"Id": "a"}]));
    assert_eq!(vis["Failed"][0]["Code"], "ReceiptHandleIsInvalid");
    let del = ok(
        &sqs,
        "DeleteMessageBatch",
        json!({"QueueUrl": q, "Entries": [
            {"Id": "a", "ReceiptHandle": handles[0]},
            {"Id": "b", "ReceiptHandle": handles[1]},
            {"Id": "c", "ReceiptHandle": "bogus"},
        ]}),
    )
    .await;
    assert_eq!(del["Successful"], json!([{"Id": "a"}, {"Id": "b"}]));
    assert_eq!(
        del["Failed"],
        json!([{"Id": "c", "SenderFault": true, "Code": "ReceiptHandleIsInvalid",
                "Message": "The input receipt handle \"bogus\" is not a valid receipt handle."}])
    );
    let attrs = ok(
        &sqs,
        "GetQueueAttributes",
        json!({"QueueUrl": q, "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]}),
    )
    .await;
    assert_eq!(
        attrs,
        json!({"Attributes": {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}})
    );
}

#[tokio::test]
async fn visibility_errors_on_the_wire() {
    let sqs = open(None, &[queue("q")], &manual());
    let q = url("q");
    ok(
        &sqs,
        "SendMessage",
        json!({"QueueUrl": q, "MessageBody": "x"}),
    )
    .await;
    let got = ok(&sqs, "ReceiveMessage", json!({"QueueUrl": q})).await;
    let h = got["Messages"][0]["ReceiptHandle"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        &sqs,
        "DeleteMessage",
        json!({"QueueUrl": q, "ReceiptHandle": h}),
    )
    .await;
    let m = err(
        &sqs,
        "ChangeMessageVisibility",
        json!({"QueueUrl": q, "ReceiptHandle": h, "VisibilityTimeout": 10}),
        "com.amazonaws.sqs#InvalidParameterValue",
        "InvalidParameterValue;Sender",
    )
    .await;
    assert!(
        m.ends_with(
            "Reason: Message does not exist or is not available for visibility timeout change."
        ),
        "{m}"
    );
    err(
        &sqs,
        "DeleteMessage",
        json!({"QueueUrl": q, "ReceiptHandle": "nope"}),
        "com.amazonaws.sqs#ReceiptHandleIsInvalid",
        "ReceiptHandleIsInvalid;Sender",
    )
    .await;
    ok(&sqs, "PurgeQueue", json!({"QueueUrl": q})).await;
    err(
        &sqs,
        "PurgeQueue",
        json!({"QueueUrl": q}),
        "com.amazonaws.sqs#PurgeQueueInProgress",
        "AWS.SimpleQueueService.PurgeQueueInProgress;Sender",
    )
    .await;
}

#[tokio::test]
async fn message_move_tasks_on_the_wire() {
    let sqs = open(None, &[with_dlq("src", "dlq", 1), queue("dlq")], &manual());
    ok(
        &sqs,
        "SendMessage",
        json!({"QueueUrl": url("src"), "MessageBody": "x"}),
    )
    .await;
    ok(
        &sqs,
        "ReceiveMessage",
        json!({"QueueUrl": url("src"), "VisibilityTimeout": 0}),
    )
    .await;
    assert_eq!(
        ok(&sqs, "ReceiveMessage", json!({"QueueUrl": url("src")})).await,
        json!({})
    );
    let started = ok(
        &sqs,
        "StartMessageMoveTask",
        json!({"SourceArn": arn("dlq")}),
    )
    .await;
    assert!(started["TaskHandle"].is_string());
    let listed = ok(
        &sqs,
        "ListMessageMoveTasks",
        json!({"SourceArn": arn("dlq")}),
    )
    .await;
    assert_eq!(
        listed,
        json!({"Results": [{
            "Status": "COMPLETED",
            "SourceArn": arn("dlq"),
            "ApproximateNumberOfMessagesMoved": 1,
            "ApproximateNumberOfMessagesToMove": 1,
            "StartedTimestamp": T0,
        }]})
    );
    err(
        &sqs,
        "StartMessageMoveTask",
        json!({"SourceArn": arn("missing")}),
        "com.amazonaws.sqs#ResourceNotFoundException",
        "ResourceNotFoundException;Sender",
    )
    .await;
    err(
        &sqs,
        "CancelMessageMoveTask",
        json!({"TaskHandle": started["TaskHandle"]}),
        "com.amazonaws.sqs#ResourceNotFoundException",
        "ResourceNotFoundException;Sender",
    )
    .await;
}
