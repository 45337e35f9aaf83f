//! The *Join room* screen.

use super::*;

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
