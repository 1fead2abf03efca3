//! Wake-ups for parked long-poll reads: dispatch notifies each queue it appended to. Also
//! counts the reads parked right now (the broker's `apogee_pulls_parked`).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::sync::Notify;

use super::commit_log::QueueKey;

/// Per-queue notifiers, created on demand by waiters.
#[derive(Debug, Default)]
pub struct Arrivals {
    waiters: Mutex<HashMap<QueueKey, Arc<Notify>>>,
    parked: AtomicUsize,
}

/// One parked read, counted until dropped: a wait that ends, and one whose future is dropped
/// mid-wait (the pull's connection closed), both uncount it.
#[derive(Debug)]
pub struct Parked<'a>(&'a AtomicUsize);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Arrivals {
    /// The notifier of a queue.
    pub fn notifier(&self, topic: &str, queue_id: i32) -> Arc<Notify> {
        let mut waiters = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        waiters.entry((topic.to_owned(), queue_id)).or_default().clone()
    }

    /// Counts a read as parked until the guard drops.
    pub fn park(&self) -> Parked<'_> {
        self.parked.fetch_add(1, Ordering::Relaxed);
        Parked(&self.parked)
    }

    /// Reads parked right now.
    pub fn parked(&self) -> usize {
        self.parked.load(Ordering::Relaxed)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_reads_are_counted_until_their_guards_drop() {
        let arrivals = Arrivals::default();
        let first = arrivals.park();
        let second = arrivals.park();
        assert_eq!(arrivals.parked(), 2);
        drop(first);
        assert_eq!(arrivals.parked(), 1);
        drop(second);
        assert_eq!(arrivals.parked(), 0);
    }
}
