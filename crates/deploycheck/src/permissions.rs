//! Least privilege, asserted both ways: each function's (and the state machine's) role must
//! allow exactly what its code calls, on exactly the resources it calls it on.
//!
//! [`PERMISSIONS`] is written from the handlers' SDK calls (`crates/functions/src/handlers`,
//! `store.rs`, `publish.rs`, `push.rs`) and the state machine's definition
//! (`statemachine/moderation.asl.json`); each grant says where the call is made. A missing grant
//! is a call that fails at runtime with AccessDenied; an extra action, a wildcard action or a
//! `Resource: "*"` where IAM can name the resource is more than the code needs.
//!
//! Resources are canonical texts (see [`crate::cfn`]): `${LinksTable.Arn}` whether the template
//! wrote `!GetAtt LinksTable.Arn` or `!Sub "${LinksTable.Arn}"`.
//!
//! DynamoDB's `TransactWriteItems` and `BatchWriteItem`/`BatchGetItem` deserve a note: IAM
//! authorises a transaction per item action (`PutItem`, `UpdateItem`, `DeleteItem`,
//! `ConditionCheckItem`; there is no `TransactWriteItems` action), while the batch APIs are
//! actions of their own.

use crate::cfn::{Cfn, glob, one_or_many};
use crate::finding::Finding;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One role's expected permissions.
pub struct Entry {
    /// Logical id of the function or state machine that assumes the role.
    pub owner: &'static str,
    /// AWS-managed policies SAM attaches, by name (their statements are AWS's; each is accepted
    /// here on purpose, see the constants).
    pub managed: &'static [&'static str],
    pub grants: &'static [Grant],
}

/// One action, and every resource it is needed on.
pub struct Grant {
    pub action: &'static str,
    /// Each resource must be granted, and no other. `"A | B"`: either spelling satisfies it.
    /// `"*"` only where IAM has no resource-level permission for the action.
    pub on: &'static [&'static str],
    /// Where the code makes the call.
    pub used_by: &'static str,
}

const TABLE: &str = "${LinksTable.Arn}";
const GSI1: &str = "${LinksTable.Arn}/index/GSI1";
const BUS: &str = "${EventBus.Arn}";
/// `POST /@connections/{id}` on the WebSocket API's stage: `PostToConnection`.
const WS_CONNECTIONS: &str = "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${StageName}/POST/@connections/*";

/// CloudWatch Logs: `logs:CreateLogGroup`, `CreateLogStream`, `PutLogEvents` on `*`. Every SAM
/// function gets it; the functions log (and emit their EMF metrics) to stdout.
const LOGS: &str = "AWSLambdaBasicExecutionRole";
/// X-Ray: `xray:PutTraceSegments`, `PutTelemetryRecords`, `GetSampling*` on `*` (X-Ray has no
/// resource-level permissions). SAM attaches it for `Tracing: Active` (Globals), in the `aws`
/// partition under this name.
const XRAY: &str = "AWSXrayWriteOnlyAccess";
/// The SQS poller of an `SQS` event: `sqs:ReceiveMessage`, `DeleteMessage`,
/// `GetQueueAttributes` (and logs) on `*`. SAM attaches this managed policy for an SQS event
/// and offers no narrower one; Lambda's event source mapping uses the function's role to poll.
const SQS_POLLER: &str = "AWSLambdaSQSQueueExecutionRole";

const PUT_EVENTS: &str = "events:PutEvents";

/// Function (and state machine) logical id -> what its role must allow. One entry per role.
pub const PERMISSIONS: &[Entry] = &[
    Entry {
        owner: "CreateLinkFunction",
        managed: &[LOGS, XRAY],
        grants: &[
            Grant {
                action: "dynamodb:GetItem",
                on: &[TABLE],
                used_by: "create_link: Store::get_idempotency (replay of an Idempotency-Key)",
            },
            Grant {
                action: "dynamodb:PutItem",
                on: &[TABLE],
                used_by: "create_link: Store::create_link (PutItem, or TransactWriteItems' Puts of link and idempotency record)",
            },
            Grant {
                action: "dynamodb:DeleteItem",
                on: &[TABLE],
                used_by: "create_link: Store::remove_created (TransactWriteItems' Deletes when link.created is not published)",
            },
            Grant {
                action: PUT_EVENTS,
                on: &[BUS],
                used_by: "create_link: Publisher::publish (link.created)",
            },
        ],
    },
    Entry {
        owner: "ResolveLinkFunction",
        managed: &[LOGS, XRAY],
        grants: &[
            Grant {
                action: "dynamodb:GetItem",
                on: &[TABLE],
                used_by: "resolve_link: Store::get_link (eventually consistent)",
            },
            Grant {
                action: PUT_EVENTS,
                on: &[BUS],
                used_by: "resolve_link: Publisher::publish (link.clicked)",
            },
        ],
    },
    Entry {
        owner: "ListLinksFunction",
        managed: &[LOGS, XRAY],
        grants: &[Grant {
            action: "dynamodb:Query",
            on: &[GSI1],
            used_by: "list_links: Store::links_by_owner (GSI1, USER#<sub>)",
        }],
    },
    Entry {
        owner: "GetLinkFunction",
        managed: &[LOGS, XRAY],
        grants: &[
            Grant {
                action: "dynamodb:GetItem",
                on: &[TABLE],
                used_by: "get_link: Store::get_link (consistent)",
            },
            Grant {
                action: "dynamodb:Query",
                on: &[TABLE],
                used_by: "get_link: Store::daily_stats (LINK#<code>, STAT# range)",
            },
        ],
    },
    Entry {
        owner: "UpdateLinkFunction",
        managed: &[LOGS, XRAY],
        grants: &[
            Grant {
                action: "dynamodb:GetItem",
                on: &[TABLE],
                used_by: "update_link: Store::get_link (consistent)",
            },
            Grant {
                action: "dynamodb:UpdateItem",
                on: &[TABLE],
                used_by: "update_link: Store::update_link (the update, and the restore when link.updated is not published)",
            },
            Grant {
                action: PUT_EVENTS,
                on: &[BUS],
                used_by: "update_link: Publisher::publish (link.updated)",
            },
        ],
    },
    Entry {
        owner: "DeleteLinkFunction",
        managed: &[LOGS, XRAY],
        grants: &[
            Grant {
                action: "dynamodb:DeleteItem",
                on: &[TABLE],
                used_by: "delete_link: Store::delete_link (conditional delete of the META item)",
            },
            Grant {
                action: "dynamodb:Query",
                on: &[TABLE, GSI1],
                used_by: "delete_link: Store::delete_link (the link's STAT# items) and Store::watchers (GSI1, WSCODE#<code>)",
            },
            Grant {
                action: "dynamodb:BatchWriteItem",
                on: &[TABLE],
                used_by: "delete_link: Store::delete_keys (stats and connections, 25 at a time)",
            },
            Grant {
                action: PUT_EVENTS,
                on: &[BUS],
                used_by: "delete_link: Publisher::publish (link.deleted)",
            },
        ],
    },
    Entry {
        owner: "ClickAggregatorFunction",
        managed: &[LOGS, XRAY, SQS_POLLER],
        grants: &[
            Grant {
                action: "dynamodb:UpdateItem",
                on: &[TABLE],
                used_by: "click_aggregator: Store::count_click (TransactWriteItems' Updates of the link total and the day)",
            },
            Grant {
                action: "dynamodb:PutItem",
                on: &[TABLE],
                used_by: "click_aggregator: Store::count_click (TransactWriteItems' Put of the CLICK# marker)",
            },
            Grant {
                action: "dynamodb:BatchGetItem",
                on: &[TABLE],
                used_by: "click_aggregator: Store::counts (the counts a push carries)",
            },
            Grant {
                action: "dynamodb:Query",
                on: &[GSI1],
                used_by: "click_aggregator: Store::watchers (GSI1, WSCODE#<code>)",
            },
            Grant {
                action: "dynamodb:DeleteItem",
                on: &[TABLE],
                used_by: "click_aggregator: Store::delete_connection (a watcher that answered 410 Gone)",
            },
            Grant {
                action: "execute-api:ManageConnections",
                on: &[WS_CONNECTIONS],
                used_by: "click_aggregator: Pusher::push (PostToConnection)",
            },
        ],
    },
    Entry {
        owner: "WsConnectFunction",
        managed: &[LOGS, XRAY],
        grants: &[
            Grant {
                action: "dynamodb:GetItem",
                on: &[TABLE],
                used_by: "ws_connect: Store::get_link (ownership check; the JWKS is fetched over HTTPS, no IAM)",
            },
            Grant {
                action: "dynamodb:PutItem",
                on: &[TABLE],
                used_by: "ws_connect: Store::put_connection",
            },
        ],
    },
    Entry {
        owner: "WsDisconnectFunction",
        managed: &[LOGS, XRAY],
        grants: &[Grant {
            action: "dynamodb:DeleteItem",
            on: &[TABLE],
            used_by: "ws_disconnect: Store::delete_connection",
        }],
    },
    // moderate_check calls no AWS API: the blocklist is its environment, Safe Browsing is HTTPS.
    Entry {
        owner: "ModerateCheckFunction",
        managed: &[LOGS, XRAY],
        grants: &[],
    },
    Entry {
        owner: "ModerationStateMachine",
        managed: &[XRAY],
        grants: &[
            Grant {
                action: "lambda:InvokeFunction",
                // SAM's LambdaInvokePolicy template appends `*` (versions and aliases too).
                on: &["${ModerateCheckFunction.Arn}*"],
                used_by: "moderation.asl.json: CheckSafety (Task on CheckFunctionArn)",
            },
            Grant {
                action: "dynamodb:UpdateItem",
                on: &[TABLE],
                used_by: "moderation.asl.json: Activate and Reject (dynamodb:updateItem)",
            },
            // Tracing.Enabled; no resource-level permissions in X-Ray. The template grants these
            // inline although SAM attaches AWSXrayWriteOnlyAccess too.
            Grant {
                action: "xray:PutTraceSegments",
                on: &["*"],
                used_by: "Tracing (state machine segments)",
            },
            Grant {
                action: "xray:PutTelemetryRecords",
                on: &["*"],
                used_by: "Tracing",
            },
            Grant {
                action: "xray:GetSamplingRules",
                on: &["*"],
                used_by: "Tracing",
            },
            Grant {
                action: "xray:GetSamplingTargets",
                on: &["*"],
                used_by: "Tracing",
            },
        ],
    },
    // The canary's PreTraffic hook (issue #8). Its role must not change with each deployment:
    // IAM applies a change seconds later, possibly after the hook has run, so it may invoke any
    // version of the redirect function rather than only the one being deployed.
    Entry {
        owner: "PreTrafficHookFunction",
        managed: &[LOGS, XRAY],
        grants: &[
            Grant {
                action: "dynamodb:GetItem",
                on: &[TABLE],
                used_by: "pre_traffic: PreTraffic::ensure_canary -> Store::get_link (the canary link)",
            },
            Grant {
                action: "dynamodb:PutItem",
                on: &[TABLE],
                used_by: "pre_traffic: PreTraffic::ensure_canary -> Store::put_link (rewrites a missing or changed canary link)",
            },
            Grant {
                action: "lambda:InvokeFunction",
                // The version under test (TARGET_VERSION_ARN); never the alias, which still
                // serves the old version, and never another function.
                on: &["${ResolveLinkFunction.Arn}:* | ${ResolveLinkFunction.Version}"],
                used_by: "pre_traffic: PreTraffic::smoke_test (Invoke GET /_canary on the new version)",
            },
            Grant {
                action: "codedeploy:PutLifecycleEventHookExecutionStatus",
                on: &[
                    "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:${ServerlessDeploymentApplication}/${ResolveLinkFunctionDeploymentGroup} | arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:${ServerlessDeploymentApplication}/*",
                ],
                used_by: "pre_traffic: PreTraffic::run (reports Succeeded or Failed)",
            },
        ],
    },
];

impl Grant {
    fn allows(&self, resource: &str) -> bool {
        self.on
            .iter()
            .flat_map(|slot| slot.split(" | "))
            .any(|alt| alt == "*" || alt == resource)
    }
}

/// What a role allows, as (action, canonical resource) pairs.
struct Allowed {
    pairs: Vec<(String, String)>,
    managed: BTreeSet<String>,
}

pub fn check(cfn: &Cfn) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut owners: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for (ty, prop) in [
        ("AWS::Lambda::Function", "Role"),
        ("AWS::StepFunctions::StateMachine", "RoleArn"),
    ] {
        for id in cfn.of_type(ty) {
            let role = cfn
                .props(id)
                .get(prop)
                .and_then(|r| cfn.canon(r))
                .and_then(|r| {
                    r.strip_prefix("${")
                        .and_then(|r| r.strip_suffix(".Arn}"))
                        .map(str::to_owned)
                })
                .filter(|r| cfn.type_of(r) == Some("AWS::IAM::Role"));
            owners.insert(id, role);
        }
    }

    for (owner, role) in &owners {
        let Some(entry) = PERMISSIONS.iter().find(|e| e.owner == *owner) else {
            found.push(Finding::NotInPermissionsTable {
                owner: (*owner).into(),
            });
            continue;
        };
        let Some(role) = role else {
            found.push(Finding::RoleOutsideStack {
                owner: (*owner).into(),
            });
            continue;
        };
        let allowed = allowed(cfn, owner, role, &mut found);
        review(entry, &allowed, &mut found);
    }
    for e in PERMISSIONS {
        if !owners.contains_key(e.owner) {
            found.push(Finding::StalePermissionsEntry {
                owner: e.owner.into(),
            });
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Everything attached to `role`: its inline policies, policy resources naming it, and its
/// managed policy ARNs (by name).
fn allowed(cfn: &Cfn, owner: &str, role: &str, found: &mut Vec<Finding>) -> Allowed {
    let mut documents: Vec<&Value> = Vec::new();
    let rp = cfn.props(role);
    for p in one_or_many(rp.get("Policies").unwrap_or(&Value::Null)) {
        documents.extend(p.get("PolicyDocument"));
    }
    let role_ref = format!("${{{role}}}");
    let names_role = |v: Option<&Value>| {
        v.map(one_or_many)
            .unwrap_or_default()
            .iter()
            .any(|r| cfn.canon(r).as_deref() == Some(role_ref.as_str()))
    };
    for ty in [
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::IAM::RolePolicy",
    ] {
        for id in cfn.of_type(ty) {
            let p = cfn.props(id);
            if names_role(p.get("Roles")) || names_role(p.get("RoleName")) {
                documents.extend(p.get("PolicyDocument"));
            }
        }
    }
    let mut managed = BTreeSet::new();
    for arn in one_or_many(rp.get("ManagedPolicyArns").unwrap_or(&Value::Null)) {
        match cfn.canon(arn) {
            // arn:${AWS::Partition}:iam::aws:policy/service-role/NAME -> NAME
            Some(a) if a.contains(":iam::aws:policy/") => {
                managed.insert(a.rsplit('/').next().unwrap_or(&a).to_owned());
            }
            // A customer policy or an ARN built at deploy time: its statements are not here.
            other => {
                managed.insert(other.unwrap_or_else(|| arn.to_string()));
            }
        }
    }

    let mut pairs = Vec::new();
    let unreviewable = |detail: String| Finding::UnreviewableStatement {
        owner: owner.into(),
        detail,
    };
    for doc in documents {
        for st in one_or_many(doc.get("Statement").unwrap_or(&Value::Null)) {
            // A Deny only takes away; it cannot make a role exceed the table.
            if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            if st.get("NotAction").is_some() || st.get("NotResource").is_some() {
                found.push(unreviewable(format!(
                    "NotAction/NotResource allow everything but a list: {st}"
                )));
                continue;
            }
            let actions = one_or_many(st.get("Action").unwrap_or(&Value::Null));
            let resources = one_or_many(st.get("Resource").unwrap_or(&Value::Null));
            for a in &actions {
                let Some(a) = a.as_str() else {
                    found.push(unreviewable(format!("action {a}")));
                    continue;
                };
                for r in &resources {
                    match cfn.canon(r) {
                        Some(r) => pairs.push((a.to_owned(), r)),
                        None => found.push(unreviewable(format!("{a} on {r}"))),
                    }
                }
            }
        }
    }
    Allowed { pairs, managed }
}

fn review(entry: &Entry, allowed: &Allowed, found: &mut Vec<Finding>) {
    let owner = || entry.owner.to_owned();
    let grant_for = |action: &str| {
        entry
            .grants
            .iter()
            .find(|g| g.action.eq_ignore_ascii_case(action))
    };

    // Nothing beyond the table.
    for (action, resource) in &allowed.pairs {
        let wildcard = action.contains(['*', '?']);
        if wildcard {
            found.push(Finding::WildcardAction {
                owner: owner(),
                action: action.clone(),
            });
        }
        let grant = grant_for(action);
        if resource == "*" && (wildcard || grant.is_some_and(|g| !g.allows("*"))) {
            found.push(Finding::WildcardResource {
                owner: owner(),
                action: action.clone(),
            });
        }
        if wildcard {
            continue;
        }
        match grant {
            None => found.push(Finding::ExtraAction {
                owner: owner(),
                action: action.clone(),
                resource: resource.clone(),
            }),
            Some(g) if resource != "*" && !g.allows(resource) => {
                found.push(Finding::UnexpectedResource {
                    owner: owner(),
                    action: action.clone(),
                    resource: resource.clone(),
                })
            }
            Some(_) => {}
        }
    }

    // Everything in the table. A wildcard that covers a need is reported above, not here: the
    // call would succeed.
    for g in entry.grants {
        for slot in g.on {
            let covered = allowed.pairs.iter().any(|(a, r)| {
                glob(a, g.action) && (r == "*" || slot.split(" | ").any(|alt| glob(r, alt)))
            });
            if !covered {
                found.push(Finding::MissingPermission {
                    owner: owner(),
                    action: g.action.into(),
                    resource: (*slot).into(),
                    used_by: g.used_by.into(),
                });
            }
        }
    }

    for m in entry.managed {
        if !allowed.managed.contains(*m) {
            found.push(Finding::MissingManagedPolicy {
                owner: owner(),
                policy: (*m).into(),
            });
        }
    }
    for m in &allowed.managed {
        if !entry.managed.contains(&m.as_str()) {
            found.push(Finding::UnexpectedManagedPolicy {
                owner: owner(),
                policy: m.clone(),
            });
        }
    }
}
