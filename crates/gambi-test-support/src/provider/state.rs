//! State shared by the server and the [`FakeProvider`](super::FakeProvider) handle: the
//! reply queue, the request log, the counters tests wait on, and stored Responses.
//!
//! Counters live in a `watch` channel so that a test can wait for a condition on them
//! without polling or sleeping; everything else sits behind short-lived `std` mutexes that are
//! never held across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::FakeProviderConfig;
use super::reply::Reply;

/// Most Responses kept for the lifecycle routes; the oldest is forgotten first.
const MAX_STORED_RESPONSES: usize = 10_000;

/// One request as the provider received it, before it answered.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The HTTP method, e.g. `"POST"`.
    pub method: String,
    /// The path with its query string, e.g. `"/v1/responses/resp_1/input_items?limit=2"`.
    pub path: String,
    /// Every header in arrival order, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, or `None` if it was empty or not JSON.
    pub body: Option<Value>,
    /// The raw body bytes.
    pub raw_body: Bytes,
    /// When it arrived, on tokio's clock (so paused-time tests can compare instants).
    pub received_at: Instant,
}

impl RecordedRequest {
    /// The first value of header `name` (matched case-insensitively), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A snapshot of the provider's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderStats {
    /// Requests received, on any route, including rejected ones.
    pub received: usize,
    /// Requests whose answer is still being produced or sent.
    pub in_flight: usize,
    /// The largest `in_flight` seen so far.
    pub max_in_flight: usize,
    /// Requests whose whole response body was handed to the connection.
    pub completed: usize,
    /// Requests the client gave up on before the whole response body was sent.
    pub aborted: usize,
    /// Streams the provider broke on purpose ([`StreamFailure::Disconnect`](super::StreamFailure::Disconnect)).
    pub cut: usize,
}

/// How a tracked request ended.
#[derive(Debug, Clone, Copy)]
enum Ending {
    Completed,
    Aborted,
    Cut,
}

/// What the server and the handle share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: FakeProviderConfig,
    replies: Mutex<VecDeque<Reply>>,
    default_reply: Mutex<Reply>,
    requests: Mutex<Vec<RecordedRequest>>,
    stats: watch::Sender<ProviderStats>,
    responses: Mutex<ResponseStore>,
    /// Response body bytes handed to the connection, every request together.
    body_bytes: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: FakeProviderConfig) -> Self {
        let default_reply = config.default_reply.clone();
        Self {
            config,
            replies: Mutex::new(VecDeque::new()),
            default_reply: Mutex::new(default_reply),
            body_bytes: AtomicU64::new(0),
            requests: Mutex::new(Vec::new()),
            stats: watch::Sender::new(ProviderStats::default()),
            responses: Mutex::new(ResponseStore::default()),
        }
    }

    pub(crate) fn push_reply(&self, reply: Reply) {
        lock(&self.replies).push_back(reply);
    }

    pub(crate) fn clear_replies(&self) {
        lock(&self.replies).clear();
    }

    pub(crate) fn pending_replies(&self) -> usize {
        lock(&self.replies).len()
    }

    pub(crate) fn set_default_reply(&self, reply: Reply) {
        *lock(&self.default_reply) = reply;
    }

    /// The next scripted reply, or the default one when the script is empty.
    pub(crate) fn next_reply(&self) -> Reply {
        if let Some(reply) = lock(&self.replies).pop_front() {
            return reply;
        }
        lock(&self.default_reply).clone()
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).clone()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    pub(crate) fn stats(&self) -> ProviderStats {
        *self.stats.borrow()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<ProviderStats> {
        self.stats.subscribe()
    }

    /// Response body bytes handed to the connection so far.
    pub(crate) fn body_bytes(&self) -> u64 {
        self.body_bytes.load(Ordering::Relaxed)
    }

    pub(crate) fn responses(&self) -> MutexGuard<'_, ResponseStore> {
        lock(&self.responses)
    }

    /// Records a request (if recording is on) and counts it in flight. The returned guard
    /// counts it out again, as completed or aborted.
    pub(crate) fn begin(
        self: &Arc<Self>,
        parts: &http::request::Parts,
        raw_body: &Bytes,
        body: Option<&Value>,
    ) -> RequestGuard {
        if self.config.record_requests {
            let recorded = RecordedRequest {
                method: parts.method.as_str().to_owned(),
                path: parts
                    .uri
                    .path_and_query()
                    .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
                headers: header_list(&parts.headers),
                body: body.cloned(),
                raw_body: raw_body.clone(),
                received_at: Instant::now(),
            };
            lock(&self.requests).push(recorded);
        }
        self.stats.send_modify(|stats| {
            stats.received += 1;
            stats.in_flight += 1;
            stats.max_in_flight = stats.max_in_flight.max(stats.in_flight);
        });
        RequestGuard {
            shared: Arc::clone(self),
            done: AtomicBool::new(false),
        }
    }

    fn end(&self, ending: Ending) {
        self.stats.send_modify(|stats| {
            stats.in_flight = stats.in_flight.saturating_sub(1);
            match ending {
                Ending::Completed => stats.completed += 1,
                Ending::Aborted => stats.aborted += 1,
                Ending::Cut => stats.cut += 1,
            }
        });
    }
}

fn header_list(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Locks a mutex, carrying on if a panicking test thread poisoned it: every critical section
/// here leaves the data consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts one request out of flight exactly once: as completed or cut when its body ends, as
/// aborted when it is dropped first (the client went away, so hyper dropped the handler or the
/// body).
#[derive(Debug)]
pub(crate) struct RequestGuard {
    shared: Arc<Shared>,
    done: AtomicBool,
}

impl RequestGuard {
    fn finish(&self, ending: Ending) {
        if !self.done.swap(true, Ordering::AcqRel) {
            self.shared.end(ending);
        }
    }

    /// Wraps a response body so that its end (or its being dropped early) is counted.
    pub(crate) fn track(self, body: Body) -> Body {
        Body::new(TrackedBody {
            inner: body,
            guard: self,
        })
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.finish(Ending::Aborted);
    }
}

/// A response body that reports to its [`RequestGuard`] how it ended.
struct TrackedBody {
    inner: Body,
    guard: RequestGuard,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.guard.finish(Ending::Completed),
            Poll::Ready(Some(Err(_))) => self.guard.finish(Ending::Cut),
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = u64::try_from(data.len()).unwrap_or(u64::MAX);
                    self.guard
                        .shared
                        .body_bytes
                        .fetch_add(len, Ordering::Relaxed);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.guard.finish(Ending::Completed);
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A Response kept for the lifecycle routes and for `previous_response_id`.
#[derive(Debug, Clone)]
pub(crate) struct StoredResponse {
    /// The Response object as `GET /v1/responses/{id}` returns it.
    pub(crate) object: Value,
    /// This response's input, as input items with ids.
    pub(crate) input_items: Vec<Value>,
    /// The whole conversation up to and including this response's output, for a later
    /// request that names it as `previous_response_id`.
    pub(crate) conversation: Vec<Value>,
}

/// Stored Responses by id, bounded: the oldest is dropped past [`MAX_STORED_RESPONSES`].
#[derive(Debug, Default)]
pub(crate) struct ResponseStore {
    by_id: HashMap<String, StoredResponse>,
    order: VecDeque<String>,
}

impl ResponseStore {
    pub(crate) fn insert(&mut self, id: String, response: StoredResponse) {
        if self.by_id.insert(id.clone(), response).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > MAX_STORED_RESPONSES {
            if let Some(oldest) = self.order.pop_front() {
                self.by_id.remove(&oldest);
            }
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<&StoredResponse> {
        self.by_id.get(id)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut StoredResponse> {
        self.by_id.get_mut(id)
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<StoredResponse> {
        let removed = self.by_id.remove(id)?;
        self.order.retain(|kept| kept != id);
        Some(removed)
    }
}
