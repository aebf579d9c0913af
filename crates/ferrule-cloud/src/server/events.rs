//! Why the server refused something, and the record it keeps of it: every refusal is counted
//! ([`Metrics`]) and logged with the device and the reason; security events (failed
//! authentication, replay, revoked device, unknown kid, malformed protected message) are also
//! written to the registry's `events` table.
//!
//! Registry writes are rate-limited ([`EVENTS_PER_SECOND`]): anyone can send forged messages,
//! and each would otherwise cost a database write. Past the limit events are still counted and
//! logged, only not stored.

use core::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::registry::{event_kind, Registry};

use super::metrics::Metrics;

/// Most security events written to the registry per second (with bursts of as many).
pub const EVENTS_PER_SECOND: u32 = 50;

/// Why a datagram, request or handshake was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// EDHOC message_3 named a credential no device has (ERR_CODE 3).
    UnknownCredential,
    /// A revoked device tried to connect or send.
    Revoked,
    /// EDHOC message_3 did not decrypt or its MAC/signature did not verify.
    AuthenticationFailed,
    /// An OSCORE request's Partial IV was already received.
    Replay,
    /// An OSCORE request did not decrypt.
    DecryptionFailed,
    /// An OSCORE option or COSE object that cannot be decoded (4.02).
    BadOption,
    /// An OSCORE request that decrypted to something that is not a CoAP request.
    MalformedPlaintext,
    /// An OSCORE request whose kid names no session (after a restart, or a dropped session).
    NoSession,
    /// message_1 was refused (method or suite not supported, malformed).
    RefusedMessage1,
    /// An EDHOC request that is neither `true || message_1` nor `C_R || message`.
    BadEdhocRequest,
    /// message_3 for a C_R with no handshake waiting.
    UnknownHandshake,
    /// A telemetry payload that does not match its Content-Format.
    BadPayload,
    /// A request for a resource or with a method the server does not have.
    NotFound,
}

impl Reason {
    /// Every reason, in label order.
    pub const ALL: [Self; 13] = [
        Self::UnknownCredential,
        Self::Revoked,
        Self::AuthenticationFailed,
        Self::Replay,
        Self::DecryptionFailed,
        Self::BadOption,
        Self::MalformedPlaintext,
        Self::NoSession,
        Self::RefusedMessage1,
        Self::BadEdhocRequest,
        Self::UnknownHandshake,
        Self::BadPayload,
        Self::NotFound,
    ];

    /// The `reason` label of `ferrule_rejections_total`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::UnknownCredential => "unknown_credential",
            Self::Revoked => "revoked",
            Self::AuthenticationFailed => "authentication_failed",
            Self::Replay => "replay",
            Self::DecryptionFailed => "decryption_failed",
            Self::BadOption => "bad_option",
            Self::MalformedPlaintext => "malformed_plaintext",
            Self::NoSession => "no_session",
            Self::RefusedMessage1 => "refused_message_1",
            Self::BadEdhocRequest => "bad_edhoc_request",
            Self::UnknownHandshake => "unknown_handshake",
            Self::BadPayload => "bad_payload",
            Self::NotFound => "not_found",
        }
    }

    /// The registry event kind, for the reasons that are security events.
    pub const fn event_kind(self) -> Option<&'static str> {
        match self {
            Self::UnknownCredential => Some(event_kind::UNKNOWN_KID),
            Self::Revoked => Some(event_kind::REVOKED_DEVICE),
            Self::AuthenticationFailed => Some(event_kind::AUTHENTICATION_FAILED),
            Self::Replay => Some(event_kind::REPLAY),
            Self::DecryptionFailed | Self::BadOption | Self::MalformedPlaintext => {
                Some(event_kind::MALFORMED)
            }
            _ => None,
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// Counts, logs and records refusals; see the [module documentation](self).
#[derive(Debug)]
pub(crate) struct EventLog {
    metrics: Arc<Metrics>,
    tokens: f64,
    refilled: Instant,
    suppressed: u64,
}

impl EventLog {
    pub(crate) fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            tokens: f64::from(EVENTS_PER_SECOND),
            refilled: Instant::now(),
            suppressed: 0,
        }
    }

    /// Records a refusal: counted always, logged (security events at `warn`), and written to
    /// the registry if it is a security event and the rate limit allows.
    pub(crate) fn reject(
        &mut self,
        registry: &Registry,
        reason: Reason,
        device: Option<&str>,
        detail: &str,
        peer: SocketAddr,
    ) {
        self.metrics.rejection(reason);
        let label = reason.label();
        let Some(kind) = reason.event_kind() else {
            tracing::debug!(reason = label, device, %peer, detail, "request refused");
            return;
        };
        tracing::warn!(reason = label, device, %peer, detail, "security event");
        if !self.take_token() {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            tracing::warn!(
                suppressed = self.suppressed,
                "security events not stored in the registry (rate limit); they were logged and counted"
            );
            self.suppressed = 0;
        }
        let peer = peer.to_string();
        if let Err(e) = registry.record_event(device, kind, detail, Some(&peer)) {
            tracing::error!(error = %e, reason = label, "cannot record a security event");
        }
    }

    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        let rate = f64::from(EVENTS_PER_SECOND);
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(rate);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
