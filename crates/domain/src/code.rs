//! Short codes: generated ones (7 characters of base62) and custom aliases.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The alphabet of generated codes. 62 symbols: 0-9, A-Z, a-z.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of a generated code: 62^7 is about 3.5e12 codes, so collisions stay rare for
/// billions of links and the conditional Put retries the few that happen.
pub const GENERATED_LEN: usize = 7;

pub const ALIAS_MIN: usize = 3;
pub const ALIAS_MAX: usize = 64;

/// Words that are routes, or may become routes, on the short domain. An alias equal to one of
/// them (in any case) would shadow the route or be shadowed by it.
pub const RESERVED: &[&str] = &[
    "links",
    "link",
    "api",
    "health",
    "healthz",
    "status",
    "admin",
    "login",
    "logout",
    "signup",
    "signin",
    "auth",
    "oauth",
    "callback",
    "dashboard",
    "static",
    "assets",
    "app",
    "ws",
    "websocket",
    "connections",
    "_devstack",
    "well-known",
    "favicon",
    "robots",
    "sitemap",
];

/// The code of the deployment canary: the link that the PreTraffic hook resolves through the
/// new version of the redirect function before CodeDeploy shifts traffic to it. No user can be
/// handed it: generated codes have no `_`, and `alias` refuses it (in any case) as reserved;
/// `parse` accepts it, so the redirect serves it as it serves any link.
pub const CANARY: &str = "_canary";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("alias must be {ALIAS_MIN} to {ALIAS_MAX} characters long, got {0}")]
    Length(usize),
    #[error("alias may contain only letters, digits, '_' and '-'; found {0:?}")]
    Character(char),
    #[error("alias {0:?} is a reserved word")]
    Reserved(String),
    #[error("the system random source failed: {0}")]
    Random(String),
}

/// A validated short code: either generated or a custom alias. Codes are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShortCode(String);

impl ShortCode {
    /// A fresh code from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, CodeError> {
        Self::generate_with(|buf| {
            getrandom::fill(buf).map_err(|e| CodeError::Random(e.to_string()))
        })
    }

    /// A fresh code from `fill`, a source of uniformly random bytes.
    ///
    /// Rejection sampling keeps the code uniform: a byte maps to a symbol only when it is below
    /// 248 (the largest multiple of 62 that fits in a byte), so `byte % 62` has no bias toward
    /// the first symbols, as a plain modulo of 256 would.
    pub fn generate_with(
        mut fill: impl FnMut(&mut [u8]) -> Result<(), CodeError>,
    ) -> Result<Self, CodeError> {
        const LIMIT: u8 = 248; // 62 * 4
        let mut out = String::with_capacity(GENERATED_LEN);
        let mut buf = [0u8; 16];
        while out.len() < GENERATED_LEN {
            fill(&mut buf)?;
            for &b in &buf {
                if b < LIMIT {
                    out.push(BASE62[usize::from(b % 62)] as char);
                    if out.len() == GENERATED_LEN {
                        break;
                    }
                }
            }
        }
        Ok(Self(out))
    }

    /// A custom alias chosen by the user.
    pub fn alias(s: &str) -> Result<Self, CodeError> {
        let len = s.chars().count();
        if !(ALIAS_MIN..=ALIAS_MAX).contains(&len) {
            return Err(CodeError::Length(len));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(CodeError::Character(c));
        }
        if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(s)) || CANARY.eq_ignore_ascii_case(s) {
            return Err(CodeError::Reserved(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// A code as it appears in a path or a stored key. Accepts everything `alias` accepts plus
    /// generated codes (which are 7 characters and never reserved) and [`CANARY`], so that a
    /// lookup can refuse garbage before it reaches the table.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        if s == CANARY || (s.len() == GENERATED_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Ok(Self(s.to_owned()));
        }
        Self::alias(s)
    }

    /// The deployment canary's code, [`CANARY`].
    pub fn canary() -> Self {
        Self(CANARY.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ShortCode {
    type Error = CodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ShortCode> for String {
    fn from(c: ShortCode) -> Self {
        c.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_seven_base62_characters() {
        for _ in 0..1000 {
            let c = ShortCode::generate().unwrap();
            assert_eq!(c.as_str().len(), GENERATED_LEN);
            assert!(c.as_str().bytes().all(|b| BASE62.contains(&b)));
        }
    }

    #[test]
    fn bytes_at_or_above_248_are_rejected_not_folded() {
        // A source that yields 248..=255 first and then 61: a modulo-256 generator would map
        // 248 to '0' ('248 % 62 == 0'); ours must skip those bytes entirely.
        let mut calls = 0;
        let code = ShortCode::generate_with(|buf| {
            calls += 1;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = if calls == 1 { 248 + (i as u8 % 8) } else { 61 };
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(code.as_str(), "zzzzzzz");
        assert_eq!(calls, 2);
    }

    #[test]
    fn every_symbol_is_equally_likely_over_all_accepted_bytes() {
        // Feed every byte value once: each of the 62 symbols must come out exactly 4 times.
        let mut counts = [0usize; 62];
        for b in 0u8..=255 {
            let mut once = true;
            let r = ShortCode::generate_with(|buf| {
                if !once {
                    return Err(CodeError::Random("done".into()));
                }
                once = false;
                buf.fill(b);
                Ok(())
            });
            if let Ok(code) = r {
                let sym = code.as_str().as_bytes()[0];
                counts[BASE62.iter().position(|&s| s == sym).unwrap()] += 1;
            }
        }
        assert!(counts.iter().all(|&c| c == 4), "{counts:?}");
    }

    #[test]
    fn alias_rules() {
        assert!(ShortCode::alias("my-link_1").is_ok());
        assert_eq!(ShortCode::alias("ab"), Err(CodeError::Length(2)));
        assert_eq!(
            ShortCode::alias(&"a".repeat(65)),
            Err(CodeError::Length(65))
        );
        assert!(ShortCode::alias(&"a".repeat(64)).is_ok());
        assert_eq!(ShortCode::alias("a b"), Err(CodeError::Character(' ')));
        assert_eq!(ShortCode::alias("a/bc"), Err(CodeError::Character('/')));
        assert_eq!(ShortCode::alias("héllo"), Err(CodeError::Character('é')));
        assert_eq!(
            ShortCode::alias("Links"),
            Err(CodeError::Reserved("Links".into()))
        );
        assert!(matches!(
            ShortCode::alias("api"),
            Err(CodeError::Reserved(_))
        ));
        assert!(matches!(
            ShortCode::alias("HEALTH"),
            Err(CodeError::Reserved(_))
        ));
    }

    #[test]
    fn the_canary_code_resolves_but_no_user_can_take_it() {
        assert_eq!(ShortCode::parse(CANARY), Ok(ShortCode::canary()));
        for taken in [CANARY, "_Canary", "_CANARY"] {
            assert_eq!(
                ShortCode::alias(taken),
                Err(CodeError::Reserved(taken.into()))
            );
        }
        // Only the exact code is let through parse: a case variant is just a reserved alias.
        assert!(ShortCode::parse("_Canary").is_err());
    }

    #[test]
    fn parse_accepts_generated_and_aliases_only() {
        assert!(ShortCode::parse("Ab3xY9z").is_ok());
        assert!(ShortCode::parse("my-alias").is_ok());
        assert!(ShortCode::parse("links").is_err());
        assert!(ShortCode::parse("x").is_err());
        assert!(ShortCode::parse("../etc").is_err());
    }
}
