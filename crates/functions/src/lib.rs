//! The URL shortener's Lambda functions. Each binary in `src/bin` is a few lines that build its
//! handler from the environment once (SDK clients included) and hand it to `lambda_runtime`;
//! the handlers live here so tests drive them with real event payloads.
//!
//! Two rules hold for every handler, so that devstack runs these binaries unchanged:
//! every endpoint and name comes from the environment the template gives, and "now" comes from
//! the event being handled, never from the system clock.

pub mod config;
pub mod handlers;
pub mod http;
pub mod jwt;
pub mod metrics;
pub mod problem;
pub mod publish;
pub mod push;
pub mod store;

pub use lambda_runtime::Error;

/// Logs as Lambda's advanced logging controls ask (`AWS_LAMBDA_LOG_FORMAT=JSON`,
/// `AWS_LAMBDA_LOG_LEVEL`); each invocation's span carries the request id and X-Ray trace id.
/// The functions' allocator, which each binary installs: glibc malloc's free-list upkeep
/// (consolidation, unlinking chunks) was about a seventh of a function's CPU per request, most
/// of it the SDK's many small allocations.
pub use mimalloc::MiMalloc as Allocator;

pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}
