//! A scripted fake OpenAI-compatible provider on a real socket on `127.0.0.1`.
//!
//! [`FakeProvider`] speaks the Chat Completions and Responses APIs (streamed and not, with
//! usage), lists its models on `GET /v1/models` and optionally Ollama's `GET /api/tags`, and
//! keeps created Responses for the lifecycle routes. What it answers is scripted with
//! [`Reply`] values in a FIFO queue, falling back to a default reply. Tests observe every
//! request it received and count requests in flight, completed and aborted (the client went
//! away before the whole body was sent), and can wait for those counts without sleeping.
//!
//! ```no_run
//! # async fn demo() {
//! use gambi_test_support::{FakeProvider, Reply};
//!
//! let provider = FakeProvider::builder().models(["llama3:latest"]).start().await;
//! provider.push_reply(Reply::text("Hello there"));
//! let base = provider.base_url(); // "http://127.0.0.1:PORT", no /v1
//! // ... point a participant at `base`, send a request through the hub ...
//! provider.wait_for_requests(1).await;
//! assert_eq!(provider.requests()[0].path, "/v1/chat/completions");
//! # }
//! ```
//!
//! Behaviour worth knowing:
//! - Requests are checked in this order: the required header (401), the route (404 in the
//!   configured [`MissingRoute`] style, 405 for a known path with another method), the body
//!   (400; an empty `{}` probe gets 400 on both create routes, so capability probing sees the
//!   route exists), the model (404 `model_not_found`, which is not a missing route). Only then
//!   is a scripted reply taken from the queue.
//! - Delays use `tokio::time::sleep`, so tests with paused time run them instantly and
//!   deterministically. `first_token_delay` comes before the first generated event (for Chat
//!   Completions the role chunk, for Responses `response.output_item.added`), and
//!   `token_delay` between consecutive token events. A non-streamed answer waits for the
//!   whole generation first.
//! - Each SSE event is written and flushed on its own, never batched with the next one.
//! - The `wait_for_*` methods wait indefinitely; wrap them in a timeout if a test must not
//!   hang. (With paused time, a timeout can fire while a socket is still busy, so prefer a
//!   generous real-time one or none.)

mod answers;
mod chat;
mod handler;
mod models;
mod reply;
mod responses;
mod server;
mod state;
mod stream;
mod text;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;

pub use reply::{FinishReason, Reply, StreamFailure, Usage};
pub use state::{ProviderStats, RecordedRequest};

use server::Server;
use state::Shared;

/// The model a provider offers when none is configured.
pub const DEFAULT_MODEL: &str = "fake-model";

/// Which inference APIs the provider serves. The other one answers like a missing route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Protocols {
    /// Chat Completions and Responses.
    #[default]
    Both,
    /// Only `POST /v1/chat/completions` (like Ollama or an older llama.cpp server).
    ChatOnly,
    /// Only the Responses routes.
    ResponsesOnly,
}

impl Protocols {
    fn chat_completions(self) -> bool {
        matches!(self, Self::Both | Self::ChatOnly)
    }

    fn responses(self) -> bool {
        matches!(self, Self::Both | Self::ResponsesOnly)
    }
}

/// How an unknown route (or a protocol the provider doesn't speak) is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MissingRoute {
    /// FastAPI style (vLLM, many Python servers): `404 {"detail":"Not Found"}`, and
    /// `405 {"detail":"Method Not Allowed"}`.
    #[default]
    JsonDetail,
    /// Go style (Ollama): `404` with the plain-text body `404 page not found`, and `405` with
    /// `405 method not allowed`.
    PlainText,
}

/// A header every request must carry, e.g. `Authorization: Bearer secret`. Requests without it
/// get `401` with an OpenAI error body. Its `Debug` hides the value.
#[derive(Clone, PartialEq, Eq)]
pub struct RequiredHeader {
    /// The header name, matched case-insensitively.
    pub name: String,
    /// The exact value expected.
    pub value: String,
}

impl RequiredHeader {
    /// `Authorization: Bearer <key>`, the way OpenAI SDKs send an API key.
    pub fn bearer(key: &str) -> Self {
        Self {
            name: "authorization".to_owned(),
            value: format!("Bearer {key}"),
        }
    }
}

impl fmt::Debug for RequiredHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequiredHeader")
            .field("name", &self.name)
            .field("value", &"<redacted>")
            .finish()
    }
}

/// How the provider behaves. Every field has a sensible default; see
/// [`FakeProvider::builder`] for a chained way to set them.
#[derive(Debug, Clone)]
pub struct FakeProviderConfig {
    /// Which inference APIs are served. Default: both.
    pub protocols: Protocols,
    /// How unknown routes are answered. Default: [`MissingRoute::JsonDetail`].
    pub missing_route: MissingRoute,
    /// Whether Ollama's `GET /api/tags` is served next to `GET /v1/models`. Default: no.
    pub ollama_tags: bool,
    /// The model names offered; requests for others get 404 `model_not_found`.
    /// Default: [`DEFAULT_MODEL`].
    pub models: Vec<String>,
    /// A header every request must carry. Default: none.
    pub required_header: Option<RequiredHeader>,
    /// The reply used when the scripted queue is empty. Default: [`Reply::default`].
    pub default_reply: Reply,
    /// Pause between consecutive token events. Default: zero.
    pub token_delay: Duration,
    /// Pause before the first generated event. Default: zero.
    pub first_token_delay: Duration,
    /// Whether requests are kept for [`FakeProvider::requests`]. Turn it off for benchmarks;
    /// the counters work either way. Default: on.
    pub record_requests: bool,
}

impl Default for FakeProviderConfig {
    fn default() -> Self {
        Self {
            protocols: Protocols::default(),
            missing_route: MissingRoute::default(),
            ollama_tags: false,
            models: vec![DEFAULT_MODEL.to_owned()],
            required_header: None,
            default_reply: Reply::default(),
            token_delay: Duration::ZERO,
            first_token_delay: Duration::ZERO,
            record_requests: true,
        }
    }
}

/// A fake OpenAI-compatible provider serving on `127.0.0.1`. It stops when dropped.
#[derive(Debug)]
pub struct FakeProvider {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Mutex<Option<Server>>,
}

impl FakeProvider {
    /// Starts a provider on `127.0.0.1` with a free port.
    ///
    /// # Panics
    /// If no port can be bound on `127.0.0.1`.
    pub async fn start(config: FakeProviderConfig) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("FakeProvider: binding 127.0.0.1:0 failed");
        Self::start_on(listener, config)
    }

    /// Starts a provider on a listener the caller bound (it should be on `127.0.0.1`). Must be
    /// called within a tokio runtime.
    ///
    /// # Panics
    /// If the listener has no local address.
    pub fn start_on(listener: TcpListener, config: FakeProviderConfig) -> Self {
        let addr = listener
            .local_addr()
            .expect("FakeProvider: the listener has no local address");
        let shared = Arc::new(Shared::new(config));
        let server = Server::spawn(listener, handler::router(Arc::clone(&shared)), addr);
        Self {
            shared,
            addr,
            server: Mutex::new(Some(server)),
        }
    }

    /// A builder over [`FakeProviderConfig`].
    pub fn builder() -> FakeProviderBuilder {
        FakeProviderBuilder::default()
    }

    /// The provider's base URL, `http://127.0.0.1:PORT`, without `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the provider listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &FakeProviderConfig {
        &self.shared.config
    }

    /// Queues a reply; generation requests take queued replies in order.
    pub fn push_reply(&self, reply: Reply) {
        self.shared.push_reply(reply);
    }

    /// Queues several replies, in order.
    pub fn push_replies(&self, replies: impl IntoIterator<Item = Reply>) {
        for reply in replies {
            self.shared.push_reply(reply);
        }
    }

    /// Replaces the reply used when the queue is empty.
    pub fn set_default_reply(&self, reply: Reply) {
        self.shared.set_default_reply(reply);
    }

    /// Drops every queued reply.
    pub fn clear_replies(&self) {
        self.shared.clear_replies();
    }

    /// How many queued replies are still unused.
    pub fn pending_replies(&self) -> usize {
        self.shared.pending_replies()
    }

    /// Every request received so far, in arrival order (empty if recording is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// The latest request received, if any was recorded.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.requests().pop()
    }

    /// Forgets the recorded requests (the counters keep counting).
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Response body bytes handed to the connection so far, every request together. A
    /// client (or a hub) that stops reading holds this back: the connection takes only
    /// what its socket buffers hold.
    pub fn body_bytes_sent(&self) -> u64 {
        self.shared.body_bytes()
    }

    /// A snapshot of all counters.
    pub fn stats(&self) -> ProviderStats {
        self.shared.stats()
    }

    /// Requests received so far, on any route.
    pub fn request_count(&self) -> usize {
        self.stats().received
    }

    /// Requests currently being answered (their response not yet fully sent), on any route.
    pub fn in_flight(&self) -> usize {
        self.stats().in_flight
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.stats().max_in_flight
    }

    /// Requests whose response was fully handed to the connection.
    pub fn completed_count(&self) -> usize {
        self.stats().completed
    }

    /// Requests the client abandoned before the response body was fully sent.
    pub fn aborted_count(&self) -> usize {
        self.stats().aborted
    }

    /// Waits until the counters satisfy `condition`, and returns them. Cancel safe.
    pub async fn wait_until(
        &self,
        mut condition: impl FnMut(&ProviderStats) -> bool,
    ) -> ProviderStats {
        let mut stats = self.shared.subscribe();
        let satisfied = stats
            .wait_for(|current| condition(current))
            .await
            .expect("FakeProvider: the counters live as long as the provider");
        *satisfied
    }

    /// Waits until at least `count` requests were received. Cancel safe.
    pub async fn wait_for_requests(&self, count: usize) {
        self.wait_until(|stats| stats.received >= count).await;
    }

    /// Waits until at least one request was aborted by its client. Cancel safe.
    pub async fn wait_for_abort(&self) {
        self.wait_for_aborts(1).await;
    }

    /// Waits until at least `count` requests were aborted by their clients. Cancel safe.
    pub async fn wait_for_aborts(&self, count: usize) {
        self.wait_until(|stats| stats.aborted >= count).await;
    }

    /// Waits until at least `count` requests are in flight at the same time. Cancel safe.
    pub async fn wait_for_in_flight(&self, count: usize) {
        self.wait_until(|stats| stats.in_flight >= count).await;
    }

    /// Waits until no request is in flight. Cancel safe.
    pub async fn wait_for_idle(&self) {
        self.wait_until(|stats| stats.in_flight == 0).await;
    }

    /// A stored Response object by id (as `GET /v1/responses/{id}` would return it).
    pub fn stored_response(&self, id: &str) -> Option<Value> {
        self.shared
            .responses()
            .get(id)
            .map(|stored| stored.object.clone())
    }

    /// Whether the server is accepting connections.
    pub fn is_running(&self) -> bool {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Makes the provider unreachable: stops listening and closes every open connection,
    /// cutting requests in progress (they count as aborted). Returns once the port is closed. Scripted replies,
    /// recorded requests and stored responses are kept for [`restart`](Self::restart).
    pub async fn shutdown(&self) {
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(server) = server {
            server.stop().await;
        }
    }

    /// Serves again on the same port after [`shutdown`](Self::shutdown), with the same state.
    /// Does nothing if it is running.
    ///
    /// # Errors
    /// If the port cannot be bound again (something else took it).
    pub async fn restart(&self) -> std::io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let listener = TcpListener::bind(self.addr).await?;
        let server = Server::spawn(
            listener,
            handler::router(Arc::clone(&self.shared)),
            self.addr,
        );
        let mut slot = self.server.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(server);
        }
        Ok(())
    }
}

/// Builds and starts a [`FakeProvider`]; every setter has the default of
/// [`FakeProviderConfig`].
#[derive(Debug, Clone, Default)]
pub struct FakeProviderBuilder {
    config: FakeProviderConfig,
}

impl FakeProviderBuilder {
    /// Serves these inference APIs.
    #[must_use]
    pub fn protocols(mut self, protocols: Protocols) -> Self {
        self.config.protocols = protocols;
        self
    }

    /// Serves only Chat Completions.
    #[must_use]
    pub fn chat_only(self) -> Self {
        self.protocols(Protocols::ChatOnly)
    }

    /// Serves only the Responses API.
    #[must_use]
    pub fn responses_only(self) -> Self {
        self.protocols(Protocols::ResponsesOnly)
    }

    /// Answers unknown routes in this style.
    #[must_use]
    pub fn missing_route(mut self, style: MissingRoute) -> Self {
        self.config.missing_route = style;
        self
    }

    /// Looks like Ollama: serves `GET /api/tags` and answers unknown routes with the plain-text
    /// `404 page not found`. (Ollama also speaks Responses nowadays; combine with
    /// [`chat_only`](Self::chat_only) for an older one.)
    #[must_use]
    pub fn ollama(mut self) -> Self {
        self.config.ollama_tags = true;
        self.config.missing_route = MissingRoute::PlainText;
        self
    }

    /// Offers these models.
    #[must_use]
    pub fn models<I, S>(mut self, models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.models = models.into_iter().map(Into::into).collect();
        self
    }

    /// Requires header `name: value` on every request.
    #[must_use]
    pub fn require_header(mut self, name: &str, value: &str) -> Self {
        self.config.required_header = Some(RequiredHeader {
            name: name.to_ascii_lowercase(),
            value: value.to_owned(),
        });
        self
    }

    /// Requires `Authorization: Bearer <key>` on every request.
    #[must_use]
    pub fn require_bearer(mut self, key: &str) -> Self {
        self.config.required_header = Some(RequiredHeader::bearer(key));
        self
    }

    /// Uses this reply when the queue is empty.
    #[must_use]
    pub fn default_reply(mut self, reply: Reply) -> Self {
        self.config.default_reply = reply;
        self
    }

    /// Pauses this long between consecutive token events.
    #[must_use]
    pub fn token_delay(mut self, delay: Duration) -> Self {
        self.config.token_delay = delay;
        self
    }

    /// Pauses this long before the first generated event.
    #[must_use]
    pub fn first_token_delay(mut self, delay: Duration) -> Self {
        self.config.first_token_delay = delay;
        self
    }

    /// Keeps (or not) every request for [`FakeProvider::requests`].
    #[must_use]
    pub fn record_requests(mut self, record: bool) -> Self {
        self.config.record_requests = record;
        self
    }

    /// The configuration built so far.
    pub fn config(self) -> FakeProviderConfig {
        self.config
    }

    /// Starts the provider on `127.0.0.1` with a free port.
    ///
    /// # Panics
    /// If no port can be bound on `127.0.0.1`.
    pub async fn start(self) -> FakeProvider {
        FakeProvider::start(self.config).await
    }
}
