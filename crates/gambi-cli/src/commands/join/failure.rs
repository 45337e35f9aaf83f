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
    use gambi_participant::ProbeResult;
    use gambi_protocol as proto;

    use super::*;

    fn probe(models: &[&str], reachable: bool, rejected: bool) -> ProbeResult {
        ProbeResult {
            models: models.iter().map(|model| (*model).to_owned()).collect(),
            capabilities: proto::ParticipantCapabilities::default(),
            reachable,
            auth_rejections: if rejected {
                vec![gambi_participant::AuthRejection {
                    path: "/v1/models",
                    status: 401,
                }]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn model_checks() {
        let endpoint = "http://localhost:11434";
        let check = |probe: ProbeResult| probe.check_model("llama3", endpoint).map_err(model_error);
        assert_eq!(
            check(probe(&["llama3:latest"], true, false)),
            Ok("llama3:latest".to_owned())
        );
        let error = check(probe(&["a", "b"], true, false)).expect_err("absent");
        assert_eq!(error.exit, Exit::Unavailable);
        assert_eq!(
            error.message,
            "Model 'llama3' not found on http://localhost:11434."
        );
        assert_eq!(error.hint.as_deref(), Some("available models: a, b"));
        let error = check(probe(&[], true, true)).expect_err("refused");
        assert_eq!(
            error.message,
            "The provider at http://localhost:11434 refused the credentials (HTTP 401 on /v1/models)."
        );
        let error = check(probe(&[], false, false)).expect_err("unreachable");
        assert_eq!(
            error.message,
            "Could not reach the provider at http://localhost:11434."
        );
        let error = check(probe(&[], true, false)).expect_err("empty");
        assert_eq!(error.exit, Exit::Unavailable);
        assert!(error.message.starts_with("Model 'llama3' not found"));
        let error = probe(&[], true, false)
            .check_model("m", "http://h:1/v1")
            .map_err(model_error)
            .expect_err("/v1");
        assert!(
            error
                .hint
                .unwrap_or_default()
                .contains("drop the trailing /v1"),
            "a base URL ending in /v1 is the usual mistake"
        );
    }
}
