//! Helpers shared by every crate's integration tests and by the benchmark.
//!
//! * [`provider`]: [`FakeProvider`], a scripted fake OpenAI-compatible provider (Chat
//!   Completions and Responses, streamed and not) on a real socket on `127.0.0.1`, which
//!   records what it receives and notices when a client goes away.
//! * [`TestHub`]: a real hub on `127.0.0.1:0`, in memory or on a database file.
//! * [`cluster`]: a hub, a room, fake providers and real participant runtimes, wired
//!   together for end-to-end tests.
//! * [`sse::EventReader`]: reads a server-sent event stream frame by frame.
//! * [`netns`]: runs a test that needs multicast (mDNS) in a network namespace of its own.
//!
//! Everything binds loopback only.

pub mod cluster;
pub mod hub;
pub mod netns;
pub mod provider;
pub mod sse;

pub use cluster::{Cluster, ParticipantSpec};
pub use hub::TestHub;
pub use provider::{
    DEFAULT_MODEL, FakeProvider, FakeProviderBuilder, FakeProviderConfig, FinishReason,
    MissingRoute, Protocols, ProviderStats, RecordedRequest, Reply, RequiredHeader, StreamFailure,
    Usage,
};
