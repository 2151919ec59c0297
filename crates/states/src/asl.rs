//! The Amazon States Language, parsed and checked when a state machine is loaded: every state,
//! path, payload template, intrinsic, rule, Retrier and Catcher. A definition either parses
//! whole or is refused with an error naming the field; what ASL allows but devstack does not
//! run yet (Parallel, Map, JSONata, variables, the other intrinsics) is refused the same way,
//! so an execution never starts on a machine it could only half-run.

use crate::choice::Rule;
use crate::error::{DefinitionError, Failure, errors};
use crate::intrinsics::{self, Call};
use crate::path::Path;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Definition {
    pub start_at: String,
    pub states: BTreeMap<String, State>,
    /// The execution's timeout (`TimeoutSeconds` at the top level).
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub transition: Transition,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Next(String),
    End,
    /// Choice, Succeed and Fail: no Next or End of their own.
    None,
}

#[derive(Debug, Clone)]
pub enum Body {
    Pass {
        parameters: Option<Template>,
        result: Option<Value>,
        result_path: ResultPath,
    },
    Task(Box<Task>),
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Source>,
        cause: Option<Source>,
    },
}

impl Body {
    /// The state type's name as the history spells it (`TaskStateEntered`...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Body::Pass { .. } => "Pass",
            Body::Task(_) => "Task",
            Body::Choice { .. } => "Choice",
            Body::Wait(_) => "Wait",
            Body::Succeed => "Succeed",
            Body::Fail { .. } => "Fail",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub resource: Resource,
    /// The `Resource` as written.
    pub resource_arn: String,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub result_path: ResultPath,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub timeout_seconds: Option<u64>,
}

/// What a Task calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A Lambda function ARN: the function gets the effective input, and its output is the
    /// result.
    Lambda,
    /// `arn:aws:states:::lambda:invoke`: Parameters are Invoke's (`FunctionName`, `Payload`,
    /// `Qualifier`); the result is `{Payload, StatusCode, ExecutedVersion, ...}`.
    LambdaInvoke,
    /// `arn:aws:states:::dynamodb:<op>`, with the DynamoDB operation's name (`GetItem`...).
    DynamoDb(&'static str),
    /// Anything else: an execution that reaches it fails, naming it.
    Other,
}

impl Resource {
    pub fn parse(arn: &str) -> Resource {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _, "lambda", _, _, rest] if rest.starts_with("function:") => Resource::Lambda,
            ["arn", _, "states", "", "", rest] => match *rest {
                "lambda:invoke" => Resource::LambdaInvoke,
                "dynamodb:getItem" => Resource::DynamoDb("GetItem"),
                "dynamodb:putItem" => Resource::DynamoDb("PutItem"),
                "dynamodb:updateItem" => Resource::DynamoDb("UpdateItem"),
                "dynamodb:deleteItem" => Resource::DynamoDb("DeleteItem"),
                _ => Resource::Other,
            },
            _ => Resource::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    /// `JitterStrategy: FULL`.
    pub full_jitter: bool,
}

impl Retrier {
    pub fn matches(&self, error: &str) -> bool {
        self.error_equals.iter().any(|p| errors::matches(p, error))
    }

    /// The wait before retry number `n` (0 for the first retry) in ms, before jitter:
    /// `IntervalSeconds * BackoffRate^n`, capped by `MaxDelaySeconds`.
    pub fn delay_ms(&self, n: u32) -> i64 {
        let secs = self.interval_seconds as f64 * self.backoff_rate.powi(n as i32);
        let secs = match self.max_delay_seconds {
            Some(max) => secs.min(max as f64),
            None => secs,
        };
        (secs * 1000.0).round().min(i64::MAX as f64 / 2.0) as i64
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: ResultPath,
}

impl Catcher {
    pub fn matches(&self, error: &str) -> bool {
        self.error_equals.iter().any(|p| errors::matches(p, error))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum WaitFor {
    Seconds(u64),
    Timestamp(i64),
    SecondsPath(Path),
    TimestampPath(Path),
}

/// `ErrorPath` / `CausePath` (a path or an intrinsic), or a literal `Error` / `Cause`.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Literal(String),
    Path(Path),
    Call(Call),
}

/// InputPath or OutputPath: a path (`$` by default) or null (the effective value is `{}`).
#[derive(Debug, Clone, PartialEq)]
pub enum IoPath {
    Path(Path),
    Null,
}

/// ResultPath: where the result goes in the state's input, or null (the result is discarded
/// and the input passes through).
#[derive(Debug, Clone, PartialEq)]
pub enum ResultPath {
    Path(Path),
    Null,
}

/// A payload template (Parameters, ResultSelector): JSON in which a field named `x.$` takes
/// its value from a path or an intrinsic call and is renamed `x`.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    Literal(Value),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
    Path { field: String, path: Path },
    Call(Call),
}

/// What evaluating paths and intrinsics needs besides the input.
pub struct Scope<'a> {
    pub context: &'a Value,
    pub uuid: &'a (dyn Fn() -> String + Sync),
}

impl Template {
    fn parse(value: &Value, at: &str) -> Result<Template, DefinitionError> {
        Ok(match value {
            Value::Object(obj) => {
                let mut fields = Vec::with_capacity(obj.len());
                for (k, v) in obj {
                    let loc = format!("{at}/{k}");
                    match k.strip_suffix(".$") {
                        Some(field) => {
                            let Value::String(text) = v else {
                                return Err(DefinitionError::schema(
                                    loc,
                                    format!(
                                        "the value of {k:?} must be a path or an intrinsic function call"
                                    ),
                                ));
                            };
                            let t = if intrinsics::is_call(text) {
                                Template::Call(Call::parse(text).map_err(|e| fail_at(&loc, e))?)
                            } else {
                                Template::Path {
                                    field: k.clone(),
                                    path: Path::parse(text).map_err(|e| fail_at(&loc, e))?,
                                }
                            };
                            fields.push((field.to_owned(), t));
                        }
                        None => fields.push((k.clone(), Template::parse(v, &loc)?)),
                    }
                }
                Template::Object(fields)
            }
            Value::Array(items) => Template::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Template::parse(v, &format!("{at}/{i}")))
                    .collect::<Result<_, _>>()?,
            ),
            other => Template::Literal(other.clone()),
        })
    }

    pub fn eval(&self, input: &Value, scope: &Scope) -> Result<Value, Failure> {
        Ok(match self {
            Template::Literal(v) => v.clone(),
            Template::Object(fields) => {
                let mut out = Map::with_capacity(fields.len());
                for (k, t) in fields {
                    out.insert(k.clone(), t.eval(input, scope)?);
                }
                Value::Object(out)
            }
            Template::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.eval(input, scope))
                    .collect::<Result<_, _>>()?,
            ),
            Template::Path { field, path } => {
                path.get(input, scope.context).cloned().ok_or_else(|| {
                    let source = if path.context {
                        "the context object".to_owned()
                    } else {
                        format!("the input '{}'", truncate(&input.to_string()))
                    };
                    Failure::runtime(format!(
                        "The JSONPath '{path}' specified for the field '{field}' could not be found in {source}"
                    ))
                })?
            }
            Template::Call(call) => call.eval(input, scope.context, scope.uuid)?,
        })
    }
}

fn truncate(s: &str) -> String {
    if s.len() <= 256 {
        return s.to_owned();
    }
    let mut end = 256;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

impl IoPath {
    pub fn apply(&self, value: &Value, context: &Value, what: &str) -> Result<Value, Failure> {
        match self {
            IoPath::Null => Ok(Value::Object(Map::new())),
            IoPath::Path(p) => p.get(value, context).cloned().ok_or_else(|| {
                Failure::runtime(format!(
                    "Invalid path '{p}' : No results for path in the {what} '{}'",
                    truncate(&value.to_string())
                ))
            }),
        }
    }
}

impl ResultPath {
    /// The state's output before OutputPath: `result` placed into the state's raw `input`.
    pub fn apply(&self, input: &Value, result: Value) -> Result<Value, Failure> {
        match self {
            ResultPath::Null => Ok(input.clone()),
            ResultPath::Path(p) if p.is_root() => Ok(result),
            ResultPath::Path(p) => {
                let mut out = input.clone();
                p.set(&mut out, result).map_err(|e| {
                    Failure::new(
                        errors::RESULT_PATH_MATCH_FAILURE,
                        format!(
                            "Unable to apply ResultPath '{p}' to the input '{}': {e}",
                            truncate(&input.to_string())
                        ),
                    )
                })?;
                Ok(out)
            }
        }
    }
}

impl Source {
    pub fn eval(&self, input: &Value, scope: &Scope) -> Result<String, Failure> {
        let v = match self {
            Source::Literal(s) => return Ok(s.clone()),
            Source::Path(p) => p.get(input, scope.context).cloned().ok_or_else(|| {
                Failure::runtime(format!(
                    "The JSONPath '{p}' could not be found in the input"
                ))
            })?,
            Source::Call(c) => c.eval(input, scope.context, scope.uuid)?,
        };
        match v {
            Value::String(s) => Ok(s),
            other => Err(Failure::runtime(format!(
                "ErrorPath and CausePath must select a string, got {other}"
            ))),
        }
    }
}

fn fail_at(at: &str, message: String) -> DefinitionError {
    if message.contains("devstack does not support")
        || message.contains("not supported by devstack")
    {
        DefinitionError::unsupported(at, message)
    } else {
        DefinitionError::schema(at, message)
    }
}

/// Fields that ASL has but devstack does not run yet, wherever they appear in a state.
const UNSUPPORTED_FIELDS: &[(&str, &str)] = &[
    ("Assign", "variables (Assign)"),
    ("Arguments", "JSONata (Arguments)"),
    ("Output", "JSONata (Output)"),
    ("TimeoutSecondsPath", "TimeoutSecondsPath"),
    ("HeartbeatSecondsPath", "HeartbeatSecondsPath"),
];

fn check_fields(
    obj: &Map<String, Value>,
    allowed: &[&str],
    at: &str,
) -> Result<(), DefinitionError> {
    for key in obj.keys() {
        if allowed.contains(&key.as_str()) {
            continue;
        }
        if let Some((_, what)) = UNSUPPORTED_FIELDS.iter().find(|(k, _)| k == key) {
            return Err(DefinitionError::unsupported(
                format!("{at}/{key}"),
                format!("{what} is not supported by devstack yet"),
            ));
        }
        return Err(DefinitionError::schema(
            format!("{at}/{key}"),
            format!("The field {key:?} is not supported by Step Functions"),
        ));
    }
    Ok(())
}

fn string_field(
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<String>, DefinitionError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(DefinitionError::schema(
            format!("{at}/{key}"),
            format!("{key} must be a string"),
        )),
    }
}

fn uint_field(
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
    min: u64,
) -> Result<Option<u64>, DefinitionError> {
    match obj.get(key) {
        None => Ok(None),
        Some(v) => match v.as_u64().filter(|n| *n >= min) {
            Some(n) => Ok(Some(n)),
            None => Err(DefinitionError::schema(
                format!("{at}/{key}"),
                format!("{key} must be an integer of at least {min}"),
            )),
        },
    }
}

fn path_field(
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<Path>, DefinitionError> {
    match string_field(obj, key, at)? {
        Some(s) => Path::parse(&s)
            .map(Some)
            .map_err(|e| fail_at(&format!("{at}/{key}"), e)),
        None => Ok(None),
    }
}

fn io_path(obj: &Map<String, Value>, key: &str, at: &str) -> Result<IoPath, DefinitionError> {
    match obj.get(key) {
        None => Ok(IoPath::Path(Path::parse("$").expect("$ parses"))),
        Some(Value::Null) => Ok(IoPath::Null),
        Some(_) => Ok(IoPath::Path(path_field(obj, key, at)?.expect("present"))),
    }
}

fn result_path(obj: &Map<String, Value>, at: &str) -> Result<ResultPath, DefinitionError> {
    match obj.get("ResultPath") {
        None => Ok(ResultPath::Path(Path::parse("$").expect("$ parses"))),
        Some(Value::Null) => Ok(ResultPath::Null),
        Some(_) => {
            let p = path_field(obj, "ResultPath", at)?.expect("present");
            if p.context {
                return Err(DefinitionError::schema(
                    format!("{at}/ResultPath"),
                    "ResultPath cannot refer to the context object",
                ));
            }
            Ok(ResultPath::Path(p))
        }
    }
}

fn template(
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<Template>, DefinitionError> {
    obj.get(key)
        .map(|v| Template::parse(v, &format!("{at}/{key}")))
        .transpose()
}

fn error_equals(obj: &Map<String, Value>, at: &str) -> Result<Vec<String>, DefinitionError> {
    let loc = format!("{at}/ErrorEquals");
    let list: Vec<String> = match obj.get("ErrorEquals") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<_>>()
            .ok_or_else(|| DefinitionError::schema(&loc, "ErrorEquals must list error names"))?,
        _ => {
            return Err(DefinitionError::schema(
                loc,
                "ErrorEquals must be a non-empty array of error names",
            ));
        }
    };
    if list.len() > 1 && list.iter().any(|e| e == errors::ALL) {
        return Err(DefinitionError::schema(
            loc,
            "States.ALL must appear alone in ErrorEquals",
        ));
    }
    Ok(list)
}

impl Definition {
    pub fn parse(value: &Value) -> Result<Definition, DefinitionError> {
        let Value::Object(top) = value else {
            return Err(DefinitionError::schema(
                "/",
                "the definition must be a JSON object",
            ));
        };
        check_fields(
            top,
            &[
                "StartAt",
                "States",
                "Comment",
                "Version",
                "TimeoutSeconds",
                "QueryLanguage",
            ],
            "",
        )?;
        check_query_language(top, "")?;
        let start_at = string_field(top, "StartAt", "")?
            .ok_or_else(|| DefinitionError::schema("/StartAt", "StartAt is required"))?;
        let timeout_seconds = uint_field(top, "TimeoutSeconds", "", 1)?;
        let Some(Value::Object(states_obj)) = top.get("States") else {
            return Err(DefinitionError::schema(
                "/States",
                "States must be an object",
            ));
        };
        if states_obj.is_empty() {
            return Err(DefinitionError::schema(
                "/States",
                "States must not be empty",
            ));
        }
        let mut states = BTreeMap::new();
        for (name, s) in states_obj {
            let st = State::parse(name, s, &format!("/States/{name}"))?;
            states.insert(name.clone(), st);
        }
        let def = Definition {
            start_at,
            states,
            timeout_seconds,
        };
        def.check_targets()?;
        Ok(def)
    }

    fn check_targets(&self) -> Result<(), DefinitionError> {
        let missing = |target: &str, at: String| DefinitionError {
            code: "MISSING_TRANSITION_TARGET",
            message: format!("Missing 'Next' target: {target}"),
            location: at,
        };
        if !self.states.contains_key(&self.start_at) {
            return Err(missing(&self.start_at, "/StartAt".into()));
        }
        for (name, s) in &self.states {
            let at = format!("/States/{name}");
            if let Transition::Next(n) = &s.transition
                && !self.states.contains_key(n)
            {
                return Err(missing(n, format!("{at}/Next")));
            }
            match &s.body {
                Body::Choice { choices, default } => {
                    for (i, (_, next)) in choices.iter().enumerate() {
                        if !self.states.contains_key(next) {
                            return Err(missing(next, format!("{at}/Choices/{i}/Next")));
                        }
                    }
                    if let Some(d) = default
                        && !self.states.contains_key(d)
                    {
                        return Err(missing(d, format!("{at}/Default")));
                    }
                }
                Body::Task(t) => {
                    for (i, c) in t.catch.iter().enumerate() {
                        if !self.states.contains_key(&c.next) {
                            return Err(missing(&c.next, format!("{at}/Catch/{i}/Next")));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Task resources this definition uses that devstack does not emulate (an execution
    /// reaching one fails), as (state, resource).
    pub fn unsupported_resources(&self) -> Vec<(String, String)> {
        self.states
            .values()
            .filter_map(|s| match &s.body {
                Body::Task(t) if t.resource == Resource::Other => {
                    Some((s.name.clone(), t.resource_arn.clone()))
                }
                _ => None,
            })
            .collect()
    }
}

fn check_query_language(obj: &Map<String, Value>, at: &str) -> Result<(), DefinitionError> {
    match obj.get("QueryLanguage") {
        None => Ok(()),
        Some(Value::String(s)) if s == "JSONPath" => Ok(()),
        Some(Value::String(s)) if s == "JSONata" => Err(DefinitionError::unsupported(
            format!("{at}/QueryLanguage"),
            "JSONata is not supported by devstack yet (use JSONPath)",
        )),
        Some(_) => Err(DefinitionError::schema(
            format!("{at}/QueryLanguage"),
            "QueryLanguage must be JSONPath or JSONata",
        )),
    }
}

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];

fn allowed(extra: &[&'static str]) -> Vec<&'static str> {
    COMMON.iter().chain(extra).copied().collect()
}

impl State {
    fn parse(name: &str, value: &Value, at: &str) -> Result<State, DefinitionError> {
        let Value::Object(obj) = value else {
            return Err(DefinitionError::schema(at, "a state must be an object"));
        };
        if name.is_empty() || name.chars().count() > 80 {
            return Err(DefinitionError::schema(
                at,
                "a state name must have 1 to 80 characters",
            ));
        }
        check_query_language(obj, at)?;
        let ty = string_field(obj, "Type", at)?
            .ok_or_else(|| DefinitionError::schema(format!("{at}/Type"), "Type is required"))?;
        let flow = ["Next", "End", "InputPath", "OutputPath"];
        let (fields, body): (Vec<&str>, Body) = match ty.as_str() {
            "Pass" => (
                allowed(&[&flow[..], &["Parameters", "Result", "ResultPath"]].concat()),
                Body::Pass {
                    parameters: template(obj, "Parameters", at)?,
                    result: obj.get("Result").cloned(),
                    result_path: result_path(obj, at)?,
                },
            ),
            "Task" => (
                allowed(
                    &[
                        &flow[..],
                        &[
                            "Resource",
                            "Parameters",
                            "ResultSelector",
                            "ResultPath",
                            "Retry",
                            "Catch",
                            "TimeoutSeconds",
                            "HeartbeatSeconds",
                            "Credentials",
                        ],
                    ]
                    .concat(),
                ),
                Body::Task(Box::new(Task::parse(obj, at)?)),
            ),
            "Choice" => (
                allowed(&["Choices", "Default", "InputPath", "OutputPath"]),
                choice(obj, at)?,
            ),
            "Wait" => (
                allowed(
                    &[
                        &flow[..],
                        &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
                    ]
                    .concat(),
                ),
                Body::Wait(wait(obj, at)?),
            ),
            "Succeed" => (allowed(&["InputPath", "OutputPath"]), Body::Succeed),
            "Fail" => (
                allowed(&["Error", "Cause", "ErrorPath", "CausePath"]),
                fail(obj, at)?,
            ),
            "Parallel" | "Map" => {
                return Err(DefinitionError::unsupported(
                    format!("{at}/Type"),
                    format!(
                        "{ty} states are not supported by devstack yet (state {name:?}); the \
                         definition is refused rather than half-run"
                    ),
                ));
            }
            other => {
                return Err(DefinitionError::schema(
                    format!("{at}/Type"),
                    format!("{other:?} is not a state type"),
                ));
            }
        };
        check_fields(obj, &fields, at)?;
        let transition = match (&body, obj.get("Next"), obj.get("End")) {
            (Body::Choice { .. } | Body::Succeed | Body::Fail { .. }, _, _) => Transition::None,
            (_, Some(Value::String(n)), None) => Transition::Next(n.clone()),
            (_, None, Some(Value::Bool(true))) => Transition::End,
            (_, Some(_), Some(_)) => {
                return Err(DefinitionError::schema(
                    at,
                    "a state cannot have both Next and End",
                ));
            }
            _ => {
                return Err(DefinitionError::schema(
                    at,
                    "a state must have Next (a state name) or End: true",
                ));
            }
        };
        Ok(State {
            name: name.to_owned(),
            input_path: io_path(obj, "InputPath", at)?,
            output_path: io_path(obj, "OutputPath", at)?,
            transition,
            body,
        })
    }
}

impl Task {
    fn parse(obj: &Map<String, Value>, at: &str) -> Result<Task, DefinitionError> {
        let resource_arn = string_field(obj, "Resource", at)?.ok_or_else(|| {
            DefinitionError::schema(format!("{at}/Resource"), "Resource is required")
        })?;
        let mut retry = Vec::new();
        if let Some(v) = obj.get("Retry") {
            let Value::Array(items) = v else {
                return Err(DefinitionError::schema(
                    format!("{at}/Retry"),
                    "Retry must be an array",
                ));
            };
            for (i, r) in items.iter().enumerate() {
                let loc = format!("{at}/Retry/{i}");
                let Value::Object(r) = r else {
                    return Err(DefinitionError::schema(loc, "a Retrier must be an object"));
                };
                check_fields(
                    r,
                    &[
                        "ErrorEquals",
                        "IntervalSeconds",
                        "MaxAttempts",
                        "BackoffRate",
                        "MaxDelaySeconds",
                        "JitterStrategy",
                        "Comment",
                    ],
                    &loc,
                )?;
                let error_equals = error_equals(r, &loc)?;
                if error_equals[0] == errors::ALL && i + 1 != items.len() {
                    return Err(DefinitionError::schema(
                        format!("{loc}/ErrorEquals"),
                        "a Retrier with States.ALL must be the last one",
                    ));
                }
                let backoff_rate = match r.get("BackoffRate") {
                    None => 2.0,
                    Some(v) => v.as_f64().filter(|b| *b >= 1.0).ok_or_else(|| {
                        DefinitionError::schema(
                            format!("{loc}/BackoffRate"),
                            "BackoffRate must be a number of at least 1.0",
                        )
                    })?,
                };
                let full_jitter = match r.get("JitterStrategy").and_then(Value::as_str) {
                    None if !r.contains_key("JitterStrategy") => false,
                    Some("NONE") => false,
                    Some("FULL") => true,
                    _ => {
                        return Err(DefinitionError::schema(
                            format!("{loc}/JitterStrategy"),
                            "JitterStrategy must be FULL or NONE",
                        ));
                    }
                };
                retry.push(Retrier {
                    error_equals,
                    interval_seconds: uint_field(r, "IntervalSeconds", &loc, 1)?.unwrap_or(1),
                    max_attempts: uint_field(r, "MaxAttempts", &loc, 0)?
                        .map_or(3, |n| n.min(u32::MAX as u64) as u32),
                    backoff_rate,
                    max_delay_seconds: uint_field(r, "MaxDelaySeconds", &loc, 1)?,
                    full_jitter,
                });
            }
        }
        let mut catch = Vec::new();
        if let Some(v) = obj.get("Catch") {
            let Value::Array(items) = v else {
                return Err(DefinitionError::schema(
                    format!("{at}/Catch"),
                    "Catch must be an array",
                ));
            };
            for (i, c) in items.iter().enumerate() {
                let loc = format!("{at}/Catch/{i}");
                let Value::Object(c) = c else {
                    return Err(DefinitionError::schema(loc, "a Catcher must be an object"));
                };
                check_fields(c, &["ErrorEquals", "Next", "ResultPath", "Comment"], &loc)?;
                let error_equals = error_equals(c, &loc)?;
                if error_equals[0] == errors::ALL && i + 1 != items.len() {
                    return Err(DefinitionError::schema(
                        format!("{loc}/ErrorEquals"),
                        "a Catcher with States.ALL must be the last one",
                    ));
                }
                let next = string_field(c, "Next", &loc)?.ok_or_else(|| {
                    DefinitionError::schema(format!("{loc}/Next"), "a Catcher needs Next")
                })?;
                catch.push(Catcher {
                    error_equals,
                    next,
                    result_path: result_path(c, &loc)?,
                });
            }
        }
        Ok(Task {
            resource: Resource::parse(&resource_arn),
            resource_arn,
            parameters: template(obj, "Parameters", at)?,
            result_selector: template(obj, "ResultSelector", at)?,
            result_path: result_path(obj, at)?,
            retry,
            catch,
            timeout_seconds: uint_field(obj, "TimeoutSeconds", at, 1)?,
        })
    }
}

fn choice(obj: &Map<String, Value>, at: &str) -> Result<Body, DefinitionError> {
    let Some(Value::Array(items)) = obj
        .get("Choices")
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
    else {
        return Err(DefinitionError::schema(
            format!("{at}/Choices"),
            "Choices must be a non-empty array of rules",
        ));
    };
    let mut choices = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let loc = format!("{at}/Choices/{i}");
        let rule = Rule::parse(item, &loc, true)?;
        let next = item.get("Next").and_then(Value::as_str).ok_or_else(|| {
            DefinitionError::schema(format!("{loc}/Next"), "a choice rule needs Next")
        })?;
        choices.push((rule, next.to_owned()));
    }
    Ok(Body::Choice {
        choices,
        default: string_field(obj, "Default", at)?,
    })
}

fn wait(obj: &Map<String, Value>, at: &str) -> Result<WaitFor, DefinitionError> {
    let given: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
        .into_iter()
        .filter(|k| obj.contains_key(*k))
        .collect();
    if given.len() != 1 {
        return Err(DefinitionError::schema(
            at,
            "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath",
        ));
    }
    Ok(match given[0] {
        "Seconds" => WaitFor::Seconds(uint_field(obj, "Seconds", at, 0)?.expect("present")),
        "Timestamp" => {
            let text = string_field(obj, "Timestamp", at)?.unwrap_or_default();
            WaitFor::Timestamp(crate::time::parse(&text).ok_or_else(|| {
                DefinitionError::schema(
                    format!("{at}/Timestamp"),
                    format!("{text:?} is not a timestamp such as 2026-01-01T00:00:00Z"),
                )
            })?)
        }
        "SecondsPath" => {
            WaitFor::SecondsPath(path_field(obj, "SecondsPath", at)?.expect("present"))
        }
        _ => WaitFor::TimestampPath(path_field(obj, "TimestampPath", at)?.expect("present")),
    })
}

fn fail(obj: &Map<String, Value>, at: &str) -> Result<Body, DefinitionError> {
    let source = |lit: &str, path: &str| -> Result<Option<Source>, DefinitionError> {
        match (obj.contains_key(lit), obj.contains_key(path)) {
            (true, true) => Err(DefinitionError::schema(
                at,
                format!("a Fail state cannot have both {lit} and {path}"),
            )),
            (true, false) => Ok(string_field(obj, lit, at)?.map(Source::Literal)),
            (false, true) => {
                let text = string_field(obj, path, at)?.unwrap_or_default();
                let loc = format!("{at}/{path}");
                Ok(Some(if intrinsics::is_call(&text) {
                    Source::Call(Call::parse(&text).map_err(|e| fail_at(&loc, e))?)
                } else {
                    Source::Path(Path::parse(&text).map_err(|e| fail_at(&loc, e))?)
                }))
            }
            (false, false) => Ok(None),
        }
    };
    Ok(Body::Fail {
        error: source("Error", "ErrorPath")?,
        cause: source("Cause", "CausePath")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refuse(def: Value) -> DefinitionError {
        Definition::parse(&def).expect_err("refused")
    }

    #[test]
    fn the_product_machine_parses() {
        let text = std::fs::read_to_string(format!(
            "{}/../../statemachine/moderation.asl.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let def = Definition::parse(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(def.start_at, "CheckSafety");
        let Body::Task(check) = &def.states["CheckSafety"].body else {
            panic!("a task")
        };
        assert_eq!(check.retry[0].max_attempts, 3);
        assert_eq!(check.retry[0].delay_ms(0), 1000);
        assert_eq!(check.retry[0].delay_ms(2), 4000);
        let Body::Task(activate) = &def.states["Activate"].body else {
            panic!("a task")
        };
        assert_eq!(activate.resource, Resource::DynamoDb("UpdateItem"));
        assert_eq!(activate.result_path, ResultPath::Null);
    }

    #[test]
    fn resources() {
        for (arn, r) in [
            (
                "arn:aws:lambda:us-east-1:000000000000:function:f",
                Resource::Lambda,
            ),
            (
                "arn:aws:lambda:us-east-1:000000000000:function:f:live",
                Resource::Lambda,
            ),
            ("arn:aws:states:::lambda:invoke", Resource::LambdaInvoke),
            (
                "arn:aws:states:::dynamodb:getItem",
                Resource::DynamoDb("GetItem"),
            ),
            (
                "arn:aws:states:::dynamodb:putItem",
                Resource::DynamoDb("PutItem"),
            ),
            (
                "arn:aws:states:::dynamodb:updateItem",
                Resource::DynamoDb("UpdateItem"),
            ),
            (
                "arn:aws:states:::dynamodb:deleteItem",
                Resource::DynamoDb("DeleteItem"),
            ),
            ("arn:aws:states:::dynamodb:query", Resource::Other),
            (
                "arn:aws:states:::lambda:invoke.waitForTaskToken",
                Resource::Other,
            ),
            ("arn:aws:states:::sqs:sendMessage", Resource::Other),
            (
                "arn:aws:states:us-east-1:000000000000:activity:a",
                Resource::Other,
            ),
        ] {
            assert_eq!(Resource::parse(arn), r, "{arn}");
        }
    }

    #[test]
    fn refusals_name_what_they_refuse() {
        let pass = json!({"Type": "Pass", "End": true});
        let cases = [
            (
                json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [], "End": true}}}),
                "UNSUPPORTED_BY_DEVSTACK: Parallel states are not supported by devstack yet (state \"P\")",
            ),
            (
                json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true}}}),
                "Map states are not supported",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"n.$": "States.ArrayLength($.x)"}, "End": true}}}),
                "UNSUPPORTED_BY_DEVSTACK: the intrinsic function States.ArrayLength is not supported by devstack yet",
            ),
            (
                json!({"StartAt": "A", "QueryLanguage": "JSONata", "States": {"A": pass.clone()}}),
                "JSONata is not supported",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Assign": {"x": 1}, "End": true}}}),
                "variables (Assign) is not supported",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "InputPath": "$..x", "End": true}}}),
                "UNSUPPORTED_BY_DEVSTACK: the JSONPath \"$..x\" uses recursive descent",
            ),
            (
                json!({"StartAt": "Nope", "States": {"A": pass.clone()}}),
                "MISSING_TRANSITION_TARGET: Missing 'Next' target: Nope at /StartAt",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}),
                "Missing 'Next' target: B at /States/A/Next",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}),
                "must have Next",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Bogus": 1}}}),
                "SCHEMA_VALIDATION_FAILED: The field \"Bogus\" is not supported by Step Functions at /States/A/Bogus",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                    "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}}}),
                "States.ALL must be the last one",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                    "Catch": [{"ErrorEquals": ["States.ALL", "X"], "Next": "A"}]}}}),
                "must appear alone",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                    "Catch": [{"ErrorEquals": ["X"], "Next": "Gone"}]}}}),
                "Missing 'Next' target: Gone at /States/A/Catch/0/Next",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
                    "Retry": [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]}}}),
                "BackoffRate must be a number of at least 1.0",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "End": true}}}),
                "exactly one of Seconds",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Timestamp": "soon", "End": true}}}),
                "is not a timestamp",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "X"}]}}}),
                "Missing 'Next' target: X at /States/A/Choices/0/Next",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Parameters": {"a.$": 3}, "End": true}}}),
                "must be a path or an intrinsic",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}}}),
                "both Error and ErrorPath",
            ),
            (
                json!({"StartAt": "A", "States": {"A": {"Type": "Frobnicate", "End": true}}}),
                "is not a state type",
            ),
        ];
        for (def, says) in cases {
            let e = refuse(def.clone());
            assert!(
                e.to_string().contains(says),
                "{def}\n  said: {e}\n  want: {says}"
            );
            assert!(
                e.to_string()
                    .starts_with("Invalid State Machine Definition: '"),
                "{e}"
            );
        }
        assert!(
            refuse(json!({"StartAt": "P", "States": {"P": {"Type": "Map", "End": true}}}))
                .is_unsupported()
        );
    }

    #[test]
    fn templates_and_paths() {
        let t = Template::parse(
            &json!({"a.$": "$.x", "lit": {"b.$": "$$.Execution.Id", "c": [1, {"d.$": "States.Format('{}!', $.x)"}]}}),
            "/P",
        )
        .unwrap();
        let ctx = json!({"Execution": {"Id": "arn:e"}});
        let scope = Scope {
            context: &ctx,
            uuid: &|| "u".to_owned(),
        };
        assert_eq!(
            t.eval(&json!({"x": "X"}), &scope).unwrap(),
            json!({"a": "X", "lit": {"b": "arn:e", "c": [1, {"d": "X!"}]}})
        );
        let e = t.eval(&json!({}), &scope).unwrap_err();
        assert_eq!(e.error, "States.Runtime");
        assert!(
            e.cause.contains("The JSONPath '$.x' specified for the field 'a.$' could not be found in the input '{}'"),
            "{}",
            e.cause
        );

        let input = json!({"keep": 1});
        let rp = |p: &str| ResultPath::Path(Path::parse(p).unwrap());
        assert_eq!(rp("$").apply(&input, json!(2)).unwrap(), json!(2));
        assert_eq!(
            rp("$.r").apply(&input, json!(2)).unwrap(),
            json!({"keep": 1, "r": 2})
        );
        assert_eq!(ResultPath::Null.apply(&input, json!(2)).unwrap(), input);
        assert_eq!(
            rp("$.keep.deeper")
                .apply(&input, json!(2))
                .unwrap_err()
                .error,
            "States.ResultPathMatchFailure"
        );
        assert_eq!(
            IoPath::Null.apply(&input, &ctx, "input").unwrap(),
            json!({})
        );
        let missing = IoPath::Path(Path::parse("$.nope").unwrap())
            .apply(&input, &ctx, "input")
            .unwrap_err();
        assert_eq!(missing.error, "States.Runtime");
        assert!(
            missing.cause.contains("Invalid path '$.nope'"),
            "{}",
            missing.cause
        );
    }

    #[test]
    fn retry_delays() {
        let r = Retrier {
            error_equals: vec!["E".into()],
            interval_seconds: 2,
            max_attempts: 5,
            backoff_rate: 3.0,
            max_delay_seconds: Some(30),
            full_jitter: false,
        };
        let delays: Vec<i64> = (0..5).map(|n| r.delay_ms(n)).collect();
        assert_eq!(delays, vec![2000, 6000, 18000, 30000, 30000]);
        assert!(r.matches("E") && !r.matches("F"));
    }
}
