//! Token buckets per route, as API Gateway throttles: `burst` tokens at most, refilled at
//! `rate` per second; a request without a token is answered 429.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;
use template::model::Throttle;

struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

#[derive(Default)]
pub struct Throttles {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Throttles {
    /// Takes a token from `key`'s bucket, created full from `limit` on first use. True if the
    /// request may go on.
    pub fn admit(&self, key: &str, limit: &Throttle) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("throttles");
        let b = buckets.entry(key.to_owned()).or_insert_with(|| Bucket {
            tokens: f64::from(limit.burst),
            last: now,
            rate: limit.rate,
            burst: f64::from(limit.burst),
        });
        let refill = now.duration_since(b.last).as_secs_f64() * b.rate;
        b.tokens = (b.tokens + refill).min(b.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal() {
        let t = Throttles::default();
        let limit = Throttle {
            rate: 0.001,
            burst: 3,
        };
        let admitted = (0..10).filter(|_| t.admit("GET /x", &limit)).count();
        assert_eq!(admitted, 3);
        // Another route has its own bucket.
        assert!(t.admit("GET /y", &limit));
        // Zero burst admits nothing.
        assert!(!t.admit(
            "GET /z",
            &Throttle {
                rate: 100.0,
                burst: 0
            }
        ));
    }
}
