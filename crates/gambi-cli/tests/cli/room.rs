//! `gambi room create|list|get`.

use gambi_test_support::TestHub;
use serde_json::json;

use super::{Sandbox, client, create_room, iso, register};

#[tokio::test]
async fn create_in_text_and_json() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();

    let run = sandbox
        .run(&[
            "room", "create", "--hub", &url, "--name", "Lab", "--format", "text",
        ])
        .await;
    let rooms = client(&url).rooms().list().await.expect("listed").data;
    assert_eq!(rooms.len(), 1);
    assert_eq!(
        run.ok_lines(),
        [
            format!("Created room {} (Lab).", rooms[0].code),
            format!("host_id: {}", rooms[0].host_id)
        ]
    );

    let run = sandbox
        .run(&[
            "room", "create", "-H", &url, "-n", "Locked", "-p", "secret", "--format", "json",
        ])
        .await;
    let envelope = run.ok_json();
    let room = &envelope["data"]["room"];
    assert_eq!(room["name"], "Locked");
    assert_eq!(room["passwordProtected"], true);
    assert_eq!(room["participantCount"], 0);
    assert_eq!(envelope["data"]["hostId"], room["hostId"]);
    assert!(
        envelope["meta"]["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let code = room["code"].as_str().expect("a code");
    assert!(client(&url).rooms().get(code).await.is_ok());
    hub.stop().await;
}

#[tokio::test]
async fn create_with_config_from_a_file_and_from_stdin() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let path = sandbox.path().join("room.json");
    std::fs::write(
        &path,
        r#"{"temperature": 0.5, "instructions": "Be brief.", "extra": 1}"#,
    )
    .expect("written");
    let path = path.to_str().expect("UTF-8 path");

    let run = sandbox
        .run(&[
            "room", "create", "-H", &url, "-n", "Lab", "--config", path, "--format", "json",
        ])
        .await;
    let defaults = run.ok_json()["data"]["room"]["defaults"].clone();
    assert_eq!(
        defaults,
        json!({"temperature": 0.5, "hasInstructions": true})
    );

    let run = sandbox
        .run_with_stdin(
            &[
                "room", "create", "-H", &url, "-n", "Piped", "--config", "-", "--format", "json",
            ],
            r#"{"max_tokens": 128}"#,
        )
        .await;
    let defaults = run.ok_json()["data"]["room"]["defaults"].clone();
    assert_eq!(
        defaults,
        json!({"max_tokens": 128, "hasInstructions": false})
    );
    hub.stop().await;
}

#[tokio::test]
async fn invalid_config_exits_2_naming_the_field() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let path = sandbox.path().join("room.json");
    let path_str = path.to_str().expect("UTF-8 path");

    std::fs::write(&path, r#"{"temperature": 5, "stop": "x"}"#).expect("written");
    let run = sandbox
        .run(&[
            "room", "create", "-H", &url, "-n", "Lab", "--config", path_str,
        ])
        .await;
    let stderr = run.failed(2);
    assert_eq!(
        stderr[0],
        format!(
            "Error: Invalid room config in {path_str}: stop: must be an array of strings, \
             temperature: must be between 0 and 2, got 5"
        )
    );
    assert!(stderr[1].starts_with("Hint: Allowed fields: temperature (0-2)"));

    std::fs::write(&path, "{not json").expect("written");
    let run = sandbox
        .run(&[
            "room", "create", "-H", &url, "-n", "Lab", "--config", path_str,
        ])
        .await;
    assert!(run.failed(2)[0].starts_with(&format!("Error: Invalid room config in {path_str}: ")));

    let missing = sandbox.path().join("missing.json");
    let missing = missing.to_str().expect("UTF-8 path");
    let run = sandbox
        .run(&[
            "room", "create", "-H", &url, "-n", "Lab", "--config", missing,
        ])
        .await;
    assert!(run.failed(2)[0].starts_with(&format!("Error: Cannot read room config {missing}: ")));

    let run = sandbox
        .run(&["room", "create", "-H", &url, "-n", "  "])
        .await;
    assert_eq!(
        run.failed(2),
        ["Error: Room name is required.", "Hint: Pass --name <NAME>."]
    );

    let run = sandbox.run(&["room", "create", "-H", &url]).await;
    assert_eq!(run.code, Some(2), "{run:?}");

    assert!(
        client(&url)
            .rooms()
            .list()
            .await
            .expect("listed")
            .data
            .is_empty()
    );
    hub.stop().await;
}

#[tokio::test]
async fn create_dry_run_redacts_the_password_and_sends_nothing() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let path = sandbox.path().join("room.json");
    std::fs::write(&path, r#"{"temperature": 1}"#).expect("written");
    let path = path.to_str().expect("UTF-8 path");
    let hub_with_slash = format!("{url}/");

    let run = sandbox
        .run(&[
            "room",
            "create",
            "-H",
            &hub_with_slash,
            "-n",
            "Lab",
            "-p",
            "hunter2",
            "--config",
            path,
            "--dry-run",
            "--format",
            "json",
        ])
        .await;
    assert_eq!(
        run.ok_json(),
        json!({
            "hubUrl": url,
            "payload": {"name": "Lab", "password": "[redacted]", "defaults": {"temperature": 1.0}}
        })
    );
    assert!(!run.stdout.contains("hunter2"));

    let run = sandbox
        .run(&[
            "room",
            "create",
            "-H",
            &url,
            "-n",
            "Lab",
            "--dry-run",
            "--format",
            "text",
        ])
        .await;
    let stdout = run.ok_lines();
    assert_eq!(stdout[0], format!("Would create room 'Lab' on {url}."));
    let payload: serde_json::Value =
        serde_json::from_str(&stdout[1..].join("\n")).expect("the payload as JSON");
    assert_eq!(payload, json!({"name": "Lab"}));

    assert!(
        client(&url)
            .rooms()
            .list()
            .await
            .expect("listed")
            .data
            .is_empty()
    );
    hub.stop().await;
}

#[tokio::test]
async fn list_in_text_and_json_with_every_sort() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();

    let run = sandbox
        .run(&["room", "list", "-H", &url, "--format", "text"])
        .await;
    assert_eq!(run.ok_lines(), ["No rooms found."]);
    let run = sandbox
        .run(&["room", "list", "-H", &url, "--format", "json"])
        .await;
    assert_eq!(run.ok_json()["data"], json!([]));

    let beta = create_room(&url, "beta", None).await;
    let alpha = create_room(&url, "Alpha", Some("secret")).await;
    let gamma = create_room(&url, "gamma", None).await;
    register(&url, &beta.code, "p1", None).await;
    register(&url, &beta.code, "p2", None).await;
    register(&url, &gamma.code, "p3", None).await;

    let run = sandbox
        .run(&[
            "room",
            "list",
            "-H",
            &url,
            "--sort",
            "name",
            "--reverse",
            "--format",
            "text",
        ])
        .await;
    let block = |code: &str, name: &str, participants: u32, protected: &str, created_at: i64| {
        vec![
            format!("{code}  {name}"),
            format!("  participants: {participants}"),
            format!("  protected: {protected}"),
            format!("  created_at: {}", iso(created_at)),
        ]
    };
    let mut expected = block(&gamma.code, "gamma", 1, "no", gamma.created_at);
    expected.push(String::new());
    expected.extend(block(&beta.code, "beta", 2, "no", beta.created_at));
    expected.push(String::new());
    expected.extend(block(&alpha.code, "Alpha", 0, "yes", alpha.created_at));
    assert_eq!(run.ok_lines(), expected);

    let codes = |run: &super::Run| -> Vec<String> {
        run.ok_json()["data"]
            .as_array()
            .expect("an array")
            .iter()
            .map(|room| room["code"].as_str().expect("a code").to_owned())
            .collect()
    };
    let run = sandbox
        .run(&["room", "list", "-H", &url, "--format", "json"])
        .await;
    assert_eq!(
        codes(&run),
        [beta.code.clone(), gamma.code.clone(), alpha.code.clone()]
    );
    assert!(run.ok_json()["meta"]["requestId"].is_string());
    let run = sandbox
        .run(&["room", "list", "-H", &url, "--sort", "name"])
        .await;
    assert_eq!(
        codes(&run),
        [alpha.code.clone(), beta.code.clone(), gamma.code.clone()]
    );
    let run = sandbox
        .run(&["room", "list", "-H", &url, "--sort", "created-at"])
        .await;
    let mut newest_first = [&beta, &alpha, &gamma];
    newest_first.sort_by_key(|room| std::cmp::Reverse(room.created_at));
    let expected: Vec<String> = newest_first.iter().map(|room| room.code.clone()).collect();
    assert_eq!(codes(&run), expected);
    let run = sandbox
        .run(&[
            "room",
            "list",
            "-H",
            &url,
            "--sort",
            "participant-count",
            "--reverse",
        ])
        .await;
    assert_eq!(
        codes(&run),
        [alpha.code.clone(), gamma.code.clone(), beta.code.clone()]
    );

    let run = sandbox
        .run(&["room", "list", "-H", &url, "--sort", "size"])
        .await;
    assert_eq!(run.code, Some(2), "{run:?}");
    hub.stop().await;
}

#[tokio::test]
async fn get_in_text_and_json() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let room = client(&url)
        .rooms()
        .create(&gambi_protocol::CreateRoomRequest {
            name: "Lab".into(),
            password: None,
            defaults: Some(json!({"temperature": 0.5, "instructions": "Be brief."})),
        })
        .await
        .expect("created")
        .data
        .room;

    let run = sandbox
        .run(&[
            "room", "get", "-H", &url, "--code", &room.code, "--format", "text",
        ])
        .await;
    assert_eq!(
        run.ok_lines(),
        [
            format!("{}  Lab", room.code),
            "  participants: 0".to_owned(),
            "  protected: no".to_owned(),
            format!("  created_at: {}", iso(room.created_at)),
            r#"  defaults: {"temperature":0.5,"hasInstructions":true}"#.to_owned(),
        ]
    );

    let run = sandbox
        .run(&[
            "room",
            "get",
            "-H",
            &url,
            "-c",
            &room.code.to_lowercase(),
            "--format",
            "json",
        ])
        .await;
    let envelope = run.ok_json();
    assert_eq!(envelope["data"]["code"], room.code.as_str());
    assert_eq!(envelope["data"]["id"], room.id.as_str());
    assert!(envelope["meta"]["requestId"].is_string());
    hub.stop().await;
}

#[tokio::test]
async fn get_an_unknown_room_exits_4_and_a_missing_code_exits_2() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();

    let run = sandbox
        .run(&["room", "get", "-H", &url, "-c", "NOPE42"])
        .await;
    let stderr = run.failed(4);
    assert_eq!(stderr.len(), 3, "{stderr:?}");
    assert_eq!(stderr[0], "Error: Room not found.");
    assert_eq!(
        stderr[1],
        "Hint: Run 'gambi room list' to inspect available rooms."
    );
    assert!(
        stderr[2]
            .strip_prefix("request_id: ")
            .is_some_and(|id| id.len() == 36)
    );

    let run = sandbox.run(&["room", "get", "-H", &url]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("--code <CODE>"), "{run:?}");
    hub.stop().await;
}

/// A hub that answers every request with `status` and `body`, to show what the CLI does
/// with what a hostile hub sends.
async fn canned_hub(status: u16, body: serde_json::Value) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let body = body.to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0_u8; 4096];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => request.extend_from_slice(&buffer[..read]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn control_characters_from_the_hub_are_printed_escaped() {
    let hostile = "Lab\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\r\nfake line";
    let url = canned_hub(
        200,
        json!({
            "data": {
                "id": "r1", "code": "ABC234", "name": hostile, "hostId": "h",
                "createdAt": 0, "passwordProtected": false, "participantCount": 0
            },
            "meta": {"requestId": "req\u{1b}[1m"}
        }),
    )
    .await;
    let sandbox = Sandbox::new();
    let raw = |text: &str| text.chars().any(|c| c.is_control() && c != '\n');
    for format in ["text", "json"] {
        let run = sandbox
            .run(&[
                "room", "get", "-H", &url, "--code", "ABC234", "--format", format,
            ])
            .await;
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(!raw(&run.stdout), "{format}: {:?}", run.stdout);
        if format == "text" {
            assert_eq!(
                run.ok_lines()[0],
                r"ABC234  Lab\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\r\nfake line"
            );
        } else {
            assert_eq!(
                run.ok_json()["data"]["name"],
                hostile,
                "the JSON is unchanged"
            );
        }
    }

    let url = canned_hub(
        404,
        json!({
            "error": {"code": "ROOM_NOT_FOUND", "message": "No\u{1b}[8m room", "hint": "h\u{7}"},
            "meta": {"requestId": "r"}
        }),
    )
    .await;
    let run = sandbox
        .run(&[
            "room", "get", "-H", &url, "--code", "ABC234", "--format", "text",
        ])
        .await;
    assert_eq!(run.code, Some(4), "{run:?}");
    assert!(!raw(&run.stderr), "{:?}", run.stderr);
    assert!(run.stderr.contains(r"No\u{1b}[8m room"), "{:?}", run.stderr);
}
