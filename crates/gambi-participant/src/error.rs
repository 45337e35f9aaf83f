//! Why a session could not start, or a reconnection attempt failed: [`StartError`].

use gambi_client::ClientError;

use crate::membership::describe;
use crate::probe::ModelUnavailable;
use crate::provider::ProviderSetupError;

/// Why [`crate::ParticipantSession::start`] failed (and why a reconnection attempt did).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The options are inconsistent.
    #[error("invalid session options: {0}")]
    InvalidOptions(String),
    /// The endpoint or HTTP client could not be set up.
    #[error(transparent)]
    ProviderSetup(#[from] ProviderSetupError),
    /// The provider cannot serve the model: it does not list it, refused the
    /// credentials, or did not answer.
    #[error(transparent)]
    Model(#[from] ModelUnavailable),
    /// The hub refused the registration or could not be reached; [`ClientError::kind`]
    /// says which.
    #[error("{}", describe(.0))]
    Hub(Box<ClientError>),
    /// The tunnel could not be opened.
    #[error("failed to open participant tunnel: {0}")]
    Tunnel(String),
    /// The shutdown token was cancelled before the session started.
    #[error("cancelled before the session started")]
    Cancelled,
}

impl From<ClientError> for StartError {
    fn from(error: ClientError) -> Self {
        Self::Hub(Box::new(error))
    }
}

impl StartError {
    /// True when trying again later cannot help.
    pub(crate) fn is_fatal(&self) -> bool {
        match self {
            Self::Hub(error) => error.is_fatal(),
            Self::Model(ModelUnavailable::Unreachable { .. })
            | Self::Tunnel(_)
            | Self::Cancelled => false,
            Self::InvalidOptions(_) | Self::ProviderSetup(_) | Self::Model(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use gambi_client::ErrorKind;

    use super::*;

    fn hub(kind: ErrorKind) -> StartError {
        StartError::from(ClientError {
            kind,
            status: 404,
            code: None,
            message: "x".into(),
            hint: None,
            details: None,
            request_id: None,
        })
    }

    #[test]
    fn fatal_start_errors() {
        let not_found = ModelUnavailable::NotFound {
            model: "m".into(),
            endpoint: "e".into(),
            available: vec![],
        };
        let cases = [
            (StartError::Model(not_found), true),
            (
                StartError::Model(ModelUnavailable::Unreachable {
                    endpoint: "e".into(),
                }),
                false,
            ),
            (hub(ErrorKind::Unreachable), false),
            (hub(ErrorKind::RoomNotFound), true),
            (hub(ErrorKind::ParticipantNotFound), false),
            (StartError::Tunnel("x".into()), false),
            (StartError::InvalidOptions("x".into()), true),
        ];
        for (error, fatal) in cases {
            assert_eq!(error.is_fatal(), fatal, "{error:?}");
        }
    }

    #[test]
    fn hub_errors_read_as_the_runtime_reports_them() {
        assert_eq!(
            hub(ErrorKind::RoomNotFound).to_string(),
            "room not found: x"
        );
    }
}
