//! The real `gambi tui` in a pseudo-terminal, against a real hub, a participant runtime
//! and a fake provider: it opens a room's monitor, shows the participant, shows a request
//! made meanwhile in its log, quits on `q` and gives the terminal back.
//!
//! The terminal's output goes through a terminal emulator (`vt100`) so the test reads the
//! screen as a person would see it. It waits for screen changes, never for a fixed time.

use std::num::NonZeroU16;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gambi_test_support::{Cluster, DEFAULT_MODEL, ParticipantSpec};
use serde_json::json;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Child;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Safety net for a test that would otherwise hang on a broken build.
const PATIENCE: Duration = Duration::from_secs(30);

const ROWS: NonZeroU16 = NonZeroU16::new(40).expect("non-zero");
const COLS: NonZeroU16 = NonZeroU16::new(140).expect("non-zero");

/// `gambi tui` running in a pseudo-terminal, and the screen it draws.
struct Tui {
    child: Child,
    input: pty_process::OwnedWritePty,
    screen: Arc<Mutex<vt100::Parser>>,
    changed: Arc<Notify>,
    reader: Option<JoinHandle<()>>,
    _home: TempDir,
}

impl Tui {
    /// Starts `gambi tui <args>` with a clean environment.
    fn start(args: &[&str]) -> Self {
        let home = tempfile::tempdir().expect("a temporary directory");
        let (pty, pts) = pty_process::open().expect("a pseudo-terminal");
        pty.resize(pty_process::Size::new(ROWS.get(), COLS.get()))
            .expect("the pseudo-terminal takes a size");
        let child = pty_process::Command::new(env!("CARGO_BIN_EXE_gambi"))
            .arg("tui")
            .args(args)
            .env_clear()
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("TERM", "xterm-256color")
            .kill_on_drop(true)
            .spawn(pts)
            .expect("gambi starts");
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

    /// Waits until the screen shows something `check` accepts, and returns it.
    async fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let contents = self.contents();
            if check(&contents) {
                return contents;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                panic!("the screen never showed {what}; it shows:\n{contents}");
            }
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

/// The screen's line holding `needle`.
fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|line| line.contains(needle))
}

#[tokio::test]
async fn the_monitor_shows_a_request_made_in_its_room() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(ParticipantSpec::new("alice", DEFAULT_MODEL))
        .await;
    let url = cluster.hub.url();
    let mut tui = Tui::start(&["--hub", &url, "--room", &cluster.code]);

    let healthy = format!("hub {url} ● up");
    let screen = tui
        .wait_for(
            "the participant's card, a live stream and the hub's health",
            |screen| {
                screen.contains("alice (test)")
                    && screen.contains("live · 1 participants")
                    && screen.contains(&healthy)
                    && screen.contains("Test room")
            },
        )
        .await;
    assert!(screen.contains(&cluster.code), "{screen}");
    assert!(screen.contains("tunnel up"), "{screen}");

    let response = cluster
        .post("/responses", &json!({"model": "*", "input": "Hello!"}))
        .await;
    assert_eq!(response.status(), 200);

    let screen = tui
        .wait_for("the completed request in the log", |screen| {
            line_with(screen, " done ").is_some_and(|line| line.contains("alice (test)"))
        })
        .await;
    let row = line_with(&screen, " done ").expect("a done row");
    assert!(row.contains(DEFAULT_MODEL), "{row}");
    assert!(row.contains(" ms"), "timings: {row}");
    assert!(
        screen.contains("requests 1 · errors 0"),
        "totals:\n{screen}"
    );

    // Nothing runs inside this window: `q` quits without asking.
    tui.type_keys("q").await;
    let status = tui.exit().await;
    assert!(status.success(), "{status:?}");
    let screen = tui.screen.lock().unwrap_or_else(PoisonError::into_inner);
    assert!(
        !screen.screen().alternate_screen(),
        "the terminal is back on its main screen"
    );
    assert!(
        !screen.screen().hide_cursor(),
        "the cursor is visible again"
    );
}
