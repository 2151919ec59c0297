//! The payload format 2.0 event and the conversion of a function's answer.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use template::model::HttpApi;

pub struct Input<'a> {
    pub api: &'a HttpApi,
    pub account_id: &'a str,
    pub route_key: &'a str,
    pub method: &'a str,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    pub version: Version,
    pub body: &'a [u8],
    pub path_parameters: &'a BTreeMap<String, String>,
    pub source_ip: &'a str,
    pub request_id: &'a str,
    pub now_ms: i64,
    /// `requestContext.authorizer` of a route with an authorizer that let the request in.
    pub authorizer: Option<Value>,
}

/// A request id in API Gateway's style (base64 of random bytes, e.g. `CkQ3ZjqCIAMEV5A=`).
pub(crate) fn request_id() -> String {
    B64.encode(&uuid::Uuid::new_v4().as_bytes()[..11])
}

/// An X-Ray trace header as API Gateway starts one.
pub(crate) fn trace_id(now_ms: i64) -> String {
    let r = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{:08x}-{}", now_ms / 1000, &r[..24])
}

/// Whether a body can travel as text: UTF-8 with a textual (or no) content type.
fn is_text(headers: &HeaderMap, body: &[u8]) -> bool {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let textual = ct.is_empty()
        || ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("javascript")
        || ct.starts_with("application/x-www-form-urlencoded");
    textual && std::str::from_utf8(body).is_ok()
}

pub fn build(i: Input<'_>) -> Value {
    // Headers: lower-cased names, repeated values joined with commas; cookies move to their
    // own field, as API Gateway does.
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in i.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_owned())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    // Headers API Gateway adds on its way to the integration.
    let port = headers
        .get("host")
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, p)| p.to_owned())
        .unwrap_or_else(|| "80".into());
    headers
        .entry("x-forwarded-for".into())
        .and_modify(|v| {
            v.push_str(", ");
            v.push_str(i.source_ip);
        })
        .or_insert_with(|| i.source_ip.to_owned());
    headers.entry("x-forwarded-port".into()).or_insert(port);
    headers
        .entry("x-forwarded-proto".into())
        .or_insert_with(|| "http".into());
    headers
        .entry("x-amzn-trace-id".into())
        .or_insert_with(|| trace_id(i.now_ms));
    let raw_query = i.uri.query().unwrap_or("").to_owned();
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }
    let stage = i.api.stage.as_str();
    // Any stage but $default is part of the path the function sees.
    let raw_path = if stage == "$default" {
        i.uri.path().to_owned()
    } else {
        format!("/{stage}{}", i.uri.path())
    };
    let domain = headers
        .get("host")
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    let domain_prefix = domain.split('.').next().unwrap_or_default().to_owned();
    let time = chrono::DateTime::from_timestamp_millis(i.now_ms)
        .unwrap_or_default()
        .format("%d/%b/%Y:%H:%M:%S +0000")
        .to_string();
    let protocol = match i.version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": i.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": i.account_id,
            "apiId": i.api.api_id,
            "domainName": domain,
            "domainPrefix": domain_prefix,
            "http": {
                "method": i.method,
                "path": raw_path,
                "protocol": protocol,
                "sourceIp": i.source_ip,
                "userAgent": headers.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": i.request_id,
            "routeKey": i.route_key,
            "stage": stage,
            "time": time,
            "timeEpoch": i.now_ms,
        },
        "isBase64Encoded": false,
    });
    if let Some(a) = i.authorizer {
        event["requestContext"]["authorizer"] = a;
    }
    let obj = event.as_object_mut().expect("an object");
    if !cookies.is_empty() {
        obj.insert("cookies".into(), json!(cookies));
    }
    if !query.is_empty() {
        obj.insert("queryStringParameters".into(), json!(query));
    }
    if !i.path_parameters.is_empty() {
        obj.insert("pathParameters".into(), json!(i.path_parameters));
    }
    if !i.body.is_empty() {
        if is_text(i.headers, i.body) {
            obj.insert("body".into(), json!(String::from_utf8_lossy(i.body)));
        } else {
            obj.insert("body".into(), json!(B64.encode(i.body)));
            obj.insert("isBase64Encoded".into(), json!(true));
        }
    }
    event
}

/// The HTTP response for a function's answer, or None if API Gateway could not use it (it
/// then answers 500).
pub fn response(payload: &[u8], payload_format: &str) -> Option<Response> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let structured = value.as_object().filter(|o| o.contains_key("statusCode"));
    let Some(obj) = structured else {
        if payload_format == "1.0" {
            return None; // format 1.0 has no simple form
        }
        // The simple format: any JSON without a statusCode is a 200 JSON body, verbatim.
        let mut r = (StatusCode::OK, Body::from(payload.to_vec())).into_response();
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        return Some(r);
    };
    let status = obj.get("statusCode").and_then(status_code)?;
    let mut headers = HeaderMap::new();
    if let Some(h) = obj.get("headers").and_then(Value::as_object) {
        insert_all(&mut headers, h, false);
    }
    if let Some(h) = obj.get("multiValueHeaders").and_then(Value::as_object) {
        insert_all(&mut headers, h, true);
    }
    if let Some(cookies) = obj.get("cookies").and_then(Value::as_array) {
        for c in cookies.iter().filter_map(Value::as_str) {
            if let Ok(v) = HeaderValue::from_str(c) {
                headers.append("set-cookie", v);
            }
        }
    }
    let body = match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => {
            if obj.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
                B64.decode(s).ok()?
            } else {
                s.clone().into_bytes()
            }
        }
        Some(other) => other.to_string().into_bytes(),
    };
    let mut r = (status, Body::from(body)).into_response();
    r.headers_mut().extend(headers);
    Some(r)
}

fn status_code(v: &Value) -> Option<StatusCode> {
    let n = v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))?;
    StatusCode::from_u16(u16::try_from(n).ok()?).ok()
}

fn insert_all(headers: &mut HeaderMap, h: &Map<String, Value>, multi: bool) {
    for (k, v) in h {
        let Ok(name) = HeaderName::from_bytes(k.as_bytes()) else {
            continue;
        };
        let values: Vec<String> = match v {
            Value::Array(items) if multi => items.iter().map(scalar).collect(),
            other => vec![scalar(other)],
        };
        for value in values {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.append(name.clone(), v);
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
