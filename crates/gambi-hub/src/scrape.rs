//! `GET /metrics`: the route, on the main listener or on one of its own ([`serve_metrics`]),
//! behind an optional bearer token, and the gauges it reads from the hub at scrape time for
//! the exposition (`metrics::exposition`, which knows nothing of the hub).

use std::fmt;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use indexmap::IndexMap;
use tokio::net::TcpListener;

use crate::hub::Hub;
use crate::metrics::{CONTENT_TYPE, Gauges, RoomGauges, render};
use crate::password::constant_time_eq;
use crate::web::bearer;

/// The `/metrics` route.
pub(crate) fn routes() -> Router<Hub> {
    Router::new().route("/metrics", get(metrics))
}

/// Serves `/metrics` alone on `listener` until the hub's shutdown begins: for a hub whose
/// metrics are kept off its main listener ([`crate::MetricsConfig::on_main_listener`]).
pub async fn serve_metrics(listener: TcpListener, hub: Hub) -> std::io::Result<()> {
    let shutdown = hub.shutdown_token().clone();
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    axum::serve(listener, routes().with_state(hub))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

async fn metrics(State(hub): State<Hub>, headers: HeaderMap) -> Response {
    let config = hub.config();
    let expected = config
        .metrics
        .token
        .as_deref()
        .or(config.admin_token.as_deref());
    if let Some(expected) = expected {
        let presented = bearer(&headers).unwrap_or_default();
        if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
                "This hub's metrics need its metrics token (or, without one, its admin \
                 token): send 'Authorization: Bearer <token>'.\n",
            )
                .into_response();
        }
    }
    match render(hub.metrics(), gauges(&hub)) {
        Ok(text) => (
            [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
            text,
        )
            .into_response(),
        Err(fmt::Error) => {
            tracing::warn!("could not encode the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The hub's gauges as of now.
fn gauges(hub: &Hub) -> Gauges {
    Gauges {
        rooms: room_gauges(hub),
        room_count: hub.list_rooms().len() as u64,
        hub_subscribers: hub.hub_subscriber_count() as u64,
        requests_in_flight: hub.requests_in_flight() as u64,
        buffered_bytes: hub.buffered_bytes().held() as u64,
        malformed_frames: hub.malformed_frames(),
    }
}

/// The gauges of every room label that has rooms, summed over its rooms.
fn room_gauges(hub: &Hub) -> IndexMap<String, RoomGauges> {
    let mut gauges: IndexMap<String, RoomGauges> = IndexMap::new();
    for room in hub.list_rooms() {
        let entry = gauges.entry(room.metrics().label().to_owned()).or_default();
        let scheduler = room.scheduler().snapshot();
        entry.queued += scheduler.queued;
        for participant in &scheduler.participants {
            entry.slots_in_use += u64::from(participant.active);
            if participant.available {
                entry.slots += u64::from(participant.max_concurrency);
            }
        }
        for participant in room.participants() {
            match participant.summary.status {
                gambi_protocol::ParticipantStatus::Online => entry.online += 1,
                gambi_protocol::ParticipantStatus::Busy => entry.busy += 1,
                gambi_protocol::ParticipantStatus::Offline => entry.offline += 1,
            }
        }
        entry.subscribers += room.subscriber_count();
    }
    gauges
}
