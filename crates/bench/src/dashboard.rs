//! (f) The dashboard's live count (issue #9: "the count moves within a second of a click"):
//! devstack as `devstack up` runs the product (the template's defaults, the dashboard on the
//! edge), and `dashboard/tests/bench.mjs` in headless Chromium. A user signs in on the page and
//! creates a link; then clicks are sent one at a time from outside the page, and each is timed
//! from the GET of the short URL to the page's count showing the new total, stamped in the page
//! by a MutationObserver. Skipped, with the reason, without Chromium or node.

use crate::report::{Check, Hop, Report, lat, percentile};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

pub struct Settings {
    pub clicks: usize,
    pub template: PathBuf,
    pub data_dir: PathBuf,
    /// `dashboard/tests` (bench.mjs and its node_modules).
    pub tests_dir: PathBuf,
}

#[derive(Default)]
pub struct Measured {
    /// Click sent → the page's count moved, sorted.
    pub moved: Vec<Duration>,
    /// Click sent → the redirect answered, sorted.
    pub redirect: Vec<Duration>,
    /// Why it did not run, if it did not.
    pub skipped: Option<String>,
}

/// Why the browser cannot run here, if it cannot.
fn missing(tests_dir: &std::path::Path) -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return Some(format!(
            "no Chromium at {chromium} (Debian's chromium, or CHROMIUM)"
        ));
    }
    if !tests_dir.join("node_modules/playwright-core").is_dir() {
        return Some(format!(
            "no playwright-core in {} (`just dashboard-test` installs it with npm ci)",
            tests_dir.display()
        ));
    }
    None
}

pub async fn run(set: &Settings, r: &mut Report, m: &mut Measured) -> Result<()> {
    if let Some(reason) = missing(&set.tests_dir) {
        eprintln!("bench: dashboard skipped: {reason}");
        m.skipped = Some(reason);
        return Ok(());
    }
    let s = crate::stacks::start_with_site(&set.template, &set.data_dir).await?;
    let dashboard =
        s.ds.dashboard_url
            .clone()
            .context("the template declares no site (a bucket with Metadata.Site)")?;
    let run = tokio::process::Command::new("node")
        .arg("bench.mjs")
        .current_dir(&set.tests_dir)
        .env("DASHBOARD_URL", &dashboard)
        .env("EDGE_URL", &s.ds.edge_url)
        .env("CLICKS", set.clicks.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60 + 12 * set.clicks as u64), run)
        .await
        .context("bench.mjs did not finish in time")?
        .context("node runs")?;
    s.ds.shutdown().await;
    if !out.status.success() {
        bail!("bench.mjs failed ({})", out.status);
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(line.trim()).with_context(|| format!("bench.mjs printed {line:?}"))?;
    let ms = |key: &str| -> Vec<Duration> {
        let mut d: Vec<Duration> = v["clicks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c[key].as_f64())
            .map(|x| Duration::from_secs_f64(x.max(0.0) / 1e3))
            .collect();
        d.sort();
        d
    };
    m.moved = ms("movedMs");
    m.redirect = ms("redirectMs");
    eprintln!(
        "bench: dashboard: click → count moved p50 {} p99 {} max {} ({} clicks)",
        lat(percentile(&m.moved, 0.5)),
        lat(percentile(&m.moved, 0.99)),
        lat(m.moved.last().copied()),
        m.moved.len()
    );
    let hop = |what: &str, d: &[Duration]| Hop {
        what: what.into(),
        p50: percentile(d, 0.5),
        p99: percentile(d, 0.99),
        client_cpu: None,
        samples: d.len(),
    };
    r.hops.push(hop(
        "dashboard: click sent (GET of the short URL) → redirect answered",
        &m.redirect,
    ));
    r.hops.push(hop(
        "dashboard: click sent → the page's count shows it (headless Chromium, no reload)",
        &m.moved,
    ));
    Ok(())
}

pub fn checks(m: &Measured, r: &mut Report) {
    let target =
        "dashboard: the count moves within a second of a click (every click; template defaults)"
            .to_owned();
    let check = match (&m.skipped, m.moved.last()) {
        (Some(reason), _) => Check {
            target,
            measured: format!("skipped: {reason}"),
            pass: None,
        },
        (None, None) => Check {
            target,
            measured: "-".into(),
            pass: None,
        },
        (None, Some(max)) => Check {
            target,
            measured: format!(
                "p50 {} p99 {} max {} ({} clicks)",
                lat(percentile(&m.moved, 0.5)),
                lat(percentile(&m.moved, 0.99)),
                lat(Some(*max)),
                m.moved.len()
            ),
            pass: Some(*max < Duration::from_secs(1)),
        },
    };
    r.checks.push(check);
}
