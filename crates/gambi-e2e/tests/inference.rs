//! The inference plane end to end: every routing form, both protocols natively (streamed
//! and not), the model list, and runtime defaults as the provider receives them.
//!
//! Each test runs a real hub, fake providers and the real participant runtime on loopback.
//!
//! Every test runs twice: with our runtime (binary chunks and flow control) and with one
//! that speaks only the original protocol, so the hub serves both kinds of peer alike.
#![allow(clippy::unwrap_used)] // Tests fail loudly.

mod inference_support;

/// Our runtime: binary chunk frames and flow control, negotiated with the hub.
mod ours {
    use gambi_test_support::ParticipantSpec;

    fn participant(id: &str, model: &str) -> ParticipantSpec {
        ParticipantSpec::new(id, model)
    }

    include!("suites/inference.rs");
}

/// A runtime that speaks only the original protocol: JSON text frames, base64 chunks, no
/// flow control.
mod original {
    use gambi_test_support::ParticipantSpec;

    fn participant(id: &str, model: &str) -> ParticipantSpec {
        ParticipantSpec::new(id, model).original_protocol()
    }

    include!("suites/inference.rs");
}
