//! The layout of a cloud directory (`ferrule init --dir DIR`).
//!
//! ```text
//! DIR/
//!   cloud.identity       the cloud's private keys and credentials (CBOR, mode 0600)
//!   registry.sqlite      the device registry (SQLite, WAL mode: also -wal and -shm files)
//!   devices/             mode 0700
//!     NAME.bundle        one per device: what the device needs to authenticate (mode 0600)
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// File name of the cloud identity inside the cloud directory.
pub const IDENTITY_FILE: &str = "cloud.identity";
/// File name of the device registry inside the cloud directory.
pub const REGISTRY_FILE: &str = "registry.sqlite";
/// Folder of the device bundles inside the cloud directory.
pub const DEVICES_DIR: &str = "devices";
/// Extension of a device bundle file.
pub const BUNDLE_EXTENSION: &str = "bundle";

/// A cloud directory: where the identity, the registry and the device bundles live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudDir {
    root: PathBuf,
}

impl CloudDir {
    /// The cloud directory at `root` (which need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `DIR/cloud.identity`.
    pub fn identity(&self) -> PathBuf {
        self.root.join(IDENTITY_FILE)
    }

    /// `DIR/registry.sqlite`.
    pub fn registry(&self) -> PathBuf {
        self.root.join(REGISTRY_FILE)
    }

    /// `DIR/devices`.
    pub fn devices(&self) -> PathBuf {
        self.root.join(DEVICES_DIR)
    }

    /// Creates the directory (and its parents) and `DIR/devices/` (mode 0700 on Unix: bundles
    /// hold private keys). Existing folders are kept.
    ///
    /// # Errors
    /// If a folder cannot be created; the error names it.
    pub fn create_dirs(&self) -> io::Result<()> {
        let named = |path: &Path, e: io::Error| {
            io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
        };
        fs::create_dir_all(&self.root).map_err(|e| named(&self.root, e))?;
        let devices = self.devices();
        crate::fsutil::create_private_dir(&devices).map_err(|e| named(&devices, e))
    }

    /// `DIR/devices/NAME.bundle`. `name` should be a valid device name
    /// ([`ferrule_device::bundle::is_valid_name`]), which cannot leave the folder.
    pub fn bundle(&self, name: &str) -> PathBuf {
        self.devices().join(format!("{name}.{BUNDLE_EXTENSION}"))
    }
}

impl AsRef<Path> for CloudDir {
    fn as_ref(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let dir = CloudDir::new("/srv/ferrule");
        assert_eq!(dir.identity(), Path::new("/srv/ferrule/cloud.identity"));
        assert_eq!(dir.registry(), Path::new("/srv/ferrule/registry.sqlite"));
        assert_eq!(dir.devices(), Path::new("/srv/ferrule/devices"));
        assert_eq!(
            dir.bundle("sensor-1"),
            Path::new("/srv/ferrule/devices/sensor-1.bundle")
        );
    }
}
