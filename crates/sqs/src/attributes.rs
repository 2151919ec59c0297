//! A queue's settable attributes: their defaults, the ranges SQS accepts, and their string
//! forms (every queue attribute travels as a string).

use crate::SqsError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Attribute names `GetQueueAttributes` accepts.
pub(crate) const READABLE: &[&str] = &[
    "All",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesDelayed",
    "ApproximateNumberOfMessagesNotVisible",
    "ContentBasedDeduplication",
    "CreatedTimestamp",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "LastModifiedTimestamp",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "Policy",
    "QueueArn",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
];

/// Settable attributes kept as given (devstack has no IAM or KMS to apply them to).
const VERBATIM: &[&str] = &[
    "Policy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
];

/// Attributes only a FIFO queue has.
const FIFO_ONLY: &[&str] = &[
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

pub(crate) const FIFO_UNSUPPORTED: &str = "FIFO queues are not supported by devstack yet: create a standard queue (a name without .fifo, no FifoQueue attribute).";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RedrivePolicy {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

impl RedrivePolicy {
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A queue's configuration; every number is in seconds or bytes, as SQS states them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QueueAttrs {
    pub visibility_timeout: u32,
    pub retention_period: u32,
    pub delay_seconds: u32,
    pub receive_wait_seconds: u32,
    pub max_message_size: u32,
    #[serde(default)]
    pub redrive: Option<RedrivePolicy>,
    /// The [`VERBATIM`] attributes that are set.
    #[serde(default)]
    pub other: BTreeMap<String, String>,
}

impl Default for QueueAttrs {
    fn default() -> Self {
        Self {
            visibility_timeout: 30,
            retention_period: 345_600,
            delay_seconds: 0,
            receive_wait_seconds: 0,
            max_message_size: 262_144,
            redrive: None,
            // New queues get SSE-SQS by default.
            other: BTreeMap::from([("SqsManagedSseEnabled".into(), "true".into())]),
        }
    }
}

fn invalid_value(name: &str) -> SqsError {
    SqsError::InvalidAttributeValue(format!("Invalid value for the parameter {name}."))
}

fn unknown(name: &str) -> SqsError {
    SqsError::InvalidAttributeName(format!("Unknown Attribute {name}."))
}

fn number(name: &str, value: &str, min: u32, max: u32) -> Result<u32, SqsError> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| invalid_value(name))
}

fn redrive_invalid(value: &str, reason: &str) -> SqsError {
    SqsError::InvalidParameterValue(format!(
        "Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"
    ))
}

/// A `RedrivePolicy` value; `maxReceiveCount` may be a number or a numeric string.
pub(crate) fn parse_redrive(value: &str) -> Result<RedrivePolicy, SqsError> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(value) else {
        return Err(redrive_invalid(
            value,
            "Redrive policy is not a valid JSON map.",
        ));
    };
    let arn = map
        .get("deadLetterTargetArn")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            redrive_invalid(
                value,
                "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.",
            )
        })?;
    let count = match map.get("maxReceiveCount") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        None => {
            return Err(redrive_invalid(
                value,
                "Redrive policy does not contain mandatory attribute: maxReceiveCount.",
            ));
        }
        _ => None,
    };
    let count = count
        .filter(|c| (1..=1000).contains(c))
        .ok_or_else(|| {
            redrive_invalid(
                value,
                &format!(
                    "Invalid value for maxReceiveCount: {}, valid values are from 1 to 1000 both inclusive.",
                    map.get("maxReceiveCount").map(Value::to_string).unwrap_or_default()
                ),
            )
        })?;
    Ok(RedrivePolicy {
        dead_letter_target_arn: arn.to_owned(),
        max_receive_count: count as u32,
    })
}

/// A `RedriveAllowPolicy` value, checked; what it allows is read by [`allows_source`].
fn check_redrive_allow(value: &str) -> Result<(), SqsError> {
    let bad = |reason: &str| {
        SqsError::InvalidParameterValue(format!(
            "Value {value} for parameter RedriveAllowPolicy is invalid. Reason: {reason}"
        ))
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(value) else {
        return Err(bad("Redrive allow policy is not a valid JSON map."));
    };
    let sources = map.get("sourceQueueArns").and_then(Value::as_array);
    match map.get("redrivePermission").and_then(Value::as_str) {
        Some("allowAll" | "denyAll") if sources.is_none() => Ok(()),
        Some("allowAll" | "denyAll") => Err(bad(
            "Only byQueue redrivePermission may have sourceQueueArns.",
        )),
        Some("byQueue") if sources.is_some_and(|s| (1..=10).contains(&s.len())) => Ok(()),
        Some("byQueue") => Err(bad(
            "byQueue redrivePermission needs 1 to 10 sourceQueueArns.",
        )),
        _ => Err(bad(
            "redrivePermission must be one of allowAll, denyAll, byQueue.",
        )),
    }
}

/// Whether a dead-letter queue's `RedriveAllowPolicy` lets `source_arn` use it.
pub(crate) fn allows_source(policy: Option<&str>, source_arn: &str) -> bool {
    let Some(Ok(Value::Object(map))) = policy.map(serde_json::from_str::<Value>) else {
        return true;
    };
    match map.get("redrivePermission").and_then(Value::as_str) {
        Some("denyAll") => false,
        Some("byQueue") => map
            .get("sourceQueueArns")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(source_arn))),
        _ => true,
    }
}

impl QueueAttrs {
    pub fn from_template(q: &template::model::Queue) -> Self {
        Self {
            visibility_timeout: q.visibility_timeout,
            retention_period: q.retention_period,
            delay_seconds: q.delay_seconds,
            receive_wait_seconds: q.receive_wait_seconds,
            max_message_size: q.max_message_size,
            redrive: q.redrive.as_ref().map(|r| RedrivePolicy {
                dead_letter_target_arn: r.dead_letter_arn.clone(),
                max_receive_count: r.max_receive_count,
            }),
            ..Self::default()
        }
    }

    /// Sets one attribute from its string form, as `CreateQueue` (`creating`) or
    /// `SetQueueAttributes` do. Whether a dead-letter target exists is the caller's check.
    pub fn set(&mut self, name: &str, value: &str, creating: bool) -> Result<(), SqsError> {
        match name {
            "DelaySeconds" => self.delay_seconds = number(name, value, 0, 900)?,
            "MaximumMessageSize" => self.max_message_size = number(name, value, 1024, 1_048_576)?,
            "MessageRetentionPeriod" => self.retention_period = number(name, value, 60, 1_209_600)?,
            "ReceiveMessageWaitTimeSeconds" => {
                self.receive_wait_seconds = number(name, value, 0, 20)?;
            }
            "VisibilityTimeout" => self.visibility_timeout = number(name, value, 0, 43_200)?,
            "RedrivePolicy" if value.is_empty() => self.redrive = None,
            "RedrivePolicy" => self.redrive = Some(parse_redrive(value)?),
            "KmsDataKeyReusePeriodSeconds" => {
                number(name, value, 60, 86_400)?;
                self.other.insert(name.into(), value.trim().into());
            }
            "SqsManagedSseEnabled" => {
                let v = value.trim().to_ascii_lowercase();
                if v != "true" && v != "false" {
                    return Err(invalid_value(name));
                }
                self.other.insert(name.into(), v);
            }
            "RedriveAllowPolicy" | "Policy" if value.is_empty() => {
                self.other.remove(name);
            }
            "RedriveAllowPolicy" => {
                check_redrive_allow(value)?;
                self.other.insert(name.into(), value.into());
            }
            _ if VERBATIM.contains(&name) => {
                self.other.insert(name.into(), value.into());
            }
            "FifoQueue" if creating && value.eq_ignore_ascii_case("false") => {}
            "FifoQueue" if creating => {
                return Err(SqsError::UnsupportedOperation(FIFO_UNSUPPORTED.into()));
            }
            _ if FIFO_ONLY.contains(&name) => return Err(unknown(name)),
            _ => return Err(unknown(name)),
        }
        Ok(())
    }

    /// The string form of a settable attribute, `None` when it is unset.
    pub fn get(&self, name: &str) -> Option<String> {
        match name {
            "DelaySeconds" => Some(self.delay_seconds.to_string()),
            "MaximumMessageSize" => Some(self.max_message_size.to_string()),
            "MessageRetentionPeriod" => Some(self.retention_period.to_string()),
            "ReceiveMessageWaitTimeSeconds" => Some(self.receive_wait_seconds.to_string()),
            "VisibilityTimeout" => Some(self.visibility_timeout.to_string()),
            "RedrivePolicy" => self.redrive.as_ref().map(RedrivePolicy::to_json_string),
            "FifoQueue" => Some("false".into()),
            other => self.other.get(other).cloned(),
        }
    }

    /// The names [`get`](Self::get) may answer for.
    pub fn settable() -> impl Iterator<Item = &'static str> {
        [
            "DelaySeconds",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout",
            "RedrivePolicy",
        ]
        .into_iter()
        .chain(VERBATIM.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_forms() {
        let mut a = QueueAttrs::default();
        a.set("VisibilityTimeout", "45", false).unwrap();
        assert_eq!(a.get("VisibilityTimeout").as_deref(), Some("45"));
        for (name, bad) in [
            ("VisibilityTimeout", "43201"),
            ("DelaySeconds", "901"),
            ("MessageRetentionPeriod", "59"),
            ("MaximumMessageSize", "1023"),
            ("ReceiveMessageWaitTimeSeconds", "21"),
            ("VisibilityTimeout", "x"),
        ] {
            assert!(
                matches!(
                    a.set(name, bad, false),
                    Err(SqsError::InvalidAttributeValue(_))
                ),
                "{name}={bad}"
            );
        }
        assert!(matches!(
            a.set("Nope", "1", false),
            Err(SqsError::InvalidAttributeName(_))
        ));
        assert!(matches!(
            a.set("FifoQueue", "true", true),
            Err(SqsError::UnsupportedOperation(_))
        ));
        assert!(a.set("FifoQueue", "false", true).is_ok());
        assert!(matches!(
            a.set("ContentBasedDeduplication", "true", false),
            Err(SqsError::InvalidAttributeName(_))
        ));
    }

    #[test]
    fn redrive_policy() {
        let mut a = QueueAttrs::default();
        a.set(
            "RedrivePolicy",
            r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq","maxReceiveCount":"3"}"#,
            false,
        )
        .unwrap();
        assert_eq!(
            a.get("RedrivePolicy").as_deref(),
            Some(r#"{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq","maxReceiveCount":3}"#)
        );
        assert!(a.set("RedrivePolicy", "{}", false).is_err());
        assert!(
            a.set(
                "RedrivePolicy",
                r#"{"deadLetterTargetArn":"x","maxReceiveCount":0}"#,
                false
            )
            .is_err()
        );
        a.set("RedrivePolicy", "", false).unwrap();
        assert_eq!(a.get("RedrivePolicy"), None);
    }

    #[test]
    fn redrive_allow_policy() {
        let mut a = QueueAttrs::default();
        a.set(
            "RedriveAllowPolicy",
            r#"{"redrivePermission":"byQueue","sourceQueueArns":["arn:s"]}"#,
            false,
        )
        .unwrap();
        let p = a.get("RedriveAllowPolicy");
        assert!(allows_source(p.as_deref(), "arn:s"));
        assert!(!allows_source(p.as_deref(), "arn:t"));
        assert!(!allows_source(
            Some(r#"{"redrivePermission":"denyAll"}"#),
            "arn:s"
        ));
        assert!(allows_source(None, "arn:s"));
        assert!(
            a.set(
                "RedriveAllowPolicy",
                r#"{"redrivePermission":"byQueue"}"#,
                false
            )
            .is_err()
        );
    }
}
