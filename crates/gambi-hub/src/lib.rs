//! The Gambi hub: rooms, participant tunnels, and inference routing.
//!
//! A hub keeps rooms (persisted in SQLite) and, for each room, the participants that
//! registered and opened a tunnel. Three planes and a web page share one HTTP listener:
//!
//! * management (`/v1/*`): rooms, participants, heartbeats, event streams;
//! * tunnel (`/v1/rooms/{code}/participants/{id}/tunnel`): the WebSocket each participant
//!   runtime opens, owned by a session actor ([`tunnel`]);
//! * inference (`/rooms/{code}/v1/*`): OpenAI-compatible routes proxied through tunnels;
//! * the web room page (`/rooms/{code}`) that shows a room live in a browser.
//!
//! Entry points: [`router`] for the routes over a [`Hub`], and [`serve`] to run a hub on a
//! listener until a shutdown token fires; [`mdns::Announcement`] announces a running hub
//! on the local network; [`serve_metrics`] serves its Prometheus metrics on a listener of
//! their own (by default they are at `/metrics` on the main one). The library never reads the environment, never
//! installs signal handlers and never prints: the CLI does that and passes the results in.

mod adapter;
mod api;
mod clock;
mod config;
mod error;
mod hub;
mod inference;
pub mod mdns;
mod metrics;
mod page;
mod password;
mod responses;
mod room;
pub mod scheduler;
mod scrape;
mod store;
pub mod tunnel;
mod web;

use std::net::SocketAddr;

use gambi_protocol as proto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use clock::Clock;
pub use config::{CorsOrigins, HubConfig, InvalidOrigin, MetricsConfig, Storage};
pub use hub::{Hub, StartError};
pub use metrics::{
    CONTENT_TYPE as METRICS_CONTENT_TYPE, LabelLimits, NO_PARTICIPANT, OTHER_PARTICIPANTS,
    OTHER_ROOMS,
};
pub use room::{ParticipantSnapshot, Room};
pub use scrape::serve_metrics;
pub use store::{SqliteStore, Store, StoreError};

/// The hub's HTTP routes over `hub`: the management plane, the tunnel upgrade, the event
/// streams and the inference plane, with the layers every exchange goes through.
pub fn router(hub: Hub) -> axum::Router {
    let mut routes = axum::Router::new()
        .merge(api::routes())
        .merge(inference::routes())
        .merge(page::routes());
    if hub.config().metrics.on_main_listener {
        routes = routes.merge(scrape::routes());
    }
    let routes = routes
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::not_found);
    let origins = hub.config().cors_origins.clone();
    web::with_layers(routes, &origins, undecodable_path).with_state(hub)
}

/// The answer to a path that is not UTF-8 once its %-escapes are decoded, in the shape of
/// the plane it names.
fn undecodable_path(path: &str) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let message = "The request path is not valid UTF-8 once its %-escapes are decoded.";
    if is_inference_path(path) {
        inference::error::InferenceError::invalid(message).into_response()
    } else {
        error::ApiError::invalid(
            message,
            "Percent-encode the UTF-8 bytes of room codes and ids.",
        )
        .into_response()
    }
}

/// Whether `path` is on the inference plane (`/rooms/{code}/v1/...`).
fn is_inference_path(path: &str) -> bool {
    path.strip_prefix("/rooms/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(_, rest)| rest == "v1" || rest.starts_with("v1/"))
}

/// How long connections get, once the requests' grace is over, to deliver their last bytes
/// (the errors of the requests that were ended).
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Why the hub stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The hub could not start.
    #[error(transparent)]
    Start(#[from] hub::StartError),
    /// The listener failed.
    #[error("the HTTP listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs a hub configured by `config` on `listener` until `shutdown` fires, then closes
/// every tunnel and event stream and returns once all its tasks have finished.
pub async fn serve(
    listener: TcpListener,
    config: HubConfig,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let hub = Hub::open(config, shutdown)?;
    serve_hub(listener, hub).await
}

/// Runs an already opened hub on `listener` until its shutdown token fires.
///
/// Shutdown comes in three steps. When the token fires the hub stops taking connections
/// and requests (a new inference request gets `503 HUB_SHUTTING_DOWN`) and ends its event
/// streams; requests in flight get [`HubConfig::shutdown_grace`] to finish; then the
/// tunnels close with a "restart" code our runtime reconnects on at once, requests still
/// running end with `HUB_SHUTTING_DOWN`, and the hub returns once its connections and
/// tasks are done (connections get a few more seconds, at most).
pub async fn serve_hub(listener: TcpListener, hub: Hub) -> Result<(), ServeError> {
    let shutdown = hub.shutdown_token().clone();
    let sweeper = hub.clone();
    hub.tracker().spawn(async move {
        let mut ticks = tokio::time::interval(proto::HEALTH_CHECK_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = sweeper.shutdown_token().cancelled() => break,
                _ = ticks.tick() => sweeper.sweep(),
            }
        }
    });
    info!(addr = %listener.local_addr()?, "hub listening");
    let app = router(hub.clone()).into_make_service_with_connect_info::<SocketAddr>();
    // Event streams and tunnels write many small frames; Nagle's algorithm would hold
    // each one back until the previous one is acknowledged.
    let listener = axum::serve::ListenerExt::tap_io(listener, |stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
    });
    let server =
        axum::serve(listener, app).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let grace = hub.config().shutdown_grace;
    let drained = async {
        shutdown.cancelled().await;
        info!(grace = ?grace, "shutting down: letting requests in flight finish");
        if tokio::time::timeout(grace, hub.requests_done())
            .await
            .is_err()
        {
            warn!("requests still in flight after the shutdown grace; ending them");
        }
        hub.stop_token().cancel();
        // One whose client stopped reading would otherwise hold the hub up forever.
        tokio::time::sleep(CLOSE_GRACE).await;
    };
    tokio::select! {
        served = std::future::IntoFuture::into_future(server) => served?,
        () = drained => {
            warn!("connections still open after the shutdown grace period; leaving them");
        }
    }
    hub.stop_token().cancel();
    hub.tracker().close();
    hub.tracker().wait().await;
    info!("hub stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn planes_are_told_apart_by_path() {
        assert!(super::is_inference_path("/rooms/ABC/v1/models"));
        assert!(super::is_inference_path("/rooms/ABC/v1"));
        assert!(!super::is_inference_path("/rooms/ABC/events"));
        assert!(!super::is_inference_path("/v1/rooms/ABC"));
    }
}
