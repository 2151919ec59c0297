//! What only the SAM source says: which functions asked for an alias, a deployment preference
//! and a hook. The transform turns these into other resources (or, when they are missing,
//! into nothing), so the checks read the intent here and look for its result in the output.

use crate::Error;
use serde_yaml::Value;
use std::collections::BTreeMap;

/// One `AWS::Serverless::Function` of the source, with `Globals.Function` applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceFunction {
    /// `AutoPublishAlias` (a `!Ref` to a parameter is read as the parameter's default).
    pub alias: Option<String>,
    /// `DeploymentPreference` is present and not `Enabled: false`.
    pub deployment_preference: bool,
    /// `DeploymentPreference.Hooks.PreTraffic`: the hook function's logical id.
    pub pre_traffic: Option<String>,
    /// `FunctionName`, when it is a plain string or a `!Sub` string.
    pub function_name: Option<String>,
}

/// The source template's serverless functions, by logical id.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub functions: BTreeMap<String, SourceFunction>,
}

impl Source {
    pub fn parse(yaml: &str) -> Result<Self, Error> {
        let doc: Value = serde_yaml::from_str(yaml).map_err(|e| Error::Source(e.to_string()))?;
        let params = doc.get("Parameters");
        let globals = doc.get("Globals").and_then(|g| g.get("Function"));
        let mut functions = BTreeMap::new();
        let Some(resources) = doc.get("Resources").and_then(Value::as_mapping) else {
            return Err(Error::Source("the template has no Resources".into()));
        };
        for (id, resource) in resources {
            let (Some(id), Some("AWS::Serverless::Function")) =
                (id.as_str(), resource.get("Type").and_then(Value::as_str))
            else {
                continue;
            };
            let props = resource.get("Properties");
            // A property of the function, else of Globals.Function (SAM's own precedence for
            // these scalar and map properties: the function's replaces the global one).
            let prop = |name: &str| {
                props
                    .and_then(|p| p.get(name))
                    .or_else(|| globals.and_then(|g| g.get(name)))
            };
            let preference = prop("DeploymentPreference");
            let enabled = preference
                .and_then(|p| p.get("Enabled"))
                .and_then(Value::as_bool)
                .unwrap_or(true);
            functions.insert(
                id.to_owned(),
                SourceFunction {
                    alias: prop("AutoPublishAlias").and_then(|v| text(v, params)),
                    deployment_preference: preference.is_some() && enabled,
                    pre_traffic: preference
                        .and_then(|p| p.get("Hooks"))
                        .and_then(|h| h.get("PreTraffic"))
                        .and_then(|v| text(v, params)),
                    function_name: props
                        .and_then(|p| p.get("FunctionName"))
                        .and_then(|v| text(v, None)),
                },
            );
        }
        Ok(Self { functions })
    }
}

/// A scalar, or the target of `!Ref X` (a parameter's default when `params` knows X), or the
/// string of `!Sub "..."`; the long forms (`{Ref: X}`, `{Fn::Sub: ...}`) alike.
fn text(v: &Value, params: Option<&Value>) -> Option<String> {
    let (tag, inner) = match v {
        Value::String(s) => return Some(s.clone()),
        Value::Tagged(t) => (t.tag.to_string(), t.value.as_str()?),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next()?;
            (k.as_str()?.to_owned(), inner.as_str()?)
        }
        _ => return None,
    };
    match tag.trim_start_matches('!').trim_start_matches("Fn::") {
        "Ref" => Some(
            params
                .and_then(|p| p.get(inner))
                .and_then(|p| p.get("Default"))
                .and_then(Value::as_str)
                .unwrap_or(inner)
                .to_owned(),
        ),
        "Sub" => Some(inner.to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_alias_preference_and_hook() {
        let s = Source::parse(
            r#"
Parameters:
  AliasName: {Type: String, Default: live}
Globals:
  Function:
    AutoPublishAlias: !Ref AliasName
Resources:
  A:
    Type: AWS::Serverless::Function
    Properties:
      DeploymentPreference:
        Type: Canary10Percent5Minutes
        Hooks:
          PreTraffic: !Ref Hook
  Hook:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "CodeDeployHook_${AWS::StackName}"
      AutoPublishAlias: ""
      DeploymentPreference:
        Enabled: false
        Type: AllAtOnce
"#,
        )
        .unwrap();
        let a = &s.functions["A"];
        assert_eq!(a.alias.as_deref(), Some("live"));
        assert!(a.deployment_preference);
        assert_eq!(a.pre_traffic.as_deref(), Some("Hook"));
        let h = &s.functions["Hook"];
        assert!(!h.deployment_preference);
        assert_eq!(
            h.function_name.as_deref(),
            Some("CodeDeployHook_${AWS::StackName}")
        );
    }
}
