//! Labels and annotations the operator puts on what it creates. Selectors use only labels
//! that never change for an object's lifetime (StatefulSet and Deployment selectors are
//! immutable).

use std::collections::BTreeMap;

use super::names::Names;
pub use crate::types::annotations::RESTART_TOKEN;

/// `app.kubernetes.io/name`: what runs.
pub const NAME: &str = "app.kubernetes.io/name";
/// `app.kubernetes.io/instance`: the cluster.
pub const INSTANCE: &str = "app.kubernetes.io/instance";
/// `app.kubernetes.io/component`: `namesrv` or `broker`.
pub const COMPONENT: &str = "app.kubernetes.io/component";
/// `app.kubernetes.io/managed-by`.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The broker group (its StatefulSet's name) of broker pods, PVCs and PDBs.
pub const BROKER_GROUP: &str = "rocketmq.apogee.dev/broker-group";

/// Pod-template annotation: hash of the configuration file the pods run with. A pod whose
/// value differs from its workload's template is running an older configuration.
pub const CONFIG_HASH: &str = "rocketmq.apogee.dev/config-hash";
/// Annotations under this prefix belong to the operator.
pub const OPERATOR_PREFIX: &str = "rocketmq.apogee.dev/";

/// The value of [`NAME`].
const APP: &str = "rocketmq";
/// The value of [`MANAGED_BY`].
pub const OPERATOR: &str = "apogee-operator";

/// A component of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The NameServers.
    NameServer,
    /// The brokers.
    Broker,
}

impl Component {
    /// The [`COMPONENT`] value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NameServer => "namesrv",
            Self::Broker => "broker",
        }
    }
}

/// Selects every pod of `component` in the cluster.
pub fn selector(names: &Names, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME.to_owned(), APP.to_owned()),
        (INSTANCE.to_owned(), names.cluster().to_owned()),
        (COMPONENT.to_owned(), component.as_str().to_owned()),
    ])
}

/// Selects the pods of one broker group.
pub fn group_selector(names: &Names, group: u32) -> BTreeMap<String, String> {
    let mut labels = selector(names, Component::Broker);
    labels.insert(BROKER_GROUP.to_owned(), names.broker_group(group));
    labels
}

/// The labels of an object: its selector labels plus who manages it.
pub fn object_labels(selector: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut labels = selector.clone();
    labels.insert(MANAGED_BY.to_owned(), OPERATOR.to_owned());
    labels
}

/// Pod annotations: the user's, minus any under the operator's prefix, plus the config hash
/// and the cluster's manual-restart token, if it has one.
pub fn pod_annotations(
    user: &BTreeMap<String, String>,
    config_hash: &str,
    restart_token: Option<&str>,
) -> BTreeMap<String, String> {
    let mut annotations: BTreeMap<String, String> = user
        .iter()
        .filter(|(key, _)| !key.starts_with(OPERATOR_PREFIX))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    annotations.insert(CONFIG_HASH.to_owned(), config_hash.to_owned());
    if let Some(token) = restart_token {
        annotations.insert(RESTART_TOKEN.to_owned(), token.to_owned());
    }
    annotations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_selectors_extend_the_component_selector() {
        let names = Names::new("prod", "mq");
        let group = group_selector(&names, 1);
        assert_eq!(group[COMPONENT], "broker");
        assert_eq!(group[BROKER_GROUP], "prod-broker-1");
        assert!(
            selector(&names, Component::Broker)
                .iter()
                .all(|(k, v)| group[k] == *v)
        );
        assert_eq!(object_labels(&group)[MANAGED_BY], "apogee-operator");
    }

    #[test]
    fn users_cannot_override_operator_annotations() {
        let user = BTreeMap::from([
            ("team".to_owned(), "mq".to_owned()),
            (CONFIG_HASH.to_owned(), "forged".to_owned()),
            ("rocketmq.apogee.dev/other".to_owned(), "x".to_owned()),
        ]);
        let annotations = pod_annotations(&user, "abc", None);
        assert_eq!(annotations.len(), 2);
        assert_eq!(annotations[CONFIG_HASH], "abc");
        assert_eq!(annotations["team"], "mq");
        let restarted = pod_annotations(&user, "abc", Some("2026-01-01T00:00:00Z"));
        assert_eq!(restarted[RESTART_TOKEN], "2026-01-01T00:00:00Z");
    }
}
