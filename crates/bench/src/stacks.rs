//! devstack in this process, through its library: the benchmark's fixture stack and the
//! product's own template, with release binaries that `just bench` has already built.

use crate::load::{self, Request};
use anyhow::{Context, Result, bail, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use devstack::{BuildMode, Config, Devstack, Profile, SiteChoice};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The short code the product benchmark resolves.
pub const CODE: &str = "bench42";
pub const TARGET: &str = "https://example.com/bench";

/// What the SDK sends, minus a real signature: devstack checks none, the engine its shape.
const FAKE_SIGV4: &str = "AWS4-HMAC-SHA256 Credential=bench/20261127/us-east-1/dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000";

pub struct Running {
    pub ds: Devstack,
    pub http: SocketAddr,
    pub edge: SocketAddr,
}

fn addr_of(url: &str) -> Result<SocketAddr> {
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("{url} is not http://host:port"))
}

/// Starts devstack on `template` as `devstack up --in-memory --no-build` would, on free ports:
/// the executables must be built (release), so no cargo runs here and the ready time is
/// devstack's own.
pub async fn start(
    template: &Path,
    data_dir: &Path,
    overrides: &[(&str, &str)],
    max_instances: Option<Option<usize>>,
) -> Result<Running> {
    start_with(template, data_dir, overrides, max_instances, true).await
}

/// The template deploys each route throttled to 50 req/s (burst 100); the benchmarks measure
/// the product, not the throttle, so they lift it.
pub const UNTHROTTLED: [(&str, &str); 2] = [
    ("ThrottleRateLimit", "1000000"),
    ("ThrottleBurstLimit", "1000000"),
];

/// The product on `template` as the click pipeline's benchmarks run it: unthrottled, no
/// batching window, state in files under `data_dir` as `devstack up` keeps it.
pub async fn start_pipeline(
    template: &Path,
    data_dir: &Path,
    max_instances: Option<Option<usize>>,
) -> Result<Running> {
    let mut overrides = UNTHROTTLED.to_vec();
    overrides.push(("ClickBatchingWindowSeconds", "0"));
    start_with(template, data_dir, &overrides, max_instances, false).await
}

/// The product as `devstack up` runs it: the template's defaults (no override), state in
/// files under `data_dir`, and the template's site (the dashboard) on the edge.
pub async fn start_with_site(template: &Path, data_dir: &Path) -> Result<Running> {
    start_inner(template, data_dir, &[], None, false, SiteChoice::Template).await
}

/// [`start`], with the state in memory or, as `devstack up` keeps it, in files under
/// `data_dir` (wiped first).
pub async fn start_with(
    template: &Path,
    data_dir: &Path,
    overrides: &[(&str, &str)],
    max_instances: Option<Option<usize>>,
    in_memory: bool,
) -> Result<Running> {
    start_inner(
        template,
        data_dir,
        overrides,
        max_instances,
        in_memory,
        SiteChoice::Off,
    )
    .await
}

async fn start_inner(
    template: &Path,
    data_dir: &Path,
    overrides: &[(&str, &str)],
    max_instances: Option<Option<usize>>,
    in_memory: bool,
    site: SiteChoice,
) -> Result<Running> {
    let mut config = Config::new(template);
    config.site = site;
    if let Some(m) = max_instances {
        config.max_instances = m;
    }
    config.in_memory = in_memory;
    config.reset = !in_memory;
    config.edge_port = 0;
    config.http_port = 0;
    config.ws_port = 0;
    config.build = BuildMode {
        profile: Profile::Release,
        build: false,
    };
    config.console_logs = false;
    config.data_dir = data_dir.to_path_buf();
    config.parameter_overrides = overrides
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<BTreeMap<_, _>>();
    let ds = Devstack::start(config)
        .await
        .with_context(|| format!("devstack could not start {}", template.display()))?;
    let http = addr_of(
        ds.http_url
            .as_deref()
            .context("the template has no HTTP API")?,
    )?;
    let edge = addr_of(&ds.edge_url)?;
    Ok(Running { ds, http, edge })
}

impl Running {
    /// The physical name of the function with `logical_id`.
    pub fn function(&self, logical_id: &str) -> Result<String> {
        self.ds
            .stack
            .functions
            .iter()
            .find(|f| f.logical_id == logical_id)
            .map(|f| f.name.clone())
            .with_context(|| format!("the template has no function {logical_id}"))
    }

    /// A DynamoDB client on the edge, configured as the functions' are (static credentials).
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "bench", "bench", None, None, "bench",
            ))
            .endpoint_url(&self.ds.edge_url)
            .load()
            .await;
        aws_sdk_dynamodb::Client::new(&conf)
    }

    /// A GetItem of the benchmark's link with the SDK, as resolve_link reads it (eventually
    /// consistent); `Some(200)` if it found the item.
    pub fn sdk_get_item(
        ddb: aws_sdk_dynamodb::Client,
        table: String,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<u16>> + Send>>
    + Send
    + Sync
    + 'static {
        move || {
            let ddb = ddb.clone();
            let table = table.clone();
            Box::pin(async move {
                let out = ddb
                    .get_item()
                    .table_name(table)
                    .key("PK", AttributeValue::S(format!("LINK#{CODE}")))
                    .key("SK", AttributeValue::S("META".into()))
                    .send()
                    .await
                    .ok()?;
                out.item.map(|_| 200)
            })
        }
    }

    /// Puts the active link [`CODE`] into the product's table, as tests/product.rs does.
    pub async fn put_link(&self) -> Result<()> {
        let table = self.links_table()?;
        let ddb = self.dynamodb().await;
        let s = |v: &str| AttributeValue::S(v.into());
        let n = |v: i64| AttributeValue::N(v.to_string());
        ddb.put_item()
            .table_name(table)
            .item("PK", s(&format!("LINK#{CODE}")))
            .item("SK", s("META"))
            .item("GSI1PK", s("USER#bench"))
            .item(
                "GSI1SK",
                s(&format!("LINK#2026-11-27T10:00:00.000Z#{CODE}")),
            )
            .item("code", s(CODE))
            .item("ownerId", s("bench"))
            .item("target", s(TARGET))
            .item("status", s("active"))
            // 301, as the fixture answers: the two benchmarks differ only in the work done.
            .item("redirect", n(301))
            .item("clicks", n(0))
            .item("createdAt", n(1_795_773_600_000))
            .item("updatedAt", n(1_795_773_600_000))
            .item("version", n(1))
            .send()
            .await
            .context("PutItem of the benchmark's link")?;
        Ok(())
    }

    pub fn links_table(&self) -> Result<String> {
        self.ds
            .stack
            .tables
            .iter()
            .find(|t| t.logical_id == "LinksTable")
            .map(|t| t.name.clone())
            .context("the template has no LinksTable")
    }

    /// `GET /{code}` on the HTTP API.
    pub fn resolve(&self, code: &str) -> Request {
        Request::get(self.http, &format!("/{code}"))
    }

    /// Lambda's Invoke API on the edge with the payload 2.0 event of `GET /{code}`: the
    /// Lambda round trip without the gateway.
    pub fn invoke(&self, function: &str, code: &str) -> Request {
        let event = api_event(code).to_string();
        Request::post(
            self.edge,
            &format!("/2015-03-31/functions/{function}/invocations"),
            &[("content-type", "application/json")],
            event.as_bytes(),
        )
    }

    /// DynamoDB GetItem of the link, straight to the edge (what resolve_link asks first).
    pub fn get_item(&self) -> Result<Request> {
        let body = serde_json::json!({
            "TableName": self.links_table()?,
            "Key": {"PK": {"S": format!("LINK#{CODE}")}, "SK": {"S": "META"}},
        })
        .to_string();
        Ok(Request::post(
            self.edge,
            "/",
            &[
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amz-target", "DynamoDB_20120810.GetItem"),
                // The engine wants a SigV4-shaped header, not a valid signature.
                ("x-amz-date", "20261127T100000Z"),
                ("authorization", FAKE_SIGV4),
            ],
            body.as_bytes(),
        ))
    }

    /// EventBridge PutEvents of one click, straight to the edge (what resolve_link does next).
    pub fn put_events(&self) -> Result<Request> {
        let bus = self
            .ds
            .stack
            .event_buses
            .first()
            .map(|b| b.name.clone())
            .context("the template has no event bus")?;
        let detail = serde_json::json!({
            "version": 1, "clickId": "bench", "code": CODE,
            "linkCreatedAt": 1_795_773_600_000i64, "at": now_ms(), "userAgent": "devstack-bench",
        });
        let body = serde_json::json!({"Entries": [{
            "Source": "urlshortener", "DetailType": "link.clicked",
            "Detail": detail.to_string(), "EventBusName": bus,
        }]})
        .to_string();
        Ok(Request::post(
            self.edge,
            "/",
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", "AWSEvents.PutEvents"),
                ("x-amz-date", "20261127T100000Z"),
                ("authorization", FAKE_SIGV4),
            ],
            body.as_bytes(),
        ))
    }

    /// Where the function log is now: [`Running::reported_durations`] after it.
    pub fn log_position(&self) -> u64 {
        self.ds.lambda.logs().position()
    }

    /// Durations of `function`'s recent invocations as its REPORT lines give them (the time
    /// from handing the invocation out on `/next` to its response): the function's own share.
    /// devstack keeps a bounded history, so this is the latest few hundred.
    pub fn reported_durations(&self, function: &str, after: u64) -> Vec<Duration> {
        let mut d: Vec<Duration> = self
            .ds
            .lambda
            .logs()
            .since(function, after)
            .into_iter()
            .filter_map(|l| {
                let rest = l.text.strip_prefix("REPORT ")?;
                let ms = rest.split("\tDuration: ").nth(1)?.split(' ').next()?;
                ms.parse::<f64>()
                    .ok()
                    .map(|ms| Duration::from_secs_f64(ms / 1e3))
            })
            .collect();
        d.sort();
        d
    }
}

/// Checks one request answers `want` (and, for redirects, the `Location`), before loading it.
pub async fn expect(req: &Request, want: u16, location: Option<&str>) -> Result<()> {
    let r = load::once(req, Duration::from_secs(30))
        .await
        .with_context(|| format!("no answer from {}", req.addr))?;
    if r.status != want {
        bail!(
            "expected {want} from {}, got {}: {}",
            req.addr,
            r.status,
            String::from_utf8_lossy(&r.body)
        );
    }
    if let Some(loc) = location {
        ensure!(
            r.header("location") == Some(loc),
            "expected Location {loc}, got {:?}",
            r.header("location")
        );
    }
    Ok(())
}

/// Checks an Invoke API answer carries the function's redirect (no function error).
pub async fn expect_invoke(req: &Request, status: u16) -> Result<()> {
    let r = load::once(req, Duration::from_secs(30)).await?;
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    ensure!(
        r.status == 200
            && r.header("x-amz-function-error").is_none()
            && body["statusCode"] == status,
        "Invoke answered {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A payload 2.0 event for `GET /{code}`, shaped as devstack's gateway builds it.
fn api_event(code: &str) -> serde_json::Value {
    let path = format!("/{code}");
    serde_json::json!({
        "version": "2.0",
        "routeKey": "GET /{code}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*", "host": "127.0.0.1", "user-agent": "devstack-bench",
            "x-forwarded-for": "127.0.0.1", "x-forwarded-port": "80", "x-forwarded-proto": "http",
        },
        "requestContext": {
            "accountId": "000000000000", "apiId": "bench", "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "devstack-bench"},
            "requestId": "YmVuY2hyZXF1ZXN0", "routeKey": "GET /{code}", "stage": "$default",
            "time": "27/Nov/2026:10:00:00 +0000", "timeEpoch": now_ms(),
        },
        "pathParameters": {"code": code},
        "isBase64Encoded": false,
    })
}
