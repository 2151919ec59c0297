//! Verifying Cognito JWTs where no gateway authorizer does it for us: the WebSocket `$connect`
//! route, whose browser clients cannot send an Authorization header and pass `?token=`.
//!
//! Checks, as API Gateway's JWT authorizer does: RS256 only (so `alg: none` and HS256 signed
//! with the public key are refused), the signature against the issuer's JWKS (cached, refetched
//! when an unknown `kid` appears, at most once a minute), `iss`, the audience (`aud` of an id
//! token, `client_id` of an access token), and `exp`/`nbf` against the time of the event, so
//! devstack's virtual clock decides expiry.

use domain::EpochMillis;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use tokio::sync::RwLock;

/// The least time between two JWKS fetches prompted by unknown key ids, in milliseconds, so a
/// flood of forged `kid`s cannot turn into a flood of fetches.
const REFETCH_INTERVAL_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    #[error("the token's algorithm {0} is not accepted (RS256 only)")]
    Algorithm(String),
    #[error("the token names no key id")]
    NoKeyId,
    #[error("no key {0:?} in the issuer's JWKS")]
    UnknownKey(String),
    #[error("the issuer's JWKS could not be fetched: {0}")]
    Jwks(String),
    #[error("the token's signature or claims are invalid: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued to another client")]
    Audience,
    #[error("the token's token_use {0:?} is neither id nor access")]
    TokenUse(String),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub token_use: Option<String>,
    #[serde(default)]
    pub aud: Option<serde_json::Value>,
    #[serde(default)]
    pub client_id: Option<String>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<EpochMillis>,
}

pub struct Verifier {
    issuer: String,
    client_id: String,
    jwks_url: String,
    http: reqwest::Client,
    cache: RwLock<Cache>,
}

impl Verifier {
    /// `issuer` as `!GetAtt UserPool.ProviderURL` gives it; the JWKS is at
    /// `{issuer}/.well-known/jwks.json`, as Cognito serves it.
    pub fn new(issuer: &str, client_id: impl Into<String>) -> Self {
        let issuer = issuer.trim_end_matches('/').to_owned();
        Self {
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            client_id: client_id.into(),
            http: reqwest::Client::new(),
            cache: RwLock::new(Cache::default()),
        }
    }

    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        Ok(Self::new(
            &crate::config::required("USER_POOL_ISSUER")?,
            crate::config::required("USER_POOL_CLIENT_ID")?,
        ))
    }

    pub async fn verify(&self, token: &str, now: EpochMillis) -> Result<Claims, JwtError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(JwtError::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(JwtError::NoKeyId)?;
        let key = self.key(&kid, now).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        // Time and audience are checked below: time against the event, audience by token use.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["sub", "iss", "exp"]);
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let now_secs = now.as_secs();
        if claims.exp <= now_secs {
            return Err(JwtError::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now_secs) {
            return Err(JwtError::NotYetValid);
        }
        match claims.token_use.as_deref() {
            Some("id") => {
                let ok = match &claims.aud {
                    Some(serde_json::Value::String(a)) => *a == self.client_id,
                    Some(serde_json::Value::Array(a)) => {
                        a.iter().any(|v| v.as_str() == Some(&self.client_id))
                    }
                    _ => false,
                };
                if !ok {
                    return Err(JwtError::Audience);
                }
            }
            Some("access") => {
                if claims.client_id.as_deref() != Some(self.client_id.as_str()) {
                    return Err(JwtError::Audience);
                }
            }
            other => return Err(JwtError::TokenUse(other.unwrap_or_default().to_owned())),
        }
        Ok(claims)
    }

    async fn key(&self, kid: &str, now: EpochMillis) -> Result<DecodingKey, JwtError> {
        {
            let cache = self.cache.read().await;
            if let Some(k) = cache.keys.get(kid) {
                return Ok(k.clone());
            }
            if cache
                .fetched_at
                .is_some_and(|t| now.0.saturating_sub(t.0) < REFETCH_INTERVAL_MS)
            {
                return Err(JwtError::UnknownKey(kid.to_owned()));
            }
        }
        let set: JwkSet = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| JwtError::Jwks(e.to_string()))?
            .json()
            .await
            .map_err(|e| JwtError::Jwks(e.to_string()))?;
        let mut cache = self.cache.write().await;
        cache.keys = set
            .keys
            .iter()
            .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
            .collect();
        cache.fetched_at = Some(now);
        cache
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| JwtError::UnknownKey(kid.to_owned()))
    }
}
