//! The Ferrule cloud server: the CoAP endpoint that terminates EDHOC (RFC 9528) and OSCORE
//! (RFC 8613) sessions for a fleet of devices, as docs/protocol.md describes; telemetry sinks;
//! an admin HTTP API with Prometheus metrics.
//!
//! ```no_run
//! # async fn serve() -> Result<(), ferrule_cloud::server::ServerError> {
//! use ferrule_cloud::server::{Server, ServerConfig};
//! let mut config = ServerConfig::new("/srv/ferrule");
//! config.listen = "0.0.0.0:5683".parse().unwrap();
//! config.sink = "jsonl:/srv/ferrule/telemetry.jsonl".parse().unwrap();
//! config.admin = Some("127.0.0.1:8080".parse().unwrap());
//! let server = Server::bind(config).await?;
//! println!("listening on {}", server.local_addr());
//! server
//!     .run_until(async { tokio::signal::ctrl_c().await.unwrap_or(()) })
//!     .await
//! # }
//! ```
//!
//! # How it works
//!
//! One UDP socket, read by one thread (the endpoint) that owns every table: the handshakes
//! waiting for message_3 (by C_R, expiring), the sessions (by OSCORE `kid`), and the answers to
//! recent requests (by peer and Message ID, to answer retransmissions without processing them
//! twice). The cloud identity, the registry connection and the sink belong to that thread too.
//! The admin API runs on the caller's tokio runtime with its own registry connection and asks
//! the endpoint thread over a channel for what only it knows (sessions).
//!
//! # Guarantees
//!
//! - Telemetry is written to the sink, and flushed, before the 2.04 that acknowledges it; if
//!   the sink fails the device gets 5.00 and keeps the message.
//! - Revocation is immediate: the admin API drops the session before it answers; a revocation
//!   written to the registry by another process (`ferrule device revoke`) is noticed through
//!   SQLite's `data_version` before the device's next request is accepted.
//! - No datagram makes the server panic; a datagram that is not CoAP is dropped and counted; a
//!   request that fails verification changes no session; every table is bounded
//!   ([`Limits`]).
//! - Every refusal is counted ([`Metrics`]) and logged with the device and the reason; security
//!   events are recorded in the registry ([`events`]).

mod admin;
mod cache;
mod config;
mod control;
mod edhoc;
mod endpoint;
pub mod events;
mod handshakes;
mod lookup;
mod metrics;
mod payload;
mod protected;
mod reply;
mod resources;
mod responders;
mod sessions;
mod sink;

use core::future::Future;
use core::net::SocketAddr;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};

use crate::identity::{CloudIdentity, IdentityError};
use crate::registry::{Registry, RegistryError};

pub use admin::MAX_COMMAND_LEN;
pub use config::{Limits, ServerConfig, SinkSpec, SinkSpecError, DEFAULT_LISTEN};
pub use control::SessionSummary;
pub use events::Reason;
pub use metrics::{HandshakeResult, Metrics};
pub use payload::{payload_to_json, PayloadError};
pub use sink::{JsonLinesSink, Sink, TelemetryRecord};

use control::Control;
use endpoint::Endpoint;
use responders::{Policy, Responders};

/// Why the server could not start or stopped. Each message names the file or address at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The cloud identity could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The registry could not be opened.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The sink could not be opened.
    #[error("sink {spec}: {source}")]
    Sink {
        /// The sink as configured.
        spec: SinkSpec,
        /// What failed.
        source: io::Error,
    },
    /// The UDP socket could not be bound.
    #[error("cannot listen on UDP {addr}: {source} (is another server running on that port?)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// The admin API's socket could not be bound.
    #[error("cannot listen on TCP {addr} for the admin API: {source}")]
    AdminBind {
        /// The address.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// The admin API was configured on an address other than loopback.
    #[error(
        "the admin API has no authentication and listens on loopback only: use 127.0.0.1 or \
         [::1] instead of {0}"
    )]
    AdminNotLoopback(SocketAddr),
    /// The configuration cannot work.
    #[error("invalid server configuration for {}: {reason}", .dir.display())]
    Config {
        /// The cloud directory.
        dir: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The endpoint thread failed.
    #[error("the CoAP endpoint stopped: {0}")]
    Endpoint(io::Error),
}

/// Stops a running [`Server`]; cheap to clone and send anywhere.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    shutdown: Arc<watch::Sender<bool>>,
}

impl ServerHandle {
    /// Asks the server to stop: the endpoint stops reading, the admin API finishes its
    /// requests. [`Server::run`] then returns.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

/// A running server; see the [module documentation](self).
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    metrics: Arc<Metrics>,
    handle: ServerHandle,
    endpoint_done: Option<oneshot::Receiver<io::Result<()>>>,
    admin_task: Option<tokio::task::JoinHandle<()>>,
}

/// Dropping a server stops it (without waiting); [`Server::shutdown`] also waits.
impl Drop for Server {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

impl Server {
    /// Loads the identity from `config.dir`, opens the registry and the sink, binds the UDP
    /// socket (and the admin API, if configured) and starts serving. Call it within a tokio
    /// runtime (the admin API runs on it); the endpoint runs on a thread of its own.
    ///
    /// # Errors
    /// [`ServerError`] says what could not be loaded, opened or bound.
    pub async fn bind(config: ServerConfig) -> Result<Self, ServerError> {
        let sink = config.sink.open().map_err(|source| ServerError::Sink {
            spec: config.sink.clone(),
            source,
        })?;
        Self::bind_with_sink(config, sink).await
    }

    /// [`Server::bind`] with a sink of the caller's instead of `config.sink`.
    ///
    /// # Errors
    /// As [`Server::bind`].
    pub async fn bind_with_sink(
        config: ServerConfig,
        sink: Box<dyn Sink>,
    ) -> Result<Self, ServerError> {
        if let Some(admin) = config.admin {
            if !admin.ip().is_loopback() {
                return Err(ServerError::AdminNotLoopback(admin));
            }
        }
        let config_error = |reason: String| ServerError::Config {
            dir: config.dir.clone(),
            reason,
        };
        let policy = Policy::new(&config.methods, &config.suites).map_err(config_error)?;
        let identity = CloudIdentity::load(&config.dir)?;
        // Check now that every configuration can be built, so the thread cannot fail on it.
        Responders::new(&identity, &policy).map_err(config_error)?;
        let registry = Registry::open(&config.dir)?;
        // One handshake or message can write "last seen" and events: no fsync for each.
        registry.relax_durability()?;
        let admin_registry = match config.admin {
            Some(_) => Some(Registry::open(&config.dir)?),
            None => None,
        };
        let socket =
            std::net::UdpSocket::bind(config.listen).map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        socket
            .set_nonblocking(true)
            .and_then(|()| socket.local_addr())
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let local_addr = socket.local_addr().map_err(|source| ServerError::Bind {
            addr: config.listen,
            source,
        })?;

        let metrics = Arc::new(Metrics::new());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let shutdown = Arc::new(shutdown_tx);
        let (control_tx, control_rx) = mpsc::unbounded_channel();

        let mut admin_addr = None;
        let mut admin_task = None;
        if let (Some(addr), Some(admin_registry)) = (config.admin, admin_registry) {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::AdminBind { addr, source })?;
            admin_addr = Some(
                listener
                    .local_addr()
                    .map_err(|source| ServerError::AdminBind { addr, source })?,
            );
            let router = admin::router(admin::AdminState {
                registry: Arc::new(Mutex::new(admin_registry)),
                control: control_tx.clone(),
                metrics: metrics.clone(),
            });
            let mut stop = shutdown_rx.clone();
            admin_task = Some(tokio::spawn(async move {
                let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                });
                if let Err(e) = serve.await {
                    tracing::error!(error = %e, "the admin API stopped");
                }
            }));
            tracing::info!(addr = ?admin_addr, "admin API listening");
        }

        let (done_tx, done_rx) = oneshot::channel();
        let thread = EndpointThread {
            socket,
            identity,
            policy,
            registry,
            sink,
            metrics: metrics.clone(),
            limits: config.limits,
            control: control_rx,
            shutdown: shutdown_rx,
            on_exit: shutdown.clone(),
        };
        std::thread::Builder::new()
            .name("ferrule-endpoint".into())
            .spawn(move || {
                let result = thread.run();
                let _ = done_tx.send(result);
            })
            .map_err(ServerError::Endpoint)?;
        // The control sender lives in the admin state; keep one so the channel stays open.
        drop(control_tx);
        tracing::info!(%local_addr, dir = %config.dir.display(), sink = %config.sink,
            "ferrule server listening");
        Ok(Self {
            local_addr,
            admin_addr,
            metrics,
            handle: ServerHandle { shutdown },
            endpoint_done: Some(done_rx),
            admin_task,
        })
    }

    /// The UDP address the endpoint listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The admin API's address, if it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// The server's counters.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Serves until a [`ServerHandle::shutdown`] (or the endpoint fails).
    ///
    /// # Errors
    /// [`ServerError::Endpoint`] if the endpoint failed.
    pub async fn run(mut self) -> Result<(), ServerError> {
        let done = match self.endpoint_done.take() {
            Some(done) => done.await,
            None => Ok(Ok(())),
        };
        let result = match done {
            Ok(result) => result.map_err(ServerError::Endpoint),
            Err(_) => Err(ServerError::Endpoint(io::Error::other(
                "the endpoint thread ended without a result",
            ))),
        };
        self.handle.shutdown();
        if let Some(task) = self.admin_task.take() {
            let _ = task.await;
        }
        tracing::info!("ferrule server stopped");
        result
    }

    /// Serves until `signal` completes (for example `tokio::signal::ctrl_c()`), then stops.
    ///
    /// # Errors
    /// As [`Server::run`].
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> Result<(), ServerError> {
        let handle = self.handle();
        let mut stopped = handle.shutdown.subscribe();
        tokio::select! {
            () = signal => handle.shutdown(),
            _ = stopped.wait_for(|s| *s) => {}
        }
        self.run().await
    }

    /// Stops the server and waits until it has stopped.
    ///
    /// # Errors
    /// As [`Server::run`].
    pub async fn shutdown(self) -> Result<(), ServerError> {
        self.handle.shutdown();
        self.run().await
    }
}

/// Signals shutdown when dropped.
struct StopOnDrop(Arc<watch::Sender<bool>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// What the endpoint thread owns.
struct EndpointThread {
    socket: std::net::UdpSocket,
    identity: CloudIdentity,
    policy: Policy,
    registry: Registry,
    sink: Box<dyn Sink>,
    metrics: Arc<Metrics>,
    limits: Limits,
    control: mpsc::UnboundedReceiver<Control>,
    shutdown: watch::Receiver<bool>,
    on_exit: Arc<watch::Sender<bool>>,
}

impl EndpointThread {
    /// Runs the endpoint on a single-threaded runtime until shutdown.
    fn run(self) -> io::Result<()> {
        // However the thread ends (even by a panic), the admin API stops with it.
        let _stop_admin = StopOnDrop(self.on_exit.clone());
        let result = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .and_then(|rt| rt.block_on(self.serve()));
        if let Err(e) = &result {
            tracing::error!(error = %e, "the CoAP endpoint failed");
        }
        result
    }

    async fn serve(self) -> io::Result<()> {
        let Self {
            socket,
            identity,
            policy,
            registry,
            sink,
            metrics,
            limits,
            mut control,
            mut shutdown,
            ..
        } = self;
        let socket = tokio::net::UdpSocket::from_std(socket)?;
        let responders = Responders::new(&identity, &policy).map_err(io::Error::other)?;
        // No UDP datagram is longer than 65,535 bytes.
        let max_datagram = limits.max_datagram.clamp(4, 65_535);
        let mut endpoint = Endpoint::new(&responders, registry, sink, metrics, limits);
        let mut buf = vec![0u8; max_datagram + 1];
        let mut tick = tokio::time::interval(core::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|stopped| *stopped) => break,
                Some(message) = control.recv() => endpoint.control(message),
                _ = tick.tick() => endpoint.tick(Instant::now()),
                received = socket.recv_from(&mut buf) => {
                    let (len, peer) = match received {
                        Ok(r) => r,
                        Err(e) => {
                            // ICMP errors for earlier sends surface here on some systems;
                            // they concern one peer, not the socket.
                            tracing::debug!(error = %e, "receive error");
                            continue;
                        }
                    };
                    let Some(datagram) = buf.get_mut(..len) else { continue };
                    if len > max_datagram {
                        endpoint.metrics.datagram();
                        endpoint.metrics.malformed();
                        tracing::debug!(%peer, len, "dropped an oversized datagram");
                        continue;
                    }
                    if let Some(reply) = endpoint.handle(peer, datagram, Instant::now()) {
                        match socket.send_to(&reply.bytes, peer).await {
                            Ok(_) => endpoint.sent(reply),
                            Err(e) => tracing::debug!(%peer, error = %e, "send failed"),
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
