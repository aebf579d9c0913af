//! External Authorization Data (RFC 9528 Section 3.8).
//!
//! EAD_x is a CBOR sequence of items `(ead_label: int, ? ead_value: bstr)`. A negative label marks
//! the item critical: a recipient that does not know it must abort. Label 0 is padding and is
//! always ignored. Items with labels the caller declared known are handed to it; unknown
//! non-critical items are skipped.

use crate::cbor::{CborError, Decoder, Encoder, MajorType};

use super::Error;

/// One EAD item, borrowed from a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EadItem<'a> {
    /// The label, without sign (1..=65535).
    pub label: u16,
    /// Whether the sender marked the item critical (negative label).
    pub critical: bool,
    /// The value, if present.
    pub value: Option<&'a [u8]>,
}

impl EadItem<'_> {
    /// Writes the item.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn encode(&self, e: &mut Encoder<'_>) -> Result<(), CborError> {
        let label = i64::from(self.label);
        e.i64(if self.critical { -label } else { label })?;
        if let Some(v) = self.value {
            e.bytes(v)?;
        }
        Ok(())
    }
}

/// Reads one item; `None` at the end of the sequence.
fn next_item<'a>(d: &mut Decoder<'a>) -> Result<Option<EadItem<'a>>, CborError> {
    if d.is_empty() {
        return Ok(None);
    }
    let label = d.i64()?;
    let value = match d.peek_type() {
        Some(MajorType::Bytes) => Some(d.bytes()?),
        _ => None,
    };
    let critical = label < 0;
    let label = u16::try_from(label.unsigned_abs()).map_err(|_| CborError::OutOfRange)?;
    Ok(Some(EadItem {
        label,
        critical,
        value,
    }))
}

/// The known EAD items of a received message. Constructed only after the whole sequence was
/// checked, so iterating cannot fail.
#[derive(Clone, Debug)]
pub struct EadItems<'a> {
    decoder: Decoder<'a>,
    known: &'a [u16],
}

impl<'a> EadItems<'a> {
    /// Checks a received EAD sequence against the labels the caller knows.
    ///
    /// # Errors
    /// [`Error::Malformed`] for bad encoding, [`Error::UnknownCriticalEad`] for a critical item
    /// with an unknown label (RFC 9528 Section 3.8).
    pub fn check(bytes: &'a [u8], known: &'a [u16]) -> Result<Self, Error> {
        let mut d = Decoder::new(bytes);
        while let Some(item) = next_item(&mut d)? {
            if item.label == 0 && item.critical {
                return Err(Error::Malformed(CborError::OutOfRange));
            }
            if item.critical && !known.contains(&item.label) {
                return Err(Error::UnknownCriticalEad(item.label));
            }
        }
        Ok(Self {
            decoder: Decoder::new(bytes),
            known,
        })
    }

    /// No items.
    pub const fn empty() -> EadItems<'static> {
        EadItems {
            decoder: Decoder::new(&[]),
            known: &[],
        }
    }
}

impl<'a> Iterator for EadItems<'a> {
    type Item = EadItem<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let item = next_item(&mut self.decoder).ok()??;
            if item.label != 0 && self.known.contains(&item.label) {
                return Some(item);
            }
        }
    }
}

/// Writes a sequence of items; returns the number of bytes written.
///
/// # Errors
/// [`CborError::BufferTooSmall`] if they do not fit.
pub fn encode_items(items: &[EadItem<'_>], e: &mut Encoder<'_>) -> Result<(), CborError> {
    for item in items {
        item.encode(e)?;
    }
    Ok(())
}
