//! Every telemetry decoder (vitals, usage, diagnostics, security events, a standalone value) on
//! arbitrary bytes, and on a valid message of each kind mutated by the input (so that accepted
//! inputs are frequent): never a panic; a refusal is always `Malformed::Message` naming a field;
//! whatever is accepted re-encodes to at most its own length (unknown optional entries are
//! dropped, nothing is added) and that re-encoding decodes to the same value and encodes to
//! itself again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::message::decimal::{Decimal, Value};
use tether::message::diagnostics::{DiagnosticsReport, ErrorCount, ErrorCounts};
use tether::message::security_event::{Cause, SecurityEvent, SecurityEventBatch};
use tether::message::usage::{UsageBatch, UsageEvent, UsageKind};
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};
use tether::*;
use tether_fuzz::mutate;

fn refused(e: Error) {
    assert!(matches!(e, Error::Malformed(Malformed::Message(_))), "{e:?}");
}

/// Re-encodes with `encode`, checks the size rule, and returns the re-encoding.
fn again(input: &[u8], encode: impl Fn(&mut [u8]) -> Result<usize, Error>) -> Vec<u8> {
    let mut out = vec![0u8; 8192];
    let n = encode(&mut out).expect("an accepted message re-encodes");
    assert!(n <= input.len(), "re-encoding grew: {n} > {}", input.len());
    out.truncate(n);
    out
}

fn vitals(bytes: &[u8]) {
    let b = match VitalsBatch::decode(bytes) {
        Ok(b) => b,
        Err(e) => return refused(e),
    };
    let readings: Vec<Reading> = b.readings().collect();
    assert_eq!(readings.len(), b.len());
    let enc = again(bytes, |o| VitalsBatch::encode(b.base(), b.tick(), b.channels(), &readings, o));
    let b2 = VitalsBatch::decode(&enc).expect("re-encoding decodes");
    assert_eq!(b2.readings().collect::<Vec<_>>(), readings);
    assert_eq!(again(&enc, |o| VitalsBatch::encode(b2.base(), b2.tick(), b2.channels(), &readings, o)), enc);
}

fn usage(bytes: &[u8]) {
    let b = match UsageBatch::decode(bytes) {
        Ok(b) => b,
        Err(e) => return refused(e),
    };
    let events: Vec<UsageEvent> = b.events().collect();
    let enc = again(bytes, |o| UsageBatch::encode(b.base(), &events, o));
    let b2 = UsageBatch::decode(&enc).expect("re-encoding decodes");
    assert_eq!(b2.events().collect::<Vec<_>>(), events);
}

fn security(bytes: &[u8]) {
    let b = match SecurityEventBatch::decode(bytes) {
        Ok(b) => b,
        Err(e) => return refused(e),
    };
    let events: Vec<SecurityEvent> = b.events().collect();
    let enc = again(bytes, |o| SecurityEventBatch::encode(b.base(), &events, o));
    let b2 = SecurityEventBatch::decode(&enc).expect("re-encoding decodes");
    assert_eq!(b2.events().collect::<Vec<_>>(), events);
}

fn diagnostics(bytes: &[u8]) {
    let d = match DiagnosticsReport::decode(bytes) {
        Ok(d) => d,
        Err(e) => return refused(e),
    };
    let enc = again(bytes, |o| d.encode(o));
    let d2 = DiagnosticsReport::decode(&enc).expect("re-encoding decodes");
    assert_eq!(again(&enc, |o| d2.encode(o)), enc);
}

fn value(bytes: &[u8]) {
    match Value::decode(bytes) {
        Ok(v) => {
            let enc = again(bytes, |o| v.encode(o));
            assert_eq!(enc, bytes, "a standalone value has one encoding");
        }
        Err(e) => refused(e),
    }
}

/// One valid message of each kind, to mutate.
fn seeds() -> [Vec<u8>; 4] {
    let mut buf = [0u8; 1024];
    let channels = [
        Channel::Known { code: VitalCode::SpO2, exponent: 0 },
        Channel::Known { code: VitalCode::BodyTemperature, exponent: -1 },
    ];
    let readings = [
        Reading { time_ms: 1_000, channel: 0, value: Value::Number(Decimal::new(97, 0)) },
        Reading { time_ms: 2_000, channel: 1, value: Value::Number(Decimal::new(3720, -2)) },
        Reading { time_ms: 3_000, channel: 0, value: Value::NaN },
    ];
    let n = VitalsBatch::encode(0, 1000, &channels, &readings, &mut buf).unwrap();
    let v = buf[..n].to_vec();
    let events = [UsageEvent { time_ms: 5, kind: UsageKind::ButtonPressed, value: 2 }];
    let n = UsageBatch::encode(1, &events, &mut buf).unwrap();
    let u = buf[..n].to_vec();
    let events = [SecurityEvent { time_ms: 9, cause: Cause::ReplayedRecord, detail: 0, count: 3 }];
    let n = SecurityEventBatch::encode(1, &events, &mut buf).unwrap();
    let s = buf[..n].to_vec();
    let errs = [ErrorCount { code: 7, count: 2 }];
    let mut d = DiagnosticsReport::new(10);
    d.battery_percent = Some(80);
    d.firmware = Some("2.4.1");
    d.errors = Some(ErrorCounts::new(&errs));
    let n = d.encode(&mut buf).unwrap();
    [v, u, s, buf[..n].to_vec()]
}

fuzz_target!(|data: &[u8]| {
    for f in [vitals, usage, security, diagnostics, value] {
        f(data);
    }
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let seeds = seeds();
    let seed = &seeds[usize::from(which) % seeds.len()];
    let m = mutate(seed, rest);
    for f in [vitals, usage, security, diagnostics] {
        f(&m);
    }
});
