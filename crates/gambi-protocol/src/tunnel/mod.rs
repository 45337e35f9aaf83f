//! Frames exchanged over a participant tunnel (a WebSocket of JSON text frames).
//!
//! Messages are typed by direction: [`HubToParticipant`] and [`ParticipantToHub`]. Each is
//! a JSON object tagged by `type`. Response bodies travel as standard base64 in
//! `tunnel.response.chunk`, as in the original protocol.
//!
//! Extensions, which a participant that does not know them ignores as it ignores every
//! unknown type: `tunnel.cancel` (the hub aborts a request), and, once negotiated at
//! registration ([`crate::TunnelExtensions`]), `tunnel.credit` (flow control),
//! [`BinaryChunk`] messages carrying body bytes without JSON or base64, and the runtime's
//! [`ResponseTiming`] on `tunnel.response.start`. A `tunnel.request` may also carry W3C
//! trace context in its `metadata` ([`TRACE_CONTEXT`]), which the original runtime never
//! reads.
//!
//! The frames live by direction: `to_participant` (what the hub sends, with the trace context
//! a request may carry), `to_hub` (what a participant sends, with its timing) and `parse`
//! (how the hub reads a participant's text frame without copying it); `binary` holds the
//! binary chunk message and `error` why a frame was not understood.

mod binary;
mod error;
mod parse;
mod to_hub;
mod to_participant;

pub use binary::BinaryChunk;
pub use error::FrameError;
pub use parse::ParticipantFrame;
pub use to_hub::{ParticipantToHub, ResponseTiming, decode_chunk};
pub use to_participant::{HubToParticipant, MAX_TRACE_CONTEXT_VALUE, TRACE_CONTEXT, TunnelRequest};

/// Names of `tunnel.request` operations.
pub mod operation {
    /// `POST /v1/responses`.
    pub const RESPONSES_CREATE: &str = "responses.create";
    /// `POST /v1/chat/completions`.
    pub const CHAT_COMPLETIONS_CREATE: &str = "chat.completions.create";
    /// `GET /v1/responses/{id}`.
    pub const RESPONSES_GET: &str = "responses.get";
    /// `DELETE /v1/responses/{id}`.
    pub const RESPONSES_DELETE: &str = "responses.delete";
    /// `POST /v1/responses/{id}/cancel`.
    pub const RESPONSES_CANCEL: &str = "responses.cancel";
    /// `GET /v1/responses/{id}/input_items`.
    pub const RESPONSES_INPUT_ITEMS: &str = "responses.input_items";
}

#[cfg(test)]
mod tests;
