//! The WebSocket API: one `WEBSOCKET` API of the template, served as API Gateway serves it.
//!
//! - **Handshake** at `/{stage}`: the `$connect` function gets the query string and headers
//!   (single- and multi-valued); a 2xx answer opens the connection (passing on a
//!   `Sec-WebSocket-Protocol` the function chose), any other status refuses the handshake
//!   with that status, and a function error or an answer without `statusCode` with 502.
//! - **Messages**: the `RouteSelectionExpression` picks a custom route, else `$default`; with
//!   neither, the client gets API Gateway's `{"message": "Forbidden", ...}`. A two-way route
//!   (one with a route response) sends the function's `body` back; a failed integration sends
//!   `{"message": "Internal server error", ...}`. Frames are limited as API Gateway limits
//!   them (32 KB per frame, 128 KB per message): beyond, the connection closes with 1009.
//! - **`$disconnect`** runs exactly once for every connection that `$connect` accepted,
//!   whatever closed it: the client (its close code and reason, 1005 without one, 1006 when
//!   the TCP connection just went away), a `DELETE` on `@connections`, the idle timeout (10
//!   minutes without a message either way) or the maximum duration (2 hours). The connection
//!   is gone (410 to `@connections`) before `$disconnect` is invoked, as on AWS. The one
//!   exception is injected: when the [`ConnectionFaults`] hook says a `@connections` POST
//!   finds its connection gone, the connection vanishes as if its client's network had
//!   disappeared (its socket dropped without a close frame) and `$disconnect` is not invoked,
//!   which AWS allows (it is best effort): the stale-connection case a product must survive.
//! - **`@connections/{id}`** at the stage URL (what an `ApiGatewayManagementApi` client with
//!   the stage URL as endpoint calls): see `manage.rs`.
//!
//! Times (`connectedAt`, `requestTimeEpoch`, the idle and maximum durations) are devstack's
//! clock: on the virtual clock, [`WebSocketGateway::wake`] after each move closes what
//! expired. Handshakes and `@connections` calls are HTTP requests on the same port.

mod event;
mod manage;
mod select;

use crate::GatewayError;
use crate::throttle::Throttles;
use axum::body::Body as HttpBody;
use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use clock::SharedClock;
use event::Body;
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, HeaderValue, StatusCode};
use hyper_util::rt::TokioIo;
use lambda::{InvokeError, InvokeRequest, LambdaService};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, Weak};
use std::time::Duration;
use template::model::{RouteAuth, WebSocketApi, WsRoute};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// API Gateway's quotas for a WebSocket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Closed after this long without a message (either way), on devstack's clock.
    pub idle_timeout_ms: i64,
    /// Closed this long after it opened, on devstack's clock.
    pub max_duration_ms: i64,
    /// A message (all its frames) and a `@connections` POST body.
    pub max_message_bytes: usize,
    /// One frame.
    pub max_frame_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            idle_timeout_ms: 10 * 60 * 1000,
            max_duration_ms: 2 * 3600 * 1000,
            max_message_bytes: 128 * 1024,
            max_frame_bytes: 32 * 1024,
        }
    }
}

/// How long a closing connection waits (real time) for the client's close frame before it
/// drops the TCP connection.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How often (real time) the expiry check runs while connections are open, besides
/// [`WebSocketGateway::wake`]: a virtual clock moved through the edge's admin API is seen
/// within this.
const EXPIRY_POLL: Duration = Duration::from_secs(1);

/// One open connection, as `GET @connections/{id}` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionInfo {
    pub id: String,
    pub connected_at_ms: i64,
    pub last_active_ms: i64,
    pub source_ip: String,
    pub user_agent: Option<String>,
}

/// Why a connection closed: the status code and reason of its close (and of `$disconnect`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Close {
    code: u16,
    reason: String,
    /// Made gone by the [`ConnectionFaults`] hook: the socket is dropped without a close frame
    /// and `$disconnect` is not invoked.
    vanished: bool,
}

impl Close {
    fn new(code: u16, reason: &str) -> Self {
        Self {
            code,
            reason: reason.to_owned(),
            vanished: false,
        }
    }

    fn abnormal() -> Self {
        Self::new(1006, "Connection closed abnormally")
    }

    /// Gone as when the client's network disappears, by injection: no close frame, no
    /// closing handshake, no `$disconnect`.
    fn vanished() -> Self {
        Self {
            vanished: true,
            ..Self::abnormal()
        }
    }

    fn frame(&self) -> Message {
        Message::Close(Some(CloseFrame {
            code: CloseCode::from(self.code),
            reason: self.reason.clone().into(),
        }))
    }
}

enum Command {
    Send(Message),
    /// Close with the reason in [`Connection::close`].
    Close,
    /// Drop the socket without a close frame (the reason in [`Connection::close`] is
    /// [`Close::vanished`]).
    Vanish,
}

struct Connection {
    id: String,
    connected_at: i64,
    last_active: AtomicI64,
    source_ip: String,
    user_agent: Option<String>,
    domain: String,
    out: mpsc::UnboundedSender<Command>,
    /// Why it closes: whoever decides first (client, DELETE, expiry) wins.
    close: OnceLock<Close>,
}

impl Connection {
    fn touch(&self, now_ms: i64) {
        self.last_active.fetch_max(now_ms, Ordering::SeqCst);
    }

    fn send(&self, body: Body) {
        let m = match body {
            Body::Text(t) => Message::Text(t.into()),
            Body::Binary(b) => Message::Binary(b.into()),
        };
        let _ = self.out.send(Command::Send(m));
    }

    /// API Gateway's error frame: `{"message": ..., "connectionId": ..., "requestId": ...}`.
    fn send_error(&self, message: &str, request_id: &str) {
        self.send(Body::Text(
            json!({"message": message, "connectionId": self.id, "requestId": request_id})
                .to_string(),
        ));
    }

    fn info(&self) -> ConnectionInfo {
        ConnectionInfo {
            id: self.id.clone(),
            connected_at_ms: self.connected_at,
            last_active_ms: self.last_active.load(Ordering::SeqCst),
            source_ip: self.source_ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }
}

struct Target {
    route: WsRoute,
    /// The function's physical name.
    function: String,
}

/// Fault injection for `@connections`: asked when a `POST` arrives for an open connection of
/// the API `api` (its logical id; `api_id` is its API id). `true` makes that connection gone:
/// it is dropped as when its client's network disappears (the socket closed without a close
/// frame, `$disconnect` not invoked), and the `POST`, like every later call on it, answers
/// 410 `GoneException`.
pub trait ConnectionFaults: Send + Sync {
    fn gone_on_post(&self, api: &str, api_id: &str, connection_id: &str) -> bool;
}

pub struct WebSocketGateway {
    api: WebSocketApi,
    routes: HashMap<String, Target>,
    selection: select::Selection,
    lambda: LambdaService,
    clock: SharedClock,
    limits: Limits,
    throttles: Throttles,
    connections: Mutex<HashMap<String, Arc<Connection>>>,
    wake: Arc<Notify>,
    faults: RwLock<Option<Arc<dyn ConnectionFaults>>>,
}

impl WebSocketGateway {
    /// `functions` maps the template's function logical ids to their names. Starts the task
    /// that closes expired connections (it ends with the gateway), so it must be called
    /// within a tokio runtime.
    pub fn new(
        api: WebSocketApi,
        functions: &BTreeMap<String, String>,
        lambda: LambdaService,
        clock: SharedClock,
        limits: Limits,
    ) -> Result<Arc<Self>, GatewayError> {
        let mut routes = HashMap::new();
        for r in &api.routes {
            let function = functions
                .get(&r.function)
                .ok_or_else(|| GatewayError::Function {
                    api: api.logical_id.clone(),
                    route: r.route_key.clone(),
                    function: r.function.clone(),
                })?;
            routes.insert(
                r.route_key.clone(),
                Target {
                    route: r.clone(),
                    function: function.clone(),
                },
            );
        }
        let gw = Arc::new(Self {
            selection: select::Selection::parse(&api.route_selection_expression),
            api,
            routes,
            lambda,
            clock,
            limits,
            throttles: Throttles::default(),
            connections: Mutex::new(HashMap::new()),
            wake: Arc::new(Notify::new()),
            faults: RwLock::new(None),
        });
        tokio::spawn(expire(Arc::downgrade(&gw), gw.wake.clone()));
        Ok(gw)
    }

    pub fn api(&self) -> &WebSocketApi {
        &self.api
    }

    /// The path of the stage: `/prod`, or `/` for `$default`.
    pub fn stage_path(&self) -> String {
        if self.api.stage == "$default" {
            "/".into()
        } else {
            format!("/{}", self.api.stage)
        }
    }

    /// The gateway as an axum router. Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so events carry the client's
    /// address as `sourceIp`.
    pub fn router(self: &Arc<Self>) -> axum::Router {
        let gw = self.clone();
        axum::Router::new().fallback(move |req: Request| {
            let gw = gw.clone();
            async move { gw.handle(req).await }
        })
    }

    /// The fault hook that `@connections` POSTs ask (without one, no connection is made gone).
    pub fn set_connection_faults(&self, faults: Arc<dyn ConnectionFaults>) {
        *self.faults.write().unwrap_or_else(PoisonError::into_inner) = Some(faults);
    }

    /// Whether the fault hook makes connection `id` gone at this POST.
    fn gone_on_post(&self, id: &str) -> bool {
        let faults = self
            .faults
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        faults.is_some_and(|f| f.gone_on_post(&self.api.logical_id, &self.api.api_id, id))
    }

    /// The clock moved: closes the connections that are now idle or too old.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The open connections (`$connect` accepted, not closed), by id.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        let mut all: Vec<ConnectionInfo> = self
            .connections
            .lock()
            .expect("connections")
            .values()
            .map(|c| c.info())
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// Closes a connection as `DELETE @connections/{id}` does (close code 1000, then
    /// `$disconnect`). False if no such connection is open.
    pub fn close_connection(&self, id: &str) -> bool {
        self.end(id, Close::new(1000, ""))
    }

    /// Takes the connection out of the open ones (so `@connections` answers 410 from now on)
    /// and tells its task to close it for `why`.
    fn end(&self, id: &str, why: Close) -> bool {
        let Some(conn) = self.connections.lock().expect("connections").remove(id) else {
            return false;
        };
        let command = if why.vanished {
            Command::Vanish
        } else {
            Command::Close
        };
        let _ = conn.close.set(why);
        let _ = conn.out.send(command);
        true
    }

    /// Makes a connection gone as when its client's network disappears: out of the open ones
    /// (410 from now on), its socket dropped without a close frame, and no `$disconnect`.
    /// False if no such connection is open.
    fn vanish(&self, id: &str) -> bool {
        self.end(id, Close::vanished())
    }

    fn connection(&self, id: &str) -> Option<Arc<Connection>> {
        self.connections
            .lock()
            .expect("connections")
            .get(id)
            .cloned()
    }

    pub async fn handle(self: &Arc<Self>, req: Request) -> Response {
        let path = req.uri().path().to_owned();
        let stage = self.stage_path();
        let rest = if stage == "/" {
            Some(path.as_str())
        } else {
            path.strip_prefix(&stage)
        };
        match rest {
            Some("" | "/") => {
                if is_upgrade(req.headers()) {
                    self.handshake(req).await
                } else {
                    let mut r = message(StatusCode::UPGRADE_REQUIRED, "Upgrade Required");
                    r.headers_mut()
                        .insert("upgrade", HeaderValue::from_static("websocket"));
                    r
                }
            }
            Some(rest) => match rest.strip_prefix("/@connections/") {
                Some(id) if !id.is_empty() && !id.contains('/') => {
                    manage::handle(self, req, &manage::percent_decode(id)).await
                }
                _ => message(StatusCode::FORBIDDEN, "Forbidden"),
            },
            None => message(StatusCode::FORBIDDEN, "Forbidden"),
        }
    }

    async fn handshake(self: &Arc<Self>, mut req: Request) -> Response {
        let headers = req.headers();
        if headers
            .get("sec-websocket-version")
            .and_then(|v| v.to_str().ok())
            != Some("13")
        {
            let mut r = message(StatusCode::UPGRADE_REQUIRED, "Upgrade Required");
            r.headers_mut()
                .insert("sec-websocket-version", HeaderValue::from_static("13"));
            return r;
        }
        let Some(key) = headers.get("sec-websocket-key") else {
            return message(StatusCode::BAD_REQUEST, "Bad Request");
        };
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        if let Some(limit) = &self.api.default_throttle
            && !self.throttles.admit("$connect", limit)
        {
            return message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        }
        let source_ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "127.0.0.1".into());
        let domain = header(headers, "host").unwrap_or_else(|| "localhost".into());
        let port = domain
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(80);
        let user_agent = header(headers, "user-agent");
        let id = crate::event::request_id();
        let now = self.clock.now_ms();
        let mut protocol = None;
        if let Some(target) = self.routes.get("$connect") {
            if let RouteAuth::Unsupported { authorizer } = &target.route.auth {
                // devstack cannot run this authorizer: refuse rather than let anyone in.
                tracing::warn!(authorizer, "$connect has an authorizer devstack cannot run");
                return message(StatusCode::UNAUTHORIZED, "Unauthorized");
            }
            let request_id = crate::event::request_id();
            let ctx = event::Context {
                api_id: &self.api.api_id,
                stage: &self.api.stage,
                connection_id: &id,
                connected_at: now,
                domain: &domain,
                source_ip: &source_ip,
                user_agent: user_agent.as_deref(),
            };
            let event = event::connect(
                &ctx,
                headers,
                req.uri().query(),
                port,
                &crate::event::trace_id(now),
                &request_id,
                now,
            );
            match self.invoke(&target.function, &event).await {
                Ok(done) if done.function_error.is_none() => {
                    let answer = event::answer(&done.payload);
                    match answer.status {
                        Some(s) if (200..300).contains(&s) => {
                            protocol = answer.headers.get("sec-websocket-protocol").cloned();
                        }
                        Some(s) => {
                            let body = match answer.body {
                                Some(Body::Text(t)) => t.into_bytes(),
                                Some(Body::Binary(b)) => b,
                                None => Vec::new(),
                            };
                            let status = StatusCode::from_u16(s).unwrap_or(StatusCode::BAD_GATEWAY);
                            return (status, HttpBody::from(body)).into_response();
                        }
                        None => {
                            tracing::warn!(function = %target.function, "$connect answered without a statusCode: refused with 502");
                            return message(StatusCode::BAD_GATEWAY, "Internal server error");
                        }
                    }
                }
                Ok(_) => return message(StatusCode::BAD_GATEWAY, "Internal server error"),
                Err(InvokeError::Throttled { .. }) => {
                    return message(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
                }
                Err(e) => {
                    tracing::error!(error = %e, function = %target.function, "$connect integration failed");
                    return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
                }
            }
        }

        let on_upgrade = hyper::upgrade::on(&mut req);
        let (out, rx) = mpsc::unbounded_channel();
        let conn = Arc::new(Connection {
            id,
            connected_at: now,
            last_active: AtomicI64::new(now),
            source_ip,
            user_agent,
            domain,
            out,
            close: OnceLock::new(),
        });
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.limits.max_message_bytes))
            .max_frame_size(Some(self.limits.max_frame_bytes));
        let gw = self.clone();
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let ws = WebSocketStream::from_raw_socket(
                        TokioIo::new(upgraded),
                        Role::Server,
                        Some(config),
                    )
                    .await;
                    gw.connections
                        .lock()
                        .expect("connections")
                        .insert(conn.id.clone(), conn.clone());
                    gw.wake();
                    gw.serve(conn, rx, ws).await;
                }
                Err(e) => {
                    // `$connect` accepted it, so `$disconnect` tells the integration it is over.
                    tracing::warn!(error = %e, "WebSocket upgrade failed after $connect");
                    gw.disconnected(&conn, Close::abnormal()).await;
                }
            }
        });

        let mut r = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let h = r.headers_mut();
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("connection", HeaderValue::from_static("Upgrade"));
        if let Ok(v) = HeaderValue::from_str(&accept) {
            h.insert("sec-websocket-accept", v);
        }
        if let Some(v) = protocol.and_then(|p| HeaderValue::from_str(&p).ok()) {
            h.insert("sec-websocket-protocol", v);
        }
        r
    }

    /// Runs one open connection until it closes, then `$disconnect`.
    async fn serve<S>(
        self: Arc<Self>,
        conn: Arc<Connection>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut ws: WebSocketStream<S>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        // Why it closed, and whether the closing handshake may still finish.
        let (closed, linger) = loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Send(m)) => {
                        if ws.send(m).await.is_err() {
                            break (Close::abnormal(), false);
                        }
                    }
                    Some(Command::Vanish) => break (Close::vanished(), false),
                    Some(Command::Close) | None => {
                        let why = conn
                            .close
                            .get()
                            .cloned()
                            .unwrap_or_else(|| Close::new(1001, "Going away"));
                        let _ = ws.send(why.frame()).await;
                        break (why, true);
                    }
                },
                incoming = ws.next() => match incoming {
                    Some(Ok(Message::Text(t))) => self.received(&conn, Body::Text(t.to_string())),
                    Some(Ok(Message::Binary(b))) => self.received(&conn, Body::Binary(b.to_vec())),
                    Some(Ok(Message::Ping(_))) => {
                        conn.touch(self.clock.now_ms());
                        // tungstenite queued the pong: send it now.
                        let _ = ws.flush().await;
                    }
                    Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(frame))) => {
                        let why = match frame {
                            Some(f) => Close::new(u16::from(f.code), &f.reason),
                            None => Close::new(1005, "Client-side close frame status not set"),
                        };
                        break (why, true);
                    }
                    Some(Err(WsError::Capacity(e))) => {
                        tracing::info!(connection = %conn.id, error = %e, "frame or message too big: closing with 1009");
                        let why = Close::new(1009, "Message too big");
                        // The rest of the oversized frame is still unread: no handshake to
                        // finish, the TCP connection just ends after the close frame.
                        let _ = ws.send(why.frame()).await;
                        break (why, false);
                    }
                    Some(Err(_)) | None => break (Close::abnormal(), false),
                },
            }
        };
        let why = conn.close.get_or_init(|| closed).clone();
        self.connections
            .lock()
            .expect("connections")
            .remove(&conn.id);
        if why.vanished {
            // Whatever the loop saw last, the network is gone: the TCP connection ends with no
            // close frame, and the integration never hears of it.
            drop(ws);
            tracing::info!(connection = %conn.id, "WebSocket connection made gone by an injected fault: no $disconnect");
            return;
        }
        if linger {
            // Reading on sends tungstenite's reply to a client's close, or takes the client's
            // reply to ours, and then sees the connection end; meanwhile `$disconnect` runs.
            tokio::spawn(async move {
                let _ = tokio::time::timeout(CLOSE_GRACE, async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
            });
        } else {
            drop(ws);
        }
        self.disconnected(&conn, why).await;
    }

    /// A message from the client: routed and invoked on its own task, as API Gateway does not
    /// wait for one message's integration before taking the next.
    fn received(self: &Arc<Self>, conn: &Arc<Connection>, body: Body) {
        conn.touch(self.clock.now_ms());
        let gw = self.clone();
        let conn = conn.clone();
        tokio::spawn(async move { gw.route(&conn, body).await });
    }

    async fn route(&self, conn: &Connection, body: Body) {
        let request_id = crate::event::request_id();
        let route_key = self
            .selection
            .route_key(&body)
            .filter(|k| !k.starts_with('$') && self.routes.contains_key(k))
            .unwrap_or_else(|| "$default".to_owned());
        let Some(target) = self.routes.get(&route_key) else {
            conn.send_error("Forbidden", &request_id);
            return;
        };
        if let Some(limit) = &self.api.default_throttle
            && !self.throttles.admit(&route_key, limit)
        {
            conn.send_error("Too Many Requests", &request_id);
            return;
        }
        let now = self.clock.now_ms();
        let event = event::message(
            &self.context(conn),
            &route_key,
            &body,
            &crate::event::request_id(),
            &request_id,
            now,
        );
        match self.invoke(&target.function, &event).await {
            Ok(done) if done.function_error.is_none() => {
                if target.route.route_response
                    && let Some(reply) = event::answer(&done.payload).body
                {
                    conn.send(reply);
                }
            }
            Ok(_) => conn.send_error("Internal server error", &request_id),
            Err(e) => {
                tracing::error!(error = %e, function = %target.function, route = %route_key, "WebSocket integration failed");
                conn.send_error("Internal server error", &request_id);
            }
        }
    }

    /// `$disconnect`, once per connection; its answer changes nothing.
    async fn disconnected(&self, conn: &Connection, why: Close) {
        let Some(target) = self.routes.get("$disconnect") else {
            return;
        };
        let now = self.clock.now_ms();
        let event = event::disconnect(
            &self.context(conn),
            why.code,
            &why.reason,
            &crate::event::request_id(),
            now,
        );
        match self.invoke(&target.function, &event).await {
            Ok(done) if done.function_error.is_none() => {}
            Ok(_) => {
                tracing::warn!(connection = %conn.id, function = %target.function, "$disconnect failed")
            }
            Err(e) => {
                tracing::warn!(connection = %conn.id, error = %e, "$disconnect could not be invoked")
            }
        }
    }

    fn context<'a>(&'a self, conn: &'a Connection) -> event::Context<'a> {
        event::Context {
            api_id: &self.api.api_id,
            stage: &self.api.stage,
            connection_id: &conn.id,
            connected_at: conn.connected_at,
            domain: &conn.domain,
            source_ip: &conn.source_ip,
            user_agent: conn.user_agent.as_deref(),
        }
    }

    async fn invoke(&self, function: &str, event: &Value) -> Result<lambda::Invoked, InvokeError> {
        self.lambda
            .invoke(InvokeRequest {
                function: function.to_owned(),
                qualifier: None,
                payload: Bytes::from(event.to_string()),
                client_context: None,
                tail_logs: false,
                fault: None,
            })
            .await
    }

    /// Closes what expired; returns when the next expiry is due (None: nothing open).
    fn close_expired(&self) -> Option<i64> {
        let now = self.clock.now_ms();
        let mut next: Option<i64> = None;
        let mut expired = Vec::new();
        for c in self.connections.lock().expect("connections").values() {
            let too_old = c.connected_at + self.limits.max_duration_ms;
            let idle = c.last_active.load(Ordering::SeqCst) + self.limits.idle_timeout_ms;
            if now >= too_old {
                // API Gateway's own close when a connection reaches its maximum duration.
                expired.push((c.id.clone(), Close::new(1001, "Going away")));
            } else if now >= idle {
                expired.push((c.id.clone(), Close::new(1001, "Going away")));
            } else {
                let at = too_old.min(idle);
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        for (id, why) in expired {
            tracing::info!(connection = %id, "WebSocket connection expired");
            self.end(&id, why);
        }
        next.map(|at| at - now)
    }
}

/// The expiry task: closes idle and too-old connections when their time comes on devstack's
/// clock, checked at each [`WebSocketGateway::wake`] and, while connections are open, at
/// least every [`EXPIRY_POLL`].
async fn expire(gw: Weak<WebSocketGateway>, wake: Arc<Notify>) {
    loop {
        let due_in = match gw.upgrade() {
            Some(gw) => gw.close_expired(),
            None => return,
        };
        match due_in {
            Some(ms) => {
                let wait =
                    Duration::from_millis(u64::try_from(ms.max(1)).unwrap_or(1)).min(EXPIRY_POLL);
                let _ = tokio::time::timeout(wait, wake.notified()).await;
            }
            None => {
                // Nothing open: a new connection wakes this too. Still look now and then, so
                // that a dropped gateway ends the task.
                let _ = tokio::time::timeout(Duration::from_secs(30), wake.notified()).await;
            }
        }
    }
}

fn is_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: &str, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .unwrap_or("")
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    has("connection", "upgrade") && has("upgrade", "websocket")
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// API Gateway's own error bodies: `{"message": "..."}`.
fn message(status: StatusCode, text: &str) -> Response {
    let mut r = (
        status,
        HttpBody::from(json!({ "message": text }).to_string()),
    )
        .into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::{TcpListener, TcpStream};

    /// The hook's answer, and the questions it was asked.
    struct Hook {
        gone: bool,
        asked: Mutex<Vec<(String, String, String)>>,
    }

    impl ConnectionFaults for Hook {
        fn gone_on_post(&self, api: &str, api_id: &str, connection_id: &str) -> bool {
            self.asked.lock().expect("asked").push((
                api.to_owned(),
                api_id.to_owned(),
                connection_id.to_owned(),
            ));
            self.gone
        }
    }

    fn gateway() -> Arc<WebSocketGateway> {
        let api = WebSocketApi {
            logical_id: "Live".into(),
            api_id: "k3x9p0q2ab".into(),
            stage: "live".into(),
            route_selection_expression: "$request.body.action".into(),
            routes: Vec::new(),
            default_throttle: None,
        };
        let lambda = LambdaService::new(
            lambda::Settings {
                runtime_api_host: "127.0.0.1:9".into(),
                account_concurrency: 10,
                max_instances: None,
                logs: lambda::LogSink::new(false, None),
            },
            Vec::new(),
        );
        WebSocketGateway::new(
            api,
            &BTreeMap::new(),
            lambda,
            Arc::new(clock::SystemClock),
            Limits::default(),
        )
        .expect("a gateway")
    }

    /// Opens connection `id` on a real TCP socket, as the handshake does once `$connect`
    /// accepted it; returns the client's end.
    async fn open(gw: &Arc<WebSocketGateway>, id: &str) -> WebSocketStream<TcpStream> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (out, rx) = mpsc::unbounded_channel();
        let conn = Arc::new(Connection {
            id: id.to_owned(),
            connected_at: 0,
            last_active: AtomicI64::new(0),
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            domain: "localhost".into(),
            out,
            close: OnceLock::new(),
        });
        gw.connections
            .lock()
            .unwrap()
            .insert(id.to_owned(), conn.clone());
        let ws = WebSocketStream::from_raw_socket(server, Role::Server, None).await;
        tokio::spawn(gw.clone().serve(conn, rx, ws));
        WebSocketStream::from_raw_socket(client, Role::Client, None).await
    }

    async fn call(gw: &Arc<WebSocketGateway>, method: &str, id: &str) -> StatusCode {
        let req = http::Request::builder()
            .method(method)
            .uri(format!("/live/@connections/{id}"))
            .body(HttpBody::from("pushed"))
            .unwrap();
        gw.handle(req).await.status()
    }

    async fn next(ws: &mut WebSocketStream<TcpStream>) -> Option<Result<Message, WsError>> {
        tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("in time")
    }

    #[tokio::test]
    async fn a_gone_post_drops_the_connection_without_a_close_frame() {
        let gw = gateway();
        let mut a = open(&gw, "a=").await;
        let mut b = open(&gw, "b=").await;

        // Without a hook, and with one that says no, a POST is delivered.
        assert_eq!(call(&gw, "POST", "a%3D").await, StatusCode::OK);
        assert_eq!(
            next(&mut a).await.unwrap().unwrap(),
            Message::text("pushed")
        );
        let keep = Arc::new(Hook {
            gone: false,
            asked: Mutex::default(),
        });
        gw.set_connection_faults(keep.clone());
        assert_eq!(call(&gw, "POST", "b%3D").await, StatusCode::OK);
        assert_eq!(
            next(&mut b).await.unwrap().unwrap(),
            Message::text("pushed")
        );
        // GET and DELETE do not ask; an unknown connection is 410 before the hook is asked.
        assert_eq!(call(&gw, "GET", "b%3D").await, StatusCode::OK);
        assert_eq!(call(&gw, "POST", "nope").await, StatusCode::GONE);
        assert_eq!(
            *keep.asked.lock().unwrap(),
            [("Live".to_owned(), "k3x9p0q2ab".to_owned(), "b=".to_owned())]
        );

        // Gone: 410, the body never reaches the client, whose socket ends without a close
        // frame.
        let gone = Arc::new(Hook {
            gone: true,
            asked: Mutex::default(),
        });
        gw.set_connection_faults(gone.clone());
        assert_eq!(call(&gw, "POST", "a%3D").await, StatusCode::GONE);
        match next(&mut a).await {
            Some(Err(WsError::Protocol(
                tokio_tungstenite::tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            ))) => {}
            other => panic!("the socket should end without a close frame: {other:?}"),
        }
        let open: Vec<String> = gw.connections().into_iter().map(|c| c.id).collect();
        assert_eq!(open, ["b="]);
        // From then on it is an unknown connection: 410 everywhere, without asking again.
        for method in ["POST", "GET", "DELETE"] {
            assert_eq!(
                call(&gw, method, "a%3D").await,
                StatusCode::GONE,
                "{method}"
            );
        }
        assert_eq!(gone.asked.lock().unwrap().len(), 1);

        // The other connection is untouched until a POST of its own is answered `gone`.
        gw.set_connection_faults(keep);
        assert_eq!(call(&gw, "POST", "b%3D").await, StatusCode::OK);
        assert_eq!(
            next(&mut b).await.unwrap().unwrap(),
            Message::text("pushed")
        );
        assert_eq!(call(&gw, "DELETE", "b%3D").await, StatusCode::NO_CONTENT);
        match next(&mut b).await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Normal),
            other => panic!("DELETE closes with a close frame: {other:?}"),
        }
    }
}
