//! devstack's EventBridge, speaking awsJson 1.1 (`X-Amz-Target: AWSEvents.<Operation>`).
//!
//! - Buses: the template's, `default`, and those made with `CreateEventBus`.
//! - Rules and targets: the template's, and those made with `PutRule` / `PutTargets`, with the
//!   whole event pattern language ([`pattern`]) and every input form (the event, `Input`,
//!   `InputPath`, `InputTransformer`).
//! - `PutEvents` validates each entry as AWS does, keeps the accepted events (for inspection)
//!   and hands each matching rule's targets their input through [`Targets`], synchronously,
//!   before answering.
//! - What the API creates survives a restart when a data folder is given ([`EventBridge::open`]).
//!
//! Operations: CreateEventBus, DeleteEventBus, DescribeEventBus, ListEventBuses, PutRule,
//! DescribeRule, ListRules, DeleteRule, EnableRule, DisableRule, PutTargets, RemoveTargets,
//! ListTargetsByRule, ListRuleNamesByTarget, TestEventPattern, PutEvents.

mod api;
mod error;
mod model;
mod ordered;
pub mod pattern;
mod put_events;
mod state;
mod transform;

pub use awsjson::Answer;
pub use error::EventsError;
pub use model::{
    DeadLetterConfig, Delivery, EntryFaults, IdGenerator, InputTransformer, RetryPolicy, RuleInfo,
    Target, Targets,
};
pub use pattern::{Pattern, PatternError};

use clock::SharedClock;
use error::Fault;
use serde_json::Value;
use state::{State, Store};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

pub struct EventBridge {
    region: String,
    account_id: String,
    clock: SharedClock,
    store: Store,
    state: Mutex<State>,
    warnings: Vec<String>,
    accepted: Mutex<VecDeque<Value>>,
    targets: RwLock<Option<Arc<dyn Targets>>>,
    faults: RwLock<Option<Arc<dyn EntryFaults>>>,
    ids: RwLock<Arc<dyn Fn() -> String + Send + Sync>>,
}

impl EventBridge {
    /// An EventBridge whose API-created buses and rules live in memory only.
    pub fn new(stack: &template::model::Stack, clock: SharedClock) -> Self {
        Self::build(stack, clock, Store::in_memory(), state::Saved::default())
    }

    /// An EventBridge that keeps what the API creates in `data_dir/events.json` (created if
    /// needed), or in memory when `data_dir` is None. The template's buses and rules are taken
    /// from `stack` every time and win over saved ones of the same name.
    pub fn open(
        stack: &template::model::Stack,
        clock: SharedClock,
        data_dir: Option<&Path>,
    ) -> Result<Self, EventsError> {
        let (store, saved) = Store::open(data_dir)?;
        Ok(Self::build(stack, clock, store, saved))
    }

    fn build(
        stack: &template::model::Stack,
        clock: SharedClock,
        store: Store,
        saved: state::Saved,
    ) -> Self {
        let mut warnings = Vec::new();
        let mut state = State::from_template(stack, clock.now_ms(), &mut warnings);
        state.restore(saved, &stack.region, &stack.account_id, &mut warnings);
        Self {
            region: stack.region.clone(),
            account_id: stack.account_id.clone(),
            clock,
            store,
            state: Mutex::new(state),
            warnings,
            accepted: Mutex::new(VecDeque::new()),
            targets: RwLock::new(None),
            faults: RwLock::new(None),
            ids: RwLock::new(Arc::new(|| uuid::Uuid::new_v4().to_string())),
        }
    }

    /// Where deliveries go from now on (without one, matching events are delivered nowhere).
    pub fn set_targets(&self, targets: Arc<dyn Targets>) {
        *self.targets.write().unwrap_or_else(PoisonError::into_inner) = Some(targets);
    }

    /// The fault hook `PutEvents` asks about each valid entry.
    pub fn set_entry_faults(&self, faults: Arc<dyn EntryFaults>) {
        *self.faults.write().unwrap_or_else(PoisonError::into_inner) = Some(faults);
    }

    /// Replaces the event id generator (uuid v4 by default).
    pub fn set_id_generator(&self, ids: IdGenerator) {
        *self.ids.write().unwrap_or_else(PoisonError::into_inner) = Arc::from(ids);
    }

    /// Handles `AWSEvents.<operation>` with a JSON body.
    pub fn dispatch(&self, operation: &str, body: &[u8]) -> Answer {
        let Ok(input) = serde_json::from_slice::<Value>(body) else {
            return Answer::error(
                400,
                "SerializationException",
                "the request body is not valid JSON",
            );
        };
        if !input.is_object() {
            return Answer::error(
                400,
                "SerializationException",
                "the request body is not a JSON object",
            );
        }
        let result = match operation {
            "PutEvents" => self.put_events(&input),
            "CreateEventBus" => self.create_event_bus(&input),
            "DeleteEventBus" => self.delete_event_bus(&input),
            "DescribeEventBus" => self.describe_event_bus(&input),
            "ListEventBuses" => self.list_event_buses(&input),
            "PutRule" => self.put_rule(&input),
            "DescribeRule" => self.describe_rule(&input),
            "ListRules" => self.list_rules(&input),
            "DeleteRule" => self.delete_rule(&input),
            "EnableRule" => self.set_rule_state(&input, "ENABLED"),
            "DisableRule" => self.set_rule_state(&input, "DISABLED"),
            "PutTargets" => self.put_targets(&input),
            "RemoveTargets" => self.remove_targets(&input),
            "ListTargetsByRule" => self.list_targets_by_rule(&input),
            "ListRuleNamesByTarget" => self.list_rule_names_by_target(&input),
            "TestEventPattern" => self.test_event_pattern(&input),
            other => Err(Fault::new(
                "UnknownOperationException",
                format!("devstack's EventBridge does not implement {other} yet"),
            )),
        };
        result.unwrap_or_else(|fault| fault.answer())
    }

    /// The events accepted so far (oldest first, the last 10,000), each in its delivered
    /// envelope plus the bus name under `event-bus-name`.
    pub fn accepted(&self) -> Vec<Value> {
        self.accepted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Every rule (by bus, then name), for inspection: devstack warns at start about targets
    /// it cannot reach.
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.lock().rules.values().map(|r| r.info()).collect()
    }

    /// What went wrong while building the rules (a template pattern EventBridge would refuse,
    /// a saved rule whose bus is gone...), for devstack to print at start.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The state, even if a thread panicked while holding it: every change is applied to a
    /// copy and swapped in whole, so the data stays consistent.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies `change` to a copy of the state, saves the copy, and only then makes it the
    /// state: a failed change or a failed write leaves everything as it was.
    fn change<T>(&self, change: impl FnOnce(&mut State) -> Result<T, Fault>) -> Result<T, Fault> {
        let mut state = self.lock();
        let mut next = state.clone();
        let out = change(&mut next)?;
        self.store.save(&next).map_err(|e| Fault::internal(&e))?;
        *state = next;
        Ok(out)
    }

    fn bus_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:event-bus/{name}",
            self.region, self.account_id
        )
    }

    fn rule_arn(&self, bus: &str, name: &str) -> String {
        state::rule_arn(&self.region, &self.account_id, bus, name)
    }
}

#[cfg(test)]
mod tests;
