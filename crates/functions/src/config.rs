//! Reading a function's configuration from its environment, which the template writes.

use aws_config::{BehaviorVersion, SdkConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set; the template must give it to this function")]
    Missing(&'static str),
    #[error("environment variable {name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => Err(ConfigError::Missing(name)),
    }
}

pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn seconds(name: &'static str) -> Result<i64, ConfigError> {
    let raw = required(name)?;
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ConfigError::Invalid {
            name,
            reason: format!("{raw:?} is not a whole number of seconds"),
        })
}

/// The SDK configuration every client is built from: region, credentials and endpoints from
/// the standard variables (`AWS_REGION`, `AWS_ENDPOINT_URL[_<SERVICE>]`, ...), which is how
/// devstack points the same binary at itself.
pub async fn sdk() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The short-link base URLs this deployment answers on: `SHORT_BASE_URL` (a custom domain or
/// the API endpoint) and `API_ENDPOINT` (always answers too). Targets on either are refused.
pub fn short_bases() -> Result<(String, Vec<String>), ConfigError> {
    let base = required("SHORT_BASE_URL")?;
    let mut all = vec![base.clone()];
    all.extend(optional("API_ENDPOINT"));
    Ok((base, all))
}
