//! The real aws-sdk-sqs against devstack's SQS over HTTP, served the way the edge serves it
//! (`X-Amz-Target` to `dispatch`, `application/x-amz-json-1.0`, `x-amzn-query-error`): the
//! SDK must accept every answer, map errors to its typed variants, and see the MD5 digests AWS
//! would give.

mod common;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName,
    MessageSystemAttributeNameForSends, MessageSystemAttributeValue, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::*;
use sqs::Sqs;
use std::sync::Arc;
use std::time::Duration;

/// What the edge does for `AmazonSQS.*`.
async fn edge(State(sqs): State<Arc<Sqs>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let operation = target
        .strip_prefix(sqs::TARGET_PREFIX)
        .and_then(|t| t.strip_prefix('.'))
        .unwrap_or("");
    let answer = sqs.dispatch(operation, &body).await;
    let mut r = (
        StatusCode::from_u16(answer.status).unwrap(),
        answer.body.to_string(),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static(sqs::CONTENT_TYPE));
    if let Some(code) = answer.error_code() {
        h.insert("x-amzn-errortype", HeaderValue::from_str(code).unwrap());
    }
    if let Some(q) = sqs::query_error(&answer) {
        h.insert("x-amzn-query-error", HeaderValue::from_static(q));
    }
    r
}

async fn start(queues: &[template::model::Queue]) -> (Client, Arc<Sqs>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let sqs = Arc::new(
        Sqs::open(
            None,
            queues,
            REGION,
            ACCOUNT,
            &endpoint,
            Arc::new(clock::SystemClock),
        )
        .unwrap(),
    );
    let app = Router::new().route("/", post(edge)).with_state(sqs.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(&endpoint)
        .build();
    (Client::from_conf(conf), sqs, endpoint)
}

fn string(v: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(v)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_speaks_to_devstack_sqs() {
    let (client, _sqs, endpoint) = start(&[]).await;

    let url = client
        .create_queue()
        .queue_name("orders")
        .attributes(QueueAttributeName::VisibilityTimeout, "5")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    assert_eq!(url, format!("{endpoint}/{ACCOUNT}/orders"));
    let e = client
        .create_queue()
        .queue_name("orders")
        .attributes(QueueAttributeName::VisibilityTimeout, "6")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_name_exists(), "{e:?}");
    let e = client
        .get_queue_url()
        .queue_name("missing")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_does_not_exist(), "{e:?}");

    // The digests are AWS's, from its own samples.
    let sent = client
        .send_message()
        .queue_url(&url)
        .message_body("hello")
        .message_attributes("test_attribute_name_1", string("test_attribute_value_1"))
        .message_attributes("test_attribute_name_2", string("test_attribute_value_2"))
        .message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value("Root=1-5759e988-bd862e3fe1be46a994272793")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        sent.md5_of_message_body(),
        Some("5d41402abc4b2a76b9719d911017c592")
    );
    assert_eq!(
        sent.md5_of_message_attributes(),
        Some("d53f3b558fe951154770f25cb63dbba9")
    );
    assert!(sent.md5_of_message_system_attributes().is_some());
    let binary = client
        .send_message()
        .queue_url(&url)
        .message_body("binary")
        .message_attributes(
            "test_attribute_name",
            MessageAttributeValue::builder()
                .data_type("Binary")
                .binary_value(Blob::new(b"test_attribute_value".to_vec()))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        binary.md5_of_message_attributes(),
        Some("23f6bd27ea87aab7dfeadcc9aebee495")
    );

    let batch = client
        .send_message_batch()
        .queue_url(&url)
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body("test")
                .build()
                .unwrap(),
        )
        .entries(
            SendMessageBatchRequestEntry::builder()
                .id("late")
                .message_body("x")
                .delay_seconds(901)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(batch.successful().len(), 1);
    assert_eq!(
        batch.successful()[0].md5_of_message_body(),
        "098f6bcd4621d373cade4e832627b4f6"
    );
    assert_eq!(batch.failed()[0].id(), "late");
    assert_eq!(batch.failed()[0].code(), "InvalidParameterValue");
    assert!(batch.failed()[0].sender_fault());
    let e = client
        .send_message_batch()
        .queue_url(&url)
        .set_entries(Some(vec![]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_empty_batch_request(), "{e:?}");

    let got = client
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    let messages = got.messages();
    assert_eq!(messages.len(), 3);
    let hello = messages.iter().find(|m| m.body() == Some("hello")).unwrap();
    assert_eq!(hello.message_id(), sent.message_id());
    assert_eq!(
        hello.md5_of_message_attributes(),
        Some("d53f3b558fe951154770f25cb63dbba9")
    );
    let attrs = hello.attributes().unwrap();
    assert_eq!(
        attrs[&MessageSystemAttributeName::ApproximateReceiveCount],
        "1"
    );
    assert_eq!(
        attrs[&MessageSystemAttributeName::AwsTraceHeader],
        "Root=1-5759e988-bd862e3fe1be46a994272793"
    );
    assert!(attrs.contains_key(&MessageSystemAttributeName::SentTimestamp));
    assert_eq!(attrs[&MessageSystemAttributeName::SenderId], ACCOUNT);
    let bin = messages
        .iter()
        .find(|m| m.body() == Some("binary"))
        .unwrap();
    assert_eq!(
        bin.message_attributes().unwrap()["test_attribute_name"]
            .binary_value()
            .unwrap()
            .as_ref(),
        b"test_attribute_value"
    );

    let e = client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle("not-a-handle")
        .visibility_timeout(10)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_receipt_handle_is_invalid(), "{e:?}");
    client
        .change_message_visibility()
        .queue_url(&url)
        .receipt_handle(hello.receipt_handle().unwrap())
        .visibility_timeout(60)
        .send()
        .await
        .unwrap();

    let deleted = client
        .delete_message_batch()
        .queue_url(&url)
        .set_entries(Some(
            messages
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("d{i}"))
                        .receipt_handle(m.receipt_handle().unwrap())
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.successful().len(), 3);
    assert!(deleted.failed().is_empty());

    let attrs = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessages], "0");
    assert_eq!(attrs[&QueueAttributeName::VisibilityTimeout], "5");
    assert_eq!(
        attrs[&QueueAttributeName::QueueArn],
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:orders")
    );

    client.purge_queue().queue_url(&url).send().await.unwrap();
    let e = client
        .purge_queue()
        .queue_url(&url)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_purge_queue_in_progress(), "{e:?}");
    let listed = client.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls(), std::slice::from_ref(&url));
    client.delete_queue().queue_url(&url).send().await.unwrap();
    let e = client
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_queue_does_not_exist(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_and_redrive_through_the_sdk() {
    let (client, _sqs, endpoint) = start(&[with_dlq("src", "dlq", 1), queue("dlq")]).await;
    let src = format!("{endpoint}/{ACCOUNT}/src");
    let dlq = format!("{endpoint}/{ACCOUNT}/dlq");
    client
        .send_message()
        .queue_url(&src)
        .message_body("poison")
        .send()
        .await
        .unwrap();
    let first = client
        .receive_message()
        .queue_url(&src)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    assert_eq!(first.messages().len(), 1);
    let second = client
        .receive_message()
        .queue_url(&src)
        .send()
        .await
        .unwrap();
    assert!(second.messages().is_empty());
    let sources = client
        .list_dead_letter_source_queues()
        .queue_url(&dlq)
        .send()
        .await
        .unwrap();
    assert_eq!(sources.queue_urls(), std::slice::from_ref(&src));

    let task = client
        .start_message_move_task()
        .source_arn(arn("dlq"))
        .send()
        .await
        .unwrap();
    assert!(task.task_handle().is_some());
    let tasks = client
        .list_message_move_tasks()
        .source_arn(arn("dlq"))
        .send()
        .await
        .unwrap();
    let t = &tasks.results()[0];
    assert_eq!(t.status(), Some("COMPLETED"));
    assert_eq!(t.approximate_number_of_messages_moved(), 1);

    // A long poll ends when the message arrives, well before its wait is over.
    let poll = {
        let client = client.clone();
        let src = src.clone();
        tokio::spawn(async move {
            client
                .receive_message()
                .queue_url(&src)
                .wait_time_seconds(20)
                .send()
                .await
        })
    };
    // The redriven message is already there: the poll answers at once.
    let got = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("long poll answered")
        .unwrap()
        .unwrap();
    assert_eq!(got.messages()[0].body(), Some("poison"));

    let poll = {
        let client = client.clone();
        let src = src.clone();
        tokio::spawn(async move {
            client
                .receive_message()
                .queue_url(&src)
                .wait_time_seconds(20)
                .send()
                .await
        })
    };
    client
        .send_message()
        .queue_url(&src)
        .message_body("later")
        .send()
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("long poll answered on the send")
        .unwrap()
        .unwrap();
    assert_eq!(got.messages()[0].body(), Some("later"));
}
