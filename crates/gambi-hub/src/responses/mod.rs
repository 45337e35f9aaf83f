//! Where the hub remembers responses, for the Responses lifecycle routes and
//! `previous_response_id`.
//!
//! A response created natively lives at the participant's provider: the hub only needs to
//! know which participant to ask, so it keeps an index from response id to participant.
//! A response the hub adapted from Chat Completions lives nowhere else, so the hub keeps
//! the Response object and its input items (the adapter's bounded store). Both are scoped
//! to the room that created the response and bounded in size and age.

use std::collections::{HashMap, VecDeque};

mod adapted;

pub(crate) use adapted::{AdaptedResponse, AdaptedResponseStore};

/// Most native response ids remembered; the oldest is forgotten first.
pub(crate) const MAX_NATIVE_RESPONSES: usize = 100_000;

/// Where a response lives.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Located {
    /// At this participant's provider.
    Native {
        /// The participant that created it.
        participant_id: String,
    },
    /// In the hub's store.
    Adapted(Box<AdaptedResponse>),
}

/// The hub's response registry. Kept behind a mutex by the hub.
#[derive(Debug, Default)]
pub(crate) struct ResponseRegistry {
    native: HashMap<String, (String, String)>,
    native_order: VecDeque<String>,
    adapted: AdaptedResponseStore,
}

impl ResponseRegistry {
    /// Remembers that `participant_id` created the native response `id` in `room_id`.
    pub(crate) fn insert_native(&mut self, id: &str, room_id: &str, participant_id: &str) {
        if self
            .native
            .insert(
                id.to_owned(),
                (room_id.to_owned(), participant_id.to_owned()),
            )
            .is_none()
        {
            self.native_order.push_back(id.to_owned());
        }
        while self.native_order.len() > MAX_NATIVE_RESPONSES {
            if let Some(oldest) = self.native_order.pop_front() {
                self.native.remove(&oldest);
            }
        }
    }

    /// Stores an adapted response.
    pub(crate) fn insert_adapted(&mut self, id: &str, entry: AdaptedResponse, now_ms: u64) {
        self.adapted.insert(id, entry, now_ms);
    }

    /// Where response `id` of room `room_id` lives, if the hub knows it.
    pub(crate) fn locate(&self, room_id: &str, id: &str, now_ms: u64) -> Option<Located> {
        if let Some(entry) = self.adapted.get(room_id, id, now_ms) {
            return Some(Located::Adapted(Box::new(entry.clone())));
        }
        match self.native.get(id) {
            Some((room, participant)) if room == room_id => Some(Located::Native {
                participant_id: participant.clone(),
            }),
            _ => None,
        }
    }

    /// Forgets response `id` of room `room_id`.
    pub(crate) fn remove(&mut self, room_id: &str, id: &str) {
        self.adapted.remove(room_id, id);
        if self.native.get(id).is_some_and(|(room, _)| room == room_id) {
            self.native.remove(id);
            self.native_order.retain(|known| known != id);
        }
    }

    /// Drops adapted responses older than the retention limit.
    pub(crate) fn purge(&mut self, now_ms: u64) {
        self.adapted.purge(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn adapted(room: &str) -> AdaptedResponse {
        AdaptedResponse {
            room_id: room.into(),
            participant_id: "p".into(),
            response: json!({"id": "resp_1"}),
            input_items: vec![],
            created_at_ms: 0,
        }
    }

    #[test]
    fn responses_are_scoped_to_their_room() {
        let mut registry = ResponseRegistry::default();
        registry.insert_native("resp_n", "room", "alice");
        registry.insert_adapted("resp_a", adapted("room"), 0);
        assert_eq!(
            registry.locate("room", "resp_n", 0),
            Some(Located::Native {
                participant_id: "alice".into()
            })
        );
        assert!(matches!(
            registry.locate("room", "resp_a", 0),
            Some(Located::Adapted(_))
        ));
        assert_eq!(registry.locate("other", "resp_n", 0), None);
        assert_eq!(registry.locate("other", "resp_a", 0), None);
        registry.remove("other", "resp_n");
        assert!(registry.locate("room", "resp_n", 0).is_some());
        registry.remove("room", "resp_n");
        registry.remove("room", "resp_a");
        assert_eq!(registry.locate("room", "resp_n", 0), None);
        assert_eq!(registry.locate("room", "resp_a", 0), None);
    }
}
