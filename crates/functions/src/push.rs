//! Pushing to WebSocket watchers through the API Gateway management API (`POST
//! /@connections/{id}` under the stage URL from `WS_MANAGEMENT_ENDPOINT`).

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata;
use aws_sdk_apigatewaymanagement::primitives::Blob;

#[derive(Debug, PartialEq, Eq)]
pub enum PushOutcome {
    Delivered,
    /// 410: the client is gone; its connection item should be deleted.
    Gone,
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct Pusher {
    client: Client,
}

impl Pusher {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A client for the stage URL `endpoint`, e.g.
    /// `https://{api}.execute-api.{region}.amazonaws.com/{stage}`.
    pub fn for_endpoint(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Self::new(Client::from_conf(config))
    }

    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, crate::config::ConfigError> {
        Ok(Self::for_endpoint(
            sdk,
            &crate::config::required("WS_MANAGEMENT_ENDPOINT")?,
        ))
    }

    pub async fn push(&self, connection_id: &str, payload: &serde_json::Value) -> PushOutcome {
        let result = self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(payload.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => PushOutcome::Delivered,
            Err(e)
                if e.code() == Some("GoneException")
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 410) =>
            {
                PushOutcome::Gone
            }
            Err(e) => PushOutcome::Failed(
                aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
            ),
        }
    }
}
