//! The accept loop: one HTTP/1.1 connection task per client, all owned by a `JoinSet` so that
//! stopping the server closes every open connection at once, not just the listener.

use std::net::SocketAddr;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// A running server. Dropping it stops it abruptly; [`Server::stop`] also waits until every
/// connection is closed.
#[derive(Debug)]
pub(crate) struct Server {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// Serves `router` on `listener` until stopped.
    pub(crate) fn spawn(listener: TcpListener, router: Router, addr: SocketAddr) -> Self {
        let stop = CancellationToken::new();
        let task = tokio::spawn(
            accept_loop(listener, router, stop.clone())
                .instrument(tracing::debug_span!("fake_provider", %addr)),
        );
        Self { stop, task }
    }

    /// Stops accepting, closes every connection (requests in progress are cut), and waits
    /// until that is done.
    pub(crate) async fn stop(mut self) {
        self.stop.cancel();
        // The loop only ends by being told to, or by panicking, which is already reported.
        let _ = (&mut self.task).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        self.task.abort();
    }
}

/// Cancel safe: everything it owns is dropped with it.
async fn accept_loop(listener: TcpListener, router: Router, stop: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Per-connection failures (reset before accept, out of descriptors):
                        // keep serving the others.
                        tracing::debug!(%error, "accept failed");
                        continue;
                    }
                };
                // Token events are tiny writes; Nagle's algorithm would hold them back.
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "could not set TCP_NODELAY");
                }
                let service = TowerToHyperService::new(router.clone());
                connections.spawn(
                    async move {
                        let served = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                        if let Err(error) = served {
                            tracing::debug!(%error, "connection ended with an error");
                        }
                    }
                    .instrument(tracing::debug_span!("connection", %peer)),
                );
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}
