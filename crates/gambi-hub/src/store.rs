//! Durable room storage.
//!
//! Rooms outlive the hub process so that a restarted hub keeps its codes and passwords and
//! participants can reconnect. Live state (participants, tunnels, queues) is deliberately
//! not stored: it belongs to connections that a restart ends anyway. The [`Store`] trait is
//! the seam for a shared database when several hubs serve one registry.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use gambi_protocol as proto;
use rusqlite::{Connection, OptionalExtension, params};

/// A room as stored.
#[derive(Clone, PartialEq)]
pub struct RoomRecord {
    /// Stable internal id.
    pub id: String,
    /// Canonical (upper-case) code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Random id generated at creation.
    pub host_id: String,
    /// Creation time, ms since the epoch.
    pub created_at: i64,
    /// Room-wide runtime defaults.
    pub defaults: Option<proto::RuntimeConfig>,
    /// Argon2id PHC string of the password, when the room has one.
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for RoomRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomRecord")
            .field("id", &self.id)
            .field("code", &self.code)
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("defaults", &self.defaults)
            .field("password_protected", &self.password_hash.is_some())
            .finish_non_exhaustive()
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The directory for the database file could not be created.
    #[error("could not create the database directory: {0}")]
    Directory(#[from] std::io::Error),
    /// A stored value could not be decoded.
    #[error("stored room {room} is corrupt: {reason}")]
    Corrupt {
        /// The room id.
        room: String,
        /// What is wrong.
        reason: String,
    },
}

/// Where rooms are kept. Calls are blocking; the hub runs them off the async threads.
pub trait Store: Send + Sync + 'static {
    /// Every room, oldest first.
    fn load_rooms(&self) -> Result<Vec<RoomRecord>, StoreError>;
    /// Stores a new room.
    fn insert_room(&self, room: &RoomRecord) -> Result<(), StoreError>;
    /// Whether a room with this canonical code exists.
    fn code_exists(&self, code: &str) -> Result<bool, StoreError>;
}

/// [`Store`] on SQLite, in a file or in memory.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

/// Schema migrations; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &["CREATE TABLE rooms (
        id            TEXT PRIMARY KEY,
        code          TEXT NOT NULL UNIQUE,
        name          TEXT NOT NULL,
        host_id       TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        defaults      TEXT,
        password_hash TEXT
    );"];

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`, with its parent directory.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent)?;
        }
        let connection = Connection::open(path)?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        Self::init(connection)
    }

    /// A private in-memory database.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut connection: Connection) -> Result<Self, StoreError> {
        let version: usize =
            connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let transaction = connection.transaction()?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            transaction.execute_batch(migration)?;
            transaction.pragma_update(None, "user_version", index + 1)?;
        }
        transaction.commit()?;
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent: every write is
        // a single statement.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for SqliteStore {
    fn load_rooms(&self) -> Result<Vec<RoomRecord>, StoreError> {
        let connection = self.connection();
        let mut statement = connection.prepare(
            "SELECT id, code, name, host_id, created_at, defaults, password_hash
             FROM rooms ORDER BY created_at, rowid",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((
                RoomRecord {
                    id: row.get(0)?,
                    code: row.get(1)?,
                    name: row.get(2)?,
                    host_id: row.get(3)?,
                    created_at: row.get(4)?,
                    defaults: None,
                    password_hash: row.get(6)?,
                },
                row.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut rooms = Vec::new();
        for row in rows {
            let (mut room, defaults) = row?;
            if let Some(defaults) = defaults {
                room.defaults =
                    Some(
                        serde_json::from_str(&defaults).map_err(|error| StoreError::Corrupt {
                            room: room.id.clone(),
                            reason: error.to_string(),
                        })?,
                    );
            }
            rooms.push(room);
        }
        Ok(rooms)
    }

    fn insert_room(&self, room: &RoomRecord) -> Result<(), StoreError> {
        let defaults = room
            .defaults
            .as_ref()
            .map(|defaults| serde_json::to_string(defaults).unwrap_or_default());
        self.connection().execute(
            "INSERT INTO rooms (id, code, name, host_id, created_at, defaults, password_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                room.id,
                room.code,
                room.name,
                room.host_id,
                room.created_at,
                defaults,
                room.password_hash
            ],
        )?;
        Ok(())
    }

    fn code_exists(&self, code: &str) -> Result<bool, StoreError> {
        Ok(self
            .connection()
            .query_row("SELECT 1 FROM rooms WHERE code = ?1", [code], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on setup errors.

    use super::*;

    fn room(id: &str, code: &str, created_at: i64) -> RoomRecord {
        RoomRecord {
            id: id.into(),
            code: code.into(),
            name: format!("room {id}"),
            host_id: "host".into(),
            created_at,
            defaults: Some(proto::RuntimeConfig {
                temperature: Some(0.3),
                instructions: Some("Be kind.".into()),
                ..proto::RuntimeConfig::default()
            }),
            password_hash: Some("$argon2id$v=19$...".into()),
        }
    }

    #[test]
    fn rooms_survive_reopening_the_file() {
        let dir = std::env::temp_dir().join(format!("gambi-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hub.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store.insert_room(&room("b", "BBBBBB", 2)).unwrap();
            store.insert_room(&room("a", "AAAAAA", 1)).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let rooms = store.load_rooms().unwrap();
        assert_eq!(rooms, vec![room("a", "AAAAAA", 1), room("b", "BBBBBB", 2)]);
        assert!(store.code_exists("AAAAAA").unwrap());
        assert!(!store.code_exists("CCCCCC").unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn duplicate_codes_are_refused() {
        let store = SqliteStore::open_in_memory().unwrap();
        store.insert_room(&room("a", "AAAAAA", 1)).unwrap();
        assert!(store.insert_room(&room("b", "AAAAAA", 2)).is_err());
    }

    #[test]
    fn debug_hides_the_password_hash() {
        assert!(!format!("{:?}", room("a", "AAAAAA", 1)).contains("argon2"));
    }
}
