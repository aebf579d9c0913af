//! EDHOC handshakes waiting for message_3, by the C_R the server chose (RFC 9528 Appendix A.2:
//! the device prefixes message_3 with C_R; in a combined request C_R is the OSCORE `kid`).
//!
//! Each waits at most [`Limits::handshake_timeout`](super::Limits); at most
//! [`Limits::max_pending_handshakes`](super::Limits) wait at once, and a new one beyond that
//! pushes the oldest out. A state holds keys and hashes only (under 200 bytes).
//!
//! Memory: a completed handshake leaves its entry in the expiry queue; once such entries
//! outnumber the waiting handshakes they are dropped, and tables left less than a quarter full
//! give memory back, so a burst of handshakes does not keep its tables.

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
        self.compact();
    }

    /// Drops the queue entries of handshakes no longer waiting (taken, or replaced under the
    /// same C_R) once they outnumber the waiting ones, and gives memory back; amortized O(1).
    fn compact(&mut self) {
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order
                .retain(|(started, c_r)| map.get(c_r).is_some_and(|p| p.started == *started));
        }
        if self.order.len() < self.order.capacity() / 4 {
            self.order.shrink_to(self.order.len() * 2);
        }
        if self.map.len() < self.map.capacity() / 4 {
            self.map.shrink_to(self.map.len() * 2);
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

#[cfg(test)]
mod tests {
    use ferrule_crypto::{RustCrypto, SoftwareKey};
    use ferrule_proto::cose::{Ccs, CoseKey, KeyType};
    use ferrule_proto::edhoc::{
        CipherSuite, Credential, Initiator, InitiatorConfig, Method, Responder, ResponderConfig,
        SuiteList,
    };
    use rand_core::OsRng;

    use super::*;

    fn ccs(key: &SoftwareKey, kid: u8) -> Vec<u8> {
        let x = key.public_key();
        let mut buf = [0u8; 128];
        let ccs = Ccs {
            subject: Some("x"),
            key: CoseKey {
                key_type: KeyType::X25519,
                kid: Some(&[kid]),
                x: &x,
                y: None,
            },
        };
        let n = ccs.encode(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    /// Handshakes that complete leave nothing behind: the queue stays near the number of
    /// handshakes waiting, however many went through.
    #[test]
    fn completed_handshakes_do_not_accumulate() {
        let mut crypto = RustCrypto::from_os_rng();
        let (device_key, server_key) = (
            SoftwareKey::generate_x25519(&mut OsRng).unwrap(),
            SoftwareKey::generate_x25519(&mut OsRng).unwrap(),
        );
        let (device_ccs, server_ccs) = (ccs(&device_key, 1), ccs(&server_key, 2));
        let suites = SuiteList::from_suites(&[CipherSuite::Suite0]).unwrap();
        let device = Credential::ccs(&device_ccs).unwrap();
        let server = Credential::ccs(&server_ccs).unwrap();
        let i_config = InitiatorConfig {
            method: Method::StaticStatic,
            suites,
            c_i: ConnectionId::from_int(-24).unwrap(),
            key: &device_key,
            credential: device,
            id_cred: device.id_by_kid().unwrap(),
            known_ead: &[],
        };
        let r_config = ResponderConfig {
            methods: &[Method::StaticStatic],
            suites,
            key: &server_key,
            credential: server,
            id_cred: server.id_by_kid().unwrap(),
            known_ead: &[],
        };
        let peer: SocketAddr = "127.0.0.1:5683".parse().unwrap();
        let now = Instant::now();
        let mut pending = PendingHandshakes::new(Duration::from_secs(60), 4096);
        let (mut m1, mut m2) = ([0u8; 64], [0u8; 128]);
        for i in 0..400u16 {
            let (_, n1) = Initiator::new(&i_config)
                .unwrap()
                .write_message_1(&mut crypto, &[], &mut m1)
                .unwrap();
            let (got, _) = Responder::new(&r_config)
                .read_message_1(&mut crypto, &m1[..n1])
                .unwrap();
            let c_r = ConnectionId::new(&i.to_be_bytes()).unwrap();
            let (state, _) = got.write_message_2(&mut crypto, c_r, &[], &mut m2).unwrap();
            pending.insert(c_r, state, peer, now);
            assert!(pending.take(&c_r, now).is_some());
            assert!(pending.order.len() <= 2 * pending.len() + 65);
        }
        assert_eq!(pending.len(), 0);
    }
}
