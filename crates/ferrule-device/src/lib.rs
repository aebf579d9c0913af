//! Ferrule's device SDK: end-to-end security for firmware with no OS, no heap and a few KB of RAM.
//!
//! Built so far:
//!
//! - [`bundle`]: the device bundle that `ferrule device add` writes, holding the device's name,
//!   EDHOC method and suite, private key, credential and the cloud credential it trusts.
//!
//! Still to come:
//!
//! - a sans-IO `Session` that combines the EDHOC initiator (RFC 9528), OSCORE (RFC 8613) and a CoAP
//!   client with retransmission: the application hands it received bytes and the time, and sends
//!   the bytes it returns over any datagram or serial link;
//! - a `Storage` trait through which sequence numbers and keys are persisted, in steps, so that a
//!   power cut never reuses a nonce;
//! - a C API behind the feature `capi`.
//!
//! It stays `no_std` without `alloc` and without `unsafe` code, and builds on the protocol core in
//! `ferrule-proto` and the RustCrypto provider in `ferrule-crypto`.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(test)]
extern crate std;

pub mod bundle;
pub mod session;

pub use bundle::{Bundle, BundleError, BundleField};
pub use session::{Event, MessageHandle, Session, SessionConfig, SessionError};
