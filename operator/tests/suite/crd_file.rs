//! The committed CRD (`crds/rocketmq.apogee.dev_rocketmqclusters.yaml`) is the one the types
//! generate, the Helm chart installs that same file, and the YAML reads back as that CRD.

use std::path::Path;

use apogee_operator::crd::{self, CRD_FILE, REGENERATE};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

fn committed() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(CRD_FILE);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; generate it with `{REGENERATE}`", path.display()))
}

#[test]
fn committed_crd_matches_the_types() {
    let generated = crd::crd_yaml().expect("CRD YAML");
    assert!(
        committed() == generated,
        "{CRD_FILE} is out of date with operator/src/types; regenerate it from the workspace root with:\n\n    {REGENERATE}\n"
    );
}

/// Where the Helm chart keeps its copy (helm installs `crds/` of a chart before its templates).
const CHART_DIR: &str = "charts/apogee-operator";

#[test]
fn the_chart_installs_the_generated_crd() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(CHART_DIR)
        .join(CRD_FILE);
    let copy = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    assert!(
        copy == crd::crd_yaml().expect("CRD YAML"),
        "{CHART_DIR}/{CRD_FILE} differs from the generated CRD; after regenerating {CRD_FILE}, copy it:\n\n    cp {CRD_FILE} {CHART_DIR}/crds/\n"
    );
}

#[test]
fn crd_yaml_reads_back_as_the_crd() {
    let read: CustomResourceDefinition =
        serde_saphyr::from_str(&crd::crd_yaml().expect("CRD YAML")).expect("CRD YAML parses");
    assert_eq!(read, crd::crd().expect("CRD"));
}

#[test]
fn every_field_is_described() {
    // `kubectl explain` shows these descriptions; a field without one is a doc comment missing
    // on the Rust type.
    fn walk(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
        if let Some(properties) = schema.get("properties").and_then(|p| p.as_object()) {
            for (name, property) in properties {
                let path = format!("{path}.{name}");
                if property
                    .get("description")
                    .and_then(|d| d.as_str())
                    .is_none_or(str::is_empty)
                {
                    missing.push(path.clone());
                }
                walk(&path, property, missing);
            }
        }
        for nested in ["items", "additionalProperties"] {
            if let Some(inner) = schema.get(nested) {
                walk(&format!("{path}[]"), inner, missing);
            }
        }
    }
    let crd = crd::crd().expect("CRD");
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref());
    let schema = serde_json::to_value(schema.expect("schema")).expect("JSON");
    let mut missing = Vec::new();
    walk("", &schema, &mut missing);
    assert!(missing.is_empty(), "fields without a description: {missing:#?}");
}

#[test]
fn the_config_description_names_every_owned_key() {
    let yaml = crd::crd_yaml().expect("CRD YAML");
    let crd: serde_json::Value = serde_saphyr::from_str(&yaml).expect("parses");
    let config = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["broker"]["properties"]["config"]["description"];
    let description = config.as_str().expect("description");
    for key in apogee_operator::types::validation::OPERATOR_BROKER_KEYS {
        assert!(
            description.contains(key),
            "spec.broker.config's description does not mention {key}"
        );
    }
}
