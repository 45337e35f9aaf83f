//! The caller's side of a request sent down a tunnel: the events of its response, and
//! what the caller tells the session actor about it (cancel, credit).

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use gambi_protocol as proto;
use tokio::sync::mpsc;

use super::event::{TunnelEvent, TunnelFailure};
use super::inbound::{AbandonHook, Inbound};

/// What a caller asks of the session actor, besides sending requests.
pub(super) enum Control {
    /// Abort this request: its caller is gone.
    Cancel(String),
    /// Grant this request this many more bytes: its caller took them.
    Credit(String, u64),
    /// Close the tunnel.
    Close(proto::CloseReason, TunnelFailure),
}

/// The response events of one request. Dropping it before the end cancels the request.
#[derive(Debug)]
pub struct ResponseStream {
    request_id: String,
    inbound: Arc<Inbound>,
    control: mpsc::UnboundedSender<Control>,
    finished: bool,
}

impl ResponseStream {
    pub(super) fn new(
        request_id: String,
        inbound: Arc<Inbound>,
        control: mpsc::UnboundedSender<Control>,
    ) -> Self {
        Self {
            request_id,
            inbound,
            control,
            finished: false,
        }
    }

    /// The tunnel request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The next event; `None` after `End` or `Error`.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<TunnelEvent>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let taken = std::task::ready!(self.inbound.poll_take(cx));
        if let Some(bytes) = taken.grant {
            let _ = self
                .control
                .send(Control::Credit(self.request_id.clone(), bytes));
        }
        if matches!(taken.event, TunnelEvent::End | TunnelEvent::Error(_)) {
            self.finished = true;
        }
        Poll::Ready(Some(taken.event))
    }

    /// The next event; `None` after `End` or `Error`. Cancel safe.
    pub async fn next(&mut self) -> Option<TunnelEvent> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// When the tunnel session received the response head, once it has.
    pub fn head_received_at(&self) -> Option<tokio::time::Instant> {
        self.inbound.received_at().0
    }

    /// When the tunnel session received the end of the complete response (the last byte
    /// of its body), once it has.
    pub fn end_received_at(&self) -> Option<tokio::time::Instant> {
        self.inbound.received_at().1
    }

    /// What to do if the hub gives up on this stream's reader: it took nothing for the
    /// slow-client grace, or the tunnel ended while it still had events to take. The hook
    /// runs on the tunnel's task, at most once, and never after the stream is dropped.
    pub fn on_abandon(&self, hook: impl FnOnce(&TunnelFailure) + Send + 'static) {
        let hook: AbandonHook = Box::new(hook);
        self.inbound.set_abandon_hook(hook);
    }

    /// The reader has ended the request itself: the abandon hook is no longer needed.
    pub fn disarm_abandon(&self) {
        self.inbound.clear_abandon_hook();
    }

    /// Marks the stream as finished so dropping it sends no cancel.
    pub fn mark_finished(&mut self) {
        self.finished = true;
    }
}

impl Drop for ResponseStream {
    fn drop(&mut self) {
        self.inbound.caller_gone();
        if !self.finished {
            let _ = self
                .control
                .send(Control::Cancel(std::mem::take(&mut self.request_id)));
        }
    }
}
