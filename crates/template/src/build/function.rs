//! Lambda functions (SAM and raw), their SAM `Events`, and event source mappings.

use super::Builder;
use super::api::HttpEvent;
use crate::error::TemplateError;
use crate::identity::IdentityKind;
use crate::intrinsics::RawResource;
use crate::model::{Code, EventSourceMapping, Function};
use crate::names;
use crate::props::Props;
use crate::yaml_text;
use std::collections::BTreeMap;

impl Builder<'_, '_> {
    pub(super) fn function(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let sam = res.ty == "AWS::Serverless::Function";
        let id = res.id.as_str();

        let code = self.code(res, &p, sam)?;
        let runtime = p.text("Runtime")?;
        if let Some(rt) = &runtime
            && !rt.starts_with("provided")
        {
            self.warn(
                id,
                format!(
                    "Runtime {rt} is not emulated: devstack runs native binaries \
                     (provided.al2023 / provided.al2)"
                ),
            );
        }
        if p.text("PackageType")?.as_deref() == Some("Image") || p.has("ImageUri") {
            self.warn(
                id,
                "container image functions are not emulated: devstack runs native binaries",
            );
        }
        if !p.texts("Layers")?.is_empty() {
            self.warn(
                id,
                "Layers are not emulated: devstack runs the function binary without them",
            );
        }
        if let Some(snap) = p.child("SnapStart")?
            && snap.text_or("ApplyOn", "None")? != "None"
        {
            self.warn(id, "SnapStart is not emulated");
        }
        if p.has("FunctionUrlConfig") {
            self.warn(
                id,
                "FunctionUrlConfig is not emulated: the function gets no URL",
            );
        }
        if p.get("FileSystemConfigs")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            self.warn(id, "FileSystemConfigs (EFS mounts) are not emulated");
        }
        for key in ["DeadLetterQueue", "EventInvokeConfig"] {
            if p.has(key) {
                self.warn(
                    id,
                    format!("{key} is not emulated: asynchronous invocations are not retried or redirected"),
                );
            }
        }

        let mut environment = BTreeMap::new();
        if let Some(vars) = p.child_or_empty("Environment")?.child("Variables")? {
            for (name, value) in vars.obj {
                let text = crate::json_text(value).ok_or_else(|| {
                    vars.fail(
                        name,
                        format!("must be a string, number or boolean, got {value}"),
                    )
                })?;
                environment.insert(name.clone(), text);
            }
        }
        let logging = p.child_or_empty("LoggingConfig")?;
        let alias = match &ident.kind {
            IdentityKind::Function { alias } => alias.clone(),
            _ => None,
        };
        let arn = ident.attr("Arn").unwrap_or_default().to_owned();
        if sam {
            // SAM points event sources at the alias when there is one.
            let target = alias
                .as_ref()
                .map_or_else(|| arn.clone(), |a| format!("{arn}:{a}"));
            self.function_events(id, &p, &target)?;
        }
        self.stack.functions.push(Function {
            logical_id: id.into(),
            name: ident.ref_value.clone(),
            arn,
            code,
            handler: p.text("Handler")?,
            runtime,
            memory_mb: p.u32_or("MemorySize", 128)?,
            timeout_secs: p.u32_or("Timeout", 3)?,
            reserved_concurrency: p.u32("ReservedConcurrentExecutions")?,
            environment,
            log_format: logging.text("LogFormat")?,
            log_level: logging.text("ApplicationLogLevel")?,
            alias,
        });
        Ok(())
    }

    /// Where the executable comes from: SAM's `CodeUri` or raw `Code` as a local path (what
    /// `sam build` accepts), plus the build metadata.
    fn code(&mut self, res: &RawResource, p: &Props, sam: bool) -> Result<Code, TemplateError> {
        let id = res.id.as_str();
        let key = if sam { "CodeUri" } else { "Code" };
        let code_uri = match p.get(key) {
            None => None,
            Some(serde_json::Value::String(path)) => Some(self.r.opts.base_dir.join(path)),
            Some(_) => {
                let code = p.child_or_empty(key)?;
                if code.has("ZipFile") {
                    self.warn(
                        id,
                        "inline code (Code.ZipFile) is not emulated: devstack runs native binaries",
                    );
                } else {
                    self.warn(
                        id,
                        format!(
                            "{key} in S3 is not emulated: devstack builds and runs local code only"
                        ),
                    );
                }
                None
            }
        };
        if sam && p.has("InlineCode") {
            self.warn(
                id,
                "InlineCode is not emulated: devstack runs native binaries",
            );
        }
        let metadata = &res.metadata;
        Ok(Code {
            code_uri,
            build_method: metadata.get("BuildMethod").and_then(yaml_text),
            binary: metadata
                .get("BuildProperties")
                .and_then(|b| b.get("Binary"))
                .and_then(yaml_text),
        })
    }

    /// A SAM function's `Events`. `target` is the ARN event sources invoke.
    fn function_events(&mut self, id: &str, p: &Props, target: &str) -> Result<(), TemplateError> {
        let Some(events) = p.child("Events")? else {
            return Ok(());
        };
        for (name, event) in events.children()? {
            let ty = event.required_text("Type")?;
            let ep = event.child_or_empty("Properties")?;
            match ty.as_str() {
                "SQS" => {
                    let mapping = self.mapping(id, id, &ep, "Queue")?;
                    self.stack.event_source_mappings.push(mapping);
                }
                "HttpApi" => {
                    let auth = ep.child_or_empty("Auth")?;
                    self.http_events.push(HttpEvent {
                        function: id.into(),
                        path: ep.path().to_owned(),
                        api_id: ep.text("ApiId")?,
                        method: ep.text("Method")?,
                        route_path: ep.text("Path")?,
                        authorizer: auth.text("Authorizer")?,
                        scopes: auth.texts("AuthorizationScopes")?,
                        payload_format: ep.text_or("PayloadFormatVersion", "2.0")?,
                        throttle: match ep.child("RouteSettings")? {
                            Some(settings) => super::throttle(&settings)?,
                            None => None,
                        },
                    });
                }
                "EventBridgeRule" | "CloudWatchEvent" => {
                    self.sam_event_rule(id, name, &ep, target, "LambdaTarget")?;
                }
                other => self.warn(
                    id,
                    format!(
                        "event {name} of type {other} is not emulated: nothing invokes the \
                         function from it"
                    ),
                ),
            }
        }
        Ok(())
    }

    /// An event source mapping from a SAM `SQS` event or a raw `AWS::Lambda::EventSourceMapping`
    /// (`owner` is the resource the properties belong to; `arn_key` names the queue ARN).
    fn mapping(
        &mut self,
        owner: &str,
        function: &str,
        p: &Props,
        arn_key: &str,
    ) -> Result<EventSourceMapping, TemplateError> {
        if p.has("FilterCriteria") {
            self.warn(
                owner,
                "FilterCriteria is not emulated: every message invokes the function",
            );
        }
        Ok(EventSourceMapping {
            function: function.into(),
            queue_arn: p.required_text(arn_key)?,
            batch_size: p.u32_or("BatchSize", 10)?,
            max_batching_window_secs: p.u32_or("MaximumBatchingWindowInSeconds", 0)?,
            report_batch_item_failures: p
                .texts("FunctionResponseTypes")?
                .iter()
                .any(|t| t == "ReportBatchItemFailures"),
            max_concurrency: p
                .child_or_empty("ScalingConfig")?
                .u32("MaximumConcurrency")?,
            enabled: p.bool_or("Enabled", true)?,
        })
    }

    pub(super) fn event_source_mapping(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let id = res.id.as_str();
        let source = p.text("EventSourceArn")?.unwrap_or_default();
        if names::arn_service(&source) != Some("sqs") {
            self.warn(
                id,
                format!(
                    "event source {source:?} is not emulated: only SQS queues invoke functions locally"
                ),
            );
            return Ok(());
        }
        let reference = p.required_text("FunctionName")?;
        let Some(function) = self.r.function_by_reference(&reference)? else {
            self.warn(
                id,
                format!(
                    "FunctionName {reference} is not a function of the template: the mapping is \
                     not emulated"
                ),
            );
            return Ok(());
        };
        let mapping = self.mapping(id, &function, &p, "EventSourceArn")?;
        self.stack.event_source_mappings.push(mapping);
        Ok(())
    }

    /// A mapping whose queue the template does not declare never receives anything locally.
    pub(super) fn check_mapped_queues(&mut self) {
        let unknown: Vec<(String, String)> = self
            .stack
            .event_source_mappings
            .iter()
            .filter(|m| !self.stack.queues.iter().any(|q| q.arn == m.queue_arn))
            .map(|m| (m.function.clone(), m.queue_arn.clone()))
            .collect();
        for (function, queue) in unknown {
            self.warn(
                &function,
                format!("queue {queue} is not a queue of the template: nothing will be delivered from it"),
            );
        }
    }
}
