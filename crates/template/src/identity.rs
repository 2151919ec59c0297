//! What `!Ref` and `!GetAtt` yield for each resource type: local physical names, ids, ARNs
//! and endpoints.

use crate::error::TemplateError;
use crate::intrinsics::{RawResource, Resolver};
use crate::names::{self, Arns};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IdentityKind {
    /// A Lambda function, with SAM's `AutoPublishAlias`.
    Function {
        alias: Option<String>,
    },
    HttpApi,
    WebSocketApi,
    UserPool,
    Other,
}

#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub ty: String,
    /// What `!Ref` yields.
    pub ref_value: String,
    /// What `!GetAtt` yields, by attribute name.
    pub attrs: Vec<(&'static str, String)>,
    /// A type devstack does not model: any attribute yields a fabricated value rather than an
    /// error, since the resource itself is reported as not emulated.
    pub open: bool,
    pub kind: IdentityKind,
}

impl Identity {
    fn new(ty: &str, ref_value: String, attrs: Vec<(&'static str, String)>) -> Self {
        Self {
            ty: ty.into(),
            ref_value,
            attrs,
            open: false,
            kind: IdentityKind::Other,
        }
    }

    fn open(mut self) -> Self {
        self.open = true;
        self
    }

    fn kind(mut self, kind: IdentityKind) -> Self {
        self.kind = kind;
        self
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The role SAM generates for a function or state machine without `Role`.
pub(crate) fn role(arns: &Arns, stack: &str, logical_id: &str) -> Identity {
    let name = names::default_name(stack, logical_id);
    Identity::new(
        "AWS::IAM::Role",
        name.clone(),
        vec![
            ("Arn", arns.role(&name)),
            ("RoleId", names::role_id(logical_id)),
        ],
    )
}

/// SAM's implicit REST API, which devstack does not serve: an opaque id.
pub(crate) fn implicit_rest_api(logical_id: &str) -> Identity {
    Identity::new(
        "AWS::Serverless::Api",
        names::api_id(logical_id),
        Vec::new(),
    )
    .open()
}

/// A resource SAM generates whose type devstack does not model: an opaque physical id, as
/// CloudFormation would name it.
pub(crate) fn implicit(stack: &str, ty: &str, logical_id: &str) -> Identity {
    Identity::new(ty, names::physical_id(stack, logical_id), Vec::new()).open()
}

/// A stand-in for an attribute of a type devstack does not model.
pub(crate) fn fabricated_attribute(arns: &Arns, ident: &Identity, attribute: &str) -> String {
    if attribute.ends_with("Arn") {
        arns.generic(&ident.ty, &ident.ref_value)
    } else {
        format!("{}.{attribute}", ident.ref_value)
    }
}

/// Local form of a base URL as WebSocket: `http://` becomes `ws://`, `https://` `wss://`.
pub(crate) fn ws_url(http: &str) -> String {
    if let Some(rest) = http.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = http.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        http.to_owned()
    }
}

pub(crate) fn compute(r: &Resolver, res: &RawResource) -> Result<Identity, TemplateError> {
    let o = r.opts;
    let arns = r.arns;
    let id = res.id.as_str();
    let ty = res.ty.as_str();
    let edge = o.endpoints.edge.trim_end_matches('/');
    // The physical name from `key`, or the stable default CloudFormation would generate.
    let name = |key: &str| -> Result<String, TemplateError> {
        Ok(r.text_property(res, key)?
            .unwrap_or_else(|| names::default_name(&o.stack_name, id)))
    };
    let flag = |key: &str| -> Result<bool, TemplateError> {
        Ok(r.text_property(res, key)?.as_deref() == Some("true"))
    };
    Ok(match ty {
        "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
            let name = name("FunctionName")?;
            let alias = if ty == "AWS::Serverless::Function" {
                r.text_property(res, "AutoPublishAlias")?
            } else {
                None
            };
            Identity::new(ty, name.clone(), vec![("Arn", arns.function(&name))])
                .kind(IdentityKind::Function { alias })
        }
        "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => {
            let name = name("TableName")?;
            let arn = arns.table(&name);
            // A fixed stream label: streams are not delivered locally, the ARN only needs a
            // valid shape.
            let stream = format!("{arn}/stream/1970-01-01T00:00:00.000");
            Identity::new(ty, name, vec![("Arn", arn), ("StreamArn", stream)])
        }
        "AWS::SQS::Queue" => {
            let mut name = name("QueueName")?;
            if flag("FifoQueue")? && !name.ends_with(".fifo") {
                name.push_str(".fifo");
            }
            let url = format!("{edge}/{}/{name}", o.account_id);
            let attrs = vec![
                ("Arn", arns.queue(&name)),
                ("QueueName", name),
                ("QueueUrl", url.clone()),
            ];
            Identity::new(ty, url, attrs)
        }
        "AWS::Events::EventBus" => {
            let name = name("Name")?;
            let attrs = vec![("Arn", arns.event_bus(&name)), ("Name", name.clone())];
            Identity::new(ty, name, attrs)
        }
        "AWS::Events::Rule" => {
            let name = name("Name")?;
            let bus = r.text_property(res, "EventBusName")?.map_or_else(
                || "default".to_owned(),
                |b| names::event_bus_name(&b).to_owned(),
            );
            Identity::new(ty, name.clone(), vec![("Arn", arns.rule(&bus, &name))])
        }
        "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => {
            let key = if ty == "AWS::Serverless::StateMachine" {
                "Name"
            } else {
                "StateMachineName"
            };
            let name = name(key)?;
            let arn = arns.state_machine(&name);
            Identity::new(ty, arn.clone(), vec![("Arn", arn), ("Name", name)])
        }
        "AWS::Cognito::UserPool" => {
            let pool = names::user_pool_id(&o.region, id);
            let attrs = vec![
                ("Arn", arns.user_pool(&pool)),
                (
                    "ProviderName",
                    format!("cognito-idp.{}.amazonaws.com/{pool}", o.region),
                ),
                ("ProviderURL", format!("{edge}/{pool}")),
                ("UserPoolId", pool.clone()),
            ];
            Identity::new(ty, pool, attrs).kind(IdentityKind::UserPool)
        }
        "AWS::Cognito::UserPoolClient" => {
            let client = names::user_pool_client_id(id);
            let attrs = vec![
                ("ClientId", client.clone()),
                ("Name", name("ClientName")?),
                // Only reachable through GetAtt; devstack's Cognito decides real secrets.
                (
                    "ClientSecret",
                    names::user_pool_client_id(&format!("{id}/secret")),
                ),
            ];
            Identity::new(ty, client, attrs)
        }
        "AWS::ApiGatewayV2::Api" | "AWS::Serverless::HttpApi" => {
            let websocket = ty == "AWS::ApiGatewayV2::Api"
                && r.text_property(res, "ProtocolType")?.as_deref() == Some("WEBSOCKET");
            let api = names::api_id(id);
            let endpoint = if websocket {
                ws_url(o.endpoints.websocket_api.trim_end_matches('/'))
            } else {
                o.endpoints.http_api.trim_end_matches('/').to_owned()
            };
            let kind = if websocket {
                IdentityKind::WebSocketApi
            } else {
                IdentityKind::HttpApi
            };
            Identity::new(
                ty,
                api.clone(),
                vec![("ApiEndpoint", endpoint), ("ApiId", api)],
            )
            .kind(kind)
        }
        "AWS::ApiGatewayV2::Stage" => {
            let stage = r
                .text_property(res, "StageName")?
                .unwrap_or_else(|| "$default".into());
            Identity::new(ty, stage, Vec::new())
        }
        "AWS::ApiGatewayV2::Authorizer" => {
            let short = names::short_id(id);
            Identity::new(ty, short.clone(), vec![("AuthorizerId", short)])
        }
        "AWS::ApiGatewayV2::Integration" => {
            let short = names::short_id(id);
            Identity::new(ty, short.clone(), vec![("IntegrationId", short)])
        }
        "AWS::ApiGatewayV2::Route" => {
            let short = names::short_id(id);
            Identity::new(ty, short.clone(), vec![("RouteId", short)])
        }
        "AWS::SNS::Topic" => {
            let mut name = name("TopicName")?;
            if flag("FifoTopic")? && !name.ends_with(".fifo") {
                name.push_str(".fifo");
            }
            let arn = arns.topic(&name);
            Identity::new(
                ty,
                arn.clone(),
                vec![("TopicArn", arn), ("TopicName", name)],
            )
        }
        "AWS::Logs::LogGroup" => {
            let name = name("LogGroupName")?;
            Identity::new(ty, name.clone(), vec![("Arn", arns.log_group(&name))])
        }
        "AWS::CloudWatch::Alarm" => {
            let name = name("AlarmName")?;
            Identity::new(ty, name.clone(), vec![("Arn", arns.alarm(&name))])
        }
        "AWS::IAM::Role" => {
            let name = name("RoleName")?;
            Identity::new(
                ty,
                name.clone(),
                vec![("Arn", arns.role(&name)), ("RoleId", names::role_id(id))],
            )
        }
        "AWS::Lambda::Alias" | "AWS::Lambda::Version" => {
            let function = r.text_property(res, "FunctionName")?.unwrap_or_default();
            let arn = if function.starts_with("arn:") {
                function
            } else {
                arns.function(&function)
            };
            if ty == "AWS::Lambda::Alias" {
                let alias = format!(
                    "{arn}:{}",
                    r.text_property(res, "Name")?.unwrap_or_default()
                );
                Identity::new(ty, alias.clone(), vec![("AliasArn", alias)])
            } else {
                Identity::new(
                    ty,
                    format!("{arn}:1"),
                    vec![("FunctionArn", arn), ("Version", "1".into())],
                )
            }
        }
        "AWS::Lambda::LayerVersion" | "AWS::Serverless::LayerVersion" => {
            let name = name("LayerName")?;
            Identity::new(ty, arns.layer(&name), Vec::new()).open()
        }
        "AWS::S3::Bucket" => {
            let name = r
                .text_property(res, "BucketName")?
                .unwrap_or_else(|| names::physical_id(&o.stack_name, id).to_ascii_lowercase());
            Identity::new(
                ty,
                name.clone(),
                vec![("Arn", format!("arn:aws:s3:::{name}"))],
            )
            .open()
        }
        _ => Identity::new(ty, names::physical_id(&o.stack_name, id), Vec::new()).open(),
    })
}
