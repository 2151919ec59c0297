//! The SQS consumer that counts clicks exactly once and pushes new counts to watchers.
//!
//! Per record, one transaction (see [`Store::count_click`]) decides: counted, duplicate, link
//! gone, or retryable. Only retryable records (transaction conflicts, throttling, server
//! errors, malformed bodies) are reported in `batchItemFailures`, so SQS redelivers exactly
//! those, and after `maxReceiveCount` moves them to the DLQ where nothing is lost.
//!
//! Pushing after the commit: the push carries absolute counts read after the commit, never a
//! delta, so sending it again is harmless. If a push fails (other than 410 Gone), the records
//! of that link are reported as failed; their redelivery finds the marker, counts nothing, and
//! pushes the then-current counts again. A duplicate always pushes too. So a committed count
//! reaches its watchers even when the first push after it fails (the original system's
//! duplicate path skipped the push and the update was lost for good).

use crate::metrics::{Metric, Metrics};
use crate::push::{PushOutcome, Pusher};
use crate::store::{ClickOutcome, Store};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use domain::{ClickEvent, EpochMillis, ShortCode};
use lambda_runtime::LambdaEvent;
use std::collections::BTreeMap;

pub struct ClickAggregator {
    pub store: Store,
    pub pusher: Pusher,
    pub metrics: Metrics,
    /// How long a click's marker lives after the click, in seconds: longer than any path by
    /// which the same click can still arrive (source queue retention, then DLQ retention, then
    /// a redrive window), so a redriven old click is still recognised as a duplicate.
    pub marker_ttl_secs: i64,
}

/// Why a record could not be processed at all.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the record has no body")]
    NoBody,
    #[error("the body is not an EventBridge event: {0}")]
    Envelope(String),
    #[error("{0}")]
    Event(#[from] domain::events::EventError),
}

impl ClickAggregator {
    pub async fn from_env() -> Result<Self, crate::Error> {
        let sdk = crate::config::sdk().await;
        use crate::config::seconds;
        Ok(Self {
            store: Store::from_env(&sdk)?,
            pusher: Pusher::from_env(&sdk)?,
            metrics: Metrics::from_env()?,
            marker_ttl_secs: seconds("CLICK_QUEUE_RETENTION_SECONDS")?
                + seconds("CLICK_DLQ_RETENTION_SECONDS")?
                + seconds("CLICK_REDRIVE_WINDOW_SECONDS")?,
        })
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<SqsEvent>,
    ) -> Result<SqsBatchResponse, crate::Error> {
        let mut failed: Vec<String> = Vec::new();
        // Per link: the records that changed (or re-confirmed) its count, and the latest time.
        let mut touched: BTreeMap<ShortCode, (Vec<String>, EpochMillis)> = BTreeMap::new();

        for record in &event.payload.records {
            let Some(id) = record.message_id.clone() else {
                tracing::error!("SQS record without a messageId; cannot acknowledge or report it");
                continue;
            };
            let click = match parse(record) {
                Ok(c) => c,
                Err(e) => {
                    // Reported, not dropped: after maxReceiveCount it rests in the DLQ for
                    // someone to read.
                    tracing::error!(message_id = %id, error = %e, "malformed click record");
                    failed.push(id);
                    continue;
                }
            };
            let now = sent_at(record).unwrap_or(click.at);
            let marker_expires = click.at.plus_secs(self.marker_ttl_secs);
            let outcome = match self.store.count_click(&click, marker_expires).await {
                Ok(o) => o,
                Err(e) => ClickOutcome::Retryable(e.to_string()),
            };
            match outcome {
                ClickOutcome::Counted | ClickOutcome::Duplicate => {
                    let metric = if outcome == ClickOutcome::Counted {
                        Metric::ClickCounted
                    } else {
                        tracing::info!(message_id = %id, click_id = %click.click_id, "duplicate click ignored");
                        Metric::ClickDuplicate
                    };
                    self.metrics.count(metric, 1, now);
                    let entry = touched
                        .entry(click.code.clone())
                        .or_insert((Vec::new(), now));
                    entry.0.push(id);
                    entry.1 = entry.1.max(now);
                }
                ClickOutcome::LinkGone => {
                    tracing::warn!(message_id = %id, code = %click.code, click_id = %click.click_id,
                        "click for a link that no longer exists; dropped");
                    self.metrics.count(Metric::ClickDropped, 1, now);
                }
                ClickOutcome::Retryable(reason) => {
                    tracing::warn!(message_id = %id, click_id = %click.click_id, reason = %reason,
                        "click not counted; reported for redelivery");
                    failed.push(id);
                }
            }
        }

        for (code, (ids, now)) in touched {
            if let Err(reason) = self.push(&code, now).await {
                tracing::warn!(code = %code, reason = %reason, "push failed; records reported so the push is retried");
                self.metrics.count(Metric::PushFailed, 1, now);
                failed.extend(ids);
            }
        }

        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|id| {
                let mut f = BatchItemFailure::default();
                f.item_identifier = id;
                f
            })
            .collect();
        Ok(response)
    }

    /// Pushes `{code, clicks, today}` to every watcher of `code`; 410 Gone deletes the watcher.
    async fn push(&self, code: &ShortCode, now: EpochMillis) -> Result<(), String> {
        let Some((clicks, today)) = self
            .store
            .counts(code, now.day())
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(()); // deleted meanwhile: nobody to tell
        };
        let watchers = self.store.watchers(code).await.map_err(|e| e.to_string())?;
        if watchers.is_empty() {
            return Ok(());
        }
        let payload = serde_json::json!({ "code": code, "clicks": clicks, "today": today });
        let outcomes =
            futures::future::join_all(watchers.iter().map(|w| self.pusher.push(w, &payload))).await;
        let mut errors = Vec::new();
        for (watcher, outcome) in watchers.iter().zip(outcomes) {
            match outcome {
                PushOutcome::Delivered => {}
                PushOutcome::Gone => {
                    tracing::info!(connection_id = %watcher, "watcher gone; connection removed");
                    if let Err(e) = self.store.delete_connection(watcher).await {
                        errors.push(e.to_string());
                    }
                }
                PushOutcome::Failed(e) => errors.push(format!("{watcher}: {e}")),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }
}

/// The click inside an SQS record whose body is the EventBridge event the rule delivered.
pub fn parse(record: &SqsMessage) -> Result<ClickEvent, RecordError> {
    let body = record.body.as_deref().ok_or(RecordError::NoBody)?;
    let envelope: serde_json::Value =
        serde_json::from_str(body).map_err(|e| RecordError::Envelope(e.to_string()))?;
    let detail_type = envelope
        .get("detail-type")
        .and_then(|d| d.as_str())
        .unwrap_or_default();
    if detail_type != domain::events::CLICKED {
        return Err(domain::events::EventError::DetailType(detail_type.to_owned()).into());
    }
    let detail = envelope
        .get("detail")
        .ok_or_else(|| RecordError::Envelope("no detail".into()))?;
    Ok(ClickEvent::from_detail(detail)?)
}

/// When SQS accepted the message: the aggregator's "now".
fn sent_at(record: &SqsMessage) -> Option<EpochMillis> {
    record
        .attributes
        .get("SentTimestamp")
        .and_then(|t| t.parse().ok())
        .map(EpochMillis)
}
