//! The Lambda Runtime API, as `lambda_runtime` 1.x uses it, under a per-instance base path:
//! `AWS_LAMBDA_RUNTIME_API=host:port/_runtime/{function}/{instance}` (or `.../attached` for a
//! process the user runs). The base path tells us which instance is polling, so an instance's
//! crash fails exactly the invocation it held.

use crate::service::{LambdaService, Outcome, epoch_ms};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

/// Responses and errors up to Lambda's 6 MB synchronous payload limit, with room for
/// envelope overhead.
const BODY_LIMIT: usize = 7 * 1024 * 1024;

impl LambdaService {
    /// The Runtime API, to be served at [`crate::Settings::runtime_api_host`].
    pub fn runtime_router(&self) -> Router {
        Router::new()
            .route(
                "/_runtime/{function}/{instance}/2018-06-01/runtime/invocation/next",
                get(next),
            )
            .route(
                "/_runtime/{function}/{instance}/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route(
                "/_runtime/{function}/{instance}/2018-06-01/runtime/invocation/{id}/error",
                post(error),
            )
            .route(
                "/_runtime/{function}/{instance}/2018-06-01/runtime/init/error",
                post(init_error),
            )
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(self.clone())
    }
}

/// `Some(None)` for an attached poller, `Some(Some(id))` for an instance, None if malformed.
fn instance_id(raw: &str) -> Option<Option<u64>> {
    if raw == "attached" {
        return Some(None);
    }
    raw.parse().ok().map(Some)
}

fn not_found(msg: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"errorType": "ResourceNotFound", "errorMessage": msg})),
    )
        .into_response()
}

fn invalid_request_id(id: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"errorType": "InvalidRequestID", "errorMessage": format!("Invalid request ID: {id}")})),
    )
        .into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

async fn next(
    State(svc): State<LambdaService>,
    Path((function, instance)): Path<(String, String)>,
) -> Response {
    let Some(instance) = instance_id(&instance) else {
        return not_found("no such instance");
    };
    // Long poll: this waits for as long as the function has nothing to do. Never 204: the Rust
    // runtime treats any answer without a request id as fatal.
    let Some(inv) = svc.next(&function, instance).await else {
        return not_found("no such function or instance");
    };
    let mut h = HeaderMap::new();
    let put = |h: &mut HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    put(&mut h, "lambda-runtime-aws-request-id", &inv.id);
    put(
        &mut h,
        "lambda-runtime-deadline-ms",
        &inv.deadline_ms
            .lock()
            .map(|d| *d)
            .unwrap_or_else(|_| epoch_ms())
            .to_string(),
    );
    put(
        &mut h,
        "lambda-runtime-invoked-function-arn",
        &inv.invoked_arn,
    );
    put(&mut h, "lambda-runtime-trace-id", &inv.trace_id);
    if let Some(cc) = &inv.client_context {
        put(&mut h, "lambda-runtime-client-context", cc);
    }
    h.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, h, inv.payload.clone()).into_response()
}

async fn response(
    State(svc): State<LambdaService>,
    Path((function, _instance, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    match svc.complete(&function, &id, Outcome::Response(body)) {
        Ok(()) => accepted(),
        Err(()) => invalid_request_id(&id),
    }
}

async fn error(
    State(svc): State<LambdaService>,
    Path((function, _instance, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let error_type = error_type(&headers, &body);
    match svc.complete(
        &function,
        &id,
        Outcome::Error {
            error_type,
            payload: body,
        },
    ) {
        Ok(()) => accepted(),
        Err(()) => invalid_request_id(&id),
    }
}

async fn init_error(
    State(svc): State<LambdaService>,
    Path((function, instance)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(instance) = instance_id(&instance) else {
        return not_found("no such instance");
    };
    let error_type = error_type(&headers, &body);
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    svc.init_error(&function, instance, error_type, message);
    accepted()
}

/// The error type: the body's `errorType` (what the payload reports), else the
/// `Lambda-Runtime-Function-Error-Type` header, else `Unhandled`.
fn error_type(headers: &HeaderMap, body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("errorType")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "Unhandled".into())
}
