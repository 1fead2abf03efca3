//! The CustomResourceDefinition of [`RocketMQCluster`], as `crds/` holds it.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

use crate::{
    types::{RocketMQCluster, validation},
    yaml,
};

/// Where the generated CRD is committed, relative to the workspace root.
pub const CRD_FILE: &str = "crds/rocketmq.apogee.dev_rocketmqclusters.yaml";

/// The command that regenerates [`CRD_FILE`], run from the workspace root.
pub const REGENERATE: &str = "cargo run -p apogee-operator --bin apogee-operator -- crd > crds/rocketmq.apogee.dev_rocketmqclusters.yaml";

/// A CRD that cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The typed CRD does not convert to JSON and back (a bug in the types or the derive).
    #[error("the generated CRD does not round-trip through JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// YAML output failed.
    #[error(transparent)]
    Yaml(#[from] yaml::YamlError),
}

/// The CRD: the derived one, with the rules on the resource's root that the derive has no
/// place for, and descriptions as prose (doc comments are wrapped at 100 columns, and those
/// line breaks would otherwise reach `kubectl explain`, which wraps text itself).
pub fn crd() -> Result<CustomResourceDefinition, CrdError> {
    let mut crd = RocketMQCluster::crd();
    for version in &mut crd.spec.versions {
        let root = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut());
        if let Some(root) = root {
            let rules = root.x_kubernetes_validations.get_or_insert_with(Vec::new);
            for rule in validation::root_rules() {
                rules.push(serde_json::from_value(rule)?);
            }
        }
    }
    let mut value = serde_json::to_value(crd)?;
    unwrap_descriptions(&mut value);
    Ok(serde_json::from_value(value)?)
}

/// The CRD as YAML, headed by a comment saying it is generated.
pub fn crd_yaml() -> Result<String, CrdError> {
    let body = yaml::document(&crd()?)?;
    Ok(format!(
        "# Generated from the Rust types in operator/src/types; do not edit.\n# Regenerate: {REGENERATE}\n{body}"
    ))
}

/// Joins the lines of every `description`, keeping blank-line paragraph breaks.
fn unwrap_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match item {
                    Value::String(text) if key == "description" => *text = unwrap_lines(text),
                    _ => unwrap_descriptions(item),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| paragraph.split('\n').map(str::trim).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_become_paragraphs() {
        assert_eq!(unwrap_lines("one\ntwo\n\nthree\n four"), "one two\n\nthree four");
        let mut value = serde_json::json!({
            "description": "a\nb",
            "properties": {"x": {"description": "c\nd", "enum": ["e\nf"]}},
        });
        unwrap_descriptions(&mut value);
        assert_eq!(value["description"], "a b");
        assert_eq!(value["properties"]["x"]["description"], "c d");
        assert_eq!(value["properties"]["x"]["enum"][0], "e\nf");
    }
}
