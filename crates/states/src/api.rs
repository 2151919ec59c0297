//! The awsJson 1.0 operations, in Step Functions' shapes (botocore's `stepfunctions`
//! service-2.json): dates are epoch seconds, errors are the modelled exceptions.

use crate::error::Fault;
use crate::exec::{Cursor, Meta, Runner, Step};
use crate::store::{Ev, ExecRow, Finish, MachineRow};
use crate::time::epoch_seconds;
use crate::{Answer, Machine, StepFunctions, load_machine, no_machine};
use serde_json::{Map, Value, json};
use std::sync::{Arc, PoisonError};

pub(crate) fn dispatch(sf: &StepFunctions, operation: &str, body: &[u8]) -> Answer {
    let input = match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return Fault::new(
                "SerializationException",
                "the request body is not a JSON object",
            )
            .answer();
        }
        Err(_) => {
            return Fault::new(
                "SerializationException",
                "the request body is not valid JSON",
            )
            .answer();
        }
    };
    let result = match operation {
        "CreateStateMachine" => create_state_machine(sf, &input),
        "ListStateMachines" => list_state_machines(sf, &input),
        "DescribeStateMachine" => describe_state_machine(sf, &input),
        "StartExecution" => start_execution(sf, &input),
        "DescribeExecution" => describe_execution(sf, &input),
        "GetExecutionHistory" => get_execution_history(sf, &input),
        "ListExecutions" => list_executions(sf, &input),
        "StopExecution" => stop_execution(sf, &input),
        other => Err(Fault::new(
            "UnknownOperationException",
            format!("devstack's Step Functions does not implement {other} yet"),
        )),
    };
    result.map(Answer::ok).unwrap_or_else(|f| f.answer())
}

fn string<'a>(input: &'a Value, key: &str) -> Result<Option<&'a str>, Fault> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Fault::new(
            "SerializationException",
            format!("{key} must be a string"),
        )),
    }
}

fn required<'a>(input: &'a Value, key: &str) -> Result<&'a str, Fault> {
    string(input, key)?.ok_or_else(|| {
        Fault::validation(format!(
            "1 validation error detected: Value null at '{key}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn page_size(input: &Value) -> Result<usize, Fault> {
    match input.get("maxResults") {
        None | Some(Value::Null) => Ok(100),
        Some(v) => match v.as_u64() {
            Some(0) => Ok(100),
            Some(n) if n <= 1000 => Ok(n as usize),
            _ => Err(Fault::validation(
                "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 1000",
            )),
        },
    }
}

/// Step Functions' names: 1 to 80 characters, none of whitespace, brackets, wildcards,
/// special characters or control characters.
fn check_name(name: &str) -> Result<(), Fault> {
    let bad = name.is_empty()
        || name.chars().count() > 80
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c));
    if bad {
        return Err(Fault::new("InvalidName", format!("Invalid Name: '{name}'")));
    }
    Ok(())
}

fn check_arn(arn: &str, kind: &str) -> Result<(), Fault> {
    let parts: Vec<&str> = arn.split(':').collect();
    if parts.len() < 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != kind {
        return Err(Fault::new(
            "InvalidArn",
            format!("Invalid Arn: 'Resource type not valid in this context: {arn}'"),
        ));
    }
    Ok(())
}

fn create_state_machine(sf: &StepFunctions, input: &Value) -> Result<Value, Fault> {
    let inner = sf.inner();
    let name = required(input, "name")?;
    let definition = required(input, "definition")?;
    let role = required(input, "roleArn")?;
    let kind = string(input, "type")?.unwrap_or("STANDARD");
    check_name(name)?;
    if !matches!(kind, "STANDARD" | "EXPRESS") {
        return Err(Fault::validation(format!(
            "1 validation error detected: Value '{kind}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
        )));
    }
    if !role.starts_with("arn:") {
        return Err(Fault::new("InvalidArn", format!("Invalid Arn: '{role}'")));
    }
    let value: Value = serde_json::from_str(definition).map_err(|e| {
        Fault::new(
            "InvalidDefinition",
            format!("Invalid State Machine Definition: 'INVALID_JSON_DESCRIPTION: {e}'"),
        )
    })?;
    crate::asl::Definition::parse(&value)
        .map_err(|e| Fault::new("InvalidDefinition", e.to_string()))?;
    let arn = format!(
        "arn:aws:states:{}:{}:stateMachine:{name}",
        inner.region, inner.account_id
    );
    if let Some(existing) = inner.machine(&arn) {
        // Idempotent for the same definition and type, as Step Functions is.
        if existing.definition_text == definition && existing.kind == kind {
            return Ok(json!({
                "stateMachineArn": arn,
                "creationDate": epoch_seconds(existing.created_ms),
            }));
        }
        return Err(Fault::new(
            "StateMachineAlreadyExists",
            format!("State Machine Already Exists: '{arn}'"),
        ));
    }
    let now = inner.clock.now_ms();
    let row = MachineRow {
        arn: arn.clone(),
        name: name.to_owned(),
        kind: kind.to_owned(),
        definition: definition.to_owned(),
        role_arn: role.to_owned(),
        created_ms: now,
    };
    inner
        .lock_store()
        .save_machine(&row)
        .map_err(|e| Fault::internal(format!("devstack could not save the state machine: {e}")))?;
    let machine: Machine = load_machine(
        &arn,
        name,
        kind,
        definition.to_owned(),
        role.to_owned(),
        now,
        &mut Vec::new(),
    );
    inner
        .machines
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(arn.clone(), Arc::new(machine));
    Ok(json!({"stateMachineArn": arn, "creationDate": epoch_seconds(now)}))
}

fn list_state_machines(sf: &StepFunctions, input: &Value) -> Result<Value, Fault> {
    let size = page_size(input)?;
    let after = string(input, "nextToken")?;
    let machines = sf
        .inner()
        .machines
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .values()
        .cloned()
        .collect::<Vec<_>>();
    let mut sorted: Vec<&Arc<Machine>> = machines.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let start = match after {
        Some(t) => sorted
            .iter()
            .position(|m| m.name.as_str() > t)
            .unwrap_or(sorted.len()),
        None => 0,
    };
    let page: Vec<&Arc<Machine>> = sorted.iter().skip(start).take(size).copied().collect();
    let mut out = json!({
        "stateMachines": page.iter().map(|m| json!({
            "stateMachineArn": m.arn,
            "name": m.name,
            "type": m.kind,
            "creationDate": epoch_seconds(m.created_ms),
        })).collect::<Vec<_>>()
    });
    if start + page.len() < sorted.len()
        && let Some(last) = page.last()
    {
        out["nextToken"] = json!(last.name);
    }
    Ok(out)
}

fn describe_state_machine(sf: &StepFunctions, input: &Value) -> Result<Value, Fault> {
    let arn = required(input, "stateMachineArn")?;
    check_arn(arn, "stateMachine")?;
    let m = sf.inner().machine(arn).ok_or_else(|| no_machine(arn))?;
    Ok(json!({
        "stateMachineArn": m.arn,
        "name": m.name,
        "status": "ACTIVE",
        "definition": m.definition_text,
        "roleArn": m.role_arn,
        "type": m.kind,
        "creationDate": epoch_seconds(m.created_ms),
        "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
        "tracingConfiguration": {"enabled": false},
    }))
}

fn start_execution(sf: &StepFunctions, input: &Value) -> Result<Value, Fault> {
    let machine = required(input, "stateMachineArn")?;
    let name = string(input, "name")?;
    let exec_input = string(input, "input")?;
    let (arn, start_ms) = start(sf, machine, name, exec_input)?;
    Ok(json!({"executionArn": arn, "startDate": epoch_seconds(start_ms)}))
}

/// StartExecution: the new execution's ARN and start time.
pub(crate) fn start(
    sf: &StepFunctions,
    machine_arn: &str,
    name: Option<&str>,
    input: Option<&str>,
) -> Result<(String, i64), Fault> {
    let inner = sf.inner();
    check_arn(machine_arn, "stateMachine")?;
    let machine = inner
        .machine(machine_arn)
        .ok_or_else(|| no_machine(machine_arn))?;
    let def = machine.parsed.clone().map_err(|e| {
        Fault::validation(format!(
            "devstack cannot run state machine {}: {e}",
            machine.name
        ))
    })?;
    let text = input.unwrap_or("{}");
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Fault::new(
            "InvalidExecutionInput",
            format!("Invalid State Machine Execution Input: '{e}'"),
        )
    })?;
    let name = match name {
        Some(n) => n.to_owned(),
        None => inner.new_id(),
    };
    check_name(&name)?;
    let arn = format!(
        "arn:aws:states:{}:{}:execution:{}:{name}",
        inner.region, inner.account_id, machine.name
    );
    let now = inner.clock.now_ms();
    let cursor = Cursor {
        state: def.start_at.clone(),
        input: value.clone(),
        entered_ms: 0,
        entered_event: 0,
        step: Step::Enter,
    };
    let row = ExecRow {
        seq: 0,
        arn: arn.clone(),
        machine_arn: machine.arn.clone(),
        machine_name: machine.name.clone(),
        name: name.clone(),
        status: "RUNNING".into(),
        input: text.to_owned(),
        output: None,
        error: None,
        cause: None,
        start_ms: now,
        stop_ms: None,
        definition: machine.definition_text.clone(),
        role_arn: machine.role_arn.clone(),
        cursor: Some(serde_json::to_string(&cursor).unwrap_or_default()),
    };
    let first = Ev::new(
        "ExecutionStarted",
        "executionStartedEventDetails",
        json!({"input": text, "inputDetails": {"truncated": false}, "roleArn": machine.role_arn}),
    );
    {
        let mut store = inner.lock_store();
        if let Some(existing) = store
            .execution(&arn)
            .map_err(|e| Fault::internal(e.to_string()))?
        {
            // Idempotent for a running execution with the same input, as Step Functions is.
            if existing.status == "RUNNING" && existing.input == text {
                return Ok((existing.arn, existing.start_ms));
            }
            return Err(Fault::new(
                "ExecutionAlreadyExists",
                format!("Execution Already Exists: '{arn}'"),
            ));
        }
        store
            .insert_execution(&row, &first, now)
            .map_err(|e| Fault::internal(format!("devstack could not save the execution: {e}")))?;
    }
    inner.notify_changed();
    let meta = Meta {
        arn: arn.clone(),
        name,
        machine_arn: machine.arn.clone(),
        machine_name: machine.name.clone(),
        role_arn: machine.role_arn.clone(),
        input: value,
        start_ms: now,
    };
    Runner::start(inner, meta, def, cursor, 1);
    Ok((arn, now))
}

fn execution_row(sf: &StepFunctions, arn: &str) -> Result<ExecRow, Fault> {
    check_arn(arn, "execution")?;
    sf.inner()
        .lock_store()
        .execution(arn)
        .map_err(|e| Fault::internal(e.to_string()))?
        .ok_or_else(|| {
            Fault::new(
                "ExecutionDoesNotExist",
                format!("Execution Does Not Exist: '{arn}'"),
            )
        })
}

fn describe_execution(sf: &StepFunctions, input: &Value) -> Result<Value, Fault> {
    let arn = required(input, "executionArn")?;
    let r = execution_row(sf, arn)?;
    let mut out = json!({
        "executionArn": r.arn,
        "stateMachineArn": r.machine_arn,
        "name": r.name,
        "status": r.status,
        "startDate": epoch_seconds(r.start_ms),
        "input": r.input,
        "inputDetails": {"included": true},
        "redriveCount": 0,
        "redriveStatus": "NOT_REDRIVABLE",
    });
    if let Some(s) = r.stop_ms {
        out["stopDate"] = epoch_seconds(s);
    }
    if let Some(o) = r.output {
        out["output"] = json!(o);
        out["outputDetails"] = json!({"included": true});
    }
    if let Some(e) = r.error {
        out["error"] = json!(e);
    }
    if let Some(c) = r.cause {
        out["cause"] = json!(c);
    }
    Ok(out)
}

fn get_execution_history(sf: &StepFunctions, input: &Value) -> Result<Value, Fault> {
    let arn = required(input, "executionArn")?;
    execution_row(sf, arn)?;
    let size = page_size(input)?;
    let reverse = input
        .get("reverseOrder")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let include_data = input
        .get("includeExecutionData")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let offset = match string(input, "nextToken")? {
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| Fault::new("InvalidToken", format!("Invalid Token: '{t}'")))?,
        None => 0,
    };
    let mut events = sf
        .inner()
        .lock_store()
        .history(arn)
        .map_err(|e| Fault::internal(e.to_string()))?;
    if reverse {
        events.reverse();
    }
    let total = events.len();
    let mut page: Vec<Value> = events.into_iter().skip(offset).take(size).collect();
    if !include_data {
        for e in &mut page {
            strip_data(e);
        }
    }
    let mut out = json!({});
    if offset + page.len() < total {
        out["nextToken"] = json!((offset + page.len()).to_string());
    }
    out["events"] = Value::Array(page);
    Ok(out)
}

/// `includeExecutionData: false`: the events without their inputs and outputs.
fn strip_data(event: &mut Value) {
    if let Some(obj) = event.as_object_mut() {
        for (k, v) in obj.iter_mut() {
            if k.ends_with("EventDetails")
                && let Some(d) = v.as_object_mut()
            {
                for key in ["input", "output", "parameters"] {
                    d.remove(key);
                }
            }
        }
    }
}

fn list_executions(sf: &StepFunctions, input: &Value) -> Result<Value, Fault> {
    let machine = string(input, "stateMachineArn")?;
    let Some(machine) = machine else {
        return Err(Fault::validation(
            "Must provide a StateMachine ARN or MapRun ARN",
        ));
    };
    check_arn(machine, "stateMachine")?;
    if sf.inner().machine(machine).is_none() {
        return Err(no_machine(machine));
    }
    let status = string(input, "statusFilter")?;
    if let Some(s) = status
        && !matches!(
            s,
            "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED" | "PENDING_REDRIVE"
        )
    {
        return Err(Fault::validation(format!(
            "1 validation error detected: Value '{s}' at 'statusFilter' failed to satisfy constraint: Member must satisfy enum value set: [RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE]"
        )));
    }
    let size = page_size(input)?;
    let before = match string(input, "nextToken")? {
        Some(t) => Some(
            t.parse::<i64>()
                .map_err(|_| Fault::new("InvalidToken", format!("Invalid Token: '{t}'")))?,
        ),
        None => None,
    };
    let rows = sf
        .inner()
        .lock_store()
        .executions(Some(machine), status, before, size + 1)
        .map_err(|e| Fault::internal(e.to_string()))?;
    let more = rows.len() > size;
    let rows: Vec<ExecRow> = rows.into_iter().take(size).collect();
    let mut out = json!({
        "executions": rows.iter().map(|r| {
            let mut item = Map::new();
            item.insert("executionArn".into(), json!(r.arn));
            item.insert("stateMachineArn".into(), json!(r.machine_arn));
            item.insert("name".into(), json!(r.name));
            item.insert("status".into(), json!(r.status));
            item.insert("startDate".into(), epoch_seconds(r.start_ms));
            if let Some(s) = r.stop_ms {
                item.insert("stopDate".into(), epoch_seconds(s));
            }
            Value::Object(item)
        }).collect::<Vec<_>>()
    });
    if more && let Some(last) = rows.last() {
        out["nextToken"] = json!(last.seq.to_string());
    }
    Ok(out)
}

fn stop_execution(sf: &StepFunctions, input: &Value) -> Result<Value, Fault> {
    let arn = required(input, "executionArn")?;
    let error = string(input, "error")?;
    let cause = string(input, "cause")?;
    let r = execution_row(sf, arn)?;
    let inner = sf.inner();
    if r.status != "RUNNING" {
        return Ok(json!({"stopDate": epoch_seconds(r.stop_ms.unwrap_or(r.start_ms))}));
    }
    let now = inner.clock.now_ms();
    let mut details = Map::new();
    if let Some(e) = error {
        details.insert("error".into(), json!(e));
    }
    if let Some(c) = cause {
        details.insert("cause".into(), json!(c));
    }
    let appended = inner.lock_store().append(
        arn,
        now,
        &[Ev::new(
            "ExecutionAborted",
            "executionAbortedEventDetails",
            Value::Object(details),
        )],
        None,
        Some(&Finish {
            status: "ABORTED",
            output: None,
            error: error.map(str::to_owned),
            cause: cause.map(str::to_owned),
        }),
    );
    match appended {
        Ok(_) => {
            inner.signal_stop(arn);
            inner.notify_changed();
            Ok(json!({"stopDate": epoch_seconds(now)}))
        }
        // It ended meanwhile.
        Err(crate::store::AppendError::NotRunning) => {
            let r = execution_row(sf, arn)?;
            Ok(json!({"stopDate": epoch_seconds(r.stop_ms.unwrap_or(now))}))
        }
        Err(e) => Err(Fault::internal(e.to_string())),
    }
}
