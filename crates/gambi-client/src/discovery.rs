//! Finding hubs and rooms: the configured hub, a static list, and mDNS on the local
//! network.
//!
//! [`discover_hubs`] collects candidates in order (the configured hub, then the static
//! list, then every hub announced over mDNS during the browse window), keeps those whose
//! `GET /v1/health` answers, and drops duplicates by URL (the first one wins).
//! [`discover_rooms`] lists the rooms of every hub found, and [`resolve_target`] picks
//! the one room a code or a name designates, with the original's error codes:
//!
//! | [`DiscoveryError::code`] | when |
//! |---|---|
//! | `NO_HUBS_FOUND` | no candidate answered |
//! | `NO_ROOMS_FOUND` | the hubs found have no rooms |
//! | `ROOM_NOT_FOUND` | no room has the code or name asked for |
//! | `AMBIGUOUS_ROOM_MATCH` | more than one room fits (with the matches) |
//!
//! Where multicast is blocked, the static list ([`DiscoveryOptions::fallback_hubs`])
//! stands in for mDNS. A browse that fails (no interface, port 5353 taken) is logged and
//! treated as finding nothing, as the original does: the other candidates still count.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use gambi_client::discovery::{DiscoveryOptions, RoomQuery, resolve_target};
//!
//! let options = DiscoveryOptions::default();
//! let target = resolve_target(&options, &RoomQuery::by_name("Lab")).await?;
//! let room = target.room_handle()?;
//! println!("{} at {}", target.room.room.code, room.base_url());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use gambi_protocol as proto;
use serde::Serialize;

use crate::{Client, NewClientError, Room};

mod mdns;

#[cfg(test)]
use mdns::instance_of;
pub use mdns::{AnnouncedHub, browse};

/// How long a candidate's health check may take.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The name a configured hub is listed under.
pub const CONFIGURED_HUB_NAME: &str = "Configured hub";

/// Where discovery looks, and for how long.
#[derive(Clone)]
pub struct DiscoveryOptions {
    /// The hub the user configured, tried first. The original always has one (its
    /// default `http://localhost:3000`); `None` leaves it out.
    pub configured_hub: Option<String>,
    /// More hubs to try, for networks where multicast is blocked (a config file's list).
    pub fallback_hubs: Vec<String>,
    /// Whether to browse for hubs announced over mDNS.
    pub mdns: bool,
    /// How long to listen for mDNS announcements.
    pub browse_window: Duration,
    /// How long each health check may take.
    pub health_timeout: Duration,
    /// A hub admin token, for hubs that require one to list rooms.
    pub admin_token: Option<String>,
}

impl Default for DiscoveryOptions {
    /// The original's: the default hub URL, mDNS for [`proto::mdns::BROWSE_WINDOW`].
    fn default() -> Self {
        Self {
            configured_hub: Some(proto::DEFAULT_HUB_URL.to_owned()),
            fallback_hubs: Vec::new(),
            mdns: true,
            browse_window: proto::mdns::BROWSE_WINDOW,
            health_timeout: HEALTH_TIMEOUT,
            admin_token: None,
        }
    }
}

impl DiscoveryOptions {
    /// Only `hub_url`: no static list, no mDNS. For a user who named the hub (`--hub`),
    /// which always wins over discovery.
    pub fn only(hub_url: impl Into<String>) -> Self {
        Self {
            configured_hub: Some(hub_url.into()),
            mdns: false,
            ..Self::default()
        }
    }
}

impl std::fmt::Debug for DiscoveryOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryOptions")
            .field("configured_hub", &self.configured_hub)
            .field("fallback_hubs", &self.fallback_hubs)
            .field("mdns", &self.mdns)
            .field("browse_window", &self.browse_window)
            .field("health_timeout", &self.health_timeout)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Where a hub was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HubSource {
    /// The configured hub.
    Configured,
    /// The static list.
    Static,
    /// An mDNS announcement.
    Mdns,
}

impl HubSource {
    /// `configured`, `static` or `mdns`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "configured",
            Self::Static => "static",
            Self::Mdns => "mdns",
        }
    }
}

/// A hub that answered its health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredHub {
    /// Its mDNS instance name, or [`CONFIGURED_HUB_NAME`], or the URL of a static entry.
    pub name: String,
    /// The URL that answered, without a trailing `/`.
    pub hub_url: String,
    /// The host: the announced host name (no trailing dot), or the URL's host.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The announced addresses (empty for configured and static hubs).
    pub addresses: Vec<IpAddr>,
    /// Where it was found.
    pub source: HubSource,
    /// The announced TXT record (empty for configured and static hubs).
    pub txt: BTreeMap<String, String>,
    /// The version its health check reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A room of a hub found by discovery.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredRoom {
    /// The room, as its hub lists it.
    #[serde(flatten)]
    pub room: proto::RoomSummary,
    /// The hub's name.
    pub hub_name: String,
    /// Where the hub was found.
    pub hub_source: HubSource,
    /// The hub's URL.
    pub hub_url: String,
}

/// Which room [`resolve_target`] looks for. With neither field, the only room there is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomQuery {
    /// The room code (compared without regard to case, as the hub does).
    pub code: Option<String>,
    /// The room name (compared exactly).
    pub name: Option<String>,
}

impl RoomQuery {
    /// The room with this code.
    pub fn by_code(code: impl Into<String>) -> Self {
        Self {
            code: Some(code.into()),
            name: None,
        }
    }

    /// The room with this name.
    pub fn by_name(name: impl Into<String>) -> Self {
        Self {
            code: None,
            name: Some(name.into()),
        }
    }

    fn matches(&self, room: &proto::RoomSummary) -> bool {
        self.code
            .as_deref()
            .is_none_or(|code| room.code.eq_ignore_ascii_case(code.trim()))
            && self.name.as_deref().is_none_or(|name| room.name == name)
    }

    fn describe(&self) -> String {
        match (&self.code, &self.name) {
            (Some(code), Some(name)) => format!("code '{code}' and name '{name}'"),
            (Some(code), None) => format!("code '{code}'"),
            (None, Some(name)) => format!("name '{name}'"),
            (None, None) => "any room".to_owned(),
        }
    }
}

/// The room [`resolve_target`] chose, and its hub.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// The hub.
    pub hub: DiscoveredHub,
    /// The room.
    pub room: DiscoveredRoom,
}

impl Target {
    /// The room as an OpenAI client sees it.
    pub fn room_handle(&self) -> Result<Room, NewClientError> {
        Room::new(&self.hub.hub_url, &self.room.room.code)
    }
}

/// Why discovery could not name one room.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscoveryError {
    /// No candidate hub answered its health check.
    #[error("No Gambi hub found{}.", tried_list(.tried, *.mdns))]
    NoHubsFound {
        /// The URLs tried, besides mDNS.
        tried: Vec<String>,
        /// Whether mDNS was browsed.
        mdns: bool,
    },
    /// The hubs found have no rooms (or would not list them).
    #[error("No rooms found on {}.", .hubs.join(", "))]
    NoRoomsFound {
        /// The hubs asked.
        hubs: Vec<String>,
    },
    /// No room fits the query.
    #[error("No room with {} found.", .query.describe())]
    RoomNotFound {
        /// What was asked for.
        query: RoomQuery,
    },
    /// More than one room fits the query.
    #[error("{} rooms match {}.", .matches.len(), .query.describe())]
    AmbiguousRoomMatch {
        /// What was asked for.
        query: RoomQuery,
        /// The rooms that fit, in discovery order.
        matches: Vec<DiscoveredRoom>,
    },
}

/// What was tried, for [`DiscoveryError::NoHubsFound`]'s message.
fn tried_list(tried: &[String], mdns: bool) -> String {
    let mut places = tried.to_vec();
    if mdns {
        places.push("mDNS".to_owned());
    }
    match places.as_slice() {
        [] => String::new(),
        [one] => format!(" (tried {one})"),
        [rest @ .., last] => format!(" (tried {} and {last})", rest.join(", ")),
    }
}

impl DiscoveryError {
    /// The original's error code: `NO_HUBS_FOUND`, `NO_ROOMS_FOUND`, `ROOM_NOT_FOUND` or
    /// `AMBIGUOUS_ROOM_MATCH`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoHubsFound { .. } => "NO_HUBS_FOUND",
            Self::NoRoomsFound { .. } => "NO_ROOMS_FOUND",
            Self::RoomNotFound { .. } => "ROOM_NOT_FOUND",
            Self::AmbiguousRoomMatch { .. } => "AMBIGUOUS_ROOM_MATCH",
        }
    }

    /// The rooms an ambiguous query matched (empty for the other errors).
    pub fn matches(&self) -> &[DiscoveredRoom] {
        match self {
            Self::AmbiguousRoomMatch { matches, .. } => matches,
            _ => &[],
        }
    }
}

/// One hub to check: its name, where it came from, and the URLs to try.
struct Candidate {
    name: String,
    source: HubSource,
    urls: Vec<String>,
    announced: Option<AnnouncedHub>,
}

/// Hubs that answer, in candidate order, without duplicates.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let hub = gambi_test_support::TestHub::start().await;
/// # let hub_url = hub.url();
/// use gambi_client::discovery::{DiscoveryOptions, HubSource, discover_hubs};
///
/// // The configured hub and a static list; mDNS off (`DiscoveryOptions::default()`
/// // browses the local network too).
/// let options = DiscoveryOptions {
///     configured_hub: Some(hub_url.clone()),
///     fallback_hubs: vec!["http://127.0.0.1:9".into()], // nobody answers there
///     mdns: false,
///     ..DiscoveryOptions::default()
/// };
/// let hubs = discover_hubs(&options).await;
/// assert_eq!(hubs.len(), 1);
/// assert_eq!((hubs[0].hub_url.as_str(), hubs[0].source), (hub_url.as_str(), HubSource::Configured));
/// # }
/// ```
pub async fn discover_hubs(options: &DiscoveryOptions) -> Vec<DiscoveredHub> {
    let mut candidates = Vec::new();
    if let Some(url) = &options.configured_hub {
        candidates.push(Candidate {
            name: CONFIGURED_HUB_NAME.to_owned(),
            source: HubSource::Configured,
            urls: vec![url.clone()],
            announced: None,
        });
    }
    for url in &options.fallback_hubs {
        candidates.push(Candidate {
            name: url.trim_end_matches('/').to_owned(),
            source: HubSource::Static,
            urls: vec![url.clone()],
            announced: None,
        });
    }
    if options.mdns {
        match browse(options.browse_window).await {
            Ok(hubs) => candidates.extend(hubs.into_iter().map(|hub| Candidate {
                name: hub.name.clone(),
                source: HubSource::Mdns,
                urls: hub.candidate_urls(),
                announced: Some(hub),
            })),
            Err(error) => tracing::debug!(%error, "could not browse for hubs over mDNS"),
        }
    }
    let http = match http_client() {
        Ok(http) => http,
        Err(error) => {
            tracing::warn!(%error, "could not set up the HTTP client for discovery");
            return Vec::new();
        }
    };
    let checks = candidates
        .into_iter()
        .map(|candidate| check(candidate, http.clone(), options.health_timeout));
    let mut seen = HashSet::new();
    futures::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .filter(|hub| seen.insert(hub.hub_url.clone()))
        .collect()
}

fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(HEALTH_TIMEOUT)
        .user_agent(concat!("gambi-client/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The first of the candidate's URLs whose health check answers.
async fn check(
    candidate: Candidate,
    http: reqwest::Client,
    timeout: Duration,
) -> Option<DiscoveredHub> {
    for url in &candidate.urls {
        let Ok(client) = Client::with_http_client(url, http.clone()) else {
            tracing::debug!(%url, "not a hub URL; skipped");
            continue;
        };
        let client = client.with_timeout(timeout);
        match client.health().await {
            Ok(health) => {
                let hub_url = client.hub_url().to_owned();
                let (host, port) = host_and_port(&client.base);
                let (host, addresses, txt) = match candidate.announced {
                    Some(announced) => (announced.host, announced.addresses, announced.txt),
                    None => (host, Vec::new(), BTreeMap::new()),
                };
                return Some(DiscoveredHub {
                    name: candidate.name,
                    hub_url,
                    host,
                    port: match candidate.source {
                        HubSource::Mdns => candidate_port(&candidate.urls).unwrap_or(port),
                        _ => port,
                    },
                    addresses,
                    source: candidate.source,
                    txt,
                    version: health.data.version,
                });
            }
            Err(error) => tracing::debug!(%url, %error, "no hub answered"),
        }
    }
    None
}

/// The port of the first candidate URL (every URL of an announced hub has the same).
fn candidate_port(urls: &[String]) -> Option<u16> {
    url::Url::parse(urls.first()?).ok()?.port_or_known_default()
}

/// The host and port of a URL (the port from the scheme when not written).
fn host_and_port(url: &url::Url) -> (String, u16) {
    (
        url.host_str().unwrap_or_default().to_owned(),
        url.port_or_known_default().unwrap_or(80),
    )
}

/// The rooms of every hub found, de-duplicated by id (the first hub wins), most
/// participants first, then by name.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let hub = gambi_test_support::TestHub::start().await;
/// # let hub_url = hub.url();
/// # let request = gambi_protocol::CreateRoomRequest { name: "Lab".into(), ..Default::default() };
/// # gambi_client::Client::new(&hub_url)?.rooms().create(&request).await?;
/// use gambi_client::discovery::{DiscoveryOptions, discover_rooms};
///
/// let rooms = discover_rooms(&DiscoveryOptions::only(&hub_url)).await;
/// assert_eq!(rooms[0].room.name, "Lab");
/// assert_eq!(rooms[0].hub_url, hub_url);
/// # Ok(()) }
/// ```
pub async fn discover_rooms(options: &DiscoveryOptions) -> Vec<DiscoveredRoom> {
    let hubs = discover_hubs(options).await;
    rooms_of(&hubs, options).await
}

/// The rooms of `hubs`, as [`discover_rooms`] orders them. A hub that will not list its
/// rooms (it wants an admin token, or failed) is skipped.
pub async fn rooms_of(hubs: &[DiscoveredHub], options: &DiscoveryOptions) -> Vec<DiscoveredRoom> {
    let Ok(http) = http_client() else {
        return Vec::new();
    };
    let lists = hubs.iter().map(|hub| {
        let http = http.clone();
        async move {
            let client = Client::with_http_client(&hub.hub_url, http).ok()?;
            let client = match &options.admin_token {
                Some(token) => client.with_token(token.clone()),
                None => client,
            };
            match client.rooms().list().await {
                Ok(rooms) => Some((hub, rooms.data)),
                Err(error) => {
                    tracing::debug!(hub = %hub.hub_url, %error, "could not list the hub's rooms");
                    None
                }
            }
        }
    });
    let lists = futures::future::join_all(lists).await;
    collect_rooms(lists.into_iter().flatten())
}

/// Rooms tagged with their hub, de-duplicated by id (first wins) and sorted.
fn collect_rooms<'a>(
    lists: impl IntoIterator<Item = (&'a DiscoveredHub, Vec<proto::RoomSummary>)>,
) -> Vec<DiscoveredRoom> {
    let mut seen = HashSet::new();
    let mut rooms: Vec<DiscoveredRoom> = lists
        .into_iter()
        .flat_map(|(hub, rooms)| {
            rooms.into_iter().map(move |room| DiscoveredRoom {
                room,
                hub_name: hub.name.clone(),
                hub_source: hub.source,
                hub_url: hub.hub_url.clone(),
            })
        })
        .filter(|room| seen.insert(room.room.id.clone()))
        .collect();
    // A stable sort: rooms that tie keep their hub's order.
    rooms.sort_by(|a, b| {
        b.room
            .participant_count
            .cmp(&a.room.participant_count)
            .then_with(|| a.room.name.cmp(&b.room.name))
    });
    rooms
}

/// The one room `query` designates among the rooms of the hubs discovery finds.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let hub = gambi_test_support::TestHub::start().await;
/// # let hub_url = hub.url();
/// # let client = gambi_client::Client::new(&hub_url)?;
/// # for name in ["Lab", "Lab", "Night class"] {
/// #     let request = gambi_protocol::CreateRoomRequest { name: name.into(), ..Default::default() };
/// #     client.rooms().create(&request).await?;
/// # }
/// use gambi_client::discovery::{DiscoveryOptions, RoomQuery, resolve_target};
///
/// let options = DiscoveryOptions::only(&hub_url);
/// let target = resolve_target(&options, &RoomQuery::by_name("Night class")).await?;
/// let room = target.room_handle()?;
/// assert_eq!(room.base_url(), format!("{hub_url}/rooms/{}/v1", target.room.room.code));
///
/// // Two rooms are called Lab: the error lists both.
/// let error = resolve_target(&options, &RoomQuery::by_name("Lab")).await.unwrap_err();
/// assert_eq!(error.code(), "AMBIGUOUS_ROOM_MATCH");
/// assert_eq!(error.matches().len(), 2);
/// # Ok(()) }
/// ```
pub async fn resolve_target(
    options: &DiscoveryOptions,
    query: &RoomQuery,
) -> Result<Target, DiscoveryError> {
    let hubs = discover_hubs(options).await;
    if hubs.is_empty() {
        let mut tried: Vec<String> = options.configured_hub.iter().cloned().collect();
        tried.extend(options.fallback_hubs.iter().cloned());
        return Err(DiscoveryError::NoHubsFound {
            tried,
            mdns: options.mdns,
        });
    }
    let rooms = rooms_of(&hubs, options).await;
    let room = select_room(rooms, query, &hubs)?;
    let hub = hubs
        .iter()
        .find(|hub| hub.hub_url == room.hub_url)
        .cloned()
        .unwrap_or_else(|| hubs[0].clone());
    Ok(Target { hub, room })
}

/// The one room of `rooms` that `query` designates.
fn select_room(
    rooms: Vec<DiscoveredRoom>,
    query: &RoomQuery,
    hubs: &[DiscoveredHub],
) -> Result<DiscoveredRoom, DiscoveryError> {
    if rooms.is_empty() {
        return Err(DiscoveryError::NoRoomsFound {
            hubs: hubs.iter().map(|hub| hub.hub_url.clone()).collect(),
        });
    }
    let mut matches: Vec<DiscoveredRoom> = rooms
        .into_iter()
        .filter(|room| query.matches(&room.room))
        .collect();
    match matches.len() {
        0 => Err(DiscoveryError::RoomNotFound {
            query: query.clone(),
        }),
        1 => Ok(matches.remove(0)),
        _ => Err(DiscoveryError::AmbiguousRoomMatch {
            query: query.clone(),
            matches,
        }),
    }
}

#[cfg(test)]
mod tests;
