//! GET /{code}
use functions::handlers::resolve_link::ResolveLink;

#[tokio::main]
async fn main() -> Result<(), functions::Error> {
    functions::init_logging();
    let handler = ResolveLink::from_env().await?;
    lambda_http::run(lambda_runtime::service_fn(|event| handler.handle(event))).await
}
