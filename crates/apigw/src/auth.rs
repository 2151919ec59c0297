//! The JWT authorizer of an HTTP API, as API Gateway runs it: the token from the identity
//! source (with or without `Bearer `), RS256 only, the signature checked against the issuer's
//! JWKS (found through `{issuer}/.well-known/openid-configuration`, cached, refetched when an
//! unknown key id appears), `iss` equal to the issuer, `aud` (or, for access tokens without
//! one, `client_id`) among the audiences, `exp`/`nbf` against devstack's clock, and the route's
//! scopes. A request that fails is answered 401 (403 for missing scopes) with API Gateway's
//! body and `www-authenticate` header; one that passes reaches the function with its claims as
//! strings under `requestContext.authorizer.jwt`.

use http::{HeaderMap, HeaderValue, StatusCode};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use template::model::JwtAuthorizer;
use tokio::sync::Mutex;

/// How long fetched keys are trusted before a refetch, and the least time between two fetches
/// prompted by unknown key ids.
const KEYS_TTL: Duration = Duration::from_secs(3600);
const REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub status: StatusCode,
    pub www_authenticate: String,
}

impl Denied {
    fn invalid(description: &str) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            www_authenticate: format!(
                r#"Bearer scope="" error="invalid_token" error_description="{description}""#
            ),
        }
    }
}

/// What a function sees of an authorized request.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorized {
    pub claims: Map<String, Value>,
    pub scopes: Option<Vec<String>>,
}

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched: Instant,
}

#[derive(Default)]
pub struct JwtVerifier {
    http: reqwest::Client,
    keys: Mutex<HashMap<String, Keys>>,
}

impl JwtVerifier {
    pub async fn authorize(
        &self,
        authorizer: &JwtAuthorizer,
        route_scopes: &[String],
        headers: &HeaderMap,
        now_ms: i64,
    ) -> Result<Authorized, Denied> {
        let token = identity(authorizer, headers).ok_or(Denied {
            status: StatusCode::UNAUTHORIZED,
            www_authenticate: "Bearer".into(),
        })?;
        let header = jsonwebtoken::decode_header(&token)
            .map_err(|_| Denied::invalid("the token is malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(Denied::invalid(&format!(
                "signing method {:?} is invalid",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| Denied::invalid("the token has no key id"))?;
        let key = self.key(&authorizer.issuer, &kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        // Issuer, audience and time are checked below, against API Gateway's rules and
        // devstack's clock rather than the system's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Map<String, Value>>(&token, &key, &validation)
            .map_err(|_| Denied::invalid("the token signature is invalid"))?
            .claims;
        if claims.get("iss").and_then(Value::as_str) != Some(authorizer.issuer.as_str()) {
            return Err(Denied::invalid("the token has an invalid issuer"));
        }
        let now = now_ms / 1000;
        match claims.get("exp").and_then(Value::as_i64) {
            Some(exp) if exp > now => {}
            Some(_) => return Err(Denied::invalid("the token has expired")),
            None => return Err(Denied::invalid("the token has no expiry")),
        }
        if claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf > now)
        {
            return Err(Denied::invalid("the token is not valid yet"));
        }
        if claims
            .get("iat")
            .and_then(Value::as_i64)
            .is_some_and(|iat| iat > now + 60)
        {
            return Err(Denied::invalid("the token was issued in the future"));
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => claims
                .get("client_id")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
        };
        if !audiences
            .iter()
            .any(|a| authorizer.audience.iter().any(|x| x == a))
        {
            return Err(Denied::invalid("the token does not have a valid audience"));
        }
        let scopes: Option<Vec<String>> =
            claims
                .get("scope")
                .or_else(|| claims.get("scp"))
                .map(|s| match s {
                    Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
                    Value::Array(a) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    _ => Vec::new(),
                });
        if !route_scopes.is_empty() {
            let granted = scopes.as_deref().unwrap_or_default();
            if !route_scopes.iter().any(|s| granted.contains(s)) {
                return Err(Denied {
                    status: StatusCode::FORBIDDEN,
                    www_authenticate: format!(
                        r#"Bearer scope="{}" error="insufficient_scope" error_description="expected scopes: {}""#,
                        route_scopes.join(" "),
                        route_scopes.join(" ")
                    ),
                });
            }
        }
        Ok(Authorized {
            claims: stringify(claims),
            scopes,
        })
    }

    async fn key(&self, issuer: &str, kid: &str) -> Result<DecodingKey, Denied> {
        let mut keys = self.keys.lock().await;
        if let Some(k) = keys.get(issuer)
            && let Some(key) = k.by_kid.get(kid)
            && k.fetched.elapsed() < KEYS_TTL
        {
            return Ok(key.clone());
        }
        if keys
            .get(issuer)
            .is_some_and(|k| k.fetched.elapsed() < REFETCH_INTERVAL)
        {
            return Err(Denied::invalid("the token's key id is unknown"));
        }
        let fetched = self.fetch(issuer).await.map_err(|e| {
            tracing::warn!(issuer, error = %e, "cannot fetch the issuer's JWKS");
            Denied::invalid("the issuer's keys could not be fetched")
        })?;
        let entry = keys.entry(issuer.to_owned()).or_insert(Keys {
            by_kid: HashMap::new(),
            fetched: Instant::now(),
        });
        entry.by_kid = fetched;
        entry.fetched = Instant::now();
        entry
            .by_kid
            .get(kid)
            .cloned()
            .ok_or_else(|| Denied::invalid("the token's key id is unknown"))
    }

    async fn fetch(&self, issuer: &str) -> Result<HashMap<String, DecodingKey>, reqwest::Error> {
        let issuer = issuer.trim_end_matches('/');
        let discovery: Value = self
            .http
            .get(format!("{issuer}/.well-known/openid-configuration"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
        let set: JwkSet = self
            .http
            .get(jwks_uri)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(set
            .keys
            .iter()
            .filter_map(|k| Some((k.common.key_id.clone()?, DecodingKey::from_jwk(k).ok()?)))
            .collect())
    }
}

/// The token from the authorizer's identity source (a header; `Bearer ` is optional).
fn identity(authorizer: &JwtAuthorizer, headers: &HeaderMap) -> Option<String> {
    let sources = if authorizer.identity_source.is_empty() {
        vec!["$request.header.Authorization".to_owned()]
    } else {
        authorizer.identity_source.clone()
    };
    sources.iter().find_map(|s| {
        let name = s.strip_prefix("$request.header.")?;
        let v = headers
            .get(name.to_ascii_lowercase())?
            .to_str()
            .ok()?
            .trim();
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v)
            .trim();
        (!token.is_empty()).then(|| token.to_owned())
    })
}

/// Claims as API Gateway passes them: every value a string (numbers and booleans as text,
/// arrays as `[a b]`, objects as JSON). A numeric `exp` would make `lambda_http`'s v2 parse fail.
fn stringify(claims: Map<String, Value>) -> Map<String, Value> {
    claims
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| i.to_string()))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, Value::String(s))
        })
        .collect()
}

/// The value of the event's `requestContext.authorizer`.
pub fn authorizer_context(a: &Authorized) -> Value {
    json!({"jwt": {"claims": a.claims, "scopes": a.scopes}})
}

pub fn header_value(d: &Denied) -> HeaderValue {
    HeaderValue::from_str(&d.www_authenticate)
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}
