//! Builds the typed [`Stack`] from resolved resources, one family of resource types per module.

mod api;
mod cognito;
mod data;
mod events;
mod function;
mod statemachine;

use crate::error::{Problem, TemplateError};
use crate::intrinsics::{RawResource, Resolver};
use crate::model::{Cors, Ignored, Stack, Throttle, Warning};
use crate::props::Props;

pub(crate) use api::{HttpEvent, SamApiAuth, V2Parts};

pub(crate) struct Builder<'r, 't> {
    pub r: &'r Resolver<'t>,
    pub stack: Stack,
    /// SAM functions' `HttpApi` events, attached to their APIs once every API is known.
    pub http_events: Vec<HttpEvent>,
    /// Authorizer names of SAM HttpApis, by logical id.
    pub sam_api_auth: std::collections::BTreeMap<String, SamApiAuth>,
    /// Raw `AWS::ApiGatewayV2::*` children, assembled once every API is known.
    pub v2: V2Parts,
}

impl<'r, 't> Builder<'r, 't> {
    pub fn new(r: &'r Resolver<'t>, stack: Stack) -> Self {
        Self {
            r,
            stack,
            http_events: Vec::new(),
            sam_api_auth: Default::default(),
            v2: V2Parts::default(),
        }
    }

    pub fn warn(&mut self, resource: &str, message: impl Into<String>) {
        self.stack.warnings.push(Warning {
            resource: resource.into(),
            message: message.into(),
        });
    }

    fn ignore(&mut self, res: &RawResource) {
        self.stack.ignored.push(Ignored {
            resource: res.id.clone(),
            resource_type: res.ty.clone(),
        });
    }

    /// Adds one resource to the stack (or to the warnings / ignored lists).
    pub fn resource(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        match res.ty.as_str() {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => self.function(res),
            "AWS::Lambda::EventSourceMapping" => self.event_source_mapping(res),
            "AWS::Serverless::HttpApi" => self.sam_http_api(res),
            "AWS::ApiGatewayV2::Api" => self.v2_api(res),
            "AWS::ApiGatewayV2::Stage" => self.v2_stage(res),
            "AWS::ApiGatewayV2::Authorizer" => self.v2_authorizer(res),
            "AWS::ApiGatewayV2::Integration" => self.v2_integration(res),
            "AWS::ApiGatewayV2::Route" => self.v2_route(res),
            "AWS::ApiGatewayV2::RouteResponse" => self.v2_route_response(res),
            "AWS::DynamoDB::Table" => self.table(res),
            "AWS::Serverless::SimpleTable" => self.simple_table(res),
            "AWS::SQS::Queue" => self.queue(res),
            "AWS::Events::EventBus" => self.event_bus(res),
            "AWS::Events::Rule" => self.rule(res),
            "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => {
                self.state_machine(res)
            }
            "AWS::S3::Bucket" if res.metadata.get("Site").is_some() => self.site(res),
            "AWS::Cognito::UserPool" => self.user_pool(res),
            "AWS::Cognito::UserPoolClient" => self.user_pool_client(res),
            "AWS::SNS::Subscription" => {
                let props = self.validated(res)?;
                let protocol = Props::new(&res.id, &props).text_or("Protocol", "")?;
                if matches!(protocol.as_str(), "email" | "email-json" | "sms") {
                    self.ignore(res);
                } else {
                    self.warn(
                        &res.id,
                        format!(
                            "AWS::SNS::Subscription with protocol {protocol} is not emulated: \
                             SNS delivers nothing locally"
                        ),
                    );
                }
                Ok(())
            }
            ty if ignored(ty) => {
                self.validated(res)?;
                self.ignore(res);
                Ok(())
            }
            ty => {
                self.validated(res)?;
                self.warn(&res.id, not_emulated(ty));
                Ok(())
            }
        }
    }

    /// A bucket with `Metadata.Site: {Source, Exclude, Config}`.
    fn site(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        self.validated(res)?;
        let fail = |property: &str, problem: &str| TemplateError::Resource {
            resource: res.id.clone(),
            property: format!("Metadata.Site.{property}"),
            problem: Problem::Invalid(problem.into()),
        };
        let meta = &res.metadata["Site"];
        let source = meta
            .get("Source")
            .and_then(crate::yaml_text)
            .ok_or_else(|| fail("Source", "is missing: the folder that holds the site"))?;
        let exclude = match meta.get("Exclude") {
            None => Vec::new(),
            Some(serde_yaml::Value::Sequence(items)) => items
                .iter()
                .map(|i| crate::yaml_text(i).ok_or_else(|| fail("Exclude", "lists a non-text")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(fail("Exclude", "must be a list of paths")),
        };
        let config_output = match meta.get("Config") {
            None => None,
            Some(v) => Some(
                crate::yaml_text(v).ok_or_else(|| fail("Config", "must be an output's name"))?,
            ),
        };
        self.stack.sites.push(crate::model::Site {
            logical_id: res.id.clone(),
            source: self.r.opts.base_dir.join(source),
            exclude,
            config_output,
            config: None,
        });
        Ok(())
    }

    /// Resolves the properties of a resource devstack does not model, so that a broken
    /// reference in it still fails as it would on AWS. Intrinsics that need AWS
    /// (`Fn::ImportValue`...) are tolerated there: the resource has no local effect anyway.
    fn validated(&self, res: &RawResource) -> Result<crate::intrinsics::Obj, TemplateError> {
        match self.r.properties(res) {
            Err(TemplateError::Resource {
                problem: Problem::Unsupported { .. },
                ..
            }) => Ok(Default::default()),
            other => other,
        }
    }

    /// Assembles what needed every resource to be known: API routes.
    pub fn finish(&mut self) -> Result<(), TemplateError> {
        self.finish_v2()?;
        self.finish_http_events()?;
        self.check_mapped_queues();
        Ok(())
    }
}

/// Types with no local effect at all: listed quietly.
fn ignored(ty: &str) -> bool {
    matches!(
        ty,
        "AWS::CloudWatch::Alarm"
            | "AWS::CloudWatch::CompositeAlarm"
            | "AWS::CloudWatch::Dashboard"
            | "AWS::SNS::Topic"
            | "AWS::SNS::TopicPolicy"
            | "AWS::Logs::LogGroup"
            | "AWS::Lambda::Permission"
            | "AWS::Lambda::Alias"
            | "AWS::Lambda::Version"
            | "AWS::SQS::QueuePolicy"
            | "AWS::ApiGatewayV2::Deployment"
            | "AWS::Events::EventBusPolicy"
            // No S3 locally: a bucket policy governs nothing. A site's bucket is served by
            // devstack itself, in place of the CloudFront distribution in front of it.
            | "AWS::S3::BucketPolicy"
    ) || ty.starts_with("AWS::IAM::")
        || ty.starts_with("AWS::CloudFront::")
        || ty.starts_with("AWS::CodeDeploy::")
}

/// The warning for a type that changes behaviour on AWS but that devstack does not emulate.
fn not_emulated(ty: &str) -> String {
    let why = match ty {
        "AWS::Serverless::Api" => {
            "REST APIs (API Gateway v1) are not served locally; use AWS::Serverless::HttpApi or \
             AWS::ApiGatewayV2"
        }
        t if t.starts_with("AWS::ApiGateway::") => {
            "REST APIs (API Gateway v1) are not served locally; use AWS::ApiGatewayV2"
        }
        "AWS::Lambda::LayerVersion"
        | "AWS::Serverless::LayerVersion"
        | "AWS::Lambda::LayerVersionPermission" => "devstack runs function binaries without layers",
        t if t.starts_with("AWS::S3::") => {
            "nothing stores objects or sends bucket notifications locally"
        }
        t if t.starts_with("AWS::Kinesis") => "records are neither stored nor delivered locally",
        "AWS::ApiGatewayV2::DomainName" | "AWS::ApiGatewayV2::ApiMapping" => {
            "custom domains are not served; APIs answer at their local endpoints only"
        }
        "AWS::ApiGatewayV2::IntegrationResponse" => {
            "integration responses are not emulated: a proxy integration's answer goes back \
             unmapped on a route with a RouteResponse"
        }
        "AWS::Lambda::Url" => "function URLs are not emulated: the function gets no URL",
        "AWS::Lambda::EventInvokeConfig" => {
            "asynchronous invocation settings (retries, destinations) are not emulated"
        }
        "AWS::Serverless::Application" | "AWS::CloudFormation::Stack" => {
            "nested stacks are not deployed locally"
        }
        "AWS::Scheduler::Schedule" => "schedules never fire locally",
        _ => "",
    };
    if why.is_empty() {
        format!("{ty} is not emulated")
    } else {
        format!("{ty} is not emulated: {why}")
    }
}

/// Throttling from API Gateway route settings. When only one limit is set, the other is the
/// AWS account-level default (10,000 requests per second, burst 5,000).
fn throttle(settings: &Props) -> Result<Option<Throttle>, TemplateError> {
    let rate = settings.f64("ThrottlingRateLimit")?;
    let burst = settings.u32("ThrottlingBurstLimit")?;
    Ok((rate.is_some() || burst.is_some()).then(|| Throttle {
        rate: rate.unwrap_or(10_000.0),
        burst: burst.unwrap_or(5_000),
    }))
}

/// An HTTP API's `CorsConfiguration` (SAM's and ApiGatewayV2's share the shape).
fn cors(p: &Props, key: &str) -> Result<Option<Cors>, TemplateError> {
    match p.get(key) {
        None => Ok(None),
        // SAM's `CorsConfiguration: true`: everything allowed.
        Some(serde_json::Value::Bool(allow)) => Ok(allow.then(|| Cors {
            allow_origins: vec!["*".into()],
            allow_methods: vec!["*".into()],
            allow_headers: vec!["*".into()],
            expose_headers: Vec::new(),
            max_age: None,
            allow_credentials: false,
        })),
        Some(_) => {
            let c = p.child_or_empty(key)?;
            Ok(Some(Cors {
                allow_origins: c.texts("AllowOrigins")?,
                allow_methods: c.texts("AllowMethods")?,
                allow_headers: c.texts("AllowHeaders")?,
                expose_headers: c.texts("ExposeHeaders")?,
                max_age: c.u32("MaxAge")?,
                allow_credentials: c.bool_or("AllowCredentials", false)?,
            }))
        }
    }
}
