//! `devstack up` as a user runs it: the built binary, `--in-memory --no-build`, free ports.
//! Its start time (the banner's "ready in N ms", and the wall time from spawn until the HTTP
//! API answers) and its idle memory.

use crate::cpu;
use crate::load::{self, Request};
use crate::procs::{self, Guard};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Up {
    guard: Guard,
    pub spawned: Instant,
    /// "ready in N ms": devstack's own start after the executables were found.
    pub ready_in: Duration,
    /// Wall time from spawn to the banner's last line.
    pub banner_after: Duration,
    pub http: Option<SocketAddr>,
}

/// The URL after `label` on a banner line such as `  HTTP API   http://127.0.0.1:3000  (...)`.
fn banner_addr(line: &str, label: &str) -> Option<SocketAddr> {
    let rest = line.trim_start().strip_prefix(label)?;
    let url = rest.split_whitespace().next()?;
    url.strip_prefix("http://")?.parse().ok()
}

impl Up {
    /// Starts `devstack up` on `template` and waits for its banner (at most `deadline`).
    pub fn start(
        devstack: &Path,
        template: &Path,
        data_dir: &Path,
        deadline: Duration,
    ) -> Result<Self> {
        let mut cmd = Command::new(devstack);
        cmd.arg("up")
            .arg("--template")
            .arg(template)
            .args([
                "--stack-name",
                "bench",
                "--in-memory",
                "--no-build",
                "--quiet",
            ])
            .args(["--edge-port", "0", "--http-port", "0", "--ws-port", "0"])
            .arg("--data-dir")
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        procs::own_group(&mut cmd);
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", devstack.display()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let guard = Guard(Some(child));
        // stderr is read to its end on a thread of its own: a full pipe would stall devstack.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let mut http = None;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_sub(spawned.elapsed());
            let (at, line) = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => bail!(
                    "devstack up printed no \"ready in\" within {deadline:?}:\n{}",
                    seen.join("\n")
                ),
            };
            if let Some(a) = banner_addr(&line, "HTTP API") {
                http = Some(a);
            }
            if let Some(ms) = line
                .strip_prefix("ready in ")
                .and_then(|r| r.strip_suffix(" ms"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                // Keep draining, without storing, for as long as devstack runs.
                std::thread::spawn(move || while rx.recv().is_ok() {});
                return Ok(Self {
                    guard,
                    spawned,
                    ready_in: Duration::from_millis(ms),
                    banner_after: at - spawned,
                    http,
                });
            }
            seen.push(line);
        }
    }

    /// Wall time from spawn until `req` first gets any HTTP answer (polled every 1 ms).
    pub async fn until_answered(&self, req: &Request, deadline: Duration) -> Result<Duration> {
        loop {
            if load::once(req, Duration::from_secs(5)).await.is_ok() {
                return Ok(self.spawned.elapsed());
            }
            if self.spawned.elapsed() > deadline {
                bail!("{} did not answer within {deadline:?}", req.addr);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Resident memory of devstack and any process it runs.
    pub fn rss_bytes(&self) -> u64 {
        let pid = self.guard.pid();
        std::iter::once(pid)
            .chain(cpu::descendants(pid))
            .filter_map(cpu::rss_bytes)
            .sum()
    }

    pub fn processes(&self) -> usize {
        1 + cpu::descendants(self.guard.pid()).len()
    }

    pub fn stop(mut self) {
        self.guard.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_addresses_off_the_banner() {
        assert_eq!(
            banner_addr(
                "  HTTP API               http://127.0.0.1:4100  (HttpApi: 6 routes)",
                "HTTP API"
            ),
            Some("127.0.0.1:4100".parse().unwrap())
        );
        assert_eq!(
            banner_addr("  HTTP API   (the template has none)", "HTTP API"),
            None
        );
    }
}
