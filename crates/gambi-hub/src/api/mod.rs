//! HTTP routes: the management plane (`/v1/*`), the tunnel upgrade and the room event
//! streams. Handlers are thin: they parse, call [`crate::hub::Hub`], and render.

mod events;
mod participants;
mod rooms;
mod tunnel;
pub(crate) mod validate;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use http::{HeaderValue, Method, StatusCode, header};

use axum::body::Body;
use serde_json::Value;

use crate::error::{ApiError, request_id_layer};
use crate::http::{BodyError, read_limited};
use crate::hub::Hub;

/// The hub's HTTP routes over `hub`.
pub fn router(hub: Hub) -> Router {
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
        .merge(crate::inference::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(middleware::from_fn(cors))
        .layer(middleware::from_fn(request_id_layer))
        .with_state(hub)
}

async fn not_found() -> ApiError {
    ApiError::route_not_found()
}

/// Answers every `OPTIONS` with `204` and the CORS headers, and marks every response as
/// readable from any origin, as the original hub does (browser apps on the LAN use it).
async fn cors(request: Request, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type, Authorization, X-Gambi-Session"),
        );
        response
    } else {
        next.run(request).await
    };
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
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
