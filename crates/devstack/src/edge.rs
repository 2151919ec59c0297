//! The edge port: every AWS API devstack implements, told apart the way AWS's own endpoints
//! are (the `X-Amz-Target` header of JSON protocols, the path of REST ones), plus the Lambda
//! Runtime API and devstack's admin API under `/_devstack/`. CORS is open so a browser page
//! (the dashboard) can call it.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;

pub struct EdgeState {
    pub dynamodb: String,
    pub events: Arc<events::EventBridge>,
    pub http: reqwest::Client,
    pub stack: Arc<template::model::Stack>,
}

pub fn router(state: Arc<EdgeState>, lambda: &lambda::LambdaService) -> Router {
    let aws = Router::new()
        .route("/", post(aws_json))
        .route(
            "/_devstack/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/_devstack/stack", get(stack))
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

async fn stack(State(state): State<Arc<EdgeState>>) -> Response {
    axum::Json(serde_json::to_value(&*state.stack).unwrap_or_default()).into_response()
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
        "AWSEvents" => {
            let a = state.events.dispatch(operation, &body);
            let mut r = (
                StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Body::from(a.body.to_string()),
            )
                .into_response();
            r.headers_mut().insert(
                "content-type",
                HeaderValue::from_static("application/x-amz-json-1.1"),
            );
            if let Some(code) = a.body.get("__type").and_then(|c| c.as_str())
                && let Ok(v) = HeaderValue::from_str(code)
            {
                r.headers_mut().insert("x-amzn-errortype", v);
            }
            r
        }
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
