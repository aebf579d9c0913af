//! The answers to recent requests, to answer their retransmissions (RFC 7252 Section 4.5): a
//! Confirmable request that comes again from the same peer with the same Message ID gets the
//! response already sent, without being processed again. Processing twice would be wrong, not
//! only wasteful: an EDHOC message_1 would start a second handshake, a message_3 would find its
//! handshake already consumed, and an OSCORE request would be refused as a replay.
//!
//! Entries live for EXCHANGE_LIFETIME; the cache is bounded and forgets the oldest first.
//!
//! Memory: a response is kept as a `Box<[u8]>` of its exact length, and the tables give
//! memory back once expiry has left them less than a quarter full (after a burst of
//! handshakes, say), so an idle server does not keep the tables of its busiest minute.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use ferrule_proto::coap::MessageId;

type Key = (SocketAddr, u16);

/// Responses by (peer, Message ID), expiring in insertion order.
#[derive(Debug)]
pub(crate) struct ResponseCache {
    entries: HashMap<Key, (Instant, Box<[u8]>)>,
    order: VecDeque<(Instant, Key)>,
    lifetime: Duration,
    capacity: usize,
}

impl ResponseCache {
    pub(crate) fn new(lifetime: Duration, capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            lifetime,
            capacity: capacity.max(1),
        }
    }

    /// The response sent to this request, if it was seen within the lifetime.
    pub(crate) fn get(&self, peer: SocketAddr, id: MessageId, now: Instant) -> Option<&[u8]> {
        self.entries
            .get(&(peer, id.0))
            .filter(|(expires, _)| *expires > now)
            .map(|(_, response)| &**response)
    }

    /// Remembers the response to a request.
    pub(crate) fn insert(
        &mut self,
        peer: SocketAddr,
        id: MessageId,
        response: Vec<u8>,
        now: Instant,
    ) {
        self.purge(now);
        while self.entries.len() >= self.capacity {
            let Some((expires, key)) = self.order.pop_front() else {
                break;
            };
            self.remove_if(key, expires);
        }
        // A lifetime too long to add to `now` is capped at an hour rather than overflowing.
        let expires = now
            .checked_add(self.lifetime)
            .or_else(|| now.checked_add(Duration::from_secs(3600)))
            .unwrap_or(now);
        let key = (peer, id.0);
        self.entries
            .insert(key, (expires, response.into_boxed_slice()));
        self.order.push_back((expires, key));
    }

    /// Forgets expired entries.
    pub(crate) fn purge(&mut self, now: Instant) {
        let before = self.order.len();
        while let Some(&(expires, key)) = self.order.front() {
            if expires > now {
                break;
            }
            self.order.pop_front();
            self.remove_if(key, expires);
        }
        if self.order.len() < before && self.order.len() < self.order.capacity() / 4 {
            self.order.shrink_to(self.order.len() * 2);
            self.entries.shrink_to(self.entries.len() * 2);
        }
    }

    /// Removes `key` if its entry is the one queued with `expires` (not a newer one).
    fn remove_if(&mut self, key: Key, expires: Instant) {
        if self.entries.get(&key).is_some_and(|(e, _)| *e == expires) {
            self.entries.remove(&key);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.entries.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_until_expiry_and_stays_bounded() {
        let peer: SocketAddr = "127.0.0.1:1000".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        let t0 = Instant::now();
        let mut cache = ResponseCache::new(Duration::from_secs(10), 2);
        cache.insert(peer, MessageId(1), vec![1], t0);
        assert_eq!(cache.get(peer, MessageId(1), t0), Some(&[1][..]));
        assert_eq!(cache.get(other, MessageId(1), t0), None);
        assert_eq!(cache.get(peer, MessageId(2), t0), None);
        cache.insert(peer, MessageId(2), vec![2], t0 + Duration::from_secs(1));
        cache.insert(peer, MessageId(3), vec![3], t0 + Duration::from_secs(2));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(peer, MessageId(1), t0), None, "oldest evicted");
        let later = t0 + Duration::from_secs(11);
        assert_eq!(cache.get(peer, MessageId(2), later), None, "expired");
        cache.purge(later);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn gives_memory_back_after_a_burst_expires() {
        let t0 = Instant::now();
        let mut cache = ResponseCache::new(Duration::from_secs(10), 100_000);
        for i in 0..10_000u16 {
            let peer = SocketAddr::from(([127, 0, 0, 1], i));
            cache.insert(peer, MessageId(i), vec![0; 60], t0);
        }
        assert!(cache.capacity() >= 10_000);
        let later = t0 + Duration::from_secs(10);
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        cache.insert(peer, MessageId(7), vec![7], later);
        assert_eq!(cache.len(), 1);
        assert!(cache.capacity() < 100, "{}", cache.capacity());
        assert_eq!(cache.get(peer, MessageId(7), later), Some(&[7][..]));
    }

    /// What one cached response costs besides its bytes: an entry in the table and one in the
    /// expiry queue.
    #[test]
    fn a_cached_response_costs_about_130_bytes_besides_its_bytes() {
        use core::mem::size_of;
        let table = size_of::<(Key, (Instant, Box<[u8]>))>() + 1;
        let queue = size_of::<(Instant, Key)>();
        println!("cached response: table entry {table} B, queue entry {queue} B");
        assert!(table + queue <= 130, "{table} + {queue}");
    }
}
