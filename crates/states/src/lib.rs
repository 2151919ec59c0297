//! devstack's Step Functions, speaking awsJson 1.0 (`X-Amz-Target: AWSStepFunctions.<Op>`).
//!
//! - State machines: the template's (re-read at every start) and those made with
//!   `CreateStateMachine` (kept). Each definition is parsed and checked whole when it is
//!   loaded ([`asl`]); one that uses what devstack does not run yet (Parallel, Map, JSONata,
//!   variables, the intrinsics beyond Format / StringToJson / JsonToString / UUID) is refused
//!   with an error naming it, never half-run.
//! - Executions run as tokio tasks through an ASL interpreter: Task, Choice, Pass, Wait,
//!   Succeed, Fail; InputPath, Parameters, ResultSelector, ResultPath, OutputPath; Retry and
//!   Catch. Waits and retry intervals follow devstack's clock: on a virtual one, an execution
//!   waits until [`StepFunctions::wake`] tells it the clock moved past its time.
//! - Tasks reach Lambda and DynamoDB through [`Tasks`], which the embedder supplies.
//! - Every step is committed to SQLite (history events and the execution's position together),
//!   so GetExecutionHistory reads what happened, and an execution interrupted by a restart is
//!   resumed by [`StepFunctions::resume`] from its last step.
//!
//! Operations: CreateStateMachine, ListStateMachines, DescribeStateMachine, StartExecution,
//! DescribeExecution, GetExecutionHistory, ListExecutions, StopExecution.

mod api;
pub mod asl;
pub mod choice;
mod error;
mod exec;
pub mod intrinsics;
mod model;
pub mod path;
mod render;
mod store;
pub mod time;

pub use awsjson::Answer;
pub use error::{DefinitionError, Failure, StatesError, errors};
pub use model::{IdGenerator, LambdaCall, LambdaResult, TaskError, TaskFuture, Tasks};
pub use render::render_timeline;

use asl::Definition;
use clock::SharedClock;
use error::Fault;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;
use store::Store;
use tokio::sync::{Notify, watch};

/// devstack's Step Functions. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct StepFunctions {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub region: String,
    pub account_id: String,
    pub clock: SharedClock,
    pub store: Mutex<Store>,
    pub machines: RwLock<BTreeMap<String, Arc<Machine>>>,
    pub tasks: Arc<dyn Tasks>,
    pub ids: RwLock<Arc<dyn Fn() -> String + Send + Sync>>,
    runs: Mutex<HashMap<String, RunHandle>>,
    /// Executions that can progress now (not waiting on the clock).
    busy: AtomicUsize,
    /// Executions waiting on the clock: their wake-up time, by a waiter id.
    sleepers: Mutex<HashMap<u64, i64>>,
    sleeper_ids: AtomicU64,
    pub clock_moved: Notify,
    changed: Notify,
    runtime: tokio::runtime::Handle,
    warnings: Vec<String>,
    shutting_down: AtomicBool,
}

struct RunHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::AbortHandle,
}

/// A state machine as loaded.
pub(crate) struct Machine {
    pub arn: String,
    pub name: String,
    pub kind: String,
    /// The definition's JSON text, answered by DescribeStateMachine.
    pub definition_text: String,
    /// The parsed definition, or why devstack refuses it.
    pub parsed: Result<Arc<Definition>, DefinitionError>,
    pub role_arn: String,
    pub created_ms: i64,
}

/// A state machine, for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineInfo {
    pub arn: String,
    pub name: String,
    pub kind: String,
    /// Why devstack refuses to run it, if it does.
    pub refused: Option<String>,
}

/// An execution, for inspection.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionInfo {
    pub arn: String,
    pub name: String,
    pub machine_arn: String,
    /// `RUNNING`, `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub start_ms: i64,
    pub stop_ms: Option<i64>,
}

/// Counts an execution as able to progress while it lives.
pub(crate) struct Busy(Arc<Inner>);

impl Busy {
    pub fn new(inner: Arc<Inner>) -> Self {
        inner.busy.fetch_add(1, Ordering::SeqCst);
        Busy(inner)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn role_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/devstack")
}

impl StepFunctions {
    /// Step Functions with the template's state machines, keeping executions (and machines
    /// made through the API) in `data_dir/states.sqlite`, or in memory when `data_dir` is
    /// None. Must be called inside a tokio runtime. Executions a previous run left running
    /// wait for [`StepFunctions::resume`].
    pub fn open(
        stack: &template::model::Stack,
        clock: SharedClock,
        data_dir: Option<&Path>,
        tasks: Arc<dyn Tasks>,
    ) -> Result<Self, StatesError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StatesError::NoRuntime)?;
        let store = Store::open(data_dir).map_err(|source| StatesError::Open {
            path: data_dir
                .map(|d| d.join(store::FILE))
                .unwrap_or_else(|| ":memory:".into()),
            source,
        })?;
        let mut warnings = Vec::new();
        let mut machines = BTreeMap::new();
        let now = clock.now_ms();
        for sm in &stack.state_machines {
            let text = serde_json::to_string_pretty(&sm.definition).unwrap_or_default();
            let m = load_machine(
                &sm.arn,
                &sm.name,
                &sm.kind,
                text,
                role_arn(&stack.account_id),
                now,
                &mut warnings,
            );
            machines.insert(sm.arn.clone(), Arc::new(m));
        }
        match store.machines() {
            Ok(saved) => {
                for m in saved {
                    if machines.contains_key(&m.arn) {
                        warnings.push(format!(
                            "state machine {} made through the API is shadowed by the template's of that name",
                            m.name
                        ));
                        continue;
                    }
                    let loaded = load_machine(
                        &m.arn,
                        &m.name,
                        &m.kind,
                        m.definition,
                        m.role_arn,
                        m.created_ms,
                        &mut warnings,
                    );
                    machines.insert(m.arn, Arc::new(loaded));
                }
            }
            Err(e) => warnings.push(format!("cannot read the saved state machines: {e}")),
        }
        Ok(Self {
            inner: Arc::new(Inner {
                region: stack.region.clone(),
                account_id: stack.account_id.clone(),
                clock,
                store: Mutex::new(store),
                machines: RwLock::new(machines),
                tasks,
                ids: RwLock::new(Arc::new(|| uuid::Uuid::new_v4().to_string())),
                runs: Mutex::new(HashMap::new()),
                busy: AtomicUsize::new(0),
                sleepers: Mutex::new(HashMap::new()),
                sleeper_ids: AtomicU64::new(0),
                clock_moved: Notify::new(),
                changed: Notify::new(),
                runtime,
                warnings,
                shutting_down: AtomicBool::new(false),
            }),
        })
    }

    /// Replaces the id generator (uuid v4 by default).
    pub fn set_id_generator(&self, ids: IdGenerator) {
        *self
            .inner
            .ids
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::from(ids);
    }

    /// Handles `AWSStepFunctions.<operation>` with a JSON body.
    pub fn dispatch(&self, operation: &str, body: &[u8]) -> Answer {
        api::dispatch(self, operation, body)
    }

    /// Starts an execution of the machine `machine_arn` (as StartExecution does; the name is
    /// generated when None). Returns the execution's ARN, or the API's error answer.
    pub fn start_execution(
        &self,
        machine_arn: &str,
        name: Option<&str>,
        input: &str,
    ) -> Result<String, Answer> {
        api::start(self, machine_arn, name, Some(input))
            .map(|(arn, _)| arn)
            .map_err(|f| f.answer())
    }

    /// Runs again the executions a previous run left running, each from its last recorded
    /// step: a Wait or a retry interval goes on until its time; a task that was in flight
    /// counts as failed with `States.TaskFailed` (its outcome is unknown), and the state's
    /// Retry and Catch decide what follows. Returns their ARNs.
    pub fn resume(&self) -> Vec<String> {
        let rows = match lock(&self.inner.store).running() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the running executions");
                return Vec::new();
            }
        };
        let mut resumed = Vec::new();
        for row in rows {
            if lock(&self.inner.runs).contains_key(&row.arn) {
                continue;
            }
            let arn = row.arn.clone();
            match exec::Runner::resume(&self.inner, row) {
                Ok(()) => resumed.push(arn),
                Err(e) => tracing::warn!(execution = %arn, error = %e, "execution not resumed"),
            }
        }
        resumed
    }

    /// Tells waiting executions that the clock moved: those whose time has come go on.
    pub fn wake(&self) {
        self.inner.clock_moved.notify_waiters();
        self.inner.changed.notify_waiters();
    }

    /// True when no execution can progress without the clock moving: each is finished or
    /// waiting (a Wait state, a retry interval) for a time still ahead.
    pub fn is_idle(&self) -> bool {
        if self.inner.busy.load(Ordering::SeqCst) > 0 {
            return false;
        }
        let now = self.inner.clock.now_ms();
        lock(&self.inner.sleepers).values().all(|due| *due > now)
    }

    /// Waits until [`StepFunctions::is_idle`].
    pub async fn idle(&self) {
        loop {
            let changed = self.inner.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.is_idle() {
                return;
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
    }

    /// Stops every execution's task where it is, recording nothing: they stay running in the
    /// store, for [`StepFunctions::resume`] at the next start.
    pub fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        for (_, h) in lock(&self.inner.runs).drain() {
            h.task.abort();
        }
    }

    /// Problems found while loading the state machines (refused definitions, resources
    /// devstack does not emulate), for devstack to print at start.
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    pub fn machines(&self) -> Vec<MachineInfo> {
        self.inner
            .machines
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|m| MachineInfo {
                arn: m.arn.clone(),
                name: m.name.clone(),
                kind: m.kind.clone(),
                refused: m.parsed.as_ref().err().map(|e| e.to_string()),
            })
            .collect()
    }

    /// The executions (of one machine, or all), newest first.
    pub fn executions(&self, machine_arn: Option<&str>) -> Vec<ExecutionInfo> {
        lock(&self.inner.store)
            .executions(machine_arn, None, None, usize::MAX >> 1)
            .unwrap_or_default()
            .into_iter()
            .map(|r| ExecutionInfo {
                input: serde_json::from_str(&r.input).unwrap_or(Value::Null),
                output: r
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str(o).ok()),
                arn: r.arn,
                name: r.name,
                machine_arn: r.machine_arn,
                status: r.status,
                error: r.error,
                cause: r.cause,
                start_ms: r.start_ms,
                stop_ms: r.stop_ms,
            })
            .collect()
    }

    /// An execution's history events, as GetExecutionHistory answers them.
    pub fn history(&self, execution_arn: &str) -> Vec<Value> {
        lock(&self.inner.store)
            .history(execution_arn)
            .unwrap_or_default()
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }
}

fn load_machine(
    arn: &str,
    name: &str,
    kind: &str,
    definition_text: String,
    role_arn: String,
    created_ms: i64,
    warnings: &mut Vec<String>,
) -> Machine {
    let parsed = serde_json::from_str::<Value>(&definition_text)
        .map_err(|e| DefinitionError::schema("/", format!("the definition is not JSON: {e}")))
        .and_then(|v| Definition::parse(&v))
        .map(Arc::new);
    match &parsed {
        Err(e) => warnings.push(format!(
            "state machine {name} is refused, and StartExecution on it fails: {e}"
        )),
        Ok(def) => {
            for (state, resource) in def.unsupported_resources() {
                warnings.push(format!(
                    "state machine {name}: state {state} calls {resource}, which devstack does not \
                     emulate; an execution that reaches it fails"
                ));
            }
        }
    }
    Machine {
        arn: arn.to_owned(),
        name: name.to_owned(),
        kind: kind.to_owned(),
        definition_text,
        parsed,
        role_arn,
        created_ms,
    }
}

impl Inner {
    pub fn new_id(&self) -> String {
        let ids = self
            .ids
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        ids()
    }

    pub fn machine(&self, arn: &str) -> Option<Arc<Machine>> {
        self.machines
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(arn)
            .cloned()
    }

    pub fn lock_store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// Runs `fut` as the execution `arn`'s task, counted busy from now on.
    pub fn spawn_run<F>(
        self: &Arc<Self>,
        arn: &str,
        make: impl FnOnce(Busy, watch::Receiver<bool>) -> F,
    ) where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        if self.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let (tx, rx) = watch::channel(false);
        let busy = Busy::new(self.clone());
        // Held while spawning, so that a run that ends at once removes its handle after it
        // was put there.
        let mut runs = lock(&self.runs);
        let task = self.runtime.spawn(make(busy, rx));
        runs.insert(
            arn.to_owned(),
            RunHandle {
                stop: tx,
                task: task.abort_handle(),
            },
        );
    }

    pub fn run_ended(&self, arn: &str) {
        lock(&self.runs).remove(arn);
        self.changed.notify_waiters();
    }

    /// Tells a running execution's task to stop (StopExecution has recorded the abort).
    pub fn signal_stop(&self, arn: &str) {
        if let Some(h) = lock(&self.runs).get(arn) {
            let _ = h.stop.send(true);
        }
    }

    pub fn sleeper(&self, due_ms: i64) -> u64 {
        let id = self.sleeper_ids.fetch_add(1, Ordering::SeqCst);
        lock(&self.sleepers).insert(id, due_ms);
        id
    }

    pub fn sleeper_done(&self, id: u64) {
        lock(&self.sleepers).remove(&id);
        self.changed.notify_waiters();
    }

    pub fn notify_changed(&self) {
        self.changed.notify_waiters();
    }
}

/// The API's error for a machine that is not there.
pub(crate) fn no_machine(arn: &str) -> Fault {
    Fault::new(
        "StateMachineDoesNotExist",
        format!("State Machine Does Not Exist: '{arn}'"),
    )
}

#[cfg(test)]
mod tests;
