//! OSCORE verification (RFC 8613 Section 8.2 and 8.4) of arbitrary datagrams, as a server
//! verifying requests and as a client verifying responses, with the RFC 8613 Appendix C.1
//! contexts.
//!
//! The first input byte picks the role and the crypto backend. With the real one, inputs almost
//! never pass the AEAD tag, so a second, deliberately insecure backend (its AEAD "open" accepts
//! any tag and leaves the bytes as they are) lets the fuzzer reach what lies behind decryption:
//! plaintext parsing, option merging, the replay window and Echo recovery. No panic either way;
//! whatever verifies must emit as a CoAP message that parses and round-trips.
#![no_main]

use ferrule_crypto::RustCrypto;
use ferrule_proto::coap::Message;
use ferrule_proto::crypto::{
    AeadAlgorithm, Crypto, CryptoError, Curve, EphemeralSecret, Prk, PublicKey, SharedSecret,
    SignatureAlgorithm, VerifyingKey, HASH_LEN,
};
use ferrule_proto::oscore::{
    ContextParams, MemoryStorage, OscoreError, RequestId, SecurityContext, Storage,
};
use libfuzzer_sys::fuzz_target;
use rand_core::{CryptoRng, RngCore};

struct FixedRng(u64);

impl RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        self.0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = (self.next_u64() >> 33) as u8;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for FixedRng {}

/// Real HKDF, but an AEAD that "decrypts" by accepting anything: never use outside fuzzing.
struct InsecureCrypto(RustCrypto<FixedRng>);

impl Crypto for InsecureCrypto {
    fn sha256(&mut self, parts: &[&[u8]]) -> [u8; HASH_LEN] {
        self.0.sha256(parts)
    }
    fn hkdf_extract(&mut self, salt: &[u8], ikm: &[u8]) -> Prk {
        self.0.hkdf_extract(salt, ikm)
    }
    fn hkdf_expand(
        &mut self,
        prk: &Prk,
        info: &[&[u8]],
        okm: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.0.hkdf_expand(prk, info, okm)
    }
    fn aead_seal(
        &mut self,
        _: AeadAlgorithm,
        _: &[u8],
        _: &[u8],
        _: &[u8],
        _: &mut [u8],
        tag: &mut [u8],
    ) -> Result<(), CryptoError> {
        tag.fill(0);
        Ok(())
    }
    fn aead_open(
        &mut self,
        alg: AeadAlgorithm,
        _: &[u8],
        nonce: &[u8],
        _: &[u8],
        _: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        if nonce.len() != alg.nonce_len() || tag.len() != alg.tag_len() {
            return Err(CryptoError::InvalidLength);
        }
        Ok(())
    }
    fn generate_ephemeral(
        &mut self,
        curve: Curve,
    ) -> Result<(EphemeralSecret, PublicKey), CryptoError> {
        self.0.generate_ephemeral(curve)
    }
    fn ephemeral_dh(
        &mut self,
        curve: Curve,
        secret: &EphemeralSecret,
        peer: &PublicKey,
    ) -> Result<SharedSecret, CryptoError> {
        self.0.ephemeral_dh(curve, secret, peer)
    }
    fn verify(
        &mut self,
        alg: SignatureAlgorithm,
        key: &VerifyingKey<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        self.0.verify(alg, key, message, signature)
    }
    fn fill_random(&mut self, out: &mut [u8]) -> Result<(), CryptoError> {
        self.0.fill_random(out)
    }
}

const SECRET: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const SALT: [u8; 8] = [0x9e, 0x7c, 0xa9, 0x22, 0x23, 0x78, 0x63, 0x40];
/// The RFC 8613 Appendix C.4 request (client Sender ID h'', Partial IV 20).
const C4_REQUEST: [u8; 22] = [
    0x44, 0x01, 0x5d, 0x1f, 0x00, 0x00, 0x39, 0x74, 0x39, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x68, 0x6f,
    0x73, 0x74, 0x83, 0x74, 0x76, 0x31,
];

fn context<C: Crypto>(
    crypto: &mut C,
    sender: &[u8],
    recipient: &[u8],
    id_context: bool,
) -> SecurityContext {
    let mut params = ContextParams::new(&SECRET, sender, recipient);
    params.master_salt = Some(&SALT);
    if id_context {
        params.id_context = Some(&[0x37, 0xcb, 0xf3, 0x21, 0x00, 0x17, 0xa2, 0xd3]);
    }
    SecurityContext::derive(crypto, &params).expect("valid parameters")
}

fn check_output(message: &ferrule_proto::oscore::Unprotected<'_>) {
    let mut out = vec![0u8; 70_000];
    let n = message.emit(&mut out).expect("fits");
    let plain = Message::parse(&out[..n]).expect("an unprotected message is valid CoAP");
    let mut again = vec![0u8; n];
    assert_eq!(plain.emit(&mut again), Ok(n));
    assert_eq!(again, out[..n]);
}

fn run<C: Crypto>(crypto: &mut C, mode: u8, input: &[u8]) {
    let id_context = mode & 0x04 != 0;
    if mode & 0x02 == 0 {
        // A server, possibly after a power cut (replay window lost: Echo recovery).
        let mut server = context(crypto, &[0x01], &[], id_context);
        if mode & 0x08 != 0 {
            let mut storage = MemoryStorage::new();
            let _ = storage.store_sequence_bound(5);
            server.resume(&mut storage, 16).expect("resume");
            let _ = server.reserve(&mut storage);
        }
        let _ = ferrule_proto::oscore::request_kid(input);
        for _ in 0..2 {
            let mut datagram = input.to_vec();
            match server.verify_request(crypto, &mut datagram) {
                Ok(verified) => check_output(&verified.message),
                Err(OscoreError::EchoRequired(id)) => {
                    let mut out = [0u8; 128];
                    server
                        .protect_echo_challenge(
                            crypto,
                            &id,
                            ferrule_proto::coap::MessageType::Acknowledgement,
                            ferrule_proto::coap::MessageId(1),
                            &[1, 2],
                            &mut out,
                        )
                        .expect("echo challenge");
                }
                Err(e) => {
                    let mut out = [0u8; 128];
                    let _ = e.write_error_response(
                        ferrule_proto::coap::MessageType::Acknowledgement,
                        ferrule_proto::coap::MessageId(1),
                        &[],
                        &mut out,
                    );
                }
            }
        }
    } else {
        // A client that sent the C.4 request.
        let mut client = context(crypto, &[], &[0x01], id_context);
        let mut storage = MemoryStorage::new();
        let _ = storage.store_sequence_bound(20);
        client.resume(&mut storage, 16).expect("resume");
        client.reserve(&mut storage).expect("reserve");
        let mut out = [0u8; 128];
        let request = Message::parse(&C4_REQUEST).expect("C.4");
        let (_, request_id): (usize, RequestId) = client
            .protect_request(crypto, &request, &mut out)
            .expect("protect");
        let mut datagram = input.to_vec();
        if let Ok(response) = client.verify_response(crypto, &request_id, &mut datagram) {
            check_output(&response);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    if mode & 0x01 == 0 {
        run(&mut RustCrypto::new(FixedRng(1)), mode, input);
    } else {
        run(
            &mut InsecureCrypto(RustCrypto::new(FixedRng(2))),
            mode,
            input,
        );
    }
});
