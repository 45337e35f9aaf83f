//! The inference plane: OpenAI-compatible routes under `/rooms/{code}/v1`.
//!
//! A create request is parsed just enough to route it ([`request`]), gets a lease from the
//! room's scheduler, goes down the chosen participant's tunnel — natively, or translated by
//! the [`crate::adapter`] when the participant speaks the other protocol — and its answer
//! streams back to the client ([`relay`]) while [`log`] publishes `llm.*` events. Errors
//! use the OpenAI error shape ([`error`]).

mod answer;
mod attempt;
mod create;
pub(crate) mod error;
mod lifecycle;
pub(crate) mod log;
mod metrics;
mod relay;
pub(crate) mod request;
mod tap;
pub(crate) mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use gambi_protocol as proto;
use http::HeaderMap;
use proto::LlmProtocol;

use self::error::InferenceError;
use self::lifecycle::Operation;
use crate::hub::Hub;
use crate::room::Room;
use crate::scheduler::ClientKey;

/// The inference routes.
pub(crate) fn routes() -> Router<Hub> {
    Router::new()
        .route("/rooms/{code}/v1/models", get(models))
        .route("/rooms/{code}/v1/models/{id}", get(model))
        .route("/rooms/{code}/v1/chat/completions", post(chat_completions))
        .route("/rooms/{code}/v1/responses", post(responses))
        .route(
            "/rooms/{code}/v1/responses/{id}",
            get(response_by_id).delete(response_by_id),
        )
        .route("/rooms/{code}/v1/responses/{id}/cancel", post(cancel))
        .route(
            "/rooms/{code}/v1/responses/{id}/input_items",
            get(input_items),
        )
        .route("/rooms/{code}/v1/{*rest}", any(unknown_route))
}

/// Resolves the room and checks the caller may use it.
async fn authorize(
    hub: &Hub,
    code: &str,
    headers: &HeaderMap,
) -> Result<Arc<Room>, InferenceError> {
    let room = hub
        .room(code)
        .ok_or_else(|| InferenceError::room_not_found(code))?;
    if !hub.check_password(&room, crate::web::bearer(headers)).await {
        return Err(InferenceError::invalid_password());
    }
    Ok(room)
}

/// Who is asking, for fairness: the API key when one is sent, else the address.
fn client_key(headers: &HeaderMap, peer: Option<SocketAddr>) -> ClientKey {
    match (crate::web::bearer(headers), peer) {
        (Some(key), _) => ClientKey::api_key(key),
        (None, Some(peer)) => ClientKey::ip(peer.ip()),
        (None, None) => ClientKey::named("unknown"),
    }
}

async fn read_body(hub: &Hub, body: Body) -> Result<bytes::Bytes, InferenceError> {
    use crate::web::{BodyError, read_limited};
    let limit = hub.config().max_inference_body;
    read_limited(body, limit)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => InferenceError::payload_too_large(limit),
            BodyError::Unreadable => InferenceError::invalid("Could not read the request body."),
        })
}

async fn create(
    hub: Hub,
    code: String,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
    body: Body,
    protocol: LlmProtocol,
) -> Result<Response, InferenceError> {
    let arrived = tokio::time::Instant::now();
    if hub.is_shutting_down() {
        return Err(InferenceError::shutting_down());
    }
    let in_flight = Arc::new(hub.request_in_flight());
    let room = authorize(&hub, &code, &headers).await?;
    let reading = tokio::time::Instant::now();
    let bytes = read_body(&hub, body).await?;
    // The body arriving is the client's time, not the hub's.
    let hub_time = log::HubTime {
        since: arrived,
        waited: reading.elapsed(),
    };
    let request = request::parse(&bytes)?;
    let create = create::Create {
        hub,
        room,
        protocol,
        client: client_key(&headers, peer),
        request,
        in_flight,
        hub_time,
    };
    Ok(create.run().await)
}

async fn chat_completions(
    State(hub): State<Hub>,
    Path(code): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    create(
        hub,
        code,
        headers,
        peer.map(|Extension(ConnectInfo(peer))| peer),
        body,
        LlmProtocol::ChatCompletions,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

async fn responses(
    State(hub): State<Hub>,
    Path(code): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    create(
        hub,
        code,
        headers,
        peer.map(|Extension(ConnectInfo(peer))| peer),
        body,
        LlmProtocol::OpenResponses,
    )
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

async fn lifecycle(
    hub: Hub,
    code: String,
    id: String,
    query: Option<String>,
    headers: HeaderMap,
    operation: Operation,
) -> Response {
    let result = async {
        let room = authorize(&hub, &code, &headers).await?;
        lifecycle::handle(&hub, &room, operation, &id, query.as_deref()).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `GET` and `DELETE /rooms/{code}/v1/responses/{id}`.
async fn response_by_id(
    State(hub): State<Hub>,
    method: http::Method,
    Path((code, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let operation = if method == http::Method::DELETE {
        Operation::Delete
    } else {
        Operation::Retrieve
    };
    lifecycle(hub, code, id, query, headers, operation).await
}

async fn cancel(
    State(hub): State<Hub>,
    Path((code, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    lifecycle(hub, code, id, None, headers, Operation::Cancel).await
}

async fn input_items(
    State(hub): State<Hub>,
    Path((code, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    lifecycle(hub, code, id, query, headers, Operation::InputItems).await
}

/// `GET /rooms/{code}/v1/models`: connected participants, addressed by id.
async fn models(State(hub): State<Hub>, Path(code): Path<String>, headers: HeaderMap) -> Response {
    let room = match authorize(&hub, &code, &headers).await {
        Ok(room) => room,
        Err(error) => return error.into_response(),
    };
    axum::Json(proto::ModelList {
        object: "list".into(),
        data: model_entries(&room, None),
    })
    .into_response()
}

/// `GET /rooms/{code}/v1/models/{id}`: one connected participant.
async fn model(
    State(hub): State<Hub>,
    Path((code, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let room = match authorize(&hub, &code, &headers).await {
        Ok(room) => room,
        Err(error) => return error.into_response(),
    };
    match model_entries(&room, Some(&id)).pop() {
        Some(entry) => axum::Json(entry).into_response(),
        None => InferenceError::new(
            http::StatusCode::NOT_FOUND,
            "invalid_request_error",
            proto::ErrorCode::ModelNotFound,
            format!("The model '{id}' does not exist in this room: no connected participant has that id."),
        )
        .param("model")
        .into_response(),
    }
}

/// The model entries of the room's routable participants (only `id`, when given).
fn model_entries(room: &Room, id: Option<&str>) -> Vec<proto::ModelEntry> {
    room.routable(id)
        .into_iter()
        .map(|summary| proto::ModelEntry {
            id: summary.id.clone(),
            object: "model".into(),
            created: summary.joined_at / 1000,
            owned_by: summary.nickname.clone(),
            gambi: proto::ModelEntryInfo {
                nickname: summary.nickname,
                model: summary.model,
                endpoint: summary.endpoint,
                capabilities: summary.capabilities,
                connection: summary.connection,
                status: summary.status,
                max_concurrency: summary.max_concurrency,
                active_requests: summary.active_requests,
                last_seen: summary.last_seen,
            },
        })
        .collect()
}

async fn unknown_route(Path((code, rest)): Path<(String, String)>) -> Response {
    InferenceError::new(
        http::StatusCode::NOT_FOUND,
        "invalid_request_error",
        proto::ErrorCode::InvalidRequest,
        format!("Unknown inference route '/rooms/{code}/v1/{rest}'. Gambi serves /models, /chat/completions and /responses."),
    )
    .into_response()
}
