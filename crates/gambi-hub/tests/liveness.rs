//! Participant liveness on a paused clock: heartbeats, the `offline` announcement, and the
//! connection state that follows the tunnel.
//!
//! With paused time tokio jumps the clock forward whenever every task is idle, so these
//! tests wait for the event or reply they expect rather than asserting that something has
//! not happened yet; a jump can only make their assertions more true.

mod common;

use std::time::Duration;

use common::{Api, Ws, connect, expect_event, ms, ping, wait_for_event};
use gambi_hub::HubConfig;
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
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;
    let joined = expect_event(&mut events, "participant.joined").await;
    // The tunnel stays up (a registration without one would be dropped), but no heartbeat
    // comes.
    let pinger = tokio::spawn(async move { keep_alive(&mut ws, usize::MAX).await });
    expect_event(&mut events, "participant.updated").await;

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
    assert_eq!(beat["status"], "online");
    let updated = expect_event(&mut events, "participant.updated").await;
    assert_eq!(updated["data"]["id"], "alice");
    assert_eq!(updated["data"]["lastSeen"], beat["lastSeen"]);

    // Silent again, it is announced again.
    let again = expect_event(&mut events, "participant.offline").await;
    assert_eq!(again["data"]["participantId"], "alice");
    pinger.abort();
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

#[tokio::test(start_paused = true)]
async fn a_registration_whose_tunnel_never_attaches_is_dropped_when_its_token_expires() {
    let hub = TestHub::with_config(HubConfig {
        max_participants_per_room: 2,
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = watch(&api, &code).await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;
    ping(&mut ws).await;
    let joined = api.join(&code, "ghost").await;
    let joined_at = joined["participant"]["joinedAt"].as_i64().expect("ms");
    // The room is full while the registration that never attaches is kept.
    api.put_participant(&code, "carol", &common::registration("Carol"))
        .await
        .error(
            reqwest::StatusCode::CONFLICT,
            "INVALID_REQUEST",
            "This room already holds 2 participants.",
        );

    // Alice keeps her tunnel and heartbeats going; the ghost does nothing.
    let keeper = {
        let (api, code) = (api.clone(), code.clone());
        tokio::spawn(async move {
            loop {
                keep_alive(&mut ws, 1).await;
                api.heartbeat(&code, "alice").await.ok();
            }
        })
    };
    let left = tokio::time::timeout(
        proto::TUNNEL_TOKEN_TTL * 2,
        wait_for_event(&mut events, "participant.left"),
    )
    .await
    .expect("the ghost is dropped");
    assert_eq!(left["data"], json!({ "participantId": "ghost" }));
    let after = left["timestamp"].as_i64().expect("ms") - joined_at;
    assert!(
        after > ms(proto::TUNNEL_TOKEN_TTL)
            && after <= ms(proto::TUNNEL_TOKEN_TTL + proto::HEALTH_CHECK_INTERVAL),
        "dropped {after} ms after registering"
    );
    let ids: Vec<Value> = api
        .participants(&code)
        .await
        .as_array()
        .expect("a list")
        .iter()
        .map(|participant| participant["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("alice")], "the connected one stays");
    // Its place is free again, and its old tunnel token is void.
    common::open_tunnel(&hub, &code, "ghost", &common::token_of(&joined))
        .await
        .expect_err("the ghost is gone")
        .assert(
            reqwest::StatusCode::NOT_FOUND,
            "PARTICIPANT_NOT_FOUND",
            "Participant not found.",
        );
    api.put_participant(&code, "carol", &common::registration("Carol"))
        .await
        .data(reqwest::StatusCode::CREATED);
    assert_eq!(api.participant(&code, "alice").await["status"], "online");
    keeper.abort();
}

#[tokio::test(start_paused = true)]
async fn a_participant_offline_longer_than_the_configured_time_is_removed() {
    let remove_after = Duration::from_secs(5 * 60);
    let hub = TestHub::with_config(HubConfig {
        remove_offline_after: remove_after,
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = watch(&api, &code).await;
    let (ws, _) = connect(&hub, &api, &code, "alice").await;
    drop(ws);
    let lost = loop {
        let event = wait_for_event(&mut events, "participant.updated").await;
        if event["data"]["connection"]["connected"] == false {
            break event;
        }
    };
    // Heartbeats alone do not keep a participant without a tunnel.
    let beat = api.heartbeat(&code, "alice").await;
    assert_eq!(beat.ok()["status"], "offline");

    let left = tokio::time::timeout(
        remove_after * 2,
        wait_for_event(&mut events, "participant.left"),
    )
    .await
    .expect("alice is removed");
    assert_eq!(left["data"], json!({ "participantId": "alice" }));
    let after = left["timestamp"].as_i64().expect("ms") - lost["timestamp"].as_i64().expect("ms");
    assert!(
        after > ms(remove_after) && after <= ms(remove_after + proto::HEALTH_CHECK_INTERVAL),
        "removed {after} ms after losing its tunnel"
    );
    assert_eq!(api.participants(&code).await, json!([]));
}

#[tokio::test(start_paused = true)]
async fn a_participant_that_reconnects_in_time_is_kept() {
    let remove_after = Duration::from_secs(60);
    let hub = TestHub::with_config(HubConfig {
        remove_offline_after: remove_after,
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (ws, _) = connect(&hub, &api, &code, "alice").await;
    drop(ws);
    tokio::time::sleep(remove_after / 2).await;
    let again = api
        .put_participant(&code, "alice", &common::registration("alice"))
        .await
        .ok()
        .clone();
    let mut ws = common::open_tunnel(&hub, &code, "alice", &common::token_of(&again))
        .await
        .expect("reopens");
    for _ in 0..12 {
        keep_alive(&mut ws, 1).await;
        api.heartbeat(&code, "alice").await.ok();
    }
    assert_eq!(api.participant(&code, "alice").await["status"], "online");
}
