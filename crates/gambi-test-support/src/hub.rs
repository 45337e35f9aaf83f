//! A real hub on an ephemeral loopback port.

use std::net::SocketAddr;

use gambi_hub::{Hub, HubConfig, ServeError};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A hub serving on `127.0.0.1:<ephemeral>` until [`TestHub::stop`] or drop.
#[derive(Debug)]
pub struct TestHub {
    addr: SocketAddr,
    hub: Hub,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestHub {
    /// A hub with the default configuration (rooms in memory).
    pub async fn start() -> Self {
        Self::with_config(HubConfig::default()).await
    }

    /// A hub with `config`.
    ///
    /// # Panics
    /// When the listener cannot bind or the hub cannot open its store: a broken test
    /// environment, not a test outcome.
    pub async fn with_config(config: HubConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0 works in tests");
        Self::on(listener, config)
    }

    /// A hub with `config` on `listener` (e.g. one bound to another loopback address,
    /// for two hubs on the same port).
    ///
    /// # Panics
    /// When the hub cannot open its store.
    pub fn on(listener: TcpListener, config: HubConfig) -> Self {
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shutdown = CancellationToken::new();
        let hub = Hub::open(config, shutdown.clone()).expect("the test hub opens its store");
        let task = tokio::spawn(gambi_hub::serve_hub(listener, hub.clone()));
        Self {
            addr,
            hub,
            shutdown,
            task: Some(task),
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url_for(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `ws://127.0.0.1:<port><path>`.
    pub fn ws_url_for(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// The hub's state, for assertions.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Shuts the hub down and waits until every task has finished.
    ///
    /// # Panics
    /// When the hub's task panicked or returned an error.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await
                .expect("the hub task does not panic")
                .expect("the hub stops cleanly");
        }
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
