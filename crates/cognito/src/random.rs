//! Everything random (codes, passwords, ids, refresh tokens, sessions) comes from the OS
//! CSPRNG through aws-lc; a failure is an error, not a panic.

use crate::CognitoError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub(crate) fn fill(buf: &mut [u8]) -> Result<(), CognitoError> {
    aws_lc_rs::rand::fill(buf).map_err(|_| CognitoError::Random)
}

/// A uniform integer in `0..n` (n > 0), by rejection so that no value is favoured.
pub(crate) fn below(n: u32) -> Result<u32, CognitoError> {
    let n = n.max(1);
    // The largest multiple of n that fits: draws at or above it would skew the modulo.
    let limit = u32::MAX - u32::MAX % n;
    loop {
        let mut b = [0u8; 4];
        fill(&mut b)?;
        let x = u32::from_le_bytes(b);
        if x < limit {
            return Ok(x % n);
        }
    }
}

/// One character of `alphabet`, uniformly.
pub(crate) fn pick(alphabet: &[u8]) -> Result<char, CognitoError> {
    let len = u32::try_from(alphabet.len()).unwrap_or(u32::MAX);
    let i = below(len)? as usize;
    Ok(alphabet.get(i).copied().map_or('x', char::from))
}

/// A version 4 UUID, as Cognito's `sub`, `jti`, `origin_jti` and `event_id` are.
pub(crate) fn uuid() -> Result<String, CognitoError> {
    let mut b = [0u8; 16];
    fill(&mut b)?;
    Ok(uuid::Builder::from_random_bytes(b).into_uuid().to_string())
}

/// An opaque, URL-safe secret of `bytes` random bytes.
pub(crate) fn token(bytes: usize) -> Result<String, CognitoError> {
    let mut b = vec![0u8; bytes];
    fill(&mut b)?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// A six-digit confirmation code, leading zeros included, as Cognito sends.
pub(crate) fn code() -> Result<String, CognitoError> {
    Ok(format!("{:06}", below(1_000_000)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        for _ in 0..50 {
            let c = code().unwrap();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
            assert!(below(7).unwrap() < 7);
        }
        assert_eq!(uuid().unwrap().len(), 36);
        assert_ne!(token(32).unwrap(), token(32).unwrap());
    }
}
