//! The established sessions: one OSCORE security context per device, found by the `kid` of its
//! requests (the server's Recipient ID, which is the C_R it chose in the handshake).
//!
//! One session per device: a new handshake replaces the device's old session. The table is
//! bounded ([`Limits::max_sessions`](super::Limits), least recently used dropped first) and
//! sessions idle for [`Limits::session_idle_timeout`](super::Limits) are dropped; a device
//! whose session is gone gets "Security context not found" and runs a new handshake.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::HashMap;
use std::time::Instant;

use ferrule_proto::oscore::{OscoreId, SecurityContext};

/// One device's session.
#[derive(Debug)]
pub(crate) struct Session {
    /// The device's registered name.
    pub(crate) device: String,
    /// The kid of the device's credential.
    pub(crate) kid: Vec<u8>,
    /// The OSCORE context (Sender ID C_I, Recipient ID C_R).
    pub(crate) context: SecurityContext,
    /// The device's address when it last sent.
    pub(crate) peer: SocketAddr,
    /// When the device last sent a request that verified.
    pub(crate) last_seen: Instant,
    /// When "last seen" was last written to the registry.
    pub(crate) last_touch: Instant,
    /// The registry generation at which the device was last known to be active.
    pub(crate) checked_generation: u64,
}

/// The session table; see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Sessions {
    by_id: HashMap<OscoreId, Session>,
    by_device: HashMap<String, OscoreId>,
    capacity: usize,
    idle_timeout: Duration,
}

impl Sessions {
    pub(crate) fn new(capacity: usize, idle_timeout: Duration) -> Self {
        Self {
            by_id: HashMap::new(),
            by_device: HashMap::new(),
            capacity: capacity.max(1),
            idle_timeout,
        }
    }

    /// Adds a session under its Recipient ID, replacing the device's previous session and,
    /// if the table is full, dropping the least recently used one (whose device is returned).
    pub(crate) fn insert(&mut self, session: Session) -> Option<String> {
        let id = *session.context.recipient_id();
        self.remove_device(&session.device);
        let mut evicted = None;
        if self.by_id.len() >= self.capacity {
            let oldest = self
                .by_id
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(id, _)| *id);
            if let Some(s) = oldest.and_then(|id| self.remove(&id)) {
                evicted = Some(s.device);
            }
        }
        self.by_device.insert(session.device.clone(), id);
        self.by_id.insert(id, session);
        evicted
    }

    /// The session whose Recipient ID is `kid`.
    pub(crate) fn get_mut(&mut self, kid: &[u8]) -> Option<&mut Session> {
        let id = OscoreId::new(kid).ok()?;
        self.by_id.get_mut(&id)
    }

    /// Whether a session uses `id` as its Recipient ID.
    pub(crate) fn contains(&self, id: &[u8]) -> bool {
        OscoreId::new(id).is_ok_and(|id| self.by_id.contains_key(&id))
    }

    /// Drops the session with this Recipient ID.
    pub(crate) fn remove(&mut self, id: &OscoreId) -> Option<Session> {
        let session = self.by_id.remove(id)?;
        if self.by_device.get(&session.device) == Some(id) {
            self.by_device.remove(&session.device);
        }
        Some(session)
    }

    /// Drops the device's session; returns whether it had one.
    pub(crate) fn remove_device(&mut self, device: &str) -> bool {
        match self.by_device.remove(device) {
            Some(id) => self.by_id.remove(&id).is_some(),
            None => false,
        }
    }

    /// Drops the sessions idle for longer than the idle timeout; returns how many.
    pub(crate) fn purge_idle(&mut self, now: Instant) -> usize {
        let timeout = self.idle_timeout;
        let idle: Vec<OscoreId> = self
            .by_id
            .iter()
            .filter(|(_, s)| now.duration_since(s.last_seen) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in &idle {
            self.remove(id);
        }
        idle.len()
    }

    /// The devices that have a session, with their session's last activity.
    pub(crate) fn devices(&self) -> impl Iterator<Item = &Session> {
        self.by_id.values()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DESIGN.md budgets 512 bytes per established session. The entry itself (context,
    /// names, times) stays well under it; the two map entries and the device's name and kid on
    /// the heap add about 100 more.
    #[test]
    fn a_session_fits_the_memory_budget() {
        let entry = core::mem::size_of::<(OscoreId, Session)>();
        println!("session entry: {entry} bytes");
        assert!(entry <= 384, "{entry} bytes");
    }
}
