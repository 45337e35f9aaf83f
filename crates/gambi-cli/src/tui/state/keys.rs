//! How the keys of each screen, and the news from event streams, change the state: the
//! second half of [`App`]'s rules (the first is in `mod.rs`).

use super::*;

impl App {
    pub(super) fn modal_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(modal) = self.modal.take() else {
            return Vec::new();
        };
        match modal {
            Modal::Quit => match key.code {
                KeyCode::Char('y' | 'Y') | KeyCode::Enter => vec![Effect::Quit],
                KeyCode::Char('n' | 'N') | KeyCode::Esc => Vec::new(),
                _ => {
                    self.modal = Some(Modal::Quit);
                    Vec::new()
                }
            },
            Modal::Password { room, field, error } => {
                let mut form = Form::new(vec![field]);
                match form.key(key) {
                    FormKey::Back => Vec::new(),
                    FormKey::Submit if !form.field(0).value.is_empty() => {
                        let password = Secret(form.field(0).value.clone());
                        self.passwords.insert(room.clone(), password.clone());
                        let hub = match self.tabs.iter_mut().find(|tab| tab.code == room) {
                            Some(tab) => {
                                tab.stream = StreamState::Connecting { attempt: 0 };
                                tab.hub.clone()
                            }
                            None => self.hub_url.clone(),
                        };
                        vec![Effect::Watch {
                            hub,
                            room,
                            password: Some(password),
                        }]
                    }
                    _ => {
                        let field = form.fields.swap_remove(0);
                        self.modal = Some(Modal::Password { room, field, error });
                        Vec::new()
                    }
                }
            }
            Modal::AddRoom { field } => {
                let mut form = Form::new(vec![field]);
                match form.key(key) {
                    FormKey::Back => {
                        if self.tabs.is_empty() {
                            self.screen = Screen::Menu;
                        }
                        Vec::new()
                    }
                    FormKey::Submit if !form.text(0).is_empty() => {
                        let code = form.text(0).to_owned();
                        let protected = self.rooms.is_protected(&code);
                        self.watch(&code, protected)
                    }
                    _ => {
                        self.modal = Some(Modal::AddRoom {
                            field: form.fields.swap_remove(0),
                        });
                        Vec::new()
                    }
                }
            }
        }
    }

    pub(super) fn menu_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Up => {
                self.menu = (self.menu + MENU.len() - 1) % MENU.len();
                Vec::new()
            }
            KeyCode::Down | KeyCode::Tab => {
                self.menu = (self.menu + 1) % MENU.len();
                Vec::new()
            }
            KeyCode::Enter => self.open(MENU[self.menu].0),
            KeyCode::Char('q') | KeyCode::Esc => self.request_quit(),
            KeyCode::Char(c) => match MENU.iter().position(|(_, key, _)| *key == c) {
                Some(at) => {
                    self.menu = at;
                    self.open(MENU[at].0)
                }
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    pub(super) fn serve_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if !self.serve.editable() {
            return match key.code {
                KeyCode::Char('s') if matches!(self.serve.run, HubRun::Running { .. }) => {
                    self.serve.run = HubRun::Stopping;
                    vec![Effect::StopHub]
                }
                KeyCode::Esc => self.open(Screen::Menu),
                KeyCode::Char('q') => self.request_quit(),
                _ => Vec::new(),
            };
        }
        match self.serve.form.key(key) {
            FormKey::Back => self.open(Screen::Menu),
            FormKey::Submit => self.serve.start().into_iter().collect(),
            _ => Vec::new(),
        }
    }

    pub(super) fn hub_update(&mut self, update: HubUpdate) -> Vec<Effect> {
        let previous = self.hub_url.clone();
        match update {
            HubUpdate::Started { url, db, mdns } => {
                self.notice = Some(match &mdns {
                    Some(Err(error)) => (
                        Level::Error,
                        format!("Hub started at {url}, but not announced: {error}"),
                    ),
                    _ => (Level::Info, format!("Hub started at {url}")),
                });
                self.serve.run = HubRun::Running {
                    url: url.clone(),
                    db,
                    mdns,
                };
                self.hub_url = url;
            }
            HubUpdate::Failed(error) => {
                self.notice = Some((Level::Error, error.clone()));
                self.serve.run = HubRun::Failed(error);
                self.hub_url = self.configured_hub.clone();
            }
            HubUpdate::Stopped => {
                self.notice = Some((Level::Info, "Hub stopped".to_owned()));
                self.serve.run = HubRun::Stopped;
                self.hub_url = self.configured_hub.clone();
            }
        }
        if self.hub_url == previous {
            return Vec::new();
        }
        self.health = Health::Unknown;
        self.rooms = RoomsState::default();
        vec![Effect::Health {
            hub: self.hub_url.clone(),
        }]
    }

    pub(super) fn create_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if let Some(room) = self.create.room.clone() {
            return match key.code {
                KeyCode::Char('m') => self.watch(&room.code, room.password_protected),
                KeyCode::Char('j') => self.join_room(&room.code),
                KeyCode::Char('n') => {
                    self.create = CreateState::new();
                    Vec::new()
                }
                KeyCode::Esc => self.open(Screen::Menu),
                KeyCode::Char('q') => self.request_quit(),
                _ => Vec::new(),
            };
        }
        match self.create.form.key(key) {
            FormKey::Back => self.open(Screen::Menu),
            FormKey::Submit if !self.create.pending => match self.create.request() {
                Some(request) => {
                    if let Some(password) = &request.password {
                        // Whoever creates a protected room knows its password.
                        self.create.password = Some(Secret(password.clone()));
                    }
                    vec![Effect::CreateRoom {
                        hub: self.hub_url.clone(),
                        request,
                    }]
                }
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// Opens *Join room* for room `code`.
    pub(super) fn join_room(&mut self, code: &str) -> Vec<Effect> {
        let password = self.passwords.get(code).cloned();
        if self.join.is_idle() {
            self.join.prefill(code, password.as_ref());
        }
        self.open(Screen::Join)
    }

    pub(super) fn join_key(&mut self, key: KeyEvent, now: Millis) -> Vec<Effect> {
        if !self.join.is_idle() {
            return match key.code {
                KeyCode::Char('l') if matches!(self.join.run, JoinRun::Running { .. }) => {
                    self.join.run = JoinRun::Leaving;
                    vec![Effect::Leave]
                }
                KeyCode::Char('m') => match &self.join.run {
                    JoinRun::Running { room, .. } | JoinRun::Starting { room } => {
                        let room = room.clone();
                        let protected = self.rooms.is_protected(&room);
                        if let Some(password) = self.join.password() {
                            self.passwords.entry(room.clone()).or_insert(password);
                        }
                        self.watch(&room, protected)
                    }
                    _ => Vec::new(),
                },
                KeyCode::Esc => self.open(Screen::Menu),
                KeyCode::Char('q') => self.request_quit(),
                _ => Vec::new(),
            };
        }
        match self.join.form.key(key) {
            FormKey::Back => self.open(Screen::Menu),
            FormKey::Submit => self
                .join
                .submit(&self.hub_url)
                .map(|request| Effect::Join(Box::new(request)))
                .into_iter()
                .collect(),
            FormKey::Edited(field) => {
                self.join.edited(field, now);
                Vec::new()
            }
            FormKey::Other => Vec::new(),
        }
    }

    pub(super) fn rooms_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let selected = self.rooms.selected().cloned();
        match key.code {
            KeyCode::Up => {
                self.rooms.select(-1);
                Vec::new()
            }
            KeyCode::Down => {
                self.rooms.select(1);
                Vec::new()
            }
            KeyCode::Char('r') => self.list_rooms(),
            KeyCode::Char('c') => self.open(Screen::Create),
            KeyCode::Enter | KeyCode::Char('m') => match selected {
                Some(room) => self.watch(&room.code, room.password_protected),
                None => Vec::new(),
            },
            KeyCode::Char('j') => match selected {
                Some(room) => self.join_room(&room.code),
                None => Vec::new(),
            },
            KeyCode::Esc => self.open(Screen::Menu),
            KeyCode::Char('q') => self.request_quit(),
            _ => Vec::new(),
        }
    }

    pub(super) fn monitor_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let count = self.tabs.len();
        match key.code {
            KeyCode::Tab | KeyCode::Right if count > 0 => {
                self.tab = (self.tab + 1) % count;
                Vec::new()
            }
            KeyCode::BackTab | KeyCode::Left if count > 0 => {
                self.tab = (self.tab + count - 1) % count;
                Vec::new()
            }
            KeyCode::Char('a') => {
                self.modal = Some(Modal::AddRoom {
                    field: Field::text("Room code", "The code of the room to watch"),
                });
                Vec::new()
            }
            KeyCode::Char('x') if count > 0 => {
                let tab = self.tabs.remove(self.tab);
                self.tab = self.tab.min(self.tabs.len().saturating_sub(1));
                vec![Effect::Unwatch { room: tab.code }]
            }
            KeyCode::Char('r') if count > 0 => {
                let tab = &mut self.tabs[self.tab];
                tab.stream = StreamState::Connecting { attempt: 0 };
                vec![Effect::Watch {
                    hub: tab.hub.clone(),
                    room: tab.code.clone(),
                    password: self.passwords.get(&tab.code).cloned(),
                }]
            }
            KeyCode::Char('p') if count > 0 => {
                let room = self.tabs[self.tab].code.clone();
                self.ask_password(&room, None);
                Vec::new()
            }
            KeyCode::Char('j') if count > 0 => {
                let room = self.tabs[self.tab].code.clone();
                self.join_room(&room)
            }
            KeyCode::Esc => self.open(Screen::Menu),
            KeyCode::Char('q') => self.request_quit(),
            _ => Vec::new(),
        }
    }

    pub(super) fn stream(&mut self, room: &str, update: StreamUpdate, now: Millis) -> Vec<Effect> {
        let Some(tab) = self.tabs.iter_mut().find(|tab| tab.code == room) else {
            return Vec::new();
        };
        match update {
            StreamUpdate::Connecting { attempt } => {
                tab.stream = StreamState::Connecting { attempt };
            }
            StreamUpdate::Event(event) => tab.apply(&event),
            StreamUpdate::Room(summary) => tab.room = Some(*summary),
            StreamUpdate::Participants(participants) => tab.snapshot(participants),
            StreamUpdate::Retrying { error, delay_ms } => {
                tab.stream = StreamState::Retrying {
                    error,
                    retry_at: now.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX)),
                };
            }
            StreamUpdate::Failed(error) => tab.stream = StreamState::Failed { error },
            StreamUpdate::Unauthorized => {
                let error = self
                    .passwords
                    .remove(room)
                    .map(|_| "Wrong password.".to_owned());
                if self.modal.is_none() {
                    self.ask_password(room, error);
                } else {
                    tab.stream = StreamState::NeedsPassword;
                }
            }
        }
        Vec::new()
    }
}
