//! Structured logs to stderr (stdout may carry telemetry or JSON).

use std::io::IsTerminal;

/// Sends `tracing` output to stderr; `RUST_LOG` chooses the level (default `info`).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
