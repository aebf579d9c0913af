//! The plugtest's pre-shared security contexts.
//!
//! aiocoap's plugtest scripts copy their contexts from `common-context/{a,b,c,d}`, which the
//! sdist does not ship; `interop/python/fetch_plugtest.py` recreates them with the same values
//! as here: a and b are the client and server of RFC 8613 Appendix C.1 (Master Secret
//! 0x0102...10, Master Salt 0x9e7ca92223786340, client Sender ID empty, server Sender ID 0x01),
//! c and d the same with the ID Context 0x37cbf3210017a2d3 of Appendix C.3.

use ferrule_proto::oscore::{ContextParams, OscoreError, SecurityContext};

/// Master Secret of RFC 8613 Appendix C.1.
pub const MASTER_SECRET: [u8; 16] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
];
/// Master Salt of RFC 8613 Appendix C.1.
pub const MASTER_SALT: [u8; 8] = [0x9e, 0x7c, 0xa9, 0x22, 0x23, 0x78, 0x63, 0x40];
/// ID Context of RFC 8613 Appendix C.3.
pub const ID_CONTEXT: [u8; 8] = [0x37, 0xcb, 0xf3, 0x21, 0x00, 0x17, 0xa2, 0xd3];
/// The client's Sender ID (empty).
pub const CLIENT_ID: &[u8] = b"";
/// The server's Sender ID.
pub const SERVER_ID: &[u8] = b"\x01";

/// One of the plugtest's four contexts, named as its directory in `common-context/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlugtestContext {
    /// Client side of RFC 8613 C.1 (the plugtest client's ":ab").
    A,
    /// Server side of RFC 8613 C.1 (the plugtest server's ":b").
    B,
    /// Client side of RFC 8613 C.3, with ID Context (the plugtest client's ":cd").
    C,
    /// Server side of RFC 8613 C.3 (the plugtest server's ":d").
    D,
}

impl PlugtestContext {
    /// The directory letter.
    pub const fn name(self) -> char {
        match self {
            Self::A => 'a',
            Self::B => 'b',
            Self::C => 'c',
            Self::D => 'd',
        }
    }

    /// The context's parameters.
    pub fn params(self) -> ContextParams<'static> {
        let (sender, recipient) = match self {
            Self::A | Self::C => (CLIENT_ID, SERVER_ID),
            Self::B | Self::D => (SERVER_ID, CLIENT_ID),
        };
        let mut p = ContextParams::new(&MASTER_SECRET, sender, recipient);
        p.master_salt = Some(&MASTER_SALT);
        if matches!(self, Self::C | Self::D) {
            p.id_context = Some(&ID_CONTEXT);
        }
        p
    }

    /// Derives the security context (RFC 8613 Section 3.2), fresh: Sender Sequence Number 0,
    /// empty replay window.
    ///
    /// # Errors
    /// What [`SecurityContext::derive`] returns (nothing, for these parameters).
    pub fn derive(self) -> Result<SecurityContext, OscoreError> {
        derive(&self.params())
    }
}

/// Derives a context from `params` with the OS RNG (derivation uses no randomness).
///
/// # Errors
/// What [`SecurityContext::derive`] returns.
pub fn derive(params: &ContextParams<'_>) -> Result<SecurityContext, OscoreError> {
    SecurityContext::derive(&mut ferrule_crypto::RustCrypto::from_os_rng(), params)
}
