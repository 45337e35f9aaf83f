//! The side of the interface that talks to the world: it carries out each [`Effect`] the
//! state asks for as a background task, and reports back with [`Msg`]s.
//!
//! Every task is owned by one [`TaskTracker`] and watches a child of one cancellation
//! token, so [`Runner::shutdown`] stops them all (the in-process participant leaves its
//! room, the in-process hub closes its tunnels) and waits for them, within a limit.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt as _;
use gambi_client::discovery::{self, DiscoveryOptions};
use gambi_client::{Client, ClientError};
use gambi_hub::mdns::Announcement;
use gambi_hub::{Hub, HubConfig, Storage};
use gambi_participant::{Backoff, BackoffPolicy, ParticipantSession, SessionOptions};
use gambi_protocol as proto;
use proto::RoomEventPayload;
use rand::Rng as _;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use url::Url;

use super::state::{Effect, HubUpdate, JoinRequest, JoinUpdate, Msg, Secret, StreamUpdate};
use crate::commands::hub::{create_parent, default_db_path, url_host};
use crate::commands::join::plan::{parse_endpoint, resolve_auth_headers};
use crate::config::ProviderHeaders;

/// Period of the hub health check.
const HEALTH_INTERVAL: Duration = Duration::from_secs(10);

/// Period of the participant list refresh while a room's stream is live.
const REFRESH_INTERVAL: Duration = Duration::from_secs(5);

/// Reconnection of room event streams: quick at first, never slower than every 15 s.
const STREAM_BACKOFF: BackoffPolicy = BackoffPolicy {
    base: Duration::from_secs(1),
    cap: Duration::from_secs(15),
    stable_after: Duration::from_secs(30),
};

/// Longest wait at exit for the participant to leave and the hub to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Carries out effects; owns every background task.
#[derive(Debug)]
pub(crate) struct Runner {
    messages: mpsc::Sender<Msg>,
    admin_token: Option<Secret>,
    config_headers: ProviderHeaders,
    fallback_hubs: Vec<String>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    health: Option<CancellationToken>,
    watches: HashMap<String, CancellationToken>,
    hub: Option<CancellationToken>,
    session: Option<CancellationToken>,
}

impl Runner {
    /// A runner reporting to `messages`. `admin_token` is sent to list and create rooms;
    /// `config_headers` are the config file's provider headers for *Join room*, and
    /// `fallback_hubs` its static list of hubs for discovery.
    pub(crate) fn new(
        messages: mpsc::Sender<Msg>,
        admin_token: Option<Secret>,
        config_headers: ProviderHeaders,
        fallback_hubs: Vec<String>,
    ) -> Self {
        Self {
            messages,
            admin_token,
            config_headers,
            fallback_hubs,
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            health: None,
            watches: HashMap::new(),
            hub: None,
            session: None,
        }
    }

    /// Starts what the effects ask for; true when one of them is [`Effect::Quit`].
    pub(crate) fn apply(&mut self, effects: Vec<Effect>) -> bool {
        let mut quit = false;
        for effect in effects {
            quit |= effect == Effect::Quit;
            self.start(effect);
        }
        quit
    }

    fn start(&mut self, effect: Effect) {
        let tx = self.messages.clone();
        match effect {
            Effect::Health { hub } => {
                let token = replace(&mut self.health, &self.shutdown);
                self.tracker.spawn(health(hub, tx, token));
            }
            Effect::ListRooms { hub } => {
                let client = client(&hub, self.admin_token.as_ref());
                let token = self.shutdown.clone();
                self.tracker.spawn(async move {
                    let result = async {
                        let client = client?;
                        let rooms = client
                            .rooms()
                            .list()
                            .await
                            .map_err(|error| describe(&error))?;
                        Ok(rooms.data)
                    };
                    let result = tokio::select! {
                        () = token.cancelled() => return,
                        result = result => result,
                    };
                    let _ = tx.send(Msg::Rooms { hub, result }).await;
                });
            }
            Effect::DiscoverRooms { hub } => {
                let options = DiscoveryOptions {
                    configured_hub: Some(hub),
                    fallback_hubs: self.fallback_hubs.clone(),
                    admin_token: self.admin_token.as_ref().map(|token| token.0.clone()),
                    ..DiscoveryOptions::default()
                };
                let token = self.shutdown.clone();
                self.tracker.spawn(async move {
                    let rooms = tokio::select! {
                        () = token.cancelled() => return,
                        rooms = discovery::discover_rooms(&options) => rooms,
                    };
                    let _ = tx.send(Msg::Discovered(rooms)).await;
                });
            }
            Effect::CreateRoom { hub, request } => {
                let client = client(&hub, self.admin_token.as_ref());
                let token = self.shutdown.clone();
                self.tracker.spawn(async move {
                    let result = async {
                        let client = client?;
                        let created = client
                            .rooms()
                            .create(&request)
                            .await
                            .map_err(|error| describe(&error))?;
                        Ok(created.data.room)
                    };
                    let result = tokio::select! {
                        () = token.cancelled() => return,
                        result = result => result,
                    };
                    let _ = tx.send(Msg::RoomCreated(result)).await;
                });
            }
            Effect::Watch {
                hub,
                room,
                password,
            } => {
                let token = self.shutdown.child_token();
                if let Some(previous) = self.watches.insert(room.clone(), token.clone()) {
                    previous.cancel();
                }
                match client(&hub, password.as_ref()) {
                    Ok(client) => {
                        self.tracker.spawn(watch(client, room, tx, token));
                    }
                    Err(error) => {
                        self.tracker.spawn(async move {
                            let update = StreamUpdate::Failed(error);
                            let _ = tx.send(Msg::Stream { room, update }).await;
                        });
                    }
                }
            }
            Effect::Unwatch { room } => {
                if let Some(token) = self.watches.remove(&room) {
                    token.cancel();
                }
            }
            Effect::StartHub {
                host,
                port,
                on_disk,
                mdns,
            } => {
                let token = replace(&mut self.hub, &self.shutdown);
                let hub = HubPlan {
                    host,
                    port,
                    on_disk,
                    mdns,
                };
                self.tracker.spawn(serve(hub, tx, token));
            }
            Effect::StopHub => {
                if let Some(token) = self.hub.take() {
                    token.cancel();
                }
            }
            Effect::Probe {
                endpoint,
                header_envs,
            } => {
                let headers = self.config_headers.clone();
                let token = self.shutdown.clone();
                self.tracker.spawn(async move {
                    let result = tokio::select! {
                        () = token.cancelled() => return,
                        result = probe(&endpoint, &headers, &header_envs) => result,
                    };
                    let _ = tx.send(Msg::Probed { endpoint, result }).await;
                });
            }
            Effect::Join(request) => {
                let token = replace(&mut self.session, &self.shutdown);
                let headers = self.config_headers.clone();
                self.tracker.spawn(join(*request, headers, tx, token));
            }
            Effect::Leave => {
                if let Some(token) = self.session.take() {
                    token.cancel();
                }
            }
            Effect::Quit => {}
        }
    }

    /// Stops every task and waits for them (the participant leaves its room, the hub
    /// closes its tunnels), at most [`SHUTDOWN_GRACE`].
    pub(crate) async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, self.tracker.wait()).await;
    }
}

/// Cancels the task `slot` holds and puts a fresh child of `parent` there.
fn replace(slot: &mut Option<CancellationToken>, parent: &CancellationToken) -> CancellationToken {
    let token = parent.child_token();
    if let Some(previous) = slot.replace(token.clone()) {
        previous.cancel();
    }
    token
}

/// A client of `hub`, sending `token` (admin token or room password) as bearer.
fn client(hub: &str, token: Option<&Secret>) -> Result<Client, String> {
    let client = Client::new(hub).map_err(|error| error.to_string())?;
    Ok(match token.filter(|token| !token.0.is_empty()) {
        Some(token) => client.with_token(token.0.clone()),
        None => client,
    })
}

/// A hub error in one line: the message and the hint.
fn describe(error: &ClientError) -> String {
    match &error.hint {
        Some(hint) => format!("{} {hint}", error.message),
        None => error.message.clone(),
    }
}

/// Checks `hub`'s health every [`HEALTH_INTERVAL`].
async fn health(hub: String, tx: mpsc::Sender<Msg>, token: CancellationToken) {
    let client = match Client::new(&hub) {
        Ok(client) => client.with_timeout(HEALTH_INTERVAL),
        Err(error) => {
            let _ = tx
                .send(Msg::Health {
                    hub,
                    result: Err(error.to_string()),
                })
                .await;
            return;
        }
    };
    loop {
        let result = tokio::select! {
            () = token.cancelled() => return,
            result = client.health() => result,
        };
        let result = result
            .map(|health| health.data.version)
            .map_err(|error| describe(&error));
        if tx
            .send(Msg::Health {
                hub: hub.clone(),
                result,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(HEALTH_INTERVAL) => {}
        }
    }
}

/// Watches one room: forwards its events, fetches its participants on connecting, after
/// missed events and every [`REFRESH_INTERVAL`], and reconnects with backoff when the
/// stream ends. Stops for good when the hub refuses the room or its password.
async fn watch(client: Client, room: String, tx: mpsc::Sender<Msg>, token: CancellationToken) {
    let send = |update: StreamUpdate| {
        let tx = tx.clone();
        let room = room.clone();
        async move { tx.send(Msg::Stream { room, update }).await.is_ok() }
    };
    let mut backoff = Backoff::new(STREAM_BACKOFF);
    let mut attempt = 0;
    loop {
        if !send(StreamUpdate::Connecting { attempt }).await {
            return;
        }
        let opened = Instant::now();
        let mut events = client.events().watch_room(&room);
        let mut refresh = tokio::time::interval_at(opened + REFRESH_INTERVAL, REFRESH_INTERVAL);
        refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let error = loop {
            tokio::select! {
                () = token.cancelled() => return,
                next = events.next() => match next {
                    Some(Ok(event)) => {
                        let connected = matches!(event.payload, RoomEventPayload::Connected(_));
                        let lagged = matches!(event.payload, RoomEventPayload::Lagged(_));
                        if !send(StreamUpdate::Event(Box::new(event))).await {
                            return;
                        }
                        if connected {
                            attempt = 0;
                            if let Ok(summary) = client.rooms().get(&room).await {
                                send(StreamUpdate::Room(Box::new(summary.data))).await;
                            }
                        }
                        if connected || lagged {
                            refresh_participants(&client, &room, &send).await;
                        }
                    }
                    Some(Err(error)) => break error,
                    None => break ClientError {
                        kind: gambi_client::ErrorKind::Unreachable,
                        status: 503,
                        code: None,
                        message: "The hub closed the event stream.".into(),
                        hint: None,
                        details: None,
                        request_id: None,
                    },
                },
                _ = refresh.tick() => refresh_participants(&client, &room, &send).await,
            }
        };
        match error.status {
            401 | 403 => {
                send(StreamUpdate::Unauthorized).await;
                return;
            }
            404 => {
                send(StreamUpdate::Failed(describe(&error))).await;
                return;
            }
            _ => {}
        }
        backoff.connection_ended(opened.elapsed());
        let delay = backoff.next_delay(rand::rng().random());
        attempt += 1;
        let update = StreamUpdate::Retrying {
            error: error.message,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        };
        if !send(update).await {
            return;
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

async fn refresh_participants<F, Fut>(client: &Client, room: &str, send: &F)
where
    F: Fn(StreamUpdate) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    match client.participants().list(room).await {
        Ok(list) => {
            send(StreamUpdate::Participants(list.data)).await;
        }
        Err(error) => tracing::debug!(%room, %error, "could not list participants"),
    }
}

/// The in-process hub to run.
#[derive(Debug)]
struct HubPlan {
    host: String,
    port: u16,
    on_disk: bool,
    mdns: bool,
}

/// Runs a hub until `token` is cancelled.
async fn serve(plan: HubPlan, tx: mpsc::Sender<Msg>, token: CancellationToken) {
    let update = match serve_until(&plan, &tx, &token).await {
        Ok(()) if token.is_cancelled() => HubUpdate::Stopped,
        Ok(()) => HubUpdate::Failed("The hub stopped by itself.".into()),
        Err(error) => HubUpdate::Failed(error),
    };
    let _ = tx.send(Msg::Hub(update)).await;
}

async fn serve_until(
    plan: &HubPlan,
    tx: &mpsc::Sender<Msg>,
    token: &CancellationToken,
) -> Result<(), String> {
    let (host, port) = (plan.host.as_str(), plan.port);
    let db = if plan.on_disk {
        let path = default_db_path().map_err(|error| error.message)?;
        create_parent(&path).map_err(|error| error.message)?;
        Some(path)
    } else {
        None
    };
    let listener = TcpListener::bind((host, port))
        .await
        .map_err(|error| format!("Could not listen on {}:{port}: {error}", url_host(host)))?;
    let bound = listener
        .local_addr()
        .map_err(|error| format!("Could not read the listener's address: {error}"))?;
    let config = HubConfig {
        storage: db.clone().map_or(Storage::Memory, Storage::File),
        ..HubConfig::default()
    };
    let tls = config.tls;
    let hub = Hub::open(config, token.clone())
        .map_err(|error| format!("Could not open the hub database: {error}"))?;
    let server = tokio::spawn(gambi_hub::serve_hub(listener, hub));
    let announcement = if plan.mdns {
        Some(
            Announcement::publish(bound, tls)
                .await
                .map_err(|error| error.to_string()),
        )
    } else {
        None
    };
    let update = HubUpdate::Started {
        url: local_url(host, bound.port()),
        db: db.map(|path| path.display().to_string()),
        mdns: announcement.as_ref().map(|published| {
            published
                .as_ref()
                .map(|a| a.name().to_owned())
                .map_err(Clone::clone)
        }),
    };
    let _ = tx.send(Msg::Hub(update)).await;
    // Clients stop finding the hub as soon as it is asked to stop; a hub that stops by
    // itself takes its announcement back when `announcement` drops.
    let mut server = server;
    let served = tokio::select! {
        served = &mut server => served,
        () = token.cancelled() => {
            if let Some(Ok(announcement)) = announcement {
                announcement.unpublish().await;
            }
            server.await
        }
    };
    served
        .map_err(|error| format!("The hub task failed: {error}"))?
        .map_err(|error| format!("The hub stopped: {error}"))
}

/// A URL clients on this machine can use for a hub bound to `host`: the unspecified
/// address (`0.0.0.0`, `::`) becomes `localhost`.
fn local_url(host: &str, port: u16) -> String {
    let unspecified = host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    let host = if unspecified {
        "localhost".to_owned()
    } else {
        url_host(host)
    };
    format!("http://{host}:{port}")
}

/// Probes a provider with the config file's headers and those from the environment.
async fn probe(
    endpoint: &str,
    config_headers: &ProviderHeaders,
    header_envs: &[String],
) -> Result<gambi_participant::ProbeResult, String> {
    let url = parse_endpoint(endpoint).map_err(|error| error.message)?;
    let auth = resolve_auth_headers(config_headers, &[], header_envs, |name| {
        std::env::var(name).ok()
    })
    .map_err(|error| error.message)?;
    gambi_participant::probe(&url, &auth)
        .await
        .map_err(|error| error.to_string())
}

/// Runs a participant until `token` is cancelled or its session ends.
async fn join(
    request: JoinRequest,
    config_headers: ProviderHeaders,
    tx: mpsc::Sender<Msg>,
    token: CancellationToken,
) {
    let send = |update: JoinUpdate| {
        let tx = tx.clone();
        async move { tx.send(Msg::Join(update)).await.is_ok() }
    };
    let options = match options(&request, &config_headers, token).await {
        Ok(options) => options,
        Err(error) => {
            send(JoinUpdate::Failed(error)).await;
            return;
        }
    };
    let mut session = match ParticipantSession::start(options).await {
        Ok(session) => session,
        Err(error) => {
            send(JoinUpdate::Failed(error.to_string())).await;
            return;
        }
    };
    let participant = session.registration().participant.clone();
    send(JoinUpdate::Started(Box::new(participant))).await;
    let Some(mut events) = session.take_events() else {
        send(JoinUpdate::Ended(session.close().await)).await;
        return;
    };
    let outcome = loop {
        tokio::select! {
            biased;
            Some(event) = events.recv() => {
                send(JoinUpdate::Event(event)).await;
            }
            outcome = session.wait() => break outcome,
        }
    };
    while let Ok(event) = events.try_recv() {
        send(JoinUpdate::Event(event)).await;
    }
    send(JoinUpdate::Ended(outcome)).await;
}

async fn options(
    request: &JoinRequest,
    config_headers: &ProviderHeaders,
    token: CancellationToken,
) -> Result<SessionOptions, String> {
    let auth_headers = resolve_auth_headers(config_headers, &[], &request.header_envs, |name| {
        std::env::var(name).ok()
    })
    .map_err(|error| error.message)?;
    let hub_url = Url::parse(&request.hub).map_err(|error| format!("Invalid hub URL: {error}"))?;
    let specs = if request.share_specs {
        Some(gambi_participant::collect_specs().await)
    } else {
        None
    };
    let mut options = SessionOptions::new(
        hub_url,
        &request.room,
        &request.participant_id,
        &request.nickname,
        &request.model,
        request.endpoint.clone(),
    );
    options.password = request.password.as_ref().map(|password| password.0.clone());
    options.specs = specs;
    options.auth_headers = auth_headers;
    options.max_concurrency = request.max_concurrency;
    options.shutdown = token;
    Ok(options)
}

#[cfg(test)]
mod tests;
