//! The control plane: buses, rules, targets and `TestEventPattern`, with the members, errors
//! and messages of the EventBridge API reference (botocore's `events` model for shapes and
//! constraints).

use crate::error::Fault;
use crate::model::Target;
use crate::pattern::Pattern;
use crate::state::{Bus, Rule, State};
use crate::transform::{self, JsonPath};
use crate::{Answer, EventBridge};
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) type Reply = Result<Answer, Fault>;

/// "Each rule can have up to five (5) targets associated with it at one time."
const MAX_TARGETS_PER_RULE: usize = 5;
/// The largest page the List operations return (`Limit` is 1..100).
const MAX_PAGE: usize = 100;
const RULE_NAME_PATTERN: &str = "[\\.\\-_A-Za-z0-9]+";
const BUS_NAME_PATTERN: &str = "[/\\.\\-_A-Za-z0-9]+";
const STATES: [&str; 3] = [
    "ENABLED",
    "DISABLED",
    "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
];

/// A request's members, read with AWS's messages for a missing required member; a member of
/// the wrong JSON type is a `SerializationException`, as AWS's deserialiser answers.
pub(crate) struct Members<'a>(pub &'a Value);

impl<'a> Members<'a> {
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub fn str(&self, name: &str) -> Result<Option<&'a str>, Fault> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Fault::serialization(format!("{name} must be a string"))),
        }
    }

    pub fn required_str(&self, name: &str) -> Result<&'a str, Fault> {
        self.str(name)?.ok_or_else(|| missing(name))
    }

    pub fn array(&self, name: &str) -> Result<Option<&'a Vec<Value>>, Fault> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(_) => Err(Fault::serialization(format!("{name} must be a list"))),
        }
    }

    fn int(&self, name: &str) -> Result<Option<i64>, Fault> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| Fault::serialization(format!("{name} must be an integer"))),
        }
    }
}

/// AWS names members in lowerCamelCase in validation messages.
fn camel(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

pub(crate) fn missing(name: &str) -> Fault {
    Fault::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        camel(name)
    ))
}

pub(crate) fn constraint(value: &str, field: &str, rule: &str) -> Fault {
    Fault::validation(format!(
        "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}"
    ))
}

fn check_length(value: &str, field: &str, min: usize, max: usize) -> Result<(), Fault> {
    let len = value.chars().count();
    if len < min {
        return Err(constraint(
            value,
            field,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if len > max {
        return Err(constraint(
            value,
            field,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

fn rule_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

fn check_rule_name(value: &str, field: &str) -> Result<(), Fault> {
    check_length(value, field, 1, 64)?;
    if !value.chars().all(rule_name_char) {
        return Err(constraint(
            value,
            field,
            &format!("Member must satisfy regular expression pattern: {RULE_NAME_PATTERN}"),
        ));
    }
    Ok(())
}

/// `EventBusName` as a name or an ARN; `default` when absent.
fn bus_member(m: &Members, member: &str) -> Result<String, Fault> {
    let raw = m.str(member)?.unwrap_or("default");
    Ok(raw
        .rsplit_once(":event-bus/")
        .map_or(raw, |(_, name)| name)
        .to_owned())
}

fn existing_bus<'s>(state: &'s State, name: &str) -> Result<&'s Bus, Fault> {
    state
        .buses
        .get(name)
        .ok_or_else(|| Fault::not_found(format!("Event bus {name} does not exist.")))
}

fn existing_rule<'s>(state: &'s State, bus: &str, name: &str) -> Result<&'s Arc<Rule>, Fault> {
    existing_bus(state, bus)?;
    state
        .rules
        .get(&(bus.to_owned(), name.to_owned()))
        .ok_or_else(|| Fault::not_found(format!("Rule {name} does not exist on EventBus {bus}.")))
}

/// One page of `items` per `Limit` and `NextToken` (an offset, opaque to clients).
fn page<T>(items: Vec<T>, m: &Members) -> Result<(Vec<T>, Option<String>), Fault> {
    let limit = match m.int("Limit")? {
        None => MAX_PAGE,
        Some(l) if (1..=MAX_PAGE as i64).contains(&l) => l as usize,
        Some(l) => {
            return Err(constraint(
                &l.to_string(),
                "limit",
                "Member must have value between 1 and 100",
            ));
        }
    };
    let start = match m.str("NextToken")? {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| Fault::validation("The NextToken provided is not valid."))?,
    };
    let mut rest: Vec<T> = items.into_iter().skip(start).collect();
    let next = (rest.len() > limit).then(|| (start + limit).to_string());
    rest.truncate(limit);
    Ok((rest, next))
}

fn with_next(mut body: Value, next: Option<String>) -> Value {
    if let Some(token) = next {
        body["NextToken"] = json!(token);
    }
    body
}

/// awsJson timestamps are epoch seconds.
fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

impl EventBridge {
    fn bus_json(&self, bus: &Bus) -> Value {
        let mut v = json!({
            "Name": bus.name,
            "Arn": self.bus_arn(&bus.name),
            "CreationTime": seconds(bus.created_ms),
            "LastModifiedTime": seconds(bus.modified_ms),
        });
        if let Some(d) = &bus.description {
            v["Description"] = json!(d);
        }
        v
    }

    fn rule_json(&self, rule: &Rule) -> Value {
        let mut v = json!({
            "Name": rule.name,
            "Arn": rule.arn,
            "State": rule.state,
            "EventBusName": rule.bus,
        });
        if let Some(p) = &rule.event_pattern {
            v["EventPattern"] = json!(p);
        }
        if let Some(d) = &rule.description {
            v["Description"] = json!(d);
        }
        v
    }

    pub(crate) fn create_event_bus(&self, input: &Value) -> Reply {
        let m = Members(input);
        let name = m.required_str("Name")?;
        check_length(name, "name", 1, 256)?;
        if !name.chars().all(|c| rule_name_char(c) || c == '/') {
            return Err(constraint(
                name,
                "name",
                &format!("Member must satisfy regular expression pattern: {BUS_NAME_PATTERN}"),
            ));
        }
        if m.str("EventSourceName")?.is_some() {
            return Err(Fault::validation(
                "Partner event buses (EventSourceName) are not supported by devstack yet.",
            ));
        }
        if name.contains('/') {
            return Err(Fault::validation("Event bus name must not contain '/'."));
        }
        let description = m.str("Description")?;
        if let Some(d) = description {
            check_length(d, "description", 0, 512)?;
        }
        let now = self.clock.now_ms();
        self.change(|state| {
            if state.buses.contains_key(name) {
                return Err(Fault::new(
                    "ResourceAlreadyExistsException",
                    format!("Event bus {name} already exists."),
                ));
            }
            state.buses.insert(
                name.to_owned(),
                Bus {
                    name: name.to_owned(),
                    description: description.map(str::to_owned),
                    created_ms: now,
                    modified_ms: now,
                    from_template: false,
                },
            );
            Ok(())
        })?;
        let mut out = json!({"EventBusArn": self.bus_arn(name)});
        if let Some(d) = description {
            out["Description"] = json!(d);
        }
        Ok(Answer::ok(out))
    }

    /// Deleting a bus deletes its rules (targets included), as EventBridge does; deleting one
    /// that does not exist succeeds. The template's buses stay: the template is the wiring.
    pub(crate) fn delete_event_bus(&self, input: &Value) -> Reply {
        let m = Members(input);
        m.required_str("Name")?;
        let name = bus_member(&m, "Name")?;
        if name == "default" {
            return Err(Fault::validation("Cannot delete event bus default."));
        }
        self.change(|state| match state.buses.get(&name) {
            None => Ok(()),
            Some(bus) if bus.from_template => Err(Fault::validation(format!(
                "Event bus {name} is defined by the template; devstack cannot delete it."
            ))),
            Some(_) => {
                state.buses.remove(&name);
                state.rules.retain(|(bus, _), _| *bus != name);
                Ok(())
            }
        })?;
        Ok(Answer::ok(json!({})))
    }

    pub(crate) fn describe_event_bus(&self, input: &Value) -> Reply {
        let name = bus_member(&Members(input), "Name")?;
        let state = self.lock();
        Ok(Answer::ok(self.bus_json(existing_bus(&state, &name)?)))
    }

    pub(crate) fn list_event_buses(&self, input: &Value) -> Reply {
        let m = Members(input);
        let prefix = m.str("NamePrefix")?.unwrap_or("");
        let buses: Vec<Value> = {
            let state = self.lock();
            state
                .buses
                .values()
                .filter(|b| b.name.starts_with(prefix))
                .map(|b| self.bus_json(b))
                .collect()
        };
        let (buses, next) = page(buses, &m)?;
        Ok(Answer::ok(with_next(json!({"EventBuses": buses}), next)))
    }

    /// Creates or replaces a rule. As the API reference says, what the request omits is not
    /// kept (`State` back to ENABLED, no description); the targets stay.
    pub(crate) fn put_rule(&self, input: &Value) -> Reply {
        let m = Members(input);
        let name = m.required_str("Name")?;
        check_rule_name(name, "name")?;
        let bus = bus_member(&m, "EventBusName")?;
        if m.str("ScheduleExpression")?.is_some() {
            return Err(Fault::validation(format!(
                "ScheduleExpression is not supported by devstack yet: rule {name} would never run."
            )));
        }
        let Some(text) = m.str("EventPattern")? else {
            return Err(Fault::validation(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.",
            ));
        };
        let pattern = Pattern::parse_str(text)
            .map_err(|e| Fault::new("InvalidEventPatternException", e.to_string()))?;
        let rule_state = m.str("State")?.unwrap_or("ENABLED");
        if !STATES.contains(&rule_state) {
            return Err(constraint(
                rule_state,
                "state",
                "Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]",
            ));
        }
        let description = m.str("Description")?;
        if let Some(d) = description {
            check_length(d, "description", 0, 512)?;
        }
        let arn = self.change(|state| {
            existing_bus(state, &bus)?;
            let key = (bus.clone(), name.to_owned());
            let (arn, targets, from_template) = match state.rules.get(&key) {
                Some(old) => (old.arn.clone(), old.targets.clone(), old.from_template),
                None => (self.rule_arn(&bus, name), Vec::new(), false),
            };
            state.rules.insert(
                key,
                Arc::new(Rule {
                    name: name.to_owned(),
                    bus: bus.clone(),
                    arn: arn.clone(),
                    description: description.map(str::to_owned),
                    event_pattern: Some(text.to_owned()),
                    pattern: Some(pattern),
                    state: rule_state.to_owned(),
                    targets,
                    from_template,
                }),
            );
            Ok(arn)
        })?;
        Ok(Answer::ok(json!({"RuleArn": arn})))
    }

    pub(crate) fn describe_rule(&self, input: &Value) -> Reply {
        let m = Members(input);
        let name = m.required_str("Name")?;
        let bus = bus_member(&m, "EventBusName")?;
        let state = self.lock();
        let mut out = self.rule_json(existing_rule(&state, &bus, name)?);
        out["CreatedBy"] = json!(self.account_id);
        Ok(Answer::ok(out))
    }

    pub(crate) fn list_rules(&self, input: &Value) -> Reply {
        let m = Members(input);
        let prefix = m.str("NamePrefix")?.unwrap_or("");
        let bus = bus_member(&m, "EventBusName")?;
        let rules: Vec<Value> = {
            let state = self.lock();
            existing_bus(&state, &bus)?;
            state
                .rules
                .values()
                .filter(|r| r.bus == bus && r.name.starts_with(prefix))
                .map(|r| self.rule_json(r))
                .collect()
        };
        let (rules, next) = page(rules, &m)?;
        Ok(Answer::ok(with_next(json!({"Rules": rules}), next)))
    }

    /// A rule with targets is refused, as EventBridge does; a rule that does not exist is
    /// "deleted" successfully (repeated deletes all succeed).
    pub(crate) fn delete_rule(&self, input: &Value) -> Reply {
        let m = Members(input);
        let name = m.required_str("Name")?;
        let bus = bus_member(&m, "EventBusName")?;
        self.change(|state| {
            existing_bus(state, &bus)?;
            let key = (bus.clone(), name.to_owned());
            if state.rules.get(&key).is_some_and(|r| !r.targets.is_empty()) {
                return Err(Fault::validation(
                    "Rule can't be deleted since it has targets.",
                ));
            }
            state.rules.remove(&key);
            Ok(())
        })?;
        Ok(Answer::ok(json!({})))
    }

    pub(crate) fn set_rule_state(&self, input: &Value, to: &str) -> Reply {
        let m = Members(input);
        let name = m.required_str("Name")?;
        let bus = bus_member(&m, "EventBusName")?;
        self.change(|state| {
            let mut rule = Rule::clone(existing_rule(state, &bus, name)?);
            rule.state = to.to_owned();
            state
                .rules
                .insert((bus.clone(), name.to_owned()), Arc::new(rule));
            Ok(())
        })?;
        Ok(Answer::ok(json!({})))
    }

    /// Adds or replaces targets (by `Id`). Violations of the API model's constraints refuse the
    /// whole request, as AWS's request validation does; a target that is well-formed but
    /// unusable (a malformed ARN, two input forms, an undefined placeholder...) is reported in
    /// `FailedEntries` and the others are still put.
    pub(crate) fn put_targets(&self, input: &Value) -> Reply {
        let m = Members(input);
        let rule_name = m.required_str("Rule")?;
        let bus = bus_member(&m, "EventBusName")?;
        let raw = m.array("Targets")?.ok_or_else(|| missing("Targets"))?;
        if raw.is_empty() || raw.len() > 100 {
            return Err(Fault::validation(format!(
                "1 validation error detected: Value '{}' at 'targets' failed to satisfy constraint: Member must have length between 1 and 100",
                raw.len()
            )));
        }
        let mut targets = Vec::with_capacity(raw.len());
        for (i, t) in raw.iter().enumerate() {
            let target: Target = serde_json::from_value(t.clone())
                .map_err(|e| Fault::serialization(format!("Targets[{i}]: {e}")))?;
            check_target_model(&target, i + 1)?;
            targets.push(target);
        }
        let failed = self.change(|state| {
            let mut rule = Rule::clone(existing_rule(state, &bus, rule_name)?);
            let mut failed = Vec::new();
            for target in targets {
                if let Err(message) = check_target(&target) {
                    failed.push(json!({
                        "TargetId": target.id,
                        "ErrorCode": "ValidationException",
                        "ErrorMessage": message,
                    }));
                    continue;
                }
                match rule.targets.iter_mut().find(|t| t.id == target.id) {
                    Some(existing) => *existing = target,
                    None => rule.targets.push(target),
                }
            }
            if rule.targets.len() > MAX_TARGETS_PER_RULE {
                return Err(Fault::new(
                    "LimitExceededException",
                    "The requested resource exceeds the maximum number allowed.",
                ));
            }
            state
                .rules
                .insert((bus.clone(), rule_name.to_owned()), Arc::new(rule));
            Ok(failed)
        })?;
        Ok(Answer::ok(json!({
            "FailedEntryCount": failed.len(),
            "FailedEntries": failed,
        })))
    }

    pub(crate) fn remove_targets(&self, input: &Value) -> Reply {
        let m = Members(input);
        let rule_name = m.required_str("Rule")?;
        let bus = bus_member(&m, "EventBusName")?;
        let ids = m.array("Ids")?.ok_or_else(|| missing("Ids"))?;
        if ids.is_empty() || ids.len() > 100 {
            return Err(Fault::validation(format!(
                "1 validation error detected: Value '{}' at 'ids' failed to satisfy constraint: Member must have length between 1 and 100",
                ids.len()
            )));
        }
        let ids: Vec<&str> = ids
            .iter()
            .map(|id| {
                id.as_str()
                    .ok_or_else(|| Fault::serialization("Ids must be strings"))
            })
            .collect::<Result<_, _>>()?;
        let failed = self.change(|state| {
            let mut rule = Rule::clone(existing_rule(state, &bus, rule_name)?);
            let mut failed = Vec::new();
            for id in ids {
                let before = rule.targets.len();
                rule.targets.retain(|t| t.id != id);
                if rule.targets.len() == before {
                    failed.push(json!({
                        "TargetId": id,
                        "ErrorCode": "ResourceNotFoundException",
                        "ErrorMessage": format!("Rule '{rule_name}' does not have a target with the Id '{id}'."),
                    }));
                }
            }
            state
                .rules
                .insert((bus.clone(), rule_name.to_owned()), Arc::new(rule));
            Ok(failed)
        })?;
        Ok(Answer::ok(json!({
            "FailedEntryCount": failed.len(),
            "FailedEntries": failed,
        })))
    }

    pub(crate) fn list_targets_by_rule(&self, input: &Value) -> Reply {
        let m = Members(input);
        let rule_name = m.required_str("Rule")?;
        let bus = bus_member(&m, "EventBusName")?;
        let targets = existing_rule(&self.lock(), &bus, rule_name)?
            .targets
            .clone();
        let (targets, next) = page(targets, &m)?;
        Ok(Answer::ok(with_next(json!({"Targets": targets}), next)))
    }

    pub(crate) fn list_rule_names_by_target(&self, input: &Value) -> Reply {
        let m = Members(input);
        let arn = m.required_str("TargetArn")?;
        let bus = bus_member(&m, "EventBusName")?;
        let names: Vec<String> = {
            let state = self.lock();
            existing_bus(&state, &bus)?;
            state
                .rules
                .values()
                .filter(|r| r.bus == bus && r.targets.iter().any(|t| t.arn == arn))
                .map(|r| r.name.clone())
                .collect()
        };
        let (names, next) = page(names, &m)?;
        Ok(Answer::ok(with_next(json!({"RuleNames": names}), next)))
    }

    /// The event must carry the envelope EventBridge requires of a test event. The API
    /// reference also lists `resources`, but EventBridge accepts an event without it (as
    /// LocalStack's parity tests against AWS record), so devstack does too.
    pub(crate) fn test_event_pattern(&self, input: &Value) -> Reply {
        let m = Members(input);
        let pattern = m.required_str("EventPattern")?;
        let event = m.required_str("Event")?;
        let pattern = Pattern::parse_str(pattern)
            .map_err(|e| Fault::new("InvalidEventPatternException", e.to_string()))?;
        let event: Value = serde_json::from_str(event)
            .map_err(|_| Fault::validation("Parameter Event is not valid."))?;
        let complete = ["id", "account", "source", "time", "region", "detail-type"]
            .iter()
            .all(|field| event.get(field).is_some());
        if !complete {
            return Err(Fault::validation("Parameter Event is not valid."));
        }
        Ok(Answer::ok(json!({"Result": pattern.matches(&event)})))
    }
}

/// The API model's constraints on a target (`targets.N.member...`).
fn check_target_model(t: &Target, n: usize) -> Result<(), Fault> {
    let field = |member: &str| format!("targets.{n}.member.{member}");
    check_length(&t.id, &field("id"), 1, 64)?;
    if !t.id.chars().all(rule_name_char) {
        return Err(constraint(
            &t.id,
            &field("id"),
            &format!("Member must satisfy regular expression pattern: {RULE_NAME_PATTERN}"),
        ));
    }
    check_length(&t.arn, &field("arn"), 1, 1600)?;
    if let Some(input) = &t.input {
        check_length(input, &field("input"), 0, 8192)?;
    }
    if let Some(path) = &t.input_path {
        check_length(path, &field("inputPath"), 0, 256)?;
    }
    if let Some(tr) = &t.input_transformer {
        check_length(
            &tr.input_template,
            &field("inputTransformer.inputTemplate"),
            1,
            8192,
        )?;
    }
    if let Some(retry) = &t.retry_policy {
        let range = |value: Option<i64>, member: &str, min: i64, max: i64| match value {
            Some(v) if v < min => Err(constraint(
                &v.to_string(),
                &field(member),
                &format!("Member must have value greater than or equal to {min}"),
            )),
            Some(v) if v > max => Err(constraint(
                &v.to_string(),
                &field(member),
                &format!("Member must have value less than or equal to {max}"),
            )),
            _ => Ok(()),
        };
        range(
            retry.maximum_retry_attempts,
            "retryPolicy.maximumRetryAttempts",
            0,
            185,
        )?;
        range(
            retry.maximum_event_age_in_seconds,
            "retryPolicy.maximumEventAgeInSeconds",
            60,
            86400,
        )?;
    }
    Ok(())
}

fn arn_well_formed(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6 && parts[0] == "arn" && !parts[1].is_empty() && !parts[2].is_empty()
}

/// Whether a target can be put; the message is its `FailedEntries` error.
fn check_target(t: &Target) -> Result<(), String> {
    let id = &t.id;
    if !arn_well_formed(&t.arn) {
        return Err(format!(
            "Parameter {} is not valid. Reason: Provided Arn is not in correct format.",
            t.arn
        ));
    }
    if t.service() == Some("sqs")
        && t.arn.ends_with(".fifo")
        && !t.other.contains_key("SqsParameters")
    {
        return Err(format!(
            "Parameter(s) SqsParameters must be specified for target: {id}."
        ));
    }
    let forms = [
        t.input.is_some(),
        t.input_path.is_some(),
        t.input_transformer.is_some(),
    ];
    if forms.iter().filter(|&&f| f).count() > 1 {
        return Err(format!(
            "Only one of Input, InputPath, or InputTransformer must be provided for target {id}."
        ));
    }
    if let Some(input) = &t.input
        && let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(input)
    {
        return Err(format!("Input for target {id} is not valid JSON: {e}"));
    }
    if let Some(path) = &t.input_path {
        JsonPath::parse(path)
            .map_err(|e| format!("InputPath for target {id} is not valid: {e}"))?;
    }
    if let Some(dlq) = t.dead_letter_config.as_ref().and_then(|d| d.arn.as_deref())
        && !arn_well_formed(dlq)
    {
        return Err(format!(
            "Parameter {dlq} is not valid. Reason: Provided Arn is not in correct format."
        ));
    }
    if let Some(tr) = &t.input_transformer {
        if tr.input_paths_map.len() > 100 {
            return Err(format!(
                "InputPathsMap for target {id} has more than 100 variables."
            ));
        }
        for (name, path) in &tr.input_paths_map {
            let valid_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return Err(format!(
                    "InputPathsMap for target {id} has an invalid variable name {name}: it must match [A-Za-z0-9\\_\\-]+."
                ));
            }
            JsonPath::parse(path)
                .map_err(|e| format!("InputPathsMap for target {id}: variable {name}: {e}"))?;
        }
        for placeholder in transform::placeholders(&tr.input_template) {
            if !tr.input_paths_map.contains_key(placeholder)
                && !transform::PREDEFINED.contains(&placeholder)
            {
                return Err(format!(
                    "InputTemplate for target {id} contains invalid placeholder {placeholder}."
                ));
            }
        }
    }
    Ok(())
}
