//! `ferrule device run`: a Linux device agent that sends protected telemetry to a cloud.

use core::net::SocketAddr;
use core::time::Duration;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use crate::agent::{run_agent, AgentEvent, AgentPlan};

/// The arguments of `ferrule device run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The device bundle written by `ferrule device add` (DIR/devices/NAME.bundle).
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// The cloud's UDP address (or a relay's), e.g. 127.0.0.1:5683.
    #[arg(long, value_name = "ADDR")]
    pub server: SocketAddr,
    /// Telemetry messages to deliver.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub count: u64,
    /// Pause between one acknowledged message and the next, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub interval: u64,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub timeout: u64,
    /// Use the plain EDHOC flow with message_4 instead of the combined request (RFC 9668).
    #[arg(long)]
    pub with_message_4: bool,
    /// Keep retrying (with back-off) when the cloud refuses the device, instead of stopping.
    #[arg(long)]
    pub retry_refused: bool,
}

/// Runs the agent on a current-thread runtime and prints what happens, one line per event.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let bundle = std::fs::read(&args.bundle).with_context(|| {
        format!(
            "reading the device bundle {} (made by `ferrule device add`)",
            args.bundle.display()
        )
    })?;
    let plan = AgentPlan {
        server: args.server,
        count: args.count,
        interval: Duration::from_millis(args.interval),
        deadline: Duration::from_secs(args.timeout),
        stop_on_reject: !args.retry_refused,
        with_message_4: args.with_message_4,
        handshake_gate: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let name = args
        .bundle
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let report = runtime.block_on(run_agent(&bundle, &plan, |event| match event {
        AgentEvent::Connected { c_r, after_ms } => {
            println!(
                "{name}: connected to {} after {after_ms} ms (EDHOC done, OSCORE Sender ID {c_r})",
                plan.server
            );
        }
        AgentEvent::Delivered { seq, latency } => {
            println!(
                "{name}: message {seq} acknowledged in {:.1} ms",
                latency.as_secs_f64() * 1e3
            );
        }
        AgentEvent::Command { payload } => {
            println!(
                "{name}: command received: {}",
                String::from_utf8_lossy(payload)
            );
        }
        AgentEvent::Rejected { reason } => println!("{name}: refused by the cloud: {reason}"),
        AgentEvent::Disconnected { reason } => println!("{name}: link lost ({reason}); retrying"),
    }))?;
    println!(
        "{name}: {} of {} messages acknowledged, {} handshake(s)",
        report.delivered, args.count, report.handshakes
    );
    if let Some(reason) = report.rejected {
        bail!(
            "device {name} was refused by the cloud at {}: {reason}",
            args.server
        );
    }
    if report.timed_out {
        bail!(
            "device {name}: only {} of {} messages acknowledged within {} s; is `ferrule serve` running at {}?",
            report.delivered,
            args.count,
            args.timeout,
            args.server
        );
    }
    Ok(())
}
