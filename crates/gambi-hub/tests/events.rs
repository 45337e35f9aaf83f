//! Room event streams over SSE: framing, order, scoping to the room, keep-alives,
//! password protection, slow subscribers, and the end of every stream at shutdown.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use common::{
    Api, connect, expect_event, next_event, participant_path, ping, registration, session_of,
};
use futures::StreamExt;
use gambi_hub::HubConfig;
use gambi_protocol as proto;
use gambi_test_support::TestHub;
use gambi_test_support::sse::{EventReader, Frame};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Subscribes to `path` and returns the stream after checking its `connected` frame.
async fn subscribe(api: &Api, path: &str, code: &str) -> EventReader {
    let mut events = api.subscribe(path, None).await;
    let connected = expect_event(&mut events, "connected").await;
    assert_eq!(connected["roomCode"], code);
    events
}

#[tokio::test]
async fn the_stream_opens_with_connected_framed_exactly() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let response = api
        .request(
            Method::GET,
            &format!("/v1/rooms/{}/events", code.to_ascii_lowercase()),
        )
        .send()
        .await
        .expect("the hub answers");
    assert_eq!(response.status(), StatusCode::OK);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("content-type").as_deref(), Some("text/event-stream"));
    assert_eq!(header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(header("access-control-allow-origin").as_deref(), Some("*"));
    assert!(header("x-request-id").is_some());

    // Read the raw bytes of the first frame.
    let mut body = response.bytes_stream();
    let mut raw = Vec::new();
    let end = loop {
        if let Some(end) = raw.windows(2).position(|pair| pair == b"\n\n") {
            break end;
        }
        let chunk = body
            .next()
            .await
            .expect("the stream goes on")
            .expect("readable");
        raw.extend_from_slice(&chunk);
    };
    let first = std::str::from_utf8(&raw[..end]).expect("UTF-8");
    let lines: Vec<&str> = first.split('\n').collect();
    assert_eq!(lines.len(), 2, "{first:?}");
    assert_eq!(lines[0], "event: connected");
    let data: Value =
        serde_json::from_str(lines[1].strip_prefix("data: ").expect("a single data line"))
            .expect("JSON");
    assert_eq!(data["type"], "connected");
    assert_eq!(
        data["roomCode"], code,
        "the canonical code, whatever the URL said"
    );
    assert!(data["timestamp"].is_i64());
    assert_eq!(data["data"]["clientId"].as_str().map(str::len), Some(36));
    assert_eq!(data.as_object().map(serde_json::Map::len), Some(4));

    // What follows is read frame by frame, starting after the first.
    let rest = Bytes::copy_from_slice(&raw[end + 2..]);
    let mut events = EventReader::from_stream(
        futures::stream::once(async move { Ok::<_, reqwest::Error>(rest) }).chain(body),
    );
    api.join(&code, "alice").await;
    let joined = expect_event(&mut events, "participant.joined").await;
    assert_eq!(joined["roomCode"], code);
}

#[tokio::test]
async fn participant_events_arrive_in_order_with_their_payloads() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = subscribe(&api, &format!("/v1/rooms/{code}/events"), &code).await;
    let lower = code.to_ascii_lowercase();

    let joined = api
        .put_participant(&lower, "alice", &registration("Alice"))
        .await;
    let alice = joined.data(StatusCode::CREATED).clone();
    let event = expect_event(&mut events, "participant.joined").await;
    assert_eq!(
        event["roomCode"], code,
        "canonical even when the URL was lower case"
    );
    assert_eq!(event["data"], alice["participant"]);
    let mut last_timestamp = event["timestamp"].as_i64().expect("timestamp");

    let again = api
        .send(
            api.request(Method::PUT, &participant_path(&lower, "alice"))
                .header("x-gambi-session", session_of(&alice))
                .json(&registration("Alice 2")),
        )
        .await;
    let event = expect_event(&mut events, "participant.updated").await;
    assert_eq!(event["data"], again.ok()["participant"]);
    assert_eq!(event["data"]["nickname"], "Alice 2");

    // Opening and closing the tunnel are announced as updates.
    let bob = api.join(&code, "bob").await;
    let event = expect_event(&mut events, "participant.joined").await;
    assert_eq!(event["data"]["id"], "bob");
    let mut ws = common::open_tunnel(&hub, &code, "bob", &common::token_of(&bob))
        .await
        .expect("opens");
    let event = expect_event(&mut events, "participant.updated").await;
    assert_eq!(event["data"]["id"], "bob");
    assert_eq!(event["data"]["connection"]["connected"], true);
    assert_eq!(event["data"]["status"], "online");
    ws.close(None).await.expect("closes");
    let event = expect_event(&mut events, "participant.updated").await;
    assert_eq!(event["data"]["id"], "bob");
    assert_eq!(event["data"]["connection"]["connected"], false);
    assert_eq!(event["data"]["status"], "offline");

    api.delete(&participant_path(&lower, "alice")).await.ok();
    let event = expect_event(&mut events, "participant.left").await;
    assert_eq!(event["roomCode"], code);
    assert_eq!(event["data"], json!({ "participantId": "alice" }));

    // Timestamps never go backwards.
    api.delete(&participant_path(&code, "bob")).await.ok();
    let event = expect_event(&mut events, "participant.left").await;
    assert!(event["timestamp"].as_i64().expect("timestamp") >= last_timestamp);
    last_timestamp = event["timestamp"].as_i64().expect("timestamp");
    assert!(last_timestamp > 0);
}

#[tokio::test]
async fn the_legacy_path_streams_the_same_events() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut modern = subscribe(&api, &format!("/v1/rooms/{code}/events"), &code).await;
    let mut legacy = subscribe(
        &api,
        &format!("/rooms/{}/events", code.to_ascii_lowercase()),
        &code,
    )
    .await;
    api.join(&code, "alice").await;
    api.delete(&participant_path(&code, "alice")).await.ok();
    for events in [&mut modern, &mut legacy] {
        let joined = expect_event(events, "participant.joined").await;
        assert_eq!(joined["data"]["id"], "alice");
        let left = expect_event(events, "participant.left").await;
        assert_eq!(left["data"]["participantId"], "alice");
    }
}

#[tokio::test]
async fn each_subscriber_gets_its_own_client_id() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut ids = HashSet::new();
    for _ in 0..3 {
        let mut events = api
            .subscribe(&format!("/v1/rooms/{code}/events"), None)
            .await;
        let connected = expect_event(&mut events, "connected").await;
        ids.insert(connected["data"]["clientId"].to_string());
    }
    assert_eq!(ids.len(), 3, "{ids:?}");
}

#[tokio::test]
async fn events_stay_in_their_room() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let here = api.create_room("Here").await;
    let there = api.create_room("There").await;
    let mut events = subscribe(&api, &format!("/v1/rooms/{here}/events"), &here).await;

    let (mut ws, joined) = connect(&hub, &api, &there, "mallory").await;
    ping(&mut ws).await;
    api.send(
        api.request(Method::DELETE, &participant_path(&there, "mallory"))
            .header("x-gambi-session", session_of(&joined)),
    )
    .await
    .ok();
    api.join(&there, "trent").await;

    // The first event after `connected` is this room's.
    api.join(&here, "alice").await;
    let (kind, event) = next_event(&mut events).await;
    assert_eq!(kind, "participant.joined", "{event}");
    assert_eq!(event["roomCode"], here);
    assert_eq!(event["data"]["id"], "alice");
}

#[tokio::test(start_paused = true)]
async fn a_quiet_stream_gets_keep_alive_comments() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = subscribe(&api, &format!("/v1/rooms/{code}/events"), &code).await;
    let since = Instant::now();
    let frame = events.next_frame().await.expect("the stream goes on");
    assert_eq!(frame, Frame::Comment("keep-alive".into()));
    assert!(since.elapsed() >= proto::SSE_KEEP_ALIVE);

    // Events still flow after keep-alives.
    api.join(&code, "alice").await;
    expect_event(&mut events, "participant.joined").await;
}

#[tokio::test]
async fn a_protected_room_streams_only_to_its_password() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let created = api
        .create_room_with(&json!({ "name": "Lab", "password": "hunter2" }))
        .await;
    let code = common::code_of(&created);
    for path in [
        format!("/v1/rooms/{code}/events"),
        format!("/rooms/{code}/events"),
    ] {
        for request in [
            api.request(Method::GET, &path),
            api.request(Method::GET, &path).bearer_auth("hunter3"),
            api.request(Method::GET, &path)
                .header("authorization", "hunter2"),
        ] {
            api.send(request).await.error(
                StatusCode::UNAUTHORIZED,
                "INVALID_PASSWORD",
                "Invalid password.",
            );
        }
        let mut events = api.subscribe(&path, Some("hunter2")).await;
        let connected = expect_event(&mut events, "connected").await;
        assert_eq!(connected["roomCode"], code);
    }
}

#[tokio::test]
async fn the_hub_stream_announces_new_rooms() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let mut events = api.subscribe("/v1/events", None).await;
    expect_event(&mut events, "connected").await;
    let created = api.create_room_with(&json!({ "name": "Lab" })).await;
    let event = expect_event(&mut events, "room.created").await;
    assert_eq!(event["roomCode"], created["room"]["code"]);
    assert_eq!(event["data"], created["room"]);
}

#[tokio::test]
async fn streams_end_when_the_hub_shuts_down() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut room = subscribe(&api, &format!("/v1/rooms/{code}/events"), &code).await;
    let mut legacy = subscribe(&api, &format!("/rooms/{code}/events"), &code).await;
    let mut all = api.subscribe("/v1/events", None).await;
    expect_event(&mut all, "connected").await;
    hub.stop().await;
    for events in [&mut room, &mut legacy, &mut all] {
        assert_eq!(events.next_frame().await, None);
    }
}

/// A subscriber on a raw socket with a tiny receive window, so that a subscriber that
/// stops reading really does stop the hub's writes to it. It speaks HTTP/1.0, so the
/// body is the bare event stream, delimited by the end of the connection.
async fn raw_subscriber(hub: &TestHub, path: &str) -> (tokio::net::TcpStream, Vec<u8>) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("settable");
    let mut stream = socket.connect(hub.addr()).await.expect("connects");
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", hub.addr()).as_bytes())
        .await
        .expect("writes");
    let mut head = Vec::new();
    let end = loop {
        if let Some(end) = head.windows(4).position(|four| four == b"\r\n\r\n") {
            break end;
        }
        let mut buffer = [0_u8; 1024];
        let read = stream.read(&mut buffer).await.expect("reads");
        assert!(read > 0, "the hub answers");
        head.extend_from_slice(&buffer[..read]);
    };
    let status = std::str::from_utf8(&head[..end]).expect("an ASCII head");
    assert!(
        status.starts_with("HTTP/1.0 200") || status.starts_with("HTTP/1.1 200"),
        "{status}"
    );
    let rest = head[end + 4..].to_vec();
    (stream, rest)
}

/// The bytes of `stream`, after `already` read.
fn body_of(
    stream: tokio::net::TcpStream,
    already: Vec<u8>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::once(async move { Ok(Bytes::from(already)) }).chain(futures::stream::unfold(
        stream,
        |mut stream| async move {
            let mut buffer = vec![0_u8; 64 * 1024];
            match stream.read(&mut buffer).await {
                Ok(0) => None,
                Ok(read) => {
                    buffer.truncate(read);
                    Some((Ok(Bytes::from(buffer)), stream))
                }
                Err(error) => Some((Err(error), stream)),
            }
        },
    ))
}

#[tokio::test]
async fn a_slow_subscriber_holds_up_nobody_and_learns_what_it_missed() {
    const EVENTS: usize = 128;
    const PAD: usize = 128 * 1024;
    let hub = TestHub::with_config(HubConfig {
        event_buffer: 8,
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let path = format!("/v1/rooms/{code}/events");
    let (slow_socket, slow_head) = raw_subscriber(&hub, &path).await;
    let mut fast = subscribe(&api, &path, &code).await;
    let room = hub.hub().room(&code).expect("the room exists");

    // Far more than the slow subscriber's socket can hold, each event paced by the fast
    // subscriber so only the slow one can fall behind.
    let pad = "x".repeat(PAD);
    for index in 0..=EVENTS {
        let id = if index == EVENTS {
            "end".to_owned()
        } else {
            format!("{index:04}{pad}")
        };
        room.publish(proto::RoomEventPayload::ParticipantLeft(
            proto::event::ParticipantRef {
                participant_id: id.clone(),
            },
        ));
        let event = expect_event(&mut fast, "participant.left").await;
        assert!(
            event["data"]["participantId"] == id.as_str(),
            "event {index} in order"
        );
    }
    // The hub itself is unaffected.
    api.get("/v1/health").await.ok();

    // The slow subscriber resumes: what it got is in order, then one `lagged` notice
    // saying how many it missed, then the rest, ending with the last event.
    let mut slow = EventReader::from_stream(body_of(slow_socket, slow_head));
    expect_event(&mut slow, "connected").await;
    let mut next_index = 0_usize;
    let mut lagged = None;
    loop {
        let (kind, event) = next_event(&mut slow).await;
        if kind == "lagged" {
            assert!(lagged.is_none(), "one notice per gap");
            let skipped = event["data"]["skipped"].as_u64().expect("a count");
            assert!(skipped > 0);
            lagged = Some(skipped);
            next_index += usize::try_from(skipped).expect("small");
            continue;
        }
        assert_eq!(kind, "participant.left");
        let id = event["data"]["participantId"].as_str().expect("an id");
        if id == "end" {
            assert_eq!(
                next_index, EVENTS,
                "every event was received or counted as missed"
            );
            break;
        }
        assert_eq!(&id[..4], format!("{next_index:04}"), "in order, no gaps");
        next_index += 1;
    }
    assert!(
        lagged.is_some(),
        "the slow subscriber was told it fell behind"
    );
}

/// With paused time, any real wait in the network lets the clock run ahead, so a frame
/// held back by the kernel (Nagle's algorithm waiting for an acknowledgement) shows up as
/// minutes of virtual delay.
#[tokio::test(start_paused = true)]
async fn events_are_written_without_waiting_for_acknowledgements() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = subscribe(&api, &format!("/v1/rooms/{code}/events"), &code).await;
    let room = hub.hub().room(&code).expect("the room exists");
    let start = Instant::now();
    for index in 0..10 {
        room.publish(proto::RoomEventPayload::ParticipantLeft(
            proto::event::ParticipantRef {
                participant_id: format!("p{index}"),
            },
        ));
        tokio::task::yield_now().await;
    }
    for index in 0..10 {
        let event = expect_event(&mut events, "participant.left").await;
        assert_eq!(event["data"]["participantId"], format!("p{index}"));
    }
    assert!(
        start.elapsed() < proto::SSE_KEEP_ALIVE,
        "events took {:?} of virtual time",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_that_stops_reading_cannot_stall_shutdown() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (stalled, _) = raw_subscriber(&hub, &format!("/v1/rooms/{code}/events")).await;
    let room = hub.hub().room(&code).expect("the room exists");
    let pad = "x".repeat(128 * 1024);
    for _ in 0..64 {
        room.publish(proto::RoomEventPayload::ParticipantLeft(
            proto::event::ParticipantRef {
                participant_id: pad.clone(),
            },
        ));
        tokio::task::yield_now().await;
    }
    tokio::time::timeout(Duration::from_secs(600), hub.stop())
        .await
        .expect("shutdown is not held up by a subscriber that stopped reading");
    drop(stalled);
}

#[tokio::test]
async fn subscribers_beyond_the_limit_are_refused() {
    let hub = TestHub::with_config(HubConfig {
        max_subscribers: 2,
        ..HubConfig::default()
    })
    .await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let path = format!("/v1/rooms/{code}/events");
    let _first = subscribe(&api, &path, &code).await;
    let _second = subscribe(&api, &path, &code).await;
    let refused = reqwest::get(hub.url_for(&path))
        .await
        .expect("the hub answers");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = refused.json().await.expect("an error envelope");
    assert_eq!(
        body["error"]["message"],
        "This event stream already has 2 subscribers."
    );
    assert_eq!(
        body["error"]["code"], "TOO_MANY_SUBSCRIBERS",
        "a limit, not an internal error"
    );
    // Another room has its own budget.
    let other = api.create_room("Other").await;
    let _third = subscribe(&api, &format!("/v1/rooms/{other}/events"), &other).await;
}
