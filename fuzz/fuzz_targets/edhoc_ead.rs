//! `EadItems::check` on any input, with labels 1 and 2 known: no panic; the accepted items
//! iterate, yield only known labels, and are fewer than the input bytes.
#![no_main]

use ferrule_proto::edhoc::EadItems;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let known = [1u16, 2];
    let Ok(items) = EadItems::check(data, &known) else {
        return;
    };
    let mut count = 0usize;
    for item in items {
        assert!(known.contains(&item.label), "unknown label {}", item.label);
        count += 1;
        assert!(count <= data.len(), "more items than bytes");
    }
});
