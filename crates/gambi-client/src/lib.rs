//! A typed client for a Gambi hub.
//!
//! [`Client`] mirrors the hub's management API (`/v1/*`) one call per route: health, rooms,
//! participants and the room event stream. Every call returns the hub's `{data, meta}`
//! envelope, typed with [`gambi_protocol`]'s wire types, or a [`ClientError`] shaped like
//! the hub's error envelope (status, code, message, hint, details, request id).
//!
//! For the inference plane the client only builds URLs and `model` strings ([`Room`],
//! [`inference`]): point any OpenAI SDK at the room's base URL, with the room password
//! (if any) as the API key; the `openai_room` example does it with `async-openai`.
//! [`discovery`] finds hubs (the configured one, a static list, mDNS) and their rooms.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use gambi_client::Client;
//! use gambi_protocol as proto;
//!
//! let client = Client::new("http://localhost:3000")?;
//! let created = client
//!     .rooms()
//!     .create(&proto::CreateRoomRequest { name: "Lab".into(), ..Default::default() })
//!     .await?;
//! assert_eq!(created.data.room.name, "Lab");
//! # Ok(()) }
//! ```
//!
//! Like every library crate of Gambi, this one reads no environment variables or files and
//! prints nothing; it logs through `tracing`.

pub mod discovery;
mod error;
mod events;
pub mod inference;
mod room;

use std::time::Duration;

use gambi_protocol as proto;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

pub use error::{ClientError, ErrorKind, NewClientError};
pub use events::RoomEventStream;
pub use gambi_protocol::LlmProtocol;
pub use room::{OPEN_ROOM_API_KEY, Room};

/// Default limit on one management call, connecting included. Event streams have none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest management response body the client reads.
pub const MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;

/// Longest wait for a TCP connection to the hub.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// TCP keep-alive probes let a watcher notice a hub that vanished without closing the
/// connection, also with hubs that send no SSE keep-alives.
const TCP_KEEPALIVE: Duration = Duration::from_secs(30);

/// A client of one hub. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    hub_url: String,
    token: Option<String>,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("hub_url", &self.hub_url)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the hub at `hub_url` (e.g. `http://localhost:3000`). One trailing `/`
    /// is dropped; the URL must be absolute `http` or `https`, without query or fragment.
    /// It may carry a path prefix (a hub behind a reverse proxy).
    ///
    /// ```
    /// use gambi_client::{Client, NewClientError};
    ///
    /// let client = Client::new("http://hub.lan:3000/")?;
    /// assert_eq!(client.hub_url(), "http://hub.lan:3000");
    /// assert!(matches!(
    ///     Client::new("hub.lan:3000"),
    ///     Err(NewClientError::InvalidHubUrl { .. })
    /// ));
    /// # Ok::<(), NewClientError>(())
    /// ```
    pub fn new(hub_url: &str) -> Result<Self, NewClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_keepalive(TCP_KEEPALIVE)
            .user_agent(concat!("gambi-client/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Self::with_http_client(hub_url, http)
    }

    /// Like [`Client::new`], over an HTTP client the caller built: to share its connection
    /// pool, or to choose its own proxy, redirect and connection settings. The time limit
    /// of each call is still the client's ([`Client::with_timeout`]).
    pub fn with_http_client(hub_url: &str, http: reqwest::Client) -> Result<Self, NewClientError> {
        let hub_url = hub_url.strip_suffix('/').unwrap_or(hub_url).to_owned();
        let base = check_hub_url(&hub_url)?;
        Ok(Self {
            http,
            base,
            hub_url,
            token: None,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sends `Authorization: Bearer <token>` with every call: the hub's admin token (to
    /// create and list rooms on a hub that requires it) or a room password (to watch a
    /// protected room's events, or remove a participant from it).
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Limits each management call to `timeout` (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The hub URL, normalised (no trailing `/`).
    pub fn hub_url(&self) -> &str {
        &self.hub_url
    }

    /// `GET /v1/health`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let hub = gambi_test_support::TestHub::start().await;
    /// # let hub_url = hub.url();
    /// let client = gambi_client::Client::new(&hub_url)?;
    /// let health = client.health().await?;
    /// assert_eq!(health.data.status, "ok");
    /// println!("hub version {:?}", health.data.version);
    /// # Ok(()) }
    /// ```
    pub async fn health(&self) -> Result<proto::Envelope<proto::HealthResponse>, ClientError> {
        let request = self.request(Method::GET, &["v1", "health"]);
        Ok(self.send(request).await?.1)
    }

    /// Room routes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let hub = gambi_test_support::TestHub::start().await;
    /// # let hub_url = hub.url();
    /// use gambi_protocol as proto;
    ///
    /// let client = gambi_client::Client::new(&hub_url)?;
    /// let created = client
    ///     .rooms()
    ///     .create(&proto::CreateRoomRequest {
    ///         name: "Lab".into(),
    ///         password: Some("s3cret".into()),
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// let code = created.data.room.code;
    /// let room = client.rooms().get(&code).await?;
    /// assert!(room.data.password_protected);
    /// let listed = client.rooms().list().await?;
    /// assert_eq!(listed.data.len(), 1);
    /// # Ok(()) }
    /// ```
    pub fn rooms(&self) -> RoomsApi<'_> {
        RoomsApi { client: self }
    }

    /// Participant routes. A participant runtime (`gambi-participant`) makes these calls
    /// for you; they are here for tools that manage participants.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let hub = gambi_test_support::TestHub::start().await;
    /// # let hub_url = hub.url();
    /// use gambi_protocol as proto;
    ///
    /// let client = gambi_client::Client::new(&hub_url)?;
    /// # let request = proto::CreateRoomRequest { name: "Lab".into(), ..Default::default() };
    /// # let code = client.rooms().create(&request).await?.data.room.code;
    /// let registration = proto::ParticipantRegistration {
    ///     nickname: "Alice".into(),
    ///     model: "llama3".into(),
    ///     endpoint: "http://localhost:11434".into(),
    ///     ..Default::default()
    /// };
    /// let upserted = client.participants().upsert(&code, "alice", &registration).await?;
    /// assert!(upserted.created());
    /// // Its session credential lets the same participant act while its tunnel is live.
    /// let session = upserted.envelope.data.session_token.clone().unwrap_or_default();
    /// let participants = client.participants().with_session(&session);
    /// participants.heartbeat(&code, "alice").await?;
    /// assert_eq!(participants.list(&code).await?.data[0].id, "alice");
    /// participants.remove(&code, "alice").await?;
    /// # Ok(()) }
    /// ```
    pub fn participants(&self) -> ParticipantsApi<'_> {
        ParticipantsApi {
            client: self,
            session: None,
            timeout: None,
        }
    }

    /// Room event streams.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let hub = gambi_test_support::TestHub::start().await;
    /// # let hub_url = hub.url();
    /// use futures::StreamExt as _;
    /// use gambi_protocol as proto;
    ///
    /// let client = gambi_client::Client::new(&hub_url)?;
    /// # let request = proto::CreateRoomRequest { name: "Lab".into(), ..Default::default() };
    /// # let code = client.rooms().create(&request).await?.data.room.code;
    /// let mut events = client.events().watch_room(&code);
    /// let first = events.next().await.expect("an event")?;
    /// assert_eq!(first.payload.kind(), "connected");
    /// # Ok(()) }
    /// ```
    pub fn events(&self) -> EventsApi<'_> {
        EventsApi { client: self }
    }

    /// The OpenAI-compatible base URL of a room: `{hub}/rooms/{code}/v1`.
    ///
    /// ```
    /// let client = gambi_client::Client::new("http://localhost:3000")?;
    /// assert_eq!(client.inference_base_url("K7QF2M"), "http://localhost:3000/rooms/K7QF2M/v1");
    /// # Ok::<(), gambi_client::NewClientError>(())
    /// ```
    pub fn inference_base_url(&self, code: &str) -> String {
        self.url(&["rooms", code, "v1"]).into()
    }

    /// The URL of one inference route of a room, e.g. `{hub}/rooms/{code}/v1/responses`.
    pub fn inference_url(&self, code: &str, protocol: LlmProtocol) -> String {
        let mut segments = vec!["rooms", code, "v1"];
        segments.extend(protocol.route().split('/'));
        self.url(&segments).into()
    }

    /// Room `code` of this hub, as an OpenAI client sees it: base URL, API key and
    /// routing strings. Add the room's password with [`Room::with_password`].
    ///
    /// ```
    /// let client = gambi_client::Client::new("http://localhost:3000")?;
    /// let room = client.room("K7QF2M");
    /// assert_eq!(room.base_url(), "http://localhost:3000/rooms/K7QF2M/v1");
    /// assert_eq!(room.model("llama3"), "model:llama3");
    /// # Ok::<(), gambi_client::NewClientError>(())
    /// ```
    pub fn room(&self, code: &str) -> Room {
        Room::at(&self.base, &self.hub_url, code)
    }

    /// `{hub}/<segments...>`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        join_segments(&self.base, segments)
    }

    /// A request with the bearer token, without a timeout.
    fn request_untimed(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let request = self.http.request(method, self.url(segments));
        match &self.token {
            Some(token) => match HeaderValue::from_str(&format!("Bearer {token}")) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    request.header(AUTHORIZATION, value)
                }
                // A token that cannot be a header value cannot be right either; leaving it
                // out makes the hub answer 401 with its usual hint.
                Err(_) => request,
            },
            None => request,
        }
    }

    /// A management request: bearer token and timeout.
    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.request_untimed(method, segments).timeout(self.timeout)
    }

    /// Sends a management request and unwraps the envelope.
    async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<(StatusCode, proto::Envelope<T>), ClientError> {
        let response = request
            .send()
            .await
            .map_err(|error| ClientError::unreachable(&self.hub_url, &error))?;
        let status = response.status();
        let request_id = header_request_id(&response);
        let body = read_body(response, &self.hub_url, request_id.clone()).await?;
        if !status.is_success() {
            return Err(ClientError::from_error_body(status, &body, request_id));
        }
        serde_json::from_slice(&body)
            .map(|envelope| (status, envelope))
            .map_err(|error| ClientError::invalid_response(&error.to_string(), request_id))
    }
}

/// Checks a hub URL by the rule of [`Client::new`]: absolute `http` or `https`, with a
/// host, without query or fragment. One trailing `/` is dropped.
///
/// ```
/// let url = gambi_client::parse_hub_url("http://hub.lan/gambi/")?;
/// assert_eq!(url.as_str(), "http://hub.lan/gambi");
/// assert!(gambi_client::parse_hub_url("ws://hub.lan").is_err());
/// # Ok::<(), gambi_client::NewClientError>(())
/// ```
pub fn parse_hub_url(hub_url: &str) -> Result<Url, NewClientError> {
    check_hub_url(hub_url.strip_suffix('/').unwrap_or(hub_url))
}

/// `base` with `segments` appended, each percent-encoded.
fn join_segments(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    // `check_hub_url` only accepts URLs with a host, and those can always take a path.
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// Validates a hub URL (already stripped of one trailing `/`).
fn check_hub_url(hub_url: &str) -> Result<Url, NewClientError> {
    let invalid = |reason: &str| NewClientError::InvalidHubUrl {
        url: hub_url.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(hub_url).map_err(|error| invalid(&error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("a host is required"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("a query or fragment is not allowed"));
    }
    Ok(url)
}

/// The `x-request-id` response header, used when the body has no `meta`.
fn header_request_id(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Reads a response body of at most [`MAX_RESPONSE_BODY`] bytes.
async fn read_body(
    mut response: reqwest::Response,
    hub_url: &str,
    request_id: Option<String>,
) -> Result<Vec<u8>, ClientError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| ClientError::unreachable(hub_url, &error))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BODY {
            return Err(ClientError::invalid_response(
                &format!("the response body exceeds {MAX_RESPONSE_BODY} bytes"),
                request_id,
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Room routes (`/v1/rooms...`). Get one with [`Client::rooms`].
#[derive(Debug, Clone, Copy)]
pub struct RoomsApi<'a> {
    client: &'a Client,
}

impl RoomsApi<'_> {
    /// `POST /v1/rooms`: creates a room (`201`).
    pub async fn create(
        &self,
        request: &proto::CreateRoomRequest,
    ) -> Result<proto::Envelope<proto::CreateRoomResponse>, ClientError> {
        let request = self
            .client
            .request(Method::POST, &["v1", "rooms"])
            .json(request);
        Ok(self.client.send(request).await?.1)
    }

    /// `GET /v1/rooms`: every room, in creation order.
    pub async fn list(&self) -> Result<proto::Envelope<Vec<proto::RoomSummary>>, ClientError> {
        let request = self.client.request(Method::GET, &["v1", "rooms"]);
        Ok(self.client.send(request).await?.1)
    }

    /// `GET /v1/rooms/{code}`.
    pub async fn get(
        &self,
        code: &str,
    ) -> Result<proto::Envelope<proto::RoomSummary>, ClientError> {
        let request = self.client.request(Method::GET, &["v1", "rooms", code]);
        Ok(self.client.send(request).await?.1)
    }
}

/// The answer to a participant upsert: `201` when the participant was created, `200`
/// when it already existed.
#[derive(Debug, Clone)]
pub struct Upserted {
    /// `201` or `200`.
    pub status: u16,
    /// The hub's answer.
    pub envelope: proto::Envelope<proto::UpsertParticipantResponse>,
}

impl Upserted {
    /// Whether the participant was new (`201`).
    pub fn created(&self) -> bool {
        self.status == StatusCode::CREATED.as_u16()
    }
}

/// Participant routes (`/v1/rooms/{code}/participants...`). Get one with
/// [`Client::participants`].
#[derive(Clone, Copy)]
pub struct ParticipantsApi<'a> {
    client: &'a Client,
    session: Option<&'a str>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for ParticipantsApi<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParticipantsApi")
            .field("session", &self.session.map(|_| "[redacted]"))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<'a> ParticipantsApi<'a> {
    /// Sends a participant's session credential (the `sessionToken` of its registration)
    /// as `x-gambi-session`, which lets it re-register or leave while its tunnel is live.
    pub fn with_session(self, session_token: &'a str) -> Self {
        Self {
            session: Some(session_token),
            ..self
        }
    }

    /// Limits the calls made through this value to `timeout`, instead of the client's
    /// limit (e.g. a short one for a best-effort leave on the way out).
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self {
            timeout: Some(timeout),
            ..self
        }
    }

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        let mut request = self.client.request(method, segments);
        if let Some(session) = self.session {
            request = request.header(proto::SESSION_HEADER, session);
        }
        if let Some(timeout) = self.timeout {
            request = request.timeout(timeout);
        }
        request
    }

    /// `GET /v1/rooms/{code}/participants`: every participant, whatever its status.
    pub async fn list(
        &self,
        code: &str,
    ) -> Result<proto::Envelope<Vec<proto::ParticipantSummary>>, ClientError> {
        let request = self.request(Method::GET, &["v1", "rooms", code, "participants"]);
        Ok(self.client.send(request).await?.1)
    }

    /// `PUT /v1/rooms/{code}/participants/{id}`: registers or updates a participant.
    pub async fn upsert(
        &self,
        code: &str,
        id: &str,
        registration: &proto::ParticipantRegistration,
    ) -> Result<Upserted, ClientError> {
        let request = self
            .request(Method::PUT, &["v1", "rooms", code, "participants", id])
            .json(registration);
        let (status, envelope) = self.client.send(request).await?;
        Ok(Upserted {
            status: status.as_u16(),
            envelope,
        })
    }

    /// `DELETE /v1/rooms/{code}/participants/{id}`.
    pub async fn remove(
        &self,
        code: &str,
        id: &str,
    ) -> Result<proto::Envelope<proto::SuccessResponse>, ClientError> {
        let request = self.request(Method::DELETE, &["v1", "rooms", code, "participants", id]);
        Ok(self.client.send(request).await?.1)
    }

    /// `POST /v1/rooms/{code}/participants/{id}/heartbeat`.
    pub async fn heartbeat(
        &self,
        code: &str,
        id: &str,
    ) -> Result<proto::Envelope<proto::HeartbeatResponse>, ClientError> {
        let request = self.request(
            Method::POST,
            &["v1", "rooms", code, "participants", id, "heartbeat"],
        );
        Ok(self.client.send(request).await?.1)
    }
}

/// Room event streams. Get one with [`Client::events`].
#[derive(Debug, Clone, Copy)]
pub struct EventsApi<'a> {
    client: &'a Client,
}

impl EventsApi<'_> {
    /// `GET /v1/rooms/{code}/events`: the room's events as they happen, starting with
    /// `connected`. See [`RoomEventStream`] for how errors and the end are reported.
    pub fn watch_room(&self, code: &str) -> RoomEventStream {
        let request = self
            .client
            .request_untimed(Method::GET, &["v1", "rooms", code, "events"]);
        RoomEventStream::open(request, self.client.hub_url.clone())
    }
}

#[cfg(test)]
mod tests;
