//! The link lifecycle.
//!
//! ```text
//!            moderated safe           disable
//!  pending ─────────────────▶ active ─────────▶ disabled
//!     │  ▲ target changed        │                 │ enable (re-moderated)
//!     │  └───────────────────────┘◀────────────────┘ (to pending)
//!     │ moderated unsafe
//!     ▼
//!  rejected ── target changed ──▶ pending
//! ```
//! `expired` is not stored: any link whose `expiresAt` is at or before the time of the event
//! being handled is expired, whatever its stored status.

use crate::EpochMillis;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStatus {
    /// Created or retargeted, not yet moderated. Redirects like an active link so a new link
    /// works at once; moderation turns it off within seconds if the target is unsafe.
    Pending,
    Active,
    Rejected,
    Disabled,
    Expired,
}

/// What can happen to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Moderated { safe: bool },
    TargetChanged,
    Disable,
    Enable,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} link cannot be {action}")]
pub struct TransitionError {
    pub from: LinkStatus,
    pub action: &'static str,
}

impl LinkStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Rejected => "rejected",
            Self::Disabled => "disabled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "active" => Self::Active,
            "rejected" => Self::Rejected,
            "disabled" => Self::Disabled,
            "expired" => Self::Expired,
            _ => return None,
        })
    }

    /// The status a reader sees at `now`: the stored one, unless the link has expired.
    pub fn effective(self, expires_at: Option<EpochMillis>, now: EpochMillis) -> Self {
        match expires_at {
            Some(at) if at <= now => Self::Expired,
            _ => self,
        }
    }

    /// Whether a link in this (effective) status redirects.
    pub fn serves(self) -> bool {
        matches!(self, Self::Pending | Self::Active)
    }

    /// The stored status after `t`, or why `t` is not allowed.
    pub fn apply(self, t: Transition) -> Result<Self, TransitionError> {
        use LinkStatus::*;
        let refuse = |action| Err(TransitionError { from: self, action });
        match (self, t) {
            (Pending, Transition::Moderated { safe: true }) => Ok(Active),
            (Pending, Transition::Moderated { safe: false }) => Ok(Rejected),
            (_, Transition::Moderated { .. }) => refuse("moderated (only pending links are)"),
            (Pending | Active | Rejected, Transition::TargetChanged) => Ok(Pending),
            // A disabled link keeps its new target unserved until it is enabled, and is
            // moderated then.
            (Disabled, Transition::TargetChanged) => Ok(Disabled),
            (Pending | Active | Disabled, Transition::Disable) => Ok(Disabled),
            (Rejected, Transition::Disable) => {
                refuse("disabled (it was rejected; change its target)")
            }
            // Enabling re-moderates: the blocklist may have changed while it was off.
            (Disabled, Transition::Enable) => Ok(Pending),
            (Pending | Active, Transition::Enable) => Ok(self),
            (Rejected, Transition::Enable) => {
                refuse("enabled (it was rejected; change its target)")
            }
            (Expired, _) => refuse("changed through its status (change its expiry)"),
        }
    }
}

impl fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::LinkStatus::*;
    use super::*;

    #[test]
    fn transitions() {
        let ok = |from: LinkStatus, t, to| assert_eq!(from.apply(t), Ok(to), "{from} {t:?}");
        let no = |from: LinkStatus, t| assert!(from.apply(t).is_err(), "{from} {t:?}");
        ok(Pending, Transition::Moderated { safe: true }, Active);
        ok(Pending, Transition::Moderated { safe: false }, Rejected);
        no(Active, Transition::Moderated { safe: true });
        no(Disabled, Transition::Moderated { safe: true });
        ok(Active, Transition::TargetChanged, Pending);
        ok(Rejected, Transition::TargetChanged, Pending);
        ok(Disabled, Transition::TargetChanged, Disabled);
        ok(Active, Transition::Disable, Disabled);
        ok(Disabled, Transition::Disable, Disabled);
        no(Rejected, Transition::Disable);
        ok(Disabled, Transition::Enable, Pending);
        ok(Active, Transition::Enable, Active);
        no(Rejected, Transition::Enable);
        no(Expired, Transition::Enable);
    }

    #[test]
    fn expiry_is_decided_by_the_given_time() {
        let at = Some(EpochMillis(1000));
        assert_eq!(Active.effective(at, EpochMillis(999)), Active);
        assert_eq!(Active.effective(at, EpochMillis(1000)), Expired);
        assert_eq!(Pending.effective(None, EpochMillis(i64::MAX)), Pending);
        assert!(Pending.serves() && Active.serves());
        assert!(!Rejected.serves() && !Disabled.serves() && !Expired.serves());
        for s in [Pending, Active, Rejected, Disabled, Expired] {
            assert_eq!(LinkStatus::parse(s.as_str()), Some(s));
        }
    }
}
