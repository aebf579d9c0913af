//! Interoperability of Ferrule with independent implementations, starting with aiocoap's OSCORE
//! plugtest (RFC 8613 with pre-shared contexts).
//!
//! This crate is test infrastructure, not product code (`publish = false`): a small OSCORE
//! [`client`] and a [`server`] that serves the plugtest's resources, both over std UDP sockets
//! with `ferrule_proto::oscore` doing the protection and `ferrule_crypto::RustCrypto` the
//! crypto; the plugtest [`contexts`] (RFC 8613 Appendix C.1 and C.3); and a [`harness`] that
//! finds the Python interpreter of the interop venv, fetches the plugtest from the aiocoap sdist
//! at test time and runs Python processes under guards that kill them on drop.
//!
//! Invariants: everything has a deadline (no call blocks forever); every child process is
//! killed when its guard is dropped, also on panic; both sides keep a [`Log`] that the tests
//! print when they fail. Nothing downloaded is kept outside `target/`.
//!
//! ```no_run
//! use ferrule_interop::{client::Client, contexts::PlugtestContext, message::OwnedMessage, Log};
//! use ferrule_proto::coap::Code;
//! # fn main() -> Result<(), Box<dyn core::error::Error>> {
//! let mut client = Client::new("127.0.0.1:5683".parse()?, Log::new("client"))?;
//! let mut a = PlugtestContext::A.derive()?;
//! let reply = client.request(&mut a, &OwnedMessage::new(Code::GET).with_path("oscore/hello/1"))?;
//! assert_eq!(reply.message().payload, b"Hello World!");
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod contexts;
pub mod harness;
mod log;
pub mod message;
pub mod server;

pub use log::Log;
