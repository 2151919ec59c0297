//! WebSocket $disconnect.
use functions::handlers::ws_disconnect::WsDisconnect;

#[tokio::main]
async fn main() -> Result<(), functions::Error> {
    functions::init_logging();
    let handler = WsDisconnect::from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handler.handle(event))).await
}
