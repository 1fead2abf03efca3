//! The kwok Nodes a control plane starts with: one per zone, untainted, labelled as a kubelet
//! would label them, with room for far more pods than any suite creates.

/// The zones, one Node in each; `topology.kubernetes.io/zone` spreads can be tested against
/// them.
pub const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];

/// The Nodes' names, in zone order.
pub fn names() -> Vec<String> {
    (0..ZONES.len()).map(|i| format!("kwok-node-{i}")).collect()
}

/// A manifest of every Node, for `kubectl apply -f -`. kwok (with `--manage-all-nodes`)
/// takes them over: it sets their conditions Ready, renews their Leases and plays their pods.
pub(crate) fn manifest() -> String {
    names()
        .iter()
        .zip(ZONES)
        .map(|(name, zone)| {
            format!(
                "---
apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels:
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: {name}
    topology.kubernetes.io/zone: {zone}
    type: kwok
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
status:
  allocatable:
    cpu: \"32\"
    memory: 256Gi
    pods: \"110\"
  capacity:
    cpu: \"32\"
    memory: 256Gi
    pods: \"110\"
"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_per_zone_with_its_hostname_label() {
        let manifest = manifest();
        assert_eq!(manifest.matches("kind: Node\n").count(), ZONES.len());
        for (name, zone) in names().iter().zip(ZONES) {
            assert!(manifest.contains(&format!("kubernetes.io/hostname: {name}\n")));
            assert!(manifest.contains(&format!("topology.kubernetes.io/zone: {zone}\n")));
        }
        assert!(!manifest.contains("taints"));
    }
}
