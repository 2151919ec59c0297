//! The dashboard in a real browser: the product under devstack (the harness serves
//! `dashboard/` on the edge), driven by `dashboard/tests/dashboard.test.mjs` in headless
//! Chromium through playwright-core. Skipped, with the reason printed, where Chromium
//! (`/usr/bin/chromium` or `CHROMIUM`), node or npm is missing, unless
//! `DASHBOARD_TEST_REQUIRED=1` (`.ci/run`, which installs Chromium): then that fails it.
//! `just dashboard-test`.

use e2e::Stack;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::Command;

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboard/tests")
}

/// Whether `program --version` runs.
async fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// Why the test cannot run here, if it cannot.
async fn missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "no Chromium at {chromium} (install Debian's chromium, or set CHROMIUM)"
        ));
    }
    for tool in ["node", "npm"] {
        if !runs(tool).await {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

/// `npm ci` in dashboard/tests, unless node_modules is as package-lock.json says.
async fn install(dir: &Path) {
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(dir.join("node_modules/.package-lock.json"));
    let locked = modified(dir.join("package-lock.json"));
    if matches!((installed, locked), (Some(i), Some(l)) if i >= l) {
        return;
    }
    let started = Instant::now();
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .output()
        .await
        .expect("npm runs");
    assert!(
        out.status.success(),
        "npm ci failed in {}:\n{}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("npm ci took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser() {
    if let Some(reason) = missing().await {
        assert!(
            std::env::var("DASHBOARD_TEST_REQUIRED").as_deref() != Ok("1"),
            "DASHBOARD_TEST_REQUIRED=1, but the browser test cannot run: {reason}"
        );
        println!("skipped: {reason}");
        return;
    }
    let dir = tests_dir();
    install(&dir).await;

    let started = Instant::now();
    let stack = Stack::start(&[]).await.expect("the stack starts");
    println!("devstack started in {:?}", started.elapsed());
    let dashboard = stack
        .ds()
        .dashboard_url
        .clone()
        .expect("the harness serves dashboard/");
    let edge = stack.ds().edge_url.clone();

    let started = Instant::now();
    let run = Command::new("node")
        .args(["--test", "--test-reporter=spec", "dashboard.test.mjs"])
        .current_dir(&dir)
        .env("DASHBOARD_URL", &dashboard)
        .env("EDGE_URL", &edge)
        .env("E2E_BACKEND_NAME", stack.backend().name())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the browser test ends within 3 minutes")
        .expect("node runs");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{output}");
    println!("the browser test took {:?}", started.elapsed());
    // node's output is above (libtest shows it for a failed test).
    assert!(
        out.status.success(),
        "the browser test failed ({}): node's output is above",
        out.status
    );
    stack.shutdown().await;
}
