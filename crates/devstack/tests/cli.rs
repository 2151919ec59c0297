//! The `devstack` command line: `up` prints its endpoints and serves, `invoke` reaches a
//! running stack, bad flags fail clearly, SIGTERM stops it cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn template() -> String {
    format!(
        "{}/tests/fixtures/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn up(extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_devstack"));
    c.args([
        "up",
        "--template",
        &template(),
        "--in-memory",
        "--dev",
        "--quiet",
    ])
    .args(["--edge-port", "0", "--http-port", "0", "--ws-port", "0"])
    .args(extra);
    c
}

/// Reads the banner until "ready in"; returns its lines and keeps draining stderr in the
/// background, as a terminal would.
fn banner(child: &mut Child) -> Vec<String> {
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("devstack exited before it was ready: {lines:?}");
        }
        let line = line.trim_end().to_owned();
        let done = line.starts_with("ready in ");
        lines.push(line);
        if done {
            std::thread::spawn(move || for _ in reader.lines() {});
            return lines;
        }
        assert!(Instant::now() < deadline, "no banner: {lines:?}");
    }
}

fn url_after(lines: &[String], label: &str) -> String {
    lines
        .iter()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
        .unwrap_or_else(|| panic!("no {label} in {lines:?}"))
        .to_owned()
}

#[test]
fn up_serves_invoke_reaches_it_and_sigterm_stops_it() {
    let mut child = up(&[]).stderr(Stdio::piped()).spawn().unwrap();
    let lines = banner(&mut child);
    let edge = url_after(&lines, "AWS APIs (edge)");
    assert!(
        lines.iter().any(|l| l.trim_start().starts_with("HTTP API")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("devstack-Echo")),
        "{lines:?}"
    );
    let ready_ms: u64 = lines.last().unwrap()["ready in ".len()..]
        .trim_end_matches(" ms")
        .parse()
        .unwrap();
    assert!(ready_ms < 5000, "{ready_ms}");

    let out = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .args([
            "invoke",
            "devstack-Echo",
            "--payload",
            r#"{"via":"cli"}"#,
            "--edge",
            &edge,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["echo"], serde_json::json!({"via": "cli"}));

    let failed = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .args([
            "invoke",
            "devstack-Echo",
            "--payload",
            r#"{"error":"nope"}"#,
            "--edge",
            &edge,
        ])
        .output()
        .unwrap();
    assert!(
        !failed.status.success(),
        "a function error is a failed command"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "devstack did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit}");
}

#[test]
fn attach_prints_what_to_run_and_bad_flags_fail_clearly() {
    let mut child = up(&["--attach", "Echo"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = banner(&mut child);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ATTACHED: run it with AWS_LAMBDA_RUNTIME_API=http://")),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l
            .trim_start()
            .starts_with("AWS_LAMBDA_FUNCTION_NAME=devstack-Echo")),
        "{lines:?}"
    );
    child.kill().unwrap();
    let _ = child.wait();

    let out = up(&["--attach", "Nope"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--attach Nope: the template has no such function"),
        "{err}"
    );

    let out = up(&["--parameter-overrides", "Nope=1"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Nope"), "{err}");
}
