//! Queue locks for orderly consumers (LOCK_BATCH_MQ 41, UNLOCK_BATCH_MQ 42). A member of a group
//! consumes a queue in order only while it holds the queue's lock here, so during a rebalance
//! the old owner and the new one never consume the same queue at once. A lock is granted when
//! the queue is free, already held by the same client, or held by a client that has not renewed
//! it for [`LOCK_EXPIRY`] (clients renew every 20 s and drop their own after 30 s).

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use super::response;
use crate::{
    namesrv::route_data::to_json,
    protocol::{ProtocolError, RemotingCommand, code::request, code::response as codes},
};

/// A lock not renewed for this long may be taken by another member
/// (`rocketmq.broker.rebalance.lockMaxLiveTime`).
pub const LOCK_EXPIRY: Duration = Duration::from_secs(60);

/// A queue, as clients name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageQueue {
    /// Topic.
    pub topic: String,
    /// Broker name.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
}

/// LOCK_BATCH_MQ / UNLOCK_BATCH_MQ body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct LockBody {
    consumer_group: String,
    client_id: String,
    mq_set: BTreeSet<MessageQueue>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Locked {
    #[serde(rename = "lockOKMQSet")]
    lock_ok_mq_set: BTreeSet<MessageQueue>,
}

#[derive(Debug, Clone)]
struct Holder {
    client_id: String,
    renewed: Instant,
}

/// The lock table.
#[derive(Debug, Default)]
pub struct QueueLocks {
    groups: Mutex<HashMap<String, HashMap<MessageQueue, Holder>>>,
}

impl QueueLocks {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, HashMap<MessageQueue, Holder>>> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Grants `client` every queue of `wanted` it may hold now; returns those.
    pub fn try_lock(
        &self,
        group: &str,
        client: &str,
        wanted: &BTreeSet<MessageQueue>,
        now: Instant,
    ) -> BTreeSet<MessageQueue> {
        let mut groups = self.lock();
        let table = groups.entry(group.to_owned()).or_default();
        let mut granted = BTreeSet::new();
        for queue in wanted {
            let free = table.get(queue).is_none_or(|h| {
                h.client_id == client || now.saturating_duration_since(h.renewed) > LOCK_EXPIRY
            });
            if free {
                table.insert(
                    queue.clone(),
                    Holder {
                        client_id: client.to_owned(),
                        renewed: now,
                    },
                );
                granted.insert(queue.clone());
            }
        }
        granted
    }

    /// Releases the queues of `queues` that `client` holds.
    pub fn unlock(&self, group: &str, client: &str, queues: &BTreeSet<MessageQueue>) {
        let mut groups = self.lock();
        if let Some(table) = groups.get_mut(group) {
            table.retain(|q, h| !(queues.contains(q) && h.client_id == client));
        }
    }

    /// Whether any member of `group` holds an unexpired lock (retries of orderly groups are
    /// special-cased by the reference).
    pub fn group_holds_locks(&self, group: &str, now: Instant) -> bool {
        self.lock().get(group).is_some_and(|t| {
            t.values()
                .any(|h| now.saturating_duration_since(h.renewed) <= LOCK_EXPIRY)
        })
    }
}

/// Answers LOCK_BATCH_MQ / UNLOCK_BATCH_MQ; `None` for any other code.
pub fn handle(locks: &QueueLocks, req: &RemotingCommand) -> Option<RemotingCommand> {
    if req.code != request::LOCK_BATCH_MQ && req.code != request::UNLOCK_BATCH_MQ {
        return None;
    }
    let body: LockBody = match serde_json::from_slice(&req.body) {
        Ok(body) => body,
        Err(err) => {
            let err = ProtocolError::Body {
                what: "LockBatchRequestBody",
                reason: err.to_string(),
            };
            return Some(response::from_protocol(req, &err));
        }
    };
    if req.code == request::UNLOCK_BATCH_MQ {
        locks.unlock(&body.consumer_group, &body.client_id, &body.mq_set);
        return Some(RemotingCommand::response_to(req, codes::SUCCESS));
    }
    let granted = locks.try_lock(
        &body.consumer_group,
        &body.client_id,
        &body.mq_set,
        Instant::now(),
    );
    Some(
        RemotingCommand::response_to(req, codes::SUCCESS).with_body(to_json(&Locked {
            lock_ok_mq_set: granted,
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(id: i32) -> MessageQueue {
        MessageQueue {
            topic: "T".into(),
            broker_name: "b".into(),
            queue_id: id,
        }
    }

    #[test]
    fn locks_are_exclusive_renewable_and_expire() {
        let locks = QueueLocks::default();
        let t0 = Instant::now();
        let both: BTreeSet<_> = [mq(0), mq(1)].into();
        assert_eq!(locks.try_lock("G", "a", &both, t0), both);
        assert!(locks.try_lock("G", "b", &both, t0).is_empty(), "held by a");
        assert_eq!(
            locks.try_lock("G", "a", &both, t0 + LOCK_EXPIRY),
            both,
            "a renews"
        );
        locks.unlock("G", "a", &[mq(0)].into());
        assert_eq!(locks.try_lock("G", "b", &both, t0 + LOCK_EXPIRY), [mq(0)].into());
        let later = t0 + LOCK_EXPIRY * 2 + Duration::from_secs(1);
        assert_eq!(
            locks.try_lock("G", "b", &both, later),
            both,
            "a's lock on 1 expired"
        );
        assert!(
            locks.try_lock("Other", "a", &both, t0).len() == 2,
            "groups are separate"
        );
        assert!(locks.group_holds_locks("G", later));
    }

    #[test]
    fn the_reference_body_shapes() {
        let locks = QueueLocks::default();
        let req = RemotingCommand::request(request::LOCK_BATCH_MQ, 1).with_body(
            br#"{"clientId":"c@1","consumerGroup":"G","mqSet":[{"brokerName":"b","queueId":0,"topic":"T"}],"onlyThisBroker":false}"#.to_vec(),
        );
        let reply = handle(&locks, &req).unwrap();
        assert_eq!(
            std::str::from_utf8(&reply.body).unwrap(),
            r#"{"lockOKMQSet":[{"topic":"T","brokerName":"b","queueId":0}]}"#
        );
    }
}
