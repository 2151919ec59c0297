//! Chaos rules: which fault to inject on which resource, and when.
//!
//! One model, three spellings: the compact one-line form of `--chaos` flags ([`Rule`]'s
//! `FromStr` and `Display`, which round-trip), the structured form of files and of the admin
//! API (serde; see [`Rules`]), and Rust values. Every way in goes through
//! [`Rule::validate`], so a rule that reaches the engine is always well formed.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

/// The `ErrorCode` of a `fail-entry` fault that names none: what PutEvents answers when AWS
/// itself fails an entry.
pub const DEFAULT_ENTRY_CODE: &str = "InternalFailure";
/// The `ErrorMessage` of a `fail-entry` fault that names none.
pub const DEFAULT_ENTRY_MESSAGE: &str = "devstack chaos: injected failure";

/// One rule: inject `fault` on the resources `target` names, on the occurrences `when` picks,
/// at most `max` times per resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RuleWire", into = "RuleWire")]
pub struct Rule {
    /// Names the rule in the journal and the admin API; the engine assigns `r1`, `r2`, ... to a
    /// rule without one.
    pub id: Option<String>,
    pub target: Target,
    pub fault: Fault,
    pub when: When,
    /// Fire at most this many times per resource (then never again until a reset), so that
    /// "crash the first invocation that carries message X" can be said, and a retry succeeds.
    pub max: Option<u64>,
}

/// The resources a rule applies to. A pattern is a name, an ARN, or a glob where `*` matches
/// any run of characters (`*` alone matches everything, `Clicks*` every name starting so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Queue(String),
    Bus(String),
    /// A table, optionally narrowed to one operation (`TransactWriteItems`, or a glob such as
    /// `Transact*`).
    Table {
        table: String,
        operation: Option<String>,
    },
    Function(String),
    /// A WebSocket API (its logical id or its API id), optionally narrowed to the connections
    /// whose id matches `connection` (an id, or a glob such as `abc*`).
    WebSocket {
        api: String,
        connection: Option<String>,
    },
}

/// The kind of resource a target names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKind {
    Queue,
    Bus,
    Table,
    Function,
    WebSocket,
}

impl TargetKind {
    /// The key of the compact form and of the structured form (`queue`, `bus`, ...).
    pub fn key(self) -> &'static str {
        match self {
            TargetKind::Queue => "queue",
            TargetKind::Bus => "bus",
            TargetKind::Table => "table",
            TargetKind::Function => "function",
            TargetKind::WebSocket => "websocket",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            TargetKind::Queue => "queues",
            TargetKind::Bus => "event buses",
            TargetKind::Table => "tables",
            TargetKind::Function => "functions",
            TargetKind::WebSocket => "WebSocket APIs",
        }
    }
}

impl Target {
    pub fn kind(&self) -> TargetKind {
        match self {
            Target::Queue(_) => TargetKind::Queue,
            Target::Bus(_) => TargetKind::Bus,
            Target::Table { .. } => TargetKind::Table,
            Target::Function(_) => TargetKind::Function,
            Target::WebSocket { .. } => TargetKind::WebSocket,
        }
    }

    /// The resource pattern (for a table, the table's; for a WebSocket API, the API's).
    pub fn pattern(&self) -> &str {
        match self {
            Target::Queue(p) | Target::Bus(p) | Target::Function(p) => p,
            Target::Table { table, .. } => table,
            Target::WebSocket { api, .. } => api,
        }
    }

    /// Whether this target names the resource called `name` (whose ARN, when the caller knows
    /// it, is `arn`) of kind `kind`.
    pub fn matches(&self, kind: TargetKind, name: &str, arn: Option<&str>) -> bool {
        self.kind() == kind && matches_resource(self.pattern(), name, arn)
    }
}

/// What to do to the matching occurrence.
///
/// Structured form: `{"type": "duplicate"}`, `{"type": "delay", "ms": 500}`,
/// `{"type": "fail-entry", "code": "...", "message": "..."}` (both optional),
/// `{"type": "dynamo-error", "code": "TransactionConflict", "item": 1}` (`item` optional),
/// `{"type": "crash"}`, `{"type": "gone"}`. A parameter that does not belong to the type is an
/// error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", try_from = "FaultWire")]
pub enum Fault {
    /// Queues: deliver the received message twice.
    Duplicate,
    /// Queues: the function succeeded but its delete is lost, so the message comes back after
    /// its visibility timeout (the real-world cause of most duplicates).
    LoseDelete,
    /// Queues: shuffle the messages within a batch (across batches: use `delay`).
    Reorder,
    /// Queues: hold the received message back this long, so later messages overtake it.
    Delay { ms: u64 },
    /// Buses: fail the PutEvents entry with this `ErrorCode` and `ErrorMessage`.
    FailEntry { code: String, message: String },
    /// Tables: answer the operation with this DynamoDB error. `item` names the transaction item
    /// that conflicts (0-based) for `TransactionConflict` on `Transact*`; without it every item
    /// conflicts.
    DynamoError {
        code: DynamoErrorCode,
        #[serde(skip_serializing_if = "Option::is_none")]
        item: Option<usize>,
    },
    /// Functions: the invocation's process crashes.
    Crash,
    /// Functions: the invocation times out.
    Timeout,
    /// WebSocket APIs: the connection a `@connections` POST is for is gone, as when its
    /// client's network disappears: its socket is dropped without a close frame, `$disconnect`
    /// is not invoked (on AWS it is best effort), and the POST answers 410 `GoneException`.
    Gone,
}

/// What a structured fault may say; checked against its `type` so that a misplaced key (say,
/// `when` inside `fault`) is an error rather than silently ignored, which serde's internally
/// tagged unit variants would do.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultWire {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    ms: Option<u64>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    item: Option<usize>,
}

impl TryFrom<FaultWire> for Fault {
    type Error = String;

    fn try_from(w: FaultWire) -> Result<Fault, String> {
        let fault = match w.kind.as_str() {
            "duplicate" => Fault::Duplicate,
            "lose-delete" => Fault::LoseDelete,
            "reorder" => Fault::Reorder,
            "crash" => Fault::Crash,
            "timeout" => Fault::Timeout,
            "gone" => Fault::Gone,
            "delay" => Fault::Delay {
                ms: w.ms.ok_or("a `delay` fault needs `ms`")?,
            },
            "fail-entry" => Fault::FailEntry {
                code: w.code.clone().unwrap_or_else(default_entry_code),
                message: w.message.clone().unwrap_or_else(default_entry_message),
            },
            "dynamo-error" => Fault::DynamoError {
                code: w
                    .code
                    .as_deref()
                    .ok_or("a `dynamo-error` fault needs `code`")?
                    .parse()?,
                item: w.item,
            },
            other => {
                return Err(format!(
                    "unknown fault type `{other}`; types are duplicate, lose-delete, reorder, \
                     delay, fail-entry, dynamo-error, crash, timeout, gone"
                ));
            }
        };
        let allowed: &[&str] = match fault {
            Fault::Delay { .. } => &["ms"],
            Fault::FailEntry { .. } => &["code", "message"],
            Fault::DynamoError { .. } => &["code", "item"],
            _ => &[],
        };
        let given = [
            ("ms", w.ms.is_some()),
            ("code", w.code.is_some()),
            ("message", w.message.is_some()),
            ("item", w.item.is_some()),
        ];
        if let Some((key, _)) = given
            .iter()
            .find(|(key, present)| *present && !allowed.contains(key))
        {
            return Err(format!("`{key}` does not belong to a `{}` fault", w.kind));
        }
        Ok(fault)
    }
}

fn default_entry_code() -> String {
    DEFAULT_ENTRY_CODE.to_owned()
}

fn default_entry_message() -> String {
    DEFAULT_ENTRY_MESSAGE.to_owned()
}

impl Fault {
    /// The fault's name (the `type` of its structured form).
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Duplicate => "duplicate",
            Fault::LoseDelete => "lose-delete",
            Fault::Reorder => "reorder",
            Fault::Delay { .. } => "delay",
            Fault::FailEntry { .. } => "fail-entry",
            Fault::DynamoError { .. } => "dynamo-error",
            Fault::Crash => "crash",
            Fault::Timeout => "timeout",
            Fault::Gone => "gone",
        }
    }

    /// The only kind of resource this fault can be injected on.
    pub fn applies_to(&self) -> TargetKind {
        match self {
            Fault::Duplicate | Fault::LoseDelete | Fault::Reorder | Fault::Delay { .. } => {
                TargetKind::Queue
            }
            Fault::FailEntry { .. } => TargetKind::Bus,
            Fault::DynamoError { .. } => TargetKind::Table,
            Fault::Crash | Fault::Timeout => TargetKind::Function,
            Fault::Gone => TargetKind::WebSocket,
        }
    }

    /// The key that names this fault in the compact form.
    fn key(&self) -> &'static str {
        match self {
            Fault::DynamoError { .. } => "error",
            other => other.name(),
        }
    }
}

/// The DynamoDB errors chaos can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DynamoErrorCode {
    /// `TransactionCanceledException` with `TransactionConflict` reasons on `Transact*`
    /// operations, `TransactionConflictException` on the others.
    TransactionConflict,
    ProvisionedThroughputExceeded,
    InternalServerError,
    ThrottlingException,
}

impl DynamoErrorCode {
    pub const ALL: [DynamoErrorCode; 4] = [
        DynamoErrorCode::TransactionConflict,
        DynamoErrorCode::ProvisionedThroughputExceeded,
        DynamoErrorCode::InternalServerError,
        DynamoErrorCode::ThrottlingException,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DynamoErrorCode::TransactionConflict => "TransactionConflict",
            DynamoErrorCode::ProvisionedThroughputExceeded => "ProvisionedThroughputExceeded",
            DynamoErrorCode::InternalServerError => "InternalServerError",
            DynamoErrorCode::ThrottlingException => "ThrottlingException",
        }
    }
}

impl fmt::Display for DynamoErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DynamoErrorCode {
    type Err = String;

    /// Case-insensitive, with or without the `Exception` suffix, since users copy the name
    /// from wherever they saw it (`ProvisionedThroughputExceededException` in SDK errors).
    fn from_str(s: &str) -> Result<Self, String> {
        let lower = s.to_ascii_lowercase();
        let bare = lower.strip_suffix("exception").unwrap_or(&lower);
        DynamoErrorCode::ALL
            .into_iter()
            .find(|code| {
                let name = code.as_str().to_ascii_lowercase();
                name.strip_suffix("exception").unwrap_or(&name) == bare
            })
            .ok_or_else(|| {
                format!(
                    "unknown DynamoDB error `{s}`; expected TransactionConflict, \
                     ProvisionedThroughputExceeded, InternalServerError or ThrottlingException"
                )
            })
    }
}

/// Which matching occurrences fire. Counting is per rule and per resource: `nth:3` on
/// `queue=*` fires on the 3rd, 6th, ... receive of each queue. For WebSocket rules the
/// resource is the connection: `gone=nth:3` makes each connection gone at its own 3rd POST
/// (a gone connection is never asked again, so each one fires at most once).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    /// Every occurrence.
    #[default]
    Every,
    /// Every Nth occurrence: the Nth, 2Nth, ...
    Nth(u64),
    /// Each occurrence independently with this probability, drawn from the rule's seeded
    /// stream for the resource.
    Probability(f64),
    /// Occurrences that concern this message (queues and functions only).
    MessageId(String),
    /// The first N occurrences.
    Times(u64),
}

impl When {
    /// The compact value form: `every`, `nth:3`, `times:2`, `0.3`, `message:ID`.
    fn value(&self) -> String {
        match self {
            When::Every => "every".to_owned(),
            When::Nth(n) => format!("nth:{n}"),
            When::Times(n) => format!("times:{n}"),
            // Rust prints the shortest text that parses back to the same f64.
            When::Probability(p) => format!("{p}"),
            When::MessageId(id) => format!("message:{id}"),
        }
    }

    /// The separate token form: `nth=3`, `times=2`, `p=0.3`, `message-id=ID`; none for
    /// `every`.
    fn token(&self) -> Option<String> {
        match self {
            When::Every => None,
            When::Nth(n) => Some(format!("nth={n}")),
            When::Times(n) => Some(format!("times={n}")),
            When::Probability(p) => Some(format!("p={p}")),
            When::MessageId(id) => Some(kv("message-id", id)),
        }
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value())
    }
}

impl FromStr for When {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_when_value(s)
    }
}

/// A rule that cannot be parsed or is not valid. Each variant that can names the offending
/// token (the compact form's `key=value`, or its equivalent for a structured rule).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RuleError {
    #[error("empty chaos rule; write e.g. `queue=ClicksQueue duplicate=every`")]
    Empty,
    #[error("unterminated quote in `{token}`")]
    UnterminatedQuote { token: String },
    #[error("unknown key `{key}` in `{token}`; keys are {KEYS}")]
    UnknownKey { token: String, key: String },
    #[error("`{token}` needs a value (`{key}=...`)")]
    MissingValue { token: String, key: String },
    #[error("bad value in `{token}`: {reason}")]
    BadValue { token: String, reason: String },
    #[error("`{token}` conflicts with `{earlier}`: {reason}")]
    Conflict {
        token: String,
        earlier: String,
        reason: String,
    },
    #[error("rule `{rule}` names no target; add queue=, bus=, table=, function= or websocket=")]
    NoTarget { rule: String },
    #[error(
        "rule `{rule}` names no fault; add one of duplicate, lose-delete, reorder, delay=MS, \
         fail-entry, error=CODE, crash, timeout, gone"
    )]
    NoFault { rule: String },
    #[error("`{token}`: {reason}")]
    Invalid { token: String, reason: String },
    #[error("a rule with id `{id}` already exists")]
    DuplicateId { id: String },
}

const KEYS: &str = "id, queue, bus, table, op, function, websocket, connection, duplicate, \
                    lose-delete, reorder, delay, fail-entry, code, message, error, item, crash, \
                    timeout, gone, when, nth, times, p, message-id, max";

impl RuleError {
    /// The token the error is about, if it is about one.
    pub fn token(&self) -> Option<&str> {
        match self {
            RuleError::UnterminatedQuote { token }
            | RuleError::UnknownKey { token, .. }
            | RuleError::MissingValue { token, .. }
            | RuleError::BadValue { token, .. }
            | RuleError::Conflict { token, .. }
            | RuleError::Invalid { token, .. } => Some(token),
            RuleError::Empty
            | RuleError::NoTarget { .. }
            | RuleError::NoFault { .. }
            | RuleError::DuplicateId { .. } => None,
        }
    }
}

/// The part of a rule a validation error is about, so that the compact parser can name the
/// token the user wrote and the structured form an equivalent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Id,
    Target,
    Operation,
    Connection,
    Fault,
    Code,
    Message,
    Item,
    When,
    Max,
}

impl Rule {
    /// A rule that fires on every matching occurrence, without an id or a limit.
    pub fn new(target: Target, fault: Fault) -> Rule {
        Rule {
            id: None,
            target,
            fault,
            when: When::Every,
            max: None,
        }
    }

    pub fn with_id(mut self, id: impl Into<String>) -> Rule {
        self.id = Some(id.into());
        self
    }

    pub fn when(mut self, when: When) -> Rule {
        self.when = when;
        self
    }

    pub fn max(mut self, max: u64) -> Rule {
        self.max = Some(max);
        self
    }

    /// Checks the combination: the fault applies to the target's kind, counts are positive,
    /// a probability lies in 0..=1, a message id is only asked of queues and functions, the
    /// narrowing patterns (`op=`, `connection=`) are not empty.
    pub fn validate(&self) -> Result<(), RuleError> {
        self.check().map_err(|(part, reason)| RuleError::Invalid {
            token: self.token_for(part),
            reason,
        })
    }

    fn check(&self) -> Result<(), (Part, String)> {
        if let Some(id) = &self.id {
            check_id(id).map_err(|reason| (Part::Id, reason))?;
        }
        if self.target.pattern().is_empty() {
            return Err((Part::Target, "the resource name is empty".to_owned()));
        }
        if let Target::Table {
            operation: Some(op),
            ..
        } = &self.target
            && op.is_empty()
        {
            return Err((Part::Operation, "the operation name is empty".to_owned()));
        }
        if let Target::WebSocket {
            connection: Some(c),
            ..
        } = &self.target
            && c.is_empty()
        {
            return Err((Part::Connection, "the connection id is empty".to_owned()));
        }
        let kind = self.target.kind();
        let applies = self.fault.applies_to();
        if applies != kind {
            return Err((
                Part::Fault,
                format!(
                    "`{}` applies to {} (`{}=`), not to {}",
                    self.fault.key(),
                    applies.plural(),
                    applies.key(),
                    kind.plural()
                ),
            ));
        }
        match &self.fault {
            Fault::Delay { ms } if *ms == 0 => {
                return Err((Part::Fault, "a delay is at least 1 ms".to_owned()));
            }
            Fault::FailEntry { code, message } => {
                if code.is_empty() {
                    return Err((Part::Code, "the error code is empty".to_owned()));
                }
                if message.is_empty() {
                    return Err((Part::Message, "the error message is empty".to_owned()));
                }
            }
            Fault::DynamoError {
                code,
                item: Some(_),
            } if *code != DynamoErrorCode::TransactionConflict => {
                return Err((
                    Part::Item,
                    "`item=` names the conflicting item of `error=TransactionConflict`".to_owned(),
                ));
            }
            _ => {}
        }
        match &self.when {
            When::Nth(0) | When::Times(0) => {
                return Err((Part::When, "the count is at least 1".to_owned()));
            }
            When::Probability(p) if !(0.0..=1.0).contains(p) => {
                return Err((Part::When, probability_range_reason(*p)));
            }
            When::MessageId(id) if id.is_empty() => {
                return Err((Part::When, "the message id is empty".to_owned()));
            }
            When::MessageId(_)
                if matches!(
                    kind,
                    TargetKind::Bus | TargetKind::Table | TargetKind::WebSocket
                ) =>
            {
                return Err((
                    Part::When,
                    format!(
                        "message ids are known only to queue and function rules, not to {}",
                        kind.plural()
                    ),
                ));
            }
            _ => {}
        }
        if self.max == Some(0) {
            return Err((Part::Max, "`max` is at least 1".to_owned()));
        }
        Ok(())
    }

    /// The compact token that states `part` of this rule.
    fn token_for(&self, part: Part) -> String {
        match part {
            Part::Id => kv("id", self.id.as_deref().unwrap_or_default()),
            Part::Target => kv(self.target.kind().key(), self.target.pattern()),
            Part::Operation => match &self.target {
                Target::Table {
                    operation: Some(op),
                    ..
                } => kv("op", op),
                _ => "op=".to_owned(),
            },
            Part::Connection => match &self.target {
                Target::WebSocket {
                    connection: Some(c),
                    ..
                } => kv("connection", c),
                _ => "connection=".to_owned(),
            },
            Part::Fault => self.fault_token(),
            Part::Code => match &self.fault {
                Fault::FailEntry { code, .. } => kv("code", code),
                _ => "code=".to_owned(),
            },
            Part::Message => match &self.fault {
                Fault::FailEntry { message, .. } => kv("message", message),
                _ => "message=".to_owned(),
            },
            Part::Item => match &self.fault {
                Fault::DynamoError { item: Some(i), .. } => format!("item={i}"),
                _ => "item=".to_owned(),
            },
            Part::When => self.when.token().unwrap_or_else(|| "when=every".to_owned()),
            Part::Max => format!("max={}", self.max.unwrap_or_default()),
        }
    }

    /// The fault's own token, without the occurrence.
    fn fault_token(&self) -> String {
        match &self.fault {
            Fault::Delay { ms } => format!("delay={ms}ms"),
            Fault::DynamoError { code, .. } => format!("error={code}"),
            other => other.key().to_owned(),
        }
    }
}

fn check_id(id: &str) -> Result<(), String> {
    // Ids appear in admin API paths (`DELETE /rules/{id}`) and journal lines: keep them to
    // characters that need no escaping anywhere.
    if id.is_empty() || id.len() > 64 {
        return Err("an id is 1 to 64 characters".to_owned());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(format!(
            "`{c}` is not allowed in an id (letters, digits, `-`, `_`, `.`, `:`)"
        ));
    }
    Ok(())
}

fn probability_range_reason(p: f64) -> String {
    format!(
        "probability {p} is outside 0..=1 (for every Nth occurrence write nth:N, for the first \
         N write times:N)"
    )
}

/// The compact form of the rule, which [`FromStr`] parses back to an equal rule.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut tokens = Vec::new();
        if let Some(id) = &self.id {
            tokens.push(kv("id", id));
        }
        tokens.push(kv(self.target.kind().key(), self.target.pattern()));
        if let Target::Table {
            operation: Some(op),
            ..
        } = &self.target
        {
            tokens.push(kv("op", op));
        }
        if let Target::WebSocket {
            connection: Some(c),
            ..
        } = &self.target
        {
            tokens.push(kv("connection", c));
        }
        // Parameterless faults carry the occurrence as their value (`duplicate=nth:3`); the
        // others keep their parameter there and state the occurrence as a token of its own.
        let when_inline = !matches!(self.fault, Fault::Delay { .. } | Fault::DynamoError { .. });
        match &self.fault {
            Fault::Delay { ms } => tokens.push(format!("delay={ms}ms")),
            Fault::DynamoError { code, item } => {
                tokens.push(format!("error={code}"));
                if let Some(i) = item {
                    tokens.push(format!("item={i}"));
                }
            }
            other => tokens.push(kv(other.key(), &self.when.value())),
        }
        if let Fault::FailEntry { code, message } = &self.fault {
            if code != DEFAULT_ENTRY_CODE {
                tokens.push(kv("code", code));
            }
            if message != DEFAULT_ENTRY_MESSAGE {
                tokens.push(kv("message", message));
            }
        }
        if !when_inline && let Some(token) = self.when.token() {
            tokens.push(token);
        }
        if let Some(max) = self.max {
            tokens.push(format!("max={max}"));
        }
        f.write_str(&tokens.join(" "))
    }
}

/// `key=value`, quoting the value when the tokenizer would otherwise split or unquote it.
fn kv(key: &str, value: &str) -> String {
    format!("{key}={}", quote(value))
}

fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '\'' || c == '"');
    if plain {
        value.to_owned()
    } else if !value.contains('\'') {
        format!("'{value}'")
    } else {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    }
}

/// One `key=value` (or bare `key`) of the compact form, with the text the user wrote so that
/// errors can quote it.
struct Token<'a> {
    raw: &'a str,
    key: String,
    value: Option<String>,
}

/// Splits at unquoted whitespace. Within a token, `'...'` quotes literally and `"..."` quotes
/// with `\"` and `\\` escapes; the first unquoted `=` separates key from value.
fn tokenize(input: &str) -> Result<Vec<Token<'_>>, RuleError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut end = input.len();
        let mut text = String::new();
        let mut key: Option<String> = None;
        let mut quote: Option<char> = None;
        while let Some(&(i, c)) = chars.peek() {
            if quote.is_none() && c.is_whitespace() {
                end = i;
                break;
            }
            chars.next();
            match quote {
                Some(q) if c == q => quote = None,
                Some('"') if c == '\\' => match chars.next() {
                    Some((_, escaped)) => text.push(escaped),
                    None => break,
                },
                Some(_) => text.push(c),
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c == '=' && key.is_none() => key = Some(std::mem::take(&mut text)),
                None => text.push(c),
            }
        }
        let raw = &input[start..end];
        if quote.is_some() {
            return Err(RuleError::UnterminatedQuote {
                token: raw.to_owned(),
            });
        }
        tokens.push(match key {
            Some(key) => Token {
                raw,
                key: key.to_ascii_lowercase(),
                value: Some(text),
            },
            None => Token {
                raw,
                key: text.to_ascii_lowercase(),
                value: None,
            },
        });
    }
    Ok(tokens)
}

impl Token<'_> {
    fn value(&self) -> Result<&str, RuleError> {
        match self.value.as_deref() {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(RuleError::MissingValue {
                token: self.raw.to_owned(),
                key: self.key.clone(),
            }),
        }
    }

    fn bad(&self, reason: impl Into<String>) -> RuleError {
        RuleError::BadValue {
            token: self.raw.to_owned(),
            reason: reason.into(),
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> RuleError {
        RuleError::Invalid {
            token: self.raw.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A slot of the compact form that may be filled once; the second token that fills it is a
/// conflict that names both.
struct Slot<'a, T> {
    what: &'static str,
    value: Option<(T, &'a str)>,
}

impl<'a, T> Slot<'a, T> {
    fn new(what: &'static str) -> Self {
        Slot { what, value: None }
    }

    fn set(&mut self, value: T, token: &Token<'a>) -> Result<(), RuleError> {
        if let Some((_, earlier)) = &self.value {
            return Err(RuleError::Conflict {
                token: token.raw.to_owned(),
                earlier: (*earlier).to_owned(),
                reason: format!("a rule has one {}", self.what),
            });
        }
        self.value = Some((value, token.raw));
        Ok(())
    }

    fn raw(&self) -> Option<&'a str> {
        self.value.as_ref().map(|(_, raw)| *raw)
    }
}

fn parse_count(token: &Token<'_>, text: &str) -> Result<u64, RuleError> {
    match text.parse::<u64>() {
        Ok(0) => Err(token.bad("the count is at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(token.bad(format!("`{text}` is not a whole number"))),
    }
}

fn parse_probability(text: &str) -> Result<f64, String> {
    let (number, scale) = match text.strip_suffix('%') {
        Some(number) => (number, 100.0),
        None => (text, 1.0),
    };
    let p = number
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite())
        .map(|p| p / scale)
        .ok_or_else(|| {
            format!(
                "`{text}` is not an occurrence; expected every, nth:N, times:N, message:ID, or a \
                 probability such as 0.3 or 30%"
            )
        })?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(probability_range_reason(p))
    }
}

fn parse_when_value(text: &str) -> Result<When, String> {
    let count = |n: &str| match n.parse::<u64>() {
        Ok(0) => Err("the count is at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{n}` is not a whole number")),
    };
    if text.eq_ignore_ascii_case("every") || text.eq_ignore_ascii_case("always") {
        Ok(When::Every)
    } else if let Some(n) = text.strip_prefix("nth:") {
        count(n).map(When::Nth)
    } else if let Some(n) = text
        .strip_prefix("times:")
        .or_else(|| text.strip_prefix("first:"))
    {
        count(n).map(When::Times)
    } else if let Some(id) = text.strip_prefix("message:") {
        if id.is_empty() {
            Err("the message id is empty".to_owned())
        } else {
            Ok(When::MessageId(id.to_owned()))
        }
    } else {
        parse_probability(text).map(When::Probability)
    }
}

fn parse_delay(token: &Token<'_>, text: &str) -> Result<u64, RuleError> {
    let (number, factor) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000)
    } else {
        (text, 1)
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|ms| *ms > 0)
        .ok_or_else(|| {
            token.bad(format!(
                "`{text}` is not a delay; write milliseconds (500 or 500ms) or seconds (2s), \
                 at least 1 ms"
            ))
        })
}

/// Parses the compact form. See the crate documentation or [`Rules::help`] for the grammar.
impl FromStr for Rule {
    type Err = RuleError;

    fn from_str(input: &str) -> Result<Rule, RuleError> {
        let tokens = tokenize(input)?;
        if tokens.is_empty() {
            return Err(RuleError::Empty);
        }
        let mut id = Slot::<String>::new("id");
        let mut target = Slot::<(TargetKind, String)>::new("target");
        let mut operation = Slot::<String>::new("operation");
        let mut connection = Slot::<String>::new("connection");
        let mut fault = Slot::<Fault>::new("fault");
        let mut when = Slot::<When>::new("occurrence (every, nth, times, p, message-id)");
        let mut code = Slot::<String>::new("error code");
        let mut message = Slot::<String>::new("error message");
        let mut item = Slot::<usize>::new("conflicting item");
        let mut max = Slot::<u64>::new("max");

        for token in &tokens {
            let key = token.key.as_str();
            match key {
                "id" => {
                    let value = token.value()?;
                    check_id(value).map_err(|reason| token.bad(reason))?;
                    id.set(value.to_owned(), token)?;
                }
                "queue" | "bus" | "table" | "function" | "websocket" => {
                    let kind = match key {
                        "queue" => TargetKind::Queue,
                        "bus" => TargetKind::Bus,
                        "table" => TargetKind::Table,
                        "websocket" => TargetKind::WebSocket,
                        _ => TargetKind::Function,
                    };
                    target.set((kind, token.value()?.to_owned()), token)?;
                }
                "op" | "operation" => operation.set(token.value()?.to_owned(), token)?,
                "connection" | "connection-id" => {
                    connection.set(token.value()?.to_owned(), token)?
                }
                "duplicate" | "lose-delete" | "reorder" | "fail-entry" | "crash" | "timeout"
                | "gone" => {
                    let f = match key {
                        "duplicate" => Fault::Duplicate,
                        "lose-delete" => Fault::LoseDelete,
                        "reorder" => Fault::Reorder,
                        "fail-entry" => Fault::FailEntry {
                            code: default_entry_code(),
                            message: default_entry_message(),
                        },
                        "crash" => Fault::Crash,
                        "gone" => Fault::Gone,
                        _ => Fault::Timeout,
                    };
                    fault.set(f, token)?;
                    // A bare `duplicate` means every occurrence; `duplicate=0.3` names one.
                    if let Some(value) = &token.value {
                        let w = parse_when_value(value).map_err(|reason| token.bad(reason))?;
                        when.set(w, token)?;
                    }
                }
                "delay" => {
                    let ms = parse_delay(token, token.value()?)?;
                    fault.set(Fault::Delay { ms }, token)?;
                }
                "error" => {
                    let code = token.value()?.parse().map_err(|e: String| token.bad(e))?;
                    fault.set(Fault::DynamoError { code, item: None }, token)?;
                }
                "code" => code.set(token.value()?.to_owned(), token)?,
                "message" => message.set(token.value()?.to_owned(), token)?,
                "item" => {
                    let value = token.value()?;
                    let i = value.parse::<usize>().map_err(|_| {
                        token.bad(format!("`{value}` is not an item index (0, 1, ...)"))
                    })?;
                    item.set(i, token)?;
                }
                "when" => {
                    let w = parse_when_value(token.value()?).map_err(|reason| token.bad(reason))?;
                    when.set(w, token)?;
                }
                "nth" => when.set(When::Nth(parse_count(token, token.value()?)?), token)?,
                "times" | "first" => {
                    when.set(When::Times(parse_count(token, token.value()?)?), token)?
                }
                "p" | "probability" => {
                    let p =
                        parse_probability(token.value()?).map_err(|reason| token.bad(reason))?;
                    when.set(When::Probability(p), token)?;
                }
                "message-id" => when.set(When::MessageId(token.value()?.to_owned()), token)?,
                "max" => max.set(parse_count(token, token.value()?)?, token)?,
                _ => {
                    return Err(RuleError::UnknownKey {
                        token: token.raw.to_owned(),
                        key: token.key.clone(),
                    });
                }
            }
        }

        let rule_text = input.trim().to_owned();
        let Some(((kind, pattern), target_raw)) = target.value.take() else {
            return Err(RuleError::NoTarget { rule: rule_text });
        };
        let Some((mut fault_value, fault_raw)) = fault.value.take() else {
            return Err(RuleError::NoFault { rule: rule_text });
        };
        let find = |raw: Option<&str>| {
            let raw = raw.unwrap_or_default();
            tokens.iter().find(|t| t.raw == raw)
        };

        let target_value = match kind {
            TargetKind::Queue => Target::Queue(pattern),
            TargetKind::Bus => Target::Bus(pattern),
            TargetKind::Function => Target::Function(pattern),
            TargetKind::Table => Target::Table {
                table: pattern,
                operation: operation.value.as_ref().map(|(op, _)| op.clone()),
            },
            TargetKind::WebSocket => Target::WebSocket {
                api: pattern,
                connection: connection.value.as_ref().map(|(c, _)| c.clone()),
            },
        };
        if kind != TargetKind::Table
            && let Some(token) = find(operation.raw())
        {
            return Err(token.invalid(format!(
                "`op=` narrows a table rule, and `{target_raw}` is not one"
            )));
        }
        if kind != TargetKind::WebSocket
            && let Some(token) = find(connection.raw())
        {
            return Err(token.invalid(format!(
                "`connection=` narrows a websocket rule, and `{target_raw}` is not one"
            )));
        }
        // Parameters apply to their own fault only; a stray one is named, not ignored.
        match &mut fault_value {
            Fault::FailEntry {
                code: c,
                message: m,
            } => {
                if let Some((value, _)) = &code.value {
                    value.clone_into(c);
                }
                if let Some((value, _)) = &message.value {
                    value.clone_into(m);
                }
            }
            Fault::DynamoError { item: i, .. } => *i = item.value.as_ref().map(|(v, _)| *v),
            _ => {}
        }
        if !matches!(fault_value, Fault::FailEntry { .. }) {
            for (raw, key) in [(code.raw(), "code"), (message.raw(), "message")] {
                if let Some(token) = find(raw) {
                    return Err(token.invalid(format!(
                        "`{key}=` belongs to `fail-entry`, and `{fault_raw}` is not it"
                    )));
                }
            }
        }
        if !matches!(fault_value, Fault::DynamoError { .. })
            && let Some(token) = find(item.raw())
        {
            return Err(token.invalid(format!(
                "`item=` belongs to `error=TransactionConflict`, and `{fault_raw}` is not it"
            )));
        }

        let rule = Rule {
            id: id.value.as_ref().map(|(v, _)| v.clone()),
            target: target_value,
            fault: fault_value,
            when: when
                .value
                .as_ref()
                .map(|(w, _)| w.clone())
                .unwrap_or_default(),
            max: max.value.as_ref().map(|(m, _)| *m),
        };
        rule.check().map_err(|(part, reason)| {
            let raw = match part {
                Part::Id => id.raw(),
                Part::Target => Some(target_raw),
                Part::Operation => operation.raw(),
                Part::Connection => connection.raw(),
                Part::Fault => Some(fault_raw),
                Part::Code => code.raw().or(Some(fault_raw)),
                Part::Message => message.raw().or(Some(fault_raw)),
                Part::Item => item.raw(),
                Part::When => when.raw(),
                Part::Max => max.raw(),
            };
            RuleError::Invalid {
                token: raw.map_or_else(|| rule.token_for(part), str::to_owned),
                reason,
            }
        })?;
        Ok(rule)
    }
}

/// The structured form of a rule (files and the admin API): flat, with the target as one of
/// `queue`/`bus`/`table`/`function`/`websocket`, so it reads like the compact form.
///
/// ```json
/// {"id": "r1", "table": "*", "operation": "TransactWriteItems",
///  "fault": {"type": "dynamo-error", "code": "TransactionConflict", "item": 1},
///  "when": {"nth": 3}, "max": 2}
/// {"websocket": "WebSocketApi", "connection": "abc*", "fault": {"type": "gone"},
///  "when": {"times": 1}}
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bus: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    function: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    websocket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    connection: Option<String>,
    fault: Fault,
    #[serde(default)]
    when: When,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<u64>,
}

impl TryFrom<RuleWire> for Rule {
    type Error = RuleError;

    fn try_from(w: RuleWire) -> Result<Rule, RuleError> {
        let targets = [
            w.queue.map(Target::Queue),
            w.bus.map(Target::Bus),
            w.table.map(|table| Target::Table {
                table,
                operation: w.operation.clone(),
            }),
            w.function.map(Target::Function),
            w.websocket.map(|api| Target::WebSocket {
                api,
                connection: w.connection.clone(),
            }),
        ];
        let mut found = targets.into_iter().flatten();
        let target = found.next().ok_or_else(|| RuleError::Invalid {
            token: "queue|bus|table|function|websocket".to_owned(),
            reason: "a rule names one target".to_owned(),
        })?;
        if let Some(second) = found.next() {
            return Err(RuleError::Conflict {
                token: kv(second.kind().key(), second.pattern()),
                earlier: kv(target.kind().key(), target.pattern()),
                reason: "a rule names one target".to_owned(),
            });
        }
        if let (Some(op), false) = (&w.operation, matches!(target, Target::Table { .. })) {
            return Err(RuleError::Invalid {
                token: kv("operation", op),
                reason: format!(
                    "`operation` narrows a table rule, and `{}` is not one",
                    kv(target.kind().key(), target.pattern())
                ),
            });
        }
        if let (Some(c), false) = (&w.connection, matches!(target, Target::WebSocket { .. })) {
            return Err(RuleError::Invalid {
                token: kv("connection", c),
                reason: format!(
                    "`connection` narrows a websocket rule, and `{}` is not one",
                    kv(target.kind().key(), target.pattern())
                ),
            });
        }
        let rule = Rule {
            id: w.id,
            target,
            fault: w.fault,
            when: w.when,
            max: w.max,
        };
        rule.validate()?;
        Ok(rule)
    }
}

impl From<Rule> for RuleWire {
    fn from(rule: Rule) -> RuleWire {
        let mut w = RuleWire {
            id: rule.id,
            queue: None,
            bus: None,
            table: None,
            operation: None,
            function: None,
            websocket: None,
            connection: None,
            fault: rule.fault,
            when: rule.when,
            max: rule.max,
        };
        match rule.target {
            Target::Queue(q) => w.queue = Some(q),
            Target::Bus(b) => w.bus = Some(b),
            Target::Table { table, operation } => {
                w.table = Some(table);
                w.operation = operation;
            }
            Target::Function(f) => w.function = Some(f),
            Target::WebSocket { api, connection } => {
                w.websocket = Some(api);
                w.connection = connection;
            }
        }
        w
    }
}

/// A chaos configuration: the seed (which the command line may override) and the rules.
///
/// A file is YAML or JSON: either a list of rules, or a map with `seed` and `rules`. Each rule
/// is a compact string or a structured map:
///
/// ```yaml
/// seed: 42
/// rules:
///   - queue=ClicksQueue duplicate=every
///   - id: conflicts
///     table: "*"            # quoted: a bare * is YAML alias syntax
///     operation: TransactWriteItems
///     fault: { type: dynamo-error, code: TransactionConflict, item: 1 }
///     when: { nth: 3 }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Rules {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub rules: Vec<Rule>,
}

/// A chaos file that cannot be read or understood.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read chaos file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("chaos file is not valid {format}: {message}")]
    Syntax {
        format: &'static str,
        message: String,
    },
    #[error("chaos file: {0}")]
    Shape(String),
    /// `number` counts from 1, as people do.
    #[error("chaos rule {number}: {source}")]
    Rule { number: usize, source: RuleError },
    #[error("chaos rule {number}: {message}")]
    RuleShape { number: usize, message: String },
}

impl Rules {
    /// The compact grammar, for `--help` and error hints.
    pub fn help() -> &'static str {
        HELP
    }

    /// Parses `--chaos` flags, one rule each.
    pub fn from_flags<I, S>(flags: I) -> Result<Vec<Rule>, RuleError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        flags.into_iter().map(|f| f.as_ref().parse()).collect()
    }

    /// Reads a chaos file: JSON if its name ends in `.json`, YAML otherwise.
    pub fn load(path: &Path) -> Result<Rules, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_owned(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        if is_json {
            Rules::from_json(&text)
        } else {
            Rules::from_yaml(&text)
        }
    }

    pub fn from_yaml(text: &str) -> Result<Rules, LoadError> {
        if text.trim().is_empty() {
            return Ok(Rules::default());
        }
        let value: Value = serde_yaml::from_str(text).map_err(|e| LoadError::Syntax {
            format: "YAML",
            message: e.to_string(),
        })?;
        Rules::from_value(value)
    }

    pub fn from_json(text: &str) -> Result<Rules, LoadError> {
        let value: Value = serde_json::from_str(text).map_err(|e| LoadError::Syntax {
            format: "JSON",
            message: e.to_string(),
        })?;
        Rules::from_value(value)
    }

    /// Goes through a JSON value so that a rule may be either a compact string or a map, with
    /// errors that say which rule is wrong (an untagged serde enum would only say "no variant
    /// matched").
    fn from_value(value: Value) -> Result<Rules, LoadError> {
        let (seed, items) = match value {
            Value::Null => (None, Vec::new()),
            Value::Array(items) => (None, items),
            Value::Object(mut map) => {
                let seed = match map.remove("seed") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(v.as_u64().ok_or_else(|| {
                        LoadError::Shape(format!("`seed` is a whole number from 0, not {v}"))
                    })?),
                };
                let items = match map.remove("rules") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(items)) => items,
                    Some(_) => return Err(LoadError::Shape("`rules` is a list".to_owned())),
                };
                if let Some(key) = map.keys().next() {
                    return Err(LoadError::Shape(format!(
                        "unknown key `{key}`; a chaos file has `seed` and `rules`"
                    )));
                }
                (seed, items)
            }
            _ => {
                return Err(LoadError::Shape(
                    "a chaos file is a list of rules, or a map with `seed` and `rules`".to_owned(),
                ));
            }
        };
        let rules = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                let number = index + 1;
                match item {
                    Value::String(text) => text
                        .parse::<Rule>()
                        .map_err(|source| LoadError::Rule { number, source }),
                    other => {
                        let wire: RuleWire =
                            serde_json::from_value(other).map_err(|e| LoadError::RuleShape {
                                number,
                                message: e.to_string(),
                            })?;
                        Rule::try_from(wire).map_err(|source| LoadError::Rule { number, source })
                    }
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rules { seed, rules })
    }
}

/// Whether `pattern` names the resource `name` (ARN `arn`, when known). Either side may be a
/// name or an ARN: a name pattern also matches the resource name inside a given ARN, and an
/// ARN pattern whose caller knows only the name is compared by its resource name.
pub(crate) fn matches_resource(pattern: &str, name: &str, arn: Option<&str>) -> bool {
    if pattern == "*" || glob(pattern, name) || arn.is_some_and(|a| glob(pattern, a)) {
        return true;
    }
    if is_arn(pattern) {
        !is_arn(name) && glob(arn_resource_name(pattern), name)
    } else {
        (is_arn(name) && glob(pattern, arn_resource_name(name)))
            || arn.is_some_and(|a| glob(pattern, arn_resource_name(a)))
    }
}

fn is_arn(s: &str) -> bool {
    s.starts_with("arn:")
}

/// The resource name in an ARN: SQS `...:Name`, DynamoDB `...:table/Name[/...]`, EventBridge
/// `...:event-bus/Name`, Lambda `...:function:Name[:qualifier]`.
fn arn_resource_name(arn: &str) -> &str {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    if let Some(rest) = resource.strip_prefix("function:") {
        rest.split(':').next().unwrap_or(rest)
    } else if let Some((_, rest)) = resource.split_once('/') {
        rest.split('/').next().unwrap_or(rest)
    } else {
        resource
    }
}

/// A glob where `*` matches any run of characters and everything else matches itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let pattern = pattern.as_bytes();
    let text = text.as_bytes();
    // The classic backtracking matcher: remember the last `*` and how much it has swallowed.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

const HELP: &str = "\
A chaos rule is one line of space-separated key=value tokens:

  TARGET [op=OPERATION | connection=ID] FAULT [PARAMS] [WHEN] [max=N] [id=ID]

TARGET, exactly one (a name, an ARN, or a glob where * matches anything):
  queue=NAME    bus=NAME    table=NAME [op=OPERATION]    function=NAME
  websocket=API [connection=ID]   API: the WebSocket API's logical id or API id;
                                  ID: a connection id or a glob

FAULT, exactly one, with the target it applies to:
  duplicate[=WHEN]      queue     deliver the message twice
  lose-delete[=WHEN]    queue     lose the delete after a successful batch
  reorder[=WHEN]        queue     shuffle the messages within a batch
  delay=MS              queue     hold the message back (500, 500ms, 2s)
  fail-entry[=WHEN]     bus       fail the PutEvents entry
      code=CODE message=TEXT      (default InternalFailure / devstack chaos: injected failure)
  error=CODE            table     answer with a DynamoDB error: TransactionConflict,
      item=N                      ProvisionedThroughputExceeded, InternalServerError,
                                  ThrottlingException; item= names the conflicting
                                  transaction item (0-based; default: all)
  crash[=WHEN]          function  crash the invocation
  timeout[=WHEN]        function  time the invocation out
  gone[=WHEN]           websocket the connection a @connections POST is for is gone:
                                  its socket drops without a close frame, no
                                  $disconnect, and the POST (and every later call
                                  on it) answers 410 GoneException

WHEN, once: as the fault's value or as its own token (default: every):
  every                 nth:N   | nth=N         every Nth occurrence (Nth, 2Nth, ...)
  0.3 | 30% | p=0.3     probability per occurrence, from the seeded stream
  times:N | times=N     the first N occurrences
  message:ID | message-id=ID   occurrences that carry this message (queues, functions)
  when=WHEN             any of the above

Occurrences are counted per rule and resource; for websocket rules the resource is the
connection (each POST to it is an occurrence), so gone=nth:3 makes each connection gone at
its own 3rd POST (and, being gone, it is never asked again).
max=N fires at most N times per resource; id=ID names the rule (else r1, r2, ...).
Quote values with spaces: message='try again later'.

Examples:
  queue=ClicksQueue duplicate=every
  queue=* lose-delete=0.3
  table=* op=TransactWriteItems error=TransactionConflict nth=3
  function=ClickAggregator crash=message:abc-123 max=1
  bus=* fail-entry=0.1 code=ThrottlingException
  websocket=* connection=abc* gone
";

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Rule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> RuleError {
        match s.parse::<Rule>() {
            Ok(rule) => panic!("{s} parsed as {rule:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn brief_examples_parse() {
        assert_eq!(
            parse("queue=ClicksQueue duplicate=every"),
            Rule::new(Target::Queue("ClicksQueue".into()), Fault::Duplicate)
        );
        assert_eq!(
            parse("queue=* lose-delete=0.3"),
            Rule::new(Target::Queue("*".into()), Fault::LoseDelete).when(When::Probability(0.3))
        );
        assert_eq!(
            parse("table=* op=TransactWriteItems error=TransactionConflict nth=3"),
            Rule::new(
                Target::Table {
                    table: "*".into(),
                    operation: Some("TransactWriteItems".into())
                },
                Fault::DynamoError {
                    code: DynamoErrorCode::TransactionConflict,
                    item: None
                }
            )
            .when(When::Nth(3))
        );
        assert_eq!(
            parse("function=ClickAggregator crash=message:abc-123"),
            Rule::new(Target::Function("ClickAggregator".into()), Fault::Crash)
                .when(When::MessageId("abc-123".into()))
        );
        assert_eq!(
            parse("bus=* fail-entry=0.1"),
            Rule::new(
                Target::Bus("*".into()),
                Fault::FailEntry {
                    code: DEFAULT_ENTRY_CODE.into(),
                    message: DEFAULT_ENTRY_MESSAGE.into()
                }
            )
            .when(When::Probability(0.1))
        );
        assert_eq!(
            parse("websocket=* connection=abc* gone"),
            Rule::new(
                Target::WebSocket {
                    api: "*".into(),
                    connection: Some("abc*".into())
                },
                Fault::Gone
            )
        );
        assert_eq!(
            parse("websocket=WebSocketApi gone=times:1"),
            Rule::new(
                Target::WebSocket {
                    api: "WebSocketApi".into(),
                    connection: None
                },
                Fault::Gone
            )
            .when(When::Times(1))
        );
    }

    #[test]
    fn spellings_of_the_same_rule() {
        let canonical = parse("queue=Q duplicate=nth:3");
        for s in [
            "queue=Q duplicate nth=3",
            "duplicate=nth:3 queue=Q",
            "QUEUE=Q Duplicate when=nth:3",
            "  queue=Q\tduplicate   nth=3 ",
            "queue='Q' duplicate=\"nth:3\"",
        ] {
            assert_eq!(parse(s), canonical, "{s}");
        }
        assert_eq!(parse("queue=Q duplicate"), parse("queue=Q duplicate=every"));
        assert_eq!(
            parse("queue=Q duplicate=30%"),
            parse("queue=Q duplicate p=0.3")
        );
        assert_eq!(
            parse("queue=Q duplicate=first:2"),
            parse("queue=Q duplicate times=2")
        );
        assert_eq!(parse("queue=Q delay=2s"), parse("queue=Q delay=2000"));
        assert_eq!(parse("queue=Q delay=2000ms"), parse("queue=Q delay=2000"));
        assert_eq!(
            parse("table=T error=provisionedthroughputexceededexception"),
            parse("table=T error=ProvisionedThroughputExceeded")
        );
        assert_eq!(
            parse("table=T operation=GetItem error=InternalServerError"),
            parse("table=T op=GetItem error=InternalServerError")
        );
        let canonical = parse("websocket=W connection=c1 gone=nth:2");
        for s in [
            "websocket=W connection-id=c1 gone nth=2",
            "gone=nth:2 connection=c1 websocket=W",
            "WEBSOCKET=W Connection=c1 Gone when=nth:2",
            "websocket='W' connection=\"c1\" gone=\"nth:2\"",
        ] {
            assert_eq!(parse(s), canonical, "{s}");
        }
        assert_eq!(parse("websocket=W gone"), parse("websocket=W gone=every"));
    }

    #[test]
    fn display_round_trips() {
        let rules = [
            "queue=ClicksQueue duplicate=every",
            "id=dup queue=arn:aws:sqs:us-east-1:000000000000:Q duplicate=nth:2 max=3",
            "queue=* lose-delete=0.3",
            "queue=Q reorder=times:2",
            "queue=Q delay=1500ms p=0.25",
            "queue=Q delay=10 message-id='a b'",
            "bus=* fail-entry=0.1",
            "bus=default fail-entry code=ThrottlingException message='slow down, \"please\"'",
            "bus=default fail-entry=every message=\"it's \\\"quoted\\\" \\\\ here\"",
            "table=* op=TransactWriteItems error=TransactionConflict item=1 nth=3",
            "table=Links error=ThrottlingException times=1",
            "function=ClickAggregator crash=message:abc-123 max=1",
            "function=F* timeout=1",
            "function=F timeout=0",
            "websocket=WebSocketApi gone",
            "websocket=* connection=abc* gone=nth:3 max=1",
            "websocket=W* gone p=0.5",
            "id=g websocket=Live connection=L0SM9cOFvHcCIhw= gone=times:1",
            "websocket=W connection='a b' gone",
        ];
        for text in rules {
            let rule = parse(text);
            let shown = rule.to_string();
            assert_eq!(parse(&shown), rule, "{text} -> {shown}");
            // And the canonical form is a fixed point.
            assert_eq!(parse(&shown).to_string(), shown);
        }
        assert_eq!(
            parse("function=F crash id=c1 when=message:m-1").to_string(),
            "id=c1 function=F crash=message:m-1"
        );
        assert_eq!(
            parse("table=T error=InternalServerError nth=2").to_string(),
            "table=T error=InternalServerError nth=2"
        );
        assert_eq!(
            parse("queue=Q delay=2s").to_string(),
            "queue=Q delay=2000ms"
        );
        assert_eq!(
            parse("gone connection-id=c= websocket=W max=1 nth=2").to_string(),
            "websocket=W connection=c= gone=nth:2 max=1"
        );
    }

    #[test]
    fn structured_form_round_trips() {
        for text in [
            "id=x queue=Q duplicate=nth:2 max=3",
            "table=* op=Transact* error=TransactionConflict item=0 p=0.5",
            "bus=B fail-entry=times:1 code=C message='m m'",
            "function=F crash=message:m-1",
            "queue=Q delay=5ms",
            "websocket=W gone",
            "id=g websocket=* connection=abc* gone=times:1 max=1",
        ] {
            let rule = parse(text);
            let json = serde_json::to_value(&rule).unwrap();
            let back: Rule = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(back, rule, "{json}");
        }
        let json = serde_json::to_value(parse(
            "id=c table=* op=TransactWriteItems error=TransactionConflict item=1 nth=3 max=2",
        ))
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "c", "table": "*", "operation": "TransactWriteItems",
                "fault": {"type": "dynamo-error", "code": "TransactionConflict", "item": 1},
                "when": {"nth": 3}, "max": 2
            })
        );
        assert_eq!(
            serde_json::to_value(parse("queue=Q duplicate")).unwrap(),
            serde_json::json!({"queue": "Q", "fault": {"type": "duplicate"}, "when": "every"})
        );
        // The connection narrows the API as `operation` narrows a table: flat, beside it.
        assert_eq!(
            serde_json::to_value(parse("websocket=LiveApi connection=abc* gone nth=2")).unwrap(),
            serde_json::json!({
                "websocket": "LiveApi", "connection": "abc*",
                "fault": {"type": "gone"}, "when": {"nth": 2}
            })
        );
        let rule: Rule = serde_json::from_value(serde_json::json!(
            {"websocket": "LiveApi", "connection": "abc*", "fault": {"type": "gone"}}
        ))
        .unwrap();
        assert_eq!(rule, parse("websocket=LiveApi connection=abc* gone"));
    }

    #[test]
    fn structured_form_is_validated() {
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"table": "T", "fault": {"type": "duplicate"}}),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("`duplicate` applies to queues"),
            "{e}"
        );
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"queue": "Q", "bus": "B", "fault": {"type": "duplicate"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("one target"), "{e}");
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"queue": "Q", "operation": "GetItem", "fault": {"type": "duplicate"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("operation=GetItem"), "{e}");
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"queue": "Q", "fault": {"type": "duplicate"}, "when": {"nth": 0}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("nth=0"), "{e}");
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"queue": "Q", "fault": {"type": "duplicate", "ms": 3}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`ms` does not belong"), "{e}");
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"queue": "Q", "fault": {"type": "duplicate", "when": "every"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"table": "T", "fault": {"type": "dynamo-error", "code": "Nope"}}),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("unknown DynamoDB error `Nope`"),
            "{e}"
        );
        let rule = serde_json::from_value::<Rule>(
            serde_json::json!({"table": "T", "fault": {"type": "dynamo-error", "code": "throttlingexception"}}),
        )
        .unwrap();
        assert_eq!(rule, parse("table=T error=ThrottlingException"));

        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"table": "T", "fault": {"type": "gone"}}),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("`gone` applies to WebSocket APIs (`websocket=`)"),
            "{e}"
        );
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"queue": "Q", "connection": "c1", "fault": {"type": "duplicate"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("connection=c1"), "{e}");
        assert!(e.to_string().contains("narrows a websocket rule"), "{e}");
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"websocket": "W", "connection": "", "fault": {"type": "gone"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("the connection id is empty"), "{e}");
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"websocket": "W", "fault": {"type": "gone"}, "when": {"message-id": "m"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("message-id=m"), "{e}");
        assert!(e.to_string().contains("not to WebSocket APIs"), "{e}");
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"websocket": "W", "fault": {"type": "gone", "code": "X"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("`code` does not belong"), "{e}");
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"websocket": "W", "function": "F", "fault": {"type": "gone"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("one target"), "{e}");
        let e = serde_json::from_value::<Rule>(serde_json::json!({"fault": {"type": "gone"}}))
            .unwrap_err();
        assert!(e.to_string().contains("websocket"), "{e}");
        let e = serde_json::from_value::<Rule>(
            serde_json::json!({"websocket": "W", "fault": {"type": "vanish"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("timeout, gone"), "{e}");
    }

    #[test]
    fn errors_name_the_bad_token() {
        let cases: &[(&str, &str)] = &[
            ("queue=Q duplicat=every", "duplicat=every"),
            ("queue=Q duplicate=evry", "duplicate=evry"),
            ("queue=Q duplicate=3", "duplicate=3"),
            ("queue=Q duplicate=nth:0", "duplicate=nth:0"),
            ("queue=Q duplicate nth=x", "nth=x"),
            ("queue=Q duplicate nth=0", "nth=0"),
            ("queue=Q duplicate p=1.5", "p=1.5"),
            ("queue=Q duplicate=every nth=3", "nth=3"),
            ("queue=Q queue=R duplicate", "queue=R"),
            ("queue=Q duplicate crash", "crash"),
            ("queue= duplicate", "queue="),
            ("queue duplicate", "queue"),
            ("table=T duplicate", "duplicate"),
            (
                "queue=Q error=TransactionConflict",
                "error=TransactionConflict",
            ),
            ("table=T error=Boom", "error=Boom"),
            ("queue=Q op=GetItem duplicate", "op=GetItem"),
            ("queue=Q delay=soon", "delay=soon"),
            ("queue=Q delay=0", "delay=0"),
            ("bus=B crash", "crash"),
            ("bus=B fail-entry=message:m", "fail-entry=message:m"),
            (
                "table=T error=InternalServerError when=message:m",
                "when=message:m",
            ),
            ("queue=Q duplicate code=X", "code=X"),
            ("bus=B fail-entry message=", "message="),
            ("table=T error=ThrottlingException item=1", "item=1"),
            ("table=T error=TransactionConflict item=x", "item=x"),
            ("queue=Q duplicate max=0", "max=0"),
            ("queue=Q duplicate id=a/b", "id=a/b"),
            ("queue=Q duplicate message-id='m", "message-id='m"),
            ("queue=Q duplicate id=a id=b", "id=b"),
            ("websocket=W crash", "crash"),
            ("websocket=W duplicate", "duplicate"),
            ("function=F gone", "gone"),
            ("table=T op=GetItem gone", "gone"),
            ("queue=Q connection=c duplicate", "connection=c"),
            (
                "table=T connection=c error=InternalServerError",
                "connection=c",
            ),
            ("websocket=W op=GetItem gone", "op=GetItem"),
            ("websocket=W connection= gone", "connection="),
            ("websocket=W connection=a connection=b gone", "connection=b"),
            ("websocket=W gone=2", "gone=2"),
            ("websocket=W gone=nth:0", "gone=nth:0"),
            ("websocket=W gone=message:m", "gone=message:m"),
            ("websocket=W gone message-id=m", "message-id=m"),
            ("websocket=W gone code=X", "code=X"),
            ("websocket=W gone item=1", "item=1"),
            ("websocket=W gone max=0", "max=0"),
            ("websocket=W gone crash", "crash"),
            ("queue=Q websocket=W gone", "websocket=W"),
        ];
        for (input, token) in cases {
            let e = err(input);
            assert_eq!(e.token(), Some(*token), "{input}: {e}");
            assert!(e.to_string().contains(token), "{input}: {e}");
        }
    }

    #[test]
    fn errors_without_a_token_explain() {
        assert_eq!(err("  "), RuleError::Empty);
        assert!(matches!(err("duplicate=every"), RuleError::NoTarget { .. }));
        assert!(matches!(err("queue=Q"), RuleError::NoFault { .. }));
        let e = err("queue=Q duplicate=3").to_string();
        assert!(e.contains("nth:N"), "{e}");
        let e = err("gone");
        assert!(matches!(e, RuleError::NoTarget { .. }), "{e}");
        assert!(e.to_string().contains("websocket="), "{e}");
        let e = err("websocket=W connection=c");
        assert!(matches!(e, RuleError::NoFault { .. }), "{e}");
        assert!(e.to_string().contains("timeout, gone"), "{e}");
        let e = err("websocket=W gon").to_string();
        assert!(
            e.contains("websocket, connection") && e.contains("gone"),
            "{e}"
        );
    }

    #[test]
    fn glob_and_arn_matching() {
        assert!(glob("*", ""));
        assert!(glob("Clicks*", "ClicksQueue"));
        assert!(glob("*Queue", "ClicksQueue"));
        assert!(glob("C*k*Q*e", "ClicksQueue"));
        assert!(!glob("C*x*", "ClicksQueue"));
        assert!(!glob("Clicks", "ClicksQueue"));
        let arn = "arn:aws:sqs:us-east-1:000000000000:ClicksQueue";
        assert!(matches_resource("ClicksQueue", "ClicksQueue", Some(arn)));
        assert!(matches_resource(arn, "ClicksQueue", Some(arn)));
        assert!(matches_resource(arn, "ClicksQueue", None));
        assert!(matches_resource("Clicks*", arn, None));
        assert!(!matches_resource("Other", "ClicksQueue", Some(arn)));
        assert!(matches_resource(
            "Links",
            "arn:aws:dynamodb:us-east-1:000000000000:table/Links",
            None
        ));
        assert!(matches_resource(
            "Fn",
            "arn:aws:lambda:us-east-1:000000000000:function:Fn:live",
            None
        ));
        assert!(matches_resource(
            "arn:aws:events:us-east-1:000000000000:event-bus/app",
            "app",
            None
        ));
    }

    #[test]
    fn files_in_yaml_and_json() {
        let yaml = r#"
seed: 42
rules:
  - queue=ClicksQueue duplicate=every
  - id: conflicts
    table: "*"
    operation: TransactWriteItems
    fault: { type: dynamo-error, code: TransactionConflict, item: 1 }
    when: { nth: 3 }
  - bus: "*"
    fault: { type: fail-entry }
    when: { probability: 0.1 }
  - websocket: WebSocketApi
    connection: "abc*"
    fault: { type: gone }
    when: { times: 1 }
"#;
        let rules = Rules::from_yaml(yaml).unwrap();
        assert_eq!(rules.seed, Some(42));
        assert_eq!(
            rules.rules,
            vec![
                parse("queue=ClicksQueue duplicate=every"),
                parse(
                    "id=conflicts table=* op=TransactWriteItems error=TransactionConflict item=1 nth=3"
                ),
                parse("bus=* fail-entry=0.1"),
                parse("websocket=WebSocketApi connection=abc* gone=times:1"),
            ]
        );
        let json = serde_json::to_string(&rules).unwrap();
        assert_eq!(Rules::from_json(&json).unwrap(), rules);
        assert_eq!(
            Rules::from_json(r#"["function=F crash"]"#).unwrap(),
            Rules {
                seed: None,
                rules: vec![parse("function=F crash")]
            }
        );
        assert_eq!(Rules::from_yaml("").unwrap(), Rules::default());
    }

    #[test]
    fn file_errors_say_which_rule() {
        let e =
            Rules::from_yaml("rules:\n  - queue=Q duplicate\n  - queue=Q duplicat\n").unwrap_err();
        assert_eq!(e.to_string().split(':').next(), Some("chaos rule 2"), "{e}");
        assert!(e.to_string().contains("`duplicat`"), "{e}");
        let e = Rules::from_json(r#"[{"queue": "Q"}]"#).unwrap_err();
        assert!(matches!(e, LoadError::RuleShape { number: 1, .. }), "{e}");
        let e = Rules::from_json(r#"{"seed": -1}"#).unwrap_err();
        assert!(matches!(e, LoadError::Shape(_)), "{e}");
        let e = Rules::from_json(r#"{"rulez": []}"#).unwrap_err();
        assert!(e.to_string().contains("rulez"), "{e}");
        let e = Rules::from_json("{").unwrap_err();
        assert!(matches!(e, LoadError::Syntax { format: "JSON", .. }), "{e}");
    }

    #[test]
    fn flags_and_help() {
        let rules = Rules::from_flags(["queue=Q duplicate", "function=F timeout=times:1"]).unwrap();
        assert_eq!(rules.len(), 2);
        assert!(Rules::from_flags(["queue=Q duplicate", "bogus"]).is_err());
        // Every example in the help parses.
        let examples = Rules::help().split("Examples:\n").nth(1).unwrap();
        for line in examples.lines().filter(|l| !l.trim().is_empty()) {
            parse(line.trim());
        }
    }
}
