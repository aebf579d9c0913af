//! `ferrule fleet`: many simulated devices, each a real `ferrule-device` session with its own
//! registered identity, against a server: a load test and an end-to-end check.

use core::net::SocketAddr;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use ferrule_cloud::{provision_device, CloudDir, CloudIdentity, Registry};
use ferrule_proto::edhoc::{CipherSuite, Method};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::agent::{run_agent, AgentEvent, AgentPlan, AgentReport};

/// The arguments of `ferrule fleet`.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The cloud directory (`ferrule init --dir DIR`): fleet devices are provisioned there as
    /// PREFIX-00001, PREFIX-00002, ... unless they already exist.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The cloud's UDP address (or a relay's).
    #[arg(long, value_name = "ADDR")]
    pub server: SocketAddr,
    /// Number of simulated devices.
    #[arg(long, value_name = "N")]
    pub devices: usize,
    /// Telemetry messages each device delivers.
    #[arg(long, value_name = "M")]
    pub messages: u64,
    /// Pause between a device's acknowledged message and its next one, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub interval: u64,
    /// Device name prefix.
    #[arg(long, value_name = "PREFIX", default_value = "fleet")]
    pub prefix: String,
    /// EDHOC cipher suite for newly provisioned devices.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub suite: i32,
    /// Use the plain EDHOC flow with message_4 instead of the combined request.
    #[arg(long)]
    pub with_message_4: bool,
    /// At most this many devices handshake at the same time (the others wait their turn).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub parallel_handshakes: usize,
    /// Worker threads running the devices (default: the number of cores).
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,
    /// Print exactly one JSON object with the results on stdout (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Loads or provisions the fleet's bundles.
fn bundles(args: &FleetArgs, progress: &ProgressBar) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let dir = CloudDir::new(&args.dir);
    if !dir.root().is_dir() {
        bail!(
            "cloud directory {} does not exist: run `ferrule init --dir {}` first",
            args.dir.display(),
            args.dir.display()
        );
    }
    let suite = CipherSuite::from_id(args.suite);
    if !suite.is_implemented() {
        bail!(
            "--suite {}: Ferrule implements cipher suites 0, 1, 2 and 3",
            args.suite
        );
    }
    let identity = CloudIdentity::load(dir.root())?;
    let registry = Registry::open(dir.root())?;
    let mut out = Vec::with_capacity(args.devices);
    progress.set_length(args.devices as u64);
    progress.set_message("provisioning devices");
    for i in 1..=args.devices {
        let name = format!("{}-{i:05}", args.prefix);
        let path = dir.bundle(&name);
        let known = registry.device(&name)?;
        if known.is_none() {
            provision_device(
                &dir,
                &identity,
                &registry,
                &name,
                Method::StaticStatic,
                suite,
            )
            .with_context(|| format!("provisioning fleet device {name}"))?;
        }
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "reading {}: delete device {name} or use another --prefix",
                path.display()
            )
        })?;
        out.push((name, bytes));
        progress.inc(1);
    }
    Ok(out)
}

/// What a worker sends back for each device.
struct DeviceResult {
    report: Result<AgentReport, String>,
    connected_after_ms: Option<u64>,
}

/// Runs the fleet and prints the summary.
pub fn run(args: &FleetArgs) -> anyhow::Result<()> {
    if args.devices == 0 {
        bail!("--devices must be at least 1");
    }
    let progress = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4));
    progress.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} ({elapsed})")
            .map_err(|e| anyhow!("{e}"))?
            .progress_chars("=> "),
    );
    let devices = bundles(args, &progress)?;

    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 64);
    let plan = AgentPlan {
        server: args.server,
        count: args.messages,
        interval: Duration::from_millis(args.interval),
        deadline: Duration::from_secs(args.timeout),
        stop_on_reject: true,
        with_message_4: args.with_message_4,
        handshake_gate: Some(Arc::new(tokio::sync::Semaphore::new(
            args.parallel_handshakes.max(1),
        ))),
    };
    progress.reset();
    progress.set_length(args.devices as u64 * args.messages);
    progress.set_message(format!("{} devices sending", args.devices));

    let delivered = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<DeviceResult>();
    let start = Instant::now();
    let mut shards: Vec<Vec<(String, Vec<u8>)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, device) in devices.into_iter().enumerate() {
        shards[i % threads].push(device);
    }
    let mut workers = Vec::new();
    for shard in shards.into_iter().filter(|s| !s.is_empty()) {
        let (tx, plan, delivered, progress) = (
            tx.clone(),
            plan.clone(),
            Arc::clone(&delivered),
            progress.clone(),
        );
        workers.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let mut tasks = Vec::new();
                for (name, bundle) in shard {
                    let (tx, plan, delivered, progress) = (
                        tx.clone(),
                        plan.clone(),
                        Arc::clone(&delivered),
                        progress.clone(),
                    );
                    tasks.push(tokio::task::spawn_local(async move {
                        let mut connected_after_ms = None;
                        let report = run_agent(&bundle, &plan, |e| match e {
                            AgentEvent::Connected { .. } => {
                                connected_after_ms
                                    .get_or_insert(start.elapsed().as_millis() as u64);
                            }
                            AgentEvent::Delivered { .. } => {
                                delivered.fetch_add(1, Ordering::Relaxed);
                                progress.inc(1);
                            }
                            _ => {}
                        })
                        .await
                        .map_err(|e| format!("{name}: {e:#}"));
                        let _ = tx.send(DeviceResult {
                            report,
                            connected_after_ms,
                        });
                    }));
                }
                for t in tasks {
                    let _ = t.await;
                }
            });
            Ok(())
        }));
    }
    drop(tx);
    let results: Vec<DeviceResult> = rx.iter().collect();
    for w in workers {
        w.join()
            .map_err(|_| anyhow!("a fleet worker thread panicked"))??;
    }
    let elapsed = start.elapsed();
    progress.finish_and_clear();
    summarize(args, &results, elapsed)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn summarize(args: &FleetArgs, results: &[DeviceResult], elapsed: Duration) -> anyhow::Result<()> {
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let (mut handshakes_ok, mut handshakes_failed, mut sent, mut delivered) =
        (0u64, 0u64, 0u64, 0u64);
    let mut latencies = Vec::new();
    let mut last_connect_ms = 0u64;
    for r in results {
        match &r.report {
            Ok(report) => {
                handshakes_ok += report.handshakes;
                handshakes_failed += report.rejections;
                sent += report.sent;
                delivered += report.delivered;
                latencies.extend_from_slice(&report.latencies);
                if let Some(reason) = &report.rejected {
                    *failures.entry(format!("rejected: {reason}")).or_default() += 1;
                }
                if report.timed_out {
                    *failures.entry("timed out".into()).or_default() += 1;
                }
                if report.handshakes == 0 && report.rejections == 0 {
                    handshakes_failed += 1;
                }
            }
            Err(e) => *failures.entry(format!("agent error: {e}")).or_default() += 1,
        }
        if let Some(ms) = r.connected_after_ms {
            last_connect_ms = last_connect_ms.max(ms);
        }
    }
    latencies.sort();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let handshake_secs = (last_connect_ms as f64 / 1e3).max(1e-3);
    let summary = json!({
        "devices": args.devices,
        "handshakes_ok": handshakes_ok,
        "handshakes_failed": handshakes_failed,
        "messages_sent": sent,
        "messages_delivered": delivered,
        "failures": failures,
        "handshakes_per_s": (handshakes_ok as f64 / handshake_secs * 10.0).round() / 10.0,
        "messages_per_s": (delivered as f64 / secs * 10.0).round() / 10.0,
        "latency_ms": { "p50": (percentile(&latencies, 50.0) * 100.0).round() / 100.0,
                        "p99": (percentile(&latencies, 99.0) * 100.0).round() / 100.0 },
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "fleet: {} devices against {} in {:.1} s",
            args.devices, args.server, secs
        );
        println!(
            "  handshakes: {handshakes_ok} completed, {handshakes_failed} failed ({} per second)",
            summary["handshakes_per_s"]
        );
        println!(
            "  messages:   {delivered} of {sent} acknowledged ({} per second)",
            summary["messages_per_s"]
        );
        println!(
            "  latency:    p50 {} ms, p99 {} ms",
            summary["latency_ms"]["p50"], summary["latency_ms"]["p99"]
        );
        for (reason, n) in &failures {
            println!("  failure:    {n} x {reason}");
        }
    }
    let expected = args.devices as u64 * args.messages;
    if delivered < expected {
        bail!("only {delivered} of {expected} messages were acknowledged");
    }
    Ok(())
}
