//! The client against a real hub on 127.0.0.1:0, and against canned HTTP answers for what a
//! hub never sends.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use gambi_client::{Client, ClientError, ErrorKind};
use gambi_hub::HubConfig;
use gambi_protocol as proto;
use gambi_test_support::TestHub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn client(hub: &TestHub) -> Client {
    Client::new(&hub.url()).expect("the test hub URL is valid")
}

fn room(name: &str) -> proto::CreateRoomRequest {
    proto::CreateRoomRequest {
        name: name.into(),
        ..Default::default()
    }
}

fn registration(nickname: &str) -> proto::ParticipantRegistration {
    proto::ParticipantRegistration {
        nickname: nickname.into(),
        model: "llama3".into(),
        endpoint: "http://localhost:11434".into(),
        ..Default::default()
    }
}

async fn create_room(client: &Client, request: proto::CreateRoomRequest) -> String {
    client
        .rooms()
        .create(&request)
        .await
        .expect("room created")
        .data
        .room
        .code
}

/// A server that answers every connection with `response`, verbatim.
async fn canned_server(response: impl Into<Vec<u8>>) -> String {
    let response: Arc<[u8]> = response.into().into();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let response = Arc::clone(&response);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0_u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let _ = socket.write_all(&response).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// A loopback port nobody listens on.
async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn health() {
    let hub = TestHub::start().await;
    let health = client(&hub).health().await.expect("healthy");
    assert_eq!(health.data.status, "ok");
    assert!(health.data.timestamp > 0);
    assert!(!health.meta.request_id.is_empty());
    hub.stop().await;
}

#[tokio::test]
async fn rooms_create_list_get() {
    let hub = TestHub::start().await;
    let client = client(&hub);
    let created = client
        .rooms()
        .create(&proto::CreateRoomRequest {
            name: "Lab".into(),
            password: Some("secret".into()),
            defaults: Some(serde_json::json!({"temperature": 0.5, "instructions": "Be brief."})),
        })
        .await
        .expect("created");
    let summary = created.data.room.clone();
    assert_eq!(summary.name, "Lab");
    assert_eq!(summary.participant_count, 0);
    assert!(summary.password_protected);
    assert_eq!(created.data.host_id, summary.host_id);
    let defaults = summary.defaults.clone().expect("defaults kept");
    assert_eq!(defaults.temperature, Some(0.5));
    assert!(defaults.has_instructions);

    let second = create_room(&client, room("Other")).await;
    let listed = client.rooms().list().await.expect("listed").data;
    let codes: Vec<_> = listed.iter().map(|room| room.code.clone()).collect();
    assert_eq!(codes, [summary.code.clone(), second]);

    let fetched = client.rooms().get(&summary.code).await.expect("found");
    assert_eq!(fetched.data, summary);
    hub.stop().await;
}

#[tokio::test]
async fn unknown_room_is_room_not_found_with_hint_and_request_id() {
    let hub = TestHub::start().await;
    let error = client(&hub)
        .rooms()
        .get("NOPE42")
        .await
        .expect_err("no such room");
    assert_eq!(error.status, 404);
    assert_eq!(error.code, Some(proto::ErrorCode::RoomNotFound));
    assert_eq!(error.message, "Room not found.");
    assert_eq!(
        error.hint.as_deref(),
        Some("Run 'gambi room list' to inspect available rooms.")
    );
    assert!(error.request_id.is_some_and(|id| !id.is_empty()));
    hub.stop().await;
}

#[tokio::test]
async fn validation_errors_carry_details() {
    let hub = TestHub::start().await;
    let error = client(&hub)
        .rooms()
        .create(&proto::CreateRoomRequest {
            name: "Lab".into(),
            password: None,
            defaults: Some(serde_json::json!({"temperature": 5})),
        })
        .await
        .expect_err("temperature out of range");
    assert_eq!(error.status, 400);
    assert_eq!(error.code, Some(proto::ErrorCode::InvalidRequest));
    let details = error.details.expect("field errors");
    assert!(
        details["fieldErrors"]["temperature"].is_array(),
        "{details}"
    );
    hub.stop().await;
}

#[tokio::test]
async fn participants_upsert_list_heartbeat_remove() {
    let hub = TestHub::start().await;
    let client = client(&hub);
    let code = create_room(&client, room("Lab")).await;
    let participants = client.participants();

    let first = participants
        .upsert(&code, "alice", &registration("Alice"))
        .await
        .expect("registered");
    assert_eq!(first.status, 201);
    assert!(first.created());
    assert_eq!(first.envelope.data.participant.nickname, "Alice");
    assert!(
        first
            .envelope
            .data
            .tunnel
            .url
            .ends_with(&format!("/v1/rooms/{code}/participants/alice/tunnel"))
    );
    let again = participants
        .upsert(&code, "alice", &registration("Alice 2"))
        .await
        .expect("updated");
    assert_eq!(again.status, 200);
    assert!(!again.created());

    let listed = participants.list(&code).await.expect("listed").data;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].nickname, "Alice 2");

    let beat = participants
        .heartbeat(&code, "alice")
        .await
        .expect("heartbeat");
    assert!(beat.data.success);
    assert_eq!(beat.data.status, proto::ParticipantStatus::Offline);

    let removed = participants.remove(&code, "alice").await.expect("removed");
    assert!(removed.data.success);
    let error = participants
        .remove(&code, "alice")
        .await
        .expect_err("already gone");
    assert_eq!(error.status, 404);
    assert_eq!(error.code, Some(proto::ErrorCode::ParticipantNotFound));
    let error = participants
        .heartbeat(&code, "alice")
        .await
        .expect_err("already gone");
    assert_eq!(error.code, Some(proto::ErrorCode::ParticipantNotFound));
    assert_eq!(error.kind, ErrorKind::ParticipantNotFound);
    assert!(error.needs_registration() && !error.is_fatal());
    let error = participants
        .upsert("NOPE42", "alice", &registration("Alice"))
        .await
        .expect_err("no such room");
    assert_eq!(error.kind, ErrorKind::RoomNotFound);
    assert!(error.is_fatal());
    hub.stop().await;
}

#[tokio::test]
async fn session_credential_is_sent() {
    let hub = TestHub::start().await;
    let client = client(&hub);
    let code = create_room(&client, room("Lab")).await;
    let registered = client
        .participants()
        .upsert(&code, "alice", &registration("Alice"))
        .await
        .expect("registered");
    let session = registered
        .envelope
        .data
        .session_token
        .expect("this hub issues session tokens");
    let removed = client
        .participants()
        .with_session(&session)
        .remove(&code, "alice")
        .await
        .expect("removed with its own session");
    assert!(removed.data.success);
    hub.stop().await;
}

#[tokio::test]
async fn protected_room_password_goes_as_bearer() {
    let hub = TestHub::start().await;
    let client = client(&hub);
    let code = create_room(
        &client,
        proto::CreateRoomRequest {
            name: "Locked".into(),
            password: Some("secret".into()),
            defaults: None,
        },
    )
    .await;
    let error = client
        .participants()
        .upsert(&code, "alice", &registration("Alice"))
        .await
        .expect_err("no password");
    assert_eq!(error.status, 401);
    assert_eq!(error.code, Some(proto::ErrorCode::InvalidPassword));
    assert_eq!(error.kind, ErrorKind::InvalidPassword);

    let mut denied = client.events().watch_room(&code);
    let error = denied
        .next()
        .await
        .expect("an item")
        .expect_err("no password");
    assert_eq!(error.status, 401);
    assert!(denied.next().await.is_none(), "an error ends the stream");

    let with_password = client.clone().with_token("secret");
    let mut events = with_password.events().watch_room(&code);
    let first = events.next().await.expect("an item").expect("connected");
    assert_eq!(first.payload.kind(), "connected");
    hub.stop().await;
}

#[tokio::test]
async fn admin_token() {
    let hub = TestHub::with_config(HubConfig {
        admin_token: Some("root".into()),
        ..HubConfig::default()
    })
    .await;
    let error = client(&hub).rooms().list().await.expect_err("no token");
    assert_eq!(error.status, 401);
    assert_eq!(error.code, Some(proto::ErrorCode::Unauthorized));
    let admin = client(&hub).with_token("root");
    create_room(&admin, room("Lab")).await;
    assert_eq!(admin.rooms().list().await.expect("listed").data.len(), 1);
    hub.stop().await;
}

#[tokio::test]
async fn events_start_with_connected_then_follow_the_room_and_end_with_the_hub() {
    let hub = TestHub::start().await;
    let client = client(&hub);
    let code = create_room(&client, room("Lab")).await;
    let mut events = client.events().watch_room(&code);
    let connected = events.next().await.expect("an item").expect("connected");
    assert_eq!(connected.room_code, code);
    assert!(matches!(
        connected.payload,
        proto::RoomEventPayload::Connected(_)
    ));

    client
        .participants()
        .upsert(&code, "alice", &registration("Alice"))
        .await
        .expect("registered");
    let joined = events.next().await.expect("an item").expect("joined");
    match joined.payload {
        proto::RoomEventPayload::ParticipantJoined(participant) => {
            assert_eq!(participant.id, "alice");
        }
        other => panic!("expected participant.joined, got {other:?}"),
    }
    client
        .participants()
        .remove(&code, "alice")
        .await
        .expect("removed");
    let left = events.next().await.expect("an item").expect("left");
    assert_eq!(left.payload.kind(), "participant.left");

    hub.stop().await;
    assert!(
        events.next().await.is_none(),
        "the stream ends with the hub"
    );
}

#[tokio::test]
async fn events_of_an_unknown_room() {
    let hub = TestHub::start().await;
    let mut events = client(&hub).events().watch_room("NOPE42");
    let error = events.next().await.expect("an item").expect_err("404");
    assert_eq!(error.status, 404);
    assert_eq!(error.code, Some(proto::ErrorCode::RoomNotFound));
    assert!(error.request_id.is_some());
    assert!(events.next().await.is_none());
    hub.stop().await;
}

#[tokio::test]
async fn unknown_events_come_through_and_comments_and_malformed_events_are_skipped() {
    let url = canned_server(concat!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
        ": keep-alive\n\n",
        "event: room.renamed\n",
        "data: {\"type\":\"room.renamed\",\"timestamp\":1,\"roomCode\":\"ABC123\",\"data\":{\"name\":\"x\"}}\n\n",
        ": keep-alive\n\n",
        "event: participant.left\n",
        "data: {\"type\":\"participant.left\",\"timestamp\":2,\"roomCode\":\"ABC123\",\"data\":{}}\n\n",
        "event: participant.left\n",
        "data: {\"type\":\"participant.left\",\"timestamp\":3,\"roomCode\":\"ABC123\",\"data\":{\"participantId\":\"p\"}}\n\n",
    ))
    .await;
    let client = Client::new(&url).expect("valid");
    let events: Vec<_> = client.events().watch_room("ABC123").collect().await;
    assert_eq!(events.len(), 2, "{events:?}");
    let unknown = events[0].clone().expect("unknown event");
    assert_eq!(
        unknown.payload,
        proto::RoomEventPayload::Unknown {
            kind: "room.renamed".into(),
            data: serde_json::json!({"name": "x"}),
        }
    );
    let left = events[1].clone().expect("left");
    assert_eq!(left.timestamp, 3);
}

#[tokio::test]
async fn unreachable_hub_is_503() {
    let url = closed_port_url().await;
    let client = Client::new(&url).expect("valid");
    let check = |error: ClientError| {
        assert_eq!(error.kind, ErrorKind::Unreachable);
        assert!(error.cause().is_some_and(|cause| !cause.is_empty()));
        assert_eq!(error.status, 503);
        assert_eq!(error.code, Some(proto::ErrorCode::InternalError));
        assert_eq!(error.message, "Failed to reach hub.");
        assert!(
            error
                .hint
                .as_deref()
                .is_some_and(|hint| hint.contains(&url))
        );
        let cause = error.details.expect("details")["cause"].clone();
        assert!(cause.as_str().is_some_and(|cause| !cause.is_empty()));
    };
    check(client.health().await.expect_err("nobody listens"));
    check(client.rooms().list().await.expect_err("nobody listens"));
    let mut events = client.events().watch_room("ABC123");
    check(
        events
            .next()
            .await
            .expect("an item")
            .expect_err("nobody listens"),
    );
    assert!(events.next().await.is_none());
}

#[tokio::test]
async fn success_without_envelope_is_502() {
    let url = canned_server(
        "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
    )
    .await;
    let error = Client::new(&url)
        .expect("valid")
        .health()
        .await
        .expect_err("not an envelope");
    assert_eq!(error.status, 502);
    assert_eq!(error.code, Some(proto::ErrorCode::InternalError));
    assert_eq!(error.message, "Invalid response from hub.");

    let mut events = Client::new(&url)
        .expect("valid")
        .events()
        .watch_room("ABC123");
    let error = events.next().await.expect("an item").expect_err("not SSE");
    assert_eq!(error.status, 502);
}

#[tokio::test]
async fn error_without_envelope_keeps_its_status() {
    let url = canned_server(
        "HTTP/1.1 404 Not Found\r\nx-request-id: abc\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found",
    )
    .await;
    let error = Client::new(&url)
        .expect("valid")
        .rooms()
        .get("ABC123")
        .await
        .expect_err("404");
    assert_eq!(error.status, 404);
    assert_eq!(error.code, None);
    assert_eq!(error.request_id.as_deref(), Some("abc"));
}

#[tokio::test]
async fn a_body_over_the_limit_is_an_error_that_names_the_limit() {
    let size = gambi_client::MAX_RESPONSE_BODY + 1;
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n"
    )
    .into_bytes();
    response.resize(response.len() + size, b' ');
    let url = canned_server(response).await;
    let error = Client::new(&url)
        .expect("valid")
        .health()
        .await
        .expect_err("too large");
    assert_eq!(error.kind, ErrorKind::InvalidResponse);
    assert_eq!(error.status, 502);
    assert_eq!(
        error.cause(),
        Some(
            format!(
                "the response body exceeds {} bytes",
                gambi_client::MAX_RESPONSE_BODY
            )
            .as_str()
        )
    );
}

#[tokio::test(start_paused = true)]
async fn a_per_call_timeout_replaces_the_clients() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = Client::new(&url)
        .expect("valid")
        .with_timeout(Duration::from_secs(60));
    let started = tokio::time::Instant::now();
    let error = client
        .participants()
        .with_timeout(Duration::from_secs(2))
        .heartbeat("ABC123", "alice")
        .await
        .expect_err("no answer");
    assert_eq!(error.kind, ErrorKind::Unreachable);
    assert_eq!(error.cause(), Some("the request timed out"));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(60),
        "{waited:?}"
    );
}
