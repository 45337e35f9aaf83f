//! The Gambi participant runtime: runs next to a person's LLM provider (Ollama, LM Studio,
//! llama.cpp, vLLM, a cloud API) and lends it to a room on a hub.
//!
//! A [`ParticipantSession`] probes the provider ([`probe()`]), checks that it serves the
//! model ([`ProbeResult::check_model`]), registers with the hub (through `gambi-client`),
//! and opens an outbound WebSocket tunnel to it. Requests
//! arriving through the tunnel are forwarded to the provider concurrently (up to the
//! participant's slot count) and their answers streamed back frame by frame. Provider
//! credentials ([`AuthHeaders`]) never leave the machine. When the tunnel or the hub goes
//! away, the session registers again and reconnects with backoff ([`BackoffPolicy`]).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use gambi_participant::{AuthHeaders, ParticipantSession, SessionOptions};
//!
//! let mut options = SessionOptions::new(
//!     "http://localhost:3000".parse()?,
//!     "ABC123",
//!     "alice-laptop",
//!     "Alice",
//!     "llama3",
//!     "http://localhost:11434".parse()?,
//! );
//! options.specs = Some(gambi_participant::collect_specs().await);
//! options.auth_headers = AuthHeaders::from_pairs([("Authorization", "Bearer sk-local")])?;
//! let mut session = ParticipantSession::start(options).await?;
//! let mut events = session.take_events().expect("taken once");
//! tokio::spawn(async move {
//!     while let Some(event) = events.recv().await {
//!         tracing::info!(kind = event.kind(), ?event, "participant event");
//!     }
//! });
//! let outcome = session.wait().await;
//! tracing::info!(reason = outcome.reason.as_str(), error = ?outcome.error, "session ended");
//! # Ok(())
//! # }
//! ```
//!
//! The library reads no environment, configuration file or signal and prints nothing;
//! the caller passes everything in, including a shutdown token.

mod auth;
mod backoff;
mod connector;
mod error;
mod events;
mod forward;
mod membership;
mod options;
pub mod probe;
mod provider;
mod reconnect;
mod session;
pub mod specs;
mod tunnel;

pub use auth::{AuthHeaders, InvalidHeader};
pub use backoff::{Backoff, BackoffPolicy};
pub use error::StartError;
pub use events::{CloseOutcome, CloseReason, Registration, SessionEvent};
/// The hub's management failures, as [`StartError::Hub`] carries them.
pub use gambi_client::{ClientError, ErrorKind};
pub use options::{SessionOptions, Timing};
pub use probe::{AuthRejection, ModelUnavailable, ProbeResult, RouteProbe, probe, resolve_model};
pub use provider::{Provider, ProviderSetupError};
pub use session::ParticipantSession;
pub use specs::collect_specs;
