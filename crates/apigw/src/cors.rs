//! CORS as an HTTP API with a CorsConfiguration does it: preflight requests are answered by
//! the gateway without invoking anything, and actual responses get the allow headers (the
//! gateway's replace any the function set).

use http::{HeaderMap, HeaderValue};
use template::model::Cors;

fn origin_allowed(cors: &Cors, origin: &str) -> bool {
    cors.allow_origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
}

fn allow_origin_value(cors: &Cors, origin: &str) -> String {
    // With credentials a wildcard is not allowed by browsers: echo the origin.
    if cors.allow_origins.iter().any(|o| o == "*") && !cors.allow_credentials {
        "*".into()
    } else {
        origin.to_owned()
    }
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// Whether the request is a CORS preflight.
pub fn is_preflight(method: &str, headers: &HeaderMap) -> bool {
    method == "OPTIONS"
        && headers.contains_key("origin")
        && headers.contains_key("access-control-request-method")
}

/// Headers of the 204 answer to a preflight (none if the origin is not allowed).
pub fn preflight(cors: &Cors, headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    let origin = headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !origin_allowed(cors, origin) {
        return out;
    }
    set(
        &mut out,
        "access-control-allow-origin",
        &allow_origin_value(cors, origin),
    );
    let methods = if cors.allow_methods.is_empty() {
        "*".to_owned()
    } else {
        cors.allow_methods.join(",")
    };
    set(&mut out, "access-control-allow-methods", &methods);
    let requested = headers
        .get("access-control-request-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if cors.allow_headers.iter().any(|h| h == "*") {
        if !requested.is_empty() {
            set(&mut out, "access-control-allow-headers", requested);
        }
    } else if !cors.allow_headers.is_empty() {
        set(
            &mut out,
            "access-control-allow-headers",
            &cors.allow_headers.join(","),
        );
    }
    if let Some(age) = cors.max_age {
        set(&mut out, "access-control-max-age", &age.to_string());
    }
    if cors.allow_credentials {
        set(&mut out, "access-control-allow-credentials", "true");
    }
    out
}

/// Adds the CORS headers of an actual (non-preflight) response.
pub fn decorate(cors: &Cors, request: &HeaderMap, response: &mut HeaderMap) {
    let Some(origin) = request.get("origin").and_then(|v| v.to_str().ok()) else {
        return;
    };
    for h in [
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-expose-headers",
    ] {
        response.remove(h);
    }
    if !origin_allowed(cors, origin) {
        return;
    }
    set(
        response,
        "access-control-allow-origin",
        &allow_origin_value(cors, origin),
    );
    if !cors.expose_headers.is_empty() {
        set(
            response,
            "access-control-expose-headers",
            &cors.expose_headers.join(","),
        );
    }
    if cors.allow_credentials {
        set(response, "access-control-allow-credentials", "true");
    }
}
