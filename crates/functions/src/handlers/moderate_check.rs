//! The moderation state machine's check: is a target safe to redirect to?
//!
//! A blocklist of words first (cheap, always on), then, when an API key is configured, a URL
//! safety API in the shape of Google Safe Browsing v4 `threatMatches:find`. If that API cannot
//! answer, the check fails (an error, not "safe"), so the state machine retries it and, after
//! its retries, fails the execution as `ModerationFailed`: an outage never approves a link.

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Deserialize)]
pub struct CheckInput {
    pub code: String,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutput {
    pub code: String,
    pub target: String,
    pub safe: bool,
    /// Why it is unsafe; null when safe.
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("the URL safety API could not be reached: {0}")]
    Unreachable(String),
    #[error("the URL safety API answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the URL safety API's answer is not understood: {0}")]
    Answer(String),
}

pub struct SafeBrowsing {
    pub endpoint: String,
    pub api_key: String,
    pub http: reqwest::Client,
}

pub struct ModerateCheck {
    pub blocklist: Vec<String>,
    pub safe_browsing: Option<SafeBrowsing>,
}

impl ModerateCheck {
    pub fn new(blocklist: &str, safe_browsing: Option<SafeBrowsing>) -> Self {
        Self {
            blocklist: blocklist
                .split(',')
                .map(|w| w.trim().to_lowercase())
                .filter(|w| !w.is_empty())
                .collect(),
            safe_browsing,
        }
    }

    pub fn from_env() -> Result<Self, crate::Error> {
        use crate::config::optional;
        let safe_browsing = optional("SAFE_BROWSING_API_KEY").map(|api_key| SafeBrowsing {
            endpoint: optional("SAFE_BROWSING_ENDPOINT")
                .unwrap_or_else(|| "https://safebrowsing.googleapis.com".into()),
            api_key,
            http: reqwest::Client::new(),
        });
        Ok(Self::new(
            &optional("BLOCKLIST").unwrap_or_default(),
            safe_browsing,
        ))
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<CheckInput>,
    ) -> Result<CheckOutput, crate::Error> {
        Ok(self.check(event.payload).await?)
    }

    pub async fn check(&self, input: CheckInput) -> Result<CheckOutput, CheckError> {
        let lowered = input.target.to_lowercase();
        let mut reason = self
            .blocklist
            .iter()
            .find(|w| lowered.contains(w.as_str()))
            .map(|w| format!("blocklisted word {w:?}"));
        if reason.is_none()
            && let Some(sb) = &self.safe_browsing
        {
            reason = sb
                .threat(&input.target)
                .await?
                .map(|t| format!("flagged by the URL safety API: {t}"));
        }
        tracing::info!(code = %input.code, safe = reason.is_none(), reason = ?reason, "moderation check");
        Ok(CheckOutput {
            code: input.code,
            target: input.target,
            safe: reason.is_none(),
            reason,
        })
    }
}

impl SafeBrowsing {
    /// The first threat type the API reports for `url`, or None when it reports no match.
    async fn threat(&self, url: &str) -> Result<Option<String>, CheckError> {
        let body = json!({
            "client": {"clientId": "url-shortener", "clientVersion": env!("CARGO_PKG_VERSION")},
            "threatInfo": {
                "threatTypes": ["MALWARE", "SOCIAL_ENGINEERING", "UNWANTED_SOFTWARE", "POTENTIALLY_HARMFUL_APPLICATION"],
                "platformTypes": ["ANY_PLATFORM"],
                "threatEntryTypes": ["URL"],
                "threatEntries": [{"url": url}],
            },
        });
        let response = self
            .http
            .post(format!(
                "{}/v4/threatMatches:find",
                self.endpoint.trim_end_matches('/')
            ))
            .query(&[("key", &self.api_key)])
            .json(&body)
            .timeout(std::time::Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| CheckError::Unreachable(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(CheckError::Status {
                status: status.as_u16(),
                body: body.chars().take(200).collect(),
            });
        }
        let answer: serde_json::Value = response
            .json()
            .await
            .map_err(|e| CheckError::Answer(e.to_string()))?;
        // No match is an empty object `{}`.
        Ok(answer
            .get("matches")
            .and_then(|m| m.as_array())
            .and_then(|m| m.first())
            .map(|m| {
                m.get("threatType")
                    .and_then(|t| t.as_str())
                    .unwrap_or("UNKNOWN")
                    .to_owned()
            }))
    }
}
