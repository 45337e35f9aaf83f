//! Global behaviour: formats, hub URL resolution, the config file, logging, exit codes.

use gambi_test_support::TestHub;
use serde_json::json;

use super::{Sandbox, closed_port_url, create_room};

#[tokio::test]
async fn an_unreachable_hub_exits_3() {
    let sandbox = Sandbox::new();
    let url = closed_port_url().await;
    for args in [
        &["room", "list", "-H", &url][..],
        &["room", "get", "-H", &url, "-c", "ABC123"],
        &["room", "create", "-H", &url, "-n", "Lab"],
        &[
            "participant",
            "heartbeat",
            "-H",
            &url,
            "-r",
            "ABC123",
            "--participant-id",
            "a",
        ],
        &["events", "watch", "-H", &url, "-r", "ABC123"],
    ] {
        let run = sandbox.run(args).await;
        let stderr = run.failed(3);
        assert_eq!(stderr[0], "Error: Failed to reach hub.", "{args:?}");
        assert!(
            stderr[1].starts_with(&format!("Hint: Check that a Gambi hub is running at {url}")),
            "{stderr:?}"
        );
        assert_eq!(stderr.len(), 2, "no request id without a hub: {stderr:?}");
    }
}

#[tokio::test]
async fn piped_output_defaults_to_json_and_gambi_format_is_honoured() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();

    let run = sandbox.run(&["room", "list", "-H", &url]).await;
    assert_eq!(run.ok_json()["data"], json!([]));
    assert!(
        run.stdout.starts_with("{\n  \"data\""),
        "pretty JSON: {run:?}"
    );

    let run = sandbox
        .run_with_env(&["room", "list", "-H", &url], &[("GAMBI_FORMAT", "text")])
        .await;
    assert_eq!(run.ok_lines(), ["No rooms found."]);

    let run = sandbox
        .run_with_env(
            &["room", "list", "-H", &url, "--format", "json"],
            &[("GAMBI_FORMAT", "text")],
        )
        .await;
    assert_eq!(run.ok_json()["data"], json!([]), "the flag wins");

    let run = sandbox
        .run_with_env(&["room", "list", "-H", &url], &[("GAMBI_FORMAT", "yaml")])
        .await;
    assert_eq!(
        run.ok_json()["data"],
        json!([]),
        "an unknown GAMBI_FORMAT is ignored"
    );

    let run = sandbox
        .run_with_env(&["room", "list", "-H", &url], &[("GAMBI_FORMAT", "ndjson")])
        .await;
    let lines = run.ok_lines();
    assert_eq!(lines.len(), 1, "compact: {run:?}");
    assert!(
        lines[0].starts_with(r#"{"data":[],"meta":{"requestId":""#),
        "{run:?}"
    );

    let run = sandbox
        .run(&["room", "list", "-H", &url, "--format", "yaml"])
        .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    hub.stop().await;
}

#[tokio::test]
async fn hub_url_comes_from_the_flag_the_env_var_or_the_config_file() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;
    let unreachable = closed_port_url().await;
    let get = ["room", "get", "-c", room.code.as_str(), "--format", "json"];

    let run = sandbox.run_with_env(&get, &[("GAMBI_HUB_URL", &url)]).await;
    assert_eq!(run.ok_json()["data"]["code"], room.code.as_str());

    sandbox.write_config(&format!(
        r#"{{"defaultEnv": "lab", "envs": {{"lab": {{"hubUrl": "{url}"}}, "away": {{"hubUrl": "{unreachable}"}}}}}}"#
    ));
    let run = sandbox.run(&get).await;
    assert_eq!(run.ok_json()["data"]["code"], room.code.as_str());

    let mut away = get.to_vec();
    away.extend(["--env", "away"]);
    assert_eq!(sandbox.run(&away).await.code, Some(3));
    let run = sandbox.run_with_env(&get, &[("GAMBI_ENV", "away")]).await;
    assert_eq!(run.code, Some(3));
    let run = sandbox
        .run_with_env(&get, &[("GAMBI_ENV", "away"), ("GAMBI_HUB_URL", &url)])
        .await;
    assert_eq!(
        run.ok_json()["data"]["code"],
        room.code.as_str(),
        "the env var beats the file"
    );

    let mut unknown = get.to_vec();
    unknown.extend(["--env", "mars"]);
    let run = sandbox.run(&unknown).await;
    let config_path = sandbox.config_file();
    assert_eq!(
        run.failed(2),
        [
            format!(
                "Error: Unknown environment 'mars' in {}.",
                config_path.display()
            ),
            "Hint: Known environments: away, lab.".to_owned()
        ]
    );

    sandbox.write_config("{ not json");
    let run = sandbox.run(&get).await;
    let stderr = run.failed(2);
    assert!(
        stderr[0].starts_with(&format!(
            "Error: Invalid CLI config in {}: ",
            config_path.display()
        )),
        "{stderr:?}"
    );
    assert_eq!(
        stderr[1],
        "Hint: Fix the config file or remove it and retry."
    );
    hub.stop().await;
}

#[tokio::test]
async fn the_config_file_sets_hub_serve_defaults() {
    let sandbox = Sandbox::new();
    sandbox.write_config(
        r#"{"defaultEnv": "lab", "envs": {"lab": {"serve": {"host": "127.0.0.1", "port": 4100, "mdns": true}}}}"#,
    );
    let run = sandbox
        .run(&[
            "hub",
            "serve",
            "--dry-run",
            "--ephemeral",
            "--format",
            "text",
        ])
        .await;
    assert_eq!(
        run.ok_lines(),
        ["Would start hub on http://127.0.0.1:4100 (database: in memory; mdns: enabled)."]
    );
    let run = sandbox
        .run(&[
            "hub",
            "serve",
            "--dry-run",
            "--ephemeral",
            "--port",
            "4200",
            "--format",
            "text",
        ])
        .await;
    assert_eq!(
        run.ok_lines(),
        ["Would start hub on http://127.0.0.1:4200 (database: in memory; mdns: enabled)."],
        "flags beat the file"
    );
}

#[tokio::test]
async fn verbose_logs_go_to_stderr_and_stdout_stays_json() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let run = sandbox
        .run(&["room", "list", "-H", &url, "--verbose"])
        .await;
    assert_eq!(run.code, Some(0), "{run:?}");
    let stdout: serde_json::Value = serde_json::from_str(&run.stdout).expect("only JSON on stdout");
    assert_eq!(stdout["data"], json!([]));
    assert!(run.stderr.contains("DEBUG"), "{run:?}");
    hub.stop().await;
}

#[tokio::test]
async fn usage_errors_exit_2_and_help_and_version_exit_0() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("Usage: gambi"), "{run:?}");

    let run = sandbox.run(&["--help"]).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stdout.contains("hub") && run.stdout.contains("room"),
        "{run:?}"
    );

    let run = sandbox.run(&["--version"]).await;
    assert_eq!(
        run.ok_lines(),
        [format!("gambi {}", env!("CARGO_PKG_VERSION"))]
    );

    for args in [
        &["room"][..],
        &["room", "explode"],
        &["room", "list", "--quiet", "--verbose"],
        &["room", "list", "--bogus"],
    ] {
        let run = sandbox.run(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
    }

    let run = sandbox.run(&["room", "list", "-H", "localhost:3000"]).await;
    let stderr = run.failed(2);
    assert!(
        stderr[0].starts_with("Error: Invalid hub URL 'localhost:3000'"),
        "{stderr:?}"
    );
    assert!(stderr[1].starts_with("Hint: Pass --hub"), "{stderr:?}");
}
