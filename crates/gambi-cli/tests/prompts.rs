//! Prompts for missing values, driven through a pseudo-terminal as a person would answer
//! them: `participant join` asks for the room, the participant id and the model (chosen
//! from the provider's list), `room create` for the name and password; with
//! `--no-interactive` or `GAMBI_NO_INTERACTIVE=1` nothing is asked.
//!
//! The terminal's output goes through a terminal emulator (`vt100`); the test waits for
//! what the screen shows, never for a fixed time.

use std::num::NonZeroU16;
use std::os::fd::{AsFd as _, OwnedFd};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gambi_client::Client;
use gambi_protocol as proto;
use gambi_test_support::{FakeProvider, TestHub};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Child;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Safety net for a test that would otherwise hang on a broken build.
const PATIENCE: Duration = Duration::from_secs(30);

const ROWS: NonZeroU16 = NonZeroU16::new(30).expect("non-zero");
const COLS: NonZeroU16 = NonZeroU16::new(120).expect("non-zero");

/// The arrow key down, as a terminal sends it.
const DOWN: &str = "\x1b[B";

/// `gambi` running in a pseudo-terminal, and the screen it draws.
struct Terminal {
    child: Child,
    input: pty_process::OwnedWritePty,
    /// The terminal itself, to read its mode.
    pty: OwnedFd,
    screen: Arc<Mutex<vt100::Parser>>,
    changed: Arc<Notify>,
    reader: Option<JoinHandle<()>>,
    _home: TempDir,
}

impl Terminal {
    /// Starts `gambi <args>` with a clean environment plus `env`.
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let home = tempfile::tempdir().expect("a temporary directory");
        let (pty, pts) = pty_process::open().expect("a pseudo-terminal");
        pty.resize(pty_process::Size::new(ROWS.get(), COLS.get()))
            .expect("the pseudo-terminal takes a size");
        let child = pty_process::Command::new(env!("CARGO_BIN_EXE_gambi"))
            .args(args)
            .env_clear()
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("TERM", "xterm-256color")
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .spawn(pts)
            .expect("gambi starts");
        let fd = pty
            .as_fd()
            .try_clone_to_owned()
            .expect("the pseudo-terminal's descriptor");
        let (mut output, input) = pty.into_split();
        let screen = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let changed = Arc::new(Notify::new());
        let (parser, notify) = (screen.clone(), changed.clone());
        let reader = tokio::spawn(async move {
            let mut buffer = [0_u8; 16 * 1024];
            // The read fails (EIO) once the program has exited and closed the terminal.
            while let Ok(read @ 1..) = output.read(&mut buffer).await {
                parser
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .process(&buffer[..read]);
                notify.notify_waiters();
            }
            notify.notify_waiters();
        });
        Self {
            child,
            input,
            pty: fd,
            screen,
            changed,
            reader: Some(reader),
            _home: home,
        }
    }

    /// The text on screen.
    fn contents(&self) -> String {
        self.screen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .screen()
            .contents()
    }

    /// Waits until the screen shows `needle`, and returns the screen.
    async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let contents = self.contents();
            if contents.contains(needle) {
                return contents;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("the screen never showed {needle:?}; it shows:\n{contents}");
            }
        }
    }

    /// Waits until the program has turned the terminal's echo off (a secret prompt).
    ///
    /// A secret prompt is drawn before the terminal stops echoing, and switching the mode
    /// discards what was typed in between; a person reads the prompt first, the test must
    /// wait for the mode. No event marks the switch, so the mode is checked every few
    /// milliseconds, up to the test's patience.
    async fn wait_for_no_echo(&self) {
        use nix::sys::termios::{LocalFlags, tcgetattr};
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mode = tcgetattr(&self.pty).expect("the terminal's mode");
            if !mode.local_flags.contains(LocalFlags::ECHO) {
                return;
            }
            assert!(Instant::now() < deadline, "the terminal kept echoing");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Types `keys`.
    async fn type_keys(&mut self, keys: &str) {
        self.input
            .write_all(keys.as_bytes())
            .await
            .expect("the terminal takes input");
    }

    /// Waits for the program to exit, and for the screen to show all it wrote.
    async fn exit(&mut self) -> ExitStatus {
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("gambi exits in time")
            .expect("gambi's status is readable");
        if let Some(reader) = self.reader.take() {
            tokio::time::timeout(PATIENCE, reader)
                .await
                .expect("the terminal closes when gambi exits")
                .expect("the reader does not panic");
        }
        status
    }
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
    let mut terminal = Terminal::start(
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
    let mut terminal = Terminal::start(&["room", "create", "--hub", &url], &[]);
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
        let mut terminal = Terminal::start(&args, env);
        let status = terminal.exit().await;
        assert_eq!(status.code(), Some(2), "{flags:?} {env:?}");
        let screen = terminal.contents();
        assert!(screen.contains("Error: Room code is required."), "{screen}");
        assert!(!screen.contains("Participant id"), "{screen}");
    }
}
