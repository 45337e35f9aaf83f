//! The state of the *Serve hub* and *Create room* screens and of the room list (*Join
//! room* is in `join.rs`).

use gambi_protocol as proto;
use serde_json::{Map, Value};

use super::{Defaults, Effect, Field, Form, Secret};

/// The in-process hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HubRun {
    /// Not running.
    Stopped,
    /// Binding and opening its database.
    Starting,
    /// Serving.
    Running {
        /// A URL for clients on this machine.
        url: String,
        /// Its database file (`None`: in memory).
        db: Option<String>,
        /// Its mDNS announcement: the instance name, or why it failed (`None`: off).
        mdns: Option<Result<String, String>>,
    },
    /// Closing its tunnels and streams.
    Stopping,
    /// It could not start, or stopped by itself.
    Failed(String),
}

/// *Serve hub*.
#[derive(Debug, Clone)]
pub(crate) struct ServeState {
    /// Host, port, storage.
    pub(crate) form: Form,
    /// The hub.
    pub(crate) run: HubRun,
}

impl ServeState {
    /// Field: address to bind.
    pub(crate) const HOST: usize = 0;
    /// Field: port.
    pub(crate) const PORT: usize = 1;
    /// Field: keep rooms on disk.
    pub(crate) const ON_DISK: usize = 2;
    /// Field: announce over mDNS.
    pub(crate) const MDNS: usize = 3;

    pub(crate) fn new(defaults: &Defaults) -> Self {
        Self {
            form: Form::new(vec![
                Field::text("Host", "Address to bind; 0.0.0.0 serves the whole network")
                    .with(defaults.serve_host.clone()),
                Field::number("Port", "1-65535; 0 picks a free port")
                    .with(defaults.serve_port.to_string()),
                Field::toggle(
                    "Keep rooms on disk",
                    true,
                    "On: rooms survive a restart (the hub serve database); off: in memory",
                ),
                Field::toggle(
                    "Announce (mDNS)",
                    defaults.serve_mdns,
                    "On: others on the network find this hub (gambi hub discover, --room-name)",
                ),
            ]),
            run: HubRun::Stopped,
        }
    }

    /// Whether the form can be edited (no hub running).
    pub(crate) fn editable(&self) -> bool {
        matches!(self.run, HubRun::Stopped | HubRun::Failed(_))
    }

    /// Checks the form and starts the hub.
    pub(crate) fn start(&mut self) -> Option<Effect> {
        let host = self.form.text(Self::HOST).to_owned();
        if host.is_empty() {
            self.form.error = Some("Host is required, e.g. 0.0.0.0 or 127.0.0.1.".into());
            return None;
        }
        let Ok(port) = self.form.text(Self::PORT).parse::<u16>() else {
            self.form.error = Some("Port must be 0-65535.".into());
            return None;
        };
        self.run = HubRun::Starting;
        Some(Effect::StartHub {
            host,
            port,
            on_disk: self.form.field(Self::ON_DISK).on,
            mdns: self.form.field(Self::MDNS).on,
        })
    }
}

/// *Create room*.
#[derive(Debug, Clone)]
pub(crate) struct CreateState {
    /// Name, password and runtime defaults.
    pub(crate) form: Form,
    /// Waiting for the hub.
    pub(crate) pending: bool,
    /// The room created.
    pub(crate) room: Option<proto::RoomSummary>,
    /// Its password.
    pub(crate) password: Option<Secret>,
}

impl CreateState {
    /// Field: name.
    pub(crate) const NAME: usize = 0;
    /// Field: password.
    pub(crate) const PASSWORD: usize = 1;
    /// Field: instructions.
    pub(crate) const INSTRUCTIONS: usize = 2;
    /// Field: temperature.
    pub(crate) const TEMPERATURE: usize = 3;
    /// Field: max tokens.
    pub(crate) const MAX_TOKENS: usize = 4;

    pub(crate) fn new() -> Self {
        Self {
            form: Form::new(vec![
                Field::text("Name", "Shown in room lists"),
                Field::secret(
                    "Password",
                    "Optional; participants, watchers and apps must then present it",
                ),
                Field::text(
                    "Instructions",
                    "Optional system instructions for every request of the room",
                ),
                Field::text("Temperature", "Optional default, 0-2"),
                Field::number("Max tokens", "Optional default limit on generated tokens"),
            ]),
            pending: false,
            room: None,
            password: None,
        }
    }

    /// The request the form describes, or `None` (with the form's error set).
    pub(crate) fn request(&mut self) -> Option<proto::CreateRoomRequest> {
        let form = &mut self.form;
        let name = form.text(Self::NAME).to_owned();
        if name.is_empty() {
            form.error = Some("Name is required.".into());
            return None;
        }
        let mut defaults = Map::new();
        let instructions = form.text(Self::INSTRUCTIONS);
        if !instructions.is_empty() {
            defaults.insert("instructions".into(), instructions.into());
        }
        let temperature = form.text(Self::TEMPERATURE);
        if !temperature.is_empty() {
            let Some(value) = temperature
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
            else {
                form.error = Some(format!("Temperature '{temperature}' is not a number."));
                return None;
            };
            defaults.insert("temperature".into(), Value::Number(value));
        }
        let max_tokens = form.text(Self::MAX_TOKENS);
        if !max_tokens.is_empty() {
            let Ok(value) = max_tokens.parse::<u64>() else {
                form.error = Some(format!("Max tokens '{max_tokens}' is not a number."));
                return None;
            };
            defaults.insert("max_tokens".into(), value.into());
        }
        let defaults = Value::Object(defaults);
        if let Err(errors) = proto::RuntimeConfig::parse(&defaults) {
            form.error = Some(format!("Invalid defaults: {}", errors.summary()));
            return None;
        }
        let password = form.field(Self::PASSWORD).value.clone();
        self.pending = true;
        Some(proto::CreateRoomRequest {
            name,
            password: (!password.is_empty()).then_some(password),
            defaults: defaults
                .as_object()
                .is_some_and(|map| !map.is_empty())
                .then_some(defaults),
        })
    }

    /// The hub created the room.
    pub(crate) fn created(&mut self, room: proto::RoomSummary) {
        self.pending = false;
        self.room = Some(room);
    }

    /// The hub refused.
    pub(crate) fn failed(&mut self, error: String) {
        self.pending = false;
        self.password = None;
        self.form.error = Some(error);
    }
}

/// *Rooms*.
#[derive(Debug, Clone, Default)]
pub(crate) struct RoomsState {
    /// The hub's rooms, as listed.
    pub(crate) rooms: Vec<proto::RoomSummary>,
    /// The selected row.
    pub(crate) selected: usize,
    /// Waiting for the hub.
    pub(crate) loading: bool,
    /// Why the last listing failed.
    pub(crate) error: Option<String>,
}

impl RoomsState {
    /// A listing arrived.
    pub(crate) fn loaded(&mut self, result: Result<Vec<proto::RoomSummary>, String>) {
        self.loading = false;
        match result {
            Ok(rooms) => {
                self.rooms = rooms;
                self.error = None;
                self.selected = self.selected.min(self.rooms.len().saturating_sub(1));
            }
            Err(error) => self.error = Some(error),
        }
    }

    /// The selected room.
    pub(crate) fn selected(&self) -> Option<&proto::RoomSummary> {
        self.rooms.get(self.selected)
    }

    /// Moves the selection by `delta` rows.
    pub(crate) fn select(&mut self, delta: isize) {
        if self.rooms.is_empty() {
            return;
        }
        let last = self.rooms.len() - 1;
        self.selected = self.selected.saturating_add_signed(delta).min(last);
    }

    /// Whether room `code` is known to be password protected.
    pub(crate) fn is_protected(&self, code: &str) -> bool {
        self.rooms
            .iter()
            .any(|room| room.code.eq_ignore_ascii_case(code.trim()) && room.password_protected)
    }
}
