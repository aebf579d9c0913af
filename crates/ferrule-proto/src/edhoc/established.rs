//! A completed handshake: PRK_out, the EDHOC_Exporter, the OSCORE parameters and
//! EDHOC_KeyUpdate (RFC 9528 Section 4.2 and Appendices A.1 and H).

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{Crypto, Prk};

use super::kdf::{edhoc_kdf, kdf_prk};
use super::{CipherSuite, ConnectionId, Error};

/// Which side of the handshake we were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The initiator (the CoAP client, in the OSCORE mapping of Appendix A.1).
    Initiator,
    /// The responder (the CoAP server).
    Responder,
}

/// The established session keys. Secrets are zeroized on drop and redacted in `Debug`.
#[derive(Debug)]
pub struct Established {
    role: Role,
    suite: CipherSuite,
    c_i: ConnectionId,
    c_r: ConnectionId,
    prk_out: Prk,
    prk_exporter: Prk,
}

/// OSCORE input parameters derived from EDHOC (RFC 9528 Appendix A.1): 16-byte Master Secret and
/// 8-byte Master Salt, and the Sender and Recipient IDs of this side.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct OscoreParameters {
    /// OSCORE Master Secret = EDHOC_Exporter(0, h'', 16).
    pub master_secret: [u8; 16],
    /// OSCORE Master Salt = EDHOC_Exporter(1, h'', 8).
    pub master_salt: [u8; 8],
    /// Our OSCORE Sender ID: C_R for the initiator, C_I for the responder.
    #[zeroize(skip)]
    pub sender_id: ConnectionId,
    /// Our OSCORE Recipient ID: C_I for the initiator, C_R for the responder.
    #[zeroize(skip)]
    pub recipient_id: ConnectionId,
}

impl core::fmt::Debug for OscoreParameters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OscoreParameters")
            .field("master_secret", &"<redacted>")
            .field("master_salt", &"<redacted>")
            .field("sender_id", &self.sender_id)
            .field("recipient_id", &self.recipient_id)
            .finish()
    }
}

/// EDHOC_Exporter label for the OSCORE Master Secret (Appendix A.1).
pub const EXPORTER_OSCORE_MASTER_SECRET: u64 = 0;
/// EDHOC_Exporter label for the OSCORE Master Salt (Appendix A.1).
pub const EXPORTER_OSCORE_MASTER_SALT: u64 = 1;

impl Established {
    pub(crate) fn new<C: Crypto>(
        crypto: &mut C,
        role: Role,
        suite: CipherSuite,
        c_i: ConnectionId,
        c_r: ConnectionId,
        prk_out: Prk,
    ) -> Result<Self, Error> {
        let prk_exporter = kdf_prk(crypto, &prk_out, 10, &[])?;
        Ok(Self {
            role,
            suite,
            c_i,
            c_r,
            prk_out,
            prk_exporter,
        })
    }

    /// Our role.
    pub const fn role(&self) -> Role {
        self.role
    }

    /// The selected cipher suite.
    pub const fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// C_I.
    pub const fn c_i(&self) -> ConnectionId {
        self.c_i
    }

    /// C_R.
    pub const fn c_r(&self) -> ConnectionId {
        self.c_r
    }

    /// PRK_out (Section 4.1.3): the root of every key derived from this session.
    pub const fn prk_out(&self) -> &Prk {
        &self.prk_out
    }

    /// EDHOC_Exporter(label, context, length) = EDHOC_KDF(PRK_exporter, label, context, length)
    /// (Section 4.2.1), written into `out` (its length is `length`).
    ///
    /// # Errors
    /// [`Error::Crypto`] if `out` is longer than HKDF can produce.
    pub fn exporter<C: Crypto>(
        &self,
        crypto: &mut C,
        label: u64,
        context: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        edhoc_kdf(crypto, &self.prk_exporter, label, &[context], out)
    }

    /// The OSCORE parameters for this side (Appendix A.1).
    ///
    /// # Errors
    /// Only if the crypto provider fails.
    pub fn oscore_parameters<C: Crypto>(&self, crypto: &mut C) -> Result<OscoreParameters, Error> {
        let (sender_id, recipient_id) = match self.role {
            Role::Initiator => (self.c_r, self.c_i),
            Role::Responder => (self.c_i, self.c_r),
        };
        let mut params = OscoreParameters {
            master_secret: [0; 16],
            master_salt: [0; 8],
            sender_id,
            recipient_id,
        };
        self.exporter(
            crypto,
            EXPORTER_OSCORE_MASTER_SECRET,
            &[],
            &mut params.master_secret,
        )?;
        self.exporter(
            crypto,
            EXPORTER_OSCORE_MASTER_SALT,
            &[],
            &mut params.master_salt,
        )?;
        Ok(params)
    }

    /// EDHOC_KeyUpdate(context) (Appendix H): PRK_out = EDHOC_KDF(PRK_out, 11, context, hash_length),
    /// then PRK_exporter is derived again. Both peers must call it with the same context.
    ///
    /// # Errors
    /// Only if the crypto provider fails.
    pub fn key_update<C: Crypto>(&mut self, crypto: &mut C, context: &[u8]) -> Result<(), Error> {
        self.prk_out = kdf_prk(crypto, &self.prk_out, 11, &[context])?;
        self.prk_exporter = kdf_prk(crypto, &self.prk_out, 10, &[])?;
        Ok(())
    }
}
