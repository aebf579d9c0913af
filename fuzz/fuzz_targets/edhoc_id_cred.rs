//! `IdCred::decode_plaintext` on any input: no panic, and a decoded ID_CRED written back in its
//! plaintext form decodes to the same value (and its map form encodes).
#![no_main]

use ferrule_proto::cbor::{Decoder, Encoder};
use ferrule_proto::edhoc::IdCred;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::new(data);
    let Ok(id_cred) = IdCred::decode_plaintext(&mut d) else {
        return;
    };
    assert!(d.position() <= data.len());
    let mut out = vec![0u8; data.len() + 32];
    let mut e = Encoder::new(&mut out);
    id_cred
        .encode_plaintext(&mut e)
        .expect("a decoded ID_CRED encodes");
    let n = e.finish();
    let again =
        IdCred::decode_plaintext(&mut Decoder::new(&out[..n])).expect("an encoded ID_CRED decodes");
    assert_eq!(again, id_cred, "ID_CRED changes through encode/decode");
    let mut map = vec![0u8; data.len() + 32];
    id_cred.encode_map(&mut map).expect("map form encodes");
});
