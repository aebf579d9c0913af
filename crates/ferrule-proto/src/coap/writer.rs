//! Emitting a CoAP message into a caller buffer (RFC 7252 Section 3).

use super::options::OptionWriter;
use super::{
    CoapError, Code, MessageId, MessageType, OptionNumber, UintValue, HEADER_LEN, VERSION,
};

/// Writes a CoAP message into a caller buffer: header and token first, then options in
/// ascending order of number, then the payload.
///
/// Options out of order are rejected rather than reordered, so what is emitted is always in
/// order; to emit options from an unsorted list, sort it first with
/// [`super::sort_options`].
///
/// ```
/// use ferrule_proto::coap::{Code, Message, MessageId, MessageType, MessageWriter, OptionNumber};
/// let mut buf = [0u8; 32];
/// let mut w = MessageWriter::new(&mut buf, MessageType::Confirmable, Code::GET, MessageId(7), &[1])?;
/// w.option(OptionNumber::UriPath, b"t")?;
/// let len = w.finish();
/// let m = Message::parse(&buf[..len])?;
/// assert_eq!(m.option(OptionNumber::UriPath), Some(&b"t"[..]));
/// # Ok::<(), ferrule_proto::coap::CoapError>(())
/// ```
#[derive(Debug)]
pub struct MessageWriter<'b> {
    options: OptionWriter<'b>,
}

impl<'b> MessageWriter<'b> {
    /// Writes the header and token.
    ///
    /// # Errors
    /// [`CoapError::TokenTooLong`] for a token over 8 bytes, [`CoapError::BufferTooSmall`].
    pub fn new(
        buffer: &'b mut [u8],
        msg_type: MessageType,
        code: Code,
        message_id: MessageId,
        token: &[u8],
    ) -> Result<Self, CoapError> {
        let token_len = u8::try_from(token.len()).map_err(|_| CoapError::TokenTooLong)?;
        if usize::from(token_len) > super::MAX_TOKEN_LEN {
            return Err(CoapError::TokenTooLong);
        }
        let end = HEADER_LEN + token.len();
        let head = buffer.get_mut(..end).ok_or(CoapError::BufferTooSmall)?;
        head[0] = (VERSION << 6) | (msg_type.bits() << 4) | token_len;
        head[1] = code.to_byte();
        head[2..4].copy_from_slice(&message_id.0.to_be_bytes());
        head[HEADER_LEN..].copy_from_slice(token);
        Ok(Self {
            options: OptionWriter::at(buffer, end),
        })
    }

    /// Appends an option.
    ///
    /// # Errors
    /// [`CoapError::OptionOutOfOrder`] if `number` is below the previous option's,
    /// [`CoapError::InvalidOptionValue`], [`CoapError::BufferTooSmall`].
    pub fn option(&mut self, number: OptionNumber, value: &[u8]) -> Result<&mut Self, CoapError> {
        self.options.option(number, value)?;
        Ok(self)
    }

    /// Appends a `uint` option in its shortest form (RFC 7252 Section 3.2).
    ///
    /// # Errors
    /// As [`MessageWriter::option`].
    pub fn uint_option(
        &mut self,
        number: OptionNumber,
        value: u32,
    ) -> Result<&mut Self, CoapError> {
        self.option(number, UintValue::new(value).as_slice())
    }

    /// The number of the last option written (0 if none).
    pub const fn last_option(&self) -> u16 {
        self.options.last_number()
    }

    /// Bytes written so far.
    pub const fn len(&self) -> usize {
        self.options.position()
    }

    /// Whether nothing has been written (never: the header is written at once).
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Appends the payload marker and `payload` (nothing if it is empty) and returns the message
    /// length.
    ///
    /// # Errors
    /// [`CoapError::BufferTooSmall`].
    pub fn payload(self, payload: &[u8]) -> Result<usize, CoapError> {
        self.options.payload(payload)
    }

    /// Appends the payload marker only and returns the offset where the payload is to go; the
    /// caller writes a non-empty payload there itself (OSCORE encrypts in place this way).
    ///
    /// # Errors
    /// [`CoapError::BufferTooSmall`].
    pub fn payload_marker(self) -> Result<usize, CoapError> {
        self.options.payload_marker()
    }

    /// Finishes a message without payload and returns its length.
    pub const fn finish(self) -> usize {
        self.options.finish()
    }
}
