//! The terminal: raw mode and the alternate screen while the interface runs, and a guard
//! that gives the terminal back as it was on every way out (return, error, panic).

use std::io::{self, Stdout};
use std::sync::OnceLock;
use std::thread::ThreadId;

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::Show;
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::{Frame, Terminal};

/// The thread that owns the terminal; a panic there restores it before the panic message
/// is printed. (A panic in a background task does not end the interface, so it leaves
/// the terminal alone.)
static UI_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// The terminal in interface mode. Dropping it restores the terminal.
pub(crate) struct Term {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl std::fmt::Debug for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Term").finish_non_exhaustive()
    }
}

impl Term {
    /// Switches the terminal to raw mode and the alternate screen.
    pub(crate) fn enter() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        // Cleared by hand: ratatui's `clear` asks the terminal where its cursor is, a
        // round trip that is not needed on a screen about to be drawn whole.
        let entered = execute!(io::stdout(), EnterAlternateScreen, Clear(ClearType::All))
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())))
            .and_then(|mut terminal| {
                terminal.hide_cursor()?;
                Ok(terminal)
            });
        match entered {
            Ok(terminal) => Ok(Self { terminal }),
            Err(error) => {
                restore();
                Err(error)
            }
        }
    }

    /// Draws one frame (only the cells that changed reach the terminal).
    pub(crate) fn draw(&mut self, render: impl FnOnce(&mut Frame<'_>)) -> io::Result<()> {
        self.terminal.draw(render).map(|_| ())
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen and raw mode and shows the cursor. Safe to call twice.
fn restore() {
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
}

fn install_panic_hook() {
    let current = std::thread::current().id();
    if UI_THREAD.set(current).is_err() {
        return;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if UI_THREAD.get() == Some(&std::thread::current().id()) {
            restore();
        }
        previous(info);
    }));
}
