//! A send that was answered survives `kill -9`: this test binary runs itself as a child that
//! sends and reports each acknowledged message, is killed with SIGKILL (no close, no WAL
//! checkpoint), and the parent reopens the data folder.

mod common;

use common::*;
use sqs::SendOptions;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const CHILD_DIR: &str = "SQS_DURABILITY_CHILD_DIR";

/// The child's side: a no-op unless the parent started it.
#[test]
fn child_process() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let sqs = open(Some(std::path::Path::new(&dir)), &[queue("q")], &manual());
    sqs.create_queue("by-api", &BTreeMap::new(), &BTreeMap::new())
        .unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..50 {
        let id = sqs
            .send("q", &format!("m{i}"), SendOptions::default())
            .unwrap()
            .message_id;
        writeln!(out, "SENT {id}").unwrap();
    }
    let batch: Vec<_> = (0..10)
        .map(|i| (format!("b{i}"), SendOptions::default()))
        .collect();
    for r in sqs.send_batch("by-api", batch).unwrap() {
        writeln!(out, "SENT {}", r.unwrap().message_id).unwrap();
    }
    writeln!(out, "DONE").unwrap();
    out.flush().unwrap();
    drop(out);
    // Held open until killed: nothing is closed or checkpointed.
    loop {
        std::thread::park();
    }
}

#[test]
fn acknowledged_sends_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acknowledged = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest writes `test child_process ... ` with no newline before the test's output.
        if line.ends_with("DONE") {
            break;
        }
        if let Some((_, id)) = line.split_once("SENT ") {
            acknowledged.push(id.to_owned());
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(acknowledged.len(), 60);
    // Killed with its write-ahead log unmerged: the reopen has to recover from it.
    assert!(dir.path().join("sqs.sqlite-wal").exists());

    let sqs = open(Some(dir.path()), &[queue("q")], &manual());
    let mut found = Vec::new();
    for q in ["q", "by-api"] {
        loop {
            let got = sqs.receive(q, 10, None).unwrap();
            if got.is_empty() {
                break;
            }
            found.extend(got.into_iter().map(|m| m.message_id));
        }
    }
    acknowledged.sort();
    found.sort();
    assert_eq!(found, acknowledged);
}
