//! Helpers for Gambi's tests and benchmarks.
//!
//! * [`TestHub`]: a real hub on `127.0.0.1:0`, in memory or on a database file.
//! * [`sse::EventReader`]: reads a server-sent event stream frame by frame.
//!
//! Everything binds loopback only.

pub mod hub;
pub mod sse;

pub use hub::TestHub;
