//! The connection to the local provider: one HTTP client (one keep-alive pool), the
//! endpoint's base URL and the provider credentials.
//!
//! Probing and forwarding both go through a [`Provider`], so a session talks to its
//! provider over the same pooled connections from the first probe to the last request.

use std::fmt;

use url::Url;

use crate::auth::AuthHeaders;

/// A provider endpoint with its credentials and HTTP client.
#[derive(Clone)]
pub struct Provider {
    client: reqwest::Client,
    base: String,
    auth: AuthHeaders,
}

/// The endpoint or HTTP client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ProviderSetupError {
    /// The endpoint is not an absolute `http://` or `https://` URL.
    #[error("provider endpoint {0:?} is not an http(s) URL")]
    InvalidEndpoint(String),
    /// The HTTP client could not be built (TLS setup failed).
    #[error("cannot create the HTTP client: {0}")]
    Client(String),
}

impl Provider {
    /// A provider at `endpoint` (its base URL, without `/v1`), authenticated with `auth`.
    pub fn new(endpoint: &Url, auth: AuthHeaders) -> Result<Self, ProviderSetupError> {
        Self::with_client(endpoint, auth, http_client()?)
    }

    /// Like [`Provider::new`], sharing an existing HTTP client.
    pub(crate) fn with_client(
        endpoint: &Url,
        auth: AuthHeaders,
        client: reqwest::Client,
    ) -> Result<Self, ProviderSetupError> {
        Ok(Self {
            client,
            base: endpoint_base(endpoint)?,
            auth,
        })
    }

    /// The endpoint without a trailing `/`; request paths are appended to it.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub(crate) fn auth(&self) -> &AuthHeaders {
        &self.auth
    }

    /// `{endpoint}{path}`; `path` starts with `/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("endpoint", &self.base)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// Checks that `endpoint` is an http(s) URL and returns it without trailing slashes.
pub(crate) fn endpoint_base(endpoint: &Url) -> Result<String, ProviderSetupError> {
    if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
        return Err(ProviderSetupError::InvalidEndpoint(endpoint.to_string()));
    }
    let mut base = endpoint.clone();
    base.set_query(None);
    base.set_fragment(None);
    Ok(base.as_str().trim_end_matches('/').to_owned())
}

/// The HTTP client a session uses for its provider and its hub.
///
/// No proxy from the environment (a library reads no environment; providers are usually
/// on `localhost`), no redirects (the runtime forwards what the provider answers, like a
/// plain reverse proxy), and no Nagle delay, so each streamed token leaves at once. Time
/// limits are set per request: a streamed answer may legitimately last many minutes.
pub(crate) fn http_client() -> Result<reqwest::Client, ProviderSetupError> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()
        .map_err(|error| ProviderSetupError::Client(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(endpoint: &str, expected: Option<&str>) {
        let url = Url::parse(endpoint).expect("a URL");
        assert_eq!(endpoint_base(&url).ok().as_deref(), expected, "{endpoint}");
    }

    #[test]
    fn endpoint_base_strips_trailing_slashes_and_needs_http() {
        check("http://localhost:11434", Some("http://localhost:11434"));
        check("http://localhost:11434/", Some("http://localhost:11434"));
        check(
            "https://api.example.com/openai/",
            Some("https://api.example.com/openai"),
        );
        check("http://h:1/x?q=1#f", Some("http://h:1/x"));
        check("ftp://localhost/", None);
        check("unix:/tmp/socket", None);
    }

    #[test]
    fn debug_redacts_credentials() {
        let auth = AuthHeaders::from_pairs([("authorization", "Bearer sk-123")]).expect("valid");
        let provider =
            Provider::new(&Url::parse("http://localhost:1").expect("a URL"), auth).expect("ok");
        let debug = format!("{provider:?}");
        assert!(debug.contains("authorization") && !debug.contains("sk-123"));
    }
}
