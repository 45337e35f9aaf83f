//! The routing view of a room: which participants can take a request now, and what a
//! request needs to know about the one chosen.

use gambi_protocol as proto;

use super::Room;
use crate::tunnel::TunnelHandle;

/// A participant chosen to serve a request, as the request needs it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Participant id.
    pub(crate) id: String,
    /// Display name.
    pub(crate) nickname: String,
    /// Provider endpoint.
    pub(crate) endpoint: String,
    /// Provider model name.
    pub(crate) model: String,
    /// Known protocol support.
    pub(crate) capabilities: proto::ParticipantCapabilities,
    /// Room defaults overlaid with the participant's own.
    pub(crate) defaults: proto::RuntimeConfig,
    /// Its open tunnel.
    pub(crate) tunnel: TunnelHandle,
}

impl Room {
    /// Participant `id`, if it has an open tunnel.
    pub(crate) fn target(&self, id: &str) -> Option<Target> {
        let participants = self.lock();
        let participant = participants.get(id)?;
        let tunnel = participant
            .tunnel
            .clone()
            .filter(|tunnel| !tunnel.is_closed())?;
        let defaults = self
            .record()
            .defaults
            .clone()
            .unwrap_or_default()
            .overlay(&participant.config);
        Some(Target {
            id: participant.id.clone(),
            nickname: participant.nickname.clone(),
            endpoint: participant.endpoint.clone(),
            model: participant.model.clone(),
            capabilities: participant.capabilities,
            defaults,
            tunnel,
        })
    }

    /// The summaries of the participants requests may be routed to now (only `id`, when
    /// given).
    pub(crate) fn routable(&self, id: Option<&str>) -> Vec<proto::ParticipantSummary> {
        let now = self.now_ms();
        self.lock()
            .values()
            .filter(|participant| participant.available(now))
            .filter(|participant| id.is_none_or(|id| participant.id == id))
            .map(|participant| self.summary_of(participant, now))
            .collect()
    }
}
