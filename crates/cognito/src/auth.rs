//! Signing in (password and refresh-token flows, the NEW_PASSWORD_REQUIRED challenge), the
//! tokens themselves, and GetUser, which reads an access token back.

use crate::attrs;
use crate::error::Fault;
use crate::input::{Input, param};
use crate::password::{self, PasswordHash};
use crate::store::{Origin, RefreshGrant, Session, State, User, UserStatus};
use crate::{Cognito, CognitoError, Pool, random};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use template::model::UserPoolClient;

/// Cognito's default `AuthSessionValidity`: three minutes to answer a challenge.
const SESSION_MS: i64 = 3 * 60 * 1_000;
const FLOWS: &str = "[USER_SRP_AUTH, REFRESH_TOKEN_AUTH, REFRESH_TOKEN, CUSTOM_AUTH, ADMIN_NO_SRP_AUTH, USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH, USER_AUTH]";
const BAD_LOGIN: &str = "Incorrect username or password.";

/// Tokens just minted; no refresh token on a refresh.
pub(crate) struct Issued {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: u32,
}

impl Issued {
    fn result(&self) -> Value {
        let mut r = json!({
            "AccessToken": self.access_token,
            "ExpiresIn": self.expires_in,
            "TokenType": "Bearer",
            "IdToken": self.id_token,
        });
        if let Some(refresh) = &self.refresh_token {
            r["RefreshToken"] = json!(refresh);
        }
        json!({"AuthenticationResult": r, "ChallengeParameters": {}})
    }
}

#[derive(Deserialize)]
struct AccessClaims {
    iss: String,
    exp: i64,
    token_use: String,
    username: String,
}

impl Cognito {
    pub(crate) fn initiate_auth(&self, input: Input<'_>) -> Result<Value, Fault> {
        let (pool, client) = self.client(input)?;
        let flow = input.required("AuthFlow")?;
        let params = input.map("AuthParameters")?;
        match flow {
            "USER_PASSWORD_AUTH" => {
                if !allows(client, "ALLOW_USER_PASSWORD_AUTH") {
                    return Err(Fault::invalid_parameter(
                        "USER_PASSWORD_AUTH flow not enabled for this client",
                    ));
                }
                let login = param(&params, "USERNAME")?;
                let pw = param(&params, "PASSWORD")?;
                self.password_auth(pool, client, login, pw)
            }
            "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
                self.refresh_auth(pool, client, param(&params, "REFRESH_TOKEN")?)
            }
            "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => Err(Fault::invalid_parameter(
                "Initiate Auth method not supported.",
            )),
            "USER_SRP_AUTH" | "CUSTOM_AUTH" | "USER_AUTH" => Err(not_emulated(flow)),
            other => Err(Fault::constraint(
                "AuthFlow",
                other,
                &format!("Member must satisfy enum value set: {FLOWS}"),
            )),
        }
    }

    pub(crate) fn admin_initiate_auth(&self, input: Input<'_>) -> Result<Value, Fault> {
        let pool = self.pool(input)?;
        let (_, client) = self.client(input)?;
        if client.user_pool_id != pool.model.id {
            return Err(Fault::new(
                "ResourceNotFoundException",
                format!("User pool client {} does not exist.", client.id),
            ));
        }
        let flow = input.required("AuthFlow")?;
        let params = input.map("AuthParameters")?;
        match flow {
            "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" => {
                if !allows(client, "ALLOW_ADMIN_USER_PASSWORD_AUTH") {
                    return Err(Fault::invalid_parameter(
                        "Auth flow not enabled for this client",
                    ));
                }
                let login = param(&params, "USERNAME")?;
                let pw = param(&params, "PASSWORD")?;
                self.password_auth(pool, client, login, pw)
            }
            "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
                self.refresh_auth(pool, client, param(&params, "REFRESH_TOKEN")?)
            }
            "USER_PASSWORD_AUTH" => Err(Fault::invalid_parameter(
                "Initiate Auth method not supported.",
            )),
            "USER_SRP_AUTH" | "CUSTOM_AUTH" | "USER_AUTH" => Err(not_emulated(flow)),
            other => Err(Fault::constraint(
                "AuthFlow",
                other,
                &format!("Member must satisfy enum value set: {FLOWS}"),
            )),
        }
    }

    fn password_auth(
        &self,
        pool: &Pool,
        client: &UserPoolClient,
        login: &str,
        pw: &str,
    ) -> Result<Value, Fault> {
        let now = self.now_ms();
        let mut state = self.store.lock();
        // An unknown user gets the same answer as a wrong password (PreventUserExistenceErrors,
        // which new clients have on), so the API does not reveal who has an account.
        let username = state
            .find_login(&pool.model, login)
            .ok_or_else(|| Fault::not_authorized(BAD_LOGIN))?;
        let user = state
            .user(&pool.model.id, &username)
            .ok_or_else(|| Fault::not_authorized(BAD_LOGIN))?;
        if !user.password.matches(pw) {
            return Err(Fault::not_authorized(BAD_LOGIN));
        }
        if !user.enabled {
            return Err(Fault::not_authorized("User is disabled."));
        }
        match user.status {
            UserStatus::Unconfirmed => Err(Fault::new(
                "UserNotConfirmedException",
                "User is not confirmed.",
            )),
            UserStatus::ForceChangePassword => {
                if user.temporary_until_ms.is_some_and(|t| t <= now) {
                    return Err(Fault::not_authorized(
                        "Temporary password has expired and must be reset by an administrator.",
                    ));
                }
                let user_attributes: Map<String, Value> = user
                    .attributes
                    .iter()
                    .filter(|(k, _)| *k != "sub")
                    .map(|(k, v)| (k.clone(), json!(v)))
                    .collect();
                let session = random::token(48)?;
                state.sessions.retain(|_, s| s.expires_ms > now);
                state.sessions.insert(
                    session.clone(),
                    Session {
                        pool_id: pool.model.id.clone(),
                        client_id: client.id.clone(),
                        username: username.clone(),
                        expires_ms: now + SESSION_MS,
                    },
                );
                Ok(json!({
                    "ChallengeName": "NEW_PASSWORD_REQUIRED",
                    "Session": session,
                    "ChallengeParameters": {
                        "USER_ID_FOR_SRP": username,
                        "requiredAttributes": "[]",
                        "userAttributes": Value::Object(user_attributes).to_string(),
                    },
                }))
            }
            UserStatus::Confirmed => {
                Ok(self.sign_in(&mut state, pool, client, &username)?.result())
            }
        }
    }

    /// RespondToAuthChallenge (`admin`: AdminRespondToAuthChallenge, which also names the
    /// pool). Only NEW_PASSWORD_REQUIRED exists here, the one challenge devstack issues.
    pub(crate) fn respond_to_auth_challenge(
        &self,
        input: Input<'_>,
        admin: bool,
    ) -> Result<Value, Fault> {
        let (pool, client) = self.client(input)?;
        if admin && self.pool(input)?.model.id != pool.model.id {
            return Err(Fault::new(
                "ResourceNotFoundException",
                format!("User pool client {} does not exist.", client.id),
            ));
        }
        let challenge = input.required("ChallengeName")?;
        if challenge != "NEW_PASSWORD_REQUIRED" {
            return Err(Fault::invalid_parameter(format!(
                "devstack's Cognito issues no {challenge} challenge; only NEW_PASSWORD_REQUIRED is answered"
            )));
        }
        let session_id = input.required("Session")?;
        let responses = input.map("ChallengeResponses")?;
        let login = param(&responses, "USERNAME")?;
        let new_password = param(&responses, "NEW_PASSWORD")?;
        let mut updates = attrs::Attributes::new();
        for (name, value) in &responses {
            if let Some(attr) = name.strip_prefix("userAttributes.") {
                attrs::check(attr, value, false)?;
                updates.insert(attr.to_owned(), (*value).to_owned());
            }
        }
        let now = self.now_ms();
        let mut state = self.store.lock();
        let expired = || Fault::not_authorized("Invalid session for the user, session is expired.");
        let session = state
            .sessions
            .get(session_id)
            .filter(|s| s.expires_ms > now && s.client_id == client.id)
            .cloned()
            .ok_or_else(expired)?;
        if state.find_login(&pool.model, login).as_deref() != Some(session.username.as_str()) {
            return Err(Fault::not_authorized("Invalid session for the user."));
        }
        password::check(&pool.model.password_policy, "NEW_PASSWORD", new_password)?;
        // A sign-in attribute stays unique: it names one user.
        for attr in &pool.model.username_attributes {
            if let Some(value) = updates.get(attr)
                && state
                    .find_login(&pool.model, value)
                    .is_some_and(|other| other != session.username)
            {
                return Err(Fault::new(
                    "AliasExistsException",
                    format!("An account with the given {attr} already exists."),
                ));
            }
        }
        let user = state
            .user_mut(&session.pool_id, &session.username)
            .ok_or_else(Fault::user_not_found)?;
        user.password = PasswordHash::new(new_password)?;
        user.status = UserStatus::Confirmed;
        user.temporary_until_ms = None;
        // A changed address is no longer the verified one.
        for attr in ["email", "phone_number"] {
            if updates
                .get(attr)
                .is_some_and(|v| user.attributes.get(attr) != Some(v))
            {
                user.attributes
                    .insert(format!("{attr}_verified"), "false".into());
            }
        }
        user.attributes.extend(updates);
        user.modified_ms = now;
        // A session answers once.
        state.sessions.remove(session_id);
        Ok(self
            .sign_in(&mut state, pool, client, &session.username)?
            .result())
    }

    fn refresh_auth(
        &self,
        pool: &Pool,
        client: &UserPoolClient,
        token: &str,
    ) -> Result<Value, Fault> {
        if !allows(client, "ALLOW_REFRESH_TOKEN_AUTH") {
            return Err(Fault::invalid_parameter(
                "REFRESH_TOKEN_AUTH flow not enabled for this client",
            ));
        }
        let now = self.now_ms();
        let state = self.store.lock();
        let grant = state
            .saved
            .refresh_tokens
            .get(&digest(token))
            .filter(|g| g.client_id == client.id && g.pool_id == pool.model.id)
            .ok_or_else(|| Fault::not_authorized("Invalid Refresh Token"))?;
        if grant.expires_ms <= now {
            return Err(Fault::not_authorized("Refresh Token has expired"));
        }
        let user = state
            .user(&pool.model.id, &grant.username)
            .ok_or_else(Fault::user_not_found)?;
        if !user.enabled {
            return Err(Fault::not_authorized("User is disabled."));
        }
        let issued = self.mint(pool, client, user, &grant.origin, None)?;
        Ok(issued.result())
    }

    pub(crate) fn get_user(&self, input: Input<'_>) -> Result<Value, Fault> {
        let token = input.required("AccessToken")?;
        let invalid = || Fault::not_authorized("Invalid Access Token");
        let claims: AccessClaims = self.key.verify(token).ok_or_else(invalid)?;
        if claims.token_use != "access" {
            return Err(invalid());
        }
        let pool = self
            .pools
            .iter()
            .find(|p| p.model.provider_url == claims.iss)
            .ok_or_else(invalid)?;
        if claims.exp <= self.now_ms().div_euclid(1000) {
            return Err(Fault::not_authorized("Access Token has expired"));
        }
        let state = self.store.lock();
        let user = state
            .user(&pool.model.id, &claims.username)
            .ok_or_else(Fault::user_not_found)?;
        if !user.enabled {
            return Err(Fault::not_authorized("User is disabled."));
        }
        Ok(json!({
            "Username": user.username,
            "UserAttributes": attrs::list(&user.attributes),
        }))
    }

    /// A new sign-in of `username`: a new origin, id and access tokens, and a refresh token
    /// whose grant is saved.
    pub(crate) fn sign_in(
        &self,
        state: &mut State,
        pool: &Pool,
        client: &UserPoolClient,
        username: &str,
    ) -> Result<Issued, CognitoError> {
        let now = self.now_ms();
        let origin = Origin {
            auth_time: now.div_euclid(1000),
            origin_jti: random::uuid()?,
            event_id: random::uuid()?,
        };
        let refresh = random::token(96)?;
        let user = state
            .user(&pool.model.id, username)
            .ok_or_else(|| CognitoError::from(Fault::user_not_found()))?;
        let issued = self.mint(pool, client, user, &origin, Some(refresh.clone()))?;
        let grants = &mut state.saved.refresh_tokens;
        grants.retain(|_, g| g.expires_ms > now);
        grants.insert(
            digest(&refresh),
            RefreshGrant {
                pool_id: pool.model.id.clone(),
                client_id: client.id.clone(),
                username: username.to_owned(),
                expires_ms: now + i64::from(client.refresh_token_validity) * 1000,
                origin,
            },
        );
        self.store.save(state)?;
        Ok(issued)
    }

    /// Signs the id and access tokens of `user` for `client`, stamped with devstack's clock.
    fn mint(
        &self,
        pool: &Pool,
        client: &UserPoolClient,
        user: &User,
        origin: &Origin,
        refresh_token: Option<String>,
    ) -> Result<Issued, CognitoError> {
        let iat = self.now_ms().div_euclid(1000);
        let iss = &pool.model.provider_url;
        let mut id = Map::new();
        // The user's attributes first, so the fixed claims below always win.
        for (name, value) in &user.attributes {
            let v = if name.ends_with("_verified") {
                json!(value == "true")
            } else {
                json!(value)
            };
            id.insert(name.clone(), v);
        }
        let fixed = json!({
            "sub": user.sub(),
            "iss": iss,
            "cognito:username": user.username,
            "origin_jti": origin.origin_jti,
            "aud": client.id,
            "event_id": origin.event_id,
            "token_use": "id",
            "auth_time": origin.auth_time,
            "exp": iat + i64::from(client.id_token_validity),
            "iat": iat,
            "jti": random::uuid()?,
        });
        if let Value::Object(fixed) = fixed {
            id.extend(fixed);
        }
        let access = json!({
            "sub": user.sub(),
            "iss": iss,
            "client_id": client.id,
            "origin_jti": origin.origin_jti,
            "event_id": origin.event_id,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": origin.auth_time,
            "exp": iat + i64::from(client.access_token_validity),
            "iat": iat,
            "jti": random::uuid()?,
            "username": user.username,
        });
        Ok(Issued {
            id_token: self.key.sign(&Value::Object(id))?,
            access_token: self.key.sign(&access)?,
            refresh_token,
            expires_in: client.access_token_validity,
        })
    }
}

/// Whether the client's `ExplicitAuthFlows` enable `flow` (an `ALLOW_*` name). Cognito's rules:
/// no flows at all means SRP, custom auth and refresh; the legacy names (without `ALLOW_`)
/// stand for their `ALLOW_` forms and always allow refresh.
fn allows(client: &UserPoolClient, flow: &str) -> bool {
    let flows = &client.explicit_auth_flows;
    if flows.is_empty() {
        return matches!(
            flow,
            "ALLOW_USER_SRP_AUTH" | "ALLOW_CUSTOM_AUTH" | "ALLOW_REFRESH_TOKEN_AUTH"
        );
    }
    let legacy = flows.iter().any(|f| !f.starts_with("ALLOW_"));
    flows.iter().any(|f| {
        let modern = match f.as_str() {
            "USER_PASSWORD_AUTH" => "ALLOW_USER_PASSWORD_AUTH",
            "ADMIN_NO_SRP_AUTH" => "ALLOW_ADMIN_USER_PASSWORD_AUTH",
            "CUSTOM_AUTH_FLOW_ONLY" => "ALLOW_CUSTOM_AUTH",
            other => other,
        };
        modern == flow
    }) || (legacy && flow == "ALLOW_REFRESH_TOKEN_AUTH")
}

fn not_emulated(flow: &str) -> Fault {
    Fault::invalid_parameter(format!(
        "devstack's Cognito does not emulate {flow}; enable ALLOW_USER_PASSWORD_AUTH on the client and use USER_PASSWORD_AUTH locally"
    ))
}

/// Refresh tokens are stored as their SHA-256, so the state file cannot be replayed.
fn digest(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::allows;
    use template::model::UserPoolClient;

    fn client(flows: &[&str]) -> UserPoolClient {
        UserPoolClient {
            logical_id: "C".into(),
            id: "c".into(),
            user_pool_id: "p".into(),
            name: "c".into(),
            explicit_auth_flows: flows.iter().map(|f| f.to_string()).collect(),
            generate_secret: false,
            access_token_validity: 3600,
            id_token_validity: 3600,
            refresh_token_validity: 86400,
        }
    }

    #[test]
    fn auth_flow_rules() {
        assert!(!allows(&client(&[]), "ALLOW_USER_PASSWORD_AUTH"));
        assert!(allows(&client(&[]), "ALLOW_REFRESH_TOKEN_AUTH"));
        assert!(allows(
            &client(&["USER_PASSWORD_AUTH"]),
            "ALLOW_USER_PASSWORD_AUTH"
        ));
        assert!(allows(
            &client(&["USER_PASSWORD_AUTH"]),
            "ALLOW_REFRESH_TOKEN_AUTH"
        ));
        assert!(!allows(
            &client(&["ALLOW_USER_SRP_AUTH"]),
            "ALLOW_REFRESH_TOKEN_AUTH"
        ));
        assert!(allows(
            &client(&["ADMIN_NO_SRP_AUTH"]),
            "ALLOW_ADMIN_USER_PASSWORD_AUTH"
        ));
    }
}
