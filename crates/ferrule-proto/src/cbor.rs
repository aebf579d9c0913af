//! Deterministic CBOR (RFC 8949) over slices: only what EDHOC, COSE and OSCORE use.
//!
//! Written by hand because the protocols need exact control over bytes (transcript hashes are
//! computed over encodings as received) and no heap: the [`Decoder`] borrows from its input and
//! accepts only the preferred (shortest) form of every head and only definite lengths (RFC 8949
//! Section 4.2.1), so that every valid input has exactly one encoding; the [`Encoder`] writes into
//! a caller buffer and always emits the preferred form.

use core::fmt;

/// CBOR major types (RFC 8949 Section 3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MajorType {
    /// Major type 0: unsigned integer.
    Unsigned,
    /// Major type 1: negative integer.
    Negative,
    /// Major type 2: byte string.
    Bytes,
    /// Major type 3: text string.
    Text,
    /// Major type 4: array.
    Array,
    /// Major type 5: map.
    Map,
    /// Major type 6: tag.
    Tag,
    /// Major type 7: simple values and floats.
    Simple,
}

impl MajorType {
    const fn from_initial(byte: u8) -> Self {
        match byte >> 5 {
            0 => Self::Unsigned,
            1 => Self::Negative,
            2 => Self::Bytes,
            3 => Self::Text,
            4 => Self::Array,
            5 => Self::Map,
            6 => Self::Tag,
            _ => Self::Simple,
        }
    }

    const fn bits(self) -> u8 {
        (match self {
            Self::Unsigned => 0,
            Self::Negative => 1,
            Self::Bytes => 2,
            Self::Text => 3,
            Self::Array => 4,
            Self::Map => 5,
            Self::Tag => 6,
            Self::Simple => 7,
        }) << 5
    }
}

/// What went wrong reading or writing CBOR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CborError {
    /// The input ended inside an item.
    Truncated,
    /// An item of another type than the one expected.
    UnexpectedType {
        /// The type that was expected.
        expected: MajorType,
        /// The type that was found.
        found: MajorType,
    },
    /// A head that is not in preferred (shortest) form, an indefinite length, or a reserved value.
    NotDeterministic,
    /// An integer outside the range the caller accepts.
    OutOfRange,
    /// Bytes left over after the last expected item.
    TrailingBytes,
    /// Items nested deeper than the decoder allows.
    TooDeep,
    /// A text string that is not UTF-8.
    InvalidUtf8,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for CborError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("CBOR input ends inside an item"),
            Self::UnexpectedType { expected, found } => {
                write!(f, "expected CBOR {expected:?}, found {found:?}")
            }
            Self::NotDeterministic => f.write_str("CBOR item is not in deterministic encoding"),
            Self::OutOfRange => f.write_str("CBOR integer out of range"),
            Self::TrailingBytes => f.write_str("trailing bytes after CBOR item"),
            Self::TooDeep => f.write_str("CBOR nesting too deep"),
            Self::InvalidUtf8 => f.write_str("CBOR text string is not UTF-8"),
            Self::BufferTooSmall => f.write_str("output buffer too small for CBOR item"),
        }
    }
}

impl core::error::Error for CborError {}

/// Deepest nesting [`Decoder::skip`] follows; deeper input is rejected, never recursed into.
pub const MAX_DEPTH: usize = 8;

/// Simple value `false` (RFC 8949 Section 3.3).
pub const FALSE: u8 = 0xf4;
/// Simple value `true`.
pub const TRUE: u8 = 0xf5;
/// Simple value `null`.
pub const NULL: u8 = 0xf6;

/// A cursor over CBOR bytes that reads one item at a time, borrowing strings from the input.
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    input: &'a [u8],
    position: usize,
}

impl<'a> Decoder<'a> {
    /// Starts reading at the beginning of `input`.
    pub const fn new(input: &'a [u8]) -> Self {
        Self { input, position: 0 }
    }

    /// Bytes consumed so far.
    pub const fn position(&self) -> usize {
        self.position
    }

    /// The input from the current position on.
    pub fn remaining(&self) -> &'a [u8] {
        self.input.get(self.position..).unwrap_or(&[])
    }

    /// Whether the input is fully consumed.
    pub fn is_empty(&self) -> bool {
        self.position >= self.input.len()
    }

    /// Succeeds only if the input is fully consumed (no trailing bytes).
    ///
    /// # Errors
    /// [`CborError::TrailingBytes`] otherwise.
    pub fn finish(&self) -> Result<(), CborError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(CborError::TrailingBytes)
        }
    }

    /// The next initial byte, without consuming it.
    pub fn peek(&self) -> Option<u8> {
        self.input.get(self.position).copied()
    }

    /// The major type of the next item, without consuming it.
    pub fn peek_type(&self) -> Option<MajorType> {
        self.peek().map(MajorType::from_initial)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CborError> {
        let end = self.position.checked_add(n).ok_or(CborError::Truncated)?;
        let bytes = self
            .input
            .get(self.position..end)
            .ok_or(CborError::Truncated)?;
        self.position = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        let b = self.peek().ok_or(CborError::Truncated)?;
        self.position += 1;
        Ok(b)
    }

    /// Reads a head and returns its major type and argument, enforcing preferred encoding.
    fn head(&mut self) -> Result<(MajorType, u64), CborError> {
        let initial = self.byte()?;
        let major = MajorType::from_initial(initial);
        let info = initial & 0x1f;
        let value = match info {
            0..=23 => u64::from(info),
            24 => {
                let v = u64::from(self.byte()?);
                // Simple values 0..31 in two-byte form are not well-formed (RFC 8949 3.3).
                if v < 24 || (major == MajorType::Simple && v < 32) {
                    return Err(CborError::NotDeterministic);
                }
                v
            }
            25..=27 => {
                if major == MajorType::Simple {
                    // Floats never appear in the protocols we speak.
                    return Err(CborError::NotDeterministic);
                }
                let len = 1usize << (info - 24);
                let bytes = self.take(len)?;
                let v = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                let min = match len {
                    2 => 0x100,
                    4 => 0x1_0000,
                    _ => 0x1_0000_0000,
                };
                if v < min {
                    return Err(CborError::NotDeterministic);
                }
                v
            }
            _ => return Err(CborError::NotDeterministic),
        };
        Ok((major, value))
    }

    fn expect_head(&mut self, expected: MajorType) -> Result<u64, CborError> {
        let start = self.position;
        let (found, value) = self.head()?;
        if found != expected {
            self.position = start;
            return Err(CborError::UnexpectedType { expected, found });
        }
        Ok(value)
    }

    /// Reads an unsigned integer (major type 0).
    ///
    /// # Errors
    /// If the next item is not an unsigned integer.
    pub fn u64(&mut self) -> Result<u64, CborError> {
        self.expect_head(MajorType::Unsigned)
    }

    /// Reads an unsigned integer that fits in a `u8`.
    ///
    /// # Errors
    /// If the next item is not an unsigned integer, or is larger than 255.
    pub fn u8(&mut self) -> Result<u8, CborError> {
        u8::try_from(self.u64()?).map_err(|_| CborError::OutOfRange)
    }

    /// Reads an integer of either sign (major types 0 and 1).
    ///
    /// # Errors
    /// If the next item is not an integer, or does not fit in an `i64`.
    pub fn i64(&mut self) -> Result<i64, CborError> {
        let start = self.position;
        let (major, value) = self.head()?;
        let value = i64::try_from(value).map_err(|_| CborError::OutOfRange)?;
        match major {
            MajorType::Unsigned => Ok(value),
            MajorType::Negative => Ok(-1 - value),
            found => {
                self.position = start;
                Err(CborError::UnexpectedType {
                    expected: MajorType::Unsigned,
                    found,
                })
            }
        }
    }

    /// Reads a byte string and returns its contents.
    ///
    /// # Errors
    /// If the next item is not a byte string or is truncated.
    pub fn bytes(&mut self) -> Result<&'a [u8], CborError> {
        let len = self.expect_head(MajorType::Bytes)?;
        let len = usize::try_from(len).map_err(|_| CborError::Truncated)?;
        self.take(len)
    }

    /// Reads a text string and returns its contents.
    ///
    /// # Errors
    /// If the next item is not a text string, is truncated, or is not UTF-8.
    pub fn text(&mut self) -> Result<&'a str, CborError> {
        let len = self.expect_head(MajorType::Text)?;
        let len = usize::try_from(len).map_err(|_| CborError::Truncated)?;
        core::str::from_utf8(self.take(len)?).map_err(|_| CborError::InvalidUtf8)
    }

    /// Reads an array head and returns the number of items.
    ///
    /// # Errors
    /// If the next item is not a definite-length array.
    pub fn array(&mut self) -> Result<usize, CborError> {
        let n = self.expect_head(MajorType::Array)?;
        usize::try_from(n).map_err(|_| CborError::OutOfRange)
    }

    /// Reads a map head and returns the number of key/value pairs.
    ///
    /// # Errors
    /// If the next item is not a definite-length map.
    pub fn map(&mut self) -> Result<usize, CborError> {
        let n = self.expect_head(MajorType::Map)?;
        usize::try_from(n).map_err(|_| CborError::OutOfRange)
    }

    /// Reads a simple value (`false`, `true`, `null`, ...) and returns its number.
    ///
    /// # Errors
    /// If the next item is not a simple value.
    pub fn simple(&mut self) -> Result<u8, CborError> {
        let v = self.expect_head(MajorType::Simple)?;
        u8::try_from(v).map_err(|_| CborError::OutOfRange)
    }

    /// Reads a boolean.
    ///
    /// # Errors
    /// If the next item is not `true` or `false`.
    pub fn bool(&mut self) -> Result<bool, CborError> {
        match self.simple()? {
            20 => Ok(false),
            21 => Ok(true),
            _ => Err(CborError::UnexpectedType {
                expected: MajorType::Simple,
                found: MajorType::Simple,
            }),
        }
    }

    /// Skips one complete item (with everything nested in it) and returns its encoded bytes.
    ///
    /// # Errors
    /// If the item is malformed, truncated or nested deeper than [`MAX_DEPTH`].
    pub fn skip(&mut self) -> Result<&'a [u8], CborError> {
        let start = self.position;
        // Items still to skip at each open level; iterative, so depth costs no stack.
        let mut pending = [0u64; MAX_DEPTH + 1];
        let mut depth = 0usize;
        pending[0] = 1;
        loop {
            while pending[depth] == 0 {
                if depth == 0 {
                    return Ok(&self.input[start..self.position]);
                }
                depth -= 1;
            }
            pending[depth] -= 1;
            let (major, value) = self.head()?;
            let children = match major {
                MajorType::Unsigned | MajorType::Negative | MajorType::Simple => 0,
                MajorType::Bytes | MajorType::Text => {
                    let len = usize::try_from(value).map_err(|_| CborError::Truncated)?;
                    let s = self.take(len)?;
                    if major == MajorType::Text && core::str::from_utf8(s).is_err() {
                        return Err(CborError::InvalidUtf8);
                    }
                    0
                }
                MajorType::Array => value,
                MajorType::Map => value.checked_mul(2).ok_or(CborError::OutOfRange)?,
                MajorType::Tag => 1,
            };
            if children > 0 {
                // Every child takes at least one byte: refuse counts the input cannot hold.
                let left = (self.input.len() - self.position) as u64;
                if children > left {
                    return Err(CborError::Truncated);
                }
                if depth == MAX_DEPTH {
                    return Err(CborError::TooDeep);
                }
                depth += 1;
                pending[depth] = children;
            }
        }
    }
}

/// Writes CBOR items into a caller buffer, always in preferred (deterministic) form.
#[derive(Debug)]
pub struct Encoder<'a> {
    buffer: &'a mut [u8],
    position: usize,
}

impl<'a> Encoder<'a> {
    /// Starts writing at the beginning of `buffer`.
    pub fn new(buffer: &'a mut [u8]) -> Self {
        Self {
            buffer,
            position: 0,
        }
    }

    /// Bytes written so far.
    pub const fn len(&self) -> usize {
        self.position
    }

    /// Whether nothing has been written yet.
    pub const fn is_empty(&self) -> bool {
        self.position == 0
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.buffer[..self.position]
    }

    /// Finishes and returns the number of bytes written.
    pub const fn finish(self) -> usize {
        self.position
    }

    /// Appends raw bytes (an already encoded item or CBOR sequence).
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if they do not fit.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<&mut Self, CborError> {
        let end = self
            .position
            .checked_add(bytes.len())
            .ok_or(CborError::BufferTooSmall)?;
        self.buffer
            .get_mut(self.position..end)
            .ok_or(CborError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.position = end;
        Ok(self)
    }

    /// Writes a head (major type and argument) in its shortest form.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn head(&mut self, major: MajorType, value: u64) -> Result<&mut Self, CborError> {
        let mut out = [0u8; 9];
        let n = encode_head(major, value, &mut out);
        self.raw(&out[..n])
    }

    /// Writes an unsigned integer.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn u64(&mut self, value: u64) -> Result<&mut Self, CborError> {
        self.head(MajorType::Unsigned, value)
    }

    /// Writes an integer of either sign.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn i64(&mut self, value: i64) -> Result<&mut Self, CborError> {
        if value >= 0 {
            self.head(MajorType::Unsigned, value.unsigned_abs())
        } else {
            self.head(MajorType::Negative, (-1 - value).unsigned_abs())
        }
    }

    /// Writes a byte string.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn bytes(&mut self, value: &[u8]) -> Result<&mut Self, CborError> {
        self.head(MajorType::Bytes, value.len() as u64)?.raw(value)
    }

    /// Writes a text string.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn text(&mut self, value: &str) -> Result<&mut Self, CborError> {
        self.head(MajorType::Text, value.len() as u64)?
            .raw(value.as_bytes())
    }

    /// Writes an array head for `len` items (the items follow).
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn array(&mut self, len: usize) -> Result<&mut Self, CborError> {
        self.head(MajorType::Array, len as u64)
    }

    /// Writes a map head for `len` pairs (the pairs follow).
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn map(&mut self, len: usize) -> Result<&mut Self, CborError> {
        self.head(MajorType::Map, len as u64)
    }

    /// Writes `true` or `false`.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn bool(&mut self, value: bool) -> Result<&mut Self, CborError> {
        self.raw(&[if value { TRUE } else { FALSE }])
    }

    /// Writes `null`.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn null(&mut self) -> Result<&mut Self, CborError> {
        self.raw(&[NULL])
    }
}

/// Encodes a head into `out` (at least 9 bytes) and returns its length.
pub fn encode_head(major: MajorType, value: u64, out: &mut [u8; 9]) -> usize {
    let m = major.bits();
    if value < 24 {
        out[0] = m | value as u8;
        1
    } else if value <= 0xff {
        out[0] = m | 24;
        out[1] = value as u8;
        2
    } else if value <= 0xffff {
        out[0] = m | 25;
        out[1..3].copy_from_slice(&(value as u16).to_be_bytes());
        3
    } else if value <= 0xffff_ffff {
        out[0] = m | 26;
        out[1..5].copy_from_slice(&(value as u32).to_be_bytes());
        5
    } else {
        out[0] = m | 27;
        out[1..9].copy_from_slice(&value.to_be_bytes());
        9
    }
}

/// A byte-string head for `len` bytes, as a small stack value (for hashing `bstr` wrappers
/// without copying what they wrap).
#[derive(Clone, Copy, Debug)]
pub struct BytesHead {
    bytes: [u8; 9],
    len: usize,
}

impl BytesHead {
    /// The head of a byte string of `len` bytes.
    pub fn new(len: usize) -> Self {
        let mut bytes = [0u8; 9];
        let len = encode_head(MajorType::Bytes, len as u64, &mut bytes);
        Self { bytes, len }
    }

    /// The encoded head.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// An encoded integer as a small stack value.
#[derive(Clone, Copy, Debug)]
pub struct IntBytes {
    bytes: [u8; 9],
    len: usize,
}

impl IntBytes {
    /// The encoding of `value`.
    pub fn new(value: i64) -> Self {
        let mut bytes = [0u8; 9];
        let len = if value >= 0 {
            encode_head(MajorType::Unsigned, value.unsigned_abs(), &mut bytes)
        } else {
            encode_head(MajorType::Negative, (-1 - value).unsigned_abs(), &mut bytes)
        };
        Self { bytes, len }
    }

    /// The encoded integer.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_in_shortest_form() {
        for v in [
            0i64,
            1,
            23,
            24,
            255,
            256,
            65535,
            65536,
            -1,
            -24,
            -25,
            -256,
            -257,
            i64::MIN,
            i64::MAX,
        ] {
            let mut buf = [0u8; 9];
            let mut e = Encoder::new(&mut buf);
            e.i64(v).unwrap();
            let n = e.finish();
            let mut d = Decoder::new(&buf[..n]);
            assert_eq!(d.i64().unwrap(), v);
            d.finish().unwrap();
        }
    }

    #[test]
    fn rejects_non_preferred_heads() {
        assert_eq!(
            Decoder::new(&[0x18, 0x05]).u64(),
            Err(CborError::NotDeterministic)
        );
        assert_eq!(
            Decoder::new(&[0x19, 0x00, 0xff]).u64(),
            Err(CborError::NotDeterministic)
        );
        assert_eq!(
            Decoder::new(&[0x5f]).bytes(),
            Err(CborError::NotDeterministic)
        );
        assert_eq!(
            Decoder::new(&[0xf8, 0x10]).simple(),
            Err(CborError::NotDeterministic)
        );
    }

    #[test]
    fn skip_handles_nesting_and_refuses_depth() {
        let item = [0x82, 0xa1, 0x01, 0x41, 0xff, 0x63, b'a', b'b', b'c'];
        let mut d = Decoder::new(&item);
        assert_eq!(d.skip().unwrap(), &item[..]);
        let deep = [0x81u8; 20];
        assert_eq!(Decoder::new(&deep).skip(), Err(CborError::TooDeep));
        assert_eq!(
            Decoder::new(&[0x9a, 0xff, 0xff, 0xff, 0xff]).skip(),
            Err(CborError::Truncated)
        );
    }

    #[test]
    fn truncated_strings_are_errors() {
        assert_eq!(
            Decoder::new(&[0x43, 1, 2]).bytes(),
            Err(CborError::Truncated)
        );
        assert_eq!(
            Decoder::new(&[0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).bytes(),
            Err(CborError::Truncated)
        );
    }
}
