//! `devstack replay`: drives a journal's deliveries again, against a running stack.
//!
//! Each `delivery` entry (an event source mapping handing a batch to a function) and each
//! `invoke` entry (an EventBridge rule invoking a Lambda target) is replayed in `seq` order:
//!
//! 1. On a virtual clock, the clock is set to the entry's `t` when that is later than now, so
//!    that the function sees the time the original run showed it (the recorded payload already
//!    carries the original `SentTimestamp`s).
//! 2. The faults the journal recorded for that delivery are injected again: a `crash` or
//!    `timeout` fault on the function with the delivery's message ids becomes the invocation's
//!    [`lambda::InjectedFault`]; DynamoDB errors recorded while the delivery was in progress
//!    become chaos rules armed for this invocation only: each at the call it answered
//!    (`table=T op=OP error=CODE nth=K max=1`, K counted among that table's and operation's
//!    calls since the poller started the invocation), or, from a journal that does not say,
//!    `times=N`.
//! 3. The function is invoked synchronously with the recorded payload, and its outcome is
//!    computed as the pollers compute it ([`esm::partial`] for a partial batch response)
//!    and compared with the recorded `response`.
//!
//! The replay writes its own `delivery`, `fault` and `response` entries to the stack's
//! journal (mapping `replay:<mapping>`, batch `replay:<batch>`).
//!
//! Limits, all consequences of what a journal holds:
//!
//! - A DynamoDB fault names a table, an operation and the call's position since a poller last
//!   started an invocation, not its caller: it is attributed to the delivery whose window
//!   (from its `delivery` to its `response` line) holds it, the latest-started one when
//!   windows overlap (pollers on the real clock, or several mappings), where the position is
//!   also counted across the overlapping invocations. On a virtual clock (one batch at a time)
//!   it is exact. Faults of other callers (a gateway request) inside the window are
//!   re-injected into the delivery too.
//! - EventBridge invocations are asynchronous and their answers are not journaled: they are
//!   replayed and reported, but there is no recorded outcome to compare with.
//! - Only the function runs again: what the original run did around it (sends, deletes,
//!   redeliveries) is not re-enacted, since each redelivery is a delivery of its own in the
//!   journal and is replayed as such. If the replayed function publishes to a bus whose rule
//!   feeds a queue that an event source mapping polls, that mapping's poller delivers those
//!   messages as it would in any run.
//! - `gone` faults (a WebSocket connection dropped at a `@connections` POST) are not
//!   re-injected: the replayed stack has none of the original connections, so every push to
//!   one answers 410 anyway, which is what the fault made it answer.
//! - The stack's own chaos rules still apply: replay on a stack without rules (the CLI does).

use crate::{ClockMode, Config, Devstack, DevstackError};
use chaos::journal::{Delivered, Entry, Outcome, Record, format_time};
use chaos::{Fault, Rule, Target, When};
use lambda::{InjectedFault, InvokeError, InvokeRequest};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

/// A throttled replay invocation is retried after this pause, as the pollers do.
const THROTTLE_PAUSE: Duration = Duration::from_millis(50);

/// What kind of journal entry was replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplayedKind {
    /// An event source mapping's batch.
    Delivery,
    /// An EventBridge rule's invocation of a Lambda target.
    Invoke,
}

/// How a replayed outcome compares with the recorded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Matched,
    Differs,
    /// The journal holds no response for the entry (an EventBridge invocation, or a run that
    /// stopped mid-batch): nothing to compare with.
    Unrecorded,
}

/// One replayed delivery or invocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replayed {
    /// The journal line replayed.
    pub seq: u64,
    pub t: i64,
    pub kind: ReplayedKind,
    /// The function as this stack names it.
    pub function: String,
    /// The batch (or EventBridge invocation) id of the original run.
    pub batch: String,
    /// The SQS message ids of the batch, or the EventBridge event id.
    pub messages: Vec<String>,
    /// The faults injected again, in the journal's words (`crash`, `dynamo-error
    /// ThrottlingException on devstack-Counters op=UpdateItem x1`).
    pub injected: Vec<String>,
    /// The recorded outcome, if the journal has the response.
    pub original: Option<Outcome>,
    pub replayed: Outcome,
}

impl Replayed {
    pub fn verdict(&self) -> Verdict {
        match &self.original {
            None => Verdict::Unrecorded,
            Some(o) if *o == self.replayed => Verdict::Matched,
            Some(_) => Verdict::Differs,
        }
    }
}

/// What [`Devstack::replay`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    pub items: Vec<Replayed>,
}

impl ReplayReport {
    fn count(&self, v: Verdict) -> usize {
        self.items.iter().filter(|i| i.verdict() == v).count()
    }

    pub fn matched(&self) -> usize {
        self.count(Verdict::Matched)
    }

    pub fn differs(&self) -> usize {
        self.count(Verdict::Differs)
    }

    pub fn unrecorded(&self) -> usize {
        self.count(Verdict::Unrecorded)
    }

    /// No replayed outcome differs from a recorded one (`devstack replay` exits 0).
    pub fn all_matched(&self) -> bool {
        self.differs() == 0
    }

    /// One line per replayed entry, then a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for i in &self.items {
            let kind = match i.kind {
                ReplayedKind::Delivery => "delivery",
                ReplayedKind::Invoke => "invoke",
            };
            let _ = write!(
                out,
                "#{} {} {kind} {} batch={} [{}]",
                i.seq,
                format_time(i.t),
                i.function,
                i.batch,
                i.messages.join(", ")
            );
            if !i.injected.is_empty() {
                let _ = write!(out, " injecting {}", i.injected.join("; "));
            }
            let original = i
                .original
                .as_ref()
                .map_or("(not recorded)".into(), describe);
            let verdict = match i.verdict() {
                Verdict::Matched => "matched",
                Verdict::Differs => "DIFFERS",
                Verdict::Unrecorded => "unrecorded",
            };
            let _ = writeln!(out, ": {original} -> {}: {verdict}", describe(&i.replayed));
        }
        let deliveries = self
            .items
            .iter()
            .filter(|i| i.kind == ReplayedKind::Delivery)
            .count();
        let _ = writeln!(
            out,
            "replayed {deliveries} deliveries and {} invocations: {} matched, {} differ, {} not recorded",
            self.items.len() - deliveries,
            self.matched(),
            self.differs(),
            self.unrecorded()
        );
        out
    }
}

/// An outcome in a few words, as `devstack journal` renders a response.
pub fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Success => "success".to_owned(),
        Outcome::BatchItemFailures { ids } => format!("batch item failures [{}]", ids.join(", ")),
        Outcome::FunctionError { error_type } => format!("function error {error_type}"),
        Outcome::Timeout => "timeout".to_owned(),
        Outcome::Malformed { detail } => format!("malformed response: {detail}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(
        "journal line {seq}: this stack has no function {function} (replay with the template and --stack-name of the original run)"
    )]
    UnknownFunction { seq: u64, function: String },
    #[error("journal line {seq}: a recorded fault cannot be armed again: {source}")]
    Rule { seq: u64, source: chaos::RuleError },
    #[error(transparent)]
    Journal(#[from] chaos::JournalError),
    #[error(transparent)]
    Start(#[from] Box<DevstackError>),
}

/// A delivery or invocation to replay, with what the journal says about it.
struct Work<'a> {
    record: &'a Record,
    kind: ReplayedKind,
    function: &'a str,
    batch: &'a str,
    messages: Vec<String>,
    payload: &'a serde_json::Value,
    /// Index (in seq order) of the entry and of the end of its window (its response, or the
    /// next delivery to the same function, or the journal's end).
    start: usize,
    end: usize,
    original: Option<Outcome>,
}

impl Devstack {
    /// Replays the journal's deliveries and EventBridge invocations against this stack (see
    /// the module's documentation) and reports each one's outcome against the recorded one.
    pub async fn replay(&self, records: &[Record]) -> Result<ReplayReport, ReplayError> {
        let mut records: Vec<&Record> = records.iter().collect();
        records.sort_by_key(|r| r.seq);
        let work = plan(&records);
        let owners = dynamo_fault_owners(&records, &work);
        let mut report = ReplayReport::default();
        for (w_index, w) in work.iter().enumerate() {
            let function = self.resolve_function(w.record.seq, w.function)?;
            self.set_clock(w.record.t);
            // Crash or timeout, as the pollers asked chaos before invoking.
            let crash = records[w.start + 1..w.end]
                .iter()
                .find_map(|r| match &r.entry {
                    Entry::Fault {
                        rule,
                        fault: f @ (Fault::Crash | Fault::Timeout),
                        resource,
                        message_ids,
                        ..
                    } if resource == w.function && *message_ids == w.messages => {
                        Some((rule.clone(), f.clone()))
                    }
                    _ => None,
                });
            let mut injected = Vec::new();
            // DynamoDB errors: a fault journaled with its call's position is re-armed for that
            // call only (`nth=K max=1`); an older journal's, as "the first N" of its table,
            // operation and error.
            let mut armed: Vec<(Rule, String)> = Vec::new();
            let mut counted: Vec<(Rule, u64)> = Vec::new();
            for &k in owners.get(&w_index).map_or(&[][..], Vec::as_slice) {
                let r = records[k];
                let Entry::Fault {
                    fault,
                    resource,
                    operation,
                    call,
                    ..
                } = &r.entry
                else {
                    continue;
                };
                let target = Target::Table {
                    // A request naming no single table was matched by `table=*` only.
                    table: if resource == "-" {
                        "*".to_owned()
                    } else {
                        resource.clone()
                    },
                    operation: operation.clone(),
                };
                let rule = |n: usize| Rule {
                    id: Some(format!("replay-{}-{n}", w.record.seq)),
                    target: target.clone(),
                    fault: fault.clone(),
                    when: When::Every,
                    max: None,
                };
                if let Some(call) = call {
                    let rule = Rule {
                        when: When::Nth(*call),
                        max: Some(1),
                        ..rule(armed.len() + counted.len() + 1)
                    };
                    armed.push((rule, format!("at call {call}")));
                    continue;
                }
                match counted
                    .iter_mut()
                    .find(|(rule, _)| rule.target == target && rule.fault == *fault)
                {
                    Some((_, n)) => *n += 1,
                    None => counted.push((rule(armed.len() + counted.len() + 1), 1)),
                }
            }
            armed.extend(counted.into_iter().map(|(rule, n)| {
                (
                    Rule {
                        when: When::Times(n),
                        ..rule
                    },
                    format!("x{n}"),
                )
            }));
            let mut ids = Vec::new();
            for (rule, how) in armed {
                injected.push(format!(
                    "{} on {} {how}",
                    fault_words(&rule.fault),
                    target_words(&rule.target)
                ));
                match self.chaos.add(rule) {
                    Ok(armed) => ids.extend(armed.id),
                    Err(source) => {
                        for id in ids {
                            self.chaos.remove(&id);
                        }
                        return Err(ReplayError::Rule {
                            seq: w.record.seq,
                            source,
                        });
                    }
                }
            }
            let outcome = self
                .replay_one(w, &function, crash.as_ref(), &mut injected)
                .await;
            for id in ids {
                self.chaos.remove(&id);
            }
            report.items.push(Replayed {
                seq: w.record.seq,
                t: w.record.t,
                kind: w.kind,
                function,
                batch: w.batch.to_owned(),
                messages: w.messages.clone(),
                injected,
                original: w.original.clone(),
                replayed: outcome,
            });
        }
        Ok(report)
    }

    async fn replay_one(
        &self,
        w: &Work<'_>,
        function: &str,
        crash: Option<&(String, Fault)>,
        injected: &mut Vec<String>,
    ) -> Outcome {
        let batch = format!("replay:{}", w.batch);
        if let Entry::Delivery {
            mapping,
            queue,
            messages,
            ..
        } = &w.record.entry
        {
            self.record(&Entry::Delivery {
                mapping: format!("replay:{mapping}"),
                function: function.to_owned(),
                queue: queue.clone(),
                batch: batch.clone(),
                messages: messages
                    .iter()
                    .map(|m| Delivered {
                        message_id: m.message_id.clone(),
                        receive_count: m.receive_count,
                    })
                    .collect(),
                payload: w.payload.clone(),
            });
        }
        let fault = crash.map(|(rule, f)| {
            injected.insert(0, f.name().to_owned());
            self.record(&Entry::Fault {
                rule: format!("replay:{rule}"),
                fault: f.clone(),
                resource: function.to_owned(),
                message_id: None,
                message_ids: w.messages.clone(),
                operation: None,
                connection_id: None,
                index: None,
                order: None,
                receive_count: None,
                detail: None,
                call: None,
            });
            match f {
                Fault::Timeout => InjectedFault::Timeout,
                _ => InjectedFault::Crash,
            }
        });
        let report_failures =
            w.kind == ReplayedKind::Delivery && self.reports_failures(w, function);
        let payload = bytes::Bytes::from(w.payload.to_string());
        let outcome = loop {
            let answer = self
                .lambda
                .invoke(InvokeRequest {
                    function: function.to_owned(),
                    qualifier: None,
                    payload: payload.clone(),
                    client_context: None,
                    tail_logs: false,
                    fault,
                })
                .await;
            match answer {
                Err(InvokeError::Throttled { .. }) => tokio::time::sleep(THROTTLE_PAUSE).await,
                Err(e) => {
                    break Outcome::FunctionError {
                        error_type: format!("devstack: {e}"),
                    };
                }
                Ok(done) => {
                    break match done.function_error {
                        Some(err) if err.error_type == "Sandbox.Timedout" => Outcome::Timeout,
                        Some(err) => Outcome::FunctionError {
                            error_type: err.error_type,
                        },
                        None if report_failures => esm::partial(&done.payload, &w.messages),
                        None => Outcome::Success,
                    };
                }
            }
        };
        self.record(&Entry::Response {
            batch,
            function: function.to_owned(),
            outcome: outcome.clone(),
        });
        outcome
    }

    /// Whether the delivery's mapping has `ReportBatchItemFailures`: this stack's mapping of
    /// the function and queue, or, without one, what the recorded outcome shows.
    fn reports_failures(&self, w: &Work<'_>, function: &str) -> bool {
        let queue = match &w.record.entry {
            Entry::Delivery { queue, .. } => queue.as_str(),
            _ => "",
        };
        let mappings = self.pollers.mappings();
        mappings
            .iter()
            .find(|m| m.function == function && m.queue == queue)
            .or_else(|| mappings.iter().find(|m| m.function == function))
            .map(|m| m.report_batch_item_failures)
            .unwrap_or(matches!(
                w.original,
                Some(Outcome::BatchItemFailures { .. } | Outcome::Malformed { .. })
            ))
    }

    /// The function a journal names, in this stack: the same name or ARN, else the function
    /// of the same logical id under another stack name (`{stack}-{LogicalId}`).
    fn resolve_function(&self, seq: u64, name: &str) -> Result<String, ReplayError> {
        let name_part = name.rsplit(':').next().unwrap_or(name);
        let functions = &self.stack.functions;
        if let Some(f) = functions
            .iter()
            .find(|f| f.name == name || f.arn == name || f.name == name_part)
        {
            return Ok(f.name.clone());
        }
        let mut by_id = functions
            .iter()
            .filter(|f| name_part.ends_with(&format!("-{}", f.logical_id)));
        match (by_id.next(), by_id.next()) {
            (Some(f), None) => Ok(f.name.clone()),
            _ => Err(ReplayError::UnknownFunction {
                seq,
                function: name.to_owned(),
            }),
        }
    }

    fn set_clock(&self, t: i64) {
        if let Some(m) = &self.manual_clock {
            let now = clock::Clock::now_ms(&**m);
            if t > now {
                // Through `advance_clock`, so that whatever devstack does when its clock moves
                // (waking waiters, keeping the time) happens here too.
                let _ = self.advance_clock(t - now);
            }
        }
    }

    fn record(&self, entry: &Entry) {
        let journal = self.chaos.journal();
        if journal.is_enabled()
            && let Err(e) = journal.record(self.clock.now_ms(), entry)
        {
            tracing::warn!(error = %e, "journal write failed");
        }
    }
}

/// The deliveries and invocations of a journal (sorted by seq), with their windows and
/// recorded outcomes.
fn plan<'a>(records: &[&'a Record]) -> Vec<Work<'a>> {
    // Where each (batch, function) is answered, and where each function is handed work.
    let mut responses: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    let mut handed: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        match &r.entry {
            Entry::Response {
                batch, function, ..
            } => responses
                .entry((batch.as_str(), function.as_str()))
                .or_default()
                .push(i),
            Entry::Delivery { function, .. } | Entry::Invoke { function, .. } => {
                handed.entry(function.as_str()).or_default().push(i)
            }
            _ => {}
        }
    }
    let first_after = |list: Option<&Vec<usize>>, i: usize| {
        list.and_then(|l| l.get(l.partition_point(|&j| j <= i)).copied())
    };
    let mut work = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let (kind, function, batch, messages, payload) = match &r.entry {
            Entry::Delivery {
                function,
                batch,
                messages,
                payload,
                ..
            } => (
                ReplayedKind::Delivery,
                function.as_str(),
                batch.as_str(),
                messages.iter().map(|m| m.message_id.clone()).collect(),
                payload,
            ),
            Entry::Invoke {
                function,
                invocation,
                event_id,
                payload,
                ..
            } => (
                ReplayedKind::Invoke,
                function.as_str(),
                invocation.as_str(),
                vec![event_id.clone()],
                payload,
            ),
            _ => continue,
        };
        let (end, original) = match first_after(responses.get(&(batch, function)), i) {
            Some(end) => {
                let original = match &records[end].entry {
                    Entry::Response { outcome, .. } => Some(outcome.clone()),
                    _ => None,
                };
                (end, original)
            }
            // An EventBridge invocation's answer is never journaled: it has no window.
            None if kind == ReplayedKind::Invoke => (i + 1, None),
            // No response (the run stopped mid-batch): the window ends where the function is
            // handed its next work.
            None => (
                first_after(handed.get(function), i).unwrap_or(records.len()),
                None,
            ),
        };
        work.push(Work {
            record: r,
            kind,
            function,
            batch,
            messages,
            payload,
            start: i,
            end,
            original,
        });
    }
    work
}

/// The DynamoDB faults (record indices) attributed to each work item (by index): a fault
/// belongs to the latest-started item whose window holds it.
fn dynamo_fault_owners(records: &[&Record], work: &[Work<'_>]) -> HashMap<usize, Vec<usize>> {
    let mut by_start: HashMap<usize, usize> = HashMap::new();
    let mut by_end: HashMap<usize, Vec<usize>> = HashMap::new();
    for (w, item) in work.iter().enumerate() {
        by_start.insert(item.start, w);
        by_end.entry(item.end).or_default().push(w);
    }
    let mut open: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut owners: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, r) in records.iter().enumerate() {
        for &w in by_end.get(&k).map_or(&[][..], Vec::as_slice) {
            open.remove(&(work[w].start, w));
        }
        if matches!(
            r.entry,
            Entry::Fault {
                fault: Fault::DynamoError { .. },
                ..
            }
        ) && let Some(&(_, w)) = open.last()
        {
            owners.entry(w).or_default().push(k);
        }
        if let Some(&w) = by_start.get(&k)
            && work[w].end > k + 1
        {
            open.insert((k, w));
        }
    }
    owners
}

fn fault_words(fault: &Fault) -> String {
    match fault {
        Fault::DynamoError {
            code,
            item: Some(i),
        } => {
            format!("dynamo-error {} (item {i})", code.as_str())
        }
        Fault::DynamoError { code, .. } => format!("dynamo-error {}", code.as_str()),
        other => other.name().to_owned(),
    }
}

fn target_words(target: &Target) -> String {
    match target {
        Target::Table {
            table,
            operation: Some(op),
        } => format!("{table} op={op}"),
        Target::Table { table, .. } => table.clone(),
        Target::Queue(p) | Target::Bus(p) | Target::Function(p) => p.clone(),
        Target::WebSocket {
            api,
            connection: Some(c),
        } => format!("{api} connection={c}"),
        Target::WebSocket { api, .. } => api.clone(),
    }
}

/// `devstack replay`: starts an in-memory stack from `config` on a virtual clock starting at
/// the journal's first `t`, without chaos rules, replays the journal, and stops the stack.
pub async fn replay_journal(
    mut config: Config,
    records: &[Record],
) -> Result<ReplayReport, ReplayError> {
    let start_ms = records
        .iter()
        .min_by_key(|r| r.seq)
        .map_or(ClockMode::VIRTUAL_EPOCH_MS, |r| r.t);
    config.clock = ClockMode::Virtual { start_ms };
    config.in_memory = true;
    config.reset = false;
    config.chaos_rules.clear();
    let ds = Devstack::start(config).await.map_err(Box::new)?;
    let report = ds.replay(records).await;
    ds.shutdown().await;
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use chaos::DynamoErrorCode;
    use serde_json::json;

    fn delivery(function: &str, batch: &str) -> Entry {
        Entry::Delivery {
            mapping: "m".into(),
            function: function.into(),
            queue: "q".into(),
            batch: batch.into(),
            messages: vec![Delivered {
                message_id: format!("{batch}-m"),
                receive_count: 1,
            }],
            payload: json!({}),
        }
    }

    fn response(function: &str, batch: &str) -> Entry {
        Entry::Response {
            batch: batch.into(),
            function: function.into(),
            outcome: Outcome::Success,
        }
    }

    fn dynamo_fault() -> Entry {
        Entry::Fault {
            rule: "r1".into(),
            fault: Fault::DynamoError {
                code: DynamoErrorCode::ThrottlingException,
                item: None,
            },
            resource: "T".into(),
            message_id: None,
            message_ids: Vec::new(),
            operation: Some("PutItem".into()),
            connection_id: None,
            index: None,
            order: None,
            receive_count: None,
            detail: None,
            call: Some(1),
        }
    }

    #[test]
    fn windows_and_fault_attribution() {
        let entries = [
            delivery("F", "a"), // 0
            delivery("G", "b"), // 1
            dynamo_fault(),     // 2: both open, b started last
            response("G", "b"), // 3
            dynamo_fault(),     // 4: only a open
            response("F", "a"), // 5
            Entry::Invoke {
                bus: "default".into(),
                rule: "R".into(),
                target: "t".into(),
                function: "H".into(),
                invocation: "R-1".into(),
                event_id: "e".into(),
                payload: json!({}),
            }, // 6: no window
            dynamo_fault(),     // 7: nobody's
            delivery("F", "c"), // 8: never answered
            dynamo_fault(),     // 9: c's
            delivery("F", "d"), // 10: ends c's window
            response("F", "d"), // 11
        ];
        let records: Vec<Record> = entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| Record {
                seq: i as u64 + 1,
                t: 0,
                entry,
            })
            .collect();
        let refs: Vec<&Record> = records.iter().collect();
        let work = plan(&refs);
        let windows: Vec<(&str, usize, usize, bool)> = work
            .iter()
            .map(|w| (w.batch, w.start, w.end, w.original.is_some()))
            .collect();
        assert_eq!(
            windows,
            [
                ("a", 0, 5, true),
                ("b", 1, 3, true),
                ("R-1", 6, 7, false),
                ("c", 8, 10, false),
                ("d", 10, 11, true),
            ]
        );
        let owners = dynamo_fault_owners(&refs, &work);
        let mut owned: Vec<(usize, Vec<usize>)> = owners.into_iter().collect();
        owned.sort();
        assert_eq!(owned, [(0, vec![4]), (1, vec![2]), (3, vec![9])]);
    }
}
