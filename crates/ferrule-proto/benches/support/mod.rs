//! Shared by the handshake benches: identities, pre-generated initiator messages, the timed
//! responder, and the crypto ceiling (the responder's own crypto operations, recorded once and
//! replayed straight on `ferrule_crypto`).
//!
//! How the initiator is kept out of the timed loop: the responder's randomness is a seeded
//! RNG, so its ephemeral key Y, and with it message_2, is a function of the seed. Setup runs
//! each handshake once with seed `i` and keeps message_1 and the initiator's message_3; the
//! timed loop runs the responder again with seed `i`, gets the same Y, and the kept message_3
//! verifies. Nothing of the initiator runs while timed, and nothing is subtracted.
//!
//! Instruction counts (steadier than time on a shared machine): with
//! `FERRULE_BENCH_ITERS=N` (and optionally `FERRULE_BENCH_ONLY=substring`) a bench binary runs
//! each routine N times in `run_iterations` instead of under criterion, for
//! `valgrind --tool=callgrind --toggle-collect='*run_iterations*'`.
#![allow(dead_code)]

use core::cell::RefCell;
use core::hint::black_box;
use std::rc::Rc;

use criterion::Criterion;
use ferrule_crypto::{RustCrypto, SoftwareKey};
use ferrule_proto::cose::{Ccs, CoseKey, KeyType};
use ferrule_proto::crypto::{
    AeadAlgorithm, Crypto, CryptoError, Curve, EphemeralSecret, KeyKind, PrivateKey, Prk,
    PublicKey, SharedSecret, Signature, SignatureAlgorithm, VerifyingKey,
};
use ferrule_proto::edhoc::{
    CipherSuite, ConnectionId, Credential, Established, Initiator, InitiatorConfig, Method,
    Responder, ResponderConfig, SingleCredential, SuiteList,
};
use ferrule_proto::oscore::{ContextParams, SecurityContext};

/// The tests' support module: its deterministic RNG is cheap, so the benches time crypto, not
/// the OS.
#[path = "../../tests/support/mod.rs"]
mod test_support;

pub use test_support::TestRng;

/// The responder's RNG seeds start here (the initiators' are below it).
const RESPONDER_SEED: u64 = 1 << 32;

/// A party's static DH identity: its key and its CCS (with a one-byte kid).
pub struct Identity {
    pub key: SoftwareKey,
    pub ccs: Vec<u8>,
}

impl Identity {
    pub fn new(rng: &mut TestRng, suite: CipherSuite, kid: u8, subject: &str) -> Self {
        let (key, key_type) = match suite {
            CipherSuite::Suite0 => (SoftwareKey::generate_x25519(rng).unwrap(), KeyType::X25519),
            _ => (SoftwareKey::generate_p256(rng).unwrap(), KeyType::P256),
        };
        let x = key.public_key();
        let y = key.public_key_y();
        let ccs = Ccs {
            subject: Some(subject),
            key: CoseKey {
                key_type,
                kid: Some(&[kid]),
                x: &x,
                y: y.as_ref().map(|y| y.as_slice()),
            },
        };
        let mut buf = [0u8; 160];
        let n = ccs.encode(&mut buf).unwrap();
        Self {
            key,
            ccs: buf[..n].to_vec(),
        }
    }

    pub fn credential(&self) -> Credential<'_> {
        Credential::ccs(&self.ccs).unwrap()
    }
}

/// One handshake's initiator messages, as the responder with seed `seed` receives them.
struct Transcript {
    seed: u64,
    message_1: Vec<u8>,
    message_3: Vec<u8>,
}

/// EDHOC method 3 (static DH both ways), credentials by kid, as the server runs it: pre-generated
/// initiator messages and the responder to time.
pub struct Bench {
    pub suite: CipherSuite,
    device: Identity,
    server: Identity,
    transcripts: Vec<Transcript>,
    next: usize,
}

/// The responder's C_R (two bytes, as the server allocates them).
fn c_r() -> ConnectionId {
    ConnectionId::new(&[0x3a, 0x07]).unwrap()
}

impl Bench {
    /// Sets up `count` handshakes for `suite` (0 or 2), each checked to complete.
    pub fn new(suite: CipherSuite, count: u64) -> Self {
        let mut rng = TestRng::new(u64::try_from(suite.id()).unwrap());
        let device = Identity::new(&mut rng, suite, 0x2b, "device");
        let server = Identity::new(&mut rng, suite, 0x32, "server");
        let mut bench = Self {
            suite,
            device,
            server,
            transcripts: Vec::new(),
            next: 0,
        };
        for seed in RESPONDER_SEED..RESPONDER_SEED + count {
            let transcript = bench.initiator_messages(seed);
            bench.transcripts.push(transcript);
        }
        for _ in 0..count {
            bench.respond(true);
        }
        bench
    }

    fn suites(&self) -> SuiteList {
        SuiteList::from_suites(&[self.suite]).unwrap()
    }

    fn responder_config<'a>(&'a self, key: &'a dyn PrivateKey) -> ResponderConfig<'a> {
        let credential = self.server.credential();
        ResponderConfig {
            methods: &[Method::StaticStatic],
            suites: self.suites(),
            key,
            credential,
            id_cred: credential.id_by_kid().unwrap(),
            known_ead: &[],
        }
    }

    /// Runs a whole handshake once (initiator and responder with seed `seed`) and keeps the
    /// initiator's messages.
    fn initiator_messages(&self, seed: u64) -> Transcript {
        let mut i_crypto = RustCrypto::new(TestRng::new(seed - RESPONDER_SEED));
        let mut r_crypto = RustCrypto::new(TestRng::new(seed));
        let credential = self.device.credential();
        let i_config = InitiatorConfig {
            method: Method::StaticStatic,
            suites: self.suites(),
            c_i: ConnectionId::from_int(-24).unwrap(),
            key: &self.device.key,
            credential,
            id_cred: credential.id_by_kid().unwrap(),
            known_ead: &[],
        };
        let r_config = self.responder_config(&self.server.key);
        let (mut m1, mut m2, mut m3) = ([0u8; 128], [0u8; 256], [0u8; 256]);
        let (i, n1) = Initiator::new(&i_config)
            .unwrap()
            .write_message_1(&mut i_crypto, &[], &mut m1)
            .unwrap();
        let (r, _) = Responder::new(&r_config)
            .read_message_1(&mut r_crypto, &m1[..n1])
            .unwrap();
        let (_, n2) = r
            .write_message_2(&mut r_crypto, c_r(), &[], &mut m2)
            .unwrap();
        let mut server = SingleCredential(r_config.credential);
        let (i, _) = i
            .read_message_2(&mut i_crypto, &mut server, &mut m2[..n2])
            .unwrap();
        let (_, n3) = i.write_message_3(&mut i_crypto, &[], &mut m3).unwrap();
        Transcript {
            seed,
            message_1: m1[..n1].to_vec(),
            message_3: m3[..n3].to_vec(),
        }
    }

    /// The timed work: one responder handshake (read_message_1, write_message_2,
    /// read_message_3 with a SingleCredential lookup), and with `oscore` also the OSCORE
    /// context the server derives from it (exporter + RFC 8613 derivation).
    pub fn respond(&mut self, oscore: bool) -> Established {
        let t = &self.transcripts[self.next % self.transcripts.len()];
        self.next += 1;
        let mut crypto = RustCrypto::new(TestRng::new(t.seed));
        let (established, context) = respond(
            &mut crypto,
            &self.responder_config(&self.server.key),
            self.device.credential(),
            t,
            oscore,
        );
        black_box(context);
        established
    }

    /// The crypto operations one handshake performs, in order.
    pub fn record(&self, oscore: bool) -> Vec<Op> {
        let t = &self.transcripts[0];
        let log = Rc::new(RefCell::new(Vec::new()));
        let mut crypto = Recorder {
            inner: RustCrypto::new(TestRng::new(t.seed)),
            log: Rc::clone(&log),
        };
        let key = RecordingKey {
            inner: &self.server.key,
            log: Rc::clone(&log),
        };
        respond(
            &mut crypto,
            &self.responder_config(&key),
            self.device.credential(),
            t,
            oscore,
        );
        drop(crypto);
        log.take()
    }

    /// The ceiling: the recorded operations, ready to replay on `ferrule_crypto`.
    pub fn ceiling(&self, oscore: bool) -> Replay {
        Replay::new(self.record(oscore), &self.server.key)
    }
}

fn respond<C: Crypto>(
    crypto: &mut C,
    config: &ResponderConfig<'_>,
    device: Credential<'_>,
    t: &Transcript,
    oscore: bool,
) -> (Established, Option<SecurityContext>) {
    let mut m2 = [0u8; 256];
    let mut m3 = [0u8; 256];
    let (r, _) = Responder::new(config)
        .read_message_1(crypto, &t.message_1)
        .unwrap();
    let (r, n2) = r.write_message_2(crypto, c_r(), &[], &mut m2).unwrap();
    black_box(&m2[..n2]);
    m3[..t.message_3.len()].copy_from_slice(&t.message_3);
    let mut lookup = SingleCredential(device);
    let (r, _) = r
        .read_message_3(crypto, &mut lookup, &mut m3[..t.message_3.len()])
        .unwrap();
    let established = r.established();
    let context = oscore.then(|| {
        let p = established.oscore_parameters(crypto).unwrap();
        let mut params = ContextParams::new(
            &p.master_secret,
            p.sender_id.as_bytes(),
            p.recipient_id.as_bytes(),
        );
        params.master_salt = Some(&p.master_salt);
        SecurityContext::derive(crypto, &params).unwrap()
    });
    (established, context)
}

/// One crypto operation of a handshake, with the sizes it worked on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Sha256(Vec<usize>),
    HkdfExtract {
        salt: usize,
        ikm: usize,
    },
    HkdfExpand {
        info: Vec<usize>,
        okm: usize,
    },
    AeadSeal {
        alg: AeadAlgorithm,
        aad: usize,
        len: usize,
    },
    AeadOpen {
        alg: AeadAlgorithm,
        aad: usize,
        len: usize,
    },
    GenerateEphemeral(Curve),
    EphemeralDh(Curve),
    StaticDh(KeyKind),
    Sign(usize),
    Verify(SignatureAlgorithm, usize),
    FillRandom(usize),
}

/// Counts of a recorded handshake's operations, for the bench output.
pub fn summary(ops: &[Op]) -> String {
    let count = |f: &dyn Fn(&Op) -> bool| ops.iter().filter(|o| f(o)).count();
    let hashed: usize = ops
        .iter()
        .map(|o| match o {
            Op::Sha256(parts) => parts.iter().sum(),
            _ => 0,
        })
        .sum();
    format!(
        "{} keygen, {} ephemeral DH, {} static DH, {} SHA-256 ({hashed} B), {} HKDF-Extract, \
         {} HKDF-Expand, {} AEAD seal, {} AEAD open, {} sign, {} verify",
        count(&|o| matches!(o, Op::GenerateEphemeral(_))),
        count(&|o| matches!(o, Op::EphemeralDh(_))),
        count(&|o| matches!(o, Op::StaticDh(_))),
        count(&|o| matches!(o, Op::Sha256(_))),
        count(&|o| matches!(o, Op::HkdfExtract { .. })),
        count(&|o| matches!(o, Op::HkdfExpand { .. })),
        count(&|o| matches!(o, Op::AeadSeal { .. })),
        count(&|o| matches!(o, Op::AeadOpen { .. })),
        count(&|o| matches!(o, Op::Sign(_))),
        count(&|o| matches!(o, Op::Verify(..))),
    )
}

/// Records every call in the shared log, then forwards it.
struct Recorder<C> {
    inner: C,
    log: Rc<RefCell<Vec<Op>>>,
}

impl<C> Recorder<C> {
    fn push(&self, op: Op) {
        self.log.borrow_mut().push(op);
    }
}

impl<C: Crypto> Crypto for Recorder<C> {
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; 32] {
        self.push(Op::Sha256(parts.iter().map(|p| p.len()).collect()));
        self.inner.sha256(parts)
    }
    fn hkdf_extract(&mut self, salt: &[u8], ikm: &[u8]) -> Prk {
        self.push(Op::HkdfExtract {
            salt: salt.len(),
            ikm: ikm.len(),
        });
        self.inner.hkdf_extract(salt, ikm)
    }
    fn hkdf_expand(
        &mut self,
        prk: &Prk,
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.push(Op::HkdfExpand {
            info: info.iter().map(|p| p.len()).collect(),
            okm: okm.len(),
        });
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
        self.push(Op::AeadSeal {
            alg,
            aad: aad.len(),
            len: buffer.len(),
        });
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
        self.push(Op::AeadOpen {
            alg,
            aad: aad.len(),
            len: buffer.len(),
        });
        self.inner.aead_open(alg, key, nonce, aad, buffer, tag)
    }
    fn generate_ephemeral(
        &mut self,
        curve: Curve,
    ) -> Result<(EphemeralSecret, PublicKey), CryptoError> {
        self.push(Op::GenerateEphemeral(curve));
        self.inner.generate_ephemeral(curve)
    }
    fn ephemeral_dh(
        &mut self,
        curve: Curve,
        secret: &EphemeralSecret,
        peer: &PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        self.push(Op::EphemeralDh(curve));
        self.inner.ephemeral_dh(curve, secret, peer)
    }
    fn verify(
        &mut self,
        alg: SignatureAlgorithm,
        key: &VerifyingKey<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.push(Op::Verify(alg, message.len()));
        self.inner.verify(alg, key, message, signature)
    }
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.push(Op::FillRandom(out.len()));
        self.inner.fill_random(out)
    }
}

/// Records the long-term key's operations in the same log as the provider's.
struct RecordingKey<'k> {
    inner: &'k SoftwareKey,
    log: Rc<RefCell<Vec<Op>>>,
}

impl PrivateKey for RecordingKey<'_> {
    fn kind(&self) -> KeyKind {
        self.inner.kind()
    }
    fn diffie_hellman(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
        self.log.borrow_mut().push(Op::StaticDh(self.inner.kind()));
        self.inner.diffie_hellman(peer)
    }
    fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        self.log.borrow_mut().push(Op::Sign(message.len()));
        self.inner.sign(message)
    }
}

/// A recorded handshake's crypto, replayed straight on `ferrule_crypto` with inputs of the
/// recorded sizes: the ceiling that the responder's protocol work comes on top of.
pub struct Replay {
    ops: Vec<Op>,
    crypto: RustCrypto<TestRng>,
    key: SoftwareKey,
    /// A valid peer public key and an ephemeral secret, per curve.
    peer: [(Curve, PublicKey, EphemeralSecret); 2],
    prk: Prk,
    /// For each AEAD open: the ciphertext and tag to open (sealed in setup, so that it verifies).
    sealed: Vec<(Vec<u8>, [u8; 16])>,
    data: Vec<u8>,
}

const AEAD_KEY: [u8; 16] = [7; 16];
const AEAD_NONCE: [u8; 13] = [9; 13];

impl Replay {
    fn new(ops: Vec<Op>, key: &SoftwareKey) -> Self {
        let mut crypto = RustCrypto::new(TestRng::new(99));
        let mut peer_of = |curve| {
            let (secret, public) = crypto.generate_ephemeral(curve).unwrap();
            (curve, public, secret)
        };
        let peer = [peer_of(Curve::P256), peer_of(Curve::X25519)];
        let data = vec![0x5a; 2048];
        let mut sealed = Vec::new();
        for op in &ops {
            if let Op::AeadOpen { alg, aad, len } = op {
                let mut buffer = data[..*len].to_vec();
                let mut tag = [0u8; 16];
                crypto
                    .aead_seal(
                        *alg,
                        &AEAD_KEY,
                        &AEAD_NONCE,
                        &data[..*aad],
                        &mut buffer,
                        &mut tag[..alg.tag_len()],
                    )
                    .unwrap();
                sealed.push((buffer, tag));
            }
        }
        // A copy of the server's key (the replay owns its inputs).
        let key = match key.kind() {
            KeyKind::P256 => SoftwareKey::p256_from_bytes(&key.to_bytes()).unwrap(),
            KeyKind::X25519 => SoftwareKey::x25519_from_bytes(&key.to_bytes()),
            KeyKind::Ed25519 => unimplemented!("method 3 uses DH keys"),
        };
        Self {
            ops,
            crypto,
            key,
            peer,
            prk: Prk::from_bytes([3; 32]),
            sealed,
            data,
        }
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Performs every recorded operation once.
    pub fn run(&mut self) {
        let mut sealed = 0;
        let mut buffer = [0u8; 2048];
        for op in &self.ops {
            let d = &self.data;
            match op {
                Op::Sha256(parts) => {
                    let parts: Vec<&[u8]> = parts.iter().map(|&n| &d[..n]).collect();
                    black_box(self.crypto.sha256(&parts));
                }
                Op::HkdfExtract { salt, ikm } => {
                    black_box(self.crypto.hkdf_extract(&d[..*salt], &d[..*ikm]));
                }
                Op::HkdfExpand { info, okm } => {
                    let info: Vec<&[u8]> = info.iter().map(|&n| &d[..n]).collect();
                    self.crypto
                        .hkdf_expand(&self.prk, &info, &mut buffer[..*okm])
                        .unwrap();
                }
                Op::AeadSeal { alg, aad, len } => {
                    let mut tag = [0u8; 16];
                    self.crypto
                        .aead_seal(
                            *alg,
                            &AEAD_KEY,
                            &AEAD_NONCE,
                            &d[..*aad],
                            &mut buffer[..*len],
                            &mut tag[..alg.tag_len()],
                        )
                        .unwrap();
                }
                Op::AeadOpen { alg, aad, len } => {
                    let (ciphertext, tag) = &self.sealed[sealed];
                    sealed += 1;
                    buffer[..*len].copy_from_slice(ciphertext);
                    self.crypto
                        .aead_open(
                            *alg,
                            &AEAD_KEY,
                            &AEAD_NONCE,
                            &d[..*aad],
                            &mut buffer[..*len],
                            &tag[..alg.tag_len()],
                        )
                        .unwrap();
                }
                Op::GenerateEphemeral(curve) => {
                    black_box(self.crypto.generate_ephemeral(*curve).unwrap());
                }
                Op::EphemeralDh(curve) => {
                    let (_, public, secret) = peer_of(&self.peer, *curve);
                    let shared = self.crypto.ephemeral_dh(*curve, secret, public).unwrap();
                    black_box(shared);
                }
                Op::StaticDh(kind) => {
                    let curve = match kind {
                        KeyKind::X25519 => Curve::X25519,
                        _ => Curve::P256,
                    };
                    let (_, public, _) = peer_of(&self.peer, curve);
                    black_box(self.key.diffie_hellman(public).unwrap());
                }
                Op::Sign(len) => {
                    black_box(self.key.sign(&d[..*len]).unwrap());
                }
                // Method 3 verifies no signature; a replay of another method would need a
                // real signature here.
                Op::Verify(..) => unimplemented!("signature methods are not benchmarked"),
                Op::FillRandom(len) => self.crypto.fill_random(&mut buffer[..*len]).unwrap(),
            }
        }
    }
}

fn peer_of(
    peers: &[(Curve, PublicKey, EphemeralSecret)],
    curve: Curve,
) -> &(Curve, PublicKey, EphemeralSecret) {
    peers.iter().find(|p| p.0 == curve).unwrap()
}

/// Runs `f` `n` times; the function callgrind counts (`--toggle-collect='*run_iterations*'`).
#[inline(never)]
pub fn run_iterations(n: u64, f: &mut dyn FnMut()) {
    for _ in 0..n {
        f();
    }
}

/// A named routine of a bench binary.
pub type Routine<'a> = (String, Box<dyn FnMut() + 'a>);

/// With `FERRULE_BENCH_ITERS=N`, runs each routine (whose name contains `FERRULE_BENCH_ONLY`,
/// if set) N times and returns true; otherwise returns false and criterion takes over.
pub fn run_for_callgrind(routines: &mut [Routine<'_>]) -> bool {
    let Some(n) = std::env::var("FERRULE_BENCH_ITERS")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return false;
    };
    let only = std::env::var("FERRULE_BENCH_ONLY").unwrap_or_default();
    for (name, f) in routines.iter_mut() {
        if name.contains(&only) {
            eprintln!("{name}: {n} iterations");
            run_iterations(n, f);
        }
    }
    true
}

/// Criterion with the command line's options (filters, `--save-baseline`, ...).
pub fn criterion() -> Criterion {
    Criterion::default().configure_from_args()
}
