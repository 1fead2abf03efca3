//! The NameServer's state: which broker groups exist, their addresses by broker id, which topics
//! they serve, and when each broker last registered. Pure (time is passed in), so every rule is
//! unit-tested; the handler wraps it in a lock.
//!
//! Rules, as the reference applies them:
//! - only a master registration (broker id 0) sets a topic's queues for its group;
//! - a broker group disappears with its last live address, and its queues with it;
//! - a broker expires when it has not registered within its heartbeat timeout (120 s), or at once
//!   when the connection it registered on closes.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    time::{Duration, Instant},
};

use super::route_data::{BrokerData, ClusterInfo, QueueData, TopicConfigWrapper, TopicList, TopicRouteData};

/// Permission bit: readable.
pub const PERM_READ: i32 = 1 << 2;
/// Permission bit: writable.
pub const PERM_WRITE: i32 = 1 << 1;

/// One REGISTER_BROKER request.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Cluster name.
    pub cluster: String,
    /// Broker group.
    pub broker_name: String,
    /// `ip:listenPort`.
    pub broker_addr: String,
    /// 0 = master.
    pub broker_id: i64,
    /// `ip:haPort`.
    pub ha_server_addr: String,
    /// Topics the broker serves.
    pub topics: TopicConfigWrapper,
    /// Identity of the connection it registered on.
    pub connection: usize,
    /// How long the registration stays valid.
    pub timeout: Duration,
}

/// What a registering slave needs to hear back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterOutcome {
    /// Address of the group's master.
    pub master_addr: Option<String>,
    /// HA address of the group's master.
    pub ha_server_addr: Option<String>,
}

#[derive(Debug, Clone)]
struct Live {
    cluster: String,
    broker_name: String,
    broker_id: i64,
    ha_server_addr: String,
    connection: usize,
    last_update: Instant,
    timeout: Duration,
}

/// The tables.
#[derive(Debug, Default)]
pub struct RouteTable {
    topic_queues: BTreeMap<String, BTreeMap<String, QueueData>>,
    brokers: BTreeMap<String, BrokerData>,
    clusters: BTreeMap<String, BTreeSet<String>>,
    live: HashMap<String, Live>,
}

impl RouteTable {
    /// Applies a registration at time `now`.
    pub fn register(&mut self, reg: Registration, now: Instant) -> RegisterOutcome {
        self.clusters
            .entry(reg.cluster.clone())
            .or_default()
            .insert(reg.broker_name.clone());
        let data = self
            .brokers
            .entry(reg.broker_name.clone())
            .or_insert_with(|| BrokerData {
                cluster: reg.cluster.clone(),
                broker_name: reg.broker_name.clone(),
                broker_addrs: BTreeMap::new(),
                enable_acting_master: false,
            });
        // The same address under another id (a slave restarted as master, or the reverse).
        data.broker_addrs
            .retain(|id, addr| *id == reg.broker_id || *addr != reg.broker_addr);
        data.broker_addrs.insert(reg.broker_id, reg.broker_addr.clone());
        if reg.broker_id == 0 {
            for (topic, config) in &reg.topics.topic_config_table {
                let queue = QueueData {
                    broker_name: reg.broker_name.clone(),
                    read_queue_nums: config.read_queue_nums,
                    write_queue_nums: config.write_queue_nums,
                    perm: config.perm,
                    topic_sys_flag: config.topic_sys_flag,
                };
                self.topic_queues
                    .entry(topic.clone())
                    .or_default()
                    .insert(reg.broker_name.clone(), queue);
            }
        }
        self.live.insert(
            reg.broker_addr.clone(),
            Live {
                cluster: reg.cluster,
                broker_name: reg.broker_name.clone(),
                broker_id: reg.broker_id,
                ha_server_addr: reg.ha_server_addr,
                connection: reg.connection,
                last_update: now,
                timeout: reg.timeout,
            },
        );
        if reg.broker_id == 0 {
            return RegisterOutcome::default();
        }
        let master_addr = self
            .brokers
            .get(&reg.broker_name)
            .and_then(|b| b.broker_addrs.get(&0))
            .cloned();
        let ha_server_addr = master_addr
            .as_ref()
            .and_then(|m| self.live.get(m))
            .map(|l| l.ha_server_addr.clone());
        RegisterOutcome {
            master_addr,
            ha_server_addr,
        }
    }

    /// Refreshes a broker's registration time (BROKER_HEARTBEAT); false if it is unknown.
    pub fn heartbeat(&mut self, broker_addr: &str, now: Instant) -> bool {
        self.live
            .get_mut(broker_addr)
            .map(|l| l.last_update = now)
            .is_some()
    }

    /// Removes one broker (UNREGISTER_BROKER, expiry, closed connection).
    pub fn unregister(&mut self, broker_addr: &str) -> bool {
        let Some(live) = self.live.remove(broker_addr) else {
            return false;
        };
        let mut group_gone = false;
        if let Some(data) = self.brokers.get_mut(&live.broker_name) {
            data.broker_addrs
                .retain(|id, addr| !(*id == live.broker_id && addr == broker_addr));
            group_gone = data.broker_addrs.is_empty();
        }
        if group_gone {
            self.brokers.remove(&live.broker_name);
            if let Some(names) = self.clusters.get_mut(&live.cluster) {
                names.remove(&live.broker_name);
                if names.is_empty() {
                    self.clusters.remove(&live.cluster);
                }
            }
            self.topic_queues.retain(|_, queues| {
                queues.remove(&live.broker_name);
                !queues.is_empty()
            });
        }
        true
    }

    /// Removes brokers whose registration is older than their timeout. Returns their addresses.
    pub fn expire(&mut self, now: Instant) -> Vec<String> {
        let stale: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.last_update) > l.timeout)
            .map(|(addr, _)| addr.clone())
            .collect();
        for addr in &stale {
            self.unregister(addr);
        }
        stale
    }

    /// Removes brokers that registered on a connection that has closed.
    pub fn connection_closed(&mut self, connection: usize) -> Vec<String> {
        let gone: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| l.connection == connection)
            .map(|(a, _)| a.clone())
            .collect();
        for addr in &gone {
            self.unregister(addr);
        }
        gone
    }

    /// The route of a topic, if any live broker serves it.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topic_queues.get(topic)?;
        let broker_datas: Vec<BrokerData> = queues
            .keys()
            .filter_map(|name| self.brokers.get(name))
            .cloned()
            .collect();
        if broker_datas.is_empty() {
            return None;
        }
        Some(TopicRouteData {
            broker_datas,
            queue_datas: queues.values().cloned().collect(),
            ..Default::default()
        })
    }

    /// Every broker group and cluster.
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.brokers.clone(),
            cluster_addr_table: self.clusters.clone(),
        }
    }

    /// Every topic.
    pub fn topics(&self) -> TopicList {
        TopicList {
            topic_list: self.topic_queues.keys().cloned().collect(),
        }
    }

    /// Topics served by a cluster's broker groups.
    pub fn topics_of_cluster(&self, cluster: &str) -> TopicList {
        let names = self.clusters.get(cluster).cloned().unwrap_or_default();
        let topic_list = self
            .topic_queues
            .iter()
            .filter(|(_, queues)| queues.keys().any(|n| names.contains(n)))
            .map(|(t, _)| t.clone())
            .collect();
        TopicList { topic_list }
    }

    /// Deletes a topic (from one cluster's groups when given).
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) {
        match cluster.and_then(|c| self.clusters.get(c)).cloned() {
            Some(names) => {
                if let Some(queues) = self.topic_queues.get_mut(topic) {
                    queues.retain(|name, _| !names.contains(name));
                    if queues.is_empty() {
                        self.topic_queues.remove(topic);
                    }
                }
            }
            None => {
                self.topic_queues.remove(topic);
            }
        }
    }

    /// WIPE_WRITE_PERM_OF_BROKER clears the write bit of a group's queues; ADD_WRITE_PERM_OF_BROKER
    /// sets them to read and write, whatever they were (the reference drops the inherit bit too).
    /// Returns how many topics the group has queues for.
    pub fn set_write_permission(&mut self, broker_name: &str, writable: bool) -> usize {
        let mut changed = 0;
        for queue in self
            .topic_queues
            .values_mut()
            .filter_map(|q| q.get_mut(broker_name))
        {
            queue.perm = if writable {
                PERM_READ | PERM_WRITE
            } else {
                queue.perm & !PERM_WRITE
            };
            changed += 1;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::namesrv::route_data::TopicConfig;

    fn reg(name: &str, addr: &str, id: i64, topics: &[&str], connection: usize) -> Registration {
        let mut wrapper = TopicConfigWrapper::default();
        for t in topics {
            let config = TopicConfig {
                topic_name: (*t).into(),
                read_queue_nums: 4,
                write_queue_nums: 4,
                ..Default::default()
            };
            wrapper.topic_config_table.insert((*t).into(), config);
        }
        Registration {
            cluster: "DefaultCluster".into(),
            broker_name: name.into(),
            broker_addr: addr.into(),
            broker_id: id,
            ha_server_addr: addr.replace(":10911", ":10912"),
            topics: wrapper,
            connection,
            timeout: Duration::from_secs(120),
        }
    }

    #[test]
    fn master_and_slave_make_one_route() {
        let mut table = RouteTable::default();
        let now = Instant::now();
        assert_eq!(
            table.register(reg("a", "127.0.0.1:10911", 0, &["T"], 1), now),
            RegisterOutcome::default()
        );
        let outcome = table.register(reg("a", "127.0.0.2:10911", 1, &["T", "OnlySlave"], 2), now);
        assert_eq!(outcome.master_addr.as_deref(), Some("127.0.0.1:10911"));
        assert_eq!(outcome.ha_server_addr.as_deref(), Some("127.0.0.1:10912"));
        let route = table.route("T").unwrap();
        assert_eq!(route.broker_datas[0].broker_addrs.len(), 2);
        assert_eq!(route.queue_datas[0].write_queue_nums, 4);
        assert!(table.route("OnlySlave").is_none(), "slaves do not define queues");
        assert!(table.route("Nope").is_none());
        assert_eq!(table.cluster_info().cluster_addr_table["DefaultCluster"].len(), 1);
    }

    #[test]
    fn expiry_connection_close_and_group_removal() {
        let mut table = RouteTable::default();
        let t0 = Instant::now();
        table.register(reg("a", "127.0.0.1:10911", 0, &["T"], 1), t0);
        table.register(reg("b", "127.0.0.3:10911", 0, &["T"], 3), t0);
        table.register(
            reg("a", "127.0.0.2:10911", 1, &[], 2),
            t0 + Duration::from_secs(100),
        );
        assert!(table.expire(t0 + Duration::from_secs(119)).is_empty());
        let mut expired = table.expire(t0 + Duration::from_secs(121));
        expired.sort();
        assert_eq!(expired, vec!["127.0.0.1:10911", "127.0.0.3:10911"]);
        let route = table.route("T");
        assert!(route.is_some(), "group a lives on through its slave: {route:?}");
        assert_eq!(
            table.route("T").unwrap().queue_datas.len(),
            1,
            "group b's queues are gone"
        );
        assert_eq!(table.connection_closed(2), vec!["127.0.0.2:10911"]);
        assert!(table.route("T").is_none(), "no live group serves T");
        assert!(table.topics().topic_list.is_empty());
        assert!(table.cluster_info().cluster_addr_table.is_empty());
    }

    #[test]
    fn permissions_deletes_and_role_switch() {
        let mut table = RouteTable::default();
        let now = Instant::now();
        table.register(reg("a", "127.0.0.1:10911", 0, &["T", "U"], 1), now);
        assert_eq!(table.set_write_permission("a", false), 2);
        assert_eq!(table.route("T").unwrap().queue_datas[0].perm, 4);
        table.set_write_permission("a", true);
        assert_eq!(table.route("T").unwrap().queue_datas[0].perm, 6);
        table.delete_topic("U", Some("DefaultCluster"));
        assert_eq!(table.topics_of_cluster("DefaultCluster").topic_list.len(), 1);
        // The same address re-registers as id 1: it must not stay listed as master.
        table.register(reg("a", "127.0.0.1:10911", 1, &[], 1), now);
        assert_eq!(
            table.route("T").unwrap().broker_datas[0]
                .broker_addrs
                .keys()
                .collect::<Vec<_>>(),
            vec![&1]
        );
    }

    #[test]
    fn adding_write_permission_sets_read_write_as_the_reference() {
        // The reference's ADD_WRITE_PERM_OF_BROKER sets read and write: the inherit bit (1) of an
        // auto-create topic such as TBW102 is gone, a write-only topic becomes readable.
        let mut table = RouteTable::default();
        let now = Instant::now();
        let mut topics = TopicConfigWrapper::default();
        for (name, perm) in [("TBW102", 7), ("W", 2)] {
            let config = TopicConfig {
                topic_name: name.into(),
                perm,
                ..Default::default()
            };
            topics.topic_config_table.insert(name.into(), config);
        }
        table.register(
            Registration {
                topics,
                ..reg("b", "127.0.0.3:10911", 0, &[], 3)
            },
            now,
        );
        assert_eq!(table.set_write_permission("b", false), 2);
        let perm = |t: &RouteTable, topic| t.route(topic).unwrap().queue_datas[0].perm;
        assert_eq!((perm(&table, "TBW102"), perm(&table, "W")), (5, 0));
        assert_eq!(table.set_write_permission("b", true), 2);
        assert_eq!((perm(&table, "TBW102"), perm(&table, "W")), (6, 6));
        assert_eq!(table.set_write_permission("nobody", true), 0);
    }
}
