//! EDHOC connection identifiers C_I and C_R (RFC 9528 Section 3.3).

use crate::cbor::{CborError, Decoder, Encoder, MajorType};

/// A connection identifier: a short byte string.
///
/// On the wire (Section 3.3.2) a one-byte identifier whose byte is itself the CBOR encoding of an
/// integer in -24..=23 is sent as that integer (one byte); every other identifier is a byte string.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId {
    bytes: [u8; Self::MAX_LEN],
    len: u8,
}

impl ConnectionId {
    /// Longest identifier accepted. Constrained deployments use one byte.
    pub const MAX_LEN: usize = 8;

    /// An identifier from its bytes; `None` if longer than [`Self::MAX_LEN`].
    pub fn new(bytes: &[u8]) -> Option<Self> {
        let mut id = Self {
            bytes: [0; Self::MAX_LEN],
            len: 0,
        };
        id.bytes.get_mut(..bytes.len())?.copy_from_slice(bytes);
        id.len = bytes.len() as u8;
        Some(id)
    }

    /// The one-byte identifier whose wire form is the CBOR integer `value` (-24..=23).
    pub fn from_int(value: i8) -> Option<Self> {
        match value {
            0..=23 => Self::new(&[value as u8]),
            -24..=-1 => Self::new(&[0x20 | (-1 - value) as u8]),
            _ => None,
        }
    }

    /// The identifier bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Whether the identifier is sent as a one-byte CBOR integer.
    pub fn is_compact(&self) -> bool {
        matches!(self.as_bytes(), [b] if is_one_byte_int(*b))
    }

    /// Writes the wire form.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn encode(&self, e: &mut Encoder<'_>) -> Result<(), CborError> {
        if self.is_compact() {
            e.raw(self.as_bytes())?;
        } else {
            e.bytes(self.as_bytes())?;
        }
        Ok(())
    }

    /// The wire form into a small buffer; returns its length.
    pub fn encoded(&self, out: &mut [u8; Self::MAX_LEN + 1]) -> usize {
        if self.is_compact() {
            out[0] = self.bytes[0];
            1
        } else {
            out[0] = 0x40 | self.len;
            out[1..=usize::from(self.len)].copy_from_slice(self.as_bytes());
            1 + usize::from(self.len)
        }
    }

    /// Reads the wire form, rejecting a one-byte string that should have been an integer.
    ///
    /// # Errors
    /// If the item is not an integer in -24..=23 nor a byte string of at most [`Self::MAX_LEN`].
    pub fn decode(d: &mut Decoder<'_>) -> Result<Self, CborError> {
        match d.peek_type() {
            Some(MajorType::Unsigned | MajorType::Negative) => {
                let start = d.remaining();
                let v = d.i64()?;
                if !(-24..=23).contains(&v) {
                    return Err(CborError::OutOfRange);
                }
                Self::new(&start[..1]).ok_or(CborError::OutOfRange)
            }
            Some(MajorType::Bytes) => {
                let b = d.bytes()?;
                if matches!(b, [x] if is_one_byte_int(*x)) {
                    return Err(CborError::NotDeterministic);
                }
                Self::new(b).ok_or(CborError::OutOfRange)
            }
            Some(found) => Err(CborError::UnexpectedType {
                expected: MajorType::Bytes,
                found,
            }),
            None => Err(CborError::Truncated),
        }
    }
}

/// Whether `b` is the complete CBOR encoding of an integer in -24..=23.
pub(crate) const fn is_one_byte_int(b: u8) -> bool {
    b <= 0x17 || (b >= 0x20 && b <= 0x37)
}

impl core::fmt::Debug for ConnectionId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ConnectionId(h'")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, "')")
    }
}
