//! GET /links
use functions::handlers::list_links::ListLinks;

#[tokio::main]
async fn main() -> Result<(), functions::Error> {
    functions::init_logging();
    let handler = ListLinks::from_env().await?;
    lambda_http::run(lambda_runtime::service_fn(|event| handler.handle(event))).await
}
