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
