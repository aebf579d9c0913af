//! EDHOC_KDF and the transcript hashes (RFC 9528 Sections 4.1.2 and 5.3.2-5.4.2).

use crate::cbor::{BytesHead, IntBytes};
use crate::crypto::{Crypto, Prk, HASH_LEN};

use super::Error;

/// Most parts a KDF context can be given in.
const MAX_CONTEXT_PARTS: usize = 10;

/// EDHOC_KDF(PRK, info_label, context, length) = HKDF-Expand(PRK, info, length), where
/// info = (info_label: int, context: bstr, length: uint) as a CBOR sequence (Section 4.1.2).
/// `context` is the concatenation of its parts, so it is never copied together.
pub(crate) fn edhoc_kdf<C: Crypto>(
    crypto: &mut C,
    prk: &Prk,
    label: u64,
    context: &[&[u8]],
    out: &mut [u8],
) -> Result<(), Error> {
    if context.len() > MAX_CONTEXT_PARTS {
        return Err(Error::TooLarge);
    }
    let label = IntBytes::new(i64::try_from(label).map_err(|_| Error::TooLarge)?);
    let context_len: usize = context.iter().map(|p| p.len()).sum();
    let head = BytesHead::new(context_len);
    let length = IntBytes::new(out.len() as i64);
    let mut info: [&[u8]; MAX_CONTEXT_PARTS + 3] = [&[]; MAX_CONTEXT_PARTS + 3];
    info[0] = label.as_slice();
    info[1] = head.as_slice();
    info[2..2 + context.len()].copy_from_slice(context);
    info[2 + context.len()] = length.as_slice();
    crypto.hkdf_expand(prk, &info[..3 + context.len()], out)?;
    Ok(())
}

/// EDHOC_KDF with an output of the hash length, as a PRK (PRK_out, SALT_*, PRK_exporter).
pub(crate) fn kdf_prk<C: Crypto>(
    crypto: &mut C,
    prk: &Prk,
    label: u64,
    context: &[&[u8]],
) -> Result<Prk, Error> {
    let mut out = [0u8; HASH_LEN];
    edhoc_kdf(crypto, prk, label, context, &mut out)?;
    let prk = Prk::from_bytes(out);
    zeroize::Zeroize::zeroize(&mut out);
    Ok(prk)
}

/// A transcript hash TH_x, carried between steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TranscriptHash(pub [u8; HASH_LEN]);

/// The byte-string head of a 32-byte hash, `0x58 0x20`.
pub(crate) const HASH_BSTR_HEAD: [u8; 2] = [0x58, 0x20];

impl TranscriptHash {
    /// TH_2 = H(G_Y, H(message_1)), both as byte strings (Section 5.3.2).
    pub(crate) fn th_2<C: Crypto>(
        crypto: &mut C,
        g_y: &[u8; 32],
        h_message_1: &[u8; HASH_LEN],
    ) -> Self {
        Self(crypto.sha256(&[&HASH_BSTR_HEAD, g_y, &HASH_BSTR_HEAD, h_message_1]))
    }

    /// TH_3 = H(TH_2, PLAINTEXT_2, CRED_R) and TH_4 = H(TH_3, PLAINTEXT_3, CRED_I)
    /// (Sections 5.3.2 and 5.4.2): the previous hash as a byte string, the plaintext as sent,
    /// the credential as its CBOR data item.
    pub(crate) fn next<C: Crypto>(
        &self,
        crypto: &mut C,
        plaintext: &[u8],
        credential: &super::Credential<'_>,
    ) -> Self {
        let head = credential.transcript_head();
        let head: &[u8] = if credential.wrapped() {
            head.as_slice()
        } else {
            &[]
        };
        Self(crypto.sha256(&[
            &HASH_BSTR_HEAD,
            &self.0,
            plaintext,
            head,
            credential.bytes(),
        ]))
    }
}
