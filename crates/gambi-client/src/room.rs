//! A room as an OpenAI client sees it: a base URL, an API key, and `model` strings that
//! choose who answers.

use url::Url;

use crate::{LlmProtocol, NewClientError, check_hub_url, inference, join_segments};

/// What an OpenAI SDK sends as API key to a room without a password: the SDKs insist on
/// one, and the hub ignores it for open rooms.
pub const OPEN_ROOM_API_KEY: &str = "gambi";

/// A room of a hub, for applications that talk to it with an OpenAI client.
///
/// It gives the base URL to configure the client with, the API key to send (the room
/// password, if the room has one), and the `model` strings that route a request:
///
/// | method | `model` | goes to |
/// |---|---|---|
/// | [`Room::any`] | `*` | the least-loaded participant |
/// | [`Room::model`] | `model:<name>` | the least-loaded participant serving that model |
/// | [`Room::participant`] | `<id>` | that participant |
///
/// ```
/// use gambi_client::Room;
///
/// let room = Room::new("http://localhost:3000", "K7QF2M")?.with_password("s3cret");
/// assert_eq!(room.base_url(), "http://localhost:3000/rooms/K7QF2M/v1");
/// assert_eq!(room.api_key(), "s3cret");
/// assert_eq!(room.any(), "*");
/// assert_eq!(room.model("llama3"), "model:llama3");
/// assert_eq!(room.participant("alice-laptop"), "alice-laptop");
/// # Ok::<(), gambi_client::NewClientError>(())
/// ```
///
/// The crate's `openai_room` example configures `async-openai` this way and talks to a
/// room with the Responses API and Chat Completions, streaming included.
#[derive(Clone, PartialEq, Eq)]
pub struct Room {
    hub_url: String,
    code: String,
    base_url: String,
    password: Option<String>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room")
            .field("code", &self.code)
            .field("base_url", &self.base_url)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Room {
    /// Room `code` of the hub at `hub_url` (checked by the rule of [`crate::Client::new`]).
    pub fn new(hub_url: &str, code: &str) -> Result<Self, NewClientError> {
        let hub_url = hub_url.strip_suffix('/').unwrap_or(hub_url);
        let base = check_hub_url(hub_url)?;
        Ok(Self::at(&base, hub_url, code))
    }

    /// Room `code` of the hub whose URL is `base` (already checked).
    pub(crate) fn at(base: &Url, hub_url: &str, code: &str) -> Self {
        Self {
            hub_url: hub_url.to_owned(),
            code: code.to_owned(),
            base_url: join_segments(base, &["rooms", code, "v1"]).into(),
            password: None,
        }
    }

    /// The room's password: sent as the API key.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into()).filter(|password| !password.is_empty());
        self
    }

    /// The room code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The hub's URL, without a trailing `/`.
    pub fn hub_url(&self) -> &str {
        &self.hub_url
    }

    /// The OpenAI base URL of the room: `{hub}/rooms/{code}/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The URL of one inference route, e.g. `{hub}/rooms/{code}/v1/responses`.
    pub fn url(&self, protocol: LlmProtocol) -> String {
        format!("{}/{}", self.base_url, protocol.route())
    }

    /// The API key for an OpenAI client: the room password, or [`OPEN_ROOM_API_KEY`].
    pub fn api_key(&self) -> &str {
        self.password.as_deref().unwrap_or(OPEN_ROOM_API_KEY)
    }

    /// `model` for the least-loaded participant: `*`.
    pub fn any(&self) -> String {
        inference::any()
    }

    /// `model` for the least-loaded participant serving exactly `name`: `model:<name>`.
    pub fn model(&self, name: &str) -> String {
        inference::model(name)
    }

    /// `model` for participant `id`.
    pub fn participant(&self, id: &str) -> String {
        inference::participant(id)
    }
}

#[cfg(test)]
mod tests {
    use gambi_protocol as proto;

    use super::*;

    #[test]
    fn urls_and_keys() {
        let room = Room::new("http://hub.lan:3000/", "ABC123").expect("valid");
        assert_eq!(room.hub_url(), "http://hub.lan:3000");
        assert_eq!(room.base_url(), "http://hub.lan:3000/rooms/ABC123/v1");
        assert_eq!(
            room.url(LlmProtocol::ChatCompletions),
            "http://hub.lan:3000/rooms/ABC123/v1/chat/completions"
        );
        assert_eq!(
            room.url(LlmProtocol::default()),
            "http://hub.lan:3000/rooms/ABC123/v1/responses"
        );
        assert_eq!(room.api_key(), OPEN_ROOM_API_KEY);
        assert_eq!(room.clone().with_password("").api_key(), OPEN_ROOM_API_KEY);
        let prefixed = Room::new("https://lab.example/gambi", "a b").expect("valid");
        assert_eq!(
            prefixed.base_url(),
            "https://lab.example/gambi/rooms/a%20b/v1"
        );
        assert!(Room::new("hub:3000", "ABC123").is_err());
    }

    #[test]
    fn routing_strings_parse_back() {
        let room = Room::new("http://localhost:3000", "ABC123").expect("valid");
        assert_eq!(
            proto::ModelSelector::parse(&room.any()),
            proto::ModelSelector::Any
        );
        assert_eq!(
            proto::ModelSelector::parse(&room.model("llama3")),
            proto::ModelSelector::Model("llama3".into())
        );
        assert_eq!(
            proto::ModelSelector::parse(&room.participant("alice")),
            proto::ModelSelector::IdOrModel("alice".into())
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let room = Room::new("http://localhost:3000", "ABC123")
            .expect("valid")
            .with_password("hunter2");
        assert_eq!(room.api_key(), "hunter2");
        assert!(!format!("{room:?}").contains("hunter2"));
    }
}
