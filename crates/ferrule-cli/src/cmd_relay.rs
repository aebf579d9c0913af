//! `ferrule relay`: an untrusted UDP forwarder between devices and the cloud.

use core::net::SocketAddr;
use core::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use ferrule_cloud::relay::{run_relay, RelayStats};

/// The arguments of `ferrule relay`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// The UDP address devices send to.
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// The cloud's UDP address.
    #[arg(long, value_name = "ADDR")]
    pub upstream: SocketAddr,
    /// Print only a summary line every 5 seconds instead of one line per datagram.
    #[arg(long)]
    pub quiet: bool,
}

/// Forwards until Ctrl-C, printing what a gateway can see of each datagram.
pub fn run(args: &RelayArgs) -> anyhow::Result<()> {
    crate::logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let stats = Arc::new(RelayStats::default());
        let quiet = args.quiet;
        eprintln!(
            "ferrule relay: forwarding udp://{} <-> udp://{}; showing what an untrusted gateway sees",
            args.listen, args.upstream
        );
        let relay = run_relay(
            args.listen,
            args.upstream,
            Arc::clone(&stats),
            Arc::new(move |o| {
                if !quiet {
                    println!("relay: {o}");
                }
            }),
        );
        let summary = {
            let stats = Arc::clone(&stats);
            async move {
                loop {
                    tokio::time::sleep(core::time::Duration::from_secs(5)).await;
                    if quiet {
                        println!(
                            "relay: {} datagrams up, {} down, {} bytes, all of it ciphertext to this relay",
                            stats.up.load(Ordering::Relaxed),
                            stats.down.load(Ordering::Relaxed),
                            stats.bytes.load(Ordering::Relaxed)
                        );
                    }
                }
            }
        };
        tokio::select! {
            r = relay => r.with_context(|| format!("relaying on {}", args.listen))?,
            () = summary => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        anyhow::Ok(())
    })
}
