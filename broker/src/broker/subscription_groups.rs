//! Subscription groups (consumer group settings): `config/subscriptionGroup.json` in the
//! reference's shape (`{"subscriptionGroupTable":{"G":{...}},"dataVersion":{...}}`), created
//! on first use when `autoCreateSubscriptionGroup` is on, administered by mqadmin.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Mutex, MutexGuard, PoisonError},
};

use serde::{Deserialize, Serialize};

use crate::{
    namesrv::route_data::DataVersion,
    store::{StoreError, clock, config_file},
};

/// Why a consumer group name is refused: the characters topic names allow, at most 120 of
/// them (so that `%RETRY%<group>` is a valid topic).
pub fn validate_group_name(group: &str) -> Result<(), String> {
    if group.is_empty() {
        return Err("the consumer group name is empty".into());
    }
    if group.len() > 120 {
        return Err(format!(
            "the consumer group name is {} characters long; the limit is 120",
            group.len()
        ));
    }
    match group
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-')))
    {
        Some(bad) => Err(format!(
            "the consumer group name contains {bad:?}; allowed are letters, digits, %, |, _ and -"
        )),
        None => Ok(()),
    }
}

/// One group's settings. Field names and defaults are the reference's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupConfig {
    /// Group name.
    pub group_name: String,
    /// Pulls refused when false.
    pub consume_enable: bool,
    /// May start from the queue's min offset.
    pub consume_from_min_enable: bool,
    /// Broadcasting consumption allowed.
    pub consume_broadcast_enable: bool,
    /// Orderly consumption.
    pub consume_message_orderly: bool,
    /// Queues of the group's retry topic.
    pub retry_queue_nums: i32,
    /// Retries before a message goes to the DLQ.
    pub retry_max_times: i32,
    /// Preferred broker id.
    pub broker_id: i64,
    /// Broker id suggested when the consumer is slow.
    pub which_broker_when_consume_slowly: i64,
    /// Notify members when membership changes.
    pub notify_consumer_ids_changed_enable: bool,
    /// System flag.
    pub group_sys_flag: i32,
    /// Consume timeout in minutes.
    pub consume_timeout_minute: i32,
    /// 5.x attributes.
    pub attributes: BTreeMap<String, String>,
}

impl Default for SubscriptionGroupConfig {
    fn default() -> Self {
        Self {
            group_name: String::new(),
            consume_enable: true,
            consume_from_min_enable: true,
            consume_broadcast_enable: true,
            consume_message_orderly: false,
            retry_queue_nums: 1,
            retry_max_times: 16,
            broker_id: 0,
            which_broker_when_consume_slowly: 1,
            notify_consumer_ids_changed_enable: true,
            group_sys_flag: 0,
            consume_timeout_minute: 15,
            attributes: BTreeMap::new(),
        }
    }
}

/// The file and GET_ALL_SUBSCRIPTIONGROUP_CONFIG's body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionGroupWrapper {
    /// Groups by name.
    pub subscription_group_table: BTreeMap<String, SubscriptionGroupConfig>,
    /// Bumped on every change.
    pub data_version: DataVersion,
}

/// Groups the reference creates at start (tools, system consumers).
const SYSTEM_GROUPS: [&str; 6] = [
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
];

/// The table.
#[derive(Debug)]
pub struct SubscriptionGroups {
    path: PathBuf,
    auto_create: bool,
    state: Mutex<SubscriptionGroupWrapper>,
}

impl SubscriptionGroups {
    /// Loads the file (or its `.bak`) and adds the system groups.
    pub fn load(path: PathBuf, auto_create: bool) -> Result<Self, StoreError> {
        let loaded = config_file::read_with_backup(&path, |text| {
            serde_json::from_str::<SubscriptionGroupWrapper>(text).map_err(|e| e.to_string())
        })?
        .unwrap_or_default();
        let table = Self {
            path,
            auto_create,
            state: Mutex::new(loaded),
        };
        let missing: Vec<&str> = {
            let state = table.lock();
            SYSTEM_GROUPS
                .into_iter()
                .filter(|g| !state.subscription_group_table.contains_key(*g))
                .collect()
        };
        for group in missing {
            table.put(SubscriptionGroupConfig {
                group_name: group.to_owned(),
                ..SubscriptionGroupConfig::default()
            })?;
        }
        Ok(table)
    }

    fn lock(&self) -> MutexGuard<'_, SubscriptionGroupWrapper> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A group's config, created with the defaults when auto-creation is on; `None` when the
    /// group is unknown and may not be created (the broker answers SUBSCRIPTION_GROUP_NOT_EXIST).
    pub fn find_or_create(&self, group: &str) -> Result<Option<SubscriptionGroupConfig>, StoreError> {
        if let Some(found) = self.get(group) {
            return Ok(Some(found));
        }
        if !self.auto_create {
            return Ok(None);
        }
        let created = SubscriptionGroupConfig {
            group_name: group.to_owned(),
            ..SubscriptionGroupConfig::default()
        };
        self.put(created.clone())?;
        Ok(Some(created))
    }

    /// A group's config.
    pub fn get(&self, group: &str) -> Option<SubscriptionGroupConfig> {
        self.lock().subscription_group_table.get(group).cloned()
    }

    /// Creates or replaces a group and persists the table.
    pub fn put(&self, config: SubscriptionGroupConfig) -> Result<(), StoreError> {
        let mut state = self.lock();
        state
            .subscription_group_table
            .insert(config.group_name.clone(), config);
        self.changed(&mut state)
    }

    /// Deletes a group; false if it did not exist.
    pub fn delete(&self, group: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.subscription_group_table.remove(group).is_none() {
            return Ok(false);
        }
        self.changed(&mut state).map(|()| true)
    }

    /// Everything, as GET_ALL_SUBSCRIPTIONGROUP_CONFIG returns it.
    pub fn wrapper(&self) -> SubscriptionGroupWrapper {
        self.lock().clone()
    }

    fn changed(&self, state: &mut SubscriptionGroupWrapper) -> Result<(), StoreError> {
        state.data_version = state.data_version.bumped(clock::now_millis());
        let text = serde_json::to_vec(&*state).unwrap_or_default();
        config_file::write_atomic(&self.path, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_creation_persistence_and_reference_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/subscriptionGroup.json");
        let groups = SubscriptionGroups::load(path.clone(), true).unwrap();
        assert!(groups.get("TOOLS_CONSUMER").is_some());
        let made = groups.find_or_create("CG").unwrap().unwrap();
        assert_eq!((made.retry_queue_nums, made.retry_max_times), (1, 16));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(r#""CG":{"groupName":"CG","consumeEnable":true"#),
            "{text}"
        );
        let strict = SubscriptionGroups::load(path.clone(), false).unwrap();
        assert!(strict.get("CG").is_some(), "persisted groups survive a restart");
        assert_eq!(strict.find_or_create("Unknown").unwrap(), None);
        assert!(strict.delete("CG").unwrap());
        assert!(!strict.delete("CG").unwrap());
        // A body mqadmin sends, with fields we do not model.
        let sent: SubscriptionGroupConfig = serde_json::from_str(
            r#"{"groupName":"G2","retryMaxTimes":3,"groupRetryPolicy":{"type":"CUSTOMIZED"}}"#,
        )
        .unwrap();
        assert_eq!((sent.retry_max_times, sent.consume_enable), (3, true));
    }

    #[test]
    fn group_names_are_validated() {
        assert!(validate_group_name("CID_orders-1").is_ok());
        assert!(validate_group_name("").is_err());
        assert!(validate_group_name(&"g".repeat(121)).unwrap_err().contains("120"));
        assert!(validate_group_name("a b").unwrap_err().contains("' '"));
    }
}
