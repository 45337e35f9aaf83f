//! The routes over kept responses: retrieve, delete, cancel and list input items.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use crate::provider::answers::{json_response, openai_error};
use crate::provider::state::Shared;

/// Default and largest page of `GET /v1/responses/{id}/input_items`.
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

/// `GET /v1/responses/{id}`.
pub(crate) fn retrieve(shared: &Shared, id: &str) -> Response {
    match shared.responses().get(id) {
        Some(stored) => json_response(StatusCode::OK, &stored.object),
        None => response_not_found(id),
    }
}

/// `DELETE /v1/responses/{id}`: `{"id","object":"response","deleted":true}`.
pub(crate) fn delete(shared: &Shared, id: &str) -> Response {
    match shared.responses().remove(id) {
        Some(_) => json_response(
            StatusCode::OK,
            &json!({"id": id, "object": "response", "deleted": true}),
        ),
        None => response_not_found(id),
    }
}

/// `POST /v1/responses/{id}/cancel`. Lenient: any stored response can be cancelled; one
/// still in progress becomes `cancelled`, a finished one is returned unchanged.
pub(crate) fn cancel(shared: &Shared, id: &str) -> Response {
    let mut responses = shared.responses();
    let Some(stored) = responses.get_mut(id) else {
        return response_not_found(id);
    };
    if stored.object["status"] == "in_progress" {
        stored.object["status"] = json!("cancelled");
    }
    json_response(StatusCode::OK, &stored.object)
}

/// `GET /v1/responses/{id}/input_items`, with `limit`, `order` (default `desc`, newest
/// first, as the API does) and `after`.
pub(crate) fn input_items(shared: &Shared, id: &str, query: Option<&str>) -> Response {
    let mut items = match shared.responses().get(id) {
        Some(stored) => stored.input_items.clone(),
        None => return response_not_found(id),
    };
    let mut limit = DEFAULT_PAGE;
    let mut ascending = false;
    let mut after = None;
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("limit", value)) => {
                limit = value.parse().unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
            }
            Some(("order", value)) => ascending = value == "asc",
            Some(("after", value)) => after = Some(value.to_owned()),
            _ => {}
        }
    }
    if !ascending {
        items.reverse();
    }
    if let Some(after) = after {
        if let Some(position) = items.iter().position(|item| item["id"] == after.as_str()) {
            items.drain(..=position);
        }
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    let first_id = items.first().map_or(Value::Null, |item| item["id"].clone());
    let last_id = items.last().map_or(Value::Null, |item| item["id"].clone());
    json_response(
        StatusCode::OK,
        &json!({
            "object": "list",
            "data": items,
            "first_id": first_id,
            "last_id": last_id,
            "has_more": has_more,
        }),
    )
}

fn response_not_found(id: &str) -> Response {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("Response with id '{id}' not found."),
        "invalid_request_error",
        None,
        None,
    )
}
