//! The delivery journal: an append-only JSONL file of what devstack did with each message, so
//! that a duplicate can be traced to its cause and a delivery replayed.
//!
//! One line per [`Record`]: `{"seq":N,"t":MS,"kind":"...",...}` where `seq` counts from 1 in
//! the file, `t` is devstack's clock (virtual or real) as the caller passed it, and the rest is
//! the [`Entry`]. Field order is the structs' declaration order, maps inside payloads are
//! serde_json maps (ordered), and nothing is stamped here but `seq`: no wall clock, no random
//! id. So a seeded run on a virtual clock writes the same bytes every time.
//!
//! Each line is written whole and flushed before `record` returns (a `BufWriter` flushed per
//! line): if devstack crashes, the journal holds every line up to the last complete one. It
//! does not `fsync`, so a power loss may cost the last lines the OS had not written yet.
//! Opening a journal whose last line was cut by a crash trims that line, so that appending
//! continues on a line of its own.

use crate::rules::{Fault, TargetKind, glob};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use thiserror::Error;

/// One thing that happened. Queues and functions are names; ids are those the services
/// assigned (deterministic in seeded mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Entry {
    /// A message was accepted by a queue.
    Send {
        queue: String,
        message_id: String,
        /// `MD5OfMessageBody`, so that equal bodies can be recognised without storing them.
        md5: String,
        /// The body itself, when the embedder keeps bodies in the journal.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// An event source mapping handed a batch of a queue to a function.
    Delivery {
        mapping: String,
        function: String,
        queue: String,
        batch: String,
        messages: Vec<Delivered>,
        /// The event exactly as the function received it, so replay can drive it again.
        payload: Value,
    },
    /// How a delivery or invocation ended.
    Response {
        /// The `batch` of the delivery, or the `invocation` of an invoke, this answers.
        batch: String,
        function: String,
        outcome: Outcome,
    },
    /// A message was deleted from its queue (after a successful batch, or by a client).
    Delete {
        queue: String,
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<String>,
    },
    /// A message was made visible again for another delivery (failed item, error, timeout).
    ReturnToQueue {
        queue: String,
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch: Option<String>,
    },
    /// A message exceeded `maxReceiveCount` and moved to the dead-letter queue.
    MoveToDlq {
        queue: String,
        dlq: String,
        message_id: String,
        receive_count: u32,
    },
    /// Chaos injected a fault (written by [`crate::Chaos`]).
    Fault {
        rule: String,
        fault: Fault,
        /// The queue, bus, table (`-` for none), function or WebSocket API (its logical id) it
        /// was injected on.
        resource: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<String>,
        /// The messages of the batch or invocation concerned.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        message_ids: Vec<String>,
        /// The DynamoDB operation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation: Option<String>,
        /// The WebSocket connection (of the API in `resource`) made gone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        connection_id: Option<String>,
        /// The PutEvents entry's index in its request.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<usize>,
        /// A reorder's resulting order, as indices into `message_ids`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order: Option<Vec<usize>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receive_count: Option<u32>,
        /// What the embedder said about the occurrence (a PutEvents entry's summary).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// For a DynamoDB error: which call of that table and operation it answered (1 for the
        /// first), counted from the latest invocation a poller started, so that a replay of
        /// that delivery injects it into the same call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
    },
    /// EventBridge invoked a Lambda target.
    Invoke {
        bus: String,
        rule: String,
        target: String,
        function: String,
        invocation: String,
        event_id: String,
        payload: Value,
    },
    /// One PutEvents entry: accepted (`event_id`) or failed (`error_code`, `error_message`).
    PutEvents {
        bus: String,
        index: usize,
        source: String,
        detail_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_message: Option<String>,
    },
}

/// A message of a delivery, with how many times it had been received then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    pub message_id: String,
    pub receive_count: u32,
}

/// How a function answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Outcome {
    /// Success: every message of the batch is done.
    Success,
    /// A partial batch response: these messages failed, the others are done.
    BatchItemFailures {
        ids: Vec<String>,
    },
    /// The function failed (`errorType`, e.g. `Runtime.ExitError` for a crash).
    FunctionError {
        error_type: String,
    },
    Timeout,
    /// The response could not be understood (an invalid partial batch response).
    Malformed {
        detail: String,
    },
}

/// The kinds of entries, for filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Send,
    Delivery,
    Response,
    Delete,
    ReturnToQueue,
    MoveToDlq,
    Fault,
    Invoke,
    PutEvents,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Send,
        Kind::Delivery,
        Kind::Response,
        Kind::Delete,
        Kind::ReturnToQueue,
        Kind::MoveToDlq,
        Kind::Fault,
        Kind::Invoke,
        Kind::PutEvents,
    ];

    /// The `kind` as written in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Send => "send",
            Kind::Delivery => "delivery",
            Kind::Response => "response",
            Kind::Delete => "delete",
            Kind::ReturnToQueue => "return-to-queue",
            Kind::MoveToDlq => "move-to-dlq",
            Kind::Fault => "fault",
            Kind::Invoke => "invoke",
            Kind::PutEvents => "put-events",
        }
    }
}

impl FromStr for Kind {
    type Err = String;

    /// The journal's spelling, with `_` for `-` and `receive` for `delivery` accepted.
    fn from_str(s: &str) -> Result<Kind, String> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        if norm == "receive" {
            return Ok(Kind::Delivery);
        }
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == norm)
            .ok_or_else(|| {
                let all: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!("unknown journal kind `{s}`; kinds are {}", all.join(", "))
            })
    }
}

impl Entry {
    pub fn kind(&self) -> Kind {
        match self {
            Entry::Send { .. } => Kind::Send,
            Entry::Delivery { .. } => Kind::Delivery,
            Entry::Response { .. } => Kind::Response,
            Entry::Delete { .. } => Kind::Delete,
            Entry::ReturnToQueue { .. } => Kind::ReturnToQueue,
            Entry::MoveToDlq { .. } => Kind::MoveToDlq,
            Entry::Fault { .. } => Kind::Fault,
            Entry::Invoke { .. } => Kind::Invoke,
            Entry::PutEvents { .. } => Kind::PutEvents,
        }
    }

    /// The queues the entry concerns (a dead-lettering concerns both queues).
    fn queues(&self) -> Vec<&str> {
        match self {
            Entry::Send { queue, .. }
            | Entry::Delivery { queue, .. }
            | Entry::Delete { queue, .. }
            | Entry::ReturnToQueue { queue, .. } => vec![queue],
            Entry::MoveToDlq { queue, dlq, .. } => vec![queue, dlq],
            Entry::Fault {
                fault, resource, ..
            } if fault.applies_to() == TargetKind::Queue => vec![resource],
            _ => Vec::new(),
        }
    }

    fn function(&self) -> Option<&str> {
        match self {
            Entry::Delivery { function, .. }
            | Entry::Response { function, .. }
            | Entry::Invoke { function, .. } => Some(function),
            Entry::Fault {
                fault, resource, ..
            } if fault.applies_to() == TargetKind::Function => Some(resource),
            _ => None,
        }
    }

    fn concerns_message(&self, id: &str) -> bool {
        match self {
            Entry::Send { message_id, .. }
            | Entry::Delete { message_id, .. }
            | Entry::ReturnToQueue { message_id, .. }
            | Entry::MoveToDlq { message_id, .. } => message_id == id,
            Entry::Delivery { messages, .. } => messages.iter().any(|m| m.message_id == id),
            Entry::Response {
                outcome: Outcome::BatchItemFailures { ids },
                ..
            } => ids.iter().any(|m| m == id),
            Entry::Fault {
                message_id,
                message_ids,
                ..
            } => message_id.as_deref() == Some(id) || message_ids.iter().any(|m| m == id),
            Entry::Invoke { event_id, .. }
            | Entry::PutEvents {
                event_id: Some(event_id),
                ..
            } => event_id == id,
            _ => false,
        }
    }

    /// The batch or invocation a delivery, invoke or response belongs to.
    fn batch(&self) -> Option<&str> {
        match self {
            Entry::Delivery { batch, .. } | Entry::Response { batch, .. } => Some(batch),
            Entry::Invoke { invocation, .. } => Some(invocation),
            Entry::Delete { batch, .. } | Entry::ReturnToQueue { batch, .. } => batch.as_deref(),
            _ => None,
        }
    }
}

/// A journal line: the sequence number and time the journal and the caller stamped, and the
/// entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    /// devstack's clock, ms since the epoch.
    pub t: i64,
    #[serde(flatten)]
    pub entry: Entry,
}

/// The borrowed form written by `record`, so recording does not clone payloads.
#[derive(Serialize)]
struct RecordRef<'a> {
    seq: u64,
    t: i64,
    #[serde(flatten)]
    entry: &'a Entry,
}

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("journal {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("journal write failed: {0}")]
    Write(#[source] io::Error),
    #[error("journal entry cannot be serialized: {0}")]
    Serialize(#[source] serde_json::Error),
    /// The last complete line of a journal being opened for appending is not a record, so
    /// this file is not a journal (or not one this version can continue).
    #[error("{} is not a chaos journal: its last line: {message}", path.display())]
    NotAJournal { path: PathBuf, message: String },
    /// A line other than a crash-truncated last one is not a journal record.
    #[error("journal line {line} is not a journal record: {message}")]
    Corrupt { line: usize, message: String },
}

/// A handle on a journal; clones share it. Thread-safe: lines are written whole, in `seq`
/// order.
#[derive(Clone, Default)]
pub struct Journal {
    inner: Option<Arc<Mutex<Sink>>>,
}

struct Sink {
    next_seq: u64,
    out: Out,
    path: Option<PathBuf>,
}

enum Out {
    File(BufWriter<File>),
    Memory(Vec<u8>),
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("Journal(disabled)"),
            Some(sink) => {
                let sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
                match (&sink.out, &sink.path) {
                    (Out::File(_), Some(path)) => write!(f, "Journal({})", path.display()),
                    _ => f.write_str("Journal(memory)"),
                }
            }
        }
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path` for appending, continuing its `seq`. A last
    /// line cut short by a crash is trimmed first.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref();
        let io_err = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_err)?;
        let (keep, last) = complete_tail(&mut file).map_err(io_err)?;
        if keep < file.metadata().map_err(io_err)?.len() {
            file.set_len(keep).map_err(io_err)?;
        }
        let next_seq = match last {
            None => 1,
            Some(line) => {
                #[derive(Deserialize)]
                struct Seq {
                    seq: u64,
                }
                let seq: Seq =
                    serde_json::from_slice(&line).map_err(|e| JournalError::NotAJournal {
                        path: path.to_owned(),
                        message: e.to_string(),
                    })?;
                seq.seq + 1
            }
        };
        Ok(Journal::with(Sink {
            next_seq,
            out: Out::File(BufWriter::new(file)),
            path: Some(path.to_owned()),
        }))
    }

    /// Creates the journal at `path`, emptying any previous one: for a run whose journal is
    /// compared byte for byte with another's.
    pub fn create(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|source| JournalError::Io {
            path: path.to_owned(),
            source,
        })?;
        Ok(Journal::with(Sink {
            next_seq: 1,
            out: Out::File(BufWriter::new(file)),
            path: Some(path.to_owned()),
        }))
    }

    /// A journal in memory, for tests: [`Journal::contents`] gives its bytes.
    pub fn memory() -> Journal {
        Journal::with(Sink {
            next_seq: 1,
            out: Out::Memory(Vec::new()),
            path: None,
        })
    }

    /// A journal that records nothing, at the cost of a branch.
    pub fn disabled() -> Journal {
        Journal { inner: None }
    }

    fn with(sink: Sink) -> Journal {
        Journal {
            inner: Some(Arc::new(Mutex::new(sink))),
        }
    }

    /// Whether `record` writes anything: callers skip building costly entries otherwise.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Appends one line stamped with the next `seq` and the caller's time `t` (devstack's
    /// clock), and flushes it. Returns the `seq` (0 for a disabled journal).
    pub fn record(&self, t: i64, entry: &Entry) -> Result<u64, JournalError> {
        let Some(sink) = &self.inner else {
            return Ok(0);
        };
        let mut sink = sink.lock().unwrap_or_else(PoisonError::into_inner);
        let seq = sink.next_seq;
        let mut line =
            serde_json::to_vec(&RecordRef { seq, t, entry }).map_err(JournalError::Serialize)?;
        line.push(b'\n');
        match &mut sink.out {
            Out::File(w) => {
                w.write_all(&line)
                    .and_then(|()| w.flush())
                    .map_err(JournalError::Write)?;
            }
            Out::Memory(buf) => buf.extend_from_slice(&line),
        }
        sink.next_seq += 1;
        Ok(seq)
    }

    /// Where a file journal is written (None for memory and disabled ones).
    pub fn path(&self) -> Option<PathBuf> {
        let sink = self.inner.as_ref()?;
        sink.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .path
            .clone()
    }

    /// A memory journal's bytes (empty for the others).
    pub fn contents(&self) -> Vec<u8> {
        let Some(sink) = &self.inner else {
            return Vec::new();
        };
        match &sink.lock().unwrap_or_else(PoisonError::into_inner).out {
            Out::Memory(buf) => buf.clone(),
            Out::File(_) => Vec::new(),
        }
    }

    /// Reads the journal at `path`, tolerating a last line cut short by a crash.
    pub fn read(path: impl AsRef<Path>) -> Result<Vec<Record>, JournalError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| JournalError::Io {
            path: path.to_owned(),
            source,
        })?;
        Journal::parse(&bytes)
    }

    /// Parses journal bytes, as [`Journal::read`] does.
    pub fn parse(bytes: &[u8]) -> Result<Vec<Record>, JournalError> {
        let mut records = Vec::new();
        let mut lines = bytes.split(|&b| b == b'\n').enumerate().peekable();
        while let Some((index, line)) = lines.next() {
            let last = lines.peek().is_none();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Record>(line) {
                Ok(record) => records.push(record),
                // The final piece has no newline after it: a crash cut it short.
                Err(_) if last => {}
                Err(e) => {
                    return Err(JournalError::Corrupt {
                        line: index + 1,
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(records)
    }
}

/// Where the complete lines of `file` end, and the last complete line. Reads backwards in
/// chunks, so opening a large journal does not read it all.
fn complete_tail(file: &mut File) -> io::Result<(u64, Option<Vec<u8>>)> {
    const CHUNK: u64 = 64 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    // `tail` holds the file's bytes from `start` to the end.
    let mut tail: Vec<u8> = Vec::new();
    let mut start = len;
    loop {
        let newlines: Vec<usize> = tail
            .iter()
            .enumerate()
            .filter_map(|(i, &b)| (b == b'\n').then_some(i))
            .collect();
        // The last newline ends the complete lines; the one before it (or the file's start)
        // begins the last complete line.
        if let Some(&end) = newlines.last() {
            let keep = start + end as u64 + 1;
            if newlines.len() >= 2 || start == 0 {
                let begin = if newlines.len() >= 2 {
                    newlines[newlines.len() - 2] + 1
                } else {
                    0
                };
                return Ok((keep, Some(tail[begin..end].to_vec())));
            }
        } else if start == 0 {
            return Ok((0, None));
        }
        let read_from = start.saturating_sub(CHUNK);
        let mut chunk = vec![0; (start - read_from) as usize];
        file.seek(SeekFrom::Start(read_from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        start = read_from;
    }
}

/// Which records to show: every condition given must hold. Names are globs (`*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Any of these kinds (empty: all).
    pub kinds: Vec<Kind>,
    pub queue: Option<String>,
    pub function: Option<String>,
    pub message_id: Option<String>,
    /// `t >= since`.
    pub since: Option<i64>,
    /// `t <= until`.
    pub until: Option<i64>,
}

impl Filter {
    /// Whether the record alone satisfies the filter.
    pub fn matches(&self, record: &Record) -> bool {
        self.matches_time_and_kind(record)
            && self.matches_resources(&record.entry)
            && self
                .message_id
                .as_deref()
                .is_none_or(|id| record.entry.concerns_message(id))
    }

    fn matches_time_and_kind(&self, record: &Record) -> bool {
        self.since.is_none_or(|s| record.t >= s)
            && self.until.is_none_or(|u| record.t <= u)
            && (self.kinds.is_empty() || self.kinds.contains(&record.entry.kind()))
    }

    fn matches_resources(&self, entry: &Entry) -> bool {
        self.queue
            .as_deref()
            .is_none_or(|q| entry.queues().iter().any(|name| glob(q, name)))
            && self
                .function
                .as_deref()
                .is_none_or(|f| entry.function().is_some_and(|name| glob(f, name)))
    }

    /// The matching records of a journal, in order. Beyond [`Filter::matches`], an entry
    /// that names a batch (a response, or a delete) follows the delivery it belongs to: when
    /// the filter picks a delivery by queue or message, that delivery's response is shown too,
    /// though a response names neither.
    pub fn select<'a>(&self, records: &'a [Record]) -> Vec<&'a Record> {
        let mut batches: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for record in records {
            let entry = &record.entry;
            let picked = self.matches(record);
            if picked
                && matches!(entry, Entry::Delivery { .. } | Entry::Invoke { .. })
                && let Some(batch) = entry.batch()
            {
                batches.push(batch);
            }
            let follows = !picked
                && matches!(entry, Entry::Response { .. })
                && entry.batch().is_some_and(|b| batches.contains(&b))
                && self.matches_time_and_kind(record)
                && self
                    .function
                    .as_deref()
                    .is_none_or(|f| entry.function().is_some_and(|name| glob(f, name)));
            if picked || follows {
                out.push(record);
            }
        }
        out
    }
}

/// A human-readable one-line rendering, for `devstack journal`.
pub fn render_line(record: &Record) -> String {
    let mut line = format!(
        "#{} {} {}",
        record.seq,
        format_time(record.t),
        record.entry.kind().as_str()
    );
    // Writing to a String cannot fail.
    let _ = match &record.entry {
        Entry::Send {
            queue,
            message_id,
            md5,
            body,
        } => {
            let size = body
                .as_ref()
                .map(|b| format!(" ({} bytes)", b.len()))
                .unwrap_or_default();
            write!(line, " {queue} {message_id} md5={md5}{size}")
        }
        Entry::Delivery {
            mapping,
            function,
            queue,
            batch,
            messages,
            ..
        } => {
            let ids: Vec<String> = messages
                .iter()
                .map(|m| format!("{} (receive {})", m.message_id, m.receive_count))
                .collect();
            write!(
                line,
                " {queue} -> {function} via {mapping} batch={batch} [{}]",
                ids.join(", ")
            )
        }
        Entry::Response {
            batch,
            function,
            outcome,
        } => {
            let how = match outcome {
                Outcome::Success => "success".to_owned(),
                Outcome::BatchItemFailures { ids } => {
                    format!("batch item failures [{}]", ids.join(", "))
                }
                Outcome::FunctionError { error_type } => format!("function error {error_type}"),
                Outcome::Timeout => "timeout".to_owned(),
                Outcome::Malformed { detail } => format!("malformed response: {detail}"),
            };
            write!(line, " {function} batch={batch}: {how}")
        }
        Entry::Delete {
            queue,
            message_id,
            batch,
        }
        | Entry::ReturnToQueue {
            queue,
            message_id,
            batch,
        } => {
            let batch = batch
                .as_ref()
                .map(|b| format!(" batch={b}"))
                .unwrap_or_default();
            write!(line, " {queue} {message_id}{batch}")
        }
        Entry::MoveToDlq {
            queue,
            dlq,
            message_id,
            receive_count,
        } => write!(
            line,
            " {queue} -> {dlq} {message_id} after {receive_count} receives"
        ),
        Entry::Fault {
            rule,
            fault,
            resource,
            message_id,
            message_ids,
            operation,
            connection_id,
            index,
            order,
            receive_count,
            detail,
            call,
        } => {
            let what = match fault {
                Fault::Delay { ms } => format!("delay {ms}ms"),
                Fault::FailEntry { code, .. } => format!("fail-entry {code}"),
                Fault::DynamoError {
                    code,
                    item: Some(i),
                } => format!("dynamo-error {code} (item {i})"),
                Fault::DynamoError { code, .. } => format!("dynamo-error {code}"),
                other => other.name().to_owned(),
            };
            let _ = write!(
                line,
                " [{rule}] {what} on {} {resource}",
                fault.applies_to().key()
            );
            if let Some(op) = operation {
                let _ = write!(line, " op={op}");
            }
            if let Some(n) = call {
                let _ = write!(line, " call={n}");
            }
            if let Some(c) = connection_id {
                let _ = write!(line, " connection={c}");
            }
            if let Some(i) = index {
                let _ = write!(line, " entry={i}");
            }
            if let Some(id) = message_id {
                let _ = write!(line, " message={id}");
            }
            if let Some(rc) = receive_count {
                let _ = write!(line, " receive={rc}");
            }
            if !message_ids.is_empty() {
                let _ = write!(line, " messages=[{}]", message_ids.join(", "));
            }
            if let Some(order) = order {
                let order: Vec<String> = order.iter().map(usize::to_string).collect();
                let _ = write!(line, " order=[{}]", order.join(", "));
            }
            match detail {
                Some(d) => write!(line, " ({d})"),
                None => Ok(()),
            }
        }
        Entry::Invoke {
            bus,
            rule,
            target,
            function,
            invocation,
            event_id,
            ..
        } => write!(
            line,
            " {bus}/{rule} -> {function} target={target} event={event_id} invocation={invocation}"
        ),
        Entry::PutEvents {
            bus,
            index,
            source,
            detail_type,
            event_id,
            error_code,
            error_message,
        } => {
            let _ = write!(line, " {bus}[{index}] {source} / {detail_type}");
            match (event_id, error_code) {
                (_, Some(code)) => write!(
                    line,
                    " FAILED {code}: {}",
                    error_message.as_deref().unwrap_or_default()
                ),
                (Some(id), None) => write!(line, " -> {id}"),
                (None, None) => Ok(()),
            }
        }
    };
    line
}

/// `t` as UTC `YYYY-MM-DDTHH:MM:SS.mmmZ` (without a date crate: the civil-from-days
/// conversion of Howard Hinnant's date algorithms).
pub fn format_time(t: i64) -> String {
    let ms = t.rem_euclid(1000);
    let secs = t.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh path under the system's temp folder, removed on drop.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new() -> TempPath {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            TempPath(
                std::env::temp_dir()
                    .join(format!("chaos-journal-{}-{n}.jsonl", std::process::id())),
            )
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn entries() -> Vec<Entry> {
        vec![
            Entry::Send {
                queue: "ClicksQueue".into(),
                message_id: "m-1".into(),
                md5: "5d41402abc4b2a76b9719d911017c592".into(),
                body: Some("hello".into()),
            },
            Entry::Delivery {
                mapping: "esm-1".into(),
                function: "ClickAggregator".into(),
                queue: "ClicksQueue".into(),
                batch: "b-1".into(),
                messages: vec![
                    Delivered {
                        message_id: "m-1".into(),
                        receive_count: 1,
                    },
                    Delivered {
                        message_id: "m-2".into(),
                        receive_count: 2,
                    },
                ],
                payload: json!({"Records": [{"messageId": "m-1"}, {"messageId": "m-2"}]}),
            },
            Entry::Response {
                batch: "b-1".into(),
                function: "ClickAggregator".into(),
                outcome: Outcome::BatchItemFailures {
                    ids: vec!["m-2".into()],
                },
            },
            Entry::Delete {
                queue: "ClicksQueue".into(),
                message_id: "m-1".into(),
                batch: Some("b-1".into()),
            },
            Entry::ReturnToQueue {
                queue: "ClicksQueue".into(),
                message_id: "m-2".into(),
                batch: Some("b-1".into()),
            },
            Entry::MoveToDlq {
                queue: "ClicksQueue".into(),
                dlq: "ClicksDLQ".into(),
                message_id: "m-2".into(),
                receive_count: 3,
            },
            Entry::Fault {
                rule: "r1".into(),
                fault: Fault::LoseDelete,
                resource: "ClicksQueue".into(),
                message_id: Some("m-1".into()),
                message_ids: Vec::new(),
                operation: None,
                connection_id: None,
                index: None,
                order: None,
                receive_count: None,
                detail: None,
                call: None,
            },
            Entry::Invoke {
                bus: "default".into(),
                rule: "ModerateRule".into(),
                target: "t1".into(),
                function: "ModerateCheck".into(),
                invocation: "i-1".into(),
                event_id: "e-1".into(),
                payload: json!({"id": "e-1", "detail": {}}),
            },
            Entry::Response {
                batch: "i-1".into(),
                function: "ModerateCheck".into(),
                outcome: Outcome::FunctionError {
                    error_type: "Runtime.ExitError".into(),
                },
            },
            Entry::PutEvents {
                bus: "default".into(),
                index: 0,
                source: "app".into(),
                detail_type: "link.clicked".into(),
                event_id: None,
                error_code: Some("InternalFailure".into()),
                error_message: Some("devstack chaos: injected failure".into()),
            },
        ]
    }

    fn write_all(journal: &Journal) {
        for (i, e) in entries().iter().enumerate() {
            let seq = journal.record(1_000 * i as i64, e).unwrap();
            assert_eq!(seq, i as u64 + 1);
        }
    }

    #[test]
    fn line_format_is_fixed() {
        let journal = Journal::memory();
        write_all(&journal);
        let text = String::from_utf8(journal.contents()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"seq":1,"t":0,"kind":"send","queue":"ClicksQueue","message_id":"m-1","md5":"5d41402abc4b2a76b9719d911017c592","body":"hello"}"#
        );
        assert_eq!(
            lines[1],
            r#"{"seq":2,"t":1000,"kind":"delivery","mapping":"esm-1","function":"ClickAggregator","queue":"ClicksQueue","batch":"b-1","messages":[{"message_id":"m-1","receive_count":1},{"message_id":"m-2","receive_count":2}],"payload":{"Records":[{"messageId":"m-1"},{"messageId":"m-2"}]}}"#
        );
        assert_eq!(
            lines[2],
            r#"{"seq":3,"t":2000,"kind":"response","batch":"b-1","function":"ClickAggregator","outcome":{"type":"batch-item-failures","ids":["m-2"]}}"#
        );
        assert_eq!(
            lines[5],
            r#"{"seq":6,"t":5000,"kind":"move-to-dlq","queue":"ClicksQueue","dlq":"ClicksDLQ","message_id":"m-2","receive_count":3}"#
        );
        assert_eq!(
            lines[9],
            r#"{"seq":10,"t":9000,"kind":"put-events","bus":"default","index":0,"source":"app","detail_type":"link.clicked","error_code":"InternalFailure","error_message":"devstack chaos: injected failure"}"#
        );
        // And it parses back to the same entries.
        let records = Journal::parse(text.as_bytes()).unwrap();
        let back: Vec<Entry> = records.into_iter().map(|r| r.entry).collect();
        assert_eq!(back, entries());
    }

    #[test]
    fn disabled_records_nothing() {
        let journal = Journal::disabled();
        assert!(!journal.is_enabled());
        assert_eq!(journal.record(0, &entries()[0]).unwrap(), 0);
        assert!(journal.contents().is_empty());
    }

    #[test]
    fn file_journal_round_trips_and_continues() {
        let path = TempPath::new();
        let journal = Journal::create(&path.0).unwrap();
        write_all(&journal);
        drop(journal);
        let memory = Journal::memory();
        write_all(&memory);
        assert_eq!(std::fs::read(&path.0).unwrap(), memory.contents());

        let reopened = Journal::open(&path.0).unwrap();
        assert_eq!(reopened.record(99_000, &entries()[3]).unwrap(), 11);
        let records = Journal::read(&path.0).unwrap();
        assert_eq!(records.len(), 11);
        assert_eq!(records[10].seq, 11);
        assert_eq!(records[10].t, 99_000);
    }

    #[test]
    fn truncated_last_line_is_tolerated_and_trimmed() {
        let path = TempPath::new();
        let journal = Journal::create(&path.0).unwrap();
        write_all(&journal);
        drop(journal);
        let mut bytes = std::fs::read(&path.0).unwrap();
        // A crash in the middle of the next line.
        bytes.extend_from_slice(br#"{"seq":11,"t":10000,"kind":"del"#);
        std::fs::write(&path.0, &bytes).unwrap();

        let records = Journal::read(&path.0).unwrap();
        assert_eq!(records.len(), 10);

        // Reopening trims the partial line and continues after the last whole one.
        let journal = Journal::open(&path.0).unwrap();
        assert_eq!(journal.record(10_000, &entries()[3]).unwrap(), 11);
        drop(journal);
        let records = Journal::read(&path.0).unwrap();
        assert_eq!(records.len(), 11);
        assert_eq!(records[10].entry, entries()[3]);

        // A bad line that is not the last is corruption, and says which line.
        let mut bytes = std::fs::read(&path.0).unwrap();
        bytes.splice(0..0, b"not json\n".iter().copied());
        match Journal::parse(&bytes) {
            Err(JournalError::Corrupt { line: 1, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn open_scans_back_over_long_lines() {
        let path = TempPath::new();
        let journal = Journal::create(&path.0).unwrap();
        let big = Entry::Send {
            queue: "Q".into(),
            message_id: "m".into(),
            md5: "x".into(),
            body: Some("b".repeat(200_000)),
        };
        journal.record(1, &big).unwrap();
        journal.record(2, &big).unwrap();
        drop(journal);
        let journal = Journal::open(&path.0).unwrap();
        assert_eq!(journal.record(3, &entries()[0]).unwrap(), 3);
        // An empty file starts at 1.
        let empty = TempPath::new();
        assert_eq!(
            Journal::open(&empty.0)
                .unwrap()
                .record(0, &entries()[0])
                .unwrap(),
            1
        );
        // A file that is not a journal is not appended to.
        let other = TempPath::new();
        std::fs::write(&other.0, b"hello\nworld\n").unwrap();
        assert!(matches!(
            Journal::open(&other.0),
            Err(JournalError::NotAJournal { .. })
        ));
        // A file holding only a partial line is trimmed to nothing.
        let partial = TempPath::new();
        std::fs::write(&partial.0, b"{\"seq\":1,").unwrap();
        assert_eq!(
            Journal::open(&partial.0)
                .unwrap()
                .record(0, &entries()[0])
                .unwrap(),
            1
        );
        assert_eq!(Journal::read(&partial.0).unwrap().len(), 1);
    }

    fn records() -> Vec<Record> {
        let journal = Journal::memory();
        write_all(&journal);
        Journal::parse(&journal.contents()).unwrap()
    }

    fn seqs(filter: &Filter, records: &[Record]) -> Vec<u64> {
        records
            .iter()
            .filter(|r| filter.matches(r))
            .map(|r| r.seq)
            .collect()
    }

    #[test]
    fn filters() {
        let records = records();
        let all = Filter::default();
        assert_eq!(seqs(&all, &records).len(), records.len());

        let deliveries = Filter {
            kinds: vec!["receive".parse().unwrap()],
            ..Filter::default()
        };
        assert_eq!(seqs(&deliveries, &records), [2]);

        let queue = Filter {
            queue: Some("ClicksQueue".into()),
            ..Filter::default()
        };
        assert_eq!(seqs(&queue, &records), [1, 2, 4, 5, 6, 7]);
        let dlq = Filter {
            queue: Some("*DLQ".into()),
            ..Filter::default()
        };
        assert_eq!(seqs(&dlq, &records), [6]);

        let message = Filter {
            message_id: Some("m-2".into()),
            ..Filter::default()
        };
        assert_eq!(seqs(&message, &records), [2, 3, 5, 6]);

        let function = Filter {
            function: Some("ModerateCheck".into()),
            ..Filter::default()
        };
        assert_eq!(seqs(&function, &records), [8, 9]);

        let window = Filter {
            since: Some(2_000),
            until: Some(4_000),
            ..Filter::default()
        };
        assert_eq!(seqs(&window, &records), [3, 4, 5]);

        let combined = Filter {
            kinds: vec![Kind::Delete, Kind::ReturnToQueue],
            queue: Some("ClicksQueue".into()),
            message_id: Some("m-1".into()),
            ..Filter::default()
        };
        assert_eq!(seqs(&combined, &records), [4]);

        // `select` follows a picked delivery to its response.
        let picked: Vec<u64> = queue.select(&records).iter().map(|r| r.seq).collect();
        assert_eq!(picked, [1, 2, 3, 4, 5, 6, 7]);
        let m1: Vec<u64> = Filter {
            message_id: Some("m-1".into()),
            ..Filter::default()
        }
        .select(&records)
        .iter()
        .map(|r| r.seq)
        .collect();
        assert_eq!(m1, [1, 2, 3, 4, 7]);

        assert!("bogus".parse::<Kind>().is_err());
        assert_eq!("move_to_dlq".parse::<Kind>(), Ok(Kind::MoveToDlq));
    }

    #[test]
    fn rendered_lines() {
        let records = records();
        let lines: Vec<String> = records.iter().map(render_line).collect();
        assert_eq!(
            lines,
            [
                "#1 1970-01-01T00:00:00.000Z send ClicksQueue m-1 md5=5d41402abc4b2a76b9719d911017c592 (5 bytes)",
                "#2 1970-01-01T00:00:01.000Z delivery ClicksQueue -> ClickAggregator via esm-1 batch=b-1 [m-1 (receive 1), m-2 (receive 2)]",
                "#3 1970-01-01T00:00:02.000Z response ClickAggregator batch=b-1: batch item failures [m-2]",
                "#4 1970-01-01T00:00:03.000Z delete ClicksQueue m-1 batch=b-1",
                "#5 1970-01-01T00:00:04.000Z return-to-queue ClicksQueue m-2 batch=b-1",
                "#6 1970-01-01T00:00:05.000Z move-to-dlq ClicksQueue -> ClicksDLQ m-2 after 3 receives",
                "#7 1970-01-01T00:00:06.000Z fault [r1] lose-delete on queue ClicksQueue message=m-1",
                "#8 1970-01-01T00:00:07.000Z invoke default/ModerateRule -> ModerateCheck target=t1 event=e-1 invocation=i-1",
                "#9 1970-01-01T00:00:08.000Z response ModerateCheck batch=i-1: function error Runtime.ExitError",
                "#10 1970-01-01T00:00:09.000Z put-events default[0] app / link.clicked FAILED InternalFailure: devstack chaos: injected failure",
            ]
        );
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(format_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999Z");
    }
}
