//! Duplicate detection for a server (RFC 7252 Section 4.5).

use core::time::Duration;

use super::{Instant, MessageId};

#[derive(Clone, Debug)]
struct Entry<K, V> {
    peer: K,
    message_id: MessageId,
    expires: Instant,
    response: Option<V>,
}

/// What [`DuplicateCache::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen<V> {
    /// A message not seen within the lifetime; it is now recorded. Process it, then store what
    /// is needed to answer a duplicate with [`DuplicateCache::set_response`].
    New,
    /// A duplicate: do not process it again. For a Confirmable message send the cached response
    /// (if any) or an empty Acknowledgement again (RFC 7252 Section 4.5).
    Duplicate(Option<V>),
}

/// A fixed-size cache of recently received (peer, Message ID) pairs, each with whatever the
/// caller needs to repeat its answer (`V`: a response length, a slot index, ...).
///
/// Entries expire after a lifetime (EXCHANGE_LIFETIME for Confirmable messages, NON_LIFETIME for
/// Non-confirmable ones, [`super::TransmissionParameters`]). When all `N` entries are live, the
/// one closest to expiry is evicted: the cache degrades to missing an old duplicate rather than
/// refusing new messages; size `N` for the expected message rate times the lifetime.
#[derive(Clone, Debug)]
pub struct DuplicateCache<K, V, const N: usize> {
    entries: [Option<Entry<K, V>>; N],
    lifetime: Duration,
}

impl<K: Eq + Clone, V: Clone, const N: usize> DuplicateCache<K, V, N> {
    /// An empty cache whose entries live for `lifetime`.
    pub fn new(lifetime: Duration) -> Self {
        Self {
            entries: core::array::from_fn(|_| None),
            lifetime,
        }
    }

    /// Looks up a received message, records it if it is new, and forgets expired entries.
    pub fn check(&mut self, peer: &K, message_id: MessageId, now: Instant) -> Seen<V> {
        self.purge(now);
        for entry in self.entries.iter().flatten() {
            if entry.message_id == message_id && entry.peer == *peer {
                return Seen::Duplicate(entry.response.clone());
            }
        }
        let entry = Entry {
            peer: peer.clone(),
            message_id,
            expires: now.saturating_add(self.lifetime),
            response: None,
        };
        let slot = match self.entries.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                // All live: evict the entry closest to expiry.
                let mut oldest = 0;
                let mut oldest_expiry = None;
                for (i, e) in self.entries.iter().enumerate() {
                    if let Some(e) = e {
                        if oldest_expiry.is_none_or(|x| e.expires < x) {
                            oldest = i;
                            oldest_expiry = Some(e.expires);
                        }
                    }
                }
                oldest
            }
        };
        if let Some(s) = self.entries.get_mut(slot) {
            *s = Some(entry);
        }
        Seen::New
    }

    /// Stores what answers a duplicate of this message; returns whether the entry was found.
    pub fn set_response(&mut self, peer: &K, message_id: MessageId, response: V) -> bool {
        for entry in self.entries.iter_mut().flatten() {
            if entry.message_id == message_id && entry.peer == *peer {
                entry.response = Some(response);
                return true;
            }
        }
        false
    }

    /// Forgets entries that expired at or before `now`.
    pub fn purge(&mut self, now: Instant) {
        for slot in &mut self.entries {
            if slot.as_ref().is_some_and(|e| e.expires <= now) {
                *slot = None;
            }
        }
    }

    /// Number of live entries (as of the last check or purge).
    pub fn len(&self) -> usize {
        self.entries.iter().flatten().count()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_duplicates_until_expiry() {
        let mut c: DuplicateCache<u32, u16, 2> = DuplicateCache::new(Duration::from_secs(247));
        let t0 = Instant::ZERO;
        assert_eq!(c.check(&1, MessageId(5), t0), Seen::New);
        assert_eq!(c.check(&1, MessageId(5), t0), Seen::Duplicate(None));
        assert!(c.set_response(&1, MessageId(5), 42));
        assert_eq!(
            c.check(&1, MessageId(5), Instant::from_millis(1000)),
            Seen::Duplicate(Some(42))
        );
        assert_eq!(c.check(&2, MessageId(5), t0), Seen::New);
        // Full: a third peer evicts the entry closest to expiry (peer 1).
        assert_eq!(
            c.check(&3, MessageId(5), Instant::from_millis(10)),
            Seen::New
        );
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.check(&2, MessageId(5), Instant::from_millis(20)),
            Seen::Duplicate(None)
        );
        // After EXCHANGE_LIFETIME the entry is gone.
        assert_eq!(
            c.check(&2, MessageId(5), Instant::from_millis(247_000)),
            Seen::New
        );
    }
}
