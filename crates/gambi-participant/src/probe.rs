//! Provider probing: which models it serves and which OpenAI protocols it speaks.
//!
//! Follows the original's probe (spec §6) with two fixes: a `401`/`403` is reported as a
//! credentials problem instead of "unsupported", and a model asked for without a tag
//! matches the provider's `:latest` tag (Ollama lists `llama3` as `llama3:latest`).

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use gambi_protocol as proto;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::Value;
use url::Url;

use crate::auth::AuthHeaders;
use crate::provider::{Provider, ProviderSetupError};

/// Largest model listing read while probing.
const MAX_LISTING_BYTES: usize = 4 * 1024 * 1024;

/// What probing a provider found.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    /// Model names exactly as the provider lists them, without duplicates.
    pub models: Vec<String>,
    /// Protocol support, as sent to the hub.
    pub capabilities: proto::ParticipantCapabilities,
    /// Whether any probe got an HTTP answer at all.
    pub reachable: bool,
    /// Every probe the provider refused with `401` or `403`: the credentials are missing
    /// or wrong. Such routes are reported `unknown`, not `unsupported`.
    pub auth_rejections: Vec<AuthRejection>,
}

/// A probe the provider answered with `401 Unauthorized` or `403 Forbidden`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection {
    /// The probed path, e.g. `/v1/models`.
    pub path: &'static str,
    /// The status the provider answered.
    pub status: u16,
}

impl ProbeResult {
    /// True when the provider refused the credentials on at least one probe.
    pub fn auth_rejected(&self) -> bool {
        !self.auth_rejections.is_empty()
    }

    /// The provider's name for `requested`; see [`resolve_model`].
    pub fn resolve_model(&self, requested: &str) -> Option<String> {
        resolve_model(requested, &self.models)
    }

    /// The model check of joining a room: the provider's name for `requested`, or why the
    /// provider at `endpoint` (named in the error) cannot serve it.
    ///
    /// ```
    /// use gambi_participant::{ModelUnavailable, ProbeResult};
    ///
    /// let found = ProbeResult {
    ///     models: vec!["llama3:latest".into(), "qwen3:8b".into()],
    ///     capabilities: Default::default(),
    ///     reachable: true,
    ///     auth_rejections: Vec::new(),
    /// };
    /// assert_eq!(found.check_model("llama3", "http://localhost:11434"), Ok("llama3:latest".into()));
    /// assert!(matches!(
    ///     found.check_model("mistral", "http://localhost:11434"),
    ///     Err(ModelUnavailable::NotFound { .. })
    /// ));
    /// ```
    ///
    /// A provider that lists models but not this one is [`ModelUnavailable::NotFound`]
    /// even if some probe was refused; one that lists none is explained by refused
    /// credentials first, then by not answering at all, and only then by an empty list.
    pub fn check_model(&self, requested: &str, endpoint: &str) -> Result<String, ModelUnavailable> {
        if let Some(model) = self.resolve_model(requested) {
            return Ok(model);
        }
        let endpoint = endpoint.to_owned();
        if self.models.is_empty() {
            if let Some(rejection) = self.auth_rejections.first() {
                return Err(ModelUnavailable::AuthRejected {
                    endpoint,
                    path: rejection.path,
                    status: rejection.status,
                });
            }
            if !self.reachable {
                return Err(ModelUnavailable::Unreachable { endpoint });
            }
        }
        Err(ModelUnavailable::NotFound {
            model: requested.to_owned(),
            endpoint,
            available: self.models.clone(),
        })
    }
}

/// Why a probed provider cannot serve the model asked for
/// ([`ProbeResult::check_model`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelUnavailable {
    /// The provider does not list the model (`available` may be empty: it answered but
    /// listed nothing).
    #[error("Model '{model}' not found on {endpoint}. Available models: {}", available.join(", "))]
    NotFound {
        /// The model asked for.
        model: String,
        /// The provider endpoint.
        endpoint: String,
        /// What the provider lists.
        available: Vec<String>,
    },
    /// The provider listed no models and refused the credentials.
    #[error(
        "provider at {endpoint} refused the credentials (HTTP {status} on {path}); check the auth headers"
    )]
    AuthRejected {
        /// The provider endpoint.
        endpoint: String,
        /// The refused path.
        path: &'static str,
        /// `401` or `403`.
        status: u16,
    },
    /// No probe got an answer from the provider.
    #[error("provider at {endpoint} is not reachable")]
    Unreachable {
        /// The provider endpoint.
        endpoint: String,
    },
}

/// What one protocol probe (`POST` with body `{}`) says about a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteProbe {
    /// The route exists: any answer but the ones below, including `400` and `500`.
    Supported,
    /// `404`, `405` or `501`: the route does not exist.
    Unsupported,
    /// `401` or `403`: the route may exist, but the credentials were refused.
    AuthRejected(u16),
    /// No HTTP answer: connection error or timeout.
    Unreachable,
}

impl RouteProbe {
    /// Classifies an HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            404 | 405 | 501 => Self::Unsupported,
            401 | 403 => Self::AuthRejected(status),
            _ => Self::Supported,
        }
    }

    /// The capability reported to the hub. An unreachable Chat Completions route counts as
    /// supported when the provider listed models (the original's rule: every provider that
    /// lists models speaks Chat Completions).
    pub fn capability(self, models_found: bool, is_chat_completions: bool) -> proto::Capability {
        match self {
            Self::Supported => proto::Capability::Supported,
            Self::Unsupported => proto::Capability::Unsupported,
            Self::Unreachable if models_found && is_chat_completions => {
                proto::Capability::Supported
            }
            Self::AuthRejected(_) | Self::Unreachable => proto::Capability::Unknown,
        }
    }
}

/// The provider's name for `requested`: the exact name if listed, else `requested:latest`
/// when `requested` has no tag and the provider lists that (Ollama's default tag).
///
/// ```
/// use gambi_participant::resolve_model;
///
/// let listed = ["llama3:latest".to_owned(), "qwen3:8b".to_owned()];
/// assert_eq!(resolve_model("llama3", &listed).as_deref(), Some("llama3:latest"));
/// assert_eq!(resolve_model("qwen3:8b", &listed).as_deref(), Some("qwen3:8b"));
/// assert_eq!(resolve_model("qwen3", &listed), None, "only the :latest tag is implied");
/// ```
pub fn resolve_model(requested: &str, available: &[String]) -> Option<String> {
    if available.iter().any(|model| model == requested) {
        return Some(requested.to_owned());
    }
    if requested.contains(':') {
        return None;
    }
    let tagged = format!("{requested}:latest");
    available.iter().find(|model| **model == tagged).cloned()
}

/// Probes the provider at `endpoint` with `auth`, on a fresh HTTP client.
///
/// A session probes through its own client; this is for callers that probe before
/// starting one (a dry run, or an interactive model choice).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let provider = gambi_test_support::FakeProvider::builder().models(["llama3:latest", "qwen3:8b"]).start().await;
/// # let endpoint = provider.base_url();
/// use gambi_participant::{AuthHeaders, probe};
///
/// let found = probe(&endpoint.parse()?, &AuthHeaders::new()).await?;
/// assert!(found.reachable);
/// assert_eq!(found.models, ["llama3:latest", "qwen3:8b"]);
/// # Ok(()) }
/// ```
pub async fn probe(endpoint: &Url, auth: &AuthHeaders) -> Result<ProbeResult, ProviderSetupError> {
    let provider = Provider::new(endpoint, auth.clone())?;
    Ok(provider.probe().await)
}

impl Provider {
    /// Probes this provider: lists its models (`/api/tags`, then `/v1/models`) and checks
    /// `/v1/chat/completions` and `/v1/responses`, all at once, each call limited to
    /// [`proto::PROBE_TIMEOUT`].
    pub async fn probe(&self) -> ProbeResult {
        let (listing, chat, responses) = tokio::join!(
            self.list_models(),
            self.probe_route("/v1/chat/completions"),
            self.probe_route("/v1/responses"),
        );
        let mut auth_rejections = listing.auth_rejections;
        for (path, outcome) in [("/v1/chat/completions", chat), ("/v1/responses", responses)] {
            if let RouteProbe::AuthRejected(status) = outcome {
                auth_rejections.push(AuthRejection { path, status });
            }
        }
        let models_found = !listing.models.is_empty();
        ProbeResult {
            capabilities: proto::ParticipantCapabilities {
                chat_completions: chat.capability(models_found, true),
                open_responses: responses.capability(models_found, false),
            },
            reachable: listing.reachable
                || chat != RouteProbe::Unreachable
                || responses != RouteProbe::Unreachable,
            models: listing.models,
            auth_rejections,
        }
    }

    async fn list_models(&self) -> Listing {
        let mut listing = Listing::default();
        for (path, array, key) in [
            ("/api/tags", "models", "name"),
            ("/v1/models", "data", "id"),
        ] {
            match self.get_listing(path).await {
                ListingFetch::Body(body) => {
                    listing.reachable = true;
                    listing.models = model_names(&body, array, key);
                }
                ListingFetch::Status(status) => {
                    listing.reachable = true;
                    if let RouteProbe::AuthRejected(status) = RouteProbe::from_status(status) {
                        listing.auth_rejections.push(AuthRejection { path, status });
                    }
                }
                ListingFetch::Unreachable => {}
            }
            if !listing.models.is_empty() {
                break;
            }
        }
        listing
    }

    async fn get_listing(&self, path: &'static str) -> ListingFetch {
        let mut headers = HeaderMap::new();
        self.auth().apply_to(&mut headers);
        let request = self
            .client()
            .get(self.url(path))
            .headers(headers)
            .timeout(proto::PROBE_TIMEOUT);
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(path, error = %error.without_url(), "model listing failed");
                return ListingFetch::Unreachable;
            }
        };
        let status = response.status();
        if !status.is_success() {
            return ListingFetch::Status(status.as_u16());
        }
        match read_limited(response, MAX_LISTING_BYTES).await {
            Some(body) => ListingFetch::Body(body),
            None => ListingFetch::Status(status.as_u16()),
        }
    }

    async fn probe_route(&self, path: &'static str) -> RouteProbe {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.auth().apply_to(&mut headers);
        let request = self
            .client()
            .post(self.url(path))
            .headers(headers)
            .body("{}")
            .timeout(proto::PROBE_TIMEOUT);
        match request.send().await {
            Ok(response) => RouteProbe::from_status(response.status().as_u16()),
            Err(error) => {
                tracing::debug!(path, error = %error.without_url(), "protocol probe failed");
                RouteProbe::Unreachable
            }
        }
    }
}

#[derive(Default)]
struct Listing {
    models: Vec<String>,
    reachable: bool,
    auth_rejections: Vec<AuthRejection>,
}

enum ListingFetch {
    Body(Bytes),
    Status(u16),
    Unreachable,
}

/// Reads a body of at most `limit` bytes; `None` if it is larger or breaks off.
async fn read_limited(response: reqwest::Response, limit: usize) -> Option<Bytes> {
    let mut body = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > limit {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body.freeze())
}

/// `body[array][*][key]` as strings, deduplicated, in order.
fn model_names(body: &[u8], array: &str, key: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for entry in value
        .get(array)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = entry.get(key).and_then(Value::as_str)
            && !name.is_empty()
            && !names.iter().any(|known| known == name)
        {
            names.push(name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use proto::Capability::{Supported, Unknown, Unsupported};

    use super::*;

    #[test]
    fn status_mapping() {
        let cases = [
            (200, RouteProbe::Supported),
            (400, RouteProbe::Supported),
            (422, RouteProbe::Supported),
            (500, RouteProbe::Supported),
            (503, RouteProbe::Supported),
            (401, RouteProbe::AuthRejected(401)),
            (403, RouteProbe::AuthRejected(403)),
            (404, RouteProbe::Unsupported),
            (405, RouteProbe::Unsupported),
            (501, RouteProbe::Unsupported),
        ];
        for (status, expected) in cases {
            assert_eq!(RouteProbe::from_status(status), expected, "status {status}");
        }
    }

    #[test]
    fn capability_mapping() {
        let cases = [
            // (probe, models found, is chat, expected)
            (RouteProbe::Supported, false, true, Supported),
            (RouteProbe::Unsupported, true, true, Unsupported),
            (RouteProbe::AuthRejected(401), true, true, Unknown),
            (RouteProbe::AuthRejected(403), false, false, Unknown),
            (RouteProbe::Unreachable, true, true, Supported),
            (RouteProbe::Unreachable, false, true, Unknown),
            (RouteProbe::Unreachable, true, false, Unknown),
        ];
        for (probe, models, chat, expected) in cases {
            assert_eq!(
                probe.capability(models, chat),
                expected,
                "{probe:?} models={models} chat={chat}"
            );
        }
    }

    #[test]
    fn model_resolution() {
        let available: Vec<String> = ["llama3:latest", "qwen2:7b", "mistral"]
            .map(String::from)
            .to_vec();
        let cases = [
            ("llama3:latest", Some("llama3:latest")),
            ("llama3", Some("llama3:latest")),
            ("mistral", Some("mistral")),
            ("qwen2:7b", Some("qwen2:7b")),
            ("qwen2", None),
            ("llama3:8b", None),
            ("mistral:latest", None),
            ("", None),
        ];
        for (requested, expected) in cases {
            assert_eq!(
                resolve_model(requested, &available).as_deref(),
                expected,
                "{requested}"
            );
        }
    }

    fn probed(models: &[&str], reachable: bool, rejected: bool) -> ProbeResult {
        ProbeResult {
            models: models.iter().map(|model| (*model).to_owned()).collect(),
            capabilities: proto::ParticipantCapabilities::default(),
            reachable,
            auth_rejections: if rejected {
                vec![AuthRejection {
                    path: "/v1/models",
                    status: 401,
                }]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn model_checks() {
        let endpoint = "http://localhost:11434";
        let not_found = |available: &[&str]| ModelUnavailable::NotFound {
            model: "llama3".into(),
            endpoint: endpoint.into(),
            available: available.iter().map(|model| (*model).to_owned()).collect(),
        };
        let cases = [
            (
                probed(&["llama3:latest"], true, true),
                Ok("llama3:latest".to_owned()),
            ),
            (probed(&["a", "b"], true, true), Err(not_found(&["a", "b"]))),
            (
                probed(&[], true, true),
                Err(ModelUnavailable::AuthRejected {
                    endpoint: endpoint.into(),
                    path: "/v1/models",
                    status: 401,
                }),
            ),
            (
                probed(&[], false, false),
                Err(ModelUnavailable::Unreachable {
                    endpoint: endpoint.into(),
                }),
            ),
            (probed(&[], true, false), Err(not_found(&[]))),
        ];
        for (probe, expected) in cases {
            assert_eq!(probe.check_model("llama3", endpoint), expected, "{probe:?}");
        }
        assert_eq!(
            not_found(&["a", "b"]).to_string(),
            "Model 'llama3' not found on http://localhost:11434. Available models: a, b"
        );
    }

    #[test]
    fn model_listings_parse_leniently() {
        assert_eq!(
            model_names(
                br#"{"models":[{"name":"a:latest"},{"name":""},{"x":1},{"name":"a:latest"},{"name":"b"}]}"#,
                "models",
                "name"
            ),
            ["a:latest", "b"]
        );
        assert_eq!(
            model_names(br#"{"object":"list","data":[{"id":"gpt"}]}"#, "data", "id"),
            ["gpt"]
        );
        assert!(model_names(b"not json", "data", "id").is_empty());
        assert!(model_names(br#"{"data":{}}"#, "data", "id").is_empty());
    }
}
