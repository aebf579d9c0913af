//! Key and Common IV derivation (RFC 8613 Section 3.2.1).

use super::{OscoreError, MAX_ID_CONTEXT_LEN, MAX_ID_LEN};
use crate::cbor::Encoder;
use crate::crypto::{AeadAlgorithm, Crypto, Prk};

/// Longest `info` this implementation builds.
pub const MAX_INFO_LEN: usize = 1 + 1 + MAX_ID_LEN + 1 + MAX_ID_CONTEXT_LEN + 3 + 4 + 2;

/// What is being derived: the `type` field of the `info` array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoType {
    /// A Sender or Recipient Key: `"Key"`.
    Key,
    /// The Common IV: `"IV"`.
    Iv,
}

/// Writes `info = [id: bstr, id_context: bstr / nil, alg_aead: int, type: tstr, L: uint]`
/// (RFC 8613 Section 3.2.1) and returns its length.
///
/// `id` is the Sender or Recipient ID for a key and empty for the Common IV; `id_context` is
/// `nil` when absent.
///
/// # Errors
/// [`OscoreError::BufferTooSmall`] if `out` is too small.
pub fn kdf_info(
    id: &[u8],
    id_context: Option<&[u8]>,
    alg: AeadAlgorithm,
    info_type: InfoType,
    len: usize,
    out: &mut [u8],
) -> Result<usize, OscoreError> {
    let mut e = Encoder::new(out);
    (|| {
        e.array(5)?.bytes(id)?;
        match id_context {
            Some(ctx) => e.bytes(ctx)?,
            None => e.null()?,
        };
        e.i64(i64::from(alg.cose_id()))?
            .text(match info_type {
                InfoType::Key => "Key",
                InfoType::Iv => "IV",
            })?
            .u64(len as u64)?;
        Ok::<_, crate::cbor::CborError>(())
    })()
    .map_err(|_| OscoreError::BufferTooSmall)?;
    Ok(e.finish())
}

/// `HKDF-Expand(PRK, info, L)` with the `info` of [`kdf_info`], `L = out.len()`.
pub(crate) fn expand<C: Crypto + ?Sized>(
    crypto: &mut C,
    prk: &Prk,
    id: &[u8],
    id_context: Option<&[u8]>,
    alg: AeadAlgorithm,
    info_type: InfoType,
    out: &mut [u8],
) -> Result<(), OscoreError> {
    let mut info = [0u8; MAX_INFO_LEN];
    let n = kdf_info(id, id_context, alg, info_type, out.len(), &mut info)?;
    crypto.hkdf_expand(prk, &[&info[..n]], out)?;
    Ok(())
}
