//! What a check reports: one variant per thing a reviewer would refuse, with the logical ids
//! and canonical resource texts (see [`crate::cfn`]) that locate it.

use std::fmt;

/// The three alarms every canary's deployment group must watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlarmKind {
    /// `AWS/Lambda` `Errors` of the alias: the new version fails.
    Errors,
    /// `AWS/Lambda` `Throttles` of the alias: the new version cannot take its share.
    Throttles,
    /// `AWS/Lambda` `Duration` p99 of the alias: the new version is slow.
    LatencyP99,
}

impl fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Errors => "errors",
            Self::Throttles => "throttles",
            Self::LatencyP99 => "p99 latency",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    // --- canary deployments -------------------------------------------------------------
    /// A function the issue expects to canary has no `AutoPublishAlias` + `DeploymentPreference`.
    NotCanaried { function: String },
    /// The source asks for `AutoPublishAlias` but the output has no `AWS::Lambda::Alias` of it.
    MissingAlias { function: String, alias: String },
    /// A deployment preference without the `AWS::CodeDeploy::Application` it deploys through.
    MissingCodeDeployApplication { function: String },
    /// The alias is not updated through a CodeDeploy deployment group (no traffic shifting).
    MissingDeploymentGroup { function: String },
    /// The deployment group does not stop on an alarm of this kind for the function's alias.
    MissingAlarm { function: String, kind: AlarmKind },
    /// The deployment group names an alarm that is not an `AWS::CloudWatch::Alarm` here.
    UnknownAlarm { function: String, alarm: String },
    /// An alarm of the group watches the whole function, not the alias CodeDeploy shifts.
    AlarmNotOnAlias { function: String, alarm: String },
    /// The group does not roll back when an alarm fires.
    NoRollbackOnAlarm { function: String },
    /// The traffic shifting is not the canary the issue asks for (with default parameters).
    NotCanaryConfig { function: String, config: String },
    /// A declared (or expected) PreTraffic hook is not the alias update's `BeforeAllowTrafficHook`.
    MissingHook { function: String, hook: String },
    /// SAM's CodeDeploy role (`AWSCodeDeployRoleForLambda`) may invoke only functions named
    /// `CodeDeployHook_*`: any other hook fails the deployment with AccessDenied.
    HookNotInvocable { hook: String, name: Option<String> },
    /// An API integration or invoke permission targets a canaried function without its alias,
    /// so its traffic never goes through the canary.
    BypassesAlias { resource: String, function: String },

    // --- least privilege ----------------------------------------------------------------
    /// A function or state machine whose role has no entry in [`crate::permissions::PERMISSIONS`].
    NotInPermissionsTable { owner: String },
    /// A table entry for a resource the template does not have (removed, or renamed).
    StalePermissionsEntry { owner: String },
    /// The role of `owner` is not a role of this stack, so it cannot be reviewed here.
    RoleOutsideStack { owner: String },
    /// The code needs this and the role does not allow it: the call fails at runtime.
    MissingPermission {
        owner: String,
        action: String,
        resource: String,
        used_by: String,
    },
    /// The role allows an action its code never calls.
    ExtraAction {
        owner: String,
        action: String,
        resource: String,
    },
    /// An action with a wildcard (`dynamodb:*`).
    WildcardAction { owner: String, action: String },
    /// `Resource: "*"` for an action whose resource can be named.
    WildcardResource { owner: String, action: String },
    /// A needed action, allowed on a resource the code does not use it on.
    UnexpectedResource {
        owner: String,
        action: String,
        resource: String,
    },
    /// A statement this check cannot read exactly (NotAction, NotResource, `Fn::If`, ...).
    UnreviewableStatement { owner: String, detail: String },
    /// A managed policy the table expects (logs, X-Ray, the SQS poller) is not attached.
    MissingManagedPolicy { owner: String, policy: String },
    /// A managed policy the table does not expect is attached.
    UnexpectedManagedPolicy { owner: String, policy: String },

    // --- the click pipeline -------------------------------------------------------------
    /// The aggregator is not fed by an event source mapping from the click queue.
    MissingEventSourceMapping { function: String, queue: String },
    /// An SQS event source mapping without `ReportBatchItemFailures`: one failed click would
    /// return the whole batch, and the counted ones would be delivered again.
    NoPartialBatchResponse { mapping: String },
    /// The queue's `RedrivePolicy` does not move failed messages to the DLQ.
    RedriveNotToDlq {
        queue: String,
        dlq: String,
        found: Option<String>,
    },
    /// A marker-TTL variable is not wired from what sizes the queue it stands for, so a
    /// redriven click could outlive its marker and be counted twice.
    MarkerTtlMismatch {
        variable: String,
        expected: String,
        found: Option<String>,
    },
    /// The queue's visibility timeout is shorter than the function's timeout: Lambda refuses
    /// to create the mapping (with the parameters' defaults).
    VisibilityBelowTimeout {
        queue: String,
        visibility: String,
        timeout: String,
    },

    // --- the dashboard's hosting -----------------------------------------------------------
    /// A bucket with `Metadata.Site` that is not private, not served by CloudFront over
    /// HTTPS only, readable by others, or whose metadata names outputs the publish cannot use.
    Site { bucket: String, problem: String },

    // --- the template as a whole ------------------------------------------------------
    /// A `Ref`, `GetAtt`, `Sub` variable, condition or `DependsOn` naming nothing in the
    /// template: CloudFormation rejects the stack.
    DanglingReference { resource: String, target: String },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Finding::*;
        match self {
            Site { bucket, problem } => write!(f, "the site bucket {bucket}: {problem}"),
            NotCanaried { function } => write!(
                f,
                "{function} must deploy as a canary (AutoPublishAlias + DeploymentPreference) and does not"
            ),
            MissingAlias { function, alias } => {
                write!(
                    f,
                    "{function}: no AWS::Lambda::Alias {alias:?} in the output"
                )
            }
            MissingCodeDeployApplication { function } => write!(
                f,
                "{function}: DeploymentPreference without an AWS::CodeDeploy::Application"
            ),
            MissingDeploymentGroup { function } => write!(
                f,
                "{function}: its alias is not updated through a CodeDeploy deployment group"
            ),
            MissingAlarm { function, kind } => write!(
                f,
                "{function}: the deployment group has no {kind} alarm on the alias"
            ),
            UnknownAlarm { function, alarm } => write!(
                f,
                "{function}: the deployment group names {alarm}, which is not an alarm of this stack"
            ),
            AlarmNotOnAlias { function, alarm } => write!(
                f,
                "{function}: alarm {alarm} does not watch the alias (Resource dimension)"
            ),
            NoRollbackOnAlarm { function } => write!(
                f,
                "{function}: the deployment group does not roll back on DEPLOYMENT_STOP_ON_ALARM"
            ),
            NotCanaryConfig { function, config } => write!(
                f,
                "{function}: deployment config {config}, not {}",
                crate::canary::EXPECTED_DEPLOYMENT_CONFIG
            ),
            MissingHook { function, hook } => write!(
                f,
                "{function}: the PreTraffic hook {hook} is not the alias update's BeforeAllowTrafficHook"
            ),
            HookNotInvocable { hook, name } => write!(
                f,
                "hook {hook} is named {}; SAM's CodeDeploy role invokes only CodeDeployHook_* functions",
                name.as_deref()
                    .unwrap_or("by CloudFormation (no FunctionName)")
            ),
            BypassesAlias { resource, function } => write!(
                f,
                "{resource} targets {function} without its alias: its traffic skips the canary"
            ),
            NotInPermissionsTable { owner } => write!(
                f,
                "{owner} has a role but no entry in deploycheck's permissions table"
            ),
            StalePermissionsEntry { owner } => write!(
                f,
                "the permissions table has an entry for {owner}, which the template does not have"
            ),
            RoleOutsideStack { owner } => {
                write!(f, "{owner}: its role is not a role of this stack")
            }
            MissingPermission {
                owner,
                action,
                resource,
                used_by,
            } => write!(
                f,
                "{owner}: the role does not allow {action} on {resource} (used by {used_by})"
            ),
            ExtraAction {
                owner,
                action,
                resource,
            } => write!(
                f,
                "{owner}: the role allows {action} on {resource}, which its code never calls"
            ),
            WildcardAction { owner, action } => {
                write!(f, "{owner}: the role allows the wildcard action {action}")
            }
            WildcardResource { owner, action } => {
                write!(f, "{owner}: the role allows {action} on Resource \"*\"")
            }
            UnexpectedResource {
                owner,
                action,
                resource,
            } => write!(
                f,
                "{owner}: the role allows {action} on {resource}, which its code does not use it on"
            ),
            UnreviewableStatement { owner, detail } => {
                write!(f, "{owner}: a statement cannot be reviewed: {detail}")
            }
            MissingManagedPolicy { owner, policy } => {
                write!(f, "{owner}: managed policy {policy} is not attached")
            }
            UnexpectedManagedPolicy { owner, policy } => {
                write!(
                    f,
                    "{owner}: managed policy {policy} is attached and not expected"
                )
            }
            MissingEventSourceMapping { function, queue } => {
                write!(f, "{function} has no event source mapping from {queue}")
            }
            NoPartialBatchResponse { mapping } => write!(
                f,
                "{mapping}: FunctionResponseTypes lacks ReportBatchItemFailures"
            ),
            RedriveNotToDlq { queue, dlq, found } => write!(
                f,
                "{queue}: RedrivePolicy.deadLetterTargetArn is {}, not ${{{dlq}.Arn}}",
                found.as_deref().unwrap_or("missing")
            ),
            MarkerTtlMismatch {
                variable,
                expected,
                found,
            } => write!(
                f,
                "marker TTL variable {variable} is {}, not {expected}",
                found.as_deref().unwrap_or("missing")
            ),
            VisibilityBelowTimeout {
                queue,
                visibility,
                timeout,
            } => write!(
                f,
                "{queue}: visibility timeout {visibility} s is below the consumer's timeout {timeout} s"
            ),
            DanglingReference { resource, target } => {
                write!(
                    f,
                    "{resource} refers to {target}, which the template does not define"
                )
            }
        }
    }
}
