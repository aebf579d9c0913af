//! EDHOC handshakes waiting for message_3, by the C_R the server chose (RFC 9528 Appendix A.2:
//! the device prefixes message_3 with C_R; in a combined request C_R is the OSCORE `kid`).
//!
//! Each waits at most [`Limits::handshake_timeout`](super::Limits); at most
//! [`Limits::max_pending_handshakes`](super::Limits) wait at once, and a new one beyond that
//! pushes the oldest out. A state holds keys and hashes only (under 200 bytes).

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use ferrule_proto::edhoc::{ConnectionId, ResponderWaitM3};

/// A handshake that sent message_2.
pub(crate) struct Pending<'a> {
    pub(crate) state: ResponderWaitM3<'a>,
    pub(crate) peer: SocketAddr,
    started: Instant,
}

/// The handshakes waiting for message_3; see the [module documentation](self).
pub(crate) struct PendingHandshakes<'a> {
    map: HashMap<ConnectionId, Pending<'a>>,
    order: VecDeque<(Instant, ConnectionId)>,
    timeout: Duration,
    capacity: usize,
}

impl<'a> PendingHandshakes<'a> {
    pub(crate) fn new(timeout: Duration, capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            timeout,
            capacity: capacity.max(1),
        }
    }

    /// Adds a handshake; returns the peer of the one pushed out to make room, if any.
    pub(crate) fn insert(
        &mut self,
        c_r: ConnectionId,
        state: ResponderWaitM3<'a>,
        peer: SocketAddr,
        now: Instant,
    ) -> Option<SocketAddr> {
        self.purge(now);
        let mut evicted = None;
        while self.map.len() >= self.capacity {
            let Some((started, old)) = self.order.pop_front() else {
                break;
            };
            if let Some(p) = self.remove_if(old, started) {
                evicted = Some(p.peer);
            }
        }
        self.map.insert(
            c_r,
            Pending {
                state,
                peer,
                started: now,
            },
        );
        self.order.push_back((now, c_r));
        evicted
    }

    /// Takes the handshake waiting under `c_r`, unless it timed out.
    pub(crate) fn take(&mut self, c_r: &ConnectionId, now: Instant) -> Option<Pending<'a>> {
        let pending = self.map.remove(c_r)?;
        (now.duration_since(pending.started) < self.timeout).then_some(pending)
    }

    /// Whether a handshake waits under `c_r`.
    pub(crate) fn contains(&self, c_r: &ConnectionId) -> bool {
        self.map.contains_key(c_r)
    }

    /// Drops the handshakes that timed out.
    pub(crate) fn purge(&mut self, now: Instant) {
        while let Some(&(started, c_r)) = self.order.front() {
            if now.duration_since(started) < self.timeout {
                break;
            }
            self.order.pop_front();
            self.remove_if(c_r, started);
        }
    }

    fn remove_if(&mut self, c_r: ConnectionId, started: Instant) -> Option<Pending<'a>> {
        if self.map.get(&c_r).is_some_and(|p| p.started == started) {
            self.map.remove(&c_r)
        } else {
            None
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
