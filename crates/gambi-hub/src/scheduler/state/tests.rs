use super::*;

#[test]
fn retry_hint_is_the_drain_time_in_whole_seconds_within_bounds() {
    let secs = Duration::from_secs;
    let check = |mean_hold, backlog, slots, expected| {
        assert_eq!(
            retry_hint(mean_hold, backlog, slots, secs(60)),
            expected,
            "hold {mean_hold:?}, backlog {backlog}, slots {slots}"
        );
    };
    check(secs(10), 4, 4, secs(10));
    check(secs(10), 8, 4, secs(20));
    check(Duration::from_millis(2500), 3, 2, secs(4));
    check(Duration::from_millis(10), 1, 8, secs(1));
    check(secs(10), 0, 4, secs(1));
    check(secs(10), 256, 4, secs(60));
    check(secs(10), 4, 0, secs(40));
    assert_eq!(retry_hint(secs(10), 4, 1, Duration::ZERO), secs(1));
}

#[test]
fn rank_prefers_not_cooling_then_lower_load() {
    let rank = |cooling, active, max| Rank {
        cooling,
        active,
        max,
    };
    let cases = [
        (rank(false, 0, 2), rank(false, 1, 2), Ordering::Less),
        (rank(false, 1, 4), rank(false, 1, 2), Ordering::Less),
        (rank(false, 2, 4), rank(false, 1, 2), Ordering::Equal),
        (rank(false, 3, 4), rank(true, 0, 4), Ordering::Less),
        (rank(true, 0, 1), rank(false, 0, 1), Ordering::Greater),
    ];
    for (a, b, expected) in cases {
        assert_eq!(
            a.cmp_to(&b),
            expected,
            "{}/{} vs {}/{}",
            a.active,
            a.max,
            b.active,
            b.max
        );
    }
}
