//! The option sequence: delta/length encoding, reading and writing (RFC 7252 Section 3.1).
//!
//! Each option starts with a byte holding a 4-bit delta (from the previous option number) and a
//! 4-bit value length; 13 and 14 announce a 1- or 2-byte extension (minus 13 or 269), 15 is
//! reserved except in the payload marker 0xFF. Every option number and length therefore has
//! exactly one encoding, which is why parse-then-emit returns the input bytes.

use super::{CoapError, OptionNumber};

/// The payload marker that ends the options (RFC 7252 Section 3).
pub const PAYLOAD_MARKER: u8 = 0xff;

/// Longest option value the encoding can express (65535 + 269).
pub const MAX_OPTION_VALUE_LEN: usize = 65_804;

/// One option as it appears in a message: its number and its (opaque) value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoapOption<'a> {
    /// The option number.
    pub number: OptionNumber,
    /// The value bytes; interpret them with [`super::decode_uint`], [`super::BlockValue`], ...
    pub value: &'a [u8],
}

impl<'a> CoapOption<'a> {
    /// An option with the given number and value.
    pub const fn new(number: OptionNumber, value: &'a [u8]) -> Self {
        Self { number, value }
    }
}

/// Reads one extended nibble (delta or length), returning the value and the bytes used.
fn extended(nibble: u8, ext: &[u8]) -> Result<(u32, usize), CoapError> {
    match nibble {
        0..=12 => Ok((u32::from(nibble), 0)),
        13 => {
            let b = *ext.first().ok_or(CoapError::Truncated)?;
            Ok((13 + u32::from(b), 1))
        }
        14 => {
            let hi = *ext.first().ok_or(CoapError::Truncated)?;
            let lo = *ext.get(1).ok_or(CoapError::Truncated)?;
            Ok((269 + u32::from(u16::from_be_bytes([hi, lo])), 2))
        }
        _ => Err(CoapError::ReservedOptionNibble),
    }
}

/// An option read from the front of a byte slice, with the number of bytes it took.
struct RawOption<'a> {
    number: u16,
    value: &'a [u8],
    used: usize,
}

/// One step of reading: the option at the front of `bytes`, or `None` at the end of the
/// options (end of input or payload marker).
fn read_option(bytes: &[u8], previous: u16) -> Result<Option<RawOption<'_>>, CoapError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    if first == PAYLOAD_MARKER {
        return Ok(None);
    }
    let rest = bytes.get(1..).ok_or(CoapError::Truncated)?;
    let (delta, used_delta) = extended(first >> 4, rest)?;
    let rest = rest.get(used_delta..).ok_or(CoapError::Truncated)?;
    let (len, used_len) = extended(first & 0x0f, rest)?;
    let rest = rest.get(used_len..).ok_or(CoapError::Truncated)?;
    let number = u32::from(previous) + delta;
    let number = u16::try_from(number).map_err(|_| CoapError::OptionNumberOverflow)?;
    let len = len as usize;
    let value = rest.get(..len).ok_or(CoapError::Truncated)?;
    Ok(Some(RawOption {
        number,
        value,
        used: 1 + used_delta + used_len + len,
    }))
}

/// Validates an option sequence optionally followed by a payload marker and payload, and splits
/// it into the options region and the payload (empty if there is no marker).
///
/// # Errors
/// [`CoapError::Truncated`], [`CoapError::ReservedOptionNibble`],
/// [`CoapError::OptionNumberOverflow`], or [`CoapError::EmptyPayload`] for a marker with nothing
/// after it.
pub fn split_options(bytes: &[u8]) -> Result<(&[u8], &[u8]), CoapError> {
    let mut position = 0usize;
    let mut number = 0u16;
    loop {
        let rest = bytes.get(position..).ok_or(CoapError::Truncated)?;
        match read_option(rest, number)? {
            Some(raw) => {
                number = raw.number;
                position += raw.used;
            }
            None => break,
        }
    }
    let options = bytes.get(..position).ok_or(CoapError::Truncated)?;
    match bytes.get(position) {
        None => Ok((options, &[])),
        Some(_) => {
            // The loop stops at the end or at the payload marker.
            let payload = bytes.get(position + 1..).ok_or(CoapError::Truncated)?;
            if payload.is_empty() {
                return Err(CoapError::EmptyPayload);
            }
            Ok((options, payload))
        }
    }
}

/// Iterator over an option sequence that [`split_options`] accepted.
///
/// Yields options in wire order (ascending number, repeated options in their order). Should it
/// meet a malformed byte anyway, it ends instead of panicking.
#[derive(Clone, Debug)]
pub struct Options<'a> {
    rest: &'a [u8],
    number: u16,
}

impl<'a> Options<'a> {
    /// Iterates over an options region (without payload marker or payload).
    pub const fn new(region: &'a [u8]) -> Self {
        Self {
            rest: region,
            number: 0,
        }
    }

    /// Whether no option is left.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = CoapOption<'a>;

    fn next(&mut self) -> Option<CoapOption<'a>> {
        match read_option(self.rest, self.number) {
            Ok(Some(raw)) => {
                self.number = raw.number;
                self.rest = self.rest.get(raw.used..).unwrap_or(&[]);
                Some(CoapOption {
                    number: OptionNumber::new(raw.number),
                    value: raw.value,
                })
            }
            _ => {
                self.rest = &[];
                None
            }
        }
    }
}

/// Bytes needed to encode a delta or length `value` as nibble plus extension.
const fn ext_len(value: usize) -> usize {
    if value < 13 {
        0
    } else if value < 269 {
        1
    } else {
        2
    }
}

/// Number of bytes the option `number` with a `len`-byte value takes after option `previous`.
pub const fn option_len(previous: u16, number: u16, len: usize) -> usize {
    let delta = number.saturating_sub(previous) as usize;
    1 + ext_len(delta) + ext_len(len) + len
}

/// Writes options in ascending order into a buffer, starting with delta base 0.
///
/// Used for the options of a message and for the inner options of an OSCORE plaintext.
#[derive(Debug)]
pub struct OptionWriter<'b> {
    buffer: &'b mut [u8],
    position: usize,
    last: u16,
}

impl<'b> OptionWriter<'b> {
    /// Starts writing at the beginning of `buffer`.
    pub fn new(buffer: &'b mut [u8]) -> Self {
        Self {
            buffer,
            position: 0,
            last: 0,
        }
    }

    /// Starts writing at `position` of `buffer`.
    pub(crate) fn at(buffer: &'b mut [u8], position: usize) -> Self {
        Self {
            buffer,
            position,
            last: 0,
        }
    }

    /// Bytes written so far (including anything before the start position).
    pub const fn position(&self) -> usize {
        self.position
    }

    /// The number of the last option written (0 before the first).
    pub const fn last_number(&self) -> u16 {
        self.last
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), CoapError> {
        let end = self
            .position
            .checked_add(bytes.len())
            .ok_or(CoapError::BufferTooSmall)?;
        self.buffer
            .get_mut(self.position..end)
            .ok_or(CoapError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.position = end;
        Ok(())
    }

    /// Appends one option.
    ///
    /// # Errors
    /// [`CoapError::OptionOutOfOrder`] if `number` is below the last one written,
    /// [`CoapError::InvalidOptionValue`] if the value is longer than [`MAX_OPTION_VALUE_LEN`],
    /// [`CoapError::BufferTooSmall`] if it does not fit.
    pub fn option(&mut self, number: OptionNumber, value: &[u8]) -> Result<(), CoapError> {
        let number = number.value();
        if number < self.last {
            return Err(CoapError::OptionOutOfOrder);
        }
        if value.len() > MAX_OPTION_VALUE_LEN {
            return Err(CoapError::InvalidOptionValue);
        }
        let mut head = [0u8; 5];
        let (delta_nibble, delta_ext) = nibble(usize::from(number - self.last));
        let (len_nibble, len_ext) = nibble(value.len());
        head[0] = (delta_nibble << 4) | len_nibble;
        let mut n = 1;
        for ext in [delta_ext, len_ext] {
            match ext {
                Ext::None => {}
                Ext::One(b) => {
                    head[n] = b;
                    n += 1;
                }
                Ext::Two(b) => {
                    head[n..n + 2].copy_from_slice(&b);
                    n += 2;
                }
            }
        }
        let start = self.position;
        self.put(&head[..n])?;
        if let Err(e) = self.put(value) {
            self.position = start;
            return Err(e);
        }
        self.last = number;
        Ok(())
    }

    /// Writes the payload marker and `payload`, if `payload` is not empty, and returns the final
    /// position.
    ///
    /// # Errors
    /// [`CoapError::BufferTooSmall`] if it does not fit.
    pub fn payload(mut self, payload: &[u8]) -> Result<usize, CoapError> {
        if !payload.is_empty() {
            self.put(&[PAYLOAD_MARKER])?;
            self.put(payload)?;
        }
        Ok(self.position)
    }

    /// Writes the payload marker only (the payload follows by other means) and returns the
    /// position after it.
    ///
    /// # Errors
    /// [`CoapError::BufferTooSmall`] if it does not fit.
    pub fn payload_marker(mut self) -> Result<usize, CoapError> {
        self.put(&[PAYLOAD_MARKER])?;
        Ok(self.position)
    }

    /// Finishes without a payload and returns the final position.
    pub const fn finish(self) -> usize {
        self.position
    }
}

#[derive(Clone, Copy)]
enum Ext {
    None,
    One(u8),
    Two([u8; 2]),
}

/// Nibble and extension for a delta or length up to [`MAX_OPTION_VALUE_LEN`].
fn nibble(value: usize) -> (u8, Ext) {
    if value < 13 {
        (value as u8, Ext::None)
    } else if value < 269 {
        (13, Ext::One((value - 13) as u8))
    } else {
        (14, Ext::Two(((value - 269) as u16).to_be_bytes()))
    }
}

/// Sorts options by number, keeping repeated options in their given order (a stable insertion
/// sort: option lists are short and this needs no allocation).
pub fn sort_options(options: &mut [CoapOption<'_>]) {
    for i in 1..options.len() {
        let mut j = i;
        while j > 0 && options[j - 1].number.value() > options[j].number.value() {
            options.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(number: u16, len: usize) {
        let value = [0xabu8; 300];
        let mut buf = [0u8; 320];
        let mut w = OptionWriter::new(&mut buf);
        w.option(OptionNumber::new(number), &value[..len]).unwrap();
        let n = w.finish();
        assert_eq!(n, option_len(0, number, len));
        let (opts, payload) = split_options(&buf[..n]).unwrap();
        assert!(payload.is_empty());
        let o: [CoapOption<'_>; 1] = {
            let mut it = Options::new(opts);
            let o = it.next().unwrap();
            assert!(it.next().is_none());
            [o]
        };
        assert_eq!(o[0].number.value(), number);
        assert_eq!(o[0].value.len(), len);
    }

    #[test]
    fn extended_forms() {
        for number in [0u16, 12, 13, 14, 268, 269, 270, 1000, 65535] {
            for len in [0usize, 12, 13, 268, 269, 300] {
                round_trip(number, len);
            }
        }
    }

    #[test]
    fn strict_parsing() {
        assert_eq!(split_options(&[0xf0]), Err(CoapError::ReservedOptionNibble));
        assert_eq!(split_options(&[0x0f]), Err(CoapError::ReservedOptionNibble));
        assert_eq!(split_options(&[0xff]), Err(CoapError::EmptyPayload));
        assert_eq!(split_options(&[0xd0]), Err(CoapError::Truncated));
        assert_eq!(split_options(&[0xe0, 0x01]), Err(CoapError::Truncated));
        assert_eq!(split_options(&[0x02, 0x01]), Err(CoapError::Truncated));
        // 269 + 0xffff overflows the option number.
        assert_eq!(
            split_options(&[0xe0, 0xff, 0xff]),
            Err(CoapError::OptionNumberOverflow)
        );
        assert_eq!(
            split_options(&[0x11, 0xaa, 0xff, 0x01]).unwrap(),
            (&[0x11, 0xaa][..], &[1][..])
        );
    }

    #[test]
    fn writer_rejects_out_of_order_and_sort_is_stable() {
        let mut buf = [0u8; 16];
        let mut w = OptionWriter::new(&mut buf);
        w.option(OptionNumber::UriPath, b"a").unwrap();
        assert_eq!(
            w.option(OptionNumber::UriHost, b"h"),
            Err(CoapError::OptionOutOfOrder)
        );
        let mut opts = [
            CoapOption::new(OptionNumber::UriPath, b"1"),
            CoapOption::new(OptionNumber::UriHost, b"h"),
            CoapOption::new(OptionNumber::UriPath, b"2"),
        ];
        sort_options(&mut opts);
        assert_eq!(opts[0].number, OptionNumber::UriHost);
        assert_eq!(opts[1].value, b"1");
        assert_eq!(opts[2].value, b"2");
    }
}
