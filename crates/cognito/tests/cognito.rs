//! devstack's Cognito through its public surface: the awsJson operations, the JWKS and
//! OpenID documents, `token_for`, and persistence across a restart.

use clock::{Clock, ManualClock};
use cognito::{Answer, Cognito, CognitoError, SentKind};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use template::model::{PasswordPolicy, Stack, UserPool, UserPoolClient};

const NOW_MS: i64 = 1_795_773_600_000;
const NOW: i64 = NOW_MS / 1000;
const POOL: &str = "us-east-1_AbCdEfGh1";
const ISSUER: &str = "http://127.0.0.1:4566/us-east-1_AbCdEfGh1";
const WEB: &str = "4jrb1kgh2hm5s3ad7hvuqvfq0a";
const SRP: &str = "6mpsb0pa9lka3lqqsrkm5u1t2b";

fn pool(id: &str, logical_id: &str, username_attributes: &[&str]) -> UserPool {
    UserPool {
        logical_id: logical_id.into(),
        id: id.into(),
        name: format!("app-{logical_id}"),
        arn: format!("arn:aws:cognito-idp:us-east-1:000000000000:userpool/{id}"),
        provider_url: format!("http://127.0.0.1:4566/{id}"),
        username_attributes: username_attributes.iter().map(|s| s.to_string()).collect(),
        auto_verified_attributes: vec!["email".into()],
        password_policy: PasswordPolicy {
            minimum_length: 8,
            require_lowercase: true,
            require_uppercase: true,
            require_numbers: true,
            require_symbols: false,
        },
    }
}

fn client(id: &str, pool: &str, name: &str, flows: &[&str]) -> UserPoolClient {
    UserPoolClient {
        logical_id: name.into(),
        id: id.into(),
        user_pool_id: pool.into(),
        name: name.into(),
        explicit_auth_flows: flows.iter().map(|s| s.to_string()).collect(),
        generate_secret: false,
        access_token_validity: 3_600,
        id_token_validity: 3_600,
        refresh_token_validity: 30 * 86_400,
    }
}

/// The product's shape: users sign in by email, a web client with password and refresh
/// flows (and the admin flow), and an SRP-only client.
fn stack() -> Stack {
    Stack {
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        user_pools: vec![pool(POOL, "UserPool", &["email"])],
        user_pool_clients: vec![
            client(
                WEB,
                POOL,
                "UserPoolClient",
                &[
                    "ALLOW_USER_PASSWORD_AUTH",
                    "ALLOW_REFRESH_TOKEN_AUTH",
                    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
                ],
            ),
            client(
                SRP,
                POOL,
                "SrpClient",
                &["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            ),
        ],
        ..Default::default()
    }
}

fn start(dir: Option<&std::path::Path>) -> (Cognito, Arc<ManualClock>) {
    let clock = ManualClock::starting_at(NOW_MS);
    let c = Cognito::new(&stack(), clock.clone() as Arc<dyn Clock>, dir).expect("cognito");
    (c, clock)
}

fn call(c: &Cognito, op: &str, body: Value) -> Answer {
    c.dispatch(op, body.to_string().as_bytes())
}

#[track_caller]
fn ok(c: &Cognito, op: &str, body: Value) -> Value {
    let a = call(c, op, body);
    assert_eq!(a.status, 200, "{op}: {}", a.body);
    a.body
}

/// The error code and message of a failed call.
#[track_caller]
fn fail(c: &Cognito, op: &str, body: Value) -> (String, String) {
    let a = call(c, op, body);
    assert_ne!(a.status, 200, "{op} should fail: {}", a.body);
    (
        a.body["__type"].as_str().unwrap_or_default().to_owned(),
        a.body["message"].as_str().unwrap_or_default().to_owned(),
    )
}

fn sign_in(c: &Cognito, username: &str, password: &str) -> Answer {
    call(
        c,
        "InitiateAuth",
        json!({"ClientId": WEB, "AuthFlow": "USER_PASSWORD_AUTH",
               "AuthParameters": {"USERNAME": username, "PASSWORD": password}}),
    )
}

/// Verifies a token as a relying party does: the key from the JWKS by `kid`, RS256, the
/// issuer, and (for an id token) the audience. Expiry is checked by the caller against the
/// virtual clock, so it is off here.
fn verify(jwks: &Value, token: &str, audience: Option<&str>) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ, None, "Cognito's header has kid and alg only");
    let kid = header.kid.expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == json!(kid))
        .expect("the token's kid is in the JWKS");
    assert_eq!(jwk["alg"], json!("RS256"));
    assert_eq!(jwk["use"], json!("sig"));
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[ISSUER]);
    v.validate_exp = false;
    match audience {
        Some(aud) => v.set_audience(&[aud]),
        None => v.validate_aud = false,
    }
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .expect("the token verifies")
        .claims
}

/// Signs `email` up with a good password and confirms it with the code it was sent.
fn signed_up(c: &Cognito, email: &str, password: &str) -> String {
    let out = ok(
        c,
        "SignUp",
        json!({"ClientId": WEB, "Username": email, "Password": password}),
    );
    let code = c.sent_codes().last().unwrap().code.clone();
    ok(
        c,
        "ConfirmSignUp",
        json!({"ClientId": WEB, "Username": email, "ConfirmationCode": code}),
    );
    out["UserSub"].as_str().unwrap().to_owned()
}

/// A temporary directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("cognito-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn sign_up_confirm_sign_in_refresh_and_get_user() {
    let (c, clock) = start(None);

    // A weak password: every rule it breaks is named.
    for (weak, missing) in [
        ("abc", vec!["not long enough", "uppercase", "numeric"]),
        ("abcdefgh", vec!["uppercase", "numeric"]),
        ("ABCDEFGH1", vec!["lowercase"]),
        ("Abcdefghi", vec!["numeric"]),
        ("Abc1", vec!["not long enough"]),
    ] {
        let (code, message) = fail(
            &c,
            "SignUp",
            json!({"ClientId": WEB, "Username": "alice@example.com", "Password": weak}),
        );
        assert_eq!(code, "InvalidPasswordException");
        assert!(message.starts_with("Password did not conform with policy: "));
        for m in &missing {
            assert!(message.contains(m), "{weak}: {message} should say {m}");
        }
        assert!(!message.contains("symbol"), "the pool requires no symbols");
    }
    assert!(c.sent_codes().is_empty());

    let out = ok(
        &c,
        "SignUp",
        json!({"ClientId": WEB, "Username": "alice@example.com", "Password": "Correct-Horse1",
               "UserAttributes": [{"Name": "name", "Value": "Alice"}]}),
    );
    assert_eq!(out["UserConfirmed"], json!(false));
    let sub = out["UserSub"].as_str().unwrap().to_owned();
    assert_eq!(sub.len(), 36, "a UUID");
    assert_eq!(
        out["CodeDeliveryDetails"],
        json!({"Destination": "a***@e***", "DeliveryMedium": "EMAIL", "AttributeName": "email"})
    );
    let sent = c.sent_codes();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].pool_id, POOL);
    assert_eq!(
        sent[0].username, sub,
        "the username of an email pool is the sub"
    );
    assert_eq!(sent[0].destination, "alice@example.com");
    assert_eq!(sent[0].kind, SentKind::Confirmation);
    let code = sent[0].code.clone();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));

    let a = sign_in(&c, "alice@example.com", "Correct-Horse1");
    assert_eq!(a.status, 400);
    assert_eq!(
        a.body,
        json!({"__type": "UserNotConfirmedException", "message": "User is not confirmed."})
    );

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (e, _) = fail(
        &c,
        "ConfirmSignUp",
        json!({"ClientId": WEB, "Username": "alice@example.com", "ConfirmationCode": wrong}),
    );
    assert_eq!(e, "CodeMismatchException");
    ok(
        &c,
        "ConfirmSignUp",
        json!({"ClientId": WEB, "Username": "alice@example.com", "ConfirmationCode": code}),
    );
    assert_eq!(
        fail(
            &c,
            "ConfirmSignUp",
            json!({"ClientId": WEB, "Username": "alice@example.com", "ConfirmationCode": code})
        ),
        (
            "NotAuthorizedException".into(),
            "User cannot be confirmed. Current status is CONFIRMED".into()
        )
    );

    // Emails sign in without regard to case, as Cognito's do.
    let a = sign_in(&c, "Alice@Example.com", "Correct-Horse1");
    assert_eq!(a.status, 200, "{}", a.body);
    let result = &a.body["AuthenticationResult"];
    assert_eq!(result["TokenType"], json!("Bearer"));
    assert_eq!(result["ExpiresIn"], json!(3600));
    let jwks = c.jwks(POOL).unwrap();

    let id = verify(&jwks, result["IdToken"].as_str().unwrap(), Some(WEB));
    assert_eq!(id["sub"], json!(sub));
    assert_eq!(id["iss"], json!(ISSUER));
    assert_eq!(id["aud"], json!(WEB));
    assert_eq!(id["cognito:username"], json!(sub));
    assert_eq!(id["token_use"], json!("id"));
    assert_eq!(id["email"], json!("alice@example.com"));
    assert_eq!(id["email_verified"], json!(true));
    assert_eq!(id["name"], json!("Alice"));
    assert_eq!(id["iat"], json!(NOW));
    assert_eq!(id["auth_time"], json!(NOW));
    assert_eq!(id["exp"], json!(NOW + 3600));
    for claim in ["origin_jti", "event_id", "jti"] {
        assert!(id[claim].is_string(), "{claim}");
    }

    let access_token = result["AccessToken"].as_str().unwrap().to_owned();
    let access = verify(&jwks, &access_token, None);
    assert_eq!(access["client_id"], json!(WEB));
    assert_eq!(access["token_use"], json!("access"));
    assert_eq!(access["scope"], json!("aws.cognito.signin.user.admin"));
    assert_eq!(access["username"], json!(sub));
    assert_eq!(access["sub"], json!(sub));
    assert_eq!(access["exp"], json!(NOW + 3600));
    assert_eq!(access["origin_jti"], id["origin_jti"]);
    assert!(access.get("aud").is_none());

    let me = ok(&c, "GetUser", json!({"AccessToken": access_token}));
    assert_eq!(me["Username"], json!(sub));
    let attrs = me["UserAttributes"].as_array().unwrap();
    assert_eq!(attrs[0], json!({"Name": "sub", "Value": sub}));
    assert!(attrs.contains(&json!({"Name": "email", "Value": "alice@example.com"})));
    assert!(attrs.contains(&json!({"Name": "email_verified", "Value": "true"})));

    // An id token, or anything not ours, is no access token.
    for bad in [result["IdToken"].as_str().unwrap(), "not.a.token", ""] {
        let (e, m) = fail(&c, "GetUser", json!({"AccessToken": bad}));
        if !bad.is_empty() {
            assert_eq!(
                (e.as_str(), m.as_str()),
                ("NotAuthorizedException", "Invalid Access Token")
            );
        }
    }

    // Past exp on devstack's clock, the access token is expired; the refresh token is not.
    clock.advance(3_601_000);
    assert_eq!(
        fail(&c, "GetUser", json!({"AccessToken": access_token})),
        (
            "NotAuthorizedException".into(),
            "Access Token has expired".into()
        )
    );
    let refresh_token = result["RefreshToken"].as_str().unwrap();
    let refreshed = ok(
        &c,
        "InitiateAuth",
        json!({"ClientId": WEB, "AuthFlow": "REFRESH_TOKEN_AUTH",
               "AuthParameters": {"REFRESH_TOKEN": refresh_token}}),
    );
    let r = &refreshed["AuthenticationResult"];
    assert!(
        r.get("RefreshToken").is_none(),
        "a refresh returns no new refresh token"
    );
    let new_id = verify(&jwks, r["IdToken"].as_str().unwrap(), Some(WEB));
    assert_eq!(new_id["iat"], json!(NOW + 3601));
    assert_eq!(new_id["exp"], json!(NOW + 3601 + 3600));
    assert_eq!(
        new_id["auth_time"],
        json!(NOW),
        "the sign-in's time is kept"
    );
    assert_eq!(new_id["origin_jti"], id["origin_jti"]);
    assert_ne!(new_id["jti"], id["jti"]);
    let me = ok(&c, "GetUser", json!({"AccessToken": r["AccessToken"]}));
    assert_eq!(me["Username"], json!(sub));

    // A refresh token only works for its own client, and not after its validity.
    let (e, m) = fail(
        &c,
        "InitiateAuth",
        json!({"ClientId": SRP, "AuthFlow": "REFRESH_TOKEN_AUTH",
               "AuthParameters": {"REFRESH_TOKEN": refresh_token}}),
    );
    assert_eq!(
        (e.as_str(), m.as_str()),
        ("NotAuthorizedException", "Invalid Refresh Token")
    );
    assert_eq!(
        fail(
            &c,
            "InitiateAuth",
            json!({"ClientId": WEB, "AuthFlow": "REFRESH_TOKEN_AUTH",
                   "AuthParameters": {"REFRESH_TOKEN": "forged"}})
        )
        .1,
        "Invalid Refresh Token"
    );
    clock.advance(30 * 86_400 * 1000);
    assert_eq!(
        fail(
            &c,
            "InitiateAuth",
            json!({"ClientId": WEB, "AuthFlow": "REFRESH_TOKEN_AUTH",
                   "AuthParameters": {"REFRESH_TOKEN": refresh_token}})
        )
        .1,
        "Refresh Token has expired"
    );
}

#[test]
fn sign_in_and_sign_up_refusals() {
    let (c, _) = start(None);
    signed_up(&c, "alice@example.com", "Correct-Horse1");

    for name in ["alice@example.com", "ALICE@example.com"] {
        assert_eq!(
            fail(
                &c,
                "SignUp",
                json!({"ClientId": WEB, "Username": name, "Password": "Other-Pass1"})
            ),
            (
                "UsernameExistsException".into(),
                "An account with the given email already exists.".into()
            )
        );
    }
    assert_eq!(
        fail(
            &c,
            "SignUp",
            json!({"ClientId": WEB, "Username": "alice", "Password": "Other-Pass1"})
        ),
        (
            "InvalidParameterException".into(),
            "Username should be an email.".into()
        )
    );
    let (e, _) = fail(
        &c,
        "SignUp",
        json!({"ClientId": WEB, "Username": "mallory@example.com", "Password": "Other-Pass1",
               "UserAttributes": [{"Name": "email_verified", "Value": "true"}]}),
    );
    assert_eq!(
        e, "InvalidParameterException",
        "users cannot verify themselves"
    );

    // Wrong password and unknown user answer alike.
    for (user, pw) in [
        ("alice@example.com", "Wrong-Pass1"),
        ("nobody@example.com", "Correct-Horse1"),
    ] {
        let a = sign_in(&c, user, pw);
        assert_eq!(
            a.body,
            json!({"__type": "NotAuthorizedException", "message": "Incorrect username or password."})
        );
    }

    let (e, m) = fail(
        &c,
        "InitiateAuth",
        json!({"ClientId": "nope", "AuthFlow": "USER_PASSWORD_AUTH",
               "AuthParameters": {"USERNAME": "alice@example.com", "PASSWORD": "Correct-Horse1"}}),
    );
    assert_eq!(e, "ResourceNotFoundException");
    assert!(m.contains("nope"));
    assert_eq!(
        fail(
            &c,
            "InitiateAuth",
            json!({"ClientId": SRP, "AuthFlow": "USER_PASSWORD_AUTH",
                   "AuthParameters": {"USERNAME": "alice@example.com", "PASSWORD": "Correct-Horse1"}})
        ),
        (
            "InvalidParameterException".into(),
            "USER_PASSWORD_AUTH flow not enabled for this client".into()
        )
    );
    let (e, m) = fail(
        &c,
        "InitiateAuth",
        json!({"ClientId": WEB, "AuthFlow": "USER_PASSWORD_AUTH",
               "AuthParameters": {"USERNAME": "alice@example.com"}}),
    );
    assert_eq!(
        (e.as_str(), m.as_str()),
        (
            "InvalidParameterException",
            "Missing required parameter PASSWORD"
        )
    );
    let (e, _) = fail(
        &c,
        "SignUp",
        json!({"ClientId": WEB, "Username": "bob@example.com"}),
    );
    assert_eq!(e, "InvalidParameterException");
}

#[test]
fn protocol_errors() {
    let (c, _) = start(None);
    let a = c.dispatch("CreateUserPool", b"{}");
    assert_eq!(a.status, 400);
    assert_eq!(a.body["__type"], json!("UnknownOperationException"));
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("CreateUserPool")
    );
    assert_eq!(
        c.dispatch("SignUp", b"{not json").body["__type"],
        json!("SerializationException")
    );
    assert_eq!(
        c.dispatch("SignUp", b"[]").body["__type"],
        json!("SerializationException")
    );
    assert_eq!(
        fail(
            &c,
            "DescribeUserPool",
            json!({"UserPoolId": "us-east-1_Nope"})
        ),
        (
            "ResourceNotFoundException".into(),
            "User pool us-east-1_Nope does not exist.".into()
        )
    );
    assert_eq!(
        fail(&c, "SignUp", json!({"ClientId": 7})).0,
        "SerializationException"
    );
}

#[test]
fn expired_and_resent_codes() {
    let (c, clock) = start(None);
    ok(
        &c,
        "SignUp",
        json!({"ClientId": WEB, "Username": "carol@example.com", "Password": "Correct-Horse1"}),
    );
    let old = c.sent_codes()[0].code.clone();
    clock.advance(25 * 3_600 * 1000);
    assert_eq!(
        fail(
            &c,
            "ConfirmSignUp",
            json!({"ClientId": WEB, "Username": "carol@example.com", "ConfirmationCode": old})
        )
        .0,
        "ExpiredCodeException"
    );
    let out = ok(
        &c,
        "ResendConfirmationCode",
        json!({"ClientId": WEB, "Username": "carol@example.com"}),
    );
    assert_eq!(
        out["CodeDeliveryDetails"]["Destination"],
        json!("c***@e***")
    );
    let new = c.sent_codes()[1].code.clone();
    ok(
        &c,
        "ConfirmSignUp",
        json!({"ClientId": WEB, "Username": "carol@example.com", "ConfirmationCode": new}),
    );
    assert_eq!(
        sign_in(&c, "carol@example.com", "Correct-Horse1").status,
        200
    );
}

#[test]
fn administrator_creates_and_signs_in_users() {
    let (c, _) = start(None);
    let out = ok(
        &c,
        "AdminCreateUser",
        json!({"UserPoolId": POOL, "Username": "bob@example.com", "TemporaryPassword": "Temp-Pass1",
               "MessageAction": "SUPPRESS",
               "UserAttributes": [{"Name": "email_verified", "Value": "true"}, {"Name": "given_name", "Value": "Bob"}]}),
    );
    let user = &out["User"];
    assert_eq!(user["UserStatus"], json!("FORCE_CHANGE_PASSWORD"));
    assert_eq!(user["Enabled"], json!(true));
    assert_eq!(user["UserCreateDate"], json!(NOW as f64));
    let bob = user["Username"].as_str().unwrap().to_owned();
    assert_eq!(bob.len(), 36, "the username of an email pool is the sub");
    let attrs = user["Attributes"].as_array().unwrap();
    assert!(attrs.contains(&json!({"Name": "email", "Value": "bob@example.com"})));
    assert!(c.sent_codes().is_empty(), "SUPPRESS sends nothing");
    assert_eq!(
        fail(
            &c,
            "AdminCreateUser",
            json!({"UserPoolId": POOL, "Username": "bob@example.com", "MessageAction": "SUPPRESS"})
        ),
        (
            "UsernameExistsException".into(),
            "User account already exists".into()
        )
    );
    assert_eq!(
        fail(
            &c,
            "AdminCreateUser",
            json!({"UserPoolId": POOL, "Username": "eve@example.com", "TemporaryPassword": "weak"})
        )
        .0,
        "InvalidPasswordException"
    );

    // The temporary password leads to NEW_PASSWORD_REQUIRED; answering it signs in.
    let a = sign_in(&c, "bob@example.com", "Temp-Pass1");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["ChallengeName"], json!("NEW_PASSWORD_REQUIRED"));
    let session = a.body["Session"].as_str().unwrap().to_owned();
    let user_attributes: Value = serde_json::from_str(
        a.body["ChallengeParameters"]["userAttributes"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(user_attributes["email"], json!("bob@example.com"));
    let respond = |pw: &str, session: &str| {
        call(
            &c,
            "RespondToAuthChallenge",
            json!({"ClientId": WEB, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": session,
                   "ChallengeResponses": {"USERNAME": "bob@example.com", "NEW_PASSWORD": pw}}),
        )
    };
    assert_eq!(
        respond("weak", &session).body["__type"],
        json!("InvalidPasswordException")
    );
    assert_eq!(
        respond("Better-Pass2", "forged").body["__type"],
        json!("NotAuthorizedException")
    );
    let a = respond("Better-Pass2", &session);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["AuthenticationResult"]["RefreshToken"].is_string());
    assert_eq!(
        respond("Better-Pass3", &session).body["__type"],
        json!("NotAuthorizedException"),
        "a session answers once"
    );
    let got = ok(
        &c,
        "AdminGetUser",
        json!({"UserPoolId": POOL, "Username": bob}),
    );
    assert_eq!(got["UserStatus"], json!("CONFIRMED"));
    assert!(
        got["UserAttributes"]
            .as_array()
            .unwrap()
            .contains(&json!({"Name": "given_name", "Value": "Bob"}))
    );

    // An invitation without SUPPRESS carries a generated temporary password.
    ok(
        &c,
        "AdminCreateUser",
        json!({"UserPoolId": POOL, "Username": "dave@example.com", "DesiredDeliveryMediums": ["EMAIL"]}),
    );
    let invite = c.sent_codes().pop().unwrap();
    assert_eq!(invite.kind, SentKind::TemporaryPassword);
    assert_eq!(invite.destination, "dave@example.com");
    let a = sign_in(&c, "dave@example.com", &invite.code);
    assert_eq!(a.body["ChallengeName"], json!("NEW_PASSWORD_REQUIRED"));

    // A permanent password confirms; the admin flow signs in.
    ok(
        &c,
        "AdminSetUserPassword",
        json!({"UserPoolId": POOL, "Username": "dave@example.com", "Password": "Dave-Pass1", "Permanent": true}),
    );
    let got = ok(
        &c,
        "AdminGetUser",
        json!({"UserPoolId": POOL, "Username": "dave@example.com"}),
    );
    assert_eq!(got["UserStatus"], json!("CONFIRMED"));
    let admin_auth = |client: &str| {
        call(
            &c,
            "AdminInitiateAuth",
            json!({"UserPoolId": POOL, "ClientId": client, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
                   "AuthParameters": {"USERNAME": "dave@example.com", "PASSWORD": "Dave-Pass1"}}),
        )
    };
    let a = admin_auth(WEB);
    assert_eq!(a.status, 200, "{}", a.body);
    let jwks = c.jwks(POOL).unwrap();
    let id = verify(
        &jwks,
        a.body["AuthenticationResult"]["IdToken"].as_str().unwrap(),
        Some(WEB),
    );
    assert_eq!(id["email"], json!("dave@example.com"));
    assert_eq!(
        id["email_verified"],
        json!(false),
        "nobody verified dave's address"
    );
    assert_eq!(
        admin_auth(SRP).body["__type"],
        json!("InvalidParameterException")
    );
    let refresh = a.body["AuthenticationResult"]["RefreshToken"].clone();
    let a = ok(
        &c,
        "AdminInitiateAuth",
        json!({"UserPoolId": POOL, "ClientId": WEB, "AuthFlow": "REFRESH_TOKEN_AUTH",
               "AuthParameters": {"REFRESH_TOKEN": refresh}}),
    );
    assert!(a["AuthenticationResult"]["IdToken"].is_string());

    // A self sign-up confirmed by the administrator; a second confirmation is refused.
    ok(
        &c,
        "SignUp",
        json!({"ClientId": WEB, "Username": "erin@example.com", "Password": "Erin-Pass1"}),
    );
    ok(
        &c,
        "AdminConfirmSignUp",
        json!({"UserPoolId": POOL, "Username": "erin@example.com"}),
    );
    assert_eq!(sign_in(&c, "erin@example.com", "Erin-Pass1").status, 200);
    assert_eq!(
        fail(
            &c,
            "AdminConfirmSignUp",
            json!({"UserPoolId": POOL, "Username": "erin@example.com"})
        )
        .1,
        "User cannot be confirmed. Current status is CONFIRMED"
    );

    // Disabled users cannot sign in; deleted users are gone.
    ok(
        &c,
        "AdminDisableUser",
        json!({"UserPoolId": POOL, "Username": "erin@example.com"}),
    );
    assert_eq!(
        sign_in(&c, "erin@example.com", "Erin-Pass1").body["message"],
        json!("User is disabled.")
    );
    ok(
        &c,
        "AdminDeleteUser",
        json!({"UserPoolId": POOL, "Username": "erin@example.com"}),
    );
    assert_eq!(
        fail(
            &c,
            "AdminGetUser",
            json!({"UserPoolId": POOL, "Username": "erin@example.com"})
        ),
        (
            "UserNotFoundException".into(),
            "User does not exist.".into()
        )
    );
}

#[test]
fn describes_pools_and_clients() {
    let (c, _) = start(None);
    signed_up(&c, "alice@example.com", "Correct-Horse1");
    let pools = ok(&c, "ListUserPools", json!({"MaxResults": 10}));
    assert_eq!(pools["UserPools"].as_array().unwrap().len(), 1);
    assert_eq!(pools["UserPools"][0]["Id"], json!(POOL));
    assert!(pools.get("NextToken").is_none());
    assert_eq!(
        fail(&c, "ListUserPools", json!({})).0,
        "InvalidParameterException"
    );

    let clients = ok(
        &c,
        "ListUserPoolClients",
        json!({"UserPoolId": POOL, "MaxResults": 1}),
    );
    assert_eq!(
        clients["UserPoolClients"],
        json!([{"ClientId": WEB, "UserPoolId": POOL, "ClientName": "UserPoolClient"}])
    );
    let next = ok(
        &c,
        "ListUserPoolClients",
        json!({"UserPoolId": POOL, "MaxResults": 1, "NextToken": clients["NextToken"]}),
    );
    assert_eq!(next["UserPoolClients"][0]["ClientId"], json!(SRP));

    let pool = ok(&c, "DescribeUserPool", json!({"UserPoolId": POOL}))["UserPool"].clone();
    assert_eq!(pool["Id"], json!(POOL));
    assert_eq!(pool["Name"], json!("app-UserPool"));
    assert_eq!(
        pool["Arn"],
        json!(format!(
            "arn:aws:cognito-idp:us-east-1:000000000000:userpool/{POOL}"
        ))
    );
    assert_eq!(
        pool["Policies"]["PasswordPolicy"]["MinimumLength"],
        json!(8)
    );
    assert_eq!(
        pool["Policies"]["PasswordPolicy"]["RequireSymbols"],
        json!(false)
    );
    assert_eq!(pool["UsernameAttributes"], json!(["email"]));
    assert_eq!(pool["AutoVerifiedAttributes"], json!(["email"]));
    assert_eq!(pool["EstimatedNumberOfUsers"], json!(1));

    let client = ok(
        &c,
        "DescribeUserPoolClient",
        json!({"UserPoolId": POOL, "ClientId": WEB}),
    )["UserPoolClient"]
        .clone();
    assert_eq!(client["ClientId"], json!(WEB));
    assert_eq!(client["AccessTokenValidity"], json!(1));
    assert_eq!(client["RefreshTokenValidity"], json!(30));
    assert_eq!(
        client["TokenValidityUnits"],
        json!({"AccessToken": "hours", "IdToken": "hours", "RefreshToken": "days"})
    );
    assert_eq!(
        client["ExplicitAuthFlows"][0],
        json!("ALLOW_USER_PASSWORD_AUTH")
    );
    assert_eq!(
        fail(
            &c,
            "DescribeUserPoolClient",
            json!({"UserPoolId": POOL, "ClientId": "nope"})
        )
        .0,
        "ResourceNotFoundException"
    );
}

#[test]
fn state_survives_a_restart() {
    let dir = TempDir::new();
    let (c, _) = start(Some(&dir.0));
    let sub = signed_up(&c, "alice@example.com", "Correct-Horse1");
    let a = sign_in(&c, "alice@example.com", "Correct-Horse1");
    let old_id = a.body["AuthenticationResult"]["IdToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_refresh = a.body["AuthenticationResult"]["RefreshToken"].clone();
    let old_jwks = c.jwks(POOL).unwrap();
    drop(c);

    assert!(dir.0.join("signing-key.pem").is_file());
    let saved = std::fs::read_to_string(dir.0.join("users.json")).unwrap();
    assert!(saved.contains("alice@example.com"));
    assert!(
        !saved.contains("Correct-Horse1"),
        "passwords are stored hashed"
    );
    assert!(
        !saved.contains(old_refresh.as_str().unwrap()),
        "refresh tokens are stored hashed"
    );
    assert!(!dir.0.join("users.json.tmp").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.0.join("signing-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is private");
    }

    let (c, _) = start(Some(&dir.0));
    let jwks = c.jwks(POOL).unwrap();
    assert_eq!(jwks, old_jwks, "same key, same kid");
    let id = verify(&jwks, &old_id, Some(WEB));
    assert_eq!(id["sub"], json!(sub));
    let a = sign_in(&c, "alice@example.com", "Correct-Horse1");
    assert_eq!(a.status, 200, "{}", a.body);
    let a = ok(
        &c,
        "InitiateAuth",
        json!({"ClientId": WEB, "AuthFlow": "REFRESH_TOKEN_AUTH",
               "AuthParameters": {"REFRESH_TOKEN": old_refresh}}),
    );
    assert!(a["AuthenticationResult"]["AccessToken"].is_string());

    // A different state directory means a different key, which old tokens do not match.
    let other = TempDir::new();
    let (fresh, _) = start(Some(&other.0));
    let fresh_jwks = fresh.jwks(POOL).unwrap();
    assert_ne!(fresh_jwks["keys"][0]["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(
        fail(
            &fresh,
            "GetUser",
            json!({"AccessToken": a["AuthenticationResult"]["AccessToken"]})
        )
        .1,
        "Invalid Access Token"
    );

    // A damaged key is reported, not silently replaced.
    std::fs::write(other.0.join("signing-key.pem"), "garbage").unwrap();
    let clock = ManualClock::starting_at(NOW_MS) as Arc<dyn Clock>;
    assert!(matches!(
        Cognito::new(&stack(), clock, Some(&other.0)),
        Err(CognitoError::BadKey { .. })
    ));
}

#[test]
fn token_for_creates_and_reuses_users() {
    let (c, _) = start(None);
    let t = c.token_for(None, None, "demo@example.com").unwrap();
    assert_eq!(t.expires_in, 3600);
    assert!(!t.refresh_token.is_empty());
    let jwks = c.jwks(POOL).unwrap();
    let id = verify(&jwks, &t.id_token, Some(WEB));
    assert_eq!(id["email"], json!("demo@example.com"));
    assert_eq!(id["email_verified"], json!(true));
    let access = verify(&jwks, &t.access_token, None);
    assert_eq!(access["client_id"], json!(WEB));
    assert!(c.sent_codes().is_empty());
    let me = ok(&c, "GetUser", json!({"AccessToken": t.access_token}));
    assert_eq!(me["Username"], id["sub"]);
    let user = ok(
        &c,
        "AdminGetUser",
        json!({"UserPoolId": POOL, "Username": "demo@example.com"}),
    );
    assert_eq!(user["UserStatus"], json!("CONFIRMED"));

    // The same user again, for a client named by its logical id.
    let again = c
        .token_for(Some("UserPool"), Some("SrpClient"), "demo@example.com")
        .unwrap();
    let id2 = verify(&jwks, &again.id_token, Some(SRP));
    assert_eq!(id2["sub"], id["sub"]);

    // An unconfirmed sign-up is confirmed.
    ok(
        &c,
        "SignUp",
        json!({"ClientId": WEB, "Username": "late@example.com", "Password": "Correct-Horse1"}),
    );
    c.token_for(None, None, "late@example.com").unwrap();
    assert_eq!(
        sign_in(&c, "late@example.com", "Correct-Horse1").status,
        200
    );

    assert!(matches!(
        c.token_for(None, None, "not-an-email"),
        Err(CognitoError::Refused {
            code: "InvalidParameterException",
            ..
        })
    ));
    assert!(matches!(
        c.token_for(Some("nope"), None, "demo@example.com"),
        Err(CognitoError::UnknownPool(_))
    ));
    assert!(matches!(
        c.token_for(None, Some("nope"), "demo@example.com"),
        Err(CognitoError::UnknownClient { .. })
    ));

    // Several pools: one must be named. A plain-username pool keeps the name as username.
    let mut two = stack();
    two.user_pools
        .push(pool("us-east-1_Plain0001", "PlainPool", &[]));
    two.user_pool_clients.push(client(
        "plainclient000000000000001",
        "us-east-1_Plain0001",
        "PlainClient",
        &[],
    ));
    let c = Cognito::new(
        &two,
        ManualClock::starting_at(NOW_MS) as Arc<dyn Clock>,
        None,
    )
    .unwrap();
    assert!(matches!(
        c.token_for(None, None, "demo"),
        Err(CognitoError::AmbiguousPool(_))
    ));
    let t = c.token_for(Some("PlainPool"), None, "demo").unwrap();
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(&t.access_token)
        .unwrap()
        .claims;
    assert_eq!(claims["username"], json!("demo"));
    assert_eq!(
        claims["iss"],
        json!("http://127.0.0.1:4566/us-east-1_Plain0001")
    );
}

#[test]
fn well_known_documents() {
    let (c, _) = start(None);
    let conf = c.openid_configuration(POOL).unwrap();
    assert_eq!(conf["issuer"], json!(ISSUER));
    assert_eq!(
        conf["jwks_uri"],
        json!(format!("{ISSUER}/.well-known/jwks.json"))
    );
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
    ] {
        assert!(
            conf[endpoint]
                .as_str()
                .unwrap()
                .starts_with(&format!("{ISSUER}/")),
            "{endpoint}"
        );
    }
    assert_eq!(conf["subject_types_supported"], json!(["public"]));
    assert_eq!(
        conf["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert!(
        conf["response_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("code"))
    );
    assert!(c.openid_configuration("us-east-1_Nope").is_none());

    let jwks = c.jwks(POOL).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], json!("RSA"));
    assert_eq!(keys[0]["e"], json!("AQAB"));
    assert!(
        keys[0]["kid"].as_str().unwrap().len() >= 40,
        "a SHA-256 thumbprint"
    );
    // The JWKS parses as one, so standard verifiers can read it.
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    assert!(set.keys[0].is_supported());
    assert!(c.jwks("us-east-1_Nope").is_none());
}

#[test]
fn shareable_between_threads() {
    // devstack's edge serves every request from one instance behind an Arc.
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Cognito>();
    let (c, _) = start(None);
    let c = Arc::new(c);
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let c = Arc::clone(&c);
            std::thread::spawn(move || c.token_for(None, None, &format!("user{i}@example.com")))
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap().is_ok());
    }
    let pool = ok(&c, "DescribeUserPool", json!({"UserPoolId": POOL}));
    assert_eq!(pool["UserPool"]["EstimatedNumberOfUsers"], json!(4));
}
