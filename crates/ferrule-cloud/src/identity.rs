//! The cloud identity: the long-term keys with which the cloud authenticates to devices as the
//! EDHOC responder (RFC 9528 Section 3.2), and their credentials.
//!
//! One identity covers every method and suite: a P-256 key (static DH and ES256, suites 2 and 3),
//! an X25519 key (static DH, suites 0 and 1) and an Ed25519 key (EdDSA, suites 0 and 1). Each has
//! a CCS (RFC 9528 Section 3.5.2) with the subject [`CloudIdentity::SUBJECT`] and a one-byte
//! `kid` that is a one-byte CBOR integer, so that ID_CRED_R takes its compact one-byte form.
//!
//! It is stored in `DIR/cloud.identity` (mode 0600) as a deterministic CBOR map:
//!
//! ```text
//! { 1: 1 (format version),
//!   2: P-256 scalar (bstr 32),   3: P-256 CCS (bstr),
//!   4: X25519 secret (bstr 32),  5: X25519 CCS (bstr),
//!   6: Ed25519 seed (bstr 32),   7: Ed25519 CCS (bstr) }
//! ```
//!
//! Loading checks every credential against its private key.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ferrule_crypto::SoftwareKey;
use ferrule_proto::cbor::{CborError, Decoder, Encoder};
use ferrule_proto::cose::{Ccs, CoseKey, KeyType};
use ferrule_proto::crypto::CryptoError;
use ferrule_proto::edhoc::{AuthMode, CipherSuite, Credential};
use rand_core::{CryptoRng, OsRng, RngCore};
use zeroize::Zeroizing;

use crate::fsutil::{self, Overwrite};
use crate::paths::CloudDir;

/// Format version written in key 1 of the identity file.
const FORMAT_VERSION: u64 = 1;
/// Largest identity file accepted (the real one is about 450 bytes).
const MAX_FILE_LEN: usize = 2048;

/// Why the cloud identity could not be created, read or written. Each message names the file
/// and says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The identity file does not exist.
    #[error("{} not found: run `ferrule init --dir {}` first", .path.display(), .dir.display())]
    NotFound {
        /// The identity file.
        path: PathBuf,
        /// The cloud directory.
        dir: PathBuf,
    },
    /// The identity file exists and was not to be replaced.
    #[error(
        "{} already exists: refusing to replace the cloud identity that provisioned devices \
         trust (pass --force to replace it; every device must then be provisioned again)",
        .path.display()
    )]
    AlreadyExists {
        /// The identity file.
        path: PathBuf,
    },
    /// Reading the file failed.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The identity file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Writing the file failed.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The identity file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The file is not a valid identity.
    #[error(
        "{} is not a valid cloud identity: {reason}; restore it from a backup, or replace it \
         with `ferrule init --force` and provision every device again",
        .path.display()
    )]
    Malformed {
        /// The identity file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The random number generator failed while generating keys.
    #[error("cannot generate the cloud keys: {0}")]
    Rng(CryptoError),
    /// A credential or the identity file did not fit its buffer (a bug).
    #[error("cannot encode the cloud identity: {0}")]
    Encode(CborError),
}

/// One of the identity's keys and its credential.
#[derive(Debug)]
pub struct IdentityKey {
    key: SoftwareKey,
    ccs: Vec<u8>,
}

impl IdentityKey {
    /// `key` with a CCS `{2: subject, 8: {1: COSE_Key with kid}}` for its public key.
    fn new(key: SoftwareKey, subject: &str, kid: u8) -> Result<Self, CborError> {
        let x = key.public_key();
        let y = key.public_key_y();
        let ccs = Ccs {
            subject: Some(subject),
            key: CoseKey {
                key_type: key_type(&key),
                kid: Some(&[kid]),
                x: &x,
                y: y.as_ref().map(<[u8; 32]>::as_slice),
            },
        };
        let mut buf = [0u8; 256];
        let n = ccs.encode(&mut buf)?;
        Ok(Self {
            key,
            ccs: buf[..n].to_vec(),
        })
    }

    /// The private key.
    pub fn key(&self) -> &SoftwareKey {
        &self.key
    }

    /// The credential (CCS bytes, CRED_R).
    pub fn ccs(&self) -> &[u8] {
        &self.ccs
    }
}

/// The COSE key type of a software key.
fn key_type(key: &SoftwareKey) -> KeyType {
    match key.kind() {
        ferrule_proto::crypto::KeyKind::X25519 => KeyType::X25519,
        ferrule_proto::crypto::KeyKind::Ed25519 => KeyType::Ed25519,
        ferrule_proto::crypto::KeyKind::P256 => KeyType::P256,
    }
}

/// The cloud's keys and credentials for every method and suite; see the [module
/// documentation](self).
#[derive(Debug)]
pub struct CloudIdentity {
    p256: IdentityKey,
    x25519: IdentityKey,
    ed25519: IdentityKey,
}

impl CloudIdentity {
    /// The `sub` claim of every cloud credential.
    pub const SUBJECT: &'static str = "ferrule-cloud";
    /// The `kid` of the P-256 credential (suites 2 and 3).
    pub const KID_P256: u8 = 0x01;
    /// The `kid` of the X25519 credential (suites 0 and 1, static DH).
    pub const KID_X25519: u8 = 0x02;
    /// The `kid` of the Ed25519 credential (suites 0 and 1, signatures).
    pub const KID_ED25519: u8 = 0x03;

    /// A fresh identity from the operating system's random number generator.
    ///
    /// # Errors
    /// [`IdentityError::Rng`] if the random number generator fails.
    pub fn generate() -> Result<Self, IdentityError> {
        Self::generate_with(&mut OsRng)
    }

    /// A fresh identity with keys drawn from `rng`.
    ///
    /// # Errors
    /// [`IdentityError::Rng`] if `rng` fails.
    pub fn generate_with<R: RngCore + CryptoRng>(rng: &mut R) -> Result<Self, IdentityError> {
        let p256 = SoftwareKey::generate_p256(rng).map_err(IdentityError::Rng)?;
        let x25519 = SoftwareKey::generate_x25519(rng).map_err(IdentityError::Rng)?;
        let ed25519 = SoftwareKey::generate_ed25519(rng).map_err(IdentityError::Rng)?;
        Self::from_keys(p256, x25519, ed25519)
    }

    /// The identity with the given keys, and credentials made for them.
    fn from_keys(
        p256: SoftwareKey,
        x25519: SoftwareKey,
        ed25519: SoftwareKey,
    ) -> Result<Self, IdentityError> {
        let make =
            |key, kid| IdentityKey::new(key, Self::SUBJECT, kid).map_err(IdentityError::Encode);
        Ok(Self {
            p256: make(p256, Self::KID_P256)?,
            x25519: make(x25519, Self::KID_X25519)?,
            ed25519: make(ed25519, Self::KID_ED25519)?,
        })
    }

    /// The key and credential (CCS bytes) with which the cloud, as the EDHOC responder,
    /// authenticates in `mode` (the method's [`responder`](ferrule_proto::edhoc::Method::responder)
    /// mode) with `suite`: P-256 for suites 2 and 3, X25519 for static DH and Ed25519 for
    /// signatures with suites 0 and 1. `None` for a suite that is not implemented.
    pub fn credential_for(
        &self,
        mode: AuthMode,
        suite: CipherSuite,
    ) -> Option<(&SoftwareKey, &[u8])> {
        self.key_for(mode, suite)
            .map(|k| (&k.key, k.ccs.as_slice()))
    }

    /// Like [`credential_for`](Self::credential_for), as an [`IdentityKey`].
    pub fn key_for(&self, mode: AuthMode, suite: CipherSuite) -> Option<&IdentityKey> {
        Some(match ferrule_device::bundle::key_type_for(mode, suite)? {
            KeyType::P256 => &self.p256,
            KeyType::X25519 => &self.x25519,
            KeyType::Ed25519 => &self.ed25519,
        })
    }

    /// The three keys: P-256, X25519, Ed25519.
    pub fn keys(&self) -> [&IdentityKey; 3] {
        [&self.p256, &self.x25519, &self.ed25519]
    }

    /// Reads `DIR/cloud.identity` and checks each credential against its key.
    ///
    /// # Errors
    /// [`IdentityError::NotFound`] if there is no identity (run `ferrule init` first),
    /// [`IdentityError::Read`] if it cannot be read, [`IdentityError::Malformed`] if it is not a
    /// valid identity.
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let path = CloudDir::new(dir).identity();
        let bytes = match fs::read(&path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(IdentityError::NotFound {
                    path,
                    dir: dir.to_path_buf(),
                })
            }
            Err(source) => return Err(IdentityError::Read { path, source }),
        };
        warn_if_readable_by_others(&path);
        Self::decode(bytes.as_slice()).map_err(|reason| IdentityError::Malformed {
            path,
            reason: reason.to_owned(),
        })
    }

    /// Writes `DIR/cloud.identity` with mode 0600; returns its path.
    ///
    /// # Errors
    /// [`IdentityError::AlreadyExists`] if the file exists and `overwrite` is
    /// [`Overwrite::Refuse`]; [`IdentityError::Write`] if it cannot be written.
    pub fn save(&self, dir: &Path, overwrite: Overwrite) -> Result<PathBuf, IdentityError> {
        let path = CloudDir::new(dir).identity();
        let mut buf = Zeroizing::new([0u8; MAX_FILE_LEN]);
        let n = self.encode(buf.as_mut()).map_err(IdentityError::Encode)?;
        match fsutil::write_private(&path, &buf[..n], overwrite) {
            Ok(()) => Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(IdentityError::AlreadyExists { path })
            }
            Err(source) => Err(IdentityError::Write { path, source }),
        }
    }

    /// Writes the identity file's contents into `out`; returns the length.
    fn encode(&self, out: &mut [u8]) -> Result<usize, CborError> {
        let mut e = Encoder::new(out);
        e.map(7)?.u64(1)?.u64(FORMAT_VERSION)?;
        let mut label = 2;
        for key in self.keys() {
            e.u64(label)?.bytes(key.key.to_bytes().as_ref())?;
            e.u64(label + 1)?.bytes(&key.ccs)?;
            label += 2;
        }
        Ok(e.finish())
    }

    /// Reads the identity file's contents.
    fn decode(bytes: &[u8]) -> Result<Self, &'static str> {
        if bytes.len() > MAX_FILE_LEN {
            return Err("the file is too large");
        }
        let mut d = Decoder::new(bytes);
        const NOT_CBOR: &str = "not the expected CBOR map {1: version, 2..7: keys and credentials}";
        if d.map().map_err(|_| NOT_CBOR)? != 7 {
            return Err(NOT_CBOR);
        }
        if d.i64().map_err(|_| NOT_CBOR)? != 1 {
            return Err(NOT_CBOR);
        }
        if d.u64().map_err(|_| NOT_CBOR)? != FORMAT_VERSION {
            return Err("unknown format version (written by a newer ferrule?)");
        }
        let mut keys = Vec::with_capacity(3);
        for (label, key_type, kid) in [
            (2, KeyType::P256, Self::KID_P256),
            (4, KeyType::X25519, Self::KID_X25519),
            (6, KeyType::Ed25519, Self::KID_ED25519),
        ] {
            if d.i64().map_err(|_| NOT_CBOR)? != label {
                return Err(NOT_CBOR);
            }
            let secret: &[u8; 32] = d
                .bytes()
                .map_err(|_| NOT_CBOR)?
                .try_into()
                .map_err(|_| "a private key is not 32 bytes long")?;
            if d.i64().map_err(|_| NOT_CBOR)? != label + 1 {
                return Err(NOT_CBOR);
            }
            let ccs = d.bytes().map_err(|_| NOT_CBOR)?;
            let key = match key_type {
                KeyType::P256 => SoftwareKey::p256_from_bytes(secret)
                    .map_err(|_| "the P-256 key is not a valid scalar")?,
                KeyType::X25519 => SoftwareKey::x25519_from_bytes(secret),
                KeyType::Ed25519 => SoftwareKey::ed25519_from_bytes(secret),
            };
            let credential = Credential::ccs(ccs).map_err(|_| "a credential is not a valid CCS")?;
            if credential.key_type() != key_type
                || credential.public_x() != key.public_key().as_slice()
            {
                return Err("a credential does not match its private key");
            }
            if credential.kid() != Some(&[kid][..]) {
                return Err("a credential does not have its expected kid");
            }
            keys.push(IdentityKey {
                key,
                ccs: ccs.to_vec(),
            });
        }
        d.finish()
            .map_err(|_| "trailing bytes after the identity")?;
        let mut keys = keys.into_iter();
        match (keys.next(), keys.next(), keys.next()) {
            (Some(p256), Some(x25519), Some(ed25519)) => Ok(Self {
                p256,
                x25519,
                ed25519,
            }),
            _ => Err(NOT_CBOR),
        }
    }
}

/// Logs a warning if the identity file is readable by anyone but its owner.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(metadata) = fs::metadata(path) {
            let mode = metadata.permissions().mode();
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{:o}", mode & 0o777),
                    "the cloud identity holds private keys but is readable by others; run chmod 600 on it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrule_proto::edhoc::Method;

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let identity = CloudIdentity::generate().unwrap();
        let path = identity.save(dir.path(), Overwrite::Refuse).unwrap();
        assert_eq!(path, dir.path().join("cloud.identity"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let loaded = CloudIdentity::load(dir.path()).unwrap();
        for (a, b) in identity.keys().iter().zip(loaded.keys()) {
            assert_eq!(a.ccs(), b.ccs());
            assert_eq!(*a.key().to_bytes(), *b.key().to_bytes());
        }
        // Refuses to overwrite, replaces when told to.
        let err = CloudIdentity::generate()
            .unwrap()
            .save(dir.path(), Overwrite::Refuse)
            .unwrap_err();
        assert!(matches!(err, IdentityError::AlreadyExists { .. }));
        assert!(err.to_string().contains("cloud.identity already exists"));
        let other = CloudIdentity::generate().unwrap();
        other.save(dir.path(), Overwrite::Replace).unwrap();
        let loaded = CloudIdentity::load(dir.path()).unwrap();
        assert_eq!(loaded.keys()[0].ccs(), other.keys()[0].ccs());
    }

    #[test]
    fn credentials_follow_mode_and_suite() {
        let identity = CloudIdentity::generate().unwrap();
        for method in Method::ALL {
            for suite in CipherSuite::IMPLEMENTED {
                let (key, ccs) = identity.credential_for(method.responder(), suite).unwrap();
                let credential = Credential::ccs(ccs).unwrap();
                assert_eq!(
                    Some(credential.key_type()),
                    ferrule_device::bundle::key_type_for(method.responder(), suite)
                );
                assert_eq!(credential.public_x(), key.public_key().as_slice());
                let ccs = Ccs::parse(ccs).unwrap();
                assert_eq!(ccs.subject, Some(CloudIdentity::SUBJECT));
                // A one-byte kid that is a one-byte CBOR integer: ID_CRED_R is compact.
                let kid = credential.kid().unwrap();
                assert_eq!(kid.len(), 1);
                assert!(kid[0] <= 0x17 || (0x20..=0x37).contains(&kid[0]));
            }
        }
        assert!(identity
            .credential_for(AuthMode::StaticDh, CipherSuite::Unknown(5))
            .is_none());
        let kids: Vec<_> = identity
            .keys()
            .iter()
            .map(|k| Credential::ccs(k.ccs()).unwrap().kid().unwrap().to_vec())
            .collect();
        assert_eq!(kids, [vec![1], vec![2], vec![3]]);
    }

    #[test]
    fn load_names_the_file_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = CloudIdentity::load(dir.path()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("cloud.identity not found"), "{message}");
        assert!(message.contains("ferrule init --dir"), "{message}");

        fs::write(dir.path().join("cloud.identity"), b"garbage").unwrap();
        let message = CloudIdentity::load(dir.path()).unwrap_err().to_string();
        assert!(
            message.contains("is not a valid cloud identity"),
            "{message}"
        );
    }

    #[test]
    fn every_truncation_and_mismatch_is_rejected() {
        let identity = CloudIdentity::generate().unwrap();
        let mut buf = [0u8; MAX_FILE_LEN];
        let n = identity.encode(&mut buf).unwrap();
        let bytes = &buf[..n];
        assert!(CloudIdentity::decode(bytes).is_ok());
        for cut in 0..n {
            assert!(CloudIdentity::decode(&bytes[..cut]).is_err());
        }
        // Flip a bit of the P-256 scalar (a7 01 01 02 58 20, then the scalar): the key no longer
        // matches its credential.
        let mut flipped = bytes.to_vec();
        flipped[10] ^= 1;
        assert_eq!(
            CloudIdentity::decode(&flipped).err(),
            Some("a credential does not match its private key")
        );
        // No flip panics.
        for i in 0..n {
            let mut flipped = bytes.to_vec();
            flipped[i] ^= 0x80;
            let _ = CloudIdentity::decode(&flipped);
        }
    }
}
