//! `gambi events watch`.

use gambi_test_support::cluster::Link;
use gambi_test_support::{Cluster, DEFAULT_MODEL, ParticipantSpec, TestHub};
use nix::sys::signal::Signal;
use serde_json::json;

use super::{Sandbox, client, create_room, register};

#[tokio::test]
async fn ndjson_prints_connected_then_events_and_with_no_reconnect_exits_0_when_the_hub_stops() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;

    // `--format json` becomes NDJSON for a streaming command.
    let mut watch = sandbox.spawn(&[
        "events",
        "watch",
        "-H",
        &url,
        "--room",
        &room.code,
        "--format",
        "json",
        "--no-reconnect",
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
async fn text_is_one_readable_line_per_event() {
    let mut cluster = Cluster::start().await;
    let sandbox = Sandbox::new();
    let url = cluster.hub.url();
    let mut watch = sandbox.spawn(&[
        "events",
        "watch",
        "-H",
        &url,
        "-r",
        &cluster.code,
        "--format",
        "text",
    ]);
    let line = watch.line().await;
    let (time, rest) = line.split_once("  ").expect("time first");
    assert_eq!(time.len(), "2026-01-01T00:00:00.000Z".len(), "{time}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{time}");
    assert!(rest.starts_with("connected "), "{line}");
    assert!(rest.ends_with("watching"), "{line}");

    cluster
        .join(ParticipantSpec::new("alice", DEFAULT_MODEL))
        .await;
    let line = watch.line().await;
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        fields[1..4],
        ["participant.joined", "alice", DEFAULT_MODEL],
        "{line}"
    );

    let response = cluster
        .post(
            "/chat/completions",
            &json!({"model": "*", "messages": [{"role": "user", "content": "Hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    // Registration updates may come in between; the request's lines come in order.
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|line: &String| line.contains(" llm.complete "))
    {
        lines.push(watch.line().await);
    }
    let request = lines
        .iter()
        .find(|line| line.contains(" llm.request "))
        .expect("llm.request before llm.complete");
    let fields: Vec<&str> = request.split_whitespace().collect();
    assert_eq!(fields[1..4], ["llm.request", "alice", "*"], "{request}");
    assert!(request.contains("chat · request "), "{request}");
    let complete = lines.last().expect("llm.complete");
    let fields: Vec<&str> = complete.split_whitespace().collect();
    assert_eq!(
        fields[1..4],
        ["llm.complete", "alice", DEFAULT_MODEL],
        "{complete}"
    );
    assert!(complete.contains("TTFT "), "{complete}");
    assert!(complete.contains(" tokens"), "{complete}");
    assert!(!complete.contains('{'), "no JSON for people: {complete}");

    // SIGINT ends the watch cleanly.
    watch.signal(Signal::SIGINT);
    let (status, rest, stderr) = watch.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test]
async fn a_dropped_stream_is_reconnected_with_a_notice() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let room = create_room(&hub.url(), "Lab", None).await;
    let link = Link::start(hub.addr()).await;
    let mut watch = sandbox.spawn(&[
        "events",
        "watch",
        "-H",
        &link.url(),
        "-r",
        &room.code,
        "--format",
        "ndjson",
    ]);
    let first = watch.json().await;
    assert_eq!(first["type"], "connected");

    link.cut();
    let again = watch.json().await;
    assert_eq!(again["type"], "connected", "a new subscription");
    assert_ne!(again["data"]["clientId"], first["data"]["clientId"]);
    register(&hub.url(), &room.code, "alice", None).await;
    assert_eq!(watch.json().await["type"], "participant.joined");

    watch.signal(Signal::SIGTERM);
    let (status, rest, stderr) = watch.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(rest.is_empty(), "stdout keeps only events: {rest:?}");
    let notice = stderr
        .lines()
        .find(|line| line.starts_with("Event stream lost: "))
        .unwrap_or_else(|| panic!("a notice on stderr: {stderr}"));
    assert!(notice.contains("Reconnecting in "), "{notice}");
    assert!(notice.ends_with("(attempt 1)."), "{notice}");
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
        "--no-reconnect",
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
