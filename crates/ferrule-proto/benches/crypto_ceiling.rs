//! The crypto ceiling of the server's EDHOC responder (DESIGN.md budget: server handshakes per
//! second per core >= 70% of it), and the primitives it is made of.
//!
//! `crypto_ceiling/suiteN` replays, straight on `ferrule_crypto`, exactly the crypto operations
//! one method-3 responder handshake performs (recorded from a real one, printed at the start):
//! for suite 2, one P-256 key generation, three P-256 ECDH with x-only peer keys (G_XY, G_RX
//! with the static key, G_IY), and the SHA-256 / HKDF / AES-CCM work; for suite 0 the same with
//! X25519. `+oscore` adds the OSCORE context the server derives afterwards.
//!
//! ```text
//! cargo bench -p ferrule-proto --bench crypto_ceiling
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    missing_docs
)]

mod support;

use core::hint::black_box;

use ferrule_crypto::{RustCrypto, SoftwareKey};
use ferrule_proto::crypto::{AeadAlgorithm, Crypto, Curve, PrivateKey, Prk};
use ferrule_proto::edhoc::CipherSuite;
use support::{summary, Bench, Routine, TestRng};

fn main() {
    let mut crypto = RustCrypto::new(TestRng::new(5));
    let (p256_secret, p256_peer) = crypto.generate_ephemeral(Curve::P256).unwrap();
    let (x25519_secret, x25519_peer) = crypto.generate_ephemeral(Curve::X25519).unwrap();
    let p256_static = SoftwareKey::generate_p256(&mut TestRng::new(6)).unwrap();
    let x25519_static = SoftwareKey::generate_x25519(&mut TestRng::new(7)).unwrap();
    let crypto = core::cell::RefCell::new(crypto);

    let mut routines: Vec<Routine<'_>> = Vec::new();
    for suite in [CipherSuite::Suite2, CipherSuite::Suite0] {
        let bench = Bench::new(suite, 1);
        for oscore in [false, true] {
            let mut replay = bench.ceiling(oscore);
            let name = format!(
                "crypto_ceiling/suite{}{}",
                suite.id(),
                if oscore { "+oscore" } else { "" }
            );
            eprintln!("{name}: {}", summary(replay.ops()));
            routines.push((name, Box::new(move || replay.run())));
        }
    }

    let primitives: Vec<Routine<'_>> = vec![
        (
            "primitives/p256_keygen".into(),
            Box::new(|| {
                black_box(crypto.borrow_mut().generate_ephemeral(Curve::P256).unwrap());
            }),
        ),
        (
            "primitives/p256_ecdh_x_only".into(),
            Box::new(|| {
                black_box(
                    crypto
                        .borrow_mut()
                        .ephemeral_dh(Curve::P256, &p256_secret, &p256_peer)
                        .unwrap(),
                );
            }),
        ),
        (
            "primitives/p256_static_dh".into(),
            Box::new(|| {
                black_box(p256_static.diffie_hellman(&p256_peer).unwrap());
            }),
        ),
        (
            "primitives/x25519_keygen".into(),
            Box::new(|| {
                black_box(
                    crypto
                        .borrow_mut()
                        .generate_ephemeral(Curve::X25519)
                        .unwrap(),
                );
            }),
        ),
        (
            "primitives/x25519_dh".into(),
            Box::new(|| {
                black_box(
                    crypto
                        .borrow_mut()
                        .ephemeral_dh(Curve::X25519, &x25519_secret, &x25519_peer)
                        .unwrap(),
                );
            }),
        ),
        (
            "primitives/x25519_static_dh".into(),
            Box::new(|| {
                black_box(x25519_static.diffie_hellman(&x25519_peer).unwrap());
            }),
        ),
        (
            "primitives/aes_ccm_16_64_128_seal_64B".into(),
            Box::new(|| {
                let mut buffer = [0x5a; 64];
                let mut tag = [0; 8];
                crypto
                    .borrow_mut()
                    .aead_seal(
                        AeadAlgorithm::AesCcm16_64_128,
                        &[1; 16],
                        &[2; 13],
                        &[3; 16],
                        &mut buffer,
                        &mut tag,
                    )
                    .unwrap();
                black_box((buffer, tag));
            }),
        ),
        (
            "primitives/sha256_128B".into(),
            Box::new(|| {
                black_box(crypto.borrow_mut().sha256(&[&[0x5a; 128]]));
            }),
        ),
        (
            "primitives/hkdf_expand_32B".into(),
            Box::new(|| {
                let mut out = [0; 32];
                crypto
                    .borrow_mut()
                    .hkdf_expand(&Prk::from_bytes([1; 32]), &[&[2; 40]], &mut out)
                    .unwrap();
                black_box(out);
            }),
        ),
    ];
    routines.extend(primitives);

    if support::run_for_callgrind(&mut routines) {
        return;
    }
    let mut c = support::criterion();
    for (name, f) in &mut routines {
        c.bench_function(name, |b| b.iter(&mut *f));
    }
    c.final_summary();
}
