//! `ferrule demo` runs the whole system, narrated, exits 0 and cleans up after itself.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod e2e_support;

use core::time::Duration;
use std::path::Path;

#[test]
fn e2e_demo_runs() {
    let logs = tempfile::tempdir().unwrap();
    let (ok, out, err) = e2e_support::run(logs.path(), &["demo"], Duration::from_secs(60));
    assert!(ok, "`ferrule demo` failed:\n{out}\n{err}");

    // The narration, step by step.
    for needle in [
        "Ferrule demo: devices authenticate with EDHOC and protect every message with OSCORE",
        "[1] Create the cloud",
        "[2] Provision three devices",
        "thermostat-kitchen: kid 00 (EDHOC method 3, cipher suite 2)",
        "[3] Start the cloud service on UDP (CoAP)",
        "listening on udp://127.0.0.1:",
        "[4] Start an untrusted relay",
        "relay sees: device -> cloud",
        "message_1 is public by design",
        "of ciphertext, method/path/payload hidden",
        "[5] Queue a command for thermostat-kitchen",
        "[6] Run the three devices through the relay",
        "authenticated with EDHOC in",
        "thermostat-kitchen: decrypted a command from the cloud: \"set-point 21.5C\"",
        "sensor-attic: reading 2 encrypted, sent, acknowledged",
        "[7] Revoke sensor-attic",
        "sensor-attic: refused:",
        "nothing from a revoked device reaches the sink",
        "[8] The decrypted telemetry",
        "[9] Summary",
        "9 messages acknowledged and stored exactly once; 3 handshakes, 1 refused",
        "registry event: sensor-attic device_revoked",
        "registry event: sensor-attic revoked_device",
        "Done: cloud stopped, temporary directory removed.",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // The sink lines it prints are the decrypted telemetry of the three devices.
    let records: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix('{').map(|_| l.trim()))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 9, "{out}");
    for device in ["thermostat-kitchen", "meter-basement", "sensor-attic"] {
        let mut seqs: Vec<u64> = records
            .iter()
            .filter(|r| r["device"] == device)
            .map(|r| e2e_support::device_seq(r).1)
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, [0, 1, 2], "{device}: {out}");
    }
    assert!(!err.contains("error:"), "{err}");

    // And it removed its temporary directory.
    let dir = out
        .lines()
        .find_map(|l| l.split("Working in ").nth(1))
        .expect("the demo names its directory")
        .trim();
    assert!(!Path::new(dir).exists(), "{dir} is still there");
}
