//! Verifying requests and responses (RFC 8613 Section 8.2 and 8.4), and the decrypted view.

use subtle::ConstantTimeEq;

use super::aad::{aad, MAX_AAD_LEN};
use super::option::OscoreOption;
use super::replay::ECHO_LEN;
use super::{option_class, Nonce, OptionClass, OscoreError, PartialIv, RequestId, SecurityContext};
use crate::coap::{
    split_options, CoapError, CoapOption, Code, Message, MessageId, MessageType, MessageWriter,
    OptionNumber, Options,
};
use crate::crypto::{AeadAlgorithm, Crypto};

/// The 'kid' and 'kid context' of a protected request, for finding its security context before
/// verifying it (RFC 8613 Section 8.2 step 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestKid<'a> {
    /// The 'kid': the client's Sender ID, this server's Recipient ID.
    pub kid: &'a [u8],
    /// The 'kid context', if the request carries one.
    pub kid_context: Option<&'a [u8]>,
    /// The request's Partial IV.
    pub partial_iv: PartialIv,
}

/// Parses a datagram and decodes its (single) OSCORE option; checks the ciphertext can hold a
/// tag and a code byte.
fn decode(datagram: &[u8], tag_len: usize) -> Result<(Message<'_>, OscoreOption<'_>), OscoreError> {
    let msg = Message::parse(datagram).map_err(OscoreError::Coap)?;
    let mut value = None;
    for o in msg.options().filter(|o| o.number == OptionNumber::Oscore) {
        if value.replace(o.value).is_some() {
            return Err(OscoreError::MalformedOption);
        }
    }
    let option = OscoreOption::decode(value.ok_or(OscoreError::NotProtected)?)?;
    if msg.payload().len() <= tag_len {
        return Err(OscoreError::MalformedOption);
    }
    Ok((msg, option))
}

/// Reads the 'kid', 'kid context' and Partial IV of a protected request, so that a server can
/// look up the security context for [`SecurityContext::verify_request`].
///
/// # Errors
/// [`OscoreError::Coap`] for a malformed CoAP message, [`OscoreError::NotProtected`] without an
/// OSCORE option, [`OscoreError::InvalidMessage`] if it is not a request,
/// [`OscoreError::MalformedOption`] (4.02) if the option cannot be decoded or lacks a kid or
/// Partial IV.
pub fn request_kid(datagram: &[u8]) -> Result<RequestKid<'_>, OscoreError> {
    // The tag length only bounds the payload check; 8 is the shortest tag of any algorithm.
    let (msg, option) = decode(datagram, 8)?;
    if !msg.code().is_request() {
        return Err(OscoreError::InvalidMessage);
    }
    let (Some(piv), Some(kid)) = (option.partial_iv, option.kid) else {
        return Err(OscoreError::MalformedOption);
    };
    Ok(RequestKid {
        kid,
        kid_context: option.kid_context,
        partial_iv: PartialIv::decode(piv)?,
    })
}

/// Decrypts the payload of `datagram` from `start` on in place; the last `tag_len` bytes are
/// the tag.
#[allow(clippy::too_many_arguments)]
fn open<C: Crypto + ?Sized>(
    crypto: &mut C,
    alg: AeadAlgorithm,
    key: &[u8],
    nonce: &Nonce,
    aad: &[u8],
    datagram: &mut [u8],
    start: usize,
) -> Result<(), OscoreError> {
    let body = datagram
        .get_mut(start..)
        .ok_or(OscoreError::MalformedOption)?;
    let split = body
        .len()
        .checked_sub(alg.tag_len())
        .ok_or(OscoreError::MalformedOption)?;
    let (ciphertext, tag) = body.split_at_mut(split);
    crypto
        .aead_open(alg, key, nonce.as_bytes(), aad, ciphertext, tag)
        .map_err(|_| OscoreError::DecryptionFailed)
}

/// A verified, decrypted OSCORE message (RFC 8613 Section 8.2 steps 8-9): Type, Message ID and
/// Token of the outer message; code, options and payload from the plaintext, merged with the
/// outer options that survive (Class U options not repeated inside; the OSCORE option and any
/// outer Class E option are discarded).
///
/// Borrows the datagram, which now holds the plaintext where the ciphertext was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unprotected<'a> {
    msg_type: MessageType,
    message_id: MessageId,
    token: &'a [u8],
    code: Code,
    outer: &'a [u8],
    inner: &'a [u8],
    payload: &'a [u8],
}

impl<'a> Unprotected<'a> {
    /// Builds the view over a datagram whose ciphertext was decrypted in place.
    fn new(datagram: &'a [u8], tag_len: usize, request: bool) -> Result<Self, OscoreError> {
        let msg = Message::parse(datagram).map_err(OscoreError::Coap)?;
        let payload = msg.payload();
        let plaintext = payload
            .get(..payload.len().saturating_sub(tag_len))
            .ok_or(OscoreError::MalformedPlaintext)?;
        let (&code, rest) = plaintext
            .split_first()
            .ok_or(OscoreError::MalformedPlaintext)?;
        let code = Code::from_byte(code);
        if (request && !code.is_request()) || (!request && !code.is_response()) {
            return Err(OscoreError::MalformedPlaintext);
        }
        let (inner, payload) = split_options(rest).map_err(|_| OscoreError::MalformedPlaintext)?;
        if Options::new(inner).any(|o| o.number == OptionNumber::Oscore) {
            return Err(OscoreError::MalformedPlaintext);
        }
        Ok(Self {
            msg_type: msg.msg_type(),
            message_id: msg.message_id(),
            token: msg.token(),
            code,
            outer: msg.options_bytes(),
            inner,
            payload,
        })
    }

    /// The message type (from the outer message).
    pub const fn msg_type(&self) -> MessageType {
        self.msg_type
    }

    /// The Message ID (from the outer message).
    pub const fn message_id(&self) -> MessageId {
        self.message_id
    }

    /// The Token (from the outer message).
    pub const fn token(&self) -> &'a [u8] {
        self.token
    }

    /// The decrypted code.
    pub const fn code(&self) -> Code {
        self.code
    }

    /// The options of the decrypted message, in ascending order.
    pub fn options(&self) -> UnprotectedOptions<'a> {
        let mut it = UnprotectedOptions {
            outer: Options::new(self.outer),
            inner: Options::new(self.inner),
            inner_region: self.inner,
            next_outer: None,
            next_inner: None,
        };
        it.next_outer = it.advance_outer();
        it.next_inner = it.inner.next();
        it
    }

    /// The value of the first option with this number.
    pub fn option(&self, number: OptionNumber) -> Option<&'a [u8]> {
        self.options().find(|o| o.number == number).map(|o| o.value)
    }

    /// The decrypted payload (empty if none).
    pub const fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Writes the decrypted message as a plain CoAP message and returns its length.
    ///
    /// # Errors
    /// [`CoapError::BufferTooSmall`].
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, CoapError> {
        let mut w = MessageWriter::new(out, self.msg_type, self.code, self.message_id, self.token)?;
        for o in self.options() {
            w.option(o.number, o.value)?;
        }
        w.payload(self.payload)
    }
}

/// The options of an [`Unprotected`] message: outer and inner options merged in order.
#[derive(Clone, Debug)]
pub struct UnprotectedOptions<'a> {
    outer: Options<'a>,
    inner: Options<'a>,
    inner_region: &'a [u8],
    next_outer: Option<CoapOption<'a>>,
    next_inner: Option<CoapOption<'a>>,
}

impl<'a> UnprotectedOptions<'a> {
    fn advance_outer(&mut self) -> Option<CoapOption<'a>> {
        let inner = self.inner_region;
        self.outer.by_ref().find(|o| {
            o.number != OptionNumber::Oscore
                && option_class(o.number) != OptionClass::Encrypted
                && !Options::new(inner).any(|i| i.number == o.number)
        })
    }
}

impl<'a> Iterator for UnprotectedOptions<'a> {
    type Item = CoapOption<'a>;

    fn next(&mut self) -> Option<CoapOption<'a>> {
        let take_outer = match (&self.next_outer, &self.next_inner) {
            (Some(o), Some(i)) => o.number.value() <= i.number.value(),
            (Some(_), None) => true,
            (None, _) => false,
        };
        if take_outer {
            let item = self.next_outer.take();
            self.next_outer = self.advance_outer();
            item
        } else {
            let item = self.next_inner.take();
            self.next_inner = self.inner.next();
            item
        }
    }
}

/// A request that verified, with what its response needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifiedRequest<'a> {
    /// The decrypted request.
    pub message: Unprotected<'a>,
    /// Binds the response to this request: pass it to
    /// [`SecurityContext::protect_response`].
    pub request_id: RequestId,
}

impl SecurityContext {
    /// Verifies and decrypts a protected request in place (RFC 8613 Section 8.2).
    ///
    /// Steps: parse the CoAP message; decode the OSCORE option (4.02 if it cannot be decoded or
    /// lacks kid or Partial IV); check kid and kid context against this context (4.01 if they
    /// do not match); check the replay window (4.01); decrypt with the Recipient Key under the
    /// nonce from the kid and Partial IV (4.00 if it fails); parse the plaintext; only then
    /// update the replay window.
    ///
    /// After a power cut the window is uninitialized (see [`SecurityContext::resume`]): an
    /// authentic request is then accepted only if it carries the Echo value of this server's
    /// challenge, which initializes the window; any other yields
    /// [`OscoreError::EchoRequired`] (Appendix B.1.2).
    ///
    /// On error, the payload bytes of `datagram` are unspecified.
    ///
    /// # Errors
    /// See [`OscoreError`] and [`OscoreError::response_code`] for the answer each one calls
    /// for.
    pub fn verify_request<'a, C: Crypto + ?Sized>(
        &mut self,
        crypto: &mut C,
        datagram: &'a mut [u8],
    ) -> Result<VerifiedRequest<'a>, OscoreError> {
        let tag_len = self.alg.tag_len();
        let (piv, observe, start) = {
            let (msg, option) = decode(datagram, tag_len)?;
            if !msg.code().is_request() {
                return Err(OscoreError::InvalidMessage);
            }
            let (Some(piv), Some(kid)) = (option.partial_iv, option.kid) else {
                return Err(OscoreError::MalformedOption);
            };
            let piv = PartialIv::decode(piv)?;
            if !self.matches(kid, option.kid_context) {
                return Err(OscoreError::ContextNotFound);
            }
            let observe = msg.code() == Code::FETCH;
            (piv, observe, datagram.len() - msg.payload().len())
        };
        self.replay.check(piv.value())?;
        let piv_bytes = piv.encode();
        let mut aad_buf = [0u8; MAX_AAD_LEN];
        let aad_len = aad(
            self.alg,
            self.recipient_id.as_slice(),
            piv_bytes.as_slice(),
            &mut aad_buf,
        )?;
        let nonce = Nonce::new(&self.common_iv, &self.recipient_id, piv);
        let key = self.recipient_key.as_bytes();
        open(
            crypto,
            self.alg,
            key,
            &nonce,
            &aad_buf[..aad_len],
            datagram,
            start,
        )?;
        let datagram: &'a [u8] = datagram;
        let message = Unprotected::new(datagram, tag_len, true)?;
        let mut request_id = RequestId {
            kid: self.recipient_id,
            partial_iv: piv,
            observe,
            nonce_reusable: true,
        };
        if self.replay.is_initialized() {
            self.replay.accept(piv.value());
        } else {
            let echoed = match (
                self.replay.pending_echo(),
                message.option(OptionNumber::Echo),
            ) {
                (Some(expected), Some(got)) => bool::from(expected.as_slice().ct_eq(got)),
                _ => false,
            };
            if !echoed {
                if self.replay.pending_echo().is_none() {
                    let mut value = [0u8; ECHO_LEN];
                    crypto.fill_random(&mut value)?;
                    self.replay.set_echo(value);
                }
                request_id.nonce_reusable = false;
                return Err(OscoreError::EchoRequired(request_id));
            }
            self.replay.initialize_fresh(piv.value());
        }
        Ok(VerifiedRequest {
            message,
            request_id,
        })
    }

    /// Verifies and decrypts a protected response in place (RFC 8613 Section 8.4). The nonce
    /// is the request's unless the response carries a Partial IV of its own; the AAD always
    /// binds the request's kid and Partial IV. A client drops a response that fails.
    ///
    /// Replay protection of responses comes from that binding; notifications (Observe) are not
    /// checked for order here.
    ///
    /// On error, the payload bytes of `datagram` are unspecified.
    ///
    /// # Errors
    /// [`OscoreError::Coap`], [`OscoreError::NotProtected`], [`OscoreError::InvalidMessage`]
    /// (not a response), [`OscoreError::MalformedOption`], [`OscoreError::ContextNotFound`] (a
    /// kid that is not the server's), [`OscoreError::DecryptionFailed`],
    /// [`OscoreError::MalformedPlaintext`].
    pub fn verify_response<'a, C: Crypto + ?Sized>(
        &self,
        crypto: &mut C,
        request: &RequestId,
        datagram: &'a mut [u8],
    ) -> Result<Unprotected<'a>, OscoreError> {
        let tag_len = self.alg.tag_len();
        let (nonce, start) = {
            let (msg, option) = decode(datagram, tag_len)?;
            if !msg.code().is_response() {
                return Err(OscoreError::InvalidMessage);
            }
            if option
                .kid
                .is_some_and(|kid| kid != self.recipient_id.as_slice())
            {
                return Err(OscoreError::ContextNotFound);
            }
            let nonce = match option.partial_iv {
                Some(piv) => {
                    Nonce::new(&self.common_iv, &self.recipient_id, PartialIv::decode(piv)?)
                }
                None => Nonce::new(&self.common_iv, &request.kid, request.partial_iv),
            };
            (nonce, datagram.len() - msg.payload().len())
        };
        let request_piv = request.partial_iv.encode();
        let mut aad_buf = [0u8; MAX_AAD_LEN];
        let aad_len = aad(
            self.alg,
            request.kid.as_slice(),
            request_piv.as_slice(),
            &mut aad_buf,
        )?;
        let key = self.recipient_key.as_bytes();
        open(
            crypto,
            self.alg,
            key,
            &nonce,
            &aad_buf[..aad_len],
            datagram,
            start,
        )?;
        let datagram: &'a [u8] = datagram;
        Unprotected::new(datagram, tag_len, false)
    }
}
