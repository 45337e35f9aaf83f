//! `gambi participant join` against a `TestHub` and a `FakeProvider`.

use futures::StreamExt as _;
use gambi_test_support::{DEFAULT_MODEL, FakeProvider, TestHub};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use super::{Running, Sandbox, client, closed_port_url, create_room};

/// The provider's API key: must reach the provider and nothing else.
const PROVIDER_KEY: &str = "sk-provider-7f3a9c";
/// A second provider credential, given through `--header-env`.
const ENV_KEY: &str = "sk-env-51d0e2";
/// The room password: sent to the hub, never printed.
const ROOM_PASSWORD: &str = "pw-room-c4b8";

/// Every secret of these tests.
const SECRETS: [&str; 3] = [PROVIDER_KEY, ENV_KEY, ROOM_PASSWORD];

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} leaks {secret}: {text}");
    }
}

/// `participant join` flags for `room` on `hub`, serving `provider` as `alice`.
fn join_args<'a>(hub: &'a str, room: &'a str, provider: &'a str) -> Vec<&'a str> {
    vec![
        "participant",
        "join",
        "-H",
        hub,
        "--room",
        room,
        "--participant-id",
        "alice-laptop",
        "--model",
        DEFAULT_MODEL,
        "--endpoint",
        provider,
        "--no-specs",
    ]
}

/// Reads the next NDJSON event and checks its type and timestamp.
async fn expect_event(running: &mut Running, kind: &str) -> Value {
    let line = running.line().await;
    assert_no_secret("an event", &line);
    let event: Value =
        serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}"));
    assert_eq!(event["type"], kind, "{event}");
    assert!(event["timestamp"].is_i64(), "{event}");
    event["data"].clone()
}

#[tokio::test]
async fn dry_run_prints_the_registration_with_secrets_redacted() {
    let provider = FakeProvider::builder()
        .ollama()
        .models(["llama3:latest", "qwen2:7b"])
        .require_bearer(PROVIDER_KEY)
        .start()
        .await;
    let endpoint = provider.base_url();
    let hub = closed_port_url().await;
    let sandbox = Sandbox::new();
    let config = sandbox.path().join("participant.json");
    std::fs::write(&config, r#"{"temperature": 0.5, "extra": true}"#).expect("written");
    let authorization = format!("Authorization=Bearer {PROVIDER_KEY}");
    let args = [
        "participant",
        "join",
        "--dry-run",
        "-H",
        &hub,
        "-r",
        "ABC123",
        "--participant-id",
        "alice-laptop",
        "-m",
        "llama3",
        "-e",
        &endpoint,
        "--header",
        &authorization,
        "--header-env",
        "X-Api-Key=GAMBI_TEST_KEY",
        "-p",
        ROOM_PASSWORD,
        "--config",
        config.to_str().expect("UTF-8 path"),
        "--max-concurrency",
        "2",
    ];
    let env = [("GAMBI_TEST_KEY", ENV_KEY)];

    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let run = sandbox.run_with_env(&json_args, &env).await;
    assert_no_secret("stdout", &run.stdout);
    // A streaming command prints NDJSON even when asked for JSON: one line.
    assert_eq!(run.stdout.lines().count(), 1, "{run:#?}");
    let mut plan = run.ok_json();
    let specs = plan["payload"]
        .as_object_mut()
        .and_then(|payload| payload.remove("specs"))
        .expect("specs are shared by default");
    assert!(specs.is_object(), "{specs}");
    assert_eq!(
        plan,
        json!({
            "hubUrl": hub,
            "room": "ABC123",
            "participantId": "alice-laptop",
            "endpoint": endpoint,
            "connection": {"kind": "tunnel"},
            "payload": {
                "nickname": "llama3@alice-",
                "model": "llama3:latest",
                "endpoint": endpoint,
                "password": "[redacted]",
                "config": {"temperature": 0.5},
                "capabilities": {"openResponses": "supported", "chatCompletions": "supported"},
                "maxConcurrency": 2,
                "authHeaders": {"authorization": "[redacted]", "x-api-key": "[redacted]"},
            },
        })
    );
    // The probe went to the provider with the credentials.
    let probe = provider.requests();
    assert!(!probe.is_empty());
    assert!(probe.iter().all(|request| request.header("authorization")
        == Some(format!("Bearer {PROVIDER_KEY}").as_str())
        && request.header("x-api-key") == Some(ENV_KEY)));

    let mut text_args = args.to_vec();
    text_args.extend(["--format", "text", "--no-specs", "-n", "Alice"]);
    let run = sandbox.run_with_env(&text_args, &env).await;
    assert_no_secret("stdout", &run.stdout);
    let lines = run.ok_lines();
    assert_eq!(
        lines[0],
        format!("Would join room ABC123 on {hub} as alice-laptop (llama3:latest via {endpoint}).")
    );
    let payload: Value = serde_json::from_str(&lines[1..].join("\n")).expect("a JSON payload");
    assert_eq!(payload["nickname"], "Alice");
    assert_eq!(payload["password"], "[redacted]");
    assert_eq!(payload.get("specs"), None, "--no-specs shares none");
    assert_eq!(
        payload["authHeaders"],
        json!({"authorization": "[redacted]", "x-api-key": "[redacted]"})
    );
}

#[tokio::test]
async fn the_config_file_supplies_endpoint_headers_and_no_specs() {
    let provider = FakeProvider::builder()
        .require_bearer(PROVIDER_KEY)
        .start()
        .await;
    let endpoint = provider.base_url();
    let sandbox = Sandbox::new();
    sandbox.write_config(
        &json!({
            "defaultEnv": "lab",
            "envs": {"lab": {
                "hubUrl": "http://127.0.0.1:9",
                "endpoint": endpoint,
                "headers": {"Authorization": format!("Bearer {PROVIDER_KEY}")},
                "noSpecs": true,
            }},
        })
        .to_string(),
    );
    let run = sandbox
        .run(&[
            "participant",
            "join",
            "--dry-run",
            "-r",
            "ABC123",
            "--participant-id",
            "alice",
            "-m",
            DEFAULT_MODEL,
        ])
        .await;
    assert_no_secret("stdout", &run.stdout);
    let plan = run.ok_json();
    assert_eq!(plan["hubUrl"], "http://127.0.0.1:9");
    assert_eq!(plan["endpoint"], endpoint.as_str());
    assert_eq!(plan["payload"].get("specs"), None);
    assert_eq!(
        plan["payload"]["authHeaders"],
        json!({"authorization": "[redacted]"})
    );
}

#[tokio::test]
async fn a_signal_while_joining_still_exits_0() {
    // A "hub" that accepts the registration's connection and never answers: the signal
    // arrives while the command waits for it. It then stops listening, so leaving fails
    // fast instead of waiting as well.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hub = format!("http://{}", listener.local_addr().expect("address"));
    let (accepted_tx, accepted_rx) = tokio::sync::oneshot::channel();
    let silent = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.expect("a connection");
        drop(listener);
        let _ = accepted_tx.send(());
        socket
    });
    let provider = FakeProvider::builder().start().await;
    let endpoint = provider.base_url();
    let sandbox = Sandbox::new();
    let mut args = join_args(&hub, "ABC123", &endpoint);
    args.extend(["--format", "ndjson"]);
    let mut join = sandbox.spawn(&args);
    expect_event(&mut join, "prepared").await;
    tokio::time::timeout(super::PATIENCE, accepted_rx)
        .await
        .expect("the registration arrives in time")
        .expect("accepted");

    join.signal(Signal::SIGTERM);
    assert_eq!(
        expect_event(&mut join, "leaving").await,
        json!({"signal": "SIGTERM", "participantId": "alice-laptop", "room": "ABC123"})
    );
    expect_event(&mut join, "left").await;
    let (status, rest, stderr) = join.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(rest.is_empty(), "{rest:?}");
    drop(silent);
}

#[tokio::test]
async fn provider_problems_exit_3() {
    let provider = FakeProvider::builder()
        .models(["qwen2:7b", "mistral"])
        .require_bearer(PROVIDER_KEY)
        .start()
        .await;
    let endpoint = provider.base_url();
    let hub = closed_port_url().await;
    let sandbox = Sandbox::new();
    let authorization = format!("Authorization=Bearer {PROVIDER_KEY}");

    // The model is not offered: the error lists what is.
    for dry_run in [true, false] {
        let mut args = vec![
            "participant",
            "join",
            "-H",
            &hub,
            "-r",
            "ABC123",
            "--participant-id",
            "alice",
            "-m",
            "llama3",
            "-e",
            &endpoint,
            "--header",
            &authorization,
            "--no-specs",
        ];
        if dry_run {
            args.push("--dry-run");
        }
        let run = sandbox.run(&args).await;
        assert_eq!(
            run.failed(3),
            [
                format!("Error: Model 'llama3' not found on {endpoint}."),
                "Hint: available models: qwen2:7b, mistral".to_owned(),
            ]
        );
        assert_no_secret("stderr", &run.stderr);
    }

    // Without its credentials the provider lists nothing: say so, not "model not found".
    let run = sandbox
        .run(&[
            "participant",
            "join",
            "--dry-run",
            "-H",
            &hub,
            "-r",
            "ABC123",
            "--participant-id",
            "alice",
            "-m",
            "mistral",
            "-e",
            &endpoint,
            "--header",
            "Authorization=Bearer wrong",
            "--no-specs",
        ])
        .await;
    let stderr = run.failed(3);
    assert!(
        stderr[0].starts_with(&format!(
            "Error: The provider at {endpoint} refused the credentials (HTTP 401 on "
        )),
        "{stderr:?}"
    );

    // Nobody listens at the endpoint.
    let nowhere = closed_port_url().await;
    let run = sandbox
        .run(&[
            "participant",
            "join",
            "-H",
            &hub,
            "-r",
            "ABC123",
            "--participant-id",
            "alice",
            "-m",
            "mistral",
            "-e",
            &nowhere,
            "--no-specs",
        ])
        .await;
    assert_eq!(
        run.failed(3)[0],
        format!("Error: Could not reach the provider at {nowhere}.")
    );
}

#[tokio::test]
async fn missing_and_invalid_flags_exit_2() {
    let sandbox = Sandbox::new();
    let hub = closed_port_url().await;
    let bad_config = sandbox.path().join("bad.json");
    let bad_config = bad_config.to_str().expect("UTF-8 path").to_owned();
    std::fs::write(&bad_config, r#"{"temperature": 5}"#).expect("written");

    // (extra flags, first stderr line, start of the hint)
    let cases: Vec<(Vec<&str>, String, &str)> = vec![
        (
            vec!["--participant-id", "a", "-m", "m"],
            "Error: Room code is required.".into(),
            "Hint: Pass --room <CODE>",
        ),
        (
            vec!["-r", "ABC123", "--participant-id", "a"],
            "Error: Model is required.".into(),
            "Hint: Pass --model <MODEL>",
        ),
        (
            vec!["-r", "ABC123", "-m", "m", "--participant-id", "  "],
            "Error: Participant id is required.".into(),
            "Hint: Pass --participant-id <ID>. Keep it stable",
        ),
        (
            vec![
                "-r",
                "ABC123",
                "-m",
                "m",
                "--participant-id",
                "a",
                "-e",
                "localhost:11434",
            ],
            "Error: Invalid endpoint 'localhost:11434': expected an http(s) URL.".into(),
            "Hint: Pass --endpoint",
        ),
        (
            vec![
                "-r",
                "ABC123",
                "-m",
                "m",
                "--participant-id",
                "a",
                "--config",
                &bad_config,
            ],
            format!(
                "Error: Invalid participant config in {bad_config}: \
                 temperature: must be between 0 and 2, got 5"
            ),
            "Hint: Allowed fields:",
        ),
        (
            // Headers are resolved first, before the other flags are checked.
            vec!["--header-env", "Authorization=GAMBI_MISSING_KEY"],
            "Error: Environment variable 'GAMBI_MISSING_KEY' is required for header \
             'Authorization'."
                .into(),
            "Hint: Export GAMBI_MISSING_KEY",
        ),
        (
            vec![
                "-r",
                "ABC123",
                "-m",
                "m",
                "--participant-id",
                "a",
                "--header",
                PROVIDER_KEY,
            ],
            "Error: Invalid header assignment: expected Name=Value, found no '='.".into(),
            "Hint: Use --header Name=Value",
        ),
    ];
    for (extra, error, hint) in cases {
        let mut args = vec!["participant", "join", "-H", &hub, "--no-specs"];
        args.extend(extra);
        let run = sandbox.run(&args).await;
        let stderr = run.failed(2);
        assert_eq!(stderr[0], error, "{args:?}");
        assert!(stderr[1].starts_with(hint), "{args:?}: {stderr:?}");
        assert_no_secret("stderr", &run.stderr);
    }

    for slots in ["0", "1025", "many"] {
        let run = sandbox
            .run(&[
                "participant",
                "join",
                "-r",
                "ABC123",
                "-m",
                "m",
                "--participant-id",
                "a",
                "--max-concurrency",
                slots,
            ])
            .await;
        assert_eq!(run.code, Some(2), "{run:#?}");
        assert!(run.stderr.contains("--max-concurrency"), "{run:#?}");
    }
}

#[tokio::test]
async fn join_serves_through_the_hub_keeps_secrets_local_and_leaves_on_sigterm() {
    let hub = TestHub::start().await;
    let url = hub.url();
    let room = create_room(&url, "Lab", Some(ROOM_PASSWORD)).await;
    let provider = FakeProvider::builder()
        .require_bearer(PROVIDER_KEY)
        .start()
        .await;
    let endpoint = provider.base_url();
    let sandbox = Sandbox::new();
    let room_client = client(&url).with_token(ROOM_PASSWORD);
    let mut room_events = room_client.events().watch_room(&room.code);
    let connected = room_events
        .next()
        .await
        .expect("an event")
        .expect("subscribed");
    assert_eq!(connected.payload.kind(), "connected");

    let authorization = format!("Authorization=Bearer {PROVIDER_KEY}");
    let mut args = join_args(&url, &room.code, &endpoint);
    args.extend([
        "--header",
        &authorization,
        "--password",
        ROOM_PASSWORD,
        "--max-concurrency",
        "3",
        "--format",
        "ndjson",
        "--verbose",
    ]);
    let mut join = sandbox.spawn(&args);

    let prepared = expect_event(&mut join, "prepared").await;
    assert_eq!(
        prepared,
        json!({
            "room": room.code, "participantId": "alice-laptop", "endpoint": endpoint,
            "connection": {"kind": "tunnel"},
        })
    );
    let registered = expect_event(&mut join, "registered").await;
    assert_eq!(registered["roomId"], room.id.as_str());
    let participant = &registered["participant"];
    assert_eq!(participant["id"], "alice-laptop");
    assert_eq!(participant["nickname"], format!("{DEFAULT_MODEL}@alice-"));
    assert_eq!(participant["model"], DEFAULT_MODEL);
    assert_eq!(participant["maxConcurrency"], 3);
    let tunnel_url = registered["tunnel"]["url"].as_str().expect("a tunnel URL");
    assert!(tunnel_url.starts_with("ws://127.0.0.1:"), "{tunnel_url}");
    assert_eq!(
        registered["tunnel"].as_object().map(|tunnel| tunnel.len()),
        Some(1),
        "the token is withheld: {registered}"
    );
    assert_eq!(
        expect_event(&mut join, "tunnel_connected").await,
        json!({"participantId": "alice-laptop", "room": room.code})
    );

    // A request through the hub reaches the provider with the provider's key.
    let response = reqwest::Client::new()
        .post(format!("{url}/rooms/{}/v1/chat/completions", room.code))
        .bearer_auth(ROOM_PASSWORD)
        .json(&json!({
            "model": DEFAULT_MODEL,
            "messages": [{"role": "user", "content": "Hi"}],
        }))
        .send()
        .await
        .expect("the hub answers");
    assert_eq!(response.status(), 200);
    let completion: Value = response.json().await.expect("a JSON completion");
    assert_eq!(
        completion["choices"][0]["message"]["content"],
        "Hello! How can I help you today?"
    );
    let forwarded = provider.last_request().expect("the provider was called");
    assert_eq!(forwarded.path, "/v1/chat/completions");
    assert_eq!(
        forwarded.header("authorization"),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );

    // The hub never saw the provider key: not in the participant list, not in any event.
    let listed = reqwest::Client::new()
        .get(format!("{url}/v1/rooms/{}/participants", room.code))
        .bearer_auth(ROOM_PASSWORD)
        .send()
        .await
        .expect("the hub answers")
        .text()
        .await
        .expect("a body");
    assert_no_secret("the participant list", &listed);
    let listed: Value = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(listed["data"][0]["maxConcurrency"], 3);
    assert_eq!(listed["data"][0]["connection"]["connected"], true);
    loop {
        let event = room_events
            .next()
            .await
            .expect("an event")
            .expect("readable");
        let text = serde_json::to_string(&event).expect("serializable");
        assert_no_secret("a room event", &text);
        if event.payload.kind() == "llm.complete" {
            break;
        }
    }

    join.signal(Signal::SIGTERM);
    assert_eq!(
        expect_event(&mut join, "leaving").await,
        json!({"signal": "SIGTERM", "participantId": "alice-laptop", "room": room.code})
    );
    assert_eq!(
        expect_event(&mut join, "left").await,
        json!({"participantId": "alice-laptop", "room": room.code})
    );
    let (status, rest, stderr) = join.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(rest.is_empty(), "{rest:?}");
    // `--verbose` logs the session, but never a secret or the tunnel token.
    assert!(!stderr.is_empty());
    assert_no_secret("the log", &stderr);
    assert!(!stderr.contains("token="), "{stderr}");

    let left = room_client
        .participants()
        .list(&room.code)
        .await
        .expect("listed")
        .data;
    assert!(left.is_empty(), "{left:?}");
    hub.stop().await;
}

#[tokio::test]
async fn text_lines_and_sigint() {
    let hub = TestHub::start().await;
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;
    let provider = FakeProvider::builder().start().await;
    let endpoint = provider.base_url();
    let sandbox = Sandbox::new();
    let mut args = join_args(&url, &room.code, &endpoint);
    args.extend(["-n", "Alice", "--format", "text"]);
    let mut join = sandbox.spawn(&args);

    assert_eq!(
        join.line().await,
        format!(
            "Joined room {} as Alice ({DEFAULT_MODEL} via {endpoint}).",
            room.code
        )
    );
    assert_eq!(join.line().await, "Tunnel connected; serving requests.");
    assert_eq!(join.line().await, "Press Ctrl+C to leave.");
    join.signal(Signal::SIGINT);
    let (status, rest, stderr) = join.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(
        rest,
        [
            format!("Leaving room {} (SIGINT)...", room.code),
            format!("Left room {}.", room.code),
        ]
    );
    assert_eq!(stderr, "");
    let left = client(&url)
        .participants()
        .list(&room.code)
        .await
        .expect("listed")
        .data;
    assert!(left.is_empty(), "{left:?}");
    hub.stop().await;
}

#[tokio::test]
async fn refused_joins_map_to_exit_codes() {
    let hub = TestHub::start().await;
    let url = hub.url();
    let room = create_room(&url, "Locked", Some(ROOM_PASSWORD)).await;
    let provider = FakeProvider::builder().start().await;
    let endpoint = provider.base_url();
    let sandbox = Sandbox::new();

    // Text output prints nothing before joining, so stdout stays empty on failure.
    let join_args = |hub, code, endpoint| {
        let mut args = join_args(hub, code, endpoint);
        args.extend(["--format", "text"]);
        args
    };
    // No password, then a wrong one: exit 3 with the hub's message.
    let run = sandbox.run(&join_args(&url, &room.code, &endpoint)).await;
    assert_eq!(
        run.failed(3),
        [
            "Error: Invalid password.",
            "Hint: The room is password-protected; pass its password with --password.",
        ]
    );
    let mut args = join_args(&url, &room.code, &endpoint);
    args.extend(["--password", "not-it"]);
    let run = sandbox.run(&args).await;
    assert_eq!(
        run.failed(3),
        [
            "Error: Invalid password.",
            "Hint: The room password is wrong; pass the right one with --password.",
        ]
    );

    // An unknown room: exit 4.
    let run = sandbox.run(&join_args(&url, "NOPE42", &endpoint)).await;
    let stderr = run.failed(4);
    assert_eq!(stderr[0], "Error: Room not found.");
    assert!(
        stderr[1].starts_with("Hint: Check the room code"),
        "{stderr:?}"
    );

    // An unreachable hub: exit 3.
    let nowhere = closed_port_url().await;
    let run = sandbox
        .run(&join_args(&nowhere, &room.code, &endpoint))
        .await;
    let stderr = run.failed(3);
    assert!(
        stderr[0].starts_with(&format!("Error: Failed to reach hub at {nowhere}: ")),
        "{stderr:?}"
    );

    let participants = client(&url)
        .with_token(ROOM_PASSWORD)
        .participants()
        .list(&room.code)
        .await
        .expect("listed")
        .data;
    assert!(participants.is_empty(), "{participants:?}");
    hub.stop().await;
}

#[tokio::test]
async fn no_reconnect_ends_with_tunnel_failed_when_the_hub_stops() {
    let hub = TestHub::start().await;
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;
    let provider = FakeProvider::builder().start().await;
    let endpoint = provider.base_url();
    let sandbox = Sandbox::new();
    let mut args = join_args(&url, &room.code, &endpoint);
    args.extend(["--no-reconnect", "--format", "ndjson"]);
    let mut join = sandbox.spawn(&args);
    expect_event(&mut join, "prepared").await;
    expect_event(&mut join, "registered").await;
    expect_event(&mut join, "tunnel_connected").await;

    hub.stop().await;
    let (status, rest, stderr) = join.wait().await;
    assert_eq!(status.code(), Some(3), "{rest:?} {stderr}");
    let events: Vec<Value> = rest
        .iter()
        .map(|line| serde_json::from_str(line).expect("NDJSON"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|event| event["type"].as_str().expect("a type"))
        .collect();
    assert_eq!(kinds, ["tunnel_lost", "tunnel_failed"], "{events:?}");
    let failed = &events[1]["data"];
    assert_eq!(failed["participantId"], "alice-laptop");
    assert_eq!(failed["room"], room.code.as_str());
    assert_eq!(failed["reason"], "tunnel_closed");
    let message = failed["message"].as_str().expect("a message");
    assert!(message.starts_with("hub closed the tunnel"), "{message}");
    let message = message.replacen('h', "H", 1);
    // The library's warnings come first; the last two lines are the error and its hint.
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines[lines.len() - 2..],
        [
            format!("Error: {message}"),
            "Hint: Join again, or drop --no-reconnect to reconnect automatically.".to_owned(),
        ],
        "{stderr}"
    );
}

#[tokio::test]
async fn a_lost_tunnel_reconnects_until_a_signal() {
    let hub = TestHub::start().await;
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;
    let provider = FakeProvider::builder().start().await;
    let endpoint = provider.base_url();
    let sandbox = Sandbox::new();
    let mut args = join_args(&url, &room.code, &endpoint);
    args.extend(["--format", "ndjson"]);
    let mut join = sandbox.spawn(&args);
    expect_event(&mut join, "prepared").await;
    expect_event(&mut join, "registered").await;
    expect_event(&mut join, "tunnel_connected").await;

    hub.stop().await;
    let lost = expect_event(&mut join, "tunnel_lost").await;
    assert!(lost["message"].is_string(), "{lost}");
    let reconnecting = expect_event(&mut join, "reconnecting").await;
    assert_eq!(reconnecting["participantId"], "alice-laptop");
    assert_eq!(reconnecting["attempt"], 1);
    assert!(reconnecting["delayMs"].is_u64(), "{reconnecting}");
    assert!(reconnecting["reason"].is_string(), "{reconnecting}");

    join.signal(Signal::SIGTERM);
    let (status, rest, stderr) = join.wait().await;
    assert_eq!(status.code(), Some(0), "{rest:?} {stderr}");
    let kinds: Vec<String> = rest
        .iter()
        .map(|line| {
            let event: Value = serde_json::from_str(line).expect("NDJSON");
            event["type"].as_str().expect("a type").to_owned()
        })
        .collect();
    // Further attempts may be reported before the signal is handled.
    assert_eq!(kinds[kinds.len() - 2..], ["leaving", "left"], "{kinds:?}");
    assert!(
        kinds[..kinds.len() - 2]
            .iter()
            .all(|kind| kind == "reconnecting"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn text_mode_reports_a_lost_tunnel_and_the_retries() {
    let hub = TestHub::start().await;
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;
    let provider = FakeProvider::builder().start().await;
    let endpoint = provider.base_url();
    let sandbox = Sandbox::new();
    let mut args = join_args(&url, &room.code, &endpoint);
    args.extend(["--format", "text", "--quiet"]);
    let mut join = sandbox.spawn(&args);
    assert!(join.line().await.starts_with("Joined room "));
    // `--quiet` drops "Press Ctrl+C to leave."
    assert_eq!(join.line().await, "Tunnel connected; serving requests.");

    hub.stop().await;
    assert_eq!(
        join.line().await,
        "Lost the tunnel: hub closed the tunnel (1012 Hub restarting; reconnect soon.)"
    );
    let retry = join.line().await;
    assert!(retry.starts_with("Reconnecting in "), "{retry}");
    assert!(
        retry.contains(" s (attempt 1): hub closed the tunnel"),
        "{retry}"
    );

    join.signal(Signal::SIGINT);
    let (status, rest, stderr) = join.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(rest.last(), Some(&format!("Left room {}.", room.code)));
}

#[tokio::test]
async fn the_tunnel_token_never_reaches_the_log_even_at_trace_level() {
    let hub = TestHub::start().await;
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;
    let provider = FakeProvider::builder().start().await;
    let endpoint = provider.base_url();
    let sandbox = Sandbox::new();
    let mut args = join_args(&url, &room.code, &endpoint);
    args.extend(["--format", "ndjson"]);
    let mut join = sandbox.spawn_with_env(&args, &[("RUST_LOG", "trace")]);
    expect_event(&mut join, "prepared").await;
    expect_event(&mut join, "registered").await;
    expect_event(&mut join, "tunnel_connected").await;
    join.signal(Signal::SIGINT);
    let (status, _, stderr) = join.wait().await;
    assert_eq!(status.code(), Some(0));

    // The libraries did log the tunnel URL; its token is masked every time.
    let mentions: Vec<&str> = stderr
        .match_indices("token=")
        .map(|(at, _)| &stderr[at..])
        .collect();
    assert!(
        !mentions.is_empty(),
        "the tunnel URL is logged at trace level"
    );
    for mention in mentions {
        assert!(
            mention.starts_with("token=[redacted]"),
            "{}",
            &mention[..mention.len().min(60)]
        );
    }
    hub.stop().await;
}
