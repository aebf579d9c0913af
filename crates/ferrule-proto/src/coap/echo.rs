//! The Echo option value (RFC 9175 Section 2.2).

use core::fmt;

use super::CoapError;

/// An Echo option value: opaque, 1 to 40 bytes (RFC 9175 Section 2.2.1).
///
/// A server sends it to check a request's freshness; the client returns it unchanged in its next
/// request (RFC 9175 Section 2.3). OSCORE uses it to recover a lost replay window (RFC 8613
/// Appendix B.1.2).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Echo<'a>(&'a [u8]);

impl<'a> Echo<'a> {
    /// Shortest Echo value.
    pub const MIN_LEN: usize = 1;
    /// Longest Echo value.
    pub const MAX_LEN: usize = 40;

    /// Checks the length of an Echo value.
    ///
    /// # Errors
    /// [`CoapError::InvalidOptionValue`] if it is empty or longer than 40 bytes.
    pub const fn new(value: &'a [u8]) -> Result<Self, CoapError> {
        if value.len() < Self::MIN_LEN || value.len() > Self::MAX_LEN {
            return Err(CoapError::InvalidOptionValue);
        }
        Ok(Self(value))
    }

    /// The value bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl fmt::Debug for Echo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Echo(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert!(Echo::new(&[]).is_err());
        assert!(Echo::new(&[0; 41]).is_err());
        assert_eq!(Echo::new(&[1; 40]).unwrap().as_bytes().len(), 40);
    }
}
