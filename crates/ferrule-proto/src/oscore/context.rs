//! The security context: derivation and sequence-number state (RFC 8613 Section 3).

use core::fmt;

use super::derive::{expand, InfoType};
use super::{
    CommonIv, IdContext, OscoreError, OscoreId, PartialIv, RecipientKey, ReplayWindow, SenderKey,
    Storage, StorageError, MAX_SEQUENCE_NUMBER,
};
use crate::crypto::{AeadAlgorithm, Crypto, AEAD_KEY_LEN, AEAD_NONCE_LEN};

/// The input parameters of a security context (RFC 8613 Section 3.2).
///
/// From EDHOC (RFC 9528 Appendix A.1): the Master Secret and Master Salt come from the
/// exporter, a client's Sender ID is C_R and its Recipient ID C_I, and there is no ID Context.
#[derive(Clone, Copy)]
pub struct ContextParams<'a> {
    /// Master Secret (RFC 8613 Section 3.1), not empty.
    pub master_secret: &'a [u8],
    /// Master Salt; `None` means absent, that is the empty byte string.
    pub master_salt: Option<&'a [u8]>,
    /// This endpoint's Sender ID (0 to 7 bytes).
    pub sender_id: &'a [u8],
    /// This endpoint's Recipient ID (the peer's Sender ID), different from the Sender ID.
    pub recipient_id: &'a [u8],
    /// ID Context, if any (up to 16 bytes here). A client sends it as 'kid context' in its
    /// requests.
    pub id_context: Option<&'a [u8]>,
    /// The AEAD algorithm (default AES-CCM-16-64-128). The HKDF is always HKDF-SHA-256.
    pub aead: AeadAlgorithm,
    /// Replay window size, 1 to 64 (default 32).
    pub replay_window: u8,
}

impl<'a> ContextParams<'a> {
    /// Parameters with the defaults: no Master Salt, no ID Context, AES-CCM-16-64-128, a replay
    /// window of 32.
    pub const fn new(master_secret: &'a [u8], sender_id: &'a [u8], recipient_id: &'a [u8]) -> Self {
        Self {
            master_secret,
            master_salt: None,
            sender_id,
            recipient_id,
            id_context: None,
            aead: AeadAlgorithm::AesCcm16_64_128,
            replay_window: ReplayWindow::DEFAULT_SIZE,
        }
    }
}

impl fmt::Debug for ContextParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextParams")
            .field("master_secret", &"<redacted>")
            .field("master_salt", &self.master_salt.map(|_| "<redacted>"))
            .field("sender_id", &self.sender_id)
            .field("recipient_id", &self.recipient_id)
            .field("id_context", &self.id_context)
            .field("aead", &self.aead)
            .field("replay_window", &self.replay_window)
            .finish()
    }
}

/// An OSCORE security context (RFC 8613 Section 3.1): the Common Context (algorithm, ID
/// Context, Common IV), the Sender Context (Sender ID and Key, Sender Sequence Number) and the
/// Recipient Context (Recipient ID and Key, replay window).
///
/// Keys are zeroized when the context is dropped and never printed by `Debug`. The Master
/// Secret is not kept: a context is re-derived from it after a restart and then
/// [resumed](SecurityContext::resume) from its [`Storage`].
#[derive(Debug)]
pub struct SecurityContext {
    pub(crate) alg: AeadAlgorithm,
    pub(crate) sender_id: OscoreId,
    pub(crate) recipient_id: OscoreId,
    pub(crate) id_context: Option<IdContext>,
    pub(crate) sender_key: SenderKey,
    pub(crate) recipient_key: RecipientKey,
    pub(crate) common_iv: CommonIv,
    /// The next Sender Sequence Number to use.
    sequence_number: u64,
    /// Sequence numbers below this are covered by the persisted bound; `MAX + 1` when the
    /// context is not persisted.
    sequence_limit: u64,
    /// K of Appendix B.1.1; 0 when the context is not persisted.
    persist_step: u32,
    pub(crate) replay: ReplayWindow,
}

impl SecurityContext {
    /// Derives a context (RFC 8613 Section 3.2): `PRK = HKDF-Extract(Master Salt, Master
    /// Secret)`, then Sender Key, Recipient Key and Common IV by HKDF-Expand with the `info` of
    /// [`super::kdf_info`]. The Sender Sequence Number starts at 0, the replay window empty.
    ///
    /// # Errors
    /// [`OscoreError::InvalidParameters`] for an empty Master Secret, an ID over 7 bytes, equal
    /// Sender and Recipient IDs, an ID Context over 16 bytes or a replay window size outside
    /// 1-64; [`OscoreError::Crypto`] if the provider fails.
    pub fn derive<C: Crypto + ?Sized>(
        crypto: &mut C,
        params: &ContextParams<'_>,
    ) -> Result<Self, OscoreError> {
        if params.master_secret.is_empty() || params.sender_id == params.recipient_id {
            return Err(OscoreError::InvalidParameters);
        }
        let sender_id = OscoreId::new(params.sender_id)?;
        let recipient_id = OscoreId::new(params.recipient_id)?;
        let id_context = params.id_context.map(IdContext::new).transpose()?;
        let replay = ReplayWindow::new(params.replay_window)?;
        let alg = params.aead;
        let prk = crypto.hkdf_extract(params.master_salt.unwrap_or(&[]), params.master_secret);
        let ctx = params.id_context;
        let mut okm = [0u8; AEAD_KEY_LEN];
        expand(
            crypto,
            &prk,
            params.sender_id,
            ctx,
            alg,
            InfoType::Key,
            &mut okm,
        )?;
        let sender_key = SenderKey::from_bytes(okm);
        expand(
            crypto,
            &prk,
            params.recipient_id,
            ctx,
            alg,
            InfoType::Key,
            &mut okm,
        )?;
        let recipient_key = RecipientKey::from_bytes(okm);
        zeroize::Zeroize::zeroize(&mut okm);
        let mut iv = [0u8; AEAD_NONCE_LEN];
        expand(crypto, &prk, &[], ctx, alg, InfoType::Iv, &mut iv)?;
        let common_iv = CommonIv::from_bytes(iv);
        Ok(Self {
            alg,
            sender_id,
            recipient_id,
            id_context,
            sender_key,
            recipient_key,
            common_iv,
            sequence_number: 0,
            sequence_limit: MAX_SEQUENCE_NUMBER + 1,
            persist_step: 0,
            replay,
        })
    }

    /// The AEAD algorithm.
    pub const fn aead(&self) -> AeadAlgorithm {
        self.alg
    }

    /// This endpoint's Sender ID.
    pub const fn sender_id(&self) -> &OscoreId {
        &self.sender_id
    }

    /// This endpoint's Recipient ID (the 'kid' of the peer's requests).
    pub const fn recipient_id(&self) -> &OscoreId {
        &self.recipient_id
    }

    /// The ID Context, if any.
    pub const fn id_context(&self) -> Option<&IdContext> {
        self.id_context.as_ref()
    }

    /// The Sender Key.
    pub const fn sender_key(&self) -> &SenderKey {
        &self.sender_key
    }

    /// The Recipient Key.
    pub const fn recipient_key(&self) -> &RecipientKey {
        &self.recipient_key
    }

    /// The Common IV.
    pub const fn common_iv(&self) -> &CommonIv {
        &self.common_iv
    }

    /// The next Sender Sequence Number.
    pub const fn sender_sequence_number(&self) -> u64 {
        self.sequence_number
    }

    /// The replay window of the Recipient Context.
    pub const fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }

    /// Whether a request with this 'kid' and 'kid context' belongs to this context (the kid is
    /// the Recipient ID; an absent kid context matches any).
    pub fn matches(&self, kid: &[u8], kid_context: Option<&[u8]>) -> bool {
        kid == self.recipient_id.as_slice()
            && match kid_context {
                None => true,
                Some(k) => self.id_context.as_ref().is_some_and(|c| c.as_slice() == k),
            }
    }

    /// Attaches persistent storage and resumes from it (RFC 8613 Appendix B.1.1).
    ///
    /// If `storage` holds a bound, the context was used before a restart: the Sender Sequence
    /// Number resumes at that bound (every number below it may have been used) and the replay
    /// window becomes uninitialized, so the first request is answered with an Echo challenge
    /// (Appendix B.1.2). If it holds nothing, the context is new and keeps its state.
    ///
    /// From then on sequence numbers are reserved in steps of `step` (K):
    /// [`SecurityContext::reserve`] must store `n + K` before number `n` is used.
    ///
    /// # Errors
    /// [`OscoreError::InvalidParameters`] if `step` is 0; [`OscoreError::Storage`] if loading
    /// fails or the stored bound exceeds 2^40.
    pub fn resume<S: Storage + ?Sized>(
        &mut self,
        storage: &mut S,
        step: u32,
    ) -> Result<(), OscoreError> {
        if step == 0 {
            return Err(OscoreError::InvalidParameters);
        }
        if let Some(bound) = storage.load_sequence_bound()? {
            if bound > MAX_SEQUENCE_NUMBER + 1 {
                return Err(StorageError::Corrupt.into());
            }
            self.sequence_number = self.sequence_number.max(bound);
            self.replay.invalidate();
        }
        self.sequence_limit = self.sequence_number;
        self.persist_step = step;
        Ok(())
    }

    /// Makes sure the next Sender Sequence Number is covered by the persisted bound: if it is
    /// not, stores `n + K` first (RFC 8613 Appendix B.1.1). Returns whether it wrote. Call it
    /// before every protect operation of a persisted context; it costs nothing when no write is
    /// due, and only every K-th message writes.
    ///
    /// # Errors
    /// [`OscoreError::SequenceNumberExhausted`] at 2^40; [`OscoreError::Storage`] if storing
    /// fails (then nothing may be sent).
    pub fn reserve<S: Storage + ?Sized>(&mut self, storage: &mut S) -> Result<bool, OscoreError> {
        if self.sequence_number > MAX_SEQUENCE_NUMBER {
            return Err(OscoreError::SequenceNumberExhausted);
        }
        if self.persist_step == 0 || self.sequence_number < self.sequence_limit {
            return Ok(false);
        }
        let bound = self
            .sequence_number
            .saturating_add(u64::from(self.persist_step))
            .min(MAX_SEQUENCE_NUMBER + 1);
        storage.store_sequence_bound(bound)?;
        self.sequence_limit = bound;
        Ok(true)
    }

    /// The Partial IV the next protected message would use.
    pub(crate) fn peek_partial_iv(&self) -> Result<PartialIv, OscoreError> {
        let piv =
            PartialIv::new(self.sequence_number).ok_or(OscoreError::SequenceNumberExhausted)?;
        if self.sequence_number >= self.sequence_limit {
            return Err(OscoreError::SequenceNumberNotPersisted);
        }
        Ok(piv)
    }

    /// Consumes the sequence number [`Self::peek_partial_iv`] returned; called before the
    /// nonce is used, so a failure after this point never leads to reuse.
    pub(crate) fn commit_partial_iv(&mut self) {
        self.sequence_number += 1;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::coap::{DuplicateCache, Retransmission};

    #[test]
    fn contexts_are_small() {
        use core::mem::size_of;
        std::println!(
            "SecurityContext {} B, ReplayWindow {} B, RequestId {} B, OscoreError {} B, \
             Retransmission {} B, DuplicateCache<u32, u16, 8> {} B",
            size_of::<SecurityContext>(),
            size_of::<ReplayWindow>(),
            size_of::<super::super::RequestId>(),
            size_of::<OscoreError>(),
            size_of::<Retransmission>(),
            size_of::<DuplicateCache<u32, u16, 8>>(),
        );
        // The server budget is 512 B per established session (DESIGN.md).
        assert!(size_of::<SecurityContext>() <= 160);
        assert!(size_of::<super::super::RequestId>() <= 24);
    }
}
