//! The moderation state machine's safety check.
use functions::handlers::moderate_check::ModerateCheck;

#[tokio::main]
async fn main() -> Result<(), functions::Error> {
    functions::init_logging();
    let handler = ModerateCheck::from_env()?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handler.handle(event))).await
}
