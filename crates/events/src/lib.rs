//! devstack's EventBridge, speaking awsJson 1.1 (`X-Amz-Target: AWSEvents.<Operation>`).
//!
//! This part accepts `PutEvents` as AWS does (validation, per-entry results,
//! `FailedEntryCount`) on the template's buses and the default bus, and keeps the accepted
//! events in their full envelope (id, time from devstack's clock, account, region, resources,
//! detail) for delivery, which rules and targets add later.

use clock::SharedClock;
use serde_json::{Value, json};
use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

/// PutEvents takes at most 10 entries, and an entry at most 256 KB.
const MAX_ENTRIES: usize = 10;
const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// Accepted events kept for inspection.
const KEEP: usize = 10_000;

pub use awsjson::Answer;

pub struct EventBridge {
    region: String,
    account_id: String,
    clock: SharedClock,
    buses: BTreeSet<String>,
    accepted: Mutex<VecDeque<Value>>,
}

impl EventBridge {
    pub fn new(stack: &template::model::Stack, clock: SharedClock) -> Self {
        let mut buses: BTreeSet<String> =
            stack.event_buses.iter().map(|b| b.name.clone()).collect();
        buses.insert("default".into());
        Self {
            region: stack.region.clone(),
            account_id: stack.account_id.clone(),
            clock,
            buses,
            accepted: Mutex::new(VecDeque::new()),
        }
    }

    /// Handles `AWSEvents.<operation>` with a JSON body.
    pub fn dispatch(&self, operation: &str, body: &[u8]) -> Answer {
        let Ok(input) = serde_json::from_slice::<Value>(body) else {
            return Answer::error(
                400,
                "SerializationException",
                "the request body is not valid JSON",
            );
        };
        match operation {
            "PutEvents" => self.put_events(&input),
            "ListEventBuses" => Answer::ok(json!({
                "EventBuses": self.buses.iter().map(|b| json!({"Name": b, "Arn": self.bus_arn(b)})).collect::<Vec<_>>()
            })),
            other => Answer::error(
                400,
                "UnknownOperationException",
                format!("devstack's EventBridge does not implement {other} yet"),
            ),
        }
    }

    fn bus_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:event-bus/{name}",
            self.region, self.account_id
        )
    }

    /// The bus an entry names (`EventBusName` as a name or an ARN; default otherwise).
    fn bus_of(&self, entry: &Value) -> Option<String> {
        let raw = entry
            .get("EventBusName")
            .and_then(Value::as_str)
            .unwrap_or("default");
        let name = raw.rsplit_once(":event-bus/").map_or(raw, |(_, n)| n);
        self.buses.contains(name).then(|| name.to_owned())
    }

    fn put_events(&self, input: &Value) -> Answer {
        let Some(entries) = input.get("Entries").and_then(Value::as_array) else {
            return Answer::error(
                400,
                "ValidationException",
                "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null",
            );
        };
        if entries.is_empty() || entries.len() > MAX_ENTRIES {
            return Answer::error(
                400,
                "ValidationException",
                format!(
                    "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and {MAX_ENTRIES}"
                ),
            );
        }
        let now = self.clock.now_ms();
        let mut results = Vec::with_capacity(entries.len());
        let mut failed = 0;
        for entry in entries {
            match self.accept(entry, now) {
                Ok(id) => results.push(json!({"EventId": id})),
                Err((code, message)) => {
                    failed += 1;
                    results.push(json!({"ErrorCode": code, "ErrorMessage": message}));
                }
            }
        }
        Answer::ok(json!({"FailedEntryCount": failed, "Entries": results}))
    }

    fn accept(&self, entry: &Value, now: i64) -> Result<String, (&'static str, String)> {
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let source = field("Source").ok_or((
            "InvalidArgument",
            "Parameter Source is not valid. Reason: Source is a required argument.".to_owned(),
        ))?;
        let detail_type = field("DetailType").ok_or((
            "InvalidArgument",
            "Parameter DetailType is not valid. Reason: DetailType is a required argument."
                .to_owned(),
        ))?;
        let detail_text = field("Detail").ok_or((
            "InvalidArgument",
            "Parameter Detail is not valid. Reason: Detail is a required argument.".to_owned(),
        ))?;
        let detail: Value = serde_json::from_str(detail_text)
            .ok()
            .filter(Value::is_object)
            .ok_or(("MalformedDetail", "Detail is malformed.".to_owned()))?;
        if entry.to_string().len() > MAX_ENTRY_BYTES {
            return Err((
                "InvalidArgument",
                "Total size of the entries in the request is over the limit.".to_owned(),
            ));
        }
        let bus = self.bus_of(entry).ok_or((
            "InvalidArgument",
            format!(
                "Event bus {} does not exist.",
                entry
                    .get("EventBusName")
                    .and_then(Value::as_str)
                    .unwrap_or("default")
            ),
        ))?;
        // `Time` arrives as epoch seconds (the SDKs' timestamp form); absent means now.
        let time_ms = entry
            .get("Time")
            .and_then(Value::as_f64)
            .map(|s| (s * 1000.0) as i64)
            .unwrap_or(now);
        let id = uuid::Uuid::new_v4().to_string();
        let envelope = json!({
            "version": "0",
            "id": id,
            "detail-type": detail_type,
            "source": source,
            "account": self.account_id,
            "time": chrono::DateTime::from_timestamp_millis(time_ms).unwrap_or_default().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "region": self.region,
            "resources": entry.get("Resources").cloned().unwrap_or_else(|| json!([])),
            "detail": detail,
            "event-bus-name": bus,
        });
        let mut accepted = self.accepted.lock().expect("events");
        if accepted.len() == KEEP {
            accepted.pop_front();
        }
        accepted.push_back(envelope);
        Ok(id)
    }

    /// The events accepted so far (oldest first), each in its delivered envelope plus the
    /// bus name under `event-bus-name`.
    pub fn accepted(&self) -> Vec<Value> {
        self.accepted
            .lock()
            .expect("events")
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn bridge() -> EventBridge {
        let stack = template::model::Stack {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            event_buses: vec![template::model::EventBus {
                logical_id: "Bus".into(),
                name: "app-events".into(),
                arn: "arn:aws:events:us-east-1:000000000000:event-bus/app-events".into(),
            }],
            ..Default::default()
        };
        EventBridge::new(
            &stack,
            clock::ManualClock::starting_at(1_795_773_600_000) as Arc<dyn clock::Clock>,
        )
    }

    #[test]
    fn put_events_answers_per_entry() {
        let eb = bridge();
        let body = json!({"Entries": [
            {"Source": "app", "DetailType": "x", "Detail": "{\"a\":1}", "EventBusName": "app-events"},
            {"Source": "app", "DetailType": "x", "Detail": "not json", "EventBusName": "app-events"},
            {"Source": "app", "DetailType": "x", "Detail": "{}", "EventBusName": "arn:aws:events:us-east-1:000000000000:event-bus/nope"},
            {"DetailType": "x", "Detail": "{}"},
            {"Source": "app", "DetailType": "y", "Detail": "{}", "Time": 1795773500.5}
        ]});
        let a = eb.dispatch("PutEvents", body.to_string().as_bytes());
        assert_eq!(a.status, 200);
        assert_eq!(a.body["FailedEntryCount"], json!(3));
        let e = a.body["Entries"].as_array().unwrap();
        assert!(e[0]["EventId"].is_string());
        assert_eq!(e[1]["ErrorCode"], json!("MalformedDetail"));
        assert_eq!(e[2]["ErrorCode"], json!("InvalidArgument"));
        assert_eq!(e[3]["ErrorCode"], json!("InvalidArgument"));
        let accepted = eb.accepted();
        assert_eq!(accepted.len(), 2);
        assert_eq!(
            accepted[0]["time"],
            json!("2026-11-27T10:00:00Z"),
            "time from devstack's clock"
        );
        assert_eq!(accepted[0]["detail"], json!({"a": 1}));
        assert_eq!(accepted[0]["account"], json!("000000000000"));
        assert_eq!(
            accepted[1]["time"],
            json!("2026-11-27T09:58:20Z"),
            "an entry's own Time wins"
        );
        assert_eq!(accepted[1]["event-bus-name"], json!("default"));
    }

    #[test]
    fn whole_request_errors() {
        let eb = bridge();
        assert_eq!(
            eb.dispatch("PutEvents", b"{").body["__type"],
            json!("SerializationException")
        );
        assert_eq!(
            eb.dispatch("PutEvents", b"{}").body["__type"],
            json!("ValidationException")
        );
        let eleven: Vec<Value> = (0..11)
            .map(|_| json!({"Source": "a", "DetailType": "b", "Detail": "{}"}))
            .collect();
        let a = eb.dispatch(
            "PutEvents",
            json!({"Entries": eleven}).to_string().as_bytes(),
        );
        assert_eq!(a.status, 400);
        assert_eq!(
            eb.dispatch("DescribeRule", b"{}").body["__type"],
            json!("UnknownOperationException")
        );
    }
}
