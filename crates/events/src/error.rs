//! [`EventsError`] for devstack's own calls (opening the state), and `Fault`, an AWS error
//! answer of the wire protocol.

use crate::Answer;
use std::path::PathBuf;

/// Why devstack's EventBridge could not open or save its state.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not devstack's EventBridge state: {source}", path.display())]
    BadState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// An error answer: every modelled EventBridge exception is a client error (400); a state that
/// cannot be saved is AWS's `InternalException` (500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Fault {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    /// The answer to a request whose members have the wrong JSON types, which an SDK never
    /// sends but a hand-written request may.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", message)
    }

    pub fn internal(error: &EventsError) -> Self {
        Self {
            status: 500,
            code: "InternalException",
            message: format!("devstack could not save EventBridge's state: {error}"),
        }
    }

    pub fn answer(&self) -> Answer {
        Answer::error(self.status, self.code, self.message.clone())
    }
}
