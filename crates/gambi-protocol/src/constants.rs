//! Protocol constants: intervals, timeouts, defaults and tunnel close codes.
//!
//! The values are the original system's, so that runtimes of either implementation keep
//! each other alive; `SSE_KEEP_ALIVE` is ours (the original sent none).

use std::time::Duration;

/// Period of the hub's liveness sweep, of participant heartbeats and of tunnel pings.
pub const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// A participant without a heartbeat for this long goes `offline`; a tunnel silent for
/// this long is closed by the hub.
pub const PARTICIPANT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a tunnel bootstrap token stays valid after the registration that minted it.
pub const TUNNEL_TOKEN_TTL: Duration = Duration::from_secs(60);

/// Timeout of each HTTP call made while probing a provider endpoint.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest silence on a room event stream before the hub writes a keep-alive comment.
pub const SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Header carrying a participant's session credential (the `sessionToken` of its
/// registration), which proves ownership of its id while its tunnel is live.
pub const SESSION_HEADER: &str = "x-gambi-session";

/// Port the hub listens on by default.
pub const DEFAULT_HUB_PORT: u16 = 3000;

/// Address the hub binds by default (every interface: the hub serves a LAN).
pub const DEFAULT_HUB_HOST: &str = "0.0.0.0";

/// Hub URL clients use when none is configured.
pub const DEFAULT_HUB_URL: &str = "http://localhost:3000";

/// Provider endpoint `participant join` uses when none is given (Ollama's default).
pub const DEFAULT_PROVIDER_ENDPOINT: &str = "http://localhost:11434";

/// Length of a room code.
pub const ROOM_CODE_LEN: usize = 6;

/// Slots a participant gets when its registration declares none (the original's behaviour).
pub const DEFAULT_MAX_CONCURRENCY: u32 = 1;

/// Upper bound on the slots one participant may declare.
pub const MAX_CONCURRENCY_LIMIT: u32 = 1024;

/// A WebSocket close frame the hub sends to a participant tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseReason {
    /// The close code.
    pub code: u16,
    /// The human-readable reason.
    pub reason: &'static str,
}

/// Sent when a tunnel has been silent for [`PARTICIPANT_TIMEOUT`].
pub const CLOSE_TIMEOUT: CloseReason = CloseReason {
    code: 4001,
    reason: "Tunnel heartbeat timed out.",
};

/// Sent to the older tunnel when the same participant connects again.
pub const CLOSE_SUPERSEDED: CloseReason = CloseReason {
    code: 1000,
    reason: "Superseded by a newer tunnel session.",
};

/// Sent to every tunnel when the hub shuts down. The original hub sends it; a runtime
/// reconnects when the hub is back.
pub const CLOSE_SHUTDOWN: CloseReason = CloseReason {
    code: 1001,
    reason: "Hub shutting down.",
};

/// Sent to every tunnel when the hub stops on a signal, meaning to come back (WebSocket's
/// "service restart"): our runtime reconnects at once, without backing off.
pub const CLOSE_RESTART: CloseReason = CloseReason {
    code: 1012,
    reason: "Hub restarting; reconnect soon.",
};

/// Sent when a participant sends a message larger than the hub accepts (WebSocket's
/// "message too big").
pub const CLOSE_TOO_BIG: CloseReason = CloseReason {
    code: 1009,
    reason: "Message too big.",
};

/// The largest `tunnel.request` message a hub sends: a runtime of the original protocol
/// accepts WebSocket messages up to 16 MiB, so a request that does not fit is refused with
/// `413` instead of breaking the tunnel it would have gone down.
pub const MAX_TUNNEL_REQUEST: usize = 16 * 1024 * 1024;

/// Sent when the participant was removed from its room while its tunnel was open.
pub const CLOSE_REMOVED: CloseReason = CloseReason {
    code: 4004,
    reason: "Participant removed from the room.",
};
