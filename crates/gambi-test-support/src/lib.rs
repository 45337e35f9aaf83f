//! Test support for Gambi: helpers shared by every crate's integration tests and by the
//! benchmark.
//!
//! - [`provider`]: [`FakeProvider`], a scripted fake OpenAI-compatible provider (Chat
//!   Completions and Responses, streamed and not) on a real socket on `127.0.0.1`, which
//!   records what it receives and notices when a client goes away.

pub mod provider;

pub use provider::{
    DEFAULT_MODEL, FakeProvider, FakeProviderBuilder, FakeProviderConfig, FinishReason,
    MissingRoute, Protocols, ProviderStats, RecordedRequest, Reply, RequiredHeader, StreamFailure,
    Usage,
};
