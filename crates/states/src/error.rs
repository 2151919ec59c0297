//! Errors: [`StatesError`] for devstack's own calls (opening the store), [`DefinitionError`]
//! for a definition that is refused at load, `Failure` for an error raised while an execution
//! runs (an ASL error name and its cause), and `Fault`, an AWS error answer.

use crate::Answer;
use std::path::PathBuf;

/// Why devstack's Step Functions could not open its store.
#[derive(Debug, thiserror::Error)]
pub enum StatesError {
    #[error("cannot open the Step Functions database {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("Step Functions must be opened inside a tokio runtime (its executions run as tasks)")]
    NoRuntime,
}

/// A definition that Step Functions would refuse, or that devstack cannot run in full. The
/// display form is Step Functions' own: `Invalid State Machine Definition: 'CODE: message at
/// /States/Name/Field'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid State Machine Definition: '{code}: {message} at {location}'")]
pub struct DefinitionError {
    /// `SCHEMA_VALIDATION_FAILED`, `MISSING_TRANSITION_TARGET`, ... or
    /// `UNSUPPORTED_BY_DEVSTACK` for what ASL allows but devstack does not run yet.
    pub code: &'static str,
    pub message: String,
    /// A JSON pointer into the definition: `/States/Check/Retry/0/ErrorEquals`.
    pub location: String,
}

impl DefinitionError {
    pub fn schema(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: "SCHEMA_VALIDATION_FAILED",
            message: message.into(),
            location: location.into(),
        }
    }

    pub fn unsupported(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: "UNSUPPORTED_BY_DEVSTACK",
            message: message.into(),
            location: location.into(),
        }
    }

    /// True when the definition is valid ASL that devstack does not run.
    pub fn is_unsupported(&self) -> bool {
        self.code == "UNSUPPORTED_BY_DEVSTACK"
    }
}

/// An error raised in an execution: what a Retrier or Catcher matches and what
/// `ExecutionFailed` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: String,
    pub cause: String,
}

impl Failure {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: cause.into(),
        }
    }

    /// `States.Runtime`: a path that selects nothing, a value of the wrong type. Neither
    /// retried nor caught (not even by `States.ALL`): the execution fails.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(errors::RUNTIME, cause)
    }

    pub fn intrinsic(cause: impl Into<String>) -> Self {
        Self::new(errors::INTRINSIC_FAILURE, cause)
    }

    /// Errors that no Retrier or Catcher handles.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.error.as_str(),
            errors::RUNTIME | errors::DATA_LIMIT_EXCEEDED
        )
    }
}

/// The standard error names.
pub mod errors {
    pub const ALL: &str = "States.ALL";
    pub const TASK_FAILED: &str = "States.TaskFailed";
    pub const TIMEOUT: &str = "States.Timeout";
    pub const RUNTIME: &str = "States.Runtime";
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    pub const PERMISSIONS: &str = "States.Permissions";
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    pub const BRANCH_FAILED: &str = "States.BranchFailed";

    /// Whether `pattern` (an `ErrorEquals` entry) matches the error `name`: itself,
    /// `States.ALL` (anything but the terminal errors), or `States.TaskFailed` (any error but
    /// `States.Timeout`).
    pub fn matches(pattern: &str, name: &str) -> bool {
        if matches!(name, RUNTIME | DATA_LIMIT_EXCEEDED) {
            return false;
        }
        pattern == name || pattern == ALL || (pattern == TASK_FAILED && name != TIMEOUT)
    }
}

/// An error answer of the API: Step Functions' exceptions are client errors (400), a store
/// that cannot be written is a 500.
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

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            code: "InternalServerError",
            message: message.into(),
        }
    }

    pub fn answer(&self) -> Answer {
        Answer::error(self.status, self.code, self.message.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::errors::*;

    #[test]
    fn error_matching() {
        assert!(matches("States.ALL", "Lambda.ServiceException"));
        assert!(matches("States.ALL", TIMEOUT));
        assert!(!matches("States.ALL", RUNTIME));
        assert!(!matches("States.ALL", DATA_LIMIT_EXCEEDED));
        assert!(matches(TASK_FAILED, "Lambda.ServiceException"));
        assert!(matches(TASK_FAILED, "MyError"));
        assert!(!matches(TASK_FAILED, TIMEOUT));
        assert!(matches(TIMEOUT, TIMEOUT));
        assert!(matches("MyError", "MyError"));
        assert!(!matches("MyError", "myerror"));
    }
}
