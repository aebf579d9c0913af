//! Project tasks for Ferrule, run as `cargo xtask <COMMAND>` (the alias lives in
//! `.cargo/config.toml`).
//!
//! `cargo xtask test` is the one command that checks the whole project, on a developer's machine and
//! in CI alike. It first installs what cargo cannot install by itself (the bare-metal targets and
//! the rustfmt and clippy components, through rustup), then runs formatting, lints, the test suite
//! and the `no_std` builds, then the firmware checks (after installing QEMU from Debian when it
//! runs as root): the footprint against its baseline and the end-to-end test in QEMU. It stops at
//! the first step that fails.
//!
//! This crate uses only `std`, so that it builds in seconds on a fresh machine. To add a step,
//! append it to the list returned by [`test_steps`].

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

mod firmware;
mod firmware_test;
mod footprint;

/// Bare-metal targets the `no_std` crates must build for: Cortex-M4F/M7F and Cortex-M0/M0+.
const THUMB_TARGETS: [&str; 2] = ["thumbv7em-none-eabihf", "thumbv6m-none-eabi"];

/// rustup components the checks need.
const COMPONENTS: [&str; 2] = ["rustfmt", "clippy"];

/// Crates that must build without `std`, for every entry of [`THUMB_TARGETS`].
const NO_STD_CRATES: [&str; 3] = ["ferrule-proto", "ferrule-crypto", "ferrule-device"];

/// The thumb target of the Cortex-M3 firmware (`cargo xtask firmware-test`); the others it needs
/// are in [`THUMB_TARGETS`].
const FIRMWARE_TARGETS: [&str; 1] = ["thumbv7m-none-eabi"];

/// The Debian packages the firmware steps need: QEMU runs the firmware, binutils inspects it.
const FIRMWARE_PACKAGES: [&str; 2] = ["qemu-system-arm", "binutils-arm-none-eabi"];

/// The independent peer of the interoperability tests, installed from PyPI into `.venv`.
const PYTHON_PEER: &str = "aiocoap[oscore]==0.4.17";

/// The usage text shown by `cargo xtask --help` and after a usage error.
const USAGE: &str = "\
Ferrule project tasks

Usage: cargo xtask <COMMAND>

Commands:
  test    Run every check the project requires, in order, stopping at the first failure:
            1. setup: install the thumbv7em-none-eabihf and thumbv6m-none-eabi targets and the
               rustfmt and clippy components through rustup, if they are missing
            2. setup: Python venv with the interop peer: create .venv with aiocoap[oscore]==0.4.17
               (the independent peer of the interoperability tests), if it is missing
            3. cargo fmt --all --check
            4. cargo clippy --workspace --all-targets -- -D warnings
            5. cargo test --workspace
            6. cargo build -p ferrule-proto -p ferrule-crypto -p ferrule-device --target thumbv7em-none-eabihf
            7. cargo build -p ferrule-proto -p ferrule-crypto -p ferrule-device --target thumbv6m-none-eabi
            8. setup: QEMU, ARM binutils and the thumbv7m-none-eabi target: if qemu-system-arm
               is missing, apt-get update and apt-get install qemu-system-arm
               binutils-arm-none-eabi (as root, or through passwordless sudo; otherwise it says
               so and the next steps fail); rustup target add thumbv7m-none-eabi
            9. cargo xtask footprint --check
           10. cargo xtask firmware-test
  footprint [--json] [--check] [--no-run] [--breakdown]
          Build the firmware footprint profiles and report flash, static RAM and peak stack
          (see `cargo xtask footprint --help`)
  firmware-test
          Run the firmware in QEMU (Cortex-M3 and M4F) against `ferrule serve` through
          `ferrule relay --serial-tcp`, with a reset in the middle of a run
  help    Print this message

Options:
  -h, --help  Print this message

Exit status: 0 when every step passed, 1 when a step failed, 2 on a usage error.";

/// What a step does.
enum Action {
    /// Run cargo (the same cargo that runs xtask) with these arguments, in the repository root.
    Cargo(Vec<String>),
    /// Run a function; an `Err` carries the reason the step failed.
    Task(fn(&Context) -> Result<(), String>),
}

/// One named step of a task.
struct Step {
    /// Short name used in the headers and in the summary line.
    name: String,
    /// What the step does.
    action: Action,
}

impl Step {
    /// A step that runs `cargo` with `args`; its name is the command line.
    fn cargo(args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        Self {
            name: format!("cargo {}", args.join(" ")),
            action: Action::Cargo(args),
        }
    }

    /// A step that runs `task`.
    fn task(name: &str, task: fn(&Context) -> Result<(), String>) -> Self {
        Self {
            name: name.to_owned(),
            action: Action::Task(task),
        }
    }
}

/// Where the tasks run and with which tools.
struct Context {
    /// The repository (workspace) root.
    root: PathBuf,
    /// The cargo executable: the one that started xtask, else `cargo` from `PATH`.
    cargo: OsString,
}

impl Context {
    /// Builds the context from the environment cargo gives a program it runs.
    fn from_env() -> Self {
        let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest_dir
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or(manifest_dir);
        let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        Self { root, cargo }
    }
}

/// The steps of `cargo xtask test`, in the order they run.
fn test_steps() -> Vec<Step> {
    let mut steps = vec![
        Step::task("setup: rustup targets and components", setup_toolchain),
        Step::task("setup: Python venv with the interop peer", setup_python),
        Step::cargo(&["fmt", "--all", "--check"]),
        Step::cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
        Step::cargo(&["test", "--workspace"]),
    ];
    for target in THUMB_TARGETS {
        let mut args = vec!["build"];
        for krate in NO_STD_CRATES {
            args.extend(["-p", krate]);
        }
        args.extend(["--target", target]);
        steps.push(Step::cargo(&args));
    }
    steps.push(Step::task(
        "setup: QEMU, ARM binutils and the thumbv7m-none-eabi target",
        setup_firmware,
    ));
    steps.push(Step::task(
        "cargo xtask footprint --check",
        footprint::check_step,
    ));
    steps.push(Step::task("cargo xtask firmware-test", firmware_test::step));
    steps
}

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Setup step: [`FIRMWARE_PACKAGES`] from Debian if `qemu-system-arm` or `arm-none-eabi-size`
/// is missing, and [`FIRMWARE_TARGETS`] through rustup.
///
/// apt-get needs root: as root (CI) it runs directly, otherwise through `sudo -n` if that works
/// without a password; else the step only says what to install, and the footprint check and the
/// firmware test fail for want of QEMU.
fn setup_firmware(_ctx: &Context) -> Result<(), String> {
    if runs("qemu-system-arm") && runs("arm-none-eabi-size") {
        println!("qemu-system-arm and arm-none-eabi-size already installed");
    } else {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        let sudo = !root
            && Command::new("sudo")
                .args(["-n", "true"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        let apt_get = |args: &[&str]| {
            let mut command = if sudo {
                // sudo drops the environment: pass DEBIAN_FRONTEND through env(1).
                let mut c = Command::new("sudo");
                c.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
                c
            } else {
                Command::new("apt-get")
            };
            command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            run(
                &mut command,
                &format!(
                    "{}apt-get {}",
                    if sudo { "sudo " } else { "" },
                    args.join(" ")
                ),
            )
        };
        if !root && !sudo {
            println!(
                "qemu-system-arm or arm-none-eabi-size is missing, and installing needs root: \
                 skipped (install them with `apt-get install {}`); the firmware steps will fail \
                 without QEMU",
                FIRMWARE_PACKAGES.join(" ")
            );
        } else {
            apt_get(&["update", "-q"])?;
            let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
            args.extend(FIRMWARE_PACKAGES);
            apt_get(&args)?;
        }
    }
    if rustup_output(&["--version"]).is_none() {
        println!(
            "rustup not found: assuming the target {} is installed",
            FIRMWARE_TARGETS.join(", ")
        );
        return Ok(());
    }
    ensure_installed("target", &FIRMWARE_TARGETS)
}

/// Creates `.venv` with [`PYTHON_PEER`] unless it already imports it.
fn setup_python(ctx: &Context) -> Result<(), String> {
    let venv = ctx.root.join(".venv");
    let python = venv.join("bin").join("python");
    let ready = Command::new(&python)
        .args([
            "-c",
            "import aiocoap, lakers; assert aiocoap.meta.version == '0.4.17'",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if ready {
        println!("{} already has {PYTHON_PEER}", venv.display());
        return Ok(());
    }
    if !python.exists() {
        let system = env::var_os("PYTHON").unwrap_or_else(|| OsString::from("python3"));
        run(
            Command::new(&system).arg("-m").arg("venv").arg(&venv),
            "creating the Python venv (needs python3 with the venv module)",
        )?;
    }
    run(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            PYTHON_PEER,
        ]),
        "installing the interop peer from PyPI",
    )
}

/// Runs `steps` in order, printing a header before each and one summary line at the end.
///
/// Stops at the first step that fails.
fn run_steps(task: &str, steps: &[Step], ctx: &Context) -> ExitCode {
    let started = Instant::now();
    let total = steps.len();
    for (index, step) in steps.iter().enumerate() {
        let number = index + 1;
        println!("\n==> xtask {task} [{number}/{total}] {}", step.name);
        let step_started = Instant::now();
        let result = match &step.action {
            Action::Cargo(args) => run_cargo(ctx, args),
            Action::Task(function) => function(ctx),
        };
        if let Err(reason) = result {
            eprintln!("error: {reason}");
            println!(
                "\nxtask {task}: FAILED at step {number}/{total} ({}) after {:.1}s",
                step.name,
                started.elapsed().as_secs_f64()
            );
            return ExitCode::FAILURE;
        }
        println!(
            "--> step {number}/{total} ok in {:.1}s",
            step_started.elapsed().as_secs_f64()
        );
    }
    println!(
        "\nxtask {task}: all {total} steps succeeded in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

/// Runs cargo with `args` in the repository root, with the output going straight to the terminal.
fn run_cargo(ctx: &Context, args: &[String]) -> Result<(), String> {
    let mut command = Command::new(&ctx.cargo);
    command.args(args).current_dir(&ctx.root);
    run(&mut command, &format!("cargo {}", args.join(" ")))
}

/// Runs `command` to completion; `Err` names `what` and how it ended if it did not succeed.
fn run(command: &mut Command, what: &str) -> Result<(), String> {
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("`{what}` failed ({status})")),
        Err(error) => Err(format!("could not start `{what}`: {error}")),
    }
}

/// Runs `rustup` with `args` and returns its standard output, or `None` if it could not run or
/// did not succeed.
fn rustup_output(args: &[&str]) -> Option<String> {
    let output = Command::new("rustup").args(args).output().ok()?;
    if output.status.success() {
        Some(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        None
    }
}

/// The items of `wanted` that the `rustup <kind> list --installed` output does not contain.
///
/// Component lines look like `clippy-x86_64-unknown-linux-gnu`, target lines like
/// `thumbv6m-none-eabi`; both forms count as installed.
fn missing<'a>(wanted: &[&'a str], installed: &str) -> Vec<&'a str> {
    wanted
        .iter()
        .copied()
        .filter(|name| {
            !installed.lines().map(str::trim).any(|line| {
                line == *name
                    || line
                        .strip_prefix(*name)
                        .is_some_and(|rest| rest.starts_with('-'))
            })
        })
        .collect()
}

/// Installs through rustup whatever of `wanted` is missing; `kind` is `target` or `component`.
fn ensure_installed(kind: &str, wanted: &[&str]) -> Result<(), String> {
    let list = |kind: &str| {
        rustup_output(&[kind, "list", "--installed"])
            .ok_or_else(|| format!("`rustup {kind} list --installed` failed"))
    };
    let absent = missing(wanted, &list(kind)?);
    if absent.is_empty() {
        println!("{kind}s already installed: {}", wanted.join(", "));
        return Ok(());
    }
    println!("installing {kind}s: {}", absent.join(", "));
    let mut args = vec![kind, "add"];
    args.extend(absent.iter().copied());
    let what = format!("rustup {}", args.join(" "));
    if let Err(first) = run(Command::new("rustup").args(&args), &what) {
        // Two rustup processes installing into one toolchain at the same time can trip over each
        // other; whatever is still missing afterwards gets one more try.
        let still_absent = missing(wanted, &list(kind)?);
        if still_absent.is_empty() {
            return Ok(());
        }
        eprintln!("{first}; trying once more");
        let mut args = vec![kind, "add"];
        args.extend(still_absent.iter().copied());
        run(Command::new("rustup").args(&args), &what)?;
    }
    Ok(())
}

/// Setup step: the thumb targets and the rustfmt and clippy components.
///
/// Without rustup (a toolchain installed some other way) there is nothing this step can do; it
/// says so and lets the later steps report what is missing.
fn setup_toolchain(_ctx: &Context) -> Result<(), String> {
    if rustup_output(&["--version"]).is_none() {
        println!(
            "rustup not found: assuming the targets {} and the components {} are installed",
            THUMB_TARGETS.join(", "),
            COMPONENTS.join(", ")
        );
        return Ok(());
    }
    ensure_installed("target", &THUMB_TARGETS)?;
    ensure_installed("component", &COMPONENTS)
}

/// Parses the command line and runs the chosen task.
fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["test"] => run_steps("test", &test_steps(), &Context::from_env()),
        ["footprint", options @ ..] => footprint::run(&Context::from_env(), options),
        ["firmware-test", options @ ..] => firmware_test::run(&Context::from_env(), options),
        ["help"] | ["-h"] | ["--help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        [] => {
            eprintln!("error: no command given\n\n{USAGE}");
            ExitCode::from(2)
        }
        other => {
            eprintln!("error: unknown command `{}`\n\n{USAGE}", other.join(" "));
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_reads_rustup_listings() {
        let components = "cargo-x86_64-unknown-linux-gnu\nclippy-x86_64-unknown-linux-gnu\n";
        assert_eq!(missing(&COMPONENTS, components), vec!["rustfmt"]);
        let targets = "thumbv6m-none-eabi\nx86_64-unknown-linux-gnu\n";
        assert_eq!(
            missing(&THUMB_TARGETS, targets),
            vec!["thumbv7em-none-eabihf"]
        );
        assert!(missing(
            &THUMB_TARGETS,
            "thumbv6m-none-eabi\nthumbv7em-none-eabihf\n"
        )
        .is_empty());
    }

    #[test]
    fn test_steps_match_the_usage_text() {
        let steps = test_steps();
        for (index, step) in steps.iter().enumerate().skip(1) {
            assert!(
                USAGE.contains(&format!("{}. {}", index + 1, step.name)),
                "usage text does not list step {}: {}",
                index + 1,
                step.name
            );
        }
    }
}
