//! The Responses API: `POST /v1/responses` (a Response object, or the typed event stream
//! from `response.created` to `response.completed`), and the lifecycle routes over the
//! responses it keeps: retrieve, delete, cancel and list input items.
//!
//! This module answers `POST /v1/responses`; `input` turns the request's `input` into the
//! items kept, `generation` builds the Response object, `events` its typed event stream, and
//! `lifecycle` answers the routes over kept responses.

mod events;
mod generation;
mod input;
mod lifecycle;

use std::sync::Arc;

use axum::response::Response;
use http::StatusCode;
use serde_json::Value;

use super::answers::{invalid_json, json_response, non_generating, openai_error, reject_model};
use super::reply::{InterruptionKind, Plan, SERVER_ERROR_MESSAGE, StreamFailure};
use super::state::{Shared, StoredResponse};
use super::stream::{self, Timing};
use super::text::{count_prompt_tokens, count_tokens, last_user_text};
use events::EventsScript;
use generation::Generation;
use input::input_items_of;
pub(crate) use lifecycle::{cancel, delete, input_items, retrieve};

/// Answers one `POST /v1/responses`.
pub(crate) async fn create(shared: &Arc<Shared>, body: Option<Value>) -> Response {
    let Some(Value::Object(request)) = body else {
        return invalid_json();
    };
    let request = Value::Object(request);
    if let Some(rejection) = reject_model(shared, &request) {
        return rejection;
    }
    let model = request["model"].as_str().unwrap_or_default().to_owned();
    let history = match request.get("previous_response_id").and_then(Value::as_str) {
        None => Vec::new(),
        Some(previous) => match shared.responses().get(previous) {
            Some(stored) => stored.conversation.clone(),
            None => return previous_not_found(previous),
        },
    };
    let input_items = input_items_of(request.get("input"));
    let streamed = request.get("stream").and_then(Value::as_bool) == Some(true);
    let store = request.get("store").and_then(Value::as_bool) != Some(false);

    let reply = shared.next_reply();
    if let Some(response) = non_generating(&reply).await {
        return response;
    }
    let config = &shared.config;
    let timing = Timing::for_reply(&reply, config.first_token_delay, config.token_delay);
    let conversation = || history.iter().chain(input_items.iter());
    let plan = Plan::new(
        reply,
        || last_user_text(conversation()),
        || {
            let instructions = request.get("instructions").and_then(Value::as_str);
            count_prompt_tokens(conversation()) + instructions.map_or(0, count_tokens)
        },
    );
    let generation = Generation::new(&request, model, plan, store);
    let mut full_conversation = history;
    full_conversation.extend(input_items.iter().cloned());
    full_conversation.extend(generation.output_items());
    let stored = StoredResponse {
        object: Value::Null,
        input_items,
        conversation: full_conversation,
    };

    if streamed {
        generation.store(shared, stored, generation.in_progress_object());
        let script = EventsScript::new(generation, Arc::clone(shared));
        let stop = script
            .generation
            .plan
            .interruption
            .map(|interruption| stream::break_point(&script, interruption));
        stream::sse_response(script, timing, stop)
    } else {
        non_streamed(shared, generation, stored, timing).await
    }
}

async fn non_streamed(
    shared: &Shared,
    generation: Generation,
    stored: StoredResponse,
    timing: Timing,
) -> Response {
    let total = generation.plan.token_events();
    let Some(interruption) = generation.plan.interruption else {
        sleep(timing.generation_time(total)).await;
        let object = generation.final_object();
        generation.store(shared, stored, object.clone());
        return json_response(StatusCode::OK, &object);
    };
    sleep(timing.generation_time(interruption.after_tokens.min(total))).await;
    match interruption.kind {
        InterruptionKind::Stall => match stream::never().await {},
        InterruptionKind::Fail(StreamFailure::ErrorEvent) => openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            SERVER_ERROR_MESSAGE,
            "server_error",
            None,
            None,
        ),
        InterruptionKind::Fail(StreamFailure::Disconnect) => {
            stream::cut_json_response(generation.final_object().to_string().into_bytes())
        }
    }
}

async fn sleep(duration: std::time::Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}

fn previous_not_found(id: &str) -> Response {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("Previous response with id '{id}' not found."),
        "invalid_request_error",
        Some("previous_response_id"),
        Some("previous_response_not_found"),
    )
}
