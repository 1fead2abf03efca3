//! `status.phase`: the conditions in one word.

use super::Facts;
use crate::types::Phase;

/// Paused wins (nothing is being done), then Degraded (something needs a human), then Ready
/// (all ready, all current); Pending before anything runs; otherwise Progressing.
pub fn phase(facts: &Facts) -> Phase {
    if facts.paused {
        Phase::Paused
    } else if facts.degraded() {
        Phase::Degraded
    } else if !facts.progressing() {
        Phase::Ready
    } else if facts.broker_pods == 0 && facts.name_servers.0 == 0 {
        Phase::Pending
    } else {
        Phase::Progressing
    }
}
