//! Properties of the desired objects that golden files alone would not make obvious: the
//! rendered files are ones the broker accepts (for every pod of a group), scaling leaves pod
//! templates alone, and bad configuration is refused naming the key.

use apogee_broker::config::{BrokerConfig, BrokerRole, FixedEnv, NamesrvConfig};
use apogee_operator::{
    RocketMQCluster,
    desired::{self, DesiredError},
};
use serde_json::json;

fn cluster(broker: serde_json::Value) -> RocketMQCluster {
    let mut value = json!({
        "apiVersion": "rocketmq.apogee.dev/v1alpha1",
        "kind": "RocketMQCluster",
        "metadata": {"name": "prod", "namespace": "mq", "uid": "6f1c2a5e-0000-4000-8000-00000000000a"},
        "spec": {"image": "apogee:0.1.0", "broker": {"storage": {"size": "10Gi"}}},
    });
    for (key, item) in broker.as_object().expect("object") {
        value["spec"]["broker"][key] = item.clone();
    }
    serde_json::from_value(value).expect("a RocketMQCluster")
}

fn master_slave() -> RocketMQCluster {
    cluster(json!({"mode": "MasterSlave", "groups": 2, "replicasPerGroup": 3, "replication": "Sync"}))
}

fn broker_conf(objects: &desired::DesiredObjects, group: usize) -> String {
    let data = objects.config_maps[group + 1].data.as_ref().expect("data");
    data["broker.conf"].clone()
}

#[test]
fn every_pod_of_a_group_runs_a_config_the_broker_accepts() {
    let objects = desired::build(&master_slave()).expect("build");
    for group in 0..2 {
        let text = broker_conf(&objects, group);
        let master = BrokerConfig::from_properties(&text, "broker.conf", &FixedEnv::new())
            .expect("the broker reads it");
        assert_eq!(master.broker_name, format!("prod-broker-{group}"));
        assert_eq!(
            (master.broker_id, master.broker_role),
            (0, BrokerRole::SyncMaster)
        );
        assert_eq!(master.namesrv_addr.len(), 1);
        assert_eq!(master.namesrv_addr[0].to_string(), "prod-namesrv-hl.mq.svc:9876");
        // What `apogee broker -c broker.conf --pod-name prod-broker-G-N` is to do for the
        // other pods (the file names the pod's own group, so it is accepted).
        for ordinal in 1..3 {
            let mut slave = master.clone();
            slave.broker_id = ordinal;
            slave.broker_role = BrokerRole::Slave;
            slave.validate().expect("a valid slave");
        }
    }
    let namesrv = objects.config_maps[0].data.as_ref().expect("data");
    NamesrvConfig::from_properties(&namesrv["namesrv.conf"], "namesrv.conf", &FixedEnv::new())
        .expect("reads");
}

#[test]
fn roles_follow_mode_and_replication() {
    let role = |broker: serde_json::Value| {
        let objects = desired::build(&cluster(broker)).expect("build");
        let text = broker_conf(&objects, 0);
        BrokerConfig::from_properties(&text, "broker.conf", &FixedEnv::new())
            .expect("reads")
            .broker_role
    };
    assert_eq!(role(json!({"mode": "MultiMaster"})), BrokerRole::AsyncMaster);
    assert_eq!(role(json!({"mode": "MasterSlave"})), BrokerRole::AsyncMaster);
    assert_eq!(
        role(json!({"mode": "MasterSlave", "replication": "Async"})),
        BrokerRole::AsyncMaster
    );
    assert_eq!(
        role(json!({"mode": "MasterSlave", "replication": "Sync"})),
        BrokerRole::SyncMaster
    );
}

#[test]
fn scaling_changes_no_pod_template() {
    let scaled = |groups: i32, per_group: i32, name_servers: i32| {
        let mut cluster =
            cluster(json!({"mode": "MasterSlave", "groups": groups, "replicasPerGroup": per_group}));
        cluster.spec.name_server.replicas = name_servers;
        desired::build(&cluster).expect("build")
    };
    let small = scaled(1, 2, 1);
    let large = scaled(3, 4, 5);
    let template = |objects: &desired::DesiredObjects| {
        let spec = objects.broker_groups[0].spec.as_ref().expect("spec");
        (spec.template.clone(), objects.config_maps[1].clone())
    };
    assert_eq!(template(&small), template(&large), "group 0's pods and config");
    let namesrv =
        |objects: &desired::DesiredObjects| objects.name_server.spec.as_ref().expect("spec").template.clone();
    assert_eq!(namesrv(&small), namesrv(&large));
    assert_eq!(large.broker_groups.len(), 3);
    assert_eq!(
        large.broker_groups[2].spec.as_ref().and_then(|s| s.replicas),
        Some(4)
    );
}

#[test]
fn a_config_change_changes_the_hash_on_the_template() {
    let plain = desired::build(&master_slave()).expect("build");
    let mut tuned = master_slave();
    tuned
        .spec
        .broker
        .config
        .insert("fileReservedTime".into(), "24".into());
    let tuned = desired::build(&tuned).expect("build");
    let hash = |objects: &desired::DesiredObjects| {
        let template = &objects.broker_groups[0].spec.as_ref().expect("spec").template;
        template
            .metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .expect("annotations")["rocketmq.apogee.dev/config-hash"]
            .clone()
    };
    assert_ne!(hash(&plain), hash(&tuned));
    assert_eq!(hash(&tuned), tuned.broker_config_hashes[0]);
}

#[test]
fn bad_values_are_refused_naming_the_key() {
    let mut bad = master_slave();
    bad.spec
        .broker
        .config
        .insert("fileReservedTime".into(), "two days".into());
    let err = desired::build(&bad).expect_err("refused");
    assert!(
        matches!(
            err,
            DesiredError::Config {
                field: "spec.broker.config",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "spec.broker.config: invalid value for `fileReservedTime`: expected a whole number from 0 to 2147483647, got `two days`"
    );

    let mut typo = master_slave();
    typo.spec
        .broker
        .config
        .insert("fileReservedTmie".into(), "24".into());
    let err = desired::build(&typo).expect_err("refused").to_string();
    assert_eq!(
        err,
        "spec.broker.config: unknown key `fileReservedTmie` (did you mean `fileReservedTime`?)"
    );

    let mut conflict = master_slave();
    conflict
        .spec
        .broker
        .config
        .insert("inSyncReplicas".into(), "3".into());
    let err = desired::build(&conflict).expect_err("refused").to_string();
    assert!(
        err.contains("`inSyncReplicas` conflicts with `totalReplicas`"),
        "{err}"
    );

    let mut owned = master_slave();
    owned.spec.broker.config.insert("brokerId".into(), "1".into());
    let err = desired::build(&owned).expect_err("refused").to_string();
    assert_eq!(
        err,
        "spec.broker.config must not set `brokerId`: the operator sets it from the resource"
    );

    let mut namesrv = master_slave();
    namesrv
        .spec
        .name_server
        .config
        .insert("scanNotActiveBrokerInterval".into(), "soon".into());
    let err = desired::build(&namesrv).expect_err("refused").to_string();
    assert!(
        err.starts_with("spec.nameServer.config: invalid value for `scanNotActiveBrokerInterval`"),
        "{err}"
    );
}

#[test]
fn objects_need_the_metadata_the_api_server_sets() {
    let mut cluster = master_slave();
    cluster.metadata.uid = None;
    assert_eq!(
        desired::build(&cluster).expect_err("refused").to_string(),
        "metadata.uid is missing: owned objects need it"
    );
    let mut cluster = master_slave();
    cluster.metadata.name = Some("a.b".into());
    assert!(matches!(
        desired::build(&cluster),
        Err(DesiredError::InvalidName(_))
    ));
}

#[test]
fn every_object_is_owned_by_the_cluster_and_namespaced() {
    let objects = desired::build(&master_slave()).expect("build");
    for object in objects.objects() {
        let value = serde_json::to_value(&object).expect("JSON");
        let meta = &value["metadata"];
        assert_eq!(meta["namespace"], "mq", "{}", meta["name"]);
        let owner = &meta["ownerReferences"][0];
        assert_eq!(owner["kind"], "RocketMQCluster");
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["uid"], "6f1c2a5e-0000-4000-8000-00000000000a");
    }
}

#[test]
fn delete_claim_sets_the_retention_policy() {
    let retention = |delete_claim: bool| {
        let mut cluster = master_slave();
        cluster.spec.broker.storage.delete_claim = delete_claim;
        let objects = desired::build(&cluster).expect("build");
        let policy = objects.broker_groups[0]
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_claim_retention_policy.clone())
            .expect("policy");
        (policy.when_deleted, policy.when_scaled)
    };
    assert_eq!(retention(false), (Some("Retain".into()), Some("Retain".into())));
    assert_eq!(retention(true), (Some("Delete".into()), Some("Delete".into())));
}
