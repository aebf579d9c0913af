//! Ferrule firmware for an emulated Cortex-M: what the `ferrule-fw` and `oscore-only` binaries
//! share.
//!
//! - [`bsp`]: the board (UART under interrupt, millisecond clock, semihosting, stack gauge); the
//!   only module with `unsafe` code.
//! - [`link`]: datagrams framed over the UART (2-byte big-endian length, then the bytes).
//! - [`nvm`]: the sequence-number bound and message counter in a host file, through semihosting.
//! - [`rng`]: a ChaCha20 generator seeded from the host's `/dev/urandom`.
//! - [`crypto`]: the crypto provider and device key of each build (all suites, or one curve).
//! - [`args`]: the run's settings from the semihosting command line.
//! - [`out`]: console lines without `core::fmt`.
//!
//! See `firmware/README.md` for building, running and the footprint profiles.
#![no_std]

pub mod args;
pub mod bsp;
pub mod crypto;
pub mod link;
pub mod nvm;
pub mod out;
pub mod rng;

/// Content-Format of the telemetry: `application/cbor`.
pub const CONTENT_FORMAT_CBOR: u16 = 60;

/// The telemetry of message `seq`: the CBOR map `{"seq": seq, "temp_mc": millidegrees}`, as
/// `ferrule device run` sends it. Returns its length.
pub fn telemetry(seq: u32, out: &mut [u8; 32]) -> usize {
    let mut e = ferrule_proto::cbor::Encoder::new(out);
    let temp = 21_000 + (seq % 900 * 37 % 900) as i64;
    // 32 bytes always hold this map.
    let _ = e
        .map(2)
        .and_then(|e| e.text("seq"))
        .and_then(|e| e.u64(seq.into()));
    let _ = e.text("temp_mc").and_then(|e| e.i64(temp));
    e.finish()
}

/// Exit code: every message delivered (and every command awaited received).
pub const EXIT_OK: u32 = 0;
/// Exit code: the deadline passed before that.
pub const EXIT_INCOMPLETE: u32 = 1;
/// Exit code: the run could not start (command line, bundle, NVM file, entropy).
pub const EXIT_SETUP: u32 = 2;
/// Exit code: the cloud refused the device (unknown, revoked, or failed authentication).
pub const EXIT_REJECTED: u32 = 3;

/// Minimal panic handler (the profile has `panic = "abort"`): says so and exits with
/// [`bsp::EXIT_PANIC`], so that a test sees a failure rather than a hang. It formats nothing,
/// which keeps `core::fmt` out of the binary.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    bsp::console_write(b"ferrule-fw: panic\n");
    bsp::semihosting::exit(bsp::EXIT_PANIC)
}

/// Reads the whole host file `path` into `buf`; its length, or `None` if it cannot be read or
/// does not fit.
pub fn read_host_file(path: &[u8], buf: &mut [u8]) -> Option<usize> {
    let mut file = bsp::semihosting::File::open(path, bsp::semihosting::Mode::Read)?;
    let n = file.read_full(buf)?;
    // A file that fills the buffer may be longer than it.
    (n < buf.len()).then_some(n)
}

/// Prints `ferrule-fw: MESSAGE PATH` and exits with [`EXIT_SETUP`].
#[inline(never)]
#[cold]
pub fn setup_failed(message: &str, detail: &[u8]) -> ! {
    out::Line::new("ferrule-fw: ")
        .str(message)
        .str(" ")
        .bytes(detail)
        .print();
    bsp::semihosting::exit(EXIT_SETUP)
}

/// Prints the summary line `ferrule-fw: sent=N acked=M commands=K peak_stack=BYTES` and exits
/// with `code`.
#[inline(never)]
#[cold]
pub fn finish(code: u32, sent: u32, acked: u32, commands: u32) -> ! {
    out::Line::new("ferrule-fw: sent=")
        .num(sent.into())
        .str(" acked=")
        .num(acked.into())
        .str(" commands=")
        .num(commands.into())
        .str(" peak_stack=")
        .num(bsp::peak_stack() as u64)
        .print();
    bsp::semihosting::exit(code)
}
