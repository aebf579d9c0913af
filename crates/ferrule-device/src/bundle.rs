//! The device bundle: everything a device needs to authenticate to its cloud, in one CBOR map.
//!
//! `ferrule device add` writes one bundle per device (`DIR/devices/NAME.bundle`); the firmware or
//! the Linux device agent reads it with [`Bundle::parse`]. The encoding is a deterministic CBOR
//! map (RFC 8949 Section 4.2.1) with exactly these integer keys, in this order:
//!
//! | key | field | CBOR | meaning |
//! |---|---|---|---|
//! | 1 | name | tstr | the device name, 1-64 characters of `A-Z a-z 0-9 . _ -` |
//! | 2 | method | uint | the EDHOC method, 0-3 (RFC 9528 Section 3.2; 3 by default) |
//! | 3 | suite | int | the EDHOC cipher suite, 0-3 (RFC 9528 Section 3.6) |
//! | 4 | private key | bstr, 32 bytes | the device's long-term private key (see below) |
//! | 5 | device credential | bstr | the device's CCS (RFC 9528 Section 3.5.2), with a `kid` |
//! | 6 | server credential | bstr | the cloud's CCS for this method and suite |
//!
//! The device is the EDHOC initiator. Its key is a signature key if the method has the initiator
//! sign (methods 0 and 1: an Ed25519 seed for suites 0/1, a P-256 scalar for suites 2/3), and a
//! static Diffie-Hellman key otherwise (methods 2 and 3: an X25519 private key for suites 0/1, a
//! P-256 scalar for suites 2/3). The server credential carries the key the cloud authenticates
//! with as the responder, chosen the same way from [`Method::responder`].
//!
//! Parsing is strict (every key present once, in order, nothing after the map), never panics, and
//! says which field is missing or invalid; encoding a parsed bundle returns the input bytes.
//!
//! ```
//! use ferrule_device::bundle::Bundle;
//! # fn load(bytes: &[u8]) -> Result<(), ferrule_device::bundle::BundleError> {
//! let bundle = Bundle::parse(bytes)?;
//! let key = bundle.private_key()?; // checked against the device credential
//! let device = bundle.device_credential(); // CRED_I, identified by its kid
//! let server = bundle.server_credential(); // the one CRED_R the device trusts
//! # let _ = (key, device, server);
//! # Ok(())
//! # }
//! ```
//!
//! A bundle holds a private key: the [`Bundle`] view borrows it from the caller's buffer, which
//! the caller keeps secret and wipes; `Debug` never prints it.

use core::fmt;

use ferrule_crypto::SoftwareKey;
use ferrule_proto::cbor::{CborError, Decoder, Encoder};
use ferrule_proto::cose::KeyType;
use ferrule_proto::crypto::{Curve, SignatureAlgorithm};
use ferrule_proto::edhoc::{AuthMode, CipherSuite, Credential, Method};

/// Longest device name a bundle accepts, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` is a valid device name: 1 to [`MAX_NAME_LEN`] characters, each an ASCII letter,
/// digit, `.`, `_` or `-`. Names of this form are safe as file names and in logs.
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && name != "."
        && name != ".."
}

/// The COSE key type a party uses to authenticate in `mode` with `suite` (RFC 9528 Section 3.6):
/// the suite's Diffie-Hellman curve for static DH, its signature algorithm's curve for
/// signatures. `None` for a suite this implementation does not implement.
pub const fn key_type_for(mode: AuthMode, suite: CipherSuite) -> Option<KeyType> {
    let Some(params) = suite.parameters() else {
        return None;
    };
    Some(match mode {
        AuthMode::StaticDh => match params.curve {
            Curve::X25519 => KeyType::X25519,
            Curve::P256 => KeyType::P256,
        },
        AuthMode::Signature => match params.signature {
            SignatureAlgorithm::EdDsa => KeyType::Ed25519,
            SignatureAlgorithm::Es256 => KeyType::P256,
        },
    })
}

/// A field of a bundle, as named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleField {
    /// Key 1: the device name.
    Name,
    /// Key 2: the EDHOC method.
    Method,
    /// Key 3: the cipher suite.
    Suite,
    /// Key 4: the device's private key.
    PrivateKey,
    /// Key 5: the device's credential (CCS).
    DeviceCredential,
    /// Key 6: the cloud's credential (CCS).
    ServerCredential,
}

impl BundleField {
    /// Every field, in encoding order.
    pub const ALL: [Self; 6] = [
        Self::Name,
        Self::Method,
        Self::Suite,
        Self::PrivateKey,
        Self::DeviceCredential,
        Self::ServerCredential,
    ];

    /// The field's integer key in the CBOR map.
    pub const fn key(self) -> u8 {
        match self {
            Self::Name => 1,
            Self::Method => 2,
            Self::Suite => 3,
            Self::PrivateKey => 4,
            Self::DeviceCredential => 5,
            Self::ServerCredential => 6,
        }
    }

    /// A human name for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Method => "method",
            Self::Suite => "suite",
            Self::PrivateKey => "private key",
            Self::DeviceCredential => "device credential",
            Self::ServerCredential => "server credential",
        }
    }
}

impl fmt::Display for BundleField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (key {})", self.as_str(), self.key())
    }
}

/// Why a bundle could not be read, built or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// The input is not a CBOR map (or is empty): not a bundle at all.
    NotABundle,
    /// A field is absent.
    Missing(BundleField),
    /// A field is present but its value is unusable.
    Invalid {
        /// The field at fault.
        field: BundleField,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The map has more entries than the six fields.
    UnexpectedEntry,
    /// Bytes follow the map.
    TrailingBytes,
    /// The output buffer is too small for the encoding.
    BufferTooSmall,
}

impl BundleError {
    const fn invalid(field: BundleField, reason: &'static str) -> Self {
        Self::Invalid { field, reason }
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotABundle => f.write_str("not a device bundle: expected a CBOR map"),
            Self::Missing(field) => write!(f, "device bundle lacks its {field}"),
            Self::Invalid { field, reason } => {
                write!(f, "device bundle has an invalid {field}: {reason}")
            }
            Self::UnexpectedEntry => {
                f.write_str("device bundle has entries after its six fields (keys 1 to 6)")
            }
            Self::TrailingBytes => f.write_str("device bundle is followed by trailing bytes"),
            Self::BufferTooSmall => f.write_str("output buffer too small for the device bundle"),
        }
    }
}

impl core::error::Error for BundleError {}

/// A device bundle, borrowed from its encoding (or from the caller's parts): the device's name,
/// EDHOC method and suite, private key, credential, and the cloud credential it trusts.
///
/// Every `Bundle` is valid: [`parse`](Self::parse) and [`new`](Self::new) check that the name is
/// well formed, the suite is implemented, both credentials are CCSs with the key types the method
/// and suite call for, and the device credential has a `kid`. Whether the private key matches
/// the device credential is checked by [`private_key`](Self::private_key), which does the curve
/// arithmetic.
#[derive(Clone, Copy)]
pub struct Bundle<'a> {
    name: &'a str,
    method: Method,
    suite: CipherSuite,
    private_key: &'a [u8; 32],
    device: Credential<'a>,
    server: Credential<'a>,
}

impl<'a> Bundle<'a> {
    /// A bundle from its parts, checked as [`parse`](Self::parse) checks them.
    ///
    /// # Errors
    /// [`BundleError::Invalid`] naming the first field that is unusable.
    pub fn new(
        name: &'a str,
        method: Method,
        suite: CipherSuite,
        private_key: &'a [u8; 32],
        device_ccs: &'a [u8],
        server_ccs: &'a [u8],
    ) -> Result<Self, BundleError> {
        if !is_valid_name(name) {
            return Err(BundleError::invalid(
                BundleField::Name,
                "not 1-64 characters of A-Z a-z 0-9 . _ -",
            ));
        }
        let device_type = key_type_for(method.initiator(), suite).ok_or(BundleError::invalid(
            BundleField::Suite,
            "not one of the implemented suites 0-3",
        ))?;
        let server_type = key_type_for(method.responder(), suite).ok_or(BundleError::invalid(
            BundleField::Suite,
            "not one of the implemented suites 0-3",
        ))?;
        let device = credential(BundleField::DeviceCredential, device_ccs, device_type)?;
        if device.kid().is_none() {
            return Err(BundleError::invalid(
                BundleField::DeviceCredential,
                "its COSE_Key has no kid",
            ));
        }
        let server = credential(BundleField::ServerCredential, server_ccs, server_type)?;
        Ok(Self {
            name,
            method,
            suite,
            private_key,
            device,
            server,
        })
    }

    /// Parses a complete bundle.
    ///
    /// # Errors
    /// [`BundleError`] naming the field that is missing or invalid, or saying that the input is
    /// not a bundle, has extra entries or trailing bytes. Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BundleError> {
        let mut d = Decoder::new(bytes);
        let entries = d.map().map_err(|_| BundleError::NotABundle)?;
        let mut fields = Fields {
            d,
            entries,
            read: 0,
        };

        let name = fields.next(BundleField::Name, Decoder::text, "not a text string")?;
        let method = fields.next(BundleField::Method, Decoder::u64, "not an unsigned integer")?;
        let method =
            i64::try_from(method)
                .ok()
                .and_then(Method::from_id)
                .ok_or(BundleError::invalid(
                    BundleField::Method,
                    "not an EDHOC method 0-3",
                ))?;
        let suite = fields.next(BundleField::Suite, Decoder::i64, "not an integer")?;
        let suite = i32::try_from(suite)
            .map(CipherSuite::from_id)
            .map_err(|_| {
                BundleError::invalid(BundleField::Suite, "not one of the implemented suites 0-3")
            })?;
        let key = fields.next(BundleField::PrivateKey, Decoder::bytes, "not a byte string")?;
        let private_key: &[u8; 32] = key.try_into().map_err(|_| {
            BundleError::invalid(BundleField::PrivateKey, "not exactly 32 bytes long")
        })?;
        let device_ccs = fields.next(
            BundleField::DeviceCredential,
            Decoder::bytes,
            "not a byte string",
        )?;
        let server_ccs = fields.next(
            BundleField::ServerCredential,
            Decoder::bytes,
            "not a byte string",
        )?;
        if fields.entries > fields.read {
            return Err(BundleError::UnexpectedEntry);
        }
        fields.d.finish().map_err(|_| BundleError::TrailingBytes)?;
        Self::new(name, method, suite, private_key, device_ccs, server_ccs)
    }

    /// Writes the bundle in its deterministic encoding; returns the length.
    ///
    /// # Errors
    /// [`BundleError::BufferTooSmall`] if it does not fit in `out`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, BundleError> {
        self.encode_into(out)
            .map_err(|_: CborError| BundleError::BufferTooSmall)
    }

    fn encode_into(&self, out: &mut [u8]) -> Result<usize, CborError> {
        let mut e = Encoder::new(out);
        e.map(BundleField::ALL.len())?;
        e.u64(BundleField::Name.key().into())?.text(self.name)?;
        e.u64(BundleField::Method.key().into())?
            .u64(self.method.id().into())?;
        e.u64(BundleField::Suite.key().into())?
            .i64(self.suite.id().into())?;
        e.u64(BundleField::PrivateKey.key().into())?
            .bytes(self.private_key)?;
        e.u64(BundleField::DeviceCredential.key().into())?
            .bytes(self.device.bytes())?;
        e.u64(BundleField::ServerCredential.key().into())?
            .bytes(self.server.bytes())?;
        Ok(e.finish())
    }

    /// The device name (the `sub` of its credential, as registered in the cloud).
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// The EDHOC method the device uses.
    pub const fn method(&self) -> Method {
        self.method
    }

    /// The EDHOC cipher suite the device uses.
    pub const fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// The device's credential CRED_I, a CCS with a `kid` (RFC 9528 Section 3.5.2).
    pub const fn device_credential(&self) -> Credential<'a> {
        self.device
    }

    /// The cloud's credential CRED_R, the only responder the device trusts.
    pub const fn server_credential(&self) -> Credential<'a> {
        self.server
    }

    /// The device's `kid`, by which the cloud finds its credential.
    pub fn kid(&self) -> &'a [u8] {
        self.device.kid().unwrap_or_default()
    }

    /// The raw private key bytes (the form [`SoftwareKey`]'s `*_from_bytes` constructors take).
    pub const fn private_key_bytes(&self) -> &'a [u8; 32] {
        self.private_key
    }

    /// The device's private key as a [`SoftwareKey`] of the kind the method and suite call for
    /// (see the [module documentation](self)), checked against the device credential.
    ///
    /// # Errors
    /// [`BundleError::Invalid`] for the private key if it is not a valid P-256 scalar or its
    /// public key is not the one in the device credential.
    pub fn private_key(&self) -> Result<SoftwareKey, BundleError> {
        let key = match self.device.key_type() {
            KeyType::X25519 => SoftwareKey::x25519_from_bytes(self.private_key),
            KeyType::Ed25519 => SoftwareKey::ed25519_from_bytes(self.private_key),
            KeyType::P256 => SoftwareKey::p256_from_bytes(self.private_key).map_err(|_| {
                BundleError::invalid(
                    BundleField::PrivateKey,
                    "not a valid P-256 scalar (zero or not below the group order)",
                )
            })?,
        };
        if key.public_key().as_slice() != self.device.public_x() {
            return Err(BundleError::invalid(
                BundleField::PrivateKey,
                "its public key is not the one in the device credential",
            ));
        }
        Ok(key)
    }
}

impl fmt::Debug for Bundle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bundle")
            .field("name", &self.name)
            .field("method", &self.method)
            .field("suite", &self.suite)
            .field("private_key", &"<redacted>")
            .field("device_credential", &self.device)
            .field("server_credential", &self.server)
            .finish()
    }
}

/// Parses `ccs` as the credential of `field` and checks its key type.
fn credential(
    field: BundleField,
    ccs: &[u8],
    expected: KeyType,
) -> Result<Credential<'_>, BundleError> {
    let credential = Credential::ccs(ccs).map_err(|_| {
        BundleError::invalid(field, "not a CWT Claims Set (CCS) with a usable COSE_Key")
    })?;
    if credential.key_type() != expected {
        let reason = match expected {
            KeyType::X25519 => "the method and suite call for an X25519 key",
            KeyType::Ed25519 => "the method and suite call for an Ed25519 key",
            KeyType::P256 => "the method and suite call for a P-256 key",
        };
        return Err(BundleError::invalid(field, reason));
    }
    Ok(credential)
}

/// Reads the map's entries in order, each with the key its field must have.
struct Fields<'a> {
    d: Decoder<'a>,
    entries: usize,
    read: usize,
}

impl<'a> Fields<'a> {
    fn next<T>(
        &mut self,
        field: BundleField,
        read: fn(&mut Decoder<'a>) -> Result<T, CborError>,
        wrong_type: &'static str,
    ) -> Result<T, BundleError> {
        if self.read == self.entries {
            return Err(BundleError::Missing(field));
        }
        let key = self
            .d
            .i64()
            .map_err(|_| BundleError::invalid(field, "the map key before it is not an integer"))?;
        let expected = i64::from(field.key());
        if key > expected {
            return Err(BundleError::Missing(field));
        }
        if key < expected {
            return Err(BundleError::invalid(
                field,
                "map keys are duplicated, out of order or unknown",
            ));
        }
        self.read += 1;
        read(&mut self.d).map_err(|e| match e {
            CborError::Truncated => BundleError::invalid(field, "truncated"),
            CborError::InvalidUtf8 => BundleError::invalid(field, "not UTF-8"),
            CborError::NotDeterministic => BundleError::invalid(field, "not deterministic CBOR"),
            _ => BundleError::invalid(field, wrong_type),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrule_proto::cose::{Ccs, CoseKey};
    use std::format;
    use std::vec::Vec;

    /// A P-256 scalar (RFC 9529 trace 2, SK_I).
    const P256_SCALAR: [u8; 32] = [
        0xfb, 0x13, 0xad, 0xeb, 0x65, 0x18, 0xce, 0xe5, 0xf8, 0x84, 0x17, 0x66, 0x08, 0x41, 0x14,
        0x2e, 0x83, 0x0a, 0x81, 0xfe, 0x33, 0x43, 0x80, 0xa9, 0x53, 0x40, 0x6a, 0x13, 0x05, 0xe8,
        0x70, 0x6b,
    ];

    fn ccs_for(key: &SoftwareKey, name: &str, kid: &[u8]) -> Vec<u8> {
        let x = key.public_key();
        let y = key.public_key_y();
        let key_type = match key.kind() {
            ferrule_proto::crypto::KeyKind::X25519 => KeyType::X25519,
            ferrule_proto::crypto::KeyKind::Ed25519 => KeyType::Ed25519,
            ferrule_proto::crypto::KeyKind::P256 => KeyType::P256,
        };
        let ccs = Ccs {
            subject: Some(name),
            key: CoseKey {
                key_type,
                kid: Some(kid),
                x: &x,
                y: y.as_ref().map(|y| y.as_slice()),
            },
        };
        let mut buf = [0u8; 256];
        let n = ccs.encode(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn key_of(key_type: KeyType, seed: &[u8; 32]) -> SoftwareKey {
        match key_type {
            KeyType::X25519 => SoftwareKey::x25519_from_bytes(seed),
            KeyType::Ed25519 => SoftwareKey::ed25519_from_bytes(seed),
            KeyType::P256 => SoftwareKey::p256_from_bytes(seed).unwrap(),
        }
    }

    /// An encoded bundle for `method` and `suite`.
    fn encoded(method: Method, suite: CipherSuite) -> Vec<u8> {
        let device_key = key_of(
            key_type_for(method.initiator(), suite).unwrap(),
            &P256_SCALAR,
        );
        let mut server_seed = P256_SCALAR;
        server_seed[31] ^= 1;
        let server_key = key_of(
            key_type_for(method.responder(), suite).unwrap(),
            &server_seed,
        );
        let device_ccs = ccs_for(&device_key, "sensor-1", &[0x00]);
        let server_ccs = ccs_for(&server_key, "ferrule-cloud", &[0x01]);
        let secret = device_key.to_bytes();
        let bundle =
            Bundle::new("sensor-1", method, suite, &secret, &device_ccs, &server_ccs).unwrap();
        let mut out = [0u8; 512];
        let n = bundle.encode(&mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn round_trips_for_every_method_and_suite() {
        for method in Method::ALL {
            for suite in CipherSuite::IMPLEMENTED {
                let bytes = encoded(method, suite);
                let bundle = Bundle::parse(&bytes).unwrap();
                assert_eq!(bundle.name(), "sensor-1");
                assert_eq!(bundle.method(), method);
                assert_eq!(bundle.suite(), suite);
                assert_eq!(bundle.kid(), &[0x00]);
                assert_eq!(
                    bundle.device_credential().key_type(),
                    key_type_for(method.initiator(), suite).unwrap()
                );
                assert_eq!(
                    bundle.server_credential().key_type(),
                    key_type_for(method.responder(), suite).unwrap()
                );
                let key = bundle.private_key().unwrap();
                assert_eq!(
                    key.public_key().as_slice(),
                    bundle.device_credential().public_x()
                );
                let mut again = [0u8; 512];
                let n = bundle.encode(&mut again).unwrap();
                assert_eq!(
                    &again[..n],
                    bytes.as_slice(),
                    "parse then encode is identity"
                );
                assert_eq!(
                    bundle.encode(&mut again[..n - 1]),
                    Err(BundleError::BufferTooSmall)
                );
            }
        }
    }

    #[test]
    fn key_types_follow_method_and_suite() {
        use AuthMode::{Signature, StaticDh};
        use CipherSuite::{Suite0, Suite1, Suite2, Suite3};
        assert_eq!(key_type_for(StaticDh, Suite0), Some(KeyType::X25519));
        assert_eq!(key_type_for(StaticDh, Suite1), Some(KeyType::X25519));
        assert_eq!(key_type_for(Signature, Suite0), Some(KeyType::Ed25519));
        assert_eq!(key_type_for(Signature, Suite1), Some(KeyType::Ed25519));
        for suite in [Suite2, Suite3] {
            assert_eq!(key_type_for(StaticDh, suite), Some(KeyType::P256));
            assert_eq!(key_type_for(Signature, suite), Some(KeyType::P256));
        }
        assert_eq!(key_type_for(StaticDh, CipherSuite::Unknown(24)), None);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = encoded(Method::StaticStatic, CipherSuite::Suite2);
        for cut in 0..bytes.len() {
            assert!(Bundle::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(Bundle::parse(&[]).err(), Some(BundleError::NotABundle));
    }

    #[test]
    fn extra_bytes_and_entries_are_errors() {
        let mut bytes = encoded(Method::StaticStatic, CipherSuite::Suite2);
        bytes.push(0x00);
        assert_eq!(
            Bundle::parse(&bytes).err(),
            Some(BundleError::TrailingBytes)
        );
        bytes.pop();
        // A seventh entry {7: 0}.
        bytes[0] = 0xa7;
        bytes.extend_from_slice(&[0x07, 0x00]);
        assert_eq!(
            Bundle::parse(&bytes).err(),
            Some(BundleError::UnexpectedEntry)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let bytes = encoded(Method::StaticStatic, CipherSuite::Suite2);
        // A map of five entries lacks the server credential.
        let mut short = bytes.clone();
        short[0] = 0xa5;
        assert_eq!(
            Bundle::parse(&short).err(),
            Some(BundleError::Missing(BundleField::ServerCredential))
        );
        // Suite 7 is not implemented: the suite byte follows the name and method.
        // map head, key 1, "sensor-1" (9 bytes), key 2 and method 3, key 3: the value is at 14.
        let suite_at = 1 + 1 + 9 + 2 + 1;
        let mut bad_suite = bytes.clone();
        assert_eq!(bad_suite[suite_at], 0x02);
        bad_suite[suite_at] = 0x07;
        let err = Bundle::parse(&bad_suite).unwrap_err();
        assert!(matches!(
            err,
            BundleError::Invalid {
                field: BundleField::Suite,
                ..
            }
        ));
        assert!(format!("{err}").contains("suite (key 3)"), "{err}");
        // Suite 0 with a P-256 credential: the credential is wrong for the suite.
        bad_suite[suite_at] = 0x00;
        assert!(matches!(
            Bundle::parse(&bad_suite).err(),
            Some(BundleError::Invalid {
                field: BundleField::DeviceCredential,
                ..
            })
        ));
    }

    #[test]
    fn private_key_must_match_the_credential() {
        let device = SoftwareKey::p256_from_bytes(&P256_SCALAR).unwrap();
        let ccs = ccs_for(&device, "d", &[0x05]);
        let other = [0x11u8; 32];
        let bundle = Bundle::new(
            "d",
            Method::StaticStatic,
            CipherSuite::Suite2,
            &other,
            &ccs,
            &ccs,
        )
        .unwrap();
        assert!(matches!(
            bundle.private_key().err(),
            Some(BundleError::Invalid {
                field: BundleField::PrivateKey,
                ..
            })
        ));
        let zero = [0u8; 32];
        let bundle = Bundle::new(
            "d",
            Method::StaticStatic,
            CipherSuite::Suite2,
            &zero,
            &ccs,
            &ccs,
        )
        .unwrap();
        assert!(bundle.private_key().is_err());
    }

    #[test]
    fn new_rejects_bad_names_and_credentials() {
        let device = SoftwareKey::p256_from_bytes(&P256_SCALAR).unwrap();
        let ccs = ccs_for(&device, "d", &[0x05]);
        let key = device.to_bytes();
        let build = |name, device_ccs: &[u8]| {
            Bundle::new(
                name,
                Method::StaticStatic,
                CipherSuite::Suite2,
                &key,
                device_ccs,
                &ccs,
            )
            .map(|b| b.name().len())
        };
        let (long, longest) = ("x".repeat(65), "x".repeat(64));
        for name in ["", "a/b", "a b", "..", "é", &long] {
            assert!(
                matches!(
                    build(name, &ccs),
                    Err(BundleError::Invalid {
                        field: BundleField::Name,
                        ..
                    })
                ),
                "{name:?}"
            );
        }
        assert_eq!(build("a.b_c-D9", &ccs), Ok(8));
        assert_eq!(build(&longest, &ccs), Ok(64));
        let without_kid = {
            let (x, y) = (device.public_key(), device.public_key_y().unwrap());
            let ccs = Ccs {
                subject: None,
                key: CoseKey {
                    key_type: KeyType::P256,
                    kid: None,
                    x: &x,
                    y: Some(&y),
                },
            };
            let mut buf = [0u8; 128];
            let n = ccs.encode(&mut buf).unwrap();
            buf[..n].to_vec()
        };
        assert!(matches!(
            build("d", &without_kid),
            Err(BundleError::Invalid {
                field: BundleField::DeviceCredential,
                ..
            })
        ));
        assert!(build("d", b"\xa0").is_err());
    }

    #[test]
    fn no_panic_on_byte_flips() {
        for (method, suite) in [
            (Method::StaticStatic, CipherSuite::Suite2),
            (Method::SignSign, CipherSuite::Suite0),
        ] {
            let bytes = encoded(method, suite);
            let mut accepted = 0;
            for i in 0..bytes.len() {
                for bit in 0..8 {
                    let mut flipped = bytes.clone();
                    flipped[i] ^= 1 << bit;
                    if let Ok(bundle) = Bundle::parse(&flipped) {
                        accepted += 1;
                        let _ = bundle.private_key();
                        let _ = format!("{bundle:?}");
                        let mut out = [0u8; 512];
                        let n = bundle.encode(&mut out).unwrap();
                        assert_eq!(&out[..n], flipped.as_slice());
                    }
                }
            }
            // Flips inside the key and the coordinates still parse; structure flips do not.
            assert!(accepted > 0);
        }
    }

    #[test]
    fn debug_redacts_the_private_key() {
        let bytes = encoded(Method::StaticStatic, CipherSuite::Suite2);
        let bundle = Bundle::parse(&bytes).unwrap();
        let printed = format!("{bundle:?}");
        assert!(printed.contains("<redacted>"));
        assert!(printed.contains("sensor-1"));
        let secret = bundle.private_key_bytes();
        assert!(!printed.contains(&format!("{secret:?}")));
        assert!(!printed.contains(&format!("{secret:02x?}")));
    }
}
