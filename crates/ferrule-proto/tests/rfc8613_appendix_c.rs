//! RFC 8613 Appendix C test vectors, byte for byte: key derivation (C.1-C.3), protected
//! requests (C.4-C.6) and responses (C.7-C.8), in both directions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use ferrule_crypto::RustCrypto;
use ferrule_proto::coap::{Message, OptionNumber};
use ferrule_proto::crypto::AeadAlgorithm;
use ferrule_proto::oscore::{
    aad, aad_array, kdf_info, ContextParams, InfoType, MemoryStorage, Nonce, OscoreOption,
    PartialIv, SecurityContext, Storage,
};
use serde_json::Value;

mod support;

use support::TestRng;

fn crypto() -> RustCrypto<TestRng> {
    RustCrypto::new(TestRng::new(0x9e37_79b9_7f4a_7c15))
}

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/rfc8613-appendix-c.json"
    );
    let text = std::fs::read_to_string(path).expect("RFC 8613 vectors");
    serde_json::from_str(&text).unwrap()
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn opt_hex(v: &Value) -> Option<Vec<u8>> {
    if v.is_null() {
        None
    } else {
        Some(hex_of(v))
    }
}

/// The parameters of a derivation vector (C.1.1 ... C.3.2).
struct Inputs {
    secret: Vec<u8>,
    salt: Option<Vec<u8>>,
    sender: Vec<u8>,
    recipient: Vec<u8>,
    id_context: Option<Vec<u8>>,
}

fn inputs(v: &Value, name: &str) -> Inputs {
    let i = &v[name]["inputs"];
    assert_eq!(i["AEAD Algorithm"], 10);
    Inputs {
        secret: hex_of(&i["Master Secret"]),
        salt: opt_hex(&i["Master Salt"]),
        sender: hex_of(&i["Sender ID"]),
        recipient: hex_of(&i["Recipient ID"]),
        id_context: opt_hex(&i["ID Context"]),
    }
}

fn context(v: &Value, name: &str) -> SecurityContext {
    let i = inputs(v, name);
    let mut params = ContextParams::new(&i.secret, &i.sender, &i.recipient);
    params.master_salt = i.salt.as_deref();
    params.id_context = i.id_context.as_deref();
    SecurityContext::derive(&mut crypto(), &params).unwrap()
}

/// A client context whose next Sender Sequence Number is `ssn`: resumed from storage that holds
/// `ssn` as its bound, as after a restart.
fn context_at(v: &Value, name: &str, ssn: u64) -> SecurityContext {
    let mut ctx = context(v, name);
    let mut storage = MemoryStorage::new();
    storage.store_sequence_bound(ssn).unwrap();
    ctx.resume(&mut storage, 32).unwrap();
    assert!(ctx.reserve(&mut storage).unwrap());
    assert_eq!(ctx.sender_sequence_number(), ssn);
    ctx
}

const DERIVATIONS: [&str; 6] = ["C.1.1", "C.1.2", "C.2.1", "C.2.2", "C.3.1", "C.3.2"];

#[test]
fn rfc8613_c1_to_c3_key_derivation() {
    let v = vectors();
    for name in DERIVATIONS {
        let i = inputs(&v, name);
        let ctx = context(&v, name);
        let info = &v[name]["info"];
        let out = &v[name]["outputs"];
        let alg = AeadAlgorithm::AesCcm16_64_128;
        let ctxb = i.id_context.as_deref();
        let mut buf = [0u8; 64];
        let n = kdf_info(&i.sender, ctxb, alg, InfoType::Key, 16, &mut buf).unwrap();
        assert_eq!(
            buf[..n],
            hex_of(&info["info (for Sender Key)"]),
            "{name} sender info"
        );
        let n = kdf_info(&i.recipient, ctxb, alg, InfoType::Key, 16, &mut buf).unwrap();
        assert_eq!(
            buf[..n],
            hex_of(&info["info (for Recipient Key)"]),
            "{name} recipient info"
        );
        let n = kdf_info(&[], ctxb, alg, InfoType::Iv, 13, &mut buf).unwrap();
        assert_eq!(
            buf[..n],
            hex_of(&info["info (for Common IV)"]),
            "{name} IV info"
        );

        assert_eq!(
            ctx.sender_key().as_bytes()[..],
            hex_of(&out["Sender Key"]),
            "{name}"
        );
        assert_eq!(
            ctx.recipient_key().as_bytes()[..],
            hex_of(&out["Recipient Key"]),
            "{name}"
        );
        assert_eq!(
            ctx.common_iv().as_bytes()[..],
            hex_of(&out["Common IV"]),
            "{name}"
        );
        let piv = PartialIv::decode(&hex_of(&v[name]["nonce Partial IV"])).unwrap();
        let sender_nonce = Nonce::new(ctx.common_iv(), ctx.sender_id(), piv);
        let recipient_nonce = Nonce::new(ctx.common_iv(), ctx.recipient_id(), piv);
        assert_eq!(
            sender_nonce.as_bytes()[..],
            hex_of(&out["sender nonce"]),
            "{name}"
        );
        assert_eq!(
            recipient_nonce.as_bytes()[..],
            hex_of(&out["recipient nonce"]),
            "{name}"
        );
        // Debug never shows key material.
        let dbg = format!("{ctx:?}");
        assert!(
            !dbg.contains("f0910ed7") && dbg.contains("redacted"),
            "{dbg}"
        );
    }
}

/// The server context matching a client vector (C.x.1 -> C.x.2).
fn server_name(client: &str) -> String {
    format!("{}2", &client[..client.len() - 1])
}

#[test]
fn rfc8613_c4_to_c6_protect_requests() {
    let v = vectors();
    for name in ["C.4", "C.5", "C.6"] {
        let t = &v[name];
        let ssn = t["Sender Context"]["Sender Sequence Number"]
            .as_u64()
            .unwrap();
        let mut ctx = context_at(&v, t["security context"].as_str().unwrap(), ssn);
        assert_eq!(
            ctx.common_iv().as_bytes()[..],
            hex_of(&t["Common Context"]["Common IV"])
        );
        assert_eq!(
            ctx.sender_key().as_bytes()[..],
            hex_of(&t["Sender Context"]["Sender Key"])
        );
        let d = &t["derived"];
        let piv = hex_of(&d["Partial IV"]);
        let kid = hex_of(&d["kid"]);
        let mut buf = [0u8; 64];
        let n = aad_array(ctx.aead(), &kid, &piv, &mut buf).unwrap();
        assert_eq!(buf[..n], hex_of(&d["aad_array"]), "{name}");
        let n = aad(ctx.aead(), &kid, &piv, &mut buf).unwrap();
        assert_eq!(buf[..n], hex_of(&d["AAD"]), "{name}");
        let nonce = Nonce::new(
            ctx.common_iv(),
            ctx.sender_id(),
            PartialIv::decode(&piv).unwrap(),
        );
        assert_eq!(nonce.as_bytes()[..], hex_of(&d["nonce"]), "{name}");

        let plain = hex_of(&t["Unprotected CoAP request"]);
        let request = Message::parse(&plain).unwrap();
        let mut out = [0u8; 128];
        let (len, id) = ctx
            .protect_request(&mut crypto(), &request, &mut out)
            .unwrap();
        let expected = hex_of(&t["result"]["Protected CoAP request (OSCORE message)"]);
        assert_eq!(hex::encode(&out[..len]), hex::encode(&expected), "{name}");
        assert_eq!(id.partial_iv().value(), ssn);
        assert_eq!(ctx.sender_sequence_number(), ssn + 1);

        let protected = Message::parse(&out[..len]).unwrap();
        let value = protected.option(OptionNumber::Oscore).unwrap();
        assert_eq!(value, hex_of(&t["result"]["OSCORE option value"]), "{name}");
        let option = OscoreOption::decode(value).unwrap();
        assert_eq!(option.kid.unwrap(), kid);
        if let Some(ctxv) = d.get("kid context") {
            assert_eq!(option.kid_context.unwrap(), hex_of(ctxv));
        }
        assert_eq!(
            protected.payload(),
            hex_of(&t["result"]["ciphertext"]),
            "{name}"
        );
        // The plaintext was code, inner options and payload (encrypted in place).
        assert_eq!(hex_of(&d["plaintext"]).len() + 8, protected.payload().len());
    }
}

#[test]
fn rfc8613_c4_to_c6_server_verifies_requests() {
    let v = vectors();
    for name in ["C.4", "C.5", "C.6"] {
        let t = &v[name];
        let mut server = context(&v, &server_name(t["security context"].as_str().unwrap()));
        let mut datagram = hex_of(&t["result"]["Protected CoAP request (OSCORE message)"]);
        let kid = ferrule_proto::oscore::request_kid(&datagram).unwrap();
        assert!(server.matches(kid.kid, kid.kid_context), "{name}");
        let verified = server.verify_request(&mut crypto(), &mut datagram).unwrap();
        assert_eq!(verified.request_id.partial_iv().value(), 20);
        let mut out = [0u8; 128];
        let n = verified.message.emit(&mut out).unwrap();
        assert_eq!(
            hex::encode(&out[..n]),
            t["Unprotected CoAP request"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            verified.message.option(OptionNumber::UriPath),
            Some(&b"tv1"[..])
        );
        assert_eq!(server.replay_window().highest(), Some(20));
        // The same request again is a replay (4.01).
        let mut again = hex_of(&t["result"]["Protected CoAP request (OSCORE message)"]);
        let err = server
            .verify_request(&mut crypto(), &mut again)
            .unwrap_err();
        assert_eq!(err, ferrule_proto::oscore::OscoreError::Replay);
        assert_eq!(
            err.response_code(),
            Some(ferrule_proto::coap::Code::UNAUTHORIZED)
        );
    }
}

#[test]
fn rfc8613_c7_c8_protect_responses() {
    let v = vectors();
    for (name, own_piv) in [("C.7", false), ("C.8", true)] {
        let t = &v[name];
        let request = &v[t["request"].as_str().unwrap()];
        let mut server = context(&v, t["security context"].as_str().unwrap());
        assert_eq!(
            server.sender_key().as_bytes()[..],
            hex_of(&t["Sender Context"]["Sender Key"])
        );
        let mut datagram = hex_of(&request["result"]["Protected CoAP request (OSCORE message)"]);
        let mut id = server
            .verify_request(&mut crypto(), &mut datagram)
            .unwrap()
            .request_id;
        let d = &t["derived"];
        let mut buf = [0u8; 64];
        let n = aad(
            server.aead(),
            id.kid().as_slice(),
            id.partial_iv().encode().as_slice(),
            &mut buf,
        )
        .unwrap();
        assert_eq!(buf[..n], hex_of(&d["AAD"]), "{name}");

        let plain = hex_of(&t["Unprotected CoAP response"]);
        let response = Message::parse(&plain).unwrap();
        let mut out = [0u8; 128];
        let len = if own_piv {
            server
                .protect_response_with_piv(&mut crypto(), &id, &response, &mut out)
                .unwrap()
        } else {
            let len = server
                .protect_response(&mut crypto(), &mut id, &response, &mut out)
                .unwrap();
            assert!(!id.nonce_reusable(), "the request nonce is used once");
            len
        };
        let expected = hex_of(&t["result"]["Protected CoAP response (OSCORE message)"]);
        assert_eq!(hex::encode(&out[..len]), hex::encode(&expected), "{name}");
        let m = Message::parse(&out[..len]).unwrap();
        assert_eq!(
            m.option(OptionNumber::Oscore).unwrap(),
            hex_of(&t["result"]["OSCORE option value"])
        );
        assert_eq!(m.payload(), hex_of(&t["result"]["ciphertext"]));
        if own_piv {
            let piv = PartialIv::decode(&hex_of(&d["Partial IV"])).unwrap();
            let nonce = Nonce::new(server.common_iv(), server.sender_id(), piv);
            assert_eq!(nonce.as_bytes()[..], hex_of(&d["nonce"]));
            assert_eq!(server.sender_sequence_number(), 1);
        } else {
            let nonce = Nonce::new(server.common_iv(), id.kid(), id.partial_iv());
            assert_eq!(nonce.as_bytes()[..], hex_of(&d["nonce"]));
            assert_eq!(server.sender_sequence_number(), 0);
        }
    }
}

#[test]
fn rfc8613_second_response_to_one_request_uses_its_own_partial_iv() {
    let v = vectors();
    let mut server = context(&v, "C.1.2");
    let mut datagram = hex_of(&v["C.4"]["result"]["Protected CoAP request (OSCORE message)"]);
    let mut id = server
        .verify_request(&mut crypto(), &mut datagram)
        .unwrap()
        .request_id;
    let plain = hex_of(&v["C.7"]["Unprotected CoAP response"]);
    let response = Message::parse(&plain).unwrap();
    let mut first = [0u8; 128];
    let mut second = [0u8; 128];
    let a = server
        .protect_response(&mut crypto(), &mut id, &response, &mut first)
        .unwrap();
    let b = server
        .protect_response(&mut crypto(), &mut id, &response, &mut second)
        .unwrap();
    assert_eq!(
        hex::encode(&first[..a]),
        v["C.7"]["result"]["Protected CoAP response (OSCORE message)"]
            .as_str()
            .unwrap()
    );
    assert_eq!(
        hex::encode(&second[..b]),
        v["C.8"]["result"]["Protected CoAP response (OSCORE message)"]
            .as_str()
            .unwrap()
    );
}

#[test]
fn rfc8613_c7_c8_client_verifies_responses() {
    let v = vectors();
    for name in ["C.7", "C.8"] {
        let t = &v[name];
        let request = &v[t["request"].as_str().unwrap()];
        let mut client = context_at(&v, request["security context"].as_str().unwrap(), 20);
        let plain = hex_of(&request["Unprotected CoAP request"]);
        let mut out = [0u8; 128];
        let (_, id) = client
            .protect_request(&mut crypto(), &Message::parse(&plain).unwrap(), &mut out)
            .unwrap();
        let mut datagram = hex_of(&t["result"]["Protected CoAP response (OSCORE message)"]);
        let response = client
            .verify_response(&mut crypto(), &id, &mut datagram)
            .unwrap();
        let n = response.emit(&mut out).unwrap();
        assert_eq!(
            hex::encode(&out[..n]),
            t["Unprotected CoAP response"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(response.payload(), b"Hello World!");
        assert_eq!(response.code(), ferrule_proto::coap::Code::CONTENT);
    }
}
