//! Server-sent event streams: one per room, and one hub-wide.
//!
//! Each subscriber reads from the room's broadcast channel at its own pace. One that
//! falls further behind than the channel holds skips ahead and receives a `lagged` event
//! saying how many it missed, so a slow reader never holds up the hub or the others.
//! A keep-alive comment goes out after [`proto::SSE_KEEP_ALIVE`] of silence, and every
//! stream ends when the hub shuts down.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use gambi_protocol as proto;
use http::{HeaderMap, HeaderValue, header};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::rooms::require_admin;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::web::bearer;

/// `GET /v1/rooms/{code}/events` (and the legacy `/rooms/{code}/events`).
pub(super) async fn room_events(
    State(hub): State<Hub>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let room = hub.room(&code).ok_or_else(ApiError::room_not_found)?;
    if !hub.check_password(&room, bearer(&headers)).await {
        return Err(ApiError::invalid_password());
    }
    let receiver = room.subscribe();
    check_limit(&hub, room.subscriber_count())?;
    let stream = event_stream(
        room.code().to_owned(),
        hub.clock(),
        receiver,
        hub.shutdown_token().clone(),
    );
    Ok(sse(stream))
}

/// `GET /v1/events`: hub-wide events (`room.created`), for dashboards.
pub(super) async fn hub_events(
    State(hub): State<Hub>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_admin(&hub, &headers)?;
    let receiver = hub.subscribe_hub();
    check_limit(&hub, hub.hub_subscriber_count())?;
    let stream = event_stream(
        String::new(),
        hub.clock(),
        receiver,
        hub.shutdown_token().clone(),
    );
    Ok(sse(stream))
}

/// Refuses a new subscriber when the stream already has `count` (this one included) over
/// the hub's limit. Counted after subscribing, so concurrent subscribers cannot slip in
/// together.
fn check_limit(hub: &Hub, count: usize) -> Result<(), ApiError> {
    let limit = hub.config().max_subscribers;
    if count > limit {
        return Err(ApiError::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            proto::ErrorCode::TooManySubscribers,
            format!("This event stream already has {limit} subscribers."),
            "Close an idle subscription, or retry later.",
        ));
    }
    Ok(())
}

fn sse(stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    let mut response = Sse::new(stream)
        .keep_alive(
            KeepAlive::new()
                .interval(proto::SSE_KEEP_ALIVE)
                .text("keep-alive"),
        )
        .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    response
}

fn frame(event: &proto::RoomEvent) -> Event {
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    Event::default().event(event.payload.kind()).data(data)
}

fn event_stream(
    room_code: String,
    clock: crate::clock::Clock,
    mut receiver: broadcast::Receiver<Arc<proto::RoomEvent>>,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    async_stream::stream! {
        let connected = proto::RoomEvent {
            timestamp: clock.now_ms(),
            room_code: room_code.clone(),
            payload: proto::RoomEventPayload::Connected(proto::event::ConnectedEvent {
                client_id: uuid::Uuid::new_v4().to_string(),
            }),
        };
        yield Ok(frame(&connected));
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = receiver.recv() => received,
            };
            match received {
                Ok(event) => yield Ok(frame(&event)),
                Err(RecvError::Lagged(skipped)) => {
                    let lagged = proto::RoomEvent {
                        timestamp: clock.now_ms(),
                        room_code: room_code.clone(),
                        payload: proto::RoomEventPayload::Lagged(proto::event::LaggedEvent { skipped }),
                    };
                    yield Ok(frame(&lagged));
                }
                Err(RecvError::Closed) => break,
            }
        }
    }
}
