//! The bounded waits of a restart: a master draining, a pod's replacement becoming ready.

use std::time::Duration;

/// How long each wait may last before the operator moves on (and says so in a Warning
/// Event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A read-only master's writes stopping and its slaves catching up.
    pub drain: Duration,
    /// A deleted pod's replacement becoming ready.
    pub ready: Duration,
    /// Giving a restarted master its write permission back.
    pub restore: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            drain: Duration::from_secs(60),
            // Store recovery after a restart is usually seconds; a large store can take longer.
            ready: Duration::from_secs(600),
            restore: Duration::from_secs(120),
        }
    }
}

/// One look at a draining master and its slaves (`commitLogMaxOffset` of each, from
/// GET_BROKER_RUNTIME_INFO); `None` where the broker did not answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainSample {
    /// The master's CommitLog end.
    pub master: Option<i64>,
    /// Each slave's CommitLog end.
    pub slaves: Vec<Option<i64>>,
}

/// What to do with a draining master.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainVerdict {
    /// Look again later; remember this offset.
    Wait {
        /// The master's offset now, if it answered.
        offset: Option<i64>,
    },
    /// No write since the last look and every slave has everything: restart it.
    Drained,
    /// The wait is over without a drain: restart it anyway (a restart is still clean: the
    /// broker flushes and closes its store on SIGTERM).
    TimedOut,
}

/// Whether a master that was made read-only `elapsed` ago, whose offset was `previous` at
/// the last look, has drained.
pub fn drain_verdict(
    previous: Option<i64>,
    sample: &DrainSample,
    elapsed: Duration,
    timeout: Duration,
) -> DrainVerdict {
    if let Some(now) = sample.master {
        let still = previous == Some(now);
        let caught_up = sample.slaves.iter().all(|slave| slave.is_some_and(|s| s >= now));
        if still && caught_up {
            return DrainVerdict::Drained;
        }
    }
    if elapsed >= timeout {
        DrainVerdict::TimedOut
    } else {
        DrainVerdict::Wait {
            offset: sample.master,
        }
    }
}

/// Where a deleted pod's replacement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplacementVerdict {
    /// Not there or not ready yet.
    Wait,
    /// A new pod (another uid) is ready.
    Ready,
    /// It did not become ready in time.
    TimedOut,
}

/// Whether the pod that had uid `old_uid` has been replaced by a ready one. `seen` is the
/// pod of that name now: its uid and readiness.
pub fn replacement(
    old_uid: &str,
    seen: Option<(&str, bool)>,
    elapsed: Duration,
    timeout: Duration,
) -> ReplacementVerdict {
    match seen {
        Some((uid, true)) if uid != old_uid => ReplacementVerdict::Ready,
        _ if elapsed >= timeout => ReplacementVerdict::TimedOut,
        _ => ReplacementVerdict::Wait,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);
    const SOON: Duration = Duration::from_secs(1);

    fn sample(master: i64, slaves: &[Option<i64>]) -> DrainSample {
        DrainSample {
            master: Some(master),
            slaves: slaves.to_vec(),
        }
    }

    #[test]
    fn a_master_drains_when_writes_stop_and_slaves_catch_up() {
        // First look: nothing to compare with yet.
        assert_eq!(
            drain_verdict(None, &sample(100, &[Some(100)]), SOON, MINUTE),
            DrainVerdict::Wait { offset: Some(100) }
        );
        // Still growing.
        assert_eq!(
            drain_verdict(Some(90), &sample(100, &[Some(100)]), SOON, MINUTE),
            DrainVerdict::Wait { offset: Some(100) }
        );
        // Stopped, but a slave is behind.
        assert_eq!(
            drain_verdict(Some(100), &sample(100, &[Some(80)]), SOON, MINUTE),
            DrainVerdict::Wait { offset: Some(100) }
        );
        assert_eq!(
            drain_verdict(Some(100), &sample(100, &[Some(100)]), SOON, MINUTE),
            DrainVerdict::Drained
        );
        // A lone master (MultiMaster) only has to stop.
        assert_eq!(
            drain_verdict(Some(7), &sample(7, &[]), SOON, MINUTE),
            DrainVerdict::Drained
        );
    }

    #[test]
    fn a_drain_is_bounded() {
        let silent = DrainSample {
            master: None,
            slaves: vec![None],
        };
        assert_eq!(
            drain_verdict(None, &silent, SOON, MINUTE),
            DrainVerdict::Wait { offset: None }
        );
        assert_eq!(
            drain_verdict(None, &silent, MINUTE, MINUTE),
            DrainVerdict::TimedOut
        );
        // A slave that does not answer keeps the master waiting, until the timeout.
        assert_eq!(
            drain_verdict(Some(5), &sample(5, &[None]), MINUTE, MINUTE),
            DrainVerdict::TimedOut
        );
    }

    #[test]
    fn a_replacement_is_a_ready_pod_with_another_uid() {
        assert_eq!(
            replacement("a", Some(("a", true)), SOON, MINUTE),
            ReplacementVerdict::Wait,
            "the old pod, not yet gone"
        );
        assert_eq!(replacement("a", None, SOON, MINUTE), ReplacementVerdict::Wait);
        assert_eq!(
            replacement("a", Some(("b", false)), SOON, MINUTE),
            ReplacementVerdict::Wait
        );
        assert_eq!(
            replacement("a", Some(("b", true)), SOON, MINUTE),
            ReplacementVerdict::Ready
        );
        assert_eq!(
            replacement("a", Some(("b", false)), MINUTE, MINUTE),
            ReplacementVerdict::TimedOut
        );
    }
}
