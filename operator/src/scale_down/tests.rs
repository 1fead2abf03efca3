use super::*;

const TIMEOUT: Duration = Duration::from_secs(60);

fn input<'a>(wanted: u32, live: &'a BTreeSet<u32>, progress: Option<(u32, ScaleDownStep)>) -> Input<'a> {
    Input {
        wanted,
        live,
        progress,
        elapsed: Duration::ZERO,
        policy: ScaleDownPolicy::Block,
        drain_timeout: TIMEOUT,
        lag: None,
    }
}

#[test]
fn nothing_above_the_wanted_groups_is_idle() {
    let live = BTreeSet::from([0, 1]);
    assert_eq!(decide(&input(2, &live, None)), Decision::Idle);
    assert_eq!(
        decide(&input(3, &live, None)),
        Decision::Idle,
        "scale-up is apply's job"
    );
}

#[test]
fn the_highest_extra_group_goes_first() {
    let live = BTreeSet::from([0, 1, 2, 3]);
    assert_eq!(decide(&input(2, &live, None)), Decision::MakeReadOnly(3));
}

#[test]
fn read_only_is_retried_until_it_took() {
    let live = BTreeSet::from([0, 1, 2]);
    let progress = Some((2, ScaleDownStep::ReadOnly));
    assert_eq!(decide(&input(2, &live, progress)), Decision::MakeReadOnly(2));
}

#[test]
fn zero_lag_removes_under_either_policy() {
    let live = BTreeSet::from([0, 1, 2]);
    for policy in [ScaleDownPolicy::Block, ScaleDownPolicy::Force] {
        let mut i = input(2, &live, Some((2, ScaleDownStep::Draining)));
        i.policy = policy;
        i.lag = Some(Lag::Known(0));
        assert_eq!(
            decide(&i),
            Decision::Remove {
                group: 2,
                forced: false
            }
        );
    }
}

#[test]
fn block_waits_past_the_timeout_and_says_so() {
    let live = BTreeSet::from([0, 1, 2]);
    let mut i = input(2, &live, Some((2, ScaleDownStep::Draining)));
    i.lag = Some(Lag::Known(7));
    i.elapsed = TIMEOUT * 10;
    let Decision::Wait { group, lag, message } = decide(&i) else {
        panic!("Block must wait");
    };
    assert_eq!((group, lag), (2, Some(7)));
    assert!(
        message.contains("lag 7") && message.contains("Block"),
        "{message}"
    );
}

#[test]
fn block_waits_when_the_lag_cannot_be_read() {
    let live = BTreeSet::from([0, 1, 2]);
    let mut i = input(2, &live, Some((2, ScaleDownStep::Draining)));
    i.lag = Some(Lag::Unknown("connection refused".into()));
    i.elapsed = TIMEOUT * 10;
    let Decision::Wait { lag, message, .. } = decide(&i) else {
        panic!("an unreadable lag is not zero");
    };
    assert_eq!(lag, None);
    assert!(message.contains("connection refused"), "{message}");
}

#[test]
fn force_waits_then_removes_at_the_timeout() {
    let live = BTreeSet::from([0, 1, 2]);
    let mut i = input(2, &live, Some((2, ScaleDownStep::Draining)));
    i.policy = ScaleDownPolicy::Force;
    i.lag = Some(Lag::Known(3));
    i.elapsed = TIMEOUT - Duration::from_secs(10);
    let Decision::Wait { message, .. } = decide(&i) else {
        panic!("Force waits until the timeout");
    };
    assert!(message.contains("in 10 s"), "{message}");
    i.elapsed = TIMEOUT;
    assert_eq!(
        decide(&i),
        Decision::Remove {
            group: 2,
            forced: true
        }
    );
    i.lag = Some(Lag::Unknown("timeout".into()));
    assert_eq!(
        decide(&i),
        Decision::Remove {
            group: 2,
            forced: true
        }
    );
}

#[test]
fn removing_repeats_until_the_statefulset_is_gone() {
    let live = BTreeSet::from([0, 1, 2]);
    let progress = Some((2, ScaleDownStep::Removing));
    assert_eq!(
        decide(&input(2, &live, progress)),
        Decision::Remove {
            group: 2,
            forced: false
        }
    );
    let gone = BTreeSet::from([0, 1]);
    assert_eq!(decide(&input(2, &gone, progress)), Decision::Finished(2));
}

#[test]
fn a_group_wanted_again_is_cancelled_at_any_step() {
    let live = BTreeSet::from([0, 1, 2]);
    for step in [
        ScaleDownStep::ReadOnly,
        ScaleDownStep::Draining,
        ScaleDownStep::Removing,
    ] {
        assert_eq!(decide(&input(3, &live, Some((2, step)))), Decision::Cancel(2));
    }
}
