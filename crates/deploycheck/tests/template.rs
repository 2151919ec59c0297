//! template.yaml through aws-sam-translator, checked; then mutated copies, each of which must
//! produce its own finding and nothing else, which proves the check fails for the right
//! reason. A transform takes about a second (Python start + translation): one per test, and
//! the test harness runs them on parallel threads.
//!
//! Needs `.venv` with aws-sam-translator (`just tools`); the failure says so when it is missing.

use deploycheck::{AlarmKind, Error, Finding, Source, check, repo_root, transform};
use std::path::Path;

fn template_text() -> String {
    std::fs::read_to_string(repo_root().join("template.yaml")).expect("template.yaml is readable")
}

/// Transforms `text` (written to a temporary template.yaml) and checks it.
fn run(text: &str) -> Result<Vec<Finding>, Error> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("template.yaml");
    std::fs::write(&path, text).expect("the copy is written");
    let cfn = transform(&repo_root(), &path, &[])?;
    check(&Source::parse(text)?, &cfn)
}

fn findings(text: &str) -> Vec<Finding> {
    run(text).unwrap_or_else(|e| panic!("{e}"))
}

/// `text` with `old` replaced by `new` inside the block of resource `id` (from its key to the
/// next key at the same indentation), where `old` must occur exactly once: a mutation that no
/// longer applies fails loudly instead of testing nothing.
fn edit_resource(text: &str, id: &str, old: &str, new: &str) -> String {
    let key = format!("\n  {id}:\n");
    let start = text
        .find(&key)
        .unwrap_or_else(|| panic!("no resource {id}"))
        + 1;
    let body = start + key.len() - 1;
    let end = text[body..]
        .match_indices("\n  ")
        .map(|(i, _)| body + i + 1)
        .find(|&i| {
            text[i + 2..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
        })
        .unwrap_or(text.len());
    let block = &text[start..end];
    assert_eq!(
        block.matches(old).count(),
        1,
        "{old:?} must occur once in {id}'s block"
    );
    format!(
        "{}{}{}",
        &text[..start],
        block.replacen(old, new, 1),
        &text[end..]
    )
}

fn show(found: &[Finding]) -> String {
    found.iter().map(|f| format!("\n  - {f}")).collect()
}

#[test]
fn the_template_has_no_findings() {
    let found = findings(&template_text());
    assert!(found.is_empty(), "findings:{}", show(&found));
}

#[test]
fn a_removed_alias_is_found() {
    let text = template_text();
    // The alias line alone: SAM itself refuses a DeploymentPreference without it.
    let line_only = edit_resource(
        &text,
        "GetLinkFunction",
        "      AutoPublishAlias: live\n",
        "",
    );
    match run(&line_only) {
        Err(Error::Transform { stderr, .. }) => assert!(
            stderr.contains("'DeploymentPreference' requires AutoPublishAlias"),
            "{stderr}"
        ),
        other => panic!("expected the transform to refuse it, got {other:?}"),
    }
    // The alias with its deployment preference: SAM accepts it, leaves the API's `!Ref
    // GetLinkFunction.Alias` pointing at nothing, and the function is no canary.
    let whole = edit_resource(
        &text,
        "GetLinkFunction",
        "      AutoPublishAlias: live
      DeploymentPreference:
        Type: !Ref DeploymentType
        Alarms:
          - !Ref GetLinkErrorsAlarm
          - !Ref GetLinkThrottlesAlarm
          - !Ref GetLinkLatencyAlarm
",
        "",
    );
    let dangling = |resource: &str| Finding::DanglingReference {
        resource: resource.into(),
        target: "GetLinkFunction.Alias".into(),
    };
    let mut expected = vec![
        Finding::NotCanaried {
            function: "GetLinkFunction".into(),
        },
        dangling("GetLinkIntegration"),
        dangling("GetLinkInvokePermission"),
    ];
    expected.sort();
    assert_eq!(findings(&whole), expected);
}

#[test]
fn a_removed_alarm_is_found() {
    let text = edit_resource(
        &template_text(),
        "CreateLinkFunction",
        "          - !Ref CreateLinkThrottlesAlarm\n",
        "",
    );
    assert_eq!(
        findings(&text),
        [Finding::MissingAlarm {
            function: "CreateLinkFunction".into(),
            kind: AlarmKind::Throttles,
        }]
    );
}

#[test]
fn a_removed_permission_is_found() {
    let text = edit_resource(
        &template_text(),
        "ClickAggregatorFunction",
        "                - dynamodb:BatchGetItem\n",
        "",
    );
    let found = findings(&text);
    assert!(
        matches!(
            found.as_slice(),
            [Finding::MissingPermission { owner, action, resource, .. }]
                if owner == "ClickAggregatorFunction"
                    && action == "dynamodb:BatchGetItem"
                    && resource == "${LinksTable.Arn}"
        ),
        "findings:{}",
        show(&found)
    );
}

#[test]
fn a_wildcard_action_is_found() {
    let text = edit_resource(
        &template_text(),
        "ResolveLinkFunction",
        "Action: dynamodb:GetItem\n",
        "Action: \"dynamodb:*\"\n",
    );
    // Only the wildcard: it still covers GetItem, so nothing is missing.
    assert_eq!(
        findings(&text),
        [Finding::WildcardAction {
            owner: "ResolveLinkFunction".into(),
            action: "dynamodb:*".into(),
        }]
    );
}

#[test]
fn a_wildcard_resource_is_found() {
    let text = edit_resource(
        &template_text(),
        "ResolveLinkFunction",
        "Action: events:PutEvents\n              Resource: !GetAtt EventBus.Arn\n",
        "Action: events:PutEvents\n              Resource: \"*\"\n",
    );
    assert_eq!(
        findings(&text),
        [Finding::WildcardResource {
            owner: "ResolveLinkFunction".into(),
            action: "events:PutEvents".into(),
        }]
    );
}

#[test]
fn an_unwired_or_uninvocable_hook_is_found() {
    let text = template_text();
    // The redirect function no longer names its hook ...
    let text = edit_resource(
        &text,
        "ResolveLinkFunction",
        "        Hooks:\n          PreTraffic: !Ref PreTrafficHookFunction\n",
        "",
    );
    // ... and the hook loses the CodeDeployHook_ name that SAM's CodeDeploy role may invoke.
    let name = text
        .lines()
        .skip_while(|l| *l != "  PreTrafficHookFunction:")
        .find(|l| l.starts_with("      FunctionName: "))
        .expect("the hook has a FunctionName")
        .to_owned();
    let text = edit_resource(&text, "PreTrafficHookFunction", &format!("{name}\n"), "");
    let mut expected = vec![
        Finding::MissingHook {
            function: "ResolveLinkFunction".into(),
            hook: "PreTrafficHookFunction".into(),
        },
        Finding::HookNotInvocable {
            hook: "PreTrafficHookFunction".into(),
            name: None,
        },
    ];
    expected.sort();
    assert_eq!(findings(&text), expected);
}

#[test]
fn a_broken_click_pipeline_is_found() {
    let text = template_text();
    // A failed click would return its whole batch, counted clicks included ...
    let text = edit_resource(
        &text,
        "ClickAggregatorFunction",
        "            FunctionResponseTypes: [ReportBatchItemFailures]\n",
        "",
    );
    // ... and the marker would expire before the DLQ lets go of a click.
    let text = edit_resource(
        &text,
        "ClickAggregatorFunction",
        "CLICK_DLQ_RETENTION_SECONDS: !Ref ClickDlqRetentionSeconds\n",
        "CLICK_DLQ_RETENTION_SECONDS: !Ref ClickQueueRetentionSeconds\n",
    );
    let mut expected = vec![
        Finding::NoPartialBatchResponse {
            mapping: "ClickAggregatorFunctionClicks".into(),
        },
        Finding::MarkerTtlMismatch {
            variable: "CLICK_DLQ_RETENTION_SECONDS".into(),
            expected: "ClickDlq's MessageRetentionPeriod (${ClickDlqRetentionSeconds})".into(),
            found: Some("${ClickQueueRetentionSeconds}".into()),
        },
    ];
    expected.sort();
    assert_eq!(findings(&text), expected);
}

#[test]
fn an_exposed_dashboard_bucket_is_found() {
    let text = template_text();
    // Public access allowed, any distribution may read, plain HTTP, and an output that is gone.
    let text = edit_resource(
        &text,
        "SiteBucket",
        "        BlockPublicPolicy: true\n",
        "        BlockPublicPolicy: false\n",
    );
    let text = edit_resource(
        &text,
        "SiteBucketPolicy",
        "            Condition:\n              StringEquals:\n                AWS:SourceArn: !Sub \"arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${SiteDistribution}\"\n",
        "",
    );
    let text = edit_resource(
        &text,
        "SiteDistribution",
        "ViewerProtocolPolicy: redirect-to-https",
        "ViewerProtocolPolicy: allow-all",
    );
    let text = text.replace(
        "        Distribution: SiteDistributionId\n",
        "        Distribution: SiteDistributionIds\n",
    );
    let site = |problem: &str| Finding::Site {
        bucket: "SiteBucket".into(),
        problem: problem.into(),
    };
    let mut expected = vec![
        site("does not block public access (BlockPublicPolicy not true)"),
        site(
            "SiteBucketPolicy: OnlyThisDistributionReads lets any CloudFront distribution read it (no AWS:SourceArn of this stack's)",
        ),
        site("no bucket policy lets its distribution read it"),
        site("SiteDistribution serves it over plain HTTP (ViewerProtocolPolicy allow-all)"),
        site(
            "Metadata.Site.Distribution names the output \"SiteDistributionIds\", which the template does not have",
        ),
    ];
    expected.sort();
    assert_eq!(findings(&text), expected, "{}", show(&findings(&text)));
}

#[test]
fn a_missing_venv_names_the_recipe() {
    let nowhere = tempfile::tempdir().expect("a temporary directory");
    let err = transform(nowhere.path(), Path::new("template.yaml"), &[]).unwrap_err();
    assert!(matches!(err, Error::NoVenv { .. }), "{err:?}");
    assert!(err.to_string().contains("just tools"), "{err}");
}
