//! ConfigMaps holding the rendered `namesrv.conf` and each group's `broker.conf`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::{
    config_file::{self, ConfigFile},
    labels::{self, Component},
    scope::Scope,
};

/// `<cluster>-namesrv`: `namesrv.conf`.
pub fn namesrv(scope: &Scope<'_>, file: &ConfigFile) -> ConfigMap {
    let selector = labels::selector(&scope.names, Component::NameServer);
    config_map(
        scope,
        scope.names.namesrv(),
        &selector,
        config_file::NAMESRV_FILE,
        file,
    )
}

/// `<cluster>-broker-<g>`: the group's `broker.conf`.
pub fn broker(scope: &Scope<'_>, group: u32, file: &ConfigFile) -> ConfigMap {
    let selector = labels::group_selector(&scope.names, group);
    config_map(
        scope,
        scope.names.broker_group(group),
        &selector,
        config_file::BROKER_FILE,
        file,
    )
}

fn config_map(
    scope: &Scope<'_>,
    name: String,
    selector: &BTreeMap<String, String>,
    key: &str,
    file: &ConfigFile,
) -> ConfigMap {
    ConfigMap {
        metadata: scope.meta(name, labels::object_labels(selector)),
        data: Some(BTreeMap::from([(key.to_owned(), file.text.clone())])),
        ..ConfigMap::default()
    }
}
