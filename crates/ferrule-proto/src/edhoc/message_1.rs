//! message_1 (RFC 9528 Section 5.2.1): `(METHOD, SUITES_I, G_X, C_I, ? EAD_1)`.

use crate::cbor::{Decoder, Encoder};

use super::error_message::{decode_suites, encode_suites};
use super::{ConnectionId, Error, SuiteList};

/// A parsed or to-be-written message_1, borrowing from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message1<'a> {
    /// METHOD, as sent (validated by the responder, not the parser).
    pub method: i64,
    /// SUITES_I: the initiator's suites in order of preference, the selected one last.
    pub suites: SuiteList,
    /// G_X, the initiator's ephemeral public key.
    pub g_x: &'a [u8],
    /// C_I.
    pub c_i: ConnectionId,
    /// EAD_1, the raw CBOR sequence (possibly empty).
    pub ead: &'a [u8],
}

impl<'a> Message1<'a> {
    /// Parses a complete message_1.
    ///
    /// # Errors
    /// [`Error::Malformed`] if it does not parse.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut d = Decoder::new(bytes);
        let method = d.i64()?;
        let suites = decode_suites(&mut d)?;
        let g_x = d.bytes()?;
        let c_i = ConnectionId::decode(&mut d)?;
        let ead = d.remaining();
        Ok(Self {
            method,
            suites,
            g_x,
            c_i,
            ead,
        })
    }

    /// Writes the message; returns its length.
    ///
    /// # Errors
    /// [`Error::BufferTooSmall`] if it does not fit.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut e = Encoder::new(out);
        e.i64(self.method)?;
        encode_suites(&self.suites, &mut e)?;
        e.bytes(self.g_x)?;
        self.c_i.encode(&mut e)?;
        e.raw(self.ead)?;
        Ok(e.finish())
    }
}
