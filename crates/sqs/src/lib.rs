//! devstack's SQS: standard queues speaking awsJson 1.0 (`X-Amz-Target: AmazonSQS.<Operation>`,
//! `Content-Type: application/x-amz-json-1.0`), as current SDKs and the AWS CLI call it.
//!
//! Queues and messages live in SQLite ([`store`]): the template's queues are created at
//! start, queues created through the API persist too, and an acknowledged send has been
//! committed. Every timestamp and visibility deadline reads devstack's clock, which may be
//! virtual; a long poll (`WaitTimeSeconds`) waits on real time, since it holds a client's
//! connection, and ends as soon as a message may be visible: on a send, or when devstack
//! [`wake`](Sqs::wake)s waiters after moving a virtual clock, or when the clock reaches the
//! next visibility deadline.
//!
//! [`Sqs::dispatch`] is the wire protocol, a thin layer over the typed methods that
//! devstack's own pollers (event source mappings) and CLI (`dlq peek`) call.
//!
//! Not emulated: FIFO queues (refused with a clear error), the query (XML) protocol, IAM
//! (`Policy`, `AddPermission` are kept or accepted, never enforced), KMS, and
//! `QueueDeletedRecently` (a deleted queue's name is free at once).

mod api;
mod attributes;
mod error;
mod message;
mod store;

pub use awsjson::Answer;
pub use error::{SqsError, query_error};
pub use message::{
    AttributeValue, MessageAttributeValue, MessageAttributes, attributes_from_json,
    md5_of_attributes, md5_of_body,
};

use attributes::{QueueAttrs, RedrivePolicy};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clock::SharedClock;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use store::QueueRow;
use tokio::sync::Notify;

/// The content type of SQS's requests and answers.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
/// The service part of `X-Amz-Target` (`AmazonSQS.SendMessage`).
pub const TARGET_PREFIX: &str = "AmazonSQS";

/// The most messages one receive returns.
pub const MAX_RECEIVE: usize = 10;
/// The longest visibility timeout, and the longest a message may stay in flight in all.
const MAX_VISIBILITY_SECS: u32 = 43_200;
const MAX_DELAY_SECS: u32 = 900;
/// The largest batch payload (the sum of its messages).
const MAX_BATCH_BYTES: usize = 1_048_576;
/// How often a queue may be purged.
const PURGE_INTERVAL_MS: i64 = 60_000;

/// A queue's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    pub name: String,
    pub url: String,
    pub arn: String,
}

/// How many messages a queue holds, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Ready to be received (`ApproximateNumberOfMessages`).
    pub visible: u64,
    /// Received and hidden by their visibility timeout (`...NotVisible`).
    pub in_flight: u64,
    /// Sent with a delay that has not passed (`...Delayed`).
    pub delayed: u64,
}

/// Options of a send; the default sends with the queue's delay and no attributes.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    /// Overrides the queue's `DelaySeconds` (0..=900).
    pub delay_seconds: Option<u32>,
    pub message_attributes: MessageAttributes,
    /// The `AWSTraceHeader` system attribute.
    pub trace_header: Option<String>,
    /// The `SenderId` the message reports; the account id by default.
    pub sender_id: Option<String>,
}

/// What a send answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub message_id: String,
    pub md5_of_message_body: String,
    pub md5_of_message_attributes: Option<String>,
    pub md5_of_message_system_attributes: Option<String>,
}

/// A received message, with every system attribute and message attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    /// Valid until the message is received again.
    pub receipt_handle: String,
    pub body: String,
    pub md5_of_body: String,
    /// `ApproximateReceiveCount`, `SentTimestamp`, `SenderId`,
    /// `ApproximateFirstReceiveTimestamp`, and `AWSTraceHeader` and
    /// `DeadLetterQueueSourceArn` when the message has them; all as strings, as SQS gives them.
    pub attributes: BTreeMap<String, String>,
    pub message_attributes: MessageAttributes,
    pub md5_of_message_attributes: Option<String>,
    /// The queue's ARN (a Lambda SQS event's `eventSourceARN`).
    pub event_source_arn: String,
}

/// A message seen without receiving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peeked {
    pub message_id: String,
    pub body: String,
    pub sent_timestamp: i64,
    pub receive_count: u32,
    /// Clock ms at which it is (or was) visible.
    pub visible_at: i64,
    pub message_attributes: MessageAttributes,
    pub trace_header: Option<String>,
    /// The queue it was moved from, for a message in a dead-letter queue.
    pub dead_letter_source_arn: Option<String>,
}

/// A message movement task (a dead-letter queue redrive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMoveTask {
    pub task_handle: String,
    /// `RUNNING`, `COMPLETED`, `CANCELLING`, `CANCELLED` or `FAILED`.
    pub status: &'static str,
    pub source_arn: String,
    pub destination_arn: Option<String>,
    pub max_number_of_messages_per_second: Option<u32>,
    pub moved: u64,
    pub to_move: u64,
    pub failure_reason: Option<String>,
    pub started_timestamp: i64,
}

/// A message to send in a batch.
struct Outgoing<'a> {
    body: &'a str,
    options: SendOptions,
}

/// devstack's SQS service.
pub struct Sqs {
    db: Mutex<Connection>,
    clock: SharedClock,
    region: String,
    account_id: String,
    edge_url: String,
    /// Long polls waiting, by queue name.
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    tasks: Mutex<Vec<MessageMoveTask>>,
    /// Message ids; uuid v4 unless devstack's seeded mode makes them deterministic.
    ids: Mutex<Option<IdGenerator>>,
}

/// Makes message ids (see [`Sqs::set_id_generator`]).
pub type IdGenerator = Box<dyn FnMut() -> String + Send>;

/// A message that a receive moved to its queue's dead-letter queue instead of returning it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedToDlq {
    pub message_id: String,
    /// The dead-letter queue's name.
    pub dlq: String,
    /// How many times it had been received.
    pub receive_count: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn secs_ms(secs: u32) -> i64 {
    i64::from(secs) * 1000
}

/// A receipt handle names the receive it came from (queue, message, and a random nonce that
/// changes with every receive), so a handle from an earlier receive is recognised as stale.
mod receipt {
    use super::BASE64;
    use base64::Engine as _;

    pub fn make(queue_id: i64, seq: i64, nonce: &str) -> String {
        BASE64.encode(format!("{queue_id}:{seq}:{nonce}"))
    }

    pub fn nonce() -> String {
        uuid::Uuid::new_v4().simple().to_string()
    }

    pub fn parse(handle: &str) -> Option<(i64, i64, String)> {
        let text = String::from_utf8(BASE64.decode(handle).ok()?).ok()?;
        let mut parts = text.splitn(3, ':');
        let queue_id = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        let nonce = parts.next()?;
        (nonce.len() == 32).then(|| (queue_id, seq, nonce.to_owned()))
    }
}

/// A queue name as `CreateQueue` accepts it: 1 to 80 of `[A-Za-z0-9_-]`.
fn check_queue_name(name: &str) -> Result<(), SqsError> {
    if name.ends_with(".fifo") {
        return Err(SqsError::UnsupportedOperation(
            attributes::FIFO_UNSUPPORTED.into(),
        ));
    }
    let ok = (1..=80).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SqsError::InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
                .into(),
        ))
    }
}

impl Sqs {
    /// Opens the store (`{dir}/sqs.sqlite`, or in memory with `None`) and creates the
    /// template's queues, or brings existing ones to the template's attributes. `edge_url`
    /// is the base of queue URLs (`{edge_url}/{account_id}/{name}`).
    pub fn open(
        dir: Option<&Path>,
        queues: &[template::model::Queue],
        region: &str,
        account_id: &str,
        edge_url: &str,
        clock: SharedClock,
    ) -> Result<Self, SqsError> {
        if let Some(q) = queues.iter().find(|q| q.fifo || q.name.ends_with(".fifo")) {
            return Err(SqsError::Template(format!(
                "queue {} ({}): {}",
                q.logical_id,
                q.name,
                attributes::FIFO_UNSUPPORTED
            )));
        }
        let sqs = Self {
            db: Mutex::new(store::open(dir)?),
            clock,
            region: region.to_owned(),
            account_id: account_id.to_owned(),
            edge_url: edge_url.trim_end_matches('/').to_owned(),
            waiters: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            ids: Mutex::new(None),
        };
        sqs.tx(|tx, now| {
            for q in queues {
                let wanted = QueueAttrs::from_template(q);
                match store::queue(tx, &q.name)? {
                    None => {
                        store::insert_queue(tx, &q.name, &wanted, &BTreeMap::new(), now)?;
                    }
                    Some(mut row) => {
                        // The template owns what it states; attributes it cannot state
                        // (a policy set through the API) stay.
                        let attrs = QueueAttrs {
                            other: row.attrs.other.clone(),
                            ..wanted
                        };
                        if row.attrs != attrs {
                            row.attrs = attrs;
                            row.modified_ms = now;
                            store::update_queue(tx, &row)?;
                        }
                    }
                }
            }
            Ok(())
        })?;
        Ok(sqs)
    }

    /// Runs `f` in one write transaction, with the clock read under the lock so that
    /// operations see time in the order they commit.
    fn tx<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>, i64) -> Result<T, SqsError>,
    ) -> Result<T, SqsError> {
        let mut conn = lock(&self.db);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = self.clock.now_ms();
        let out = f(&tx, now)?;
        tx.commit()?;
        Ok(out)
    }

    /// Replaces uuid v4 message ids: a seeded run needs the same ids every time, so that its
    /// journal is byte-identical.
    pub fn set_id_generator(&self, ids: IdGenerator) {
        *lock(&self.ids) = Some(ids);
    }

    /// A receipt handle's nonce: random, or in seeded mode derived from the message and its
    /// receive count (unique per receive, and the same in every run).
    fn nonce_for(&self, message_id: &str, receive_count: i64) -> String {
        match lock(&self.ids).is_some() {
            true => format!(
                "{:x}",
                md5::compute(format!("{message_id}:{receive_count}"))
            ),
            false => receipt::nonce(),
        }
    }

    pub fn queue_url(&self, name: &str) -> String {
        format!("{}/{}/{name}", self.edge_url, self.account_id)
    }

    pub fn queue_arn(&self, name: &str) -> String {
        format!("arn:aws:sqs:{}:{}:{name}", self.region, self.account_id)
    }

    fn info(&self, name: &str) -> QueueInfo {
        QueueInfo {
            name: name.to_owned(),
            url: self.queue_url(name),
            arn: self.queue_arn(name),
        }
    }

    /// The queue name of an ARN of this region and account.
    pub fn queue_arn_to_name(&self, arn: &str) -> Option<String> {
        let rest = arn.strip_prefix("arn:")?;
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        match parts[..] {
            [_, "sqs", region, account, name]
                if region == self.region && account == self.account_id && !name.is_empty() =>
            {
                Some(name.to_owned())
            }
            _ => None,
        }
    }

    /// The queue name a reference means: a name, an ARN, or a queue URL on any host (SQS
    /// matches `/{account}/{name}`).
    fn name_of<'a>(&self, queue: &'a str) -> Result<&'a str, SqsError> {
        if queue.starts_with("arn:") {
            let name = self
                .queue_arn_to_name(queue)
                .ok_or(SqsError::QueueDoesNotExist)?;
            return Ok(&queue[queue.len() - name.len()..]);
        }
        let path = match queue.find("://") {
            Some(i) => {
                let after = &queue[i + 3..];
                after.find('/').map_or("", |p| &after[p..])
            }
            None if queue.starts_with('/') => queue,
            None => return Ok(queue),
        };
        let path = path.split(['?', '#']).next().unwrap_or("");
        let mut segments = path.split('/').filter(|s| !s.is_empty()).rev();
        match (segments.next(), segments.next()) {
            (Some(name), Some(account)) if account == self.account_id => Ok(name),
            _ => Err(SqsError::QueueDoesNotExist),
        }
    }

    fn row(&self, tx: &Transaction<'_>, queue: &str) -> Result<QueueRow, SqsError> {
        store::queue(tx, self.name_of(queue)?)?.ok_or(SqsError::QueueDoesNotExist)
    }

    fn row_by_arn(&self, tx: &Transaction<'_>, arn: &str) -> Result<Option<QueueRow>, SqsError> {
        match self.queue_arn_to_name(arn) {
            Some(name) => store::queue(tx, &name),
            None => Ok(None),
        }
    }

    fn notifier(&self, name: &str) -> Arc<Notify> {
        lock(&self.waiters)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    fn notify(&self, name: &str) {
        if let Some(n) = lock(&self.waiters).get(name) {
            n.notify_waiters();
        }
    }

    /// Makes every long poll look again: devstack calls it after moving a virtual clock,
    /// which may have made messages visible.
    pub fn wake(&self) {
        for n in lock(&self.waiters).values() {
            n.notify_waiters();
        }
    }

    // ---- queues ----

    /// Creates a queue; with an existing name, answers it if every given attribute has the
    /// queue's value, else `QueueNameExists`.
    pub fn create_queue(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<QueueInfo, SqsError> {
        check_queue_name(name)?;
        let mut attrs = QueueAttrs::default();
        for (k, v) in attributes {
            attrs.set(k, v, true)?;
        }
        check_tags(tags)?;
        self.tx(|tx, now| {
            if let Some(existing) = store::queue(tx, name)? {
                if let Some(k) = attributes
                    .keys()
                    .find(|k| existing.attrs.get(k) != attrs.get(k))
                {
                    return Err(SqsError::QueueNameExists(k.clone()));
                }
                return Ok(());
            }
            if let Some(r) = &attrs.redrive {
                self.check_redrive(tx, name, r, &attributes["RedrivePolicy"])?;
            }
            store::insert_queue(tx, name, &attrs, tags, now)?;
            Ok(())
        })?;
        Ok(self.info(name))
    }

    /// A dead-letter target must exist, differ from the source, and allow it.
    fn check_redrive(
        &self,
        tx: &Transaction<'_>,
        source: &str,
        r: &RedrivePolicy,
        raw: &str,
    ) -> Result<(), SqsError> {
        let invalid = |reason: String| {
            SqsError::InvalidParameterValue(format!(
                "Value {raw} for parameter RedrivePolicy is invalid. Reason: {reason}"
            ))
        };
        let target = self
            .row_by_arn(tx, &r.dead_letter_target_arn)?
            .ok_or_else(|| invalid("Dead letter target does not exist.".into()))?;
        if target.name == source {
            return Err(invalid(
                "Source queue and dead letter target cannot be the same.".into(),
            ));
        }
        let source_arn = self.queue_arn(source);
        let allow = target.attrs.other.get("RedriveAllowPolicy");
        if !attributes::allows_source(allow.map(String::as_str), &source_arn) {
            return Err(invalid(format!(
                "Queue {source_arn} is not allowed by the RedriveAllowPolicy of {} to use it as a dead letter target.",
                r.dead_letter_target_arn
            )));
        }
        Ok(())
    }

    pub fn delete_queue(&self, queue: &str) -> Result<(), SqsError> {
        let name = self.tx(|tx, _| {
            let q = self.row(tx, queue)?;
            store::delete_queue(tx, q.id)?;
            Ok(q.name)
        })?;
        // Long polls on it look again, and fail.
        self.notify(&name);
        Ok(())
    }

    /// The queue a reference (name, URL or ARN) names, if it exists.
    pub fn queue_info(&self, queue: &str) -> Result<QueueInfo, SqsError> {
        let name = self.tx(|tx, _| Ok(self.row(tx, queue)?.name))?;
        Ok(self.info(&name))
    }

    /// Every queue, by name.
    pub fn list_queues(&self) -> Result<Vec<QueueInfo>, SqsError> {
        let rows = self.tx(|tx, _| store::queues(tx))?;
        Ok(rows.iter().map(|q| self.info(&q.name)).collect())
    }

    /// The queues whose `RedrivePolicy` targets this one.
    pub fn dead_letter_sources(&self, queue: &str) -> Result<Vec<QueueInfo>, SqsError> {
        let names = self.tx(|tx, _| {
            let dlq = self.row(tx, queue)?;
            let arn = self.queue_arn(&dlq.name);
            Ok(store::queues(tx)?
                .into_iter()
                .filter(|q| {
                    q.attrs
                        .redrive
                        .as_ref()
                        .is_some_and(|r| r.dead_letter_target_arn == arn)
                })
                .map(|q| q.name)
                .collect::<Vec<_>>())
        })?;
        Ok(names.iter().map(|n| self.info(n)).collect())
    }

    /// `GetQueueAttributes`: the named attributes (or `All`) as strings.
    pub fn queue_attributes(
        &self,
        queue: &str,
        names: &[&str],
    ) -> Result<BTreeMap<String, String>, SqsError> {
        if let Some(bad) = names.iter().find(|n| !attributes::READABLE.contains(n)) {
            return Err(SqsError::InvalidAttributeName(format!(
                "Unknown Attribute {bad}."
            )));
        }
        let all = names.contains(&"All");
        let wants = |n: &str| all || names.contains(&n);
        self.tx(|tx, now| {
            let q = self.row(tx, queue)?;
            let mut out = BTreeMap::new();
            if wants("ApproximateNumberOfMessages")
                || wants("ApproximateNumberOfMessagesNotVisible")
                || wants("ApproximateNumberOfMessagesDelayed")
            {
                let s = self.stats_in(tx, &q, now)?;
                for (n, v) in [
                    ("ApproximateNumberOfMessages", s.visible),
                    ("ApproximateNumberOfMessagesNotVisible", s.in_flight),
                    ("ApproximateNumberOfMessagesDelayed", s.delayed),
                ] {
                    if wants(n) {
                        out.insert(n.to_owned(), v.to_string());
                    }
                }
            }
            if wants("QueueArn") {
                out.insert("QueueArn".into(), self.queue_arn(&q.name));
            }
            if wants("CreatedTimestamp") {
                out.insert("CreatedTimestamp".into(), (q.created_ms / 1000).to_string());
            }
            if wants("LastModifiedTimestamp") {
                out.insert(
                    "LastModifiedTimestamp".into(),
                    (q.modified_ms / 1000).to_string(),
                );
            }
            for n in QueueAttrs::settable() {
                if wants(n)
                    && let Some(v) = q.attrs.get(n)
                {
                    out.insert(n.to_owned(), v);
                }
            }
            Ok(out)
        })
    }

    /// `SetQueueAttributes`.
    pub fn set_queue_attributes(
        &self,
        queue: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), SqsError> {
        self.tx(|tx, now| {
            let mut q = self.row(tx, queue)?;
            for (k, v) in attributes {
                q.attrs.set(k, v, false)?;
            }
            if let Some(r) = &q.attrs.redrive
                && let Some(raw) = attributes.get("RedrivePolicy")
            {
                self.check_redrive(tx, &q.name, r, raw)?;
            }
            q.modified_ms = now;
            store::update_queue(tx, &q)
        })?;
        // A shorter visibility or delay does not change deadlines already set, so no waiter
        // needs waking.
        Ok(())
    }

    pub fn tag_queue(&self, queue: &str, tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
        check_tags(tags)?;
        self.tx(|tx, _| {
            let mut q = self.row(tx, queue)?;
            q.tags
                .extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            check_tags(&q.tags)?;
            store::update_queue(tx, &q)
        })
    }

    pub fn untag_queue(&self, queue: &str, keys: &[&str]) -> Result<(), SqsError> {
        self.tx(|tx, _| {
            let mut q = self.row(tx, queue)?;
            for k in keys {
                q.tags.remove(*k);
            }
            store::update_queue(tx, &q)
        })
    }

    pub fn queue_tags(&self, queue: &str) -> Result<BTreeMap<String, String>, SqsError> {
        self.tx(|tx, _| Ok(self.row(tx, queue)?.tags))
    }

    /// `PurgeQueue`: removes every message; at most once a minute per queue, as SQS allows.
    pub fn purge(&self, queue: &str) -> Result<(), SqsError> {
        self.tx(|tx, now| {
            let mut q = self.row(tx, queue)?;
            if q.last_purge_ms
                .is_some_and(|last| now - last < PURGE_INTERVAL_MS)
            {
                return Err(SqsError::PurgeQueueInProgress(self.queue_url(&q.name)));
            }
            store::purge(tx, q.id)?;
            q.last_purge_ms = Some(now);
            store::update_queue(tx, &q)
        })
    }

    // ---- messages ----

    /// Sends one message.
    pub fn send(&self, queue: &str, body: &str, options: SendOptions) -> Result<Sent, SqsError> {
        let mut results = self.send_many(queue, vec![Outgoing { body, options }])?;
        results.pop().unwrap_or(Err(SqsError::QueueDoesNotExist))
    }

    /// Sends several messages in one transaction; each succeeds or fails on its own.
    pub fn send_batch(
        &self,
        queue: &str,
        messages: Vec<(String, SendOptions)>,
    ) -> Result<Vec<Result<Sent, SqsError>>, SqsError> {
        let outgoing = messages
            .iter()
            .map(|(body, options)| Outgoing {
                body,
                options: options.clone(),
            })
            .collect();
        self.send_many(queue, outgoing)
    }

    fn send_many(
        &self,
        queue: &str,
        items: Vec<Outgoing<'_>>,
    ) -> Result<Vec<Result<Sent, SqsError>>, SqsError> {
        let (name, results) = self.tx(|tx, now| {
            let q = self.row(tx, queue)?;
            let mut results = Vec::with_capacity(items.len());
            for item in &items {
                results.push(self.send_in(tx, &q, item, now)?);
            }
            Ok((q.name, results))
        })?;
        if results.iter().any(Result::is_ok) {
            self.notify(&name);
        }
        Ok(results)
    }

    /// Stores one message; the outer error is the store's, the inner the message's.
    fn send_in(
        &self,
        tx: &Transaction<'_>,
        q: &QueueRow,
        item: &Outgoing<'_>,
        now: i64,
    ) -> Result<Result<Sent, SqsError>, SqsError> {
        let checked = (|| {
            let body = message::clean_body(item.body)?;
            let o = &item.options;
            message::check_attributes(&o.message_attributes)?;
            let delay = o.delay_seconds.unwrap_or(q.attrs.delay_seconds);
            if delay > MAX_DELAY_SECS {
                return Err(SqsError::InvalidParameterValue(format!(
                    "Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= {MAX_DELAY_SECS}."
                )));
            }
            let size = item.body.len() + message::attributes_size(&o.message_attributes);
            let max = q.attrs.max_message_size as usize;
            if size > max {
                return Err(SqsError::InvalidParameterValue(format!(
                    "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
                )));
            }
            Ok((body, delay))
        })();
        let (body, delay) = match checked {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let o = &item.options;
        let message_id = match lock(&self.ids).as_mut() {
            Some(next) => next(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let attributes = (!o.message_attributes.is_empty())
            .then(|| message::attributes_to_json(&o.message_attributes).to_string());
        store::insert_message(
            tx,
            q.id,
            &store::NewMessage {
                message_id: &message_id,
                body: &body,
                attributes,
                trace_header: o.trace_header.as_deref(),
                sender_id: o.sender_id.as_deref().unwrap_or(&self.account_id),
                sent_ms: now,
                visible_at: now + secs_ms(delay),
            },
        )?;
        Ok(Ok(Sent {
            message_id,
            // Of the body as sent, which is what the sender checks.
            md5_of_message_body: md5_of_body(item.body),
            md5_of_message_attributes: md5_of_attributes(&o.message_attributes),
            md5_of_message_system_attributes: o
                .trace_header
                .as_deref()
                .map(message::md5_of_trace_header),
        }))
    }

    /// Receives up to `max` (1..=10) visible messages, hiding each for `visibility_timeout`
    /// seconds (the queue's by default). A message already received `maxReceiveCount` times
    /// goes to the queue's dead-letter queue instead. Returns at once, maybe with none.
    pub fn receive(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Option<u32>,
    ) -> Result<Vec<Received>, SqsError> {
        Ok(self.receive_now(queue, max, visibility_timeout)?.0)
    }

    /// [`receive`](Self::receive), also telling which messages went to the dead-letter queue
    /// on the way (for devstack's delivery journal).
    pub fn receive_with_moves(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Option<u32>,
    ) -> Result<(Vec<Received>, Vec<MovedToDlq>), SqsError> {
        let (received, _, moved) = self.receive_inner(queue, max, visibility_timeout)?;
        Ok((received, moved))
    }

    /// [`receive`](Self::receive), also answering the queue's `ReceiveMessageWaitTimeSeconds`.
    fn receive_now(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Option<u32>,
    ) -> Result<(Vec<Received>, u32), SqsError> {
        let (received, wait, _) = self.receive_inner(queue, max, visibility_timeout)?;
        Ok((received, wait))
    }

    fn receive_inner(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Option<u32>,
    ) -> Result<(Vec<Received>, u32, Vec<MovedToDlq>), SqsError> {
        if !(1..=MAX_RECEIVE).contains(&max) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
            )));
        }
        if let Some(v) = visibility_timeout.filter(|v| *v > MAX_VISIBILITY_SECS) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided."
            )));
        }
        let (received, wait, moved_to, moves) = self.tx(|tx, now| {
            let q = self.row(tx, queue)?;
            store::expire(tx, q.id, now - secs_ms(q.attrs.retention_period))?;
            let hide_until =
                now + secs_ms(visibility_timeout.unwrap_or(q.attrs.visibility_timeout));
            let dlq = match &q.attrs.redrive {
                Some(r) => self
                    .row_by_arn(tx, &r.dead_letter_target_arn)?
                    .filter(|d| d.id != q.id)
                    .map(|d| (d, i64::from(r.max_receive_count))),
                None => None,
            };
            let arn = self.queue_arn(&q.name);
            let mut picked = HashSet::new();
            let mut out = Vec::new();
            let mut moved_to = None;
            let mut moves = Vec::new();
            loop {
                // With a zero visibility timeout, picked messages stay visible: skip them.
                let batch = store::visible(tx, q.id, now, max - out.len() + picked.len())?;
                let mut moved = false;
                let mut fresh = false;
                for m in batch {
                    if out.len() == max {
                        break;
                    }
                    if !picked.insert(m.seq) {
                        continue;
                    }
                    fresh = true;
                    if let Some((d, limit)) = &dlq
                        && m.receive_count >= *limit
                    {
                        store::move_to_dead_letter(tx, m.seq, d.id, now, &arn)?;
                        moves.push(MovedToDlq {
                            message_id: m.message_id.clone(),
                            dlq: d.name.clone(),
                            receive_count: u32::try_from(m.receive_count).unwrap_or(u32::MAX),
                        });
                        moved = true;
                        moved_to = Some(d.name.clone());
                        continue;
                    }
                    let nonce = self.nonce_for(&m.message_id, m.receive_count);
                    store::mark_received(tx, m.seq, hide_until, now, &nonce)?;
                    out.push(self.received(&q, m, now, &nonce));
                }
                // Only a move can leave fewer than asked while more are visible.
                if !moved || !fresh || out.len() == max {
                    break;
                }
            }
            Ok((out, q.attrs.receive_wait_seconds, moved_to, moves))
        })?;
        if let Some(d) = moved_to {
            self.notify(&d);
        }
        Ok((received, wait, moves))
    }

    fn received(&self, q: &QueueRow, m: store::Stored, now: i64, nonce: &str) -> Received {
        let message_attributes = m
            .attributes
            .as_deref()
            .map(message::attributes_from_json)
            .unwrap_or_default();
        let mut attributes = BTreeMap::from([
            (
                "ApproximateReceiveCount".to_owned(),
                (m.receive_count + 1).to_string(),
            ),
            ("SentTimestamp".to_owned(), m.sent_ms.to_string()),
            ("SenderId".to_owned(), m.sender_id),
            (
                "ApproximateFirstReceiveTimestamp".to_owned(),
                m.first_receive_ms.unwrap_or(now).to_string(),
            ),
        ]);
        if let Some(t) = m.trace_header {
            attributes.insert("AWSTraceHeader".into(), t);
        }
        if let Some(s) = m.dead_letter_source {
            attributes.insert("DeadLetterQueueSourceArn".into(), s);
        }
        Received {
            message_id: m.message_id,
            receipt_handle: receipt::make(q.id, m.seq, nonce),
            md5_of_body: md5_of_body(&m.body),
            body: m.body,
            attributes,
            md5_of_message_attributes: md5_of_attributes(&message_attributes),
            message_attributes,
            event_source_arn: self.queue_arn(&q.name),
        }
    }

    /// Deletes a received message. A handle from an earlier receive of a message received
    /// again since deletes nothing and succeeds, as SQS documents; a malformed handle is
    /// `ReceiptHandleIsInvalid`.
    pub fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), SqsError> {
        self.tx(|tx, _| {
            let q = self.row(tx, queue)?;
            Self::delete_in(tx, &q, receipt_handle)
        })
    }

    fn delete_in(tx: &Transaction<'_>, q: &QueueRow, handle: &str) -> Result<(), SqsError> {
        let (seq, nonce) = Self::parse_handle(q, handle)?;
        if let Some(h) = store::held(tx, seq)?
            && h.queue_id == q.id
            && h.receipt.as_deref() == Some(nonce.as_str())
        {
            store::delete_message(tx, seq)?;
        }
        Ok(())
    }

    fn parse_handle(q: &QueueRow, handle: &str) -> Result<(i64, String), SqsError> {
        match receipt::parse(handle) {
            Some((queue_id, seq, nonce)) if queue_id == q.id => Ok((seq, nonce)),
            _ => Err(SqsError::ReceiptHandleIsInvalid(handle.to_owned())),
        }
    }

    /// Changes how long a received message stays hidden, counting from now. A stale handle
    /// (the message was deleted or received again) is `InvalidParameterValue`, as SQS
    /// answers; a message whose timeout already ran out is left as it is.
    pub fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        visibility_timeout: u32,
    ) -> Result<(), SqsError> {
        let (name, visible) = self.tx(|tx, now| {
            let q = self.row(tx, queue)?;
            let visible =
                Self::change_visibility_in(tx, &q, receipt_handle, visibility_timeout, now)?;
            Ok((q.name, visible))
        })?;
        if visible {
            self.notify(&name);
        }
        Ok(())
    }

    /// Returns whether the message is visible now.
    fn change_visibility_in(
        tx: &Transaction<'_>,
        q: &QueueRow,
        handle: &str,
        secs: u32,
        now: i64,
    ) -> Result<bool, SqsError> {
        if secs > MAX_VISIBILITY_SECS {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {secs} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200, if provided."
            )));
        }
        let (seq, nonce) = Self::parse_handle(q, handle)?;
        let held = store::held(tx, seq)?
            .filter(|h| h.queue_id == q.id && h.receipt.as_deref() == Some(nonce.as_str()));
        let Some(h) = held else {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
            )));
        };
        if h.visible_at <= now {
            return Ok(false);
        }
        let until = now + secs_ms(secs);
        if until - h.last_receive_ms.unwrap_or(now) > secs_ms(MAX_VISIBILITY_SECS) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {secs} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"
            )));
        }
        store::set_visible_at(tx, seq, until)?;
        Ok(secs == 0)
    }

    /// Deletes several messages in one transaction; each succeeds or fails on its own.
    pub fn delete_batch(
        &self,
        queue: &str,
        receipt_handles: &[&str],
    ) -> Result<Vec<Result<(), SqsError>>, SqsError> {
        self.tx(|tx, _| {
            let q = self.row(tx, queue)?;
            receipt_handles
                .iter()
                .map(|h| match Self::delete_in(tx, &q, h) {
                    Err(SqsError::Storage(e)) => Err(SqsError::Storage(e)),
                    other => Ok(other),
                })
                .collect()
        })
    }

    /// Changes several messages' visibility in one transaction; each succeeds or fails on
    /// its own.
    pub fn change_visibility_batch(
        &self,
        queue: &str,
        entries: &[(&str, u32)],
    ) -> Result<Vec<Result<(), SqsError>>, SqsError> {
        let (name, results, any_visible) = self.tx(|tx, now| {
            let q = self.row(tx, queue)?;
            let mut any_visible = false;
            let mut results = Vec::with_capacity(entries.len());
            for (h, secs) in entries {
                results.push(match Self::change_visibility_in(tx, &q, h, *secs, now) {
                    Err(SqsError::Storage(e)) => return Err(SqsError::Storage(e)),
                    Ok(visible) => {
                        any_visible |= visible;
                        Ok(())
                    }
                    Err(e) => Err(e),
                });
            }
            Ok((q.name, results, any_visible))
        })?;
        if any_visible {
            self.notify(&name);
        }
        Ok(results)
    }

    fn stats_in(
        &self,
        tx: &Transaction<'_>,
        q: &QueueRow,
        now: i64,
    ) -> Result<QueueStats, SqsError> {
        store::expire(tx, q.id, now - secs_ms(q.attrs.retention_period))?;
        let (visible, in_flight, delayed) = store::counts(tx, q.id, now)?;
        Ok(QueueStats {
            visible,
            in_flight,
            delayed,
        })
    }

    /// How many messages the queue holds, by state.
    pub fn stats(&self, queue: &str) -> Result<QueueStats, SqsError> {
        self.tx(|tx, now| {
            let q = self.row(tx, queue)?;
            self.stats_in(tx, &q, now)
        })
    }

    /// Up to `n` messages, oldest first, whatever their visibility, without receiving them.
    pub fn peek(&self, queue: &str, n: usize) -> Result<Vec<Peeked>, SqsError> {
        self.tx(|tx, now| {
            let q = self.row(tx, queue)?;
            store::expire(tx, q.id, now - secs_ms(q.attrs.retention_period))?;
            Ok(store::oldest(tx, q.id, n)?
                .into_iter()
                .map(|m| Peeked {
                    message_id: m.message_id,
                    body: m.body,
                    sent_timestamp: m.sent_ms,
                    receive_count: m.receive_count as u32,
                    visible_at: m.visible_at,
                    message_attributes: m
                        .attributes
                        .as_deref()
                        .map(message::attributes_from_json)
                        .unwrap_or_default(),
                    trace_header: m.trace_header,
                    dead_letter_source_arn: m.dead_letter_source,
                })
                .collect())
        })
    }

    /// The earliest clock time (ms) at which a hidden (in flight or delayed) message of the
    /// queue becomes visible, so a poller on the real clock can sleep until then.
    pub fn next_visible_at(&self, queue: &str) -> Result<Option<i64>, SqsError> {
        self.tx(|tx, now| {
            let q = self.row(tx, queue)?;
            store::next_visible_at(tx, q.id, now)
        })
    }

    /// Waits until a message of the queue may be visible (`true`) or the real-time
    /// `deadline` passes (`false`). Wakes on a send, on [`wake`](Self::wake), and when the
    /// clock should have reached the next visibility deadline (assuming it runs at real
    /// speed; a virtual clock's mover calls `wake`).
    pub async fn wait_for_messages(
        &self,
        queue: &str,
        deadline: tokio::time::Instant,
    ) -> Result<bool, SqsError> {
        let name = self.name_of(queue)?.to_owned();
        let notify = self.notifier(&name);
        loop {
            let notified = notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a send between the look and the wait still wakes.
            notified.as_mut().enable();
            let (visible, next, now) = self.tx(|tx, now| {
                let q = store::queue(tx, &name)?.ok_or(SqsError::QueueDoesNotExist)?;
                store::expire(tx, q.id, now - secs_ms(q.attrs.retention_period))?;
                Ok((
                    store::any_visible(tx, q.id, now)?,
                    store::next_visible_at(tx, q.id, now)?,
                    now,
                ))
            })?;
            if visible {
                return Ok(true);
            }
            let real_now = tokio::time::Instant::now();
            if real_now >= deadline {
                return Ok(false);
            }
            let until = next.map_or(deadline, |at| {
                let wait = std::time::Duration::from_millis((at - now).max(0) as u64);
                deadline.min(real_now + wait)
            });
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    // ---- dead-letter redrive ----

    /// Starts moving a dead-letter queue's available messages to `destination_arn`, or each
    /// back to the queue it came from. devstack moves them at once, so the task it reports
    /// is already `COMPLETED` (or `FAILED`, with the reason).
    pub fn start_message_move_task(
        &self,
        source_arn: &str,
        destination_arn: Option<&str>,
        max_per_second: Option<u32>,
    ) -> Result<String, SqsError> {
        if let Some(r) = max_per_second.filter(|r| !(1..=500).contains(r)) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {r} for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500."
            )));
        }
        let started = self.clock.now_ms();
        let (moved, to_move, failure, destinations) = self.tx(|tx, now| {
            let source = self.row_by_arn(tx, source_arn)?.ok_or_else(|| {
                SqsError::ResourceNotFound(
                    "The resource that you specified for the SourceArn parameter doesn't exist."
                        .into(),
                )
            })?;
            let source_queue_arn = self.queue_arn(&source.name);
            let is_dlq = store::queues(tx)?.iter().any(|q| {
                q.attrs
                    .redrive
                    .as_ref()
                    .is_some_and(|r| r.dead_letter_target_arn == source_queue_arn)
            });
            if !is_dlq {
                return Err(SqsError::InvalidParameterValue(
                    "Source queue must be configured as a Dead Letter Queue.".into(),
                ));
            }
            let fixed = match destination_arn {
                Some(arn) => Some(self.row_by_arn(tx, arn)?.ok_or_else(|| {
                    SqsError::ResourceNotFound(
                        "The resource that you specified for the DestinationArn parameter doesn't exist."
                            .into(),
                    )
                })?),
                None => None,
            };
            store::expire(tx, source.id, now - secs_ms(source.attrs.retention_period))?;
            let (to_move, _, _) = store::counts(tx, source.id, now)?;
            let mut moved = 0u64;
            let mut destinations = HashSet::new();
            let mut failure = None;
            'outer: loop {
                let batch = store::visible(tx, source.id, now, 500)?;
                if batch.is_empty() {
                    break;
                }
                for m in batch {
                    let target = match (&fixed, &m.dead_letter_source) {
                        (Some(d), _) => Some(d.clone()),
                        (None, Some(arn)) => self.row_by_arn(tx, arn)?,
                        (None, None) => None,
                    };
                    let Some(target) = target else {
                        failure = Some(format!(
                            "Message {} has no source queue to return to (it was not moved here by a redrive policy, or its source queue no longer exists); give a DestinationArn.",
                            m.message_id
                        ));
                        break 'outer;
                    };
                    store::redrive(tx, m.seq, target.id, now)?;
                    destinations.insert(target.name);
                    moved += 1;
                }
            }
            Ok((moved, to_move, failure, destinations))
        })?;
        for d in &destinations {
            self.notify(d);
        }
        let handle = BASE64.encode(format!(
            "{{\"taskId\":\"{}\",\"sourceArn\":\"{source_arn}\"}}",
            uuid::Uuid::new_v4()
        ));
        lock(&self.tasks).push(MessageMoveTask {
            task_handle: handle.clone(),
            status: if failure.is_some() {
                "FAILED"
            } else {
                "COMPLETED"
            },
            source_arn: source_arn.to_owned(),
            destination_arn: destination_arn.map(str::to_owned),
            max_number_of_messages_per_second: max_per_second,
            moved,
            to_move,
            failure_reason: failure,
            started_timestamp: started,
        });
        Ok(handle)
    }

    /// The most recent move tasks of a source queue (newest first), at most `max` (1..=10).
    pub fn message_move_tasks(
        &self,
        source_arn: &str,
        max: usize,
    ) -> Result<Vec<MessageMoveTask>, SqsError> {
        if !(1..=10).contains(&max) {
            return Err(SqsError::InvalidParameterValue(format!(
                "Value {max} for parameter MaxResults is invalid. Reason: Must be between 1 and 10."
            )));
        }
        self.tx(|tx, _| {
            self.row_by_arn(tx, source_arn)?.ok_or_else(|| {
                SqsError::ResourceNotFound(
                    "The resource that you specified for the SourceArn parameter doesn't exist."
                        .into(),
                )
            })
        })?;
        Ok(lock(&self.tasks)
            .iter()
            .rev()
            .filter(|t| t.source_arn == source_arn)
            .take(max)
            .cloned()
            .collect())
    }

    /// Cancels a running move task; devstack's tasks finish as they start, so there is
    /// never one to cancel.
    pub fn cancel_message_move_task(&self, handle: &str) -> Result<u64, SqsError> {
        let tasks = lock(&self.tasks);
        match tasks.iter().find(|t| t.task_handle == handle) {
            None => Err(SqsError::ResourceNotFound(format!(
                "The task handle {handle} does not exist."
            ))),
            Some(t) => Err(SqsError::ResourceNotFound(format!(
                "Only a RUNNING message move task can be cancelled; this one is {}.",
                t.status
            ))),
        }
    }
}

/// At most 50 tags; keys 1..=128 and values up to 256 characters.
fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), SqsError> {
    if tags.len() > 50 {
        return Err(SqsError::InvalidParameterValue(
            "Too many tags added for queue. The maximum is 50.".into(),
        ));
    }
    if let Some((k, _)) = tags
        .iter()
        .find(|(k, v)| !(1..=128).contains(&k.chars().count()) || v.chars().count() > 256)
    {
        return Err(SqsError::InvalidParameterValue(format!(
            "Tag {k} is invalid: a tag key has 1 to 128 characters and a value at most 256."
        )));
    }
    Ok(())
}
