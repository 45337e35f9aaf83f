//! The Responses lifecycle routes: retrieve, delete, cancel, and list input items.
//!
//! A native response is asked of the participant that created it, through its tunnel
//! (without taking a slot: these calls are cheap and must work while it is busy). An
//! adapted response is served from the hub's store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use gambi_protocol as proto;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::json;

use super::error::InferenceError;
use super::upstream::{DispatchError, dispatch};
use crate::adapter::history::input_items_page;
use crate::hub::Hub;
use crate::responses::Located;
use crate::room::Room;
use crate::room::Target;

/// Which lifecycle operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    /// `GET /responses/{id}`.
    Retrieve,
    /// `DELETE /responses/{id}`.
    Delete,
    /// `POST /responses/{id}/cancel`.
    Cancel,
    /// `GET /responses/{id}/input_items`.
    InputItems,
}

impl Operation {
    fn method(self) -> Method {
        match self {
            Self::Retrieve | Self::InputItems => Method::GET,
            Self::Delete => Method::DELETE,
            Self::Cancel => Method::POST,
        }
    }

    fn name(self) -> &'static str {
        use proto::tunnel::operation;
        match self {
            Self::Retrieve => operation::RESPONSES_GET,
            Self::Delete => operation::RESPONSES_DELETE,
            Self::Cancel => operation::RESPONSES_CANCEL,
            Self::InputItems => operation::RESPONSES_INPUT_ITEMS,
        }
    }

    fn path(self, id: &str, query: Option<&str>) -> String {
        let base = match self {
            Self::Retrieve | Self::Delete => format!("/v1/responses/{id}"),
            Self::Cancel => format!("/v1/responses/{id}/cancel"),
            Self::InputItems => format!("/v1/responses/{id}/input_items"),
        };
        match query.filter(|query| !query.is_empty() && self != Self::Cancel) {
            Some(query) => format!("{base}?{query}"),
            None => base,
        }
    }
}

/// Serves one lifecycle operation on response `id`.
pub(super) async fn handle(
    hub: &Hub,
    room: &Arc<Room>,
    operation: Operation,
    id: &str,
    query: Option<&str>,
) -> Result<Response, InferenceError> {
    let now = u64::try_from(hub.clock().now_ms()).unwrap_or_default();
    let located = hub.responses().locate(&room.record().id, id, now);
    match located {
        None => Err(InferenceError::response_not_found(id)),
        Some(Located::Adapted(entry)) => match operation {
            Operation::Retrieve => Ok(json_response(StatusCode::OK, &entry.response)),
            Operation::Delete => {
                hub.responses().remove(&room.record().id, id);
                Ok(json_response(
                    StatusCode::OK,
                    &json!({"id": id, "object": "response", "deleted": true}),
                ))
            }
            Operation::Cancel => Err(InferenceError::invalid(format!(
                "Response '{id}' has already completed; only responses still in progress can be cancelled."
            ))),
            Operation::InputItems => {
                let params: HashMap<String, String> = query.map(url_pairs).unwrap_or_default();
                let limit = match params.get("limit").map(|limit| limit.parse::<u64>()) {
                    None => None,
                    Some(Ok(limit)) => Some(limit),
                    Some(Err(_)) => {
                        return Err(InferenceError::invalid(
                            "Query parameter 'limit' must be an integer.",
                        )
                        .param("limit"));
                    }
                };
                let page = input_items_page(
                    &entry.input_items,
                    params.get("after").map(String::as_str),
                    params.get("before").map(String::as_str),
                    limit,
                    params.get("order").map(String::as_str),
                )?;
                Ok(json_response(StatusCode::OK, &page))
            }
        },
        Some(Located::Native { participant_id }) => {
            let Some(target) = room.target(&participant_id) else {
                let exists = room.has_participant(&participant_id);
                return Err(if exists {
                    InferenceError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "server_error",
                        proto::ErrorCode::ParticipantTunnelNotConnected,
                        format!(
                            "Participant '{participant_id}', which created response '{id}', is not connected right now. Retry when it is back."
                        ),
                    )
                } else {
                    InferenceError::new(
                        StatusCode::NOT_FOUND,
                        "invalid_request_error",
                        proto::ErrorCode::ParticipantNotFound,
                        format!(
                            "Participant '{participant_id}', which created response '{id}', has left the room."
                        ),
                    )
                });
            };
            proxy(hub, room, &target, operation, id, query).await
        }
    }
}

async fn proxy(
    hub: &Hub,
    room: &Room,
    target: &Target,
    operation: Operation,
    id: &str,
    query: Option<&str>,
) -> Result<Response, InferenceError> {
    let config = hub.config();
    let request = proto::TunnelRequest {
        request_id: uuid::Uuid::new_v4().to_string(),
        operation: operation.name().to_owned(),
        method: operation.method().as_str().to_owned(),
        path: operation.path(id, query),
        headers: BTreeMap::new(),
        body: None,
        stream: false,
        metadata: None,
    };
    let mut upstream = dispatch(&target.tunnel, request, config.timeouts())
        .await
        .map_err(|error| match error {
            DispatchError::Tunnel(_) | DispatchError::Failed(_) => {
                InferenceError::upstream(proto::ErrorCode::ProviderError, error.to_string())
            }
            DispatchError::Timeout(after) => InferenceError::timeout(format!(
                "Participant '{}' did not answer within {} s.",
                target.id,
                after.as_secs()
            )),
        })?;
    let bytes = upstream
        .collect(config.max_response_body)
        .await
        .map_err(|error| {
            InferenceError::upstream(proto::ErrorCode::ProviderError, error.to_string())
        })?;
    let status = upstream.status;
    let forget = status == 404 && matches!(operation, Operation::Retrieve | Operation::Delete)
        || (operation == Operation::Delete && (200..300).contains(&status));
    if forget {
        hub.responses().remove(&room.record().id, id);
    }
    let mut response = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        Body::from(bytes),
    )
        .into_response();
    let content_type = upstream
        .content_type()
        .and_then(|value| HeaderValue::from_str(value).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    Ok(response)
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response {
    (status, axum::Json(value)).into_response()
}

/// Decodes `a=1&b=2` (percent-encoding and `+` included).
fn url_pairs(query: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}
