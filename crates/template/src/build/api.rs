//! HTTP and WebSocket APIs: SAM `AWS::Serverless::HttpApi` (routes from function events) and
//! raw `AWS::ApiGatewayV2::*` resources (routes from Route -> Integration -> function).
//!
//! Routes reference APIs, integrations and authorizers by id, and any of them may come later
//! in the template, so the pieces are collected first and assembled in `finish_*`.

use super::{Builder, cors, throttle};
use crate::error::{Problem, TemplateError};
use crate::intrinsics::RawResource;
use crate::model::{HttpApi, HttpRoute, JwtAuthorizer, RouteAuth, Throttle, WebSocketApi, WsRoute};
use crate::names;
use crate::props::Props;
use std::collections::{BTreeMap, BTreeSet};

/// A SAM function's `HttpApi` event.
#[derive(Debug, Clone)]
pub(crate) struct HttpEvent {
    pub function: String,
    /// Property path of the event's `Properties`, for errors.
    pub path: String,
    /// Resolved `ApiId`; `None` is SAM's implicit `ServerlessHttpApi`.
    pub api_id: Option<String>,
    pub method: Option<String>,
    pub route_path: Option<String>,
    pub authorizer: Option<String>,
    pub scopes: Vec<String>,
    pub payload_format: String,
    pub throttle: Option<Throttle>,
}

/// The authorizers of a SAM HttpApi, by name.
#[derive(Debug, Clone, Default)]
pub(crate) struct SamApiAuth {
    pub default_authorizer: Option<String>,
    pub jwt: BTreeSet<String>,
    /// Lambda authorizers: warned about, their routes served open.
    pub other: BTreeSet<String>,
}

#[derive(Debug, Default)]
pub(crate) struct V2Parts {
    stages: Vec<StagePart>,
    authorizers: Vec<AuthorizerPart>,
    integrations: Vec<IntegrationPart>,
    routes: Vec<RoutePart>,
    route_responses: Vec<RouteResponsePart>,
}

#[derive(Debug)]
struct RouteResponsePart {
    api_id: String,
    route_id: String,
}

#[derive(Debug)]
struct StagePart {
    logical_id: String,
    api_id: String,
    name: String,
    default_throttle: Option<Throttle>,
    route_throttles: BTreeMap<String, Throttle>,
}

#[derive(Debug)]
struct AuthorizerPart {
    logical_id: String,
    id: String,
    api_id: String,
    /// `None` for a non-JWT authorizer (warned about).
    jwt: Option<JwtAuthorizer>,
}

#[derive(Debug)]
struct IntegrationPart {
    id: String,
    api_id: String,
    /// Logical id of the function; `None` when the integration cannot be emulated (warned).
    function: Option<String>,
    payload_format: String,
}

#[derive(Debug)]
struct RoutePart {
    logical_id: String,
    /// What `!Ref` of the route yields (a RouteResponse's `RouteId`).
    id: String,
    route_response_selection: Option<String>,
    api_id: String,
    route_key: String,
    target: Option<String>,
    authorization_type: String,
    authorizer_id: Option<String>,
    scopes: Vec<String>,
}

fn path_error(resource: &str, property: String, problem: impl Into<String>) -> TemplateError {
    TemplateError::Resource {
        resource: resource.into(),
        property,
        problem: Problem::Invalid(problem.into()),
    }
}

enum ApiRef {
    Http(usize),
    WebSocket(usize),
}

impl Builder<'_, '_> {
    pub(super) fn sam_http_api(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let id = res.id.as_str();
        let mut auth = SamApiAuth::default();
        let mut authorizers = Vec::new();
        let a = p.child_or_empty("Auth")?;
        for (name, def) in a.child_or_empty("Authorizers")?.children()? {
            let Some(jwt) = def.child("JwtConfiguration")? else {
                self.warn(
                    id,
                    format!(
                        "authorizer {name}: only JWT authorizers are emulated; routes that use it \
                         answer 401 (never served unauthenticated)"
                    ),
                );
                auth.other.insert(name.into());
                continue;
            };
            // SAM spells these in lowercase; accept ApiGatewayV2's capitalised form too.
            let issuer = match jwt.text("issuer")? {
                Some(issuer) => issuer,
                None => jwt.required_text("Issuer")?,
            };
            let mut audience = jwt.texts("audience")?;
            audience.extend(jwt.texts("Audience")?);
            let mut identity_source = def.texts("IdentitySource")?;
            if identity_source.is_empty() {
                identity_source.push("$request.header.Authorization".into());
            }
            authorizers.push(JwtAuthorizer {
                id: names::short_id(&format!("{id}/{name}")),
                name: name.into(),
                issuer,
                audience,
                identity_source,
            });
            auth.jwt.insert(name.into());
        }
        auth.default_authorizer = a.text("DefaultAuthorizer")?;
        if a.bool_or("EnableIamAuthorizer", false)? {
            self.warn(
                id,
                "IAM authorization (EnableIamAuthorizer) is not emulated: routes that use it \
                 answer 401 (never served unauthenticated)",
            );
        }
        if p.has("Domain") {
            self.warn(
                id,
                "custom domains (Domain) are not emulated: the API is served at its local endpoint only",
            );
        }
        if p.has("DefinitionBody") || p.has("DefinitionUri") {
            self.warn(
                id,
                "OpenAPI definitions (DefinitionBody / DefinitionUri) are not emulated: only routes \
                 from function HttpApi events are served",
            );
        }
        let mut route_throttles = BTreeMap::new();
        for (route_key, settings) in p.child_or_empty("RouteSettings")?.children()? {
            if let Some(t) = throttle(&settings)? {
                route_throttles.insert(route_key.to_owned(), t);
            }
        }
        self.stack.http_apis.push(HttpApi {
            logical_id: id.into(),
            api_id: ident.ref_value.clone(),
            stage: p.text_or("StageName", "$default")?,
            routes: Vec::new(),
            authorizers,
            cors: cors(&p, "CorsConfiguration")?,
            default_throttle: match p.child("DefaultRouteSettings")? {
                Some(settings) => throttle(&settings)?,
                None => None,
            },
            route_throttles,
        });
        self.sam_api_auth.insert(id.into(), auth);
        Ok(())
    }

    pub(super) fn v2_api(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let id = res.id.as_str();
        if p.has("Body") || p.has("BodyS3Location") {
            self.warn(
                id,
                "OpenAPI definitions (Body / BodyS3Location) are not emulated: only \
                 AWS::ApiGatewayV2::Route resources are served",
            );
        }
        match p.text_or("ProtocolType", "HTTP")?.as_str() {
            "HTTP" => {
                let mut routes = Vec::new();
                // Quick create: `Target` makes a default route and stage for one function.
                if let Some(target) = p.text("Target")? {
                    match self.r.function_by_reference(&target)? {
                        Some(function) => routes.push(HttpRoute {
                            route_key: p.text_or("RouteKey", "$default")?,
                            function,
                            payload_format: "2.0".into(),
                            auth: RouteAuth::None,
                        }),
                        None => self.warn(
                            id,
                            format!("Target {target} is not a function of the template: its route is not served"),
                        ),
                    }
                }
                self.stack.http_apis.push(HttpApi {
                    logical_id: id.into(),
                    api_id: ident.ref_value.clone(),
                    stage: "$default".into(),
                    routes,
                    authorizers: Vec::new(),
                    cors: cors(&p, "CorsConfiguration")?,
                    default_throttle: None,
                    route_throttles: BTreeMap::new(),
                });
            }
            "WEBSOCKET" => self.stack.websocket_apis.push(WebSocketApi {
                logical_id: id.into(),
                api_id: ident.ref_value.clone(),
                stage: "$default".into(),
                route_selection_expression: p
                    .text_or("RouteSelectionExpression", "$request.body.action")?,
                routes: Vec::new(),
                default_throttle: None,
            }),
            other => {
                return Err(p.fail(
                    "ProtocolType",
                    format!("must be HTTP or WEBSOCKET, got {other}"),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn v2_stage(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let mut route_throttles = BTreeMap::new();
        for (route_key, settings) in p.child_or_empty("RouteSettings")?.children()? {
            if let Some(t) = throttle(&settings)? {
                route_throttles.insert(route_key.to_owned(), t);
            }
        }
        self.v2.stages.push(StagePart {
            logical_id: res.id.clone(),
            api_id: p.required_text("ApiId")?,
            name: ident.ref_value.clone(),
            default_throttle: match p.child("DefaultRouteSettings")? {
                Some(settings) => throttle(&settings)?,
                None => None,
            },
            route_throttles,
        });
        Ok(())
    }

    pub(super) fn v2_authorizer(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let ty = p.required_text("AuthorizerType")?;
        let name = p.text_or("Name", &res.id)?;
        let jwt = if ty == "JWT" {
            let config = p.child_or_empty("JwtConfiguration")?;
            Some(JwtAuthorizer {
                id: ident.ref_value.clone(),
                name,
                issuer: config.required_text("Issuer")?,
                audience: config.texts("Audience")?,
                identity_source: p.texts("IdentitySource")?,
            })
        } else {
            self.warn(
                &res.id,
                format!(
                    "AuthorizerType {ty}: only JWT authorizers are emulated; routes that use it \
                     answer 401 (never served unauthenticated)"
                ),
            );
            None
        };
        self.v2.authorizers.push(AuthorizerPart {
            logical_id: res.id.clone(),
            id: ident.ref_value.clone(),
            api_id: p.required_text("ApiId")?,
            jwt,
        });
        Ok(())
    }

    pub(super) fn v2_integration(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let ty = p.required_text("IntegrationType")?;
        let function = if ty == "AWS_PROXY" {
            let uri = p.required_text("IntegrationUri")?;
            let function = self.r.function_by_reference(&uri)?;
            if function.is_none() {
                self.warn(
                    &res.id,
                    format!(
                        "IntegrationUri {uri} is not a function of the template: routes that use \
                         it are not served"
                    ),
                );
            }
            function
        } else {
            self.warn(
                &res.id,
                format!(
                    "IntegrationType {ty} is not emulated (only AWS_PROXY to a function of the \
                     template is): routes that use it are not served"
                ),
            );
            None
        };
        self.v2.integrations.push(IntegrationPart {
            id: ident.ref_value.clone(),
            api_id: p.required_text("ApiId")?,
            function,
            // CloudFormation requires it for HTTP APIs; API Gateway's own default is 1.0.
            payload_format: p.text_or("PayloadFormatVersion", "1.0")?,
        });
        Ok(())
    }

    pub(super) fn v2_route(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        self.v2.routes.push(RoutePart {
            logical_id: res.id.clone(),
            id: ident.ref_value.clone(),
            route_response_selection: p.text("RouteResponseSelectionExpression")?,
            api_id: p.required_text("ApiId")?,
            route_key: p.required_text("RouteKey")?,
            target: p.text("Target")?,
            authorization_type: p.text_or("AuthorizationType", "NONE")?,
            authorizer_id: p.text("AuthorizerId")?,
            scopes: p.texts("AuthorizationScopes")?,
        });
        Ok(())
    }

    pub(super) fn v2_route_response(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        self.v2.route_responses.push(RouteResponsePart {
            api_id: p.required_text("ApiId")?,
            route_id: p.required_text("RouteId")?,
        });
        Ok(())
    }

    fn api_by_id(&self, api_id: &str) -> Option<ApiRef> {
        if let Some(i) = self.stack.http_apis.iter().position(|a| a.api_id == api_id) {
            return Some(ApiRef::Http(i));
        }
        self.stack
            .websocket_apis
            .iter()
            .position(|a| a.api_id == api_id)
            .map(ApiRef::WebSocket)
    }

    pub(super) fn finish_v2(&mut self) -> Result<(), TemplateError> {
        let parts = std::mem::take(&mut self.v2);
        let unknown_api = |b: &mut Self, logical: &str, api_id: &str| {
            b.warn(
                logical,
                format!(
                    "ApiId {api_id} is not an API of the template: the resource is not emulated"
                ),
            );
        };

        let mut staged = BTreeSet::new();
        for stage in &parts.stages {
            let Some(api) = self.api_by_id(&stage.api_id) else {
                unknown_api(self, &stage.logical_id, &stage.api_id);
                continue;
            };
            if !staged.insert(stage.api_id.clone()) {
                self.warn(
                    &stage.logical_id,
                    format!(
                        "a second stage of API {}: devstack serves one stage per API, this one is ignored",
                        stage.api_id
                    ),
                );
                continue;
            }
            match api {
                ApiRef::Http(i) => {
                    let api = &mut self.stack.http_apis[i];
                    api.stage = stage.name.clone();
                    api.default_throttle = stage.default_throttle.clone();
                    api.route_throttles = stage.route_throttles.clone();
                }
                ApiRef::WebSocket(i) => {
                    let api = &mut self.stack.websocket_apis[i];
                    api.stage = stage.name.clone();
                    api.default_throttle = stage.default_throttle.clone();
                    if !stage.route_throttles.is_empty() {
                        self.warn(
                            &stage.logical_id,
                            "RouteSettings of a WebSocket stage are not emulated: every route \
                             gets the stage's DefaultRouteSettings",
                        );
                    }
                }
            }
        }

        for authorizer in &parts.authorizers {
            match (self.api_by_id(&authorizer.api_id), &authorizer.jwt) {
                (None, _) => unknown_api(self, &authorizer.logical_id, &authorizer.api_id),
                (Some(ApiRef::Http(i)), Some(jwt)) => {
                    self.stack.http_apis[i].authorizers.push(jwt.clone());
                }
                (Some(ApiRef::WebSocket(_)), Some(_)) => {
                    return Err(path_error(
                        &authorizer.logical_id,
                        "AuthorizerType".into(),
                        "JWT authorizers are for HTTP APIs, not WebSocket APIs",
                    ));
                }
                (Some(_), None) => {}
            }
        }

        for route in &parts.routes {
            let Some(api) = self.api_by_id(&route.api_id) else {
                unknown_api(self, &route.logical_id, &route.api_id);
                continue;
            };
            let Some(target) = &route.target else {
                self.warn(
                    &route.logical_id,
                    format!("route {} has no Target: it is not served", route.route_key),
                );
                continue;
            };
            let integration = target
                .strip_prefix("integrations/")
                .and_then(|id| parts.integrations.iter().find(|i| i.id == id))
                .ok_or_else(|| {
                    path_error(
                        &route.logical_id,
                        "Target".into(),
                        format!("{target} names no integration of the template"),
                    )
                })?;
            if integration.api_id != route.api_id {
                return Err(path_error(
                    &route.logical_id,
                    "Target".into(),
                    format!("{target} is an integration of another API"),
                ));
            }
            // Not emulable: the integration carries the warning.
            let Some(function) = integration.function.clone() else {
                continue;
            };
            let auth = match route.authorization_type.as_str() {
                "NONE" => RouteAuth::None,
                "JWT" => {
                    let authorizer_id = route.authorizer_id.as_deref().unwrap_or_default();
                    let authorizer = parts
                        .authorizers
                        .iter()
                        .find(|a| {
                            a.id == authorizer_id && a.api_id == route.api_id && a.jwt.is_some()
                        })
                        .ok_or_else(|| {
                            path_error(
                                &route.logical_id,
                                "AuthorizerId".into(),
                                format!(
                                    "{authorizer_id:?} names no JWT authorizer of the route's API"
                                ),
                            )
                        })?;
                    RouteAuth::Jwt {
                        authorizer: authorizer.id.clone(),
                        scopes: route.scopes.clone(),
                    }
                }
                // Lambda authorizers: the authorizer carries the warning.
                "CUSTOM" => RouteAuth::Unsupported {
                    authorizer: route.authorizer_id.clone().unwrap_or_default(),
                },
                other => {
                    self.warn(
                        &route.logical_id,
                        format!(
                            "AuthorizationType {other} is not emulated: route {} answers 401",
                            route.route_key
                        ),
                    );
                    RouteAuth::Unsupported {
                        authorizer: other.to_owned(),
                    }
                }
            };
            match api {
                ApiRef::Http(i) => self.stack.http_apis[i].routes.push(HttpRoute {
                    route_key: route.route_key.clone(),
                    function,
                    payload_format: integration.payload_format.clone(),
                    auth,
                }),
                ApiRef::WebSocket(i) => self.stack.websocket_apis[i].routes.push(WsRoute {
                    route_key: route.route_key.clone(),
                    function,
                    route_response: route.route_response_selection.is_some()
                        && parts
                            .route_responses
                            .iter()
                            .any(|r| r.route_id == route.id && r.api_id == route.api_id),
                    auth,
                }),
            }
        }
        Ok(())
    }

    pub(super) fn finish_http_events(&mut self) -> Result<(), TemplateError> {
        for event in std::mem::take(&mut self.http_events) {
            let fail = |key: &str, problem: String| {
                path_error(
                    &event.function,
                    crate::intrinsics::join_path(&event.path, key),
                    problem,
                )
            };
            let index = match &event.api_id {
                None => self
                    .stack
                    .http_apis
                    .iter()
                    .position(|a| a.logical_id == "ServerlessHttpApi"),
                Some(api_id) => match self.api_by_id(api_id) {
                    Some(ApiRef::Http(i)) => Some(i),
                    _ => None,
                },
            }
            .ok_or_else(|| {
                fail(
                    "ApiId",
                    format!(
                        "{} names no HTTP API of the template",
                        event.api_id.as_deref().unwrap_or("ServerlessHttpApi")
                    ),
                )
            })?;
            let route_key = match (&event.method, &event.route_path) {
                (None, None) => "$default".to_owned(),
                (Some(method), Some(path)) => {
                    let method = method.to_ascii_uppercase();
                    let method = if method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
                        "ANY".to_owned()
                    } else {
                        method
                    };
                    format!("{method} {path}")
                }
                _ => {
                    return Err(fail(
                        "Method",
                        "Method and Path go together (neither makes the $default route)".into(),
                    ));
                }
            };
            let api = &self.stack.http_apis[index];
            let auth_names = self
                .sam_api_auth
                .get(&api.logical_id)
                .cloned()
                .unwrap_or_default();
            let authorizer = event
                .authorizer
                .clone()
                .or_else(|| auth_names.default_authorizer.clone());
            let auth = match authorizer {
                None => RouteAuth::None,
                Some(name) if name == "NONE" => RouteAuth::None,
                Some(name) if auth_names.jwt.contains(&name) => RouteAuth::Jwt {
                    authorizer: name,
                    scopes: event.scopes.clone(),
                },
                Some(name) if auth_names.other.contains(&name) || name == "AWS_IAM" => {
                    RouteAuth::Unsupported { authorizer: name }
                }
                Some(name) => {
                    return Err(fail(
                        "Auth.Authorizer",
                        format!("{name} is not an authorizer of API {}", api.logical_id),
                    ));
                }
            };
            let api = &mut self.stack.http_apis[index];
            if let Some(t) = event.throttle {
                api.route_throttles.insert(route_key.clone(), t);
            }
            api.routes.push(HttpRoute {
                route_key,
                function: event.function.clone(),
                payload_format: event.payload_format.clone(),
                auth,
            });
        }
        Ok(())
    }
}
