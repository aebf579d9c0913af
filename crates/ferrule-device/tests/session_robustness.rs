//! A device Session never panics on received bytes: random datagrams, truncated and bit-flipped
//! copies of real responses, and real headers with random bodies, in every state of the session;
//! afterwards it still delivers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod session_support;

use ferrule_device::session::{Event, Flow, Instant};
use rand_core::RngCore;
use session_support::{Identities, Sim, TestRng};

/// Drives a fresh simulation through `stage` complete exchanges (queueing a new message whenever
/// none is pending), then sends the next request and captures the cloud's answer to it instead
/// of delivering it; hands both to `f`.
fn at_stage(flow: Flow, stage: usize, seed: u64, f: impl FnOnce(&mut Sim<'_>, Vec<Vec<u8>>)) {
    let ids = Identities::new(seed);
    let config = ids.session_config().with_flow(flow);
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, seed + 1);
    let mut out = [0u8; 256];
    let mut next = 0;
    let mut queue = |sim: &mut Sim<'_>| {
        if sim.session.pending().is_none() {
            next += 1;
            let now = sim.now();
            sim.session
                .send(now, format!("msg {next}").as_bytes(), Some(60))
                .unwrap();
        }
    };
    for _ in 0..stage {
        queue(&mut sim);
        let now = sim.now();
        let n = sim.session.poll_transmit(now, &mut out).unwrap();
        for mut answer in sim.cloud.handle(&out[..n]) {
            sim.session.handle_datagram(now, &mut answer);
        }
        while sim.session.poll_event().is_some() {}
    }
    queue(&mut sim);
    let now = sim.now();
    let n = sim.session.poll_transmit(now, &mut out).unwrap();
    let answers = sim.cloud.handle(&out[..n]);
    assert!(!answers.is_empty());
    f(&mut sim, answers);
}

/// Feeds `datagram` and exercises every other entry point.
fn feed(sim: &mut Sim<'_>, datagram: &mut [u8], rng: &mut TestRng) {
    let now = Instant::from_millis(sim.now + rng.next_u64() % 4_000);
    sim.session.handle_datagram(now, datagram);
    if rng.next_u32() % 8 == 0 {
        sim.session.handle_timeout(now);
    }
    let mut out = [0u8; 256];
    while sim.session.poll_transmit(now, &mut out).is_some() {}
    while sim.session.poll_event().is_some() {}
    let _ = sim.session.poll_timeout();
}

/// After any abuse, the session recovers and delivers.
fn still_delivers(sim: &mut Sim<'_>) {
    sim.events.clear();
    assert!(
        sim.run_until(10_000_000, |s| s.session.pending().is_none()),
        "pending message never ended: {:?}",
        sim.session
    );
    assert!(sim.deliver(b"final", 10_000_000), "{:?}", sim.session);
    assert!(sim
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Delivered(_))));
}

const STAGES: [(Flow, usize); 6] = [
    (Flow::Combined, 0),     // message_1 in flight
    (Flow::Combined, 1),     // combined request in flight, context unconfirmed
    (Flow::Combined, 2),     // OSCORE request in flight, context confirmed
    (Flow::WithMessage4, 0), // message_1 in flight
    (Flow::WithMessage4, 1), // message_3 in flight
    (Flow::WithMessage4, 3), // OSCORE request in flight
];

#[test]
fn random_datagrams_in_every_state() {
    for (i, (flow, stage)) in STAGES.into_iter().enumerate() {
        at_stage(flow, stage, 100 + i as u64, |sim, answers| {
            let mut rng = TestRng::new(i as u64);
            for _ in 0..3_000 {
                let len = (rng.next_u32() % 300) as usize;
                let mut d = vec![0u8; len];
                rng.fill_bytes(&mut d);
                if len > 0 && rng.next_u32() % 2 == 0 {
                    d[0] = 0x40 | (d[0] & 0x3f); // CoAP version 1: reach the option parser
                }
                feed(sim, &mut d, &mut rng);
            }
            // Random bytes never match the Message ID and token in flight: the real answer
            // still completes the exchange.
            for mut a in answers {
                let now = sim.now();
                sim.session.handle_datagram(now, &mut a);
            }
            still_delivers(sim);
        });
    }
}

#[test]
fn truncated_and_bit_flipped_responses_in_every_state() {
    for (i, (flow, stage)) in STAGES.into_iter().enumerate() {
        // Truncations.
        at_stage(flow, stage, 200 + i as u64, |sim, answers| {
            let mut rng = TestRng::new(i as u64);
            let real = answers.last().unwrap().clone();
            for len in 0..real.len() {
                let mut d = real[..len].to_vec();
                feed(sim, &mut d, &mut rng);
            }
            still_delivers(sim);
        });
        // Bit flips, each on a fresh copy of the state (an accepted flip changes it).
        for flip in 0..24 {
            at_stage(flow, stage, 300 + i as u64, |sim, answers| {
                let mut rng = TestRng::new(flip);
                let mut d = answers.last().unwrap().clone();
                let bit = (rng.next_u32() as usize) % (d.len() * 8);
                d[bit / 8] ^= 1 << (bit % 8);
                feed(sim, &mut d, &mut rng);
                let mut d = answers.last().unwrap().clone();
                feed(sim, &mut d, &mut rng);
                still_delivers(sim);
            });
        }
    }
}

#[test]
fn real_headers_with_random_bodies_in_every_state() {
    for (i, (flow, stage)) in STAGES.into_iter().enumerate() {
        for k in 0..16u64 {
            at_stage(flow, stage, 400 + i as u64, |sim, answers| {
                let mut rng = TestRng::new(k * 31 + i as u64);
                let real = answers.last().unwrap();
                // Keep header and token (so the datagram matches the exchange), then random
                // options and payload, sometimes with the OSCORE option or an EDHOC-looking
                // payload.
                let head = 4 + usize::from(real[0] & 0x0f);
                let mut d = real[..head].to_vec();
                match rng.next_u32() % 4 {
                    0 => d.extend_from_slice(&[0x91, 0x01, 0xff]), // OSCORE option, then payload
                    1 => d.extend_from_slice(&[0xc1, 0x40, 0xff]), // Content-Format 64
                    2 => d.push(0xff),
                    _ => {}
                }
                let mut tail = vec![0u8; (rng.next_u32() % 120) as usize];
                rng.fill_bytes(&mut tail);
                if rng.next_u32() % 2 == 0 && !tail.is_empty() {
                    tail[0] = 0x58; // a CBOR byte string head: looks like message_2/3/4
                }
                d.extend_from_slice(&tail);
                feed(sim, &mut d, &mut rng);
                still_delivers(sim);
            });
        }
    }
}

#[test]
fn unrelated_and_duplicate_datagrams_are_ignored() {
    at_stage(Flow::Combined, 2, 500, |sim, answers| {
        let real = answers.last().unwrap().clone();
        // The same response with another token or Message ID is not ours.
        let mut other_token = real.clone();
        other_token[4] ^= 0xff;
        let mut other_mid = real.clone();
        other_mid[3] ^= 0x01;
        let now = sim.now();
        sim.session.handle_datagram(now, &mut other_token);
        sim.session.handle_datagram(now, &mut other_mid);
        assert!(sim.session.pending().is_some());
        // The real one completes it; a duplicate of it afterwards changes nothing.
        let mut d = real.clone();
        sim.session.handle_datagram(now, &mut d);
        assert!(sim.session.pending().is_none());
        let mut d = real.clone();
        sim.session.handle_datagram(now, &mut d);
        let mut delivered = 0;
        while let Some(e) = sim.session.poll_event() {
            delivered += usize::from(matches!(e, Event::Delivered(_)));
        }
        assert_eq!(delivered, 1);
        still_delivers(sim);
    });
}
