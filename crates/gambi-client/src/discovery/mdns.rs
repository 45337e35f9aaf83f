//! Browsing mDNS for hubs: what an announcement says, and the URLs it offers.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use gambi_protocol as proto;
use mdns_sd::{ServiceDaemon, ServiceEvent};
use proto::mdns::HubTxt;

/// A hub announced over mDNS, before any health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnouncedHub {
    /// The instance name, e.g. `gambi-hub-3000-k7qf2m9a`.
    pub name: String,
    /// The host name, without the trailing dot.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The addresses, IPv4 first.
    pub addresses: Vec<IpAddr>,
    /// The TXT record.
    pub txt: BTreeMap<String, String>,
}

impl AnnouncedHub {
    /// The URLs to try, in order: each address (IPv4 first; link-local IPv6 addresses
    /// are left out, a URL cannot carry their zone), then the host name.
    pub fn candidate_urls(&self) -> Vec<String> {
        let txt = HubTxt::from_pairs(self.txt.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let scheme = txt.scheme();
        let mut urls: Vec<String> = self
            .addresses
            .iter()
            .filter(|ip| !is_unicast_link_local(ip))
            .map(|ip| match ip {
                IpAddr::V4(ip) => format!("{scheme}://{ip}:{}", self.port),
                IpAddr::V6(ip) => format!("{scheme}://[{ip}]:{}", self.port),
            })
            .collect();
        if !self.host.is_empty() {
            urls.push(format!("{scheme}://{}:{}", self.host, self.port));
        }
        urls
    }
}

fn is_unicast_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V6(ip) => ip.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

/// Browses for hubs announced over mDNS for `window`. Announcements withdrawn during
/// the window (a hub saying goodbye) are left out.
///
/// This sends multicast queries on every interface of the machine.
pub async fn browse(window: Duration) -> Result<Vec<AnnouncedHub>, mdns_sd::Error> {
    let daemon = ServiceDaemon::new()?;
    let events = daemon.browse(proto::mdns::SERVICE_TYPE)?;
    let mut found: BTreeMap<String, AnnouncedHub> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + window;
    loop {
        let event = match tokio::time::timeout_at(deadline, events.recv_async()).await {
            Ok(Ok(event)) => event,
            Ok(Err(_)) | Err(_) => break,
        };
        match event {
            ServiceEvent::ServiceResolved(service) => {
                let mut addresses: Vec<IpAddr> = service
                    .get_addresses()
                    .iter()
                    .map(mdns_sd::ScopedIp::to_ip_addr)
                    .collect();
                addresses.sort_by_key(|ip| (ip.is_ipv6(), *ip));
                let txt = service
                    .get_properties()
                    .iter()
                    .map(|property| (property.key().to_owned(), property.val_str().to_owned()))
                    .collect();
                let name = instance_of(service.get_fullname());
                tracing::debug!(%name, host = %service.get_hostname(), port = service.get_port(), ?addresses, "hub announced over mDNS");
                found.insert(
                    service.get_fullname().to_owned(),
                    AnnouncedHub {
                        name,
                        host: service.get_hostname().trim_end_matches('.').to_owned(),
                        port: service.get_port(),
                        addresses,
                        txt,
                    },
                );
            }
            ServiceEvent::ServiceRemoved(_, fullname) => {
                found.remove(&fullname);
            }
            _ => {}
        }
    }
    let _ = daemon.stop_browse(proto::mdns::SERVICE_TYPE);
    if let Ok(status) = daemon.shutdown() {
        let _ = tokio::time::timeout(Duration::from_secs(1), status.recv_async()).await;
    }
    let mut hubs: Vec<AnnouncedHub> = found.into_values().collect();
    hubs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(hubs)
}

/// `gambi-hub-3000-abc` from `gambi-hub-3000-abc._gambi._tcp.local.`.
pub(super) fn instance_of(fullname: &str) -> String {
    let suffix = format!(".{}", proto::mdns::SERVICE_TYPE);
    fullname
        .strip_suffix(&suffix)
        .unwrap_or(fullname)
        .replace("\\.", ".")
        .replace("\\\\", "\\")
}
