//! WebSocket `$connect`/`$disconnect`, and the JWT verification behind `$connect`, with tokens
//! from an independent signer (a key made for these tests, served as a JWKS by wiremock).

use crate::support::*;
use aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;
use functions::handlers::ws_connect::WsConnect;
use functions::handlers::ws_disconnect::WsDisconnect;
use functions::jwt::{JwtError, Verifier};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_ID: &str = "4k2d0client0id0example00";
const POOL: &str = "us-east-1_Test";
const KID: &str = "test-key";

fn key(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

struct Issuer {
    server: MockServer,
}

impl Issuer {
    async fn start() -> Self {
        let server = MockServer::start().await;
        let signing = EncodingKey::from_rsa_pem(&key("test-signing-key.pem")).unwrap();
        let mut jwk = Jwk::from_encoding_key(&signing, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(KID.into());
        Mock::given(method("GET"))
            .and(path(format!("/{POOL}/.well-known/jwks.json")))
            .respond_with(ResponseTemplate::new(200).set_body_json(JwkSet { keys: vec![jwk] }))
            .mount(&server)
            .await;
        Self { server }
    }

    fn url(&self) -> String {
        format!("{}/{POOL}", self.server.uri())
    }

    fn verifier(&self) -> Verifier {
        Verifier::new(&self.url(), CLIENT_ID)
    }

    /// Claims of a valid id token for `sub`, issued at T0 for an hour.
    fn claims(&self, sub: &str) -> Value {
        json!({
            "sub": sub, "iss": self.url(), "aud": CLIENT_ID, "token_use": "id",
            "iat": T0 / 1000, "auth_time": T0 / 1000, "exp": T0 / 1000 + 3600,
            "email": "alice@example.com", "cognito:username": sub,
        })
    }

    fn sign(&self, claims: &Value) -> String {
        sign_with(&key("test-signing-key.pem"), claims)
    }
}

fn sign_with(pem: &[u8], claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.into());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn tokens_are_checked_as_the_gateway_authorizer_checks_them() {
    let issuer = Issuer::start().await;
    let v = issuer.verifier();
    let now = domain::EpochMillis(T0 + 1000);
    let ok = issuer.claims(ALICE);
    assert_eq!(v.verify(&issuer.sign(&ok), now).await.unwrap().sub, ALICE);

    let mut access = ok.clone();
    access["token_use"] = json!("access");
    access.as_object_mut().unwrap().remove("aud");
    access["client_id"] = json!(CLIENT_ID);
    assert!(
        v.verify(&issuer.sign(&access), now).await.is_ok(),
        "access tokens carry client_id"
    );

    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = ok.clone();
        f(&mut c);
        issuer.sign(&c)
    };
    let expired = with(&|c| c["exp"] = json!(T0 / 1000));
    assert_eq!(v.verify(&expired, now).await, Err(JwtError::Expired));
    // Valid by the event's clock even if the machine's clock says otherwise: the same token is
    // good one second before its expiry.
    assert!(
        v.verify(&expired, domain::EpochMillis(T0 - 1000))
            .await
            .is_ok()
    );
    let future = with(&|c| c["nbf"] = json!(T0 / 1000 + 60));
    assert_eq!(v.verify(&future, now).await, Err(JwtError::NotYetValid));
    let wrong_aud = with(&|c| c["aud"] = json!("another-client"));
    assert_eq!(v.verify(&wrong_aud, now).await, Err(JwtError::Audience));
    let wrong_access = with(&|c| {
        c["token_use"] = json!("access");
        c["client_id"] = json!("another-client");
    });
    assert_eq!(v.verify(&wrong_access, now).await, Err(JwtError::Audience));
    let refresh_like = with(&|c| c["token_use"] = json!("refresh"));
    assert!(matches!(
        v.verify(&refresh_like, now).await,
        Err(JwtError::TokenUse(_))
    ));
    let wrong_iss =
        with(&|c| c["iss"] = json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"));
    assert!(matches!(
        v.verify(&wrong_iss, now).await,
        Err(JwtError::Invalid(_))
    ));

    let forged = sign_with(&key("test-attacker-key.pem"), &ok);
    assert!(
        matches!(v.verify(&forged, now).await, Err(JwtError::Invalid(_))),
        "bad signature"
    );

    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": KID})),
        b64(&ok)
    );
    assert!(v.verify(&none, now).await.is_err(), "alg none");

    // HS256 signed with the public key as the HMAC secret (the classic key-confusion attack).
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some(KID.into());
    let confused = jsonwebtoken::encode(
        &hs,
        &ok,
        &EncodingKey::from_secret(&key("test-signing-key.pub.pem")),
    )
    .unwrap();
    assert_eq!(
        v.verify(&confused, now).await,
        Err(JwtError::Algorithm("HS256".into()))
    );

    let mut other_kid = Header::new(Algorithm::RS256);
    other_kid.kid = Some("rotated-away".into());
    let unknown = jsonwebtoken::encode(
        &other_kid,
        &ok,
        &EncodingKey::from_rsa_pem(&key("test-signing-key.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        v.verify(&unknown, now).await,
        Err(JwtError::UnknownKey("rotated-away".into()))
    );
    assert!(matches!(
        v.verify("not-a-jwt", now).await,
        Err(JwtError::Malformed(_))
    ));

    // The JWKS was fetched once and then served from the cache, unknown kid included (it is
    // within the refetch interval).
    let fetches = issuer.server.received_requests().await.unwrap().len();
    assert_eq!(fetches, 1);
}

fn connect_event(
    code: Option<&str>,
    token: Option<&str>,
    connection_id: &str,
) -> LambdaEvent<ApiGatewayWebsocketProxyRequest> {
    let mut e = fixture("websocket-connect.json");
    let mut q = serde_json::Map::new();
    if let Some(c) = code {
        q.insert("code".into(), json!(c));
    }
    if let Some(t) = token {
        q.insert("token".into(), json!(t));
    }
    e["multiValueQueryStringParameters"] =
        Value::Object(q.iter().map(|(k, v)| (k.clone(), json!([v]))).collect());
    e["queryStringParameters"] = Value::Object(q);
    e["requestContext"]["connectionId"] = json!(connection_id);
    LambdaEvent::new(serde_json::from_value(e).unwrap(), Context::default())
}

#[tokio::test]
async fn only_the_owner_with_a_valid_token_may_watch_a_link() {
    let stack = Stack::start().await;
    let issuer = Issuer::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "mine"}),
    )
    .await;
    let connect = WsConnect {
        store: stack.store(),
        verifier: issuer.verifier(),
    };
    let alice = issuer.sign(&issuer.claims(ALICE));
    let bob = issuer.sign(&issuer.claims(BOB));
    let status = |r: aws_lambda_events::apigw::ApiGatewayProxyResponse| r.status_code;

    assert_eq!(
        status(
            connect
                .handle(connect_event(Some("mine"), None, "c0"))
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            connect
                .handle(connect_event(Some("mine"), Some("junk"), "c1"))
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            connect
                .handle(connect_event(Some("mine"), Some(&bob), "c2"))
                .await
                .unwrap()
        ),
        403
    );
    assert_eq!(
        status(
            connect
                .handle(connect_event(Some("nosuch1"), Some(&alice), "c3"))
                .await
                .unwrap()
        ),
        403
    );
    assert_eq!(
        status(
            connect
                .handle(connect_event(None, Some(&alice), "c4"))
                .await
                .unwrap()
        ),
        400
    );
    let ok = connect
        .handle(connect_event(Some("mine"), Some(&alice), "c5"))
        .await
        .unwrap();
    insta::assert_json_snapshot!("ws_connect_ok", ok);

    let code = domain::ShortCode::parse("mine").unwrap();
    assert_eq!(
        stack.store().watchers(&code).await.unwrap(),
        ["c5"],
        "only the owner's connection"
    );

    let disconnect = WsDisconnect {
        store: stack.store(),
    };
    let mut e = fixture("websocket-connect.json");
    e["requestContext"]["routeKey"] = json!("$disconnect");
    e["requestContext"]["eventType"] = json!("DISCONNECT");
    e["requestContext"]["connectionId"] = json!("c5");
    let r = disconnect
        .handle(LambdaEvent::new(
            serde_json::from_value(e).unwrap(),
            Context::default(),
        ))
        .await
        .unwrap();
    assert_eq!(r.status_code, 200);
    assert!(stack.store().watchers(&code).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_connection_lives_no_longer_than_api_gateway_keeps_it() {
    let stack = Stack::start().await;
    let issuer = Issuer::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "ttl"}),
    )
    .await;
    let connect = WsConnect {
        store: stack.store(),
        verifier: issuer.verifier(),
    };
    let token = issuer.sign(&issuer.claims(ALICE));
    connect
        .handle(connect_event(Some("ttl"), Some(&token), "c1"))
        .await
        .unwrap();
    let item = stack
        .ddb()
        .get_item()
        .table_name(&stack.table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("CONN#c1".into()),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("META".into()),
        )
        .send()
        .await
        .unwrap();
    let item = item.item().unwrap();
    let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
    assert_eq!(ttl, T0 / 1000 + 7200, "connectedAt (from the event) + 2 h");
    assert_eq!(item["GSI1PK"].as_s().unwrap(), "WSCODE#ttl");
}
