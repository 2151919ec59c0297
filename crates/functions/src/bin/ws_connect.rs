//! WebSocket $connect.
use functions::handlers::ws_connect::WsConnect;

#[tokio::main]
async fn main() -> Result<(), functions::Error> {
    functions::init_logging();
    let handler = WsConnect::from_env().await?;
    lambda_runtime::run(lambda_runtime::service_fn(|event| handler.handle(event))).await
}
