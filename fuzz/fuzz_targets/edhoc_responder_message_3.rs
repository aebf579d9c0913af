//! The responder of RFC 9529 trace 2, having sent message_2, reads the input as message_3.
//!
//! First input byte: bit 0 clear, the rest is message_3 as received; set, the rest is a
//! PLAINTEXT_3 that the target encrypts with the trace's K_3 / IV_3 / A_3, so that inputs get
//! past the AEAD to the plaintext parser, the credential lookup and the MAC_3 check. Oracle: no
//! panic, and only the trace's own message_3 is accepted.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "edhoc_common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let message = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        match common::seal_plaintext_3(rest) {
            Some(m) => m,
            None => return,
        }
    };
    let mut buffer = message.clone();
    if common::trace2()
        .responder_reads_message_3(&mut buffer)
        .is_ok()
    {
        // read_message_3 decrypted in place: bstr(PLAINTEXT_3 || tag).
        let content = common::bstr_content(&buffer);
        let plaintext = &content[..content.len().saturating_sub(8)];
        assert!(
            message == common::hex(common::MESSAGE_3),
            "read_message_3 accepted an altered message_3 {} (PLAINTEXT_3 {})",
            common::to_hex(&message),
            common::to_hex(plaintext)
        );
    }
});
