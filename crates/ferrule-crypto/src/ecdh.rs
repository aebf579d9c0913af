//! X25519 (RFC 7748) and P-256 Diffie-Hellman with x-only public keys (RFC 9528 Section 3.7).

use ferrule_proto::crypto::{CryptoError, PublicKey, SharedSecret, PUBLIC_KEY_LEN};
use p256::elliptic_curve::point::AffineCoordinates;
use p256::{FieldBytes, NonZeroScalar};
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroize;

/// How many 32-byte draws a P-256 scalar may take before the RNG is declared broken. A uniform
/// draw is invalid with probability below 2^-32, so only a failed RNG (say, stuck at zero or at
/// all ones) ever exhausts this.
const P256_MAX_DRAWS: usize = 8;

/// Fills `out` from `rng`, mapping its failure.
pub(crate) fn draw<R: RngCore + CryptoRng>(rng: &mut R, out: &mut [u8]) -> Result<(), CryptoError> {
    rng.try_fill_bytes(out).map_err(|_| CryptoError::Rng)
}

/// Copies 32 secret bytes into a [`SharedSecret`], leaving no other copy in this frame.
pub(crate) fn shared_secret(bytes: &[u8]) -> SharedSecret {
    let mut buf = [0u8; 32];
    buf.copy_from_slice(bytes);
    let out = SharedSecret::from_bytes(buf);
    buf.zeroize();
    out
}

/// X25519 with a peer's u-coordinate. A low-order peer key yields an all-zero output, which is
/// rejected (RFC 7748 Section 6.1).
pub(crate) fn x25519(
    secret: &x25519_dalek::StaticSecret,
    peer: &PublicKey,
) -> Result<SharedSecret, CryptoError> {
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(peer.0));
    if !shared.was_contributory() {
        return Err(CryptoError::InvalidPublicKey);
    }
    Ok(shared_secret(shared.as_bytes()))
}

/// The X25519 public key (u-coordinate of the base-point multiple) of `secret`.
pub(crate) fn x25519_public(secret: &x25519_dalek::StaticSecret) -> PublicKey {
    PublicKey(x25519_dalek::PublicKey::from(secret).to_bytes())
}

/// Reads 32 big-endian bytes as a P-256 scalar in `[1, n)`.
pub(crate) fn p256_scalar(bytes: &[u8; 32]) -> Option<NonZeroScalar> {
    let mut repr = FieldBytes::from(*bytes);
    let scalar = Option::from(NonZeroScalar::from_repr(repr));
    repr.as_mut_slice().zeroize();
    scalar
}

/// Draws 32-byte strings from `rng` until one is a valid P-256 scalar; returns the bytes as drawn
/// and the scalar.
///
/// # Errors
/// [`CryptoError::Rng`] if the RNG fails, or returns [`P256_MAX_DRAWS`] invalid scalars in a row.
pub(crate) fn p256_draw_scalar<R: RngCore + CryptoRng>(
    rng: &mut R,
    bytes: &mut [u8; 32],
) -> Result<NonZeroScalar, CryptoError> {
    for _ in 0..P256_MAX_DRAWS {
        draw(rng, bytes)?;
        if let Some(scalar) = p256_scalar(bytes) {
            return Ok(scalar);
        }
    }
    bytes.zeroize();
    Err(CryptoError::Rng)
}

/// The P-256 public point of `scalar`, affine `(x, y)`.
pub(crate) fn p256_public(scalar: &NonZeroScalar) -> p256::AffinePoint {
    *p256::PublicKey::from_secret_scalar(scalar).as_affine()
}

/// The x-coordinate of an affine point.
pub(crate) fn p256_x(point: &p256::AffinePoint) -> [u8; PUBLIC_KEY_LEN] {
    point.x().into()
}

/// Decompresses an x-only P-256 public key (as the SEC1 compressed point `0x02 || x`).
///
/// Either of the two points with this x-coordinate gives the same ECDH x-coordinate, since
/// `k * (-P) = -(k * P)` has the same x.
fn p256_decompress(x: &[u8; PUBLIC_KEY_LEN]) -> Result<p256::PublicKey, CryptoError> {
    let mut sec1 = [0u8; 1 + PUBLIC_KEY_LEN];
    sec1[0] = 0x02;
    sec1[1..].copy_from_slice(x);
    p256::PublicKey::from_sec1_bytes(&sec1).map_err(|_| CryptoError::InvalidPublicKey)
}

/// P-256 ECDH with a peer's x-coordinate; the shared secret is the x-coordinate of the product.
pub(crate) fn p256(scalar: &NonZeroScalar, peer: &PublicKey) -> Result<SharedSecret, CryptoError> {
    let peer = p256_decompress(&peer.0)?;
    let shared = p256::ecdh::diffie_hellman(scalar, peer.as_affine());
    Ok(shared_secret(shared.raw_secret_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{arr, trace1, trace2};

    /// RFC 7748 Section 6.1.
    #[test]
    fn x25519_rfc7748_known_answer() {
        let alice = x25519_dalek::StaticSecret::from(arr(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let bob_public = PublicKey(arr(
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
        ));
        assert_eq!(
            x25519_public(&alice).0,
            arr("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            x25519(&alice, &bob_public).unwrap().as_bytes(),
            &arr("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
        );
    }

    #[test]
    fn x25519_trace1_g_xy() {
        let x = x25519_dalek::StaticSecret::from(trace1("X"));
        let y = x25519_dalek::StaticSecret::from(trace1("Y"));
        assert_eq!(x25519_public(&x).0, trace1("G_X"));
        assert_eq!(x25519_public(&y).0, trace1("G_Y"));
        let g_xy = trace1("G_XY");
        assert_eq!(
            x25519(&x, &PublicKey(trace1("G_Y"))).unwrap().as_bytes(),
            &g_xy
        );
        assert_eq!(
            x25519(&y, &PublicKey(trace1("G_X"))).unwrap().as_bytes(),
            &g_xy
        );
    }

    #[test]
    fn x25519_low_order_peer_rejected() {
        let x = x25519_dalek::StaticSecret::from(trace1("X"));
        // u = 0 and u = 1 have small order; so does the order-8 point below (RFC 7748 / libsodium
        // blocklist).
        let low_order = [
            [0u8; 32],
            {
                let mut one = [0u8; 32];
                one[0] = 1;
                one
            },
            arr("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        ];
        for u in low_order {
            assert_eq!(
                x25519(&x, &PublicKey(u)).err(),
                Some(CryptoError::InvalidPublicKey)
            );
        }
    }

    #[test]
    fn p256_trace2_g_xy() {
        let x = p256_scalar(&trace2("X")).unwrap();
        let y = p256_scalar(&trace2("Y")).unwrap();
        let g_x = p256_public(&x);
        assert_eq!(p256_x(&g_x), trace2("G_X"));
        assert_eq!(<[u8; 32]>::from(p256_public(&y).x()), trace2("G_Y"));
        let g_xy = trace2("G_XY");
        assert_eq!(
            p256(&x, &PublicKey(trace2("G_Y"))).unwrap().as_bytes(),
            &g_xy
        );
        assert_eq!(
            p256(&y, &PublicKey(trace2("G_X"))).unwrap().as_bytes(),
            &g_xy
        );
    }

    #[test]
    fn p256_decompression_sign_does_not_matter() {
        // Trace 2's G_X with its real y-coordinate and with the 0x02 guess give the same point x.
        let x = p256_decompress(&trace2("G_X")).unwrap();
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..33].copy_from_slice(&trace2::<32>("G_X"));
        sec1[33..].copy_from_slice(&trace2::<32>("G_X (y-coordinate)"));
        let full = p256::PublicKey::from_sec1_bytes(&sec1).unwrap();
        assert_eq!(x.as_affine().x(), full.as_affine().x());
        // Trace 2's G_X y-coordinate is odd, so the 0x02 guess picked the other point, and ECDH
        // still matched G_XY in `p256_trace2_g_xy`.
        assert_ne!(x, full);
    }

    #[test]
    fn p256_invalid_peer_rejected() {
        let x = p256_scalar(&trace2("X")).unwrap();
        // x >= p (the field modulus, and all ones) is not a field element; x = 1 has no y on the
        // curve (1 - 3 + b is not a square mod p).
        let field_modulus = arr("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
        let mut one = [0u8; 32];
        one[31] = 1;
        for bad in [field_modulus, [0xff; 32], one] {
            assert_eq!(
                p256(&x, &PublicKey(bad)).err(),
                Some(CryptoError::InvalidPublicKey)
            );
        }
    }

    #[test]
    fn p256_scalar_range() {
        assert!(p256_scalar(&[0; 32]).is_none());
        let n = arr("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
        assert!(p256_scalar(&n).is_none());
        assert!(p256_scalar(&[0xff; 32]).is_none());
        let mut n_minus_1 = n;
        n_minus_1[31] -= 1;
        assert!(p256_scalar(&n_minus_1).is_some());
        let mut one = [0; 32];
        one[31] = 1;
        assert!(p256_scalar(&one).is_some());
    }
}
