//! Route selection: the API's `RouteSelectionExpression` (`$request.body.action`, or the
//! `${request.body.action}` form) evaluated against a message. A message whose expression
//! yields nothing (not JSON, no such property) goes to `$default`.

use super::event::Body;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The JSON path into the body; empty when the expression is not a body expression.
    path: Vec<String>,
}

impl Selection {
    pub fn parse(expression: &str) -> Self {
        let e = expression.trim();
        let inner = e
            .strip_prefix("${")
            .and_then(|r| r.strip_suffix('}'))
            .map(|r| format!("${r}"))
            .unwrap_or_else(|| e.to_owned());
        let path = inner
            .strip_prefix("$request.body.")
            .map(|p| p.split('.').map(str::to_owned).collect())
            .unwrap_or_default();
        Self { path }
    }

    /// The route key the message selects, if the expression yields one.
    pub fn route_key(&self, body: &Body) -> Option<String> {
        if self.path.is_empty() {
            return None;
        }
        let Body::Text(text) = body else {
            return None;
        };
        let value: Value = serde_json::from_str(text).ok()?;
        let mut at = &value;
        for key in &self.path {
            at = at.as_object()?.get(key)?;
        }
        match at {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Body {
        Body::Text(s.into())
    }

    #[test]
    fn body_expressions_select_routes() {
        let s = Selection::parse("$request.body.action");
        assert_eq!(
            s.route_key(&text(r#"{"action":"echo","x":1}"#)).as_deref(),
            Some("echo")
        );
        assert_eq!(s.route_key(&text(r#"{"other":"echo"}"#)), None);
        assert_eq!(s.route_key(&text("not json")), None);
        assert_eq!(s.route_key(&Body::Binary(b"{}".to_vec())), None);
        let nested = Selection::parse("${request.body.message.type}");
        assert_eq!(
            nested
                .route_key(&text(r#"{"message":{"type":"ping"}}"#))
                .as_deref(),
            Some("ping")
        );
        assert_eq!(
            Selection::parse("$request.header.x").route_key(&text(r#"{"x":"y"}"#)),
            None
        );
    }
}
