//! `Credential::ccs` on any input: no panic; an accepted CCS carries a 32-byte key (and a 32-byte
//! y-coordinate if any) and can be referred to by value.
#![no_main]

use ferrule_proto::edhoc::{Credential, CredentialFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(credential) = Credential::ccs(data) else {
        return;
    };
    assert_eq!(credential.format(), CredentialFormat::Ccs);
    assert_eq!(credential.bytes(), data);
    assert_eq!(credential.public_x().len(), 32, "CCS key is not 32 bytes");
    if let Some(y) = credential.verifying_key().y {
        assert_eq!(y.len(), 32, "CCS y-coordinate is not 32 bytes");
    }
    assert!(credential.id_by_value().is_some());
    let _ = credential.id_by_kid();
});
