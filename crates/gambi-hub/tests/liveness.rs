//! Participant liveness on a paused clock: heartbeats, the `offline` announcement, and the
//! connection state that follows the tunnel.
//!
//! With paused time tokio jumps the clock forward whenever every task is idle, so these
//! tests wait for the event or reply they expect rather than asserting that something has
//! not happened yet; a jump can only make their assertions more true.

mod common;

use std::time::Duration;

use common::{Api, Ws, connect, expect_event, ms, ping, wait_for_event};
use gambi_protocol as proto;
use gambi_test_support::TestHub;
use gambi_test_support::sse::EventReader;
use serde_json::{Value, json};

async fn watch(api: &Api, code: &str) -> EventReader {
    let mut events = api
        .subscribe(&format!("/v1/rooms/{code}/events"), None)
        .await;
    expect_event(&mut events, "connected").await;
    events
}

/// Pings `ws` every 10 s, as participant runtimes do, `times` times.
async fn keep_alive(ws: &mut Ws, times: usize) {
    for _ in 0..times {
        tokio::time::sleep(proto::HEALTH_CHECK_INTERVAL).await;
        ping(ws).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_participant_without_heartbeats_is_announced_offline_once() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = watch(&api, &code).await;
    api.join(&code, "alice").await;
    let joined = expect_event(&mut events, "participant.joined").await;

    let offline = expect_event(&mut events, "participant.offline").await;
    assert_eq!(offline["data"], json!({ "participantId": "alice" }));
    assert_eq!(offline["roomCode"], code);
    let silent =
        offline["timestamp"].as_i64().expect("ms") - joined["timestamp"].as_i64().expect("ms");
    assert!(
        silent > ms(proto::PARTICIPANT_TIMEOUT),
        "announced after {silent} ms"
    );
    assert_eq!(api.participant(&code, "alice").await["status"], "offline");

    // Several sweeps later, the next event is the one the heartbeat causes: the offline
    // announcement was not repeated.
    tokio::time::sleep(proto::PARTICIPANT_TIMEOUT * 2).await;
    let reply = api.heartbeat(&code, "alice").await;
    let beat = reply.ok();
    assert_eq!(beat["status"], "offline", "no tunnel, so still offline");
    let updated = expect_event(&mut events, "participant.updated").await;
    assert_eq!(updated["data"]["id"], "alice");
    assert_eq!(updated["data"]["lastSeen"], beat["lastSeen"]);

    // Silent again, it is announced again.
    let again = expect_event(&mut events, "participant.offline").await;
    assert_eq!(again["data"]["participantId"], "alice");
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_brings_a_connected_participant_back_online() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = watch(&api, &code).await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;

    // The tunnel stays up, but the management heartbeats stop.
    keep_alive(&mut ws, 4).await;
    wait_for_event(&mut events, "participant.offline").await;
    let alice = api.participant(&code, "alice").await;
    assert_eq!(alice["connection"]["connected"], true);
    assert_eq!(
        alice["status"], "offline",
        "missed heartbeats make it unroutable"
    );

    let reply = api.heartbeat(&code, "alice").await;
    assert_eq!(reply.ok()["status"], "online");
    let updated = wait_for_event(&mut events, "participant.updated").await;
    assert_eq!(updated["data"]["status"], "online");
    assert_eq!(api.participant(&code, "alice").await["status"], "online");
    ping(&mut ws).await;
}

#[tokio::test(start_paused = true)]
async fn regular_heartbeats_and_pings_keep_a_participant_online() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;
    for _ in 0..12 {
        keep_alive(&mut ws, 1).await;
        assert_eq!(api.heartbeat(&code, "alice").await.ok()["status"], "online");
    }
    assert_eq!(api.participant(&code, "alice").await["status"], "online");
}

#[tokio::test(start_paused = true)]
async fn the_connection_follows_the_tunnel() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = watch(&api, &code).await;
    let joined = api.join(&code, "alice").await;
    assert_eq!(
        joined["participant"]["connection"],
        json!({ "kind": "tunnel", "connected": false, "lastTunnelSeenAt": null })
    );

    let mut ws = common::open_tunnel(&hub, &code, "alice", &common::token_of(&joined))
        .await
        .expect("opens");
    ping(&mut ws).await;
    let alice = api.participant(&code, "alice").await;
    assert_eq!(alice["connection"]["connected"], true);
    assert_eq!(alice["status"], "online");
    let first_seen = alice["connection"]["lastTunnelSeenAt"]
        .as_i64()
        .expect("ms");

    tokio::time::sleep(Duration::from_secs(5)).await;
    ping(&mut ws).await;
    let later = api.participant(&code, "alice").await["connection"]["lastTunnelSeenAt"]
        .as_i64()
        .expect("ms");
    assert!(later >= first_seen + 5000, "{first_seen} then {later}");

    ws.close(None).await.expect("closes");
    loop {
        let event = wait_for_event(&mut events, "participant.updated").await;
        if event["data"]["connection"]["connected"] == false {
            assert_eq!(event["data"]["connection"]["lastTunnelSeenAt"], Value::Null);
            assert_eq!(event["data"]["status"], "offline");
            break;
        }
    }
    let alice = api.participant(&code, "alice").await;
    assert_eq!(
        alice["connection"],
        json!({ "kind": "tunnel", "connected": false, "lastTunnelSeenAt": null })
    );
    assert_eq!(
        api.heartbeat(&code, "alice").await.ok()["status"],
        "offline"
    );
}
