//! devstack runs the product from the repository's own template.yaml: a public resolve of a
//! link put into the table answers its redirect (and publishes the click); owner routes answer
//! 401 without a token, and with devstack's Cognito tokens create, list and isolate tenants.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use devstack::{Config, Devstack};
use serde_json::Value;

#[tokio::test]
async fn the_product_runs_with_tenants_separated() {
    let template = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    let mut config = Config::for_tests(template);
    // The click pipeline delivers at once instead of gathering for a second.
    config
        .parameter_overrides
        .insert("ClickBatchingWindowSeconds".into(), "0".into());
    let ds = Devstack::start(config)
        .await
        .expect("devstack runs the product");
    assert!(ds.stack.warnings.is_empty(), "{:?}", ds.stack.warnings);
    let conf = common::sdk_config(&ds.edge_url).await;
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let s = |v: &str| AttributeValue::S(v.into());
    let n = |v: i64| AttributeValue::N(v.to_string());
    ddb.put_item()
        .table_name("devstack-LinksTable")
        .item("PK", s("LINK#hello42"))
        .item("SK", s("META"))
        .item("GSI1PK", s("USER#alice"))
        .item("GSI1SK", s("LINK#2026-11-27T10:00:00.000Z#hello42"))
        .item("code", s("hello42"))
        .item("ownerId", s("alice"))
        .item("target", s("https://example.com/hello"))
        .item("status", s("active"))
        .item("redirect", n(302))
        .item("clicks", n(0))
        .item("createdAt", n(1_795_773_600_000))
        .item("updatedAt", n(1_795_773_600_000))
        .item("version", n(1))
        .send()
        .await
        .unwrap();

    let base = ds.http_url.clone().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(format!("{base}/hello42")).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "https://example.com/hello");
    assert_eq!(r.headers()["cache-control"], "private, no-store");
    let clicks: Vec<Value> = ds
        .events
        .accepted()
        .into_iter()
        .filter(|e| e["detail-type"] == "link.clicked")
        .collect();
    assert_eq!(
        clicks.len(),
        1,
        "the resolve published its click through devstack's EventBridge"
    );
    assert_eq!(clicks[0]["detail"]["code"], "hello42");
    // ... and the click went EventBridge -> rule -> ClickQueue -> ClickAggregator -> the table.
    assert!(
        ds.settle(std::time::Duration::from_secs(20)).await,
        "the click pipeline settles"
    );
    let counted = ddb
        .get_item()
        .table_name("devstack-LinksTable")
        .key("PK", s("LINK#hello42"))
        .key("SK", s("META"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(
        counted.item().unwrap()["clicks"],
        n(1),
        "the aggregator counted the click once"
    );
    let queues: Value = http
        .get(format!("{}/_devstack/queues", ds.edge_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for q in queues["queues"].as_array().unwrap() {
        assert_eq!(
            (q["visible"].as_u64(), q["in_flight"].as_u64()),
            (Some(0), Some(0)),
            "{q}"
        );
    }

    let missing = http.get(format!("{base}/nothere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );

    for (method, path) in [
        ("GET", "/links"),
        ("POST", "/links"),
        ("DELETE", "/links/hello42"),
    ] {
        let r = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path}");
    }

    // Signed in through devstack's Cognito: create, resolve, list; another tenant sees nothing.
    let alice = ds
        .cognito
        .token_for(None, None, "alice@example.com")
        .unwrap()
        .id_token;
    let bob = ds
        .cognito
        .token_for(None, None, "bob@example.com")
        .unwrap()
        .id_token;
    let created = http
        .post(format!("{base}/links"))
        .bearer_auth(&alice)
        .json(&serde_json::json!({"url": "https://www.rust-lang.org/learn"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let link: Value = created.json().await.unwrap();
    let code = link["code"].as_str().unwrap().to_owned();
    assert_eq!(
        link["shortUrl"],
        Value::String(format!("{base}/{code}")),
        "the base is the local API endpoint"
    );
    assert_eq!(link["status"], "pending");
    let r = http.get(format!("{base}/{code}")).send().await.unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], "https://www.rust-lang.org/learn");
    let mine: Value = http
        .get(format!("{base}/links"))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["links"].as_array().unwrap().len(), 1);
    assert_eq!(mine["links"][0]["code"], code.as_str());
    let theirs: Value = http
        .get(format!("{base}/links"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["links"], serde_json::json!([]));
    let peek = http
        .get(format!("{base}/links/{code}"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(peek.status(), 404);
    let delete = http
        .delete(format!("{base}/links/{code}"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);
    assert_eq!(
        http.get(format!("{base}/{code}"))
            .send()
            .await
            .unwrap()
            .status(),
        301,
        "still there"
    );
    ds.shutdown().await;
}

/// CodeDeploy's PreTraffic hook runs on devstack as an ordinary function that nothing invokes
/// by itself. Invoked by hand it does its whole smoke test against the stack: writes the canary
/// link, invokes the redirect function's version (`!Ref ResolveLinkFunction.Version`, the
/// local `:1`) and checks its redirect. Only its report fails, as devstack has no CodeDeploy:
/// the error names the verdict it could not deliver.
#[tokio::test]
async fn the_pre_traffic_hook_smoke_tests_the_local_redirect() {
    let template = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    let ds = Devstack::start(Config::for_tests(template))
        .await
        .expect("devstack runs the product");
    let hook = ds
        .stack
        .functions
        .iter()
        .find(|f| f.logical_id == "PreTrafficHookFunction")
        .expect("the hook is in the stack");
    assert_eq!(hook.name, "CodeDeployHook_devstack_preTraffic");
    let r = reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/{}/invocations",
            ds.edge_url, hook.name
        ))
        .json(&serde_json::json!({
            "DeploymentId": "d-LOCAL0001",
            "LifecycleEventHookExecutionId": "local-execution-1",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-amz-function-error"], "Unhandled");
    let error: Value = r.json().await.unwrap();
    let message = error["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("PutLifecycleEventHookExecutionStatus (Succeeded) failed"),
        "{error}"
    );

    let clicks: Vec<Value> = ds
        .events
        .accepted()
        .into_iter()
        .filter(|e| e["detail-type"] == "link.clicked")
        .collect();
    assert_eq!(clicks.len(), 1, "{clicks:?}");
    assert_eq!(clicks[0]["detail"]["code"], "_canary");
    assert_eq!(
        clicks[0]["detail"]["userAgent"],
        "url-shortener-pre-traffic-hook"
    );
    ds.shutdown().await;
}
