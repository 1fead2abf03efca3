//! The NameServer's KV config (`PUT/GET/DELETE_KV_CONFIG`), persisted to `kvConfigPath` in the
//! reference's shape `{"configTable":{"<namespace>":{"<key>":"<value>"}}}`, replaced atomically.

use std::{collections::BTreeMap, path::PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::{StoreError, config_file};

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OnDisk {
    #[serde(default)]
    config_table: BTreeMap<String, BTreeMap<String, String>>,
}

/// Namespaced key/value pairs.
#[derive(Debug)]
pub struct KvConfig {
    path: PathBuf,
    table: BTreeMap<String, BTreeMap<String, String>>,
}

impl KvConfig {
    /// Loads `path` (or its `.bak`); a missing file is an empty table.
    pub fn load(path: PathBuf) -> Result<Self, StoreError> {
        let parsed = config_file::read_with_backup(&path, |text| {
            serde_json::from_str::<OnDisk>(text).map_err(|e| e.to_string())
        })?;
        Ok(Self {
            path,
            table: parsed.unwrap_or_default().config_table,
        })
    }

    /// A value.
    pub fn get(&self, namespace: &str, key: &str) -> Option<&str> {
        self.table.get(namespace)?.get(key).map(String::as_str)
    }

    /// Every pair of a namespace.
    pub fn namespace(&self, namespace: &str) -> Option<&BTreeMap<String, String>> {
        self.table.get(namespace).filter(|t| !t.is_empty())
    }

    /// Sets a value and persists the table.
    pub fn put(&mut self, namespace: &str, key: &str, value: &str) -> Result<(), StoreError> {
        self.table
            .entry(namespace.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        self.persist()
    }

    /// Removes a value and persists the table.
    pub fn delete(&mut self, namespace: &str, key: &str) -> Result<(), StoreError> {
        if let Some(ns) = self.table.get_mut(namespace) {
            ns.remove(key);
        }
        self.persist()
    }

    fn persist(&self) -> Result<(), StoreError> {
        let text = serde_json::to_vec(&OnDisk {
            config_table: self.table.clone(),
        })
        .unwrap_or_default();
        config_file::write_atomic(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_in_the_reference_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("namesrv/kvConfig.json");
        let mut kv = KvConfig::load(path.clone()).unwrap();
        kv.put("ORDER_TOPIC_CONFIG", "T", "broker-a:4").unwrap();
        kv.put("ns", "k", "v").unwrap();
        kv.delete("ns", "k").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            r#"{"configTable":{"ORDER_TOPIC_CONFIG":{"T":"broker-a:4"},"ns":{}}}"#
        );
        let again = KvConfig::load(path).unwrap();
        assert_eq!(again.get("ORDER_TOPIC_CONFIG", "T"), Some("broker-a:4"));
        assert!(again.namespace("ns").is_none());
    }
}
