//! Publishing to the product's EventBridge bus, with the retries AWS leaves to the caller:
//! PutEvents can succeed as a call yet fail some entries (`FailedEntryCount`), and only those
//! entries are sent again. An entry's detail never changes between attempts, so a consumer
//! de-duplicates on the ids inside it (the click id), not on the EventBridge event id.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_types::DateTime;
use domain::EpochMillis;
use std::time::Duration;

/// Attempts per entry, the first included.
const ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("PutEvents failed: {0}")]
    Call(String),
    #[error("{failed} of {total} events were not accepted after {ATTEMPTS} attempts: {reasons}")]
    Entries {
        failed: usize,
        total: usize,
        reasons: String,
    },
}

#[derive(Debug, Clone)]
pub struct Event {
    pub detail_type: &'static str,
    pub detail: serde_json::Value,
    pub time: EpochMillis,
    pub resources: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Publisher {
    client: Client,
    bus: String,
    backoff: Duration,
}

impl Publisher {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            backoff: Duration::from_millis(20),
        }
    }

    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, crate::config::ConfigError> {
        Ok(Self::new(
            Client::new(sdk),
            crate::config::required("EVENT_BUS_NAME")?,
        ))
    }

    pub async fn publish(&self, events: &[Event]) -> Result<(), PublishError> {
        let mut pending: Vec<PutEventsRequestEntry> = events
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(domain::events::SOURCE)
                    .detail_type(e.detail_type)
                    .detail(e.detail.to_string())
                    .time(DateTime::from_millis(e.time.0))
                    .set_resources(Some(e.resources.clone()))
                    .build()
            })
            .collect();
        let total = pending.len();
        let mut reasons = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(self.backoff * 2u32.pow(attempt - 1)).await;
            }
            let out = self
                .client
                .put_events()
                .set_entries(Some(pending.clone()))
                .send()
                .await
                .map_err(|e| {
                    PublishError::Call(
                        aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
                    )
                })?;
            if out.failed_entry_count() == 0 {
                return Ok(());
            }
            // Result entries are in request order; an entry with an error code failed.
            let mut retry = Vec::new();
            reasons.clear();
            for (entry, result) in pending.iter().zip(out.entries()) {
                if let Some(code) = result.error_code() {
                    reasons.push_str(&format!(
                        "{code} ({}); ",
                        result.error_message().unwrap_or_default()
                    ));
                    retry.push(entry.clone());
                }
            }
            if retry.is_empty() {
                // A count without per-entry errors: nothing identifies what to resend.
                return Err(PublishError::Entries {
                    failed: out.failed_entry_count() as usize,
                    total,
                    reasons: "FailedEntryCount without entry errors".into(),
                });
            }
            tracing::warn!(attempt, failed = retry.len(), reasons = %reasons, "PutEvents entries failed; retrying them");
            pending = retry;
        }
        Err(PublishError::Entries {
            failed: pending.len(),
            total,
            reasons: reasons.trim_end_matches("; ").to_owned(),
        })
    }
}
