//! The CoAP messages a device writes (docs/protocol.md) and what it reads from a response
//! before deciding what the response is.

use ferrule_proto::coap::{
    decode_uint, CoapError, Code, Message, MessageId, MessageType, MessageWriter, OptionNumber,
    Token,
};
use ferrule_proto::edhoc::{self, CONTENT_FORMAT_CID_EDHOC, EDHOC_URI_PATH};

use super::SessionError;

/// Token length of every request: 4 random bytes, as RFC 7252 Section 5.3.1 asks of a client
/// whose responses are not all protected (EDHOC responses are not).
pub(crate) const TOKEN_LEN: usize = 4;

/// The most bytes an OSCORE-protected request adds to its payload: header 4, token 4, OSCORE
/// option 16 (option header 3, flags 1, Partial IV 5, kid 7), payload marker 1, inner code 1,
/// Uri-Path 2, Content-Format 3, inner payload marker 1, AEAD tag 16 (8 with the default
/// AES-CCM-16-64-128 of suites 0 and 2).
pub(crate) const REQUEST_OVERHEAD: usize = 4 + TOKEN_LEN + 16 + 1 + 1 + 2 + 3 + 1 + 16;

/// Which protected resource a request is for (docs/protocol.md, Protected resources).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `POST /t`: telemetry.
    Telemetry,
    /// `GET /c`: fetch a pending command.
    Command,
}

/// Writes `POST /.well-known/edhoc` with Content-Format 65; `payload` writes the EDHOC payload
/// (`true || message_1` or `C_R || message_3`) where it goes and returns its length.
pub(crate) fn edhoc_request(
    out: &mut [u8],
    message_id: MessageId,
    token: &Token,
    payload: impl FnOnce(&mut [u8]) -> Result<usize, edhoc::Error>,
) -> Result<usize, SessionError> {
    let mut w = MessageWriter::new(
        &mut *out,
        MessageType::Confirmable,
        Code::POST,
        message_id,
        token.as_slice(),
    )?;
    for segment in EDHOC_URI_PATH {
        w.option(OptionNumber::UriPath, segment.as_bytes())?;
    }
    w.uint_option(
        OptionNumber::ContentFormat,
        u32::from(CONTENT_FORMAT_CID_EDHOC),
    )?;
    let start = w.payload_marker()?;
    let body = out.get_mut(start..).ok_or(CoapError::BufferTooSmall)?;
    let len = payload(body)?;
    Ok(start + len)
}

/// Writes the inner (unprotected) request: `POST /t` with the optional Content-Format and the
/// payload, or `GET /c`; with the Echo value of a freshness challenge if there is one.
pub(crate) fn inner_request(
    out: &mut [u8],
    message_id: MessageId,
    token: &Token,
    resource: Resource,
    content_format: Option<u16>,
    echo: &[u8],
    payload: &[u8],
) -> Result<usize, CoapError> {
    let (code, path): (Code, &[u8]) = match resource {
        Resource::Telemetry => (Code::POST, b"t"),
        Resource::Command => (Code::GET, b"c"),
    };
    let mut w = MessageWriter::new(
        out,
        MessageType::Confirmable,
        code,
        message_id,
        token.as_slice(),
    )?;
    w.option(OptionNumber::UriPath, path)?;
    if let Some(cf) = content_format {
        w.uint_option(OptionNumber::ContentFormat, u32::from(cf))?;
    }
    if !echo.is_empty() {
        w.option(OptionNumber::Echo, echo)?;
    }
    w.payload(payload)
}

/// An empty Acknowledgement (for a Confirmable separate response, RFC 7252 Section 5.2.2).
pub(crate) fn empty_ack(out: &mut [u8], message_id: MessageId) -> Result<usize, CoapError> {
    Ok(MessageWriter::new(
        out,
        MessageType::Acknowledgement,
        Code::EMPTY,
        message_id,
        &[],
    )?
    .finish())
}

/// What the session needs to know about a received datagram before it looks at the payload.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    pub(crate) msg_type: MessageType,
    pub(crate) code: Code,
    pub(crate) message_id: MessageId,
    pub(crate) token: Token,
    /// Where the payload starts in the datagram (its length when there is none).
    pub(crate) payload_start: usize,
    /// Whether the message carries an OSCORE option.
    pub(crate) protected: bool,
}

impl Head {
    /// Reads a datagram; `None` if it is not a well-formed CoAP message.
    pub(crate) fn read(datagram: &[u8]) -> Option<Self> {
        let m = Message::parse(datagram).ok()?;
        Some(Self {
            msg_type: m.msg_type(),
            code: m.code(),
            message_id: m.message_id(),
            token: Token::from_slice(m.token()).ok()?,
            payload_start: datagram.len() - m.payload().len(),
            protected: m.option(OptionNumber::Oscore).is_some(),
        })
    }
}

/// A Content-Format option value, if present and in range.
pub(crate) fn content_format(value: Option<&[u8]>) -> Option<u16> {
    value
        .and_then(|v| decode_uint(v).ok())
        .and_then(|v| u16::try_from(v).ok())
}
