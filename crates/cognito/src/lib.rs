//! devstack's Cognito user pools, speaking awsJson 1.1 (`X-Amz-Target:
//! AWSCognitoIdentityProviderService.<Operation>`), plus the two documents a JWT verifier
//! reads under the issuer: `/{poolId}/.well-known/jwks.json` and `openid-configuration`.
//!
//! Pools and app clients come from the template (`model::Stack`); users, their passwords
//! (hashed) and refresh tokens live here, in memory or in a state directory that survives a
//! restart together with the RSA key that signs the tokens. Tokens carry Cognito's claims with
//! `iss` = the pool's local provider URL, and every time in them comes from devstack's clock.
//!
//! Not emulated: SRP and custom auth flows (enable `ALLOW_USER_PASSWORD_AUTH` locally), client
//! secrets (`SECRET_HASH` is ignored), MFA, Lambda triggers, groups, the hosted UI and OAuth
//! endpoints (the OpenID configuration names them, nothing serves them).

mod attrs;
mod auth;
mod error;
mod input;
mod keys;
mod password;
mod pools;
mod random;
mod store;
mod users;

pub use error::CognitoError;

use clock::SharedClock;
use error::Fault;
use input::Input;
use keys::SigningKey;
use serde::Serialize;
use serde_json::{Value, json};
use std::path::Path;
use store::Store;
use template::model::{Stack, UserPool, UserPoolClient};

pub use awsjson::Answer;

/// Tokens of one sign-in, as `devstack token` prints them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: u32,
}

/// What a message from Cognito would have carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SentKind {
    /// A sign-up confirmation code (`SignUp`, `ResendConfirmationCode`).
    Confirmation,
    /// An invitation's temporary password (`AdminCreateUser` without `MessageAction: SUPPRESS`).
    TemporaryPassword,
}

/// A message Cognito would have sent (an email or SMS), kept for tests and for devstack to
/// print, since nothing is delivered locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentCode {
    pub pool_id: String,
    /// The user's `cognito:username` (the `sub` in a pool that signs in by email).
    pub username: String,
    pub code: String,
    /// The unmasked address or phone number it went to.
    pub destination: String,
    pub kind: SentKind,
}

/// A user pool and its app clients.
pub(crate) struct Pool {
    pub model: UserPool,
    pub clients: Vec<UserPoolClient>,
}

pub struct Cognito {
    pools: Vec<Pool>,
    clock: SharedClock,
    key: SigningKey,
    store: Store,
    /// The pools' and clients' creation date: when this devstack made them.
    created_ms: i64,
}

impl Cognito {
    /// Pools and clients come from the stack; `state_dir` None = in memory (tests). With a dir:
    /// the RSA signing key is created once and kept as `{state_dir}/signing-key.pem`, users and
    /// refresh tokens are kept in `{state_dir}/users.json` (written atomically after every
    /// change), so a restart keeps both and old tokens still verify.
    pub fn new(
        stack: &Stack,
        clock: SharedClock,
        state_dir: Option<&Path>,
    ) -> Result<Self, CognitoError> {
        if let Some(dir) = state_dir {
            std::fs::create_dir_all(dir).map_err(|source| CognitoError::Io {
                action: "create",
                path: dir.to_owned(),
                source,
            })?;
        }
        let pools = stack
            .user_pools
            .iter()
            .map(|p| Pool {
                model: p.clone(),
                clients: stack
                    .user_pool_clients
                    .iter()
                    .filter(|c| c.user_pool_id == p.id)
                    .cloned()
                    .collect(),
            })
            .collect();
        let key = SigningKey::load_or_create(state_dir)?;
        let store = Store::open(state_dir)?;
        Ok(Self {
            pools,
            created_ms: clock.now_ms(),
            clock,
            key,
            store,
        })
    }

    /// Handles `AWSCognitoIdentityProviderService.<operation>` with a JSON body.
    pub fn dispatch(&self, operation: &str, body: &[u8]) -> Answer {
        // Some clients send no body for an operation without members.
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}".as_slice()
        } else {
            body
        };
        let input = match serde_json::from_slice::<Value>(body) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Answer::error(
                    400,
                    "SerializationException",
                    "the request body is not a JSON object",
                );
            }
        };
        let input = Input(&input);
        let result = match operation {
            "ListUserPools" => self.list_user_pools(input),
            "ListUserPoolClients" => self.list_user_pool_clients(input),
            "DescribeUserPool" => self.describe_user_pool(input),
            "DescribeUserPoolClient" => self.describe_user_pool_client(input),
            "SignUp" => self.sign_up(input),
            "ConfirmSignUp" => self.confirm_sign_up(input),
            "ResendConfirmationCode" => self.resend_confirmation_code(input),
            "AdminConfirmSignUp" => self.admin_confirm_sign_up(input),
            "AdminCreateUser" => self.admin_create_user(input),
            "AdminSetUserPassword" => self.admin_set_user_password(input),
            "AdminGetUser" => self.admin_get_user(input),
            "AdminDeleteUser" => self.admin_delete_user(input),
            "AdminDisableUser" => self.admin_set_enabled(input, false),
            "AdminEnableUser" => self.admin_set_enabled(input, true),
            "InitiateAuth" => self.initiate_auth(input),
            "AdminInitiateAuth" => self.admin_initiate_auth(input),
            "RespondToAuthChallenge" => self.respond_to_auth_challenge(input, false),
            "AdminRespondToAuthChallenge" => self.respond_to_auth_challenge(input, true),
            "GetUser" => self.get_user(input),
            other => Err(Fault::new(
                "UnknownOperationException",
                format!("devstack's Cognito does not implement {other}"),
            )),
        };
        match result {
            Ok(body) => Answer::ok(body),
            Err(fault) => fault.into(),
        }
    }

    /// `GET /{poolId}/.well-known/jwks.json` body, None for an unknown pool.
    pub fn jwks(&self, pool_id: &str) -> Option<Value> {
        self.pool_by_id(pool_id)?;
        Some(self.key.jwks())
    }

    /// `GET /{poolId}/.well-known/openid-configuration` body, None for an unknown pool. The
    /// OAuth endpoints are named under the issuer as a hosted domain would serve them; devstack
    /// does not serve them.
    pub fn openid_configuration(&self, pool_id: &str) -> Option<Value> {
        let pool = self.pool_by_id(pool_id)?;
        let issuer = pool.model.provider_url.trim_end_matches('/');
        Some(json!({
            "issuer": pool.model.provider_url,
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
            "token_endpoint": format!("{issuer}/oauth2/token"),
            "userinfo_endpoint": format!("{issuer}/oauth2/userInfo"),
            "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
            "end_session_endpoint": format!("{issuer}/logout"),
            "response_types_supported": ["code", "token"],
            "grant_types_supported": ["authorization_code", "implicit", "refresh_token"],
            "scopes_supported": ["openid", "email", "phone", "profile"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "email", "email_verified", "cognito:username"],
        }))
    }

    /// For `devstack token --user alice@example.com` and `just up`'s demo user: ensures a
    /// confirmed, enabled user `username` (created with a generated password that meets the
    /// policy if missing; an unconfirmed one is confirmed) in `pool` (its id, logical id or
    /// name; None = the only pool, an error if there are several) and returns fresh tokens for
    /// `client` (id, logical id or name; None = the pool's first client). The client's auth
    /// flows are not consulted: this is the administrator's way in.
    pub fn token_for(
        &self,
        pool: Option<&str>,
        client: Option<&str>,
        username: &str,
    ) -> Result<Tokens, CognitoError> {
        let pool = self.pick_pool(pool)?;
        let client = match client {
            None => pool
                .clients
                .first()
                .ok_or_else(|| CognitoError::NoClient(pool.model.id.clone()))?,
            Some(name) => pool
                .clients
                .iter()
                .find(|c| c.id == name || c.logical_id == name || c.name == name)
                .ok_or_else(|| CognitoError::UnknownClient {
                    pool: pool.model.id.clone(),
                    client: name.to_owned(),
                })?,
        };
        let mut state = self.store.lock();
        let username = self.ensure_confirmed_user(&mut state, pool, username)?;
        let issued = self.sign_in(&mut state, pool, client, &username)?;
        Ok(Tokens {
            id_token: issued.id_token,
            access_token: issued.access_token,
            refresh_token: issued.refresh_token.unwrap_or_default(),
            expires_in: issued.expires_in,
        })
    }

    /// Messages sent (what Cognito would have emailed or texted), newest last. Kept in memory
    /// only: after a restart, `ResendConfirmationCode` sends a new one.
    pub fn sent_codes(&self) -> Vec<SentCode> {
        self.store.lock().sent.clone()
    }

    fn pick_pool(&self, name: Option<&str>) -> Result<&Pool, CognitoError> {
        match name {
            None => match self.pools.as_slice() {
                [] => Err(CognitoError::NoPool),
                [only] => Ok(only),
                several => Err(CognitoError::AmbiguousPool(
                    several
                        .iter()
                        .map(|p| p.model.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                )),
            },
            Some(name) => self
                .pools
                .iter()
                .find(|p| p.model.id == name || p.model.logical_id == name || p.model.name == name)
                .ok_or_else(|| CognitoError::UnknownPool(name.to_owned())),
        }
    }

    pub(crate) fn pool_by_id(&self, id: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.model.id == id)
    }

    /// The pool `UserPoolId` names.
    pub(crate) fn pool(&self, input: Input<'_>) -> Result<&Pool, Fault> {
        let id = input.required("UserPoolId")?;
        self.pool_by_id(id).ok_or_else(|| {
            Fault::new(
                "ResourceNotFoundException",
                format!("User pool {id} does not exist."),
            )
        })
    }

    /// The client `ClientId` names, and its pool.
    pub(crate) fn client(&self, input: Input<'_>) -> Result<(&Pool, &UserPoolClient), Fault> {
        let id = input.required("ClientId")?;
        self.pools
            .iter()
            .find_map(|p| p.clients.iter().find(|c| c.id == id).map(|c| (p, c)))
            .ok_or_else(|| {
                Fault::new(
                    "ResourceNotFoundException",
                    format!("User pool client {id} does not exist."),
                )
            })
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// Epoch seconds with a fraction, the API's timestamp form.
pub(crate) fn epoch_seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
