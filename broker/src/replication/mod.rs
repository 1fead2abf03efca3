//! Master/slave replication of the CommitLog, over the classic RocketMQ HA wire. A master
//! serves its log on `haListenPort` ([`master`]); a slave follows its master ([`slave`]),
//! appending the same bytes at the same offsets and building its own queues and index, and
//! copies the master's metadata ([`metadata_sync`]), after checking that the master's log holds
//! its own history ([`consistency`]). A SYNC_MASTER answers a send only once enough slaves
//! confirmed it ([`acks`]).

pub mod acks;
pub mod consistency;
pub mod master;
pub mod metadata_sync;
pub mod slave;
pub mod wire;

use std::sync::{
    Mutex, MutexGuard, PoisonError,
    atomic::{AtomicBool, Ordering},
};

/// Largest transfer a slave accepts (a master sends at most [`master::TRANSFER_BATCH`], but a
/// reference master may send more).
pub const MAX_TRANSFER: usize = 8 * 1024 * 1024;

/// Replication state shared by the broker's tasks and handlers.
#[derive(Debug, Default)]
pub struct Replication {
    /// Slaves connected to this master and what they confirmed.
    pub acks: acks::Acks,
    master: Mutex<MasterAddrs>,
    refusal: Mutex<Option<String>>,
    connected: AtomicBool,
}

/// Where this slave's master is, as the NameServer reported it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MasterAddrs {
    /// The master's remoting address (metadata sync).
    pub broker: Option<String>,
    /// The master's HA address (log replication).
    pub ha: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Replication {
    /// Records the master's addresses from a registration answer.
    pub fn set_master(&self, addrs: MasterAddrs) {
        let mut held = lock(&self.master);
        if *held != addrs {
            tracing::info!(master = ?addrs.broker, ha = ?addrs.ha, "master for replication");
            *held = addrs;
        }
    }

    /// The master's addresses, if known.
    pub fn master(&self) -> MasterAddrs {
        lock(&self.master).clone()
    }

    /// Stops replicating for good (until restart) with a reason an operator must act on.
    pub fn refuse(&self, reason: String) {
        tracing::error!(%reason, "replication stopped: this slave will not take data from its master");
        *lock(&self.refusal) = Some(reason);
    }

    /// Why replication was stopped, if it was.
    pub fn refusal(&self) -> Option<String> {
        lock(&self.refusal).clone()
    }

    /// Records whether this slave has a replication session with its master: set once the
    /// master passed the consistency check and took the first report, cleared when the session
    /// ends (and so never set on a slave that refused its master).
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Release);
    }

    /// Whether this slave is replicating from its master right now.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
}
