//! The admin API's logic, independent of any HTTP server: the embedder routes requests under
//! its admin prefix (e.g. `/_devstack/chaos`) here with the rest of the path.
//!
//! | method | path          | body                                  | answer                         |
//! |--------|---------------|---------------------------------------|--------------------------------|
//! | GET    | `/rules`      |                                       | 200 `{"seed": N, "rules": [..]}` |
//! | POST   | `/rules`      | a rule (structured), or a JSON string in the compact form | 201 the rule as armed, with its id |
//! | DELETE | `/rules/{id}` |                                       | 200 `{"removed": rule}`, 404   |
//! | DELETE | `/rules`      |                                       | 200 `{"removed": N}`           |
//! | POST   | `/reset`      |                                       | 200 as GET `/rules`, after [`Chaos::reset`] |
//!
//! Errors are `{"message": "..."}` with 400 (bad rule), 404, 405 or 409 (id taken).

use crate::engine::Chaos;
use crate::rules::{Rule, RuleError, RuleWire};
use serde_json::{Value, json};

/// An answer of the admin API.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminResponse {
    pub status: u16,
    pub body: Value,
}

impl AdminResponse {
    fn new(status: u16, body: Value) -> AdminResponse {
        AdminResponse { status, body }
    }

    fn error(status: u16, message: impl Into<String>) -> AdminResponse {
        AdminResponse::new(status, json!({"message": message.into()}))
    }
}

impl Chaos {
    /// Answers one admin request: `method` (`GET`, `POST`, `DELETE`), `path` relative to the
    /// admin prefix, and the request body.
    pub fn admin(&self, method: &str, path: &str, body: &[u8]) -> AdminResponse {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match (method.to_ascii_uppercase().as_str(), segments.as_slice()) {
            ("GET", ["rules"]) => self.listing(200),
            ("POST", ["rules"]) => match parse_rule(body) {
                Ok(rule) => match self.add(rule) {
                    Ok(armed) => AdminResponse::new(201, rule_json(&armed)),
                    Err(e @ RuleError::DuplicateId { .. }) => {
                        AdminResponse::error(409, e.to_string())
                    }
                    Err(e) => AdminResponse::error(400, e.to_string()),
                },
                Err(message) => AdminResponse::error(400, message),
            },
            ("DELETE", ["rules"]) => AdminResponse::new(200, json!({"removed": self.clear()})),
            ("DELETE", ["rules", id]) => match self.remove(id) {
                Some(rule) => AdminResponse::new(200, json!({"removed": rule_json(&rule)})),
                None => AdminResponse::error(404, format!("no chaos rule with id `{id}`")),
            },
            ("POST", ["reset"]) => {
                self.reset();
                self.listing(200)
            }
            (_, ["rules"] | ["rules", _] | ["reset"]) => {
                AdminResponse::error(405, format!("{method} is not allowed on {path}"))
            }
            _ => AdminResponse::error(404, format!("no chaos admin resource at {path}")),
        }
    }

    fn listing(&self, status: u16) -> AdminResponse {
        let rules: Vec<Value> = self.rules().iter().map(rule_json).collect();
        AdminResponse::new(status, json!({"seed": self.seed(), "rules": rules}))
    }
}

fn rule_json(rule: &Rule) -> Value {
    // A valid rule always serializes.
    serde_json::to_value(rule).unwrap_or(Value::Null)
}

/// A posted rule: a structured one, or a JSON string in the compact form.
fn parse_rule(body: &[u8]) -> Result<Rule, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    match value {
        Value::String(text) => text.parse::<Rule>().map_err(|e| e.to_string()),
        other => {
            let wire: RuleWire =
                serde_json::from_value(other).map_err(|e| format!("not a chaos rule: {e}"))?;
            Rule::try_from(wire).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_add_remove_reset() {
        let chaos = Chaos::new(5, vec!["queue=Q duplicate".parse().unwrap()]).unwrap();
        let r = chaos.admin("GET", "/rules", b"");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            json!({"seed": 5, "rules": [
                {"id": "r1", "queue": "Q", "fault": {"type": "duplicate"}, "when": "every"}
            ]})
        );

        let r = chaos.admin(
            "POST",
            "/rules",
            br#"{"table": "*", "operation": "TransactWriteItems",
                 "fault": {"type": "dynamo-error", "code": "TransactionConflict"},
                 "when": {"nth": 3}}"#,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["id"], "r2");
        assert_eq!(r.body["when"], json!({"nth": 3}));

        let r = chaos.admin(
            "POST",
            "/rules",
            br#""id=crash function=F crash=message:m-1""#,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["id"], "crash");
        let r = chaos.admin("POST", "/rules", br#""id=crash function=F timeout""#);
        assert_eq!(r.status, 409, "{}", r.body);

        let r = chaos.admin("POST", "/rules", br#""queue=Q duplicat""#);
        assert_eq!(r.status, 400);
        assert!(r.body["message"].as_str().unwrap().contains("duplicat"));
        let r = chaos.admin(
            "POST",
            "/rules",
            br#"{"bus": "B", "fault": {"type": "crash"}}"#,
        );
        assert_eq!(r.status, 400);
        let r = chaos.admin("POST", "/rules", b"{");
        assert_eq!(r.status, 400);

        assert_eq!(chaos.rules().len(), 3);
        let r = chaos.admin("DELETE", "/rules/r2", b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.body["removed"]["id"], "r2");
        assert_eq!(chaos.admin("DELETE", "/rules/r2", b"").status, 404);

        let r = chaos.admin("POST", "/reset", b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.body["rules"].as_array().unwrap().len(), 1);

        let r = chaos.admin("DELETE", "/rules", b"");
        assert_eq!(r.body, json!({"removed": 1}));
        assert!(!chaos.is_active());

        assert_eq!(chaos.admin("PUT", "/rules", b"").status, 405);
        assert_eq!(chaos.admin("GET", "/nothing", b"").status, 404);
    }

    #[test]
    fn websocket_rules() {
        let chaos = Chaos::disabled();
        let r = chaos.admin(
            "POST",
            "/rules",
            br#"{"websocket": "WebSocketApi", "connection": "abc*", "fault": {"type": "gone"}}"#,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(
            r.body,
            json!({"id": "r1", "websocket": "WebSocketApi", "connection": "abc*",
                   "fault": {"type": "gone"}, "when": "every"})
        );
        let r = chaos.admin(
            "POST",
            "/rules",
            br#""websocket=* connection=x= gone=times:1""#,
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["connection"], "x=");
        assert!(chaos.on_post_to_connection("WebSocketApi", "id", "abc1"));

        let r = chaos.admin(
            "POST",
            "/rules",
            br#"{"queue": "Q", "connection": "c", "fault": {"type": "duplicate"}}"#,
        );
        assert_eq!(r.status, 400);
        assert!(
            r.body["message"].as_str().unwrap().contains("connection=c"),
            "{}",
            r.body
        );
        let r = chaos.admin("POST", "/rules", br#""websocket=W gone message-id=m""#);
        assert_eq!(r.status, 400);
        assert!(
            r.body["message"].as_str().unwrap().contains("message-id=m"),
            "{}",
            r.body
        );
    }
}
