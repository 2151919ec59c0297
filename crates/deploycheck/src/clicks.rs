//! The click pipeline's wiring, on which "a click counts once" rests:
//!
//! - every SQS event source mapping reports batch item failures, so a batch with one failed
//!   click returns only that click, not the ones already counted;
//! - the click queue's redrive moves a click that keeps failing to the DLQ, where it waits to
//!   be redriven;
//! - the aggregator's marker TTL (`CLICK_QUEUE_RETENTION_SECONDS` +
//!   `CLICK_DLQ_RETENTION_SECONDS` + `CLICK_REDRIVE_WINDOW_SECONDS`, see
//!   `crates/functions/src/handlers/click_aggregator.rs`) is made of the very values that size
//!   the queues, so no redriven click can outlive its marker and count twice;
//! - the queue's visibility timeout is at least the aggregator's timeout, or Lambda refuses
//!   to create the mapping.

use crate::cfn::{Cfn, one_or_many, scalar_text};
use crate::finding::Finding;
use serde_json::Value;

pub const AGGREGATOR: &str = "ClickAggregatorFunction";
pub const CLICK_QUEUE: &str = "ClickQueue";
pub const CLICK_DLQ: &str = "ClickDlq";

/// SQS's `MessageRetentionPeriod` when a queue does not set it: four days.
const SQS_DEFAULT_RETENTION: &str = "345600";
/// Lambda's default function timeout, when neither the function nor Globals set one.
const LAMBDA_DEFAULT_TIMEOUT: &str = "3";

pub fn check(cfn: &Cfn) -> Vec<Finding> {
    let mut found = Vec::new();

    // Every SQS mapping: partial batch responses.
    let mut feeds_aggregator = None;
    for m in cfn.of_type("AWS::Lambda::EventSourceMapping") {
        let p = cfn.props(m);
        let Some(source) = p.get("EventSourceArn").and_then(|s| cfn.canon(s)) else {
            continue;
        };
        let queue = source
            .strip_prefix("${")
            .and_then(|s| s.strip_suffix(".Arn}"))
            .filter(|q| cfn.type_of(q) == Some("AWS::SQS::Queue"));
        let Some(queue) = queue else { continue };
        let reports = one_or_many(p.get("FunctionResponseTypes").unwrap_or(&Value::Null))
            .iter()
            .any(|t| t.as_str() == Some("ReportBatchItemFailures"));
        if !reports {
            found.push(Finding::NoPartialBatchResponse { mapping: m.into() });
        }
        let function = p.get("FunctionName").and_then(|f| cfn.canon(f));
        let is_aggregator = function.is_some_and(|f| {
            [
                format!("${{{AGGREGATOR}}}"),
                format!("${{{AGGREGATOR}.Arn}}"),
                format!("${{{AGGREGATOR}.Alias}}"),
            ]
            .contains(&f)
        });
        if is_aggregator && queue == CLICK_QUEUE {
            feeds_aggregator = Some(m);
        }
    }
    if feeds_aggregator.is_none() {
        found.push(Finding::MissingEventSourceMapping {
            function: AGGREGATOR.into(),
            queue: CLICK_QUEUE.into(),
        });
    }

    // Redrive to the DLQ.
    let queue = cfn.props(CLICK_QUEUE);
    let target = queue
        .get("RedrivePolicy")
        .and_then(|r| r.get("deadLetterTargetArn"))
        .and_then(|t| cfn.canon(t));
    if target.as_deref() != Some(format!("${{{CLICK_DLQ}.Arn}}").as_str()) {
        found.push(Finding::RedriveNotToDlq {
            queue: CLICK_QUEUE.into(),
            dlq: CLICK_DLQ.into(),
            found: target,
        });
    }

    // The marker TTL's parts come from what sizes the queues.
    let retention = |q: &str| {
        cfn.props(q)
            .get("MessageRetentionPeriod")
            .map(|r| cfn.canon(r))
            .unwrap_or_else(|| Some(SQS_DEFAULT_RETENTION.into()))
    };
    let env = cfn
        .props(AGGREGATOR)
        .get("Environment")
        .and_then(|e| e.get("Variables"));
    let var = |name: &str| env.and_then(|e| e.get(name)).and_then(|v| cfn.canon(v));
    for (variable, queue) in [
        ("CLICK_QUEUE_RETENTION_SECONDS", CLICK_QUEUE),
        ("CLICK_DLQ_RETENTION_SECONDS", CLICK_DLQ),
    ] {
        let expected = retention(queue);
        let actual = var(variable);
        if expected.is_none() || actual != expected {
            found.push(Finding::MarkerTtlMismatch {
                variable: variable.into(),
                expected: format!(
                    "{queue}'s MessageRetentionPeriod ({})",
                    expected.as_deref().unwrap_or("not one value")
                ),
                found: actual,
            });
        }
    }
    // The redrive window sizes nothing else; it must be there, from a parameter an operator
    // sets (a literal would be a number nobody revisits when the retention changes).
    let window = var("CLICK_REDRIVE_WINDOW_SECONDS");
    let from_parameter = window
        .as_deref()
        .and_then(|w| w.strip_prefix("${"))
        .and_then(|w| w.strip_suffix('}'))
        .is_some_and(|p| cfn.has_parameter(p));
    if !from_parameter {
        found.push(Finding::MarkerTtlMismatch {
            variable: "CLICK_REDRIVE_WINDOW_SECONDS".into(),
            expected: "a template parameter".into(),
            found: window,
        });
    }

    // Visibility timeout >= function timeout, with the parameters' defaults.
    let resolve = |v: Option<String>| -> Option<String> {
        let v = v?;
        match v.strip_prefix("${").and_then(|p| p.strip_suffix('}')) {
            Some(p) => cfn.parameter_default(p),
            None => Some(v),
        }
    };
    let visibility = resolve(
        queue
            .get("VisibilityTimeout")
            .map(|v| cfn.canon(v))
            .unwrap_or_else(|| Some("30".into())),
    );
    let timeout = resolve(
        cfn.props(AGGREGATOR)
            .get("Timeout")
            .map(|t| scalar_text(t).or_else(|| cfn.canon(t)))
            .unwrap_or_else(|| Some(LAMBDA_DEFAULT_TIMEOUT.into())),
    );
    if let (Some(v), Some(t)) = (visibility, timeout)
        && let (Ok(vn), Ok(tn)) = (v.parse::<u64>(), t.parse::<u64>())
        && vn < tn
    {
        found.push(Finding::VisibilityBelowTimeout {
            queue: CLICK_QUEUE.into(),
            visibility: v,
            timeout: t,
        });
    }
    found
}
