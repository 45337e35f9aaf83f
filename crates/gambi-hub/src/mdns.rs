//! Announcing a hub on the local network over mDNS (DNS-SD), so that clients find it
//! without being told its address.
//!
//! An [`Announcement`] publishes one instance of [`proto::mdns::SERVICE_TYPE`] for a hub
//! listening on a given address, and takes it back ([`Announcement::unpublish`], or on
//! drop). Its instance name is `gambi-hub-<port>-<id>` with a random id, so two hubs on
//! the same port (on two addresses of one machine, or on two machines) are told apart,
//! and each hub gets a host name of its own (`gambi-<id>.local.`), so that the addresses
//! a client resolves for one hub are never another's.
//!
//! The addresses announced follow the listener: a hub bound to one address announces
//! that address, on the interface that has it; a hub bound to every address (`0.0.0.0`,
//! `::`) announces each interface's own addresses on that interface, and follows them as
//! they change.
//!
//! Publishing is separate from [`crate::serve_hub`]: the caller binds the listener, then
//! announces what it bound, learns the instance name (the CLI prints it as its
//! `mdns_registered` event), and unpublishes as soon as it decides to stop, before the
//! hub's connections drain.

use std::net::SocketAddr;
use std::time::Duration;

use gambi_protocol as proto;
use mdns_sd::{DaemonEvent, ServiceDaemon, ServiceInfo};
use proto::mdns::HubTxt;
use rand::Rng as _;

/// Longest wait for the daemon to probe the name and send the first announcement.
const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest wait for the goodbye packets and the daemon's exit.
const UNPUBLISH_TIMEOUT: Duration = Duration::from_secs(3);

/// Length of the random id in instance and host names.
const ID_LEN: usize = 8;

/// Why a hub could not be announced.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// The mDNS daemon could not start or refused the service (no usable interface, UDP
    /// port 5353 unavailable, an invalid record).
    #[error("mDNS is unavailable: {0}")]
    Daemon(#[from] mdns_sd::Error),
    /// The daemon never reported the announcement.
    #[error("the mDNS announcement was not sent within {} s", ANNOUNCE_TIMEOUT.as_secs())]
    Timeout,
}

/// A hub announced on the local network. Dropping it takes the announcement back
/// without waiting; [`Announcement::unpublish`] waits for the goodbye to go out.
pub struct Announcement {
    daemon: ServiceDaemon,
    fullname: String,
    name: String,
    id: String,
    published: bool,
}

impl std::fmt::Debug for Announcement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announcement")
            .field("name", &self.name)
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

impl Announcement {
    /// Announces a hub listening on `bound` (the listener's address, so `--port 0` is
    /// announced with the port it got), serving TLS or not. Returns once the name is
    /// probed and the first announcement sent.
    pub async fn publish(bound: SocketAddr, tls: bool) -> Result<Self, AnnounceError> {
        let id = random_id();
        let name = proto::mdns::instance_name(bound.port(), &id);
        let host = format!("gambi-{id}.local.");
        let txt = HubTxt::new(env!("CARGO_PKG_VERSION"), tls, &id);
        let properties: Vec<(&str, String)> = txt.to_pairs();
        let info = if bound.ip().is_unspecified() {
            ServiceInfo::new(
                proto::mdns::SERVICE_TYPE,
                &name,
                &host,
                (),
                bound.port(),
                &properties[..],
            )?
            .enable_addr_auto()
        } else {
            ServiceInfo::new(
                proto::mdns::SERVICE_TYPE,
                &name,
                &host,
                bound.ip(),
                bound.port(),
                &properties[..],
            )?
        };
        let fullname = info.get_fullname().to_owned();
        let daemon = ServiceDaemon::new()?;
        let mut announcement = Self {
            daemon,
            fullname,
            name,
            id,
            published: false,
        };
        let monitor = announcement.daemon.monitor()?;
        announcement.daemon.register(info)?;
        announcement.published = true;
        let announced = async {
            while let Ok(event) = monitor.recv_async().await {
                match event {
                    DaemonEvent::Announce(fullname, _) if fullname == announcement.fullname => {
                        return Ok(());
                    }
                    DaemonEvent::NameChange(change) => {
                        // Only a clash on the random id (or a misbehaving responder)
                        // gets here; the daemon has renamed the instance.
                        tracing::warn!(
                            original = %change.original,
                            new = %change.new_name,
                            "mDNS name conflict; the daemon renamed the hub's record"
                        );
                    }
                    DaemonEvent::Error(error) => {
                        tracing::debug!(%error, "mDNS daemon error while announcing");
                    }
                    _ => {}
                }
            }
            Err(AnnounceError::Timeout)
        };
        tokio::time::timeout(ANNOUNCE_TIMEOUT, announced)
            .await
            .map_err(|_| AnnounceError::Timeout)??;
        tracing::info!(name = %announcement.name, addr = %bound, "hub announced over mDNS");
        Ok(announcement)
    }

    /// The instance name, e.g. `gambi-hub-3000-k7qf2m9a`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The random id in the instance name (also the TXT `id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Takes the announcement back: sends the goodbye packets (so browsers forget the
    /// hub at once) and stops the daemon.
    pub async fn unpublish(mut self) {
        self.published = false;
        let goodbye = async {
            match self.daemon.unregister(&self.fullname) {
                Ok(status) => {
                    let _ = status.recv_async().await;
                }
                Err(error) => tracing::debug!(%error, "could not unregister the mDNS record"),
            }
            if let Ok(status) = self.daemon.shutdown() {
                let _ = status.recv_async().await;
            }
        };
        if tokio::time::timeout(UNPUBLISH_TIMEOUT, goodbye)
            .await
            .is_err()
        {
            tracing::debug!("the mDNS daemon did not confirm the goodbye in time");
        }
        tracing::info!(name = %self.name, "hub no longer announced over mDNS");
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        if self.published {
            // Both calls only queue a command for the daemon's thread.
            let _ = self.daemon.unregister(&self.fullname);
            let _ = self.daemon.shutdown();
        }
    }
}

/// Eight random lower-case letters and digits.
fn random_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..ID_LEN)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_short_lower_case_and_differ() {
        let (a, b) = (random_id(), random_id());
        assert_eq!(a.len(), ID_LEN);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
        assert_ne!(a, b);
    }
}
