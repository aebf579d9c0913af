//! The fixed header fields: Type, Message ID and Token (RFC 7252 Section 3).

use core::fmt;

use super::CoapError;
use crate::crypto::{Crypto, CryptoError};

/// The only CoAP version (RFC 7252 Section 3).
pub const VERSION: u8 = 1;

/// Length of the fixed header: Ver/T/TKL, Code and Message ID.
pub const HEADER_LEN: usize = 4;

/// Longest token (RFC 7252 Section 3; lengths 9-15 are reserved).
pub const MAX_TOKEN_LEN: usize = 8;

/// The message type (RFC 7252 Section 3 and 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// Confirmable (0): retransmitted until acknowledged.
    Confirmable,
    /// Non-confirmable (1).
    NonConfirmable,
    /// Acknowledgement (2).
    Acknowledgement,
    /// Reset (3).
    Reset,
}

impl MessageType {
    /// The type from its two bits.
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0x03 {
            0 => Self::Confirmable,
            1 => Self::NonConfirmable,
            2 => Self::Acknowledgement,
            _ => Self::Reset,
        }
    }

    /// The two bits on the wire.
    pub const fn bits(self) -> u8 {
        match self {
            Self::Confirmable => 0,
            Self::NonConfirmable => 1,
            Self::Acknowledgement => 2,
            Self::Reset => 3,
        }
    }
}

/// A Message ID, which matches an Acknowledgement or Reset to its message and detects duplicates
/// (RFC 7252 Section 4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u16);

/// A token (0 to 8 bytes), which matches a response to its request (RFC 7252 Section 5.3.1).
///
/// Owned and `Copy`, for keeping in exchange state; a parsed message lends its token as a slice.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Token {
    bytes: [u8; MAX_TOKEN_LEN],
    len: u8,
}

impl Token {
    /// The empty token.
    pub const EMPTY: Self = Self {
        bytes: [0; MAX_TOKEN_LEN],
        len: 0,
    };

    /// Copies a token.
    ///
    /// # Errors
    /// [`CoapError::TokenTooLong`] if it is longer than 8 bytes.
    pub fn from_slice(token: &[u8]) -> Result<Self, CoapError> {
        let mut bytes = [0u8; MAX_TOKEN_LEN];
        bytes
            .get_mut(..token.len())
            .ok_or(CoapError::TokenTooLong)?
            .copy_from_slice(token);
        Ok(Self {
            bytes,
            len: token.len() as u8,
        })
    }

    /// A fresh random token of `len` bytes (at most 8) from the crypto provider's RNG.
    ///
    /// A client that does not otherwise protect against spoofed responses should use at least
    /// 4 random bytes (RFC 7252 Section 5.3.1).
    ///
    /// # Errors
    /// [`CryptoError::InvalidLength`] if `len` exceeds 8, [`CryptoError::Rng`] if the RNG fails.
    pub fn random<C: Crypto + ?Sized>(crypto: &mut C, len: usize) -> Result<Self, CryptoError> {
        let mut bytes = [0u8; MAX_TOKEN_LEN];
        crypto.fill_random(bytes.get_mut(..len).ok_or(CryptoError::InvalidLength)?)?;
        Ok(Self {
            bytes,
            len: len as u8,
        })
    }

    /// The token bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Token length in bytes.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the token is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// Generates Message IDs: sequential, starting from a random value so that IDs are hard to
/// guess and do not repeat soon after a restart (RFC 7252 Section 4.4).
#[derive(Clone, Debug)]
pub struct MessageIdSequence {
    next: u16,
}

impl MessageIdSequence {
    /// Starts at `random_start`, a random value the caller supplies (for example from
    /// [`Crypto::fill_random`]).
    pub const fn new(random_start: u16) -> Self {
        Self { next: random_start }
    }

    /// Starts at a random value from the crypto provider's RNG.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the RNG fails.
    pub fn random<C: Crypto + ?Sized>(crypto: &mut C) -> Result<Self, CryptoError> {
        let mut start = [0u8; 2];
        crypto.fill_random(&mut start)?;
        Ok(Self::new(u16::from_be_bytes(start)))
    }

    /// The next Message ID (wrapping after 65535).
    pub fn next_id(&mut self) -> MessageId {
        let id = self.next;
        self.next = self.next.wrapping_add(1);
        MessageId(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sequential_and_wrap() {
        let mut ids = MessageIdSequence::new(0xfffe);
        assert_eq!(ids.next_id(), MessageId(0xfffe));
        assert_eq!(ids.next_id(), MessageId(0xffff));
        assert_eq!(ids.next_id(), MessageId(0));
    }

    #[test]
    fn tokens() {
        assert_eq!(
            Token::from_slice(&[1, 2, 3]).unwrap().as_slice(),
            &[1, 2, 3]
        );
        assert_eq!(Token::from_slice(&[0; 9]), Err(CoapError::TokenTooLong));
        assert!(Token::EMPTY.is_empty());
        for bits in 0..4 {
            assert_eq!(MessageType::from_bits(bits).bits(), bits);
        }
    }
}
