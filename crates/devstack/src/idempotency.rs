//! `ClientRequestToken` idempotency of TransactWriteItems, kept at the edge.
//!
//! The AWS SDKs put a fresh token on every TransactWriteItems (the product's aggregator sends
//! one per click). dynoxide remembers each token for DynamoDB's ten minutes, but sweeps its
//! whole cache on every transaction: at a thousand clicks a second that sweep over up to
//! 600,000 tokens, under the engine's lock, became most of a click's cost and the pipeline
//! slowed the longer it ran. So the edge keeps the tokens itself, in a ledger that expires
//! them in order (constant work per call), and hands the engine the transaction without its
//! token. What a client sees is DynamoDB's contract, as dynoxide implements it:
//!
//! - a token's first call runs the transaction; its success is remembered for ten minutes, a
//!   failure is not (the same token may try again);
//! - a later call with the token and the same `TransactItems` does nothing and succeeds;
//! - one with different items is refused with `IdempotentParameterMismatchException`;
//! - a call while the token's first call is still running waits for it and then answers as
//!   above, so two concurrent calls never both run.
//!
//! The ledger takes a token only when the call asks for no `ReturnConsumedCapacity` and no
//! `ReturnItemCollectionMetrics` (what the SDKs send unless told otherwise): a replay of such
//! a call answers `{}`, exactly as the engine would. A call that asks for either, or whose
//! token the engine would refuse (too long), goes to the engine with its token, and the ledger
//! remembers that the engine owns the token so that its replays go there too. One deviation:
//! a replay that asks for `ReturnConsumedCapacity` of a token the ledger owns gets no
//! `ConsumedCapacity` (the engine would bill it as a read).

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long DynamoDB (and dynoxide) honour a token.
const WINDOW: Duration = Duration::from_secs(600);
/// The longest token DynamoDB accepts; the engine words the refusal of a longer one.
const MAX_TOKEN_LEN: usize = 36;

/// What the edge does with one TransactWriteItems.
pub enum Plan {
    /// Send this body (the request without its token) to the engine, then report the outcome
    /// with [`Claim::finish`].
    Run { body: Vec<u8>, claim: Claim },
    /// Send the request to the engine as it is (no token, or one the engine owns).
    PassThrough,
    /// Answer `{}`: the transaction already ran under this token.
    Replay,
    /// Answer DynamoDB's `IdempotentParameterMismatchException`.
    Mismatch,
}

#[derive(Debug)]
enum State {
    /// The first call is running; waiters are woken when it ends.
    Running(Arc<Notify>),
    Done,
    /// The engine keeps this token (its call asked for capacity or metrics).
    Engine,
}

#[derive(Debug)]
struct Entry {
    items: String,
    state: State,
    expires: Instant,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Tokens in the order they expire (they all live for [`WINDOW`]).
    order: VecDeque<(Instant, String)>,
}

impl Inner {
    fn expire(&mut self, now: Instant) {
        while let Some((at, _)) = self.order.front() {
            if *at > now {
                break;
            }
            let (at, token) = self.order.pop_front().expect("front exists");
            // A token removed after a failure and claimed again has a later expiry of its
            // own further back in the queue; only the entry this record stands for goes.
            if self.entries.get(&token).is_some_and(|e| e.expires == at) {
                self.entries.remove(&token);
            }
        }
    }

    fn insert(&mut self, token: &str, items: String, state: State, expires: Instant) {
        self.entries.insert(
            token.to_owned(),
            Entry {
                items,
                state,
                expires,
            },
        );
        self.order.push_back((expires, token.to_owned()));
    }
}

pub struct Ledger {
    inner: Mutex<Inner>,
    window: Duration,
}

impl Default for Ledger {
    fn default() -> Self {
        Self::with_window(WINDOW)
    }
}

/// A token's first call, running: [`Claim::finish`] records how it ended. Dropped without
/// finishing (the request was abandoned), it counts as a failure, so the token may run again.
pub struct Claim {
    ledger: Arc<Ledger>,
    token: String,
    notify: Arc<Notify>,
    done: bool,
}

impl Claim {
    /// The engine answered the transaction: `succeeded` keeps the token for its window, a
    /// failure forgets it. Either way, calls waiting on the token go on.
    pub fn finish(mut self, succeeded: bool) {
        self.settle(succeeded);
    }

    fn settle(&mut self, succeeded: bool) {
        if self.done {
            return;
        }
        self.done = true;
        let mut inner = self.ledger.lock();
        if succeeded {
            if let Some(e) = inner.entries.get_mut(&self.token) {
                e.state = State::Done;
            }
        } else {
            inner.entries.remove(&self.token);
        }
        drop(inner);
        self.notify.notify_waiters();
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.settle(false);
    }
}

impl Ledger {
    /// A ledger that keeps tokens for `window` (DynamoDB's ten minutes by default).
    pub fn with_window(window: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            window,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides what to do with a TransactWriteItems whose body is `body`; waits while the
    /// token's first call runs.
    pub async fn plan(self: &Arc<Self>, body: &[u8]) -> Plan {
        let Ok(Value::Object(mut request)) = serde_json::from_slice::<Value>(body) else {
            return Plan::PassThrough;
        };
        let token = match request.get("ClientRequestToken") {
            Some(Value::String(t)) if !t.is_empty() && t.len() <= MAX_TOKEN_LEN => t.clone(),
            _ => return Plan::PassThrough,
        };
        let asks = |key: &str| request.get(key).is_some_and(|v| v.as_str() != Some("NONE"));
        let plain = !asks("ReturnConsumedCapacity") && !asks("ReturnItemCollectionMetrics");
        let items = request
            .get("TransactItems")
            .map(canonical)
            .unwrap_or_default();
        loop {
            let wait = {
                let now = Instant::now();
                let expires = now + self.window;
                let mut inner = self.lock();
                inner.expire(now);
                match inner.entries.get(&token) {
                    None if plain => {
                        let notify = Arc::new(Notify::new());
                        inner.insert(&token, items, State::Running(notify.clone()), expires);
                        drop(inner);
                        request.remove("ClientRequestToken");
                        let body = Value::Object(request).to_string().into_bytes();
                        return Plan::Run {
                            body,
                            claim: Claim {
                                ledger: self.clone(),
                                token,
                                notify,
                                done: false,
                            },
                        };
                    }
                    None => {
                        inner.insert(&token, items, State::Engine, expires);
                        return Plan::PassThrough;
                    }
                    Some(Entry {
                        state: State::Engine,
                        ..
                    }) => return Plan::PassThrough,
                    Some(e) if e.items != items => return Plan::Mismatch,
                    Some(Entry {
                        state: State::Done, ..
                    }) => return Plan::Replay,
                    Some(Entry {
                        state: State::Running(n),
                        ..
                    }) => {
                        // Registered before the lock is released, so the first call's end
                        // cannot slip between the check and the wait.
                        let notified = n.clone().notified_owned();
                        drop(inner);
                        notified
                    }
                }
            };
            wait.await;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

/// `v` as JSON with every object's keys sorted, so that two requests with the same items
/// compare equal however their maps were ordered.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<_> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// DynamoDB's answer to a token reused with other items, in dynoxide's words.
pub fn mismatch() -> (u16, String) {
    let e = dynoxide::DynoxideError::IdempotentParameterMismatchException(
        "An error occurred (IdempotentParameterMismatchException)".to_owned(),
    );
    (e.status_code(), e.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(token: &str, value: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"ClientRequestToken":"{token}",{extra}"TransactItems":[{{"Put":{{"TableName":"t","Item":{{"pk":{{"S":"{value}"}}}}}}}}]}}"#
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn a_token_runs_once_then_replays_or_refuses() {
        let ledger = Arc::new(Ledger::default());
        let Plan::Run { body: sent, claim } = ledger.plan(&body("t1", "a", "")).await else {
            panic!("the first call runs");
        };
        let sent: Value = serde_json::from_slice(&sent).unwrap();
        assert!(sent.get("ClientRequestToken").is_none(), "{sent}");
        assert_eq!(sent["TransactItems"][0]["Put"]["TableName"], "t");
        claim.finish(true);
        assert!(matches!(
            ledger.plan(&body("t1", "a", "")).await,
            Plan::Replay
        ));
        assert!(matches!(
            ledger.plan(&body("t1", "b", "")).await,
            Plan::Mismatch
        ));
        assert!(matches!(
            ledger.plan(&body("t2", "a", "")).await,
            Plan::Run { .. }
        ));
    }

    #[tokio::test]
    async fn a_failed_or_abandoned_first_call_lets_the_token_run_again() {
        let ledger = Arc::new(Ledger::default());
        let Plan::Run { claim, .. } = ledger.plan(&body("t", "a", "")).await else {
            panic!()
        };
        claim.finish(false);
        let Plan::Run { claim, .. } = ledger.plan(&body("t", "b", "")).await else {
            panic!("a failure is not remembered")
        };
        drop(claim);
        assert!(matches!(
            ledger.plan(&body("t", "a", "")).await,
            Plan::Run { .. }
        ));
    }

    #[tokio::test]
    async fn a_concurrent_call_waits_for_the_first() {
        let ledger = Arc::new(Ledger::default());
        let Plan::Run { claim, .. } = ledger.plan(&body("t", "a", "")).await else {
            panic!()
        };
        let l = ledger.clone();
        let second = tokio::spawn(async move { l.plan(&body("t", "a", "")).await });
        // The second call cannot decide while the first runs.
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        claim.finish(true);
        assert!(matches!(second.await.unwrap(), Plan::Replay));
    }

    #[tokio::test]
    async fn calls_the_engine_must_answer_keep_their_token() {
        let ledger = Arc::new(Ledger::default());
        let capacity = r#""ReturnConsumedCapacity":"TOTAL","#;
        assert!(matches!(
            ledger.plan(&body("t", "a", capacity)).await,
            Plan::PassThrough
        ));
        // The engine owns the token now: a plain replay goes there too.
        assert!(matches!(
            ledger.plan(&body("t", "a", "")).await,
            Plan::PassThrough
        ));
        let none = r#""ReturnConsumedCapacity":"NONE","ReturnItemCollectionMetrics":"NONE","#;
        assert!(matches!(
            ledger.plan(&body("u", "a", none)).await,
            Plan::Run { .. }
        ));
        let long = "x".repeat(37);
        assert!(matches!(
            ledger.plan(&body(&long, "a", "")).await,
            Plan::PassThrough
        ));
        assert!(matches!(
            ledger.plan(br#"{"TransactItems":[]}"#).await,
            Plan::PassThrough
        ));
    }

    #[tokio::test]
    async fn a_token_is_forgotten_after_its_window() {
        let ledger = Arc::new(Ledger::with_window(Duration::ZERO));
        let Plan::Run { claim, .. } = ledger.plan(&body("t", "a", "")).await else {
            panic!()
        };
        claim.finish(true);
        // Expired: the same token with other items is a new transaction, not a mismatch.
        assert!(matches!(
            ledger.plan(&body("t", "b", "")).await,
            Plan::Run { .. }
        ));
        let kept = Arc::new(Ledger::default());
        for t in ["a", "b", "c"] {
            let Plan::Run { claim, .. } = kept.plan(&body(t, "a", "")).await else {
                panic!()
            };
            claim.finish(true);
        }
        assert_eq!(kept.len(), 3);
    }

    #[test]
    fn items_compare_by_content_not_key_order() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":[{"y":2,"x":3}]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":[{"x":3,"y":2}],"b":1}"#).unwrap();
        assert_eq!(canonical(&a), canonical(&b));
    }
}
