//! CoAP message parsing (RFC 7252 Section 3): no panic on any input, and whatever parses emits
//! back to exactly the input bytes. Option values are also run through the value decoders.
#![no_main]

use ferrule_proto::coap::{decode_uint, BlockValue, Echo, Message, OptionNumber};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = Message::parse(data) else {
        return;
    };
    let mut out = vec![0u8; data.len()];
    let len = message
        .emit(&mut out)
        .expect("a parsed message fits its own length");
    assert_eq!(
        &out[..len],
        data,
        "parse-then-emit must reproduce the input"
    );
    assert_eq!(message.buffer_len(), data.len());
    let mut previous = 0u16;
    for option in message.options() {
        assert!(
            option.number.value() >= previous,
            "options come out in order"
        );
        previous = option.number.value();
        let _ = decode_uint(option.value);
        if matches!(option.number, OptionNumber::Block1 | OptionNumber::Block2) {
            if let Ok(block) = BlockValue::decode(option.value) {
                assert_eq!(BlockValue::decode(block.encode().as_slice()), Ok(block));
            }
        }
        if option.number == OptionNumber::Echo {
            let _ = Echo::new(option.value);
        }
    }
});
