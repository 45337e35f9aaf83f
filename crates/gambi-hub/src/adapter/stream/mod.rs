//! Streaming conversion, both directions, as state machines fed with raw upstream bytes.
//!
//! Each machine takes the provider's SSE bytes cut at any boundary and returns the client's
//! SSE bytes, event for event as the target API emits them, so the official SDKs' stream
//! helpers (which check the event sequence) accept them. Each one also tells the hub what it
//! needs for metrics and storage: the usage seen, whether the first content delta has gone
//! out (time to first token is measured there, not at `response.created`), and the final
//! object. Once a terminal event has been written nothing else is.
//!
//! Reasoning text, which local providers stream as `reasoning_content` or `reasoning` in the
//! chat delta, becomes a Responses `reasoning` item with a `reasoning_text` part; the other
//! way, reasoning deltas become `reasoning_content` in the chat delta, the field those
//! providers use (the OpenAI SDKs ignore it, chat front-ends display it).
//!
//! How a stream ends, Chat Completions -> Responses ([`ChatToResponsesStream`]):
//! - a `finish_reason` of `length` or `content_filter` ends with `response.incomplete`, any
//!   other with `response.completed`; the terminal event waits for the usage chunk that
//!   follows the finish (sent because the request asked for `include_usage`), for `[DONE]`,
//!   or for the end of the upstream, whichever comes first;
//! - `[DONE]` without a finish reason means the provider ended cleanly: `response.completed`;
//! - an error from the provider (an `{"error": …}` chunk, an `event: error`) or from the
//!   transport ([`ChatToResponsesStream::fail`]) ends with `response.failed` carrying the
//!   error, and so does an upstream that ends with neither a finish reason nor `[DONE]`, which
//!   is a truncated answer and must not look complete. Only `response.failed` is sent, not an
//!   `error` event too: the stream already has a Response, and `response.failed` is the
//!   documented terminal event for a Response that fails;
//! - no `[DONE]` is written, as the Responses API writes none.
//!
//! Responses -> Chat Completions ([`ResponsesToChatStream`]): `response.completed` or
//! `response.incomplete` ends with a chunk carrying the `finish_reason`, a usage chunk when
//! the client asked for it, and `[DONE]`; `response.failed`, an `error` event or an upstream
//! that ends without a terminal event ends with a `data: {"error": {…}}` frame, which the
//! OpenAI SDKs raise as an error, and no `[DONE]`.

mod to_chat;
mod to_responses;

pub(crate) use to_chat::ResponsesToChatStream;
pub(crate) use to_responses::ChatToResponsesStream;

#[cfg(test)]
mod tests;
