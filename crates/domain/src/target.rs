//! Target URL validation: what a short link may point to.

use serde::{Deserialize, Serialize};
use std::fmt;
use url::Url;

/// The longest target we store, in bytes, before and after normalisation. Browsers and proxies
/// start truncating URLs not far above this, and it bounds the item size.
pub const MAX_TARGET_BYTES: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the target URL is empty")]
    Empty,
    #[error("the target URL is {0} bytes long; at most {MAX_TARGET_BYTES} are allowed")]
    TooLong(usize),
    #[error("the target is not a valid absolute URL: {0}")]
    Unparseable(String),
    #[error("only http and https targets are allowed, not {0:?}")]
    Scheme(String),
    #[error("the target URL has no host")]
    NoHost,
    #[error("the target URL carries a user name or password")]
    Credentials,
    #[error("the target points at this shortener itself ({0}), which would make a redirect loop")]
    OwnDomain(String),
}

/// The hosts that serve our own short links; a target on one of them would redirect to itself.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    own_hosts: Vec<String>,
}

impl TargetPolicy {
    /// `bases` are the short-link base URLs in service (the API endpoint, a custom domain).
    /// Entries that are empty or do not parse are ignored: they cannot match any target.
    pub fn new<'a>(bases: impl IntoIterator<Item = &'a str>) -> Self {
        let own_hosts = bases
            .into_iter()
            .filter_map(|b| Url::parse(b.trim()).ok())
            .filter_map(|u| u.host_str().map(|h| h.to_ascii_lowercase()))
            .collect();
        Self { own_hosts }
    }

    /// Validates and normalises (WHATWG URL rules: lower-cased scheme and host, punycode,
    /// default port dropped, path dot-segments resolved, percent-encoding fixed) a target.
    pub fn check(&self, input: &str) -> Result<TargetUrl, TargetError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(TargetError::Empty);
        }
        if trimmed.len() > MAX_TARGET_BYTES {
            return Err(TargetError::TooLong(trimmed.len()));
        }
        let url = Url::parse(trimmed).map_err(|e| TargetError::Unparseable(e.to_string()))?;
        match url.scheme() {
            "http" | "https" => {}
            other => return Err(TargetError::Scheme(other.to_owned())),
        }
        let host = url.host_str().ok_or(TargetError::NoHost)?;
        if host.is_empty() {
            return Err(TargetError::NoHost);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.own_hosts.contains(&host) {
            return Err(TargetError::OwnDomain(host));
        }
        let normalised = url.to_string();
        if normalised.len() > MAX_TARGET_BYTES {
            return Err(TargetError::TooLong(normalised.len()));
        }
        Ok(TargetUrl(normalised))
    }
}

/// A target that passed [`TargetPolicy::check`], in normalised form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TargetUrl(String);

impl TargetUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A target read back from the table, which was checked when it was written.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TargetPolicy {
        TargetPolicy::new([
            "https://abc123.execute-api.eu-west-1.amazonaws.com",
            "https://sho.rt",
            "",
        ])
    }

    #[test]
    fn normalises() {
        let p = policy();
        assert_eq!(
            p.check("  HTTPS://Example.COM:443/a/./b/../c?q=1#f ")
                .unwrap()
                .as_str(),
            "https://example.com/a/c?q=1#f"
        );
        assert_eq!(
            p.check("http://example.com").unwrap().as_str(),
            "http://example.com/"
        );
        assert_eq!(
            p.check("https://bücher.example/").unwrap().as_str(),
            "https://xn--bcher-kva.example/"
        );
        assert_eq!(
            p.check("https://example.com/a b").unwrap().as_str(),
            "https://example.com/a%20b"
        );
    }

    #[test]
    fn each_refusal_has_its_own_error() {
        let p = policy();
        assert_eq!(p.check(""), Err(TargetError::Empty));
        assert_eq!(p.check("   "), Err(TargetError::Empty));
        assert!(matches!(
            p.check("not a url"),
            Err(TargetError::Unparseable(_))
        ));
        assert_eq!(
            p.check("ftp://example.com/"),
            Err(TargetError::Scheme("ftp".into()))
        );
        assert_eq!(
            p.check("javascript:alert(1)"),
            Err(TargetError::Scheme("javascript".into()))
        );
        assert_eq!(
            p.check("file:///etc/passwd"),
            Err(TargetError::Scheme("file".into()))
        );
        assert_eq!(
            p.check("https://user:pw@example.com/"),
            Err(TargetError::Credentials)
        );
        assert_eq!(
            p.check("https://user@example.com/"),
            Err(TargetError::Credentials)
        );
        assert_eq!(
            p.check("https://SHO.RT/abc"),
            Err(TargetError::OwnDomain("sho.rt".into()))
        );
        assert_eq!(
            p.check("https://sho.rt./abc"),
            Err(TargetError::OwnDomain("sho.rt".into()))
        );
        assert_eq!(
            p.check("https://abc123.execute-api.eu-west-1.amazonaws.com/x"),
            Err(TargetError::OwnDomain(
                "abc123.execute-api.eu-west-1.amazonaws.com".into()
            ))
        );
        let long = format!("https://example.com/{}", "a".repeat(MAX_TARGET_BYTES));
        assert_eq!(p.check(&long), Err(TargetError::TooLong(long.len())));
        // Fits before normalisation, not after: each space becomes three bytes.
        let spaces = format!("https://example.com/{}x", " ".repeat(1000));
        assert!(matches!(p.check(&spaces), Err(TargetError::TooLong(n)) if n > MAX_TARGET_BYTES));
    }
}
