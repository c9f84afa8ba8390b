//! The initiator receiving arbitrary second messages for every pattern: errors only, never a
//! panic, and a rejected message leaves the handshake able to read the genuine one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::*;
use tether_fuzz::{accept_all, parties, Counter, NOW};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, msg)) = data.split_first() else {
        return;
    };
    let p = parties();
    let pattern = Pattern::ALL[usize::from(mode) % Pattern::ALL.len()];
    let framing = if mode & 4 == 0 {
        Framing::Datagram
    } else {
        Framing::Stream
    };
    let mut i = p.initiator(pattern, Suite::ChaChaPolyBlake2s, framing);
    let mut buf = vec![0u8; 2048];
    let n = i.write_message(&mut buf).unwrap();
    let rcfg = p.responder_config(framing);
    let mut r = Responder::accept(&rcfg, &buf[..n], &mut accept_all, NOW, &mut Counter(1)).unwrap();
    let n = r.write_message(&mut buf).unwrap();
    let genuine = &buf[..n];
    if msg != genuine {
        assert!(i.read_message(msg, &mut accept_all, NOW).is_err());
        assert!(!i.is_failed());
    }
    i.read_message(genuine, &mut accept_all, NOW).unwrap();
});
