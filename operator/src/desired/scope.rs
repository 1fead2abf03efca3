//! The parts of a `RocketMQCluster` every builder needs, checked once: its names, namespace
//! and the owner reference that makes every object garbage-collected with it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use super::{DesiredError, names::Names};
use crate::types::{RocketMQCluster, RocketMQClusterSpec, annotations};

/// A cluster ready to be rendered.
#[derive(Debug)]
pub struct Scope<'a> {
    /// The resource's spec.
    pub spec: &'a RocketMQClusterSpec,
    /// Names of its objects.
    pub names: Names,
    /// The cluster's manual-restart annotation value, copied into pod templates.
    pub restart_token: Option<&'a str>,
    owner: OwnerReference,
}

impl<'a> Scope<'a> {
    /// Checks the metadata the objects are built from.
    pub fn new(cluster: &'a RocketMQCluster) -> Result<Self, DesiredError> {
        let name = cluster
            .metadata
            .name
            .as_deref()
            .ok_or(DesiredError::MissingMetadata("name"))?;
        if !is_short_dns_label(name) {
            return Err(DesiredError::InvalidName(name.to_owned()));
        }
        let namespace = cluster
            .metadata
            .namespace
            .as_deref()
            .ok_or(DesiredError::MissingMetadata("namespace"))?;
        // `controller_owner_ref` needs the uid, which only the API server assigns.
        let owner = cluster
            .controller_owner_ref(&())
            .ok_or(DesiredError::MissingMetadata("uid"))?;
        Ok(Self {
            spec: &cluster.spec,
            names: Names::new(name, namespace),
            restart_token: cluster
                .metadata
                .annotations
                .as_ref()
                .and_then(|all| all.get(annotations::RESTART))
                .map(String::as_str),
            owner,
        })
    }

    /// Metadata for an owned object named `name`.
    pub fn meta(&self, name: String, labels: BTreeMap<String, String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name),
            namespace: Some(self.names.namespace().to_owned()),
            labels: Some(labels),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }
}

/// A DNS-1035 label (what Service names must be) short enough for every derived name.
fn is_short_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    !bytes.is_empty()
        && bytes.len() <= super::names::MAX_CLUSTER_NAME
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1] != b'-'
        && bytes.iter().all(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_must_prefix_service_names() {
        assert!(is_short_dns_label("prod"));
        assert!(is_short_dns_label("mq-2"));
        for bad in ["", "2mq", "mq-", "Prod", "a.b", &"a".repeat(41)] {
            assert!(!is_short_dns_label(bad), "{bad}");
        }
    }
}
