//! Errors of loading and resolving a template. Every error of [`crate::resolve`] names where
//! in the template it arose (resource and property path, condition, output or parameter), so
//! that a developer can fix the YAML without guessing.

/// Everything that stops a template from loading or resolving.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid YAML: {source}")]
    Yaml {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("the template has no Resources section")]
    NoResources,
    /// A problem found by [`crate::Template::tables`] (the literal-only reader).
    #[error("resource {resource}: property {property} {problem}")]
    Property {
        resource: String,
        property: String,
        problem: String,
    },
    /// A problem in a resource, found by [`crate::resolve`]. `property` is the path inside the
    /// resource, e.g. `Environment.Variables.X` or `Targets[0].Arn` (or `Type`, `Condition`).
    #[error("resource {resource}: property {property}: {problem}")]
    Resource {
        resource: String,
        property: String,
        problem: Problem,
    },
    /// A problem in an entry of the `Conditions` section.
    #[error("condition {condition}: {problem}")]
    Condition { condition: String, problem: Problem },
    /// A problem in an entry of the `Outputs` section.
    #[error("output {output}: property {property}: {problem}")]
    Output {
        output: String,
        property: String,
        problem: Problem,
    },
    /// A parameter whose declaration or effective value is unacceptable.
    #[error("parameter {parameter}: {problem}")]
    Parameter {
        parameter: String,
        problem: ParameterProblem,
    },
    /// `--parameter-overrides` set a parameter that the template does not declare: almost
    /// always a typo, which would otherwise silently leave the default in force.
    #[error("parameter override {name}: the template declares no such parameter")]
    UnknownOverride { name: String },
    /// A malformed `Globals` section; `section` is `Globals` or `Globals.{Section}`.
    #[error("{section}: {problem}")]
    Globals { section: String, problem: String },
}

/// What is wrong at one place of the template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// `!Ref X` / `!GetAtt X.Y` where X is neither a parameter, a pseudo parameter nor a
    /// resource.
    #[error("{expr} names no resource or parameter")]
    UnknownName { expr: String },
    /// `!GetAtt X.Y` where X has no attribute Y (boxed: it is the largest problem).
    #[error("{0}")]
    UnknownAttribute(Box<UnknownAttribute>),
    /// A reference to a resource that a false `Condition` leaves out of the stack.
    #[error("{expr} names a resource that is omitted because condition {condition} is false")]
    OmittedResource { expr: String, condition: String },
    /// `${X}` in a `!Sub` string where X is neither a variable of the `!Sub`, a parameter nor
    /// a resource.
    #[error("!Sub variable ${{{variable}}} names no resource, parameter or variable")]
    UnknownSubVariable { variable: String },
    /// `!If`, `!Condition` or a resource's `Condition` naming an undeclared condition.
    #[error("{expr} names condition {condition}, which Conditions lacks")]
    UnknownCondition { expr: String, condition: String },
    /// `!FindInMap` keys that the `Mappings` section lacks.
    #[error("{expr}: Mappings has no {path}")]
    UnknownMapping { expr: String, path: String },
    /// Conditions may only look at parameters (CloudFormation evaluates them before any
    /// resource exists).
    #[error("{expr}: a condition can reference only parameters")]
    ConditionReference { expr: String },
    /// An intrinsic that needs a real AWS account or a macro (`Fn::ImportValue`,
    /// `Fn::Transform`, ...).
    #[error("{function} is not supported by devstack")]
    Unsupported { function: String },
    /// An intrinsic with arguments of the wrong shape.
    #[error("{expr}: {reason}")]
    Malformed { expr: String, reason: String },
    /// Resources whose names or attributes depend on each other.
    #[error("references form a cycle: {chain}")]
    Cycle { chain: String },
    /// A value that resolved fine but is not what the property needs.
    #[error("{0}")]
    Invalid(String),
}

/// What is wrong with a parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterProblem {
    #[error("has no Default and no override")]
    NoValue,
    #[error("has no Type")]
    NoType,
    #[error("has type {0}, which devstack does not know")]
    UnknownType(String),
    #[error("the {0} is not a mapping")]
    NotAMapping(&'static str),
    #[error("value {0:?} is not a number")]
    NotANumber(String),
    #[error("value {value:?} is not one of the AllowedValues {allowed:?}")]
    NotAllowed { value: String, allowed: Vec<String> },
    #[error("value {value:?} does not match the AllowedPattern {pattern:?}")]
    PatternMismatch { value: String, pattern: String },
    #[error("value {value} is below the MinValue {min}")]
    BelowMin { value: String, min: String },
    #[error("value {value} is above the MaxValue {max}")]
    AboveMax { value: String, max: String },
    #[error("value {value:?} is shorter than the MinLength {min}")]
    TooShort { value: String, min: u64 },
    #[error("value {value:?} is longer than the MaxLength {max}")]
    TooLong { value: String, max: u64 },
    #[error("{constraint} is not a literal number")]
    BadConstraint { constraint: &'static str },
}

/// `!GetAtt X.Y` (or `${X.Y}` in a `!Sub`) where resource X has no attribute Y.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{expr}: {resource_type} {resource} has no attribute {attribute} (it has {known})")]
pub struct UnknownAttribute {
    pub expr: String,
    pub resource: String,
    pub resource_type: String,
    pub attribute: String,
    /// The attributes it has, comma-separated.
    pub known: String,
}
