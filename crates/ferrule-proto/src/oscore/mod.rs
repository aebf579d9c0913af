//! OSCORE (RFC 8613): Object Security for Constrained RESTful Environments.
//!
//! A [`SecurityContext`] is derived from a Master Secret (Section 3.2) and then protects and
//! verifies CoAP messages: [`SecurityContext::protect_request`] and
//! [`SecurityContext::verify_response`] on a client, [`SecurityContext::verify_request`] and
//! [`SecurityContext::protect_response`] on a server (Sections 5 and 8). Options are split into
//! encrypted Inner and unprotected Outer ones by [`option_class`] (Section 4.1); the OSCORE
//! option is encoded by [`OscoreOption`] (Section 6.1); the AAD by [`aad`] (Section 5.4); the
//! nonce by [`Nonce::new`] (Section 5.2); replays are caught by the [`ReplayWindow`]
//! (Section 7.4). Errors carry the CoAP code Section 8 prescribes.
//!
//! State that survives power cuts (Appendix B.1): the Sender Sequence Number is persisted
//! through a caller-implemented [`Storage`] in steps of K ([`SecurityContext::resume`],
//! [`SecurityContext::reserve`]), so no nonce is ever reused; a server that lost its replay
//! window recovers it with the Echo option ([`OscoreError::EchoRequired`],
//! [`SecurityContext::protect_echo_challenge`]).
//!
//! Invariants: no allocation; messages are encrypted and decrypted in place in the caller's
//! buffers; verification never panics on any input; keys are zeroized on drop and never
//! printed; the EDHOC option (21, RFC 9668) travels as an Outer option.
//!
//! ```
//! use ferrule_proto::coap::{Code, Message, MessageId, MessageType, MessageWriter, OptionNumber};
//! use ferrule_proto::oscore::{ContextParams, SecurityContext};
//! # struct Rng(u64);
//! # impl rand_core::RngCore for Rng {
//! #     fn next_u32(&mut self) -> u32 { self.next_u64() as u32 }
//! #     fn next_u64(&mut self) -> u64 { self.0 ^= self.0 << 13; self.0 ^= self.0 >> 7; self.0 ^= self.0 << 17; self.0 }
//! #     fn fill_bytes(&mut self, d: &mut [u8]) { for b in d { *b = self.next_u64() as u8 } }
//! #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { self.fill_bytes(d); Ok(()) }
//! # }
//! # impl rand_core::CryptoRng for Rng {}
//! let mut crypto = ferrule_crypto::RustCrypto::new(Rng(1));
//! let secret = [7u8; 16];
//! let mut client = SecurityContext::derive(&mut crypto, &ContextParams::new(&secret, b"", b"\x01"))?;
//! let mut server = SecurityContext::derive(&mut crypto, &ContextParams::new(&secret, b"\x01", b""))?;
//!
//! // The client protects a request ...
//! let mut plain = [0u8; 64];
//! let mut w = MessageWriter::new(&mut plain, MessageType::Confirmable, Code::POST, MessageId(1), &[7])?;
//! w.option(OptionNumber::UriPath, b"t")?;
//! let n = w.payload(b"21.5")?;
//! let mut datagram = [0u8; 128];
//! let (len, request_id) = client.protect_request(&mut crypto, &Message::parse(&plain[..n])?, &mut datagram)?;
//!
//! // ... the server verifies it in place and answers ...
//! let verified = server.verify_request(&mut crypto, &mut datagram[..len])?;
//! assert_eq!(verified.message.option(OptionNumber::UriPath), Some(&b"t"[..]));
//! assert_eq!(verified.message.payload(), b"21.5");
//! let mut response = [0u8; 16];
//! let n = MessageWriter::new(&mut response, MessageType::Acknowledgement, Code::CHANGED, MessageId(1), &[7])?.finish();
//! let mut id = verified.request_id;
//! let mut out = [0u8; 64];
//! let len = server.protect_response(&mut crypto, &mut id, &Message::parse(&response[..n])?, &mut out)?;
//!
//! // ... and the client verifies the answer.
//! let answer = client.verify_response(&mut crypto, &request_id, &mut out[..len])?;
//! assert_eq!(answer.code(), Code::CHANGED);
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```

mod aad;
mod class;
mod combined;
mod context;
mod derive;
mod error;
mod id;
mod keys;
mod nonce;
mod option;
mod protect;
mod replay;
mod request;
mod storage;
mod verify;

pub use aad::{aad, aad_array, MAX_AAD_ARRAY_LEN, MAX_AAD_LEN};
pub use class::{option_class, OptionClass};
pub use combined::{
    build_combined_request, is_combined_request, split_combined_request, CombinedError,
};
pub use context::{ContextParams, SecurityContext};
pub use derive::{kdf_info, InfoType, MAX_INFO_LEN};
pub use error::{OscoreError, StorageError};
pub use id::{IdContext, OscoreId, MAX_ID_CONTEXT_LEN, MAX_ID_LEN};
pub use keys::{RecipientKey, SenderKey};
pub use nonce::{
    CommonIv, Nonce, PartialIv, PartialIvBytes, MAX_PARTIAL_IV_LEN, MAX_SEQUENCE_NUMBER,
};
pub use option::{OscoreOption, MAX_OSCORE_OPTION_LEN};
pub use replay::{ReplayWindow, ECHO_LEN};
pub use request::RequestId;
pub use storage::{MemoryStorage, Storage};
pub use verify::{request_kid, RequestKid, Unprotected, UnprotectedOptions, VerifiedRequest};
