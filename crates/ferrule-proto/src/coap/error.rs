//! Errors of the CoAP codec (RFC 7252 Section 3).

use core::fmt;

/// What is wrong with a CoAP message, an option value, or an attempt to emit one.
///
/// A received message that fails to parse is a *message format error* (RFC 7252 Section 4.2 and
/// 4.3): a Confirmable one is answered with a Reset, any other is silently dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoapError {
    /// The datagram is shorter than the 4-byte header, or ends inside the token or an option.
    Truncated,
    /// The Version field is not 1 (RFC 7252 Section 3).
    UnsupportedVersion(u8),
    /// Token Length 9 to 15, which are reserved (RFC 7252 Section 3).
    InvalidTokenLength(u8),
    /// An option delta or length nibble of 15 in a byte other than the payload marker 0xFF
    /// (RFC 7252 Section 3.1).
    ReservedOptionNibble,
    /// A payload marker followed by a zero-length payload (RFC 7252 Section 3).
    EmptyPayload,
    /// The option number grows beyond 65535.
    OptionNumberOverflow,
    /// An Empty message (code 0.00) with a token, options or a payload (RFC 7252 Section 4.1).
    NonEmptyEmptyMessage,
    /// Options handed to an emitter out of ascending order of option number.
    OptionOutOfOrder,
    /// An option value longer than the 65804 bytes the encoding can express, or one that does not
    /// fit its option's format (a uint longer than 4 bytes, a Block SZX of 7, an Echo value that is
    /// not 1-40 bytes).
    InvalidOptionValue,
    /// A token longer than 8 bytes handed to an emitter.
    TokenTooLong,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for CoapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("CoAP message truncated"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported CoAP version {v}"),
            Self::InvalidTokenLength(l) => write!(f, "reserved CoAP token length {l}"),
            Self::ReservedOptionNibble => f.write_str("reserved CoAP option delta or length 15"),
            Self::EmptyPayload => f.write_str("CoAP payload marker followed by no payload"),
            Self::OptionNumberOverflow => f.write_str("CoAP option number above 65535"),
            Self::NonEmptyEmptyMessage => f.write_str("CoAP Empty message carries data"),
            Self::OptionOutOfOrder => f.write_str("CoAP options not in ascending order"),
            Self::InvalidOptionValue => f.write_str("invalid CoAP option value"),
            Self::TokenTooLong => f.write_str("CoAP token longer than 8 bytes"),
            Self::BufferTooSmall => f.write_str("output buffer too small for CoAP message"),
        }
    }
}

impl core::error::Error for CoapError {}
