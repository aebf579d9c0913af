//! RFC 9529 traces 1 and 2, byte for byte, from the initiator's and from the responder's side.
//!
//! Each side runs against the recorded messages of the other, with its ephemeral key injected
//! through the RNG. A recording crypto provider captures every hash, HKDF, AEAD, DH and signature
//! input and output, so every intermediate value the trace lists is checked, not only the
//! messages.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod support;

use std::cell::RefCell;

use ferrule_proto::cbor::Decoder;
use ferrule_proto::cose::KeyType;
use ferrule_proto::edhoc::{
    write_error_message, CipherSuite, ConnectionId, ErrCode, Error, ErrorInfo, ErrorMessage,
    IdCred, Initiator, InitiatorConfig, Message1, Method, Responder, ResponderConfig,
    SingleCredential, SuiteList,
};
use support::{
    connection_id, replay_crypto, trace1_parties, trace2_parties, Party, Record, RecordingKey,
    Vectors,
};

/// Derived values of a trace, checked on each side (keys the trace lacks are skipped). The
/// messages themselves are compared directly.
const DERIVED: &[&str] = &[
    "message_1",
    "H(message_1)",
    "Input to calculate TH_2",
    "TH_2",
    "G_XY",
    "PRK_2e",
    "info for SALT_3e2m",
    "SALT_3e2m",
    "G_RX",
    "PRK_3e2m",
    "info for MAC_2",
    "MAC_2",
    "Message to be signed 2",
    "Signature_or_MAC_2",
    "info for KEYSTREAM_2",
    "KEYSTREAM_2",
    "Input to calculate TH_3",
    "TH_3",
    "info for SALT_4e3m",
    "SALT_4e3m",
    "G_IY",
    "PRK_4e3m",
    "info for MAC_3",
    "MAC_3",
    "Message to be signed 3",
    "Signature_or_MAC_3",
    "PLAINTEXT_3",
    "A_3",
    "info for K_3",
    "K_3",
    "info for IV_3",
    "IV_3",
    "CIPHERTEXT_3",
    "Input to calculate TH_4",
    "TH_4",
    "A_4",
    "info for K_4",
    "K_4",
    "info for IV_4",
    "IV_4",
    "CIPHERTEXT_4",
    "info for PRK_out",
    "PRK_out",
    "info for PRK_exporter",
    "PRK_exporter",
    "info for OSCORE Master Secret",
    "OSCORE Master Secret",
    "info for OSCORE Master Salt",
    "OSCORE Master Salt",
    "PRK_out after KeyUpdate",
    "PRK_exporter after KeyUpdate",
    "OSCORE Master Secret after KeyUpdate",
    "OSCORE Master Salt after KeyUpdate",
];

/// Checks every derived value of `v` against what one side computed.
fn assert_derived(v: &Vectors, side: &str, record: &Record) {
    let mut checked = 0;
    for key in DERIVED {
        if !v.has(key) {
            continue;
        }
        let value = v.bytes(key);
        assert!(
            record.contains(&value),
            "{side}: {key} = {} was never computed",
            hex::encode(&value)
        );
        checked += 1;
    }
    // context_2 / context_3 are the byte-string context inside their info.
    for (context, info) in [
        ("context_2", "info for MAC_2"),
        ("context_3", "info for MAC_3"),
    ] {
        let (c, i) = (v.bytes(context), v.bytes(info));
        assert!(
            i.windows(c.len()).any(|w| w == c),
            "{side}: {context} not in {info}"
        );
    }
    // PLAINTEXT_2 = CIPHERTEXT_2 XOR KEYSTREAM_2, and CIPHERTEXT_2 ends message_2.
    let (p2, k2, c2) = (
        v.bytes("PLAINTEXT_2"),
        v.bytes("KEYSTREAM_2"),
        v.bytes("CIPHERTEXT_2"),
    );
    let xored: Vec<u8> = p2.iter().zip(&k2).map(|(p, k)| p ^ k).collect();
    assert_eq!(xored, c2, "{side}: CIPHERTEXT_2");
    assert!(v.bytes("message_2").ends_with(&c2));
    assert!(checked >= 40, "{side}: only {checked} values checked");
}

struct Trace {
    v: Vectors,
    method: Method,
    x509: bool,
    key_type: KeyType,
    initiator: Party,
    responder: Party,
    initiator_suites: SuiteList,
    responder_suites: SuiteList,
}

fn trace_1() -> Trace {
    let v = Vectors::load("rfc9529-trace1.json");
    let (initiator, responder) = trace1_parties(&v);
    Trace {
        initiator,
        responder,
        method: Method::SignSign,
        x509: true,
        key_type: KeyType::Ed25519,
        initiator_suites: SuiteList::from_suites(&[CipherSuite::Suite0]).unwrap(),
        responder_suites: SuiteList::from_suites(&[CipherSuite::Suite0]).unwrap(),
        v,
    }
}

fn trace_2() -> Trace {
    let v = Vectors::load("rfc9529-trace2.json");
    let (initiator, responder) = trace2_parties(&v);
    Trace {
        initiator,
        responder,
        method: Method::StaticStatic,
        x509: false,
        key_type: KeyType::P256,
        // The initiator prefers suite 6 (which Ferrule lists but does not implement), then 2.
        initiator_suites: SuiteList::from_suites(&[CipherSuite::Unknown(6), CipherSuite::Suite2])
            .unwrap(),
        responder_suites: SuiteList::from_suites(&[CipherSuite::Suite2]).unwrap(),
        v,
    }
}

/// The initiator's side: our messages 1 and 3 equal the trace's, given its messages 2 and 4.
fn run_initiator(t: &Trace) {
    let v = &t.v;
    let record = RefCell::new(Record::default());
    let key = RecordingKey {
        inner: &t.initiator.key,
        record: &record,
    };
    let config = InitiatorConfig {
        method: t.method,
        suites: t.initiator_suites,
        c_i: connection_id(v, "C_I"),
        key: &key,
        credential: t.initiator.credential(t.x509, t.key_type),
        id_cred: t.initiator.id_cred(),
        known_ead: &[],
    };
    let mut crypto = replay_crypto(&v.bytes("X"));
    let mut server = SingleCredential(t.responder.credential(t.x509, t.key_type));

    let start = Initiator::new(&config).unwrap();
    let mut m1 = [0u8; 64];
    let (wait, n1) = start.write_message_1(&mut crypto, &[], &mut m1).unwrap();
    assert_eq!(
        hex::encode(&m1[..n1]),
        hex::encode(v.bytes("message_1")),
        "message_1"
    );

    let mut m2 = v.bytes("message_2");
    let (verified, info) = wait
        .read_message_2(&mut crypto, &mut server, &mut m2)
        .unwrap();
    assert_eq!(info.c_r, connection_id(v, "C_R"));
    assert_eq!(info.id_cred_r, t.responder.id_cred());
    assert_eq!(info.ead_2.count(), 0);

    let mut m3 = [0u8; 256];
    let (wait4, n3) = verified.write_message_3(&mut crypto, &[], &mut m3).unwrap();
    assert_eq!(
        hex::encode(&m3[..n3]),
        hex::encode(v.bytes("message_3")),
        "message_3"
    );

    let mut m4 = v.bytes("message_4");
    let (mut session, ead4) = wait4.read_message_4(&mut crypto, &[], &mut m4).unwrap();
    assert_eq!(ead4.count(), 0);
    check_session(t, &mut crypto, &mut session, true);
    crypto.record.values.extend(record.into_inner().values);
    assert_derived(v, "initiator", &crypto.record);
}

/// The responder's side: our messages 2 and 4 equal the trace's, given its messages 1 and 3.
fn run_responder(t: &Trace) {
    let v = &t.v;
    let record = RefCell::new(Record::default());
    let key = RecordingKey {
        inner: &t.responder.key,
        record: &record,
    };
    let config = ResponderConfig {
        methods: &Method::ALL,
        suites: t.responder_suites,
        key: &key,
        credential: t.responder.credential(t.x509, t.key_type),
        id_cred: t.responder.id_cred(),
        known_ead: &[],
    };
    let mut crypto = replay_crypto(&v.bytes("Y"));
    let mut device = SingleCredential(t.initiator.credential(t.x509, t.key_type));

    let m1 = v.bytes("message_1");
    let (got1, info) = Responder::new(&config)
        .read_message_1(&mut crypto, &m1)
        .unwrap();
    assert_eq!(info.c_i, connection_id(v, "C_I"));
    assert_eq!(info.method, t.method);

    let mut m2 = [0u8; 256];
    let (wait3, n2) = got1
        .write_message_2(&mut crypto, connection_id(v, "C_R"), &[], &mut m2)
        .unwrap();
    assert_eq!(
        hex::encode(&m2[..n2]),
        hex::encode(v.bytes("message_2")),
        "message_2"
    );

    let mut m3 = v.bytes("message_3");
    let (verified, info) = wait3
        .read_message_3(&mut crypto, &mut device, &mut m3)
        .unwrap();
    assert_eq!(info.id_cred_i, t.initiator.id_cred());

    let mut m4 = [0u8; 64];
    let (mut session, n4) = verified.write_message_4(&mut crypto, &[], &mut m4).unwrap();
    assert_eq!(
        hex::encode(&m4[..n4]),
        hex::encode(v.bytes("message_4")),
        "message_4"
    );
    check_session(t, &mut crypto, &mut session, false);
    crypto.record.values.extend(record.into_inner().values);
    assert_derived(v, "responder", &crypto.record);
}

fn check_session<C: ferrule_proto::crypto::Crypto>(
    t: &Trace,
    crypto: &mut C,
    session: &mut ferrule_proto::edhoc::Established,
    initiator: bool,
) {
    let v = &t.v;
    assert_eq!(session.prk_out().as_bytes().as_slice(), v.bytes("PRK_out"));
    let oscore = session.oscore_parameters(crypto).unwrap();
    assert_eq!(
        oscore.master_secret.as_slice(),
        v.bytes("OSCORE Master Secret")
    );
    assert_eq!(oscore.master_salt.as_slice(), v.bytes("OSCORE Master Salt"));
    let (client, server) = (
        v.bytes("Client's OSCORE Sender ID"),
        v.bytes("Server's OSCORE Sender ID"),
    );
    let (ours, theirs) = if initiator {
        (client, server)
    } else {
        (server, client)
    };
    assert_eq!(oscore.sender_id.as_bytes(), ours);
    assert_eq!(oscore.recipient_id.as_bytes(), theirs);

    session
        .key_update(crypto, &v.bytes("context for KeyUpdate"))
        .unwrap();
    assert_eq!(
        session.prk_out().as_bytes().as_slice(),
        v.bytes("PRK_out after KeyUpdate")
    );
    let oscore = session.oscore_parameters(crypto).unwrap();
    assert_eq!(
        oscore.master_secret.as_slice(),
        v.bytes("OSCORE Master Secret after KeyUpdate")
    );
    assert_eq!(
        oscore.master_salt.as_slice(),
        v.bytes("OSCORE Master Salt after KeyUpdate")
    );
}

#[test]
fn rfc9529_trace1_initiator() {
    run_initiator(&trace_1());
}

#[test]
fn rfc9529_trace1_responder() {
    run_responder(&trace_1());
}

#[test]
fn rfc9529_trace1_x5t_is_the_certificate_thumbprint() {
    let t = trace_1();
    let mut crypto = replay_crypto(&[]);
    for party in [&t.initiator, &t.responder] {
        let mut out = [0u8; 8];
        assert_eq!(
            IdCred::x5t_of(&mut crypto, &party.credential, &mut out),
            party.id_cred()
        );
    }
}

#[test]
fn rfc9529_trace2_initiator() {
    run_initiator(&trace_2());
}

#[test]
fn rfc9529_trace2_responder() {
    run_responder(&trace_2());
}

/// The first message_1 of trace 2 (SUITES_I = 6) is rejected with ERR_CODE 2 and SUITES_R = 2.
#[test]
fn rfc9529_trace2_first_message_1_rejected_with_suites_r() {
    let t = trace_2();
    let v = &t.v;
    let config = ResponderConfig {
        methods: &Method::ALL,
        suites: t.responder_suites,
        key: &t.responder.key,
        credential: t.responder.credential(false, KeyType::P256),
        id_cred: t.responder.id_cred(),
        known_ead: &[],
    };
    let mut crypto = replay_crypto(&[]);
    let first = v.bytes("message_1 (first time)");
    let err = Responder::new(&config)
        .read_message_1(&mut crypto, &first)
        .err()
        .unwrap();
    assert_eq!(err, Error::UnsupportedSuite(CipherSuite::Unknown(6)));
    assert_eq!(err.err_code(), Some(ErrCode::WrongSelectedSuite));
    let mut out = [0u8; 16];
    let n = write_error_message(
        ErrCode::WrongSelectedSuite,
        err.reason(),
        &t.responder_suites,
        &mut out,
    )
    .unwrap();
    assert_eq!(&out[..n], v.bytes("error"));
    assert_eq!(v.bytes("SUITES_R"), [0x02]);
}

/// The initiator's side of the rejected attempt: the first message_1 as the codec writes it
/// (Ferrule itself never selects suite 6, which it does not implement), the error message as
/// received, and the retry that selects suite 2 and lists SUITES_I = [6, 2].
#[test]
fn rfc9529_trace2_initiator_retries_after_error() {
    let t = trace_2();
    let v = &t.v;
    let mut crypto = replay_crypto(&v.bytes("X (first time)"));
    let (_, g_x) = ferrule_proto::crypto::Crypto::generate_ephemeral(
        &mut crypto,
        ferrule_proto::crypto::Curve::P256,
    )
    .unwrap();
    assert_eq!(g_x.0.as_slice(), v.bytes("G_X (first time)"));
    let first = Message1 {
        method: 3,
        suites: t.initiator_suites.truncated(1),
        g_x: &g_x.0,
        c_i: ConnectionId::decode(&mut Decoder::new(
            &v.bytes("C_I (CBOR Data Item) (first time)"),
        ))
        .unwrap(),
        ead: &[],
    };
    let mut m1 = [0u8; 64];
    let n = first.encode(&mut m1).unwrap();
    assert_eq!(&m1[..n], v.bytes("message_1 (first time)"));

    let error = v.bytes("error");
    let parsed = ErrorMessage::parse(&error).unwrap();
    assert_eq!(parsed.code, 2);
    let ErrorInfo::Suites(suites_r) = parsed.info else {
        panic!("no SUITES_R")
    };

    let config = InitiatorConfig {
        method: Method::StaticStatic,
        suites: t.initiator_suites,
        c_i: connection_id(v, "C_I"),
        key: &t.initiator.key,
        credential: t.initiator.credential(false, KeyType::P256),
        id_cred: t.initiator.id_cred(),
        known_ead: &[],
    };
    // The state machine surfaces the error message as Error::Peer with its ERR_CODE.
    let mut crypto = replay_crypto(&[v.bytes("X (first time)"), v.bytes("X")].concat());
    let mut out = [0u8; 64];
    let (wait, _) = Initiator::new(&config)
        .unwrap()
        .write_message_1(&mut crypto, &[], &mut out)
        .unwrap();
    let mut server = SingleCredential(t.responder.credential(false, KeyType::P256));
    let mut error_copy = error.clone();
    let Err(Error::Peer { code: 2 }) =
        wait.read_message_2(&mut crypto, &mut server, &mut error_copy)
    else {
        panic!("error message not surfaced");
    };
    // Error::Peer carries ERR_CODE only; SUITES_R is read from the (unaltered) message.
    let ErrorInfo::Suites(suites) = ErrorMessage::parse(&error_copy).unwrap().info else {
        panic!("no SUITES_R in the surfaced error message")
    };
    assert_eq!(suites, suites_r);

    let retry = Initiator::after_suite_error(&config, &suites).unwrap();
    assert_eq!(retry.suite(), CipherSuite::Suite2);
    let (_, n) = retry.write_message_1(&mut crypto, &[], &mut out).unwrap();
    assert_eq!(&out[..n], v.bytes("message_1"));
}
