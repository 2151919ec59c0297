//! The `@connections` management API at the stage URL, as the `ApiGatewayManagementApi`
//! clients call it: with the stage URL as endpoint, the SDK appends its operation path, so
//! requests arrive at `/{stage}/@connections/{connectionId}` (the id percent-encoded: `=`
//! is `%3D`). restJson1, errors named by `x-amzn-ErrorType`.
//!
//! - `POST`: the body is sent to the client (a text frame if it is UTF-8, else binary);
//!   200 with no body. Above 128 KB: 413 `PayloadTooLargeException`.
//! - `GET`: 200 `{"connectedAt", "identity": {"sourceIp", "userAgent"}, "lastActiveAt"}`
//!   (ISO 8601 times).
//! - `DELETE`: 204; the connection closes and `$disconnect` runs.
//! - A `POST` that the [`super::ConnectionFaults`] hook makes find its connection gone: the
//!   connection is dropped (no close frame, no `$disconnect`) and the `POST` answers 410 as
//!   below; the body is not sent.
//! - An id that is not open (unknown, not yet past `$connect`, closed): 410 `GoneException`
//!   with an empty body, which is what API Gateway sends (its SDKs report the exception with
//!   no message).

use super::WebSocketGateway;
use super::event::Body;
use axum::body::Body as HttpBody;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub(super) async fn handle(gw: &Arc<WebSocketGateway>, req: Request, id: &str) -> Response {
    let method = req.method().clone();
    match method {
        Method::POST => {
            let limit = gw.limits.max_message_bytes;
            let Ok(data) = axum::body::to_bytes(req.into_body(), limit).await else {
                return error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLargeException",
                    Some(&format!("Message too long. Max size is {limit} bytes")),
                );
            };
            let Some(conn) = gw.connection(id) else {
                return gone();
            };
            // Gone under the caller, as a client whose network vanished: only the 410 tells.
            if gw.gone_on_post(id) {
                gw.vanish(id);
                return gone();
            }
            conn.touch(gw.clock.now_ms());
            conn.send(match String::from_utf8(data.to_vec()) {
                Ok(text) => Body::Text(text),
                Err(e) => Body::Binary(e.into_bytes()),
            });
            ok(StatusCode::OK, None)
        }
        Method::GET => {
            let Some(conn) = gw.connection(id) else {
                return gone();
            };
            let info = conn.info();
            let mut identity = Map::new();
            identity.insert("sourceIp".into(), json!(info.source_ip));
            if let Some(ua) = &info.user_agent {
                identity.insert("userAgent".into(), json!(ua));
            }
            ok(
                StatusCode::OK,
                Some(json!({
                    "connectedAt": iso8601(info.connected_at_ms),
                    "identity": identity,
                    "lastActiveAt": iso8601(info.last_active_ms),
                })),
            )
        }
        Method::DELETE => {
            if gw.close_connection(id) {
                ok(StatusCode::NO_CONTENT, None)
            } else {
                gone()
            }
        }
        _ => error(
            StatusCode::FORBIDDEN,
            "ForbiddenException",
            Some("Missing Authentication Token"),
        ),
    }
}

fn iso8601(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn request_id(r: &mut Response) {
    if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
}

fn ok(status: StatusCode, body: Option<Value>) -> Response {
    let mut r = match body {
        Some(b) => {
            let mut r = (status, HttpBody::from(b.to_string())).into_response();
            r.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            r
        }
        None => status.into_response(),
    };
    request_id(&mut r);
    r
}

fn gone() -> Response {
    error(StatusCode::GONE, "GoneException", None)
}

fn error(status: StatusCode, code: &'static str, message: Option<&str>) -> Response {
    let body = message
        .map(|m| json!({ "message": m }).to_string())
        .unwrap_or_default();
    let mut r = (status, HttpBody::from(body)).into_response();
    r.headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(code));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    request_id(&mut r);
    r
}

/// A path segment's percent-encoding undone (`%3D` is `=`); malformed escapes stay as they are.
pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_percent_decoded() {
        assert_eq!(percent_decode("L0SM9cOFvHcCIhw%3D"), "L0SM9cOFvHcCIhw=");
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(iso8601(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
    }
}
