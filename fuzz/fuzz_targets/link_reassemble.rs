//! BLE link layer: arbitrary fragment sequences into a reassembler at an arbitrary ATT_MTU and
//! `max_unit` never panic; every unit yielded has the length its START fragment declared, within
//! the limits, and every error leaves the reassembler idle. Then the same bytes as a unit:
//! fragmented and reassembled they come back exactly, and any loss, duplication or reordering of
//! those fragments (chosen by the input) yields that unit or nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::link::{Fragment, Fragmenter, Mtu, Reassembler, MAX_ATTRIBUTE_VALUE};
use tether::Error;

/// Feeds `fragments` and returns the units yielded, checking every invariant on the way.
fn feed<'a>(rx: &mut Reassembler, fragments: impl Iterator<Item = &'a [u8]>) -> Vec<Vec<u8>> {
    let mut units = Vec::new();
    let mut declared = None;
    for f in fragments {
        let start = Fragment::parse(f).ok().and_then(|f| f.unit_len());
        let max_unit = rx.max_unit();
        let mtu = rx.mtu();
        match rx.push(f) {
            Ok(p) => {
                if let Some(len) = start {
                    declared = Some(usize::from(len));
                }
                if let Some(u) = p.unit {
                    assert_eq!(Some(u.len()), declared, "a unit of its declared length");
                    assert!(!u.is_empty() && u.len() <= max_unit && u.len() <= mtu.max_unit());
                    units.push(u.to_vec());
                }
            }
            Err(e) => {
                assert!(matches!(e, Error::Link(_)), "only link errors: {e:?}");
                assert_eq!(rx.in_progress(), None, "idle after an error");
            }
        }
        if let Some(p) = rx.in_progress() {
            assert!(p.received <= p.unit_len && p.next_index >= 1);
        }
    }
    units
}

fuzz_target!(|data: &[u8]| {
    let Some((head, body)) = data.split_first_chunk::<5>() else {
        return;
    };
    let [m0, m1, u0, u1, number] = *head;
    let mtu = Mtu::new(23 + u16::from_be_bytes([m0, m1]) % 495).unwrap(); // 23..=517
    let max_unit = usize::from(u16::from_be_bytes([u0, u1]).max(1));
    let mut rx = Reassembler::new(max_unit).unwrap();
    rx.set_mtu(mtu);

    // 1. The body as fragments: each a length byte, then 0 to 513 bytes (so some are too long
    //    at any MTU).
    let mut fragments = Vec::new();
    let mut rest = body;
    while let Some((&len, tail)) = rest.split_first() {
        let len = (usize::from(len) * 2 + usize::from(len & 3)).min(tail.len());
        let (f, tail) = tail.split_at(len);
        fragments.push(f);
        rest = tail;
    }
    feed(&mut rx, fragments.iter().copied());

    // 2. The body as a unit: a round trip, then a mangled delivery.
    let unit = &body[..body.len().min(mtu.max_unit())];
    let Ok(mut frags) = Fragmenter::new(unit, mtu, number) else {
        assert!(unit.is_empty());
        return;
    };
    let mut sent = Vec::new();
    let mut buf = [0u8; MAX_ATTRIBUTE_VALUE];
    while let Some(n) = frags.next(&mut buf).unwrap() {
        assert!(n <= mtu.max_fragment());
        sent.push(buf[..n].to_vec());
    }
    assert_eq!(Some(sent.len()), mtu.fragments(unit.len()));
    let mut rx = Reassembler::new(65535).unwrap();
    rx.set_mtu(mtu);
    assert_eq!(feed(&mut rx, sent.iter().map(Vec::as_slice)), [unit]);
    // Which fragments arrive, in which order: chosen by the body's bytes.
    let order = body
        .iter()
        .take(2 * sent.len() + 2)
        .map(|b| &sent[usize::from(*b) % sent.len()][..]);
    for got in feed(&mut rx, order) {
        assert_eq!(got, unit);
    }
});
