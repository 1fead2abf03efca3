//! PodDisruptionBudgets: voluntary disruptions (node drains) take at most one pod of each
//! broker group, and one NameServer, at a time.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec},
    apimachinery::pkg::{apis::meta::v1::LabelSelector, util::intstr::IntOrString},
};

use super::{
    labels::{self, Component},
    scope::Scope,
};

/// `<cluster>-broker-<g>`. With one pod per group (MultiMaster) a drain may still take the
/// group's only broker: producers fail over to the other groups, while a budget of zero
/// would block every drain of that node for good.
pub fn broker_group(scope: &Scope<'_>, group: u32) -> PodDisruptionBudget {
    let selector = labels::group_selector(&scope.names, group);
    budget(scope, scope.names.broker_group(group), &selector)
}

/// `<cluster>-namesrv`.
pub fn namesrv(scope: &Scope<'_>) -> PodDisruptionBudget {
    let selector = labels::selector(&scope.names, Component::NameServer);
    budget(scope, scope.names.namesrv(), &selector)
}

fn budget(scope: &Scope<'_>, name: String, selector: &BTreeMap<String, String>) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: scope.meta(name, labels::object_labels(selector)),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector.clone()),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}
