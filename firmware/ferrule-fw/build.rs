//! Chooses the board from the target and gives the linker its memory map.
//!
//! - `thumbv7m-none-eabi` and `thumbv7em-none-eabihf`: the MPS2 boards (AN385, AN386) of QEMU,
//!   `memory-mps2.x`.
//! - `thumbv6m-none-eabi`: the BBC micro:bit (nRF51822, Cortex-M0) of QEMU, `memory-microbit.x`.
//!
//! It sets `cfg(board = "mps2")` or `cfg(board = "microbit")` for `bsp.rs`, writes `memory.x`
//! and an empty `device.x` (cortex-m-rt's `device` feature includes it; the vector table is
//! `bsp::__INTERRUPTS`) into `OUT_DIR`, and puts that on the linker's search path.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::exit;

fn write(path: &Path, contents: &str) {
    if let Err(e) = fs::write(path, contents) {
        eprintln!("ferrule-fw build script: writing {}: {e}", path.display());
        exit(1);
    }
}

fn main() {
    let target = env::var("TARGET").unwrap_or_default();
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let (board, memory) = if target.starts_with("thumbv6m-") {
        ("microbit", include_str!("memory-microbit.x"))
    } else {
        ("mps2", include_str!("memory-mps2.x"))
    };
    write(&out.join("memory.x"), memory);
    write(
        &out.join("device.x"),
        "/* Interrupt handlers: see bsp::__INTERRUPTS. */\n",
    );
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-check-cfg=cfg(board, values(\"mps2\", \"microbit\"))");
    println!("cargo:rustc-cfg=board=\"{board}\"");
    println!("cargo:rerun-if-changed=memory-mps2.x");
    println!("cargo:rerun-if-changed=memory-microbit.x");
    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "FERRULE_FW_BUNDLE",
        "FERRULE_FW_NVM",
        "FERRULE_FW_COUNT",
        "FERRULE_FW_CONTEXT",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
}
