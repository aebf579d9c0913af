//! Crash recovery through the real binaries: `ferrule serve` is killed with SIGKILL while a
//! `ferrule fleet` is sending, and restarted on the same directory and ports; the devices find
//! their sessions gone (4.01 "Security context not found"), run a new handshake, re-send what
//! was not acknowledged, and every message ends up in the sink.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod e2e_support;

use core::time::Duration;
use std::time::Instant;

use e2e_support::{fleet_names, sink_lines, Cloud, START_TIMEOUT};

const DEVICES: usize = 10;
const MESSAGES: u64 = 30;

#[test]
fn e2e_server_killed_and_restarted_devices_recover() {
    let cloud = Cloud::init();
    let mut server = cloud.serve();
    let (udp, admin) = (server.udp, server.admin);

    let addr = udp.to_string();
    let (devices, messages) = (DEVICES.to_string(), MESSAGES.to_string());
    let mut fleet = cloud.spawn(
        "fleet",
        &[
            "fleet",
            "--dir",
            cloud.dir_str(),
            "--server",
            &addr,
            "--devices",
            &devices,
            "--messages",
            &messages,
            "--interval",
            "100",
            "--timeout",
            "60",
            "--json",
        ],
    );
    let expected = DEVICES * MESSAGES as usize;

    // Let the fleet get going: from its first message in the sink, about a second (a third of
    // its messages), then crash the server.
    e2e_support::wait_until(
        "the fleet's first message reaches the sink",
        START_TIMEOUT,
        || {
            assert!(fleet.running(), "the fleet exited early");
            sink_lines(&cloud.sink) > 0
        },
    );
    let started = Instant::now();
    e2e_support::wait_until("a second passes", START_TIMEOUT, || {
        started.elapsed() >= Duration::from_secs(1) || sink_lines(&cloud.sink) >= expected / 2
    });
    server.proc.kill();
    let at_crash = sink_lines(&cloud.sink);
    assert!(
        (1..expected).contains(&at_crash),
        "the crash should come mid-run: {at_crash} of {expected} records were in the sink"
    );
    assert!(fleet.running(), "the fleet finished before the crash");
    let connected_before_crash = e2e_support::sink_counts(&cloud.sink)
        .keys()
        .map(|(device, _)| device.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;

    // Restart on the same directory and ports within about a second.
    std::thread::sleep(Duration::from_millis(700));
    let mut restarted = cloud.serve_on(udp, admin);
    restarted.check_started(udp);

    let stdout = fleet.success(Duration::from_secs(75));
    let summary = e2e_support::fleet_summary(&stdout);
    assert_eq!(summary["messages_delivered"], expected, "{summary}");
    assert_eq!(summary["failures"], serde_json::json!({}), "{summary}");
    // Every device that had a session before the crash had to handshake again.
    assert!(
        summary["handshakes_ok"].as_u64().unwrap() >= DEVICES as u64 + connected_before_crash,
        "{connected_before_crash} devices connected before the crash: {summary}"
    );

    // Everything the fleet had acknowledged is in the sink; a message whose acknowledgement the
    // crash swallowed may be there twice.
    let counts = e2e_support::sink_counts(&cloud.sink);
    for name in fleet_names(DEVICES) {
        for seq in 0..MESSAGES {
            assert!(
                counts.contains_key(&(name.clone(), seq)),
                "{name} seq {seq} missing from the sink"
            );
        }
    }
    assert_eq!(counts.len(), expected, "records nobody sent: {counts:?}");
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    eprintln!("crashed at {at_crash} of {expected} records; {duplicates} duplicates; {summary}");
    assert!(
        duplicates <= DEVICES,
        "{duplicates} duplicates: at most one in-flight message per device may be stored twice"
    );

    // The restarted server told the devices their contexts were gone, and took the rest.
    let after = restarted.metrics();
    assert!(after.rejections("no_session") >= 1, "{:#?}", after.0);
    assert_eq!(
        after.handshakes("established"),
        DEVICES as u64,
        "{:#?}",
        after.0
    );
    assert_eq!(
        at_crash + after.get("ferrule_telemetry_records_total") as usize,
        cloud.sink_records().len(),
        "records before the crash plus those the restarted server counted vs. the sink"
    );
    assert!(restarted.proc.running());
}
