//! The `ferrule` command line: the user-facing front of Ferrule's crates.
//!
//! Ferrule is end-to-end security for constrained IoT devices: EDHOC (RFC 9528) key exchange and
//! OSCORE (RFC 8613) message protection over CoAP (RFC 7252). This binary provisions a fleet
//! (`init`, `device add|list|revoke`), runs the cloud service (`serve`), device agents
//! (`device run`, `fleet`) and an untrusted relay (`relay`), and demonstrates the whole system
//! (`demo`).

mod agent;
mod cmd_demo;
mod cmd_device;
mod cmd_export;
mod cmd_fleet;
mod cmd_init;
mod cmd_relay;
mod cmd_run;
mod cmd_serve;
mod logging;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// End-to-end security for constrained IoT devices: EDHOC (RFC 9528) and OSCORE (RFC 8613) over
/// CoAP.
#[derive(Debug, Parser)]
#[command(name = "ferrule", version)]
struct Cli {
    /// The command to run.
    #[command(subcommand)]
    command: Command,
}

/// The commands of `ferrule`.
#[derive(Debug, Subcommand)]
enum Command {
    /// Create a cloud directory: the cloud identity and an empty device registry.
    ///
    /// Creates DIR if needed, DIR/cloud.identity (the cloud's private keys and credentials for
    /// every EDHOC method and cipher suite, mode 0600), an empty device registry
    /// DIR/registry.sqlite, and DIR/devices/ for device bundles.
    ///
    /// Refuses to replace an existing cloud identity unless --force is given, since every device
    /// provisioned from this directory trusts it.
    Init(cmd_init::InitArgs),
    /// Provision, list, revoke, run and export devices.
    Device(cmd_device::DeviceArgs),
    /// Run the cloud service: EDHOC responder, OSCORE endpoint, registry checks and sinks.
    ///
    /// Listens for devices on UDP (CoAP), authenticates them against the registry in DIR,
    /// writes their telemetry to the sink (one JSON object per line) and acknowledges each
    /// message only after the sink accepted it. With --admin, serves an HTTP API on loopback:
    /// GET /devices, POST /devices/NAME/revoke, POST /devices/NAME/commands, GET /metrics.
    Serve(cmd_serve::ServeArgs),
    /// Run many simulated devices against a server and report throughput and latency.
    ///
    /// Each simulated device is a real device session with its own identity, provisioned in DIR
    /// on first use. Prints a summary, or with --json exactly one JSON object on stdout.
    Fleet(cmd_fleet::FleetArgs),
    /// Forward UDP between devices and the cloud like an untrusted gateway, showing what it sees.
    ///
    /// Each line tells the direction, the size, and what the bytes reveal: EDHOC message_1 is
    /// public by design; everything after it is ciphertext to the relay.
    Relay(cmd_relay::RelayArgs),
    /// Run the whole system in a temporary directory, narrated, and clean up.
    ///
    /// Sets up a cloud, provisions three devices, starts the server and a relay, runs the
    /// devices through the relay, delivers a command, revokes a device and shows it refused,
    /// prints the decrypted telemetry and a summary. Exits 0 when everything behaved.
    Demo(cmd_demo::DemoArgs),
}

/// Parses the command line and runs the chosen command.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Init(args) => cmd_init::run(args),
        Command::Device(args) => cmd_device::run(args),
        Command::Serve(args) => cmd_serve::run(args),
        Command::Fleet(args) => cmd_fleet::run(args),
        Command::Relay(args) => cmd_relay::run(args),
        Command::Demo(args) => cmd_demo::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn demo_parses() {
        let cli = Cli::try_parse_from(["ferrule", "demo"]).expect("`ferrule demo` parses");
        assert!(matches!(cli.command, Command::Demo(_)));
    }

    #[test]
    fn unknown_commands_are_rejected() {
        assert!(Cli::try_parse_from(["ferrule", "no-such-command"]).is_err());
    }
}
