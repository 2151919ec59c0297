//! The click queue's consumer.
use functions::handlers::click_aggregator::ClickAggregator;

#[tokio::main]
async fn main() -> Result<(), functions::Error> {
    functions::init_logging();
    let handler = ClickAggregator::from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handler.handle(event))).await
}
