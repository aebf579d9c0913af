//! The external AAD and the AEAD associated data (RFC 8613 Section 5.4, RFC 9052 Section 5.3).

use super::{OscoreError, MAX_ID_LEN};
use crate::cbor::Encoder;
use crate::crypto::AeadAlgorithm;

/// Longest `aad_array` this implementation builds: a 7-byte kid and 5-byte Partial IV.
pub const MAX_AAD_ARRAY_LEN: usize = 1 + 1 + 2 + 3 + 1 + MAX_ID_LEN + 1 + 5 + 1;

/// Longest AAD (Enc_structure wrapping the longest `aad_array`).
pub const MAX_AAD_LEN: usize = 1 + 9 + 1 + 2 + MAX_AAD_ARRAY_LEN;

/// Writes `aad_array = [oscore_version: 1, algorithms: [alg_aead], request_kid: bstr,
/// request_piv: bstr, options: bstr]` (RFC 8613 Section 5.4) into `out`; the options are the
/// Class I options, of which none is defined, so always `h''`.
///
/// # Errors
/// [`OscoreError::BufferTooSmall`].
pub fn aad_array(
    alg: AeadAlgorithm,
    request_kid: &[u8],
    request_piv: &[u8],
    out: &mut [u8],
) -> Result<usize, OscoreError> {
    let mut e = Encoder::new(out);
    (|| {
        e.array(5)?
            .u64(1)?
            .array(1)?
            .i64(i64::from(alg.cose_id()))?
            .bytes(request_kid)?
            .bytes(request_piv)?
            .bytes(&[])?;
        Ok::<_, crate::cbor::CborError>(())
    })()
    .map_err(|_| OscoreError::BufferTooSmall)?;
    Ok(e.finish())
}

/// Writes the AEAD associated data `Enc_structure = ["Encrypt0", h'', external_aad]` with the
/// `aad_array` as external_aad (RFC 8613 Section 5.4) and returns its length.
///
/// # Errors
/// [`OscoreError::BufferTooSmall`].
pub fn aad(
    alg: AeadAlgorithm,
    request_kid: &[u8],
    request_piv: &[u8],
    out: &mut [u8],
) -> Result<usize, OscoreError> {
    let mut array = [0u8; MAX_AAD_ARRAY_LEN];
    let array_len = aad_array(alg, request_kid, request_piv, &mut array)?;
    let mut e = Encoder::new(out);
    (|| {
        e.array(3)?
            .text("Encrypt0")?
            .bytes(&[])?
            .bytes(&array[..array_len])?;
        Ok::<_, crate::cbor::CborError>(())
    })()
    .map_err(|_| OscoreError::BufferTooSmall)?;
    Ok(e.finish())
}
