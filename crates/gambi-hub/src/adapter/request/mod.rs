//! Request bodies, both directions: Responses -> Chat Completions and back.
//!
//! [`responses_to_chat`] serves a Responses client on a participant that speaks only Chat
//! Completions (most local providers); [`chat_to_responses`] serves a Chat Completions client on
//! a participant that speaks only Responses. Both keep what can be expressed on the other side,
//! drop what is harmless to drop, and answer 400 naming the field only where dropping it would
//! change what the client asked for. Top-level fields neither API defines (provider extensions
//! such as `top_k`, `min_p` or `repetition_penalty`) pass through unchanged, since local
//! providers accept them on both endpoints.
//!
//! Decisions where the two APIs differ:
//! - Responses function tools default to `strict: true`, Chat Completions tools to `false`.
//!   Towards Chat Completions `strict` is copied only when given (local providers ignore it and
//!   a strict provider would reject schemas written without strict mode in mind); towards
//!   Responses a missing `strict` becomes `false`, keeping the Chat Completions meaning.
//! - Several text parts of one message are joined with `\n` into a plain string when a
//!   message holds only text, which every Chat Completions provider accepts.
//! - `stop` towards Responses: the Responses API has no stop sequences, and ignoring them would
//!   let the model write past the point where the client wanted it cut, so a non-empty `stop`
//!   is a 400. Likewise a non-empty `logit_bias`, audio output and web search.
//! - `seed`, `frequency_penalty` and `presence_penalty` towards Responses are dropped: they are
//!   sampling hints with no Responses field, and strict providers reject unknown fields.
//! - `store` towards Responses is always `false`: a Chat Completions client can never address
//!   the stored response, so keeping it would only retain the user's data at the provider.
//!
//! [`to_chat`] holds the first direction, [`to_responses`] the second.

mod to_chat;
mod to_responses;

use serde_json::{Map, Value};

pub(crate) use to_chat::responses_to_chat;
pub(crate) use to_responses::chat_to_responses;

/// Copies top-level fields the conversion does not know (provider extensions).
pub(super) fn pass_unknown(
    fields: &Map<String, Value>,
    known: &[&str],
    out: &mut Map<String, Value>,
) {
    for (key, value) in fields {
        if !known.contains(&key.as_str()) && !out.contains_key(key) {
            out.insert(key.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests;
