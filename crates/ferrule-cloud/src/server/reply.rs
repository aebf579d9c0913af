//! Writing the server's unprotected CoAP responses: piggybacked on the Acknowledgement of a
//! Confirmable request (RFC 7252 Section 5.2.1), or a Non-confirmable response with a fresh
//! Message ID to a Non-confirmable one (Section 5.2.3).

use ferrule_proto::coap::{
    Code, Message, MessageId, MessageIdSequence, MessageType, MessageWriter, OptionNumber, Token,
};
use ferrule_proto::edhoc::{write_error_message, ErrCode, SuiteList, CONTENT_FORMAT_EDHOC};
use ferrule_proto::oscore::OscoreError;

/// What a response to a request needs from it: type, Message ID and token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplyHead {
    pub(crate) msg_type: MessageType,
    pub(crate) message_id: MessageId,
    pub(crate) token: Token,
}

impl ReplyHead {
    /// The head of the response to `request`.
    pub(crate) fn for_request(request: &Message<'_>, ids: &mut MessageIdSequence) -> Self {
        let (msg_type, message_id) = match request.msg_type() {
            MessageType::Confirmable => (MessageType::Acknowledgement, request.message_id()),
            _ => (MessageType::NonConfirmable, ids.next_id()),
        };
        Self {
            msg_type,
            message_id,
            // A parsed message's token is at most 8 bytes.
            token: Token::from_slice(request.token()).unwrap_or(Token::EMPTY),
        }
    }

    /// A response with an optional Content-Format and a payload.
    pub(crate) fn response(
        &self,
        code: Code,
        content_format: Option<u16>,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut buf = vec![0u8; 16 + payload.len()];
        let written = MessageWriter::new(
            &mut buf,
            self.msg_type,
            code,
            self.message_id,
            self.token.as_slice(),
        )
        .and_then(|mut w| {
            if let Some(cf) = content_format {
                w.uint_option(OptionNumber::ContentFormat, u32::from(cf))?;
            }
            w.payload(payload)
        });
        match written {
            Ok(n) => {
                buf.truncate(n);
                buf
            }
            // Cannot happen with the buffer sized above; answer without payload rather than
            // not at all.
            Err(_) => self.bare(code),
        }
    }

    /// A response with a code only.
    pub(crate) fn bare(&self, code: Code) -> Vec<u8> {
        let mut buf = [0u8; 16];
        let len = MessageWriter::new(
            &mut buf,
            self.msg_type,
            code,
            self.message_id,
            self.token.as_slice(),
        )
        .map_or(0, MessageWriter::finish);
        buf[..len].to_vec()
    }

    /// A response carrying an EDHOC error message (RFC 9528 Section 6, Appendix A.2).
    pub(crate) fn edhoc_error(
        &self,
        code: Code,
        err: ErrCode,
        reason: &str,
        suites: &SuiteList,
    ) -> Vec<u8> {
        let mut message = [0u8; 128];
        match write_error_message(err, reason, suites, &mut message) {
            Ok(n) => self.response(code, Some(CONTENT_FORMAT_EDHOC), &message[..n]),
            Err(_) => self.bare(code),
        }
    }

    /// The unprotected OSCORE error response RFC 8613 Section 8.2 prescribes for `error`, or a
    /// bare `fallback` response where it prescribes none.
    pub(crate) fn oscore_error(&self, error: &OscoreError, fallback: Code) -> Vec<u8> {
        let mut buf = [0u8; 64];
        match error.write_error_response(
            self.msg_type,
            self.message_id,
            self.token.as_slice(),
            &mut buf,
        ) {
            Ok(Some(n)) => buf[..n].to_vec(),
            _ => self.bare(fallback),
        }
    }
}

/// The Reset that answers a Confirmable message the server cannot process (RFC 7252
/// Section 4.2), such as a CoAP ping.
pub(crate) fn reset(message_id: MessageId) -> Vec<u8> {
    let mut buf = [0u8; 4];
    let len = MessageWriter::new(&mut buf, MessageType::Reset, Code::EMPTY, message_id, &[])
        .map_or(0, MessageWriter::finish);
    buf[..len].to_vec()
}
