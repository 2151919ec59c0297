//! EventBridge's event pattern language: parsing (with the validation EventBridge applies when a
//! rule is put) and matching against an event.
//!
//! The semantics follow the EventBridge user guide ("Creating event patterns", "Content
//! filtering", "Comparison operators") and, where the guide is silent, aws/event-ruler, the
//! engine EventBridge runs:
//!
//! - a pattern is an object; its fields are ANDed, the values of a field's array are ORed;
//! - a field's value is either a nested pattern (an object) or an array of alternatives, each a
//!   literal (string, number, `true`, `false`, `null`) or a one-key operator object;
//! - operators apply to *leaf* values only: an event array is matched element by element (and
//!   nested arrays are flattened), an event object under a leaf pattern is not a value at all;
//! - a nested pattern over an array of objects must match within one element (event-ruler's
//!   "array-consistent" matching), so fields from two different elements never combine;
//! - a missing field matches nothing except `{"exists": false}`, which also matches a field that
//!   holds no leaf value (an object, an empty array), as the guide's exists example shows;
//! - `$or` (an array of at least two sub-patterns) may appear at any level and matches when any
//!   of its sub-patterns matches the object it sits in.
//!
//! Reasons in [`PatternError`] use event-ruler's wording, which is what EventBridge reports after
//! "Event pattern is not valid. Reason: ".

use serde_json::{Map, Value};
use std::net::IpAddr;

/// Why an event pattern was refused. Displays as EventBridge's `InvalidEventPatternException`
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {reason}")]
pub struct PatternError {
    reason: String,
}

impl PatternError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// The reason alone, without the "Event pattern is not valid" preamble.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

type Parsed<T> = Result<T, PatternError>;

/// A parsed, valid event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    root: Object,
}

impl Pattern {
    /// Parses and validates a pattern given as JSON.
    pub fn parse(pattern: &Value) -> Result<Pattern, PatternError> {
        let Value::Object(map) = pattern else {
            return Err(PatternError::new("Filter is not an object"));
        };
        Ok(Pattern {
            root: parse_object(map, false)?,
        })
    }

    /// Parses a pattern given as JSON text (the `EventPattern` member of the API).
    pub fn parse_str(text: &str) -> Result<Pattern, PatternError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| PatternError::new(format!("the pattern is not valid JSON: {e}")))?;
        Self::parse(&value)
    }

    /// Whether `event` (the whole event, envelope included) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(Some(event))
    }
}

/// Names that cannot be field names inside `$or`: event-ruler reserves its operators there, so
/// that `{"$or": [{"numeric": ...}]}` is refused rather than silently read as a field.
const RESERVED_IN_OR: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

/// An object level of a pattern: its fields, and the `$or` groups that apply at this level.
#[derive(Debug, Clone, PartialEq)]
struct Object {
    fields: Vec<(String, Field)>,
    ors: Vec<Vec<Object>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Nested(Object),
    Leaf(Vec<Matcher>),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    /// A literal: a string, a number (compared numerically), `true`, `false` or `null`.
    Exact(Value),
    Prefix(String),
    PrefixIgnoreCase(String),
    Suffix(String),
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Exists(bool),
    Cidr(Cidr),
}

#[derive(Debug, Clone, PartialEq)]
enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<f64>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    IgnoreCase(Vec<String>),
    Wildcards(Vec<Wildcard>),
}

/// A numeric interval; `=` is the closed interval of one point. Bounds carry "inclusive".
#[derive(Debug, Clone, PartialEq)]
struct Range {
    lower: Option<(f64, bool)>,
    upper: Option<(f64, bool)>,
}

/// An IP network as a 128-bit base and mask (IPv4 kept apart so that it never matches IPv6).
#[derive(Debug, Clone, PartialEq)]
struct Cidr {
    v6: bool,
    base: u128,
    mask: u128,
}

/// A wildcard value: literal segments separated by `*` (each `*` any run of characters).
#[derive(Debug, Clone, PartialEq)]
struct Wildcard {
    segments: Vec<String>,
}

fn parse_object(map: &Map<String, Value>, in_or: bool) -> Parsed<Object> {
    if map.is_empty() {
        return Err(PatternError::new("Empty objects are not allowed"));
    }
    let mut object = Object {
        fields: Vec::new(),
        ors: Vec::new(),
    };
    for (name, value) in map {
        if name == "$or" {
            object.ors.push(parse_or(value)?);
            continue;
        }
        if in_or && RESERVED_IN_OR.contains(&name.as_str()) {
            return Err(PatternError::new(format!(
                "{name} is Ruler reserved fieldName which cannot be used inside $or."
            )));
        }
        let field = match value {
            Value::Object(inner) => Field::Nested(parse_object(inner, in_or)?),
            Value::Array(values) => Field::Leaf(parse_leaf(values)?),
            _ => {
                return Err(PatternError::new(format!(
                    "\"{name}\" must be an object or an array"
                )));
            }
        };
        object.fields.push((name.clone(), field));
    }
    Ok(object)
}

fn parse_or(value: &Value) -> Parsed<Vec<Object>> {
    let Value::Array(branches) = value else {
        return Err(PatternError::new("It must be an Array followed with $or."));
    };
    let mut parsed = Vec::with_capacity(branches.len());
    for branch in branches {
        let Value::Object(map) = branch else {
            return Err(PatternError::new(
                "Only JSON object is allowed in array of $or relationship.",
            ));
        };
        parsed.push(parse_object(map, true)?);
    }
    if parsed.len() < 2 {
        return Err(PatternError::new(
            "There must have at least 2 Objects in $or relationship.",
        ));
    }
    Ok(parsed)
}

fn parse_leaf(values: &[Value]) -> Parsed<Vec<Matcher>> {
    if values.is_empty() {
        return Err(PatternError::new("Empty arrays are not allowed"));
    }
    values
        .iter()
        .map(|value| match value {
            Value::Object(expression) => parse_expression(expression),
            Value::Array(_) => Err(PatternError::new(
                "Match value must be String, number, true, false, or null",
            )),
            literal => Ok(Matcher::Exact(literal.clone())),
        })
        .collect()
}

/// The only key of a one-key operator object.
fn single_key<'a>(map: &'a Map<String, Value>, missing: &str) -> Parsed<(&'a str, &'a Value)> {
    let mut entries = map.iter();
    let Some((key, value)) = entries.next() else {
        return Err(PatternError::new(missing));
    };
    if entries.next().is_some() {
        return Err(PatternError::new(
            "Only one key allowed in match expression",
        ));
    }
    Ok((key.as_str(), value))
}

fn string_of<'a>(value: &'a Value, message: &str) -> Parsed<&'a str> {
    value.as_str().ok_or_else(|| PatternError::new(message))
}

fn parse_expression(map: &Map<String, Value>) -> Parsed<Matcher> {
    let (kind, value) = single_key(map, "Match expression name not found")?;
    Ok(match kind {
        // Not in the user guide, but event-ruler (and so EventBridge) accepts it.
        "exactly" => Matcher::Exact(Value::String(
            string_of(value, "exact match pattern must be a string")?.to_owned(),
        )),
        "prefix" => match value {
            Value::Object(inner) => {
                Matcher::PrefixIgnoreCase(ignore_case_operand(inner, "Prefix")?)
            }
            _ => Matcher::Prefix(
                string_of(value, "prefix match pattern must be a string")?.to_owned(),
            ),
        },
        "suffix" => match value {
            Value::Object(inner) => {
                Matcher::SuffixIgnoreCase(ignore_case_operand(inner, "Suffix")?)
            }
            _ => Matcher::Suffix(
                string_of(value, "suffix match pattern must be a string")?.to_owned(),
            ),
        },
        "equals-ignore-case" => Matcher::EqualsIgnoreCase(
            string_of(value, "equals-ignore-case match pattern must be a string")?.to_owned(),
        ),
        "wildcard" => Matcher::Wildcard(Wildcard::parse(string_of(
            value,
            "wildcard match pattern must be a string",
        )?)?),
        "numeric" => match value {
            Value::Array(terms) => Matcher::Numeric(parse_numeric(terms)?),
            _ => return Err(PatternError::new("Value of numeric must be an array.")),
        },
        "anything-but" => Matcher::AnythingBut(parse_anything_but(value)?),
        "exists" => match value {
            Value::Bool(b) => Matcher::Exists(*b),
            _ => {
                return Err(PatternError::new(
                    "exists match pattern must be either true or false.",
                ));
            }
        },
        "cidr" => Matcher::Cidr(Cidr::parse(string_of(
            value,
            "cidr match pattern must be a string",
        )?)?),
        other => {
            return Err(PatternError::new(format!(
                "Unrecognized match type {other}"
            )));
        }
    })
}

/// `{"equals-ignore-case": "..."}` under `prefix` or `suffix`.
fn ignore_case_operand(map: &Map<String, Value>, which: &str) -> Parsed<String> {
    let (kind, value) = single_key(map, &format!("{which} expression name not found"))?;
    if kind != "equals-ignore-case" {
        return Err(PatternError::new(format!(
            "Unsupported {} pattern: {kind}",
            which.to_lowercase()
        )));
    }
    Ok(string_of(value, "equals-ignore-case match pattern must be a string")?.to_owned())
}

fn parse_anything_but(value: &Value) -> Parsed<AnythingBut> {
    match value {
        Value::Object(map) => {
            let (kind, operand) = single_key(map, "Anything-But expression name not found")?;
            let texts: Vec<&Value> = match operand {
                Value::Array(items) => items.iter().collect(),
                Value::String(_) => vec![operand],
                _ => return Err(non_string_operand(kind)),
            };
            let strings = |message: &str| -> Parsed<Vec<String>> {
                texts
                    .iter()
                    .map(|v| string_of(v, message).map(str::to_owned))
                    .collect()
            };
            let non_empty = |values: Vec<String>| -> Parsed<Vec<String>> {
                if values.iter().any(String::is_empty) {
                    Err(PatternError::new("Null prefix/suffix not allowed"))
                } else {
                    Ok(values)
                }
            };
            match kind {
                "prefix" => Ok(AnythingBut::Prefixes(non_empty(strings(
                    "prefix/suffix match pattern must be a string",
                )?)?)),
                "suffix" => Ok(AnythingBut::Suffixes(non_empty(strings(
                    "prefix/suffix match pattern must be a string",
                )?)?)),
                "equals-ignore-case" => Ok(AnythingBut::IgnoreCase(strings(
                    "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
                )?)),
                "wildcard" => Ok(AnythingBut::Wildcards(
                    strings("wildcard match pattern must be a string")?
                        .iter()
                        .map(|w| Wildcard::parse(w))
                        .collect::<Parsed<_>>()?,
                )),
                other => Err(PatternError::new(format!(
                    "Unsupported anything-but pattern: {other}"
                ))),
            }
        }
        Value::String(s) => Ok(AnythingBut::Strings(vec![s.clone()])),
        Value::Number(n) => Ok(AnythingBut::Numbers(vec![number(n)])),
        Value::Array(items) => {
            let mut strings = Vec::new();
            let mut numbers = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => strings.push(s.clone()),
                    Value::Number(n) => numbers.push(number(n)),
                    _ => {
                        return Err(PatternError::new(
                            "Inside anything but list, start|null|boolean is not supported.",
                        ));
                    }
                }
            }
            match (strings.is_empty(), numbers.is_empty()) {
                (false, true) => Ok(AnythingBut::Strings(strings)),
                (true, false) => Ok(AnythingBut::Numbers(numbers)),
                _ => Err(PatternError::new(
                    "Inside anything but list, either all values are number or string, mixed type is not supported",
                )),
            }
        }
        _ => Err(PatternError::new(
            "Value of anything-but must be an array or single string/number value.",
        )),
    }
}

/// The error for a non-string, non-array operand of `anything-but: {<kind>: ...}`, worded per
/// kind as event-ruler does.
fn non_string_operand(kind: &str) -> PatternError {
    PatternError::new(match kind {
        "equals-ignore-case" => {
            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
                .to_owned()
        }
        "wildcard" => "wildcard match pattern must be a string".to_owned(),
        "prefix" | "suffix" => "prefix/suffix match pattern must be a string".to_owned(),
        other => format!("Unsupported anything-but pattern: {other}"),
    })
}

fn number(n: &serde_json::Number) -> f64 {
    // Every JSON number has an f64 approximation; event-ruler compares numbers as doubles too.
    n.as_f64().unwrap_or(f64::NAN)
}

/// `["=", 5]`, `["<", 10]`, `[">", 0, "<=", 5]`...
fn parse_numeric(terms: &[Value]) -> Parsed<Range> {
    let text = |v: Option<&Value>| v.map_or_else(|| "]".to_owned(), Value::to_string);
    let Some(Value::String(op)) = terms.first() else {
        return Err(PatternError::new(format!(
            "Invalid member in numeric match: {}",
            text(terms.first())
        )));
    };
    let operand = |i: usize, name: &str| -> Parsed<f64> {
        match terms.get(i) {
            Some(Value::Number(n)) => Ok(number(n)),
            _ => Err(PatternError::new(format!(
                "Value of {name} must be numeric"
            ))),
        }
    };
    let range = match op.as_str() {
        "=" => {
            let v = operand(1, "equals")?;
            if terms.len() > 2 {
                return Err(PatternError::new("Too many elements in numeric expression"));
            }
            Range {
                lower: Some((v, true)),
                upper: Some((v, true)),
            }
        }
        "<" | "<=" => {
            let v = operand(1, op)?;
            if terms.len() > 2 {
                return Err(PatternError::new("Too many elements in numeric expression"));
            }
            Range {
                lower: None,
                upper: Some((v, op == "<=")),
            }
        }
        ">" | ">=" => {
            let bottom = operand(1, op)?;
            let lower = Some((bottom, op == ">="));
            match terms.get(2) {
                None => Range { lower, upper: None },
                Some(Value::String(top_op)) if top_op == "<" || top_op == "<=" => {
                    let top = operand(3, top_op)?;
                    if terms.len() > 4 {
                        return Err(PatternError::new(
                            "Too many terms in numeric range expression",
                        ));
                    }
                    if bottom >= top {
                        return Err(PatternError::new("Bottom must be less than top"));
                    }
                    Range {
                        lower,
                        upper: Some((top, top_op == "<=")),
                    }
                }
                Some(Value::String(bad)) => {
                    return Err(PatternError::new(format!(
                        "Bad numeric range operator: {bad}"
                    )));
                }
                Some(other) => {
                    return Err(PatternError::new(format!(
                        "Bad value in numeric range: {other}"
                    )));
                }
            }
        }
        other => {
            return Err(PatternError::new(format!(
                "Unrecognized numeric range operator: {other}"
            )));
        }
    };
    Ok(range)
}

impl Range {
    fn contains(&self, v: f64) -> bool {
        let above = match self.lower {
            None => true,
            Some((b, inclusive)) => v > b || (inclusive && v == b),
        };
        let below = match self.upper {
            None => true,
            Some((t, inclusive)) => v < t || (inclusive && v == t),
        };
        above && below
    }
}

impl Wildcard {
    /// Splits at unescaped `*`; `\*` is a literal star and `\\` a literal backslash. Consecutive
    /// stars and other escapes are refused, as EventBridge does. Positions in messages count
    /// from 1, as event-ruler's do (it counts the opening quote of the JSON string).
    fn parse(text: &str) -> Parsed<Wildcard> {
        let mut segments = vec![String::new()];
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '*' => {
                    if matches!(chars.peek(), Some((_, '*'))) {
                        return Err(PatternError::new(format!(
                            "Consecutive wildcard characters at pos {}",
                            i + 1
                        )));
                    }
                    segments.push(String::new());
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('*' | '\\'))) => {
                        segments.last_mut().expect("one segment").push(escaped);
                    }
                    _ => {
                        return Err(PatternError::new(format!(
                            "Invalid escape character at pos {}",
                            i + 1
                        )));
                    }
                },
                _ => segments.last_mut().expect("one segment").push(c),
            }
        }
        Ok(Wildcard { segments })
    }

    fn matches(&self, s: &str) -> bool {
        let segments = &self.segments;
        let (first, rest) = segments.split_first().expect("one segment");
        let Some((last, middle)) = rest.split_last() else {
            return s == first;
        };
        let Some(mut remaining) = s.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some(inner) = remaining.strip_suffix(last.as_str()) else {
            return false;
        };
        remaining = inner;
        // Leftmost placement of each middle segment is optimal for `*`-only globs.
        for segment in middle {
            match remaining.find(segment.as_str()) {
                Some(at) => remaining = &remaining[at + segment.len()..],
                None => return false,
            }
        }
        true
    }
}

/// event-ruler only treats text shaped like an IP literal as an address.
fn looks_like_ip(s: &str) -> bool {
    let v4 = s.split('.').count() == 4
        && s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let v6 = s.contains(':') && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    v4 || v6
}

fn ip_bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

impl Cidr {
    fn parse(text: &str) -> Parsed<Cidr> {
        let parts: Vec<&str> = text.split('/').collect();
        let [address, bits] = parts.as_slice() else {
            return Err(PatternError::new("Malformed CIDR, one '/' required"));
        };
        let bits: i64 = bits
            .parse()
            .map_err(|_| PatternError::new("Malformed CIDR, mask bits must be an integer"))?;
        if bits < 0 {
            return Err(PatternError::new(
                "Malformed CIDR, mask bits must not be negative",
            ));
        }
        if !looks_like_ip(address) {
            return Err(PatternError::new(format!(
                "Nonstandard IP address: {address}"
            )));
        }
        let ip: IpAddr = address
            .parse()
            .map_err(|_| PatternError::new(format!("Invalid IP address: {address}")))?;
        let (v6, value) = ip_bits(ip);
        let width = if v6 { 128 } else { 32 };
        // event-ruler refuses a full-length mask (/32, /128): an exact address is written as a
        // plain string value instead.
        if bits >= width {
            return Err(PatternError::new(if v6 {
                "IPv6 mask bits must be < 128"
            } else {
                "IPv4 mask bits must be < 32"
            }));
        }
        let host_bits = (width - bits) as u32;
        let full: u128 = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        let mask = full & !((1u128 << host_bits) - 1);
        Ok(Cidr {
            v6,
            base: value & mask,
            mask,
        })
    }

    fn contains(&self, s: &str) -> bool {
        let Ok(ip) = s.parse::<IpAddr>() else {
            return false;
        };
        let (v6, value) = ip_bits(ip);
        v6 == self.v6 && value & self.mask == self.base
    }
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

impl Matcher {
    /// Whether one leaf value (never an object or array) satisfies this matcher. `Exists` is
    /// decided by the caller, on the whole field.
    fn accepts(&self, v: &Value) -> bool {
        let text = v.as_str();
        match self {
            Matcher::Exact(Value::Number(p)) => v.as_f64().is_some_and(|n| n == number(p)),
            Matcher::Exact(Value::String(p)) => text.is_some_and(|s| {
                s == p
                    || (looks_like_ip(p)
                        && looks_like_ip(s)
                        && matches!((p.parse::<IpAddr>(), s.parse::<IpAddr>()), (Ok(a), Ok(b)) if a == b))
            }),
            Matcher::Exact(p) => v == p,
            Matcher::Prefix(p) => text.is_some_and(|s| s.starts_with(p.as_str())),
            Matcher::PrefixIgnoreCase(p) => text.is_some_and(|s| {
                s.to_lowercase().starts_with(p.to_lowercase().as_str())
            }),
            Matcher::Suffix(p) => text.is_some_and(|s| s.ends_with(p.as_str())),
            Matcher::SuffixIgnoreCase(p) => {
                text.is_some_and(|s| s.to_lowercase().ends_with(p.to_lowercase().as_str()))
            }
            Matcher::EqualsIgnoreCase(p) => text.is_some_and(|s| eq_ignore_case(s, p)),
            Matcher::Wildcard(w) => text.is_some_and(|s| w.matches(s)),
            Matcher::Numeric(range) => v.is_number() && v.as_f64().is_some_and(|n| range.contains(n)),
            Matcher::Cidr(cidr) => text.is_some_and(|s| cidr.contains(s)),
            Matcher::AnythingBut(not) => !not.excludes(v),
            Matcher::Exists(_) => false,
        }
    }
}

impl AnythingBut {
    /// Whether `v` is one of the excluded values. A value of another type than the excluded
    /// ones is never excluded (event-ruler: `anything-but: "x"` matches the number 5).
    fn excludes(&self, v: &Value) -> bool {
        match (self, v) {
            (AnythingBut::Numbers(ns), Value::Number(n)) => {
                n.as_f64().is_some_and(|n| ns.contains(&n))
            }
            (AnythingBut::Strings(ss), Value::String(s)) => ss.contains(s),
            (AnythingBut::Prefixes(ps), Value::String(s)) => {
                ps.iter().any(|p| s.starts_with(p.as_str()))
            }
            (AnythingBut::Suffixes(ps), Value::String(s)) => {
                ps.iter().any(|p| s.ends_with(p.as_str()))
            }
            (AnythingBut::IgnoreCase(ps), Value::String(s)) => {
                ps.iter().any(|p| eq_ignore_case(s, p))
            }
            (AnythingBut::Wildcards(ws), Value::String(s)) => ws.iter().any(|w| w.matches(s)),
            _ => false,
        }
    }
}

/// The leaf values of a field: the value itself, or the scalars of an array (nested arrays
/// flattened); objects are not leaves.
fn leaves<'a>(value: Option<&'a Value>, out: &mut Vec<&'a Value>) {
    match value {
        None | Some(Value::Object(_)) => {}
        Some(Value::Array(items)) => {
            for item in items {
                if matches!(item, Value::Array(_)) {
                    leaves(Some(item), out);
                } else if !item.is_object() {
                    out.push(item);
                }
            }
        }
        Some(scalar) => out.push(scalar),
    }
}

/// The objects a nested pattern applies to: the value itself, or the objects of an array.
fn objects<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Object(_) => out.push(value),
        Value::Array(items) => items.iter().for_each(|item| objects(item, out)),
        _ => {}
    }
}

impl Object {
    /// Matches this level against `value` (an event object, or `None` where the event has no
    /// object here, so that `exists: false` below still holds).
    fn matches(&self, value: Option<&Value>) -> bool {
        let map = value.and_then(Value::as_object);
        self.fields.iter().all(|(name, field)| {
            let child = map.and_then(|m| m.get(name));
            match field {
                Field::Leaf(matchers) => leaf_matches(matchers, child),
                Field::Nested(nested) => {
                    let mut found = Vec::new();
                    if let Some(child) = child {
                        objects(child, &mut found);
                    }
                    if found.is_empty() {
                        nested.matches(None)
                    } else {
                        found.into_iter().any(|o| nested.matches(Some(o)))
                    }
                }
            }
        }) && self
            .ors
            .iter()
            .all(|branches| branches.iter().any(|b| b.matches(value)))
    }
}

fn leaf_matches(matchers: &[Matcher], field: Option<&Value>) -> bool {
    let mut values = Vec::new();
    leaves(field, &mut values);
    matchers.iter().any(|m| match m {
        // `exists: true` wants a leaf value, `exists: false` wants none.
        Matcher::Exists(wanted) => *wanted != values.is_empty(),
        other => values.iter().any(|v| other.accepts(v)),
    })
}

#[cfg(test)]
#[path = "pattern_tests.rs"]
mod tests;
