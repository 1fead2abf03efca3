//! Why a broker pod needs a restart.

use k8s_openapi::api::core::v1::Pod;

use crate::{desired::labels, types::annotations};

/// The container the broker runs in (see `desired::broker_statefulset`).
const BROKER_CONTAINER: &str = "broker";
/// The StatefulSet controller's label naming the revision a pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// Why a pod is restarted; named in the Event that reports the restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Its `broker.conf` differs from the group's current one.
    ConfigChanged,
    /// Its image differs from `spec.image`.
    ImageChanged,
    /// Something else in its pod template changed (resources, scheduling, annotations).
    TemplateChanged,
    /// A user asked for it (the cluster's restart annotation, or the pod's).
    ManualRestart,
}

impl Reason {
    /// Words for Events and status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ConfigChanged => "config changed",
            Self::ImageChanged => "image changed",
            Self::TemplateChanged => "pod template changed",
            Self::ManualRestart => "manual restart",
        }
    }

    /// The reason read back from `status.restart.reason`.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::ConfigChanged,
            Self::ImageChanged,
            Self::TemplateChanged,
            Self::ManualRestart,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == text)
    }
}

/// What the pods of one group should be running.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The group's config hash.
    pub config_hash: &'a str,
    /// `spec.image`.
    pub image: &'a str,
    /// The cluster's restart annotation value.
    pub restart_token: Option<&'a str>,
    /// The StatefulSet's `status.updateRevision`, once the StatefulSet controller has seen
    /// its current generation (an older one would call every pod out of date).
    pub update_revision: Option<&'a str>,
}

fn annotation<'a>(pod: &'a Pod, key: &str) -> Option<&'a str> {
    pod.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

/// Why `pod` should restart to match `target`, or `None` if it is current. The most specific
/// reason wins: a config change also changes the template's revision, but "config changed"
/// is what the user wants to read.
pub fn reason(pod: &Pod, target: &Target<'_>) -> Option<Reason> {
    if annotation(pod, annotations::RESTART_POD).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Some(Reason::ManualRestart);
    }
    if annotation(pod, labels::CONFIG_HASH) != Some(target.config_hash) {
        return Some(Reason::ConfigChanged);
    }
    let image = pod
        .spec
        .as_ref()
        .and_then(|spec| spec.containers.iter().find(|c| c.name == BROKER_CONTAINER))
        .and_then(|container| container.image.as_deref());
    if image.is_some_and(|image| image != target.image) {
        return Some(Reason::ImageChanged);
    }
    if annotation(pod, labels::RESTART_TOKEN) != target.restart_token {
        return Some(Reason::ManualRestart);
    }
    let revision = pod
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(REVISION_LABEL))
        .map(String::as_str);
    match (revision, target.update_revision) {
        (Some(have), Some(want)) if have != want => Some(Reason::TemplateChanged),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::{
        api::core::v1::{Container, PodSpec},
        apimachinery::pkg::apis::meta::v1::ObjectMeta,
    };

    use super::*;

    fn pod(hash: &str, image: &str, revision: &str, extra: &[(&str, &str)]) -> Pod {
        let mut annotations = BTreeMap::from([(labels::CONFIG_HASH.to_owned(), hash.to_owned())]);
        annotations.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Pod {
            metadata: ObjectMeta {
                annotations: Some(annotations),
                labels: Some(BTreeMap::from([(REVISION_LABEL.to_owned(), revision.to_owned())])),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: BROKER_CONTAINER.to_owned(),
                    image: Some(image.to_owned()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: None,
        }
    }

    const TARGET: Target<'static> = Target {
        config_hash: "h1",
        image: "apogee:2",
        restart_token: None,
        update_revision: Some("r2"),
    };

    #[test]
    fn a_current_pod_has_no_reason() {
        assert_eq!(reason(&pod("h1", "apogee:2", "r2", &[]), &TARGET), None);
        // The StatefulSet controller has not caught up yet: the revision says nothing.
        let unknown = Target {
            update_revision: None,
            ..TARGET
        };
        assert_eq!(reason(&pod("h1", "apogee:2", "r1", &[]), &unknown), None);
    }

    #[test]
    fn the_most_specific_reason_wins() {
        assert_eq!(
            reason(&pod("h0", "apogee:1", "r1", &[]), &TARGET),
            Some(Reason::ConfigChanged)
        );
        assert_eq!(
            reason(&pod("h1", "apogee:1", "r1", &[]), &TARGET),
            Some(Reason::ImageChanged)
        );
        assert_eq!(
            reason(&pod("h1", "apogee:2", "r1", &[]), &TARGET),
            Some(Reason::TemplateChanged)
        );
        let asked = [(annotations::RESTART_POD, "true")];
        assert_eq!(
            reason(&pod("h1", "apogee:2", "r2", &asked), &TARGET),
            Some(Reason::ManualRestart)
        );
    }

    #[test]
    fn a_new_restart_token_restarts_every_pod_once() {
        let token = Target {
            restart_token: Some("t1"),
            ..TARGET
        };
        assert_eq!(
            reason(&pod("h1", "apogee:2", "r2", &[]), &token),
            Some(Reason::ManualRestart)
        );
        let restarted = [(labels::RESTART_TOKEN, "t1")];
        assert_eq!(reason(&pod("h1", "apogee:2", "r2", &restarted), &token), None);
    }

    #[test]
    fn reasons_read_back() {
        for reason in [Reason::ConfigChanged, Reason::ManualRestart] {
            assert_eq!(Reason::parse(reason.as_str()), Some(reason));
        }
        assert_eq!(Reason::parse("bored"), None);
    }
}
