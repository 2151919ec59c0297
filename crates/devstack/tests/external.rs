//! devstack with external backends (`--dynamodb-endpoint`, `--sqs-endpoint`): the tables and
//! queues of `tests/fixtures/external.yaml` kept in moto's server. devstack creates them there
//! itself, forwards the clients' calls (after chaos), polls the external queue for its
//! function (through chaos and the journal), and signs what it forwards for the backend.

mod common;
// The differential tests' moto server (only `Moto` is used here).
#[allow(dead_code)]
#[path = "differential/backend.rs"]
mod backend;

use aws_sdk_dynamodb::types::AttributeValue;
use backend::Moto;
use chaos::journal::{Entry, Journal};
use devstack::{Config, Devstack};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

fn template() -> String {
    format!(
        "{}/tests/fixtures/external.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// How long a test waits, in real time, for what must happen on moto's clock (a one-second
/// visibility timeout ending).
const DEADLINE: Duration = Duration::from_secs(30);

async fn on(backend: &str) -> Devstack {
    let mut config = Config::for_tests(template());
    config.dynamodb_endpoint = Some(backend.to_owned());
    config.sqs_endpoint = Some(backend.to_owned());
    Devstack::start(config).await.expect("devstack starts")
}

fn physical(ds: &Devstack, logical: &str) -> String {
    ds.stack
        .queues
        .iter()
        .find(|q| q.logical_id == logical)
        .map(|q| q.name.clone())
        .or_else(|| {
            ds.stack
                .tables
                .iter()
                .find(|t| t.logical_id == logical)
                .map(|t| t.name.clone())
        })
        .unwrap_or_else(|| panic!("external.yaml has {logical}"))
}

/// The template's table and queues exist in moto, as the template states them (read from
/// moto directly, not through devstack).
#[tokio::test]
async fn the_tables_and_queues_are_created_in_the_backend() {
    let moto = Moto::start().await;
    let ds = on(&moto.endpoint).await;
    let sdk = common::sdk_config(&moto.endpoint).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);

    let table = physical(&ds, "Items");
    let described = ddb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let t = described.table().unwrap();
    let keys: Vec<(String, String)> = t
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())]
    );
    let gsis: Vec<&str> = t
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name())
        .collect();
    assert_eq!(gsis, ["gsi1"]);
    let ttl = ddb
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.attribute_name(), Some("expires"));

    let work = sqs
        .get_queue_url()
        .queue_name(physical(&ds, "WorkQueue"))
        .send()
        .await
        .unwrap();
    let dlq = sqs
        .get_queue_url()
        .queue_name(physical(&ds, "WorkDlq"))
        .send()
        .await
        .unwrap();
    let attrs = |url: String| {
        let sqs = sqs.clone();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .unwrap()
                .attributes()
                .cloned()
                .unwrap_or_default()
        }
    };
    let work = attrs(work.queue_url().unwrap().to_owned()).await;
    let dlq = attrs(dlq.queue_url().unwrap().to_owned()).await;
    use aws_sdk_sqs::types::QueueAttributeName as A;
    assert_eq!(work[&A::VisibilityTimeout], "1");
    let redrive: Value = serde_json::from_str(&work[&A::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive,
        json!({"deadLetterTargetArn": dlq[&A::QueueArn], "maxReceiveCount": 2}),
        "the redrive policy names the DLQ by the backend's own ARN"
    );
    // Starting again on the same backend finds them and keeps them.
    drop(ds);
    let again = on(&moto.endpoint).await;
    let listed = sqs.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls().len(), 2, "{listed:?}");
    drop(again);
}

/// The functions' SDKs still call the edge: DynamoDB calls land in moto, and chaos still
/// answers for the table before anything is forwarded.
#[tokio::test]
async fn dynamodb_calls_go_through_the_edge_to_the_backend() {
    let moto = Moto::start().await;
    let ds = on(&moto.endpoint).await;
    let table = physical(&ds, "Items");
    let edge = aws_sdk_dynamodb::Client::new(&common::sdk_config(&ds.edge_url).await);
    let direct = aws_sdk_dynamodb::Client::new(&common::sdk_config(&moto.endpoint).await);
    let item = |sk: &str| {
        BTreeMap::from([
            ("pk".to_owned(), AttributeValue::S("a".into())),
            ("sk".to_owned(), AttributeValue::S(sk.into())),
        ])
    };
    edge.put_item()
        .table_name(&table)
        .set_item(Some(item("1").into_iter().collect()))
        .send()
        .await
        .unwrap();
    let got = direct
        .get_item()
        .table_name(&table)
        .set_key(Some(item("1").into_iter().collect()))
        .send()
        .await
        .unwrap();
    assert!(got.item().is_some(), "the item is in moto");

    // A fault armed on the table is answered by the edge: moto never sees the write.
    let http = reqwest::Client::new();
    let armed = http
        .post(format!("{}/_devstack/chaos/rules", ds.edge_url))
        .json(&json!("table=* op=PutItem error=InternalServerError"))
        .send()
        .await
        .unwrap();
    assert_eq!(armed.status(), 201);
    let refused = edge
        .put_item()
        .table_name(&table)
        .set_item(Some(item("2").into_iter().collect()))
        .send()
        .await;
    assert!(refused.is_err(), "chaos refused the write");
    let got = direct
        .get_item()
        .table_name(&table)
        .set_key(Some(item("2").into_iter().collect()))
        .send()
        .await
        .unwrap();
    assert!(got.item().is_none(), "the refused write did not reach moto");
}

/// The event source mapping polls the external queue: a message is delivered, its failure
/// reported, returned by moto after its visibility timeout, delivered again and deleted;
/// every step is in the journal. The admin API counts the external queue's messages.
#[tokio::test]
async fn the_mapping_polls_the_external_queue_through_the_journal() {
    let moto = Moto::start().await;
    let ds = on(&moto.endpoint).await;
    let sqs = aws_sdk_sqs::Client::new(&common::sdk_config(&ds.edge_url).await);
    let url = sqs
        .get_queue_url()
        .queue_name(physical(&ds, "WorkQueue"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    for body in [
        json!({"id": "a"}),
        json!({"id": "b", "fail": true, "times": 1}),
    ] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body.to_string())
            .send()
            .await
            .unwrap();
    }
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let deletes = loop {
        let journal = Journal::parse(&ds.chaos.journal().contents()).unwrap();
        let deletes = journal
            .iter()
            .filter(|r| matches!(r.entry, Entry::Delete { .. }))
            .count();
        if deletes == 2 {
            break journal;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "both messages deleted within {DEADLINE:?}: {journal:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let receive_counts: Vec<u32> = deletes
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Delivery { messages, .. } => Some(messages.iter().map(|m| m.receive_count)),
            _ => None,
        })
        .flatten()
        .collect();
    let mut sorted = receive_counts.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 1, 2], "a once, b twice: {receive_counts:?}");
    assert_eq!(
        deletes
            .iter()
            .filter(|r| matches!(r.entry, Entry::ReturnToQueue { .. }))
            .count(),
        1
    );
    let queues: Value = http
        .get(format!("{}/_devstack/queues", ds.edge_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let work = queues["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == physical(&ds, "WorkQueue").as_str())
        .unwrap();
    assert_eq!(
        (work["visible"].as_u64(), work["in_flight"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        work["dead_letter_queue"]
            .as_str()
            .is_some_and(|a| a.ends_with(&physical(&ds, "WorkDlq"))),
        "{work}"
    );
    let peek = http
        .get(format!(
            "{}/_devstack/queues/{}/messages",
            ds.edge_url,
            physical(&ds, "WorkDlq")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(peek.status(), 501, "an external SQS cannot be peeked into");
}

/// What devstack forwards carries a SigV4 signature made for the backend's host (the client
/// signed for the edge's), with devstack's credentials: recomputed here, it matches.
#[tokio::test]
async fn forwarded_requests_are_signed_for_the_backend() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let backend = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"Table": {"TableStatus": "ACTIVE"}, "QueueUrl": "http://q/1/q", "Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:1:q"}}),
        ))
        .mount(&backend)
        .await;
    let ds = on(&backend.uri()).await;
    let edge = aws_sdk_dynamodb::Client::new(&common::sdk_config(&ds.edge_url).await);
    let _ = edge
        .get_item()
        .table_name(physical(&ds, "Items"))
        .key("pk", AttributeValue::S("a".into()))
        .key("sk", AttributeValue::S("1".into()))
        .send()
        .await;
    let requests = backend.received_requests().await.unwrap();
    let get = requests
        .iter()
        .find(|r| {
            r.headers
                .get("x-amz-target")
                .is_some_and(|t| t == "DynamoDB_20120810.GetItem")
        })
        .expect("the GetItem was forwarded");
    let header = |k: &str| get.headers.get(k).unwrap().to_str().unwrap().to_owned();
    let authorization = header("authorization");
    let key = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
        .unwrap()
        .to_owned();
    assert!(
        authorization.contains("/us-east-1/dynamodb/aws4_request"),
        "{authorization}"
    );
    // devstack's dummy credentials unless its environment has real ones.
    let secret = match std::env::var("AWS_SECRET_ACCESS_KEY") {
        Ok(s) if std::env::var("AWS_ACCESS_KEY_ID").is_ok_and(|k| k == key) => s,
        _ => {
            assert_eq!(key, "devstack");
            "devstack".to_owned()
        }
    };
    let time: std::time::SystemTime =
        chrono::NaiveDateTime::parse_from_str(&header("x-amz-date"), "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc()
            .into();
    let identity = aws_credential_types::Credentials::new(&key, secret, None, None, "t").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("dynamodb")
        .time(time)
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = backend.uri().trim_start_matches("http://").to_owned();
    let content_type = header("content-type");
    let target = header("x-amz-target");
    let signable = aws_sigv4::http_request::SignableRequest::new(
        "POST",
        format!("{}/", backend.uri()),
        [
            ("content-type", content_type.as_str()),
            ("x-amz-target", target.as_str()),
            ("host", host.as_str()),
        ]
        .into_iter(),
        aws_sigv4::http_request::SignableBody::Bytes(&get.body),
    )
    .unwrap();
    let (instructions, _) = aws_sigv4::http_request::sign(signable, &params)
        .unwrap()
        .into_parts();
    let expected = instructions
        .headers()
        .find(|(k, _)| *k == "authorization")
        .map(|(_, v)| v.to_owned())
        .unwrap();
    assert_eq!(authorization, expected);
}

/// `devstack provision` (what LocalStack's init hook runs) creates the same resources as
/// `devstack up` would, under the stack name given, and running it again changes nothing.
#[tokio::test]
async fn provision_from_the_command_line_is_idempotent() {
    let moto = Moto::start().await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_devstack"))
            .args([
                "provision",
                "--template",
                &template(),
                "--stack-name",
                "ext",
            ])
            .args(["--dynamodb-endpoint", &moto.endpoint])
            .args(["--sqs-endpoint", &moto.endpoint])
            .output()
            .unwrap()
    };
    let first = run();
    assert!(first.status.success(), "{first:?}");
    let second = run();
    assert!(second.status.success(), "{second:?}");
    assert_eq!(first.stdout, second.stdout);
    let printed = String::from_utf8(first.stdout).unwrap();
    let mut names: Vec<&str> = printed
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap_or_default())
        .collect();
    names.sort();
    // The names `devstack up --stack-name ext` gives them.
    let mut config = Config::for_tests(template());
    config.stack_name = "ext".into();
    config.dynamodb_endpoint = Some(moto.endpoint.clone());
    config.sqs_endpoint = Some(moto.endpoint.clone());
    let ds = Devstack::start(config).await.unwrap();
    let mut expected: Vec<String> = ["Items", "WorkDlq", "WorkQueue"]
        .iter()
        .map(|l| physical(&ds, l))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
    let sqs = aws_sdk_sqs::Client::new(&common::sdk_config(&moto.endpoint).await);
    let listed = sqs.list_queues().send().await.unwrap();
    assert_eq!(listed.queue_urls().len(), 2, "{listed:?}");

    let none = std::process::Command::new(env!("CARGO_BIN_EXE_devstack"))
        .args(["provision", "--template", &template()])
        .output()
        .unwrap();
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("--dynamodb-endpoint"),
        "{none:?}"
    );
}
