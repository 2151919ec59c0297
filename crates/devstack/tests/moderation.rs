//! The product's moderation state machine, end to end under devstack from the repository's
//! own template.yaml: creating a link publishes `link.created`, whose rule starts the
//! machine; its `moderate_check` (the real function, with the URL safety API faked by
//! wiremock through the template's SafeBrowsingEndpoint / SafeBrowsingApiKey parameters)
//! decides, and the machine's DynamoDB task activates or rejects the link. An outage of the
//! safety API is retried on the virtual clock, then fails the execution as ModerationFailed.
//! The histories are read through aws-sdk-sfn and the `devstack executions` command.

mod common;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType};
use devstack::{ClockMode, Config, Devstack};
use serde_json::{Value, json};
use std::time::Duration;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Generous: the first moderation starts the function's process.
const SETTLE: Duration = Duration::from_secs(120);

const FLAGGED: &str = "https://login-verify.example/";
const OUTAGE: &str = "https://outage.example/";

async fn safety_api() -> MockServer {
    let server = MockServer::start().await;
    let find = || Mock::given(method("POST")).and(path("/v4/threatMatches:find"));
    let about =
        |url: &str| body_partial_json(json!({"threatInfo": {"threatEntries": [{"url": url}]}}));
    find()
        .and(about(FLAGGED))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"matches": [{
                "threatType": "SOCIAL_ENGINEERING", "platformType": "ANY_PLATFORM",
                "threat": {"url": FLAGGED}, "threatEntryType": "URL"
            }]})),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    find()
        .and(about(OUTAGE))
        .respond_with(ResponseTemplate::new(503).set_body_string("down for maintenance"))
        .with_priority(1)
        .mount(&server)
        .await;
    find()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

struct Product {
    ds: Devstack,
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Product {
    async fn create(&self, url: &str) -> String {
        let r = self
            .http
            .post(format!("{}/links", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "creating {url}");
        let link: Value = r.json().await.unwrap();
        assert_eq!(link["status"], "pending");
        link["code"].as_str().unwrap().to_owned()
    }

    async fn status(&self, code: &str) -> String {
        let link: Value = self
            .http
            .get(format!("{}/links/{code}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        link["status"].as_str().unwrap_or_default().to_owned()
    }

    async fn resolve(&self, code: &str) -> u16 {
        self.http
            .get(format!("{}/{code}", self.base))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Until no execution can go on without the clock.
    async fn settle(&self) {
        tokio::time::timeout(SETTLE, self.ds.states.idle())
            .await
            .expect("the executions settle");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_are_moderated_by_the_state_machine() {
    let safety = safety_api().await;
    let template = format!("{}/../../template.yaml", env!("CARGO_MANIFEST_DIR"));
    let mut config = Config::for_tests(template);
    config.clock = ClockMode::Virtual {
        start_ms: ClockMode::VIRTUAL_EPOCH_MS,
    };
    config
        .parameter_overrides
        .insert("SafeBrowsingEndpoint".into(), safety.uri());
    config
        .parameter_overrides
        .insert("SafeBrowsingApiKey".into(), "test-key".into());
    let ds = Devstack::start(config)
        .await
        .expect("devstack runs the product");
    assert!(
        ds.states.warnings().is_empty(),
        "{:?}",
        ds.states.warnings()
    );
    let p = Product {
        token: ds
            .cognito
            .token_for(None, None, "moderator@example.com")
            .unwrap()
            .id_token,
        base: ds.http_url.clone().unwrap(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        ds,
    };

    // A benign link becomes active.
    let benign = p.create("https://www.rust-lang.org/learn").await;
    p.settle().await;
    assert_eq!(p.status(&benign).await, "active");
    assert_eq!(p.resolve(&benign).await, 301);

    // One the URL safety API flags, and one with a blocklisted word, are rejected: gone.
    let flagged = p.create(FLAGGED).await;
    let evil = p.create("https://free-evil-downloads.example/").await;
    p.settle().await;
    for code in [&flagged, &evil] {
        assert_eq!(p.status(code).await, "rejected", "{code}");
        assert_eq!(p.resolve(code).await, 410, "{code}");
    }

    // The safety API down: the check fails, is retried after 1, 2 and 4 s of the virtual
    // clock (the machine's Retry), then the execution fails as ModerationFailed and the link
    // stays pending (pending links redirect).
    let down = p.create(OUTAGE).await;
    p.settle().await;
    for wait_ms in [1000, 2000, 4000] {
        p.ds.advance_clock(wait_ms - 1).unwrap();
        p.settle().await;
        p.ds.advance_clock(1).unwrap();
        p.settle().await;
    }
    assert_eq!(p.status(&down).await, "pending");
    assert_eq!(p.resolve(&down).await, 301);

    // The executions, through the AWS SDK.
    let conf = common::sdk_config(&p.ds.edge_url).await;
    let sfn = aws_sdk_sfn::Client::new(&conf);
    let machines = sfn.list_state_machines().send().await.unwrap();
    assert_eq!(machines.state_machines().len(), 1);
    let machine = machines.state_machines()[0].state_machine_arn().to_owned();
    assert!(machine.contains("ModerationStateMachine"), "{machine}");
    let all = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(all.executions().len(), 4);
    let failed = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .status_filter(ExecutionStatus::Failed)
        .send()
        .await
        .unwrap();
    assert_eq!(failed.executions().len(), 1);
    let failed = failed.executions()[0].clone();
    let described = sfn
        .describe_execution()
        .execution_arn(failed.execution_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(described.error(), Some("ModerationFailed"));
    assert_eq!(
        described.cause(),
        Some("The safety check failed after retries")
    );
    let input: Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(input["detail"]["target"], OUTAGE);
    assert_eq!(input["detail-type"], "link.created");

    let history = sfn
        .get_execution_history()
        .execution_arn(failed.execution_arn())
        .max_results(1000)
        .send()
        .await
        .unwrap();
    let events = history.events();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.id(), i as i64 + 1);
        assert_eq!(e.previous_event_id(), i as i64);
    }
    let count = |t: HistoryEventType| events.iter().filter(|e| *e.r#type() == t).count();
    assert_eq!(count(HistoryEventType::LambdaFunctionScheduled), 4);
    assert_eq!(count(HistoryEventType::LambdaFunctionFailed), 4);
    assert_eq!(count(HistoryEventType::FailStateEntered), 1);
    assert_eq!(
        *events.last().unwrap().r#type(),
        HistoryEventType::ExecutionFailed
    );
    let scheduled: Vec<i64> = events
        .iter()
        .filter(|e| *e.r#type() == HistoryEventType::LambdaFunctionScheduled)
        .map(|e| e.timestamp().to_millis().unwrap())
        .collect();
    let offsets: Vec<i64> = scheduled.iter().map(|t| t - scheduled[0]).collect();
    assert_eq!(
        offsets,
        [0, 1000, 3000, 7000],
        "the backoff, on the virtual clock"
    );
    let failure = events
        .iter()
        .find_map(|e| e.lambda_function_failed_event_details())
        .unwrap();
    assert!(
        failure.cause().unwrap_or_default().contains("503"),
        "{failure:?}"
    );

    // The rejected one went through the Choice and the DynamoDB task.
    let succeeded = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .status_filter(ExecutionStatus::Succeeded)
        .send()
        .await
        .unwrap();
    assert_eq!(succeeded.executions().len(), 3);
    let mut rejected = None;
    for e in succeeded.executions() {
        let d = sfn
            .describe_execution()
            .execution_arn(e.execution_arn())
            .send()
            .await
            .unwrap();
        if d.input().unwrap_or_default().contains(FLAGGED) {
            rejected = Some(e.execution_arn().to_owned());
        }
    }
    let rejected = rejected.expect("the flagged link's execution");
    let history = sfn
        .get_execution_history()
        .execution_arn(&rejected)
        .send()
        .await
        .unwrap();
    let types: Vec<&str> = history
        .events()
        .iter()
        .map(|e| e.r#type().as_str())
        .collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ChoiceStateEntered",
            "ChoiceStateExited",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    let update = history
        .events()
        .iter()
        .find_map(|e| e.task_scheduled_event_details())
        .unwrap();
    assert_eq!(
        (update.resource_type(), update.resource()),
        ("dynamodb", "updateItem")
    );
    let params: Value = serde_json::from_str(update.parameters()).unwrap();
    assert_eq!(
        params["ExpressionAttributeValues"][":rejected"],
        json!({"S": "rejected"})
    );
    assert_eq!(
        params["ExpressionAttributeValues"][":reason"]["S"],
        "flagged by the URL safety API: SOCIAL_ENGINEERING"
    );

    // And as `devstack executions` shows them.
    let cli = |args: Vec<String>| async move {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_devstack"))
            .args(args)
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let listing = cli(vec![
        "executions".into(),
        "--edge".into(),
        p.ds.edge_url.clone(),
    ])
    .await;
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 5, "{listing}");
    assert!(lines[0].starts_with("STATUS"), "{listing}");
    assert!(lines[1].starts_with("FAILED"), "newest first: {listing}");
    assert_eq!(listing.matches("SUCCEEDED").count(), 3, "{listing}");
    let timeline = cli(vec![
        "executions".into(),
        failed.name().to_owned(),
        "--edge".into(),
        p.ds.edge_url.clone(),
    ])
    .await;
    for want in [
        "FAILED",
        "LambdaFunctionFailed",
        "FailStateEntered",
        "+7.000s",
        "failed with ModerationFailed: The safety check failed after retries",
    ] {
        assert!(timeline.contains(want), "{want} in:\n{timeline}");
    }

    p.ds.shutdown().await;
}
