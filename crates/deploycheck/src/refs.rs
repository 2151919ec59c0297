//! Every name a resource or output refers to must exist: SAM leaves a `!Ref F.Alias` of a
//! function that lost its `AutoPublishAlias` as a `Ref` to nothing, and only CloudFormation
//! itself would refuse it, at deploy time.

use crate::cfn::{Cfn, getatt_parts, one_or_many};
use crate::finding::Finding;
use serde_json::Value;

pub fn check(cfn: &Cfn) -> Vec<Finding> {
    let mut found = Vec::new();
    for (id, resource) in cfn.resources() {
        let mut missing = Vec::new();
        if let Some(obj) = resource.as_object() {
            for (key, value) in obj {
                match key.as_str() {
                    // Metadata is not evaluated by CloudFormation.
                    "Metadata" | "Type" => {}
                    "DependsOn" => missing.extend(
                        one_or_many(value)
                            .into_iter()
                            .filter_map(Value::as_str)
                            .filter(|d| !cfn.has_resource(d))
                            .map(str::to_owned),
                    ),
                    "Condition" => {
                        if let Some(c) = value.as_str().filter(|c| !cfn.has_condition(c)) {
                            missing.push(c.to_owned());
                        }
                    }
                    _ => walk(cfn, value, &mut missing),
                }
            }
        }
        found.extend(
            missing
                .into_iter()
                .map(|target| Finding::DanglingReference {
                    resource: id.to_owned(),
                    target,
                }),
        );
    }
    if let Some(outputs) = cfn.root().get("Outputs").and_then(Value::as_object) {
        for (id, output) in outputs {
            let mut missing = Vec::new();
            walk(cfn, output, &mut missing);
            found.extend(
                missing
                    .into_iter()
                    .map(|target| Finding::DanglingReference {
                        resource: format!("Outputs.{id}"),
                        target,
                    }),
            );
        }
    }
    found.sort();
    found.dedup();
    found
}

fn known(cfn: &Cfn, name: &str) -> bool {
    name.starts_with("AWS::") || cfn.has_resource(name) || cfn.has_parameter(name)
}

fn walk(cfn: &Cfn, v: &Value, missing: &mut Vec<String>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| walk(cfn, x, missing)),
        Value::Object(o) => {
            if o.len() == 1 {
                let (k, arg) = o.iter().next().expect("one entry");
                match k.as_str() {
                    "Ref" => {
                        if let Some(t) = arg.as_str().filter(|t| !known(cfn, t)) {
                            missing.push(t.to_owned());
                        }
                        return;
                    }
                    "Fn::GetAtt" => {
                        if let Some((res, _)) = getatt_parts(arg).filter(|(r, _)| !known(cfn, r)) {
                            missing.push(res.to_owned());
                        }
                        return;
                    }
                    "Fn::Sub" => {
                        let (template, vars) = match arg {
                            Value::Array(a) if a.len() == 2 => (a[0].as_str(), a[1].as_object()),
                            other => (other.as_str(), None),
                        };
                        for name in sub_names(template.unwrap_or_default()) {
                            let head = name.split('.').next().unwrap_or(name);
                            let local = vars.is_some_and(|m| m.contains_key(name));
                            if !local && !known(cfn, head) {
                                missing.push(head.to_owned());
                            }
                        }
                        if let Some(vars) = vars {
                            vars.values().for_each(|x| walk(cfn, x, missing));
                        }
                        return;
                    }
                    "Fn::If" => {
                        if let Some(c) = arg
                            .get(0)
                            .and_then(Value::as_str)
                            .filter(|c| !cfn.has_condition(c))
                        {
                            missing.push(c.to_owned());
                        }
                        if let Some(a) = arg.as_array() {
                            a.iter().skip(1).for_each(|x| walk(cfn, x, missing));
                        }
                        return;
                    }
                    _ => {}
                }
            }
            o.values().for_each(|x| walk(cfn, x, missing));
        }
        _ => {}
    }
}

/// The `${name}` placeholders of a `Fn::Sub` string (not the `${!literal}` escapes).
fn sub_names(s: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') {
            names.push(name.trim());
        }
        rest = &after[end + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_what_names_nothing() {
        let t = json!({
            "Parameters": {"P": {"Type": "String"}},
            "Conditions": {"C": {"Fn::Equals": ["a", "b"]}},
            "Resources": {
                "A": {"Type": "X", "DependsOn": ["B", "Gone1"], "Properties": {
                    "a": {"Ref": "F.Alias"},
                    "b": {"Fn::Sub": "${P}-${B.Arn}-${!Literal}-${AWS::Region}-${Gone2.Arn}"},
                    "c": {"Fn::Sub": ["${x}", {"x": {"Ref": "Gone3"}}]},
                    "d": {"Fn::If": ["C", {"Ref": "B"}, {"Fn::If": ["NoSuch", "x", "y"]}]}
                }},
                "B": {"Type": "X"}
            }
        });
        let c = Cfn::new(&t).unwrap();
        let targets: Vec<String> = check(&c)
            .into_iter()
            .map(|f| match f {
                Finding::DanglingReference { target, .. } => target,
                other => panic!("{other}"),
            })
            .collect();
        assert_eq!(targets, ["F.Alias", "Gone1", "Gone2", "Gone3", "NoSuch"]);
    }
}
