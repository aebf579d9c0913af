//! CoAP (RFC 7252): the message codec and sans-IO reliability.
//!
//! Wire format (RFC 7252 Section 3), one concept per file: [`Code`], [`OptionNumber`], the
//! fixed header ([`MessageType`], [`MessageId`], [`Token`]), the option sequence
//! ([`Options`], [`OptionWriter`]), option value formats ([`decode_uint`]/[`UintValue`],
//! [`BlockValue`] of RFC 7959, [`Echo`] of RFC 9175), the parsed [`Message`] view and the
//! [`MessageWriter`].
//!
//! Invariants: [`Message::parse`] never panics and validates the whole message (reserved
//! nibbles, token lengths 9-15, version, empty payload after the marker, truncation); what it
//! accepts, [`Message::emit`] writes back byte for byte. Emitters only ever write options in
//! ascending order.
//!
//! Reliability (RFC 7252 Section 4), sans-IO: [`MessageIdSequence`], [`Token::random`],
//! [`Retransmission`] with exponential back-off driven by [`Retransmission::poll_timeout`] and
//! [`Retransmission::on_timeout`], and a server's [`DuplicateCache`]. Time is an [`Instant`]
//! the caller passes in.
//!
//! ```
//! use ferrule_proto::coap::{Code, Message, MessageId, MessageType, MessageWriter, OptionNumber};
//! let mut buf = [0u8; 64];
//! let mut w = MessageWriter::new(&mut buf, MessageType::Confirmable, Code::POST, MessageId(1), &[0xab])?;
//! w.option(OptionNumber::UriPath, b"t")?.uint_option(OptionNumber::ContentFormat, 60)?;
//! let len = w.payload(b"\xa0")?;
//! let m = Message::parse(&buf[..len])?;
//! assert_eq!(m.code(), Code::POST);
//! assert_eq!(m.payload(), b"\xa0");
//! let mut again = [0u8; 64];
//! let n = m.emit(&mut again)?;
//! assert_eq!(&again[..n], &buf[..len]);
//! # Ok::<(), ferrule_proto::coap::CoapError>(())
//! ```

mod block;
mod code;
mod dedup;
mod echo;
mod error;
mod header;
mod message;
mod option_number;
mod options;
mod time;
mod transmission;
mod uint;
mod writer;

pub use block::BlockValue;
pub use code::Code;
pub use dedup::{DuplicateCache, Seen};
pub use echo::Echo;
pub use error::CoapError;
pub use header::{
    MessageId, MessageIdSequence, MessageType, Token, HEADER_LEN, MAX_TOKEN_LEN, VERSION,
};
pub use message::Message;
pub use option_number::OptionNumber;
pub use options::{
    option_len, sort_options, split_options, CoapOption, OptionWriter, Options,
    MAX_OPTION_VALUE_LEN, PAYLOAD_MARKER,
};
pub use time::Instant;
pub use transmission::{Outcome, Retransmission, TimeoutAction, TransmissionParameters};
pub use uint::{decode_uint, UintValue};
pub use writer::MessageWriter;
