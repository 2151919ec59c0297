//! What the embedding program supplies: the services a Task calls.

use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

/// A Task's call in flight.
pub type TaskFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, TaskError>> + Send + 'a>>;

/// A synchronous (RequestResponse) Lambda invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaCall {
    /// A function name or ARN (possibly qualified), as the state machine gives it.
    pub function: String,
    /// `Qualifier` of `arn:aws:states:::lambda:invoke`.
    pub qualifier: Option<String>,
    /// The JSON payload.
    pub payload: Vec<u8>,
}

/// The function's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaResult {
    pub request_id: String,
    pub payload: Vec<u8>,
    /// Set when the function failed (`X-Amz-Function-Error`); the payload then holds
    /// `{"errorType", "errorMessage"}`, and `errorType` becomes the state's error name.
    pub function_error: Option<String>,
    /// `$LATEST` or the version run.
    pub executed_version: String,
}

/// Why a call produced no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The service refused or failed the call, with its AWS error code as the wire names it
    /// (`ResourceNotFoundException`, `ConditionalCheckFailedException`,
    /// `InternalServerError`...), its message and HTTP status. Step Functions names the
    /// state's error after it: `Lambda.TooManyRequestsException`,
    /// `DynamoDB.ConditionalCheckFailedException`.
    Service {
        code: String,
        message: String,
        status: u16,
    },
    /// The embedder is stopping: the outcome is unknown. Nothing is recorded; the execution
    /// stays running, and the next start resumes it (the task then counts as failed with
    /// `States.TaskFailed`, and its Retry and Catch decide).
    Interrupted,
}

/// The services Task states reach. devstack implements it with its Lambda service and its
/// DynamoDB engine; tests with fakes.
pub trait Tasks: Send + Sync + 'static {
    fn invoke_lambda(&self, call: LambdaCall) -> TaskFuture<'_, LambdaResult>;

    /// A DynamoDB call: `operation` is `GetItem`, `PutItem`, `UpdateItem` or `DeleteItem`, and
    /// `request` the state's Parameters, which are exactly the operation's JSON request.
    /// Returns the JSON response.
    fn dynamodb(&self, operation: &str, request: Value) -> TaskFuture<'_, Value>;
}

/// Makes execution names (when StartExecution gives none), `States.UUID()` values and request
/// ids; injectable so that a run on a virtual clock is reproduced exactly.
pub type IdGenerator = Box<dyn Fn() -> String + Send + Sync>;
