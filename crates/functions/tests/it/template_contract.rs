//! What the code and the template must agree on, checked from both sides.

use std::collections::BTreeSet;

fn template() -> serde_yaml::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
        .unwrap();
    serde_yaml::from_str(&text).unwrap()
}

#[test]
fn every_function_binary_exists_and_every_binary_is_deployed() {
    let t = template();
    let mut declared = BTreeSet::new();
    for (_, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() == Some("AWS::Serverless::Function") {
            assert_eq!(
                r["Properties"]["CodeUri"].as_str(),
                Some("crates/functions")
            );
            assert_eq!(
                r["Metadata"]["BuildMethod"].as_str(),
                Some("rust-cargolambda")
            );
            declared.insert(
                r["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    let bins: BTreeSet<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(declared, bins);
}

#[test]
fn the_table_keys_are_the_ones_the_code_builds() {
    use domain::keys::attr;
    let t = template::Template::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
        .unwrap();
    let table = t.tables().unwrap().remove(0);
    assert_eq!(table.hash.name, attr::PK);
    assert_eq!(table.range.unwrap().name, attr::SK);
    let gsi = &table.global_indexes[0];
    assert_eq!(gsi.name, attr::GSI1);
    assert_eq!(gsi.hash.name, attr::GSI1PK);
    assert_eq!(gsi.range.as_ref().unwrap().name, attr::GSI1SK);
    assert_eq!(table.ttl_attribute.as_deref(), Some(attr::TTL));
}

#[test]
fn custom_metric_alarms_and_widgets_read_what_the_code_emits() {
    use functions::metrics::Metric::*;
    let emitted: BTreeSet<&str> = [
        LinkCreated,
        LinkResolved,
        LinkNotFound,
        ClickCounted,
        ClickDuplicate,
        ClickDropped,
        PublishFailed,
        PushFailed,
    ]
    .iter()
    .map(|m| m.name())
    .collect();
    let t = template();
    let resources = t["Resources"].as_mapping().unwrap();
    for (id, r) in resources {
        if r["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let p = &r["Properties"];
        // Our namespace is a !Ref to MetricsNamespace; AWS namespaces are literals.
        if p["Namespace"].as_str().is_some() {
            continue;
        }
        let name = p["MetricName"].as_str().unwrap();
        assert!(
            emitted.contains(name),
            "alarm {id:?} reads {name}, which no function emits"
        );
        let dims = p["Dimensions"].as_sequence().unwrap();
        assert_eq!(
            dims.len(),
            1,
            "alarm {id:?}: EMF lines carry exactly one dimension"
        );
        assert_eq!(dims[0]["Name"].as_str(), Some("Service"));
    }
    // The dashboard body is a !Sub string of JSON; with its ${...} placeholders kept as text it
    // parses as is. Every metric row in our namespace must be emitted, with our one dimension.
    let body = resources
        .iter()
        .find(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Dashboard"))
        .map(|(_, r)| match &r["Properties"]["DashboardBody"] {
            serde_yaml::Value::Tagged(t) => t.value.as_str().unwrap().to_owned(),
            other => other.as_str().unwrap().to_owned(),
        })
        .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut shown = BTreeSet::new();
    for widget in dashboard["widgets"].as_array().unwrap() {
        for row in widget["properties"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if row[0] != "${MetricsNamespace}" {
                continue;
            }
            let name = row[1].as_str().unwrap();
            assert!(
                emitted.contains(name),
                "the dashboard reads {name}, which no function emits"
            );
            assert_eq!(row[2], "Service");
            assert_eq!(row[3], "${ServiceName}");
            assert!(
                row.get(4).is_none_or(|r| r.is_object()),
                "no second dimension on {name}"
            );
            shown.insert(name);
        }
    }
    assert_eq!(shown, emitted, "every custom metric is on the dashboard");
}
