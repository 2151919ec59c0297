//! The interpreter and the API, on a manual clock, with fake Lambda and DynamoDB.

use super::*;
use clock::{Clock, ManualClock};
use serde_json::json;
use std::collections::VecDeque;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function:check";

#[derive(Clone, Debug)]
enum Reply {
    Ok(Value),
    /// A function error with this errorType ("" for none).
    FnError(&'static str),
    Service(&'static str, u16),
    Hang,
    Interrupted,
}

#[derive(Debug, Clone)]
struct Call {
    at: i64,
    target: String,
    body: Value,
}

struct Fake {
    clock: Arc<ManualClock>,
    lambda: Mutex<VecDeque<Reply>>,
    dynamo: Mutex<VecDeque<Result<Value, (&'static str, u16)>>>,
    calls: Mutex<Vec<Call>>,
}

impl Fake {
    fn new(clock: &Arc<ManualClock>) -> Arc<Self> {
        Arc::new(Fake {
            clock: clock.clone(),
            lambda: Mutex::new(VecDeque::new()),
            dynamo: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn lambda_replies(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.lambda).extend(replies);
    }

    fn dynamo_replies(
        &self,
        replies: impl IntoIterator<Item = Result<Value, (&'static str, u16)>>,
    ) {
        lock(&self.dynamo).extend(replies);
    }

    fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    fn call_times(&self) -> Vec<i64> {
        self.calls().iter().map(|c| (c.at - T0) / 1000).collect()
    }
}

impl Tasks for Fake {
    fn invoke_lambda(&self, call: LambdaCall) -> TaskFuture<'_, LambdaResult> {
        let payload: Value = serde_json::from_slice(&call.payload).unwrap();
        let target = match &call.qualifier {
            Some(q) => format!("{}:{q}", call.function),
            None => call.function.clone(),
        };
        lock(&self.calls).push(Call {
            at: self.clock.now_ms(),
            target,
            body: payload.clone(),
        });
        let reply = lock(&self.lambda).pop_front().unwrap_or(Reply::Ok(payload));
        Box::pin(async move {
            let ok = |v: Value, error: Option<&str>| LambdaResult {
                request_id: "req-1".into(),
                payload: serde_json::to_vec(&v).unwrap(),
                function_error: error.map(str::to_owned),
                executed_version: "$LATEST".into(),
            };
            match reply {
                Reply::Ok(v) => Ok(ok(v, None)),
                Reply::FnError("") => Ok(ok(json!({"errorMessage": "no type"}), Some("Unhandled"))),
                Reply::FnError(t) => Ok(ok(
                    json!({"errorType": t, "errorMessage": "it broke"}),
                    Some("Unhandled"),
                )),
                Reply::Service(code, status) => Err(TaskError::Service {
                    code: code.into(),
                    message: "injected".into(),
                    status,
                }),
                Reply::Hang => std::future::pending().await,
                Reply::Interrupted => Err(TaskError::Interrupted),
            }
        })
    }

    fn dynamodb(&self, operation: &str, request: Value) -> TaskFuture<'_, Value> {
        lock(&self.calls).push(Call {
            at: self.clock.now_ms(),
            target: operation.to_owned(),
            body: request,
        });
        let reply = lock(&self.dynamo).pop_front().unwrap_or(Ok(json!({})));
        Box::pin(async move {
            reply.map_err(|(code, status)| TaskError::Service {
                code: code.into(),
                message: "the engine said no".into(),
                status,
            })
        })
    }
}

fn stack(machines: &[(&str, Value)]) -> template::model::Stack {
    template::model::Stack {
        stack_name: "t".into(),
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        state_machines: machines
            .iter()
            .map(|(name, def)| template::model::StateMachine {
                logical_id: name.to_string(),
                name: name.to_string(),
                arn: machine_arn(name),
                kind: "STANDARD".into(),
                definition: def.clone(),
            })
            .collect(),
        ..Default::default()
    }
}

fn machine_arn(name: &str) -> String {
    format!("arn:aws:states:us-east-1:000000000000:stateMachine:{name}")
}

struct Env {
    sf: StepFunctions,
    clock: Arc<ManualClock>,
    fake: Arc<Fake>,
}

impl Env {
    fn new(machines: &[(&str, Value)]) -> Env {
        Env::open(machines, None)
    }

    fn open(machines: &[(&str, Value)], dir: Option<&Path>) -> Env {
        let clock = ManualClock::starting_at(T0);
        let fake = Fake::new(&clock);
        let sf = StepFunctions::open(&stack(machines), clock.clone(), dir, fake.clone()).unwrap();
        let n = AtomicU64::new(0);
        sf.set_id_generator(Box::new(move || {
            format!("id-{}", n.fetch_add(1, Ordering::SeqCst) + 1)
        }));
        Env { sf, clock, fake }
    }

    fn call(&self, op: &str, body: Value) -> Answer {
        self.sf.dispatch(op, body.to_string().as_bytes())
    }

    fn ok(&self, op: &str, body: Value) -> Value {
        let a = self.call(op, body.clone());
        assert_eq!(a.status, 200, "{op} {body}: {}", a.body);
        a.body
    }

    /// Starts an execution and waits until nothing can progress without the clock.
    async fn start(&self, machine: &str, input: Value) -> String {
        let arn = self
            .sf
            .start_execution(&machine_arn(machine), None, &input.to_string())
            .unwrap_or_else(|a| panic!("{}", a.body));
        self.sf.idle().await;
        arn
    }

    async fn advance(&self, ms: i64) {
        self.clock.advance(ms);
        self.sf.wake();
        self.sf.idle().await;
    }

    fn describe(&self, arn: &str) -> Value {
        self.ok("DescribeExecution", json!({"executionArn": arn}))
    }

    fn status(&self, arn: &str) -> String {
        self.describe(arn)["status"].as_str().unwrap().to_owned()
    }

    fn output(&self, arn: &str) -> Value {
        let d = self.describe(arn);
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        serde_json::from_str(d["output"].as_str().unwrap()).unwrap()
    }

    fn types(&self, arn: &str) -> Vec<String> {
        self.sf
            .history(arn)
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    fn event(&self, arn: &str, ty: &str) -> Value {
        self.sf
            .history(arn)
            .into_iter()
            .find(|e| e["type"] == ty)
            .unwrap_or_else(|| panic!("no {ty} in {:?}", self.types(arn)))
    }
}

fn one(state: Value) -> Value {
    json!({"StartAt": "S", "States": {"S": state}})
}

// ---- data flow ----

#[tokio::test]
async fn pass_states_and_the_paths() {
    let def = json!({
        "StartAt": "Shape",
        "States": {
            "Shape": {
                "Type": "Pass",
                "InputPath": "$.order",
                "Parameters": {
                    "id.$": "$.id",
                    "first.$": "$.items[0]",
                    "label.$": "States.Format('order {} of {}', $.id, $$.Execution.Name)",
                    "exec.$": "$$.Execution.Id",
                    "state.$": "$$.State.Name",
                    "entered.$": "$$.State.EnteredTime",
                    "parsed.$": "States.StringToJson($.raw)",
                    "text.$": "States.JsonToString($.items)",
                    "uuid.$": "States.UUID()",
                    "static": {"nested": [1, {"deep.$": "$.id"}]}
                },
                "ResultPath": "$.shaped",
                "Next": "Fixed"
            },
            "Fixed": {
                "Type": "Pass",
                "Result": {"constant": true},
                "ResultPath": "$.extra.constant",
                "OutputPath": "$.extra",
                "Next": "Discard"
            },
            "Discard": {"Type": "Pass", "Result": "ignored", "ResultPath": null, "Next": "Nothing"},
            "Nothing": {"Type": "Pass", "InputPath": null, "End": true}
        }
    });
    let env = Env::new(&[("flow", def)]);
    let input = json!({"order": {"id": 7, "items": ["a", "b"], "raw": "{\"k\":1}"}});
    let arn = env.start("flow", input).await;
    assert_eq!(env.output(&arn), json!({}), "InputPath null gives {{}}");
    let exited: Vec<Value> = env
        .sf
        .history(&arn)
        .into_iter()
        .filter(|e| e["type"] == "PassStateExited")
        .map(|e| {
            serde_json::from_str(e["stateExitedEventDetails"]["output"].as_str().unwrap()).unwrap()
        })
        .collect();
    assert_eq!(
        exited[0]["shaped"],
        json!({
            "id": 7, "first": "a", "label": "order 7 of id-1",
            "exec": arn, "state": "Shape", "entered": "2026-01-01T00:00:00.000Z",
            "parsed": {"k": 1}, "text": "[\"a\",\"b\"]", "uuid": "id-2",
            "static": {"nested": [1, {"deep": 7}]}
        }),
        "ResultPath keeps the raw input and adds the result"
    );
    assert_eq!(exited[0]["order"]["id"], 7);
    assert_eq!(exited[1], json!({"constant": {"constant": true}}));
    assert_eq!(
        exited[2], exited[1],
        "ResultPath null passes the input through"
    );
    assert_eq!(
        env.types(&arn),
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[tokio::test]
async fn ids_and_previous_event_ids_chain() {
    let env = Env::new(&[("p", one(json!({"Type": "Pass", "End": true})))]);
    let arn = env.start("p", json!({"a": 1})).await;
    let h = env.sf.history(&arn);
    for (i, e) in h.iter().enumerate() {
        assert_eq!(e["id"], json!(i + 1));
        assert_eq!(e["previousEventId"], json!(i));
        assert_eq!(e["timestamp"], json!(1_767_225_600.0));
    }
    assert_eq!(
        h[0]["executionStartedEventDetails"],
        json!({"input": "{\"a\":1}", "inputDetails": {"truncated": false}, "roleArn": "arn:aws:iam::000000000000:role/devstack"})
    );
    assert_eq!(
        h[1]["stateEnteredEventDetails"],
        json!({"name": "S", "input": "{\"a\":1}", "inputDetails": {"truncated": false}})
    );
    assert_eq!(
        h[3]["executionSucceededEventDetails"],
        json!({"output": "{\"a\":1}", "outputDetails": {"truncated": false}})
    );
}

#[tokio::test]
async fn runtime_errors_fail_the_execution_and_are_not_caught() {
    let task = |extra: Value| {
        let mut t = json!({"Type": "Task", "Resource": FN, "End": true,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]});
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        json!({"StartAt": "S", "States": {"S": t, "Caught": {"Type": "Succeed"}}})
    };
    let cases = [
        (
            "inputpath",
            task(json!({"InputPath": "$.missing"})),
            "States.Runtime",
            "Invalid path '$.missing'",
        ),
        (
            "params",
            task(json!({"Parameters": {"x.$": "$.missing"}})),
            "States.Runtime",
            "specified for the field 'x.$'",
        ),
        (
            "selector",
            task(json!({"ResultSelector": {"x.$": "$.missing"}})),
            "States.Runtime",
            "could not be found",
        ),
        (
            "outputpath",
            task(json!({"OutputPath": "$.missing"})),
            "States.Runtime",
            "Invalid path",
        ),
        (
            "resultpath",
            task(json!({"ResultPath": "$.a.b"})),
            "States.ResultPathMatchFailure",
            "Unable to apply ResultPath",
        ),
        (
            "intrinsic",
            task(json!({"Parameters": {"x.$": "States.StringToJson($.a)"}})),
            "States.IntrinsicFailure",
            "not JSON",
        ),
    ];
    let machines: Vec<(&str, Value)> = cases.iter().map(|(n, d, _, _)| (*n, d.clone())).collect();
    let env = Env::new(&machines);
    for (name, _, error, cause) in cases {
        let arn = env.start(name, json!({"a": "not json {"})).await;
        let d = env.describe(&arn);
        assert_eq!(d["status"], "FAILED", "{name}: {d}");
        assert_eq!(d["error"], error, "{name}: {d}");
        let c = d["cause"].as_str().unwrap();
        assert!(c.contains(cause), "{name}: {c}");
        assert!(
            c.starts_with(
                "An error occurred while executing the state 'S' (entered at the event id #2)."
            ),
            "{name}: {c}"
        );
        assert_eq!(env.types(&arn).last().unwrap(), "ExecutionFailed");
    }
}

// ---- Choice ----

#[tokio::test]
async fn choice_routes_by_the_first_matching_rule() {
    let def = json!({
        "StartAt": "Route",
        "States": {
            "Route": {
                "Type": "Choice",
                "Choices": [
                    {"Not": {"Variable": "$.n", "IsPresent": true}, "Next": "None"},
                    {"Variable": "$.n", "NumericGreaterThan": 100, "Next": "Big"},
                    {"And": [{"Variable": "$.n", "NumericGreaterThan": 10}, {"Variable": "$.tag", "StringMatches": "x*"}], "Next": "Tagged"}
                ],
                "Default": "Small",
                "OutputPath": "$.tag"
            },
            "Big": {"Type": "Pass", "Result": "big", "End": true},
            "Tagged": {"Type": "Pass", "Result": "tagged", "End": true},
            "None": {"Type": "Pass", "Result": "none", "End": true},
            "Small": {"Type": "Pass", "Result": "small", "End": true}
        }
    });
    let strict = json!({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "D"}]},
        "D": {"Type": "Succeed"}
    }});
    let env = Env::new(&[("route", def), ("strict", strict)]);
    for (input, want) in [
        (json!({"n": 500, "tag": "y"}), "big"),
        (json!({"n": 50, "tag": "xx"}), "tagged"),
        (json!({"n": 50, "tag": "yy"}), "small"),
        (json!({"tag": "q"}), "none"),
    ] {
        let arn = env.start("route", input.clone()).await;
        assert_eq!(env.output(&arn), json!(want), "{input}");
        let exited = env.event(&arn, "ChoiceStateExited");
        assert_eq!(
            exited["stateExitedEventDetails"]["output"],
            json!(input["tag"].to_string()),
            "OutputPath applies to a Choice"
        );
    }
    let arn = env.start("strict", json!({"n": 2})).await;
    let d = env.describe(&arn);
    assert_eq!(
        (d["status"].as_str(), d["error"].as_str()),
        (Some("FAILED"), Some("States.NoChoiceMatched"))
    );
    let arn = env.start("strict", json!({})).await;
    assert_eq!(
        env.describe(&arn)["error"],
        "States.Runtime",
        "a missing Variable"
    );
}

// ---- Wait on the virtual clock ----

#[tokio::test]
async fn waits_follow_the_virtual_clock() {
    let wait = |w: Value| {
        let mut s = json!({"Type": "Wait", "Next": "Done"});
        for (k, v) in w.as_object().unwrap() {
            s[k] = v.clone();
        }
        json!({"StartAt": "W", "States": {"W": s, "Done": {"Type": "Succeed"}}})
    };
    let env = Env::new(&[
        ("seconds", wait(json!({"Seconds": 10}))),
        (
            "timestamp",
            wait(json!({"Timestamp": "2026-01-01T00:00:30Z"})),
        ),
        ("seconds_path", wait(json!({"SecondsPath": "$.s"}))),
        ("timestamp_path", wait(json!({"TimestampPath": "$.t"}))),
        ("past", wait(json!({"Timestamp": "2020-01-01T00:00:00Z"}))),
    ]);
    let input = json!({"s": 20, "t": "2026-01-01T00:00:40Z"});
    let runs: Vec<(&str, String, i64)> = vec![
        ("seconds", env.start("seconds", input.clone()).await, 10),
        ("timestamp", env.start("timestamp", input.clone()).await, 30),
        (
            "seconds_path",
            env.start("seconds_path", input.clone()).await,
            20,
        ),
        (
            "timestamp_path",
            env.start("timestamp_path", input.clone()).await,
            40,
        ),
    ];
    let past = env.start("past", input.clone()).await;
    assert_eq!(
        env.status(&past),
        "SUCCEEDED",
        "a time already past does not wait"
    );
    assert!(env.sf.is_idle());
    for (name, arn, _) in &runs {
        assert_eq!(env.status(arn), "RUNNING", "{name}");
        assert_eq!(env.types(arn).last().unwrap(), "WaitStateEntered", "{name}");
    }
    for second in 1..=40 {
        env.advance(1000).await;
        for (name, arn, at) in &runs {
            let want = if second >= *at {
                "SUCCEEDED"
            } else {
                "RUNNING"
            };
            assert_eq!(env.status(arn), want, "{name} at {second} s");
        }
    }
    for (name, arn, at) in &runs {
        let exited = env.event(arn, "WaitStateExited");
        assert_eq!(
            exited["timestamp"],
            json!((T0 + at * 1000) as f64 / 1000.0),
            "{name}"
        );
    }
    let bad = Env::new(&[("sp", wait(json!({"SecondsPath": "$.s"})))]);
    let arn = bad.start("sp", json!({"s": -1})).await;
    assert_eq!(bad.describe(&arn)["error"], "States.Runtime");
}

// ---- Retry and Catch ----

fn retrying(retry: Value, catch: Value) -> Value {
    json!({
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Task", "Resource": FN, "Retry": retry, "Catch": catch, "ResultPath": "$.result", "Next": "Done"},
            "Done": {"Type": "Succeed"},
            "Handle": {"Type": "Pass", "End": true}
        }
    })
}

#[tokio::test]
async fn retries_back_off_on_the_clock() {
    let def = retrying(
        json!([{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "BackoffRate": 3, "MaxAttempts": 3}]),
        json!([]),
    );
    let env = Env::new(&[("m", def)]);
    env.fake.lambda_replies([
        Reply::FnError("Flaky"),
        Reply::FnError("Flaky"),
        Reply::FnError("Flaky"),
        Reply::Ok(json!({"ok": true})),
    ]);
    let arn = env.start("m", json!({"in": 1})).await;
    // Attempts at 0, 2, 2+6 = 8 and 8+18 = 26 s; never a millisecond early.
    for (advance_to, calls) in [
        (1_999, 1),
        (2_000, 2),
        (7_999, 2),
        (8_000, 3),
        (25_999, 3),
        (26_000, 4),
    ] {
        let now = env.clock.now_ms() - T0;
        env.advance(advance_to - now).await;
        assert_eq!(env.fake.calls().len(), calls, "at {advance_to} ms");
    }
    assert_eq!(env.fake.call_times(), vec![0, 2, 8, 26]);
    assert_eq!(env.output(&arn), json!({"in": 1, "result": {"ok": true}}));
    assert_eq!(
        env.types(&arn),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionFailed",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionFailed",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionFailed",
            "LambdaFunctionScheduled",
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
    let failed = env.event(&arn, "LambdaFunctionFailed");
    assert_eq!(failed["lambdaFunctionFailedEventDetails"]["error"], "Flaky");
    assert!(
        failed["lambdaFunctionFailedEventDetails"]["cause"]
            .as_str()
            .unwrap()
            .contains("it broke")
    );
}

#[tokio::test]
async fn max_delay_caps_the_backoff_and_each_retrier_counts_its_own() {
    let def = retrying(
        json!([
            {"ErrorEquals": ["A"], "IntervalSeconds": 10, "BackoffRate": 10, "MaxAttempts": 3, "MaxDelaySeconds": 15},
            {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 1}
        ]),
        json!([]),
    );
    let env = Env::new(&[("m", def)]);
    env.fake.lambda_replies([
        Reply::FnError("A"),
        Reply::FnError("B"),
        Reply::FnError("A"),
        Reply::FnError("A"),
        Reply::Ok(json!(1)),
    ]);
    let arn = env.start("m", json!({})).await;
    for _ in 0..60 {
        env.advance(1000).await;
    }
    // A at 0 -> +10; B at 10 -> +1 (the second retrier); A at 11 -> +min(100, 15); A at 26
    // -> +15 (capped); success at 41.
    assert_eq!(env.fake.call_times(), vec![0, 10, 11, 26, 41]);
    assert_eq!(env.status(&arn), "SUCCEEDED");
}

#[tokio::test]
async fn exhausted_retries_go_to_the_catcher_with_the_error_at_its_result_path() {
    let def = retrying(
        json!([{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1}]),
        json!([
            {"ErrorEquals": ["Other"], "Next": "Done"},
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handle"}
        ]),
    );
    let env = Env::new(&[("m", def)]);
    env.fake.lambda_replies([
        Reply::FnError("Boom"),
        Reply::FnError("Boom"),
        Reply::FnError("Boom"),
    ]);
    let arn = env.start("m", json!({"keep": "me"})).await;
    env.advance(1000).await;
    env.advance(1000).await;
    assert_eq!(env.fake.call_times(), vec![0, 1, 2]);
    let out = env.output(&arn);
    assert_eq!(out["keep"], "me");
    assert_eq!(out["error"]["Error"], "Boom");
    assert!(
        out["error"]["Cause"]
            .as_str()
            .unwrap()
            .contains("\"errorType\":\"Boom\"")
    );
    let types = env.types(&arn);
    assert_eq!(
        &types[types.len() - 5..],
        [
            "LambdaFunctionFailed",
            "TaskStateExited",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[tokio::test]
async fn error_names_and_what_catches_them() {
    let catch_all = |errors: Value| {
        retrying(
            json!([]),
            json!([{"ErrorEquals": errors, "ResultPath": "$.error", "Next": "Handle"}]),
        )
    };
    let env = Env::new(&[
        ("all", catch_all(json!(["States.ALL"]))),
        ("taskfailed", catch_all(json!(["States.TaskFailed"]))),
        ("timeout_only", catch_all(json!(["States.Timeout"]))),
        (
            "specific",
            catch_all(json!(["Lambda.TooManyRequestsException", "Lambda.Unknown"])),
        ),
    ]);
    let cases: &[(&str, Reply, &str, bool)] = &[
        ("all", Reply::FnError("Custom"), "Custom", true),
        ("taskfailed", Reply::FnError("Custom"), "Custom", true),
        (
            "taskfailed",
            Reply::Service("TooManyRequestsException", 429),
            "Lambda.TooManyRequestsException",
            true,
        ),
        ("timeout_only", Reply::FnError("Custom"), "Custom", false),
        (
            "specific",
            Reply::Service("TooManyRequestsException", 429),
            "Lambda.TooManyRequestsException",
            true,
        ),
        ("specific", Reply::FnError(""), "Lambda.Unknown", true),
        (
            "specific",
            Reply::Service("ResourceNotFoundException", 404),
            "Lambda.ResourceNotFoundException",
            false,
        ),
        (
            "specific",
            Reply::Service("KMSDisabledException", 502),
            "Lambda.AWSLambdaException",
            false,
        ),
    ];
    for (machine, reply, error, caught) in cases {
        env.fake.lambda_replies([reply.clone()]);
        let arn = env.start(machine, json!({})).await;
        let d = env.describe(&arn);
        if *caught {
            let out: Value = serde_json::from_str(d["output"].as_str().unwrap()).unwrap();
            assert_eq!(out["error"]["Error"], *error, "{machine} {reply:?}");
        } else {
            assert_eq!(d["status"], "FAILED", "{machine} {reply:?}");
            assert_eq!(d["error"], *error, "{machine} {reply:?}");
        }
    }
}

#[tokio::test]
async fn a_task_timeout_is_states_timeout() {
    let def = json!({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": FN, "TimeoutSeconds": 1, "End": true,
              "Retry": [{"ErrorEquals": ["States.TaskFailed"]}],
              "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Late"}]},
        "Late": {"Type": "Pass", "Result": "late", "End": true}
    }});
    let env = Env::new(&[("m", def)]);
    env.fake.lambda_replies([Reply::Hang]);
    let arn = env.start("m", json!({})).await;
    assert_eq!(env.output(&arn), json!("late"));
    assert_eq!(
        env.fake.calls().len(),
        1,
        "States.TaskFailed does not match States.Timeout"
    );
    let t = env.event(&arn, "LambdaFunctionTimedOut");
    assert_eq!(
        t["lambdaFunctionTimedOutEventDetails"]["error"],
        "States.Timeout"
    );
    assert_eq!(
        env.event(&arn, "LambdaFunctionScheduled")["lambdaFunctionScheduledEventDetails"]["timeoutInSeconds"],
        1
    );
}

// ---- Task integrations ----

#[tokio::test]
async fn lambda_invoke_wraps_the_payload() {
    let def = json!({"StartAt": "I", "States": {"I": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": "check", "Qualifier": "live", "Payload": {"code.$": "$.code"}},
        "ResultSelector": {"body.$": "$.Payload", "status.$": "$.StatusCode"},
        "End": true
    }}});
    let env = Env::new(&[("m", def)]);
    env.fake.lambda_replies([Reply::Ok(json!({"safe": true}))]);
    let arn = env.start("m", json!({"code": "abc"})).await;
    assert_eq!(
        env.output(&arn),
        json!({"body": {"safe": true}, "status": 200})
    );
    let calls = env.fake.calls();
    assert_eq!(calls[0].target, "check:live");
    assert_eq!(calls[0].body, json!({"code": "abc"}));
    let succeeded = env.event(&arn, "TaskSucceeded")["taskSucceededEventDetails"].clone();
    assert_eq!(
        (
            succeeded["resourceType"].as_str(),
            succeeded["resource"].as_str()
        ),
        (Some("lambda"), Some("invoke"))
    );
    let raw: Value = serde_json::from_str(succeeded["output"].as_str().unwrap()).unwrap();
    assert_eq!(raw["Payload"], json!({"safe": true}));
    assert_eq!(raw["StatusCode"], 200);
    assert_eq!(raw["ExecutedVersion"], "$LATEST");
    assert_eq!(raw["SdkResponseMetadata"]["RequestId"], "req-1");
    let scheduled = env.event(&arn, "TaskScheduled")["taskScheduledEventDetails"].clone();
    assert_eq!(scheduled["region"], "us-east-1");
    assert_eq!(
        serde_json::from_str::<Value>(scheduled["parameters"].as_str().unwrap()).unwrap(),
        json!({"FunctionName": "check", "Qualifier": "live", "Payload": {"code": "abc"}})
    );
    assert_eq!(
        env.types(&arn),
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[tokio::test]
async fn a_plain_function_arn_gets_the_input_and_returns_its_raw_output() {
    let def =
        json!({"StartAt": "F", "States": {"F": {"Type": "Task", "Resource": FN, "End": true}}});
    let env = Env::new(&[("m", def)]);
    env.fake.lambda_replies([Reply::Ok(json!({"raw": [1, 2]}))]);
    let arn = env.start("m", json!({"x": 1})).await;
    assert_eq!(env.output(&arn), json!({"raw": [1, 2]}));
    assert_eq!(env.fake.calls()[0].target, FN);
    assert_eq!(env.fake.calls()[0].body, json!({"x": 1}));
    assert_eq!(
        env.event(&arn, "LambdaFunctionScheduled")["lambdaFunctionScheduledEventDetails"],
        json!({"resource": FN, "input": "{\"x\":1}", "inputDetails": {"truncated": false}})
    );
}

#[tokio::test]
async fn dynamodb_integrations_forward_the_request_and_name_errors() {
    let task = |op: &str| {
        json!({
            "Type": "Task", "Resource": format!("arn:aws:states:::dynamodb:{op}"),
            "Parameters": {"TableName": "T", "Key": {"PK": {"S.$": "States.Format('LINK#{}', $.code)"}}},
            "ResultPath": "$.db", "Next": "Next",
            "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "ResultPath": "$.error", "Next": "Superseded"}]
        })
    };
    let machine = |op: &str| {
        json!({"StartAt": "Db", "States": {
            "Db": task(op), "Next": {"Type": "Succeed"}, "Superseded": {"Type": "Pass", "Result": "superseded", "End": true}
        }})
    };
    let env = Env::new(&[
        ("get", machine("getItem")),
        ("put", machine("putItem")),
        ("update", machine("updateItem")),
        ("delete", machine("deleteItem")),
    ]);
    env.fake
        .dynamo_replies([Ok(json!({"Item": {"PK": {"S": "LINK#abc"}}}))]);
    let arn = env.start("get", json!({"code": "abc"})).await;
    let out = env.output(&arn);
    assert_eq!(out["db"]["Item"], json!({"PK": {"S": "LINK#abc"}}));
    assert_eq!(out["db"]["SdkHttpMetadata"]["HttpStatusCode"], 200);
    assert!(out["db"]["SdkResponseMetadata"]["RequestId"].is_string());
    for (m, op) in [
        ("put", "PutItem"),
        ("update", "UpdateItem"),
        ("delete", "DeleteItem"),
    ] {
        let arn = env.start(m, json!({"code": "abc"})).await;
        assert_eq!(env.status(&arn), "SUCCEEDED");
        let call = env.fake.calls().pop().unwrap();
        assert_eq!(call.target, op);
        assert_eq!(
            call.body,
            json!({"TableName": "T", "Key": {"PK": {"S": "LINK#abc"}}})
        );
        let s = env.event(&arn, "TaskScheduled")["taskScheduledEventDetails"].clone();
        assert_eq!(s["resourceType"], "dynamodb");
    }
    for (reply, outcome) in [
        (("ConditionalCheckFailedException", 400), Ok("superseded")),
        (
            ("InternalServerError", 500),
            Err("DynamoDB.InternalServerErrorException"),
        ),
        (
            ("ValidationException", 400),
            Err("DynamoDB.AmazonDynamoDBException"),
        ),
        (
            ("ProvisionedThroughputExceededException", 400),
            Err("DynamoDB.ProvisionedThroughputExceededException"),
        ),
    ] {
        env.fake.dynamo_replies([Err(reply)]);
        let arn = env.start("update", json!({"code": "abc"})).await;
        match outcome {
            Ok(v) => assert_eq!(env.output(&arn), json!(v)),
            Err(e) => {
                let d = env.describe(&arn);
                assert_eq!(d["error"], e, "{reply:?}");
                let cause = d["cause"].as_str().unwrap();
                assert!(
                    cause.contains(&format!("Error Code: {}", reply.0)),
                    "{cause}"
                );
                let f = env.event(&arn, "TaskFailed")["taskFailedEventDetails"].clone();
                assert_eq!(
                    (f["resourceType"].as_str(), f["resource"].as_str()),
                    (Some("dynamodb"), Some("updateItem"))
                );
            }
        }
    }
}

#[tokio::test]
async fn another_resource_fails_the_execution_naming_it() {
    let def = json!({"StartAt": "Q", "States": {"Q": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": true,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Q"}]
    }}});
    let env = Env::new(&[("m", def)]);
    assert!(
        env.sf
            .warnings()
            .iter()
            .any(|w| w.contains("arn:aws:states:::sqs:sendMessage")),
        "{:?}",
        env.sf.warnings()
    );
    let arn = env.start("m", json!({})).await;
    let d = env.describe(&arn);
    assert_eq!(d["status"], "FAILED");
    assert_eq!(d["error"], "States.Runtime");
    assert!(d["cause"].as_str().unwrap().contains(
        "does not emulate the Task resource 'arn:aws:states:::sqs:sendMessage' of state 'Q'"
    ));
    assert!(env.fake.calls().is_empty());
}

// ---- Fail, Succeed, timeouts, stop ----

#[tokio::test]
async fn fail_and_succeed_states() {
    let env = Env::new(&[
        (
            "fail",
            one(json!({"Type": "Fail", "Error": "Nope", "Cause": "because"})),
        ),
        (
            "fail_path",
            one(
                json!({"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('c={}', $.c)"}),
            ),
        ),
        (
            "succeed",
            one(json!({"Type": "Succeed", "OutputPath": "$.keep"})),
        ),
    ]);
    let arn = env.start("fail", json!({})).await;
    let d = env.describe(&arn);
    assert_eq!(
        (d["error"].as_str(), d["cause"].as_str()),
        (Some("Nope"), Some("because"))
    );
    assert_eq!(
        env.types(&arn),
        ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]
    );
    let arn = env.start("fail_path", json!({"e": "E1", "c": 3})).await;
    let d = env.describe(&arn);
    assert_eq!(
        (d["error"].as_str(), d["cause"].as_str()),
        (Some("E1"), Some("c=3"))
    );
    let arn = env.start("succeed", json!({"keep": [1]})).await;
    assert_eq!(env.output(&arn), json!([1]));
    assert_eq!(
        env.types(&arn),
        [
            "ExecutionStarted",
            "SucceedStateEntered",
            "SucceedStateExited",
            "ExecutionSucceeded"
        ]
    );
}

#[tokio::test]
async fn an_execution_times_out_on_the_clock() {
    let def = json!({"StartAt": "W", "TimeoutSeconds": 5, "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}});
    let env = Env::new(&[("m", def)]);
    let arn = env.start("m", json!({})).await;
    env.advance(4_999).await;
    assert_eq!(env.status(&arn), "RUNNING");
    env.advance(1).await;
    let d = env.describe(&arn);
    assert_eq!(
        (d["status"].as_str(), d["error"].as_str()),
        (Some("TIMED_OUT"), Some("States.Timeout"))
    );
    assert_eq!(env.types(&arn).last().unwrap(), "ExecutionTimedOut");
}

#[tokio::test]
async fn stop_execution_aborts_a_waiting_or_working_execution() {
    let env = Env::new(&[
        (
            "wait",
            one(json!({"Type": "Wait", "Seconds": 60, "End": true})),
        ),
        (
            "task",
            one(json!({"Type": "Task", "Resource": FN, "End": true})),
        ),
    ]);
    let waiting = env.start("wait", json!({})).await;
    let stopped = env.ok(
        "StopExecution",
        json!({"executionArn": waiting, "error": "Manual", "cause": "by a test"}),
    );
    assert_eq!(stopped["stopDate"], json!(1_767_225_600.0));
    env.fake.lambda_replies([Reply::Hang]);
    let working = env
        .sf
        .start_execution(&machine_arn("task"), Some("busy"), "{}")
        .unwrap();
    // The execution is in its task call: it is busy, not idle, until stopped.
    while !env
        .types(&working)
        .iter()
        .any(|t| t == "LambdaFunctionStarted")
    {
        tokio::task::yield_now().await;
    }
    assert!(!env.sf.is_idle());
    env.ok("StopExecution", json!({"executionArn": working}));
    env.sf.idle().await;
    env.advance(120_000).await;
    for arn in [&waiting, &working] {
        let d = env.describe(arn);
        assert_eq!(d["status"], "ABORTED", "{d}");
        assert_eq!(env.types(arn).last().unwrap(), "ExecutionAborted");
    }
    assert_eq!(env.describe(&waiting)["error"], "Manual");
    assert_eq!(
        env.event(&waiting, "ExecutionAborted")["executionAbortedEventDetails"],
        json!({"error": "Manual", "cause": "by a test"})
    );
    // Stopping a finished execution changes nothing.
    env.ok("StopExecution", json!({"executionArn": waiting}));
    assert_eq!(env.describe(&waiting)["status"], "ABORTED");
}

// ---- the API ----

#[tokio::test]
async fn the_api_answers_in_step_functions_shapes() {
    let env = Env::new(&[("tmpl", one(json!({"Type": "Pass", "End": true})))]);
    let def = one(json!({"Type": "Pass", "Result": {"made": true}, "End": true})).to_string();
    let created = env.ok(
        "CreateStateMachine",
        json!({"name": "made", "definition": def, "roleArn": "arn:aws:iam::000000000000:role/r"}),
    );
    assert_eq!(created["stateMachineArn"], machine_arn("made"));
    assert_eq!(created["creationDate"], json!(1_767_225_600.0));
    let again = env.ok(
        "CreateStateMachine",
        json!({"name": "made", "definition": def, "roleArn": "arn:aws:iam::000000000000:role/r"}),
    );
    assert_eq!(again, created, "idempotent for the same definition");
    for (body, code, says) in [
        (
            json!({"name": "made", "definition": one(json!({"Type": "Succeed"})).to_string(), "roleArn": "arn:aws:iam::0:role/r"}),
            "StateMachineAlreadyExists",
            "State Machine Already Exists",
        ),
        (
            json!({"name": "bad name", "definition": def, "roleArn": "arn:aws:iam::0:role/r"}),
            "InvalidName",
            "Invalid Name",
        ),
        (
            json!({"name": "x", "definition": "{", "roleArn": "arn:aws:iam::0:role/r"}),
            "InvalidDefinition",
            "INVALID_JSON_DESCRIPTION",
        ),
        (
            json!({"name": "x", "definition": one(json!({"Type": "Parallel", "Branches": [], "End": true})).to_string(), "roleArn": "arn:aws:iam::0:role/r"}),
            "InvalidDefinition",
            "Parallel states are not supported by devstack yet",
        ),
        (
            json!({"name": "x", "roleArn": "arn:aws:iam::0:role/r"}),
            "ValidationException",
            "'definition' failed",
        ),
        (
            json!({"name": "x", "definition": def, "roleArn": "arn:aws:iam::0:role/r", "type": "FAST"}),
            "ValidationException",
            "enum",
        ),
    ] {
        let a = env.call("CreateStateMachine", body.clone());
        assert_eq!(
            (a.status, a.error_code()),
            (400, Some(code)),
            "{body}: {}",
            a.body
        );
        assert!(
            a.body["message"].as_str().unwrap().contains(says),
            "{}",
            a.body
        );
    }

    let list = env.ok("ListStateMachines", json!({}));
    let names: Vec<&str> = list["stateMachines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["made", "tmpl"]);
    assert_eq!(list["stateMachines"][0]["type"], "STANDARD");
    let page = env.ok("ListStateMachines", json!({"maxResults": 1}));
    assert_eq!(page["stateMachines"].as_array().unwrap().len(), 1);
    let rest = env.ok(
        "ListStateMachines",
        json!({"maxResults": 1, "nextToken": page["nextToken"]}),
    );
    assert_eq!(rest["stateMachines"][0]["name"], "tmpl");
    assert!(rest.get("nextToken").is_none());

    let d = env.ok(
        "DescribeStateMachine",
        json!({"stateMachineArn": machine_arn("made")}),
    );
    assert_eq!(d["definition"], json!(def));
    assert_eq!(
        (d["status"].as_str(), d["type"].as_str()),
        (Some("ACTIVE"), Some("STANDARD"))
    );
    let tmpl = env.ok(
        "DescribeStateMachine",
        json!({"stateMachineArn": machine_arn("tmpl")}),
    );
    assert_eq!(
        serde_json::from_str::<Value>(tmpl["definition"].as_str().unwrap()).unwrap(),
        one(json!({"Type": "Pass", "End": true}))
    );
    let a = env.call(
        "DescribeStateMachine",
        json!({"stateMachineArn": machine_arn("nope")}),
    );
    assert_eq!(a.error_code(), Some("StateMachineDoesNotExist"));
    let a = env.call("DescribeStateMachine", json!({"stateMachineArn": "nope"}));
    assert_eq!(a.error_code(), Some("InvalidArn"));

    // Executions.
    let started = env.ok(
        "StartExecution",
        json!({"stateMachineArn": machine_arn("made"), "name": "first", "input": "{\"a\":1}"}),
    );
    let first = started["executionArn"].as_str().unwrap().to_owned();
    assert_eq!(
        first,
        "arn:aws:states:us-east-1:000000000000:execution:made:first"
    );
    assert_eq!(started["startDate"], json!(1_767_225_600.0));
    env.sf.idle().await;
    let d = env.describe(&first);
    assert_eq!(
        d,
        json!({
            "executionArn": first, "stateMachineArn": machine_arn("made"), "name": "first",
            "status": "SUCCEEDED", "startDate": 1_767_225_600.0, "stopDate": 1_767_225_600.0,
            "input": "{\"a\":1}", "inputDetails": {"included": true},
            "output": "{\"made\":true}", "outputDetails": {"included": true},
            "redriveCount": 0, "redriveStatus": "NOT_REDRIVABLE"
        })
    );
    for (body, code) in [
        (
            json!({"stateMachineArn": machine_arn("made"), "name": "first", "input": "{\"a\":1}"}),
            "ExecutionAlreadyExists",
        ),
        (
            json!({"stateMachineArn": machine_arn("made"), "input": "{nope"}),
            "InvalidExecutionInput",
        ),
        (
            json!({"stateMachineArn": machine_arn("gone")}),
            "StateMachineDoesNotExist",
        ),
        (
            json!({"stateMachineArn": machine_arn("made"), "name": "a/b"}),
            "InvalidName",
        ),
        (json!({}), "ValidationException"),
    ] {
        let a = env.call("StartExecution", body.clone());
        assert_eq!(a.error_code(), Some(code), "{body}: {}", a.body);
    }
    let second = env.ok(
        "StartExecution",
        json!({"stateMachineArn": machine_arn("made")}),
    )["executionArn"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(second.ends_with(":made:id-1"), "a generated name: {second}");
    env.sf.idle().await;
    let a = env.call(
        "DescribeExecution",
        json!({"executionArn": "arn:aws:states:us-east-1:000000000000:execution:made:nope"}),
    );
    assert_eq!(a.error_code(), Some("ExecutionDoesNotExist"));

    // History.
    let h = env.ok("GetExecutionHistory", json!({"executionArn": first}));
    let types: Vec<&str> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ExecutionStarted",
            "PassStateEntered",
            "PassStateExited",
            "ExecutionSucceeded"
        ]
    );
    let rev = env.ok(
        "GetExecutionHistory",
        json!({"executionArn": first, "reverseOrder": true, "maxResults": 3}),
    );
    let ids: Vec<i64> = rev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [4, 3, 2]);
    let last = env.ok("GetExecutionHistory", json!({"executionArn": first, "reverseOrder": true, "maxResults": 3, "nextToken": rev["nextToken"]}));
    assert_eq!(last["events"][0]["id"], 1);
    assert!(last.get("nextToken").is_none());
    let lean = env.ok(
        "GetExecutionHistory",
        json!({"executionArn": first, "includeExecutionData": false}),
    );
    assert!(
        lean["events"][0]["executionStartedEventDetails"]
            .get("input")
            .is_none()
    );
}

#[tokio::test]
async fn list_executions_filters_and_pages() {
    let env = Env::new(&[
        ("quick", one(json!({"Type": "Pass", "End": true}))),
        (
            "slow",
            one(json!({"Type": "Wait", "Seconds": 10, "End": true})),
        ),
    ]);
    let q1 = env.start("quick", json!({})).await;
    let s1 = env.start("slow", json!({})).await;
    let q2 = env.start("quick", json!({})).await;
    let list = |body: Value| {
        let v = env.ok("ListExecutions", body);
        let arns: Vec<String> = v["executions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["executionArn"].as_str().unwrap().to_owned())
            .collect();
        (arns, v)
    };
    let (all, v) = list(json!({"stateMachineArn": machine_arn("quick")}));
    assert_eq!(all, [q2.clone(), q1.clone()], "newest first");
    assert_eq!(v["executions"][0]["status"], "SUCCEEDED");
    assert!(v["executions"][0]["stopDate"].is_number());
    let (running, v) =
        list(json!({"stateMachineArn": machine_arn("slow"), "statusFilter": "RUNNING"}));
    assert_eq!(running, std::slice::from_ref(&s1));
    assert!(v["executions"][0].get("stopDate").is_none());
    let (none, _) =
        list(json!({"stateMachineArn": machine_arn("slow"), "statusFilter": "SUCCEEDED"}));
    assert!(none.is_empty());
    let (page, v) = list(json!({"stateMachineArn": machine_arn("quick"), "maxResults": 1}));
    assert_eq!(page, [q2]);
    let (rest, v2) = list(
        json!({"stateMachineArn": machine_arn("quick"), "maxResults": 1, "nextToken": v["nextToken"]}),
    );
    assert_eq!(rest, [q1]);
    assert!(v2.get("nextToken").is_none());
    assert_eq!(
        env.call("ListExecutions", json!({})).error_code(),
        Some("ValidationException")
    );
    assert_eq!(
        env.call(
            "ListExecutions",
            json!({"stateMachineArn": machine_arn("slow"), "statusFilter": "DONE"})
        )
        .error_code(),
        Some("ValidationException")
    );
    env.advance(10_000).await;
    let (done, _) =
        list(json!({"stateMachineArn": machine_arn("slow"), "statusFilter": "SUCCEEDED"}));
    assert_eq!(done, [s1]);
    assert_eq!(env.sf.executions(None).len(), 3);
}

#[tokio::test]
async fn a_refused_template_machine_is_listed_but_never_started() {
    let parallel =
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [], "End": true}}});
    let env = Env::new(&[("par", parallel)]);
    assert!(
        env.sf
            .warnings()
            .iter()
            .any(|w| w.contains("state machine par is refused")
                && w.contains("Parallel states are not supported"))
    );
    assert!(env.sf.machines()[0].refused.is_some());
    let a = env.call(
        "StartExecution",
        json!({"stateMachineArn": machine_arn("par")}),
    );
    assert_eq!(a.error_code(), Some("ValidationException"));
    assert!(
        a.body["message"]
            .as_str()
            .unwrap()
            .contains("devstack cannot run state machine par")
    );
    assert!(env.sf.executions(None).is_empty());
}

#[tokio::test]
async fn unknown_operations_and_bad_bodies() {
    let env = Env::new(&[]);
    assert_eq!(
        env.call("SendTaskSuccess", json!({})).error_code(),
        Some("UnknownOperationException")
    );
    assert_eq!(
        env.sf.dispatch("ListStateMachines", b"nope").error_code(),
        Some("SerializationException")
    );
}

// ---- persistence ----

#[tokio::test]
async fn executions_survive_a_restart_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let retry = json!([{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 5}]);
    let machines = [
        (
            "m",
            json!({"StartAt": "W", "States": {
                "W": {"Type": "Wait", "Seconds": 10, "Next": "T"},
                "T": {"Type": "Task", "Resource": FN, "End": true, "Retry": retry}
            }}),
        ),
        (
            "t",
            one(json!({"Type": "Task", "Resource": FN, "End": true, "Retry": retry})),
        ),
    ];
    let (waited, hung, made) = {
        let env = Env::open(&machines, Some(dir.path()));
        env.ok(
            "CreateStateMachine",
            json!({"name": "made", "definition": one(json!({"Type": "Pass", "End": true})).to_string(), "roleArn": "arn:aws:iam::0:role/r"}),
        );
        let made = env.start("made", json!({})).await;
        let waited = env.start("m", json!({"n": 1})).await;
        // At 10 s its task's call is interrupted: devstack is stopping.
        env.fake.lambda_replies([Reply::Interrupted]);
        env.advance(10_000).await;
        assert_eq!(env.fake.calls().len(), 1);
        // Another is in its call when devstack stops.
        env.fake.lambda_replies([Reply::Hang]);
        let hung = env
            .sf
            .start_execution(&machine_arn("t"), Some("hung"), "{\"n\":2}")
            .unwrap();
        while !env
            .types(&hung)
            .iter()
            .any(|t| t == "LambdaFunctionStarted")
        {
            tokio::task::yield_now().await;
        }
        env.sf.shutdown();
        (waited, hung, made)
    };
    let env = Env::open(&machines, Some(dir.path()));
    // The new run's clock starts at T0 again; devstack keeps a virtual clock's time.
    env.clock.set(T0 + 10_000);
    assert_eq!(env.status(&waited), "RUNNING");
    assert_eq!(env.status(&hung), "RUNNING");
    assert_eq!(
        env.status(&made),
        "SUCCEEDED",
        "API-made machines and their executions are kept"
    );
    assert_eq!(
        env.ok("ListStateMachines", json!({}))["stateMachines"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let before: Vec<usize> = [&waited, &hung]
        .iter()
        .map(|a| env.sf.history(a).len())
        .collect();
    let mut resumed = env.sf.resume();
    resumed.sort();
    let mut want = vec![waited.clone(), hung.clone()];
    want.sort();
    assert_eq!(resumed, want);
    env.sf.idle().await;
    // Each task that was in flight counts as failed (States.TaskFailed): its Retry runs it
    // again 5 s later.
    for (n, arn) in [&waited, &hung].into_iter().enumerate() {
        let h = env.sf.history(arn);
        let failed = &h[before[n]];
        assert_eq!(failed["type"], "LambdaFunctionFailed", "{arn}: {h:?}");
        assert_eq!(
            failed["lambdaFunctionFailedEventDetails"]["error"],
            "States.TaskFailed"
        );
        assert_eq!(failed["id"], json!(before[n] + 1), "ids go on");
    }
    assert!(env.fake.calls().is_empty());
    env.advance(5_000).await;
    assert_eq!(env.fake.calls().len(), 2);
    for arn in [&waited, &hung] {
        assert_eq!(env.status(arn), "SUCCEEDED");
        let types = env.types(arn);
        assert!(
            types.iter().filter(|t| t.ends_with("StateEntered")).count() <= 2,
            "{types:?}"
        );
    }
    assert_eq!(
        env.types(&waited)
            .iter()
            .filter(|t| *t == "WaitStateEntered")
            .count(),
        1
    );
}

#[tokio::test]
async fn a_wait_goes_on_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let machines = [(
        "w",
        one(json!({"Type": "Wait", "Seconds": 30, "End": true})),
    )];
    let arn = {
        let env = Env::open(&machines, Some(dir.path()));
        let arn = env.start("w", json!({})).await;
        env.advance(20_000).await;
        env.sf.shutdown();
        arn
    };
    let env = Env::open(&machines, Some(dir.path()));
    env.clock.set(T0 + 20_000);
    env.sf.resume();
    env.sf.idle().await;
    assert_eq!(env.status(&arn), "RUNNING");
    env.advance(9_999).await;
    assert_eq!(env.status(&arn), "RUNNING");
    env.advance(1).await;
    assert_eq!(env.status(&arn), "SUCCEEDED");
    assert_eq!(
        env.event(&arn, "WaitStateExited")["timestamp"],
        json!((T0 + 30_000) as f64 / 1000.0)
    );
}

// ---- the product's machine ----

fn moderation() -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/../../statemachine/moderation.asl.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace("${CheckFunctionArn}", FN)
    .replace("${TableName}", "Links");
    serde_json::from_str(&text).unwrap()
}

fn link_event(target: &str) -> Value {
    json!({"source": "urlshortener", "detail-type": "link.created", "detail": {"code": "abc1234", "target": target, "needsModeration": true}})
}

#[tokio::test]
async fn the_moderation_machine_activates_rejects_and_gives_up() {
    let env = Env::new(&[("moderation", moderation())]);
    // Safe.
    env.fake.lambda_replies([Reply::Ok(
        json!({"code": "abc1234", "target": "https://ok.example/", "safe": true, "reason": null}),
    )]);
    let arn = env
        .start("moderation", link_event("https://ok.example/"))
        .await;
    assert_eq!(env.status(&arn), "SUCCEEDED");
    let calls = env.fake.calls();
    assert_eq!(
        calls[0].body,
        json!({"code": "abc1234", "target": "https://ok.example/"})
    );
    assert_eq!(calls[1].target, "UpdateItem");
    let update = &calls[1].body;
    assert_eq!(update["TableName"], "Links");
    assert_eq!(
        update["Key"],
        json!({"PK": {"S": "LINK#abc1234"}, "SK": {"S": "META"}})
    );
    assert_eq!(
        update["ExpressionAttributeValues"][":active"],
        json!({"S": "active"})
    );
    assert_eq!(
        update["ExpressionAttributeValues"][":target"],
        json!({"S": "https://ok.example/"})
    );
    assert_eq!(
        update["ExpressionAttributeValues"][":now"],
        json!({"S": "2026-01-01T00:00:00.000Z"})
    );
    // Unsafe.
    env.fake.lambda_replies([Reply::Ok(json!({"code": "abc1234", "target": "https://evil.example/", "safe": false, "reason": "blocklisted word \"evil\""}))]);
    let arn = env
        .start("moderation", link_event("https://evil.example/"))
        .await;
    assert_eq!(env.status(&arn), "SUCCEEDED");
    let reject = env.fake.calls().pop().unwrap();
    assert_eq!(
        reject.body["ExpressionAttributeValues"][":reason"],
        json!({"S": "blocklisted word \"evil\""})
    );
    assert!(env.types(&arn).contains(&"ChoiceStateEntered".to_owned()));
    // Superseded: the conditional write fails.
    env.fake.lambda_replies([Reply::Ok(
        json!({"code": "abc1234", "target": "https://ok.example/", "safe": true, "reason": null}),
    )]);
    env.fake
        .dynamo_replies([Err(("ConditionalCheckFailedException", 400))]);
    let arn = env
        .start("moderation", link_event("https://ok.example/"))
        .await;
    assert_eq!(env.status(&arn), "SUCCEEDED");
    assert!(env.types(&arn).contains(&"SucceedStateEntered".to_owned()));
    // The check keeps failing: retried after 1, 2 and 4 s, then ModerationFailed.
    let before = env.fake.calls().len();
    env.fake
        .lambda_replies(std::iter::repeat_n(Reply::FnError("CheckError"), 4));
    let arn = env
        .start("moderation", link_event("https://down.example/"))
        .await;
    for _ in 0..7 {
        env.advance(1000).await;
    }
    let times: Vec<i64> = env.fake.calls()[before..].iter().map(|c| c.at).collect();
    let start = times[0];
    assert_eq!(
        times.iter().map(|t| (t - start) / 1000).collect::<Vec<_>>(),
        [0, 1, 3, 7]
    );
    let d = env.describe(&arn);
    assert_eq!(
        (d["status"].as_str(), d["error"].as_str()),
        (Some("FAILED"), Some("ModerationFailed"))
    );
    assert_eq!(d["cause"], "The safety check failed after retries");
    let timeline = render_timeline(&d, &env.sf.history(&arn));
    assert!(timeline.contains("LambdaFunctionFailed"), "{timeline}");
    assert!(timeline.contains("+7.000s"), "{timeline}");
}
