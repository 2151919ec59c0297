//! The test stack: a real DynamoDB engine (dynoxide, in memory, on 127.0.0.1:0) with the
//! template's table, wiremock fakes for the EventBridge and API Gateway management APIs, and
//! helpers that build events from the fixtures and pass them through the same adapters the
//! Lambda runtime uses.

#![allow(dead_code)]

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use domain::TargetPolicy;
use functions::handlers::{
    click_aggregator::ClickAggregator, create_link::CreateLink, delete_link::DeleteLink,
    get_link::GetLink, list_links::ListLinks, resolve_link::ResolveLink, update_link::UpdateLink,
};
use functions::metrics::{Metrics, Sink};
use functions::publish::Publisher;
use functions::push::Pusher;
use functions::store::Store;
use lambda_http::request::LambdaRequest;
use lambda_http::{Service, service_fn};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use wiremock::matchers::{header, method};
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

/// 2026-11-27T10:00:00Z, the time of the fixtures' requests.
pub const T0: i64 = 1_795_773_600_000;
pub const DAY_MS: i64 = 86_400_000;
pub const ALICE: &str = "8c1b7f0e-0000-4000-8000-000000000001";
pub const BOB: &str = "b0b0b0b0-0000-4000-8000-000000000002";
pub const BASE: &str = "https://r4nd0m1d.execute-api.us-east-1.amazonaws.com";
pub const STAGE: &str = "prod";

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

pub fn sdk(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .endpoint_url(endpoint)
        // Tests decide every failure themselves; SDK retries would only blur and slow them.
        .retry_config(RetryConfig::disabled())
        .build()
}

/// How the fake EventBridge answers PutEvents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusMode {
    Accept,
    /// The first call fails its first entry with InternalFailure; later calls succeed.
    FailFirstEntryOnce,
    /// Every entry fails, every time.
    RejectAll,
}

struct PutEvents {
    mode: BusMode,
    calls: AtomicUsize,
}

impl Respond for PutEvents {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let n = body["Entries"].as_array().map_or(0, Vec::len);
        let mut failed = 0;
        let entries: Vec<Value> = (0..n)
            .map(|i| {
                let fail = match self.mode {
                    BusMode::Accept => false,
                    BusMode::FailFirstEntryOnce => call == 0 && i == 0,
                    BusMode::RejectAll => true,
                };
                if fail {
                    failed += 1;
                    json!({"ErrorCode": "InternalFailure", "ErrorMessage": "Internal Failure"})
                } else {
                    json!({"EventId": format!("00000000-0000-4000-8000-{call:06}{i:06}")})
                }
            })
            .collect();
        ResponseTemplate::new(200)
            .insert_header("content-type", "application/x-amz-json-1.1")
            .set_body_json(json!({"FailedEntryCount": failed, "Entries": entries}))
    }
}

pub struct Stack {
    pub ddb_endpoint: String,
    pub table: String,
    pub bus: MockServer,
    pub mgmt: MockServer,
    pub metrics_buf: Arc<Mutex<Vec<Value>>>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(BusMode::Accept).await
    }

    pub async fn start_with(bus_mode: BusMode) -> Self {
        let db = dynoxide::Database::memory().expect("in-memory dynoxide");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ddb_endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(dynoxide::server::serve_with_shutdown(listener, db, async {
            let _ = rx.await;
        }));

        let bus = MockServer::start().await;
        Mock::given(method("POST"))
            .and(header("x-amz-target", "AWSEvents.PutEvents"))
            .respond_with(PutEvents {
                mode: bus_mode,
                calls: AtomicUsize::new(0),
            })
            .mount(&bus)
            .await;
        let mgmt = MockServer::start().await;

        let table = create_tables(&ddb_endpoint).await;
        Self {
            ddb_endpoint,
            table,
            bus,
            mgmt,
            metrics_buf: Arc::new(Mutex::new(Vec::new())),
            _shutdown: tx,
        }
    }

    pub fn ddb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&sdk(&self.ddb_endpoint))
    }

    pub fn store(&self) -> Store {
        Store::new(self.ddb(), &self.table)
    }

    pub fn publisher(&self) -> Publisher {
        Publisher::new(
            aws_sdk_eventbridge::Client::new(&sdk(&self.bus.uri())),
            "url-shortener-events",
        )
    }

    pub fn metrics(&self) -> Metrics {
        Metrics::new(
            "UrlShortener",
            "url-shortener",
            Sink::Memory(self.metrics_buf.clone()),
        )
    }

    pub fn metric_totals(&self) -> BTreeMap<String, u64> {
        functions::metrics::totals(&self.metrics_buf)
    }

    pub fn policy(&self) -> TargetPolicy {
        TargetPolicy::new([BASE])
    }

    pub fn create(&self) -> CreateLink {
        CreateLink {
            store: self.store(),
            publisher: self.publisher(),
            policy: self.policy(),
            short_base: BASE.into(),
            metrics: self.metrics(),
        }
    }

    pub fn resolve(&self) -> ResolveLink {
        ResolveLink {
            store: self.store(),
            publisher: self.publisher(),
            metrics: self.metrics(),
        }
    }

    pub fn list(&self) -> ListLinks {
        ListLinks {
            store: self.store(),
            short_base: BASE.into(),
        }
    }

    pub fn get(&self) -> GetLink {
        GetLink {
            store: self.store(),
            short_base: BASE.into(),
        }
    }

    pub fn update(&self) -> UpdateLink {
        UpdateLink {
            store: self.store(),
            publisher: self.publisher(),
            policy: self.policy(),
            short_base: BASE.into(),
            metrics: self.metrics(),
        }
    }

    pub fn delete(&self) -> DeleteLink {
        DeleteLink {
            store: self.store(),
            publisher: self.publisher(),
            metrics: self.metrics(),
        }
    }

    pub fn mgmt_endpoint(&self) -> String {
        format!("{}/{STAGE}", self.mgmt.uri())
    }

    pub fn aggregator(&self) -> ClickAggregator {
        ClickAggregator {
            store: self.store(),
            pusher: Pusher::for_endpoint(&sdk(&self.ddb_endpoint), &self.mgmt_endpoint()),
            metrics: self.metrics(),
            // The template's defaults: 4 d queue + 14 d DLQ + 7 d redrive window.
            marker_ttl_secs: 345_600 + 1_209_600 + 604_800,
        }
    }

    /// Every entry PutEvents accepted or refused, in order: `(DetailType, Detail, Time)`.
    pub async fn published(&self) -> Vec<(String, Value, f64)> {
        let mut out = Vec::new();
        for r in self.bus.received_requests().await.unwrap_or_default() {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            for e in body["Entries"].as_array().unwrap() {
                out.push((
                    e["DetailType"].as_str().unwrap().to_owned(),
                    serde_json::from_str(e["Detail"].as_str().unwrap()).unwrap(),
                    e["Time"].as_f64().unwrap_or_default(),
                ));
            }
        }
        out
    }

    /// The details of the link.clicked events published so far.
    pub async fn published_clicks(&self) -> Vec<Value> {
        self.published()
            .await
            .into_iter()
            .filter(|(t, _, _)| t == "link.clicked")
            .map(|(_, d, _)| d)
            .collect()
    }

    /// The link.clicked events published so far, each wrapped as EventBridge delivers it to
    /// the queue, as the bodies of one SQS batch (message ids `m0`, `m1`, ...).
    pub async fn click_batch(&self) -> Value {
        let clicks = self.published_clicks().await;
        sqs_batch(&clicks.iter().map(click_envelope).collect::<Vec<_>>())
    }

    /// The pushes the management API received: `(connection id, payload)`.
    pub async fn pushes(&self) -> Vec<(String, Value)> {
        self.mgmt
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == "POST")
            .map(|r| {
                let id = r
                    .url
                    .path()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                (id, serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            })
            .collect()
    }
}

async fn create_tables(endpoint: &str) -> String {
    let template =
        template::Template::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
            .unwrap();
    let def = template.tables().unwrap().remove(0);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk(endpoint));
    let name = def
        .table_name
        .clone()
        .unwrap_or_else(|| def.logical_id.clone());
    let attr = |a: &template::KeyAttribute| {
        AttributeDefinition::builder()
            .attribute_name(&a.name)
            .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
            .build()
            .unwrap()
    };
    let key = |a: &template::KeyAttribute, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(&a.name)
            .key_type(t)
            .build()
            .unwrap()
    };
    let mut attrs = vec![attr(&def.hash)];
    let mut schema = vec![key(&def.hash, KeyType::Hash)];
    if let Some(r) = &def.range {
        attrs.push(attr(r));
        schema.push(key(r, KeyType::Range));
    }
    let mut req = ddb
        .create_table()
        .table_name(&name)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest);
    for g in &def.global_indexes {
        attrs.push(attr(&g.hash));
        let mut ks = vec![key(&g.hash, KeyType::Hash)];
        if let Some(r) = &g.range {
            attrs.push(attr(r));
            ks.push(key(r, KeyType::Range));
        }
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(&g.name)
                .set_key_schema(Some(ks))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        );
    }
    req.set_attribute_definitions(Some(attrs))
        .set_key_schema(Some(schema))
        .send()
        .await
        .unwrap();
    if let Some(ttl) = &def.ttl_attribute {
        ddb.update_time_to_live()
            .table_name(&name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl)
                    .enabled(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    name
}

/// An HTTP API request built from the fixtures.
#[derive(Clone)]
pub struct Req {
    event: Value,
}

impl Req {
    /// A request through a JWT-protected route, as `owner` (its `sub` claim).
    pub fn owner(owner: &str) -> Self {
        let mut event = fixture("apigw-v2-jwt.json");
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = json!(owner);
        event["requestContext"]["authorizer"]["jwt"]["claims"]["cognito:username"] = json!(owner);
        Self { event }
    }

    /// A request through the public route.
    pub fn public() -> Self {
        Self {
            event: fixture("apigw-v2-public.json"),
        }
    }

    /// Method, path and route key; `{param}` segments of `route` are matched against `path`.
    pub fn route(mut self, method: &str, route: &str, path: &str) -> Self {
        let e = &mut self.event;
        e["routeKey"] = json!(format!("{method} {route}"));
        e["requestContext"]["routeKey"] = e["routeKey"].clone();
        e["rawPath"] = json!(path);
        e["requestContext"]["http"]["method"] = json!(method);
        e["requestContext"]["http"]["path"] = json!(path);
        let mut params = serde_json::Map::new();
        for (r, p) in route.split('/').zip(path.split('/')) {
            if let Some(name) = r.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                params.insert(name.to_owned(), json!(p));
            }
        }
        if params.is_empty() {
            e.as_object_mut().unwrap().remove("pathParameters");
        } else {
            e["pathParameters"] = Value::Object(params);
        }
        self
    }

    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        let raw: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.event["rawQueryString"] = json!(raw.join("&"));
        let map: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        self.event["queryStringParameters"] = Value::Object(map);
        self
    }

    pub fn json(mut self, body: Value) -> Self {
        self.event["body"] = json!(body.to_string());
        self
    }

    pub fn raw_body(mut self, body: &str) -> Self {
        self.event["body"] = json!(body);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.event["headers"][name.to_ascii_lowercase()] = json!(value);
        self
    }

    pub fn at(mut self, epoch_ms: i64) -> Self {
        self.event["requestContext"]["timeEpoch"] = json!(epoch_ms);
        self
    }

    pub fn request_id(mut self, id: &str) -> Self {
        self.event["requestContext"]["requestId"] = json!(id);
        self
    }
}

/// An HTTP response as API Gateway receives it from the function (payload format 2.0).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The `type` of a problem+json body, after checking the content type.
    pub fn problem_type(&self) -> String {
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{self:?}"
        );
        self.json()["type"].as_str().unwrap().to_owned()
    }
}

/// Runs an HTTP handler on `req` through lambda_http's own adapter: the JSON event is parsed
/// exactly as the runtime parses it, and the answer is the JSON the runtime would send back.
pub async fn call<F, Fut>(handler: F, req: Req) -> Resp
where
    F: FnMut(lambda_http::Request) -> Fut,
    Fut: std::future::Future<
            Output = Result<lambda_http::Response<lambda_http::Body>, lambda_runtime::Error>,
        > + Send,
{
    try_call(handler, req)
        .await
        .expect("the handler returned an error")
}

pub async fn try_call<F, Fut>(handler: F, req: Req) -> Result<Resp, lambda_runtime::Error>
where
    F: FnMut(lambda_http::Request) -> Fut,
    Fut: std::future::Future<
            Output = Result<lambda_http::Response<lambda_http::Body>, lambda_runtime::Error>,
        > + Send,
{
    let v = invoke_http(handler, req.event).await?;
    let headers = v["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Resp {
        status: v["statusCode"].as_u64().unwrap() as u16,
        headers,
        body: v["body"].as_str().unwrap_or_default().to_owned(),
    })
}

/// Runs an HTTP handler on a raw API Gateway v2 event through lambda_http's adapter; returns
/// the response JSON exactly as the runtime would post it (what a Lambda Invoke answers).
pub async fn invoke_http<F, Fut>(handler: F, event: Value) -> Result<Value, lambda_runtime::Error>
where
    F: FnMut(lambda_http::Request) -> Fut,
    Fut: std::future::Future<
            Output = Result<lambda_http::Response<lambda_http::Body>, lambda_runtime::Error>,
        > + Send,
{
    let event: LambdaRequest = serde_json::from_value(event).expect("a valid API Gateway v2 event");
    let mut adapter = lambda_http::Adapter::from(service_fn(handler));
    let out = adapter
        .call(LambdaEvent::new(event, Context::default()))
        .await?;
    Ok(serde_json::to_value(&out).unwrap())
}

/// A link.clicked detail wrapped in the envelope EventBridge delivers to an SQS target.
pub fn click_envelope(detail: &Value) -> Value {
    let at = detail["at"].as_i64().unwrap();
    json!({
        "version": "0",
        "id": format!("ev-{}", detail["clickId"].as_str().unwrap()),
        "detail-type": "link.clicked",
        "source": "urlshortener",
        "account": "123456789012",
        "time": domain::EpochMillis(at).to_rfc3339().replace(".000Z", "Z"),
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    })
}

/// An SQS batch whose record i has message id `m{i}` and body `bodies[i]` (a JSON value is
/// serialised; a string is taken as the raw body).
pub fn sqs_batch(bodies: &[Value]) -> Value {
    let template = fixture("sqs-event.json")["Records"][0].clone();
    let records: Vec<Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut r = template.clone();
            r["messageId"] = json!(format!("m{i}"));
            r["body"] = match b {
                Value::String(s) => json!(s),
                other => json!(other.to_string()),
            };
            r
        })
        .collect();
    json!({ "Records": records })
}

/// Runs the aggregator on an SQS event; returns the batch response as JSON.
pub async fn aggregate(agg: &ClickAggregator, batch: Value) -> Value {
    let event: SqsEvent = serde_json::from_value(batch).unwrap();
    let out = agg
        .handle(LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    serde_json::to_value(out).unwrap()
}

/// The ids in a batch response's `batchItemFailures`.
pub fn failures(resp: &Value) -> Vec<String> {
    resp["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates a link for `owner` and returns the create response's JSON.
pub async fn create_link(stack: &Stack, owner: &str, body: Value) -> Value {
    let h = stack.create();
    let r = call(
        |q| h.handle(q),
        Req::owner(owner)
            .route("POST", "/links", "/links")
            .json(body),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.json()
}

/// Writes an active link of Alice's straight into the table (no create, so nothing is
/// published), targeting `https://a.example/`.
pub async fn put_active_link(stack: &Stack, code: &str, redirect: u16) {
    let link = functions::store::Link {
        code: domain::ShortCode::parse(code).unwrap(),
        owner: ALICE.into(),
        target: domain::TargetUrl::from_stored("https://a.example/".into()),
        status: domain::LinkStatus::Active,
        redirect,
        clicks: 0,
        created_at: domain::EpochMillis(T0),
        updated_at: domain::EpochMillis(T0),
        expires_at: None,
        version: 1,
        moderation_reason: None,
    };
    stack.store().create_link(&link, None).await.unwrap();
}

/// Resolves `code` once with a fresh gateway request id; returns the response.
pub async fn click(stack: &Stack, code: &str, request_id: &str, at: i64) -> Resp {
    let h = stack.resolve();
    call(
        |q| h.handle(q),
        Req::public()
            .route("GET", "/{code}", &format!("/{code}"))
            .request_id(request_id)
            .at(at),
    )
    .await
}

/// insta redactions for values that change run to run.
pub fn redact_link() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_redaction(".code", "[code]");
    s.add_redaction(".shortUrl", "[shortUrl]");
    s.add_redaction(".links[].code", "[code]");
    s.add_redaction(".links[].shortUrl", "[shortUrl]");
    s.add_redaction(".nextCursor", "[cursor]");
    s
}
