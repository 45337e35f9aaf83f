//! `gambi participant leave|heartbeat`.

use gambi_test_support::TestHub;

use super::{Sandbox, client, create_room, register};

#[tokio::test]
async fn heartbeat_in_text_and_json() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;
    register(&url, &room.code, "alice", None).await;

    let run = sandbox
        .run(&[
            "participant",
            "heartbeat",
            "-H",
            &url,
            "--room",
            &room.code,
            "--participant-id",
            "alice",
            "--format",
            "text",
        ])
        .await;
    assert_eq!(run.ok_lines(), ["Heartbeat ok for alice (offline)."]);

    let run = sandbox
        .run(&[
            "participant",
            "heartbeat",
            "-H",
            &url,
            "-r",
            &room.code,
            "--participant-id",
            "alice",
            "--format",
            "json",
        ])
        .await;
    let envelope = run.ok_json();
    assert_eq!(envelope["data"]["success"], true);
    assert_eq!(envelope["data"]["status"], "offline");
    assert!(envelope["data"]["lastSeen"].is_i64());
    assert!(envelope["meta"]["requestId"].is_string());
    hub.stop().await;
}

#[tokio::test]
async fn leave_in_text_and_json() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;
    register(&url, &room.code, "alice", None).await;
    register(&url, &room.code, "bob", None).await;

    let run = sandbox
        .run(&[
            "participant",
            "leave",
            "-H",
            &url,
            "-r",
            &room.code,
            "--participant-id",
            "alice",
            "--format",
            "text",
        ])
        .await;
    assert_eq!(
        run.ok_lines(),
        [format!(
            "Removed participant alice from room {}.",
            room.code
        )]
    );

    let run = sandbox
        .run(&[
            "participant",
            "leave",
            "-H",
            &url,
            "-r",
            &room.code,
            "--participant-id",
            "bob",
            "--format",
            "json",
        ])
        .await;
    let envelope = run.ok_json();
    assert_eq!(envelope["data"], serde_json::json!({"success": true}));

    let left = client(&url)
        .participants()
        .list(&room.code)
        .await
        .expect("listed")
        .data;
    assert!(left.is_empty());
    hub.stop().await;
}

#[tokio::test]
async fn unknown_participants_exit_4_and_missing_flags_exit_2() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let room = create_room(&url, "Lab", None).await;

    for command in ["leave", "heartbeat"] {
        let run = sandbox
            .run(&[
                "participant",
                command,
                "-H",
                &url,
                "-r",
                &room.code,
                "--participant-id",
                "ghost",
            ])
            .await;
        let stderr = run.failed(4);
        assert_eq!(stderr[0], "Error: Participant not found.");
        assert_eq!(stderr[1], "Hint: Check the participant id and retry.");
        assert!(stderr[2].starts_with("request_id: "));

        let run = sandbox
            .run(&[
                "participant",
                command,
                "-H",
                &url,
                "-r",
                "NOPE42",
                "--participant-id",
                "ghost",
            ])
            .await;
        assert_eq!(run.failed(4)[0], "Error: Room not found.");

        let run = sandbox
            .run(&["participant", command, "-H", &url, "-r", &room.code])
            .await;
        assert_eq!(run.code, Some(2), "{run:?}");
        assert!(run.stderr.contains("--participant-id <ID>"), "{run:?}");

        let run = sandbox
            .run(&[
                "participant",
                command,
                "-H",
                &url,
                "--participant-id",
                "ghost",
            ])
            .await;
        assert_eq!(run.code, Some(2), "{run:?}");
        assert!(run.stderr.contains("--room <CODE>"), "{run:?}");
    }
    hub.stop().await;
}

#[tokio::test]
async fn leaving_a_protected_room_takes_its_password() {
    let hub = TestHub::start().await;
    let sandbox = Sandbox::new();
    let url = hub.url();
    let room = create_room(&url, "Locked", Some("secret")).await;
    register(&url, &room.code, "alice", Some("secret")).await;

    let args = [
        "participant",
        "leave",
        "-H",
        &url,
        "-r",
        &room.code,
        "--participant-id",
        "alice",
    ];
    let run = sandbox.run(&args).await;
    assert_eq!(run.failed(3)[0], "Error: Invalid password.");

    let mut with_password = args.to_vec();
    with_password.extend(["--password", "secret", "--format", "text"]);
    let run = sandbox.run(&with_password).await;
    assert_eq!(
        run.ok_lines(),
        [format!(
            "Removed participant alice from room {}.",
            room.code
        )]
    );
    hub.stop().await;
}
