//! Devices the cloud must refuse, through the real binaries: a device of another cloud, a
//! device whose kid the registry does not know, a device holding a registered kid with the wrong
//! key, and devices revoked while `ferrule serve` runs (with `ferrule device revoke` from another
//! process, and through the admin API). Nothing of theirs reaches the sink afterwards, every
//! refusal is counted, and the registry records the events.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod e2e_support;

use core::time::Duration;
use std::path::Path;

use e2e_support::{Cloud, Proc, ServerProc};
use ferrule_cloud::registry::event_kind;

const RUN_TIMEOUT: Duration = Duration::from_secs(40);

/// `ferrule device run` arguments for `bundle` against the server.
fn run_args<'a>(
    bundle: &'a Path,
    server: &'a str,
    count: &'a str,
    interval: &'a str,
) -> Vec<&'a str> {
    vec![
        "device",
        "run",
        "--bundle",
        bundle.to_str().unwrap(),
        "--server",
        server,
        "--count",
        count,
        "--interval",
        interval,
        "--timeout",
        "20",
    ]
}

/// Runs a device that must be refused: non-zero exit, "refused" in its output, nothing
/// acknowledged. Returns its output.
fn assert_refused(cloud: &Cloud, bundle: &Path, server: &ServerProc) -> String {
    let addr = server.udp.to_string();
    let (ok, out, err) = cloud.run(&run_args(bundle, &addr, "2", "10"), RUN_TIMEOUT);
    assert!(!ok, "{} was not refused:\n{out}\n{err}", bundle.display());
    assert!(err.contains("refused"), "stderr: {err}\nstdout: {out}");
    assert!(out.contains("refused by the cloud"), "{out}");
    assert!(out.contains("0 of 2 messages acknowledged"), "{out}");
    out
}

/// How many records `device` has in the sink.
fn sink_count(cloud: &Cloud, device: &str) -> usize {
    cloud
        .sink_records()
        .iter()
        .filter(|r| r["device"] == device)
        .count()
}

/// Starts a long-running device and waits until 3 of its messages are in the sink.
fn start_long_device(cloud: &Cloud, name: &str, bundle: &Path, server: &ServerProc) -> Proc {
    let addr = server.udp.to_string();
    let mut device = cloud.spawn(name, &run_args(bundle, &addr, "100000", "30"));
    e2e_support::wait_until(&format!("{name} delivers 3 messages"), RUN_TIMEOUT, || {
        assert!(device.running(), "{name} exited early:\n{}", device.dump());
        sink_count(cloud, name) >= 3
    });
    device
}

/// Waits for a revoked device to stop on its own: non-zero, refused.
fn assert_stops_refused(device: &mut Proc) {
    let status = device.wait(Duration::from_secs(15));
    assert!(!status.success(), "{}", device.dump());
    let (out, err) = (device.stdout(), device.stderr());
    assert!(err.contains("refused"), "{}", device.dump());
    assert!(out.contains("refused by the cloud"), "{}", device.dump());
}

#[test]
fn e2e_unknown_and_revoked_devices_are_refused() {
    let cloud = Cloud::init();
    let alpha = cloud.add_device("alpha");
    let beta = cloud.add_device("beta");
    let gamma = cloud.add_device("gamma");
    let mut server = cloud.serve();
    let addr = server.udp.to_string();

    // A registered device works.
    let out = cloud.ok(&run_args(&alpha, &addr, "3", "10"));
    assert!(out.contains("3 of 3 messages acknowledged"), "{out}");
    assert_eq!(sink_count(&cloud, "alpha"), 3);

    // A device of another cloud: it does not even accept this cloud's message_2.
    let other = Cloud::init();
    let stranger = other.add_device("stranger");
    assert_refused(&cloud, &stranger, &server);

    // A device that trusts this cloud (a copy of its identity) but whose kid this registry does
    // not have: refused at message_3 (unknown credential).
    let clone = Cloud::init();
    std::fs::copy(
        cloud.dir.join("cloud.identity"),
        clone.dir.join("cloud.identity"),
    )
    .unwrap();
    let impostor = clone.add_device("impostor"); // kid 00, alpha's kid, with another key
    clone.add_device("filler-1");
    clone.add_device("filler-2");
    let unknown = clone.add_device("unknown"); // kid 03: nobody's in this cloud
    let m0 = server.metrics();
    assert_refused(&cloud, &unknown, &server);
    let m1 = server.metrics();
    assert_eq!(
        m1.rejections("unknown_credential") - m0.rejections("unknown_credential"),
        1
    );
    assert_eq!(
        m1.handshakes("unknown_device") - m0.handshakes("unknown_device"),
        1
    );
    assert_refused(&cloud, &impostor, &server);
    let m2 = server.metrics();
    assert_eq!(
        m2.rejections("authentication_failed") - m1.rejections("authentication_failed"),
        1,
        "{:#?}",
        m2.0
    );
    assert_eq!(
        sink_count(&cloud, "alpha"),
        3,
        "an impostor's message reached the sink"
    );
    assert_eq!(cloud.sink_records().len(), 3);

    // Revoked with `ferrule device revoke` from another process while its session is live.
    let mut beta_run = start_long_device(&cloud, "beta", &beta, &server);
    cloud.ok(&["device", "revoke", "beta", "--dir", cloud.dir_str()]);
    // A request already past the registry check may still land; nothing after it.
    let at_revoke = sink_count(&cloud, "beta");
    assert_stops_refused(&mut beta_run);
    let after_stop = sink_count(&cloud, "beta");
    assert!(
        after_stop <= at_revoke + 1,
        "beta had {at_revoke} records when revoked and {after_stop} when it stopped"
    );
    // And again from scratch: refused at the handshake.
    let before_retry = server.metrics();
    assert_refused(&cloud, &beta, &server);
    let after_retry = server.metrics();
    assert_eq!(sink_count(&cloud, "beta"), after_stop);
    assert_eq!(
        after_retry.rejections("revoked") - before_retry.rejections("revoked"),
        1
    );
    assert_eq!(
        after_retry.handshakes("revoked") - before_retry.handshakes("revoked"),
        1
    );
    // The live session's request and the handshake after it, then the retry's handshake.
    assert!(
        after_retry.rejections("revoked") >= 3,
        "{:#?}",
        after_retry.0
    );

    // Revoked through the admin API while its session is live: the session goes at once.
    let mut gamma_run = start_long_device(&cloud, "gamma", &gamma, &server);
    let (status, body) = e2e_support::http(server.admin, "POST", "/devices/gamma/revoke", b"");
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["revoked"], true, "{body}");
    assert_eq!(answer["session_dropped"], true, "{body}");
    let at_revoke = sink_count(&cloud, "gamma");
    assert_stops_refused(&mut gamma_run);
    assert!(sink_count(&cloud, "gamma") <= at_revoke + 1);
    let (status, body) = e2e_support::http(server.admin, "POST", "/devices/nobody/revoke", b"");
    assert_eq!(status, 404, "{body}");

    // The registry as `ferrule device list --json` shows it.
    let listed: serde_json::Value =
        serde_json::from_str(&cloud.ok(&["device", "list", "--dir", cloud.dir_str(), "--json"]))
            .unwrap();
    let status_of = |name: &str| {
        let device = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {listed}"));
        (device["status"].clone(), device["revoked_at"].clone())
    };
    assert_eq!(status_of("alpha").0, "active");
    for name in ["beta", "gamma"] {
        let (status, revoked_at) = status_of(name);
        assert_eq!(status, "revoked", "{listed}");
        assert!(revoked_at.is_string(), "{listed}");
    }

    // The security events.
    let registry = ferrule_cloud::Registry::open(&cloud.dir).unwrap();
    let events = registry.events(1000).unwrap();
    let has = |device: Option<&str>, kind: &str| {
        events
            .iter()
            .any(|e| e.device.as_deref() == device && e.kind == kind)
    };
    assert!(has(Some("beta"), event_kind::DEVICE_REVOKED), "{events:#?}");
    assert!(has(Some("beta"), event_kind::REVOKED_DEVICE), "{events:#?}");
    assert!(
        has(Some("gamma"), event_kind::REVOKED_DEVICE),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| e.kind == event_kind::UNKNOWN_KID),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.kind == event_kind::AUTHENTICATION_FAILED),
        "{events:#?}"
    );

    // The other device was never disturbed.
    let out = cloud.ok(&run_args(&alpha, &addr, "2", "10"));
    assert!(out.contains("2 of 2 messages acknowledged"), "{out}");
    assert_eq!(sink_count(&cloud, "alpha"), 5);
    assert!(server.proc.running());
}
