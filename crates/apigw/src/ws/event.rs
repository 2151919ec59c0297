//! The events a WebSocket API sends its Lambda integrations (the proxy format that
//! `aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest` reads), and the reading of a
//! function's answer.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::HeaderMap;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What every event of one connection shares.
pub struct Context<'a> {
    pub api_id: &'a str,
    pub stage: &'a str,
    pub connection_id: &'a str,
    pub connected_at: i64,
    /// The `Host` the client connected to.
    pub domain: &'a str,
    pub source_ip: &'a str,
    pub user_agent: Option<&'a str>,
}

/// `requestTime`: `09/Feb/2024:18:11:43 +0000`.
fn request_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string()
}

fn request_context(
    c: &Context<'_>,
    route_key: &str,
    event_type: &str,
    request_id: &str,
    now_ms: i64,
) -> Map<String, Value> {
    let mut identity = Map::new();
    identity.insert("sourceIp".into(), json!(c.source_ip));
    if let Some(ua) = c.user_agent {
        identity.insert("userAgent".into(), json!(ua));
    }
    let value = json!({
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(now_ms),
        "messageDirection": "IN",
        "stage": c.stage,
        "connectedAt": c.connected_at,
        "requestTimeEpoch": now_ms,
        "identity": identity,
        "requestId": request_id,
        "domainName": c.domain,
        "connectionId": c.connection_id,
        "apiId": c.api_id,
    });
    match value {
        Value::Object(m) => m,
        _ => unreachable!("an object"),
    }
}

/// A header name as clients spell it on the wire (hyper hands them over lower-cased):
/// `Sec-WebSocket-Key`, `User-Agent`, `X-Forwarded-For`.
pub fn wire_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            if part.eq_ignore_ascii_case("websocket") {
                return "WebSocket".to_owned();
            }
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The `$connect` event: the handshake's headers and query string, single- and multi-valued
/// (the single-valued map holds the last value, as API Gateway's proxy format does).
pub fn connect(
    c: &Context<'_>,
    headers: &HeaderMap,
    query: Option<&str>,
    port: u16,
    trace_id: &str,
    request_id: &str,
    now_ms: i64,
) -> Value {
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        multi
            .entry(wire_case(name.as_str()))
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    // What API Gateway adds on the way to the integration.
    multi
        .entry("X-Forwarded-For".into())
        .or_default()
        .push(c.source_ip.to_owned());
    for (name, value) in [
        ("X-Forwarded-Port", port.to_string()),
        ("X-Forwarded-Proto", "http".to_owned()),
        ("X-Amzn-Trace-Id", trace_id.to_owned()),
    ] {
        multi.entry(name.into()).or_insert_with(|| vec![value]);
    }
    let single: BTreeMap<&String, &String> = multi
        .iter()
        .filter_map(|(k, v)| v.last().map(|last| (k, last)))
        .collect();
    let mut event = json!({
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": request_context(c, "$connect", "CONNECT", request_id, now_ms),
        "isBase64Encoded": false,
    });
    let mut query_multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        query_multi
            .entry(k.into_owned())
            .or_default()
            .push(v.into_owned());
    }
    if !query_multi.is_empty() {
        let query_single: BTreeMap<&String, &String> = query_multi
            .iter()
            .filter_map(|(k, v)| v.last().map(|last| (k, last)))
            .collect();
        event["queryStringParameters"] = json!(query_single);
        event["multiValueQueryStringParameters"] = json!(query_multi);
    }
    event
}

/// A message from the client, routed to `route_key`.
pub fn message(
    c: &Context<'_>,
    route_key: &str,
    body: &Body,
    message_id: &str,
    request_id: &str,
    now_ms: i64,
) -> Value {
    let mut ctx = request_context(c, route_key, "MESSAGE", request_id, now_ms);
    ctx.insert("messageId".into(), json!(message_id));
    let (text, base64) = match body {
        Body::Text(t) => (t.clone(), false),
        Body::Binary(b) => (B64.encode(b), true),
    };
    json!({
        "requestContext": ctx,
        "body": text,
        "isBase64Encoded": base64,
    })
}

/// The `$disconnect` event, with the close's status code and reason.
pub fn disconnect(
    c: &Context<'_>,
    status_code: u16,
    reason: &str,
    request_id: &str,
    now_ms: i64,
) -> Value {
    let mut ctx = request_context(c, "$disconnect", "DISCONNECT", request_id, now_ms);
    ctx.insert("disconnectStatusCode".into(), json!(status_code));
    ctx.insert("disconnectReason".into(), json!(reason));
    // The headers API Gateway sends with a disconnect: the host and some empty ones.
    let headers = json!({
        "Host": c.domain,
        "x-api-key": "",
        "X-Forwarded-For": "",
        "x-restapi": "",
    });
    let multi = json!({
        "Host": [c.domain],
        "x-api-key": [""],
        "X-Forwarded-For": [""],
        "x-restapi": [""],
    });
    json!({
        "headers": headers,
        "multiValueHeaders": multi,
        "requestContext": ctx,
        "isBase64Encoded": false,
    })
}

/// A message's payload, as a frame carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(String),
    Binary(Vec<u8>),
}

/// A function's answer in the proxy format: `statusCode`, `headers`, `body`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// None when the answer has no usable `statusCode`.
    pub status: Option<u16>,
    pub headers: BTreeMap<String, String>,
    pub body: Option<Body>,
}

/// Reads a function's answer. An answer that is not a proxy response object (no
/// `statusCode`) has no status and, as its body, the whole payload.
pub fn answer(payload: &[u8]) -> Answer {
    let Ok(value) = serde_json::from_slice::<Value>(payload) else {
        return Answer {
            body: Some(Body::Binary(payload.to_vec())),
            ..Answer::default()
        };
    };
    let Some(obj) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return Answer {
            body: (!value.is_null()).then(|| Body::Text(value.to_string())),
            ..Answer::default()
        };
    };
    let status = obj
        .get("statusCode")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| (100..=599).contains(n));
    let mut headers = BTreeMap::new();
    if let Some(h) = obj.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            headers.insert(k.to_ascii_lowercase(), v);
        }
    }
    let body = match obj.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if obj.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
                Some(Body::Binary(B64.decode(s).unwrap_or_default()))
            } else {
                Some(Body::Text(s.clone()))
            }
        }
        Some(other) => Some(Body::Text(other.to_string())),
    };
    Answer {
        status,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_spelled_as_on_the_wire() {
        assert_eq!(wire_case("sec-websocket-key"), "Sec-WebSocket-Key");
        assert_eq!(wire_case("user-agent"), "User-Agent");
        assert_eq!(wire_case("x-amzn-trace-id"), "X-Amzn-Trace-Id");
        assert_eq!(wire_case("host"), "Host");
    }

    #[test]
    fn answers_are_read_as_the_proxy_format() {
        let a = answer(
            br#"{"statusCode": 401, "body": "no", "headers": {"Sec-WebSocket-Protocol": "chat"}}"#,
        );
        assert_eq!(a.status, Some(401));
        assert_eq!(a.body, Some(Body::Text("no".into())));
        assert_eq!(a.headers["sec-websocket-protocol"], "chat");
        let a = answer(br#"{"statusCode": "200", "body": "aGk=", "isBase64Encoded": true}"#);
        assert_eq!(a.status, Some(200));
        assert_eq!(a.body, Some(Body::Binary(b"hi".to_vec())));
        let a = answer(br#"{"echo": 1}"#);
        assert_eq!(a.status, None);
        assert_eq!(a.body, Some(Body::Text(r#"{"echo":1}"#.into())));
        assert_eq!(answer(b"null").body, None);
        assert_eq!(answer(br#"{"statusCode": 99}"#).status, None);
    }
}
