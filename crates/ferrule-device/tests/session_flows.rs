//! A device Session against an in-test cloud over an in-memory network: the handshake flows,
//! telemetry, commands, rekeying, Echo recovery, separate responses and sequence-number
//! persistence.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core
)]

mod session_support;

use ferrule_device::session::{Event, Flow, MemoryStorage, Session, SessionError};
use ferrule_proto::coap::{Code, Message, OptionNumber};
use ferrule_proto::edhoc::{EdhocRequest, Method, EDHOC_URI_PATH};
use ferrule_proto::oscore::is_combined_request;
use session_support::{Identities, Sim, TestRng};

fn payloads(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{{\"t\":{i}}}").into_bytes())
        .collect()
}

#[test]
fn combined_request_then_twenty_messages_each_delivered_once() {
    let ids = Identities::new(1);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 2);

    let sent = payloads(20);
    for p in &sent {
        assert!(sim.deliver(p, 10_000), "message {p:?} not delivered");
    }
    assert_eq!(sim.cloud.telemetry(), sent);
    assert!(sim
        .cloud
        .received
        .iter()
        .all(|r| r.content_format == Some(60)));
    assert_eq!(sim.cloud.handshakes_completed, 1);
    assert_eq!(sim.cloud.message_1_seen, 1);
    assert_eq!(sim.cloud.combined_seen, 1);
    assert_eq!(sim.cloud.message_4_sent, 0);
    assert_eq!(sim.count(|e| matches!(e, Event::Connected { .. })), 1);
    assert_eq!(sim.count(|e| matches!(e, Event::Delivered(_))), 20);
    assert_eq!(sim.count(|e| matches!(e, Event::Disconnected { .. })), 0);
    // Connected comes before the first Delivered.
    assert!(matches!(sim.events[0].1, Event::Connected { .. }));
    assert!(sim.session.is_connected());
    assert_eq!(sim.cloud.duplicates_answered, 0);

    // On the wire: message_1 as protocol.md step 1, then the combined request, then plain
    // OSCORE requests: 21 datagrams for 20 messages and a handshake.
    assert_eq!(sim.device_sent.len(), 21);
    let m1 = Message::parse(&sim.device_sent[0]).unwrap();
    let path: Vec<&[u8]> = m1.options_of(OptionNumber::UriPath).collect();
    assert_eq!(path, EDHOC_URI_PATH.map(str::as_bytes));
    assert_eq!(m1.code(), Code::POST);
    assert_eq!(m1.option(OptionNumber::ContentFormat), Some(&[65u8][..]));
    assert!(matches!(
        EdhocRequest::parse(m1.payload()),
        Ok(EdhocRequest::Message1(_))
    ));
    assert_eq!(m1.payload()[0], 0xf5);
    let combined = Message::parse(&sim.device_sent[1]).unwrap();
    assert!(is_combined_request(&combined));
    assert_eq!(combined.code(), Code::POST);
    for d in &sim.device_sent[2..] {
        let m = Message::parse(d).unwrap();
        assert!(m.option(OptionNumber::Oscore).is_some());
        assert!(!is_combined_request(&m));
        assert!(
            m.option(OptionNumber::UriPath).is_none(),
            "Uri-Path must be inner"
        );
    }
    // Sequence numbers grow by one per message.
    let pivs: Vec<u64> = sim.cloud.received.iter().map(|r| r.partial_iv).collect();
    assert!(pivs.windows(2).all(|w| w[1] == w[0] + 1), "{pivs:?}");
}

#[test]
fn plain_flow_with_message_4() {
    let ids = Identities::new(3);
    let config = ids.session_config().with_flow(Flow::WithMessage4);
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 4);

    let sent = payloads(5);
    for p in &sent {
        assert!(sim.deliver(p, 10_000));
    }
    assert_eq!(sim.cloud.telemetry(), sent);
    assert_eq!(sim.cloud.message_4_sent, 1);
    assert_eq!(sim.cloud.combined_seen, 0);
    assert_eq!(sim.count(|e| matches!(e, Event::Connected { .. })), 1);
    // message_1, message_3 (C_R || message_3 to /.well-known/edhoc), then OSCORE.
    let m3 = Message::parse(&sim.device_sent[1]).unwrap();
    assert_eq!(m3.option(OptionNumber::ContentFormat), Some(&[65u8][..]));
    assert!(matches!(
        EdhocRequest::parse(m3.payload()),
        Ok(EdhocRequest::Continue { .. })
    ));
    assert_eq!(sim.device_sent.len(), 2 + 5);
    // Connected is reported on message_4, before the first message is even sent.
    assert!(matches!(sim.events[0].1, Event::Connected { .. }));
}

#[test]
fn command_in_a_2_04_arrives_as_a_command_event() {
    let ids = Identities::new(5);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 6);

    sim.cloud
        .commands
        .push_back((b"\xa1\x63cmd\x66reboot".to_vec(), Some(60)));
    assert!(sim.deliver(b"first", 10_000));
    let commands: Vec<_> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Command {
                payload,
                content_format,
            } => Some((payload.clone(), *content_format)),
            _ => None,
        })
        .collect();
    assert_eq!(commands.len(), 1);
    assert_eq!(&commands[0].0[..], b"\xa1\x63cmd\x66reboot");
    assert_eq!(commands[0].1, Some(60));
    assert!(!commands[0].0.is_truncated());
    // The command comes before the Delivered of the message that carried it.
    let pos = |f: &dyn Fn(&Event) -> bool| sim.events.iter().position(|(_, e)| f(e)).unwrap();
    assert!(
        pos(&|e| matches!(e, Event::Command { .. })) < pos(&|e| matches!(e, Event::Delivered(_)))
    );

    // A message without a pending command brings none.
    assert!(sim.deliver(b"second", 10_000));
    assert_eq!(sim.count(|e| matches!(e, Event::Command { .. })), 1);

    // GET /c fetches one; with none pending, the 2.05 is empty.
    sim.cloud.commands.push_back((b"led on".to_vec(), None));
    let h = sim.session.fetch_command(sim.now()).unwrap();
    assert!(sim.run_until(10_000, |s| s
        .events
        .iter()
        .any(|(_, e)| *e == Event::Delivered(h))));
    let last_command = sim
        .events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            Event::Command {
                payload,
                content_format,
            } => Some((payload.clone(), *content_format)),
            _ => None,
        })
        .unwrap();
    assert_eq!(&last_command.0[..], b"led on");
    assert_eq!(last_command.1, None);
    let fetch = sim.cloud.received.last().unwrap();
    assert_eq!(fetch.path, "c");
    assert!(fetch.payload.is_empty());

    let h = sim.session.fetch_command(sim.now()).unwrap();
    assert!(sim.run_until(10_000, |s| s
        .events
        .iter()
        .any(|(_, e)| *e == Event::Delivered(h))));
    assert_eq!(sim.count(|e| matches!(e, Event::Command { .. })), 2);

    // A command longer than the session's CMD (64) is cut, and says so.
    sim.cloud.commands.push_back((vec![7u8; 100], None));
    assert!(sim.deliver(b"third", 10_000));
    let (_, last) = sim.events.iter().rev().nth(1).unwrap();
    let Event::Command { payload, .. } = last else {
        panic!("{last:?}")
    };
    assert_eq!(&payload[..], &[7u8; 64][..]);
    assert!(payload.is_truncated());
}

#[test]
fn unread_command_makes_send_busy_until_read() {
    let ids = Identities::new(7);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 8);
    sim.cloud.commands.push_back((b"x".to_vec(), None));

    let now = sim.now();
    sim.session.send(now, b"a", None).unwrap();
    assert_eq!(
        sim.session.send(now, b"b", None),
        Err(SessionError::Busy),
        "one message at a time"
    );
    // Move datagrams without reading events.
    let mut out = [0u8; 256];
    for _ in 0..4 {
        while let Some(n) = sim.session.poll_transmit(sim.now(), &mut out) {
            for answer in sim.cloud.handle(&out[..n]) {
                let mut answer = answer;
                sim.session.handle_datagram(now, &mut answer);
            }
        }
    }
    assert!(sim.session.pending().is_none(), "delivered");
    assert_eq!(sim.session.send(now, b"b", None), Err(SessionError::Busy));
    let mut events = Vec::new();
    while let Some(e) = sim.session.poll_event() {
        events.push(e);
    }
    assert!(matches!(events[1], Event::Command { .. }), "{events:?}");
    assert!(sim.session.send(now, b"b", None).is_ok());
}

#[test]
fn rekey_after_n_messages() {
    let ids = Identities::new(9);
    let mut config = ids.session_config();
    config.rekey.after_messages = Some(5);
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 10);

    let sent = payloads(12);
    for p in &sent {
        assert!(sim.deliver(p, 10_000));
    }
    assert_eq!(sim.cloud.telemetry(), sent);
    // Messages 1-5, 6-10 and 11-12 each under their own context.
    assert_eq!(sim.cloud.handshakes_completed, 3);
    assert_eq!(sim.count(|e| matches!(e, Event::Connected { .. })), 3);
    assert_eq!(sim.count(|e| matches!(e, Event::Disconnected { .. })), 0);
    let kids: Vec<&[u8]> = sim.cloud.received.iter().map(|r| &r.kid[..]).collect();
    assert_ne!(kids[4], kids[5]);
    assert_ne!(kids[9], kids[10]);
    assert_eq!(kids[0], kids[4]);
}

#[test]
fn rekey_after_age() {
    let ids = Identities::new(11);
    let mut config = ids.session_config();
    config.rekey.after_ms = Some(60_000);
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 12);

    for p in payloads(3) {
        assert!(sim.deliver(&p, 10_000));
        sim.now += 25_000;
    }
    // 0 s, 25 s, 50 s: one context; at 75 s the context is too old.
    assert_eq!(sim.cloud.handshakes_completed, 1);
    assert!(sim.deliver(b"late", 10_000));
    assert_eq!(sim.cloud.handshakes_completed, 2);
    assert_eq!(sim.cloud.telemetry().len(), 4);
}

#[test]
fn echo_challenge_is_answered_and_the_message_delivered_once() {
    let ids = Identities::new(13);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 14);

    assert!(sim.deliver(b"before", 10_000));
    sim.cloud.lose_replay_windows();
    assert!(sim.deliver(b"after", 10_000));
    assert!(sim.deliver(b"later", 10_000));
    assert_eq!(sim.cloud.echo_challenges, 1);
    assert_eq!(
        sim.cloud.telemetry(),
        vec![b"before".to_vec(), b"after".to_vec(), b"later".to_vec()]
    );
    assert_eq!(sim.cloud.handshakes_completed, 1);
}

#[test]
fn separate_responses_are_accepted_and_acknowledged() {
    let ids = Identities::new(15);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 16);
    sim.cloud.separate = true;

    let sent = payloads(4);
    for p in &sent {
        assert!(sim.deliver(p, 10_000));
    }
    assert_eq!(sim.cloud.telemetry(), sent);
    assert_eq!(sim.count(|e| matches!(e, Event::Delivered(_))), 4);
    sim.turn(); // sends the last acknowledgement
                // Each separate Confirmable response was acknowledged with an empty ACK.
    let acks = sim
        .device_sent
        .iter()
        .filter(|d| d.len() == 4 && d[0] >> 4 == 0b0110)
        .count();
    assert_eq!(acks, 4);
}

#[test]
fn sequence_numbers_are_persisted_in_steps_and_survive_a_reboot() {
    let ids = Identities::new(17);
    let mut config = ids.session_config();
    config.persist_step = 4;
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 18);
    for p in payloads(10) {
        assert!(sim.deliver(&p, 10_000));
    }
    // Sequence numbers 0-9 used: bounds 4, 8, 12 stored.
    assert_eq!(sim.session.storage().writes(), 3);
    assert_eq!(sim.session.storage().bound(), Some(12));

    // Reboot: a new session over the same storage runs a new handshake, and its Partial IVs
    // start at the stored bound.
    let storage: MemoryStorage = *sim.session.storage();
    let session = Session::new(
        &config,
        ferrule_crypto::RustCrypto::new(TestRng::new(99)),
        storage,
    )
    .unwrap();
    let mut sim = Sim::with_session(session, &config, &responder, 19);
    assert!(sim.deliver(b"after reboot", 10_000));
    assert_eq!(sim.cloud.handshakes_completed, 1);
    assert_eq!(sim.cloud.received[0].partial_iv, 12);
    assert_eq!(sim.session.storage().bound(), Some(16));
}

#[test]
fn payload_limit_and_busy() {
    let ids = Identities::new(21);
    let config = ids.session_config();
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 22);
    type S<'a> = session_support::DeviceSession<'a>;
    let max = S::MAX_PAYLOAD;
    assert_eq!(max, 256 - 48);
    let now = sim.now();
    assert_eq!(
        sim.session.send(now, &vec![0u8; max + 1], None),
        Err(SessionError::TooLarge)
    );
    // The largest payload goes through, in the combined request too.
    let big = vec![0x5a; max];
    assert!(sim.deliver(&big, 10_000));
    assert!(sim.deliver(&big, 10_000));
    assert_eq!(sim.cloud.telemetry(), vec![big.clone(), big]);
    assert_eq!(sim.cloud.combined_seen, 1);
}

#[test]
fn too_large_for_the_combined_request_falls_back_to_message_4() {
    let ids = Identities::new(23);
    // Method 0: message_3 carries a 64-byte signature, too much next to the largest payload.
    let config = ids.session_config().with_method(Method::SignSign);
    let responder = ids.responder_config();
    let mut sim = Sim::new(&config, &responder, 24);
    type S<'a> = session_support::DeviceSession<'a>;
    let big = vec![0xa5; S::MAX_PAYLOAD];
    assert!(sim.deliver(&big, 10_000));
    assert_eq!(sim.cloud.combined_seen, 0);
    assert_eq!(sim.cloud.message_4_sent, 1);
    assert!(sim.device_sent.iter().all(|d| d.len() <= 256));

    // A small message with the same method rides in the combined request.
    let mut sim = Sim::new(&config, &responder, 25);
    assert!(sim.deliver(b"small", 10_000));
    assert_eq!(sim.cloud.combined_seen, 1);
    assert_eq!(sim.cloud.message_4_sent, 0);
}
