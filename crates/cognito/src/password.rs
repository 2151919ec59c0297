//! Passwords: the pool's policy as Cognito enforces it, storage as a salted PBKDF2 hash (the
//! state file may sit in a repository checkout, so it holds no password in clear), and
//! generated passwords that satisfy any policy.

use crate::error::Fault;
use crate::{CognitoError, random};
use aws_lc_rs::pbkdf2;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;
use template::model::PasswordPolicy;

/// The characters Cognito counts as symbols (its documented set, space included).
const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ";
/// Symbols for generated passwords: a subset that needs no quoting in a shell.
const SAFE_SYMBOLS: &[u8] = b"%+-=@^_";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const MAX_LENGTH: usize = 256;
/// Enough work to make the file useless for guessing, little enough that a sign-in in a debug
/// build stays in the milliseconds.
const ITERATIONS: u32 = 10_000;

/// The checks of the `Password` member itself (AWS's request validation), before the policy.
pub(crate) fn check_shape(field: &str, password: &str) -> Result<(), Fault> {
    if password.chars().count() > MAX_LENGTH {
        return Err(Fault::constraint(
            field,
            "********",
            "Member must have length less than or equal to 256",
        ));
    }
    let trimmed_ok = password.chars().count() >= 2
        && !password.starts_with(char::is_whitespace)
        && !password.ends_with(char::is_whitespace);
    if !trimmed_ok {
        return Err(Fault::constraint(
            field,
            "********",
            r"Member must satisfy regular expression pattern: ^[\S]+.*[\S]+$",
        ));
    }
    Ok(())
}

/// Every rule of the policy that `password` breaks, in Cognito's words, joined so that one
/// answer tells the user all that is missing (Cognito itself names only the first).
pub(crate) fn check_policy(policy: &PasswordPolicy, password: &str) -> Result<(), Fault> {
    let mut missing = Vec::new();
    if password.chars().count() < policy.minimum_length as usize {
        missing.push("Password not long enough");
    }
    if policy.require_lowercase && !password.chars().any(|c| c.is_ascii_lowercase()) {
        missing.push("Password must have lowercase characters");
    }
    if policy.require_uppercase && !password.chars().any(|c| c.is_ascii_uppercase()) {
        missing.push("Password must have uppercase characters");
    }
    if policy.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
        missing.push("Password must have numeric characters");
    }
    if policy.require_symbols && !password.chars().any(|c| SYMBOLS.contains(c)) {
        missing.push("Password must have symbol characters");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Fault::new(
            "InvalidPasswordException",
            format!(
                "Password did not conform with policy: {}",
                missing.join("; ")
            ),
        ))
    }
}

/// Both checks, as every operation that sets a password runs them.
pub(crate) fn check(policy: &PasswordPolicy, field: &str, password: &str) -> Result<(), Fault> {
    check_shape(field, password)?;
    check_policy(policy, password)
}

/// A password that satisfies `policy` whatever it requires: every character class, at least
/// 16 characters (more if the policy asks), no look-alike characters.
pub(crate) fn generate(policy: &PasswordPolicy) -> Result<String, CognitoError> {
    let len = (policy.minimum_length as usize).clamp(16, MAX_LENGTH);
    let mut chars = vec![
        random::pick(LOWER)?,
        random::pick(UPPER)?,
        random::pick(DIGITS)?,
        random::pick(SAFE_SYMBOLS)?,
    ];
    let all: Vec<u8> = [LOWER, UPPER, DIGITS].concat();
    while chars.len() < len {
        chars.push(random::pick(&all)?);
    }
    // Fisher-Yates, so the required classes are not always in front.
    for i in (1..chars.len()).rev() {
        let j = random::below(i as u32 + 1)? as usize;
        chars.swap(i, j);
    }
    Ok(chars.into_iter().collect())
}

/// A stored password: PBKDF2-HMAC-SHA256 with a random salt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PasswordHash {
    iterations: u32,
    salt: String,
    hash: String,
}

impl PasswordHash {
    pub fn new(password: &str) -> Result<Self, CognitoError> {
        let mut salt = [0u8; 16];
        random::fill(&mut salt)?;
        let mut hash = [0u8; 32];
        pbkdf2::derive(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations(ITERATIONS),
            &salt,
            password.as_bytes(),
            &mut hash,
        );
        Ok(Self {
            iterations: ITERATIONS,
            salt: STANDARD.encode(salt),
            hash: STANDARD.encode(hash),
        })
    }

    /// Whether `password` is this one (in constant time); a damaged record matches nothing.
    pub fn matches(&self, password: &str) -> bool {
        let (Ok(salt), Ok(hash)) = (STANDARD.decode(&self.salt), STANDARD.decode(&self.hash))
        else {
            return false;
        };
        pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations(self.iterations),
            &salt,
            password.as_bytes(),
            &hash,
        )
        .is_ok()
    }
}

fn iterations(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> PasswordPolicy {
        PasswordPolicy {
            minimum_length: 10,
            require_lowercase: true,
            require_uppercase: true,
            require_numbers: true,
            require_symbols: true,
        }
    }

    #[test]
    fn policy_names_every_failure() {
        let e = check_policy(&strict(), "abc").unwrap_err();
        assert_eq!(e.code, "InvalidPasswordException");
        assert_eq!(
            e.message,
            "Password did not conform with policy: Password not long enough; \
             Password must have uppercase characters; Password must have numeric characters; \
             Password must have symbol characters"
        );
        assert!(
            check_policy(&strict(), "Abcdefgh1 x").is_ok(),
            "space is a symbol"
        );
        assert!(check_shape("Password", " Abcdefgh1!").is_err());
        assert!(check_shape("Password", "A").is_err());
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        for _ in 0..20 {
            let p = generate(&strict()).unwrap();
            assert_eq!(p.len(), 16);
            check(&strict(), "Password", &p).unwrap();
        }
    }

    #[test]
    fn hashes_verify() {
        let h = PasswordHash::new("Secret-123").unwrap();
        assert!(h.matches("Secret-123"));
        assert!(!h.matches("secret-123"));
        let json = serde_json::to_string(&h).unwrap();
        assert!(!json.contains("Secret-123"));
    }
}
