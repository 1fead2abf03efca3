//! Object names. Every name derives from the cluster's name, so two clusters in one namespace
//! never collide and nothing needs to be looked up to find an object.
//!
//! | Object | Name |
//! |---|---|
//! | NameServer Deployment, client Service, ConfigMap, PDB | `<cluster>-namesrv` |
//! | NameServer headless Service (brokers resolve it) | `<cluster>-namesrv-hl` |
//! | Broker group StatefulSet, ConfigMap, PDB; its `brokerName` | `<cluster>-broker-<g>` |
//! | Broker pods | `<cluster>-broker-<g>-<ordinal>` |
//! | Broker headless Service (pod DNS for every group) | `<cluster>-broker-hl` |
//! | Broker volume claims | `store-<cluster>-broker-<g>-<ordinal>` |

use crate::ports;

/// Longest cluster name: `<name>-broker-<g>` must leave room for a StatefulSet's pod names
/// and its `controller-revision-hash` label (StatefulSet names above 52 characters break it).
pub const MAX_CLUSTER_NAME: usize = 40;

/// The names of one cluster's objects.
#[derive(Debug, Clone)]
pub struct Names {
    cluster: String,
    namespace: String,
}

impl Names {
    /// Names for cluster `cluster` in `namespace`.
    pub fn new(cluster: &str, namespace: &str) -> Self {
        Self {
            cluster: cluster.to_owned(),
            namespace: namespace.to_owned(),
        }
    }

    /// The cluster's name: also `brokerClusterName`.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The cluster's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// NameServer Deployment, client Service, ConfigMap and PDB.
    pub fn namesrv(&self) -> String {
        format!("{}-namesrv", self.cluster)
    }

    /// The headless Service listing every NameServer pod.
    pub fn namesrv_headless(&self) -> String {
        format!("{}-namesrv-hl", self.cluster)
    }

    /// Broker group `group` (0-based): StatefulSet, ConfigMap, PDB and `brokerName`.
    pub fn broker_group(&self, group: u32) -> String {
        format!("{}-broker-{group}", self.cluster)
    }

    /// The group index of a group name made by [`Self::broker_group`].
    pub fn group_index(&self, group_name: &str) -> Option<u32> {
        let index = group_name.strip_prefix(&self.cluster)?.strip_prefix("-broker-")?;
        // Only canonical numbers: `01` is no group's name.
        let group: u32 = index.parse().ok()?;
        (group.to_string() == index).then_some(group)
    }

    /// The headless Service governing every broker StatefulSet.
    pub fn broker_headless(&self) -> String {
        format!("{}-broker-hl", self.cluster)
    }

    /// Broker pod `ordinal` of group `group`.
    pub fn broker_pod(&self, group: u32, ordinal: u32) -> String {
        format!("{}-{ordinal}", self.broker_group(group))
    }

    /// The brokers' `namesrvAddr`: one DNS name that resolves to every ready NameServer pod.
    /// Brokers re-resolve it on each registration round, so NameServers come and go without
    /// a broker restart. Namespace-qualified (not relying on the pod's search path) and
    /// without the cluster domain (which differs between clusters).
    pub fn namesrv_addr(&self) -> String {
        format!(
            "{}.{}.svc:{}",
            self.namesrv_headless(),
            self.namespace,
            ports::NAMESRV
        )
    }

    /// Where clients inside the Kubernetes cluster reach the NameServers.
    pub fn namesrv_client_addr(&self) -> String {
        format!("{}.{}.svc:{}", self.namesrv(), self.namespace, ports::NAMESRV)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_cluster() {
        let names = Names::new("prod", "mq");
        assert_eq!(names.namesrv(), "prod-namesrv");
        assert_eq!(names.namesrv_headless(), "prod-namesrv-hl");
        assert_eq!(names.broker_group(3), "prod-broker-3");
        assert_eq!(names.broker_pod(3, 1), "prod-broker-3-1");
        assert_eq!(names.broker_headless(), "prod-broker-hl");
        assert_eq!(names.namesrv_addr(), "prod-namesrv-hl.mq.svc:9876");
        assert_eq!(names.namesrv_client_addr(), "prod-namesrv.mq.svc:9876");
        assert_eq!(names.group_index("prod-broker-3"), Some(3));
        for other in ["prod-broker-03", "prod-broker-", "dev-broker-3", "prod-namesrv"] {
            assert_eq!(names.group_index(other), None, "{other}");
        }
    }

    #[test]
    fn longest_names_fit_kubernetes_limits() {
        let names = Names::new(&"a".repeat(MAX_CLUSTER_NAME), "mq");
        // The largest group index the schema allows is 63.
        assert!(names.broker_group(63).len() <= 52);
        assert!(names.namesrv_headless().len() <= 63);
        assert!(names.broker_headless().len() <= 63);
    }
}
