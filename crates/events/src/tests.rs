//! The API through `dispatch`, as the edge calls it: PutEvents, rules, targets, delivery,
//! TestEventPattern, persistence and errors.

use super::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

const ACCOUNT: &str = "000000000000";

fn stack() -> template::model::Stack {
    template::model::Stack {
        region: "us-east-1".into(),
        account_id: ACCOUNT.into(),
        event_buses: vec![template::model::EventBus {
            logical_id: "Bus".into(),
            name: "app-events".into(),
            arn: "arn:aws:events:us-east-1:000000000000:event-bus/app-events".into(),
        }],
        ..Default::default()
    }
}

/// The template's click rule: SQS target with a DLQ and a retry policy.
fn stack_with_rule() -> template::model::Stack {
    let mut s = stack();
    s.rules.push(template::model::Rule {
        logical_id: "ClickRule".into(),
        name: "app-ClickRule".into(),
        arn: "arn:aws:events:us-east-1:000000000000:rule/app-events/app-ClickRule".into(),
        bus: "app-events".into(),
        pattern: json!({"source": ["urlshortener"], "detail-type": ["link.clicked"]}),
        enabled: true,
        targets: vec![template::model::RuleTarget {
            id: "ClickQueue".into(),
            arn: "arn:aws:sqs:us-east-1:000000000000:clicks".into(),
            input: None,
            input_path: None,
            dead_letter_arn: Some("arn:aws:sqs:us-east-1:000000000000:clicks-dlq".into()),
            max_retry_attempts: Some(185),
            max_event_age_secs: Some(86400),
        }],
    });
    s
}

fn clock() -> SharedClock {
    clock::ManualClock::starting_at(1_795_773_600_000) as SharedClock
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Delivery>>);

impl Targets for Recorder {
    fn deliver(&self, delivery: Delivery) {
        self.0.lock().unwrap().push(delivery);
    }
}

impl Recorder {
    fn take(&self) -> Vec<Delivery> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

/// An EventBridge with a recording target and ids evt-1, evt-2...
fn wired(eb: EventBridge) -> (EventBridge, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    eb.set_targets(recorder.clone());
    let n = AtomicUsize::new(0);
    eb.set_id_generator(Box::new(move || {
        format!("evt-{}", n.fetch_add(1, Ordering::SeqCst) + 1)
    }));
    (eb, recorder)
}

fn call(eb: &EventBridge, op: &str, body: Value) -> Answer {
    eb.dispatch(op, body.to_string().as_bytes())
}

fn ok(eb: &EventBridge, op: &str, body: Value) -> Value {
    let a = call(eb, op, body);
    assert_eq!(a.status, 200, "{op}: {}", a.body);
    a.body
}

fn error(eb: &EventBridge, op: &str, body: Value) -> (String, String) {
    let a = call(eb, op, body);
    assert_eq!(a.status, 400, "{op}: {}", a.body);
    (
        a.error_code().unwrap().to_owned(),
        a.body["message"].as_str().unwrap().to_owned(),
    )
}

fn put(eb: &EventBridge, source: &str, detail_type: &str, detail: &str, bus: &str) -> Value {
    ok(
        eb,
        "PutEvents",
        json!({"Entries": [{"Source": source, "DetailType": detail_type, "Detail": detail, "EventBusName": bus}]}),
    )
}

#[test]
fn put_events_answers_per_entry() {
    let eb = EventBridge::new(&stack(), clock());
    let body = json!({"Entries": [
        {"Source": "app", "DetailType": "x", "Detail": "{\"a\":1}", "EventBusName": "app-events"},
        {"Source": "app", "DetailType": "x", "Detail": "not json", "EventBusName": "app-events"},
        {"Source": "app", "DetailType": "x", "Detail": "{}", "EventBusName": "arn:aws:events:us-east-1:000000000000:event-bus/nope"},
        {"DetailType": "x", "Detail": "{}"},
        {"Source": "app", "DetailType": "y", "Detail": "{}", "Time": 1795773500.5}
    ]});
    let a = ok(&eb, "PutEvents", body);
    assert_eq!(a["FailedEntryCount"], json!(3));
    let e = a["Entries"].as_array().unwrap();
    assert!(e[0]["EventId"].is_string());
    assert_eq!(e[1]["ErrorCode"], json!("MalformedDetail"));
    assert_eq!(e[2]["ErrorCode"], json!("InvalidArgument"));
    assert_eq!(e[3]["ErrorCode"], json!("InvalidArgument"));
    let accepted = eb.accepted();
    assert_eq!(accepted.len(), 2);
    assert_eq!(
        accepted[0]["time"],
        json!("2026-11-27T10:00:00Z"),
        "time from devstack's clock"
    );
    assert_eq!(accepted[0]["detail"], json!({"a": 1}));
    assert_eq!(accepted[0]["account"], json!(ACCOUNT));
    assert_eq!(
        accepted[1]["time"],
        json!("2026-11-27T09:58:20Z"),
        "an entry's own Time wins"
    );
    assert_eq!(accepted[1]["event-bus-name"], json!("default"));
}

#[test]
fn whole_request_errors() {
    let eb = EventBridge::new(&stack(), clock());
    assert_eq!(
        eb.dispatch("PutEvents", b"{").body["__type"],
        json!("SerializationException")
    );
    assert_eq!(
        eb.dispatch("PutEvents", b"{}").body["__type"],
        json!("ValidationException")
    );
    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"Source": "a", "DetailType": "b", "Detail": "{}"}))
        .collect();
    let a = call(&eb, "PutEvents", json!({"Entries": eleven}));
    assert_eq!(a.status, 400);
    assert_eq!(
        eb.dispatch("CreateArchive", b"{}").body["__type"],
        json!("UnknownOperationException")
    );
    assert_eq!(
        error(&eb, "DescribeRule", json!({})).1,
        "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        error(&eb, "DescribeRule", json!({"Name": 5})).0,
        "SerializationException"
    );
}

#[test]
fn the_template_rule_delivers_the_whole_event_with_its_retry_settings() {
    let (eb, recorder) = wired(EventBridge::new(&stack_with_rule(), clock()));
    put(
        &eb,
        "urlshortener",
        "link.clicked",
        r#"{"z": 1, "a": "x"}"#,
        "app-events",
    );
    put(&eb, "urlshortener", "link.created", "{}", "app-events");
    put(&eb, "urlshortener", "link.clicked", "{}", "default");
    let deliveries = recorder.take();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(
        deliveries[0],
        Delivery {
            event_id: "evt-1".into(),
            rule_name: "app-ClickRule".into(),
            rule_arn: "arn:aws:events:us-east-1:000000000000:rule/app-events/app-ClickRule".into(),
            bus: "app-events".into(),
            target_id: "ClickQueue".into(),
            target_arn: "arn:aws:sqs:us-east-1:000000000000:clicks".into(),
            // The envelope in EventBridge's order, the detail in the producer's, no
            // `event-bus-name`.
            input: r#"{"version":"0","id":"evt-1","detail-type":"link.clicked","source":"urlshortener","account":"000000000000","time":"2026-11-27T10:00:00Z","region":"us-east-1","resources":[],"detail":{"z":1,"a":"x"}}"#.into(),
            dead_letter_arn: Some("arn:aws:sqs:us-east-1:000000000000:clicks-dlq".into()),
            max_retry_attempts: Some(185),
            max_event_age_secs: Some(86400),
        }
    );
    let rules = eb.rules();
    assert_eq!(rules.len(), 1);
    assert!(rules[0].from_template && rules[0].enabled);
    assert_eq!(rules[0].targets[0].service(), Some("sqs"));
    assert!(eb.warnings().is_empty());
}

#[test]
fn rules_and_targets_through_the_api_deliver_each_input_form() {
    let (eb, recorder) = wired(EventBridge::new(&stack(), clock()));
    let put_rule = ok(
        &eb,
        "PutRule",
        json!({
            "Name": "clicks",
            "EventBusName": "app-events",
            "EventPattern": r#"{"source": ["app"], "detail": {"n": [{"numeric": [">", 1]}]}}"#,
            "Description": "clicks over one",
        }),
    );
    let rule_arn = "arn:aws:events:us-east-1:000000000000:rule/app-events/clicks";
    assert_eq!(put_rule, json!({"RuleArn": rule_arn}));
    let targets = ok(
        &eb,
        "PutTargets",
        json!({"Rule": "clicks", "EventBusName": "app-events", "Targets": [
            {"Id": "whole", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"},
            {"Id": "constant", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "Input": "{\"fixed\": true}"},
            {"Id": "path", "Arn": "arn:aws:sqs:us-east-1:000000000000:q", "InputPath": "$.detail"},
            {"Id": "transformed", "Arn": "arn:aws:states:us-east-1:000000000000:stateMachine:m",
             "InputTransformer": {
                 "InputPathsMap": {"n": "$.detail.n", "src": "$.source"},
                 "InputTemplate": "{\"count\": <n>, \"from\": \"<src>\", \"rule\": <aws.events.rule-name>, \"event\": <aws.events.event>}"
             },
             "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:000000000000:dlq"},
             "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 60}}
        ]}),
    );
    assert_eq!(targets, json!({"FailedEntryCount": 0, "FailedEntries": []}));

    put(&eb, "app", "t", r#"{"n": 2, "m": "x"}"#, "app-events");
    put(&eb, "app", "t", r#"{"n": 1}"#, "app-events");
    let d = recorder.take();
    assert_eq!(d.len(), 4, "only the first event matches: {d:?}");
    let inputs: Vec<(&str, &str)> = d
        .iter()
        .map(|d| (d.target_id.as_str(), d.input.as_str()))
        .collect();
    let whole = r#"{"version":"0","id":"evt-1","detail-type":"t","source":"app","account":"000000000000","time":"2026-11-27T10:00:00Z","region":"us-east-1","resources":[],"detail":{"n":2,"m":"x"}}"#;
    assert_eq!(
        inputs,
        vec![
            ("whole", whole),
            ("constant", "{\"fixed\": true}"),
            ("path", r#"{"n":2,"m":"x"}"#),
            (
                "transformed",
                r#"{"count":2,"from":"app","rule":"clicks","event":{"version":"0","id":"evt-1","detailType":"t","source":"app","account":"000000000000","time":"2026-11-27T10:00:00Z","region":"us-east-1","resources":[]}}"#
            ),
        ]
    );
    assert!(
        d.iter()
            .all(|d| d.rule_arn == rule_arn && d.event_id == "evt-1")
    );
    assert_eq!(
        d[3].dead_letter_arn.as_deref(),
        Some("arn:aws:sqs:us-east-1:000000000000:dlq")
    );
    assert_eq!(
        (d[3].max_retry_attempts, d[3].max_event_age_secs),
        (Some(3), Some(60))
    );
    assert_eq!(
        (d[0].dead_letter_arn.as_ref(), d[0].max_retry_attempts),
        (None, None)
    );

    // Listed back as put.
    let listed = ok(
        &eb,
        "ListTargetsByRule",
        json!({"Rule": "clicks", "EventBusName": "app-events"}),
    );
    assert_eq!(listed["Targets"].as_array().unwrap().len(), 4);
    assert_eq!(
        listed["Targets"][3]["RetryPolicy"],
        json!({"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 60})
    );
    assert_eq!(
        listed["Targets"][1],
        json!({"Id": "constant", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "Input": "{\"fixed\": true}"})
    );
    let described = ok(
        &eb,
        "DescribeRule",
        json!({"Name": "clicks", "EventBusName": "arn:aws:events:us-east-1:000000000000:event-bus/app-events"}),
    );
    assert_eq!(
        described,
        json!({
            "Name": "clicks",
            "Arn": rule_arn,
            "EventPattern": r#"{"source": ["app"], "detail": {"n": [{"numeric": [">", 1]}]}}"#,
            "State": "ENABLED",
            "Description": "clicks over one",
            "EventBusName": "app-events",
            "CreatedBy": ACCOUNT,
        })
    );
    assert_eq!(
        ok(
            &eb,
            "ListRuleNamesByTarget",
            json!({"TargetArn": "arn:aws:sqs:us-east-1:000000000000:q", "EventBusName": "app-events"})
        ),
        json!({"RuleNames": ["clicks"]})
    );
    assert_eq!(
        ok(
            &eb,
            "ListRuleNamesByTarget",
            json!({"TargetArn": "arn:aws:sqs:us-east-1:000000000000:q"})
        ),
        json!({"RuleNames": []}),
        "the default bus has no rules"
    );

    // Replacing a target by Id; removing targets; a missing Id is a failed entry.
    ok(
        &eb,
        "PutTargets",
        json!({"Rule": "clicks", "EventBusName": "app-events", "Targets": [
        {"Id": "constant", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "Input": "7"}]}),
    );
    let removed = ok(
        &eb,
        "RemoveTargets",
        json!({"Rule": "clicks", "EventBusName": "app-events", "Ids": ["whole", "path", "transformed", "ghost"]}),
    );
    assert_eq!(removed["FailedEntryCount"], json!(1));
    assert_eq!(removed["FailedEntries"][0]["TargetId"], json!("ghost"));
    assert_eq!(
        removed["FailedEntries"][0]["ErrorCode"],
        json!("ResourceNotFoundException")
    );
    put(&eb, "app", "t", r#"{"n": 5}"#, "app-events");
    let d = recorder.take();
    assert_eq!((d.len(), d[0].input.as_str()), (1, "7"));
}

#[test]
fn disabled_rules_and_rules_on_other_buses_do_not_deliver() {
    let (eb, recorder) = wired(EventBridge::new(&stack(), clock()));
    for (name, bus) in [("on-default", "default"), ("on-app", "app-events")] {
        ok(
            &eb,
            "PutRule",
            json!({"Name": name, "EventBusName": bus, "EventPattern": r#"{"source": ["app"]}"#}),
        );
        ok(
            &eb,
            "PutTargets",
            json!({"Rule": name, "EventBusName": bus, "Targets": [
            {"Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}]}),
        );
    }
    put(&eb, "app", "t", "{}", "app-events");
    let d = recorder.take();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].rule_name.as_str(), d[0].bus.as_str()),
        ("on-app", "app-events")
    );

    ok(
        &eb,
        "DisableRule",
        json!({"Name": "on-app", "EventBusName": "app-events"}),
    );
    assert_eq!(
        ok(
            &eb,
            "DescribeRule",
            json!({"Name": "on-app", "EventBusName": "app-events"})
        )["State"],
        json!("DISABLED")
    );
    put(&eb, "app", "t", "{}", "app-events");
    assert!(
        recorder.take().is_empty(),
        "a disabled rule delivers nothing"
    );
    assert!(
        !eb.rules()
            .iter()
            .find(|r| r.name == "on-app")
            .unwrap()
            .enabled
    );

    ok(
        &eb,
        "EnableRule",
        json!({"Name": "on-app", "EventBusName": "app-events"}),
    );
    put(&eb, "app", "t", "{}", "app-events");
    assert_eq!(recorder.take().len(), 1);

    // A rule put again without State is enabled again; with DISABLED it is created disabled.
    ok(
        &eb,
        "PutRule",
        json!({"Name": "on-app", "EventBusName": "app-events", "EventPattern": r#"{"source": ["app"]}"#, "State": "DISABLED"}),
    );
    put(&eb, "app", "t", "{}", "app-events");
    assert!(recorder.take().is_empty());
    assert_eq!(
        ok(
            &eb,
            "ListTargetsByRule",
            json!({"Rule": "on-app", "EventBusName": "app-events"})
        )["Targets"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "PutRule keeps the targets"
    );
}

#[test]
fn fault_hook_fails_chosen_entries() {
    struct FailSecond;
    impl EntryFaults for FailSecond {
        fn fail_entry(&self, bus: &str, index: usize, entry: &Value) -> Option<(String, String)> {
            assert_eq!(bus, "default");
            assert!(entry.get("Source").is_some());
            (index == 1).then(|| ("InternalFailure".to_owned(), "injected".to_owned()))
        }
    }
    let (eb, recorder) = wired(EventBridge::new(&stack(), clock()));
    eb.set_entry_faults(Arc::new(FailSecond));
    ok(
        &eb,
        "PutRule",
        json!({"Name": "all", "EventPattern": r#"{"source": [{"prefix": ""}]}"#}),
    );
    ok(
        &eb,
        "PutTargets",
        json!({"Rule": "all", "Targets": [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}]}),
    );
    let entry = json!({"Source": "app", "DetailType": "t", "Detail": "{}"});
    let a = ok(&eb, "PutEvents", json!({"Entries": [entry, entry, entry]}));
    assert_eq!(
        a,
        json!({"FailedEntryCount": 1, "Entries": [
            {"EventId": "evt-1"},
            {"ErrorCode": "InternalFailure", "ErrorMessage": "injected"},
            {"EventId": "evt-2"}
        ]})
    );
    let ids: Vec<String> = recorder.take().into_iter().map(|d| d.event_id).collect();
    assert_eq!(ids, ["evt-1", "evt-2"]);
    assert_eq!(eb.accepted().len(), 2);
}

#[test]
fn test_event_pattern() {
    let eb = EventBridge::new(&stack(), clock());
    let event = json!({
        "id": "1", "account": ACCOUNT, "source": "aws.ec2", "time": "2017-12-22T18:43:48Z",
        "region": "us-east-1", "resources": [], "detail-type": "x", "detail": {"state": "terminated"}
    })
    .to_string();
    let test = |pattern: &str, event: &str| {
        call(
            &eb,
            "TestEventPattern",
            json!({"EventPattern": pattern, "Event": event}),
        )
    };
    assert_eq!(
        test(r#"{"detail": {"state": ["terminated"]}}"#, &event).body,
        json!({"Result": true})
    );
    assert_eq!(
        test(r#"{"detail": {"state": ["running"]}}"#, &event).body,
        json!({"Result": false})
    );
    let bad = test(r#"{"source": "aws.ec2"}"#, &event);
    assert_eq!(bad.error_code(), Some("InvalidEventPatternException"));
    assert_eq!(
        bad.body["message"],
        json!("Event pattern is not valid. Reason: \"source\" must be an object or an array")
    );
    let incomplete = json!({"source": "aws.ec2", "detail": {}}).to_string();
    assert_eq!(
        test(r#"{"source": ["aws.ec2"]}"#, &incomplete).body,
        json!({"__type": "ValidationException", "message": "Parameter Event is not valid."})
    );
    assert_eq!(
        test(r#"{"source": ["aws.ec2"]}"#, "not json").error_code(),
        Some("ValidationException")
    );
    assert_eq!(
        error(&eb, "TestEventPattern", json!({"EventPattern": "{}"})).1,
        "1 validation error detected: Value null at 'event' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn buses() {
    let eb = EventBridge::new(&stack(), clock());
    assert_eq!(
        ok(
            &eb,
            "CreateEventBus",
            json!({"Name": "orders", "Description": "orders bus"})
        ),
        json!({"EventBusArn": "arn:aws:events:us-east-1:000000000000:event-bus/orders", "Description": "orders bus"})
    );
    assert_eq!(
        error(&eb, "CreateEventBus", json!({"Name": "orders"})),
        (
            "ResourceAlreadyExistsException".into(),
            "Event bus orders already exists.".into()
        )
    );
    assert_eq!(
        error(&eb, "CreateEventBus", json!({"Name": "a/b"})).1,
        "Event bus name must not contain '/'."
    );
    assert_eq!(
        error(&eb, "CreateEventBus", json!({"Name": "a b"})).0,
        "ValidationException"
    );
    let described = ok(&eb, "DescribeEventBus", json!({"Name": "orders"}));
    assert_eq!(
        described["Arn"],
        json!("arn:aws:events:us-east-1:000000000000:event-bus/orders")
    );
    assert_eq!(described["CreationTime"], json!(1_795_773_600.0));
    assert_eq!(
        ok(&eb, "DescribeEventBus", json!({}))["Name"],
        json!("default")
    );
    let names = |body: Value| -> Vec<String> {
        body["EventBuses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["Name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(ok(&eb, "ListEventBuses", json!({}))),
        ["app-events", "default", "orders"]
    );
    assert_eq!(
        names(ok(&eb, "ListEventBuses", json!({"NamePrefix": "or"}))),
        ["orders"]
    );
    let first = ok(&eb, "ListEventBuses", json!({"Limit": 2}));
    assert_eq!(names(first.clone()), ["app-events", "default"]);
    let second = ok(
        &eb,
        "ListEventBuses",
        json!({"Limit": 2, "NextToken": first["NextToken"]}),
    );
    assert_eq!(names(second.clone()), ["orders"]);
    assert!(second.get("NextToken").is_none());

    // Events on the new bus; deleting it deletes its rules; default and template buses stay.
    ok(
        &eb,
        "PutRule",
        json!({"Name": "r", "EventBusName": "orders", "EventPattern": r#"{"source": ["a"]}"#}),
    );
    assert_eq!(
        put(&eb, "a", "t", "{}", "orders")["FailedEntryCount"],
        json!(0)
    );
    ok(&eb, "DeleteEventBus", json!({"Name": "orders"}));
    ok(&eb, "DeleteEventBus", json!({"Name": "orders"}));
    assert!(eb.rules().is_empty());
    assert_eq!(
        error(&eb, "DescribeEventBus", json!({"Name": "orders"})),
        (
            "ResourceNotFoundException".into(),
            "Event bus orders does not exist.".into()
        )
    );
    assert_eq!(
        error(&eb, "DeleteEventBus", json!({"Name": "default"})).1,
        "Cannot delete event bus default."
    );
    assert_eq!(
        error(&eb, "DeleteEventBus", json!({"Name": "app-events"})).0,
        "ValidationException"
    );
    assert_eq!(
        put(&eb, "a", "t", "{}", "orders")["Entries"][0]["ErrorMessage"],
        json!("Event bus orders does not exist.")
    );
}

#[test]
fn rule_errors() {
    let eb = EventBridge::new(&stack(), clock());
    let p = r#"{"source": ["a"]}"#;
    assert_eq!(
        error(
            &eb,
            "PutRule",
            json!({"Name": "r", "EventBusName": "nope", "EventPattern": p})
        ),
        (
            "ResourceNotFoundException".into(),
            "Event bus nope does not exist.".into()
        )
    );
    assert_eq!(
        error(&eb, "PutRule", json!({"Name": "r"})).1,
        "Parameter(s) EventPattern or ScheduleExpression must be specified."
    );
    let (code, message) = error(
        &eb,
        "PutRule",
        json!({"Name": "r", "ScheduleExpression": "rate(5 minutes)"}),
    );
    assert_eq!(code, "ValidationException");
    assert!(
        message.contains("not supported by devstack yet"),
        "{message}"
    );
    assert_eq!(
        error(
            &eb,
            "PutRule",
            json!({"Name": "r", "EventPattern": r#"{"source": []}"#})
        ),
        (
            "InvalidEventPatternException".into(),
            "Event pattern is not valid. Reason: Empty arrays are not allowed".into()
        )
    );
    assert_eq!(
        error(
            &eb,
            "PutRule",
            json!({"Name": "r", "EventPattern": p, "State": "ON"})
        )
        .1,
        "1 validation error detected: Value 'ON' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
    );
    assert_eq!(
        error(
            &eb,
            "PutRule",
            json!({"Name": "bad name", "EventPattern": p})
        )
        .1,
        "1 validation error detected: Value 'bad name' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
    );
    assert_eq!(
        error(&eb, "DescribeRule", json!({"Name": "r"})),
        (
            "ResourceNotFoundException".into(),
            "Rule r does not exist on EventBus default.".into()
        )
    );
    assert_eq!(
        error(&eb, "EnableRule", json!({"Name": "r"})).0,
        "ResourceNotFoundException"
    );
    assert_eq!(
        error(&eb, "ListTargetsByRule", json!({"Rule": "r"})).0,
        "ResourceNotFoundException"
    );
    assert_eq!(
        error(
            &eb,
            "PutTargets",
            json!({"Rule": "r", "Targets": [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:0:q"}]})
        )
        .0,
        "ResourceNotFoundException"
    );
    // Deleting a rule that does not exist succeeds; on a bus that does not exist, it does not.
    ok(&eb, "DeleteRule", json!({"Name": "r"}));
    assert_eq!(
        error(
            &eb,
            "DeleteRule",
            json!({"Name": "r", "EventBusName": "nope"})
        )
        .0,
        "ResourceNotFoundException"
    );

    ok(&eb, "PutRule", json!({"Name": "r", "EventPattern": p}));
    ok(
        &eb,
        "PutTargets",
        json!({"Rule": "r", "Targets": [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}]}),
    );
    assert_eq!(
        error(&eb, "DeleteRule", json!({"Name": "r"})),
        (
            "ValidationException".into(),
            "Rule can't be deleted since it has targets.".into()
        )
    );
    ok(&eb, "RemoveTargets", json!({"Rule": "r", "Ids": ["t"]}));
    ok(&eb, "DeleteRule", json!({"Name": "r"}));
    assert!(eb.rules().is_empty());

    // ListRules: by prefix, by page.
    for name in ["a1", "a2", "b1"] {
        ok(&eb, "PutRule", json!({"Name": name, "EventPattern": p}));
    }
    let names = |body: &Value| -> Vec<String> {
        body["Rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&ok(&eb, "ListRules", json!({"NamePrefix": "a"}))),
        ["a1", "a2"]
    );
    let page = ok(&eb, "ListRules", json!({"Limit": 2}));
    assert_eq!(names(&page), ["a1", "a2"]);
    assert_eq!(
        names(&ok(
            &eb,
            "ListRules",
            json!({"Limit": 2, "NextToken": page["NextToken"]})
        )),
        ["b1"]
    );
    assert_eq!(
        ok(&eb, "ListRules", json!({"NamePrefix": "b"}))["Rules"][0],
        json!({"Name": "b1", "Arn": "arn:aws:events:us-east-1:000000000000:rule/b1", "EventPattern": p, "State": "ENABLED", "EventBusName": "default"})
    );
    assert_eq!(
        error(&eb, "ListRules", json!({"EventBusName": "nope"})).0,
        "ResourceNotFoundException"
    );
}

#[test]
fn put_targets_failures() {
    let eb = EventBridge::new(&stack(), clock());
    ok(
        &eb,
        "PutRule",
        json!({"Name": "r", "EventPattern": r#"{"source": ["a"]}"#}),
    );
    let q = "arn:aws:sqs:us-east-1:000000000000:q";
    let a = ok(
        &eb,
        "PutTargets",
        json!({"Rule": "r", "Targets": [
            {"Id": "ok", "Arn": q},
            {"Id": "arn", "Arn": "not-an-arn"},
            {"Id": "two", "Arn": q, "Input": "{}", "InputPath": "$.detail"},
            {"Id": "json", "Arn": q, "Input": "{nope"},
            {"Id": "path", "Arn": q, "InputPath": "$.detail[*]"},
            {"Id": "placeholder", "Arn": q, "InputTransformer": {"InputPathsMap": {"a": "$.id"}, "InputTemplate": "<a> <b>"}},
            {"Id": "varname", "Arn": q, "InputTransformer": {"InputPathsMap": {"a.b": "$.id"}, "InputTemplate": "x"}},
            {"Id": "fifo", "Arn": "arn:aws:sqs:us-east-1:000000000000:q.fifo"},
            {"Id": "fifo-ok", "Arn": "arn:aws:sqs:us-east-1:000000000000:q.fifo", "SqsParameters": {"MessageGroupId": "g"}}
        ]}),
    );
    assert_eq!(a["FailedEntryCount"], json!(7));
    let failures: Vec<(String, String)> = a["FailedEntries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["ErrorCode"], json!("ValidationException"));
            (
                f["TargetId"].as_str().unwrap().to_owned(),
                f["ErrorMessage"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        failures[0].1,
        "Parameter not-an-arn is not valid. Reason: Provided Arn is not in correct format."
    );
    assert_eq!(
        failures[1].1,
        "Only one of Input, InputPath, or InputTransformer must be provided for target two."
    );
    assert!(
        failures[2]
            .1
            .starts_with("Input for target json is not valid JSON")
    );
    assert!(
        failures[3]
            .1
            .starts_with("InputPath for target path is not valid")
    );
    assert_eq!(
        failures[4].1,
        "InputTemplate for target placeholder contains invalid placeholder b."
    );
    assert!(failures[5].1.contains("invalid variable name a.b"));
    assert_eq!(
        failures[6].1,
        "Parameter(s) SqsParameters must be specified for target: fifo."
    );
    let listed = ok(&eb, "ListTargetsByRule", json!({"Rule": "r"}));
    let ids: Vec<&str> = listed["Targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["Id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ok", "fifo-ok"]);
    assert_eq!(
        listed["Targets"][1]["SqsParameters"],
        json!({"MessageGroupId": "g"}),
        "kept as given"
    );

    // Model constraints refuse the whole request.
    assert_eq!(
        error(&eb, "PutTargets", json!({"Rule": "r", "Targets": [{"Id": "t", "Arn": q, "RetryPolicy": {"MaximumEventAgeInSeconds": 59}}]})).1,
        "1 validation error detected: Value '59' at 'targets.1.member.retryPolicy.maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"
    );
    assert_eq!(
        error(
            &eb,
            "PutTargets",
            json!({"Rule": "r", "Targets": [{"Id": "a b", "Arn": q}]})
        )
        .1,
        "1 validation error detected: Value 'a b' at 'targets.1.member.id' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
    );
    assert_eq!(
        error(&eb, "PutTargets", json!({"Rule": "r", "Targets": []})).0,
        "ValidationException"
    );
    assert_eq!(
        error(
            &eb,
            "PutTargets",
            json!({"Rule": "r", "Targets": [{"Id": "t"}]})
        )
        .0,
        "SerializationException"
    );
    // At most five targets per rule: nothing is put when the request would exceed it.
    let four: Vec<Value> = (0..4)
        .map(|i| json!({"Id": format!("n{i}"), "Arn": q}))
        .collect();
    assert_eq!(
        error(&eb, "PutTargets", json!({"Rule": "r", "Targets": four})),
        (
            "LimitExceededException".into(),
            "The requested resource exceeds the maximum number allowed.".into()
        )
    );
    assert_eq!(
        ok(&eb, "ListTargetsByRule", json!({"Rule": "r"}))["Targets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let page = ok(&eb, "ListTargetsByRule", json!({"Rule": "r", "Limit": 1}));
    assert_eq!(page["Targets"][0]["Id"], json!("ok"));
    assert_eq!(page["NextToken"], json!("1"));
}

#[test]
fn api_state_survives_a_restart_and_the_template_wins() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("events");
    {
        let eb = EventBridge::open(&stack_with_rule(), clock(), Some(&data)).unwrap();
        ok(
            &eb,
            "CreateEventBus",
            json!({"Name": "orders", "Description": "d"}),
        );
        ok(
            &eb,
            "PutRule",
            json!({"Name": "r", "EventBusName": "orders", "EventPattern": r#"{"source": ["a"]}"#, "State": "DISABLED", "Description": "kept"}),
        );
        ok(
            &eb,
            "PutTargets",
            json!({"Rule": "r", "EventBusName": "orders", "Targets": [
            {"Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q", "InputPath": "$.detail"}]}),
        );
        // A rule named like the template's, on the template's bus: changes to it last only
        // until devstack restarts.
        ok(
            &eb,
            "DisableRule",
            json!({"Name": "app-ClickRule", "EventBusName": "app-events"}),
        );
        ok(
            &eb,
            "PutRule",
            json!({"Name": "mine", "EventBusName": "app-events", "EventPattern": r#"{"source": ["b"]}"#}),
        );
    }
    assert!(data.join("events.json").is_file());
    assert!(!data.join("events.json.tmp").exists());
    let eb = EventBridge::open(&stack_with_rule(), clock(), Some(&data)).unwrap();
    assert!(eb.warnings().is_empty(), "{:?}", eb.warnings());
    assert_eq!(
        ok(&eb, "DescribeEventBus", json!({"Name": "orders"}))["Description"],
        json!("d")
    );
    let rule = ok(
        &eb,
        "DescribeRule",
        json!({"Name": "r", "EventBusName": "orders"}),
    );
    assert_eq!(
        (rule["State"].clone(), rule["Description"].clone()),
        (json!("DISABLED"), json!("kept"))
    );
    assert_eq!(
        ok(
            &eb,
            "ListTargetsByRule",
            json!({"Rule": "r", "EventBusName": "orders"})
        )["Targets"],
        json!([{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q", "InputPath": "$.detail"}])
    );
    let rules = eb.rules();
    let names: Vec<(&str, bool, bool)> = rules
        .iter()
        .map(|r| (r.name.as_str(), r.from_template, r.enabled))
        .collect();
    assert_eq!(
        names,
        [
            ("app-ClickRule", true, true),
            ("mine", false, true),
            ("r", false, false)
        ]
    );

    // A template that now defines `mine` wins over the saved rule, loudly.
    let mut newer = stack_with_rule();
    let mut clash = newer.rules[0].clone();
    clash.name = "mine".into();
    newer.rules.push(clash);
    let eb = EventBridge::open(&newer, clock(), Some(&data)).unwrap();
    assert_eq!(eb.warnings().len(), 1);
    assert!(
        eb.warnings()[0].contains("saved rule mine"),
        "{:?}",
        eb.warnings()
    );
    assert!(
        eb.rules()
            .iter()
            .find(|r| r.name == "mine")
            .unwrap()
            .from_template
    );

    // A state file that is not ours is an error, not an empty start.
    std::fs::write(data.join("events.json"), "[1, 2]").unwrap();
    assert!(matches!(
        EventBridge::open(&stack(), clock(), Some(&data)),
        Err(EventsError::BadState { .. })
    ));
}

#[test]
fn template_problems_are_warnings() {
    let mut s = stack_with_rule();
    s.rules[0].pattern = json!({"source": "not an array"});
    s.rules[0].targets[0].input_path = Some("$.detail[*]".into());
    let mut elsewhere = s.rules[0].clone();
    elsewhere.name = "elsewhere".into();
    elsewhere.bus = "other-stack-bus".into();
    s.rules.push(elsewhere);
    let (eb, recorder) = wired(EventBridge::new(&s, clock()));
    let warnings = eb.warnings().join("\n");
    assert!(
        warnings.contains("rule app-ClickRule: Event pattern is not valid"),
        "{warnings}"
    );
    assert!(warnings.contains("InputPath"), "{warnings}");
    assert!(warnings.contains("other-stack-bus"), "{warnings}");
    put(&eb, "urlshortener", "link.clicked", "{}", "app-events");
    assert!(
        recorder.take().is_empty(),
        "an invalid template pattern matches nothing"
    );
}

#[test]
fn a_target_may_call_back_into_eventbridge() {
    // Deliveries run outside the state's lock: a target that asks EventBridge something (or
    // puts another event) must not deadlock.
    struct CallsBack(std::sync::OnceLock<Arc<EventBridge>>, Mutex<Vec<usize>>);
    impl Targets for CallsBack {
        fn deliver(&self, _: Delivery) {
            let eb = self.0.get().unwrap();
            self.1.lock().unwrap().push(eb.rules().len());
            call(eb, "ListRules", json!({}));
        }
    }
    fn assert_shareable<T: Send + Sync>() {}
    assert_shareable::<EventBridge>();

    let eb = Arc::new(EventBridge::new(&stack(), clock()));
    let target = Arc::new(CallsBack(
        std::sync::OnceLock::new(),
        Mutex::new(Vec::new()),
    ));
    target.0.set(eb.clone()).ok().unwrap();
    eb.set_targets(target.clone());
    ok(
        &eb,
        "PutRule",
        json!({"Name": "r", "EventPattern": r#"{"source": ["a"]}"#}),
    );
    ok(
        &eb,
        "PutTargets",
        json!({"Rule": "r", "Targets": [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}]}),
    );
    put(&eb, "a", "t", "{}", "default");
    assert_eq!(*target.1.lock().unwrap(), [1]);
}
