//! Helpers shared by the inference end-to-end tests (`inference*.rs`, `cancellation.rs`).
#![allow(dead_code)] // Each test file uses a different subset of these helpers.

use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use gambi_protocol as proto;
use gambi_test_support::sse::{EventReader, Frame};
use gambi_test_support::{Cluster, FakeProvider, RecordedRequest};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest a step may take in a test on real time before it counts as a hang. Generous:
/// the steps it guards take milliseconds, so it only ever fires on a real hang.
pub(crate) const HANG: Duration = Duration::from_secs(20);

/// Awaits `future`, failing the test if it hangs. Only for tests on real time.
pub(crate) async fn within<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {HANG:?}"))
}

/// A Chat Completions request with one user message.
pub(crate) fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

/// A streamed Chat Completions request with one user message.
pub(crate) fn chat_stream(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}], "stream": true})
}

/// A Responses request with a string input.
pub(crate) fn responses(model: &str, text: &str) -> Value {
    json!({"model": model, "input": text})
}

/// A streamed Responses request with a string input.
pub(crate) fn responses_stream(model: &str, text: &str) -> Value {
    json!({"model": model, "input": text, "stream": true})
}

/// The generation requests a provider received, in order. Capability probes (`{}` bodies
/// and model listings) are left out.
pub(crate) fn generations(provider: &FakeProvider) -> Vec<RecordedRequest> {
    provider
        .requests()
        .into_iter()
        .filter(|request| {
            request
                .body
                .as_ref()
                .is_some_and(|body| body.get("model").is_some())
        })
        .collect()
}

/// The body of the only generation request `provider` received.
pub(crate) fn only_generation(provider: &FakeProvider) -> Value {
    let mut requests = generations(provider);
    assert_eq!(
        requests.len(),
        1,
        "one generation request reached the provider"
    );
    requests.remove(0).body.unwrap()
}

/// The `x-gambi-participant` header: who served a response.
pub(crate) fn served_by(response: &reqwest::Response) -> String {
    header(response, "x-gambi-participant")
}

/// The `x-gambi-request-id` header: the `requestId` of the request's `llm.*` events.
pub(crate) fn request_id(response: &reqwest::Response) -> String {
    header(response, "x-gambi-request-id")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("response has a {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// One SSE event of an inference stream.
#[derive(Debug, Clone)]
pub(crate) struct Sse {
    /// The `event:` name (empty when absent).
    pub(crate) event: String,
    /// The raw data.
    pub(crate) data: String,
}

impl Sse {
    /// The data as JSON (`Null` when it is not JSON, e.g. `[DONE]`).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// Reads a streamed response to its end and returns its events.
pub(crate) async fn read_sse(response: reqwest::Response) -> Vec<Sse> {
    let mut reader = EventReader::new(response);
    let mut events = Vec::new();
    while let Some(frame) = reader.next_event().await {
        if let Frame::Event { event, data } = frame {
            events.push(Sse { event, data });
        }
    }
    events
}

/// The next event of a streamed response, or `None` at its end.
pub(crate) async fn next_sse(reader: &mut EventReader) -> Option<Sse> {
    match reader.next_event().await? {
        Frame::Event { event, data } => Some(Sse { event, data }),
        Frame::Comment(_) => unreachable!("next_event skips comments"),
    }
}

/// Text of the `delta.content` of a Chat Completions chunk, if any.
pub(crate) fn chat_delta(chunk: &Value) -> Option<&str> {
    chunk
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
}

/// Checks an OpenAI-shaped error response and returns its `error` object.
pub(crate) async fn openai_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status of the error response");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    assert!(
        content_type.is_some_and(|value| value.starts_with("application/json")),
        "errors are JSON: {body}"
    );
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "{body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "the message says what failed: {body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.as_object().unwrap().contains_key("param"),
        "param is present (null or a field): {body}"
    );
    error
}

/// An `llm.*` event from the room's event stream.
#[derive(Debug, Clone)]
pub(crate) struct Llm {
    /// `llm.request`, `llm.complete` or `llm.error`.
    pub(crate) kind: String,
    /// The event's `data`.
    pub(crate) data: Value,
}

impl Llm {
    pub(crate) fn request_id(&self) -> &str {
        self.data["requestId"].as_str().unwrap()
    }

    pub(crate) fn is_terminal(&self) -> bool {
        self.kind != "llm.request"
    }
}

/// The next `llm.*` event, skipping every other kind.
pub(crate) async fn next_llm(events: &mut EventReader) -> Llm {
    loop {
        let frame = events
            .next_event()
            .await
            .expect("the event stream stays open");
        let kind = frame.event().unwrap_or_default().to_owned();
        if kind.starts_with("llm.") {
            let envelope = frame.json();
            assert_eq!(envelope["type"], kind.as_str());
            assert!(envelope["timestamp"].as_u64().is_some(), "{envelope}");
            assert!(envelope["roomCode"].is_string(), "{envelope}");
            return Llm {
                kind,
                data: envelope["data"].clone(),
            };
        }
    }
}

/// The `llm.*` events of one request, from the next one up to its terminal event. Events
/// of other requests are skipped.
pub(crate) async fn llm_events_of(events: &mut EventReader, request_id: &str) -> Vec<Llm> {
    let mut seen = Vec::new();
    loop {
        let event = next_llm(events).await;
        if event.request_id() != request_id {
            continue;
        }
        let terminal = event.is_terminal();
        seen.push(event);
        if terminal {
            return seen;
        }
    }
}

/// The next terminal `llm.*` event (`llm.complete` or `llm.error`), of any request.
pub(crate) async fn next_terminal(events: &mut EventReader) -> Llm {
    loop {
        let event = next_llm(events).await;
        if event.is_terminal() {
            return event;
        }
    }
}

/// Waits until the hub would route a request to participant `id` (tunnel attached and
/// the scheduler told it is available).
pub(crate) async fn wait_routable(cluster: &Cluster, id: &str) {
    let room = cluster
        .hub
        .hub()
        .room(&cluster.code)
        .expect("the room exists");
    let mut events = room.subscribe();
    loop {
        let connected = room
            .participant(id)
            .is_some_and(|participant| participant.summary.connection.connected);
        if connected
            && room
                .scheduler()
                .participant(id)
                .is_some_and(|load| load.available)
        {
            return;
        }
        let _ = events.recv().await;
    }
}

/// Waits until participant `id` has no open tunnel any more.
pub(crate) async fn wait_disconnected(cluster: &Cluster, id: &str) {
    let room = cluster
        .hub
        .hub()
        .room(&cluster.code)
        .expect("the room exists");
    let mut events = room.subscribe();
    loop {
        let connected = room
            .participant(id)
            .is_some_and(|participant| participant.summary.connection.connected);
        if !connected {
            return;
        }
        let _ = events.recv().await;
    }
}

/// Registers participant `id` with a plain `PUT`, the way the original runtime does (no
/// `maxConcurrency`, no session credential), without opening its tunnel. Returns the
/// `data` of the hub's answer.
pub(crate) async fn register(cluster: &Cluster, id: &str, model: &str) -> Value {
    let mut body = json!({
        "nickname": format!("{id} (raw)"),
        "model": model,
        "endpoint": "http://127.0.0.1:9",
        "capabilities": {"openResponses": "supported", "chatCompletions": "supported"},
    });
    if let Some(password) = &cluster.password {
        body["password"] = json!(password);
    }
    let response = cluster
        .http
        .put(
            cluster
                .hub
                .url_for(&format!("/v1/rooms/{}/participants/{id}", cluster.code)),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "registered: {}",
        response.status()
    );
    let envelope: Value = response.json().await.unwrap();
    envelope["data"].clone()
}

/// Sends participant `id`'s management heartbeat, as the original runtime does.
pub(crate) async fn heartbeat(cluster: &Cluster, id: &str) {
    let response = cluster
        .http
        .post(cluster.hub.url_for(&format!(
            "/v1/rooms/{}/participants/{id}/heartbeat",
            cluster.code
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "heartbeat accepted");
}

/// A participant runtime written by hand against the original wire protocol: JSON text
/// frames, base64 chunks, and no knowledge of `tunnel.cancel` (it is read and ignored,
/// like any frame type the original does not know).
#[derive(Debug)]
pub(crate) struct RawParticipant {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// `tunnel.cancel` frames received (and ignored).
    pub(crate) cancels: Vec<String>,
}

impl RawParticipant {
    /// Registers `id` and opens its tunnel; returns once the hub routes requests to it.
    pub(crate) async fn join(cluster: &Cluster, id: &str, model: &str) -> Self {
        let registered = register(cluster, id, model).await;
        let url = format!(
            "{}?token={}",
            registered["tunnel"]["url"].as_str().unwrap(),
            registered["tunnel"]["token"].as_str().unwrap()
        );
        // Without Nagle, like the real runtime: each frame leaves at once, so tests on
        // paused time never see a frame held back by the kernel while timers run.
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .unwrap();
        wait_routable(cluster, id).await;
        Self {
            socket,
            cancels: Vec::new(),
        }
    }

    /// The next `tunnel.request` frame; `tunnel.cancel` frames are noted and ignored.
    pub(crate) async fn next_request(&mut self) -> proto::TunnelRequest {
        loop {
            let frame = self.next_frame().await;
            match frame["type"].as_str() {
                Some("tunnel.request") => return serde_json::from_value(frame).unwrap(),
                Some("tunnel.cancel") => self
                    .cancels
                    .push(frame["requestId"].as_str().unwrap().to_owned()),
                _ => {}
            }
        }
    }

    /// The next `tunnel.cancel` frame's request id (requests in between are a test error).
    pub(crate) async fn next_cancel(&mut self) -> String {
        if !self.cancels.is_empty() {
            return self.cancels.remove(0);
        }
        loop {
            let frame = self.next_frame().await;
            match frame["type"].as_str() {
                Some("tunnel.cancel") => return frame["requestId"].as_str().unwrap().to_owned(),
                Some("tunnel.request") => panic!("unexpected request while waiting for a cancel"),
                _ => {}
            }
        }
    }

    async fn next_frame(&mut self) -> Value {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(Message::Close(_))) | None => panic!("the hub closed the tunnel"),
                Some(Ok(_)) => {}
                Some(Err(error)) => panic!("tunnel failed: {error}"),
            }
        }
    }

    async fn send(&mut self, frame: Value) {
        self.socket
            .send(Message::text(frame.to_string()))
            .await
            .unwrap();
    }

    /// `tunnel.ping`, which keeps the tunnel alive (the hub answers with a pong).
    pub(crate) async fn ping(&mut self) {
        self.send(json!({"type": "tunnel.ping", "timestamp": 1}))
            .await;
    }

    /// `tunnel.response.start`.
    pub(crate) async fn start(&mut self, request_id: &str, status: u16, content_type: &str) {
        self.send(json!({
            "type": "tunnel.response.start",
            "requestId": request_id,
            "status": status,
            "headers": {"content-type": content_type},
        }))
        .await;
    }

    /// `tunnel.response.chunk` with `bytes` in base64.
    pub(crate) async fn chunk(&mut self, request_id: &str, bytes: &[u8]) {
        let frame = proto::ParticipantToHub::chunk(request_id, bytes).to_json();
        self.socket.send(Message::text(frame)).await.unwrap();
    }

    /// `tunnel.response.end`.
    pub(crate) async fn end(&mut self, request_id: &str) {
        self.send(json!({"type": "tunnel.response.end", "requestId": request_id}))
            .await;
    }
}

/// A `chat.completion.chunk` SSE event carrying `text`.
pub(crate) fn chat_chunk_event(text: &str) -> Vec<u8> {
    let chunk = json!({
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "raw-model",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}],
    });
    format!("data: {chunk}\n\n").into_bytes()
}

/// A complete non-streamed `chat.completion` body with `text`.
pub(crate) fn chat_completion_body(text: &str) -> Vec<u8> {
    json!({
        "id": "chatcmpl-raw",
        "object": "chat.completion",
        "created": 1,
        "model": "raw-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    })
    .to_string()
    .into_bytes()
}
