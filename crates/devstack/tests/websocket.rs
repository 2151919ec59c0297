//! The WebSocket API end to end, with a real client (tokio-tungstenite) on real sockets:
//! the fixture stack (tests/fixtures/websocket.yaml), whose `$connect` / `$disconnect`
//! function this test serves itself through devstack's Runtime API, and the product itself
//! (template.yaml): owner-only watchers, live counts pushed after a click, `@connections`
//! through the AWS SDK, `$disconnect` on DELETE and on the idle timeout; and chaos's `gone`
//! fault, which drops a connection at a `@connections` POST without a close frame or
//! `$disconnect`, so that the product must clean up the stale watcher after its 410.

mod common;

use aws_sdk_apigatewaymanagement::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chaos::journal::Entry;
use chaos::{Fault, Journal};
use devstack::{ClockMode, Config, Devstack};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long anything may take (real time) before a test fails.
const DEADLINE: Duration = Duration::from_secs(30);

fn fixture() -> String {
    format!(
        "{}/tests/fixtures/websocket.yaml",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn product() -> String {
    format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"))
}

async fn fixture_stack(clock: ClockMode) -> (Devstack, mpsc::UnboundedReceiver<Value>) {
    let mut config = Config::for_tests(fixture());
    config.attach.insert("Hooks".into());
    config.clock = clock;
    let ds = Devstack::start(config).await.expect("devstack starts");
    assert!(ds.stack.warnings.is_empty(), "{:?}", ds.stack.warnings);
    let hooks = serve_hooks(&ds);
    (ds, hooks)
}

/// Serves the attached `Hooks` function as a Lambda runtime would, through devstack's Runtime
/// API: every event goes to the returned channel once answered. `$connect` answers the
/// status in `?status=` (200 by default; `error` fails the invocation) and chooses the
/// subprotocol in `?protocol=`; `$disconnect` answers 200.
fn serve_hooks(ds: &Devstack) -> mpsc::UnboundedReceiver<Value> {
    let name = ds
        .stack
        .functions
        .iter()
        .find(|f| f.logical_id == "Hooks")
        .unwrap()
        .name
        .clone();
    let base = format!(
        "{}/2018-06-01/runtime/invocation",
        ds.lambda.attached_runtime_api(&name)
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let Ok(next) = http.get(format!("{base}/next")).send().await else {
                return;
            };
            if !next.status().is_success() {
                return;
            }
            let id = next.headers()["lambda-runtime-aws-request-id"]
                .to_str()
                .unwrap()
                .to_owned();
            let event: Value = next.json().await.unwrap();
            let query = &event["queryStringParameters"];
            let status = query["status"].as_str().unwrap_or("200");
            let (path, answer) = if status == "error" {
                (
                    "error",
                    json!({"errorType": "Refused", "errorMessage": "refused"}),
                )
            } else {
                let mut answer = json!({"statusCode": status.parse::<u16>().unwrap(), "body": format!("status {status}")});
                if let Some(p) = query["protocol"].as_str() {
                    answer["headers"] = json!({"Sec-WebSocket-Protocol": p});
                }
                ("response", answer)
            };
            let _ = http
                .post(format!("{base}/{id}/{path}"))
                .json(&answer)
                .send()
                .await;
            if tx.send(event).is_err() {
                return;
            }
        }
    });
    rx
}

async fn hook(hooks: &mut mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(DEADLINE, hooks.recv())
        .await
        .expect("an event in time")
        .expect("the hooks run")
}

async fn connect(url: &str) -> Result<Socket, WsError> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("user-agent", "devstack-test".parse().unwrap());
    req.headers_mut().insert("x-custom", "one".parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .map(|(ws, _)| ws)
}

/// The status a refused handshake got.
async fn refused(url: &str) -> (u16, String) {
    match connect(url).await {
        Err(WsError::Http(resp)) => (
            resp.status().as_u16(),
            String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Ok(_) => panic!("{url}: the handshake was accepted"),
        Err(e) => panic!("{url}: {e}"),
    }
}

/// The next data message.
async fn next(ws: &mut Socket) -> Message {
    loop {
        let m = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .expect("a message");
        if matches!(m, Message::Text(_) | Message::Binary(_)) {
            return m;
        }
    }
}

async fn next_json(ws: &mut Socket) -> Value {
    match next(ws).await {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("not text: {other:?}"),
    }
}

/// Reads until the server's close frame.
async fn closed(ws: &mut Socket) -> CloseFrame {
    loop {
        match tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("a close in time")
        {
            Some(Ok(Message::Close(Some(frame)))) => return frame,
            Some(Ok(Message::Close(None))) => panic!("a close without status"),
            Some(Ok(_)) => {}
            other => panic!("the connection ended without a close frame: {other:?}"),
        }
    }
}

/// Reads until the socket ends, which must be without a close frame (and without any data
/// message first): the server dropped it as a vanished network would.
async fn dropped(ws: &mut Socket) {
    loop {
        match tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("the end in time")
        {
            Some(Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake))) => return,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("the connection should end without a close frame: {other:?}"),
        }
    }
}

/// The `gone` faults in the stack's journal, as (rule, resource, connection).
fn gone_faults(ds: &Devstack) -> Vec<(String, String, Option<String>)> {
    Journal::parse(&ds.chaos.journal().contents())
        .expect("the journal parses")
        .into_iter()
        .filter_map(|r| match r.entry {
            Entry::Fault {
                rule,
                fault: Fault::Gone,
                resource,
                connection_id,
                ..
            } => Some((rule, resource, connection_id)),
            _ => None,
        })
        .collect()
}

/// Asserts that every `@connections` call on `id` answers 410 `GoneException`.
async fn all_gone(api: &aws_sdk_apigatewaymanagement::Client, id: &str) {
    let post = api
        .post_to_connection()
        .connection_id(id)
        .data(Blob::new("late"))
        .send()
        .await
        .unwrap_err();
    assert!(
        post.as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "{post:?}"
    );
    let get = api
        .get_connection()
        .connection_id(id)
        .send()
        .await
        .unwrap_err();
    assert!(
        get.as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "{get:?}"
    );
    let delete = api
        .delete_connection()
        .connection_id(id)
        .send()
        .await
        .unwrap_err();
    assert!(
        delete
            .as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "{delete:?}"
    );
}

fn management(ds: &Devstack, endpoint: &str) -> aws_sdk_apigatewaymanagement::Client {
    let conf = aws_sdk_apigatewaymanagement::Config::builder()
        .behavior_version(aws_sdk_apigatewaymanagement::config::BehaviorVersion::latest())
        .region(aws_sdk_apigatewaymanagement::config::Region::new(
            ds.stack.region.clone(),
        ))
        .credentials_provider(aws_sdk_apigatewaymanagement::config::Credentials::new(
            "x", "y", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_apigatewaymanagement::Client::from_conf(conf)
}

#[tokio::test]
async fn events_follow_the_websocket_proxy_contract() {
    let (ds, mut hooks) = fixture_stack(ClockMode::Virtual {
        start_ms: ClockMode::VIRTUAL_EPOCH_MS,
    })
    .await;
    let mut ws = connect(&format!("{}/live?code=abc&tag=1&tag=2", ds.ws_url))
        .await
        .expect("accepted");
    let connect = hook(&mut hooks).await;
    ws.send(Message::text(r#"{"action":"echo","n":1}"#))
        .await
        .unwrap();
    let reply = next_json(&mut ws).await;
    let message = reply["echo"].clone();
    ws.close(Some(CloseFrame {
        code: CloseCode::from(4000),
        reason: "bye".into(),
    }))
    .await
    .unwrap();
    let disconnect = hook(&mut hooks).await;

    // What the product's handlers deserialize: aws_lambda_events reads all three.
    for (event, kind, route) in [
        (&connect, "CONNECT", "$connect"),
        (&message, "MESSAGE", "echo"),
        (&disconnect, "DISCONNECT", "$disconnect"),
    ] {
        let typed: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest =
            serde_json::from_value(event.clone()).expect("aws_lambda_events reads it");
        let ctx = &typed.request_context;
        assert_eq!(ctx.event_type.as_deref(), Some(kind));
        assert_eq!(ctx.route_key.as_deref(), Some(route));
        assert_eq!(ctx.stage.as_deref(), Some("live"));
        assert_eq!(ctx.connected_at, ClockMode::VIRTUAL_EPOCH_MS);
        assert_eq!(ctx.request_time_epoch, ClockMode::VIRTUAL_EPOCH_MS);
        assert_eq!(
            ctx.connection_id,
            connect["requestContext"]["connectionId"]
                .as_str()
                .map(str::to_owned)
        );
        assert_eq!(ctx.identity.source_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(ctx.identity.user_agent.as_deref(), Some("devstack-test"));
        if kind == "CONNECT" {
            assert_eq!(typed.query_string_parameters.first("code"), Some("abc"));
            assert_eq!(
                typed.multi_value_query_string_parameters.all("tag"),
                Some(vec!["1", "2"])
            );
            assert_eq!(typed.headers["x-custom"], "one");
        }
        if kind == "MESSAGE" {
            assert_eq!(typed.body.as_deref(), Some(r#"{"action":"echo","n":1}"#));
        }
        if kind == "DISCONNECT" {
            assert_eq!(ctx.disconnect_status_code, Some(4000));
            assert_eq!(ctx.disconnect_reason.as_deref(), Some("bye"));
        }
    }
    assert_eq!(
        message["requestContext"]["domainName"],
        connect["requestContext"]["domainName"]
    );

    insta::assert_json_snapshot!(
        "websocket_events",
        json!({"connect": connect, "message": message, "disconnect": disconnect}),
        {
            ".*.requestContext.connectionId" => "[connection]",
            ".*.requestContext.requestId" => "[id]",
            ".*.requestContext.extendedRequestId" => "[id]",
            ".*.requestContext.messageId" => "[id]",
            ".*.requestContext.domainName" => "[host]",
            ".*.headers.Host" => "[host]",
            ".*.multiValueHeaders.Host[]" => "[host]",
            ".connect.headers[\"Sec-WebSocket-Key\"]" => "[key]",
            ".connect.multiValueHeaders[\"Sec-WebSocket-Key\"][]" => "[key]",
            ".connect.headers[\"X-Forwarded-Port\"]" => "[port]",
            ".connect.multiValueHeaders[\"X-Forwarded-Port\"][]" => "[port]",
            ".connect.headers[\"X-Amzn-Trace-Id\"]" => "[trace]",
            ".connect.multiValueHeaders[\"X-Amzn-Trace-Id\"][]" => "[trace]",
        }
    );
    ds.shutdown().await;
}

#[tokio::test]
async fn the_connect_answer_decides_the_handshake() {
    let (ds, mut hooks) = fixture_stack(ClockMode::Real).await;
    let url = format!("{}/live", ds.ws_url);
    assert_eq!(
        refused(&format!("{url}?status=401")).await,
        (401, "status 401".to_owned())
    );
    assert_eq!(
        hook(&mut hooks).await["requestContext"]["eventType"],
        "CONNECT"
    );
    assert_eq!(refused(&format!("{url}?status=403")).await.0, 403);
    hook(&mut hooks).await;
    // A failed $connect invocation refuses with 502, as a malformed proxy answer does.
    assert_eq!(refused(&format!("{url}?status=error")).await.0, 502);
    hook(&mut hooks).await;
    // Another stage, or none, is not the API.
    assert_eq!(refused(&format!("{}/prod", ds.ws_url)).await.0, 403);

    // The subprotocol the function chose answers the client's offer.
    let mut req = format!("{url}?protocol=chat")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", "chat, other".parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
    hook(&mut hooks).await;
    ws.close(None).await.unwrap();
    let bye = hook(&mut hooks).await;
    assert_eq!(bye["requestContext"]["eventType"], "DISCONNECT");
    assert_eq!(bye["requestContext"]["disconnectStatusCode"], 1005);
    assert_eq!(
        bye["requestContext"]["disconnectReason"],
        "Client-side close frame status not set"
    );
    // Refused handshakes never had a connection: no $disconnect for them.
    assert!(hooks.try_recv().is_err());
    ds.shutdown().await;
}

#[tokio::test]
async fn messages_are_routed_by_the_selection_expression() {
    let (ds, mut hooks) = fixture_stack(ClockMode::Real).await;
    let mut ws = connect(&format!("{}/live", ds.ws_url)).await.unwrap();
    hook(&mut hooks).await;
    for (sent, route) in [
        ("hello", "$default"),
        (r#"{"action":"echo"}"#, "echo"),
        (r#"{"action":"nope"}"#, "$default"),
        (r#"{"action":"$disconnect"}"#, "$default"),
    ] {
        ws.send(Message::text(sent)).await.unwrap();
        let event = &next_json(&mut ws).await["echo"];
        assert_eq!(event["requestContext"]["routeKey"], route, "{sent}");
        assert_eq!(event["body"], sent);
        assert_eq!(event["isBase64Encoded"], false);
    }
    // A one-way route answers nothing: the next reply is the next message's.
    ws.send(Message::text(r#"{"action":"quiet"}"#))
        .await
        .unwrap();
    ws.send(Message::text("after")).await.unwrap();
    assert_eq!(next_json(&mut ws).await["echo"]["body"], "after");
    // Binary frames reach the function base64-encoded.
    ws.send(Message::binary(vec![0u8, 1, 2])).await.unwrap();
    let event = &next_json(&mut ws).await["echo"];
    assert_eq!(
        (event["body"].as_str(), event["isBase64Encoded"].as_bool()),
        (Some("AAEC"), Some(true))
    );
    // Pings are answered.
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = tokio::time::timeout(DEADLINE, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pong, Message::Pong(b"are you there".to_vec().into()));
    ds.shutdown().await;
}

/// A text message sent as `parts` fragments of `size / parts` bytes each.
async fn send_fragmented(ws: &mut Socket, size: usize, parts: usize) {
    let chunk = size / parts;
    for i in 0..parts {
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        ws.send(Message::Frame(Frame::message(
            vec![b'x'; chunk],
            opcode,
            i + 1 == parts,
        )))
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn frames_and_messages_are_limited_as_api_gateway_limits_them() {
    let (ds, mut hooks) = fixture_stack(ClockMode::Real).await;
    let url = format!("{}/live", ds.ws_url);
    let mut ws = connect(&url).await.unwrap();
    hook(&mut hooks).await;
    // 32 KB in one frame, and 128 KB in four fragments of 32 KB: both within the limits.
    let frame = "y".repeat(32 * 1024);
    ws.send(Message::text(frame.clone())).await.unwrap();
    assert_eq!(next_json(&mut ws).await["echo"]["body"], frame);
    send_fragmented(&mut ws, 128 * 1024, 4).await;
    let body = next_json(&mut ws).await["echo"]["body"]
        .as_str()
        .unwrap()
        .len();
    assert_eq!(body, 128 * 1024);
    // One byte more in a frame: closed with 1009, and $disconnect says so.
    ws.send(Message::text("z".repeat(32 * 1024 + 1)))
        .await
        .unwrap();
    assert_eq!(closed(&mut ws).await.code, CloseCode::Size);
    let bye = hook(&mut hooks).await;
    assert_eq!(bye["requestContext"]["disconnectStatusCode"], 1009);

    // A message above 128 KB, even in frames of at most 32 KB: the same.
    let mut ws = connect(&url).await.unwrap();
    hook(&mut hooks).await;
    send_fragmented(&mut ws, 6 * 22 * 1024, 6).await;
    assert_eq!(closed(&mut ws).await.code, CloseCode::Size);
    assert_eq!(
        hook(&mut hooks).await["requestContext"]["disconnectStatusCode"],
        1009
    );
    ds.shutdown().await;
}

#[tokio::test]
async fn the_connections_api_sends_describes_and_deletes() {
    let (ds, mut hooks) = fixture_stack(ClockMode::Real).await;
    let mut ws = connect(&format!("{}/live", ds.ws_url)).await.unwrap();
    let id = hook(&mut hooks).await["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(id.ends_with('='), "an id in API Gateway's form: {id}");
    let api = management(
        &ds,
        &format!("{}/live", ds.ws_url.replace("ws://", "http://")),
    );

    api.post_to_connection()
        .connection_id(&id)
        .data(Blob::new("pushed"))
        .send()
        .await
        .expect("posted");
    assert_eq!(next(&mut ws).await, Message::text("pushed"));
    api.post_to_connection()
        .connection_id(&id)
        .data(Blob::new(vec![0xff, 0x00]))
        .send()
        .await
        .expect("posted");
    assert_eq!(next(&mut ws).await, Message::binary(vec![0xff, 0x00]));

    let info = api
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap();
    assert!(info.connected_at().is_some());
    assert!(info.last_active_at() >= info.connected_at());
    let identity = info.identity().unwrap();
    assert_eq!(identity.source_ip(), Some("127.0.0.1"));
    assert_eq!(identity.user_agent(), Some("devstack-test"));

    let too_big = api
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new(vec![b'x'; 128 * 1024 + 1]))
        .send()
        .await
        .unwrap_err();
    assert!(
        too_big
            .as_service_error()
            .is_some_and(|e| e.is_payload_too_large_exception()),
        "{too_big:?}"
    );
    let unknown = api
        .post_to_connection()
        .connection_id("Nope0000000000w=")
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert!(
        unknown
            .as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "{unknown:?}"
    );
    assert_eq!(unknown.raw_response().unwrap().status().as_u16(), 410);

    // DELETE closes the socket and runs $disconnect; the id is gone from then on.
    api.delete_connection()
        .connection_id(&id)
        .send()
        .await
        .expect("deleted");
    assert_eq!(closed(&mut ws).await.code, CloseCode::Normal);
    let bye = hook(&mut hooks).await;
    assert_eq!(bye["requestContext"]["eventType"], "DISCONNECT");
    assert_eq!(bye["requestContext"]["connectionId"], id.as_str());
    assert_eq!(bye["requestContext"]["disconnectStatusCode"], 1000);
    let again = api
        .post_to_connection()
        .connection_id(&id)
        .data(Blob::new("late"))
        .send()
        .await
        .unwrap_err();
    assert!(
        again
            .as_service_error()
            .is_some_and(|e| e.is_gone_exception())
    );
    let get = api
        .get_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(
        get.as_service_error()
            .is_some_and(|e| e.is_gone_exception())
    );
    let delete = api
        .delete_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap_err();
    assert!(
        delete
            .as_service_error()
            .is_some_and(|e| e.is_gone_exception())
    );
    assert!(ds.websocket.as_ref().unwrap().connections().is_empty());
    ds.shutdown().await;
}

#[tokio::test]
async fn a_gone_fault_drops_the_connection_without_disconnect() {
    let (ds, mut hooks) = fixture_stack(ClockMode::Real).await;
    let url = format!("{}/live", ds.ws_url);
    let connection = |event: Value| {
        event["requestContext"]["connectionId"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut a = connect(&url).await.unwrap();
    let a_id = connection(hook(&mut hooks).await);
    let mut b = connect(&url).await.unwrap();
    let b_id = connection(hook(&mut hooks).await);
    // Armed at runtime, by the API's logical id, narrowed to one connection.
    let rule = ds
        .chaos
        .add(
            format!("websocket=Socket connection={a_id} gone")
                .parse()
                .unwrap(),
        )
        .unwrap();
    let api = management(
        &ds,
        &format!("{}/live", ds.ws_url.replace("ws://", "http://")),
    );

    // The other connection is not concerned.
    api.post_to_connection()
        .connection_id(&b_id)
        .data(Blob::new("to b"))
        .send()
        .await
        .expect("posted");
    assert_eq!(next(&mut b).await, Message::text("to b"));
    assert!(gone_faults(&ds).is_empty());

    // The chosen one is gone: the POST answers 410 exactly as for an unknown id, and its
    // socket ends without a close frame.
    let gone = api
        .post_to_connection()
        .connection_id(&a_id)
        .data(Blob::new("to a"))
        .send()
        .await
        .unwrap_err();
    assert!(
        gone.as_service_error()
            .is_some_and(|e| e.is_gone_exception()),
        "{gone:?}"
    );
    assert_eq!(gone.raw_response().unwrap().status().as_u16(), 410);
    dropped(&mut a).await;
    all_gone(&api, &a_id).await;
    let open: Vec<String> = ds
        .websocket
        .as_ref()
        .unwrap()
        .connections()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(open, std::slice::from_ref(&b_id));
    assert_eq!(
        gone_faults(&ds),
        [(rule.id.unwrap(), "Socket".to_owned(), Some(a_id.clone()))]
    );

    // No $disconnect for it: the next $disconnect the hooks see is b's, after its DELETE.
    api.post_to_connection()
        .connection_id(&b_id)
        .data(Blob::new("still b"))
        .send()
        .await
        .expect("posted");
    assert_eq!(next(&mut b).await, Message::text("still b"));
    api.delete_connection()
        .connection_id(&b_id)
        .send()
        .await
        .expect("deleted");
    assert_eq!(closed(&mut b).await.code, CloseCode::Normal);
    let bye = hook(&mut hooks).await;
    assert_eq!(bye["requestContext"]["eventType"], "DISCONNECT");
    assert_eq!(bye["requestContext"]["connectionId"], b_id.as_str());
    assert!(hooks.try_recv().is_err(), "no $disconnect for {a_id}");
    assert_eq!(gone_faults(&ds).len(), 1);
    ds.shutdown().await;
}

#[tokio::test]
async fn idle_and_old_connections_close_on_the_virtual_clock() {
    let (ds, mut hooks) = fixture_stack(ClockMode::Virtual {
        start_ms: ClockMode::VIRTUAL_EPOCH_MS,
    })
    .await;
    let url = format!("{}/live", ds.ws_url);
    let minute = 60 * 1000;
    let mut idle = connect(&url).await.unwrap();
    hook(&mut hooks).await;
    // Nine minutes, a message (which keeps it alive), nine more: still open.
    ds.advance_clock(9 * minute).unwrap();
    idle.send(Message::text("still here")).await.unwrap();
    assert_eq!(next_json(&mut idle).await["echo"]["body"], "still here");
    ds.advance_clock(9 * minute).unwrap();
    idle.send(Message::text("and here")).await.unwrap();
    assert_eq!(next_json(&mut idle).await["echo"]["body"], "and here");
    // Ten minutes without a message: closed, and $disconnect runs.
    ds.advance_clock(10 * minute).unwrap();
    let frame = closed(&mut idle).await;
    assert_eq!(frame.code, CloseCode::Away);
    let bye = hook(&mut hooks).await;
    assert_eq!(bye["requestContext"]["disconnectStatusCode"], 1001);
    assert_eq!(bye["requestContext"]["disconnectReason"], "Going away");
    assert_eq!(
        bye["requestContext"]["requestTimeEpoch"],
        ClockMode::VIRTUAL_EPOCH_MS + 28 * minute
    );

    // Busy, but two hours old: closed all the same.
    let mut busy = connect(&url).await.unwrap();
    hook(&mut hooks).await;
    for _ in 0..13 {
        ds.advance_clock(9 * minute).unwrap();
        busy.send(Message::text("busy")).await.unwrap();
        assert_eq!(next_json(&mut busy).await["echo"]["body"], "busy");
    }
    assert_eq!(ds.websocket.as_ref().unwrap().connections().len(), 1);
    ds.advance_clock(3 * minute).unwrap();
    assert_eq!(closed(&mut busy).await.code, CloseCode::Away);
    assert_eq!(
        hook(&mut hooks).await["requestContext"]["disconnectStatusCode"],
        1001
    );
    assert!(ds.websocket.as_ref().unwrap().connections().is_empty());
    ds.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// The product
// ---------------------------------------------------------------------------------------------

struct Product {
    ds: Devstack,
    ddb: aws_sdk_dynamodb::Client,
    http: reqwest::Client,
    base: String,
}

async fn product_stack(clock: ClockMode) -> Product {
    let mut config = Config::for_tests(product());
    // The click pipeline delivers at once instead of gathering for a second.
    config
        .parameter_overrides
        .insert("ClickBatchingWindowSeconds".into(), "0".into());
    config.clock = clock;
    let ds = Devstack::start(config)
        .await
        .expect("devstack runs the product");
    let conf = common::sdk_config(&ds.edge_url).await;
    let ddb = aws_sdk_dynamodb::Client::new(&conf);
    let base = ds.http_url.clone().unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Product {
        ds,
        ddb,
        http,
        base,
    }
}

impl Product {
    fn token(&self, user: &str) -> String {
        self.ds
            .cognito
            .token_for(None, None, user)
            .unwrap()
            .id_token
    }

    async fn create_link(&self, token: &str) -> String {
        let created = self
            .http
            .post(format!("{}/links", self.base))
            .bearer_auth(token)
            .json(&json!({"url": "https://www.rust-lang.org/learn"}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let link: Value = created.json().await.unwrap();
        link["code"].as_str().unwrap().to_owned()
    }

    fn watch_url(&self, code: &str, token: Option<&str>) -> String {
        let stage = &self.ds.stack.websocket_apis[0].stage;
        match token {
            Some(t) => format!("{}/{stage}?code={code}&token={t}", self.ds.ws_url),
            None => format!("{}/{stage}?code={code}", self.ds.ws_url),
        }
    }

    /// The connection item that `$connect` stored, if any.
    async fn connection_item(&self, id: &str) -> bool {
        self.ddb
            .get_item()
            .table_name("devstack-LinksTable")
            .key("PK", AttributeValue::S(format!("CONN#{id}")))
            .key("SK", AttributeValue::S("META".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item()
            .is_some()
    }

    /// Waits (at most [`DEADLINE`]) until the connection item is gone.
    async fn connection_item_gone(&self, id: &str) -> bool {
        let until = tokio::time::Instant::now() + DEADLINE;
        while tokio::time::Instant::now() < until {
            if !self.connection_item(id).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// The `START` lines (invocations) of the function with this logical id so far.
    fn invocations(&self, logical_id: &str) -> usize {
        let name = &self
            .ds
            .stack
            .functions
            .iter()
            .find(|f| f.logical_id == logical_id)
            .unwrap()
            .name;
        self.ds
            .lambda
            .logs()
            .since(name, 0)
            .iter()
            .filter(|l| l.text.starts_with("START RequestId:"))
            .count()
    }

    async fn click(&self, code: &str) {
        let r = self
            .http
            .get(format!("{}/{code}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 301);
    }

    fn only_connection(&self) -> String {
        let open = self.ds.websocket.as_ref().unwrap().connections();
        assert_eq!(open.len(), 1, "{open:?}");
        open[0].id.clone()
    }
}

#[tokio::test]
async fn the_products_watchers_get_live_counts() {
    let p = product_stack(ClockMode::Real).await;
    assert!(p.ds.stack.warnings.is_empty(), "{:?}", p.ds.stack.warnings);
    let alice = p.token("alice@example.com");
    let bob = p.token("bob@example.com");
    let code = p.create_link(&alice).await;

    // $connect verifies the token and that the caller owns the code.
    assert_eq!(refused(&p.watch_url(&code, None)).await.0, 401);
    assert_eq!(
        refused(&p.watch_url(&code, Some("not.a.token"))).await.0,
        401
    );
    assert_eq!(refused(&p.watch_url(&code, Some(&bob))).await.0, 403);
    assert!(p.ds.websocket.as_ref().unwrap().connections().is_empty());
    let mut ws = connect(&p.watch_url(&code, Some(&alice))).await.unwrap();
    let id = p.only_connection();
    assert!(p.connection_item(&id).await, "$connect stored the watcher");

    // A watcher whose client is gone without a $disconnect: the push's 410 removes it.
    let s = |v: &str| AttributeValue::S(v.into());
    p.ddb
        .put_item()
        .table_name("devstack-LinksTable")
        .item("PK", s("CONN#Ghost000000000w="))
        .item("SK", s("META"))
        .item("GSI1PK", s(&format!("WSCODE#{code}")))
        .item("GSI1SK", s("CONN#Ghost000000000w="))
        .item("connectionId", s("Ghost000000000w="))
        .item("code", s(&code))
        .item("ownerId", s("someone"))
        .send()
        .await
        .unwrap();

    // A click on the link reaches the watcher: resolve -> EventBridge -> SQS -> aggregator ->
    // @connections -> this socket.
    let r = p
        .http
        .get(format!("{}/{code}", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    let pushed = next_json(&mut ws).await;
    assert_eq!(pushed, json!({"code": code, "clicks": 1, "today": 1}));
    assert!(
        p.connection_item_gone("Ghost000000000w=").await,
        "the gone watcher was cleaned up after its 410"
    );

    // The functions' own endpoint, through the SDK: 410 for an unknown id, and DELETE closes
    // the socket and runs $disconnect, which forgets the watcher.
    let endpoint =
        p.ds.stack
            .functions
            .iter()
            .find_map(|f| f.environment.get("WS_MANAGEMENT_ENDPOINT"))
            .unwrap()
            .clone();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
    let api = management(&p.ds, &endpoint);
    let gone = api
        .post_to_connection()
        .connection_id("Ghost000000000w=")
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert!(
        gone.as_service_error()
            .is_some_and(|e| e.is_gone_exception())
    );
    api.delete_connection()
        .connection_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(closed(&mut ws).await.code, CloseCode::Normal);
    assert!(
        p.connection_item_gone(&id).await,
        "$disconnect deleted the watcher"
    );
    p.ds.shutdown().await;
}

#[tokio::test]
async fn idle_product_watchers_are_disconnected_on_the_virtual_clock() {
    let p = product_stack(ClockMode::Virtual {
        start_ms: ClockMode::VIRTUAL_EPOCH_MS,
    })
    .await;
    let alice = p.token("alice@example.com");
    let code = p.create_link(&alice).await;
    let mut ws = connect(&p.watch_url(&code, Some(&alice))).await.unwrap();
    let id = p.only_connection();
    assert!(p.connection_item(&id).await);
    p.ds.advance_clock(10 * 60 * 1000).unwrap();
    assert_eq!(closed(&mut ws).await.code, CloseCode::Away);
    assert!(
        p.connection_item_gone(&id).await,
        "$disconnect deleted the idle watcher"
    );
    p.ds.shutdown().await;
}

#[tokio::test]
async fn a_watcher_made_gone_is_cleaned_up_after_its_410() {
    let p = product_stack(ClockMode::Real).await;
    let alice = p.token("alice@example.com");
    let code = p.create_link(&alice).await;
    let mut stale = connect(&p.watch_url(&code, Some(&alice))).await.unwrap();
    let stale_id = p.only_connection();
    let mut live = connect(&p.watch_url(&code, Some(&alice))).await.unwrap();
    let gw = p.ds.websocket.as_ref().unwrap();
    let live_id = gw
        .connections()
        .into_iter()
        .map(|c| c.id)
        .find(|id| *id != stale_id)
        .expect("the second watcher");
    assert!(p.connection_item(&stale_id).await && p.connection_item(&live_id).await);

    // Armed at runtime once both watch: the first watcher's network is gone at its next push.
    let rule =
        p.ds.chaos
            .add(
                format!("websocket=* connection={stale_id} gone")
                    .parse()
                    .unwrap(),
            )
            .unwrap();

    // A click: the aggregator pushes to both; the live watcher gets the count, the stale
    // one's push answers 410 and the aggregator deletes its watcher item. The socket ends
    // without a close frame, and no $disconnect ran (it would have deleted the item too).
    p.click(&code).await;
    assert_eq!(
        next_json(&mut live).await,
        json!({"code": code, "clicks": 1, "today": 1})
    );
    dropped(&mut stale).await;
    assert!(
        p.connection_item_gone(&stale_id).await,
        "the product deleted the stale watcher after its 410"
    );
    assert_eq!(
        gone_faults(&p.ds),
        [(
            rule.id.unwrap(),
            "WebSocketApi".to_owned(),
            Some(stale_id.clone())
        )]
    );
    assert_eq!(gw.connections().len(), 1);

    // The other watcher keeps receiving; the stale one is no longer pushed to.
    p.click(&code).await;
    assert_eq!(
        next_json(&mut live).await,
        json!({"code": code, "clicks": 2, "today": 2})
    );
    assert_eq!(gone_faults(&p.ds).len(), 1);
    let endpoint =
        p.ds.stack
            .functions
            .iter()
            .find_map(|f| f.environment.get("WS_MANAGEMENT_ENDPOINT"))
            .unwrap()
            .clone();
    let api = management(&p.ds, &endpoint);
    all_gone(&api, &stale_id).await;

    // $disconnect never ran for the stale watcher: the only invocation of ws_disconnect is
    // the live watcher's, after its DELETE.
    assert_eq!(p.invocations("WsDisconnectFunction"), 0);
    api.delete_connection()
        .connection_id(&live_id)
        .send()
        .await
        .unwrap();
    assert_eq!(closed(&mut live).await.code, CloseCode::Normal);
    assert!(
        p.connection_item_gone(&live_id).await,
        "$disconnect deleted the live watcher"
    );
    assert_eq!(p.invocations("WsDisconnectFunction"), 1);
    p.ds.shutdown().await;
}
