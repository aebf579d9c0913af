//! SHA-256 and HKDF-SHA-256 (RFC 5869).

use ferrule_proto::crypto::{CryptoError, Prk, HASH_LEN};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use zeroize::Zeroize;

/// SHA-256 over the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// HKDF-Extract (RFC 5869 Section 2.2). An empty `salt` is the same as an absent one.
pub(crate) fn hkdf_extract(salt: &[u8], ikm: &[u8]) -> Prk {
    let (mut prk, _) = Hkdf::<Sha256>::extract(Some(salt), ikm);
    let mut bytes = [0u8; HASH_LEN];
    bytes.copy_from_slice(&prk);
    let out = Prk::from_bytes(bytes);
    bytes.zeroize();
    prk.as_mut_slice().zeroize();
    out
}

/// HKDF-Expand (RFC 5869 Section 2.3) with `info` given as parts.
pub(crate) fn hkdf_expand(prk: &Prk, info: &[&[u8]], okm: &mut [u8]) -> Result<(), CryptoError> {
    let hkdf = Hkdf::<Sha256>::from_prk(prk.as_bytes()).map_err(|_| CryptoError::InvalidLength)?;
    hkdf.expand_multi_info(info, okm)
        .map_err(|_| CryptoError::InvalidLength)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex::decode as h;

    #[test]
    fn sha256_concatenates_parts() {
        // FIPS 180-2 "abc".
        let expect = h("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad").unwrap();
        assert_eq!(sha256(&[b"abc"]).as_slice(), expect);
        assert_eq!(sha256(&[b"a", b"", b"bc"]).as_slice(), expect);
        assert_eq!(
            sha256(&[]).as_slice(),
            h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").unwrap()
        );
    }

    #[test]
    fn hkdf_rfc5869_test_case_1() {
        let ikm = h("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b").unwrap();
        let salt = h("000102030405060708090a0b0c").unwrap();
        let info = h("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let prk = hkdf_extract(&salt, &ikm);
        assert_eq!(
            prk.as_bytes().as_slice(),
            h("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5").unwrap()
        );
        let expect_okm = h(
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
                            34007208d5b887185865",
        )
        .unwrap();
        let mut okm = [0u8; 42];
        hkdf_expand(&prk, &[&info], &mut okm).unwrap();
        assert_eq!(okm.as_slice(), expect_okm);
        // The same info split into parts gives the same output.
        let mut okm2 = [0u8; 42];
        hkdf_expand(&prk, &[&info[..3], &[], &info[3..]], &mut okm2).unwrap();
        assert_eq!(okm, okm2);
    }

    #[test]
    fn hkdf_empty_salt_is_absent_salt() {
        // RFC 5869 test case 3: salt and info empty.
        let ikm = h("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b").unwrap();
        let prk = hkdf_extract(&[], &ikm);
        assert_eq!(
            prk.as_bytes().as_slice(),
            h("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04").unwrap()
        );
        let mut okm = [0u8; 42];
        hkdf_expand(&prk, &[], &mut okm).unwrap();
        assert_eq!(
            okm.as_slice(),
            h(
                "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d\
               9d201395faa4b61a96c8"
            )
            .unwrap()
        );
    }

    #[test]
    fn hkdf_expand_too_long_rejected() {
        let prk = Prk::from_bytes([7; HASH_LEN]);
        let mut okm = [0u8; 255 * HASH_LEN + 1];
        assert_eq!(
            hkdf_expand(&prk, &[], &mut okm),
            Err(CryptoError::InvalidLength)
        );
        assert!(hkdf_expand(&prk, &[], &mut okm[..255 * HASH_LEN]).is_ok());
    }
}
