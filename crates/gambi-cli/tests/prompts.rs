//! Prompts for missing values, driven through a pseudo-terminal as a person would answer
//! them: `participant join` asks for the room, the participant id and the model (chosen
//! from the provider's list), `room create` for the name and password; with
//! `--no-interactive` or `GAMBI_NO_INTERACTIVE=1` nothing is asked.
//!
//! The terminal's output goes through a terminal emulator (`vt100`); the test waits for
//! what the screen shows, never for a fixed time.

mod terminal;

use std::num::NonZeroU16;

use gambi_client::Client;
use gambi_protocol as proto;
use gambi_test_support::{FakeProvider, TestHub};
use terminal::Terminal;

const ROWS: NonZeroU16 = NonZeroU16::new(30).expect("non-zero");
const COLS: NonZeroU16 = NonZeroU16::new(120).expect("non-zero");

/// The arrow key down, as a terminal sends it.
const DOWN: &str = "\x1b[B";

/// Starts `gambi <args>` with `env` on a terminal of this test's size.
fn start(args: &[&str], env: &[(&str, &str)]) -> Terminal {
    Terminal::start(args, env, ROWS, COLS)
}

async fn create_room(hub: &str) -> proto::RoomSummary {
    Client::new(hub)
        .expect("a hub URL")
        .rooms()
        .create(&proto::CreateRoomRequest {
            name: "Lab".into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .data
        .room
}

#[tokio::test]
async fn join_asks_for_the_room_the_id_and_a_model_from_the_providers_list() {
    let hub = TestHub::start().await;
    let url = hub.url();
    let room = create_room(&url).await;
    let provider = FakeProvider::builder()
        .ollama()
        .models(["llama3:latest", "qwen2:7b"])
        .start()
        .await;
    let endpoint = provider.base_url();
    let mut terminal = start(
        &[
            "participant",
            "join",
            "--hub",
            &url,
            "--endpoint",
            &endpoint,
            "--no-specs",
        ],
        &[],
    );

    terminal.wait_for("Room code").await;
    terminal.type_keys(&format!("{}\r", room.code)).await;
    terminal.wait_for("Participant id").await;
    terminal.type_keys("alice\r").await;
    let screen = terminal.wait_for("qwen2:7b").await;
    assert!(screen.contains("Model"), "{screen}");
    assert!(screen.contains("llama3:latest"), "{screen}");
    terminal.type_keys(DOWN).await;
    terminal.type_keys("\r").await;
    terminal
        .wait_for("Tunnel connected; serving requests.")
        .await;

    let participants = Client::new(&url)
        .expect("a client")
        .participants()
        .list(&room.code)
        .await
        .expect("listed")
        .data;
    assert_eq!(participants.len(), 1, "{participants:?}");
    assert_eq!(participants[0].id, "alice");
    assert_eq!(participants[0].model, "qwen2:7b");
    assert_eq!(
        participants[0].nickname, "qwen2:7b@alice",
        "the default nickname follows the model"
    );

    // Ctrl+C at the terminal: the participant leaves the room.
    terminal.type_keys("\x03").await;
    let status = terminal.exit().await;
    assert!(status.success(), "{status:?}\n{}", terminal.contents());
    assert!(
        terminal
            .contents()
            .contains(&format!("Left room {}.", room.code))
    );
    hub.stop().await;
}

#[tokio::test]
async fn room_create_asks_for_the_name_and_the_password() {
    let hub = TestHub::start().await;
    let url = hub.url();
    let mut terminal = start(&["room", "create", "--hub", &url], &[]);
    terminal.wait_for("Room name").await;
    terminal.type_keys("Night class\r").await;
    terminal.wait_for("Room password").await;
    terminal.wait_for_no_echo().await;
    terminal.type_keys("s3cret\r").await;
    let screen = terminal.wait_for("Created room").await;
    assert!(
        !screen.contains("s3cret"),
        "the password is not echoed:\n{screen}"
    );
    assert!(terminal.exit().await.success());

    let rooms = Client::new(&url)
        .expect("a client")
        .rooms()
        .list()
        .await
        .expect("listed")
        .data;
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].name, "Night class");
    assert!(rooms[0].password_protected);
    hub.stop().await;
}

#[tokio::test]
async fn nothing_is_asked_with_no_interactive() {
    for (flags, env) in [
        (&["--no-interactive"][..], &[][..]),
        (&[][..], &[("GAMBI_NO_INTERACTIVE", "1")][..]),
    ] {
        let mut args = vec!["participant", "join", "--hub", "http://127.0.0.1:9"];
        args.extend_from_slice(flags);
        let mut terminal = start(&args, env);
        let status = terminal.exit().await;
        assert_eq!(status.code(), Some(2), "{flags:?} {env:?}");
        let screen = terminal.contents();
        assert!(screen.contains("Error: Room code is required."), "{screen}");
        assert!(!screen.contains("Participant id"), "{screen}");
    }
}
