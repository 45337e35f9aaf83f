//! Tunnel bootstrap tokens: single use, short-lived, bound to one room and participant.

use std::collections::HashMap;
use std::time::Duration;

use gambi_protocol as proto;
use tokio::time::Instant;

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Unknown, already used, expired, or minted for another room or participant.
    #[error("Tunnel token is invalid or expired.")]
    Invalid,
}

#[derive(Debug)]
struct Grant {
    room_id: String,
    participant_id: String,
    extensions: proto::TunnelExtensions,
    expires_at: Instant,
}

/// Outstanding tokens. The hub keeps one behind a mutex.
#[derive(Debug)]
pub struct TokenStore {
    ttl: Duration,
    grants: HashMap<String, Grant>,
}

impl TokenStore {
    /// A store whose tokens live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            grants: HashMap::new(),
        }
    }

    /// Mints a token for `participant_id` in room `room_id`, for a tunnel that speaks
    /// `extensions`.
    pub(crate) fn mint(
        &mut self,
        room_id: &str,
        participant_id: &str,
        extensions: proto::TunnelExtensions,
    ) -> String {
        self.purge_expired();
        let token = uuid::Uuid::new_v4().to_string();
        self.grants.insert(
            token.clone(),
            Grant {
                room_id: room_id.to_owned(),
                participant_id: participant_id.to_owned(),
                extensions,
                expires_at: Instant::now() + self.ttl,
            },
        );
        token
    }

    /// Checks a token without using it up.
    pub fn check(
        &self,
        token: &str,
        room_id: &str,
        participant_id: &str,
    ) -> Result<(), TokenError> {
        match self.grants.get(token) {
            Some(grant)
                if grant.room_id == room_id
                    && grant.participant_id == participant_id
                    && Instant::now() < grant.expires_at =>
            {
                Ok(())
            }
            _ => Err(TokenError::Invalid),
        }
    }

    /// Checks a token and uses it up; returns the extensions it was minted for.
    pub(crate) fn consume(
        &mut self,
        token: &str,
        room_id: &str,
        participant_id: &str,
    ) -> Result<proto::TunnelExtensions, TokenError> {
        self.check(token, room_id, participant_id)?;
        let grant = self.grants.remove(token).ok_or(TokenError::Invalid)?;
        Ok(grant.extensions)
    }

    /// Drops tokens of a participant that left.
    pub fn revoke_participant(&mut self, room_id: &str, participant_id: &str) {
        self.grants.retain(|_, grant| {
            !(grant.room_id == room_id && grant.participant_id == participant_id)
        });
    }

    /// Forgets expired tokens.
    pub fn purge_expired(&mut self) {
        let now = Instant::now();
        self.grants.retain(|_, grant| now < grant.expires_at);
    }

    /// Outstanding tokens.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether no token is outstanding.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokens_are_single_use_bound_and_expire() {
        let mut store = TokenStore::new(Duration::from_secs(60));
        let token = store.mint("room", "alice", proto::TunnelExtensions::default());
        assert_eq!(store.check(&token, "room", "bob"), Err(TokenError::Invalid));
        assert_eq!(
            store.check(&token, "other", "alice"),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            store.consume(&token, "room", "alice"),
            Ok(proto::TunnelExtensions::default())
        );
        assert_eq!(
            store.consume(&token, "room", "alice"),
            Err(TokenError::Invalid)
        );

        let token = store.mint("room", "alice", proto::TunnelExtensions::default());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(store.check(&token, "room", "alice"), Ok(()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            store.check(&token, "room", "alice"),
            Err(TokenError::Invalid)
        );
        store.purge_expired();
        assert!(store.is_empty());
    }

    #[test]
    fn a_token_carries_the_extensions_granted_with_it() {
        let mut store = TokenStore::new(Duration::from_secs(60));
        let granted = proto::TunnelExtensions {
            binary_chunks: true,
            flow_control: true,
            credit_window: Some(4096),
            timing: true,
        };
        let token = store.mint("room", "alice", granted);
        assert_eq!(store.consume(&token, "room", "alice"), Ok(granted));
    }

    #[tokio::test(start_paused = true)]
    async fn revoking_a_participant_drops_its_tokens_only() {
        let mut store = TokenStore::new(Duration::from_secs(60));
        let alice = store.mint("room", "alice", proto::TunnelExtensions::default());
        let bob = store.mint("room", "bob", proto::TunnelExtensions::default());
        store.revoke_participant("room", "alice");
        assert_eq!(
            store.check(&alice, "room", "alice"),
            Err(TokenError::Invalid)
        );
        assert_eq!(store.check(&bob, "room", "bob"), Ok(()));
    }
}
