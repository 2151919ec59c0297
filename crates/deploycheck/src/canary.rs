//! Canary deployments: `AutoPublishAlias` + `DeploymentPreference` in the source must come out
//! as an alias whose updates go through a CodeDeploy deployment group that shifts traffic as a
//! canary, stops and rolls back on the function's alarms, and runs its PreTraffic hook first.

use crate::cfn::{Cfn, one_or_many};
use crate::finding::{AlarmKind, Finding};
use crate::source::Source;
use serde_json::Value;
use std::collections::BTreeSet;

/// A function the issue (#8) expects to deploy as a canary.
pub struct Canary {
    pub function: &'static str,
    /// The PreTraffic hook this function must run once the hook function is in the template
    /// (it is being added concurrently; until then its absence is not a finding).
    pub pre_traffic: Option<&'static str>,
}

/// The HTTP API's functions: every route's traffic shifts through a canary.
pub const CANARIES: &[Canary] = &[
    Canary {
        function: "CreateLinkFunction",
        pre_traffic: None,
    },
    Canary {
        function: "ResolveLinkFunction",
        // Resolves a known link through the new version before any traffic shifts to it.
        pre_traffic: Some("PreTrafficHookFunction"),
    },
    Canary {
        function: "ListLinksFunction",
        pre_traffic: None,
    },
    Canary {
        function: "GetLinkFunction",
        pre_traffic: None,
    },
    Canary {
        function: "UpdateLinkFunction",
        pre_traffic: None,
    },
    Canary {
        function: "DeleteLinkFunction",
        pre_traffic: None,
    },
];

/// 10 percent for 5 minutes, then the rest (with the template's default `DeploymentType`).
pub const EXPECTED_DEPLOYMENT_CONFIG: &str = "CodeDeployDefault.LambdaCanary10Percent5Minutes";

/// The role SAM makes for CodeDeploy; its managed policy `AWSCodeDeployRoleForLambda` allows
/// `lambda:InvokeFunction` only on `function:CodeDeployHook_*`.
const SAM_CODEDEPLOY_ROLE: &str = "${CodeDeployServiceRole.Arn}";
const HOOK_PREFIX: &str = "CodeDeployHook_";

pub fn check(source: &Source, cfn: &Cfn) -> Vec<Finding> {
    let mut found = Vec::new();
    for c in CANARIES {
        let canaried = source
            .functions
            .get(c.function)
            .is_some_and(|f| f.alias.is_some() && f.deployment_preference);
        if !canaried {
            found.push(Finding::NotCanaried {
                function: c.function.into(),
            });
        }
    }

    let mut canaried = Vec::new();
    for (function, src) in &source.functions {
        let Some(alias_name) = &src.alias else {
            continue;
        };
        let fref = format!("${{{function}}}");
        let alias = cfn.of_type("AWS::Lambda::Alias").find(|a| {
            let p = cfn.props(a);
            p.get("FunctionName").and_then(|f| cfn.canon(f)).as_deref() == Some(fref.as_str())
                && p.get("Name").and_then(Value::as_str) == Some(alias_name.as_str())
        });
        let Some(alias) = alias else {
            found.push(Finding::MissingAlias {
                function: function.clone(),
                alias: alias_name.clone(),
            });
            continue;
        };
        if !src.deployment_preference {
            continue;
        }
        canaried.push(function.as_str());
        let fname = || function.clone();
        if cfn.of_type("AWS::CodeDeploy::Application").next().is_none() {
            found.push(Finding::MissingCodeDeployApplication { function: fname() });
        }
        let update = cfn
            .resources()
            .find(|(id, _)| *id == alias)
            .and_then(|(_, r)| r.get("UpdatePolicy"))
            .and_then(|u| u.get("CodeDeployLambdaAliasUpdate"));
        let group = update
            .and_then(|u| u.get("DeploymentGroupName"))
            .and_then(|g| cfn.canon(g))
            .and_then(|g| strip_ref(&g).map(str::to_owned))
            .filter(|g| cfn.type_of(g) == Some("AWS::CodeDeploy::DeploymentGroup"));
        let Some(group) = group else {
            found.push(Finding::MissingDeploymentGroup { function: fname() });
            continue;
        };
        let gp = cfn.props(&group);

        // Alarms: the group must stop on errors, throttles and p99 latency of this alias.
        let alarms_on = gp
            .get("AlarmConfiguration")
            .filter(|a| a.get("Enabled").and_then(Value::as_bool) != Some(false));
        let mut kinds = BTreeSet::new();
        for entry in one_or_many(
            alarms_on
                .and_then(|a| a.get("Alarms"))
                .unwrap_or(&Value::Null),
        ) {
            let Some(name) = entry.get("Name").and_then(|n| cfn.canon(n)) else {
                continue;
            };
            let id = strip_ref(&name).unwrap_or(&name);
            if cfn.type_of(id) != Some("AWS::CloudWatch::Alarm") {
                found.push(Finding::UnknownAlarm {
                    function: fname(),
                    alarm: name.clone(),
                });
                continue;
            }
            let Some((kind, on_alias)) = classify_alarm(cfn, id, function, alias_name) else {
                continue;
            };
            kinds.insert(kind);
            if !on_alias {
                found.push(Finding::AlarmNotOnAlias {
                    function: fname(),
                    alarm: id.to_owned(),
                });
            }
        }
        for kind in [
            AlarmKind::Errors,
            AlarmKind::Throttles,
            AlarmKind::LatencyP99,
        ] {
            if !kinds.contains(&kind) {
                found.push(Finding::MissingAlarm {
                    function: fname(),
                    kind,
                });
            }
        }

        let rollback = gp.get("AutoRollbackConfiguration");
        let rolls_back = rollback
            .and_then(|r| r.get("Enabled"))
            .and_then(Value::as_bool)
            == Some(true)
            && rollback
                .and_then(|r| r.get("Events"))
                .map(one_or_many)
                .is_some_and(|e| {
                    e.iter()
                        .any(|e| e.as_str() == Some("DEPLOYMENT_STOP_ON_ALARM"))
                });
        if !rolls_back {
            found.push(Finding::NoRollbackOnAlarm { function: fname() });
        }

        let expected = CANARIES.iter().find(|c| c.function == function);
        if expected.is_some() {
            let config = gp
                .get("DeploymentConfigName")
                .and_then(|c| cfn.canon(c))
                .unwrap_or_else(|| "(not one name)".into());
            if config != EXPECTED_DEPLOYMENT_CONFIG {
                found.push(Finding::NotCanaryConfig {
                    function: fname(),
                    config,
                });
            }
        }

        // The hook: the one the source declares, or the one the issue expects once its
        // function exists.
        let hook = src.pre_traffic.clone().or_else(|| {
            expected
                .and_then(|c| c.pre_traffic)
                .filter(|h| source.functions.contains_key(*h))
                .map(str::to_owned)
        });
        if let Some(hook) = hook {
            let wired = update
                .and_then(|u| u.get("BeforeAllowTrafficHook"))
                .and_then(|h| cfn.canon(h))
                == Some(format!("${{{hook}}}"))
                && cfn.type_of(&hook) == Some("AWS::Lambda::Function");
            if !wired {
                found.push(Finding::MissingHook {
                    function: fname(),
                    hook: hook.clone(),
                });
            }
            let sam_role = gp
                .get("ServiceRoleArn")
                .and_then(|r| cfn.canon(r))
                .as_deref()
                == Some(SAM_CODEDEPLOY_ROLE);
            let name = cfn
                .props(&hook)
                .get("FunctionName")
                .and_then(|n| cfn.canon(n));
            if sam_role && !name.as_deref().is_some_and(|n| n.starts_with(HOOK_PREFIX)) {
                found.push(Finding::HookNotInvocable { hook, name });
            }
        }
    }

    // API traffic reaches a canaried function only through its alias.
    for (kind, prop) in [
        ("AWS::ApiGatewayV2::Integration", "IntegrationUri"),
        ("AWS::Lambda::Permission", "FunctionName"),
    ] {
        for id in cfn.of_type(kind) {
            let Some(target) = cfn.props(id).get(prop).and_then(|t| cfn.canon(t)) else {
                continue;
            };
            for f in &canaried {
                if target.contains(&format!("${{{f}}}"))
                    || target.contains(&format!("${{{f}.Arn}}"))
                {
                    found.push(Finding::BypassesAlias {
                        resource: id.to_owned(),
                        function: (*f).to_owned(),
                    });
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// `${X}` -> `X`.
fn strip_ref(canon: &str) -> Option<&str> {
    canon
        .strip_prefix("${")
        .and_then(|s| s.strip_suffix('}'))
        .filter(|s| !s.contains(['.', '$', '{']))
}

/// Which of the three kinds an alarm is for `function`, and whether it watches the alias.
fn classify_alarm(
    cfn: &Cfn,
    alarm: &str,
    function: &str,
    alias: &str,
) -> Option<(AlarmKind, bool)> {
    let p = cfn.props(alarm);
    if p.get("Namespace").and_then(Value::as_str) != Some("AWS/Lambda") {
        return None;
    }
    let dims = one_or_many(p.get("Dimensions").unwrap_or(&Value::Null));
    let dim = |name: &str| {
        dims.iter()
            .find(|d| d.get("Name").and_then(Value::as_str) == Some(name))
            .and_then(|d| d.get("Value"))
            .and_then(|v| cfn.canon(v))
    };
    if dim("FunctionName") != Some(format!("${{{function}}}")) {
        return None;
    }
    let kind = match p.get("MetricName").and_then(Value::as_str)? {
        "Errors" => AlarmKind::Errors,
        "Throttles" => AlarmKind::Throttles,
        "Duration" if p.get("ExtendedStatistic").and_then(Value::as_str) == Some("p99") => {
            AlarmKind::LatencyP99
        }
        _ => return None,
    };
    Some((
        kind,
        dim("Resource") == Some(format!("${{{function}}}:{alias}")),
    ))
}
