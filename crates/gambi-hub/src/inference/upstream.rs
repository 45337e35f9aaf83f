//! One request's way to a participant and back: dispatch down the tunnel, wait for the
//! response head, then read the body. The tunnel session enforces the timeouts.

use std::collections::BTreeMap;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gambi_protocol as proto;
use tokio::time::Instant;

use crate::tunnel::{
    ResponseStream, Timeouts, TunnelError, TunnelEvent, TunnelFailure, TunnelHandle,
};

/// Why a request failed before its response started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DispatchError {
    /// The request could not be sent down the tunnel.
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
    /// The participant or its tunnel failed before the response started.
    #[error(transparent)]
    Failed(#[from] TunnelFailure),
    /// The participant did not start answering in time.
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
}

/// Why a body could not be read whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CollectError {
    /// It is larger than the hub holds.
    #[error("The participant's response is larger than the hub holds ({0} bytes).")]
    TooLarge(usize),
    /// The response failed while it was read.
    #[error("{}", .0.message)]
    Failed(Failure),
}

/// The next piece of a response body.
#[derive(Debug)]
pub(crate) enum BodyEvent {
    /// More bytes.
    Chunk(Bytes),
    /// The body is complete.
    End,
    /// The response failed; nothing follows.
    Failed(Failure),
    /// The tunnel session cut the reader off: it took nothing for the slow-client grace.
    CutOff,
}

/// Why a started response failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Our error code for it.
    pub code: proto::ErrorCode,
    /// What failed, in words.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub(crate) fn new(code: proto::ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<TunnelFailure> for Failure {
    fn from(failure: TunnelFailure) -> Self {
        let code = match failure {
            TunnelFailure::Participant { .. }
            | TunnelFailure::NoStart(_)
            | TunnelFailure::Idle(_)
            | TunnelFailure::TooManyPending => proto::ErrorCode::ProviderError,
            TunnelFailure::Disconnected | TunnelFailure::Superseded | TunnelFailure::Removed => {
                proto::ErrorCode::TunnelDisconnected
            }
            TunnelFailure::Shutdown => proto::ErrorCode::HubShuttingDown,
            TunnelFailure::SlowClient => proto::ErrorCode::InternalError,
        };
        Self::new(code, failure.to_string())
    }
}

/// A response whose head has arrived.
#[derive(Debug)]
pub(crate) struct Upstream {
    /// HTTP status from the provider.
    pub status: u16,
    /// Provider response headers.
    pub headers: BTreeMap<String, String>,
    /// When the request was handed to the tunnel.
    pub dispatched_at: Instant,
    /// What the runtime measured, with the `timing` extension.
    pub timing: Option<proto::ResponseTiming>,
    stream: ResponseStream,
    pending: Option<Bytes>,
    ended: bool,
}

/// Sends `request` down `tunnel` and waits for the response head.
pub(crate) async fn dispatch(
    tunnel: &TunnelHandle,
    request: proto::TunnelRequest,
    timeouts: Timeouts,
) -> Result<Upstream, DispatchError> {
    let mut stream = tunnel.dispatch(request, timeouts).await?;
    let dispatched_at = Instant::now();
    let first = stream.next().await;
    let mut upstream = Upstream {
        status: 200,
        headers: BTreeMap::new(),
        dispatched_at,
        timing: None,
        stream,
        pending: None,
        ended: false,
    };
    match first {
        Some(TunnelEvent::Start {
            status,
            headers,
            timing,
        }) => {
            upstream.status = status;
            upstream.headers = headers;
            upstream.timing = timing;
        }
        // A participant that skips `start` gets the benefit of the doubt: 200.
        Some(TunnelEvent::Chunk(bytes)) => upstream.pending = Some(bytes),
        Some(TunnelEvent::End) => upstream.ended = true,
        Some(TunnelEvent::Error(TunnelFailure::NoStart(after))) => {
            return Err(DispatchError::Timeout(after));
        }
        Some(TunnelEvent::Error(failure)) => return Err(failure.into()),
        None => return Err(TunnelFailure::Disconnected.into()),
    }
    Ok(upstream)
}

impl Upstream {
    /// The provider's `content-type`, if it sent one.
    pub(crate) fn content_type(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.as_str())
    }

    /// The next piece of the body.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<BodyEvent> {
        if let Some(bytes) = self.pending.take() {
            return Poll::Ready(BodyEvent::Chunk(bytes));
        }
        if self.ended {
            return Poll::Ready(BodyEvent::End);
        }
        let event = match std::task::ready!(self.stream.poll_next(cx)) {
            Some(TunnelEvent::Chunk(bytes)) => BodyEvent::Chunk(bytes),
            Some(TunnelEvent::End) | None => {
                self.ended = true;
                BodyEvent::End
            }
            // A second `start` is a participant bug; ignore it.
            Some(TunnelEvent::Start { .. }) => BodyEvent::Chunk(Bytes::new()),
            Some(TunnelEvent::Error(TunnelFailure::SlowClient)) => {
                self.ended = true;
                BodyEvent::CutOff
            }
            Some(TunnelEvent::Error(failure)) => {
                self.ended = true;
                BodyEvent::Failed(failure.into())
            }
        };
        Poll::Ready(event)
    }

    /// The next piece of the body. Cancel safe.
    pub(crate) async fn next(&mut self) -> BodyEvent {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The tunnel's response stream, to arrange what happens if its reader is abandoned.
    pub(crate) fn stream(&self) -> &ResponseStream {
        &self.stream
    }

    /// Reads the whole body, at most `limit` bytes.
    pub(crate) async fn collect(&mut self, limit: usize) -> Result<Bytes, CollectError> {
        let mut body = BytesMut::new();
        loop {
            match self.next().await {
                BodyEvent::Chunk(bytes) => {
                    if body.len() + bytes.len() > limit {
                        return Err(CollectError::TooLarge(limit));
                    }
                    body.extend_from_slice(&bytes);
                }
                BodyEvent::End => return Ok(body.freeze()),
                BodyEvent::Failed(failure) => return Err(CollectError::Failed(failure)),
                BodyEvent::CutOff => {
                    return Err(CollectError::Failed(TunnelFailure::SlowClient.into()));
                }
            }
        }
    }
}
