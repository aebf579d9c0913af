//! Crypto providers and device keys, per build.
//!
//! The session's cipher suite is a runtime value (it comes from the bundle), so ferrule-crypto's
//! [`RustCrypto`] and [`SoftwareKey`] link every algorithm of suites 0-3: P-256 and X25519,
//! ES256 and EdDSA verification, ES256 and Ed25519 signing, AES-CCM with 8- and 16-byte tags.
//! That is what the default build (feature `any-suite`) uses, so it runs with any bundle.
//!
//! The footprint profiles instead use [`LeanCrypto`] and a static-DH key ([`P256StaticKey`] or
//! [`X25519StaticKey`]): the same [`Crypto`] and [`PrivateKey`] traits, implemented for one
//! curve, no signatures (EDHOC method 3 authenticates with static DH on both sides) and the
//! 8-byte-tag AES-CCM-16-64-128 that suites 0 and 2 use for both EDHOC and OSCORE. A request for
//! anything else is an error ([`CryptoError::KeyMismatch`] for another curve,
//! [`CryptoError::InvalidLength`] for another AEAD, [`CryptoError::InvalidSignature`] for a
//! signature), so the code for it is never referenced and LTO drops it. SHA-256, HKDF and the
//! randomness are ferrule-crypto's own.

use core::marker::PhantomData;

use aes::Aes128;
use ccm::aead::generic_array::GenericArray;
use ccm::consts::{U13, U8};
use ccm::{AeadInPlace, Ccm, KeyInit};
use ferrule_crypto::RustCrypto;
use ferrule_device::Bundle;
use ferrule_proto::cose::KeyType;
use ferrule_proto::crypto::{
    AeadAlgorithm, Crypto, CryptoError, Curve, EphemeralSecret, KeyKind, PrivateKey, Prk,
    PublicKey, SharedSecret, Signature, SignatureAlgorithm, VerifyingKey, HASH_LEN,
};
use ferrule_proto::edhoc::Method;
use p256::elliptic_curve::point::{AffineCoordinates, DecompressPoint};
use p256::elliptic_curve::subtle::Choice;
use p256::elliptic_curve::PrimeField;
use zeroize::Zeroize;

use crate::rng::DeviceRng;

#[cfg(any(
    all(feature = "any-suite", feature = "suite2-only"),
    all(feature = "any-suite", feature = "suite0-only"),
    all(feature = "suite2-only", feature = "suite0-only"),
))]
compile_error!(
    "choose one of the features any-suite, suite2-only, suite0-only (use --no-default-features)"
);

/// The provider of this build's `ferrule-fw`.
#[cfg(feature = "any-suite")]
pub type Provider = RustCrypto<DeviceRng>;
/// The device key of this build's `ferrule-fw`.
#[cfg(feature = "any-suite")]
pub type DeviceKey = ferrule_crypto::SoftwareKey;
/// The provider of this build's `ferrule-fw`.
#[cfg(feature = "suite2-only")]
pub type Provider = LeanCrypto<P256Only>;
/// The device key of this build's `ferrule-fw`.
#[cfg(feature = "suite2-only")]
pub type DeviceKey = P256StaticKey;
/// The provider of this build's `ferrule-fw`.
#[cfg(feature = "suite0-only")]
pub type Provider = LeanCrypto<X25519Only>;
/// The device key of this build's `ferrule-fw`.
#[cfg(feature = "suite0-only")]
pub type DeviceKey = X25519StaticKey;

/// This build's provider over `rng`.
#[cfg(feature = "any-suite")]
pub fn provider(rng: DeviceRng) -> Provider {
    RustCrypto::new(rng)
}

/// This build's provider over `rng`.
#[cfg(not(feature = "any-suite"))]
pub fn provider(rng: DeviceRng) -> Provider {
    LeanCrypto::new(rng)
}

/// The bundle's private key, checked against its credential.
///
/// # Errors
/// A message saying what is wrong.
#[cfg(feature = "any-suite")]
pub fn device_key(bundle: &Bundle<'_>) -> Result<DeviceKey, &'static str> {
    bundle
        .private_key()
        .map_err(|_| "the bundle's private key does not match its credential")
}

/// The bundle's private key, checked against its credential.
///
/// # Errors
/// A message saying what is wrong.
#[cfg(not(feature = "any-suite"))]
pub fn device_key(bundle: &Bundle<'_>) -> Result<DeviceKey, &'static str> {
    DeviceKey::from_bundle(bundle)
}

/// The curve, or none, that a [`LeanCrypto`] implements.
pub trait Curves {
    /// A fresh ephemeral key pair on `curve`.
    ///
    /// # Errors
    /// [`CryptoError::KeyMismatch`] for a curve this build does not implement.
    fn generate(
        rng: &mut DeviceRng,
        curve: Curve,
    ) -> Result<(EphemeralSecret, PublicKey), CryptoError>;

    /// Ephemeral-static or ephemeral-ephemeral Diffie-Hellman on `curve`.
    ///
    /// # Errors
    /// [`CryptoError::KeyMismatch`] for a curve this build does not implement,
    /// [`CryptoError::InvalidPublicKey`] for a bad peer key.
    fn dh(
        curve: Curve,
        secret: &EphemeralSecret,
        peer: &PublicKey,
    ) -> Result<SharedSecret, CryptoError>;
}

/// No curve: a pre-shared OSCORE context needs none.
pub struct NoCurve;

impl Curves for NoCurve {
    fn generate(_: &mut DeviceRng, _: Curve) -> Result<(EphemeralSecret, PublicKey), CryptoError> {
        Err(CryptoError::KeyMismatch)
    }

    fn dh(_: Curve, _: &EphemeralSecret, _: &PublicKey) -> Result<SharedSecret, CryptoError> {
        Err(CryptoError::KeyMismatch)
    }
}

/// P-256 only (suites 2 and 3).
pub struct P256Only;

impl Curves for P256Only {
    fn generate(
        rng: &mut DeviceRng,
        curve: Curve,
    ) -> Result<(EphemeralSecret, PublicKey), CryptoError> {
        if curve != Curve::P256 {
            return Err(CryptoError::KeyMismatch);
        }
        // As ferrule-crypto: 32 bytes read as a big-endian scalar, redrawn while out of range.
        for _ in 0..8 {
            let mut bytes = [0u8; 32];
            rand_core::RngCore::fill_bytes(rng, &mut bytes);
            if let Some(mut scalar) = p256_scalar(&bytes) {
                let public = p256_public_x(&scalar);
                scalar.zeroize();
                let secret = EphemeralSecret::from_bytes(bytes);
                bytes.zeroize();
                return Ok((secret, public));
            }
        }
        Err(CryptoError::Rng)
    }

    fn dh(
        curve: Curve,
        secret: &EphemeralSecret,
        peer: &PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        if curve != Curve::P256 {
            return Err(CryptoError::KeyMismatch);
        }
        let mut scalar = p256_scalar(secret.as_bytes()).ok_or(CryptoError::KeyMismatch)?;
        let shared = p256_dh(&scalar, peer);
        scalar.zeroize();
        shared
    }
}

/// X25519 only (suites 0 and 1).
pub struct X25519Only;

impl Curves for X25519Only {
    fn generate(
        rng: &mut DeviceRng,
        curve: Curve,
    ) -> Result<(EphemeralSecret, PublicKey), CryptoError> {
        if curve != Curve::X25519 {
            return Err(CryptoError::KeyMismatch);
        }
        // As ferrule-crypto: the 32 bytes drawn are the private key.
        let mut bytes = [0u8; 32];
        rand_core::RngCore::fill_bytes(rng, &mut bytes);
        let public = x25519_public(&bytes);
        let out = EphemeralSecret::from_bytes(bytes);
        bytes.zeroize();
        Ok((out, public))
    }

    fn dh(
        curve: Curve,
        secret: &EphemeralSecret,
        peer: &PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        if curve != Curve::X25519 {
            return Err(CryptoError::KeyMismatch);
        }
        x25519_dh(secret.as_bytes(), peer)
    }
}

/// A [`Crypto`] provider for one curve (or none), EDHOC method 3 and AES-CCM-16-64-128: see the
/// module documentation.
pub struct LeanCrypto<K> {
    inner: RustCrypto<DeviceRng>,
    curves: PhantomData<K>,
}

impl<K: Curves> LeanCrypto<K> {
    /// A provider drawing its randomness from `rng`.
    pub const fn new(rng: DeviceRng) -> Self {
        Self {
            inner: RustCrypto::new(rng),
            curves: PhantomData,
        }
    }
}

type AesCcm16_64_128 = Ccm<Aes128, U8, U13>;

fn ccm(
    alg: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8],
    tag_len: usize,
) -> Result<AesCcm16_64_128, CryptoError> {
    if alg != AeadAlgorithm::AesCcm16_64_128 || nonce.len() != 13 || tag_len != 8 {
        return Err(CryptoError::InvalidLength);
    }
    AesCcm16_64_128::new_from_slice(key).map_err(|_| CryptoError::InvalidLength)
}

impl<K: Curves> Crypto for LeanCrypto<K> {
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; HASH_LEN] {
        self.inner.sha256(parts)
    }

    fn hkdf_extract(&mut self, salt: &[u8], ikm: &[u8]) -> Prk {
        self.inner.hkdf_extract(salt, ikm)
    }

    fn hkdf_expand(
        &mut self,
        prk: &Prk,
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.inner.hkdf_expand(prk, info, okm)
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
        let computed = ccm(alg, key, nonce, tag.len())?
            .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, buffer)
            .map_err(|_| CryptoError::InvalidLength)?;
        tag.copy_from_slice(&computed);
        Ok(())
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
        ccm(alg, key, nonce, tag.len())?
            .decrypt_in_place_detached(
                GenericArray::from_slice(nonce),
                aad,
                buffer,
                GenericArray::from_slice(tag),
            )
            .map_err(|_| CryptoError::AeadFailure)
    }

    fn generate_ephemeral(
        &mut self,
        curve: Curve,
    ) -> Result<(EphemeralSecret, PublicKey), CryptoError> {
        K::generate(self.inner.rng_mut(), curve)
    }

    fn ephemeral_dh(
        &mut self,
        curve: Curve,
        secret: &EphemeralSecret,
        peer: &PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        K::dh(curve, secret, peer)
    }

    /// Method 3 verifies no signature: every request fails.
    fn verify(
        &mut self,
        _alg: SignatureAlgorithm,
        _key: &VerifyingKey<'_>,
        _message: &[u8],
        _signature: &[u8],
    ) -> Result<(), CryptoError> {
        Err(CryptoError::InvalidSignature)
    }

    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.inner.fill_random(out)
    }
}

/// Checks that `bundle` is for EDHOC method 3 with a key of `key_type`, and returns its private
/// key bytes and the public key its credential holds.
fn static_dh_bundle<'a>(
    bundle: &Bundle<'a>,
    key_type: KeyType,
) -> Result<(&'a [u8; 32], &'a [u8]), &'static str> {
    if bundle.method() != Method::StaticStatic {
        return Err("this firmware build supports EDHOC method 3 (static DH) only");
    }
    let credential = bundle.device_credential();
    if credential.key_type() != key_type {
        return Err("this firmware build does not support the bundle's cipher suite");
    }
    Ok((bundle.private_key_bytes(), credential.public_x()))
}

/// A P-256 static Diffie-Hellman key (EDHOC method 3, suites 2 and 3): no signing.
pub struct P256StaticKey(p256::NonZeroScalar);

impl P256StaticKey {
    /// The key of a method-3, P-256 bundle, checked against its credential.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn from_bundle(bundle: &Bundle<'_>) -> Result<Self, &'static str> {
        let (secret, public) = static_dh_bundle(bundle, KeyType::P256)?;
        let scalar = p256_scalar(secret).ok_or("the bundle's private key is not a P-256 scalar")?;
        if p256_public_x(&scalar).0.as_slice() != public {
            return Err("the bundle's private key does not match its credential");
        }
        Ok(Self(scalar))
    }
}

impl PrivateKey for P256StaticKey {
    fn kind(&self) -> KeyKind {
        KeyKind::P256
    }

    fn diffie_hellman(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
        p256_dh(&self.0, peer)
    }

    fn sign(&self, _message: &[u8]) -> Result<Signature, CryptoError> {
        Err(CryptoError::KeyMismatch)
    }
}

impl Drop for P256StaticKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// An X25519 static Diffie-Hellman key (EDHOC method 3, suites 0 and 1): no signing. Zeroized
/// on drop.
pub struct X25519StaticKey([u8; 32]);

impl X25519StaticKey {
    /// The key of a method-3, X25519 bundle, checked against its credential.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn from_bundle(bundle: &Bundle<'_>) -> Result<Self, &'static str> {
        let (secret, public) = static_dh_bundle(bundle, KeyType::X25519)?;
        if x25519_public(secret).0.as_slice() != public {
            return Err("the bundle's private key does not match its credential");
        }
        Ok(Self(*secret))
    }
}

impl PrivateKey for X25519StaticKey {
    fn kind(&self) -> KeyKind {
        KeyKind::X25519
    }

    fn diffie_hellman(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
        x25519_dh(&self.0, peer)
    }

    fn sign(&self, _message: &[u8]) -> Result<Signature, CryptoError> {
        Err(CryptoError::KeyMismatch)
    }
}

impl Drop for X25519StaticKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn p256_scalar(bytes: &[u8; 32]) -> Option<p256::NonZeroScalar> {
    let scalar = p256::Scalar::from_repr((*bytes).into());
    Option::from(scalar).and_then(|s| Option::from(p256::NonZeroScalar::new(s)))
}

fn p256_public_x(scalar: &p256::NonZeroScalar) -> PublicKey {
    let point = (p256::ProjectivePoint::GENERATOR * **scalar).to_affine();
    PublicKey(point.x().into())
}

/// ECDH with an x-only peer key (RFC 9528 Section 3.7): the point is decompressed with either
/// sign, which gives the same x-coordinate of the shared point. The steps are separate
/// functions so that their stack frames follow each other instead of adding up.
fn p256_dh(scalar: &p256::NonZeroScalar, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
    let point = p256_decompress(&peer.0).ok_or(CryptoError::InvalidPublicKey)?;
    let mut x = p256_mul_x(&point, scalar);
    let out = SharedSecret::from_bytes(x);
    x.zeroize();
    Ok(out)
}

#[inline(never)]
fn p256_decompress(x: &[u8; 32]) -> Option<p256::AffinePoint> {
    p256::AffinePoint::decompress(&(*x).into(), Choice::from(0)).into()
}

#[inline(never)]
fn p256_mul_x(point: &p256::AffinePoint, scalar: &p256::NonZeroScalar) -> [u8; 32] {
    (p256::ProjectivePoint::from(*point) * **scalar)
        .to_affine()
        .x()
        .into()
}

/// The X25519 public key of `secret` (RFC 7748 Section 6.1): the Montgomery ladder on the base
/// point u = 9. `x25519-dalek`'s `PublicKey::from` would multiply on the Edwards curve instead,
/// with precomputed tables: more flash and 2 KB of stack.
fn x25519_public(secret: &[u8; 32]) -> PublicKey {
    PublicKey(x25519_dalek::x25519(
        *secret,
        x25519_dalek::X25519_BASEPOINT_BYTES,
    ))
}

/// X25519 (RFC 7748 Section 5, the scalar clamped); an all-zero result (a peer key of small
/// order, RFC 7748 Section 6.1) is refused, as ferrule-crypto does.
fn x25519_dh(secret: &[u8; 32], peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
    let mut shared = x25519_dalek::x25519(*secret, peer.0);
    let contributory = shared.iter().fold(0u8, |acc, b| acc | b) != 0;
    let out = SharedSecret::from_bytes(shared);
    shared.zeroize();
    if !contributory {
        return Err(CryptoError::InvalidPublicKey);
    }
    Ok(out)
}
