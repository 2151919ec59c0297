//! Local physical names, ids and ARNs.
//!
//! Everything here is a pure function of the template and the options: the same template
//! always yields the same ids, so a developer's tokens, URLs and saved requests keep working
//! across devstack restarts. Ids derive from sha256 of the logical id.

use sha2::{Digest, Sha256};

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `len` (at most 32) characters of `alphabet` drawn from sha256(`seed`).
fn hashed(seed: &str, alphabet: &[u8], len: usize) -> String {
    Sha256::digest(seed.as_bytes())
        .iter()
        .take(len)
        .map(|b| char::from(alphabet[usize::from(*b) % alphabet.len()]))
        .collect()
}

/// An API Gateway (HTTP or WebSocket) api id: 10 lowercase alphanumerics, like AWS's.
pub(crate) fn api_id(logical_id: &str) -> String {
    hashed(logical_id, LOWER_ALNUM, 10)
}

/// A Cognito user pool id: `{region}_` and 9 alphanumerics, like AWS's.
pub(crate) fn user_pool_id(region: &str, logical_id: &str) -> String {
    format!("{region}_{}", hashed(logical_id, ALNUM, 9))
}

/// A Cognito app client id: 26 lowercase alphanumerics, like AWS's.
pub(crate) fn user_pool_client_id(logical_id: &str) -> String {
    hashed(logical_id, LOWER_ALNUM, 26)
}

/// The 7-character id API Gateway gives routes, integrations and authorizers. `seed` is the
/// logical id (or `{api}/{authorizer name}` for a SAM HttpApi's authorizers).
pub(crate) fn short_id(seed: &str) -> String {
    hashed(seed, LOWER_ALNUM, 7)
}

/// An IAM role id: `AROA` and 17 uppercase alphanumerics, like AWS's.
pub(crate) fn role_id(logical_id: &str) -> String {
    format!("AROA{}", hashed(logical_id, UPPER_ALNUM, 17))
}

/// A CloudFormation-style physical id for resources devstack only names:
/// `{stack}-{LogicalId}-{12 uppercase alphanumerics}`.
pub(crate) fn physical_id(stack: &str, logical_id: &str) -> String {
    format!(
        "{stack}-{logical_id}-{}",
        hashed(logical_id, UPPER_ALNUM, 12)
    )
}

/// The fake `AWS::StackId`.
pub(crate) fn stack_id(region: &str, account: &str, stack: &str) -> String {
    let h = hashed(stack, b"0123456789abcdef", 32);
    format!(
        "arn:aws:cloudformation:{region}:{account}:stack/{stack}/{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The name CloudFormation would generate when the template names none. AWS appends a random
/// suffix; locally `{stack}-{LogicalId}` is stable and readable.
pub(crate) fn default_name(stack: &str, logical_id: &str) -> String {
    format!("{stack}-{logical_id}")
}

/// ARNs in AWS's own forms, for one region and account.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arns<'a> {
    pub region: &'a str,
    pub account: &'a str,
}

impl Arns<'_> {
    pub fn function(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.region, self.account
        )
    }
    pub fn table(&self, name: &str) -> String {
        format!(
            "arn:aws:dynamodb:{}:{}:table/{name}",
            self.region, self.account
        )
    }
    pub fn queue(&self, name: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{name}", self.region, self.account)
    }
    pub fn event_bus(&self, name: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:event-bus/{name}",
            self.region, self.account
        )
    }
    pub fn rule(&self, bus: &str, name: &str) -> String {
        if bus == "default" {
            format!(
                "arn:aws:events:{}:{}:rule/{name}",
                self.region, self.account
            )
        } else {
            format!(
                "arn:aws:events:{}:{}:rule/{bus}/{name}",
                self.region, self.account
            )
        }
    }
    pub fn state_machine(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            self.region, self.account
        )
    }
    pub fn user_pool(&self, id: &str) -> String {
        format!(
            "arn:aws:cognito-idp:{}:{}:userpool/{id}",
            self.region, self.account
        )
    }
    pub fn topic(&self, name: &str) -> String {
        format!("arn:aws:sns:{}:{}:{name}", self.region, self.account)
    }
    pub fn log_group(&self, name: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{name}:*",
            self.region, self.account
        )
    }
    pub fn alarm(&self, name: &str) -> String {
        format!(
            "arn:aws:cloudwatch:{}:{}:alarm:{name}",
            self.region, self.account
        )
    }
    pub fn role(&self, name: &str) -> String {
        format!("arn:aws:iam::{}:role/{name}", self.account)
    }
    pub fn layer(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:layer:{name}:1",
            self.region, self.account
        )
    }
    /// A plausible ARN for a resource type devstack does not model (only ever used as an
    /// opaque value): `arn:aws:{service}:{region}:{account}:{kind}/{name}`.
    pub fn generic(&self, resource_type: &str, name: &str) -> String {
        let mut parts = resource_type.split("::").skip(1);
        let service = parts.next().unwrap_or("unknown").to_ascii_lowercase();
        let kind = parts.next().unwrap_or("resource").to_ascii_lowercase();
        format!(
            "arn:aws:{service}:{}:{}:{kind}/{name}",
            self.region, self.account
        )
    }
}

/// The function name (and qualifier) that a Lambda reference designates, in any of the forms
/// the Lambda and API Gateway APIs accept: `name`, `name:alias`, `account:function:name`,
/// `arn:aws:lambda:region:account:function:name[:qualifier]`, and API Gateway's
/// `arn:aws:apigateway:region:lambda:path/2015-03-31/functions/{function arn}/invocations`.
pub(crate) fn lambda_function_name(reference: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = reference.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        if let [_, "apigateway", _, "lambda", path] = parts.as_slice() {
            let inner = path
                .strip_prefix("path/2015-03-31/functions/")?
                .strip_suffix("/invocations")?;
            return lambda_function_name(inner);
        }
        if let [_, "lambda", _, _, resource] = parts.as_slice() {
            return split_qualifier(resource.strip_prefix("function:")?);
        }
        return None;
    }
    if let Some((_, rest)) = reference.split_once(":function:") {
        return split_qualifier(rest);
    }
    split_qualifier(reference)
}

fn split_qualifier(s: &str) -> Option<(&str, Option<&str>)> {
    let (name, qualifier) = match s.split_once(':') {
        Some((n, q)) => (n, Some(q)),
        None => (s, None),
    };
    (!name.is_empty()).then_some((name, qualifier))
}

/// The bus name of an `EventBusName`: a name, or an event bus ARN.
pub(crate) fn event_bus_name(reference: &str) -> &str {
    match reference.strip_prefix("arn:") {
        Some(rest) => rest
            .rsplit_once(":event-bus/")
            .map_or(reference, |(_, n)| n),
        None => reference,
    }
}

/// The service of an ARN (`lambda`, `sqs`...).
pub(crate) fn arn_service(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?.split(':').nth(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shapes_and_are_stable() {
        let api = api_id("HttpApi");
        assert_eq!(api.len(), 10);
        assert!(
            api.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        );
        assert_eq!(api, api_id("HttpApi"));
        assert_ne!(api, api_id("WebSocketApi"));
        let pool = user_pool_id("us-east-1", "UserPool");
        assert!(pool.starts_with("us-east-1_"));
        assert_eq!(pool.len(), "us-east-1_".len() + 9);
        assert_eq!(user_pool_client_id("C").len(), 26);
        assert_eq!(short_id("R").len(), 7);
    }

    #[test]
    fn lambda_references() {
        for (reference, expected) in [
            ("fn", Some(("fn", None))),
            ("fn:live", Some(("fn", Some("live")))),
            ("000000000000:function:fn", Some(("fn", None))),
            (
                "arn:aws:lambda:us-east-1:000000000000:function:fn",
                Some(("fn", None)),
            ),
            (
                "arn:aws:lambda:us-east-1:000000000000:function:fn:live",
                Some(("fn", Some("live"))),
            ),
            (
                "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:fn/invocations",
                Some(("fn", None)),
            ),
            ("arn:aws:sqs:us-east-1:000000000000:q", None),
        ] {
            assert_eq!(lambda_function_name(reference), expected, "{reference}");
        }
    }

    #[test]
    fn bus_names() {
        assert_eq!(event_bus_name("b"), "b");
        assert_eq!(
            event_bus_name("arn:aws:events:us-east-1:1:event-bus/b"),
            "b"
        );
    }
}
