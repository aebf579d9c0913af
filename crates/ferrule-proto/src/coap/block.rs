//! The Block1/Block2 option value (RFC 7959 Section 2.2).

use super::{decode_uint, CoapError, UintValue};

/// A Block1 or Block2 option value: block number NUM, more flag M and size exponent SZX
/// (RFC 7959 Section 2.2). The block size is `2^(SZX + 4)`, 16 to 1024 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockValue {
    num: u32,
    more: bool,
    szx: u8,
}

impl BlockValue {
    /// Largest block number: NUM has 20 bits in a 3-byte value.
    pub const MAX_NUM: u32 = (1 << 20) - 1;

    /// A block value.
    ///
    /// # Errors
    /// [`CoapError::InvalidOptionValue`] if `num` exceeds [`Self::MAX_NUM`] or `szx` is above 6
    /// (7 is reserved).
    pub const fn new(num: u32, more: bool, szx: u8) -> Result<Self, CoapError> {
        if num > Self::MAX_NUM || szx > 6 {
            return Err(CoapError::InvalidOptionValue);
        }
        Ok(Self { num, more, szx })
    }

    /// Decodes an option value (0 to 3 bytes).
    ///
    /// # Errors
    /// [`CoapError::InvalidOptionValue`] for a value longer than 3 bytes or with SZX 7.
    pub fn decode(value: &[u8]) -> Result<Self, CoapError> {
        if value.len() > 3 {
            return Err(CoapError::InvalidOptionValue);
        }
        let v = decode_uint(value)?;
        Self::new(v >> 4, v & 0x08 != 0, (v & 0x07) as u8)
    }

    /// The option value in its shortest form.
    pub const fn encode(self) -> UintValue {
        UintValue::new((self.num << 4) | ((self.more as u32) << 3) | self.szx as u32)
    }

    /// The block number NUM.
    pub const fn num(self) -> u32 {
        self.num
    }

    /// The more flag M: further blocks follow.
    pub const fn more(self) -> bool {
        self.more
    }

    /// The size exponent SZX (0 to 6).
    pub const fn szx(self) -> u8 {
        self.szx
    }

    /// The block size in bytes, `2^(SZX + 4)`.
    pub const fn size(self) -> usize {
        1 << (self.szx + 4)
    }

    /// Byte offset of this block in the whole body, `NUM * size`.
    pub const fn offset(self) -> usize {
        (self.num as usize) << (self.szx + 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode() {
        let b = BlockValue::new(5, true, 2).unwrap();
        assert_eq!(b.encode().as_slice(), &[0x5a]);
        assert_eq!(BlockValue::decode(&[0x5a]), Ok(b));
        assert_eq!(b.size(), 64);
        assert_eq!(b.offset(), 320);
        assert_eq!(
            BlockValue::decode(&[]),
            Ok(BlockValue::new(0, false, 0).unwrap())
        );
        let big = BlockValue::new(BlockValue::MAX_NUM, false, 6).unwrap();
        assert_eq!(BlockValue::decode(big.encode().as_slice()), Ok(big));
        assert_eq!(
            BlockValue::decode(&[0x07]),
            Err(CoapError::InvalidOptionValue)
        );
        assert_eq!(
            BlockValue::decode(&[0, 0, 0, 1]),
            Err(CoapError::InvalidOptionValue)
        );
        assert!(BlockValue::new(1 << 20, false, 0).is_err());
    }
}
