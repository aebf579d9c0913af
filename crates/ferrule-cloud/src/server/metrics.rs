//! Counters and gauges of the server, shared between the endpoint and the admin API, and their
//! Prometheus text form (exposition format 0.0.4).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ferrule_datagrams_received_total` | counter | |
//! | `ferrule_malformed_datagrams_total` | counter | |
//! | `ferrule_duplicate_requests_total` | counter | (retransmissions answered from the cache) |
//! | `ferrule_handshakes_total` | counter | `result` ([`HandshakeResult::label`]) |
//! | `ferrule_messages_total` | counter | (OSCORE requests that verified) |
//! | `ferrule_telemetry_records_total` | counter | (records the sink accepted) |
//! | `ferrule_sink_failures_total` | counter | |
//! | `ferrule_commands_delivered_total` | counter | |
//! | `ferrule_rejections_total` | counter | `reason` ([`Reason::label`]) |
//! | `ferrule_sessions` | gauge | (established sessions) |
//! | `ferrule_pending_handshakes` | gauge | (waiting for message_3) |

use core::fmt::Write as _;
use core::sync::atomic::{AtomicU64, Ordering};

use super::events::Reason;

/// How a handshake ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeResult {
    /// The device authenticated; a session exists.
    Established,
    /// message_1 was refused (unsupported suite or method, malformed).
    RefusedMessage1,
    /// message_3 named a credential the registry does not have.
    UnknownDevice,
    /// The device authenticated but is revoked.
    Revoked,
    /// message_3 did not decrypt or verify.
    AuthenticationFailed,
    /// message_3 for a C_R with no handshake waiting (expired, or never started).
    UnknownHandshake,
    /// The device sent an EDHOC error message instead of message_3.
    Aborted,
    /// The server failed (crypto provider, registry).
    ServerError,
}

impl HandshakeResult {
    /// Every result, in label order.
    pub const ALL: [Self; 8] = [
        Self::Established,
        Self::RefusedMessage1,
        Self::UnknownDevice,
        Self::Revoked,
        Self::AuthenticationFailed,
        Self::UnknownHandshake,
        Self::Aborted,
        Self::ServerError,
    ];

    /// The `result` label.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Established => "established",
            Self::RefusedMessage1 => "refused_message_1",
            Self::UnknownDevice => "unknown_device",
            Self::Revoked => "revoked",
            Self::AuthenticationFailed => "authentication_failed",
            Self::UnknownHandshake => "unknown_handshake",
            Self::Aborted => "aborted",
            Self::ServerError => "server_error",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// The server's counters; cheap to update from any thread.
#[derive(Debug, Default)]
pub struct Metrics {
    datagrams: AtomicU64,
    malformed: AtomicU64,
    duplicates: AtomicU64,
    messages: AtomicU64,
    telemetry: AtomicU64,
    sink_failures: AtomicU64,
    commands_delivered: AtomicU64,
    sessions: AtomicU64,
    pending_handshakes: AtomicU64,
    handshakes: [AtomicU64; HandshakeResult::ALL.len()],
    rejections: [AtomicU64; Reason::ALL.len()],
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// All zero.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn datagram(&self) {
        bump(&self.datagrams);
    }
    pub(crate) fn malformed(&self) {
        bump(&self.malformed);
    }
    pub(crate) fn duplicate(&self) {
        bump(&self.duplicates);
    }
    pub(crate) fn message(&self) {
        bump(&self.messages);
    }
    pub(crate) fn telemetry(&self) {
        bump(&self.telemetry);
    }
    pub(crate) fn sink_failure(&self) {
        bump(&self.sink_failures);
    }
    pub(crate) fn command_delivered(&self) {
        bump(&self.commands_delivered);
    }
    pub(crate) fn handshake(&self, result: HandshakeResult) {
        if let Some(c) = self.handshakes.get(result.index()) {
            bump(c);
        }
    }
    pub(crate) fn rejection(&self, reason: Reason) {
        if let Some(c) = self.rejections.get(reason.index()) {
            bump(c);
        }
    }
    pub(crate) fn set_sessions(&self, n: usize) {
        self.sessions.store(n as u64, Ordering::Relaxed);
    }
    pub(crate) fn set_pending_handshakes(&self, n: usize) {
        self.pending_handshakes.store(n as u64, Ordering::Relaxed);
    }

    /// Handshakes that ended with `result`.
    pub fn handshakes(&self, result: HandshakeResult) -> u64 {
        self.handshakes
            .get(result.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Requests or handshakes refused for `reason`.
    pub fn rejections(&self, reason: Reason) -> u64 {
        self.rejections
            .get(reason.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Datagrams dropped because they were not CoAP.
    pub fn malformed_datagrams(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// Established sessions now.
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }

    /// Telemetry records the sink accepted.
    pub fn telemetry_records(&self) -> u64 {
        self.telemetry.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut single = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {value}");
        };
        single(
            "ferrule_datagrams_received_total",
            "counter",
            "UDP datagrams received.",
            load(&self.datagrams),
        );
        single(
            "ferrule_malformed_datagrams_total",
            "counter",
            "Datagrams dropped because they are not well-formed CoAP.",
            load(&self.malformed),
        );
        single(
            "ferrule_duplicate_requests_total",
            "counter",
            "Retransmitted requests answered from the response cache.",
            load(&self.duplicates),
        );
        single(
            "ferrule_messages_total",
            "counter",
            "OSCORE requests that verified.",
            load(&self.messages),
        );
        single(
            "ferrule_telemetry_records_total",
            "counter",
            "Telemetry records the sink accepted.",
            load(&self.telemetry),
        );
        single(
            "ferrule_sink_failures_total",
            "counter",
            "Telemetry the sink failed to accept (answered 5.00).",
            load(&self.sink_failures),
        );
        single(
            "ferrule_commands_delivered_total",
            "counter",
            "Commands delivered to devices.",
            load(&self.commands_delivered),
        );
        single(
            "ferrule_sessions",
            "gauge",
            "Established OSCORE sessions.",
            load(&self.sessions),
        );
        single(
            "ferrule_pending_handshakes",
            "gauge",
            "EDHOC handshakes waiting for message_3.",
            load(&self.pending_handshakes),
        );
        let _ = writeln!(
            out,
            "# HELP ferrule_handshakes_total EDHOC handshakes by result."
        );
        let _ = writeln!(out, "# TYPE ferrule_handshakes_total counter");
        for result in HandshakeResult::ALL {
            let _ = writeln!(
                out,
                "ferrule_handshakes_total{{result=\"{}\"}} {}",
                result.label(),
                self.handshakes(result)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ferrule_rejections_total Requests and handshakes refused, by reason."
        );
        let _ = writeln!(out, "# TYPE ferrule_rejections_total counter");
        for reason in Reason::ALL {
            let _ = writeln!(
                out,
                "ferrule_rejections_total{{reason=\"{}\"}} {}",
                reason.label(),
                self.rejections(reason)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_labels() {
        let m = Metrics::new();
        m.handshake(HandshakeResult::Established);
        m.rejection(Reason::Replay);
        m.rejection(Reason::Replay);
        m.set_sessions(3);
        let text = m.render();
        assert!(text.contains("ferrule_handshakes_total{result=\"established\"} 1\n"));
        assert!(text.contains("ferrule_rejections_total{reason=\"replay\"} 2\n"));
        assert!(text.contains("ferrule_sessions 3\n"));
        assert!(text.contains("ferrule_malformed_datagrams_total 0\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("ferrule_"), "{line}");
            value.parse::<u64>().unwrap();
        }
    }
}
