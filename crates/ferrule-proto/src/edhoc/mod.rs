//! EDHOC: Ephemeral Diffie-Hellman Over COSE (RFC 9528).
//!
//! Methods 0-3, cipher suites 0-3, credentials by `kid`, by value (CCS) or by `x5t`, EAD in every
//! message, suite negotiation through the error message, message_4, the EDHOC_Exporter with the
//! OSCORE parameters, and EDHOC_KeyUpdate.
//!
//! Each handshake state is a type whose steps consume it ([`Initiator`], [`Responder`] and what
//! they return). States hold only fixed-size keys and hashes (no message buffers): received
//! messages are decrypted in place in the caller's buffer and outgoing ones are written into the
//! caller's buffer. The long-term key is reached through [`PrivateKey`](crate::crypto::PrivateKey)
//! and every algorithm through [`Crypto`](crate::crypto::Crypto).
//!
//! ```
//! # fn demo<C: ferrule_proto::crypto::Crypto>(
//! #     crypto: &mut C,
//! #     i_config: &ferrule_proto::edhoc::InitiatorConfig<'_>,
//! #     r_config: &ferrule_proto::edhoc::ResponderConfig<'_>,
//! # ) -> Result<(), ferrule_proto::edhoc::Error> {
//! use ferrule_proto::edhoc::{ConnectionId, Initiator, Responder, SingleCredential};
//!
//! let (mut m1, mut m2, mut m3) = ([0u8; 128], [0u8; 256], [0u8; 256]);
//! let (initiator, n1) = Initiator::new(i_config)?.write_message_1(crypto, &[], &mut m1)?;
//! let (responder, _info) = Responder::new(r_config).read_message_1(crypto, &m1[..n1])?;
//! let c_r = ConnectionId::from_int(-8).expect("one-byte identifier");
//! let (responder, n2) = responder.write_message_2(crypto, c_r, &[], &mut m2)?;
//! let mut server = SingleCredential(r_config.credential);
//! let (initiator, _info) = initiator.read_message_2(crypto, &mut server, &mut m2[..n2])?;
//! let (initiator, n3) = initiator.write_message_3(crypto, &[], &mut m3)?;
//! let mut device = SingleCredential(i_config.credential);
//! let (responder, _info) = responder.read_message_3(crypto, &mut device, &mut m3[..n3])?;
//! assert_eq!(
//!     initiator.established().prk_out().as_bytes(),
//!     responder.established().prk_out().as_bytes()
//! );
//! # Ok(())
//! # }
//! ```

mod auth;
mod coap_transport;
mod connection_id;
mod credential;
mod ead;
mod error;
mod error_message;
mod established;
mod initiator;
mod kdf;
mod message_1;
mod message_3;
mod method;
mod responder;
mod suite;

pub use coap_transport::{
    write_continue_request, write_message_1_request, EdhocRequest, CONTENT_FORMAT_CID_EDHOC,
    CONTENT_FORMAT_EDHOC, EDHOC_URI_PATH,
};
pub use connection_id::ConnectionId;
pub use credential::{
    Credential, CredentialFormat, CredentialLookup, IdCred, Lookup, SingleCredential,
};
pub use ead::{EadItem, EadItems};
pub use error::{ErrCode, Error};
pub use error_message::{is_error_message, write_error_message, ErrorInfo, ErrorMessage};
pub use established::{
    Established, OscoreParameters, Role, EXPORTER_OSCORE_MASTER_SALT, EXPORTER_OSCORE_MASTER_SECRET,
};
pub use initiator::{
    Initiator, InitiatorConfig, InitiatorVerifiedM2, InitiatorWaitM2, InitiatorWaitM4, Message2Info,
};
pub use message_1::Message1;
pub use message_3::MAX_PLAINTEXT;
pub use method::{AuthMode, Method};
pub use responder::{
    Message1Info, Message3Info, Responder, ResponderConfig, ResponderGotM1, ResponderVerifiedM3,
    ResponderWaitM3,
};
pub use suite::{CipherSuite, SuiteList, SuiteParameters};

// Handshake states stay small so that they can be kept in a session table or moved by value
// without cost: no message buffers, only keys, hashes and identifiers (measured on thumbv7em:
// 60 to 164 bytes). These bounds hold on every target, 64-bit hosts included.
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<InitiatorWaitM2<'static>>() <= 128);
    assert!(size_of::<InitiatorVerifiedM2<'static>>() <= 192);
    assert!(size_of::<InitiatorWaitM4>() <= 192);
    assert!(size_of::<ResponderGotM1<'static>>() <= 128);
    assert!(size_of::<ResponderWaitM3<'static>>() <= 192);
    assert!(size_of::<ResponderVerifiedM3>() <= 192);
    assert!(size_of::<Established>() <= 128);
};
