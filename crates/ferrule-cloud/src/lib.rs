//! Ferrule's server library: the cloud end of EDHOC (RFC 9528) and OSCORE (RFC 8613) sessions for a
//! whole fleet of devices.
//!
//! **Not built yet.** This crate is a placeholder with no API. It will hold:
//!
//! - a UDP CoAP endpoint (tokio) that answers EDHOC at `/.well-known/edhoc` as the responder, and
//!   the OSCORE-protected resources `POST /t` (telemetry) and `GET /c` (pending commands);
//! - the session table of established OSCORE contexts, one per device;
//! - the registry of device identities with revocation (SQLite by default), consulted on every
//!   handshake and request;
//! - sinks that receive telemetry (JSON lines, MQTT, webhook); a device's message is acknowledged
//!   only after the sink has accepted it;
//! - an admin HTTP API and metrics, including a count of every security event.
//!
//! It builds on the protocol core in `ferrule-proto` and the RustCrypto provider in
//! `ferrule-crypto`; the `ferrule` command line (`ferrule-cli`) is its user-facing front.

pub mod relay;
