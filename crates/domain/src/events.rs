//! The events the product publishes on its bus. Details carry a `version` so that consumers can
//! refuse a shape they do not know instead of misreading it.

use crate::{EpochMillis, LinkStatus, ShortCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `source` of every event the product publishes.
pub const SOURCE: &str = "urlshortener";
pub const CLICKED: &str = "link.clicked";
pub const DETAIL_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event detail is not valid JSON of the expected shape: {0}")]
    Shape(String),
    #[error("event detail version {0} is not supported (expected {DETAIL_VERSION})")]
    Version(u32),
    #[error("unexpected detail-type {0:?}")]
    DetailType(String),
}

/// A redirect served: `link.clicked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClickEvent {
    pub version: u32,
    /// Stable across PutEvents retries and redeliveries: derived from the gateway's request id,
    /// never from the EventBridge event id (a retried PutEvents gets a new one).
    pub click_id: String,
    pub code: ShortCode,
    /// The clicked link's creation time. A click only counts toward the link it was served
    /// for: if the code is deleted and created again, a late click of the old link is dropped.
    pub link_created_at: EpochMillis,
    /// When the redirect was served; the click counts on this day, whenever it is processed.
    pub at: EpochMillis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl ClickEvent {
    /// The click id of a request, from the gateway's request id (unique per request, and the
    /// same on every retry of our publish).
    pub fn click_id_for(request_id: &str) -> String {
        let digest = Sha256::digest(request_id.as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn from_detail(detail: &serde_json::Value) -> Result<Self, EventError> {
        check_version(detail)?;
        serde_json::from_value(detail.clone()).map_err(|e| EventError::Shape(e.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkEventKind {
    #[serde(rename = "link.created")]
    Created,
    #[serde(rename = "link.updated")]
    Updated,
    #[serde(rename = "link.deleted")]
    Deleted,
}

impl LinkEventKind {
    pub fn detail_type(self) -> &'static str {
        match self {
            Self::Created => "link.created",
            Self::Updated => "link.updated",
            Self::Deleted => "link.deleted",
        }
    }
}

/// `link.created`, `link.updated`, `link.deleted`. Created and updated start moderation, whose
/// state machine reads `detail.code` and `detail.target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkEvent {
    pub version: u32,
    pub code: ShortCode,
    pub owner: String,
    pub target: String,
    pub status: LinkStatus,
    pub at: EpochMillis,
    /// Whether the target needs (another) moderation pass.
    pub needs_moderation: bool,
}

impl LinkEvent {
    pub fn from_detail(detail: &serde_json::Value) -> Result<Self, EventError> {
        check_version(detail)?;
        serde_json::from_value(detail.clone()).map_err(|e| EventError::Shape(e.to_string()))
    }
}

fn check_version(detail: &serde_json::Value) -> Result<(), EventError> {
    match detail.get("version").and_then(|v| v.as_u64()) {
        Some(v) if v == u64::from(DETAIL_VERSION) => Ok(()),
        Some(v) => Err(EventError::Version(u32::try_from(v).unwrap_or(u32::MAX))),
        None => Err(EventError::Shape("missing numeric `version`".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn click_round_trip_and_versioning() {
        let e = ClickEvent {
            version: 1,
            click_id: ClickEvent::click_id_for("JKJaXmPLvHcESHA="),
            code: ShortCode::parse("Ab3xY9z").unwrap(),
            link_created_at: EpochMillis(1),
            at: EpochMillis(2),
            referer: None,
            user_agent: Some("curl/8".into()),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["clickId"].as_str().unwrap().len(), 32);
        assert_eq!(v["linkCreatedAt"], json!(1));
        assert!(v.get("referer").is_none());
        assert_eq!(ClickEvent::from_detail(&v).unwrap(), e);
        let mut v2 = v.clone();
        v2["version"] = json!(2);
        assert_eq!(ClickEvent::from_detail(&v2), Err(EventError::Version(2)));
        assert!(matches!(
            ClickEvent::from_detail(&json!({"version":1})),
            Err(EventError::Shape(_))
        ));
        assert_eq!(
            ClickEvent::click_id_for("a"),
            ClickEvent::click_id_for("a"),
            "derived, so stable across retries"
        );
        assert_ne!(ClickEvent::click_id_for("a"), ClickEvent::click_id_for("b"));
    }

    #[test]
    fn link_event_kinds() {
        assert_eq!(
            serde_json::to_value(LinkEventKind::Updated).unwrap(),
            json!("link.updated")
        );
        assert_eq!(LinkEventKind::Deleted.detail_type(), "link.deleted");
    }
}
