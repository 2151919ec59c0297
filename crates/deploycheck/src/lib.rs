//! Offline proof that `template.yaml` deploys, and deploys as the issue (#8) asks.
//!
//! No session has AWS credentials, so what CloudFormation would make of the template is made
//! here: `deploy/transform.py` runs aws-sam-translator (the library behind
//! `AWS::Serverless-2016-10-31` and `sam validate`) on it and prints plain CloudFormation.
//! [`check`] reads that output, together with the SAM source for the intent that the transform
//! does not keep, and returns what a reviewer would refuse, as typed [`Finding`]s:
//!
//! - [`canary`]: every `AutoPublishAlias` has its alias; every canary has a CodeDeploy
//!   application and a deployment group that rolls back on the errors, throttles and p99
//!   latency alarms of that alias, runs its PreTraffic hook, and shifts as
//!   Canary10Percent5Minutes; the HTTP API's functions are all canaries, and the API reaches
//!   them only through their aliases;
//! - [`permissions`]: each role allows exactly what its code calls ([`permissions::PERMISSIONS`]);
//! - [`clicks`]: partial batch responses, redrive to the DLQ, and a marker TTL made of the
//!   queues' own retention;
//! - [`refs`]: nothing refers to what the template does not define;
//! - [`site`]: the dashboard's bucket is private, read only by its CloudFront distribution
//!   over HTTPS, and names the outputs `just publish-dashboard` reads.
//!
//! `tests/` runs it on `template.yaml` (no findings) and on mutated copies (each mutation's
//! own finding).

pub mod canary;
pub mod cfn;
pub mod clicks;
pub mod finding;
pub mod permissions;
pub mod refs;
pub mod site;
pub mod source;
pub mod transform;

pub use finding::{AlarmKind, Finding};
pub use source::Source;
pub use transform::{repo_root, transform};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{python} does not exist: run `just tools` (it creates .venv from requirements-dev.txt, aws-sam-translator included)"
    )]
    NoVenv { python: PathBuf },
    #[error(
        "aws-sam-translator is not installed in the venv of {python}: run `just tools` (requirements-dev.txt pins it)\n{stderr}"
    )]
    NoTranslator { python: PathBuf, stderr: String },
    #[error("could not run {python}: {source}")]
    Run {
        python: PathBuf,
        source: std::io::Error,
    },
    #[error("{template} does not transform:\n{stderr}")]
    Transform { template: PathBuf, stderr: String },
    #[error("deploy/transform.py printed no CloudFormation JSON: {0}")]
    Output(String),
    #[error("the transformed template has no Resources")]
    NotCloudFormation,
    #[error("the SAM template cannot be read: {0}")]
    Source(String),
}

/// Every finding about `cfn` (the transform of `source`), sorted.
pub fn check(source: &Source, cfn: &serde_json::Value) -> Result<Vec<Finding>, Error> {
    let cfn = cfn::Cfn::new(cfn).ok_or(Error::NotCloudFormation)?;
    let mut found = canary::check(source, &cfn);
    found.extend(permissions::check(&cfn));
    found.extend(clicks::check(&cfn));
    found.extend(refs::check(&cfn));
    found.extend(site::check(&cfn));
    found.sort();
    found.dedup();
    Ok(found)
}
