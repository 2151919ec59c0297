//! The e2e harness: the product under devstack, driven only through public interfaces (the
//! HTTP API, the Cognito API, devstack's admin API), with a transcript of what a user would
//! see for each scenario to snapshot.
//!
//! A [`Stack`] starts devstack on the repository's `template.yaml` (the `embedded` backend:
//! devstack as a library, state in memory, free ports, on its virtual clock). [`Stack::sign_up`] makes a user the
//! way a browser would (SignUp, the emailed code, ConfirmSignUp, InitiateAuth); [`Stack::call`]
//! sends an API request as a user or anonymously and records it. [`Stack::transcript`] gives
//! the recording with the run's random parts (short codes, user ids, times) replaced by stable
//! names, so a snapshot of it changes only when the product's behaviour does.

mod backend;

pub use backend::{Backend, Moto};
use devstack::{ClockMode, Config, Devstack};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("devstack did not start: {0}")]
    Start(#[from] devstack::DevstackError),
    #[error("{what}: {source}")]
    Http {
        what: String,
        source: reqwest::Error,
    },
    #[error("{what} answered {status}: {body}")]
    Refused {
        what: String,
        status: u16,
        body: String,
    },
    #[error("{0}")]
    Missing(String),
}

type Result<T> = std::result::Result<T, HarnessError>;

/// Every scenario user's password (it meets the template's policy).
const PASSWORD: &str = "Correct-Horse-42";

/// A signed-up, logged-in user.
#[derive(Debug, Clone)]
pub struct User {
    /// What the transcript calls them (`alice`).
    pub name: String,
    pub email: String,
    /// The Cognito id token the API's authorizer verifies.
    pub id_token: String,
    /// The token's `sub`: the product's owner id.
    pub sub: String,
}

/// One answer of the API.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: Option<String>,
    /// The body as JSON (`null` when empty or not JSON).
    pub body: Value,
}

pub struct Stack {
    /// Running until [`Stack::shutdown`].
    ds: Option<Devstack>,
    backend: Backend,
    /// The chaos seed (`E2E_CHAOS_SEED`, 0 by default).
    seed: u64,
    /// The scenario's own moto server, on the `moto` backend.
    _moto: Option<Moto>,
    /// The template Parameters overridden, for the replay command a failure prints.
    overrides: BTreeMap<String, String>,
    http: reqwest::Client,
    api: String,
    client_id: String,
    transcript: Mutex<Vec<Value>>,
    /// Random values seen in the run and the stable names the transcript uses for them.
    aliases: Mutex<Vec<(String, String)>>,
}

impl Stack {
    /// The product on the backend `E2E_BACKEND` names ([`Backend`]), with `overrides` of
    /// the template's Parameters (the click pipeline delivers without a batching window
    /// unless told otherwise).
    pub async fn start(overrides: &[(&str, &str)]) -> Result<Self> {
        let backend = Backend::from_env()?;
        let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
        let mut config = Config::for_tests(template);
        // The dashboard on the edge under /dashboard/, as the template's SiteBucket declares
        // it (tests/dashboard.rs drives it).
        config.site = devstack::SiteChoice::Template;
        let moto = match &backend {
            Backend::Embedded => None,
            Backend::Moto => {
                let moto = Moto::start().await?;
                config.dynamodb_endpoint = Some(moto.url.clone());
                config.sqs_endpoint = Some(moto.url.clone());
                Some(moto)
            }
            Backend::External { dynamodb, sqs } => {
                config.dynamodb_endpoint = Some(dynamodb.clone());
                config.sqs_endpoint = Some(sqs.clone());
                None
            }
        };
        // The seed of the scenario's probabilistic chaos rules (`lose-delete=0.5`): the same
        // seed, the same faults on the same messages.
        if let Some(seed) = std::env::var("E2E_CHAOS_SEED")
            .ok()
            .filter(|s| !s.is_empty())
        {
            config.chaos_seed = seed.parse().map_err(|_| {
                HarnessError::Missing(format!("E2E_CHAOS_SEED={seed} is not a number"))
            })?;
        }
        let seed = config.chaos_seed;
        for (k, v) in backend.overrides() {
            config
                .parameter_overrides
                .insert((*k).to_owned(), (*v).to_owned());
        }
        // devstack's virtual clock: the dates a user sees (daily stats, expiry) are the same
        // in every run, and a scenario moves time on purpose only.
        config.clock = ClockMode::Virtual {
            start_ms: ClockMode::VIRTUAL_EPOCH_MS,
        };
        config
            .parameter_overrides
            .insert("ClickBatchingWindowSeconds".into(), "0".into());
        for (k, v) in overrides {
            config
                .parameter_overrides
                .insert((*k).to_owned(), (*v).to_owned());
        }
        let overrides = config.parameter_overrides.clone();
        let ds = Devstack::start(config).await?;
        let api = ds
            .http_url
            .clone()
            .ok_or_else(|| HarnessError::Missing("the template has no HTTP API".into()))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|source| HarnessError::Http {
                what: "the HTTP client".into(),
                source,
            })?;
        let stack_aliases = vec![(api.clone(), "[api]".to_owned())];
        let mut stack = Self {
            ds: Some(ds),
            backend,
            seed,
            _moto: moto,
            overrides,
            http,
            api,
            client_id: String::new(),
            transcript: Mutex::new(Vec::new()),
            // The API's base (its port is free, so it changes every run) is in short URLs.
            aliases: Mutex::new(stack_aliases),
        };
        // The app client, found as a browser's configuration would name it: through the
        // Cognito API, not devstack's internals.
        let pools = stack
            .cognito("ListUserPools", json!({"MaxResults": 10}))
            .await?;
        let pool = pools["UserPools"][0]["Id"]
            .as_str()
            .ok_or_else(|| HarnessError::Missing(format!("no user pool in {pools}")))?
            .to_owned();
        let clients = stack
            .cognito(
                "ListUserPoolClients",
                json!({"UserPoolId": pool, "MaxResults": 10}),
            )
            .await?;
        stack.client_id = clients["UserPoolClients"][0]["ClientId"]
            .as_str()
            .ok_or_else(|| HarnessError::Missing(format!("no app client in {clients}")))?
            .to_owned();
        Ok(stack)
    }

    /// A call of the Cognito API (awsJson 1.1 on the edge), unrecorded.
    pub async fn cognito(&self, operation: &str, body: Value) -> Result<Value> {
        self.aws_json(
            "AWSCognitoIdentityProviderService",
            "application/x-amz-json-1.1",
            operation,
            body,
        )
        .await
    }

    /// A call of the SQS API (awsJson 1.0 on the edge), unrecorded.
    pub async fn sqs(&self, operation: &str, body: Value) -> Result<Value> {
        self.aws_json("AmazonSQS", "application/x-amz-json-1.0", operation, body)
            .await
    }

    async fn aws_json(
        &self,
        service: &str,
        content_type: &str,
        operation: &str,
        body: Value,
    ) -> Result<Value> {
        let what = format!("{service}.{operation}");
        let resp = self
            .http
            .post(&self.ds().edge_url)
            .header("content-type", content_type)
            .header("x-amz-target", format!("{service}.{operation}"))
            .body(body.to_string())
            .send()
            .await
            .map_err(|source| HarnessError::Http {
                what: what.clone(),
                source,
            })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if status != 200 {
            return Err(HarnessError::Refused {
                what,
                status,
                body: text,
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Signs `name` up as `{name}@example.com`, confirms the address with the code Cognito
    /// "emailed" (devstack keeps it: `GET /_devstack/cognito/messages`) and logs in with
    /// USER_PASSWORD_AUTH. Their `sub` is called `[name]` in the transcript from then on.
    pub async fn sign_up(&self, name: &str) -> Result<User> {
        let email = format!("{name}@example.com");
        self.cognito(
            "SignUp",
            json!({
                "ClientId": self.client_id,
                "Username": email,
                "Password": PASSWORD,
                "UserAttributes": [{"Name": "email", "Value": email}],
            }),
        )
        .await?;
        let messages: Value = self
            .http
            .get(format!("{}/_devstack/cognito/messages", self.ds().edge_url))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|source| HarnessError::Http {
                what: "the emailed codes".into(),
                source,
            })?
            .json()
            .await
            .map_err(|source| HarnessError::Http {
                what: "the emailed codes".into(),
                source,
            })?;
        let code = messages
            .as_array()
            .and_then(|m| m.iter().rev().find(|m| m["destination"] == email.as_str()))
            .and_then(|m| m["code"].as_str())
            .ok_or_else(|| HarnessError::Missing(format!("no code was sent to {email}")))?
            .to_owned();
        self.cognito(
            "ConfirmSignUp",
            json!({"ClientId": self.client_id, "Username": email, "ConfirmationCode": code}),
        )
        .await?;
        let (id_token, auth) = self.initiate_auth(&email).await?;
        let user = self
            .cognito(
                "GetUser",
                json!({"AccessToken": auth["AuthenticationResult"]["AccessToken"]}),
            )
            .await?;
        let sub = user["UserAttributes"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["Name"] == "sub"))
            .and_then(|a| a["Value"].as_str())
            .ok_or_else(|| HarnessError::Missing(format!("no sub in {user}")))?
            .to_owned();
        self.alias(&sub, name);
        Ok(User {
            name: name.to_owned(),
            email,
            id_token,
            sub,
        })
    }

    /// Logs `user` in again (USER_PASSWORD_AUTH): fresh tokens, as after their id token
    /// expired (an hour, on devstack's clock).
    pub async fn log_in(&self, user: &User) -> Result<User> {
        let (id_token, _) = self.initiate_auth(&user.email).await?;
        Ok(User {
            id_token,
            ..user.clone()
        })
    }

    async fn initiate_auth(&self, email: &str) -> Result<(String, Value)> {
        let auth = self
            .cognito(
                "InitiateAuth",
                json!({
                    "ClientId": self.client_id,
                    "AuthFlow": "USER_PASSWORD_AUTH",
                    "AuthParameters": {"USERNAME": email, "PASSWORD": PASSWORD},
                }),
            )
            .await?;
        let id_token = auth["AuthenticationResult"]["IdToken"]
            .as_str()
            .ok_or_else(|| HarnessError::Missing(format!("no IdToken in {auth}")))?
            .to_owned();
        Ok((id_token, auth))
    }

    /// Names a random value (a short code, an id) in the transcript: `[name]` replaces it
    /// wherever it appears.
    pub fn alias(&self, value: &str, name: &str) {
        let mut aliases = self.aliases.lock().expect("aliases");
        if !aliases.iter().any(|(v, _)| v == value) {
            aliases.push((value.to_owned(), format!("[{name}]")));
        }
    }

    /// Sends `method path` to the HTTP API, as `user` (a bearer id token) or anonymously,
    /// with an optional JSON body, and records the exchange.
    pub async fn call(
        &self,
        user: Option<&User>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply> {
        let what = format!("{method} {path}");
        let method_v = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| HarnessError::Missing(format!("no HTTP method {method}")))?;
        let mut req = self.http.request(method_v, format!("{}{path}", self.api));
        if let Some(u) = user {
            req = req.bearer_auth(&u.id_token);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|source| HarnessError::Http {
            what: what.clone(),
            source,
        })?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status = resp.status().as_u16();
        let location = header("location");
        let content_type = header("content-type");
        let text = resp.text().await.unwrap_or_default();
        let json_body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let mut response = json!({"status": status});
        if let Some(l) = &location {
            response["location"] = json!(l);
        }
        if let Some(ct) = &content_type
            && !json_body.is_null()
        {
            response["content-type"] = json!(ct);
        }
        if !json_body.is_null() {
            response["body"] = json_body.clone();
        }
        let mut request = json!({
            "as": user.map_or("anonymous", |u| u.name.as_str()),
            "call": what,
        });
        if let Some(b) = body {
            request["body"] = b;
        }
        self.transcript
            .lock()
            .expect("transcript")
            .push(json!({"request": request, "response": response}));
        Ok(Reply {
            status,
            location,
            content_type,
            body: json_body,
        })
    }

    /// Adds a line of the scenario's own (what it checked, a count it read) to the transcript.
    pub fn note(&self, what: &str, value: Value) {
        self.transcript
            .lock()
            .expect("transcript")
            .push(json!({"note": what, "value": value}));
    }

    /// The transcript so far, with every aliased value replaced by its name, and times (any
    /// member whose name ends in `At`) by `[time]`.
    pub fn transcript(&self) -> Value {
        let aliases = self.aliases.lock().expect("aliases").clone();
        let mut text =
            Value::Array(self.transcript.lock().expect("transcript").clone()).to_string();
        // Longest first, so that a value containing another is replaced whole.
        let mut by_len = aliases;
        by_len.sort_by_key(|(v, _)| std::cmp::Reverse(v.len()));
        for (value, name) in &by_len {
            text = text.replace(value.as_str(), name);
        }
        let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        redact_times(&mut v);
        v
    }

    /// Waits (at most 20 s) until devstack is idle: every queue's deliveries and every Step
    /// Functions execution finished (`POST /_devstack/settle`, devstack's admin API).
    pub async fn settle(&self) -> Result<()> {
        self.admin_ok("/_devstack/settle", json!({"timeout_ms": 20_000}))
            .await
    }

    /// A call of devstack's admin API (`/_devstack/...`, e.g. `/_devstack/chaos/rules`),
    /// unrecorded: its status and JSON answer.
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let what = format!("{method} {path}");
        let method_v = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| HarnessError::Missing(format!("no HTTP method {method}")))?;
        let mut req = self
            .http
            .request(method_v, format!("{}{path}", self.ds().edge_url));
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|source| HarnessError::Http {
            what: what.clone(),
            source,
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Moves devstack's virtual clock forward by `ms` (`POST /_devstack/clock`).
    pub async fn advance(&self, ms: i64) -> Result<()> {
        self.admin_ok("/_devstack/clock", json!({"advance_ms": ms}))
            .await
    }

    /// Arms a chaos rule through the admin API (`POST /_devstack/chaos/rules`, the compact
    /// form, e.g. `queue=* duplicate=every`) and notes it in the transcript.
    pub async fn chaos(&self, rule: &str) -> Result<()> {
        match self
            .admin("POST", "/_devstack/chaos/rules", Some(json!(rule)))
            .await?
        {
            (201, armed) => {
                self.note("chaos rule armed", armed);
                Ok(())
            }
            (status, answer) => Err(HarnessError::Refused {
                what: format!("chaos rule {rule}"),
                status,
                body: answer.to_string(),
            }),
        }
    }

    /// Lets every message of the queues whose name contains `queue` be consumed: settles,
    /// and while messages remain (in flight after a failure or a lost delete, back after
    /// their visibility timeout), moves the virtual clock by `step_ms` and settles again, at
    /// most `rounds` times. On a backend whose queues keep real time, waits instead (up to
    /// the time `rounds` visibility timeouts take). The messages left (0 when drained) and
    /// the clock moves (or waits) it took.
    pub async fn drain(&self, queue: &str, step_ms: i64, rounds: usize) -> Result<(u64, usize)> {
        let real_time = self.backend.real_time_queues();
        // The backend's visibility timeout is 2 s (`Backend::overrides`).
        let until =
            tokio::time::Instant::now() + std::time::Duration::from_secs(3 * rounds as u64 + 10);
        let mut moves = 0;
        loop {
            self.settle().await?;
            let left = self.left_in(queue).await?;
            if left == 0 {
                return Ok((left, moves));
            }
            if real_time {
                if tokio::time::Instant::now() >= until {
                    return Ok((left, moves));
                }
                // Messages hidden by a visibility timeout on the backend's clock: wait for
                // them to come back (the pollers see them within their polling interval).
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            } else {
                if moves == rounds {
                    return Ok((left, moves));
                }
                self.advance(step_ms).await?;
            }
            moves += 1;
        }
    }

    /// Messages visible, in flight or delayed in the queues whose name contains `queue`.
    async fn left_in(&self, queue: &str) -> Result<u64> {
        Ok(self
            .queues(queue)
            .await?
            .iter()
            .map(|q| {
                ["visible", "in_flight", "delayed"]
                    .iter()
                    .map(|k| q[*k].as_u64().unwrap_or(0))
                    .sum::<u64>()
            })
            .sum())
    }

    /// Moves the dead-letter queue `dlq`'s messages back to the queue that sends it its
    /// messages, as an operator would after a fix: SQS's StartMessageMoveTask, or, on moto
    /// (which does not implement it), receive, send and delete through the SQS API. The
    /// number of messages moved (by hand), or 0 when a move task was started.
    pub async fn redrive(&self, dlq: &Value) -> Result<usize> {
        if self.backend != Backend::Moto {
            let moved = self
                .sqs("StartMessageMoveTask", json!({"SourceArn": dlq["arn"]}))
                .await?;
            return match moved["TaskHandle"].is_string() {
                true => Ok(0),
                false => Err(HarnessError::Missing(format!("no TaskHandle in {moved}"))),
            };
        }
        let source = self
            .queues("")
            .await?
            .into_iter()
            .find(|q| q["dead_letter_queue"] == dlq["arn"])
            .ok_or_else(|| HarnessError::Missing(format!("no queue sends to {dlq}")))?;
        let mut moved = 0;
        loop {
            let got = self
                .sqs(
                    "ReceiveMessage",
                    json!({"QueueUrl": dlq["url"], "MaxNumberOfMessages": 10, "VisibilityTimeout": 30}),
                )
                .await?;
            let messages = got["Messages"].as_array().cloned().unwrap_or_default();
            if messages.is_empty() {
                return Ok(moved);
            }
            for m in messages {
                self.sqs(
                    "SendMessage",
                    json!({"QueueUrl": source["url"], "MessageBody": m["Body"]}),
                )
                .await?;
                self.sqs(
                    "DeleteMessage",
                    json!({"QueueUrl": dlq["url"], "ReceiptHandle": m["ReceiptHandle"]}),
                )
                .await?;
                moved += 1;
            }
        }
    }

    /// The backend this run uses.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The queues whose name contains `part`, as `GET /_devstack/queues` describes them
    /// (name, url, arn, visible, in_flight, delayed, dead_letter_queue).
    pub async fn queues(&self, part: &str) -> Result<Vec<Value>> {
        let (_, answer) = self.admin("GET", "/_devstack/queues", None).await?;
        Ok(answer["queues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|q| q["name"].as_str().is_some_and(|n| n.contains(part)))
            .cloned()
            .collect())
    }

    /// An anonymous visit of the short URL of `code` (`GET /{code}`, recorded).
    pub async fn resolve(&self, code: &str) -> Result<Reply> {
        self.call(None, "GET", &format!("/{code}"), None).await
    }

    /// A POST of the admin API that must answer 200.
    async fn admin_ok(&self, path: &str, body: Value) -> Result<()> {
        match self.admin("POST", path, Some(body)).await? {
            (200, _) => Ok(()),
            (status, answer) => Err(HarnessError::Refused {
                what: format!("POST {path}"),
                status,
                body: answer.to_string(),
            }),
        }
    }

    /// Creates a link to `url` as `user` (`POST /links`, recorded) and names its code
    /// `[name]` in the transcript; the code, or an error if the API did not answer 201.
    pub async fn create_link(&self, user: &User, url: &str, name: &str) -> Result<String> {
        let created = self
            .call(Some(user), "POST", "/links", Some(json!({ "url": url })))
            .await?;
        let code = match (created.status, created.body["code"].as_str()) {
            (201, Some(code)) => code.to_owned(),
            (status, _) => {
                return Err(HarnessError::Refused {
                    what: "POST /links".into(),
                    status,
                    body: created.body.to_string(),
                });
            }
        };
        self.alias(&code, name);
        Ok(code)
    }

    /// The WebSocket URL a browser opens to watch `code`'s counts as `user`: the WebSocket
    /// API's stage URL with the `code` and `token` query parameters its `$connect` reads.
    pub fn watch_url(&self, code: &str, user: &User) -> Result<String> {
        let api = self
            .ds()
            .stack
            .websocket_apis
            .first()
            .ok_or_else(|| HarnessError::Missing("the template has no WebSocket API".into()))?;
        Ok(format!(
            "{}/{}?code={code}&token={}",
            self.ds().ws_url,
            api.stage,
            user.id_token
        ))
    }

    /// The API's base URL (`http://127.0.0.1:port`), to name in notes.
    pub fn api(&self) -> &str {
        &self.api
    }

    /// devstack itself, for what the public interfaces do not show.
    pub fn ds(&self) -> &Devstack {
        self.ds.as_ref().expect("the stack runs until shutdown")
    }

    pub async fn shutdown(mut self) {
        if let Some(ds) = self.ds.take() {
            ds.shutdown().await;
        }
    }
}

/// A scenario that fails leaves its journal (every delivery, response and injected fault) in
/// `target/e2e/` and prints the `devstack replay` command that re-drives it against a build.
impl Drop for Stack {
    fn drop(&mut self) {
        let Some(ds) = &self.ds else { return };
        if !std::thread::panicking() {
            return;
        }
        let scenario = std::thread::current()
            .name()
            .unwrap_or("scenario")
            .replace("::", "-");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/e2e");
        let path = dir.join(format!("{scenario}.journal.jsonl"));
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, ds.chaos.journal().contents()));
        match written {
            Ok(()) => {
                let path = path.canonicalize().unwrap_or(path);
                let mut overrides = String::new();
                for (k, v) in &self.overrides {
                    overrides.push_str(&format!(" {k}={v}"));
                }
                eprintln!(
                    "e2e: scenario {scenario} failed on the {backend} backend with \
                     E2E_CHAOS_SEED={seed}; its journal is {path}\n\
                     e2e: rerun it fault for fault: E2E_CHAOS_SEED={seed} E2E_BACKEND={backend} \
                     cargo test -p e2e {scenario}\n\
                     e2e: replay its deliveries against a build: cargo run -p devstack -- replay \
                     {path} --template template.yaml --dev --parameter-overrides{overrides}",
                    backend = self.backend.name(),
                    seed = self.seed,
                    path = path.display()
                );
            }
            Err(e) => {
                eprintln!("e2e: scenario {scenario} failed; its journal could not be written: {e}")
            }
        }
    }
}

fn redact_times(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if k.ends_with("At") && !v.is_null() {
                    *v = json!("[time]");
                } else {
                    redact_times(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(redact_times),
        _ => {}
    }
}
