//! The Apogee operator: reconciles `RocketMQCluster` resources into NameServer Deployments and
//! broker StatefulSets. Its types, reconciler and CRD generator are built under the operator
//! issue; this crate holds the workspace place for them.
