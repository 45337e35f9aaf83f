//! Each screen drawn from a given state on ratatui's `TestBackend`, checked against
//! snapshots (`src/tui/view/snapshots/`; review changes with `cargo insta review`).

use gambi_protocol as proto;
use proto::event::{LaggedEvent, ParticipantRef, stage};
use proto::{Millis, RoomEventPayload};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use super::draw;
use crate::tui::state::fixtures::{T0, complete, event, failure, request, summary};
use crate::tui::state::tests::{app, found, press, probe, room};
use crate::tui::state::{App, HubUpdate, JoinUpdate, Msg, StreamUpdate};

/// The time the screens are drawn at: a minute after the fixtures' events.
const NOW: Millis = T0 + 65_000;

fn render(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a test terminal");
    terminal
        .draw(|frame| draw(frame, app, NOW))
        .expect("drawing to a test backend works");
    terminal
}

fn screen(app: &App, width: u16, height: u16) -> String {
    render(app, width, height).backend().to_string()
}

fn healthy(app: &mut App) {
    let hub = app.hub_url.clone();
    app.on_msg(
        Msg::Health {
            hub,
            result: Ok(Some("0.1.0".into())),
        },
        T0,
    );
}

fn stream(app: &mut App, room: &str, update: StreamUpdate) {
    app.on_msg(
        Msg::Stream {
            room: room.into(),
            update,
        },
        T0,
    );
}

fn at(time: Millis, payload: RoomEventPayload) -> StreamUpdate {
    StreamUpdate::Event(Box::new(event(time, payload)))
}

/// A room with three participants (busy, online, offline) and a minute of traffic.
fn monitored() -> App {
    let mut app = app();
    healthy(&mut app);
    press(&mut app, "mk7qf2m<enter>");
    stream(
        &mut app,
        "K7QF2M",
        at(
            T0,
            RoomEventPayload::Connected(proto::event::ConnectedEvent {
                client_id: "c1".into(),
            }),
        ),
    );
    stream(
        &mut app,
        "K7QF2M",
        StreamUpdate::Room(Box::new(room("K7QF2M", "Lab bench", false))),
    );
    let mut alice = summary("alice", 2);
    alice.specs = proto::MachineSpecs {
        gpu: Some("RTX 4090".into()),
        vram: Some(24.0),
        ram: Some(64.0),
        cpu: None,
    };
    alice.connection.last_tunnel_seen_at = Some(T0 + 60_000);
    let mut bob = summary("bob", 1);
    bob.model = "qwen3:8b".into();
    bob.joined_at = T0 + 1;
    bob.connection.last_tunnel_seen_at = Some(T0 + 58_000);
    bob.config.has_instructions = true;
    let mut carol = summary("carol", 1);
    carol.joined_at = T0 + 2;
    carol.status = proto::ParticipantStatus::Offline;
    carol.connection.connected = false;
    carol.connection.last_tunnel_seen_at = None;
    stream(
        &mut app,
        "K7QF2M",
        StreamUpdate::Participants(vec![alice, bob, carol]),
    );
    let mut second = T0 + 5_000;
    for (id, speed) in [
        ("r-0001", 31.0),
        ("r-0002", 44.5),
        ("r-0003", 38.2),
        ("r-0004", 52.0),
    ] {
        stream(&mut app, "K7QF2M", at(second, request(id, "alice")));
        stream(
            &mut app,
            "K7QF2M",
            at(
                second + 1_200,
                complete(id, "alice", 180 + second as u64 % 7, 120, speed),
            ),
        );
        second += 7_000;
    }
    stream(
        &mut app,
        "K7QF2M",
        at(T0 + 40_000, request("r-0005", "bob")),
    );
    stream(
        &mut app,
        "K7QF2M",
        at(T0 + 41_000, failure("r-0005", Some("bob"), stage::STREAM)),
    );
    stream(
        &mut app,
        "K7QF2M",
        at(T0 + 45_000, failure("r-0006", None, stage::CANCELLED)),
    );
    stream(
        &mut app,
        "K7QF2M",
        at(
            T0 + 50_000,
            RoomEventPayload::ParticipantOffline(ParticipantRef {
                participant_id: "carol".into(),
            }),
        ),
    );
    stream(
        &mut app,
        "K7QF2M",
        at(
            T0 + 55_000,
            RoomEventPayload::Lagged(LaggedEvent { skipped: 3 }),
        ),
    );
    stream(
        &mut app,
        "K7QF2M",
        at(T0 + 60_000, request("r-0007", "alice")),
    );
    stream(
        &mut app,
        "K7QF2M",
        at(T0 + 61_000, request("r-0008", "alice")),
    );
    app
}

#[test]
fn menu() {
    let mut app = app();
    healthy(&mut app);
    press(&mut app, "<down>");
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn serve_hub_running() {
    let mut app = app();
    press(&mut app, "h<tab><tab><tab> <enter>");
    app.on_msg(
        Msg::Hub(HubUpdate::Started {
            url: "http://localhost:3000".into(),
            db: Some("/home/ada/.local/share/gambi/hub.db".into()),
            mdns: Some(Ok("gambi-hub-3000-k7qf2m9a".into())),
        }),
        T0,
    );
    healthy(&mut app);
    app.notice = None;
    insta::assert_snapshot!(screen(&app, 90, 24));
}

#[test]
fn create_room_with_an_error() {
    let mut app = app();
    healthy(&mut app);
    press(&mut app, "cLab bench<tab>secret<tab><tab>warm<enter>");
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn create_room_done() {
    let mut app = app();
    healthy(&mut app);
    press(&mut app, "cLab bench<tab>secret<enter>");
    app.on_msg(Msg::RoomCreated(Ok(room("K7QF2M", "Lab bench", true))), T0);
    insta::assert_snapshot!(screen(&app, 80, 24));
}

#[test]
fn join_room_form_with_the_providers_models() {
    let mut app = app();
    healthy(&mut app);
    press(&mut app, "j");
    app.on_msg(
        Msg::Probed {
            endpoint: "http://localhost:11434".into(),
            result: Ok(probe(&[
                "llama3:latest",
                "qwen3:8b",
                "nomic-embed-text:latest",
            ])),
        },
        T0,
    );
    press(&mut app, "K7QF2M<tab><tab><tab><right>");
    insta::assert_snapshot!(screen(&app, 100, 26));
}

#[test]
fn join_room_with_a_room_found_by_discovery() {
    let mut app = app();
    healthy(&mut app);
    press(&mut app, "j");
    app.on_msg(
        Msg::Discovered(vec![found("CCCCCC", "Night class", "http://10.0.0.7:3000")]),
        T0,
    );
    app.on_msg(
        Msg::Probed {
            endpoint: "http://localhost:11434".into(),
            result: Ok(probe(&["llama3:latest"])),
        },
        T0,
    );
    press(&mut app, "<right>");
    insta::assert_snapshot!(screen(&app, 100, 26));
}

#[test]
fn join_room_running() {
    let mut app = app();
    healthy(&mut app);
    press(&mut app, "jK7QF2M<tab><tab><tab>llama3<enter>");
    let mut joined = summary("tui-abc123", 1);
    joined.nickname = "ada".into();
    app.on_msg(Msg::Join(JoinUpdate::Started(Box::new(joined))), T0 + 1_000);
    app.on_msg(
        Msg::Join(JoinUpdate::Event(
            gambi_participant::SessionEvent::TunnelConnected,
        )),
        T0 + 1_000,
    );
    app.on_msg(
        Msg::Join(JoinUpdate::Event(
            gambi_participant::SessionEvent::HeartbeatFailed {
                message: "Failed to reach hub.".into(),
            },
        )),
        T0 + 11_000,
    );
    insta::assert_snapshot!(screen(&app, 80, 20));
}

#[test]
fn rooms() {
    let mut app = app();
    healthy(&mut app);
    press(&mut app, "l");
    let mut second = room("ABC123", "Hackathon", true);
    second.created_at = T0 + 3_600_000;
    second.participant_count = 0;
    app.on_msg(
        Msg::Rooms {
            hub: app.hub_url.clone(),
            result: Ok(vec![room("K7QF2M", "Lab bench", false), second]),
        },
        T0,
    );
    press(&mut app, "<down>");
    insta::assert_snapshot!(screen(&app, 80, 20));
}

#[test]
fn monitor_wide() {
    insta::assert_snapshot!(screen(&monitored(), 130, 34));
}

/// On a terminal as wide as a projector's, each completed request also says where its
/// time went; on narrower ones the breakdown stays out of the way.
#[test]
fn monitor_detailed() {
    let drawn = screen(&monitored(), 170, 34);
    assert!(drawn.contains("Where the time went"), "{drawn}");
    assert!(!screen(&monitored(), 149, 34).contains("Where the time went"));
    insta::assert_snapshot!(drawn);
}

#[test]
fn monitor_narrow() {
    insta::assert_snapshot!(screen(&monitored(), 80, 30));
}

#[test]
fn monitor_asking_for_a_password() {
    let mut app = monitored();
    press(&mut app, "asecret1<enter>");
    stream(&mut app, "SECRET1", StreamUpdate::Unauthorized);
    press(&mut app, "hunter2");
    let drawn = screen(&app, 80, 24);
    assert!(!drawn.contains("hunter2"));
    insta::assert_snapshot!(drawn);
}

#[test]
fn quit_question() {
    let mut app = app();
    app.on_msg(
        Msg::Hub(HubUpdate::Started {
            url: "http://localhost:3000".into(),
            db: None,
            mdns: None,
        }),
        T0,
    );
    press(&mut app, "q");
    insta::assert_snapshot!(screen(&app, 80, 20));
}

#[test]
fn a_small_terminal_says_so() {
    insta::assert_snapshot!(screen(&monitored(), 60, 15));
}

#[test]
fn failures_are_red_and_busy_cards_yellow() {
    let app = monitored();
    let terminal = render(&app, 130, 34);
    let buffer = terminal.backend().buffer();
    let find = |text: &str| -> (u16, u16) {
        for y in 0..buffer.area.height {
            let line: String = (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_owned())
                .collect();
            if let Some(x) = line.find(text) {
                let x = line[..x].chars().count();
                return (u16::try_from(x).expect("fits"), y);
            }
        }
        panic!("{text} is not on screen:\n{}", terminal.backend());
    };
    let (x, y) = find("stream: provider answered 500");
    assert_eq!(buffer[(x, y)].fg, Color::Red, "a failed request");
    let (x, y) = find("cancelled: The client");
    assert_eq!(buffer[(x, y)].fg, Color::Red, "a cancelled request");
    let (x, y) = find("r-0004");
    assert_eq!(buffer[(x, y)].fg, Color::Reset, "a completed request");
    let (x, y) = find("◐ alice-laptop");
    assert_eq!(
        buffer[(x, y)].fg,
        Color::Yellow,
        "alice has both slots taken"
    );
    let (x, y) = find("● bob-laptop");
    assert_eq!(buffer[(x, y)].fg, Color::Green);
}
