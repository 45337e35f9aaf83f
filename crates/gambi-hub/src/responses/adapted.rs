//! The in-memory store of adapted responses.
//!
//! A participant that speaks only Chat Completions keeps nothing, so the hub keeps each
//! adapted Response (and the input it answered) itself: that is what lets clients retrieve it,
//! list its input items, delete it and chain on it with `previous_response_id`. The original
//! hub kept its response registry forever; this store is bounded by a number of entries and an
//! age, evicting the oldest first. Time is passed in by the caller (milliseconds on any
//! monotonic clock), so the store is tested without sleeping. It is not synchronised itself:
//! the hub keeps it behind a mutex.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

/// How many adapted responses are kept at most; the oldest is evicted past it. A Response
/// with its input items is typically a few kilobytes (more with images), so a thousand stays
/// within tens of megabytes on a hub serving a classroom.
pub(super) const MAX_STORED_RESPONSES: usize = 1_000;

/// How long an adapted response is kept: long enough for an agent loop or a conversation to
/// chain on it, short enough that memory is not held for forgotten sessions.
pub(super) const MAX_STORED_AGE_MS: u64 = 60 * 60 * 1_000;

/// One adapted response and what the hub needs to serve it again.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AdaptedResponse {
    /// The room the response was created in; other rooms cannot see it.
    pub room_id: String,
    /// The participant that produced it.
    pub participant_id: String,
    /// The Response object as returned to the client.
    pub response: Value,
    /// The input items it answered (normalised, `previous_response_id` expanded).
    pub input_items: Vec<Value>,
    /// When it was stored, in milliseconds on the caller's clock.
    pub created_at_ms: u64,
}

/// Adapted responses by Response id, bounded by count and age.
#[derive(Debug)]
pub(crate) struct AdaptedResponseStore {
    entries: HashMap<String, AdaptedResponse>,
    /// Ids in insertion order, oldest first.
    order: VecDeque<String>,
    max_entries: usize,
    max_age_ms: u64,
}

impl Default for AdaptedResponseStore {
    fn default() -> Self {
        Self::new()
    }
}

impl AdaptedResponseStore {
    /// A store with the default bounds ([`MAX_STORED_RESPONSES`], [`MAX_STORED_AGE_MS`]).
    pub(crate) fn new() -> Self {
        Self::with_limits(MAX_STORED_RESPONSES, MAX_STORED_AGE_MS)
    }

    /// A store with explicit bounds.
    pub(crate) fn with_limits(max_entries: usize, max_age_ms: u64) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            max_entries,
            max_age_ms,
        }
    }

    /// Stores `entry` under `id` (replacing an entry with the same id), then evicts expired
    /// entries and, past the size bound, the oldest ones.
    pub(crate) fn insert(&mut self, id: impl Into<String>, entry: AdaptedResponse, now_ms: u64) {
        let id = id.into();
        if self.entries.insert(id.clone(), entry).is_some() {
            self.order.retain(|known| known != &id);
        }
        self.order.push_back(id);
        self.purge(now_ms);
        while self.entries.len() > self.max_entries {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// The response `id` of room `room_id`, unless it expired. An id of another room is not
    /// found.
    pub(crate) fn get(&self, room_id: &str, id: &str, now_ms: u64) -> Option<&AdaptedResponse> {
        self.entries
            .get(id)
            .filter(|e| e.room_id == room_id && !self.expired(e, now_ms))
    }

    /// Removes and returns the response `id` of room `room_id`.
    pub(crate) fn remove(&mut self, room_id: &str, id: &str) -> Option<AdaptedResponse> {
        if self.entries.get(id)?.room_id != room_id {
            return None;
        }
        self.order.retain(|known| known != id);
        self.entries.remove(id)
    }

    /// Drops the entries older than the age bound.
    pub(crate) fn purge(&mut self, now_ms: u64) {
        while let Some(oldest) = self.order.front() {
            let expired = self
                .entries
                .get(oldest)
                .is_none_or(|e| self.expired(e, now_ms));
            if !expired {
                break;
            }
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
    }

    #[cfg(test)]
    /// How many responses are stored (expired ones included until the next purge).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    /// Whether nothing is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn expired(&self, entry: &AdaptedResponse, now_ms: u64) -> bool {
        now_ms.saturating_sub(entry.created_at_ms) > self.max_age_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(room: &str, n: u64, at: u64) -> AdaptedResponse {
        AdaptedResponse {
            room_id: room.into(),
            participant_id: "p1".into(),
            response: json!({"id": format!("resp_{n}")}),
            input_items: vec![json!({"id": "msg_1"})],
            created_at_ms: at,
        }
    }

    #[test]
    fn insert_get_remove_by_room() {
        let mut store = AdaptedResponseStore::new();
        store.insert("resp_1", entry("room-a", 1, 0), 0);
        assert_eq!(
            store.get("room-a", "resp_1", 10),
            Some(&entry("room-a", 1, 0))
        );
        assert_eq!(store.get("room-b", "resp_1", 10), None);
        assert_eq!(store.get("room-a", "resp_2", 10), None);
        assert_eq!(store.remove("room-b", "resp_1"), None);
        assert_eq!(store.len(), 1);
        assert_eq!(
            store.remove("room-a", "resp_1"),
            Some(entry("room-a", 1, 0))
        );
        assert!(store.is_empty());
    }

    #[test]
    fn entries_expire_by_age() {
        let mut store = AdaptedResponseStore::with_limits(10, 1_000);
        store.insert("resp_1", entry("r", 1, 0), 0);
        store.insert("resp_2", entry("r", 2, 500), 500);
        assert!(store.get("r", "resp_1", 1_000).is_some());
        assert!(store.get("r", "resp_1", 1_001).is_none());
        assert!(store.get("r", "resp_2", 1_001).is_some());
        store.purge(1_001);
        assert_eq!(store.len(), 1);
        store.insert("resp_3", entry("r", 3, 2_000), 2_000);
        assert_eq!(store.len(), 1);
        assert!(store.get("r", "resp_3", 2_000).is_some());
    }

    #[test]
    fn oldest_is_evicted_past_the_size_bound() {
        let mut store = AdaptedResponseStore::with_limits(2, u64::MAX);
        store.insert("resp_1", entry("r", 1, 1), 1);
        store.insert("resp_2", entry("r", 2, 2), 2);
        // Replacing an id refreshes its place.
        store.insert("resp_1", entry("r", 1, 3), 3);
        store.insert("resp_3", entry("r", 3, 4), 4);
        assert_eq!(store.len(), 2);
        assert!(store.get("r", "resp_2", 4).is_none());
        assert!(store.get("r", "resp_1", 4).is_some());
        assert!(store.get("r", "resp_3", 4).is_some());
    }
}
