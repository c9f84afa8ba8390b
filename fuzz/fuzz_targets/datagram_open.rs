//! Datagram open: arbitrary datagrams are rejected without panicking; a genuine record with one
//! byte changed is rejected (by `open`, or by `open_in_place`, which leaves it as it was) and
//! leaves the receiver able to open the genuine record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::*;
use tether_fuzz::Parties;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let suite = Suite::ENABLED[usize::from(mode >> 7) % Suite::ENABLED.len()];
    let (mut a, mut b) = Parties::session_pair_for_input(suite, Framing::Datagram, data);
    let mut out = vec![0u8; 16384];
    if mode & 1 == 0 {
        assert!(b.open(Instant(0), rest, &mut out).is_err());
        return;
    }
    // Seal `rest` as plaintext, then change one byte chosen by the input.
    let Some((&pos, plaintext)) = rest.split_first() else {
        return;
    };
    let mut wire = vec![0u8; a.seal_capacity(plaintext.len())];
    let Ok(sealed) = a.seal(Instant(0), plaintext, &mut wire) else {
        return;
    };
    let record = &mut wire[..sealed.total()];
    let i = usize::from(pos) % record.len();
    let genuine = record.to_vec();
    record[i] ^= (mode >> 1) | 1;
    if mode & 2 == 0 {
        assert!(b.open(Instant(0), record, &mut out).is_err());
        match b.open(Instant(0), &genuine, &mut out) {
            Ok(Event::Data(d)) => assert_eq!(d, plaintext),
            other => panic!("genuine record after a tampered one: {other:?}"),
        }
    } else {
        // In place: the tampered unit is refused and left as it was.
        let tampered = record.to_vec();
        assert!(b.open_in_place(Instant(0), record).is_err());
        assert_eq!(record, &tampered[..]);
        let mut unit = genuine.clone();
        match b.open_in_place(Instant(0), &mut unit) {
            Ok(Event::Data(d)) => assert_eq!(d, plaintext),
            other => panic!("genuine record after a tampered one: {other:?}"),
        }
    }
});
