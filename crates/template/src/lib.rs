//! Reads the SAM/CloudFormation `template.yaml`, the single source of the stack's wiring.
//!
//! [`Template`] parses the document (short-form intrinsic tags such as `!Ref` and `!GetAtt`
//! kept as tagged values). [`resolve`] turns it into the [`model::Stack`] devstack runs: every
//! intrinsic resolved against parameters, conditions and local names, SAM globals merged, AWS
//! endpoint forms rewritten to local ones, and everything not emulated reported.
//! [`Template::tables`] is the older literal-only reader of the DynamoDB tables.

mod build;
mod error;
mod globals;
mod identity;
mod intrinsics;
pub mod model;
mod names;
mod params;
mod pattern;
mod props;
mod resolve;
mod rewrite;

pub use error::{ParameterProblem, Problem, TemplateError, UnknownAttribute};
pub use resolve::resolve;

use serde_yaml::Value;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

/// A key attribute: its name and type (`S`, `N` or `B`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttribute {
    pub name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub hash: KeyAttribute,
    pub range: Option<KeyAttribute>,
}

/// An `AWS::DynamoDB::Table` as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    pub logical_id: String,
    /// `TableName` when it is a literal; CloudFormation generates one otherwise.
    pub table_name: Option<String>,
    pub hash: KeyAttribute,
    pub range: Option<KeyAttribute>,
    pub global_indexes: Vec<IndexDef>,
    pub ttl_attribute: Option<String>,
}

impl Template {
    pub fn load(path: impl AsRef<Path>) -> Result<Self, TemplateError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            TemplateError::Yaml { source, .. } => TemplateError::Yaml {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let root: Value = serde_yaml::from_str(text).map_err(|source| TemplateError::Yaml {
            path: "<template>".into(),
            source,
        })?;
        if root.get("Resources").and_then(Value::as_mapping).is_none() {
            return Err(TemplateError::NoResources);
        }
        Ok(Self { root })
    }

    /// The parsed document.
    pub fn root(&self) -> &Value {
        &self.root
    }

    /// `(logical id, properties)` of every resource of type `ty`, in template order.
    pub fn resources_of_type<'t>(
        &'t self,
        ty: &'t str,
    ) -> impl Iterator<Item = (&'t str, &'t Value)> + 't {
        self.root["Resources"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
            .filter_map(|(id, r)| Some((id.as_str()?, r.get("Properties").unwrap_or(&Value::Null))))
    }

    pub fn tables(&self) -> Result<Vec<TableDef>, TemplateError> {
        self.resources_of_type("AWS::DynamoDB::Table")
            .map(|(id, props)| table(id, props))
            .collect()
    }
}

/// A YAML scalar as text (numbers as written, booleans as `true`/`false`).
pub(crate) fn yaml_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A resolved scalar as text, the way CloudFormation stringifies it.
pub(crate) fn json_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn table(id: &str, props: &Value) -> Result<TableDef, TemplateError> {
    let err = |property: &str, problem: &str| TemplateError::Property {
        resource: id.to_owned(),
        property: property.to_owned(),
        problem: problem.to_owned(),
    };
    let types: Vec<(String, String)> = props
        .get("AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| err("AttributeDefinitions", "is missing"))?
        .iter()
        .map(|a| {
            Some((
                a.get("AttributeName")?.as_str()?.to_owned(),
                a.get("AttributeType")?.as_str()?.to_owned(),
            ))
        })
        .collect::<Option<_>>()
        .ok_or_else(|| {
            err(
                "AttributeDefinitions",
                "has an entry without a literal name and type",
            )
        })?;
    let key = |property: &str,
               schema: &Value|
     -> Result<(KeyAttribute, Option<KeyAttribute>), TemplateError> {
        let mut hash = None;
        let mut range = None;
        for k in schema
            .as_sequence()
            .ok_or_else(|| err(property, "is not a list"))?
        {
            let name = k
                .get("AttributeName")
                .and_then(Value::as_str)
                .ok_or_else(|| err(property, "has an entry without AttributeName"))?;
            let attribute_type = types
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| {
                    err(
                        property,
                        &format!("names {name}, which AttributeDefinitions lacks"),
                    )
                })?;
            let attr = KeyAttribute {
                name: name.to_owned(),
                attribute_type,
            };
            match k.get("KeyType").and_then(Value::as_str) {
                Some("HASH") => hash = Some(attr),
                Some("RANGE") => range = Some(attr),
                _ => return Err(err(property, "has a KeyType other than HASH or RANGE")),
            }
        }
        Ok((hash.ok_or_else(|| err(property, "has no HASH key"))?, range))
    };
    let (hash, range) = key("KeySchema", props.get("KeySchema").unwrap_or(&Value::Null))?;
    let global_indexes = props
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|g| {
            let name = g
                .get("IndexName")
                .and_then(Value::as_str)
                .ok_or_else(|| err("GlobalSecondaryIndexes", "has an index without IndexName"))?;
            let (hash, range) = key(
                "GlobalSecondaryIndexes.KeySchema",
                g.get("KeySchema").unwrap_or(&Value::Null),
            )?;
            Ok(IndexDef {
                name: name.to_owned(),
                hash,
                range,
            })
        })
        .collect::<Result<_, TemplateError>>()?;
    let ttl = props.get("TimeToLiveSpecification");
    let ttl_attribute = ttl
        .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
        .and_then(|t| t.get("AttributeName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(TableDef {
        logical_id: id.to_owned(),
        table_name: props
            .get("TableName")
            .and_then(Value::as_str)
            .map(str::to_owned),
        hash,
        range,
        global_indexes,
        ttl_attribute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_product_table() {
        let t =
            Template::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
        let tables = t.tables().unwrap();
        assert_eq!(tables.len(), 1);
        let links = &tables[0];
        assert_eq!(links.logical_id, "LinksTable");
        assert_eq!(links.hash.name, "PK");
        assert_eq!(links.range.as_ref().unwrap().name, "SK");
        assert_eq!(links.global_indexes[0].name, "GSI1");
        assert_eq!(links.global_indexes[0].hash.name, "GSI1PK");
        assert_eq!(links.ttl_attribute.as_deref(), Some("ttl"));
    }

    #[test]
    fn a_broken_key_schema_names_resource_and_property() {
        let t = Template::parse(
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      AttributeDefinitions: [{AttributeName: A, AttributeType: S}]\n      KeySchema: [{AttributeName: B, KeyType: HASH}]\n",
        )
        .unwrap();
        let e = t.tables().unwrap_err().to_string();
        assert_eq!(
            e,
            "resource T: property KeySchema names B, which AttributeDefinitions lacks"
        );
    }
}
