//! The scheduler through its public API, on a paused clock: slots, selectors, the wait
//! queue, fairness, cool-downs, failover, cancellation and slot leaks.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::FutureExt;
use gambi_hub::scheduler::{
    ClientKey, Lease, LeaseRequest, Outcome, ParticipantLoad, Presence, ScheduleError, Scheduler,
    SchedulerConfig, SchedulerSnapshot, Wanted,
};
use gambi_protocol as proto;
use tokio::task::JoinSet;
use tokio::time::Instant;

type Acquire = Pin<Box<dyn Future<Output = Result<Lease, ScheduleError>> + Send>>;

const SEED: u64 = 42;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A room whose participants `(id, model, max_concurrency)` are all available.
fn room_with(config: SchedulerConfig, participants: &[(&str, &str, u32)]) -> Scheduler {
    let scheduler = Scheduler::with_seed(config, SEED);
    for (id, model, max) in participants {
        scheduler.upsert(id, model, *max);
        scheduler.set_available(id, true);
    }
    scheduler
}

fn room(participants: &[(&str, &str, u32)]) -> Scheduler {
    room_with(SchedulerConfig::default(), participants)
}

fn request(model: &str, client: &str) -> LeaseRequest {
    LeaseRequest::new(proto::ModelSelector::parse(model), ClientKey::named(client))
}

/// The answer `acquire` gives without waiting; panics if it would wait.
fn answer_now(scheduler: &Scheduler, request: LeaseRequest) -> Result<Lease, ScheduleError> {
    scheduler
        .acquire(request)
        .now_or_never()
        .expect("answered without waiting")
}

fn lease_now(scheduler: &Scheduler, request: LeaseRequest) -> Lease {
    answer_now(scheduler, request).expect("a free slot")
}

/// Starts an `acquire` and checks that it is waiting in the queue.
async fn queued(scheduler: &Scheduler, request: LeaseRequest) -> Acquire {
    let before = scheduler.queue_len();
    let mut acquire: Acquire = Box::pin(scheduler.acquire(request));
    assert!(futures::poll!(&mut acquire).is_pending(), "should wait");
    assert_eq!(scheduler.queue_len(), before + 1);
    acquire
}

/// The answer a waiting `acquire` has received, if any, without waiting for one.
fn poll_answer(acquire: &mut Acquire) -> Option<Result<Lease, ScheduleError>> {
    acquire.now_or_never()
}

fn active(scheduler: &Scheduler, id: &str) -> u32 {
    scheduler.participant(id).expect("registered").active
}

fn total_active(scheduler: &Scheduler) -> u32 {
    scheduler
        .snapshot()
        .participants
        .iter()
        .map(|p| p.active)
        .sum()
}

fn assert_idle(scheduler: &Scheduler) {
    let snapshot = scheduler.snapshot();
    assert_eq!(snapshot.queued, 0, "{snapshot:?}");
    assert!(
        snapshot.participants.iter().all(|p| p.active == 0),
        "{snapshot:?}"
    );
}

fn no_match(wanted: Wanted, excluded: bool) -> ScheduleError {
    ScheduleError::NoMatch { wanted, excluded }
}

// --- Slots ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn ten_acquirers_on_two_by_two_slots_are_all_served_within_the_slots() {
    let scheduler = room(&[("a", "m", 2), ("b", "m", 2)]);
    let in_use: Arc<HashMap<&str, AtomicU32>> =
        Arc::new([("a", AtomicU32::new(0)), ("b", AtomicU32::new(0))].into());
    let most = Arc::new(AtomicU32::new(0));
    let mut tasks = JoinSet::new();
    for i in 0..10_u64 {
        let scheduler = scheduler.clone();
        let in_use = Arc::clone(&in_use);
        let most = Arc::clone(&most);
        tasks.spawn(async move {
            let mut lease = scheduler
                .acquire(request("*", &format!("client-{}", i % 3)))
                .await
                .expect("served eventually");
            let counter = &in_use[lease.participant_id()];
            let now_in_use = counter.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now_in_use, Ordering::SeqCst);
            assert!(now_in_use <= 2, "{now_in_use} requests on one participant");
            assert!(active(&scheduler, lease.participant_id()) <= 2);
            tokio::time::sleep(secs(1 + i % 4)).await;
            counter.fetch_sub(1, Ordering::SeqCst);
            lease.succeed();
            lease.participant_id().to_owned()
        });
    }
    let mut served = Vec::new();
    while let Some(result) = tasks.join_next().await {
        served.push(result.expect("task finished"));
    }
    assert_eq!(served.len(), 10);
    assert_eq!(most.load(Ordering::SeqCst), 2);
    assert!(served.iter().any(|id| id == "a") && served.iter().any(|id| id == "b"));
    assert_idle(&scheduler);
}

#[tokio::test(start_paused = true)]
async fn a_lower_max_concurrency_lets_running_requests_finish_and_waits_below_it() {
    let scheduler = room(&[("a", "m", 2)]);
    let first = lease_now(&scheduler, request("a", "c"));
    let second = lease_now(&scheduler, request("a", "c"));

    scheduler.upsert("a", "m", 1);
    assert_eq!(active(&scheduler, "a"), 2);
    let mut waiter = queued(&scheduler, request("a", "c")).await;
    drop(first);
    assert!(
        poll_answer(&mut waiter).is_none(),
        "1 active of 1: still full"
    );
    drop(second);
    let lease = poll_answer(&mut waiter).expect("answered").expect("lease");
    assert_eq!(active(&scheduler, "a"), 1);

    // Raising it again serves a waiter at once.
    let mut waiter = queued(&scheduler, request("a", "c")).await;
    scheduler.upsert("a", "m", 3);
    let other = poll_answer(&mut waiter).expect("answered").expect("lease");
    assert_eq!(active(&scheduler, "a"), 2);
    drop((lease, other));
    assert_idle(&scheduler);
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_is_clamped_to_at_least_one() {
    let scheduler = room(&[("a", "m", 0)]);
    assert_eq!(
        scheduler.participant("a").map(|p| p.max_concurrency),
        Some(1)
    );
    let lease = lease_now(&scheduler, request("*", "c"));
    let _waiter = queued(&scheduler, request("*", "c")).await;
    drop(lease);
}

#[tokio::test(start_paused = true)]
async fn a_new_participant_is_unavailable_until_told_otherwise() {
    let scheduler = Scheduler::with_seed(SchedulerConfig::default(), SEED);
    scheduler.upsert("a", "m", 1);
    assert_eq!(
        scheduler.snapshot(),
        SchedulerSnapshot {
            participants: vec![ParticipantLoad {
                id: "a".into(),
                model: "m".into(),
                active: 0,
                max_concurrency: 1,
                available: false,
                presence: Presence::Offline,
                cooling_down: false,
            }],
            queued: 0,
        }
    );
    // Registered but never connected: nobody could serve it, so it fails at once.
    assert_eq!(
        answer_now(&scheduler, request("model:m", "c"))
            .map(|lease| lease.participant_id().to_owned()),
        Err(ScheduleError::Offline {
            wanted: Wanted::Model("m".into())
        })
    );
    // Reconnecting: the request waits for it.
    scheduler.set_presence("a", Presence::Reconnecting);
    let mut waiter = queued(&scheduler, request("model:m", "c")).await;
    tokio::time::advance(secs(2)).await;
    scheduler.set_available("a", true);
    let lease = poll_answer(&mut waiter).expect("answered").expect("lease");
    assert_eq!(lease.participant_id(), "a");
    assert_eq!(lease.model(), "m");
    assert_eq!(lease.queued(), secs(2));
}

#[tokio::test(start_paused = true)]
async fn an_unavailable_participant_gets_no_lease_and_its_leases_still_release() {
    let scheduler = room(&[("a", "m", 2), ("b", "m", 1)]);
    let one = lease_now(&scheduler, request("a", "c"));
    let two = lease_now(&scheduler, request("a", "c"));
    scheduler.set_presence("a", Presence::Reconnecting);
    assert_eq!(active(&scheduler, "a"), 2);

    let on_b = lease_now(&scheduler, request("*", "c"));
    assert_eq!(on_b.participant_id(), "b");
    let mut for_a = queued(&scheduler, request("a", "c")).await;
    drop((one, two));
    assert_eq!(active(&scheduler, "a"), 0);
    assert!(poll_answer(&mut for_a).is_none(), "a is still unavailable");

    scheduler.set_available("a", true);
    let lease = poll_answer(&mut for_a).expect("answered").expect("lease");
    assert_eq!(lease.participant_id(), "a");
    drop((lease, on_b));
    assert_idle(&scheduler);
}

#[tokio::test(start_paused = true)]
async fn requests_only_offline_participants_could_serve_fail_at_once() {
    let scheduler = room(&[("a", "m", 1), ("b", "m", 1), ("c", "other", 1)]);
    scheduler.set_available("a", false);
    scheduler.set_available("b", false);
    let offline = |wanted: Wanted| Err(ScheduleError::Offline { wanted });
    let check = |model: &str, expected: Result<&str, ScheduleError>| {
        let answer = answer_now(&scheduler, request(model, "c"));
        assert_eq!(
            answer
                .as_ref()
                .map(Lease::participant_id)
                .map_err(Clone::clone),
            expected,
            "{model}"
        );
    };
    check("m", offline(Wanted::Model("m".into())));
    check("model:m", offline(Wanted::Model("m".into())));
    check("a", offline(Wanted::Participant("a".into())));
    check("*", Ok("c"));
    assert_eq!(
        scheduler.queue_len(),
        0,
        "nothing waits for offline participants"
    );
    // Models nobody registered are still "not found", not "offline".
    check(
        "nope",
        Err(no_match(Wanted::ParticipantOrModel("nope".into()), false)),
    );
}

#[tokio::test(start_paused = true)]
async fn waiters_fail_when_the_participant_they_wait_for_goes_offline() {
    let scheduler = room(&[("a", "m", 1), ("b", "m", 1)]);
    let held_a = lease_now(&scheduler, request("a", "c"));
    let held_b = lease_now(&scheduler, request("b", "c"));
    let mut for_a = queued(&scheduler, request("a", "c")).await;
    let mut for_m = queued(&scheduler, request("m", "c")).await;

    // "a" drops: requests wait while it is expected back.
    scheduler.set_presence("a", Presence::Reconnecting);
    assert!(poll_answer(&mut for_a).is_none());
    assert!(poll_answer(&mut for_m).is_none());
    // It does not come back: what only "a" could serve fails; "b" still serves "m".
    scheduler.set_presence("a", Presence::Offline);
    assert_eq!(
        poll_answer(&mut for_a).expect("answered").map(|_| ()),
        Err(ScheduleError::Offline {
            wanted: Wanted::Participant("a".into())
        })
    );
    assert!(poll_answer(&mut for_m).is_none(), "b may still serve it");
    drop(held_b);
    let lease = poll_answer(&mut for_m).expect("answered").expect("lease");
    assert_eq!(lease.participant_id(), "b");
    // "b" goes offline too while nothing waits: the next request fails at once.
    drop((lease, held_a));
    scheduler.set_available("b", false);
    assert_eq!(
        answer_now(&scheduler, request("m", "c")).map(|_| ()),
        Err(ScheduleError::Offline {
            wanted: Wanted::Model("m".into())
        })
    );
    assert_idle(&scheduler);
}

// --- Selectors -------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn selectors_choose_by_model_or_by_id() {
    // "b" serves a model named like participant "a", to show that an id wins.
    let scheduler = room(&[("a", "llama3", 1), ("b", "a", 1), ("c", "Llama3", 1)]);
    let check = |model: &str, expected: &[&str]| {
        for _ in 0..20 {
            let lease = lease_now(&scheduler, request(model, "client"));
            assert!(
                expected.contains(&lease.participant_id()),
                "{model} chose {}",
                lease.participant_id()
            );
        }
    };
    check("model:llama3", &["a"]);
    check("llama3", &["a"]);
    check("Llama3", &["c"]);
    check("a", &["a"]);
    check("model:a", &["b"]);
    check("b", &["b"]);
    check("*", &["a", "b", "c"]);
    check("any", &["a", "b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn a_selector_nobody_could_serve_fails_at_once() {
    let check = |participants: &[(&str, &str, u32)], model: &str, expected: ScheduleError| {
        let scheduler = room(participants);
        let answer = answer_now(&scheduler, request(model, "c"));
        assert_eq!(answer.err(), Some(expected), "{model} in {participants:?}");
        assert_eq!(scheduler.queue_len(), 0);
    };
    let alice = [("alice", "llama3", 1)];
    check(
        &alice,
        "model:qwen",
        no_match(Wanted::Model("qwen".into()), false),
    );
    check(
        &alice,
        "model:Llama3",
        no_match(Wanted::Model("Llama3".into()), false),
    );
    check(
        &alice,
        "model:alice",
        no_match(Wanted::Model("alice".into()), false),
    );
    check(
        &alice,
        "bob",
        no_match(Wanted::ParticipantOrModel("bob".into()), false),
    );
    check(&[], "*", no_match(Wanted::Any, false));
    check(
        &[],
        "llama3",
        no_match(Wanted::ParticipantOrModel("llama3".into()), false),
    );
}

#[tokio::test(start_paused = true)]
async fn an_id_selector_waits_for_that_participant_only() {
    let scheduler = room(&[("a", "m", 1), ("b", "m", 1)]);
    let held = lease_now(&scheduler, request("a", "x"));
    let mut for_a = queued(&scheduler, request("a", "y")).await;

    // b is free and serves the same model, but the request named a.
    let on_b = lease_now(&scheduler, request("m", "z"));
    assert_eq!(on_b.participant_id(), "b");
    assert!(poll_answer(&mut for_a).is_none());

    drop(on_b);
    assert!(poll_answer(&mut for_a).is_none(), "b's slot is not for it");
    drop(held);
    let lease = poll_answer(&mut for_a).expect("answered").expect("lease");
    assert_eq!(lease.participant_id(), "a");
}

// --- Choosing among participants -------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_least_loaded_participant_is_chosen() {
    // (id, max_concurrency, busy slots) for each participant, then who must be chosen.
    let check = |participants: &[(&str, u32, u32)], expected: &str| {
        let scheduler = Scheduler::with_seed(SchedulerConfig::default(), SEED);
        let mut held = Vec::new();
        for (id, max, busy) in participants {
            scheduler.upsert(id, "m", *max);
            scheduler.set_available(id, true);
            for _ in 0..*busy {
                held.push(lease_now(&scheduler, request(id, "setup")));
            }
        }
        for _ in 0..20 {
            let lease = lease_now(&scheduler, request("*", "c"));
            assert_eq!(lease.participant_id(), expected, "{participants:?}");
        }
    };
    check(&[("a", 2, 1), ("b", 2, 0)], "b");
    check(&[("a", 4, 1), ("b", 2, 1)], "a");
    check(&[("a", 1, 0), ("b", 4, 3)], "a");
    check(&[("a", 3, 2), ("b", 2, 1)], "b");
    check(&[("a", 8, 1), ("b", 1, 0), ("c", 4, 1)], "b");
    check(&[("a", 2, 2), ("b", 4, 3)], "b");
}

#[tokio::test(start_paused = true)]
async fn ties_are_broken_at_random_and_reproducibly_with_a_seed() {
    let choices = |seed: u64| {
        let scheduler = Scheduler::with_seed(SchedulerConfig::default(), seed);
        for id in ["a", "b"] {
            scheduler.upsert(id, "m", 2);
            scheduler.set_available(id, true);
        }
        (0..200)
            .map(|_| lease_now(&scheduler, request("*", "c")).participant_id() == "a")
            .collect::<Vec<bool>>()
    };
    let first = choices(1);
    let a = first.iter().filter(|chosen_a| **chosen_a).count();
    assert!((50..=150).contains(&a), "a chosen {a} times of 200");
    assert_eq!(first, choices(1));
    assert_ne!(first, choices(2));
}

#[tokio::test(start_paused = true)]
async fn a_participant_that_keeps_failing_fast_cools_down() {
    let config = SchedulerConfig {
        fail_fast_threshold: 2,
        cool_down: secs(10),
        ..SchedulerConfig::default()
    };
    let scheduler = room_with(config, &[("a", "m", 2), ("b", "m", 2)]);
    let fail_on_a = || lease_now(&scheduler, request("a", "c")).fail_fast();
    let cooling = |id| scheduler.participant(id).expect("registered").cooling_down;

    fail_on_a();
    assert!(!cooling("a"), "one fast failure is not enough");
    lease_now(&scheduler, request("a", "c")).succeed();
    fail_on_a();
    assert!(!cooling("a"), "a success reset the count");
    fail_on_a();
    assert!(cooling("a"));

    // Idle but cooling: a is used only once b has no free slot.
    let b1 = lease_now(&scheduler, request("*", "c"));
    let b2 = lease_now(&scheduler, request("*", "c"));
    assert_eq!((b1.participant_id(), b2.participant_id()), ("b", "b"));
    let on_a = lease_now(&scheduler, request("*", "c"));
    assert_eq!(on_a.participant_id(), "a");
    drop((b1, b2, on_a));

    tokio::time::advance(secs(10)).await;
    assert!(!cooling("a"));
    let chosen: Vec<String> = (0..40)
        .map(|_| {
            lease_now(&scheduler, request("*", "c"))
                .participant_id()
                .to_owned()
        })
        .collect();
    assert!(chosen.iter().any(|id| id == "a"), "a is back in rotation");

    // Still no success since: one more fast failure cools it down again; a success ends it.
    fail_on_a();
    assert!(cooling("a"));
    lease_now(&scheduler, request("a", "c")).succeed();
    assert!(!cooling("a"));
    assert_idle(&scheduler);
}

#[tokio::test(start_paused = true)]
async fn unreported_outcomes_change_nothing_and_a_zero_threshold_disables_cool_downs() {
    let config = SchedulerConfig {
        fail_fast_threshold: 0,
        ..SchedulerConfig::default()
    };
    let scheduler = room_with(config, &[("a", "m", 1)]);
    for _ in 0..5 {
        let mut lease = lease_now(&scheduler, request("a", "c"));
        assert_eq!(lease.outcome(), Outcome::Unreported);
        lease.set_outcome(Outcome::FailedFast);
    }
    assert!(!scheduler.participant("a").expect("registered").cooling_down);

    let scheduler = room(&[("a", "m", 1)]);
    for _ in 0..5 {
        drop(lease_now(&scheduler, request("a", "c")));
    }
    assert!(!scheduler.participant("a").expect("registered").cooling_down);
}

// --- Failover ---------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn failover_excludes_participants_that_already_failed() {
    let scheduler = room(&[("a", "m", 1), ("b", "m", 1)]);
    let mut first = lease_now(&scheduler, request("model:m", "c"));
    let failed = first.participant_id().to_owned();
    first.fail_fast();
    drop(first);

    let retry = lease_now(
        &scheduler,
        request("model:m", "c").excluding([failed.clone()]),
    );
    assert_ne!(retry.participant_id(), failed);
    let other = retry.participant_id().to_owned();
    drop(retry);

    let answer = answer_now(
        &scheduler,
        request("model:m", "c").excluding([&failed, &other]),
    );
    assert_eq!(
        answer.err(),
        Some(no_match(Wanted::Model("m".into()), true))
    );
    let answer = answer_now(&scheduler, request("a", "c").excluding(["a"]));
    assert_eq!(
        answer.err(),
        Some(no_match(Wanted::Participant("a".into()), true))
    );
    let answer = answer_now(&scheduler, request("*", "c").excluding(["a", "b"]));
    assert_eq!(answer.err(), Some(no_match(Wanted::Any, true)));
    assert_idle(&scheduler);
}

#[tokio::test(start_paused = true)]
async fn a_failover_retry_waits_for_the_remaining_participant_not_the_excluded_one() {
    let scheduler = room(&[("a", "m", 1), ("b", "m", 1)]);
    let on_b = lease_now(&scheduler, request("b", "other"));
    let mut retry = queued(&scheduler, request("m", "c").excluding(["a"])).await;
    assert_eq!(active(&scheduler, "a"), 0, "a is free but excluded");
    drop(on_b);
    let lease = poll_answer(&mut retry).expect("answered").expect("lease");
    assert_eq!(lease.participant_id(), "b");
}

// --- The wait queue ---------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_at_once_with_a_retry_hint() {
    let config = SchedulerConfig {
        queue_size: 2,
        ..SchedulerConfig::default()
    };
    let scheduler = room_with(config, &[("a", "m", 1)]);
    let held = lease_now(&scheduler, request("*", "c"));
    let mut first = queued(&scheduler, request("*", "c")).await;
    let _second = queued(&scheduler, request("*", "c")).await;

    // Nothing has finished yet: 10 s per request is assumed, 2 ahead of it on 1 slot.
    let answer = answer_now(&scheduler, request("*", "other"));
    assert_eq!(
        answer.err(),
        Some(ScheduleError::QueueFull {
            retry_after: secs(20)
        })
    );

    // Requests that held their slot for 3 s: 2 ahead on 1 slot take about 6 s.
    tokio::time::advance(secs(3)).await;
    drop(held);
    let mut lease = poll_answer(&mut first).expect("answered").expect("lease");
    let _third = queued(&scheduler, request("*", "c")).await;
    let answer = answer_now(&scheduler, request("*", "other"));
    assert_eq!(
        answer.err(),
        Some(ScheduleError::QueueFull {
            retry_after: secs(6)
        })
    );
    lease.succeed();
}

#[tokio::test(start_paused = true)]
async fn a_zero_queue_size_refuses_instead_of_waiting() {
    let config = SchedulerConfig {
        queue_size: 0,
        ..SchedulerConfig::default()
    };
    let scheduler = room_with(config, &[("a", "m", 1)]);
    let _held = lease_now(&scheduler, request("*", "c"));
    let answer = answer_now(&scheduler, request("*", "c"));
    assert!(matches!(answer, Err(ScheduleError::QueueFull { .. })));
}

#[tokio::test(start_paused = true)]
async fn a_wait_times_out_after_exactly_the_queue_timeout() {
    let config = SchedulerConfig {
        queue_timeout: secs(5),
        ..SchedulerConfig::default()
    };
    let scheduler = room_with(config, &[("a", "m", 1)]);
    let held = lease_now(&scheduler, request("*", "c"));
    let start = Instant::now();
    let answer = scheduler.acquire(request("*", "c")).await;
    assert_eq!(
        answer.err(),
        Some(ScheduleError::QueueTimeout { waited: secs(5) })
    );
    assert_eq!(start.elapsed(), secs(5));
    assert_eq!(scheduler.queue_len(), 0);
    drop(held);
    assert_idle(&scheduler);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_served_just_before_its_timeout_keeps_the_lease() {
    let config = SchedulerConfig {
        queue_timeout: secs(5),
        ..SchedulerConfig::default()
    };
    let scheduler = room_with(config, &[("a", "m", 1)]);
    let held = lease_now(&scheduler, request("*", "c"));
    let waiter = queued(&scheduler, request("*", "c")).await;
    tokio::time::advance(Duration::from_millis(4999)).await;
    drop(held);
    tokio::time::advance(secs(1)).await;
    let lease = waiter.await.expect("served before the deadline");
    assert_eq!(lease.queued(), Duration::from_millis(4999));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_leaves_the_queue_at_once() {
    let scheduler = room(&[("a", "m", 1)]);
    let held = lease_now(&scheduler, request("*", "c"));
    let mut first = queued(&scheduler, request("*", "x")).await;
    let middle = queued(&scheduler, request("*", "y")).await;
    let mut last = queued(&scheduler, request("*", "z")).await;

    drop(middle);
    assert_eq!(scheduler.queue_len(), 2);
    drop(held);
    let lease = poll_answer(&mut first).expect("answered").expect("lease");
    assert!(poll_answer(&mut last).is_none());
    drop(lease);
    let lease = poll_answer(&mut last).expect("answered").expect("lease");
    drop(lease);
    assert_idle(&scheduler);

    // Cancelled by a timeout around it, and by aborting its task.
    let held = lease_now(&scheduler, request("*", "c"));
    let outer = tokio::time::timeout(secs(1), scheduler.acquire(request("*", "c"))).await;
    assert!(outer.is_err());
    assert_eq!(scheduler.queue_len(), 0);
    let task = tokio::spawn(scheduler.acquire(request("*", "c")));
    while scheduler.queue_len() == 0 {
        tokio::task::yield_now().await;
    }
    task.abort();
    assert!(task.await.expect_err("aborted").is_cancelled());
    assert_eq!(scheduler.queue_len(), 0);
    drop(held);
    assert_idle(&scheduler);
}

#[tokio::test(start_paused = true)]
async fn a_lease_handed_to_a_waiter_that_went_away_goes_to_the_next() {
    let scheduler = room(&[("a", "m", 1)]);
    let held = lease_now(&scheduler, request("*", "c"));
    let gone = queued(&scheduler, request("*", "x")).await;
    let mut next = queued(&scheduler, request("*", "y")).await;

    // The slot is handed to the first waiter, which is dropped before it looks.
    drop(held);
    assert_eq!(scheduler.queue_len(), 1);
    assert_eq!(active(&scheduler, "a"), 1);
    drop(gone);
    let lease = poll_answer(&mut next).expect("answered").expect("lease");
    assert_eq!(active(&scheduler, "a"), 1);
    drop(lease);
    assert_idle(&scheduler);
}

#[tokio::test(start_paused = true)]
async fn removing_the_only_candidates_fails_their_waiters_at_once() {
    let scheduler = room(&[("a", "m", 1), ("b", "m", 1), ("c", "other", 1)]);
    let on_a = lease_now(&scheduler, request("a", "h"));
    let on_b = lease_now(&scheduler, request("b", "h"));
    let on_c = lease_now(&scheduler, request("c", "h"));
    let mut for_a = queued(&scheduler, request("a", "w")).await;
    let mut for_m = queued(&scheduler, request("model:m", "w")).await;
    let mut for_any = queued(&scheduler, request("*", "w")).await;

    scheduler.remove("a");
    let answer = poll_answer(&mut for_a).expect("answered at once");
    assert_eq!(
        answer.err(),
        Some(no_match(Wanted::ParticipantOrModel("a".into()), false))
    );
    assert!(poll_answer(&mut for_m).is_none(), "b still serves m");
    assert!(poll_answer(&mut for_any).is_none());

    // A model change counts as well.
    scheduler.upsert("b", "m2", 1);
    let answer = poll_answer(&mut for_m).expect("answered at once");
    assert_eq!(
        answer.err(),
        Some(no_match(Wanted::Model("m".into()), false))
    );
    assert!(poll_answer(&mut for_any).is_none());

    drop(on_a);
    assert_eq!(scheduler.queue_len(), 1);
    drop(on_c);
    let lease = poll_answer(&mut for_any).expect("answered").expect("lease");
    assert_eq!(lease.participant_id(), "c");
    drop((lease, on_b));
    assert_idle(&scheduler);
}

#[tokio::test(start_paused = true)]
async fn closing_fails_waiters_and_later_requests() {
    let scheduler = room(&[("a", "m", 1)]);
    let held = lease_now(&scheduler, request("*", "c"));
    let mut waiter = queued(&scheduler, request("*", "c")).await;
    scheduler.close();
    assert_eq!(
        poll_answer(&mut waiter).expect("answered").err(),
        Some(ScheduleError::Closed)
    );
    assert_eq!(
        answer_now(&scheduler, request("*", "c")).err(),
        Some(ScheduleError::Closed)
    );
    drop(held);
    assert_idle(&scheduler);
}

// --- Fairness ---------------------------------------------------------------------------

/// Releases the one slot `rounds` times and returns the labels of the waiters served,
/// checking that exactly one waiter is answered each time.
fn serve_one_by_one(
    first: Lease,
    mut waiters: Vec<(String, Acquire)>,
    rounds: usize,
) -> Vec<String> {
    let mut served = Vec::new();
    let mut current = first;
    for _ in 0..rounds {
        drop(current);
        let mut ready = Vec::new();
        for (index, (_, acquire)) in waiters.iter_mut().enumerate() {
            if let Some(answer) = poll_answer(acquire) {
                ready.push((index, answer.expect("lease")));
            }
        }
        assert_eq!(ready.len(), 1, "one slot freed, one waiter served");
        let (index, lease) = ready.remove(0);
        served.push(waiters.remove(index).0);
        current = lease;
    }
    served
}

#[tokio::test(start_paused = true)]
async fn one_request_is_not_starved_by_a_hundred_from_another_client() {
    let scheduler = room(&[("a", "m", 1)]);
    let first = lease_now(&scheduler, request("*", "script"));
    let mut waiters = Vec::new();
    for i in 0..100 {
        let acquire = queued(&scheduler, request("*", "script")).await;
        waiters.push((format!("script-{i:03}"), acquire));
    }
    waiters.push((
        "person".to_owned(),
        queued(&scheduler, request("*", "person")).await,
    ));

    let served = serve_one_by_one(first, waiters, 101);
    let person_at = served.iter().position(|label| label == "person");
    assert!(
        matches!(person_at, Some(0 | 1)),
        "person served at {person_at:?}"
    );
    let script: Vec<&String> = served.iter().filter(|label| *label != "person").collect();
    assert!(script.is_sorted(), "FIFO within a client: {script:?}");
    assert_idle(&scheduler);
}

#[tokio::test(start_paused = true)]
async fn clients_take_turns_and_each_is_served_in_order() {
    let scheduler = room(&[("a", "m", 1)]);
    let first = lease_now(&scheduler, request("*", "holder"));
    let mut waiters = Vec::new();
    for client in ["x", "y", "z"] {
        for i in 1..=3 {
            let acquire = queued(&scheduler, request("*", client)).await;
            waiters.push((format!("{client}{i}"), acquire));
        }
    }
    let served = serve_one_by_one(first, waiters, 9);
    assert_eq!(
        served,
        ["x1", "y1", "z1", "x2", "y2", "z2", "x3", "y3", "z3"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiter_for_a_busy_model_does_not_block_waiters_for_another() {
    let scheduler = room(&[("a", "m1", 1), ("b", "m2", 1)]);
    let on_a = lease_now(&scheduler, request("model:m1", "h"));
    let on_b = lease_now(&scheduler, request("model:m2", "h"));
    let mut for_m1 = queued(&scheduler, request("model:m1", "x")).await;
    let mut for_m2 = queued(&scheduler, request("model:m2", "x")).await;
    let mut for_a = queued(&scheduler, request("a", "y")).await;
    let mut for_any = queued(&scheduler, request("*", "z")).await;

    drop(on_b);
    assert!(poll_answer(&mut for_m1).is_none());
    assert!(poll_answer(&mut for_a).is_none());
    let on_b = poll_answer(&mut for_m2).expect("answered").expect("lease");
    assert_eq!(on_b.participant_id(), "b");
    drop(on_b);
    let on_b = poll_answer(&mut for_any).expect("answered").expect("lease");
    assert_eq!(on_b.participant_id(), "b");

    // Both want a; y has not been served yet, x has.
    drop(on_a);
    let on_a = poll_answer(&mut for_a).expect("answered").expect("lease");
    assert!(poll_answer(&mut for_m1).is_none());
    drop(on_a);
    let on_a = poll_answer(&mut for_m1).expect("answered").expect("lease");
    drop((on_a, on_b));
    assert_idle(&scheduler);
}

// --- No slot leaks ----------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn no_early_end_leaks_a_slot() {
    let scheduler = room(&[("a", "m", 2), ("b", "m", 2)]);

    // A handler that returns early with an error while holding a lease.
    async fn forward(_lease: &Lease) -> Result<(), String> {
        Err("provider failed".to_owned())
    }
    async fn handler(scheduler: &Scheduler) -> Result<(), String> {
        let lease = scheduler
            .acquire(request("*", "c"))
            .await
            .map_err(|e| e.to_string())?;
        forward(&lease).await?;
        Ok(())
    }
    for _ in 0..5 {
        assert!(handler(&scheduler).await.is_err());
    }
    assert_idle(&scheduler);

    // A task that panics holding a lease, then tasks aborted while waiting or holding one.
    let mut tasks = JoinSet::new();
    tasks.spawn({
        let scheduler = scheduler.clone();
        async move {
            let _lease = scheduler.acquire(request("*", "p")).await.expect("served");
            panic!("handler panicked while holding a lease (expected by this test)");
        }
    });
    for i in 0..12_u64 {
        let scheduler = scheduler.clone();
        tasks.spawn(async move {
            let _lease = scheduler
                .acquire(request("*", &format!("c{i}")))
                .await
                .expect("served");
            tokio::time::sleep(secs(i + 1)).await;
        });
    }
    while scheduler.queue_len() < 8 {
        tokio::task::yield_now().await;
    }
    assert_eq!(total_active(&scheduler), 4);
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    assert_idle(&scheduler);

    // Leases outliving their participant's connection or registration.
    let on_a = lease_now(&scheduler, request("a", "c"));
    let on_b = lease_now(&scheduler, request("b", "c"));
    scheduler.set_available("b", false);
    scheduler.remove("a");
    drop(on_b);
    assert_eq!(active(&scheduler, "b"), 0);
    scheduler.upsert("a", "m", 2);
    scheduler.set_available("a", true);
    let new_on_a = lease_now(&scheduler, request("a", "c"));
    drop(on_a);
    assert_eq!(active(&scheduler, "a"), 1, "the old lease is not counted");
    drop(new_on_a);
    assert_idle(&scheduler);
}

#[test]
fn schedulers_leases_and_acquire_futures_can_cross_tasks() {
    fn spawnable<T: Send + 'static>(_: &T) {}
    let scheduler = Scheduler::default();
    let acquire = scheduler.acquire(request("*", "c"));
    spawnable(&acquire);
    spawnable(&scheduler);
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Lease>();
    shareable::<Scheduler>();
    shareable::<ScheduleError>();
}
