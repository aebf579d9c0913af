//! Authentication credentials and their identifiers (RFC 9528 Section 3.5).
//!
//! CRED_x is the credential as it enters the transcript: a CCS (CWT Claims Set, as a CBOR map) or
//! an X.509 certificate (as a CBOR byte string wrapping its DER). ID_CRED_x identifies it in a
//! message: by `kid` (Section 3.5.3.2 compact form), by value (`kccs`), or by certificate
//! thumbprint (`x5t`, RFC 9360). Which credentials are trusted is the caller's decision, made in
//! [`CredentialLookup`].

use crate::cbor::{BytesHead, CborError, Decoder, Encoder, MajorType};
use crate::cose::{self, Ccs, KeyType};
use crate::crypto::{Crypto, VerifyingKey};

use super::connection_id::is_one_byte_int;

/// A credential: the bytes that enter the transcript and the public key they carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credential<'a> {
    format: CredentialFormat,
    bytes: &'a [u8],
    key_type: KeyType,
    x: &'a [u8],
    y: Option<&'a [u8]>,
    kid: Option<&'a [u8]>,
}

/// How a credential is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialFormat {
    /// A CWT Claims Set (RFC 8392) with a COSE_Key; CRED_x is the map itself.
    Ccs,
    /// An X.509 certificate; CRED_x is a byte string wrapping its DER encoding.
    X509,
}

impl<'a> Credential<'a> {
    /// A CCS credential, parsed to find its key.
    ///
    /// # Errors
    /// If the CCS is malformed or carries no supported key.
    pub fn ccs(bytes: &'a [u8]) -> Result<Self, CborError> {
        let ccs = Ccs::parse(bytes)?;
        Ok(Self {
            format: CredentialFormat::Ccs,
            bytes,
            key_type: ccs.key.key_type,
            x: ccs.key.x,
            y: ccs.key.y,
            kid: ccs.key.kid,
        })
    }

    /// An X.509 credential: the DER certificate and the public key it certifies.
    ///
    /// The key is given by the caller, who configured the certificate (no chain validation or
    /// certificate parsing happens here).
    pub fn x509(der: &'a [u8], key_type: KeyType, x: &'a [u8], y: Option<&'a [u8]>) -> Self {
        Self {
            format: CredentialFormat::X509,
            bytes: der,
            key_type,
            x,
            y,
            kid: None,
        }
    }

    /// The format.
    pub const fn format(&self) -> CredentialFormat {
        self.format
    }

    /// The CCS map, or the certificate DER.
    pub const fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The key type.
    pub const fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The `kid` of a CCS's COSE_Key, if any.
    pub const fn kid(&self) -> Option<&'a [u8]> {
        self.kid
    }

    /// The public key: Ed25519/X25519 key or P-256 x-coordinate.
    pub const fn public_x(&self) -> &'a [u8] {
        self.x
    }

    /// The key for signature verification.
    pub const fn verifying_key(&self) -> VerifyingKey<'a> {
        VerifyingKey {
            x: self.x,
            y: self.y,
        }
    }

    /// CRED_x as transcript parts: a byte-string head (X.509 only, else empty) and the bytes.
    pub(crate) fn transcript_head(&self) -> BytesHead {
        BytesHead::new(self.bytes.len())
    }

    /// Whether the transcript wraps the bytes in a byte string head.
    pub(crate) fn wrapped(&self) -> bool {
        self.format == CredentialFormat::X509
    }

    /// The ID_CRED that refers to this credential by `kid` (requires a CCS with a kid).
    pub fn id_by_kid(&self) -> Option<IdCred<'a>> {
        self.kid.map(IdCred::Kid)
    }

    /// The ID_CRED that carries this CCS by value.
    pub fn id_by_value(&self) -> Option<IdCred<'a>> {
        (self.format == CredentialFormat::Ccs).then_some(IdCred::ByValue(self.bytes))
    }
}

/// ID_CRED_x: how a message identifies a credential (RFC 9528 Section 3.5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdCred<'a> {
    /// `{4: kid}`: a key identifier; sent in compact form in PLAINTEXT_2/3.
    Kid(&'a [u8]),
    /// `{14: CCS}`: the CCS itself.
    ByValue(&'a [u8]),
    /// `{34: [alg, hash]}`: an X.509 certificate thumbprint (RFC 9360).
    X5t {
        /// COSE hash algorithm (-15 SHA-256/64 or -16 SHA-256).
        alg: i64,
        /// The hash of the DER certificate.
        hash: &'a [u8],
    },
}

/// The most bytes of an ID_CRED map that precede its borrowed body.
pub(crate) const ID_CRED_PREFIX_MAX: usize = 24;

impl<'a> IdCred<'a> {
    /// The thumbprint of a certificate with SHA-256/64, as in RFC 9529 trace 1.
    pub fn x5t_of<C: Crypto>(crypto: &mut C, der: &[u8], out: &'a mut [u8; 8]) -> Self {
        let h = crypto.sha256(&[der]);
        out.copy_from_slice(&h[..8]);
        IdCred::X5t {
            alg: cose::ALG_SHA256_64,
            hash: out,
        }
    }

    /// Writes the full map form's head into `prefix` and returns its length; the map is
    /// `prefix[..n] || body()`.
    pub(crate) fn map_prefix(
        &self,
        prefix: &mut [u8; ID_CRED_PREFIX_MAX],
    ) -> Result<usize, CborError> {
        let mut e = Encoder::new(prefix);
        e.map(1)?;
        match self {
            Self::Kid(kid) => {
                e.i64(cose::HEADER_KID)?
                    .head(MajorType::Bytes, kid.len() as u64)?;
            }
            Self::ByValue(_) => {
                e.i64(cose::HEADER_KCCS)?;
            }
            Self::X5t { alg, hash } => {
                e.i64(cose::HEADER_X5T)?
                    .array(2)?
                    .i64(*alg)?
                    .head(MajorType::Bytes, hash.len() as u64)?;
            }
        }
        Ok(e.finish())
    }

    /// The bytes that follow [`Self::map_prefix`] in the map form.
    pub(crate) fn body(&self) -> &'a [u8] {
        match self {
            Self::Kid(b) | Self::ByValue(b) => b,
            Self::X5t { hash, .. } => hash,
        }
    }

    /// Writes the full map form (as in context_2 / context_3); returns its length.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn encode_map(&self, out: &mut [u8]) -> Result<usize, CborError> {
        let mut prefix = [0u8; ID_CRED_PREFIX_MAX];
        let n = self.map_prefix(&mut prefix)?;
        let mut e = Encoder::new(out);
        e.raw(&prefix[..n])?.raw(self.body())?;
        Ok(e.finish())
    }

    /// Writes the form used in PLAINTEXT_2/3: the compact `kid` form where it applies
    /// (Section 3.5.3.2), the map otherwise.
    ///
    /// # Errors
    /// [`CborError::BufferTooSmall`] if it does not fit.
    pub fn encode_plaintext(&self, e: &mut Encoder<'_>) -> Result<(), CborError> {
        match self {
            Self::Kid(kid) => match kid {
                [b] if is_one_byte_int(*b) => {
                    e.raw(kid)?;
                }
                _ => {
                    e.bytes(kid)?;
                }
            },
            _ => {
                let mut prefix = [0u8; ID_CRED_PREFIX_MAX];
                let n = self.map_prefix(&mut prefix)?;
                e.raw(&prefix[..n])?.raw(self.body())?;
            }
        }
        Ok(())
    }

    /// Reads ID_CRED_x from a plaintext: the compact `kid` form or a map with one of
    /// `kid`, `kccs` or `x5t`.
    ///
    /// # Errors
    /// If the item is malformed or uses another header parameter.
    pub fn decode_plaintext(d: &mut Decoder<'a>) -> Result<Self, CborError> {
        match d.peek_type() {
            Some(MajorType::Unsigned | MajorType::Negative) => {
                let start = d.remaining();
                let v = d.i64()?;
                if !(-24..=23).contains(&v) {
                    return Err(CborError::OutOfRange);
                }
                Ok(Self::Kid(&start[..1]))
            }
            Some(MajorType::Bytes) => {
                let kid = d.bytes()?;
                if matches!(kid, [b] if is_one_byte_int(*b)) {
                    // Must have been sent in compact integer form.
                    return Err(CborError::NotDeterministic);
                }
                Ok(Self::Kid(kid))
            }
            Some(MajorType::Map) => match Self::decode_map(d)? {
                // A map holding only a kid must be sent in compact form (Section 3.5.3.2).
                Self::Kid(_) => Err(CborError::NotDeterministic),
                other => Ok(other),
            },
            Some(found) => Err(CborError::UnexpectedType {
                expected: MajorType::Map,
                found,
            }),
            None => Err(CborError::Truncated),
        }
    }

    /// Reads ID_CRED_x in its full map form (as in context_2 / context_3, or in
    /// configuration): a map with exactly one of `kid`, `kccs` or `x5t`.
    ///
    /// # Errors
    /// If the map is malformed or uses another header parameter.
    pub fn decode_map(d: &mut Decoder<'a>) -> Result<Self, CborError> {
        if d.map()? != 1 {
            return Err(CborError::OutOfRange);
        }
        match d.i64()? {
            cose::HEADER_KID => Ok(Self::Kid(d.bytes()?)),
            cose::HEADER_KCCS => Ok(Self::ByValue(d.skip()?)),
            cose::HEADER_X5T => {
                if d.array()? != 2 {
                    return Err(CborError::OutOfRange);
                }
                let alg = d.i64()?;
                let hash = d.bytes()?;
                Ok(Self::X5t { alg, hash })
            }
            _ => Err(CborError::OutOfRange),
        }
    }

    /// Whether `credential` is the one this identifier names (kid equal, CCS identical, or the
    /// certificate's hash equal to the thumbprint).
    pub fn matches<C: Crypto>(&self, crypto: &mut C, credential: &Credential<'_>) -> bool {
        match self {
            Self::Kid(kid) => credential.kid.is_none_or(|k| k == *kid),
            Self::ByValue(ccs) => {
                credential.format == CredentialFormat::Ccs && credential.bytes == *ccs
            }
            Self::X5t { alg, hash } => {
                if credential.format != CredentialFormat::X509 {
                    return false;
                }
                let full = crypto.sha256(&[credential.bytes]);
                match *alg {
                    cose::ALG_SHA256_64 => hash.len() == 8 && full[..8] == **hash,
                    cose::ALG_SHA256 => full[..] == **hash,
                    _ => false,
                }
            }
        }
    }
}

/// The answer of a [`CredentialLookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<'s> {
    /// A trusted credential for the identifier.
    Found(Credential<'s>),
    /// The identifier carries a CCS by value, and the caller trusts it as sent.
    TrustByValue,
    /// No trusted credential: the handshake fails with ERR_CODE 3 (RFC 9528 Section 6.4).
    Unknown,
}

/// Resolves a peer's ID_CRED to a trusted credential; implemented by the caller (a server looks up
/// its registry of devices, a device knows its one server).
pub trait CredentialLookup {
    /// Finds the trusted credential that `id_cred` names.
    fn lookup(&mut self, id_cred: &IdCred<'_>) -> Lookup<'_>;
}

/// A lookup that trusts exactly one credential (what a device uses for its server).
#[derive(Clone, Copy, Debug)]
pub struct SingleCredential<'a>(pub Credential<'a>);

impl CredentialLookup for SingleCredential<'_> {
    fn lookup(&mut self, id_cred: &IdCred<'_>) -> Lookup<'_> {
        let ok = match id_cred {
            IdCred::Kid(kid) => self.0.kid.is_some_and(|k| k == *kid),
            IdCred::ByValue(ccs) => self.0.bytes == *ccs,
            // The thumbprint is checked against the certificate after lookup.
            IdCred::X5t { .. } => self.0.format == CredentialFormat::X509,
        };
        if ok {
            Lookup::Found(self.0)
        } else {
            Lookup::Unknown
        }
    }
}

/// Resolves a received ID_CRED through the caller's lookup and checks that the credential found
/// is the one named (kid, value or thumbprint).
pub(crate) fn resolve<'r, C: Crypto, L: CredentialLookup + ?Sized>(
    crypto: &mut C,
    lookup: &'r mut L,
    id_cred: &IdCred<'r>,
) -> Result<Credential<'r>, super::Error> {
    let credential = match lookup.lookup(id_cred) {
        Lookup::Found(c) => c,
        Lookup::TrustByValue => match id_cred {
            IdCred::ByValue(ccs) => Credential::ccs(ccs)?,
            _ => return Err(super::Error::UnknownCredential),
        },
        Lookup::Unknown => return Err(super::Error::UnknownCredential),
    };
    if !id_cred.matches(crypto, &credential) {
        return Err(super::Error::CredentialMismatch);
    }
    Ok(credential)
}
