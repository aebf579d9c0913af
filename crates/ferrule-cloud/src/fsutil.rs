//! Writing files that hold secrets: owner-only permissions, no partial files left behind.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;

/// Whether writing a file may replace one that exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail with [`io::ErrorKind::AlreadyExists`] if the file exists.
    Refuse,
    /// Replace the file atomically (write a temporary file, then rename it over the old one).
    Replace,
}

/// Opens `path` for writing with mode 0600 (owner read/write only) on Unix, failing if it exists.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes `bytes` to `path` with mode 0600, durably (synced before returning). With
/// [`Overwrite::Refuse`] an existing file is an [`io::ErrorKind::AlreadyExists`] error; with
/// [`Overwrite::Replace`] the old file is replaced atomically, so a reader sees either the old or
/// the new contents. A failed write leaves no partial file.
pub(crate) fn write_private(path: &Path, bytes: &[u8], overwrite: Overwrite) -> io::Result<()> {
    let target = match overwrite {
        Overwrite::Refuse => path.to_path_buf(),
        Overwrite::Replace => {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(format!(".tmp-{}", std::process::id()));
            path.with_file_name(name)
        }
    };
    if overwrite == Overwrite::Replace {
        // A temporary file left by a crashed run of this same process id.
        let _ = fs::remove_file(&target);
    }
    let mut file = create_private(&target)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    let result = written.and_then(|()| match overwrite {
        Overwrite::Refuse => Ok(()),
        Overwrite::Replace => fs::rename(&target, path),
    });
    if result.is_err() {
        let _ = fs::remove_file(&target);
        return result;
    }
    sync_parent(path);
    Ok(())
}

/// Makes a new directory entry under `path`'s parent durable (best effort).
pub(crate) fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
}

/// Creates `path` (and its parents) as a directory; the last component gets mode 0700 on Unix.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuse_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        write_private(&path, b"one", Overwrite::Refuse).unwrap();
        let err = write_private(&path, b"two", Overwrite::Refuse).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"one");
        write_private(&path, b"three", Overwrite::Replace).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three");
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
