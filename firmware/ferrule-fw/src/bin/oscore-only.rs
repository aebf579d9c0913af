//! `oscore-only`: the footprint profile of a device with a pre-shared OSCORE context and no
//! EDHOC: an OSCORE client (RFC 8613) and a CoAP client with retransmission (RFC 7252) over the
//! same UART link and NVM as `ferrule-fw`.
//!
//! It reads the context from a host file (`context=PATH`, default `oscore.bin`):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | length S of the Sender ID (0-7) |
//! | 1 | length R of the Recipient ID (0-7) |
//! | 16 | Master Secret |
//! | 8 | Master Salt |
//! | S | Sender ID |
//! | R | Recipient ID |
//!
//! (AES-CCM-16-64-128, no ID Context.) The Sender Sequence Number resumes from the NVM bound,
//! so a reset never reuses a nonce. It sends `count` telemetry messages (`POST /t`, CBOR), each
//! after the previous one was answered with a verified `2.04`, prints a command a response
//! carries, and ends with the same summary line and exit codes as `ferrule-fw`.
//!
//! No cloud speaks a pre-shared context: its peer is the scripted one of `host-peer`
//! (`firmware/host-peer`, mode `oscore`).
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use ferrule_fw::args::Args;
use ferrule_fw::bsp::{semihosting, Board};
use ferrule_fw::crypto::{LeanCrypto, NoCurve};
use ferrule_fw::link::{self, Deframer};
use ferrule_fw::nvm::Nvm;
use ferrule_fw::out::{say, Line};
use ferrule_fw::rng::DeviceRng;
use ferrule_fw::{
    finish, read_host_file, setup_failed, telemetry, CONTENT_FORMAT_CBOR, EXIT_INCOMPLETE, EXIT_OK,
};
use ferrule_proto::coap::{
    Code, Instant, Message, MessageIdSequence, MessageType, MessageWriter, OptionNumber,
    Retransmission, TimeoutAction, Token, TransmissionParameters,
};
use ferrule_proto::crypto::Crypto;
use ferrule_proto::oscore::{ContextParams, RequestId, SecurityContext};

/// Largest datagram, in and out.
const BUF: usize = 128;
/// K of RFC 8613 Appendix B.1.1: one NVM write per this many requests.
const PERSIST_STEP: u32 = 32;

type Provider = LeanCrypto<NoCurve>;

/// Everything the run keeps.
struct Device {
    board: Board,
    crypto: Provider,
    ctx: SecurityContext,
    nvm: Nvm,
    mids: MessageIdSequence,
    deframer: Deframer,
}

#[entry]
fn main() -> ! {
    let board = Board::init();
    let (mut device, count, deadline_ms) = setup(board);
    let start = device.board.now_ms();
    let deadline = start.saturating_add(deadline_ms);
    let mut next_message = device.nvm.state().next_message;
    let (mut sent, mut acked, mut commands) = (0, 0, 0);
    while sent < count {
        sent += 1;
        match exchange(&mut device, next_message, deadline) {
            Answer::Refused => {}
            Answer::Delivered { command } => {
                acked += 1;
                Line::new("ferrule-fw: delivered message=")
                    .num(next_message.into())
                    .print();
                next_message += 1;
                if !device.nvm.set_next_message(next_message) {
                    say("warning: NVM write failed");
                }
                commands += u32::from(command);
            }
            Answer::None => finish(EXIT_INCOMPLETE, sent, acked, commands),
        }
    }
    let code = if acked == count {
        EXIT_OK
    } else {
        EXIT_INCOMPLETE
    };
    finish(code, sent, acked, commands)
}

/// Reads the command line, the context and the NVM file.
#[inline(never)]
fn setup(board: Board) -> (Device, u32, u64) {
    let mut cmdline = [0u8; 192];
    let len = semihosting::command_line(&mut cmdline).unwrap_or(0);
    let args = match Args::parse(&cmdline[..len]) {
        Ok(args) => args,
        Err(word) => setup_failed("unknown argument:", word),
    };
    let mut file = [0u8; 40];
    let Some(len) = read_host_file(args.context, &mut file) else {
        setup_failed("cannot read the OSCORE context", args.context)
    };
    let (s, r) = (usize::from(file[0]), usize::from(file[1]));
    if s > 7 || r > 7 || len != 26 + s + r {
        setup_failed("not an OSCORE context file:", args.context);
    }
    let mut params = ContextParams::new(&file[2..18], &file[26..26 + s], &file[26 + s..len]);
    params.master_salt = Some(&file[18..26]);
    let Some(rng) = DeviceRng::from_host() else {
        setup_failed("cannot seed the RNG from the host's", b"/dev/urandom")
    };
    let mut crypto = Provider::new(rng);
    let Ok(mut ctx) = SecurityContext::derive(&mut crypto, &params) else {
        setup_failed("cannot derive the OSCORE context from", args.context)
    };
    let Ok(mut nvm) = Nvm::open(args.nvm) else {
        setup_failed("cannot open or create the NVM file", args.nvm)
    };
    if ctx.resume(&mut nvm, PERSIST_STEP).is_err() {
        setup_failed("the NVM file holds no valid sequence number:", args.nvm);
    }
    let Ok(mids) = MessageIdSequence::random(&mut crypto) else {
        setup_failed("the RNG failed", b"")
    };
    let state = nvm.state();
    let mut line = Line::new("ferrule-fw: boot oscore-only next_message=");
    line.num(state.next_message.into()).str(" sequence_bound=");
    match state.sequence_bound {
        Some(bound) => line.num(bound),
        None => line.str("none"),
    };
    line.print();
    let device = Device {
        board,
        crypto,
        ctx,
        nvm,
        mids,
        deframer: Deframer::new(),
    };
    (device, args.count, args.deadline_ms)
}

/// How an exchange ended.
enum Answer {
    /// A verified success response, which may have carried a command.
    Delivered { command: bool },
    /// A verified error response.
    Refused,
    /// No answer (or the request could not be made).
    None,
}

/// Sends message `seq` and waits for its verified response, retransmitting as RFC 7252 says.
#[inline(never)]
fn exchange(device: &mut Device, seq: u32, deadline: u64) -> Answer {
    let mut tx = [0u8; BUF];
    let Some((len, id, message_id, token)) = protect(device, seq, &mut tx) else {
        say("cannot protect the request");
        return Answer::None;
    };
    let mut random = [0u8; 4];
    if device.crypto.fill_random(&mut random).is_err() {
        return Answer::None;
    }
    let now = Instant::from_millis(device.board.now_ms());
    let mut retransmission = Retransmission::new(
        &TransmissionParameters::RFC7252,
        message_id,
        now,
        u32::from_le_bytes(random),
    );
    link::send(&mut device.board, &tx[..len]);
    let mut rx = [0u8; BUF];
    loop {
        let ms = device.board.now_ms();
        if ms >= deadline {
            say("deadline reached");
            return Answer::None;
        }
        if let Some(n) = device.deframer.poll(&mut device.board, &mut rx) {
            if let Some(answer) = on_datagram(device, &id, &token, &mut rx[..n]) {
                return answer;
            }
            continue;
        }
        match retransmission.on_timeout(Instant::from_millis(ms)) {
            TimeoutAction::Retransmit => link::send(&mut device.board, &tx[..len]),
            TimeoutAction::GiveUp => {
                say("no answer");
                return Answer::None;
            }
            TimeoutAction::Wait => device.board.wait(),
        }
    }
}

/// Writes the protected `POST /t` of message `seq` into `tx`.
#[inline(never)]
fn protect(
    device: &mut Device,
    seq: u32,
    tx: &mut [u8; BUF],
) -> Option<(usize, RequestId, ferrule_proto::coap::MessageId, Token)> {
    device.ctx.reserve(&mut device.nvm).ok()?;
    let message_id = device.mids.next_id();
    let token = Token::random(&mut device.crypto, 4).ok()?;
    let mut payload = [0u8; 32];
    let n = telemetry(seq, &mut payload);
    let mut inner = [0u8; BUF];
    let mut w = MessageWriter::new(
        &mut inner,
        MessageType::Confirmable,
        Code::POST,
        message_id,
        token.as_slice(),
    )
    .ok()?;
    w.option(OptionNumber::UriPath, b"t").ok()?;
    w.uint_option(OptionNumber::ContentFormat, CONTENT_FORMAT_CBOR.into())
        .ok()?;
    let inner_len = w.payload(&payload[..n]).ok()?;
    let request = Message::parse(&inner[..inner_len]).ok()?;
    let (len, id) = device
        .ctx
        .protect_request(&mut device.crypto, &request, tx)
        .ok()?;
    Some((len, id, message_id, token))
}

/// Handles a datagram: `Some` if it is the verified answer to the request, `None` to keep
/// waiting (anything else is ignored, RFC 8613 Section 8.4).
#[inline(never)]
fn on_datagram(
    device: &mut Device,
    id: &RequestId,
    token: &Token,
    datagram: &mut [u8],
) -> Option<Answer> {
    let message = Message::parse(datagram).ok()?;
    if !message.code().is_response() || message.token() != token.as_slice() {
        return None;
    }
    let response = device
        .ctx
        .verify_response(&mut device.crypto, id, datagram)
        .ok()?;
    if !response.code().is_success() {
        let code = response.code();
        let d = code.detail();
        Line::new("ferrule-fw: message refused with ")
            .bytes(&[b'0' + code.class(), b'.', b'0' + d / 10, b'0' + d % 10])
            .print();
        return Some(Answer::Refused);
    }
    let payload = response.payload();
    if !payload.is_empty() {
        Line::new("ferrule-fw: command ")
            .text_or_hex(payload)
            .print();
    }
    Some(Answer::Delivered {
        command: !payload.is_empty(),
    })
}
