//! Ferrule's server library: the cloud end of EDHOC (RFC 9528) and OSCORE (RFC 8613) sessions for a
//! whole fleet of devices.
//!
//! Built so far: the cloud directory and what it holds.
//!
//! - [`paths`]: the layout of a cloud directory (`DIR/cloud.identity`, `DIR/registry.sqlite`,
//!   `DIR/devices/NAME.bundle`).
//! - [`identity`]: the cloud's long-term keys and credentials, one per kind of key the responder
//!   needs across methods 0-3 and suites 0-3.
//! - [`registry`]: the device registry (SQLite) with revocation, security events and the queue
//!   of commands for each device; safe to share between the command line and a running server.
//! - [`provision`]: registering a device and writing its bundle, as `ferrule device add` does.
//! - [`relay`]: an untrusted UDP forwarder that shows what a gateway sees.
//!
//! Still to come:
//!
//! - a UDP CoAP endpoint (tokio) that answers EDHOC at `/.well-known/edhoc` as the responder, and
//!   the OSCORE-protected resources `POST /t` (telemetry) and `GET /c` (pending commands);
//! - the session table of established OSCORE contexts, one per device;
//! - sinks that receive telemetry (JSON lines, MQTT, webhook); a device's message is acknowledged
//!   only after the sink has accepted it;
//! - an admin HTTP API and metrics, including a count of every security event.
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
