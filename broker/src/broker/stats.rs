//! Message counters and their rates: totals for GET_BROKER_RUNTIME_INFO (put/get totals, TPS
//! over 10 s / 1 min / 10 min) and per topic and per group, for topic and consume stats.
//!
//! Counting is one atomic add on the hot path; a sampler task snapshots every counter each
//! second, and rates are differences between the newest sample and one a window back.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::metrics::latency::Latency;

/// Samples older than this are dropped (the longest TPS window the reference reports).
const KEEP: Duration = Duration::from_secs(600);

/// A monotonically growing count with its recent samples.
#[derive(Debug, Default)]
pub struct Counter {
    total: AtomicU64,
    samples: Mutex<VecDeque<(Instant, u64)>>,
}

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// The count so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn samples(&self) -> MutexGuard<'_, VecDeque<(Instant, u64)>> {
        self.samples.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the current total at `now`.
    pub fn sample(&self, now: Instant) {
        let total = self.total();
        let mut samples = self.samples();
        samples.push_back((now, total));
        while samples
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > KEEP)
        {
            samples.pop_front();
        }
    }

    /// Events per second over the last `window` (0 until two samples exist).
    pub fn rate(&self, window: Duration) -> f64 {
        let samples = self.samples();
        let Some(&(newest_at, newest)) = samples.back() else {
            return 0.0;
        };
        let oldest = samples
            .iter()
            .find(|(t, _)| newest_at.saturating_duration_since(*t) <= window)
            .copied();
        match oldest {
            Some((at, count)) if at < newest_at => {
                (newest - count) as f64 / newest_at.duration_since(at).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// TPS over the reference's three windows, space-separated as GET_BROKER_RUNTIME_INFO sends it.
pub fn tps_triplet(counter: &Counter) -> String {
    format!(
        "{:.2} {:.2} {:.2}",
        counter.rate(Duration::from_secs(10)),
        counter.rate(Duration::from_secs(60)),
        counter.rate(Duration::from_secs(600))
    )
}

/// Messages and bytes of one topic (in) or one group (out).
#[derive(Debug, Default)]
pub struct Flow {
    /// Messages.
    pub messages: Counter,
    /// Message bytes.
    pub bytes: Counter,
}

/// The broker's counters.
#[derive(Debug, Default)]
pub struct BrokerStats {
    /// Messages stored.
    pub put_messages: Counter,
    /// Message bytes stored.
    pub put_bytes: Counter,
    /// Messages returned by pulls.
    pub got_messages: Counter,
    /// Message bytes returned by pulls.
    pub got_bytes: Counter,
    /// Time to store a send (and flush or replicate it when the mode waits for that).
    pub put_latency: Latency,
    /// Pulls being answered or held (long polling) right now.
    pub pulls_in_flight: AtomicI64,
    topics: Mutex<HashMap<String, Arc<Flow>>>,
    groups: Mutex<HashMap<String, Arc<Flow>>>,
    day: Mutex<DayTotals>,
}

/// Totals at the last two UTC midnights, for the "yesterday morning / today morning" fields.
#[derive(Debug, Default, Clone, Copy)]
pub struct DayTotals {
    /// Which UTC day the snapshot belongs to.
    pub day: i64,
    /// Put total at yesterday's midnight.
    pub put_yesterday_morning: u64,
    /// Put total at today's midnight.
    pub put_today_morning: u64,
    /// Get total at yesterday's midnight.
    pub get_yesterday_morning: u64,
    /// Get total at today's midnight.
    pub get_today_morning: u64,
}

fn entry(map: &Mutex<HashMap<String, Arc<Flow>>>, key: &str) -> Arc<Flow> {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = map.get(key) {
        return found.clone();
    }
    map.entry(key.to_owned()).or_default().clone()
}

impl BrokerStats {
    /// Counts `messages` stored in `topic`.
    pub fn record_put(&self, topic: &str, messages: u64, bytes: u64) {
        self.put_messages.add(messages);
        self.put_bytes.add(bytes);
        let flow = entry(&self.topics, topic);
        flow.messages.add(messages);
        flow.bytes.add(bytes);
    }

    /// Counts `messages` pulled by `group`.
    pub fn record_get(&self, group: &str, messages: u64, bytes: u64) {
        self.got_messages.add(messages);
        self.got_bytes.add(bytes);
        let flow = entry(&self.groups, group);
        flow.messages.add(messages);
        flow.bytes.add(bytes);
    }

    /// What was stored in a topic.
    pub fn topic(&self, topic: &str) -> Arc<Flow> {
        entry(&self.topics, topic)
    }

    /// What a group pulled.
    pub fn group(&self, group: &str) -> Arc<Flow> {
        entry(&self.groups, group)
    }

    /// Every topic's flow, sorted by name.
    pub fn topics(&self) -> Vec<(String, Arc<Flow>)> {
        sorted(&self.topics)
    }

    /// Every group's flow, sorted by name.
    pub fn groups(&self) -> Vec<(String, Arc<Flow>)> {
        sorted(&self.groups)
    }

    /// Day snapshots.
    pub fn day_totals(&self) -> DayTotals {
        *self.day.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Samples every counter; `now_ms` (wall clock) rolls the day snapshots at UTC midnight.
    pub fn sample(&self, now: Instant, now_ms: i64) {
        for counter in [
            &self.put_messages,
            &self.put_bytes,
            &self.got_messages,
            &self.got_bytes,
        ] {
            counter.sample(now);
        }
        for map in [&self.topics, &self.groups] {
            for (_, flow) in sorted(map) {
                flow.messages.sample(now);
                flow.bytes.sample(now);
            }
        }
        let today = now_ms.div_euclid(86_400_000);
        let mut day = self.day.lock().unwrap_or_else(PoisonError::into_inner);
        if day.day == 0 {
            day.day = today;
        } else if day.day != today {
            *day = DayTotals {
                day: today,
                put_yesterday_morning: day.put_today_morning,
                put_today_morning: self.put_messages.total(),
                get_yesterday_morning: day.get_today_morning,
                get_today_morning: self.got_messages.total(),
            };
        }
    }
}

fn sorted(map: &Mutex<HashMap<String, Arc<Flow>>>) -> Vec<(String, Arc<Flow>)> {
    let mut all: Vec<(String, Arc<Flow>)> = map
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_samples_within_the_window() {
        let c = Counter::default();
        let t0 = Instant::now();
        assert_eq!(c.rate(Duration::from_secs(10)), 0.0);
        c.sample(t0);
        c.add(100);
        c.sample(t0 + Duration::from_secs(2));
        assert_eq!(c.rate(Duration::from_secs(10)), 50.0);
        c.add(40);
        c.sample(t0 + Duration::from_secs(22));
        // Only the 2 s and 22 s samples lie within 20 s of the newest.
        assert_eq!(c.rate(Duration::from_secs(20)), 2.0);
        assert_eq!(tps_triplet(&c), "0.00 6.36 6.36");
    }

    #[test]
    fn day_totals_roll_at_midnight() {
        let s = BrokerStats::default();
        let now = Instant::now();
        s.record_put("T", 5, 50);
        s.sample(now, 86_400_000 * 3 + 5);
        s.record_put("T", 2, 20);
        s.sample(now, 86_400_000 * 4 + 1);
        let d = s.day_totals();
        assert_eq!((d.day, d.put_today_morning, d.put_yesterday_morning), (4, 7, 0));
        assert_eq!(s.topic("T").messages.total(), 7);
        assert_eq!(s.topic("T").bytes.total(), 70);
    }
}
