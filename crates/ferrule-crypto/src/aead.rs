//! AES-CCM (RFC 3610) with the COSE parameters of RFC 9053 Section 4.2: 128-bit key, L = 2
//! (13-byte nonce), 8- or 16-byte tag. In place, tag detached.

use aes::Aes128;
use ccm::aead::generic_array::typenum::Unsigned;
use ccm::aead::generic_array::GenericArray;
use ccm::consts::{U13, U16, U8};
use ccm::{AeadInPlace, Ccm, KeyInit};
use ferrule_proto::crypto::{AeadAlgorithm, CryptoError};

/// AES-CCM-16-64-128 (COSE alg 10).
type AesCcm16_64_128 = Ccm<Aes128, U8, U13>;
/// AES-CCM-16-128-128 (COSE alg 30).
type AesCcm16_128_128 = Ccm<Aes128, U16, U13>;

/// Encrypts `buffer` in place and writes the tag into `tag` (exactly `alg.tag_len()` bytes).
pub(crate) fn seal(
    alg: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &mut [u8],
) -> Result<(), CryptoError> {
    match alg {
        AeadAlgorithm::AesCcm16_64_128 => {
            seal_with::<AesCcm16_64_128>(key, nonce, aad, buffer, tag)
        }
        AeadAlgorithm::AesCcm16_128_128 => {
            seal_with::<AesCcm16_128_128>(key, nonce, aad, buffer, tag)
        }
    }
}

/// Verifies `tag` in constant time and decrypts `buffer` in place.
pub(crate) fn open(
    alg: AeadAlgorithm,
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8],
) -> Result<(), CryptoError> {
    match alg {
        AeadAlgorithm::AesCcm16_64_128 => {
            open_with::<AesCcm16_64_128>(key, nonce, aad, buffer, tag)
        }
        AeadAlgorithm::AesCcm16_128_128 => {
            open_with::<AesCcm16_128_128>(key, nonce, aad, buffer, tag)
        }
    }
}

/// Checks the nonce and tag lengths and builds the cipher from `key`.
fn init<A: AeadInPlace + KeyInit>(
    key: &[u8],
    nonce: &[u8],
    tag_len: usize,
) -> Result<A, CryptoError> {
    if nonce.len() != A::NonceSize::USIZE || tag_len != A::TagSize::USIZE {
        return Err(CryptoError::InvalidLength);
    }
    A::new_from_slice(key).map_err(|_| CryptoError::InvalidLength)
}

fn seal_with<A: AeadInPlace + KeyInit>(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &mut [u8],
) -> Result<(), CryptoError> {
    let cipher = init::<A>(key, nonce, tag.len())?;
    // The only failure left is a message or AAD too long for L = 2 (64 KiB).
    let computed = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, buffer)
        .map_err(|_| CryptoError::InvalidLength)?;
    tag.copy_from_slice(&computed);
    Ok(())
}

fn open_with<A: AeadInPlace + KeyInit>(
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8],
) -> Result<(), CryptoError> {
    let cipher = init::<A>(key, nonce, tag.len())?;
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            aad,
            buffer,
            GenericArray::from_slice(tag),
        )
        .map_err(|_| CryptoError::AeadFailure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex::decode as h;
    use std::vec::Vec;

    const ALGS: [AeadAlgorithm; 2] = [
        AeadAlgorithm::AesCcm16_64_128,
        AeadAlgorithm::AesCcm16_128_128,
    ];

    /// RFC 8613 Appendix C.4: the client's request, AES-CCM-16-64-128.
    #[test]
    fn ccm_rfc8613_c4_known_answer() {
        let key = h("f0910ed7295e6ad4b54fc793154302ff").unwrap();
        let nonce = h("4622d4dd6d944168eefb549868").unwrap();
        let aad = h("8368456e63727970743040488501810a40411440").unwrap();
        let expect = h("612f1092f1776f1c1668b3825e").unwrap();
        let alg = AeadAlgorithm::AesCcm16_64_128;

        let mut buffer = h("01b3747631").unwrap();
        let mut tag = [0u8; 8];
        seal(alg, &key, &nonce, &aad, &mut buffer, &mut tag).unwrap();
        assert_eq!([buffer.as_slice(), &tag].concat(), expect);

        open(alg, &key, &nonce, &aad, &mut buffer, &tag).unwrap();
        assert_eq!(buffer, h("01b3747631").unwrap());
    }

    #[test]
    fn ccm_round_trip_both_tag_lengths() {
        let key = [0x11; 16];
        let nonce = [0x22; 13];
        for alg in ALGS {
            for len in [0usize, 1, 15, 16, 17, 200] {
                let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let mut buffer = plaintext.clone();
                let mut tag = [0u8; 16];
                let tag = &mut tag[..alg.tag_len()];
                seal(alg, &key, &nonce, b"aad", &mut buffer, tag).unwrap();
                if len > 0 {
                    assert_ne!(buffer, plaintext);
                }
                open(alg, &key, &nonce, b"aad", &mut buffer, tag).unwrap();
                assert_eq!(buffer, plaintext);
            }
        }
    }

    #[test]
    fn ccm_tampering_rejected() {
        let key = [0x11; 16];
        let nonce = [0x22; 13];
        for alg in ALGS {
            let mut sealed = *b"telemetry";
            let mut tag = [0u8; 16];
            let tag = &mut tag[..alg.tag_len()];
            seal(alg, &key, &nonce, b"aad", &mut sealed, tag).unwrap();

            let mut bad_tag = [0u8; 16];
            let bad_tag = &mut bad_tag[..alg.tag_len()];
            bad_tag.copy_from_slice(tag);
            bad_tag[alg.tag_len() - 1] ^= 1;
            let mut buf = sealed;
            assert_eq!(
                open(alg, &key, &nonce, b"aad", &mut buf, bad_tag),
                Err(CryptoError::AeadFailure)
            );

            let mut buf = sealed;
            buf[0] ^= 0x80;
            assert_eq!(
                open(alg, &key, &nonce, b"aad", &mut buf, tag),
                Err(CryptoError::AeadFailure)
            );

            let mut buf = sealed;
            assert_eq!(
                open(alg, &key, &nonce, b"aae", &mut buf, tag),
                Err(CryptoError::AeadFailure)
            );

            let mut buf = sealed;
            let other_nonce = [0x23; 13];
            assert_eq!(
                open(alg, &key, &other_nonce, b"aad", &mut buf, tag),
                Err(CryptoError::AeadFailure)
            );

            let mut buf = sealed;
            assert_eq!(
                open(alg, &[0x12; 16], &nonce, b"aad", &mut buf, tag),
                Err(CryptoError::AeadFailure)
            );
        }
    }

    #[test]
    fn ccm_wrong_lengths_rejected() {
        let mut buf = [0u8; 4];
        for alg in ALGS {
            let n = alg.tag_len();
            let mut tag = [0u8; 17];
            let cases: [(&[u8], &[u8], usize); 5] = [
                (&[0; 15], &[0; 13], n),
                (&[0; 32], &[0; 13], n),
                (&[0; 16], &[0; 12], n),
                (&[0; 16], &[0; 13], n - 1),
                (&[0; 16], &[0; 13], n + 1),
            ];
            for (key, nonce, tag_len) in cases {
                assert_eq!(
                    seal(alg, key, nonce, &[], &mut buf, &mut tag[..tag_len]),
                    Err(CryptoError::InvalidLength)
                );
                assert_eq!(
                    open(alg, key, nonce, &[], &mut buf, &tag[..tag_len]),
                    Err(CryptoError::InvalidLength)
                );
            }
        }
    }
}
