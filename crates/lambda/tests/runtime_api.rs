//! The Runtime API contract, exercised by real `lambda_runtime` binaries (crates/fixtures)
//! through real sockets, and the Invoke API around it.

use bytes::Bytes;
use lambda::{FunctionConfig, InvokeError, InvokeRequest, LambdaService, LogSink, Settings};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Builds the fixture functions once per test process (dev profile, shared target dir, so
/// nothing is compiled twice) and returns the path of `name`.
fn fixture(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "fixtures"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the fixture functions failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        target.join("debug")
    });
    dir.join(name)
}

fn config(name: &str, exe: &str) -> FunctionConfig {
    FunctionConfig {
        name: name.into(),
        arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{name}"),
        executable: Some(fixture(exe)),
        environment: BTreeMap::from([
            ("AWS_REGION".into(), "us-east-1".into()),
            ("GREETING".into(), "hello".into()),
        ]),
        memory_mb: 256,
        timeout_secs: 3,
        reserved_concurrency: None,
        handler: "bootstrap".into(),
        runtime: "provided.al2023".into(),
        aliases: vec!["live".into()],
    }
}

struct Running {
    svc: LambdaService,
    base: String,
    _server: tokio::task::JoinHandle<()>,
}

async fn start(functions: Vec<FunctionConfig>, account_concurrency: usize) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let svc = LambdaService::new(
        Settings {
            runtime_api_host: addr.clone(),
            account_concurrency,
            max_instances: None,
            logs: LogSink::new(false, None),
        },
        functions,
    );
    let app = svc.runtime_router().merge(lambda::api::router(svc.clone()));
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Running {
        svc,
        base: format!("http://{addr}"),
        _server: server,
    }
}

fn req(function: &str, payload: Value) -> InvokeRequest {
    InvokeRequest {
        tail_logs: true,
        fault: None,
        function: function.into(),
        qualifier: None,
        payload: Bytes::from(payload.to_string()),
        client_context: None,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn json_of(b: &Bytes) -> Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

#[tokio::test]
async fn an_invocation_carries_the_contract_headers() {
    let r = start(vec![config("echo", "fixture_echo")], 1000).await;
    let before = now_ms();
    let a = r.svc.invoke(req("echo", json!({"n": 1}))).await.unwrap();
    let b = r
        .svc
        .invoke(req("echo:live", json!({"n": 2})))
        .await
        .unwrap();
    let (va, vb) = (json_of(&a.payload), json_of(&b.payload));
    assert_eq!(va["echo"], json!({"n": 1}));
    assert_eq!(va["requestId"], json!(a.request_id));
    assert_ne!(a.request_id, b.request_id, "unique request ids");
    // The deadline is an epoch time, now + the timeout (3 s), not a constant.
    let deadline = va["deadlineMs"].as_i64().unwrap();
    assert!(
        deadline >= before + 3000 && deadline <= now_ms() + 3000,
        "{deadline}"
    );
    assert_eq!(
        va["invokedFunctionArn"],
        json!("arn:aws:lambda:us-east-1:000000000000:function:echo")
    );
    assert_eq!(
        vb["invokedFunctionArn"],
        json!("arn:aws:lambda:us-east-1:000000000000:function:echo:live")
    );
    assert!(va["traceId"].as_str().unwrap().starts_with("Root=1-"));
    assert_eq!(va["env"]["AWS_LAMBDA_FUNCTION_NAME"], json!("echo"));
    assert_eq!(va["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], json!("256"));
    assert_eq!(va["env"]["AWS_LAMBDA_FUNCTION_VERSION"], json!("$LATEST"));
    assert_eq!(va["env"]["GREETING"], json!("hello"));
    // Warm reuse: the second invocation ran in the same process.
    assert_eq!(va["pid"], vb["pid"]);
    assert_eq!(r.svc.instance_count("echo"), 1);

    // The log has START/END/REPORT, with Init Duration on the cold start only.
    let reports: Vec<String> = a
        .logs
        .iter()
        .chain(&b.logs)
        .filter(|l| l.starts_with("REPORT"))
        .cloned()
        .collect();
    assert_eq!(reports.len(), 2, "{:?}", a.logs);
    assert!(reports[0].contains("Init Duration: "), "{}", reports[0]);
    assert!(!reports[1].contains("Init Duration"), "{}", reports[1]);
    for (report, id) in reports.iter().zip([&a.request_id, &b.request_id]) {
        assert!(
            report.starts_with(&format!("REPORT RequestId: {id}\tDuration: ")),
            "{report}"
        );
        assert!(
            report.contains("\tMemory Size: 256 MB\tMax Memory Used: "),
            "{report}"
        );
        let mem: u64 = report
            .split("Max Memory Used: ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(mem > 0, "memory is read from the process: {report}");
    }
    assert!(
        a.logs
            .iter()
            .any(|l| l == &format!("START RequestId: {} Version: $LATEST", a.request_id))
    );
}

#[tokio::test]
async fn errors_crashes_init_failures_and_timeouts_are_reported_and_healed() {
    let mut crashy = config("crashy", "fixture_echo");
    crashy
        .environment
        .insert("FIXTURE_INIT".into(), "crash".into());
    let mut slow = config("slow", "fixture_echo");
    slow.timeout_secs = 1;
    let r = start(vec![config("echo", "fixture_echo"), crashy, slow], 1000).await;

    // A handler error: the invocation fails, the instance lives on.
    let e = r
        .svc
        .invoke(req("echo", json!({"error": "boom"})))
        .await
        .unwrap();
    let err = e.function_error.expect("a function error");
    let body = json_of(&e.payload);
    assert_eq!(body["errorMessage"], json!("boom"));
    assert_eq!(body["errorType"].as_str(), Some(err.error_type.as_str()));
    let ok = r.svc.invoke(req("echo", json!({}))).await.unwrap();
    assert!(ok.function_error.is_none());
    let pid = json_of(&ok.payload)["pid"].clone();

    // A crash mid-invocation: Runtime.ExitError, and the next invocation gets a new process.
    let c = r.svc.invoke(req("echo", json!({"exit": 7}))).await.unwrap();
    assert_eq!(c.function_error.unwrap().error_type, "Runtime.ExitError");
    assert!(
        json_of(&c.payload)["errorMessage"]
            .as_str()
            .unwrap()
            .contains("exit status: 7")
    );
    let again = r.svc.invoke(req("echo", json!({}))).await.unwrap();
    assert_ne!(json_of(&again.payload)["pid"], pid, "replaced");

    // An init crash fails the invocation that started the instance, every time.
    for _ in 0..2 {
        let i = r.svc.invoke(req("crashy", json!({}))).await.unwrap();
        assert_eq!(i.function_error.unwrap().error_type, "Runtime.ExitError");
        assert!(
            i.logs
                .iter()
                .any(|l| l.starts_with("INIT_REPORT") && l.contains("Status: error")),
            "{:?}",
            i.logs
        );
    }

    // A timeout: killed after 1 s, reported as Lambda reports it; the next one is fine.
    let started = Instant::now();
    let t = r
        .svc
        .invoke(req("slow", json!({"sleep_ms": 10_000})))
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(t.function_error.unwrap().error_type, "Sandbox.Timedout");
    assert!(
        json_of(&t.payload)["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Task timed out after 1.00 seconds")
    );
    assert!(
        t.logs
            .iter()
            .any(|l| l.ends_with("Task timed out after 1.00 seconds"))
    );
    let after = r.svc.invoke(req("slow", json!({}))).await.unwrap();
    assert!(after.function_error.is_none());
}

#[tokio::test]
async fn concurrency_scales_out_and_throttles_at_the_limit() {
    let mut limited = config("limited", "fixture_echo");
    limited.reserved_concurrency = Some(2);
    let r = start(vec![limited, config("other", "fixture_echo")], 3).await;

    // Two slow invocations in flight: two instances, and a third is throttled (reserved 2).
    let svc = r.svc.clone();
    let slow = |svc: LambdaService| async move {
        svc.invoke(req("limited", json!({"sleep_ms": 800}))).await
    };
    let a = tokio::spawn(slow(svc.clone()));
    let b = tokio::spawn(slow(svc.clone()));
    // Wait (with a deadline) until both are running.
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.svc.instance_count("limited") < 2 {
        assert!(Instant::now() < deadline, "two instances never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        r.svc.invoke(req("limited", json!({}))).await.unwrap_err(),
        InvokeError::Throttled { reserved: true }
    );
    // The account limit (3) now has one slot left: other takes it, and a fourth is refused.
    let c = tokio::spawn({
        let svc = svc.clone();
        async move { svc.invoke(req("other", json!({"sleep_ms": 300}))).await }
    });
    while r.svc.instance_count("other") < 1 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Slots are taken at invoke time; wait until the third invocation holds its slot.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        r.svc.invoke(req("other", json!({}))).await.unwrap_err(),
        InvokeError::Throttled { reserved: false }
    );
    let pids: Vec<Value> = [a.await, b.await]
        .into_iter()
        .map(|r| json_of(&r.unwrap().unwrap().payload)["pid"].clone())
        .collect();
    assert_ne!(
        pids[0], pids[1],
        "two instances served the two concurrent invocations"
    );
    c.await.unwrap().unwrap();
    // Capacity is back.
    assert!(r.svc.invoke(req("limited", json!({}))).await.is_ok());
}

#[tokio::test]
async fn the_invoke_api_speaks_aws_shapes() {
    let r = start(vec![config("echo", "fixture_echo")], 1000).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", r.base);

    let resp = http
        .post(url("/2015-03-31/functions/echo/invocations"))
        .header("X-Amz-Log-Type", "Tail")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-amz-executed-version"], "$LATEST");
    assert!(resp.headers().get("x-amz-log-result").is_some());
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["echo"], json!({"hello": "world"}));

    let resp = http
        .post(url("/2015-03-31/functions/echo/invocations"))
        .body(r#"{"error":"bad"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-amz-function-error"], "Unhandled");

    let resp = http
        .post(url("/2015-03-31/functions/echo/invocations"))
        .header("X-Amz-Invocation-Type", "Event")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);

    let resp = http
        .post(url("/2015-03-31/functions/nope/invocations"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "ResourceNotFoundException"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["message"],
        json!("Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope")
    );

    let resp = http
        .post(url("/2015-03-31/functions/echo/invocations"))
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.headers()["x-amzn-errortype"],
        "InvalidRequestContentException"
    );

    let list: Value = http
        .get(url("/2015-03-31/functions/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["Functions"][0]["FunctionName"], json!("echo"));
    let get: Value = http
        .get(url("/2015-03-31/functions/echo"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get["Configuration"]["MemorySize"], json!(256));
    assert_eq!(
        get["Configuration"]["Environment"]["Variables"]["GREETING"],
        json!("hello")
    );
}

#[tokio::test]
async fn an_attached_function_is_served_by_whoever_polls() {
    let mut attached = config("attached", "fixture_echo");
    attached.executable = None;
    let r = start(vec![attached], 1000).await;
    let call = tokio::spawn({
        let svc = r.svc.clone();
        async move { svc.invoke(req("attached", json!({"via": "attach"}))).await }
    });
    // Run the fixture ourselves, as a user would under a debugger, with the printed env.
    let api = r.svc.attached_runtime_api("attached");
    let env = r.svc.environment("attached", &api).unwrap();
    assert_eq!(env["AWS_LAMBDA_RUNTIME_API"], api);
    let mut child = tokio::process::Command::new(fixture("fixture_echo"))
        .env_clear()
        .envs(&env)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(json_of(&done.payload)["echo"], json!({"via": "attach"}));
    assert_eq!(
        r.svc.instance_count("attached"),
        0,
        "devstack started nothing"
    );
    child.kill().await.unwrap();
}
