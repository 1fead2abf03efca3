//! The broker's topic table: `config/topics.json` in the reference's shape
//! (`{"dataVersion":{...},"topicConfigTable":{"T":{TopicConfig}}}`), replaced atomically on
//! every change, with the system topics the reference creates at start.

use std::{collections::BTreeMap, path::PathBuf, sync::Mutex};

use crate::{
    namesrv::route_data::{TopicConfig, TopicConfigWrapper},
    store::{StoreError, clock, config_file},
};

/// The topic producers send to when auto-creation is on.
pub const AUTO_CREATE_TOPIC: &str = "TBW102";
/// Delayed messages wait here (the store gives its entries delivery times as tag codes).
pub use crate::store::dispatch::SCHEDULE_TOPIC;
/// Half messages of transactions.
pub const TRANS_HALF_TOPIC: &str = "RMQ_SYS_TRANS_HALF_TOPIC";
/// Transaction op records.
pub const TRANS_OP_HALF_TOPIC: &str = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/// Read permission bit.
pub const PERM_READ: i32 = 1 << 2;
/// Write permission bit.
pub const PERM_WRITE: i32 = 1 << 1;
/// Inherit permission bit (auto-create template).
pub const PERM_INHERIT: i32 = 1;

/// Why a topic name is refused: RocketMQ allows `[%|a-zA-Z0-9_-]`, at most 127 characters.
pub fn validate_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("the topic name is empty".into());
    }
    if topic.len() > 127 {
        return Err(format!(
            "the topic name is {} characters long; the limit is 127",
            topic.len()
        ));
    }
    if let Some(bad) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '%' | '|' | '_' | '-')))
    {
        return Err(format!(
            "the topic name contains {bad:?}; allowed are letters, digits, %, |, _ and -"
        ));
    }
    Ok(())
}

fn config(name: &str, queues: i32, perm: i32) -> TopicConfig {
    TopicConfig {
        topic_name: name.into(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm,
        ..TopicConfig::default()
    }
}

/// The table.
#[derive(Debug)]
pub struct TopicTable {
    path: PathBuf,
    state: Mutex<TopicConfigWrapper>,
}

impl TopicTable {
    /// Loads `config/topics.json` (or its `.bak`) and adds the system topics of this broker.
    pub fn load(
        path: PathBuf,
        cluster: &str,
        broker_name: &str,
        auto_create: bool,
        default_queues: i32,
    ) -> Result<Self, StoreError> {
        let loaded = config_file::read_with_backup(&path, |text| {
            serde_json::from_str::<TopicConfigWrapper>(text).map_err(|e| e.to_string())
        })?
        .unwrap_or_default();
        let table = Self {
            path,
            state: Mutex::new(loaded),
        };
        let rw = PERM_READ | PERM_WRITE;
        let mut system = vec![
            config("SELF_TEST_TOPIC", 1, rw),
            config(cluster, 16, rw | PERM_INHERIT),
            config(broker_name, 1, rw),
            config("OFFSET_MOVED_EVENT", 1, rw),
            config(SCHEDULE_TOPIC, 18, rw),
            config(TRANS_HALF_TOPIC, 1, rw),
            config(TRANS_OP_HALF_TOPIC, 1, rw),
            config(&format!("{cluster}_REPLY_TOPIC"), 1, rw),
        ];
        if auto_create {
            system.push(config(AUTO_CREATE_TOPIC, default_queues, rw | PERM_INHERIT));
        }
        let missing: Vec<TopicConfig> = {
            let state = table.lock();
            system
                .into_iter()
                .filter(|t| !state.topic_config_table.contains_key(&t.topic_name))
                .collect()
        };
        for topic in missing {
            table.put(topic)?;
        }
        Ok(table)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TopicConfigWrapper> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A topic's config.
    pub fn get(&self, topic: &str) -> Option<TopicConfig> {
        self.lock().topic_config_table.get(topic).cloned()
    }

    /// Creates or replaces a topic, bumps the data version and persists the table.
    pub fn put(&self, topic: TopicConfig) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.topic_config_table.insert(topic.topic_name.clone(), topic);
        self.changed(&mut state)
    }

    /// Deletes a topic; false if it did not exist.
    pub fn delete(&self, topic: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.topic_config_table.remove(topic).is_none() {
            return Ok(false);
        }
        self.changed(&mut state).map(|()| true)
    }

    fn changed(&self, state: &mut TopicConfigWrapper) -> Result<(), StoreError> {
        state.data_version = state.data_version.bumped(clock::now_millis());
        let text = serde_json::to_vec(&*state).unwrap_or_default();
        config_file::write_atomic(&self.path, &text)
    }

    /// Everything, as REGISTER_BROKER and GET_ALL_TOPIC_CONFIG send it.
    pub fn wrapper(&self) -> TopicConfigWrapper {
        self.lock().clone()
    }

    /// Topic names.
    pub fn names(&self) -> BTreeMap<String, i32> {
        self.lock()
            .topic_config_table
            .iter()
            .map(|(k, v)| (k.clone(), v.write_queue_nums))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_topics_persistence_and_versions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/topics.json");
        let table = TopicTable::load(path.clone(), "DefaultCluster", "broker-a", true, 8).unwrap();
        let tbw = table.get(AUTO_CREATE_TOPIC).unwrap();
        assert_eq!((tbw.write_queue_nums, tbw.perm), (8, 7));
        assert_eq!(table.get(SCHEDULE_TOPIC).unwrap().read_queue_nums, 18);
        assert!(table.get("DefaultCluster_REPLY_TOPIC").is_some());
        let before = table.wrapper().data_version.counter;
        table.put(config("Orders", 4, 6)).unwrap();
        assert_eq!(table.wrapper().data_version.counter, before + 1);
        assert!(table.delete("Orders").unwrap());
        assert!(!table.delete("Orders").unwrap());
        table.put(config("Kept", 2, 6)).unwrap();
        drop(table);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(r#"{"topicConfigTable":{"#) && text.contains(r#""dataVersion":{"counter":"#),
            "{text}"
        );
        let again = TopicTable::load(path, "DefaultCluster", "broker-a", false, 8).unwrap();
        assert_eq!(again.get("Kept").unwrap().write_queue_nums, 2);
        assert!(again.get(AUTO_CREATE_TOPIC).is_some(), "what was persisted stays");
    }

    #[test]
    fn names_are_validated_like_the_reference() {
        assert!(validate_name("TopicTest").is_ok());
        assert!(validate_name("%RETRY%group-1").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name(&"t".repeat(128)).unwrap_err().contains("127"));
        assert!(validate_name("a/b").unwrap_err().contains("'/'"));
        assert!(validate_name("ns.topic").is_err());
    }
}
