//! Provisioning through the real `ferrule` binary: `init`, `device add|list|revoke`, and the
//! errors a user meets, each of which must name the thing at fault.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use ferrule_device::bundle::Bundle;
use ferrule_proto::edhoc::{CipherSuite, Method};

/// Runs `ferrule ARGS` and returns its output.
fn ferrule(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrule"))
        .args(args)
        .output()
        .expect("the ferrule binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `ferrule ARGS`, asserts it succeeded, and returns its standard output.
fn ok(args: &[&str]) -> String {
    let output = ferrule(args);
    assert!(
        output.status.success(),
        "`ferrule {}` failed: {}",
        args.join(" "),
        stderr(&output)
    );
    stdout(&output)
}

/// Runs `ferrule ARGS`, asserts it failed with an `error: ` line, and returns standard error.
fn fails(args: &[&str]) -> String {
    let output = ferrule(args);
    assert!(
        !output.status.success(),
        "`ferrule {}` should fail; it printed {}",
        args.join(" "),
        stdout(&output)
    );
    let err = stderr(&output);
    assert!(err.starts_with("error: "), "{err}");
    err
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_add_list_revoke() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cloud");
    let d = dir.to_str().unwrap();

    let out = ok(&["init", "--dir", d]);
    assert!(out.contains("cloud.identity"), "{out}");
    assert!(out.contains("registry.sqlite"), "{out}");
    assert!(
        out.contains("ferrule device add NAME --dir"),
        "next step: {out}"
    );
    assert!(dir.join("cloud.identity").is_file());
    assert!(dir.join("registry.sqlite").is_file());
    assert!(dir.join("devices").is_dir());
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.join("cloud.identity")), 0o600);
        assert_eq!(mode(&dir.join("devices")), 0o700);
    }
    let identity = fs::read(dir.join("cloud.identity")).unwrap();

    // A second init refuses to replace the identity, and says how to.
    let err = fails(&["init", "--dir", d]);
    assert!(err.contains("cloud.identity already exists"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(fs::read(dir.join("cloud.identity")).unwrap(), identity);

    // Three devices: the default profile, suite 0, and suite 0 with method 0 (signatures).
    let out = ok(&["device", "add", "sensor-1", "--dir", d]);
    assert!(out.contains("kid h'00'"), "{out}");
    assert!(out.contains("sensor-1.bundle"), "{out}");
    let out = ok(&["device", "add", "sensor-2", "--dir", d, "--suite", "0"]);
    assert!(out.contains("kid h'01'"), "{out}");
    let out = ok(&[
        "device", "add", "gw.3", "--dir", d, "--suite", "0", "--method", "0",
    ]);
    assert!(out.contains("kid h'02'"), "{out}");

    for (name, suite, method, kid) in [
        ("sensor-1", CipherSuite::Suite2, Method::StaticStatic, 0x00),
        ("sensor-2", CipherSuite::Suite0, Method::StaticStatic, 0x01),
        ("gw.3", CipherSuite::Suite0, Method::SignSign, 0x02),
    ] {
        let path = dir.join("devices").join(format!("{name}.bundle"));
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600, "{name}");
        let bytes = fs::read(&path).unwrap();
        let bundle = Bundle::parse(&bytes).unwrap();
        assert_eq!(bundle.name(), name);
        assert_eq!(bundle.suite(), suite);
        assert_eq!(bundle.method(), method);
        assert_eq!(bundle.kid(), [kid]);
        bundle
            .private_key()
            .expect("the key matches the credential");
    }

    // list --json
    let out = ok(&["device", "list", "--dir", d, "--json"]);
    let devices: serde_json::Value = serde_json::from_str(&out).unwrap();
    let devices = devices.as_array().unwrap();
    assert_eq!(devices.len(), 3);
    assert_eq!(devices[0]["name"], "sensor-1");
    assert_eq!(devices[0]["kid"], "00");
    assert_eq!(devices[0]["suite"], 2);
    assert_eq!(devices[0]["method"], 3);
    assert_eq!(devices[0]["status"], "active");
    assert!(devices[0]["last_seen"].is_null());
    assert_eq!(devices[1]["suite"], 0);
    assert_eq!(devices[2]["name"], "gw.3");
    assert_eq!(devices[2]["method"], 0);

    // revoke
    let out = ok(&["device", "revoke", "sensor-2", "--dir", d]);
    assert!(out.contains("Revoked device sensor-2"), "{out}");
    assert!(out.contains("next message"), "{out}");
    let out = ok(&["device", "revoke", "sensor-2", "--dir", d]);
    assert!(out.contains("already revoked"), "{out}");

    // The table shows the revocation.
    let out = ok(&["device", "list", "--dir", d]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("NAME"), "{out}");
    assert_eq!(lines.len(), 4, "{out}");
    let sensor2 = lines.iter().find(|l| l.starts_with("sensor-2")).unwrap();
    assert!(sensor2.contains("revoked"), "{out}");
    assert!(sensor2.contains("never"), "{out}");

    // A fourth device gets the next kid: the revoked device's kid is not reused.
    let out = ok(&["device", "add", "sensor-4", "--dir", d]);
    assert!(out.contains("kid h'03'"), "{out}");
}

#[test]
fn errors_name_what_is_at_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cloud");
    let d = dir.to_str().unwrap();

    // Missing directory: every command names it and says to run init.
    for args in [
        &["device", "add", "x", "--dir", d][..],
        &["device", "list", "--dir", d],
        &["device", "revoke", "x", "--dir", d],
    ] {
        let err = fails(args);
        assert!(err.contains(d), "{err}");
        assert!(err.contains("ferrule init --dir"), "{err}");
    }
    // A directory without an identity: the identity file is named.
    fs::create_dir_all(&dir).unwrap();
    let err = fails(&["device", "add", "x", "--dir", d]);
    assert!(err.contains("cloud.identity not found"), "{err}");
    assert!(err.contains("ferrule init --dir"), "{err}");

    ok(&["init", "--dir", d]);
    ok(&["device", "add", "sensor-1", "--dir", d]);

    // Duplicate name.
    let err = fails(&["device", "add", "sensor-1", "--dir", d]);
    assert!(err.contains("\"sensor-1\" is already registered"), "{err}");
    // Bad names.
    for bad in ["a/b", "..", "has space", &"x".repeat(65)] {
        let err = fails(&["device", "add", bad, "--dir", d]);
        assert!(err.contains("invalid device name"), "{bad}: {err}");
        assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
    }
    // Unsupported suite and method: the option and the value are named.
    let err = fails(&["device", "add", "s7", "--dir", d, "--suite", "7"]);
    assert!(err.contains("--suite"), "{err}");
    assert!(err.contains("cipher suite 7 is not supported"), "{err}");
    let err = fails(&["device", "add", "m9", "--dir", d, "--method", "9"]);
    assert!(err.contains("--method"), "{err}");
    assert!(!dir.join("devices").join("s7.bundle").exists());
    // Unknown device.
    let err = fails(&["device", "revoke", "nobody", "--dir", d]);
    assert!(err.contains("no device named \"nobody\""), "{err}");
    assert!(err.contains("ferrule device list --dir"), "{err}");

    // Nothing above registered a device.
    let out = ok(&["device", "list", "--dir", d, "--json"]);
    let devices: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(devices.as_array().unwrap().len(), 1);
}

#[test]
fn init_force_replaces_the_identity_and_keeps_the_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    ok(&["init", "--dir", d]);
    ok(&["device", "add", "a", "--dir", d]);
    let before = fs::read(tmp.path().join("cloud.identity")).unwrap();
    let output = ferrule(&["init", "--dir", d, "--force"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("replaced"), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("provisioned again"),
        "{}",
        stderr(&output)
    );
    assert_ne!(fs::read(tmp.path().join("cloud.identity")).unwrap(), before);
    let out = ok(&["device", "list", "--dir", d]);
    assert!(out.lines().any(|l| l.starts_with("a ")), "{out}");
}

#[test]
fn every_help_describes_itself() {
    for (args, expected) in [
        (&["--help"][..], "init"),
        (&["init", "--help"], "cloud identity"),
        (&["device", "--help"], "revoke"),
        (&["device", "add", "--help"], "NAME.bundle"),
        (&["device", "list", "--help"], "--json"),
        (&["device", "revoke", "--help"], "next message"),
    ] {
        let out = ok(args);
        assert!(out.contains(expected), "{args:?}: {out}");
    }
}

#[test]
fn empty_list_says_how_to_add() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    ok(&["init", "--dir", d]);
    let out = ok(&["device", "list", "--dir", d]);
    assert!(out.contains("No devices registered"), "{out}");
    assert!(out.contains("ferrule device add NAME"), "{out}");
    assert_eq!(ok(&["device", "list", "--dir", d, "--json"]).trim(), "[]");
}
