//! A device Session when things go wrong: lost and duplicated datagrams, an outage, a cloud
//! restart, a refused handshake.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod session_support;

use ferrule_device::session::{DisconnectReason, Event, Flow, RejectReason};
use ferrule_proto::coap::Code;
use ferrule_proto::edhoc::{CipherSuite, SuiteList};
use session_support::{Identities, Loss, Sim};

fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("m{i}").into_bytes()).collect()
}

fn lossy(flow: Flow, seed: u64) {
    let ids = Identities::new(seed);
    let config = ids.session_config().with_flow(flow);
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, seed + 1);
    sim.up.loss = Loss {
        every: 3,
        ..Loss::default()
    };
    sim.down.loss = Loss {
        every: 3,
        ..Loss::default()
    };

    let sent = payloads(20);
    for p in &sent {
        assert!(sim.deliver(p, 120_000), "message {p:?} not delivered");
    }
    // Every message exactly once at the cloud, every one reported delivered exactly once.
    assert_eq!(sim.cloud.telemetry(), sent);
    assert_eq!(sim.count(|e| matches!(e, Event::Delivered(_))), 20);
    let mut handles: Vec<u32> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Delivered(h) => Some(h.get()),
            _ => None,
        })
        .collect();
    handles.dedup();
    assert_eq!(handles.len(), 20);
    assert!(sim.up.dropped > 5 && sim.down.dropped > 5);
    assert!(
        sim.cloud.duplicates_answered > 0,
        "retransmissions hit the cache"
    );
    assert_eq!(sim.cloud.handshakes_completed, 1);
}

#[test]
fn every_third_datagram_lost_combined_flow() {
    lossy(Flow::Combined, 31);
}

#[test]
fn every_third_datagram_lost_plain_flow() {
    lossy(Flow::WithMessage4, 33);
}

#[test]
fn duplicated_datagrams_change_nothing() {
    let ids = Identities::new(35);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 36);
    sim.up.loss.duplicate = true;
    sim.down.loss.duplicate = true;
    let sent = payloads(10);
    for p in &sent {
        assert!(sim.deliver(p, 10_000));
    }
    assert_eq!(sim.cloud.telemetry(), sent);
    assert_eq!(sim.count(|e| matches!(e, Event::Delivered(_))), 10);
    assert_eq!(sim.cloud.handshakes_completed, 1);
}

#[test]
fn outage_reports_disconnected_keeps_the_message_and_delivers_it_once() {
    let ids = Identities::new(37);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 38);
    assert!(sim.deliver(b"before", 10_000));

    // The cloud receives the request but every answer is lost, for longer than
    // MAX_TRANSMIT_WAIT (93 s).
    sim.down.loss.down = true;
    let h = sim.session.send(sim.now(), b"during", None).unwrap();
    let start = sim.now;
    assert!(sim.run_until(200_000, |s| s
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Disconnected { .. }))));
    let (at, event) = sim.events.last().unwrap().clone();
    assert_eq!(
        event,
        Event::Disconnected {
            reason: DisconnectReason::Timeout
        }
    );
    // Given up after the initial timeout (2-3 s) times 1 + 2 + 4 + 8 + 16: at most
    // MAX_TRANSMIT_WAIT.
    assert!((62_000..=93_000).contains(&(at - start)), "{}", at - start);
    assert!(!sim.session.is_connected());
    assert_eq!(sim.session.pending().map(|p| p.0), Some(h));
    // Retries with back-off while the link is down: no busy loop.
    let sent_before = sim.up.sent;
    sim.run_until(30_000, |_| false);
    assert!(
        sim.up.sent - sent_before <= 5,
        "{}",
        sim.up.sent - sent_before
    );

    // The link comes back: the message is delivered, and the cloud processed it only once
    // (the parked request is sent again unchanged and hits the duplicate cache).
    sim.down.loss.down = false;
    assert!(sim.run_until(1_000_000, |s| s
        .events
        .iter()
        .any(|(_, e)| *e == Event::Delivered(h))));
    assert_eq!(
        sim.cloud.telemetry(),
        vec![b"before".to_vec(), b"during".to_vec()]
    );
    assert_eq!(sim.cloud.handshakes_completed, 1);
    assert_eq!(sim.count(|e| matches!(e, Event::Connected { .. })), 2);
    assert!(sim.deliver(b"after", 10_000));
}

#[test]
fn handshake_outage_backs_off_then_completes() {
    let ids = Identities::new(39);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 40);
    sim.up.loss.down = true;
    let h = sim.session.send(sim.now(), b"first", None).unwrap();
    sim.run_until(400_000, |_| false);
    let disconnects = sim.count(|e| matches!(e, Event::Disconnected { .. }));
    assert!(disconnects >= 1, "{:?}", sim.events);
    // 5 transmissions of message_1 per attempt, attempts spaced by a growing back-off.
    assert!(sim.up.sent >= 10 && sim.up.sent <= 25, "{}", sim.up.sent);
    sim.up.loss.down = false;
    assert!(sim.run_until(2_000_000, |s| s
        .events
        .iter()
        .any(|(_, e)| *e == Event::Delivered(h))));
    assert_eq!(sim.cloud.telemetry(), vec![b"first".to_vec()]);
}

#[test]
fn cloud_restart_leads_to_a_new_handshake_and_the_message_is_delivered() {
    for flow in [Flow::Combined, Flow::WithMessage4] {
        let ids = Identities::new(41);
        let config = ids.session_config().with_flow(flow);
        let responder = ids.responder_config();
        let mut sim = Sim::new(&config, &responder, 42);
        assert!(sim.deliver(b"one", 10_000));
        assert!(sim.deliver(b"two", 10_000));

        sim.cloud.restart();
        assert!(sim.deliver(b"three", 10_000));
        assert!(sim.deliver(b"four", 10_000));
        assert_eq!(
            sim.cloud.telemetry(),
            vec![
                b"one".to_vec(),
                b"two".to_vec(),
                b"three".to_vec(),
                b"four".to_vec()
            ]
        );
        assert_eq!(
            sim.cloud.handshakes_completed, 2,
            "one before, one after the restart"
        );
        assert_eq!(sim.cloud.session_count(), 1);
        assert!(sim.events.iter().any(|(_, e)| *e
            == Event::Disconnected {
                reason: DisconnectReason::ContextLost(Code::UNAUTHORIZED)
            }));
        assert_eq!(sim.count(|e| matches!(e, Event::Connected { .. })), 2);
        assert_eq!(sim.count(|e| matches!(e, Event::Rejected { .. })), 0);
    }
}

#[test]
fn refused_message_3_is_rejected_and_backed_off() {
    for flow in [Flow::Combined, Flow::WithMessage4] {
        let ids = Identities::new(43);
        let config = ids.session_config().with_flow(flow);
        let responder = ids.responder_config();
        let mut sim = Sim::new(&config, &responder, 44);
        sim.cloud.refuse_m3 = true;

        let h = sim.session.send(sim.now(), b"hello", None).unwrap();
        assert!(sim.run_until(10_000, |s| s
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::Rejected { .. }))));
        let (at, event) = sim.events.last().unwrap().clone();
        let expected = match flow {
            Flow::Combined => RejectReason::Refused(Code::UNAUTHORIZED),
            Flow::WithMessage4 => RejectReason::EdhocError {
                err_code: 1,
                response: Code::UNAUTHORIZED,
            },
        };
        assert_eq!(event, Event::Rejected { reason: expected });
        assert!(sim.cloud.telemetry().is_empty());
        // The message stays pending; the next attempt waits: a refusal counts as three failures,
        // 5 s doubled twice, plus up to half again.
        assert_eq!(sim.session.pending().map(|p| p.0), Some(h));
        let retry = sim.session.poll_timeout().unwrap().as_millis();
        assert!(
            retry >= at + 20_000 && retry <= at + 30_000,
            "{}",
            retry - at
        );
        let mut out = [0u8; 256];
        assert!(sim.session.poll_transmit(sim.now(), &mut out).is_none());

        // It keeps being refused, with longer waits, and never delivers.
        sim.run_until(300_000, |_| false);
        let rejections: Vec<u64> = sim
            .events
            .iter()
            .filter(|(_, e)| matches!(e, Event::Rejected { .. }))
            .map(|(t, _)| *t)
            .collect();
        assert!(
            rejections.len() >= 2 && rejections.len() <= 5,
            "{rejections:?}"
        );
        assert!(rejections.windows(2).all(|w| w[1] - w[0] >= 20_000));
        assert_eq!(sim.count(|e| matches!(e, Event::Delivered(_))), 0);

        // Reinstated: delivered on a later attempt.
        sim.cloud.refuse_m3 = false;
        assert!(sim.run_until(2_000_000, |s| s
            .events
            .iter()
            .any(|(_, e)| *e == Event::Delivered(h))));
        assert_eq!(sim.cloud.telemetry(), vec![b"hello".to_vec()]);
    }
}

#[test]
fn revoked_while_connected() {
    let ids = Identities::new(45);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 46);
    assert!(sim.deliver(b"one", 10_000));

    // Revocation: the session is dropped and new handshakes are refused.
    sim.cloud.restart();
    sim.cloud.refuse_m3 = true;
    let _ = sim.session.send(sim.now(), b"two", None).unwrap();
    assert!(sim.run_until(10_000, |s| s
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Rejected { .. }))));
    let kinds: Vec<_> = sim.events.iter().skip(2).map(|(_, e)| e.clone()).collect();
    assert_eq!(
        kinds,
        vec![
            Event::Disconnected {
                reason: DisconnectReason::ContextLost(Code::UNAUTHORIZED)
            },
            Event::Rejected {
                reason: RejectReason::Refused(Code::UNAUTHORIZED)
            }
        ]
    );
}

#[test]
fn protected_error_response_refuses_the_message() {
    let ids = Identities::new(47);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 48);
    assert!(sim.deliver(b"one", 10_000));
    sim.cloud.inner_error = Some(Code::INTERNAL_SERVER_ERROR);
    let h = sim.session.send(sim.now(), b"two", None).unwrap();
    assert!(sim.run_until(10_000, |s| s.session.pending().is_none()));
    assert_eq!(
        sim.events.last().unwrap().1,
        Event::Refused {
            handle: h,
            code: Code::INTERNAL_SERVER_ERROR
        }
    );
    sim.cloud.inner_error = None;
    assert!(sim.deliver(b"two again", 10_000));
    assert!(sim.session.is_connected());
    assert_eq!(sim.cloud.handshakes_completed, 1);
}

#[test]
fn cancel_a_message_given_up_on() {
    let ids = Identities::new(49);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 50);
    assert!(sim.deliver(b"one", 10_000));
    sim.up.loss.down = true;
    let h = sim.session.send(sim.now(), b"stale", None).unwrap();
    let mut out = [0u8; 256];
    assert!(sim.session.poll_transmit(sim.now(), &mut out).is_some());
    assert_eq!(sim.session.cancel(), None, "in flight");
    sim.run_until(200_000, |s| {
        s.events
            .iter()
            .any(|(_, e)| matches!(e, Event::Disconnected { .. }))
    });
    assert_eq!(
        sim.session.cancel(),
        Some(h),
        "given up on: may be cancelled"
    );
    assert!(sim.session.pending().is_none());
    sim.up.loss.down = false;
    assert!(sim.deliver(b"fresh", 1_000_000));
    assert_eq!(
        sim.cloud.telemetry(),
        vec![b"one".to_vec(), b"fresh".to_vec()]
    );
}

#[test]
fn suite_negotiation_after_err_code_2() {
    let ids = Identities::new(51);
    let mut config = ids.session_config();
    // The device prefers suite 3; the cloud only speaks suite 2 and says so (ERR_CODE 2).
    config.edhoc.suites =
        SuiteList::from_suites(&[CipherSuite::Suite3, CipherSuite::Suite2]).unwrap();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 52);
    assert!(sim.deliver(b"negotiated", 10_000));
    assert_eq!(sim.cloud.message_1_seen, 2);
    assert_eq!(sim.count(|e| matches!(e, Event::Rejected { .. })), 0);
    assert!(sim.deliver(b"again", 10_000));
    assert_eq!(sim.cloud.message_1_seen, 2);
}

#[test]
fn an_impostor_cloud_is_rejected() {
    let ids = Identities::new(53);
    let impostor = Identities::new(54);
    let config = ids.session_config();
    // The impostor has its own key but claims the real cloud's kid.
    let credential = impostor.cloud_credential();
    let mut responder = impostor.responder_config();
    responder.id_cred = ids.cloud_credential().id_by_kid().unwrap();
    responder.credential = credential;
    let mut sim = Sim::new(&config, &responder, 55);
    let _ = sim.session.send(sim.now(), b"secret", None).unwrap();
    assert!(sim.run_until(10_000, |s| s
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Rejected { .. }))));
    assert!(matches!(
        sim.events.last().unwrap().1,
        Event::Rejected {
            reason: RejectReason::Handshake(_)
        }
    ));
    assert!(sim.cloud.telemetry().is_empty());
    assert!(
        !sim.device_sent
            .iter()
            .any(|d| d.windows(6).any(|w| w == b"secret")),
        "nothing sent in clear"
    );
}

#[test]
fn unprotected_5_03_keeps_the_context_and_backs_off() {
    let ids = Identities::new(57);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 58);
    assert!(sim.deliver(b"one", 10_000));
    sim.cloud.fail_with = Some(Code::SERVICE_UNAVAILABLE);
    let h = sim.session.send(sim.now(), b"two", None).unwrap();
    assert!(sim.run_until(10_000, |s| s
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::Disconnected { .. }))));
    assert_eq!(
        sim.events.last().unwrap().1,
        Event::Disconnected {
            reason: DisconnectReason::Error(Code::SERVICE_UNAVAILABLE)
        }
    );
    assert!(sim.session.c_r().is_some(), "context kept");
    let retry = sim.session.poll_timeout().unwrap().as_millis();
    assert!(retry >= sim.now + 5_000, "backs off");
    sim.cloud.fail_with = None;
    assert!(sim.run_until(100_000, |s| s
        .events
        .iter()
        .any(|(_, e)| *e == Event::Delivered(h))));
    assert_eq!(
        sim.cloud.telemetry(),
        vec![b"one".to_vec(), b"two".to_vec()]
    );
    assert_eq!(sim.cloud.handshakes_completed, 1);

    // During a handshake, a 5.03 without an EDHOC error message is no refusal either.
    let mut sim = Sim::new(&config, &responder, 59);
    sim.cloud.fail_with = Some(Code::SERVICE_UNAVAILABLE);
    let _ = sim.session.send(sim.now(), b"x", None).unwrap();
    assert!(sim.run_until(10_000, |s| !s.events.is_empty()));
    assert_eq!(
        sim.events[0].1,
        Event::Disconnected {
            reason: DisconnectReason::Error(Code::SERVICE_UNAVAILABLE)
        }
    );
}
