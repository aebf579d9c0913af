//! Messages from the rest of the server (the admin API) to the endpoint, which owns the
//! session table.

use core::net::SocketAddr;
use std::time::SystemTime;

use tokio::sync::oneshot;

/// A request to the endpoint.
#[derive(Debug)]
pub(crate) enum Control {
    /// Drop the device's session at once (it was revoked); answers whether it had one.
    DropDevice(String, oneshot::Sender<bool>),
    /// List the established sessions.
    Sessions(oneshot::Sender<Vec<SessionSummary>>),
}

/// What the admin API shows of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    /// The device's name.
    pub device: String,
    /// The device's address when it last sent.
    pub peer: SocketAddr,
    /// When the device last sent a request that verified (or completed its handshake).
    pub last_seen: SystemTime,
}
