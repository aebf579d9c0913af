//! `ferrule demo`: the whole system in a temporary directory, narrated step by step.

use core::net::SocketAddr;
use core::sync::atomic::Ordering;
use core::time::Duration;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use ferrule_cloud::relay::{run_relay_on, Observation, RelayStats};
use ferrule_cloud::server::{HandshakeResult, Server, ServerConfig, SinkSpec};
use ferrule_cloud::{provision_device, CloudDir, CloudIdentity, Overwrite, Registry};
use ferrule_proto::edhoc::{CipherSuite, Method};

use crate::agent::{run_agent, AgentEvent, AgentPlan, AgentReport};

/// The arguments of `ferrule demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the temporary cloud directory instead of deleting it at the end.
    #[arg(long)]
    pub keep: bool,
    /// Show every datagram the relay forwards, not only the first few.
    #[arg(long)]
    pub verbose: bool,
}

const DEVICES: [&str; 3] = ["thermostat-kitchen", "meter-basement", "sensor-attic"];
const MESSAGES: u64 = 3;

fn step(n: u32, text: &str) {
    println!("\n[{n}] {text}");
}

/// Runs one device agent on its own thread (sessions are not `Send`) and narrates its events.
fn run_device(
    dir: &CloudDir,
    name: &str,
    server: SocketAddr,
    count: u64,
) -> anyhow::Result<AgentReport> {
    let bundle =
        std::fs::read(dir.bundle(name)).with_context(|| format!("reading the bundle of {name}"))?;
    let name = name.to_owned();
    let plan = AgentPlan {
        server,
        count,
        interval: Duration::from_millis(50),
        deadline: Duration::from_secs(30),
        stop_on_reject: true,
        with_message_4: false,
        handshake_gate: None,
    };
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(run_agent(&bundle, &plan, |e| match e {
            AgentEvent::Connected { c_r, after_ms } => {
                println!("    {name}: authenticated with EDHOC in {after_ms} ms; OSCORE keys derived (Sender ID {c_r})");
            }
            AgentEvent::Delivered { seq, latency } => {
                println!("    {name}: reading {seq} encrypted, sent, acknowledged ({:.1} ms)", latency.as_secs_f64() * 1e3);
            }
            AgentEvent::Command { payload } => {
                println!("    {name}: decrypted a command from the cloud: \"{}\"", String::from_utf8_lossy(payload));
            }
            AgentEvent::Rejected { reason } => println!("    {name}: refused: {reason}"),
            AgentEvent::Disconnected { reason } => println!("    {name}: link lost ({reason}), retrying"),
        }))
    })
    .join()
    .map_err(|_| anyhow!("the device thread panicked"))?
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new()
        .prefix("ferrule-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let result = demo(temp.path(), args);
    if args.keep {
        let kept = temp.keep();
        println!("\nKept the demo directory {}", kept.display());
    }
    result
}

fn demo(root: &std::path::Path, args: &DemoArgs) -> anyhow::Result<()> {
    println!(
        "Ferrule demo: devices authenticate with EDHOC and protect every message with OSCORE,"
    );
    println!(
        "end to end through a relay that sees only ciphertext. Working in {}",
        root.display()
    );

    step(1, "Create the cloud: its identity (private keys and credentials) and an empty device registry.");
    let dir = CloudDir::new(root);
    dir.create_dirs()?;
    let identity = CloudIdentity::generate()?;
    identity.save(dir.root(), Overwrite::Refuse)?;
    let registry = Registry::create(dir.root())?;
    println!(
        "    {} and {}",
        dir.identity().display(),
        dir.registry().display()
    );

    step(2, "Provision three devices: each gets its own key pair, a registry entry and a bundle to flash.");
    for name in DEVICES {
        let p = provision_device(
            &dir,
            &identity,
            &registry,
            name,
            Method::StaticStatic,
            CipherSuite::Suite2,
        )?;
        println!(
            "    {name}: kid {} (EDHOC method 3, cipher suite 2), bundle {}",
            ferrule_cloud::registry::hex(&p.device.kid),
            p.bundle_path.display()
        );
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sink_path = root.join("telemetry.jsonl");
    let (relay_addr, stats, server) = runtime.block_on(async {
        step(
            3,
            "Start the cloud service on UDP (CoAP); telemetry goes to a JSON-lines file.",
        );
        let mut config = ServerConfig::new(dir.root());
        config.listen = "127.0.0.1:0".parse()?;
        config.sink = SinkSpec::JsonLines(sink_path.clone());
        let server = Server::bind(config).await?;
        let server_addr = server.local_addr();
        println!("    listening on udp://{server_addr}");

        step(
            4,
            "Start an untrusted relay (a gateway) between the devices and the cloud.",
        );
        let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await?);
        let relay_addr = socket.local_addr()?;
        let stats = Arc::new(RelayStats::default());
        let shown = Arc::new(Mutex::new(0usize));
        let verbose = args.verbose;
        let observe = Arc::new(move |o: Observation| {
            let mut n = shown.lock().unwrap_or_else(|e| e.into_inner());
            if verbose || *n < 6 {
                println!("    relay sees: {o}");
            } else if *n == 6 {
                println!("    relay sees: ... (more of the same; --verbose shows every datagram)");
            }
            *n += 1;
        });
        tokio::spawn(run_relay_on(
            socket,
            server_addr,
            Arc::clone(&stats),
            observe,
        ));
        println!("    relay on udp://{relay_addr} forwarding to the cloud");
        anyhow::Ok((relay_addr, stats, server))
    })?;
    let metrics = server.metrics();

    step(5, "Queue a command for thermostat-kitchen; it rides back in the acknowledgement of its next message.");
    registry.queue_command(DEVICES[0], b"set-point 21.5C", Some(0))?;
    println!("    queued \"set-point 21.5C\"");

    step(
        6,
        "Run the three devices through the relay: handshake, then protected telemetry.",
    );
    let mut delivered = 0;
    let mut got_command = false;
    for name in DEVICES {
        let report = run_device(&dir, name, relay_addr, MESSAGES)?;
        delivered += report.delivered;
        if report.delivered != MESSAGES {
            bail!(
                "{name} delivered {} of {MESSAGES} messages",
                report.delivered
            );
        }
        got_command |= name == DEVICES[0] && registry.pending_commands(DEVICES[0])?.is_empty();
    }
    if !got_command {
        bail!("the queued command was not delivered");
    }

    step(7, "Revoke sensor-attic in the registry (as `ferrule device revoke` does) and let it try again.");
    registry.revoke(DEVICES[2])?;
    let report = run_device(&dir, DEVICES[2], relay_addr, 1)?;
    if report.delivered != 0 || report.rejected.is_none() {
        bail!("the revoked device was not refused");
    }
    println!("    the cloud refused it: nothing from a revoked device reaches the sink");

    step(8, "The decrypted telemetry, as the cloud's sink stored it:");
    let sink = std::fs::read_to_string(&sink_path)
        .with_context(|| format!("reading {}", sink_path.display()))?;
    for line in sink.lines() {
        println!("    {line}");
    }
    let lines = sink.lines().count() as u64;
    if lines != delivered {
        bail!("the sink holds {lines} records for {delivered} acknowledged messages");
    }

    step(9, "Summary");
    println!(
        "    {delivered} messages acknowledged and stored exactly once; {} handshakes, {} refused",
        metrics.handshakes(HandshakeResult::Established),
        metrics.handshakes(HandshakeResult::Revoked)
    );
    println!(
        "    the relay forwarded {} datagrams ({} bytes): after message_1 it saw only ciphertext",
        stats.up.load(Ordering::Relaxed) + stats.down.load(Ordering::Relaxed),
        stats.bytes.load(Ordering::Relaxed)
    );
    for event in registry.events(10)?.iter().rev() {
        println!(
            "    registry event: {} {} {}",
            event.device.as_deref().unwrap_or("-"),
            event.kind,
            event.reason
        );
    }
    runtime.block_on(server.shutdown())?;
    println!("\nDone: cloud stopped, temporary directory removed.");
    Ok(())
}
