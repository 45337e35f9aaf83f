//! Participant tunnels: bootstrap tokens and the session actor that owns each socket.
//!
//! A participant registers over HTTP, receives a single-use token, and opens a WebSocket
//! with it. From then on the socket belongs to one task (the session actor, in
//! [`session`]); everyone else holds a cloneable [`TunnelHandle`] to send requests down
//! the tunnel and read their responses ([`ResponseStream`], fed through a per-request
//! buffer bounded in bytes, [`inbound`]).

mod event;
mod inbound;
pub mod session;
mod stream;
pub mod token;

pub use event::{Timeouts, TunnelError, TunnelEvent, TunnelFailure};
pub use inbound::BufferGauge;
pub use session::{SessionContext, TunnelHandle};
pub use stream::ResponseStream;
pub use token::{TokenError, TokenStore};
