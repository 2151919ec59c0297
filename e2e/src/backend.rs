//! Where a scenario's DynamoDB and SQS live (`E2E_BACKEND`): devstack's own (`embedded`, the
//! default), a moto server started for the scenario (`moto`), or endpoints someone else runs
//! (`external`: `E2E_DYNAMODB_ENDPOINT`, `E2E_SQS_ENDPOINT`; LocalStack and DynamoDB Local
//! from docker-compose.yml). Everything else is devstack's in every backend.

use crate::{HarnessError, Result};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Moto,
    External { dynamodb: String, sqs: String },
}

impl Backend {
    /// The backend `E2E_BACKEND` names (embedded when unset).
    pub fn from_env() -> Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        match var("E2E_BACKEND").as_deref() {
            None | Some("embedded") => Ok(Self::Embedded),
            Some("moto") => Ok(Self::Moto),
            Some("external" | "localstack") => {
                match (var("E2E_DYNAMODB_ENDPOINT"), var("E2E_SQS_ENDPOINT")) {
                    (Some(dynamodb), Some(sqs)) => Ok(Self::External { dynamodb, sqs }),
                    _ => Err(HarnessError::Missing(
                        "E2E_BACKEND=external needs E2E_DYNAMODB_ENDPOINT and E2E_SQS_ENDPOINT"
                            .into(),
                    )),
                }
            }
            Some(other) => Err(HarnessError::Missing(format!(
                "E2E_BACKEND={other}: expected embedded, moto or external"
            ))),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Moto => "moto",
            Self::External { .. } => "external",
        }
    }

    /// Whether the queues keep real time: an external SQS knows nothing of devstack's
    /// virtual clock, so a visibility timeout there passes only by waiting.
    pub fn real_time_queues(&self) -> bool {
        !matches!(self, Self::Embedded)
    }

    /// Template Parameters for this backend: on real time, the click queue's visibility
    /// timeout in seconds rather than a minute, so that a scenario waits for returns briefly.
    pub fn overrides(&self) -> &'static [(&'static str, &'static str)] {
        match self.real_time_queues() {
            true => &[("ClickQueueVisibilitySeconds", "2")],
            false => &[],
        }
    }
}

/// A moto server of one scenario, on a free loopback port; stopped when dropped. A fresh one
/// per scenario: moto slows down as it fills (every transaction copies the table).
pub struct Moto {
    pub url: String,
    _child: Child,
}

/// moto's server: `MOTO_SERVER`, else the repository's `.venv` (`just tools`), else `PATH`.
fn moto_server() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return p.into();
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    "moto_server".into()
}

impl Moto {
    pub async fn start() -> Result<Self> {
        let exe = moto_server();
        let mut child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                HarnessError::Missing(format!(
                    "cannot run {} (install it with `just tools`, or set MOTO_SERVER): {e}",
                    exe.display()
                ))
            })?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| HarnessError::Missing("moto's stderr".into()))?;
        let mut lines = BufReader::new(stderr).lines();
        // werkzeug names the port it bound: ` * Running on http://127.0.0.1:PORT`.
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(i) = line.find("http://") {
                    return Some(line[i..].trim().to_owned());
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            HarnessError::Missing(format!("{} did not say where it listens", exe.display()))
        })?;
        // It logs every request to stderr: keep reading, or it blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { url, _child: child })
    }
}
