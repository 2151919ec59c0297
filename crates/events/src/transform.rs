//! What a target receives: `InputPath` (a JSONPath subset) and `InputTransformer` (variables from
//! JSONPaths, substituted into a template), per the user guide's "Amazon EventBridge input
//! transformation" page.

use crate::ordered::Json;
use std::collections::BTreeMap;

/// A JSONPath of the subset EventBridge documents for input paths: `$`, dot notation
/// (`$.detail.instance-id`), bracket notation (`$['detail']`) and array indices
/// (`$.resources[0]`). Wildcards and filters are refused when the target is put, so a path that
/// devstack cannot follow is an error at once rather than a silently different input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonPath(Vec<Step>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, String> {
        let unsupported = |why: &str| {
            Err(format!(
                "{text:?} {why} (devstack supports $, dot and bracket notation and array indices)"
            ))
        };
        let Some(mut rest) = text.strip_prefix('$') else {
            return unsupported("does not start with $");
        };
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('.') {
                let end = after.find(['.', '[']).unwrap_or(after.len());
                let key = &after[..end];
                if key.is_empty() || key == "*" {
                    return unsupported("has an empty or wildcard member name");
                }
                steps.push(Step::Key(key.to_owned()));
                rest = &after[end..];
            } else if let Some(after) = rest.strip_prefix('[') {
                let Some(close) = after.find(']') else {
                    return unsupported("has an unclosed bracket");
                };
                let inner = after[..close].trim();
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                if let Some(key) = quoted {
                    steps.push(Step::Key(key.to_owned()));
                } else if let Ok(index) = inner.parse::<usize>() {
                    steps.push(Step::Index(index));
                } else {
                    return unsupported("has a bracket that is neither a quoted name nor an index");
                }
                rest = &after[close + 1..];
            } else {
                return unsupported("has a step that is not .name or [...]");
            }
        }
        Ok(JsonPath(steps))
    }

    /// The value at this path, if the event has one.
    pub fn select<'a>(&self, root: &'a Json) -> Option<&'a Json> {
        self.0
            .iter()
            .try_fold(root, |node, step| match (step, node) {
                (Step::Key(key), _) => node.get(key),
                (Step::Index(i), Json::Array(items)) => items.get(*i),
                (Step::Index(_), _) => None,
            })
    }
}

/// The predefined variables an `InputTemplate` may use without defining them.
pub(crate) const PREDEFINED: &[&str] = &[
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event",
    "aws.events.event.ingestion-time",
    "aws.events.event.json",
];

/// The placeholders (`<name>`) of a template, in order. `<` and `>` cannot be escaped in an
/// input template, so every `<...>` is one.
pub(crate) fn placeholders(template: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else { break };
        found.push(&after[..close]);
        rest = &after[close + 1..];
    }
    found
}

/// Fills `template` with `vars` (a variable whose path matched nothing is `None`).
///
/// The guide's rules ("Input transform examples" and "Common issues"):
/// - a template that is a JSON object is sent minified; a string template is sent as written;
/// - outside a JSON string, a variable is inserted as JSON (a string gets its quotes), except in
///   a template that is not JSON, where a string is inserted bare;
/// - inside a JSON string ("... \"<instance>\" ..."), a string is inserted as it is, without
///   escaping (EventBridge does not escape values extracted by input paths), and an object or
///   array is inserted with its inner quotes removed so that the string stays a string;
/// - a variable whose path is absent from the event "isn't created and won't appear in the
///   output": it is inserted as nothing inside a string and, to keep a JSON template valid, as
///   `null` outside one (the guide does not say which; devstack's choice).
pub(crate) fn render(template: &str, vars: &BTreeMap<&str, Option<Json>>) -> String {
    let is_json = template.trim_start().starts_with('{');
    let mut out = String::with_capacity(template.len() + 64);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<'
            && let Some(close) = rest.find('>')
            && let Some(value) = vars.get(&rest[1..close])
        {
            out.push_str(&insert(value.as_ref(), in_string, is_json));
            rest = &rest[close + 1..];
            escaped = false;
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if is_json {
        // Minified as EventBridge sends it; text that is not JSON after substitution goes as is.
        if let Ok(parsed) = Json::parse(&out) {
            return parsed.text();
        }
    }
    out
}

fn insert(value: Option<&Json>, in_string: bool, is_json: bool) -> String {
    match (value, in_string) {
        (None, true) => String::new(),
        (None, false) => {
            if is_json {
                "null".to_owned()
            } else {
                String::new()
            }
        }
        (Some(Json::String(s)), true) => s.clone(),
        (Some(Json::String(s)), false) => {
            if is_json {
                Json::String(s.clone()).text()
            } else {
                s.clone()
            }
        }
        (Some(v @ (Json::Object(_) | Json::Array(_))), true) => v.text().replace('"', ""),
        (Some(v), _) => v.text(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let event = Json::parse(
            r#"{"detail":{"instance-id":"i-1","list":[{"a":1},{"a":2}]},"resources":["r0","r1"]}"#,
        )
        .unwrap();
        let at = |p: &str| JsonPath::parse(p).unwrap().select(&event).map(Json::text);
        assert_eq!(at("$").unwrap(), event.text());
        assert_eq!(at("$.detail.instance-id").as_deref(), Some("\"i-1\""));
        assert_eq!(at("$['detail']['instance-id']").as_deref(), Some("\"i-1\""));
        assert_eq!(at("$.resources[1]").as_deref(), Some("\"r1\""));
        assert_eq!(at("$.detail.list[1].a").as_deref(), Some("2"));
        assert_eq!(at("$.detail.nope"), None);
        assert_eq!(at("$.resources[5]"), None);
        for bad in ["detail", "$..a", "$.a[*]", "$.", "$[x]", "$.a[0"] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
    }

    /// The "Input transform examples" table of
    /// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html:
    /// its EC2 event, its input paths, each template and the documented output (minified where
    /// the template is JSON, since "the JSON that is passed to the target is minified").
    #[test]
    fn guide_examples() {
        let event = Json::parse(
            r#"{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602",
                "detail-type":"EC2 Instance State-change Notification","source":"aws.ec2",
                "account":"123456789012","time":"2015-11-11T21:29:54Z","region":"us-east-1",
                "resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
                "detail":{"instance-id":"i-0123456789","state":"RUNNING"}}"#,
        )
        .unwrap();
        let path = |p: &str| JsonPath::parse(p).unwrap().select(&event).cloned();
        let mut vars: BTreeMap<&str, Option<Json>> = BTreeMap::new();
        vars.insert("timestamp", path("$.time"));
        vars.insert("instance", path("$.detail.instance-id"));
        vars.insert("state", path("$.detail.state"));
        vars.insert("detail", path("$.detail"));
        vars.insert("missing", path("$.detail.nope"));
        vars.insert(
            "aws.events.rule-arn",
            Some(Json::String(
                "arn:aws:events:us-east-2:123456789012:rule/example".into(),
            )),
        );
        vars.insert("aws.events.rule-name", Some(Json::String("example".into())));
        vars.insert("aws.events.event.json", Some(event.clone()));
        let cases = [
            (
                r#""instance <instance> is in <state>""#,
                r#""instance i-0123456789 is in RUNNING""#,
            ),
            (
                r#""instance \"<instance>\" is in <state>""#,
                r#""instance \"i-0123456789\" is in RUNNING""#,
            ),
            (
                "{\n  \"instance\" : <instance>,\n  \"state\": <state>\n}",
                r#"{"instance":"i-0123456789","state":"RUNNING"}"#,
            ),
            (
                r#"{"instance" : <instance>, "state": "<state>", "instanceStatus": "instance \"<instance>\" is in <state>"}"#,
                r#"{"instance":"i-0123456789","state":"RUNNING","instanceStatus":"instance \"i-0123456789\" is in RUNNING"}"#,
            ),
            (
                r#"{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}"#,
                r#"{"instance":"i-0123456789","state":[9,"RUNNING",true],"Transformed":"Yes"}"#,
            ),
            (
                r#"{"ruleArn" : <aws.events.rule-arn>, "ruleName" : <aws.events.rule-name>}"#,
                r#"{"ruleArn":"arn:aws:events:us-east-2:123456789012:rule/example","ruleName":"example"}"#,
            ),
            (
                r#""<aws.events.rule-name> triggered""#,
                r#""example triggered""#,
            ),
            // Not in the table: an object inside a string loses its quotes ("Common issues"),
            // a whole object goes in as JSON, an absent path is nothing or null.
            (
                r#""Detail is <detail>""#,
                r#""Detail is {instance-id:i-0123456789,state:RUNNING}""#,
            ),
            (
                r#"{"d": <detail>, "m": <missing>, "s": "x<missing>y"}"#,
                r#"{"d":{"instance-id":"i-0123456789","state":"RUNNING"},"m":null,"s":"xy"}"#,
            ),
            (
                r#"{"event": <aws.events.event.json>}"#,
                &format!(r#"{{"event":{}}}"#, event.text()),
            ),
            // A template that is not JSON inserts strings bare.
            ("<instance> is <state>", "i-0123456789 is RUNNING"),
            // An unknown `<...>` (none survive PutTargets' validation) stays as written.
            ("a <b> c", "a <b> c"),
        ];
        for (template, expected) in cases {
            assert_eq!(render(template, &vars), expected, "{template}");
        }
    }

    #[test]
    fn placeholders_are_every_angle_bracket_pair() {
        assert_eq!(
            placeholders("{\"a\": <x>, \"b\": \"<aws.events.rule-name> at <y>\"}"),
            vec!["x", "aws.events.rule-name", "y"]
        );
        assert!(placeholders("no vars < here").is_empty());
    }
}
