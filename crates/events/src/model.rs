//! The public types: targets as the API writes them, what a delivery carries, and the hooks the
//! embedding program supplies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A rule's target in the API's own shape (`PutTargets`, `ListTargetsByRule`), which is also
/// how it is stored. Members devstack does not act on (`SqsParameters`, `HttpParameters`,
/// `RoleArn`...) are kept as given and listed back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    pub id: String,
    pub arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<InputTransformer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Target {
    /// The AWS service of the target's ARN (`sqs`, `lambda`, `states`, `events`...).
    pub fn service(&self) -> Option<&str> {
        self.arn.split(':').nth(2).filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputTransformer {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input_paths_map: BTreeMap<String, String>,
    pub input_template: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// Kept as signed numbers so that an out-of-range value is answered with AWS's validation
/// message rather than a deserialisation error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_event_age_in_seconds: Option<i64>,
}

/// A rule as devstack runs it, for inspection (`EventBridge::rules`).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInfo {
    pub name: String,
    pub arn: String,
    pub bus: String,
    /// The event pattern (None for a rule without one, such as a schedule-only template rule).
    pub pattern: Option<Value>,
    pub enabled: bool,
    /// Defined by the template (re-read at every start) rather than created through the API.
    pub from_template: bool,
    pub targets: Vec<Target>,
}

/// One event for one target of one matching rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub event_id: String,
    pub rule_name: String,
    pub rule_arn: String,
    pub bus: String,
    pub target_id: String,
    pub target_arn: String,
    /// Exactly the text the target receives: the event, `Input`, the `InputPath` selection or
    /// the `InputTransformer` output.
    pub input: String,
    pub dead_letter_arn: Option<String>,
    pub max_retry_attempts: Option<u32>,
    pub max_event_age_secs: Option<u32>,
}

/// Where deliveries go. Called synchronously within `PutEvents`, before it answers, once per
/// delivery and in a stable order (rules by bus and name, targets in the rule's order), so that
/// a target the embedder makes durable is durable before the client hears success.
pub trait Targets: Send + Sync {
    fn deliver(&self, delivery: Delivery);
}

/// Fault injection for `PutEvents`: an entry for which this returns `Some((code, message))` is
/// answered as failed with that `ErrorCode` and `ErrorMessage`, counted in `FailedEntryCount`,
/// not kept and not delivered. Asked only for entries that are otherwise valid.
pub trait EntryFaults: Send + Sync {
    fn fail_entry(
        &self,
        bus: &str,
        index_in_request: usize,
        entry: &Value,
    ) -> Option<(String, String)>;
}

/// Makes an event id; injectable so that a seeded run can produce the same ids every time.
pub type IdGenerator = Box<dyn Fn() -> String + Send + Sync>;
