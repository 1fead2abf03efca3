//! Creation of each mode, NameServer scaling without broker restarts, deletion with and
//! without deleteClaim, volume growth where the class allows it and a warning where it does
//! not. Several clusters share a namespace and an operator; one operator serves several
//! namespaces and leaves the others alone.

use apogee_e2e::control_plane::ControlPlane;

use super::harness::{
    Operator, OperatorOptions, apply, broker_pods, items, json, kubectl, manifest, plane, runtime, wait_for,
    wait_ready,
};

const MULTI_MASTER: &str = "    mode: MultiMaster
    groups: 2
    storage:
      size: 1Gi
";

const MASTER_SLAVE: &str = "    mode: MasterSlave
    groups: 1
    replicasPerGroup: 2
    replication: Sync
    storage:
      size: 1Gi
      deleteClaim: true
";

fn owned_by_cluster(object: &serde_json::Value, cluster: &str) -> bool {
    object["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r["kind"] == "RocketMQCluster" && r["name"] == cluster && r["controller"] == true)
        })
}

fn applied_by_operator(object: &serde_json::Value) -> bool {
    object["metadata"]["managedFields"]
        .as_array()
        .is_some_and(|fields| {
            fields
                .iter()
                .any(|f| f["manager"] == "apogee-operator" && f["operation"] == "Apply")
        })
}

fn check_objects(plane: &ControlPlane, ns: &str, cluster: &str, groups: u32) {
    let mut names: Vec<(String, String)> = vec![
        ("deployment".into(), format!("{cluster}-namesrv")),
        ("service".into(), format!("{cluster}-namesrv")),
        ("service".into(), format!("{cluster}-namesrv-hl")),
        ("service".into(), format!("{cluster}-broker-hl")),
        ("configmap".into(), format!("{cluster}-namesrv")),
        ("pdb".into(), format!("{cluster}-namesrv")),
    ];
    for group in 0..groups {
        for kind in ["statefulset", "configmap", "pdb"] {
            names.push((kind.into(), format!("{cluster}-broker-{group}")));
        }
    }
    for (kind, name) in names {
        let object = json(plane, &["get", &kind, &name, "-n", ns, "--show-managed-fields"])
            .unwrap_or_else(|| panic!("{kind} {name} was not created"));
        assert!(
            owned_by_cluster(&object, cluster),
            "{kind} {name} lacks its owner reference"
        );
        assert!(
            applied_by_operator(&object),
            "{kind} {name} was not server-side applied"
        );
        if kind == "statefulset" {
            assert_eq!(object["spec"]["updateStrategy"]["type"], "OnDelete", "{name}");
        }
    }
}

#[test]
fn each_mode_becomes_ready_and_name_server_scaling_restarts_no_broker() {
    let plane = plane();
    let ns = plane.create_namespace("op-modes").expect("namespace");
    let rt = runtime();
    let operator = Operator::start(&rt, plane, &ns, OperatorOptions::default());
    apply(plane, &manifest(&ns, "mm", MULTI_MASTER, 2, ""));
    apply(plane, &manifest(&ns, "ms", MASTER_SLAVE, 1, ""));
    let mm = wait_ready(plane, &ns, "mm");
    let ms = wait_ready(plane, &ns, "ms");
    check_objects(plane, &ns, "mm", 2);
    check_objects(plane, &ns, "ms", 1);
    assert_eq!(mm["status"]["phase"], "Ready");
    assert_eq!(
        ms["status"]["groups"][0]["pods"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(ms["status"]["groups"][0]["pods"][0]["role"], "Master");
    assert_eq!(ms["status"]["groups"][0]["pods"][1]["role"], "Slave");
    let finalizers = &mm["metadata"]["finalizers"];
    assert!(
        finalizers
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == "rocketmq.apogee.dev/cleanup")),
        "{finalizers}"
    );

    // Three NameServers instead of two: the Deployment grows, no broker pod is replaced.
    let before = broker_pods(plane, &ns, "mm");
    assert_eq!(before.len(), 2, "{before:?}");
    kubectl(
        plane,
        &[
            "patch",
            "rocketmqcluster",
            "mm",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"nameServer":{"replicas":3}}}"#,
        ],
    );
    let status = wait_ready(plane, &ns, "mm");
    assert_eq!(status["status"]["nameServer"]["ready"], 3);
    let deployment = json(plane, &["get", "deployment", "mm-namesrv", "-n", &ns]).expect("deployment");
    assert_eq!(deployment["status"]["readyReplicas"], 3);
    assert_eq!(
        broker_pods(plane, &ns, "mm"),
        before,
        "scaling NameServers restarted a broker"
    );
    operator.stop(&rt);
}

#[test]
fn deletion_removes_children_and_claims_only_with_delete_claim() {
    let plane = plane();
    let ns = plane.create_namespace("op-delete").expect("namespace");
    let rt = runtime();
    let operator = Operator::start(&rt, plane, &ns, OperatorOptions::default());
    let keep = "    mode: MultiMaster
    groups: 1
    storage:
      size: 1Gi
";
    apply(plane, &manifest(&ns, "keep", keep, 1, ""));
    apply(plane, &manifest(&ns, "drop", MASTER_SLAVE, 1, ""));
    wait_ready(plane, &ns, "keep");
    wait_ready(plane, &ns, "drop");
    let claims = |cluster: &str| {
        let selector = format!("app.kubernetes.io/instance={cluster}");
        let list = json(plane, &["get", "pvc", "-n", &ns, "-l", &selector]).unwrap_or_default();
        items(&list)
            .iter()
            .filter(|claim| claim["metadata"]["deletionTimestamp"].is_null())
            .filter_map(|claim| claim["metadata"]["name"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    };
    assert_eq!(claims("keep"), vec!["store-keep-broker-0-0".to_owned()]);
    assert_eq!(claims("drop").len(), 2);

    kubectl(
        plane,
        &[
            "delete",
            "rocketmqcluster",
            "keep",
            "drop",
            "-n",
            &ns,
            "--timeout=120s",
        ],
    );
    // The garbage collector removes what the clusters owned.
    wait_for(plane, "the clusters' StatefulSets and Deployments to go", || {
        let sets = json(
            plane,
            &[
                "get",
                "statefulsets,deployments,services,configmaps,pdb",
                "-n",
                &ns,
                "-l",
                "app.kubernetes.io/managed-by=apogee-operator",
            ],
        )?;
        items(&sets).is_empty().then_some(())
    });
    wait_for(plane, "drop's claims to be deleted", || {
        claims("drop").is_empty().then_some(())
    });
    assert_eq!(
        claims("keep"),
        vec!["store-keep-broker-0-0".to_owned()],
        "a claim without deleteClaim must be kept"
    );
    let events = super::harness::events(plane, &ns, &["VolumesKept", "VolumesDeleted"]);
    assert_eq!(events.len(), 2, "{events:?}");
    operator.stop(&rt);
}

#[test]
fn a_larger_size_on_a_class_without_expansion_is_a_warning_not_a_failure() {
    let plane = plane();
    let ns = plane.create_namespace("op-grow").expect("namespace");
    let rt = runtime();
    let operator = Operator::start(&rt, plane, &ns, OperatorOptions::default());
    let one_group = "    mode: MultiMaster
    groups: 1
    storage:
      size: 1Gi
";
    apply(plane, &manifest(&ns, "grow", one_group, 1, ""));
    wait_ready(plane, &ns, "grow");
    kubectl(
        plane,
        &[
            "patch",
            "rocketmqcluster",
            "grow",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"broker":{"storage":{"size":"2Gi"}}}}"#,
        ],
    );
    // kwok-volume, the default class, does not allow expansion. The rest of the cluster is
    // still reconciled (the StatefulSet keeps its claim template), so it stays Ready.
    let object = wait_ready(plane, &ns, "grow");
    let warning = super::harness::condition(&object, "Warning").expect("Warning condition");
    assert_eq!(warning["status"], "True", "{warning}");
    assert_eq!(warning["reason"], "StorageNotExpandable", "{warning}");
    assert!(
        warning["message"]
            .as_str()
            .is_some_and(|m| m.contains("kwok-volume")),
        "{warning}"
    );
    let claim = json(plane, &["get", "pvc", "store-grow-broker-0-0", "-n", &ns]).expect("claim");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "1Gi");
    let set = json(plane, &["get", "statefulset", "grow-broker-0", "-n", &ns]).expect("set");
    assert_eq!(
        set["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        "1Gi"
    );
    operator.stop(&rt);
}

#[test]
fn a_larger_size_grows_the_claims_when_the_class_allows_expansion() {
    let plane = plane();
    let ns = plane.create_namespace("op-expand").expect("namespace");
    let rt = runtime();
    let operator = Operator::start(&rt, plane, &ns, OperatorOptions::default());
    let expandable = "    mode: MultiMaster
    groups: 2
    storage:
      size: 1Gi
      storageClassName: kwok-volume-expandable
";
    apply(plane, &manifest(&ns, "expand", expandable, 1, ""));
    wait_ready(plane, &ns, "expand");
    kubectl(
        plane,
        &[
            "patch",
            "rocketmqcluster",
            "expand",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"broker":{"storage":{"size":"3Gi"}}}}"#,
        ],
    );
    let claims = ["store-expand-broker-0-0", "store-expand-broker-1-0"];
    wait_for(plane, "both claims to ask for 3Gi", || {
        claims
            .iter()
            .all(|claim| {
                json(plane, &["get", "pvc", claim, "-n", &ns]).is_some_and(|pvc| {
                    pvc["spec"]["resources"]["requests"]["storage"] == "3Gi"
                        && pvc["spec"]["storageClassName"] == "kwok-volume-expandable"
                })
            })
            .then_some(())
    });
    let object = wait_ready(plane, &ns, "expand");
    assert!(
        super::harness::condition(&object, "Warning").is_none_or(|w| w["status"] == "False"),
        "no warning when the class allows expansion: {object}"
    );
    let notes = super::harness::events(plane, &ns, &["VolumeExpanding"]);
    for claim in claims {
        assert!(
            notes
                .iter()
                .any(|(_, note)| note.contains(claim) && note.contains("3Gi")),
            "a VolumeExpanding event for {claim}: {notes:?}"
        );
    }
    operator.stop(&rt);
}

#[test]
fn one_operator_serves_the_namespaces_it_watches_and_no_other() {
    let plane = plane();
    let watched: Vec<String> = (0..2)
        .map(|_| plane.create_namespace("op-watched").expect("namespace"))
        .collect();
    let other = plane.create_namespace("op-unwatched").expect("namespace");
    let rt = runtime();
    let scope: Vec<&str> = watched.iter().map(String::as_str).collect();
    let operator = Operator::start_watching(&rt, plane, &scope, OperatorOptions::default());
    let small = "    mode: MultiMaster
    groups: 1
    storage:
      size: 1Gi
";
    for ns in watched.iter().chain([&other]) {
        apply(plane, &manifest(ns, "mq", small, 1, ""));
    }
    for ns in &watched {
        wait_ready(plane, ns, "mq");
        check_objects(plane, ns, "mq", 1);
    }
    // By now the unwatched one would have its finalizer, objects and status if it were seen.
    let ignored = super::harness::cluster(plane, &other, "mq").expect("the unwatched cluster");
    assert!(ignored["status"].is_null(), "{ignored}");
    assert!(ignored["metadata"]["finalizers"].is_null(), "{ignored}");
    let children = kubectl(
        plane,
        &[
            "get",
            "statefulsets,deployments,services",
            "-n",
            &other,
            "-o",
            "name",
        ],
    );
    assert!(children.trim().is_empty(), "{children}");
    operator.stop(&rt);
}
