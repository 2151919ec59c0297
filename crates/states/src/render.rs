//! An execution's history as a readable timeline (`devstack executions NAME`).

use serde_json::Value;

const WIDTH: usize = 100;

fn short(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= WIDTH {
        return one_line;
    }
    let cut: String = one_line.chars().take(WIDTH).collect();
    format!("{cut}...")
}

fn details(event: &Value) -> &Value {
    event
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.ends_with("EventDetails"))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null)
}

fn text<'a>(d: &'a Value, key: &str) -> &'a str {
    d.get(key).and_then(Value::as_str).unwrap_or("")
}

/// What one event says, in a line.
fn summary(event: &Value) -> String {
    let ty = event["type"].as_str().unwrap_or("");
    let d = details(event);
    let error = || {
        let cause = text(d, "cause");
        if cause.is_empty() {
            text(d, "error").to_owned()
        } else {
            format!("{}: {}", text(d, "error"), short(cause))
        }
    };
    match ty {
        "ExecutionStarted" => format!("input {}", short(text(d, "input"))),
        "ExecutionSucceeded" => format!("output {}", short(text(d, "output"))),
        t if t.ends_with("StateEntered") => text(d, "name").to_owned(),
        t if t.ends_with("StateExited") => {
            format!("{} -> {}", text(d, "name"), short(text(d, "output")))
        }
        "LambdaFunctionScheduled" => {
            format!("{} <- {}", text(d, "resource"), short(text(d, "input")))
        }
        "TaskScheduled" => format!(
            "{}:{} <- {}",
            text(d, "resourceType"),
            text(d, "resource"),
            short(text(d, "parameters"))
        ),
        "TaskStarted" => format!("{}:{}", text(d, "resourceType"), text(d, "resource")),
        "LambdaFunctionSucceeded" | "TaskSucceeded" => short(text(d, "output")),
        t if t.ends_with("Failed") || t.ends_with("TimedOut") || t.ends_with("Aborted") => error(),
        _ => String::new(),
    }
}

/// `execution` is a DescribeExecution answer; `events` its GetExecutionHistory events in
/// order. Times are relative to the first event; a gap before an event (a Wait, a retry's
/// backoff) shows as a jump in them.
pub fn render_timeline(execution: &Value, events: &[Value]) -> String {
    let mut out = String::new();
    let start = events
        .first()
        .and_then(|e| e["timestamp"].as_f64())
        .unwrap_or(0.0);
    let started = crate::time::format((start * 1000.0).round() as i64);
    out.push_str(&format!(
        "{}  {}  started {started}\n",
        execution["name"].as_str().unwrap_or(""),
        execution["status"].as_str().unwrap_or(""),
    ));
    out.push_str(&format!(
        "  {}\n",
        execution["executionArn"].as_str().unwrap_or("")
    ));
    for e in events {
        let t = e["timestamp"].as_f64().unwrap_or(start) - start;
        let line = format!(
            "  {:>+10.3}s  #{:<4} {:<26} {}",
            t,
            e["id"].as_i64().unwrap_or(0),
            e["type"].as_str().unwrap_or(""),
            summary(e)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if let Some(error) = execution["error"].as_str() {
        out.push_str(&format!(
            "  failed with {error}: {}\n",
            short(execution["cause"].as_str().unwrap_or(""))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_readable_timeline() {
        let exec = json!({"name": "run-1", "status": "FAILED", "executionArn": "arn:aws:states:us-east-1:0:execution:m:run-1",
            "error": "ModerationFailed", "cause": "The safety check failed after retries"});
        let events = vec![
            json!({"timestamp": 1767225600.0, "type": "ExecutionStarted", "id": 1, "previousEventId": 0,
                "executionStartedEventDetails": {"input": "{\"a\":1}"}}),
            json!({"timestamp": 1767225600.0, "type": "TaskStateEntered", "id": 2, "previousEventId": 1,
                "stateEnteredEventDetails": {"name": "Check", "input": "{}"}}),
            json!({"timestamp": 1767225600.0, "type": "LambdaFunctionFailed", "id": 3, "previousEventId": 2,
                "lambdaFunctionFailedEventDetails": {"error": "Boom", "cause": "{\"errorMessage\":\"no\"}"}}),
            json!({"timestamp": 1767225601.5, "type": "ExecutionFailed", "id": 4, "previousEventId": 3,
                "executionFailedEventDetails": {"error": "ModerationFailed", "cause": "The safety check failed after retries"}}),
        ];
        let text = render_timeline(&exec, &events);
        let want = "run-1  FAILED  started 2026-01-01T00:00:00.000Z
  arn:aws:states:us-east-1:0:execution:m:run-1
      +0.000s  #1    ExecutionStarted           input {\"a\":1}
      +0.000s  #2    TaskStateEntered           Check
      +0.000s  #3    LambdaFunctionFailed       Boom: {\"errorMessage\":\"no\"}
      +1.500s  #4    ExecutionFailed            ModerationFailed: The safety check failed after retries
  failed with ModerationFailed: The safety check failed after retries
";
        assert_eq!(text, want);
    }
}
