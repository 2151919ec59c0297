//! devstack's API Gateway.
//!
//! [`HttpGateway`] serves one HTTP API from the template: it matches a request to a route with
//! API Gateway's priority, applies CORS and per-route throttling, builds the payload 2.0 event
//! exactly as the Lambda contract (and `lambda_http`) expects, invokes the route's function
//! through the Lambda service, and turns the function's answer into the HTTP response as API
//! Gateway does (structured or simple format, cookies, base64 bodies).
//!
//! [`WebSocketGateway`] serves one WebSocket API: the handshake through `$connect`, messages
//! routed by the `RouteSelectionExpression`, `$disconnect` on every close, and the
//! `@connections` management API on the same port (see the `ws` module); a
//! [`ConnectionFaults`] hook can make a connection gone at a `@connections` POST.

mod auth;
mod cors;
mod event;
pub mod route;
mod throttle;
mod ws;

pub use ws::{ConnectionFaults, ConnectionInfo, Limits as WebSocketLimits, WebSocketGateway};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use clock::SharedClock;
use http::{HeaderMap, HeaderValue, StatusCode};
use lambda::{InvokeError, InvokeRequest, LambdaService};
use route::{Pattern, Routes};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use template::model::{HttpApi, HttpRoute, RouteAuth};
use throttle::Throttles;

/// HTTP APIs accept request bodies up to 10 MB.
const MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("HTTP API {api}: {source}")]
    Route {
        api: String,
        source: route::BadRouteKey,
    },
    #[error(
        "HTTP API {api}: route {route} targets function {function}, which the template does not define"
    )]
    Function {
        api: String,
        route: String,
        function: String,
    },
}

struct Target {
    route: HttpRoute,
    /// The function's physical name.
    function: String,
}

pub struct HttpGateway {
    api: HttpApi,
    routes: Routes<Target>,
    lambda: LambdaService,
    clock: SharedClock,
    account_id: String,
    throttles: Throttles,
    verifier: auth::JwtVerifier,
}

impl HttpGateway {
    /// `functions` maps the template's function logical ids to their names.
    pub fn new(
        api: HttpApi,
        functions: &BTreeMap<String, String>,
        lambda: LambdaService,
        clock: SharedClock,
        account_id: impl Into<String>,
    ) -> Result<Self, GatewayError> {
        let mut table = Vec::new();
        for r in &api.routes {
            let pattern = Pattern::parse(&r.route_key).map_err(|source| GatewayError::Route {
                api: api.logical_id.clone(),
                source,
            })?;
            let function = functions
                .get(&r.function)
                .ok_or_else(|| GatewayError::Function {
                    api: api.logical_id.clone(),
                    route: r.route_key.clone(),
                    function: r.function.clone(),
                })?;
            table.push((
                pattern,
                Target {
                    route: r.clone(),
                    function: function.clone(),
                },
            ));
        }
        Ok(Self {
            routes: Routes::new(table),
            api,
            lambda,
            clock,
            account_id: account_id.into(),
            throttles: Throttles::default(),
            verifier: auth::JwtVerifier::default(),
        })
    }

    /// The gateway as an axum router (every path goes through [`HttpGateway::handle`]). Serve
    /// it with `into_make_service_with_connect_info::<SocketAddr>()` so events carry the
    /// caller's address as `sourceIp`.
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new().fallback(move |req: Request| {
            let gw = self.clone();
            async move { gw.handle(req).await }
        })
    }

    pub async fn handle(&self, req: Request) -> Response {
        let request_id = event::request_id();
        let mut resp = self.serve(req, &request_id).await;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("apigw-requestid", v);
        }
        resp
    }

    async fn serve(&self, req: Request, request_id: &str) -> Response {
        let source_ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "127.0.0.1".into());
        let (parts, body) = req.into_parts();
        let method = parts.method.as_str().to_owned();
        if let Some(cors) = &self.api.cors
            && cors::is_preflight(&method, &parts.headers)
        {
            let mut r = StatusCode::NO_CONTENT.into_response();
            *r.headers_mut() = cors::preflight(cors, &parts.headers);
            return r;
        }
        let raw_path = parts.uri.path().to_owned();
        let Some((pattern, target, params)) =
            self.routes.find(&method, &route::segments(&raw_path))
        else {
            return self.finish(message(StatusCode::NOT_FOUND, "Not Found"), &parts.headers);
        };
        let limit = self
            .api
            .route_throttles
            .get(&pattern.route_key)
            .or(self.api.default_throttle.as_ref());
        if let Some(limit) = limit
            && !self.throttles.admit(&pattern.route_key, limit)
        {
            return self.finish(
                message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
                &parts.headers,
            );
        }
        let now_ms = self.clock.now_ms();
        let authorized = match &target.route.auth {
            RouteAuth::None => None,
            RouteAuth::Unsupported { authorizer } => {
                // devstack cannot run this authorizer: refuse rather than let anyone through.
                tracing::warn!(route = %pattern.route_key, authorizer, "route has an authorizer devstack cannot run");
                return self.finish(
                    unauthorized(StatusCode::UNAUTHORIZED, "Bearer"),
                    &parts.headers,
                );
            }
            RouteAuth::Jwt { authorizer, scopes } => {
                let Some(a) = self
                    .api
                    .authorizers
                    .iter()
                    .find(|a| a.id == *authorizer || a.name == *authorizer)
                else {
                    tracing::error!(route = %pattern.route_key, authorizer, "route names an unknown authorizer");
                    return self.finish(
                        unauthorized(StatusCode::UNAUTHORIZED, "Bearer"),
                        &parts.headers,
                    );
                };
                match self
                    .verifier
                    .authorize(a, scopes, &parts.headers, now_ms)
                    .await
                {
                    Ok(ok) => Some(auth::authorizer_context(&ok)),
                    Err(denied) => {
                        let mut r = unauthorized(denied.status, "");
                        r.headers_mut()
                            .insert("www-authenticate", auth::header_value(&denied));
                        return self.finish(r, &parts.headers);
                    }
                }
            }
        };
        let body = match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(b) => b,
            Err(_) => {
                return self.finish(
                    message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
                    &parts.headers,
                );
            }
        };
        let event = event::build(event::Input {
            api: &self.api,
            account_id: &self.account_id,
            route_key: &pattern.route_key,
            method: &method,
            uri: &parts.uri,
            headers: &parts.headers,
            version: parts.version,
            body: &body,
            path_parameters: &params,
            source_ip: &source_ip,
            request_id,
            now_ms,
            authorizer: authorized,
        });
        let invoked = self
            .lambda
            .invoke(InvokeRequest {
                function: target.function.clone(),
                qualifier: None,
                payload: Bytes::from(event.to_string()),
                client_context: None,
                tail_logs: false,
                fault: None,
            })
            .await;
        let resp = match invoked {
            Ok(done) if done.function_error.is_none() => {
                event::response(&done.payload, &target.route.payload_format).unwrap_or_else(|| {
                    message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
                })
            }
            Ok(_) => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
            // Lambda refused the invocation (throttled: a 429 from Invoke). API Gateway
            // answers any refusal by the Lambda API with 500, as the Lambda guide's "Handling
            // Lambda errors with an API Gateway API" documents; the 429 is not passed on.
            Err(InvokeError::Throttled { .. }) => {
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            Err(e) => {
                tracing::error!(error = %e, function = %target.function, "integration failed");
                message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        };
        self.finish(resp, &parts.headers)
    }

    fn finish(&self, mut resp: Response, request_headers: &HeaderMap) -> Response {
        if let Some(cors) = &self.api.cors {
            cors::decorate(cors, request_headers, resp.headers_mut());
        }
        resp
    }
}

/// 401 `Unauthorized` or 403 `Forbidden`, as the JWT authorizer answers.
fn unauthorized(status: StatusCode, www_authenticate: &'static str) -> Response {
    let text = if status == StatusCode::FORBIDDEN {
        "Forbidden"
    } else {
        "Unauthorized"
    };
    let mut r = message(status, text);
    if !www_authenticate.is_empty() {
        r.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static(www_authenticate),
        );
    }
    r
}

/// API Gateway's own error bodies: `{"message": "..."}`.
fn message(status: StatusCode, text: &str) -> Response {
    let mut r = (status, Body::from(json!({ "message": text }).to_string())).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}
