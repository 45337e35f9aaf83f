//! The answers the routes share: JSON and text responses, OpenAI error bodies, the check of
//! a create request's `model`, and what a reply that doesn't generate answers.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::Value;

use super::reply::{ErrorBody, Outcome, Reply, openai_error_body};
use super::state::Shared;

/// A JSON response with `Content-Length`.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A plain text response.
pub(crate) fn text_response(status: StatusCode, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// An OpenAI error response: `{"error":{"message","type","param","code"}}`.
pub(crate) fn openai_error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    json_response(status, &openai_error_body(message, kind, param, code))
}

/// 400 for a body that is not a JSON object.
pub(crate) fn invalid_json() -> Response {
    openai_error(
        StatusCode::BAD_REQUEST,
        "We could not parse the JSON body of your request. The API expects a JSON payload.",
        "invalid_request_error",
        None,
        None,
    )
}

/// 400 for a required parameter that is absent or of the wrong type.
pub(crate) fn missing_parameter(name: &str) -> Response {
    openai_error(
        StatusCode::BAD_REQUEST,
        &format!("Missing required parameter: '{name}'."),
        "invalid_request_error",
        Some(name),
        Some("missing_required_parameter"),
    )
}

/// OpenAI's 404 for a model the provider doesn't offer. Not a missing route.
pub(crate) fn model_not_found(model: &str) -> Response {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("The model `{model}` does not exist or you do not have access to it."),
        "invalid_request_error",
        None,
        Some("model_not_found"),
    )
}

/// The answer to a create request whose `model` is missing (400) or not offered (404), or
/// `None` if the provider serves it.
pub(crate) fn reject_model(shared: &Shared, body: &Value) -> Option<Response> {
    let Some(model) = body.get("model").and_then(Value::as_str) else {
        return Some(missing_parameter("model"));
    };
    if shared.config.models.iter().any(|offered| offered == model) {
        None
    } else {
        Some(model_not_found(model))
    }
}

/// What a reply that doesn't generate answers: its scripted error, or nothing ever (this
/// future never completes for a hanging reply). `None` for a reply that generates.
pub(crate) async fn non_generating(reply: &Reply) -> Option<Response> {
    match &reply.outcome {
        Outcome::Generate => None,
        Outcome::Error { status, body } => Some(match body {
            ErrorBody::Json(json) => json_response(*status, json),
            ErrorBody::Text(text) => text_response(*status, text.clone()),
        }),
        Outcome::Hang => match super::stream::never().await {},
    }
}
