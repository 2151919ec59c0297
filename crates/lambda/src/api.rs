//! The Lambda REST API that tools use against devstack's edge port: `Invoke` (RequestResponse,
//! Event, DryRun), `GetFunction`, `GetFunctionConfiguration` and `ListFunctions`, with the
//! error shapes the AWS SDKs and CLI parse (`x-amzn-ErrorType` plus a JSON body).

use crate::service::{FunctionConfig, InvokeError, InvokeRequest, LambdaService};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

/// Lambda's synchronous request payload limit.
const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// `X-Amz-Log-Result` carries the last 4 KB of the invocation's log.
const LOG_TAIL: usize = 4096;

pub fn router(svc: LambdaService) -> Router {
    Router::new()
        .route("/2015-03-31/functions", get(list))
        .route("/2015-03-31/functions/", get(list))
        .route("/2015-03-31/functions/{name}", get(get_function))
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(get_configuration),
        )
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD + 1024))
        .with_state(svc)
}

#[derive(Deserialize, Default)]
struct Qualifier {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

/// An AWS-shaped error response.
pub fn aws_error(status: StatusCode, code: &str, message: &str, extra: Value) -> Response {
    let mut body = json!({"Type": "User", "message": message});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let mut r = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(code) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

fn invoke_error(svc: &LambdaService, e: &InvokeError) -> Response {
    match e {
        InvokeError::NotFound(name) => {
            let arn = if name.starts_with("arn:") {
                name.clone()
            } else {
                let sample = svc
                    .functions()
                    .next()
                    .map(|f| f.arn.clone())
                    .unwrap_or_default();
                match sample.rsplit_once(':') {
                    Some((prefix, _)) => format!("{prefix}:{name}"),
                    None => name.clone(),
                }
            };
            aws_error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                &format!("Function not found: {arn}"),
                json!({}),
            )
        }
        InvokeError::Throttled { reserved } => aws_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Rate Exceeded.",
            json!({"Reason": if *reserved { "ReservedFunctionConcurrentInvocationLimitExceeded" } else { "ConcurrentInvocationLimitExceeded" }}),
        ),
        InvokeError::Invalid(m) => aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValueException",
            m,
            json!({}),
        ),
        InvokeError::ShuttingDown => aws_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceException",
            "devstack is shutting down",
            json!({}),
        ),
    }
}

async fn invoke(
    State(svc): State<LambdaService>,
    Path(name): Path<String>,
    Query(q): Query<Qualifier>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_PAYLOAD {
        return aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &format!(
                "Request must be smaller than {MAX_PAYLOAD} bytes for the InvokeFunction operation"
            ),
            json!({}),
        );
    }
    let payload = if body.iter().all(u8::is_ascii_whitespace) {
        Bytes::from_static(b"{}")
    } else if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestContentException",
            "Could not parse request body into json: the payload is not valid JSON",
            json!({}),
        );
    } else {
        body
    };
    let client_context = match headers
        .get("x-amz-client-context")
        .and_then(|v| v.to_str().ok())
    {
        None => None,
        Some(b64) => match B64.decode(b64).ok().and_then(|d| String::from_utf8(d).ok()) {
            Some(text) if serde_json::from_str::<Value>(&text).is_ok() => Some(text),
            _ => {
                return aws_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    "Client context must be a valid Base64-encoded JSON object.",
                    json!({}),
                );
            }
        },
    };
    let tail = headers.get("x-amz-log-type").and_then(|v| v.to_str().ok()) == Some("Tail");
    let req = InvokeRequest {
        function: name,
        qualifier: q.qualifier,
        payload,
        client_context,
        tail_logs: tail,
        fault: None,
    };
    let kind = headers
        .get("x-amz-invocation-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("RequestResponse");
    match kind {
        "RequestResponse" => {}
        "Event" => {
            return match svc.invoke_async(req) {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(e) => invoke_error(&svc, &e),
            };
        }
        "DryRun" => {
            return match svc.function(&req.function) {
                Ok(_) => StatusCode::NO_CONTENT.into_response(),
                Err(e) => invoke_error(&svc, &e),
            };
        }
        other => {
            return aws_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("Unsupported invocation type {other}"),
                json!({}),
            );
        }
    }
    match svc.invoke(req).await {
        Ok(done) => {
            let mut r = (StatusCode::OK, done.payload).into_response();
            let h = r.headers_mut();
            h.insert("content-type", HeaderValue::from_static("application/json"));
            h.insert(
                "x-amz-executed-version",
                HeaderValue::from_static("$LATEST"),
            );
            if let Ok(v) = HeaderValue::from_str(&done.request_id) {
                h.insert("x-amzn-requestid", v);
            }
            if done.function_error.is_some() {
                h.insert(
                    "x-amz-function-error",
                    HeaderValue::from_static("Unhandled"),
                );
            }
            if tail {
                let text = done.logs.join("\n") + "\n";
                let start = text.len().saturating_sub(LOG_TAIL);
                let start = (start..text.len())
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(text.len());
                if let Ok(v) = HeaderValue::from_str(&B64.encode(&text[start..])) {
                    h.insert("x-amz-log-result", v);
                }
            }
            r
        }
        Err(e) => invoke_error(&svc, &e),
    }
}

pub fn configuration(c: &FunctionConfig) -> Value {
    let size = c
        .executable
        .as_ref()
        .and_then(|e| std::fs::metadata(e).ok())
        .map_or(0, |m| m.len());
    let mut log = json!({"LogGroup": format!("/aws/lambda/{}", c.name)});
    if let Some(f) = c.environment.get("AWS_LAMBDA_LOG_FORMAT") {
        log["LogFormat"] = json!(f);
    }
    json!({
        "FunctionName": c.name,
        "FunctionArn": c.arn,
        "Runtime": c.runtime,
        "Role": "arn:aws:iam::000000000000:role/devstack",
        "Handler": c.handler,
        "CodeSize": size,
        "Description": "",
        "Timeout": c.timeout_secs,
        "MemorySize": c.memory_mb,
        "LastModified": "1970-01-01T00:00:00.000+0000",
        "CodeSha256": "",
        "Version": "$LATEST",
        "Environment": {"Variables": c.environment},
        "TracingConfig": {"Mode": "PassThrough"},
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": [std::env::consts::ARCH.replace("aarch64", "arm64")],
        "EphemeralStorage": {"Size": 512},
        "LoggingConfig": log,
    })
}

async fn list(State(svc): State<LambdaService>) -> Response {
    let functions: Vec<Value> = svc.functions().map(configuration).collect();
    axum::Json(json!({ "Functions": functions })).into_response()
}

async fn get_function(State(svc): State<LambdaService>, Path(name): Path<String>) -> Response {
    match svc.function(&name) {
        Ok(c) => axum::Json(json!({
            "Configuration": configuration(&c),
            "Code": {"RepositoryType": "S3", "Location": c.executable.map(|e| e.display().to_string()).unwrap_or_default()},
            "Tags": {},
        }))
        .into_response(),
        Err(e) => invoke_error(&svc, &e),
    }
}

async fn get_configuration(State(svc): State<LambdaService>, Path(name): Path<String>) -> Response {
    match svc.function(&name) {
        Ok(c) => axum::Json(configuration(&c)).into_response(),
        Err(e) => invoke_error(&svc, &e),
    }
}
