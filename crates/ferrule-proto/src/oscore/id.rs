//! Sender/Recipient IDs and the ID Context (RFC 8613 Section 3.1 and 3.3).

use core::fmt;

use super::OscoreError;
use crate::crypto::AEAD_NONCE_LEN;

/// Longest Sender or Recipient ID: nonce length minus 6 (RFC 8613 Section 3.3), 7 bytes for the
/// 13-byte nonces of AES-CCM-16-64-128 and AES-CCM-16-128-128.
pub const MAX_ID_LEN: usize = AEAD_NONCE_LEN - 6;

/// Longest ID Context this implementation keeps (RFC 8613 does not bound it; EDHOC-derived
/// contexts have none, and 16 bytes hold the re-keying nonces of Appendix B.2).
pub const MAX_ID_CONTEXT_LEN: usize = 16;

/// A Sender ID, Recipient ID or 'kid' (0 to 7 bytes), owned and `Copy`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OscoreId {
    bytes: [u8; MAX_ID_LEN],
    len: u8,
}

impl OscoreId {
    /// Copies an ID.
    ///
    /// # Errors
    /// [`OscoreError::InvalidParameters`] if it is longer than [`MAX_ID_LEN`].
    pub fn new(id: &[u8]) -> Result<Self, OscoreError> {
        let mut bytes = [0u8; MAX_ID_LEN];
        bytes
            .get_mut(..id.len())
            .ok_or(OscoreError::InvalidParameters)?
            .copy_from_slice(id);
        Ok(Self {
            bytes,
            len: id.len() as u8,
        })
    }

    /// The ID bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the ID is empty (a valid ID).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for OscoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("h'")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        f.write_str("'")
    }
}

/// An ID Context (RFC 8613 Section 3.1), 0 to 16 bytes here.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdContext {
    bytes: [u8; MAX_ID_CONTEXT_LEN],
    len: u8,
}

impl IdContext {
    /// Copies an ID Context.
    ///
    /// # Errors
    /// [`OscoreError::InvalidParameters`] if it is longer than [`MAX_ID_CONTEXT_LEN`].
    pub fn new(id_context: &[u8]) -> Result<Self, OscoreError> {
        let mut bytes = [0u8; MAX_ID_CONTEXT_LEN];
        bytes
            .get_mut(..id_context.len())
            .ok_or(OscoreError::InvalidParameters)?
            .copy_from_slice(id_context);
        Ok(Self {
            bytes,
            len: id_context.len() as u8,
        })
    }

    /// The ID Context bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl fmt::Debug for IdContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdContext(h'")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        f.write_str("')")
    }
}
