//! A whole Gambi system on loopback: a hub, one room, fake providers and the real
//! participant runtime joining them to the room.
//!
//! A participant can reach the hub through a [`Link`], a TCP relay whose connections a test
//! can cut, to lose a tunnel the way a network does.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

use gambi_hub::HubConfig;
use gambi_hub::scheduler::SchedulerSnapshot;
use gambi_participant::{ParticipantSession, SessionOptions};
use gambi_protocol as proto;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::TestHub;
use crate::provider::{FakeProvider, FakeProviderConfig};
use crate::sse::EventReader;

/// How one participant of a [`Cluster`] is set up.
#[derive(Debug, Clone)]
pub struct ParticipantSpec {
    /// Participant id.
    pub id: String,
    /// Model it serves (must be one its provider offers).
    pub model: String,
    /// Its provider.
    pub provider: FakeProviderConfig,
    /// Slots.
    pub max_concurrency: u32,
    /// Its runtime defaults.
    pub config: Option<proto::RuntimeConfig>,
    /// Protocol support to announce instead of what the probe finds.
    pub capabilities: Option<proto::ParticipantCapabilities>,
    /// The hub URL it uses; `None` for the hub's own address.
    pub hub_url: Option<String>,
    /// Tunnel extensions its runtime offers (all of them unless told otherwise).
    pub tunnel_extensions: proto::TunnelExtensions,
}

impl ParticipantSpec {
    /// A participant `id` serving `model` from a provider that offers it.
    pub fn new(id: &str, model: &str) -> Self {
        Self {
            id: id.to_owned(),
            model: model.to_owned(),
            provider: FakeProviderConfig {
                models: vec![model.to_owned()],
                ..FakeProviderConfig::default()
            },
            max_concurrency: 1,
            config: None,
            capabilities: None,
            hub_url: None,
            tunnel_extensions: proto::TunnelExtensions::offer(),
        }
    }

    /// With a runtime that speaks only the original protocol: JSON text frames with base64
    /// chunks, no flow control.
    pub fn original_protocol(mut self) -> Self {
        self.tunnel_extensions = proto::TunnelExtensions::default();
        self
    }

    /// Reaching the hub through `link`, so that its connections can be cut.
    pub fn through(mut self, link: &Link) -> Self {
        self.hub_url = Some(link.url());
        self
    }

    /// With `slots` requests at once.
    pub fn slots(mut self, slots: u32) -> Self {
        self.max_concurrency = slots;
        self
    }

    /// With the provider configured by `configure`.
    pub fn provider(mut self, configure: impl FnOnce(&mut FakeProviderConfig)) -> Self {
        configure(&mut self.provider);
        self
    }

    /// With runtime defaults.
    pub fn config(mut self, config: proto::RuntimeConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Announcing this protocol support instead of what the probe finds (e.g. `unknown`,
    /// so the hub learns what the provider lacks from its answers).
    pub fn capabilities(mut self, capabilities: proto::ParticipantCapabilities) -> Self {
        self.capabilities = Some(capabilities);
        self
    }
}

/// A joined participant: its provider and its running session.
#[derive(Debug)]
pub struct Member {
    /// Participant id.
    pub id: String,
    /// Its fake provider.
    pub provider: FakeProvider,
    /// Its session.
    pub session: ParticipantSession,
}

/// A hub with one room and its members.
#[derive(Debug)]
pub struct Cluster {
    /// The hub.
    pub hub: TestHub,
    /// The room's code.
    pub code: String,
    /// The room's password, if any.
    pub password: Option<String>,
    /// The participants, in join order.
    pub members: Vec<Member>,
    /// An HTTP client for the test.
    pub http: reqwest::Client,
}

impl Cluster {
    /// A hub with default settings and an open room.
    pub async fn start() -> Self {
        Self::with(HubConfig::default(), json!({"name": "Test room"})).await
    }

    /// A hub with `config` and a room created with `room` (the `POST /v1/rooms` body).
    ///
    /// # Panics
    /// When the hub refuses to create the room.
    pub async fn with(config: HubConfig, room: Value) -> Self {
        let hub = TestHub::with_config(config).await;
        let http = reqwest::Client::new();
        let created: Value = http
            .post(hub.url_for("/v1/rooms"))
            .json(&room)
            .send()
            .await
            .expect("the hub answers")
            .json()
            .await
            .expect("a JSON envelope");
        let code = created["data"]["room"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("room created: {created}"))
            .to_owned();
        Self {
            hub,
            code,
            password: room["password"].as_str().map(str::to_owned),
            members: Vec::new(),
            http,
        }
    }

    /// Starts a provider for `spec` and joins it to the room; returns once the hub
    /// routes requests to it.
    ///
    /// # Panics
    /// When the participant cannot join.
    pub async fn join(&mut self, spec: ParticipantSpec) -> &Member {
        let provider = FakeProvider::start(spec.provider.clone()).await;
        let hub_url = spec.hub_url.clone().unwrap_or_else(|| self.hub.url());
        let mut options = SessionOptions::new(
            hub_url.parse().expect("a valid URL"),
            &self.code,
            &spec.id,
            format!("{} (test)", spec.id),
            &spec.model,
            provider.base_url().parse().expect("a valid URL"),
        );
        options.password.clone_from(&self.password);
        options.config = spec.config.clone();
        options.capabilities = spec.capabilities;
        options.tunnel_extensions = spec.tunnel_extensions;
        options.max_concurrency = NonZeroU32::new(spec.max_concurrency).unwrap_or(NonZeroU32::MIN);
        let room = self.hub.hub().room(&self.code).expect("the room exists");
        let mut events = room.subscribe();
        let session = ParticipantSession::start(options)
            .await
            .unwrap_or_else(|error| panic!("participant {} joins: {error}", spec.id));
        while !routable(&room, &spec.id) {
            // Tunnel attachment publishes `participant.updated`; re-check on every event.
            let _ = events.recv().await;
        }
        self.members.push(Member {
            id: spec.id,
            provider,
            session,
        });
        self.members.last().expect("just pushed")
    }

    /// The member `id`.
    ///
    /// # Panics
    /// When there is none.
    pub fn member(&self, id: &str) -> &Member {
        self.members
            .iter()
            .find(|member| member.id == id)
            .unwrap_or_else(|| panic!("no member {id}"))
    }

    /// The room.
    ///
    /// # Panics
    /// When the room no longer exists.
    pub fn room(&self) -> Arc<gambi_hub::Room> {
        self.hub.hub().room(&self.code).expect("the room exists")
    }

    /// The room's scheduler: every participant's load and the queue length, now.
    pub fn snapshot(&self) -> SchedulerSnapshot {
        self.room().scheduler().snapshot()
    }

    /// Waits until the room's scheduler satisfies `condition`, and returns that snapshot.
    ///
    /// The scheduler announces no changes, so this checks again each time the test task is
    /// scheduled after yielding. Yielding never sleeps, and under paused time it never lets
    /// the clock advance. Wrap it in a timeout if a test must not hang.
    pub async fn wait_for_scheduler(
        &self,
        mut condition: impl FnMut(&SchedulerSnapshot) -> bool,
    ) -> SchedulerSnapshot {
        let room = self.room();
        loop {
            let snapshot = room.scheduler().snapshot();
            if condition(&snapshot) {
                return snapshot;
            }
            tokio::task::yield_now().await;
        }
    }

    /// Waits until the hub routes requests to participant `id` (again, e.g. after its
    /// tunnel was lost and the runtime reconnected).
    pub async fn wait_routable(&self, id: &str) {
        let room = self.room();
        let mut events = room.subscribe();
        while !routable(&room, id) {
            // Tunnel attachment publishes `participant.updated`; re-check on every event.
            let _ = events.recv().await;
        }
    }

    /// The inference base URL, `http://127.0.0.1:<port>/rooms/<CODE>/v1`.
    pub fn base_url(&self) -> String {
        self.hub.url_for(&format!("/rooms/{}/v1", self.code))
    }

    /// `POST {base_url}{path}` with a JSON body (and the room password as API key).
    ///
    /// # Panics
    /// When the hub cannot be reached.
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url()))
            .json(body);
        if let Some(password) = &self.password {
            request = request.bearer_auth(password);
        }
        request.send().await.expect("the hub answers")
    }

    /// `GET {base_url}{path}`.
    ///
    /// # Panics
    /// When the hub cannot be reached.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let mut request = self.http.get(format!("{}{path}", self.base_url()));
        if let Some(password) = &self.password {
            request = request.bearer_auth(password);
        }
        request.send().await.expect("the hub answers")
    }

    /// `DELETE {base_url}{path}`.
    ///
    /// # Panics
    /// When the hub cannot be reached.
    pub async fn delete(&self, path: &str) -> reqwest::Response {
        let mut request = self.http.delete(format!("{}{path}", self.base_url()));
        if let Some(password) = &self.password {
            request = request.bearer_auth(password);
        }
        request.send().await.expect("the hub answers")
    }

    /// Subscribes to the room's events; returns after the `connected` event.
    ///
    /// # Panics
    /// When the subscription fails.
    pub async fn events(&self) -> EventReader {
        let mut request = self
            .http
            .get(self.hub.url_for(&format!("/v1/rooms/{}/events", self.code)));
        if let Some(password) = &self.password {
            request = request.bearer_auth(password);
        }
        let response = request.send().await.expect("the hub answers");
        assert_eq!(response.status(), 200, "event stream opens");
        let mut reader = EventReader::new(response);
        let first = reader.next_event().await.expect("a first event");
        assert_eq!(first.event(), Some("connected"));
        reader
    }
}

/// Whether the hub routes requests to participant `id` of `room`.
fn routable(room: &gambi_hub::Room, id: &str) -> bool {
    let connected = room
        .participant(id)
        .is_some_and(|participant| participant.summary.connection.connected);
    connected
        && room
            .scheduler()
            .participant(id)
            .is_some_and(|load| load.available)
}

/// A TCP relay on `127.0.0.1` in front of the hub. A participant that reaches the hub
/// through it ([`ParticipantSpec::through`]) loses its tunnel (and any other connection)
/// when the test calls [`Link::cut`], as if the network went away; connections made
/// afterwards go through again, so the runtime can reconnect. Stops when dropped.
#[derive(Debug)]
pub struct Link {
    addr: SocketAddr,
    current: Arc<Mutex<CancellationToken>>,
    task: JoinHandle<()>,
}

impl Link {
    /// Starts relaying connections to `target`.
    ///
    /// # Panics
    /// If no port can be bound on `127.0.0.1`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("Link: binding 127.0.0.1:0 failed");
        let addr = listener
            .local_addr()
            .expect("Link: the listener has no local address");
        let current = Arc::new(Mutex::new(CancellationToken::new()));
        let task = tokio::spawn(accept(listener, target, Arc::clone(&current)));
        Self {
            addr,
            current,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Closes every connection relayed so far, both ways.
    pub fn cut(&self) {
        let fresh = CancellationToken::new();
        let old = std::mem::replace(
            &mut *self.current.lock().unwrap_or_else(PoisonError::into_inner),
            fresh,
        );
        old.cancel();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections and relays each until it ends or is cut. Its connections die with it.
async fn accept(listener: TcpListener, target: SocketAddr, current: Arc<Mutex<CancellationToken>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((inbound, _)) = accepted else { continue };
                let cut = current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                connections.spawn(relay(inbound, target, cut));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn relay(mut inbound: TcpStream, target: SocketAddr, cut: CancellationToken) {
    let Ok(mut outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    tokio::select! {
        () = cut.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
    }
}
