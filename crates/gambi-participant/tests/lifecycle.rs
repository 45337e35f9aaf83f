//! Timers, heartbeats, reconnection and fatal endings of a running session.

mod common;

use std::time::Duration;

use common::{HubCall, HubTunnel, MockHub, MockProvider, Seen, chat_request};
use gambi_participant::{
    BackoffPolicy, CloseReason, ParticipantSession, SessionEvent, SessionOptions, StartError,
};
use gambi_protocol as proto;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A fast backoff for tests that run on the real clock.
fn quick_backoff() -> Option<BackoffPolicy> {
    Some(BackoffPolicy {
        base: Duration::from_millis(10),
        cap: Duration::from_millis(40),
        stable_after: Duration::from_secs(60),
    })
}

struct Running {
    hub: MockHub,
    provider: MockProvider,
    session: ParticipantSession,
    events: mpsc::Receiver<SessionEvent>,
    tunnel: HubTunnel,
}

async fn running(change: impl FnOnce(&mut SessionOptions)) -> Running {
    let mut hub = MockHub::start().await;
    let provider = MockProvider::start(&["m"]).await;
    let mut options = hub.options(&provider.url(), "m");
    change(&mut options);
    let mut session = ParticipantSession::start(options).await.expect("starts");
    let events = session.take_events().expect("events");
    let tunnel = hub.next_tunnel().await;
    assert!(matches!(hub.next_call().await, HubCall::Put { .. }));
    Running {
        hub,
        provider,
        session,
        events,
        tunnel,
    }
}

/// The next event whose kind is `kind`, skipping others.
async fn event(events: &mut mpsc::Receiver<SessionEvent>, kind: &str) -> SessionEvent {
    loop {
        let event = common::within(events.recv())
            .await
            .expect("session still running");
        if event.kind() == kind {
            return event;
        }
    }
}

/// Asserts `offsets` are 10 s, 20 s, 30 s… apart from the start, within a second.
fn assert_every_ten_seconds(offsets: &[Duration]) {
    for (index, offset) in offsets.iter().enumerate() {
        let expected = proto::HEALTH_CHECK_INTERVAL * (index as u32 + 1);
        let drift = offset.abs_diff(expected);
        assert!(
            drift < Duration::from_secs(1),
            "tick {index} at {offset:?}, expected {expected:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn pings_every_ten_seconds() {
    let Running {
        mut tunnel,
        session: _session,
        ..
    } = running(|_| {}).await;
    let opened = Instant::now();
    let mut offsets = Vec::new();
    while offsets.len() < 4 {
        match tunnel.next_seen().await {
            Seen::Frame {
                frame: proto::ParticipantToHub::Ping { timestamp },
                at,
                ..
            } => {
                assert!(timestamp > 1_600_000_000_000, "a Unix time in ms");
                offsets.push(at - opened);
            }
            Seen::Frame { frame, .. } => panic!("unexpected {frame:?}"),
            Seen::Closed => panic!("tunnel closed"),
        }
    }
    assert_every_ten_seconds(&offsets);
}

#[tokio::test(start_paused = true)]
async fn heartbeats_every_ten_seconds_with_the_session_credential() {
    let Running {
        mut hub,
        session: _session,
        tunnel: _tunnel,
        ..
    } = running(|_| {}).await;
    let started = Instant::now();
    let mut offsets = Vec::new();
    while offsets.len() < 3 {
        match hub.next_call().await {
            HubCall::Heartbeat { session, at } => {
                assert_eq!(session.as_deref(), Some("sess-1"));
                offsets.push(at - started);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_every_ten_seconds(&offsets);
}

#[tokio::test(start_paused = true)]
async fn a_transient_heartbeat_failure_is_reported_and_retried() {
    let Running {
        mut hub,
        mut events,
        session: _session,
        tunnel: _tunnel,
        ..
    } = running(|_| {}).await;
    hub.set(|b| b.heartbeat_error = Some((503, "INTERNAL_ERROR", "Store unavailable.")));
    assert!(matches!(hub.next_call().await, HubCall::Heartbeat { .. }));
    hub.set(|b| b.heartbeat_error = None);
    let SessionEvent::HeartbeatFailed { message } = event(&mut events, "heartbeat_failed").await
    else {
        unreachable!("filtered by kind");
    };
    assert!(message.contains("Store unavailable."), "{message}");
    // The next heartbeat goes out on schedule; no re-registration happened.
    assert!(matches!(hub.next_call().await, HubCall::Heartbeat { .. }));
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_answered_404_registers_again() {
    let Running {
        mut hub,
        mut events,
        mut tunnel,
        mut provider,
        session: _session,
    } = running(|_| {}).await;
    hub.set(|b| b.heartbeat_error = Some((404, "PARTICIPANT_NOT_FOUND", "Participant not found.")));
    assert!(matches!(hub.next_call().await, HubCall::Heartbeat { .. }));
    hub.set(|b| b.heartbeat_error = None);
    assert!(tunnel.until_closed().await.is_empty());
    let HubCall::Put { session, .. } = hub.next_call().await else {
        panic!("expected a new registration");
    };
    assert_eq!(session.as_deref(), Some("sess-1"));
    let mut tunnel = hub.next_tunnel().await;
    assert_eq!(tunnel.token, "tok-2", "a fresh single-use token");
    assert!(matches!(
        event(&mut events, "unregistered").await,
        SessionEvent::Unregistered { .. }
    ));
    event(&mut events, "tunnel_connected").await;

    tunnel.send(&chat_request("after", false));
    provider
        .next_request()
        .await
        .respond(axum::response::IntoResponse::into_response("ok"));
    assert!(matches!(
        tunnel.next_frame().await,
        proto::ParticipantToHub::ResponseStart { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_lost_room_on_reregistration_ends_with_heartbeat_failed() {
    let Running {
        mut hub,
        session,
        tunnel: _tunnel,
        ..
    } = running(|_| {}).await;
    hub.set(|b| {
        b.heartbeat_error = Some((404, "ROOM_NOT_FOUND", "Room not found."));
        b.put_error = Some((404, "ROOM_NOT_FOUND", "Room not found."));
    });
    let outcome = session.wait().await;
    assert_eq!(outcome.reason, CloseReason::HeartbeatFailed);
    let error = outcome.error.expect("an error");
    assert!(error.contains("Room not found."), "{error}");
    assert!(matches!(
        hub.drain_calls().last(),
        Some(HubCall::Delete { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_silent_hub_counts_as_a_lost_tunnel() {
    let Running {
        mut hub,
        mut tunnel,
        session: _session,
        ..
    } = running(|_| {}).await;
    hub.set(|b| b.auto_pong = false);
    let opened = Instant::now();
    let _ = tunnel.until_closed().await;
    let silent_for = opened.elapsed();
    assert!(
        silent_for > proto::PARTICIPANT_TIMEOUT
            && silent_for <= proto::PARTICIPANT_TIMEOUT + proto::HEALTH_CHECK_INTERVAL,
        "{silent_for:?}"
    );
    hub.set(|b| b.auto_pong = true);
    let tunnel = hub.next_tunnel().await;
    assert_eq!(tunnel.token, "tok-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_with_a_fresh_registration_after_the_hub_closes_the_tunnel() {
    let Running {
        mut hub,
        mut provider,
        mut events,
        tunnel,
        session: _session,
    } = running(|options| options.reconnect = quick_backoff()).await;
    // The first attempt meets a hub that is still starting.
    hub.set(|b| b.put_error = Some((503, "INTERNAL_ERROR", "Starting up.")));
    tunnel.close();

    let HubCall::Put { session, .. } = hub.next_call().await else {
        panic!("expected a re-registration");
    };
    assert_eq!(session.as_deref(), Some("sess-1"));
    hub.set(|b| b.put_error = None);
    assert!(matches!(hub.next_call().await, HubCall::Put { .. }));
    let mut tunnel = hub.next_tunnel().await;
    assert_eq!(tunnel.token, "tok-2");

    let mut kinds = Vec::new();
    let mut attempts = Vec::new();
    loop {
        let event = common::within(events.recv()).await.expect("running");
        if let SessionEvent::Reconnecting {
            attempt, reason, ..
        } = &event
        {
            attempts.push((*attempt, reason.clone()));
        }
        kinds.push(event.kind());
        if kinds.len() > 2 && event == SessionEvent::TunnelConnected {
            break;
        }
    }
    assert_eq!(
        kinds,
        [
            "registered",
            "tunnel_connected",
            "tunnel_lost",
            "reconnecting",
            "reconnecting",
            "registered",
            "tunnel_connected"
        ]
    );
    assert_eq!(attempts[0].0, 1);
    assert!(
        attempts[0].1.contains("hub closed the tunnel (4004"),
        "{attempts:?}"
    );
    assert_eq!(attempts[1].0, 2);
    assert!(attempts[1].1.contains("Starting up."), "{attempts:?}");

    // Requests flow over the new tunnel.
    tunnel.send(&chat_request("again", false));
    provider
        .next_request()
        .await
        .respond(axum::response::IntoResponse::into_response("ok"));
    assert!(matches!(
        tunnel.next_frame().await,
        proto::ParticipantToHub::ResponseStart { status: 200, .. }
    ));
}

/// A hub that closes the tunnel because it is restarting (1012) is reconnected to from the
/// shortest delay, however many retries came before.
#[tokio::test]
async fn a_restarting_hub_is_reconnected_to_without_backing_off() {
    let Running {
        mut hub,
        mut events,
        tunnel,
        session: _session,
        ..
    } = running(|options| options.reconnect = quick_backoff()).await;
    // A lost tunnel and a failed attempt first, so the backoff has grown.
    hub.set(|b| b.put_error = Some((503, "INTERNAL_ERROR", "Starting up.")));
    tunnel.close();
    assert!(matches!(hub.next_call().await, HubCall::Put { .. }));
    hub.set(|b| b.put_error = None);
    assert!(matches!(hub.next_call().await, HubCall::Put { .. }));
    let tunnel = hub.next_tunnel().await;
    let mut attempts = Vec::new();
    loop {
        match common::within(events.recv()).await.expect("running") {
            SessionEvent::Reconnecting { attempt, .. } => attempts.push(attempt),
            SessionEvent::TunnelConnected if attempts.len() == 2 => break,
            _ => {}
        }
    }
    assert_eq!(attempts, [1, 2]);

    tunnel.close_with(1012, "Hub restarting; reconnect soon.");
    loop {
        if let SessionEvent::Reconnecting {
            attempt, reason, ..
        } = common::within(events.recv()).await.expect("running")
        {
            assert_eq!(attempt, 1, "the backoff starts over");
            assert!(reason.contains("1012"), "{reason}");
            break;
        }
    }
    assert!(matches!(hub.next_call().await, HubCall::Put { .. }));
    let _tunnel = hub.next_tunnel().await;
}

#[tokio::test]
async fn a_lost_room_on_reconnection_ends_with_tunnel_closed() {
    let Running {
        mut hub,
        session,
        tunnel,
        ..
    } = running(|options| options.reconnect = quick_backoff()).await;
    hub.set(|b| b.put_error = Some((404, "ROOM_NOT_FOUND", "Room not found.")));
    tunnel.close();
    let outcome = session.wait().await;
    assert_eq!(outcome.reason, CloseReason::TunnelClosed);
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.contains("Room not found.")),
        "{outcome:?}"
    );
    assert!(matches!(
        hub.drain_calls().last(),
        Some(HubCall::Delete { .. })
    ));
}

#[tokio::test]
async fn a_model_gone_from_the_provider_is_fatal() {
    let Running {
        provider,
        session,
        tunnel,
        ..
    } = running(|options| options.reconnect = quick_backoff()).await;
    *provider.models.lock().expect("lock") = vec!["other".into()];
    tunnel.close();
    let outcome = session.wait().await;
    assert_eq!(outcome.reason, CloseReason::TunnelClosed);
    let error = outcome.error.expect("an error");
    assert!(
        error.contains("Model 'm' not found") && error.contains("other"),
        "{error}"
    );
}

#[tokio::test]
async fn without_reconnection_a_lost_tunnel_ends_the_session() {
    let Running {
        mut hub,
        session,
        tunnel,
        ..
    } = running(|options| options.reconnect = None).await;
    tunnel.close();
    let outcome = session.wait().await;
    assert_eq!(outcome.reason, CloseReason::TunnelClosed);
    assert!(
        outcome
            .error
            .as_deref()
            .is_some_and(|e| e.contains("Participant removed from the room.")),
        "{outcome:?}"
    );
    let calls = hub.drain_calls();
    assert!(
        !calls.iter().any(|call| matches!(call, HubCall::Put { .. })),
        "no re-registration: {calls:?}"
    );
    assert!(matches!(calls.last(), Some(HubCall::Delete { .. })));
}

#[tokio::test]
async fn a_refused_tunnel_fails_the_start_and_leaves() {
    let mut hub = MockHub::start().await;
    let provider = MockProvider::start(&["m"]).await;
    hub.set(|b| b.reject_tunnels = true);
    let error = ParticipantSession::start(hub.options(&provider.url(), "m"))
        .await
        .expect_err("tunnel refused");
    let StartError::Tunnel(message) = &error else {
        panic!("expected a tunnel error, got {error:?}");
    };
    assert!(message.contains("401"), "{message}");
    assert!(
        !message.contains("tok-1"),
        "the token stays secret: {message}"
    );
    let calls = hub.drain_calls();
    assert!(matches!(calls.first(), Some(HubCall::Put { .. })));
    assert!(matches!(
        calls.last(),
        Some(HubCall::Delete { session }) if session.as_deref() == Some("sess-1")
    ));
}
