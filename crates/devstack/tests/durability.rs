//! Nothing accepted is lost: `kill -9` devstack while clicks flow through the product
//! (redirect -> PutEvents -> rule -> SQS -> aggregator), start it again on the same data
//! folder, and every click that was answered with its redirect is counted, exactly once.
//!
//! The stack runs on the virtual clock so that the clicks that were in flight when devstack
//! died come back by moving the clock past their visibility timeout, not by waiting for it.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CODE: &str = "durable1";

fn up(data_dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_devstack"))
        .args([
            "up",
            "--template",
            &format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR")),
            "--data-dir",
            &data_dir.display().to_string(),
            "--dev",
            "--quiet",
            "--clock",
            "virtual",
            "--edge-port",
            "0",
            "--http-port",
            "0",
            "--ws-port",
            "0",
            "--parameter-overrides",
            "ClickBatchingWindowSeconds=0",
            "ThrottleRateLimit=100000",
            "ThrottleBurstLimit=100000",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("devstack starts")
}

/// The edge and HTTP API URLs from the banner; stderr keeps draining afterwards.
fn endpoints(child: &mut Child) -> (String, String) {
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("devstack exited before it was ready: {lines:?}");
        }
        let done = line.starts_with("ready in ");
        lines.push(line.trim_end().to_owned());
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "no banner: {lines:?}");
    }
    std::thread::spawn(move || for _ in reader.lines() {});
    let url = |label: &str| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
            .unwrap_or_else(|| panic!("no {label} in {lines:?}"))
            .to_owned()
    };
    (url("AWS APIs (edge)"), url("HTTP API"))
}

/// The pids whose parent is `parent` (from /proc).
fn children_of(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so read after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}

async fn dynamodb(edge: &str) -> aws_sdk_dynamodb::Client {
    let conf = common::sdk_config(edge).await;
    aws_sdk_dynamodb::Client::new(&conf)
}

async fn clicks(ddb: &aws_sdk_dynamodb::Client) -> i64 {
    let item = ddb
        .get_item()
        .table_name("devstack-LinksTable")
        .key("PK", AttributeValue::S(format!("LINK#{CODE}")))
        .key("SK", AttributeValue::S("META".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    item.item().unwrap()["clicks"]
        .as_n()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_clicks_flow_loses_and_duplicates_nothing() {
    let data = std::env::temp_dir().join(format!("devstack-durability-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);

    let mut first = up(&data);
    let (edge, api) = endpoints(&mut first);
    let ddb = dynamodb(&edge).await;
    let s = |v: &str| AttributeValue::S(v.into());
    let n = |v: i64| AttributeValue::N(v.to_string());
    ddb.put_item()
        .table_name("devstack-LinksTable")
        .item("PK", s(&format!("LINK#{CODE}")))
        .item("SK", s("META"))
        .item("GSI1PK", s("USER#alice"))
        .item(
            "GSI1SK",
            s(&format!("LINK#2026-01-01T00:00:00.000Z#{CODE}")),
        )
        .item("code", s(CODE))
        .item("ownerId", s("alice"))
        .item("target", s("https://example.com/durable"))
        .item("status", s("active"))
        .item("redirect", n(302))
        .item("clicks", n(0))
        .item("createdAt", n(1_767_225_600_000))
        .item("updatedAt", n(1_767_225_600_000))
        .item("version", n(1))
        .send()
        .await
        .unwrap();

    // One client, one request at a time: when devstack dies at most one click is in doubt
    // (published, but its redirect never reached the client).
    let answered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let clicker = {
        let (answered, stop) = (answered.clone(), stop.clone());
        let url = format!("{api}/{CODE}");
        tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut attempted = 0u64;
            while !stop.load(Ordering::SeqCst) {
                attempted += 1;
                match http.get(&url).send().await {
                    Ok(r) if r.status() == 302 => {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(r) => panic!("a resolve answered {}", r.status()),
                    Err(_) => break, // devstack is gone
                }
            }
            attempted
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while answered.load(Ordering::SeqCst) < 40 {
        assert!(Instant::now() < deadline, "clicks do not flow");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // kill -9: no shutdown, no flush; the function processes lose their Runtime API.
    let instances = children_of(first.id());
    assert!(
        !instances.is_empty(),
        "the functions run as child processes"
    );
    first.kill().unwrap();
    let _ = first.wait();
    // ... and the kernel takes them down with it: no orphan keeps running.
    let deadline = Instant::now() + Duration::from_secs(10);
    while instances
        .iter()
        .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(
            Instant::now() < deadline,
            "function instances outlived devstack"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::SeqCst);
    let attempted = clicker.await.unwrap();
    let answered = answered.load(Ordering::SeqCst);
    assert!(attempted <= answered + 1, "{attempted} vs {answered}");

    let mut second = up(&data);
    let (edge, _) = endpoints(&mut second);
    let ddb = dynamodb(&edge).await;
    let http = reqwest::Client::new();
    // Clicks received but not deleted when devstack died return after their visibility
    // timeout (60 s by default): move the clock past it.
    let moved = http
        .post(format!("{edge}/_devstack/clock"))
        .json(&serde_json::json!({"advance_ms": 120_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 200);
    let settled = http
        .post(format!("{edge}/_devstack/settle"))
        .json(&serde_json::json!({"timeout_ms": 60_000}))
        .send()
        .await
        .unwrap();
    assert_eq!(settled.status(), 200, "the click pipeline drains");

    let counted = clicks(&ddb).await;
    assert!(
        counted == answered as i64 || counted == answered as i64 + 1,
        "{answered} clicks were answered with their redirect (and at most one more was \
         published as devstack died), but {counted} were counted"
    );
    let queues: serde_json::Value = http
        .get(format!("{edge}/_devstack/queues"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for q in queues["queues"].as_array().unwrap() {
        assert_eq!(
            (q["visible"].as_u64(), q["in_flight"].as_u64()),
            (Some(0), Some(0)),
            "every click was delivered and deleted; none went to a DLQ: {q}"
        );
    }
    second.kill().unwrap();
    let _ = second.wait();
    let _ = std::fs::remove_dir_all(&data);
}
