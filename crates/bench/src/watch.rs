//! `cargo lambda watch` serving the same `fixture_redirect` binary, the comparison point for
//! devstack's Lambda path. It compiles the crate itself (a no-op when `just bench` has built
//! the release binary with the same flags), then serves each function under a function-URL
//! style path, `/lambda-url/<binary>/<path>`, and runs up to `--concurrency` instances.

use crate::cpu;
use crate::load::{self, Request};
use crate::procs::{self, Guard};
use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BINARY: &str = "fixture_redirect";

pub struct Watch {
    guard: Guard,
    pub addr: SocketAddr,
    pub log: PathBuf,
    pub ready_after: Duration,
}

/// A free loopback port: cargo lambda takes a port number, not a listener. The port is
/// released just before cargo lambda binds it; nothing else on this machine races for it.
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Watch {
    /// Starts `cargo lambda watch` in `crate_dir` and waits (until `deadline`) for the
    /// function URL to answer the fixture's 301.
    pub async fn start(
        cargo_lambda: &Path,
        crate_dir: &Path,
        target_dir: Option<&Path>,
        instances: usize,
        log: PathBuf,
        deadline: Duration,
    ) -> Result<Self> {
        let port = free_port()?;
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot write {}", log.display()))?;
        let mut cmd = Command::new(cargo_lambda);
        cmd.args(["lambda", "watch", "--release", "--bin", BINARY])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .args(["--concurrency", &instances.to_string()])
            // The benchmark must not restart the function if someone edits the crate meanwhile.
            .arg("--ignore-changes")
            .current_dir(crate_dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        if let Some(dir) = target_dir {
            cmd.env("CARGO_TARGET_DIR", dir);
        }
        procs::own_group(&mut cmd);
        let started = Instant::now();
        let child = cmd.spawn().with_context(|| {
            format!(
                "cannot run {} (run `just tools` to install it)",
                cargo_lambda.display()
            )
        })?;
        let mut w = Self {
            guard: Guard(Some(child)),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            ready_after: Duration::ZERO,
        };
        let probe = w.request("ready");
        loop {
            if let Some(status) = w.guard.exited() {
                bail!(
                    "cargo lambda watch exited ({status}) before serving; see {}",
                    w.log.display()
                );
            }
            // An answer other than 301 (e.g. while it compiles) or none at all: not yet.
            if let Ok(r) = load::once(&probe, Duration::from_secs(5)).await
                && r.status == 301
            {
                break;
            }
            if started.elapsed() > deadline {
                bail!(
                    "cargo lambda watch did not serve within {deadline:?}; see {}",
                    w.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        w.ready_after = started.elapsed();
        Ok(w)
    }

    /// `GET /lambda-url/fixture_redirect/{code}`.
    pub fn request(&self, code: &str) -> Request {
        Request::get(self.addr, &format!("/lambda-url/{BINARY}/{code}"))
    }

    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Instances being started: `cargo run` processes not yet replaced by the function (cargo
    /// execs it once the build check is done, and these wait in turn for cargo's locks).
    pub fn starting(&self) -> usize {
        cpu::descendants(self.guard.pid())
            .into_iter()
            .filter(|p| cpu::program(*p).as_deref() == Some("cargo"))
            .count()
    }

    /// Function processes running under cargo lambda now.
    pub fn instances(&self) -> usize {
        cpu::descendants(self.guard.pid())
            .into_iter()
            .filter(|p| cpu::program(*p).as_deref() == Some(BINARY))
            .count()
    }

    pub fn stop(mut self) {
        self.guard.stop();
    }
}
