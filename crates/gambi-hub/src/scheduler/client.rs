//! Who sent a request, as far as fairness is concerned.

use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

/// Identifies the client a request came from, so that waiting requests can be served fairly
/// across clients. The hub builds it from the caller's API key when it sent one, else from
/// its IP address.
///
/// An API key is a secret (in a protected room it is the room password), so only a keyed
/// hash of it is kept, and `Debug` shows that hash, never the key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClientKey(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    ApiKey(u64),
    Ip(IpAddr),
    Named(Arc<str>),
}

impl ClientKey {
    /// The client that presented this API key.
    pub fn api_key(key: &str) -> Self {
        // Keyed with per-process random keys: equal keys map to equal values within this
        // process, and the value reveals nothing about the key.
        static HASHER: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
        let hasher = HASHER.get_or_init(std::collections::hash_map::RandomState::new);
        Self(Repr::ApiKey(hasher.hash_one(key)))
    }

    /// The client at this address.
    pub fn ip(addr: IpAddr) -> Self {
        Self(Repr::Ip(addr))
    }

    /// A client known by some other non-secret name.
    pub fn named(name: impl Into<Arc<str>>) -> Self {
        Self(Repr::Named(name.into()))
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::ApiKey(hash) => write!(f, "ClientKey(api-key#{hash:016x})"),
            Repr::Ip(addr) => write!(f, "ClientKey({addr})"),
            Repr::Named(name) => write!(f, "ClientKey({name:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_compare_by_value_and_never_print() {
        let key = ClientKey::api_key("hunter2");
        assert_eq!(key, ClientKey::api_key("hunter2"));
        assert_ne!(key, ClientKey::api_key("hunter3"));
        assert!(!format!("{key:?}").contains("hunter2"));
    }

    #[test]
    fn kinds_are_distinct() {
        let ip = ClientKey::ip([10, 0, 0, 1].into());
        assert_eq!(format!("{ip:?}"), "ClientKey(10.0.0.1)");
        assert_ne!(ip, ClientKey::named("10.0.0.1"));
    }
}
