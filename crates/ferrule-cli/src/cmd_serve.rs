//! `ferrule serve`: the cloud service.

use core::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ferrule_cloud::server::{Server, ServerConfig, SinkSpec, DEFAULT_LISTEN};

/// The arguments of `ferrule serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The cloud directory, as set up by `ferrule init --dir DIR`.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The UDP address to listen on for devices.
    #[arg(long, value_name = "ADDR", default_value_t = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Where telemetry goes: `stdout`, or `jsonl:PATH` to append JSON lines to a file.
    #[arg(long, value_name = "SINK", default_value = "stdout")]
    pub sink: SinkSpec,
    /// Serve the admin HTTP API (devices, revoke, commands, Prometheus /metrics) on this
    /// loopback address, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    crate::logging::init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut config = ServerConfig::new(&args.dir);
        config.listen = args.listen;
        config.sink = args.sink.clone();
        config.admin = args.admin;
        let server = Server::bind(config).await.context("starting the server")?;
        eprintln!(
            "ferrule serve: listening for devices on udp://{}",
            server.local_addr()
        );
        if let Some(admin) = server.admin_addr() {
            eprintln!("ferrule serve: admin API on http://{admin} (GET /devices, /metrics)");
        }
        eprintln!("ferrule serve: telemetry to {}; Ctrl-C stops", args.sink);
        server
            .run_until(shutdown_signal())
            .await
            .context("serving")?;
        eprintln!("ferrule serve: stopped");
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
