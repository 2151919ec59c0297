//! DynamoDB: the embedded dynoxide engine (SQLite), served on an internal loopback port and
//! reached through the edge, with the template's tables created on start.
//!
//! Requests go through the edge rather than straight to dynoxide so that one endpoint serves
//! every AWS API, and so that devstack can see (and inject faults into) every call. The edge
//! answers the plainest GetItems itself, through the engine's typed API ([`get_item_here`]).

use crate::external::{Endpoint, ExternalError};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use template::model::Table;

#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    #[error("cannot open the DynamoDB database at {path}: {message}")]
    Open { path: String, message: String },
    #[error("cannot start the DynamoDB engine: {0}")]
    Start(std::io::Error),
    #[error("cannot create table {table}: {message}")]
    Provision { table: String, message: String },
}

/// devstack's clock, as dynoxide reads time (TTL sweeps, stream records).
struct EngineClock(clock::SharedClock);

impl dynoxide::storage_backend::Clock for EngineClock {
    fn now_unix_secs(&self) -> u64 {
        u64::try_from(self.0.now_ms() / 1000).unwrap_or(0)
    }

    fn now_unix_secs_f64(&self) -> f64 {
        self.0.now_ms() as f64 / 1000.0
    }
}

pub struct Dynamo {
    /// `http://127.0.0.1:<port>` of the engine, or the external endpoint.
    pub endpoint: String,
    /// The engine itself, for the reads the edge answers in this process (none with an
    /// external DynamoDB).
    pub engine: Option<dynoxide::Database>,
    /// Where devstack's own calls go.
    pub target: Target,
    _shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Where devstack's own DynamoDB calls (provisioning, Step Functions' tasks) go.
#[derive(Clone)]
pub enum Target {
    /// The embedded engine's loopback server.
    Engine { url: String, http: reqwest::Client },
    /// `--dynamodb-endpoint`.
    External(Arc<Endpoint>),
}

impl Target {
    /// One call: the JSON answer, or the error's code (without its namespace), message and
    /// HTTP status (0 when the backend did not answer).
    pub async fn call(&self, op: &str, body: &Value) -> Result<Value, (String, String, u16)> {
        match self {
            Self::Engine { url, http } => call(http, url, op, body).await,
            Self::External(e) => e
                .call(&format!("DynamoDB_20120810.{op}"), body)
                .await
                .map_err(|e| match e {
                    ExternalError::Service {
                        code,
                        message,
                        status,
                    } => (code, message, status),
                    other => ("Transport".to_owned(), other.to_string(), 0),
                }),
        }
    }
}

impl Dynamo {
    /// Opens the engine (in memory, or the file `path`) and serves it on loopback. A TTL sweep
    /// runs every second so expired items really disappear, on devstack's `clock`: an item
    /// whose TTL is past on the real clock but not on a virtual one stays (a click's dedup
    /// marker, stamped with virtual time, must not vanish because the machine's date is later).
    /// dynoxide takes a clock only in memory; a stored database on a virtual clock is not swept
    /// (AWS deletes expired items only eventually too).
    pub async fn start(
        path: Option<&Path>,
        clock: clock::SharedClock,
        virtual_clock: bool,
    ) -> Result<Self, DynamoError> {
        let sweep = path.is_none() || !virtual_clock;
        let db = match path {
            // The caller has created the data folder (and reported it if it could not).
            Some(p) => dynoxide::Database::new(&p.display().to_string()).map_err(|e| {
                DynamoError::Open {
                    path: p.display().to_string(),
                    message: e.to_string(),
                }
            })?,
            None => dynoxide::Database::memory_with_clock(std::sync::Arc::new(EngineClock(clock)))
                .map_err(|e| DynamoError::Open {
                    path: ":memory:".into(),
                    message: e.to_string(),
                })?,
        };
        if path.is_some() {
            // SQLite's default `synchronous=FULL` fsyncs the write-ahead log on every commit:
            // with one TransactWriteItems per click, that fsync bounded the click pipeline.
            // NORMAL (what devstack's SQS and Step Functions stores use) syncs at checkpoints
            // only: a commit survives devstack being killed, and the file stays consistent if
            // the machine loses power (its last commits may be lost then). dynoxide exposes no
            // setter for it; leaving its bulk-loading mode sets exactly NORMAL (and the default
            // cache, no mmap).
            let normal = db
                .enable_bulk_loading()
                .and_then(|()| db.disable_bulk_loading());
            normal.map_err(|e| DynamoError::Open {
                path: path.map(|p| p.display().to_string()).unwrap_or_default(),
                message: e.to_string(),
            })?;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(DynamoError::Start)?;
        let endpoint = format!(
            "http://{}",
            listener.local_addr().map_err(DynamoError::Start)?
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let sweeper = db.clone();
        let engine = db.clone();
        tokio::spawn(dynoxide::server::serve_with_shutdown(listener, db, async {
            let _ = rx.await;
        }));
        tokio::spawn(async move {
            if !sweep {
                return;
            }
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let db = sweeper.clone();
                if tokio::task::spawn_blocking(move || db.sweep_ttl())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(Self {
            target: Target::Engine {
                url: endpoint.clone(),
                http: reqwest::Client::new(),
            },
            endpoint,
            engine: Some(engine),
            _shutdown: Some(tx),
        })
    }

    /// An external DynamoDB (`--dynamodb-endpoint`): no engine here.
    pub fn external(endpoint: Endpoint) -> Self {
        Self {
            endpoint: endpoint.url.clone(),
            engine: None,
            target: Target::External(Arc::new(endpoint)),
            _shutdown: None,
        }
    }

    async fn call(&self, op: &str, body: Value) -> Result<Value, (String, String)> {
        self.target
            .call(op, &body)
            .await
            .map_err(|(code, message, _)| (code, message))
    }

    /// Waits until a table the backend is creating is ACTIVE (AWS takes seconds; the local
    /// backends answer ACTIVE at once). TTL cannot be set before.
    async fn until_active(&self, table: &str) -> Result<(), (String, String)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
        loop {
            let v = self
                .call("DescribeTable", json!({"TableName": table}))
                .await?;
            if v["Table"]["TableStatus"]
                .as_str()
                .is_none_or(|s| s == "ACTIVE")
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err((
                    "Timeout".into(),
                    "the table did not become ACTIVE within 5 minutes".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Creates `table` (keys, indexes, TTL) unless it exists already (a durable restart).
    pub async fn provision(&self, table: &Table) -> Result<(), DynamoError> {
        let err = |message: String| DynamoError::Provision {
            table: table.name.clone(),
            message,
        };
        let mut attrs = vec![table.hash.clone()];
        let mut schema = vec![json!({"AttributeName": table.hash.name, "KeyType": "HASH"})];
        if let Some(r) = &table.range {
            attrs.push(r.clone());
            schema.push(json!({"AttributeName": r.name, "KeyType": "RANGE"}));
        }
        let index = |i: &template::model::IndexDef,
                     attrs: &mut Vec<template::model::KeyAttribute>| {
            attrs.push(i.hash.clone());
            let mut ks = vec![json!({"AttributeName": i.hash.name, "KeyType": "HASH"})];
            if let Some(r) = &i.range {
                attrs.push(r.clone());
                ks.push(json!({"AttributeName": r.name, "KeyType": "RANGE"}));
            }
            let mut projection = json!({"ProjectionType": i.projection});
            if !i.non_key_attributes.is_empty() {
                projection["NonKeyAttributes"] = json!(i.non_key_attributes);
            }
            json!({"IndexName": i.name, "KeySchema": ks, "Projection": projection})
        };
        let gsis: Vec<Value> = table
            .global_indexes
            .iter()
            .map(|i| index(i, &mut attrs))
            .collect();
        let lsis: Vec<Value> = table
            .local_indexes
            .iter()
            .map(|i| index(i, &mut attrs))
            .collect();
        attrs.sort_by(|a, b| a.name.cmp(&b.name));
        attrs.dedup_by(|a, b| a.name == b.name);
        let mut req = json!({
            "TableName": table.name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": schema,
            "AttributeDefinitions": attrs.iter().map(|a| json!({"AttributeName": a.name, "AttributeType": a.attribute_type})).collect::<Vec<_>>(),
        });
        if !gsis.is_empty() {
            req["GlobalSecondaryIndexes"] = json!(gsis);
        }
        if !lsis.is_empty() {
            req["LocalSecondaryIndexes"] = json!(lsis);
        }
        match self.call("CreateTable", req).await {
            Ok(_) => {}
            Err((code, _)) if code == "ResourceInUseException" => return Ok(()),
            Err((code, msg)) => return Err(err(format!("{code}: {msg}"))),
        }
        if matches!(self.target, Target::External(_)) {
            self.until_active(&table.name)
                .await
                .map_err(|(c, m)| err(format!("{c}: {m}")))?;
        }
        if let Some(ttl) = &table.ttl_attribute {
            self.call(
                "UpdateTimeToLive",
                json!({"TableName": table.name, "TimeToLiveSpecification": {"AttributeName": ttl, "Enabled": true}}),
            )
            .await
            .map_err(|(c, m)| err(format!("TTL: {c}: {m}")))?;
        }
        Ok(())
    }
}

/// A GetItem answered by the engine in this process, skipping the loopback HTTP round trip to
/// its server: the redirect's hot path (a GetItem per click), where that hop cost about a tenth
/// of a resolve's CPU. Only a request the server would take as it is: JSON 1.0, signed (the
/// server's own check), no query string, and a key of plain `S`/`N`/`B` strings; and only a
/// success is answered here. Anything else, a refusal included, returns `None` and goes to the
/// server, which words errors exactly as DynamoDB does. A read changes nothing, so a request
/// tried here and then sent there is not applied twice.
pub(crate) fn get_item_here(
    engine: &dynoxide::Database,
    headers: &http::HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = header("content-type")?.split(';').next()?.trim();
    if query.is_some() || !content_type.eq_ignore_ascii_case("application/x-amz-json-1.0") {
        return None;
    }
    let signed = dynoxide::auth_material::validate(dynoxide::auth_material::AuthMaterial {
        authorization: header("authorization"),
        query: "",
        has_date_header: header("x-amz-date").is_some() || header("date").is_some(),
    });
    if signed.is_some() {
        return None;
    }
    // The server reads some unusual values (a flag written as a string, an attribute value
    // with two members) under other rules; a key of one plain string member each is read the
    // same way by both.
    let raw: Value = serde_json::from_slice(body).ok()?;
    let plain = raw.get("Key")?.as_object()?.values().all(|v| {
        v.as_object().is_some_and(|m| {
            m.len() == 1
                && m.iter()
                    .all(|(k, v)| matches!(k.as_str(), "S" | "N" | "B") && v.is_string())
        })
    });
    if !plain {
        return None;
    }
    let request: dynoxide::actions::get_item::GetItemRequest = serde_json::from_value(raw).ok()?;
    let response = engine.get_item(request).ok()?;
    serde_json::to_string(&response).ok()
}

/// A DynamoDB request id: 52 characters of `[A-Z0-9]`, as DynamoDB's are.
pub(crate) fn request_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..52)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}

/// One DynamoDB call straight to the engine at `endpoint` (devstack's own calls: provisioning
/// and Step Functions' DynamoDB tasks): the JSON response, or the error's code (without its
/// namespace), message and HTTP status.
pub(crate) async fn call(
    client: &reqwest::Client,
    endpoint: &str,
    op: &str,
    body: &Value,
) -> Result<Value, (String, String, u16)> {
    let resp = client
        .post(endpoint)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amz-target", format!("DynamoDB_20120810.{op}"))
        // The engine, like DynamoDB, refuses unsigned requests; it checks the shape only.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=devstack/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=0",
        )
        .header("x-amz-date", "20260101T000000Z")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| ("Transport".to_owned(), e.to_string(), 0))?;
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or_default();
    if status.is_success() {
        Ok(v)
    } else {
        let code = v["__type"]
            .as_str()
            .unwrap_or("")
            .rsplit('#')
            .next()
            .unwrap_or("")
            .to_owned();
        Err((
            code,
            v["message"]
                .as_str()
                .or(v["Message"].as_str())
                .unwrap_or("")
                .to_owned(),
            status.as_u16(),
        ))
    }
}
