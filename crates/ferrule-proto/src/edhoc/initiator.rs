//! The EDHOC initiator (RFC 9528 Sections 5.2.1, 5.3.3, 5.4.1, 5.5.3) as typestates: each step
//! consumes the previous state, so a step cannot be repeated or skipped.
//!
//! ```text
//! Initiator --write_message_1--> InitiatorWaitM2 --read_message_2--> InitiatorVerifiedM2
//!   --write_message_3--> InitiatorWaitM4 --read_message_4 / established--> Established
//! ```

use crate::cbor::{Decoder, Encoder, MajorType};
use crate::crypto::{
    Crypto, EphemeralSecret, PrivateKey, Prk, PublicKey, HASH_LEN, PUBLIC_KEY_LEN,
};

use super::auth::{self, Covered};
use super::credential::resolve;
use super::ead::{encode_items, EadItem, EadItems};
use super::error_message::{is_error_message, ErrorMessage};
use super::kdf::{edhoc_kdf, kdf_prk, TranscriptHash};
use super::message_1::Message1;
use super::message_3::{open_message, seal_message, MAX_PLAINTEXT};
use super::{
    AuthMode, CipherSuite, ConnectionId, Credential, CredentialLookup, Error, Established, IdCred,
    Method, Role, SuiteList, SuiteParameters,
};

/// The initiator's configuration: its identity, method and suite preferences.
#[derive(Clone, Copy)]
pub struct InitiatorConfig<'a> {
    /// The method to use.
    pub method: Method,
    /// Suites in order of preference (most preferred first). Suites not implemented may be
    /// listed; they are never selected.
    pub suites: SuiteList,
    /// C_I: our connection identifier.
    pub c_i: ConnectionId,
    /// Our long-term private key (a handle).
    pub key: &'a dyn PrivateKey,
    /// Our credential CRED_I.
    pub credential: Credential<'a>,
    /// How message_3 identifies our credential.
    pub id_cred: IdCred<'a>,
    /// EAD labels we understand; other critical items abort the handshake.
    pub known_ead: &'a [u16],
}

/// Ready to send message_1.
pub struct Initiator<'a> {
    config: &'a InitiatorConfig<'a>,
    suites_i: SuiteList,
    suite: CipherSuite,
    params: SuiteParameters,
}

fn selection(
    prefs: &SuiteList,
    selected: CipherSuite,
) -> Result<(SuiteList, SuiteParameters), Error> {
    let pos = prefs.position(selected).ok_or(Error::NoCommonSuite)?;
    let params = selected.parameters().ok_or(Error::NoCommonSuite)?;
    // SUITES_I: our preferences truncated after the selected suite (Section 5.2.2).
    Ok((prefs.truncated(pos + 1), params))
}

impl<'a> Initiator<'a> {
    /// Starts a handshake with our most preferred implemented suite.
    ///
    /// # Errors
    /// [`Error::NoCommonSuite`] if no preferred suite is implemented; [`Error::KeyMismatch`] if our
    /// key cannot authenticate with the method and suite.
    pub fn new(config: &'a InitiatorConfig<'a>) -> Result<Self, Error> {
        let selected = config
            .suites
            .iter()
            .find(|s| s.is_implemented())
            .ok_or(Error::NoCommonSuite)?;
        Self::with_suite(config, selected)
    }

    /// Starts a handshake with a given suite from our preferences.
    ///
    /// # Errors
    /// As [`Initiator::new`].
    pub fn with_suite(
        config: &'a InitiatorConfig<'a>,
        selected: CipherSuite,
    ) -> Result<Self, Error> {
        let (suites_i, params) = selection(&config.suites, selected)?;
        auth::check_own_key(config.key, config.method.initiator(), &params)?;
        Ok(Self {
            config,
            suites_i,
            suite: selected,
            params,
        })
    }

    /// Starts again after the responder rejected our selection with ERR_CODE 2: selects our most
    /// preferred suite among SUITES_R (Section 6.3.2).
    ///
    /// # Errors
    /// [`Error::NoCommonSuite`] if SUITES_R has no suite we can use.
    pub fn after_suite_error(
        config: &'a InitiatorConfig<'a>,
        suites_r: &SuiteList,
    ) -> Result<Self, Error> {
        let selected = config
            .suites
            .iter()
            .find(|s| s.is_implemented() && suites_r.contains(*s))
            .ok_or(Error::NoCommonSuite)?;
        Self::with_suite(config, selected)
    }

    /// The selected suite.
    pub const fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Writes message_1 into `out`, returning the next state and the message length.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] if `out` is too small; [`Error::Crypto`] if key generation fails.
    pub fn write_message_1<C: Crypto>(
        self,
        crypto: &mut C,
        ead_1: &[EadItem<'_>],
        out: &mut [u8],
    ) -> Result<(InitiatorWaitM2<'a>, usize), Error> {
        let (x, g_x) = crypto.generate_ephemeral(self.params.curve)?;
        let mut ead = [0u8; MAX_PLAINTEXT];
        let mut e = Encoder::new(&mut ead);
        encode_items(ead_1, &mut e).map_err(|_| Error::TooLarge)?;
        let ead_len = e.finish();
        let message = Message1 {
            method: i64::from(self.config.method.id()),
            suites: self.suites_i,
            g_x: &g_x.0,
            c_i: self.config.c_i,
            ead: &ead[..ead_len],
        };
        let len = message.encode(out)?;
        let h_message_1 = crypto.sha256(&[&out[..len]]);
        Ok((
            InitiatorWaitM2 {
                config: self.config,
                suite: self.suite,
                params: self.params,
                x,
                h_message_1,
            },
            len,
        ))
    }
}

/// message_1 sent; waiting for message_2 (or an error message).
pub struct InitiatorWaitM2<'a> {
    config: &'a InitiatorConfig<'a>,
    suite: CipherSuite,
    params: SuiteParameters,
    x: EphemeralSecret,
    h_message_1: [u8; HASH_LEN],
}

/// What message_2 told us, borrowed from the decrypted message.
#[derive(Debug)]
pub struct Message2Info<'m> {
    /// C_R: the responder's connection identifier (our OSCORE Sender ID).
    pub c_r: ConnectionId,
    /// ID_CRED_R: which credential the responder authenticated with.
    pub id_cred_r: IdCred<'m>,
    /// The EAD_2 items we declared known.
    pub ead_2: EadItems<'m>,
}

/// Splits message_2 = bstr(G_Y || CIPHERTEXT_2) into its content range.
pub(crate) fn message_2_content(message: &[u8]) -> Result<(usize, usize), Error> {
    let mut d = Decoder::new(message);
    let content = d.bytes()?;
    d.finish()?;
    let start = message.len() - content.len();
    if content.len() <= PUBLIC_KEY_LEN {
        return Err(Error::Malformed(crate::cbor::CborError::Truncated));
    }
    Ok((start, message.len()))
}

/// KEYSTREAM_2 = EDHOC_KDF(PRK_2e, 0, TH_2, plaintext_length), XORed into `buffer` (Section 5.3.2).
pub(crate) fn apply_keystream_2<C: Crypto>(
    crypto: &mut C,
    prk_2e: &Prk,
    th_2: &TranscriptHash,
    buffer: &mut [u8],
) -> Result<(), Error> {
    let mut keystream = [0u8; MAX_PLAINTEXT];
    let keystream = keystream.get_mut(..buffer.len()).ok_or(Error::TooLarge)?;
    edhoc_kdf(crypto, prk_2e, 0, &[&th_2.0], keystream)?;
    for (b, k) in buffer.iter_mut().zip(keystream.iter_mut()) {
        *b ^= *k;
        *k = 0;
    }
    Ok(())
}

/// PRK_3e2m (Section 4.1.1.2): PRK_2e when the responder signs, else
/// HKDF-Extract(SALT_3e2m, G_RX) with SALT_3e2m = EDHOC_KDF(PRK_2e, 1, TH_2, hash_length).
pub(crate) fn salted_prk<C: Crypto>(
    crypto: &mut C,
    prk: &Prk,
    label: u64,
    th: &TranscriptHash,
    dh: Option<&crate::crypto::SharedSecret>,
) -> Result<Prk, Error> {
    match dh {
        None => Ok(prk.clone()),
        Some(shared) => {
            let salt = kdf_prk(crypto, prk, label, &[&th.0])?;
            Ok(crypto.hkdf_extract(salt.as_bytes(), shared.as_bytes()))
        }
    }
}

impl<'a> InitiatorWaitM2<'a> {
    /// The selected suite.
    pub const fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Processes message_2, decrypting it in place, resolving and verifying the responder's
    /// credential.
    ///
    /// # Errors
    /// [`Error::Peer`] if the responder sent an error message (for ERR_CODE 2, retry with
    /// [`Initiator::after_suite_error`] and the SUITES_R that [`ErrorMessage::parse`] reads from
    /// `message`, which is left unaltered); [`Error::Malformed`], [`Error::UnknownCredential`],
    /// [`Error::CredentialMismatch`], [`Error::AuthenticationFailed`],
    /// [`Error::UnknownCriticalEad`] as their names say.
    pub fn read_message_2<'m, C: Crypto, L: CredentialLookup + ?Sized>(
        self,
        crypto: &mut C,
        lookup: &mut L,
        message: &'m mut [u8],
    ) -> Result<(InitiatorVerifiedM2<'a>, Message2Info<'m>), Error>
    where
        'a: 'm,
    {
        if is_error_message(message) {
            return Err(ErrorMessage::parse(message)?.to_error());
        }
        let (start, end) = message_2_content(message)?;
        let (head_and_gy, ciphertext) = message[..end].split_at_mut(start + PUBLIC_KEY_LEN);
        let mut g_y = [0u8; PUBLIC_KEY_LEN];
        g_y.copy_from_slice(&head_and_gy[start..]);
        let g_y = PublicKey(g_y);

        let th_2 = TranscriptHash::th_2(crypto, &g_y.0, &self.h_message_1);
        let g_xy = crypto.ephemeral_dh(self.params.curve, &self.x, &g_y)?;
        let prk_2e = crypto.hkdf_extract(&th_2.0, g_xy.as_bytes());
        drop(g_xy);
        apply_keystream_2(crypto, &prk_2e, &th_2, ciphertext)?;
        let message: &'m [u8] = message;
        let plaintext = &message[start + PUBLIC_KEY_LEN..end];

        // PLAINTEXT_2 = (C_R, ID_CRED_R / bstr / -24..23, Signature_or_MAC_2, ? EAD_2)
        let mut d = Decoder::new(plaintext);
        let c_r_start = d.position();
        let c_r = ConnectionId::decode(&mut d)?;
        let c_r_encoded = &plaintext[c_r_start..d.position()];
        let id_cred_r = IdCred::decode_plaintext(&mut d)?;
        let signature_or_mac = d.bytes()?;
        let ead_bytes = d.remaining();
        let ead_2 = EadItems::check(ead_bytes, self.config.known_ead)?;

        let credential = resolve(crypto, lookup, &id_cred_r)?;
        let responder_mode = self.config.method.responder();
        auth::check_peer_credential(&credential, responder_mode, &self.params)?;

        let g_rx = match responder_mode {
            AuthMode::StaticDh => {
                Some(crypto.ephemeral_dh(self.params.curve, &self.x, &public_key(&credential)?)?)
            }
            AuthMode::Signature => None,
        };
        let prk_3e2m = salted_prk(crypto, &prk_2e, 1, &th_2, g_rx.as_ref())?;
        drop(g_rx);

        let covered = Covered {
            c_r: c_r_encoded,
            id_cred: id_cred_r,
            th: &th_2,
            credential,
            ead: ead_bytes,
        };
        auth::verify_sign_or_mac(
            crypto,
            responder_mode,
            &self.params,
            &prk_3e2m,
            2,
            &covered,
            signature_or_mac,
        )?;

        let th_3 = th_2.next(crypto, plaintext, &credential);
        let g_iy = match self.config.method.initiator() {
            AuthMode::StaticDh => Some(self.config.key.diffie_hellman(&g_y)?),
            AuthMode::Signature => None,
        };
        let prk_4e3m = salted_prk(crypto, &prk_3e2m, 5, &th_3, g_iy.as_ref())?;
        drop(g_iy);

        Ok((
            InitiatorVerifiedM2 {
                config: self.config,
                suite: self.suite,
                params: self.params,
                c_r,
                th_3,
                prk_3e2m,
                prk_4e3m,
            },
            Message2Info {
                c_r,
                id_cred_r,
                ead_2,
            },
        ))
    }
}

/// The static DH public key of a peer credential.
pub(crate) fn public_key(credential: &Credential<'_>) -> Result<PublicKey, Error> {
    let mut key = [0u8; PUBLIC_KEY_LEN];
    if credential.public_x().len() != PUBLIC_KEY_LEN {
        return Err(Error::CredentialMismatch);
    }
    key.copy_from_slice(credential.public_x());
    Ok(PublicKey(key))
}

/// message_2 verified; ready to send message_3.
pub struct InitiatorVerifiedM2<'a> {
    config: &'a InitiatorConfig<'a>,
    suite: CipherSuite,
    params: SuiteParameters,
    c_r: ConnectionId,
    th_3: TranscriptHash,
    prk_3e2m: Prk,
    prk_4e3m: Prk,
}

impl<'a> InitiatorVerifiedM2<'a> {
    /// Writes message_3 into `out`, returning the next state and the message length.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] or [`Error::TooLarge`] if it does not fit; [`Error::KeyMismatch`]
    /// if our key fails to sign or do DH.
    pub fn write_message_3<C: Crypto>(
        self,
        crypto: &mut C,
        ead_3: &[EadItem<'_>],
        out: &mut [u8],
    ) -> Result<(InitiatorWaitM4, usize), Error> {
        let config = self.config;
        let mut ead = [0u8; MAX_PLAINTEXT];
        let mut e = Encoder::new(&mut ead);
        encode_items(ead_3, &mut e).map_err(|_| Error::TooLarge)?;
        let ead_len = e.finish();
        let ead = &ead[..ead_len];

        let mode = config.method.initiator();
        let covered = Covered {
            c_r: &[],
            id_cred: config.id_cred,
            th: &self.th_3,
            credential: config.credential,
            ead,
        };
        let sig_or_mac = auth::sign_or_mac(
            crypto,
            mode,
            &self.params,
            &self.prk_4e3m,
            6,
            &covered,
            config.key,
        )?;

        // PLAINTEXT_3 = (ID_CRED_I / bstr / -24..23, Signature_or_MAC_3, ? EAD_3)
        let mut plaintext = [0u8; MAX_PLAINTEXT];
        let mut e = Encoder::new(&mut plaintext);
        config
            .id_cred
            .encode_plaintext(&mut e)
            .map_err(|_| Error::TooLarge)?;
        e.bytes(sig_or_mac.as_slice())
            .map_err(|_| Error::TooLarge)?;
        e.raw(ead).map_err(|_| Error::TooLarge)?;
        let plaintext_len = e.finish();

        let th_4 = self
            .th_3
            .next(crypto, &plaintext[..plaintext_len], &config.credential);
        let len = seal_message(
            crypto,
            &self.params,
            &self.prk_3e2m,
            (3, 4),
            &self.th_3,
            &plaintext[..plaintext_len],
            out,
        )?;
        zeroize::Zeroize::zeroize(&mut plaintext);

        let prk_out = kdf_prk(crypto, &self.prk_4e3m, 7, &[&th_4.0])?;
        let established = Established::new(
            crypto,
            Role::Initiator,
            self.suite,
            config.c_i,
            self.c_r,
            prk_out,
        )?;
        Ok((
            InitiatorWaitM4 {
                params: self.params,
                th_4,
                prk_4e3m: self.prk_4e3m,
                established,
            },
            len,
        ))
    }
}

/// message_3 sent. The session keys are available; message_4 (if the application uses it)
/// confirms that the responder derived them too.
pub struct InitiatorWaitM4 {
    params: SuiteParameters,
    th_4: TranscriptHash,
    prk_4e3m: Prk,
    established: Established,
}

impl InitiatorWaitM4 {
    /// Processes message_4, decrypting it in place (Section 5.5.3), and returns the session and
    /// the known EAD_4 items.
    ///
    /// # Errors
    /// [`Error::Peer`] for an error message, [`Error::DecryptionFailed`] if it does not verify,
    /// [`Error::Malformed`] or [`Error::UnknownCriticalEad`].
    pub fn read_message_4<'m, C: Crypto>(
        self,
        crypto: &mut C,
        known_ead: &'m [u16],
        message: &'m mut [u8],
    ) -> Result<(Established, EadItems<'m>), Error> {
        if is_error_message(message) {
            return Err(ErrorMessage::parse(message)?.to_error());
        }
        let plaintext = open_message(
            crypto,
            &self.params,
            &self.prk_4e3m,
            (8, 9),
            &self.th_4,
            message,
        )?;
        let ead = EadItems::check(plaintext, known_ead)?;
        Ok((self.established, ead))
    }

    /// The session, without waiting for message_4 (key confirmation then comes from the first
    /// OSCORE response, Section 5.4.2).
    pub fn established(self) -> Established {
        self.established
    }

    /// The session keys, available as soon as message_3 is sent.
    pub const fn session(&self) -> &Established {
        &self.established
    }
}

/// Whether a major type can start message_2 (a byte string).
#[allow(dead_code)]
pub(crate) fn starts_like_message(message: &[u8]) -> bool {
    matches!(Decoder::new(message).peek_type(), Some(MajorType::Bytes))
}
