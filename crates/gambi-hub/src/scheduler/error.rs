//! Why the scheduler could not give a request a lease.

use std::time::Duration;

use gambi_protocol as proto;

/// What a request's selector asked for, as the scheduler understood it when it gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// Any participant (`*` or `any`).
    Any,
    /// A participant serving this model (`model:<name>`, or a plain name that is no
    /// participant's id but is some participant's model).
    Model(String),
    /// This participant (a plain string that is a registered participant's id).
    Participant(String),
    /// A plain string that is neither a registered participant's id nor a served model.
    ParticipantOrModel(String),
}

/// Why [`Scheduler::acquire`](super::Scheduler::acquire) returned no lease.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// No registered participant could ever serve the request (the hub answers 404).
    #[error("{}", no_match_message(wanted, *excluded))]
    NoMatch {
        /// What was asked for.
        wanted: Wanted,
        /// True when matching participants are registered but all of them were excluded
        /// (a failover that ran out of candidates), false when none is registered at all.
        excluded: bool,
    },
    /// Participants that could serve the request are registered, but none is connected or
    /// reconnecting (the hub answers 503 for a participant, 404 for a model, as the
    /// original does).
    #[error("{}", offline_message(wanted))]
    Offline {
        /// What was asked for.
        wanted: Wanted,
    },
    /// The request would have to wait and the room's queue is full (the hub answers 503).
    #[error("all participants are busy and the queue is full; retry in {}s", retry_after.as_secs())]
    QueueFull {
        /// When a retry has a fair chance, in whole seconds (for `Retry-After`).
        retry_after: Duration,
    },
    /// The request waited for the configured queue timeout without getting a slot.
    #[error("no participant became free within {}s", waited.as_secs())]
    QueueTimeout {
        /// How long it waited.
        waited: Duration,
    },
    /// The room's scheduler was closed (the room is being deleted).
    #[error("the room is closing")]
    Closed,
}

impl ScheduleError {
    /// The machine-readable error code for the response.
    pub fn code(&self) -> proto::ErrorCode {
        match self {
            Self::NoMatch {
                wanted: Wanted::Participant(_),
                ..
            } => proto::ErrorCode::ParticipantNotFound,
            Self::NoMatch { .. } => proto::ErrorCode::ModelNotFound,
            Self::Offline {
                wanted: Wanted::Participant(_),
            } => proto::ErrorCode::ParticipantTunnelNotConnected,
            Self::Offline { .. } => proto::ErrorCode::NoParticipantOnline,
            Self::QueueFull { .. } => proto::ErrorCode::QueueFull,
            Self::QueueTimeout { .. } => proto::ErrorCode::QueueTimeout,
            Self::Closed => proto::ErrorCode::RoomNotFound,
        }
    }
}

fn offline_message(wanted: &Wanted) -> String {
    match wanted {
        Wanted::Any => "no participant in this room is online".into(),
        Wanted::Model(name) | Wanted::ParticipantOrModel(name) => {
            format!("no participant online for model '{name}'")
        }
        Wanted::Participant(id) => format!("participant '{id}' is not connected"),
    }
}

fn no_match_message(wanted: &Wanted, excluded: bool) -> String {
    match (wanted, excluded) {
        (Wanted::Any, false) => "there are no participants in this room".into(),
        (Wanted::Any, true) => "every participant in this room already failed this request".into(),
        (Wanted::Model(name), false) => format!("model '{name}' is not served in this room"),
        (Wanted::Model(name), true) => {
            format!("every participant serving model '{name}' already failed this request")
        }
        (Wanted::Participant(id), false) => format!("participant '{id}' is not in this room"),
        (Wanted::Participant(id), true) => {
            format!("participant '{id}' already failed this request")
        }
        (Wanted::ParticipantOrModel(name), _) => {
            format!("no participant or model named '{name}' in this room")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_was_asked_for() {
        let check = |wanted: Wanted, excluded: bool, expected: &str| {
            let error = ScheduleError::NoMatch { wanted, excluded };
            assert_eq!(error.to_string(), expected);
        };
        check(Wanted::Any, false, "there are no participants in this room");
        check(
            Wanted::Any,
            true,
            "every participant in this room already failed this request",
        );
        check(
            Wanted::Model("llama3".into()),
            false,
            "model 'llama3' is not served in this room",
        );
        check(
            Wanted::Participant("alice".into()),
            true,
            "participant 'alice' already failed this request",
        );
        check(
            Wanted::Model("llama3".into()),
            true,
            "every participant serving model 'llama3' already failed this request",
        );
        check(
            Wanted::ParticipantOrModel("x".into()),
            false,
            "no participant or model named 'x' in this room",
        );
        assert_eq!(
            ScheduleError::QueueFull {
                retry_after: Duration::from_secs(3)
            }
            .to_string(),
            "all participants are busy and the queue is full; retry in 3s"
        );
    }

    #[test]
    fn codes() {
        let no_match = |wanted| ScheduleError::NoMatch {
            wanted,
            excluded: false,
        };
        let cases = [
            (no_match(Wanted::Any), proto::ErrorCode::ModelNotFound),
            (
                no_match(Wanted::Participant("a".into())),
                proto::ErrorCode::ParticipantNotFound,
            ),
            (
                no_match(Wanted::ParticipantOrModel("a".into())),
                proto::ErrorCode::ModelNotFound,
            ),
            (
                ScheduleError::QueueTimeout {
                    waited: Duration::from_secs(60),
                },
                proto::ErrorCode::QueueTimeout,
            ),
            (ScheduleError::Closed, proto::ErrorCode::RoomNotFound),
            (
                ScheduleError::Offline {
                    wanted: Wanted::Participant("a".into()),
                },
                proto::ErrorCode::ParticipantTunnelNotConnected,
            ),
            (
                ScheduleError::Offline {
                    wanted: Wanted::Model("m".into()),
                },
                proto::ErrorCode::NoParticipantOnline,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(error.code(), code, "{error:?}");
        }
    }
}
