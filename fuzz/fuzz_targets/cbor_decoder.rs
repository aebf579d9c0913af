//! Every `Decoder` read on any input: the first input byte chooses a sequence of reads (u64, u8,
//! i64, bytes, text, array, map, simple, bool, skip) applied to the rest. No panic; the decoder
//! stays inside its input and never moves back, a successful read consumes bytes, and strings it
//! returns lie inside the input.
#![no_main]

use ferrule_proto::cbor::Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ops, input)) = data.split_first() else {
        return;
    };
    let mut d = Decoder::new(input);
    let mut op = ops;
    let range = input.as_ptr_range();
    let inside =
        |s: &[u8]| s.is_empty() || (range.start <= s.as_ptr() && s.as_ptr_range().end <= range.end);
    for step in 0..64u32 {
        let before = d.position();
        let ok = match (op % 10, d.peek_type()) {
            (_, None) => break,
            (0, _) => d.u64().is_ok(),
            (1, _) => d.u8().is_ok(),
            (2, _) => d.i64().is_ok(),
            (3, _) => d.bytes().map(|b| assert!(inside(b))).is_ok(),
            (4, _) => d.text().map(|t| assert!(inside(t.as_bytes()))).is_ok(),
            (5, _) => d.array().is_ok(),
            (6, _) => d.map().is_ok(),
            (7, _) => d.simple().is_ok(),
            (8, _) => d.bool().is_ok(),
            _ => d.skip().map(|s| assert!(inside(s))).is_ok(),
        };
        let after = d.position();
        assert!(
            after <= input.len(),
            "position {after} past {}",
            input.len()
        );
        assert!(after >= before, "position moved back");
        if ok {
            assert!(after > before, "a successful read consumed nothing");
        }
        op = op.rotate_left(3) ^ (step as u8);
        if !ok {
            // Try a skip from wherever the failed read left the decoder.
            if d.skip().is_err() {
                break;
            }
        }
    }
});
