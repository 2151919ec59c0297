//! The awsJson protocols (1.0 and 1.1) as devstack's services answer them: the operation comes
//! from `X-Amz-Target`, the input and output are JSON, and an error is a status with a body
//! whose `__type` names the AWS error code, which every AWS SDK reads.

use serde_json::{Value, json};

/// An answer: a status and a JSON body (errors carry `__type` and `message`).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({"__type": code, "message": message.into()}),
        }
    }

    /// The error code of an error answer.
    pub fn error_code(&self) -> Option<&str> {
        self.body.get("__type").and_then(Value::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shape() {
        let a = Answer::error(400, "ValidationException", "bad");
        assert_eq!(
            a.body,
            json!({"__type": "ValidationException", "message": "bad"})
        );
        assert_eq!(a.error_code(), Some("ValidationException"));
        assert_eq!(Answer::ok(json!({})).error_code(), None);
    }
}
