//! `gambi` in a pseudo-terminal, for the tests that drive it as a person would: its output
//! goes through a terminal emulator (`vt100`), so a test reads the screen as it would be
//! seen, and waits for what the screen shows, never for a fixed time.

// Each test binary uses part of it.
#![allow(dead_code)]

use std::num::NonZeroU16;
use std::os::fd::{AsFd as _, OwnedFd};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tempfile::TempDir;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::process::Child;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Safety net for a test that would otherwise hang on a broken build.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// `gambi` running in a pseudo-terminal, and the screen it draws.
pub(crate) struct Terminal {
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
    /// Starts `gambi <args>` on a terminal of `rows` x `cols`, with a clean environment
    /// (a home of its own) plus `env`.
    pub(crate) fn start(
        args: &[&str],
        env: &[(&str, &str)],
        rows: NonZeroU16,
        cols: NonZeroU16,
    ) -> Self {
        let home = tempfile::tempdir().expect("a temporary directory");
        let (pty, pts) = pty_process::open().expect("a pseudo-terminal");
        pty.resize(pty_process::Size::new(rows.get(), cols.get()))
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
        let screen = Arc::new(Mutex::new(vt100::Parser::new(rows, cols, 0)));
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

    /// The emulated terminal (its screen, cursor and modes).
    pub(crate) fn emulator(&self) -> MutexGuard<'_, vt100::Parser> {
        self.screen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The text on screen.
    pub(crate) fn contents(&self) -> String {
        self.emulator().screen().contents()
    }

    /// Waits until the screen shows something `check` accepts (described as `what`), and
    /// returns it.
    pub(crate) async fn wait_until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
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

    /// Waits until the screen shows `needle`, and returns the screen.
    pub(crate) async fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("{needle:?}"), |screen| screen.contains(needle))
            .await
    }

    /// Waits until the program has turned the terminal's echo off (a secret prompt).
    ///
    /// A secret prompt is drawn before the terminal stops echoing, and switching the mode
    /// discards what was typed in between; a person reads the prompt first, the test must
    /// wait for the mode. No event marks the switch, so the mode is checked every few
    /// milliseconds, up to the test's patience.
    pub(crate) async fn wait_for_no_echo(&self) {
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
    pub(crate) async fn type_keys(&mut self, keys: &str) {
        self.input
            .write_all(keys.as_bytes())
            .await
            .expect("the terminal takes input");
    }

    /// Waits for the program to exit, and for the screen to show all it wrote.
    pub(crate) async fn exit(&mut self) -> ExitStatus {
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
