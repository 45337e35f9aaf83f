//! The session's lifecycle as the user sees it: text lines on a terminal, NDJSON
//! lifecycle events otherwise (see the table in the command's docs).

use gambi_participant::{CloseOutcome, CloseReason, SessionEvent};
use serde_json::json;
use tokio::sync::mpsc;

use super::plan::Plan;
use crate::error::{CliError, Exit};
use crate::output::Output;

/// Prints the events that were still queued when the session ended.
pub(super) fn drain(
    events: &mut mpsc::Receiver<SessionEvent>,
    printer: &mut Printer<'_>,
) -> anyhow::Result<()> {
    while let Ok(event) = events.try_recv() {
        printer.event(&event)?;
    }
    Ok(())
}

/// Turns session events into text lines or NDJSON lifecycle events.
pub(super) struct Printer<'a> {
    out: Output,
    plan: &'a Plan,
    registrations: u32,
    connections: u32,
}

impl<'a> Printer<'a> {
    pub(super) fn new(out: Output, plan: &'a Plan) -> Self {
        Self {
            out,
            plan,
            registrations: 0,
            connections: 0,
        }
    }

    pub(super) fn event(&mut self, event: &SessionEvent) -> anyhow::Result<()> {
        let (out, plan) = (self.out, self.plan);
        let room = &plan.room;
        match event {
            SessionEvent::Registered(registration) => {
                self.registrations += 1;
                if !out.is_text() {
                    out.event(
                        "registered",
                        &json!({
                            "participant": registration.participant,
                            "roomId": registration.room_id,
                            "tunnel": { "url": registration.tunnel_url },
                        }),
                    )?;
                } else if self.registrations == 1 {
                    let participant = &registration.participant;
                    out.line(&format!(
                        "Joined room {room} as {} ({} via {}).",
                        participant.nickname, participant.model, participant.endpoint
                    ))?;
                } else {
                    out.line(&format!("Registered again with room {room}."))?;
                }
            }
            SessionEvent::TunnelConnected => {
                self.connections += 1;
                if !out.is_text() {
                    out.event("tunnel_connected", &plan.who())?;
                } else if self.connections == 1 {
                    out.line("Tunnel connected; serving requests.")?;
                    out.note("Press Ctrl+C to leave.")?;
                } else {
                    out.line("Reconnected; serving requests again.")?;
                }
            }
            SessionEvent::TunnelLost { message } => {
                if out.is_text() {
                    out.line(&format!("Lost the tunnel: {message}"))?;
                } else {
                    out.event("tunnel_lost", &plan.who_and(json!({ "message": message })))?;
                }
            }
            SessionEvent::Unregistered { message } => {
                if out.is_text() {
                    out.line(&format!(
                        "The hub no longer has this participant ({message}); registering again."
                    ))?;
                } else {
                    out.event("unregistered", &plan.who_and(json!({ "message": message })))?;
                }
            }
            SessionEvent::Reconnecting {
                attempt,
                delay,
                reason,
            } => {
                if out.is_text() {
                    out.line(&format!(
                        "Reconnecting in {:.1} s (attempt {attempt}): {reason}",
                        delay.as_secs_f64()
                    ))?;
                } else {
                    let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                    out.event(
                        "reconnecting",
                        &plan.who_and(json!({
                            "attempt": attempt,
                            "delayMs": delay_ms,
                            "reason": reason,
                        })),
                    )?;
                }
            }
            SessionEvent::HeartbeatFailed { message } => {
                if out.is_text() {
                    out.line(&format!(
                        "A heartbeat failed ({message}); the next one is sent on schedule."
                    ))?;
                } else {
                    out.event(
                        "heartbeat_missed",
                        &plan.who_and(json!({ "message": message })),
                    )?;
                }
            }
            // The command announces leaving and leaving itself: it knows the signal.
            SessionEvent::Leaving | SessionEvent::Left => {}
            other => {
                tracing::debug!(kind = other.kind(), "participant session event");
            }
        }
        Ok(())
    }

    pub(super) fn leaving(&self, signal: &str) -> std::io::Result<()> {
        if self.out.is_text() {
            self.out
                .note(&format!("Leaving room {} ({signal})...", self.plan.room))
        } else {
            self.out
                .event("leaving", &self.plan.who_and(json!({ "signal": signal })))
        }
    }

    pub(super) fn left(&self) -> anyhow::Result<()> {
        if self.out.is_text() {
            self.out.line(&format!("Left room {}.", self.plan.room))?;
        } else {
            self.out.event("left", &self.plan.who())?;
        }
        Ok(())
    }

    /// Reports how the session ended: `left` after a clean close, otherwise the failure
    /// event and an exit-3 error.
    pub(super) fn finish(&self, outcome: CloseOutcome) -> anyhow::Result<()> {
        let kind = match outcome.reason {
            CloseReason::Closed => {
                return match outcome.error {
                    None => self.left(),
                    Some(error) => Err(CliError {
                        exit: Exit::Unexpected,
                        message: format!("The participant session failed: {error}."),
                        hint: None,
                        request_id: None,
                    }
                    .into()),
                };
            }
            CloseReason::HeartbeatFailed => "heartbeat_failed",
            CloseReason::TunnelClosed => "tunnel_failed",
        };
        let message = outcome
            .error
            .unwrap_or_else(|| "Participant session closed.".to_owned());
        if !self.out.is_text() {
            self.out.event(
                kind,
                &self.plan.who_and(json!({
                    "reason": outcome.reason.as_str(),
                    "message": message,
                })),
            )?;
        }
        let hint = if self.plan.reconnect {
            "Reconnecting cannot fix this; fix the cause and join again."
        } else {
            "Join again, or drop --no-reconnect to reconnect automatically."
        };
        Err(CliError::unavailable(sentence_case(&message), hint).into())
    }
}

/// `message` with its first letter upper-cased, for `Error: <message>`.
fn sentence_case(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences() {
        assert_eq!(
            sentence_case("hub closed the tunnel"),
            "Hub closed the tunnel"
        );
        assert_eq!(sentence_case("Already"), "Already");
        assert_eq!(sentence_case("émoi"), "Émoi");
        assert_eq!(sentence_case(""), "");
    }
}
