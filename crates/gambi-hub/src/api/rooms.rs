//! Health and room routes.

use axum::body::Body;
use axum::extract::{Path, State};
use gambi_protocol as proto;
use http::{HeaderMap, StatusCode};

use super::{read_json, validate};
use crate::error::{ApiError, ApiOk};
use crate::hub::{CreateRoomError, Hub};
use crate::password::constant_time_eq;
use crate::web::bearer;

/// `GET /v1/health`.
pub(super) async fn health(State(hub): State<Hub>) -> ApiOk<proto::HealthResponse> {
    ApiOk::ok(proto::HealthResponse {
        status: "ok".into(),
        timestamp: hub.clock().now_ms(),
        version: Some(env!("CARGO_PKG_VERSION").into()),
    })
}

/// Requires the admin token when the hub has one.
pub(super) fn require_admin(hub: &Hub, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = hub.config().admin_token.as_deref() else {
        return Ok(());
    };
    match bearer(headers) {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            proto::ErrorCode::Unauthorized,
            "This hub requires its admin token to create or list rooms.",
            "Send 'Authorization: Bearer <admin token>' (gambi: --admin-token or GAMBI_ADMIN_TOKEN).",
        )),
    }
}

/// `POST /v1/rooms`.
pub(super) async fn create(
    State(hub): State<Hub>,
    headers: HeaderMap,
    body: Body,
) -> Result<ApiOk<proto::CreateRoomResponse>, ApiError> {
    require_admin(&hub, &headers)?;
    let value = read_json(body, hub.config().max_management_body).await?;
    let new_room = validate::new_room(&value)?;
    let room = hub
        .create_room(new_room.name, new_room.password, new_room.defaults)
        .await?;
    let summary = room.summary();
    Ok(ApiOk::created(proto::CreateRoomResponse {
        host_id: summary.host_id.clone(),
        room: summary,
    }))
}

/// `GET /v1/rooms`.
pub(super) async fn list(
    State(hub): State<Hub>,
    headers: HeaderMap,
) -> Result<ApiOk<Vec<proto::RoomSummary>>, ApiError> {
    require_admin(&hub, &headers)?;
    Ok(ApiOk::ok(
        hub.list_rooms().iter().map(|room| room.summary()).collect(),
    ))
}

/// `GET /v1/rooms/{code}`.
pub(super) async fn get(
    State(hub): State<Hub>,
    Path(code): Path<String>,
) -> Result<ApiOk<proto::RoomSummary>, ApiError> {
    let room = hub.room(&code).ok_or_else(ApiError::room_not_found)?;
    Ok(ApiOk::ok(room.summary()))
}

/// `GET /v1/rooms/{code}/participants`.
pub(super) async fn participants(
    State(hub): State<Hub>,
    Path(code): Path<String>,
) -> Result<ApiOk<Vec<proto::ParticipantSummary>>, ApiError> {
    let room = hub.room(&code).ok_or_else(ApiError::room_not_found)?;
    Ok(ApiOk::ok(room.participant_summaries()))
}

impl From<CreateRoomError> for ApiError {
    fn from(error: CreateRoomError) -> Self {
        match error {
            CreateRoomError::TooManyRooms(limit) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                proto::ErrorCode::InternalError,
                format!("This hub already keeps {limit} rooms."),
                "Reuse an existing room, or start the hub with a larger limit.",
            ),
            CreateRoomError::Password(_)
            | CreateRoomError::Store(_)
            | CreateRoomError::Worker(_)
            | CreateRoomError::NoFreeCode => {
                ApiError::internal("Could not create the room", &error)
            }
        }
    }
}
