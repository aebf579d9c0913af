//! The `uint` option value format (RFC 7252 Section 3.2).

use super::CoapError;

/// Decodes a `uint` option value: 0 to 4 bytes, network byte order. Leading zero bytes are
/// accepted (a sender only SHOULD use the shortest form).
///
/// # Errors
/// [`CoapError::InvalidOptionValue`] if the value is longer than 4 bytes.
pub fn decode_uint(value: &[u8]) -> Result<u32, CoapError> {
    if value.len() > 4 {
        return Err(CoapError::InvalidOptionValue);
    }
    Ok(value.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// A `uint` option value in its shortest form (0 is the empty value), as a small stack value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UintValue {
    bytes: [u8; 4],
    len: u8,
}

impl UintValue {
    /// The shortest encoding of `value`.
    pub const fn new(value: u32) -> Self {
        let bytes = value.to_be_bytes();
        let len = 4 - (value.leading_zeros() / 8) as u8;
        Self { bytes, len }
    }

    /// The encoded bytes, to pass as an option value.
    pub fn as_slice(&self) -> &[u8] {
        let len = usize::from(self.len);
        self.bytes.get(4 - len..).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_form() {
        assert_eq!(UintValue::new(0).as_slice(), &[] as &[u8]);
        assert_eq!(UintValue::new(1).as_slice(), &[1]);
        assert_eq!(UintValue::new(0x100).as_slice(), &[1, 0]);
        assert_eq!(UintValue::new(u32::MAX).as_slice(), &[0xff; 4]);
        for v in [0u32, 1, 255, 256, 65535, 65536, 1 << 24, u32::MAX] {
            assert_eq!(decode_uint(UintValue::new(v).as_slice()), Ok(v));
        }
        assert_eq!(decode_uint(&[0, 0, 5]), Ok(5));
        assert_eq!(decode_uint(&[0; 5]), Err(CoapError::InvalidOptionValue));
    }
}
