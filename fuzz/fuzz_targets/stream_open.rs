//! Stream-framed `Session::open` (or, chosen by the input, `Session::open_in_place` on a copy of
//! each unit) under a sequence of operations chosen by the input: seal (any
//! length and content, with the clock moving so that automatic key updates happen), update_key,
//! close, and delivering the next genuine unit, a copy with one bit flipped, a truncated copy, an
//! earlier unit again, or garbage. Genuine units in order open to exactly what was sealed; every
//! other unit is refused and changes nothing, so the genuine units after it still open. Never a
//! panic.
#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use tether::config::MAX_PLAINTEXT;
use tether::*;
use tether_fuzz::{Bytes, Parties};

/// An owned [`Event`].
#[derive(Debug, PartialEq)]
enum Ev {
    Data(Vec<u8>),
    KeyUpdate(u32),
    Close,
}

/// Whether this run opens in place (set once per input).
static IN_PLACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn open(s: &mut Session, now: Instant, unit: &[u8], out: &mut [u8]) -> Result<Ev, Error> {
    let own = |e: Event<'_>| match e {
        Event::Data(d) => Ev::Data(d.to_vec()),
        Event::KeyUpdate { epoch } => Ev::KeyUpdate(epoch),
        Event::Close => Ev::Close,
    };
    if IN_PLACE.load(std::sync::atomic::Ordering::Relaxed) {
        let mut copy = unit.to_vec();
        let got = s.open_in_place(now, &mut copy).map(own);
        if got.is_err() {
            assert_eq!(copy, unit, "a refused unit was changed in place");
        }
        got
    } else {
        s.open(now, unit, out).map(own)
    }
}

fn refused(s: &mut Session, now: Instant, unit: &[u8], out: &mut [u8]) {
    let before = (s.recv_epoch(), s.peer_closed());
    let got = open(s, now, unit, out);
    assert!(got.is_err(), "{unit:02x?} opened: {got:?}");
    assert_eq!((s.recv_epoch(), s.peer_closed()), before);
}

fuzz_target!(|data: &[u8]| {
    let mut input = Bytes(data);
    let first = input.byte();
    let suite = Suite::ENABLED[usize::from(first) % Suite::ENABLED.len()];
    IN_PLACE.store(first & 2 != 0, std::sync::atomic::Ordering::Relaxed);
    let (mut a, mut b) = Parties::session_pair_for_input(suite, Framing::Stream, data);
    let mut now = Instant(0);
    // Sealed and not yet delivered, in order, with what each must open to; and delivered ones.
    let mut pending: VecDeque<(Vec<u8>, Ev)> = VecDeque::new();
    let mut delivered: Vec<Vec<u8>> = Vec::new();
    let mut wire = vec![0u8; a.seal_capacity(MAX_PLAINTEXT)];
    let mut out = vec![0u8; MAX_PLAINTEXT];
    while !input.is_empty() {
        let op = input.byte();
        match op & 7 {
            0 => {
                now = Instant(now.0 + u64::from(op >> 5) * 600_000);
                let len = usize::from(input.byte()) << (3 * ((op >> 3) & 3));
                let fill = input.take(64);
                let pt: Vec<u8> = (0..len)
                    .map(|i| fill.get(i % fill.len().max(1)).map_or(0, |b| *b))
                    .collect();
                let refusal = if a.is_closed() {
                    Some(Local::WrongState)
                } else if len > MAX_PLAINTEXT {
                    Some(Local::PlaintextTooLarge)
                } else {
                    None
                };
                match (a.seal(now, &pt, &mut wire), refusal) {
                    (Ok(s), None) => {
                        if s.key_update > 0 {
                            let ev = Ev::KeyUpdate(a.send_epoch());
                            pending.push_back((wire[..s.key_update].to_vec(), ev));
                        }
                        pending.push_back((wire[s.key_update..s.total()].to_vec(), Ev::Data(pt)));
                    }
                    (Err(e), Some(l)) => assert_eq!(e, l.into()),
                    (got, want) => panic!("seal of {len} bytes: {got:?}, expected {want:?}"),
                }
            }
            1 | 2 => {
                let closed = a.is_closed();
                let res = if op & 7 == 1 {
                    a.update_key(now, &mut wire)
                } else {
                    a.close(&mut wire)
                };
                match res {
                    Ok(n) => {
                        assert!(!closed);
                        let ev = if a.is_closed() {
                            Ev::Close
                        } else {
                            Ev::KeyUpdate(a.send_epoch())
                        };
                        pending.push_back((wire[..n].to_vec(), ev));
                    }
                    Err(e) => assert!(closed && e == Local::WrongState.into(), "{e:?}"),
                }
            }
            3 => {
                if let Some((unit, ev)) = pending.pop_front() {
                    assert_eq!(open(&mut b, now, &unit, &mut out), Ok(ev));
                    delivered.push(unit);
                }
            }
            4 => {
                if let Some((unit, _)) = pending.front() {
                    let mut bad = unit.clone();
                    let bit = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
                    let bit = bit % (bad.len() * 8);
                    bad[bit / 8] ^= 1 << (bit % 8);
                    refused(&mut b, now, &bad, &mut out);
                }
            }
            5 => {
                if let Some((unit, _)) = pending.front() {
                    let mut bad = unit[..usize::from(input.byte()) % unit.len()].to_vec();
                    // Half the time with a consistent length prefix, to reach the AEAD.
                    if op & 8 != 0 && bad.len() >= 2 {
                        let len = (bad.len() - 2) as u16;
                        bad[..2].copy_from_slice(&len.to_be_bytes());
                    }
                    refused(&mut b, now, &bad, &mut out);
                }
            }
            6 => {
                if !delivered.is_empty() {
                    let i = usize::from(input.byte()) % delivered.len();
                    let old = delivered[i].clone();
                    refused(&mut b, now, &old, &mut out);
                }
            }
            _ => {
                let n = usize::from(input.byte());
                let garbage = input.take(n);
                if pending.front().is_some_and(|(unit, _)| unit == garbage) {
                    let (unit, ev) = pending.pop_front().unwrap();
                    assert_eq!(open(&mut b, now, &unit, &mut out), Ok(ev));
                    delivered.push(unit);
                } else {
                    refused(&mut b, now, garbage, &mut out);
                }
            }
        }
    }
    // Whatever is still in flight opens, in order.
    for (unit, ev) in pending {
        assert_eq!(open(&mut b, now, &unit, &mut out), Ok(ev));
    }
});
