//! Inference-plane errors in the shape every OpenAI SDK understands.
//!
//! `{"error": {"message", "type", "param", "code"}}`, where `code` carries our error code
//! (`MODEL_NOT_FOUND`, `QUEUE_FULL`, …) so that programs can tell failures apart and SDKs
//! show a message a person can act on.

use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use gambi_protocol as proto;
use http::{HeaderValue, StatusCode, header};

use crate::adapter::AdaptError;
use crate::scheduler::{ScheduleError, Wanted};

/// A failed inference request.
#[derive(Debug, Clone)]
pub(crate) struct InferenceError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    param: Option<String>,
    code: String,
    retry_after: Option<Duration>,
}

impl InferenceError {
    /// An error with every part given.
    pub(crate) fn new(
        status: StatusCode,
        kind: &'static str,
        code: proto::ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
            code: code.as_str().to_owned(),
            retry_after: None,
        }
    }

    /// Names the request field at fault.
    pub(crate) fn param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    #[cfg(test)]
    /// The HTTP status.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// `400 invalid_request_error`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            proto::ErrorCode::InvalidRequest,
            message,
        )
    }

    /// `404`: the room does not exist.
    pub(crate) fn room_not_found(code: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            proto::ErrorCode::RoomNotFound,
            format!(
                "Room '{code}' not found. Check the room code in your base URL (http://<hub>/rooms/<CODE>/v1)."
            ),
        )
    }

    /// `401`: the room has a password and the request did not present it.
    pub(crate) fn invalid_password() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            proto::ErrorCode::InvalidPassword,
            "This room is password protected. Send the room password as your API key (Authorization: Bearer <password>).",
        )
    }

    /// `413`: the body is larger than the hub accepts.
    pub(crate) fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            proto::ErrorCode::PayloadTooLarge,
            format!("Request body is larger than the hub accepts ({limit} bytes)."),
        )
    }

    /// `404`: the response id is unknown in this room.
    pub(crate) fn response_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            proto::ErrorCode::ResponseNotFound,
            format!("Response '{id}' not found in this room."),
        )
        .param("response_id")
    }

    /// `502`: the participant or its tunnel failed before answering.
    pub(crate) fn upstream(code: proto::ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "server_error", code, message)
    }

    /// `503`: the hub is shutting down and takes no new requests.
    pub(crate) fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            proto::ErrorCode::HubShuttingDown,
            "The hub is shutting down and takes no new requests; retry once it is back.",
        )
    }

    /// `504`: the participant did not start answering in time.
    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "server_error",
            proto::ErrorCode::ProviderError,
            message,
        )
    }

    /// The JSON body.
    pub(crate) fn body(&self) -> serde_json::Value {
        serde_json::to_value(proto::OpenAiError {
            error: proto::OpenAiErrorBody {
                message: self.message.clone(),
                kind: self.kind.to_owned(),
                param: self.param.clone(),
                code: Some(self.code.clone()),
            },
        })
        .unwrap_or_default()
    }
}

impl From<ScheduleError> for InferenceError {
    fn from(error: ScheduleError) -> Self {
        let code = error.code();
        match &error {
            ScheduleError::NoMatch { wanted, excluded } => {
                let message = match (wanted, excluded) {
                    (_, true) => "Every participant that could serve this request failed it; none is left to try.".to_owned(),
                    (Wanted::Any, false) => "No participant has joined this room yet.".to_owned(),
                    (Wanted::Model(model), false) => format!(
                        "No participant in this room serves model '{model}'. List what is available with GET /models."
                    ),
                    (Wanted::Participant(id), false) => format!("Participant '{id}' is not in this room."),
                    (Wanted::ParticipantOrModel(name), false) => format!(
                        "No participant in this room is called or serves '{name}'. List what is available with GET /models."
                    ),
                };
                let status = if *excluded {
                    StatusCode::BAD_GATEWAY
                } else {
                    StatusCode::NOT_FOUND
                };
                let kind = if *excluded {
                    "server_error"
                } else {
                    "invalid_request_error"
                };
                Self::new(status, kind, code, message).param("model")
            }
            ScheduleError::Offline { wanted } => match wanted {
                Wanted::Participant(id) => Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    code,
                    format!("Participant '{id}' is not connected. Its runtime must reconnect before it can serve requests."),
                ),
                Wanted::Any => Self::new(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    code,
                    "No participant in this room is online.",
                ),
                Wanted::Model(model) | Wanted::ParticipantOrModel(model) => Self::new(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    code,
                    format!("No participant online for model '{model}'. List what is available with GET /models."),
                ),
            }
            .param("model"),
            ScheduleError::QueueFull { retry_after } => {
                let mut error = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    code,
                    format!(
                        "Every participant is busy and the room's wait queue is full. Retry in {} s.",
                        retry_after.as_secs().max(1)
                    ),
                );
                error.retry_after = Some(*retry_after);
                error
            }
            ScheduleError::QueueTimeout { waited } => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "server_error",
                code,
                format!(
                    "No participant became free within {} s. The room is overloaded; retry later.",
                    waited.as_secs()
                ),
            ),
            ScheduleError::Closed => Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                proto::ErrorCode::RoomNotFound,
                "The room is closing.",
            ),
        }
    }
}

impl From<AdaptError> for InferenceError {
    fn from(error: AdaptError) -> Self {
        let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let (kind, code) = if status.is_client_error() {
            (
                "invalid_request_error",
                proto::ErrorCode::UnsupportedFeature,
            )
        } else {
            ("server_error", proto::ErrorCode::ProviderError)
        };
        let mut converted = Self::new(status, kind, code, error.to_string());
        converted.param = error.param().map(str::to_owned);
        converted
    }
}

impl IntoResponse for InferenceError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(retry_after) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
