//! EventBridge buses and rules, raw and from SAM `EventBridgeRule` / `CloudWatchEvent` events.

use super::Builder;
use crate::error::TemplateError;
use crate::intrinsics::RawResource;
use crate::model::{EventBus, Rule, RuleTarget};
use crate::names;
use crate::props::Props;
use serde_json::Value as J;

impl Builder<'_, '_> {
    pub(super) fn event_bus(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        // Resolved for its references only: a bus has nothing else devstack needs.
        self.r.properties(res)?;
        self.stack.event_buses.push(EventBus {
            logical_id: res.id.clone(),
            name: ident.ref_value.clone(),
            arn: ident.attr("Arn").unwrap_or_default().into(),
        });
        Ok(())
    }

    pub(super) fn rule(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let id = res.id.as_str();
        if p.has("ScheduleExpression") {
            self.warn(
                id,
                "ScheduleExpression is not emulated: scheduled rules never fire locally",
            );
        }
        let mut targets = Vec::new();
        for target in p.list("Targets")? {
            targets.push(self.target(id, &target)?);
        }
        self.stack.rules.push(Rule {
            logical_id: id.into(),
            name: ident.ref_value.clone(),
            arn: ident.attr("Arn").unwrap_or_default().into(),
            bus: bus_name(&p)?,
            pattern: pattern(&p, "EventPattern")?,
            enabled: p.text_or("State", "ENABLED")? != "DISABLED",
            targets,
        });
        Ok(())
    }

    /// The rule SAM generates for an `EventBridgeRule` / `CloudWatchEvent` event of a function
    /// or state machine: logical id `{owner}{event}`, named `{stack}-{owner}{event}` unless
    /// `RuleName` says otherwise, with one target at `target_arn`.
    pub(super) fn sam_event_rule(
        &mut self,
        owner: &str,
        event: &str,
        p: &Props,
        target_arn: &str,
        target_suffix: &str,
    ) -> Result<(), TemplateError> {
        let logical_id = format!("{owner}{event}");
        let name = match p.text("RuleName")? {
            Some(name) => name,
            None => names::default_name(&self.r.opts.stack_name, &logical_id),
        };
        let bus = bus_name(p)?;
        let enabled = match p.text("State")? {
            Some(state) => state != "DISABLED",
            None => p.bool_or("Enabled", true)?,
        };
        let target_props = p.child_or_empty("Target")?;
        let target_id = target_props.text_or("Id", &format!("{logical_id}{target_suffix}"))?;
        let mut target = self.target_settings(owner, p, target_id, target_arn.into())?;
        if p.child_or_empty("DeadLetterConfig")?.has("Type") {
            self.warn(
                owner,
                format!(
                    "event {event}: DeadLetterConfig.Type (a queue SAM creates) is not emulated; \
                     give DeadLetterConfig.Arn instead"
                ),
            );
            target.dead_letter_arn = None;
        }
        self.stack.rules.push(Rule {
            arn: self.r.arns.rule(&bus, &name),
            logical_id,
            name,
            bus,
            pattern: pattern(p, "Pattern")?,
            enabled,
            targets: vec![target],
        });
        Ok(())
    }

    /// A raw rule's target.
    fn target(&mut self, rule: &str, t: &Props) -> Result<RuleTarget, TemplateError> {
        let arn = t.required_text("Arn")?;
        match names::arn_service(&arn) {
            Some("lambda" | "sqs" | "states" | "events") => {}
            service => self.warn(
                rule,
                format!(
                    "target {arn} is not emulated ({} targets receive nothing locally)",
                    service.unwrap_or("unknown")
                ),
            ),
        }
        let id = t.required_text("Id")?;
        self.target_settings(rule, t, id, arn)
    }

    /// Input, dead-letter and retry settings, which raw targets and SAM events share.
    fn target_settings(
        &mut self,
        owner: &str,
        t: &Props,
        id: String,
        arn: String,
    ) -> Result<RuleTarget, TemplateError> {
        if t.has("InputTransformer") {
            self.warn(
                owner,
                format!("target {id}: InputTransformer is not emulated: the target receives the whole event"),
            );
        }
        // `Input` is JSON text; a mapping written inline is serialised to it.
        let input = match t.get("Input") {
            None => None,
            Some(J::Object(_) | J::Array(_)) => t.get("Input").map(J::to_string),
            Some(_) => t.text("Input")?,
        };
        let retry = t.child_or_empty("RetryPolicy")?;
        Ok(RuleTarget {
            id,
            arn,
            input,
            input_path: t.text("InputPath")?,
            dead_letter_arn: t.child_or_empty("DeadLetterConfig")?.text("Arn")?,
            max_retry_attempts: retry.u32("MaximumRetryAttempts")?,
            max_event_age_secs: retry.u32("MaximumEventAgeInSeconds")?,
        })
    }
}

/// `EventBusName` (a name or ARN) as a bus name; `default` when absent.
fn bus_name(p: &Props) -> Result<String, TemplateError> {
    Ok(p.text("EventBusName")?.map_or_else(
        || "default".into(),
        |b| names::event_bus_name(&b).to_owned(),
    ))
}

/// An event pattern: a mapping, or its JSON text.
fn pattern(p: &Props, key: &str) -> Result<J, TemplateError> {
    match p.get(key) {
        None => Ok(J::Null),
        Some(J::String(json)) => {
            serde_json::from_str(json).map_err(|e| p.fail(key, format!("is not valid JSON: {e}")))
        }
        Some(J::Object(pattern)) => Ok(J::Object(pattern.clone())),
        Some(other) => Err(p.fail(key, format!("must be a mapping, got {other}"))),
    }
}
