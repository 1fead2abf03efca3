//! Removing broker groups after `spec.broker.groups` went down, as pure decisions (the
//! reconciler does the I/O):
//!
//! ```text
//! highest group above `groups` ─▶ ReadOnly: its brokers get brokerPermission 4
//!   ─▶ Draining: consumer lag on its brokers, until 0 (Block) or 0 / the drain timeout (Force)
//!   ─▶ Removing: StatefulSet, ConfigMap, PDB deleted (claims too if deleteClaim)
//!   ─▶ its StatefulSet is gone: forget it, next group
//! ```
//!
//! One group at a time, one step per reconcile, the step kept in `status.scaleDown` so that
//! a restarted operator resumes where it was. A group wanted again before it is gone gets
//! its write permission back.

use std::{collections::BTreeSet, time::Duration};

use crate::types::{ScaleDownPolicy, ScaleDownStep};

/// The consumer lag of the group being drained, as last measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lag {
    /// Messages not yet consumed, every consumer group summed.
    Known(i64),
    /// It could not be read (the broker did not answer, …): why.
    Unknown(String),
}

/// Everything one decision looks at.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// `spec.broker.groups`.
    pub wanted: u32,
    /// Indices of the groups whose StatefulSet exists.
    pub live: &'a BTreeSet<u32>,
    /// The removal in progress (`status.scaleDown`): its group's index and step.
    pub progress: Option<(u32, ScaleDownStep)>,
    /// How long the step has lasted.
    pub elapsed: Duration,
    /// `spec.broker.scaleDownPolicy`.
    pub policy: ScaleDownPolicy,
    /// How long Force lets a group drain.
    pub drain_timeout: Duration,
    /// Draining only: the group's consumer lag now.
    pub lag: Option<Lag>,
}

/// What the reconciler does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No group to remove.
    Idle,
    /// Make every broker of the group read-only (again, if the last try failed).
    MakeReadOnly(u32),
    /// Keep draining; `message` says what for.
    Wait {
        /// The group.
        group: u32,
        /// Its lag, if known.
        lag: Option<i64>,
        /// What it waits for, for status.
        message: String,
    },
    /// Delete the group's objects; `forced` when messages are left unconsumed.
    Remove {
        /// The group.
        group: u32,
        /// Removed before its lag reached 0 (Force, timed out).
        forced: bool,
    },
    /// The group's StatefulSet is gone: the removal is complete.
    Finished(u32),
    /// The group is wanted again: give its brokers write permission back, forget it.
    Cancel(u32),
}

/// The next step of scaling down.
pub fn decide(input: &Input<'_>) -> Decision {
    let Some((group, step)) = input.progress else {
        // Highest first, so the remaining groups stay 0..wanted.
        return match input.live.iter().rev().find(|&&g| g >= input.wanted) {
            Some(&group) => Decision::MakeReadOnly(group),
            None => Decision::Idle,
        };
    };
    if group < input.wanted {
        return Decision::Cancel(group);
    }
    match step {
        ScaleDownStep::ReadOnly => Decision::MakeReadOnly(group),
        ScaleDownStep::Draining => drain(input, group),
        ScaleDownStep::Removing if input.live.contains(&group) => Decision::Remove { group, forced: false },
        ScaleDownStep::Removing => Decision::Finished(group),
    }
}

fn drain(input: &Input<'_>, group: u32) -> Decision {
    let lag = match &input.lag {
        Some(Lag::Known(0)) => return Decision::Remove { group, forced: false },
        Some(Lag::Known(n)) => Some(*n),
        Some(Lag::Unknown(_)) | None => None,
    };
    let timed_out = input.elapsed >= input.drain_timeout;
    if input.policy == ScaleDownPolicy::Force && timed_out {
        return Decision::Remove { group, forced: true };
    }
    let what = match &input.lag {
        Some(Lag::Known(n)) => format!("consumer lag {n} to reach 0"),
        Some(Lag::Unknown(why)) => format!("the consumer lag, which cannot be read ({why})"),
        None => "the consumer lag".to_owned(),
    };
    let limit = match input.policy {
        ScaleDownPolicy::Block => "scaleDownPolicy Block waits without a limit".to_owned(),
        ScaleDownPolicy::Force => format!(
            "scaleDownPolicy Force removes it anyway in {} s",
            input.drain_timeout.saturating_sub(input.elapsed).as_secs()
        ),
    };
    Decision::Wait {
        group,
        lag,
        message: format!("waiting for {what}; {limit}"),
    }
}

#[cfg(test)]
mod tests;
