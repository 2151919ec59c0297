//! The interpreter: one tokio task per running execution, moving from state to state. Each
//! step commits its history events together with where the execution now stands (a
//! [`Cursor`]), so a restart resumes from the last step, and StopExecution (which commits the
//! abort itself) makes the next commit fail, which ends the task.
//!
//! Time: `Wait` states and Retry intervals wait on devstack's clock (woken by
//! [`crate::StepFunctions::wake`] when a virtual clock moves); a Task's `TimeoutSeconds`, like
//! an invocation's deadline, is real time.

use crate::asl::{Body, Definition, Resource, State, Task, Transition, WaitFor};
use crate::error::{Failure, errors};
use crate::model::{LambdaCall, TaskError, Tasks};
use crate::store::{AppendError, Ev, ExecRow, Finish};
use crate::{Busy, Inner};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Where an execution stands between two steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub state: String,
    /// The state's raw input.
    pub input: Value,
    #[serde(default)]
    pub entered_ms: i64,
    #[serde(default)]
    pub entered_event: i64,
    pub step: Step,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "step")]
pub(crate) enum Step {
    /// The state is next: its `...StateEntered` is not recorded yet.
    Enter,
    /// Entered; its work is next.
    Entered,
    /// A Wait state waiting until this time.
    Wait { until_ms: i64 },
    /// A Task's next attempt, due at this time; `attempts` counts the retries made by each
    /// Retrier.
    Task {
        attempts: Vec<u32>,
        retry_count: u32,
        due_ms: i64,
    },
    /// A Task's call was made and its outcome not recorded.
    InFlight {
        attempts: Vec<u32>,
        retry_count: u32,
    },
}

/// The execution's fixed facts.
#[derive(Debug, Clone)]
pub(crate) struct Meta {
    pub arn: String,
    pub name: String,
    pub machine_arn: String,
    pub machine_name: String,
    pub role_arn: String,
    pub input: Value,
    pub start_ms: i64,
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Halt {
    /// The execution ended (succeeded, failed, timed out), and that is recorded.
    Done,
    /// StopExecution aborted it (and recorded that).
    Stopped,
    /// devstack is stopping (or the store failed): nothing more is recorded; the execution
    /// stays running, to be resumed.
    Interrupted,
}

enum CallError {
    Failed(Failure),
    Interrupted,
}

pub(crate) struct Runner {
    inner: Arc<Inner>,
    meta: Meta,
    def: Arc<Definition>,
    stop: watch::Receiver<bool>,
    busy: Option<Busy>,
    deadline: Option<i64>,
    last_event: i64,
}

type Stepped = Result<Cursor, Halt>;

impl Runner {
    pub fn start(
        inner: &Arc<Inner>,
        meta: Meta,
        def: Arc<Definition>,
        cursor: Cursor,
        last_event: i64,
    ) {
        let arn = meta.arn.clone();
        let task_inner = inner.clone();
        inner.spawn_run(&arn, move |busy, stop| async move {
            let deadline = def.timeout_seconds.map(|s| {
                meta.start_ms
                    .saturating_add((s as i64).saturating_mul(1000))
            });
            let arn = meta.arn.clone();
            let mut runner = Runner {
                inner: task_inner.clone(),
                meta,
                def,
                stop,
                busy: Some(busy),
                deadline,
                last_event,
            };
            let halt = runner.drive(cursor).await;
            tracing::debug!(execution = %arn, ?halt, "execution task ended");
            drop(runner);
            task_inner.run_ended(&arn);
        });
    }

    /// Picks up an execution left running by a previous run.
    pub fn resume(inner: &Arc<Inner>, row: ExecRow) -> Result<(), String> {
        let last_event = inner
            .lock_store()
            .history(&row.arn)
            .map_err(|e| e.to_string())?
            .last()
            .and_then(|e| e["id"].as_i64())
            .unwrap_or(1);
        let def = serde_json::from_str::<Value>(&row.definition)
            .map_err(|e| e.to_string())
            .and_then(|v| Definition::parse(&v).map_err(|e| e.to_string()));
        let cursor = row
            .cursor
            .as_deref()
            .ok_or_else(|| "it has no recorded position".to_owned())
            .and_then(|c| serde_json::from_str::<Cursor>(c).map_err(|e| e.to_string()));
        let (def, cursor) = match (def, cursor) {
            (Ok(d), Ok(c)) => (d, c),
            (Err(e), _) | (_, Err(e)) => {
                // Failed clearly rather than left running for ever.
                let cause = format!("devstack cannot resume this execution after a restart: {e}");
                let now = inner.clock.now_ms();
                let _ = inner.lock_store().append(
                    &row.arn,
                    now,
                    &[Ev::new(
                        "ExecutionFailed",
                        "executionFailedEventDetails",
                        json!({"error": errors::RUNTIME, "cause": cause}),
                    )],
                    None,
                    Some(&Finish {
                        status: "FAILED",
                        output: None,
                        error: Some(errors::RUNTIME.into()),
                        cause: Some(cause.clone()),
                    }),
                );
                return Err(cause);
            }
        };
        let meta = Meta {
            input: serde_json::from_str(&row.input).unwrap_or(Value::Null),
            arn: row.arn,
            name: row.name,
            machine_arn: row.machine_arn,
            machine_name: row.machine_name,
            role_arn: row.role_arn,
            start_ms: row.start_ms,
        };
        tracing::info!(execution = %meta.arn, state = %cursor.state, "resuming an execution");
        Runner::start(inner, meta, Arc::new(def), cursor, last_event);
        Ok(())
    }

    async fn drive(&mut self, mut cursor: Cursor) -> Halt {
        loop {
            if let Some(h) = self.check_deadline() {
                return h;
            }
            let def = self.def.clone();
            let Some(state) = def.states.get(&cursor.state) else {
                let f = Failure::runtime(format!("the definition has no state {:?}", cursor.state));
                return self.fail(Vec::new(), f, None, &cursor);
            };
            let step = match cursor.step.clone() {
                Step::Enter => self.enter(state, cursor),
                Step::Entered => self.process(state, cursor),
                Step::Wait { until_ms } => self.wait_exit(state, cursor, until_ms).await,
                Step::Task {
                    attempts,
                    retry_count,
                    due_ms,
                } => match &state.body {
                    Body::Task(task) => {
                        self.attempt(state, task, cursor, attempts, retry_count, due_ms)
                            .await
                    }
                    _ => Err(Halt::Interrupted),
                },
                Step::InFlight {
                    attempts,
                    retry_count,
                } => match &state.body {
                    Body::Task(task) => {
                        let f = Failure::new(
                            errors::TASK_FAILED,
                            "devstack stopped while this task was running: its outcome is \
                             unknown, so the attempt counts as failed",
                        );
                        let events = vec![failed_event(task, &f)];
                        self.handle_error(state, task, cursor, attempts, retry_count, f, events)
                    }
                    _ => Err(Halt::Interrupted),
                },
            };
            match step {
                Ok(next) => cursor = next,
                Err(h) => return h,
            }
        }
    }

    // ---- recording ----

    fn record(
        &mut self,
        events: Vec<Ev>,
        cursor: Option<&Cursor>,
        finish: Option<Finish>,
    ) -> Result<(), Halt> {
        let now = self.inner.clock.now_ms();
        let text = cursor.map(|c| serde_json::to_string(c).unwrap_or_default());
        let result = self.inner.lock_store().append(
            &self.meta.arn,
            now,
            &events,
            text.as_deref(),
            finish.as_ref(),
        );
        self.inner.notify_changed();
        match result {
            Ok(ids) => {
                if let Some(last) = ids.last() {
                    self.last_event = *last;
                }
                match finish {
                    Some(f) => {
                        tracing::info!(execution = %self.meta.arn, status = f.status,
                            error = f.error.as_deref().unwrap_or(""), "execution ended");
                        Err(Halt::Done)
                    }
                    None => Ok(()),
                }
            }
            Err(AppendError::NotRunning) => Err(Halt::Stopped),
            Err(AppendError::Db(e)) => {
                tracing::error!(execution = %self.meta.arn, error = %e,
                    "cannot record the execution's step; it stays running until the next start");
                Err(Halt::Interrupted)
            }
        }
    }

    /// Ends the execution as failed, after `events`. A data-flow error's cause names the
    /// state, as Step Functions' does.
    fn fail(&mut self, mut events: Vec<Ev>, f: Failure, state: Option<&State>, c: &Cursor) -> Halt {
        let cause = match state {
            Some(s)
                if matches!(
                    f.error.as_str(),
                    errors::RUNTIME | errors::RESULT_PATH_MATCH_FAILURE | errors::INTRINSIC_FAILURE
                ) =>
            {
                format!(
                    "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
                    s.name, c.entered_event, f.cause
                )
            }
            _ => f.cause,
        };
        events.push(Ev::new(
            "ExecutionFailed",
            "executionFailedEventDetails",
            json!({"error": f.error, "cause": cause}),
        ));
        let finish = Finish {
            status: "FAILED",
            output: None,
            error: Some(f.error),
            cause: Some(cause),
        };
        self.record(events, None, Some(finish))
            .err()
            .unwrap_or(Halt::Done)
    }

    fn check_deadline(&mut self) -> Option<Halt> {
        let deadline = self.deadline?;
        if self.inner.clock.now_ms() < deadline {
            return None;
        }
        let cause = format!(
            "The execution ran longer than its TimeoutSeconds ({} s)",
            self.def.timeout_seconds.unwrap_or(0)
        );
        let finish = Finish {
            status: "TIMED_OUT",
            output: None,
            error: Some(errors::TIMEOUT.into()),
            cause: Some(cause.clone()),
        };
        let ev = Ev::new(
            "ExecutionTimedOut",
            "executionTimedOutEventDetails",
            json!({"error": errors::TIMEOUT, "cause": cause}),
        );
        Some(
            self.record(vec![ev], None, Some(finish))
                .err()
                .unwrap_or(Halt::Done),
        )
    }

    fn context(&self, c: &Cursor, retry_count: u32) -> Value {
        json!({
            "Execution": {
                "Id": self.meta.arn,
                "Input": self.meta.input,
                "Name": self.meta.name,
                "RoleArn": self.meta.role_arn,
                "StartTime": crate::time::format(self.meta.start_ms),
                "RedriveCount": 0,
            },
            "State": {
                "EnteredTime": crate::time::format(c.entered_ms),
                "Name": c.state,
                "RetryCount": retry_count,
            },
            "StateMachine": {
                "Id": self.meta.machine_arn,
                "Name": self.meta.machine_name,
            },
        })
    }

    fn uuid(&self) -> impl Fn() -> String + use<> {
        let inner = self.inner.clone();
        move || inner.new_id()
    }

    /// The next state's cursor (committed with `events`), or the execution's success when
    /// the state ends it.
    fn transition(
        &mut self,
        state: &State,
        output: Value,
        mut events: Vec<Ev>,
        next: Option<&str>,
    ) -> Stepped {
        let next = match (next, &state.transition) {
            (Some(n), _) => n.to_owned(),
            (None, Transition::Next(n)) => n.clone(),
            (None, Transition::End | Transition::None) => {
                let text = output.to_string();
                events.push(Ev::new(
                    "ExecutionSucceeded",
                    "executionSucceededEventDetails",
                    json!({"output": text, "outputDetails": {"truncated": false}}),
                ));
                let finish = Finish {
                    status: "SUCCEEDED",
                    output: Some(text),
                    error: None,
                    cause: None,
                };
                return Err(self
                    .record(events, None, Some(finish))
                    .err()
                    .unwrap_or(Halt::Done));
            }
        };
        let c = Cursor {
            state: next,
            input: output,
            entered_ms: 0,
            entered_event: 0,
            step: Step::Enter,
        };
        self.record(events, Some(&c), None)?;
        Ok(c)
    }

    // ---- the steps ----

    fn enter(&mut self, state: &State, mut c: Cursor) -> Stepped {
        c.entered_ms = self.inner.clock.now_ms();
        c.entered_event = self.last_event + 1;
        c.step = Step::Entered;
        let ev = Ev::new(
            format!("{}StateEntered", state.body.type_name()),
            "stateEnteredEventDetails",
            json!({"name": state.name, "input": c.input.to_string(), "inputDetails": {"truncated": false}}),
        );
        self.record(vec![ev], Some(&c), None)?;
        Ok(c)
    }

    fn exited(state: &State, output: &Value) -> Ev {
        Ev::new(
            format!("{}StateExited", state.body.type_name()),
            "stateExitedEventDetails",
            json!({"name": state.name, "output": output.to_string(), "outputDetails": {"truncated": false}}),
        )
    }

    fn process(&mut self, state: &State, mut c: Cursor) -> Stepped {
        let ctx = self.context(&c, 0);
        let uuid = self.uuid();
        let scope = crate::asl::Scope {
            context: &ctx,
            uuid: &uuid,
        };
        let effective = match state.input_path.apply(&c.input, &ctx, "input") {
            Ok(v) => v,
            Err(f) => return Err(self.fail(Vec::new(), f, Some(state), &c)),
        };
        match &state.body {
            Body::Pass {
                parameters,
                result,
                result_path,
            } => {
                let out = (|| {
                    let value = match parameters {
                        Some(t) => t.eval(&effective, &scope)?,
                        None => effective.clone(),
                    };
                    let result = result.clone().unwrap_or(value);
                    let out = result_path.apply(&c.input, result)?;
                    state.output_path.apply(&out, &ctx, "output")
                })();
                match out {
                    Ok(out) => {
                        let ev = Self::exited(state, &out);
                        self.transition(state, out, vec![ev], None)
                    }
                    Err(f) => Err(self.fail(Vec::new(), f, Some(state), &c)),
                }
            }
            Body::Choice { choices, default } => {
                let mut chosen = None;
                for (rule, next) in choices {
                    match rule.eval(&effective, &ctx) {
                        Ok(true) => {
                            chosen = Some(next.clone());
                            break;
                        }
                        Ok(false) => {}
                        Err(f) => return Err(self.fail(Vec::new(), f, Some(state), &c)),
                    }
                }
                let Some(next) = chosen.or_else(|| default.clone()) else {
                    let f = Failure::new(errors::NO_CHOICE_MATCHED, "No Matches!");
                    return Err(self.fail(Vec::new(), f, Some(state), &c));
                };
                match state.output_path.apply(&effective, &ctx, "output") {
                    Ok(out) => {
                        let ev = Self::exited(state, &out);
                        self.transition(state, out, vec![ev], Some(&next))
                    }
                    Err(f) => Err(self.fail(Vec::new(), f, Some(state), &c)),
                }
            }
            Body::Wait(how) => {
                let until = match how {
                    WaitFor::Seconds(s) => Ok(c.entered_ms.saturating_add(*s as i64 * 1000)),
                    WaitFor::Timestamp(t) => Ok(*t),
                    WaitFor::SecondsPath(p) => match p.get(&effective, &ctx) {
                        Some(v) if v.as_u64().is_some() => {
                            Ok(c.entered_ms.saturating_add(v.as_u64().unwrap_or(0) as i64 * 1000))
                        }
                        Some(v) => Err(Failure::runtime(format!(
                            "The SecondsPath parameter does not reference a valid non-negative integer: {v}"
                        ))),
                        None => Err(Failure::runtime(format!(
                            "Invalid path '{p}': The SecondsPath parameter does not reference an input value"
                        ))),
                    },
                    WaitFor::TimestampPath(p) => match p.get(&effective, &ctx) {
                        Some(v) => v.as_str().and_then(crate::time::parse).ok_or_else(|| {
                            Failure::runtime(format!(
                                "The TimestampPath parameter does not reference a valid ISO-8601 timestamp: {v}"
                            ))
                        }),
                        None => Err(Failure::runtime(format!(
                            "Invalid path '{p}': The TimestampPath parameter does not reference an input value"
                        ))),
                    },
                };
                match until {
                    Ok(until_ms) => {
                        c.step = Step::Wait { until_ms };
                        self.record(Vec::new(), Some(&c), None)?;
                        Ok(c)
                    }
                    Err(f) => Err(self.fail(Vec::new(), f, Some(state), &c)),
                }
            }
            Body::Succeed => match state.output_path.apply(&effective, &ctx, "output") {
                Ok(out) => {
                    let ev = Self::exited(state, &out);
                    self.transition(state, out, vec![ev], None)
                }
                Err(f) => Err(self.fail(Vec::new(), f, Some(state), &c)),
            },
            Body::Fail { error, cause } => {
                let eval = |s: &Option<crate::asl::Source>| {
                    s.as_ref().map(|s| s.eval(&effective, &scope)).transpose()
                };
                let (error, cause) = match (eval(error), eval(cause)) {
                    (Ok(e), Ok(c)) => (e, c),
                    (Err(f), _) | (_, Err(f)) => {
                        return Err(self.fail(Vec::new(), f, Some(state), &c));
                    }
                };
                let mut details = Map::new();
                if let Some(e) = &error {
                    details.insert("error".into(), json!(e));
                }
                if let Some(cause) = &cause {
                    details.insert("cause".into(), json!(cause));
                }
                let ev = Ev::new(
                    "ExecutionFailed",
                    "executionFailedEventDetails",
                    Value::Object(details),
                );
                let finish = Finish {
                    status: "FAILED",
                    output: None,
                    error,
                    cause,
                };
                Err(self
                    .record(vec![ev], None, Some(finish))
                    .err()
                    .unwrap_or(Halt::Done))
            }
            Body::Task(task) => {
                c.step = Step::Task {
                    attempts: vec![0; task.retry.len()],
                    retry_count: 0,
                    due_ms: c.entered_ms,
                };
                Ok(c)
            }
        }
    }

    async fn wait_exit(&mut self, state: &State, c: Cursor, until_ms: i64) -> Stepped {
        self.sleep_until(until_ms).await?;
        let ctx = self.context(&c, 0);
        let out = state
            .input_path
            .apply(&c.input, &ctx, "input")
            .and_then(|e| state.output_path.apply(&e, &ctx, "output"));
        match out {
            Ok(out) => {
                let ev = Self::exited(state, &out);
                self.transition(state, out, vec![ev], None)
            }
            Err(f) => Err(self.fail(Vec::new(), f, Some(state), &c)),
        }
    }

    /// Waits until the clock reads `due_ms` (or the execution's deadline), not counted busy
    /// meanwhile.
    async fn sleep_until(&mut self, due_ms: i64) -> Result<(), Halt> {
        let due = due_ms.min(self.deadline.unwrap_or(i64::MAX));
        if self.inner.clock.now_ms() >= due {
            return Ok(());
        }
        let waiter = self.inner.sleeper(due);
        self.busy = None;
        let result = loop {
            let moved = self.inner.clock_moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if *self.stop.borrow() {
                break Err(Halt::Stopped);
            }
            let now = self.inner.clock.now_ms();
            if now >= due {
                break Ok(());
            }
            let real = Duration::from_millis((due - now).clamp(1, 60_000) as u64);
            tokio::select! {
                _ = &mut moved => {}
                _ = tokio::time::sleep(real) => {}
                changed = self.stop.changed() => {
                    if changed.is_err() {
                        break Err(Halt::Interrupted);
                    }
                }
            }
        };
        self.busy = Some(Busy::new(self.inner.clone()));
        self.inner.sleeper_done(waiter);
        result?;
        if let Some(h) = self.check_deadline() {
            return Err(h);
        }
        Ok(())
    }

    async fn attempt(
        &mut self,
        state: &State,
        task: &Task,
        mut c: Cursor,
        attempts: Vec<u32>,
        retry_count: u32,
        due_ms: i64,
    ) -> Stepped {
        self.sleep_until(due_ms).await?;
        let ctx = self.context(&c, retry_count);
        let uuid = self.uuid();
        let scope = crate::asl::Scope {
            context: &ctx,
            uuid: &uuid,
        };
        let params = state
            .input_path
            .apply(&c.input, &ctx, "input")
            .and_then(|effective| match &task.parameters {
                Some(t) => t.eval(&effective, &scope),
                None => Ok(effective),
            });
        let params = match params {
            Ok(p) => p,
            Err(f) => return Err(self.fail(Vec::new(), f, Some(state), &c)),
        };
        if task.resource == Resource::Other {
            let f = Failure::runtime(format!(
                "devstack does not emulate the Task resource '{}' of state '{}': it runs Lambda \
                 functions (a function ARN or arn:aws:states:::lambda:invoke) and \
                 arn:aws:states:::dynamodb:getItem|putItem|updateItem|deleteItem",
                task.resource_arn, state.name
            ));
            return Err(self.fail(Vec::new(), f, None, &c));
        }
        let events = scheduled_events(task, &params, &self.inner.region);
        c.step = Step::InFlight {
            attempts: attempts.clone(),
            retry_count,
        };
        self.record(events, Some(&c), None)?;

        let call = invoke(
            self.inner.tasks.clone(),
            task.resource.clone(),
            task.resource_arn.clone(),
            params,
            self.inner.new_id(),
        );
        let timed = async {
            match task.timeout_seconds {
                Some(t) => match tokio::time::timeout(Duration::from_secs(t), call).await {
                    Ok(r) => r,
                    Err(_) => Err(CallError::Failed(Failure::new(
                        errors::TIMEOUT,
                        format!("The task did not finish within its TimeoutSeconds ({t} s)"),
                    ))),
                },
                None => call.await,
            }
        };
        let outcome = tokio::select! {
            r = timed => r,
            _ = wait_stop(&mut self.stop) => return Err(Halt::Stopped),
        };
        match outcome {
            Err(CallError::Interrupted) => Err(Halt::Interrupted),
            Err(CallError::Failed(f)) => {
                let events = vec![failed_event(task, &f)];
                self.handle_error(state, task, c, attempts, retry_count, f, events)
            }
            Ok(result) => {
                let mut events = vec![succeeded_event(task, &result)];
                let out = (|| {
                    let selected = match &task.result_selector {
                        Some(t) => t.eval(&result, &scope)?,
                        None => result,
                    };
                    let out = task.result_path.apply(&c.input, selected)?;
                    state.output_path.apply(&out, &ctx, "output")
                })();
                match out {
                    Ok(out) => {
                        events.push(Self::exited(state, &out));
                        self.transition(state, out, events, None)
                    }
                    Err(f) => Err(self.fail(events, f, Some(state), &c)),
                }
            }
        }
    }

    /// A Task's failure: the first Retrier that matches retries it (while it has attempts
    /// left), else the first Catcher that matches moves on with the error at its ResultPath,
    /// else the execution fails.
    #[allow(clippy::too_many_arguments)]
    fn handle_error(
        &mut self,
        state: &State,
        task: &Task,
        mut c: Cursor,
        mut attempts: Vec<u32>,
        retry_count: u32,
        f: Failure,
        mut events: Vec<Ev>,
    ) -> Stepped {
        if f.is_terminal() {
            return Err(self.fail(events, f, Some(state), &c));
        }
        attempts.resize(task.retry.len(), 0);
        if let Some((i, r)) = task
            .retry
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches(&f.error))
            && attempts[i] < r.max_attempts
        {
            let mut delay = r.delay_ms(attempts[i]);
            if r.full_jitter {
                delay = jitter(delay, &self.meta.arn, &state.name, retry_count);
            }
            attempts[i] += 1;
            c.step = Step::Task {
                attempts,
                retry_count: retry_count + 1,
                due_ms: self.inner.clock.now_ms().saturating_add(delay),
            };
            self.record(events, Some(&c), None)?;
            return Ok(c);
        }
        if let Some(catcher) = task.catch.iter().find(|k| k.matches(&f.error)) {
            let error_output = json!({"Error": f.error, "Cause": f.cause});
            return match catcher.result_path.apply(&c.input, error_output) {
                Ok(out) => {
                    events.push(Self::exited(state, &out));
                    self.transition(state, out, events, Some(&catcher.next))
                }
                Err(e) => Err(self.fail(events, e, Some(state), &c)),
            };
        }
        Err(self.fail(events, f, None, &c))
    }
}

async fn wait_stop(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow() {
            return;
        }
        if stop.changed().await.is_err() {
            // The handle is gone (devstack is stopping): nothing will stop this call.
            std::future::pending::<()>().await;
        }
    }
}

/// FULL jitter: a deterministic fraction of the delay (the same run waits the same).
fn jitter(delay: i64, arn: &str, state: &str, retry: u32) -> i64 {
    // FNV-1a: stable across builds, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in arn.bytes().chain(state.bytes()).chain(retry.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    ((delay as u128 * u128::from(h % 10_000)) / 10_000) as i64
}

/// `(resourceType, resource)` of a service integration: `("dynamodb", "updateItem")`.
fn integration(task: &Task) -> (&str, &str) {
    let rest = task
        .resource_arn
        .split(":::")
        .nth(1)
        .unwrap_or(&task.resource_arn);
    rest.split_once(':').unwrap_or((rest, ""))
}

fn scheduled_events(task: &Task, params: &Value, region: &str) -> Vec<Ev> {
    let text = params.to_string();
    match task.resource {
        Resource::Lambda => {
            let mut d = json!({"resource": task.resource_arn, "input": text, "inputDetails": {"truncated": false}});
            if let Some(t) = task.timeout_seconds {
                d["timeoutInSeconds"] = json!(t);
            }
            vec![
                Ev::new(
                    "LambdaFunctionScheduled",
                    "lambdaFunctionScheduledEventDetails",
                    d,
                ),
                Ev::bare("LambdaFunctionStarted"),
            ]
        }
        _ => {
            let (ty, res) = integration(task);
            let mut d =
                json!({"resourceType": ty, "resource": res, "region": region, "parameters": text});
            if let Some(t) = task.timeout_seconds {
                d["timeoutInSeconds"] = json!(t);
            }
            vec![
                Ev::new("TaskScheduled", "taskScheduledEventDetails", d),
                Ev::new(
                    "TaskStarted",
                    "taskStartedEventDetails",
                    json!({"resourceType": ty, "resource": res}),
                ),
            ]
        }
    }
}

fn succeeded_event(task: &Task, result: &Value) -> Ev {
    let output = result.to_string();
    match task.resource {
        Resource::Lambda => Ev::new(
            "LambdaFunctionSucceeded",
            "lambdaFunctionSucceededEventDetails",
            json!({"output": output, "outputDetails": {"truncated": false}}),
        ),
        _ => {
            let (ty, res) = integration(task);
            Ev::new(
                "TaskSucceeded",
                "taskSucceededEventDetails",
                json!({"resourceType": ty, "resource": res, "output": output, "outputDetails": {"truncated": false}}),
            )
        }
    }
}

fn failed_event(task: &Task, f: &Failure) -> Ev {
    let timed_out = f.error == errors::TIMEOUT;
    match task.resource {
        Resource::Lambda if timed_out => Ev::new(
            "LambdaFunctionTimedOut",
            "lambdaFunctionTimedOutEventDetails",
            json!({"error": f.error, "cause": f.cause}),
        ),
        Resource::Lambda => Ev::new(
            "LambdaFunctionFailed",
            "lambdaFunctionFailedEventDetails",
            json!({"error": f.error, "cause": f.cause}),
        ),
        _ => {
            let (ty, res) = integration(task);
            let (event, key) = if timed_out {
                ("TaskTimedOut", "taskTimedOutEventDetails")
            } else {
                ("TaskFailed", "taskFailedEventDetails")
            };
            Ev::new(
                event,
                key,
                json!({"resourceType": ty, "resource": res, "error": f.error, "cause": f.cause}),
            )
        }
    }
}

fn payload_value(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// A function error: its `errorType` names the state's error, its payload is the cause.
fn function_failure(payload: &[u8]) -> Failure {
    let v = payload_value(payload);
    match v.get("errorType").and_then(Value::as_str) {
        Some(t) if !t.is_empty() => Failure::new(t, String::from_utf8_lossy(payload)),
        _ => Failure::new(
            "Lambda.Unknown",
            "The cause could not be determined because Lambda did not return an error type.",
        ),
    }
}

/// The Lambda service's error as Step Functions names it (after the AWS SDK for Java's
/// exception classes).
fn lambda_error(e: TaskError) -> CallError {
    match e {
        TaskError::Interrupted => CallError::Interrupted,
        TaskError::Service {
            code,
            message,
            status,
        } => {
            let name = match code.as_str() {
                "ResourceNotFoundException"
                | "TooManyRequestsException"
                | "ServiceException"
                | "InvalidRequestContentException"
                | "RequestTooLargeException"
                | "ResourceConflictException"
                | "InvalidParameterValueException" => code.clone(),
                "SdkClientException" => "SdkClientException".into(),
                _ => "AWSLambdaException".into(),
            };
            CallError::Failed(Failure::new(
                format!("Lambda.{name}"),
                format!(
                    "{message} (Service: AWSLambda; Status Code: {status}; Error Code: {code})"
                ),
            ))
        }
    }
}

/// DynamoDB's error as Step Functions names it: the modelled exceptions by their class name
/// (`InternalServerError` is `InternalServerErrorException`), anything else
/// `AmazonDynamoDBException`.
fn dynamo_error(e: TaskError, request_id: &str) -> CallError {
    match e {
        TaskError::Interrupted => CallError::Interrupted,
        TaskError::Service {
            code,
            message,
            status,
        } => {
            let name = match code.as_str() {
                "ConditionalCheckFailedException"
                | "ProvisionedThroughputExceededException"
                | "ResourceNotFoundException"
                | "ItemCollectionSizeLimitExceededException"
                | "TransactionConflictException"
                | "ThrottlingException" => code.clone(),
                "InternalServerError" => "InternalServerErrorException".into(),
                "RequestLimitExceeded" => "RequestLimitExceededException".into(),
                _ => "AmazonDynamoDBException".into(),
            };
            CallError::Failed(Failure::new(
                format!("DynamoDB.{name}"),
                format!(
                    "{message} (Service: AmazonDynamoDBv2; Status Code: {status}; Error Code: \
                     {code}; Request ID: {request_id}; Proxy: null)"
                ),
            ))
        }
    }
}

fn sdk_metadata(request_id: &str, extra_headers: &[(&str, &str)]) -> (Value, Value) {
    let mut headers = Map::new();
    let mut all = Map::new();
    for (k, v) in [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", request_id),
    ]
    .iter()
    .chain(extra_headers)
    {
        headers.insert((*k).to_owned(), json!(v));
        all.insert((*k).to_owned(), json!([v]));
    }
    (
        json!({"AllHttpHeaders": all, "HttpHeaders": headers, "HttpStatusCode": 200}),
        json!({"RequestId": request_id}),
    )
}

async fn invoke(
    tasks: Arc<dyn Tasks>,
    resource: Resource,
    arn: String,
    params: Value,
    request_id: String,
) -> Result<Value, CallError> {
    match resource {
        Resource::Lambda => {
            let payload = serde_json::to_vec(&params).unwrap_or_default();
            let r = tasks
                .invoke_lambda(LambdaCall {
                    function: arn,
                    qualifier: None,
                    payload,
                })
                .await
                .map_err(lambda_error)?;
            if r.function_error.is_some() {
                return Err(CallError::Failed(function_failure(&r.payload)));
            }
            Ok(payload_value(&r.payload))
        }
        Resource::LambdaInvoke => {
            let Some(function) = params.get("FunctionName").and_then(Value::as_str) else {
                return Err(CallError::Failed(Failure::runtime(
                    "arn:aws:states:::lambda:invoke needs the parameter FunctionName (a string)",
                )));
            };
            if let Some(t) = params.get("InvocationType").and_then(Value::as_str)
                && t != "RequestResponse"
            {
                return Err(CallError::Failed(Failure::runtime(format!(
                    "InvocationType {t} is not supported by devstack (RequestResponse only)"
                ))));
            }
            let payload = match params.get("Payload") {
                Some(p) => serde_json::to_vec(p).unwrap_or_default(),
                None => b"{}".to_vec(),
            };
            let r = tasks
                .invoke_lambda(LambdaCall {
                    function: function.to_owned(),
                    qualifier: params
                        .get("Qualifier")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    payload,
                })
                .await
                .map_err(lambda_error)?;
            if r.function_error.is_some() {
                return Err(CallError::Failed(function_failure(&r.payload)));
            }
            let (http, sdk) = sdk_metadata(
                &r.request_id,
                &[("X-Amz-Executed-Version", r.executed_version.as_str())],
            );
            Ok(json!({
                "ExecutedVersion": r.executed_version,
                "Payload": payload_value(&r.payload),
                "SdkHttpMetadata": http,
                "SdkResponseMetadata": sdk,
                "StatusCode": 200,
            }))
        }
        Resource::DynamoDb(op) => {
            if !params.is_object() {
                return Err(CallError::Failed(Failure::runtime(format!(
                    "the parameters of dynamodb:{op} must be an object (the {op} request)"
                ))));
            }
            let body = tasks
                .dynamodb(op, params)
                .await
                .map_err(|e| dynamo_error(e, &request_id))?;
            let mut out = match body {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            let (http, sdk) = sdk_metadata(&request_id, &[]);
            out.insert("SdkHttpMetadata".into(), http);
            out.insert("SdkResponseMetadata".into(), sdk);
            Ok(Value::Object(out))
        }
        Resource::Other => Err(CallError::Failed(Failure::runtime(format!(
            "devstack does not emulate the Task resource '{arn}'"
        )))),
    }
}
