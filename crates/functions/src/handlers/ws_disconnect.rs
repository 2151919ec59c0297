//! WebSocket `$disconnect`: forget the watcher.

use super::ws_connect::reply;
use crate::store::Store;
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::LambdaEvent;

pub struct WsDisconnect {
    pub store: Store,
}

impl WsDisconnect {
    pub async fn from_env() -> Result<Self, crate::Error> {
        let sdk = crate::config::sdk().await;
        Ok(Self {
            store: Store::from_env(&sdk)?,
        })
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
    ) -> Result<ApiGatewayProxyResponse, crate::Error> {
        if let Some(id) = &event.payload.request_context.connection_id {
            self.store.delete_connection(id).await?;
        }
        Ok(reply(200, "disconnected"))
    }
}
