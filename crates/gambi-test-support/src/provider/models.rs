//! Model listings: OpenAI's `GET /v1/models` and `GET /v1/models/{id}`, and Ollama's
//! `GET /api/tags`.

use std::hash::{DefaultHasher, Hash as _, Hasher as _};

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::answers::{json_response, model_not_found};
use super::state::Shared;

/// The `created` time of every listed model (a fixed date keeps listings comparable).
const MODEL_CREATED: u64 = 1_700_000_000;

/// `{"object":"list","data":[{"id","object":"model","created","owned_by"}]}`.
pub(crate) fn list(shared: &Shared) -> Response {
    let data: Vec<Value> = shared
        .config
        .models
        .iter()
        .map(|id| model_object(id))
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

/// One model object, or 404 `model_not_found`.
pub(crate) fn retrieve(shared: &Shared, id: &str) -> Response {
    if shared.config.models.iter().any(|offered| offered == id) {
        json_response(StatusCode::OK, &model_object(id))
    } else {
        model_not_found(id)
    }
}

/// Ollama's `{"models":[{"name","model","modified_at","size","digest","details"}]}`.
pub(crate) fn ollama_tags(shared: &Shared) -> Response {
    let models: Vec<Value> = shared
        .config
        .models
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "model": name,
                "modified_at": "2024-05-01T12:00:00.000000000Z",
                "size": 4_661_224_676_u64,
                "digest": digest(name),
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "llama",
                    "families": ["llama"],
                    "parameter_size": "8.0B",
                    "quantization_level": "Q4_0",
                },
            })
        })
        .collect();
    json_response(StatusCode::OK, &json!({"models": models}))
}

fn model_object(id: &str) -> Value {
    json!({
        "id": id,
        "object": "model",
        "created": MODEL_CREATED,
        "owned_by": "fake-provider",
    })
}

/// A stable 64-hex-digit digest for a model name (not cryptographic; it only has to look
/// like Ollama's and stay the same between calls).
fn digest(name: &str) -> String {
    (0..4_u8)
        .map(|round| {
            let mut hasher = DefaultHasher::new();
            (round, name).hash(&mut hasher);
            format!("{:016x}", hasher.finish())
        })
        .collect()
}
