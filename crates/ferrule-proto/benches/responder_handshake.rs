//! A whole Ferrule EDHOC responder handshake in process, against its crypto ceiling (DESIGN.md
//! budget: server handshakes per second per core >= 70% of the ceiling).
//!
//! `responder_handshake/suiteN/responder`: read_message_1, write_message_2, read_message_3
//! with a `SingleCredential` lookup, method 3, credentials by kid. The initiator's message_1
//! and message_3 are generated in setup (see `support`: the responder's seeded RNG makes its
//! message_2 reproducible), so only the responder is timed. `.../ceiling`: the same
//! handshake's crypto operations replayed straight on `ferrule_crypto` (as in the
//! `crypto_ceiling` bench). `+oscore` variants add the OSCORE context the server derives.
//!
//! After criterion, the ratio ceiling time / responder time is measured once more with the two
//! interleaved (rounds of 50 handshakes each, median of 15 rounds), which a noisy shared
//! machine disturbs less than two measurements taken seconds apart.
//!
//! ```text
//! cargo bench -p ferrule-proto --bench responder_handshake
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    missing_docs
)]

mod support;

use std::time::{Duration, Instant};

use ferrule_proto::edhoc::CipherSuite;
use support::{Bench, Replay, Routine};

/// Pre-generated handshakes the responder cycles through.
const HANDSHAKES: u64 = 16;

struct Pair {
    name: String,
    bench: Bench,
    replay: Replay,
    oscore: bool,
}

fn pairs() -> Vec<Pair> {
    let mut pairs = Vec::new();
    for suite in [CipherSuite::Suite2, CipherSuite::Suite0] {
        for oscore in [false, true] {
            let bench = Bench::new(suite, HANDSHAKES);
            let replay = bench.ceiling(oscore);
            let name = format!("suite{}{}", suite.id(), if oscore { "+oscore" } else { "" });
            eprintln!("{name}: {}", support::summary(replay.ops()));
            pairs.push(Pair {
                name,
                bench,
                replay,
                oscore,
            });
        }
    }
    pairs
}

/// Median over rounds of (ceiling time, responder time) per handshake, interleaved.
fn interleaved(pair: &mut Pair) -> (Duration, Duration) {
    const ROUNDS: usize = 15;
    const PER_ROUND: u32 = 50;
    let mut ceiling = Vec::new();
    let mut responder = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            pair.replay.run();
        }
        ceiling.push(t.elapsed() / PER_ROUND);
        let t = Instant::now();
        for _ in 0..PER_ROUND {
            core::hint::black_box(pair.bench.respond(pair.oscore));
        }
        responder.push(t.elapsed() / PER_ROUND);
    }
    ceiling.sort();
    responder.sort();
    (ceiling[ROUNDS / 2], responder[ROUNDS / 2])
}

fn main() {
    let mut pairs = pairs();
    let callgrind = std::env::var_os("FERRULE_BENCH_ITERS").is_some();
    if callgrind {
        let mut routines: Vec<Routine<'_>> = Vec::new();
        for pair in &mut pairs {
            let Pair {
                name,
                bench,
                replay,
                oscore,
            } = pair;
            let oscore = *oscore;
            routines.push((format!("{name}/ceiling"), Box::new(|| replay.run())));
            routines.push((
                format!("{name}/responder"),
                Box::new(move || {
                    core::hint::black_box(bench.respond(oscore));
                }),
            ));
        }
        support::run_for_callgrind(&mut routines);
        return;
    }

    let mut c = support::criterion();
    for pair in &mut pairs {
        let mut group = c.benchmark_group(format!("responder_handshake/{}", pair.name));
        group.bench_function("ceiling", |b| b.iter(|| pair.replay.run()));
        let oscore = pair.oscore;
        group.bench_function("responder", |b| b.iter(|| pair.bench.respond(oscore)));
        group.finish();
    }
    c.final_summary();

    println!();
    println!("interleaved, median of 15 rounds of 50 (one core):");
    for pair in &mut pairs {
        let (ceiling, responder) = interleaved(pair);
        let per_s = |d: Duration| 1.0 / d.as_secs_f64();
        println!(
            "  {:<14} ceiling {:>7.1} us ({:>6.0}/s)  responder {:>7.1} us ({:>6.0}/s)  \
             responder/ceiling {:.1}%",
            pair.name,
            ceiling.as_secs_f64() * 1e6,
            per_s(ceiling),
            responder.as_secs_f64() * 1e6,
            per_s(responder),
            100.0 * ceiling.as_secs_f64() / responder.as_secs_f64(),
        );
    }
}
