//! Ferrule's protocol core: wire formats and state machines for EDHOC (RFC 9528), OSCORE
//! (RFC 8613) and CoAP (RFC 7252).
//!
//! Invariants: `no_std`, no `alloc`, no `unsafe`; no I/O, no clock and no randomness of its own
//! (received bytes and time are arguments, algorithms and randomness come through [`crypto::Crypto`]).
//! Every parser returns an error, never panics, on any input.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod cbor;
pub mod coap;
pub mod cose;
pub mod crypto;
pub mod edhoc;
pub mod oscore;
