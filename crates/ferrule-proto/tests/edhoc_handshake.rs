//! Full handshakes between Ferrule's initiator and responder: every method with every suite,
//! credentials by kid and by value, EAD handling, connection identifiers and refusals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod support;

use ferrule_crypto::{RustCrypto, SoftwareKey};
use ferrule_proto::cose::{Ccs, CoseKey, KeyType};
use ferrule_proto::crypto::{Crypto, KeyKind};
use ferrule_proto::edhoc::{
    AuthMode, CipherSuite, ConnectionId, Credential, CredentialLookup, EadItem, ErrCode, Error,
    Established, IdCred, Initiator, InitiatorConfig, Lookup, Method, Responder, ResponderConfig,
    SingleCredential, SuiteList,
};
use support::{seeded_crypto, TestRng};

/// A party's identity: its key and its CCS.
struct Identity {
    key: SoftwareKey,
    ccs: Vec<u8>,
}

impl Identity {
    fn new(rng: &mut TestRng, mode: AuthMode, suite: CipherSuite, kid: u8, subject: &str) -> Self {
        let p256 = matches!(suite, CipherSuite::Suite2 | CipherSuite::Suite3);
        let key = match (mode, p256) {
            (_, true) => SoftwareKey::generate_p256(rng).unwrap(),
            (AuthMode::StaticDh, false) => SoftwareKey::generate_x25519(rng).unwrap(),
            (AuthMode::Signature, false) => SoftwareKey::generate_ed25519(rng).unwrap(),
        };
        let key_type = match key.kind() {
            KeyKind::X25519 => KeyType::X25519,
            KeyKind::Ed25519 => KeyType::Ed25519,
            KeyKind::P256 => KeyType::P256,
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

    fn credential(&self) -> Credential<'_> {
        Credential::ccs(&self.ccs).unwrap()
    }
}

struct Outcome {
    initiator: Established,
    responder: Established,
    message_sizes: [usize; 4],
}

/// Runs a complete handshake (with message_4) and returns both sessions.
fn handshake(
    crypto: &mut RustCrypto<TestRng>,
    i_config: &InitiatorConfig<'_>,
    r_config: &ResponderConfig<'_>,
    c_r: ConnectionId,
) -> Result<Outcome, Error> {
    let (mut m1, mut m2, mut m3, mut m4) = ([0u8; 300], [0u8; 300], [0u8; 300], [0u8; 300]);
    let (i, n1) = Initiator::new(i_config)?.write_message_1(crypto, &[], &mut m1)?;
    let (r, _) = Responder::new(r_config).read_message_1(crypto, &m1[..n1])?;
    let (r, n2) = r.write_message_2(crypto, c_r, &[], &mut m2)?;
    let mut server = SingleCredential(r_config.credential);
    let (i, info2) = i.read_message_2(crypto, &mut server, &mut m2[..n2])?;
    assert_eq!(info2.c_r, c_r);
    let (i, n3) = i.write_message_3(crypto, &[], &mut m3)?;
    let mut device = SingleCredential(i_config.credential);
    let (r, _) = r.read_message_3(crypto, &mut device, &mut m3[..n3])?;
    let (responder, n4) = r.write_message_4(crypto, &[], &mut m4)?;
    let (initiator, _) = i.read_message_4(crypto, &[], &mut m4[..n4])?;
    Ok(Outcome {
        initiator,
        responder,
        message_sizes: [n1, n2, n3, n4],
    })
}

fn assert_same_keys(crypto: &mut impl Crypto, a: &Established, b: &Established) {
    assert_eq!(a.prk_out().as_bytes(), b.prk_out().as_bytes());
    let (pa, pb) = (
        a.oscore_parameters(crypto).unwrap(),
        b.oscore_parameters(crypto).unwrap(),
    );
    assert_eq!(pa.master_secret, pb.master_secret);
    assert_eq!(pa.master_salt, pb.master_salt);
    assert_eq!(pa.sender_id, pb.recipient_id);
    assert_eq!(pa.recipient_id, pb.sender_id);
    let (mut ea, mut eb) = ([0u8; 40], [0u8; 40]);
    a.exporter(crypto, 42, b"application context", &mut ea)
        .unwrap();
    b.exporter(crypto, 42, b"application context", &mut eb)
        .unwrap();
    assert_eq!(ea, eb);
    assert_ne!(ea, [0u8; 40]);
}

#[test]
fn every_method_with_every_suite_agrees_on_prk_out_and_exporter() {
    let mut rng = TestRng::new(7);
    let mut crypto = seeded_crypto(11);
    let mut sizes = Vec::new();
    for method in Method::ALL {
        for suite in CipherSuite::IMPLEMENTED {
            let i_id = Identity::new(&mut rng, method.initiator(), suite, 0x2b, "device");
            let r_id = Identity::new(&mut rng, method.responder(), suite, 0x32, "server");
            let suites = SuiteList::from_suites(&[suite]).unwrap();
            let i_config = InitiatorConfig {
                method,
                suites,
                c_i: ConnectionId::from_int(-24).unwrap(),
                key: &i_id.key,
                credential: i_id.credential(),
                id_cred: i_id.credential().id_by_kid().unwrap(),
                known_ead: &[],
            };
            let r_config = ResponderConfig {
                methods: &[method],
                suites,
                key: &r_id.key,
                credential: r_id.credential(),
                id_cred: r_id.credential().id_by_kid().unwrap(),
                known_ead: &[],
            };
            let c_r = ConnectionId::from_int(-8).unwrap();
            let out = handshake(&mut crypto, &i_config, &r_config, c_r)
                .unwrap_or_else(|e| panic!("method {} suite {}: {e}", method.id(), suite.id()));
            assert_eq!(out.initiator.suite(), suite);
            assert_same_keys(&mut crypto, &out.initiator, &out.responder);
            sizes.push((method.id(), suite.id(), out.message_sizes));
        }
    }
    assert_eq!(sizes.len(), 16);
    // Method 3, suite 2, kid credentials: the 101-byte handshake of RFC 9529 Section 3
    // (39 + 45 + 19 bytes, without message_4), plus 9 for message_4.
    let m3s2 = sizes.iter().find(|(m, s, _)| *m == 3 && *s == 2).unwrap().2;
    assert_eq!(
        m3s2,
        [37, 45, 19, 9],
        "one suite in SUITES_I: message_1 is 2 bytes shorter than the trace's"
    );
}

/// A configuration pair for method 3 / suite 2 with fresh identities.
struct Pair {
    i: Identity,
    r: Identity,
}

impl Pair {
    fn new(seed: u64) -> Self {
        let mut rng = TestRng::new(seed);
        Self {
            i: Identity::new(
                &mut rng,
                AuthMode::StaticDh,
                CipherSuite::Suite2,
                0x2b,
                "device",
            ),
            r: Identity::new(
                &mut rng,
                AuthMode::StaticDh,
                CipherSuite::Suite2,
                0x32,
                "server",
            ),
        }
    }

    fn initiator<'a>(&'a self, id_cred: IdCred<'a>, known_ead: &'a [u16]) -> InitiatorConfig<'a> {
        InitiatorConfig {
            method: Method::StaticStatic,
            suites: SuiteList::from_suites(&[CipherSuite::Suite2]).unwrap(),
            c_i: ConnectionId::new(&[0xca, 0xfe]).unwrap(),
            key: &self.i.key,
            credential: self.i.credential(),
            id_cred,
            known_ead,
        }
    }

    fn responder<'a>(&'a self, known_ead: &'a [u16]) -> ResponderConfig<'a> {
        ResponderConfig {
            methods: &Method::ALL,
            suites: SuiteList::from_suites(&[CipherSuite::Suite2, CipherSuite::Suite0]).unwrap(),
            key: &self.r.key,
            credential: self.r.credential(),
            id_cred: self.r.credential().id_by_kid().unwrap(),
            known_ead,
        }
    }
}

/// A registry that trusts any CCS sent by value whose subject is "device".
struct TrustDevicesByValue;

impl CredentialLookup for TrustDevicesByValue {
    fn lookup(&mut self, id_cred: &IdCred<'_>) -> Lookup<'_> {
        match id_cred {
            IdCred::ByValue(ccs) if Ccs::parse(ccs).is_ok_and(|c| c.subject == Some("device")) => {
                Lookup::TrustByValue
            }
            _ => Lookup::Unknown,
        }
    }
}

#[test]
fn credential_by_value_and_multi_byte_connection_ids() {
    let pair = Pair::new(1);
    let i_config = pair.initiator(pair.i.credential().id_by_value().unwrap(), &[]);
    let r_config = pair.responder(&[]);
    let mut crypto = seeded_crypto(2);
    let (mut m1, mut m2, mut m3) = ([0u8; 300], [0u8; 300], [0u8; 300]);
    let (i, n1) = Initiator::new(&i_config)
        .unwrap()
        .write_message_1(&mut crypto, &[], &mut m1)
        .unwrap();
    let (r, info) = Responder::new(&r_config)
        .read_message_1(&mut crypto, &m1[..n1])
        .unwrap();
    assert_eq!(info.c_i.as_bytes(), [0xca, 0xfe]);
    let c_r = ConnectionId::new(&[0x18, 0x00, 0x01]).unwrap();
    let (r, n2) = r.write_message_2(&mut crypto, c_r, &[], &mut m2).unwrap();
    let (i, _) = i
        .read_message_2(
            &mut crypto,
            &mut SingleCredential(r_config.credential),
            &mut m2[..n2],
        )
        .unwrap();
    let (i, n3) = i.write_message_3(&mut crypto, &[], &mut m3).unwrap();
    let (r, info) = r
        .read_message_3(&mut crypto, &mut TrustDevicesByValue, &mut m3[..n3])
        .unwrap();
    assert_eq!(info.id_cred_i, IdCred::ByValue(&pair.i.ccs));
    assert_same_keys(&mut crypto, &i.established(), &r.established());
}

#[test]
fn unknown_credential_is_refused_with_err_code_3() {
    let pair = Pair::new(3);
    let stranger = Pair::new(4);
    let i_config = pair.initiator(pair.i.credential().id_by_kid().unwrap(), &[]);
    let r_config = pair.responder(&[]);
    let mut crypto = seeded_crypto(5);
    let (mut m1, mut m2, mut m3) = ([0u8; 300], [0u8; 300], [0u8; 300]);
    let (i, n1) = Initiator::new(&i_config)
        .unwrap()
        .write_message_1(&mut crypto, &[], &mut m1)
        .unwrap();
    let (r, _) = Responder::new(&r_config)
        .read_message_1(&mut crypto, &m1[..n1])
        .unwrap();
    let (r, n2) = r
        .write_message_2(
            &mut crypto,
            ConnectionId::from_int(3).unwrap(),
            &[],
            &mut m2,
        )
        .unwrap();

    // An initiator that trusts another key under the same kid: the MAC does not verify.
    let mut wrong_server = SingleCredential(stranger.r.credential());
    let mut copy = m2;
    let err = Initiator::new(&i_config)
        .unwrap()
        .write_message_1(&mut seeded_crypto(5), &[], &mut [0u8; 300])
        .map(|(s, _)| s)
        .unwrap()
        .read_message_2(&mut seeded_crypto(5), &mut wrong_server, &mut copy[..n2])
        .err();
    assert!(matches!(err, Some(Error::AuthenticationFailed)), "{err:?}");

    let (i, _) = i
        .read_message_2(
            &mut crypto,
            &mut SingleCredential(r_config.credential),
            &mut m2[..n2],
        )
        .unwrap();
    let (_, n3) = i.write_message_3(&mut crypto, &[], &mut m3).unwrap();
    // The responder's registry knows only an unrelated kid.
    let other = Identity::new(
        &mut TestRng::new(9),
        AuthMode::StaticDh,
        CipherSuite::Suite2,
        0x07,
        "other",
    );
    let err = r
        .read_message_3(
            &mut crypto,
            &mut SingleCredential(other.credential()),
            &mut m3[..n3],
        )
        .err()
        .unwrap();
    assert_eq!(err, Error::UnknownCredential);
    assert_eq!(err.err_code(), Some(ErrCode::UnknownCredential));
}

#[test]
fn ead_items_known_are_delivered_unknown_ignored_unknown_critical_abort() {
    let pair = Pair::new(6);
    let known: &[u16] = &[5];
    let i_config = pair.initiator(pair.i.credential().id_by_kid().unwrap(), known);
    let r_config = pair.responder(known);
    let mut crypto = seeded_crypto(7);
    let ead_1 = [
        EadItem {
            label: 5,
            critical: true,
            value: Some(b"voucher"),
        },
        EadItem {
            label: 9,
            critical: false,
            value: Some(b"ignored"),
        },
        EadItem {
            label: 0,
            critical: false,
            value: Some(&[0, 0, 0]),
        },
    ];
    let (mut m1, mut m2, mut m3, mut m4) = ([0u8; 300], [0u8; 300], [0u8; 300], [0u8; 300]);
    let (i, n1) = Initiator::new(&i_config)
        .unwrap()
        .write_message_1(&mut crypto, &ead_1, &mut m1)
        .unwrap();
    let (r, info) = Responder::new(&r_config)
        .read_message_1(&mut crypto, &m1[..n1])
        .unwrap();
    let items: Vec<_> = info.ead_1.collect();
    assert_eq!(items, [ead_1[0]]);

    let ead_2 = [EadItem {
        label: 5,
        critical: false,
        value: None,
    }];
    let (r, n2) = r
        .write_message_2(
            &mut crypto,
            ConnectionId::from_int(1).unwrap(),
            &ead_2,
            &mut m2,
        )
        .unwrap();
    let (i, info) = i
        .read_message_2(
            &mut crypto,
            &mut SingleCredential(r_config.credential),
            &mut m2[..n2],
        )
        .unwrap();
    assert_eq!(info.ead_2.collect::<Vec<_>>(), ead_2);

    let ead_3 = [EadItem {
        label: 5,
        critical: false,
        value: Some(&[1, 2, 3]),
    }];
    let (i, n3) = i.write_message_3(&mut crypto, &ead_3, &mut m3).unwrap();
    let (r, info) = r
        .read_message_3(
            &mut crypto,
            &mut SingleCredential(i_config.credential),
            &mut m3[..n3],
        )
        .unwrap();
    assert_eq!(info.ead_3.collect::<Vec<_>>(), ead_3);

    let ead_4 = [EadItem {
        label: 5,
        critical: true,
        value: Some(b"ok"),
    }];
    let (_, n4) = r.write_message_4(&mut crypto, &ead_4, &mut m4).unwrap();
    let (_, ead) = i.read_message_4(&mut crypto, known, &mut m4[..n4]).unwrap();
    assert_eq!(ead.collect::<Vec<_>>(), ead_4);

    // An unknown critical item aborts, on each message.
    let critical = [EadItem {
        label: 77,
        critical: true,
        value: None,
    }];
    let (_, n1) = Initiator::new(&i_config)
        .unwrap()
        .write_message_1(&mut crypto, &critical, &mut m1)
        .unwrap();
    let err = Responder::new(&r_config)
        .read_message_1(&mut crypto, &m1[..n1])
        .err()
        .unwrap();
    assert_eq!(err, Error::UnknownCriticalEad(77));
    assert_eq!(err.err_code(), Some(ErrCode::Unspecified));

    let (i, n1) = Initiator::new(&i_config)
        .unwrap()
        .write_message_1(&mut crypto, &[], &mut m1)
        .unwrap();
    let (r, _) = Responder::new(&r_config)
        .read_message_1(&mut crypto, &m1[..n1])
        .unwrap();
    let (_, n2) = r
        .write_message_2(
            &mut crypto,
            ConnectionId::from_int(1).unwrap(),
            &critical,
            &mut m2,
        )
        .unwrap();
    let err = i
        .read_message_2(
            &mut crypto,
            &mut SingleCredential(r_config.credential),
            &mut m2[..n2],
        )
        .err()
        .unwrap();
    assert_eq!(err, Error::UnknownCriticalEad(77));
}

#[test]
fn suite_negotiation_and_refusals() {
    let pair = Pair::new(8);
    let mut crypto = seeded_crypto(9);
    let mut out = [0u8; 300];

    // The responder supports 2 and 0; an initiator preferring 3 then 2 is told SUITES_R.
    let mut i_config = pair.initiator(pair.i.credential().id_by_kid().unwrap(), &[]);
    i_config.suites = SuiteList::from_suites(&[CipherSuite::Suite3, CipherSuite::Suite2]).unwrap();
    let r_config = pair.responder(&[]);
    let (_, n1) = Initiator::new(&i_config)
        .unwrap()
        .write_message_1(&mut crypto, &[], &mut out)
        .unwrap();
    let err = Responder::new(&r_config)
        .read_message_1(&mut crypto, &out[..n1])
        .err()
        .unwrap();
    assert_eq!(err, Error::UnsupportedSuite(CipherSuite::Suite3));
    let retry = Initiator::after_suite_error(&i_config, &r_config.suites).unwrap();
    assert_eq!(retry.suite(), CipherSuite::Suite2);
    let (_, n1) = retry.write_message_1(&mut crypto, &[], &mut out).unwrap();
    Responder::new(&r_config)
        .read_message_1(&mut crypto, &out[..n1])
        .unwrap();

    // A selected suite with a supported suite listed before it is refused too (Section 5.2.3).
    let mut r_config_3 = pair.responder(&[]);
    r_config_3.suites =
        SuiteList::from_suites(&[CipherSuite::Suite3, CipherSuite::Suite2]).unwrap();
    let err = Responder::new(&r_config_3)
        .read_message_1(&mut crypto, &out[..n1])
        .err()
        .unwrap();
    assert_eq!(err, Error::UnsupportedSuite(CipherSuite::Suite2));

    // No common suite.
    assert_eq!(
        Initiator::after_suite_error(
            &i_config,
            &SuiteList::from_suites(&[CipherSuite::Unknown(24)]).unwrap()
        )
        .err(),
        Some(Error::NoCommonSuite)
    );

    // A method the responder does not allow.
    let mut r_config_m = pair.responder(&[]);
    r_config_m.methods = &[Method::SignSign];
    assert_eq!(
        Responder::new(&r_config_m)
            .read_message_1(&mut crypto, &out[..n1])
            .err(),
        Some(Error::MethodNotAllowed(3))
    );

    // C_R equal to C_I is refused.
    let i_config_2 = InitiatorConfig {
        suites: SuiteList::from_suites(&[CipherSuite::Suite2]).unwrap(),
        ..i_config
    };
    let (_, n1) = Initiator::new(&i_config_2)
        .unwrap()
        .write_message_1(&mut crypto, &[], &mut out)
        .unwrap();
    let (r, _) = Responder::new(&r_config)
        .read_message_1(&mut crypto, &out[..n1])
        .unwrap();
    let err = r
        .write_message_2(&mut crypto, i_config.c_i, &[], &mut [0u8; 300])
        .err();
    assert_eq!(err, Some(Error::ConnectionIdCollision));

    // A key that cannot do what the method needs is a configuration error.
    let mut bad = pair.initiator(pair.i.credential().id_by_kid().unwrap(), &[]);
    bad.suites = SuiteList::from_suites(&[CipherSuite::Suite0]).unwrap();
    assert_eq!(Initiator::new(&bad).err(), Some(Error::KeyMismatch));
}

#[test]
fn key_update_changes_keys_identically_on_both_sides() {
    let pair = Pair::new(10);
    let i_config = pair.initiator(pair.i.credential().id_by_kid().unwrap(), &[]);
    let r_config = pair.responder(&[]);
    let mut crypto = seeded_crypto(12);
    let mut out = handshake(
        &mut crypto,
        &i_config,
        &r_config,
        ConnectionId::from_int(4).unwrap(),
    )
    .unwrap();
    let before = *out.initiator.prk_out().as_bytes();
    out.initiator.key_update(&mut crypto, b"nonce-1").unwrap();
    out.responder.key_update(&mut crypto, b"nonce-1").unwrap();
    assert_ne!(before, *out.initiator.prk_out().as_bytes());
    assert_same_keys(&mut crypto, &out.initiator, &out.responder);
}
