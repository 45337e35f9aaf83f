//! What a hub announces over mDNS (DNS-SD), and how clients read it.
//!
//! A hub publishes one instance of [`SERVICE_TYPE`] in the `local.` domain. The original
//! hub names its instance `gambi-hub-<port>`, so two hubs on the same port collide; ours
//! adds a per-hub id ([`instance_name`]). Its TXT record keeps the original's keys
//! (`version=1.0`, `protocol=http`) and adds what helps a client: the hub's version and
//! whether it serves TLS. A hub that sends only the original keys reads as one without
//! the extras.

use std::collections::BTreeMap;
use std::time::Duration;

/// The DNS-SD service type of a Gambi hub, with its domain.
pub const SERVICE_TYPE: &str = "_gambi._tcp.local.";

/// How long discovery listens for hubs by default.
pub const BROWSE_WINDOW: Duration = Duration::from_millis(1500);

/// The TXT `version` every hub announces (the original's value, not the hub's version).
pub const TXT_FORMAT_VERSION: &str = "1.0";

/// Prefix of every hub's instance name.
pub const INSTANCE_PREFIX: &str = "gambi-hub-";

/// TXT keys.
mod key {
    pub(super) const VERSION: &str = "version";
    pub(super) const PROTOCOL: &str = "protocol";
    pub(super) const HUB_VERSION: &str = "hubVersion";
    pub(super) const TLS: &str = "tls";
    pub(super) const ID: &str = "id";
}

/// `gambi-hub-<port>-<id>`: the original's name, made unique per hub by `id`.
pub fn instance_name(port: u16, id: &str) -> String {
    format!("{INSTANCE_PREFIX}{port}-{id}")
}

/// A hub's TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubTxt {
    /// `version`: the announcement's format, [`TXT_FORMAT_VERSION`].
    pub version: String,
    /// `protocol`: `http` or `https`.
    pub protocol: String,
    /// `hubVersion` (ours): the hub's software version.
    pub hub_version: Option<String>,
    /// `tls` (ours): whether the hub serves TLS. Read from `protocol` when absent.
    pub tls: bool,
    /// `id` (ours): the hub's instance id, also part of its instance name.
    pub id: Option<String>,
}

impl HubTxt {
    /// What a hub of version `hub_version` with instance id `id` announces.
    pub fn new(hub_version: &str, tls: bool, id: &str) -> Self {
        Self {
            version: TXT_FORMAT_VERSION.to_owned(),
            protocol: if tls { "https" } else { "http" }.to_owned(),
            hub_version: Some(hub_version.to_owned()),
            tls,
            id: Some(id.to_owned()),
        }
    }

    /// The record as key/value pairs, original keys first.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (key::VERSION, self.version.clone()),
            (key::PROTOCOL, self.protocol.clone()),
        ];
        if let Some(hub_version) = &self.hub_version {
            pairs.push((key::HUB_VERSION, hub_version.clone()));
        }
        pairs.push((key::TLS, self.tls.to_string()));
        if let Some(id) = &self.id {
            pairs.push((key::ID, id.clone()));
        }
        pairs
    }

    /// Reads a record; keys are case-insensitive (RFC 6763 §6.4) and missing ones get the
    /// original's meaning (`http`, no TLS).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let map: BTreeMap<String, &str> = pairs
            .into_iter()
            .map(|(key, value)| (key.to_ascii_lowercase(), value))
            .collect();
        let get = |key: &str| map.get(&key.to_ascii_lowercase()).copied();
        let protocol = get(key::PROTOCOL).unwrap_or("http").to_owned();
        let tls = match get(key::TLS) {
            Some(value) => value.eq_ignore_ascii_case("true") || value == "1",
            None => protocol.eq_ignore_ascii_case("https"),
        };
        Self {
            version: get(key::VERSION).unwrap_or_default().to_owned(),
            protocol,
            hub_version: get(key::HUB_VERSION).map(str::to_owned),
            tls,
            id: get(key::ID).map(str::to_owned),
        }
    }

    /// The URL scheme clients use: `https` when the hub serves TLS.
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_hub() {
        assert_eq!(instance_name(3000, "k7qf2m9a"), "gambi-hub-3000-k7qf2m9a");
        assert_ne!(instance_name(3000, "a"), instance_name(3000, "b"));
    }

    #[test]
    fn records_round_trip() {
        let txt = HubTxt::new("0.1.0", false, "abcd1234");
        let pairs = txt.to_pairs();
        assert_eq!(
            pairs,
            vec![
                ("version", "1.0".to_owned()),
                ("protocol", "http".to_owned()),
                ("hubVersion", "0.1.0".to_owned()),
                ("tls", "false".to_owned()),
                ("id", "abcd1234".to_owned()),
            ]
        );
        let read = HubTxt::from_pairs(pairs.iter().map(|(key, value)| (*key, value.as_str())));
        assert_eq!(read, txt);
        assert_eq!(read.scheme(), "http");
        assert_eq!(HubTxt::new("0.1.0", true, "x").scheme(), "https");
    }

    #[test]
    fn original_records_read_without_the_extras() {
        let read = HubTxt::from_pairs([("version", "1.0"), ("protocol", "http")]);
        assert_eq!(
            read,
            HubTxt {
                version: "1.0".into(),
                protocol: "http".into(),
                hub_version: None,
                tls: false,
                id: None,
            }
        );
        let https = HubTxt::from_pairs([("PROTOCOL", "https")]);
        assert!(https.tls);
        assert_eq!(https.scheme(), "https");
        assert!(!HubTxt::from_pairs([("protocol", "https"), ("tls", "false")]).tls);
    }
}
