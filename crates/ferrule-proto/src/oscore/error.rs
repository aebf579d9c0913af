//! Errors of OSCORE processing, with the CoAP error codes RFC 8613 Section 8 prescribes.

use core::fmt;

use super::RequestId;
use crate::coap::{CoapError, Code, MessageId, MessageType, MessageWriter, OptionNumber};
use crate::crypto::CryptoError;

/// Why persistent storage failed (RFC 8613 Appendix B.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// The value could not be read.
    Read,
    /// The value could not be written durably.
    Write,
    /// The stored value is not a valid sequence-number bound.
    Corrupt,
}

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Read => "reading OSCORE state from storage failed",
            Self::Write => "writing OSCORE state to storage failed",
            Self::Corrupt => "stored OSCORE state is corrupt",
        })
    }
}

impl core::error::Error for StorageError {}

/// What went wrong protecting or verifying an OSCORE message; also the reason a server logs.
///
/// Errors met while verifying a request map to the response RFC 8613 Section 8.2 prescribes
/// ([`OscoreError::response_code`]); a client drops a response that fails verification and
/// answers nothing (Section 8.4). AEAD failures are deliberately opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OscoreError {
    /// The datagram is not a well-formed CoAP message (a message format error: reset or drop it,
    /// RFC 7252 Section 4.2 and 4.3).
    Coap(CoapError),
    /// The message has no OSCORE option: it is not OSCORE-protected.
    NotProtected,
    /// The OSCORE option or the COSE object cannot be decoded: bad flag bits, truncated fields,
    /// a request without 'kid' or 'Partial IV', a ciphertext shorter than the tag, a repeated
    /// OSCORE option (RFC 8613 Section 8.2 step 2: 4.02 Bad Option).
    MalformedOption,
    /// No security context for this 'kid' and 'kid context' (RFC 8613 Section 8.2 step 2:
    /// 4.01 Unauthorized, "Security context not found").
    ContextNotFound,
    /// The Partial IV was received before or is older than the replay window (RFC 8613
    /// Section 7.4: 4.01 Unauthorized, "Replay detected").
    Replay,
    /// The AEAD tag did not verify (RFC 8613 Section 8.2 step 6: 4.00 Bad Request,
    /// "Decryption failed").
    DecryptionFailed,
    /// The decrypted plaintext is not a valid code, option sequence and payload, or holds an
    /// inner OSCORE option (4.00 Bad Request).
    MalformedPlaintext,
    /// The request verified, but this server lost its replay window and cannot tell whether it
    /// is fresh: answer with a protected 4.01 carrying an Echo option
    /// ([`super::SecurityContext::protect_echo_challenge`]) and do not process the request
    /// (RFC 8613 Appendix B.1.2).
    EchoRequired(RequestId),
    /// The message handed in for protection cannot be protected: not a request (or response),
    /// already carrying an OSCORE option, or a Proxy-Uri with a path or query.
    InvalidMessage,
    /// The Sender Sequence Number passed 2^40 - 1: a new security context is needed (RFC 8613
    /// Section 7.2.1).
    SequenceNumberExhausted,
    /// The next Sender Sequence Number is not covered by the persisted bound yet: call
    /// [`super::SecurityContext::reserve`] first (RFC 8613 Appendix B.1.1).
    SequenceNumberNotPersisted,
    /// Persisting or loading state failed.
    Storage(StorageError),
    /// Invalid security context parameters (an ID longer than the nonce allows, equal Sender
    /// and Recipient IDs, an empty Master Secret, a replay window size of 0 or above 64, a
    /// persistence step of 0).
    InvalidParameters,
    /// The output buffer is too small.
    BufferTooSmall,
    /// The crypto provider failed (not an AEAD verification failure).
    Crypto(CryptoError),
}

impl OscoreError {
    /// The CoAP response code for an error found while verifying a request (RFC 8613
    /// Section 8.2 and 7.4), or `None` if no OSCORE error response is due (a malformed CoAP
    /// message, an unprotected message, or a local error).
    ///
    /// For [`OscoreError::EchoRequired`] it is 4.01, but that response must be protected (see
    /// [`super::SecurityContext::protect_echo_challenge`]).
    pub const fn response_code(&self) -> Option<Code> {
        match self {
            Self::MalformedOption => Some(Code::BAD_OPTION),
            Self::ContextNotFound | Self::Replay | Self::EchoRequired(_) => {
                Some(Code::UNAUTHORIZED)
            }
            Self::DecryptionFailed | Self::MalformedPlaintext => Some(Code::BAD_REQUEST),
            _ => None,
        }
    }

    /// The diagnostic payload RFC 8613 Section 8.2 and 7.4 suggest for the error response.
    pub const fn diagnostic(&self) -> Option<&'static str> {
        match self {
            Self::MalformedOption => Some("Failed to decode COSE"),
            Self::ContextNotFound => Some("Security context not found"),
            Self::Replay => Some("Replay detected"),
            Self::DecryptionFailed => Some("Decryption failed"),
            Self::MalformedPlaintext => Some("Malformed plaintext"),
            _ => None,
        }
    }

    /// Writes the unprotected error response RFC 8613 Section 8.2 allows for this error: the
    /// code, an Outer Max-Age of 0, and the diagnostic payload. Returns `Ok(None)` when no
    /// unprotected response is due (including [`OscoreError::EchoRequired`], whose response is
    /// protected).
    ///
    /// For a Confirmable request pass [`MessageType::Acknowledgement`] and the request's Message
    /// ID; for a Non-confirmable one, [`MessageType::NonConfirmable`] and a fresh Message ID.
    ///
    /// # Errors
    /// [`CoapError::BufferTooSmall`], [`CoapError::TokenTooLong`].
    pub fn write_error_response(
        &self,
        msg_type: MessageType,
        message_id: MessageId,
        token: &[u8],
        out: &mut [u8],
    ) -> Result<Option<usize>, CoapError> {
        let (Some(code), Some(diagnostic)) = (self.response_code(), self.diagnostic()) else {
            return Ok(None);
        };
        let mut w = MessageWriter::new(out, msg_type, code, message_id, token)?;
        w.uint_option(OptionNumber::MaxAge, 0)?;
        w.payload(diagnostic.as_bytes()).map(Some)
    }
}

impl fmt::Display for OscoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Coap(e) => write!(f, "malformed CoAP message: {e}"),
            Self::NotProtected => f.write_str("message carries no OSCORE option"),
            Self::MalformedOption => f.write_str("OSCORE option or COSE object cannot be decoded"),
            Self::ContextNotFound => f.write_str("OSCORE security context not found"),
            Self::Replay => f.write_str("OSCORE replay detected"),
            Self::DecryptionFailed => f.write_str("OSCORE decryption failed"),
            Self::MalformedPlaintext => f.write_str("OSCORE plaintext is malformed"),
            Self::EchoRequired(_) => {
                f.write_str("OSCORE replay window not initialized: Echo challenge required")
            }
            Self::InvalidMessage => f.write_str("message cannot be OSCORE-protected"),
            Self::SequenceNumberExhausted => f.write_str("OSCORE sender sequence number exhausted"),
            Self::SequenceNumberNotPersisted => {
                f.write_str("OSCORE sender sequence number not persisted yet")
            }
            Self::Storage(e) => write!(f, "{e}"),
            Self::InvalidParameters => f.write_str("invalid OSCORE security context parameters"),
            Self::BufferTooSmall => f.write_str("output buffer too small for OSCORE message"),
            Self::Crypto(e) => write!(f, "crypto provider failed: {e}"),
        }
    }
}

impl core::error::Error for OscoreError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Coap(e) => Some(e),
            Self::Storage(e) => Some(e),
            Self::Crypto(e) => Some(e),
            _ => None,
        }
    }
}

impl From<StorageError> for OscoreError {
    fn from(e: StorageError) -> Self {
        Self::Storage(e)
    }
}

impl From<CryptoError> for OscoreError {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}

/// Errors of writing an output message: only the buffer size can fail once the input is valid.
pub(crate) fn from_emit(e: CoapError) -> OscoreError {
    match e {
        CoapError::BufferTooSmall => OscoreError::BufferTooSmall,
        _ => OscoreError::InvalidMessage,
    }
}
