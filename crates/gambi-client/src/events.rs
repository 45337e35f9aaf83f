//! The room event stream: `GET /v1/rooms/{code}/events` parsed into [`proto::RoomEvent`]s.

use std::pin::Pin;
use std::task::{Context, Poll};

use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use gambi_protocol as proto;
use reqwest::RequestBuilder;
use reqwest::header::{ACCEPT, CONTENT_TYPE};

use crate::{ClientError, header_request_id, read_body};

type Inner = Pin<Box<dyn Stream<Item = Result<proto::RoomEvent, ClientError>> + Send>>;

/// A room's events, as [`crate::EventsApi::watch_room`] returns them.
///
/// The request is sent when the stream is first polled. The first item is `connected`
/// (sent by the hub on subscription), then every event of the room in order. Event types
/// this build does not know arrive as [`proto::RoomEventPayload::Unknown`]; keep-alive
/// comments are skipped, and so (with a warning in the log) is an event whose payload does
/// not match its type.
///
/// An `Err` item is always the last one: the hub refused the subscription (unknown room:
/// `404 ROOM_NOT_FOUND`; wrong or missing password: `401 INVALID_PASSWORD`), could not be
/// reached or dropped the connection (`503`), or did not send an event stream (`502`).
/// The stream ends without an error when the hub closes it, e.g. when it shuts down.
/// There is no reconnection: open a new stream (`gambi events watch` and the terminal
/// interface do, with backoff). See [`crate::Client::events`] for an example.
pub struct RoomEventStream {
    inner: Inner,
}

impl std::fmt::Debug for RoomEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomEventStream").finish_non_exhaustive()
    }
}

impl Stream for RoomEventStream {
    type Item = Result<proto::RoomEvent, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl RoomEventStream {
    pub(crate) fn open(request: RequestBuilder, hub_url: String) -> Self {
        let inner = async_stream::stream! {
            let response = match request.header(ACCEPT, "text/event-stream").send().await {
                Ok(response) => response,
                Err(error) => {
                    yield Err(ClientError::unreachable(&hub_url, &error));
                    return;
                }
            };
            let status = response.status();
            let request_id = header_request_id(&response);
            if !status.is_success() {
                match read_body(response, &hub_url, request_id.clone()).await {
                    Ok(body) => yield Err(ClientError::from_error_body(status, &body, request_id)),
                    Err(error) => yield Err(error),
                }
                return;
            }
            if !is_event_stream(&response) {
                yield Err(ClientError::invalid_response(
                    "the hub did not answer with an event stream",
                    request_id,
                ));
                return;
            }
            let mut events = response.bytes_stream().eventsource();
            while let Some(item) = events.next().await {
                match item {
                    Ok(event) => match serde_json::from_str::<proto::RoomEvent>(&event.data) {
                        Ok(room_event) => yield Ok(room_event),
                        Err(error) => tracing::warn!(
                            event = %event.event,
                            %error,
                            "skipping a malformed room event"
                        ),
                    },
                    Err(EventStreamError::Transport(error)) => {
                        yield Err(ClientError::unreachable(&hub_url, &error));
                        return;
                    }
                    Err(error) => {
                        yield Err(ClientError::invalid_response(&error.to_string(), request_id));
                        return;
                    }
                }
            }
        };
        Self {
            inner: Box::pin(inner),
        }
    }
}

fn is_event_stream(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("text/event-stream"))
}
