//! The awsJson 1.0 operations: request members in, SQS's response shapes out, over the typed
//! methods of [`Sqs`].

use crate::message::{self, MessageAttributes};
use crate::{Answer, MAX_RECEIVE, Received, SendOptions, Sqs, SqsError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// At most this many queues in one `ListQueues` answer.
const MAX_LIST: usize = 1000;
const MAX_BATCH: usize = 10;

/// Request members, with SQS's answers for absent or mistyped ones.
#[derive(Clone, Copy)]
struct Input<'a>(&'a Value);

fn wrong_type(field: &str) -> SqsError {
    SqsError::Serialization(format!("The value of {field} has the wrong type."))
}

impl<'a> Input<'a> {
    fn get(self, field: &str) -> Option<&'a Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    fn str(self, field: &str) -> Result<Option<&'a str>, SqsError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong_type(field)),
        }
    }

    fn required(self, field: &str) -> Result<&'a str, SqsError> {
        self.str(field)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| SqsError::MissingParameter(field.to_owned()))
    }

    fn int(self, field: &str) -> Result<Option<i64>, SqsError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| wrong_type(field)),
            Some(_) => Err(wrong_type(field)),
        }
    }

    /// An integer member within `min..=max`, or SQS's wording of the range.
    fn ranged(
        self,
        field: &str,
        min: i64,
        max: i64,
        reason: &str,
    ) -> Result<Option<u32>, SqsError> {
        match self.int(field)? {
            None => Ok(None),
            Some(v) if (min..=max).contains(&v) => Ok(Some(v as u32)),
            Some(v) => Err(SqsError::InvalidParameterValue(format!(
                "Value {v} for parameter {field} is invalid. Reason: {reason}"
            ))),
        }
    }

    fn strings(self, field: &str) -> Result<Vec<&'a str>, SqsError> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| v.as_str().ok_or_else(|| wrong_type(field)))
                .collect(),
            Some(_) => Err(wrong_type(field)),
        }
    }

    fn string_map(self, field: &str) -> Result<BTreeMap<String, String>, SqsError> {
        match self.get(field) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.clone(), s.to_owned()))
                        .ok_or_else(|| wrong_type(field))
                })
                .collect(),
            Some(_) => Err(wrong_type(field)),
        }
    }

    fn entries(self) -> Result<&'a [Value], SqsError> {
        match self.get("Entries") {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(wrong_type("Entries")),
        }
    }
}

/// A batch's entries, checked as SQS does before any is acted on: 1 to 10, ids valid and
/// distinct.
fn batch_entries<'a>(
    input: Input<'a>,
    kind: &'static str,
) -> Result<Vec<(&'a str, Input<'a>)>, SqsError> {
    let entries = input.entries()?;
    if entries.is_empty() {
        return Err(SqsError::EmptyBatchRequest(kind));
    }
    if entries.len() > MAX_BATCH {
        return Err(SqsError::TooManyEntriesInBatchRequest(entries.len()));
    }
    let mut seen = HashSet::new();
    entries
        .iter()
        .map(|e| {
            let e = Input(e);
            let id = e.required("Id")?;
            let valid = id.len() <= 80
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                return Err(SqsError::InvalidBatchEntryId);
            }
            if !seen.insert(id) {
                return Err(SqsError::BatchEntryIdsNotDistinct(id.to_owned()));
            }
            Ok((id, e))
        })
        .collect()
}

fn failed(id: &str, e: &SqsError) -> Value {
    json!({"Id": id, "SenderFault": e.sender_fault(), "Code": e.batch_code(), "Message": e.to_string()})
}

/// `NextToken` of a paginated list: the last name answered.
fn page<T>(
    items: Vec<T>,
    name: impl Fn(&T) -> &str,
    input: Input<'_>,
) -> Result<(Vec<T>, Option<String>), SqsError> {
    let max = input.ranged(
        "MaxResults",
        1,
        MAX_LIST as i64,
        "MaxResults must be an integer between 1 and 1000.",
    )?;
    let after = match input.str("NextToken")? {
        None | Some("") => None,
        Some(t) => Some(
            BASE64
                .decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    SqsError::InvalidParameterValue("Invalid NextToken value.".into())
                })?,
        ),
    };
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.as_deref().is_none_or(|a| name(i) > a))
        .collect();
    let limit = max.map_or(MAX_LIST, |m| m as usize);
    let more = rest.len() > limit;
    rest.truncate(limit);
    let token = (more && max.is_some())
        .then(|| rest.last().map(|i| BASE64.encode(name(i))))
        .flatten();
    Ok((rest, token))
}

/// Which of a message's attributes a receive asked for: names, `All`, or (for message
/// attributes) `.*` and `prefix.*`.
fn wanted(names: &[&str], name: &str) -> bool {
    names.iter().any(|n| {
        *n == "All"
            || *n == ".*"
            || *n == name
            || n.strip_suffix('*')
                .is_some_and(|prefix| prefix.ends_with('.') && name.starts_with(prefix))
    })
}

fn message_json(m: Received, system: &[&str], user: &[&str]) -> Value {
    let mut out = Map::new();
    out.insert("MessageId".into(), json!(m.message_id));
    out.insert("ReceiptHandle".into(), json!(m.receipt_handle));
    out.insert("MD5OfBody".into(), json!(m.md5_of_body));
    out.insert("Body".into(), json!(m.body));
    let attributes: Map<String, Value> = m
        .attributes
        .into_iter()
        .filter(|(k, _)| system.contains(&"All") || system.contains(&k.as_str()))
        .map(|(k, v)| (k, json!(v)))
        .collect();
    if !attributes.is_empty() {
        out.insert("Attributes".into(), Value::Object(attributes));
    }
    let chosen: MessageAttributes = m
        .message_attributes
        .into_iter()
        .filter(|(k, _)| wanted(user, k))
        .collect();
    // The digest covers what is returned, which is what a client can check.
    if let Some(md5) = message::md5_of_attributes(&chosen) {
        out.insert("MD5OfMessageAttributes".into(), json!(md5));
        out.insert(
            "MessageAttributes".into(),
            message::attributes_to_json(&chosen),
        );
    }
    Value::Object(out)
}

/// The `SendOptions` of a `SendMessage` request or a `SendMessageBatch` entry.
fn send_options(e: Input<'_>) -> Result<SendOptions, SqsError> {
    if e.get("MessageDeduplicationId").is_some() {
        return Err(SqsError::InvalidParameterValue(
            "The request include parameter that is not valid for this queue type".into(),
        ));
    }
    Ok(SendOptions {
        delay_seconds: e.ranged(
            "DelaySeconds",
            0,
            900,
            "DelaySeconds must be >= 0 and <= 900.",
        )?,
        message_attributes: message::parse_attributes(e.get("MessageAttributes"))?,
        trace_header: message::parse_trace_header(e.get("MessageSystemAttributes"))?,
        sender_id: None,
    })
}

fn sent_json(s: crate::Sent) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("MessageId".into(), json!(s.message_id));
    out.insert("MD5OfMessageBody".into(), json!(s.md5_of_message_body));
    if let Some(m) = s.md5_of_message_attributes {
        out.insert("MD5OfMessageAttributes".into(), json!(m));
    }
    if let Some(m) = s.md5_of_message_system_attributes {
        out.insert("MD5OfMessageSystemAttributes".into(), json!(m));
    }
    out
}

impl Sqs {
    /// Handles `AmazonSQS.<operation>` with a JSON body. Answer with [`crate::CONTENT_TYPE`]
    /// and, for an error, the `x-amzn-query-error` header that [`crate::query_error`] gives.
    pub async fn dispatch(&self, operation: &str, body: &[u8]) -> Answer {
        let input = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Object(Map::new())
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return SqsError::Serialization(
                        "The request body is not a JSON object.".into(),
                    )
                    .answer();
                }
            }
        };
        match self.operation(operation, Input(&input)).await {
            Ok(v) => Answer::ok(v),
            Err(e) => e.answer(),
        }
    }

    async fn operation(&self, operation: &str, input: Input<'_>) -> Result<Value, SqsError> {
        match operation {
            "CreateQueue" => {
                let name = input.required("QueueName")?;
                let q = self.create_queue(
                    name,
                    &input.string_map("Attributes")?,
                    &input.string_map("tags")?,
                )?;
                Ok(json!({"QueueUrl": q.url}))
            }
            "DeleteQueue" => {
                self.delete_queue(input.required("QueueUrl")?)?;
                Ok(json!({}))
            }
            "GetQueueUrl" => {
                let name = input.required("QueueName")?;
                if input
                    .str("QueueOwnerAWSAccountId")?
                    .is_some_and(|a| a != self.account_id)
                {
                    return Err(SqsError::QueueDoesNotExist);
                }
                // A URL or ARN is not a queue name.
                if name.contains('/') || name.contains(':') {
                    return Err(SqsError::QueueDoesNotExist);
                }
                Ok(json!({"QueueUrl": self.queue_info(name)?.url}))
            }
            "ListQueues" => {
                let prefix = input.str("QueueNamePrefix")?.unwrap_or("");
                let all: Vec<_> = self
                    .list_queues()?
                    .into_iter()
                    .filter(|q| q.name.starts_with(prefix))
                    .collect();
                let (queues, token) = page(all, |q| &q.name, input)?;
                let mut out = Map::new();
                if !queues.is_empty() {
                    out.insert(
                        "QueueUrls".into(),
                        json!(queues.iter().map(|q| &q.url).collect::<Vec<_>>()),
                    );
                }
                if let Some(t) = token {
                    out.insert("NextToken".into(), json!(t));
                }
                Ok(Value::Object(out))
            }
            "ListDeadLetterSourceQueues" => {
                let sources = self.dead_letter_sources(input.required("QueueUrl")?)?;
                let (sources, token) = page(sources, |q| &q.name, input)?;
                let mut out = Map::new();
                out.insert(
                    "queueUrls".into(),
                    json!(sources.iter().map(|q| &q.url).collect::<Vec<_>>()),
                );
                if let Some(t) = token {
                    out.insert("NextToken".into(), json!(t));
                }
                Ok(Value::Object(out))
            }
            "GetQueueAttributes" => {
                let url = input.required("QueueUrl")?;
                let names = input.strings("AttributeNames")?;
                let attributes = self.queue_attributes(url, &names)?;
                Ok(if attributes.is_empty() {
                    json!({})
                } else {
                    json!({"Attributes": attributes})
                })
            }
            "SetQueueAttributes" => {
                let url = input.required("QueueUrl")?;
                self.set_queue_attributes(url, &input.string_map("Attributes")?)?;
                Ok(json!({}))
            }
            "TagQueue" => {
                let url = input.required("QueueUrl")?;
                self.tag_queue(url, &input.string_map("Tags")?)?;
                Ok(json!({}))
            }
            "UntagQueue" => {
                let url = input.required("QueueUrl")?;
                self.untag_queue(url, &input.strings("TagKeys")?)?;
                Ok(json!({}))
            }
            "ListQueueTags" => {
                let tags = self.queue_tags(input.required("QueueUrl")?)?;
                Ok(if tags.is_empty() {
                    json!({})
                } else {
                    json!({"Tags": tags})
                })
            }
            // devstack enforces no IAM: permissions are accepted and have no effect.
            "AddPermission" | "RemovePermission" => {
                self.queue_info(input.required("QueueUrl")?)?;
                input.required("Label")?;
                Ok(json!({}))
            }
            "PurgeQueue" => {
                self.purge(input.required("QueueUrl")?)?;
                Ok(json!({}))
            }
            "SendMessage" => {
                let url = input.required("QueueUrl")?;
                let body = input.str("MessageBody")?.unwrap_or("");
                let options = send_options(input)?;
                Ok(Value::Object(sent_json(self.send(url, body, options)?)))
            }
            "SendMessageBatch" => self.send_message_batch(input),
            "ReceiveMessage" => self.receive_message(input).await,
            "DeleteMessage" => {
                let url = input.required("QueueUrl")?;
                self.delete(url, input.required("ReceiptHandle")?)?;
                Ok(json!({}))
            }
            "DeleteMessageBatch" => {
                let url = input.required("QueueUrl")?;
                let entries = batch_entries(input, "DeleteMessageBatchRequestEntry")?;
                in_order(
                    &entries,
                    |e| e.required("ReceiptHandle"),
                    |handles| self.delete_batch(url, &handles),
                    |id, ()| json!({"Id": id}),
                )
            }
            "ChangeMessageVisibility" => {
                let url = input.required("QueueUrl")?;
                let handle = input.required("ReceiptHandle")?;
                let secs = visibility_of(input)?;
                self.change_visibility(url, handle, secs)?;
                Ok(json!({}))
            }
            "ChangeMessageVisibilityBatch" => {
                let url = input.required("QueueUrl")?;
                let entries = batch_entries(input, "ChangeMessageVisibilityBatchRequestEntry")?;
                in_order(
                    &entries,
                    |e| Ok((e.required("ReceiptHandle")?, visibility_of(e)?)),
                    |items| self.change_visibility_batch(url, &items),
                    |id, ()| json!({"Id": id}),
                )
            }
            "StartMessageMoveTask" => {
                let source = input.required("SourceArn")?;
                let destination = input.str("DestinationArn")?.filter(|d| !d.is_empty());
                let rate = input
                    .int("MaxNumberOfMessagesPerSecond")?
                    .map(|r| u32::try_from(r).unwrap_or(0));
                let handle = self.start_message_move_task(source, destination, rate)?;
                Ok(json!({"TaskHandle": handle}))
            }
            "ListMessageMoveTasks" => {
                let source = input.required("SourceArn")?;
                let max = input.int("MaxResults")?.unwrap_or(1);
                let max = usize::try_from(max).unwrap_or(0);
                let tasks = self.message_move_tasks(source, max)?;
                let results: Vec<Value> = tasks
                    .into_iter()
                    .map(|t| {
                        let mut o = Map::new();
                        if t.status == "RUNNING" {
                            o.insert("TaskHandle".into(), json!(t.task_handle));
                        }
                        o.insert("Status".into(), json!(t.status));
                        o.insert("SourceArn".into(), json!(t.source_arn));
                        if let Some(d) = t.destination_arn {
                            o.insert("DestinationArn".into(), json!(d));
                        }
                        if let Some(r) = t.max_number_of_messages_per_second {
                            o.insert("MaxNumberOfMessagesPerSecond".into(), json!(r));
                        }
                        o.insert("ApproximateNumberOfMessagesMoved".into(), json!(t.moved));
                        o.insert("ApproximateNumberOfMessagesToMove".into(), json!(t.to_move));
                        if let Some(f) = t.failure_reason {
                            o.insert("FailureReason".into(), json!(f));
                        }
                        o.insert("StartedTimestamp".into(), json!(t.started_timestamp));
                        Value::Object(o)
                    })
                    .collect();
                Ok(json!({"Results": results}))
            }
            "CancelMessageMoveTask" => {
                let moved = self.cancel_message_move_task(input.required("TaskHandle")?)?;
                Ok(json!({"ApproximateNumberOfMessagesMoved": moved}))
            }
            other => Err(SqsError::UnknownOperation(other.to_owned())),
        }
    }

    fn send_message_batch(&self, input: Input<'_>) -> Result<Value, SqsError> {
        let url = input.required("QueueUrl")?;
        // The queue is checked before the entries, as SQS does.
        self.queue_info(url)?;
        let entries = batch_entries(input, "SendMessageBatchRequestEntry")?;
        let size: usize = entries
            .iter()
            .map(|(_, e)| {
                e.str("MessageBody").ok().flatten().map_or(0, str::len)
                    + message::parse_attributes(e.get("MessageAttributes"))
                        .map_or(0, |a| message::attributes_size(&a))
            })
            .sum();
        if size > crate::MAX_BATCH_BYTES {
            return Err(SqsError::BatchRequestTooLong {
                limit: crate::MAX_BATCH_BYTES,
                sent: size,
            });
        }
        in_order(
            &entries,
            |e| {
                Ok((
                    e.str("MessageBody")?.unwrap_or("").to_owned(),
                    send_options(e)?,
                ))
            },
            |outgoing| self.send_batch(url, outgoing),
            |id, sent| {
                let mut o = sent_json(sent);
                o.insert("Id".into(), json!(id));
                Value::Object(o)
            },
        )
    }

    async fn receive_message(&self, input: Input<'_>) -> Result<Value, SqsError> {
        let url = input.required("QueueUrl")?;
        let max = input
            .ranged(
                "MaxNumberOfMessages",
                1,
                MAX_RECEIVE as i64,
                "Must be between 1 and 10, if provided.",
            )?
            .unwrap_or(1) as usize;
        let visibility = input.ranged(
            "VisibilityTimeout",
            0,
            43_200,
            "Must be between 0 and 43200, if provided.",
        )?;
        let wait = input.ranged(
            "WaitTimeSeconds",
            0,
            20,
            "Must be >= 0 and <= 20, if provided.",
        )?;
        let mut system = input.strings("AttributeNames")?;
        system.extend(input.strings("MessageSystemAttributeNames")?);
        let user = input.strings("MessageAttributeNames")?;
        let started = tokio::time::Instant::now();
        let mut deadline = None;
        let messages = loop {
            let (got, queue_wait) = self.receive_now(url, max, visibility)?;
            let deadline = *deadline.get_or_insert_with(|| {
                started + Duration::from_secs(u64::from(wait.unwrap_or(queue_wait)))
            });
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                break got;
            }
            self.wait_for_messages(url, deadline).await?;
        };
        if messages.is_empty() {
            return Ok(json!({}));
        }
        let messages: Vec<Value> = messages
            .into_iter()
            .map(|m| message_json(m, &system, &user))
            .collect();
        Ok(json!({"Messages": messages}))
    }
}

fn visibility_of(e: Input<'_>) -> Result<u32, SqsError> {
    e.ranged(
        "VisibilityTimeout",
        0,
        43_200,
        "Must be between 0 and 43200, if provided.",
    )?
    .ok_or_else(|| SqsError::MissingParameter("VisibilityTimeout".into()))
}

/// A batch's answer, entries in request order: each is parsed (`parse`), the parsed ones
/// acted on together (`act`), and each reported as `Successful` (`ok`) or `Failed`.
fn in_order<'a, T, R>(
    entries: &[(&'a str, Input<'a>)],
    parse: impl Fn(Input<'a>) -> Result<T, SqsError>,
    act: impl FnOnce(Vec<T>) -> Result<Vec<Result<R, SqsError>>, SqsError>,
    ok: impl Fn(&str, R) -> Value,
) -> Result<Value, SqsError> {
    let parsed: Vec<Result<T, SqsError>> = entries.iter().map(|(_, e)| parse(*e)).collect();
    let mut items = Vec::new();
    let mut outcomes: Vec<Option<Result<R, SqsError>>> = Vec::with_capacity(entries.len());
    for p in parsed {
        match p {
            Ok(item) => {
                items.push(item);
                outcomes.push(None);
            }
            Err(e) => outcomes.push(Some(Err(e))),
        }
    }
    let mut acted = act(items)?.into_iter();
    let mut successful = Vec::new();
    let mut failed_entries = Vec::new();
    for ((id, _), outcome) in entries.iter().zip(outcomes) {
        match outcome.or_else(|| acted.next()) {
            Some(Ok(r)) => successful.push(ok(id, r)),
            Some(Err(e)) => failed_entries.push(failed(id, &e)),
            None => {}
        }
    }
    Ok(json!({"Successful": successful, "Failed": failed_entries}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_attribute_name_filters() {
        assert!(wanted(&["All"], "a"));
        assert!(wanted(&[".*"], "a"));
        assert!(wanted(&["a"], "a"));
        assert!(!wanted(&["a"], "b"));
        assert!(wanted(&["bar.*"], "bar.baz"));
        assert!(!wanted(&["bar.*"], "barbaz"));
        assert!(!wanted(&[], "a"));
    }
}
