//! RFC 8613 Appendix B.1: state that survives power cuts.
//!
//! A client and a server exchange a long series of requests. In each world the client (or the
//! server, or both) loses its RAM at one point of the exchange - before persisting, right after
//! persisting the sequence-number bound, after protecting a request it never sends, after the
//! server answered but before the answer arrives - is restored from its `Storage`, and carries
//! on. Every AEAD seal of every world goes through one recording crypto provider, and the test
//! asserts that no (key, nonce) pair is ever used twice, and that the server accepts all the
//! resumed traffic (with an Echo round trip after a server restart, Appendix B.1.2) while
//! rejecting every replay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use std::collections::HashSet;

use ferrule_crypto::RustCrypto;
use ferrule_proto::coap::{
    Code, Message, MessageIdSequence, MessageType, MessageWriter, OptionNumber, Token,
};
use ferrule_proto::crypto::{
    AeadAlgorithm, Crypto, CryptoError, Curve, EphemeralSecret, Prk, PublicKey, SharedSecret,
    SignatureAlgorithm, VerifyingKey, HASH_LEN,
};
use ferrule_proto::oscore::{ContextParams, MemoryStorage, OscoreError, SecurityContext};

mod support;

use support::TestRng;

/// Delegates to RustCrypto and records every (key, nonce) pair an AEAD seal uses.
struct RecordingCrypto {
    inner: RustCrypto<TestRng>,
    used: HashSet<(Vec<u8>, Vec<u8>)>,
    seals: usize,
    reuses: usize,
}

impl Crypto for RecordingCrypto {
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; HASH_LEN] {
        self.inner.sha256(parts)
    }
    fn hkdf_extract(&mut self, salt: &[u8], ikm: &[u8]) -> Prk {
        self.inner.hkdf_extract(salt, ikm)
    }
    fn hkdf_expand(
        &mut self,
        prk: &Prk,
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.inner.hkdf_expand(prk, info, okm)
    }
    fn aead_seal(
        &mut self,
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.seals += 1;
        if !self.used.insert((key.to_vec(), nonce.to_vec())) {
            self.reuses += 1;
        }
        self.inner.aead_seal(alg, key, nonce, aad, buffer, tag)
    }
    fn aead_open(
        &mut self,
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        self.inner.aead_open(alg, key, nonce, aad, buffer, tag)
    }
    fn generate_ephemeral(
        &mut self,
        curve: Curve,
    ) -> Result<(EphemeralSecret, PublicKey), CryptoError> {
        self.inner.generate_ephemeral(curve)
    }
    fn ephemeral_dh(
        &mut self,
        curve: Curve,
        secret: &EphemeralSecret,
        peer: &PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        self.inner.ephemeral_dh(curve, secret, peer)
    }
    fn verify(
        &mut self,
        alg: SignatureAlgorithm,
        key: &VerifyingKey<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.inner.verify(alg, key, message, signature)
    }
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.inner.fill_random(out)
    }
}

/// Persistence step K of Appendix B.1.1.
const K: u32 = 4;
/// Requests per world.
const MESSAGES: usize = 30;

const CLIENT_ID: &[u8] = &[0x21];
const SERVER_ID: &[u8] = &[];

/// Where in one attempt to send a request a power cut can hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cut {
    /// Client, before it reserves sequence numbers.
    ClientBeforeReserve,
    /// Client, right after `reserve` (after a persist if one was due).
    ClientAfterReserve,
    /// Client, after protecting a request it never got to send.
    ClientAfterProtect,
    /// Client, after the server answered, before the answer arrives.
    ClientAfterServer,
    /// Server, before it receives the request.
    ServerBeforeVerify,
    /// Server, after it processed the request, before its answer goes out.
    ServerAfterRespond,
}

const ALL_CUTS: [Cut; 6] = [
    Cut::ClientBeforeReserve,
    Cut::ClientAfterReserve,
    Cut::ClientAfterProtect,
    Cut::ClientAfterServer,
    Cut::ServerBeforeVerify,
    Cut::ServerAfterRespond,
];

/// One endpoint: its RAM (the context) and its flash (the storage).
struct Endpoint {
    master_secret: [u8; 16],
    sender: &'static [u8],
    recipient: &'static [u8],
    ctx: SecurityContext,
    storage: MemoryStorage,
    restarts: usize,
}

impl Endpoint {
    fn new(
        crypto: &mut RecordingCrypto,
        master_secret: [u8; 16],
        sender: &'static [u8],
        recipient: &'static [u8],
    ) -> Self {
        let mut storage = MemoryStorage::new();
        let ctx = Self::boot(crypto, &master_secret, sender, recipient, &mut storage);
        Self {
            master_secret,
            sender,
            recipient,
            ctx,
            storage,
            restarts: 0,
        }
    }

    /// Derives the context from provisioned parameters and resumes it from storage.
    fn boot(
        crypto: &mut RecordingCrypto,
        secret: &[u8],
        sender: &[u8],
        recipient: &[u8],
        storage: &mut MemoryStorage,
    ) -> SecurityContext {
        let mut params = ContextParams::new(secret, sender, recipient);
        params.master_salt = Some(b"salt-b11");
        let mut ctx = SecurityContext::derive(crypto, &params).unwrap();
        ctx.resume(storage, K).unwrap();
        ctx
    }

    /// Loses RAM: everything but `storage`.
    fn power_cut(&mut self, crypto: &mut RecordingCrypto) {
        self.ctx = Self::boot(
            crypto,
            &self.master_secret,
            self.sender,
            self.recipient,
            &mut self.storage,
        );
        self.restarts += 1;
    }
}

#[derive(Default, Debug)]
struct Stats {
    cuts_right_after_persist: usize,
    cuts_between_persists: usize,
    echo_challenges: usize,
    attempts: usize,
}

fn request(
    mids: &mut MessageIdSequence,
    crypto: &mut RecordingCrypto,
    i: usize,
    echo: Option<&[u8]>,
) -> Vec<u8> {
    let token = Token::random(crypto, 4).unwrap();
    let mut buf = [0u8; 128];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::Confirmable,
        Code::POST,
        mids.next_id(),
        token.as_slice(),
    )
    .unwrap();
    w.option(OptionNumber::UriHost, b"cloud.example").unwrap();
    w.option(OptionNumber::UriPath, b"t").unwrap();
    if let Some(echo) = echo {
        w.option(OptionNumber::Echo, echo).unwrap();
    }
    let n = w.payload(format!("reading {i}").as_bytes()).unwrap();
    buf[..n].to_vec()
}

/// Runs one world: `MESSAGES` requests with power cuts wherever `cut(message, attempt, point)`
/// says. Asserts that every request is eventually accepted and every replay rejected.
fn world(
    crypto: &mut RecordingCrypto,
    world_id: u64,
    cut: &dyn Fn(usize, usize, Cut) -> bool,
) -> Stats {
    let mut secret = [0u8; 16];
    secret[..8].copy_from_slice(&world_id.to_be_bytes());
    let mut client = Endpoint::new(crypto, secret, CLIENT_ID, SERVER_ID);
    let mut server = Endpoint::new(crypto, secret, SERVER_ID, CLIENT_ID);
    let mut mids = MessageIdSequence::random(crypto).unwrap();
    let mut stats = Stats::default();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut accepted_ssns = HashSet::new();
    let mut delivered = HashSet::new();

    for i in 0..MESSAGES {
        let mut echo: Option<Vec<u8>> = None;
        let mut attempt = 0;
        loop {
            attempt += 1;
            stats.attempts += 1;
            assert!(
                attempt < 12,
                "world {world_id}: message {i} never got through"
            );
            let hit = |p| cut(i, attempt, p);

            if hit(Cut::ClientBeforeReserve) {
                client.power_cut(crypto);
                mids = MessageIdSequence::random(crypto).unwrap();
                echo = None;
                stats.cuts_between_persists += 1;
            }
            let persisted = client.ctx.reserve(&mut client.storage).unwrap();
            if hit(Cut::ClientAfterReserve) {
                client.power_cut(crypto);
                mids = MessageIdSequence::random(crypto).unwrap();
                echo = None;
                if persisted {
                    stats.cuts_right_after_persist += 1;
                } else {
                    stats.cuts_between_persists += 1;
                }
                continue;
            }
            let plain = request(&mut mids, crypto, i, echo.as_deref());
            let plain_msg = Message::parse(&plain).unwrap();
            let mut datagram = [0u8; 160];
            let (len, request_id) = client
                .ctx
                .protect_request(crypto, &plain_msg, &mut datagram)
                .unwrap();
            if hit(Cut::ClientAfterProtect) {
                client.power_cut(crypto);
                mids = MessageIdSequence::random(crypto).unwrap();
                echo = None;
                stats.cuts_between_persists += 1;
                continue;
            }
            sent.push(datagram[..len].to_vec());

            // The server.
            if hit(Cut::ServerBeforeVerify) {
                server.power_cut(crypto);
            }
            server.ctx.reserve(&mut server.storage).unwrap();
            let mut response = [0u8; 128];
            let response_len = match server.ctx.verify_request(crypto, &mut datagram[..len]) {
                Ok(verified) => {
                    let m = verified.message;
                    assert_eq!(m.code(), Code::POST);
                    assert_eq!(m.option(OptionNumber::UriPath), Some(&b"t"[..]));
                    assert!(
                        accepted_ssns.insert(verified.request_id.partial_iv().value()),
                        "server accepted a sequence number twice"
                    );
                    delivered.insert(String::from_utf8(m.payload().to_vec()).unwrap());
                    let mut plain = [0u8; 32];
                    let w = MessageWriter::new(
                        &mut plain,
                        MessageType::Acknowledgement,
                        Code::CHANGED,
                        m.message_id(),
                        m.token(),
                    )
                    .unwrap();
                    let n = w.finish();
                    let mut id = verified.request_id;
                    server
                        .ctx
                        .protect_response(
                            crypto,
                            &mut id,
                            &Message::parse(&plain[..n]).unwrap(),
                            &mut response,
                        )
                        .unwrap()
                }
                Err(OscoreError::EchoRequired(id)) => {
                    stats.echo_challenges += 1;
                    assert!(
                        server.restarts > 0,
                        "an Echo challenge only after a restart"
                    );
                    let outer = Message::parse(&datagram[..len]).unwrap();
                    server
                        .ctx
                        .protect_echo_challenge(
                            crypto,
                            &id,
                            MessageType::Acknowledgement,
                            outer.message_id(),
                            outer.token(),
                            &mut response,
                        )
                        .unwrap()
                }
                Err(e) => panic!("world {world_id}: server rejected resumed request {i}: {e:?}"),
            };
            if hit(Cut::ServerAfterRespond) {
                server.power_cut(crypto);
                continue;
            }
            if hit(Cut::ClientAfterServer) {
                client.power_cut(crypto);
                mids = MessageIdSequence::random(crypto).unwrap();
                echo = None;
                stats.cuts_between_persists += 1;
                continue;
            }

            // The client gets the answer.
            let answer = client
                .ctx
                .verify_response(crypto, &request_id, &mut response[..response_len])
                .unwrap();
            assert_eq!(answer.token(), plain_msg.token());
            match answer.code() {
                Code::CHANGED => break,
                Code::UNAUTHORIZED => {
                    let value = answer
                        .option(OptionNumber::Echo)
                        .expect("4.01 carries Echo");
                    echo = Some(value.to_vec());
                }
                other => panic!("unexpected response {other}"),
            }
        }
    }

    for i in 0..MESSAGES {
        assert!(
            delivered.contains(&format!("reading {i}")),
            "world {world_id}: reading {i} lost"
        );
    }
    // No request, old or new, is accepted a second time.
    for old in &sent {
        let mut d = old.clone();
        let r = server.ctx.verify_request(crypto, &mut d);
        assert!(
            matches!(r, Err(OscoreError::Replay | OscoreError::EchoRequired(_))),
            "world {world_id}: replay accepted: {r:?}"
        );
    }
    // Flash writes stay near one per K messages plus one per restart.
    let bound = (client.ctx.sender_sequence_number() / u64::from(K)) + client.restarts as u64 + 2;
    assert!(
        client.storage.writes() <= bound,
        "{} writes",
        client.storage.writes()
    );
    stats
}

fn recording() -> RecordingCrypto {
    RecordingCrypto {
        inner: RustCrypto::new(TestRng::new(0x853c_49e6_748f_ea9b)),
        used: HashSet::new(),
        seals: 0,
        reuses: 0,
    }
}

#[test]
fn oscore_power_cut_at_every_step_never_reuses_a_nonce() {
    let mut crypto = recording();
    let mut total = Stats::default();
    let mut world_id = 0u64;
    let add = |s: Stats, total: &mut Stats| {
        total.cuts_right_after_persist += s.cuts_right_after_persist;
        total.cuts_between_persists += s.cuts_between_persists;
        total.echo_challenges += s.echo_challenges;
        total.attempts += s.attempts;
    };

    // One world per cut point: each message, each point of its first attempt.
    for i in 0..MESSAGES {
        for point in ALL_CUTS {
            world_id += 1;
            let s = world(&mut crypto, world_id, &|m, a, p| {
                m == i && a == 1 && p == point
            });
            add(s, &mut total);
        }
    }
    // A world where the client is cut at every message, at a rotating point, and the server
    // every fifth message; and one where both lose power at the same moment.
    world_id += 1;
    let s = world(&mut crypto, world_id, &|m, a, p| {
        a == 1
            && match p {
                Cut::ServerBeforeVerify => m % 5 == 2,
                Cut::ServerAfterRespond => m % 5 == 4,
                client => ALL_CUTS[m % 4] == client,
            }
    });
    add(s, &mut total);
    world_id += 1;
    let s = world(&mut crypto, world_id, &|m, a, p| {
        a == 1 && m % 3 == 1 && matches!(p, Cut::ClientAfterServer | Cut::ServerBeforeVerify)
    });
    add(s, &mut total);

    assert_eq!(crypto.reuses, 0, "a (key, nonce) pair was used twice");
    assert_eq!(crypto.used.len(), crypto.seals);
    assert!(
        total.cuts_right_after_persist >= MESSAGES / K as usize,
        "{total:?}"
    );
    assert!(total.cuts_between_persists > MESSAGES, "{total:?}");
    assert!(total.echo_challenges > MESSAGES, "{total:?}");
    eprintln!(
        "{} seals, all (key, nonce) pairs distinct; {total:?}",
        crypto.seals
    );
}

#[test]
fn oscore_power_cut_without_storage_would_reuse_nonces() {
    // The negative control: a client that restarts without resuming from storage reuses a nonce,
    // and the recording provider notices.
    let mut crypto = recording();
    let secret = [7u8; 16];
    let params = ContextParams::new(&secret, CLIENT_ID, SERVER_ID);
    let mut mids = MessageIdSequence::new(1);
    for _ in 0..2 {
        let mut ctx = SecurityContext::derive(&mut crypto, &params).unwrap();
        let plain = request(&mut mids, &mut crypto, 0, None);
        let mut out = [0u8; 160];
        ctx.protect_request(&mut crypto, &Message::parse(&plain).unwrap(), &mut out)
            .unwrap();
    }
    assert_eq!(crypto.reuses, 1);
}

#[test]
fn oscore_persisted_context_refuses_unreserved_sequence_numbers() {
    let mut crypto = recording();
    let secret = [9u8; 16];
    let mut storage = MemoryStorage::new();
    let mut ctx = Endpoint::boot(&mut crypto, &secret, CLIENT_ID, SERVER_ID, &mut storage);
    let plain = request(&mut MessageIdSequence::new(1), &mut crypto, 0, None);
    let msg = Message::parse(&plain).unwrap();
    let mut out = [0u8; 160];
    assert_eq!(
        ctx.protect_request(&mut crypto, &msg, &mut out)
            .unwrap_err(),
        OscoreError::SequenceNumberNotPersisted
    );
    assert!(ctx.reserve(&mut storage).unwrap());
    assert_eq!(storage.bound(), Some(u64::from(K)));
    for n in 0..u64::from(K) {
        assert_eq!(
            ctx.protect_request(&mut crypto, &msg, &mut out)
                .unwrap()
                .1
                .partial_iv()
                .value(),
            n
        );
        assert!(!ctx.reserve(&mut storage).unwrap() || n + 1 == u64::from(K));
    }
    assert_eq!(storage.bound(), Some(2 * u64::from(K)));
    // After a restart the context resumes at the stored bound.
    let ctx = Endpoint::boot(&mut crypto, &secret, CLIENT_ID, SERVER_ID, &mut storage);
    assert_eq!(ctx.sender_sequence_number(), 2 * u64::from(K));
    assert!(!ctx.replay_window().is_initialized());
}
