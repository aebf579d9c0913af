//! Partial IV, Common IV and AEAD nonce construction (RFC 8613 Section 5.2 and 6.1).

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{OscoreError, OscoreId, MAX_ID_LEN};
use crate::crypto::AEAD_NONCE_LEN;

/// Largest Sender Sequence Number and Partial IV: 2^40 - 1 (RFC 8613 Section 7.2.1).
pub const MAX_SEQUENCE_NUMBER: u64 = (1 << 40) - 1;

/// Longest Partial IV: 5 bytes.
pub const MAX_PARTIAL_IV_LEN: usize = 5;

/// A Partial IV: the sender's sequence number, 0 to 2^40 - 1, sent in the shortest big-endian
/// form of 1 to 5 bytes (RFC 8613 Section 6.1; zero is one 0x00 byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartialIv(u64);

impl PartialIv {
    /// The Partial IV for a sequence number, if it is at most 2^40 - 1.
    pub const fn new(sequence_number: u64) -> Option<Self> {
        if sequence_number > MAX_SEQUENCE_NUMBER {
            None
        } else {
            Some(Self(sequence_number))
        }
    }

    /// Decodes a received Partial IV.
    ///
    /// # Errors
    /// [`OscoreError::MalformedOption`] if it is empty, longer than 5 bytes, or not in the
    /// shortest form (a leading zero byte).
    pub fn decode(bytes: &[u8]) -> Result<Self, OscoreError> {
        if bytes.is_empty() || bytes.len() > MAX_PARTIAL_IV_LEN {
            return Err(OscoreError::MalformedOption);
        }
        if bytes.len() > 1 && bytes.first() == Some(&0) {
            return Err(OscoreError::MalformedOption);
        }
        Ok(Self(
            bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        ))
    }

    /// The sequence number.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// The shortest encoding.
    pub fn encode(self) -> PartialIvBytes {
        let be = self.0.to_be_bytes();
        let mut bytes = [0u8; MAX_PARTIAL_IV_LEN];
        bytes.copy_from_slice(&be[3..8]);
        let significant = 8 - (self.0.leading_zeros() / 8) as usize;
        PartialIvBytes {
            bytes,
            len: significant.max(1) as u8,
        }
    }

    fn padded(self) -> [u8; MAX_PARTIAL_IV_LEN] {
        let be = self.0.to_be_bytes();
        let mut out = [0u8; MAX_PARTIAL_IV_LEN];
        out.copy_from_slice(&be[3..8]);
        out
    }
}

/// The encoded form of a [`PartialIv`] (1 to 5 bytes) as a small stack value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialIvBytes {
    bytes: [u8; MAX_PARTIAL_IV_LEN],
    len: u8,
}

impl PartialIvBytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes
            .get(MAX_PARTIAL_IV_LEN - usize::from(self.len)..)
            .unwrap_or(&[])
    }
}

/// The Common IV (RFC 8613 Section 3.2.1). Zeroized on drop; `Debug` prints no bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct CommonIv([u8; AEAD_NONCE_LEN]);

impl CommonIv {
    /// Wraps derived bytes.
    pub const fn from_bytes(bytes: [u8; AEAD_NONCE_LEN]) -> Self {
        Self(bytes)
    }

    /// The bytes.
    pub const fn as_bytes(&self) -> &[u8; AEAD_NONCE_LEN] {
        &self.0
    }
}

impl fmt::Debug for CommonIv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CommonIv(<redacted>)")
    }
}

/// An AEAD nonce (13 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce([u8; AEAD_NONCE_LEN]);

impl Nonce {
    /// Builds the nonce of RFC 8613 Section 5.2: the length of the ID of the entity that
    /// generated the Partial IV, that ID left-padded to nonce length - 6 bytes, the Partial IV
    /// left-padded to 5 bytes, all XORed with the Common IV.
    pub fn new(common_iv: &CommonIv, id: &OscoreId, partial_iv: PartialIv) -> Self {
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        nonce[0] = id.len() as u8;
        let id_bytes = id.as_slice();
        let id_start = 1 + MAX_ID_LEN - id_bytes.len();
        if let Some(dst) = nonce.get_mut(id_start..1 + MAX_ID_LEN) {
            dst.copy_from_slice(id_bytes);
        }
        nonce[1 + MAX_ID_LEN..].copy_from_slice(&partial_iv.padded());
        for (n, c) in nonce.iter_mut().zip(common_iv.as_bytes()) {
            *n ^= c;
        }
        Self(nonce)
    }

    /// The nonce bytes.
    pub const fn as_bytes(&self) -> &[u8; AEAD_NONCE_LEN] {
        &self.0
    }
}

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonce(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_iv_encoding() {
        assert_eq!(PartialIv::new(0).unwrap().encode().as_slice(), &[0]);
        assert_eq!(PartialIv::new(20).unwrap().encode().as_slice(), &[0x14]);
        assert_eq!(PartialIv::new(256).unwrap().encode().as_slice(), &[1, 0]);
        assert_eq!(
            PartialIv::new(MAX_SEQUENCE_NUMBER)
                .unwrap()
                .encode()
                .as_slice(),
            &[0xff; 5]
        );
        assert!(PartialIv::new(MAX_SEQUENCE_NUMBER + 1).is_none());
        assert_eq!(PartialIv::decode(&[0x14]).unwrap().value(), 20);
        assert_eq!(PartialIv::decode(&[0]).unwrap().value(), 0);
        assert_eq!(
            PartialIv::decode(&[0, 0x14]),
            Err(OscoreError::MalformedOption)
        );
        assert_eq!(PartialIv::decode(&[]), Err(OscoreError::MalformedOption));
        assert_eq!(
            PartialIv::decode(&[1; 6]),
            Err(OscoreError::MalformedOption)
        );
    }

    #[test]
    fn nonce_of_rfc8613_c1() {
        let iv = CommonIv::from_bytes([
            0x46, 0x22, 0xd4, 0xdd, 0x6d, 0x94, 0x41, 0x68, 0xee, 0xfb, 0x54, 0x98, 0x7c,
        ]);
        let n = Nonce::new(
            &iv,
            &OscoreId::new(&[1]).unwrap(),
            PartialIv::new(0).unwrap(),
        );
        assert_eq!(
            n.as_bytes(),
            &[0x47, 0x22, 0xd4, 0xdd, 0x6d, 0x94, 0x41, 0x69, 0xee, 0xfb, 0x54, 0x98, 0x7c]
        );
    }
}
