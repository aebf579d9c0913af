//! CoAP codec (RFC 7252 Section 3): parse-then-emit reproduces the input, emit-then-parse
//! reproduces the message, strict rejections, and no panic on random datagrams.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point

use ferrule_proto::coap::{
    decode_uint, sort_options, BlockValue, CoapError, CoapOption, Code, Echo, Message, MessageId,
    MessageType, MessageWriter, OptionNumber, UintValue,
};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn round_trip(bytes: &[u8]) {
    let m = Message::parse(bytes).unwrap();
    let mut out = vec![0u8; bytes.len()];
    let n = m.emit(&mut out).unwrap();
    assert_eq!(&out[..n], bytes);
    assert_eq!(m.buffer_len(), bytes.len());
    // One byte short is an error, not a panic.
    if !bytes.is_empty() {
        assert_eq!(
            m.emit(&mut out[..bytes.len() - 1]),
            Err(CoapError::BufferTooSmall)
        );
    }
}

#[test]
fn coap_generated_messages_round_trip() {
    let mut rng = XorShift(0x0123_4567_89ab_cdef);
    let numbers = [
        1u16, 3, 4, 6, 9, 11, 12, 13, 14, 21, 23, 252, 258, 268, 269, 270, 292, 1000, 65000, 65535,
    ];
    let lengths = [0usize, 1, 4, 12, 13, 14, 40, 268, 269, 270, 600];
    let value = vec![0x5au8; 700];
    for _ in 0..2000 {
        let token_len = rng.below(9) as usize;
        let token: Vec<u8> = (0..token_len).map(|_| rng.next() as u8).collect();
        let mut options: Vec<CoapOption<'_>> = (0..rng.below(6))
            .map(|_| {
                let number = numbers[rng.below(numbers.len() as u64) as usize];
                let len = lengths[rng.below(lengths.len() as u64) as usize];
                CoapOption::new(OptionNumber::new(number), &value[..len])
            })
            .collect();
        sort_options(&mut options);
        let payload_len = if rng.below(2) == 0 {
            0
        } else {
            1 + rng.below(300) as usize
        };
        let payload: Vec<u8> = (0..payload_len).map(|_| rng.next() as u8).collect();
        let code = Code::new(rng.below(6) as u8, 1 + rng.below(31) as u8);
        let msg_type = MessageType::from_bits(rng.next() as u8);
        let id = MessageId(rng.next() as u16);
        let mut buf = vec![0u8; 8000];
        let mut w = MessageWriter::new(&mut buf, msg_type, code, id, &token).unwrap();
        for o in &options {
            w.option(o.number, o.value).unwrap();
        }
        let len = w.payload(&payload).unwrap();
        let bytes = &buf[..len];
        let m = Message::parse(bytes).unwrap();
        assert_eq!(
            (m.msg_type(), m.code(), m.message_id(), m.token()),
            (msg_type, code, id, &token[..])
        );
        assert_eq!(m.options().collect::<Vec<_>>(), options);
        assert_eq!(m.payload(), &payload[..]);
        round_trip(bytes);
        // Every truncation is an error or a shorter valid message, never a panic.
        for cut in 0..len {
            if let Ok(short) = Message::parse(&bytes[..cut]) {
                round_trip(&bytes[..cut]);
                assert!(short.buffer_len() == cut);
            }
        }
    }
}

#[test]
fn coap_random_datagrams_parse_then_emit() {
    let mut rng = XorShift(0xfeed_face_dead_beef);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let len = rng.below(40) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if !d.is_empty() {
            // Version 1, token length 0-8, mostly non-empty code.
            d[0] = 0x40 | (d[0] & 0x30) | (rng.below(9) as u8);
        }
        if Message::parse(&d).is_ok() {
            accepted += 1;
            round_trip(&d);
        }
    }
    assert!(accepted > 100, "only {accepted} random datagrams parsed");
}

#[test]
fn coap_strict_rejections() {
    // Version 2, 0 and 3.
    assert_eq!(
        Message::parse(&[0x80, 0x01, 0, 0]),
        Err(CoapError::UnsupportedVersion(2))
    );
    assert_eq!(
        Message::parse(&[0x00, 0x01, 0, 0]),
        Err(CoapError::UnsupportedVersion(0))
    );
    // Token lengths 9 to 15.
    for tkl in 9..=15u8 {
        let mut d = vec![0x40 | tkl, 0x01, 0, 0];
        d.extend(core::iter::repeat_n(0, 15));
        assert_eq!(Message::parse(&d), Err(CoapError::InvalidTokenLength(tkl)));
    }
    // Delta nibble 15 with a length, and length nibble 15.
    assert_eq!(
        Message::parse(&[0x40, 0x01, 0, 0, 0xf1, 0]),
        Err(CoapError::ReservedOptionNibble)
    );
    assert_eq!(
        Message::parse(&[0x40, 0x01, 0, 0, 0x1f]),
        Err(CoapError::ReservedOptionNibble)
    );
    // Payload marker with nothing after it.
    assert_eq!(
        Message::parse(&[0x40, 0x01, 0, 0, 0xff]),
        Err(CoapError::EmptyPayload)
    );
    assert_eq!(
        Message::parse(&[0x40, 0x01, 0, 0, 0xb1, b'a', 0xff]),
        Err(CoapError::EmptyPayload)
    );
    // Extended forms that run off the end.
    assert_eq!(
        Message::parse(&[0x40, 0x01, 0, 0, 0xd0]),
        Err(CoapError::Truncated)
    );
    assert_eq!(
        Message::parse(&[0x40, 0x01, 0, 0, 0x0e, 0x01]),
        Err(CoapError::Truncated)
    );
    assert_eq!(
        Message::parse(&[0x40, 0x01, 0, 0, 0x0d, 0x00]),
        Err(CoapError::Truncated)
    );
    // Option number past 65535.
    assert_eq!(
        Message::parse(&[0x40, 0x01, 0, 0, 0xe0, 0xff, 0x00, 0xe0, 0xff, 0x00]),
        Err(CoapError::OptionNumberOverflow)
    );
    // Empty message with a token or payload.
    assert_eq!(
        Message::parse(&[0x41, 0x00, 0, 0, 7]),
        Err(CoapError::NonEmptyEmptyMessage)
    );
    assert_eq!(
        Message::parse(&[0x70, 0x00, 0, 0, 0xff, 1]),
        Err(CoapError::NonEmptyEmptyMessage)
    );
    round_trip(&[0x70, 0x00, 0x12, 0x34]);
    // Writers reject out-of-order options and 9-byte tokens.
    let mut buf = [0u8; 64];
    assert_eq!(
        MessageWriter::new(
            &mut buf,
            MessageType::Confirmable,
            Code::GET,
            MessageId(1),
            &[0; 9]
        )
        .err(),
        Some(CoapError::TokenTooLong)
    );
    let mut w = MessageWriter::new(
        &mut buf,
        MessageType::Confirmable,
        Code::GET,
        MessageId(1),
        &[],
    )
    .unwrap();
    w.option(OptionNumber::UriPath, b"a").unwrap();
    assert_eq!(
        w.option(OptionNumber::UriHost, b"h").err(),
        Some(CoapError::OptionOutOfOrder)
    );
    w.option(OptionNumber::UriPath, b"b").unwrap();
    let n = w.finish();
    let m = Message::parse(&buf[..n]).unwrap();
    assert_eq!(
        m.options_of(OptionNumber::UriPath).collect::<Vec<_>>(),
        [b"a", b"b"]
    );
}

#[test]
fn coap_option_values() {
    assert_eq!(decode_uint(UintValue::new(60).as_slice()), Ok(60));
    assert_eq!(UintValue::new(0).as_slice(), &[] as &[u8]);
    let b = BlockValue::new(1, true, 6).unwrap();
    assert_eq!(b.size(), 1024);
    assert_eq!(BlockValue::decode(b.encode().as_slice()), Ok(b));
    assert!(Echo::new(&[0; 8]).is_ok());
    assert!(Echo::new(&[]).is_err());
    assert!(OptionNumber::Edhoc.is_critical());
    assert_eq!(OptionNumber::new(21), OptionNumber::Edhoc);
    assert_eq!(format!("{}", Code::CONTENT), "2.05");
    assert_eq!(format!("{}", OptionNumber::Unknown(65000)), "Option(65000)");
}
