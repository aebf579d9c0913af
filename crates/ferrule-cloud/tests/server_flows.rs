//! The server end to end, as devices use it: both handshake flows, telemetry into the sink,
//! retransmissions, commands, every method and suite.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod server_support;

use ferrule_proto::coap::{Code, Message};
use ferrule_proto::edhoc::{CipherSuite, Method};
use serde_json::json;
use server_support::{http, http_with_headers, metric, Client, Cloud};

#[tokio::test]
async fn combined_flow_telemetry_lands_in_the_sink_exactly_once() {
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-1", Method::StaticStatic, CipherSuite::Suite2);
    let server = cloud.start().await;
    let mut client = Client::new(server.local_addr()).await;

    // CBOR {"t": 21.5} in the combined request.
    let first = client.telemetry(Some(60), &[0xa1, 0x61, b't', 0xf9, 0x4d, 0x60]);
    let (mut context, answer) = client.handshake(&device, Some(&first)).await.unwrap();
    let answer = answer.unwrap();
    assert_eq!(answer.code, Code::CHANGED);
    assert!(answer.payload.is_empty(), "no command pending");

    // JSON, text, and an opaque format in later requests.
    for (cf, payload) in [
        (Some(50), &br#"{"h":40}"#[..]),
        (Some(0), b"door open"),
        (Some(42), &[0, 1, 2][..]),
        (None, b"raw"),
    ] {
        let plain = client.telemetry(cf, payload);
        let answer = client.request(&mut context, &plain).await.unwrap();
        assert_eq!(answer.code, Code::CHANGED);
    }

    let lines = cloud.sink_lines();
    assert_eq!(lines.len(), 5, "{lines:?}");
    let kid =
        ferrule_cloud::registry::hex(&cloud.registry.device("sensor-1").unwrap().unwrap().kid);
    assert_eq!(lines[0]["device"], "sensor-1");
    assert_eq!(lines[0]["kid"], json!(kid));
    assert_eq!(lines[0]["content_format"], 60);
    assert_eq!(lines[0]["payload"], json!({"t": 21.5}));
    let received = lines[0]["received_at"].as_str().unwrap();
    assert!(
        ferrule_cloud::timestamp::parse(received).is_some(),
        "{received}"
    );
    assert!(received.ends_with('Z'));
    assert_eq!(lines[1]["payload"], json!({"h": 40}));
    assert_eq!(lines[2]["payload"], json!("door open"));
    assert_eq!(lines[3]["content_format"], 42);
    assert_eq!(lines[3]["payload"], json!("AAEC"));
    assert_eq!(lines[4]["content_format"], json!(null));
    assert_eq!(lines[4]["payload"], json!("cmF3"));

    let metrics = server.metrics();
    assert_eq!(
        metrics.handshakes(ferrule_cloud::server::HandshakeResult::Established),
        1
    );
    assert_eq!(metrics.telemetry_records(), 5);
    assert_eq!(metrics.sessions(), 1);
    // The handshake refreshed "last seen" in the registry.
    assert!(cloud
        .registry
        .device("sensor-1")
        .unwrap()
        .unwrap()
        .last_seen
        .is_some());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn plain_flow_with_message_4_then_telemetry() {
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-2", Method::StaticStatic, CipherSuite::Suite2);
    let server = cloud.start().await;
    let mut client = Client::new(server.local_addr()).await;
    let (mut context, answer) = client.handshake(&device, None).await.unwrap();
    assert!(answer.is_none());
    let plain = client.telemetry(Some(0), b"hello");
    let answer = client.request(&mut context, &plain).await.unwrap();
    assert_eq!(answer.code, Code::CHANGED);
    let lines = cloud.sink_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["device"], "sensor-2");
    assert_eq!(lines[0]["payload"], "hello");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn retransmitted_requests_are_answered_from_the_cache() {
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-3", Method::StaticStatic, CipherSuite::Suite2);
    let server = cloud.start().await;
    let mut client = Client::new(server.local_addr()).await;

    // A retransmitted combined request: same answer, one handshake, one line.
    let first = client.telemetry(Some(0), b"first");
    let (mut context, answer) = client.handshake(&device, Some(&first)).await.unwrap();
    assert_eq!(answer.unwrap().code, Code::CHANGED);

    // A retransmitted OSCORE request: the same bytes come back, the sink gets one line.
    let plain = client.telemetry(Some(0), b"second");
    let (protected, request_id) = client.protect(&mut context, &plain);
    let answer_1 = client.exchange(&protected).await;
    let answer_2 = client.exchange(&protected).await;
    let answer_3 = client.exchange(&protected).await;
    assert_eq!(answer_1, answer_2);
    assert_eq!(answer_1, answer_3);
    let answer = client.open(&context, &request_id, answer_2).unwrap();
    assert_eq!(answer.code, Code::CHANGED);
    assert_eq!(cloud.sink_lines().len(), 2);

    // A retransmitted message_1 gets the same message_2 (no second handshake state).
    let m1_request = {
        let mut m1 = [0u8; 128];
        let suites = ferrule_proto::edhoc::SuiteList::from_suites(&[device.suite]).unwrap();
        let credential = ferrule_proto::edhoc::Credential::ccs(&device.credential).unwrap();
        let config = ferrule_proto::edhoc::InitiatorConfig {
            method: device.method,
            suites,
            c_i: ferrule_proto::edhoc::ConnectionId::from_int(3).unwrap(),
            key: &device.key,
            credential,
            id_cred: credential.id_by_kid().unwrap(),
            known_ead: &[],
        };
        let (_, n) = ferrule_proto::edhoc::Initiator::new(&config)
            .unwrap()
            .write_message_1(&mut client.crypto, &[], &mut m1)
            .unwrap();
        let mut payload = [0u8; 160];
        let n = ferrule_proto::edhoc::write_message_1_request(&m1[..n], &mut payload).unwrap();
        client.edhoc_post(&payload[..n])
    };
    let m2_a = client.exchange(&m1_request).await;
    let m2_b = client.exchange(&m1_request).await;
    assert_eq!(m2_a, m2_b);
    assert_eq!(Message::parse(&m2_a).unwrap().code(), Code::CHANGED);

    let (_, metrics) = http(server.admin_addr().unwrap(), "GET", "/metrics", b"").await;
    assert_eq!(metric(&metrics, "ferrule_duplicate_requests_total"), 3);
    assert_eq!(metric(&metrics, "ferrule_pending_handshakes"), 1);
    assert_eq!(
        metric(&metrics, "ferrule_rejections_total{reason=\"replay\"}"),
        0
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_queued_command_arrives_in_the_2_04_once() {
    let cloud = Cloud::new();
    let device = cloud.add_device("valve-1", Method::StaticStatic, CipherSuite::Suite2);
    let server = cloud.start().await;
    let admin = server.admin_addr().unwrap();
    let mut client = Client::new(server.local_addr()).await;
    let first = client.telemetry(Some(0), b"boot");
    let (mut context, _) = client.handshake(&device, Some(&first)).await.unwrap();

    // One command through the admin API (CBOR by Content-Type), one through the registry
    // (as `ferrule` would, from another process).
    let (status, body) = http_with_headers(
        admin,
        "POST",
        "/devices/valve-1/commands",
        &[("Content-Type", "application/cbor")],
        &[0xa1, 0x61, b'o', 0xf5],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let other = ferrule_cloud::Registry::open(cloud.dir()).unwrap();
    other.queue_command("valve-1", b"reboot", Some(0)).unwrap();

    // The next telemetry's 2.04 carries the oldest command, with its Content-Format.
    let plain = client.telemetry(Some(0), b"1");
    let answer = client.request(&mut context, &plain).await.unwrap();
    assert_eq!(answer.code, Code::CHANGED);
    assert_eq!(answer.payload, [0xa1, 0x61, b'o', 0xf5]);
    assert_eq!(answer.content_format, Some(60));
    // GET /c gets the next one.
    let plain = client.get_command();
    let answer = client.request(&mut context, &plain).await.unwrap();
    assert_eq!(answer.code, Code::CONTENT);
    assert_eq!(answer.payload, b"reboot");
    assert_eq!(answer.content_format, Some(0));
    // Then nothing is pending.
    let plain = client.get_command();
    let answer = client.request(&mut context, &plain).await.unwrap();
    assert_eq!(answer.code, Code::CONTENT);
    assert!(answer.payload.is_empty());
    let plain = client.telemetry(Some(0), b"2");
    let answer = client.request(&mut context, &plain).await.unwrap();
    assert!(answer.payload.is_empty());
    assert!(cloud
        .registry
        .pending_commands("valve-1")
        .unwrap()
        .is_empty());

    // Admin API errors: unknown device, too large, bad Content-Format.
    let (status, _) = http(admin, "POST", "/devices/nobody/commands", b"x").await;
    assert_eq!(status, 404);
    let (status, _) = http(admin, "POST", "/devices/valve-1/commands", &[0u8; 2000]).await;
    assert_eq!(status, 413);
    let (status, _) = http(
        admin,
        "POST",
        "/devices/valve-1/commands?content_format=70000",
        b"x",
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = http(admin, "GET", "/metrics", b"").await;
    assert_eq!(status, 200);
    assert_eq!(metric(&body, "ferrule_commands_delivered_total"), 2);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_method_and_suite_completes_a_handshake() {
    let cloud = Cloud::new();
    let server = cloud.start().await;
    for method in Method::ALL {
        for suite in CipherSuite::IMPLEMENTED {
            let name = format!("m{}-s{}", method.id(), suite.id());
            let device = cloud.add_device(&name, method, suite);
            let mut client = Client::new(server.local_addr()).await;
            let combined = (method.id() + suite.id() as u8) % 2 == 0;
            let first = client.telemetry(Some(0), name.as_bytes());
            let (mut context, _) = client
                .handshake(&device, combined.then_some(first.as_slice()))
                .await
                .unwrap_or_else(|r| panic!("{name}: refused {r:02x?}"));
            let plain = client.telemetry(Some(0), b"ok");
            let answer = client.request(&mut context, &plain).await.unwrap();
            assert_eq!(answer.code, Code::CHANGED, "{name}");
        }
    }
    assert_eq!(server.metrics().sessions(), 16);
    let (status, body) = http(server.admin_addr().unwrap(), "GET", "/devices", b"").await;
    assert_eq!(status, 200);
    let devices: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(devices.as_array().unwrap().len(), 16);
    assert!(devices[0]["session"]["peer"].is_string(), "{devices}");
    assert_eq!(devices[0]["status"], "active");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failing_sink_answers_5_00_and_acknowledges_nothing() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-4", Method::StaticStatic, CipherSuite::Suite2);
    let mut config = cloud.config();
    config.sink = ferrule_cloud::server::SinkSpec::JsonLines("/dev/full".into());
    let server = ferrule_cloud::Server::bind(config).await.unwrap();
    let mut client = Client::new(server.local_addr()).await;
    let first = client.telemetry(Some(0), b"lost?");
    let (mut context, answer) = client.handshake(&device, Some(&first)).await.unwrap();
    assert_eq!(answer.unwrap().code, Code::INTERNAL_SERVER_ERROR);
    let plain = client.telemetry(Some(0), b"again");
    let answer = client.request(&mut context, &plain).await.unwrap();
    assert_eq!(answer.code, Code::INTERNAL_SERVER_ERROR);
    let (_, body) = http(server.admin_addr().unwrap(), "GET", "/metrics", b"").await;
    assert_eq!(metric(&body, "ferrule_sink_failures_total"), 2);
    assert_eq!(metric(&body, "ferrule_telemetry_records_total"), 0);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_payload_that_does_not_match_its_content_format_is_refused() {
    let cloud = Cloud::new();
    let device = cloud.add_device("sensor-5", Method::StaticStatic, CipherSuite::Suite2);
    let server = cloud.start().await;
    let mut client = Client::new(server.local_addr()).await;
    let first = client.telemetry(Some(60), &[0x82, 0x01]);
    let (mut context, answer) = client.handshake(&device, Some(&first)).await.unwrap();
    assert_eq!(answer.unwrap().code, Code::BAD_REQUEST);
    let plain = client.telemetry(Some(50), b"{not json");
    assert_eq!(
        client.request(&mut context, &plain).await.unwrap().code,
        Code::BAD_REQUEST
    );
    assert!(cloud.sink_lines().is_empty());
    server.shutdown().await.unwrap();
}
