//! The two kinds of failure: [`CognitoError`] for devstack's own calls (start-up, `token_for`)
//! and [`Fault`], an AWS error answer (`__type`, `message`, status) for the wire protocol.

use crate::Answer;
use std::path::PathBuf;

/// Why devstack's Cognito could not start or could not serve one of devstack's own calls.
#[derive(Debug, thiserror::Error)]
pub enum CognitoError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a usable RSA signing key: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("cannot create the RSA signing key: {0}")]
    KeyGeneration(String),
    #[error("{} is not devstack's Cognito state: {source}", path.display())]
    BadState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot sign a token: {0}")]
    Signing(String),
    #[error("the system's random number generator failed")]
    Random,
    #[error("the stack has no Cognito user pool")]
    NoPool,
    #[error("the stack has several user pools ({0}); say which one")]
    AmbiguousPool(String),
    #[error("the stack has no user pool {0:?} (give its id, logical id or name)")]
    UnknownPool(String),
    #[error("user pool {0} has no app client")]
    NoClient(String),
    #[error("user pool {pool} has no app client {client:?} (give its id, logical id or name)")]
    UnknownClient { pool: String, client: String },
    /// A Cognito rule refused the request (an invalid username, a disabled user...), with the
    /// error code the API would have answered.
    #[error("{code}: {message}")]
    Refused { code: &'static str, message: String },
}

/// An error answer of the Cognito API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fault {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Fault {
    /// A client error (400), which is what Cognito answers for every modelled exception.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code,
            message: message.into(),
        }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    pub fn not_authorized(message: impl Into<String>) -> Self {
        Self::new("NotAuthorizedException", message)
    }

    pub fn user_not_found() -> Self {
        Self::new("UserNotFoundException", "User does not exist.")
    }

    /// A required member that is absent, worded as AWS's request validation words it.
    pub fn missing(field: &str) -> Self {
        Self::invalid_parameter(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            camel(field)
        ))
    }

    pub fn constraint(field: &str, value: &str, constraint: &str) -> Self {
        Self::invalid_parameter(format!(
            "1 validation error detected: Value '{value}' at '{}' failed to satisfy constraint: {constraint}",
            camel(field)
        ))
    }

    /// A member of the wrong JSON type: the SDKs never send one, so it is a malformed request.
    pub fn wrong_type(field: &str) -> Self {
        Self::new(
            "SerializationException",
            format!("{field} has the wrong JSON type"),
        )
    }
}

/// `UserPoolId` -> `userPoolId`, the spelling of AWS's validation messages.
fn camel(field: &str) -> String {
    let mut chars = field.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<CognitoError> for Fault {
    fn from(e: CognitoError) -> Self {
        match e {
            CognitoError::Refused { code, message } => Fault::new(code, message),
            other => Fault {
                status: 500,
                code: "InternalErrorException",
                message: format!("devstack's Cognito failed: {other}"),
            },
        }
    }
}

impl From<Fault> for CognitoError {
    fn from(f: Fault) -> Self {
        CognitoError::Refused {
            code: f.code,
            message: f.message,
        }
    }
}

impl From<Fault> for Answer {
    fn from(f: Fault) -> Self {
        Answer::error(f.status, f.code, f.message)
    }
}
