//! OSCORE-protected requests (RFC 8613 Section 8.2): find the session by `kid`, make sure its
//! device is still active, verify and decrypt, hand the inner request to its resource, and
//! protect the answer (Section 8.3).
//!
//! A request that fails verification is answered as Section 8.2 prescribes (4.02, 4.01, 4.00,
//! unprotected) and changes nothing in the session: its replay window only moves for requests
//! that verified, so forged or replayed traffic cannot disturb the device's next real request,
//! let alone another device's session.

use core::net::SocketAddr;
use std::time::{Instant, SystemTime};

use ferrule_proto::coap::{Code, Message, MessageWriter, OptionNumber};
use ferrule_proto::oscore::{request_kid, OscoreError, OscoreId};

use super::endpoint::{Delivery, Endpoint, Reply};
use super::events::Reason;
use super::reply::ReplyHead;
use super::resources::InnerResponse;

/// Room for a protected response: the largest command plus CoAP and OSCORE overhead.
const MAX_RESPONSE: usize = 2048;

impl Endpoint<'_> {
    /// The `kid` of an OSCORE request (the session's C_R); a malformed OSCORE option is logged,
    /// counted and answered with the error RFC 8613 Section 8.2 prescribes.
    pub(crate) fn request_kid_or_reject(
        &mut self,
        peer: SocketAddr,
        head: &ReplyHead,
        datagram: &[u8],
    ) -> Result<Vec<u8>, Reply> {
        request_kid(datagram)
            .map(|kid| kid.kid.to_vec())
            .map_err(|e| {
                self.events.reject(
                    &self.registry,
                    Reason::BadOption,
                    None,
                    &e.to_string(),
                    peer,
                );
                Reply::new(head.oscore_error(&e, Code::BAD_REQUEST))
            })
    }

    /// An OSCORE request (not combined, or what remains of a combined one).
    pub(crate) fn protected_request(
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
        if let Err(e) = self.refresh_generation() {
            tracing::error!(error = %e, "cannot read the registry; refusing requests until it is back");
            return Reply::new(head.bare(Code::SERVICE_UNAVAILABLE));
        }
        let generation = self.generation;
        let Some(session) = self.sessions.get_mut(&kid) else {
            let detail = format!("no session for kid h'{}'", crate::registry::hex(&kid));
            self.events
                .reject(&self.registry, Reason::NoSession, None, &detail, peer);
            return Reply::new(
                head.oscore_error(&OscoreError::ContextNotFound, Code::UNAUTHORIZED),
            );
        };
        let device = session.device.clone();
        if session.checked_generation != generation {
            match self.registry.device(&device) {
                Ok(Some(d)) if d.is_active() => session.checked_generation = generation,
                Ok(_) => {
                    if let Ok(id) = OscoreId::new(&kid) {
                        self.sessions.remove(&id);
                    }
                    self.update_gauges();
                    self.events.reject(
                        &self.registry,
                        Reason::Revoked,
                        Some(&device),
                        "request refused: device revoked; session dropped",
                        peer,
                    );
                    return Reply::new(
                        head.oscore_error(&OscoreError::ContextNotFound, Code::UNAUTHORIZED),
                    );
                }
                Err(e) => {
                    tracing::error!(error = %e, device = &*device, "cannot check the device in the registry");
                    return Reply::new(head.bare(Code::SERVICE_UNAVAILABLE));
                }
            }
        }
        let device_kid = session.kid.clone();
        let verified = match session.context.verify_request(&mut self.crypto, datagram) {
            Ok(verified) => verified,
            Err(e) => {
                let reason = match e {
                    OscoreError::Replay => Reason::Replay,
                    OscoreError::DecryptionFailed => Reason::DecryptionFailed,
                    OscoreError::MalformedPlaintext => Reason::MalformedPlaintext,
                    OscoreError::ContextNotFound => Reason::NoSession,
                    _ => Reason::BadOption,
                };
                let detail = format!("request refused: {e}");
                self.events
                    .reject(&self.registry, reason, Some(&device), &detail, peer);
                return Reply::new(head.oscore_error(&e, Code::BAD_REQUEST));
            }
        };
        self.metrics.message();
        session.last_seen = now;
        session.peer = peer;
        let touch_due = now.duration_since(session.last_touch) >= self.limits.last_seen_interval;
        if touch_due {
            session.last_touch = now;
        }
        let mut request_id = verified.request_id;
        let inner = self.inner_request(&device, &device_kid, peer, &verified.message);
        if touch_due {
            if let Err(e) = self.registry.touch(&device, SystemTime::now()) {
                tracing::warn!(device = &*device, error = %e, "cannot record last seen");
            }
        }

        // The plain response, then its protected form.
        let mut plain = vec![0u8; 32 + inner.payload.len()];
        let written = MessageWriter::new(
            &mut plain,
            head.msg_type,
            inner.code,
            head.message_id,
            head.token.as_slice(),
        )
        .and_then(|mut w| {
            if let Some(cf) = inner.content_format {
                w.uint_option(OptionNumber::ContentFormat, u32::from(cf))?;
            }
            w.payload(&inner.payload)
        });
        let mut out = vec![0u8; MAX_RESPONSE.max(64 + inner.payload.len())];
        let protected = written
            .ok()
            .and_then(|n| Message::parse(plain.get(..n)?).ok())
            .ok_or(OscoreError::BufferTooSmall)
            .and_then(|message| {
                let session = self
                    .sessions
                    .get_mut(&kid)
                    .ok_or(OscoreError::ContextNotFound)?;
                session.context.protect_response(
                    &mut self.crypto,
                    &mut request_id,
                    &message,
                    &mut out,
                )
            });
        match protected {
            Ok(n) => {
                out.truncate(n);
                Reply {
                    bytes: out,
                    delivers: inner.command.map(|command| Delivery {
                        device: device.to_string(),
                        command,
                    }),
                }
            }
            Err(e) => {
                tracing::error!(device = &*device, error = %e, "cannot protect the response");
                Reply::new(head.bare(Code::INTERNAL_SERVER_ERROR))
            }
        }
    }
}

impl InnerResponse {
    /// A response with a code only.
    pub(crate) fn code(code: Code) -> Self {
        Self {
            code,
            content_format: None,
            payload: Vec::new(),
            command: None,
        }
    }
}
