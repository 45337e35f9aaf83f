//! `gambi hub serve`: the binary's own hub, on a free port of 127.0.0.1.

use nix::sys::signal::Signal;
use serde_json::{Value, json};

use super::{Running, Sandbox, client};

/// Starts `hub serve` on 127.0.0.1:0 in NDJSON and reads its `started` event.
async fn serve(sandbox: &Sandbox, extra: &[&str]) -> (Running, Value) {
    let mut args = vec![
        "hub",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--format",
        "ndjson",
    ];
    args.extend_from_slice(extra);
    let mut hub = sandbox.spawn(&args);
    let started = hub.json().await;
    assert_eq!(started["type"], "started", "{started}");
    (hub, started)
}

/// Sends `signal` and checks the NDJSON goodbye and exit code 0.
async fn stop(hub: Running, signal: Signal, name: &str) {
    hub.signal(signal);
    let (status, rest, stderr) = hub.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    let events: Vec<Value> = rest
        .iter()
        .map(|line| serde_json::from_str(line).expect("NDJSON"))
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["type"], "signal_received");
    assert_eq!(events[0]["data"], json!({"signal": name}));
    assert_eq!(events[1]["type"], "stopped");
    assert_eq!(events[1]["data"], json!({"signal": name}));
    assert!(events.iter().all(|event| event["timestamp"].is_i64()));
}

#[tokio::test]
async fn ndjson_lifecycle_health_and_sigterm() {
    let sandbox = Sandbox::new();
    let (hub, started) = serve(&sandbox, &["--ephemeral"]).await;
    let data = &started["data"];
    let port = data["port"].as_u64().expect("the bound port");
    assert!(port > 0);
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(
        *data,
        json!({
            "host": "127.0.0.1", "port": port, "bindUrl": url, "hubUrl": url,
            "db": null, "mdns": false, "metricsUrl": format!("{url}/metrics")
        })
    );
    assert!(started["timestamp"].is_i64());

    let health = client(&url).health().await.expect("the hub answers");
    assert_eq!(health.data.status, "ok");
    stop(hub, Signal::SIGTERM, "SIGTERM").await;
    assert!(
        !sandbox.data_home().exists(),
        "an ephemeral hub creates no database"
    );
}

#[tokio::test]
async fn a_database_keeps_rooms_across_restarts() {
    let sandbox = Sandbox::new();
    let db = sandbox.path().join("state").join("nested").join("hub.db");
    let db_arg = db.to_str().expect("UTF-8 path");

    let (hub, started) = serve(&sandbox, &["--db", db_arg]).await;
    assert_eq!(started["data"]["db"], db_arg);
    let url = started["data"]["hubUrl"]
        .as_str()
        .expect("a URL")
        .to_owned();
    let room = super::create_room(&url, "Persistent", None).await;
    stop(hub, Signal::SIGTERM, "SIGTERM").await;
    assert!(db.exists());

    let (hub, started) = serve(&sandbox, &["--db", db_arg]).await;
    let url = started["data"]["hubUrl"]
        .as_str()
        .expect("a URL")
        .to_owned();
    let rooms = client(&url).rooms().list().await.expect("listed").data;
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].code, room.code);
    assert_eq!(rooms[0].name, "Persistent");
    stop(hub, Signal::SIGINT, "SIGINT").await;
}

#[tokio::test]
async fn the_default_database_lives_in_the_xdg_data_dir() {
    let sandbox = Sandbox::new();
    let expected = sandbox.data_home().join("gambi").join("hub.db");
    let (hub, started) = serve(&sandbox, &[]).await;
    assert_eq!(
        started["data"]["db"],
        expected.to_str().expect("UTF-8 path")
    );
    assert!(expected.parent().expect("a parent").is_dir());
    stop(hub, Signal::SIGTERM, "SIGTERM").await;
}

#[tokio::test]
async fn text_mode_and_quiet() {
    let sandbox = Sandbox::new();
    let mut hub = sandbox.spawn(&[
        "hub",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ephemeral",
        "--format",
        "text",
    ]);
    let first = hub.line().await;
    let url = first
        .strip_prefix("Hub started at ")
        .unwrap_or_else(|| panic!("unexpected first line: {first}"));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(hub.line().await, "Press Ctrl+C to stop");
    client(url).health().await.expect("the hub answers");
    hub.signal(Signal::SIGINT);
    let (status, rest, stderr) = hub.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_eq!(rest, ["Shutting down (SIGINT)...", "Hub stopped."]);

    let mut hub = sandbox.spawn(&[
        "hub",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ephemeral",
        "--format",
        "text",
        "--quiet",
    ]);
    assert!(
        hub.line()
            .await
            .starts_with("Hub started at http://127.0.0.1:")
    );
    hub.signal(Signal::SIGTERM);
    let (status, rest, stderr) = hub.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test]
async fn admin_token_and_queue_settings_reach_the_hub() {
    let sandbox = Sandbox::new();
    let (hub, started) = serve(
        &sandbox,
        &[
            "--ephemeral",
            "--admin-token",
            "root",
            "--queue-size",
            "4",
            "--queue-timeout",
            "5",
        ],
    )
    .await;
    let url = started["data"]["hubUrl"]
        .as_str()
        .expect("a URL")
        .to_owned();

    let run = sandbox.run(&["room", "list", "-H", &url]).await;
    let stderr = run.failed(3);
    assert_eq!(
        stderr[0],
        "Error: This hub requires its admin token to create or list rooms."
    );
    let run = sandbox
        .run_with_env(
            &["room", "list", "-H", &url],
            &[("GAMBI_ADMIN_TOKEN", "root")],
        )
        .await;
    assert_eq!(run.ok_json()["data"], json!([]));
    let run = sandbox
        .run(&[
            "room",
            "create",
            "-H",
            &url,
            "-n",
            "Lab",
            "--admin-token",
            "root",
            "--format",
            "text",
        ])
        .await;
    assert!(run.ok_lines()[0].starts_with("Created room "));
    stop(hub, Signal::SIGTERM, "SIGTERM").await;
}

#[tokio::test]
async fn metrics_on_a_listener_of_their_own() {
    let sandbox = Sandbox::new();
    let (hub, started) = serve(
        &sandbox,
        &[
            "--ephemeral",
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-token",
            "scrape-secret",
        ],
    )
    .await;
    let data = &started["data"];
    let port = data["port"].as_u64().expect("the bound port");
    let metrics_url = data["metricsUrl"].as_str().expect("where the metrics are");
    assert!(
        metrics_url.starts_with("http://127.0.0.1:"),
        "{metrics_url}"
    );
    assert!(
        !metrics_url.ends_with(":0/metrics"),
        "the bound port: {metrics_url}"
    );
    let http = reqwest::Client::new();
    let scraped = http
        .get(metrics_url)
        .bearer_auth("scrape-secret")
        .send()
        .await
        .expect("the metrics listener answers");
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.expect("a body");
    assert!(text.contains("\ngambi_rooms 0\n"), "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let unauthorized = http.get(metrics_url).send().await.expect("answers");
    assert_eq!(unauthorized.status(), 401);
    let main = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .bearer_auth("scrape-secret")
        .send()
        .await
        .expect("the hub answers");
    assert_eq!(main.status(), 404, "not on the main listener");
    stop(hub, Signal::SIGINT, "SIGINT").await;
}

#[tokio::test]
async fn dry_run_prints_the_plan() {
    let sandbox = Sandbox::new();
    let db = sandbox.data_home().join("gambi").join("hub.db");
    let db = db.to_str().expect("UTF-8 path");

    // Piped without --format: a streaming command prints NDJSON.
    let run = sandbox.run(&["hub", "serve", "--dry-run"]).await;
    assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
    assert_eq!(
        run.ok_json(),
        json!({
            "host": "0.0.0.0", "port": 3000, "bindUrl": "http://0.0.0.0:3000",
            "hubUrl": "http://localhost:3000", "db": db, "mdns": false,
            "metricsUrl": "http://localhost:3000/metrics"
        })
    );
    let run = sandbox
        .run(&[
            "hub",
            "serve",
            "--dry-run",
            "--ephemeral",
            "--port",
            "4000",
            "--format",
            "text",
        ])
        .await;
    assert_eq!(
        run.ok_lines(),
        ["Would start hub on http://0.0.0.0:4000 (database: in memory; mdns: disabled)."]
    );
    let run = sandbox
        .run(&[
            "hub",
            "serve",
            "--dry-run",
            "--host",
            "127.0.0.1",
            "--format",
            "text",
        ])
        .await;
    assert_eq!(
        run.ok_lines(),
        [format!(
            "Would start hub on http://127.0.0.1:3000 (database: {db}; mdns: disabled)."
        )]
    );
    assert!(!sandbox.data_home().exists(), "a dry run creates nothing");
}

#[tokio::test]
async fn bad_flags_exit_2_and_a_busy_port_exits_3() {
    let sandbox = Sandbox::new();
    for args in [
        &["hub", "serve", "--port", "70000"][..],
        &["hub", "serve", "--port", "web"],
        &["hub", "serve", "--ephemeral", "--db", "x.db"],
        &["hub", "serve", "--queue-timeout", "0"],
    ] {
        let run = sandbox.run(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("error: "), "{run:?}");
    }
    let run = sandbox.run(&["hub", "serve", "--port", "70000"]).await;
    assert!(run.stderr.contains("Invalid port '70000'"), "{run:?}");
    for args in [
        &["hub", "serve", "--response-start-timeout", "0"][..],
        &["hub", "serve", "--response-idle-timeout", "soon"],
        &["hub", "serve", "--remove-offline-after", "-5"],
    ] {
        let run = sandbox.run(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
    }
    let run = sandbox
        .run(&[
            "hub",
            "serve",
            "--dry-run",
            "--cors-origin",
            "localhost:5173",
        ])
        .await;
    let stderr = run.failed(2);
    assert!(
        stderr[0].starts_with("Error: Invalid --cors-origin: invalid origin \"localhost:5173\""),
        "{stderr:?}"
    );
    let run = sandbox
        .run(&[
            "hub",
            "serve",
            "--dry-run",
            "--ephemeral",
            "--response-start-timeout",
            "900",
            "--response-idle-timeout",
            "60",
            "--remove-offline-after",
            "3600",
            "--cors-origin",
            "http://localhost:5173",
            "--format",
            "text",
        ])
        .await;
    assert_eq!(
        run.ok_lines(),
        ["Would start hub on http://0.0.0.0:3000 (database: in memory; mdns: disabled)."]
    );

    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = taken.local_addr().expect("address").port().to_string();
    let run = sandbox
        .run(&[
            "hub",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--ephemeral",
        ])
        .await;
    let stderr = run.failed(3);
    assert!(
        stderr[0].starts_with(&format!(
            "Error: Could not listen on http://127.0.0.1:{port}: "
        )),
        "{stderr:?}"
    );
}

#[tokio::test]
async fn cors_origins_reach_the_hub() {
    let sandbox = Sandbox::new();
    let (hub, started) = serve(
        &sandbox,
        &["--ephemeral", "--cors-origin", "http://app.test:8080"],
    )
    .await;
    let url = started["data"]["hubUrl"]
        .as_str()
        .expect("a URL")
        .to_owned();
    let http = reqwest::Client::new();
    for (origin, allowed) in [
        ("http://app.test:8080", Some("http://app.test:8080")),
        ("http://other.test", None),
    ] {
        let response = http
            .request(reqwest::Method::OPTIONS, format!("{url}/v1/health"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
            .await
            .expect("the hub answers");
        assert_eq!(
            response
                .headers()
                .get("access-control-allow-origin")
                .and_then(|value| value.to_str().ok()),
            allowed,
            "{origin}"
        );
    }
    stop(hub, Signal::SIGINT, "SIGINT").await;
}
