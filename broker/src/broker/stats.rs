//! Message counters and their rates: totals for GET_BROKER_RUNTIME_INFO (put/get totals, TPS
//! over 10 s / 1 min / 10 min), per topic and per group for topic and consume stats, and per
//! group and topic for the metrics page (rocketmq-exporter's `rocketmq_consumer_tps` has both).
//!
//! Keys are the topics and groups that carried traffic (a send or pull only counts once it
//! succeeded, so only topics and groups the broker knows get a key); they are kept until the
//! process stops, which bounds the metrics page by the topics and groups ever used.
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

    /// A first sample of 0 at `at`, for a counter created after the sampler last ran: without
    /// it the first sample would already hold the first events and no rate would include them.
    fn seed(&self, at: Instant) {
        self.samples().push_back((at, 0));
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

/// Messages and bytes of one topic (in) or one group, or group and topic (out).
#[derive(Debug, Default)]
pub struct Flow {
    /// Messages.
    pub messages: Counter,
    /// Message bytes.
    pub bytes: Counter,
}

impl Flow {
    /// A flow that starts at 0 at the sampler's last run, when there was one.
    fn starting_at(seed: Option<Instant>) -> Self {
        let flow = Self::default();
        if let Some(at) = seed {
            flow.messages.seed(at);
            flow.bytes.seed(at);
        }
        flow
    }

    fn sample(&self, now: Instant) {
        self.messages.sample(now);
        self.bytes.sample(now);
    }
}

/// Flows by one key.
type Flows = Mutex<HashMap<String, Arc<Flow>>>;

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
    topics: Flows,
    groups: Flows,
    /// Group → topic → what the group pulled from the topic.
    group_topics: Mutex<HashMap<String, HashMap<String, Arc<Flow>>>>,
    /// When the sampler last ran (new flows start from it).
    sampled_at: Mutex<Option<Instant>>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn entry(map: &mut HashMap<String, Arc<Flow>>, key: &str, seed: Option<Instant>) -> Arc<Flow> {
    if let Some(found) = map.get(key) {
        return found.clone();
    }
    let flow = Arc::new(Flow::starting_at(seed));
    map.insert(key.to_owned(), flow.clone());
    flow
}

impl BrokerStats {
    fn seed(&self) -> Option<Instant> {
        *lock(&self.sampled_at)
    }

    fn flow(&self, map: &Flows, key: &str) -> Arc<Flow> {
        let seed = self.seed();
        entry(&mut lock(map), key, seed)
    }

    /// Counts `messages` stored in `topic`.
    pub fn record_put(&self, topic: &str, messages: u64, bytes: u64) {
        self.put_messages.add(messages);
        self.put_bytes.add(bytes);
        let flow = self.flow(&self.topics, topic);
        flow.messages.add(messages);
        flow.bytes.add(bytes);
    }

    /// Counts `messages` pulled by `group` from `topic`.
    pub fn record_get(&self, group: &str, topic: &str, messages: u64, bytes: u64) {
        self.got_messages.add(messages);
        self.got_bytes.add(bytes);
        let seed = self.seed();
        let by_topic = {
            let mut groups = lock(&self.group_topics);
            match groups.get_mut(group) {
                Some(topics) => entry(topics, topic, seed),
                None => entry(groups.entry(group.to_owned()).or_default(), topic, seed),
            }
        };
        for flow in [self.flow(&self.groups, group), by_topic] {
            flow.messages.add(messages);
            flow.bytes.add(bytes);
        }
    }

    /// What was stored in a topic.
    pub fn topic(&self, topic: &str) -> Arc<Flow> {
        self.flow(&self.topics, topic)
    }

    /// What a group pulled, from every topic.
    pub fn group(&self, group: &str) -> Arc<Flow> {
        self.flow(&self.groups, group)
    }

    /// Every topic's flow, sorted by name.
    pub fn topics(&self) -> Vec<(String, Arc<Flow>)> {
        sorted(&self.topics)
    }

    /// What each group pulled from each topic, sorted by group, then topic.
    pub fn group_topics(&self) -> Vec<(String, String, Arc<Flow>)> {
        let mut all: Vec<(String, String, Arc<Flow>)> = lock(&self.group_topics)
            .iter()
            .flat_map(|(group, topics)| {
                topics
                    .iter()
                    .map(|(topic, flow)| (group.clone(), topic.clone(), flow.clone()))
            })
            .collect();
        all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        all
    }

    /// Day snapshots.
    pub fn day_totals(&self) -> DayTotals {
        *lock(&self.day)
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
        // Flows created from here on start at `now`: they hold nothing this round sampled.
        *lock(&self.sampled_at) = Some(now);
        for map in [&self.topics, &self.groups] {
            for (_, flow) in sorted(map) {
                flow.sample(now);
            }
        }
        for (_, _, flow) in self.group_topics() {
            flow.sample(now);
        }
        let today = now_ms.div_euclid(86_400_000);
        let mut day = lock(&self.day);
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

fn sorted(map: &Flows) -> Vec<(String, Arc<Flow>)> {
    let mut all: Vec<(String, Arc<Flow>)> = lock(map).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
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
    fn flows_created_between_samples_count_from_the_last_one() {
        let s = BrokerStats::default();
        let t0 = Instant::now();
        s.sample(t0, 1);
        s.record_get("G", "T", 4, 40);
        s.record_get("G", "U", 1, 10);
        s.sample(t0 + Duration::from_secs(2), 1);
        let minute = Duration::from_secs(60);
        let by_topic: Vec<(String, String, u64, f64)> = s
            .group_topics()
            .into_iter()
            .map(|(g, t, f)| (g, t, f.bytes.total(), f.messages.rate(minute)))
            .collect();
        assert_eq!(
            by_topic,
            [
                ("G".to_owned(), "T".to_owned(), 40, 2.0),
                ("G".to_owned(), "U".to_owned(), 10, 0.5)
            ]
        );
        assert_eq!(s.group("G").messages.total(), 5);
        assert_eq!(s.group("G").messages.rate(minute), 2.5);
        assert_eq!(s.got_messages.rate(minute), 2.5);
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
