//! What a failed join tells the user, and how the command exits: the model check, the
//! provider setup, and a start the hub refused or could not receive.

use gambi_participant::{ClientError, ErrorKind, ModelUnavailable, ProviderSetupError, StartError};

use super::plan::Plan;
use crate::error::{CliError, Exit};

/// Why the provider cannot serve the model, for the user (exit 3).
pub(super) fn model_error(error: ModelUnavailable) -> CliError {
    match error {
        ModelUnavailable::NotFound {
            model,
            endpoint,
            available,
        } => {
            let hint = if !available.is_empty() {
                format!("available models: {}", available.join(", "))
            } else if endpoint.trim_end_matches('/').ends_with("/v1") {
                "the provider lists no models; drop the trailing /v1 from --endpoint (request \
                 paths already start with /v1)."
                    .to_owned()
            } else {
                "the provider lists no models (neither /api/tags nor /v1/models named any)."
                    .to_owned()
            };
            CliError::unavailable(format!("Model '{model}' not found on {endpoint}."), hint)
        }
        ModelUnavailable::AuthRejected {
            endpoint,
            path,
            status,
        } => CliError::unavailable(
            format!(
                "The provider at {endpoint} refused the credentials (HTTP {status} on {path})."
            ),
            "Pass the provider's credentials with --header or --header-env, \
             e.g. --header-env Authorization=OPENAI_AUTH.",
        ),
        ModelUnavailable::Unreachable { endpoint } => CliError::unavailable(
            format!("Could not reach the provider at {endpoint}."),
            "Start the provider, or pass --endpoint with its base URL (without /v1).",
        ),
    }
}

pub(super) fn setup_error(error: &ProviderSetupError) -> CliError {
    match error {
        ProviderSetupError::InvalidEndpoint(_) => CliError::usage(
            error.to_string(),
            "Pass --endpoint the provider's base URL without /v1, e.g. http://localhost:11434.",
        ),
        ProviderSetupError::Client(_) => CliError {
            exit: Exit::Unexpected,
            message: error.to_string(),
            hint: None,
            request_id: None,
        },
    }
}

/// Maps a failed start to a message and exit code. Causes the user can fix here get their
/// own hint; everything else is a connectivity failure (exit 3), as in the original.
pub(super) fn start_error(error: StartError, plan: &Plan) -> CliError {
    match error {
        StartError::Hub(error) => hub_error(*error, plan),
        StartError::Model(error) => model_error(error),
        StartError::Tunnel(detail) => CliError::unavailable(
            format!("Failed to open participant tunnel: {detail}"),
            "The hub accepted the registration but the WebSocket did not open; check any \
             proxy between here and the hub.",
        ),
        StartError::ProviderSetup(error) => setup_error(&error),
        error @ StartError::InvalidOptions(_) => CliError {
            exit: Exit::Usage,
            message: error.to_string(),
            hint: None,
            request_id: None,
        },
        error @ StartError::Cancelled => CliError {
            exit: Exit::Unexpected,
            message: error.to_string(),
            hint: None,
            request_id: None,
        },
    }
}

/// Maps a registration the hub refused, or could not receive.
fn hub_error(error: ClientError, plan: &Plan) -> CliError {
    let hub = plan.hub_text();
    match error.kind {
        ErrorKind::RoomNotFound => CliError::new(
            Exit::Rejected,
            error.message,
            format!("Check the room code; `gambi room list --hub {hub}` shows the hub's rooms."),
        ),
        ErrorKind::InvalidPassword => CliError::unavailable(
            error.message,
            if plan.password.is_some() {
                "The room password is wrong; pass the right one with --password."
            } else {
                "The room is password-protected; pass its password with --password."
            },
        ),
        ErrorKind::InvalidRequest => CliError {
            exit: Exit::Usage,
            message: error.message,
            hint: error.hint,
            request_id: None,
        },
        ErrorKind::Conflict => CliError::new(
            Exit::Rejected,
            error.message,
            "A live session already holds this participant id; choose another \
             --participant-id, or stop that session first.",
        ),
        ErrorKind::Unreachable => CliError::unavailable(
            format!(
                "Failed to reach hub at {hub}: {}",
                error.cause().unwrap_or(&error.message)
            ),
            "Check --hub (or the config file's hubUrl) and that the hub is running.",
        ),
        ErrorKind::InvalidResponse => CliError::unavailable(
            format!(
                "{}.",
                StartError::from(error).to_string().trim_end_matches('.')
            ),
            format!("Check that {hub} is a Gambi hub."),
        ),
        ErrorKind::ParticipantNotFound => {
            CliError::unavailable(StartError::from(error).to_string(), "Join again.")
        }
        // `Rejected`, and kinds this build does not know.
        _ => CliError {
            exit: match Exit::from_status(error.status) {
                Exit::Unexpected => Exit::Unavailable,
                exit => exit,
            },
            message: error.message,
            hint: None,
            request_id: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: &str = "http://localhost:11434";

    fn not_found(endpoint: &str, available: &[&str]) -> CliError {
        model_error(ModelUnavailable::NotFound {
            model: "llama3".into(),
            endpoint: endpoint.into(),
            available: available.iter().map(|model| (*model).to_owned()).collect(),
        })
    }

    #[test]
    fn model_errors() {
        let error = not_found(ENDPOINT, &["a", "b"]);
        assert_eq!(error.exit, Exit::Unavailable);
        assert_eq!(
            error.message,
            "Model 'llama3' not found on http://localhost:11434."
        );
        assert_eq!(error.hint.as_deref(), Some("available models: a, b"));
        let error = model_error(ModelUnavailable::AuthRejected {
            endpoint: ENDPOINT.into(),
            path: "/v1/models",
            status: 401,
        });
        assert_eq!(error.exit, Exit::Unavailable);
        assert_eq!(
            error.message,
            "The provider at http://localhost:11434 refused the credentials (HTTP 401 on /v1/models)."
        );
        let error = model_error(ModelUnavailable::Unreachable {
            endpoint: ENDPOINT.into(),
        });
        assert_eq!(
            error.message,
            "Could not reach the provider at http://localhost:11434."
        );
        let error = not_found(ENDPOINT, &[]);
        assert_eq!(error.exit, Exit::Unavailable);
        assert!(error.message.starts_with("Model 'llama3' not found"));
        assert!(
            error
                .hint
                .unwrap_or_default()
                .contains("neither /api/tags nor /v1/models")
        );
        let error = not_found("http://h:1/v1", &[]);
        assert!(
            error
                .hint
                .unwrap_or_default()
                .contains("drop the trailing /v1"),
            "a base URL ending in /v1 is the usual mistake"
        );
    }

    fn plan() -> Plan {
        Plan {
            hub_url: url::Url::parse("http://127.0.0.1:3000").expect("url"),
            room: "ABC123".into(),
            participant_id: "alice".into(),
            nickname: "Alice".into(),
            nickname_given: true,
            model: "llama3".into(),
            endpoint: url::Url::parse(ENDPOINT).expect("url"),
            password: None,
            config: None,
            auth_headers: gambi_participant::AuthHeaders::new(),
            share_specs: false,
            max_concurrency: std::num::NonZeroU32::MIN,
            reconnect: true,
        }
    }

    fn hub(kind: ErrorKind, status: u16) -> ClientError {
        ClientError {
            kind,
            status,
            code: None,
            message: "Said the hub.".into(),
            hint: Some("The hub's hint.".into()),
            details: Some(serde_json::json!({"cause": "Connection refused"})),
            request_id: Some("r".into()),
        }
    }

    #[test]
    fn hub_errors_map_to_exit_codes() {
        // (kind, status, exit, message)
        let cases = [
            (
                ErrorKind::RoomNotFound,
                404,
                Exit::Rejected,
                "Said the hub.",
            ),
            (
                ErrorKind::InvalidPassword,
                401,
                Exit::Unavailable,
                "Said the hub.",
            ),
            (ErrorKind::InvalidRequest, 400, Exit::Usage, "Said the hub."),
            (ErrorKind::Conflict, 409, Exit::Rejected, "Said the hub."),
            (
                ErrorKind::Unreachable,
                503,
                Exit::Unavailable,
                "Failed to reach hub at http://127.0.0.1:3000: Connection refused",
            ),
            (
                ErrorKind::InvalidResponse,
                502,
                Exit::Unavailable,
                "invalid response from hub: Connection refused.",
            ),
            (
                ErrorKind::ParticipantNotFound,
                404,
                Exit::Unavailable,
                "participant not found: Said the hub.",
            ),
            (ErrorKind::Rejected, 403, Exit::Unavailable, "Said the hub."),
            (ErrorKind::Rejected, 500, Exit::Unavailable, "Said the hub."),
            (ErrorKind::Rejected, 404, Exit::Rejected, "Said the hub."),
        ];
        for (kind, status, exit, message) in cases {
            let error = hub_error(hub(kind, status), &plan());
            assert_eq!(
                (error.exit, error.message.as_str()),
                (exit, message),
                "{kind:?}"
            );
        }
        let invalid = hub_error(hub(ErrorKind::InvalidRequest, 400), &plan());
        assert_eq!(invalid.hint.as_deref(), Some("The hub's hint."));
    }
}
