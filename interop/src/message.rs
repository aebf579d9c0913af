//! An owned CoAP message (code, options, payload) for building requests and comparing responses.

use core::fmt;

use ferrule_proto::coap::{
    decode_uint, CoapError, Code, Message, MessageId, MessageType, MessageWriter, OptionNumber,
    UintValue,
};
use ferrule_proto::oscore::Unprotected;

/// A CoAP message without its transport fields (type, Message ID, token): what OSCORE protects
/// and what the plugtest compares. Options are kept sorted by number (stable for repeated ones).
#[derive(Clone, PartialEq, Eq)]
pub struct OwnedMessage {
    /// The method or response code.
    pub code: Code,
    /// The options, in ascending order of number.
    pub options: Vec<(OptionNumber, Vec<u8>)>,
    /// The payload (empty if none).
    pub payload: Vec<u8>,
}

impl OwnedMessage {
    /// A message with this code and nothing else.
    pub const fn new(code: Code) -> Self {
        Self {
            code,
            options: Vec::new(),
            payload: Vec::new(),
        }
    }

    /// Adds an option after any others with the same number.
    #[must_use]
    pub fn with_option(mut self, number: OptionNumber, value: &[u8]) -> Self {
        self.add_option(number, value);
        self
    }

    /// Adds an option after any others with the same number.
    pub fn add_option(&mut self, number: OptionNumber, value: &[u8]) {
        let at = self
            .options
            .iter()
            .position(|(n, _)| n.value() > number.value())
            .unwrap_or(self.options.len());
        self.options.insert(at, (number, value.to_vec()));
    }

    /// Adds a `uint` option in its shortest form.
    #[must_use]
    pub fn with_uint(self, number: OptionNumber, value: u32) -> Self {
        self.with_option(number, UintValue::new(value).as_slice())
    }

    /// Adds one Uri-Path option per `/`-separated segment.
    #[must_use]
    pub fn with_path(mut self, path: &str) -> Self {
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            self.add_option(OptionNumber::UriPath, segment.as_bytes());
        }
        self
    }

    /// Sets the payload.
    #[must_use]
    pub fn with_payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    /// Removes every option with this number.
    pub fn remove_option(&mut self, number: OptionNumber) {
        self.options.retain(|(n, _)| *n != number);
    }

    /// The value of the first option with this number.
    pub fn option(&self, number: OptionNumber) -> Option<&[u8]> {
        self.options
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, v)| v.as_slice())
    }

    /// The value of a `uint` option, if present and well-formed.
    pub fn uint(&self, number: OptionNumber) -> Option<u32> {
        self.option(number).and_then(|v| decode_uint(v).ok())
    }

    /// The Uri-Path segments joined with `/`.
    pub fn path(&self) -> String {
        let segments: Vec<String> = self
            .options
            .iter()
            .filter(|(n, _)| *n == OptionNumber::UriPath)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect();
        segments.join("/")
    }

    /// The options without those numbered in `except`.
    pub fn options_except(&self, except: &[OptionNumber]) -> Vec<(OptionNumber, Vec<u8>)> {
        self.options
            .iter()
            .filter(|(n, _)| !except.contains(n))
            .cloned()
            .collect()
    }

    /// Writes the message with these transport fields.
    ///
    /// # Errors
    /// [`CoapError`] if the token is too long or an option value is invalid.
    pub fn encode(
        &self,
        msg_type: MessageType,
        message_id: MessageId,
        token: &[u8],
    ) -> Result<Vec<u8>, CoapError> {
        let size = 16
            + token.len()
            + self.payload.len()
            + self.options.iter().map(|(_, v)| v.len() + 5).sum::<usize>();
        let mut buf = vec![0u8; size];
        let mut w = MessageWriter::new(&mut buf, msg_type, self.code, message_id, token)?;
        for (n, v) in &self.options {
            w.option(*n, v)?;
        }
        let len = w.payload(&self.payload)?;
        buf.truncate(len);
        Ok(buf)
    }

    /// Copies a parsed message.
    pub fn from_message(msg: &Message<'_>) -> Self {
        Self {
            code: msg.code(),
            options: msg
                .options()
                .map(|o| (o.number, o.value.to_vec()))
                .collect(),
            payload: msg.payload().to_vec(),
        }
    }

    /// Copies a verified OSCORE message (inner and surviving outer options merged).
    pub fn from_unprotected(msg: &Unprotected<'_>) -> Self {
        Self {
            code: msg.code(),
            options: msg
                .options()
                .map(|o| (o.number, o.value.to_vec()))
                .collect(),
            payload: msg.payload().to_vec(),
        }
    }
}

/// Formats option values and payloads readably: text if printable, else hex.
pub(crate) struct Bytes<'a>(pub &'a [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0.is_empty() && self.0.iter().all(|b| (0x20..0x7f).contains(b)) {
            write!(f, "{:?}", String::from_utf8_lossy(self.0))
        } else {
            f.write_str("h'")?;
            for b in self.0 {
                write!(f, "{b:02x}")?;
            }
            f.write_str("'")
        }
    }
}

impl fmt::Display for OwnedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        for (n, v) in &self.options {
            write!(f, " {n}:{}", Bytes(v))?;
        }
        if !self.payload.is_empty() {
            write!(f, " payload {}", Bytes(&self.payload))?;
        }
        Ok(())
    }
}

impl fmt::Debug for OwnedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Formats a datagram in hex for logs.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn options_stay_sorted_and_encode_round_trips() {
        let m = OwnedMessage::new(Code::PUT)
            .with_uint(OptionNumber::ContentFormat, 0)
            .with_path("oscore/hello/7")
            .with_option(OptionNumber::IfMatch, b"\x7b")
            .with_payload(b"\x7a");
        let numbers: Vec<u16> = m.options.iter().map(|(n, _)| n.value()).collect();
        assert_eq!(numbers, [1, 11, 11, 11, 12]);
        assert_eq!(m.path(), "oscore/hello/7");
        assert_eq!(m.uint(OptionNumber::ContentFormat), Some(0));
        let bytes = m
            .encode(MessageType::Confirmable, MessageId(7), &[1, 2])
            .unwrap();
        let parsed = Message::parse(&bytes).unwrap();
        assert_eq!(parsed.token(), &[1, 2]);
        assert_eq!(OwnedMessage::from_message(&parsed), m);
    }

    #[test]
    fn bytes_display() {
        assert_eq!(Bytes(b"one").to_string(), "\"one\"");
        assert_eq!(Bytes(b"\x8a").to_string(), "h'8a'");
        assert_eq!(Bytes(b"").to_string(), "h''");
    }
}
