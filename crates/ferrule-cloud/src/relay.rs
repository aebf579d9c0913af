//! An untrusted UDP relay: what a gateway between devices and the cloud can see.
//!
//! Every datagram from a device is forwarded to the upstream server from a socket of its own
//! (so answers find their way back), and every answer is forwarded to the device. The relay
//! learns only what is on the wire: sizes, CoAP headers and the outer options. EDHOC messages are
//! ciphertext from message_2 on, and OSCORE hides the method, the path and the payload; the
//! [`Observation`] of each datagram says so.

use core::fmt;
use core::net::SocketAddr;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::collections::HashMap;
use std::sync::Arc;

use ferrule_proto::coap::{Message, OptionNumber};
use tokio::net::UdpSocket;
use tokio::sync::Mutex;

/// Which way a datagram travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From a device to the server.
    Up,
    /// From the server to a device.
    Down,
}

/// What the relay can tell about one datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Which way it went.
    pub direction: Direction,
    /// The device's address.
    pub device: SocketAddr,
    /// Datagram size in bytes.
    pub size: usize,
    /// What the bytes reveal.
    pub kind: Visible,
}

/// What a relay sees in a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visible {
    /// Not CoAP at all.
    Opaque,
    /// An EDHOC request to `/.well-known/edhoc` (message_1 is in the clear by design; message_3
    /// is encrypted).
    EdhocRequest {
        /// Payload size.
        payload: usize,
    },
    /// An OSCORE-protected message: the real method, options and payload are ciphertext.
    Oscore {
        /// Whether it also carries EDHOC message_3 (RFC 9668 combined request).
        combined: bool,
        /// Ciphertext size.
        ciphertext: usize,
    },
    /// Any other CoAP message (EDHOC responses, unprotected errors, empty ACKs).
    Coap {
        /// The code, as `c.dd`.
        code: String,
        /// Payload size.
        payload: usize,
    },
}

impl Visible {
    /// Classifies a datagram.
    pub fn of(datagram: &[u8]) -> Self {
        let Ok(m) = Message::parse(datagram) else {
            return Self::Opaque;
        };
        if m.option(OptionNumber::Oscore).is_some() {
            return Self::Oscore {
                combined: m.option(OptionNumber::Edhoc).is_some(),
                ciphertext: m.payload().len(),
            };
        }
        let edhoc = m
            .options_of(OptionNumber::UriPath)
            .eq([&b".well-known"[..], b"edhoc"]);
        if edhoc {
            return Self::EdhocRequest {
                payload: m.payload().len(),
            };
        }
        let c = m.code().to_byte();
        Self::Coap {
            code: format!("{}.{:02}", c >> 5, c & 0x1f),
            payload: m.payload().len(),
        }
    }
}

impl fmt::Display for Observation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let arrow = match self.direction {
            Direction::Up => "device -> cloud",
            Direction::Down => "cloud -> device",
        };
        write!(f, "{arrow} {} {:>4} B  ", self.device, self.size)?;
        match &self.kind {
            Visible::Opaque => f.write_str("not CoAP: opaque bytes"),
            Visible::EdhocRequest { payload } => {
                write!(f, "EDHOC request, {payload} B (message_1 is public by design; message_3 is encrypted)")
            }
            Visible::Oscore { combined: true, ciphertext } => write!(
                f,
                "EDHOC message_3 + OSCORE request: {ciphertext} B of ciphertext, method/path/payload hidden"
            ),
            Visible::Oscore { combined: false, ciphertext } => {
                write!(f, "OSCORE: {ciphertext} B of ciphertext, method/path/payload hidden")
            }
            Visible::Coap { code, payload } => write!(f, "CoAP {code}, {payload} B payload (EDHOC or error)"),
        }
    }
}

/// Counters of a running relay.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Datagrams forwarded to the server.
    pub up: AtomicU64,
    /// Datagrams forwarded to devices.
    pub down: AtomicU64,
    /// Bytes forwarded both ways.
    pub bytes: AtomicU64,
}

/// How long a device's upstream socket is kept without traffic.
const IDLE: Duration = Duration::from_secs(120);

/// Forwards datagrams between `listen` and `upstream` until the task is dropped, calling
/// `observe` for each datagram.
///
/// # Errors
/// If `listen` cannot be bound.
pub async fn run_relay(
    listen: SocketAddr,
    upstream: SocketAddr,
    stats: Arc<RelayStats>,
    observe: Arc<dyn Fn(Observation) + Send + Sync>,
) -> std::io::Result<()> {
    let downstream = Arc::new(UdpSocket::bind(listen).await?);
    run_relay_on(downstream, upstream, stats, observe).await
}

/// As [`run_relay`], on an already bound socket (so a caller can learn its port first).
///
/// # Errors
/// If receiving on the socket fails.
pub async fn run_relay_on(
    downstream: Arc<UdpSocket>,
    upstream: SocketAddr,
    stats: Arc<RelayStats>,
    observe: Arc<dyn Fn(Observation) + Send + Sync>,
) -> std::io::Result<()> {
    let peers: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, device) = downstream.recv_from(&mut buf).await?;
        let datagram = &buf[..n];
        observe(Observation {
            direction: Direction::Up,
            device,
            size: n,
            kind: Visible::of(datagram),
        });
        stats.up.fetch_add(1, Ordering::Relaxed);
        stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let socket = {
            let mut map = peers.lock().await;
            if let Some(s) = map.get(&device) {
                Arc::clone(s)
            } else {
                let bind: SocketAddr = if upstream.is_ipv4() {
                    SocketAddr::from(([0, 0, 0, 0], 0))
                } else {
                    SocketAddr::from(([0u16; 8], 0))
                };
                let s = Arc::new(UdpSocket::bind(bind).await?);
                s.connect(upstream).await?;
                map.insert(device, Arc::clone(&s));
                tokio::spawn(forward_down(
                    Arc::clone(&s),
                    Arc::clone(&downstream),
                    device,
                    Arc::clone(&peers),
                    Arc::clone(&stats),
                    Arc::clone(&observe),
                ));
                s
            }
        };
        if let Err(e) = socket.send(datagram).await {
            tracing::warn!(%device, %upstream, "relay: forwarding failed: {e}");
        }
    }
}

async fn forward_down(
    upstream: Arc<UdpSocket>,
    downstream: Arc<UdpSocket>,
    device: SocketAddr,
    peers: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>,
    stats: Arc<RelayStats>,
    observe: Arc<dyn Fn(Observation) + Send + Sync>,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        match tokio::time::timeout(IDLE, upstream.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                observe(Observation {
                    direction: Direction::Down,
                    device,
                    size: n,
                    kind: Visible::of(&buf[..n]),
                });
                stats.down.fetch_add(1, Ordering::Relaxed);
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
                if let Err(e) = downstream.send_to(&buf[..n], device).await {
                    tracing::warn!(%device, "relay: answering the device failed: {e}");
                }
            }
            // An ICMP "port unreachable" from a stopped server: keep waiting for it to return.
            Ok(Err(_)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(_) => break,
        }
    }
    peers.lock().await.remove(&device);
}

/// Largest datagram a serial frame may carry (the 2-byte length allows more; CoAP over UDP
/// without IP fragmentation stays below this).
pub const MAX_FRAME: usize = 1280;

/// Bridges devices on a serial line to the cloud: accepts TCP connections on `listen` (QEMU
/// connects its UART there with `-chardev socket,...`), reads frames of a 2-byte big-endian
/// length followed by one datagram, and forwards each datagram over UDP to `upstream`; answers
/// go back as frames. Each connection gets its own UDP socket, like a device of its own.
///
/// # Errors
/// If `listen` cannot be bound or accepting fails.
pub async fn run_serial_bridge(
    listen: SocketAddr,
    upstream: SocketAddr,
    stats: Arc<RelayStats>,
    observe: Arc<dyn Fn(Observation) + Send + Sync>,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    run_serial_bridge_on(listener, upstream, stats, observe).await
}

/// As [`run_serial_bridge`], on an already bound listener.
///
/// # Errors
/// If accepting a connection fails.
pub async fn run_serial_bridge_on(
    listener: tokio::net::TcpListener,
    upstream: SocketAddr,
    stats: Arc<RelayStats>,
    observe: Arc<dyn Fn(Observation) + Send + Sync>,
) -> std::io::Result<()> {
    loop {
        let (stream, device) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (stats, observe) = (Arc::clone(&stats), Arc::clone(&observe));
        tokio::spawn(async move {
            if let Err(e) = bridge_one(stream, device, upstream, stats, observe).await {
                tracing::info!(%device, "serial bridge: connection ended: {e}");
            }
        });
    }
}

async fn bridge_one(
    stream: tokio::net::TcpStream,
    device: SocketAddr,
    upstream: SocketAddr,
    stats: Arc<RelayStats>,
    observe: Arc<dyn Fn(Observation) + Send + Sync>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bind: SocketAddr = if upstream.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let udp = UdpSocket::bind(bind).await?;
    udp.connect(upstream).await?;
    let (mut reader, mut writer) = stream.into_split();
    let mut frame = vec![0u8; MAX_FRAME];
    let mut answer = vec![0u8; 2 + MAX_FRAME];
    loop {
        tokio::select! {
            header = reader.read_u16() => {
                let len = usize::from(header?);
                if len == 0 || len > MAX_FRAME {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("frame of {len} bytes (1 to {MAX_FRAME} allowed): the serial stream is out of step"),
                    ));
                }
                reader.read_exact(&mut frame[..len]).await?;
                let datagram = &frame[..len];
                observe(Observation { direction: Direction::Up, device, size: len, kind: Visible::of(datagram) });
                stats.up.fetch_add(1, Ordering::Relaxed);
                stats.bytes.fetch_add(len as u64, Ordering::Relaxed);
                if let Err(e) = udp.send(datagram).await {
                    tracing::warn!(%device, %upstream, "serial bridge: forwarding failed: {e}");
                }
            }
            received = udp.recv(&mut answer[2..]) => {
                let n = match received {
                    Ok(n) => n,
                    // ICMP port unreachable while the server is down: keep the line open.
                    Err(_) => continue,
                };
                observe(Observation { direction: Direction::Down, device, size: n, kind: Visible::of(&answer[2..2 + n]) });
                stats.down.fetch_add(1, Ordering::Relaxed);
                stats.bytes.fetch_add(n as u64, Ordering::Relaxed);
                let len = u16::try_from(n).unwrap_or(u16::MAX);
                answer[..2].copy_from_slice(&len.to_be_bytes());
                writer.write_all(&answer[..2 + n]).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forwards_both_ways_and_classifies() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let relay_socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let relay_addr = relay_socket.local_addr().unwrap();
        let seen: Arc<std::sync::Mutex<Vec<Observation>>> = Arc::default();
        let seen2 = Arc::clone(&seen);
        let stats = Arc::new(RelayStats::default());
        tokio::spawn(run_relay_on(
            relay_socket,
            server_addr,
            Arc::clone(&stats),
            Arc::new(move |o| seen2.lock().unwrap().push(o)),
        ));
        let device = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        device.send_to(b"hello", relay_addr).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        server.send_to(b"world", from).await.unwrap();
        let (n, from) = device.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"world"[..], relay_addr));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].kind, Visible::Opaque);
        assert_eq!(stats.bytes.load(Ordering::Relaxed), 10);
    }

    #[tokio::test]
    async fn serial_frames_become_datagrams_and_back() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bridge_addr = listener.local_addr().unwrap();
        let stats = Arc::new(RelayStats::default());
        tokio::spawn(run_serial_bridge_on(
            listener,
            server_addr,
            Arc::clone(&stats),
            Arc::new(|_| {}),
        ));
        let mut line = tokio::net::TcpStream::connect(bridge_addr).await.unwrap();
        line.write_all(&[0, 5, b'h', b'e', b'l', b'l', b'o'])
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = server.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        server.send_to(b"world!", from).await.unwrap();
        let mut framed = [0u8; 8];
        line.read_exact(&mut framed).await.unwrap();
        assert_eq!(&framed, &[0, 6, b'w', b'o', b'r', b'l', b'd', b'!']);
        // A frame that cannot be right ends the connection.
        line.write_all(&[0xff, 0xff]).await.unwrap();
        let mut rest = Vec::new();
        let _ = line.read_to_end(&mut rest).await;
        assert_eq!(stats.up.load(Ordering::Relaxed), 1);
    }
}
