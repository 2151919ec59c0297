//! [`resolve`]: a parsed template and the local options in, the typed [`Stack`] out.

use crate::Template;
use crate::build::Builder;
use crate::error::{Problem, TemplateError};
use crate::globals::Globals;
use crate::intrinsics::{Cx, Owner, RawResource, Resolver};
use crate::model::{ResolveOptions, Stack, Warning};
use crate::{json_text, params, yaml_text};
use serde_json::Value as J;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The SAM transform; any other is reported as not applied.
const SAM_TRANSFORM: &str = "AWS::Serverless-2016-10-31";

/// Resolves the template for a local run: parameters (defaults and overrides, checked),
/// conditions, SAM globals, every intrinsic, local names, ids and endpoints. Everything
/// devstack does not emulate is listed in [`Stack::warnings`] or [`Stack::ignored`].
pub fn resolve(template: &Template, options: &ResolveOptions) -> Result<Stack, TemplateError> {
    let root = template.root();
    let params = params::evaluate(root, &options.parameter_overrides)?;
    let globals = Globals::read(root)?;
    let mut resolver = Resolver::new(options, root, params.values);
    resolver.evaluate_conditions()?;
    let (resources, omitted) = collect(root, &globals, &resolver)?;
    resolver.set_resources(resources, omitted)?;

    let mut warnings = params.warnings;
    warnings.extend(globals.warnings);
    warnings.extend(transform_warnings(root));
    let stack = Stack {
        stack_name: options.stack_name.clone(),
        region: options.region.clone(),
        account_id: options.account_id.clone(),
        parameters: params.display,
        warnings,
        ..Stack::default()
    };
    let mut builder = Builder::new(&resolver, stack);
    for res in resolver.resources() {
        builder.resource(res)?;
    }
    builder.finish()?;
    let mut stack = builder.stack;
    stack.outputs = outputs(root, &resolver)?;
    for site in &mut stack.sites {
        if let Some(name) = &site.config_output {
            let value = stack.outputs.get(name).ok_or_else(|| TemplateError::Resource {
                resource: site.logical_id.clone(),
                property: "Metadata.Site.Config".into(),
                problem: Problem::Invalid(format!(
                    "names the output {name}, which the template does not have (or its condition is false)"
                )),
            })?;
            site.config = Some(value.clone());
        }
    }
    Ok(stack)
}

fn transform_warnings(root: &Value) -> Vec<Warning> {
    let transforms: Vec<String> = match root.get("Transform") {
        Some(Value::Sequence(items)) => items.iter().filter_map(yaml_text).collect(),
        Some(v) => yaml_text(v).into_iter().collect(),
        None => Vec::new(),
    };
    transforms
        .into_iter()
        .filter(|t| t != SAM_TRANSFORM)
        .map(|t| Warning {
            resource: "Transform".into(),
            message: format!("transform {t} is not applied by devstack"),
        })
        .collect()
}

/// The resources whose condition holds (SAM globals merged), in template order, plus SAM's
/// implicit `ServerlessHttpApi` when a function event needs it; and the omitted ones with
/// their condition.
fn collect(
    root: &Value,
    globals: &Globals,
    resolver: &Resolver,
) -> Result<(Vec<RawResource>, BTreeMap<String, String>), TemplateError> {
    let declared = root
        .get("Resources")
        .and_then(Value::as_mapping)
        .ok_or(TemplateError::NoResources)?;
    let all: BTreeSet<String> = declared.keys().filter_map(yaml_text).collect();
    let mut resources = Vec::new();
    let mut omitted = BTreeMap::new();
    for (key, decl) in declared {
        let id = yaml_text(key).unwrap_or_default();
        let fail = |property: &str, problem: &str| TemplateError::Resource {
            resource: id.clone(),
            property: property.into(),
            problem: Problem::Invalid(problem.into()),
        };
        if !decl.is_mapping() {
            return Err(fail("Type", "the resource is not a mapping"));
        }
        let ty = decl
            .get("Type")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("Type", "is missing"))?;
        let depends_on: Vec<String> = match decl.get("DependsOn") {
            Some(Value::Sequence(items)) => items.iter().filter_map(yaml_text).collect(),
            Some(v) => yaml_text(v).into_iter().collect(),
            None => Vec::new(),
        };
        if let Some(missing) = depends_on.iter().find(|d| !all.contains(*d)) {
            return Err(fail(
                "DependsOn",
                &format!("names {missing}, which is not a resource of the template"),
            ));
        }
        if let Some(condition) = decl.get("Condition") {
            let name = condition
                .as_str()
                .ok_or_else(|| fail("Condition", "must be a condition name"))?;
            let cx = Cx::resource(&id, "Condition");
            if !resolver.condition(name, "the resource's Condition", cx)? {
                omitted.insert(id, name.to_owned());
                continue;
            }
        }
        let properties = match decl.get("Properties") {
            None | Some(Value::Null) => Value::Mapping(Mapping::new()),
            Some(p @ Value::Mapping(_)) => p.clone(),
            Some(_) => return Err(fail("Properties", "must be a mapping")),
        };
        resources.push(RawResource {
            properties: globals.apply(ty, &properties),
            ty: ty.to_owned(),
            metadata: decl.get("Metadata").cloned().unwrap_or(Value::Null),
            id,
        });
    }
    const IMPLICIT_API: &str = "ServerlessHttpApi";
    if !all.contains(IMPLICIT_API) && resources.iter().any(uses_implicit_http_api) {
        let ty = "AWS::Serverless::HttpApi";
        resources.push(RawResource {
            id: IMPLICIT_API.into(),
            ty: ty.into(),
            properties: globals.apply(ty, &Value::Mapping(Mapping::new())),
            metadata: Value::Null,
        });
    }
    Ok((resources, omitted))
}

/// A SAM function with an `HttpApi` event that names no `ApiId`: SAM then creates the
/// `ServerlessHttpApi`.
fn uses_implicit_http_api(res: &RawResource) -> bool {
    res.ty == "AWS::Serverless::Function"
        && res
            .properties
            .get("Events")
            .and_then(Value::as_mapping)
            .is_some_and(|events| {
                events.values().any(|e| {
                    e.get("Type").and_then(Value::as_str) == Some("HttpApi")
                        && e.get("Properties").and_then(|p| p.get("ApiId")).is_none()
                })
            })
}

fn outputs(root: &Value, resolver: &Resolver) -> Result<BTreeMap<String, String>, TemplateError> {
    let mut out = BTreeMap::new();
    for (key, decl) in root
        .get("Outputs")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = yaml_text(key).unwrap_or_default();
        let cx = |path| Cx {
            owner: Owner::Output(&name),
            path,
        };
        if let Some(condition) = decl.get("Condition") {
            let condition = condition.as_str().ok_or_else(|| {
                cx("Condition").fail(Problem::Invalid("must be a condition name".into()))
            })?;
            if !resolver.condition(condition, "the output's Condition", cx("Condition"))? {
                continue;
            }
        }
        let value = decl
            .get("Value")
            .ok_or_else(|| cx("Value").fail(Problem::Invalid("is missing".into())))?;
        let text = match resolver.eval_rewritten(value, cx("Value"))? {
            Some(J::Array(items)) => items
                .iter()
                .map(|i| json_text(i).unwrap_or_else(|| i.to_string()))
                .collect::<Vec<_>>()
                .join(","),
            Some(v) => json_text(&v).unwrap_or_else(|| v.to_string()),
            None => {
                return Err(cx("Value").fail(Problem::Invalid("resolves to AWS::NoValue".into())));
            }
        };
        out.insert(name, text);
    }
    Ok(out)
}
