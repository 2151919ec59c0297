//! Choice rules: every comparison operator of ASL (String*, Numeric*, Boolean*, Timestamp*,
//! their `*Path` forms, StringMatches, the Is* type tests) and And / Or / Not.
//!
//! As in Step Functions: a value of another type than the operator's compares false; a
//! `Variable` (or `*Path` operand) that selects nothing is a `States.Runtime` error, except
//! under `IsPresent`.

use crate::error::{DefinitionError, Failure};
use crate::path::Path;
use serde_json::Value;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rel {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

impl Rel {
    fn holds(self, o: Ordering) -> bool {
        match self {
            Rel::Equals => o == Ordering::Equal,
            Rel::LessThan => o == Ordering::Less,
            Rel::GreaterThan => o == Ordering::Greater,
            Rel::LessThanEquals => o != Ordering::Greater,
            Rel::GreaterThanEquals => o != Ordering::Less,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    Null,
    Present,
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Literal(Value),
    Path(Path),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Compare {
        kind: Kind,
        rel: Rel,
        operand: Operand,
    },
    Matches(Vec<Glob>),
    Is(TypeTest, bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test { variable: Path, test: Test },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Glob {
    Star,
    Char(char),
}

const KINDS: [(&str, Kind); 4] = [
    ("String", Kind::String),
    ("Numeric", Kind::Numeric),
    ("Boolean", Kind::Boolean),
    ("Timestamp", Kind::Timestamp),
];
const RELS: [(&str, Rel); 5] = [
    ("Equals", Rel::Equals),
    ("LessThan", Rel::LessThan),
    ("GreaterThan", Rel::GreaterThan),
    ("LessThanEquals", Rel::LessThanEquals),
    ("GreaterThanEquals", Rel::GreaterThanEquals),
];
const TYPE_TESTS: [(&str, TypeTest); 6] = [
    ("IsNull", TypeTest::Null),
    ("IsPresent", TypeTest::Present),
    ("IsString", TypeTest::String),
    ("IsNumeric", TypeTest::Numeric),
    ("IsBoolean", TypeTest::Boolean),
    ("IsTimestamp", TypeTest::Timestamp),
];

/// What an operator name means: (kind, relation, is a *Path operator), or a type test, or
/// StringMatches.
enum Operator {
    Compare(Kind, Rel, bool),
    Is(TypeTest),
    Matches,
}

fn operator(name: &str) -> Option<Operator> {
    if name == "StringMatches" {
        return Some(Operator::Matches);
    }
    if let Some((_, t)) = TYPE_TESTS.iter().find(|(n, _)| *n == name) {
        return Some(Operator::Is(*t));
    }
    let (name, path) = match name.strip_suffix("Path") {
        Some(n) => (n, true),
        None => (name, false),
    };
    for (kn, kind) in KINDS {
        let Some(rest) = name.strip_prefix(kn) else {
            continue;
        };
        for (rn, rel) in RELS {
            if rest == rn && (kind != Kind::Boolean || rel == Rel::Equals) {
                return Some(Operator::Compare(kind, rel, path));
            }
        }
    }
    None
}

impl Rule {
    /// A rule at `at` (a JSON pointer, for errors). `top` rules carry `Next`; nested ones
    /// (under And / Or / Not) must not.
    pub fn parse(value: &Value, at: &str, top: bool) -> Result<Rule, DefinitionError> {
        let Value::Object(obj) = value else {
            return Err(DefinitionError::schema(
                at,
                "a choice rule must be an object",
            ));
        };
        for key in obj.keys() {
            let known = matches!(key.as_str(), "Variable" | "Comment" | "And" | "Or" | "Not")
                || (top && key == "Next")
                || operator(key).is_some();
            if !known {
                return Err(DefinitionError::schema(
                    format!("{at}/{key}"),
                    format!("the field {key:?} is not supported in a choice rule"),
                ));
            }
        }
        let combinators: Vec<&str> = ["And", "Or", "Not"]
            .into_iter()
            .filter(|k| obj.contains_key(*k))
            .collect();
        let operators: Vec<&String> = obj.keys().filter(|k| operator(k).is_some()).collect();
        if combinators.len() + operators.len() != 1 {
            return Err(DefinitionError::schema(
                at,
                "a choice rule must have exactly one comparison operator or one of And, Or, Not",
            ));
        }
        if let Some(&c) = combinators.first() {
            if obj.contains_key("Variable") {
                return Err(DefinitionError::schema(
                    format!("{at}/Variable"),
                    format!("a rule with {c} has no Variable"),
                ));
            }
            let inner = &obj[c];
            return match c {
                "Not" => Ok(Rule::Not(Box::new(Rule::parse(
                    inner,
                    &format!("{at}/Not"),
                    false,
                )?))),
                _ => {
                    let Some(items) = inner.as_array().filter(|a| !a.is_empty()) else {
                        return Err(DefinitionError::schema(
                            format!("{at}/{c}"),
                            format!("{c} must be a non-empty array of rules"),
                        ));
                    };
                    let rules = items
                        .iter()
                        .enumerate()
                        .map(|(i, r)| Rule::parse(r, &format!("{at}/{c}/{i}"), false))
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(if c == "And" {
                        Rule::And(rules)
                    } else {
                        Rule::Or(rules)
                    })
                }
            };
        }
        let variable = match obj.get("Variable") {
            Some(Value::String(s)) => {
                Path::parse(s).map_err(|e| DefinitionError::schema(format!("{at}/Variable"), e))?
            }
            _ => {
                return Err(DefinitionError::schema(
                    format!("{at}/Variable"),
                    "a comparison needs a Variable (a path)",
                ));
            }
        };
        let name = operators[0].as_str();
        let value = &obj[name];
        let loc = format!("{at}/{name}");
        let test = match operator(name) {
            Some(Operator::Matches) => match value {
                Value::String(s) => Test::Matches(glob(s)),
                _ => return Err(DefinitionError::schema(loc, "StringMatches takes a string")),
            },
            Some(Operator::Is(t)) => match value {
                Value::Bool(b) => Test::Is(t, *b),
                _ => {
                    return Err(DefinitionError::schema(
                        loc,
                        format!("{name} takes a boolean"),
                    ));
                }
            },
            Some(Operator::Compare(kind, rel, true)) => match value {
                Value::String(s) => Test::Compare {
                    kind,
                    rel,
                    operand: Operand::Path(
                        Path::parse(s).map_err(|e| DefinitionError::schema(&loc, e))?,
                    ),
                },
                _ => return Err(DefinitionError::schema(loc, format!("{name} takes a path"))),
            },
            Some(Operator::Compare(kind, rel, false)) => {
                let ok = match kind {
                    Kind::String => value.is_string(),
                    Kind::Numeric => value.is_number(),
                    Kind::Boolean => value.is_boolean(),
                    Kind::Timestamp => value.as_str().and_then(crate::time::parse).is_some(),
                };
                if !ok {
                    let want = match kind {
                        Kind::String => "a string",
                        Kind::Numeric => "a number",
                        Kind::Boolean => "a boolean",
                        Kind::Timestamp => "a timestamp such as 2026-01-01T00:00:00Z",
                    };
                    return Err(DefinitionError::schema(loc, format!("{name} takes {want}")));
                }
                Test::Compare {
                    kind,
                    rel,
                    operand: Operand::Literal(value.clone()),
                }
            }
            None => unreachable!("operators were filtered by operator()"),
        };
        Ok(Rule::Test { variable, test })
    }

    pub fn eval(&self, input: &Value, context: &Value) -> Result<bool, Failure> {
        match self {
            Rule::And(rules) => {
                for r in rules {
                    if !r.eval(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for r in rules {
                    if r.eval(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(r) => Ok(!r.eval(input, context)?),
            Rule::Test { variable, test } => {
                let found = variable.get(input, context);
                if let Test::Is(TypeTest::Present, want) = test {
                    return Ok(found.is_some() == *want);
                }
                let value = found.ok_or_else(|| invalid_path(variable))?;
                Ok(match test {
                    Test::Is(t, want) => {
                        let is = match t {
                            TypeTest::Null => value.is_null(),
                            TypeTest::String => value.is_string(),
                            TypeTest::Numeric => value.is_number(),
                            TypeTest::Boolean => value.is_boolean(),
                            TypeTest::Timestamp => {
                                value.as_str().and_then(crate::time::parse).is_some()
                            }
                            TypeTest::Present => true,
                        };
                        is == *want
                    }
                    Test::Matches(pattern) => value.as_str().is_some_and(|s| matches(pattern, s)),
                    Test::Compare { kind, rel, operand } => {
                        let other = match operand {
                            Operand::Literal(v) => v,
                            Operand::Path(p) => {
                                p.get(input, context).ok_or_else(|| invalid_path(p))?
                            }
                        };
                        compare(*kind, value, other).is_some_and(|o| rel.holds(o))
                    }
                })
            }
        }
    }
}

fn invalid_path(p: &Path) -> Failure {
    Failure::runtime(format!(
        "Invalid path '{p}': The choice state's condition path references an invalid value."
    ))
}

/// None when either side is not of the operator's type.
fn compare(kind: Kind, a: &Value, b: &Value) -> Option<Ordering> {
    match kind {
        Kind::String => Some(a.as_str()?.cmp(b.as_str()?)),
        Kind::Numeric => a.as_f64()?.partial_cmp(&b.as_f64()?),
        Kind::Boolean => Some(a.as_bool()?.cmp(&b.as_bool()?)),
        Kind::Timestamp => {
            let x = crate::time::parse(a.as_str()?)?;
            let y = crate::time::parse(b.as_str()?)?;
            Some(x.cmp(&y))
        }
    }
}

/// StringMatches: `*` matches any run of characters; `\*` is a literal star and `\\` a
/// literal backslash.
fn glob(pattern: &str) -> Vec<Glob> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => out.push(Glob::Char(e)),
                None => out.push(Glob::Char('\\')),
            },
            '*' => out.push(Glob::Star),
            c => out.push(Glob::Char(c)),
        }
    }
    out
}

fn matches(pattern: &[Glob], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Glob::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(Glob::Star) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|g| *g == Glob::Star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> Rule {
        Rule::parse(&v, "/t", false).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    /// (rule, expected) against one input; every operator, both outcomes, and type mismatches.
    #[test]
    fn every_operator() {
        let input = json!({
            "s": "banana", "n": 10, "f": 2.5, "b": true, "nul": null,
            "t": "2026-01-01T12:00:00Z", "other_s": "banana", "other_n": 10.0,
            "later": "2026-01-02T00:00:00Z", "arr": [1], "obj": {"x": 1},
            "star": "a*b", "back": "a\\b"
        });
        let cases: Vec<(Value, bool)> = vec![
            (json!({"Variable": "$.s", "StringEquals": "banana"}), true),
            (json!({"Variable": "$.s", "StringEquals": "apple"}), false),
            (json!({"Variable": "$.n", "StringEquals": "10"}), false),
            (json!({"Variable": "$.s", "StringLessThan": "cherry"}), true),
            (json!({"Variable": "$.s", "StringLessThan": "apple"}), false),
            (
                json!({"Variable": "$.s", "StringGreaterThan": "apple"}),
                true,
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThan": "banana"}),
                false,
            ),
            (
                json!({"Variable": "$.s", "StringLessThanEquals": "banana"}),
                true,
            ),
            (
                json!({"Variable": "$.s", "StringLessThanEquals": "b"}),
                false,
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThanEquals": "banana"}),
                true,
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThanEquals": "c"}),
                false,
            ),
            (
                json!({"Variable": "$.s", "StringEqualsPath": "$.other_s"}),
                true,
            ),
            (
                json!({"Variable": "$.s", "StringLessThanPath": "$.other_s"}),
                false,
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThanPath": "$.other_s"}),
                false,
            ),
            (
                json!({"Variable": "$.s", "StringLessThanEqualsPath": "$.other_s"}),
                true,
            ),
            (
                json!({"Variable": "$.s", "StringGreaterThanEqualsPath": "$.other_s"}),
                true,
            ),
            (json!({"Variable": "$.s", "StringMatches": "ban*"}), true),
            (json!({"Variable": "$.s", "StringMatches": "*an*a"}), true),
            (json!({"Variable": "$.s", "StringMatches": "*x*"}), false),
            (json!({"Variable": "$.s", "StringMatches": "banana*"}), true),
            (
                json!({"Variable": "$.star", "StringMatches": "a\\*b"}),
                true,
            ),
            (json!({"Variable": "$.s", "StringMatches": "a\\*b"}), false),
            (
                json!({"Variable": "$.back", "StringMatches": "a\\\\b"}),
                true,
            ),
            (json!({"Variable": "$.n", "StringMatches": "*"}), false),
            (json!({"Variable": "$.n", "NumericEquals": 10}), true),
            (json!({"Variable": "$.n", "NumericEquals": 10.0}), true),
            (json!({"Variable": "$.n", "NumericEquals": 11}), false),
            (json!({"Variable": "$.s", "NumericEquals": 10}), false),
            (json!({"Variable": "$.f", "NumericLessThan": 3}), true),
            (json!({"Variable": "$.f", "NumericLessThan": 2.5}), false),
            (json!({"Variable": "$.f", "NumericGreaterThan": 2}), true),
            (json!({"Variable": "$.f", "NumericGreaterThan": 2.5}), false),
            (
                json!({"Variable": "$.f", "NumericLessThanEquals": 2.5}),
                true,
            ),
            (
                json!({"Variable": "$.f", "NumericLessThanEquals": 2}),
                false,
            ),
            (
                json!({"Variable": "$.f", "NumericGreaterThanEquals": 2.5}),
                true,
            ),
            (
                json!({"Variable": "$.f", "NumericGreaterThanEquals": 3}),
                false,
            ),
            (
                json!({"Variable": "$.n", "NumericEqualsPath": "$.other_n"}),
                true,
            ),
            (
                json!({"Variable": "$.f", "NumericLessThanPath": "$.n"}),
                true,
            ),
            (
                json!({"Variable": "$.f", "NumericGreaterThanPath": "$.n"}),
                false,
            ),
            (
                json!({"Variable": "$.n", "NumericLessThanEqualsPath": "$.other_n"}),
                true,
            ),
            (
                json!({"Variable": "$.f", "NumericGreaterThanEqualsPath": "$.n"}),
                false,
            ),
            (json!({"Variable": "$.b", "BooleanEquals": true}), true),
            (json!({"Variable": "$.b", "BooleanEquals": false}), false),
            (json!({"Variable": "$.s", "BooleanEquals": true}), false),
            (json!({"Variable": "$.b", "BooleanEqualsPath": "$.b"}), true),
            (
                json!({"Variable": "$.t", "TimestampEquals": "2026-01-01T12:00:00Z"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampEquals": "2026-01-01T13:00:00+01:00"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampEquals": "2026-01-01T12:00:01Z"}),
                false,
            ),
            (
                json!({"Variable": "$.s", "TimestampEquals": "2026-01-01T12:00:00Z"}),
                false,
            ),
            (
                json!({"Variable": "$.t", "TimestampLessThan": "2026-01-02T00:00:00Z"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampLessThan": "2026-01-01T00:00:00Z"}),
                false,
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThan": "2026-01-01T00:00:00Z"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThan": "2026-01-02T00:00:00Z"}),
                false,
            ),
            (
                json!({"Variable": "$.t", "TimestampLessThanEquals": "2026-01-01T12:00:00Z"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2026-01-01T12:00:00Z"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThanEquals": "2026-01-03T00:00:00Z"}),
                false,
            ),
            (
                json!({"Variable": "$.t", "TimestampEqualsPath": "$.later"}),
                false,
            ),
            (
                json!({"Variable": "$.t", "TimestampLessThanPath": "$.later"}),
                true,
            ),
            (
                json!({"Variable": "$.t", "TimestampGreaterThanPath": "$.later"}),
                false,
            ),
            (
                json!({"Variable": "$.t", "TimestampLessThanEqualsPath": "$.t"}),
                true,
            ),
            (
                json!({"Variable": "$.later", "TimestampGreaterThanEqualsPath": "$.t"}),
                true,
            ),
            (json!({"Variable": "$.nul", "IsNull": true}), true),
            (json!({"Variable": "$.s", "IsNull": true}), false),
            (json!({"Variable": "$.s", "IsNull": false}), true),
            (json!({"Variable": "$.s", "IsPresent": true}), true),
            (json!({"Variable": "$.missing", "IsPresent": true}), false),
            (json!({"Variable": "$.missing", "IsPresent": false}), true),
            (json!({"Variable": "$.nul", "IsPresent": true}), true),
            (json!({"Variable": "$.s", "IsString": true}), true),
            (json!({"Variable": "$.n", "IsString": true}), false),
            (json!({"Variable": "$.n", "IsNumeric": true}), true),
            (json!({"Variable": "$.s", "IsNumeric": true}), false),
            (json!({"Variable": "$.b", "IsBoolean": true}), true),
            (json!({"Variable": "$.nul", "IsBoolean": false}), true),
            (json!({"Variable": "$.t", "IsTimestamp": true}), true),
            (json!({"Variable": "$.s", "IsTimestamp": true}), false),
            (json!({"Variable": "$.arr[0]", "NumericEquals": 1}), true),
            (json!({"Variable": "$.obj.x", "NumericEquals": 1}), true),
            (
                json!({"And": [{"Variable": "$.b", "BooleanEquals": true}, {"Variable": "$.n", "NumericGreaterThan": 5}]}),
                true,
            ),
            (
                json!({"And": [{"Variable": "$.b", "BooleanEquals": true}, {"Variable": "$.n", "NumericGreaterThan": 50}]}),
                false,
            ),
            (
                json!({"Or": [{"Variable": "$.b", "BooleanEquals": false}, {"Variable": "$.n", "NumericGreaterThan": 5}]}),
                true,
            ),
            (
                json!({"Or": [{"Variable": "$.b", "BooleanEquals": false}, {"Variable": "$.n", "NumericGreaterThan": 50}]}),
                false,
            ),
            (
                json!({"Not": {"Variable": "$.b", "BooleanEquals": false}}),
                true,
            ),
            (
                json!({"Not": {"Variable": "$.b", "BooleanEquals": true}}),
                false,
            ),
            (
                json!({"Not": {"Or": [{"Variable": "$.missing", "IsPresent": true}, {"Variable": "$.nul", "IsNull": false}]}}),
                true,
            ),
        ];
        let ctx = json!({});
        for (r, want) in cases {
            assert_eq!(rule(r.clone()).eval(&input, &ctx).unwrap(), want, "{r}");
        }
    }

    #[test]
    fn context_paths_and_short_circuit() {
        let ctx = json!({"Execution": {"Name": "run-7"}});
        let r = rule(json!({"Variable": "$$.Execution.Name", "StringMatches": "run-*"}));
        assert!(r.eval(&json!({}), &ctx).unwrap());
        // And stops at the first false: the missing path after it is never read.
        let r = rule(json!({"And": [
            {"Variable": "$.x", "IsPresent": true},
            {"Variable": "$.x", "NumericEquals": 1}
        ]}));
        assert!(!r.eval(&json!({}), &ctx).unwrap());
    }

    #[test]
    fn a_missing_variable_is_a_runtime_error() {
        let ctx = json!({});
        for r in [
            json!({"Variable": "$.missing", "StringEquals": "x"}),
            json!({"Variable": "$.missing", "IsNull": true}),
            json!({"Variable": "$.s", "StringEqualsPath": "$.missing"}),
        ] {
            let e = rule(r.clone()).eval(&json!({"s": "x"}), &ctx).unwrap_err();
            assert_eq!(e.error, "States.Runtime", "{r}");
            assert!(e.cause.contains("Invalid path"), "{r}: {}", e.cause);
        }
    }

    #[test]
    fn malformed_rules_are_refused() {
        for (r, says) in [
            (json!({"Variable": "$.a"}), "exactly one"),
            (
                json!({"Variable": "$.a", "StringEquals": "x", "NumericEquals": 1}),
                "exactly one",
            ),
            (
                json!({"Variable": "$.a", "StringEquals": 1}),
                "takes a string",
            ),
            (
                json!({"Variable": "$.a", "NumericEquals": "1"}),
                "takes a number",
            ),
            (
                json!({"Variable": "$.a", "BooleanEquals": "true"}),
                "takes a boolean",
            ),
            (
                json!({"Variable": "$.a", "TimestampEquals": "tomorrow"}),
                "takes a timestamp",
            ),
            (
                json!({"Variable": "$.a", "IsNull": "yes"}),
                "takes a boolean",
            ),
            (
                json!({"Variable": "$.a", "StringEqualsPath": 3}),
                "takes a path",
            ),
            (
                json!({"Variable": "$.a", "BooleanLessThan": true}),
                "not supported",
            ),
            (json!({"StringEquals": "x"}), "needs a Variable"),
            (json!({"And": []}), "non-empty"),
            (
                json!({"Variable": "$.a", "Not": {"Variable": "$.a", "IsNull": true}}),
                "has no Variable",
            ),
            (
                json!({"Variable": "$.a", "StringEquals": "x", "Next": "B"}),
                "\"Next\" is not supported",
            ),
            (
                json!({"Variable": "$..a", "StringEquals": "x"}),
                "recursive descent",
            ),
        ] {
            let e = Rule::parse(&r, "/t", false).unwrap_err();
            assert!(e.to_string().contains(says), "{r}: {e}");
        }
        assert!(
            Rule::parse(
                &json!({"Variable": "$.a", "StringEquals": "x", "Next": "B"}),
                "/t",
                true
            )
            .is_ok()
        );
    }
}
