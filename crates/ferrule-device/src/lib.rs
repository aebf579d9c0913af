//! Ferrule's device SDK: end-to-end security for firmware with no OS, no heap and a few KB of RAM.
//!
//! - [`session`]: a sans-IO [`Session`] that combines the EDHOC initiator (RFC 9528), OSCORE
//!   (RFC 8613) and a CoAP client with retransmission (RFC 7252), speaking the protocol of
//!   `docs/protocol.md`. The application hands it received bytes and the time, and sends the
//!   bytes it returns over any datagram or serial link; sequence numbers are persisted in steps
//!   through [`session::Storage`] so that a power cut never reuses a nonce.
//! - [`bundle`]: the device bundle that `ferrule device add` writes, holding the device's name,
//!   EDHOC method and suite, private key, credential and the cloud credential it trusts.
//!
//! Invariants: `no_std` without `alloc` and without `unsafe` code; buffers are sized by const
//! generics. It builds on the protocol core in `ferrule-proto` and the RustCrypto provider in
//! `ferrule-crypto`.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(test)]
extern crate std;

pub mod bundle;
pub mod session;

pub use bundle::{Bundle, BundleError, BundleField};
pub use session::{Event, MessageHandle, Session, SessionConfig, SessionError};
