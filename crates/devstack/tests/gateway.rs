//! The HTTP API gateway, end to end: real sockets, devstack as a library, the fixture
//! functions (real `lambda_runtime` / `lambda_http` binaries) behind it.

use devstack::{Config, Devstack};
use serde_json::{Value, json};

fn template() -> String {
    format!(
        "{}/tests/fixtures/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

async fn stack() -> Devstack {
    Devstack::start(Config::for_tests(template()))
        .await
        .expect("devstack starts")
}

#[tokio::test]
async fn routes_match_with_api_gateway_priority() {
    let ds = stack().await;
    let base = ds.http_url.clone().unwrap();
    let http = reqwest::Client::new();
    let cases = [
        ("GET", "/links", "GET /links"),
        ("POST", "/links", "POST /links"),
        ("GET", "/links/abc", "GET /links/{code}"),
        ("DELETE", "/links/abc", "ANY /links/{code}"),
        ("GET", "/abc", "GET /{code}"),
        ("GET", "/files/a/b/c.txt", "GET /files/{path+}"),
        ("PUT", "/anything/else", "ANY /{proxy+}"),
        ("DELETE", "/links", "ANY /{proxy+}"),
    ];
    for (method, path, route_key) in cases {
        let r = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{method} {path}");
        let event: Value = r.json().await.unwrap();
        assert_eq!(event["routeKey"], json!(route_key), "{method} {path}");
    }
    let r = http
        .get(format!("{base}/files/a/b%20c/d"))
        .send()
        .await
        .unwrap();
    let event: Value = r.json().await.unwrap();
    assert_eq!(event["pathParameters"], json!({"path": "a/b c/d"}));
}

#[tokio::test]
async fn the_event_is_the_v2_contract_and_the_response_is_converted() {
    let ds = stack().await;
    let base = ds.http_url.clone().unwrap();
    let r = reqwest::Client::new()
        .post(format!("{base}/links?b=2&a=1&a=3"))
        .header("content-type", "application/json")
        .header("cookie", "session=abc; theme=dark")
        .header("x-custom", "one")
        .header("user-agent", "devstack-test")
        .body(r#"{"url":"https://example.com/"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-fixture"], "echo");
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
    assert!(r.headers().contains_key("apigw-requestid"));
    let raw = r.text().await.unwrap();

    // What lambda_http and aws_lambda_events make of it: both must parse it.
    let typed: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
        serde_json::from_str(&raw).unwrap();
    assert_eq!(typed.route_key.as_deref(), Some("POST /links"));
    let req = lambda_http::request::from_str(&raw).expect("lambda_http parses the event");
    assert_eq!(req.method(), "POST");
    assert_eq!(req.uri().path(), "/links");

    let mut event: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(event["cookies"], json!(["session=abc", "theme=dark"]));
    assert!(
        event["headers"].get("cookie").is_none(),
        "cookies move out of the headers"
    );
    assert_eq!(
        event["queryStringParameters"],
        json!({"a": "1,3", "b": "2"})
    );
    assert_eq!(event["rawQueryString"], json!("b=2&a=1&a=3"));
    let epoch = event["requestContext"]["timeEpoch"].as_i64().unwrap();
    assert!(epoch > 1_700_000_000_000);
    // Redact what changes run to run, then snapshot the whole event.
    let ctx = event["requestContext"].as_object_mut().unwrap();
    for (k, v) in [
        ("requestId", "[id]"),
        ("time", "[time]"),
        ("timeEpoch", "[epoch]"),
        ("domainName", "[host]"),
        ("domainPrefix", "[host]"),
    ] {
        ctx.insert(k.into(), json!(v));
    }
    for (k, v) in [
        ("host", "[host]"),
        ("x-forwarded-port", "[port]"),
        ("x-amzn-trace-id", "[trace]"),
    ] {
        event["headers"][k] = json!(v);
    }
    insta::assert_json_snapshot!("v2_event", event);
}

#[tokio::test]
async fn a_jwt_route_accepts_devstack_cognito_tokens_and_nothing_else() {
    let ds = stack().await;
    let base = ds.http_url.clone().unwrap();
    let http = reqwest::Client::new();
    for auth in [None, Some("Bearer not.a.token")] {
        let mut req = http.get(format!("{base}/private"));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"message": "Unauthorized"})
        );
    }
    // A token of the template's own user pool, issued by devstack's Cognito.
    let tokens = ds
        .cognito
        .token_for(None, None, "alice@example.com")
        .unwrap();
    for token in [&tokens.id_token, &tokens.access_token] {
        let r = http
            .get(format!("{base}/private"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let event: Value = r.json().await.unwrap();
        let claims = &event["requestContext"]["authorizer"]["jwt"]["claims"];
        assert!(
            claims["sub"].as_str().is_some_and(|s| !s.is_empty()),
            "{claims}"
        );
        assert!(claims["exp"].is_string(), "claims are strings: {claims}");
        assert_eq!(
            claims["iss"].as_str(),
            Some(ds.stack.user_pools[0].provider_url.as_str())
        );
    }
}

#[tokio::test]
async fn throttling_cors_and_unknown_routes_answer_as_api_gateway() {
    let ds = stack().await;
    let base = ds.http_url.clone().unwrap();
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = http.get(format!("{base}/limited")).send().await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert_eq!(
                r.json::<Value>().await.unwrap(),
                json!({"message": "Too Many Requests"})
            );
        }
    }
    // Burst 2, refilled at 0.001/s: the next two are refused. Other routes are unaffected.
    assert_eq!(statuses, [200, 200, 429, 429]);
    assert_eq!(
        http.get(format!("{base}/links"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let pre = http
        .request(reqwest::Method::OPTIONS, format!("{base}/links"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(
        pre.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(pre.headers()["access-control-allow-methods"], "GET,POST");
    assert_eq!(pre.headers()["access-control-max-age"], "600");
    let actual = http
        .get(format!("{base}/links"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        actual.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let foreign = http
        .get(format!("{base}/links"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}/go/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 301, "a lambda_http function's response");
    assert_eq!(redirect.headers()["location"], "https://example.com/");
}

#[tokio::test]
async fn over_the_function_concurrency_limit_the_gateway_answers_500() {
    let ds = stack().await;
    let base = ds.http_url.clone().unwrap();
    let http = reqwest::Client::new();
    // Single has ReservedConcurrentExecutions 1: while one request holds it, another is
    // throttled by Lambda, which API Gateway answers as 500 (it does not pass Lambda's 429 on).
    let held = tokio::spawn({
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.get(format!("{base}/single?sleep_ms=1500"))
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let shed = loop {
        let r = http.get(format!("{base}/single")).send().await.unwrap();
        if r.status() == 500 {
            break r;
        }
        assert!(std::time::Instant::now() < deadline, "never throttled");
    };
    assert_eq!(
        shed.json::<Value>().await.unwrap(),
        json!({"message": "Internal Server Error"})
    );
    assert_eq!(held.await.unwrap(), 200);
    // Once it is free, requests go through again.
    assert_eq!(
        http.get(format!("{base}/single"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
