//! Everything the interface shows, and how keys and news from the hub change it.
//!
//! [`App`] is plain data: it never touches the terminal, the network or the clock.
//! [`App::on_key`], [`App::on_msg`] and [`App::on_tick`] take a key, a [`Msg`] from a
//! background task, or the time, update the state, and return the [`Effect`]s (requests,
//! streams, an in-process hub or participant) for the task runner to carry out. So the
//! whole interface is tested by feeding it keys and messages.

mod form;
mod join;
mod keys;
mod monitor;
mod screens;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::num::NonZeroU32;

use gambi_client::discovery::DiscoveredRoom;
use gambi_participant::{CloseOutcome, ProbeResult, SessionEvent};
use gambi_protocol as proto;
use proto::Millis;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use url::Url;

use super::input::is_interrupt;

pub(crate) use form::{Field, FieldKind, Form, FormKey};
pub(crate) use join::{JoinRun, JoinState};
pub(crate) use monitor::{
    Card, Entry, LogEntry, Outcome, Presence, RequestRow, RoomMonitor, StreamState,
};
pub(crate) use screens::{CreateState, HubRun, RoomsState, ServeState};

#[cfg(test)]
pub(crate) use monitor::fixtures;

/// A secret (room password): kept, sent where it belongs, never printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(pub(crate) String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What the interface starts from.
#[derive(Debug, Clone)]
pub(crate) struct Init {
    /// The hub to talk to (`--hub`, the config file, or the default).
    pub(crate) hub_url: String,
    /// `--room`: open this room's monitor at once.
    pub(crate) room: Option<String>,
    /// `--password`: the password of `--room`.
    pub(crate) password: Option<Secret>,
    /// Defaults of the forms.
    pub(crate) defaults: Defaults,
}

/// Defaults of the forms, from the config file where it has them.
#[derive(Debug, Clone)]
pub(crate) struct Defaults {
    /// *Serve hub*: address to bind.
    pub(crate) serve_host: String,
    /// *Serve hub*: port.
    pub(crate) serve_port: u16,
    /// *Serve hub*: announce the hub over mDNS.
    pub(crate) serve_mdns: bool,
    /// *Join room*: provider endpoint.
    pub(crate) endpoint: String,
    /// *Join room*: share the machine's specs.
    pub(crate) share_specs: bool,
    /// *Join room*: names of the provider headers the config file sets.
    pub(crate) config_headers: Vec<String>,
    /// *Join room*: participant id (random per run; editable).
    pub(crate) participant_id: String,
}

/// The screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Screen {
    /// The main menu.
    Menu,
    /// Run a hub in this process.
    Serve,
    /// Create a room.
    Create,
    /// Lend a provider to a room.
    Join,
    /// The hub's rooms.
    Rooms,
    /// Watched rooms, one tab each.
    Monitor,
}

/// The main menu's entries: screen, key, label.
pub(crate) const MENU: [(Screen, char, &str); 5] = [
    (Screen::Serve, 'h', "Serve hub"),
    (Screen::Create, 'c', "Create room"),
    (Screen::Join, 'j', "Join room"),
    (Screen::Rooms, 'l', "Rooms"),
    (Screen::Monitor, 'm', "Monitor"),
];

/// A dialog over the screen; it takes every key while open.
#[derive(Debug, Clone)]
pub(crate) enum Modal {
    /// `q` with a hub or a participant running here.
    Quit,
    /// A protected room's password.
    Password {
        /// The room.
        room: String,
        /// The password being typed.
        field: Field,
        /// Why the last one was refused.
        error: Option<String>,
    },
    /// A room code to watch.
    AddRoom {
        /// The code being typed.
        field: Field,
    },
}

/// How a transient notice reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Something worked.
    Info,
    /// Something failed.
    Error,
}

/// The hub's health, as `GET /v1/health` last said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Health {
    /// Not checked yet.
    Unknown,
    /// It answered.
    Up {
        /// Its version, if it says.
        version: Option<String>,
    },
    /// It did not.
    Down {
        /// What failed.
        error: String,
    },
}

/// Something a background task reports.
#[derive(Debug)]
pub(crate) enum Msg {
    /// A health check of `hub` ended.
    Health {
        /// The hub checked.
        hub: String,
        /// Its version, or what failed.
        result: Result<Option<String>, String>,
    },
    /// The room list of `hub` arrived.
    Rooms {
        /// The hub asked.
        hub: String,
        /// Its rooms, or what failed.
        result: Result<Vec<proto::RoomSummary>, String>,
    },
    /// A room was created, or not.
    RoomCreated(Result<proto::RoomSummary, String>),
    /// News from the watcher of room `room`.
    Stream {
        /// The room code (upper case).
        room: String,
        /// What happened.
        update: StreamUpdate,
    },
    /// News from the in-process hub.
    Hub(HubUpdate),
    /// Rooms found by discovery (the current hub, the config file's list, mDNS).
    Discovered(Vec<DiscoveredRoom>),
    /// A probe of `endpoint` ended.
    Probed {
        /// The endpoint probed, as typed.
        endpoint: String,
        /// What the provider offers, or why it could not be asked.
        result: Result<ProbeResult, String>,
    },
    /// News from the in-process participant.
    Join(JoinUpdate),
}

/// News from a room watcher.
#[derive(Debug)]
pub(crate) enum StreamUpdate {
    /// Opening the stream.
    Connecting {
        /// 0 for the first connection, then the reconnection attempt.
        attempt: u32,
    },
    /// An event of the room.
    Event(Box<proto::RoomEvent>),
    /// The room itself.
    Room(Box<proto::RoomSummary>),
    /// The hub's participant list.
    Participants(Vec<proto::ParticipantSummary>),
    /// The stream failed; the watcher tries again after `delay_ms`.
    Retrying {
        /// What failed.
        error: String,
        /// Wait before the next attempt.
        delay_ms: u64,
    },
    /// The room wants a (different) password; the watcher stopped.
    Unauthorized,
    /// The hub refused the stream for good; the watcher stopped.
    Failed(String),
}

/// News from the in-process hub.
#[derive(Debug)]
pub(crate) enum HubUpdate {
    /// It listens.
    Started {
        /// A URL for clients on this machine.
        url: String,
        /// Where it keeps rooms (`None`: in memory).
        db: Option<String>,
        /// Its mDNS announcement: the instance name, or why it failed (`None`: off).
        mdns: Option<Result<String, String>>,
    },
    /// It could not start, or it stopped by itself.
    Failed(String),
    /// It stopped as asked.
    Stopped,
}

/// News from the in-process participant.
#[derive(Debug)]
pub(crate) enum JoinUpdate {
    /// It joined.
    Started(Box<proto::ParticipantSummary>),
    /// A lifecycle event.
    Event(SessionEvent),
    /// It could not join.
    Failed(String),
    /// Its session ended.
    Ended(CloseOutcome),
}

/// Something for the task runner to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Check `hub`'s health now and periodically (instead of the previous hub).
    Health {
        /// The hub.
        hub: String,
    },
    /// Fetch `hub`'s rooms.
    ListRooms {
        /// The hub.
        hub: String,
    },
    /// Look for rooms on `hub`, the config file's hubs, and those announced over mDNS.
    DiscoverRooms {
        /// The hub the window talks to.
        hub: String,
    },
    /// Create a room on `hub`.
    CreateRoom {
        /// The hub.
        hub: String,
        /// The room.
        request: proto::CreateRoomRequest,
    },
    /// Watch a room's events (restarting any watcher of that room).
    Watch {
        /// The hub.
        hub: String,
        /// The room code (upper case).
        room: String,
        /// Its password, if known.
        password: Option<Secret>,
    },
    /// Stop watching a room.
    Unwatch {
        /// The room code.
        room: String,
    },
    /// Start a hub in this process.
    StartHub {
        /// Address to bind.
        host: String,
        /// Port (0: any free one).
        port: u16,
        /// Keep rooms in the default database file rather than in memory.
        on_disk: bool,
        /// Announce it on the local network (mDNS).
        mdns: bool,
    },
    /// Stop the in-process hub.
    StopHub,
    /// Probe a provider.
    Probe {
        /// Its base URL.
        endpoint: String,
        /// `Header=ENV_VAR` assignments for its credentials.
        header_envs: Vec<String>,
    },
    /// Join a room with a provider, in this process.
    Join(Box<JoinRequest>),
    /// Leave the room joined.
    Leave,
    /// Stop everything and end.
    Quit,
}

/// What *Join room* asks the runner to start.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct JoinRequest {
    /// The hub.
    pub(crate) hub: String,
    /// Room code.
    pub(crate) room: String,
    /// Room password.
    pub(crate) password: Option<Secret>,
    /// Provider base URL.
    pub(crate) endpoint: Url,
    /// Model, as the provider lists it.
    pub(crate) model: String,
    /// Display name.
    pub(crate) nickname: String,
    /// Participant id.
    pub(crate) participant_id: String,
    /// Slots.
    pub(crate) max_concurrency: NonZeroU32,
    /// Share CPU, RAM and GPU.
    pub(crate) share_specs: bool,
    /// `Header=ENV_VAR` assignments for the provider's credentials.
    pub(crate) header_envs: Vec<String>,
}

/// The whole interface state.
#[derive(Debug)]
pub(crate) struct App {
    /// The hub talked to: the configured one, or the in-process one while it runs.
    pub(crate) hub_url: String,
    /// The configured hub.
    configured_hub: String,
    /// The hub's health.
    pub(crate) health: Health,
    /// The screen shown.
    pub(crate) screen: Screen,
    /// Selected entry of the main menu.
    pub(crate) menu: usize,
    /// *Serve hub*.
    pub(crate) serve: ServeState,
    /// *Create room*.
    pub(crate) create: CreateState,
    /// *Join room*.
    pub(crate) join: JoinState,
    /// *Rooms*.
    pub(crate) rooms: RoomsState,
    /// Watched rooms.
    pub(crate) tabs: Vec<RoomMonitor>,
    /// The tab shown.
    pub(crate) tab: usize,
    /// The open dialog.
    pub(crate) modal: Option<Modal>,
    /// A notice shown until the next key.
    pub(crate) notice: Option<(Level, String)>,
    /// Room passwords given so far, by room code.
    passwords: BTreeMap<String, Secret>,
}

impl App {
    /// The interface at start, and what to do at once.
    pub(crate) fn new(init: Init) -> (Self, Vec<Effect>) {
        let mut app = Self {
            hub_url: init.hub_url.clone(),
            configured_hub: init.hub_url,
            health: Health::Unknown,
            screen: Screen::Menu,
            menu: 0,
            serve: ServeState::new(&init.defaults),
            create: CreateState::new(),
            join: JoinState::new(&init.defaults),
            rooms: RoomsState::default(),
            tabs: Vec::new(),
            tab: 0,
            modal: None,
            notice: None,
            passwords: BTreeMap::new(),
        };
        let mut effects = vec![Effect::Health {
            hub: app.hub_url.clone(),
        }];
        if let Some(room) = init.room.filter(|room| !room.trim().is_empty()) {
            if let Some(password) = init.password.filter(|password| !password.0.is_empty()) {
                app.passwords.insert(room.trim().to_uppercase(), password);
            }
            app.screen = Screen::Monitor;
            effects.extend(app.watch(&room, false));
        }
        (app, effects)
    }

    /// Whether a hub or a participant runs inside this process.
    pub(crate) fn runs_something(&self) -> bool {
        !matches!(self.serve.run, HubRun::Stopped | HubRun::Failed(_))
            || !matches!(self.join.run, JoinRun::Idle)
    }

    /// The monitor tab shown, if any.
    pub(crate) fn current_tab(&self) -> Option<&RoomMonitor> {
        self.tabs.get(self.tab)
    }

    /// Handles a key press.
    pub(crate) fn on_key(&mut self, key: KeyEvent, now: Millis) -> Vec<Effect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        self.notice = None;
        if is_interrupt(&key) {
            return match self.modal {
                // A second Ctrl+C in the dialog means it.
                Some(Modal::Quit) => vec![Effect::Quit],
                _ => self.request_quit(),
            };
        }
        if self.modal.is_some() {
            return self.modal_key(key);
        }
        match self.screen {
            Screen::Menu => self.menu_key(key),
            Screen::Serve => self.serve_key(key),
            Screen::Create => self.create_key(key),
            Screen::Join => self.join_key(key, now),
            Screen::Rooms => self.rooms_key(key),
            Screen::Monitor => self.monitor_key(key),
        }
    }

    /// Handles the time passing: starts a probe the user stopped typing for.
    pub(crate) fn on_tick(&mut self, now: Millis) -> Vec<Effect> {
        self.join.due_probe(now).into_iter().collect()
    }

    /// Handles news from a background task.
    pub(crate) fn on_msg(&mut self, msg: Msg, now: Millis) -> Vec<Effect> {
        match msg {
            Msg::Health { hub, result } => {
                if hub == self.hub_url {
                    self.health = match result {
                        Ok(version) => Health::Up { version },
                        Err(error) => Health::Down { error },
                    };
                }
                Vec::new()
            }
            Msg::Rooms { hub, result } => {
                if hub == self.hub_url {
                    self.rooms.loaded(result);
                    self.join.room_options(&self.rooms.rooms);
                }
                Vec::new()
            }
            Msg::RoomCreated(result) => {
                match result {
                    Ok(room) => {
                        self.notice = Some((
                            Level::Info,
                            format!("Room {} created: {}", room.code, room.name),
                        ));
                        if let Some(password) = self.create.password.clone() {
                            self.passwords.insert(room.code.clone(), password);
                        }
                        self.create.created(room);
                    }
                    Err(error) => self.create.failed(error),
                }
                Vec::new()
            }
            Msg::Stream { room, update } => self.stream(&room, update, now),
            Msg::Hub(update) => self.hub_update(update),
            Msg::Discovered(rooms) => {
                self.join.discovered(rooms);
                Vec::new()
            }
            Msg::Probed { endpoint, result } => {
                self.join.probed(&endpoint, result);
                Vec::new()
            }
            Msg::Join(update) => {
                self.join.update(update, now);
                Vec::new()
            }
        }
    }

    fn request_quit(&mut self) -> Vec<Effect> {
        if self.runs_something() {
            self.modal = Some(Modal::Quit);
            Vec::new()
        } else {
            vec![Effect::Quit]
        }
    }

    fn open(&mut self, screen: Screen) -> Vec<Effect> {
        self.screen = screen;
        match screen {
            Screen::Rooms => self.list_rooms(),
            Screen::Join if self.join.is_idle() => {
                let mut effects = self.list_rooms();
                self.join.discovering = true;
                effects.push(Effect::DiscoverRooms {
                    hub: self.hub_url.clone(),
                });
                effects.extend(self.join.probe_now());
                effects
            }
            Screen::Monitor if self.tabs.is_empty() => {
                self.modal = Some(Modal::AddRoom {
                    field: Field::text("Room code", "The code of the room to watch"),
                });
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn list_rooms(&mut self) -> Vec<Effect> {
        self.rooms.loading = true;
        vec![Effect::ListRooms {
            hub: self.hub_url.clone(),
        }]
    }

    /// Opens (or shows) the monitor tab of `room`; asks for the password first when the
    /// room is known to be protected and none was given.
    fn watch(&mut self, room: &str, protected: bool) -> Vec<Effect> {
        let code = room.trim().to_uppercase();
        self.screen = Screen::Monitor;
        if let Some(at) = self.tabs.iter().position(|tab| tab.code == code) {
            self.tab = at;
            return Vec::new();
        }
        self.tabs.push(RoomMonitor::new(&self.hub_url, &code));
        self.tab = self.tabs.len() - 1;
        let password = self.passwords.get(&code).cloned();
        if protected && password.is_none() {
            self.ask_password(&code, None);
            return Vec::new();
        }
        vec![Effect::Watch {
            hub: self.hub_url.clone(),
            room: code,
            password,
        }]
    }

    fn ask_password(&mut self, room: &str, error: Option<String>) {
        if let Some(tab) = self.tabs.iter_mut().find(|tab| tab.code == room) {
            tab.stream = StreamState::NeedsPassword;
        }
        self.modal = Some(Modal::Password {
            room: room.to_owned(),
            field: Field::secret("Password", "The room's password"),
            error,
        });
    }
}

/// Appends to a queue that keeps its last `capacity` items.
pub(crate) fn push_bounded<T>(log: &mut VecDeque<T>, item: T, capacity: usize) {
    if log.len() == capacity {
        log.pop_front();
    }
    log.push_back(item);
}

#[cfg(test)]
pub(crate) mod tests;
