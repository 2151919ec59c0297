//! The edge port: every AWS API devstack implements, told apart the way AWS's own endpoints
//! are (the `X-Amz-Target` header of JSON protocols, the path of REST ones), plus the Lambda
//! Runtime API and devstack's admin API under `/_devstack/`. CORS is open so a browser page
//! (the dashboard) can call it.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;

pub struct EdgeState {
    /// The endpoints, for `/_devstack/health`.
    pub endpoints: serde_json::Value,
    pub dynamodb: String,
    /// The DynamoDB engine, for the GetItems the edge answers itself (none when external).
    pub dynamodb_engine: Option<dynoxide::Database>,
    /// `--dynamodb-endpoint`: DynamoDB requests are re-signed and forwarded there.
    pub dynamodb_external: Option<Arc<crate::external::Endpoint>>,
    /// `--sqs-endpoint`: SQS requests are re-signed and forwarded there.
    pub external_sqs: Option<Arc<crate::external::RemoteSqs>>,
    /// TransactWriteItems' `ClientRequestToken`s, kept here rather than in the engine.
    pub tokens: Arc<crate::idempotency::Ledger>,
    pub events: Arc<events::EventBridge>,
    pub sqs: Arc<sqs::Sqs>,
    pub chaos: Arc<chaos::Chaos>,
    pub clock: clock::SharedClock,
    pub manual_clock: Option<Arc<clock::ManualClock>>,
    /// Told when the clock moves; asked whether the stack has settled.
    pub activity: Arc<crate::wiring::Activity>,
    pub cognito: Arc<cognito::Cognito>,
    pub states: Arc<states::StepFunctions>,
    pub http: reqwest::Client,
    pub stack: Arc<template::model::Stack>,
    /// The static site under `/dashboard/` (`--site`).
    pub site: Option<Arc<crate::site::Site>>,
}

pub fn router(state: Arc<EdgeState>, lambda: &lambda::LambdaService) -> Router {
    let site = state.site.clone();
    let aws = Router::new()
        .route("/", post(aws_json))
        .route("/_devstack/health", get(health))
        .route("/_devstack/stack", get(stack))
        .route("/_devstack/token", post(token))
        .route("/_devstack/cognito/messages", get(messages))
        .route("/_devstack/clock", get(clock_now).post(clock_move))
        .route("/_devstack/chaos", axum::routing::any(chaos_admin))
        .route("/_devstack/chaos/{*rest}", axum::routing::any(chaos_admin))
        .route("/_devstack/queues", get(queues))
        .route("/_devstack/journal", get(journal))
        .route("/_devstack/settle", post(settle))
        .route("/_devstack/queues/{name}/messages", get(peek))
        .route("/{pool}/.well-known/jwks.json", get(jwks))
        .route(
            "/{pool}/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .fallback(unknown)
        .with_state(state);
    let aws = match site {
        Some(site) => aws.merge(crate::site::router(site)),
        None => aws,
    };
    aws.merge(lambda.runtime_router())
        .merge(lambda::api::router(lambda.clone()))
        .layer(middleware::from_fn(cors))
}

/// Browsers may call every API from any origin: devstack is a local tool.
async fn cors(req: Request, next: Next) -> Response {
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key("access-control-request-method");
    let requested = req.headers().get("access-control-request-headers").cloned();
    let mut resp = if preflight {
        StatusCode::OK.into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("*"),
    );
    if preflight {
        h.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("GET,POST,PUT,PATCH,DELETE,OPTIONS"),
        );
        h.insert(
            "access-control-allow-headers",
            requested.unwrap_or_else(|| HeaderValue::from_static("*")),
        );
        h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    }
    resp
}

fn aws_error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut r = (
        status,
        Body::from(json!({"__type": code, "message": message}).to_string()),
    )
        .into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(code) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

async fn unknown(req: Request) -> Response {
    aws_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        &format!(
            "devstack has no API at {} {}",
            req.method(),
            req.uri().path()
        ),
    )
}

async fn health(State(state): State<Arc<EdgeState>>) -> Response {
    let mut v = state.endpoints.clone();
    v["status"] = json!("ok");
    axum::Json(v).into_response()
}

async fn stack(State(state): State<Arc<EdgeState>>) -> Response {
    axum::Json(serde_json::to_value(&*state.stack).unwrap_or_default()).into_response()
}

async fn jwks(State(state): State<Arc<EdgeState>>, Path(pool): Path<String>) -> Response {
    match state.cognito.jwks(&pool) {
        Some(v) => axum::Json(v).into_response(),
        None => aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("User pool {pool} does not exist."),
        ),
    }
}

async fn openid_configuration(
    State(state): State<Arc<EdgeState>>,
    Path(pool): Path<String>,
) -> Response {
    match state.cognito.openid_configuration(&pool) {
        Some(v) => axum::Json(v).into_response(),
        None => aws_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!("User pool {pool} does not exist."),
        ),
    }
}

#[derive(serde::Deserialize)]
struct TokenRequest {
    user: String,
    #[serde(default)]
    pool: Option<String>,
    #[serde(default)]
    client: Option<String>,
}

/// `devstack token`: tokens for a user of the template's pool (created, confirmed, if new).
async fn token(State(state): State<Arc<EdgeState>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<TokenRequest>(&body) else {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "expected {\"user\": \"...\"}",
        );
    };
    match state
        .cognito
        .token_for(req.pool.as_deref(), req.client.as_deref(), &req.user)
    {
        Ok(t) => axum::Json(json!({
            "IdToken": t.id_token, "AccessToken": t.access_token,
            "RefreshToken": t.refresh_token, "ExpiresIn": t.expires_in,
        }))
        .into_response(),
        Err(e) => aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterException",
            &e.to_string(),
        ),
    }
}

/// What Cognito would have emailed (confirmation codes, temporary passwords), newest last:
/// nothing is delivered locally, so this is where a user signing up finds the code.
async fn messages(State(state): State<Arc<EdgeState>>) -> Response {
    axum::Json(serde_json::to_value(state.cognito.sent_codes()).unwrap_or_default()).into_response()
}

/// An awsJson answer of one of devstack's services.
fn answer(a: &awsjson::Answer) -> Response {
    let mut r = (
        StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Body::from(a.body.to_string()),
    )
        .into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Some(code) = a.error_code()
        && let Ok(v) = HeaderValue::from_str(code)
    {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

/// JSON-protocol APIs, by the service prefix of `X-Amz-Target`.
async fn aws_json(
    State(state): State<Arc<EdgeState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) else {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "a POST to / needs an X-Amz-Target header naming the operation",
        );
    };
    let (service, operation) = target.split_once('.').unwrap_or((target, ""));
    match service {
        "DynamoDB_20120810" => {
            if let Some(r) = dynamodb_fault(&state, operation, &body) {
                return r;
            }
            // An external DynamoDB keeps its own ClientRequestTokens.
            if let Some(external) = &state.dynamodb_external {
                return forward(external, &headers, body).await;
            }
            if operation == "GetItem"
                && let Some(engine) = &state.dynamodb_engine
                && let Some(json) =
                    crate::dynamo::get_item_here(engine, &headers, uri.query(), &body)
            {
                return dynamodb_answer(StatusCode::OK, json);
            }
            if operation == "TransactWriteItems" {
                return transact_write(state.clone(), headers, body).await;
            }
            proxy(&state, &state.dynamodb, &headers, body).await
        }
        "AWSEvents" => answer(&state.events.dispatch(operation, &body)),
        "AmazonSQS" => match &state.external_sqs {
            Some(remote) => {
                let r = forward(&remote.endpoint, &headers, body).await;
                // A send may have made a message visible: the pollers look at once.
                remote.poke();
                r
            }
            None => sqs_answer(&state.sqs.dispatch(operation, &body).await),
        },
        "AWSCognitoIdentityProviderService" => answer(&state.cognito.dispatch(operation, &body)),
        "AWSStepFunctions" => {
            let mut r = answer(&state.states.dispatch(operation, &body));
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.0"),
            );
            r
        }
        _ => aws_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("devstack does not implement the service of X-Amz-Target {target}"),
        ),
    }
}

/// A TransactWriteItems, with its `ClientRequestToken` honoured by the edge's ledger (see
/// `idempotency.rs`).
async fn transact_write(state: Arc<EdgeState>, headers: HeaderMap, body: Bytes) -> Response {
    use crate::idempotency::Plan;
    match state.tokens.plan(&body).await {
        Plan::PassThrough => proxy(&state, &state.dynamodb, &headers, body).await,
        Plan::Replay => dynamodb_answer(StatusCode::OK, "{}".to_owned()),
        Plan::Mismatch => {
            let (status, json) = crate::idempotency::mismatch();
            dynamodb_answer(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                json,
            )
        }
        Plan::Run { body, claim } => {
            // Its own task: a client that hangs up must not cancel the call between the
            // engine's commit and the ledger's record of it, or the token's retry would run
            // the transaction a second time.
            let run = tokio::spawn(async move {
                let r = proxy(&state, &state.dynamodb, &headers, Bytes::from(body)).await;
                claim.finish(r.status().is_success());
                r
            });
            run.await.unwrap_or_else(|e| {
                aws_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalServerError",
                    &format!("the transaction's task failed: {e}"),
                )
            })
        }
    }
}

/// A DynamoDB answer made in this process, with the headers the engine's server sends: the
/// SDKs check `x-amz-crc32` against the body.
fn dynamodb_answer(status: StatusCode, json: String) -> Response {
    let crc = crc32fast::hash(json.as_bytes()).to_string();
    let mut r = (status, Body::from(json)).into_response();
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    if let Ok(v) = HeaderValue::from_str(&crate::dynamo::request_id()) {
        h.insert("x-amzn-requestid", v);
    }
    if let Ok(v) = HeaderValue::from_str(&crc) {
        h.insert("x-amz-crc32", v);
    }
    r
}

/// Forwards a request to an engine behind the edge and returns its answer as is.
async fn proxy(state: &EdgeState, endpoint: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let mut req = state.http.post(endpoint).body(body);
    for name in [
        "content-type",
        "x-amz-target",
        "accept-encoding",
        "authorization",
        "x-amz-date",
        "date",
        "x-amz-security-token",
    ] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v);
        }
    }
    match req.send().await {
        Ok(resp) => relay(resp).await,
        Err(e) => aws_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &e.to_string(),
        ),
    }
}

/// Forwards a client's JSON-protocol request to an external backend, signed for it with
/// devstack's credentials (the client signed it for the edge), and returns its answer as is.
async fn forward(
    endpoint: &crate::external::Endpoint,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // No accept-encoding: a compressed answer would reach the client without its
    // content-encoding header.
    match endpoint
        .post(
            header("content-type").unwrap_or("application/x-amz-json-1.0"),
            header("x-amz-target").unwrap_or_default(),
            None,
            body,
        )
        .await
    {
        Ok(resp) => relay(resp).await,
        Err(e) => aws_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &e.to_string(),
        ),
    }
}

/// A backend's answer, passed on with the headers the SDKs read.
async fn relay(resp: reqwest::Response) -> Response {
    let status = resp.status();
    let mut out = HeaderMap::new();
    for (k, v) in resp.headers() {
        if matches!(
            k.as_str(),
            "content-type"
                | "x-amzn-requestid"
                | "x-amz-crc32"
                | "x-amzn-errortype"
                | "x-amzn-query-error"
        ) {
            out.insert(k.clone(), v.clone());
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    let mut r = (status, Body::from(bytes)).into_response();
    r.headers_mut().extend(out);
    r
}

/// An SQS answer: awsJson 1.0, and for an error the `x-amzn-query-error` header, which is how
/// the SDKs map it to a typed error (`QueueDoesNotExist`, ...).
fn sqs_answer(a: &awsjson::Answer) -> Response {
    let mut r = answer(a);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(sqs::CONTENT_TYPE));
    if let Some(q) = sqs::query_error(a)
        && let Ok(v) = HeaderValue::from_str(q)
    {
        r.headers_mut().insert("x-amzn-query-error", v);
    }
    r
}

/// A DynamoDB error injected by chaos, answered instead of the engine's.
fn dynamodb_fault(state: &EdgeState, operation: &str, body: &[u8]) -> Option<Response> {
    if !state.chaos.is_active() {
        return None;
    }
    let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    // A transaction names its tables per item; the first names the call.
    let table = request
        .get("TableName")
        .and_then(|t| t.as_str())
        .or_else(|| {
            request
                .get("TransactItems")
                .and_then(|i| i.get(0))
                .and_then(|i| i.as_object())
                .and_then(|o| o.values().next())
                .and_then(|v| v.get("TableName"))
                .and_then(|t| t.as_str())
        })
        .map(str::to_owned);
    let fault = state.chaos.on_dynamodb(table.as_deref(), operation)?;
    let (status, body) = fault.response_body(operation, &request);
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        Body::from(body.to_string()),
    )
        .into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    Some(r)
}

/// `GET /_devstack/clock`: the time every service sees, and whether it is virtual.
async fn clock_now(State(state): State<Arc<EdgeState>>) -> Response {
    axum::Json(json!({
        "now_ms": state.clock.now_ms(),
        "virtual": state.manual_clock.is_some(),
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
struct ClockMove {
    #[serde(default)]
    advance_ms: Option<i64>,
    #[serde(default)]
    set_ms: Option<i64>,
}

/// `POST /_devstack/clock` with `{"advance_ms": N}` or `{"set_ms": T}`: moves the virtual
/// clock forward (never back) and wakes whatever waits on it.
async fn clock_move(State(state): State<Arc<EdgeState>>, body: Bytes) -> Response {
    let Some(m) = &state.manual_clock else {
        return problem(
            StatusCode::CONFLICT,
            "devstack runs on the real clock; start it with --clock virtual to move time",
        );
    };
    let now = match serde_json::from_slice::<ClockMove>(&body) {
        Ok(ClockMove {
            advance_ms: Some(ms),
            set_ms: None,
        }) if ms >= 0 => m.advance(ms),
        Ok(ClockMove {
            advance_ms: None,
            set_ms: Some(t),
        }) if t >= clock::Clock::now_ms(&**m) => m.set(t),
        Ok(ClockMove {
            advance_ms: None,
            set_ms: Some(_),
        }) => {
            // Checked apart from the match above so the error names the cause.
            return problem(
                StatusCode::BAD_REQUEST,
                "set_ms is before the clock's time; the clock only moves forward",
            );
        }
        _ => {
            return problem(
                StatusCode::BAD_REQUEST,
                "expected {\"advance_ms\": N} (N >= 0) or {\"set_ms\": T}",
            );
        }
    };
    state.activity.clock_moved(now);
    axum::Json(json!({"now_ms": now, "virtual": true})).into_response()
}

/// An RFC 9457 problem: devstack's own admin API answers errors this way.
fn problem(status: StatusCode, detail: &str) -> Response {
    let mut r = (
        status,
        Body::from(
            json!({
                "type": "about:blank",
                "title": status.canonical_reason().unwrap_or("Error"),
                "status": status.as_u16(),
                "detail": detail,
            })
            .to_string(),
        ),
    )
        .into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// `/_devstack/chaos/...`: the fault-injection rules at runtime (see `chaos::admin`).
async fn chaos_admin(State(state): State<Arc<EdgeState>>, req: Request) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req
        .uri()
        .path()
        .trim_start_matches("/_devstack/chaos")
        .to_owned();
    let path = if path.is_empty() {
        "/".to_owned()
    } else {
        path
    };
    let body = axum::body::to_bytes(req.into_body(), 1024 * 1024)
        .await
        .unwrap_or_default();
    let a = state.chaos.admin(&method, &path, &body);
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_success() {
        (status, axum::Json(a.body)).into_response()
    } else {
        let detail = a
            .body
            .get("message")
            .and_then(|m| m.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| a.body.to_string());
        problem(status, &detail)
    }
}

/// `GET /_devstack/queues`: every queue's depth, in flight and delayed counts, and its DLQ.
async fn queues(State(state): State<Arc<EdgeState>>) -> Response {
    if let Some(remote) = &state.external_sqs {
        return external_queues(&state, remote).await;
    }
    let list = match state.sqs.list_queues() {
        Ok(l) => l,
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let mut out = Vec::new();
    for q in list {
        let stats = state.sqs.stats(&q.name).unwrap_or_default();
        let attrs = state
            .sqs
            .queue_attributes(&q.name, &["RedrivePolicy"])
            .unwrap_or_default();
        let dlq = attrs
            .get("RedrivePolicy")
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|p| {
                p.get("deadLetterTargetArn")
                    .and_then(|a| a.as_str())
                    .map(str::to_owned)
            });
        out.push(json!({
            "name": q.name, "url": q.url, "arn": q.arn,
            "visible": stats.visible, "in_flight": stats.in_flight, "delayed": stats.delayed,
            "dead_letter_queue": dlq,
        }));
    }
    axum::Json(json!({ "queues": out })).into_response()
}

/// `GET /_devstack/queues` with an external SQS: the stack's queues, as the backend counts
/// their messages.
async fn external_queues(state: &EdgeState, remote: &crate::external::RemoteSqs) -> Response {
    let mut out = Vec::new();
    for q in state.stack.queues.iter().filter(|q| !q.fifo) {
        let (url, arn) = match remote.queue(&q.name) {
            Ok(names) => names,
            Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        let stats = match remote.stats(&q.name).await {
            Ok(s) => s,
            Err(e) => return problem(StatusCode::BAD_GATEWAY, &e.to_string()),
        };
        let dlq = q
            .redrive
            .as_ref()
            .and_then(|r| remote.queue(&r.dead_letter_arn).ok())
            .map(|(_, arn)| arn);
        out.push(json!({
            "name": q.name, "url": url, "arn": arn,
            "visible": stats.visible, "in_flight": stats.in_flight, "delayed": stats.delayed,
            "dead_letter_queue": dlq,
        }));
    }
    axum::Json(json!({ "queues": out })).into_response()
}

/// `GET /_devstack/journal`: the journal's lines (JSONL).
async fn journal(State(state): State<Arc<EdgeState>>) -> Response {
    let j = state.chaos.journal();
    let bytes = match j.path() {
        Some(p) => std::fs::read(p).unwrap_or_default(),
        None => j.contents(),
    };
    let mut r = (StatusCode::OK, Body::from(bytes)).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

#[derive(serde::Deserialize)]
struct Settle {
    #[serde(default = "default_settle_ms")]
    timeout_ms: u64,
}

fn default_settle_ms() -> u64 {
    10_000
}

/// `POST /_devstack/settle`: waits until the event source mappings are idle (no batch in
/// flight, no visible message in a mapped queue) and no Step Functions execution can progress
/// without the clock moving, up to `timeout_ms`; 200 when idle, 408 not.
async fn settle(State(state): State<Arc<EdgeState>>, body: Bytes) -> Response {
    let s: Settle = serde_json::from_slice(&body).unwrap_or(Settle {
        timeout_ms: default_settle_ms(),
    });
    let deadline = std::time::Duration::from_millis(s.timeout_ms);
    match state.activity.settle(deadline).await {
        true => axum::Json(json!({"idle": true})).into_response(),
        false => problem(
            StatusCode::REQUEST_TIMEOUT,
            "the event source mappings or Step Functions executions are still busy",
        ),
    }
}

#[derive(serde::Deserialize)]
struct PeekQuery {
    #[serde(default = "default_peek")]
    n: usize,
}

fn default_peek() -> usize {
    10
}

/// `GET /_devstack/queues/{name}/messages?n=N`: up to N (default 10, at most 1000) of the
/// queue's messages, oldest first, whatever their visibility, without receiving them (for
/// `devstack dlq peek`).
async fn peek(
    State(state): State<Arc<EdgeState>>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<PeekQuery>,
) -> Response {
    if state.external_sqs.is_some() {
        return problem(
            StatusCode::NOT_IMPLEMENTED,
            "the queues are in an external SQS (--sqs-endpoint), which offers no way to look at \
             messages without receiving them; use its own tools",
        );
    }
    let messages = match state.sqs.peek(&name, q.n.clamp(1, 1000)) {
        Ok(m) => m,
        Err(sqs::SqsError::QueueDoesNotExist) => {
            return problem(StatusCode::NOT_FOUND, &format!("no queue {name}"));
        }
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let out: Vec<serde_json::Value> = messages
        .into_iter()
        .map(|m| {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .message_attributes
                .iter()
                .map(|(k, a)| {
                    let value = match &a.value {
                        sqs::AttributeValue::String(s) => json!(s),
                        sqs::AttributeValue::Binary(b) => json!(format!("({} bytes)", b.len())),
                    };
                    (k.clone(), json!({"data_type": a.data_type, "value": value}))
                })
                .collect();
            json!({
                "message_id": m.message_id,
                "body": m.body,
                "sent_timestamp": m.sent_timestamp,
                "receive_count": m.receive_count,
                "visible_at": m.visible_at,
                "dead_letter_source_arn": m.dead_letter_source_arn,
                "message_attributes": attributes,
            })
        })
        .collect();
    axum::Json(json!({"queue": name, "messages": out})).into_response()
}
