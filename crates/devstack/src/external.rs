//! External backends: DynamoDB and SQS kept by another implementation (moto, DynamoDB Local,
//! LocalStack, or an AWS account), chosen with `--dynamodb-endpoint` and `--sqs-endpoint`.
//!
//! Everything else stays devstack's (the gateways, Lambda, EventBridge, Cognito, Step
//! Functions), and so do the functions' endpoints: their SDKs still call the edge, which
//! forwards these two services' requests (after chaos has had its say) re-signed for the
//! backend. The event source mappings poll the external queues over the same API, so every
//! delivery is still decided by chaos and written to the journal. devstack creates the
//! template's tables and queues in the backend itself ([`RemoteSqs::provision`],
//! `Dynamo::provision`): no second copy of the wiring exists anywhere.
//!
//! Requests are signed with SigV4 as the SDKs sign them, with the credentials of devstack's
//! own environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), or
//! dummy ones, which local backends accept.

use bytes::Bytes;
use serde_json::{Value, json};
use sqs::{MovedToDlq, QueueStats, Received};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use template::model::Queue;

#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("{endpoint} did not answer: {message}")]
    Transport { endpoint: String, message: String },
    #[error("{code}: {message}")]
    Service {
        code: String,
        message: String,
        status: u16,
    },
    #[error("cannot sign a request to {endpoint}: {message}")]
    Sign { endpoint: String, message: String },
    #[error("{0}")]
    Unexpected(String),
}

impl ExternalError {
    /// The error code the backend answered with, without its namespace.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// SigV4 credentials and region for requests to an external backend.
pub struct Signer {
    credentials: aws_credential_types::Credentials,
    region: String,
}

impl Signer {
    /// The environment's credentials, else dummy ones (local backends check the form of a
    /// signature, not its key).
    pub fn from_env(region: &str) -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (key, secret, token) = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(k), Some(s)) => (k, s, var("AWS_SESSION_TOKEN")),
            _ => ("devstack".to_owned(), "devstack".to_owned(), None),
        };
        Self {
            credentials: aws_credential_types::Credentials::new(
                key, secret, token, None, "devstack",
            ),
            region: region.to_owned(),
        }
    }

    /// The headers that sign a POST of `body` to `url` for `service` (`dynamodb`, `sqs`),
    /// given the request's other signed `headers`.
    fn sign(
        &self,
        service: &str,
        url: &reqwest::Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Vec<(String, String)>, ExternalError> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let err = |message: String| ExternalError::Sign {
            endpoint: url.to_string(),
            message,
        };
        let identity = self.credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| err(e.to_string()))?
            .into();
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_owned(),
        };
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.push(("host", &host));
        let request = SignableRequest::new(
            "POST",
            url.as_str(),
            all.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| err(e.to_string()))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| err(e.to_string()))?
            .into_parts();
        Ok(instructions
            .headers()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect())
    }
}

/// An external endpoint of one service.
pub struct Endpoint {
    pub url: String,
    /// `dynamodb` or `sqs`: the signing name.
    pub service: &'static str,
    pub signer: Arc<Signer>,
    pub http: reqwest::Client,
}

impl Endpoint {
    pub fn new(url: &str, service: &'static str, signer: Arc<Signer>) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            service,
            signer,
            http: reqwest::Client::new(),
        }
    }

    /// POSTs a JSON-protocol request, signed: `content_type` and `target` as the client sent
    /// them, `accept_encoding` passed on when given.
    pub async fn post(
        &self,
        content_type: &str,
        target: &str,
        accept_encoding: Option<&str>,
        body: Bytes,
    ) -> Result<reqwest::Response, ExternalError> {
        let transport = |message: String| ExternalError::Transport {
            endpoint: self.url.clone(),
            message,
        };
        let url = reqwest::Url::parse(&format!("{}/", self.url))
            .map_err(|e| transport(format!("not a URL: {e}")))?;
        let signed = self.signer.sign(
            self.service,
            &url,
            &[("content-type", content_type), ("x-amz-target", target)],
            &body,
        )?;
        let mut req = self
            .http
            .post(url)
            .header("content-type", content_type)
            .header("x-amz-target", target);
        if let Some(enc) = accept_encoding {
            req = req.header("accept-encoding", enc);
        }
        for (k, v) in signed {
            req = req.header(k, v);
        }
        req.body(body)
            .send()
            .await
            .map_err(|e| transport(e.to_string()))
    }

    /// One awsJson call: the answer, or the backend's error.
    pub async fn call(&self, target: &str, body: &Value) -> Result<Value, ExternalError> {
        let content_type = "application/x-amz-json-1.0";
        let resp = self
            .post(content_type, target, None, Bytes::from(body.to_string()))
            .await?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(v);
        }
        let code = v["__type"]
            .as_str()
            .and_then(|t| t.rsplit('#').next())
            .unwrap_or("")
            .to_owned();
        let message = v["message"]
            .as_str()
            .or(v["Message"].as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| text.chars().take(300).collect());
        Err(ExternalError::Service {
            code,
            message,
            status: status.as_u16(),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How often a poller with nothing to do asks an external queue for messages. Unlike
/// devstack's own SQS, an external one cannot wake it; a send through devstack (EventBridge,
/// the edge) does, at once.
const EXTERNAL_POLL: Duration = Duration::from_millis(200);

/// The template's queues in an external SQS, by name.
pub struct RemoteSqs {
    pub endpoint: Endpoint,
    /// Name -> the backend's queue URL and ARN, learnt at provisioning.
    queues: Mutex<HashMap<String, (String, String)>>,
    /// Woken by a send that went through devstack.
    sent: tokio::sync::Notify,
    /// Sends that devstack has accepted but the backend not yet confirmed: the queue is not
    /// idle meanwhile.
    pending: AtomicUsize,
}

impl RemoteSqs {
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            queues: Mutex::new(HashMap::new()),
            sent: tokio::sync::Notify::new(),
            pending: AtomicUsize::new(0),
        }
    }

    async fn call(&self, op: &str, body: Value) -> Result<Value, ExternalError> {
        self.endpoint.call(&format!("AmazonSQS.{op}"), &body).await
    }

    /// Creates the template's queues (dead-letter targets first, with the backend's ARNs in
    /// the redrive policies), or brings existing ones to the template's attributes.
    pub async fn provision(&self, queues: &[Queue]) -> Result<(), ExternalError> {
        let mut left: Vec<&Queue> = queues.iter().collect();
        while !left.is_empty() {
            let ready = |q: &&Queue| {
                q.redrive.as_ref().is_none_or(|r| {
                    let dlq = r.dead_letter_arn.rsplit(':').next().unwrap_or_default();
                    lock(&self.queues).contains_key(dlq)
                })
            };
            let Some(i) = left.iter().position(ready) else {
                return Err(ExternalError::Unexpected(format!(
                    "the dead-letter queues of {} are not queues of this stack",
                    left.iter()
                        .map(|q| q.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let q = left.remove(i);
            self.create(q).await?;
        }
        Ok(())
    }

    async fn create(&self, q: &Queue) -> Result<(), ExternalError> {
        let mut attributes = BTreeMap::from([
            ("VisibilityTimeout", q.visibility_timeout.to_string()),
            ("MessageRetentionPeriod", q.retention_period.to_string()),
            ("DelaySeconds", q.delay_seconds.to_string()),
            (
                "ReceiveMessageWaitTimeSeconds",
                q.receive_wait_seconds.to_string(),
            ),
            ("MaximumMessageSize", q.max_message_size.to_string()),
        ]);
        if let Some(r) = &q.redrive {
            let dlq = r.dead_letter_arn.rsplit(':').next().unwrap_or_default();
            let arn = lock(&self.queues)
                .get(dlq)
                .map(|(_, arn)| arn.clone())
                .unwrap_or_default();
            attributes.insert(
                "RedrivePolicy",
                json!({"deadLetterTargetArn": arn, "maxReceiveCount": r.max_receive_count})
                    .to_string(),
            );
        }
        let url = match self
            .call(
                "CreateQueue",
                json!({"QueueName": q.name, "Attributes": attributes}),
            )
            .await
        {
            Ok(v) => v["QueueUrl"].as_str().unwrap_or_default().to_owned(),
            // It exists with other attributes (a Parameter changed since the last run): the
            // template's win, as a stack update would make them.
            Err(e) if matches!(e.code(), Some(c) if c.contains("QueueNameExists") || c.contains("QueueAlreadyExists")) =>
            {
                let url = self
                    .call("GetQueueUrl", json!({"QueueName": q.name}))
                    .await?["QueueUrl"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                self.call(
                    "SetQueueAttributes",
                    json!({"QueueUrl": url, "Attributes": attributes}),
                )
                .await?;
                url
            }
            Err(e) => return Err(e),
        };
        let arn = self
            .call(
                "GetQueueAttributes",
                json!({"QueueUrl": url, "AttributeNames": ["QueueArn"]}),
            )
            .await?["Attributes"]["QueueArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if url.is_empty() || arn.is_empty() {
            return Err(ExternalError::Unexpected(format!(
                "the backend created queue {} but did not name its URL and ARN",
                q.name
            )));
        }
        lock(&self.queues).insert(q.name.clone(), (url, arn));
        Ok(())
    }

    /// The backend's URL and ARN of a queue of the stack (by name, or by any ARN ending in
    /// it: the template's local ARNs name the same queues).
    pub fn queue(&self, name_or_arn: &str) -> Result<(String, String), ExternalError> {
        let name = name_or_arn.rsplit([':', '/']).next().unwrap_or_default();
        lock(&self.queues)
            .get(name)
            .cloned()
            .ok_or_else(|| ExternalError::Unexpected(format!("no queue {name} in this stack")))
    }

    /// Wakes the pollers: something was sent through devstack.
    pub fn poke(&self) {
        self.sent.notify_waiters();
    }

    /// Sends `body` to the queue in the background (EventBridge delivers synchronously, but
    /// an external queue answers over the network); `done` gets the message id and MD5. The
    /// queue counts as busy until the send is confirmed, so `settle` waits for it.
    pub fn send_later(
        self: &Arc<Self>,
        queue: &str,
        body: String,
        done: impl FnOnce(Result<(String, String), ExternalError>) + Send + 'static,
    ) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let this = self.clone();
        let queue = queue.to_owned();
        tokio::spawn(async move {
            let sent = async {
                let (url, _) = this.queue(&queue)?;
                let v = this
                    .call("SendMessage", json!({"QueueUrl": url, "MessageBody": body}))
                    .await?;
                Ok((
                    v["MessageId"].as_str().unwrap_or_default().to_owned(),
                    v["MD5OfMessageBody"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                ))
            }
            .await;
            done(sent);
            this.pending.fetch_sub(1, Ordering::SeqCst);
            this.poke();
        });
    }

    /// Visible, in flight and delayed messages, as the backend counts them.
    pub async fn stats(&self, queue: &str) -> Result<QueueStats, ExternalError> {
        let (url, _) = self.queue(queue)?;
        let v = self
            .call(
                "GetQueueAttributes",
                json!({"QueueUrl": url, "AttributeNames": [
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ]}),
            )
            .await?;
        let n = |k: &str| {
            v["Attributes"][k]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        Ok(QueueStats {
            visible: n("ApproximateNumberOfMessages"),
            in_flight: n("ApproximateNumberOfMessagesNotVisible"),
            delayed: n("ApproximateNumberOfMessagesDelayed"),
        })
    }

    async fn visible(&self, queue: &str) -> Result<bool, ExternalError> {
        if self.pending.load(Ordering::SeqCst) > 0 {
            return Ok(true);
        }
        Ok(self.stats(queue).await?.visible > 0)
    }
}

fn received(m: &Value, arn: &str) -> Received {
    let s = |k: &str| m[k].as_str().unwrap_or_default().to_owned();
    let attributes = m["Attributes"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let message_attributes = m
        .get("MessageAttributes")
        .map(|a| sqs::attributes_from_json(&a.to_string()))
        .unwrap_or_default();
    Received {
        message_id: s("MessageId"),
        receipt_handle: s("ReceiptHandle"),
        body: s("Body"),
        md5_of_body: s("MD5OfBody"),
        attributes,
        message_attributes,
        md5_of_message_attributes: m["MD5OfMessageAttributes"].as_str().map(str::to_owned),
        event_source_arn: arn.to_owned(),
    }
}

impl esm::Queues for RemoteSqs {
    fn wait_for_messages<'a>(
        &'a self,
        queue: &'a str,
        deadline: tokio::time::Instant,
    ) -> esm::QueueFuture<'a, bool> {
        Box::pin(async move {
            loop {
                let sent = self.sent.notified();
                tokio::pin!(sent);
                sent.as_mut().enable();
                if self
                    .visible(queue)
                    .await
                    .map_err(|e| esm::QueueError(e.to_string()))?
                {
                    return Ok(true);
                }
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Ok(false);
                }
                tokio::select! {
                    () = &mut sent => {}
                    () = tokio::time::sleep_until(deadline.min(now + EXTERNAL_POLL)) => {}
                }
            }
        })
    }

    fn receive<'a>(
        &'a self,
        queue: &'a str,
        max: usize,
    ) -> esm::QueueFuture<'a, (Vec<Received>, Vec<MovedToDlq>)> {
        Box::pin(async move {
            let err = |e: ExternalError| esm::QueueError(e.to_string());
            let (url, arn) = self.queue(queue).map_err(err)?;
            let v = self
                .call(
                    "ReceiveMessage",
                    json!({
                        "QueueUrl": url,
                        "MaxNumberOfMessages": max.clamp(1, 10),
                        "WaitTimeSeconds": 0,
                        "AttributeNames": ["All"],
                        "MessageSystemAttributeNames": ["All"],
                        "MessageAttributeNames": ["All"],
                    }),
                )
                .await
                .map_err(err)?;
            let got = v["Messages"]
                .as_array()
                .map(|a| a.iter().map(|m| received(m, &arn)).collect())
                .unwrap_or_default();
            // The backend moves messages past maxReceiveCount itself, without saying so.
            Ok((got, Vec::new()))
        })
    }

    fn delete<'a>(&'a self, queue: &'a str, receipt_handle: &'a str) -> esm::QueueFuture<'a, ()> {
        Box::pin(async move {
            let err = |e: ExternalError| esm::QueueError(e.to_string());
            let (url, _) = self.queue(queue).map_err(err)?;
            self.call(
                "DeleteMessage",
                json!({"QueueUrl": url, "ReceiptHandle": receipt_handle}),
            )
            .await
            .map_err(err)?;
            Ok(())
        })
    }

    fn change_visibility<'a>(
        &'a self,
        queue: &'a str,
        receipt_handle: &'a str,
        seconds: u32,
    ) -> esm::QueueFuture<'a, ()> {
        Box::pin(async move {
            let err = |e: ExternalError| esm::QueueError(e.to_string());
            let (url, _) = self.queue(queue).map_err(err)?;
            self.call(
                "ChangeMessageVisibility",
                json!({"QueueUrl": url, "ReceiptHandle": receipt_handle, "VisibilityTimeout": seconds}),
            )
            .await
            .map_err(err)?;
            Ok(())
        })
    }

    fn has_visible<'a>(&'a self, queue: &'a str) -> esm::QueueFuture<'a, bool> {
        Box::pin(async move {
            self.visible(queue)
                .await
                .map_err(|e| esm::QueueError(e.to_string()))
        })
    }
}
