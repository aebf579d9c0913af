//! What binds a response to its request (RFC 8613 Section 5.4 and 7.3).

use super::{OscoreId, PartialIv};

/// The request's 'kid' and Partial IV, which go into the AAD of the response and, when the
/// response carries no Partial IV of its own, into its nonce (RFC 8613 Section 5.4 and 8.3).
///
/// A client gets it from [`super::SecurityContext::protect_request`] and passes it to
/// [`super::SecurityContext::verify_response`]; a server gets it from
/// [`super::SecurityContext::verify_request`] and passes it to
/// [`super::SecurityContext::protect_response`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId {
    pub(crate) kid: OscoreId,
    pub(crate) partial_iv: PartialIv,
    /// The request used Observe (outer FETCH): responses use 2.05 as outer code.
    pub(crate) observe: bool,
    /// Whether a response may still reuse the request's nonce: only the first response to a
    /// request known to be fresh (RFC 8613 Section 8.3 and Appendix B.1.2).
    pub(crate) nonce_reusable: bool,
}

impl RequestId {
    /// The request's 'kid' (the client's Sender ID).
    pub const fn kid(&self) -> &OscoreId {
        &self.kid
    }

    /// The request's Partial IV.
    pub const fn partial_iv(&self) -> PartialIv {
        self.partial_iv
    }

    /// Whether the request was an Observe registration.
    pub const fn is_observe(&self) -> bool {
        self.observe
    }

    /// Whether the next response may omit its own Partial IV and reuse the request nonce.
    pub const fn nonce_reusable(&self) -> bool {
        self.nonce_reusable
    }
}
