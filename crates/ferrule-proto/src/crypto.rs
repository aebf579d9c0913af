//! The one trait through which every cryptographic algorithm is reached.
//!
//! `ferrule-proto` implements no primitive itself. Hashing, HKDF, AEAD, ephemeral Diffie-Hellman,
//! signature verification and randomness come through [`Crypto`]; the long-term private key comes
//! through [`PrivateKey`], whose operations are trait calls so that the key can live in a secure
//! element and never leave it. `ferrule-crypto` provides both on top of RustCrypto.
//!
//! Randomness enters only through [`Crypto::generate_ephemeral`] and [`Crypto::fill_random`], so a
//! test can inject the ephemeral keys of the RFC 9529 traces.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of a SHA-256 output, which is the hash length of every supported EDHOC cipher suite.
pub const HASH_LEN: usize = 32;
/// Length of an (x-only) ECDH public key as EDHOC sends it: P-256 x-coordinate or X25519 u-coordinate.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 or ES256 (raw r || s) signature.
pub const SIGNATURE_LEN: usize = 64;
/// AES-CCM key length used by all supported AEAD algorithms.
pub const AEAD_KEY_LEN: usize = 16;
/// AES-CCM nonce length used by all supported AEAD algorithms (L = 2, nonce 13 bytes).
pub const AEAD_NONCE_LEN: usize = 13;
/// Largest AEAD tag of the supported algorithms.
pub const AEAD_MAX_TAG_LEN: usize = 16;

/// Elliptic curve for Diffie-Hellman (COSE Elliptic Curves registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// X25519 (COSE crv 4).
    X25519,
    /// P-256 (COSE crv 1), x-coordinate only on the wire (RFC 9528 Section 3.7).
    P256,
}

/// Signature algorithm (COSE Algorithms registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// EdDSA with Ed25519 (COSE alg -8).
    EdDsa,
    /// ECDSA with P-256 and SHA-256 (COSE alg -7), signature as raw `r || s`.
    Es256,
}

/// AEAD algorithm (COSE Algorithms registry).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AeadAlgorithm {
    /// AES-CCM-16-64-128 (COSE alg 10): 16-byte key, 13-byte nonce, 8-byte tag.
    AesCcm16_64_128,
    /// AES-CCM-16-128-128 (COSE alg 30): 16-byte key, 13-byte nonce, 16-byte tag.
    AesCcm16_128_128,
}

impl AeadAlgorithm {
    /// The COSE algorithm identifier.
    pub const fn cose_id(self) -> i32 {
        match self {
            Self::AesCcm16_64_128 => 10,
            Self::AesCcm16_128_128 => 30,
        }
    }

    /// Looks an algorithm up by its COSE identifier.
    pub const fn from_cose_id(id: i64) -> Option<Self> {
        match id {
            10 => Some(Self::AesCcm16_64_128),
            30 => Some(Self::AesCcm16_128_128),
            _ => None,
        }
    }

    /// Key length in bytes.
    pub const fn key_len(self) -> usize {
        AEAD_KEY_LEN
    }

    /// Nonce length in bytes.
    pub const fn nonce_len(self) -> usize {
        AEAD_NONCE_LEN
    }

    /// Tag length in bytes.
    pub const fn tag_len(self) -> usize {
        match self {
            Self::AesCcm16_64_128 => 8,
            Self::AesCcm16_128_128 => 16,
        }
    }
}

/// Why a cryptographic operation failed. AEAD failures are deliberately opaque.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// A peer's public key is not a valid point (or is a low-order point).
    InvalidPublicKey,
    /// A signature did not verify, or is malformed.
    InvalidSignature,
    /// AEAD decryption failed: wrong key, nonce, associated data, or a forged ciphertext or tag.
    AeadFailure,
    /// An input or output buffer has a length the algorithm does not accept.
    InvalidLength,
    /// The private key cannot perform this operation (wrong curve, or signing with a DH-only key).
    KeyMismatch,
    /// The random number generator failed.
    Rng,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidPublicKey => "invalid public key",
            Self::InvalidSignature => "signature verification failed",
            Self::AeadFailure => "decryption failed",
            Self::InvalidLength => "invalid length for the algorithm",
            Self::KeyMismatch => "private key does not support this operation",
            Self::Rng => "random number generator failed",
        })
    }
}

impl core::error::Error for CryptoError {}

macro_rules! secret_bytes {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        ///
        /// Zeroized on drop; `Debug` prints no key material.
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Wraps raw bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes. Handle with care: they are secret.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_bytes!(
    /// A pseudorandom key (HKDF-Extract output, RFC 5869), 32 bytes for SHA-256.
    Prk,
    HASH_LEN
);
secret_bytes!(
    /// A Diffie-Hellman shared secret: P-256 x-coordinate or X25519 output.
    SharedSecret,
    32
);
secret_bytes!(
    /// An ephemeral Diffie-Hellman private key (scalar), generated per handshake.
    EphemeralSecret,
    32
);

/// An x-only public Diffie-Hellman key as EDHOC carries it (G_X, G_Y, G_R, G_I).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

/// A signature (Ed25519, or ES256 as raw `r || s`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signature(..)")
    }
}

/// A public key for signature verification, as found in a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyingKey<'a> {
    /// Ed25519 public key, or the P-256 x-coordinate.
    pub x: &'a [u8],
    /// The P-256 y-coordinate; absent for Ed25519.
    pub y: Option<&'a [u8]>,
}

/// Every algorithm the protocol core needs, behind one trait.
///
/// Implementations must compare tags in constant time and zeroize intermediate secrets.
pub trait Crypto {
    /// SHA-256 over the concatenation of `parts` (so callers need not copy a transcript together).
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; HASH_LEN];

    /// HKDF-Extract with SHA-256 (RFC 5869 Section 2.2).
    fn hkdf_extract(&mut self, salt: &[u8], ikm: &[u8]) -> Prk;

    /// HKDF-Expand with SHA-256 (RFC 5869 Section 2.3); `info` is the concatenation of its parts.
    ///
    /// # Errors
    /// [`CryptoError::InvalidLength`] if `okm` is longer than 255 * 32 bytes.
    fn hkdf_expand(&mut self, prk: &Prk, info: &[&[u8]], okm: &mut [u8])
        -> Result<(), CryptoError>;

    /// Encrypts `buffer` in place and writes the tag (`alg.tag_len()` bytes) into `tag`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidLength`] if the key, nonce or tag buffer has the wrong length.
    fn aead_seal(
        &mut self,
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// Verifies `tag` (in constant time) and decrypts `buffer` in place.
    ///
    /// # Errors
    /// [`CryptoError::AeadFailure`] if the tag does not verify; `buffer` is then unspecified.
    fn aead_open(
        &mut self,
        alg: AeadAlgorithm,
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError>;

    /// Generates an ephemeral key pair from this provider's randomness.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if no randomness is available.
    fn generate_ephemeral(
        &mut self,
        curve: Curve,
    ) -> Result<(EphemeralSecret, PublicKey), CryptoError>;

    /// Diffie-Hellman between an ephemeral private key and a peer's x-only public key.
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`] if `peer` is not a valid public key on `curve`.
    fn ephemeral_dh(
        &mut self,
        curve: Curve,
        secret: &EphemeralSecret,
        peer: &PublicKey,
    ) -> Result<SharedSecret, CryptoError>;

    /// Verifies a signature over `message`.
    ///
    /// # Errors
    /// [`CryptoError::InvalidSignature`] if it does not verify, [`CryptoError::InvalidPublicKey`]
    /// if the key is malformed.
    fn verify(
        &mut self,
        alg: SignatureAlgorithm,
        key: &VerifyingKey<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError>;

    /// Fills `out` with random bytes.
    ///
    /// # Errors
    /// [`CryptoError::Rng`] if no randomness is available.
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError>;
}

/// The kind of a long-term private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// X25519: static Diffie-Hellman only.
    X25519,
    /// Ed25519: EdDSA signing only.
    Ed25519,
    /// P-256: static Diffie-Hellman and ES256 signing.
    P256,
}

/// A long-term private key, reached only through its operations (a handle, possibly to a secure
/// element). EDHOC uses it for static DH (methods 1-3) or for signing (methods 0-2).
pub trait PrivateKey {
    /// What kind of key this is, and so which operations it supports.
    fn kind(&self) -> KeyKind;

    /// Static Diffie-Hellman with a peer's x-only public key (RFC 9528 Section 5.2/5.3, G_RX, G_IY).
    ///
    /// # Errors
    /// [`CryptoError::KeyMismatch`] if this key cannot do Diffie-Hellman,
    /// [`CryptoError::InvalidPublicKey`] if `peer` is not on this key's curve.
    fn diffie_hellman(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError>;

    /// Signs `message` (EdDSA for an Ed25519 key, ES256 for a P-256 key).
    ///
    /// # Errors
    /// [`CryptoError::KeyMismatch`] if this key cannot sign.
    fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError>;
}

impl<K: PrivateKey + ?Sized> PrivateKey for &K {
    fn kind(&self) -> KeyKind {
        (**self).kind()
    }
    fn diffie_hellman(&self, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
        (**self).diffie_hellman(peer)
    }
    fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        (**self).sign(message)
    }
}
