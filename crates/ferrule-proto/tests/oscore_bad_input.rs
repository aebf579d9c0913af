//! No panic on any input: every truncation and single-byte flip of the RFC 8613 Appendix C
//! protected messages, mutations of them, and random datagrams go through CoAP parsing and
//! OSCORE verification and come out as errors (or, where the flipped byte is one OSCORE leaves
//! unprotected by design, as a message whose protected content is intact).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use ferrule_crypto::RustCrypto;
use ferrule_proto::coap::{option_len, Code, Message, OptionNumber};
use ferrule_proto::oscore::{
    option_class, ContextParams, MemoryStorage, OscoreError, RequestId, SecurityContext, Storage,
    Unprotected,
};
use serde_json::Value;

mod support;

use support::TestRng;

fn crypto() -> RustCrypto<TestRng> {
    RustCrypto::new(TestRng::new(0x2545_f491_4f6c_dd1d))
}

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/rfc8613-appendix-c.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn context(v: &Value, name: &str) -> SecurityContext {
    let i = &v[name]["inputs"];
    let secret = hex_of(&i["Master Secret"]);
    let salt = (!i["Master Salt"].is_null()).then(|| hex_of(&i["Master Salt"]));
    let sender = hex_of(&i["Sender ID"]);
    let recipient = hex_of(&i["Recipient ID"]);
    let id_context = (!i["ID Context"].is_null()).then(|| hex_of(&i["ID Context"]));
    let mut params = ContextParams::new(&secret, &sender, &recipient);
    params.master_salt = salt.as_deref();
    params.id_context = id_context.as_deref();
    SecurityContext::derive(&mut crypto(), &params).unwrap()
}

/// What OSCORE protects: the code, the Class E options and the payload.
type Protected = (Code, Vec<(u16, Vec<u8>)>, Vec<u8>);

fn protected_of_plain(m: &Message<'_>) -> Protected {
    let opts = m
        .options()
        .filter(|o| option_class(o.number).is_inner())
        .map(|o| (o.number.value(), o.value.to_vec()))
        .collect();
    (m.code(), opts, m.payload().to_vec())
}

fn protected_of(m: &Unprotected<'_>) -> Protected {
    let opts = m
        .options()
        .filter(|o| option_class(o.number).is_inner())
        .map(|o| (o.number.value(), o.value.to_vec()))
        .collect();
    (m.code(), opts, m.payload().to_vec())
}

/// Offset of the OSCORE option's first byte in a protected message.
fn oscore_option_offset(bytes: &[u8]) -> usize {
    let m = Message::parse(bytes).unwrap();
    let mut offset = 4 + m.token().len();
    let mut previous = 0u16;
    for o in m.options() {
        if o.number == OptionNumber::Oscore {
            return offset;
        }
        offset += option_len(previous, o.number.value(), o.value.len());
        previous = o.number.value();
    }
    unreachable!("no OSCORE option")
}

/// A verifier for one Appendix C message: a server for requests, a client for responses.
enum Verifier {
    Server {
        name: String,
        ctx: SecurityContext,
    },
    Client {
        ctx: SecurityContext,
        request: RequestId,
    },
}

impl Verifier {
    fn new(v: &Value, name: &str) -> Self {
        let t = &v[name];
        if let Some(req) = t.get("request") {
            let request = &v[req.as_str().unwrap()];
            let mut ctx = context(v, request["security context"].as_str().unwrap());
            let mut storage = MemoryStorage::new();
            storage.store_sequence_bound(20).unwrap();
            ctx.resume(&mut storage, 32).unwrap();
            ctx.reserve(&mut storage).unwrap();
            let plain = hex_of(&request["Unprotected CoAP request"]);
            let mut out = [0u8; 128];
            let (_, id) = ctx
                .protect_request(&mut crypto(), &Message::parse(&plain).unwrap(), &mut out)
                .unwrap();
            Verifier::Client { ctx, request: id }
        } else {
            let c = t["security context"].as_str().unwrap();
            let name = format!("{}2", &c[..c.len() - 1]);
            Verifier::Server {
                ctx: context(v, &name),
                name,
            }
        }
    }

    /// CoAP parse, then OSCORE verification; returns the protected content on success.
    fn verify(&mut self, v: &Value, datagram: &[u8]) -> Result<Protected, OscoreError> {
        if let Ok(m) = Message::parse(datagram) {
            let mut out = vec![0u8; datagram.len()];
            let n = m.emit(&mut out).unwrap();
            assert_eq!(
                &out[..n],
                datagram,
                "parse-then-emit must reproduce the input"
            );
        }
        let mut buf = datagram.to_vec();
        match self {
            Verifier::Server { name, ctx } => {
                let r = ctx
                    .verify_request(&mut crypto(), &mut buf)
                    .map(|r| protected_of(&r.message));
                if r.is_ok() {
                    // Start from a fresh replay window for the next input.
                    *ctx = context(v, name);
                }
                r
            }
            Verifier::Client { ctx, request } => ctx
                .verify_response(&mut crypto(), request, &mut buf)
                .map(|m| protected_of(&m)),
        }
    }
}

const MESSAGES: [&str; 5] = ["C.4", "C.5", "C.6", "C.7", "C.8"];

fn protected_bytes(t: &Value) -> Vec<u8> {
    let r = &t["result"];
    hex_of(
        r.get("Protected CoAP request (OSCORE message)")
            .unwrap_or_else(|| &r["Protected CoAP response (OSCORE message)"]),
    )
}

fn unprotected_bytes(t: &Value) -> Vec<u8> {
    hex_of(
        t.get("Unprotected CoAP request")
            .unwrap_or_else(|| &t["Unprotected CoAP response"]),
    )
}

#[test]
fn oscore_every_truncation_is_an_error() {
    let v = vectors();
    for name in MESSAGES {
        let bytes = protected_bytes(&v[name]);
        let mut verifier = Verifier::new(&v, name);
        assert!(verifier.verify(&v, &bytes).is_ok(), "{name} verifies whole");
        for len in 0..bytes.len() {
            let r = verifier.verify(&v, &bytes[..len]);
            assert!(r.is_err(), "{name} truncated to {len} verified");
        }
    }
}

#[test]
fn oscore_every_single_byte_flip_is_an_error_or_harmless() {
    let v = vectors();
    let mut errors = 0usize;
    let mut harmless = 0usize;
    for name in MESSAGES {
        let t = &v[name];
        let bytes = protected_bytes(t);
        let plain = unprotected_bytes(t);
        let original = protected_of_plain(&Message::parse(&plain).unwrap());
        let protected_from = oscore_option_offset(&bytes);
        let mut verifier = Verifier::new(&v, name);
        for position in 0..bytes.len() {
            for mask in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
                let mut flipped = bytes.clone();
                flipped[position] ^= mask;
                match verifier.verify(&v, &flipped) {
                    Err(e) => {
                        errors += 1;
                        // The wire code matches the error class of RFC 8613 Section 8.2.
                        if let Some(code) = e.response_code() {
                            assert!(code.is_error());
                        }
                    }
                    Ok(content) => {
                        // Only header fields and Class U options are outside the AEAD (the
                        // Message ID, Token, Type, outer code, Uri-Host): the content is intact.
                        assert!(
                            position < protected_from,
                            "{name}: flip {mask:#04x} at {position} in the protected part verified"
                        );
                        assert_eq!(
                            content, original,
                            "{name}: flip at {position} altered content"
                        );
                        harmless += 1;
                    }
                }
            }
        }
    }
    assert!(
        errors > 1000 && harmless > 0,
        "{errors} errors, {harmless} harmless"
    );
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn oscore_random_datagrams_are_errors() {
    let v = vectors();
    let mut rng = XorShift(0x1234_5678_9abc_def1);
    let mut server = Verifier::new(&v, "C.4");
    let mut client = Verifier::new(&v, "C.7");
    for _ in 0..4000 {
        let len = rng.below(96);
        let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Half of them look like CoAP version 1, to get past the first check.
        if rng.below(2) == 0 && !d.is_empty() {
            d[0] = 0x40 | (d[0] & 0x3f);
        }
        assert!(server.verify(&v, &d).is_err());
        assert!(client.verify(&v, &d).is_err());
    }
}

#[test]
fn oscore_mutated_messages_never_panic() {
    let v = vectors();
    let mut rng = XorShift(0xdead_beef_cafe_f00d);
    for name in MESSAGES {
        let t = &v[name];
        let bytes = protected_bytes(t);
        let original = protected_of_plain(&Message::parse(&unprotected_bytes(t)).unwrap());
        let mut verifier = Verifier::new(&v, name);
        for _ in 0..1000 {
            let mut d = bytes.clone();
            for _ in 0..=rng.below(4) {
                match rng.below(4) {
                    0 => {
                        let p = rng.below(d.len());
                        d[p] = rng.next() as u8;
                    }
                    1 => {
                        let p = rng.below(d.len() + 1);
                        d.insert(p, rng.next() as u8);
                    }
                    2 if d.len() > 1 => {
                        let p = rng.below(d.len());
                        d.remove(p);
                    }
                    _ => d.truncate(rng.below(d.len() + 1)),
                }
                if d.is_empty() {
                    break;
                }
            }
            if let Ok(content) = verifier.verify(&v, &d) {
                assert_eq!(
                    content, original,
                    "{name}: mutation altered protected content"
                );
            }
        }
    }
}

#[test]
fn oscore_error_codes_follow_rfc8613_section_8_2() {
    let v = vectors();
    let bytes = protected_bytes(&v["C.5"]);
    let mut server = context(&v, "C.2.2");
    // Malformed OSCORE option (reserved flag bit): 4.02.
    let at = oscore_option_offset(&bytes) + 1;
    let mut d = bytes.clone();
    d[at] |= 0x80;
    let e = server.verify_request(&mut crypto(), &mut d).unwrap_err();
    assert_eq!(
        (e, e.response_code()),
        (OscoreError::MalformedOption, Some(Code::BAD_OPTION))
    );
    // Unknown kid: 4.01.
    let mut d = bytes.clone();
    let kid_at = at + 2;
    d[kid_at] ^= 0x55;
    let e = server.verify_request(&mut crypto(), &mut d).unwrap_err();
    assert_eq!(
        (e, e.response_code()),
        (OscoreError::ContextNotFound, Some(Code::UNAUTHORIZED))
    );
    // Tampered ciphertext: 4.00.
    let mut d = bytes.clone();
    *d.last_mut().unwrap() ^= 1;
    let e = server.verify_request(&mut crypto(), &mut d).unwrap_err();
    assert_eq!(
        (e, e.response_code()),
        (OscoreError::DecryptionFailed, Some(Code::BAD_REQUEST))
    );
    let mut out = [0u8; 64];
    let n = e
        .write_error_response(
            ferrule_proto::coap::MessageType::Acknowledgement,
            ferrule_proto::coap::MessageId(7),
            &[1],
            &mut out,
        )
        .unwrap()
        .unwrap();
    let m = Message::parse(&out[..n]).unwrap();
    assert_eq!(m.code(), Code::BAD_REQUEST);
    assert_eq!(m.option(OptionNumber::MaxAge), Some(&[][..]));
    assert_eq!(m.payload(), b"Decryption failed");
    // Replay: 4.01.
    let mut d = bytes.clone();
    server.verify_request(&mut crypto(), &mut d).unwrap();
    let mut d = bytes.clone();
    let e = server.verify_request(&mut crypto(), &mut d).unwrap_err();
    assert_eq!(
        (e, e.response_code()),
        (OscoreError::Replay, Some(Code::UNAUTHORIZED))
    );
    // Not an OSCORE message: no OSCORE error response.
    let mut d = hex_of(&v["C.5"]["Unprotected CoAP request"]);
    let e = server.verify_request(&mut crypto(), &mut d).unwrap_err();
    assert_eq!((e, e.response_code()), (OscoreError::NotProtected, None));
    // Malformed CoAP: no response code (reset or drop).
    let e = server
        .verify_request(&mut crypto(), &mut [0x40, 0x02, 0])
        .unwrap_err();
    assert!(matches!(e, OscoreError::Coap(_)) && e.response_code().is_none());
}
