//! In-process interoperability with `lakers` 0.8 (another EDHOC implementation, RFC 9528), with
//! `lakers-crypto-rustcrypto` as its crypto backend.
//!
//! Method 3 (static DH / static DH), cipher suite 2 (P-256), CCS credentials. Messages travel as
//! bytes between the two implementations; each run checks that both sides agree on PRK_out, on
//! the OSCORE Master Secret and Master Salt (EDHOC_Exporter labels 0 and 1, empty context), on
//! C_I / C_R and the identified credentials, that message_4 verifies, and that EDHOC_KeyUpdate
//! keeps them in step. The RFC 9529 trace 2 runs additionally pin every message byte for byte
//! where the two implementations can reproduce the trace.

// Test code: unwraps and panics are the assertions (as `#![cfg_attr(test, ...)]` in the library).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod support;

use ferrule_crypto::{RustCrypto, SoftwareKey};
use ferrule_proto::cbor::Decoder;
use ferrule_proto::cose::{Ccs, CoseKey, KeyType};
use ferrule_proto::crypto::Crypto;
use ferrule_proto::edhoc::{
    CipherSuite, ConnectionId, Credential, IdCred, Initiator, InitiatorConfig, Method, Responder,
    ResponderConfig, SingleCredential, SuiteList,
};
use lakers::{
    credential_check_or_fetch, ConnId, CredentialTransfer, EDHOCMethod, EDHOCSuite, EdhocInitiator,
    EdhocMessageBuffer, EdhocResponder,
};
use support::{ReplayRng, TestRng, Vectors};

/// A long-term P-256 static DH identity: the key and its CCS (which carries a kid).
struct Identity {
    key: SoftwareKey,
    ccs: Vec<u8>,
    kid: Vec<u8>,
}

impl Identity {
    /// A fresh key in a CCS `{2: subject, 8: {1: COSE_Key with kid}}`.
    fn generate(rng: &mut TestRng, subject: &str, kid: &[u8]) -> Self {
        let key = SoftwareKey::generate_p256(rng).unwrap();
        let (x, y) = (key.public_key(), key.public_key_y().unwrap());
        let mut buf = [0u8; 192];
        let n = Ccs {
            subject: Some(subject),
            key: CoseKey {
                key_type: KeyType::P256,
                kid: Some(kid),
                x: &x,
                y: Some(&y),
            },
        }
        .encode(&mut buf)
        .unwrap();
        Self {
            key,
            ccs: buf[..n].to_vec(),
            kid: kid.to_vec(),
        }
    }

    /// The identity of RFC 9529 trace 2 (`sk` = SK_I / SK_R, `cred` = CRED_I / CRED_R).
    fn from_trace(v: &Vectors, sk: &str, cred: &str, id_cred: &str) -> Self {
        let ccs = v.bytes(cred);
        let kid = Credential::ccs(&ccs).unwrap().kid().unwrap().to_vec();
        // The trace's ID_CRED_x is {4: kid} for this CCS.
        let mut map = [0u8; 16];
        let n = IdCred::Kid(&kid).encode_map(&mut map).unwrap();
        assert_eq!(&map[..n], v.bytes(id_cred), "{id_cred}");
        Self {
            key: SoftwareKey::p256_from_bytes(&v.array(sk)).unwrap(),
            ccs,
            kid,
        }
    }

    fn ferrule_credential(&self) -> Credential<'_> {
        Credential::ccs(&self.ccs).unwrap()
    }

    fn ferrule_id_cred(&self, transfer: CredentialTransfer) -> IdCred<'_> {
        match transfer {
            CredentialTransfer::ByReference => IdCred::Kid(&self.kid),
            CredentialTransfer::ByValue => IdCred::ByValue(&self.ccs),
        }
    }

    fn lakers_credential(&self) -> lakers::Credential {
        let cred = lakers::Credential::parse_ccs(&self.ccs).unwrap();
        assert_eq!(cred.kid.unwrap().as_slice(), self.kid.as_slice());
        assert_eq!(cred.public_key(), Some(self.key.public_key()));
        cred
    }

    fn lakers_private_key(&self) -> [u8; 32] {
        *self.key.to_bytes()
    }

    /// The full ID_CRED map as lakers builds it, which must equal Ferrule's.
    fn check_id_cred_map(&self, transfer: CredentialTransfer, received: &lakers::IdCred) {
        let mut map = [0u8; 256];
        let n = self.ferrule_id_cred(transfer).encode_map(&mut map).unwrap();
        assert_eq!(
            hex::encode(received.as_full_value()),
            hex::encode(&map[..n]),
            "ID_CRED map"
        );
    }
}

/// What one handshake between the two implementations produced.
#[derive(Default)]
struct Run {
    message_1: Vec<u8>,
    message_2: Vec<u8>,
    message_3: Vec<u8>,
    message_4: Vec<u8>,
    prk_out: [u8; 32],
    master_secret: [u8; 16],
    master_salt: [u8; 8],
}

/// The connection identifiers of a run, as byte strings (the OSCORE Sender / Recipient IDs).
struct Ids<'a> {
    c_i: &'a [u8],
    c_r: &'a [u8],
}

fn suite_2() -> SuiteList {
    SuiteList::from_suites(&[CipherSuite::Suite2]).unwrap()
}

fn buffer(bytes: &[u8]) -> EdhocMessageBuffer {
    EdhocMessageBuffer::new_from_slice(bytes).unwrap()
}

fn lakers_conn_id(bytes: &[u8]) -> ConnId {
    let id = ConnId::from_slice(bytes).unwrap();
    assert_eq!(id.as_slice(), bytes);
    id
}

/// The completed lakers side (initiator or responder).
trait LakersDone {
    fn exporter(&mut self, label: u8, len: usize) -> Vec<u8>;
    fn key_update(&mut self, context: &[u8]) -> [u8; 32];
}

impl<L: lakers::CryptoTrait> LakersDone for lakers::EdhocInitiatorDone<L> {
    fn exporter(&mut self, label: u8, len: usize) -> Vec<u8> {
        self.edhoc_exporter(label, &[], len)[..len].to_vec()
    }
    fn key_update(&mut self, context: &[u8]) -> [u8; 32] {
        self.edhoc_key_update(context)
    }
}

impl<L: lakers::CryptoTrait> LakersDone for lakers::EdhocResponderDone<L> {
    fn exporter(&mut self, label: u8, len: usize) -> Vec<u8> {
        self.edhoc_exporter(label, &[], len)[..len].to_vec()
    }
    fn key_update(&mut self, context: &[u8]) -> [u8; 32] {
        self.edhoc_key_update(context)
    }
}

/// Checks that both sides agree on PRK_out, the OSCORE parameters (before and after a
/// KeyUpdate) and the connection identifiers; records the session keys in `run`.
fn check_session<C: Crypto>(
    crypto: &mut C,
    session: &mut ferrule_proto::edhoc::Established,
    initiator: bool,
    ids: &Ids<'_>,
    lakers_prk_out: &[u8; 32],
    lakers: &mut impl LakersDone,
    run: &mut Run,
) {
    assert_eq!(session.prk_out().as_bytes(), lakers_prk_out, "PRK_out");
    assert_eq!(session.c_i().as_bytes(), ids.c_i);
    assert_eq!(session.c_r().as_bytes(), ids.c_r);

    let oscore = session.oscore_parameters(crypto).unwrap();
    assert_eq!(
        oscore.master_secret.as_slice(),
        lakers.exporter(0, 16),
        "Master Secret"
    );
    assert_eq!(
        oscore.master_salt.as_slice(),
        lakers.exporter(1, 8),
        "Master Salt"
    );
    // Appendix A.1: the initiator (client) sends with C_R, the responder (server) with C_I.
    let (sender, recipient) = if initiator {
        (ids.c_r, ids.c_i)
    } else {
        (ids.c_i, ids.c_r)
    };
    assert_eq!(oscore.sender_id.as_bytes(), sender);
    assert_eq!(oscore.recipient_id.as_bytes(), recipient);
    run.prk_out = *session.prk_out().as_bytes();
    run.master_secret = oscore.master_secret;
    run.master_salt = oscore.master_salt;

    // Another exporter label and length agree as well.
    let mut other = [0u8; 32];
    session.exporter(crypto, 23, &[], &mut other).unwrap();
    assert_eq!(other.as_slice(), lakers.exporter(23, 32));

    let context = [0xa0, 0x11, 0x58, 0xfd, 0xb8, 0x20, 0x89, 0x0c];
    session.key_update(crypto, &context).unwrap();
    assert_eq!(
        session.prk_out().as_bytes(),
        &lakers.key_update(&context),
        "PRK_out after KeyUpdate"
    );
    let oscore = session.oscore_parameters(crypto).unwrap();
    assert_eq!(oscore.master_secret.as_slice(), lakers.exporter(0, 16));
    assert_eq!(oscore.master_salt.as_slice(), lakers.exporter(1, 8));
}

/// lakers initiator with a Ferrule responder.
fn lakers_initiator_ferrule_responder<L: lakers::CryptoTrait, C: Crypto>(
    lakers_crypto: L,
    crypto: &mut C,
    initiator: &Identity,
    responder: &Identity,
    ids: &Ids<'_>,
    transfer: CredentialTransfer,
) -> Run {
    let mut run = Run::default();
    let config = ResponderConfig {
        methods: &[Method::StaticStatic],
        suites: suite_2(),
        key: &responder.key,
        credential: responder.ferrule_credential(),
        id_cred: responder.ferrule_id_cred(transfer),
        known_ead: &[],
    };

    // message_1: lakers -> Ferrule
    let lakers_i = EdhocInitiator::new(
        lakers_crypto,
        EDHOCMethod::StatStat,
        EDHOCSuite::CipherSuite2,
    );
    let (lakers_i, m1) = lakers_i
        .prepare_message_1(Some(lakers_conn_id(ids.c_i)), &None)
        .unwrap();
    run.message_1 = m1.as_slice().to_vec();
    let (got_1, info_1) = Responder::new(&config)
        .read_message_1(crypto, m1.as_slice())
        .unwrap();
    assert_eq!(info_1.method, Method::StaticStatic);
    assert_eq!(info_1.suite, CipherSuite::Suite2);
    assert_eq!(info_1.c_i.as_bytes(), ids.c_i);
    assert_eq!(info_1.ead_1.count(), 0);

    // message_2: Ferrule -> lakers
    let mut m2 = [0u8; 256];
    let (wait_3, n2) = got_1
        .write_message_2(crypto, ConnectionId::new(ids.c_r).unwrap(), &[], &mut m2)
        .unwrap();
    run.message_2 = m2[..n2].to_vec();
    let (mut lakers_i, c_r, id_cred_r, ead_2) =
        lakers_i.parse_message_2(&buffer(&m2[..n2])).unwrap();
    assert_eq!(c_r.as_slice(), ids.c_r);
    assert!(ead_2.is_none());
    assert_eq!(
        id_cred_r.reference_only(),
        transfer == CredentialTransfer::ByReference
    );
    responder.check_id_cred_map(transfer, &id_cred_r);
    let cred_r = credential_check_or_fetch(Some(responder.lakers_credential()), id_cred_r).unwrap();
    lakers_i
        .set_identity(
            initiator.lakers_private_key(),
            initiator.lakers_credential(),
        )
        .unwrap();
    let lakers_i = lakers_i.verify_message_2(cred_r).unwrap();

    // message_3: lakers -> Ferrule
    let (lakers_i, m3, lakers_prk_out) = lakers_i.prepare_message_3(transfer, &None).unwrap();
    run.message_3 = m3.as_slice().to_vec();
    let mut m3 = run.message_3.clone();
    let mut device = SingleCredential(initiator.ferrule_credential());
    let (verified, info_3) = wait_3.read_message_3(crypto, &mut device, &mut m3).unwrap();
    assert_eq!(info_3.id_cred_i, initiator.ferrule_id_cred(transfer));
    assert_eq!(info_3.ead_3.count(), 0);

    // message_4: Ferrule -> lakers
    let mut m4 = [0u8; 64];
    let (mut session, n4) = verified.write_message_4(crypto, &[], &mut m4).unwrap();
    run.message_4 = m4[..n4].to_vec();
    let (mut lakers_done, ead_4) = lakers_i.process_message_4(&buffer(&m4[..n4])).unwrap();
    assert!(ead_4.is_none());

    check_session(
        crypto,
        &mut session,
        false,
        ids,
        &lakers_prk_out,
        &mut lakers_done,
        &mut run,
    );
    run
}

/// Ferrule initiator with a lakers responder.
fn ferrule_initiator_lakers_responder<L: lakers::CryptoTrait, C: Crypto>(
    lakers_crypto: L,
    crypto: &mut C,
    suites: SuiteList,
    initiator: &Identity,
    responder: &Identity,
    ids: &Ids<'_>,
    transfer: CredentialTransfer,
) -> Run {
    let mut run = Run::default();
    let config = InitiatorConfig {
        method: Method::StaticStatic,
        suites,
        c_i: ConnectionId::new(ids.c_i).unwrap(),
        key: &initiator.key,
        credential: initiator.ferrule_credential(),
        id_cred: initiator.ferrule_id_cred(transfer),
        known_ead: &[],
    };
    let lakers_r = EdhocResponder::new(
        lakers_crypto,
        EDHOCMethod::StatStat,
        responder.lakers_private_key(),
        responder.lakers_credential(),
    );

    // message_1: Ferrule -> lakers
    let mut m1 = [0u8; 128];
    let (wait_2, n1) = Initiator::new(&config)
        .unwrap()
        .write_message_1(crypto, &[], &mut m1)
        .unwrap();
    run.message_1 = m1[..n1].to_vec();
    let (lakers_r, c_i, ead_1) = lakers_r.process_message_1(&buffer(&m1[..n1])).unwrap();
    assert_eq!(c_i.as_slice(), ids.c_i);
    assert!(ead_1.is_none());

    // message_2: lakers -> Ferrule
    let (lakers_r, m2) = lakers_r
        .prepare_message_2(transfer, Some(lakers_conn_id(ids.c_r)), &None)
        .unwrap();
    run.message_2 = m2.as_slice().to_vec();
    let mut m2 = run.message_2.clone();
    let mut server = SingleCredential(responder.ferrule_credential());
    let (verified, info_2) = wait_2.read_message_2(crypto, &mut server, &mut m2).unwrap();
    assert_eq!(info_2.c_r.as_bytes(), ids.c_r);
    assert_eq!(info_2.id_cred_r, responder.ferrule_id_cred(transfer));
    assert_eq!(info_2.ead_2.count(), 0);

    // message_3: Ferrule -> lakers
    let mut m3 = [0u8; 256];
    let (wait_4, n3) = verified.write_message_3(crypto, &[], &mut m3).unwrap();
    run.message_3 = m3[..n3].to_vec();
    let (lakers_r, id_cred_i, ead_3) = lakers_r.parse_message_3(&buffer(&m3[..n3])).unwrap();
    assert!(ead_3.is_none());
    assert_eq!(
        id_cred_i.reference_only(),
        transfer == CredentialTransfer::ByReference
    );
    initiator.check_id_cred_map(transfer, &id_cred_i);
    let cred_i = credential_check_or_fetch(Some(initiator.lakers_credential()), id_cred_i).unwrap();
    let (lakers_r, lakers_prk_out) = lakers_r.verify_message_3(cred_i).unwrap();

    // message_4: lakers -> Ferrule
    let (mut lakers_done, m4) = lakers_r.prepare_message_4(&None).unwrap();
    run.message_4 = m4.as_slice().to_vec();
    let mut m4 = run.message_4.clone();
    let (mut session, ead_4) = wait_4.read_message_4(crypto, &[], &mut m4).unwrap();
    assert_eq!(ead_4.count(), 0);

    check_session(
        crypto,
        &mut session,
        true,
        ids,
        &lakers_prk_out,
        &mut lakers_done,
        &mut run,
    );
    run
}

#[test]
fn lakers_initiator_with_ferrule_responder() {
    let mut rng = TestRng::new(0x1a4e);
    // kid h'0a' travels as the CBOR int 10, kid h'a0' as the byte string h'a0'.
    let initiator = Identity::generate(&mut rng, "device.example", &[0x0a]);
    let responder = Identity::generate(&mut rng, "server.example", &[0xa0]);
    // C_I = -3 (compact), C_R = h'ff01' (byte string).
    let ids = Ids {
        c_i: &[0x22],
        c_r: &[0xff, 0x01],
    };
    let run = lakers_initiator_ferrule_responder(
        lakers_crypto_rustcrypto::Crypto::new(TestRng::new(1)),
        &mut support::seeded_crypto(2),
        &initiator,
        &responder,
        &ids,
        CredentialTransfer::ByReference,
    );
    // message_1 = (3, 2, bstr G_X, -3): SUITES_I is the single int 2.
    assert_eq!(run.message_1[..4], [0x03, 0x02, 0x58, 0x20]);
    assert_eq!(run.message_1[36..], [0x22]);
}

#[test]
fn ferrule_initiator_with_lakers_responder() {
    let mut rng = TestRng::new(0x2b5f);
    // kid h'1234' travels as a byte string, kid h'2d' as the CBOR int -14.
    let initiator = Identity::generate(&mut rng, "device.example", &[0x12, 0x34]);
    let responder = Identity::generate(&mut rng, "server.example", &[0x2d]);
    // C_I = h'ab' (byte string, not an int encoding), C_R = 5 (compact).
    let ids = Ids {
        c_i: &[0xab],
        c_r: &[0x05],
    };
    let run = ferrule_initiator_lakers_responder(
        lakers_crypto_rustcrypto::Crypto::new(TestRng::new(3)),
        &mut support::seeded_crypto(4),
        suite_2(),
        &initiator,
        &responder,
        &ids,
        CredentialTransfer::ByReference,
    );
    assert_eq!(run.message_1[..4], [0x03, 0x02, 0x58, 0x20]);
    assert_eq!(run.message_1[36..], [0x41, 0xab]);
}

/// ID_CRED_x = {14: CCS} (credential by value) in both directions.
#[test]
fn lakers_credentials_by_value_both_directions() {
    let mut rng = TestRng::new(0x3c60);
    let initiator = Identity::generate(&mut rng, "device.example", &[0x07]);
    let responder = Identity::generate(&mut rng, "server.example", &[0x08]);
    let ids = Ids {
        c_i: &[0x0e],
        c_r: &[0x27],
    };
    lakers_initiator_ferrule_responder(
        lakers_crypto_rustcrypto::Crypto::new(TestRng::new(5)),
        &mut support::seeded_crypto(6),
        &initiator,
        &responder,
        &ids,
        CredentialTransfer::ByValue,
    );
    ferrule_initiator_lakers_responder(
        lakers_crypto_rustcrypto::Crypto::new(TestRng::new(7)),
        &mut support::seeded_crypto(8),
        suite_2(),
        &initiator,
        &responder,
        &ids,
        CredentialTransfer::ByValue,
    );
}

fn trace_2() -> (Vectors, Identity, Identity, Vec<u8>, Vec<u8>) {
    let v = Vectors::load("rfc9529-trace2.json");
    let initiator = Identity::from_trace(&v, "SK_I", "CRED_I", "ID_CRED_I");
    let responder = Identity::from_trace(&v, "SK_R", "CRED_R", "ID_CRED_R");
    let c_id = |key: &str| {
        ConnectionId::decode(&mut Decoder::new(
            &v.bytes(&format!("{key} (CBOR Data Item)")),
        ))
        .unwrap()
        .as_bytes()
        .to_vec()
    };
    let (c_i, c_r) = (c_id("C_I"), c_id("C_R"));
    (v, initiator, responder, c_i, c_r)
}

fn assert_trace_session(v: &Vectors, run: &Run) {
    assert_eq!(hex::encode(run.prk_out), hex::encode(v.bytes("PRK_out")));
    assert_eq!(
        hex::encode(run.master_secret),
        hex::encode(v.bytes("OSCORE Master Secret"))
    );
    assert_eq!(
        hex::encode(run.master_salt),
        hex::encode(v.bytes("OSCORE Master Salt"))
    );
}

/// RFC 9529 trace 2 with a Ferrule initiator (X, SUITES_I = [6, 2], C_I = -24) and a lakers
/// responder (Y, C_R = -8): every message and the session keys are the trace's, byte for byte.
#[test]
fn rfc9529_trace2_ferrule_initiator_with_lakers_responder() {
    let (v, initiator, responder, c_i, c_r) = trace_2();
    let ids = Ids {
        c_i: &c_i,
        c_r: &c_r,
    };
    let suites = SuiteList::from_suites(&[CipherSuite::Unknown(6), CipherSuite::Suite2]).unwrap();
    let run = ferrule_initiator_lakers_responder(
        lakers_crypto_rustcrypto::Crypto::new(ReplayRng::new(&v.bytes("Y"))),
        &mut RustCrypto::new(ReplayRng::new(&v.bytes("X"))),
        suites,
        &initiator,
        &responder,
        &ids,
        CredentialTransfer::ByReference,
    );
    for (name, message) in [
        ("message_1", &run.message_1),
        ("message_2", &run.message_2),
        ("message_3", &run.message_3),
        ("message_4", &run.message_4),
    ] {
        assert_eq!(hex::encode(message), hex::encode(v.bytes(name)), "{name}");
    }
    assert_trace_session(&v, &run);
}

/// RFC 9529 trace 2 identities with a lakers initiator and a Ferrule responder. lakers sends
/// SUITES_I = 2 rather than the trace's [6, 2], so the transcript (and everything after
/// message_1) differs from the trace; message_1 otherwise matches it.
#[test]
fn rfc9529_trace2_lakers_initiator_with_ferrule_responder() {
    let (v, initiator, responder, c_i, c_r) = trace_2();
    let ids = Ids {
        c_i: &c_i,
        c_r: &c_r,
    };
    let run = lakers_initiator_ferrule_responder(
        lakers_crypto_rustcrypto::Crypto::new(ReplayRng::new(&v.bytes("X"))),
        &mut RustCrypto::new(ReplayRng::new(&v.bytes("Y"))),
        &initiator,
        &responder,
        &ids,
        CredentialTransfer::ByReference,
    );
    let trace_m1 = v.bytes("message_1");
    assert_eq!(trace_m1[..4], [0x03, 0x82, 0x06, 0x02]);
    let expected = [&[0x03, 0x02][..], &trace_m1[4..]].concat();
    assert_eq!(hex::encode(&run.message_1), hex::encode(expected));
    // message_2 starts with the trace's G_Y.
    assert_eq!(run.message_2[2..34], v.bytes("G_Y"));
}
