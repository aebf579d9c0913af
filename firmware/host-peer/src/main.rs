//! `fw-host-peer`: the scripted OSCORE peer of the `oscore-only` firmware, at the host end of
//! its UART0, which QEMU connects to over TCP
//! (`-chardev socket,host=127.0.0.1,port=PORT,nodelay=on -serial chardev:ID`). The link carries
//! datagrams, each framed as a 2-byte big-endian length and the bytes.
//!
//! ```text
//! fw-host-peer oscore --listen ADDR --context FILE    # answers pre-shared OSCORE requests
//! ```
//!
//! It listens before QEMU starts (QEMU connects as a client at startup), serves one connection
//! and exits when QEMU closes it. It holds the server side of the context in FILE (the device's
//! view, see `ferrule-fw/src/bin/oscore-only.rs`) and answers every verified `POST /t` with a
//! protected `2.04`. Written for `cargo xtask footprint`, because no cloud speaks a pre-shared
//! context; the firmware that runs EDHOC talks to `ferrule serve` through the CLI's serial
//! bridge, `ferrule relay --serial-tcp`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;

use ferrule_crypto::RustCrypto;
use ferrule_proto::coap::{Code, Message, MessageType, MessageWriter};
use ferrule_proto::oscore::{ContextParams, SecurityContext};

const USAGE: &str = "usage: fw-host-peer oscore --listen ADDR --context FILE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let result = match (args.first().map(String::as_str), value("--listen")) {
        (Some("oscore"), Some(listen)) => match value("--context") {
            Some(context) => oscore(&listen, &context),
            None => Err(USAGE.to_owned()),
        },
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fw-host-peer: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Listens on `listen`, prints `listening ADDR` (so a caller that asked for port 0 learns the
/// port) and accepts QEMU's connection.
fn accept(listen: &str) -> Result<TcpStream, String> {
    let listener = TcpListener::bind(listen).map_err(|e| format!("listening on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening {addr}");
    let (stream, _) = listener.accept().map_err(|e| format!("accepting: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// Reads one frame; `None` when the connection closed.
fn read_frame(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut frame = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut frame).ok()?;
    Some(frame)
}

fn write_frame(stream: &mut TcpStream, datagram: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(datagram.len()).unwrap_or(u16::MAX);
    let mut frame = len.to_be_bytes().to_vec();
    frame.extend_from_slice(&datagram[..usize::from(len)]);
    stream.write_all(&frame)
}

/// Answers the firmware's OSCORE requests with the server side of the pre-shared context.
fn oscore(listen: &str, context: &str) -> Result<(), String> {
    let file = std::fs::read(context).map_err(|e| format!("reading {context}: {e}"))?;
    let (s, r) = match file.as_slice() {
        [s, r, ..] if *s <= 7 && *r <= 7 => (usize::from(*s), usize::from(*r)),
        _ => return Err(format!("{context} is not an OSCORE context file")),
    };
    if file.len() != 26 + s + r {
        return Err(format!("{context} is not an OSCORE context file"));
    }
    let (client_sender, client_recipient) = (&file[26..26 + s], &file[26 + s..]);
    // The server's Sender ID is the client's Recipient ID, and the other way round.
    let mut params = ContextParams::new(&file[2..18], client_recipient, client_sender);
    params.master_salt = Some(&file[18..26]);
    let mut crypto = RustCrypto::from_os_rng();
    let mut ctx = SecurityContext::derive(&mut crypto, &params)
        .map_err(|e| format!("deriving the context of {context}: {e}"))?;
    let mut stream = accept(listen)?;
    let mut last: Option<(u16, Vec<u8>)> = None;
    while let Some(mut frame) = read_frame(&mut stream) {
        let Ok(message) = Message::parse(&frame) else {
            continue;
        };
        let message_id = message.message_id();
        if let Some((id, response)) = &last {
            if *id == message_id.0 {
                // A retransmission: the answer again, not a second processing.
                let _ = write_frame(&mut stream, response);
                continue;
            }
        }
        let token = message.token().to_vec();
        let verified = match ctx.verify_request(&mut crypto, &mut frame) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("fw-host-peer: dropped a request: {e}");
                continue;
            }
        };
        let mut request_id = verified.request_id;
        let mut plain = [0u8; 64];
        let n = MessageWriter::new(
            &mut plain,
            MessageType::Acknowledgement,
            Code::CHANGED,
            message_id,
            &token,
        )
        .map_err(|e| e.to_string())?
        .finish();
        let response = Message::parse(&plain[..n]).map_err(|e| e.to_string())?;
        let mut out = [0u8; 128];
        let len = ctx
            .protect_response(&mut crypto, &mut request_id, &response, &mut out)
            .map_err(|e| e.to_string())?;
        let _ = write_frame(&mut stream, &out[..len]);
        last = Some((message_id.0, out[..len].to_vec()));
    }
    Ok(())
}
