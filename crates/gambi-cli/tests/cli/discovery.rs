//! `hub serve --mdns`, `hub discover`, `room discover` and `--room-name`, with mDNS for
//! real in a network namespace of the test's own (see `gambi_test_support::netns`).

use std::collections::BTreeSet;

use gambi_test_support::{DEFAULT_MODEL, FakeProvider};
use nix::sys::signal::Signal;
use serde_json::Value;

use super::{Running, Sandbox, client, create_room};

/// `gambi hub serve --mdns` on `host`:`port` in NDJSON; its `started` and
/// `mdns_registered` events.
async fn serve(sandbox: &Sandbox, host: &str, port: &str) -> (Running, Value, String) {
    let mut hub = sandbox.spawn(&[
        "hub",
        "serve",
        "--mdns",
        "--ephemeral",
        "--host",
        host,
        "--port",
        port,
        "--format",
        "ndjson",
    ]);
    let started = hub.json().await;
    assert_eq!(started["type"], "started", "{started}");
    assert_eq!(started["data"]["mdns"], true);
    let registered = hub.json().await;
    assert_eq!(registered["type"], "mdns_registered", "{registered}");
    let name = registered["data"]["name"]
        .as_str()
        .expect("an instance name")
        .to_owned();
    (hub, started["data"].clone(), name)
}

/// Browse window of the discovering commands: twice the default, for a loaded machine.
const WINDOW_MS: &str = "3000";

/// `hub discover --format json`: (name, hubUrl) of each hub found.
async fn discovered(sandbox: &Sandbox) -> BTreeSet<(String, String)> {
    let hubs = sandbox
        .run(&[
            "hub",
            "discover",
            "--format",
            "json",
            "--timeout",
            WINDOW_MS,
        ])
        .await;
    hubs.ok_json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|hub| {
            assert_eq!(
                hub["source"], "mdns",
                "nothing listens on the default URL: {hub}"
            );
            (
                hub["name"].as_str().expect("name").to_owned(),
                hub["hubUrl"].as_str().expect("hubUrl").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn hubs_announced_over_mdns_are_found_by_name_and_forgotten_after_they_stop() {
    if !gambi_test_support::inside!(
        hubs_announced_over_mdns_are_found_by_name_and_forgotten_after_they_stop
    ) {
        return;
    }
    let sandbox = Sandbox::new();
    let (hub_a, started, name_a) = serve(&sandbox, "127.0.0.2", "0").await;
    let port = started["port"]
        .as_u64()
        .expect("the bound port")
        .to_string();
    assert!(
        name_a.starts_with(&format!("gambi-hub-{port}-")),
        "{name_a}"
    );
    let (hub_b, _, name_b) = serve(&sandbox, "127.0.0.3", &port).await;
    assert_ne!(name_a, name_b, "two hubs on one port are told apart");
    let url_a = format!("http://127.0.0.2:{port}");
    let url_b = format!("http://127.0.0.3:{port}");
    assert_eq!(
        discovered(&sandbox).await,
        BTreeSet::from([
            (name_a.clone(), url_a.clone()),
            (name_b.clone(), url_b.clone())
        ])
    );
    let table = sandbox.run(&["hub", "discover", "--format", "text"]).await;
    let lines = table.ok_lines();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "URL", "VERSION", "SOURCE"]
    );
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with(&name_a) && line.contains(&url_a)),
        "{lines:?}"
    );

    // Rooms of both hubs; `room discover` lists them with their hub.
    let solo = create_room(&url_a, "Solo", None).await;
    let lab_a = create_room(&url_a, "Lab", None).await;
    let lab_b = create_room(&url_b, "Lab", None).await;
    let rooms = sandbox
        .run(&[
            "room",
            "discover",
            "--format",
            "json",
            "--timeout",
            WINDOW_MS,
        ])
        .await;
    let rooms = rooms.ok_json();
    let rooms: BTreeSet<(&str, &str)> = rooms
        .as_array()
        .expect("a list")
        .iter()
        .map(|room| {
            (
                room["code"].as_str().expect("code"),
                room["hubUrl"].as_str().expect("hubUrl"),
            )
        })
        .collect();
    assert_eq!(
        rooms,
        BTreeSet::from([
            (solo.code.as_str(), url_a.as_str()),
            (lab_a.code.as_str(), url_a.as_str()),
            (lab_b.code.as_str(), url_b.as_str()),
        ])
    );

    // `--room-name` finds the room and its hub without --hub.
    let mut watch = sandbox.spawn(&[
        "events",
        "watch",
        "--room-name",
        "Solo",
        "--format",
        "ndjson",
    ]);
    let connected = watch.json().await;
    assert_eq!(connected["type"], "connected");
    assert_eq!(connected["roomCode"], solo.code.as_str());

    let provider = FakeProvider::builder().start().await;
    let endpoint = provider.base_url();
    let mut join = sandbox.spawn(&[
        "participant",
        "join",
        "--room-name",
        "Solo",
        "--participant-id",
        "alice",
        "--model",
        DEFAULT_MODEL,
        "--endpoint",
        &endpoint,
        "--no-specs",
        "--format",
        "ndjson",
    ]);
    let prepared = join.json().await;
    assert_eq!(prepared["type"], "prepared");
    assert_eq!(prepared["data"]["room"], solo.code.as_str());
    assert_eq!(join.json().await["type"], "registered");
    let joined = watch.json().await;
    assert_eq!(joined["type"], "participant.joined");
    assert_eq!(joined["data"]["id"], "alice");
    let participants = client(&url_a)
        .participants()
        .list(&solo.code)
        .await
        .expect("listed");
    assert_eq!(participants.data[0].id, "alice");
    join.signal(Signal::SIGINT);
    assert_eq!(join.wait().await.0.code(), Some(0));
    watch.signal(Signal::SIGINT);
    assert_eq!(watch.wait().await.0.code(), Some(0));

    // A name on two hubs is ambiguous: the choices are listed, exit 2.
    let run = sandbox
        .run(&["events", "watch", "--room-name", "Lab"])
        .await;
    let stderr = run.failed(2);
    assert!(
        stderr[0].starts_with("Error: 2 rooms match name 'Lab'. Choices: "),
        "{stderr:?}"
    );
    for (code, url) in [(&lab_a.code, &url_a), (&lab_b.code, &url_b)] {
        assert!(
            stderr[0].contains(&format!("{code} \"Lab\" on {url}")),
            "{stderr:?}"
        );
    }
    // --hub always wins: only its rooms count.
    let run = sandbox
        .run(&["events", "watch", "--room-name", "Solo", "--hub", &url_b])
        .await;
    assert_eq!(run.failed(4)[0], "Error: No room with name 'Solo' found.");

    // A hub that stops is no longer found.
    hub_a.signal(Signal::SIGINT);
    let (status, _, stderr) = hub_a.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        discovered(&sandbox).await,
        BTreeSet::from([(name_b, url_b)])
    );
    hub_b.signal(Signal::SIGTERM);
    assert_eq!(hub_b.wait().await.0.code(), Some(0));
    let run = sandbox.run(&["hub", "discover", "--format", "text"]).await;
    assert_eq!(run.ok_lines()[0], "No hubs found.");
    let run = sandbox
        .run(&[
            "participant",
            "join",
            "--room-name",
            "Solo",
            "-m",
            "m",
            "--participant-id",
            "a",
        ])
        .await;
    assert!(
        run.failed(3)[0]
            .starts_with("Error: No Gambi hub found (tried http://localhost:3000 and mDNS)"),
        "{run:?}"
    );
}
