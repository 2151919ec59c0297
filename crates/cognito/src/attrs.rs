//! User attributes: the `[{Name, Value}]` lists of the API, their validation against
//! Cognito's standard schema (plus any `custom:` attribute, since the model carries no
//! schema), and the masking of a code's destination.

use crate::error::Fault;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Cognito's standard attributes (OpenID Connect's, minus `sub`, which Cognito assigns).
const STANDARD: &[&str] = &[
    "address",
    "birthdate",
    "email",
    "email_verified",
    "family_name",
    "gender",
    "given_name",
    "locale",
    "middle_name",
    "name",
    "nickname",
    "phone_number",
    "phone_number_verified",
    "picture",
    "preferred_username",
    "profile",
    "updated_at",
    "website",
    "zoneinfo",
];
const MAX_VALUE: usize = 2048;

pub(crate) type Attributes = BTreeMap<String, String>;

/// Reads an attribute list member (`UserAttributes`), validating every entry. `trusted`: an
/// administrator (or the user answering a challenge) may set `*_verified`; a self sign-up
/// may not, or anyone could claim an address they do not own.
pub(crate) fn parse(
    value: Option<&Value>,
    field: &str,
    trusted: bool,
) -> Result<Attributes, Fault> {
    let mut out = Attributes::new();
    let items = match value {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Fault::wrong_type(field)),
    };
    for item in items {
        let name = item
            .get("Name")
            .and_then(Value::as_str)
            .ok_or_else(|| Fault::missing(&format!("{field}.member.name")))?;
        let value = match item.get("Value") {
            None | Some(Value::Null) => "",
            Some(Value::String(s)) => s,
            Some(_) => return Err(Fault::wrong_type(&format!("{field}.Value"))),
        };
        check(name, value, trusted)?;
        out.insert(name.to_owned(), value.to_owned());
    }
    Ok(out)
}

/// One attribute's name and value.
pub(crate) fn check(name: &str, value: &str, trusted: bool) -> Result<(), Fault> {
    if name == "sub" {
        return Err(Fault::invalid_parameter(
            "Cannot modify the non-mutable attribute sub",
        ));
    }
    let custom = name
        .strip_prefix("custom:")
        .is_some_and(|n| !n.is_empty() && n.len() <= 20);
    if !custom && !STANDARD.contains(&name) {
        return Err(Fault::invalid_parameter(format!(
            "Attributes did not conform to the schema: {name}: Attribute does not exist in the schema."
        )));
    }
    if value.chars().count() > MAX_VALUE {
        return Err(Fault::invalid_parameter(format!(
            "Attributes did not conform to the schema: {name}: String must be no longer than {MAX_VALUE} characters"
        )));
    }
    match name {
        "email" if !is_email(value) => {
            Err(Fault::invalid_parameter("Invalid email address format."))
        }
        "phone_number" if !is_phone(value) => {
            Err(Fault::invalid_parameter("Invalid phone number format."))
        }
        "email_verified" | "phone_number_verified" if !trusted => Err(Fault::invalid_parameter(
            format!("{name} can only be set by an administrator"),
        )),
        "email_verified" | "phone_number_verified" if value != "true" && value != "false" => Err(
            Fault::invalid_parameter(format!("{name} must be true or false")),
        ),
        _ => Ok(()),
    }
}

/// An address of the form `local@domain`, no spaces: what Cognito accepts, loosely.
pub(crate) fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// E.164: `+` and up to 15 digits.
pub(crate) fn is_phone(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether the attribute `name` holds `login` (emails compare without case, as Cognito's do).
pub(crate) fn same_login(name: &str, stored: &str, login: &str) -> bool {
    if name == "email" {
        stored.eq_ignore_ascii_case(login)
    } else {
        stored == login
    }
}

/// The destination as Cognito shows it in `CodeDeliveryDetails`: `a***@e***` for an email,
/// `+*******1234` for a phone number.
pub(crate) fn mask(attribute: &str, value: &str) -> String {
    if attribute == "email" {
        let (local, domain) = value.split_once('@').unwrap_or((value, ""));
        let first = |s: &str| s.chars().next().map(String::from).unwrap_or_default();
        format!("{}***@{}***", first(local), first(domain))
    } else {
        let chars: Vec<char> = value.chars().collect();
        let keep = chars.len().saturating_sub(4);
        let (head, tail) = chars.split_at(keep);
        let masked: String = head
            .iter()
            .map(|c| if *c == '+' { '+' } else { '*' })
            .collect();
        masked + &tail.iter().collect::<String>()
    }
}

/// The `[{Name, Value}]` list of a user, `sub` first as Cognito lists it.
pub(crate) fn list(attributes: &Attributes) -> Value {
    let sub = attributes.get_key_value("sub");
    let rest = attributes.iter().filter(|(k, _)| *k != "sub");
    Value::Array(
        sub.into_iter()
            .chain(rest)
            .map(|(k, v)| json!({"Name": k, "Value": v}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_cognito() {
        assert_eq!(mask("email", "alice@example.com"), "a***@e***");
        assert_eq!(mask("phone_number", "+15551234567"), "+*******4567");
    }

    #[test]
    fn validates() {
        assert!(check("email", "a@b.c", false).is_ok());
        assert!(check("email", "nope", false).is_err());
        assert!(check("custom:team", "x", false).is_ok());
        assert!(check("favourite_colour", "x", true).is_err());
        assert!(check("email_verified", "true", false).is_err());
        assert!(check("email_verified", "true", true).is_ok());
        assert!(check("sub", "x", true).is_err());
        assert!(is_phone("+4930123456"));
        assert!(!is_phone("030123456"));
    }
}
