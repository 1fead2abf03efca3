//! Who is connected: consumer and producer groups as their heartbeats describe them.
//!
//! Rebalancing is client-side, so what the broker owes its consumers is an accurate member list
//! per group (GET_CONSUMER_LIST_BY_GROUP) and a nudge (NOTIFY_CONSUMER_IDS_CHANGED) whenever it
//! changes. A member leaves when its connection closes, when it unregisters, or when it has been
//! silent for [`CHANNEL_EXPIRY`]. Every mutation returns the consumer groups whose membership
//! changed; the caller notifies them.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use super::client_data::{
    ConnectionInfo, ConsumerConnection, ConsumerData, HeartbeatData, ProducerConnection, SubscriptionData,
};
use crate::remoting::Connection;

/// A member that sent no heartbeat for this long is dropped, as the reference does.
pub const CHANNEL_EXPIRY: Duration = Duration::from_secs(120);

/// Connections are identified by the address of their shared state.
fn connection_id(connection: &Arc<Connection>) -> usize {
    Arc::as_ptr(connection) as usize
}

/// The heartbeat's `messageModel` of a group whose every member gets every message.
const BROADCASTING: &str = "BROADCASTING";

/// An online consumer group's mode and its subscription to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSubscription {
    /// The group consumes in broadcasting mode.
    pub broadcasting: bool,
    /// Its subscription to the topic, if it has one.
    pub subscription: Option<SubscriptionData>,
}

#[derive(Debug, Clone)]
struct Member {
    connection: Arc<Connection>,
    client_id: String,
    language: String,
    version: i32,
    last_heartbeat: Instant,
}

impl Member {
    fn info(&self) -> ConnectionInfo {
        ConnectionInfo {
            client_addr: self.connection.peer().to_string(),
            client_id: self.client_id.clone(),
            language: self.language.clone(),
            version: self.version,
        }
    }
}

#[derive(Debug, Default)]
struct ConsumerGroup {
    members: HashMap<usize, Member>,
    consume_type: String,
    message_model: String,
    consume_from_where: String,
    subscriptions: BTreeMap<String, SubscriptionData>,
}

#[derive(Debug, Default)]
struct State {
    consumers: BTreeMap<String, ConsumerGroup>,
    producers: BTreeMap<String, HashMap<usize, Member>>,
}

/// The registry.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    state: Mutex<State>,
}

/// Who sent a heartbeat.
#[derive(Debug, Clone)]
pub struct Sender<'a> {
    /// The connection it came on.
    pub connection: &'a Arc<Connection>,
    /// The request's language name.
    pub language: &'a str,
    /// The request's version ordinal.
    pub version: i32,
}

impl ClientRegistry {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a heartbeat. Returns the consumer groups this connection newly joined.
    pub fn heartbeat(&self, sender: &Sender<'_>, data: &HeartbeatData) -> Vec<String> {
        let now = Instant::now();
        let id = connection_id(sender.connection);
        let member = Member {
            connection: sender.connection.clone(),
            client_id: data.client_id.clone(),
            language: sender.language.to_owned(),
            version: sender.version,
            last_heartbeat: now,
        };
        let mut state = self.lock();
        let mut joined = Vec::new();
        for consumer in &data.consumer_data_set {
            let group = state.consumers.entry(consumer.group_name.clone()).or_default();
            if group.members.insert(id, member.clone()).is_none() {
                joined.push(consumer.group_name.clone());
            }
            apply_consumer(group, consumer, data.without_sub);
        }
        for producer in &data.producer_data_set {
            state
                .producers
                .entry(producer.group_name.clone())
                .or_default()
                .insert(id, member.clone());
        }
        joined
    }

    /// UNREGISTER_CLIENT: the connection leaves the named groups. Returns the consumer groups
    /// whose membership changed.
    pub fn unregister(
        &self,
        connection: &Arc<Connection>,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) -> Vec<String> {
        let id = connection_id(connection);
        let mut state = self.lock();
        if let Some(group) = producer_group
            && let Some(members) = state.producers.get_mut(group)
        {
            members.remove(&id);
            if members.is_empty() {
                state.producers.remove(group);
            }
        }
        let mut changed = Vec::new();
        if let Some(group) = consumer_group
            && remove_member(&mut state.consumers, group, id)
        {
            changed.push(group.to_owned());
        }
        changed
    }

    /// The connection closed: it leaves every group.
    pub fn connection_closed(&self, connection: &Arc<Connection>) -> Vec<String> {
        let id = connection_id(connection);
        self.remove_where(|member_id, _| member_id == id)
    }

    /// Drops members silent since before `now - CHANNEL_EXPIRY` (and closes their connections,
    /// as the reference does).
    pub fn expire(&self, now: Instant) -> Vec<String> {
        self.remove_where(|_, member| {
            let stale = now.saturating_duration_since(member.last_heartbeat) > CHANNEL_EXPIRY;
            if stale {
                tracing::info!(client = %member.client_id, peer = %member.connection.peer(), "client heartbeat expired");
                member.connection.close();
            }
            stale
        })
    }

    fn remove_where(&self, mut gone: impl FnMut(usize, &Member) -> bool) -> Vec<String> {
        let mut state = self.lock();
        let mut changed = Vec::new();
        state.consumers.retain(|name, group| {
            let before = group.members.len();
            group.members.retain(|id, m| !gone(*id, m));
            if group.members.len() != before {
                changed.push(name.clone());
            }
            !group.members.is_empty()
        });
        state.producers.retain(|_, members| {
            members.retain(|id, m| !gone(*id, m));
            !members.is_empty()
        });
        changed
    }

    /// Client ids of a consumer group, sorted (clients sort again; order does not matter).
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        let state = self.lock();
        let mut ids: Vec<String> = state
            .consumers
            .get(group)
            .map(|g| g.members.values().map(|m| m.client_id.clone()).collect())
            .unwrap_or_default();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Connections of a consumer group (to notify them).
    pub fn consumer_connections(&self, group: &str) -> Vec<Arc<Connection>> {
        self.lock()
            .consumers
            .get(group)
            .map(|g| g.members.values().map(|m| m.connection.clone()).collect())
            .unwrap_or_default()
    }

    /// What an online group's heartbeats say about `topic`, as a pull without its own
    /// subscription needs it; `None` when no member of the group is online.
    pub fn group_subscription(&self, group: &str, topic: &str) -> Option<GroupSubscription> {
        let state = self.lock();
        let g = state.consumers.get(group)?;
        Some(GroupSubscription {
            broadcasting: g.message_model == BROADCASTING,
            subscription: g.subscriptions.get(topic).cloned(),
        })
    }

    /// Whether the group consumes in broadcasting mode.
    pub fn is_broadcasting(&self, group: &str) -> bool {
        self.lock()
            .consumers
            .get(group)
            .is_some_and(|g| g.message_model == BROADCASTING)
    }

    /// GET_CONSUMER_CONNECTION_LIST's body; `None` if nobody of the group is online.
    pub fn consumer_connection(&self, group: &str) -> Option<ConsumerConnection> {
        let state = self.lock();
        let g = state.consumers.get(group)?;
        Some(ConsumerConnection {
            connection_set: g.members.values().map(Member::info).collect(),
            subscription_table: g.subscriptions.clone(),
            consume_type: g.consume_type.clone(),
            message_model: g.message_model.clone(),
            consume_from_where: g.consume_from_where.clone(),
        })
    }

    /// GET_PRODUCER_CONNECTION_LIST's body; `None` if nobody of the group is online.
    pub fn producer_connection(&self, group: &str) -> Option<ProducerConnection> {
        let state = self.lock();
        let members = state.producers.get(group)?;
        Some(ProducerConnection {
            connection_set: members.values().map(Member::info).collect(),
        })
    }

    /// One live connection of a producer group (transaction back-checks go there).
    pub fn producer_of(&self, group: &str) -> Option<Arc<Connection>> {
        let state = self.lock();
        let members = state.producers.get(group)?;
        members
            .values()
            .filter(|m| !m.connection.is_closed())
            .max_by_key(|m| m.last_heartbeat)
            .map(|m| m.connection.clone())
    }

    /// Online consumer groups subscribed to `topic`.
    pub fn groups_subscribing(&self, topic: &str) -> BTreeSet<String> {
        self.lock()
            .consumers
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Topics an online group subscribes to.
    pub fn topics_of(&self, group: &str) -> BTreeSet<String> {
        self.lock()
            .consumers
            .get(group)
            .map(|g| g.subscriptions.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every online consumer group.
    pub fn consumer_groups(&self) -> Vec<String> {
        self.lock().consumers.keys().cloned().collect()
    }

    /// Number of live client connections (for runtime info and metrics).
    pub fn connection_count(&self) -> usize {
        let state = self.lock();
        let mut ids: BTreeSet<usize> = BTreeSet::new();
        for g in state.consumers.values() {
            ids.extend(g.members.keys());
        }
        for p in state.producers.values() {
            ids.extend(p.keys());
        }
        ids.len()
    }
}

fn apply_consumer(group: &mut ConsumerGroup, data: &ConsumerData, without_sub: bool) {
    group.consume_type.clone_from(&data.consume_type);
    group.message_model.clone_from(&data.message_model);
    group.consume_from_where.clone_from(&data.consume_from_where);
    // Heartbeat v2 omits unchanged subscriptions; keep what the last full heartbeat said.
    if without_sub && data.subscription_data_set.is_empty() {
        return;
    }
    // Members of one group share subscriptions; the newest heartbeat describes them. Keep a
    // topic's entry only if this version is not older than the one held.
    let fresh: BTreeMap<String, SubscriptionData> = data
        .subscription_data_set
        .iter()
        .map(|s| (s.topic.clone(), s.clone()))
        .collect();
    group.subscriptions.retain(|topic, _| fresh.contains_key(topic));
    for (topic, sub) in fresh {
        match group.subscriptions.get(&topic) {
            Some(held) if held.sub_version > sub.sub_version => {}
            _ => {
                group.subscriptions.insert(topic, sub);
            }
        }
    }
}

fn remove_member(groups: &mut BTreeMap<String, ConsumerGroup>, group: &str, id: usize) -> bool {
    let Some(g) = groups.get_mut(group) else {
        return false;
    };
    let removed = g.members.remove(&id).is_some();
    if g.members.is_empty() {
        groups.remove(group);
    }
    removed
}
