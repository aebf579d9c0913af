//! The initiator of RFC 9529 trace 2, having sent message_1, reads the input as message_2.
//!
//! First input byte: bit 0 clear, the rest is message_2 as received; set, the rest is a
//! PLAINTEXT_2 that the target encrypts with the trace's KEYSTREAM_2 (PRK_2e, TH_2) and G_Y, so
//! that inputs reach the plaintext parser, the credential lookup and the MAC_2 check. Oracle: no
//! panic, and only the trace's own message_2 is accepted.
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
        match common::seal_plaintext_2(rest) {
            Some(m) => m,
            None => return,
        }
    };
    let mut buffer = message.clone();
    if common::trace2()
        .initiator_reads_message_2(&mut buffer)
        .is_ok()
    {
        // read_message_2 decrypted in place: bstr(G_Y || PLAINTEXT_2).
        let plaintext = common::bstr_content(&buffer).get(32..).unwrap_or(&[]);
        assert!(
            message == common::hex(common::MESSAGE_2),
            "read_message_2 accepted an altered message_2 {} (PLAINTEXT_2 {})",
            common::to_hex(&message),
            common::to_hex(plaintext)
        );
    }
});
