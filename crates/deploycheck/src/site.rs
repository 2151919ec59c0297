//! The dashboard's hosting: each bucket with `Metadata.Site` (what `just publish-dashboard`
//! uploads and devstack serves) must be private and readable only through a CloudFront
//! distribution of this stack, over HTTPS, and its metadata must name outputs that exist:
//!
//! - the bucket blocks every kind of public access;
//! - a distribution has the bucket's regional domain as an origin, signed with an origin
//!   access control, and sends plain HTTP viewers to HTTPS;
//! - the bucket policy allows `s3:GetObject` to `cloudfront.amazonaws.com` only with an
//!   `AWS:SourceArn` condition naming that distribution, and allows nothing to anyone else;
//! - `Config` and `Distribution` name outputs, and `Distribution`'s is that distribution's id
//!   (the one each publish invalidates).

use crate::cfn::{Cfn, one_or_many};
use crate::finding::Finding;
use serde_json::Value;

const BLOCKS: [&str; 4] = [
    "BlockPublicAcls",
    "BlockPublicPolicy",
    "IgnorePublicAcls",
    "RestrictPublicBuckets",
];

pub fn check(cfn: &Cfn) -> Vec<Finding> {
    let mut found = Vec::new();
    let outputs = cfn.root().get("Outputs");
    for (bucket, res) in cfn.resources() {
        if res.get("Type").and_then(Value::as_str) != Some("AWS::S3::Bucket") {
            continue;
        }
        let Some(meta) = res.get("Metadata").and_then(|m| m.get("Site")) else {
            continue;
        };
        let problem = |problem: String| Finding::Site {
            bucket: bucket.into(),
            problem,
        };
        let props = cfn.props(bucket);

        let block = props.get("PublicAccessBlockConfiguration");
        let open: Vec<&str> = BLOCKS
            .into_iter()
            .filter(|k| block.and_then(|b| b.get(*k)) != Some(&Value::Bool(true)))
            .collect();
        if !open.is_empty() {
            found.push(problem(format!(
                "does not block public access ({} not true)",
                open.join(", ")
            )));
        }

        // The distributions that serve it, through an origin access control.
        let domain = format!("${{{bucket}.RegionalDomainName}}");
        let mut serving = Vec::new();
        for dist in cfn.of_type("AWS::CloudFront::Distribution") {
            let config = cfn.props(dist).get("DistributionConfig");
            let origins = config
                .and_then(|c| c.get("Origins"))
                .map(one_or_many)
                .unwrap_or_default();
            let Some(origin) = origins.into_iter().find(|o| {
                o.get("DomainName").and_then(|d| cfn.canon(d)).as_deref() == Some(&domain)
            }) else {
                continue;
            };
            if origin.get("OriginAccessControlId").is_none() {
                found.push(problem(format!(
                    "{dist} reads it without an origin access control (unsigned requests need a public bucket)"
                )));
            }
            let viewer = config
                .and_then(|c| c.get("DefaultCacheBehavior"))
                .and_then(|b| b.get("ViewerProtocolPolicy"))
                .and_then(Value::as_str);
            if !matches!(viewer, Some("redirect-to-https" | "https-only")) {
                found.push(problem(format!(
                    "{dist} serves it over plain HTTP (ViewerProtocolPolicy {})",
                    viewer.unwrap_or("missing")
                )));
            }
            serving.push(dist);
        }
        if serving.is_empty() {
            found.push(problem(
                "no CloudFront distribution of the stack serves it".into(),
            ));
        }

        // Who may read it.
        let mut reads = false;
        for policy in cfn.of_type("AWS::S3::BucketPolicy") {
            let p = cfn.props(policy);
            if p.get("Bucket").and_then(|b| cfn.canon(b)).as_deref()
                != Some(&format!("${{{bucket}}}"))
            {
                continue;
            }
            let statements = p
                .get("PolicyDocument")
                .and_then(|d| d.get("Statement"))
                .map(one_or_many)
                .unwrap_or_default();
            for s in statements {
                if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
                    continue;
                }
                let sid = s
                    .get("Sid")
                    .and_then(Value::as_str)
                    .unwrap_or("a statement");
                let service = s
                    .get("Principal")
                    .and_then(|p| p.get("Service"))
                    .and_then(Value::as_str);
                if service != Some("cloudfront.amazonaws.com") {
                    found.push(problem(format!(
                        "{policy}: {sid} allows a principal other than CloudFront"
                    )));
                    continue;
                }
                let source = s
                    .get("Condition")
                    .and_then(|c| c.get("StringEquals"))
                    .and_then(|c| c.get("AWS:SourceArn"))
                    .and_then(|a| cfn.canon(a))
                    .unwrap_or_default();
                if serving
                    .iter()
                    .any(|d| source.ends_with(&format!(":distribution/${{{d}}}")))
                {
                    reads = true;
                } else {
                    found.push(problem(format!(
                        "{policy}: {sid} lets any CloudFront distribution read it (no AWS:SourceArn of this stack's)"
                    )));
                }
            }
        }
        if !reads && !serving.is_empty() {
            found.push(problem(
                "no bucket policy lets its distribution read it".into(),
            ));
        }

        // The outputs the publish reads.
        let output = |key: &str| -> Result<Option<(String, &Value)>, Finding> {
            let Some(name) = meta.get(key) else {
                return Ok(None);
            };
            let name = name.as_str().unwrap_or_default().to_owned();
            match outputs
                .and_then(|o| o.get(&name))
                .and_then(|o| o.get("Value"))
            {
                Some(v) => Ok(Some((name, v))),
                None => Err(problem(format!(
                    "Metadata.Site.{key} names the output {name:?}, which the template does not have"
                ))),
            }
        };
        if let Err(f) = output("Config") {
            found.push(f);
        }
        match output("Distribution") {
            Err(f) => found.push(f),
            Ok(None) => found.push(problem(
                "Metadata.Site.Distribution names no output: a publish would not invalidate CloudFront's copy".into(),
            )),
            Ok(Some((name, value))) => {
                let id = cfn.canon(value).unwrap_or_default();
                if !serving.iter().any(|d| id == format!("${{{d}}}")) {
                    found.push(problem(format!(
                        "the output {name} ({id}) is not the id of a distribution that serves it"
                    )));
                }
            }
        }
    }
    found
}
