//! The EDHOC responder (RFC 9528 Sections 5.2.3, 5.3.1, 5.4.3, 5.5.1) as typestates.
//!
//! ```text
//! Responder --read_message_1--> ResponderGotM1 --write_message_2--> ResponderWaitM3
//!   --read_message_3--> ResponderVerifiedM3 --write_message_4 / established--> Established
//! ```
//! A failed step returns an [`Error`]; answer the peer with
//! [`write_error_message`](super::write_error_message) using [`Error::err_code`].

use crate::cbor::{Decoder, Encoder, MajorType};
use crate::crypto::{
    Crypto, EphemeralSecret, PrivateKey, Prk, PublicKey, HASH_LEN, PUBLIC_KEY_LEN,
};

use super::auth::{self, Covered};
use super::credential::resolve;
use super::ead::{encode_items, EadItem, EadItems};
use super::initiator::{apply_keystream_2, public_key, salted_prk};
use super::kdf::{kdf_prk, TranscriptHash};
use super::message_1::Message1;
use super::message_3::{open_message, seal_message, MAX_PLAINTEXT};
use super::{
    AuthMode, CipherSuite, ConnectionId, Credential, CredentialLookup, Error, Established, IdCred,
    Method, Role, SuiteList, SuiteParameters,
};

/// The responder's configuration: its identity, and what it accepts.
#[derive(Clone, Copy)]
pub struct ResponderConfig<'a> {
    /// Methods we accept.
    pub methods: &'a [Method],
    /// Suites we support, in our order of preference (sent as SUITES_R on ERR_CODE 2).
    pub suites: SuiteList,
    /// Our long-term private key (a handle).
    pub key: &'a dyn PrivateKey,
    /// Our credential CRED_R.
    pub credential: Credential<'a>,
    /// How message_2 identifies our credential.
    pub id_cred: IdCred<'a>,
    /// EAD labels we understand; other critical items abort the handshake.
    pub known_ead: &'a [u16],
}

/// Ready to receive message_1.
pub struct Responder<'a> {
    config: &'a ResponderConfig<'a>,
}

/// What message_1 told us.
#[derive(Debug)]
pub struct Message1Info<'m> {
    /// The method the initiator chose.
    pub method: Method,
    /// The selected cipher suite.
    pub suite: CipherSuite,
    /// C_I: the initiator's connection identifier (our OSCORE Sender ID).
    pub c_i: ConnectionId,
    /// The EAD_1 items we declared known.
    pub ead_1: EadItems<'m>,
}

impl<'a> Responder<'a> {
    /// A responder with the given configuration.
    pub const fn new(config: &'a ResponderConfig<'a>) -> Self {
        Self { config }
    }

    /// Processes message_1 (Section 5.2.3).
    ///
    /// # Errors
    /// [`Error::UnsupportedSuite`] if the selected suite is not supported or an earlier suite in
    /// SUITES_I is (answer ERR_CODE 2 with our suites); [`Error::MethodNotAllowed`];
    /// [`Error::Malformed`]; [`Error::UnknownCriticalEad`].
    pub fn read_message_1<'m, C: Crypto>(
        self,
        crypto: &mut C,
        message: &'m [u8],
    ) -> Result<(ResponderGotM1<'a>, Message1Info<'m>), Error>
    where
        'a: 'm,
    {
        let m1 = Message1::parse(message)?;
        let method = Method::from_id(m1.method)
            .filter(|m| self.config.methods.contains(m))
            .ok_or(Error::MethodNotAllowed(
                u8::try_from(m1.method).unwrap_or(u8::MAX),
            ))?;
        let suite = m1
            .suites
            .last()
            .ok_or(Error::Malformed(crate::cbor::CborError::OutOfRange))?;
        let supported = |s: CipherSuite| s.is_implemented() && self.config.suites.contains(s);
        // The selected suite must be supported, and no suite the initiator prefers to it.
        if !supported(suite)
            || m1
                .suites
                .truncated(m1.suites.len() - 1)
                .iter()
                .any(supported)
        {
            return Err(Error::UnsupportedSuite(suite));
        }
        let params = suite.parameters().ok_or(Error::UnsupportedSuite(suite))?;
        auth::check_own_key(self.config.key, method.responder(), &params)?;
        let g_x = <[u8; PUBLIC_KEY_LEN]>::try_from(m1.g_x)
            .map_err(|_| Error::Malformed(crate::cbor::CborError::OutOfRange))?;
        let ead_1 = EadItems::check(m1.ead, self.config.known_ead)?;
        let h_message_1 = crypto.sha256(&[message]);
        Ok((
            ResponderGotM1 {
                config: self.config,
                method,
                suite,
                params,
                g_x: PublicKey(g_x),
                c_i: m1.c_i,
                h_message_1,
            },
            Message1Info {
                method,
                suite,
                c_i: m1.c_i,
                ead_1,
            },
        ))
    }
}

/// message_1 accepted; ready to send message_2.
pub struct ResponderGotM1<'a> {
    config: &'a ResponderConfig<'a>,
    method: Method,
    suite: CipherSuite,
    params: SuiteParameters,
    g_x: PublicKey,
    c_i: ConnectionId,
    h_message_1: [u8; HASH_LEN],
}

impl<'a> ResponderGotM1<'a> {
    /// Writes message_2 with our connection identifier `c_r` (Section 5.3.1).
    ///
    /// # Errors
    /// [`Error::ConnectionIdCollision`] if `c_r` equals C_I; [`Error::Crypto`] if G_X is not a
    /// valid public key; [`Error::BufferTooSmall`] / [`Error::TooLarge`] if it does not fit.
    pub fn write_message_2<C: Crypto>(
        self,
        crypto: &mut C,
        c_r: ConnectionId,
        ead_2: &[EadItem<'_>],
        out: &mut [u8],
    ) -> Result<(ResponderWaitM3<'a>, usize), Error> {
        if c_r == self.c_i {
            return Err(Error::ConnectionIdCollision);
        }
        let config = self.config;
        let (y, g_y) = crypto.generate_ephemeral(self.params.curve)?;
        let th_2 = TranscriptHash::th_2(crypto, &g_y.0, &self.h_message_1);
        let g_xy = crypto.ephemeral_dh(self.params.curve, &y, &self.g_x)?;
        let prk_2e = crypto.hkdf_extract(&th_2.0, g_xy.as_bytes());
        drop(g_xy);
        let mode = self.method.responder();
        let g_rx = match mode {
            AuthMode::StaticDh => Some(config.key.diffie_hellman(&self.g_x)?),
            AuthMode::Signature => None,
        };
        let prk_3e2m = salted_prk(crypto, &prk_2e, 1, &th_2, g_rx.as_ref())?;
        drop(g_rx);

        let mut ead = [0u8; MAX_PLAINTEXT];
        let mut e = Encoder::new(&mut ead);
        encode_items(ead_2, &mut e).map_err(|_| Error::TooLarge)?;
        let ead_len = e.finish();
        let ead = &ead[..ead_len];

        let mut c_r_encoded = [0u8; ConnectionId::MAX_LEN + 1];
        let c_r_len = c_r.encoded(&mut c_r_encoded);
        let covered = Covered {
            c_r: &c_r_encoded[..c_r_len],
            id_cred: config.id_cred,
            th: &th_2,
            credential: config.credential,
            ead,
        };
        let sig_or_mac = auth::sign_or_mac(
            crypto,
            mode,
            &self.params,
            &prk_3e2m,
            2,
            &covered,
            config.key,
        )?;

        // message_2 = bstr(G_Y || CIPHERTEXT_2), CIPHERTEXT_2 = PLAINTEXT_2 XOR KEYSTREAM_2.
        let mut plaintext = [0u8; MAX_PLAINTEXT];
        let mut e = Encoder::new(&mut plaintext);
        e.raw(&c_r_encoded[..c_r_len])
            .map_err(|_| Error::TooLarge)?;
        config
            .id_cred
            .encode_plaintext(&mut e)
            .map_err(|_| Error::TooLarge)?;
        e.bytes(sig_or_mac.as_slice())
            .map_err(|_| Error::TooLarge)?;
        e.raw(ead).map_err(|_| Error::TooLarge)?;
        let plaintext_len = e.finish();
        let th_3 = th_2.next(crypto, &plaintext[..plaintext_len], &config.credential);

        let mut e = Encoder::new(out);
        e.head(MajorType::Bytes, (PUBLIC_KEY_LEN + plaintext_len) as u64)?;
        e.raw(&g_y.0)?;
        let start = e.len();
        e.raw(&plaintext[..plaintext_len])?;
        let len = e.finish();
        zeroize::Zeroize::zeroize(&mut plaintext);
        apply_keystream_2(crypto, &prk_2e, &th_2, &mut out[start..len])?;

        Ok((
            ResponderWaitM3 {
                config,
                method: self.method,
                suite: self.suite,
                params: self.params,
                c_i: self.c_i,
                c_r,
                y,
                th_3,
                prk_3e2m,
            },
            len,
        ))
    }
}

/// message_2 sent; waiting for message_3.
pub struct ResponderWaitM3<'a> {
    config: &'a ResponderConfig<'a>,
    method: Method,
    suite: CipherSuite,
    params: SuiteParameters,
    c_i: ConnectionId,
    c_r: ConnectionId,
    y: EphemeralSecret,
    th_3: TranscriptHash,
    prk_3e2m: Prk,
}

/// What message_3 told us.
#[derive(Debug)]
pub struct Message3Info<'m> {
    /// ID_CRED_I: which credential the initiator authenticated with.
    pub id_cred_i: IdCred<'m>,
    /// The EAD_3 items we declared known.
    pub ead_3: EadItems<'m>,
}

impl<'a> ResponderWaitM3<'a> {
    /// C_I, C_R: to route the initiator's next message to this state.
    pub const fn connection_ids(&self) -> (ConnectionId, ConnectionId) {
        (self.c_i, self.c_r)
    }

    /// Processes message_3, decrypting it in place, resolving and verifying the initiator's
    /// credential (Section 5.4.3).
    ///
    /// # Errors
    /// [`Error::DecryptionFailed`], [`Error::UnknownCredential`], [`Error::CredentialMismatch`],
    /// [`Error::AuthenticationFailed`], [`Error::Malformed`], [`Error::UnknownCriticalEad`];
    /// [`Error::Peer`] if the initiator sent an error message.
    pub fn read_message_3<'m, C: Crypto, L: CredentialLookup + ?Sized>(
        self,
        crypto: &mut C,
        lookup: &mut L,
        message: &'m mut [u8],
    ) -> Result<(ResponderVerifiedM3, Message3Info<'m>), Error>
    where
        'a: 'm,
    {
        if super::error_message::is_error_message(message) {
            return Err(super::ErrorMessage::parse(message)?.to_error());
        }
        let plaintext = open_message(
            crypto,
            &self.params,
            &self.prk_3e2m,
            (3, 4),
            &self.th_3,
            message,
        )?;
        let mut d = Decoder::new(plaintext);
        let id_cred_i = IdCred::decode_plaintext(&mut d)?;
        let signature_or_mac = d.bytes()?;
        let ead_bytes = d.remaining();
        let ead_3 = EadItems::check(ead_bytes, self.config.known_ead)?;

        let credential = resolve(crypto, lookup, &id_cred_i)?;
        let mode = self.method.initiator();
        auth::check_peer_credential(&credential, mode, &self.params)?;
        let g_iy = match mode {
            AuthMode::StaticDh => {
                Some(crypto.ephemeral_dh(self.params.curve, &self.y, &public_key(&credential)?)?)
            }
            AuthMode::Signature => None,
        };
        let prk_4e3m = salted_prk(crypto, &self.prk_3e2m, 5, &self.th_3, g_iy.as_ref())?;
        drop(g_iy);
        let covered = Covered {
            c_r: &[],
            id_cred: id_cred_i,
            th: &self.th_3,
            credential,
            ead: ead_bytes,
        };
        auth::verify_sign_or_mac(
            crypto,
            mode,
            &self.params,
            &prk_4e3m,
            6,
            &covered,
            signature_or_mac,
        )?;

        let th_4 = self.th_3.next(crypto, plaintext, &credential);
        let prk_out = kdf_prk(crypto, &prk_4e3m, 7, &[&th_4.0])?;
        let established = Established::new(
            crypto,
            Role::Responder,
            self.suite,
            self.c_i,
            self.c_r,
            prk_out,
        )?;
        Ok((
            ResponderVerifiedM3 {
                params: self.params,
                th_4,
                prk_4e3m,
                established,
            },
            Message3Info { id_cred_i, ead_3 },
        ))
    }
}

/// message_3 verified: the initiator is authenticated and the session keys are established.
pub struct ResponderVerifiedM3 {
    params: SuiteParameters,
    th_4: TranscriptHash,
    prk_4e3m: Prk,
    established: Established,
}

impl ResponderVerifiedM3 {
    /// Writes message_4 (Section 5.5.1) and returns the session.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] / [`Error::TooLarge`] if it does not fit.
    pub fn write_message_4<C: Crypto>(
        self,
        crypto: &mut C,
        ead_4: &[EadItem<'_>],
        out: &mut [u8],
    ) -> Result<(Established, usize), Error> {
        let mut plaintext = [0u8; MAX_PLAINTEXT];
        let mut e = Encoder::new(&mut plaintext);
        encode_items(ead_4, &mut e).map_err(|_| Error::TooLarge)?;
        let n = e.finish();
        let len = seal_message(
            crypto,
            &self.params,
            &self.prk_4e3m,
            (8, 9),
            &self.th_4,
            &plaintext[..n],
            out,
        )?;
        Ok((self.established, len))
    }

    /// The session, without sending message_4.
    pub fn established(self) -> Established {
        self.established
    }
}
