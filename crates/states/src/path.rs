//! The JSONPath subset of ASL's Paths and Reference Paths: `$`, `$.a.b`, `$['a b']`,
//! `$.list[0]`, and the context object's `$$.Execution.Id`. Everything else JSONPath offers
//! (`..`, `*`, filters, slices, unions, negative indexes) is refused when a definition is
//! loaded, so a path either means exactly one node or is an error that names it.

use serde_json::{Map, Value};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Field(String),
    Index(usize),
}

/// A parsed path. `context` is true for `$$...` (the context object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub context: bool,
    pub segments: Vec<Segment>,
    text: String,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const SUPPORTED: &str = "devstack supports $, $.field, $['field'], $.list[N] and $$.Context.Field";

impl Path {
    pub fn parse(text: &str) -> Result<Path, String> {
        let unsupported = |what: &str| {
            Err(format!(
                "the JSONPath {text:?} uses {what}, which devstack does not support ({SUPPORTED})"
            ))
        };
        let (context, rest) = if let Some(r) = text.strip_prefix("$$") {
            (true, r)
        } else if let Some(r) = text.strip_prefix('$') {
            (false, r)
        } else {
            return Err(format!("{text:?} is not a JSONPath: it must begin with $"));
        };
        let chars: Vec<char> = rest.chars().collect();
        let mut i = 0;
        let mut segments = Vec::new();
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    if chars.get(i) == Some(&'.') {
                        return unsupported("recursive descent (..)");
                    }
                    let start = i;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    let name: String = chars[start..i].iter().collect();
                    if name.is_empty() {
                        return Err(format!("the JSONPath {text:?} has an empty field name"));
                    }
                    if name == "*" {
                        return unsupported("a wildcard (*)");
                    }
                    if name.contains(['(', ')', '@', '?']) {
                        return unsupported("a function or filter");
                    }
                    segments.push(Segment::Field(name));
                }
                '[' => {
                    i += 1;
                    match chars.get(i) {
                        Some(q @ ('\'' | '"')) => {
                            let quote = *q;
                            i += 1;
                            let mut name = String::new();
                            loop {
                                match chars.get(i) {
                                    None => {
                                        return Err(format!(
                                            "the JSONPath {text:?} has an unterminated quoted name"
                                        ));
                                    }
                                    Some('\\') if chars.get(i + 1).is_some() => {
                                        name.push(chars[i + 1]);
                                        i += 2;
                                    }
                                    Some(c) if *c == quote => {
                                        i += 1;
                                        break;
                                    }
                                    Some(c) => {
                                        name.push(*c);
                                        i += 1;
                                    }
                                }
                            }
                            if chars.get(i) != Some(&']') {
                                return unsupported("a union or malformed bracket");
                            }
                            i += 1;
                            segments.push(Segment::Field(name));
                        }
                        Some(c) if c.is_ascii_digit() => {
                            let start = i;
                            while i < chars.len() && chars[i].is_ascii_digit() {
                                i += 1;
                            }
                            let digits: String = chars[start..i].iter().collect();
                            if chars.get(i) != Some(&']') {
                                return unsupported("a slice, union or malformed index");
                            }
                            i += 1;
                            let n = digits
                                .parse::<usize>()
                                .map_err(|_| format!("the index in {text:?} is too large"))?;
                            segments.push(Segment::Index(n));
                        }
                        Some('*') => return unsupported("a wildcard ([*])"),
                        Some('?') => return unsupported("a filter ([?()])"),
                        Some('-') => return unsupported("a negative index"),
                        Some(':') => return unsupported("a slice"),
                        _ => return Err(format!("the JSONPath {text:?} has a malformed bracket")),
                    }
                }
                c => {
                    return Err(format!(
                        "the JSONPath {text:?} is malformed at {c:?} (expected . or [)"
                    ));
                }
            }
        }
        Ok(Path {
            context,
            segments,
            text: text.to_owned(),
        })
    }

    /// `$` (or `$$`) alone.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The node at this path in `input` (or in `context` for `$$` paths); None when absent.
    pub fn get<'a>(&self, input: &'a Value, context: &'a Value) -> Option<&'a Value> {
        let mut node = if self.context { context } else { input };
        for s in &self.segments {
            node = match (s, node) {
                (Segment::Field(f), Value::Object(m)) => m.get(f)?,
                (Segment::Index(i), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Places `value` at this (reference) path in `target`, creating the objects on the way,
    /// as ResultPath does. An error when a node on the way is not an object (or an array
    /// without that index).
    pub fn set(&self, target: &mut Value, value: Value) -> Result<(), String> {
        if self.context {
            return Err(format!(
                "{} refers to the context object, which cannot be written",
                self.text
            ));
        }
        let Some((last, prefix)) = self.segments.split_last() else {
            *target = value;
            return Ok(());
        };
        let mut node = target;
        for s in prefix {
            node = match s {
                Segment::Field(f) => match node {
                    Value::Object(m) => m
                        .entry(f.clone())
                        .or_insert_with(|| Value::Object(Map::new())),
                    other => {
                        return Err(format!(
                            "cannot place a result at {}: the field {f:?} is under a {}, not an object",
                            self.text,
                            kind(other)
                        ));
                    }
                },
                Segment::Index(i) => match node {
                    Value::Array(a) if *i < a.len() => &mut a[*i],
                    _ => {
                        return Err(format!(
                            "cannot place a result at {}: there is no element [{i}]",
                            self.text
                        ));
                    }
                },
            };
        }
        match (last, node) {
            (Segment::Field(f), Value::Object(m)) => {
                m.insert(f.clone(), value);
                Ok(())
            }
            (Segment::Index(i), Value::Array(a)) if *i < a.len() => {
                a[*i] = value;
                Ok(())
            }
            (Segment::Field(f), other) => Err(format!(
                "cannot place a result at {}: the field {f:?} would go into a {}, not an object",
                self.text,
                kind(other)
            )),
            (Segment::Index(i), _) => Err(format!(
                "cannot place a result at {}: there is no element [{i}]",
                self.text
            )),
        }
    }
}

/// A JSON type's name, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_subset() {
        let p = Path::parse("$.a.b[2]['c d']").unwrap();
        assert!(!p.context);
        assert_eq!(
            p.segments,
            vec![
                Segment::Field("a".into()),
                Segment::Field("b".into()),
                Segment::Index(2),
                Segment::Field("c d".into())
            ]
        );
        assert!(Path::parse("$").unwrap().is_root());
        let c = Path::parse("$$.Execution.Id").unwrap();
        assert!(c.context);
        assert_eq!(c.to_string(), "$$.Execution.Id");
    }

    #[test]
    fn refuses_what_it_does_not_support() {
        for (path, what) in [
            ("$..a", "recursive descent"),
            ("$.a[*]", "wildcard"),
            ("$.*", "wildcard"),
            ("$.a[?(@.x)]", "filter"),
            ("$.a[0:2]", "slice"),
            ("$.a[-1]", "negative"),
            ("$.a[0,1]", "union"),
        ] {
            let e = Path::parse(path).unwrap_err();
            assert!(e.contains(what), "{path}: {e}");
            assert!(e.contains("devstack does not support"), "{path}: {e}");
        }
        assert!(
            Path::parse("a.b")
                .unwrap_err()
                .contains("must begin with $")
        );
        assert!(Path::parse("$.").is_err());
    }

    #[test]
    fn gets_nodes() {
        let input = json!({"a": {"b": [10, {"c": true}]}, "x y": 1});
        let ctx = json!({"Execution": {"Id": "arn"}});
        let get = |p: &str| Path::parse(p).unwrap().get(&input, &ctx).cloned();
        assert_eq!(get("$"), Some(input.clone()));
        assert_eq!(get("$.a.b[0]"), Some(json!(10)));
        assert_eq!(get("$.a.b[1].c"), Some(json!(true)));
        assert_eq!(get("$['x y']"), Some(json!(1)));
        assert_eq!(get("$.a.b[5]"), None);
        assert_eq!(get("$.a.nope"), None);
        assert_eq!(get("$.a.b.c"), None);
        assert_eq!(get("$$.Execution.Id"), Some(json!("arn")));
    }

    #[test]
    fn sets_results() {
        let set = |p: &str, mut target: Value| {
            Path::parse(p)
                .unwrap()
                .set(&mut target, json!("R"))
                .map(|_| target)
        };
        assert_eq!(set("$", json!({"a": 1})).unwrap(), json!("R"));
        assert_eq!(
            set("$.x.y", json!({"a": 1})).unwrap(),
            json!({"a": 1, "x": {"y": "R"}})
        );
        assert_eq!(
            set("$.a", json!({"a": 1})).unwrap(),
            json!({"a": "R"}),
            "an existing field is replaced"
        );
        assert_eq!(
            set("$.l[1]", json!({"l": [0, 1]})).unwrap(),
            json!({"l": [0, "R"]})
        );
        assert!(set("$.a.b", json!({"a": 1})).is_err());
        assert!(set("$.a", json!("text")).is_err());
        assert!(set("$.l[3]", json!({"l": []})).is_err());
        assert!(set("$$.State", json!({})).is_err());
    }
}
