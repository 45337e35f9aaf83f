//! The participant's place in its room, kept through [`gambi_client`]: register (`PUT`,
//! idempotent), heartbeat and leave (`DELETE`), each with the session credential once the
//! hub has issued one.
//!
//! The calls, the envelopes and the classification of failures are the client's; this
//! module binds them to one room and participant, sets the runtime's time limits, and says
//! how a failure reads in the session's events and outcome ([`describe`]).

use std::time::Duration;

use gambi_client::{Client, ClientError, ErrorKind, NewClientError, ParticipantsApi};
use gambi_protocol as proto;
use url::Url;

/// Time limit of one management call.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Time limit of the `DELETE` sent when leaving: the session is on its way out.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// One participant of one room on one hub.
#[derive(Debug, Clone)]
pub(crate) struct Membership {
    client: Client,
    room: String,
    participant: String,
}

impl Membership {
    /// The membership of `participant` in `room` on `hub`, over `http` (the session's one
    /// HTTP client). A query or fragment of `hub` is dropped.
    pub(crate) fn new(
        http: reqwest::Client,
        hub: &Url,
        room: &str,
        participant: &str,
    ) -> Result<Self, NewClientError> {
        let mut hub = hub.clone();
        hub.set_query(None);
        hub.set_fragment(None);
        let client = Client::with_http_client(hub.as_str(), http)?.with_timeout(CALL_TIMEOUT);
        Ok(Self {
            client,
            room: room.to_owned(),
            participant: participant.to_owned(),
        })
    }

    fn participants<'a>(&'a self, session: Option<&'a str>) -> ParticipantsApi<'a> {
        let participants = self.client.participants();
        match session {
            Some(session) => participants.with_session(session),
            None => participants,
        }
    }

    /// `PUT` the registration; the hub answers with a fresh tunnel token.
    pub(crate) async fn register(
        &self,
        registration: &proto::ParticipantRegistration,
        session: Option<&str>,
    ) -> Result<proto::UpsertParticipantResponse, ClientError> {
        let upserted = self
            .participants(session)
            .upsert(&self.room, &self.participant, registration)
            .await?;
        Ok(upserted.envelope.data)
    }

    /// `POST …/heartbeat`.
    pub(crate) async fn heartbeat(
        &self,
        session: Option<&str>,
    ) -> Result<proto::HeartbeatResponse, ClientError> {
        let beat = self
            .participants(session)
            .heartbeat(&self.room, &self.participant)
            .await?;
        Ok(beat.data)
    }

    /// `DELETE` the participant, within [`LEAVE_TIMEOUT`].
    pub(crate) async fn leave(&self, session: Option<&str>) -> Result<(), ClientError> {
        self.participants(session)
            .with_timeout(LEAVE_TIMEOUT)
            .remove(&self.room, &self.participant)
            .await
            .map(drop)
    }
}

/// A failed management call in one line, as the session reports it (reconnection
/// reasons, heartbeat events, the close outcome): what failed, then the hub's words, or
/// the cause found on this side.
pub(crate) fn describe(error: &ClientError) -> String {
    let message = &error.message;
    match error.kind {
        ErrorKind::RoomNotFound => format!("room not found: {message}"),
        ErrorKind::ParticipantNotFound => format!("participant not found: {message}"),
        ErrorKind::InvalidPassword => format!("invalid password: {message}"),
        ErrorKind::InvalidRequest => match &error.hint {
            Some(hint) => format!("invalid request: {message} ({hint})"),
            None => format!("invalid request: {message}"),
        },
        ErrorKind::Conflict => format!("participant id in use: {message}"),
        ErrorKind::Unreachable => {
            format!("failed to reach hub: {}", error.cause().unwrap_or(message))
        }
        ErrorKind::InvalidResponse => {
            format!(
                "invalid response from hub: {}",
                error.cause().unwrap_or(message)
            )
        }
        // `Rejected`, and kinds this build does not know.
        _ => match &error.code {
            Some(code) => format!("hub answered {} {code}: {message}", error.status),
            None => format!("hub answered {}: {message}", error.status),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn error(kind: ErrorKind, status: u16, code: &str) -> ClientError {
        ClientError {
            kind,
            status,
            code: Some(proto::ErrorCode::parse(code)),
            message: "Said the hub.".into(),
            hint: Some("A hint.".into()),
            details: Some(json!({"cause": "Connection refused (os error 111)"})),
            request_id: None,
        }
    }

    #[test]
    fn failures_read_as_what_failed_and_why() {
        let cases = [
            (
                error(ErrorKind::RoomNotFound, 404, "ROOM_NOT_FOUND"),
                "room not found: Said the hub.",
            ),
            (
                error(ErrorKind::InvalidRequest, 400, "INVALID_REQUEST"),
                "invalid request: Said the hub. (A hint.)",
            ),
            (
                error(ErrorKind::Conflict, 409, "PARTICIPANT_CONFLICT"),
                "participant id in use: Said the hub.",
            ),
            (
                error(ErrorKind::Unreachable, 503, "INTERNAL_ERROR"),
                "failed to reach hub: Connection refused (os error 111)",
            ),
            (
                error(ErrorKind::Rejected, 503, "INTERNAL_ERROR"),
                "hub answered 503 INTERNAL_ERROR: Said the hub.",
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(describe(&error), expected);
        }
    }

    #[test]
    fn a_hub_url_with_a_query_still_makes_a_membership() {
        let hub = Url::parse("http://127.0.0.1:3000/gambi/?x=1#top").expect("url");
        assert!(Membership::new(reqwest::Client::new(), &hub, "ABC123", "alice").is_ok());
    }
}
