//! The responder of RFC 9529 trace 2 reads the input as message_1 and, if it accepts, answers
//! with message_2; the trace's initiator (which sent the trace's message_1) reads that answer.
//!
//! An altered message_1 may well be a valid message_1 (another G_X, C_I or EAD_1), so the oracle
//! is the handshake's: no panic, and the trace's initiator accepts the answer only when the input
//! is the trace's own message_1 (any other message_1 changes TH_2).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "edhoc_common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let trace = common::trace2();
    if let Ok(mut message_2) = trace.responder_reads_message_1(data) {
        let sent = message_2.clone();
        if trace.initiator_reads_message_2(&mut message_2).is_ok() {
            assert!(
                data == common::hex(common::MESSAGE_1),
                "the handshake completes with an altered message_1 {} (message_2 {})",
                common::to_hex(data),
                common::to_hex(&sent)
            );
        }
    }
});
