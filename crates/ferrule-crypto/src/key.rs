//! [`SoftwareKey`]: a long-term private key held in RAM.

use core::fmt;

use ed25519_dalek::Signer as _; // also p256's: one `signature` crate
use ferrule_proto::crypto::{CryptoError, KeyKind, PrivateKey, PublicKey, SharedSecret, Signature};
use p256::elliptic_curve::point::AffineCoordinates;
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, Zeroizing};

use crate::ecdh;

/// A long-term private key held in memory, for the [`PrivateKey`] trait: X25519 (static DH,
/// RFC 7748), Ed25519 (EdDSA, RFC 8032) or P-256 (static DH and ES256 with RFC 6979 deterministic
/// nonces, signatures as raw `r || s`).
///
/// The key material is zeroized on drop (by the `x25519-dalek`, `ed25519-dalek` and `ecdsa` types
/// that hold it) and `Debug` prints only the kind. It is deliberately not `Clone`.
pub struct SoftwareKey(Inner);

enum Inner {
    /// The secret and its cached public u-coordinate.
    X25519(x25519_dalek::StaticSecret, PublicKey),
    /// Holds the seed and the expanded key; signs per RFC 8032.
    Ed25519(ed25519_dalek::SigningKey),
    /// Holds the scalar and its public point.
    P256(p256::ecdsa::SigningKey),
}

/// The bytes are not a valid private key: a P-256 scalar that is zero or not below the group
/// order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidPrivateKey;

impl fmt::Display for InvalidPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid private key: P-256 scalar is zero or not below the group order")
    }
}

impl core::error::Error for InvalidPrivateKey {}

impl SoftwareKey {
    /// An X25519 key from its 32-byte private key (RFC 7748 Section 5; clamping happens when the
    /// key is used, so every 32-byte string is valid and [`to_bytes`](Self::to_bytes) returns it
    /// unchanged).
    pub fn x25519_from_bytes(secret: &[u8; 32]) -> Self {
        let secret = x25519_dalek::StaticSecret::from(*secret);
        let public = ecdh::x25519_public(&secret);
        Self(Inner::X25519(secret, public))
    }

    /// An Ed25519 key from its 32-byte seed (RFC 8032 Section 5.1.5).
    pub fn ed25519_from_bytes(seed: &[u8; 32]) -> Self {
        Self(Inner::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed)))
    }

    /// A P-256 key from its scalar, 32 bytes big-endian.
    ///
    /// # Errors
    /// [`InvalidPrivateKey`] if the scalar is zero or not below the group order.
    pub fn p256_from_bytes(scalar: &[u8; 32]) -> Result<Self, InvalidPrivateKey> {
        let scalar = ecdh::p256_scalar(scalar).ok_or(InvalidPrivateKey)?;
        Ok(Self::p256_from_scalar(scalar))
    }

    fn p256_from_scalar(mut scalar: p256::NonZeroScalar) -> Self {
        let key = p256::ecdsa::SigningKey::from(scalar);
        scalar.zeroize();
        Self(Inner::P256(key))
    }

    /// A fresh X25519 key: 32 bytes from `rng`.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the RNG fails.
    pub fn generate_x25519<R: RngCore + CryptoRng>(rng: &mut R) -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        ecdh::draw(rng, bytes.as_mut())?;
        Ok(Self::x25519_from_bytes(&bytes))
    }

    /// A fresh Ed25519 key: a 32-byte seed from `rng`.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the RNG fails.
    pub fn generate_ed25519<R: RngCore + CryptoRng>(rng: &mut R) -> Result<Self, CryptoError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        ecdh::draw(rng, seed.as_mut())?;
        Ok(Self::ed25519_from_bytes(&seed))
    }

    /// A fresh P-256 key: 32-byte big-endian scalars drawn from `rng` until one is in `[1, n)`.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if the RNG fails or keeps returning invalid scalars.
    pub fn generate_p256<R: RngCore + CryptoRng>(rng: &mut R) -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        let scalar = ecdh::p256_draw_scalar(rng, &mut bytes)?;
        Ok(Self::p256_from_scalar(scalar))
    }

    /// What kind of key this is.
    pub fn kind(&self) -> KeyKind {
        match self.0 {
            Inner::X25519(..) => KeyKind::X25519,
            Inner::Ed25519(_) => KeyKind::Ed25519,
            Inner::P256(_) => KeyKind::P256,
        }
    }

    /// The public key: the X25519 u-coordinate, the Ed25519 public key (RFC 8032 encoding), or
    /// the P-256 x-coordinate (which is what EDHOC sends as G_R / G_I; the COSE_Key of a
    /// credential also needs [`public_key_y`](Self::public_key_y)).
    pub fn public_key(&self) -> [u8; 32] {
        match &self.0 {
            Inner::X25519(_, public) => public.0,
            Inner::Ed25519(key) => key.verifying_key().to_bytes(),
            Inner::P256(key) => key.verifying_key().as_affine().x().into(),
        }
    }

    /// The P-256 public y-coordinate; `None` for X25519 and Ed25519 keys.
    pub fn public_key_y(&self) -> Option<[u8; 32]> {
        match &self.0 {
            Inner::P256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                let mut y = [0u8; 32];
                y.copy_from_slice(point.y()?);
                Some(y)
            }
            Inner::X25519(..) | Inner::Ed25519(_) => None,
        }
    }

    /// The Diffie-Hellman public key in EDHOC's x-only form; `None` for an Ed25519 key.
    pub fn dh_public_key(&self) -> Option<PublicKey> {
        match self.0 {
            Inner::X25519(..) | Inner::P256(_) => Some(PublicKey(self.public_key())),
            Inner::Ed25519(_) => None,
        }
    }

    /// Exports the private key in the form the matching `*_from_bytes` constructor takes (X25519
    /// private key, Ed25519 seed, P-256 big-endian scalar), for provisioning tools that write key
    /// files. The copy is zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        match &self.0 {
            Inner::X25519(secret, _) => out.copy_from_slice(secret.as_bytes()),
            Inner::Ed25519(key) => out.copy_from_slice(key.as_bytes()),
            Inner::P256(key) => {
                let mut bytes = key.to_bytes();
                out.copy_from_slice(&bytes);
                bytes.as_mut_slice().zeroize();
            }
        }
        out
    }
}

impl PrivateKey for SoftwareKey {
    fn kind(&self) -> KeyKind {
        SoftwareKey::kind(self)
    }

    fn diffie_hellman(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
        match &self.0 {
            Inner::X25519(secret, _) => ecdh::x25519(secret, peer),
            Inner::P256(key) => ecdh::p256(key.as_nonzero_scalar(), peer),
            Inner::Ed25519(_) => Err(CryptoError::KeyMismatch),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        match &self.0 {
            Inner::Ed25519(key) => {
                let signature: ed25519_dalek::Signature = key
                    .try_sign(message)
                    .map_err(|_| CryptoError::InvalidSignature)?;
                Ok(Signature(signature.to_bytes()))
            }
            Inner::P256(key) => {
                // RFC 6979 nonce; fails only if r or s came out zero (probability ~2^-256).
                let signature: p256::ecdsa::Signature = key
                    .try_sign(message)
                    .map_err(|_| CryptoError::InvalidSignature)?;
                Ok(Signature(signature.to_bytes().into()))
            }
            Inner::X25519(..) => Err(CryptoError::KeyMismatch),
        }
    }
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SoftwareKey").field(&self.kind()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::verify;
    use crate::test_util::{arr, trace1, trace1_vec, trace2, ReplayRng};
    use ferrule_proto::crypto::{SignatureAlgorithm, VerifyingKey};
    use std::format;

    #[test]
    fn ed25519_sign_matches_trace1() {
        let sk_r = SoftwareKey::ed25519_from_bytes(&trace1("SK_R"));
        assert_eq!(sk_r.kind(), KeyKind::Ed25519);
        assert_eq!(sk_r.public_key(), trace1::<32>("PK_R"));
        assert_eq!(sk_r.public_key_y(), None);
        assert_eq!(sk_r.dh_public_key(), None);
        let signature = sk_r.sign(&trace1_vec("Message to be signed 2")).unwrap();
        assert_eq!(signature.0, trace1::<64>("Signature_or_MAC_2"));

        let sk_i = SoftwareKey::ed25519_from_bytes(&trace1("SK_I"));
        assert_eq!(sk_i.public_key(), trace1::<32>("PK_I"));
        let signature = sk_i.sign(&trace1_vec("Message to be signed 3")).unwrap();
        assert_eq!(signature.0, trace1::<64>("Signature_or_MAC_3"));
    }

    #[test]
    fn p256_static_dh_matches_trace2() {
        let sk_r = SoftwareKey::p256_from_bytes(&trace2("SK_R")).unwrap();
        assert_eq!(sk_r.kind(), KeyKind::P256);
        assert_eq!(sk_r.public_key(), trace2::<32>("G_R"));
        assert_eq!(sk_r.public_key_y(), Some(trace2("G_R (y-coordinate)")));
        assert_eq!(sk_r.dh_public_key(), Some(PublicKey(trace2("G_R"))));
        let g_rx = sk_r.diffie_hellman(&PublicKey(trace2("G_X"))).unwrap();
        assert_eq!(g_rx.as_bytes(), &trace2::<32>("G_RX"));

        let sk_i = SoftwareKey::p256_from_bytes(&trace2("SK_I")).unwrap();
        assert_eq!(sk_i.public_key(), trace2::<32>("G_I"));
        assert_eq!(sk_i.public_key_y(), Some(trace2("G_I (y-coordinate)")));
        let g_iy = sk_i.diffie_hellman(&PublicKey(trace2("G_Y"))).unwrap();
        assert_eq!(g_iy.as_bytes(), &trace2::<32>("G_IY"));
    }

    #[test]
    fn p256_from_bytes_rejects_invalid_scalars() {
        let n = arr("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        for bad in [[0u8; 32], n, [0xff; 32]] {
            assert_eq!(
                SoftwareKey::p256_from_bytes(&bad).err(),
                Some(InvalidPrivateKey)
            );
        }
    }

    /// RFC 6979 Appendix A.2.5: P-256, SHA-256, message "sample".
    #[test]
    fn es256_rfc6979_known_answer() {
        let key = SoftwareKey::p256_from_bytes(&arr(
            "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721",
        ))
        .unwrap();
        assert_eq!(
            key.public_key(),
            arr::<32>("60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6")
        );
        assert_eq!(
            key.public_key_y(),
            Some(arr(
                "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"
            ))
        );
        let signature = key.sign(b"sample").unwrap();
        assert_eq!(
            signature.0,
            arr::<64>(
                "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716\
                 f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
            )
        );
    }

    #[test]
    fn es256_sign_verify_round_trip() {
        let key = SoftwareKey::p256_from_bytes(&trace2("SK_I")).unwrap();
        let x = key.public_key();
        let y = key.public_key_y().unwrap();
        let vk = VerifyingKey { x: &x, y: Some(&y) };
        let message = b"Message to be signed 3";
        let signature = key.sign(message).unwrap();
        assert_eq!(
            key.sign(message).unwrap(),
            signature,
            "RFC 6979 is deterministic"
        );
        verify(SignatureAlgorithm::Es256, &vk, message, &signature.0).unwrap();

        // Another key's coordinates do not verify it.
        let other = SoftwareKey::p256_from_bytes(&trace2("SK_R")).unwrap();
        let (ox, oy) = (other.public_key(), other.public_key_y().unwrap());
        assert_eq!(
            verify(
                SignatureAlgorithm::Es256,
                &VerifyingKey {
                    x: &ox,
                    y: Some(&oy)
                },
                message,
                &signature.0
            ),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn es256_tampered_signature_rejected() {
        let key = SoftwareKey::p256_from_bytes(&trace2("SK_R")).unwrap();
        let x = key.public_key();
        let y = key.public_key_y().unwrap();
        let vk = VerifyingKey { x: &x, y: Some(&y) };
        let message = b"telemetry";
        let signature = key.sign(message).unwrap();
        for i in [0, 31, 32, 63] {
            let mut bad = signature.0;
            bad[i] ^= 0x01;
            assert_eq!(
                verify(SignatureAlgorithm::Es256, &vk, message, &bad),
                Err(CryptoError::InvalidSignature)
            );
        }
        assert_eq!(
            verify(SignatureAlgorithm::Es256, &vk, b"telemetrz", &signature.0),
            Err(CryptoError::InvalidSignature)
        );
    }

    /// RFC 7748 Section 6.1: Alice's and Bob's static keys agree.
    #[test]
    fn x25519_static_dh_rfc7748() {
        let alice = SoftwareKey::x25519_from_bytes(&arr(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let bob = SoftwareKey::x25519_from_bytes(&arr(
            "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        ));
        assert_eq!(alice.kind(), KeyKind::X25519);
        assert_eq!(
            bob.public_key(),
            arr::<32>("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        );
        let shared = arr::<32>("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        let alice_shared = alice.diffie_hellman(&bob.dh_public_key().unwrap()).unwrap();
        let bob_shared = bob.diffie_hellman(&alice.dh_public_key().unwrap()).unwrap();
        assert_eq!(alice_shared.as_bytes(), &shared);
        assert_eq!(bob_shared.as_bytes(), &shared);
        assert_eq!(
            alice.diffie_hellman(&PublicKey([0; 32])).err(),
            Some(CryptoError::InvalidPublicKey)
        );
    }

    #[test]
    fn operations_the_key_kind_lacks_are_key_mismatch() {
        let x = SoftwareKey::x25519_from_bytes(&[1; 32]);
        let ed = SoftwareKey::ed25519_from_bytes(&[1; 32]);
        assert_eq!(x.sign(b"m"), Err(CryptoError::KeyMismatch));
        assert_eq!(
            ed.diffie_hellman(&PublicKey([9; 32])).err(),
            Some(CryptoError::KeyMismatch)
        );
    }

    #[test]
    fn to_bytes_round_trips() {
        let seed = trace1::<32>("SK_R");
        assert_eq!(*SoftwareKey::ed25519_from_bytes(&seed).to_bytes(), seed);
        let x = trace1::<32>("X");
        assert_eq!(*SoftwareKey::x25519_from_bytes(&x).to_bytes(), x);
        let sk = trace2::<32>("SK_R");
        assert_eq!(*SoftwareKey::p256_from_bytes(&sk).unwrap().to_bytes(), sk);
    }

    #[test]
    fn generate_draws_from_rng() {
        let x = trace1::<32>("X");
        let key = SoftwareKey::generate_x25519(&mut ReplayRng::new(&[&x])).unwrap();
        assert_eq!(key.public_key(), trace1::<32>("G_X"));
        let seed = trace1::<32>("SK_I");
        let key = SoftwareKey::generate_ed25519(&mut ReplayRng::new(&[&seed])).unwrap();
        assert_eq!(key.public_key(), trace1::<32>("PK_I"));
        // An out-of-range scalar is skipped.
        let sk = trace2::<32>("SK_I");
        let key = SoftwareKey::generate_p256(&mut ReplayRng::new(&[&[0xff; 32], &sk])).unwrap();
        assert_eq!(key.public_key(), trace2::<32>("G_I"));
        assert_eq!(
            SoftwareKey::generate_p256(&mut ReplayRng::new(&[])).err(),
            Some(CryptoError::Rng)
        );
    }

    #[test]
    fn debug_is_redacted() {
        let secret = trace2::<32>("SK_R");
        let key = SoftwareKey::p256_from_bytes(&secret).unwrap();
        let printed = format!("{key:?}");
        assert_eq!(printed, "SoftwareKey(P256)");
        assert_eq!(
            format!("{:?}", SoftwareKey::x25519_from_bytes(&secret)),
            "SoftwareKey(X25519)"
        );
        assert_eq!(
            format!("{:?}", SoftwareKey::ed25519_from_bytes(&secret)),
            "SoftwareKey(Ed25519)"
        );
    }
}
