//! devstack's Lambda service.
//!
//! A function is an executable (a `lambda_runtime` binary, for us) run as local processes
//! that talk to our implementation of the Lambda Runtime API, exactly as they talk to AWS's:
//! long-poll `next`, post a `response` or an `error`. Instances start on demand (a cold start,
//! with its Init Duration measured), are reused while warm, and scale out up to the function's
//! reserved concurrency or the account limit; beyond that a synchronous invoke is throttled.
//! Timeouts kill the instance; a crash or an init failure fails the invocation and the
//! instance is replaced on the next demand.
//!
//! [`LambdaService::invoke`] is what the gateways, event source pollers and the Invoke API
//! call. [`LambdaService::runtime_router`] and [`api::router`] are mounted by devstack on its
//! edge port.

pub mod api;
pub mod logs;
mod runtime;
mod service;

pub use logs::{LogLine, LogSink};
pub use service::{
    FunctionConfig, FunctionError, InjectedFault, InvokeError, InvokeRequest, Invoked,
    LambdaService, Settings,
};
