//! Why a handshake step failed, and what to tell the peer.

use core::fmt;

use crate::cbor::CborError;
use crate::crypto::CryptoError;

use super::CipherSuite;

/// A handshake failure. Every variant says what the peer (or the caller) did wrong;
/// [`Error::err_code`] gives the EDHOC error message to answer with (RFC 9528 Section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A message does not parse (bad CBOR, wrong types, trailing bytes, bad lengths).
    Malformed(CborError),
    /// The method in message_1 is unknown or not allowed by this responder.
    MethodNotAllowed(u8),
    /// The responder does not support the initiator's selected suite (answer ERR_CODE 2).
    UnsupportedSuite(CipherSuite),
    /// The peer's SUITES_R shares no suite with our preferences.
    NoCommonSuite,
    /// No trusted credential for the peer's ID_CRED (answer ERR_CODE 3).
    UnknownCredential,
    /// The credential found does not fit: thumbprint mismatch, or a key type the suite and
    /// method cannot use.
    CredentialMismatch,
    /// MAC_2/MAC_3 or the signature did not verify: the peer is not who it claims, or the
    /// messages were altered.
    AuthenticationFailed,
    /// message_3 or message_4 did not decrypt: altered or forged.
    DecryptionFailed,
    /// A critical EAD item with a label the caller does not know (RFC 9528 Section 3.8).
    UnknownCriticalEad(u16),
    /// The responder chose C_R equal to C_I (RFC 9528 Section 3.3.3 forbids it).
    ConnectionIdCollision,
    /// The peer answered with an EDHOC error message.
    ///
    /// Only ERR_CODE is carried. For ERR_CODE 2, read SUITES_R from the message itself with
    /// [`ErrorMessage::parse`](super::ErrorMessage::parse) (the handshake steps leave an error
    /// message unaltered): a list of suites would make this type, and every `Result` of a
    /// handshake step, several times larger.
    Peer {
        /// ERR_CODE.
        code: i64,
    },
    /// Our own key cannot do what the method and suite require (configuration error).
    KeyMismatch,
    /// A caller-supplied output buffer is too small.
    BufferTooSmall,
    /// A message or credential exceeds this implementation's fixed capacities.
    TooLarge,
    /// A cryptographic operation failed (invalid peer public key, RNG failure).
    Crypto(CryptoError),
}

/// The EDHOC error code to send for a failure (RFC 9528 Section 6, Table 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrCode {
    /// ERR_CODE 1, unspecified error, with a diagnostic text.
    Unspecified,
    /// ERR_CODE 2, wrong selected cipher suite, with SUITES_R.
    WrongSelectedSuite,
    /// ERR_CODE 3, unknown credential referenced.
    UnknownCredential,
}

impl Error {
    /// The error message to send for this failure, or `None` where nothing should be sent (the
    /// peer's own error message, or a local configuration error).
    pub const fn err_code(&self) -> Option<ErrCode> {
        match self {
            Self::UnsupportedSuite(_) => Some(ErrCode::WrongSelectedSuite),
            Self::UnknownCredential => Some(ErrCode::UnknownCredential),
            Self::Peer { .. } | Self::KeyMismatch | Self::BufferTooSmall => None,
            _ => Some(ErrCode::Unspecified),
        }
    }

    /// A short reason, fit for logs and for ERR_INFO of ERR_CODE 1.
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed message",
            Self::MethodNotAllowed(_) => "method not allowed",
            Self::UnsupportedSuite(_) => "cipher suite not supported",
            Self::NoCommonSuite => "no common cipher suite",
            Self::UnknownCredential => "unknown credential",
            Self::CredentialMismatch => "credential does not match",
            Self::AuthenticationFailed => "authentication failed",
            Self::DecryptionFailed => "decryption failed",
            Self::UnknownCriticalEad(_) => "unknown critical EAD item",
            Self::ConnectionIdCollision => "C_R equals C_I",
            Self::Peer { .. } => "peer sent an error message",
            Self::KeyMismatch => "own key unusable for this method and suite",
            Self::BufferTooSmall => "output buffer too small",
            Self::TooLarge => "message exceeds capacity",
            Self::Crypto(_) => "cryptographic operation failed",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed EDHOC message: {e}"),
            Self::MethodNotAllowed(m) => write!(f, "EDHOC method {m} not allowed"),
            Self::UnsupportedSuite(s) => write!(f, "cipher suite {} not supported", s.id()),
            Self::UnknownCriticalEad(l) => write!(f, "unknown critical EAD item with label {l}"),
            Self::Peer { code } => {
                write!(f, "peer sent EDHOC error message with ERR_CODE {code}")
            }
            Self::Crypto(e) => write!(f, "cryptographic operation failed: {e}"),
            other => f.write_str(other.reason()),
        }
    }
}

impl core::error::Error for Error {}

impl From<CborError> for Error {
    fn from(e: CborError) -> Self {
        match e {
            CborError::BufferTooSmall => Self::BufferTooSmall,
            other => Self::Malformed(other),
        }
    }
}

impl From<CryptoError> for Error {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::InvalidSignature => Self::AuthenticationFailed,
            CryptoError::AeadFailure => Self::DecryptionFailed,
            CryptoError::KeyMismatch => Self::KeyMismatch,
            other => Self::Crypto(other),
        }
    }
}
