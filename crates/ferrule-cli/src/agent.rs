//! A Linux device agent: one `ferrule-device` [`Session`] driven over a UDP socket.
//!
//! The session is sans-IO; this loop gives it the socket, the clock and the telemetry to send,
//! and reports what happened. `ferrule device run` runs one agent, `ferrule fleet` many.

use core::net::SocketAddr;
use core::time::Duration;
use std::time::Instant as StdInstant;

use anyhow::{anyhow, Context};
use ferrule_crypto::{RustCrypto, SoftwareKey};
use ferrule_device::session::{Event, RejectReason, Session, SessionConfig};
use ferrule_device::Bundle;
use ferrule_proto::cbor::Encoder;
use ferrule_proto::coap::Instant;
use ferrule_proto::oscore::MemoryStorage;
use rand_core::OsRng;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

/// Content-Format of the telemetry the agent sends: `application/cbor`.
pub const CONTENT_FORMAT_CBOR: u16 = 60;

/// What one agent should do.
#[derive(Clone, Debug)]
pub struct AgentPlan {
    /// The cloud (or a relay in front of it).
    pub server: SocketAddr,
    /// Messages to deliver.
    pub count: u64,
    /// Pause between one delivery and the next message.
    pub interval: Duration,
    /// Give up after this long.
    pub deadline: Duration,
    /// Stop at the first refusal instead of backing off and retrying.
    pub stop_on_reject: bool,
    /// Send the handshake with message_4 instead of the combined request.
    pub with_message_4: bool,
    /// Limits how many agents handshake at once (a fleet starting together would otherwise
    /// overflow the server's receive buffer and wait for retransmissions).
    pub handshake_gate: Option<Arc<Semaphore>>,
}

/// What the agent reports as it goes.
#[derive(Clone, Debug)]
pub enum AgentEvent {
    /// A security context is established.
    Connected {
        /// C_R in hex.
        c_r: String,
        /// Milliseconds since the agent started.
        after_ms: u64,
    },
    /// The cloud acknowledged message `seq` (it is in the sink).
    Delivered {
        /// Sequence number of the message.
        seq: u64,
        /// Time from queueing to acknowledgement.
        latency: Duration,
    },
    /// A command arrived.
    Command {
        /// Its bytes.
        payload: Vec<u8>,
    },
    /// The cloud refused the device.
    Rejected {
        /// Why.
        reason: String,
    },
    /// The link was lost; the session will try again.
    Disconnected {
        /// Why.
        reason: String,
    },
}

/// How an agent's run ended.
#[derive(Clone, Debug, Default)]
pub struct AgentReport {
    /// Messages queued.
    pub sent: u64,
    /// Messages acknowledged by the cloud.
    pub delivered: u64,
    /// Handshakes completed.
    pub handshakes: u64,
    /// Handshakes refused by the cloud.
    pub rejections: u64,
    /// The last refusal, if any.
    pub rejected: Option<String>,
    /// Acknowledgement latencies.
    pub latencies: Vec<Duration>,
    /// Whether the run stopped at its deadline before delivering everything.
    pub timed_out: bool,
}

/// The telemetry of message `seq`: a CBOR map `{"seq": seq, "temp_mc": millidegrees}`.
fn telemetry(seq: u64, out: &mut [u8; 64]) -> usize {
    let mut e = Encoder::new(out);
    let temp = 21_000 + (seq * 37 % 900) as i64;
    // 64 bytes always hold this map.
    let _ = e
        .map(2)
        .and_then(|e| e.text("seq"))
        .and_then(|e| e.u64(seq));
    let _ = e.text("temp_mc").and_then(|e| e.i64(temp));
    e.finish()
}

fn describe_reject(reason: &RejectReason) -> String {
    match reason {
        RejectReason::EdhocError {
            err_code: 3,
            response,
        } => {
            format!("the cloud does not know this device (EDHOC ERR_CODE 3 in {response:?})")
        }
        RejectReason::EdhocError { err_code, response } => {
            format!("EDHOC error message, ERR_CODE {err_code}, in a {response:?} response")
        }
        RejectReason::Refused(code) => {
            format!(
                "handshake refused with {code:?}: the device is unknown to the cloud or revoked"
            )
        }
        RejectReason::Handshake(e) => format!(
            "the server's EDHOC message did not verify here ({e}): this device does not trust that \
             server; check the bundle and the server address"
        ),
        other => format!("{other:?}"),
    }
}

/// Runs one device from its bundle until `plan.count` messages are delivered, the deadline
/// passes, or (with `stop_on_reject`) the cloud refuses it. Must run on a current-thread
/// runtime or a `LocalSet`: the session holds a key handle that is not `Send`.
///
/// # Errors
/// A bundle that does not parse, or a socket that cannot be opened.
pub async fn run_agent(
    bundle_bytes: &[u8],
    plan: &AgentPlan,
    mut on_event: impl FnMut(&AgentEvent),
) -> anyhow::Result<AgentReport> {
    let bundle = Bundle::parse(bundle_bytes).map_err(|e| anyhow!("{e}"))?;
    let key: SoftwareKey = bundle.private_key().map_err(|e| anyhow!("{e}"))?;
    let mut config = SessionConfig::from_bundle(&bundle, &key).map_err(|e| anyhow!("{e}"))?;
    if plan.with_message_4 {
        config.flow = ferrule_device::session::Flow::WithMessage4;
    }
    let mut session: Session<'_, _, _, 512, 256> =
        Session::new(&config, RustCrypto::new(OsRng), MemoryStorage::new())
            .map_err(|e| anyhow!("device {}: {e}", bundle.name()))?;

    let bind: SocketAddr = if plan.server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(bind)
        .await
        .context("opening a UDP socket")?;
    socket
        .connect(plan.server)
        .await
        .with_context(|| format!("connecting to {}", plan.server))?;

    // Held until the first handshake ends, one way or the other.
    let mut gate = match &plan.handshake_gate {
        Some(gate) => Some(
            Arc::clone(gate)
                .acquire_owned()
                .await
                .context("handshake gate closed")?,
        ),
        None => None,
    };
    let start = StdInstant::now();
    let now = || Instant::from_millis(start.elapsed().as_millis() as u64);
    let mut report = AgentReport::default();
    let mut queued_at = StdInstant::now();
    let mut next_send = StdInstant::now();
    let mut out = [0u8; 512];
    let mut buf = [0u8; 1500];
    loop {
        let mut stop = false;
        while let Some(event) = session.poll_event() {
            let reported = match event {
                Event::Connected { c_r } => {
                    report.handshakes += 1;
                    Some(AgentEvent::Connected {
                        c_r: c_r.as_bytes().iter().map(|b| format!("{b:02x}")).collect(),
                        after_ms: start.elapsed().as_millis() as u64,
                    })
                }
                Event::Delivered(_) => {
                    let latency = queued_at.elapsed();
                    report.delivered += 1;
                    report.latencies.push(latency);
                    next_send = StdInstant::now() + plan.interval;
                    Some(AgentEvent::Delivered {
                        seq: report.delivered - 1,
                        latency,
                    })
                }
                Event::Command { payload, .. } => Some(AgentEvent::Command {
                    payload: payload.to_vec(),
                }),
                Event::Refused { code, .. } => Some(AgentEvent::Rejected {
                    reason: format!("message refused with {code:?}"),
                }),
                Event::Rejected { reason } => {
                    let reason = describe_reject(&reason);
                    report.rejections += 1;
                    report.rejected = Some(reason.clone());
                    stop |= plan.stop_on_reject;
                    Some(AgentEvent::Rejected { reason })
                }
                Event::Disconnected { reason } => Some(AgentEvent::Disconnected {
                    reason: format!("{reason:?}"),
                }),
                _ => None,
            };
            if let Some(e) = reported {
                on_event(&e);
            }
        }
        if report.handshakes > 0 || report.rejections > 0 {
            gate = None;
        }
        if stop {
            break;
        }
        if report.delivered >= plan.count {
            break;
        }
        if start.elapsed() >= plan.deadline {
            report.timed_out = true;
            break;
        }
        if session.pending().is_none() && report.sent < plan.count && StdInstant::now() >= next_send
        {
            let mut payload = [0u8; 64];
            let n = telemetry(report.sent, &mut payload);
            match session.send(now(), &payload[..n], Some(CONTENT_FORMAT_CBOR)) {
                Ok(_) => {
                    report.sent += 1;
                    queued_at = StdInstant::now();
                }
                Err(e) => tracing::debug!("send deferred: {e}"),
            }
        }
        while let Some(n) = session.poll_transmit(now(), &mut out) {
            if let Err(e) = socket.send(&out[..n]).await {
                tracing::debug!("send to {} failed: {e}", plan.server);
            }
        }
        // Sleep until the session's next timer, the next message, or the deadline.
        let mut wake = start + plan.deadline;
        if let Some(t) = session.poll_timeout() {
            wake = wake.min(start + Duration::from_millis(t.as_millis()));
        }
        if session.pending().is_none() && report.sent < plan.count {
            wake = wake.min(next_send);
        }
        let sleep = tokio::time::sleep_until(wake.into());
        tokio::select! {
            received = socket.recv(&mut buf) => match received {
                Ok(n) => session.handle_datagram(now(), &mut buf[..n]),
                // ICMP port unreachable (no server yet): the session's timers retry.
                Err(e) => tracing::debug!("receive failed: {e}"),
            },
            () = sleep => session.handle_timeout(now()),
        }
    }
    drop(gate);
    Ok(report)
}
