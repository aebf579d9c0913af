//! The CoAP endpoint's state and its handling of one datagram: parse, answer retransmissions
//! from the cache, route (EDHOC at `/.well-known/edhoc`, combined requests, OSCORE requests),
//! and remember the answer.
//!
//! Everything here is synchronous and owned by one thread (`EndpointThread` in [`super`]): a datagram is
//! handled to completion before the next is read, so the tables need no locks. Handling never
//! panics on any input; a datagram that is not CoAP is dropped and counted.

use core::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use ferrule_crypto::RustCrypto;
use ferrule_proto::coap::{Code, Message, MessageIdSequence, MessageType, OptionNumber};
use ferrule_proto::edhoc::EDHOC_URI_PATH;
use ferrule_proto::oscore::is_combined_request;
use rand_core::{OsRng, RngCore};

use crate::registry::{Registry, RegistryError};

use super::cache::ResponseCache;
use super::config::Limits;
use super::control::{Control, SessionSummary};
use super::events::{EventLog, Reason};
use super::handshakes::PendingHandshakes;
use super::metrics::Metrics;
use super::reply::{reset, ReplyHead};
use super::responders::Responders;
use super::sessions::Sessions;
use super::sink::Sink;

/// What to send back for a datagram, and what to do once it is sent.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The datagram to send to the peer.
    pub(crate) bytes: Vec<u8>,
    /// A command this response delivers: marked delivered once the response is sent.
    pub(crate) delivers: Option<Delivery>,
}

/// A command carried by a response.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) device: String,
    pub(crate) command: i64,
}

impl Reply {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            delivers: None,
        }
    }
}

/// The endpoint's state; see the [module documentation](self).
pub(crate) struct Endpoint<'a> {
    pub(crate) responders: &'a Responders<'a>,
    pub(crate) crypto: RustCrypto<OsRng>,
    pub(crate) registry: Registry,
    pub(crate) sink: Box<dyn Sink>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) events: EventLog,
    pub(crate) handshakes: PendingHandshakes<'a>,
    pub(crate) sessions: Sessions,
    cache: ResponseCache,
    pub(crate) limits: Limits,
    message_ids: MessageIdSequence,
    /// The registry's `data_version` when last read.
    data_version: i64,
    /// Bumped whenever another connection changed the registry: sessions checked at an older
    /// generation are checked again before their next request is accepted.
    pub(crate) generation: u64,
    last_idle_purge: Instant,
}

/// Where a request goes.
enum Route {
    Edhoc,
    Combined,
    Protected,
    NotFound,
}

impl<'a> Endpoint<'a> {
    pub(crate) fn new(
        responders: &'a Responders<'a>,
        registry: Registry,
        sink: Box<dyn Sink>,
        metrics: Arc<Metrics>,
        limits: Limits,
    ) -> Self {
        let data_version = registry.data_version().unwrap_or(0);
        Self {
            responders,
            crypto: RustCrypto::from_os_rng(),
            registry,
            sink,
            events: EventLog::new(metrics.clone()),
            metrics,
            handshakes: PendingHandshakes::new(
                limits.handshake_timeout,
                limits.max_pending_handshakes,
            ),
            sessions: Sessions::new(limits.max_sessions, limits.session_idle_timeout),
            cache: ResponseCache::new(limits.exchange_lifetime, limits.max_cached_responses),
            message_ids: MessageIdSequence::new((OsRng.next_u32() & 0xffff) as u16),
            data_version,
            generation: 0,
            last_idle_purge: Instant::now(),
            limits,
        }
    }

    /// Handles one datagram from `peer`; returns what to send back, if anything.
    pub(crate) fn handle(
        &mut self,
        peer: SocketAddr,
        datagram: &mut [u8],
        now: Instant,
    ) -> Option<Reply> {
        self.metrics.datagram();
        let Ok(message) = Message::parse(datagram) else {
            self.metrics.malformed();
            tracing::debug!(%peer, len = datagram.len(), "dropped a datagram that is not CoAP");
            return None;
        };
        let message_id = message.message_id();
        let confirmable = message.msg_type() == MessageType::Confirmable;
        match message.msg_type() {
            // The server sends no Confirmable messages, so it expects no ACK or RST.
            MessageType::Acknowledgement | MessageType::Reset => return None,
            MessageType::Confirmable | MessageType::NonConfirmable => {}
        }
        if !message.code().is_request() {
            // A CoAP ping (empty CON) or a response sent as a request: Reset (RFC 7252 4.2-4.3).
            return confirmable.then(|| Reply::new(reset(message_id)));
        }
        if let Some(cached) = self.cache.get(peer, message_id, now) {
            self.metrics.duplicate();
            tracing::debug!(%peer, mid = message_id.0, "retransmission answered from the cache");
            return Some(Reply::new(cached.to_vec()));
        }
        let head = ReplyHead::for_request(&message, &mut self.message_ids);
        let route = if message.option(OptionNumber::Oscore).is_some() {
            if is_combined_request(&message) {
                Route::Combined
            } else {
                Route::Protected
            }
        } else if message
            .options_of(OptionNumber::UriPath)
            .eq(EDHOC_URI_PATH.iter().map(|s| s.as_bytes()))
        {
            Route::Edhoc
        } else {
            Route::NotFound
        };
        let is_post = message.code() == Code::POST;
        let reply = match route {
            Route::Edhoc if is_post => self.edhoc_request(peer, &head, datagram, now),
            Route::Edhoc => Reply::new(head.bare(Code::METHOD_NOT_ALLOWED)),
            Route::Combined => self.combined_request(peer, &head, datagram, now),
            Route::Protected => self.protected_request(peer, &head, datagram, now),
            Route::NotFound => {
                self.events.reject(
                    &self.registry,
                    Reason::NotFound,
                    None,
                    "unprotected request",
                    peer,
                );
                Reply::new(head.bare(Code::NOT_FOUND))
            }
        };
        self.cache
            .insert(peer, message_id, reply.bytes.clone(), now);
        Some(reply)
    }

    /// After a response went out: marks the command it carried delivered.
    pub(crate) fn sent(&mut self, reply: Reply) {
        let Some(Delivery { device, command }) = reply.delivers else {
            return;
        };
        match self.registry.mark_command_delivered(command) {
            Ok(_) => {
                self.metrics.command_delivered();
                tracing::info!(device, command, "command delivered");
            }
            Err(e) => tracing::error!(device, command, error = %e,
                "command sent but not marked delivered"),
        }
    }

    /// Periodic housekeeping: expire handshakes, cached responses and idle sessions.
    pub(crate) fn tick(&mut self, now: Instant) {
        self.handshakes.purge(now);
        self.cache.purge(now);
        if now.duration_since(self.last_idle_purge) >= core::time::Duration::from_secs(10) {
            self.last_idle_purge = now;
            let dropped = self.sessions.purge_idle(now);
            if dropped > 0 {
                tracing::info!(dropped, "idle sessions dropped");
            }
        }
        self.update_gauges();
    }

    /// Answers a control message.
    pub(crate) fn control(&mut self, control: Control) {
        match control {
            Control::DropDevice(device, answer) => {
                let dropped = self.sessions.remove_device(&device);
                if dropped {
                    tracing::info!(device, "session dropped: device revoked");
                }
                self.update_gauges();
                let _ = answer.send(dropped);
            }
            Control::Sessions(answer) => {
                let now = Instant::now();
                let wall = SystemTime::now();
                let list = self
                    .sessions
                    .devices()
                    .map(|s| SessionSummary {
                        device: s.device.to_string(),
                        peer: s.peer,
                        last_seen: wall
                            .checked_sub(now.saturating_duration_since(s.last_seen))
                            .unwrap_or(wall),
                    })
                    .collect();
                let _ = answer.send(list);
            }
        }
    }

    pub(crate) fn update_gauges(&self) {
        self.metrics.set_sessions(self.sessions.len());
        self.metrics.set_pending_handshakes(self.handshakes.len());
    }

    /// Reads the registry's `data_version`; a change (another process wrote) starts a new
    /// generation, so every session's device is checked again before its next request.
    pub(crate) fn refresh_generation(&mut self) -> Result<(), RegistryError> {
        let version = self.registry.data_version()?;
        if version != self.data_version {
            self.data_version = version;
            self.generation += 1;
        }
        Ok(())
    }
}
