//! The manifests in `examples/` are clusters a user can apply as they are: each reads as a
//! `RocketMQCluster` with no field the type does not know (a misspelt field would otherwise be
//! dropped without a word), passes the CRD's admission rules on create and on an unchanged
//! update, and renders into objects (its `broker.conf` and `namesrv.conf` settings included).

use std::path::{Path, PathBuf};

use apogee_operator::{RocketMQCluster, desired};
use kube_cel::Validator;
use serde_json::Value;

/// Every example the docs point to; a file added to `examples/` must be listed here.
const EXAMPLES: &[&str] = &[
    "dev-single-master.yaml",
    "master-slave-async.yaml",
    "master-slave-sync.yaml",
    "multi-master.yaml",
];

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn read(name: &str) -> Value {
    let path = examples_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn schema() -> Value {
    let crd = apogee_operator::crd::crd().expect("CRD");
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref());
    serde_json::to_value(schema.expect("openAPIV3Schema")).expect("schema JSON")
}

/// Paths of `written` that `read_back` lacks: fields the type ignored. `read_back` may hold
/// more (defaults filled in).
fn dropped(path: &str, written: &Value, read_back: &Value, found: &mut Vec<String>) {
    match (written, read_back) {
        (Value::Object(written), Value::Object(read_back)) => {
            for (key, value) in written {
                let path = format!("{path}.{key}");
                match read_back.get(key) {
                    Some(back) => dropped(&path, value, back, found),
                    None => found.push(path),
                }
            }
        }
        (Value::Array(written), Value::Array(read_back)) => {
            for (index, value) in written.iter().enumerate() {
                match read_back.get(index) {
                    Some(back) => dropped(&format!("{path}[{index}]"), value, back, found),
                    None => found.push(format!("{path}[{index}]")),
                }
            }
        }
        _ => {}
    }
}

#[test]
fn the_examples_listed_are_the_files_there() {
    let mut files: Vec<String> = std::fs::read_dir(examples_dir())
        .expect("examples/")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    assert_eq!(files, EXAMPLES);
}

#[test]
fn every_example_reads_as_a_cluster_with_no_unknown_field() {
    for name in EXAMPLES {
        let written = read(name);
        let cluster: RocketMQCluster =
            serde_json::from_value(written.clone()).unwrap_or_else(|err| panic!("{name}: {err}"));
        let read_back = serde_json::to_value(&cluster).expect("cluster JSON");
        let mut found = Vec::new();
        dropped("", &written, &read_back, &mut found);
        assert!(
            found.is_empty(),
            "{name}: fields RocketMQCluster does not have: {found:?}"
        );
        assert!(
            cluster.metadata.namespace.is_none(),
            "{name}: leave the namespace out, so `kubectl apply -n` chooses it"
        );
    }
}

#[test]
fn every_example_passes_the_admission_rules() {
    let schema = schema();
    for name in EXAMPLES {
        let object = read(name);
        for old in [None, Some(&object)] {
            let result = Validator::new().validate(&schema, &object, old);
            let refusals: Vec<String> = result.err().iter().flatten().map(ToString::to_string).collect();
            assert!(
                refusals.is_empty(),
                "{name} (update: {}): {refusals:?}",
                old.is_some()
            );
        }
    }
}

#[test]
fn every_example_renders_into_objects() {
    for name in EXAMPLES {
        let mut cluster: RocketMQCluster =
            serde_json::from_value(read(name)).unwrap_or_else(|err| panic!("{name}: {err}"));
        // What the API server adds on create.
        cluster.metadata.namespace = Some("mq".to_owned());
        cluster.metadata.uid = Some("6f1c2a5e-0000-4000-8000-00000000e0e0".to_owned());
        let objects = desired::build(&cluster).unwrap_or_else(|err| panic!("{name}: {err}"));
        let groups = usize::try_from(cluster.spec.broker.groups).expect("groups");
        assert_eq!(objects.broker_groups.len(), groups, "{name}");
    }
}
