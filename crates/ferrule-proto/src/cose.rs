//! The COSE pieces EDHOC and OSCORE use (RFC 9052, RFC 9053): COSE_Key, the CWT Claims Set that
//! carries it (CCS, RFC 8392 / RFC 8747), Enc_structure and Sig_structure.

use crate::cbor::{CborError, Decoder, Encoder, MajorType};

/// COSE header parameter `kid` (RFC 9052 Section 3.1).
pub const HEADER_KID: i64 = 4;
/// COSE header parameter `kccs`: a CCS by value (RFC 9528 Section 3.5.2, RFC 9528 Section 10.6).
pub const HEADER_KCCS: i64 = 14;
/// COSE header parameter `x5t`: a certificate thumbprint (RFC 9360 Section 2).
pub const HEADER_X5T: i64 = 34;

/// COSE algorithm SHA-256/64 (truncated SHA-256), used in x5t (RFC 9054).
pub const ALG_SHA256_64: i64 = -15;
/// COSE algorithm SHA-256, used in x5t (RFC 9054).
pub const ALG_SHA256: i64 = -16;

/// COSE_Key parameter labels (RFC 9052 Section 7.1, RFC 9053 Section 7).
mod key_label {
    pub const KTY: i64 = 1;
    pub const KID: i64 = 2;
    pub const CRV: i64 = -1;
    pub const X: i64 = -2;
    pub const Y: i64 = -3;
}

/// CWT claim keys (RFC 8392 Section 4, RFC 8747 Section 3.1).
mod claim {
    pub const SUB: i64 = 2;
    pub const CNF: i64 = 8;
    pub const COSE_KEY: i64 = 1;
}

/// The key types Ferrule uses, as (COSE kty, crv).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// OKP / X25519 (kty 1, crv 4).
    X25519,
    /// OKP / Ed25519 (kty 1, crv 6).
    Ed25519,
    /// EC2 / P-256 (kty 2, crv 1).
    P256,
}

impl KeyType {
    const fn kty_crv(self) -> (i64, i64) {
        match self {
            Self::X25519 => (1, 4),
            Self::Ed25519 => (1, 6),
            Self::P256 => (2, 1),
        }
    }

    const fn from_kty_crv(kty: i64, crv: i64) -> Option<Self> {
        match (kty, crv) {
            (1, 4) => Some(Self::X25519),
            (1, 6) => Some(Self::Ed25519),
            (2, 1) => Some(Self::P256),
            _ => None,
        }
    }
}

/// A public COSE_Key (RFC 9052 Section 7), borrowed from its encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoseKey<'a> {
    /// Key type and curve.
    pub key_type: KeyType,
    /// Key identifier, if present.
    pub kid: Option<&'a [u8]>,
    /// The public key (OKP) or x-coordinate (EC2), 32 bytes.
    pub x: &'a [u8],
    /// The y-coordinate (EC2 only), 32 bytes, if present.
    pub y: Option<&'a [u8]>,
}

impl<'a> CoseKey<'a> {
    /// Reads a COSE_Key map, ignoring parameters it does not use.
    ///
    /// # Errors
    /// If the map is malformed, lacks kty/crv/x, has an unsupported key type, or coordinates of
    /// the wrong length.
    pub fn decode(d: &mut Decoder<'a>) -> Result<Self, CborError> {
        let n = d.map()?;
        let (mut kty, mut crv, mut kid, mut x, mut y) = (None, None, None, None, None);
        for _ in 0..n {
            match d.i64()? {
                key_label::KTY => kty = Some(d.i64()?),
                key_label::KID => kid = Some(d.bytes()?),
                key_label::CRV => crv = Some(d.i64()?),
                key_label::X => x = Some(d.bytes()?),
                key_label::Y => {
                    // y may be a bool (compressed point) in COSE; Ferrule needs the full coordinate.
                    y = Some(d.bytes()?);
                }
                _ => {
                    d.skip()?;
                }
            }
        }
        let key_type = KeyType::from_kty_crv(
            kty.ok_or(CborError::OutOfRange)?,
            crv.ok_or(CborError::OutOfRange)?,
        )
        .ok_or(CborError::OutOfRange)?;
        let x = x.ok_or(CborError::OutOfRange)?;
        if x.len() != 32 || y.is_some_and(|y| y.len() != 32) {
            return Err(CborError::OutOfRange);
        }
        if key_type != KeyType::P256 && y.is_some() {
            return Err(CborError::OutOfRange);
        }
        Ok(Self {
            key_type,
            kid,
            x,
            y,
        })
    }

    /// Writes the key as a COSE_Key map with deterministic (RFC 8949 Section 4.2.1) key order:
    /// 1 (kty), 2 (kid), -1 (crv), -2 (x), -3 (y).
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn encode(&self, e: &mut Encoder<'_>) -> Result<(), CborError> {
        let (kty, crv) = self.key_type.kty_crv();
        let n = 3 + usize::from(self.kid.is_some()) + usize::from(self.y.is_some());
        e.map(n)?.i64(key_label::KTY)?.i64(kty)?;
        if let Some(kid) = self.kid {
            e.i64(key_label::KID)?.bytes(kid)?;
        }
        e.i64(key_label::CRV)?
            .i64(crv)?
            .i64(key_label::X)?
            .bytes(self.x)?;
        if let Some(y) = self.y {
            e.i64(key_label::Y)?.bytes(y)?;
        }
        Ok(())
    }
}

/// A CWT Claims Set carrying a public key in its `cnf` claim (RFC 9528 Section 3.5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ccs<'a> {
    /// The `sub` claim, if present.
    pub subject: Option<&'a str>,
    /// The confirmation key.
    pub key: CoseKey<'a>,
}

impl<'a> Ccs<'a> {
    /// Parses a complete CCS.
    ///
    /// # Errors
    /// If it is malformed, has trailing bytes, or carries no usable COSE_Key.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CborError> {
        let mut d = Decoder::new(bytes);
        let n = d.map()?;
        let (mut subject, mut key) = (None, None);
        for _ in 0..n {
            match d.i64()? {
                claim::SUB => subject = Some(d.text()?),
                claim::CNF => {
                    let m = d.map()?;
                    for _ in 0..m {
                        if d.i64()? == claim::COSE_KEY {
                            key = Some(CoseKey::decode(&mut d)?);
                        } else {
                            d.skip()?;
                        }
                    }
                }
                _ => {
                    d.skip()?;
                }
            }
        }
        d.finish()?;
        Ok(Self {
            subject,
            key: key.ok_or(CborError::OutOfRange)?,
        })
    }

    /// Writes the CCS `{2: subject, 8: {1: COSE_Key}}`; returns its length.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, CborError> {
        let mut e = Encoder::new(out);
        e.map(1 + usize::from(self.subject.is_some()))?;
        if let Some(sub) = self.subject {
            e.i64(claim::SUB)?.text(sub)?;
        }
        e.i64(claim::CNF)?.map(1)?.i64(claim::COSE_KEY)?;
        self.key.encode(&mut e)?;
        Ok(e.finish())
    }
}

/// Writes the COSE Enc_structure `["Encrypt0", h'', external_aad]` used as AEAD associated data
/// (RFC 9052 Section 5.3); returns its length.
///
/// # Errors
/// [`CborError::BufferTooSmall`] if it does not fit.
pub fn enc_structure(external_aad: &[u8], out: &mut [u8]) -> Result<usize, CborError> {
    let mut e = Encoder::new(out);
    e.array(3)?
        .text("Encrypt0")?
        .bytes(&[])?
        .bytes(external_aad)?;
    Ok(e.finish())
}

/// Writes the COSE Sig_structure `["Signature1", protected, external_aad, payload]` (RFC 9052
/// Section 4.4), where each of the three byte strings is given as the concatenation of parts so
/// that callers need not assemble them first; returns its length.
///
/// # Errors
/// [`CborError::BufferTooSmall`] if it does not fit.
pub fn sig_structure(
    protected: &[&[u8]],
    external_aad: &[&[u8]],
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, CborError> {
    let mut e = Encoder::new(out);
    e.array(4)?.text("Signature1")?;
    for field in [protected, external_aad] {
        let len: usize = field.iter().map(|p| p.len()).sum();
        e.head(MajorType::Bytes, len as u64)?;
        for part in field {
            e.raw(part)?;
        }
    }
    e.bytes(payload)?;
    Ok(e.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ccs_round_trips() {
        let x = [7u8; 32];
        let y = [9u8; 32];
        let ccs = Ccs {
            subject: Some("example.edu"),
            key: CoseKey {
                key_type: KeyType::P256,
                kid: Some(&[0x32]),
                x: &x,
                y: Some(&y),
            },
        };
        let mut buf = [0u8; 128];
        let n = ccs.encode(&mut buf).unwrap();
        assert_eq!(Ccs::parse(&buf[..n]).unwrap(), ccs);
        for cut in 0..n {
            assert!(Ccs::parse(&buf[..cut]).is_err());
        }
    }
}
