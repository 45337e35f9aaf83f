//! The interface driven by keys and messages, without a terminal or a network.

use gambi_participant::{CloseOutcome, CloseReason, ProbeResult, SessionEvent};
use gambi_protocol as proto;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;

use super::fixtures::{HUB, T0, complete, event, request, summary};
use super::*;

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
fn join_probes_once_typing_pauses_and_joins_with_a_listed_model() {
    let mut app = app();
    press(&mut app, "j");
    app.on_msg(
        Msg::Rooms {
            hub: HUB.into(),
            result: Ok(vec![room("AAAAAA", "A", false), room("BBBBBB", "B", true)]),
        },
        T0,
    );
    press(&mut app, "<right><right>");
    assert_eq!(
        app.join.form.text(JoinState::ROOM),
        "BBBBBB",
        "rooms are choices"
    );
    press(&mut app, "<tab>secret<tab><bs><bs><bs><bs><bs>8080");
    assert_eq!(app.on_tick(T0 + 100), [], "still typing");
    assert_eq!(
        app.on_tick(T0 + 700),
        [Effect::Probe {
            endpoint: "http://localhost:8080".into(),
            header_envs: Vec::new(),
        }]
    );
    assert_eq!(app.on_tick(T0 + 1400), [], "probed once");
    // A late answer for an endpoint no longer typed is ignored.
    app.on_msg(
        Msg::Probed {
            endpoint: "http://localhost:11434".into(),
            result: Ok(probe(&["old"])),
        },
        T0,
    );
    assert_eq!(app.join.form.text(JoinState::MODEL), "");
    app.on_msg(
        Msg::Probed {
            endpoint: "http://localhost:8080".into(),
            result: Ok(probe(&["llama3:latest", "qwen3:8b"])),
        },
        T0,
    );
    assert_eq!(app.join.form.text(JoinState::MODEL), "llama3:latest");

    press(&mut app, "<tab><right>");
    assert_eq!(app.join.form.text(JoinState::MODEL), "qwen3:8b");
    press(
        &mut app,
        "<tab><tab><tab><bs>2<tab> <tab>Authorization=OPENAI_AUTH, x-key=KEY",
    );
    let effects = press(&mut app, "<enter>");
    let [Effect::Join(request)] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(
        **request,
        JoinRequest {
            hub: HUB.into(),
            room: "BBBBBB".into(),
            password: Some(Secret("secret".into())),
            endpoint: "http://localhost:8080".parse().expect("a URL"),
            model: "qwen3:8b".into(),
            nickname: "qwen3:8b@tui-ab".into(),
            participant_id: "tui-abc123".into(),
            max_concurrency: NonZeroU32::new(2).expect("non-zero"),
            share_specs: false,
            header_envs: vec!["Authorization=OPENAI_AUTH".into(), "x-key=KEY".into()],
        }
    );
    assert_eq!(
        app.join.run,
        JoinRun::Starting {
            room: "BBBBBB".into()
        }
    );
    assert!(app.runs_something());

    let mut joined = summary("tui-abc123", 2);
    joined.model = "qwen3:8b".into();
    app.on_msg(Msg::Join(JoinUpdate::Started(Box::new(joined))), T0);
    assert!(matches!(
        app.join.run,
        JoinRun::Running { tunnel: true, .. }
    ));
    app.on_msg(
        Msg::Join(JoinUpdate::Event(SessionEvent::TunnelLost {
            message: "connection reset".into(),
        })),
        T0,
    );
    assert!(matches!(
        app.join.run,
        JoinRun::Running { tunnel: false, .. }
    ));
    assert_eq!(
        app.join.log.back().map(|line| (line.1, line.2.as_str())),
        Some((Level::Error, "tunnel lost: connection reset"))
    );

    // The monitor of the joined room uses the password typed here.
    assert_eq!(press(&mut app, "m"), [watch("BBBBBB", Some("secret"))]);
    press(&mut app, "<esc>j");
    assert_eq!(press(&mut app, "l"), [Effect::Leave]);
    assert_eq!(app.join.run, JoinRun::Leaving);
    app.on_msg(
        Msg::Join(JoinUpdate::Ended(CloseOutcome {
            reason: CloseReason::Closed,
            error: None,
        })),
        T0,
    );
    assert!(app.join.is_idle() && !app.runs_something());
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

#[test]
fn join_picks_a_room_found_by_discovery_and_joins_it_on_its_hub() {
    let mut app = app();
    press(&mut app, "j");
    assert!(app.join.discovering);
    app.on_msg(
        Msg::Rooms {
            hub: HUB.into(),
            result: Ok(vec![room("AAAAAA", "A", false)]),
        },
        T0,
    );
    app.on_msg(
        Msg::Discovered(vec![
            found("AAAAAA", "A", HUB),
            found("CCCCCC", "Night class", "http://10.0.0.7:3000"),
        ]),
        T0,
    );
    assert!(!app.join.discovering);
    assert_eq!(
        app.join.form.field(JoinState::ROOM).options,
        ["AAAAAA", "CCCCCC"],
        "the hub's rooms, then the others found, each once"
    );
    press(&mut app, "<right>");
    assert_eq!(
        app.join.found_room(),
        None,
        "the window's own hub lists AAAAAA"
    );
    press(&mut app, "<right>");
    let elsewhere = app
        .join
        .found_room()
        .expect("CCCCCC was found on another hub");
    assert_eq!(elsewhere.hub_url, "http://10.0.0.7:3000");

    app.on_msg(
        Msg::Probed {
            endpoint: "http://localhost:11434".into(),
            result: Ok(probe(&["llama3:latest"])),
        },
        T0,
    );
    let effects = press(&mut app, "<enter>");
    let [Effect::Join(request)] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(
        (request.hub.as_str(), request.room.as_str()),
        ("http://10.0.0.7:3000", "CCCCCC")
    );

    // A room of the window's own hub is joined there.
    let mut app = self::app();
    press(&mut app, "j");
    app.on_msg(
        Msg::Rooms {
            hub: HUB.into(),
            result: Ok(vec![room("AAAAAA", "A", false)]),
        },
        T0,
    );
    app.on_msg(
        Msg::Discovered(vec![found("AAAAAA", "A", "http://10.0.0.7:3000")]),
        T0,
    );
    press(&mut app, "<right>");
    app.on_msg(
        Msg::Probed {
            endpoint: "http://localhost:11434".into(),
            result: Ok(probe(&["llama3:latest"])),
        },
        T0,
    );
    let effects = press(&mut app, "<enter>");
    let [Effect::Join(request)] = effects.as_slice() else {
        panic!("{effects:?}");
    };
    assert_eq!(request.hub, HUB);
}

#[test]
fn join_refuses_what_cannot_work() {
    let mut app = app();
    press(&mut app, "j");
    assert_eq!(press(&mut app, "<enter>"), []);
    assert!(
        app.join
            .form
            .error
            .as_deref()
            .is_some_and(|error| error.starts_with("Room is required"))
    );
    press(&mut app, "ROOM01<tab><tab><clear>nope<enter>");
    assert_eq!(
        app.join.form.error.as_deref(),
        Some("Invalid endpoint 'nope': expected an http(s) URL.")
    );
    press(&mut app, "<clear>http://localhost:11434");
    app.join.probe_now();
    app.on_msg(
        Msg::Probed {
            endpoint: "http://localhost:11434".into(),
            result: Ok(probe(&["llama3:latest"])),
        },
        T0,
    );
    press(&mut app, "<tab><bs><bs><bs><bs><bs><bs><bs>");
    assert_eq!(app.join.form.text(JoinState::MODEL), "llama3", "no tag");
    press(&mut app, "<tab><tab><tab><bs>0");
    assert_eq!(press(&mut app, "<enter>"), []);
    assert_eq!(
        app.join.form.error.as_deref(),
        Some("Max concurrency must be 1-1024.")
    );
    press(&mut app, "<bs>1<up><up><up>x<enter>");
    assert_eq!(
        app.join.form.error.as_deref(),
        Some("The provider does not list 'llama3x'; it has llama3:latest.")
    );
    press(&mut app, "<bs>");
    assert!(
        matches!(press(&mut app, "<enter>").as_slice(), [Effect::Join(_)]),
        "llama3 matches llama3:latest"
    );
    app.on_msg(Msg::Join(JoinUpdate::Failed("Room not found.".into())), T0);
    assert!(app.join.is_idle());
    assert_eq!(app.join.form.error.as_deref(), Some("Room not found."));
}

#[test]
fn protected_rooms_ask_for_the_password_once() {
    let mut app = app();
    app.on_msg(
        Msg::Rooms {
            hub: HUB.into(),
            result: Ok(vec![
                room("OPEN01", "Open", false),
                room("LOCKED", "Locked", true),
            ]),
        },
        T0,
    );
    press(&mut app, "l<down>");
    // Known to be protected: ask before connecting.
    assert_eq!(press(&mut app, "<enter>"), []);
    assert!(
        matches!(&app.modal, Some(Modal::Password { room, error: None, .. }) if room == "LOCKED")
    );
    assert_eq!(
        app.current_tab().map(|tab| &tab.stream),
        Some(&StreamState::NeedsPassword)
    );
    press(&mut app, "wrong");
    assert_eq!(press(&mut app, "<enter>"), [watch("LOCKED", Some("wrong"))]);
    stream(&mut app, "LOCKED", StreamUpdate::Unauthorized);
    assert!(
        matches!(&app.modal, Some(Modal::Password { error: Some(error), .. }) if error == "Wrong password.")
    );
    assert_eq!(
        press(&mut app, "right<enter>"),
        [watch("LOCKED", Some("right"))]
    );
    stream(
        &mut app,
        "LOCKED",
        StreamUpdate::Event(Box::new(event(
            T0,
            proto::RoomEventPayload::Connected(proto::event::ConnectedEvent {
                client_id: "c".into(),
            }),
        ))),
    );
    assert_eq!(
        app.current_tab().map(|tab| &tab.stream),
        Some(&StreamState::Live)
    );

    // Closed and opened again: the password is remembered.
    assert_eq!(
        press(&mut app, "x"),
        [Effect::Unwatch {
            room: "LOCKED".into()
        }]
    );
    assert!(app.tabs.is_empty());
    press(&mut app, "alocked");
    assert_eq!(press(&mut app, "<enter>"), [watch("LOCKED", Some("right"))]);
    assert!(app.modal.is_none());

    // An open room is watched at once; if the hub wants a password after all, it asks.
    press(&mut app, "<esc>l<up><enter>");
    assert_eq!(app.tabs.len(), 2);
    stream(&mut app, "OPEN01", StreamUpdate::Unauthorized);
    assert!(matches!(
        &app.modal,
        Some(Modal::Password { error: None, .. })
    ));
    assert_eq!(press(&mut app, "<esc>"), []);
    assert_eq!(
        app.current_tab().map(|tab| &tab.stream),
        Some(&StreamState::NeedsPassword)
    );
    press(&mut app, "p");
    assert!(
        matches!(&app.modal, Some(Modal::Password { .. })),
        "p asks again"
    );
}

#[test]
fn monitor_tabs_switch_close_and_reconnect() {
    let mut app = app();
    press(&mut app, "maaaaaa<enter>");
    press(&mut app, "abbbbbb<enter>");
    assert_eq!(app.tab, 1);
    press(&mut app, "<tab>");
    assert_eq!(app.tab, 0);
    press(&mut app, "<left>");
    assert_eq!(app.tab, 1);
    press(&mut app, "abbbbbb<enter>");
    assert_eq!(app.tabs.len(), 2, "watching again shows the tab");
    assert_eq!(press(&mut app, "r"), [watch("BBBBBB", None)]);
    assert_eq!(
        press(&mut app, "x"),
        [Effect::Unwatch {
            room: "BBBBBB".into()
        }]
    );
    assert_eq!((app.tabs.len(), app.tab), (1, 0));
    let effects = press(&mut app, "j");
    assert_eq!(app.screen, Screen::Join);
    assert_eq!(app.join.form.text(JoinState::ROOM), "AAAAAA");
    assert_eq!(effects.len(), 3, "rooms, discovery and a probe");
}

#[test]
fn room_events_reach_their_tab() {
    let mut app = app();
    press(&mut app, "maaaaaa<enter>");
    stream(&mut app, "AAAAAA", StreamUpdate::Connecting { attempt: 0 });
    stream(
        &mut app,
        "AAAAAA",
        StreamUpdate::Room(Box::new(room("AAAAAA", "Lab", false))),
    );
    stream(
        &mut app,
        "AAAAAA",
        StreamUpdate::Participants(vec![summary("alice", 1)]),
    );
    stream(
        &mut app,
        "AAAAAA",
        StreamUpdate::Event(Box::new(event(T0, request("r1", "alice")))),
    );
    let tab = app.current_tab().expect("a tab");
    assert_eq!(
        tab.card("alice").map(Card::status),
        Some(proto::ParticipantStatus::Busy)
    );
    stream(
        &mut app,
        "AAAAAA",
        StreamUpdate::Event(Box::new(event(
            T0 + 900,
            complete("r1", "alice", 200, 30, 50.0),
        ))),
    );
    let tab = app.current_tab().expect("a tab");
    assert_eq!(
        tab.card("alice").map(Card::status),
        Some(proto::ParticipantStatus::Online)
    );
    assert_eq!(tab.totals.completed, 1);
    stream(
        &mut app,
        "ZZZZZZ",
        StreamUpdate::Failed("not watched".into()),
    );
    stream(
        &mut app,
        "AAAAAA",
        StreamUpdate::Retrying {
            error: "Failed to reach hub.".into(),
            delay_ms: 2000,
        },
    );
    assert_eq!(
        app.current_tab().map(|tab| &tab.stream),
        Some(&StreamState::Retrying {
            error: "Failed to reach hub.".into(),
            retry_at: T0 + 2000
        })
    );
    stream(
        &mut app,
        "AAAAAA",
        StreamUpdate::Failed("Room not found.".into()),
    );
    assert!(matches!(
        app.current_tab().map(|tab| &tab.stream),
        Some(StreamState::Failed { .. })
    ));
}

#[test]
fn the_room_list_follows_its_hub() {
    let mut app = app();
    press(&mut app, "l");
    app.on_msg(
        Msg::Rooms {
            hub: "http://elsewhere:3000".into(),
            result: Ok(vec![room("XXXXXX", "X", false)]),
        },
        T0,
    );
    assert!(app.rooms.rooms.is_empty() && app.rooms.loading);
    app.on_msg(
        Msg::Rooms {
            hub: HUB.into(),
            result: Err("Failed to reach hub.".into()),
        },
        T0,
    );
    assert_eq!(app.rooms.error.as_deref(), Some("Failed to reach hub."));
    assert_eq!(
        press(&mut app, "r"),
        [Effect::ListRooms { hub: HUB.into() }]
    );
    app.on_msg(
        Msg::Rooms {
            hub: HUB.into(),
            result: Ok(vec![room("AAAAAA", "A", false), room("BBBBBB", "B", false)]),
        },
        T0,
    );
    assert_eq!(app.rooms.error, None);
    press(&mut app, "<down><down><down>");
    assert_eq!(
        app.rooms.selected().map(|room| room.code.as_str()),
        Some("BBBBBB")
    );
    press(&mut app, "j");
    assert_eq!(
        (app.screen, app.join.form.text(JoinState::ROOM)),
        (Screen::Join, "BBBBBB")
    );
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
