//! Ferrule's server library: the cloud end of EDHOC (RFC 9528) and OSCORE (RFC 8613) sessions for a
//! whole fleet of devices.
//!
//! - [`server`]: the UDP CoAP endpoint (tokio) that answers EDHOC at `/.well-known/edhoc` as the
//!   responder and serves the OSCORE-protected resources `POST /t` (telemetry) and `GET /c`
//!   (commands), with the session table, sinks (a message is acknowledged only after the sink
//!   accepted it), the admin HTTP API and Prometheus metrics. The wire protocol is in
//!   `docs/protocol.md`.
//! - [`registry`]: the device registry (SQLite) with revocation, security events and the queue
//!   of commands for each device; safe to share between the command line and a running server.
//! - [`identity`]: the cloud's long-term keys and credentials, one per kind of key the responder
//!   needs across methods 0-3 and suites 0-3.
//! - [`paths`]: the layout of a cloud directory (`DIR/cloud.identity`, `DIR/registry.sqlite`,
//!   `DIR/devices/NAME.bundle`).
//! - [`provision`]: registering a device and writing its bundle, as `ferrule device add` does.
//! - [`relay`]: an untrusted UDP forwarder that shows what a gateway sees.
//!
//! It builds on the protocol core in `ferrule-proto`, the RustCrypto provider in
//! `ferrule-crypto` and the bundle format of `ferrule-device`; the `ferrule` command line
//! (`ferrule-cli`) is its user-facing front.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod fsutil;
pub mod identity;
pub mod paths;
pub mod provision;
pub mod registry;
pub mod relay;
pub mod server;
pub mod timestamp;

pub use fsutil::Overwrite;
pub use identity::{CloudIdentity, IdentityError, IdentityKey};
pub use paths::CloudDir;
pub use provision::{provision_device, ProvisionError, Provisioned};
pub use registry::{Device, DeviceStatus, Registry, RegistryError};
pub use server::{Server, ServerConfig, ServerError, ServerHandle, SinkSpec};
