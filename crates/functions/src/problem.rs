//! Errors of our API as RFC 9457 `application/problem+json`, with stable `type` URIs so that
//! clients branch on the type, never on the human-readable text.

use lambda_http::{Body, Response};
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// Every problem type our API returns. The URI is the contract; keep them stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    BadRequest,
    InvalidUrl,
    InvalidAlias,
    InvalidExpiry,
    InvalidRedirect,
    InvalidCursor,
    InvalidIdempotencyKey,
    Unauthorized,
    NotFound,
    Gone,
    AliasTaken,
    Conflict,
    InvalidTransition,
    IdempotencyKeyReused,
    CodeSpaceExhausted,
    PublishFailed,
    Internal,
}

impl Kind {
    pub fn slug(self) -> &'static str {
        match self {
            Self::BadRequest => "bad-request",
            Self::InvalidUrl => "invalid-url",
            Self::InvalidAlias => "invalid-alias",
            Self::InvalidExpiry => "invalid-expiry",
            Self::InvalidRedirect => "invalid-redirect",
            Self::InvalidCursor => "invalid-cursor",
            Self::InvalidIdempotencyKey => "invalid-idempotency-key",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not-found",
            Self::Gone => "gone",
            Self::AliasTaken => "alias-taken",
            Self::Conflict => "conflict",
            Self::InvalidTransition => "invalid-transition",
            Self::IdempotencyKeyReused => "idempotency-key-reused",
            Self::CodeSpaceExhausted => "code-space-exhausted",
            Self::PublishFailed => "publish-failed",
            Self::Internal => "internal",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest
            | Self::InvalidUrl
            | Self::InvalidAlias
            | Self::InvalidExpiry
            | Self::InvalidRedirect
            | Self::InvalidCursor
            | Self::InvalidIdempotencyKey => 400,
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::Gone => 410,
            Self::AliasTaken | Self::Conflict | Self::InvalidTransition => 409,
            Self::IdempotencyKeyReused => 422,
            Self::CodeSpaceExhausted | Self::Internal => 500,
            Self::PublishFailed => 503,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::BadRequest => "The request is malformed",
            Self::InvalidUrl => "The target URL is not acceptable",
            Self::InvalidAlias => "The alias is not acceptable",
            Self::InvalidExpiry => "The expiry is not acceptable",
            Self::InvalidRedirect => "The redirect type is not acceptable",
            Self::InvalidCursor => "The pagination cursor is not valid",
            Self::InvalidIdempotencyKey => "The Idempotency-Key header is not valid",
            Self::Unauthorized => "Authentication is required",
            Self::NotFound => "No such link",
            Self::Gone => "This link no longer redirects",
            Self::AliasTaken => "The alias is already taken",
            Self::Conflict => "The link was changed concurrently",
            Self::InvalidTransition => "The link cannot make that change in its current status",
            Self::IdempotencyKeyReused => "The Idempotency-Key was used with a different request",
            Self::CodeSpaceExhausted => "Could not find a free short code",
            Self::PublishFailed => "The change could not be published; retry",
            Self::Internal => "Internal error",
        }
    }

    pub fn type_uri(self) -> String {
        format!("urn:url-shortener:problem:{}", self.slug())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip)]
    pub kind: Option<Kind>,
}

impl Problem {
    pub fn new(kind: Kind) -> Self {
        Self {
            type_uri: kind.type_uri(),
            title: kind.title(),
            status: kind.status(),
            detail: None,
            instance: None,
            kind: Some(kind),
        }
    }

    pub fn detail(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            detail: Some(detail.into()),
            ..Self::new(kind)
        }
    }

    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::to_string(&self).unwrap_or_default();
        Response::builder()
            .status(self.status)
            .header("content-type", CONTENT_TYPE)
            .body(Body::Text(body))
            .expect("static headers are valid")
    }
}

impl From<Kind> for Problem {
    fn from(kind: Kind) -> Self {
        Self::new(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_body_is_rfc9457() {
        let r = Problem::detail(Kind::NotFound, "no link abc").into_response();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["content-type"], CONTENT_TYPE);
        let Body::Text(t) = r.body() else { panic!() };
        let v: serde_json::Value = serde_json::from_str(t).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"urn:url-shortener:problem:not-found","title":"No such link","status":404,"detail":"no link abc"})
        );
    }
}
