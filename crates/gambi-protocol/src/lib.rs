//! Wire types shared by every part of Gambi.
//!
//! This crate is the single place where the shapes that cross a process boundary are
//! defined: the management plane's `{data, meta}` envelopes and DTOs, the tunnel frames
//! exchanged between the hub and participant runtimes, the room event stream, the
//! OpenAI-shaped errors of the inference plane, what a hub announces over mDNS, and the
//! protocol constants. The hub, the participant runtime and the client all depend on it,
//! so they cannot drift apart.
//!
//! Everything here is plain data with `serde` derives: no I/O, no async runtime.
//! Field names follow the original system's wire contract (camelCase on the management
//! plane and in tunnel frames); our extensions are optional on both sides so that peers
//! written against the original protocol keep working.

pub mod constants;
pub mod envelope;
pub mod error;
pub mod event;
pub mod inference;
mod llm_protocol;
pub mod mdns;
mod number;
pub mod participant;
pub mod room;
pub mod runtime;
pub mod tunnel;

pub use constants::*;
pub use envelope::{ApiErrorBody, Envelope, ErrorEnvelope, Meta};
pub use error::ErrorCode;
pub use event::{LlmMetrics, RoomEvent, RoomEventPayload};
pub use inference::{
    ModelEntry, ModelEntryInfo, ModelList, ModelSelector, OpenAiError, OpenAiErrorBody,
};
pub use llm_protocol::LlmProtocol;
pub use participant::{
    Capability, HeartbeatResponse, MachineSpecs, ParticipantCapabilities, ParticipantConnection,
    ParticipantRegistration, ParticipantStatus, ParticipantSummary, SuccessResponse,
    TunnelBootstrap, TunnelExtensions, UpsertParticipantResponse,
};
pub use room::{CreateRoomRequest, CreateRoomResponse, HealthResponse, RoomSummary};
pub use runtime::{RuntimeConfig, RuntimeConfigPublic, ValidationErrors};
pub use tunnel::{
    BinaryChunk, FrameError, HubToParticipant, MAX_TRACE_CONTEXT_VALUE, ParticipantToHub,
    ResponseTiming, TRACE_CONTEXT, TunnelRequest,
};

/// Milliseconds since the Unix epoch, the unit of every timestamp on the management plane.
pub type Millis = i64;
