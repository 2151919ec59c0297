//! Intrinsic functions, pseudo parameters and conditions: turns the YAML of a property into a
//! plain JSON value with every `!Ref`, `!GetAtt`, `!Sub`... replaced by its local value.
//!
//! Resolution is lazy and memoised: resolving `!GetAtt Bus.Arn` computes the bus's identity
//! (which may resolve its `Name` property, which may reference a parameter...) on first use.
//! That is what lets a function's environment reference the HTTP API while the API's routes
//! reference the function, as CloudFormation allows, and it detects real cycles.

use crate::error::{Problem, TemplateError, UnknownAttribute};
use crate::identity::{self, Identity, IdentityKind};
use crate::model::ResolveOptions;
use crate::names::Arns;
use crate::rewrite::Rewriter;
use crate::{json_text, yaml_text};
use serde_json::Value as J;
use serde_yaml::{Mapping, Value};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

pub(crate) type Obj = serde_json::Map<String, J>;

/// What a value being resolved belongs to; errors name it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owner<'a> {
    Resource(&'a str),
    Output(&'a str),
    Condition(&'a str),
}

/// Where in the template a value is being resolved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cx<'a> {
    pub owner: Owner<'a>,
    /// Property path inside the owner, e.g. `Environment.Variables.X`.
    pub path: &'a str,
}

impl<'a> Cx<'a> {
    pub fn resource(id: &'a str, path: &'a str) -> Self {
        Self {
            owner: Owner::Resource(id),
            path,
        }
    }

    fn at<'b>(&self, path: &'b str) -> Cx<'b>
    where
        'a: 'b,
    {
        Cx {
            owner: self.owner,
            path,
        }
    }

    pub fn fail(&self, problem: Problem) -> TemplateError {
        match self.owner {
            Owner::Resource(resource) => TemplateError::Resource {
                resource: resource.into(),
                property: self.path.into(),
                problem,
            },
            Owner::Output(output) => TemplateError::Output {
                output: output.into(),
                property: self.path.into(),
                problem,
            },
            Owner::Condition(condition) => TemplateError::Condition {
                condition: condition.into(),
                problem,
            },
        }
    }

    fn malformed(&self, expr: &str, reason: impl Into<String>) -> TemplateError {
        self.fail(Problem::Malformed {
            expr: expr.into(),
            reason: reason.into(),
        })
    }
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// A resource of the stack: its declaration with SAM globals merged in.
#[derive(Debug, Clone)]
pub(crate) struct RawResource {
    pub id: String,
    pub ty: String,
    /// Always a mapping.
    pub properties: Value,
    pub metadata: Value,
}

impl RawResource {
    pub fn has_property(&self, key: &str) -> bool {
        self.properties.get(key).is_some_and(|v| !v.is_null())
    }
}

pub(crate) struct Resolver<'t> {
    pub opts: &'t ResolveOptions,
    pub arns: Arns<'t>,
    root: &'t Value,
    params: BTreeMap<String, J>,
    /// `None` while a condition is being evaluated (to detect cycles).
    conditions: RefCell<BTreeMap<String, Option<bool>>>,
    resources: Vec<RawResource>,
    index: BTreeMap<String, usize>,
    /// Resources left out by a false condition, with that condition.
    omitted: BTreeMap<String, String>,
    identities: RefCell<BTreeMap<String, Rc<Identity>>>,
    in_progress: RefCell<Vec<String>>,
    rewriter: Rewriter,
}

impl<'t> Resolver<'t> {
    pub fn new(opts: &'t ResolveOptions, root: &'t Value, params: BTreeMap<String, J>) -> Self {
        Self {
            opts,
            arns: Arns {
                region: &opts.region,
                account: &opts.account_id,
            },
            root,
            params,
            conditions: RefCell::default(),
            resources: Vec::new(),
            index: BTreeMap::new(),
            omitted: BTreeMap::new(),
            identities: RefCell::default(),
            in_progress: RefCell::default(),
            rewriter: Rewriter::default(),
        }
    }

    /// Evaluates every declared condition, once each.
    pub fn evaluate_conditions(&self) -> Result<(), TemplateError> {
        let names: Vec<String> = self
            .root
            .get("Conditions")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| yaml_text(k))
            .collect();
        for name in names {
            let cx = Cx {
                owner: Owner::Condition(&name),
                path: "",
            };
            self.condition(&name, "the Conditions section", cx)?;
        }
        Ok(())
    }

    /// Installs the stack's resources (conditions applied) and computes the endpoint
    /// rewriting table, which needs the identities of the APIs and user pools.
    pub fn set_resources(
        &mut self,
        resources: Vec<RawResource>,
        omitted: BTreeMap<String, String>,
    ) -> Result<(), TemplateError> {
        self.index = resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        self.resources = resources;
        self.omitted = omitted;
        let mut rewriter = Rewriter::new(&self.opts.endpoints);
        let endpoint_types = [
            "AWS::ApiGatewayV2::Api",
            "AWS::Serverless::HttpApi",
            "AWS::Cognito::UserPool",
        ];
        for res in &self.resources {
            if !endpoint_types.contains(&res.ty.as_str()) {
                continue;
            }
            let ident = self.identity_of(res)?;
            match ident.kind {
                IdentityKind::HttpApi => rewriter.http_apis.push(ident.ref_value.clone()),
                IdentityKind::WebSocketApi => rewriter.websocket_apis.push(ident.ref_value.clone()),
                IdentityKind::UserPool => rewriter.user_pools.push(ident.ref_value.clone()),
                _ => {}
            }
        }
        self.rewriter = rewriter;
        Ok(())
    }

    pub fn resources(&self) -> &[RawResource] {
        &self.resources
    }

    pub fn rewriter(&self) -> &Rewriter {
        &self.rewriter
    }

    /// The value of a condition. `expr` describes the reference, for the error when the
    /// condition does not exist.
    pub fn condition(&self, name: &str, expr: &str, cx: Cx) -> Result<bool, TemplateError> {
        match self.conditions.borrow().get(name) {
            Some(Some(value)) => return Ok(*value),
            Some(None) => {
                return Err(cx.fail(Problem::Cycle {
                    chain: format!("condition {name} depends on itself"),
                }));
            }
            None => {}
        }
        let Some(def) = self
            .root
            .get("Conditions")
            .and_then(Value::as_mapping)
            .and_then(|m| m.get(name))
        else {
            return Err(cx.fail(Problem::UnknownCondition {
                expr: expr.into(),
                condition: name.into(),
            }));
        };
        self.conditions.borrow_mut().insert(name.into(), None);
        let own = Cx {
            owner: Owner::Condition(name),
            path: "",
        };
        let value = self.condition_operand(def, "the condition", own)?;
        self.conditions
            .borrow_mut()
            .insert(name.into(), Some(value));
        Ok(value)
    }

    /// An operand of `!And`/`!Or`/`!Not` (or a condition's definition): a condition function,
    /// `!Condition X`, or the long form `{Condition: X}`.
    fn condition_operand(&self, v: &Value, expr: &str, cx: Cx) -> Result<bool, TemplateError> {
        if let Value::Mapping(m) = v
            && m.len() == 1
            && let Some(name) = m.get("Condition")
        {
            let name = name
                .as_str()
                .ok_or_else(|| cx.malformed("Condition", "takes a condition name"))?;
            return self.condition(name, "Condition", cx);
        }
        match self.eval(v, cx)? {
            Some(J::Bool(b)) => Ok(b),
            Some(J::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
            _ => Err(cx.malformed(expr, "needs a condition function or a condition name")),
        }
    }

    /// The fully resolved `Properties` of a resource, AWS endpoint forms rewritten to local
    /// ones. A property that resolves to `AWS::NoValue` is absent.
    pub fn properties(&self, res: &RawResource) -> Result<Obj, TemplateError> {
        let mut out = Obj::new();
        for (k, v) in res.properties.as_mapping().into_iter().flatten() {
            let key = yaml_text(k).unwrap_or_default();
            if let Some(mut value) = self.eval(v, Cx::resource(&res.id, &key))? {
                self.rewriter.rewrite(&mut value);
                out.insert(key, value);
            }
        }
        Ok(out)
    }

    /// One property, resolved (not rewritten): for names and ids.
    pub fn property(&self, res: &RawResource, key: &str) -> Result<Option<J>, TemplateError> {
        match res.properties.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.eval(v, Cx::resource(&res.id, key)),
        }
    }

    /// One scalar property as text.
    pub fn text_property(
        &self,
        res: &RawResource,
        key: &str,
    ) -> Result<Option<String>, TemplateError> {
        match self.property(res, key)? {
            None | Some(J::Null) => Ok(None),
            Some(v) => json_text(&v).map(Some).ok_or_else(|| {
                Cx::resource(&res.id, key).fail(Problem::Invalid("must be a string".into()))
            }),
        }
    }

    /// Resolves a value in a context other than resource properties (outputs, Metadata).
    pub fn eval_rewritten(&self, v: &Value, cx: Cx) -> Result<Option<J>, TemplateError> {
        let mut value = self.eval(v, cx)?;
        if let Some(value) = &mut value {
            self.rewriter.rewrite(value);
        }
        Ok(value)
    }

    /// Resolves a value. `None` is `AWS::NoValue`: the caller drops the property or item.
    pub fn eval(&self, v: &Value, cx: Cx) -> Result<Option<J>, TemplateError> {
        Ok(Some(match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => yaml_number(n),
            Value::String(s) => J::String(s.clone()),
            Value::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{}[{i}]", cx.path);
                    out.extend(self.eval(item, cx.at(&path))?);
                }
                J::Array(out)
            }
            Value::Mapping(m) => {
                if let Some((function, arg)) = long_form(m) {
                    return self.intrinsic(function, arg, cx);
                }
                let mut out = Obj::new();
                for (k, v) in m {
                    let key = yaml_text(k).ok_or_else(|| {
                        cx.fail(Problem::Invalid("has a key that is not a scalar".into()))
                    })?;
                    let path = join_path(cx.path, &key);
                    if let Some(value) = self.eval(v, cx.at(&path))? {
                        out.insert(key, value);
                    }
                }
                J::Object(out)
            }
            Value::Tagged(t) => {
                let tag = t.tag.to_string();
                let function = tag.trim_start_matches('!');
                return self.intrinsic(function, &t.value, cx);
            }
        }))
    }

    /// `function` without its `Fn::` prefix or `!`.
    fn intrinsic(&self, function: &str, arg: &Value, cx: Cx) -> Result<Option<J>, TemplateError> {
        match function {
            "Ref" => {
                let name = arg
                    .as_str()
                    .ok_or_else(|| cx.malformed("!Ref", "takes a logical id or parameter name"))?;
                self.reference(name, cx)
            }
            "GetAtt" => self.get_att(arg, cx).map(Some),
            "Sub" => self.sub(arg, cx).map(|s| Some(J::String(s))),
            "Join" => {
                let [delimiter, list] = args(arg, "!Join", cx)?;
                let delimiter = self.eval_text(delimiter, "!Join", cx)?;
                let items = self.eval_list(list, "!Join", cx)?;
                let texts = items
                    .iter()
                    .map(|item| {
                        json_text(item)
                            .ok_or_else(|| cx.malformed("!Join", "can only join strings"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Some(J::String(texts.join(&delimiter))))
            }
            "Select" => {
                let [index, list] = args(arg, "!Select", cx)?;
                let index = self.eval_text(index, "!Select", cx)?;
                let index: usize = index.trim().parse().map_err(|_| {
                    cx.malformed("!Select", format!("index {index:?} is not a number"))
                })?;
                let items = self.eval_list(list, "!Select", cx)?;
                let len = items.len();
                items.into_iter().nth(index).map(Some).ok_or_else(|| {
                    cx.malformed(
                        "!Select",
                        format!("index {index} is out of range for a list of {len}"),
                    )
                })
            }
            "Split" => {
                let [delimiter, source] = args(arg, "!Split", cx)?;
                let delimiter = self.eval_text(delimiter, "!Split", cx)?;
                if delimiter.is_empty() {
                    return Err(cx.malformed("!Split", "the delimiter is empty"));
                }
                let source = self.eval_text(source, "!Split", cx)?;
                Ok(Some(J::Array(
                    source
                        .split(delimiter.as_str())
                        .map(|s| J::String(s.into()))
                        .collect(),
                )))
            }
            "If" => {
                let [name, then, otherwise] = args(arg, "!If", cx)?;
                let name = name
                    .as_str()
                    .ok_or_else(|| cx.malformed("!If", "takes a condition name first"))?;
                let branch = if self.condition(name, "!If", cx)? {
                    then
                } else {
                    otherwise
                };
                self.eval(branch, cx)
            }
            "Equals" => {
                let [a, b] = args(arg, "!Equals", cx)?;
                let a = self.eval(a, cx)?;
                let b = self.eval(b, cx)?;
                let equal = match (&a, &b) {
                    (Some(a), Some(b)) => match (json_text(a), json_text(b)) {
                        (Some(a), Some(b)) => a == b,
                        _ => a == b,
                    },
                    _ => a == b,
                };
                Ok(Some(J::Bool(equal)))
            }
            "Not" => {
                let [operand] = args(arg, "!Not", cx)?;
                Ok(Some(J::Bool(!self.condition_operand(operand, "!Not", cx)?)))
            }
            "And" | "Or" => {
                let expr = format!("!{function}");
                let operands = arg
                    .as_sequence()
                    .filter(|s| (2..=10).contains(&s.len()))
                    .ok_or_else(|| cx.malformed(&expr, "takes 2 to 10 conditions"))?;
                let mut values = Vec::with_capacity(operands.len());
                for operand in operands {
                    values.push(self.condition_operand(operand, &expr, cx)?);
                }
                Ok(Some(J::Bool(if function == "And" {
                    values.iter().all(|v| *v)
                } else {
                    values.iter().any(|v| *v)
                })))
            }
            "Condition" => {
                let name = arg
                    .as_str()
                    .ok_or_else(|| cx.malformed("!Condition", "takes a condition name"))?;
                Ok(Some(J::Bool(self.condition(name, "!Condition", cx)?)))
            }
            "FindInMap" => self.find_in_map(arg, cx),
            "Base64" => {
                let text = self.eval_text(arg, "!Base64", cx)?;
                Ok(Some(J::String(base64(text.as_bytes()))))
            }
            "GetAZs" => {
                let region = self.eval_text(arg, "!GetAZs", cx)?;
                let region = if region.is_empty() {
                    self.opts.region.as_str()
                } else {
                    region.as_str()
                };
                // Three zones, named as AWS names them; nothing local depends on zones.
                Ok(Some(J::Array(
                    ["a", "b", "c"]
                        .iter()
                        .map(|z| J::String(format!("{region}{z}")))
                        .collect(),
                )))
            }
            other => Err(cx.fail(Problem::Unsupported {
                function: format!("Fn::{other}"),
            })),
        }
    }

    fn eval_text(&self, v: &Value, expr: &str, cx: Cx) -> Result<String, TemplateError> {
        match self.eval(v, cx)? {
            Some(value) => json_text(&value)
                .ok_or_else(|| cx.malformed(expr, format!("needs a string, got {value}"))),
            None => Err(cx.malformed(expr, "needs a string, got AWS::NoValue")),
        }
    }

    fn eval_list(&self, v: &Value, expr: &str, cx: Cx) -> Result<Vec<J>, TemplateError> {
        match self.eval(v, cx)? {
            Some(J::Array(items)) => Ok(items),
            Some(other) => Err(cx.malformed(expr, format!("needs a list, got {other}"))),
            None => Err(cx.malformed(expr, "needs a list, got AWS::NoValue")),
        }
    }

    fn pseudo(&self, name: &str) -> Option<J> {
        let o = self.opts;
        Some(J::String(match name {
            "AWS::Region" => o.region.clone(),
            "AWS::AccountId" => o.account_id.clone(),
            "AWS::StackName" => o.stack_name.clone(),
            "AWS::StackId" => crate::names::stack_id(&o.region, &o.account_id, &o.stack_name),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            "AWS::NotificationARNs" => return Some(J::Array(Vec::new())),
            _ => return None,
        }))
    }

    /// `!Ref name`.
    fn reference(&self, name: &str, cx: Cx) -> Result<Option<J>, TemplateError> {
        let expr = format!("!Ref {name}");
        if name == "AWS::NoValue" {
            return Ok(None);
        }
        if let Some(v) = self.pseudo(name) {
            return Ok(Some(v));
        }
        if let Some(v) = self.params.get(name) {
            return Ok(Some(v.clone()));
        }
        if matches!(cx.owner, Owner::Condition(_)) {
            return Err(cx.fail(Problem::ConditionReference { expr }));
        }
        // SAM's `!Ref Function.Alias` / `!Ref Function.Version` (AutoPublishAlias).
        if let Some((function, suffix)) = name.split_once('.') {
            return self
                .sam_qualified_arn(function, suffix, &expr, cx)?
                .map(|arn| Some(J::String(arn)))
                .ok_or_else(|| cx.fail(Problem::UnknownName { expr }));
        }
        Ok(Some(J::String(
            self.identity(name, &expr, cx)?.ref_value.clone(),
        )))
    }

    /// `{function arn}:{alias}` for `.Alias`, `{function arn}:1` for `.Version`, when
    /// `function` is a SAM function with AutoPublishAlias; `None` when it is no function (an
    /// error when it is one without an alias).
    fn sam_qualified_arn(
        &self,
        function: &str,
        suffix: &str,
        expr: &str,
        cx: Cx,
    ) -> Result<Option<String>, TemplateError> {
        if !matches!(suffix, "Alias" | "Version") || !self.knows(function) {
            return Ok(None);
        }
        let ident = self.identity(function, expr, cx)?;
        let alias = match &ident.kind {
            IdentityKind::Function { alias: Some(alias) } => alias,
            IdentityKind::Function { alias: None } => {
                return Err(cx.malformed(expr, format!("{function} has no AutoPublishAlias")));
            }
            _ => return Ok(None),
        };
        let arn = ident.attr("Arn").unwrap_or_default();
        Ok(Some(if suffix == "Alias" {
            format!("{arn}:{alias}")
        } else {
            // SAM publishes numbered versions; locally there is only ever the first.
            format!("{arn}:1")
        }))
    }

    /// `!GetAtt Resource.Attribute` (string or list form).
    fn get_att(&self, arg: &Value, cx: Cx) -> Result<J, TemplateError> {
        let (resource, attribute) = match arg {
            Value::String(s) => s
                .split_once('.')
                .map(|(r, a)| (r.to_owned(), a.to_owned()))
                .ok_or_else(|| cx.malformed(&format!("!GetAtt {s}"), "needs Resource.Attribute"))?,
            Value::Sequence(items) if items.len() == 2 => {
                let resource = items[0].as_str().ok_or_else(|| {
                    cx.malformed("!GetAtt", "takes a logical id as its first item")
                })?;
                // The attribute name may itself be computed (`!Ref` of a parameter).
                let attribute = self.eval_text(&items[1], "!GetAtt", cx)?;
                (resource.to_owned(), attribute)
            }
            _ => {
                return Err(cx.malformed(
                    "!GetAtt",
                    "takes Resource.Attribute or [Resource, Attribute]",
                ));
            }
        };
        let expr = format!("!GetAtt {resource}.{attribute}");
        if matches!(cx.owner, Owner::Condition(_)) {
            return Err(cx.fail(Problem::ConditionReference { expr }));
        }
        self.attribute(&resource, &attribute, &expr, cx)
            .map(J::String)
    }

    fn attribute(
        &self,
        resource: &str,
        attribute: &str,
        expr: &str,
        cx: Cx,
    ) -> Result<String, TemplateError> {
        if let Some(arn) = self.sam_qualified_arn(resource, attribute, expr, cx)? {
            return Ok(arn);
        }
        let ident = self.identity(resource, expr, cx)?;
        if let Some(value) = ident.attr(attribute) {
            return Ok(value.to_owned());
        }
        if ident.open {
            return Ok(identity::fabricated_attribute(
                &self.arns, &ident, attribute,
            ));
        }
        Err(
            cx.fail(Problem::UnknownAttribute(Box::new(UnknownAttribute {
                expr: expr.into(),
                resource: resource.into(),
                resource_type: ident.ty.clone(),
                attribute: attribute.into(),
                known: ident
                    .attrs
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(", "),
            }))),
        )
    }

    /// Whether `id` names a resource of the template (omitted or SAM-generated ones included).
    fn knows(&self, id: &str) -> bool {
        self.index.contains_key(id)
            || self.omitted.contains_key(id)
            || self.implicit_identity(id).is_some()
    }

    /// The identity of a stack resource (for builders, which know it exists).
    pub fn identity_of(&self, res: &RawResource) -> Result<Rc<Identity>, TemplateError> {
        self.identity(
            &res.id,
            &format!("!Ref {}", res.id),
            Cx::resource(&res.id, ""),
        )
    }

    /// The identity (Ref value and attributes) of resource `id`; `expr` and `cx` describe the
    /// reference, for errors.
    pub fn identity(&self, id: &str, expr: &str, cx: Cx) -> Result<Rc<Identity>, TemplateError> {
        if let Some(ident) = self.identities.borrow().get(id) {
            return Ok(ident.clone());
        }
        let Some(&i) = self.index.get(id) else {
            if let Some(condition) = self.omitted.get(id) {
                return Err(cx.fail(Problem::OmittedResource {
                    expr: expr.into(),
                    condition: condition.clone(),
                }));
            }
            if let Some(ident) = self.implicit_identity(id) {
                let ident = Rc::new(ident);
                self.identities
                    .borrow_mut()
                    .insert(id.into(), ident.clone());
                return Ok(ident);
            }
            return Err(cx.fail(Problem::UnknownName { expr: expr.into() }));
        };
        if let Some(pos) = self.in_progress.borrow().iter().position(|r| r == id) {
            let mut chain = self.in_progress.borrow()[pos..].to_vec();
            chain.push(id.into());
            return Err(cx.fail(Problem::Cycle {
                chain: chain.join(" -> "),
            }));
        }
        self.in_progress.borrow_mut().push(id.into());
        let computed = identity::compute(self, &self.resources[i]);
        self.in_progress.borrow_mut().pop();
        let ident = Rc::new(computed?);
        self.identities
            .borrow_mut()
            .insert(id.into(), ident.clone());
        Ok(ident)
    }

    /// Resources SAM generates that templates commonly reference: `{Function}Role` and
    /// `{StateMachine}Role` when the resource names no `Role`, the `ServerlessRestApi` of
    /// `Api` events (a REST API: not emulated, and each such event is warned about, but the
    /// classic `!Sub "https://${ServerlessRestApi}.execute-api..."` output must resolve), and
    /// the CodeDeploy `ServerlessDeploymentApplication` and `{Function}DeploymentGroup` of
    /// functions with gradual deployments (not emulated: locally a function has one version;
    /// a deployment hook's policy names them).
    fn implicit_identity(&self, id: &str) -> Option<Identity> {
        const APPLICATION: &str = "ServerlessDeploymentApplication";
        if id == APPLICATION {
            let used = self.resources.iter().any(shifts_traffic);
            return used.then(|| {
                identity::implicit(&self.opts.stack_name, "AWS::CodeDeploy::Application", id)
            });
        }
        if let Some(base) = id.strip_suffix("DeploymentGroup")
            && let Some(&i) = self.index.get(base)
            && shifts_traffic(&self.resources[i])
        {
            return Some(identity::implicit(
                &self.opts.stack_name,
                "AWS::CodeDeploy::DeploymentGroup",
                id,
            ));
        }
        if id == "ServerlessRestApi" {
            let used = self.resources.iter().any(|r| {
                r.ty == "AWS::Serverless::Function"
                    && r.properties
                        .get("Events")
                        .and_then(Value::as_mapping)
                        .is_some_and(|events| {
                            events.values().any(|e| {
                                e.get("Type").and_then(Value::as_str) == Some("Api")
                                    && e.get("Properties")
                                        .and_then(|p| p.get("RestApiId"))
                                        .is_none()
                            })
                        })
            });
            return used.then(|| identity::implicit_rest_api(id));
        }
        let base = id.strip_suffix("Role")?;
        let res = &self.resources[*self.index.get(base)?];
        let generates_role = matches!(
            res.ty.as_str(),
            "AWS::Serverless::Function" | "AWS::Serverless::StateMachine"
        ) && !res.has_property("Role");
        generates_role.then(|| identity::role(&self.arns, &self.opts.stack_name, id))
    }

    /// The logical id of the template's function that a Lambda reference (name, ARN, alias
    /// ARN, API Gateway invocation URI) designates.
    pub fn function_by_reference(&self, reference: &str) -> Result<Option<String>, TemplateError> {
        let Some((name, _qualifier)) = crate::names::lambda_function_name(reference) else {
            return Ok(None);
        };
        for res in &self.resources {
            if matches!(
                res.ty.as_str(),
                "AWS::Serverless::Function" | "AWS::Lambda::Function"
            ) && self.identity_of(res)?.ref_value == name
            {
                return Ok(Some(res.id.clone()));
            }
        }
        Ok(None)
    }

    /// `!Sub string` or `!Sub [string, {variables}]`.
    fn sub(&self, arg: &Value, cx: Cx) -> Result<String, TemplateError> {
        let (template, vars) = match arg {
            Value::String(s) => (s.as_str(), BTreeMap::new()),
            Value::Sequence(items) if items.len() == 2 => {
                let template = items[0]
                    .as_str()
                    .ok_or_else(|| cx.malformed("!Sub", "takes a string first"))?;
                let map = items[1]
                    .as_mapping()
                    .ok_or_else(|| cx.malformed("!Sub", "takes a mapping of variables second"))?;
                let mut vars = BTreeMap::new();
                for (k, v) in map {
                    let name = yaml_text(k).unwrap_or_default();
                    let value = self.eval_text(v, &format!("!Sub variable {name}"), cx)?;
                    vars.insert(name, value);
                }
                (template, vars)
            }
            _ => {
                return Err(cx.malformed("!Sub", "takes a string or [string, {variables}]"));
            }
        };
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            // `${!Literal}` is the escape for a literal `${Literal}`.
            if let Some(literal) = after.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let Some(end) = after.find('}') else {
                // An unterminated `${` is plain text, as in CloudFormation.
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            out.push_str(&self.sub_variable(&after[..end], &vars, cx)?);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn sub_variable(
        &self,
        name: &str,
        vars: &BTreeMap<String, String>,
        cx: Cx,
    ) -> Result<String, TemplateError> {
        let expr = format!("${{{name}}} in !Sub");
        if let Some(v) = vars.get(name) {
            return Ok(v.clone());
        }
        let unknown = || {
            cx.fail(Problem::UnknownSubVariable {
                variable: name.into(),
            })
        };
        if name.starts_with("AWS::") {
            return match self.pseudo(name) {
                Some(J::String(s)) => Ok(s),
                Some(_) => Err(cx.malformed(&expr, "is a list; !Sub needs a string")),
                None => Err(unknown()),
            };
        }
        if let Some(v) = self.params.get(name) {
            return json_text(v).ok_or_else(|| {
                cx.malformed(
                    &expr,
                    "is a list parameter; !Sub needs a string (use !Join)",
                )
            });
        }
        if matches!(cx.owner, Owner::Condition(_)) {
            return Err(cx.fail(Problem::ConditionReference { expr }));
        }
        match name.split_once('.') {
            Some((resource, attribute)) if self.knows(resource) => {
                self.attribute(resource, attribute, &expr, cx)
            }
            None if self.knows(name) => Ok(self.identity(name, &expr, cx)?.ref_value.clone()),
            _ => Err(unknown()),
        }
    }

    /// `!FindInMap [Map, TopKey, SecondKey]`, with the optional `{DefaultValue: x}` of the
    /// language extensions.
    fn find_in_map(&self, arg: &Value, cx: Cx) -> Result<Option<J>, TemplateError> {
        let expr = "!FindInMap";
        let items = arg
            .as_sequence()
            .filter(|s| s.len() == 3 || s.len() == 4)
            .ok_or_else(|| cx.malformed(expr, "takes [MapName, TopLevelKey, SecondLevelKey]"))?;
        let mut keys = Vec::with_capacity(3);
        for item in &items[..3] {
            keys.push(self.eval_text(item, expr, cx)?);
        }
        let found = self
            .root
            .get("Mappings")
            .and_then(|m| lookup(m, &keys[0]))
            .and_then(|m| lookup(m, &keys[1]))
            .and_then(|m| lookup(m, &keys[2]));
        match (found, items.get(3)) {
            (Some(v), _) => self.eval(v, cx),
            (None, Some(default)) => match default.get("DefaultValue") {
                Some(v) => self.eval(v, cx),
                None => Err(cx.malformed(expr, "takes {DefaultValue: x} as its fourth item")),
            },
            (None, None) => Err(cx.fail(Problem::UnknownMapping {
                expr: expr.into(),
                path: keys.join("."),
            })),
        }
    }
}

/// The single `Ref` / `Fn::*` key of a long-form intrinsic, without the `Fn::` prefix.
fn long_form(m: &Mapping) -> Option<(&str, &Value)> {
    if m.len() != 1 {
        return None;
    }
    let (k, v) = m.iter().next()?;
    let k = k.as_str()?;
    if k == "Ref" {
        return Some((k, v));
    }
    k.strip_prefix("Fn::").map(|f| (f, v))
}

/// The items of an intrinsic that takes exactly `N` arguments.
fn args<'v, const N: usize>(
    arg: &'v Value,
    expr: &str,
    cx: Cx,
) -> Result<&'v [Value; N], TemplateError> {
    arg.as_sequence()
        .and_then(|s| <&[Value; N]>::try_from(s.as_slice()).ok())
        .ok_or_else(|| cx.malformed(expr, format!("takes a list of {N} items")))
}

/// A mapping entry whose key reads as `key` (Mappings keys may be numbers).
fn lookup<'v>(m: &'v Value, key: &str) -> Option<&'v Value> {
    m.as_mapping()?
        .iter()
        .find(|(k, _)| yaml_text(k).as_deref() == Some(key))
        .map(|(_, v)| v)
}

fn yaml_number(n: &serde_yaml::Number) -> J {
    if let Some(i) = n.as_i64() {
        J::from(i)
    } else if let Some(u) = n.as_u64() {
        J::from(u)
    } else {
        n.as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| J::String(n.to_string()), J::Number)
    }
}

/// Standard base64 with padding (`Fn::Base64`).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A SAM function for which SAM generates a CodeDeploy deployment group (and the stack's
/// `ServerlessDeploymentApplication`): `AutoPublishAlias` plus a `DeploymentPreference` that is
/// not `Enabled: false`.
fn shifts_traffic(res: &RawResource) -> bool {
    let enabled = |p: &Value| match p.get("Enabled") {
        Some(Value::Bool(b)) => *b,
        Some(v) => yaml_text(v).is_none_or(|t| !t.eq_ignore_ascii_case("false")),
        None => true,
    };
    res.ty == "AWS::Serverless::Function"
        && res.has_property("AutoPublishAlias")
        && res
            .properties
            .get("DeploymentPreference")
            .is_some_and(enabled)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_pads() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"hello world"), "aGVsbG8gd29ybGQ=");
    }
}
