//! WebSocket `$connect?code=&token=`: only the owner of `code`, proven by a Cognito JWT, may
//! watch its counts. (The original accepted anyone.)

use crate::jwt::Verifier;
use crate::store::{Connection, Store};
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use domain::{EpochMillis, ShortCode};
use lambda_runtime::LambdaEvent;

/// API Gateway closes a WebSocket after 2 hours whatever happens; the connection item lives as
/// long, so a lost `$disconnect` leaves nothing behind for longer.
pub const MAX_CONNECTION_SECS: i64 = 2 * 3600;

pub struct WsConnect {
    pub store: Store,
    pub verifier: Verifier,
}

pub fn reply(status: i64, message: &str) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = status;
    r.body = Some(Body::Text(message.to_owned()));
    r
}

impl WsConnect {
    pub async fn from_env() -> Result<Self, crate::Error> {
        let sdk = crate::config::sdk().await;
        Ok(Self {
            store: Store::from_env(&sdk)?,
            verifier: Verifier::from_env()?,
        })
    }

    pub async fn handle(
        &self,
        event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
    ) -> Result<ApiGatewayProxyResponse, crate::Error> {
        let req = event.payload;
        let ctx = &req.request_context;
        let now = EpochMillis(ctx.request_time_epoch);
        let Some(connection_id) = ctx.connection_id.clone() else {
            return Ok(reply(400, "no connection id"));
        };
        let Some(token) = req.query_string_parameters.first("token") else {
            return Ok(reply(401, "a token query parameter is required"));
        };
        let claims = match self.verifier.verify(token, now).await {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(error = %e, "connect refused: token");
                return Ok(reply(401, "the token is not valid"));
            }
        };
        let Some(code) = req
            .query_string_parameters
            .first("code")
            .and_then(|c| ShortCode::parse(c).ok())
        else {
            return Ok(reply(400, "a valid code query parameter is required"));
        };
        // Missing and not-yours look the same: a watcher learns nothing about others' codes.
        match self.store.get_link(&code, true).await? {
            Some(link) if link.owner == claims.sub => {}
            _ => {
                tracing::info!(code = %code, "connect refused: not the owner");
                return Ok(reply(403, "forbidden"));
            }
        }
        let connected_at = EpochMillis(if ctx.connected_at > 0 {
            ctx.connected_at
        } else {
            now.0
        });
        self.store
            .put_connection(&Connection {
                id: connection_id,
                code,
                owner: claims.sub,
                connected_at,
                expires_at: connected_at.plus_secs(MAX_CONNECTION_SECS),
            })
            .await?;
        Ok(reply(200, "connected"))
    }
}
