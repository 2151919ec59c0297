//! Every key of the single table, built in one place so that no function spells one by hand.
//!
//! | entity            | PK                    | SK            | GSI1PK / GSI1SK                          |
//! |-------------------|-----------------------|---------------|------------------------------------------|
//! | link              | `LINK#<code>`         | `META`        | `USER#<owner>` / `LINK#<createdAt>#<code>` |
//! | daily stat        | `LINK#<code>`         | `STAT#<day>`  | (none: kept out of the index)            |
//! | click marker      | `CLICK#<clickId>`     | `CLICK`       | (none)                                   |
//! | ws connection     | `CONN#<connectionId>` | `META`        | `WSCODE#<code>` / `CONN#<connectionId>`  |
//! | idempotency key   | `IDEM#<owner>#<key>`  | `IDEM`        | (none)                                   |

use crate::{Day, EpochMillis, ShortCode};

/// Attribute names shared by the code and the template (key schema, GSI, TTL).
pub mod attr {
    pub const PK: &str = "PK";
    pub const SK: &str = "SK";
    pub const GSI1PK: &str = "GSI1PK";
    pub const GSI1SK: &str = "GSI1SK";
    /// The table's TimeToLiveSpecification attribute (epoch seconds).
    pub const TTL: &str = "ttl";
    pub const GSI1: &str = "GSI1";
}

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

/// A GSI1 key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

const META: &str = "META";
const STAT_PREFIX: &str = "STAT#";

pub fn link_pk(code: &ShortCode) -> String {
    format!("LINK#{code}")
}

pub fn link(code: &ShortCode) -> Key {
    Key {
        pk: link_pk(code),
        sk: META.into(),
    }
}

pub fn owner_partition(owner: &str) -> String {
    format!("USER#{owner}")
}

/// GSI1 key of a link: the owner's partition, sorted by creation time (newest last, so a
/// backwards query lists newest first). The code breaks ties within a millisecond.
pub fn link_by_owner(owner: &str, created_at: EpochMillis, code: &ShortCode) -> IndexKey {
    IndexKey {
        pk: owner_partition(owner),
        sk: format!("LINK#{}#{code}", created_at.to_rfc3339()),
    }
}

pub fn stat(code: &ShortCode, day: Day) -> Key {
    Key {
        pk: link_pk(code),
        sk: format!("{STAT_PREFIX}{day}"),
    }
}

/// The sort key prefix shared by all daily stats of a link (for a `begins_with` query).
pub fn stat_prefix() -> &'static str {
    STAT_PREFIX
}

/// The day of a stat item's sort key, if it is one.
pub fn stat_day(sk: &str) -> Option<Day> {
    sk.strip_prefix(STAT_PREFIX).and_then(Day::parse)
}

pub fn click_marker(click_id: &str) -> Key {
    Key {
        pk: format!("CLICK#{click_id}"),
        sk: "CLICK".into(),
    }
}

pub fn connection(connection_id: &str) -> Key {
    Key {
        pk: format!("CONN#{connection_id}"),
        sk: META.into(),
    }
}

pub fn watchers_partition(code: &ShortCode) -> String {
    format!("WSCODE#{code}")
}

pub fn connection_by_code(code: &ShortCode, connection_id: &str) -> IndexKey {
    IndexKey {
        pk: watchers_partition(code),
        sk: format!("CONN#{connection_id}"),
    }
}

/// An idempotency record, scoped to its owner so that two tenants can use the same key.
pub fn idempotency(owner: &str, key: &str) -> Key {
    Key {
        pk: format!("IDEM#{owner}#{key}"),
        sk: "IDEM".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_spelled_as_documented() {
        let code = ShortCode::parse("Ab3xY9z").unwrap();
        assert_eq!(
            link(&code),
            Key {
                pk: "LINK#Ab3xY9z".into(),
                sk: "META".into()
            }
        );
        let t = EpochMillis(1_795_000_000_123);
        assert_eq!(
            link_by_owner("u-1", t, &code),
            IndexKey {
                pk: "USER#u-1".into(),
                sk: "LINK#2026-11-18T11:06:40.123Z#Ab3xY9z".into()
            }
        );
        let s = stat(&code, t.day());
        assert_eq!(s.sk, "STAT#2026-11-18");
        assert_eq!(stat_day(&s.sk), Some(t.day()));
        assert_eq!(stat_day("META"), None);
        assert_eq!(click_marker("r1").pk, "CLICK#r1");
        assert_eq!(connection("c1").pk, "CONN#c1");
        assert_eq!(connection_by_code(&code, "c1").pk, "WSCODE#Ab3xY9z");
        assert_eq!(idempotency("u-1", "k").pk, "IDEM#u-1#k");
    }
}
