//! A participant runtime that speaks only the original protocol: the registration body the
//! original runtime sends, its tunnel as a bare WebSocket to the URL the hub returned (no
//! session header, no extensions), and JSON text frames exactly as the original writes
//! them. Everything the hub sends back must parse as the original shapes.

mod common;

use common::{Api, Ws, next_json};
use futures::{SinkExt, StreamExt};
use gambi_hub::tunnel::{TunnelEvent, TunnelFailure};
use gambi_test_support::TestHub;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The body the original runtime PUTs: probed capabilities, specs, an empty config and no
/// password (its `undefined` is dropped from the JSON).
fn original_registration() -> Value {
    json!({
        "nickname": "alice",
        "model": "llama3.2:latest",
        "endpoint": "http://localhost:11434",
        "specs": { "gpu": "Apple M2", "vram": 16, "ram": 16, "cpu": "Apple M2" },
        "config": {},
        "capabilities": { "openResponses": "unknown", "chatCompletions": "supported" }
    })
}

/// Registers as the original runtime does and opens the tunnel at the URL from the reply,
/// with the token appended as `?token=`.
async fn join_as_original(api: &Api, code: &str, body: &Value) -> (Ws, Value) {
    let reply = api
        .put(&format!("/v1/rooms/{code}/participants/alice"), body)
        .await;
    let data = reply.data(StatusCode::CREATED).clone();
    // The fields the original runtime reads.
    assert!(data["participant"]["id"].is_string());
    assert!(data["roomId"].is_string());
    let url = data["tunnel"]["url"].as_str().expect("tunnel.url");
    let token = data["tunnel"]["token"].as_str().expect("tunnel.token");
    let (ws, _) = tokio_tungstenite::connect_async(format!("{url}?token={token}"))
        .await
        .expect("the tunnel opens at the advertised URL");
    (ws, data)
}

/// Checks that `frame` is exactly the original `tunnel.pong`: `{type, timestamp}` with an
/// integer timestamp in milliseconds.
fn assert_original_pong(frame: &Value) {
    let object = frame.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["timestamp", "type"], "{frame}");
    assert_eq!(frame["type"], "tunnel.pong");
    let timestamp = frame["timestamp"].as_i64().expect("an integer timestamp");
    assert!(
        timestamp > 1_600_000_000_000,
        "milliseconds since the epoch: {frame}"
    );
}

#[tokio::test]
async fn an_original_runtime_registers_opens_its_tunnel_and_pings() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _) = join_as_original(&api, &code, &original_registration()).await;

    ws.send(Message::text(
        r#"{"type":"tunnel.ping","timestamp":1764240000000}"#,
    ))
    .await
    .expect("open");
    // The hub answers with a text frame.
    let frame = ws.next().await.expect("an answer").expect("readable");
    let Message::Text(text) = frame else {
        panic!("the original expects JSON text frames, got {frame:?}");
    };
    let pong: Value = serde_json::from_str(text.as_str()).expect("JSON");
    assert_original_pong(&pong);

    // Its heartbeat is a bare POST without a body.
    let beat = api
        .send(api.request(
            Method::POST,
            &format!("/v1/rooms/{code}/participants/alice/heartbeat"),
        ))
        .await;
    let data = beat.ok();
    assert_eq!(data["success"], true);
    assert_eq!(data["status"], "online");
    assert!(data["lastSeen"].is_i64());

    let alice = api.participant(&code, "alice").await;
    assert_eq!(alice["connection"]["connected"], true);
    assert_eq!(alice["connection"]["kind"], "tunnel");
    assert_eq!(alice["model"], "llama3.2:latest");
    assert_eq!(
        alice["capabilities"],
        json!({ "openResponses": "unknown", "chatCompletions": "supported" })
    );
}

#[tokio::test]
async fn binary_frames_holding_json_are_accepted() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _) = join_as_original(&api, &code, &original_registration()).await;
    ws.send(Message::binary(
        br#"{"type":"tunnel.ping","timestamp":1764240000000}"#.to_vec(),
    ))
    .await
    .expect("open");
    assert_original_pong(&next_json(&mut ws).await);
    assert_eq!(hub.hub().malformed_frames(), 0);
}

#[tokio::test]
async fn an_original_runtime_joins_a_protected_room_with_the_password() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let created = api
        .create_room_with(&json!({ "name": "Lab", "password": "hunter2" }))
        .await;
    let code = common::code_of(&created);

    let mut wrong = original_registration();
    wrong["password"] = json!("nope");
    let refused = api
        .put(&format!("/v1/rooms/{code}/participants/alice"), &wrong)
        .await;
    // The original runtime shows `error.message`.
    refused.error(
        StatusCode::UNAUTHORIZED,
        "INVALID_PASSWORD",
        "Invalid password.",
    );

    let mut body = original_registration();
    body["password"] = json!("hunter2");
    let (mut ws, _) = join_as_original(&api, &code, &body).await;
    ws.send(Message::text(
        r#"{"type":"tunnel.ping","timestamp":1764240000000}"#,
    ))
    .await
    .expect("open");
    assert_original_pong(&next_json(&mut ws).await);
    // It heartbeats without credentials, as the original does.
    assert_eq!(api.heartbeat(&code, "alice").await.ok()["status"], "online");
}

#[tokio::test]
async fn an_original_runtime_that_closed_its_tunnel_can_leave() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = api
        .subscribe(&format!("/v1/rooms/{code}/events"), None)
        .await;
    common::expect_event(&mut events, "connected").await;
    let (mut ws, _) = join_as_original(&api, &code, &original_registration()).await;
    ws.close(None).await.expect("closes");
    loop {
        let event = common::wait_for_event(&mut events, "participant.updated").await;
        if event["data"]["connection"]["connected"] == false {
            break;
        }
    }
    // Without a session header, as the original sends it.
    let reply = api
        .delete(&format!("/v1/rooms/{code}/participants/alice"))
        .await;
    assert_eq!(reply.ok(), &json!({ "success": true }));
}

#[tokio::test]
async fn an_original_runtime_leaving_right_after_closing_its_tunnel_is_not_a_conflict() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _) = join_as_original(&api, &code, &original_registration()).await;
    // The original closes its socket and sends the DELETE at once, without waiting for
    // the hub to notice the close and without a session header.
    ws.send(Message::Close(None))
        .await
        .expect("sends the close frame");
    let reply = api
        .delete(&format!("/v1/rooms/{code}/participants/alice"))
        .await;
    assert_eq!(reply.ok(), &json!({ "success": true }));
}

#[tokio::test]
async fn requests_reach_an_original_runtime_in_the_original_shape() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let (mut ws, _) = join_as_original(&api, &code, &original_registration()).await;
    ws.send(Message::text(r#"{"type":"tunnel.ping","timestamp":1}"#))
        .await
        .expect("open");
    assert_original_pong(&next_json(&mut ws).await);
    let tunnel = common::tunnel_handle(&hub, &code, "alice");

    let body = json!({ "model": "llama3.2:latest", "messages": [{ "role": "user", "content": "hi" }], "stream": true });
    let mut response = tunnel
        .dispatch(
            common::tunnel_request("req-1", Some(body.clone())),
            common::TIMEOUTS,
        )
        .await
        .expect("the tunnel takes the request");
    assert_eq!(
        next_json(&mut ws).await,
        json!({
            "type": "tunnel.request", "requestId": "req-1",
            "operation": "chat.completions.create", "method": "POST",
            "path": "/v1/chat/completions",
            "headers": { "Content-Type": "application/json" },
            "body": body, "stream": true
        })
    );

    // The original runtime answers: start, base64 chunks (one in a binary frame), end.
    for frame in [
        Message::text(
            r#"{"type":"tunnel.response.start","requestId":"req-1","status":200,"headers":{"content-type":"text/event-stream"}}"#,
        ),
        Message::text(
            r#"{"type":"tunnel.response.chunk","requestId":"req-1","chunk":"ZGF0YTogaGVsbG8KCg=="}"#,
        ),
        Message::binary(
            br#"{"type":"tunnel.response.chunk","requestId":"req-1","chunk":"ZGF0YTogW0RPTkVdCgo="}"#
                .to_vec(),
        ),
        Message::text(r#"{"type":"tunnel.response.end","requestId":"req-1"}"#),
    ] {
        ws.send(frame).await.expect("open");
    }
    assert_eq!(
        response.next().await,
        Some(TunnelEvent::Start {
            status: 200,
            headers: [("content-type".to_owned(), "text/event-stream".to_owned())].into(),
            timing: None,
        })
    );
    assert_eq!(
        response.next().await,
        Some(TunnelEvent::Chunk("data: hello\n\n".into()))
    );
    assert_eq!(
        response.next().await,
        Some(TunnelEvent::Chunk("data: [DONE]\n\n".into()))
    );
    assert_eq!(response.next().await, Some(TunnelEvent::End));
    assert_eq!(response.next().await, None);

    // A request without a body has no `body` key and empty headers; an error frame ends it.
    let mut request = common::tunnel_request("req-2", None);
    request.operation = "responses.get".into();
    request.method = "GET".into();
    request.path = "/v1/responses/resp_1".into();
    request.stream = false;
    let mut response = tunnel
        .dispatch(request, common::TIMEOUTS)
        .await
        .expect("taken");
    assert_eq!(
        next_json(&mut ws).await,
        json!({
            "type": "tunnel.request", "requestId": "req-2", "operation": "responses.get",
            "method": "GET", "path": "/v1/responses/resp_1", "headers": {}, "stream": false
        })
    );
    ws.send(Message::text(
        r#"{"type":"tunnel.response.error","requestId":"req-2","stage":"proxy","message":"fetch failed"}"#,
    ))
    .await
    .expect("open");
    assert_eq!(
        response.next().await,
        Some(TunnelEvent::Error(TunnelFailure::Participant {
            stage: "proxy".into(),
            message: "fetch failed".into()
        }))
    );
    assert_eq!(hub.hub().malformed_frames(), 0);
}
