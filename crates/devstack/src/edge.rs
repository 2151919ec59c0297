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
    pub events: Arc<events::EventBridge>,
    pub cognito: Arc<cognito::Cognito>,
    pub http: reqwest::Client,
    pub stack: Arc<template::model::Stack>,
}

pub fn router(state: Arc<EdgeState>, lambda: &lambda::LambdaService) -> Router {
    let aws = Router::new()
        .route("/", post(aws_json))
        .route("/_devstack/health", get(health))
        .route("/_devstack/stack", get(stack))
        .route("/_devstack/token", post(token))
        .route("/_devstack/cognito/messages", get(messages))
        .route("/{pool}/.well-known/jwks.json", get(jwks))
        .route(
            "/{pool}/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .fallback(unknown)
        .with_state(state);
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
        "DynamoDB_20120810" => proxy(&state, &state.dynamodb, &headers, body).await,
        "AWSEvents" => answer(&state.events.dispatch(operation, &body)),
        "AWSCognitoIdentityProviderService" => answer(&state.cognito.dispatch(operation, &body)),
        _ => aws_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("devstack does not implement the service of X-Amz-Target {target}"),
        ),
    }
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
        Ok(resp) => {
            let status = resp.status();
            let mut out = HeaderMap::new();
            for (k, v) in resp.headers() {
                if matches!(
                    k.as_str(),
                    "content-type" | "x-amzn-requestid" | "x-amz-crc32" | "x-amzn-errortype"
                ) {
                    out.insert(k.clone(), v.clone());
                }
            }
            let bytes = resp.bytes().await.unwrap_or_default();
            let mut r = (status, Body::from(bytes)).into_response();
            r.headers_mut().extend(out);
            r
        }
        Err(e) => aws_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &e.to_string(),
        ),
    }
}
