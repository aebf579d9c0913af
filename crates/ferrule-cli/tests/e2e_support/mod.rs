//! Shared machinery of the end-to-end tests: they run the real `ferrule` binary as separate
//! processes, talk to them over UDP and the admin HTTP API, and read the sink file.
//!
//! Every process is a [`Proc`]: its output goes to files (so a chatty server never blocks on a
//! full pipe), it is killed (SIGKILL) and reaped when dropped, and when a test panics the tail of
//! its stdout and stderr is printed. Every wait has a timeout.
#![allow(dead_code)]

use core::net::SocketAddr;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

/// The binary under test.
pub const FERRULE: &str = env!("CARGO_BIN_EXE_ferrule");

/// How long a server or relay may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

static NEXT_LOG: AtomicUsize = AtomicUsize::new(0);

/// A running (or finished) `ferrule` process with its output in files.
pub struct Proc {
    /// What the test calls it, for messages.
    pub name: String,
    /// The command line, for messages.
    pub command: String,
    child: Child,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    status: Option<ExitStatus>,
}

/// The last `max` bytes of `text`, on a character boundary.
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

impl Proc {
    /// Starts `ferrule ARGS`, its output going to files in `logs`.
    pub fn spawn(name: &str, logs: &Path, args: &[&str]) -> Self {
        let n = NEXT_LOG.fetch_add(1, Ordering::Relaxed);
        let stdout_path = logs.join(format!("{n:03}-{name}.stdout"));
        let stderr_path = logs.join(format!("{n:03}-{name}.stderr"));
        let child = Command::new(FERRULE)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(File::create(&stdout_path).expect("create a log file"))
            .stderr(File::create(&stderr_path).expect("create a log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {FERRULE}: {e}"));
        Self {
            name: name.to_owned(),
            command: format!("ferrule {}", args.join(" ")),
            child,
            stdout_path,
            stderr_path,
            status: None,
        }
    }

    /// Everything it printed on stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Everything it printed on stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Its output, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "----- {} (`{}`) stdout (tail) -----\n{}\n----- {} stderr (tail) -----\n{}\n-----",
            self.name,
            self.command,
            tail(&self.stdout(), 6000),
            self.name,
            tail(&self.stderr(), 12_000)
        )
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        if self.status.is_some() {
            return false;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(status);
                false
            }
            Ok(None) => true,
            Err(e) => panic!("waiting for {}: {e}", self.name),
        }
    }

    /// Waits for it to exit; panics (and so kills it) after `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        while self.running() {
            assert!(
                Instant::now() < deadline,
                "{} did not finish within {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.status.expect("exited")
    }

    /// Waits for it to exit and asserts it succeeded; returns its stdout.
    pub fn success(&mut self, timeout: Duration) -> String {
        let status = self.wait(timeout);
        assert!(status.success(), "{} failed ({status})", self.name);
        self.stdout()
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            if let Ok(status) = self.child.wait() {
                self.status = Some(status);
            }
        }
    }

    /// Waits until a line of its stderr contains `needle` and returns that line; panics if it
    /// exits or `timeout` passes first.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.stderr().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                self.running(),
                "{} exited ({:?}) before printing {needle:?}",
                self.name,
                self.status
            );
            assert!(
                Instant::now() < deadline,
                "{} did not print {needle:?} within {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("{}", self.dump());
        }
    }
}

/// Runs `ferrule ARGS` to completion (at most `timeout`) and returns (success, stdout, stderr).
pub fn run(logs: &Path, args: &[&str], timeout: Duration) -> (bool, String, String) {
    let name = args.iter().take(2).copied().collect::<Vec<_>>().join("-");
    let mut proc = Proc::spawn(&name, logs, args);
    let status = proc.wait(timeout);
    (status.success(), proc.stdout(), proc.stderr())
}

/// Runs `ferrule ARGS`, asserts it succeeded, and returns its stdout.
pub fn ok(logs: &Path, args: &[&str]) -> String {
    let (ok, out, err) = run(logs, args, Duration::from_secs(60));
    assert!(ok, "`ferrule {}` failed:\n{out}\n{err}", args.join(" "));
    out
}

/// A loopback UDP port that was free a moment ago.
pub fn free_udp_addr() -> SocketAddr {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind a UDP socket")
}

/// A loopback TCP port that was free a moment ago.
pub fn free_tcp_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("bind a TCP socket")
}

/// A cloud directory with its logs and sink, in a temporary directory.
pub struct Cloud {
    /// Keeps the directory alive.
    pub tmp: tempfile::TempDir,
    /// The cloud directory (`ferrule init --dir`).
    pub dir: PathBuf,
    /// The JSON-lines sink.
    pub sink: PathBuf,
    /// Where process output goes.
    pub logs: PathBuf,
}

impl Cloud {
    /// `ferrule init` in a fresh temporary directory.
    pub fn init() -> Self {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let dir = tmp.path().join("cloud");
        let logs = tmp.path().join("logs");
        fs::create_dir_all(&logs).expect("log directory");
        let cloud = Self {
            sink: tmp.path().join("telemetry.jsonl"),
            dir,
            logs,
            tmp,
        };
        cloud.ok(&["init", "--dir", cloud.dir_str()]);
        cloud
    }

    /// The cloud directory as a string.
    pub fn dir_str(&self) -> &str {
        self.dir.to_str().expect("UTF-8 path")
    }

    /// Runs `ferrule ARGS`, asserts it succeeded, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        ok(&self.logs, args)
    }

    /// Runs `ferrule ARGS` to completion: (success, stdout, stderr).
    pub fn run(&self, args: &[&str], timeout: Duration) -> (bool, String, String) {
        run(&self.logs, args, timeout)
    }

    /// Starts a process.
    pub fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        Proc::spawn(name, &self.logs, args)
    }

    /// `ferrule device add NAME`; returns the bundle path.
    pub fn add_device(&self, name: &str) -> PathBuf {
        self.ok(&["device", "add", name, "--dir", self.dir_str()]);
        let bundle = self.dir.join("devices").join(format!("{name}.bundle"));
        assert!(bundle.is_file(), "{} missing", bundle.display());
        bundle
    }

    /// Starts `ferrule serve` on free ports; see [`Cloud::serve_on`].
    pub fn serve(&self) -> ServerProc {
        for attempt in 0..3 {
            let (udp, admin) = (free_udp_addr(), free_tcp_addr());
            let mut server = self.serve_on(udp, admin);
            // Another process may have taken a port between our probe and the server's bind.
            if server.started(START_TIMEOUT) || attempt == 2 {
                server.check_started(udp);
                return server;
            }
        }
        unreachable!()
    }

    /// Starts `ferrule serve --listen udp --admin admin` without waiting for it.
    pub fn serve_on(&self, udp: SocketAddr, admin: SocketAddr) -> ServerProc {
        let sink = format!("jsonl:{}", self.sink.display());
        let (udp_s, admin_s) = (udp.to_string(), admin.to_string());
        let proc = self.spawn(
            "serve",
            &[
                "serve",
                "--dir",
                self.dir_str(),
                "--listen",
                &udp_s,
                "--sink",
                &sink,
                "--admin",
                &admin_s,
            ],
        );
        ServerProc { proc, udp, admin }
    }

    /// The sink's records.
    pub fn sink_records(&self) -> Vec<serde_json::Value> {
        sink_records(&self.sink)
    }
}

/// A `ferrule serve` process and its addresses.
pub struct ServerProc {
    /// The process.
    pub proc: Proc,
    /// Where devices send.
    pub udp: SocketAddr,
    /// The admin HTTP API.
    pub admin: SocketAddr,
}

/// The line `ferrule serve` prints once its UDP socket is bound.
pub const LISTENING: &str = "listening for devices on udp://";

impl ServerProc {
    /// Whether it printed its "listening" line within `timeout` (false if it exited first).
    pub fn started(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.proc.stderr().contains(LISTENING) {
                return true;
            }
            if !self.proc.running() || Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asserts the server is listening on `udp` and its admin API answers.
    pub fn check_started(&mut self, udp: SocketAddr) {
        let line = self.proc.wait_for_stderr(LISTENING, START_TIMEOUT);
        let addr = line
            .split(LISTENING)
            .nth(1)
            .map(str::trim)
            .expect("address after the marker");
        assert_eq!(addr, udp.to_string(), "{line}");
        // The admin line follows the UDP line; then the API must answer.
        self.proc.wait_for_stderr(
            &format!("admin API on http://{}", self.admin),
            START_TIMEOUT,
        );
        let deadline = Instant::now() + START_TIMEOUT;
        while try_http(self.admin, "GET", "/metrics", b"").is_err() {
            assert!(
                Instant::now() < deadline,
                "admin API on {} never answered",
                self.admin
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET /metrics, parsed.
    pub fn metrics(&self) -> Metrics {
        let (status, body) = http(self.admin, "GET", "/metrics", b"");
        assert_eq!(status, 200, "{body}");
        Metrics::parse(&body)
    }
}

/// An HTTP/1.1 exchange with `Connection: close`: (status, body).
pub fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

/// The body of a chunked HTTP response.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// [`try_http`] that panics on a transport error.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    try_http(addr, method, path, body)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

/// The samples of a Prometheus text exposition, by name with labels as written.
#[derive(Clone, Debug, Default)]
pub struct Metrics(pub BTreeMap<String, u64>);

impl Metrics {
    /// Parses `name{labels} value` lines.
    pub fn parse(text: &str) -> Self {
        let mut samples = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (name, value) = line.rsplit_once(' ').expect("name and value");
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("value in {line:?}"));
            samples.insert(name.to_owned(), value);
        }
        Self(samples)
    }

    /// The sample `name` (with labels exactly as the server writes them); panics if absent.
    pub fn get(&self, name: &str) -> u64 {
        *self
            .0
            .get(name)
            .unwrap_or_else(|| panic!("metric {name} missing from {:#?}", self.0))
    }

    /// `ferrule_rejections_total{reason="REASON"}`.
    pub fn rejections(&self, reason: &str) -> u64 {
        self.get(&format!("ferrule_rejections_total{{reason=\"{reason}\"}}"))
    }

    /// The sum of every `ferrule_rejections_total` sample.
    pub fn all_rejections(&self) -> u64 {
        self.0
            .iter()
            .filter(|(k, _)| k.starts_with("ferrule_rejections_total{"))
            .map(|(_, v)| v)
            .sum()
    }

    /// `ferrule_handshakes_total{result="RESULT"}`.
    pub fn handshakes(&self, result: &str) -> u64 {
        self.get(&format!("ferrule_handshakes_total{{result=\"{result}\"}}"))
    }
}

/// Every record of a JSON-lines sink (none if the file does not exist yet); panics on a line
/// that is not a JSON object.
pub fn sink_records(path: &Path) -> Vec<serde_json::Value> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => panic!("reading {}: {e}", path.display()),
    };
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the sink ends inside a line: {:?}",
        tail(&text, 300)
    );
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("sink line {}: {e}: {line:?}", i + 1));
            assert!(v.is_object(), "sink line {}: {line}", i + 1);
            v
        })
        .collect()
}

/// The number of lines in the sink so far (0 if absent).
pub fn sink_lines(path: &Path) -> usize {
    fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// (device, payload.seq) of a sink record, checking the record's shape: CBOR telemetry
/// `{"seq", "temp_mc"}` decoded to JSON, with Content-Format 60.
pub fn device_seq(record: &serde_json::Value) -> (String, u64) {
    let device = record["device"]
        .as_str()
        .unwrap_or_else(|| panic!("no device in {record}"))
        .to_owned();
    let seq = record["payload"]["seq"]
        .as_u64()
        .unwrap_or_else(|| panic!("no payload.seq in {record}"));
    assert!(
        record["payload"]["temp_mc"].is_i64(),
        "no payload.temp_mc in {record}"
    );
    assert_eq!(record["content_format"], 60, "{record}");
    assert!(record["kid"].is_string(), "no kid in {record}");
    (device, seq)
}

/// How many times each (device, seq) appears in the sink.
pub fn sink_counts(path: &Path) -> BTreeMap<(String, u64), usize> {
    let mut counts = BTreeMap::new();
    for record in sink_records(path) {
        *counts.entry(device_seq(&record)).or_insert(0) += 1;
    }
    counts
}

/// The fleet device names `fleet-00001` .. `fleet-N`.
pub fn fleet_names(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("fleet-{i:05}")).collect()
}

/// Parses the one JSON object `ferrule fleet --json` prints.
pub fn fleet_summary(stdout: &str) -> serde_json::Value {
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "fleet --json printed {stdout:?}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("fleet --json: {e}: {stdout}"))
}

/// Waits until `f` is true, checking every 10 ms; panics with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A small deterministic pseudo-random generator (xorshift64*), enough for test traffic.
pub struct Rng(u64);

impl Rng {
    /// Seeded; a zero seed is replaced.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}
