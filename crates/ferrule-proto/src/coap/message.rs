//! A CoAP message as a borrowed view over received bytes (RFC 7252 Section 3).

use super::options::{split_options, Options};
use super::{
    CoapError, CoapOption, Code, MessageId, MessageType, MessageWriter, OptionNumber, HEADER_LEN,
    MAX_TOKEN_LEN, VERSION,
};

/// A parsed CoAP message that borrows its token, options and payload from the datagram.
///
/// [`Message::parse`] validates the whole message up front, so the option iterator it hands out
/// never meets a malformed byte. [`Message::emit`] writes exactly the parsed bytes back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    msg_type: MessageType,
    code: Code,
    message_id: MessageId,
    token: &'a [u8],
    options: &'a [u8],
    payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// Parses and validates a datagram.
    ///
    /// Rejects (RFC 7252 Section 3, 3.1 and 4.1): a version other than 1, token lengths 9-15, a
    /// datagram that ends inside the header, token or an option, an option delta or length nibble
    /// of 15 outside the payload marker, an option number above 65535, a payload marker followed
    /// by no payload, and an Empty message (0.00) that carries anything after the Message ID.
    ///
    /// # Errors
    /// The [`CoapError`] that names the first problem found.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CoapError> {
        let header = bytes.get(..HEADER_LEN).ok_or(CoapError::Truncated)?;
        let version = header[0] >> 6;
        if version != VERSION {
            return Err(CoapError::UnsupportedVersion(version));
        }
        let token_len = header[0] & 0x0f;
        if usize::from(token_len) > MAX_TOKEN_LEN {
            return Err(CoapError::InvalidTokenLength(token_len));
        }
        let msg_type = MessageType::from_bits(header[0] >> 4);
        let code = Code::from_byte(header[1]);
        let message_id = MessageId(u16::from_be_bytes([header[2], header[3]]));
        let token_end = HEADER_LEN + usize::from(token_len);
        let token = bytes
            .get(HEADER_LEN..token_end)
            .ok_or(CoapError::Truncated)?;
        let rest = bytes.get(token_end..).ok_or(CoapError::Truncated)?;
        if code.is_empty() && (token_len != 0 || !rest.is_empty()) {
            return Err(CoapError::NonEmptyEmptyMessage);
        }
        let (options, payload) = split_options(rest)?;
        Ok(Self {
            msg_type,
            code,
            message_id,
            token,
            options,
            payload,
        })
    }

    /// The message type.
    pub const fn msg_type(&self) -> MessageType {
        self.msg_type
    }

    /// The code (method or response code).
    pub const fn code(&self) -> Code {
        self.code
    }

    /// The Message ID.
    pub const fn message_id(&self) -> MessageId {
        self.message_id
    }

    /// The token (0 to 8 bytes).
    pub const fn token(&self) -> &'a [u8] {
        self.token
    }

    /// The options, in wire order.
    pub const fn options(&self) -> Options<'a> {
        Options::new(self.options)
    }

    /// The encoded options region (without payload marker).
    pub const fn options_bytes(&self) -> &'a [u8] {
        self.options
    }

    /// The value of the first option with this number, if any.
    pub fn option(&self, number: OptionNumber) -> Option<&'a [u8]> {
        self.options().find(|o| o.number == number).map(|o| o.value)
    }

    /// All options with this number, in order (for repeatable options such as Uri-Path).
    pub fn options_of(&self, number: OptionNumber) -> impl Iterator<Item = &'a [u8]> {
        self.options()
            .filter(move |o| o.number == number)
            .map(|o| o.value)
    }

    /// The payload (empty if there is none).
    pub const fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Number of bytes [`Message::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        let marker = if self.payload.is_empty() { 0 } else { 1 };
        HEADER_LEN + self.token.len() + self.options.len() + marker + self.payload.len()
    }

    /// Writes the message into `out` and returns its length; for a parsed message these are the
    /// parsed bytes.
    ///
    /// # Errors
    /// [`CoapError::BufferTooSmall`] if `out` is too small.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, CoapError> {
        let mut w = MessageWriter::new(out, self.msg_type, self.code, self.message_id, self.token)?;
        for CoapOption { number, value } in self.options() {
            w.option(number, value)?;
        }
        w.payload(self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc8613_c4_request() {
        let bytes = [
            0x44, 0x01, 0x5d, 0x1f, 0x00, 0x00, 0x39, 0x74, 0x39, b'l', b'o', b'c', b'a', b'l',
            b'h', b'o', b's', b't', 0x83, b't', b'v', b'1',
        ];
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.msg_type(), MessageType::Confirmable);
        assert_eq!(m.code(), Code::GET);
        assert_eq!(m.message_id(), MessageId(0x5d1f));
        assert_eq!(m.token(), &[0, 0, 0x39, 0x74]);
        assert_eq!(m.option(OptionNumber::UriHost), Some(&b"localhost"[..]));
        assert_eq!(m.option(OptionNumber::UriPath), Some(&b"tv1"[..]));
        assert!(m.payload().is_empty());
        let mut out = [0u8; 64];
        let n = m.emit(&mut out).unwrap();
        assert_eq!(&out[..n], &bytes[..]);
        assert_eq!(m.buffer_len(), n);
    }

    #[test]
    fn strict_header() {
        assert_eq!(Message::parse(&[0x40, 0x01, 0]), Err(CoapError::Truncated));
        assert_eq!(
            Message::parse(&[0x80, 0x01, 0, 0]),
            Err(CoapError::UnsupportedVersion(2))
        );
        assert_eq!(
            Message::parse(&[0x49, 0x01, 0, 0]),
            Err(CoapError::InvalidTokenLength(9))
        );
        assert_eq!(
            Message::parse(&[0x42, 0x01, 0, 0, 1]),
            Err(CoapError::Truncated)
        );
        assert_eq!(
            Message::parse(&[0x41, 0x00, 0, 0, 1]),
            Err(CoapError::NonEmptyEmptyMessage)
        );
        assert_eq!(
            Message::parse(&[0x60, 0x00, 0, 0, 0xff]),
            Err(CoapError::NonEmptyEmptyMessage)
        );
        assert!(Message::parse(&[0x60, 0x00, 0, 0]).is_ok());
        assert_eq!(
            Message::parse(&[0x40, 0x01, 0, 0, 0xff]),
            Err(CoapError::EmptyPayload)
        );
    }
}
