//! What a replica does with the Lease it just read, decided without the API server.
//!
//! Expiry is judged on this replica's own clock: a lease is expired when its record (holder
//! and renew time) has not changed for a whole lease duration since this replica first saw
//! it, so clock skew between replicas does not matter (client-go's rule).

use std::time::{Duration, Instant};

/// What to do with the Lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// It is ours: write a new renew time.
    Renew,
    /// It is free or expired: take it.
    Acquire,
    /// Someone else holds it: wait.
    Standby,
}

/// A Lease record as last seen: holder and renew time (as text, only compared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `spec.holderIdentity`.
    pub holder: Option<String>,
    /// `spec.renewTime`.
    pub renew_time: Option<String>,
}

/// The record last seen and when it last changed.
#[derive(Debug, Clone)]
pub struct Observed {
    record: Record,
    changed_at: Instant,
}

impl Observed {
    /// Notes `record` seen at `now`, keeping the first time it was seen unchanged.
    pub fn note(previous: Option<Self>, record: Record, now: Instant) -> Self {
        match previous {
            Some(seen) if seen.record == record => seen,
            _ => Self {
                record,
                changed_at: now,
            },
        }
    }
}

/// The decision for `me` given what was observed, at `now`, for a lease of `duration`.
pub fn decide(me: &str, observed: &Observed, duration: Duration, now: Instant) -> Decision {
    match observed.record.holder.as_deref() {
        Some(holder) if holder == me => Decision::Renew,
        None | Some("") => Decision::Acquire,
        Some(_) if now.duration_since(observed.changed_at) >= duration => Decision::Acquire,
        Some(_) => Decision::Standby,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(holder: Option<&str>, renew: &str) -> Record {
        Record {
            holder: holder.map(str::to_owned),
            renew_time: Some(renew.to_owned()),
        }
    }

    const LEASE: Duration = Duration::from_secs(15);

    #[test]
    fn a_held_lease_expires_only_after_a_whole_duration_unchanged() {
        let start = Instant::now();
        let seen = Observed::note(None, record(Some("other"), "t1"), start);
        assert_eq!(decide("me", &seen, LEASE, start), Decision::Standby);
        // The holder renews: the clock starts again.
        let later = start + Duration::from_secs(10);
        let seen = Observed::note(Some(seen), record(Some("other"), "t2"), later);
        assert_eq!(
            decide("me", &seen, LEASE, later + Duration::from_secs(10)),
            Decision::Standby
        );
        // No renewal for a whole duration since: take it.
        let seen = Observed::note(Some(seen), record(Some("other"), "t2"), later + LEASE);
        assert_eq!(decide("me", &seen, LEASE, later + LEASE), Decision::Acquire);
    }

    #[test]
    fn own_and_free_leases() {
        let now = Instant::now();
        let own = Observed::note(None, record(Some("me"), "t"), now);
        assert_eq!(decide("me", &own, LEASE, now), Decision::Renew);
        let released = Observed::note(None, record(None, "t"), now);
        assert_eq!(decide("me", &released, LEASE, now), Decision::Acquire);
        let empty = Observed::note(None, record(Some(""), "t"), now);
        assert_eq!(decide("me", &empty, LEASE, now), Decision::Acquire);
    }
}
