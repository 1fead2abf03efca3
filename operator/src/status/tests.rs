use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodStatus},
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time},
    jiff::Timestamp,
};

use super::*;
use crate::{
    desired::labels,
    types::{BrokerMode, BrokerRoleName, ConditionType, Phase, RocketMQClusterSpec},
};

fn time(text: &str) -> Time {
    Time(text.parse::<Timestamp>().unwrap())
}

fn cluster(mode: BrokerMode, groups: i32) -> RocketMQCluster {
    let spec: RocketMQClusterSpec = serde_json::from_value(serde_json::json!({
        "image": "apogee:0.1.0",
        "broker": {"mode": mode, "groups": groups, "storage": {"size": "10Gi"}},
    }))
    .unwrap();
    let mut cluster = RocketMQCluster::new("prod", spec);
    cluster.metadata.namespace = Some("mq".into());
    cluster.metadata.generation = Some(3);
    cluster
}

fn pod(group: u32, ordinal: u32, ready: bool, hash: &str) -> Pod {
    let names = Names::new("prod", "mq");
    Pod {
        metadata: ObjectMeta {
            name: Some(names.broker_pod(group, ordinal)),
            labels: Some(BTreeMap::from([
                (labels::BROKER_GROUP.to_owned(), names.broker_group(group)),
                ("apps.kubernetes.io/pod-index".to_owned(), ordinal.to_string()),
            ])),
            annotations: Some(BTreeMap::from([(
                labels::CONFIG_HASH.to_owned(),
                hash.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        status: Some(PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                ..PodCondition::default()
            }]),
            ..PodStatus::default()
        }),
        ..Pod::default()
    }
}

fn crash_looping(mut pod: Pod) -> Pod {
    pod.status
        .get_or_insert_with(PodStatus::default)
        .container_statuses = Some(vec![ContainerStatus {
        name: "broker".into(),
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("CrashLoopBackOff".into()),
                ..ContainerStateWaiting::default()
            }),
            ..ContainerState::default()
        }),
        ..ContainerStatus::default()
    }]);
    pod
}

const NO_WARNINGS: &[(String, String)] = &[];

fn outcome(hashes: &[String]) -> Outcome<'_> {
    Outcome {
        rendered: Ok(hashes),
        paused: false,
        warnings: NO_WARNINGS,
    }
}

fn condition(status: &RocketMQClusterStatus, kind: ConditionType) -> &Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == kind.as_str())
        .unwrap_or_else(|| panic!("no {kind:?} condition"))
}

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

fn is(status: &RocketMQClusterStatus, kind: ConditionType) -> bool {
    condition(status, kind).status == "True"
}

#[test]
fn a_fresh_cluster_is_pending() {
    let cluster = cluster(BrokerMode::MultiMaster, 2);
    let hashes = vec!["h0".to_owned(), "h1".to_owned()];
    let observation = Observation {
        name_server_ready: 0,
        broker_pods: &[],
    };
    let status = derive(
        &cluster,
        observation,
        outcome(&hashes),
        &time("2026-01-01T00:00:00Z"),
    );
    assert_eq!(status.phase, Some(Phase::Pending));
    assert_eq!(status.observed_generation, Some(3));
    assert!(!is(&status, ConditionType::Ready));
    assert!(is(&status, ConditionType::Progressing));
    let progressing = condition(&status, ConditionType::Progressing);
    assert_eq!(progressing.reason, "PodsStarting");
    assert_eq!(
        progressing.message,
        "0/2 broker pods and 0/2 NameServers ready; waiting for prod-broker-0-0, prod-broker-1-0"
    );
    // Groups are listed before their pods exist.
    let names: Vec<&str> = status.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["prod-broker-0", "prod-broker-1"]);
    assert!(status.groups.iter().all(|g| g.pods.is_empty()));
    let name_server = status.name_server.unwrap();
    assert_eq!((name_server.ready, name_server.desired), (0, 2));
    assert_eq!(name_server.address, "prod-namesrv.mq.svc:9876");
    assert_eq!(status.conditions.len(), ConditionType::ALL.len());
}

#[test]
fn all_pods_ready_on_the_current_configuration_is_ready() {
    let cluster = cluster(BrokerMode::MasterSlave, 1);
    let hashes = vec!["h0".to_owned()];
    let pods = vec![pod(0, 1, true, "h0"), pod(0, 0, true, "h0")];
    let observation = Observation {
        name_server_ready: 2,
        broker_pods: &pods,
    };
    let status = derive(
        &cluster,
        observation,
        outcome(&hashes),
        &time("2026-01-01T00:00:00Z"),
    );
    assert_eq!(status.phase, Some(Phase::Ready));
    assert!(is(&status, ConditionType::Ready));
    assert!(!is(&status, ConditionType::Progressing));
    assert!(!is(&status, ConditionType::Degraded));
    assert_eq!(
        condition(&status, ConditionType::Ready).message,
        "2/2 broker pods and 2/2 NameServers ready"
    );
    let group = &status.groups[0];
    // Pods are ordered by ordinal, whatever order they were listed in.
    assert_eq!(group.pods[0].name, "prod-broker-0-0");
    assert_eq!(group.pods[0].role, BrokerRoleName::Master);
    assert_eq!(
        (group.pods[1].broker_id, group.pods[1].role),
        (1, BrokerRoleName::Slave)
    );
    assert_eq!(group.pods[1].config_hash.as_deref(), Some("h0"));
}

#[test]
fn pods_on_an_older_configuration_are_progressing_but_ready() {
    let cluster = cluster(BrokerMode::MasterSlave, 1);
    let hashes = vec!["new".to_owned()];
    let pods = vec![pod(0, 0, true, "old"), pod(0, 1, true, "new")];
    let observation = Observation {
        name_server_ready: 2,
        broker_pods: &pods,
    };
    let status = derive(
        &cluster,
        observation,
        outcome(&hashes),
        &time("2026-01-01T00:00:00Z"),
    );
    assert!(is(&status, ConditionType::Ready));
    let progressing = condition(&status, ConditionType::Progressing);
    assert_eq!(
        (progressing.status.as_str(), progressing.reason.as_str()),
        ("True", "RestartPending")
    );
    assert_eq!(progressing.message, "on an older configuration: prod-broker-0-0");
    assert_eq!(status.phase, Some(Phase::Progressing));
}

#[test]
fn crash_looping_pods_and_bad_configuration_degrade() {
    let cluster = cluster(BrokerMode::MultiMaster, 1);
    let hashes = vec!["h0".to_owned()];
    let pods = vec![crash_looping(pod(0, 0, false, "h0"))];
    let observation = Observation {
        name_server_ready: 2,
        broker_pods: &pods,
    };
    let status = derive(
        &cluster,
        observation,
        outcome(&hashes),
        &time("2026-01-01T00:00:00Z"),
    );
    assert_eq!(status.phase, Some(Phase::Degraded));
    let degraded = condition(&status, ConditionType::Degraded);
    assert_eq!(degraded.reason, "PodsFailing");
    assert_eq!(degraded.message, "prod-broker-0-0: CrashLoopBackOff");

    let invalid = Outcome {
        rendered: Err("spec.broker.config: invalid value for `fileReservedTime`"),
        paused: false,
        warnings: NO_WARNINGS,
    };
    let status = derive(&cluster, observation, invalid, &time("2026-01-01T00:00:00Z"));
    let degraded = condition(&status, ConditionType::Degraded);
    assert_eq!(degraded.reason, "InvalidConfiguration");
    assert!(degraded.message.contains("fileReservedTime"));
}

#[test]
fn paused_keeps_the_observed_generation_and_says_so() {
    let mut cluster = cluster(BrokerMode::MultiMaster, 1);
    cluster.status = Some(RocketMQClusterStatus {
        observed_generation: Some(2),
        ..RocketMQClusterStatus::default()
    });
    let hashes = vec!["h0".to_owned()];
    let pods = vec![pod(0, 0, true, "h0")];
    let observation = Observation {
        name_server_ready: 2,
        broker_pods: &pods,
    };
    let paused = Outcome {
        rendered: Ok(&hashes),
        paused: true,
        warnings: NO_WARNINGS,
    };
    let status = derive(&cluster, observation, paused, &time("2026-01-01T00:00:00Z"));
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(status.phase, Some(Phase::Paused));
    assert!(is(&status, ConditionType::ReconciliationPaused));
}

#[test]
fn refused_changes_raise_a_warning() {
    let cluster = cluster(BrokerMode::MultiMaster, 1);
    let hashes = vec!["h0".to_owned()];
    let warnings = vec![
        (
            "StorageNotExpandable".to_owned(),
            "StorageClass standard does not allow volume expansion".to_owned(),
        ),
        ("Other".to_owned(), "second".to_owned()),
    ];
    let with_warnings = Outcome {
        rendered: Ok(&hashes),
        paused: false,
        warnings: &warnings,
    };
    let observation = Observation {
        name_server_ready: 2,
        broker_pods: &[],
    };
    let status = derive(
        &cluster,
        observation,
        with_warnings,
        &time("2026-01-01T00:00:00Z"),
    );
    let warning = condition(&status, ConditionType::Warning);
    assert_eq!(
        (warning.status.as_str(), warning.reason.as_str()),
        ("True", "StorageNotExpandable")
    );
    assert_eq!(
        warning.message,
        "StorageClass standard does not allow volume expansion; second"
    );
}

#[test]
fn transition_times_change_only_with_the_status() {
    let mut cluster = cluster(BrokerMode::MultiMaster, 1);
    let hashes = vec!["h0".to_owned()];
    let not_ready = vec![pod(0, 0, false, "h0")];
    let ready = vec![pod(0, 0, true, "h0")];
    let observe = |pods| Observation {
        name_server_ready: 2,
        broker_pods: pods,
    };
    let first = derive(
        &cluster,
        observe(&not_ready),
        outcome(&hashes),
        &time("2026-01-01T00:00:00Z"),
    );
    cluster.status = Some(first.clone());
    // Same observation later: nothing changes, so writing it again is a no-op.
    let again = derive(
        &cluster,
        observe(&not_ready),
        outcome(&hashes),
        &time("2026-01-01T00:05:00Z"),
    );
    assert_eq!(again, first);
    // The pod becomes ready: Ready and Progressing flip and get the new time; the rest keep theirs.
    let later = time("2026-01-01T00:10:00Z");
    let flipped = derive(&cluster, observe(&ready), outcome(&hashes), &later);
    assert_eq!(
        condition(&flipped, ConditionType::Ready).last_transition_time,
        later
    );
    assert_eq!(
        condition(&flipped, ConditionType::Progressing).last_transition_time,
        later
    );
    assert_eq!(
        condition(&flipped, ConditionType::Degraded).last_transition_time,
        time("2026-01-01T00:00:00Z")
    );
}

#[test]
fn pods_of_groups_being_removed_are_still_listed() {
    let cluster = cluster(BrokerMode::MultiMaster, 1);
    let hashes = vec!["h0".to_owned()];
    let pods = vec![pod(0, 0, true, "h0"), pod(1, 0, true, "h0")];
    let observation = Observation {
        name_server_ready: 2,
        broker_pods: &pods,
    };
    let status = derive(
        &cluster,
        observation,
        outcome(&hashes),
        &time("2026-01-01T00:00:00Z"),
    );
    let names: Vec<&str> = status.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["prod-broker-0", "prod-broker-1"]);
    // Only wanted groups count towards readiness.
    assert_eq!(
        condition(&status, ConditionType::Ready).message,
        "1/1 broker pods and 2/2 NameServers ready"
    );
}

#[test]
fn pods_of_other_clusters_are_ignored() {
    let cluster = cluster(BrokerMode::MultiMaster, 1);
    let mut stranger = pod(0, 0, true, "h0");
    stranger
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert(labels::BROKER_GROUP.to_owned(), "staging-broker-0".to_owned());
    let hashes = vec!["h0".to_owned()];
    let observation = Observation {
        name_server_ready: 2,
        broker_pods: std::slice::from_ref(&stranger),
    };
    let status = derive(
        &cluster,
        observation,
        outcome(&hashes),
        &time("2026-01-01T00:00:00Z"),
    );
    assert!(status.groups[0].pods.is_empty());
}
