//! The participant tunnel over real WebSockets: the upgrade's checks and its single-use,
//! short-lived token, ping and pong, the idle timeout, eviction by a newer tunnel,
//! malformed frames, removal and hub shutdown.

mod common;

use std::time::Duration;

use common::{
    Api, closed_with, code_of, connect, expect_event, next_event, open_tunnel, open_tunnel_at,
    participant_path, ping, session_of, token_of, wait_for_event,
};
use futures::{SinkExt, StreamExt};
use gambi_hub::HubConfig;
use gambi_hub::tunnel::{TunnelEvent, TunnelFailure};
use gambi_test_support::TestHub;
use gambi_test_support::sse::EventReader;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const INVALID_TOKEN: &str = "Tunnel token is invalid or expired.";

#[tokio::test]
async fn the_upgrade_checks_room_participant_and_token() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let other_room = api.create_room("Other").await;
    let alice = api.join(&code, "alice").await;
    let bob = api.join(&code, "bob").await;
    let alice_elsewhere = api.join(&other_room, "alice").await;
    let alice_path = format!("{}/tunnel", participant_path(&code, "alice"));

    for path in [
        alice_path.clone(),
        format!("{alice_path}?token="),
        format!("{alice_path}?tok=x"),
    ] {
        open_tunnel_at(&hub, &path)
            .await
            .expect_err("no token")
            .assert(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "Tunnel token is required.",
            );
    }
    for token in [
        "00000000-0000-4000-8000-000000000000".to_owned(),
        token_of(&bob),
        token_of(&alice_elsewhere),
        session_of(&alice),
    ] {
        open_tunnel(&hub, &code, "alice", &token)
            .await
            .expect_err("not alice's token here")
            .assert(StatusCode::UNAUTHORIZED, "INVALID_REQUEST", INVALID_TOKEN);
    }
    open_tunnel(&hub, "NOPE00", "alice", &token_of(&alice))
        .await
        .expect_err("no such room")
        .assert(StatusCode::NOT_FOUND, "ROOM_NOT_FOUND", "Room not found.");
    open_tunnel(&hub, &code, "carol", &token_of(&alice))
        .await
        .expect_err("no such participant")
        .assert(
            StatusCode::NOT_FOUND,
            "PARTICIPANT_NOT_FOUND",
            "Participant not found.",
        );

    // None of the refusals used up the right token, and the code's case does not matter.
    let mut ws = open_tunnel(&hub, &code.to_ascii_lowercase(), "alice", &token_of(&alice))
        .await
        .expect("alice's own token opens alice's tunnel");
    ping(&mut ws).await;
}

#[tokio::test]
async fn a_token_opens_one_tunnel_only() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let joined = api.join(&code, "alice").await;
    let token = token_of(&joined);
    let mut ws = open_tunnel(&hub, &code, "alice", &token)
        .await
        .expect("first use");
    open_tunnel(&hub, &code, "alice", &token)
        .await
        .expect_err("second use")
        .assert(StatusCode::UNAUTHORIZED, "INVALID_REQUEST", INVALID_TOKEN);
    ping(&mut ws).await;
}

#[tokio::test(start_paused = true)]
async fn a_token_expires_after_a_minute() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    // A participant that had a tunnel registers again (one that never attached would be
    // dropped with its token).
    let (ws, _) = common::connect(&hub, &api, &code, "alice").await;
    drop(ws);
    let joined = api
        .put_participant(&code, "alice", &common::registration("Alice"))
        .await
        .ok()
        .clone();
    tokio::time::advance(Duration::from_secs(61)).await;
    open_tunnel(&hub, &code, "alice", &token_of(&joined))
        .await
        .expect_err("expired")
        .assert(StatusCode::UNAUTHORIZED, "INVALID_REQUEST", INVALID_TOKEN);
}

#[tokio::test]
async fn a_plain_get_is_refused_without_using_the_token() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let joined = api.join(&code, "alice").await;
    let token = token_of(&joined);
    let path = format!("{}/tunnel?token={token}", participant_path(&code, "alice"));

    let reply = api.get(&path).await;
    let error = reply.error(
        StatusCode::BAD_REQUEST,
        "INTERNAL_ERROR",
        "Failed to upgrade the participant tunnel.",
    );
    assert!(error["hint"].is_string());

    let mut ws = open_tunnel(&hub, &code, "alice", &token)
        .await
        .expect("the token is still good");
    ping(&mut ws).await;
}

#[tokio::test]
async fn pings_are_answered_with_pongs() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;
    let before = hub.hub().clock().now_ms();
    for _ in 0..3 {
        let pong = ping(&mut ws).await;
        let object = pong.as_object().expect("an object");
        assert_eq!(object.len(), 2, "only type and timestamp: {pong}");
        let timestamp = pong["timestamp"].as_i64().expect("an integer timestamp");
        assert!(
            timestamp >= before,
            "the hub's clock, not the ping's: {pong}"
        );
    }
}

/// Subscribes to room `code`'s events and reads the `connected` frame.
async fn watch(api: &Api, code: &str) -> EventReader {
    let mut events = api
        .subscribe(&format!("/v1/rooms/{code}/events"), None)
        .await;
    expect_event(&mut events, "connected").await;
    events
}

/// Waits for a `participant.updated` of `id` whose connection is `connected`.
async fn wait_for_connection(events: &mut EventReader, id: &str, connected: bool) -> Value {
    loop {
        let event = wait_for_event(events, "participant.updated").await;
        let participant = &event["data"];
        if participant["id"] == id && participant["connection"]["connected"] == connected {
            return participant.clone();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_tunnel_is_closed_after_thirty_seconds() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = watch(&api, &code).await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;
    let opened = Instant::now();

    assert_eq!(
        closed_with(&mut ws).await,
        (4001, "Tunnel heartbeat timed out.".to_owned())
    );
    assert!(opened.elapsed() >= Duration::from_secs(30));
    let participant = wait_for_connection(&mut events, "alice", false).await;
    assert_eq!(participant["connection"]["lastTunnelSeenAt"], Value::Null);
    assert_eq!(participant["status"], "offline");
}

#[tokio::test(start_paused = true)]
async fn pings_keep_a_tunnel_open_and_malformed_frames_do_not() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;

    // A ping every 20 s keeps it open for well past the 30 s timeout.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        ping(&mut ws).await;
    }
    // Frames the hub cannot use are no sign of life: the timeout runs from the last ping.
    let last_ping = Instant::now();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_secs(10)).await;
        ws.send(Message::text("not json")).await.expect("open");
        ws.send(Message::text(r#"{"type":"tunnel.response.end"}"#))
            .await
            .expect("open");
    }
    assert_eq!(closed_with(&mut ws).await.0, 4001);
    let silent = last_ping.elapsed();
    assert!(
        silent >= Duration::from_secs(30) && silent < Duration::from_secs(40),
        "closed {silent:?} after the last ping"
    );
}

#[tokio::test]
async fn a_newer_tunnel_evicts_the_older_one() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = watch(&api, &code).await;
    let (mut first, joined) = connect(&hub, &api, &code, "alice").await;
    let session = session_of(&joined);
    wait_for_connection(&mut events, "alice", true).await;

    // The runtime that owns the id registers again and opens a second tunnel.
    let again = api
        .send(
            api.request(Method::PUT, &participant_path(&code, "alice"))
                .header("x-gambi-session", &session)
                .json(&common::registration("alice")),
        )
        .await;
    let token = token_of(again.ok());
    let mut second = open_tunnel(&hub, &code, "alice", &token)
        .await
        .expect("a fresh token opens a second tunnel");
    assert_eq!(
        closed_with(&mut first).await,
        (1000, "Superseded by a newer tunnel session.".to_owned())
    );
    // The evicted side finishes closing; that must not disconnect its replacement.
    let _ = first.close(None).await;
    while first.next().await.is_some() {}
    ping(&mut second).await;
    ping(&mut second).await;
    let alice = api.participant(&code, "alice").await;
    assert_eq!(alice["connection"]["connected"], true);
    assert_eq!(alice["status"], "online");

    // Every event up to a marker shows alice connected.
    let marker = api
        .send(
            api.request(Method::PUT, &participant_path(&code, "alice"))
                .header("x-gambi-session", &session)
                .json(&common::registration("marker")),
        )
        .await;
    marker.ok();
    loop {
        let (kind, event) = next_event(&mut events).await;
        assert_eq!(kind, "participant.updated", "{event}");
        assert_eq!(event["data"]["connection"]["connected"], true, "{event}");
        if event["data"]["nickname"] == "marker" {
            break;
        }
    }
    ping(&mut second).await;
}

#[tokio::test]
async fn malformed_frames_are_ignored_and_counted() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;

    let malformed = [
        Message::text("not json"),
        Message::text("[1, 2, 3]"),
        Message::text(r#"{"no": "type"}"#),
        Message::text(r#"{"type": 7}"#),
        Message::text(r#"{"type": "tunnel.ping"}"#),
        Message::text(r#"{"type": "tunnel.ping", "timestamp": "soon"}"#),
        Message::text(r#"{"type": "tunnel.response.end"}"#),
        Message::text(r#"{"type": "tunnel.response.start", "requestId": "r", "status": 42}"#),
        Message::text(r#"{"type": "tunnel.response.chunk", "requestId": "r", "chunk": "@@@"}"#),
        Message::binary(vec![0xff_u8, 0xfe, 0x00]),
    ];
    let count = u64::try_from(malformed.len()).expect("small");
    for frame in malformed {
        ws.send(frame).await.expect("the tunnel stays open");
    }
    // Well-formed frames the hub has no use for are ignored without being counted: a type
    // from a newer peer, and answers to requests it does not know.
    for frame in [
        json!({ "type": "tunnel.hello", "version": 2 }),
        json!({ "type": "tunnel.response.start", "requestId": "nope", "status": 200 }),
        json!({ "type": "tunnel.response.chunk", "requestId": "nope", "chunk": "aGk=" }),
        json!({ "type": "tunnel.response.end", "requestId": "nope" }),
        json!({ "type": "tunnel.response.error", "requestId": "nope", "stage": "proxy", "message": "x" }),
    ] {
        ws.send(Message::text(frame.to_string()))
            .await
            .expect("open");
    }
    // The pong comes after every frame above was handled.
    ping(&mut ws).await;
    assert_eq!(hub.hub().malformed_frames(), count);
    let alice = api.participant(&code, "alice").await;
    assert_eq!(alice["connection"]["connected"], true);
}

#[tokio::test]
async fn an_oversized_frame_closes_the_tunnel_with_1009() {
    let hub = TestHub::with_config(HubConfig {
        max_tunnel_message: 4096,
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = watch(&api, &code).await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;
    let frame = json!({ "type": "tunnel.ping", "timestamp": 1, "pad": "x".repeat(8192) });
    let _ = ws.send(Message::text(frame.to_string())).await;
    assert_eq!(
        closed_with(&mut ws).await,
        (1009, "Message too big.".to_owned())
    );
    wait_for_connection(&mut events, "alice", false).await;
}

#[tokio::test]
async fn removing_a_participant_closes_its_tunnel() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, joined) = connect(&hub, &api, &code, "alice").await;
    ping(&mut ws).await;
    let reply = api
        .send(
            api.request(Method::DELETE, &participant_path(&code, "alice"))
                .header("x-gambi-session", session_of(&joined)),
        )
        .await;
    assert_eq!(reply.ok(), &json!({ "success": true }));
    assert_eq!(
        closed_with(&mut ws).await,
        (4004, "Participant removed from the room.".to_owned())
    );
    // Its tokens went with it.
    api.join(&code, "alice").await;
    open_tunnel(&hub, &code, "alice", &token_of(&joined))
        .await
        .expect_err("an old token")
        .assert(StatusCode::UNAUTHORIZED, "INVALID_REQUEST", INVALID_TOKEN);
}

#[tokio::test]
async fn a_tunnel_that_closes_leaves_its_participant_offline() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = watch(&api, &code).await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;
    let online = wait_for_connection(&mut events, "alice", true).await;
    assert_eq!(online["status"], "online");
    assert!(online["connection"]["lastTunnelSeenAt"].is_i64());

    ws.close(None).await.expect("closes");
    let offline = wait_for_connection(&mut events, "alice", false).await;
    assert_eq!(offline["status"], "offline");
    assert_eq!(offline["connection"]["lastTunnelSeenAt"], Value::Null);
    assert_eq!(
        api.participant(&code, "alice").await["connection"]["connected"],
        false
    );

    // The id is free again: anyone may register it and open a tunnel.
    let reclaimed = api
        .put_participant(&code, "alice", &common::registration("Someone"))
        .await;
    let mut ws = open_tunnel(&hub, &code, "alice", &token_of(reclaimed.ok()))
        .await
        .expect("opens");
    ping(&mut ws).await;
}

#[tokio::test]
async fn hub_shutdown_closes_every_tunnel_with_1012() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = code_of(&api.create_room_with(&json!({ "name": "Lab" })).await);
    let (mut alice, _) = connect(&hub, &api, &code, "alice").await;
    let (mut bob, _) = connect(&hub, &api, &code, "bob").await;
    ping(&mut alice).await;
    ping(&mut bob).await;
    hub.stop().await;
    for ws in [&mut alice, &mut bob] {
        assert_eq!(
            closed_with(ws).await,
            (1012, "Hub restarting; reconnect soon.".to_owned())
        );
    }
}

#[tokio::test]
async fn a_token_from_before_a_takeover_cannot_evict_the_new_owner() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    // Someone registers the id but keeps the token for later.
    let early = api
        .put_participant(&code, "alice", &common::registration("Mallory"))
        .await;
    let stale_token = token_of(early.data(StatusCode::CREATED));
    // The id was never connected, so alice takes it over and opens her tunnel.
    let taken = api
        .put_participant(&code, "alice", &common::registration("Alice"))
        .await;
    let mut ws = open_tunnel(&hub, &code, "alice", &token_of(taken.ok()))
        .await
        .expect("alice's tunnel opens");
    ping(&mut ws).await;

    // The retired session's token no longer opens a tunnel for the id.
    open_tunnel(&hub, &code, "alice", &stale_token)
        .await
        .expect_err("minted for a retired session")
        .assert(StatusCode::UNAUTHORIZED, "INVALID_REQUEST", INVALID_TOKEN);
    ping(&mut ws).await;
    assert_eq!(api.participant(&code, "alice").await["nickname"], "Alice");
}

/// A tunnel client on a socket with a tiny receive window, so that when it stops reading
/// the hub's writes to it really block.
async fn tunnel_with_small_window(hub: &TestHub, code: &str, id: &str, token: &str) -> common::Ws {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("settable");
    let stream = socket.connect(hub.addr()).await.expect("connects");
    let url = hub.ws_url_for(&format!(
        "{}/tunnel?token={token}",
        participant_path(code, id)
    ));
    let (ws, _) =
        tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .expect("the tunnel opens");
    ws
}

#[tokio::test(start_paused = true)]
async fn a_participant_that_stops_reading_is_dropped_and_cannot_stall_shutdown() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = watch(&api, &code).await;
    let joined = api.join(&code, "alice").await;
    let mut ws = tunnel_with_small_window(&hub, &code, "alice", &token_of(&joined)).await;
    wait_for_connection(&mut events, "alice", true).await;

    // It keeps pinging but never reads a pong, until its own writes block too.
    let flood = tokio::spawn(async move {
        for timestamp in 0_u64.. {
            let ping = json!({ "type": "tunnel.ping", "timestamp": timestamp });
            if ws.send(Message::text(ping.to_string())).await.is_err() {
                break;
            }
        }
    });
    // The hub gives up on it rather than wait forever...
    tokio::time::timeout(
        Duration::from_secs(600),
        wait_for_connection(&mut events, "alice", false),
    )
    .await
    .expect("a tunnel that accepts nothing is dropped");
    // ...and shuts down promptly.
    tokio::time::timeout(Duration::from_secs(600), hub.stop())
        .await
        .expect("shutdown is not held up by a peer that stopped reading");
    flood.abort();
}

#[tokio::test(start_paused = true)]
async fn websocket_pings_are_answered_and_count_as_life() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;
    // WebSocket-level pings every 20 s keep the tunnel open well past the 30 s timeout.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        ws.send(Message::Ping(b"are you there".to_vec().into()))
            .await
            .expect("open");
        match ws.next().await {
            Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"are you there"),
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    ping(&mut ws).await;
}

#[tokio::test]
async fn a_participant_closing_its_tunnel_gets_the_closing_handshake() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _) = connect(&hub, &api, &code, "alice").await;
    ping(&mut ws).await;
    ws.close(None).await.expect("closes");
    match ws.next().await {
        Some(Ok(Message::Close(_))) => {}
        other => panic!("expected the hub's close frame, got {other:?}"),
    }
    assert!(ws.next().await.is_none(), "then the connection ends");
}

#[tokio::test]
async fn a_participant_id_with_reserved_characters_gets_a_working_tunnel_url() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let id = "élan:1+ü";
    let encoded = "%C3%A9lan%3A1%2B%C3%BC";
    let reply = api
        .put_participant(&code, encoded, &common::registration("Élan"))
        .await;
    let data = reply.data(StatusCode::CREATED);
    assert_eq!(data["participant"]["id"], id);
    let url = data["tunnel"]["url"].as_str().expect("a URL");
    assert_eq!(
        url,
        format!(
            "ws://{}/v1/rooms/{code}/participants/{encoded}/tunnel",
            hub.addr()
        )
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("{url}?token={}", token_of(data)))
        .await
        .expect("the advertised URL opens the tunnel");
    ping(&mut ws).await;
    assert_eq!(
        api.participant(&code, id).await["connection"]["connected"],
        true
    );
}

/// Connects `id`, dispatches one request down its tunnel, and reads it off the socket.
async fn with_pending_request(
    hub: &TestHub,
    api: &Api,
    code: &str,
    id: &str,
) -> (common::Ws, Value, gambi_hub::tunnel::ResponseStream) {
    let (mut ws, joined) = connect(hub, api, code, id).await;
    ping(&mut ws).await;
    let tunnel = common::tunnel_handle(hub, code, id);
    let response = tunnel
        .dispatch(
            common::tunnel_request("req-1", Some(json!({}))),
            common::TIMEOUTS,
        )
        .await
        .expect("the tunnel takes the request");
    let request = common::next_json(&mut ws).await;
    assert_eq!(request["type"], "tunnel.request");
    assert_eq!(request["requestId"], "req-1");
    (ws, joined, response)
}

fn failed(failure: TunnelFailure) -> Option<TunnelEvent> {
    Some(TunnelEvent::Error(failure))
}

#[tokio::test]
async fn requests_in_flight_fail_when_their_tunnel_closes() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _, mut response) = with_pending_request(&hub, &api, &code, "alice").await;
    ws.close(None).await.expect("closes");
    assert_eq!(response.next().await, failed(TunnelFailure::Disconnected));
    assert_eq!(response.next().await, None);
}

#[tokio::test]
async fn requests_in_flight_fail_when_a_newer_tunnel_takes_over() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (_first, joined, mut response) = with_pending_request(&hub, &api, &code, "alice").await;
    let again = api
        .send(
            api.request(Method::PUT, &participant_path(&code, "alice"))
                .header("x-gambi-session", session_of(&joined))
                .json(&common::registration("alice")),
        )
        .await;
    let _second = open_tunnel(&hub, &code, "alice", &token_of(again.ok()))
        .await
        .expect("opens");
    assert_eq!(response.next().await, failed(TunnelFailure::Superseded));
}

#[tokio::test]
async fn requests_in_flight_fail_when_their_participant_leaves() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (_ws, joined, mut response) = with_pending_request(&hub, &api, &code, "alice").await;
    api.send(
        api.request(Method::DELETE, &participant_path(&code, "alice"))
            .header("x-gambi-session", session_of(&joined)),
    )
    .await
    .ok();
    assert_eq!(response.next().await, failed(TunnelFailure::Removed));
}

#[tokio::test]
async fn requests_in_flight_fail_when_the_hub_shuts_down() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _, mut response) = with_pending_request(&hub, &api, &code, "alice").await;
    hub.stop().await;
    assert_eq!(response.next().await, failed(TunnelFailure::Shutdown));
    assert_eq!(closed_with(&mut ws).await.0, 1012);
}

#[tokio::test]
async fn dropping_a_response_sends_tunnel_cancel() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _, response) = with_pending_request(&hub, &api, &code, "alice").await;
    drop(response);
    assert_eq!(
        common::next_json(&mut ws).await,
        json!({ "type": "tunnel.cancel", "requestId": "req-1" })
    );
    // Frames the participant still sends for it are ignored.
    ws.send(Message::text(
        json!({ "type": "tunnel.response.end", "requestId": "req-1" }).to_string(),
    ))
    .await
    .expect("open");
    ping(&mut ws).await;
    assert_eq!(hub.hub().malformed_frames(), 0);
}
