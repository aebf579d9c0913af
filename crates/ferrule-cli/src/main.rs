//! The `ferrule` command line: the user-facing front of Ferrule's crates.
//!
//! Ferrule is end-to-end security for constrained IoT devices: EDHOC (RFC 9528) key exchange and
//! OSCORE (RFC 8613) message protection over CoAP (RFC 7252). This binary will carry the commands
//! that provision a fleet, run the cloud service, run device agents and demonstrate the whole
//! system. Today it has `init` and `device add|list|revoke` (provisioning), and `demo`, which says
//! what is and is not built yet.

mod cmd_device;
mod cmd_init;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// What `ferrule demo` prints while the end-to-end demo is not built.
const DEMO_NOT_YET: &str = "\
The end-to-end demo is not implemented yet. It lands with the system pieces (the device SDK, the \
cloud service and the command line's provisioning, serve and device commands), and will then set \
up a cloud identity and a device registry in a temporary directory, register a device, and walk \
through a protected exchange between a device and the cloud across an untrusted relay, narrating \
each step. What works today is the protocol core, the `ferrule-proto` crate with its RustCrypto \
provider `ferrule-crypto`, and its tests: run `cargo xtask test` from the repository to check \
formatting, lints, the test suite and the no_std builds for Cortex-M.";

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
    /// Provision, list and revoke devices.
    Device(cmd_device::DeviceArgs),
    /// Run the end-to-end demo, narrated (not implemented yet: says what works today).
    Demo,
}

/// Parses the command line and runs the chosen command.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Init(args) => cmd_init::run(args),
        Command::Device(args) => cmd_device::run(args),
        Command::Demo => {
            println!("{DEMO_NOT_YET}");
            Ok(())
        }
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
        assert!(matches!(cli.command, Command::Demo));
    }

    #[test]
    fn unknown_commands_are_rejected() {
        assert!(Cli::try_parse_from(["ferrule", "no-such-command"]).is_err());
    }
}
