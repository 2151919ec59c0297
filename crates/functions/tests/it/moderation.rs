//! The moderation check, with the URL safety API up, flagging, and down.

use functions::handlers::moderate_check::{CheckInput, CheckOutput, ModerateCheck, SafeBrowsing};
use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn input(target: &str) -> CheckInput {
    CheckInput {
        code: "abc1234".into(),
        target: target.into(),
    }
}

fn check(server: &MockServer) -> ModerateCheck {
    ModerateCheck::new(
        "malware, phishing,evil",
        Some(SafeBrowsing {
            endpoint: server.uri(),
            api_key: "test-key".into(),
            http: reqwest::Client::new(),
        }),
    )
}

#[tokio::test]
async fn blocklisted_words_are_rejected_without_asking_the_api() {
    let server = MockServer::start().await;
    let out = check(&server)
        .check(input("https://free-PHISHING.example/"))
        .await
        .unwrap();
    assert_eq!(
        out,
        CheckOutput {
            code: "abc1234".into(),
            target: "https://free-PHISHING.example/".into(),
            safe: false,
            reason: Some("blocklisted word \"phishing\"".into()),
        }
    );
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_api_answering_no_match_means_safe() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v4/threatMatches:find"))
        .and(query_param("key", "test-key"))
        .and(body_partial_json(
            json!({"threatInfo": {"threatEntries": [{"url": "https://fine.example/"}]}}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .expect(1)
        .mount(&server)
        .await;
    let out = check(&server)
        .check(input("https://fine.example/"))
        .await
        .unwrap();
    assert!(out.safe);
    assert_eq!(out.reason, None);
    // The state machine's Choice reads $.safe; the output is exactly this JSON.
    insta::assert_json_snapshot!("moderation_safe", out);
}

#[tokio::test]
async fn a_match_from_the_api_means_unsafe() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v4/threatMatches:find"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "matches": [{
                "threatType": "SOCIAL_ENGINEERING", "platformType": "ANY_PLATFORM",
                "threat": {"url": "https://login-verify.example/"}, "cacheDuration": "300s",
                "threatEntryType": "URL"
            }]
        })))
        .mount(&server)
        .await;
    let out = check(&server)
        .check(input("https://login-verify.example/"))
        .await
        .unwrap();
    assert!(!out.safe);
    assert_eq!(
        out.reason.as_deref(),
        Some("flagged by the URL safety API: SOCIAL_ENGINEERING")
    );
}

#[tokio::test]
async fn the_api_down_is_an_error_never_a_pass() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("backend unavailable"))
        .mount(&server)
        .await;
    let err = check(&server)
        .check(input("https://fine.example/"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the URL safety API answered 503: backend unavailable"
    );

    // Nothing listening at all.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let unreachable = ModerateCheck::new(
        "",
        Some(SafeBrowsing {
            endpoint: closed,
            api_key: "k".into(),
            http: reqwest::Client::new(),
        }),
    );
    let err = unreachable
        .check(input("https://fine.example/"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the URL safety API could not be reached"),
        "{err}"
    );
}

#[tokio::test]
async fn without_an_api_key_only_the_blocklist_applies() {
    let out = ModerateCheck::new("evil", None)
        .check(input("https://good.example/"))
        .await
        .unwrap();
    assert!(out.safe);
}
