//! DynamoDB behind the edge: the template's tables exist, the AWS SDK works against the edge
//! port, and what was written survives a restart.

use aws_sdk_dynamodb::types::AttributeValue;
use devstack::{Config, Devstack};

fn template() -> String {
    format!(
        "{}/tests/fixtures/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

async fn client(edge: &str) -> aws_sdk_dynamodb::Client {
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "x", "y", None, None, "test",
        ))
        .endpoint_url(edge)
        .load()
        .await;
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
