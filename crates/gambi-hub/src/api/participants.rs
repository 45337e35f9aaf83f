//! Participant routes: upsert, leave, heartbeat.

use axum::body::Body;
use axum::extract::{Path, State};
use gambi_protocol as proto;
use http::{HeaderMap, StatusCode, Uri};

use super::{read_json, validate};
use crate::error::{ApiError, ApiOk};
use crate::hub::Hub;
use crate::room::ParticipantError;
use crate::web::{ReachedAt, session_header};

fn conflict() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        proto::ErrorCode::ParticipantConflict,
        "This participant id is in use by a connected session.",
        "Choose another participant id, or stop the session that holds it (its tunnel must close first).",
    )
}

fn participant_error(error: ParticipantError) -> ApiError {
    match error {
        ParticipantError::NotFound => ApiError::participant_not_found(),
        ParticipantError::Conflict => conflict(),
        ParticipantError::RoomFull(limit) => ApiError::new(
            StatusCode::CONFLICT,
            proto::ErrorCode::InvalidRequest,
            format!("This room already holds {limit} participants."),
            "Ask someone to leave the room, or use another room.",
        ),
    }
}

/// The tunnel URL for a participant, as seen by the client that registered it.
fn tunnel_url(hub: &Hub, uri: &Uri, headers: &HeaderMap, code: &str, id: &str) -> String {
    let reached = ReachedAt::of(uri, headers, hub.config().tls);
    let scheme = if reached.secure { "wss" } else { "ws" };
    format!(
        "{scheme}://{}/v1/rooms/{code}/participants/{}/tunnel",
        reached.authority.unwrap_or("localhost"),
        percent_encode(id)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `PUT /v1/rooms/{code}/participants/{id}`.
pub(super) async fn upsert(
    State(hub): State<Hub>,
    Path((code, id)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<ApiOk<proto::UpsertParticipantResponse>, ApiError> {
    let room = hub.room(&code).ok_or_else(ApiError::room_not_found)?;
    validate::participant_id(&id)?;
    let value = read_json(body, hub.config().max_management_body).await?;
    let registration = validate::registration(&value)?;
    let session = session_header(&headers);
    if room.is_protected()
        && !room.owns(&id, session)
        && !hub
            .check_password(&room, registration.password.as_deref())
            .await
    {
        return Err(ApiError::invalid_password());
    }
    let upserted = hub
        .upsert_participant(&room, &id, registration, session)
        .map_err(participant_error)?;
    let response = proto::UpsertParticipantResponse {
        participant: upserted.summary,
        room_id: room.record().id.clone(),
        tunnel: proto::TunnelBootstrap {
            url: tunnel_url(&hub, &uri, &headers, room.code(), &id),
            token: upserted.token,
            extensions: upserted.extensions,
        },
        session_token: Some(upserted.session_token),
    };
    Ok(if upserted.created {
        ApiOk::created(response)
    } else {
        ApiOk::ok(response)
    })
}

/// `DELETE /v1/rooms/{code}/participants/{id}`.
///
/// A live participant can only be removed by its own session. In a protected room a stale
/// one needs its session credential or the room password, unless its tunnel closed a
/// moment ago: the original runtime leaves by closing its tunnel and sending this `DELETE`
/// without either, and the tunnel that just closed is proof enough that the leave is its
/// own (as it is in open rooms), so no offline ghost stays behind.
pub(super) async fn remove(
    State(hub): State<Hub>,
    Path((code, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<ApiOk<proto::SuccessResponse>, ApiError> {
    let room = hub.room(&code).ok_or_else(ApiError::room_not_found)?;
    let session = session_header(&headers);
    if !room.has_participant(&id) {
        return Err(ApiError::participant_not_found());
    }
    let owner = room.owns(&id, session);
    if !owner && let Some(tunnel) = room.live_tunnel(&id) {
        // The original runtime closes its socket and sends this DELETE at once, without a
        // session credential: give the tunnel a moment to finish closing before calling
        // the request a conflict with a live session.
        let _ = tokio::time::timeout(LEAVE_GRACE, tunnel.closed()).await;
    }
    if room.is_protected()
        && !owner
        && !room.tunnel_just_closed(&id, JUST_CLOSED)
        && !hub
            .check_password(&room, crate::web::bearer(&headers))
            .await
    {
        return Err(ApiError::invalid_password());
    }
    hub.remove_participant(&room, &id, session)
        .map_err(participant_error)?;
    Ok(ApiOk::ok(proto::SuccessResponse { success: true }))
}

/// How long a credential-less leave waits for the participant's tunnel to close.
const LEAVE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// How recently a tunnel must have closed for a credential-less leave of a protected
/// room's participant to be taken as its own.
const JUST_CLOSED: std::time::Duration = std::time::Duration::from_secs(5);

/// `POST /v1/rooms/{code}/participants/{id}/heartbeat`.
pub(super) async fn heartbeat(
    State(hub): State<Hub>,
    Path((code, id)): Path<(String, String)>,
) -> Result<ApiOk<proto::HeartbeatResponse>, ApiError> {
    let room = hub.room(&code).ok_or_else(ApiError::room_not_found)?;
    let response = room.heartbeat(&id).map_err(participant_error)?;
    Ok(ApiOk::ok(response))
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn percent_encoding_keeps_unreserved_characters() {
        assert_eq!(percent_encode("alice-1_x.y~z"), "alice-1_x.y~z");
        assert_eq!(percent_encode("a/b c"), "a%2Fb%20c");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }
}
