//! The server's configuration: one struct, with defaults that are safe to run as they are.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::str::FromStr;
use core::time::Duration;
use std::path::PathBuf;

use ferrule_proto::edhoc::{CipherSuite, Method};

/// Where the server listens by default: the CoAP port on loopback only. Pass
/// `0.0.0.0:5683` (or a specific address) to serve devices on the network.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 5683);

/// Everything [`Server::bind`](super::Server::bind) needs.
///
/// ```
/// use ferrule_cloud::server::{ServerConfig, SinkSpec};
/// let mut config = ServerConfig::new("/srv/ferrule");
/// config.listen = "0.0.0.0:5683".parse().unwrap();
/// config.sink = "jsonl:/var/lib/ferrule/telemetry.jsonl".parse().unwrap();
/// config.admin = Some("127.0.0.1:8080".parse().unwrap());
/// assert_eq!(config.sink, SinkSpec::JsonLines("/var/lib/ferrule/telemetry.jsonl".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The cloud directory (`ferrule init --dir DIR`): identity and registry.
    pub dir: PathBuf,
    /// The UDP address of the CoAP endpoint; default [`DEFAULT_LISTEN`]. Port 0 picks a free
    /// port ([`Server::local_addr`](super::Server::local_addr) tells which).
    pub listen: SocketAddr,
    /// Where telemetry goes; default standard output.
    pub sink: SinkSpec,
    /// The admin HTTP API's address, if it is to run. Must be a loopback address: the API has
    /// no authentication of its own.
    pub admin: Option<SocketAddr>,
    /// EDHOC methods accepted; default all four.
    pub methods: Vec<Method>,
    /// EDHOC cipher suites accepted, in order of preference (sent as SUITES_R when a device
    /// selects another); default 2, 0, 3, 1.
    pub suites: Vec<CipherSuite>,
    /// Bounds on state and time.
    pub limits: Limits,
}

impl ServerConfig {
    /// The defaults for the cloud directory `dir`: listen on [`DEFAULT_LISTEN`], telemetry to
    /// standard output, no admin API, every method and suite, default [`Limits`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            listen: DEFAULT_LISTEN,
            sink: SinkSpec::Stdout,
            admin: None,
            methods: Method::ALL.to_vec(),
            suites: vec![
                CipherSuite::Suite2,
                CipherSuite::Suite0,
                CipherSuite::Suite3,
                CipherSuite::Suite1,
            ],
            limits: Limits::default(),
        }
    }
}

/// Bounds on what the server keeps and for how long. Every table is bounded, so no traffic can
/// grow the server's memory without limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long a handshake may wait for message_3 after message_2 was sent.
    pub handshake_timeout: Duration,
    /// Most handshakes waiting for message_3 at once; beyond it the oldest is dropped.
    pub max_pending_handshakes: usize,
    /// Most established sessions at once; beyond it the least recently used is dropped (its
    /// device gets "Security context not found" and runs a new handshake).
    pub max_sessions: usize,
    /// A session unused this long is dropped.
    pub session_idle_timeout: Duration,
    /// How long the answer to a Confirmable request is kept to answer its retransmissions
    /// (EXCHANGE_LIFETIME, RFC 7252 Section 4.8.2: 247 s).
    pub exchange_lifetime: Duration,
    /// Most answers kept for retransmissions; beyond it the oldest is forgotten.
    pub max_cached_responses: usize,
    /// Largest datagram read; longer ones are truncated by the socket and then fail to parse.
    pub max_datagram: usize,
    /// How often, at most, a device's "last seen" time is written to the registry.
    pub last_seen_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(60),
            max_pending_handshakes: 4096,
            max_sessions: 100_000,
            session_idle_timeout: Duration::from_secs(24 * 3600),
            exchange_lifetime: Duration::from_secs(247),
            max_cached_responses: 65_536,
            max_datagram: 1500,
            last_seen_interval: Duration::from_secs(60),
        }
    }
}

/// Where telemetry goes, as given on the command line: `stdout` or `jsonl:PATH`.
///
/// ```
/// use ferrule_cloud::server::SinkSpec;
/// assert_eq!("stdout".parse::<SinkSpec>().unwrap(), SinkSpec::Stdout);
/// assert_eq!(
///     "jsonl:/tmp/t.jsonl".parse::<SinkSpec>().unwrap(),
///     SinkSpec::JsonLines("/tmp/t.jsonl".into())
/// );
/// assert!("mqtt://broker".parse::<SinkSpec>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkSpec {
    /// JSON lines on standard output.
    Stdout,
    /// JSON lines appended to a file (created if missing).
    JsonLines(PathBuf),
}

impl fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdout => f.write_str("stdout"),
            Self::JsonLines(path) => write!(f, "jsonl:{}", path.display()),
        }
    }
}

/// A sink specification that is neither `stdout` nor `jsonl:PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkSpecError(String);

impl fmt::Display for SinkSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown sink {:?}: expected `stdout` or `jsonl:PATH` (JSON lines appended to PATH)",
            self.0
        )
    }
}

impl core::error::Error for SinkSpecError {}

impl FromStr for SinkSpec {
    type Err = SinkSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            _ if s == "stdout" || s == "-" => Ok(Self::Stdout),
            Some(("jsonl", path)) if !path.is_empty() => Ok(Self::JsonLines(path.into())),
            _ => Err(SinkSpecError(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_specs_parse_and_print() {
        for text in ["stdout", "jsonl:out.jsonl", "jsonl:/a:b/c.jsonl"] {
            let spec: SinkSpec = text.parse().unwrap();
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!("-".parse::<SinkSpec>().unwrap(), SinkSpec::Stdout);
        for bad in ["", "jsonl:", "jsonl", "file:x", "stdout:x"] {
            let err = bad.parse::<SinkSpec>().unwrap_err().to_string();
            assert!(err.contains("jsonl:PATH"), "{err}");
        }
    }
}
