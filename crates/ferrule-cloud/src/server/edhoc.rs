//! The EDHOC responder over CoAP (RFC 9528 Appendix A.2) and the completion of a handshake
//! by a combined request (RFC 9668 Section 3.3.1).
//!
//! - `true || message_1` → choose C_R, answer message_2 (2.04, Content-Format 64), keep the
//!   handshake waiting under C_R; a refused message_1 gets 4.00 (5.00 for our own failure) with
//!   an EDHOC error message.
//! - `C_R || message_3` → verify it against the registry, answer message_4; a refused
//!   message_3 gets 4.01 with an EDHOC error message (ERR_CODE 3 for an unknown credential,
//!   ERR_CODE 1 otherwise).
//! - a combined request → message_3 as above, then the OSCORE request it carries; a refused
//!   message_3 gets an unprotected 4.01.

use core::net::SocketAddr;
use std::time::{Instant, SystemTime};

use ferrule_proto::coap::Code;
use ferrule_proto::edhoc::{
    ConnectionId, EdhocRequest, ErrCode, Error as EdhocError, Established, Responder,
    ResponderVerifiedM3, CONTENT_FORMAT_EDHOC,
};
use ferrule_proto::oscore::{split_combined_request, ContextParams, OscoreError, SecurityContext};
use rand_core::{OsRng, RngCore};

use crate::registry::{hex, Device};

use super::endpoint::{Endpoint, Reply};
use super::events::Reason;
use super::handshakes::Pending;
use super::lookup::RegistryLookup;
use super::metrics::HandshakeResult;
use super::reply::ReplyHead;
use super::sessions::{Kid, Session};

/// Largest EDHOC message the server accepts (message_3 with a CCS by value and EAD fits).
const MAX_EDHOC_MESSAGE: usize = 1024;

/// Why a message_3 was refused: what to answer.
struct Refusal {
    /// The CoAP code (4.01, or 5.00 for our own failure).
    code: Code,
    /// The EDHOC error code (plain flow).
    err: ErrCode,
    /// The reason (EDHOC ERR_INFO, diagnostic payload).
    reason: &'static str,
}

impl Endpoint<'_> {
    /// A POST to `/.well-known/edhoc`.
    pub(crate) fn edhoc_request(
        &mut self,
        peer: SocketAddr,
        head: &ReplyHead,
        datagram: &[u8],
        now: Instant,
    ) -> Reply {
        let Ok(message) = ferrule_proto::coap::Message::parse(datagram) else {
            return Reply::new(head.bare(Code::BAD_REQUEST));
        };
        let payload = message.payload();
        match EdhocRequest::parse(payload) {
            Ok(EdhocRequest::Message1(m1)) => self.message_1(peer, head, m1, now),
            Ok(EdhocRequest::Continue { c_r, offset }) => {
                let message = payload.get(offset..).unwrap_or_default();
                if message.len() > MAX_EDHOC_MESSAGE {
                    return Reply::new(head.bare(Code::REQUEST_ENTITY_TOO_LARGE));
                }
                let mut m3 = message.to_vec();
                self.message_3(peer, head, c_r, &mut m3, now)
            }
            Err(e) => {
                self.events.reject(
                    &self.registry,
                    Reason::BadEdhocRequest,
                    None,
                    e.reason(),
                    peer,
                );
                Reply::new(head.edhoc_error(
                    Code::BAD_REQUEST,
                    ErrCode::Unspecified,
                    e.reason(),
                    self.responders.suites(),
                ))
            }
        }
    }

    /// message_1: answer message_2 and keep the handshake waiting.
    fn message_1(&mut self, peer: SocketAddr, head: &ReplyHead, m1: &[u8], now: Instant) -> Reply {
        let responders = self.responders;
        let suites = responders.suites();
        let refuse = |this: &mut Self, e: EdhocError| {
            this.metrics.handshake(HandshakeResult::RefusedMessage1);
            this.events.reject(
                &this.registry,
                Reason::RefusedMessage1,
                None,
                &e.to_string(),
                peer,
            );
            match e.err_code() {
                Some(err) => {
                    Reply::new(head.edhoc_error(Code::BAD_REQUEST, err, e.reason(), suites))
                }
                None => Reply::new(head.edhoc_error(
                    Code::INTERNAL_SERVER_ERROR,
                    ErrCode::Unspecified,
                    "server error",
                    suites,
                )),
            }
        };
        let Some(config) = responders.for_message_1(m1) else {
            return Reply::new(head.bare(Code::INTERNAL_SERVER_ERROR));
        };
        let (got, info) = match Responder::new(config).read_message_1(&mut self.crypto, m1) {
            Ok(ok) => ok,
            Err(e) => return refuse(self, e),
        };
        let c_i = info.c_i;
        tracing::debug!(%peer, method = info.method.id(), suite = info.suite.id(), "message_1");
        let c_r = self.allocate_c_r(c_i);
        let mut m2 = [0u8; MAX_EDHOC_MESSAGE];
        let (waiting, n) = match got.write_message_2(&mut self.crypto, c_r, &[], &mut m2) {
            Ok(ok) => ok,
            Err(e) => return refuse(self, e),
        };
        if let Some(evicted) = self.handshakes.insert(c_r, waiting, peer, now) {
            tracing::warn!(%evicted, "too many pending handshakes: dropped the oldest");
        }
        self.update_gauges();
        Reply::new(head.response(Code::CHANGED, Some(CONTENT_FORMAT_EDHOC), &m2[..n]))
    }

    /// `C_R || message_3` (plain flow): verify, answer message_4, establish the session.
    fn message_3(
        &mut self,
        peer: SocketAddr,
        head: &ReplyHead,
        c_r: ConnectionId,
        m3: &mut [u8],
        now: Instant,
    ) -> Reply {
        let suites = self.responders.suites();
        let Some(pending) = self.handshakes.take(&c_r, now) else {
            return self.unknown_handshake(peer, head, c_r.as_bytes(), true);
        };
        self.update_gauges();
        let (verified, device) = match self.complete_handshake(pending, m3, peer) {
            Ok(ok) => ok,
            Err(refusal) => {
                return Reply::new(head.edhoc_error(
                    refusal.code,
                    refusal.err,
                    refusal.reason,
                    suites,
                ))
            }
        };
        let mut m4 = [0u8; 256];
        let (established, n) = match verified.write_message_4(&mut self.crypto, &[], &mut m4) {
            Ok(ok) => ok,
            Err(e) => {
                tracing::error!(device = %device.name, error = %e, "cannot write message_4");
                self.metrics.handshake(HandshakeResult::ServerError);
                return Reply::new(head.bare(Code::INTERNAL_SERVER_ERROR));
            }
        };
        if self.establish(&established, device, peer, now).is_err() {
            return Reply::new(head.bare(Code::INTERNAL_SERVER_ERROR));
        }
        Reply::new(head.response(Code::CHANGED, Some(CONTENT_FORMAT_EDHOC), &m4[..n]))
    }

    /// A combined request: message_3, then the OSCORE request it carries.
    pub(crate) fn combined_request(
        &mut self,
        peer: SocketAddr,
        head: &ReplyHead,
        datagram: &mut [u8],
        now: Instant,
    ) -> Reply {
        let kid = match self.request_kid_or_reject(peer, head, datagram) {
            Ok(kid) => kid,
            Err(reply) => return reply,
        };
        let Some(c_r) = ConnectionId::new(&kid) else {
            return self.unknown_handshake(peer, head, &kid, false);
        };
        let mut m3 = [0u8; MAX_EDHOC_MESSAGE];
        let (m3_len, oscore_len) = match split_combined_request(datagram, &mut m3) {
            Ok(lengths) => lengths,
            Err(e) => {
                self.events.reject(
                    &self.registry,
                    Reason::BadEdhocRequest,
                    None,
                    &e.to_string(),
                    peer,
                );
                return Reply::new(head.bare(Code::BAD_REQUEST));
            }
        };
        let Some(pending) = self.handshakes.take(&c_r, now) else {
            return self.unknown_handshake(peer, head, c_r.as_bytes(), false);
        };
        self.update_gauges();
        let (verified, device) = match self.complete_handshake(pending, &mut m3[..m3_len], peer) {
            Ok(ok) => ok,
            Err(refusal) => {
                return Reply::new(head.response(refusal.code, None, refusal.reason.as_bytes()))
            }
        };
        let established = verified.established();
        if self.establish(&established, device, peer, now).is_err() {
            return Reply::new(head.bare(Code::INTERNAL_SERVER_ERROR));
        }
        let oscore = datagram.get_mut(..oscore_len).unwrap_or_default();
        self.protected_request(peer, head, oscore, now)
    }

    /// message_3 for a C_R with no handshake waiting (expired, or never started).
    fn unknown_handshake(
        &mut self,
        peer: SocketAddr,
        head: &ReplyHead,
        c_r: &[u8],
        plain_flow: bool,
    ) -> Reply {
        self.metrics.handshake(HandshakeResult::UnknownHandshake);
        let detail = format!("no handshake waiting for C_R h'{}'", hex(c_r));
        self.events.reject(
            &self.registry,
            Reason::UnknownHandshake,
            None,
            &detail,
            peer,
        );
        if plain_flow {
            Reply::new(head.edhoc_error(
                Code::BAD_REQUEST,
                ErrCode::Unspecified,
                "no handshake waiting for this C_R",
                self.responders.suites(),
            ))
        } else {
            Reply::new(head.oscore_error(&OscoreError::ContextNotFound, Code::UNAUTHORIZED))
        }
    }

    /// Verifies message_3 against the registry: the device must be registered, authenticate,
    /// and be active.
    fn complete_handshake(
        &mut self,
        pending: Pending<'_>,
        m3: &mut [u8],
        peer: SocketAddr,
    ) -> Result<(ResponderVerifiedM3, Device), Refusal> {
        let mut lookup = RegistryLookup::new(&self.registry);
        let result = pending
            .state
            .read_message_3(&mut self.crypto, &mut lookup, m3)
            .map(|(verified, _info)| verified);
        let RegistryLookup {
            kid, device, error, ..
        } = lookup;
        let kid_hex = kid.as_deref().map(hex).unwrap_or_default();
        let name = device.as_ref().map(|d| d.name.clone());
        match (result, device) {
            (Ok(verified), Some(device)) if device.is_active() => Ok((verified, device)),
            (Ok(_), Some(device)) => {
                if self.sessions.remove_device(&device.name) {
                    self.update_gauges();
                }
                self.metrics.handshake(HandshakeResult::Revoked);
                self.events.reject(
                    &self.registry,
                    Reason::Revoked,
                    Some(&device.name),
                    "handshake refused: device revoked",
                    peer,
                );
                Err(Refusal {
                    code: Code::UNAUTHORIZED,
                    err: ErrCode::Unspecified,
                    reason: "device revoked",
                })
            }
            (Err(EdhocError::UnknownCredential), _) if error.is_some() => {
                if let Some(e) = error {
                    tracing::error!(error = %e, "registry lookup failed during a handshake");
                }
                self.metrics.handshake(HandshakeResult::ServerError);
                Err(Refusal {
                    code: Code::INTERNAL_SERVER_ERROR,
                    err: ErrCode::Unspecified,
                    reason: "server error",
                })
            }
            (Err(EdhocError::UnknownCredential), _) | (Ok(_), None) => {
                self.metrics.handshake(HandshakeResult::UnknownDevice);
                let detail = if kid_hex.is_empty() {
                    "handshake refused: credential not identified by a kid".to_owned()
                } else {
                    format!("handshake refused: no device with kid h'{kid_hex}'")
                };
                self.events.reject(
                    &self.registry,
                    Reason::UnknownCredential,
                    None,
                    &detail,
                    peer,
                );
                Err(Refusal {
                    code: Code::UNAUTHORIZED,
                    err: ErrCode::UnknownCredential,
                    reason: "unknown credential",
                })
            }
            (Err(EdhocError::Peer { code, .. }), _) => {
                self.metrics.handshake(HandshakeResult::Aborted);
                tracing::info!(%peer, code, "device aborted the handshake with an EDHOC error");
                Err(Refusal {
                    code: Code::BAD_REQUEST,
                    err: ErrCode::Unspecified,
                    reason: "handshake aborted",
                })
            }
            (Err(e), _) => {
                self.metrics
                    .handshake(HandshakeResult::AuthenticationFailed);
                let detail = format!("handshake refused: {e}");
                self.events.reject(
                    &self.registry,
                    Reason::AuthenticationFailed,
                    name.as_deref(),
                    &detail,
                    peer,
                );
                Err(Refusal {
                    code: Code::UNAUTHORIZED,
                    err: ErrCode::Unspecified,
                    reason: "authentication failed",
                })
            }
        }
    }

    /// Derives the OSCORE context of a completed handshake (RFC 9528 Appendix A.1) and makes
    /// it the device's session.
    fn establish(
        &mut self,
        established: &Established,
        device: Device,
        peer: SocketAddr,
        now: Instant,
    ) -> Result<(), ()> {
        let context = established
            .oscore_parameters(&mut self.crypto)
            .map_err(|e| e.to_string())
            .and_then(|p| {
                let mut params = ContextParams::new(
                    &p.master_secret,
                    p.sender_id.as_bytes(),
                    p.recipient_id.as_bytes(),
                );
                params.master_salt = Some(&p.master_salt);
                if let Some(suite) = established.suite().parameters() {
                    params.aead = suite.application_aead;
                }
                SecurityContext::derive(&mut self.crypto, &params).map_err(|e| e.to_string())
            });
        let context = match context {
            Ok(context) => context,
            Err(e) => {
                tracing::error!(device = %device.name, error = %e, "cannot derive the OSCORE context");
                self.metrics.handshake(HandshakeResult::ServerError);
                return Err(());
            }
        };
        let c_r = hex(established.c_r().as_bytes());
        if let Err(e) = self.registry.touch(&device.name, SystemTime::now()) {
            tracing::warn!(device = %device.name, error = %e, "cannot record last seen");
        }
        tracing::info!(device = %device.name, kid = %hex(&device.kid), c_r, %peer,
            suite = established.suite().id(), "session established");
        let evicted = self.sessions.insert(Session {
            device: device.name.into(),
            kid: Kid::new(&device.kid),
            context,
            peer,
            last_seen: now,
            last_touch: now,
            checked_generation: self.generation,
        });
        if let Some(evicted) = evicted {
            tracing::warn!(
                device = &*evicted,
                "too many sessions: dropped the least recently used"
            );
        }
        self.metrics.handshake(HandshakeResult::Established);
        self.update_gauges();
        Ok(())
    }

    /// A C_R unique among pending handshakes and sessions, and not C_I: two random bytes while
    /// the tables are small, longer as they fill (at most 7, the longest OSCORE Sender ID).
    fn allocate_c_r(&mut self, c_i: ConnectionId) -> ConnectionId {
        let in_use = self.handshakes.len() + self.sessions.len();
        let mut len: usize = match in_use {
            0..=16_383 => 2,
            16_384..=4_194_303 => 3,
            _ => 4,
        };
        let mut tries = 0u32;
        loop {
            let mut bytes = [0u8; 7];
            OsRng.fill_bytes(&mut bytes);
            let candidate = bytes.get(..len).unwrap_or(&bytes);
            if let Some(c_r) = ConnectionId::new(candidate) {
                if c_r != c_i
                    && !self.handshakes.contains(&c_r)
                    && !self.sessions.contains(candidate)
                {
                    return c_r;
                }
            }
            tries += 1;
            if tries % 16 == 0 && len < 7 {
                len += 1;
            }
        }
    }
}
