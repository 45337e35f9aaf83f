//! A room's monitor fed events and participant lists.

use gambi_protocol as proto;
use proto::event::{LaggedEvent, ParticipantRef, stage};
use proto::{ParticipantStatus, RoomEventPayload};

use super::fixtures::{HUB, T0, complete, event, failure, request, summary};
use super::*;

fn row(monitor: &RoomMonitor, index: usize) -> &RequestRow {
    match &monitor.log[index].entry {
        Entry::Request(row) => row,
        other => panic!("entry {index} is {other:?}"),
    }
}

#[test]
fn a_participant_joins_goes_busy_completes_and_goes_offline() {
    let mut room = RoomMonitor::new(HUB, "room01");
    assert_eq!(room.code, "ROOM01");
    room.apply(&event(
        T0,
        RoomEventPayload::ParticipantJoined(summary("alice", 1)),
    ));
    let card = room.card("alice").expect("a card");
    assert_eq!(
        (card.status(), card.in_use()),
        (ParticipantStatus::Online, 0)
    );

    room.apply(&event(T0 + 10, request("r1", "alice")));
    let card = room.card("alice").expect("a card");
    assert_eq!((card.status(), card.in_use()), (ParticipantStatus::Busy, 1));
    assert_eq!(row(&room, 1).outcome, Outcome::Running);

    room.apply(&event(T0 + 500, complete("r1", "alice", 120, 40, 25.4)));
    let card = room.card("alice").expect("a card");
    assert_eq!(
        (card.status(), card.in_use()),
        (ParticipantStatus::Online, 0)
    );
    assert_eq!(card.last_speed(), Some(25));
    assert_eq!(room.log.len(), 2, "the request row is updated in place");
    assert_eq!(row(&room, 1).model, "llama3:latest");
    assert!(matches!(row(&room, 1).outcome, Outcome::Done(_)));
    assert_eq!(
        (
            room.totals.requests,
            room.totals.completed,
            room.totals.tokens
        ),
        (1, 1, 40)
    );
    assert_eq!(room.totals.p50_ttft(), Some(120));

    room.apply(&event(
        T0 + 40_000,
        RoomEventPayload::ParticipantOffline(ParticipantRef {
            participant_id: "alice".into(),
        }),
    ));
    let card = room.card("alice").expect("still listed");
    assert_eq!(card.status(), ParticipantStatus::Offline);
    let mut back = summary("alice", 1);
    back.last_seen = T0 + 41_000;
    room.apply(&event(
        T0 + 41_000,
        RoomEventPayload::ParticipantUpdated(back),
    ));
    assert_eq!(
        room.card("alice").map(Card::status),
        Some(ParticipantStatus::Online)
    );
    let presences: Vec<Presence> = room
        .log
        .iter()
        .filter_map(|entry| match entry.entry {
            Entry::Participant { what, .. } => Some(what),
            _ => None,
        })
        .collect();
    assert_eq!(
        presences,
        [Presence::Joined, Presence::Offline, Presence::Back]
    );

    room.apply(&event(
        T0 + 50_000,
        RoomEventPayload::ParticipantLeft(ParticipantRef {
            participant_id: "alice".into(),
        }),
    ));
    assert!(room.cards.is_empty());
}

#[test]
fn slots_count_from_events_and_the_hubs_lists() {
    let mut room = RoomMonitor::new(HUB, "ROOM01");
    let mut busy = summary("bob", 3);
    busy.active_requests = 2;
    room.snapshot(vec![busy]);
    assert_eq!(
        room.card("bob").map(Card::in_use),
        Some(2),
        "began before us"
    );
    room.apply(&event(T0, request("r1", "bob")));
    let card = room.card("bob").expect("a card");
    assert_eq!((card.in_use(), card.status()), (3, ParticipantStatus::Busy));
    // One of the two we never saw start ends, then ours.
    room.apply(&event(T0, complete("old", "bob", 10, 2, 1.0)));
    room.apply(&event(T0, failure("r1", Some("bob"), stage::STREAM)));
    assert_eq!(room.card("bob").map(Card::in_use), Some(1));
    assert_eq!(room.totals.errors, 1);

    // After missed events the hub's count wins over requests whose end was missed.
    room.apply(&event(T0, request("r2", "bob")));
    room.apply(&event(T0, request("r3", "bob")));
    room.apply(&event(
        T0,
        RoomEventPayload::Lagged(LaggedEvent { skipped: 4 }),
    ));
    let mut listed = summary("bob", 3);
    listed.active_requests = 1;
    room.snapshot(vec![listed]);
    assert_eq!(room.card("bob").map(Card::in_use), Some(1));
    room.apply(&event(T0, complete("r3", "bob", 10, 2, 1.0)));
    assert_eq!(room.card("bob").map(Card::in_use), Some(0));
}

#[test]
fn unrouted_failures_and_failover_retries() {
    let mut room = RoomMonitor::new(HUB, "ROOM01");
    room.snapshot(vec![summary("a", 1), summary("b", 1)]);
    room.apply(&event(T0, failure("r0", None, stage::ROUTING)));
    assert_eq!((room.totals.requests, room.totals.errors), (1, 1));
    assert!(matches!(row(&room, 0).outcome, Outcome::Failed { .. }));

    room.apply(&event(T0 + 1, request("r1", "a")));
    room.apply(&event(T0 + 2, failure("r1", Some("a"), stage::DISPATCH)));
    let mut retry = request("r1", "b");
    if let RoomEventPayload::LlmRequest(retry) = &mut retry {
        retry.attempt = Some(2);
    }
    room.apply(&event(T0 + 3, retry));
    room.apply(&event(T0 + 9, complete("r1", "b", 5, 10, 2.0)));
    assert_eq!(room.totals.requests, 2, "a retry is the same request");
    assert_eq!((row(&room, 1).attempt, row(&room, 2).attempt), (1, 2));
    assert!(matches!(row(&room, 1).outcome, Outcome::Failed { .. }));
    assert!(matches!(row(&room, 2).outcome, Outcome::Done(_)));
    assert_eq!(room.card("a").map(Card::in_use), Some(0));
    assert_eq!(room.card("b").map(Card::in_use), Some(0));

    room.apply(&event(T0 + 10, failure("r9", None, stage::CANCELLED)));
    assert_eq!((room.totals.errors, room.totals.cancelled), (2, 1));
}

#[test]
fn the_log_and_the_samples_are_bounded() {
    let mut room = RoomMonitor::new(HUB, "ROOM01");
    room.snapshot(vec![summary("a", 1)]);
    for n in 0..LOG_CAPACITY + 20 {
        let id = format!("r{n}");
        room.apply(&event(T0, request(&id, "a")));
        room.apply(&event(T0, complete(&id, "a", n as u64, 1, n as f64)));
    }
    assert_eq!(room.log.len(), LOG_CAPACITY);
    assert_eq!(
        room.card("a").map(|card| card.speeds.len()),
        Some(SPEED_SAMPLES)
    );
    assert_eq!(room.totals.requests, (LOG_CAPACITY + 20) as u64);
    assert_eq!(room.totals.p50_ttft(), Some(159));
}

#[test]
fn a_list_orders_cards_by_join_time_and_drops_the_unlisted() {
    let mut room = RoomMonitor::new(HUB, "ROOM01");
    room.apply(&event(
        T0,
        RoomEventPayload::ParticipantJoined(summary("gone", 1)),
    ));
    let mut late = summary("late", 1);
    late.joined_at = T0 + 5;
    room.snapshot(vec![late, summary("early", 1)]);
    let ids: Vec<&str> = room
        .cards
        .iter()
        .map(|card| card.summary.id.as_str())
        .collect();
    assert_eq!(ids, ["early", "late"]);
    assert_eq!(room.name_of("early"), "early-laptop");
    assert_eq!(room.name_of("nobody"), "nobody");
}
