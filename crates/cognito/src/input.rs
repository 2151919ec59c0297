//! Reading request members, with AWS's answers for absent or mistyped ones.

use crate::error::Fault;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Copy)]
pub(crate) struct Input<'a>(pub &'a Value);

impl<'a> Input<'a> {
    pub fn str(self, field: &str) -> Result<Option<&'a str>, Fault> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Fault::wrong_type(field)),
        }
    }

    /// A required, non-empty string member.
    pub fn required(self, field: &str) -> Result<&'a str, Fault> {
        match self.str(field)? {
            None => Err(Fault::missing(field)),
            Some("") => Err(Fault::constraint(
                field,
                "",
                "Member must have length greater than or equal to 1",
            )),
            Some(s) => Ok(s),
        }
    }

    pub fn bool(self, field: &str) -> Result<Option<bool>, Fault> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Fault::wrong_type(field)),
        }
    }

    /// An integer member within `range` (AWS's `MaxResults` bounds).
    pub fn int(self, field: &str, min: u64, max: u64) -> Result<Option<u64>, Fault> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
                _ => Err(Fault::constraint(
                    field,
                    &n.to_string(),
                    &format!("Member must have value between {min} and {max}, inclusive"),
                )),
            },
            Some(_) => Err(Fault::wrong_type(field)),
        }
    }

    /// A string-to-string map member (`AuthParameters`, `ChallengeResponses`).
    pub fn map(self, field: &str) -> Result<BTreeMap<&'a str, &'a str>, Fault> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.as_str(), s.as_str())),
                    _ => Err(Fault::wrong_type(field)),
                })
                .collect(),
            Some(_) => Err(Fault::wrong_type(field)),
        }
    }

    /// A list of strings (`DesiredDeliveryMediums`).
    pub fn strings(self, field: &str) -> Result<Vec<&'a str>, Fault> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().ok_or_else(|| Fault::wrong_type(field)))
                .collect(),
            Some(_) => Err(Fault::wrong_type(field)),
        }
    }
}

/// A parameter of `AuthParameters` or `ChallengeResponses` that the flow needs.
pub(crate) fn param<'a>(params: &BTreeMap<&str, &'a str>, name: &str) -> Result<&'a str, Fault> {
    params
        .get(name)
        .copied()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Fault::invalid_parameter(format!("Missing required parameter {name}")))
}

/// One page of `items` after the `NextToken` (an index, as devstack hands them out).
pub(crate) fn page<'a, T>(
    items: &'a [T],
    max: usize,
    next_token: Option<&str>,
) -> Result<(&'a [T], Option<String>), Fault> {
    let start = match next_token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|i| *i <= items.len())
            .ok_or_else(|| Fault::invalid_parameter("Invalid pagination token"))?,
    };
    let end = start.saturating_add(max).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((&items[start..end], next))
}
