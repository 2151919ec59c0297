//! Running `deploy/transform.py` (aws-sam-translator in the repository's `.venv`).

use crate::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root (where `template.yaml`, `deploy/` and `.venv/` are), from this crate.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Transforms `template` (any path, e.g. a mutated copy) into CloudFormation, with the
/// template's defaults for the parameters not in `parameters`.
pub fn transform(
    root: &Path,
    template: &Path,
    parameters: &[(&str, &str)],
) -> Result<serde_json::Value, Error> {
    let python = root.join(".venv/bin/python");
    if !python.exists() {
        return Err(Error::NoVenv { python });
    }
    let mut cmd = Command::new(&python);
    cmd.arg(root.join("deploy/transform.py")).arg(template);
    for (k, v) in parameters {
        cmd.arg("--parameter").arg(format!("{k}={v}"));
    }
    let out = cmd.output().map_err(|e| Error::Run {
        python: python.clone(),
        source: e,
    })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() {
        if stderr.contains("aws-sam-translator is not importable") {
            return Err(Error::NoTranslator { python, stderr });
        }
        return Err(Error::Transform {
            template: template.to_owned(),
            stderr,
        });
    }
    serde_json::from_slice(&out.stdout).map_err(|e| Error::Output(e.to_string()))
}
