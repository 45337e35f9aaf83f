//! Clients that leave and tunnels that drop, end to end.
//!
//! A client that goes away mid-request makes the hub send `tunnel.cancel`, the participant
//! abort its provider request (the fake provider sees the connection close), the slot free
//! up, and `llm.error` report stage `cancelled` (the original left the participant busy
//! forever and the provider generating). A tunnel that drops mid-request ends the client's
//! response promptly with an error instead of leaving it hanging. A participant runtime
//! from the original implementation, which ignores `tunnel.cancel`, keeps working.
//!
//! These tests run on real time; `within` turns a hang into a failure.
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

    include!("suites/cancellation.rs");
}

/// A runtime that speaks only the original protocol: JSON text frames, base64 chunks, no
/// flow control.
mod original {
    use gambi_test_support::ParticipantSpec;

    fn participant(id: &str, model: &str) -> ParticipantSpec {
        ParticipantSpec::new(id, model).original_protocol()
    }

    include!("suites/cancellation.rs");
}
