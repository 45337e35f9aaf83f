//! Helpers shared by the hub's integration tests: a small management client that checks
//! the envelopes of every reply, a raw tunnel client, and event-stream subscriptions.
//!
//! Everything talks to a real hub over loopback sockets.

// Each test binary compiles this module and uses only some of its helpers.
#![allow(dead_code)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use gambi_test_support::TestHub;
use gambi_test_support::sse::{EventReader, Frame};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A participant's side of a tunnel.
pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A management reply: status, headers and the JSON body (`Null` when there is none).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Reply {
    /// The `x-request-id` header, which every reply carries.
    pub(crate) fn request_id_header(&self) -> &str {
        self.headers
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("no x-request-id header on {self:?}"))
    }

    fn check_meta(&self) {
        let request_id = self.body["meta"]["requestId"]
            .as_str()
            .unwrap_or_else(|| panic!("no meta.requestId in {self:?}"));
        assert!(!request_id.is_empty());
        assert_eq!(
            request_id,
            self.request_id_header(),
            "meta.requestId matches the header"
        );
        assert_eq!(
            self.headers
                .get("access-control-allow-origin")
                .and_then(|value| value.to_str().ok()),
            Some("*"),
            "every reply is readable from any origin"
        );
    }

    /// The `data` of a success envelope with this status.
    pub(crate) fn data(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "unexpected status: {self:#?}");
        self.check_meta();
        assert!(self.body.get("error").is_none(), "{self:#?}");
        let object = self.body.as_object().expect("an envelope is an object");
        assert_eq!(object.len(), 2, "only data and meta: {self:#?}");
        &self.body["data"]
    }

    /// `data` of a `200 OK` envelope.
    pub(crate) fn ok(&self) -> &Value {
        self.data(StatusCode::OK)
    }

    /// The `error` object of an error envelope, after checking its status, code and
    /// message, and that it carries a hint.
    pub(crate) fn error(&self, status: StatusCode, code: &str, message: &str) -> &Value {
        assert_eq!(self.status, status, "unexpected status: {self:#?}");
        self.check_meta();
        assert!(self.body.get("data").is_none(), "{self:#?}");
        let error = &self.body["error"];
        assert_eq!(error["code"], code, "{self:#?}");
        assert_eq!(error["message"], message, "{self:#?}");
        assert!(
            error["hint"].as_str().is_some_and(|hint| !hint.is_empty()),
            "every error has a hint: {self:#?}"
        );
        error
    }
}

/// A management client for one hub.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    pub(crate) fn new(hub: &TestHub) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: hub.url(),
        }
    }

    /// A request to `path` on the hub, to finish and pass to [`Api::send`].
    pub(crate) fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Sends `request` and reads the whole reply.
    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("the hub answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("the reply has a body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                panic!(
                    "reply is not JSON ({error}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub(crate) async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Creates a room from `body` and returns `data` (`{room, hostId}`).
    pub(crate) async fn create_room_with(&self, body: &Value) -> Value {
        self.post("/v1/rooms", body)
            .await
            .data(StatusCode::CREATED)
            .clone()
    }

    /// Creates an open room named `name` and returns its code.
    pub(crate) async fn create_room(&self, name: &str) -> String {
        let data = self.create_room_with(&json!({ "name": name })).await;
        code_of(&data)
    }

    /// Registers (or re-registers) `id` in room `code` with `body`.
    pub(crate) async fn put_participant(&self, code: &str, id: &str, body: &Value) -> Reply {
        self.put(&participant_path(code, id), body).await
    }

    /// Registers a new participant `id` and returns `data`
    /// (`{participant, roomId, tunnel, sessionToken}`).
    pub(crate) async fn join(&self, code: &str, id: &str) -> Value {
        self.put_participant(code, id, &registration(id))
            .await
            .data(StatusCode::CREATED)
            .clone()
    }

    /// `POST …/heartbeat`.
    pub(crate) async fn heartbeat(&self, code: &str, id: &str) -> Reply {
        self.send(self.request(
            Method::POST,
            &format!("{}/heartbeat", participant_path(code, id)),
        ))
        .await
    }

    /// The room's participants, as listed by the hub.
    pub(crate) async fn participants(&self, code: &str) -> Value {
        self.get(&format!("/v1/rooms/{code}/participants"))
            .await
            .ok()
            .clone()
    }

    /// One participant's summary, as listed by the hub.
    pub(crate) async fn participant(&self, code: &str, id: &str) -> Value {
        let list = self.participants(code).await;
        list.as_array()
            .expect("a list")
            .iter()
            .find(|participant| participant["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not listed in {list}"))
            .clone()
    }

    /// Subscribes to the events at `path`, presenting `bearer` if given.
    pub(crate) async fn subscribe(&self, path: &str, bearer: Option<&str>) -> EventReader {
        let mut request = self.request(Method::GET, path);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the hub answers");
        assert_eq!(response.status(), StatusCode::OK, "subscribing to {path}");
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|value| value.to_str().ok()),
            Some("text/event-stream")
        );
        EventReader::new(response)
    }
}

/// The code of the room in a `POST /v1/rooms` reply's data.
pub(crate) fn code_of(created: &Value) -> String {
    created["room"]["code"]
        .as_str()
        .expect("a room code")
        .to_owned()
}

/// `/v1/rooms/{code}/participants/{id}`.
pub(crate) fn participant_path(code: &str, id: &str) -> String {
    format!("/v1/rooms/{code}/participants/{id}")
}

/// A valid registration body.
pub(crate) fn registration(nickname: &str) -> Value {
    json!({
        "nickname": nickname,
        "model": "llama3",
        "endpoint": "http://localhost:11434",
    })
}

/// The session credential in an upsert reply's data.
pub(crate) fn session_of(joined: &Value) -> String {
    joined["sessionToken"]
        .as_str()
        .expect("a session token")
        .to_owned()
}

/// The tunnel token in an upsert reply's data.
pub(crate) fn token_of(joined: &Value) -> String {
    joined["tunnel"]["token"]
        .as_str()
        .expect("a tunnel token")
        .to_owned()
}

/// Why a tunnel could not be opened: the HTTP status and JSON body of the refusal.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
}

impl Refused {
    /// Checks the refusal's status, error code and message.
    pub(crate) fn assert(&self, status: StatusCode, code: &str, message: &str) {
        assert_eq!(self.status, status, "{self:#?}");
        assert_eq!(self.body["error"]["code"], code, "{self:#?}");
        assert_eq!(self.body["error"]["message"], message, "{self:#?}");
        assert!(self.body["error"]["hint"].is_string(), "{self:#?}");
        assert!(self.body["meta"]["requestId"].is_string(), "{self:#?}");
    }
}

/// Opens the tunnel at `path` (token included as the caller wants it).
pub(crate) async fn open_tunnel_at(hub: &TestHub, path: &str) -> Result<Ws, Refused> {
    match tokio_tungstenite::connect_async(hub.ws_url_for(path)).await {
        Ok((ws, response)) => {
            assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
            Ok(ws)
        }
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status();
            let body = response.body().as_deref().map_or(Value::Null, |bytes| {
                serde_json::from_slice(bytes).expect("a refusal carries a JSON envelope")
            });
            Err(Refused { status, body })
        }
        Err(error) => panic!("the tunnel handshake failed: {error}"),
    }
}

/// Opens participant `id`'s tunnel in room `code` with `token`.
pub(crate) async fn open_tunnel(
    hub: &TestHub,
    code: &str,
    id: &str,
    token: &str,
) -> Result<Ws, Refused> {
    open_tunnel_at(
        hub,
        &format!("{}/tunnel?token={token}", participant_path(code, id)),
    )
    .await
}

/// Registers `id` and opens its tunnel; returns the socket and the upsert data.
pub(crate) async fn connect(hub: &TestHub, api: &Api, code: &str, id: &str) -> (Ws, Value) {
    let joined = api.join(code, id).await;
    let ws = open_tunnel(hub, code, id, &token_of(&joined))
        .await
        .expect("a fresh token opens the tunnel");
    (ws, joined)
}

/// The next text or binary frame from the hub, parsed as JSON; panics on anything else.
pub(crate) async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                return serde_json::from_str(text.as_str()).expect("hub frames are JSON");
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a JSON frame, got {other:?}"),
        }
    }
}

/// Sends `tunnel.ping` and returns the hub's answer.
pub(crate) async fn ping(ws: &mut Ws) -> Value {
    ws.send(Message::text(
        json!({ "type": "tunnel.ping", "timestamp": 1 }).to_string(),
    ))
    .await
    .expect("the tunnel is open");
    let pong = next_json(ws).await;
    assert_eq!(pong["type"], "tunnel.pong", "{pong}");
    pong
}

/// Reads until the hub closes the tunnel; returns the close code and reason.
pub(crate) async fn closed_with(ws: &mut Ws) -> (u16, String) {
    loop {
        match ws.next().await {
            Some(Ok(Message::Close(Some(CloseFrame { code, reason })))) => {
                return (u16::from(code), reason.as_str().to_owned());
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// The next event (comments skipped) as `(event name, parsed data line)`, checking the
/// frame's shape: the `event:` name repeats the JSON `type`, and the JSON holds exactly
/// `type`, `timestamp`, `roomCode` and `data`.
pub(crate) async fn next_event(reader: &mut EventReader) -> (String, Value) {
    let frame = reader.next_event().await.expect("the stream goes on");
    let Frame::Event { event, .. } = &frame else {
        unreachable!("next_event skips comments");
    };
    let json = frame.json();
    assert_eq!(json["type"], event.as_str(), "{json}");
    assert!(json["timestamp"].is_i64(), "{json}");
    assert!(json["roomCode"].is_string(), "{json}");
    assert!(json.get("data").is_some(), "{json}");
    assert_eq!(
        json.as_object().map(serde_json::Map::len),
        Some(4),
        "{json}"
    );
    (event.clone(), json)
}

/// The next event, which must be of type `kind`; returns its JSON.
pub(crate) async fn expect_event(reader: &mut EventReader, kind: &str) -> Value {
    let (event, json) = next_event(reader).await;
    assert_eq!(event, kind, "{json}");
    json
}

/// Skips events until one of type `kind` arrives and returns it.
pub(crate) async fn wait_for_event(reader: &mut EventReader, kind: &str) -> Value {
    loop {
        let (event, json) = next_event(reader).await;
        if event == kind {
            return json;
        }
    }
}

/// Milliseconds in `duration`, as the wire counts them.
pub(crate) fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).expect("a short duration")
}

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir(std::path::PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        let path = std::env::temp_dir().join(format!("gambi-hub-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("the temp dir is writable");
        Self(path)
    }

    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The hub's handle on participant `id`'s current tunnel, to dispatch requests down it
/// as the inference plane does.
pub(crate) fn tunnel_handle(
    hub: &TestHub,
    code: &str,
    id: &str,
) -> gambi_hub::tunnel::TunnelHandle {
    let room = hub.hub().room(code).expect("the room exists");
    room.participant(id)
        .and_then(|participant| participant.tunnel)
        .expect("the participant has a tunnel")
}

/// The hub's default timeouts for a request sent down a tunnel.
pub(crate) const TIMEOUTS: gambi_hub::tunnel::Timeouts = gambi_hub::tunnel::Timeouts {
    start: Duration::from_secs(600),
    idle: Duration::from_secs(300),
};

/// A `tunnel.request` as the inference plane builds one.
pub(crate) fn tunnel_request(
    request_id: &str,
    body: Option<Value>,
) -> gambi_protocol::TunnelRequest {
    gambi_protocol::TunnelRequest {
        request_id: request_id.to_owned(),
        operation: "chat.completions.create".to_owned(),
        method: "POST".to_owned(),
        path: "/v1/chat/completions".to_owned(),
        headers: body
            .is_some()
            .then(|| ("Content-Type".to_owned(), "application/json".to_owned()))
            .into_iter()
            .collect(),
        body,
        stream: true,
        metadata: None,
    }
}
