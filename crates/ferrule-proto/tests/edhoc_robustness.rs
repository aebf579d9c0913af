//! No panic on any input, and no altered message accepted.
//!
//! Every message of RFC 9529 traces 1 and 2 is fed, truncated at every length and with every
//! single-byte change, to the side that receives it, in the state where it expects it (set up with
//! the trace's keys, so the unmodified message is accepted: checked as a control). Every altered
//! message must be rejected, and none may panic. message_1 is special: an altered message_1 can be
//! a valid message_1 from another initiator, so the requirement there is that the handshake cannot
//! complete: the responder rejects it, or the trace's initiator rejects the resulting message_2.
//!
//! One level deeper, PLAINTEXT_2 and PLAINTEXT_3 are altered and encrypted again with the trace's
//! keys (KEYSTREAM_2, K_3 / IV_3 / A_3), so that the changes reach the plaintext parsers, the
//! credential lookup and the MAC / signature check instead of stopping at decryption.
//!
//! Pseudo-random inputs (a constant-seeded xorshift) go to every receiving state and to the
//! standalone parsers. Each case runs under `catch_unwind`, so that every panic and every wrong
//! acceptance is listed with its input, not only the first.

// Test code: unwrap/expect/panic report a broken test setup, and std is what a test has (these
// also cover the shared `support` module).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod support;

use std::panic::{catch_unwind, AssertUnwindSafe};

use ferrule_crypto::RustCrypto;
use ferrule_proto::cbor::{Decoder, Encoder};
use ferrule_proto::cose::KeyType;
use ferrule_proto::crypto::{AeadAlgorithm, Crypto, Prk};
use ferrule_proto::edhoc::{
    CipherSuite, ConnectionId, Credential, EadItems, Error, ErrorInfo, ErrorMessage, IdCred,
    Initiator, InitiatorConfig, Message1, Method, Responder, ResponderConfig, SingleCredential,
    SuiteList,
};
use support::{connection_id, trace1_parties, trace2_parties, Party, ReplayRng, Vectors};

type TestCrypto = RustCrypto<ReplayRng>;

/// A provider whose randomness replays `random` (an ephemeral key of the trace).
fn crypto(random: &[u8]) -> TestCrypto {
    RustCrypto::new(ReplayRng::new(random))
}

// ---------------------------------------------------------------------------------------------
// The traces.

struct Trace {
    name: &'static str,
    v: Vectors,
    method: Method,
    x509: bool,
    key_type: KeyType,
    initiator: Party,
    responder: Party,
    initiator_suites: SuiteList,
    responder_suites: SuiteList,
    c_i: ConnectionId,
    c_r: ConnectionId,
    x: Vec<u8>,
    y: Vec<u8>,
    message_1: Vec<u8>,
    message_2: Vec<u8>,
}

#[allow(clippy::too_many_arguments)]
fn trace(
    name: &'static str,
    v: Vectors,
    method: Method,
    x509: bool,
    key_type: KeyType,
    initiator: Party,
    responder: Party,
    suites: (SuiteList, SuiteList),
) -> Trace {
    Trace {
        name,
        method,
        x509,
        key_type,
        initiator,
        responder,
        initiator_suites: suites.0,
        responder_suites: suites.1,
        c_i: connection_id(&v, "C_I"),
        c_r: connection_id(&v, "C_R"),
        x: v.bytes("X"),
        y: v.bytes("Y"),
        message_1: v.bytes("message_1"),
        message_2: v.bytes("message_2"),
        v,
    }
}

/// RFC 9529 Section 2: method 0, suite 0, X.509 credentials identified by x5t, Ed25519.
fn trace_1() -> Trace {
    let v = Vectors::load("rfc9529-trace1.json");
    let (initiator, responder) = trace1_parties(&v);
    let suites = SuiteList::from_suites(&[CipherSuite::Suite0]).unwrap();
    trace(
        "trace 1",
        v,
        Method::SignSign,
        true,
        KeyType::Ed25519,
        initiator,
        responder,
        (suites, suites),
    )
}

/// RFC 9529 Section 3: method 3, suite 2 (after an error message rejecting suite 6), CCS
/// credentials identified by kid, P-256 static DH keys.
fn trace_2() -> Trace {
    let v = Vectors::load("rfc9529-trace2.json");
    let (initiator, responder) = trace2_parties(&v);
    trace(
        "trace 2",
        v,
        Method::StaticStatic,
        false,
        KeyType::P256,
        initiator,
        responder,
        (
            SuiteList::from_suites(&[CipherSuite::Unknown(6), CipherSuite::Suite2]).unwrap(),
            SuiteList::from_suites(&[CipherSuite::Suite2]).unwrap(),
        ),
    )
}

impl Trace {
    fn initiator_config(&self) -> InitiatorConfig<'_> {
        InitiatorConfig {
            method: self.method,
            suites: self.initiator_suites,
            c_i: self.c_i,
            key: &self.initiator.key,
            credential: self.initiator.credential(self.x509, self.key_type),
            id_cred: self.initiator.id_cred(),
            known_ead: &[],
        }
    }

    fn responder_config(&self) -> ResponderConfig<'_> {
        ResponderConfig {
            methods: &Method::ALL,
            suites: self.responder_suites,
            key: &self.responder.key,
            credential: self.responder.credential(self.x509, self.key_type),
            id_cred: self.responder.id_cred(),
            known_ead: &[],
        }
    }

    fn server(&self) -> SingleCredential<'_> {
        SingleCredential(self.responder.credential(self.x509, self.key_type))
    }

    fn device(&self) -> SingleCredential<'_> {
        SingleCredential(self.initiator.credential(self.x509, self.key_type))
    }
}

// ---------------------------------------------------------------------------------------------
// Each receiving side, set up afresh (the states are consumed by their steps).

/// The trace's initiator, having sent message_1 with ephemeral key `x`, reads `message` as
/// message_2 (or as an error message). Returns its message_3 if it accepts.
fn initiator_reads_message_2(t: &Trace, x: &[u8], message: &mut [u8]) -> Result<Vec<u8>, Error> {
    let config = t.initiator_config();
    let mut crypto = crypto(x);
    let mut m1 = [0u8; 64];
    let (wait, _) = Initiator::new(&config)
        .and_then(|i| i.write_message_1(&mut crypto, &[], &mut m1))
        .expect("setup: write_message_1");
    let mut server = t.server();
    let (verified, _) = wait.read_message_2(&mut crypto, &mut server, message)?;
    let mut m3 = [0u8; 256];
    let (_, n) = verified
        .write_message_3(&mut crypto, &[], &mut m3)
        .expect("message_3 after an accepted message_2");
    Ok(m3[..n].to_vec())
}

/// The trace's responder, having sent the trace's message_2, reads `message` as message_3.
fn responder_reads_message_3(t: &Trace, message: &mut [u8]) -> Result<(), Error> {
    let config = t.responder_config();
    let mut crypto = crypto(&t.y);
    let (got1, _) = Responder::new(&config)
        .read_message_1(&mut crypto, &t.message_1)
        .expect("setup: read_message_1");
    let mut m2 = [0u8; 256];
    let (wait, _) = got1
        .write_message_2(&mut crypto, t.c_r, &[], &mut m2)
        .expect("setup: write_message_2");
    let mut device = t.device();
    wait.read_message_3(&mut crypto, &mut device, message)
        .map(|_| ())
}

/// The trace's initiator, having sent message_3, reads `message` as message_4 (declaring the EAD
/// labels `known`). Returns the number of known EAD_4 items.
fn initiator_reads_message_4(t: &Trace, known: &[u16], message: &mut [u8]) -> Result<usize, Error> {
    let config = t.initiator_config();
    let mut crypto = crypto(&t.x);
    let mut m1 = [0u8; 64];
    let (wait, _) = Initiator::new(&config)
        .and_then(|i| i.write_message_1(&mut crypto, &[], &mut m1))
        .expect("setup: write_message_1");
    let mut m2 = t.message_2.clone();
    let mut server = t.server();
    let (verified, _) = wait
        .read_message_2(&mut crypto, &mut server, &mut m2)
        .expect("setup: read_message_2");
    let mut m3 = [0u8; 256];
    let (wait4, _) = verified
        .write_message_3(&mut crypto, &[], &mut m3)
        .expect("setup: write_message_3");
    let (_, ead) = wait4.read_message_4(&mut crypto, known, message)?;
    Ok(ead.count())
}

/// How a message_1 fared.
#[derive(Debug)]
enum Message1Outcome {
    /// `read_message_1` rejected it.
    Rejected(Error),
    /// Accepted, but the responder could not answer (e.g. G_X not a valid point, C_I = C_R).
    NoMessage2(Error),
    /// The responder answered; the trace's initiator rejected that message_2.
    Message2Rejected(Error),
    /// The trace's initiator accepted the responder's message_2: the handshake completes.
    Completed(Vec<u8>),
}

/// The trace's responder reads `message` as message_1 and answers with C_R and its ephemeral key
/// Y; the trace's initiator (which sent message_1 with `t.x`) reads that answer.
fn handshake_with_message_1(t: &Trace, message: &[u8]) -> Message1Outcome {
    let config = t.responder_config();
    let mut crypto = crypto(&t.y);
    let got1 = match Responder::new(&config).read_message_1(&mut crypto, message) {
        Ok((got1, _)) => got1,
        Err(e) => return Message1Outcome::Rejected(e),
    };
    let mut m2 = [0u8; 256];
    let n = match got1.write_message_2(&mut crypto, t.c_r, &[], &mut m2) {
        Ok((_, n)) => n,
        Err(e) => return Message1Outcome::NoMessage2(e),
    };
    let sent = m2[..n].to_vec();
    // (read_message_2 decrypts in place.)
    match initiator_reads_message_2(t, &t.x, &mut m2[..n]) {
        Ok(_) => Message1Outcome::Completed(sent),
        Err(e) => Message1Outcome::Message2Rejected(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Running many cases, collecting every panic and wrong acceptance.

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Outcome tallies of one batch, and the failures with their inputs.
#[derive(Default)]
struct Batch {
    cases: usize,
    accepted: usize,
    tallies: std::collections::BTreeMap<String, usize>,
    failures: Vec<String>,
}

impl Batch {
    /// Runs one case: `check` returns `Ok(tally)` when the outcome is acceptable (the tally names
    /// it, for the summary) or `Err(why)` for a wrong acceptance; a panic is caught and recorded.
    fn run(
        &mut self,
        label: &str,
        input: &[u8],
        check: impl FnOnce(&mut [u8]) -> Result<String, String>,
    ) {
        self.cases += 1;
        let mut buffer = input.to_vec();
        match catch_unwind(AssertUnwindSafe(|| check(&mut buffer))) {
            Ok(Ok(tally)) => {
                if tally.starts_with("Ok") {
                    self.accepted += 1;
                }
                *self.tallies.entry(tally).or_default() += 1;
            }
            Ok(Err(why)) => self.failures.push(format!(
                "WRONG ACCEPTANCE {label}: input {}: {why}",
                hex::encode(input)
            )),
            Err(payload) => self.failures.push(format!(
                "PANIC {label}: input {}: {}",
                hex::encode(input),
                panic_message(payload.as_ref())
            )),
        }
    }

    /// Prints the summary (visible with `--nocapture`) and fails listing every failure.
    fn finish(self, what: &str) {
        println!(
            "{what}: {} cases, {} accepted, {} failures; outcomes: {:?}",
            self.cases,
            self.accepted,
            self.failures.len(),
            self.tallies
        );
        assert!(
            self.failures.is_empty(),
            "{what}: {} of {} cases failed:\n{}",
            self.failures.len(),
            self.cases,
            self.failures.join("\n")
        );
    }
}

/// A short name for an error, for tallies.
fn tally(e: &Error) -> String {
    let s = format!("{e:?}");
    s.split(['(', ' ', '{']).next().unwrap_or(&s).to_string()
}

fn tally_result<T>(r: &Result<T, Error>) -> String {
    match r {
        Ok(_) => "Ok".to_string(),
        Err(e) => tally(e),
    }
}

/// Every proper prefix of `message`, lengths 0..len-1.
fn truncations(message: &[u8]) -> Vec<(String, Vec<u8>)> {
    (0..message.len())
        .map(|n| (format!("truncated to {n}"), message[..n].to_vec()))
        .collect()
}

/// Every single-byte change of `message`: each byte XORed with 0x01, 0x80 and 0xff, and replaced
/// with 0x00 (where that changes it).
fn byte_flips(message: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..message.len() {
        let b = message[i];
        for (name, new) in [
            ("^0x01", b ^ 0x01),
            ("^0x80", b ^ 0x80),
            ("^0xff", b ^ 0xff),
            ("=0x00", 0x00),
        ] {
            if new != b {
                let mut m = message.to_vec();
                m[i] = new;
                out.push((format!("byte {i} {name}"), m));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The messages of the traces, and what each receiving side must do with an altered one.

#[derive(Clone, Copy, Debug)]
enum Received {
    Message1,
    /// Trace 2's rejected first message_1 (SUITES_I = 6).
    Message1FirstTime,
    Message2,
    Message3,
    Message4,
    /// Trace 2's error message (ERR_CODE 2, SUITES_R = 2), received by the initiator.
    Error,
}

impl Received {
    const fn key(self) -> &'static str {
        match self {
            Self::Message1 => "message_1",
            Self::Message1FirstTime => "message_1 (first time)",
            Self::Message2 => "message_2",
            Self::Message3 => "message_3",
            Self::Message4 => "message_4",
            Self::Error => "error",
        }
    }
}

fn suites_r_of_trace_2() -> SuiteList {
    SuiteList::from_suites(&[CipherSuite::Suite2]).unwrap()
}

/// SUITES_R of an error message with ERR_CODE 2 ([`Error::Peer`] carries only ERR_CODE; the
/// message is left unaltered by the handshake step that reported it).
fn suites_r_of(message: &[u8]) -> Option<SuiteList> {
    match ErrorMessage::parse(message).ok()?.info {
        ErrorInfo::Suites(suites) => Some(suites),
        _ => None,
    }
}

/// Feeds `input` as `message` of trace `t`; `Ok(tally)` if the outcome is acceptable for an
/// altered message, `Err(why)` otherwise.
fn feed_altered(t: &Trace, message: Received, input: &mut [u8]) -> Result<String, String> {
    match message {
        Received::Message1 | Received::Message1FirstTime => {
            match handshake_with_message_1(t, input) {
                Message1Outcome::Rejected(e) => Ok(format!("read_message_1: {}", tally(&e))),
                Message1Outcome::NoMessage2(e) => Ok(format!("write_message_2: {}", tally(&e))),
                Message1Outcome::Message2Rejected(e) => {
                    Ok(format!("accepted; message_2 rejected: {}", tally(&e)))
                }
                Message1Outcome::Completed(m2) => Err(format!(
                    "the handshake completes: the trace's initiator accepts the responder's \
                     message_2 {}",
                    hex::encode(m2)
                )),
            }
        }
        Received::Message2 => {
            let r = initiator_reads_message_2(t, &t.x, input);
            match r {
                Ok(m3) => Err(format!(
                    "read_message_2 accepted it (message_3 would be {})",
                    hex::encode(m3)
                )),
                Err(e) => Ok(tally(&e)),
            }
        }
        Received::Message3 => match responder_reads_message_3(t, input) {
            Ok(()) => Err("read_message_3 accepted it".to_string()),
            Err(e) => Ok(tally(&e)),
        },
        Received::Message4 => match initiator_reads_message_4(t, &[], input) {
            Ok(n) => Err(format!("read_message_4 accepted it ({n} EAD items)")),
            Err(e) => Ok(tally(&e)),
        },
        Received::Error => {
            let r = initiator_reads_message_2(t, &t.v.bytes("X (first time)"), input);
            match r {
                Ok(m3) => Err(format!(
                    "read_message_2 accepted it as message_2 (message_3 {})",
                    hex::encode(m3)
                )),
                Err(Error::Peer { code: 2 })
                    if suites_r_of(input) == Some(suites_r_of_trace_2()) =>
                {
                    Err("parsed as the original error message (ERR_CODE 2, SUITES_R 2)".into())
                }
                Err(e @ (Error::Peer { .. } | Error::Malformed(_))) => Ok(tally(&e)),
                Err(e) => Err(format!("unexpected error {e:?} (want Malformed or Peer)")),
            }
        }
    }
}

/// The unmodified message is accepted (or, for trace 2's first message_1 and error message,
/// rejected as the trace says).
fn control(t: &Trace, message: Received) {
    let mut original = t.v.bytes(message.key());
    let what = format!("{} {} (control)", t.name, message.key());
    match message {
        Received::Message1 => {
            let outcome = handshake_with_message_1(t, &original);
            let Message1Outcome::Completed(m2) = outcome else {
                panic!("{what}: {outcome:?}");
            };
            assert_eq!(m2, t.message_2, "{what}: message_2");
        }
        Received::Message1FirstTime => {
            let outcome = handshake_with_message_1(t, &original);
            assert!(
                matches!(
                    outcome,
                    Message1Outcome::Rejected(Error::UnsupportedSuite(CipherSuite::Unknown(6)))
                ),
                "{what}: {outcome:?}"
            );
        }
        Received::Message2 => {
            let m3 = initiator_reads_message_2(t, &t.x, &mut original).expect(&what);
            assert_eq!(m3, t.v.bytes("message_3"), "{what}: message_3");
        }
        Received::Message3 => responder_reads_message_3(t, &mut original).expect(&what),
        Received::Message4 => {
            assert_eq!(initiator_reads_message_4(t, &[], &mut original), Ok(0));
        }
        Received::Error => {
            let r = initiator_reads_message_2(t, &t.v.bytes("X (first time)"), &mut original);
            assert_eq!(r.map(|_| ()), Err(Error::Peer { code: 2 }), "{what}");
            assert_eq!(
                suites_r_of(&original),
                Some(suites_r_of_trace_2()),
                "{what}"
            );
        }
    }
}

#[derive(Clone, Copy)]
enum Alteration {
    Truncation,
    ByteFlip,
}

fn alter(trace: fn() -> Trace, message: Received, alteration: Alteration) {
    let t = trace();
    control(&t, message);
    let original = t.v.bytes(message.key());
    let (kind, cases) = match alteration {
        Alteration::Truncation => ("truncation", truncations(&original)),
        Alteration::ByteFlip => ("byte flip", byte_flips(&original)),
    };
    let mut batch = Batch::default();
    for (label, input) in &cases {
        let label = format!("{} {} {label}", t.name, message.key());
        batch.run(&label, input, |m| feed_altered(&t, message, m));
    }
    batch.finish(&format!("{} {} {kind}", t.name, message.key()));
}

macro_rules! alteration_tests {
    ($($name:ident: $trace:ident, $message:ident, $alteration:ident;)*) => {
        $(
            #[test]
            fn $name() {
                alter($trace, Received::$message, Alteration::$alteration);
            }
        )*
    };
}

alteration_tests! {
    trace1_message_1_truncation: trace_1, Message1, Truncation;
    trace1_message_1_byte_flip: trace_1, Message1, ByteFlip;
    trace1_message_2_truncation: trace_1, Message2, Truncation;
    trace1_message_2_byte_flip: trace_1, Message2, ByteFlip;
    trace1_message_3_truncation: trace_1, Message3, Truncation;
    trace1_message_3_byte_flip: trace_1, Message3, ByteFlip;
    trace1_message_4_truncation: trace_1, Message4, Truncation;
    trace1_message_4_byte_flip: trace_1, Message4, ByteFlip;
    trace2_message_1_truncation: trace_2, Message1, Truncation;
    trace2_message_1_byte_flip: trace_2, Message1, ByteFlip;
    trace2_message_1_first_time_truncation: trace_2, Message1FirstTime, Truncation;
    trace2_message_1_first_time_byte_flip: trace_2, Message1FirstTime, ByteFlip;
    trace2_message_2_truncation: trace_2, Message2, Truncation;
    trace2_message_2_byte_flip: trace_2, Message2, ByteFlip;
    trace2_message_3_truncation: trace_2, Message3, Truncation;
    trace2_message_3_byte_flip: trace_2, Message3, ByteFlip;
    trace2_message_4_truncation: trace_2, Message4, Truncation;
    trace2_message_4_byte_flip: trace_2, Message4, ByteFlip;
    trace2_error_truncation: trace_2, Error, Truncation;
    trace2_error_byte_flip: trace_2, Error, ByteFlip;
}

// ---------------------------------------------------------------------------------------------
// Altered plaintexts, encrypted again with the trace's keys.

fn bstr(content: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; content.len() + 9];
    let mut e = Encoder::new(&mut out);
    e.bytes(content).unwrap();
    let n = e.finish();
    out.truncate(n);
    out
}

/// message_2 = bstr(G_Y || PLAINTEXT_2 XOR KEYSTREAM_2), with KEYSTREAM_2 = EDHOC_KDF(PRK_2e, 0,
/// TH_2, length) from the trace's PRK_2e and TH_2.
fn seal_plaintext_2(t: &Trace, plaintext: &[u8]) -> Vec<u8> {
    let mut info = vec![0u8; 48];
    let mut e = Encoder::new(&mut info);
    e.u64(0)
        .and_then(|e| e.bytes(&t.v.bytes("TH_2")))
        .and_then(|e| e.u64(plaintext.len() as u64))
        .unwrap();
    let n = e.finish();
    info.truncate(n);
    let mut keystream = vec![0u8; plaintext.len()];
    crypto(&[])
        .hkdf_expand(
            &Prk::from_bytes(t.v.array("PRK_2e")),
            &[&info],
            &mut keystream,
        )
        .unwrap();
    let mut content = t.v.bytes("G_Y");
    content.extend(plaintext.iter().zip(&keystream).map(|(p, k)| p ^ k));
    bstr(&content)
}

/// message_3 / message_4 = bstr(AEAD(K_n, IV_n, A_n, PLAINTEXT_n)) with the trace's K, IV and A
/// (suites 0 and 2 both use AES-CCM-16-64-128).
fn seal_aead(t: &Trace, n: u8, plaintext: &[u8]) -> Vec<u8> {
    let mut body = plaintext.to_vec();
    let mut tag = [0u8; 8];
    crypto(&[])
        .aead_seal(
            AeadAlgorithm::AesCcm16_64_128,
            &t.v.bytes(&format!("K_{n}")),
            &t.v.bytes(&format!("IV_{n}")),
            &t.v.bytes(&format!("A_{n}")),
            &mut body,
            &mut tag,
        )
        .unwrap();
    body.extend_from_slice(&tag);
    bstr(&body)
}

#[test]
fn reencryption_reproduces_the_trace_messages() {
    for t in [trace_1(), trace_2()] {
        assert_eq!(
            seal_plaintext_2(&t, &t.v.bytes("PLAINTEXT_2")),
            t.message_2,
            "{}",
            t.name
        );
        assert_eq!(
            seal_aead(&t, 3, &t.v.bytes("PLAINTEXT_3")),
            t.v.bytes("message_3"),
            "{}",
            t.name
        );
        assert_eq!(seal_aead(&t, 4, &[]), t.v.bytes("message_4"), "{}", t.name);
    }
}

/// Feeds an altered PLAINTEXT_2 (n = 2) or PLAINTEXT_3 (n = 3), encrypted with the trace's keys.
fn feed_plaintext(t: &Trace, n: u8, plaintext: &[u8]) -> Result<String, String> {
    if n == 2 {
        let mut m2 = seal_plaintext_2(t, plaintext);
        match initiator_reads_message_2(t, &t.x, &mut m2) {
            Ok(_) => Err("read_message_2 accepted the altered PLAINTEXT_2".into()),
            Err(e) => Ok(tally(&e)),
        }
    } else {
        let mut m3 = seal_aead(t, 3, plaintext);
        match responder_reads_message_3(t, &mut m3) {
            Ok(()) => Err("read_message_3 accepted the altered PLAINTEXT_3".into()),
            Err(e) => Ok(tally(&e)),
        }
    }
}

fn alter_plaintext(t: &Trace, n: u8, alteration: Alteration) {
    let original = t.v.bytes(&format!("PLAINTEXT_{n}"));
    let (kind, cases) = match alteration {
        Alteration::Truncation => ("truncation", truncations(&original)),
        Alteration::ByteFlip => ("byte flip", byte_flips(&original)),
    };
    let mut batch = Batch::default();
    for (label, input) in &cases {
        let label = format!("{} PLAINTEXT_{n} {label}", t.name);
        batch.run(&label, input, |p| feed_plaintext(t, n, p));
    }
    batch.finish(&format!("{} PLAINTEXT_{n} (re-encrypted) {kind}", t.name));
}

macro_rules! plaintext_tests {
    ($($name:ident: $trace:ident, $n:literal, $alteration:ident;)*) => {
        $(
            #[test]
            fn $name() {
                alter_plaintext(&$trace(), $n, Alteration::$alteration);
            }
        )*
    };
}

plaintext_tests! {
    trace1_plaintext_2_truncation: trace_1, 2, Truncation;
    trace1_plaintext_2_byte_flip: trace_1, 2, ByteFlip;
    trace1_plaintext_3_truncation: trace_1, 3, Truncation;
    trace1_plaintext_3_byte_flip: trace_1, 3, ByteFlip;
    trace2_plaintext_2_truncation: trace_2, 2, Truncation;
    trace2_plaintext_2_byte_flip: trace_2, 2, ByteFlip;
    trace2_plaintext_3_truncation: trace_2, 3, Truncation;
    trace2_plaintext_3_byte_flip: trace_2, 3, ByteFlip;
}

/// The trace's responder, having sent the trace's message_2, reads `message` as message_3 and, if
/// it accepts, writes message_4.
fn responder_reads_message_3_writes_4(t: &Trace, message: &mut [u8]) -> Result<Vec<u8>, Error> {
    let config = t.responder_config();
    let mut crypto = crypto(&t.y);
    let (got1, _) = Responder::new(&config)
        .read_message_1(&mut crypto, &t.message_1)
        .expect("setup: read_message_1");
    let mut m2 = [0u8; 256];
    let (wait, _) = got1
        .write_message_2(&mut crypto, t.c_r, &[], &mut m2)
        .expect("setup: write_message_2");
    let mut device = t.device();
    let (verified, _) = wait.read_message_3(&mut crypto, &mut device, message)?;
    let mut m4 = [0u8; 64];
    let (_, n) = verified
        .write_message_4(&mut crypto, &[], &mut m4)
        .expect("message_4 after an accepted message_3");
    Ok(m4[..n].to_vec())
}

/// PLAINTEXT_n of trace 2 with its compact ID_CRED (the one-byte kid as an integer, RFC 9528
/// Section 3.5.3.2) replaced by the map form `{4: h'kid'}` = a1 04 41 kid. The map decodes to
/// the same `IdCred::Kid` and gives the same MAC, but the plaintext, and so the next transcript
/// hash, differ.
fn trace2_plaintext_with_map_form_id_cred(t: &Trace, n: u8) -> Vec<u8> {
    let compact = t.v.bytes(&format!("PLAINTEXT_{n}"));
    // PLAINTEXT_2 = C_R, ID_CRED_R, MAC_2; PLAINTEXT_3 = ID_CRED_I, MAC_3.
    let at = usize::from(n == 2);
    let kid = compact[at];
    assert!(
        kid == 0x32 || kid == 0x2b,
        "PLAINTEXT_{n}: {}",
        hex::encode(&compact)
    );
    [
        &compact[..at],
        &[0xa1, 0x04, 0x41, kid][..],
        &compact[at + 1..],
    ]
    .concat()
}

/// Whatever a receiver does with a map-form ID_CRED, the handshake must not complete: if the
/// initiator accepts such a message_2, the responder (whose transcript has the compact form)
/// rejects its message_3; if the responder accepts such a message_3, the initiator rejects its
/// message_4.
#[test]
fn trace2_id_cred_in_map_form_cannot_complete() {
    let t = trace_2();
    let mut m2 = seal_plaintext_2(&t, &trace2_plaintext_with_map_form_id_cred(&t, 2));
    let outcome = initiator_reads_message_2(&t, &t.x, &mut m2);
    println!(
        "map-form ID_CRED_R: read_message_2 -> {}",
        tally_result(&outcome)
    );
    if let Ok(mut m3) = outcome {
        assert_eq!(
            responder_reads_message_3(&t, &mut m3),
            Err(Error::DecryptionFailed),
            "the responder accepted a message_3 built on an altered message_2"
        );
    }

    let mut m3 = seal_aead(&t, 3, &trace2_plaintext_with_map_form_id_cred(&t, 3));
    let outcome = responder_reads_message_3_writes_4(&t, &mut m3);
    println!(
        "map-form ID_CRED_I: read_message_3 -> {}",
        tally_result(&outcome)
    );
    if let Ok(mut m4) = outcome {
        assert_eq!(
            initiator_reads_message_4(&t, &[], &mut m4),
            Err(Error::DecryptionFailed),
            "the initiator accepted a message_4 built on an altered message_3"
        );
    }
}

/// RFC 9528 Section 3.5.3.2: the compact encoding of ID_CRED_x = {4: kid_x} "MUST be applied if
/// and only if" ID_CRED_x is {4: kid_x} and in PLAINTEXT_2 / PLAINTEXT_3. A PLAINTEXT carrying
/// the map form is therefore one no conforming peer sends: like the one-byte byte string h'32'
/// (rejected as `NotDeterministic`), it is an altered message and must be rejected by the step
/// that reads it.
#[test]
fn trace2_id_cred_kid_in_map_form_rejected() {
    let t = trace_2();
    let m2 = seal_plaintext_2(&t, &trace2_plaintext_with_map_form_id_cred(&t, 2));
    let r2 = initiator_reads_message_2(&t, &t.x, &mut m2.clone());
    let m3 = seal_aead(&t, 3, &trace2_plaintext_with_map_form_id_cred(&t, 3));
    let r3 = responder_reads_message_3(&t, &mut m3.clone());
    assert!(
        r2.is_err() && r3.is_err(),
        "map-form ID_CRED {{4: h'kid'}} accepted: read_message_2({}) -> {}, \
         read_message_3({}) -> {}",
        hex::encode(&m2),
        tally_result(&r2),
        hex::encode(&m3),
        tally_result(&r3)
    );
}

// ---------------------------------------------------------------------------------------------
// Pseudo-random inputs.

/// xorshift64, constant seeds: the same inputs on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.byte()).collect()
    }

    /// Random bytes of a random length in 0..300.
    fn random_input(&mut self) -> Vec<u8> {
        let len = self.below(300);
        self.bytes(len)
    }

    /// `seed` with 1 to 4 random edits: byte changes, CBOR-significant bytes, insertions,
    /// deletions, truncation, duplication.
    fn havoc(&mut self, seed: &[u8]) -> Vec<u8> {
        const INTERESTING: [u8; 20] = [
            0x00, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x20, 0x37, 0x38, 0x40, 0x58, 0x5b, 0x60,
            0x80, 0x9b, 0xa0, 0xa1, 0xf5, 0xff,
        ];
        let mut m = seed.to_vec();
        for _ in 0..1 + self.below(4) {
            let pos = if m.is_empty() { 0 } else { self.below(m.len()) };
            match self.below(7) {
                0 if !m.is_empty() => m[pos] = self.byte(),
                1 if !m.is_empty() => m[pos] = INTERESTING[self.below(INTERESTING.len())],
                2 => {
                    let b = INTERESTING[self.below(INTERESTING.len())];
                    m.insert(pos, b);
                }
                3 if !m.is_empty() => {
                    m.remove(pos);
                }
                4 => m.truncate(pos),
                5 if !m.is_empty() => {
                    let end = (pos + 1 + self.below(16)).min(m.len());
                    let chunk = m[pos..end].to_vec();
                    let at = self.below(m.len() + 1);
                    m.splice(at..at, chunk);
                }
                _ => {
                    let b = self.byte();
                    m.insert(pos, b);
                }
            }
        }
        m
    }

    /// A random CBOR item (well-formed, mostly deterministic), nested up to `depth`.
    fn cbor(&mut self, depth: usize, out: &mut Vec<u8>) {
        let head = |out: &mut Vec<u8>, major: u8, v: u64| {
            let mut buf = [0u8; 9];
            let n = ferrule_proto::cbor::encode_head(
                match major {
                    0 => ferrule_proto::cbor::MajorType::Unsigned,
                    1 => ferrule_proto::cbor::MajorType::Negative,
                    2 => ferrule_proto::cbor::MajorType::Bytes,
                    3 => ferrule_proto::cbor::MajorType::Text,
                    4 => ferrule_proto::cbor::MajorType::Array,
                    5 => ferrule_proto::cbor::MajorType::Map,
                    _ => ferrule_proto::cbor::MajorType::Tag,
                },
                v,
                &mut buf,
            );
            out.extend_from_slice(&buf[..n]);
        };
        let small = |r: &mut Self| match r.below(6) {
            0 => r.next(),
            1 => r.next() & 0xffff,
            _ => r.next() % 40,
        };
        let kind = if depth == 0 {
            self.below(5)
        } else {
            self.below(9)
        };
        match kind {
            0 | 1 => {
                let v = small(self);
                head(out, kind as u8, v);
            }
            2 => {
                let len = [0, 1, 8, 32, 33, 64][self.below(6)];
                head(out, 2, len as u64);
                let b = self.bytes(len);
                out.extend(b);
            }
            3 => {
                let len = self.below(12);
                head(out, 3, len as u64);
                out.extend((0..len).map(|_| b'a' + (self.byte() % 26)));
            }
            4 => out.push([0xf4, 0xf5, 0xf6, 0xf7][self.below(4)]),
            5 | 6 => {
                let n = self.below(4);
                head(out, 4, n as u64);
                for _ in 0..n {
                    self.cbor(depth - 1, out);
                }
            }
            7 => {
                let n = self.below(3);
                head(out, 5, n as u64);
                for _ in 0..2 * n {
                    self.cbor(depth - 1, out);
                }
            }
            _ => {
                head(out, 6, self.below(40) as u64);
                self.cbor(depth - 1, out);
            }
        }
    }

    /// A CBOR sequence of 1 to 5 random items.
    fn cbor_sequence(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..1 + self.below(5) {
            let depth = self.below(4);
            self.cbor(depth, &mut out);
        }
        out
    }
}

/// Random inputs for a receiving state: pure random bytes, a byte string or integer head followed
/// by random bytes (to get past the first type check), and havoc edits of the real message.
fn state_inputs(rng: &mut XorShift, original: &[u8], count: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let (kind, input) = match out.len() % 4 {
            0 => ("random", rng.random_input()),
            1 => {
                let len = rng.below(120);
                ("random bstr", bstr(&rng.bytes(len)))
            }
            2 => {
                let mut m = vec![[0x00, 0x01, 0x02, 0x03, 0x20, 0x18][rng.below(6)]];
                m.extend(rng.cbor_sequence());
                ("error-like", m)
            }
            _ => ("havoc", rng.havoc(original)),
        };
        if input != original {
            out.push((format!("random input {} ({kind})", out.len()), input));
        }
    }
    out
}

fn random_to_states(t: &Trace, seed: u64, count: usize) {
    let mut rng = XorShift(seed);
    // read_message_1: random inputs must be rejected; havoc edits of message_1 may be valid
    // message_1s (another G_X, C_I, ...), but the handshake must not complete.
    let mut batch = Batch::default();
    for (label, input) in state_inputs(&mut rng, &t.message_1, count) {
        let havoc = label.ends_with("(havoc)");
        batch.run(&label, &input, |m| {
            if havoc {
                feed_altered(t, Received::Message1, m)
            } else {
                match Responder::new(&t.responder_config()).read_message_1(&mut crypto(&[]), m) {
                    Ok(_) => Err("read_message_1 accepted random bytes".into()),
                    Err(e) => Ok(tally(&e)),
                }
            }
        });
    }
    batch.finish(&format!("{} random -> responder read_message_1", t.name));

    for message in [Received::Message2, Received::Message3, Received::Message4] {
        let original = t.v.bytes(message.key());
        let mut batch = Batch::default();
        for (label, input) in state_inputs(&mut rng, &original, count) {
            batch.run(&label, &input, |m| feed_altered(t, message, m));
        }
        batch.finish(&format!("{} random -> {}", t.name, message.key()));
    }
}

#[test]
fn robustness_random_inputs_to_trace1_states() {
    random_to_states(&trace_1(), 0x5eed_0001, 2000);
}

#[test]
fn robustness_random_inputs_to_trace2_states() {
    random_to_states(&trace_2(), 0x5eed_0002, 600);
}

/// Random and havoc-edited plaintexts, encrypted with the trace's keys: PLAINTEXT_2 and
/// PLAINTEXT_3 must be rejected; PLAINTEXT_4 (EAD_4 only) may be accepted, and its known items
/// iterate.
fn random_plaintexts(t: &Trace, seed: u64, count: usize) {
    let mut rng = XorShift(seed);
    for n in [2u8, 3] {
        let original = t.v.bytes(&format!("PLAINTEXT_{n}"));
        let mut batch = Batch::default();
        let mut i = 0;
        while batch.cases < count {
            let plaintext = match i % 3 {
                0 => {
                    let len = rng.below(120);
                    rng.bytes(len)
                }
                1 => rng.cbor_sequence(),
                _ => rng.havoc(&original),
            };
            i += 1;
            if plaintext == original {
                continue;
            }
            let label = format!("{} random PLAINTEXT_{n} #{i}", t.name);
            batch.run(&label, &plaintext, |p| feed_plaintext(t, n, p));
        }
        batch.finish(&format!("{} random PLAINTEXT_{n} (encrypted)", t.name));
    }

    let mut batch = Batch::default();
    for i in 0..count {
        let plaintext = if i % 2 == 0 {
            rng.cbor_sequence()
        } else {
            // EAD-shaped: (label, ? bstr) items.
            let mut p = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let label = [0x00, 0x01, 0x02, 0x03, 0x20, 0x21, 0x22, 0x19][rng.below(8)];
                p.push(label);
                if label == 0x19 {
                    p.extend([rng.byte(), rng.byte()]);
                }
                if rng.below(2) == 0 {
                    let len = rng.below(10);
                    p.extend(bstr(&rng.bytes(len)));
                }
            }
            p
        };
        let label = format!("{} random PLAINTEXT_4 #{i}", t.name);
        batch.run(&label, &plaintext, |p| {
            let mut m4 = seal_aead(t, 4, p);
            let r = initiator_reads_message_4(t, &[1, 2], &mut m4);
            Ok(tally_result(&r))
        });
    }
    batch.finish(&format!("{} random PLAINTEXT_4 (encrypted)", t.name));
}

#[test]
fn robustness_random_plaintexts_trace1() {
    random_plaintexts(&trace_1(), 0x5eed_0003, 1000);
}

#[test]
fn robustness_random_plaintexts_trace2() {
    random_plaintexts(&trace_2(), 0x5eed_0004, 300);
}

/// Every standalone parser on one input; `Err(why)` if an accepted input breaks an invariant.
fn parse_all(input: &[u8]) -> Result<String, String> {
    let mut accepted = Vec::new();
    if let Ok(m1) = Message1::parse(input) {
        accepted.push("Message1");
        let mut out = vec![0u8; input.len() + 16];
        let n = m1
            .encode(&mut out)
            .map_err(|e| format!("Message1::encode failed: {e:?}"))?;
        if out[..n] != *input {
            return Err(format!(
                "Message1 does not re-encode to its input: {}",
                hex::encode(&out[..n])
            ));
        }
    }
    if let Ok(error) = ErrorMessage::parse(input) {
        accepted.push("ErrorMessage");
        let _ = error.to_error();
    }
    if let Ok(credential) = Credential::ccs(input) {
        accepted.push("Credential::ccs");
        if credential.public_x().len() != 32 {
            return Err("CCS credential with a key that is not 32 bytes".into());
        }
        let _ = (credential.id_by_kid(), credential.id_by_value());
    }
    let mut d = Decoder::new(input);
    if let Ok(id_cred) = IdCred::decode_plaintext(&mut d) {
        accepted.push("IdCred");
        if d.position() > input.len() {
            return Err("IdCred decoder past the end".into());
        }
        let mut out = vec![0u8; input.len() + 32];
        let mut e = Encoder::new(&mut out);
        id_cred
            .encode_plaintext(&mut e)
            .map_err(|e| format!("IdCred::encode_plaintext: {e:?}"))?;
        id_cred
            .encode_map(&mut out)
            .map_err(|e| format!("IdCred::encode_map: {e:?}"))?;
    }
    let mut d = Decoder::new(input);
    if let Ok(item) = d.skip() {
        accepted.push("skip");
        if !input.starts_with(item) || item.len() != d.position() || item.is_empty() {
            return Err(format!(
                "Decoder::skip returned {} at position {}",
                hex::encode(item),
                d.position()
            ));
        }
    }
    if let Ok(items) = EadItems::check(input, &[1, 2]) {
        accepted.push("EadItems");
        for item in items {
            if !(item.label == 1 || item.label == 2) {
                return Err(format!("EadItems yielded unknown label {}", item.label));
            }
        }
    }
    let mut d = Decoder::new(input);
    if ConnectionId::decode(&mut d).is_ok() {
        accepted.push("ConnectionId");
    }
    Ok(if accepted.is_empty() {
        "Err".to_string()
    } else {
        format!("Ok: {}", accepted.join(","))
    })
}

#[test]
fn robustness_random_inputs_to_parsers() {
    let seeds: Vec<Vec<u8>> = {
        let (v1, v2) = (
            Vectors::load("rfc9529-trace1.json"),
            Vectors::load("rfc9529-trace2.json"),
        );
        let mut s = Vec::new();
        for v in [&v1, &v2] {
            for key in [
                "message_1",
                "PLAINTEXT_2",
                "PLAINTEXT_3",
                "ID_CRED_I",
                "ID_CRED_R",
            ] {
                s.push(v.bytes(key));
            }
        }
        for key in ["CRED_I", "CRED_R", "message_1 (first time)", "error"] {
            s.push(v2.bytes(key));
        }
        s.push(vec![0x01, 0x63, b'a', b'b', b'c']);
        s.push(vec![0x03, 0xf5]);
        s.push(vec![0x02, 0x82, 0x00, 0x02]);
        s.push(vec![0x01, 0x41, 0xff, 0x22, 0x02, 0x42, 0x00, 0x01]);
        s
    };
    let mut rng = XorShift(0x5eed_0005);
    let mut batch = Batch::default();
    let count = 30_000;
    for i in 0..count {
        let input = match i % 3 {
            0 => rng.random_input(),
            1 => rng.cbor_sequence(),
            _ => {
                let seed = &seeds[rng.below(seeds.len())];
                rng.havoc(seed)
            }
        };
        batch.run(&format!("parsers #{i}"), &input, |m| parse_all(m));
    }
    // The seeds themselves, every truncation and byte flip of them.
    for seed in &seeds {
        for (label, input) in truncations(seed).into_iter().chain(byte_flips(seed)) {
            batch.run(&format!("parsers {label}"), &input, |m| parse_all(m));
        }
    }
    batch.finish("random -> standalone parsers");
}

/// Inputs that stress lengths and nesting: huge declared lengths and counts, deep nesting, and
/// non-preferred heads, for each parser.
#[test]
fn robustness_edge_inputs_to_parsers() {
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0xbb, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
        vec![0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        vec![
            0xa1, 0x0e, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
        vec![
            0xa1, 0x18, 0x22, 0x82, 0x2e, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
        vec![
            0x82, 0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00,
        ],
        vec![0x89, 0, 1, 2, 3, 4, 5, 6, 7, 8],
        vec![0x8a, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        vec![0x81, 0x00],
        vec![0x80],
        vec![0x1f],
        vec![0x5f, 0xff],
        vec![0xf8, 0x10],
        vec![0xf9, 0x00, 0x00],
        vec![0x18, 0x05],
        vec![0x21, 0x3a, 0x80, 0x00, 0x00, 0x00, 0x58, 0x20],
        vec![0x02, 0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00],
        vec![0x01, 0x7b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00],
        vec![0x01, 0x62, 0xc3, 0x28],
        vec![0x20, 0x41, 0x00],
        vec![0x38, 0x18],
        vec![0x39, 0xff, 0xff],
    ];
    for depth in [7usize, 8, 9, 10, 64, 1000] {
        inputs.push([vec![0x81; depth], vec![0x00]].concat());
        inputs.push([vec![0xc6; depth], vec![0x00]].concat());
        inputs.push([[0xa1, 0x00].repeat(depth), vec![0x00]].concat());
    }
    // CCS shapes: a map claiming many claims, nested cnf maps, a COSE_Key with a huge count.
    inputs.push(vec![0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x02, 0x60]);
    inputs.push(vec![
        0xa1, 0x08, 0xa1, 0x01, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    inputs.push(vec![
        0xa1, 0x08, 0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    let mut batch = Batch::default();
    for (i, input) in inputs.iter().enumerate() {
        batch.run(&format!("edge input {i}"), input, |m| parse_all(m));
    }
    batch.finish("edge inputs -> standalone parsers");
}
