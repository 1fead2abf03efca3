//! What NameServer and broker pod templates share: the user's pod options with the
//! operator's defaults, the hardened container security context, and the config volume.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::core::v1::{
        Affinity, Capabilities, ConfigMapVolumeSource, Container, PodAffinityTerm, PodAntiAffinity,
        PodSecurityContext, PodSpec, SeccompProfile, SecurityContext, Volume, VolumeMount,
        WeightedPodAffinityTerm,
    },
    apimachinery::pkg::apis::meta::v1::LabelSelector,
};

use super::config_file;
use crate::types::PodOptions;

/// The group id of the default `fsGroup`: the volume is made writable for it whatever user
/// the image runs as (65532 is the conventional non-root id of distroless images).
pub const FS_GROUP: i64 = 65532;
/// Name of the ConfigMap volume.
pub const CONFIG_VOLUME: &str = "config";

/// A pod spec with the user's scheduling options applied, defaults filled in, and `containers`
/// and `volumes` as given. `peers` selects the pods the default anti-affinity keeps apart.
pub fn pod_spec(
    options: &PodOptions,
    peers: &BTreeMap<String, String>,
    containers: Vec<Container>,
    volumes: Vec<Volume>,
) -> PodSpec {
    PodSpec {
        containers,
        volumes: Some(volumes),
        affinity: Some(
            options
                .affinity
                .clone()
                .unwrap_or_else(|| spread_over_nodes(peers)),
        ),
        tolerations: non_empty(&options.tolerations),
        topology_spread_constraints: non_empty(&options.topology_spread_constraints),
        priority_class_name: options.priority_class_name.clone(),
        security_context: Some(options.security_context.clone().unwrap_or_else(pod_security)),
        // Service environment variables would differ with the Services present when a pod
        // starts; nothing here reads them.
        enable_service_links: Some(false),
        ..PodSpec::default()
    }
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

/// Prefer (never require, so a small cluster still schedules) one pod of `peers` per node.
fn spread_over_nodes(peers: &BTreeMap<String, String>) -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm {
                weight: 100,
                pod_affinity_term: PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(peers.clone()),
                        ..LabelSelector::default()
                    }),
                    topology_key: "kubernetes.io/hostname".to_owned(),
                    ..PodAffinityTerm::default()
                },
            }]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    }
}

/// The default pod security context: non-root, the runtime's seccomp profile, and a group
/// that owns the volumes.
fn pod_security() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        fs_group: Some(FS_GROUP),
        // Only re-own the volume when its root does not match already: a large store would
        // otherwise be walked on every start.
        fs_group_change_policy: Some("OnRootMismatch".to_owned()),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

/// The container security context: no privilege escalation, no capabilities, and a read-only
/// root filesystem (the processes write only to their volumes).
pub fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

/// The ConfigMap `name` as a volume.
pub fn config_volume(name: String) -> Volume {
    Volume {
        name: CONFIG_VOLUME.to_owned(),
        config_map: Some(ConfigMapVolumeSource {
            name,
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

/// Where the config volume is mounted, read-only.
pub fn config_mount() -> VolumeMount {
    VolumeMount {
        name: CONFIG_VOLUME.to_owned(),
        mount_path: config_file::CONFIG_DIR.to_owned(),
        read_only: Some(true),
        ..VolumeMount::default()
    }
}
