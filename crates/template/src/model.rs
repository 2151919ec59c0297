//! The stack as devstack runs it: every resource devstack emulates, with every intrinsic
//! resolved to a local value. Produced by [`crate::resolve`]; nothing here refers back to the
//! YAML.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The local endpoints that AWS endpoint forms resolve to. devstack chooses them (ports are
/// configurable); tests pass fixed ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoints {
    /// Base URL of the edge port that serves every AWS API devstack implements, e.g.
    /// `http://127.0.0.1:4566`. Cognito issuers resolve under it: `{edge}/{userPoolId}`.
    pub edge: String,
    /// Base URL of the HTTP API gateway, e.g. `http://127.0.0.1:3000`.
    pub http_api: String,
    /// Base URL of the WebSocket gateway as HTTP, e.g. `http://127.0.0.1:3001`: the
    /// `@connections` management API lives at `{websocket_api}/{stage}`, and the WebSocket
    /// URL itself is the same with `ws://`.
    pub websocket_api: String,
}

/// Inputs of a resolution besides the template text.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    pub stack_name: String,
    pub region: String,
    /// `000000000000` locally.
    pub account_id: String,
    /// `--parameter-overrides`, by parameter name. Unknown names are an error.
    pub parameter_overrides: BTreeMap<String, String>,
    pub endpoints: Endpoints,
    /// The directory of the template file; `CodeUri` and `DefinitionUri` are relative to it.
    pub base_dir: PathBuf,
}

/// The resolved stack.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stack {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    /// Effective parameter values (a `CommaDelimitedList` as its comma-joined text).
    pub parameters: BTreeMap<String, String>,
    pub functions: Vec<Function>,
    pub http_apis: Vec<HttpApi>,
    pub websocket_apis: Vec<WebSocketApi>,
    pub tables: Vec<Table>,
    pub queues: Vec<Queue>,
    pub event_buses: Vec<EventBus>,
    pub rules: Vec<Rule>,
    pub state_machines: Vec<StateMachine>,
    pub user_pools: Vec<UserPool>,
    pub user_pool_clients: Vec<UserPoolClient>,
    pub event_source_mappings: Vec<EventSourceMapping>,
    /// Buckets that hold a static site (`Metadata.Site`), which devstack serves itself.
    pub sites: Vec<Site>,
    /// Resource types and properties that change behaviour on AWS but that devstack does not
    /// emulate. devstack prints every one, loudly, at start.
    pub warnings: Vec<Warning>,
    /// Resources that have no local effect at all (alarms, dashboards, IAM, log groups,
    /// permissions, queue policies, SNS topics, deployment preferences...): listed quietly.
    pub ignored: Vec<Ignored>,
    /// Stack outputs, resolved.
    pub outputs: BTreeMap<String, String>,
}

/// An `AWS::S3::Bucket` whose `Metadata.Site` says what it holds: a folder of the repository,
/// uploaded as is (less `Exclude`), plus one stack output written next to it as `config.json`.
/// On AWS a publish step uploads it; devstack serves the folder and the resolved output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    pub logical_id: String,
    /// `Source`, joined to the template's directory.
    pub source: PathBuf,
    /// `Exclude`: paths under `source` that are not part of the site (a folder ends in `/`).
    pub exclude: Vec<String>,
    /// `Config`: the name of the output that is the site's `config.json`.
    pub config_output: Option<String>,
    /// That output's value, resolved.
    pub config: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Logical id of the resource (or `Globals`, or a parameter name).
    pub resource: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    pub resource: String,
    pub resource_type: String,
}

/// Where a function's executable comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Code {
    /// `CodeUri`, joined to the template's directory (None when the template has none).
    pub code_uri: Option<PathBuf>,
    /// `Metadata.BuildMethod` (e.g. `rust-cargolambda`, `makefile`).
    pub build_method: Option<String>,
    /// `Metadata.BuildProperties.Binary` (cargo-lambda's binary name).
    pub binary: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Function {
    pub logical_id: String,
    /// The physical `FunctionName`.
    pub name: String,
    pub arn: String,
    pub code: Code,
    pub handler: Option<String>,
    pub runtime: Option<String>,
    /// MemorySize, default 128.
    pub memory_mb: u32,
    /// Timeout, default 3.
    pub timeout_secs: u32,
    pub reserved_concurrency: Option<u32>,
    /// The template's variables, Globals merged, every intrinsic resolved.
    pub environment: BTreeMap<String, String>,
    /// `LoggingConfig.LogFormat` (`JSON` or `Text`).
    pub log_format: Option<String>,
    /// `LoggingConfig.ApplicationLogLevel`.
    pub log_level: Option<String>,
    /// `AutoPublishAlias`.
    pub alias: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throttle {
    /// Steady requests per second.
    pub rate: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u32>,
    pub allow_credentials: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RouteAuth {
    None,
    Jwt {
        /// The `id` of the authorizer in [`HttpApi::authorizers`] (an
        /// `AWS::ApiGatewayV2::Authorizer`), or its `name` in a SAM HttpApi's `Auth.Authorizers`.
        authorizer: String,
        /// `AuthorizationScopes` of the route.
        scopes: Vec<String>,
    },
    /// An authorizer devstack cannot run (a Lambda authorizer, IAM): the route refuses every
    /// request rather than serve it unauthenticated.
    Unsupported {
        authorizer: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpRoute {
    /// `GET /links/{code}`, `ANY /{proxy+}`, `$default`.
    pub route_key: String,
    /// Logical id of the function the integration invokes.
    pub function: String,
    /// `2.0` or `1.0`.
    pub payload_format: String,
    pub auth: RouteAuth,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JwtAuthorizer {
    pub id: String,
    pub name: String,
    /// Resolved to local form when it is the template's own user pool.
    pub issuer: String,
    pub audience: Vec<String>,
    /// e.g. `$request.header.Authorization`.
    pub identity_source: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HttpApi {
    pub logical_id: String,
    pub api_id: String,
    /// `$default` unless the template names another.
    pub stage: String,
    pub routes: Vec<HttpRoute>,
    pub authorizers: Vec<JwtAuthorizer>,
    pub cors: Option<Cors>,
    pub default_throttle: Option<Throttle>,
    /// Per route key.
    pub route_throttles: BTreeMap<String, Throttle>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WsRoute {
    /// `$connect`, `$disconnect`, `$default`, or a custom key.
    pub route_key: String,
    pub function: String,
    /// A two-way route: the integration's answer goes back to the client. API Gateway does
    /// that when the route has a `RouteResponseSelectionExpression` and an
    /// `AWS::ApiGatewayV2::RouteResponse`.
    #[serde(skip_serializing_if = "is_false")]
    pub route_response: bool,
    /// `None`, or an authorizer devstack cannot run (IAM, a Lambda authorizer on `$connect`):
    /// the gateway then refuses every handshake rather than let it in unauthenticated.
    #[serde(skip_serializing_if = "RouteAuth::is_none")]
    pub auth: RouteAuth,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl RouteAuth {
    pub fn is_none(&self) -> bool {
        matches!(self, RouteAuth::None)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WebSocketApi {
    pub logical_id: String,
    pub api_id: String,
    pub stage: String,
    pub route_selection_expression: String,
    pub routes: Vec<WsRoute>,
    pub default_throttle: Option<Throttle>,
}

/// A key attribute: its name and type (`S`, `N` or `B`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyAttribute {
    pub name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexDef {
    pub name: String,
    pub hash: KeyAttribute,
    pub range: Option<KeyAttribute>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    pub hash: KeyAttribute,
    pub range: Option<KeyAttribute>,
    pub global_indexes: Vec<IndexDef>,
    pub local_indexes: Vec<IndexDef>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redrive {
    pub dead_letter_arn: String,
    pub max_receive_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queue {
    pub logical_id: String,
    pub name: String,
    /// `{edge}/{account}/{name}`.
    pub url: String,
    pub arn: String,
    pub fifo: bool,
    /// Seconds; AWS defaults: 30, 345600, 0, 0, 262144.
    pub visibility_timeout: u32,
    pub retention_period: u32,
    pub delay_seconds: u32,
    pub receive_wait_seconds: u32,
    pub max_message_size: u32,
    pub redrive: Option<Redrive>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventBus {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTarget {
    pub id: String,
    /// A queue, function, state machine (or other) ARN.
    pub arn: String,
    pub input: Option<String>,
    pub input_path: Option<String>,
    pub dead_letter_arn: Option<String>,
    pub max_retry_attempts: Option<u32>,
    pub max_event_age_secs: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// Bus name (`default` when the template names none).
    pub bus: String,
    pub pattern: serde_json::Value,
    pub enabled: bool,
    pub targets: Vec<RuleTarget>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateMachine {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// `STANDARD` or `EXPRESS`.
    pub kind: String,
    /// The ASL definition with DefinitionSubstitutions applied.
    pub definition: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PasswordPolicy {
    pub minimum_length: u32,
    pub require_lowercase: bool,
    pub require_uppercase: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserPool {
    pub logical_id: String,
    pub id: String,
    pub name: String,
    pub arn: String,
    /// Local form of `!GetAtt Pool.ProviderURL`: `{edge}/{id}`.
    pub provider_url: String,
    pub username_attributes: Vec<String>,
    pub auto_verified_attributes: Vec<String>,
    pub password_policy: PasswordPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserPoolClient {
    pub logical_id: String,
    pub id: String,
    pub user_pool_id: String,
    pub name: String,
    pub explicit_auth_flows: Vec<String>,
    pub generate_secret: bool,
    /// Seconds.
    pub access_token_validity: u32,
    pub id_token_validity: u32,
    pub refresh_token_validity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventSourceMapping {
    /// Logical id of the function (an SQS event of a SAM function, or an
    /// `AWS::Lambda::EventSourceMapping`).
    pub function: String,
    pub queue_arn: String,
    /// Default 10.
    pub batch_size: u32,
    /// Default 0.
    pub max_batching_window_secs: u32,
    pub report_batch_item_failures: bool,
    pub max_concurrency: Option<u32>,
    pub enabled: bool,
}
