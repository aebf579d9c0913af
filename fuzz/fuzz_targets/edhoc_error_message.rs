//! `ErrorMessage::parse` on any input: no panic; a parsed message is recognised by
//! `is_error_message`, and ERR_CODE 1, 2 and 3 messages re-encode to exactly their input through
//! `write_error_message`.
#![no_main]

use ferrule_proto::edhoc::{
    is_error_message, write_error_message, ErrCode, ErrorInfo, ErrorMessage, SuiteList,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = ErrorMessage::parse(data) else {
        return;
    };
    assert!(
        is_error_message(data),
        "parsed but not recognised as an error message"
    );
    let _ = message.to_error();
    let (code, reason, suites) = match message.info {
        ErrorInfo::Diagnostic(text) => (ErrCode::Unspecified, text, SuiteList::new()),
        ErrorInfo::Suites(suites) => (ErrCode::WrongSelectedSuite, "", suites),
        ErrorInfo::UnknownCredential => (ErrCode::UnknownCredential, "", SuiteList::new()),
        ErrorInfo::Other(_) => return,
    };
    let mut out = vec![0u8; data.len() + 16];
    let n = write_error_message(code, reason, &suites, &mut out)
        .expect("a parsed error message encodes");
    assert_eq!(
        &out[..n],
        data,
        "error message does not re-encode to its input"
    );
});
