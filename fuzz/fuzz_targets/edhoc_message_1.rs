//! `Message1::parse` on any input: no panic, and a parsed message_1 re-encodes to exactly its
//! input (the decoder accepts only deterministic CBOR, so each message has one encoding).
#![no_main]

use ferrule_proto::edhoc::Message1;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message1::parse(data) {
        let mut out = vec![0u8; data.len() + 16];
        let n = message
            .encode(&mut out)
            .expect("a parsed message_1 encodes");
        assert_eq!(&out[..n], data, "message_1 does not re-encode to its input");
    }
});
