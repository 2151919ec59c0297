//! The `Parameters` section: effective values (override, else default), checked against the
//! declared constraints as CloudFormation checks them at deploy time, so a bad value fails
//! locally the way it would fail on AWS.

use crate::error::{ParameterProblem, TemplateError};
use crate::model::Warning;
use crate::pattern;
use crate::yaml_text;
use serde_json::Value as J;
use serde_yaml::Value;
use std::collections::BTreeMap;

pub(crate) struct Parameters {
    /// What `!Ref` yields: a string (also for `Number`, as in CloudFormation), or a list of
    /// strings for list types.
    pub values: BTreeMap<String, J>,
    /// The effective values as text, a list comma-joined.
    pub display: BTreeMap<String, String>,
    pub warnings: Vec<Warning>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    List { numbers: bool },
}

fn kind(ty: &str) -> Option<Kind> {
    // SSM parameter types carry the type of the value they would fetch.
    let inner = ty
        .strip_prefix("AWS::SSM::Parameter::Value<")
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(ty);
    Some(match inner {
        "String" => Kind::Text,
        "Number" => Kind::Number,
        "CommaDelimitedList" => Kind::List { numbers: false },
        "List<Number>" => Kind::List { numbers: true },
        t if t.starts_with("List<") => Kind::List { numbers: false },
        t if t.starts_with("AWS::") => Kind::Text,
        _ => return None,
    })
}

pub(crate) fn evaluate(
    root: &Value,
    overrides: &BTreeMap<String, String>,
) -> Result<Parameters, TemplateError> {
    let empty = serde_yaml::Mapping::new();
    let declared = match root.get("Parameters") {
        None | Some(Value::Null) => &empty,
        Some(Value::Mapping(m)) => m,
        Some(_) => {
            return Err(TemplateError::Parameter {
                parameter: "Parameters".into(),
                problem: ParameterProblem::NotAMapping("section"),
            });
        }
    };
    if let Some(name) = overrides
        .keys()
        .find(|name| declared.get(name.as_str()).is_none())
    {
        return Err(TemplateError::UnknownOverride { name: name.clone() });
    }
    let mut out = Parameters {
        values: BTreeMap::new(),
        display: BTreeMap::new(),
        warnings: Vec::new(),
    };
    for (name, decl) in declared {
        let name = yaml_text(name).unwrap_or_default();
        let fail = |problem| TemplateError::Parameter {
            parameter: name.clone(),
            problem,
        };
        if !decl.is_mapping() {
            return Err(fail(ParameterProblem::NotAMapping("declaration")));
        }
        let ty = decl
            .get("Type")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(ParameterProblem::NoType))?;
        let kind = kind(ty).ok_or_else(|| fail(ParameterProblem::UnknownType(ty.into())))?;
        let text = match overrides.get(&name) {
            Some(v) => v.clone(),
            None => match decl.get("Default") {
                // A list default is not valid CloudFormation, but SAM CLI accepts it.
                Some(Value::Sequence(items)) => items
                    .iter()
                    .filter_map(yaml_text)
                    .collect::<Vec<_>>()
                    .join(","),
                Some(v) => yaml_text(v).ok_or_else(|| fail(ParameterProblem::NoValue))?,
                None => return Err(fail(ParameterProblem::NoValue)),
            },
        };
        if ty.starts_with("AWS::SSM::Parameter::Value<") {
            out.warnings.push(Warning {
                resource: name.clone(),
                message: format!(
                    "SSM parameter types are not resolved: devstack uses {text:?} itself as the value"
                ),
            });
        }
        let items: Vec<&str> = match kind {
            Kind::List { .. } => text.split(',').collect(),
            _ => vec![text.as_str()],
        };
        for item in &items {
            check(decl, kind, item, &mut out.warnings, &name).map_err(&fail)?;
        }
        let value = match kind {
            Kind::List { .. } => J::Array(items.iter().map(|s| J::String((*s).into())).collect()),
            _ => J::String(text.clone()),
        };
        out.values.insert(name.clone(), value);
        out.display.insert(name, text);
    }
    Ok(out)
}

/// Checks one value (one element of a list) against the declaration's constraints.
fn check(
    decl: &Value,
    kind: Kind,
    value: &str,
    warnings: &mut Vec<Warning>,
    name: &str,
) -> Result<(), ParameterProblem> {
    let numeric = matches!(kind, Kind::Number | Kind::List { numbers: true });
    if numeric {
        let n: f64 = value
            .trim()
            .parse()
            .map_err(|_| ParameterProblem::NotANumber(value.into()))?;
        if let Some(min) = bound(decl, "MinValue")?
            && n < min
        {
            return Err(ParameterProblem::BelowMin {
                value: value.into(),
                min: number_text(min),
            });
        }
        if let Some(max) = bound(decl, "MaxValue")?
            && n > max
        {
            return Err(ParameterProblem::AboveMax {
                value: value.into(),
                max: number_text(max),
            });
        }
    } else {
        let len = value.chars().count() as f64;
        if let Some(min) = bound(decl, "MinLength")?
            && len < min
        {
            return Err(ParameterProblem::TooShort {
                value: value.into(),
                min: min as u64,
            });
        }
        if let Some(max) = bound(decl, "MaxLength")?
            && len > max
        {
            return Err(ParameterProblem::TooLong {
                value: value.into(),
                max: max as u64,
            });
        }
    }
    if let Some(allowed) = decl.get("AllowedValues").and_then(Value::as_sequence) {
        let allowed: Vec<String> = allowed.iter().filter_map(yaml_text).collect();
        let ok = allowed.iter().any(|a| {
            a == value
                // `AllowedValues: [1, 2]` on a Number also accepts "1.0".
                || (numeric && a.parse::<f64>().ok() == value.trim().parse::<f64>().ok())
        });
        if !ok {
            return Err(ParameterProblem::NotAllowed {
                value: value.into(),
                allowed,
            });
        }
    }
    if let Some(pattern) = decl.get("AllowedPattern").and_then(yaml_text) {
        match pattern::full_match(&pattern, value) {
            Ok(true) => {}
            Ok(false) => {
                return Err(ParameterProblem::PatternMismatch {
                    value: value.into(),
                    pattern,
                });
            }
            Err(pattern::Unsupported(why)) => warnings.push(Warning {
                resource: name.into(),
                message: format!("AllowedPattern {pattern:?} is not checked: {why}"),
            }),
        }
    }
    Ok(())
}

fn bound(decl: &Value, constraint: &'static str) -> Result<Option<f64>, ParameterProblem> {
    match decl.get(constraint) {
        None => Ok(None),
        Some(v) => yaml_text(v)
            .and_then(|t| t.trim().parse().ok())
            .map(Some)
            .ok_or(ParameterProblem::BadConstraint { constraint }),
    }
}

fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}
