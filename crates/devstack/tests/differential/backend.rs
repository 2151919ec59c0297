//! The two backends every scenario runs against: devstack, in this process, and moto's server
//! (`.venv/bin/moto_server`, from requirements-dev.txt), a child process on a free port. Each
//! comes with its own aws-sdk-sqs and aws-sdk-eventbridge clients, and with what is needed to
//! normalise what it answers (its endpoint and account id).

use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const REGION: &str = "us-east-1";
/// The account moto's server answers for (its documented default).
const MOTO_ACCOUNT: &str = "123456789012";
/// How long moto may take to start: a Python interpreter importing every service's models, on
/// a busy CI runner.
const MOTO_START: Duration = Duration::from_secs(60);

/// One implementation of SQS and EventBridge, with clients pointed at it.
pub struct Backend {
    pub name: &'static str,
    pub endpoint: String,
    pub account: String,
    pub sqs: aws_sdk_sqs::Client,
    pub events: aws_sdk_eventbridge::Client,
    /// Kept for as long as the backend is used: dropping it stops the server.
    _server: Server,
}

enum Server {
    Devstack(#[allow(dead_code)] Box<devstack::Devstack>),
    Moto(#[allow(dead_code)] Moto),
}

/// Both backends, started together.
pub async fn both() -> (Backend, Backend) {
    tokio::join!(Backend::devstack(), Backend::moto())
}

impl Backend {
    pub async fn devstack() -> Self {
        let template = format!(
            "{}/tests/fixtures/differential.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        let ds = devstack::Devstack::start(devstack::Config::for_tests(template))
            .await
            .expect("devstack starts");
        Self::new(
            "devstack",
            ds.edge_url.clone(),
            ds.stack.account_id.clone(),
            Server::Devstack(Box::new(ds)),
        )
    }

    pub async fn moto() -> Self {
        let moto = Moto::start().await;
        Self::new(
            "moto",
            moto.endpoint.clone(),
            MOTO_ACCOUNT.to_owned(),
            Server::Moto(moto),
        )
    }

    fn new(name: &'static str, endpoint: String, account: String, server: Server) -> Self {
        let credentials = Credentials::new("test", "test", None, None, "differential");
        // No retries: every answer is an observation, and a retried one would hide it.
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(credentials.clone())
                .endpoint_url(&endpoint)
                .retry_config(RetryConfig::disabled())
                .build(),
        );
        let events = aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::Config::builder()
                .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
                .region(Region::new(REGION))
                .credentials_provider(credentials)
                .endpoint_url(&endpoint)
                .retry_config(RetryConfig::disabled())
                .build(),
        );
        Self {
            name,
            endpoint,
            account,
            sqs,
            events,
            _server: server,
        }
    }

    /// `text` with this backend's endpoint and account id replaced by `<endpoint>` and
    /// `<account>`, so that URLs and ARNs compare across backends.
    pub fn norm(&self, text: &str) -> String {
        text.replace(&self.endpoint, "<endpoint>")
            .replace(&self.account, "<account>")
    }

    /// [`norm`](Self::norm) on every string of a JSON value.
    pub fn norm_json(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.norm(s)),
            Value::Array(items) => Value::Array(items.iter().map(|i| self.norm_json(i)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.norm_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    pub fn queue_url(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.endpoint, self.account)
    }

    pub fn queue_arn(&self, name: &str) -> String {
        format!("arn:aws:sqs:{REGION}:{}:{name}", self.account)
    }
}

/// moto's server as a child process, killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
    /// Its last lines of output, for a failure's message.
    log: Arc<Mutex<VecDeque<String>>>,
}

fn moto_server() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server");
    assert!(
        path.is_file(),
        "{} is missing: the differential tests need moto's server. Run `just tools` (or, in a \
         .venv made before moto was added, `.venv/bin/pip install -r requirements-dev.txt`).",
        path.display()
    );
    path
}

impl Moto {
    pub async fn start() -> Self {
        // Port 0: the server binds a free port itself and says which, so no other process can
        // take it between a probe and the bind.
        let mut child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", "0"])
            // The account is moto's default unless the environment says otherwise: say it.
            .env("MOTO_ACCOUNT_ID", MOTO_ACCOUNT)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto_server starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            // Reads to the end, so that the server never blocks on a full pipe (it logs every
            // request).
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some((_, addr)) = line.split_once("Running on http://") {
                        let _ = tx.send(addr.trim().to_owned());
                    }
                    let mut log = log.lock().unwrap();
                    if log.len() == 50 {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        let mut moto = Self {
            child,
            endpoint: String::new(),
            log,
        };
        let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(MOTO_START))
            .await
            .unwrap();
        match addr {
            Ok(addr) => moto.endpoint = format!("http://{addr}"),
            Err(e) => moto.fail(&format!("did not say where it listens ({e})")),
        }
        moto.ready().await;
        moto
    }

    /// Polls `GET /moto-api/` until it answers, within [`MOTO_START`].
    async fn ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + MOTO_START;
        loop {
            match http
                .get(format!("{}/moto-api/", self.endpoint))
                .timeout(Duration::from_secs(5))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return,
                _ if tokio::time::Instant::now() >= deadline => {
                    self.fail("did not answer GET /moto-api/");
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let status = self.child.wait();
        let log: Vec<String> = self.log.lock().unwrap().iter().cloned().collect();
        panic!(
            "moto_server {what} within {MOTO_START:?} (exit: {status:?}); its output:\n{}",
            log.join("\n")
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Panics, listing every path where the observations differ, unless devstack's and moto's are
/// equal.
pub fn assert_agree(scenario: &str, devstack: &Value, moto: &Value) {
    if devstack == moto {
        if std::env::var_os("DIFF_SHOW").is_some() {
            eprintln!(
                "{scenario}: {}",
                serde_json::to_string_pretty(devstack).unwrap()
            );
        }
        return;
    }
    let mut diffs = Vec::new();
    diff("$", devstack, moto, &mut diffs);
    panic!(
        "{scenario}: devstack and moto disagree at\n{}\n\ndevstack observed:\n{}\n\nmoto observed:\n{}",
        diffs.join("\n"),
        serde_json::to_string_pretty(devstack).unwrap(),
        serde_json::to_string_pretty(moto).unwrap()
    );
}

fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (x.get(k), y.get(k)) {
                    (Some(a), Some(b)) => diff(&p, a, b, out),
                    (a, b) => out.push(format!("  {p}: devstack {a:?}, moto {b:?}")),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (a, b)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}[{i}]"), a, b, out);
            }
        }
        (a, b) if a != b => out.push(format!("  {path}: devstack {a}, moto {b}")),
        _ => {}
    }
}
