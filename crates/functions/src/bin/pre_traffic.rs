//! CodeDeploy's PreTraffic hook: smoke-tests the redirect function's new version.
use functions::handlers::pre_traffic::PreTraffic;

#[global_allocator]
static ALLOC: functions::Allocator = functions::Allocator;

// One thread: an instance handles one invocation at a time, and a multi-thread runtime only
// adds cross-thread wake-ups (futex, context switches) to every SDK call it makes.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), functions::Error> {
    functions::init_logging();
    let handler = PreTraffic::from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handler.handle(event))).await
}
