//! Time as the product sees it: always taken from the event being handled (the gateway's
//! `timeEpoch`, the EventBridge `time`, SQS `SentTimestamp`), never from the system clock, so
//! that devstack's virtual clock governs expiry, daily stats and TTLs.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EpochMillis(pub i64);

impl EpochMillis {
    pub fn as_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.0).unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// RFC 3339 with milliseconds and a `Z`, e.g. `2026-11-27T05:16:57.123Z`. Sorts
    /// lexicographically in time order, which the GSI sort key relies on.
    pub fn to_rfc3339(self) -> String {
        self.as_datetime()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| Self(d.timestamp_millis()))
    }

    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    pub fn day(self) -> Day {
        Day(self.as_datetime().date_naive())
    }
}

/// A UTC calendar day, the bucket of the daily click statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(NaiveDate);

impl Day {
    pub fn parse(s: &str) -> Option<Self> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(Self)
    }

    pub fn minus_days(self, n: i64) -> Self {
        Self(self.0 - Duration::days(n))
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_instants() {
        let t = EpochMillis(1_795_000_000_123); // 2026-11-18T11:06:40.123Z
        assert_eq!(t.to_rfc3339(), "2026-11-18T11:06:40.123Z");
        assert_eq!(t.day().to_string(), "2026-11-18");
        assert_eq!(t.day().minus_days(29).to_string(), "2026-10-20");
        assert_eq!(
            EpochMillis::parse_rfc3339("2026-11-18T11:06:40.123Z"),
            Some(t)
        );
        assert_eq!(
            EpochMillis::parse_rfc3339("2026-11-18T12:06:40.123+01:00"),
            Some(t)
        );
        assert_eq!(t.as_secs(), 1_795_000_000);
        assert_eq!(t.plus_secs(10).0, 1_795_000_010_123);
        assert_eq!(Day::parse("2026-02-29"), None);
        assert_eq!(Day::parse("2028-02-29").unwrap().to_string(), "2028-02-29");
    }
}
