//! EDHOC followed by OSCORE, in process, over real CoAP messages: with the EDHOC + OSCORE
//! combined request (RFC 9668) and with the plain flow plus message_4 (RFC 9528 Appendix A.2).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod support;

use ferrule_crypto::SoftwareKey;
use ferrule_proto::coap::{Code, Message, MessageId, MessageType, MessageWriter, OptionNumber};
use ferrule_proto::cose::{Ccs, CoseKey, KeyType};
use ferrule_proto::crypto::Crypto;
use ferrule_proto::edhoc::{
    write_continue_request, write_message_1_request, CipherSuite, ConnectionId, Credential,
    EdhocRequest, Established, Initiator, InitiatorConfig, Method, Responder, ResponderConfig,
    SingleCredential, SuiteList, EDHOC_URI_PATH,
};
use ferrule_proto::oscore::{
    build_combined_request, is_combined_request, split_combined_request, ContextParams,
    SecurityContext,
};
use support::{seeded_crypto, TestRng};

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

fn context(crypto: &mut impl Crypto, session: &Established) -> SecurityContext {
    let p = session.oscore_parameters(crypto).unwrap();
    let mut params = ContextParams::new(
        &p.master_secret,
        p.sender_id.as_bytes(),
        p.recipient_id.as_bytes(),
    );
    params.master_salt = Some(&p.master_salt);
    SecurityContext::derive(crypto, &params).unwrap()
}

/// A CoAP POST to /.well-known/edhoc with the given payload.
fn edhoc_post(mid: u16, payload: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::Confirmable,
        Code::POST,
        MessageId(mid),
        &[mid as u8],
    )
    .unwrap();
    for segment in EDHOC_URI_PATH {
        w.option(OptionNumber::UriPath, segment.as_bytes()).unwrap();
    }
    w.uint_option(OptionNumber::ContentFormat, 65).unwrap();
    let n = w.payload(payload).unwrap();
    buf[..n].to_vec()
}

/// A piggybacked 2.04 carrying an EDHOC message.
fn edhoc_response(request: &Message<'_>, payload: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::Acknowledgement,
        Code::CHANGED,
        request.message_id(),
        request.token(),
    )
    .unwrap();
    w.uint_option(OptionNumber::ContentFormat, 64).unwrap();
    let n = w.payload(payload).unwrap();
    buf[..n].to_vec()
}

/// An inner CoAP request, before protection.
fn telemetry(mid: u16, reading: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::Confirmable,
        Code::POST,
        MessageId(mid),
        &[0x70, mid as u8],
    )
    .unwrap();
    w.option(OptionNumber::UriPath, b"t").unwrap();
    let n = w.payload(reading).unwrap();
    buf[..n].to_vec()
}

/// The server side of one OSCORE exchange: verify the request, answer 2.04 with `answer`.
fn serve(
    crypto: &mut impl Crypto,
    server: &mut SecurityContext,
    datagram: &mut [u8],
    expect: &[u8],
    answer: &[u8],
) -> Vec<u8> {
    let verified = server.verify_request(crypto, datagram).unwrap();
    assert_eq!(verified.message.code(), Code::POST);
    assert_eq!(
        verified.message.option(OptionNumber::UriPath),
        Some(&b"t"[..])
    );
    assert_eq!(verified.message.payload(), expect);
    let mut plain = [0u8; 128];
    let w = MessageWriter::new(
        &mut plain,
        MessageType::Acknowledgement,
        Code::CHANGED,
        MessageId(0),
        &[],
    )
    .unwrap();
    let n = w.payload(answer).unwrap();
    let mut id = verified.request_id;
    let mut out = [0u8; 256];
    let len = server
        .protect_response(
            crypto,
            &mut id,
            &Message::parse(&plain[..n]).unwrap(),
            &mut out,
        )
        .unwrap();
    out[..len].to_vec()
}

/// Several OSCORE exchanges: requests one way, responses the other, each seen by the other side
/// exactly as sent; a replayed request is refused.
fn exchange_messages(
    crypto: &mut impl Crypto,
    client: &mut SecurityContext,
    server: &mut SecurityContext,
) {
    for i in 0..5u16 {
        let reading = format!("{{\"t\":{i}}}");
        let plain = telemetry(100 + i, reading.as_bytes());
        let mut request = [0u8; 256];
        let (len, request_id) = client
            .protect_request(crypto, &Message::parse(&plain).unwrap(), &mut request)
            .unwrap();
        assert!(
            !request[..len]
                .windows(reading.len())
                .any(|w| w == reading.as_bytes()),
            "payload in clear"
        );
        let replay = request;
        let answer = format!("ack {i}");
        let mut response = serve(
            crypto,
            server,
            &mut request[..len],
            reading.as_bytes(),
            answer.as_bytes(),
        );
        let got = client
            .verify_response(crypto, &request_id, &mut response)
            .unwrap();
        assert_eq!(got.code(), Code::CHANGED);
        assert_eq!(got.payload(), answer.as_bytes());
        let mut replay = replay;
        assert!(
            server.verify_request(crypto, &mut replay[..len]).is_err(),
            "replay accepted"
        );
    }
}

struct Setup {
    device: (SoftwareKey, Vec<u8>),
    cloud: (SoftwareKey, Vec<u8>),
}

impl Setup {
    fn new(seed: u64) -> Self {
        let mut rng = TestRng::new(seed);
        Self {
            device: identity(&mut rng, 0x2b, "device"),
            cloud: identity(&mut rng, 0x32, "cloud"),
        }
    }

    fn configs(&self) -> (InitiatorConfig<'_>, ResponderConfig<'_>) {
        let suites = SuiteList::from_suites(&[CipherSuite::Suite2]).unwrap();
        let device = Credential::ccs(&self.device.1).unwrap();
        let cloud = Credential::ccs(&self.cloud.1).unwrap();
        (
            InitiatorConfig {
                method: Method::StaticStatic,
                suites,
                c_i: ConnectionId::from_int(-24).unwrap(),
                key: &self.device.0,
                credential: device,
                id_cred: device.id_by_kid().unwrap(),
                known_ead: &[],
            },
            ResponderConfig {
                methods: &[Method::StaticStatic],
                suites,
                key: &self.cloud.0,
                credential: cloud,
                id_cred: cloud.id_by_kid().unwrap(),
                known_ead: &[],
            },
        )
    }
}

#[test]
fn edhoc_then_oscore_with_the_combined_request() {
    let setup = Setup::new(1);
    let (i_config, r_config) = setup.configs();
    let mut crypto = seeded_crypto(2);

    // Device: message_1 in a POST to /.well-known/edhoc.
    let mut m1 = [0u8; 64];
    let (initiator, n1) = Initiator::new(&i_config)
        .unwrap()
        .write_message_1(&mut crypto, &[], &mut m1)
        .unwrap();
    let mut payload = [0u8; 80];
    let n = write_message_1_request(&m1[..n1], &mut payload).unwrap();
    let request_1 = edhoc_post(1, &payload[..n]);

    // Cloud: answers message_2 in the 2.04.
    let req = Message::parse(&request_1).unwrap();
    let EdhocRequest::Message1(m1) = EdhocRequest::parse(req.payload()).unwrap() else {
        panic!()
    };
    let (responder, _) = Responder::new(&r_config)
        .read_message_1(&mut crypto, m1)
        .unwrap();
    let c_r = ConnectionId::new(&[0x05, 0x01]).unwrap();
    let mut m2 = [0u8; 128];
    let (responder, n2) = responder
        .write_message_2(&mut crypto, c_r, &[], &mut m2)
        .unwrap();
    let response_2 = edhoc_response(&req, &m2[..n2]);

    // Device: message_3 + the first OSCORE request in one combined request.
    let mut m2 = Message::parse(&response_2).unwrap().payload().to_vec();
    let (initiator, _) = initiator
        .read_message_2(
            &mut crypto,
            &mut SingleCredential(r_config.credential),
            &mut m2,
        )
        .unwrap();
    let mut m3 = [0u8; 128];
    let (initiator, n3) = initiator
        .write_message_3(&mut crypto, &[], &mut m3)
        .unwrap();
    let device_session = initiator.established();
    let mut client = context(&mut crypto, &device_session);
    let plain = telemetry(2, b"{\"t\":21.5}");
    let mut protected = [0u8; 256];
    let (len, request_id) = client
        .protect_request(
            &mut crypto,
            &Message::parse(&plain).unwrap(),
            &mut protected,
        )
        .unwrap();
    let mut combined = [0u8; 512];
    let clen = build_combined_request(&protected[..len], &m3[..n3], &mut combined).unwrap();

    // Cloud: splits it, completes EDHOC, derives OSCORE, verifies the request.
    assert!(is_combined_request(
        &Message::parse(&combined[..clen]).unwrap()
    ));
    let mut m3 = [0u8; 128];
    let (m3_len, oscore_len) = split_combined_request(&mut combined[..clen], &mut m3).unwrap();
    let (verified, info) = responder
        .read_message_3(
            &mut crypto,
            &mut SingleCredential(i_config.credential),
            &mut m3[..m3_len],
        )
        .unwrap();
    assert_eq!(info.id_cred_i, i_config.id_cred);
    let cloud_session = verified.established();
    let mut server = context(&mut crypto, &cloud_session);
    let mut response = serve(
        &mut crypto,
        &mut server,
        &mut combined[..oscore_len],
        b"{\"t\":21.5}",
        b"cmd:reboot",
    );
    let got = client
        .verify_response(&mut crypto, &request_id, &mut response)
        .unwrap();
    assert_eq!(got.payload(), b"cmd:reboot");

    exchange_messages(&mut crypto, &mut client, &mut server);
}

#[test]
fn edhoc_then_oscore_with_the_plain_flow_and_message_4() {
    let setup = Setup::new(3);
    let (i_config, r_config) = setup.configs();
    let mut crypto = seeded_crypto(4);

    let mut m1 = [0u8; 64];
    let (initiator, n1) = Initiator::new(&i_config)
        .unwrap()
        .write_message_1(&mut crypto, &[], &mut m1)
        .unwrap();
    let mut payload = [0u8; 80];
    let n = write_message_1_request(&m1[..n1], &mut payload).unwrap();
    let request_1 = edhoc_post(1, &payload[..n]);
    let req = Message::parse(&request_1).unwrap();
    let EdhocRequest::Message1(m1) = EdhocRequest::parse(req.payload()).unwrap() else {
        panic!()
    };
    let (responder, _) = Responder::new(&r_config)
        .read_message_1(&mut crypto, m1)
        .unwrap();
    let c_r = ConnectionId::from_int(7).unwrap();
    let mut m2 = [0u8; 128];
    let (responder, n2) = responder
        .write_message_2(&mut crypto, c_r, &[], &mut m2)
        .unwrap();
    let response_2 = edhoc_response(&req, &m2[..n2]);

    let mut m2 = Message::parse(&response_2).unwrap().payload().to_vec();
    let (initiator, info) = initiator
        .read_message_2(
            &mut crypto,
            &mut SingleCredential(r_config.credential),
            &mut m2,
        )
        .unwrap();
    let mut m3 = [0u8; 128];
    let (initiator, n3) = initiator
        .write_message_3(&mut crypto, &[], &mut m3)
        .unwrap();
    let mut payload = [0u8; 160];
    let n = write_continue_request(&info.c_r, &m3[..n3], &mut payload).unwrap();
    let request_3 = edhoc_post(2, &payload[..n]);

    // Cloud: finds the handshake by C_R, answers message_4.
    let req = Message::parse(&request_3).unwrap();
    let EdhocRequest::Continue {
        c_r: got_c_r,
        offset,
    } = EdhocRequest::parse(req.payload()).unwrap()
    else {
        panic!()
    };
    assert_eq!(got_c_r, c_r);
    let mut m3 = req.payload()[offset..].to_vec();
    let (verified, _) = responder
        .read_message_3(
            &mut crypto,
            &mut SingleCredential(i_config.credential),
            &mut m3,
        )
        .unwrap();
    let mut m4 = [0u8; 64];
    let (cloud_session, n4) = verified.write_message_4(&mut crypto, &[], &mut m4).unwrap();
    let response_4 = edhoc_response(&req, &m4[..n4]);

    let mut m4 = Message::parse(&response_4).unwrap().payload().to_vec();
    let (device_session, _) = initiator.read_message_4(&mut crypto, &[], &mut m4).unwrap();
    let mut client = context(&mut crypto, &device_session);
    let mut server = context(&mut crypto, &cloud_session);
    exchange_messages(&mut crypto, &mut client, &mut server);
}
