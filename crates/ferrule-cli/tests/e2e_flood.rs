//! Bad input at volume, through the real binaries: while a flood of garbage datagrams (random
//! bytes, truncated and corrupted CoAP, forged OSCORE and EDHOC requests, a few oversized) hits `ferrule serve`
//! from several sockets, a `ferrule fleet` still delivers every message; the server counts the
//! malformed datagrams and stays up.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod e2e_support;

use core::net::SocketAddr;
use core::time::Duration;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use e2e_support::{fleet_names, Cloud, Rng};

const DEVICES: usize = 20;
const MESSAGES: u64 = 20;
const FLOOD_DATAGRAMS: u64 = 20_000;
const FLOOD_SOCKETS: usize = 4;
/// The flood is paced to last about this long.
const FLOOD_DURATION: Duration = Duration::from_secs(4);

/// A CoAP header: version 1, `msg_type`, token length `tkl`, `code`, a random Message ID.
fn coap_header(rng: &mut Rng, msg_type: u8, tkl: u8, code: u8) -> Vec<u8> {
    let mut out = vec![
        0x40 | (msg_type << 4) | (tkl & 0x0f),
        code,
        rng.byte(),
        rng.byte(),
    ];
    out.extend(rng.bytes(usize::from(tkl.min(8))));
    out
}

/// A well-formed Confirmable POST with an OSCORE option (flag byte with a Partial IV and kid) and
/// a random "ciphertext": it reaches the OSCORE layer and must fail there.
fn forged_oscore(rng: &mut Rng) -> Vec<u8> {
    let mut out = coap_header(rng, 0, 4, 0x02);
    let piv_len = 1 + rng.below(3);
    let kid_len = rng.below(3);
    let mut value = vec![piv_len as u8 | 0x08];
    value.extend(rng.bytes(piv_len + kid_len));
    // Option 9, delta 9 from 0, length < 13.
    out.push(0x90 | value.len() as u8);
    out.extend(value);
    out.push(0xff);
    let n = 9 + rng.below(60);
    out.extend(rng.bytes(n));
    out
}

/// A well-formed `POST /.well-known/edhoc` with a random body.
fn forged_edhoc(rng: &mut Rng) -> Vec<u8> {
    let mut out = coap_header(rng, 0, 2, 0x02);
    // Uri-Path (11) ".well-known", Uri-Path "edhoc", Content-Format (12) 65.
    out.push(0xbb);
    out.extend(b".well-known");
    out.push(0x05);
    out.extend(b"edhoc");
    out.extend([0x11, 65]);
    out.push(0xff);
    if rng.below(2) == 0 {
        out.push(0xf5); // CBOR true: "message_1 follows"
    }
    let n = 1 + rng.below(80);
    out.extend(rng.bytes(n));
    out
}

/// One datagram of the flood.
fn garbage(rng: &mut Rng) -> Vec<u8> {
    if rng.below(500) == 0 {
        // Longer than the server reads (1500 bytes): truncated by the socket.
        let n = 1400 + rng.below(8000);
        return rng.bytes(n);
    }
    let mut d = match rng.below(10) {
        // Random bytes, 0..200 long (including the empty datagram).
        0..=3 => {
            let n = rng.below(200);
            rng.bytes(n)
        }
        // A CoAP-looking header followed by junk: often a bad token length or option.
        4 | 5 => {
            let tkl = rng.below(16) as u8;
            let (msg_type, code) = (rng.below(4) as u8, rng.byte());
            let mut d = coap_header(rng, msg_type, tkl, code);
            let n = rng.below(150);
            d.extend(rng.bytes(n));
            d
        }
        6 | 7 => forged_oscore(rng),
        _ => forged_edhoc(rng),
    };
    // Truncate or corrupt a third of them.
    match rng.below(6) {
        0 if !d.is_empty() => d.truncate(rng.below(d.len())),
        1 if !d.is_empty() => {
            let i = rng.below(d.len());
            d[i] ^= 1 << rng.below(8);
        }
        _ => {}
    }
    d
}

/// Sends [`FLOOD_DATAGRAMS`] garbage datagrams to `server` from [`FLOOD_SOCKETS`] sockets, paced
/// over [`FLOOD_DURATION`]; `sent` counts them, `stop` ends it early.
fn flood(server: SocketAddr, sent: &AtomicU64, stop: &AtomicBool) {
    let sockets: Vec<UdpSocket> = (0..FLOOD_SOCKETS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut rng = Rng::new(0x5eed_f00d);
    let start = Instant::now();
    let per_ms = FLOOD_DATAGRAMS as f64 / FLOOD_DURATION.as_millis() as f64;
    for i in 0..FLOOD_DATAGRAMS {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // Keep to the schedule: datagram i goes at i / per_ms milliseconds.
        let due = Duration::from_micros((i as f64 / per_ms * 1000.0) as u64);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let datagram = garbage(&mut rng);
        // Errors (ICMP unreachable reported on a later send) do not stop the flood.
        let _ = sockets[i as usize % FLOOD_SOCKETS].send_to(&datagram, server);
        sent.fetch_add(1, Ordering::Relaxed);
    }
}

/// Stops the flood thread when dropped, even if the test fails.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn e2e_garbage_flood_costs_no_messages() {
    let cloud = Cloud::init();
    let mut server = cloud.serve();
    // Provision the fleet first, so the flood overlaps the devices' traffic rather than
    // provisioning.
    let addr = server.udp.to_string();
    let (devices, messages) = (DEVICES.to_string(), MESSAGES.to_string());
    let fleet_args = |messages: &str| {
        vec![
            "fleet".to_owned(),
            "--dir".to_owned(),
            cloud.dir_str().to_owned(),
            "--server".to_owned(),
            addr.clone(),
            "--devices".to_owned(),
            devices.clone(),
            "--messages".to_owned(),
            messages.to_owned(),
            "--interval".to_owned(),
            "100".to_owned(),
            "--timeout".to_owned(),
            "60".to_owned(),
            "--json".to_owned(),
        ]
    };
    let provision = fleet_args("0");
    cloud.ok(&provision.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(cloud.sink_records().is_empty());

    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(Arc::clone(&stop));
    let flooder = {
        let (sent, stop, target) = (Arc::clone(&sent), Arc::clone(&stop), server.udp);
        std::thread::spawn(move || flood(target, &sent, &stop))
    };
    e2e_support::wait_until("the flood starts", Duration::from_secs(10), || {
        sent.load(Ordering::Relaxed) >= 1000
    });

    let run = fleet_args(&messages);
    let mut fleet = cloud.spawn("fleet", &run.iter().map(String::as_str).collect::<Vec<_>>());
    let stdout = fleet.success(Duration::from_secs(75));
    let sent_when_done = sent.load(Ordering::Relaxed);
    flooder.join().expect("the flood thread panicked");
    eprintln!(
        "flood: {sent_when_done} of {FLOOD_DATAGRAMS} datagrams sent when the fleet finished"
    );

    let summary = e2e_support::fleet_summary(&stdout);
    eprintln!("fleet: {summary}");
    let expected = DEVICES as u64 * MESSAGES;
    assert_eq!(summary["messages_delivered"], expected, "{summary}");
    assert_eq!(summary["failures"], serde_json::json!({}), "{summary}");
    assert_eq!(summary["handshakes_ok"], DEVICES, "{summary}");

    // Exactly the fleet's messages in the sink, once each.
    let counts = e2e_support::sink_counts(&cloud.sink);
    for name in fleet_names(DEVICES) {
        for seq in 0..MESSAGES {
            assert_eq!(
                counts.get(&(name.clone(), seq)).copied(),
                Some(1),
                "{name} {seq}"
            );
        }
    }
    assert_eq!(counts.len() as u64, expected);

    // The server is up, counted the garbage, and accepted nothing forged.
    assert!(server.proc.running(), "the server died");
    let m = server.metrics();
    eprintln!(
        "{}",
        m.0.iter()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(m.get("ferrule_malformed_datagrams_total") > 0, "{:#?}", m.0);
    assert!(
        m.get("ferrule_datagrams_received_total") >= FLOOD_DATAGRAMS / 2,
        "{:#?}",
        m.0
    );
    assert_eq!(m.get("ferrule_telemetry_records_total"), expected);
    assert_eq!(m.handshakes("established"), DEVICES as u64, "{:#?}", m.0);
    assert!(
        m.all_rejections() > 0,
        "forged requests were refused: {:#?}",
        m.0
    );
    assert_eq!(m.get("ferrule_sessions"), DEVICES as u64);
}
