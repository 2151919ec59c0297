//! Timestamps as Step Functions writes and reads them: RFC 3339 with an uppercase `T`, and
//! `Z` or a numeric offset (ASL's Timestamp comparisons and Wait `Timestamp`); the context
//! object's times and the history's are written as `2026-01-01T00:00:00.000Z`.

/// Milliseconds since the epoch of an ASL timestamp, or None when `text` is not one.
pub fn parse(text: &str) -> Option<i64> {
    // ASL requires an uppercase T between date and time and an uppercase Z; RFC 3339 (and
    // chrono) would also take lowercase letters and a space.
    if text.len() < 20 || text.as_bytes()[10] != b'T' || text.contains(['t', 'z', ' ']) {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// `2026-01-01T00:00:00.000Z`.
pub fn format(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// An awsJson timestamp: seconds since the epoch, with milliseconds as the fraction.
pub fn epoch_seconds(ms: i64) -> serde_json::Value {
    serde_json::Number::from_f64(ms as f64 / 1000.0)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_asl_timestamps() {
        assert_eq!(parse("2026-01-01T00:00:00Z"), Some(1_767_225_600_000));
        assert_eq!(parse("2026-01-01T00:00:00.250Z"), Some(1_767_225_600_250));
        assert_eq!(parse("2026-01-01T01:00:00+01:00"), Some(1_767_225_600_000));
        for bad in [
            "2026-01-01t00:00:00Z",
            "2026-01-01T00:00:00z",
            "2026-01-01 00:00:00Z",
            "2026-01-01",
            "2026-13-01T00:00:00Z",
            "yesterday",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(format(1_767_225_600_250), "2026-01-01T00:00:00.250Z");
        assert_eq!(
            epoch_seconds(1_767_225_600_250),
            serde_json::json!(1_767_225_600.25)
        );
    }
}
