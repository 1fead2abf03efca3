//! Wake-ups for parked long-poll reads: dispatch notifies each queue it appended to.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::Notify;

use super::commit_log::QueueKey;

/// Per-queue notifiers, created on demand by waiters.
#[derive(Debug, Default)]
pub struct Arrivals {
    waiters: Mutex<HashMap<QueueKey, Arc<Notify>>>,
}

impl Arrivals {
    /// The notifier of a queue.
    pub fn notifier(&self, topic: &str, queue_id: i32) -> Arc<Notify> {
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        waiters.entry((topic.to_owned(), queue_id)).or_default().clone()
    }

    /// Wakes everyone parked on these queues and forgets notifiers nobody holds.
    pub fn notify<'a>(&self, keys: impl IntoIterator<Item = &'a QueueKey>) {
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            if let Some(notify) = waiters.get(key) {
                notify.notify_waiters();
                if Arc::strong_count(notify) == 1 {
                    waiters.remove(key);
                }
            }
        }
    }
}
