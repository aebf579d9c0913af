//! What the firmware tasks (`footprint`, `firmware-test`) share: building the firmware of
//! `firmware/` and the CLI, a temporary cloud (`ferrule serve`), the CLI's serial bridge
//! (`ferrule relay --serial-tcp`) and QEMU runs that cannot outlive the task.
//!
//! Every child process is held by a [`Guard`], which kills it when dropped, so an error or a
//! panic in a task leaves no `ferrule serve`, relay or QEMU behind.

use core::net::SocketAddr;
use core::time::Duration;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::Instant;

use crate::Context;

/// How long a started server or relay may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The firmware's cargo workspace, `firmware/`.
pub fn workspace(ctx: &Context) -> PathBuf {
    ctx.root.join("firmware")
}

/// The target directory of the firmware builds, `firmware/target`, named explicitly so that a
/// `CARGO_TARGET_DIR` meant for the host workspace does not move it. Every firmware task builds
/// into it, so they share the compiled dependencies.
pub fn target_dir(ctx: &Context) -> PathBuf {
    workspace(ctx).join("target")
}

/// One build of the firmware crate `ferrule-fw`.
pub struct Build<'a> {
    /// The thumb target.
    pub target: &'a str,
    /// The binary: `ferrule-fw` or `oscore-only`.
    pub bin: &'a str,
    /// Cargo features instead of the default ones; `None` builds with the default ones
    /// (`any-suite`).
    pub features: Option<&'a str>,
}

/// Builds `build` (release: opt-level "z", fat LTO) and copies its ELF to `dest`, since the next
/// build with other features replaces the file cargo wrote.
pub fn build(ctx: &Context, build: &Build<'_>, dest: &Path) -> Result<(), String> {
    let target_dir = target_dir(ctx);
    let mut command = Command::new(&ctx.cargo);
    // Run in firmware/ so that its .cargo/config.toml (linker script, aes_compact) applies.
    command.current_dir(workspace(ctx)).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "ferrule-fw",
        "--bin",
        build.bin,
        "--target",
        build.target,
    ]);
    command.arg("--target-dir").arg(&target_dir);
    if let Some(features) = build.features {
        command.args(["--no-default-features", "--features", features]);
    }
    crate::run(
        &mut command,
        &format!(
            "building {} for {} ({})",
            build.bin,
            build.target,
            build.features.unwrap_or("default features")
        ),
    )?;
    let built = target_dir
        .join(build.target)
        .join("release")
        .join(build.bin);
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    fs::copy(&built, dest).map_err(|e| format!("copying {}: {e}", built.display()))?;
    Ok(())
}

/// Builds the CLI (debug, as `cargo test` does, so that CI reuses its artifacts); the path of
/// the `ferrule` executable.
pub fn build_cli(ctx: &Context) -> Result<PathBuf, String> {
    crate::run(
        Command::new(&ctx.cargo).current_dir(&ctx.root).args([
            "build",
            "--quiet",
            "-p",
            "ferrule-cli",
        ]),
        "cargo build -p ferrule-cli",
    )?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                ctx.root.join(dir)
            }
        })
        .unwrap_or_else(|| ctx.root.join("target"));
    Ok(target_dir.join("debug").join("ferrule"))
}

/// Whether `qemu-system-arm` runs.
pub fn qemu_available() -> bool {
    Command::new("qemu-system-arm")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A child process that is killed when dropped.
pub struct Guard(pub Child);

impl Guard {
    /// Whether the process has ended (and how).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A file for a child's standard output and standard error, both.
fn log_file(path: &Path) -> Result<(Stdio, Stdio), String> {
    let file = fs::File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
    let copy = file
        .try_clone()
        .map_err(|e| format!("opening {}: {e}", path.display()))?;
    Ok((Stdio::from(file), Stdio::from(copy)))
}

/// The last `lines` lines of the file at `path`, for an error message.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let skipped = all.len().saturating_sub(lines);
    let mut out = String::new();
    if skipped > 0 {
        out.push_str(&format!(
            "  [... {skipped} earlier lines in {}]\n",
            path.display()
        ));
    }
    for line in &all[skipped..] {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Runs `ferrule ARGS` in `dir` to completion.
pub fn ferrule(ferrule: &Path, dir: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new(ferrule)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("running {}: {e}", ferrule.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ferrule {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A running `ferrule serve` on loopback, on a cloud directory `cloud` in its working
/// directory, with telemetry to `sink.jsonl` there.
pub struct Cloud {
    /// The working directory: `cloud/`, `sink.jsonl`, `serve.log`.
    pub dir: PathBuf,
    /// The cloud's UDP address.
    pub udp: SocketAddr,
    /// The admin API's address, if it was asked for.
    pub admin: Option<SocketAddr>,
    /// The server's log.
    pub log: PathBuf,
    _serve: Guard,
}

impl Cloud {
    /// `ferrule init` in `dir` (emptied first), `ferrule device add` for every `(name, suite)`
    /// (`None`: the default suite), then `ferrule serve` on `127.0.0.1:0` (and the admin API on
    /// another loopback port if `admin`); returns once the server said where it listens.
    pub fn start(
        exe: &Path,
        dir: &Path,
        devices: &[(&str, Option<u8>)],
        admin: bool,
    ) -> Result<Self, String> {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        ferrule(exe, dir, &["init", "--dir", "cloud"])?;
        for (name, suite) in devices {
            let mut args = vec!["device", "add", name, "--dir", "cloud"];
            let suite = suite.map(|s| s.to_string());
            if let Some(suite) = &suite {
                args.extend(["--suite", suite]);
            }
            ferrule(exe, dir, &args)?;
        }
        // The log goes to a file: a pipe nobody reads would block the server once full.
        let log = dir.join("serve.log");
        let (out, err) = log_file(&log)?;
        let mut command = Command::new(exe);
        command.args([
            "serve",
            "--dir",
            "cloud",
            "--listen",
            "127.0.0.1:0",
            "--sink",
            "jsonl:sink.jsonl",
        ]);
        if admin {
            command.args(["--admin", "127.0.0.1:0"]);
        }
        let mut serve = Guard(
            command
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("starting ferrule serve: {e}"))?,
        );
        let started = Instant::now();
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let find = |marker: &str| -> Option<SocketAddr> {
                text.lines().find_map(|line| {
                    let (_, rest) = line.split_once(marker)?;
                    rest.split_whitespace().next()?.parse().ok()
                })
            };
            let udp = find("listening for devices on udp://");
            let admin_addr = find("admin API on http://");
            if let Some(udp) = udp {
                if !admin || admin_addr.is_some() {
                    return Ok(Self {
                        dir: dir.to_path_buf(),
                        udp,
                        admin: admin_addr,
                        log,
                        _serve: serve,
                    });
                }
            }
            if let Some(status) = serve.exited() {
                return Err(format!("ferrule serve exited ({status}); its log:\n{text}"));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "ferrule serve did not say where it listens; its log:\n{text}"
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The device bundle `ferrule device add NAME` wrote, relative to [`Cloud::dir`].
    pub fn bundle(name: &str) -> String {
        format!("cloud/devices/{name}.bundle")
    }
}

/// A TCP port on loopback that was free a moment ago: bound to port 0, then released.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("finding a free TCP port: {e}"))
}

/// `ferrule relay --serial-tcp`: the product's serial bridge, UART frames over TCP (one
/// connection per device) to UDP datagrams toward the cloud.
pub struct Relay {
    /// Where QEMU (or anything standing in for a UART) connects.
    pub addr: SocketAddr,
    /// Its log: one line per datagram, with what a gateway can see of it.
    pub log: PathBuf,
    _relay: Guard,
}

impl Relay {
    /// Starts the relay toward `upstream` on a free loopback port, its log in `dir/relay.log`;
    /// returns once the port accepts connections. The relay announces the address before it
    /// binds it, so the port is probed; a port taken in between is retried with another.
    pub fn start(exe: &Path, dir: &Path, upstream: SocketAddr) -> Result<Self, String> {
        let log = dir.join("relay.log");
        let mut last_error = String::new();
        for _ in 0..3 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let (out, err) = log_file(&log)?;
            let mut relay = Guard(
                Command::new(exe)
                    .args(["relay", "--serial-tcp", &addr.to_string()])
                    .args(["--upstream", &upstream.to_string()])
                    .current_dir(dir)
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .map_err(|e| format!("starting ferrule relay: {e}"))?,
            );
            let started = Instant::now();
            loop {
                // The probe is a device connection of its own to the relay, closed at once:
                // the relay forgets it.
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Ok(Self {
                        addr,
                        log,
                        _relay: relay,
                    });
                }
                if let Some(status) = relay.exited() {
                    last_error = format!(
                        "ferrule relay exited ({status}); its log:\n{}",
                        tail(&log, 20)
                    );
                    break;
                }
                if started.elapsed() > START_TIMEOUT {
                    return Err(format!(
                        "ferrule relay does not accept connections on {addr}; its log:\n{}",
                        tail(&log, 20)
                    ));
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
        Err(last_error)
    }
}

/// A QEMU run of a firmware ELF: UART0 connected to a TCP server on loopback, semihosting on
/// (the firmware's files are relative to the working directory, its exit code is QEMU's), its
/// output to a file. Killed when dropped.
pub struct Qemu {
    child: Guard,
    /// The firmware's output (QEMU's standard output and standard error).
    pub output: PathBuf,
}

impl Qemu {
    /// Starts `elf` on the board `machine` in `dir`, with the semihosting command line `append`,
    /// UART0 connected to `127.0.0.1:port`, output to `output`.
    pub fn start(
        machine: &str,
        elf: &Path,
        port: u16,
        append: &str,
        dir: &Path,
        output: &Path,
    ) -> Result<Self, String> {
        let (out, err) = log_file(output)?;
        let child = Command::new("qemu-system-arm")
            .args(["-M", machine, "-display", "none", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .args([
                "-chardev",
                &format!("socket,id=u0,host=127.0.0.1,port={port},nodelay=on"),
                "-serial",
                "chardev:u0",
            ])
            .arg("-kernel")
            .arg(elf)
            .args(["-append", append])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting qemu-system-arm: {e}"))?;
        Ok(Self {
            child: Guard(child),
            output: output.to_path_buf(),
        })
    }

    /// The output so far.
    pub fn output(&self) -> String {
        fs::read_to_string(&self.output).unwrap_or_default()
    }

    /// Whether QEMU has exited, with its exit code (`None` if a signal ended it).
    pub fn exited(&mut self) -> Option<Option<i32>> {
        self.child.exited().map(|status| status.code())
    }

    /// Waits for QEMU to exit, at most `timeout` (then kills it: an `Err` with the output so
    /// far); its exit code and output.
    pub fn wait(mut self, timeout: Duration) -> Result<(Option<i32>, String), String> {
        let started = Instant::now();
        loop {
            if let Some(code) = self.exited() {
                return Ok((code, self.output()));
            }
            if started.elapsed() > timeout {
                self.kill();
                return Err(format!(
                    "QEMU timed out after {}s; the firmware's output so far:\n{}",
                    timeout.as_secs(),
                    self.output()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills QEMU (SIGKILL: a power cut for the emulated device) and waits for it to end.
    pub fn kill(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }
}
