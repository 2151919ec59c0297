//! Finding (and building) each function's executable from the template: cargo-lambda
//! functions from their crate and `Metadata.BuildProperties.Binary`, other build methods from
//! a `bootstrap` under `CodeUri` (or a Makefile's `build-<LogicalId>` target, as SAM runs it),
//! or a path given by hand with `--function NAME=PATH`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use template::model::Function;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Release,
    Dev,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Dev => "debug",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "function {function}: cannot find its executable ({detail}). Build it, or map it by hand with --function {function}=PATH"
    )]
    NotFound { function: String, detail: String },
    #[error("function {function}: `{command}` failed ({status})")]
    Failed {
        function: String,
        command: String,
        status: String,
    },
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
}

/// What `devstack up` should do about executables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildMode {
    pub profile: Profile,
    /// False with `--no-build`: only look for existing executables.
    pub build: bool,
}

/// The executable of every function that devstack runs itself (attached and hand-mapped
/// functions are the caller's business). Cargo's output streams to the console as it builds.
pub fn executables(
    functions: &[&Function],
    mode: BuildMode,
    artifacts_dir: &Path,
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let mut out = BTreeMap::new();
    // cargo-lambda functions, grouped per crate so that each crate is one cargo invocation.
    let mut by_crate: BTreeMap<PathBuf, Vec<(&Function, String)>> = BTreeMap::new();
    for f in functions {
        let code = &f.code;
        let binary = code.binary.clone();
        match (code.build_method.as_deref(), &code.code_uri) {
            (Some("rust-cargolambda"), Some(dir)) => {
                let bin = binary.unwrap_or_else(|| f.logical_id.clone());
                by_crate.entry(dir.clone()).or_default().push((f, bin));
            }
            (_, Some(dir)) => {
                out.insert(
                    f.logical_id.clone(),
                    other_method(f, dir, mode, artifacts_dir)?,
                );
            }
            (_, None) => {
                return Err(BuildError::NotFound {
                    function: f.logical_id.clone(),
                    detail: "the template gives no CodeUri".into(),
                });
            }
        }
    }
    for (dir, fns) in by_crate {
        let manifest = dir.join("Cargo.toml");
        if !manifest.exists() {
            return Err(BuildError::NotFound {
                function: fns[0].0.logical_id.clone(),
                detail: format!("no Cargo.toml in CodeUri {}", dir.display()),
            });
        }
        let built = if mode.build {
            cargo_build(&manifest, &fns, mode.profile)?
        } else {
            let target = target_dir(&manifest)?;
            fns.iter()
                .map(|(_, bin)| (bin.clone(), target.join(mode.profile.dir()).join(bin)))
                .collect()
        };
        for (f, bin) in fns {
            let path = built.get(&bin).cloned().unwrap_or_default();
            if !path.is_file() {
                return Err(BuildError::NotFound {
                    function: f.logical_id.clone(),
                    detail: format!("binary {bin} is not at {}", path.display()),
                });
            }
            out.insert(f.logical_id.clone(), path);
        }
    }
    Ok(out)
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Builds already done by this process, by (manifest, profile, binaries). Many stacks start in
/// one test process; one cargo run per distinct request is enough, and concurrent starts wait
/// for it instead of queueing on cargo's lock.
static BUILT: std::sync::Mutex<BTreeMap<String, BTreeMap<String, PathBuf>>> =
    std::sync::Mutex::new(BTreeMap::new());

fn cargo_build(
    manifest: &Path,
    fns: &[(&Function, String)],
    profile: Profile,
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let bins: Vec<&str> = fns.iter().map(|(_, b)| b.as_str()).collect();
    let key = format!("{}|{profile:?}|{}", manifest.display(), bins.join(","));
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = built.get(&key) {
        return Ok(found.clone());
    }
    let found = run_cargo_build(manifest, fns, profile)?;
    built.insert(key, found.clone());
    Ok(found)
}

fn run_cargo_build(
    manifest: &Path,
    fns: &[(&Function, String)],
    profile: Profile,
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let mut cmd = Command::new(cargo());
    cmd.arg("build").arg("--manifest-path").arg(manifest);
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    for (_, bin) in fns {
        cmd.arg("--bin").arg(bin);
    }
    // JSON messages on stdout tell us where each executable landed (whatever the target dir);
    // cargo's progress and diagnostics stay on stderr, visible to the user.
    cmd.arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let command = format!("cargo build --manifest-path {}", manifest.display());
    let output = cmd.output().map_err(|source| BuildError::Spawn {
        command: command.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(BuildError::Failed {
            function: fns[0].0.logical_id.clone(),
            command,
            status: output.status.to_string(),
        });
    }
    let mut found = BTreeMap::new();
    for line in output.stdout.split(|b| *b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if let (Some(name), Some(exe)) =
            (msg["target"]["name"].as_str(), msg["executable"].as_str())
        {
            found.insert(name.to_owned(), PathBuf::from(exe));
        }
    }
    Ok(found)
}

fn target_dir(manifest: &Path) -> Result<PathBuf, BuildError> {
    let command = format!("cargo metadata --manifest-path {}", manifest.display());
    let out = Command::new(cargo())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(manifest)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| BuildError::Spawn {
            command: command.clone(),
            source,
        })?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| BuildError::Failed {
            function: manifest.display().to_string(),
            command,
            status: out.status.to_string(),
        })
}

/// `BuildMethod: makefile` (and anything else): a ready `bootstrap` under CodeUri, else the
/// Makefile's `build-<LogicalId>` target with `ARTIFACTS_DIR`, as `sam build` runs it.
fn other_method(
    f: &Function,
    dir: &Path,
    mode: BuildMode,
    artifacts_dir: &Path,
) -> Result<PathBuf, BuildError> {
    let bootstrap = dir.join("bootstrap");
    if bootstrap.is_file() {
        return Ok(bootstrap);
    }
    let makefile = dir.join("Makefile");
    if mode.build && makefile.is_file() {
        let out_dir = artifacts_dir.join(&f.logical_id);
        let _ = std::fs::create_dir_all(&out_dir);
        let target = format!("build-{}", f.logical_id);
        let status = Command::new("make")
            .arg("-C")
            .arg(dir)
            .arg(&target)
            .arg(format!("ARTIFACTS_DIR={}", out_dir.display()))
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .status()
            .map_err(|source| BuildError::Spawn {
                command: format!("make {target}"),
                source,
            })?;
        if !status.success() {
            return Err(BuildError::Failed {
                function: f.logical_id.clone(),
                command: format!("make -C {} {target}", dir.display()),
                status: status.to_string(),
            });
        }
        let built = out_dir.join("bootstrap");
        if built.is_file() {
            return Ok(built);
        }
    }
    Err(BuildError::NotFound {
        function: f.logical_id.clone(),
        detail: format!(
            "BuildMethod {}, and no bootstrap under {}",
            f.code.build_method.as_deref().unwrap_or("(none)"),
            dir.display()
        ),
    })
}
