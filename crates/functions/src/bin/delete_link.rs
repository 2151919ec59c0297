//! DELETE /links/{code}
use functions::handlers::delete_link::DeleteLink;

#[tokio::main]
async fn main() -> Result<(), functions::Error> {
    functions::init_logging();
    let handler = DeleteLink::from_env().await?;
    lambda_http::run(lambda_runtime::service_fn(|event| handler.handle(event))).await
}
