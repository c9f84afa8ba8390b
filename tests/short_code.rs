//! Pairing by a short code (spec/PROTOCOL.md 4.7.2): the code exchange and the pairing handshake
//! it keys, end to end; a test per failure (wrong code, replayed messages, a code used twice,
//! malformed code messages, too many attempts); the reconnect with `KK` that follows; and the
//! offline search an attacker would run on a recorded transcript, which confirms a code against
//! the naive design (the code as the PSK) and confirms nothing against this one.

mod common;

use common::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tether::handshake::Established;
use tether::pairing::PairingCode;
use tether::short_code::{
    AttemptLimiter, CodeKey, DevicePairing, PhonePairing, ShortCode, CODE_MESSAGE_LEN,
};
use tether::*;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn code(text: &str) -> ShortCode {
    ShortCode::parse(text.as_bytes()).unwrap()
}

const FRAMING: Framing = Framing::Datagram;
const CHANNEL: ChannelKind = ChannelKind::DevicePhone;

/// Everything that crossed in one attempt, for replays and offline searches.
#[derive(Default, Clone)]
struct Recorded {
    phone_code_msg: Vec<u8>,
    device_code_msg: Vec<u8>,
    handshake: Vec<Vec<u8>>,
}

/// One attempt: the phone types `typed`, the device shows the code held by `device`. Returns both
/// established sessions, or the first error and what crossed until then.
fn attempt(
    typed: ShortCode,
    device: &mut DevicePairing,
    limiter: &mut AttemptLimiter,
    now: Instant,
    seed: u64,
) -> (Result<(Established, Established), Error>, Recorded) {
    let mut rec = Recorded::default();
    let result = (|| {
        let (phone_party, device_party) = (phone(), device_fixture());
        let mut buf = [0u8; 64];
        let (mut pake, n) = PhonePairing::start(FRAMING, typed, &mut rng(seed), &mut buf)?;
        rec.phone_code_msg = buf[..n].to_vec();
        let mut out = [0u8; 64];
        let (device_key, m) = device.respond(
            limiter,
            now,
            &rec.phone_code_msg,
            &mut rng(seed + 1),
            &mut out,
        )?;
        rec.device_code_msg = out[..m].to_vec();
        let phone_key = pake.finish(&rec.device_code_msg)?;
        let (init, resp) = pairing_handshake(
            &phone_key,
            &device_key,
            &phone_party,
            &device_party,
            seed,
            &mut rec,
        )?;
        Ok((init, resp))
    })();
    (result, rec)
}

fn device_fixture() -> common::Party {
    common::device()
}

fn pairing_handshake(
    phone_key: &CodeKey,
    device_key: &CodeKey,
    phone_party: &common::Party,
    device_party: &common::Party,
    seed: u64,
    rec: &mut Recorded,
) -> Result<(Established, Established), Error> {
    let cfg = config(phone_party, Suite::ENABLED[0], FRAMING, CHANNEL);
    let rcfg = responder_config(device_party, FRAMING, CHANNEL);
    let mut init = Initiator::code_pairing(&cfg, phone_key, &mut rng(seed + 2))?;
    let mut buf = vec![0u8; 1024];
    let n = write(&mut init, &mut buf)?;
    rec.handshake.push(buf[..n].to_vec());
    let mut resp = Responder::accept_code_pairing(
        &rcfg,
        device_key,
        &buf[..n],
        &mut accept_all,
        NOW,
        &mut rng(seed + 3),
    )?;
    let n = write(&mut resp, &mut buf)?;
    rec.handshake.push(buf[..n].to_vec());
    init.read_message(&buf[..n], &mut accept_all, NOW)?;
    let n = write(&mut init, &mut buf)?;
    rec.handshake.push(buf[..n].to_vec());
    resp.read_message(&buf[..n], &mut accept_all, NOW)?;
    Ok((init.finish(T0)?, resp.finish(T0)?))
}

/// Seals `msg` on `a` and opens it on `b`.
fn carry(a: &mut Session, b: &mut Session, msg: &[u8]) -> Result<Vec<u8>, Error> {
    let mut wire = vec![0u8; a.seal_capacity(msg.len())];
    let sealed = a.seal(T0, msg, &mut wire)?;
    let mut out = vec![0u8; msg.len() + 64];
    match b.open(T0, &wire[..sealed.total()], &mut out)? {
        Event::Data(d) => Ok(d.to_vec()),
        other => panic!("expected data, got {other:?}"),
    }
}

#[test]
fn the_same_code_pairs_both_ways_and_the_pair_reconnects_with_kk() {
    let mut limiter = AttemptLimiter::new();
    let mut device = DevicePairing::new(FRAMING, code("204913"));
    let (result, rec) = attempt(code("204913"), &mut device, &mut limiter, T0, 1);
    let (mut phone_side, mut device_side) = result.unwrap();
    assert_eq!(rec.phone_code_msg.len(), CODE_MESSAGE_LEN);
    assert_eq!(rec.phone_code_msg[0], 0x51);
    assert_eq!(rec.device_code_msg[0], 0x55);
    assert_eq!(
        UnitType::of(FRAMING, &rec.phone_code_msg),
        Ok(UnitType::CodePairing(0))
    );
    assert_eq!(
        UnitType::of(FRAMING, &rec.device_code_msg),
        Ok(UnitType::CodePairing(1))
    );
    // The phone counts the pairing confirmed once a record from the device opens.
    assert_eq!(
        carry(&mut device_side.session, &mut phone_side.session, b"paired").unwrap(),
        b"paired"
    );
    assert_eq!(
        carry(&mut phone_side.session, &mut device_side.session, b"hello").unwrap(),
        b"hello"
    );
    limiter.succeeded();
    assert_eq!(limiter.failures(), 0);
    assert!(device.is_spent());
    assert_eq!(phone_side.handshake_hash, device_side.handshake_hash);

    // Both sides remember each other's static key and reconnect with KK, the device initiating.
    let remembered_by_phone = phone_side.peer.static_key;
    let remembered_by_device = device_side.peer.static_key;
    let (phone_party, device_party) = (phone(), common::device());
    assert_eq!(remembered_by_phone, device_party.key.public());
    assert_eq!(remembered_by_device, phone_party.key.public());
    let cfg = config(&device_party, Suite::ENABLED[0], FRAMING, CHANNEL);
    let mut rcfg = responder_config(&phone_party, FRAMING, CHANNEL);
    rcfg.known_initiator = Some(remembered_by_phone);
    rcfg.patterns = &[Pattern::Reconnect];
    let init = Initiator::reconnect(&cfg, &remembered_by_device, &mut rng(50)).unwrap();
    let (mut dev, mut ph, transcript) =
        drive(init, &rcfg, &mut accept_all, &mut accept_all, &mut rng(51)).unwrap();
    assert_eq!(transcript.len(), 2, "KK is one round trip");
    assert_eq!(
        carry(&mut dev.session, &mut ph.session, b"reading").unwrap(),
        b"reading"
    );
}

#[test]
fn a_wrong_code_fails_at_the_device_and_counts_one_attempt() {
    let mut limiter = AttemptLimiter::new();
    let mut device = DevicePairing::new(FRAMING, code("111111"));
    let (result, rec) = attempt(code("111112"), &mut device, &mut limiter, T0, 2);
    assert_eq!(
        result.err(),
        Some(Error::Peer(PeerError::Authentication)),
        "the device refuses the phone's first handshake message"
    );
    // The code exchange itself went through (it cannot tell), the handshake did not start.
    assert_eq!(rec.device_code_msg.len(), CODE_MESSAGE_LEN);
    assert_eq!(rec.handshake.len(), 1);
    assert_eq!(limiter.failures(), 1);
    assert!(device.is_spent(), "the failed attempt took the code");
}

#[test]
fn a_phone_that_reaches_a_substitute_device_fails_too() {
    // A device that took part in the exchange with another code cannot answer the phone: the
    // phone's first handshake message does not open on its side, and nothing it can send opens
    // on the phone's.
    let mut limiter = AttemptLimiter::new();
    let mut buf = [0u8; 64];
    let (mut pake, n) =
        PhonePairing::start(FRAMING, code("000777"), &mut rng(3), &mut buf).unwrap();
    let mut substitute = DevicePairing::new(FRAMING, code("000778"));
    let mut out = [0u8; 64];
    let (sub_key, m) = substitute
        .respond(&mut limiter, T0, &buf[..n], &mut rng(4), &mut out)
        .unwrap();
    let phone_key = pake.finish(&out[..m]).unwrap();
    let mut rec = Recorded::default();
    let err = pairing_handshake(
        &phone_key,
        &sub_key,
        &phone(),
        &common::device(),
        5,
        &mut rec,
    )
    .err()
    .unwrap();
    assert_eq!(err, Error::Peer(PeerError::Authentication));
}

#[test]
fn replayed_messages_from_a_successful_pairing_are_refused() {
    // Record a successful pairing...
    let mut limiter = AttemptLimiter::new();
    let mut device = DevicePairing::new(FRAMING, code("583920"));
    let (result, rec) = attempt(code("583920"), &mut device, &mut limiter, T0, 6);
    result.unwrap();
    limiter.succeeded();
    // ...and replay the phone's messages to the device, even one that shows the same code again:
    // its fresh scalar gives a different key, so the replayed handshake message does not open.
    let mut again = DevicePairing::new(FRAMING, code("583920"));
    let mut out = [0u8; 64];
    let (key, _) = again
        .respond(
            &mut limiter,
            T0,
            &rec.phone_code_msg,
            &mut rng(99),
            &mut out,
        )
        .unwrap();
    let device_party = common::device();
    let rcfg = responder_config(&device_party, FRAMING, CHANNEL);
    let err = Responder::accept_code_pairing(
        &rcfg,
        &key,
        &rec.handshake[0],
        &mut accept_all,
        NOW,
        &mut rng(100),
    )
    .err()
    .unwrap();
    assert_eq!(err, Error::Peer(PeerError::Authentication));
    // The replayed device answer does not open on a phone's new attempt either.
    let mut buf = [0u8; 64];
    let (mut pake, _) =
        PhonePairing::start(FRAMING, code("583920"), &mut rng(101), &mut buf).unwrap();
    let phone_key = pake.finish(&rec.device_code_msg).unwrap();
    let phone_party = phone();
    let cfg = config(&phone_party, Suite::ENABLED[0], FRAMING, CHANNEL);
    let mut init = Initiator::code_pairing(&cfg, &phone_key, &mut rng(102)).unwrap();
    let mut hs = vec![0u8; 256];
    write(&mut init, &mut hs).unwrap();
    // The recorded device handshake message 1 answers another phone message 0.
    assert!(init
        .read_message(&rec.handshake[1], &mut accept_all, NOW)
        .is_err());
}

#[test]
fn a_code_answers_one_attempt_only() {
    let mut limiter = AttemptLimiter::new();
    let mut device = DevicePairing::new(FRAMING, code("424242"));
    let (result, rec) = attempt(code("424242"), &mut device, &mut limiter, T0, 7);
    result.unwrap();
    limiter.succeeded();
    // The same DevicePairing refuses a second attempt with its (spent) code, and changes nothing.
    let mut out = [0u8; 64];
    assert_eq!(
        device
            .respond(&mut limiter, T0, &rec.phone_code_msg, &mut rng(8), &mut out)
            .err(),
        Some(Error::Local(Local::WrongState))
    );
    assert_eq!(limiter.failures(), 0);
    // The device shows a fresh code for the next pairing; whoever saw the old one fails.
    let fresh = ShortCode::generate(&mut rng(9)).unwrap();
    assert_ne!(fresh.digits(), b"424242");
    let mut next = DevicePairing::new(FRAMING, fresh);
    let (result, _) = attempt(code("424242"), &mut next, &mut limiter, T0, 10);
    assert_eq!(result.err(), Some(Error::Peer(PeerError::Authentication)));
}

#[test]
fn malformed_code_messages_change_nothing() {
    let mut limiter = AttemptLimiter::new();
    let mut device = DevicePairing::new(FRAMING, code("987654"));
    let mut buf = [0u8; 64];
    let (_pake, n) = PhonePairing::start(FRAMING, code("987654"), &mut rng(11), &mut buf).unwrap();
    let good = buf[..n].to_vec();

    let mut bad_cases: Vec<(Vec<u8>, Error)> = Vec::new();
    bad_cases.push((vec![], Error::Malformed(Malformed::Truncated)));
    bad_cases.push((good[..32].to_vec(), Error::Malformed(Malformed::Length)));
    let mut long = good.clone();
    long.push(0);
    bad_cases.push((long, Error::Malformed(Malformed::Length)));
    let mut wrong_index = good.clone();
    wrong_index[0] = 0x55;
    bad_cases.push((wrong_index, Error::Peer(PeerError::UnexpectedMessage)));
    let mut handshake_byte = good.clone();
    handshake_byte[0] = 0x50;
    bad_cases.push((handshake_byte, Error::Malformed(Malformed::UnknownType)));
    // The identity (neutral element), a point of order 2, and a point of order 8.
    let mut identity = vec![0x51];
    identity.extend_from_slice(
        &hex::decode("0100000000000000000000000000000000000000000000000000000000000000").unwrap(),
    );
    bad_cases.push((identity, Error::Peer(PeerError::Authentication)));
    let mut order2 = vec![0x51];
    order2.extend_from_slice(
        &hex::decode("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap(),
    );
    bad_cases.push((order2, Error::Peer(PeerError::Authentication)));
    let mut order8 = vec![0x51];
    order8.extend_from_slice(
        &hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a").unwrap(),
    );
    bad_cases.push((order8, Error::Peer(PeerError::Authentication)));
    // A good point plus a point of order 8: not in the prime-order subgroup.
    let mixed = {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let p = CompressedEdwardsY(good[1..].try_into().unwrap())
            .decompress()
            .unwrap();
        let t = CompressedEdwardsY(
            hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
                .unwrap()
                .try_into()
                .unwrap(),
        )
        .decompress()
        .unwrap();
        let mut v = vec![0x51];
        v.extend_from_slice((p + t).compress().as_bytes());
        v
    };
    bad_cases.push((mixed, Error::Peer(PeerError::Authentication)));
    // y = 2^255 - 19 + 1 encodes y = 1 (the identity) non-canonically.
    let mut non_canonical = vec![0x51];
    non_canonical.extend_from_slice(
        &hex::decode("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f").unwrap(),
    );
    bad_cases.push((non_canonical, Error::Peer(PeerError::Authentication)));

    for (unit, expected) in bad_cases {
        let mut out = [0u8; 64];
        let got = device.respond(&mut limiter, T0, &unit, &mut rng(12), &mut out);
        assert_eq!(got.err(), Some(expected), "unit {}", hex::encode(&unit));
        assert!(!device.is_spent(), "a malformed message took the code");
        assert_eq!(
            limiter.failures(),
            0,
            "a malformed message counted an attempt"
        );
        assert_eq!(out, [0u8; 64], "a malformed message wrote an answer");
    }
    // A buffer too small changes nothing either.
    let mut small = [0u8; 32];
    assert_eq!(
        device
            .respond(&mut limiter, T0, &good, &mut rng(12), &mut small)
            .err(),
        Some(Error::Local(Local::BufferTooSmall {
            needed: CODE_MESSAGE_LEN
        }))
    );
    assert!(!device.is_spent());
    // The genuine message still works afterwards.
    let mut out = [0u8; 64];
    device
        .respond(&mut limiter, T0, &good, &mut rng(12), &mut out)
        .unwrap();
    assert!(device.is_spent());
}

#[test]
fn a_malformed_answer_changes_nothing_at_the_phone() {
    let mut buf = [0u8; 64];
    let (mut pake, n) =
        PhonePairing::start(FRAMING, code("112233"), &mut rng(80), &mut buf).unwrap();
    let mut out = [0u8; 64];
    let (device_key, m) = DevicePairing::new(FRAMING, code("112233"))
        .respond(
            &mut AttemptLimiter::new(),
            T0,
            &buf[..n],
            &mut rng(81),
            &mut out,
        )
        .unwrap();
    let genuine = out[..m].to_vec();
    let order8 =
        hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a").unwrap();
    let mut bad_point = vec![0x55];
    bad_point.extend_from_slice(&order8);
    let mut wrong_index = genuine.clone();
    wrong_index[0] = 0x51;
    for bad in [vec![], genuine[..20].to_vec(), wrong_index, bad_point] {
        assert!(pake.finish(&bad).is_err(), "{}", hex::encode(&bad));
        assert!(!pake.is_spent(), "a refused answer spent the exchange");
    }
    let phone_key = pake.finish(&genuine).unwrap();
    assert!(pake.is_spent());
    assert_eq!(
        pake.finish(&genuine).err(),
        Some(Error::Local(Local::WrongState))
    );
    let mut rec = Recorded::default();
    pairing_handshake(
        &phone_key,
        &device_key,
        &phone(),
        &common::device(),
        82,
        &mut rec,
    )
    .unwrap();
}

#[test]
fn repeated_failures_are_spaced_out_and_survive_a_reboot() {
    let mut limiter = AttemptLimiter::new();
    let mut now = T0;
    // The free attempts follow each other at once.
    for i in 0..AttemptLimiter::FREE_ATTEMPTS {
        let mut device = DevicePairing::new(FRAMING, code("123456"));
        let (result, _) = attempt(
            code("654321"),
            &mut device,
            &mut limiter,
            now,
            20 + u64::from(i),
        );
        assert_eq!(result.err(), Some(Error::Peer(PeerError::Authentication)));
    }
    assert_eq!(limiter.failures(), 3);
    // The next waits 30 s: refused before, with the code kept and nothing counted.
    let mut device = DevicePairing::new(FRAMING, code("123456"));
    now = Instant(29_999);
    let (result, _) = attempt(code("123456"), &mut device, &mut limiter, now, 30);
    assert_eq!(
        result.err(),
        Some(Error::Local(Local::RateLimited { retry_in_ms: 1 }))
    );
    assert!(!device.is_spent());
    assert_eq!(limiter.failures(), 3);
    // Allowed at 30 s; a failure then doubles the wait.
    now = Instant(30_000);
    let (result, _) = attempt(code("000000"), &mut device, &mut limiter, now, 31);
    assert!(result.is_err());
    assert_eq!(limiter.failures(), 4);
    assert_eq!(limiter.next_allowed(), Instant(90_000));
    // Power cycle: the saved count comes back and the clock restarts; the full wait applies.
    let saved = limiter.failures();
    let mut limiter = AttemptLimiter::restore(saved, Instant(5));
    assert_eq!(limiter.next_allowed(), Instant(5 + 60_000));
    let mut device = DevicePairing::new(FRAMING, code("777777"));
    let (result, _) = attempt(code("777777"), &mut device, &mut limiter, Instant(6), 32);
    assert!(matches!(
        result.err(),
        Some(Error::Local(Local::RateLimited { .. }))
    ));
    let (result, _) = attempt(
        code("777777"),
        &mut device,
        &mut limiter,
        Instant(60_005),
        33,
    );
    result.unwrap();
    limiter.succeeded();
    assert_eq!(limiter.failures(), 0);
    assert_eq!(limiter.next_allowed(), Instant(0));
    // spec/PROTOCOL.md 4.7.2: at most 32 attempts start within a day, then 24 a day.
    let attempts_within = |ms: u64| {
        let (mut t, mut failures, mut n) = (0u64, 0u32, 0u32);
        while t <= ms {
            n += 1;
            failures += 1;
            t += AttemptLimiter::wait_after(failures);
        }
        n
    };
    assert_eq!(attempts_within(86_400_000), 32);
    assert_eq!(
        attempts_within(2 * 86_400_000) - attempts_within(86_400_000),
        24
    );
    // The wait is capped at an hour.
    assert_eq!(AttemptLimiter::wait_after(40), AttemptLimiter::MAX_WAIT_MS);
    assert_eq!(AttemptLimiter::wait_after(2), 0);
}

#[test]
fn codes_are_six_digits_and_uniformly_drawn() {
    for bad in ["", "12345", "1234567", "12a456", "12 456", "１23456"] {
        assert_eq!(
            ShortCode::parse(bad.as_bytes()).err(),
            Some(Error::Malformed(Malformed::PairingCode)),
            "{bad:?}"
        );
    }
    let mut r = rng(13);
    let mut first_digit = [0usize; 10];
    for _ in 0..2000 {
        let c = ShortCode::generate(&mut r).unwrap();
        assert!(c.digits().iter().all(u8::is_ascii_digit));
        first_digit[usize::from(c.digits()[0] - b'0')] += 1;
    }
    // Each leading digit near 200 of 2000 (a biased reduction would skew the low digits).
    assert!(
        first_digit.iter().all(|&n| (130..=270).contains(&n)),
        "{first_digit:?}"
    );
    assert_eq!(format!("{:?}", code("123456")), "ShortCode(<redacted>)");
}

/// The candidates an offline search tries: a slice of the code space that contains `must`.
fn candidates(must: &[&str], count: u32) -> Vec<String> {
    let mut list: Vec<String> = (0..count)
        .map(|i| format!("{:06}", i * 997 % 1_000_000))
        .collect();
    for m in must {
        if !list.iter().any(|c| c == m) {
            list.push(m.to_string());
        }
    }
    list
}

#[test]
fn a_recorded_transcript_does_not_let_an_offline_search_confirm_a_code() {
    const TRUE_CODE: &str = "306119";
    const GUESS: &str = "500500";
    let device_party = common::device();
    let rcfg = responder_config(&device_party, FRAMING, CHANNEL);

    // The naive design the short-code exchange replaces: the 6-digit code as the XXpsk0 secret.
    // One recorded first message from the phone, and the search finds the code.
    let naive = |digits: &str| {
        let mut secret = [0u8; 16];
        secret[..6].copy_from_slice(digits.as_bytes());
        PairingCode::from_secret(secret, &common::device().key.public())
    };
    let phone_code = naive(TRUE_CODE);
    let phone_party = phone();
    let cfg = config(&phone_party, Suite::ENABLED[0], FRAMING, CHANNEL);
    let mut init = Initiator::pairing(&cfg, &phone_code, &mut rng(40)).unwrap();
    let mut recorded = vec![0u8; 256];
    let n = write(&mut init, &mut recorded).unwrap();
    let recorded = &recorded[..n];
    let found: Vec<String> = candidates(&[TRUE_CODE], 400)
        .into_iter()
        .filter(|c| {
            let candidate = naive(c);
            let mut r = rcfg;
            r.pairing = Some(&candidate);
            Responder::accept(&r, recorded, &mut accept_all, NOW, &mut rng(41)).is_ok()
        })
        .collect();
    assert_eq!(
        found,
        [TRUE_CODE],
        "the naive design confirms the code offline"
    );

    // With the code exchange, the attacker's best transcript: it played the device with one
    // guess of its own (so it knows that side's scalar) and recorded the phone's first handshake
    // message. It now replays its own side with every candidate and the same scalar: only its
    // guess could open the phone's message, and the guess was wrong; the true code opens nothing.
    let attacker_seed = 42;
    let mut buf = [0u8; 64];
    let (mut pake, n) =
        PhonePairing::start(FRAMING, code(TRUE_CODE), &mut rng(43), &mut buf).unwrap();
    let phone_code_msg = buf[..n].to_vec();
    let mut limiter = AttemptLimiter::new();
    let mut out = [0u8; 64];
    let (_, m) = DevicePairing::new(FRAMING, code(GUESS))
        .respond(
            &mut limiter,
            T0,
            &phone_code_msg,
            &mut rng(attacker_seed),
            &mut out,
        )
        .unwrap();
    let attacker_answer = out[..m].to_vec();
    let phone_key = pake.finish(&attacker_answer).unwrap();
    let mut init = Initiator::code_pairing(&cfg, &phone_key, &mut rng(44)).unwrap();
    let mut hs0 = vec![0u8; 256];
    let n = write(&mut init, &mut hs0).unwrap();
    let hs0 = &hs0[..n];

    let opens = |digits: &str| {
        let mut limiter = AttemptLimiter::new();
        let mut out = [0u8; 64];
        let (key, m) = DevicePairing::new(FRAMING, code(digits))
            .respond(
                &mut limiter,
                T0,
                &phone_code_msg,
                &mut rng(attacker_seed),
                &mut out,
            )
            .unwrap();
        // Same scalar and guess, same answer: the attacker really replays its own side.
        if digits == GUESS {
            assert_eq!(out[..m], attacker_answer[..]);
        }
        Responder::accept_code_pairing(&rcfg, &key, hs0, &mut accept_all, NOW, &mut rng(45)).is_ok()
    };
    let found: Vec<String> = candidates(&[TRUE_CODE, GUESS], 300)
        .into_iter()
        .filter(|c| opens(c))
        .collect();
    assert!(found.is_empty(), "offline search confirmed {found:?}");
    // The same procedure does confirm the attacker's one online guess when it is right: the test
    // can tell a leak from none.
    let (mut pake, n) = PhonePairing::start(FRAMING, code(GUESS), &mut rng(46), &mut buf).unwrap();
    let lucky_msg = buf[..n].to_vec();
    let (_, m) = DevicePairing::new(FRAMING, code(GUESS))
        .respond(
            &mut limiter,
            T0,
            &lucky_msg,
            &mut rng(attacker_seed),
            &mut out,
        )
        .unwrap();
    let lucky_key = pake.finish(&out[..m]).unwrap();
    let mut init = Initiator::code_pairing(&cfg, &lucky_key, &mut rng(47)).unwrap();
    let mut lucky_hs0 = vec![0u8; 256];
    let n = write(&mut init, &mut lucky_hs0).unwrap();
    let (key, _) = DevicePairing::new(FRAMING, code(GUESS))
        .respond(
            &mut AttemptLimiter::new(),
            T0,
            &lucky_msg,
            &mut rng(attacker_seed),
            &mut out,
        )
        .unwrap();
    assert!(Responder::accept_code_pairing(
        &rcfg,
        &key,
        &lucky_hs0[..n],
        &mut accept_all,
        NOW,
        &mut rng(48)
    )
    .is_ok());
}

#[test]
fn the_stream_framing_carries_code_messages_with_a_length() {
    let mut buf = [0u8; 64];
    let (mut pake, n) =
        PhonePairing::start(Framing::Stream, code("010203"), &mut rng(60), &mut buf).unwrap();
    assert_eq!(n, CODE_MESSAGE_LEN + 2);
    assert_eq!(&buf[..2], &(CODE_MESSAGE_LEN as u16).to_be_bytes());
    let mut device = DevicePairing::new(Framing::Stream, code("010203"));
    let mut out = [0u8; 64];
    let (_, m) = device
        .respond(
            &mut AttemptLimiter::new(),
            T0,
            &buf[..n],
            &mut rng(61),
            &mut out,
        )
        .unwrap();
    pake.finish(&out[..m]).unwrap();
    // A datagram unit on a stream device is refused (its first bytes are no length).
    let mut device = DevicePairing::new(Framing::Stream, code("010203"));
    assert!(device
        .respond(
            &mut AttemptLimiter::new(),
            T0,
            &buf[2..n],
            &mut rng(62),
            &mut out
        )
        .is_err());
    assert!(!device.is_spent());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any bytes given to the device either are a valid code message (and then the attempt
        /// counts) or change nothing; nothing panics.
        #[test]
        fn any_bytes_to_the_device(unit in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut limiter = AttemptLimiter::new();
            let mut device = DevicePairing::new(FRAMING, code("135790"));
            let mut out = [0u8; 64];
            match device.respond(&mut limiter, T0, &unit, &mut rng(70), &mut out) {
                Ok((_, m)) => {
                    prop_assert_eq!(m, CODE_MESSAGE_LEN);
                    prop_assert!(device.is_spent());
                    prop_assert_eq!(limiter.failures(), 1);
                }
                Err(_) => {
                    prop_assert!(!device.is_spent());
                    prop_assert_eq!(limiter.failures(), 0);
                }
            }
        }

        /// Any bytes as the device's answer: a key or an error, never a panic.
        #[test]
        fn any_bytes_to_the_phone(unit in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut buf = [0u8; 64];
            let (mut pake, _) = PhonePairing::start(FRAMING, code("246802"), &mut rng(71), &mut buf).unwrap();
            let _ = pake.finish(&unit);
        }

        /// One flipped bit anywhere in either code message and the pairing fails cleanly.
        #[test]
        fn a_flipped_bit_fails(which in 0usize..2, bit in 0usize..(CODE_MESSAGE_LEN * 8)) {
            let mut limiter = AttemptLimiter::new();
            let mut device = DevicePairing::new(FRAMING, code("864200"));
            let mut buf = [0u8; 64];
            let (mut pake, n) = PhonePairing::start(FRAMING, code("864200"), &mut rng(72), &mut buf).unwrap();
            let mut phone_msg = buf[..n].to_vec();
            if which == 0 { phone_msg[bit / 8] ^= 1 << (bit % 8); }
            let mut out = [0u8; 64];
            let Ok((device_key, m)) = device.respond(&mut limiter, T0, &phone_msg, &mut rng(73), &mut out) else {
                return Ok(());
            };
            let mut device_msg = out[..m].to_vec();
            if which == 1 { device_msg[bit / 8] ^= 1 << (bit % 8); }
            let Ok(phone_key) = pake.finish(&device_msg) else { return Ok(()); };
            let mut rec = Recorded::default();
            prop_assert!(pairing_handshake(&phone_key, &device_key, &phone(), &common::device(), 74, &mut rec).is_err());
        }
    }
}
