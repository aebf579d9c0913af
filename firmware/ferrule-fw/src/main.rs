//! `ferrule-fw`: a Ferrule device on an emulated Cortex-M.
//!
//! At boot it reads its device bundle and its NVM file from the host (semihosting), then runs a
//! `ferrule-device` [`Session`] over UART0 (each datagram framed as a 2-byte big-endian length
//! and the bytes): EDHOC with the cloud, then `count` telemetry messages under OSCORE, then
//! `GET /c` for a pending command. It prints what happens, and at the end
//! `ferrule-fw: sent=N acked=M commands=K peak_stack=BYTES`, and exits through semihosting with
//! [`EXIT_OK`] if every message was acknowledged (see `firmware/README.md` for the other codes).
//!
//! This loop is the firmware counterpart of `ferrule device run` (crates/ferrule-cli/src/agent.rs).
#![no_std]
#![no_main]

use cortex_m::singleton;
use cortex_m_rt::entry;
use ferrule_device::session::{
    DisconnectReason, Event, Instant, MessageHandle, RejectReason, Session,
};
use ferrule_device::{Bundle, SessionConfig};
use ferrule_fw::args::Args;
use ferrule_fw::bsp::{self, semihosting, Board};
use ferrule_fw::crypto::{self, DeviceKey, Provider};
use ferrule_fw::link::{self, Deframer};
use ferrule_fw::nvm::Nvm;
use ferrule_fw::out::{say, Line};
use ferrule_fw::rng::DeviceRng;
use ferrule_fw::{
    finish, read_host_file, setup_failed, telemetry, CONTENT_FORMAT_CBOR, EXIT_INCOMPLETE, EXIT_OK,
    EXIT_REJECTED,
};
use ferrule_proto::coap::Code;

/// Largest datagram, in and out (the session's `BUF`): a handshake by kid needs 67 bytes, a
/// response carrying a 64-byte command about 90. Telemetry payloads may be up to 80 bytes
/// (`BUF` less the 48 bytes of the worst-case OSCORE request overhead).
const BUF: usize = 128;
/// Largest bundle (`ferrule device add` writes 165 bytes for suite 0, 235 for suite 2).
const BUNDLE_MAX: usize = 320;
/// Largest command kept (the session's `CMD`).
const CMD: usize = 64;
/// Pause between two `GET /c` while waiting for commands.
const COMMAND_POLL_MS: u64 = 500;

/// The session of this build, in static memory (it lives as long as the firmware runs).
type AppSession = Session<'static, Provider, Nvm, BUF, CMD>;

#[entry]
fn main() -> ! {
    let mut board = Board::init();
    let (session, plan) = setup();
    run(&mut board, session, plan)
}

/// What the run is to do, from the command line.
#[derive(Clone, Copy)]
struct Plan {
    count: u32,
    commands: u32,
    deadline_ms: u64,
}

/// Reads the command line, the bundle and the NVM file, and builds the session. The long-lived
/// state (the bundle's bytes, the key, the configuration and the session, which borrow each
/// other) goes to static memory; the rest of this frame is gone once the run starts, so its
/// buffers do not add to the stack the handshake needs.
#[inline(never)]
fn setup() -> (&'static mut AppSession, Plan) {
    let mut cmdline = [0u8; 192];
    let len = semihosting::command_line(&mut cmdline).unwrap_or(0);
    let args = match Args::parse(&cmdline[..len]) {
        Ok(args) => args,
        Err(word) => setup_failed(
            "unknown argument (expected bundle=, nvm=, count=, commands=, deadline_ms=):",
            word,
        ),
    };
    let plan = Plan {
        count: args.count,
        commands: args.commands,
        deadline_ms: args.deadline_ms,
    };

    let Some(bundle_bytes) = singleton!(: [u8; BUNDLE_MAX] = [0; BUNDLE_MAX]) else {
        setup_failed("setup ran twice", b"")
    };
    let Some(len) = read_host_file(args.bundle, bundle_bytes) else {
        setup_failed(
            "cannot read the device bundle (or it is too large):",
            args.bundle,
        )
    };
    let bundle_bytes: &'static [u8] = &bundle_bytes[..len];
    let bundle = match Bundle::parse(bundle_bytes) {
        Ok(bundle) => bundle,
        Err(_) => setup_failed("not a valid device bundle:", args.bundle),
    };
    let key = match crypto::device_key(&bundle) {
        Ok(key) => key,
        Err(why) => setup_failed(why, args.bundle),
    };
    let Some(key) = singleton!(: DeviceKey = key) else {
        setup_failed("setup ran twice", b"")
    };
    let config = match SessionConfig::from_bundle(&bundle, &*key) {
        Ok(config) => config,
        Err(_) => setup_failed("the bundle's credential has no kid:", args.bundle),
    };
    let Some(config) = singleton!(: SessionConfig<'static> = config) else {
        setup_failed("setup ran twice", b"")
    };
    let nvm = match Nvm::open(args.nvm) {
        Ok(nvm) => nvm,
        Err(_) => setup_failed("cannot open or create the NVM file", args.nvm),
    };
    let Some(rng) = DeviceRng::from_host() else {
        setup_failed("cannot seed the RNG from the host's", b"/dev/urandom")
    };
    boot_line(&bundle, &nvm);
    let session = match Session::new(config, crypto::provider(rng), nvm) {
        Ok(session) => session,
        Err(_) => setup_failed(
            "the bundle's key does not suit its method and suite:",
            args.bundle,
        ),
    };
    let Some(session) = singleton!(: AppSession = session) else {
        setup_failed("setup ran twice", b"")
    };
    (session, plan)
}

/// `ferrule-fw: boot device=NAME suite=N board=B next_message=N sequence_bound=N|none`.
#[inline(never)]
fn boot_line(bundle: &Bundle<'_>, nvm: &Nvm) {
    let state = nvm.state();
    let mut line = Line::new("ferrule-fw: boot device=");
    line.str(bundle.name())
        .str(" suite=")
        .num(bundle.suite().id() as u64)
        .str(" board=")
        .str(bsp::BOARD)
        .str(" next_message=")
        .num(state.next_message.into())
        .str(" sequence_bound=");
    match state.sequence_bound {
        Some(bound) => line.num(bound),
        None => line.str("none"),
    };
    line.print();
}

/// What the run has done so far.
#[derive(Default)]
struct Tally {
    sent: u32,
    acked: u32,
    commands: u32,
    fetches: u32,
    /// The number of the next telemetry message (persisted in the NVM).
    next_message: u32,
    /// The telemetry message in flight.
    telemetry: Option<MessageHandle>,
    /// When to send the next `GET /c` while waiting for commands.
    next_fetch: u64,
}

fn run(board: &mut Board, session: &mut AppSession, plan: Plan) -> ! {
    let start = board.now_ms();
    let deadline = start.saturating_add(plan.deadline_ms);
    let mut tally = Tally {
        next_message: session.storage().state().next_message,
        next_fetch: start,
        ..Tally::default()
    };
    let mut deframer = Deframer::new();
    let mut datagram = [0u8; BUF];
    loop {
        let ms = board.now_ms();
        let now = Instant::from_millis(ms);
        drain_events(session, &mut tally, ms);
        if ms >= deadline {
            say("deadline reached");
            finish(EXIT_INCOMPLETE, tally.sent, tally.acked, tally.commands);
        }
        if session.pending().is_none() {
            queue(session, &mut tally, &plan, now);
        }
        transmit(board, session, now, &mut datagram);
        if let Some(len) = deframer.poll(board, &mut datagram) {
            receive(session, now, &mut datagram[..len]);
            continue;
        }
        if session.poll_timeout().is_some_and(|t| t <= now) {
            timeout(session, now);
            continue;
        }
        board.wait();
    }
}

/// Queues the next message, if there is one to send, or ends the run when everything is done.
#[inline(never)]
fn queue(session: &mut AppSession, tally: &mut Tally, plan: &Plan, now: Instant) {
    let ms = now.as_millis();
    if tally.sent < plan.count {
        let mut payload = [0u8; 32];
        let n = telemetry(tally.next_message, &mut payload);
        if let Ok(handle) = session.send(now, &payload[..n], Some(CONTENT_FORMAT_CBOR)) {
            tally.sent += 1;
            tally.telemetry = Some(handle);
        }
    } else if tally.fetches == 0 || (tally.commands < plan.commands && ms >= tally.next_fetch) {
        if session.fetch_command(now).is_ok() {
            tally.fetches += 1;
        }
    } else if tally.commands >= plan.commands {
        let code = if tally.acked == plan.count {
            EXIT_OK
        } else {
            EXIT_INCOMPLETE
        };
        finish(code, tally.sent, tally.acked, tally.commands);
    }
}

/// Reports the session's events. Not inlined, so that the events and the line buffers are not
/// part of the main loop's frame during a handshake.
#[inline(never)]
fn drain_events(session: &mut AppSession, tally: &mut Tally, ms: u64) {
    while let Some(event) = session.poll_event() {
        on_event(event, session, tally, ms);
    }
}

/// Advances the session's timers (retransmission, giving up). Not inlined, as [`transmit`].
#[inline(never)]
fn timeout(session: &mut AppSession, now: Instant) {
    session.handle_timeout(now);
}

/// Processes a received datagram (a handshake step, an OSCORE response). Not inlined, as
/// [`timeout`]: its frame (several KB during a handshake) must not stay under [`transmit`]'s and
/// the other calls of the main loop.
#[inline(never)]
fn receive(session: &mut AppSession, now: Instant, datagram: &mut [u8]) {
    session.handle_datagram(now, datagram);
}

/// Sends what the session has to send. Not inlined: starting a handshake (message_1, an
/// ephemeral key) takes stack that the main loop's frame need not keep.
#[inline(never)]
fn transmit(board: &mut Board, session: &mut AppSession, now: Instant, datagram: &mut [u8; BUF]) {
    while let Some(len) = session.poll_transmit(now, datagram) {
        link::send(board, &datagram[..len]);
    }
}

/// Reports an event of the session and keeps the tally. Not inlined, so that its line buffers
/// are not part of the main loop's frame during a handshake.
#[inline(never)]
fn on_event(event: Event<CMD>, session: &mut AppSession, tally: &mut Tally, ms: u64) {
    match event {
        Event::Connected { c_r } => {
            Line::new("ferrule-fw: connected c_r=")
                .hex(c_r.as_bytes())
                .print();
        }
        Event::Delivered(handle) if tally.telemetry == Some(handle) => {
            tally.telemetry = None;
            tally.acked += 1;
            Line::new("ferrule-fw: delivered message=")
                .num(tally.next_message.into())
                .print();
            tally.next_message += 1;
            if !session.storage_mut().set_next_message(tally.next_message) {
                say("warning: NVM write failed");
            }
        }
        Event::Delivered(_) => tally.next_fetch = ms + COMMAND_POLL_MS,
        Event::Command { payload, .. } => {
            tally.commands += 1;
            Line::new("ferrule-fw: command ")
                .text_or_hex(&payload)
                .print();
        }
        Event::Refused { handle, code } => {
            if tally.telemetry == Some(handle) {
                tally.telemetry = None;
            }
            Line::new("ferrule-fw: message refused with ")
                .bytes(&code_text(code))
                .print();
        }
        Event::Rejected { reason } => {
            let mut line = Line::new("ferrule-fw: rejected by the cloud: ");
            match reason {
                RejectReason::EdhocError { err_code, .. } => line
                    .str("EDHOC error message, ERR_CODE ")
                    .num(err_code as u64),
                RejectReason::Refused(code) => line.str("refused with ").bytes(&code_text(code)),
                _ => line.str("its handshake message failed verification"),
            };
            line.print();
            finish(EXIT_REJECTED, tally.sent, tally.acked, tally.commands);
        }
        Event::Disconnected { reason } => {
            let mut line = Line::new("ferrule-fw: disconnected: ");
            match reason {
                DisconnectReason::Timeout => line.str("no answer"),
                DisconnectReason::Reset => line.str("reset"),
                DisconnectReason::ContextLost(code) => {
                    line.str("context lost, ").bytes(&code_text(code))
                }
                DisconnectReason::Error(code) => line.str("error ").bytes(&code_text(code)),
                _ => line.str("local failure"),
            };
            line.print();
        }
        _ => {}
    }
}

/// A CoAP code as `c.dd`.
fn code_text(code: Code) -> [u8; 4] {
    let d = code.detail();
    [b'0' + code.class(), b'.', b'0' + d / 10, b'0' + d % 10]
}
