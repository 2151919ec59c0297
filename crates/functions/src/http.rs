//! What every HTTP handler needs from an API Gateway v2 request, and the JSON responses it
//! sends.

use crate::problem::{Kind, Problem};
use domain::EpochMillis;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;

fn context(
    req: &Request,
) -> Result<&lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext, Problem> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => Ok(ctx),
        _ => Err(Problem::detail(
            Kind::BadRequest,
            "expected an API Gateway HTTP API (payload 2.0) event",
        )),
    }
}

/// The time the gateway received the request: the "now" of this invocation.
pub fn now(req: &Request) -> Result<EpochMillis, Problem> {
    Ok(EpochMillis(context(req)?.time_epoch))
}

/// The gateway's request id, unique per request.
pub fn request_id(req: &Request) -> Result<String, Problem> {
    context(req)?
        .request_id
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Problem::detail(
                Kind::BadRequest,
                "the event has no requestContext.requestId",
            )
        })
}

/// The caller: the `sub` claim that the gateway's JWT authorizer verified. Never the body.
pub fn owner(req: &Request) -> Result<String, Problem> {
    context(req)?
        .authorizer
        .as_ref()
        .and_then(|a| a.jwt.as_ref())
        .and_then(|j| j.claims.get("sub"))
        .filter(|s| !s.is_empty())
        .cloned()
        .ok_or_else(|| Problem::new(Kind::Unauthorized))
}

pub fn path_param(req: &Request, name: &str) -> Option<String> {
    req.path_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_owned)
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|p| p.first(name))
        .map(str::to_owned)
}

pub fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The body parsed as `T`, plus the raw JSON value (for fingerprints). A missing body, invalid
/// JSON and a wrong shape are each a 400 that says which.
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<(T, serde_json::Value), Problem> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => b"",
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::detail(
            Kind::BadRequest,
            "the request body is empty; a JSON object is expected",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Problem::detail(Kind::BadRequest, format!("the body is not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(Problem::detail(
            Kind::BadRequest,
            "the body must be a JSON object",
        ));
    }
    let parsed = serde_json::from_value(value.clone()).map_err(|e| {
        Problem::detail(
            Kind::BadRequest,
            format!("the body has the wrong shape: {e}"),
        )
    })?;
    Ok((parsed, value))
}

pub fn json(status: u16, value: &impl serde::Serialize) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(serde_json::to_string(value).unwrap_or_default()))
        .expect("static headers are valid")
}

/// Why a request was not served: a problem the client can act on (answered as problem+json),
/// or an internal failure, returned as a Lambda error so that it counts in the function's
/// `Errors` metric, which the canary deployment's alarms watch.
#[derive(Debug)]
pub enum Failure {
    Problem(Problem),
    Internal(lambda_runtime::Error),
}

impl From<Problem> for Failure {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

impl From<Kind> for Failure {
    fn from(k: Kind) -> Self {
        Self::Problem(Problem::new(k))
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// The handler's answer to the runtime.
pub fn finish(
    result: Result<Response<Body>, Failure>,
) -> Result<Response<Body>, lambda_runtime::Error> {
    match result {
        Ok(r) => Ok(r),
        Err(Failure::Problem(p)) => Ok(p.into_response()),
        Err(Failure::Internal(e)) => {
            tracing::error!(error = %e, "request failed");
            Err(e)
        }
    }
}
