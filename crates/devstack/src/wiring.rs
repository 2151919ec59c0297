//! How the services reach one another inside devstack: EventBridge targets (SQS queues,
//! Lambda functions, Step Functions state machines), Step Functions' Task calls (Lambda and
//! the DynamoDB engine), chaos on PutEvents entries and on `@connections` POSTs, and
//! deterministic ids for seeded runs.

use chaos::Chaos;
use chaos::journal::Entry;
use clock::SharedClock;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Delivers what an EventBridge rule matched to its target.
pub struct Targets {
    pub sqs: Arc<sqs::Sqs>,
    /// `--sqs-endpoint`: the queues live there instead.
    pub external_sqs: Option<Arc<crate::external::RemoteSqs>>,
    pub lambda: lambda::LambdaService,
    pub chaos: Arc<Chaos>,
    pub clock: SharedClock,
    pub invocations: AtomicU64,
    pub states: Arc<states::StepFunctions>,
}

impl Targets {
    fn record(&self, entry: &Entry) {
        record(&self.chaos, &self.clock, entry);
    }
}

fn record(chaos: &Chaos, clock: &SharedClock, entry: &Entry) {
    let journal = chaos.journal();
    if journal.is_enabled()
        && let Err(e) = journal.record(clock.now_ms(), entry)
    {
        tracing::warn!(error = %e, "journal write failed");
    }
}

impl events::Targets for Targets {
    fn deliver(&self, d: events::Delivery) {
        let service = d.target_arn.split(':').nth(2).unwrap_or_default();
        match service {
            // An external queue answers over the network: sent in the background, journaled
            // when it has answered.
            "sqs" if self.external_sqs.is_some() => {
                let remote = self.external_sqs.as_ref().expect("checked");
                let queue = d
                    .target_arn
                    .rsplit(':')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let (chaos, clock) = (self.chaos.clone(), self.clock.clone());
                let rule = d.rule_name.clone();
                remote.send_later(&d.target_arn, d.input, move |sent| match sent {
                    Ok((message_id, md5)) => record(
                        &chaos,
                        &clock,
                        &Entry::Send {
                            queue,
                            message_id,
                            md5,
                            body: None,
                        },
                    ),
                    Err(e) => tracing::warn!(
                        rule = %rule, queue = %queue, error = %e,
                        "EventBridge could not deliver to its SQS target"
                    ),
                });
            }
            // Synchronous: the message is durable before PutEvents answers its caller.
            "sqs" => match self
                .sqs
                .send(&d.target_arn, &d.input, sqs::SendOptions::default())
            {
                Ok(sent) => self.record(&Entry::Send {
                    queue: d
                        .target_arn
                        .rsplit(':')
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    message_id: sent.message_id,
                    md5: sent.md5_of_message_body,
                    body: None,
                }),
                Err(e) => tracing::warn!(
                    rule = %d.rule_name, target = %d.target_arn, error = %e,
                    "EventBridge could not deliver to its SQS target"
                ),
            },
            "lambda" => {
                let n = self.invocations.fetch_add(1, Ordering::SeqCst) + 1;
                let payload: Value = serde_json::from_str(&d.input).unwrap_or(Value::Null);
                self.record(&Entry::Invoke {
                    bus: d.bus.clone(),
                    rule: d.rule_name.clone(),
                    target: d.target_id.clone(),
                    function: d.target_arn.clone(),
                    invocation: format!("{}-{n}", d.rule_name),
                    event_id: d.event_id.clone(),
                    payload,
                });
                let req = lambda::InvokeRequest {
                    function: d.target_arn.clone(),
                    qualifier: None,
                    payload: bytes::Bytes::from(d.input),
                    client_context: None,
                    tail_logs: false,
                    fault: None,
                };
                if let Err(e) = self.lambda.invoke_async(req) {
                    tracing::warn!(rule = %d.rule_name, target = %d.target_arn, error = %e,
                        "EventBridge could not invoke its Lambda target");
                }
            }
            // StartExecution with the event (or the target's input) as the execution's input,
            // started before PutEvents answers.
            "states" => match self.states.start_execution(&d.target_arn, None, &d.input) {
                Ok(arn) => tracing::debug!(rule = %d.rule_name, execution = %arn,
                    "EventBridge started an execution"),
                Err(a) => tracing::warn!(
                    rule = %d.rule_name, target = %d.target_arn,
                    error = %a.body["message"].as_str().unwrap_or_default(),
                    "EventBridge could not start its Step Functions target"
                ),
            },
            other => tracing::warn!(
                rule = %d.rule_name, target = %d.target_arn,
                "EventBridge target of service {other:?} is not emulated yet; the event is dropped"
            ),
        }
    }
}

/// What Step Functions' Task states call: Lambda functions through the Lambda service (as
/// the Invoke API does), and DynamoDB straight at the engine or the external backend (not
/// through the edge, so chaos rules on tables do not apply to them).
pub struct StatesTasks {
    pub lambda: lambda::LambdaService,
    pub dynamodb: crate::dynamo::Target,
}

impl states::Tasks for StatesTasks {
    fn invoke_lambda(
        &self,
        call: states::LambdaCall,
    ) -> states::TaskFuture<'_, states::LambdaResult> {
        Box::pin(async move {
            let req = lambda::InvokeRequest {
                function: call.function,
                qualifier: call.qualifier,
                payload: bytes::Bytes::from(call.payload),
                client_context: None,
                tail_logs: false,
                fault: None,
            };
            let service = |code: &str, message: String, status: u16| states::TaskError::Service {
                code: code.to_owned(),
                message,
                status,
            };
            match self.lambda.invoke(req).await {
                Ok(done) => Ok(states::LambdaResult {
                    request_id: done.request_id,
                    payload: done.payload.to_vec(),
                    function_error: done.function_error.map(|e| e.error_type),
                    executed_version: "$LATEST".into(),
                }),
                Err(lambda::InvokeError::ShuttingDown) => Err(states::TaskError::Interrupted),
                Err(e @ lambda::InvokeError::NotFound(_)) => {
                    Err(service("ResourceNotFoundException", e.to_string(), 404))
                }
                Err(e @ lambda::InvokeError::Throttled { .. }) => {
                    Err(service("TooManyRequestsException", e.to_string(), 429))
                }
                Err(e @ lambda::InvokeError::Invalid(_)) => Err(service(
                    "InvalidParameterValueException",
                    e.to_string(),
                    400,
                )),
            }
        })
    }

    fn dynamodb(&self, operation: &str, request: Value) -> states::TaskFuture<'_, Value> {
        let op = operation.to_owned();
        Box::pin(async move {
            self.dynamodb
                .call(&op, &request)
                .await
                .map_err(|(code, message, status)| states::TaskError::Service {
                    // The engine unreachable is DynamoDB failing, as far as a state machine
                    // can tell.
                    code: if status == 0 {
                        "InternalServerError".into()
                    } else {
                        code
                    },
                    message,
                    status: if status == 0 { 500 } else { status },
                })
        })
    }
}

/// Chaos's say on each PutEvents entry.
pub struct EntryFaults(pub Arc<Chaos>);

impl events::EntryFaults for EntryFaults {
    fn fail_entry(&self, bus: &str, index: usize, entry: &Value) -> Option<(String, String)> {
        let summary = format!(
            "{} / {}",
            entry.get("Source").and_then(Value::as_str).unwrap_or("-"),
            entry
                .get("DetailType")
                .and_then(Value::as_str)
                .unwrap_or("-")
        );
        self.0.on_put_events_entry(bus, index, &summary)
    }
}

/// Chaos's say on each `@connections` POST to an open WebSocket connection (`gone` rules).
pub struct ConnectionFaults(pub Arc<Chaos>);

impl apigw::ConnectionFaults for ConnectionFaults {
    fn gone_on_post(&self, api: &str, api_id: &str, connection_id: &str) -> bool {
        self.0.on_post_to_connection(api, api_id, connection_id)
    }
}

/// Ids that are the same in every run with the same inputs: a service prefix, the boot
/// number of the data folder (so that a restarted stack never reuses an id it stored before),
/// then a counter.
pub fn counter_ids(service: u16, boot: u32) -> impl Fn() -> String + Send + Sync + 'static {
    let n = AtomicU64::new(0);
    move || {
        let i = n.fetch_add(1, Ordering::SeqCst) + 1;
        format!("{service:04x}{boot:04x}-0000-4000-8000-{i:012x}")
    }
}

/// Counts the starts of a data folder (`{dir}/boots`): 0 for the first, and always 0 in
/// memory, so that in-memory runs stay identical.
pub fn boot_number(dir: Option<&std::path::Path>) -> u32 {
    let Some(dir) = dir else {
        return 0;
    };
    let path = dir.join("boots");
    let n = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .map_or(0, |n| n + 1);
    if let Err(e) = std::fs::write(&path, n.to_string()) {
        tracing::warn!(path = %path.display(), error = %e, "could not record the boot number");
    }
    n
}

/// Where a virtual clock's time is kept between runs on the same data folder: time on a
/// stored queue must not run backwards after a restart.
pub fn clock_file(dir: Option<&std::path::Path>) -> Option<std::path::PathBuf> {
    dir.map(|d| d.join("clock"))
}

pub fn stored_clock(file: Option<&std::path::Path>) -> Option<i64> {
    std::fs::read_to_string(file?).ok()?.trim().parse().ok()
}

pub fn store_clock(file: Option<&std::path::Path>, now_ms: i64) {
    if let Some(f) = file
        && let Err(e) = std::fs::write(f, now_ms.to_string())
    {
        tracing::warn!(path = %f.display(), error = %e, "could not keep the virtual clock's time");
    }
}

/// What waits on devstack's clock or does work in the background: told when the virtual clock
/// moves, and asked whether everything has settled. One place, for the library API
/// (`Devstack::advance_clock`, `Devstack::settle`) and the admin API alike.
pub struct Activity {
    pub sqs: Arc<sqs::Sqs>,
    pub pollers: Arc<esm::Pollers>,
    pub states: Arc<states::StepFunctions>,
    pub websocket: Option<Arc<apigw::WebSocketGateway>>,
    /// Where the virtual clock's time is kept between runs.
    pub clock_file: Option<std::path::PathBuf>,
}

impl Activity {
    /// The virtual clock now reads `now_ms`: keep it, and wake whatever waits on it.
    pub fn clock_moved(&self, now_ms: i64) {
        store_clock(self.clock_file.as_deref(), now_ms);
        self.sqs.wake();
        self.pollers.wake();
        self.states.wake();
        if let Some(ws) = &self.websocket {
            ws.wake();
        }
    }

    async fn idle(&self) -> bool {
        self.states.is_idle() && self.pollers.idle().await
    }

    /// Waits (real time, at most `deadline`) until the event source mappings have nothing
    /// left to do and no Step Functions execution can progress without the clock moving.
    pub async fn settle(&self, deadline: std::time::Duration) -> bool {
        let step = std::time::Duration::from_millis(5);
        let until = tokio::time::Instant::now() + deadline;
        loop {
            // Twice, a little apart: a batch's deletes and the next receive are not one step.
            if self.idle().await {
                tokio::time::sleep(step).await;
                if self.idle().await {
                    return true;
                }
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(step).await;
        }
    }
}
