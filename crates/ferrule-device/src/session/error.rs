//! What can go wrong in a [`Session`](super::Session) on this side of the link.

use core::fmt;

use ferrule_proto::coap::CoapError;
use ferrule_proto::crypto::CryptoError;
use ferrule_proto::edhoc;
use ferrule_proto::oscore::{OscoreError, StorageError};

/// A local failure of a session: a call the session refused, or a step that failed here (not a
/// refusal by the cloud, which is an [`Event`](super::Event)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// A message is already outstanding, or a received command or other events wait to be read
    /// with [`Session::poll_event`](super::Session::poll_event): read the events, wait for
    /// [`Event::Delivered`](super::Event::Delivered) (or another end of the message), then
    /// try again.
    Busy,
    /// The payload exceeds [`Session::MAX_PAYLOAD`](super::Session::MAX_PAYLOAD) for this
    /// buffer size.
    TooLarge,
    /// The persistence step K of the configuration is 0 (RFC 8613 Appendix B.1.1 needs K >= 1).
    InvalidPersistStep,
    /// The device credential has no `kid` and is not a CCS, so no ID_CRED_I can be derived from
    /// it: set [`SessionConfig::edhoc`](super::SessionConfig::edhoc)`.id_cred` explicitly.
    NoCredentialId,
    /// An EDHOC step failed here: the key does not suit the method and suite, a message did not
    /// fit, or the crypto provider failed.
    Edhoc(edhoc::Error),
    /// OSCORE protection failed here (for example the sequence number space ran out).
    Oscore(OscoreError),
    /// Persisting the OSCORE sequence-number bound failed: nothing is sent until it succeeds.
    Storage(StorageError),
    /// A CoAP message could not be written (a buffer too small for it).
    Coap(CoapError),
    /// The crypto provider failed (typically its random number generator).
    Crypto(CryptoError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy => f.write_str(
                "a message is already outstanding or events are unread; read events and retry",
            ),
            Self::TooLarge => f.write_str("payload too large for the session's buffer size"),
            Self::InvalidPersistStep => {
                f.write_str("sequence-number persistence step must be at least 1")
            }
            Self::NoCredentialId => f.write_str(
                "device credential has neither a kid nor a CCS form; set the ID_CRED_I explicitly",
            ),
            Self::Edhoc(e) => write!(f, "EDHOC: {e}"),
            Self::Oscore(e) => write!(f, "OSCORE: {e}"),
            Self::Storage(e) => write!(f, "{e}"),
            Self::Coap(e) => write!(f, "CoAP: {e}"),
            Self::Crypto(e) => write!(f, "crypto provider: {e}"),
        }
    }
}

impl core::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Edhoc(e) => Some(e),
            Self::Oscore(e) => Some(e),
            Self::Storage(e) => Some(e),
            Self::Coap(e) => Some(e),
            Self::Crypto(e) => Some(e),
            _ => None,
        }
    }
}

impl From<edhoc::Error> for SessionError {
    fn from(e: edhoc::Error) -> Self {
        Self::Edhoc(e)
    }
}

impl From<OscoreError> for SessionError {
    fn from(e: OscoreError) -> Self {
        match e {
            OscoreError::Storage(s) => Self::Storage(s),
            other => Self::Oscore(other),
        }
    }
}

impl From<StorageError> for SessionError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

impl From<CoapError> for SessionError {
    fn from(e: CoapError) -> Self {
        Self::Coap(e)
    }
}

impl From<CryptoError> for SessionError {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}
