//! SAM's `Globals` section, merged into resources the way the SAM translator merges it.

use crate::error::TemplateError;
use crate::model::Warning;
use serde_yaml::{Mapping, Value};

/// Globals sections devstack merges, and the resource type each applies to.
const SECTIONS: &[(&str, &str)] = &[
    ("Function", "AWS::Serverless::Function"),
    ("HttpApi", "AWS::Serverless::HttpApi"),
    ("StateMachine", "AWS::Serverless::StateMachine"),
    ("SimpleTable", "AWS::Serverless::SimpleTable"),
];

/// Sections SAM knows that only configure resources devstack does not emulate (and warns
/// about on their own).
const NOT_EMULATED: &[&str] = &["Api", "LayerVersion", "CapacityProvider"];

#[derive(Debug, Default)]
pub(crate) struct Globals {
    sections: Vec<(&'static str, Value)>,
    pub warnings: Vec<Warning>,
}

impl Globals {
    pub fn read(root: &Value) -> Result<Self, TemplateError> {
        let mut out = Self::default();
        let section_map = match root.get("Globals") {
            None | Some(Value::Null) => return Ok(out),
            Some(Value::Mapping(m)) => m,
            Some(_) => {
                return Err(TemplateError::Globals {
                    section: "Globals".into(),
                    problem: "is not a mapping".into(),
                });
            }
        };
        for (key, value) in section_map {
            let name = key.as_str().unwrap_or_default();
            if let Some((_, ty)) = SECTIONS.iter().find(|(s, _)| *s == name) {
                if !value.is_mapping() {
                    return Err(TemplateError::Globals {
                        section: format!("Globals.{name}"),
                        problem: "is not a mapping".into(),
                    });
                }
                out.sections.push((ty, value.clone()));
            } else if !NOT_EMULATED.contains(&name) {
                out.warnings.push(Warning {
                    resource: "Globals".into(),
                    message: format!("Globals.{name} is not a SAM globals section; ignored"),
                });
            }
        }
        Ok(out)
    }

    /// The properties of a resource of type `ty`, with the matching globals merged in.
    pub fn apply(&self, ty: &str, properties: &Value) -> Value {
        match self.sections.iter().find(|(t, _)| *t == ty) {
            Some((_, global)) => merge(global, properties),
            None => properties.clone(),
        }
    }
}

/// SAM's merge rules: the resource's scalar wins, maps merge recursively (the resource wins
/// on conflicting keys), lists concatenate with the globals first. An intrinsic function
/// counts as a scalar, so a resource's `!If` replaces a global map rather than merging into
/// it. A missing resource value takes the global one.
pub(crate) fn merge(global: &Value, local: &Value) -> Value {
    if local.is_null() {
        return global.clone();
    }
    match (global, local) {
        (Value::Mapping(g), Value::Mapping(l)) if !is_intrinsic(global) && !is_intrinsic(local) => {
            let mut merged = Mapping::new();
            for (k, gv) in g {
                let v = match l.get(k) {
                    Some(lv) => merge(gv, lv),
                    None => gv.clone(),
                };
                merged.insert(k.clone(), v);
            }
            for (k, lv) in l {
                if !g.contains_key(k) {
                    merged.insert(k.clone(), lv.clone());
                }
            }
            Value::Mapping(merged)
        }
        (Value::Sequence(g), Value::Sequence(l)) => {
            Value::Sequence(g.iter().chain(l).cloned().collect())
        }
        _ => local.clone(),
    }
}

/// `!Tag ...`, or the long form `{Ref: ...}` / `{Fn::X: ...}`.
pub(crate) fn is_intrinsic(v: &Value) -> bool {
    match v {
        Value::Tagged(_) => true,
        Value::Mapping(m) if m.len() == 1 => m
            .keys()
            .next()
            .and_then(Value::as_str)
            .is_some_and(|k| k == "Ref" || k.starts_with("Fn::")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    #[test]
    fn sam_merge_rules() {
        let global = yaml(
            "Timeout: 10\nMemorySize: 256\nLayers: [a]\nEnvironment: {Variables: {A: g, B: g}}\nVpcConfig: {SubnetIds: [s]}",
        );
        let local = yaml(
            "Timeout: 30\nLayers: [b]\nEnvironment: {Variables: {B: l, C: l}}\nVpcConfig: !If [C, {SubnetIds: [t]}, !Ref AWS::NoValue]",
        );
        let merged = merge(&global, &local);
        assert_eq!(
            merged,
            yaml(
                "Timeout: 30\nMemorySize: 256\nLayers: [a, b]\nEnvironment: {Variables: {A: g, B: l, C: l}}\nVpcConfig: !If [C, {SubnetIds: [t]}, !Ref AWS::NoValue]"
            )
        );
    }
}
