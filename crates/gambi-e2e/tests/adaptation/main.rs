//! End-to-end tests of protocol adaptation: Responses clients on Chat Completions
//! participants and the other way round, over real sockets (hub, participant runtimes, fake
//! providers). Each module covers one part of the issue:
//!
//! - [`routing`]: native or adapted, and the remembered fallback when a route is missing;
//! - [`requests`]: what a Chat Completions provider receives for a Responses request;
//! - [`answers`]: Chat answers as Responses (whole and streamed) and Responses answers as
//!   Chat Completions;
//! - [`lifecycle`]: retrieve, delete, cancel, input items and `previous_response_id`;
//! - [`metrics`]: token counts and time to first token of adapted requests.
#![allow(clippy::unwrap_used)] // Tests fail loudly.

mod answers;
mod lifecycle;
mod metrics;
mod requests;
mod routing;
mod support;
