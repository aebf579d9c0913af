//! Signature verification: EdDSA with Ed25519 (RFC 8032) and ES256 (ECDSA P-256 with SHA-256,
//! signature as raw `r || s`, RFC 9053 Section 2.1).

use ferrule_proto::crypto::{CryptoError, SignatureAlgorithm, VerifyingKey, SIGNATURE_LEN};
use p256::ecdsa::signature::Verifier;

/// Verifies `signature` over `message` with `key`.
pub(crate) fn verify(
    alg: SignatureAlgorithm,
    key: &VerifyingKey<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    match alg {
        SignatureAlgorithm::EdDsa => verify_ed25519(key, message, signature),
        SignatureAlgorithm::Es256 => verify_es256(key, message, signature),
    }
}

/// Ed25519 with RFC 8032's checks plus rejection of small-order keys and `R`
/// (`ed25519-dalek`'s `verify_strict`), which honest signers never produce.
fn verify_ed25519(
    key: &VerifyingKey<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    if key.y.is_some() {
        return Err(CryptoError::InvalidPublicKey);
    }
    let key: &[u8; 32] = key
        .x
        .try_into()
        .map_err(|_| CryptoError::InvalidPublicKey)?;
    let key =
        ed25519_dalek::VerifyingKey::from_bytes(key).map_err(|_| CryptoError::InvalidPublicKey)?;
    let signature: &[u8; SIGNATURE_LEN] = signature
        .try_into()
        .map_err(|_| CryptoError::InvalidSignature)?;
    let signature = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(message, &signature)
        .map_err(|_| CryptoError::InvalidSignature)
}

/// ES256 with a key given as affine coordinates.
fn verify_es256(
    key: &VerifyingKey<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    let key = p256_verifying_key(key)?;
    let signature =
        p256::ecdsa::Signature::from_slice(signature).map_err(|_| CryptoError::InvalidSignature)?;
    key.verify(message, &signature)
        .map_err(|_| CryptoError::InvalidSignature)
}

/// Builds a P-256 verifying key from 32-byte `x` and `y` (uncompressed SEC1 point).
fn p256_verifying_key(key: &VerifyingKey<'_>) -> Result<p256::ecdsa::VerifyingKey, CryptoError> {
    let y = key.y.ok_or(CryptoError::InvalidPublicKey)?;
    if key.x.len() != 32 || y.len() != 32 {
        return Err(CryptoError::InvalidPublicKey);
    }
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04;
    sec1[1..33].copy_from_slice(key.x);
    sec1[33..].copy_from_slice(y);
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| CryptoError::InvalidPublicKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{trace1, trace1_vec, trace2};
    use hex::decode as h;

    fn ed(x: &[u8]) -> VerifyingKey<'_> {
        VerifyingKey { x, y: None }
    }

    #[test]
    fn ed25519_trace1_signatures_verify() {
        let pk_r: [u8; 32] = trace1("PK_R");
        let pk_i: [u8; 32] = trace1("PK_I");
        let m2 = trace1_vec("Message to be signed 2");
        let s2 = trace1_vec("Signature_or_MAC_2");
        let m3 = trace1_vec("Message to be signed 3");
        let s3 = trace1_vec("Signature_or_MAC_3");
        verify(SignatureAlgorithm::EdDsa, &ed(&pk_r), &m2, &s2).unwrap();
        verify(SignatureAlgorithm::EdDsa, &ed(&pk_i), &m3, &s3).unwrap();
        // Swapped keys do not verify.
        assert_eq!(
            verify(SignatureAlgorithm::EdDsa, &ed(&pk_i), &m2, &s2),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn ed25519_tampered_signature_rejected() {
        let pk_r: [u8; 32] = trace1("PK_R");
        let m2 = trace1_vec("Message to be signed 2");
        let s2 = trace1_vec("Signature_or_MAC_2");
        for i in [0, 31, 32, 63] {
            let mut bad = s2.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                verify(SignatureAlgorithm::EdDsa, &ed(&pk_r), &m2, &bad),
                Err(CryptoError::InvalidSignature)
            );
        }
        let mut bad_msg = m2.clone();
        bad_msg[10] ^= 0x01;
        assert_eq!(
            verify(SignatureAlgorithm::EdDsa, &ed(&pk_r), &bad_msg, &s2),
            Err(CryptoError::InvalidSignature)
        );
        assert_eq!(
            verify(SignatureAlgorithm::EdDsa, &ed(&pk_r), &m2, &s2[..63]),
            Err(CryptoError::InvalidSignature)
        );
    }

    #[test]
    fn ed25519_malformed_key_rejected() {
        let pk_r: [u8; 32] = trace1("PK_R");
        let m2 = trace1_vec("Message to be signed 2");
        let s2 = trace1_vec("Signature_or_MAC_2");
        let cases = [
            VerifyingKey {
                x: &pk_r[..31],
                y: None,
            },
            VerifyingKey {
                x: &pk_r,
                y: Some(&pk_r),
            },
            // Not the encoding of a curve point (y = 2 has no x).
            VerifyingKey {
                x: &h("0200000000000000000000000000000000000000000000000000000000000000").unwrap(),
                y: None,
            },
        ];
        for key in cases {
            assert_eq!(
                verify(SignatureAlgorithm::EdDsa, &key, &m2, &s2),
                Err(CryptoError::InvalidPublicKey)
            );
        }
    }

    #[test]
    fn es256_malformed_key_rejected() {
        let g_r: [u8; 32] = trace2("G_R");
        let g_r_y: [u8; 32] = trace2("G_R (y-coordinate)");
        let mut off_curve_y = g_r_y;
        off_curve_y[31] ^= 1;
        let cases = [
            VerifyingKey { x: &g_r, y: None },
            VerifyingKey {
                x: &g_r[..31],
                y: Some(&g_r_y),
            },
            VerifyingKey {
                x: &g_r,
                y: Some(&g_r_y[1..]),
            },
            VerifyingKey {
                x: &g_r,
                y: Some(&off_curve_y),
            },
        ];
        for key in cases {
            assert_eq!(
                verify(SignatureAlgorithm::Es256, &key, b"m", &[1; 64]),
                Err(CryptoError::InvalidPublicKey)
            );
        }
        // A valid key with a malformed signature (r = 0, wrong length) is a signature error.
        let key = VerifyingKey {
            x: &g_r,
            y: Some(&g_r_y),
        };
        for sig in [&[0u8; 64][..], &[1u8; 63][..]] {
            assert_eq!(
                verify(SignatureAlgorithm::Es256, &key, b"m", sig),
                Err(CryptoError::InvalidSignature)
            );
        }
    }
}
