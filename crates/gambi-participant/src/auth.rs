//! Provider credentials: headers added to every request the runtime sends to its provider.
//!
//! They stay on this machine. They are never part of the registration sent to the hub, never
//! copied into a tunnel frame, never logged, and their `Debug` shows only the header names.

use std::fmt;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Headers (typically `Authorization` or `x-api-key`) that authenticate the runtime to its
/// provider. They win over any header of the same name the hub sends along with a request.
///
/// ```
/// use gambi_participant::AuthHeaders;
///
/// let mut headers = AuthHeaders::from_pairs([("Authorization", "Bearer sk-123")])?;
/// headers.insert("x-api-key", "k-456")?;
/// assert_eq!(headers.names().collect::<Vec<_>>().len(), 2);
/// assert!(!format!("{headers:?}").contains("sk-123"), "values never show");
/// assert!(headers.insert("bad name", "x").is_err());
/// # Ok::<(), gambi_participant::InvalidHeader>(())
/// ```
#[derive(Clone, Default)]
pub struct AuthHeaders {
    map: HeaderMap,
}

/// A header given as provider credentials is not a valid HTTP header. The value is never
/// part of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidHeader {
    /// The name is not a valid header name.
    #[error("invalid header name {0:?}")]
    Name(String),
    /// The value is not a valid header value (it contains control characters).
    #[error("invalid value for header {0:?}")]
    Value(String),
}

impl AuthHeaders {
    /// No credentials.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the set from `(name, value)` pairs; a later pair replaces an earlier one with
    /// the same (case-insensitive) name.
    pub fn from_pairs<I, N, V>(pairs: I) -> Result<Self, InvalidHeader>
    where
        I: IntoIterator<Item = (N, V)>,
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut headers = Self::new();
        for (name, value) in pairs {
            headers.insert(name.as_ref(), value.as_ref())?;
        }
        Ok(headers)
    }

    /// Sets `name` to `value`, replacing any earlier value of that header.
    pub fn insert(&mut self, name: &str, value: &str) -> Result<(), InvalidHeader> {
        let header_name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| InvalidHeader::Name(name.to_owned()))?;
        let mut header_value = HeaderValue::from_str(value.trim())
            .map_err(|_| InvalidHeader::Value(header_name.as_str().to_owned()))?;
        header_value.set_sensitive(true);
        self.map.insert(header_name, header_value);
        Ok(())
    }

    /// True when no credentials are set.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The header names (lower case), for display; the values are not exposed.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(HeaderName::as_str)
    }

    /// Writes the credentials into `headers`, replacing every header of the same name.
    pub(crate) fn apply_to(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.map {
            headers.insert(name.clone(), value.clone());
        }
    }
}

impl fmt::Debug for AuthHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.names().map(|name| (name, "[redacted]")))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_only() {
        let headers =
            AuthHeaders::from_pairs([("Authorization", "Bearer sk-secret"), ("X-Api-Key", "k1")])
                .expect("valid headers");
        let debug = format!("{headers:?}");
        assert_eq!(
            debug,
            r#"{"authorization": "[redacted]", "x-api-key": "[redacted]"}"#
        );
    }

    #[test]
    fn later_pairs_replace_earlier_ones_case_insensitively() {
        let headers = AuthHeaders::from_pairs([("authorization", "a"), ("Authorization", "b")])
            .expect("valid headers");
        let mut map = HeaderMap::new();
        map.insert("authorization", HeaderValue::from_static("from-hub"));
        headers.apply_to(&mut map);
        assert_eq!(map.get_all("authorization").iter().count(), 1);
        assert_eq!(map["authorization"], "b");
    }

    #[test]
    fn invalid_headers_never_echo_the_value() {
        assert_eq!(
            AuthHeaders::from_pairs([("bad name", "v")]).map(|_| ()),
            Err(InvalidHeader::Name("bad name".into()))
        );
        let error = AuthHeaders::from_pairs([("x-key", "secret\nvalue")])
            .map(|_| ())
            .expect_err("newline is invalid");
        assert!(!error.to_string().contains("secret"));
    }
}
