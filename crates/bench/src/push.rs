//! WebSocket push (issue #6) on the product's template under devstack: `watchers` clients
//! watch one link through the WebSocket API (`$connect?code=&token=`, the owner's Cognito
//! token), then clicks are published one at a time with PutEvents; each goes through ClickRule,
//! ClickQueue and click_aggregator, which counts it and pushes the new count to every watcher
//! through the @connections API. Timed from PutEvents sent to each watcher's frame showing the
//! count, and to the last watcher's.
//!
//! devstack keeps its state in files, as `devstack up` does.

use crate::flow::{Flow, Meter};
use crate::load::{self, Request};
use crate::pipeline;
use crate::report::{Check, Hop, Report, lat, percentile};
use anyhow::{Context, Result, bail, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long every watcher may take to see one click.
const DEADLINE: Duration = Duration::from_secs(30);
/// Clicks before the timed ones: instances started, connections of the SDK clients open.
const WARMUP: usize = 5;

pub struct Settings {
    pub watchers: usize,
    pub samples: usize,
    pub template: PathBuf,
    pub data_dir: PathBuf,
    pub max_instances: Option<Option<usize>>,
}

#[derive(Default)]
pub struct Measured {
    pub watchers: usize,
    /// Every frame's latency: click published → that watcher's frame.
    pub frames: Vec<Duration>,
    /// Per click: published → the last watcher's frame.
    pub last: Vec<Duration>,
}

/// A frame a watcher received: which watcher, the count it carried, when.
struct Frame {
    watcher: usize,
    clicks: i64,
    at: Instant,
}

pub async fn run(
    set: &Settings,
    generator: &Handle,
    r: &mut Report,
    m: &mut Measured,
) -> Result<()> {
    let me = std::process::id();
    let s = crate::stacks::start_pipeline(&set.template, &set.data_dir, set.max_instances).await?;
    let api =
        s.ds.stack
            .websocket_apis
            .first()
            .context("the template has no WebSocket API")?;
    let token =
        s.ds.cognito
            .token_for(None, None, "bench-watcher@example.com")
            .context("a token for the watchers' owner")?
            .id_token;

    // The link, created through the links API by the watchers' owner: $connect lets only the
    // owner watch it.
    let create = Request::post(
        s.http,
        "/links",
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
        ],
        br#"{"url":"https://www.rust-lang.org/learn"}"#,
    );
    let created = load::once(&create, Duration::from_secs(10))
        .await
        .context("POST /links")?;
    ensure!(
        created.status == 201,
        "POST /links answered {}: {}",
        created.status,
        String::from_utf8_lossy(&created.body)
    );
    let link: serde_json::Value = serde_json::from_slice(&created.body)?;
    let code = link["code"]
        .as_str()
        .context("POST /links answered no code")?
        .to_owned();
    let ddb = s.dynamodb().await;
    let table = s.links_table()?;
    let item = ddb
        .get_item()
        .table_name(&table)
        .key("PK", AttributeValue::S(format!("LINK#{code}")))
        .key("SK", AttributeValue::S("META".into()))
        .consistent_read(true)
        .send()
        .await
        .context("GetItem of the new link")?;
    let created_at: i64 = item
        .item()
        .and_then(|i| i.get("createdAt"))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .context("the new link has no createdAt")?;

    // The watchers, on the generator's runtime: each forwards the counts it is pushed.
    let url = format!("{}/{}?code={code}&token={token}", s.ds.ws_url, api.stage);
    let (tx, mut frames) = mpsc::unbounded_channel::<Frame>();
    let n = set.watchers;
    let connected = generator
        .spawn(async move {
            let mut sockets = Vec::with_capacity(n);
            for _ in 0..n {
                let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
                    .await
                    .context("a watcher's handshake")?;
                sockets.push(ws);
            }
            for (watcher, mut ws) in sockets.into_iter().enumerate() {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while let Some(Ok(msg)) = ws.next().await {
                        let at = Instant::now();
                        if let Message::Text(text) = msg
                            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                            && let Some(clicks) = v["clicks"].as_i64()
                        {
                            let _ = tx.send(Frame {
                                watcher,
                                clicks,
                                at,
                            });
                        }
                    }
                });
            }
            Ok::<_, anyhow::Error>(())
        })
        .await;
    connected.context("the watchers' task panicked")??;
    let open = s.ds.websocket.as_ref().map_or(0, |w| w.connections().len());
    ensure!(open == n, "{open} WebSocket connections open, {n} expected");

    let events = pipeline::events_client(&s.ds.edge_url);
    let bus =
        s.ds.stack
            .event_buses
            .first()
            .map(|b| b.name.clone())
            .context("the template has no event bus")?;
    let run = pipeline::now_ms();
    let mut clicks = 0i64;
    let function = s.function("ClickAggregatorFunction")?;
    let log_file = set.data_dir.join("logs").join(format!("{function}.log"));
    let mut log_from = 0;
    let mut meter = None;
    for seq in 0..WARMUP + set.samples {
        if seq == WARMUP {
            log_from = std::fs::metadata(&log_file).map_or(0, |m| m.len());
            meter = Some(Meter::start(&[me]));
        }
        clicks += 1;
        let entry = pipeline::click_entry(&bus, run, seq, &code, created_at);
        let t0 = Instant::now();
        let e = events.clone();
        generator
            .spawn(async move { pipeline::put_entries(&e, vec![entry]).await })
            .await
            .context("the publisher panicked")??;
        let mut seen = vec![false; n];
        let mut left = n;
        let mut last = Duration::ZERO;
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while left > 0 {
            let Ok(Some(f)) = tokio::time::timeout_at(deadline, frames.recv()).await else {
                bail!(
                    "click {clicks}: {left} of {n} watchers saw no count of {clicks} within {DEADLINE:?}"
                );
            };
            ensure!(
                f.clicks <= clicks,
                "a watcher was pushed {} clicks, only {clicks} were published",
                f.clicks
            );
            if f.clicks < clicks || seen[f.watcher] {
                continue;
            }
            seen[f.watcher] = true;
            left -= 1;
            let d = f.at.saturating_duration_since(t0);
            last = last.max(d);
            if seq >= WARMUP {
                m.frames.push(d);
            }
        }
        if seq >= WARMUP {
            m.last.push(last);
        }
    }
    let usage = meter.map(|m| m.stop()).unwrap_or_default();
    let durations = pipeline::report_durations(&log_file, log_from);
    m.watchers = n;
    m.frames.sort();
    m.last.sort();
    eprintln!(
        "bench: push to {n} watchers: each frame p50 {} p99 {}; the last watcher p50 {} p99 {}; aggregator p50 {}",
        lat(percentile(&m.frames, 0.5)),
        lat(percentile(&m.frames, 0.99)),
        lat(percentile(&m.last, 0.5)),
        lat(percentile(&m.last, 0.99)),
        lat(percentile(&durations, 0.5)),
    );
    r.flows.push(Flow {
        scenario: format!(
            "WebSocket push: one click at a time, PutEvents sent → the count's frame at each of \
             {n} watchers (rule → ClickQueue → click_aggregator → @connections)"
        ),
        backend: "devstack, file-backed".into(),
        clients: format!("{n} watchers"),
        items: m.frames.len(),
        unit: "frames",
        usage,
        latencies: m.frames.clone(),
        problems: String::new(),
        reference: String::new(),
    });
    let hop = |what: String, d: &[Duration]| Hop {
        what,
        p50: percentile(d, 0.5),
        p99: percentile(d, 0.99),
        client_cpu: None,
        samples: d.len(),
    };
    r.hops.push(hop(
        format!("push: click published → frame received, each of {n} watchers"),
        &m.frames,
    ));
    r.hops.push(hop(
        format!("push: click published → frame received by the last of {n} watchers"),
        &m.last,
    ));
    r.hops.push(hop(
        format!("push: click_aggregator duration, one click pushed to {n} watchers (REPORT)"),
        &durations,
    ));
    s.ds.shutdown().await;
    Ok(())
}

pub fn checks(m: &Measured, r: &mut Report) {
    let measured = if m.frames.is_empty() {
        "-".into()
    } else {
        format!(
            "each frame p50 {} p99 {}; last of {} p50 {} p99 {} ({} clicks)",
            lat(percentile(&m.frames, 0.5)),
            lat(percentile(&m.frames, 0.99)),
            m.watchers,
            lat(percentile(&m.last, 0.5)),
            lat(percentile(&m.last, 0.99)),
            m.last.len()
        )
    };
    r.checks.push(Check {
        target: "WebSocket push latency, click published → frame received, 100 watchers (measured; no target)".into(),
        pass: (!m.frames.is_empty()).then_some(true),
        measured,
    });
}
