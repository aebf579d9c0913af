//! A small OSCORE client over a std UDP socket (RFC 8613 Section 8.1 and 8.4, RFC 7252
//! Section 4 for reliability, RFC 7641 for Observe).
//!
//! Requests are Confirmable and retransmitted with exponential back-off; piggybacked and separate
//! responses are both accepted; separate Confirmable responses and notifications are
//! acknowledged. A protected 4.01 with an Echo option (RFC 8613 Appendix B.1.2) is answered once
//! by resending the request with that Echo value.

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;
use std::io;
use std::net::UdpSocket;
use std::time::Instant;

use ferrule_crypto::RustCrypto;
use ferrule_proto::coap::{
    CoapError, Code, Message, MessageId, MessageIdSequence, MessageType, MessageWriter,
    OptionNumber, Token,
};
use ferrule_proto::crypto::CryptoError;
use ferrule_proto::oscore::{OscoreError, OscoreOption, PartialIv, RequestId, SecurityContext};
use rand_core::OsRng;

use crate::message::{hex, OwnedMessage};
use crate::Log;

/// Why a client operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The socket failed.
    Io(io::Error),
    /// No response before the deadline (after all retransmissions).
    Timeout,
    /// The server answered with a Reset.
    Reset,
    /// A message could not be built or the response could not be parsed.
    Coap(CoapError),
    /// Protecting the request or verifying the response failed.
    Oscore(OscoreError),
    /// The crypto provider failed.
    Crypto(CryptoError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "socket error: {e}"),
            Self::Timeout => f.write_str("no response before the deadline"),
            Self::Reset => f.write_str("the server answered with a Reset"),
            Self::Coap(e) => write!(f, "CoAP: {e}"),
            Self::Oscore(e) => write!(f, "OSCORE: {e}"),
            Self::Crypto(e) => write!(f, "crypto: {e}"),
        }
    }
}

impl core::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<CoapError> for ClientError {
    fn from(e: CoapError) -> Self {
        Self::Coap(e)
    }
}

impl From<OscoreError> for ClientError {
    fn from(e: OscoreError) -> Self {
        Self::Oscore(e)
    }
}

impl From<CryptoError> for ClientError {
    fn from(e: CryptoError) -> Self {
        Self::Crypto(e)
    }
}

/// What the server answered to a protected request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A verified OSCORE response.
    Protected {
        /// The decrypted response.
        message: OwnedMessage,
        /// The response's own Partial IV, if it carried one (a notification, or an answer
        /// after Echo recovery) rather than reusing the request's nonce.
        partial_iv: Option<u64>,
    },
    /// A response without OSCORE option: an OSCORE error (RFC 8613 Section 8.2) or a resource
    /// that is not protected.
    Plain(OwnedMessage),
}

impl Reply {
    /// The message, protected or not.
    pub const fn message(&self) -> &OwnedMessage {
        match self {
            Self::Protected { message, .. } | Self::Plain(message) => message,
        }
    }

    /// Whether the reply was OSCORE-protected.
    pub const fn is_protected(&self) -> bool {
        matches!(self, Self::Protected { .. })
    }
}

/// A protected request and the raw response datagram, before verification.
#[derive(Clone, Debug)]
pub struct RawExchange {
    /// What binds the response to the request.
    pub request_id: RequestId,
    /// The token used.
    pub token: Vec<u8>,
    /// The response datagram as received.
    pub response: Vec<u8>,
}

/// An observation registered by [`Client::observe`].
#[derive(Clone, Debug)]
pub struct Observation {
    /// The registration's token; notifications carry it.
    pub token: Vec<u8>,
    /// The registration's request identity; notifications are bound to it.
    pub request_id: RequestId,
    /// The first response.
    pub first: Reply,
    /// The Notification Number: the largest Partial IV of the notifications received (RFC 8613
    /// Section 7.4.1).
    pub notification_number: Option<u64>,
}

/// Retransmission settings (RFC 7252 Section 4.8; defaults are the RFC's, without the random
/// factor).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Initial retransmission timeout.
    pub ack_timeout: Duration,
    /// Number of retransmissions.
    pub max_retransmit: u32,
    /// The longest an exchange may take, retransmissions and separate responses included.
    pub exchange_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_secs(2),
            max_retransmit: 4,
            exchange_timeout: Duration::from_secs(20),
        }
    }
}

/// A CoAP/OSCORE client bound to one server.
pub struct Client {
    socket: UdpSocket,
    server: SocketAddr,
    crypto: RustCrypto<OsRng>,
    mids: MessageIdSequence,
    /// Message IDs of Confirmable messages already processed (for duplicate detection).
    seen: Vec<u16>,
    timing: Timing,
    log: Log,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client on a fresh local port of the server's address family.
    ///
    /// # Errors
    /// [`ClientError::Io`] if no socket can be bound, [`ClientError::Crypto`] if the RNG fails.
    pub fn new(server: SocketAddr, log: Log) -> Result<Self, ClientError> {
        let local: SocketAddr = if server.is_ipv4() {
            ([127, 0, 0, 1], 0).into()
        } else {
            (core::net::Ipv6Addr::LOCALHOST, 0).into()
        };
        let socket = UdpSocket::bind(local)?;
        let mut crypto = RustCrypto::from_os_rng();
        let mids = MessageIdSequence::random(&mut crypto)?;
        log.line(format_args!(
            "client bound to {} for server {server}",
            socket.local_addr()?
        ));
        Ok(Self {
            socket,
            server,
            crypto,
            mids,
            seen: Vec::new(),
            timing: Timing::default(),
            log,
        })
    }

    /// Changes the retransmission settings.
    pub fn set_timing(&mut self, timing: Timing) {
        self.timing = timing;
    }

    /// The client's log.
    pub const fn log(&self) -> &Log {
        &self.log
    }

    /// A fresh random token.
    ///
    /// # Errors
    /// [`ClientError::Crypto`] if the RNG fails.
    pub fn new_token(&mut self) -> Result<Vec<u8>, ClientError> {
        Ok(Token::random(&mut self.crypto, 4)?.as_slice().to_vec())
    }

    /// Sends an unprotected request and returns the response.
    ///
    /// # Errors
    /// Socket errors, [`ClientError::Timeout`], [`ClientError::Reset`], or an unparsable
    /// response.
    pub fn request_plain(&mut self, request: &OwnedMessage) -> Result<OwnedMessage, ClientError> {
        let token = self.new_token()?;
        let mid = self.mids.next_id();
        self.log
            .line(format_args!("-> plain {request} (token {})", hex(&token)));
        let bytes = request.encode(MessageType::Confirmable, mid, &token)?;
        let response = self.exchange(&bytes, mid, &token)?;
        let msg = OwnedMessage::from_message(&Message::parse(&response)?);
        self.log.line(format_args!("<- plain {msg}"));
        Ok(msg)
    }

    /// Protects `request` with `ctx`, sends it and returns the raw response without verifying
    /// it (to verify it with another context, say).
    ///
    /// # Errors
    /// As [`Client::request_plain`], and [`ClientError::Oscore`] if protection fails.
    pub fn exchange_protected(
        &mut self,
        ctx: &mut SecurityContext,
        request: &OwnedMessage,
        token: Option<&[u8]>,
    ) -> Result<RawExchange, ClientError> {
        let token = match token {
            Some(t) => t.to_vec(),
            None => self.new_token()?,
        };
        let mid = self.mids.next_id();
        let plain = request.encode(MessageType::Confirmable, mid, &token)?;
        let mut out = vec![0u8; plain.len() + 64];
        let (len, request_id) =
            ctx.protect_request(&mut self.crypto, &Message::parse(&plain)?, &mut out)?;
        out.truncate(len);
        self.log.line(format_args!(
            "-> OSCORE kid {} piv {} {request} (token {}): {}",
            hex(request_id.kid().as_slice()),
            request_id.partial_iv().value(),
            hex(&token),
            hex(&out)
        ));
        let response = self.exchange(&out, mid, &token)?;
        Ok(RawExchange {
            request_id,
            token,
            response,
        })
    }

    /// Verifies a response datagram with `ctx`: a response without OSCORE option is returned as
    /// [`Reply::Plain`].
    ///
    /// # Errors
    /// [`ClientError::Coap`] if it does not parse, [`ClientError::Oscore`] if it does not verify.
    pub fn verify(
        &mut self,
        ctx: &SecurityContext,
        request_id: &RequestId,
        datagram: &[u8],
    ) -> Result<Reply, ClientError> {
        let msg = Message::parse(datagram)?;
        let Some(option) = msg.option(OptionNumber::Oscore) else {
            let plain = OwnedMessage::from_message(&msg);
            self.log.line(format_args!("<- plain {plain}"));
            return Ok(Reply::Plain(plain));
        };
        let partial_iv = match OscoreOption::decode(option)?.partial_iv {
            Some(piv) => Some(PartialIv::decode(piv)?.value()),
            None => None,
        };
        let mut buf = datagram.to_vec();
        match ctx.verify_response(&mut self.crypto, request_id, &mut buf) {
            Ok(unprotected) => {
                let message = OwnedMessage::from_unprotected(&unprotected);
                match partial_iv {
                    Some(piv) => self
                        .log
                        .line(format_args!("<- OSCORE {message} (own Partial IV {piv})")),
                    None => self.log.line(format_args!("<- OSCORE {message}")),
                }
                Ok(Reply::Protected {
                    message,
                    partial_iv,
                })
            }
            Err(e) => {
                self.log.line(format_args!(
                    "<- OSCORE response does not verify: {e}: {}",
                    hex(datagram)
                ));
                Err(e.into())
            }
        }
    }

    /// Sends a protected request and verifies the response. A protected 4.01 with an Echo option
    /// (the server lost its replay window, RFC 8613 Appendix B.1.2) is answered once: the
    /// request is sent again with that Echo option and a new sequence number.
    ///
    /// # Errors
    /// As [`Client::exchange_protected`] and [`Client::verify`].
    pub fn request(
        &mut self,
        ctx: &mut SecurityContext,
        request: &OwnedMessage,
    ) -> Result<Reply, ClientError> {
        let ex = self.exchange_protected(ctx, request, None)?;
        let reply = self.verify(ctx, &ex.request_id, &ex.response)?;
        match echo_challenge(&reply) {
            Some(echo) => {
                self.log.line(format_args!(
                    "server asks for Echo {}: resending",
                    hex(&echo)
                ));
                let again = request.clone().with_option(OptionNumber::Echo, &echo);
                let ex = self.exchange_protected(ctx, &again, None)?;
                self.verify(ctx, &ex.request_id, &ex.response)
            }
            None => Ok(reply),
        }
    }

    /// Registers an observation (the request should carry Observe 0) and returns the first
    /// response; further notifications come from [`Client::next_notification`]. Echo recovery
    /// as in [`Client::request`].
    ///
    /// # Errors
    /// As [`Client::request`].
    pub fn observe(
        &mut self,
        ctx: &mut SecurityContext,
        request: &OwnedMessage,
    ) -> Result<Observation, ClientError> {
        let mut ex = self.exchange_protected(ctx, request, None)?;
        let mut first = self.verify(ctx, &ex.request_id, &ex.response)?;
        if let Some(echo) = echo_challenge(&first) {
            let again = request.clone().with_option(OptionNumber::Echo, &echo);
            ex = self.exchange_protected(ctx, &again, None)?;
            first = self.verify(ctx, &ex.request_id, &ex.response)?;
        }
        let notification_number = match &first {
            Reply::Protected { partial_iv, .. } => *partial_iv,
            Reply::Plain(_) => None,
        };
        Ok(Observation {
            token: ex.token,
            request_id: ex.request_id,
            first,
            notification_number,
        })
    }

    /// Waits up to `timeout` for the next notification of `observation` and verifies it;
    /// `Ok(None)` if none came.
    ///
    /// Replay protection of notifications (RFC 8613 Section 7.4.1): a protected notification
    /// must carry a Partial IV greater than the observation's Notification Number, which it
    /// then becomes; an older one is an error.
    ///
    /// # Errors
    /// Socket errors; [`ClientError::Coap`] or [`ClientError::Oscore`] if it does not verify;
    /// [`ClientError::Oscore`] with [`OscoreError::Replay`] for a notification without a
    /// Partial IV or one not newer than the last.
    pub fn next_notification(
        &mut self,
        ctx: &SecurityContext,
        observation: &mut Observation,
        timeout: Duration,
    ) -> Result<Option<Reply>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let Some(datagram) = self.recv(deadline - now)? else {
                continue;
            };
            let Ok(msg) = Message::parse(&datagram) else {
                self.log
                    .line(format_args!("<- unparsable datagram {}", hex(&datagram)));
                continue;
            };
            if msg.token() == observation.token.as_slice() && msg.code().is_response() {
                if msg.msg_type() == MessageType::Confirmable {
                    self.send_empty(MessageType::Acknowledgement, msg.message_id())?;
                    if self.is_duplicate(msg.message_id()) {
                        continue;
                    }
                }
                let reply = self.verify(ctx, &observation.request_id, &datagram)?;
                if let Reply::Protected { partial_iv, .. } = &reply {
                    let fresh = match (*partial_iv, observation.notification_number) {
                        (Some(piv), Some(last)) => piv > last,
                        (Some(_), None) => true,
                        (None, _) => false,
                    };
                    if !fresh {
                        self.log.line(format_args!(
                            "notification with Partial IV {partial_iv:?} is not newer than {:?}",
                            observation.notification_number
                        ));
                        return Err(ClientError::Oscore(OscoreError::Replay));
                    }
                    observation.notification_number = *partial_iv;
                }
                return Ok(Some(reply));
            }
            self.unexpected(&msg)?;
        }
    }

    /// Sends one Confirmable message and waits for its response (piggybacked in the ACK, or
    /// separate after an empty ACK), retransmitting per [`Timing`].
    fn exchange(
        &mut self,
        datagram: &[u8],
        mid: MessageId,
        token: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let start = Instant::now();
        let deadline = start + self.timing.exchange_timeout;
        let mut timeout = self.timing.ack_timeout;
        let mut next_send = start + timeout;
        let mut retransmissions = 0;
        let mut acknowledged = false;
        self.socket.send_to(datagram, self.server)?;
        loop {
            let now = Instant::now();
            if now >= deadline {
                self.log.line("exchange timed out");
                return Err(ClientError::Timeout);
            }
            if !acknowledged && now >= next_send {
                if retransmissions == self.timing.max_retransmit {
                    self.log.line("no answer after all retransmissions");
                    return Err(ClientError::Timeout);
                }
                retransmissions += 1;
                timeout *= 2;
                next_send = now + timeout;
                self.log.line(format_args!(
                    "retransmission {retransmissions} of MID {}",
                    mid.0
                ));
                self.socket.send_to(datagram, self.server)?;
            }
            let until = if acknowledged {
                deadline
            } else {
                next_send.min(deadline)
            };
            let Some(received) = self.recv(until.saturating_duration_since(now))? else {
                continue;
            };
            let Ok(msg) = Message::parse(&received) else {
                self.log
                    .line(format_args!("<- unparsable datagram {}", hex(&received)));
                continue;
            };
            match msg.msg_type() {
                MessageType::Acknowledgement if msg.message_id() == mid => {
                    if msg.code().is_empty() {
                        self.log.line("<- empty ACK: a separate response follows");
                        acknowledged = true;
                    } else if msg.token() == token {
                        return Ok(received);
                    } else {
                        self.log.line("<- ACK with a foreign token, ignored");
                    }
                }
                MessageType::Reset if msg.message_id() == mid => return Err(ClientError::Reset),
                MessageType::Confirmable | MessageType::NonConfirmable
                    if msg.code().is_response() && msg.token() == token =>
                {
                    if msg.msg_type() == MessageType::Confirmable {
                        self.send_empty(MessageType::Acknowledgement, msg.message_id())?;
                        if self.is_duplicate(msg.message_id()) {
                            continue;
                        }
                    }
                    return Ok(received);
                }
                _ => self.unexpected(&msg)?,
            }
        }
    }

    /// Logs a message that belongs to no exchange; rejects it with a Reset if it is Confirmable
    /// (RFC 7252 Section 4.2), which also cancels an observation we no longer want (RFC 7641
    /// Section 3.6).
    fn unexpected(&mut self, msg: &Message<'_>) -> Result<(), ClientError> {
        self.log.line(format_args!(
            "<- unexpected {:?} {} MID {} token {}",
            msg.msg_type(),
            msg.code(),
            msg.message_id().0,
            hex(msg.token())
        ));
        if msg.msg_type() == MessageType::Confirmable {
            self.send_empty(MessageType::Reset, msg.message_id())?;
        }
        Ok(())
    }

    fn is_duplicate(&mut self, mid: MessageId) -> bool {
        if self.seen.contains(&mid.0) {
            self.log.line(format_args!(
                "<- duplicate MID {}, acknowledged again",
                mid.0
            ));
            return true;
        }
        if self.seen.len() >= 64 {
            self.seen.remove(0);
        }
        self.seen.push(mid.0);
        false
    }

    fn send_empty(&mut self, msg_type: MessageType, mid: MessageId) -> Result<(), ClientError> {
        let mut buf = [0u8; 4];
        let len = MessageWriter::new(&mut buf, msg_type, Code::EMPTY, mid, &[])?.finish();
        self.socket.send_to(&buf[..len], self.server)?;
        Ok(())
    }

    /// Receives one datagram from the server within `wait`; `None` on timeout. Datagrams from
    /// other addresses are dropped.
    fn recv(&mut self, wait: Duration) -> Result<Option<Vec<u8>>, ClientError> {
        self.socket
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
        let mut buf = vec![0u8; 2048];
        match self.socket.recv_from(&mut buf) {
            Ok((n, from)) if same_endpoint(from, self.server) => {
                buf.truncate(n);
                Ok(Some(buf))
            }
            Ok((_, from)) => {
                self.log
                    .line(format_args!("dropped a datagram from stranger {from}"));
                Ok(None)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether two addresses are the same endpoint (an IPv4 address and its IPv4-mapped IPv6 form
/// count as the same).
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |s: SocketAddr| (s.ip().to_canonical(), s.port());
    canon(a) == canon(b)
}

/// The Echo value of a protected 4.01 Unauthorized (RFC 8613 Appendix B.1.2).
fn echo_challenge(reply: &Reply) -> Option<Vec<u8>> {
    match reply {
        Reply::Protected { message, .. } if message.code == Code::UNAUTHORIZED => {
            message.option(OptionNumber::Echo).map(<[u8]>::to_vec)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_addresses_are_the_same_endpoint() {
        let v4: SocketAddr = ([127, 0, 0, 1], 5683).into();
        let mapped: SocketAddr = (core::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped(), 5683).into();
        assert!(same_endpoint(v4, mapped));
        assert!(!same_endpoint(v4, ([127, 0, 0, 1], 5684).into()));
    }
}
