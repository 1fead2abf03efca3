//! What the slaves have confirmed, and the wait a SYNC_MASTER send makes on it. Each connected
//! slave has an ack offset (its log end, as it last reported); a send is replicated once enough
//! slaves report an offset past its last record. No slave, or not enough of them, is answered
//! at once with SLAVE_NOT_AVAILABLE; a slave too slow for the timeout gets FLUSH_SLAVE_TIMEOUT.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use tokio::sync::watch;

/// Outcome of a replication wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replicated {
    /// Enough slaves have the data.
    Yes,
    /// Too few slaves connected to ever confirm.
    SlaveNotAvailable,
    /// Connected slaves did not confirm in time.
    Timeout,
}

/// One connected slave.
///
/// The classic HA wire has no handshake (a slave's first frame is its log end), so a master
/// knows a slave only by the connection's address, whose port is ephemeral: a new one on every
/// reconnect. What stays put is the slave's IP and [`SlaveState::index`], which tells apart
/// slaves connected from one IP at once. Metrics label a slave by those two.
#[derive(Debug, Clone)]
pub struct SlaveState {
    /// Its address.
    pub peer: SocketAddr,
    /// The lowest number no other slave connected from the same IP holds: 0 for a slave alone
    /// on its IP (a pod per broker), and again 0 when it reconnects after its old connection
    /// ended.
    pub index: u32,
    /// Its log end, as reported.
    pub acked: u64,
    /// When it last reported.
    pub last_report: Instant,
}

/// An IPv4 slave reaching a dual-stack listener shows as `::ffff:a.b.c.d`; the plain IPv4
/// form is the one operators know it by.
fn slave_ip(peer: SocketAddr) -> IpAddr {
    peer.ip().to_canonical()
}

impl SlaveState {
    /// The slave's IP, without the connection's port.
    pub fn ip(&self) -> IpAddr {
        slave_ip(self.peer)
    }
}

/// The table, with a channel that ticks on every report.
#[derive(Debug)]
pub struct Acks {
    slaves: Mutex<BTreeMap<u64, SlaveState>>,
    changed: watch::Sender<u64>,
}

impl Default for Acks {
    fn default() -> Self {
        Self {
            slaves: Mutex::default(),
            changed: watch::channel(0).0,
        }
    }
}

impl Acks {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, SlaveState>> {
        self.slaves.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slave connected (`id` is the connection's).
    pub fn connected(&self, id: u64, peer: SocketAddr, acked: u64) {
        let mut slaves = self.lock();
        let taken: Vec<u32> = slaves
            .values()
            .filter(|s| s.ip() == slave_ip(peer))
            .map(|s| s.index)
            .collect();
        let index = (0..).find(|i| !taken.contains(i)).unwrap_or(0);
        slaves.insert(
            id,
            SlaveState {
                peer,
                index,
                acked,
                last_report: Instant::now(),
            },
        );
        drop(slaves);
        self.changed.send_modify(|n| *n += 1);
    }

    /// A slave reported its log end.
    pub fn report(&self, id: u64, acked: u64) {
        if let Some(slave) = self.lock().get_mut(&id) {
            slave.acked = slave.acked.max(acked);
            slave.last_report = Instant::now();
        }
        self.changed.send_modify(|n| *n += 1);
    }

    /// A slave disconnected.
    pub fn disconnected(&self, id: u64) {
        self.lock().remove(&id);
        self.changed.send_modify(|n| *n += 1);
    }

    /// Every connected slave.
    pub fn slaves(&self) -> Vec<SlaveState> {
        self.lock().values().cloned().collect()
    }

    fn confirmed(&self, past: u64) -> (usize, usize) {
        let slaves = self.lock();
        (slaves.values().filter(|s| s.acked > past).count(), slaves.len())
    }

    /// Waits until `needed` slaves report an offset beyond `past` (the last record's start).
    pub async fn wait(&self, past: u64, needed: usize, timeout: Duration) -> Replicated {
        let mut changes = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let (confirmed, connected) = self.confirmed(past);
            if confirmed >= needed {
                return Replicated::Yes;
            }
            if connected < needed {
                return Replicated::SlaveNotAvailable;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => {
                    let (confirmed, _) = self.confirmed(past);
                    return if confirmed >= needed {
                        Replicated::Yes
                    } else {
                        Replicated::Timeout
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn waits_for_enough_slaves() {
        let acks = std::sync::Arc::new(Acks::default());
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            acks.wait(10, 1, Duration::from_secs(1)).await,
            Replicated::SlaveNotAvailable
        );
        acks.connected(1, peer, 0);
        assert_eq!(
            acks.wait(10, 1, Duration::from_millis(30)).await,
            Replicated::Timeout
        );
        let reporter = acks.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            reporter.report(1, 11);
        });
        assert_eq!(acks.wait(10, 1, Duration::from_secs(5)).await, Replicated::Yes);
        assert_eq!(
            acks.wait(10, 2, Duration::from_secs(5)).await,
            Replicated::SlaveNotAvailable
        );
        acks.disconnected(1);
        assert!(acks.slaves().is_empty());
    }

    #[test]
    fn slaves_are_numbered_per_ip_and_reconnects_reuse_their_number() {
        let acks = Acks::default();
        let labels = |acks: &Acks| -> Vec<(String, u32)> {
            acks.slaves()
                .iter()
                .map(|s| (s.ip().to_string(), s.index))
                .collect()
        };
        acks.connected(1, "10.0.0.5:40001".parse().unwrap(), 0);
        acks.connected(2, "[::ffff:10.0.0.6]:40002".parse().unwrap(), 0);
        acks.connected(3, "10.0.0.5:40003".parse().unwrap(), 0);
        assert_eq!(
            labels(&acks),
            [
                ("10.0.0.5".to_owned(), 0),
                ("10.0.0.6".to_owned(), 0),
                ("10.0.0.5".to_owned(), 1)
            ]
        );
        // The first slave reconnects from a new port once its old connection ended.
        acks.disconnected(1);
        acks.connected(4, "10.0.0.5:40004".parse().unwrap(), 0);
        let back = acks
            .slaves()
            .into_iter()
            .find(|s| s.peer.port() == 40004)
            .unwrap();
        assert_eq!(back.index, 0, "the reconnected slave keeps its number");
        let mut now = labels(&acks);
        now.sort();
        assert_eq!(
            now,
            [
                ("10.0.0.5".to_owned(), 0),
                ("10.0.0.5".to_owned(), 1),
                ("10.0.0.6".to_owned(), 0)
            ]
        );
    }
}
