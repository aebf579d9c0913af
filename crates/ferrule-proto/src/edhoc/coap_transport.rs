//! EDHOC over CoAP (RFC 9528 Appendix A.2): the client (here always the initiator) POSTs to
//! `/.well-known/edhoc`; the request payload is message_1 prefixed with CBOR `true`, or a later
//! message (message_3, an error message) prefixed with C_R so the server can find the handshake.
//! Responses carry message_2 / message_4 / error messages without prefix.

use crate::cbor::{Decoder, Encoder, TRUE};

use super::{ConnectionId, Error};

/// The Uri-Path segments of the EDHOC resource.
pub const EDHOC_URI_PATH: [&str; 2] = [".well-known", "edhoc"];
/// Content-Format `application/edhoc+cbor-seq` (RFC 9528 Section 10.9): responses.
pub const CONTENT_FORMAT_EDHOC: u16 = 64;
/// Content-Format `application/cid-edhoc+cbor-seq`: requests, prefixed with `true` or C_R.
pub const CONTENT_FORMAT_CID_EDHOC: u16 = 65;

/// What an EDHOC request carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EdhocRequest<'a> {
    /// A new handshake: message_1.
    Message1(&'a [u8]),
    /// A message of an ongoing handshake (message_3 or an error message), for the responder
    /// whose C_R is given; the message starts at `offset` in the payload.
    Continue {
        /// The responder's connection identifier.
        c_r: ConnectionId,
        /// Where the EDHOC message starts in the payload.
        offset: usize,
    },
}

impl<'a> EdhocRequest<'a> {
    /// Reads a request payload.
    ///
    /// # Errors
    /// [`Error::Malformed`] if it starts with neither `true` nor a connection identifier, or has
    /// nothing after the prefix.
    pub fn parse(payload: &'a [u8]) -> Result<Self, Error> {
        let request = match payload.first() {
            Some(&TRUE) => Self::Message1(&payload[1..]),
            _ => {
                let mut d = Decoder::new(payload);
                let c_r = ConnectionId::decode(&mut d)?;
                Self::Continue {
                    c_r,
                    offset: d.position(),
                }
            }
        };
        let rest = match request {
            Self::Message1(m) => m.len(),
            Self::Continue { offset, .. } => payload.len() - offset,
        };
        if rest == 0 {
            return Err(Error::Malformed(crate::cbor::CborError::Truncated));
        }
        Ok(request)
    }
}

/// Writes `true || message_1`; returns the length.
///
/// # Errors
/// [`Error::BufferTooSmall`] if it does not fit.
pub fn write_message_1_request(message_1: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    let mut e = Encoder::new(out);
    e.bool(true)?.raw(message_1)?;
    Ok(e.finish())
}

/// Writes `C_R || message` (message_3 or an error message); returns the length.
///
/// # Errors
/// [`Error::BufferTooSmall`] if it does not fit.
pub fn write_continue_request(
    c_r: &ConnectionId,
    message: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    let mut e = Encoder::new(out);
    c_r.encode(&mut e)?;
    e.raw(message)?;
    Ok(e.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_round_trip() {
        let mut buf = [0u8; 16];
        let n = write_message_1_request(&[3, 2], &mut buf).unwrap();
        assert_eq!(
            EdhocRequest::parse(&buf[..n]).unwrap(),
            EdhocRequest::Message1(&[3, 2])
        );
        let c_r = ConnectionId::from_int(-8).unwrap();
        let n = write_continue_request(&c_r, &[0x41, 9], &mut buf).unwrap();
        assert_eq!(
            EdhocRequest::parse(&buf[..n]).unwrap(),
            EdhocRequest::Continue { c_r, offset: 1 }
        );
        assert!(EdhocRequest::parse(&[0xf5]).is_err());
        assert!(EdhocRequest::parse(&[]).is_err());
        assert!(EdhocRequest::parse(&[0x27]).is_err());
    }
}
