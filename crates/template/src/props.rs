//! Typed reads of resolved properties. Every failure names the resource and the property path.

use crate::error::{Problem, TemplateError};
use crate::intrinsics::{Obj, join_path};
use crate::json_text;
use serde_json::Value as J;
use std::sync::LazyLock;

static EMPTY: LazyLock<Obj> = LazyLock::new(Obj::new);

/// A resolved mapping of a resource's properties (or a nested mapping), with its path.
#[derive(Debug, Clone)]
pub(crate) struct Props<'a> {
    pub owner: &'a str,
    pub obj: &'a Obj,
    path: String,
}

impl<'a> Props<'a> {
    pub fn new(owner: &'a str, obj: &'a Obj) -> Self {
        Self {
            owner,
            obj,
            path: String::new(),
        }
    }

    /// An empty mapping, for absent optional sections.
    pub fn empty(owner: &'a str, path: String) -> Self {
        Self {
            owner,
            obj: &EMPTY,
            path,
        }
    }

    /// This mapping's own path inside the resource.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn path_of(&self, key: &str) -> String {
        join_path(&self.path, key)
    }

    pub fn fail(&self, key: &str, problem: impl Into<String>) -> TemplateError {
        TemplateError::Resource {
            resource: self.owner.into(),
            property: self.path_of(key),
            problem: Problem::Invalid(problem.into()),
        }
    }

    /// The value of `key`; an explicit null counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a J> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn text(&self, key: &str) -> Result<Option<String>, TemplateError> {
        self.get(key)
            .map(|v| {
                json_text(v).ok_or_else(|| self.fail(key, format!("must be a string, got {v}")))
            })
            .transpose()
    }

    pub fn text_or(&self, key: &str, default: &str) -> Result<String, TemplateError> {
        Ok(self.text(key)?.unwrap_or_else(|| default.to_owned()))
    }

    pub fn required_text(&self, key: &str) -> Result<String, TemplateError> {
        self.text(key)?.ok_or_else(|| self.fail(key, "is missing"))
    }

    /// A whole number; CloudFormation also accepts one written as a string (and a `Number`
    /// parameter's `!Ref` is one).
    pub fn u32(&self, key: &str) -> Result<Option<u32>, TemplateError> {
        self.get(key)
            .map(|v| {
                let parsed = match v {
                    J::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                    J::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                parsed.ok_or_else(|| self.fail(key, format!("must be a whole number, got {v}")))
            })
            .transpose()
    }

    pub fn u32_or(&self, key: &str, default: u32) -> Result<u32, TemplateError> {
        Ok(self.u32(key)?.unwrap_or(default))
    }

    pub fn f64(&self, key: &str) -> Result<Option<f64>, TemplateError> {
        self.get(key)
            .map(|v| {
                let parsed = match v {
                    J::Number(n) => n.as_f64(),
                    J::String(s) => s.trim().parse().ok(),
                    _ => None,
                };
                parsed.ok_or_else(|| self.fail(key, format!("must be a number, got {v}")))
            })
            .transpose()
    }

    /// A boolean; CloudFormation also accepts `"true"` / `"false"`.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, TemplateError> {
        self.get(key)
            .map(|v| match v {
                J::Bool(b) => Ok(*b),
                J::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
                J::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
                _ => Err(self.fail(key, format!("must be true or false, got {v}"))),
            })
            .transpose()
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, TemplateError> {
        Ok(self.bool(key)?.unwrap_or(default))
    }

    /// A list of strings; a single string counts as a list of one.
    pub fn texts(&self, key: &str) -> Result<Vec<String>, TemplateError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(J::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    json_text(v).ok_or_else(|| {
                        self.fail(&format!("{key}[{i}]"), format!("must be a string, got {v}"))
                    })
                })
                .collect(),
            Some(v) => json_text(v)
                .map(|t| vec![t])
                .ok_or_else(|| self.fail(key, format!("must be a list of strings, got {v}"))),
        }
    }

    /// The nested mapping `key`, if present.
    pub fn child(&self, key: &str) -> Result<Option<Props<'a>>, TemplateError> {
        match self.get(key) {
            None => Ok(None),
            Some(J::Object(obj)) => Ok(Some(Props {
                owner: self.owner,
                obj,
                path: self.path_of(key),
            })),
            Some(v) => Err(self.fail(key, format!("must be a mapping, got {v}"))),
        }
    }

    /// The nested mapping `key`, or an empty one.
    pub fn child_or_empty(&self, key: &str) -> Result<Props<'a>, TemplateError> {
        Ok(self
            .child(key)?
            .unwrap_or_else(|| Props::empty(self.owner, self.path_of(key))))
    }

    /// The list of mappings `key`.
    pub fn list(&self, key: &str) -> Result<Vec<Props<'a>>, TemplateError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(J::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    J::Object(obj) => Ok(Props {
                        owner: self.owner,
                        obj,
                        path: format!("{}[{i}]", self.path_of(key)),
                    }),
                    _ => Err(self.fail(
                        &format!("{key}[{i}]"),
                        format!("must be a mapping, got {v}"),
                    )),
                })
                .collect(),
            Some(v) => Err(self.fail(key, format!("must be a list, got {v}"))),
        }
    }

    /// Each entry of this mapping as a nested mapping (e.g. SAM `Events`).
    pub fn children(&self) -> Result<Vec<(&'a str, Props<'a>)>, TemplateError> {
        self.obj
            .keys()
            .map(|k| {
                let child = self
                    .child(k)?
                    .unwrap_or_else(|| Props::empty(self.owner, self.path_of(k)));
                Ok((k.as_str(), child))
            })
            .collect()
    }
}
