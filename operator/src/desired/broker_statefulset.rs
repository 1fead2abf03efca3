//! One StatefulSet per broker group: pod 0 is the group's master, pods 1… its slaves.
//!
//! The pod template is identical for every pod of a group and does not depend on the number
//! of groups, pods or NameServers, so scaling never changes it (and never restarts a pod).
//! What differs per pod comes from the pod itself at start-up:
//!
//! ```text
//! apogee broker -c /etc/apogee/broker.conf --pod-name $(APOGEE_POD_NAME)
//! APOGEE_POD_NAME ← metadata.name, `<statefulset>-<ordinal>`
//! ```
//!
//! `--pod-name <set>-<N>` makes the StatefulSet's name the `brokerName`, and N the `brokerId`
//! (for N above 0, `brokerRole` SLAVE); the file (the group's ConfigMap) holds everything
//! else, the master's role (ASYNC_MASTER or SYNC_MASTER) included. It names the group too, and
//! the broker refuses to start if that disagrees with its pod (a ConfigMap of another group). `brokerIP1` is left to the broker,
//! which advertises the address its host name (the pod's name) resolves to: the pod IP.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        apps::v1::{
            StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
            StatefulSetUpdateStrategy,
        },
        core::v1::{
            Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector,
            PersistentVolumeClaim, PersistentVolumeClaimSpec, PodTemplateSpec, Probe, VolumeMount,
            VolumeResourceRequirements,
        },
    },
    apimachinery::pkg::{
        api::resource::Quantity,
        apis::meta::v1::{LabelSelector, ObjectMeta},
        util::intstr::IntOrString,
    },
};

use super::{
    config_file::{self, ConfigFile},
    labels, pod,
    scope::Scope,
    services,
};
use crate::ports;

/// The environment variable holding the pod's name.
pub const POD_NAME_ENV: &str = "APOGEE_POD_NAME";
/// The label the StatefulSet controller puts on each pod with its ordinal (Kubernetes 1.28+).
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";
/// Name of the volume claim template (and so the prefix of every broker PVC's name).
pub const STORE_VOLUME: &str = "store";
/// How long a stopping broker has to flush and close its store before it is killed; an
/// unclean stop costs a longer recovery on the next start.
const TERMINATION_GRACE_SECONDS: i64 = 60;

/// The StatefulSet of broker group `group`.
pub fn stateful_set(scope: &Scope<'_>, group: u32, config: &ConfigFile) -> StatefulSet {
    let broker = &scope.spec.broker;
    let selector = labels::group_selector(&scope.names, group);
    let pod_labels = labels::object_labels(&selector);
    let mut pod_spec = pod::pod_spec(
        &broker.pod,
        &selector,
        vec![container(scope)],
        vec![pod::config_volume(scope.names.broker_group(group))],
    );
    pod_spec.termination_grace_period_seconds = Some(TERMINATION_GRACE_SECONDS);
    // With deleteClaim, a pod's volume goes with the pod when it is removed for good:
    // scaled away, or deleted with its StatefulSet (and so with the cluster).
    let claims = if broker.storage.delete_claim {
        "Delete"
    } else {
        "Retain"
    };
    StatefulSet {
        metadata: scope.meta(scope.names.broker_group(group), pod_labels.clone()),
        spec: Some(StatefulSetSpec {
            replicas: Some(broker.replicas_per_group()),
            selector: LabelSelector {
                match_labels: Some(selector.clone()),
                ..LabelSelector::default()
            },
            service_name: Some(scope.names.broker_headless()),
            // Slaves need not wait for their master: they find it through the NameServers.
            pod_management_policy: Some("Parallel".to_owned()),
            // The operator restarts pods itself, in a safe order (slaves first, the master
            // made read-only first); a controller-driven rollout would not.
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".to_owned()),
                rolling_update: None,
            }),
            persistent_volume_claim_retention_policy: Some(StatefulSetPersistentVolumeClaimRetentionPolicy {
                when_deleted: Some(claims.to_owned()),
                when_scaled: Some(claims.to_owned()),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(labels::pod_annotations(
                        &broker.pod.annotations,
                        &config.hash,
                        scope.restart_token,
                    )),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec),
            },
            volume_claim_templates: Some(vec![volume_claim(scope, &selector)]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

fn container(scope: &Scope<'_>) -> Container {
    let port = |name: &str, number: i32| ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    };
    Container {
        name: "broker".to_owned(),
        image: Some(scope.spec.image.clone()),
        command: Some(vec!["apogee".to_owned()]),
        args: Some(vec![
            "broker".to_owned(),
            "-c".to_owned(),
            format!("{}/{}", config_file::CONFIG_DIR, config_file::BROKER_FILE),
            "--pod-name".to_owned(),
            // Expanded by the kubelet from the container's environment; no shell needed.
            format!("$({POD_NAME_ENV})"),
        ]),
        env: Some(vec![EnvVar {
            name: POD_NAME_ENV.to_owned(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.name".to_owned(),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }]),
        ports: Some(vec![
            port(services::REMOTING, i32::from(ports::BROKER)),
            port(services::VIP, i32::from(ports::BROKER_VIP)),
            port(services::HA, i32::from(ports::BROKER_HA)),
            port(services::METRICS, scope.spec.metrics.port),
        ]),
        resources: scope.spec.broker.resources.clone(),
        // The HTTP endpoint answers only once the store is open, so `/healthz` passing means
        // recovery is over. Recovery of a large store can take long: up to an hour.
        startup_probe: Some(http_probe("/healthz", 10, 360)),
        // Ready: store open and registered with at least one NameServer.
        readiness_probe: Some(http_probe("/readyz", 10, 3)),
        // Generous, so a busy broker is not killed (a restart means another recovery).
        liveness_probe: Some(http_probe("/healthz", 20, 6)),
        volume_mounts: Some(vec![
            pod::config_mount(),
            VolumeMount {
                name: STORE_VOLUME.to_owned(),
                mount_path: config_file::STORE_DIR.to_owned(),
                ..VolumeMount::default()
            },
        ]),
        security_context: Some(pod::container_security()),
        ..Container::default()
    }
}

fn http_probe(path: &str, period_seconds: i32, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(services::METRICS.to_owned()),
            scheme: Some("HTTP".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period_seconds),
        timeout_seconds: Some(5),
        failure_threshold: Some(failure_threshold),
        ..Probe::default()
    }
}

/// The store volume of each pod. The StatefulSet never changes its claim templates, so a
/// larger `storage.size` reaches existing pods by resizing their PVCs (the reconciler's job),
/// not through this template.
fn volume_claim(scope: &Scope<'_>, selector: &BTreeMap<String, String>) -> PersistentVolumeClaim {
    let storage = &scope.spec.broker.storage;
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(STORE_VOLUME.to_owned()),
            labels: Some(selector.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    Quantity(storage.size.0.clone()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            storage_class_name: storage.storage_class_name.clone(),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}
