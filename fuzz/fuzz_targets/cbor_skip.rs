//! `Decoder::skip` over the input as a CBOR sequence: no panic; each skipped item is a non-empty
//! slice of the input exactly where the decoder was, and the decoder only moves forward.
#![no_main]

use ferrule_proto::cbor::Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::new(data);
    while !d.is_empty() {
        let start = d.position();
        let Ok(item) = d.skip() else {
            return;
        };
        let end = d.position();
        assert!(
            end > start && end <= data.len(),
            "skip moved {start} -> {end}"
        );
        assert_eq!(item, &data[start..end], "skip returned another slice");
        assert_eq!(d.remaining(), &data[end..]);
    }
});
