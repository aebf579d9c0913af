//! `cargo xtask footprint [--json] [--check] [--no-run] [--breakdown]`: the firmware's size and
//! stack, per profile (firmware/README.md, "Footprint").
//!
//! For every profile it builds the firmware of `firmware/` (its own cargo workspace: opt-level
//! "z", fat LTO, one codegen unit, panic = abort, compact SHA-2 and AES) and reads the ELF:
//! flash = `.text` + `.rodata` + `.data`, static RAM = `.data` + `.bss` + `.uninit`. Then, if
//! `qemu-system-arm` is installed, it runs the same ELF in QEMU against a peer: a `ferrule serve`
//! (debug build of the CLI, in a temporary directory, one registered device per suite) through
//! the CLI's serial bridge `ferrule relay --serial-tcp`, or for `oscore-only` (which no cloud can
//! serve: its context is pre-shared) the scripted OSCORE peer `fw-host-peer oscore`.
//! The run is a full handshake (none for `oscore-only`), one telemetry message and a `GET /c`;
//! the firmware paints its stack at reset and reports the deepest word written
//! (`peak_stack=BYTES` in its last line). Without QEMU, or with `--no-run`, peak_stack is null.
//!
//! `--json` prints one JSON array of `{"profile","target","flash","static_ram","peak_stack"}`;
//! `--check` compares with `firmware/footprint-baseline.json` and fails when a figure of a
//! profile grew more than 5% over it (or could not be measured); `--breakdown` adds the flash
//! of each profile by crate (of the function that holds the code: LTO inlines protocol code into
//! its callers).

use core::fmt::Write as _;
use core::time::Duration;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::{firmware, Context};

/// Allowed growth over the baseline before `--check` fails: 5%.
const TOLERANCE_PERCENT: u64 = 5;

/// Where the baseline lives, relative to the repository root.
const BASELINE: &str = "firmware/footprint-baseline.json";

/// How long one QEMU run may take before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The usage text of `cargo xtask footprint`.
pub const USAGE: &str = "\
Usage: cargo xtask footprint [--json] [--check] [--no-run] [--breakdown]

Builds the firmware footprint profiles (firmware/README.md) and reports, per profile, flash
(.text + .rodata + .data), static RAM (.data + .bss) and peak stack (measured in QEMU by stack
painting during a handshake and a message; null without qemu-system-arm or with --no-run).

Options:
  --json       Print one JSON array of {\"profile\",\"target\",\"flash\",\"static_ram\",\"peak_stack\"}
  --check      Fail if a profile grew more than 5% over firmware/footprint-baseline.json
  --no-run     Sizes only: do not run QEMU
  --breakdown  Also print each profile's flash by crate";

/// Who the firmware talks to when it runs.
#[derive(Clone, Copy)]
enum Peer {
    /// `ferrule serve`, with a device of this cipher suite, through the UDP bridge.
    Cloud { suite: u8 },
    /// The scripted pre-shared OSCORE peer.
    Oscore,
}

/// A footprint profile: one build of the firmware.
struct Profile {
    name: &'static str,
    target: &'static str,
    bin: &'static str,
    /// Cargo features; `None` builds with the default ones.
    features: Option<&'static str>,
    /// The QEMU board that runs it.
    machine: &'static str,
    peer: Peer,
    /// Flash budget from DESIGN.md, if it sets one.
    flash_budget: Option<u64>,
}

/// Peak stack budget (DESIGN.md): 6 KB.
const STACK_BUDGET: u64 = 6 * 1024;
/// Static RAM budget (DESIGN.md): 2 KB.
const STATIC_RAM_BUDGET: u64 = 2 * 1024;

const PROFILES: [Profile; 4] = [
    Profile {
        name: "edhoc-oscore-s2",
        target: "thumbv7em-none-eabihf",
        bin: "ferrule-fw",
        features: Some("suite2-only"),
        machine: "mps2-an386",
        peer: Peer::Cloud { suite: 2 },
        flash_budget: Some(28 * 1024),
    },
    Profile {
        name: "edhoc-oscore-s0",
        target: "thumbv7em-none-eabihf",
        bin: "ferrule-fw",
        features: Some("suite0-only"),
        machine: "mps2-an386",
        peer: Peer::Cloud { suite: 0 },
        flash_budget: Some(20 * 1024),
    },
    Profile {
        name: "oscore-only",
        target: "thumbv7em-none-eabihf",
        bin: "oscore-only",
        features: None,
        machine: "mps2-an386",
        peer: Peer::Oscore,
        flash_budget: Some(8 * 1024),
    },
    Profile {
        name: "edhoc-oscore-s2-m0",
        target: "thumbv6m-none-eabi",
        bin: "ferrule-fw",
        features: Some("suite2-only"),
        // QEMU's only Cortex-M0 board: the BBC micro:bit (nRF51822).
        machine: "microbit",
        peer: Peer::Cloud { suite: 2 },
        flash_budget: None,
    },
];

/// The figures of one profile.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Figures {
    profile: String,
    target: String,
    flash: u64,
    static_ram: u64,
    peak_stack: Option<u64>,
}

/// Options of the command.
struct Options {
    json: bool,
    check: bool,
    run: bool,
    breakdown: bool,
}

/// Runs `cargo xtask footprint` with `args` (after the word `footprint`).
pub fn run(ctx: &Context, args: &[&str]) -> ExitCode {
    let mut options = Options {
        json: false,
        check: false,
        run: true,
        breakdown: false,
    };
    for arg in args {
        match *arg {
            "--json" => options.json = true,
            "--check" => options.check = true,
            "--no-run" => options.run = false,
            "--breakdown" => options.breakdown = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("error: unknown option `{other}`\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match footprint(ctx, &options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(reason) => {
            eprintln!("error: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask footprint --check`, as a step of `cargo xtask test`.
pub fn check_step(ctx: &Context) -> Result<(), String> {
    let options = Options {
        json: false,
        check: true,
        run: true,
        breakdown: false,
    };
    match footprint(ctx, &options)? {
        true => Ok(()),
        false => Err(format!(
            "a footprint profile grew more than {TOLERANCE_PERCENT}% over {BASELINE}, or could not \
             be measured"
        )),
    }
}

/// Builds, measures and reports; `Ok(false)` when `--check` found a regression.
fn footprint(ctx: &Context, options: &Options) -> Result<bool, String> {
    let out_dir = firmware::target_dir(ctx).join("footprint");
    fs::create_dir_all(&out_dir).map_err(|e| format!("creating {}: {e}", out_dir.display()))?;
    let mut elves = Vec::new();
    for profile in &PROFILES {
        let elf = build(ctx, &out_dir, profile)?;
        elves.push(elf);
    }
    let qemu = options.run && firmware::qemu_available();
    if options.run && !qemu {
        eprintln!("footprint: qemu-system-arm not found: peak_stack is null (install it from Debian: qemu-system-arm)");
    }
    let mut peaks: Vec<Option<u64>> = vec![None; PROFILES.len()];
    if qemu {
        let harness = Harness::start(ctx, &out_dir)?;
        for (i, (profile, elf)) in PROFILES.iter().zip(&elves).enumerate() {
            match harness.measure(profile, elf) {
                Ok(peak) => peaks[i] = Some(peak),
                Err(reason) => {
                    eprintln!(
                        "footprint: {}: peak stack not measured: {reason}",
                        profile.name
                    );
                }
            }
        }
    }
    let mut figures = Vec::new();
    for ((profile, elf), peak) in PROFILES.iter().zip(&elves).zip(peaks) {
        let bytes = fs::read(elf).map_err(|e| format!("reading {}: {e}", elf.display()))?;
        let sections = elf_sections(&bytes).map_err(|e| format!("{}: {e}", elf.display()))?;
        let size = |name: &str| -> u64 {
            sections
                .iter()
                .filter(|s| s.name == name)
                .map(|s| u64::from(s.size))
                .sum()
        };
        figures.push(Figures {
            profile: profile.name.to_owned(),
            target: profile.target.to_owned(),
            flash: size(".text") + size(".rodata") + size(".data"),
            static_ram: size(".data") + size(".bss") + size(".uninit"),
            peak_stack: peak,
        });
    }
    if options.json {
        println!("{}", to_json(&figures));
    } else {
        print_table(&figures);
    }
    if options.breakdown {
        for (profile, elf) in PROFILES.iter().zip(&elves) {
            let bytes = fs::read(elf).map_err(|e| format!("reading {}: {e}", elf.display()))?;
            let rows = breakdown(&bytes).map_err(|e| format!("{}: {e}", elf.display()))?;
            // The table goes to standard error with --json, so that standard output stays one
            // JSON array.
            let mut text = format!("\n{} flash by crate (bytes):\n", profile.name);
            for (krate, size) in rows {
                let _ = writeln!(text, "  {size:>7}  {krate}");
            }
            if options.json {
                eprint!("{text}");
            } else {
                print!("{text}");
            }
        }
    }
    if options.check {
        let path = ctx.root.join(BASELINE);
        let text =
            fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let baseline = parse_baseline(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let problems = check(&baseline, &figures);
        for problem in &problems {
            eprintln!("footprint check: {problem}");
        }
        if problems.is_empty() {
            eprintln!("footprint check: every profile within {TOLERANCE_PERCENT}% of {BASELINE}");
        } else {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Builds `profile` and copies its ELF to `out_dir/PROFILE.elf`.
fn build(ctx: &Context, out_dir: &Path, profile: &Profile) -> Result<PathBuf, String> {
    eprintln!(
        "footprint: building {} ({}, {})",
        profile.name,
        profile.target,
        profile.features.unwrap_or("default features")
    );
    let elf = out_dir.join(format!("{}.elf", profile.name));
    firmware::build(
        ctx,
        &firmware::Build {
            target: profile.target,
            bin: profile.bin,
            features: profile.features,
        },
        &elf,
    )?;
    Ok(elf)
}

/// What the QEMU runs need: a running `ferrule serve` with one device per suite behind the CLI's
/// serial bridge (`ferrule relay --serial-tcp`), and the scripted OSCORE peer.
struct Harness {
    /// The working directory of the runs (bundles, NVM files, the OSCORE context).
    dir: PathBuf,
    /// `fw-host-peer`, the scripted OSCORE peer of `oscore-only`.
    peer: PathBuf,
    // Dropped in this order: the relay before the cloud it forwards to.
    relay: firmware::Relay,
    cloud: firmware::Cloud,
}

/// The pre-shared OSCORE context of `oscore-only` (RFC 8613 Appendix C.1.1, client side): Sender
/// ID empty, Recipient ID 0x01, Master Secret 0x01..0x10, Master Salt 0x9e7ca92223786340.
fn oscore_context() -> Vec<u8> {
    let mut file = vec![0u8, 1];
    file.extend(1u8..=16);
    file.extend([0x9e, 0x7c, 0xa9, 0x22, 0x23, 0x78, 0x63, 0x40]);
    file.push(0x01);
    file
}

impl Harness {
    fn start(ctx: &Context, out_dir: &Path) -> Result<Self, String> {
        eprintln!("footprint: building the CLI (ferrule serve, ferrule relay) and fw-host-peer");
        let ferrule = firmware::build_cli(ctx)?;
        let host_peer = firmware::workspace(ctx).join("host-peer");
        crate::run(
            Command::new(&ctx.cargo).current_dir(&host_peer).args([
                "build",
                "--quiet",
                "--release",
            ]),
            "building firmware/host-peer",
        )?;
        let peer = host_peer
            .join("target")
            .join("release")
            .join("fw-host-peer");

        let dir = out_dir.join("run");
        let cloud = firmware::Cloud::start(
            &ferrule,
            &dir,
            &[("fw-s2", Some(2)), ("fw-s0", Some(0))],
            false,
        )?;
        fs::write(dir.join("oscore.bin"), oscore_context())
            .map_err(|e| format!("writing the OSCORE context: {e}"))?;
        let relay = firmware::Relay::start(&ferrule, &dir, cloud.udp)?;
        Ok(Self {
            dir,
            peer,
            relay,
            cloud,
        })
    }

    /// Runs `elf` for `profile` in QEMU; its peak stack.
    fn measure(&self, profile: &Profile, elf: &Path) -> Result<u64, String> {
        // The oscore-only peer serves one connection: one per run.
        let mut oscore_peer = None;
        let port = match profile.peer {
            Peer::Cloud { .. } => self.relay.addr.port(),
            Peer::Oscore => {
                let mut peer = Command::new(&self.peer)
                    .args(["oscore", "--listen", "127.0.0.1:0"])
                    .args(["--context", "oscore.bin"])
                    .current_dir(&self.dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .map_err(|e| format!("starting {}: {e}", self.peer.display()))?;
                let stdout = peer.stdout.take();
                oscore_peer = Some(firmware::Guard(peer));
                stdout
                    .and_then(|s| {
                        let mut line = String::new();
                        BufReader::new(s).read_line(&mut line).ok()?;
                        line.trim().rsplit(':').next()?.parse::<u16>().ok()
                    })
                    .ok_or("the host peer did not say where it listens")?
            }
        };
        let nvm = format!("{}.nvm", profile.name);
        let _ = fs::remove_file(self.dir.join(&nvm));
        let append = match profile.peer {
            Peer::Cloud { suite } => format!(
                "bundle={} nvm={nvm} count=1 deadline_ms=30000",
                firmware::Cloud::bundle(&format!("fw-s{suite}"))
            ),
            Peer::Oscore => format!("context=oscore.bin nvm={nvm} count=1 deadline_ms=30000"),
        };
        let qemu = firmware::Qemu::start(
            profile.machine,
            elf,
            port,
            &append,
            &self.dir,
            &self.dir.join(format!("{}.out", profile.name)),
        )?;
        let (status, output) = qemu.wait(RUN_TIMEOUT)?;
        drop(oscore_peer);
        let last = output.lines().last().unwrap_or("").to_owned();
        if status != Some(0) {
            return Err(format!(
                "the firmware did not complete its run (exit {status:?}); its output:\n{output}\nferrule serve:\n{}ferrule relay:\n{}",
                firmware::tail(&self.cloud.log, 20),
                firmware::tail(&self.relay.log, 20),
            ));
        }
        last.split_whitespace()
            .find_map(|word| word.strip_prefix("peak_stack="))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no peak_stack in the firmware's last line: {last}"))
    }
}

fn print_table(figures: &[Figures]) {
    println!(
        "{:<20} {:<22} {:>8} {:>11} {:>11}  budgets (flash / static RAM / stack)",
        "profile", "target", "flash", "static_ram", "peak_stack"
    );
    for (f, profile) in figures.iter().zip(&PROFILES) {
        let peak = f
            .peak_stack
            .map_or_else(|| "-".to_owned(), |p| p.to_string());
        let mark = |value: Option<u64>, budget: Option<u64>| match (value, budget) {
            (Some(v), Some(b)) if v > b => format!("{b} OVER"),
            (_, Some(b)) => format!("{b} ok"),
            (_, None) => "-".to_owned(),
        };
        println!(
            "{:<20} {:<22} {:>8} {:>11} {:>11}  {} / {} / {}",
            f.profile,
            f.target,
            f.flash,
            f.static_ram,
            peak,
            mark(Some(f.flash), profile.flash_budget),
            mark(Some(f.static_ram), Some(STATIC_RAM_BUDGET)),
            mark(f.peak_stack, Some(STACK_BUDGET)),
        );
    }
}

fn to_json(figures: &[Figures]) -> String {
    let items: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "{{\"profile\":\"{}\",\"target\":\"{}\",\"flash\":{},\"static_ram\":{},\"peak_stack\":{}}}",
                f.profile,
                f.target,
                f.flash,
                f.static_ram,
                f.peak_stack.map_or_else(|| "null".to_owned(), |p| p.to_string())
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

/// Reads the baseline: a JSON array of flat objects with string, number and null values, as
/// `--json` prints it (whitespace and newlines allowed).
fn parse_baseline(text: &str) -> Result<Vec<Figures>, String> {
    let body = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or("not a JSON array")?;
    let mut out = Vec::new();
    for object in body.split('}') {
        let object = object.trim().trim_start_matches(',').trim();
        if object.is_empty() {
            continue;
        }
        let object = object.strip_prefix('{').ok_or("expected an object")?;
        let mut fields = std::collections::BTreeMap::new();
        for pair in object.split(',') {
            let (key, value) = pair.split_once(':').ok_or("expected key: value")?;
            fields.insert(
                key.trim().trim_matches('"').to_owned(),
                value.trim().trim_matches('"').to_owned(),
            );
        }
        let text = |key: &str| -> Result<String, String> {
            fields
                .get(key)
                .cloned()
                .ok_or(format!("an object lacks \"{key}\""))
        };
        let number = |key: &str| -> Result<Option<u64>, String> {
            let value = text(key)?;
            if value == "null" {
                return Ok(None);
            }
            value
                .parse()
                .map(Some)
                .map_err(|_| format!("\"{key}\" is not a number: {value}"))
        };
        out.push(Figures {
            profile: text("profile")?,
            target: text("target")?,
            flash: number("flash")?.ok_or("flash is null")?,
            static_ram: number("static_ram")?.ok_or("static_ram is null")?,
            peak_stack: number("peak_stack")?,
        });
    }
    Ok(out)
}

/// What grew more than the tolerance, or is missing.
fn check(baseline: &[Figures], figures: &[Figures]) -> Vec<String> {
    let mut problems = Vec::new();
    for base in baseline {
        let Some(now) = figures.iter().find(|f| f.profile == base.profile) else {
            problems.push(format!("profile {} of the baseline is gone", base.profile));
            continue;
        };
        let mut compare = |what: &str, old: Option<u64>, new: Option<u64>| match (old, new) {
            (Some(old), Some(new)) if new * 100 > old * (100 + TOLERANCE_PERCENT) => {
                problems.push(format!(
                    "{} {what} grew from {old} to {new} bytes (+{:.1}%, more than {TOLERANCE_PERCENT}%)",
                    base.profile,
                    (new as f64 - old as f64) * 100.0 / old as f64
                ));
            }
            (Some(_), None) => problems.push(format!(
                "{} {what} could not be measured (is qemu-system-arm installed?)",
                base.profile
            )),
            _ => {}
        };
        compare("flash", Some(base.flash), Some(now.flash));
        compare("static_ram", Some(base.static_ram), Some(now.static_ram));
        compare("peak_stack", base.peak_stack, now.peak_stack);
    }
    for now in figures {
        if !baseline.iter().any(|b| b.profile == now.profile) {
            problems.push(format!(
                "profile {} is not in the baseline: add it",
                now.profile
            ));
        }
    }
    problems
}

/// A section of an ELF file.
struct Section {
    name: String,
    kind: u32,
    size: u32,
    offset: u32,
    link: u32,
    entsize: u32,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn c_string(bytes: &[u8], at: usize) -> String {
    let tail = bytes.get(at..).unwrap_or(&[]);
    let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
    String::from_utf8_lossy(&tail[..end]).into_owned()
}

/// The sections of a 32-bit little-endian ELF file (what the thumb targets produce).
fn elf_sections(bytes: &[u8]) -> Result<Vec<Section>, String> {
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 1, 1][..]) {
        return Err("not a 32-bit little-endian ELF file".to_owned());
    }
    let bad = || "truncated ELF header".to_owned();
    let shoff = u32_at(bytes, 0x20).ok_or_else(bad)? as usize;
    let shentsize = usize::from(u16_at(bytes, 0x2e).ok_or_else(bad)?);
    let shnum = usize::from(u16_at(bytes, 0x30).ok_or_else(bad)?);
    let shstrndx = usize::from(u16_at(bytes, 0x32).ok_or_else(bad)?);
    let header = |i: usize| -> Option<[u32; 10]> {
        let base = shoff + i * shentsize;
        let mut h = [0u32; 10];
        for (k, slot) in h.iter_mut().enumerate() {
            *slot = u32_at(bytes, base + 4 * k)?;
        }
        Some(h)
    };
    let names = header(shstrndx).ok_or("truncated section headers")?[4] as usize;
    (0..shnum)
        .map(|i| {
            let h = header(i).ok_or("truncated section headers")?;
            Ok(Section {
                name: c_string(bytes, names + h[0] as usize),
                kind: h[1],
                size: h[5],
                offset: h[4],
                link: h[6],
                entsize: h[9],
            })
        })
        .collect()
}

/// The crate a (mangled) symbol belongs to, or a group name for the runtime's symbols.
fn crate_of(symbol: &str) -> String {
    // Legacy mangling: _ZN <len><ident> ..., where an impl block starts `_$LT$crate..path`.
    if let Some(rest) = symbol.strip_prefix("_ZN") {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        let len: usize = rest.get(..digits).and_then(|d| d.parse().ok()).unwrap_or(0);
        let tail = rest.get(digits..).unwrap_or("");
        let ident = match tail.strip_prefix("_$LT$") {
            // `<crate::path::Type as Trait>`: the crate of the type.
            Some(inner) => match inner.split_once("$u20$as$u20$") {
                // `<[T; N] as crate::Trait>` and the like: the crate of the trait.
                Some((ty, tr)) if ty.starts_with('$') => tr,
                _ => inner.trim_start_matches("$RF$"),
            },
            None => tail.get(..len).unwrap_or(tail),
        };
        let name: String = ident
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if len > 0 && !name.is_empty() {
            return name;
        }
    }
    // v0 mangling: the first crate root is `C s <hash> _ <len><ident>`.
    if symbol.starts_with("_R") {
        if let Some(at) = symbol.find("Cs") {
            let tail = &symbol[at + 2..];
            if let Some(underscore) = tail.find('_') {
                let tail = &tail[underscore + 1..];
                let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(len) = digits.parse::<usize>() {
                    // An identifier starting with `_` or a digit is preceded by a `_`.
                    let start = digits.len() + usize::from(tail[digits.len()..].starts_with('_'));
                    if let Some(name) = tail.get(start..start + len) {
                        return name.to_owned();
                    }
                }
            }
        }
    }
    if symbol.starts_with("__aeabi")
        || symbol.starts_with("__")
        || symbol == "memcpy"
        || symbol == "memset"
        || symbol == "memcmp"
    {
        return "compiler_builtins".to_owned();
    }
    if symbol.starts_with("OUTLINED_FUNCTION") {
        return "(outlined by LLVM)".to_owned();
    }
    "(runtime and tables)".to_owned()
}

/// Flash by crate: the sizes of the function and data symbols in `.text` and `.rodata`,
/// largest first, with what no symbol covers as one more row.
fn breakdown(bytes: &[u8]) -> Result<Vec<(String, u64)>, String> {
    let sections = elf_sections(bytes)?;
    let flash_sections: Vec<usize> = sections
        .iter()
        .enumerate()
        .filter(|(_, s)| s.name == ".text" || s.name == ".rodata")
        .map(|(i, _)| i)
        .collect();
    let flash_total: u64 = flash_sections
        .iter()
        .map(|&i| u64::from(sections[i].size))
        .sum();
    let symtab = sections
        .iter()
        .find(|s| s.kind == 2)
        .ok_or("no symbol table (stripped?)")?;
    let strtab = sections
        .get(symtab.link as usize)
        .ok_or("bad symbol string table")?;
    let mut totals: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    let mut counted = 0u64;
    let entsize = (symtab.entsize as usize).max(16);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..symtab.size as usize / entsize {
        let base = symtab.offset as usize + i * entsize;
        let (Some(name), Some(value), Some(size), Some(shndx)) = (
            u32_at(bytes, base),
            u32_at(bytes, base + 4),
            u32_at(bytes, base + 8),
            u16_at(bytes, base + 14),
        ) else {
            break;
        };
        if size == 0 || !flash_sections.contains(&usize::from(shndx)) || !seen.insert(value & !1) {
            continue;
        }
        let symbol = c_string(bytes, strtab.offset as usize + name as usize);
        *totals.entry(crate_of(&symbol)).or_default() += u64::from(size);
        counted += u64::from(size);
    }
    if flash_total > counted {
        *totals
            .entry("(no symbol: padding, literals)".to_owned())
            .or_default() += flash_total - counted;
    }
    let mut rows: Vec<(String, u64)> = totals.into_iter().collect();
    rows.sort_by_key(|row| core::cmp::Reverse(row.1));
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_the_baseline_parser() {
        let figures = vec![
            Figures {
                profile: "a".into(),
                target: "t".into(),
                flash: 100,
                static_ram: 10,
                peak_stack: Some(5),
            },
            Figures {
                profile: "b".into(),
                target: "t".into(),
                flash: 200,
                static_ram: 20,
                peak_stack: None,
            },
        ];
        assert_eq!(parse_baseline(&to_json(&figures)).unwrap(), figures);
        let pretty = "[\n  {\"profile\": \"a\", \"target\": \"t\", \"flash\": 100,\n   \"static_ram\": 10, \"peak_stack\": 5},\n  {\"profile\": \"b\", \"target\": \"t\", \"flash\": 200, \"static_ram\": 20, \"peak_stack\": null}\n]\n";
        assert_eq!(parse_baseline(pretty).unwrap(), figures);
    }

    #[test]
    fn check_allows_five_percent() {
        let base = |flash| Figures {
            profile: "p".into(),
            target: "t".into(),
            flash,
            static_ram: 100,
            peak_stack: Some(1000),
        };
        assert!(check(&[base(1000)], &[base(1050)]).is_empty());
        assert_eq!(check(&[base(1000)], &[base(1051)]).len(), 1);
        let mut unmeasured = base(1000);
        unmeasured.peak_stack = None;
        assert_eq!(check(&[base(1000)], &[unmeasured]).len(), 1);
        assert_eq!(check(&[], &[base(1)]).len(), 1);
    }

    #[test]
    fn crates_of_symbols() {
        assert_eq!(
            crate_of("_ZN13ferrule_proto4cbor7Decoder4skip17h82a280c424c38f2dE"),
            "ferrule_proto"
        );
        assert_eq!(
            crate_of(
                "_ZN89_$LT$ferrule_fw..crypto..LeanCrypto$LT$K$GT$$u20$as$u20$x$GT$9aead_seal17hE"
            ),
            "ferrule_fw"
        );
        assert_eq!(
            crate_of("_RNvNtCs7ldSeZOOJos_4core9panicking9panic_fmt"),
            "core"
        );
        assert_eq!(crate_of("__aeabi_memcpy"), "compiler_builtins");
        assert_eq!(
            crate_of(
                "_ZN50_$LT$$u5b$Z$u3b$$u20$N$u5d$$u20$as$u20$zeroize..Zeroize$GT$8zeroize17hE"
            ),
            "zeroize"
        );
        assert_eq!(
            crate_of("_RNvCsfLfy6EI15iL_7___rustc17rust_begin_unwind"),
            "__rustc"
        );
    }
}
