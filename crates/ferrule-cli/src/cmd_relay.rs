//! `ferrule relay`: an untrusted UDP forwarder between devices and the cloud.

use core::net::SocketAddr;
use core::sync::atomic::Ordering;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use ferrule_cloud::relay::{run_relay, run_serial_bridge, RelayStats};

/// The arguments of `ferrule relay`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// The UDP address devices send to.
    #[arg(long, value_name = "ADDR", required_unless_present = "serial_tcp")]
    pub listen: Option<SocketAddr>,
    /// Also (or instead) accept serial devices on this TCP address: each connection carries
    /// frames of a 2-byte big-endian length and one datagram, as emulated firmware sends them
    /// over its UART (QEMU: `-chardev socket,host=H,port=P,nodelay=on -serial chardev:ID`).
    #[arg(long, value_name = "ADDR")]
    pub serial_tcp: Option<SocketAddr>,
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
        let observe: Arc<dyn Fn(ferrule_cloud::relay::Observation) + Send + Sync> = Arc::new(move |o| {
            if !quiet {
                println!("relay: {o}");
            }
        });
        let udp = {
            let (stats, observe) = (Arc::clone(&stats), Arc::clone(&observe));
            let listen = args.listen;
            async move {
                match listen {
                    Some(listen) => run_relay(listen, args.upstream, stats, observe)
                        .await
                        .with_context(|| format!("relaying on udp://{listen}")),
                    None => core::future::pending().await,
                }
            }
        };
        let serial = {
            let (stats, observe) = (Arc::clone(&stats), Arc::clone(&observe));
            let serial = args.serial_tcp;
            async move {
                match serial {
                    Some(addr) => run_serial_bridge(addr, args.upstream, stats, observe)
                        .await
                        .with_context(|| format!("bridging serial devices on tcp://{addr}")),
                    None => core::future::pending().await,
                }
            }
        };
        if let Some(listen) = args.listen {
            eprintln!(
                "ferrule relay: forwarding udp://{listen} <-> udp://{}; showing what an untrusted gateway sees",
                args.upstream
            );
        }
        if let Some(serial) = args.serial_tcp {
            eprintln!(
                "ferrule relay: serial devices on tcp://{serial} (2-byte length frames) <-> udp://{}",
                args.upstream
            );
        }
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
            r = udp => r?,
            r = serial => r?,
            () = summary => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        anyhow::Ok(())
    })
}
