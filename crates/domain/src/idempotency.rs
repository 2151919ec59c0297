//! Idempotency keys for create: a retried request returns the first result instead of making a
//! second link; the same key with a different body is a client bug and is refused.

use sha2::{Digest, Sha256};

pub const MAX_KEY_LEN: usize = 255;

/// How long a key is remembered, in seconds (24 h, like Stripe's and Powertools' defaults).
pub const RETENTION_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdempotencyKeyError {
    #[error("the Idempotency-Key header must be 1 to {MAX_KEY_LEN} visible ASCII characters")]
    Invalid,
}

pub fn validate_key(key: &str) -> Result<&str, IdempotencyKeyError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IdempotencyKeyError::Invalid);
    }
    Ok(key)
}

/// A fingerprint of a request body: SHA-256 of its canonical JSON (object keys sorted, no
/// insignificant whitespace), so the same request with keys in another order still matches.
pub fn fingerprint(body: &serde_json::Value) -> String {
    // serde_json's Map is a BTreeMap (the `preserve_order` feature is off), so to_string is
    // canonical.
    let canonical = body.to_string();
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fingerprint_ignores_key_order_not_values() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"url":"https://a/","alias":"x"}"#).unwrap();
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "alias": "x", "url": "https://a/" }"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(
            fingerprint(&a),
            fingerprint(&json!({"url":"https://b/","alias":"x"}))
        );
    }

    #[test]
    fn keys() {
        assert!(validate_key("abc-123").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("has space").is_err());
        assert!(validate_key(&"k".repeat(256)).is_err());
    }
}
