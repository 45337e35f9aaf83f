//! Pacing a generation: the delays before and between tokens, where a scripted failure
//! strikes, and writing a server-sent-event stream one event per write.
//!
//! Each protocol describes its stream as an [`EventScript`]: a fixed list of events, some of
//! which are tokens, rendered one at a time just before being sent (so nothing is serialised
//! ahead of need and the first byte leaves as early as possible).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

use super::reply::{Interruption, InterruptionKind, Reply, StreamFailure};

/// How long generation takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Before the first generated event.
    pub(crate) first_token: Duration,
    /// Between consecutive token events.
    pub(crate) between_tokens: Duration,
}

impl Timing {
    /// The reply's own delays, else the provider's.
    pub(crate) fn for_reply(
        reply: &Reply,
        first_token: Duration,
        between_tokens: Duration,
    ) -> Self {
        Self {
            first_token: reply.first_token_delay.unwrap_or(first_token),
            between_tokens: reply.token_delay.unwrap_or(between_tokens),
        }
    }

    /// How long producing `tokens` tokens takes: the first-token delay, then the gaps.
    pub(crate) fn generation_time(self, tokens: usize) -> Duration {
        let gaps = u32::try_from(tokens.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first_token + self.between_tokens.saturating_mul(gaps)
    }
}

/// A protocol's stream, event by event.
pub(crate) trait EventScript: Send + 'static {
    /// How many events a complete stream has.
    fn len(&self) -> usize;
    /// Whether event `index` is a token (text delta or argument fragment).
    fn is_token(&self, index: usize) -> bool;
    /// The first event that waits for the model (the first-token delay comes before it).
    fn generation_start(&self) -> usize;
    /// Renders event `index`, a complete SSE frame ending in a blank line.
    fn render(&mut self, index: usize) -> Bytes;
    /// Renders the error event sent instead of event `index` by
    /// [`StreamFailure::ErrorEvent`].
    fn render_error(&mut self, index: usize) -> Bytes;
    /// Called once after the last event of a complete stream was handed over.
    fn finished(&mut self) {}
}

/// Where a stream stops short, and how.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Break {
    /// Events `0..at` are sent.
    pub(crate) at: usize,
    pub(crate) kind: InterruptionKind,
}

/// Where an interruption after `after_tokens` tokens strikes in `script`: just before the
/// next token, or after the last token if there are no more, or where generation would start
/// if there are no tokens at all.
pub(crate) fn break_point(script: &impl EventScript, interruption: Interruption) -> Break {
    let mut seen = 0;
    let mut after_last_token = None;
    for index in 0..script.len() {
        if script.is_token(index) {
            if seen == interruption.after_tokens {
                return Break {
                    at: index,
                    kind: interruption.kind,
                };
            }
            seen += 1;
            after_last_token = Some(index + 1);
        }
    }
    Break {
        at: after_last_token.unwrap_or_else(|| script.generation_start()),
        kind: interruption.kind,
    }
}

/// A `200 text/event-stream` response that plays `script` with `timing`, breaking off as
/// `stop` says.
pub(crate) fn sse_response(
    mut script: impl EventScript,
    timing: Timing,
    stop: Option<Break>,
) -> Response {
    let events = async_stream::stream! {
        let end = stop.map_or(script.len(), |stop| stop.at);
        let start = script.generation_start();
        let mut tokens_sent = 0_usize;
        for index in 0..end {
            let is_token = script.is_token(index);
            let delay = if index == start {
                timing.first_token
            } else if is_token && tokens_sent > 0 {
                timing.between_tokens
            } else {
                Duration::ZERO
            };
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            } else if index > 0 {
                // Hand control back so hyper flushes the previous event on its own: one
                // event, one write, even with no delay.
                tokio::task::yield_now().await;
            }
            if is_token {
                tokens_sent += 1;
            }
            yield Ok(script.render(index));
        }
        match stop.map(|stop| stop.kind) {
            None => script.finished(),
            Some(InterruptionKind::Stall) => std::future::pending::<()>().await,
            Some(InterruptionKind::Fail(StreamFailure::ErrorEvent)) => {
                tokio::task::yield_now().await;
                yield Ok(script.render_error(end));
            }
            Some(InterruptionKind::Fail(StreamFailure::Disconnect)) => {
                tokio::task::yield_now().await;
                yield Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "scripted disconnect",
                ));
            }
        }
    };
    let mut response = Response::new(Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// A `200` whose body starts like `body` and then breaks off: half of it is sent, then the
/// connection is cut. For a non-streamed request told to [`StreamFailure::Disconnect`].
pub(crate) fn cut_json_response(body: Vec<u8>) -> Response {
    let body = Bytes::from(body);
    let half = body.slice(..body.len() / 2);
    let parts = async_stream::stream! {
        yield Ok(half);
        // Let hyper flush the status line, headers and half a body before the cut.
        tokio::task::yield_now().await;
        yield Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "scripted disconnect",
        ));
    };
    let mut response = Response::new(Body::from_stream(parts));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *response.status_mut() = StatusCode::OK;
    response
}

/// Never completes: for replies that hang.
pub(crate) async fn never() -> Infallible {
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests may panic on a broken invariant.

    use futures::StreamExt as _;

    use super::*;

    /// Events named by a letter; upper case ones are tokens. `finished` is recorded.
    struct Letters {
        events: Vec<char>,
        finished: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    impl Letters {
        fn new(events: &str) -> Self {
            Self {
                events: events.chars().collect(),
                finished: std::sync::Arc::default(),
            }
        }
    }

    impl EventScript for Letters {
        fn len(&self) -> usize {
            self.events.len()
        }
        fn is_token(&self, index: usize) -> bool {
            self.events[index].is_ascii_uppercase()
        }
        fn generation_start(&self) -> usize {
            1
        }
        fn render(&mut self, index: usize) -> Bytes {
            Bytes::from(format!("{}\n\n", self.events[index]))
        }
        fn render_error(&mut self, index: usize) -> Bytes {
            Bytes::from(format!("error@{index}\n\n"))
        }
        fn finished(&mut self) {
            self.finished
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn fail_after(tokens: usize) -> Interruption {
        Interruption {
            after_tokens: tokens,
            kind: InterruptionKind::Fail(StreamFailure::ErrorEvent),
        }
    }

    #[test]
    fn breaks_before_the_next_token_or_after_the_last() {
        let check = |events: &str, tokens: usize, expected: usize| {
            let at = break_point(&Letters::new(events), fail_after(tokens)).at;
            assert_eq!(at, expected, "{events:?} after {tokens} tokens");
        };
        check("abABCcd", 0, 2);
        check("abABCcd", 1, 3);
        check("abABCcd", 2, 4);
        check("abABCcd", 3, 5);
        check("abABCcd", 9, 5);
        check("abcd", 0, 1);
        check("abcd", 5, 1);
    }

    async fn frames(response: Response) -> Vec<String> {
        response
            .into_body()
            .into_data_stream()
            .map(|frame| String::from_utf8(frame.unwrap().to_vec()).unwrap())
            .collect()
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn paces_events_and_yields_between_them() {
        let script = Letters::new("abXYZc");
        let finished = std::sync::Arc::clone(&script.finished);
        let timing = Timing {
            first_token: Duration::from_secs(5),
            between_tokens: Duration::from_secs(1),
        };
        let response = sse_response(script, timing, None);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        let started = tokio::time::Instant::now();
        let mut body = response.into_body().into_data_stream();
        assert_eq!(body.next().await.unwrap().unwrap(), "a\n\n");
        // Each event is its own frame: the stream is not ready again right away, so hyper
        // flushes what it has before the next event is produced.
        assert!(futures::poll!(body.next()).is_pending());
        assert_eq!(body.next().await.unwrap().unwrap(), "b\n\n");
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        let rest: Vec<Bytes> = body.map(Result::unwrap).collect().await;
        assert_eq!(rest, ["X\n\n", "Y\n\n", "Z\n\n", "c\n\n"]);
        // First token right after the first generated event, then one second per token.
        assert_eq!(started.elapsed(), Duration::from_secs(7));
        assert!(finished.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn sends_an_error_event_at_the_break() {
        let script = Letters::new("aXYb");
        let stop = break_point(&script, fail_after(1));
        let response = sse_response(
            script,
            Timing::for_reply(&Reply::default(), Duration::ZERO, Duration::ZERO),
            Some(stop),
        );
        assert_eq!(frames(response).await, ["a\n\n", "X\n\n", "error@2\n\n"]);
    }

    #[tokio::test]
    async fn cuts_the_body_with_an_error() {
        let script = Letters::new("aXYb");
        let stop = Break {
            at: 2,
            kind: InterruptionKind::Fail(StreamFailure::Disconnect),
        };
        let response = sse_response(
            script,
            Timing::for_reply(&Reply::default(), Duration::ZERO, Duration::ZERO),
            Some(stop),
        );
        let items: Vec<_> = response.into_body().into_data_stream().collect().await;
        assert_eq!(items.len(), 3);
        assert!(items[2].is_err());
    }

    #[test]
    fn generation_time_counts_gaps() {
        let timing = Timing {
            first_token: Duration::from_millis(100),
            between_tokens: Duration::from_millis(10),
        };
        assert_eq!(timing.generation_time(0), Duration::from_millis(100));
        assert_eq!(timing.generation_time(1), Duration::from_millis(100));
        assert_eq!(timing.generation_time(4), Duration::from_millis(130));
    }
}
