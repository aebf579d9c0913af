//! `cargo xtask firmware-test`: the firmware end to end, in QEMU, against the real cloud.
//!
//! It builds `ferrule-fw` (the default `any-suite` build) for the Cortex-M3 (`thumbv7m-none-eabi`,
//! QEMU board `mps2-an385`) and the Cortex-M4F (`thumbv7em-none-eabihf`, `mps2-an386`) and the
//! CLI, makes a cloud in a temporary directory (`ferrule init`, `ferrule device add dev-m3` and
//! `dev-m4`), starts `ferrule serve` (JSON-lines sink, admin API on loopback) and the CLI's serial
//! bridge `ferrule relay --serial-tcp`, and queues one command per device through the admin API.
//! Between each QEMU and the relay sits a small TCP proxy of this task (a *tap*), which forwards
//! the frames unchanged and keeps a copy of the device's datagrams, so that the test can read
//! the Partial IV of every OSCORE request on the wire.
//!
//! 1. **Both boards** at once, five telemetry messages each and one command: QEMU exits with 0,
//!    the summary is `sent=5 acked=5 commands=1`, the command's text is printed, the sink holds
//!    messages 0 to 4 of each device exactly once, and the Partial IVs rise.
//! 2. **A reset in the middle** (the M3, on with the NVM file of step 1): a run of
//!    [`RESET_COUNT`] messages is killed (SIGKILL, a power cut) once the sink holds about half of
//!    them, and the firmware boots again with the same NVM file and a count covering the rest.
//!    The second boot's `boot` line shows the persisted message number and sequence-number
//!    bound; the run completes; every message number is in the sink (the one in flight at the
//!    kill may be there twice, never any other); and no nonce is reused: within each boot the
//!    Partial IVs strictly rise, the first boot's are all below the bound the second boot read,
//!    and the second boot's start at that bound or above (RFC 8613 Appendix B.1.1).
//!
//! On a failure the error carries the firmware's output and the ends of the server's and the
//! relay's logs, and the run directory is kept.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Instant;

use crate::firmware::{self, Cloud, Qemu, Relay};
use crate::Context;

/// The usage text of `cargo xtask firmware-test`.
pub const USAGE: &str = "\
Usage: cargo xtask firmware-test

Builds ferrule-fw for the Cortex-M3 (thumbv7m-none-eabi, QEMU mps2-an385) and the Cortex-M4F
(thumbv7em-none-eabihf, mps2-an386) and runs it in qemu-system-arm against `ferrule serve`
through `ferrule relay --serial-tcp`: telemetry and a queued command on both boards, then a
run killed in the middle and booted again (no acknowledged message lost, no nonce reused).
Needs qemu-system-arm and the thumbv7m-none-eabi and thumbv7em-none-eabihf targets.";

/// Telemetry messages of the first runs.
const COUNT: u32 = 5;

/// Telemetry messages of the run that is killed in the middle.
const RESET_COUNT: u32 = 300;

/// How long a run of [`COUNT`] messages may take before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// How long a run around the reset may take (QEMU's timeout; the firmware's deadline is 30 s
/// shorter).
const RESET_TIMEOUT: Duration = Duration::from_secs(150);

/// One emulated board and the device it runs.
struct Board {
    device: &'static str,
    target: &'static str,
    machine: &'static str,
}

const BOARDS: [Board; 2] = [
    Board {
        device: "dev-m3",
        target: "thumbv7m-none-eabi",
        machine: "mps2-an385",
    },
    Board {
        device: "dev-m4",
        target: "thumbv7em-none-eabihf",
        machine: "mps2-an386",
    },
];

/// Runs `cargo xtask firmware-test` with `args` (after the command's name).
pub fn run(ctx: &Context, args: &[&str]) -> ExitCode {
    match args {
        [] => match step(ctx) {
            Ok(()) => ExitCode::SUCCESS,
            Err(reason) => {
                eprintln!("error: {reason}");
                ExitCode::FAILURE
            }
        },
        ["-h" | "--help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("error: unknown option `{}`\n\n{USAGE}", other.join(" "));
            ExitCode::from(2)
        }
    }
}

/// The whole test, as a step of `cargo xtask test`.
pub fn step(ctx: &Context) -> Result<(), String> {
    let started = Instant::now();
    if !firmware::qemu_available() {
        return Err(
            "qemu-system-arm not found: install it (Debian: apt-get install \
                    qemu-system-arm; `cargo xtask test` does that when it runs as root)"
                .to_owned(),
        );
    }
    let elf_dir = firmware::target_dir(ctx).join("firmware-test");
    let mut elves = Vec::new();
    for board in &BOARDS {
        say(&format!("building ferrule-fw for {}", board.target));
        let elf = elf_dir.join(format!("ferrule-fw-{}.elf", board.target));
        firmware::build(
            ctx,
            &firmware::Build {
                target: board.target,
                bin: "ferrule-fw",
                features: None,
            },
            &elf,
        )?;
        elves.push(elf);
    }
    say("building the CLI");
    let ferrule = firmware::build_cli(ctx)?;

    let dir = std::env::temp_dir().join(format!("ferrule-firmware-test-{}", std::process::id()));
    let result = test(&ferrule, &dir, &elves);
    match &result {
        Ok(()) => {
            let _ = fs::remove_dir_all(&dir);
            say(&format!(
                "passed in {:.1}s",
                started.elapsed().as_secs_f64()
            ));
        }
        Err(_) => say(&format!("failed; the run's files are in {}", dir.display())),
    }
    result
}

fn say(text: &str) {
    println!("firmware-test: {text}");
}

/// The cloud, the relay and the firmware images of one test run.
struct Bench<'a> {
    // Dropped in this order: the relay before the cloud it forwards to.
    relay: Relay,
    cloud: Cloud,
    elves: &'a [PathBuf],
}

fn test(ferrule: &Path, dir: &Path, elves: &[PathBuf]) -> Result<(), String> {
    let devices: Vec<(&str, Option<u8>)> = BOARDS.iter().map(|b| (b.device, None)).collect();
    let cloud = Cloud::start(ferrule, dir, &devices, true)?;
    let relay = Relay::start(ferrule, dir, cloud.udp)?;
    say(&format!(
        "ferrule serve on udp://{}, ferrule relay --serial-tcp {}, in {}",
        cloud.udp,
        relay.addr,
        dir.display()
    ));
    let bench = Bench {
        relay,
        cloud,
        elves,
    };
    let basic_pivs = bench.both_boards()?;
    bench.reset_in_the_middle(&basic_pivs)?;
    Ok(())
}

/// A finished or killed QEMU run: what the firmware printed and what it sent.
struct Outcome {
    code: Option<i32>,
    output: String,
    frames: Vec<Vec<u8>>,
}

impl Bench<'_> {
    /// An error message: `what`, the firmware's output, and the ends of the server's and the
    /// relay's logs.
    fn failure(&self, what: &str, output: &str) -> String {
        format!(
            "{what}\n--- the firmware's output:\n{}--- ferrule serve ({}):\n{}--- ferrule relay ({}):\n{}",
            indent(output),
            self.cloud.log.display(),
            firmware::tail(&self.cloud.log, 30),
            self.relay.log.display(),
            firmware::tail(&self.relay.log, 30),
        )
    }

    /// Starts the firmware of `board` through a new tap, with the command line `append`; the
    /// output goes to `dir/NAME.out`.
    fn boot(&self, board: &Board, append: &str, name: &str) -> Result<(Qemu, Tap), String> {
        let index = BOARDS
            .iter()
            .position(|b| b.device == board.device)
            .unwrap_or(0);
        let tap = Tap::start(self.relay.addr)?;
        let qemu = Qemu::start(
            board.machine,
            &self.elves[index],
            tap.port,
            append,
            &self.cloud.dir,
            &self.cloud.dir.join(format!("{name}.out")),
        )?;
        Ok((qemu, tap))
    }

    /// Waits for a run to end (killing it after `timeout`).
    fn finish(&self, qemu: Qemu, tap: &Tap, timeout: Duration) -> Result<Outcome, String> {
        let (code, output) = qemu.wait(timeout).map_err(|e| self.failure(&e, ""))?;
        Ok(Outcome {
            code,
            output,
            frames: tap.frames(),
        })
    }

    /// The sink's records so far.
    fn sink(&self) -> String {
        fs::read_to_string(self.cloud.dir.join("sink.jsonl")).unwrap_or_default()
    }

    /// Step 1: both boards at once, [`COUNT`] messages and one command each. The Partial IVs
    /// of each device's requests, by device.
    fn both_boards(&self) -> Result<BTreeMap<&'static str, Vec<u64>>, String> {
        let admin = self.cloud.admin.ok_or("the admin API did not start")?;
        for board in &BOARDS {
            let (status, body) = http_post(
                admin,
                &format!("/devices/{}/commands", board.device),
                &command_text(board.device),
            )?;
            if status != 201 {
                return Err(format!(
                    "queueing a command for {}: HTTP {status}: {body}",
                    board.device
                ));
            }
        }
        let started = Instant::now();
        let mut runs = Vec::new();
        for board in &BOARDS {
            let append = format!(
                "bundle={} nvm={}.nvm count={COUNT} commands=1 deadline_ms=60000",
                Cloud::bundle(board.device),
                board.device
            );
            runs.push(self.boot(board, &append, board.device)?);
        }
        let mut pivs = BTreeMap::new();
        for (board, (qemu, tap)) in BOARDS.iter().zip(runs) {
            let run = self.finish(qemu, &tap, RUN_TIMEOUT)?;
            let fail =
                |what: String| self.failure(&format!("{}: {what}", board.device), &run.output);
            if run.code != Some(0) {
                return Err(fail(format!("QEMU exited with {:?}, not 0", run.code)));
            }
            let boot = boot_line(&run.output).map_err(&fail)?;
            if boot.next_message != 0 || boot.sequence_bound.is_some() {
                return Err(fail(format!(
                    "a fresh NVM file, yet the boot line says next_message={} sequence_bound={:?}",
                    boot.next_message, boot.sequence_bound
                )));
            }
            let summary = format!("sent={COUNT} acked={COUNT} commands=1 ");
            if !summary_line(&run.output).is_some_and(|line| line.contains(&summary)) {
                return Err(fail(format!("the summary line does not say `{summary}`")));
            }
            let command = format!("ferrule-fw: command {}", command_text(board.device));
            if !run.output.lines().any(|line| line == command) {
                return Err(fail(format!("no `{command}` line")));
            }
            let seqs = sink_seqs(&self.sink(), board.device);
            let expected: Vec<u64> = (0..u64::from(COUNT)).collect();
            if seqs != expected {
                return Err(fail(format!(
                    "the sink holds messages {seqs:?} of {}, not {expected:?} once each",
                    board.device
                )));
            }
            let device_pivs = request_pivs(&run.frames).map_err(&fail)?;
            strictly_rising(&device_pivs).map_err(&fail)?;
            say(&format!(
                "{} on {}: exit 0, {}, command received, messages 0 to {} in the sink once each, \
                 {} OSCORE requests with rising Partial IVs ({:.1}s)",
                board.device,
                board.machine,
                summary_line(&run.output).map_or("", |l| l.trim_start_matches("ferrule-fw: ")),
                COUNT - 1,
                device_pivs.len(),
                started.elapsed().as_secs_f64()
            ));
            pivs.insert(board.device, device_pivs);
        }
        Ok(pivs)
    }

    /// Step 2: the M3 device, on from where step 1 left its NVM file, is killed in the middle of
    /// a long run and booted again.
    fn reset_in_the_middle(&self, before: &BTreeMap<&str, Vec<u64>>) -> Result<(), String> {
        let board = &BOARDS[0];
        let started = Instant::now();
        let nvm = format!("{}.nvm", board.device);
        let bundle = Cloud::bundle(board.device);

        // First boot: RESET_COUNT messages, killed once the sink has about half of them.
        let append = format!("bundle={bundle} nvm={nvm} count={RESET_COUNT} deadline_ms=120000");
        let (mut qemu, tap) = self.boot(board, &append, "reset-1")?;
        let first_message = u64::from(COUNT);
        let half = first_message + u64::from(RESET_COUNT / 2);
        loop {
            let seqs = sink_seqs(&self.sink(), board.device);
            if seqs.iter().any(|&s| s >= half) {
                break;
            }
            if let Some(code) = qemu.exited() {
                return Err(self.failure(
                    &format!("the run to be killed ended by itself first (exit {code:?})"),
                    &qemu.output(),
                ));
            }
            if started.elapsed() > RESET_TIMEOUT {
                return Err(self.failure(
                    &format!("the sink did not reach message {half} in time"),
                    &qemu.output(),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
        qemu.kill();
        // Let what was on its way to the cloud arrive.
        thread::sleep(Duration::from_millis(500));
        let first = Outcome {
            code: None,
            output: qemu.output(),
            frames: tap.frames(),
        };
        drop(tap);
        let fail1 =
            |what: String| self.failure(&format!("reset, first boot: {what}"), &first.output);
        let boot1 = boot_line(&first.output).map_err(&fail1)?;
        // Step 1's run ended cleanly: its last message number and a bound above its Partial
        // IVs are stored.
        let previous_max = before
            .get(board.device)
            .and_then(|pivs| pivs.iter().max().copied());
        let bound_above = match (boot1.sequence_bound, previous_max) {
            (Some(bound), Some(max)) => bound > max,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if boot1.next_message != first_message || !bound_above {
            return Err(fail1(format!(
                "after a clean run of {COUNT} messages (Partial IVs up to {previous_max:?}), the \
                 boot line says next_message={} sequence_bound={:?}",
                boot1.next_message, boot1.sequence_bound
            )));
        }
        let pivs1 = request_pivs(&first.frames).map_err(&fail1)?;
        strictly_rising(&pivs1).map_err(&fail1)?;
        let last_delivered = first
            .output
            .lines()
            .filter_map(|line| line.strip_prefix("ferrule-fw: delivered message="))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .max()
            .ok_or_else(|| fail1("no message delivered before the kill".to_owned()))?;
        say(&format!(
            "{}: killed after `delivered message={last_delivered}` ({} OSCORE requests, Partial \
             IVs {}..={})",
            board.device,
            pivs1.len(),
            pivs1.first().copied().unwrap_or(0),
            pivs1.last().copied().unwrap_or(0),
        ));

        // Second boot: the same NVM file, a count covering the rest.
        let end = first_message + u64::from(RESET_COUNT);
        let count = end - last_delivered;
        let append = format!("bundle={bundle} nvm={nvm} count={count} deadline_ms=120000");
        let (qemu, tap) = self.boot(board, &append, "reset-2")?;
        let second = self.finish(qemu, &tap, RESET_TIMEOUT)?;
        let fail2 =
            |what: String| self.failure(&format!("reset, second boot: {what}"), &second.output);
        if second.code != Some(0) {
            return Err(fail2(format!("QEMU exited with {:?}, not 0", second.code)));
        }
        let summary = format!("sent={count} acked={count} ");
        if !summary_line(&second.output).is_some_and(|line| line.contains(&summary)) {
            return Err(fail2(format!("the summary line does not say `{summary}`")));
        }
        let boot2 = boot_line(&second.output).map_err(&fail2)?;
        // The message number is stored right after `delivered` is printed: a kill in between
        // leaves the delivered message to be sent again.
        let resumed = boot2.next_message;
        if resumed != last_delivered + 1 && resumed != last_delivered {
            return Err(fail2(format!(
                "the first boot printed `delivered message={last_delivered}`, yet the second \
                 boot resumes at next_message={resumed}"
            )));
        }
        let max1 = pivs1.iter().max().copied().unwrap_or(0);
        let bound = match boot2.sequence_bound {
            Some(bound) if bound > max1 => bound,
            other => {
                return Err(fail2(format!(
                    "the first boot used Partial IVs up to {max1}, yet the second boot read the \
                     sequence-number bound {other:?}"
                )))
            }
        };
        let pivs2 = request_pivs(&second.frames).map_err(&fail2)?;
        strictly_rising(&pivs2).map_err(&fail2)?;
        match pivs2.first() {
            Some(&first_piv) if first_piv >= bound => {}
            other => {
                return Err(fail2(format!(
                    "the bound read at boot is {bound}, yet the first Partial IV after it is \
                     {other:?}: a nonce may repeat"
                )))
            }
        }

        // The sink: every message, the one in flight at the kill at most twice.
        let last = resumed + count;
        let seqs = sink_seqs(&self.sink(), board.device);
        let mut copies: BTreeMap<u64, usize> = BTreeMap::new();
        for seq in &seqs {
            *copies.entry(*seq).or_default() += 1;
        }
        let missing: Vec<u64> = (0..last).filter(|s| !copies.contains_key(s)).collect();
        let duplicated: Vec<(u64, usize)> = copies
            .iter()
            .filter(|(_, &n)| n > 1)
            .map(|(&s, &n)| (s, n))
            .collect();
        let unexpected: Vec<u64> = copies.keys().copied().filter(|&s| s >= last).collect();
        let duplicates_ok = duplicated.iter().all(|&(s, n)| s == resumed && n == 2);
        if !missing.is_empty() || !duplicates_ok || !unexpected.is_empty() {
            return Err(fail2(format!(
                "the sink for {} (messages 0..{last}): missing {missing:?}, more than once \
                 {duplicated:?} (only message {resumed}, in flight at the kill, may be there \
                 twice), beyond the end {unexpected:?}",
                board.device
            )));
        }
        say(&format!(
            "{}: second boot resumed at next_message={resumed} sequence_bound={bound}; exit 0, \
             {}; first Partial IV {} (first boot's highest {max1}); messages 0 to {} all in the \
             sink, {} ({:.1}s)",
            board.device,
            summary_line(&second.output).map_or("", |l| l.trim_start_matches("ferrule-fw: ")),
            pivs2.first().copied().unwrap_or(0),
            last - 1,
            if duplicated.is_empty() {
                "none twice".to_owned()
            } else {
                format!("message {resumed} twice (in flight at the kill)")
            },
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }
}

/// The command queued for `device`.
fn command_text(device: &str) -> String {
    format!("firmware-test-{device}")
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

/// `POST path` with a `text/plain` body to the admin API at `addr`; the status and the body.
fn http_post(addr: SocketAddr, path: &str, body: &str) -> Result<(u16, String), String> {
    let what = format!("POST http://{addr}{path}");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("{what}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| format!("{what}: {e}"))?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{what}: {e}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|e| format!("{what}: {e}"))?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{what}: not an HTTP answer: {answer}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

/// A TCP proxy for one UART connection, between QEMU and the relay: forwards the bytes both
/// ways as they come and keeps a copy of every frame (2-byte big-endian length, datagram) the
/// device sends.
struct Tap {
    port: u16,
    frames: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Tap {
    /// Listens on a loopback port for QEMU; connects to `upstream` when QEMU has connected.
    fn start(upstream: SocketAddr) -> Result<Self, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(|e| format!("starting a tap: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("starting a tap: {e}"))?
            .port();
        let frames = Arc::new(Mutex::new(Vec::new()));
        let captured = Arc::clone(&frames);
        // Ends when either side closes; a thread still waiting for a QEMU that never came ends
        // with the process.
        thread::spawn(move || {
            if let Err(e) = tap(&listener, upstream, &captured) {
                eprintln!("firmware-test: tap on port {port}: {e}");
            }
        });
        Ok(Self { port, frames })
    }

    /// The device's frames so far.
    fn frames(&self) -> Vec<Vec<u8>> {
        self.frames
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn tap(
    listener: &TcpListener,
    upstream: SocketAddr,
    captured: &Mutex<Vec<Vec<u8>>>,
) -> std::io::Result<()> {
    let (mut device, _) = listener.accept()?;
    let mut relay = TcpStream::connect(upstream)?;
    device.set_nodelay(true)?;
    relay.set_nodelay(true)?;
    let (mut from_relay, mut to_device) = (relay.try_clone()?, device.try_clone()?);
    thread::spawn(move || {
        let _ = std::io::copy(&mut from_relay, &mut to_device);
        let _ = to_device.shutdown(Shutdown::Both);
    });
    let result = (|| -> std::io::Result<()> {
        loop {
            let mut header = [0u8; 2];
            if device.read_exact(&mut header).is_err() {
                // QEMU closed the line (it exited or was killed).
                return Ok(());
            }
            let mut frame = vec![0u8; usize::from(u16::from_be_bytes(header))];
            if device.read_exact(&mut frame).is_err() {
                // Killed in the middle of a frame: the rest never comes.
                return Ok(());
            }
            let mut bytes = header.to_vec();
            bytes.extend_from_slice(&frame);
            captured
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(frame);
            relay.write_all(&bytes)?;
        }
    })();
    let _ = relay.shutdown(Shutdown::Both);
    result
}

/// What a CoAP request protected with OSCORE shows on the wire.
#[derive(Debug, PartialEq, Eq)]
struct ProtectedRequest {
    message_id: u16,
    /// The Partial IV, `None` if the OSCORE option has none.
    partial_iv: Option<u64>,
}

/// Reads an option's delta or length nibble with its extended bytes (RFC 7252 §3.1).
fn option_nibble(nibble: u8, datagram: &[u8], at: &mut usize) -> Option<usize> {
    match nibble {
        0..=12 => Some(usize::from(nibble)),
        13 => {
            let byte = *datagram.get(*at)?;
            *at += 1;
            Some(usize::from(byte) + 13)
        }
        14 => {
            let bytes = datagram.get(*at..*at + 2)?;
            *at += 2;
            Some(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])) + 269)
        }
        _ => None,
    }
}

/// The OSCORE option (number 9) of a CoAP request, if `datagram` is a request that has one:
/// its flags byte's low 3 bits are the length of the Partial IV that follows (RFC 8613 §6.1).
fn protected_request(datagram: &[u8]) -> Option<ProtectedRequest> {
    let first = *datagram.first()?;
    let code = *datagram.get(1)?;
    // Version 1; a request is class 0 and not 0.00 (an empty message).
    if first >> 6 != 1 || code == 0 || code >> 5 != 0 {
        return None;
    }
    let message_id = u16::from_be_bytes(datagram.get(2..4)?.try_into().ok()?);
    let mut at = 4 + usize::from(first & 0x0f);
    let mut number = 0usize;
    while let Some(&byte) = datagram.get(at) {
        if byte == 0xff {
            break;
        }
        at += 1;
        number += option_nibble(byte >> 4, datagram, &mut at)?;
        let len = option_nibble(byte & 0x0f, datagram, &mut at)?;
        let value = datagram.get(at..at + len)?;
        at += len;
        if number == 9 {
            let flags = value.first().copied().unwrap_or(0);
            let n = usize::from(flags & 0x07);
            let partial_iv = match value.get(1..1 + n) {
                Some(piv) if (1..=5).contains(&n) => {
                    Some(piv.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
                }
                _ => None,
            };
            return Some(ProtectedRequest {
                message_id,
                partial_iv,
            });
        }
        if number > 9 {
            break;
        }
    }
    None
}

/// The Partial IVs of the distinct OSCORE requests among `frames`, in the order they were first
/// sent. A retransmission (the same Message ID and the same bytes) counts once; the same Message
/// ID with other bytes is an error, and so is a request without a Partial IV.
fn request_pivs(frames: &[Vec<u8>]) -> Result<Vec<u64>, String> {
    let mut seen: BTreeMap<u16, &[u8]> = BTreeMap::new();
    let mut pivs = Vec::new();
    for frame in frames {
        let Some(request) = protected_request(frame) else {
            continue;
        };
        if let Some(earlier) = seen.get(&request.message_id) {
            if *earlier == frame.as_slice() {
                continue;
            }
            return Err(format!(
                "two different OSCORE requests with Message ID {}",
                request.message_id
            ));
        }
        let piv = request.partial_iv.ok_or_else(|| {
            format!(
                "an OSCORE request without a Partial IV (Message ID {})",
                request.message_id
            )
        })?;
        seen.insert(request.message_id, frame);
        pivs.push(piv);
    }
    if pivs.is_empty() {
        return Err("no OSCORE request seen on the wire".to_owned());
    }
    Ok(pivs)
}

/// Checks that every Partial IV is greater than the one before: none repeats.
fn strictly_rising(pivs: &[u64]) -> Result<(), String> {
    match pivs.windows(2).find(|pair| pair[1] <= pair[0]) {
        None => Ok(()),
        Some(pair) => Err(format!(
            "Partial IV {} follows {}: the sequence numbers do not rise (all: {pivs:?})",
            pair[1], pair[0]
        )),
    }
}

/// The `seq` of every complete telemetry record of `device` in the JSON lines of a sink.
fn sink_seqs(text: &str, device: &str) -> Vec<u64> {
    let field = format!("\"device\":\"{device}\"");
    text.lines()
        .filter(|line| line.trim_end().ends_with('}') && line.contains(&field))
        .filter_map(|line| {
            let (_, rest) = line.split_once("\"seq\":")?;
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

/// What the firmware's `boot` line says about its NVM.
#[derive(Debug, PartialEq, Eq)]
struct BootLine {
    next_message: u64,
    sequence_bound: Option<u64>,
}

/// Reads `ferrule-fw: boot ... next_message=N sequence_bound=N|none`.
fn boot_line(output: &str) -> Result<BootLine, String> {
    let line = output
        .lines()
        .find(|line| line.starts_with("ferrule-fw: boot "))
        .ok_or("no `ferrule-fw: boot` line")?;
    let value = |key: &str| {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(key))
            .ok_or_else(|| format!("no {key} in `{line}`"))
    };
    let next_message = value("next_message=")?
        .parse()
        .map_err(|_| format!("bad next_message in `{line}`"))?;
    let sequence_bound = match value("sequence_bound=")? {
        "none" => None,
        n => Some(
            n.parse()
                .map_err(|_| format!("bad sequence_bound in `{line}`"))?,
        ),
    };
    Ok(BootLine {
        next_message,
        sequence_bound,
    })
}

/// The firmware's summary line, `ferrule-fw: sent=N acked=M commands=K peak_stack=BYTES`.
fn summary_line(output: &str) -> Option<&str> {
    output
        .lines()
        .rev()
        .find(|line| line.starts_with("ferrule-fw: sent="))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A confirmable POST with a 2-byte token, Uri-Path "t" and an OSCORE option with `oscore`.
    fn request(message_id: u16, oscore: &[u8]) -> Vec<u8> {
        let mut d = vec![0x42, 0x02];
        d.extend(message_id.to_be_bytes());
        d.extend([0xaa, 0xbb]);
        // Option 9 (delta 9), then Uri-Path would be 11: the OSCORE option hides it; add
        // Content-Format-like option 12 (delta 3, empty) to exercise the walk past 9.
        d.push(0x90 | u8::try_from(oscore.len()).unwrap());
        d.extend(oscore);
        d.push(0x30);
        d.extend([0xff, 1, 2, 3]);
        d
    }

    #[test]
    fn reads_the_partial_iv_of_a_protected_request() {
        // flags 0x09: kid present, PIV of 1 byte; then kid 0x00.
        assert_eq!(
            protected_request(&request(7, &[0x09, 0x05, 0x00])),
            Some(ProtectedRequest {
                message_id: 7,
                partial_iv: Some(5)
            })
        );
        assert_eq!(
            protected_request(&request(8, &[0x02, 0x01, 0x2c])),
            Some(ProtectedRequest {
                message_id: 8,
                partial_iv: Some(300)
            })
        );
        assert_eq!(
            protected_request(&request(9, &[])),
            Some(ProtectedRequest {
                message_id: 9,
                partial_iv: None
            })
        );
        // An EDHOC message_1 (no OSCORE option): Uri-Path ".well-known" (option 11).
        let plain = [0x40, 0x02, 0, 1, 0xb1, b'x', 0xff, 3];
        assert_eq!(protected_request(&plain), None);
        // A response (2.04) is no request.
        let mut response = request(10, &[0x01, 0x05]);
        response[1] = 0x44;
        assert_eq!(protected_request(&response), None);
    }

    #[test]
    fn retransmissions_count_once_and_pivs_must_rise() {
        let a = request(1, &[0x01, 0x00]);
        let b = request(2, &[0x01, 0x01]);
        let frames = vec![a.clone(), a, b];
        assert_eq!(request_pivs(&frames).unwrap(), vec![0, 1]);
        let reused = vec![request(1, &[0x01, 0x00]), request(1, &[0x01, 0x01])];
        assert!(request_pivs(&reused).is_err());
        assert!(strictly_rising(&[0, 1, 5]).is_ok());
        assert!(strictly_rising(&[0, 1, 1]).is_err());
        assert!(strictly_rising(&[3, 2]).is_err());
    }

    #[test]
    fn reads_the_sink_and_the_firmware_lines() {
        let sink = "{\"content_format\":60,\"device\":\"dev-m3\",\"kid\":\"00\",\"payload\":{\"seq\":0,\"temp_mc\":21000},\"received_at\":\"x\"}\n\
                    {\"content_format\":60,\"device\":\"dev-m4\",\"kid\":\"01\",\"payload\":{\"seq\":7,\"temp_mc\":21000},\"received_at\":\"x\"}\n\
                    {\"content_format\":60,\"device\":\"dev-m3\",\"kid\":\"00\",\"payload\":{\"seq\":12";
        assert_eq!(sink_seqs(sink, "dev-m3"), vec![0]);
        assert_eq!(sink_seqs(sink, "dev-m4"), vec![7]);
        let output = "ferrule-fw: boot device=dev-m3 suite=2 board=mps2 next_message=408 sequence_bound=416\n\
                      ferrule-fw: delivered message=408\n\
                      ferrule-fw: sent=1 acked=1 commands=0 peak_stack=5336\n";
        assert_eq!(
            boot_line(output).unwrap(),
            BootLine {
                next_message: 408,
                sequence_bound: Some(416)
            }
        );
        assert_eq!(
            summary_line(output),
            Some("ferrule-fw: sent=1 acked=1 commands=0 peak_stack=5336")
        );
        let fresh =
            "ferrule-fw: boot device=d suite=0 board=mps2 next_message=0 sequence_bound=none";
        assert_eq!(boot_line(fresh).unwrap().sequence_bound, None);
    }
}
