//! Intrinsic functions in `.$` fields: `States.Format`, `States.StringToJson`,
//! `States.JsonToString` and `States.UUID`. Parsed when a definition is loaded; the others
//! (`States.Array`, `States.MathAdd`, ...) are refused there, by name.

use crate::error::Failure;
use crate::path::{Path, kind};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Format,
    StringToJson,
    JsonToString,
    Uuid,
}

impl Func {
    fn name(self) -> &'static str {
        match self {
            Func::Format => "States.Format",
            Func::StringToJson => "States.StringToJson",
            Func::JsonToString => "States.JsonToString",
            Func::Uuid => "States.UUID",
        }
    }
}

/// The intrinsics of ASL that devstack does not implement yet: refused at load.
const NOT_YET: &[&str] = &[
    "States.Array",
    "States.ArrayPartition",
    "States.ArrayContains",
    "States.ArrayRange",
    "States.ArrayGetItem",
    "States.ArrayLength",
    "States.ArrayUnique",
    "States.Base64Encode",
    "States.Base64Decode",
    "States.Hash",
    "States.JsonMerge",
    "States.MathRandom",
    "States.MathAdd",
    "States.StringSplit",
];

/// A string literal; `{}` placeholders (unescaped) are kept apart from literal braces.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Hole,
}

impl StrLit {
    fn holes(&self) -> usize {
        self.pieces.iter().filter(|p| **p == Piece::Hole).count()
    }

    /// The literal as a value (a placeholder reads `{}`).
    fn text(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.as_str(),
                Piece::Hole => "{}",
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Str(StrLit),
    Number(serde_json::Number),
    Bool(bool),
    Null,
    Path(Path),
    Call(Call),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func: Func,
    pub args: Vec<Arg>,
}

/// Whether a `.$` value is an intrinsic call rather than a path.
pub fn is_call(text: &str) -> bool {
    text.trim_start().starts_with("States.")
}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    i: usize,
}

impl Call {
    pub fn parse(text: &str) -> Result<Call, String> {
        let mut p = Parser {
            text,
            chars: text.chars().collect(),
            i: 0,
        };
        p.skip_ws();
        let call = p.call()?;
        p.skip_ws();
        if p.i != p.chars.len() {
            return Err(format!(
                "unexpected text after the intrinsic call in {text:?}"
            ));
        }
        Ok(call)
    }

    pub fn eval(
        &self,
        input: &Value,
        context: &Value,
        uuid: &dyn Fn() -> String,
    ) -> Result<Value, Failure> {
        let args = self
            .args
            .iter()
            .map(|a| a.eval(input, context, uuid))
            .collect::<Result<Vec<Value>, Failure>>()?;
        let name = self.func.name();
        match self.func {
            Func::Format => {
                let template = match self.args.first() {
                    Some(Arg::Str(lit)) => lit.clone(),
                    _ => match args.first() {
                        Some(Value::String(s)) => parse_string_body(s)
                            .map_err(|e| Failure::intrinsic(format!("{name}: {e}")))?,
                        other => {
                            return Err(Failure::intrinsic(format!(
                                "{name}: the first argument must be a string, got {}",
                                other.map_or("nothing", kind)
                            )));
                        }
                    },
                };
                let values = &args[1..];
                if template.holes() != values.len() {
                    return Err(Failure::intrinsic(format!(
                        "{name}: the template has {} placeholder(s) but {} argument(s) follow it",
                        template.holes(),
                        values.len()
                    )));
                }
                let mut out = String::new();
                let mut next = values.iter();
                for piece in &template.pieces {
                    match piece {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Hole => match next.next() {
                            Some(Value::String(s)) => out.push_str(s),
                            Some(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                                out.push_str(&v.to_string())
                            }
                            Some(v) => {
                                return Err(Failure::intrinsic(format!(
                                    "{name}: an argument is a {}; only strings, numbers, booleans and null can be formatted",
                                    kind(v)
                                )));
                            }
                            None => {}
                        },
                    }
                }
                Ok(Value::String(out))
            }
            Func::StringToJson => match &args[0] {
                Value::String(s) => serde_json::from_str(s).map_err(|e| {
                    Failure::intrinsic(format!("{name}: the argument is not JSON text: {e}"))
                }),
                v => Err(Failure::intrinsic(format!(
                    "{name}: the argument must be a string, got a {}",
                    kind(v)
                ))),
            },
            Func::JsonToString => Ok(Value::String(args[0].to_string())),
            Func::Uuid => Ok(Value::String(uuid())),
        }
    }
}

impl Arg {
    fn eval(
        &self,
        input: &Value,
        context: &Value,
        uuid: &dyn Fn() -> String,
    ) -> Result<Value, Failure> {
        Ok(match self {
            Arg::Str(s) => Value::String(s.text()),
            Arg::Number(n) => Value::Number(n.clone()),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Null => Value::Null,
            Arg::Path(p) => p.get(input, context).cloned().ok_or_else(|| {
                Failure::runtime(format!(
                    "the JSONPath {p} of an intrinsic function argument could not be found in the input"
                ))
            })?,
            Arg::Call(c) => c.eval(input, context, uuid)?,
        })
    }
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.get(self.i).is_some_and(|c| c.is_whitespace()) {
            self.i += 1;
        }
    }

    fn call(&mut self) -> Result<Call, String> {
        let start = self.i;
        while self
            .chars
            .get(self.i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.')
        {
            self.i += 1;
        }
        let name: String = self.chars[start..self.i].iter().collect();
        let func = match name.as_str() {
            "States.Format" => Func::Format,
            "States.StringToJson" => Func::StringToJson,
            "States.JsonToString" => Func::JsonToString,
            "States.UUID" => Func::Uuid,
            n if NOT_YET.contains(&n) => {
                return Err(format!(
                    "the intrinsic function {n} is not supported by devstack yet (it runs States.Format, States.StringToJson, States.JsonToString and States.UUID)"
                ));
            }
            n => return Err(format!("{n:?} is not an intrinsic function")),
        };
        self.skip_ws();
        if self.chars.get(self.i) != Some(&'(') {
            return Err(format!("{name} must be followed by ( in {:?}", self.text));
        }
        self.i += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.chars.get(self.i) == Some(&')') {
            self.i += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg()?);
                self.skip_ws();
                match self.chars.get(self.i) {
                    Some(',') => self.i += 1,
                    Some(')') => {
                        self.i += 1;
                        break;
                    }
                    _ => {
                        return Err(format!(
                            "expected , or ) in the arguments of {name} in {:?}",
                            self.text
                        ));
                    }
                }
            }
        }
        let arity_error = |want: &str| {
            Err(format!(
                "{name} takes {want}, got {} argument(s)",
                args.len()
            ))
        };
        match func {
            Func::Format => {
                if args.is_empty() {
                    return arity_error("a template and its values");
                }
                if let Arg::Str(t) = &args[0]
                    && t.holes() != args.len() - 1
                {
                    return Err(format!(
                        "{name}: the template has {} placeholder(s) but {} argument(s) follow it",
                        t.holes(),
                        args.len() - 1
                    ));
                }
            }
            Func::StringToJson if args.len() != 1 => return arity_error("one argument"),
            Func::JsonToString => {
                if args.len() != 1 {
                    return arity_error("one argument");
                }
                if !matches!(args[0], Arg::Path(_)) {
                    return Err(format!("{name} takes a path"));
                }
            }
            Func::Uuid if !args.is_empty() => return arity_error("no arguments"),
            _ => {}
        }
        Ok(Call { func, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        match self.chars.get(self.i) {
            Some('\'') => {
                self.i += 1;
                let start = self.i;
                // Find the closing quote (skipping escaped characters), then parse the body.
                while let Some(c) = self.chars.get(self.i) {
                    match c {
                        '\\' => self.i += 2,
                        '\'' => break,
                        _ => self.i += 1,
                    }
                }
                if self.chars.get(self.i) != Some(&'\'') {
                    return Err(format!("unterminated string in {:?}", self.text));
                }
                let body: String = self.chars[start..self.i].iter().collect();
                self.i += 1;
                Ok(Arg::Str(parse_string_body(&body)?))
            }
            Some('$') => {
                let start = self.i;
                let mut depth = 0usize;
                let mut quote: Option<char> = None;
                while let Some(&c) = self.chars.get(self.i) {
                    match (quote, c) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, '\'' | '"') if depth > 0 => quote = Some(c),
                        (None, '[') => depth += 1,
                        (None, ']') => depth = depth.saturating_sub(1),
                        (None, ',' | ')') if depth == 0 => break,
                        (None, c) if c.is_whitespace() && depth == 0 => break,
                        _ => {}
                    }
                    self.i += 1;
                }
                let text: String = self.chars[start..self.i].iter().collect();
                Ok(Arg::Path(Path::parse(&text)?))
            }
            Some('S') => Ok(Arg::Call(self.call()?)),
            Some(_) => {
                let start = self.i;
                while self
                    .chars
                    .get(self.i)
                    .is_some_and(|c| !matches!(c, ',' | ')') && !c.is_whitespace())
                {
                    self.i += 1;
                }
                let word: String = self.chars[start..self.i].iter().collect();
                match word.as_str() {
                    "true" => Ok(Arg::Bool(true)),
                    "false" => Ok(Arg::Bool(false)),
                    "null" => Ok(Arg::Null),
                    w => match serde_json::from_str::<Value>(w) {
                        Ok(Value::Number(n)) => Ok(Arg::Number(n)),
                        _ => Err(format!(
                            "{w:?} is not an argument (a 'string', a number, true, false, null, a path or an intrinsic call) in {:?}",
                            self.text
                        )),
                    },
                }
            }
            None => Err(format!("missing argument in {:?}", self.text)),
        }
    }
}

/// The inside of a quoted string: `\'`, `\{`, `\}` and `\\` are the escapes; an unescaped
/// `{}` is a placeholder.
fn parse_string_body(body: &str) -> Result<StrLit, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => text.push(e),
                None => return Err("a string ends with a lone backslash".into()),
            },
            '{' if chars.peek() == Some(&'}') => {
                chars.next();
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Hole);
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(StrLit { pieces })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn eval(expr: &str, input: Value) -> Result<Value, Failure> {
        let ctx = json!({"Execution": {"Name": "run-1"}});
        Call::parse(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .eval(&input, &ctx, &|| "uuid-1".to_owned())
    }

    #[test]
    fn the_supported_intrinsics() {
        let input = json!({"code": "abc", "n": 3, "ok": true, "obj": {"a": [1, "x"]}, "text": "{\"k\":[1,2]}"});
        let cases: &[(&str, Value)] = &[
            ("States.Format('LINK#{}', $.code)", json!("LINK#abc")),
            (
                "States.Format('{} and {} and {} and {}', $.code, $.n, $.ok, null)",
                json!("abc and 3 and true and null"),
            ),
            (
                r"States.Format('literal \{\} and it\'s {}', $$.Execution.Name)",
                json!("literal {} and it's run-1"),
            ),
            ("States.Format('no holes')", json!("no holes")),
            ("States.StringToJson($.text)", json!({"k": [1, 2]})),
            ("States.JsonToString($.obj)", json!("{\"a\":[1,\"x\"]}")),
            ("States.UUID()", json!("uuid-1")),
            ("States.Format('id-{}', States.UUID())", json!("id-uuid-1")),
            (
                "States.StringToJson(States.JsonToString($.obj))",
                json!({"a": [1, "x"]}),
            ),
            ("States.Format('{}', 1.5)", json!("1.5")),
        ];
        for (expr, want) in cases {
            assert_eq!(&eval(expr, input.clone()).unwrap(), want, "{expr}");
        }
    }

    #[test]
    fn failures_at_run_time() {
        let input = json!({"obj": {"a": 1}, "bad": "{nope", "n": 1});
        for (expr, error) in [
            ("States.Format('{}', $.obj)", "States.IntrinsicFailure"),
            ("States.StringToJson($.bad)", "States.IntrinsicFailure"),
            ("States.StringToJson($.n)", "States.IntrinsicFailure"),
            ("States.Format('{}', $.missing)", "States.Runtime"),
        ] {
            let f = eval(expr, input.clone()).unwrap_err();
            assert_eq!(f.error, error, "{expr}: {}", f.cause);
        }
    }

    #[test]
    fn refused_at_load() {
        for (expr, says) in [
            (
                "States.ArrayLength($.a)",
                "States.ArrayLength is not supported by devstack",
            ),
            (
                "States.MathAdd(1, 2)",
                "States.MathAdd is not supported by devstack",
            ),
            ("States.Nope()", "is not an intrinsic function"),
            ("States.Format('{} {}', $.a)", "2 placeholder(s) but 1"),
            ("States.UUID(1)", "takes no arguments"),
            ("States.JsonToString('x')", "takes a path"),
            ("States.Format('x'", "expected , or )"),
            ("States.Format('x') tail", "unexpected text"),
            ("States.Format(bogus)", "is not an argument"),
            ("States.Format('{}', $..a)", "recursive descent"),
        ] {
            let e = Call::parse(expr).unwrap_err();
            assert!(e.contains(says), "{expr}: {e}");
        }
        assert!(is_call("States.UUID()"));
        assert!(!is_call("$.a"));
    }
}
