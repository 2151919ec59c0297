//! The time devstack's services read for everything a user can observe: the `timeEpoch` of a
//! gateway event, an EventBridge event's `time`, SQS timestamps and (later) visibility
//! timeouts, TTL sweeps and waits. It is real time by default; a virtual clock that tests move
//! by hand replaces it where time must be controlled. What stays on real time: an invocation's
//! deadline and timeout, since the function process runs on the real clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn starting_at(ms: i64) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicI64::new(ms),
        })
    }

    /// Moves the clock forward by `ms` (never backwards) and returns the new time.
    pub fn advance(&self, ms: i64) -> i64 {
        self.now.fetch_add(ms.max(0), Ordering::SeqCst) + ms.max(0)
    }

    /// Sets the time, if it is not before the current one; returns the resulting time.
    pub fn set(&self, ms: i64) -> i64 {
        self.now.fetch_max(ms, Ordering::SeqCst).max(ms)
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_forward_only() {
        let c = ManualClock::starting_at(1000);
        assert_eq!(c.advance(500), 1500);
        assert_eq!(c.now_ms(), 1500);
        assert_eq!(c.advance(-10), 1500);
        assert_eq!(c.set(1200), 1500);
        assert_eq!(c.set(2000), 2000);
        assert!(SystemClock.now_ms() > 1_700_000_000_000);
    }
}
