//! End to end through the real binaries: `ferrule serve`, an untrusted `ferrule relay` in front of
//! it, and a `ferrule fleet` of 50 devices × 20 messages; every message lands in the sink exactly
//! once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod e2e_support;

use core::time::Duration;
use std::net::UdpSocket;

use e2e_support::{fleet_names, free_udp_addr, Cloud, Proc, START_TIMEOUT};

const DEVICES: usize = 50;
const MESSAGES: u64 = 20;

/// Starts `ferrule relay` (one line per datagram) on a free port in front of `upstream` and waits until its
/// socket is bound.
fn relay(cloud: &Cloud, upstream: core::net::SocketAddr) -> (Proc, core::net::SocketAddr) {
    let listen = free_udp_addr();
    let (l, u) = (listen.to_string(), upstream.to_string());
    let mut proc = cloud.spawn("relay", &["relay", "--listen", &l, "--upstream", &u]);
    proc.wait_for_stderr(
        &format!("forwarding udp://{listen} <-> udp://{upstream}"),
        START_TIMEOUT,
    );
    // The relay prints before it binds: wait until its port is taken.
    e2e_support::wait_until("the relay binds its port", START_TIMEOUT, || {
        assert!(proc.running(), "the relay exited");
        UdpSocket::bind(listen).is_err()
    });
    (proc, listen)
}

#[test]
fn e2e_fleet_through_relay_exactly_once() {
    let cloud = Cloud::init();
    let server = cloud.serve();
    let (mut relay, relay_addr) = relay(&cloud, server.udp);

    let relay_s = relay_addr.to_string();
    let (devices, messages) = (DEVICES.to_string(), MESSAGES.to_string());
    let mut fleet = cloud.spawn(
        "fleet",
        &[
            "fleet",
            "--dir",
            cloud.dir_str(),
            "--server",
            &relay_s,
            "--devices",
            &devices,
            "--messages",
            &messages,
            "--timeout",
            "60",
            "--json",
        ],
    );
    let stdout = fleet.success(Duration::from_secs(90));
    let summary = e2e_support::fleet_summary(&stdout);
    let expected = DEVICES as u64 * MESSAGES;
    assert_eq!(summary["devices"], DEVICES, "{summary}");
    assert_eq!(summary["messages_sent"], expected, "{summary}");
    assert_eq!(summary["messages_delivered"], expected, "{summary}");
    assert_eq!(summary["handshakes_ok"], DEVICES, "{summary}");
    assert_eq!(summary["handshakes_failed"], 0, "{summary}");
    assert_eq!(summary["failures"], serde_json::json!({}), "{summary}");
    for key in ["handshakes_per_s", "messages_per_s"] {
        assert!(summary[key].as_f64().unwrap() > 0.0, "{key}: {summary}");
    }
    let (p50, p99) = (
        summary["latency_ms"]["p50"].as_f64().unwrap(),
        summary["latency_ms"]["p99"].as_f64().unwrap(),
    );
    assert!(0.0 <= p50 && p50 <= p99, "{summary}");

    // The sink: exactly one record per (device, seq), nothing else.
    let records = cloud.sink_records();
    assert_eq!(records.len() as u64, expected, "sink records");
    let counts = e2e_support::sink_counts(&cloud.sink);
    let names = fleet_names(DEVICES);
    for name in &names {
        for seq in 0..MESSAGES {
            assert_eq!(
                counts.get(&(name.clone(), seq)).copied(),
                Some(1),
                "{name} seq {seq} in the sink"
            );
        }
    }
    assert_eq!(
        counts.len() as u64,
        expected,
        "unexpected records in the sink"
    );

    // The server saw every message once, refused nothing, and the relay forwarded it all.
    let metrics = server.metrics();
    assert_eq!(metrics.get("ferrule_telemetry_records_total"), expected);
    assert_eq!(metrics.handshakes("established"), DEVICES as u64);
    assert_eq!(metrics.all_rejections(), 0, "{:#?}", metrics.0);
    assert_eq!(metrics.get("ferrule_malformed_datagrams_total"), 0);
    assert_eq!(metrics.get("ferrule_sessions"), DEVICES as u64);
    assert!(relay.running(), "the relay exited");

    // Everything went through the relay, which saw only what it may see: each device's EDHOC
    // request (message_1 in the clear), then the combined request and OSCORE ciphertext.
    let count = |text: &str, needle: &str| text.lines().filter(|l| l.contains(needle)).count();
    let mut seen = String::new();
    e2e_support::wait_until("the relay reports every datagram", START_TIMEOUT, || {
        seen = relay.stdout();
        count(&seen, "relay: cloud -> device") as u64 >= expected + DEVICES as u64
    });
    assert_eq!(
        count(&seen, "EDHOC request, "),
        DEVICES,
        "message_1 per device"
    );
    assert_eq!(count(&seen, "EDHOC message_3 + OSCORE request"), DEVICES);
    assert!(count(&seen, "device -> cloud") as u64 >= expected + DEVICES as u64);
    let oscore_up = seen
        .lines()
        .filter(|l| l.contains("device -> cloud") && l.contains(" OSCORE: "))
        .count() as u64;
    assert!(
        oscore_up >= expected - DEVICES as u64,
        "{oscore_up} OSCORE requests"
    );
    assert_eq!(count(&seen, "not CoAP"), 0);
    let (status, body) = e2e_support::http(server.admin, "GET", "/devices", b"");
    assert_eq!(status, 200);
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), DEVICES, "{body}");
    for device in listed {
        assert_eq!(device["status"], "active", "{device}");
        assert!(device["session"].is_object(), "{device}");
    }
}
