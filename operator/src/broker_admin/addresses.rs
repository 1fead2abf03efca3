//! Where a broker pod's remoting port is.
//!
//! In the cluster: `<pod>.<headless-service>.<namespace>.svc:<listenPort>`, the stable DNS
//! name the brokers' headless Service gives each pod. Elsewhere (tests on a control plane
//! whose pods run no process): a map file with one `namespace/pod host:port` per line (`#`
//! comments), read again on every look-up so a test can add brokers while the operator runs.

use std::{collections::BTreeMap, path::PathBuf};

use super::AdminError;
use crate::ports;

/// A broker pod, as the operator knows it.
#[derive(Debug, Clone, Copy)]
pub struct PodAddress<'a> {
    /// Its namespace.
    pub namespace: &'a str,
    /// Its StatefulSet's governing (headless) Service.
    pub service: &'a str,
    /// Its name.
    pub pod: &'a str,
}

/// How pods map to addresses.
#[derive(Debug, Clone)]
pub enum BrokerAddresses {
    /// The pod's DNS name through the headless Service.
    InCluster,
    /// A map file (see the module docs).
    File(PathBuf),
    /// A fixed map, `namespace/pod` to `host:port`.
    Fixed(BTreeMap<String, String>),
}

impl BrokerAddresses {
    /// The address of `pod`; `None` when a map has no entry for it.
    pub fn address(&self, pod: &PodAddress<'_>) -> Result<Option<String>, AdminError> {
        let key = format!("{}/{}", pod.namespace, pod.pod);
        match self {
            Self::InCluster => Ok(Some(format!(
                "{}.{}.{}.svc:{}",
                pod.pod,
                pod.service,
                pod.namespace,
                ports::BROKER
            ))),
            Self::Fixed(map) => Ok(map.get(&key).cloned()),
            Self::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|err| AdminError::AddressMap {
                    path: path.display().to_string(),
                    reason: err.to_string(),
                })?;
                let map = parse_map(&text).map_err(|reason| AdminError::AddressMap {
                    path: path.display().to_string(),
                    reason,
                })?;
                Ok(map.get(&key).cloned())
            }
        }
    }
}

/// Reads `namespace/pod host:port` lines.
pub fn parse_map(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        match (fields.next(), fields.next(), fields.next()) {
            (Some(pod), Some(addr), None) if pod.contains('/') => {
                map.insert(pod.to_owned(), addr.to_owned());
            }
            _ => {
                return Err(format!(
                    "line {}: expected `namespace/pod host:port`, got `{line}`",
                    index + 1
                ));
            }
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: PodAddress<'static> = PodAddress {
        namespace: "mq",
        service: "prod-broker-hl",
        pod: "prod-broker-0-1",
    };

    #[test]
    fn in_cluster_pods_are_reached_through_the_headless_service() {
        let addr = BrokerAddresses::InCluster.address(&POD).unwrap();
        assert_eq!(
            addr.as_deref(),
            Some("prod-broker-0-1.prod-broker-hl.mq.svc:10911")
        );
    }

    #[test]
    fn map_files_name_each_pod() {
        let map = parse_map("# test brokers\nmq/prod-broker-0-1 127.0.0.1:4000\n\nmq/other 127.0.0.1:4001\n")
            .unwrap();
        assert_eq!(
            BrokerAddresses::Fixed(map).address(&POD).unwrap().as_deref(),
            Some("127.0.0.1:4000")
        );
        let error = parse_map("mq/a 127.0.0.1:1 extra").unwrap_err();
        assert!(error.contains("line 1"), "{error}");
        assert!(parse_map("no-namespace 127.0.0.1:1").is_err());
    }
}
