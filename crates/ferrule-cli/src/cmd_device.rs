//! `ferrule device add|list|revoke`: provision, list and revoke devices.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use ferrule_cloud::registry::{hex, is_compact_kid};
use ferrule_cloud::timestamp;
use ferrule_cloud::{provision_device, CloudDir, CloudIdentity, Device, Registry};
use ferrule_proto::edhoc::{CipherSuite, Method};

/// Manage the devices of a cloud directory: provision, list, revoke, run and export them.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DeviceCommand,
}

/// The `ferrule device` commands.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Provision a device: generate its key, register it, and write DIR/devices/NAME.bundle.
    ///
    /// Generates the device's private key, registers the device in DIR/registry.sqlite with the
    /// next free key identifier (kid; the first 48 devices get one-byte kids, for the minimal
    /// 101-byte handshake), and writes its bundle to DIR/devices/NAME.bundle (mode 0600).
    ///
    /// The bundle holds everything the device needs to authenticate to this cloud: its name,
    /// EDHOC method and cipher suite, its private key and credential, and the cloud's credential.
    /// Copy it to the device and nowhere else.
    Add(AddArgs),
    /// List the registered devices with their kid, suite, status and when they were last seen.
    ///
    /// Prints a table with each device's name, key identifier (kid, in hex), cipher suite, EDHOC
    /// method, status (active or revoked), when it was registered and when the cloud last heard
    /// from it; or, with --json, a JSON array with one object per device.
    List(ListArgs),
    /// Revoke a device: a running server refuses it from its next message on.
    ///
    /// The device stays in the registry, marked revoked, so its name and kid are never given to
    /// another device. Revoking a device that is already revoked changes nothing.
    Revoke(RevokeArgs),
    /// Run a Linux device agent from a bundle: handshake, then send protected telemetry.
    ///
    /// Runs EDHOC with the cloud (the combined request by default), then sends COUNT telemetry
    /// messages as OSCORE-protected `POST /t`, each acknowledged only after the cloud stored it,
    /// and prints every event: connected, acknowledged, command received, refused.
    Run(crate::cmd_run::RunArgs),
    /// Print a device's credentials for another EDHOC/OSCORE implementation.
    ///
    /// With --format aiocoap (the default), prints an aiocoap credentials file (EDN; save it as
    /// FILE.diag) with which `aiocoap-client --credentials FILE.diag` acts as this device
    /// against the Ferrule server at --server. With --format aiocoap-server, prints the
    /// credentials with which an aiocoap server acts as this device's cloud at --server.
    Export(crate::cmd_export::ExportArgs),
}

/// The cloud directory argument shared by the device commands.
#[derive(Debug, Args)]
pub struct DirArg {
    /// The cloud directory, as set up by `ferrule init --dir DIR`.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

/// The arguments of `ferrule device add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The device name: 1 to 64 characters, each a letter, a digit, '.', '_' or '-'. Names are
    /// never reused, even after revocation.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub dir: DirArg,
    /// EDHOC cipher suite: 0 or 1 (X25519, EdDSA; the lightest), 2 or 3 (P-256, ES256; what most
    /// peers speak). 0 and 2 use 8-byte MACs, 1 and 3 16-byte MACs.
    #[arg(long, value_name = "N", default_value = "2", value_parser = parse_suite)]
    pub suite: CipherSuite,
    /// EDHOC method: 3 = both sides static Diffie-Hellman (the smallest handshake), 0 = both sign,
    /// 1 = the device signs and the cloud uses static DH, 2 = the reverse.
    #[arg(long, value_name = "N", default_value = "3", value_parser = parse_method)]
    pub method: Method,
}

/// The arguments of `ferrule device list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub dir: DirArg,
    /// Print a JSON array with one object per device instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `ferrule device revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The device to revoke.
    #[arg(value_name = "NAME")]
    pub name: String,
    #[command(flatten)]
    pub dir: DirArg,
}

/// Parses `--suite`.
fn parse_suite(text: &str) -> Result<CipherSuite, String> {
    let suite = text
        .parse::<i32>()
        .map(CipherSuite::from_id)
        .map_err(|_| format!("{text:?} is not a cipher suite number: use 0, 1, 2 or 3"))?;
    if suite.is_implemented() {
        Ok(suite)
    } else {
        Err(format!(
            "cipher suite {text} is not supported: use 0, 1, 2 or 3"
        ))
    }
}

/// Parses `--method`.
fn parse_method(text: &str) -> Result<Method, String> {
    text.parse::<i64>()
        .ok()
        .and_then(Method::from_id)
        .ok_or_else(|| format!("EDHOC method {text:?} is not supported: use 0, 1, 2 or 3"))
}

/// Runs a `ferrule device` command.
pub fn run(args: &DeviceArgs) -> anyhow::Result<()> {
    match &args.command {
        DeviceCommand::Add(args) => add(args),
        DeviceCommand::List(args) => list(args),
        DeviceCommand::Revoke(args) => revoke(args),
        DeviceCommand::Run(args) => crate::cmd_run::run(args),
        DeviceCommand::Export(args) => crate::cmd_export::run(args),
    }
}

/// The cloud directory, which must exist.
fn cloud_dir(arg: &DirArg) -> anyhow::Result<CloudDir> {
    let dir = CloudDir::new(&arg.dir);
    if !dir.root().is_dir() {
        bail!(
            "cloud directory {} does not exist: run `ferrule init --dir {}` first",
            dir.root().display(),
            dir.root().display()
        );
    }
    Ok(dir)
}

fn add(args: &AddArgs) -> anyhow::Result<()> {
    let dir = cloud_dir(&args.dir)?;
    let identity = CloudIdentity::load(dir.root())?;
    let registry = Registry::open(dir.root())?;
    let done = provision_device(
        &dir,
        &identity,
        &registry,
        &args.name,
        args.method,
        args.suite,
    )?;
    let device = &done.device;
    let compact = if is_compact_kid(&device.kid) {
        " (one byte, compact: the minimal handshake)"
    } else {
        ""
    };
    println!(
        "Registered device {}: kid h'{}'{compact}, cipher suite {}, EDHOC method {}.",
        device.name,
        hex(&device.kid),
        device.suite.id(),
        device.method.id()
    );
    println!(
        "Wrote {} (mode 0600). It holds the device's private key: copy it to the device and \
         nowhere else.",
        done.bundle_path.display()
    );
    println!(
        "Next: start the cloud with `ferrule serve --dir {}` and the device with `ferrule device \
         run --bundle {} --server ADDR`.",
        dir.root().display(),
        done.bundle_path.display()
    );
    Ok(())
}

fn list(args: &ListArgs) -> anyhow::Result<()> {
    let dir = cloud_dir(&args.dir)?;
    let registry = Registry::open(dir.root())?;
    let devices = registry.list_devices()?;
    if args.json {
        let items: Vec<serde_json::Value> = devices.iter().map(device_json).collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    if devices.is_empty() {
        println!(
            "No devices registered in {}. Add one with `ferrule device add NAME --dir {}`.",
            registry.path().display(),
            dir.root().display()
        );
        return Ok(());
    }
    print!("{}", table(&devices));
    Ok(())
}

/// One device as a JSON object.
fn device_json(device: &Device) -> serde_json::Value {
    serde_json::json!({
        "name": device.name,
        "kid": hex(&device.kid),
        "suite": device.suite.id(),
        "method": device.method.id(),
        "status": device.status.as_str(),
        "created_at": timestamp::format_millis(device.created_at),
        "last_seen": device.last_seen.map(timestamp::format_millis),
        "revoked_at": device.revoked_at.map(timestamp::format_millis),
        "credential": hex(&device.credential),
    })
}

/// The devices as an aligned text table with a header line.
fn table(devices: &[Device]) -> String {
    let header = [
        "NAME",
        "KID",
        "SUITE",
        "METHOD",
        "STATUS",
        "CREATED",
        "LAST SEEN",
    ];
    let rows: Vec<[String; 7]> = devices
        .iter()
        .map(|d| {
            [
                d.name.clone(),
                hex(&d.kid),
                d.suite.id().to_string(),
                d.method.id().to_string(),
                d.status.to_string(),
                timestamp::format_seconds(d.created_at),
                d.last_seen
                    .map_or_else(|| "never".to_owned(), timestamp::format_seconds),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

fn revoke(args: &RevokeArgs) -> anyhow::Result<()> {
    let dir = cloud_dir(&args.dir)?;
    let registry = Registry::open(dir.root())?;
    let revoked = registry.revoke(&args.name)?;
    let device = registry.device(&args.name)?;
    let kid = device.as_ref().map(|d| hex(&d.kid)).unwrap_or_default();
    if revoked {
        println!(
            "Revoked device {} (kid h'{kid}'). A running server refuses it from its next message \
             on; its name and kid will not be reused.",
            args.name
        );
    } else {
        let when = device
            .and_then(|d| d.revoked_at)
            .map(|t| format!(" at {}", timestamp::format_seconds(t)))
            .unwrap_or_default();
        println!(
            "Device {} (kid h'{kid}') was already revoked{when}; nothing changed.",
            args.name
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::time::Duration;
    use std::time::UNIX_EPOCH;

    #[test]
    fn suite_and_method_parsers_explain_themselves() {
        assert_eq!(parse_suite("0"), Ok(CipherSuite::Suite0));
        assert_eq!(parse_suite("3"), Ok(CipherSuite::Suite3));
        assert!(parse_suite("4")
            .unwrap_err()
            .contains("cipher suite 4 is not supported"));
        assert!(parse_suite("x")
            .unwrap_err()
            .contains("not a cipher suite number"));
        assert_eq!(parse_method("3"), Ok(Method::StaticStatic));
        assert!(parse_method("4")
            .unwrap_err()
            .contains("EDHOC method \"4\""));
    }

    #[test]
    fn table_aligns_columns() {
        let device = |name: &str, kid: &[u8]| Device {
            name: name.to_owned(),
            kid: kid.to_vec(),
            suite: CipherSuite::Suite2,
            method: Method::StaticStatic,
            credential: vec![0xa0],
            status: ferrule_cloud::DeviceStatus::Active,
            created_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            last_seen: None,
            revoked_at: None,
        };
        let text = table(&[device("a", &[0]), device("longer-name", &[1, 0])]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "NAME         KID   SUITE  METHOD  STATUS  CREATED               LAST SEEN"
        );
        assert_eq!(
            lines[1],
            "a            00    2      3       active  2023-11-14T22:13:20Z  never"
        );
        assert_eq!(lines[2].find("0100"), lines[0].find("KID"));
    }
}
