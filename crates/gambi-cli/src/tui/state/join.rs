//! The state of the *Join room* screen: the form, what probing the provider found, and the
//! participant runtime once it runs inside the window.

use std::collections::VecDeque;
use std::num::NonZeroU32;

use gambi_client::discovery::DiscoveredRoom;
use gambi_participant::{ProbeResult, SessionEvent};
use gambi_protocol as proto;
use proto::Millis;

use super::{Defaults, Effect, Field, Form, JoinRequest, JoinUpdate, Level, Secret, push_bounded};
use crate::commands::join::plan::{default_nickname, parse_endpoint};

/// How long the endpoint must stay unchanged before it is probed.
const PROBE_DEBOUNCE_MS: Millis = 600;

/// Lines kept in the participant's lifecycle log.
const JOIN_LOG_CAPACITY: usize = 100;

/// What probing the provider found, for the endpoint as typed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProbeView {
    /// The endpoint probed.
    pub(crate) endpoint: String,
    /// What was found: `None` while checking.
    pub(crate) result: Option<Result<ProbeResult, String>>,
}

/// The in-process participant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JoinRun {
    /// Not joined.
    Idle,
    /// Probing, registering, opening the tunnel.
    Starting {
        /// The room.
        room: String,
    },
    /// Joined.
    Running {
        /// The room.
        room: String,
        /// The participant id.
        participant_id: String,
        /// Its nickname.
        nickname: String,
        /// Its model.
        model: String,
        /// Whether the tunnel is up.
        tunnel: bool,
        /// Whether the last heartbeat went through.
        heartbeat: bool,
    },
    /// Leaving the room.
    Leaving,
}

/// *Join room*.
#[derive(Debug, Clone)]
pub(crate) struct JoinState {
    /// Room, provider and participant settings.
    pub(crate) form: Form,
    /// Provider headers the config file sets (names only).
    pub(crate) config_headers: Vec<String>,
    /// The last probe of the endpoint.
    pub(crate) probe: Option<ProbeView>,
    /// When to probe the endpoint the user stopped typing.
    probe_due: Option<Millis>,
    /// The participant.
    pub(crate) run: JoinRun,
    /// Its lifecycle, oldest first.
    pub(crate) log: VecDeque<(Millis, Level, String)>,
    /// Codes of the rooms of the hub the window talks to.
    listed: Vec<String>,
    /// Rooms found by discovery, on any hub.
    pub(crate) found: Vec<DiscoveredRoom>,
    /// Discovery is looking.
    pub(crate) discovering: bool,
}

impl JoinState {
    /// Field: room code.
    pub(crate) const ROOM: usize = 0;
    /// Field: room password.
    pub(crate) const PASSWORD: usize = 1;
    /// Field: provider endpoint.
    pub(crate) const ENDPOINT: usize = 2;
    /// Field: model.
    pub(crate) const MODEL: usize = 3;
    /// Field: nickname.
    pub(crate) const NICKNAME: usize = 4;
    /// Field: participant id.
    pub(crate) const PARTICIPANT_ID: usize = 5;
    /// Field: slots.
    pub(crate) const MAX_CONCURRENCY: usize = 6;
    /// Field: share specs.
    pub(crate) const SHARE_SPECS: usize = 7;
    /// Field: headers from environment variables.
    pub(crate) const HEADER_ENVS: usize = 8;

    pub(crate) fn new(defaults: &Defaults) -> Self {
        Self {
            form: Form::new(vec![
                Field::choice(
                    "Room",
                    "Room code; ←/→ picks one of the rooms found (this hub's, then others')",
                ),
                Field::secret("Password", "The room's password, if it has one"),
                Field::text(
                    "Endpoint",
                    "Provider base URL without /v1, e.g. http://localhost:11434",
                )
                .with(defaults.endpoint.clone()),
                Field::choice("Model", "←/→ picks one the provider lists, or type a name"),
                Field::text("Nickname", "Display name [default: <model>@<id>]"),
                Field::text(
                    "Participant id",
                    "Keep it stable: joining again replaces this participant",
                )
                .with(defaults.participant_id.clone()),
                Field::number(
                    "Max concurrency",
                    "Requests the provider serves at once, 1-1024",
                )
                .with("1"),
                Field::toggle(
                    "Share specs",
                    defaults.share_specs,
                    "Show CPU, RAM and GPU to the room",
                ),
                Field::text(
                    "Headers from env",
                    "Provider credentials as Header=ENV_VAR, comma-separated, e.g. Authorization=OPENAI_AUTH",
                ),
            ]),
            config_headers: defaults.config_headers.clone(),
            probe: None,
            probe_due: None,
            run: JoinRun::Idle,
            log: VecDeque::new(),
            listed: Vec::new(),
            found: Vec::new(),
            discovering: false,
        }
    }

    /// Whether no participant runs (the form can be edited).
    pub(crate) fn is_idle(&self) -> bool {
        self.run == JoinRun::Idle
    }

    /// Fills in the room (and its password, when known).
    pub(crate) fn prefill(&mut self, room: &str, password: Option<&Secret>) {
        self.form.field_mut(Self::ROOM).value = room.to_owned();
        if let Some(password) = password {
            self.form
                .field_mut(Self::PASSWORD)
                .value
                .clone_from(&password.0);
        }
        self.form.focus = Self::ENDPOINT;
    }

    /// The password typed, if any.
    pub(crate) fn password(&self) -> Option<Secret> {
        let password = &self.form.field(Self::PASSWORD).value;
        (!password.is_empty()).then(|| Secret(password.clone()))
    }

    /// Offers the hub's rooms as choices of the room field.
    pub(crate) fn room_options(&mut self, rooms: &[proto::RoomSummary]) {
        self.listed = rooms.iter().map(|room| room.code.clone()).collect();
        self.refresh_room_options();
    }

    /// Offers the rooms discovery found (on this hub or others) as choices too.
    pub(crate) fn discovered(&mut self, rooms: Vec<DiscoveredRoom>) {
        self.discovering = false;
        self.found = rooms;
        self.refresh_room_options();
    }

    /// The hub's rooms first, then those found elsewhere, each code once.
    fn refresh_room_options(&mut self) {
        let mut options = self.listed.clone();
        for room in &self.found {
            if !options.contains(&room.room.code) {
                options.push(room.room.code.clone());
            }
        }
        self.form.field_mut(Self::ROOM).options = options;
    }

    /// The room discovery found under the code typed, unless the window's own hub lists
    /// that code (which then wins).
    pub(crate) fn found_room(&self) -> Option<&DiscoveredRoom> {
        let code = self.form.text(Self::ROOM);
        if code.is_empty()
            || self
                .listed
                .iter()
                .any(|listed| listed.eq_ignore_ascii_case(code))
        {
            return None;
        }
        self.found
            .iter()
            .find(|room| room.room.code.eq_ignore_ascii_case(code))
    }

    /// A field changed: a new endpoint or credentials are probed once typing pauses.
    pub(crate) fn edited(&mut self, field: usize, now: Millis) {
        if field == Self::ENDPOINT || field == Self::HEADER_ENVS {
            self.probe = None;
            self.probe_due = Some(now + PROBE_DEBOUNCE_MS);
        }
    }

    /// The probe to start now that typing paused, if one is due.
    pub(crate) fn due_probe(&mut self, now: Millis) -> Option<Effect> {
        match self.probe_due {
            Some(due) if due <= now => {
                self.probe_due = None;
                self.probe_now()
            }
            _ => None,
        }
    }

    /// Probes the endpoint as typed.
    pub(crate) fn probe_now(&mut self) -> Option<Effect> {
        let endpoint = self.form.text(Self::ENDPOINT).to_owned();
        if endpoint.is_empty() {
            self.probe = None;
            return None;
        }
        self.probe = Some(ProbeView {
            endpoint: endpoint.clone(),
            result: None,
        });
        Some(Effect::Probe {
            endpoint,
            header_envs: self.header_envs(),
        })
    }

    /// A probe ended; only the one of the endpoint as typed now counts.
    pub(crate) fn probed(&mut self, endpoint: &str, result: Result<ProbeResult, String>) {
        let Some(probe) = self
            .probe
            .as_mut()
            .filter(|probe| probe.endpoint == endpoint)
        else {
            return;
        };
        if let Ok(found) = &result {
            let model = self.form.field_mut(Self::MODEL);
            model.options.clone_from(&found.models);
            if model.value.trim().is_empty() {
                if let Some(first) = found.models.first() {
                    model.value.clone_from(first);
                }
            }
        }
        probe.result = Some(result);
    }

    fn header_envs(&self) -> Vec<String> {
        self.form
            .text(Self::HEADER_ENVS)
            .split(',')
            .map(str::trim)
            .filter(|assignment| !assignment.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Checks the form and asks for the participant to start.
    pub(crate) fn submit(&mut self, hub: &str) -> Option<JoinRequest> {
        match self.check(hub) {
            Ok(request) => {
                self.run = JoinRun::Starting {
                    room: request.room.clone(),
                };
                self.log.clear();
                Some(request)
            }
            Err(error) => {
                self.form.error = Some(error);
                None
            }
        }
    }

    fn check(&self, hub: &str) -> Result<JoinRequest, String> {
        let form = &self.form;
        let room = form.text(Self::ROOM).to_uppercase();
        if room.is_empty() {
            return Err("Room is required: type its code, or pick one with ←/→.".into());
        }
        let endpoint = parse_endpoint(form.text(Self::ENDPOINT)).map_err(|error| error.message)?;
        let model = form.text(Self::MODEL).to_owned();
        if model.is_empty() {
            return Err("Model is required: pick one the provider lists.".into());
        }
        if let Some(ProbeView {
            result: Some(Ok(probe)),
            ..
        }) = &self.probe
        {
            if !probe.models.is_empty() && probe.resolve_model(&model).is_none() {
                return Err(format!(
                    "The provider does not list '{model}'; it has {}.",
                    probe.models.join(", ")
                ));
            }
        }
        let participant_id = form.text(Self::PARTICIPANT_ID).to_owned();
        if participant_id.is_empty() {
            return Err("Participant id is required.".into());
        }
        let max_concurrency = form
            .text(Self::MAX_CONCURRENCY)
            .parse::<u32>()
            .ok()
            .filter(|slots| *slots <= proto::MAX_CONCURRENCY_LIMIT)
            .and_then(NonZeroU32::new)
            .ok_or_else(|| {
                format!(
                    "Max concurrency must be 1-{}.",
                    proto::MAX_CONCURRENCY_LIMIT
                )
            })?;
        let nickname = match form.text(Self::NICKNAME) {
            "" => default_nickname(&model, &participant_id),
            nickname => nickname.to_owned(),
        };
        // A room found on another hub is joined there.
        let hub = self
            .found_room()
            .map_or(hub, |found| found.hub_url.as_str());
        Ok(JoinRequest {
            hub: hub.to_owned(),
            room,
            password: self.password(),
            endpoint,
            model,
            nickname,
            participant_id,
            max_concurrency,
            share_specs: form.field(Self::SHARE_SPECS).on,
            header_envs: self.header_envs(),
        })
    }

    /// News from the participant.
    pub(crate) fn update(&mut self, update: JoinUpdate, now: Millis) {
        match update {
            JoinUpdate::Started(participant) => {
                let room = match &self.run {
                    JoinRun::Starting { room } => room.clone(),
                    _ => self.form.text(Self::ROOM).to_uppercase(),
                };
                self.log_line(
                    now,
                    Level::Info,
                    format!(
                        "joined {room} as {} ({}) serving {}",
                        participant.nickname, participant.id, participant.model
                    ),
                );
                self.run = JoinRun::Running {
                    room,
                    participant_id: participant.id,
                    nickname: participant.nickname,
                    model: participant.model,
                    tunnel: true,
                    heartbeat: true,
                };
            }
            JoinUpdate::Event(event) => self.session_event(&event, now),
            JoinUpdate::Failed(error) => {
                self.log_line(now, Level::Error, format!("could not join: {error}"));
                self.form.error = Some(error);
                self.run = JoinRun::Idle;
            }
            JoinUpdate::Ended(outcome) => {
                let line = match &outcome.error {
                    Some(error) => format!("session ended ({}): {error}", outcome.reason.as_str()),
                    None => format!("session ended ({})", outcome.reason.as_str()),
                };
                let level = if outcome.error.is_some() {
                    Level::Error
                } else {
                    Level::Info
                };
                self.log_line(now, level, line);
                self.run = JoinRun::Idle;
            }
        }
    }

    fn session_event(&mut self, event: &SessionEvent, now: Millis) {
        let (level, line) = match event {
            // `Started` already said it; later registrations are reconnections.
            SessionEvent::Registered(_) => (Level::Info, "registered with the hub".to_owned()),
            SessionEvent::TunnelConnected => (Level::Info, "tunnel connected".to_owned()),
            SessionEvent::TunnelLost { message } => {
                (Level::Error, format!("tunnel lost: {message}"))
            }
            SessionEvent::Unregistered { message } => (
                Level::Error,
                format!("the hub forgot this participant: {message}"),
            ),
            SessionEvent::Reconnecting {
                attempt,
                delay,
                reason,
            } => (
                Level::Error,
                format!(
                    "reconnecting in {:.1} s (attempt {attempt}): {reason}",
                    delay.as_secs_f64()
                ),
            ),
            SessionEvent::HeartbeatFailed { message } => {
                (Level::Error, format!("heartbeat failed: {message}"))
            }
            SessionEvent::Leaving => (Level::Info, "leaving the room".to_owned()),
            SessionEvent::Left => (Level::Info, "left the room".to_owned()),
            other => (Level::Info, other.kind().replace('_', " ")),
        };
        if let JoinRun::Running {
            tunnel, heartbeat, ..
        } = &mut self.run
        {
            match event {
                SessionEvent::TunnelConnected => *tunnel = true,
                SessionEvent::TunnelLost { .. } | SessionEvent::Reconnecting { .. } => {
                    *tunnel = false
                }
                SessionEvent::HeartbeatFailed { .. } | SessionEvent::Unregistered { .. } => {
                    *heartbeat = false;
                }
                SessionEvent::Registered(_) => *heartbeat = true,
                _ => {}
            }
        }
        self.log_line(now, level, line);
    }

    fn log_line(&mut self, now: Millis, level: Level, line: String) {
        push_bounded(&mut self.log, (now, level, line), JOIN_LOG_CAPACITY);
    }
}
