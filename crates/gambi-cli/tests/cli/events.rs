//! `gambi events watch`.

use gambi_test_support::TestHub;
use nix::sys::signal::Signal;
use serde_json::Value;

use super::{Sandbox, client, create_room, register};

#[tokio::test]
async fn ndjson_prints_connected_then_events_and_exits_0_when_the_hub_stops() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;

    // `--format json` becomes NDJSON for a streaming command.
    let mut watch = sandbox.spawn(&[
        "events", "watch", "-H", &url, "--room", &room.code, "--format", "json",
    ]);
    let connected = watch.json().await;
    assert_eq!(connected["type"], "connected");
    assert_eq!(connected["roomCode"], room.code.as_str());
    assert!(connected["timestamp"].is_i64());
    assert!(connected["data"]["clientId"].is_string());

    register(&url, &room.code, "alice", None).await;
    let joined = watch.json().await;
    assert_eq!(joined["type"], "participant.joined");
    assert_eq!(joined["roomCode"], room.code.as_str());
    assert_eq!(joined["data"]["id"], "alice");
    assert_eq!(joined["data"]["nickname"], "alice nickname");

    client(&url)
        .participants()
        .remove(&room.code, "alice")
        .await
        .expect("removed");
    let left = watch.json().await;
    assert_eq!(left["type"], "participant.left");
    assert_eq!(left["data"], serde_json::json!({"participantId": "alice"}));

    hub.stop().await;
    let (status, rest, stderr) = watch.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(stderr, "");
}

#[tokio::test]
async fn text_lines_are_time_type_and_data() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;

    let mut watch = sandbox.spawn(&[
        "events", "watch", "-H", &url, "-r", &room.code, "--format", "text",
    ]);
    let line = watch.line().await;
    let (time, rest) = line.split_once(' ').expect("time first");
    let (kind, data) = rest.split_once(' ').expect("type, then data");
    assert_eq!(kind, "connected");
    let data: Value = serde_json::from_str(data).expect("JSON data");
    assert!(data["clientId"].is_string());
    assert_eq!(time.len(), "2026-01-01T00:00:00.000Z".len(), "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");

    register(&url, &room.code, "alice", None).await;
    client(&url)
        .participants()
        .remove(&room.code, "alice")
        .await
        .expect("removed");
    let line = watch.line().await;
    assert!(line.contains(" participant.joined {"), "{line}");
    let line = watch.line().await;
    let (_, rest) = line.split_once(' ').expect("time first");
    assert_eq!(rest, r#"participant.left {"participantId":"alice"}"#);

    // SIGINT ends the watch cleanly too.
    watch.signal(Signal::SIGINT);
    let (status, rest, stderr) = watch.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(rest.is_empty(), "{rest:?}");
    hub.stop().await;
}

#[tokio::test]
async fn protected_rooms_need_the_password_and_unknown_rooms_exit_4() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let room = create_room(&url, "Locked", Some("secret")).await;

    let run = sandbox
        .run(&["events", "watch", "-H", &url, "-r", &room.code])
        .await;
    let stderr = run.failed(3);
    assert_eq!(stderr[0], "Error: Invalid password.");
    assert_eq!(
        stderr[1],
        "Hint: Provide the correct room password and retry."
    );

    let mut watch = sandbox.spawn(&[
        "events",
        "watch",
        "-H",
        &url,
        "-r",
        &room.code,
        "--password",
        "secret",
        "--format",
        "ndjson",
    ]);
    assert_eq!(watch.json().await["type"], "connected");
    hub.stop().await;
    let (status, _, stderr) = watch.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");

    let hub = TestHub::start().await;
    let url = hub.url();
    let run = sandbox
        .run(&["events", "watch", "-H", &url, "-r", "NOPE42"])
        .await;
    assert_eq!(run.failed(4)[0], "Error: Room not found.");

    let run = sandbox.run(&["events", "watch", "-H", &url]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    hub.stop().await;
}
