//! RustCrypto provider of Ferrule's crypto trait ([`ferrule_proto::crypto`]).
//!
//! [`RustCrypto`] implements [`Crypto`](ferrule_proto::crypto::Crypto): SHA-256, HKDF-SHA-256
//! (RFC 5869), AES-CCM-16-64-128 and AES-CCM-16-128-128 (RFC 9053 Section 4.2), ephemeral X25519
//! and P-256 Diffie-Hellman with x-only public keys (RFC 9528 Section 3.7), and EdDSA / ES256
//! verification. [`SoftwareKey`] implements [`PrivateKey`](ferrule_proto::crypto::PrivateKey) for
//! a long-term key held in RAM: X25519 (static DH), Ed25519 (signing) and P-256 (static DH and
//! ES256 signing with RFC 6979 deterministic nonces).
//!
//! # Invariants
//!
//! - `no_std`, no `alloc`, no `unsafe`; builds for `thumbv6m-none-eabi` and
//!   `thumbv7em-none-eabihf`. Randomness comes only from the RNG given to [`RustCrypto::new`]
//!   (or to the `generate_*` constructors of [`SoftwareKey`]).
//! - Ephemeral keys are a pure function of the RNG output, so a test RNG that replays RFC 9529's
//!   `X` reproduces its `G_X`: X25519 draws exactly 32 bytes and uses them as the private key;
//!   P-256 draws 32 bytes, reads them as a big-endian scalar and draws again only if that is zero
//!   or not below the group order.
//! - A Diffie-Hellman peer key that is not on the curve, or an X25519 key of small order (all-zero
//!   shared secret), is rejected with [`CryptoError::InvalidPublicKey`](ferrule_proto::crypto::CryptoError).
//!   A P-256 x-coordinate is decompressed with an arbitrary sign: ECDH only uses the x-coordinate
//!   of the shared point, which is the same for both (RFC 6090 compact representation).
//! - AEAD tags are compared in constant time (by the `ccm` crate); a failed decryption says only
//!   [`CryptoError::AeadFailure`](ferrule_proto::crypto::CryptoError).
//! - Secret values this crate owns are zeroized on drop, and `Debug` prints no key material.
//!   The dependency types hold their own copies and zeroize them (`x25519-dalek` and
//!   `ed25519-dalek` with their `zeroize` feature, `p256`'s `SigningKey` and ECDH
//!   `SharedSecret`). Not covered: the AES key schedule (`aes` 0.8 zeroizes it only on aarch64
//!   with ARMv8 instructions) and the HMAC state inside HKDF stay on the stack until overwritten.
//!
//! # Example
//!
//! ```
//! use ferrule_crypto::{RustCrypto, SoftwareKey};
//! use ferrule_proto::crypto::{Crypto, Curve, PrivateKey};
//! # use rand_core::{CryptoRng, RngCore};
//! # struct Rng(u64);
//! # impl RngCore for Rng {
//! #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1); self.0 }
//! #     fn fill_bytes(&mut self, d: &mut [u8]) { rand_core::impls::fill_bytes_via_next(self, d) }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { self.fill_bytes(d); Ok(()) }
//! # }
//! # impl CryptoRng for Rng {}
//! # fn main() -> Result<(), ferrule_proto::crypto::CryptoError> {
//! # let device_rng = Rng(1);
//! # let mut other_rng = Rng(2);
//! // Firmware passes its hardware RNG; a host can use `RustCrypto::from_os_rng()` (feature `std`).
//! let mut crypto = RustCrypto::new(device_rng);
//!
//! // The responder's static P-256 key (EDHOC method 3) and the initiator's ephemeral key.
//! let static_key = SoftwareKey::generate_p256(&mut other_rng)?;
//! let (x, g_x) = crypto.generate_ephemeral(Curve::P256)?;
//!
//! // Both sides derive the same G_RX (RFC 9528 Section 5.3.2).
//! let g_r = ferrule_proto::crypto::PublicKey(static_key.public_key());
//! let g_rx_initiator = crypto.ephemeral_dh(Curve::P256, &x, &g_r)?;
//! let g_rx_responder = static_key.diffie_hellman(&g_x)?;
//! assert_eq!(g_rx_initiator.as_bytes(), g_rx_responder.as_bytes());
//! # Ok(())
//! # }
//! ```
//!
//! # Why the RustCrypto 0.13 generation
//!
//! This crate uses `p256` 0.13, `ccm` 0.5, `aes` 0.8, `hkdf`/`hmac` 0.12 and `sha2` 0.10 rather
//! than their successors. The firmware profile (P-256 ECDH + ECDSA verify + CCM + HKDF, thumbv7em,
//! opt-level z, LTO) measured about 22 KB of flash with this generation and its compact options
//! against about 32 KB with the 0.14 generation, and device flash is Ferrule's tightest budget
//! (DESIGN.md). On a host the picture is mixed: 0.13 is faster for x-only P-256 ECDH and CCM,
//! slower for P-256 key generation and ECDSA signing; a faster server backend can sit behind a
//! feature if a benchmark shows it pays.
//!
//! The compact options:
//! - `aes`: the `aes_compact` cfg, set for the thumb targets in the workspace's
//!   `.cargo/config.toml` (`rustflags = ["--cfg", "aes_compact"]`). It is a cfg and not a feature
//!   because `aes` 0.8 reads it that way; a firmware crate built outside this workspace must set it
//!   in its own config.
//! - `sha2`: this crate's `compact` feature turns on sha2's `force-soft-compact` (a rolled-up
//!   software SHA-256/SHA-512). A cargo feature applies to every target of the build, and on
//!   x86_64/aarch64 it also disables the SHA instructions, so it is off by default: firmware
//!   enables it, servers do not.
//!
//! # Features
//!
//! - `std`: operating-system randomness through `rand_core`'s `OsRng` and
//!   [`RustCrypto::from_os_rng`].
//! - `compact`: smaller SHA-2 for firmware (see above).
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(test)]
extern crate std;

mod aead;
mod ecdh;
mod hash;
mod key;
mod provider;
mod signature;
#[cfg(test)]
mod test_util;

pub use key::{InvalidPrivateKey, SoftwareKey};
pub use provider::RustCrypto;
