//! Provisioning: registering a device and writing its bundle, as `ferrule device add` does.

use std::fs;
use std::io::{self, Write as _};
use std::path::PathBuf;

use ferrule_crypto::SoftwareKey;
use ferrule_device::bundle::{is_valid_name, key_type_for, Bundle, BundleError};
use ferrule_proto::cose::KeyType;
use ferrule_proto::crypto::CryptoError;
use ferrule_proto::edhoc::{CipherSuite, Method};
use rand_core::{CryptoRng, OsRng, RngCore};
use zeroize::Zeroizing;

use crate::fsutil;
use crate::identity::CloudIdentity;
use crate::paths::CloudDir;
use crate::registry::{Device, NewDevice, Registry, RegistryError};

/// Largest bundle written (a real one is about 300 bytes).
const MAX_BUNDLE_LEN: usize = 1024;

/// Why a device could not be provisioned. Each message names the device or file at fault and
/// says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The registry refused the device (bad name, duplicate, unsupported suite) or failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A bundle file of that name exists although the device is not registered.
    #[error(
        "{} already exists but device {name:?} is not registered: move that file away, or \
         choose another name",
        .path.display()
    )]
    BundleExists {
        /// The bundle file.
        path: PathBuf,
        /// The device name.
        name: String,
    },
    /// The devices folder or the bundle could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The bundle could not be written after the device was registered; the device was revoked,
    /// since no one holds its private key.
    #[error(
        "cannot write {}: {reason}; device {name:?} had been registered and is now revoked \
         (its private key is lost): fix the problem and add the device under another name",
        .path.display()
    )]
    BundleLost {
        /// The bundle file.
        path: PathBuf,
        /// The device name.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// The random number generator failed.
    #[error("cannot generate the device key: {0}")]
    Rng(CryptoError),
}

/// A device just provisioned.
#[derive(Debug)]
pub struct Provisioned {
    /// The device as registered (with its allocated kid).
    pub device: Device,
    /// Where its bundle was written: `DIR/devices/NAME.bundle`, mode 0600.
    pub bundle_path: PathBuf,
}

/// Provisions a device in the cloud directory `dir`: generates its private key (the kind the
/// method and suite call for, [`key_type_for`]), registers it in `registry` (which allocates
/// its kid and makes its credential), and writes its bundle, with the cloud credential from
/// `identity` for the method's responder mode, to `DIR/devices/NAME.bundle` (mode 0600).
///
/// The bundle file is created first, so an existing file is never replaced; if registration fails
/// it is removed again.
///
/// # Errors
/// [`ProvisionError::Registry`] for a bad or duplicate name or an unsupported suite,
/// [`ProvisionError::BundleExists`] if a stray bundle file is in the way, and the other variants
/// for I/O and RNG failures.
pub fn provision_device(
    dir: &CloudDir,
    identity: &CloudIdentity,
    registry: &Registry,
    name: &str,
    method: Method,
    suite: CipherSuite,
) -> Result<Provisioned, ProvisionError> {
    provision_device_with(dir, identity, registry, name, method, suite, &mut OsRng)
}

/// [`provision_device`] with keys drawn from `rng`.
///
/// # Errors
/// As [`provision_device`].
pub fn provision_device_with<R: RngCore + CryptoRng>(
    dir: &CloudDir,
    identity: &CloudIdentity,
    registry: &Registry,
    name: &str,
    method: Method,
    suite: CipherSuite,
    rng: &mut R,
) -> Result<Provisioned, ProvisionError> {
    if !is_valid_name(name) {
        return Err(RegistryError::InvalidName {
            name: name.to_owned(),
        }
        .into());
    }
    let unsupported = || RegistryError::UnsupportedSuite { suite: suite.id() };
    let key_type = key_type_for(method.initiator(), suite).ok_or_else(unsupported)?;
    let (_, server_ccs) = identity
        .credential_for(method.responder(), suite)
        .ok_or_else(unsupported)?;
    if let Some(existing) = registry.device(name)? {
        return Err(RegistryError::DuplicateName {
            name: name.to_owned(),
            status: existing.status,
        }
        .into());
    }

    let devices = dir.devices();
    fsutil::create_private_dir(&devices).map_err(|source| ProvisionError::Write {
        path: devices.clone(),
        source,
    })?;
    let path = dir.bundle(name);
    let mut file = match fsutil::create_private(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(ProvisionError::BundleExists {
                path,
                name: name.to_owned(),
            })
        }
        Err(source) => return Err(ProvisionError::Write { path, source }),
    };
    let remove = |path: &PathBuf| {
        let _ = fs::remove_file(path);
    };

    let key = match generate(key_type, rng) {
        Ok(key) => key,
        Err(e) => {
            remove(&path);
            return Err(ProvisionError::Rng(e));
        }
    };
    let (x, y) = (key.public_key(), key.public_key_y());
    let device = match registry.add_device(&NewDevice {
        name,
        method,
        suite,
        key_type,
        public_key: &x,
        public_key_y: y.as_ref(),
    }) {
        Ok(device) => device,
        Err(e) => {
            remove(&path);
            return Err(e.into());
        }
    };

    let secret = key.to_bytes();
    let mut buf = Zeroizing::new([0u8; MAX_BUNDLE_LEN]);
    let written = Bundle::new(name, method, suite, &secret, &device.credential, server_ccs)
        .and_then(|bundle| bundle.encode(buf.as_mut()))
        .map_err(|e: BundleError| e.to_string())
        .and_then(|n| {
            file.write_all(&buf[..n])
                .and_then(|()| file.sync_all())
                .map_err(|e| e.to_string())
        });
    drop(file);
    if let Err(reason) = written {
        remove(&path);
        let _ = registry.revoke(name);
        return Err(ProvisionError::BundleLost {
            path,
            name: name.to_owned(),
            reason,
        });
    }
    fsutil::sync_parent(&path);
    Ok(Provisioned {
        device,
        bundle_path: path,
    })
}

/// A fresh private key of `key_type`.
fn generate<R: RngCore + CryptoRng>(
    key_type: KeyType,
    rng: &mut R,
) -> Result<SoftwareKey, CryptoError> {
    match key_type {
        KeyType::X25519 => SoftwareKey::generate_x25519(rng),
        KeyType::Ed25519 => SoftwareKey::generate_ed25519(rng),
        KeyType::P256 => SoftwareKey::generate_p256(rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::Overwrite;

    #[test]
    fn provisions_every_method_and_suite() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = CloudDir::new(tmp.path());
        let identity = CloudIdentity::generate().unwrap();
        identity.save(dir.root(), Overwrite::Refuse).unwrap();
        let registry = Registry::create(dir.root()).unwrap();
        for method in Method::ALL {
            for suite in CipherSuite::IMPLEMENTED {
                let name = format!("m{}-s{}", method.id(), suite.id());
                let done =
                    provision_device(&dir, &identity, &registry, &name, method, suite).unwrap();
                assert_eq!(done.bundle_path, dir.bundle(&name));
                let bytes = fs::read(&done.bundle_path).unwrap();
                let bundle = Bundle::parse(&bytes).unwrap();
                assert_eq!(bundle.name(), name);
                assert_eq!(bundle.method(), method);
                assert_eq!(bundle.suite(), suite);
                assert_eq!(bundle.kid(), done.device.kid.as_slice());
                assert_eq!(bundle.device_credential().bytes(), done.device.credential);
                let (server_key, server_ccs) =
                    identity.credential_for(method.responder(), suite).unwrap();
                assert_eq!(bundle.server_credential().bytes(), server_ccs);
                assert_eq!(
                    bundle.server_credential().public_x(),
                    server_key.public_key().as_slice()
                );
                bundle.private_key().unwrap();
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt as _;
                    let mode = fs::metadata(&done.bundle_path)
                        .unwrap()
                        .permissions()
                        .mode();
                    assert_eq!(mode & 0o777, 0o600);
                }
            }
        }
    }

    #[test]
    fn refuses_duplicates_and_stray_files_without_leaving_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = CloudDir::new(tmp.path());
        let identity = CloudIdentity::generate().unwrap();
        let registry = Registry::create(dir.root()).unwrap();
        let add = |name: &str, suite| {
            provision_device(
                &dir,
                &identity,
                &registry,
                name,
                Method::StaticStatic,
                suite,
            )
        };
        add("a", CipherSuite::Suite2).unwrap();
        let err = add("a", CipherSuite::Suite2).unwrap_err();
        assert!(err.to_string().contains("already registered"), "{err}");
        let err = add("b", CipherSuite::Unknown(9)).unwrap_err();
        assert!(err.to_string().contains("suite 9"), "{err}");
        assert!(!dir.bundle("b").exists());
        let err = add("../escape", CipherSuite::Suite2).unwrap_err();
        assert!(err.to_string().contains("invalid device name"), "{err}");

        fs::write(dir.bundle("stray"), b"old").unwrap();
        let err = add("stray", CipherSuite::Suite2).unwrap_err();
        assert!(matches!(err, ProvisionError::BundleExists { .. }), "{err}");
        assert_eq!(fs::read(dir.bundle("stray")).unwrap(), b"old");
        assert!(registry.device("stray").unwrap().is_none());
    }
}
