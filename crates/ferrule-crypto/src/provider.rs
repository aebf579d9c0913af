//! [`RustCrypto`]: the [`Crypto`] provider.

use core::fmt;

use ferrule_proto::crypto::{
    AeadAlgorithm, Crypto, CryptoError, Curve, EphemeralSecret, Prk, PublicKey, SharedSecret,
    SignatureAlgorithm, VerifyingKey, HASH_LEN,
};
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use crate::{aead, ecdh, hash, signature};

/// Every algorithm of Ferrule's cipher suites 0-3 from RustCrypto, with randomness from `R`.
///
/// `R` is the only source of randomness, and [`generate_ephemeral`](Crypto::generate_ephemeral)
/// is a pure function of what it yields (see the crate docs), so a replaying RNG reproduces the
/// RFC 9529 traces.
pub struct RustCrypto<R: RngCore + CryptoRng> {
    rng: R,
}

impl<R: RngCore + CryptoRng> RustCrypto<R> {
    /// A provider drawing its randomness from `rng` (the hardware RNG on a device).
    pub const fn new(rng: R) -> Self {
        Self { rng }
    }

    /// The RNG, for other uses of the same randomness source.
    pub fn rng_mut(&mut self) -> &mut R {
        &mut self.rng
    }

    /// Gives the RNG back.
    pub fn into_rng(self) -> R {
        self.rng
    }
}

#[cfg(feature = "std")]
impl RustCrypto<rand_core::OsRng> {
    /// A provider drawing from the operating system's RNG (feature `std`).
    pub const fn from_os_rng() -> Self {
        Self::new(rand_core::OsRng)
    }
}

impl<R: RngCore + CryptoRng> fmt::Debug for RustCrypto<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RustCrypto").finish_non_exhaustive()
    }
}

impl<R: RngCore + CryptoRng> Crypto for RustCrypto<R> {
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; HASH_LEN] {
        hash::sha256(parts)
    }

    fn hkdf_extract(&mut self, salt: &[u8], ikm: &[u8]) -> Prk {
        hash::hkdf_extract(salt, ikm)
    }

    fn hkdf_expand(
        &mut self,
        prk: &Prk,
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        hash::hkdf_expand(prk, info, okm)
    }

    fn aead_seal(
        &mut self,
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        aead::seal(alg, key, nonce, aad, buffer, tag)
    }

    fn aead_open(
        &mut self,
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        aead::open(alg, key, nonce, aad, buffer, tag)
    }

    /// X25519: the 32 bytes drawn are the private key. P-256: the 32 bytes drawn are the
    /// big-endian scalar, redrawn while zero or not below the group order.
    fn generate_ephemeral(
        &mut self,
        curve: Curve,
    ) -> Result<(EphemeralSecret, PublicKey), CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        let public = match curve {
            Curve::X25519 => {
                ecdh::draw(&mut self.rng, bytes.as_mut())?;
                ecdh::x25519_public(&x25519_dalek::StaticSecret::from(*bytes))
            }
            Curve::P256 => {
                let mut scalar = ecdh::p256_draw_scalar(&mut self.rng, &mut bytes)?;
                let public = PublicKey(ecdh::p256_x(&ecdh::p256_public(&scalar)));
                scalar.zeroize();
                public
            }
        };
        Ok((EphemeralSecret::from_bytes(*bytes), public))
    }

    /// # Errors
    /// Also [`CryptoError::KeyMismatch`] if `secret` is not a valid P-256 scalar (zero or not
    /// below the group order), which only a secret made for another curve can be.
    fn ephemeral_dh(
        &mut self,
        curve: Curve,
        secret: &EphemeralSecret,
        peer: &PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        match curve {
            Curve::X25519 => {
                ecdh::x25519(&x25519_dalek::StaticSecret::from(*secret.as_bytes()), peer)
            }
            Curve::P256 => {
                let mut scalar =
                    ecdh::p256_scalar(secret.as_bytes()).ok_or(CryptoError::KeyMismatch)?;
                let shared = ecdh::p256(&scalar, peer);
                scalar.zeroize();
                shared
            }
        }
    }

    fn verify(
        &mut self,
        alg: SignatureAlgorithm,
        key: &VerifyingKey<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        signature::verify(alg, key, message, signature)
    }

    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        ecdh::draw(&mut self.rng, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{trace1, trace2, FailingRng, ReplayRng};
    use std::format;

    fn replay(chunks: &[&[u8]]) -> RustCrypto<ReplayRng> {
        RustCrypto::new(ReplayRng::new(chunks))
    }

    #[test]
    fn x25519_ephemeral_reproduces_trace1() {
        let (x, y) = (trace1::<32>("X"), trace1::<32>("Y"));
        let mut crypto = replay(&[&x, &y]);
        let (sx, g_x) = crypto.generate_ephemeral(Curve::X25519).unwrap();
        let (sy, g_y) = crypto.generate_ephemeral(Curve::X25519).unwrap();
        assert_eq!(sx.as_bytes(), &x, "the secret holds the bytes as drawn");
        assert_eq!(g_x.0, trace1::<32>("G_X"));
        assert_eq!(sy.as_bytes(), &y);
        assert_eq!(g_y.0, trace1::<32>("G_Y"));
        assert!(crypto.into_rng().is_exhausted(), "exactly 32 bytes per key");

        let g_xy = trace1::<32>("G_XY");
        let mut crypto = replay(&[]);
        assert_eq!(
            crypto
                .ephemeral_dh(Curve::X25519, &sx, &g_y)
                .unwrap()
                .as_bytes(),
            &g_xy
        );
        assert_eq!(
            crypto
                .ephemeral_dh(Curve::X25519, &sy, &g_x)
                .unwrap()
                .as_bytes(),
            &g_xy
        );
        assert_eq!(
            crypto
                .ephemeral_dh(Curve::X25519, &sx, &PublicKey([0; 32]))
                .err(),
            Some(CryptoError::InvalidPublicKey)
        );
    }

    #[test]
    fn p256_ephemeral_reproduces_trace2() {
        let (x, y) = (trace2::<32>("X"), trace2::<32>("Y"));
        let x_first = trace2::<32>("X (first time)");
        let mut crypto = replay(&[&x_first, &x, &y]);
        let (_, g_x_first) = crypto.generate_ephemeral(Curve::P256).unwrap();
        assert_eq!(g_x_first.0, trace2::<32>("G_X (first time)"));
        let (sx, g_x) = crypto.generate_ephemeral(Curve::P256).unwrap();
        let (sy, g_y) = crypto.generate_ephemeral(Curve::P256).unwrap();
        assert_eq!(sx.as_bytes(), &x);
        assert_eq!(g_x.0, trace2::<32>("G_X"));
        assert_eq!(sy.as_bytes(), &y);
        assert_eq!(g_y.0, trace2::<32>("G_Y"));
        assert!(crypto.into_rng().is_exhausted());

        let g_xy = trace2::<32>("G_XY");
        let mut crypto = replay(&[]);
        assert_eq!(
            crypto
                .ephemeral_dh(Curve::P256, &sx, &g_y)
                .unwrap()
                .as_bytes(),
            &g_xy
        );
        assert_eq!(
            crypto
                .ephemeral_dh(Curve::P256, &sy, &g_x)
                .unwrap()
                .as_bytes(),
            &g_xy
        );
        // The ephemeral keys against the static ones: G_RX and G_IY.
        let g_r = PublicKey(trace2("G_R"));
        let g_i = PublicKey(trace2("G_I"));
        assert_eq!(
            crypto
                .ephemeral_dh(Curve::P256, &sx, &g_r)
                .unwrap()
                .as_bytes(),
            &trace2::<32>("G_RX")
        );
        assert_eq!(
            crypto
                .ephemeral_dh(Curve::P256, &sy, &g_i)
                .unwrap()
                .as_bytes(),
            &trace2::<32>("G_IY")
        );
    }

    #[test]
    fn p256_ephemeral_redraws_invalid_scalars() {
        let n = crate::test_util::arr::<32>(
            "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
        );
        let x = trace2::<32>("X");
        let mut crypto = replay(&[&[0; 32], &n, &x]);
        let (sx, g_x) = crypto.generate_ephemeral(Curve::P256).unwrap();
        assert_eq!(sx.as_bytes(), &x);
        assert_eq!(g_x.0, trace2::<32>("G_X"));
        // An RNG stuck at zero is reported, not looped on forever.
        let zeros = [0u8; 32 * 8];
        let mut crypto = replay(&[&zeros]);
        assert_eq!(
            crypto.generate_ephemeral(Curve::P256).err(),
            Some(CryptoError::Rng)
        );
    }

    #[test]
    fn p256_ephemeral_dh_rejects_bad_inputs() {
        let mut crypto = replay(&[]);
        let secret = EphemeralSecret::from_bytes(trace2("X"));
        let mut off_curve = [0u8; 32];
        off_curve[31] = 1;
        assert_eq!(
            crypto
                .ephemeral_dh(Curve::P256, &secret, &PublicKey(off_curve))
                .err(),
            Some(CryptoError::InvalidPublicKey)
        );
        let g_y = PublicKey(trace2("G_Y"));
        let not_a_scalar = EphemeralSecret::from_bytes([0xff; 32]);
        assert_eq!(
            crypto.ephemeral_dh(Curve::P256, &not_a_scalar, &g_y).err(),
            Some(CryptoError::KeyMismatch)
        );
    }

    #[test]
    fn rng_failures_are_reported() {
        let mut crypto = RustCrypto::new(FailingRng);
        assert_eq!(
            crypto.generate_ephemeral(Curve::X25519).err(),
            Some(CryptoError::Rng)
        );
        assert_eq!(
            crypto.generate_ephemeral(Curve::P256).err(),
            Some(CryptoError::Rng)
        );
        assert_eq!(crypto.fill_random(&mut [0; 4]), Err(CryptoError::Rng));
        // Too few bytes left is a failure too, not a short key.
        let mut crypto = replay(&[&[1; 31]]);
        assert_eq!(
            crypto.generate_ephemeral(Curve::X25519).err(),
            Some(CryptoError::Rng)
        );
    }

    #[test]
    fn fill_random_uses_the_rng() {
        let mut crypto = replay(&[&[1, 2, 3], &[4, 5]]);
        let mut out = [0u8; 5];
        crypto.fill_random(&mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn trait_dispatch_matches_the_algorithms() {
        // A smoke test of the remaining trait methods; the algorithms have their own tests.
        let mut crypto = replay(&[]);
        assert_eq!(crypto.sha256(&[b"a", b"bc"]), hash::sha256(&[b"abc"]));
        let prk = crypto.hkdf_extract(b"salt", b"ikm");
        let mut okm = [0u8; 16];
        crypto.hkdf_expand(&prk, &[b"in", b"fo"], &mut okm).unwrap();
        let mut buffer = *b"hello";
        let mut tag = [0u8; 8];
        let alg = AeadAlgorithm::AesCcm16_64_128;
        crypto
            .aead_seal(alg, &okm, &[0; 13], b"", &mut buffer, &mut tag)
            .unwrap();
        crypto
            .aead_open(alg, &okm, &[0; 13], b"", &mut buffer, &tag)
            .unwrap();
        assert_eq!(&buffer, b"hello");
        let key = VerifyingKey {
            x: &[0; 31],
            y: None,
        };
        assert_eq!(
            crypto.verify(SignatureAlgorithm::EdDsa, &key, b"", &[0; 64]),
            Err(CryptoError::InvalidPublicKey)
        );
        assert_eq!(format!("{crypto:?}"), "RustCrypto { .. }");
    }
}
