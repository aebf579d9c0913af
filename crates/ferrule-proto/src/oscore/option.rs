//! The OSCORE option value: the compressed COSE object header (RFC 8613 Section 6.1).

use super::OscoreError;

const FLAG_N: u8 = 0x07;
const FLAG_K: u8 = 0x08;
const FLAG_H: u8 = 0x10;
const FLAGS_RESERVED: u8 = 0xe0;

/// Longest OSCORE option value this implementation writes: flags, a 5-byte Partial IV, a
/// 16-byte kid context with its length byte, and a 7-byte kid.
pub const MAX_OSCORE_OPTION_LEN: usize = 1 + 5 + 1 + super::MAX_ID_CONTEXT_LEN + super::MAX_ID_LEN;

/// The fields of an OSCORE option value, borrowed from the message (RFC 8613 Section 6.1).
///
/// The first byte holds the flags: n (bits 0-2, the Partial IV length, 6 and 7 reserved), k
/// (bit 3, a 'kid' follows), h (bit 4, a 'kid context' follows) and three reserved bits that
/// must be zero. Then come the Partial IV, the kid context as a length byte and bytes, and the
/// kid as all remaining bytes. All flags zero is encoded as the empty value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OscoreOption<'a> {
    /// The Partial IV bytes as sent (1-5 bytes), if present.
    pub partial_iv: Option<&'a [u8]>,
    /// The 'kid context', if present.
    pub kid_context: Option<&'a [u8]>,
    /// The 'kid', if present (it may be empty).
    pub kid: Option<&'a [u8]>,
}

impl<'a> OscoreOption<'a> {
    /// Decodes an option value.
    ///
    /// # Errors
    /// [`OscoreError::MalformedOption`] for reserved flag bits or n = 6/7, a flags byte of zero
    /// in a non-empty value, truncated fields, or bytes after the Partial IV and kid context
    /// when the k flag is clear.
    pub fn decode(value: &'a [u8]) -> Result<Self, OscoreError> {
        let Some((&flags, mut rest)) = value.split_first() else {
            return Ok(Self::default());
        };
        if flags == 0 || flags & FLAGS_RESERVED != 0 {
            return Err(OscoreError::MalformedOption);
        }
        let n = usize::from(flags & FLAG_N);
        if n > 5 {
            return Err(OscoreError::MalformedOption);
        }
        let mut out = Self::default();
        if n > 0 {
            let (piv, r) = rest
                .split_at_checked(n)
                .ok_or(OscoreError::MalformedOption)?;
            out.partial_iv = Some(piv);
            rest = r;
        }
        if flags & FLAG_H != 0 {
            let (&s, r) = rest.split_first().ok_or(OscoreError::MalformedOption)?;
            let (ctx, r) = r
                .split_at_checked(usize::from(s))
                .ok_or(OscoreError::MalformedOption)?;
            out.kid_context = Some(ctx);
            rest = r;
        }
        if flags & FLAG_K != 0 {
            out.kid = Some(rest);
        } else if !rest.is_empty() {
            return Err(OscoreError::MalformedOption);
        }
        Ok(out)
    }

    /// Encodes the option value into `out` and returns its length (0 if no field is present).
    ///
    /// # Errors
    /// [`OscoreError::InvalidParameters`] for a Partial IV of 0 or more than 5 bytes or a kid
    /// context over 255 bytes, [`OscoreError::BufferTooSmall`] if `out` is too small.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, OscoreError> {
        let mut flags = 0u8;
        let mut len = 1usize;
        if let Some(piv) = self.partial_iv {
            if piv.is_empty() || piv.len() > 5 {
                return Err(OscoreError::InvalidParameters);
            }
            flags |= piv.len() as u8;
            len += piv.len();
        }
        if let Some(ctx) = self.kid_context {
            if ctx.len() > 255 {
                return Err(OscoreError::InvalidParameters);
            }
            flags |= FLAG_H;
            len += 1 + ctx.len();
        }
        if let Some(kid) = self.kid {
            flags |= FLAG_K;
            len += kid.len();
        }
        if flags == 0 {
            return Ok(0);
        }
        let out = out.get_mut(..len).ok_or(OscoreError::BufferTooSmall)?;
        out[0] = flags;
        let mut pos = 1;
        let mut put = |bytes: &[u8]| {
            out[pos..pos + bytes.len()].copy_from_slice(bytes);
            pos += bytes.len();
        };
        if let Some(piv) = self.partial_iv {
            put(piv);
        }
        if let Some(ctx) = self.kid_context {
            put(&[ctx.len() as u8]);
            put(ctx);
        }
        if let Some(kid) = self.kid {
            put(kid);
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8613_option_values() {
        let c4 = OscoreOption::decode(&[0x09, 0x14]).unwrap();
        assert_eq!(
            c4,
            OscoreOption {
                partial_iv: Some(&[0x14]),
                kid_context: None,
                kid: Some(&[])
            }
        );
        let c5 = OscoreOption::decode(&[0x09, 0x14, 0x00]).unwrap();
        assert_eq!(c5.kid, Some(&[0u8][..]));
        let c6v = [
            0x19, 0x14, 0x08, 0x37, 0xcb, 0xf3, 0x21, 0x00, 0x17, 0xa2, 0xd3,
        ];
        let c6 = OscoreOption::decode(&c6v).unwrap();
        assert_eq!(c6.kid_context.unwrap().len(), 8);
        assert_eq!(c6.kid, Some(&[][..]));
        assert_eq!(OscoreOption::decode(&[]).unwrap(), OscoreOption::default());
        let c8 = OscoreOption::decode(&[0x01, 0x00]).unwrap();
        assert_eq!(c8.partial_iv, Some(&[0u8][..]));
        for v in [
            &[0x09, 0x14][..],
            &[0x09, 0x14, 0x00],
            &c6v,
            &[0x01, 0x00],
            &[],
        ] {
            let mut out = [0u8; 32];
            let n = OscoreOption::decode(v).unwrap().encode(&mut out).unwrap();
            assert_eq!(&out[..n], v);
        }
    }

    #[test]
    fn malformed_values() {
        for v in [
            &[0x00][..],
            &[0x20],
            &[0x80, 0],
            &[0x06, 1, 2, 3, 4, 5, 6],
            &[0x07, 1, 2, 3, 4, 5, 6, 7],
            &[0x02, 1],
            &[0x11, 1],
            &[0x10, 3, 1, 2],
            &[0x01, 1, 2],
        ] {
            assert_eq!(
                OscoreOption::decode(v),
                Err(OscoreError::MalformedOption),
                "{v:?}"
            );
        }
    }
}
