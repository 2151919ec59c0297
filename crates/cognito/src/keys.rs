//! The RS256 signing key: created once (RSA 2048 through aws-lc), kept as a PKCS#8 PEM in the
//! state directory so tokens outlive a restart, published as a JWKS whose `kid` is the key's
//! RFC 7638 thumbprint (stable for the key's life, different for a new key).

use crate::CognitoError;
use crate::store::write_atomically;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::Path;

const FILE: &str = "signing-key.pem";

pub(crate) struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    kid: String,
    /// The public key as a JWKS entry.
    jwk: Value,
}

impl SigningKey {
    /// The key kept in `dir` (created there if absent), or a fresh one when there is no dir.
    pub fn load_or_create(dir: Option<&Path>) -> Result<Self, CognitoError> {
        let Some(dir) = dir else {
            return Self::from_pem(&generate_pem()?).map_err(CognitoError::KeyGeneration);
        };
        let path = dir.join(FILE);
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = generate_pem()?;
                write_atomically(&path, &pem, true)?;
                pem
            }
            Err(source) => {
                return Err(CognitoError::Io {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        // A damaged key is an error rather than a reason to make a new one: replacing it
        // would silently invalidate every token handed out so far.
        Self::from_pem(&pem).map_err(|reason| CognitoError::BadKey { path, reason })
    }

    fn from_pem(pem: &[u8]) -> Result<Self, String> {
        let encoding = EncodingKey::from_rsa_pem(pem).map_err(|e| e.to_string())?;
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).map_err(|e| e.to_string())?;
        let AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            return Err("not an RSA key".into());
        };
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| e.to_string())?;
        let decoding =
            DecodingKey::from_rsa_components(&rsa.n, &rsa.e).map_err(|e| e.to_string())?;
        let jwk =
            json!({"alg": "RS256", "e": rsa.e, "kid": kid, "kty": "RSA", "n": rsa.n, "use": "sig"});
        Ok(Self {
            encoding,
            decoding,
            kid,
            jwk,
        })
    }

    pub fn jwks(&self) -> Value {
        json!({"keys": [self.jwk]})
    }

    /// A JWT with Cognito's header (`kid` and `alg` only).
    pub fn sign(&self, claims: &Value) -> Result<String, CognitoError> {
        let header = Header {
            typ: None,
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::RS256)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| CognitoError::Signing(e.to_string()))
    }

    /// The claims of a token this key signed (RS256, our `kid`, a valid signature). Time and
    /// audience are not checked here: the caller checks them against devstack's clock.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Option<T> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 || header.kid.as_deref() != Some(&self.kid) {
            return None;
        }
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims::<&str>(&[]);
        jsonwebtoken::decode::<T>(token, &self.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// A new RSA 2048 key as PKCS#8 PEM.
fn generate_pem() -> Result<Vec<u8>, CognitoError> {
    let failed = |e: aws_lc_rs::error::Unspecified| CognitoError::KeyGeneration(e.to_string());
    let pair = KeyPair::generate(KeySize::Rsa2048).map_err(failed)?;
    let der = pair.as_der().map_err(failed)?;
    let b64 = STANDARD.encode(der.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    Ok(pem.into_bytes())
}
