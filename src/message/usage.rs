//! Device usage events: therapy sessions, alarms, buttons, settings, sensors
//! (spec/MESSAGES.md section 4, "Usage").
//!
//! How a device was used is clinical evidence (was the therapy delivered, was the alarm seen)
//! and post-market surveillance data, so events carry a millisecond time and a small integer
//! payload whose meaning the kind defines. A batch shares one base time; each event stores only
//! the milliseconds since the previous one, usually one to three bytes.
//!
//! Kinds 0..=1023 belong to this specification (unknown ones are refused, so a typo never reads
//! as a real event); kinds from 1024 on are the vendor's own and pass through untouched.

use crate::cbor::Reader;
use crate::error::{Error, Local, Problem, ProblemKind};
use crate::message::envelope::Kind;
use crate::message::rows::{decode_batch, encode_batch, Batch, BatchFields, Rows};

/// Most events one batch may carry.
pub const MAX_EVENTS: usize = 64;
/// Most entries the body map may have, known and unknown keys together.
pub const MAX_MAP_ENTRIES: usize = 16;
/// The first vendor-defined kind; kinds below it are this specification's.
pub const VENDOR_MIN: u64 = 1024;

const F_BODY: &str = "usage";
const FIELDS: BatchFields = BatchFields {
    body: F_BODY,
    base: F_BASE,
    rows: F_EVENTS,
};
const F_BASE: &str = "usage.base";
const F_EVENTS: &str = "usage.events";
const F_DT: &str = "usage.events.dt";
const F_KIND: &str = "usage.events.kind";
const F_VALUE: &str = "usage.events.value";

/// What happened. The `value` of a [`UsageEvent`] means what each variant says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UsageKind {
    /// A therapy session started; value: the program id.
    TherapyStarted,
    /// A therapy session ended; value: its duration in seconds.
    TherapyEnded,
    /// An alarm was raised; value: the alarm code.
    AlarmRaised,
    /// An alarm was cleared; value: the alarm code.
    AlarmCleared,
    /// A button was pressed; value: the button id.
    ButtonPressed,
    /// A setting was changed; value: the setting id.
    SettingsChanged,
    /// A sensor was attached; value: the sensor id.
    SensorAttached,
    /// A sensor was detached; value: the sensor id.
    SensorDetached,
    /// A vendor-defined kind, at least [`VENDOR_MIN`]; value: as the vendor defines.
    Vendor(u64),
}

impl UsageKind {
    /// The kind with wire number `n`, or `None` for a number this specification reserves
    /// (0 and 9..=1023).
    pub fn from_u64(n: u64) -> Option<UsageKind> {
        Some(match n {
            1 => UsageKind::TherapyStarted,
            2 => UsageKind::TherapyEnded,
            3 => UsageKind::AlarmRaised,
            4 => UsageKind::AlarmCleared,
            5 => UsageKind::ButtonPressed,
            6 => UsageKind::SettingsChanged,
            7 => UsageKind::SensorAttached,
            8 => UsageKind::SensorDetached,
            n if n >= VENDOR_MIN => UsageKind::Vendor(n),
            _ => return None,
        })
    }

    /// The wire number. A `Vendor` below [`VENDOR_MIN`] returns its number unchanged, and the
    /// encoder refuses it.
    pub fn to_u64(self) -> u64 {
        match self {
            UsageKind::TherapyStarted => 1,
            UsageKind::TherapyEnded => 2,
            UsageKind::AlarmRaised => 3,
            UsageKind::AlarmCleared => 4,
            UsageKind::ButtonPressed => 5,
            UsageKind::SettingsChanged => 6,
            UsageKind::SensorAttached => 7,
            UsageKind::SensorDetached => 8,
            UsageKind::Vendor(n) => n,
        }
    }
}

/// One usage event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsageEvent {
    /// Milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// What happened.
    pub kind: UsageKind,
    /// The kind's payload (program id, duration, alarm code, ...).
    pub value: i64,
}

/// A decoded usage batch, borrowed from the message bytes; validated once by
/// [`UsageBatch::decode`].
pub type UsageBatch<'a> = Batch<'a, UsageEvent>;

impl<'a> Batch<'a, UsageEvent> {
    /// Encodes a batch as a whole message (`[2, body]`) into `out` and returns its length.
    ///
    /// Events 1..=64, times at or after `base` and non-decreasing, vendor kinds at least
    /// [`VENDOR_MIN`]; otherwise [`Local::Config`] and nothing is written.
    pub fn encode(base: u64, events: &[UsageEvent], out: &mut [u8]) -> Result<usize, Error> {
        if events.is_empty() || events.len() > MAX_EVENTS {
            return Err(Local::Config.into());
        }
        let mut prev = base;
        for ev in events {
            if ev.time_ms < prev || UsageKind::from_u64(ev.kind.to_u64()) != Some(ev.kind) {
                return Err(Local::Config.into());
            }
            prev = ev.time_ms;
        }
        encode_batch(Kind::Usage, base, events.len(), out, |e, i, prev| {
            let Some(ev) = events.get(i) else {
                return Ok(prev);
            };
            e.array(3)?
                .u64(ev.time_ms.saturating_sub(prev))?
                .u64(ev.kind.to_u64())?
                .i64(ev.value)?;
            Ok(ev.time_ms)
        })
    }

    /// Decodes a whole usage message strictly (spec/MESSAGES.md section 4).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        decode_batch(
            bytes,
            Kind::Usage,
            &FIELDS,
            MAX_EVENTS,
            MAX_MAP_ENTRIES,
            read_event,
        )
    }

    /// The events, in order, with absolute times (re-walks the validated bytes).
    pub fn events(&self) -> UsageEvents<'a> {
        self.rows(read_event)
    }
}

/// Reads one `[dt, kind, value]` event; `time` is the previous event's time and becomes this
/// one's.
fn read_event(r: &mut Reader<'_>, time: &mut u64) -> Result<UsageEvent, Problem> {
    r.array_exact(F_EVENTS, 3)?;
    let dt = r.uint(F_DT)?;
    let t = time
        .checked_add(dt)
        .ok_or(Problem::new(F_DT, ProblemKind::OutOfRange))?;
    let kind = UsageKind::from_u64(r.uint(F_KIND)?)
        .ok_or(Problem::new(F_KIND, ProblemKind::OutOfRange))?;
    let value = r.int(F_VALUE)?;
    *time = t;
    Ok(UsageEvent {
        time_ms: t,
        kind,
        value,
    })
}

/// The events of a decoded batch, in order, with absolute times.
pub type UsageEvents<'a> = Rows<'a, UsageEvent>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::{Enc, EncResult};
    use crate::message::decimal::test_support::{build, problem, strip_unknown_keys};
    use proptest::prelude::*;
    use std::vec::Vec;

    const T0: u64 = 1_700_000_000_000;

    fn ev(time_ms: u64, kind: UsageKind, value: i64) -> UsageEvent {
        UsageEvent {
            time_ms,
            kind,
            value,
        }
    }

    fn enc(base: u64, events: &[UsageEvent]) -> Vec<u8> {
        let mut buf = std::vec![0u8; 4096];
        let n = UsageBatch::encode(base, events, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    fn err(bytes: &[u8]) -> Problem {
        problem(UsageBatch::decode(bytes).unwrap_err())
    }

    /// `[2, {0: 0, 1: <events>}]`.
    fn body<F: Fn(&mut Enc<'_>) -> EncResult>(events: F) -> Vec<u8> {
        build(|e| {
            e.array(2)?.u8(2)?.map(2)?.u8(0)?.u8(0)?.u8(1)?;
            events(e)
        })
    }

    #[test]
    fn known_answer() {
        let events = [
            ev(T0, UsageKind::TherapyStarted, 3),
            ev(T0 + 1_800_000, UsageKind::TherapyEnded, 1800),
            ev(T0 + 1_800_500, UsageKind::Vendor(4096), -7),
        ];
        let b = enc(T0, &events);
        let expected = [
            0x82, 0x02, 0xa2, // [2, {
            0x00, 0x1b, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // 0: base
            0x01, 0x83, // 1: [
            0x83, 0x00, 0x01, 0x03, // [0, 1, 3]
            0x83, 0x1a, 0x00, 0x1b, 0x77, 0x40, 0x02, 0x19, 0x07, 0x08, // [1800000, 2, 1800]
            0x83, 0x19, 0x01, 0xf4, 0x19, 0x10, 0x00, 0x26, // [500, 4096, -7]
        ];
        assert_eq!(b, expected);
        let d = UsageBatch::decode(&b).unwrap();
        assert_eq!(d.base(), T0);
        assert_eq!(d.len(), 3);
        assert!(!d.is_empty());
        assert_eq!(d.events().len(), 3);
        assert_eq!(d.events().collect::<Vec<_>>(), events);
    }

    #[test]
    fn kinds_round_trip() {
        for n in 0..2000u64 {
            match UsageKind::from_u64(n) {
                Some(k) => assert_eq!(k.to_u64(), n),
                None => assert!(n == 0 || (9..VENDOR_MIN).contains(&n), "{n}"),
            }
        }
        assert_eq!(
            UsageKind::from_u64(u64::MAX),
            Some(UsageKind::Vendor(u64::MAX))
        );
    }

    #[test]
    fn encoder_refuses_bad_input() {
        let mut buf = [0u8; 1024];
        let config = Err(Error::Local(Local::Config));
        assert_eq!(UsageBatch::encode(T0, &[], &mut buf), config);
        let many = [ev(T0, UsageKind::ButtonPressed, 1); MAX_EVENTS + 1];
        assert_eq!(UsageBatch::encode(T0, &many, &mut buf), config);
        assert!(UsageBatch::encode(T0, &many[1..], &mut buf).is_ok());
        assert_eq!(
            UsageBatch::encode(T0, &[ev(T0 - 1, UsageKind::ButtonPressed, 1)], &mut buf),
            config
        );
        assert_eq!(
            UsageBatch::encode(
                T0,
                &[
                    ev(T0 + 2, UsageKind::ButtonPressed, 1),
                    ev(T0 + 1, UsageKind::ButtonPressed, 1)
                ],
                &mut buf
            ),
            config
        );
        assert_eq!(
            UsageBatch::encode(T0, &[ev(T0, UsageKind::Vendor(9), 1)], &mut buf),
            config
        );
        assert_eq!(
            UsageBatch::encode(T0, &[ev(T0, UsageKind::Vendor(3), 1)], &mut buf),
            config
        );
        let one = [ev(T0, UsageKind::AlarmRaised, 12)];
        let n = UsageBatch::encode(T0, &one, &mut buf).unwrap();
        assert_eq!(
            UsageBatch::encode(T0, &one, &mut buf[..n - 1]),
            Err(Error::Local(Local::BufferTooSmall { needed: n }))
        );
    }

    #[test]
    fn hand_built_body_decodes() {
        let b = body(|e| {
            e.array(1)?.array(3)?.u8(5)?.u8(7)?.i8(-1)?;
            Ok(())
        });
        let d = UsageBatch::decode(&b).unwrap();
        assert_eq!(
            d.events().collect::<Vec<_>>(),
            [ev(5, UsageKind::SensorAttached, -1)]
        );
    }

    #[test]
    fn rejects_reserved_kinds() {
        for kind in [0u64, 9, 1023] {
            let b = body(|e| {
                e.array(1)?.array(3)?.u8(0)?.u64(kind)?.u8(0)?;
                Ok(())
            });
            assert_eq!(
                err(&b),
                Problem::new(F_KIND, ProblemKind::OutOfRange),
                "{kind}"
            );
        }
    }

    #[test]
    fn rejects_event_count() {
        let b = body(|e| {
            e.array(0)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_EVENTS, ProblemKind::OutOfRange));
        let b = body(|e| {
            e.array(65)?;
            for _ in 0..65 {
                e.array(3)?.u8(0)?.u8(5)?.u8(1)?;
            }
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_EVENTS, ProblemKind::TooMany));
    }

    #[test]
    fn rejects_event_of_wrong_shape() {
        for n in [2u64, 4] {
            let b = body(|e| {
                e.array(1)?.array(n)?;
                for _ in 0..n {
                    e.u8(1)?;
                }
                Ok(())
            });
            assert_eq!(
                err(&b),
                Problem::new(F_EVENTS, ProblemKind::WrongType),
                "{n}"
            );
        }
    }

    #[test]
    fn rejects_value_out_of_i64() {
        let b = body(|e| {
            e.array(1)?.array(3)?.u8(0)?.u8(5)?.u64(1 << 63)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_VALUE, ProblemKind::OutOfRange));
        let b = body(|e| {
            e.array(1)?.array(3)?.u8(0)?.u8(5)?.str("x")?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_VALUE, ProblemKind::WrongType));
    }

    #[test]
    fn rejects_negative_dt_and_time_overflow() {
        let b = body(|e| {
            e.array(1)?.array(3)?.i8(-1)?.u8(5)?.u8(1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_DT, ProblemKind::WrongType));
        let b = build(|e| {
            e.array(2)?.u8(2)?.map(2)?.u8(0)?.u64(u64::MAX)?.u8(1)?;
            e.array(1)?.array(3)?.u8(1)?.u8(5)?.u8(1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_DT, ProblemKind::OutOfRange));
    }

    #[test]
    fn rejects_non_canonical_integer() {
        let b = body(|e| {
            e.array(1)?.array(3)?.u8(0)?.u8(5)?.u8(1)?;
            Ok(())
        });
        // The kind 5 (0x05) written as 0x18 0x05.
        let at = b.len() - 2;
        let mut c = b[..at].to_vec();
        c.extend_from_slice(&[0x18, 0x05, 0x01]);
        assert_eq!(err(&c), Problem::new(F_KIND, ProblemKind::NotCanonical));
    }

    #[test]
    fn map_rules() {
        // Missing events.
        let b = build(|e| {
            e.array(2)?.u8(2)?.map(1)?.u8(0)?.u8(0)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_EVENTS, ProblemKind::Missing));
        // Unknown optional key skipped, unknown critical key refused.
        let with = |key: i64| {
            build(move |e| {
                e.array(2)?.u8(2)?.map(3)?.u8(0)?.u8(0)?.u8(1)?;
                e.array(1)?.array(3)?.u8(0)?.u8(5)?.u8(1)?;
                e.i64(key)?.u8(0)?;
                Ok(())
            })
        };
        assert_eq!(UsageBatch::decode(&with(2)).map(|d| d.len()), Ok(1));
        assert_eq!(
            err(&with(-2)),
            Problem::new(F_BODY, ProblemKind::UnknownCritical)
        );
        // Repeated key.
        let b = build(|e| {
            e.array(2)?.u8(2)?.map(3)?.u8(0)?.u8(0)?.u8(0)?.u8(0)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_BODY, ProblemKind::Order));
        // Trailing bytes, wrong kind.
        let mut b = enc(T0, &[ev(T0, UsageKind::AlarmCleared, 1)]);
        b.push(0);
        assert_eq!(err(&b), Problem::new("message", ProblemKind::TrailingBytes));
        let mut b = enc(T0, &[ev(T0, UsageKind::AlarmCleared, 1)]);
        b[1] = 1;
        assert_eq!(
            err(&b),
            Problem::new("message.kind", ProblemKind::OutOfRange)
        );
    }

    fn any_kind() -> impl Strategy<Value = UsageKind> {
        prop_oneof![
            4 => (1u64..=8).prop_map(|n| UsageKind::from_u64(n).unwrap()),
            1 => (VENDOR_MIN..=u64::MAX).prop_map(UsageKind::Vendor),
        ]
    }

    prop_compose! {
        fn any_batch()(
            base in 0u64..=1 << 50,
            raw in proptest::collection::vec(
                (prop_oneof![0u64..100, 0u64..1 << 40], any_kind(), any::<i64>()),
                1..=MAX_EVENTS,
            ),
        ) -> (u64, Vec<UsageEvent>) {
            let mut t = base;
            let events = raw
                .into_iter()
                .map(|(dt, kind, value)| {
                    t += dt;
                    ev(t, kind, value)
                })
                .collect();
            (base, events)
        }
    }

    proptest! {
        #[test]
        fn round_trip((base, events) in any_batch()) {
            let b = enc(base, &events);
            let d = UsageBatch::decode(&b).unwrap();
            prop_assert_eq!(d.base(), base);
            prop_assert_eq!(d.events().collect::<Vec<_>>(), events);
        }

        #[test]
        fn single_byte_changes_never_fix_silently(
            (base, events) in any_batch(),
            pos in any::<usize>(),
            byte in any::<u8>(),
        ) {
            let mut b = enc(base, &events);
            let i = pos % b.len();
            b[i] = byte;
            if let Ok(d) = UsageBatch::decode(&b) {
                let again = enc(d.base(), &d.events().collect::<Vec<_>>());
                prop_assert_eq!(again, strip_unknown_keys(&b, &[0, 1]).unwrap());
            }
        }

        #[test]
        fn every_truncation_fails((base, events) in any_batch()) {
            let b = enc(base, &events);
            for n in 0..b.len() {
                prop_assert!(UsageBatch::decode(&b[..n]).is_err());
            }
        }
    }
}
