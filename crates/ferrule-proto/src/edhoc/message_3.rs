//! The AEAD-protected messages: message_3 = bstr(CIPHERTEXT_3) and message_4 = bstr(CIPHERTEXT_4)
//! (RFC 9528 Sections 5.4.2 and 5.5.2), each `AEAD(K, IV, PLAINTEXT, Enc_structure(TH))`.

use zeroize::Zeroize;

use crate::cbor::{Decoder, Encoder, MajorType};
use crate::cose::enc_structure;
use crate::crypto::{Crypto, Prk, AEAD_KEY_LEN, AEAD_MAX_TAG_LEN, AEAD_NONCE_LEN};

use super::kdf::{edhoc_kdf, TranscriptHash};
use super::{Error, SuiteParameters};

/// Largest PLAINTEXT_2 / PLAINTEXT_3 / PLAINTEXT_4 (and EAD) this implementation handles.
pub const MAX_PLAINTEXT: usize = 256;

/// The AEAD inputs of one message: key, nonce and associated data (A_3 / A_4).
struct MessageKeys {
    key: [u8; AEAD_KEY_LEN],
    nonce: [u8; AEAD_NONCE_LEN],
    aad: [u8; 48],
    aad_len: usize,
}

impl Drop for MessageKeys {
    fn drop(&mut self) {
        self.key.zeroize();
        self.nonce.zeroize();
    }
}

fn message_keys<C: Crypto>(
    crypto: &mut C,
    prk: &Prk,
    labels: (u64, u64),
    th: &TranscriptHash,
) -> Result<MessageKeys, Error> {
    let mut keys = MessageKeys {
        key: [0; AEAD_KEY_LEN],
        nonce: [0; AEAD_NONCE_LEN],
        aad: [0; 48],
        aad_len: 0,
    };
    let context: [&[u8]; 1] = [&th.0];
    edhoc_kdf(crypto, prk, labels.0, &context, &mut keys.key)?;
    edhoc_kdf(crypto, prk, labels.1, &context, &mut keys.nonce)?;
    keys.aad_len = enc_structure(&th.0, &mut keys.aad)?;
    Ok(keys)
}

/// Encrypts `plaintext` and writes the message `bstr(ciphertext || tag)` into `out`.
pub(crate) fn seal_message<C: Crypto>(
    crypto: &mut C,
    params: &SuiteParameters,
    prk: &Prk,
    labels: (u64, u64),
    th: &TranscriptHash,
    plaintext: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    let keys = message_keys(crypto, prk, labels, th)?;
    let tag_len = params.aead.tag_len();
    let ciphertext_len = plaintext.len() + tag_len;
    let mut e = Encoder::new(out);
    e.head(MajorType::Bytes, ciphertext_len as u64)?;
    let start = e.len();
    e.raw(plaintext)?;
    let mut tag = [0u8; AEAD_MAX_TAG_LEN];
    e.raw(&tag[..tag_len])?;
    let len = e.finish();
    let (body, tag_out) = out[start..len].split_at_mut(plaintext.len());
    crypto.aead_seal(
        params.aead,
        &keys.key,
        &keys.nonce,
        &keys.aad[..keys.aad_len],
        body,
        &mut tag[..tag_len],
    )?;
    tag_out.copy_from_slice(&tag[..tag_len]);
    Ok(len)
}

/// Verifies and decrypts a message in place; returns the plaintext, borrowed from `message`.
pub(crate) fn open_message<'m, C: Crypto>(
    crypto: &mut C,
    params: &SuiteParameters,
    prk: &Prk,
    labels: (u64, u64),
    th: &TranscriptHash,
    message: &'m mut [u8],
) -> Result<&'m [u8], Error> {
    let mut d = Decoder::new(message);
    let content_len = d.bytes()?.len();
    d.finish()?;
    let start = message.len() - content_len;
    let tag_len = params.aead.tag_len();
    let plaintext_len = content_len
        .checked_sub(tag_len)
        .ok_or(Error::DecryptionFailed)?;
    if plaintext_len > MAX_PLAINTEXT {
        return Err(Error::TooLarge);
    }
    let keys = message_keys(crypto, prk, labels, th)?;
    let (body, tag) = message[start..].split_at_mut(plaintext_len);
    crypto
        .aead_open(
            params.aead,
            &keys.key,
            &keys.nonce,
            &keys.aad[..keys.aad_len],
            body,
            tag,
        )
        .map_err(|_| Error::DecryptionFailed)?;
    let message: &'m [u8] = message;
    Ok(&message[start..start + plaintext_len])
}
