//! The CRD's admission rules, evaluated client-side with kube's CEL engine (the Kubernetes CEL
//! libraries, quantity included): each rule accepts what it should and refuses the rest with
//! its message. Structural checks (enums, ranges) are the API server's and are covered by the
//! schema itself; these tests cover the CEL rules only.

use kube_cel::Validator;
use serde_json::{Value, json};

fn schema() -> Value {
    let crd = apogee_operator::crd::crd().expect("CRD");
    let version = &crd.spec.versions[0];
    let schema = version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref());
    serde_json::to_value(schema.expect("openAPIV3Schema")).expect("schema JSON")
}

fn cluster(broker: Value) -> Value {
    json!({
        "apiVersion": "rocketmq.apogee.dev/v1alpha1",
        "kind": "RocketMQCluster",
        "metadata": {"name": "prod", "namespace": "mq"},
        "spec": {"image": "apogee:0.1.0", "broker": broker},
    })
}

fn multi_master() -> Value {
    json!({"mode": "MultiMaster", "groups": 2, "storage": {"size": "10Gi"}})
}

fn master_slave() -> Value {
    json!({"mode": "MasterSlave", "groups": 2, "replicasPerGroup": 2, "replication": "Sync",
           "storage": {"size": "10Gi", "storageClassName": "fast"}})
}

/// The messages of every failed rule (empty when the object is admitted).
fn refusals(object: &Value, old: Option<&Value>) -> Vec<String> {
    match Validator::new().validate(&schema(), object, old) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn with(mut base: Value, path: &[&str], value: Value) -> Value {
    let mut at = &mut base;
    for key in &path[..path.len() - 1] {
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = value;
    base
}

#[track_caller]
fn assert_refused(object: &Value, old: Option<&Value>, expected: &str) {
    let found = refusals(object, old);
    assert!(
        found.iter().any(|message| message.contains(expected)),
        "expected a refusal containing {expected:?}, got {found:?}"
    );
}

#[test]
fn well_formed_clusters_are_admitted() {
    for broker in [multi_master(), master_slave()] {
        let object = cluster(broker);
        assert_eq!(refusals(&object, None), Vec::<String>::new());
        assert_eq!(refusals(&object, Some(&object)), Vec::<String>::new());
    }
    let tuned = cluster(with(
        master_slave(),
        &["config"],
        json!({"fileReservedTime": "48", "inSyncReplicas": "2", "aclEnable": "false"}),
    ));
    assert_eq!(refusals(&tuned, None), Vec::<String>::new());
}

#[test]
fn mode_is_immutable() {
    let old = cluster(multi_master());
    let new = cluster(with(multi_master(), &["mode"], json!("MasterSlave")));
    assert_refused(
        &new,
        Some(&old),
        "is immutable: the groups' data and roles follow from it",
    );
    // Creating either mode is fine; only the change is refused.
    assert_eq!(refusals(&new, None), Vec::<String>::new());
}

#[test]
fn replication_only_in_master_slave_mode() {
    let object = cluster(with(multi_master(), &["replication"], json!("Sync")));
    assert_refused(&object, None, "replication applies to mode MasterSlave only");
}

#[test]
fn replicas_per_group_follow_the_mode() {
    let lone = cluster(with(master_slave(), &["replicasPerGroup"], json!(1)));
    assert_refused(&lone, None, "must be at least 2 in mode MasterSlave");
    let paired = cluster(with(multi_master(), &["replicasPerGroup"], json!(2)));
    assert_refused(&paired, None, "must be 1 in mode MultiMaster");
}

#[test]
fn operator_owned_keys_are_refused_by_name() {
    let object = cluster(with(
        multi_master(),
        &["config"],
        json!({"brokerName": "a", "fileReservedTime": "48", "namesrvAddr": "x:9876"}),
    ));
    let mut found = refusals(&object, None);
    found.sort();
    // Each owned key is reported once, by name, and not also as unknown.
    assert_eq!(
        found,
        [
            "spec.broker.config: must not set brokerName: the operator sets it from the resource",
            "spec.broker.config: must not set namesrvAddr: the operator sets it from the resource",
        ]
    );
    for key in apogee_operator::types::validation::OPERATOR_BROKER_KEYS {
        let object = cluster(with(multi_master(), &["config"], json!({*key: "1"})));
        assert_refused(&object, None, &format!("must not set {key}:"));
    }
}

#[test]
fn unknown_keys_are_refused() {
    let object = cluster(with(
        multi_master(),
        &["config"],
        json!({"fileReservedTmie": "48"}),
    ));
    assert_refused(&object, None, "holds a key that is not a broker.conf key");
    let name_server = with(
        cluster(multi_master()),
        &["spec", "nameServer"],
        json!({"config": {"listenPort": "9000", "orderMessageEnable": "true", "bogus": "1"}}),
    );
    assert_refused(&name_server, None, "must not set listenPort");
    assert_refused(&name_server, None, "holds a key that is not a namesrv.conf key");
}

#[test]
fn cluster_names_must_fit_the_derived_names() {
    for name in ["Prod", "2prod", "prod.eu", &"a".repeat(41)] {
        let object = with(cluster(multi_master()), &["metadata", "name"], json!(name));
        assert_refused(
            &object,
            None,
            "metadata.name must be a DNS label of at most 40 characters",
        );
    }
}

#[test]
fn storage_size_is_a_positive_quantity_that_never_shrinks() {
    let sized = |size: &str| cluster(with(multi_master(), &["storage", "size"], json!(size)));
    for bad in ["ten", "0", "-1Gi"] {
        assert_refused(&sized(bad), None, "must be a positive quantity such as 100Gi");
    }
    assert_refused(
        &sized("9Gi"),
        Some(&sized("10Gi")),
        "cannot shrink from 10Gi to 9Gi: a volume only grows",
    );
    // Same size in other units, and growth, are fine.
    assert_eq!(
        refusals(&sized("10240Mi"), Some(&sized("10Gi"))),
        Vec::<String>::new()
    );
    assert_eq!(
        refusals(&sized("1Ti"), Some(&sized("10Gi"))),
        Vec::<String>::new()
    );
}

#[test]
fn storage_class_is_fixed() {
    let old = cluster(master_slave());
    let changed = cluster(with(
        master_slave(),
        &["storage", "storageClassName"],
        json!("slow"),
    ));
    assert_refused(&changed, Some(&old), "existing volumes keep their StorageClass");
    let mut removed = master_slave();
    removed["storage"]
        .as_object_mut()
        .unwrap()
        .remove("storageClassName");
    assert_refused(
        &cluster(removed),
        Some(&old),
        "existing volumes keep their StorageClass",
    );
}

#[test]
fn metrics_port_avoids_the_broker_ports() {
    let object = with(
        cluster(multi_master()),
        &["spec", "metrics"],
        json!({"port": 10911}),
    );
    assert_refused(&object, None, "must differ from the broker's ports");
    let fine = with(
        cluster(multi_master()),
        &["spec", "metrics"],
        json!({"port": 9100}),
    );
    assert_eq!(refusals(&fine, None), Vec::<String>::new());
}
