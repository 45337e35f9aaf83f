//! HTTP routes: the management plane (`/v1/*`), the tunnel upgrade and the room event
//! streams. Handlers are thin: they parse, call [`crate::hub::Hub`], and render.

mod events;
mod participants;
mod rooms;
mod tunnel;
pub(crate) mod validate;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post, put};
use serde_json::Value;

use crate::error::ApiError;
use crate::hub::Hub;
use crate::web::{BodyError, read_limited};

/// The management routes, the tunnel upgrade and the room event streams.
pub(crate) fn routes() -> Router<Hub> {
    Router::new()
        .route("/v1/health", get(rooms::health))
        .route("/v1/events", get(events::hub_events))
        .route("/v1/rooms", post(rooms::create).get(rooms::list))
        .route("/v1/rooms/{code}", get(rooms::get))
        .route("/v1/rooms/{code}/participants", get(rooms::participants))
        .route(
            "/v1/rooms/{code}/participants/{id}",
            put(participants::upsert).delete(participants::remove),
        )
        .route(
            "/v1/rooms/{code}/participants/{id}/heartbeat",
            post(participants::heartbeat),
        )
        .route(
            "/v1/rooms/{code}/participants/{id}/tunnel",
            get(tunnel::upgrade),
        )
        .route("/v1/rooms/{code}/events", get(events::room_events))
        .route("/rooms/{code}/events", get(events::room_events))
}

/// Answers a route that does not exist with the management plane's 404.
pub(crate) async fn not_found() -> ApiError {
    ApiError::route_not_found()
}

/// Reads `body` (at most `limit` bytes) as JSON, with errors in the envelope shape.
async fn read_json(body: Body, limit: usize) -> Result<Value, ApiError> {
    let bytes = read_limited(body, limit)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => ApiError::payload_too_large(limit),
            BodyError::Unreadable => {
                ApiError::invalid("Could not read the request body.", "Send the body again.")
            }
        })?;
    serde_json::from_slice(&bytes).map_err(|error| ApiError::invalid_json(&error))
}
