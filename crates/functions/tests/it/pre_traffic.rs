//! The PreTraffic hook: it resolves the canary link through the new version of the redirect
//! function (Lambda's Invoke API, faked; in the passing case answered by the real
//! `ResolveLink` against the test table) and reports the verdict to CodeDeploy (faked).

use crate::support::*;
use domain::ShortCode;
use domain::code::CANARY;
use functions::handlers::pre_traffic::{
    CANARY_TARGET, HookEvent, HookReport, PreTraffic, USER_AGENT, canary_link,
};
use functions::handlers::resolve_link::ResolveLink;
use functions::metrics::{Metrics, Sink};
use functions::publish::Publisher;
use functions::store::Store;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use wiremock::matchers::{header, method, path_regex};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

const VERSION: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:url-shortener-ResolveLinkFunction:7";
const DEPLOYMENT: &str = "d-ABCDEFGHI";
const EXECUTION: &str = "eyJlbmNyeXB0ZWREYXRhIjoiY2FuYXJ5In0=";
const REPORT_TARGET: &str = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus";

/// The event as CodeDeploy sends it, through the runtime's deserialisation.
fn hook_event() -> HookEvent {
    serde_json::from_value(json!({
        "DeploymentId": DEPLOYMENT,
        "LifecycleEventHookExecutionId": EXECUTION,
    }))
    .unwrap()
}

/// The Invoke API answering with the real redirect function: each payload is run through
/// `ResolveLink`, built against the test stack, by lambda_http's adapter as the runtime runs it.
struct RealResolve {
    ddb_endpoint: String,
    table: String,
    bus: String,
    metrics: Arc<Mutex<Vec<Value>>>,
}

impl Respond for RealResolve {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let event: Value = serde_json::from_slice(&req.body).unwrap();
        // wiremock answers inside its own runtime, which cannot block on the handler: the
        // handler gets a runtime of its own on another thread.
        let out = std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        let h = ResolveLink {
                            store: Store::new(
                                aws_sdk_dynamodb::Client::new(&sdk(&self.ddb_endpoint)),
                                &self.table,
                            ),
                            publisher: Publisher::new(
                                aws_sdk_eventbridge::Client::new(&sdk(&self.bus)),
                                "url-shortener-events",
                            ),
                            metrics: Metrics::new(
                                "UrlShortener",
                                "url-shortener",
                                Sink::Memory(self.metrics.clone()),
                            ),
                        };
                        invoke_http(|q| h.handle(q), event)
                            .await
                            .map_err(|e| e.to_string())
                    })
            })
            .join()
            .unwrap()
        });
        match out {
            Ok(answer) => invoked(answer),
            Err(e) => function_error(&e),
        }
    }
}

/// A successful Invoke whose function answered `payload`.
fn invoked(payload: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/json")
        .insert_header("x-amz-executed-version", "7")
        .set_body_json(payload)
}

/// An Invoke whose function failed: Lambda answers 200 with X-Amz-Function-Error.
fn function_error(message: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "application/json")
        .insert_header("x-amz-executed-version", "7")
        .insert_header("x-amz-function-error", "Unhandled")
        .set_body_json(json!({"errorType": "Runtime.ExitError", "errorMessage": message}))
}

async fn lambda_answering(answer: impl Respond + 'static) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/2015-03-31/functions/[^/]+/invocations$"))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

async fn real_resolve(stack: &Stack) -> MockServer {
    lambda_answering(RealResolve {
        ddb_endpoint: stack.ddb_endpoint.clone(),
        table: stack.table.clone(),
        bus: stack.bus.uri(),
        metrics: stack.metrics_buf.clone(),
    })
    .await
}

/// CodeDeploy, accepting every report (or refusing them all with `status`).
async fn codedeploy(status: u16) -> MockServer {
    let server = MockServer::start().await;
    let answer = if status == 200 {
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_json(json!({"lifecycleEventHookExecutionId": EXECUTION}))
    } else {
        ResponseTemplate::new(status)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_json(json!({
                "__type": "DeploymentDoesNotExistException",
                "message": "The deployment d-ABCDEFGHI could not be found",
            }))
    };
    Mock::given(method("POST"))
        .and(header("x-amz-target", REPORT_TARGET))
        .respond_with(answer)
        .mount(&server)
        .await;
    server
}

/// The bodies CodeDeploy received.
async fn reports(codedeploy: &MockServer) -> Vec<Value> {
    codedeploy
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

fn report(status: &str) -> Value {
    json!({
        "deploymentId": DEPLOYMENT,
        "lifecycleEventHookExecutionId": EXECUTION,
        "status": status,
    })
}

fn hook(stack: &Stack, lambda: &MockServer, codedeploy: &MockServer) -> PreTraffic {
    PreTraffic {
        store: stack.store(),
        lambda: aws_sdk_lambda::Client::new(&sdk(&lambda.uri())),
        codedeploy: aws_sdk_codedeploy::Client::new(&sdk(&codedeploy.uri())),
        target_version: VERSION.into(),
    }
}

async fn run(h: &PreTraffic) -> HookReport {
    h.handle(LambdaEvent::new(hook_event(), Context::default()))
        .await
        .expect("the report reached CodeDeploy")
}

#[tokio::test]
async fn a_new_version_that_redirects_the_canary_succeeds() {
    let stack = Stack::start().await;
    let lambda = real_resolve(&stack).await;
    let cd = codedeploy(200).await;
    let h = hook(&stack, &lambda, &cd);

    let out = run(&h).await;
    assert_eq!(
        out,
        HookReport {
            status: "Succeeded".into(),
            reason: None
        }
    );
    assert_eq!(reports(&cd).await, vec![report("Succeeded")]);

    // The version under test was invoked, not the function or its alias.
    let invokes = lambda.received_requests().await.unwrap();
    assert_eq!(invokes.len(), 1);
    assert_eq!(
        invokes[0].url.path(),
        format!(
            "/2015-03-31/functions/{}/invocations",
            VERSION.replace(':', "%3A")
        )
    );
    // The canary link is in the table, active, owned by no user.
    let stored = stack
        .store()
        .get_link(&ShortCode::canary(), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, canary_link());
    assert_eq!(stored.target.as_str(), CANARY_TARGET);
    // Its click is published like any other, recognisable by its user agent, with a click id
    // derived from the hook execution: a retried hook's click is the same click.
    let clicks = stack.published_clicks().await;
    assert_eq!(clicks.len(), 1);
    assert_eq!(clicks[0]["code"], CANARY);
    assert_eq!(clicks[0]["userAgent"], USER_AGENT);
    assert_eq!(clicks[0]["linkCreatedAt"], 0);
    assert_eq!(
        clicks[0]["clickId"],
        domain::ClickEvent::click_id_for(&format!("pre-traffic-{EXECUTION}"))
    );

    // The aggregator counts it on the canary link alone.
    let counted = aggregate(&stack.aggregator(), stack.click_batch().await).await;
    assert_eq!(failures(&counted), Vec::<String>::new());
    let after = stack
        .store()
        .get_link(&ShortCode::canary(), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.clicks, 1);

    // The next deployment leaves the link (and its count) as it is.
    run(&h).await;
    let again = stack
        .store()
        .get_link(&ShortCode::canary(), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.clicks, 1);
    assert_eq!(
        reports(&cd).await,
        vec![report("Succeeded"), report("Succeeded")]
    );
}

#[tokio::test]
async fn a_canary_link_changed_by_hand_is_rewritten_before_the_test() {
    let stack = Stack::start().await;
    let mut broken = canary_link();
    broken.status = domain::LinkStatus::Disabled;
    broken.target = domain::TargetUrl::from_stored("https://elsewhere.example/".into());
    broken.clicks = 9;
    stack.store().put_link(&broken).await.unwrap();

    let lambda = real_resolve(&stack).await;
    let cd = codedeploy(200).await;
    assert_eq!(run(&hook(&stack, &lambda, &cd)).await.status, "Succeeded");
    let stored = stack
        .store()
        .get_link(&ShortCode::canary(), true)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored, canary_link());
}

#[tokio::test]
async fn a_new_version_that_answers_an_error_or_the_wrong_redirect_fails() {
    let cases = [
        (
            json!({"statusCode": 500, "headers": {"content-type": "text/plain"}, "body": "boom"}),
            "answered status 500, not a redirect",
        ),
        (
            json!({"statusCode": 404, "headers": {"content-type": "application/problem+json"}, "body": "{}"}),
            "answered status 404, not a redirect",
        ),
        (
            json!({"statusCode": 301, "headers": {"location": "https://evil.example/"}}),
            "redirected to Some(\"https://evil.example/\"), not to the canary target",
        ),
        (
            json!({"statusCode": 302, "headers": {}}),
            "redirected to None, not to the canary target",
        ),
        (json!("ok"), "not an HTTP API response"),
    ];
    for (answer, why) in cases {
        let stack = Stack::start().await;
        let lambda = lambda_answering(invoked(answer.clone())).await;
        let cd = codedeploy(200).await;
        let out = run(&hook(&stack, &lambda, &cd)).await;
        assert_eq!(out.status, "Failed", "{answer}");
        let reason = out.reason.unwrap();
        assert!(reason.starts_with(VERSION), "{reason}");
        assert!(reason.contains(why), "{answer}: {reason}");
        assert_eq!(reports(&cd).await, vec![report("Failed")], "{answer}");
    }
}

#[tokio::test]
async fn a_new_version_that_fails_or_cannot_be_invoked_fails() {
    // The function itself failed (a panic, a crash, an init error): Lambda answers 200 with
    // X-Amz-Function-Error.
    let stack = Stack::start().await;
    let lambda = lambda_answering(function_error("RequestId: 1 Error: Runtime exited")).await;
    let cd = codedeploy(200).await;
    let out = run(&hook(&stack, &lambda, &cd)).await;
    assert_eq!(out.status, "Failed");
    let reason = out.reason.unwrap();
    assert!(reason.contains("failed (Unhandled)"), "{reason}");
    assert!(reason.contains("Runtime exited"), "{reason}");
    assert_eq!(reports(&cd).await, vec![report("Failed")]);

    // The Invoke API refused (the version does not exist, or the hook may not invoke it).
    let lambda = lambda_answering(
        ResponseTemplate::new(404)
            .insert_header("content-type", "application/json")
            .insert_header("x-amzn-errortype", "ResourceNotFoundException")
            .set_body_json(json!({
                "Type": "User",
                "message": format!("Function not found: {VERSION}"),
            })),
    )
    .await;
    let cd = codedeploy(200).await;
    let out = run(&hook(&stack, &lambda, &cd)).await;
    assert_eq!(out.status, "Failed");
    let reason = out.reason.unwrap();
    assert!(
        reason.starts_with(&format!("invoking {VERSION} failed")),
        "{reason}"
    );
    assert!(reason.contains("ResourceNotFoundException"), "{reason}");
    assert_eq!(reports(&cd).await, vec![report("Failed")]);
}

/// A verdict CodeDeploy did not take is an invocation error, so that Lambda's retries of the
/// asynchronous invocation report it again (the hook is safe to repeat).
#[tokio::test]
async fn a_report_codedeploy_refuses_fails_the_invocation() {
    let stack = Stack::start().await;
    let lambda = real_resolve(&stack).await;
    let cd = codedeploy(400).await;
    let e = hook(&stack, &lambda, &cd)
        .handle(LambdaEvent::new(hook_event(), Context::default()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("PutLifecycleEventHookExecutionStatus (Succeeded) failed"),
        "{e}"
    );
    assert!(e.contains("DeploymentDoesNotExistException"), "{e}");
    assert_eq!(reports(&cd).await, vec![report("Succeeded")]);
}

/// The canary's code is served, but no user can take it as an alias.
#[tokio::test]
async fn no_user_can_create_the_canary_code() {
    let stack = Stack::start().await;
    let h = stack.create();
    for alias in [CANARY, "_CANARY"] {
        let r = call(
            |q| h.handle(q),
            Req::owner(ALICE)
                .route("POST", "/links", "/links")
                .json(json!({"url": "https://a.example/", "alias": alias})),
        )
        .await;
        assert_eq!(r.status, 400, "{r:?}");
        assert_eq!(r.problem_type(), "urn:url-shortener:problem:invalid-alias");
    }
}
