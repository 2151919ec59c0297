//! CodeDeploy's PreTraffic hook of the redirect function: before any traffic shifts to the new
//! version, resolve a known link through that version and expect its redirect.
//!
//! CodeDeploy invokes the hook asynchronously with `{DeploymentId,
//! LifecycleEventHookExecutionId}` and then waits (up to an hour) for
//! `PutLifecycleEventHookExecutionStatus`: `Succeeded` lets the canary start, `Failed` stops the
//! deployment and CloudFormation rolls the stack back. So every way the smoke test can go wrong
//! is reported as `Failed` (and logged with the reason); only a failure to *report* is an error
//! of the invocation, so that Lambda's retries of an asynchronous invocation report again.
//!
//! The canary link (`domain::code::CANARY`) is written here if it is missing or not what the
//! test expects. Resolving it publishes a `link.clicked` like any visit, with this hook's user
//! agent: the aggregator counts it on the canary link's own counters, which belong to no user,
//! and `LinkResolved` grows by one per deployment. Both are harmless, and counting it as any
//! click is counted proves more of the new version than a special case would.

use crate::handlers::REDIRECTS;
use crate::store::{Link, Store, StoreError};
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use aws_sdk_lambda::primitives::Blob;
use domain::{EpochMillis, LinkStatus, ShortCode, TargetUrl};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the canary link redirects: a reserved domain (RFC 2606) that nobody is sent to, since
/// the hook reads the redirect and never follows it.
pub const CANARY_TARGET: &str = "https://example.com/canary";
/// The canary link's owner: not a Cognito `sub` (those are UUIDs), so no user lists, reads,
/// changes or deletes it through the owner routes.
pub const CANARY_OWNER: &str = "system:pre-traffic-hook";
/// The user agent of the request the hook sends, so its click is recognisable in the events.
pub const USER_AGENT: &str = "url-shortener-pre-traffic-hook";
/// How long the new version may take to answer, cold start included: the redirect function's
/// own timeout is 10 s, and the hook's (30 s) must leave room to report after a timeout.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(20);

/// CodeDeploy's lifecycle hook event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HookEvent {
    pub deployment_id: String,
    pub lifecycle_event_hook_execution_id: String,
}

/// What the hook reported, as its invocation's result (CodeDeploy ignores it; it is for logs
/// and for `devstack invoke`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookReport {
    /// `Succeeded` or `Failed`, as sent to CodeDeploy.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Why the new version failed the smoke test.
#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("the canary link could not be written: {0}")]
    Store(#[from] StoreError),
    #[error("invoking {version} failed: {message}")]
    Invoke { version: String, message: String },
    #[error("{version} failed ({kind}): {payload}")]
    Function {
        version: String,
        kind: String,
        payload: String,
    },
    #[error("{version} answered status {status}, not a redirect: {answer}")]
    NotRedirect {
        version: String,
        status: i64,
        answer: String,
    },
    #[error("{version} redirected to {found:?}, not to the canary target {CANARY_TARGET}")]
    WrongLocation {
        version: String,
        found: Option<String>,
    },
    #[error("{version} answered something that is not an HTTP API response: {answer}")]
    Answer { version: String, answer: String },
}

/// The report could not be delivered to CodeDeploy.
#[derive(Debug, thiserror::Error)]
#[error("PutLifecycleEventHookExecutionStatus ({status}) failed: {message}")]
pub struct ReportError {
    status: &'static str,
    message: String,
}

pub struct PreTraffic {
    pub store: Store,
    pub lambda: aws_sdk_lambda::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    /// The version ARN under test (`TARGET_VERSION_ARN`: `!Ref ResolveLinkFunction.Version`).
    pub target_version: String,
}

/// The canary link as the hook writes it. Its creation time is fixed, so the item is the same
/// whenever it is (re)written, and a click in flight from an earlier deployment still matches
/// the `linkCreatedAt` the aggregator's transaction requires.
pub fn canary_link() -> Link {
    Link {
        code: ShortCode::canary(),
        owner: CANARY_OWNER.into(),
        target: TargetUrl::from_stored(CANARY_TARGET.into()),
        status: LinkStatus::Active,
        redirect: 302,
        clicks: 0,
        created_at: EpochMillis(0),
        updated_at: EpochMillis(0),
        expires_at: None,
        version: 1,
        moderation_reason: None,
    }
}

/// The API Gateway HTTP API (payload 2.0) event of `GET /{CANARY}`, as the gateway would send
/// it at `now`. The request id derives from the hook execution, so a retried invocation of the
/// hook publishes the same click id, which the aggregator counts once.
pub fn canary_request(execution_id: &str, now: EpochMillis) -> Value {
    let code = domain::code::CANARY;
    let path = format!("/{code}");
    json!({
        "version": "2.0",
        "routeKey": "GET /{code}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"user-agent": USER_AGENT},
        "requestContext": {
            "apiId": "pre-traffic-hook",
            "domainName": "pre-traffic-hook.invalid",
            "domainPrefix": "pre-traffic-hook",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": USER_AGENT,
            },
            "requestId": format!("pre-traffic-{execution_id}"),
            "routeKey": "GET /{code}",
            "stage": "$default",
            "time": now.as_datetime().format("%d/%b/%Y:%H:%M:%S +0000").to_string(),
            "timeEpoch": now.0,
        },
        "pathParameters": {"code": code},
        "isBase64Encoded": false,
    })
}

impl PreTraffic {
    pub async fn from_env() -> Result<Self, crate::Error> {
        let sdk = crate::config::sdk().await;
        Ok(Self {
            store: Store::from_env(&sdk)?,
            lambda: aws_sdk_lambda::Client::new(&sdk),
            codedeploy: aws_sdk_codedeploy::Client::new(&sdk),
            target_version: crate::config::required("TARGET_VERSION_ARN")?,
        })
    }

    pub async fn handle(&self, event: LambdaEvent<HookEvent>) -> Result<HookReport, crate::Error> {
        Ok(self.run(&event.payload).await?)
    }

    pub async fn run(&self, hook: &HookEvent) -> Result<HookReport, ReportError> {
        let (status, status_text, reason) = match self.smoke_test(hook).await {
            Ok(()) => (LifecycleEventStatus::Succeeded, "Succeeded", None),
            Err(e) => (LifecycleEventStatus::Failed, "Failed", Some(e.to_string())),
        };
        match &reason {
            None => tracing::info!(
                deployment_id = %hook.deployment_id,
                execution_id = %hook.lifecycle_event_hook_execution_id,
                version = %self.target_version,
                "pre-traffic smoke test passed"
            ),
            Some(reason) => tracing::error!(
                deployment_id = %hook.deployment_id,
                execution_id = %hook.lifecycle_event_hook_execution_id,
                version = %self.target_version,
                reason = %reason,
                "pre-traffic smoke test failed"
            ),
        }
        self.codedeploy
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(&hook.deployment_id)
            .lifecycle_event_hook_execution_id(&hook.lifecycle_event_hook_execution_id)
            .status(status)
            .send()
            .await
            .map_err(|e| {
                let message = aws_smithy_types::error::display::DisplayErrorContext(&e).to_string();
                tracing::error!(
                    deployment_id = %hook.deployment_id,
                    execution_id = %hook.lifecycle_event_hook_execution_id,
                    status = status_text,
                    error = %message,
                    "hook status not reported"
                );
                ReportError {
                    status: status_text,
                    message,
                }
            })?;
        Ok(HookReport {
            status: status_text.to_owned(),
            reason,
        })
    }

    /// Ok when the new version answers the canary's redirect.
    async fn smoke_test(&self, hook: &HookEvent) -> Result<(), SmokeError> {
        self.ensure_canary().await?;
        // The gateway's clock is what stamps a request's time, and the hook plays the gateway
        // here: CodeDeploy's event carries no time. The canary never expires, so no decision
        // depends on it; it only dates the click.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let request = canary_request(&hook.lifecycle_event_hook_execution_id, EpochMillis(now));
        let version = self.target_version.clone();
        let out = self
            .lambda
            .invoke()
            .function_name(&self.target_version)
            .payload(Blob::new(request.to_string()))
            .customize()
            .config_override(
                aws_sdk_lambda::config::Builder::default().timeout_config(
                    aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
                        .operation_timeout(INVOKE_TIMEOUT)
                        .build(),
                ),
            )
            .send()
            .await
            .map_err(|e| SmokeError::Invoke {
                version: version.clone(),
                message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            })?;
        let payload = out
            .payload()
            .map(|p| String::from_utf8_lossy(p.as_ref()).into_owned())
            .unwrap_or_default();
        if let Some(kind) = out.function_error() {
            return Err(SmokeError::Function {
                version,
                kind: kind.to_owned(),
                payload: clip(&payload),
            });
        }
        check_redirect(&version, &payload)
    }

    /// Writes the canary link unless it is already there as the test expects it (then it is
    /// left alone, with its click count).
    async fn ensure_canary(&self) -> Result<(), StoreError> {
        let want = canary_link();
        match self.store.get_link(&want.code, true).await {
            Ok(Some(have))
                if have.status == want.status
                    && have.target == want.target
                    && have.redirect == want.redirect
                    && have.expires_at.is_none() =>
            {
                Ok(())
            }
            // Missing, changed by hand, or unreadable (`Corrupt`): rewrite it whole.
            Ok(_) | Err(StoreError::Corrupt { .. }) => self.store.put_link(&want).await,
            Err(e) => Err(e),
        }
    }
}

/// The new version's answer (an HTTP API response) must be a redirect to the canary target.
fn check_redirect(version: &str, payload: &str) -> Result<(), SmokeError> {
    let answer: Value = serde_json::from_str(payload).map_err(|_| SmokeError::Answer {
        version: version.to_owned(),
        answer: clip(payload),
    })?;
    let Some(status) = answer.get("statusCode").and_then(Value::as_i64) else {
        return Err(SmokeError::Answer {
            version: version.to_owned(),
            answer: clip(payload),
        });
    };
    if !REDIRECTS.iter().any(|r| i64::from(*r) == status) {
        return Err(SmokeError::NotRedirect {
            version: version.to_owned(),
            status,
            answer: clip(payload),
        });
    }
    // Header names are case-insensitive; lambda_http sends them lower-cased.
    let location = answer
        .get("headers")
        .and_then(Value::as_object)
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("location"))
                .and_then(|(_, v)| v.as_str())
        });
    if location != Some(CANARY_TARGET) {
        return Err(SmokeError::WrongLocation {
            version: version.to_owned(),
            found: location.map(str::to_owned),
        });
    }
    Ok(())
}

/// The start of an answer, for a log line and a reason of bounded size.
fn clip(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}
