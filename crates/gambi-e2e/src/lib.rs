//! End-to-end tests live in `tests/`: each starts a real hub, fake OpenAI providers and the
//! real participant runtime on loopback, and drives them as applications would. This crate
//! has no code of its own.
