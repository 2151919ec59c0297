//! Reading the transformed (plain CloudFormation) template.
//!
//! The translator leaves intrinsics as they are (`{"Fn::GetAtt": ["LinksTable", "Arn"]}`,
//! `{"Fn::Sub": "${LinksTable.Arn}/index/GSI1"}`), and one resource can be named in several
//! spellings. [`Cfn::canon`] writes each as one string in `Fn::Sub` syntax, so that the
//! permissions table and the checks compare text a reviewer can read:
//!
//! | in the template | canonical |
//! |---|---|
//! | `!GetAtt LinksTable.Arn` | `${LinksTable.Arn}` |
//! | `!Ref EventBus` | `${EventBus}` |
//! | `!Ref ResolveLinkFunction.Version` (SAM makes it a `Ref` to the hashed version resource) | `${ResolveLinkFunction.Version}` |
//! | `!Ref GetLinkFunction.Alias` (a `Ref` to `GetLinkFunctionAliaslive`) | `${GetLinkFunction.Alias}` |
//! | `arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${F}` | `${F.Arn}` |
//! | `arn:aws:...` | `arn:${AWS::Partition}:...` |
//! | `!Sub [s, {k: v}]`, `!Join [sep, parts]` | the variables and parts, canonical, substituted |

use serde_json::{Map, Value};

const LAMBDA_ARN_PREFIX: &str =
    "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${";

/// The transformed template's resources and parameters.
pub struct Cfn<'a> {
    resources: &'a Map<String, Value>,
    parameters: Option<&'a Map<String, Value>>,
    conditions: Option<&'a Map<String, Value>>,
    root: &'a Value,
}

impl<'a> Cfn<'a> {
    pub fn new(root: &'a Value) -> Option<Self> {
        Some(Self {
            resources: root.get("Resources")?.as_object()?,
            parameters: root.get("Parameters").and_then(Value::as_object),
            conditions: root.get("Conditions").and_then(Value::as_object),
            root,
        })
    }

    pub fn root(&self) -> &'a Value {
        self.root
    }

    pub fn resources(&self) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn has_resource(&self, id: &str) -> bool {
        self.resources.contains_key(id)
    }

    pub fn has_parameter(&self, id: &str) -> bool {
        self.parameters.is_some_and(|p| p.contains_key(id))
    }

    pub fn has_condition(&self, id: &str) -> bool {
        self.conditions.is_some_and(|c| c.contains_key(id))
    }

    pub fn type_of(&self, id: &str) -> Option<&'a str> {
        self.resources.get(id)?.get("Type")?.as_str()
    }

    /// A resource's `Properties` (or `Null` when it has none).
    pub fn props(&self, id: &str) -> &'a Value {
        self.resources
            .get(id)
            .and_then(|r| r.get("Properties"))
            .unwrap_or(&Value::Null)
    }

    pub fn of_type(&self, ty: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.resources
            .iter()
            .filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(ty))
            .map(|(k, _)| k.as_str())
    }

    /// A parameter's default, as text (`Number` parameters are written either way).
    pub fn parameter_default(&self, name: &str) -> Option<String> {
        scalar_text(self.parameters?.get(name)?.get("Default")?)
    }

    /// The canonical text of a value (see the module docs), or None for what has no single
    /// text (`Fn::If`, `Fn::Select`, lists, ...).
    pub fn canon(&self, v: &Value) -> Option<String> {
        let raw = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Object(o) if o.len() == 1 => {
                let (k, arg) = o.iter().next()?;
                match k.as_str() {
                    "Ref" => self.canon_ref(arg.as_str()?),
                    "Fn::GetAtt" => {
                        let (res, attr) = getatt_parts(arg)?;
                        format!("${{{res}.{attr}}}")
                    }
                    "Fn::Sub" => match arg {
                        Value::String(s) => s.clone(),
                        Value::Array(a) if a.len() == 2 => {
                            let mut s = a[0].as_str()?.to_owned();
                            for (name, value) in a[1].as_object()? {
                                s = s.replace(&format!("${{{name}}}"), &self.canon(value)?);
                            }
                            s
                        }
                        _ => return None,
                    },
                    "Fn::Join" => {
                        let a = arg.as_array()?;
                        let sep = a.first()?.as_str()?;
                        let parts = a.get(1)?.as_array()?;
                        parts
                            .iter()
                            .map(|p| self.canon(p))
                            .collect::<Option<Vec<_>>>()?
                            .join(sep)
                    }
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some(rewrite_arns(&raw))
    }

    fn canon_ref(&self, target: &str) -> String {
        // SAM turns `!Ref F.Version` / `!Ref F.Alias` into Refs to the resources it generated
        // (with a content hash in the version's id): name them after their function again.
        let function_of = |id: &str| {
            let f = self.props(id).get("FunctionName")?;
            let f = f.get("Ref")?.as_str()?;
            Some(f.to_owned())
        };
        match self.type_of(target) {
            Some("AWS::Lambda::Version") => match function_of(target) {
                Some(f) => format!("${{{f}.Version}}"),
                None => format!("${{{target}}}"),
            },
            Some("AWS::Lambda::Alias") => match function_of(target) {
                Some(f) => format!("${{{f}.Alias}}"),
                None => format!("${{{target}}}"),
            },
            _ => format!("${{{target}}}"),
        }
    }
}

/// `["Res", "Attr"]` or `"Res.Attr"`.
pub fn getatt_parts(arg: &Value) -> Option<(&str, &str)> {
    match arg {
        Value::Array(a) if a.len() == 2 => Some((a[0].as_str()?, a[1].as_str()?)),
        Value::String(s) => s.split_once('.'),
        _ => None,
    }
}

pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `arn:aws:` -> `arn:${AWS::Partition}:`; a Lambda function's ARN spelled out -> `${F.Arn}`.
fn rewrite_arns(s: &str) -> String {
    let mut s = s.replace("arn:aws:", "arn:${AWS::Partition}:");
    while let Some(at) = s.find(LAMBDA_ARN_PREFIX) {
        let name_start = at + LAMBDA_ARN_PREFIX.len();
        let Some(len) = s[name_start..].find('}') else {
            break;
        };
        let name = &s[name_start..name_start + len];
        if name.contains('.') || name.contains(':') {
            break;
        }
        let replaced = format!("${{{name}.Arn}}");
        s.replace_range(at..name_start + len + 1, &replaced);
    }
    s
}

/// IAM's wildcard match (`*` any run, `?` one character), case-insensitive as IAM action names
/// are. Applied to canonical text it is an approximation that errs towards "covered".
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// One value or a list of them, as CloudFormation and IAM both allow.
pub fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_spellings() {
        let t = json!({"Resources": {
            "FVersionabc": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "F"}}},
            "FAliaslive": {"Type": "AWS::Lambda::Alias", "Properties": {"FunctionName": {"Ref": "F"}}}
        }});
        let c = Cfn::new(&t).unwrap();
        let canon = |v: Value| c.canon(&v).unwrap();
        assert_eq!(canon(json!({"Fn::GetAtt": ["T", "Arn"]})), "${T.Arn}");
        assert_eq!(canon(json!({"Fn::GetAtt": "T.Arn"})), "${T.Arn}");
        assert_eq!(canon(json!({"Ref": "FVersionabc"})), "${F.Version}");
        assert_eq!(canon(json!({"Ref": "FAliaslive"})), "${F.Alias}");
        assert_eq!(
            canon(
                json!({"Fn::Sub": ["arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${n}*", {"n": {"Ref": "F"}}]})
            ),
            "${F.Arn}*"
        );
        assert_eq!(
            canon(json!("arn:aws:codedeploy:${AWS::Region}:x")),
            "arn:${AWS::Partition}:codedeploy:${AWS::Region}:x"
        );
        assert_eq!(
            canon(json!({"Fn::Join": ["", [{"Fn::GetAtt": ["T", "Arn"]}, "/index/*"]]})),
            "${T.Arn}/index/*"
        );
        assert_eq!(c.canon(&json!({"Fn::If": ["C", "a", "b"]})), None);
    }

    #[test]
    fn iam_glob() {
        assert!(glob("dynamodb:*", "dynamodb:GetItem"));
        assert!(glob("DynamoDB:get*", "dynamodb:GetItem"));
        assert!(glob("*", "anything"));
        assert!(glob("${T.Arn}*", "${T.Arn}/index/GSI1"));
        assert!(!glob("dynamodb:Get*", "dynamodb:PutItem"));
        assert!(!glob("${T.Arn}", "${T.Arn}/index/GSI1"));
    }
}
