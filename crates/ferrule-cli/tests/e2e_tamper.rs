//! An attacker on the path: a test-owned UDP proxy between `ferrule device run` and
//! `ferrule serve` records what the device sends; replayed and tampered copies of its OSCORE
//! requests are refused with the code RFC 8613 Section 8.2 prescribes, counted in /metrics, and
//! never reach the sink.
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use e2e_support::{Cloud, ServerProc};
use ferrule_proto::coap::{Code, Message, MessageType, OptionNumber};

/// Whether `datagram` is an OSCORE-protected request (option 9) that is not the EDHOC + OSCORE
/// combined request (option 21).
fn is_plain_oscore_request(datagram: &[u8]) -> bool {
    Message::parse(datagram).is_ok_and(|m| {
        m.code().is_request()
            && m.option(OptionNumber::Oscore).is_some()
            && m.option(OptionNumber::Edhoc).is_none()
            && !m.payload().is_empty()
    })
}

/// A copy of `datagram` with one byte of its payload (the OSCORE ciphertext) flipped.
fn flip_ciphertext(datagram: &[u8], which: usize) -> Vec<u8> {
    let payload_len = Message::parse(datagram).unwrap().payload().len();
    assert!(payload_len > 0);
    let mut copy = datagram.to_vec();
    let at = datagram.len() - payload_len + which % payload_len;
    copy[at] ^= 0x01;
    copy
}

/// Sends `datagram` to `server` from a fresh socket and returns the answer's code; checks that
/// the answer matches the request's token and Message ID.
fn exchange(server: SocketAddr, datagram: &[u8]) -> Code {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.send_to(datagram, server).unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = socket
        .recv_from(&mut buf)
        .expect("the server answers a tampered request");
    assert_eq!(from, server);
    let request = Message::parse(datagram).unwrap();
    let answer = Message::parse(&buf[..n]).expect("the answer is CoAP");
    assert_eq!(
        answer.msg_type(),
        MessageType::Acknowledgement,
        "{answer:?}"
    );
    assert_eq!(answer.message_id(), request.message_id());
    assert_eq!(answer.token(), request.token());
    assert!(
        answer.option(OptionNumber::Oscore).is_none(),
        "an error answer is not OSCORE-protected: {answer:?}"
    );
    answer.code()
}

/// What the proxy saw and did.
#[derive(Default)]
struct Capture {
    /// Every datagram the device sent, in order.
    up: Vec<Vec<u8>>,
    /// The answers to the tampered copies injected in flight.
    injected: Vec<Code>,
}

/// A UDP proxy between one device and the server, owned by the test.
struct Proxy {
    addr: SocketAddr,
    capture: Arc<Mutex<Capture>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Proxy {
    /// Forwards between a device and `server`, recording what the device sends. With
    /// `inject_before: Some(k)`, just before forwarding the device's k-th plain OSCORE request
    /// (counting from 0) it sends the server a copy with a ciphertext byte flipped, from another
    /// socket, and records the answer: the server sees the forgery first, with a Partial IV it
    /// has not yet received.
    fn start(server: SocketAddr, inject_before: Option<usize>) -> Self {
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(server).unwrap();
        let timeout = Some(Duration::from_millis(50));
        front.set_read_timeout(timeout).unwrap();
        back.set_read_timeout(timeout).unwrap();
        let addr = front.local_addr().unwrap();
        let capture = Arc::new(Mutex::new(Capture::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let device: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let (front, back) = (Arc::new(front), Arc::new(back));

        let up = {
            let (front, back, capture, stop, device) = (
                Arc::clone(&front),
                Arc::clone(&back),
                Arc::clone(&capture),
                Arc::clone(&stop),
                Arc::clone(&device),
            );
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                let mut plain_requests = 0;
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    *device.lock().unwrap() = Some(from);
                    let datagram = &buf[..n];
                    if is_plain_oscore_request(datagram) {
                        if inject_before == Some(plain_requests) {
                            let code = exchange(server, &flip_ciphertext(datagram, 3));
                            capture.lock().unwrap().injected.push(code);
                        }
                        plain_requests += 1;
                    }
                    capture.lock().unwrap().up.push(datagram.to_vec());
                    let _ = back.send(datagram);
                }
            })
        };
        let down = {
            let (stop, device) = (Arc::clone(&stop), Arc::clone(&device));
            std::thread::spawn(move || {
                let mut buf = [0u8; 1500];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = back.recv(&mut buf) else {
                        continue;
                    };
                    if let Some(device) = *device.lock().unwrap() {
                        let _ = front.send_to(&buf[..n], device);
                    }
                }
            })
        };
        Self {
            addr,
            capture,
            stop,
            threads: vec![up, down],
        }
    }

    /// Stops forwarding and returns what was captured.
    fn finish(mut self) -> Capture {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            t.join().expect("the proxy thread panicked");
        }
        core::mem::take(&mut *self.capture.lock().unwrap())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

const MESSAGES: u64 = 5;

/// A cloud with one device `sensor`, run through a recording proxy to deliver [`MESSAGES`].
fn run_device_through_proxy(inject_before: Option<usize>) -> (Cloud, ServerProc, Capture) {
    let cloud = Cloud::init();
    let bundle = cloud.add_device("sensor");
    let mut server = cloud.serve();
    let proxy = Proxy::start(server.udp, inject_before);
    let (addr, count) = (proxy.addr.to_string(), MESSAGES.to_string());
    let mut device = cloud.spawn(
        "device",
        &[
            "device",
            "run",
            "--bundle",
            bundle.to_str().unwrap(),
            "--server",
            &addr,
            "--count",
            &count,
            "--interval",
            "20",
            "--timeout",
            "30",
        ],
    );
    let out = device.success(Duration::from_secs(45));
    assert!(
        out.contains(&format!("{MESSAGES} of {MESSAGES} messages acknowledged")),
        "{out}"
    );
    let capture = proxy.finish();
    assert!(server.proc.running(), "the server exited");
    assert_exactly_the_device_messages(&cloud);
    (cloud, server, capture)
}

/// The sink holds `sensor`'s messages 0..MESSAGES, each once, and nothing else.
fn assert_exactly_the_device_messages(cloud: &Cloud) {
    let counts = e2e_support::sink_counts(&cloud.sink);
    let expected: Vec<((String, u64), usize)> = (0..MESSAGES)
        .map(|seq| (("sensor".to_owned(), seq), 1))
        .collect();
    assert_eq!(counts.into_iter().collect::<Vec<_>>(), expected);
}

/// The plain OSCORE requests the device sent, each once (without its retransmissions).
fn oscore_requests(capture: &Capture) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for d in capture.up.iter().filter(|d| is_plain_oscore_request(d)) {
        if !out.contains(d) {
            out.push(d.clone());
        }
    }
    assert!(
        out.len() as u64 >= MESSAGES - 1,
        "expected at least {} plain OSCORE requests, captured {}",
        MESSAGES - 1,
        out.len()
    );
    out
}

#[test]
fn e2e_replayed_datagram_is_rejected_and_counted() {
    let (cloud, server, capture) = run_device_through_proxy(None);
    let requests = oscore_requests(&capture);
    let before = server.metrics();
    assert_eq!(before.rejections("replay"), 0);

    // Replay each captured request from a fresh socket (another peer, so not a retransmission
    // the server answers from its cache): each is a replay.
    for (i, request) in requests.iter().enumerate() {
        assert_eq!(
            exchange(server.udp, request),
            Code::UNAUTHORIZED,
            "replayed request {i}"
        );
    }
    let after = server.metrics();
    assert_eq!(
        after.rejections("replay") - before.rejections("replay"),
        requests.len() as u64,
        "{:#?}",
        after.0
    );
    assert_eq!(
        after.get("ferrule_messages_total"),
        before.get("ferrule_messages_total"),
        "a replay verified"
    );
    assert_eq!(
        after.get("ferrule_telemetry_records_total"),
        MESSAGES,
        "telemetry records"
    );
    assert_exactly_the_device_messages(&cloud);

    // The replays are security events in the registry.
    let registry = ferrule_cloud::Registry::open(&cloud.dir).unwrap();
    let events = registry.events(100).unwrap();
    let replays = events
        .iter()
        .filter(|e| e.kind == ferrule_cloud::registry::event_kind::REPLAY)
        .count();
    assert_eq!(replays, requests.len(), "{events:#?}");
    assert!(
        events
            .iter()
            .filter(|e| e.kind == ferrule_cloud::registry::event_kind::REPLAY)
            .all(|e| e.device.as_deref() == Some("sensor")),
        "{events:#?}"
    );

    // The device's session was not disturbed: the server still has it.
    assert_eq!(after.get("ferrule_sessions"), 1);

    // Replaying the EDHOC + OSCORE combined request (message_3 and the first message) finds no
    // handshake waiting: refused, and neither a second session nor a second record appears.
    let combined = capture
        .up
        .iter()
        .find(|d| {
            Message::parse(d).is_ok_and(|m| {
                m.option(OptionNumber::Edhoc).is_some() && m.option(OptionNumber::Oscore).is_some()
            })
        })
        .expect("the device sent a combined request");
    let code = exchange(server.udp, combined);
    assert_eq!(code.class(), 4, "replayed combined request: {code:?}");
    let last = server.metrics();
    assert_eq!(last.get("ferrule_sessions"), 1);
    assert_eq!(last.handshakes("established"), 1);
    assert_eq!(
        last.get("ferrule_messages_total"),
        after.get("ferrule_messages_total")
    );
    assert!(
        last.all_rejections() > after.all_rejections(),
        "{:#?}",
        last.0
    );
    assert_exactly_the_device_messages(&cloud);
}

#[test]
fn e2e_flipped_byte_is_rejected() {
    // In flight: before the device's third plain OSCORE request reaches the server, a copy with
    // a flipped ciphertext byte arrives from elsewhere. It must fail (4.00, decryption failed)
    // without consuming its Partial IV: the genuine request that follows is accepted.
    let (cloud, server, capture) = run_device_through_proxy(Some(2));
    assert_eq!(
        capture.injected,
        vec![Code::BAD_REQUEST],
        "in-flight forgery"
    );
    let before = server.metrics();
    assert_eq!(before.rejections("decryption_failed"), 1, "{:#?}", before.0);

    // After the fact: a flipped copy of every captured request (a Partial IV already seen, so
    // the server may answer 4.01 for the replay before even trying to decrypt) is refused and
    // counted.
    let requests = oscore_requests(&capture);
    for (i, request) in requests.iter().enumerate() {
        let code = exchange(server.udp, &flip_ciphertext(request, i));
        assert!(
            code == Code::BAD_REQUEST || code == Code::UNAUTHORIZED,
            "tampered request {i}: {code:?}"
        );
    }
    let after = server.metrics();
    assert_eq!(
        after.all_rejections() - before.all_rejections(),
        requests.len() as u64,
        "{:#?}",
        after.0
    );
    assert_eq!(
        after.get("ferrule_messages_total"),
        before.get("ferrule_messages_total"),
        "a tampered request verified"
    );
    assert_eq!(after.get("ferrule_telemetry_records_total"), MESSAGES);
    assert_exactly_the_device_messages(&cloud);
    assert_eq!(after.get("ferrule_sessions"), 1);
}
