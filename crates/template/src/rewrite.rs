//! Rewrites AWS endpoint forms of the template's own APIs and user pools to devstack's local
//! endpoints, in every resolved string.
//!
//! Templates build these URLs by hand (`!Sub "https://${Api}.execute-api.${AWS::Region}.
//! amazonaws.com/${Stage}"`, a Cognito issuer from the pool id), and the functions read them
//! from their environment: without the rewrite, local code would call AWS.

use crate::identity::ws_url;
use crate::model::Endpoints;
use serde_json::Value as J;

#[derive(Debug, Default)]
pub(crate) struct Rewriter {
    http_api: String,
    websocket_api: String,
    websocket_ws: String,
    edge: String,
    /// Api ids of the template's HTTP APIs.
    pub http_apis: Vec<String>,
    /// Api ids of the template's WebSocket APIs.
    pub websocket_apis: Vec<String>,
    /// Ids of the template's user pools.
    pub user_pools: Vec<String>,
}

impl Rewriter {
    pub fn new(endpoints: &Endpoints) -> Self {
        let websocket_api = endpoints.websocket_api.trim_end_matches('/').to_owned();
        Self {
            http_api: endpoints.http_api.trim_end_matches('/').to_owned(),
            websocket_ws: ws_url(&websocket_api),
            websocket_api,
            edge: endpoints.edge.trim_end_matches('/').to_owned(),
            ..Self::default()
        }
    }

    /// Rewrites every string inside `value`.
    pub fn rewrite(&self, value: &mut J) {
        match value {
            J::String(s) => {
                if let Some(rewritten) = self.rewrite_str(s) {
                    *s = rewritten;
                }
            }
            J::Array(items) => items.iter_mut().for_each(|v| self.rewrite(v)),
            J::Object(map) => map.values_mut().for_each(|v| self.rewrite(v)),
            _ => {}
        }
    }

    /// `s` with each AWS endpoint of the template's resources replaced, or `None` when it
    /// contains none.
    pub fn rewrite_str(&self, s: &str) -> Option<String> {
        if !s.contains(".amazonaws.com") {
            return None;
        }
        let mut out = String::with_capacity(s.len());
        let mut changed = false;
        let mut rest = s;
        while let Some(c) = rest.chars().next() {
            if let Some((replacement, consumed)) = self.endpoint_at(rest) {
                out.push_str(&replacement);
                rest = &rest[consumed..];
                changed = true;
            } else {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        changed.then_some(out)
    }

    /// When `text` starts with an endpoint to rewrite: its local form and how many bytes of
    /// `text` it replaces (a path that follows is kept as it is).
    fn endpoint_at(&self, text: &str) -> Option<(String, usize)> {
        let (secure_ws, after_scheme) = match text.strip_prefix("https://") {
            Some(rest) => (false, rest),
            None => (true, text.strip_prefix("wss://")?),
        };
        let host_len = after_scheme
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .unwrap_or(after_scheme.len());
        let host = after_scheme[..host_len].strip_suffix(".amazonaws.com")?;
        let origin_len = text.len() - after_scheme.len() + host_len;
        if let Some((api, region)) = host.split_once(".execute-api.")
            && !region.is_empty()
            && !region.contains('.')
        {
            let api = api.to_owned();
            if self.websocket_apis.contains(&api) {
                let base = if secure_ws {
                    &self.websocket_ws
                } else {
                    &self.websocket_api
                };
                return Some((base.clone(), origin_len));
            }
            if !secure_ws && self.http_apis.contains(&api) {
                return Some((self.http_api.clone(), origin_len));
            }
            return None;
        }
        if !secure_ws && host.starts_with("cognito-idp.") {
            let path = after_scheme[host_len..].strip_prefix('/')?;
            let pool_len = path
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(path.len());
            let pool = &path[..pool_len];
            if self.user_pools.iter().any(|p| p == pool) {
                return Some((format!("{}/{pool}", self.edge), origin_len + 1 + pool_len));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter() -> Rewriter {
        let mut r = Rewriter::new(&Endpoints {
            edge: "http://127.0.0.1:4566".into(),
            http_api: "http://127.0.0.1:3000".into(),
            websocket_api: "http://127.0.0.1:3001/".into(),
        });
        r.http_apis.push("httpapi001".into());
        r.websocket_apis.push("wsapi00001".into());
        r.user_pools.push("us-east-1_AbCdEfGhI".into());
        r
    }

    #[test]
    fn rewrites_the_templates_own_endpoints() {
        let r = rewriter();
        for (input, expected) in [
            (
                "https://httpapi001.execute-api.us-east-1.amazonaws.com",
                "http://127.0.0.1:3000",
            ),
            (
                "https://httpapi001.execute-api.us-east-1.amazonaws.com/links?x=1",
                "http://127.0.0.1:3000/links?x=1",
            ),
            (
                "https://wsapi00001.execute-api.us-east-1.amazonaws.com/prod",
                "http://127.0.0.1:3001/prod",
            ),
            (
                "wss://wsapi00001.execute-api.eu-west-1.amazonaws.com/prod",
                "ws://127.0.0.1:3001/prod",
            ),
            (
                "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEfGhI",
                "http://127.0.0.1:4566/us-east-1_AbCdEfGhI",
            ),
            (
                "{\"a\":\"https://httpapi001.execute-api.us-east-1.amazonaws.com/x\"}",
                "{\"a\":\"http://127.0.0.1:3000/x\"}",
            ),
        ] {
            assert_eq!(r.rewrite_str(input).as_deref(), Some(expected), "{input}");
        }
    }

    #[test]
    fn leaves_other_endpoints_alone() {
        let r = rewriter();
        for input in [
            "https://other00001.execute-api.us-east-1.amazonaws.com/prod",
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other",
            "https://dynamodb.us-east-1.amazonaws.com",
            "arn:aws:execute-api:us-east-1:000000000000:httpapi001/*",
            "wss://httpapi001.execute-api.us-east-1.amazonaws.com",
        ] {
            assert_eq!(r.rewrite_str(input), None, "{input}");
        }
    }
}
