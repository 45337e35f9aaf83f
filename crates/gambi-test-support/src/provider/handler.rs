//! Request dispatch: record, authorise, route, and answer a missing route (the answers
//! routes share are in `answers`).
//!
//! Routing is one `match` over the path segments rather than an axum route table, so that the
//! order of checks (header, route, method) and the look of a missing route stay explicit and
//! configurable.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode};
use serde_json::Value;

use super::answers::{json_response, openai_error, text_response};
use super::state::Shared;
use super::{MissingRoute, chat, models, responses};

/// The largest request body accepted; larger ones get 413.
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The provider's whole HTTP surface.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

/// Records the request, counts it in flight, answers it, and ties the count to the response
/// body so that a client going away early is seen as an abort.
async fn dispatch(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (raw, too_large) = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(raw) => (raw, false),
        Err(_) => (bytes::Bytes::new(), true),
    };
    let json: Option<Value> = if raw.is_empty() {
        None
    } else {
        serde_json::from_slice(&raw).ok()
    };
    // Dropped with this future if the client disconnects while the answer is being prepared.
    let guard = shared.begin(&parts, &raw, json.as_ref());
    let response = if too_large {
        openai_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The request body is too large.",
            "invalid_request_error",
            None,
            None,
        )
    } else {
        route(&shared, &parts, json).await
    };
    let (head, body) = response.into_parts();
    Response::from_parts(head, guard.track(body))
}

async fn route(
    shared: &Arc<Shared>,
    parts: &http::request::Parts,
    body: Option<Value>,
) -> Response {
    let config = &shared.config;
    if let Some(required) = &config.required_header {
        let presented = parts.headers.get(required.name.as_str());
        if presented.map(HeaderValue::as_bytes) != Some(required.value.as_bytes()) {
            return unauthorized(presented.is_some());
        }
    }

    let style = config.missing_route;
    let method = &parts.method;
    let path = parts.uri.path();
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let chat = config.protocols.chat_completions();
    let responses = config.protocols.responses();

    match segments.as_slice() {
        ["v1", "chat", "completions"] if chat => match *method {
            Method::POST => chat::create(shared, body).await,
            _ => method_not_allowed(style),
        },
        ["v1", "responses"] if responses => match *method {
            Method::POST => responses::create(shared, body).await,
            _ => method_not_allowed(style),
        },
        ["v1", "responses", id] if responses => match *method {
            Method::GET => responses::retrieve(shared, id),
            Method::DELETE => responses::delete(shared, id),
            _ => method_not_allowed(style),
        },
        ["v1", "responses", id, "cancel"] if responses => match *method {
            Method::POST => responses::cancel(shared, id),
            _ => method_not_allowed(style),
        },
        ["v1", "responses", id, "input_items"] if responses => match *method {
            Method::GET => responses::input_items(shared, id, parts.uri.query()),
            _ => method_not_allowed(style),
        },
        ["v1", "models"] => match *method {
            Method::GET => models::list(shared),
            _ => method_not_allowed(style),
        },
        ["v1", "models", rest @ ..] if !rest.is_empty() => match *method {
            Method::GET => models::retrieve(shared, &rest.join("/")),
            _ => method_not_allowed(style),
        },
        ["api", "tags"] if config.ollama_tags => match *method {
            Method::GET => models::ollama_tags(shared),
            _ => method_not_allowed(style),
        },
        _ => not_found(style),
    }
}

fn unauthorized(presented: bool) -> Response {
    let (message, code) = if presented {
        ("Incorrect API key provided.", Some("invalid_api_key"))
    } else {
        (
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            None,
        )
    };
    openai_error(
        StatusCode::UNAUTHORIZED,
        message,
        "invalid_request_error",
        None,
        code,
    )
}

/// 404 for a route the provider doesn't have.
pub(crate) fn not_found(style: MissingRoute) -> Response {
    match style {
        MissingRoute::JsonDetail => json_response(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"detail": "Not Found"}),
        ),
        MissingRoute::PlainText => {
            text_response(StatusCode::NOT_FOUND, "404 page not found".to_owned())
        }
    }
}

fn method_not_allowed(style: MissingRoute) -> Response {
    match style {
        MissingRoute::JsonDetail => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &serde_json::json!({"detail": "Method Not Allowed"}),
        ),
        MissingRoute::PlainText => text_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "405 method not allowed".to_owned(),
        ),
    }
}
