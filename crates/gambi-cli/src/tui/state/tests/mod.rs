//! The interface driven by keys and messages, without a terminal or a network.

use gambi_participant::{CloseOutcome, CloseReason, ProbeResult, SessionEvent};
use gambi_protocol as proto;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::fixtures::{HUB, T0, complete, event, request, summary};
use super::*;

mod join;
mod monitor;

pub(crate) fn init() -> Init {
    Init {
        hub_url: HUB.into(),
        room: None,
        password: None,
        defaults: Defaults {
            serve_host: "0.0.0.0".into(),
            serve_port: 3000,
            serve_mdns: false,
            endpoint: "http://localhost:11434".into(),
            share_specs: true,
            config_headers: Vec::new(),
            participant_id: "tui-abc123".into(),
        },
    }
}

pub(crate) fn app() -> App {
    App::new(init()).0
}

pub(crate) fn room(code: &str, name: &str, protected: bool) -> proto::RoomSummary {
    proto::RoomSummary {
        id: format!("id-{code}"),
        code: code.into(),
        name: name.into(),
        host_id: "host".into(),
        created_at: T0,
        defaults: None,
        password_protected: protected,
        participant_count: 2,
    }
}

pub(crate) fn probe(models: &[&str]) -> ProbeResult {
    ProbeResult {
        models: models.iter().map(|model| (*model).to_owned()).collect(),
        capabilities: proto::ParticipantCapabilities {
            open_responses: proto::Capability::Unsupported,
            chat_completions: proto::Capability::Supported,
        },
        reachable: true,
        auth_rejections: Vec::new(),
    }
}

/// Presses each key of `keys` (characters, or one named key per `<...>`).
pub(crate) fn press(app: &mut App, keys: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    let mut rest = keys;
    while let Some(c) = rest.chars().next() {
        let (code, len) = if c == '<' {
            let end = rest.find('>').expect("a closed <key>");
            let code = match &rest[1..end] {
                "enter" => KeyCode::Enter,
                "esc" => KeyCode::Esc,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "bs" => KeyCode::Backspace,
                "clear" => {
                    let clear = KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL);
                    effects.extend(app.on_key(clear, T0));
                    rest = &rest[end + 1..];
                    continue;
                }
                other => panic!("unknown key <{other}>"),
            };
            (code, end + 1)
        } else {
            (KeyCode::Char(c), c.len_utf8())
        };
        effects.extend(app.on_key(KeyEvent::from(code), T0));
        rest = &rest[len..];
    }
    effects
}

/// `code` on the hub at `hub_url`, as discovery reports it.
pub(crate) fn found(code: &str, name: &str, hub_url: &str) -> DiscoveredRoom {
    DiscoveredRoom {
        room: room(code, name, false),
        hub_name: "gambi-hub-3000-k7qf2m9a".into(),
        hub_source: gambi_client::discovery::HubSource::Mdns,
        hub_url: hub_url.into(),
    }
}

fn ctrl_c(app: &mut App) -> Vec<Effect> {
    app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), T0)
}

fn watch(room: &str, password: Option<&str>) -> Effect {
    Effect::Watch {
        hub: HUB.into(),
        room: room.into(),
        password: password.map(|password| Secret(password.into())),
    }
}

fn stream(app: &mut App, room: &str, update: StreamUpdate) -> Vec<Effect> {
    app.on_msg(
        Msg::Stream {
            room: room.into(),
            update,
        },
        T0,
    )
}

#[test]
fn the_room_flag_opens_its_monitor_at_once() {
    let mut init = init();
    init.room = Some(" abc123 ".into());
    init.password = Some(Secret("pw".into()));
    let (app, effects) = App::new(init);
    assert_eq!(app.screen, Screen::Monitor);
    assert_eq!(
        effects,
        [
            Effect::Health { hub: HUB.into() },
            watch("ABC123", Some("pw"))
        ]
    );
    assert_eq!(
        app.current_tab().map(|tab| tab.code.as_str()),
        Some("ABC123")
    );

    let (app, effects) = App::new(self::init());
    assert_eq!((app.screen, effects.len()), (Screen::Menu, 1));
}

#[test]
fn the_menu_opens_screens_by_key_and_by_selection() {
    let mut app = app();
    assert_eq!(
        press(&mut app, "l"),
        [Effect::ListRooms { hub: HUB.into() }]
    );
    assert_eq!(app.screen, Screen::Rooms);
    assert!(app.rooms.loading);
    press(&mut app, "<esc>");
    assert_eq!(app.screen, Screen::Menu);

    let effects = press(&mut app, "j");
    assert_eq!(app.screen, Screen::Join);
    assert_eq!(
        effects,
        [
            Effect::ListRooms { hub: HUB.into() },
            Effect::DiscoverRooms { hub: HUB.into() },
            Effect::Probe {
                endpoint: "http://localhost:11434".into(),
                header_envs: Vec::new(),
            }
        ]
    );
    press(&mut app, "<esc>");
    press(&mut app, "<down><enter>");
    assert_eq!((app.screen, app.menu), (Screen::Rooms, 3));
    press(&mut app, "<esc>m");
    assert_eq!(app.screen, Screen::Monitor);
    assert!(
        matches!(app.modal, Some(Modal::AddRoom { .. })),
        "no room watched yet"
    );
    press(&mut app, "<esc>");
    assert_eq!(app.screen, Screen::Menu, "cancelling with no tab goes back");
}

#[test]
fn quitting_asks_only_when_something_runs_here() {
    let mut app = app();
    assert_eq!(press(&mut app, "q"), [Effect::Quit]);

    app.on_msg(
        Msg::Hub(HubUpdate::Started {
            url: "http://localhost:4000".into(),
            db: None,
            mdns: None,
        }),
        T0,
    );
    assert!(app.runs_something());
    assert_eq!(press(&mut app, "q"), []);
    assert!(matches!(app.modal, Some(Modal::Quit)));
    assert_eq!(
        press(&mut app, "x"),
        [],
        "other keys keep the question open"
    );
    assert_eq!(press(&mut app, "n"), []);
    assert!(app.modal.is_none());
    assert_eq!(press(&mut app, "qy"), [Effect::Quit]);
    assert_eq!(ctrl_c(&mut app), []);
    assert_eq!(ctrl_c(&mut app), [Effect::Quit], "a second Ctrl+C means it");
}

#[test]
fn serving_a_hub_points_the_window_at_it_until_it_stops() {
    let mut app = app();
    press(&mut app, "h");
    assert_eq!(app.screen, Screen::Serve);
    press(&mut app, "<tab><bs><bs><bs><bs>0<tab> ");
    assert_eq!(
        press(&mut app, "<enter>"),
        [Effect::StartHub {
            host: "0.0.0.0".into(),
            port: 0,
            on_disk: false,
            mdns: false,
        }]
    );
    assert_eq!(app.serve.run, HubRun::Starting);
    assert_eq!(
        press(&mut app, "x"),
        [],
        "the form is locked while the hub starts"
    );

    let effects = app.on_msg(
        Msg::Hub(HubUpdate::Started {
            url: "http://localhost:41234".into(),
            db: None,
            mdns: None,
        }),
        T0,
    );
    assert_eq!(
        effects,
        [Effect::Health {
            hub: "http://localhost:41234".into()
        }]
    );
    assert_eq!(app.hub_url, "http://localhost:41234");
    app.on_msg(
        Msg::Health {
            hub: HUB.into(),
            result: Ok(None),
        },
        T0,
    );
    assert_eq!(
        app.health,
        Health::Unknown,
        "news of the previous hub is ignored"
    );

    assert_eq!(press(&mut app, "s"), [Effect::StopHub]);
    assert_eq!(app.serve.run, HubRun::Stopping);
    let effects = app.on_msg(Msg::Hub(HubUpdate::Stopped), T0);
    assert_eq!(effects, [Effect::Health { hub: HUB.into() }]);
    assert_eq!(
        (app.hub_url.as_str(), &app.serve.run),
        (HUB, &HubRun::Stopped)
    );
}

#[test]
fn serve_announces_the_hub_over_mdns_when_asked() {
    let mut app = app();
    press(&mut app, "h<tab><tab><tab> ");
    assert_eq!(
        press(&mut app, "<enter>"),
        [Effect::StartHub {
            host: "0.0.0.0".into(),
            port: 3000,
            on_disk: true,
            mdns: true,
        }]
    );
    app.on_msg(
        Msg::Hub(HubUpdate::Started {
            url: "http://localhost:3000".into(),
            db: None,
            mdns: Some(Ok("gambi-hub-3000-k7qf2m9a".into())),
        }),
        T0,
    );
    assert_eq!(
        app.serve.run,
        HubRun::Running {
            url: "http://localhost:3000".into(),
            db: None,
            mdns: Some(Ok("gambi-hub-3000-k7qf2m9a".into())),
        }
    );
    assert_eq!(
        app.notice.as_ref().map(|notice| notice.0),
        Some(Level::Info)
    );

    // A hub that runs but could not be announced says so, and keeps running.
    let mut app = self::app();
    press(&mut app, "h<tab><tab><tab> <enter>");
    app.on_msg(
        Msg::Hub(HubUpdate::Started {
            url: "http://localhost:3000".into(),
            db: None,
            mdns: Some(Err("mDNS is unavailable: no interface".into())),
        }),
        T0,
    );
    assert!(matches!(app.serve.run, HubRun::Running { .. }));
    assert_eq!(
        app.notice,
        Some((
            Level::Error,
            "Hub started at http://localhost:3000, but not announced: mDNS is unavailable: \
             no interface"
                .into()
        ))
    );
}

#[test]
fn serve_checks_its_form_and_shows_failures() {
    let mut app = app();
    press(&mut app, "h<tab><bs><bs><bs><bs>99999");
    assert_eq!(press(&mut app, "<enter>"), []);
    assert_eq!(
        app.serve.form.error.as_deref(),
        Some("Port must be 0-65535.")
    );
    press(&mut app, "<bs><bs><bs><bs><bs>3000<enter>");
    app.on_msg(
        Msg::Hub(HubUpdate::Failed(
            "Could not listen on 0.0.0.0:3000: in use".into(),
        )),
        T0,
    );
    assert!(matches!(app.serve.run, HubRun::Failed(_)));
    assert!(app.serve.editable());
    assert!(!app.runs_something());
    assert_eq!(
        app.notice.as_ref().map(|notice| notice.0),
        Some(Level::Error)
    );
}

#[test]
fn creating_a_room_checks_the_defaults_and_remembers_the_password() {
    let mut app = app();
    press(&mut app, "c<enter>");
    assert_eq!(app.create.form.error.as_deref(), Some("Name is required."));
    press(&mut app, "Lab<tab>pw<tab>Be brief.<tab>warm<enter>");
    assert_eq!(
        app.create.form.error.as_deref(),
        Some("Temperature 'warm' is not a number.")
    );
    press(&mut app, "<bs><bs><bs><bs>3<enter>");
    assert!(
        app.create
            .form
            .error
            .as_deref()
            .is_some_and(|error| error.contains("temperature")),
        "{:?}",
        app.create.form.error
    );
    press(&mut app, "<bs>0.5<tab>256");
    let effects = press(&mut app, "<enter>");
    let [Effect::CreateRoom { hub, request }] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(hub, HUB);
    assert_eq!(request.name, "Lab");
    assert_eq!(request.password.as_deref(), Some("pw"));
    assert_eq!(
        request.defaults,
        Some(json!({"instructions": "Be brief.", "temperature": 0.5, "max_tokens": 256}))
    );
    assert!(app.create.pending);
    assert_eq!(press(&mut app, "<enter>"), [], "one request at a time");

    app.on_msg(Msg::RoomCreated(Ok(room("K7QF2M", "Lab", true))), T0);
    assert!(app.create.room.is_some());
    // Its creator knows the password: watching does not ask for it.
    assert_eq!(press(&mut app, "m"), [watch("K7QF2M", Some("pw"))]);
    assert!(app.modal.is_none());
}

#[test]
fn a_refused_room_keeps_the_form() {
    let mut app = app();
    press(&mut app, "cLab<enter>");
    app.on_msg(Msg::RoomCreated(Err("Failed to reach hub.".into())), T0);
    assert!(!app.create.pending && app.create.room.is_none());
    assert_eq!(
        app.create.form.error.as_deref(),
        Some("Failed to reach hub.")
    );
    assert_eq!(app.create.form.text(CreateState::NAME), "Lab");
}

#[test]
fn key_releases_are_ignored_and_secrets_stay_out_of_debug() {
    let mut app = app();
    let release = KeyEvent::new_with_kind(
        KeyCode::Char('q'),
        KeyModifiers::NONE,
        ratatui::crossterm::event::KeyEventKind::Release,
    );
    assert_eq!(app.on_key(release, T0), []);
    press(&mut app, "j<tab>hunter2");
    let effect = watch("AAAAAA", Some("hunter2"));
    assert!(!format!("{effect:?} {app:?}").contains("hunter2"));
}
