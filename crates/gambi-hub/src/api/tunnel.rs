//! `GET /v1/rooms/{code}/participants/{id}/tunnel?token=…`: the tunnel upgrade.

use std::collections::HashMap;

use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use gambi_protocol as proto;
use http::StatusCode;

use crate::error::ApiError;
use crate::hub::Hub;
use crate::tunnel::TunnelHandle;

/// Read buffer per tunnel socket. Tungstenite allocates it eagerly (128 KiB by default),
/// which would dominate the hub's memory with many idle tunnels; frames larger than this
/// still arrive, the buffer just grows for them.
const TUNNEL_READ_BUFFER: usize = 8 * 1024;

/// Checks, in the original's order: room, participant, token present, token valid, then
/// the upgrade itself. The token is used up only when the upgrade goes ahead.
pub(super) async fn upgrade(
    State(hub): State<Hub>,
    Path((code, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let room = hub.room(&code).ok_or_else(ApiError::room_not_found)?;
    if !room.has_participant(&id) {
        return Err(ApiError::participant_not_found());
    }
    let token = query
        .get("token")
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "Tunnel token is required.",
                "Register the participant (PUT) and append ?token=<tunnel.token> to the tunnel URL.",
            )
        })?;
    let invalid_token = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            proto::ErrorCode::InvalidRequest,
            "Tunnel token is invalid or expired.",
            "Register the participant again for a fresh token; tokens are single use and expire after 60 seconds.",
        )
    };
    if !hub.check_token(&room, &id, token) {
        return Err(invalid_token());
    }
    let Ok(upgrade) = upgrade else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            proto::ErrorCode::InternalError,
            "Failed to upgrade the participant tunnel.",
            "Connect with a WebSocket client.",
        ));
    };
    let Some(extensions) = hub.consume_token(&room, &id, token) else {
        return Err(invalid_token());
    };
    let context = hub.session_context(&room, &id, extensions);
    let max_message = hub.config().max_tunnel_message;
    Ok(upgrade
        .read_buffer_size(TUNNEL_READ_BUFFER)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| async move {
            let tunnel = TunnelHandle::spawn(socket, context, hub.tracker());
            hub.attach_tunnel(&room, &id, tunnel);
        }))
}
