//! Test helpers: the RFC 9529 vectors and RNGs that replay or fail.

use rand_core::{CryptoRng, RngCore};
use std::vec::Vec;

fn vector(file: &str, key: &str) -> Vec<u8> {
    let path = std::format!(
        "{}/../../../shared/vectors/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let value = json[key]
        .as_str()
        .unwrap_or_else(|| panic!("{file}: no string {key:?}"));
    hex::decode(value).unwrap()
}

/// Decodes a fixed-length hex string.
pub(crate) fn arr<const N: usize>(hex: &str) -> [u8; N] {
    hex::decode(hex).unwrap().try_into().unwrap()
}

/// A value of RFC 9529 Section 2 (method 0, suite 0: X25519, Ed25519).
pub(crate) fn trace1<const N: usize>(key: &str) -> [u8; N] {
    trace1_vec(key).try_into().unwrap()
}

/// A variable-length value of RFC 9529 Section 2.
pub(crate) fn trace1_vec(key: &str) -> Vec<u8> {
    vector("rfc9529-trace1.json", key)
}

/// A value of RFC 9529 Section 3 (method 3, suite 2: P-256).
pub(crate) fn trace2<const N: usize>(key: &str) -> [u8; N] {
    vector("rfc9529-trace2.json", key).try_into().unwrap()
}

/// Replays the given bytes, then fails (rather than inventing randomness).
pub(crate) struct ReplayRng {
    bytes: Vec<u8>,
    pos: usize,
}

impl ReplayRng {
    pub(crate) fn new(chunks: &[&[u8]]) -> Self {
        Self {
            bytes: chunks.concat(),
            pos: 0,
        }
    }

    pub(crate) fn is_exhausted(&self) -> bool {
        self.pos == self.bytes.len()
    }
}

fn rng_error() -> rand_core::Error {
    rand_core::Error::from(core::num::NonZeroU32::new(rand_core::Error::CUSTOM_START).unwrap())
}

impl RngCore for ReplayRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.try_fill_bytes(dest).expect("ReplayRng exhausted");
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        let end = self.pos + dest.len();
        let src = self.bytes.get(self.pos..end).ok_or_else(rng_error)?;
        dest.copy_from_slice(src);
        self.pos = end;
        Ok(())
    }
}

impl CryptoRng for ReplayRng {}

/// An RNG that always fails.
pub(crate) struct FailingRng;

impl RngCore for FailingRng {
    fn next_u32(&mut self) -> u32 {
        panic!("FailingRng")
    }

    fn next_u64(&mut self) -> u64 {
        panic!("FailingRng")
    }

    fn fill_bytes(&mut self, _: &mut [u8]) {
        panic!("FailingRng")
    }

    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), rand_core::Error> {
        Err(rng_error())
    }
}

impl CryptoRng for FailingRng {}
