//! The server under attack and after revocation: unknown and revoked devices, replays, forged
//! and garbage datagrams, expired handshakes. Each refusal is the one docs/protocol.md
//! prescribes, is counted in /metrics, and disturbs no other session.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod server_support;

use core::time::Duration;

use ferrule_proto::coap::{Code, MessageId, MessageType, MessageWriter, OptionNumber};
use ferrule_proto::edhoc::{CipherSuite, Method};
use rand_core::RngCore;
use server_support::{
    code_and_payload, edhoc_err_code, http, metric, Client, Cloud, DeviceIdentity,
};

#[tokio::test]
async fn an_unknown_kid_is_refused() {
    let cloud = Cloud::new();
    let _registered = cloud.add_device("sensor-1", Method::StaticStatic, CipherSuite::Suite2);
    let intruder = DeviceIdentity::unregistered(&cloud, &[0x77, 0x77]);
    let server = cloud.start().await;
    let mut client = Client::new(server.local_addr()).await;

    // Plain flow: 4.01 with ERR_CODE 3.
    let refusal = client.handshake(&intruder, None).await.unwrap_err();
    let (code, _) = code_and_payload(&refusal);
    assert_eq!(code, Code::UNAUTHORIZED);
    assert_eq!(edhoc_err_code(&refusal), 3);

    // Combined flow: an unprotected 4.01; nothing reaches the sink.
    let first = client.telemetry(Some(0), b"let me in");
    let refusal = client.handshake(&intruder, Some(&first)).await.unwrap_err();
    assert_eq!(code_and_payload(&refusal).0, Code::UNAUTHORIZED);
    assert!(cloud.sink_lines().is_empty());

    let events = cloud.registry.events(10).unwrap();
    let unknown: Vec<_> = events.iter().filter(|e| e.kind == "unknown_kid").collect();
    assert_eq!(unknown.len(), 2, "{events:?}");
    assert!(unknown[0].reason.contains("7777"), "{:?}", unknown[0]);
    let (_, metrics) = http(server.admin_addr().unwrap(), "GET", "/metrics", b"").await;
    assert_eq!(
        metric(
            &metrics,
            "ferrule_handshakes_total{result=\"unknown_device\"}"
        ),
        2
    );
    assert_eq!(
        metric(
            &metrics,
            "ferrule_rejections_total{reason=\"unknown_credential\"}"
        ),
        2
    );
    assert_eq!(metric(&metrics, "ferrule_sessions"), 0);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_device_revoked_by_another_process_is_refused_from_its_next_message() {
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-1", Method::StaticStatic, CipherSuite::Suite2);
    let bystander = cloud.add_device("sensor-2", Method::StaticStatic, CipherSuite::Suite2);
    let server = cloud.start().await;
    let mut client = Client::new(server.local_addr()).await;
    let mut other = Client::new(server.local_addr()).await;
    let first = client.telemetry(Some(0), b"1");
    let (mut context, _) = client.handshake(&device, Some(&first)).await.unwrap();
    let first = other.telemetry(Some(0), b"a");
    let (mut other_context, _) = other.handshake(&bystander, Some(&first)).await.unwrap();

    // `ferrule device revoke` in another process: its own connection to the registry.
    let cli = ferrule_cloud::Registry::open(cloud.dir()).unwrap();
    assert!(cli.revoke("sensor-1").unwrap());

    // The very next message is refused as if the session did not exist.
    let plain = client.telemetry(Some(0), b"2");
    let refusal = client.request(&mut context, &plain).await.unwrap_err();
    let (code, payload) = code_and_payload(&refusal);
    assert_eq!(code, Code::UNAUTHORIZED);
    assert_eq!(payload, b"Security context not found");
    // So is a new handshake, in both flows (ERR_CODE 1 in the plain one).
    let refusal = client.handshake(&device, None).await.unwrap_err();
    assert_eq!(code_and_payload(&refusal).0, Code::UNAUTHORIZED);
    assert_eq!(edhoc_err_code(&refusal), 1);
    let first = client.telemetry(Some(0), b"3");
    let refusal = client.handshake(&device, Some(&first)).await.unwrap_err();
    assert_eq!(code_and_payload(&refusal).0, Code::UNAUTHORIZED);

    // The other device is not disturbed.
    let plain = other.telemetry(Some(0), b"b");
    assert_eq!(
        other
            .request(&mut other_context, &plain)
            .await
            .unwrap()
            .code,
        Code::CHANGED
    );
    let lines = cloud.sink_lines();
    let from_revoked = lines.iter().filter(|l| l["device"] == "sensor-1").count();
    assert_eq!(from_revoked, 1, "only what was sent before the revocation");

    let events = cloud.registry.events(20).unwrap();
    let revoked = events
        .iter()
        .filter(|e| e.kind == "revoked_device" && e.device.as_deref() == Some("sensor-1"))
        .count();
    assert_eq!(revoked, 3, "{events:?}");
    let metrics = server.metrics();
    assert_eq!(
        metrics.rejections(ferrule_cloud::server::Reason::Revoked),
        3
    );
    assert_eq!(metrics.sessions(), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_admin_revocation_drops_the_session_at_once() {
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-1", Method::StaticStatic, CipherSuite::Suite2);
    let server = cloud.start().await;
    let admin = server.admin_addr().unwrap();
    let mut client = Client::new(server.local_addr()).await;
    let first = client.telemetry(Some(0), b"1");
    let (mut context, _) = client.handshake(&device, Some(&first)).await.unwrap();
    assert_eq!(server.metrics().sessions(), 1);

    let (status, body) = http(admin, "POST", "/devices/sensor-1/revoke", b"").await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["session_dropped"], true);
    assert_eq!(answer["was_active"], true);
    assert_eq!(server.metrics().sessions(), 0);

    let plain = client.telemetry(Some(0), b"2");
    let refusal = client.request(&mut context, &plain).await.unwrap_err();
    assert_eq!(code_and_payload(&refusal).0, Code::UNAUTHORIZED);

    let (status, body) = http(admin, "GET", "/devices", b"").await;
    assert_eq!(status, 200);
    let devices: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(devices[0]["status"], "revoked");
    assert_eq!(devices[0]["session"], serde_json::Value::Null);
    let (status, _) = http(admin, "POST", "/devices/nobody/revoke", b"").await;
    assert_eq!(status, 404);
    let (status, _) = http(admin, "POST", "/devices/sensor-1/commands", b"x").await;
    assert_eq!(status, 409, "no commands for a revoked device");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_replayed_datagram_is_rejected_and_counted() {
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-1", Method::StaticStatic, CipherSuite::Suite2);
    let server = cloud.start().await;
    let mut client = Client::new(server.local_addr()).await;
    let first = client.telemetry(Some(0), b"1");
    let (mut context, _) = client.handshake(&device, Some(&first)).await.unwrap();
    let plain = client.telemetry(Some(0), b"pay me once");
    let (protected, request_id) = client.protect(&mut context, &plain);
    let answer = client.exchange(&protected).await;
    assert_eq!(
        client.open(&context, &request_id, answer).unwrap().code,
        Code::CHANGED
    );

    // An attacker replays the captured datagram from its own address.
    let attacker = Client::new(server.local_addr()).await;
    let refusal = attacker.exchange(&protected).await;
    let (code, payload) = code_and_payload(&refusal);
    assert_eq!(code, Code::UNAUTHORIZED);
    assert_eq!(payload, b"Replay detected");
    // ... and with another Message ID (not authenticated by OSCORE).
    let mut altered = protected.clone();
    altered[2] ^= 0x55;
    let refusal = attacker.exchange(&altered).await;
    assert_eq!(code_and_payload(&refusal).1, b"Replay detected");
    assert_eq!(cloud.sink_lines().len(), 2, "the replay wrote nothing");

    // The device carries on.
    let plain = client.telemetry(Some(0), b"next");
    assert_eq!(
        client.request(&mut context, &plain).await.unwrap().code,
        Code::CHANGED
    );
    let (_, metrics) = http(server.admin_addr().unwrap(), "GET", "/metrics", b"").await;
    assert_eq!(
        metric(&metrics, "ferrule_rejections_total{reason=\"replay\"}"),
        2
    );
    let replays = cloud
        .registry
        .events(10)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "replay" && e.device.as_deref() == Some("sensor-1"))
        .count();
    assert_eq!(replays, 2);
    server.shutdown().await.unwrap();
}

/// A handful of hostile datagrams: not CoAP, truncated, lying about options, forged OSCORE
/// with a live session's kid, EDHOC requests with garbage, random bytes.
fn garbage(live_request: &[u8], rng: &mut impl RngCore) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff],
        vec![0x40, 0x01, 0x00],
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        vec![0x40, 0x00, 0x12, 0x34],       // CoAP ping
        vec![0x60, 0x00, 0x12, 0x34],       // stray ACK
        vec![0x70, 0x00, 0x12, 0x34],       // stray RST
        vec![0x41, 0x01, 0, 1, 0xaa, 0xff], // payload marker without payload
    ];
    // The live request, truncated at every length and with every byte flipped.
    for cut in 0..live_request.len() {
        out.push(live_request[..cut].to_vec());
    }
    for i in 0..live_request.len() {
        let mut flipped = live_request.to_vec();
        flipped[i] ^= 0x01 << (i % 8);
        // A fresh Message ID, so the cache does not answer it.
        flipped[2] = 0xee;
        flipped[3] = i as u8;
        out.push(flipped);
    }
    // EDHOC requests with random payloads, after `true` and after a C_R.
    for prefix in [&[0xf5][..], &[0x42, 0x01, 0x02], &[0x27]] {
        for len in [1usize, 10, 40, 200] {
            let mut payload = prefix.to_vec();
            let mut tail = vec![0u8; len];
            rng.fill_bytes(&mut tail);
            payload.extend_from_slice(&tail);
            let mut buf = vec![0u8; 300];
            let mut w = MessageWriter::new(
                &mut buf,
                MessageType::Confirmable,
                Code::POST,
                MessageId(rng.next_u32() as u16),
                &[1],
            )
            .unwrap();
            w.option(OptionNumber::UriPath, b".well-known").unwrap();
            w.option(OptionNumber::UriPath, b"edhoc").unwrap();
            let n = w.payload(&payload).unwrap();
            out.push(buf[..n].to_vec());
        }
    }
    // Random bytes, some shaped like a CoAP header.
    for i in 0..200 {
        let mut bytes = vec![0u8; 1 + (rng.next_u32() as usize % 300)];
        rng.fill_bytes(&mut bytes);
        if i % 2 == 0 {
            bytes[0] = 0x40 | (bytes[0] & 0x0f);
        }
        out.push(bytes);
    }
    out
}

#[tokio::test]
async fn garbage_datagrams_do_not_disturb_another_session() {
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-1", Method::StaticStatic, CipherSuite::Suite2);
    let server = cloud.start().await;
    let mut client = Client::new(server.local_addr()).await;
    let first = client.telemetry(Some(0), b"1");
    let (mut context, _) = client.handshake(&device, Some(&first)).await.unwrap();

    // The device sends a request; an attacker captures it and, from another address, sends
    // every truncation and bit flip of it (replays with an altered header, forgeries with an
    // altered ciphertext) and other garbage.
    let plain = client.telemetry(Some(0), b"2");
    let (live, request_id) = client.protect(&mut context, &plain);
    let answer = client.exchange(&live).await;
    assert_eq!(
        client.open(&context, &request_id, answer).unwrap().code,
        Code::CHANGED
    );
    let attacker = Client::new(server.local_addr()).await;
    let mut rng = rand_core::OsRng;
    let datagrams = garbage(&live, &mut rng);
    for (i, datagram) in datagrams.iter().enumerate() {
        attacker
            .socket
            .send_to(datagram, server.local_addr())
            .await
            .unwrap();
        if i % 32 == 31 {
            // Pace the flood so the socket buffer does not overflow (the kernel would drop
            // datagrams, and the counts below would vary).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Drain whatever the server answered (errors, Resets), without blocking on drops.
    while attacker
        .receive_within(Duration::from_millis(300))
        .await
        .is_some()
    {}
    // Forgeries of the device's next request (not sent yet): its Partial IV is fresh, so
    // they get as far as decryption, and fail there without touching the replay window.
    let plain = client.telemetry(Some(0), b"3");
    let (next, next_id) = client.protect(&mut context, &plain);
    for (i, position) in [next.len() - 1, next.len() - 9, next.len() - 12]
        .into_iter()
        .enumerate()
    {
        let mut forged = next.clone();
        forged[position] ^= 0x80;
        forged[2] = 0xdd;
        forged[3] = i as u8;
        // One at a time, each answered: 4.00 "Decryption failed".
        let refusal = attacker.exchange(&forged).await;
        assert_eq!(
            code_and_payload(&refusal),
            (Code::BAD_REQUEST, b"Decryption failed".to_vec())
        );
    }
    let answer = client.exchange(&next).await;
    assert_eq!(
        client.open(&context, &next_id, answer).unwrap().code,
        Code::CHANGED
    );

    // The session is intact, in both directions.
    for i in 0..3 {
        let plain = client.telemetry(Some(0), format!("after {i}").as_bytes());
        assert_eq!(
            client.request(&mut context, &plain).await.unwrap().code,
            Code::CHANGED
        );
    }
    let lines = cloud.sink_lines();
    assert_eq!(
        lines.len(),
        6,
        "1 + the captured one + the forged one + 3: {lines:?}"
    );
    assert!(lines.iter().all(|l| l["device"] == "sensor-1"));

    let (_, metrics) = http(server.admin_addr().unwrap(), "GET", "/metrics", b"").await;
    assert!(metric(&metrics, "ferrule_malformed_datagrams_total") >= 10);
    assert!(
        metric(
            &metrics,
            "ferrule_rejections_total{reason=\"decryption_failed\"}"
        ) >= 3
    );
    assert!(metric(&metrics, "ferrule_rejections_total{reason=\"replay\"}") >= 1);
    assert_eq!(metric(&metrics, "ferrule_sessions"), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_handshake_that_waits_too_long_expires() {
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-1", Method::StaticStatic, CipherSuite::Suite2);
    let mut config = cloud.config();
    config.limits.handshake_timeout = Duration::ZERO;
    let server = ferrule_cloud::Server::bind(config).await.unwrap();
    let mut client = Client::new(server.local_addr()).await;
    let refusal = client.handshake(&device, None).await.unwrap_err();
    let (code, _) = code_and_payload(&refusal);
    assert_eq!(code, Code::BAD_REQUEST);
    assert_eq!(edhoc_err_code(&refusal), 1);
    let first = client.telemetry(Some(0), b"x");
    let refusal = client.handshake(&device, Some(&first)).await.unwrap_err();
    assert_eq!(
        code_and_payload(&refusal),
        (Code::UNAUTHORIZED, b"Security context not found".to_vec())
    );
    assert_eq!(
        server
            .metrics()
            .handshakes(ferrule_cloud::server::HandshakeResult::UnknownHandshake),
        2
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn pending_handshakes_are_bounded() {
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-1", Method::StaticStatic, CipherSuite::Suite2);
    let mut config = cloud.config();
    config.limits.max_pending_handshakes = 4;
    let server = ferrule_cloud::Server::bind(config).await.unwrap();
    // Many message_1 that never continue.
    let mut flood = Client::new(server.local_addr()).await;
    for _ in 0..20 {
        let request = {
            let mut m1 = [0u8; 128];
            let suites = ferrule_proto::edhoc::SuiteList::from_suites(&[device.suite]).unwrap();
            let credential = ferrule_proto::edhoc::Credential::ccs(&device.credential).unwrap();
            let config = ferrule_proto::edhoc::InitiatorConfig {
                method: device.method,
                suites,
                c_i: ferrule_proto::edhoc::ConnectionId::from_int(1).unwrap(),
                key: &device.key,
                credential,
                id_cred: credential.id_by_kid().unwrap(),
                known_ead: &[],
            };
            let (_, n) = ferrule_proto::edhoc::Initiator::new(&config)
                .unwrap()
                .write_message_1(&mut flood.crypto, &[], &mut m1)
                .unwrap();
            let mut payload = [0u8; 160];
            let n = ferrule_proto::edhoc::write_message_1_request(&m1[..n], &mut payload).unwrap();
            flood.edhoc_post(&payload[..n])
        };
        assert_eq!(
            code_and_payload(&flood.exchange(&request).await).0,
            Code::CHANGED
        );
    }
    let (_, metrics) = http(server.admin_addr().unwrap(), "GET", "/metrics", b"").await;
    assert_eq!(metric(&metrics, "ferrule_pending_handshakes"), 4);
    // A fresh handshake still completes.
    let mut client = Client::new(server.local_addr()).await;
    let first = client.telemetry(Some(0), b"ok");
    client.handshake(&device, Some(&first)).await.unwrap();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_admin_api_listens_on_loopback_only() {
    let cloud = Cloud::new();
    let mut config = cloud.config();
    config.admin = Some("0.0.0.0:0".parse().unwrap());
    let err = ferrule_cloud::Server::bind(config).await.unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
    let mut config = cloud.config();
    config.dir = cloud.dir().join("missing");
    let err = ferrule_cloud::Server::bind(config).await.unwrap_err();
    assert!(err.to_string().contains("ferrule init"), "{err}");
}

#[tokio::test]
async fn an_unsupported_suite_is_answered_with_err_code_2() {
    let cloud = Cloud::new();
    let device = cloud.add_device("light-1", Method::StaticStatic, CipherSuite::Suite0);
    let mut config = cloud.config();
    config.suites = vec![CipherSuite::Suite2];
    let server = ferrule_cloud::Server::bind(config).await.unwrap();
    let mut client = Client::new(server.local_addr()).await;
    let refusal = client.handshake(&device, None).await.unwrap_err();
    let (code, payload) = code_and_payload(&refusal);
    assert_eq!(code, Code::BAD_REQUEST);
    let error = ferrule_proto::edhoc::ErrorMessage::parse(&payload).unwrap();
    assert_eq!(error.code, 2);
    assert_eq!(
        error.info,
        ferrule_proto::edhoc::ErrorInfo::Suites(
            ferrule_proto::edhoc::SuiteList::from_suites(&[CipherSuite::Suite2]).unwrap()
        )
    );
    assert_eq!(
        server
            .metrics()
            .handshakes(ferrule_cloud::server::HandshakeResult::RefusedMessage1),
        1
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn pings_get_a_reset_and_unprotected_requests_get_4_04() {
    let cloud = Cloud::new();
    let server = cloud.start().await;
    let client = Client::new(server.local_addr()).await;
    let reset = client.exchange(&[0x40, 0x00, 0x12, 0x34]).await;
    assert_eq!(reset, [0x70, 0x00, 0x12, 0x34]);
    // An unprotected POST /t (no OSCORE): not found; a GET on the EDHOC resource: 4.05.
    let mut buf = [0u8; 32];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::Confirmable,
        Code::POST,
        MessageId(7),
        &[9],
    )
    .unwrap();
    w.option(OptionNumber::UriPath, b"t").unwrap();
    let n = w.payload(b"21").unwrap();
    let answer = client.exchange(&buf[..n]).await;
    assert_eq!(code_and_payload(&answer).0, Code::NOT_FOUND);
    let mut buf = [0u8; 32];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::Confirmable,
        Code::GET,
        MessageId(8),
        &[9],
    )
    .unwrap();
    w.option(OptionNumber::UriPath, b".well-known").unwrap();
    w.option(OptionNumber::UriPath, b"edhoc").unwrap();
    let n = w.finish();
    let answer = client.exchange(&buf[..n]).await;
    assert_eq!(code_and_payload(&answer).0, Code::METHOD_NOT_ALLOWED);
    // A Non-confirmable request gets a Non-confirmable answer with the same token.
    let mut buf = [0u8; 32];
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::NonConfirmable,
        Code::POST,
        MessageId(9),
        &[7, 7],
    )
    .unwrap();
    w.option(OptionNumber::UriPath, b"x").unwrap();
    let n = w.finish();
    let answer = client.exchange(&buf[..n]).await;
    let m = ferrule_proto::coap::Message::parse(&answer).unwrap();
    assert_eq!(m.msg_type(), MessageType::NonConfirmable);
    assert_eq!(m.token(), [7, 7]);
    server.shutdown().await.unwrap();
}
