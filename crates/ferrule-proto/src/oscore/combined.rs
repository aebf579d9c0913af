//! The EDHOC + OSCORE combined request (RFC 9668 Section 3): EDHOC message_3 travels in the
//! first OSCORE-protected request, which saves a round trip.
//!
//! The client protects its request with the new OSCORE context as usual, then adds the EDHOC
//! option (21, empty) and prepends message_3 to the payload:
//! `COMB_PAYLOAD = EDHOC_MSG_3 || OSCORE_PAYLOAD` (Section 3.2.1). The EDHOC option is a
//! class U option, so it is not part of the OSCORE AAD and the protected request stays valid.
//! The server takes message_3 out, completes EDHOC, derives the OSCORE context and verifies the
//! remaining OSCORE request (Section 3.3.1).

use crate::cbor::Decoder;
use crate::coap::{CoapError, CoapOption, Message, MessageWriter, OptionNumber};

/// Why a combined request could not be built or split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CombinedError {
    /// The CoAP message is malformed or does not fit.
    Coap(CoapError),
    /// The request carries the EDHOC option but no OSCORE option (RFC 9668 Section 3.3.1).
    NotOscore,
    /// The payload does not start with a CBOR byte string (message_3), or nothing follows it.
    InvalidPayload,
    /// message_3 does not fit the caller's buffer.
    BufferTooSmall,
}

impl core::fmt::Display for CombinedError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Coap(e) => write!(f, "combined request: {e}"),
            Self::NotOscore => f.write_str("EDHOC option without OSCORE option"),
            Self::InvalidPayload => f.write_str(
                "combined request payload is not EDHOC message_3 followed by OSCORE ciphertext",
            ),
            Self::BufferTooSmall => f.write_str("buffer too small for EDHOC message_3"),
        }
    }
}

impl core::error::Error for CombinedError {}

impl From<CoapError> for CombinedError {
    fn from(e: CoapError) -> Self {
        Self::Coap(e)
    }
}

/// Whether a request carries the EDHOC option, i.e. is a combined request.
pub fn is_combined_request(message: &Message<'_>) -> bool {
    message.option(OptionNumber::Edhoc).is_some()
}

/// Client: turns an OSCORE-protected request into the combined request by adding the EDHOC
/// option and prepending `message_3` (as sent, a CBOR byte string) to the payload. Returns the
/// length written into `out`.
///
/// # Errors
/// [`CombinedError::NotOscore`] if `protected` has no OSCORE option; [`CombinedError::Coap`] if
/// it is malformed or `out` is too small.
pub fn build_combined_request(
    protected: &[u8],
    message_3: &[u8],
    out: &mut [u8],
) -> Result<usize, CombinedError> {
    let m = Message::parse(protected)?;
    if m.option(OptionNumber::Oscore).is_none() {
        return Err(CombinedError::NotOscore);
    }
    let mut w = MessageWriter::new(out, m.msg_type(), m.code(), m.message_id(), m.token())?;
    let mut edhoc_written = false;
    for CoapOption { number, value } in m.options() {
        if !edhoc_written && u16::from(number) > u16::from(OptionNumber::Edhoc) {
            w.option(OptionNumber::Edhoc, &[])?;
            edhoc_written = true;
        }
        w.option(number, value)?;
    }
    if !edhoc_written {
        w.option(OptionNumber::Edhoc, &[])?;
    }
    let marker = w.payload_marker()?;
    let end = marker
        .checked_add(message_3.len() + m.payload().len())
        .ok_or(CombinedError::Coap(CoapError::BufferTooSmall))?;
    let tail = out
        .get_mut(marker..end)
        .ok_or(CombinedError::Coap(CoapError::BufferTooSmall))?;
    let (m3, payload) = tail.split_at_mut(message_3.len());
    m3.copy_from_slice(message_3);
    payload.copy_from_slice(m.payload());
    Ok(end)
}

/// Server: splits a combined request in place. Copies EDHOC message_3 into `message_3` and
/// rewrites `datagram` as the plain OSCORE request (without the EDHOC option, payload =
/// OSCORE_PAYLOAD). Returns `(message_3 length, OSCORE request length)`.
///
/// # Errors
/// [`CombinedError::NotOscore`], [`CombinedError::InvalidPayload`], [`CombinedError::Coap`],
/// [`CombinedError::BufferTooSmall`].
pub fn split_combined_request(
    datagram: &mut [u8],
    message_3: &mut [u8],
) -> Result<(usize, usize), CombinedError> {
    let m = Message::parse(datagram)?;
    if m.option(OptionNumber::Oscore).is_none() {
        return Err(CombinedError::NotOscore);
    }
    let payload = m.payload();
    let mut d = Decoder::new(payload);
    d.bytes().map_err(|_| CombinedError::InvalidPayload)?;
    let m3_len = d.position();
    if m3_len == payload.len() {
        return Err(CombinedError::InvalidPayload);
    }
    message_3
        .get_mut(..m3_len)
        .ok_or(CombinedError::BufferTooSmall)?
        .copy_from_slice(&payload[..m3_len]);

    // Re-emit header, token and every option but EDHOC, then the OSCORE payload. The result is
    // never longer than the input, so a scratch copy of the (short) head suffices.
    let mut head = [0u8; 256];
    let head_len = {
        let mut w =
            MessageWriter::new(&mut head, m.msg_type(), m.code(), m.message_id(), m.token())?;
        for CoapOption { number, value } in m.options() {
            if number != OptionNumber::Edhoc {
                w.option(number, value)?;
            }
        }
        w.payload_marker()?
    };
    let oscore_payload_start = datagram.len() - (payload.len() - m3_len);
    let oscore_payload_len = payload.len() - m3_len;
    datagram.copy_within(oscore_payload_start.., head_len);
    datagram[..head_len].copy_from_slice(&head[..head_len]);
    Ok((m3_len, head_len + oscore_payload_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coap::{Code, MessageId, MessageType};

    #[test]
    fn build_then_split_returns_the_oscore_request() {
        let mut protected = [0u8; 64];
        let mut w = MessageWriter::new(
            &mut protected,
            MessageType::Confirmable,
            Code::POST,
            MessageId(9),
            &[1, 2],
        )
        .unwrap();
        w.option(OptionNumber::UriHost, b"h").unwrap();
        w.option(OptionNumber::Oscore, &[0x09, 0x14]).unwrap();
        w.option(OptionNumber::UriPath, b"x").unwrap();
        let n = w.payload(&[0xaa; 12]).unwrap();
        let message_3 = [0x43, 1, 2, 3];
        let mut combined = [0u8; 80];
        let len = build_combined_request(&protected[..n], &message_3, &mut combined).unwrap();
        let m = Message::parse(&combined[..len]).unwrap();
        assert!(is_combined_request(&m));
        let mut numbers = [0u16; 4];
        for (slot, o) in numbers.iter_mut().zip(m.options()) {
            *slot = u16::from(o.number);
        }
        assert_eq!(numbers, [3, 9, 11, 21]);
        assert_eq!(m.options().count(), 4);
        let mut m3 = [0u8; 8];
        let (m3_len, oscore_len) = split_combined_request(&mut combined[..len], &mut m3).unwrap();
        assert_eq!(&m3[..m3_len], message_3);
        assert_eq!(&combined[..oscore_len], &protected[..n]);
    }

    #[test]
    fn malformed_combined_payloads_are_refused() {
        let mut buf = [0u8; 64];
        let mut w = MessageWriter::new(
            &mut buf,
            MessageType::Confirmable,
            Code::POST,
            MessageId(9),
            &[],
        )
        .unwrap();
        w.option(OptionNumber::Oscore, &[0x09, 0x14]).unwrap();
        w.option(OptionNumber::Edhoc, &[]).unwrap();
        let n = w.payload(&[0x43, 1, 2, 3]).unwrap();
        let mut m3 = [0u8; 8];
        assert_eq!(
            split_combined_request(&mut buf[..n], &mut m3),
            Err(CombinedError::InvalidPayload)
        );
        let mut small = [0u8; 2];
        let mut buf2 = [0u8; 64];
        let mut w = MessageWriter::new(
            &mut buf2,
            MessageType::Confirmable,
            Code::POST,
            MessageId(9),
            &[],
        )
        .unwrap();
        w.option(OptionNumber::Oscore, &[0x09, 0x14]).unwrap();
        let n = w.payload(&[0x43, 1, 2, 3, 0xff]).unwrap();
        assert_eq!(
            split_combined_request(&mut buf2[..n], &mut small),
            Err(CombinedError::BufferTooSmall)
        );
    }
}
