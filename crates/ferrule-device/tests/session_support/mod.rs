//! A mini cloud written with ferrule-proto directly (EDHOC responder + OSCORE server, as
//! ferrule-proto/tests/edhoc_oscore.rs does it), an in-memory network with loss and
//! duplication, and a simulation loop with simulated time.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};

use ferrule_crypto::{RustCrypto, SoftwareKey};
use ferrule_device::session::{Event, Instant, MemoryStorage, Session, SessionConfig, Storage};
use ferrule_proto::coap::{Code, Message, MessageId, MessageType, MessageWriter, OptionNumber};
use ferrule_proto::cose::{Ccs, CoseKey, KeyType};
use ferrule_proto::edhoc::{
    write_error_message, CipherSuite, ConnectionId, Credential, EdhocRequest, ErrCode, Method,
    Responder, ResponderConfig, ResponderWaitM3, SingleCredential, SuiteList,
};
use ferrule_proto::oscore::{
    is_combined_request, request_kid, split_combined_request, ContextParams, OscoreError,
    SecurityContext,
};
use rand_core::{CryptoRng, RngCore};

/// A deterministic RNG for tests (splitmix64; not for production).
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

pub type TestCrypto = RustCrypto<TestRng>;
pub type DeviceSession<'a> = Session<'a, TestCrypto, MemoryStorage>;

/// The device's and the cloud's long-term identities (P-256 keys, CCSs with a kid).
pub struct Identities {
    pub device_key: SoftwareKey,
    pub device_ccs: Vec<u8>,
    pub cloud_key: SoftwareKey,
    pub cloud_ccs: Vec<u8>,
}

fn identity(rng: &mut TestRng, kid: u8, subject: &str) -> (SoftwareKey, Vec<u8>) {
    let key = SoftwareKey::generate_p256(rng).unwrap();
    let (x, y) = (key.public_key(), key.public_key_y().unwrap());
    let ccs = Ccs {
        subject: Some(subject),
        key: CoseKey {
            key_type: KeyType::P256,
            kid: Some(&[kid]),
            x: &x,
            y: Some(&y),
        },
    };
    let mut buf = [0u8; 128];
    let n = ccs.encode(&mut buf).unwrap();
    (key, buf[..n].to_vec())
}

const METHODS: &[Method] = &Method::ALL;

impl Identities {
    pub fn new(seed: u64) -> Self {
        let mut rng = TestRng::new(seed);
        let (device_key, device_ccs) = identity(&mut rng, 0x2b, "device");
        let (cloud_key, cloud_ccs) = identity(&mut rng, 0x32, "cloud");
        Self {
            device_key,
            device_ccs,
            cloud_key,
            cloud_ccs,
        }
    }

    pub fn device_credential(&self) -> Credential<'_> {
        Credential::ccs(&self.device_ccs).unwrap()
    }

    pub fn cloud_credential(&self) -> Credential<'_> {
        Credential::ccs(&self.cloud_ccs).unwrap()
    }

    /// The device's configuration: the defaults (method 3, suite 2, combined request).
    pub fn session_config(&self) -> SessionConfig<'_> {
        SessionConfig::new(
            &self.device_key,
            self.device_credential(),
            self.cloud_credential(),
        )
        .unwrap()
    }

    pub fn responder_config(&self) -> ResponderConfig<'_> {
        let credential = self.cloud_credential();
        ResponderConfig {
            methods: METHODS,
            suites: SuiteList::from_suites(&[CipherSuite::Suite2]).unwrap(),
            key: &self.cloud_key,
            credential,
            id_cred: credential.id_by_kid().unwrap(),
            known_ead: &[],
        }
    }
}

/// What the cloud received through OSCORE, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub path: String,
    pub payload: Vec<u8>,
    pub content_format: Option<u16>,
    pub partial_iv: u64,
    pub kid: Vec<u8>,
}

/// The cloud side: an EDHOC responder and OSCORE server over CoAP, with a duplicate cache of its
/// last responses by Message ID (RFC 7252 Section 4.5).
pub struct Cloud<'a> {
    config: &'a ResponderConfig<'a>,
    device: Credential<'a>,
    crypto: TestCrypto,
    handshakes: HashMap<Vec<u8>, ResponderWaitM3<'a>>,
    sessions: HashMap<Vec<u8>, SecurityContext>,
    cache: VecDeque<(u16, Vec<Vec<u8>>)>,
    next_c_r: u8,
    next_mid: u16,
    /// Telemetry and command fetches that reached the application, in order.
    pub received: Vec<Received>,
    /// Commands waiting for the device.
    pub commands: VecDeque<(Vec<u8>, Option<u16>)>,
    /// Refuse every message_3 (an unknown or revoked device).
    pub refuse_m3: bool,
    /// Answer OSCORE requests with an empty ACK and a separate Confirmable response.
    pub separate: bool,
    /// Answer every request that is not a duplicate with this unprotected code instead.
    pub fail_with: Option<Code>,
    /// Answer telemetry with this protected error code instead of 2.04 (and not record it).
    pub inner_error: Option<Code>,
    pub handshakes_completed: usize,
    pub message_1_seen: usize,
    pub combined_seen: usize,
    pub message_4_sent: usize,
    pub echo_challenges: usize,
    pub duplicates_answered: usize,
}

impl<'a> Cloud<'a> {
    pub fn new(config: &'a ResponderConfig<'a>, device: Credential<'a>, seed: u64) -> Self {
        Self {
            config,
            device,
            crypto: RustCrypto::new(TestRng::new(seed)),
            handshakes: HashMap::new(),
            sessions: HashMap::new(),
            cache: VecDeque::new(),
            next_c_r: 0,
            next_mid: 0x4000,
            received: Vec::new(),
            commands: VecDeque::new(),
            refuse_m3: false,
            separate: false,
            fail_with: None,
            inner_error: None,
            handshakes_completed: 0,
            message_1_seen: 0,
            combined_seen: 0,
            message_4_sent: 0,
            echo_challenges: 0,
            duplicates_answered: 0,
        }
    }

    /// Forgets every session, handshake and cached response (a restart without persistence).
    pub fn restart(&mut self) {
        self.handshakes.clear();
        self.sessions.clear();
        self.cache.clear();
    }

    /// Keeps the sessions but loses their replay windows, as after a restart that persisted the
    /// contexts (RFC 8613 Appendix B.1.2): the next request gets an Echo challenge.
    pub fn lose_replay_windows(&mut self) {
        for ctx in self.sessions.values_mut() {
            let mut storage = MemoryStorage::new();
            storage
                .store_sequence_bound(ctx.sender_sequence_number() + 16)
                .unwrap();
            ctx.resume(&mut storage, 16).unwrap();
        }
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Telemetry payloads received, in order.
    pub fn telemetry(&self) -> Vec<Vec<u8>> {
        self.received
            .iter()
            .filter(|r| r.path == "t")
            .map(|r| r.payload.clone())
            .collect()
    }

    /// Handles one datagram from the device; returns the datagrams it answers with.
    pub fn handle(&mut self, datagram: &[u8]) -> Vec<Vec<u8>> {
        let Ok(msg) = Message::parse(datagram) else {
            return Vec::new();
        };
        if msg.msg_type() == MessageType::Acknowledgement {
            return Vec::new(); // the device acknowledging a separate response
        }
        let mid = msg.message_id().0;
        if let Some((_, answers)) = self.cache.iter().find(|(m, _)| *m == mid) {
            self.duplicates_answered += 1;
            return answers.clone();
        }
        let answers = match self.fail_with {
            Some(code) => vec![plain_response(&msg, code, None, b"")],
            None => self.process(datagram),
        };
        self.cache.push_back((mid, answers.clone()));
        if self.cache.len() > 64 {
            self.cache.pop_front();
        }
        answers
    }

    fn process(&mut self, datagram: &[u8]) -> Vec<Vec<u8>> {
        let msg = Message::parse(datagram).unwrap();
        let path: Vec<&[u8]> = msg.options_of(OptionNumber::UriPath).collect();
        if path == [&b".well-known"[..], &b"edhoc"[..]] {
            return vec![self.edhoc(&msg)];
        }
        let mut buf = datagram.to_vec();
        if is_combined_request(&msg) {
            self.combined_seen += 1;
            let kid = match request_kid(datagram) {
                Ok(k) => k.kid.to_vec(),
                Err(_) => return vec![plain_response(&msg, Code::BAD_REQUEST, None, b"")],
            };
            let mut m3 = [0u8; 256];
            let Ok((m3_len, oscore_len)) = split_combined_request(&mut buf, &mut m3) else {
                return vec![plain_response(&msg, Code::BAD_REQUEST, None, b"")];
            };
            buf.truncate(oscore_len);
            let Some(handshake) = self.handshakes.remove(&kid) else {
                return vec![plain_response(&msg, Code::UNAUTHORIZED, None, b"")];
            };
            if self.refuse_m3 {
                return vec![plain_response(&msg, Code::UNAUTHORIZED, None, b"")];
            }
            let Ok((verified, _)) = handshake.read_message_3(
                &mut self.crypto,
                &mut SingleCredential(self.device),
                &mut m3[..m3_len],
            ) else {
                return vec![plain_response(&msg, Code::UNAUTHORIZED, None, b"")];
            };
            let established = verified.established();
            let ctx = derive(&mut self.crypto, &established);
            self.sessions.insert(kid, ctx);
            self.handshakes_completed += 1;
        }
        self.oscore(&mut buf)
    }

    fn edhoc(&mut self, msg: &Message<'_>) -> Vec<u8> {
        match EdhocRequest::parse(msg.payload()) {
            Ok(EdhocRequest::Message1(m1)) => {
                self.message_1_seen += 1;
                let responder = Responder::new(self.config);
                let (responder, _) = match responder.read_message_1(&mut self.crypto, m1) {
                    Ok(r) => r,
                    Err(e) => {
                        let mut err = [0u8; 64];
                        let n = write_error_message(
                            e.err_code().unwrap_or(ErrCode::Unspecified),
                            e.reason(),
                            &self.config.suites,
                            &mut err,
                        )
                        .unwrap();
                        return plain_response(msg, Code::BAD_REQUEST, Some(64), &err[..n]);
                    }
                };
                let c_r = ConnectionId::from_int((self.next_c_r % 24) as i8).unwrap();
                self.next_c_r = self.next_c_r.wrapping_add(1);
                let mut m2 = [0u8; 256];
                let (state, n2) = responder
                    .write_message_2(&mut self.crypto, c_r, &[], &mut m2)
                    .unwrap();
                self.handshakes.insert(c_r.as_bytes().to_vec(), state);
                plain_response(msg, Code::CHANGED, Some(64), &m2[..n2])
            }
            Ok(EdhocRequest::Continue { c_r, offset }) => {
                let refuse = |reason: &str| {
                    let mut err = [0u8; 64];
                    let n = write_error_message(
                        ErrCode::Unspecified,
                        reason,
                        &SuiteList::new(),
                        &mut err,
                    )
                    .unwrap();
                    plain_response(msg, Code::UNAUTHORIZED, Some(64), &err[..n])
                };
                let Some(handshake) = self.handshakes.remove(c_r.as_bytes()) else {
                    return refuse("unknown C_R");
                };
                if self.refuse_m3 {
                    return refuse("device revoked");
                }
                let mut m3 = msg.payload()[offset..].to_vec();
                let Ok((verified, _)) = handshake.read_message_3(
                    &mut self.crypto,
                    &mut SingleCredential(self.device),
                    &mut m3,
                ) else {
                    return refuse("authentication failed");
                };
                let mut m4 = [0u8; 64];
                let (established, n4) = verified
                    .write_message_4(&mut self.crypto, &[], &mut m4)
                    .unwrap();
                let ctx = derive(&mut self.crypto, &established);
                self.sessions.insert(c_r.as_bytes().to_vec(), ctx);
                self.handshakes_completed += 1;
                self.message_4_sent += 1;
                plain_response(msg, Code::CHANGED, Some(64), &m4[..n4])
            }
            Err(_) => plain_response(msg, Code::BAD_REQUEST, None, b""),
        }
    }

    fn oscore(&mut self, datagram: &mut [u8]) -> Vec<Vec<u8>> {
        let (msg_type, mid, token) = {
            let m = Message::parse(datagram).unwrap();
            (m.msg_type(), m.message_id(), m.token().to_vec())
        };
        let ack = |w: Vec<u8>| vec![w];
        let error = |e: OscoreError| {
            let mut out = [0u8; 64];
            match e
                .write_error_response(MessageType::Acknowledgement, mid, &token, &mut out)
                .unwrap()
            {
                Some(n) => vec![out[..n].to_vec()],
                None => Vec::new(),
            }
        };
        let kid = match request_kid(datagram) {
            Ok(k) => k.kid.to_vec(),
            Err(e) => return error(e),
        };
        let Some(ctx) = self.sessions.get_mut(&kid) else {
            return error(OscoreError::ContextNotFound);
        };
        // A context that was resumed needs its sequence numbers reserved before protecting.
        ctx.reserve(&mut MemoryStorage::new()).unwrap();
        let verified = match ctx.verify_request(&mut self.crypto, datagram) {
            Ok(v) => v,
            Err(OscoreError::EchoRequired(rid)) => {
                self.echo_challenges += 1;
                let mut out = [0u8; 128];
                let n = ctx
                    .protect_echo_challenge(
                        &mut self.crypto,
                        &rid,
                        MessageType::Acknowledgement,
                        mid,
                        &token,
                        &mut out,
                    )
                    .unwrap();
                return ack(out[..n].to_vec());
            }
            Err(e) => return error(e),
        };
        let path = String::from_utf8_lossy(
            verified
                .message
                .option(OptionNumber::UriPath)
                .unwrap_or(b""),
        )
        .into_owned();
        let content_format = verified
            .message
            .option(OptionNumber::ContentFormat)
            .map(|v| v.iter().fold(0u16, |a, b| (a << 8) | u16::from(*b)));
        if let (Some(code), "t") = (self.inner_error, path.as_str()) {
            let mut plain = [0u8; 64];
            let n = MessageWriter::new(&mut plain, MessageType::Acknowledgement, code, mid, &token)
                .unwrap()
                .finish();
            let mut request_id = verified.request_id;
            let mut out = [0u8; 128];
            let len = ctx
                .protect_response(
                    &mut self.crypto,
                    &mut request_id,
                    &Message::parse(&plain[..n]).unwrap(),
                    &mut out,
                )
                .unwrap();
            return ack(out[..len].to_vec());
        }
        self.received.push(Received {
            path: path.clone(),
            payload: verified.message.payload().to_vec(),
            content_format,
            partial_iv: verified.request_id.partial_iv().value(),
            kid: kid.clone(),
        });
        let code = match (verified.message.code(), path.as_str()) {
            (Code::POST, "t") => Code::CHANGED,
            (Code::GET, "c") => Code::CONTENT,
            _ => Code::NOT_FOUND,
        };
        let command = if code.is_success() {
            self.commands.pop_front()
        } else {
            None
        };
        let mut request_id = verified.request_id;
        let separate = self.separate && msg_type == MessageType::Confirmable;
        let (inner_type, inner_mid) = if separate {
            self.next_mid = self.next_mid.wrapping_add(1);
            (MessageType::Confirmable, MessageId(self.next_mid))
        } else {
            (MessageType::Acknowledgement, mid)
        };
        let mut plain = [0u8; 256];
        let mut w = MessageWriter::new(&mut plain, inner_type, code, inner_mid, &token).unwrap();
        let mut payload: &[u8] = b"";
        if let Some((bytes, cf)) = &command {
            if let Some(cf) = cf {
                w.uint_option(OptionNumber::ContentFormat, u32::from(*cf))
                    .unwrap();
            }
            payload = bytes;
        }
        let n = w.payload(payload).unwrap();
        let mut out = [0u8; 300];
        let len = ctx
            .protect_response(
                &mut self.crypto,
                &mut request_id,
                &Message::parse(&plain[..n]).unwrap(),
                &mut out,
            )
            .unwrap();
        if separate {
            let mut empty = [0u8; 4];
            let e = MessageWriter::new(
                &mut empty,
                MessageType::Acknowledgement,
                Code::EMPTY,
                mid,
                &[],
            )
            .unwrap()
            .finish();
            vec![empty[..e].to_vec(), out[..len].to_vec()]
        } else {
            ack(out[..len].to_vec())
        }
    }
}

fn derive(crypto: &mut TestCrypto, session: &ferrule_proto::edhoc::Established) -> SecurityContext {
    let p = session.oscore_parameters(crypto).unwrap();
    let mut params = ContextParams::new(
        &p.master_secret,
        p.sender_id.as_bytes(),
        p.recipient_id.as_bytes(),
    );
    params.master_salt = Some(&p.master_salt);
    SecurityContext::derive(crypto, &params).unwrap()
}

/// A piggybacked response without OSCORE.
fn plain_response(request: &Message<'_>, code: Code, cf: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::Acknowledgement,
        code,
        request.message_id(),
        request.token(),
    )
    .unwrap();
    if let Some(cf) = cf {
        w.uint_option(OptionNumber::ContentFormat, u32::from(cf))
            .unwrap();
    }
    let n = w.payload(payload).unwrap();
    buf[..n].to_vec()
}

/// Which datagrams the network loses, per direction.
#[derive(Clone, Copy, Debug, Default)]
pub struct Loss {
    /// Drop every n-th datagram (0: none).
    pub every: usize,
    /// Deliver every datagram twice.
    pub duplicate: bool,
    /// Drop everything.
    pub down: bool,
}

/// One direction of the network.
#[derive(Default)]
pub struct Link {
    pub loss: Loss,
    pub queue: VecDeque<Vec<u8>>,
    pub sent: usize,
    pub dropped: usize,
}

impl Link {
    fn send(&mut self, datagram: Vec<u8>) {
        self.sent += 1;
        if self.loss.down || (self.loss.every > 0 && self.sent % self.loss.every == 0) {
            self.dropped += 1;
            return;
        }
        if self.loss.duplicate {
            self.queue.push_back(datagram.clone());
        }
        self.queue.push_back(datagram);
    }
}

/// A device session and a cloud over an in-memory network, with simulated time.
pub struct Sim<'a> {
    pub now: u64,
    pub session: DeviceSession<'a>,
    pub cloud: Cloud<'a>,
    pub up: Link,
    pub down: Link,
    pub events: Vec<(u64, Event)>,
    /// Every datagram the device sent, as sent.
    pub device_sent: Vec<Vec<u8>>,
}

impl<'a> Sim<'a> {
    pub fn new(
        config: &'a SessionConfig<'a>,
        responder: &'a ResponderConfig<'a>,
        seed: u64,
    ) -> Self {
        let session = Session::new(
            config,
            RustCrypto::new(TestRng::new(seed)),
            MemoryStorage::new(),
        )
        .unwrap();
        Self::with_session(session, config, responder, seed)
    }

    pub fn with_session(
        session: DeviceSession<'a>,
        config: &'a SessionConfig<'a>,
        responder: &'a ResponderConfig<'a>,
        seed: u64,
    ) -> Self {
        let cloud = Cloud::new(responder, config.edhoc.credential, seed.wrapping_add(1000));
        Self {
            now: 1_000,
            session,
            cloud,
            up: Link::default(),
            down: Link::default(),
            events: Vec::new(),
            device_sent: Vec::new(),
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    /// Moves every datagram once: device out, cloud, device in, events. Returns whether
    /// anything moved.
    pub fn turn(&mut self) -> bool {
        let mut moved = false;
        let mut out = [0u8; 256];
        while let Some(n) = self.session.poll_transmit(self.now(), &mut out) {
            self.device_sent.push(out[..n].to_vec());
            self.up.send(out[..n].to_vec());
            moved = true;
        }
        while let Some(d) = self.up.queue.pop_front() {
            for answer in self.cloud.handle(&d) {
                self.down.send(answer);
            }
            moved = true;
        }
        while let Some(mut d) = self.down.queue.pop_front() {
            let now = self.now();
            self.session.handle_datagram(now, &mut d);
            moved = true;
        }
        while let Some(e) = self.session.poll_event() {
            self.events.push((self.now, e));
            moved = true;
        }
        moved
    }

    /// Runs until nothing moves, then advances time to the next timeout; stops when `done`
    /// holds or `limit_ms` of simulated time passed. Returns whether `done` held.
    pub fn run_until(&mut self, limit_ms: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + limit_ms;
        loop {
            while self.turn() {
                if done(self) {
                    return true;
                }
            }
            if done(self) {
                return true;
            }
            let Some(t) = self.session.poll_timeout() else {
                return false;
            };
            let t = t.as_millis().max(self.now);
            if t > end {
                return false;
            }
            self.now = t;
            let now = self.now();
            self.session.handle_timeout(now);
        }
    }

    /// Sends one telemetry message and runs until it is delivered (or `limit_ms` passes).
    pub fn deliver(&mut self, payload: &[u8], limit_ms: u64) -> bool {
        let handle = self
            .session
            .send(self.now(), payload, Some(60))
            .expect("session accepts a message");
        self.run_until(limit_ms, |s| {
            s.events.iter().any(|(_, e)| *e == Event::Delivered(handle))
        })
    }

    pub fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }
}
