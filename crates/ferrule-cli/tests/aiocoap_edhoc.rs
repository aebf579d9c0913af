//! EDHOC + OSCORE interop with aiocoap, the independent reference peer (its EDHOC is lakers):
//! aiocoap as the device against `ferrule serve`, and `ferrule device run` against a cloud built
//! on aiocoap (interop/python/aiocoap_cloud.py), each with the combined request and the plain
//! flow. Credentials for aiocoap come from `ferrule device export`, exactly as a user gets them.
//!
//! Needs the Python venv that `cargo xtask test` creates in `.venv` (or `FERRULE_INTEROP_PYTHON`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const FERRULE: &str = env!("CARGO_BIN_EXE_ferrule");

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python, which must have aiocoap 0.4.17.
fn python() -> PathBuf {
    let python = std::env::var_os("FERRULE_INTEROP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} not found: run `cargo xtask test` once (it creates .venv with aiocoap), or set \
         FERRULE_INTEROP_PYTHON to a Python with `aiocoap[oscore]==0.4.17`",
        python.display()
    );
    python
}

/// A UDP port free on loopback for both UDP and TCP (aiocoap binds both).
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A child process killed when dropped; its output is collected for failure reports.
struct Running {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Running {
    fn start(name: &'static str, command: &mut Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        Self {
            name,
            child,
            lines,
            log: Vec::new(),
        }
    }

    /// Waits for a line containing `text`; returns it.
    fn wait_for(&mut self, text: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        let (name, log) = (self.name, self.drain());
        panic!("{name} never printed {text:?}; its output:\n{log}");
    }

    fn drain(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
        self.log.join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(command: &mut Command, what: &str) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    output
}

fn ok(output: &Output, what: &str, context: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}\n{context}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn ferrule(args: &[&str]) -> String {
    ok(
        &run(Command::new(FERRULE).args(args), "ferrule"),
        &format!("ferrule {}", args.join(" ")),
        "",
    )
}

/// A cloud directory with one device.
fn provision(dir: &Path, device: &str) {
    let d = dir.to_str().unwrap();
    ferrule(&["init", "--dir", d]);
    ferrule(&["device", "add", device, "--dir", d]);
}

#[test]
fn aiocoap_device_against_ferrule_serve_combined_and_plain() {
    let python = python();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cloud");
    provision(&dir, "aio-device");
    let d = dir.to_str().unwrap();
    let port = free_port();
    let sink = tmp.path().join("sink.jsonl");
    let mut serve = Running::start(
        "ferrule serve",
        Command::new(FERRULE).args([
            "serve",
            "--dir",
            d,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--sink",
            &format!("jsonl:{}", sink.display()),
        ]),
    );
    serve.wait_for("listening for devices");

    let uri = format!("coap://127.0.0.1:{port}");
    let combined = ferrule(&[
        "device",
        "export",
        "aio-device",
        "--dir",
        d,
        "--format",
        "aiocoap",
        "--server",
        &uri,
    ]);
    assert!(combined.contains("\"use_combined_edhoc\": true"));
    let plain = combined.replace(
        "\"use_combined_edhoc\": true",
        "\"use_combined_edhoc\": false",
    );
    for (flow, credentials) in [("combined", &combined), ("plain", &plain)] {
        let file = tmp.path().join(format!("{flow}.diag"));
        std::fs::write(&file, credentials).unwrap();
        let output = run(
            Command::new(&python).args([
                "-m",
                "aiocoap.cli.client",
                "--credentials",
                file.to_str().unwrap(),
                "-m",
                "POST",
                &format!("{uri}/t"),
                "--content-format",
                "0",
                "--payload",
                &format!("aiocoap {flow} flow"),
            ]),
            "aiocoap-client",
        );
        let context = format!("ferrule serve output:\n{}", serve.drain());
        ok(&output, &format!("aiocoap-client ({flow} flow)"), &context);
    }

    let records = std::fs::read_to_string(&sink).unwrap();
    let records: Vec<serde_json::Value> = records
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        records.len(),
        2,
        "sink: {records:?}\nserver:\n{}",
        serve.drain()
    );
    for (record, flow) in records.iter().zip(["combined", "plain"]) {
        assert_eq!(record["device"], "aio-device");
        assert_eq!(record["content_format"], 0);
        assert_eq!(record["payload"], format!("aiocoap {flow} flow"));
    }
    let list: serde_json::Value =
        serde_json::from_str(&ferrule(&["device", "list", "--dir", d, "--json"])).unwrap();
    let device = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "aio-device")
        .unwrap();
    assert!(
        !device["last_seen"].is_null(),
        "the registry does not show the device as seen: {device}"
    );
}

#[test]
fn ferrule_device_against_an_aiocoap_cloud_both_flows() {
    let python = python();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cloud");
    provision(&dir, "thermostat");
    let d = dir.to_str().unwrap();
    let port = free_port();
    let uri = format!("coap://127.0.0.1:{port}");
    let credentials = ferrule(&[
        "device",
        "export",
        "thermostat",
        "--dir",
        d,
        "--format",
        "aiocoap-server",
        "--server",
        &uri,
    ]);
    let file = tmp.path().join("server.diag");
    std::fs::write(&file, credentials).unwrap();
    let record = tmp.path().join("received.jsonl");
    let mut cloud = Running::start(
        "aiocoap cloud",
        Command::new(&python).args([
            repo()
                .join("interop/python/aiocoap_cloud.py")
                .to_str()
                .unwrap(),
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--credentials",
            file.to_str().unwrap(),
            "--record",
            record.to_str().unwrap(),
            "--command",
            "set-point 19",
        ]),
    );
    cloud.wait_for("ready");

    let bundle = dir.join("devices/thermostat.bundle");
    let server = format!("127.0.0.1:{port}");
    for (extra, count) in [(None, 3), (Some("--with-message-4"), 2)] {
        let mut command = Command::new(FERRULE);
        command.args([
            "device",
            "run",
            "--bundle",
            bundle.to_str().unwrap(),
            "--server",
            &server,
        ]);
        command.args([
            "--count",
            &count.to_string(),
            "--interval",
            "50",
            "--timeout",
            "30",
        ]);
        command.args(extra);
        let output = run(&mut command, "ferrule device run");
        let context = format!("aiocoap cloud output:\n{}", cloud.drain());
        let stdout = ok(&output, "ferrule device run against aiocoap", &context);
        assert!(
            stdout.contains(&format!("{count} of {count} messages acknowledged")),
            "{stdout}"
        );
        if extra.is_none() {
            assert!(
                stdout.contains("command received: set-point 19"),
                "{stdout}"
            );
        }
    }
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&record)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    for line in &lines {
        assert_eq!(
            line["peer"][0], ":thermostat",
            "aiocoap did not authenticate the device: {line}"
        );
        assert_eq!(line["content_format"], 60);
    }
}
