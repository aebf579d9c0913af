//! Protecting requests and responses (RFC 8613 Section 5, 8.1 and 8.3).

use super::aad::{aad, MAX_AAD_LEN};
use super::error::from_emit;
use super::option::{OscoreOption, MAX_OSCORE_OPTION_LEN};
use super::replay::ECHO_LEN;
use super::{option_class, Nonce, OscoreError, RequestId, SecurityContext};
use crate::coap::{
    Code, Message, MessageId, MessageType, MessageWriter, OptionNumber, OptionWriter, HEADER_LEN,
    MAX_TOKEN_LEN,
};
use crate::crypto::{AeadAlgorithm, Crypto};

/// Whether a Proxy-Uri value is only `scheme://authority`: OSCORE must not leave a path or
/// query in the clear (RFC 8613 Section 4.1.3.3), and this implementation does not split one.
fn proxy_uri_is_authority_only(value: &[u8]) -> bool {
    let Some(start) = value.windows(3).position(|w| w == b"://") else {
        return false;
    };
    let authority = value.get(start + 3..).unwrap_or(&[]);
    !authority.iter().any(|b| matches!(b, b'/' | b'?' | b'#'))
}

/// Checks that `msg` can be protected: the right kind of code, no OSCORE option yet, no
/// Proxy-Uri that would leak a path.
fn check_protectable(msg: &Message<'_>, request: bool) -> Result<(), OscoreError> {
    let code_ok = if request {
        msg.code().is_request()
    } else {
        msg.code().is_response()
    };
    if !code_ok {
        return Err(OscoreError::InvalidMessage);
    }
    for o in msg.options() {
        match o.number {
            OptionNumber::Oscore => return Err(OscoreError::InvalidMessage),
            OptionNumber::ProxyUri if !proxy_uri_is_authority_only(o.value) => {
                return Err(OscoreError::InvalidMessage)
            }
            _ => {}
        }
    }
    Ok(())
}

/// Writes the outer message (header, Class U options with the OSCORE option among them,
/// payload marker) and then the plaintext (code, Class E options, payload) where the ciphertext
/// goes. Returns the plaintext range; checks that the tag fits after it.
fn write_protected(
    msg: &Message<'_>,
    outer_code: Code,
    oscore_value: &[u8],
    tag_len: usize,
    out: &mut [u8],
) -> Result<(usize, usize), OscoreError> {
    let mut w = MessageWriter::new(
        &mut *out,
        msg.msg_type(),
        outer_code,
        msg.message_id(),
        msg.token(),
    )
    .map_err(from_emit)?;
    let mut oscore_written = false;
    for o in msg.options().filter(|o| option_class(o.number).is_outer()) {
        if !oscore_written && o.number.value() > OptionNumber::Oscore.value() {
            w.option(OptionNumber::Oscore, oscore_value)
                .map_err(from_emit)?;
            oscore_written = true;
        }
        w.option(o.number, o.value).map_err(from_emit)?;
    }
    if !oscore_written {
        w.option(OptionNumber::Oscore, oscore_value)
            .map_err(from_emit)?;
    }
    let start = w.payload_marker().map_err(from_emit)?;
    *out.get_mut(start).ok_or(OscoreError::BufferTooSmall)? = msg.code().to_byte();
    let mut inner = OptionWriter::at(&mut *out, start + 1);
    for o in msg.options().filter(|o| option_class(o.number).is_inner()) {
        inner.option(o.number, o.value).map_err(from_emit)?;
    }
    let end = inner.payload(msg.payload()).map_err(from_emit)?;
    if end
        .checked_add(tag_len)
        .is_none_or(|total| total > out.len())
    {
        return Err(OscoreError::BufferTooSmall);
    }
    Ok((start, end))
}

/// Encrypts `out[start..end]` in place and writes the tag after it; returns the message length.
#[allow(clippy::too_many_arguments)]
fn seal<C: Crypto + ?Sized>(
    crypto: &mut C,
    alg: AeadAlgorithm,
    key: &[u8],
    nonce: &Nonce,
    aad: &[u8],
    out: &mut [u8],
    start: usize,
    end: usize,
) -> Result<usize, OscoreError> {
    let tag_len = alg.tag_len();
    let total = end + tag_len;
    let body = out
        .get_mut(start..total)
        .ok_or(OscoreError::BufferTooSmall)?;
    let (plaintext, tag) = body.split_at_mut(end - start);
    crypto.aead_seal(alg, key, nonce.as_bytes(), aad, plaintext, tag)?;
    Ok(total)
}

impl SecurityContext {
    /// Protects a request (RFC 8613 Section 8.1) and writes the OSCORE message into `out`.
    ///
    /// The outer message keeps Type, Message ID, Token and the Class U options (Uri-Host,
    /// Uri-Port, Proxy-Scheme, Proxy-Uri without path, EDHOC, Observe) and gets the OSCORE
    /// option; its code is POST, or FETCH for an Observe request (Section 4.2). Code, Class E
    /// options and payload are encrypted with the Sender Key under the nonce from the Sender ID
    /// and the next Sender Sequence Number. Returns the message length and the [`RequestId`]
    /// needed to verify the response.
    ///
    /// # Errors
    /// [`OscoreError::InvalidMessage`] if `request` is not a request, already has an OSCORE
    /// option or has a Proxy-Uri with a path or query; [`OscoreError::SequenceNumberExhausted`];
    /// [`OscoreError::SequenceNumberNotPersisted`] if a persisted context needs
    /// [`SecurityContext::reserve`] first; [`OscoreError::BufferTooSmall`].
    pub fn protect_request<C: Crypto + ?Sized>(
        &mut self,
        crypto: &mut C,
        request: &Message<'_>,
        out: &mut [u8],
    ) -> Result<(usize, RequestId), OscoreError> {
        check_protectable(request, true)?;
        let piv = self.peek_partial_iv()?;
        let piv_bytes = piv.encode();
        let mut value = [0u8; MAX_OSCORE_OPTION_LEN];
        let value_len = OscoreOption {
            partial_iv: Some(piv_bytes.as_slice()),
            kid_context: self.id_context.as_ref().map(|c| c.as_slice()),
            kid: Some(self.sender_id.as_slice()),
        }
        .encode(&mut value)?;
        let observe = request.option(OptionNumber::Observe).is_some();
        let outer_code = if observe { Code::FETCH } else { Code::POST };
        let (start, end) = write_protected(
            request,
            outer_code,
            &value[..value_len],
            self.alg.tag_len(),
            out,
        )?;
        let mut aad_buf = [0u8; MAX_AAD_LEN];
        let aad_len = aad(
            self.alg,
            self.sender_id.as_slice(),
            piv_bytes.as_slice(),
            &mut aad_buf,
        )?;
        let nonce = Nonce::new(&self.common_iv, &self.sender_id, piv);
        self.commit_partial_iv();
        let len = seal(
            crypto,
            self.alg,
            self.sender_key.as_bytes(),
            &nonce,
            &aad_buf[..aad_len],
            out,
            start,
            end,
        )?;
        let id = RequestId {
            kid: self.sender_id,
            partial_iv: piv,
            observe,
            nonce_reusable: false,
        };
        Ok((len, id))
    }

    /// Protects a response (RFC 8613 Section 8.3) and writes the OSCORE message into `out`.
    ///
    /// The first response to a fresh request reuses the request's nonce and carries no Partial
    /// IV (the OSCORE option is empty); any later response to the same request (and the
    /// response to a request whose freshness is unknown) uses a Partial IV of its own, as
    /// [`SecurityContext::protect_response_with_piv`] does, so a nonce is never used twice. The
    /// outer code is 2.04 Changed, or 2.05 Content for Observe.
    ///
    /// # Errors
    /// [`OscoreError::InvalidMessage`] if `response` has no response code or already has an
    /// OSCORE option; [`OscoreError::BufferTooSmall`]; the sequence-number errors of
    /// [`SecurityContext::protect_request`] when a Partial IV is needed.
    pub fn protect_response<C: Crypto + ?Sized>(
        &mut self,
        crypto: &mut C,
        request: &mut RequestId,
        response: &Message<'_>,
        out: &mut [u8],
    ) -> Result<usize, OscoreError> {
        if !request.nonce_reusable {
            return self.protect_response_with_piv(crypto, request, response, out);
        }
        check_protectable(response, false)?;
        let outer_code = if request.observe {
            Code::CONTENT
        } else {
            Code::CHANGED
        };
        let (start, end) = write_protected(response, outer_code, &[], self.alg.tag_len(), out)?;
        let piv_bytes = request.partial_iv.encode();
        let mut aad_buf = [0u8; MAX_AAD_LEN];
        let aad_len = aad(
            self.alg,
            request.kid.as_slice(),
            piv_bytes.as_slice(),
            &mut aad_buf,
        )?;
        let nonce = Nonce::new(&self.common_iv, &request.kid, request.partial_iv);
        request.nonce_reusable = false;
        seal(
            crypto,
            self.alg,
            self.sender_key.as_bytes(),
            &nonce,
            &aad_buf[..aad_len],
            out,
            start,
            end,
        )
    }

    /// Protects a response with a Partial IV of its own (RFC 8613 Section 8.3, the case of
    /// Appendix C.8): the nonce is built from this endpoint's Sender ID and next Sender Sequence
    /// Number, and the OSCORE option carries that Partial IV.
    ///
    /// # Errors
    /// As [`SecurityContext::protect_response`].
    pub fn protect_response_with_piv<C: Crypto + ?Sized>(
        &mut self,
        crypto: &mut C,
        request: &RequestId,
        response: &Message<'_>,
        out: &mut [u8],
    ) -> Result<usize, OscoreError> {
        check_protectable(response, false)?;
        let piv = self.peek_partial_iv()?;
        let piv_bytes = piv.encode();
        let mut value = [0u8; MAX_OSCORE_OPTION_LEN];
        let value_len = OscoreOption {
            partial_iv: Some(piv_bytes.as_slice()),
            kid_context: None,
            kid: None,
        }
        .encode(&mut value)?;
        let outer_code = if request.observe {
            Code::CONTENT
        } else {
            Code::CHANGED
        };
        let (start, end) = write_protected(
            response,
            outer_code,
            &value[..value_len],
            self.alg.tag_len(),
            out,
        )?;
        let request_piv = request.partial_iv.encode();
        let mut aad_buf = [0u8; MAX_AAD_LEN];
        let aad_len = aad(
            self.alg,
            request.kid.as_slice(),
            request_piv.as_slice(),
            &mut aad_buf,
        )?;
        let nonce = Nonce::new(&self.common_iv, &self.sender_id, piv);
        self.commit_partial_iv();
        seal(
            crypto,
            self.alg,
            self.sender_key.as_bytes(),
            &nonce,
            &aad_buf[..aad_len],
            out,
            start,
            end,
        )
    }

    /// Writes the protected 4.01 Unauthorized with an Echo option that answers
    /// [`OscoreError::EchoRequired`] (RFC 8613 Appendix B.1.2, RFC 9175 Section 2.4). It uses a
    /// Partial IV of its own: the request may be a replay, so its nonce must not be reused.
    ///
    /// Pass the request's Token; for a Confirmable request the type
    /// [`MessageType::Acknowledgement`] and its Message ID.
    ///
    /// # Errors
    /// [`OscoreError::InvalidMessage`] if no Echo challenge is pending; otherwise as
    /// [`SecurityContext::protect_response`].
    pub fn protect_echo_challenge<C: Crypto + ?Sized>(
        &mut self,
        crypto: &mut C,
        request: &RequestId,
        msg_type: MessageType,
        message_id: MessageId,
        token: &[u8],
        out: &mut [u8],
    ) -> Result<usize, OscoreError> {
        let echo = *self
            .replay
            .pending_echo()
            .ok_or(OscoreError::InvalidMessage)?;
        let mut plain = [0u8; HEADER_LEN + MAX_TOKEN_LEN + 3 + ECHO_LEN];
        let mut w = MessageWriter::new(&mut plain, msg_type, Code::UNAUTHORIZED, message_id, token)
            .map_err(from_emit)?;
        w.option(OptionNumber::Echo, &echo).map_err(from_emit)?;
        let len = w.finish();
        let msg = Message::parse(plain.get(..len).unwrap_or(&[])).map_err(OscoreError::Coap)?;
        self.protect_response_with_piv(crypto, request, &msg, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_uri_check() {
        assert!(proxy_uri_is_authority_only(b"coap://example.com"));
        assert!(proxy_uri_is_authority_only(b"coap://[::1]:5683"));
        assert!(!proxy_uri_is_authority_only(b"coap://example.com/t"));
        assert!(!proxy_uri_is_authority_only(b"coap://example.com?x"));
        assert!(!proxy_uri_is_authority_only(b"example.com"));
    }
}
