//! Tests of `template::resolve`, in one binary (one link step).

mod errors;
mod globals;
mod intrinsics;
mod model;
mod product;
mod warnings;

use std::collections::BTreeMap;
use template::model::{Endpoints, ResolveOptions, Stack};
use template::{Template, TemplateError};

/// The options devstack's tests use: fixed local endpoints, paths relative to the crate (the
/// working directory of `cargo test`), so that snapshots hold no machine-specific path.
pub fn options(stack: &str) -> ResolveOptions {
    ResolveOptions {
        stack_name: stack.into(),
        region: "us-east-1".into(),
        account_id: "000000000000".into(),
        parameter_overrides: BTreeMap::new(),
        endpoints: Endpoints {
            edge: "http://127.0.0.1:4566".into(),
            http_api: "http://127.0.0.1:3000".into(),
            websocket_api: "http://127.0.0.1:3001".into(),
        },
        base_dir: "../..".into(),
    }
}

/// Resolves a template given as text, with stack name `s` and no overrides.
pub fn resolve(yaml: &str) -> Result<Stack, TemplateError> {
    resolve_with(yaml, &[])
}

pub fn resolve_with(yaml: &str, overrides: &[(&str, &str)]) -> Result<Stack, TemplateError> {
    let mut opts = options("s");
    opts.parameter_overrides = overrides
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    template::resolve(&Template::parse(yaml)?, &opts)
}

/// The error message of a template that must fail.
pub fn error(yaml: &str) -> String {
    match resolve(yaml) {
        Ok(_) => panic!("the template resolved"),
        Err(e) => e.to_string(),
    }
}

/// `(resource, message)` of every warning.
pub fn warnings(stack: &Stack) -> Vec<(String, String)> {
    stack
        .warnings
        .iter()
        .map(|w| (w.resource.clone(), w.message.clone()))
        .collect()
}
