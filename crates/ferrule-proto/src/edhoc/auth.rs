//! MAC_2 / MAC_3 and Signature_or_MAC_2 / Signature_or_MAC_3 (RFC 9528 Sections 5.3.2 and 5.4.2).

use subtle::ConstantTimeEq;

use crate::cbor::BytesHead;
use crate::cose;
use crate::cose::KeyType;
use crate::crypto::{Crypto, KeyKind, PrivateKey, Prk, HASH_LEN, SIGNATURE_LEN};

use super::credential::ID_CRED_PREFIX_MAX;
use super::kdf::{edhoc_kdf, TranscriptHash, HASH_BSTR_HEAD};
use super::{AuthMode, Credential, Error, IdCred, SuiteParameters};

/// Largest Sig_structure this implementation builds (ID_CRED, TH, CRED and EAD together).
pub(crate) const MAX_SIG_STRUCTURE: usize = 640;

/// What a MAC or signature covers: context_2 = << C_R, ID_CRED_R, TH_2, CRED_R, ? EAD_2 >> and
/// context_3 = << ID_CRED_I, TH_3, CRED_I, ? EAD_3 >>.
#[derive(Clone, Copy)]
pub(crate) struct Covered<'x> {
    /// C_R as encoded in PLAINTEXT_2 (only for MAC_2).
    pub c_r: &'x [u8],
    pub id_cred: IdCred<'x>,
    pub th: &'x TranscriptHash,
    pub credential: Credential<'x>,
    pub ead: &'x [u8],
}

/// A MAC or signature, in a fixed buffer.
pub(crate) struct SignatureOrMac {
    pub bytes: [u8; SIGNATURE_LEN],
    pub len: usize,
}

impl SignatureOrMac {
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The MAC length: the hash length when the party signs, the suite's MAC length for static DH.
pub(crate) const fn mac_len(mode: AuthMode, suite: &SuiteParameters) -> usize {
    match mode {
        AuthMode::Signature => HASH_LEN,
        AuthMode::StaticDh => suite.mac_len,
    }
}

fn mac<C: Crypto>(
    crypto: &mut C,
    prk: &Prk,
    label: u64,
    covered: &Covered<'_>,
    out: &mut [u8],
) -> Result<(), Error> {
    let mut prefix = [0u8; ID_CRED_PREFIX_MAX];
    let prefix_len = covered.id_cred.map_prefix(&mut prefix)?;
    let cred_head = covered.credential.transcript_head();
    let cred_head: &[u8] = if covered.credential.wrapped() {
        cred_head.as_slice()
    } else {
        &[]
    };
    edhoc_kdf(
        crypto,
        prk,
        label,
        &[
            covered.c_r,
            &prefix[..prefix_len],
            covered.id_cred.body(),
            &HASH_BSTR_HEAD,
            &covered.th.0,
            cred_head,
            covered.credential.bytes(),
            covered.ead,
        ],
        out,
    )
}

/// Builds the Sig_structure ["Signature1", << ID_CRED >>, << TH, CRED, ? EAD >>, MAC].
fn sig_structure(
    covered: &Covered<'_>,
    mac: &[u8],
    out: &mut [u8; MAX_SIG_STRUCTURE],
) -> Result<usize, Error> {
    let mut prefix = [0u8; ID_CRED_PREFIX_MAX];
    let prefix_len = covered.id_cred.map_prefix(&mut prefix)?;
    let cred_head: BytesHead = covered.credential.transcript_head();
    let cred_head: &[u8] = if covered.credential.wrapped() {
        cred_head.as_slice()
    } else {
        &[]
    };
    cose::sig_structure(
        &[&prefix[..prefix_len], covered.id_cred.body()],
        &[
            &HASH_BSTR_HEAD,
            &covered.th.0,
            cred_head,
            covered.credential.bytes(),
            covered.ead,
        ],
        mac,
        out,
    )
    .map_err(|_| Error::TooLarge)
}

/// Computes Signature_or_MAC for our own message.
pub(crate) fn sign_or_mac<C: Crypto>(
    crypto: &mut C,
    mode: AuthMode,
    suite: &SuiteParameters,
    prk: &Prk,
    label: u64,
    covered: &Covered<'_>,
    key: &dyn PrivateKey,
) -> Result<SignatureOrMac, Error> {
    let mut out = SignatureOrMac {
        bytes: [0; SIGNATURE_LEN],
        len: mac_len(mode, suite),
    };
    mac(crypto, prk, label, covered, &mut out.bytes[..out.len])?;
    if mode == AuthMode::Signature {
        let mut buf = [0u8; MAX_SIG_STRUCTURE];
        let n = sig_structure(covered, &out.bytes[..out.len], &mut buf)?;
        let signature = key.sign(&buf[..n])?;
        out = SignatureOrMac {
            bytes: signature.0,
            len: SIGNATURE_LEN,
        };
    }
    Ok(out)
}

/// Checks a peer's Signature_or_MAC; MACs are compared in constant time.
pub(crate) fn verify_sign_or_mac<C: Crypto>(
    crypto: &mut C,
    mode: AuthMode,
    suite: &SuiteParameters,
    prk: &Prk,
    label: u64,
    covered: &Covered<'_>,
    received: &[u8],
) -> Result<(), Error> {
    let len = mac_len(mode, suite);
    let mut expected = [0u8; HASH_LEN];
    mac(crypto, prk, label, covered, &mut expected[..len])?;
    match mode {
        AuthMode::StaticDh => {
            if bool::from(expected[..len].ct_eq(received)) {
                Ok(())
            } else {
                Err(Error::AuthenticationFailed)
            }
        }
        AuthMode::Signature => {
            let mut buf = [0u8; MAX_SIG_STRUCTURE];
            let n = sig_structure(covered, &expected[..len], &mut buf)?;
            crypto
                .verify(
                    suite.signature,
                    &covered.credential.verifying_key(),
                    &buf[..n],
                    received,
                )
                .map_err(|_| Error::AuthenticationFailed)
        }
    }
}

/// Checks that our own key can authenticate in `mode` with `suite`.
pub(crate) fn check_own_key(
    key: &dyn PrivateKey,
    mode: AuthMode,
    suite: &SuiteParameters,
) -> Result<(), Error> {
    use crate::crypto::{Curve, SignatureAlgorithm};
    let ok = match (mode, key.kind()) {
        (AuthMode::StaticDh, KeyKind::X25519) => suite.curve == Curve::X25519,
        (AuthMode::StaticDh, KeyKind::P256) => suite.curve == Curve::P256,
        (AuthMode::Signature, KeyKind::Ed25519) => suite.signature == SignatureAlgorithm::EdDsa,
        (AuthMode::Signature, KeyKind::P256) => suite.signature == SignatureAlgorithm::Es256,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::KeyMismatch)
    }
}

/// Checks that a peer's credential carries a key usable in `mode` with `suite`.
pub(crate) fn check_peer_credential(
    credential: &Credential<'_>,
    mode: AuthMode,
    suite: &SuiteParameters,
) -> Result<(), Error> {
    use crate::crypto::{Curve, SignatureAlgorithm};
    let ok = match (mode, credential.key_type()) {
        (AuthMode::StaticDh, KeyType::X25519) => suite.curve == Curve::X25519,
        (AuthMode::StaticDh, KeyType::P256) => suite.curve == Curve::P256,
        (AuthMode::Signature, KeyType::Ed25519) => suite.signature == SignatureAlgorithm::EdDsa,
        (AuthMode::Signature, KeyType::P256) => {
            suite.signature == SignatureAlgorithm::Es256 && credential.verifying_key().y.is_some()
        }
        _ => false,
    };
    if ok && credential.public_x().len() == 32 {
        Ok(())
    } else {
        Err(Error::CredentialMismatch)
    }
}
