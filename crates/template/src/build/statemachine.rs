//! Step Functions state machines (SAM and raw): the definition, inline or from a file, with
//! `DefinitionSubstitutions` applied.

use super::Builder;
use crate::error::TemplateError;
use crate::intrinsics::{Obj, RawResource};
use crate::json_text;
use crate::model::StateMachine;
use crate::props::Props;
use serde_json::Value as J;
use std::collections::{BTreeMap, BTreeSet};

impl Builder<'_, '_> {
    pub(super) fn state_machine(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let id = res.id.as_str();
        let sam = res.ty == "AWS::Serverless::StateMachine";
        let kind = p.text_or(if sam { "Type" } else { "StateMachineType" }, "STANDARD")?;

        let mut definition = self.definition(&p)?;
        let mut substitutions = BTreeMap::new();
        if let Some(subs) = p.child("DefinitionSubstitutions")? {
            for (name, value) in subs.obj {
                let text = json_text(value).ok_or_else(|| {
                    subs.fail(
                        name,
                        format!("must be a string, number or boolean, got {value}"),
                    )
                })?;
                substitutions.insert(name.clone(), text);
            }
        }
        let mut missing = BTreeSet::new();
        substitute(&mut definition, &substitutions, &mut missing);
        for name in missing {
            self.warn(
                id,
                format!(
                    "the definition uses ${{{name}}}, which DefinitionSubstitutions lacks: it is \
                     left as is"
                ),
            );
        }
        // A file's literal AWS endpoints are rewritten like every resolved value.
        self.r.rewriter().rewrite(&mut definition);

        let arn = ident.attr("Arn").unwrap_or_default().to_owned();
        if sam && let Some(events) = p.child("Events")? {
            for (name, event) in events.children()? {
                let ty = event.required_text("Type")?;
                let ep = event.child_or_empty("Properties")?;
                if matches!(ty.as_str(), "EventBridgeRule" | "CloudWatchEvent") {
                    self.sam_event_rule(id, name, &ep, &arn, "StepFunctionsTarget")?;
                } else {
                    self.warn(
                        id,
                        format!(
                            "event {name} of type {ty} is not emulated: nothing starts the state \
                             machine from it"
                        ),
                    );
                }
            }
        }
        self.stack.state_machines.push(StateMachine {
            logical_id: id.into(),
            name: ident.attr("Name").unwrap_or_default().into(),
            arn,
            kind,
            definition,
        });
        Ok(())
    }

    /// `Definition` (inline), `DefinitionUri` (a local file, JSON or YAML) or
    /// `DefinitionString` (JSON text).
    fn definition(&self, p: &Props) -> Result<J, TemplateError> {
        if let Some(definition) = p.get("Definition") {
            return match definition {
                J::Object(_) => Ok(definition.clone()),
                other => Err(p.fail("Definition", format!("must be a mapping, got {other}"))),
            };
        }
        if p.has("DefinitionUri") {
            let Some(uri) = p.get("DefinitionUri").and_then(J::as_str) else {
                return Err(p.fail(
                    "DefinitionUri",
                    "a definition in S3 cannot be read locally; give a path relative to the template",
                ));
            };
            let path = self.r.opts.base_dir.join(uri);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                p.fail(
                    "DefinitionUri",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let parsed: Result<Obj, String> = if uri.ends_with(".json") {
                serde_json::from_str(&text).map_err(|e| e.to_string())
            } else {
                serde_yaml::from_str(&text).map_err(|e| e.to_string())
            };
            return parsed.map(J::Object).map_err(|e| {
                p.fail(
                    "DefinitionUri",
                    format!("{} is not a valid definition: {e}", path.display()),
                )
            });
        }
        if let Some(text) = p.text("DefinitionString")? {
            return serde_json::from_str::<Obj>(&text)
                .map(J::Object)
                .map_err(|e| p.fail("DefinitionString", format!("is not a JSON object: {e}")));
        }
        if p.has("DefinitionS3Location") {
            return Err(p.fail(
                "DefinitionS3Location",
                "a definition in S3 cannot be read locally; use Definition or DefinitionUri",
            ));
        }
        Err(p.fail(
            "Definition",
            "is missing (give Definition, DefinitionUri or DefinitionString)",
        ))
    }
}

/// Replaces `${Name}` in every string (and key) of `value` with the substitution `Name`, as
/// Step Functions does; records the names that have none.
fn substitute(value: &mut J, subs: &BTreeMap<String, String>, missing: &mut BTreeSet<String>) {
    match value {
        J::String(s) => {
            if let Some(replaced) = substitute_str(s, subs, missing) {
                *s = replaced;
            }
        }
        J::Array(items) => items.iter_mut().for_each(|v| substitute(v, subs, missing)),
        J::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                substitute(&mut v, subs, missing);
                let key = substitute_str(&key, subs, missing).unwrap_or(key);
                map.insert(key, v);
            }
        }
        _ => {}
    }
}

fn substitute_str(
    s: &str,
    subs: &BTreeMap<String, String>,
    missing: &mut BTreeSet<String>,
) -> Option<String> {
    if !s.contains("${") {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        match subs.get(name) {
            Some(value) => out.push_str(value),
            None => {
                missing.insert(name.to_owned());
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_strings_and_keys() {
        let subs = BTreeMap::from([("A".to_owned(), "x".to_owned())]);
        let mut v = serde_json::json!({"${A}": ["${A}-${B}", 1], "k": "$.path"});
        let mut missing = BTreeSet::new();
        substitute(&mut v, &subs, &mut missing);
        assert_eq!(v, serde_json::json!({"x": ["x-${B}", 1], "k": "$.path"}));
        assert_eq!(missing, BTreeSet::from(["B".to_owned()]));
    }
}
