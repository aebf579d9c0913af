//! Running the Python side: the interop venv's interpreter, the plugtest scripts fetched at
//! test time, child processes under guards, free ports.
//!
//! The interpreter is `FERRULE_INTEROP_PYTHON` if set, else `<repo>/.venv/bin/python` (created
//! by `cargo xtask test`). A missing interpreter is an error that says how to create it, never a
//! reason to skip.
//!
//! The plugtest is fetched by `interop/python/fetch_plugtest.py` (the venv's pip downloads the
//! aiocoap sdist) into `<repo>/target/interop-cache/`, which is not version-controlled.

use core::fmt;
use core::time::Duration;
use std::fs::File;
use std::io;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

/// The aiocoap version the harness runs against.
pub const AIOCOAP_VERSION: &str = "0.4.17";

/// How long fetching the plugtest (a pip download the first time) may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// A harness failure, with a message that says what to do.
#[derive(Debug)]
pub struct HarnessError(pub String);

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for HarnessError {}

impl From<io::Error> for HarnessError {
    fn from(e: io::Error) -> Self {
        Self(format!("I/O error: {e}"))
    }
}

/// The repository root (the parent of this crate's directory).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Where downloads and scratch directories go: `<repo>/target/interop-cache`.
pub fn cache_dir() -> PathBuf {
    repo_root().join("target").join("interop-cache")
}

/// The interop venv's Python interpreter.
///
/// # Errors
/// If `FERRULE_INTEROP_PYTHON` names a missing file, or `<repo>/.venv/bin/python` does not
/// exist; the message says how to create the venv.
pub fn python() -> Result<PathBuf, HarnessError> {
    let (path, source) = match std::env::var_os("FERRULE_INTEROP_PYTHON") {
        Some(p) => (PathBuf::from(p), "FERRULE_INTEROP_PYTHON"),
        None => (
            repo_root().join(".venv").join("bin").join("python"),
            "the default location",
        ),
    };
    if path.is_file() {
        return Ok(path);
    }
    Err(HarnessError(format!(
        "the interop tests need a Python venv with aiocoap, and there is no interpreter at {} \
         ({source}). Create it with `cargo xtask test`, or by hand:\n    \
         python3 -m venv .venv && .venv/bin/pip install \"aiocoap[oscore]=={AIOCOAP_VERSION}\"\n\
         in the repository root, or point FERRULE_INTEROP_PYTHON at an interpreter that has it.",
        path.display()
    )))
}

/// Fetches aiocoap's OSCORE plugtest into the cache (once; later calls reuse it) and returns its
/// directory, which holds `plugtest-server`, `plugtest-client` and `common-context/`.
///
/// # Errors
/// If the fetch script fails (no network to PyPI, a hash mismatch, ...); the message includes
/// its output.
pub fn plugtest_dir(python: &Path) -> Result<PathBuf, HarnessError> {
    let script = repo_root()
        .join("interop")
        .join("python")
        .join("fetch_plugtest.py");
    let cache = cache_dir();
    std::fs::create_dir_all(&cache)?;
    let args = [
        script.as_os_str(),
        std::ffi::OsStr::new("--cache"),
        cache.as_os_str(),
        std::ffi::OsStr::new("--version"),
        std::ffi::OsStr::new(AIOCOAP_VERSION),
    ];
    let log_dir = cache.join(format!("fetch-{}", std::process::id()));
    let mut child = ChildGuard::spawn("fetch_plugtest", python, &args, &cache, &log_dir)?;
    let status = child.wait(FETCH_TIMEOUT);
    let (stdout, stderr) = (child.stdout(), child.stderr());
    drop(child);
    let _ = std::fs::remove_dir_all(&log_dir);
    let failed = |why: String| {
        HarnessError(format!(
            "{} {} {why}; it needs network access to PyPI the first time.\n\
             stdout:\n{stdout}\nstderr:\n{stderr}",
            python.display(),
            script.display(),
        ))
    };
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => return Err(failed(format!("failed ({s})"))),
        Err(e) => return Err(failed(e.0)),
    }
    let dir = PathBuf::from(stdout.trim());
    if !dir.join("plugtest-server").is_file() {
        return Err(HarnessError(format!(
            "the fetch script printed {stdout:?}, which holds no plugtest-server; stderr:\n{stderr}"
        )));
    }
    Ok(dir)
}

/// A port on 127.0.0.1 that is free for UDP and TCP right now (aiocoap's server binds both).
///
/// # Errors
/// If no free port is found in a few attempts.
pub fn free_port() -> Result<u16, HarnessError> {
    for _ in 0..20 {
        let udp = UdpSocket::bind(("127.0.0.1", 0))?;
        let port = udp.local_addr()?.port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(HarnessError("no free port on 127.0.0.1".into()))
}

/// Checks that nothing is bound to this UDP or TCP port on 127.0.0.1 (a plain bind fails even
/// next to a socket with SO_REUSEPORT, which aiocoap sets).
///
/// # Errors
/// If something is.
pub fn ensure_port_unused(port: u16) -> Result<(), HarnessError> {
    let udp = UdpSocket::bind(("127.0.0.1", port));
    let tcp = TcpListener::bind(("127.0.0.1", port));
    match (udp, tcp) {
        (Ok(_), Ok(_)) => Ok(()),
        (u, t) => Err(HarnessError(format!(
            "port {port} is in use (UDP: {}, TCP: {}); a stale server may be running",
            u.err().map_or_else(|| "free".into(), |e| e.to_string()),
            t.err().map_or_else(|| "free".into(), |e| e.to_string()),
        ))),
    }
}

/// A child process whose stdout and stderr go to files; killed (and reaped) when dropped.
#[derive(Debug)]
pub struct ChildGuard {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl ChildGuard {
    /// Starts `program args...` in `cwd` with unbuffered Python output; its output goes to
    /// `<log_dir>/<name>.stdout` and `.stderr`.
    ///
    /// # Errors
    /// If the files cannot be created or the process cannot be started.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[&std::ffi::OsStr],
        cwd: &Path,
        log_dir: &Path,
    ) -> Result<Self, HarnessError> {
        std::fs::create_dir_all(log_dir)?;
        let stdout = log_dir.join(format!("{name}.stdout"));
        let stderr = log_dir.join(format!("{name}.stderr"));
        let child = Command::new(program)
            .args(args)
            .current_dir(cwd)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout)?)
            .stderr(File::create(&stderr)?)
            .spawn()
            .map_err(|e| HarnessError(format!("cannot start {}: {e}", program.display())))?;
        Ok(Self {
            name: name.into(),
            child,
            stdout,
            stderr,
            status: None,
        })
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Both outputs under headers, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "----- {} (pid {}) stdout -----\n{}----- {} stderr -----\n{}",
            self.name,
            self.child.id(),
            self.stdout(),
            self.name,
            self.stderr()
        )
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.poll().is_none()
    }

    fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits until its stdout contains `needle`.
    ///
    /// # Errors
    /// If it exits first or `timeout` passes.
    pub fn wait_for_stdout(&mut self, needle: &str, timeout: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stdout().contains(needle) {
                return Ok(());
            }
            if let Some(status) = self.poll() {
                return Err(HarnessError(format!(
                    "{} exited ({status}) before printing {needle:?}",
                    self.name
                )));
            }
            if Instant::now() >= deadline {
                return Err(HarnessError(format!(
                    "{} did not print {needle:?} within {timeout:?}",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for it to exit.
    ///
    /// # Errors
    /// If `timeout` passes first (it is then killed).
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.poll() {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(HarnessError(format!(
                    "{} did not finish within {timeout:?} and was killed",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills it (if still running) and reaps it.
    pub fn kill(&mut self) {
        if self.poll().is_none() {
            // The process is ours: kill it by its id (Child::kill), then reap it.
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}
