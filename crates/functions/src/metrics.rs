//! CloudWatch metrics in the Embedded Metric Format: one JSON line on stdout per data point,
//! which Lambda's log pipeline turns into metrics with no API call on the request path.
//!
//! Every point carries one dimension set, `[["Service"]]`; the template's alarms and dashboard
//! read exactly that namespace and dimension, so they never watch an empty metric.

use domain::EpochMillis;
use serde_json::json;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    LinkCreated,
    LinkResolved,
    LinkNotFound,
    ClickCounted,
    ClickDuplicate,
    /// A click for a link that no longer exists (deleted, or deleted and created again).
    ClickDropped,
    PublishFailed,
    /// A push to a WebSocket watcher that failed for a reason other than 410 Gone.
    PushFailed,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Self::LinkCreated => "LinkCreated",
            Self::LinkResolved => "LinkResolved",
            Self::LinkNotFound => "LinkNotFound",
            Self::ClickCounted => "ClickCounted",
            Self::ClickDuplicate => "ClickDuplicate",
            Self::ClickDropped => "ClickDropped",
            Self::PublishFailed => "PublishFailed",
            Self::PushFailed => "PushFailed",
        }
    }
}

/// Where EMF lines go: stdout in a function, a buffer in tests that assert on them.
#[derive(Clone, Debug, Default)]
pub enum Sink {
    #[default]
    Stdout,
    Memory(Arc<Mutex<Vec<serde_json::Value>>>),
}

#[derive(Clone, Debug)]
pub struct Metrics {
    namespace: String,
    service: String,
    sink: Sink,
}

impl Metrics {
    pub fn new(namespace: impl Into<String>, service: impl Into<String>, sink: Sink) -> Self {
        Self {
            namespace: namespace.into(),
            service: service.into(),
            sink,
        }
    }

    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        Ok(Self::new(
            crate::config::required("METRICS_NAMESPACE")?,
            crate::config::required("METRICS_SERVICE")?,
            Sink::Stdout,
        ))
    }

    /// Records `value` of a count metric at `at` (the handled event's time).
    pub fn count(&self, metric: Metric, value: u64, at: EpochMillis) {
        let line = json!({
            "_aws": {
                "Timestamp": at.0,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Service"]],
                    "Metrics": [{"Name": metric.name(), "Unit": "Count"}],
                }],
            },
            "Service": self.service,
            metric.name(): value,
        });
        match &self.sink {
            Sink::Stdout => println!("{line}"),
            Sink::Memory(buf) => buf.lock().expect("metrics buffer").push(line),
        }
    }
}

/// Sums recorded values per metric name, for tests.
pub fn totals(buf: &Mutex<Vec<serde_json::Value>>) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for line in buf.lock().expect("metrics buffer").iter() {
        let name = line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let v = line[&name].as_u64().unwrap_or(0);
        *out.entry(name).or_insert(0) += v;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_shape() {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let m = Metrics::new("UrlShortener", "url-shortener", Sink::Memory(buf.clone()));
        m.count(Metric::LinkResolved, 1, EpochMillis(1_700_000_000_000));
        let line = buf.lock().unwrap()[0].clone();
        assert_eq!(
            line,
            json!({
                "_aws": {"Timestamp": 1_700_000_000_000i64, "CloudWatchMetrics": [{
                    "Namespace": "UrlShortener", "Dimensions": [["Service"]],
                    "Metrics": [{"Name": "LinkResolved", "Unit": "Count"}]}]},
                "Service": "url-shortener", "LinkResolved": 1
            })
        );
        assert_eq!(totals(&buf)["LinkResolved"], 1);
    }
}
