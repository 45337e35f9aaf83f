//! Participant tunnels: bootstrap tokens and the session actor that owns each socket.
//!
//! A participant registers over HTTP, receives a single-use token, and opens a WebSocket
//! with it. From then on the socket belongs to one task (the session actor, in
//! [`session`]); everyone else holds a cloneable [`TunnelHandle`] to send requests down
//! the tunnel and receive their response events.

pub mod session;
pub mod token;

pub use session::{
    ResponseStream, SessionContext, TunnelError, TunnelEvent, TunnelFailure, TunnelHandle,
};
pub use token::{TokenError, TokenStore};
