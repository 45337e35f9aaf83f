//! Failures that end a command, and the exit code each one gives.

use std::fmt;
use std::process::ExitCode;

use gambi_client::ClientError;

/// The exit codes of `gambi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// 0: success.
    Ok = 0,
    /// 1: anything unexpected (including hub statuses not listed below).
    Unexpected = 1,
    /// 2: bad usage or invalid input: bad flags, an invalid config, hub 400/422.
    Usage = 2,
    /// 3: a dependency failed: hub unreachable, hub 401/403/503, port or database
    /// unavailable.
    Unavailable = 3,
    /// 4: the hub rejected the request: 404/409.
    Rejected = 4,
}

impl Exit {
    /// The exit code for a hub answer (or a synthetic client status) of `status`.
    pub(crate) fn from_status(status: u16) -> Self {
        match status {
            400 | 422 => Self::Usage,
            401 | 403 | 503 => Self::Unavailable,
            404 | 409 => Self::Rejected,
            _ => Self::Unexpected,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit as u8)
    }
}

/// A failure with what to tell the user and how to exit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CliError {
    /// The exit code.
    pub(crate) exit: Exit,
    /// `Error: <message>`.
    pub(crate) message: String,
    /// `Hint: <hint>`.
    pub(crate) hint: Option<String>,
    /// `request_id: <id>`, for failures the hub reported.
    pub(crate) request_id: Option<String>,
}

impl CliError {
    /// A failure with `exit`, `message` and `hint`.
    pub(crate) fn new(exit: Exit, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            hint: Some(hint.into()),
            request_id: None,
        }
    }

    /// Exit 2: the user asked for something invalid.
    pub(crate) fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message, hint)
    }

    /// Exit 3: something the command depends on is not available.
    pub(crate) fn unavailable(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::new(Exit::Unavailable, message, hint)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<ClientError> for CliError {
    fn from(error: ClientError) -> Self {
        Self {
            exit: Exit::from_status(error.status),
            message: error.message,
            hint: error.hint,
            request_id: error.request_id,
        }
    }
}

impl From<gambi_client::NewClientError> for CliError {
    fn from(error: gambi_client::NewClientError) -> Self {
        match error {
            gambi_client::NewClientError::InvalidHubUrl { .. } => Self::usage(
                error.to_string(),
                "Pass --hub (or GAMBI_HUB_URL) an http(s) URL such as http://localhost:3000.",
            ),
            gambi_client::NewClientError::Http(_) => Self {
                exit: Exit::Unexpected,
                message: error.to_string(),
                hint: None,
                request_id: None,
            },
        }
    }
}

/// What a command's error means for the user: how to report it and how to exit.
///
/// Known failures ([`CliError`], [`ClientError`]) keep their exit code and hint; a closed
/// stdout (the reader of a pipe went away) ends the command quietly with success; anything
/// else is unexpected (exit 1), reported with its whole context chain.
pub(crate) fn classify(error: &anyhow::Error) -> Option<CliError> {
    if let Some(error) = error.downcast_ref::<CliError>() {
        return Some(error.clone());
    }
    if let Some(error) = error.downcast_ref::<ClientError>() {
        return Some(error.clone().into());
    }
    let broken_pipe = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return None;
    }
    Some(CliError {
        exit: Exit::Unexpected,
        message: format!("{error:#}"),
        hint: None,
        request_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_exit_codes() {
        let cases = [
            (400, Exit::Usage),
            (422, Exit::Usage),
            (401, Exit::Unavailable),
            (403, Exit::Unavailable),
            (503, Exit::Unavailable),
            (404, Exit::Rejected),
            (409, Exit::Rejected),
            (500, Exit::Unexpected),
            (502, Exit::Unexpected),
            (413, Exit::Unexpected),
        ];
        for (status, exit) in cases {
            assert_eq!(Exit::from_status(status), exit, "{status}");
        }
    }

    #[test]
    fn errors_are_classified() {
        let client = ClientError {
            kind: gambi_client::ErrorKind::RoomNotFound,
            status: 404,
            code: None,
            message: "Room not found.".into(),
            hint: Some("h".into()),
            details: None,
            request_id: Some("r".into()),
        };
        let classified = classify(&anyhow::Error::new(client)).expect("reported");
        assert_eq!(classified.exit, Exit::Rejected);
        assert_eq!(classified.request_id.as_deref(), Some("r"));

        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert_eq!(classify(&anyhow::Error::new(pipe)), None);

        let other = anyhow::anyhow!("disk on fire").context("Could not save");
        let classified = classify(&other).expect("reported");
        assert_eq!(classified.exit, Exit::Unexpected);
        assert_eq!(classified.message, "Could not save: disk on fire");
    }
}
