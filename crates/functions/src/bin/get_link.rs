//! GET /links/{code}
use functions::handlers::get_link::GetLink;

#[tokio::main]
async fn main() -> Result<(), functions::Error> {
    functions::init_logging();
    let handler = GetLink::from_env().await?;
    lambda_http::run(lambda_runtime::service_fn(|event| handler.handle(event))).await
}
