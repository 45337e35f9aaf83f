//! Keyboard and terminal events, read on a thread of their own (crossterm's reads block)
//! and handed to the interface's loop over a channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc;

/// How often the reader looks whether it should stop.
const POLL: Duration = Duration::from_millis(100);

/// The reading thread. Dropping it stops the thread (within [`POLL`]) and waits for it.
#[derive(Debug)]
pub(crate) struct Reader {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Reader {
    /// Starts reading terminal events into `events`.
    pub(crate) fn spawn(events: mpsc::Sender<Event>) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("gambi-tui-input".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    match event::poll(POLL) {
                        Ok(false) => {}
                        Ok(true) => match event::read() {
                            Ok(event) => {
                                if events.blocking_send(event).is_err() {
                                    return;
                                }
                            }
                            Err(_) => return,
                        },
                        Err(_) => return,
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Ctrl+C: in raw mode it arrives as a key, not as a signal.
pub(crate) fn is_interrupt(key: &event::KeyEvent) -> bool {
    key.modifiers.contains(event::KeyModifiers::CONTROL) && key.code == event::KeyCode::Char('c')
}
