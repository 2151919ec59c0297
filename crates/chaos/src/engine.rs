//! The decisions: one method per question the embedding program asks at a decision point,
//! each answering what to do and journaling the fault when one fires.
//!
//! # Determinism
//!
//! Every random draw comes from a PRNG ([`fastrand::Rng`]) seeded from (the run's seed, the
//! rule's ordinal, the resource's name), created the first time that rule meets that resource.
//! The ordinal is the rule's position when it was armed (the configured rules are 0, 1, ...;
//! rules added at runtime continue the count and removing one does not renumber the others).
//! Counters for `nth`, `times` and `max` live beside the PRNG, per rule and resource.
//!
//! So the answers to one resource's questions depend only on the seed, the rules and the
//! sequence of questions about that resource: polling queue A before or after queue B, or a
//! DynamoDB call interleaving with a receive, shifts nothing. Each matching rule is consulted
//! (and draws) on every matching occurrence even when another rule already decided the answer,
//! so that adding a rule does not shift the streams of the others.
//!
//! The resource is what the question names: the queue, the bus, the table (`-` for a request
//! naming none), the function, and for WebSocket rules the connection (its id, not the API's:
//! the journal names the API as the resource and the connection beside it), so that
//! `gone=nth:3` makes each connection gone at its own 3rd POST. Connection ids are random, so
//! a `p=` WebSocket rule repeats its draws only for connections with the same ids.
//!
//! Stream seeds are `splitmix64(splitmix64(splitmix64(seed) ^ ordinal) ^ fnv1a64(resource))`.
//! This derivation, and fastrand's generator (pinned by Cargo.lock), are part of what makes a
//! seeded run reproducible: changing either changes every seeded run.

use crate::journal::{Entry, Journal};
use crate::rules::{
    DynamoErrorCode, Fault, Rule, RuleError, Target, TargetKind, When, matches_resource,
};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The clock the journal's `t` is read from: devstack's clock, in ms since the epoch.
pub type Now = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What to do with a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeliveryPlan {
    /// Deliver it twice.
    pub duplicate: bool,
    /// Hold it back this long before it can be delivered (0: deliver now). When several delay
    /// rules fire, the longest wins.
    pub delay_ms: u64,
}

/// What happens to an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeFault {
    Crash,
    Timeout,
}

/// A DynamoDB error to answer instead of forwarding the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoFault {
    /// The id of the rule that fired.
    pub rule: String,
    pub code: DynamoErrorCode,
    /// The conflicting transaction item (0-based); `None`: every item.
    pub item: Option<usize>,
}

const DYNAMODB_PREFIX: &str = "com.amazonaws.dynamodb.v20120810#";
const TRANSACTION_CONFLICT_MESSAGE: &str = "Transaction is ongoing for the item";

impl DynamoFault {
    /// The status and awsJson 1.0 body DynamoDB answers with, for `operation` (the
    /// `X-Amz-Target` suffix) and the request's JSON body (read only for the number of
    /// `TransactItems`; pass `Value::Null` if it is not at hand).
    ///
    /// - `TransactionConflict` on `TransactWriteItems` / `TransactGetItems`: 400
    ///   `TransactionCanceledException` with one `CancellationReasons` entry per item:
    ///   `TransactionConflict` for the rule's `item` (all items without one, or when it is out
    ///   of range), `None` for the others. On any other operation: 400
    ///   `TransactionConflictException`, what a single-item write racing a transaction gets.
    /// - `ProvisionedThroughputExceeded`: 400 `ProvisionedThroughputExceededException`.
    /// - `InternalServerError`: 500 `InternalServerError`.
    /// - `ThrottlingException`: 400 `com.amazon.coral.availability#ThrottlingException`.
    ///
    /// The embedder answers with `Content-Type: application/x-amz-json-1.0`.
    pub fn response_body(&self, operation: &str, request: &Value) -> (u16, Value) {
        match self.code {
            DynamoErrorCode::TransactionConflict if is_transaction(operation) => {
                let items = request
                    .get("TransactItems")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len)
                    // Without the request, still name the rule's item (or one item).
                    .max(self.item.map_or(1, |i| i + 1));
                let conflicting = |i: usize| match self.item {
                    Some(item) if item < items => i == item,
                    _ => true,
                };
                let reasons: Vec<Value> = (0..items)
                    .map(|i| {
                        if conflicting(i) {
                            json!({"Code": "TransactionConflict", "Message": TRANSACTION_CONFLICT_MESSAGE})
                        } else {
                            json!({"Code": "None"})
                        }
                    })
                    .collect();
                let codes: Vec<&str> = (0..items)
                    .map(|i| {
                        if conflicting(i) {
                            "TransactionConflict"
                        } else {
                            "None"
                        }
                    })
                    .collect();
                (
                    400,
                    json!({
                        "__type": format!("{DYNAMODB_PREFIX}TransactionCanceledException"),
                        "Message": format!(
                            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                            codes.join(", ")
                        ),
                        "CancellationReasons": reasons,
                    }),
                )
            }
            DynamoErrorCode::TransactionConflict => (
                400,
                json!({
                    "__type": format!("{DYNAMODB_PREFIX}TransactionConflictException"),
                    "message": TRANSACTION_CONFLICT_MESSAGE,
                }),
            ),
            DynamoErrorCode::ProvisionedThroughputExceeded => (
                400,
                json!({
                    "__type": format!("{DYNAMODB_PREFIX}ProvisionedThroughputExceededException"),
                    "message": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
                }),
            ),
            DynamoErrorCode::InternalServerError => (
                500,
                json!({
                    "__type": format!("{DYNAMODB_PREFIX}InternalServerError"),
                    "message": "Internal server error",
                }),
            ),
            DynamoErrorCode::ThrottlingException => (
                400,
                json!({
                    "__type": "com.amazon.coral.availability#ThrottlingException",
                    "message": "Rate of requests exceeds the allowed throughput.",
                }),
            ),
        }
    }
}

fn is_transaction(operation: &str) -> bool {
    matches!(operation, "TransactWriteItems" | "TransactGetItems")
}

// The questions, as bits: a question whose bit is clear has no rule to consult, which is all a
// delivery's hot path pays when chaos is off.
const Q_RECEIVE: u8 = 1;
const Q_BATCH: u8 = 1 << 1;
const Q_BATCH_DONE: u8 = 1 << 2;
const Q_PUT_EVENTS: u8 = 1 << 3;
const Q_DYNAMODB: u8 = 1 << 4;
const Q_INVOKE: u8 = 1 << 5;
const Q_POST_TO_CONNECTION: u8 = 1 << 6;

/// The question that consults a fault.
fn question(fault: &Fault) -> u8 {
    match fault {
        Fault::Duplicate | Fault::Delay { .. } => Q_RECEIVE,
        Fault::Reorder => Q_BATCH,
        Fault::LoseDelete => Q_BATCH_DONE,
        Fault::FailEntry { .. } => Q_PUT_EVENTS,
        Fault::DynamoError { .. } => Q_DYNAMODB,
        Fault::Crash | Fault::Timeout => Q_INVOKE,
        Fault::Gone => Q_POST_TO_CONNECTION,
    }
}

/// The resource key of a DynamoDB question that names no single table.
const NO_TABLE: &str = "-";

/// devstack's fault injector. Cheap to share (`Arc<Chaos>`); every method takes `&self`.
pub struct Chaos {
    seed: u64,
    /// The `Q_*` bits of the armed rules, read without the lock.
    questions: AtomicU8,
    state: Mutex<State>,
    /// The rules as configured at start (ids assigned), which `reset` re-arms.
    initial: Vec<Rule>,
    journal: Journal,
    now: Now,
}

#[derive(Default)]
struct State {
    armed: Vec<Armed>,
    next_ordinal: u64,
    /// DynamoDB calls per (table, operation) since a poller last started an invocation: the
    /// position a DynamoDB fault is journaled with, for replay.
    calls: HashMap<(String, String), u64>,
}

struct Armed {
    id: String,
    ordinal: u64,
    rule: Rule,
    streams: BTreeMap<String, Stream>,
}

/// One rule's state for one resource.
struct Stream {
    rng: fastrand::Rng,
    /// Matching occurrences so far.
    seen: u64,
    /// Times the rule fired (and applied) here.
    fired: u64,
}

impl fmt::Debug for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("seed", &self.seed)
            .field("rules", &self.rules())
            .field("journal", &self.journal)
            .finish_non_exhaustive()
    }
}

impl Chaos {
    /// A fault injector with these rules, drawing from `seed`. Rules without an id get `r1`,
    /// `r2`, ... (by position, skipping ids already taken).
    pub fn new(seed: u64, rules: Vec<Rule>) -> Result<Chaos, RuleError> {
        let mut state = State::default();
        // Explicit ids first, so that an automatic id never takes one a later rule names.
        let mut taken: Vec<String> = Vec::new();
        for rule in &rules {
            rule.validate()?;
            if let Some(id) = &rule.id {
                if taken.contains(id) {
                    return Err(RuleError::DuplicateId { id: id.clone() });
                }
                taken.push(id.clone());
            }
        }
        for rule in rules {
            state.arm(rule, &taken)?;
        }
        let initial = state.armed.iter().map(Armed::rule_with_id).collect();
        let chaos = Chaos {
            seed,
            questions: AtomicU8::new(0),
            state: Mutex::new(state),
            initial,
            journal: Journal::disabled(),
            now: Arc::new(|| 0),
        };
        chaos.refresh_questions(&chaos.lock());
        Ok(chaos)
    }

    /// No rules, no journal: every question answers "no fault" after one atomic load. Rules
    /// added later through [`Chaos::add`] take effect (drawing from seed 0).
    pub fn disabled() -> Chaos {
        Chaos {
            seed: 0,
            questions: AtomicU8::new(0),
            state: Mutex::new(State::default()),
            initial: Vec::new(),
            journal: Journal::disabled(),
            now: Arc::new(|| 0),
        }
    }

    /// Journals every fault that fires into `journal`, stamped with `now()`.
    pub fn with_journal(
        mut self,
        journal: Journal,
        now: impl Fn() -> i64 + Send + Sync + 'static,
    ) -> Chaos {
        self.journal = journal;
        self.now = Arc::new(now);
        self
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The journal faults are recorded in (disabled unless given).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Whether any rule is armed.
    pub fn is_active(&self) -> bool {
        self.questions.load(Ordering::Relaxed) != 0
    }

    /// The armed rules, in order, each with its id.
    pub fn rules(&self) -> Vec<Rule> {
        self.lock().armed.iter().map(Armed::rule_with_id).collect()
    }

    /// Arms a rule (validated; an id assigned if it has none) and returns it as armed.
    pub fn add(&self, rule: Rule) -> Result<Rule, RuleError> {
        let mut state = self.lock();
        let armed = state.arm(rule, &[])?;
        self.refresh_questions(&state);
        Ok(armed)
    }

    /// Disarms the rule with this id, returning it.
    pub fn remove(&self, id: &str) -> Option<Rule> {
        let mut state = self.lock();
        let index = state.armed.iter().position(|a| a.id == id)?;
        let removed = state.armed.remove(index).rule_with_id();
        self.refresh_questions(&state);
        Some(removed)
    }

    /// Disarms every rule; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut state = self.lock();
        let n = state.armed.len();
        state.armed.clear();
        self.refresh_questions(&state);
        n
    }

    /// Back to the start: the configured rules, their counters and random streams as new, so a
    /// scenario can run again with the same answers. Rules added at runtime are dropped.
    pub fn reset(&self) {
        let mut state = self.lock();
        *state = State::default();
        for rule in &self.initial {
            // These were valid with these ids when first armed.
            let _ = state.arm(rule.clone(), &[]);
        }
        self.refresh_questions(&state);
    }

    /// A message of `queue` (its name and ARN) is about to be delivered for the
    /// `receive_count`th time: deliver it twice? hold it back?
    pub fn on_receive(
        &self,
        queue: &str,
        queue_arn: &str,
        message_id: &str,
        receive_count: u32,
    ) -> DeliveryPlan {
        let mut plan = DeliveryPlan::default();
        if !self.asks(Q_RECEIVE) {
            return plan;
        }
        let mut fired = Vec::new();
        {
            let mut state = self.lock();
            for armed in &mut state.armed {
                if question(&armed.rule.fault) != Q_RECEIVE
                    || !armed
                        .rule
                        .target
                        .matches(TargetKind::Queue, queue, Some(queue_arn))
                {
                    continue;
                }
                if armed
                    .roll(self.seed, queue, |id| id == message_id)
                    .is_none()
                {
                    continue;
                }
                armed.commit(queue);
                match armed.rule.fault {
                    Fault::Duplicate => plan.duplicate = true,
                    Fault::Delay { ms } => plan.delay_ms = plan.delay_ms.max(ms),
                    _ => {}
                }
                fired.push(Fired {
                    message_id: Some(message_id.to_owned()),
                    receive_count: Some(receive_count),
                    ..Fired::new(armed, queue)
                });
            }
        }
        self.record(fired);
        plan
    }

    /// A batch of `queue` is about to be handed to a function: the order to hand it in, as
    /// indices into `ids` (`None`: as it is). Batches of fewer than two messages are not
    /// occurrences, since there is nothing to reorder. Several firing rules shuffle in turn.
    pub fn on_batch(&self, queue: &str, ids: &[String]) -> Option<Vec<usize>> {
        if ids.len() < 2 || !self.asks(Q_BATCH) {
            return None;
        }
        let mut order: Option<Vec<usize>> = None;
        let mut fired = Vec::new();
        {
            let mut state = self.lock();
            for armed in &mut state.armed {
                if question(&armed.rule.fault) != Q_BATCH
                    || !armed.rule.target.matches(TargetKind::Queue, queue, None)
                {
                    continue;
                }
                let Some(rng) = armed.roll(self.seed, queue, |id| ids.iter().any(|m| m == id))
                else {
                    continue;
                };
                let shuffle = permutation(rng, ids.len());
                let current = order.take().unwrap_or_else(|| (0..ids.len()).collect());
                let next: Vec<usize> = shuffle.iter().map(|&k| current[k]).collect();
                armed.commit(queue);
                fired.push(Fired {
                    message_ids: ids.to_vec(),
                    order: Some(next.clone()),
                    ..Fired::new(armed, queue)
                });
                order = Some(next);
            }
        }
        self.record(fired);
        order
    }

    /// A message of `queue` was processed successfully and is about to be deleted: lose the
    /// delete (`true`), so that it comes back after its visibility timeout?
    pub fn on_batch_done(&self, queue: &str, message_id: &str) -> bool {
        if !self.asks(Q_BATCH_DONE) {
            return false;
        }
        let mut lose = false;
        let mut fired = Vec::new();
        {
            let mut state = self.lock();
            for armed in &mut state.armed {
                if question(&armed.rule.fault) != Q_BATCH_DONE
                    || !armed.rule.target.matches(TargetKind::Queue, queue, None)
                {
                    continue;
                }
                if armed
                    .roll(self.seed, queue, |id| id == message_id)
                    .is_none()
                {
                    continue;
                }
                armed.commit(queue);
                lose = true;
                fired.push(Fired {
                    message_id: Some(message_id.to_owned()),
                    ..Fired::new(armed, queue)
                });
            }
        }
        self.record(fired);
        lose
    }

    /// Entry `index` of a PutEvents request to `bus` (a name or ARN) is valid: fail it with
    /// this `(ErrorCode, ErrorMessage)`? `entry_summary` (e.g. `source / detail-type`) goes to
    /// the journal. The first firing rule decides; the others still count the occurrence.
    pub fn on_put_events_entry(
        &self,
        bus: &str,
        index: usize,
        entry_summary: &str,
    ) -> Option<(String, String)> {
        if !self.asks(Q_PUT_EVENTS) {
            return None;
        }
        let mut answer = None;
        let mut fired = Vec::new();
        {
            let mut state = self.lock();
            for armed in &mut state.armed {
                if question(&armed.rule.fault) != Q_PUT_EVENTS
                    || !armed.rule.target.matches(TargetKind::Bus, bus, None)
                {
                    continue;
                }
                if armed.roll(self.seed, bus, |_| false).is_none() || answer.is_some() {
                    continue;
                }
                if let Fault::FailEntry { code, message } = &armed.rule.fault {
                    answer = Some((code.clone(), message.clone()));
                }
                armed.commit(bus);
                fired.push(Fired {
                    index: Some(index),
                    detail: Some(entry_summary.to_owned()),
                    ..Fired::new(armed, bus)
                });
            }
        }
        self.record(fired);
        answer
    }

    /// A DynamoDB `operation` on `table` (the table the request names; `None` for requests
    /// that name several or none, which only `table=*` rules match) is about to run: answer
    /// with an error instead? The first firing rule decides.
    pub fn on_dynamodb(&self, table: Option<&str>, operation: &str) -> Option<DynamoFault> {
        if !self.asks(Q_DYNAMODB) {
            return None;
        }
        let resource = table.unwrap_or(NO_TABLE);
        let mut answer = None;
        let mut fired = Vec::new();
        {
            let mut state = self.lock();
            let call = {
                let n = state
                    .calls
                    .entry((resource.to_owned(), operation.to_owned()))
                    .or_default();
                *n += 1;
                *n
            };
            for armed in &mut state.armed {
                let Target::Table {
                    table: pattern,
                    operation: op,
                } = &armed.rule.target
                else {
                    continue;
                };
                let table_matches = match table {
                    Some(t) => matches_resource(pattern, t, None),
                    None => pattern == "*",
                };
                let op_matches = op
                    .as_deref()
                    .is_none_or(|op| crate::rules::glob(op, operation));
                if !(table_matches && op_matches) {
                    continue;
                }
                if armed.roll(self.seed, resource, |_| false).is_none() || answer.is_some() {
                    continue;
                }
                if let Fault::DynamoError { code, item } = armed.rule.fault {
                    answer = Some(DynamoFault {
                        rule: armed.id.clone(),
                        code,
                        item,
                    });
                }
                armed.commit(resource);
                fired.push(Fired {
                    operation: Some(operation.to_owned()),
                    call: Some(call),
                    ..Fired::new(armed, resource)
                });
            }
        }
        self.record(fired);
        answer
    }

    /// `function` is about to be invoked with these messages (SQS message ids, or the event
    /// id of an EventBridge invocation; empty when there are none): crash it or time it out?
    /// The first firing rule decides.
    pub fn on_invoke(&self, function: &str, message_ids: &[String]) -> Option<InvokeFault> {
        // A new invocation: DynamoDB calls are counted from here (see `State::calls`).
        if self.asks(Q_DYNAMODB) {
            self.lock().calls.clear();
        }
        if !self.asks(Q_INVOKE) {
            return None;
        }
        let mut answer = None;
        let mut fired = Vec::new();
        {
            let mut state = self.lock();
            for armed in &mut state.armed {
                if question(&armed.rule.fault) != Q_INVOKE
                    || !armed
                        .rule
                        .target
                        .matches(TargetKind::Function, function, None)
                {
                    continue;
                }
                let rolled = armed.roll(self.seed, function, |id| {
                    message_ids.iter().any(|m| m == id)
                });
                if rolled.is_none() || answer.is_some() {
                    continue;
                }
                answer = match armed.rule.fault {
                    Fault::Timeout => Some(InvokeFault::Timeout),
                    _ => Some(InvokeFault::Crash),
                };
                armed.commit(function);
                let message_id = match &armed.rule.when {
                    When::MessageId(id) => Some(id.clone()),
                    _ => None,
                };
                fired.push(Fired {
                    message_id,
                    message_ids: message_ids.to_vec(),
                    ..Fired::new(armed, function)
                });
            }
        }
        self.record(fired);
        answer
    }

    /// A `@connections` POST arrived for the open connection `connection_id` of the WebSocket
    /// API `api` (its logical id; `api_id` is its API id, which a rule may name instead): is
    /// the connection gone (`true`), so that the embedder drops it without a close frame or
    /// `$disconnect` and answers 410? Occurrences are counted per connection (the resource);
    /// the journal names the API as the resource and the connection beside it. The first
    /// firing rule decides; the others still count the occurrence.
    pub fn on_post_to_connection(&self, api: &str, api_id: &str, connection_id: &str) -> bool {
        if !self.asks(Q_POST_TO_CONNECTION) {
            return false;
        }
        let mut gone = false;
        let mut fired = Vec::new();
        {
            let mut state = self.lock();
            for armed in &mut state.armed {
                let Target::WebSocket {
                    api: pattern,
                    connection,
                } = &armed.rule.target
                else {
                    continue;
                };
                let api_matches =
                    matches_resource(pattern, api, None) || crate::rules::glob(pattern, api_id);
                let connection_matches = connection
                    .as_deref()
                    .is_none_or(|c| crate::rules::glob(c, connection_id));
                if !(api_matches && connection_matches) {
                    continue;
                }
                if armed.roll(self.seed, connection_id, |_| false).is_none() || gone {
                    continue;
                }
                gone = true;
                armed.commit(connection_id);
                fired.push(Fired {
                    connection_id: Some(connection_id.to_owned()),
                    ..Fired::new(armed, api)
                });
            }
        }
        self.record(fired);
        gone
    }

    fn asks(&self, question: u8) -> bool {
        self.questions.load(Ordering::Relaxed) & question != 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves counters at worst one occurrence behind, which
        // is no reason to stop injecting faults.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refresh_questions(&self, state: &State) {
        let bits = state
            .armed
            .iter()
            .fold(0, |bits, a| bits | question(&a.rule.fault));
        self.questions.store(bits, Ordering::Relaxed);
    }

    /// Journals the faults that fired, after the decision's lock is released.
    fn record(&self, fired: Vec<Fired>) {
        if fired.is_empty() || !self.journal.is_enabled() {
            return;
        }
        let t = (self.now)();
        for f in fired {
            // A journal that cannot write must not change what is injected; the journal keeps
            // the error for whoever reads it.
            let _ = self.journal.record(t, &f.into_entry());
        }
    }
}

impl State {
    /// Arms `rule`; an automatic id avoids `reserved` (ids that rules still to be armed name).
    fn arm(&mut self, mut rule: Rule, reserved: &[String]) -> Result<Rule, RuleError> {
        rule.validate()?;
        let ordinal = self.next_ordinal;
        let id = match rule.id.take() {
            Some(id) if self.armed.iter().any(|a| a.id == id) => {
                return Err(RuleError::DuplicateId { id });
            }
            Some(id) => id,
            None => (ordinal + 1..)
                .map(|n| format!("r{n}"))
                .find(|id| !reserved.contains(id) && !self.armed.iter().any(|a| &a.id == id))
                .unwrap_or_default(),
        };
        self.next_ordinal += 1;
        let armed = Armed {
            id,
            ordinal,
            rule,
            streams: BTreeMap::new(),
        };
        let with_id = armed.rule_with_id();
        self.armed.push(armed);
        Ok(with_id)
    }
}

impl Armed {
    fn rule_with_id(&self) -> Rule {
        Rule {
            id: Some(self.id.clone()),
            ..self.rule.clone()
        }
    }

    /// Counts one matching occurrence on `resource` and decides whether the rule fires there;
    /// if it does, returns the stream's PRNG for any further draws. Does not count a firing:
    /// [`Armed::commit`] does, once the caller applies it.
    fn roll(
        &mut self,
        seed: u64,
        resource: &str,
        has_message: impl Fn(&str) -> bool,
    ) -> Option<&mut fastrand::Rng> {
        let ordinal = self.ordinal;
        let stream = self
            .streams
            .entry(resource.to_owned())
            .or_insert_with(|| Stream {
                rng: fastrand::Rng::with_seed(stream_seed(seed, ordinal, resource)),
                seen: 0,
                fired: 0,
            });
        stream.seen += 1;
        let fire = match &self.rule.when {
            When::Every => true,
            When::Nth(n) => stream.seen.is_multiple_of(*n),
            When::Times(n) => stream.seen <= *n,
            // Always drawn, whatever the outcome, so the stream advances once per occurrence.
            When::Probability(p) => stream.rng.f64() < *p,
            When::MessageId(id) => has_message(id),
        };
        let spent = self.rule.max.is_some_and(|max| stream.fired >= max);
        (fire && !spent).then_some(&mut stream.rng)
    }

    fn commit(&mut self, resource: &str) {
        if let Some(stream) = self.streams.get_mut(resource) {
            stream.fired += 1;
        }
    }
}

/// A random permutation of `0..n` (n >= 2) that is never the identity, since a reorder that
/// changes nothing would be a fault journaled but not injected.
fn permutation(rng: &mut fastrand::Rng, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    // Fisher-Yates, written out rather than `Rng::shuffle` so the draws are ours to document.
    for i in (1..n).rev() {
        let j = rng.usize(..=i);
        order.swap(i, j);
    }
    if order.iter().enumerate().all(|(i, &k)| i == k) {
        order.rotate_left(1);
    }
    order
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The seed of one rule's stream on one resource. A fixed function of its inputs (not std's
/// `Hasher`, whose output may change between Rust releases).
fn stream_seed(seed: u64, ordinal: u64, resource: &str) -> u64 {
    splitmix64(splitmix64(splitmix64(seed) ^ ordinal) ^ fnv1a64(resource))
}

/// A fault that fired, on its way to the journal.
struct Fired {
    rule: String,
    fault: Fault,
    resource: String,
    message_id: Option<String>,
    message_ids: Vec<String>,
    operation: Option<String>,
    connection_id: Option<String>,
    index: Option<usize>,
    order: Option<Vec<usize>>,
    receive_count: Option<u32>,
    detail: Option<String>,
    call: Option<u64>,
}

impl Fired {
    fn new(armed: &Armed, resource: &str) -> Fired {
        Fired {
            rule: armed.id.clone(),
            fault: armed.rule.fault.clone(),
            resource: resource.to_owned(),
            message_id: None,
            message_ids: Vec::new(),
            operation: None,
            connection_id: None,
            index: None,
            order: None,
            receive_count: None,
            detail: None,
            call: None,
        }
    }

    fn into_entry(self) -> Entry {
        Entry::Fault {
            rule: self.rule,
            fault: self.fault,
            resource: self.resource,
            message_id: self.message_id,
            message_ids: self.message_ids,
            operation: self.operation,
            connection_id: self.connection_id,
            index: self.index,
            order: self.order,
            receive_count: self.receive_count,
            detail: self.detail,
            call: self.call,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{Entry, Journal};
    use std::sync::atomic::AtomicI64;

    fn rule(text: &str) -> Rule {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn chaos(seed: u64, rules: &[&str]) -> Chaos {
        Chaos::new(seed, rules.iter().map(|r| rule(r)).collect()).unwrap()
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m-{i}")).collect()
    }

    /// A mixed workload touching every question, answering with a transcript of decisions.
    fn scenario(c: &Chaos) -> Vec<String> {
        let mut out = Vec::new();
        for round in 0..40u32 {
            for queue in ["ClicksQueue", "OtherQueue"] {
                let arn = format!("arn:aws:sqs:us-east-1:000000000000:{queue}");
                let id = format!("{queue}-{round}");
                let plan = c.on_receive(queue, &arn, &id, 1 + round % 3);
                out.push(format!("recv {queue} {id} {plan:?}"));
                let batch = ids(3 + (round as usize % 3));
                out.push(format!("batch {queue} {:?}", c.on_batch(queue, &batch)));
                out.push(format!("done {queue} {}", c.on_batch_done(queue, &id)));
            }
            out.push(format!(
                "put {:?}",
                c.on_put_events_entry("default", round as usize % 2, "app / link.clicked")
            ));
            out.push(format!(
                "ddb {:?}",
                c.on_dynamodb(Some("Links"), "TransactWriteItems")
            ));
            out.push(format!(
                "inv {:?}",
                c.on_invoke("ClickAggregator", &[format!("ClicksQueue-{round}")])
            ));
        }
        out
    }

    const MIXED: &[&str] = &[
        "queue=* duplicate=0.3",
        "queue=ClicksQueue delay=250 p=0.2",
        "queue=* reorder=0.5",
        "queue=* lose-delete=0.3",
        "bus=* fail-entry=0.25",
        "table=* op=Transact* error=TransactionConflict p=0.3",
        "function=ClickAggregator crash=0.2",
        "function=ClickAggregator timeout=0.2",
    ];

    fn journaled(seed: u64) -> (Vec<String>, Vec<u8>) {
        let clock = Arc::new(AtomicI64::new(1_700_000_000_000));
        let tick = clock.clone();
        let journal = Journal::memory();
        let c = chaos(seed, MIXED).with_journal(journal.clone(), move || {
            tick.fetch_add(7, Ordering::Relaxed)
        });
        let transcript = scenario(&c);
        (transcript, journal.contents())
    }

    #[test]
    fn same_seed_same_decisions_and_journal_bytes() {
        let (a, ja) = journaled(42);
        let (b, jb) = journaled(42);
        assert_eq!(a, b);
        assert_eq!(ja, jb);
        assert!(!ja.is_empty());
        // Something of every kind fired.
        let text = String::from_utf8(ja).unwrap();
        for fault in [
            "duplicate",
            "delay",
            "reorder",
            "lose-delete",
            "fail-entry",
            "dynamo-error",
        ] {
            assert!(text.contains(&format!("\"type\":\"{fault}\"")), "{fault}");
        }
        assert!(text.contains("\"type\":\"crash\"") || text.contains("\"type\":\"timeout\""));
    }

    #[test]
    fn different_seed_different_run() {
        let (a, ja) = journaled(42);
        let (b, jb) = journaled(43);
        assert_ne!(a, b);
        assert_ne!(ja, jb);
    }

    #[test]
    fn streams_are_independent_per_resource() {
        // Queue A's answers are the same whether or not queue B is asked in between, and in
        // whichever order.
        let rules = &["queue=* duplicate=0.5", "queue=* lose-delete=0.5"];
        let alone = chaos(7, rules);
        let a_alone: Vec<_> = (0..64)
            .map(|i| {
                let id = format!("a{i}");
                (
                    alone.on_receive("A", "arn:A", &id, 1),
                    alone.on_batch_done("A", &id),
                )
            })
            .collect();
        let mixed = chaos(7, rules);
        let a_mixed: Vec<_> = (0..64)
            .map(|i| {
                for j in 0..(i % 4) {
                    mixed.on_receive("B", "arn:B", &format!("b{i}-{j}"), 1);
                    mixed.on_batch_done("B", "b");
                    mixed.on_dynamodb(Some("T"), "PutItem");
                }
                let id = format!("a{i}");
                (
                    mixed.on_receive("A", "arn:A", &id, 1),
                    mixed.on_batch_done("A", &id),
                )
            })
            .collect();
        assert_eq!(a_alone, a_mixed);
        // And the two queues do not draw the same stream.
        let b: Vec<_> = (0..64)
            .map(|i| alone.on_receive("B", "arn:B", &format!("b{i}"), 1))
            .collect();
        let a: Vec<_> = a_alone.iter().map(|(plan, _)| *plan).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn adding_a_rule_does_not_shift_the_others() {
        let base = chaos(9, &["queue=* duplicate=0.5"]);
        let more = chaos(9, &["queue=* duplicate=0.5", "queue=* lose-delete=0.5"]);
        for i in 0..50 {
            let id = format!("m{i}");
            let a = base.on_receive("Q", "arn:Q", &id, 1);
            let b = more.on_receive("Q", "arn:Q", &id, 1);
            more.on_batch_done("Q", &id);
            assert_eq!(a, b, "{i}");
        }
    }

    #[test]
    fn nth_times_message_and_max() {
        let c = chaos(1, &["queue=Q duplicate=nth:3"]);
        let fired: Vec<bool> = (0..9)
            .map(|i| c.on_receive("Q", "arn:Q", &format!("m{i}"), 1).duplicate)
            .collect();
        assert_eq!(
            fired,
            [false, false, true, false, false, true, false, false, true]
        );

        let c = chaos(1, &["queue=Q lose-delete=times:2"]);
        let fired: Vec<bool> = (0..5).map(|_| c.on_batch_done("Q", "m")).collect();
        assert_eq!(fired, [true, true, false, false, false]);

        let c = chaos(1, &["function=F crash=message:abc-123"]);
        assert_eq!(c.on_invoke("F", &ids(3)), None);
        let with = vec!["x".to_owned(), "abc-123".to_owned()];
        assert_eq!(c.on_invoke("F", &with), Some(InvokeFault::Crash));
        assert_eq!(c.on_invoke("F", &with), Some(InvokeFault::Crash));
        assert_eq!(c.on_invoke("G", &with), None);

        let c = chaos(1, &["function=F crash=message:abc-123 max=1"]);
        let with = vec!["abc-123".to_owned()];
        assert_eq!(c.on_invoke("F", &with), Some(InvokeFault::Crash));
        assert_eq!(c.on_invoke("F", &with), None, "the retry succeeds");

        // Counting is per resource: each queue has its own 2nd occurrence.
        let c = chaos(1, &["queue=* duplicate=nth:2"]);
        let seq: Vec<bool> = ["A", "B", "A", "B", "A"]
            .iter()
            .map(|q| c.on_receive(q, "", "m", 1).duplicate)
            .collect();
        assert_eq!(seq, [false, false, true, true, false]);
    }

    #[test]
    fn probability_extremes_and_rate() {
        let never = chaos(5, &["queue=Q duplicate=0"]);
        let always = chaos(5, &["queue=Q duplicate=1"]);
        let some = chaos(5, &["queue=Q duplicate=0.3"]);
        let mut hits = 0;
        for i in 0..2000 {
            let id = format!("m{i}");
            assert!(!never.on_receive("Q", "", &id, 1).duplicate);
            assert!(always.on_receive("Q", "", &id, 1).duplicate);
            hits += usize::from(some.on_receive("Q", "", &id, 1).duplicate);
        }
        assert!((450..750).contains(&hits), "{hits} of 2000 at p=0.3");
    }

    #[test]
    fn matching_by_name_arn_glob_and_operation() {
        let arn = "arn:aws:sqs:us-east-1:000000000000:ClicksQueue";
        let c = chaos(1, &[&format!("queue={arn} duplicate")]);
        assert!(c.on_receive("ClicksQueue", arn, "m", 1).duplicate);
        assert!(!c.on_receive("Other", "arn:x:Other", "m", 1).duplicate);

        let c = chaos(1, &["table=Links op=Transact* error=InternalServerError"]);
        assert!(c.on_dynamodb(Some("Links"), "TransactWriteItems").is_some());
        assert!(c.on_dynamodb(Some("Links"), "PutItem").is_none());
        assert!(c.on_dynamodb(Some("Other"), "TransactWriteItems").is_none());
        assert!(c.on_dynamodb(None, "TransactWriteItems").is_none());
        let c = chaos(1, &["table=* error=ThrottlingException"]);
        assert_eq!(
            c.on_dynamodb(None, "ListTables").map(|f| f.code),
            Some(DynamoErrorCode::ThrottlingException)
        );

        let c = chaos(1, &["bus=app* fail-entry code=X message=Y"]);
        assert_eq!(
            c.on_put_events_entry("app-bus", 0, "s / d"),
            Some(("X".into(), "Y".into()))
        );
        assert_eq!(c.on_put_events_entry("default", 0, "s / d"), None);
    }

    #[test]
    fn reorder_is_a_real_permutation() {
        let c = chaos(3, &["queue=Q reorder"]);
        assert_eq!(
            c.on_batch("Q", &ids(1)),
            None,
            "one message is no occurrence"
        );
        for n in 2..10 {
            let order = c.on_batch("Q", &ids(n)).unwrap();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n).collect::<Vec<_>>());
            assert_ne!(order, sorted, "never the identity");
        }
        assert_eq!(c.on_batch("Other", &ids(3)), None);
    }

    #[test]
    fn first_rule_decides_exclusive_faults() {
        let c = chaos(
            1,
            &["function=F timeout=every", "function=F crash=every max=1"],
        );
        assert_eq!(c.on_invoke("F", &[]), Some(InvokeFault::Timeout));
        // The crash rule's max was not spent by the shadowed occurrence.
        c.remove("r1").unwrap();
        assert_eq!(c.on_invoke("F", &[]), Some(InvokeFault::Crash));
        assert_eq!(c.on_invoke("F", &[]), None);
    }

    #[test]
    fn delays_take_the_longest() {
        let c = chaos(1, &["queue=* delay=100", "queue=Q delay=2s"]);
        assert_eq!(
            c.on_receive("Q", "", "m", 1),
            DeliveryPlan {
                duplicate: false,
                delay_ms: 2000
            }
        );
        assert_eq!(c.on_receive("R", "", "m", 1).delay_ms, 100);
    }

    #[test]
    fn disabled_and_runtime_rules() {
        let c = Chaos::disabled();
        assert!(!c.is_active());
        assert_eq!(c.on_receive("Q", "", "m", 1), DeliveryPlan::default());
        assert_eq!(c.on_batch("Q", &ids(3)), None);
        assert!(!c.on_batch_done("Q", "m"));
        assert_eq!(c.on_put_events_entry("b", 0, ""), None);
        assert_eq!(c.on_dynamodb(Some("T"), "GetItem"), None);
        assert_eq!(c.on_invoke("F", &[]), None);
        assert!(!c.on_post_to_connection("Api", "id", "c"));

        let added = c.add(rule("queue=Q lose-delete")).unwrap();
        assert_eq!(added.id.as_deref(), Some("r1"));
        assert!(c.is_active());
        assert!(c.on_batch_done("Q", "m"));
        // Only the question that has rules pays for the lock.
        assert_eq!(c.on_receive("Q", "", "m", 1), DeliveryPlan::default());
        assert_eq!(c.remove("r1").map(|r| r.fault), Some(Fault::LoseDelete));
        assert!(!c.is_active());
        assert!(c.remove("r1").is_none());
    }

    #[test]
    fn ids_are_assigned_and_unique() {
        let c = chaos(
            1,
            &[
                "queue=Q duplicate",
                "id=r1 queue=Q lose-delete",
                "queue=Q reorder",
            ],
        );
        let ids: Vec<_> = c.rules().into_iter().map(|r| r.id.unwrap()).collect();
        assert_eq!(ids, ["r2", "r1", "r3"]);
        assert!(matches!(
            c.add(rule("id=r3 function=F crash")),
            Err(RuleError::DuplicateId { .. })
        ));
        assert_eq!(c.add(rule("function=F crash")).unwrap().id.unwrap(), "r4");
        assert!(matches!(
            Chaos::new(
                0,
                vec![rule("id=a queue=Q duplicate"), rule("id=a queue=Q reorder")]
            ),
            Err(RuleError::DuplicateId { .. })
        ));
        // Rules built in code are validated too.
        let bad = Rule::new(Target::Bus("b".into()), Fault::Crash);
        assert!(Chaos::new(0, vec![bad]).is_err());
    }

    #[test]
    fn reset_replays_the_same_answers() {
        let c = chaos(11, &["queue=* duplicate=0.5", "queue=Q lose-delete=nth:2"]);
        let run = |c: &Chaos| {
            (0..30)
                .map(|i| {
                    let id = format!("m{i}");
                    (c.on_receive("Q", "", &id, 1), c.on_batch_done("Q", &id))
                })
                .collect::<Vec<_>>()
        };
        let first = run(&c);
        c.add(rule("queue=Q reorder")).unwrap();
        c.remove("r1");
        c.reset();
        assert_eq!(c.rules().len(), 2);
        assert_eq!(run(&c), first);
        assert_eq!(c.clear(), 2);
        assert!(!c.is_active());
    }

    #[test]
    fn faults_are_journaled() {
        let journal = Journal::memory();
        let c = chaos(
            1,
            &[
                "id=dup queue=Q duplicate",
                "table=T error=InternalServerError",
            ],
        )
        .with_journal(journal.clone(), || 1234);
        c.on_receive("Q", "arn:Q", "m-1", 2);
        c.on_dynamodb(Some("T"), "GetItem");
        c.on_receive("R", "arn:R", "m-2", 1);
        let text = String::from_utf8(journal.contents()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"seq":1,"t":1234,"kind":"fault","rule":"dup","fault":{"type":"duplicate"},"resource":"Q","message_id":"m-1","receive_count":2}"#,
                r#"{"seq":2,"t":1234,"kind":"fault","rule":"r2","fault":{"type":"dynamo-error","code":"InternalServerError"},"resource":"T","operation":"GetItem","call":1}"#,
            ]
        );
    }

    /// A DynamoDB fault says which call of its table and operation it answered, counted from
    /// the latest invocation a poller started: what a replay needs to hit the same call.
    #[test]
    fn dynamodb_faults_carry_their_call_position() {
        let journal = Journal::memory();
        let c = chaos(
            1,
            &["table=T op=TransactWriteItems error=TransactionConflict nth=2"],
        )
        .with_journal(journal.clone(), || 0);
        let calls = |ops: &[&str]| {
            for op in ops {
                c.on_dynamodb(Some("T"), op);
            }
        };
        c.on_invoke("F", &["m-1".into()]);
        // GetItems are counted apart: they do not move the transactions' positions.
        calls(&[
            "TransactWriteItems",
            "GetItem",
            "TransactWriteItems",
            "TransactWriteItems",
        ]);
        // A new invocation counts from 1 again; the rule's own nth goes on (its 4th match).
        c.on_invoke("F", &["m-2".into()]);
        calls(&["TransactWriteItems"]);
        let positions: Vec<Option<u64>> = Journal::parse(&journal.contents())
            .unwrap()
            .into_iter()
            .map(|r| match r.entry {
                Entry::Fault { call, .. } => call,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(positions, [Some(2), Some(1)]);
    }

    #[test]
    fn dynamodb_error_bodies() {
        let fault = |code, item| DynamoFault {
            rule: "r1".into(),
            code,
            item,
        };
        let request =
            json!({"TransactItems": [{"Put": {}}, {"Update": {}}, {"ConditionCheck": {}}]});

        let (status, body) = fault(DynamoErrorCode::TransactionConflict, None)
            .response_body("TransactWriteItems", &request);
        assert_eq!(status, 400);
        assert_eq!(
            body,
            json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, TransactionConflict, TransactionConflict]",
                "CancellationReasons": [
                    {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
                    {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
                    {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
                ]
            })
        );

        let (_, body) = fault(DynamoErrorCode::TransactionConflict, Some(1))
            .response_body("TransactWriteItems", &request);
        assert_eq!(
            body["Message"],
            "Transaction cancelled, please refer cancellation reasons for specific reasons [None, TransactionConflict, None]"
        );
        assert_eq!(
            body["CancellationReasons"],
            json!([
                {"Code": "None"},
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
                {"Code": "None"},
            ])
        );
        // Out of range: every item conflicts rather than none.
        let (_, body) = fault(DynamoErrorCode::TransactionConflict, Some(7))
            .response_body("TransactGetItems", &request);
        assert_eq!(body["CancellationReasons"].as_array().unwrap().len(), 8);
        // Without the request: one reason per item up to the named one.
        let (_, body) = fault(DynamoErrorCode::TransactionConflict, Some(1))
            .response_body("TransactWriteItems", &Value::Null);
        assert_eq!(
            body["CancellationReasons"],
            json!([{"Code": "None"}, {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}])
        );

        assert_eq!(
            fault(DynamoErrorCode::TransactionConflict, None)
                .response_body("PutItem", &Value::Null),
            (
                400,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                    "message": "Transaction is ongoing for the item"
                })
            )
        );
        assert_eq!(
            fault(DynamoErrorCode::ProvisionedThroughputExceeded, None)
                .response_body("UpdateItem", &Value::Null),
            (
                400,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                    "message": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."
                })
            )
        );
        assert_eq!(
            fault(DynamoErrorCode::InternalServerError, None).response_body("Query", &Value::Null),
            (
                500,
                json!({
                    "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                    "message": "Internal server error"
                })
            )
        );
        assert_eq!(
            fault(DynamoErrorCode::ThrottlingException, None).response_body("Scan", &Value::Null),
            (
                400,
                json!({
                    "__type": "com.amazon.coral.availability#ThrottlingException",
                    "message": "Rate of requests exceeds the allowed throughput."
                })
            )
        );
    }

    #[test]
    fn gone_connections_count_per_connection() {
        // Matching: the API by logical id, API id or glob; the connection by id or glob.
        let c = chaos(1, &["websocket=WebSocketApi connection=abc* gone"]);
        assert!(c.on_post_to_connection("WebSocketApi", "k3x9p0q2ab", "abc1="));
        assert!(!c.on_post_to_connection("WebSocketApi", "k3x9p0q2ab", "xyz1="));
        assert!(!c.on_post_to_connection("OtherApi", "zzzzzzzzzz", "abc1="));
        let c = chaos(1, &["websocket=k3x9p0q2ab gone"]);
        assert!(c.on_post_to_connection("WebSocketApi", "k3x9p0q2ab", "c1"));
        let c = chaos(1, &["websocket=Web* gone"]);
        assert!(c.on_post_to_connection("WebSocketApi", "k3x9p0q2ab", "c1"));
        assert!(!c.on_post_to_connection("Live", "k3x9p0q2ab", "c1"));

        // Counting is per connection: each connection's own 2nd POST.
        let c = chaos(1, &["websocket=* gone=nth:2"]);
        let seq: Vec<bool> = ["a", "b", "a", "b", "c", "a"]
            .iter()
            .map(|conn| c.on_post_to_connection("Api", "id", conn))
            .collect();
        assert_eq!(seq, [false, false, true, true, false, false]);
        // `times:1`: the first POST of each connection.
        let c = chaos(1, &["websocket=* gone=times:1"]);
        let seq: Vec<bool> = ["a", "a", "b", "b"]
            .iter()
            .map(|conn| c.on_post_to_connection("Api", "id", conn))
            .collect();
        assert_eq!(seq, [true, false, true, false]);
        // `max=1` caps the firings per connection, not per API.
        let c = chaos(1, &["websocket=* gone max=1"]);
        assert!(c.on_post_to_connection("Api", "id", "a"));
        assert!(!c.on_post_to_connection("Api", "id", "a"));
        assert!(c.on_post_to_connection("Api", "id", "b"));

        // Other questions do not consult WebSocket rules, nor these theirs.
        let c = chaos(1, &["websocket=* gone", "function=* crash"]);
        assert_eq!(c.on_invoke("F", &[]), Some(InvokeFault::Crash));
        assert!(c.on_post_to_connection("Api", "id", "a"));
        let c = chaos(1, &["function=* crash"]);
        assert!(!c.on_post_to_connection("Api", "id", "a"));

        // Seeded: the same seed, the same answers for the same connections.
        let run = |seed| {
            let c = chaos(seed, &["websocket=* gone=0.5"]);
            (0..64)
                .map(|i| c.on_post_to_connection("Api", "id", &format!("c{}", i % 8)))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn first_gone_rule_decides_and_is_journaled() {
        let journal = Journal::memory();
        let c = chaos(
            1,
            &[
                "id=one websocket=WebSocketApi connection=c1 gone",
                "id=any websocket=* gone max=1",
            ],
        )
        .with_journal(journal.clone(), || 77);
        assert!(c.on_post_to_connection("WebSocketApi", "k3x9p0q2ab", "c1"));
        // The shadowed rule spent none of its `max` on c1; it fires for c2.
        assert!(c.on_post_to_connection("WebSocketApi", "k3x9p0q2ab", "c2"));
        c.remove("one").unwrap();
        assert!(c.on_post_to_connection("WebSocketApi", "k3x9p0q2ab", "c1"));
        let text = String::from_utf8(journal.contents()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"{"seq":1,"t":77,"kind":"fault","rule":"one","fault":{"type":"gone"},"resource":"WebSocketApi","connection_id":"c1"}"#,
                r#"{"seq":2,"t":77,"kind":"fault","rule":"any","fault":{"type":"gone"},"resource":"WebSocketApi","connection_id":"c2"}"#,
                r#"{"seq":3,"t":77,"kind":"fault","rule":"any","fault":{"type":"gone"},"resource":"WebSocketApi","connection_id":"c1"}"#,
            ]
        );
        let records = Journal::parse(text.as_bytes()).unwrap();
        assert_eq!(
            crate::journal::render_line(&records[0]),
            "#1 1970-01-01T00:00:00.077Z fault [one] gone on websocket WebSocketApi connection=c1"
        );
    }

    #[test]
    fn shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Chaos>();
        assert_send_sync::<Journal>();
    }

    #[test]
    fn stream_seed_is_stable() {
        // Pinned: a change here changes every seeded run users may have recorded.
        assert_eq!(stream_seed(0, 0, ""), stream_seed(0, 0, ""));
        assert_ne!(stream_seed(1, 0, "Q"), stream_seed(1, 1, "Q"));
        assert_ne!(stream_seed(1, 0, "Q"), stream_seed(1, 0, "R"));
        assert_ne!(stream_seed(1, 0, "Q"), stream_seed(2, 0, "Q"));
        assert_eq!(fnv1a64(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(splitmix64(0), 0xe220_a839_7b1d_cdaf);
    }
}
