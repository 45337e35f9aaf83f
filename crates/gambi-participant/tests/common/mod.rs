//! A mock hub and a mock provider on 127.0.0.1:0, driven by the tests through channels.
//!
//! Every test binary uses a different subset of these helpers.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use gambi_participant::SessionOptions;
use gambi_protocol as proto;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use url::Url;

/// Waits for `future`, failing the test after `limit` (a guard against hangs, never a
/// way to wait for something).
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .expect("the awaited event never happened")
}

/// Serves `router` on 127.0.0.1:0.
pub async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        axum::serve(no_delay(listener), router)
            .await
            .expect("serve");
    });
    addr
}

/// Turns off Nagle's algorithm on accepted sockets, as a real hub or provider serving
/// token streams should; otherwise small frames wait for delayed acknowledgements.
fn no_delay(listener: tokio::net::TcpListener) -> impl axum::serve::Listener<Addr = SocketAddr> {
    use axum::serve::ListenerExt as _;
    listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    })
}

/// Serves `router` on 127.0.0.1:0; aborting the returned task closes the listener.
pub async fn serve_abortable(router: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    let server = tokio::spawn(async move {
        axum::serve(no_delay(listener), router)
            .await
            .expect("serve");
    });
    (addr, server)
}

/// `http://{addr}`.
pub fn http_url(addr: SocketAddr) -> Url {
    Url::parse(&format!("http://{addr}")).expect("a URL")
}

/// An address on which nothing listens.
pub async fn dead_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address")
}

// ---------------------------------------------------------------------------------------
// Mock provider

/// A request the mock provider received (other than probes), with a way to answer it.
pub struct Incoming {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    respond: oneshot::Sender<Response>,
}

impl Incoming {
    /// Answers with `response`.
    pub fn respond(self, response: Response) {
        let _ = self.respond.send(response);
    }

    /// Answers 200 with a body that streams whatever the returned handle sends; the
    /// handle's `dropped` fires when the provider's server drops the body (the client went
    /// away).
    pub fn respond_streaming(self) -> StreamHandle {
        let (chunks_tx, chunks_rx) = mpsc::unbounded_channel::<Bytes>();
        let (dropped_tx, dropped_rx) = oneshot::channel();
        let guard = DropSignal(Some(dropped_tx));
        let stream = futures::stream::unfold((chunks_rx, guard), |(mut rx, guard)| async move {
            rx.recv()
                .await
                .map(|chunk| (Ok::<_, Infallible>(chunk), (rx, guard)))
        });
        let response = Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream))
            .expect("a response");
        self.respond(response);
        StreamHandle {
            chunks: Some(chunks_tx),
            dropped: dropped_rx,
        }
    }
}

struct DropSignal(Option<oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(signal) = self.0.take() {
            let _ = signal.send(());
        }
    }
}

/// Feeds a streamed provider response.
pub struct StreamHandle {
    chunks: Option<mpsc::UnboundedSender<Bytes>>,
    pub dropped: oneshot::Receiver<()>,
}

impl StreamHandle {
    /// Sends one piece of the body.
    pub fn send(&self, chunk: &'static str) {
        if let Some(chunks) = &self.chunks {
            let _ = chunks.send(Bytes::from_static(chunk.as_bytes()));
        }
    }

    /// Ends the body.
    pub fn finish(&mut self) {
        self.chunks = None;
    }
}

/// The mock provider: an Ollama-like model listing, probe answers, and every other
/// request handed to the test.
pub struct MockProvider {
    pub addr: SocketAddr,
    pub models: Arc<Mutex<Vec<String>>>,
    pub requests: mpsc::UnboundedReceiver<Incoming>,
}

impl MockProvider {
    /// A provider listing `models` on `/api/tags`, answering the protocol probes 400.
    pub async fn start(models: &[&str]) -> Self {
        let models = Arc::new(Mutex::new(
            models.iter().map(|m| (*m).to_owned()).collect::<Vec<_>>(),
        ));
        let (requests_tx, requests) = mpsc::unbounded_channel();
        let state = ProviderState {
            models: Arc::clone(&models),
            requests: requests_tx,
        };
        let router = Router::new()
            .route("/api/tags", get(provider_tags))
            .fallback(provider_any)
            .with_state(state);
        Self {
            addr: serve(router).await,
            models,
            requests,
        }
    }

    pub fn url(&self) -> Url {
        http_url(self.addr)
    }

    /// The next forwarded request.
    pub async fn next_request(&mut self) -> Incoming {
        within(self.requests.recv())
            .await
            .expect("provider still running")
    }
}

#[derive(Clone)]
struct ProviderState {
    models: Arc<Mutex<Vec<String>>>,
    requests: mpsc::UnboundedSender<Incoming>,
}

async fn provider_tags(State(state): State<ProviderState>) -> Response {
    let models: Vec<Value> = state
        .models
        .lock()
        .expect("lock")
        .iter()
        .map(|name| json!({"name": name, "size": 1}))
        .collect();
    axum::Json(json!({ "models": models })).into_response()
}

async fn provider_any(
    State(state): State<ProviderState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if method == Method::POST && &body[..] == b"{}" {
        // A capability probe.
        return (StatusCode::BAD_REQUEST, "missing model").into_response();
    }
    let (respond, answer) = oneshot::channel();
    let incoming = Incoming {
        method,
        path,
        headers,
        body,
        respond,
    };
    if state.requests.send(incoming).is_err() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    answer
        .await
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

// ---------------------------------------------------------------------------------------
// Mock hub

/// A management call the mock hub received.
#[derive(Debug, Clone)]
pub enum HubCall {
    Put {
        body: Value,
        raw: String,
        session: Option<String>,
    },
    Heartbeat {
        session: Option<String>,
        at: Instant,
    },
    Delete {
        session: Option<String>,
    },
}

/// How the mock hub answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// `None`: register. `Some`: answer with this error.
    pub put_error: Option<(u16, &'static str, &'static str)>,
    /// `None`: accept. `Some`: answer with this error.
    pub heartbeat_error: Option<(u16, &'static str, &'static str)>,
    /// Session token handed out on registration.
    pub session_token: Option<String>,
    /// Answer `tunnel.ping` with `tunnel.pong`.
    pub auto_pong: bool,
    /// Refuse every tunnel upgrade.
    pub reject_tunnels: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            put_error: None,
            heartbeat_error: None,
            session_token: Some("sess-1".into()),
            auto_pong: true,
            reject_tunnels: false,
        }
    }
}

/// What the hub's side of a tunnel saw.
#[derive(Debug)]
pub enum Seen {
    Frame {
        frame: proto::ParticipantToHub,
        raw: String,
        at: Instant,
    },
    Closed,
}

/// The hub's side of one tunnel connection.
pub struct HubTunnel {
    pub token: String,
    to_participant: mpsc::UnboundedSender<Message>,
    from_participant: mpsc::UnboundedReceiver<Seen>,
    /// Every raw text frame received, for secret checks.
    pub raw_log: Arc<Mutex<Vec<String>>>,
}

impl HubTunnel {
    pub fn send(&self, frame: &proto::HubToParticipant) {
        self.send_raw(&frame.to_json());
    }

    pub fn send_raw(&self, text: &str) {
        let _ = self
            .to_participant
            .send(Message::Text(text.to_owned().into()));
    }

    /// Closes the socket from the hub's side.
    pub fn close(&self) {
        self.close_with(4004, "Participant removed from the room.");
    }

    /// Closes the socket from the hub's side with `code` and `reason`.
    pub fn close_with(&self, code: u16, reason: &str) {
        let _ = self.to_participant.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_owned().into(),
        })));
    }

    /// The next thing seen, pings included.
    pub async fn next_seen(&mut self) -> Seen {
        within(self.from_participant.recv())
            .await
            .unwrap_or(Seen::Closed)
    }

    /// The next frame other than a ping; panics if the tunnel closes first.
    pub async fn next_frame(&mut self) -> proto::ParticipantToHub {
        loop {
            match self.next_seen().await {
                Seen::Frame {
                    frame: proto::ParticipantToHub::Ping { .. },
                    ..
                } => {}
                Seen::Frame { frame, .. } => return frame,
                Seen::Closed => panic!("tunnel closed while waiting for a frame"),
            }
        }
    }

    /// Waits until the participant closes the tunnel, returning the frames seen meanwhile
    /// (pings excluded).
    pub async fn until_closed(&mut self) -> Vec<proto::ParticipantToHub> {
        let mut frames = Vec::new();
        loop {
            match self.next_seen().await {
                Seen::Frame {
                    frame: proto::ParticipantToHub::Ping { .. },
                    ..
                } => {}
                Seen::Frame { frame, .. } => frames.push(frame),
                Seen::Closed => return frames,
            }
        }
    }
}

#[derive(Clone)]
struct HubState {
    addr: Arc<Mutex<Option<SocketAddr>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    tokens: Arc<Mutex<HashSet<String>>>,
    counter: Arc<Mutex<u32>>,
    calls: mpsc::UnboundedSender<HubCall>,
    tunnels: mpsc::UnboundedSender<HubTunnel>,
    known: Arc<Mutex<bool>>,
}

/// The mock hub: registration, heartbeat, leave and the tunnel route of one room.
pub struct MockHub {
    pub addr: SocketAddr,
    pub behaviour: Arc<Mutex<Behaviour>>,
    calls: mpsc::UnboundedReceiver<HubCall>,
    tunnels: mpsc::UnboundedReceiver<HubTunnel>,
}

impl MockHub {
    pub async fn start() -> Self {
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let (tunnels_tx, tunnels) = mpsc::unbounded_channel();
        let state = HubState {
            addr: Arc::new(Mutex::new(None)),
            behaviour: Arc::new(Mutex::new(Behaviour::default())),
            tokens: Arc::default(),
            counter: Arc::default(),
            calls: calls_tx,
            tunnels: tunnels_tx,
            known: Arc::default(),
        };
        let behaviour = Arc::clone(&state.behaviour);
        let addr_slot = Arc::clone(&state.addr);
        let router = Router::new()
            .route(
                "/v1/rooms/{code}/participants/{id}",
                put(hub_put).delete(hub_delete),
            )
            .route(
                "/v1/rooms/{code}/participants/{id}/heartbeat",
                post(hub_heartbeat),
            )
            .route("/v1/rooms/{code}/participants/{id}/tunnel", get(hub_tunnel))
            .with_state(state);
        let addr = serve(router).await;
        *addr_slot.lock().expect("lock") = Some(addr);
        Self {
            addr,
            behaviour,
            calls,
            tunnels,
        }
    }

    pub fn url(&self) -> Url {
        http_url(self.addr)
    }

    pub fn set(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.behaviour.lock().expect("lock"));
    }

    /// The next management call.
    pub async fn next_call(&mut self) -> HubCall {
        within(self.calls.recv()).await.expect("hub still running")
    }

    /// Every management call received so far and not yet taken.
    pub fn drain_calls(&mut self) -> Vec<HubCall> {
        let mut calls = Vec::new();
        while let Ok(call) = self.calls.try_recv() {
            calls.push(call);
        }
        calls
    }

    /// The next opened tunnel.
    pub async fn next_tunnel(&mut self) -> HubTunnel {
        within(self.tunnels.recv())
            .await
            .expect("hub still running")
    }

    /// Options for a session against this hub and `provider`.
    pub fn options(&self, provider: &Url, model: &str) -> SessionOptions {
        SessionOptions::new(
            self.url(),
            "ABC123",
            "alice",
            "Alice",
            model,
            provider.clone(),
        )
    }
}

fn error_response(status: u16, code: &str, message: &str) -> Response {
    let body = json!({
        "error": {"code": code, "message": message, "hint": "A hint."},
        "meta": {"requestId": "req-1"}
    });
    (
        StatusCode::from_u16(status).expect("valid status"),
        axum::Json(body),
    )
        .into_response()
}

fn session_header(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-gambi-session")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn hub_put(
    State(state): State<HubState>,
    Path((code, id)): Path<(String, String)>,
    headers: HeaderMap,
    raw: String,
) -> Response {
    let body: Value = serde_json::from_str(&raw).expect("registration is JSON");
    // Decide the answer before telling the test, so that a test reacting to the call
    // by changing the behaviour only affects later calls.
    let behaviour = state.behaviour.lock().expect("lock").clone();
    let _ = state.calls.send(HubCall::Put {
        body: body.clone(),
        raw: raw.clone(),
        session: session_header(&headers),
    });
    if let Some((status, code, message)) = behaviour.put_error {
        return error_response(status, code, message);
    }
    let token = {
        let mut counter = state.counter.lock().expect("lock");
        *counter += 1;
        format!("tok-{counter}")
    };
    state.tokens.lock().expect("lock").insert(token.clone());
    let created = {
        let mut known = state.known.lock().expect("lock");
        !std::mem::replace(&mut *known, true)
    };
    let addr = state.addr.lock().expect("lock").expect("address set");
    let participant = json!({
        "id": id, "nickname": body["nickname"], "model": body["model"],
        "endpoint": body["endpoint"], "capabilities": body["capabilities"],
        "status": "offline", "joinedAt": 1, "lastSeen": 1, "updatedAt": 1,
        "maxConcurrency": body["maxConcurrency"],
    });
    let mut data = json!({
        "participant": participant,
        "roomId": "room-1",
        "tunnel": {
            "url": format!("ws://{addr}/v1/rooms/{code}/participants/{id}/tunnel"),
            "token": token,
        },
    });
    if let Some(session) = behaviour.session_token {
        data["sessionToken"] = json!(session);
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        axum::Json(json!({"data": data, "meta": {"requestId": "req-1"}})),
    )
        .into_response()
}

async fn hub_heartbeat(State(state): State<HubState>, headers: HeaderMap) -> Response {
    let behaviour = state.behaviour.lock().expect("lock").clone();
    let _ = state.calls.send(HubCall::Heartbeat {
        session: session_header(&headers),
        at: Instant::now(),
    });
    if let Some((status, code, message)) = behaviour.heartbeat_error {
        return error_response(status, code, message);
    }
    axum::Json(json!({
        "data": {"success": true, "status": "online", "lastSeen": 2},
        "meta": {"requestId": "req-2"}
    }))
    .into_response()
}

async fn hub_delete(State(state): State<HubState>, headers: HeaderMap) -> Response {
    let _ = state.calls.send(HubCall::Delete {
        session: session_header(&headers),
    });
    axum::Json(json!({"data": {"success": true}, "meta": {"requestId": "req-3"}})).into_response()
}

async fn hub_tunnel(
    State(state): State<HubState>,
    Query(query): Query<BTreeMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(token) = query.get("token").cloned() else {
        return error_response(400, "INVALID_REQUEST", "Tunnel token is required.");
    };
    let rejecting = state.behaviour.lock().expect("lock").reject_tunnels;
    if rejecting || !state.tokens.lock().expect("lock").remove(&token) {
        return error_response(
            401,
            "INVALID_REQUEST",
            "Tunnel token is invalid or expired.",
        );
    }
    upgrade.on_upgrade(move |socket| hub_socket(socket, state, token))
}

async fn hub_socket(mut socket: WebSocket, state: HubState, token: String) {
    let (to_participant, mut outgoing) = mpsc::unbounded_channel::<Message>();
    let (seen_tx, from_participant) = mpsc::unbounded_channel();
    let raw_log = Arc::new(Mutex::new(Vec::new()));
    let tunnel = HubTunnel {
        token,
        to_participant,
        from_participant,
        raw_log: Arc::clone(&raw_log),
    };
    if state.tunnels.send(tunnel).is_err() {
        return;
    }
    loop {
        tokio::select! {
            message = outgoing.recv() => {
                let Some(message) = message else { break };
                let closing = matches!(message, Message::Close(_));
                if socket.send(message).await.is_err() || closing {
                    break;
                }
            }
            received = socket.recv() => {
                let text = match received {
                    Some(Ok(Message::Text(text))) => text.to_string(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                raw_log.lock().expect("lock").push(text.clone());
                let frame = proto::ParticipantToHub::from_json(&text).expect("valid frame");
                let auto_pong = state.behaviour.lock().expect("lock").auto_pong;
                if auto_pong && matches!(frame, proto::ParticipantToHub::Ping { .. }) {
                    let pong = proto::HubToParticipant::Pong { timestamp: 1 }.to_json();
                    let _ = socket.send(Message::Text(pong.into())).await;
                }
                let _ = seen_tx.send(Seen::Frame { frame, raw: text, at: Instant::now() });
            }
        }
    }
    let _ = seen_tx.send(Seen::Closed);
}

/// A `tunnel.request` for the chat route.
pub fn chat_request(request_id: &str, stream: bool) -> proto::HubToParticipant {
    proto::HubToParticipant::Request(proto::TunnelRequest {
        request_id: request_id.to_owned(),
        operation: "chat.completions.create".into(),
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        headers: BTreeMap::from([("Content-Type".to_owned(), "application/json".to_owned())]),
        body: Some(json!({"model": "llama3:latest", "stream": stream, "messages": []})),
        stream,
        metadata: None,
    })
}

/// The bytes of a chunk frame, or `None` for other frames.
pub fn chunk_bytes(frame: &proto::ParticipantToHub) -> Option<Vec<u8>> {
    match frame {
        proto::ParticipantToHub::ResponseChunk { chunk, .. } => {
            Some(proto::tunnel::decode_chunk(chunk).expect("valid base64"))
        }
        _ => None,
    }
}
