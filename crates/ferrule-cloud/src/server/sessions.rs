//! The established sessions: one OSCORE security context per device, found by the `kid` of its
//! requests (the server's Recipient ID, which is the C_R it chose in the handshake).
//!
//! One session per device: a new handshake replaces the device's old session. The table is
//! bounded ([`Limits::max_sessions`](super::Limits), least recently used dropped first) and
//! sessions idle for [`Limits::session_idle_timeout`](super::Limits) are dropped; a device
//! whose session is gone gets "Security context not found" and runs a new handshake.
//!
//! # Memory
//!
//! DESIGN.md budgets 512 bytes per established session, hash tables included. A table's
//! buckets are a power of two at most 7/8 full, so just after it grows as few as 7/16 of them
//! are used: an entry stored inline in a table costs up to 16/7 of its size. So the by-id table
//! holds each [`Session`] boxed (16-byte buckets; the box is allocated at its exact size), the
//! device's name is one `Arc<str>` shared by the session and the by-device table, and the kid
//! is held inline ([`Kid`]). The bound is checked by a test below.

use core::net::SocketAddr;
use core::ops::Deref;
use core::time::Duration;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ferrule_proto::oscore::{OscoreId, SecurityContext};

/// One device's session.
#[derive(Debug)]
pub(crate) struct Session {
    /// The device's registered name (shared with the by-device index).
    pub(crate) device: Arc<str>,
    /// The kid of the device's credential.
    pub(crate) kid: Kid,
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

/// A credential's kid, inline up to [`Kid::INLINE`] bytes (the registry allocates kids of 1 to 8
/// bytes) and on the heap beyond.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kid {
    /// A short kid: its length and bytes.
    Inline(u8, [u8; Kid::INLINE]),
    /// A longer one.
    Heap(Box<[u8]>),
}

impl Kid {
    /// The longest kid held inline.
    pub(crate) const INLINE: usize = 16;

    pub(crate) fn new(kid: &[u8]) -> Self {
        match (u8::try_from(kid.len()), kid.len() <= Self::INLINE) {
            (Ok(len), true) => {
                let mut bytes = [0; Self::INLINE];
                bytes[..kid.len()].copy_from_slice(kid);
                Self::Inline(len, bytes)
            }
            _ => Self::Heap(kid.into()),
        }
    }
}

impl Deref for Kid {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Inline(len, bytes) => &bytes[..usize::from(*len)],
            Self::Heap(bytes) => bytes,
        }
    }
}

/// The session table; see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct Sessions {
    by_id: HashMap<OscoreId, Box<Session>>,
    by_device: HashMap<Arc<str>, OscoreId>,
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
    pub(crate) fn insert(&mut self, session: Session) -> Option<Arc<str>> {
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
        self.by_device.insert(Arc::clone(&session.device), id);
        self.by_id.insert(id, Box::new(session));
        evicted
    }

    /// The session whose Recipient ID is `kid`.
    pub(crate) fn get_mut(&mut self, kid: &[u8]) -> Option<&mut Session> {
        let id = OscoreId::new(kid).ok()?;
        self.by_id.get_mut(&id).map(|s| &mut **s)
    }

    /// Whether a session uses `id` as its Recipient ID.
    pub(crate) fn contains(&self, id: &[u8]) -> bool {
        OscoreId::new(id).is_ok_and(|id| self.by_id.contains_key(&id))
    }

    /// Drops the session with this Recipient ID.
    pub(crate) fn remove(&mut self, id: &OscoreId) -> Option<Box<Session>> {
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

    /// Drops the sessions idle for longer than the idle timeout; returns how many. Tables left
    /// less than a quarter full give memory back.
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
        if !idle.is_empty() && self.by_id.len() < self.by_id.capacity() / 4 {
            self.by_id.shrink_to(self.by_id.len() * 2);
            self.by_device.shrink_to(self.by_device.len() * 2);
        }
        idle.len()
    }

    /// The devices that have a session, with their session's last activity.
    pub(crate) fn devices(&self) -> impl Iterator<Item = &Session> {
        self.by_id.values().map(|s| &**s)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use core::mem::size_of;

    use ferrule_crypto::RustCrypto;
    use ferrule_proto::oscore::ContextParams;

    use super::*;

    /// The bytes glibc's malloc takes for a request of `n` bytes: an 8-byte header, rounded up
    /// to 16, at least 32.
    fn chunk(n: usize) -> usize {
        (n + 8).next_multiple_of(16).max(32)
    }

    /// The bytes of a hash table's allocation: its buckets (a power of two, so that capacity is
    /// at most 7/8 of them) with one control byte each.
    fn table<K, V>(map: &HashMap<K, V>) -> usize {
        let buckets = (map.capacity() * 8 / 7).next_power_of_two();
        buckets * (size_of::<(K, V)>() + 1)
    }

    fn session(i: u16, name: &str, now: Instant) -> Session {
        let mut crypto = RustCrypto::from_os_rng();
        let c_r = i.to_be_bytes();
        let context =
            SecurityContext::derive(&mut crypto, &ContextParams::new(b"secret", &[0x2b], &c_r))
                .unwrap();
        Session {
            device: Arc::from(name),
            kid: Kid::new(&[0x2b, 0x01]),
            context,
            peer: SocketAddr::from(([127, 0, 0, 1], 5683)),
            last_seen: now,
            last_touch: now,
            checked_generation: 0,
        }
    }

    /// DESIGN.md budgets 512 bytes per established session. Counted here: both tables'
    /// allocations (at whatever fill their growth left them), the boxed session and the shared
    /// name, each as malloc rounds it. The worst fill is just after a table grows (7/16), so
    /// 7,169 sessions (just past 7,168 = 7/8 of 8,192) are checked along with round numbers;
    /// names have the longest length the registry allows.
    #[test]
    fn a_session_fits_the_memory_budget() {
        assert!(size_of::<Kid>() <= 24, "{}", size_of::<Kid>());
        let name_len = 64;
        let per_entry = chunk(size_of::<Session>()) + chunk(2 * size_of::<usize>() + name_len);
        println!(
            "session {} B (boxed: {} B with malloc's header), entry by id {} B, by device {} B",
            size_of::<Session>(),
            chunk(size_of::<Session>()),
            size_of::<(OscoreId, Box<Session>)>(),
            size_of::<(Arc<str>, OscoreId)>(),
        );
        let now = Instant::now();
        for n in [1_000u16, 7_169, 10_000] {
            let mut sessions = Sessions::new(usize::MAX, Duration::from_secs(60));
            for i in 0..n {
                let name = format!("{i:0>name_len$}");
                assert!(sessions.insert(session(i, &name, now)).is_none());
            }
            assert_eq!(sessions.len(), usize::from(n));
            let bytes =
                table(&sessions.by_id) + table(&sessions.by_device) + usize::from(n) * per_entry;
            let per_session = bytes / usize::from(n);
            println!("{n} sessions: {bytes} B, {per_session} B per session");
            assert!(per_session <= 512, "{n} sessions: {per_session} B each");
        }
    }

    #[test]
    fn kids_inline_and_on_the_heap_read_back() {
        for len in [0, 1, 8, Kid::INLINE, Kid::INLINE + 1, 300] {
            let kid: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let held = Kid::new(&kid);
            assert_eq!(&*held, kid.as_slice());
            assert_eq!(matches!(held, Kid::Inline(..)), len <= Kid::INLINE);
        }
    }

    #[test]
    fn a_new_session_replaces_the_device_s_old_one_and_idle_ones_go() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(2, Duration::from_secs(60));
        assert!(sessions.insert(session(1, "a", t0)).is_none());
        assert!(sessions.insert(session(2, "a", t0)).is_none());
        assert_eq!(sessions.len(), 1);
        assert!(!sessions.contains(&1u16.to_be_bytes()));
        assert!(sessions.contains(&2u16.to_be_bytes()));
        let later = t0 + Duration::from_secs(1);
        assert!(sessions.insert(session(3, "b", later)).is_none());
        let evicted = sessions.insert(session(4, "c", later));
        assert_eq!(evicted.as_deref(), Some("a"), "least recently used");
        assert!(!sessions.remove_device("a"));
        assert_eq!(
            sessions
                .get_mut(&3u16.to_be_bytes())
                .map(|s| s.device.clone()),
            Some(Arc::from("b"))
        );
        assert_eq!(sessions.purge_idle(t0 + Duration::from_secs(61)), 2);
        assert_eq!(sessions.len(), 0);
        assert!(!sessions.remove_device("b"));
    }
}
