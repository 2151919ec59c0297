//! What the pollers need of a queue service: devstack's own SQS, or an external one (moto,
//! LocalStack, AWS) that devstack reaches over the wire (`--sqs-endpoint`).

use sqs::{MovedToDlq, Received, Sqs};
use std::future::Future;
use std::pin::Pin;

pub type QueueFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, QueueError>> + Send + 'a>>;

/// A queue call that failed; the pollers log it and carry on (or stop, for a queue that is
/// gone).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueueError(pub String);

impl From<sqs::SqsError> for QueueError {
    fn from(e: sqs::SqsError) -> Self {
        Self(e.to_string())
    }
}

/// The calls a poller makes, by queue name.
pub trait Queues: Send + Sync {
    /// Waits until a message of the queue may be visible (`true`) or the real-time
    /// `deadline` passes (`false`). A `true` that turns out wrong costs one empty receive.
    fn wait_for_messages<'a>(
        &'a self,
        queue: &'a str,
        deadline: tokio::time::Instant,
    ) -> QueueFuture<'a, bool>;

    /// Receives up to `max` messages at once (no long poll), with the messages that the
    /// receive moved to the dead-letter queue instead, when the service tells.
    fn receive<'a>(
        &'a self,
        queue: &'a str,
        max: usize,
    ) -> QueueFuture<'a, (Vec<Received>, Vec<MovedToDlq>)>;

    fn delete<'a>(&'a self, queue: &'a str, receipt_handle: &'a str) -> QueueFuture<'a, ()>;

    fn change_visibility<'a>(
        &'a self,
        queue: &'a str,
        receipt_handle: &'a str,
        seconds: u32,
    ) -> QueueFuture<'a, ()>;

    /// Whether the queue has a message ready to receive (or one on its way in): what
    /// `Pollers::idle` asks.
    fn has_visible<'a>(&'a self, queue: &'a str) -> QueueFuture<'a, bool>;
}

impl Queues for Sqs {
    fn wait_for_messages<'a>(
        &'a self,
        queue: &'a str,
        deadline: tokio::time::Instant,
    ) -> QueueFuture<'a, bool> {
        Box::pin(async move { Ok(Sqs::wait_for_messages(self, queue, deadline).await?) })
    }

    fn receive<'a>(
        &'a self,
        queue: &'a str,
        max: usize,
    ) -> QueueFuture<'a, (Vec<Received>, Vec<MovedToDlq>)> {
        Box::pin(async move { Ok(self.receive_with_moves(queue, max, None)?) })
    }

    fn delete<'a>(&'a self, queue: &'a str, receipt_handle: &'a str) -> QueueFuture<'a, ()> {
        Box::pin(async move { Ok(Sqs::delete(self, queue, receipt_handle)?) })
    }

    fn change_visibility<'a>(
        &'a self,
        queue: &'a str,
        receipt_handle: &'a str,
        seconds: u32,
    ) -> QueueFuture<'a, ()> {
        Box::pin(async move {
            Ok(Sqs::change_visibility(
                self,
                queue,
                receipt_handle,
                seconds,
            )?)
        })
    }

    fn has_visible<'a>(&'a self, queue: &'a str) -> QueueFuture<'a, bool> {
        // A queue that is gone has nothing to deliver.
        Box::pin(async move { Ok(self.stats(queue).map(|s| s.visible > 0).unwrap_or(false)) })
    }
}
