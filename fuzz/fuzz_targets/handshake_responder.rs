//! The responder receiving arbitrary first messages (any pattern, suite, framing), and arbitrary
//! third messages after a genuine first one (XX, XXpsk0): errors only, never a panic, never a
//! finished handshake from garbage.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::*;
use tether_fuzz::{accept_all, parties, Counter, NOW};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, msg)) = data.split_first() else {
        return;
    };
    let p = parties();
    let framing = if mode & 1 == 0 {
        Framing::Datagram
    } else {
        Framing::Stream
    };
    let rcfg = p.responder_config(framing);
    if mode & 2 == 0 {
        let _ = Responder::accept(&rcfg, msg, &mut accept_all, NOW, &mut Counter(1));
        return;
    }
    let pattern = if mode & 4 == 0 {
        Pattern::Enrollment
    } else {
        Pattern::Pairing
    };
    let mut i = p.initiator(pattern, Suite::ChaChaPolyBlake2s, framing);
    let mut buf = vec![0u8; 2048];
    let n = i.write_message(&mut buf).unwrap();
    let mut r = Responder::accept(&rcfg, &buf[..n], &mut accept_all, NOW, &mut Counter(1)).unwrap();
    r.write_message(&mut buf).unwrap();
    assert!(r.read_message(msg, &mut accept_all, NOW).is_err());
    assert!(!r.is_finished());
});
