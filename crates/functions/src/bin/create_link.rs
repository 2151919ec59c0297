//! POST /links
use functions::handlers::create_link::CreateLink;

#[tokio::main]
async fn main() -> Result<(), functions::Error> {
    functions::init_logging();
    let handler = CreateLink::from_env().await?;
    lambda_http::run(lambda_runtime::service_fn(|event| handler.handle(event))).await
}
