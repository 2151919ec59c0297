//! DynamoDB behind the edge: the template's tables exist, the AWS SDK works against the edge
//! port, and what was written survives a restart.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use devstack::{Config, Devstack};

fn template() -> String {
    format!(
        "{}/tests/fixtures/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

async fn client(edge: &str) -> aws_sdk_dynamodb::Client {
    let conf = common::sdk_config(edge).await;
    aws_sdk_dynamodb::Client::new(&conf)
}

#[tokio::test]
async fn tables_are_provisioned_and_state_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("devstack-durable-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = Config {
        in_memory: false,
        data_dir: dir.clone(),
        ..Config::for_tests(template())
    };
    let ds = Devstack::start(config.clone()).await.unwrap();
    let ddb = client(&ds.edge_url).await;
    let tables = ddb.list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), ["devstack-Table"]);
    let ttl = ddb
        .describe_time_to_live()
        .table_name("devstack-Table")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expires")
    );
    ddb.put_item()
        .table_name("devstack-Table")
        .item("pk", AttributeValue::S("k1".into()))
        .item("v", AttributeValue::N("42".into()))
        .send()
        .await
        .unwrap();
    ds.shutdown().await;

    let ds = Devstack::start(config).await.unwrap();
    let ddb = client(&ds.edge_url).await;
    let got = ddb
        .get_item()
        .table_name("devstack-Table")
        .key("pk", AttributeValue::S("k1".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(got.item().unwrap()["v"], AttributeValue::N("42".into()));
    ds.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The edge answers plain GetItems itself (the engine's typed API, in process) and forwards
/// the rest to the engine's server. Whichever way a request goes, the client must get what the
/// engine's server answers: the same status, the same body (up to the order of an item's
/// attributes, which neither fixes), and a CRC32 that matches it.
#[tokio::test]
async fn get_item_on_the_edge_answers_as_the_engine_does() {
    let ds = Devstack::start(Config::for_tests(template()))
        .await
        .unwrap();
    let ddb = client(&ds.edge_url).await;
    ddb.put_item()
        .table_name("devstack-Table")
        .item("pk", AttributeValue::S("k1".into()))
        .item("v", AttributeValue::N("42".into()))
        .item("tags", AttributeValue::Ss(vec!["b".into(), "a".into()]))
        .send()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let signed = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "DynamoDB_20120810.GetItem"),
        ("x-amz-date", "20261127T000000Z"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=x/20261127/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
        ),
    ];
    let unsigned = &signed[..2];
    let wrong_type = [
        ("content-type", "application/json"),
        signed[1],
        signed[2],
        signed[3],
    ];
    type Headers<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&str, Headers, &str); 12] = [
        (
            "found",
            &signed,
            r#"{"TableName":"devstack-Table","Key":{"pk":{"S":"k1"}}}"#,
        ),
        (
            "consistent, projected",
            &signed,
            r##"{"TableName":"devstack-Table","Key":{"pk":{"S":"k1"}},"ConsistentRead":true,"ProjectionExpression":"#v","ExpressionAttributeNames":{"#v":"v"}}"##,
        ),
        (
            "missing item",
            &signed,
            r#"{"TableName":"devstack-Table","Key":{"pk":{"S":"nope"}}}"#,
        ),
        (
            "missing table",
            &signed,
            r#"{"TableName":"devstack-Nope","Key":{"pk":{"S":"k1"}}}"#,
        ),
        (
            "key of the wrong type",
            &signed,
            r#"{"TableName":"devstack-Table","Key":{"pk":{"N":"1"}}}"#,
        ),
        (
            "key of two members",
            &signed,
            r#"{"TableName":"devstack-Table","Key":{"pk":{"S":"k1","N":"1"}}}"#,
        ),
        (
            "flag as a string",
            &signed,
            r#"{"TableName":"devstack-Table","Key":{"pk":{"BOOL":"true"}}}"#,
        ),
        (
            "extra key attribute",
            &signed,
            r#"{"TableName":"devstack-Table","Key":{"pk":{"S":"k1"},"x":{"S":"y"}}}"#,
        ),
        ("no key", &signed, r#"{"TableName":"devstack-Table"}"#),
        ("not JSON", &signed, "{"),
        (
            "unsigned",
            unsigned,
            r#"{"TableName":"devstack-Table","Key":{"pk":{"S":"k1"}}}"#,
        ),
        (
            "plain JSON content type",
            &wrong_type,
            r#"{"TableName":"devstack-Table","Key":{"pk":{"S":"k1"}}}"#,
        ),
    ];
    for (case, headers, body) in cases {
        let mut answers = Vec::new();
        for url in [ds.edge_url.as_str(), ds.dynamodb_engine_url()] {
            let mut req = http.post(url).body(body.to_owned());
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
            let crc = resp
                .headers()
                .get("x-amz-crc32")
                .map(|v| v.to_str().unwrap().to_owned());
            assert!(
                resp.headers().contains_key("x-amzn-requestid"),
                "{case}: no request id from {url}"
            );
            let body = resp.text().await.unwrap();
            assert_eq!(
                crc,
                Some(crc32(body.as_bytes()).to_string()),
                "{case}: the CRC32 from {url} does not match its body"
            );
            // An item is a map: its attributes come in no particular order from either.
            let body =
                serde_json::from_str::<serde_json::Value>(&body).map_or(body, |v| v.to_string());
            answers.push((status, content_type, body));
        }
        assert_eq!(
            answers[0], answers[1],
            "{case}: edge (left) and engine differ"
        );
    }
    ds.shutdown().await;
}

/// CRC-32 (IEEE), as `x-amz-crc32` carries it: written out here so that the test checks the
/// edge's header against an independent computation.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// TransactWriteItems' `ClientRequestToken` is honoured by the edge's own ledger (the engine
/// gets the transaction without it); the same calls made straight to the engine, which
/// honours tokens itself, must be answered the same way: a replay does nothing and
/// succeeds, other items under the token are refused, a new token runs.
#[tokio::test]
async fn transaction_tokens_on_the_edge_behave_as_the_engines() {
    let ds = Devstack::start(Config::for_tests(template()))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let call = |url: String, body: String| {
        let http = http.clone();
        async move {
            let resp = http
                .post(url)
                .header("content-type", "application/x-amz-json-1.0")
                .header("x-amz-target", "DynamoDB_20120810.TransactWriteItems")
                .header("x-amz-date", "20261127T000000Z")
                .header(
                    "authorization",
                    "AWS4-HMAC-SHA256 Credential=x/20261127/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
                )
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, body)
        }
    };
    // One ADD per call: the count tells how many times a transaction really ran.
    let add = |key: &str, token: &str, by: u32, extra: &str| {
        format!(
            r#"{{"ClientRequestToken":"{token}",{extra}"TransactItems":[{{"Update":{{"TableName":"devstack-Table","Key":{{"pk":{{"S":"{key}"}}}},"UpdateExpression":"ADD n :by","ExpressionAttributeValues":{{":by":{{"N":"{by}"}}}}}}}}]}}"#
        )
    };
    let ddb = client(&ds.edge_url).await;
    let count = |key: String| {
        let ddb = ddb.clone();
        async move {
            ddb.get_item()
                .table_name("devstack-Table")
                .key("pk", AttributeValue::S(key))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item()
                .and_then(|i| i.get("n"))
                .and_then(|n| n.as_n().ok())
                .map(|n| n.parse::<u32>().unwrap())
        }
    };
    let capacity = r#""ReturnConsumedCapacity":"NONE","#;
    let mut transcripts = Vec::new();
    for (side, url) in [
        ("edge", ds.edge_url.clone()),
        ("engine", ds.dynamodb_engine_url().to_owned()),
    ] {
        let key = format!("tx-{side}");
        let mut t = Vec::new();
        for (token, by, extra) in [
            ("token-1", 1, ""),
            ("token-1", 1, ""),       // replay: nothing runs
            ("token-1", 1, capacity), // still a replay (NONE asks for nothing)
            ("token-1", 2, ""),       // other items: refused
            ("token-2", 1, ""),       // a new token runs
        ] {
            let (status, body) = call(
                url.clone(),
                add(&key, &format!("{side}-{token}"), by, extra),
            )
            .await;
            t.push((status, body, count(key.clone()).await));
        }
        transcripts.push(t);
    }
    assert_eq!(
        transcripts[0], transcripts[1],
        "edge (left) and engine differ"
    );
    let counts: Vec<_> = transcripts[0].iter().map(|(_, _, n)| *n).collect();
    assert_eq!(counts, [Some(1), Some(1), Some(1), Some(1), Some(2)]);
    assert_eq!(transcripts[0][3].0, 400);
    assert_eq!(
        transcripts[0][3].1["__type"],
        "com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException"
    );
    ds.shutdown().await;
}
