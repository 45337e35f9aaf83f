//! Stop signals (SIGINT, SIGTERM) for long-running commands.

use std::io;

/// Listens for SIGINT and SIGTERM (Ctrl+C only on non-Unix systems) from the moment it is
/// created, so a signal that arrives before the first [`Signals::recv`] is not lost.
#[derive(Debug)]
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers.
    #[cfg(unix)]
    pub(crate) fn new() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Installs the handlers.
    #[cfg(not(unix))]
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Self {})
    }

    /// The name of the next signal received (`SIGINT` or `SIGTERM`).
    ///
    /// Cancel safe.
    #[cfg(unix)]
    pub(crate) async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }

    /// The name of the next signal received (`SIGINT`, for Ctrl+C).
    ///
    /// Cancel safe.
    #[cfg(not(unix))]
    pub(crate) async fn recv(&mut self) -> &'static str {
        // Without a handler Ctrl+C would end the process; if it cannot be installed,
        // waiting forever leaves the default behaviour in place.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        "SIGINT"
    }
}
