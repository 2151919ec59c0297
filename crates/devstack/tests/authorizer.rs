//! The HTTP API's JWT authorizer, with tokens from an independent signer: a key pair made for
//! these tests, served as a JWKS (behind an OpenID discovery document) by wiremock, named as
//! the issuer through a template parameter.

use devstack::{Config, Devstack};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::time::{SystemTime, UNIX_EPOCH};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const KID: &str = "test-kid";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(pem: &[u8], alg_header: Header, claims: &Value) -> String {
    jsonwebtoken::encode(
        &alg_header,
        claims,
        &EncodingKey::from_rsa_pem(pem).unwrap(),
    )
    .unwrap()
}

fn rs256() -> Header {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(KID.into());
    h
}

fn b64(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn tokens_are_verified_as_api_gateway_does() {
    let issuer_server = MockServer::start().await;
    let issuer = format!("{}/tenant", issuer_server.uri());
    let mut jwk = Jwk::from_encoding_key(
        &EncodingKey::from_rsa_pem(&fixture("issuer-key.pem")).unwrap(),
        Algorithm::RS256,
    )
    .unwrap();
    jwk.common.key_id = Some(KID.into());
    Mock::given(method("GET"))
        .and(path("/tenant/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer, "jwks_uri": format!("{issuer}/keys"),
        })))
        .mount(&issuer_server)
        .await;
    Mock::given(method("GET"))
        .and(path("/tenant/keys"))
        .respond_with(ResponseTemplate::new(200).set_body_json(JwkSet { keys: vec![jwk] }))
        .mount(&issuer_server)
        .await;

    let mut config = Config::for_tests(format!(
        "{}/tests/fixtures/template.yaml",
        env!("CARGO_MANIFEST_DIR")
    ));
    config
        .parameter_overrides
        .insert("ExternalIssuer".into(), issuer.clone());
    let ds = Devstack::start(config).await.unwrap();
    let base = ds.http_url.clone().unwrap();
    let http = reqwest::Client::new();
    let call = |route: &'static str, token: Option<String>| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let mut req = http.get(format!("{base}{route}"));
            if let Some(t) = token {
                req = req.header("authorization", format!("Bearer {t}"));
            }
            let r = req.send().await.unwrap();
            let www = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), www, r.text().await.unwrap())
        }
    };
    let t = now();
    let good = json!({
        "sub": "user-1", "iss": issuer, "aud": "test-audience", "exp": t + 600, "iat": t,
        "token_use": "id", "email_verified": true, "cognito:groups": ["admins", "ops"],
    });
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        sign(&fixture("issuer-key.pem"), rs256(), &c)
    };

    // Valid: the function sees the claims, every value a string.
    let (status, _, body) = call("/external", Some(with(&|_| {}))).await;
    assert_eq!(status, 200, "{body}");
    let event: Value = serde_json::from_str(&body).unwrap();
    let claims = &event["requestContext"]["authorizer"]["jwt"]["claims"];
    assert_eq!(claims["sub"], json!("user-1"));
    assert_eq!(claims["exp"], json!((t + 600).to_string()));
    assert_eq!(claims["email_verified"], json!("true"));
    assert_eq!(claims["cognito:groups"], json!("[admins ops]"));
    lambda_http::request::from_str(&body).expect("lambda_http parses the authorized event");

    // An access token carries client_id instead of aud.
    let access = with(&|c| {
        c.as_object_mut().unwrap().remove("aud");
        c["client_id"] = json!("test-audience");
        c["token_use"] = json!("access");
        c["scope"] = json!("links/read links/write");
    });
    assert_eq!(call("/external", Some(access.clone())).await.0, 200);
    // Scopes: the scoped route wants links/write.
    assert_eq!(call("/scoped", Some(access)).await.0, 200);
    let (status, www, body) =
        call("/scoped", Some(with(&|c| c["scope"] = json!("links/read")))).await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"message": "Forbidden"})
    );
    assert!(www.unwrap().contains(r#"error="insufficient_scope""#));

    let refused: Vec<(&str, Option<String>, &str)> = vec![
        ("missing", None, "Bearer"),
        (
            "expired",
            Some(with(&|c| c["exp"] = json!(t - 1))),
            "the token has expired",
        ),
        (
            "not yet valid",
            Some(with(&|c| c["nbf"] = json!(t + 300))),
            "the token is not valid yet",
        ),
        (
            "wrong audience",
            Some(with(&|c| c["aud"] = json!("someone-else"))),
            "the token does not have a valid audience",
        ),
        (
            "wrong issuer",
            Some(with(&|c| c["iss"] = json!("https://evil.example/tenant"))),
            "the token has an invalid issuer",
        ),
        (
            "bad signature",
            Some(sign(&fixture("attacker-key.pem"), rs256(), &good)),
            "the token signature is invalid",
        ),
        (
            "alg none",
            Some(format!(
                "{}.{}.",
                b64(&json!({"alg": "none", "kid": KID})),
                b64(&good)
            )),
            "the token is malformed",
        ),
        (
            "HS256 with the public key as secret",
            Some({
                let mut h = Header::new(Algorithm::HS256);
                h.kid = Some(KID.into());
                jsonwebtoken::encode(
                    &h,
                    &good,
                    &EncodingKey::from_secret(&fixture("issuer-key.pub.pem")),
                )
                .unwrap()
            }),
            "signing method HS256 is invalid",
        ),
        (
            "garbage",
            Some("not-a-jwt".into()),
            "the token is malformed",
        ),
    ];
    for (case, token, expected) in refused {
        let (status, www, body) = call("/external", token).await;
        assert_eq!(status, 401, "{case}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"message": "Unauthorized"}),
            "{case}"
        );
        let www = www.unwrap_or_default();
        assert!(www.contains(expected), "{case}: {www}");
    }
    // The JWKS was fetched once and cached.
    let fetches = issuer_server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/tenant/keys")
        .count();
    assert_eq!(fetches, 1);
}
