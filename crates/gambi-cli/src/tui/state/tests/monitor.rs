//! Room monitors: passwords, tabs, events, the room list.

use super::*;

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
