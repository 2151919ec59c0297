//! Functions, their instances, and how an invocation finds one.
//!
//! Concurrency is counted as Lambda counts it: invocations in flight. An invoke first takes a
//! slot (the function's reserved concurrency, then the account's); without one it is
//! throttled. With a slot it is handed to an instance polling `next`, or queued; when the
//! queue holds more invocations than instances that are about to poll (starting, or just done
//! with their last invocation), a new instance is started.

use crate::logs::LogSink;
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;

/// A function as devstack runs it.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    pub name: String,
    pub arn: String,
    /// The executable of an instance. `None` means attached: devstack starts no process and
    /// whoever polls this function's Runtime API serves its invocations.
    pub executable: Option<PathBuf>,
    /// The template's variables plus devstack's (region, credentials, endpoints, log format).
    /// The Lambda-defined ones (`AWS_LAMBDA_*`, `_HANDLER`, ...) are added per instance.
    pub environment: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub timeout_secs: u32,
    pub reserved_concurrency: Option<u32>,
    pub handler: String,
    pub runtime: String,
    /// Qualifiers an invoke may name besides `$LATEST` (the template's `AutoPublishAlias`).
    pub aliases: Vec<String>,
}

/// Service-wide settings.
#[derive(Clone)]
pub struct Settings {
    /// `host:port` where [`LambdaService::runtime_router`] is served.
    pub runtime_api_host: String,
    /// Invocations in flight across all functions (`--account-concurrency`).
    pub account_concurrency: usize,
    /// Instances one function may run at once. `None` starts one per concurrent invocation,
    /// as Lambda does. With a cap, an invocation beyond it waits for an instance to be free;
    /// it holds its concurrency slot meanwhile, so throttling is exactly Lambda's and only
    /// the number of processes differs (dozens of processes on a laptop's few cores spend
    /// more time switching between one another than serving).
    pub max_instances: Option<usize>,
    pub logs: LogSink,
}

#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// A name, `name:qualifier`, or a full or partial ARN.
    pub function: String,
    /// An explicit qualifier (`?Qualifier=`), if any.
    pub qualifier: Option<String>,
    pub payload: Bytes,
    /// Client context as JSON text (the Invoke API receives it base64-encoded).
    pub client_context: Option<String>,
    /// Return the invocation's log lines in [`Invoked::logs`] (`X-Amz-Log-Type: Tail`); a
    /// gateway has no use for them, and collecting them costs on every request.
    pub tail_logs: bool,
    /// A fault to inject (devstack's seeded chaos): the function runs, but its answer is
    /// replaced by the crash or timeout, so its side effects happen and the caller sees a
    /// failure, which is what makes a retry a duplicate.
    pub fault: Option<InjectedFault>,
}

/// What an injected fault does to an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFault {
    /// The process dies before its answer is taken: `Runtime.ExitError`, instance replaced.
    Crash,
    /// The invocation times out: `Sandbox.Timedout`, instance replaced.
    Timeout,
}

/// An invocation's error, as `X-Amz-Function-Error: Unhandled` reports it; the payload holds
/// `{"errorType", "errorMessage"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub error_type: String,
}

#[derive(Debug, Clone)]
pub struct Invoked {
    pub request_id: String,
    pub payload: Bytes,
    pub function_error: Option<FunctionError>,
    /// The function's log lines during the invocation (the START..REPORT block), when
    /// [`InvokeRequest::tail_logs`] asked for them.
    pub logs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    #[error("Function not found: {0}")]
    NotFound(String),
    #[error("Rate Exceeded.")]
    Throttled {
        /// The function's reserved concurrency was the limit (else the account's).
        reserved: bool,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("devstack is shutting down")]
    ShuttingDown,
}

/// How an invocation ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Response(Bytes),
    Error { error_type: String, payload: Bytes },
}

pub(crate) struct Invocation {
    pub id: String,
    pub payload: Bytes,
    pub client_context: Option<String>,
    pub invoked_arn: String,
    pub trace_id: String,
    fault: Option<InjectedFault>,
    pub deadline_ms: Mutex<i64>,
    done: Mutex<Option<oneshot::Sender<Outcome>>>,
    started: Mutex<Option<Instant>>,
    /// Holds the concurrency slot until the invocation ends, even if its caller went away.
    slot: Mutex<Option<Slot>>,
    /// Dropped when the invocation ends, which stops its timeout timer (a timer left running
    /// would keep the invocation, payload included, in memory for the whole timeout).
    timer: Mutex<Option<oneshot::Sender<()>>>,
}

impl Invocation {
    /// Ends the invocation with `outcome`; false if it had already ended (a timeout racing a
    /// late response, say).
    fn finish(&self, outcome: Outcome) -> bool {
        let sender = self.done.lock().expect("invocation").take();
        self.slot.lock().expect("invocation").take();
        self.timer.lock().expect("invocation").take();
        match sender {
            Some(tx) => {
                let _ = tx.send(outcome);
                true
            }
            None => false,
        }
    }

    fn elapsed(&self) -> Duration {
        self.started
            .lock()
            .expect("invocation")
            .map(|s| s.elapsed())
            .unwrap_or_default()
    }
}

/// A held unit of concurrency, released on drop.
struct Slot {
    function: Arc<AtomicUsize>,
    account: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.function.fetch_sub(1, Ordering::SeqCst);
        self.account.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Spawned, has not polled `next` yet (initialising).
    Starting,
    /// Waiting in `next`.
    Polling,
    Busy(String),
    /// Answered its invocation and is about to poll again.
    Finishing,
    /// Being killed (an injected crash or timeout, a real timeout): it takes no invocation
    /// any more, even if it polls before the kill lands.
    Dying,
}

struct Instance {
    pid: Option<u32>,
    phase: Phase,
    spawned_at: Instant,
    init_duration: Option<Duration>,
    init_reported: bool,
    init_error: Option<(String, String)>,
    kill: Option<oneshot::Sender<()>>,
    /// The last peak-memory reading and when it was taken: reading /proc on every REPORT
    /// cost more than a trivial function's whole invocation under load.
    peak_mb: Option<(Instant, u64)>,
}

impl Instance {
    /// Max Memory Used for a REPORT line: a high-water mark, so a reading a few hundred
    /// milliseconds old is only ever slightly low.
    fn peak_mb(&mut self) -> u64 {
        const FRESH: Duration = Duration::from_millis(250);
        match self.peak_mb {
            Some((at, mb)) if at.elapsed() < FRESH => mb,
            _ => {
                let mb = self.pid.and_then(peak_rss_mb).unwrap_or(0);
                self.peak_mb = Some((Instant::now(), mb));
                mb
            }
        }
    }
}

struct Waiter {
    instance: Option<u64>,
    tx: oneshot::Sender<Arc<Invocation>>,
}

#[derive(Default)]
struct State {
    pending: VecDeque<Arc<Invocation>>,
    waiters: VecDeque<Waiter>,
    instances: HashMap<u64, Instance>,
    running: HashMap<String, (Option<u64>, Arc<Invocation>)>,
    next_instance: u64,
}

impl State {
    /// Instances that will take an invocation soon without being started.
    fn soon_available(&self) -> usize {
        self.instances
            .values()
            .filter(|i| matches!(i.phase, Phase::Starting | Phase::Finishing))
            .count()
    }
}

pub(crate) struct Function {
    pub config: FunctionConfig,
    in_flight: Arc<AtomicUsize>,
    state: Mutex<State>,
}

pub(crate) struct Inner {
    pub settings: Settings,
    pub functions: BTreeMap<String, Arc<Function>>,
    account_in_flight: Arc<AtomicUsize>,
    shutting_down: std::sync::atomic::AtomicBool,
}

/// The Lambda service. Cheap to clone.
#[derive(Clone)]
pub struct LambdaService {
    pub(crate) inner: Arc<Inner>,
}

impl LambdaService {
    pub fn new(settings: Settings, functions: Vec<FunctionConfig>) -> Self {
        let functions = functions
            .into_iter()
            .map(|config| {
                (
                    config.name.clone(),
                    Arc::new(Function {
                        config,
                        in_flight: Arc::new(AtomicUsize::new(0)),
                        state: Mutex::new(State::default()),
                    }),
                )
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                settings,
                functions,
                account_in_flight: Arc::new(AtomicUsize::new(0)),
                shutting_down: false.into(),
            }),
        }
    }

    pub fn functions(&self) -> impl Iterator<Item = &FunctionConfig> {
        self.inner.functions.values().map(|f| &f.config)
    }

    pub fn logs(&self) -> &LogSink {
        &self.inner.settings.logs
    }

    /// The `AWS_LAMBDA_RUNTIME_API` value for whoever serves an attached function.
    pub fn attached_runtime_api(&self, function: &str) -> String {
        format!(
            "http://{}/_runtime/{function}/attached",
            self.inner.settings.runtime_api_host
        )
    }

    /// The environment an instance of `function` gets, with `runtime_api` as its Runtime API.
    pub fn environment(
        &self,
        function: &str,
        runtime_api: &str,
    ) -> Option<BTreeMap<String, String>> {
        let f = self.inner.functions.get(function)?;
        let c = &f.config;
        let mut env = c.environment.clone();
        let lambda_vars = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", c.name.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", c.memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", c.name),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("devstack/[$LATEST]{}", uuid::Uuid::new_v4().simple()),
            ),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
            ("_HANDLER", c.handler.clone()),
            ("LAMBDA_TASK_ROOT", task_root(c)),
            ("LAMBDA_RUNTIME_DIR", task_root(c)),
            ("TZ", ":UTC".to_owned()),
        ];
        for (k, v) in lambda_vars {
            env.insert(k.to_owned(), v);
        }
        Some(env)
    }

    /// Resolves a function name, ARN or `name:qualifier`.
    fn lookup(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<(Arc<Function>, String), InvokeError> {
        let not_found = || InvokeError::NotFound(name.to_owned());
        // arn:aws:lambda:region:account:function:name[:qualifier], account:function:name[:q]
        let tail = match name.find(":function:") {
            Some(i) => &name[i + ":function:".len()..],
            None => name,
        };
        let (fname, inline_q) = match tail.split_once(':') {
            Some((n, q)) => (n, Some(q)),
            None => (tail, None),
        };
        let f = self.inner.functions.get(fname).ok_or_else(not_found)?;
        let q = match (inline_q, qualifier) {
            (Some(a), Some(b)) if a != b => {
                return Err(InvokeError::Invalid(
                    "The derived qualifier from the function name does not match the specified qualifier.".into(),
                ));
            }
            (Some(q), _) | (None, Some(q)) => Some(q),
            (None, None) => None,
        };
        let arn = match q {
            None => f.config.arn.clone(),
            Some(q) if q == "$LATEST" || q == "1" || f.config.aliases.iter().any(|a| a == q) => {
                format!("{}:{q}", f.config.arn)
            }
            Some(q) => return Err(InvokeError::NotFound(format!("{}:{q}", f.config.arn))),
        };
        Ok((f.clone(), arn))
    }

    pub fn function(&self, name: &str) -> Result<FunctionConfig, InvokeError> {
        self.lookup(name, None).map(|(f, _)| f.config.clone())
    }

    fn take_slot(&self, f: &Function) -> Result<Slot, InvokeError> {
        let limit = f.config.reserved_concurrency.map(|r| r as usize);
        let now = f.in_flight.fetch_add(1, Ordering::SeqCst);
        let slot = Slot {
            function: f.in_flight.clone(),
            account: self.inner.account_in_flight.clone(),
        };
        let account = self.inner.account_in_flight.fetch_add(1, Ordering::SeqCst);
        if limit.is_some_and(|l| now >= l) {
            return Err(InvokeError::Throttled { reserved: true });
        }
        if account >= self.inner.settings.account_concurrency {
            return Err(InvokeError::Throttled { reserved: false });
        }
        Ok(slot)
    }

    /// A synchronous (RequestResponse) invocation.
    pub async fn invoke(&self, req: InvokeRequest) -> Result<Invoked, InvokeError> {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return Err(InvokeError::ShuttingDown);
        }
        let (f, invoked_arn) = self.lookup(&req.function, req.qualifier.as_deref())?;
        let slot = self.take_slot(&f)?;
        let req_tail = req.tail_logs;
        let log_from = if req_tail { self.logs().position() } else { 0 };
        let (tx, rx) = oneshot::channel();
        let id = uuid::Uuid::new_v4().to_string();
        let inv = Arc::new(Invocation {
            id: id.clone(),
            payload: req.payload,
            client_context: req.client_context,
            invoked_arn,
            trace_id: trace_id(),
            fault: req.fault,
            deadline_ms: Mutex::new(0),
            done: Mutex::new(Some(tx)),
            started: Mutex::new(None),
            slot: Mutex::new(Some(slot)),
            timer: Mutex::new(None),
        });
        self.dispatch(&f, inv);
        let outcome = rx.await.map_err(|_| InvokeError::ShuttingDown)?;
        let logs = match req_tail {
            true => self
                .logs()
                .since(&f.config.name, log_from)
                .into_iter()
                .map(|l| l.text)
                .collect(),
            false => Vec::new(),
        };
        Ok(match outcome {
            Outcome::Response(payload) => Invoked {
                request_id: id,
                payload,
                function_error: None,
                logs,
            },
            Outcome::Error {
                error_type,
                payload,
            } => Invoked {
                request_id: id,
                payload,
                function_error: Some(FunctionError { error_type }),
                logs,
            },
        })
    }

    /// An asynchronous (Event) invocation: accepted at once, run when concurrency allows.
    pub fn invoke_async(&self, req: InvokeRequest) -> Result<(), InvokeError> {
        let (f, _) = self.lookup(&req.function, req.qualifier.as_deref())?;
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match this.invoke(req.clone()).await {
                    Err(InvokeError::Throttled { .. }) => {
                        tokio::time::sleep(Duration::from_millis(20)).await
                    }
                    Err(e) => {
                        this.logs()
                            .write(&f.config.name, &format!("async invocation not run: {e}"));
                        return;
                    }
                    Ok(done) => {
                        if let Some(err) = done.function_error {
                            this.logs().write(
                                &f.config.name,
                                &format!(
                                    "async invocation {} failed: {} {}",
                                    done.request_id,
                                    err.error_type,
                                    String::from_utf8_lossy(&done.payload)
                                ),
                            );
                        }
                        return;
                    }
                }
            }
        });
        Ok(())
    }

    fn dispatch(&self, f: &Arc<Function>, mut inv: Arc<Invocation>) {
        let mut st = f.state.lock().expect("function state");
        while let Some(w) = st.waiters.pop_front() {
            match w.tx.send(inv) {
                Ok(()) => return,
                // That poller's connection is gone; try the next one.
                Err(back) => inv = back,
            }
        }
        st.pending.push_back(inv);
        self.scale(f, &mut st);
    }

    /// Starts instances while queued invocations outnumber instances about to poll.
    fn scale(&self, f: &Arc<Function>, st: &mut State) {
        let Some(exe) = f.config.executable.clone() else {
            return; // attached: the user's process polls
        };
        let cap = self.inner.settings.max_instances.unwrap_or(usize::MAX);
        while st.pending.len() > st.soon_available() && st.instances.len() < cap {
            if !self.spawn(f, st, &exe) {
                break;
            }
        }
    }

    /// Starts one instance; false (with its pending invocation failed) if it could not start.
    fn spawn(&self, f: &Arc<Function>, st: &mut State, exe: &PathBuf) -> bool {
        let id = st.next_instance;
        st.next_instance += 1;
        // With a scheme: `lambda_runtime` parses the value as a URI, and `host:port/path`
        // without one does not parse; `http://host:port/path` does, base path included.
        let runtime_api = format!(
            "http://{}/_runtime/{}/{id}",
            self.inner.settings.runtime_api_host, f.config.name
        );
        let env = self
            .environment(&f.config.name, &runtime_api)
            .unwrap_or_default();
        let mut cmd = tokio::process::Command::new(exe);
        cmd.env_clear()
            .envs(&env)
            .env(
                "PATH",
                std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(dir) = exe.parent() {
            cmd.current_dir(dir);
        }
        // If devstack dies without stopping its instances (kill -9), the kernel kills them:
        // an orphaned instance would otherwise linger, its Runtime API gone. (The signal fires
        // when the spawning thread exits; instances are spawned from the runtime's worker
        // threads, which live as long as devstack.)
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and touches only the child being set up.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("cannot start {}: {e}", exe.display());
                self.logs().write(&f.config.name, &msg);
                if let Some(inv) = st.pending.pop_front() {
                    inv.finish(error_outcome("Runtime.InvalidEntrypoint", &msg));
                }
                return false;
            }
        };
        let logs = self.logs().clone();
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            let name = f.config.name.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs.write(&name, &line);
                }
            });
        }
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        st.instances.insert(
            id,
            Instance {
                pid: child.id(),
                phase: Phase::Starting,
                spawned_at: Instant::now(),
                init_duration: None,
                init_reported: false,
                init_error: None,
                kill: Some(kill_tx),
                peak_mb: None,
            },
        );
        let this = self.clone();
        let f = f.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                s = child.wait() => s,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let status = status
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string());
            this.exited(&f, id, &status);
        });
        true
    }

    /// An instance's process ended.
    fn exited(&self, f: &Arc<Function>, id: u64, status: &str) {
        let mut st = f.state.lock().expect("function state");
        let Some(inst) = st.instances.remove(&id) else {
            return;
        };
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let name = &f.config.name;
        match inst.phase {
            Phase::Busy(req) => {
                if let Some((_, inv)) = st.running.remove(&req) {
                    let msg =
                        format!("RequestId: {req} Error: Runtime exited with error: {status}");
                    self.logs().write(name, &msg);
                    self.logs().write(name, "Runtime.ExitError");
                    if inv.finish(error_outcome("Runtime.ExitError", &msg)) {
                        let init = (!inst.init_reported)
                            .then_some(inst.init_duration)
                            .flatten();
                        // The process is gone: its last reading is the best there is.
                        let mem = inst.peak_mb.map_or(0, |(_, mb)| mb);
                        self.print_report(f, &inv, mem, init);
                    }
                }
            }
            Phase::Starting => {
                let (error_type, message) = inst.init_error.clone().unwrap_or_else(|| {
                    (
                        "Runtime.ExitError".into(),
                        format!("Runtime exited with error: {status}"),
                    )
                });
                self.logs().write(
                    name,
                    &format!(
                        "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: error\tError Type: {error_type}",
                        ms(inst.spawned_at.elapsed())
                    ),
                );
                // The invocation that asked for this instance fails with the init error, as on
                // AWS; the next one tries a new instance.
                if let Some(inv) = st.pending.pop_front() {
                    inv.finish(error_outcome(&error_type, &message));
                }
            }
            Phase::Polling | Phase::Finishing | Phase::Dying => {
                self.logs()
                    .write(name, &format!("instance exited: {status}"));
            }
        }
        st.waiters.retain(|w| w.instance != Some(id));
        self.scale(f, &mut st);
    }

    /// A poller asks for the next invocation (long poll).
    pub(crate) async fn next(
        &self,
        function: &str,
        instance: Option<u64>,
    ) -> Option<Arc<Invocation>> {
        let f = self.inner.functions.get(function)?.clone();
        let rx = {
            let mut st = f.state.lock().expect("function state");
            if let Some(i) = instance.and_then(|i| st.instances.get_mut(&i)) {
                if i.phase == Phase::Dying {
                    return None;
                }
                if i.phase == Phase::Starting {
                    i.init_duration = Some(i.spawned_at.elapsed());
                }
                i.phase = Phase::Polling;
            } else if instance.is_some() {
                return None; // an instance we do not know (killed meanwhile)
            }
            match st.pending.pop_front() {
                Some(inv) => {
                    self.start(&f, &mut st, instance, &inv);
                    return Some(inv);
                }
                None => {
                    let (tx, rx) = oneshot::channel();
                    st.waiters.push_back(Waiter { instance, tx });
                    rx
                }
            }
        };
        let inv = rx.await.ok()?;
        let mut st = f.state.lock().expect("function state");
        self.start(&f, &mut st, instance, &inv);
        Some(inv)
    }

    fn start(
        &self,
        f: &Arc<Function>,
        st: &mut State,
        instance: Option<u64>,
        inv: &Arc<Invocation>,
    ) {
        if let Some(i) = instance.and_then(|i| st.instances.get_mut(&i)) {
            i.phase = Phase::Busy(inv.id.clone());
        }
        let timeout = Duration::from_secs(u64::from(f.config.timeout_secs.max(1)));
        *inv.started.lock().expect("invocation") = Some(Instant::now());
        *inv.deadline_ms.lock().expect("invocation") = epoch_ms() + timeout.as_millis() as i64;
        st.running.insert(inv.id.clone(), (instance, inv.clone()));
        self.logs().write(
            &f.config.name,
            &format!("START RequestId: {} Version: $LATEST", inv.id),
        );
        let (stop, stopped) = oneshot::channel::<()>();
        *inv.timer.lock().expect("invocation") = Some(stop);
        let this = self.clone();
        let f = f.clone();
        let inv = Arc::downgrade(inv);
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(timeout) => {
                    if let Some(inv) = inv.upgrade() {
                        this.time_out(&f, &inv, timeout);
                    }
                }
                // The invocation ended (its sender was dropped): nothing to time out.
                _ = stopped => {}
            }
        });
    }

    fn time_out(&self, f: &Arc<Function>, inv: &Arc<Invocation>, timeout: Duration) {
        let mut st = f.state.lock().expect("function state");
        let Some((instance, _)) = st.running.remove(&inv.id) else {
            return; // answered in time
        };
        let msg = format!(
            "{} {} Task timed out after {:.2} seconds",
            chrono::DateTime::from_timestamp_millis(epoch_ms())
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ"),
            inv.id,
            timeout.as_secs_f64()
        );
        self.logs().write(&f.config.name, &msg);
        let err = format!(
            "RequestId: {} Error: Task timed out after {:.2} seconds",
            inv.id,
            timeout.as_secs_f64()
        );
        if inv.finish(error_outcome("Sandbox.Timedout", &err))
            && let Some(inst) = instance.and_then(|i| st.instances.get_mut(&i))
        {
            // The process may be stuck anywhere: it is killed, as Lambda does, and replaced
            // on the next demand.
            if let Some(kill) = inst.kill.take() {
                let _ = kill.send(());
            }
            inst.phase = Phase::Dying;
            let mem = inst.peak_mb();
            let init = (!inst.init_reported)
                .then_some(inst.init_duration)
                .flatten();
            inst.init_reported = true;
            self.print_report(f, inv, mem, init);
        }
    }

    /// A poller answers an invocation.
    pub(crate) fn complete(
        &self,
        function: &str,
        request_id: &str,
        outcome: Outcome,
    ) -> Result<(), ()> {
        let f = self.inner.functions.get(function).ok_or(())?.clone();
        let mut st = f.state.lock().expect("function state");
        let (instance, inv) = st.running.remove(request_id).ok_or(())?;
        let outcome = match inv.fault {
            None => outcome,
            Some(fault) => {
                // The answer is dropped and the instance killed, as if the process had died
                // (or hung) after doing its work.
                let msg = match fault {
                    InjectedFault::Crash => format!(
                        "RequestId: {request_id} Error: Runtime exited with signal: killed (devstack chaos: injected crash)"
                    ),
                    InjectedFault::Timeout => format!(
                        "RequestId: {request_id} Error: Task timed out after {:.2} seconds (devstack chaos: injected timeout)",
                        f64::from(f.config.timeout_secs.max(1))
                    ),
                };
                self.logs().write(&f.config.name, &msg);
                if let Some(kill) = instance
                    .and_then(|i| st.instances.get_mut(&i))
                    .and_then(|i| i.kill.take())
                {
                    let _ = kill.send(());
                }
                match fault {
                    InjectedFault::Crash => error_outcome("Runtime.ExitError", &msg),
                    InjectedFault::Timeout => error_outcome("Sandbox.Timedout", &msg),
                }
            }
        };
        if let Outcome::Error { error_type, .. } = &outcome {
            self.logs().write(
                &f.config.name,
                &format!("{request_id} invocation error: {error_type}"),
            );
        }
        if !inv.finish(outcome) {
            return Err(());
        }
        match instance.and_then(|i| st.instances.get_mut(&i)) {
            Some(inst) => {
                // An injected fault killed it: the next invocation must not reach it.
                inst.phase = match inv.fault {
                    Some(_) => Phase::Dying,
                    None => Phase::Finishing,
                };
                let mem = inst.peak_mb();
                let init = (!inst.init_reported)
                    .then_some(inst.init_duration)
                    .flatten();
                inst.init_reported = true;
                self.print_report(&f, &inv, mem, init);
            }
            None => self.print_report(&f, &inv, 0, None),
        }
        Ok(())
    }

    pub(crate) fn init_error(
        &self,
        function: &str,
        instance: Option<u64>,
        error_type: String,
        message: String,
    ) {
        let Some(f) = self.inner.functions.get(function) else {
            return;
        };
        let mut st = f.state.lock().expect("function state");
        self.logs()
            .write(function, &format!("init error: {error_type}: {message}"));
        if let Some(i) = instance.and_then(|i| st.instances.get_mut(&i)) {
            i.init_error = Some((error_type, message));
        }
    }

    fn print_report(&self, f: &Function, inv: &Invocation, max_mem: u64, init: Option<Duration>) {
        let d = inv.elapsed();
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB",
            inv.id,
            ms(d),
            // Lambda bills each started millisecond.
            d.as_nanos().div_ceil(1_000_000).max(1),
            f.config.memory_mb,
            max_mem
        );
        if let Some(i) = init {
            line.push_str(&format!("\tInit Duration: {:.2} ms", ms(i)));
        }
        self.logs()
            .write(&f.config.name, &format!("END RequestId: {}", inv.id));
        self.logs().write(&f.config.name, &line);
    }

    /// Stops every instance; invocations still waiting fail.
    pub async fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        for f in self.inner.functions.values() {
            let mut st = f.state.lock().expect("function state");
            for inst in st.instances.values_mut() {
                if let Some(k) = inst.kill.take() {
                    let _ = k.send(());
                }
            }
            // The instances' long polls of /next stay open until the kills land: answered,
            // they would get a response without a request id, which the Rust runtime treats
            // as fatal (a panic in every instance's log at each Ctrl-C).
            for inv in st.pending.drain(..) {
                inv.finish(error_outcome(
                    "Runtime.Unavailable",
                    "devstack is shutting down",
                ));
            }
        }
        // Give the kills a moment to land so no process outlives us.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            let alive: usize = self
                .inner
                .functions
                .values()
                .map(|f| f.state.lock().expect("function state").instances.len())
                .sum();
            if alive == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for f in self.inner.functions.values() {
            f.state.lock().expect("function state").waiters.clear();
        }
    }

    /// Instances of `function` currently alive, for tests and `devstack` status.
    pub fn instance_count(&self, function: &str) -> usize {
        self.inner
            .functions
            .get(function)
            .map(|f| f.state.lock().expect("function state").instances.len())
            .unwrap_or(0)
    }
}

pub(crate) fn error_outcome(error_type: &str, message: &str) -> Outcome {
    Outcome::Error {
        error_type: error_type.to_owned(),
        payload: Bytes::from(
            serde_json::json!({"errorType": error_type, "errorMessage": message}).to_string(),
        ),
    }
}

fn task_root(c: &FunctionConfig) -> String {
    c.executable
        .as_ref()
        .and_then(|e| e.parent())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "/var/task".into())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// An X-Ray trace header for a new invocation.
fn trace_id() -> String {
    let secs = epoch_ms() / 1000;
    let r = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &r[..24],
        &r[16..32]
    )
}

/// The process's peak resident set (VmHWM), in MB, as Lambda's "Max Memory Used".
fn peak_rss_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb.div_ceil(1024))
}
