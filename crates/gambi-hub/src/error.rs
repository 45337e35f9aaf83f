//! Management-plane answers: the `{data, meta}` and `{error, meta}` envelopes.
//!
//! Each [`ApiError`] knows its HTTP status, its [`proto::ErrorCode`], a message saying what
//! was wrong and a hint saying what to do; `IntoResponse` renders the envelope with the
//! exchange's request id ([`crate::web::current_request_id`]).

use axum::Json;
use axum::response::{IntoResponse, Response};
use gambi_protocol as proto;
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

/// A successful management response: `{data, meta}` with a status.
#[derive(Debug)]
pub(crate) struct ApiOk<T> {
    status: StatusCode,
    data: T,
}

impl<T> ApiOk<T> {
    /// `200 OK` with `data`.
    pub(crate) fn ok(data: T) -> Self {
        Self {
            status: StatusCode::OK,
            data,
        }
    }

    /// `201 Created` with `data`.
    pub(crate) fn created(data: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            data,
        }
    }
}

impl<T: Serialize> IntoResponse for ApiOk<T> {
    fn into_response(self) -> Response {
        let envelope = proto::Envelope {
            data: self.data,
            meta: proto::Meta {
                request_id: crate::web::current_request_id(),
            },
        };
        (self.status, Json(envelope)).into_response()
    }
}

/// A management-plane failure.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    body: proto::ApiErrorBody,
}

impl ApiError {
    /// An error with every part given.
    pub(crate) fn new(
        status: StatusCode,
        code: proto::ErrorCode,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            status,
            body: proto::ApiErrorBody {
                code,
                message: message.into(),
                hint: Some(hint.into()),
                details: None,
            },
        }
    }

    /// Attaches structured details.
    pub(crate) fn with_details(mut self, details: Value) -> Self {
        self.body.details = Some(details);
        self
    }

    /// The message.
    #[cfg(test)]
    pub(crate) fn message(&self) -> &str {
        &self.body.message
    }

    /// `400 INVALID_REQUEST`.
    pub(crate) fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            proto::ErrorCode::InvalidRequest,
            message,
            hint,
        )
    }

    /// `400 INVALID_REQUEST` for a body that is not JSON.
    pub(crate) fn invalid_json(cause: &serde_json::Error) -> Self {
        Self::invalid(
            "Invalid JSON body.",
            "Provide a valid JSON object and retry.",
        )
        .with_details(serde_json::json!({ "cause": cause.to_string() }))
    }

    /// `404 ROOM_NOT_FOUND`.
    pub(crate) fn room_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            proto::ErrorCode::RoomNotFound,
            "Room not found.",
            "Run 'gambi room list' to inspect available rooms.",
        )
    }

    /// `404 PARTICIPANT_NOT_FOUND`.
    pub(crate) fn participant_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            proto::ErrorCode::ParticipantNotFound,
            "Participant not found.",
            "Check the participant id and retry.",
        )
    }

    /// `401 INVALID_PASSWORD`.
    pub(crate) fn invalid_password() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            proto::ErrorCode::InvalidPassword,
            "Invalid password.",
            "Provide the correct room password and retry.",
        )
    }

    /// `404 INVALID_REQUEST` for an unknown route.
    pub(crate) fn route_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            proto::ErrorCode::InvalidRequest,
            "Route not found.",
            "Check the requested path and HTTP method.",
        )
    }

    /// `413 PAYLOAD_TOO_LARGE`.
    pub(crate) fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            proto::ErrorCode::PayloadTooLarge,
            format!("Request body is larger than the hub accepts ({limit} bytes)."),
            "Send a smaller body.",
        )
    }

    /// `500 INTERNAL_ERROR`; the cause is logged here, once, and not sent.
    pub(crate) fn internal(what: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            proto::ErrorCode::InternalError,
            format!("{what}."),
            "Retry; if it keeps failing, check the hub's log.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let envelope = proto::ErrorEnvelope {
            error: self.body,
            meta: proto::Meta {
                request_id: crate::web::current_request_id(),
            },
        };
        (self.status, Json(envelope)).into_response()
    }
}
