//! Short-code pairing (spec/PROTOCOL.md 4.7.2): arbitrary bytes as either code message never
//! panic. At the device, a message is either accepted (the attempt counts, the code is spent, an
//! answer of exactly 33 bytes is written) or refused with nothing changed (code kept, no attempt
//! counted, output untouched); at the phone, any answer gives a key (and spends the exchange) or
//! an error (and changes nothing). The input also picks the framing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::short_code::{AttemptLimiter, DevicePairing, PhonePairing, ShortCode, CODE_UNIT_MAX};
use tether::{Framing, Instant};
use tether_fuzz::Counter;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, unit)) = data.split_first() else {
        return;
    };
    let framing = if selector & 1 == 0 {
        Framing::Datagram
    } else {
        Framing::Stream
    };
    let code = || ShortCode::parse(b"123456").expect("six digits");

    let mut limiter = AttemptLimiter::new();
    let mut device = DevicePairing::new(framing, code());
    let mut out = [0u8; CODE_UNIT_MAX];
    match device.respond(&mut limiter, Instant(0), unit, &mut Counter(0), &mut out) {
        Ok((_, len)) => {
            assert_eq!(len, CODE_UNIT_MAX - usize::from(framing == Framing::Datagram) * 2);
            assert!(device.is_spent());
            assert_eq!(limiter.failures(), 1);
        }
        Err(_) => {
            assert!(!device.is_spent(), "a refused message took the code");
            assert_eq!(limiter.failures(), 0, "a refused message counted an attempt");
            assert_eq!(out, [0u8; CODE_UNIT_MAX], "a refused message wrote an answer");
        }
    }

    let mut first = [0u8; CODE_UNIT_MAX];
    let (mut phone, _) = PhonePairing::start(framing, code(), &mut Counter(100), &mut first)
        .expect("the phone starts");
    match phone.finish(unit) {
        Ok(_) => assert!(phone.is_spent()),
        Err(_) => assert!(!phone.is_spent(), "a refused answer spent the exchange"),
    }
});
