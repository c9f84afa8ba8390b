//! Security events, the input of the cloud's audit trail (spec/MESSAGES.md section 4,
//! "Security events").
//!
//! 21 CFR Part 11 asks for secure, time-stamped audit trails (11.10(e)) and for checks that
//! instructions come from a valid source (11.10(h)); premarket cybersecurity guidance asks that a
//! device log and report attacks it saw. A device therefore reports what it refused: failed
//! authentication, replays, undecodable input, downgrade attempts, rejected commands and updates,
//! tampered storage, trust-policy and pairing failures. Repeats are aggregated (`count`), so a
//! flood of forged records costs the uplink one event, not one per record.
//!
//! Causes 0..=1023 belong to this specification and unknown ones are refused; causes from 1024
//! on are the vendor's. The `detail` of an event refines its cause with the code lists named
//! below; those lists grow, so any detail value is accepted.

use crate::cbor::Reader;
use crate::error::{Error, Local, Malformed, PeerError, Problem, ProblemKind, StorageError};
use crate::handshake::policy::Rejection;
use crate::message::envelope::Kind;
use crate::message::rows::{decode_batch, encode_batch, Batch, BatchFields, Rows};

/// Most events one batch may carry.
pub const MAX_EVENTS: usize = 32;
/// Most entries the body map may have, known and unknown keys together.
pub const MAX_MAP_ENTRIES: usize = 16;
/// The first vendor-defined cause; causes below it are this specification's.
pub const VENDOR_MIN: u64 = 1024;

/// Detail of [`Cause::AuthenticationFailure`]: a handshake message failed.
pub const AUTH_HANDSHAKE: u64 = 1;
/// Detail of [`Cause::AuthenticationFailure`]: a record failed.
pub const AUTH_RECORD: u64 = 2;

const F_BODY: &str = "security_events";
const FIELDS: BatchFields = BatchFields {
    body: F_BODY,
    base: F_BASE,
    rows: F_EVENTS,
};
const F_BASE: &str = "security_events.base";
const F_EVENTS: &str = "security_events.events";
const F_DT: &str = "security_events.events.dt";
const F_CAUSE: &str = "security_events.events.cause";
const F_DETAIL: &str = "security_events.events.detail";
const F_COUNT: &str = "security_events.events.count";

/// Why a security event was recorded. The detail each cause carries is named on its variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// A handshake message or record failed authentication. Detail: 0 unspecified,
    /// [`AUTH_HANDSHAKE`] or [`AUTH_RECORD`].
    AuthenticationFailure,
    /// A record whose counter was already accepted. Detail: 0.
    ReplayedRecord,
    /// Input that does not decode. Detail: [`problem_code`] of the problem, or 0.
    DecodeError,
    /// A suite or pattern that is not allowed was offered (downgrade attempt). Detail: 0.
    DowngradeAttempt,
    /// A therapy command was refused. Detail: the [`crate::CommandRejection`] code.
    CommandRejected,
    /// An update was refused. Detail: the [`crate::UpdateRejection`] code.
    UpdateRejected,
    /// Stored data failed its checks. Detail: [`storage_code`] (1 tampered, 2 truncated,
    /// 3 rolled back, 4 reordered).
    StorageTampered,
    /// The trust policy refused a peer. Detail: [`rejection_code`].
    TrustPolicyRejection,
    /// Pairing with a phone failed (wrong code, failed PAKE). Detail: 0.
    PairingFailure,
    /// A vendor-defined cause, at least [`VENDOR_MIN`]; detail as the vendor defines.
    Vendor(u64),
}

impl Cause {
    /// The cause with wire number `n`, or `None` for a number this specification reserves
    /// (0 and 10..=1023).
    pub fn from_u64(n: u64) -> Option<Cause> {
        Some(match n {
            1 => Cause::AuthenticationFailure,
            2 => Cause::ReplayedRecord,
            3 => Cause::DecodeError,
            4 => Cause::DowngradeAttempt,
            5 => Cause::CommandRejected,
            6 => Cause::UpdateRejected,
            7 => Cause::StorageTampered,
            8 => Cause::TrustPolicyRejection,
            9 => Cause::PairingFailure,
            n if n >= VENDOR_MIN => Cause::Vendor(n),
            _ => return None,
        })
    }

    /// The wire number. A `Vendor` below [`VENDOR_MIN`] returns its number unchanged, and the
    /// encoder refuses it.
    pub fn to_u64(self) -> u64 {
        match self {
            Cause::AuthenticationFailure => 1,
            Cause::ReplayedRecord => 2,
            Cause::DecodeError => 3,
            Cause::DowngradeAttempt => 4,
            Cause::CommandRejected => 5,
            Cause::UpdateRejected => 6,
            Cause::StorageTampered => 7,
            Cause::TrustPolicyRejection => 8,
            Cause::PairingFailure => 9,
            Cause::Vendor(n) => n,
        }
    }
}

/// The detail number of a decoding problem (for [`Cause::DecodeError`]), so the audit trail
/// can tell truncation from a forged structure without the field name.
pub fn problem_code(kind: ProblemKind) -> u64 {
    match kind {
        ProblemKind::Truncated => 1,
        ProblemKind::WrongType => 2,
        ProblemKind::NotCanonical => 3,
        ProblemKind::TooLong => 4,
        ProblemKind::TooMany => 5,
        ProblemKind::OutOfRange => 6,
        ProblemKind::Missing => 7,
        ProblemKind::Order => 8,
        ProblemKind::UnknownCritical => 9,
        ProblemKind::TrailingBytes => 10,
        ProblemKind::Utf8 => 11,
    }
}

/// The detail number of a storage failure (for [`Cause::StorageTampered`]), or `None` for the
/// failures that are not a sign of tampering (I/O errors, a full outbox).
pub fn storage_code(e: StorageError) -> Option<u64> {
    match e {
        StorageError::Tampered => Some(1),
        StorageError::Truncated => Some(2),
        StorageError::RolledBack => Some(3),
        StorageError::Reordered => Some(4),
        StorageError::Io | StorageError::Full => None,
    }
}

/// The detail number of a trust-policy refusal (for [`Cause::TrustPolicyRejection`]).
pub fn rejection_code(r: Rejection) -> u64 {
    match r {
        Rejection::UnknownPeer => 1,
        Rejection::Revoked => 2,
        Rejection::KeyMismatch => 3,
        Rejection::MissingCredential => 4,
        Rejection::BadCredential => 5,
        Rejection::NotYetValid => 6,
        Rejection::Expired => 7,
        Rejection::NotAllowed => 8,
    }
}

/// One security event, possibly standing for several identical ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecurityEvent {
    /// Milliseconds since the Unix epoch (UTC) of the first occurrence.
    pub time_ms: u64,
    /// Why it was recorded.
    pub cause: Cause,
    /// The cause's refinement (see [`Cause`]); 0 when there is none.
    pub detail: u64,
    /// How many times it happened (at least 1).
    pub count: u64,
}

impl SecurityEvent {
    /// The audit-trail event for an error tether reported at `time_ms`, or `None` for errors
    /// that are not security-relevant (a small buffer, a call in the wrong state, an I/O failure,
    /// a full outbox). So an application logs what the library refused without mapping errors
    /// itself: authentication failures, replays, decode errors, downgrades (a suite or pattern
    /// not allowed), refused commands and updates, tampered storage, trust-policy refusals.
    pub fn from_error(error: &Error, time_ms: u64) -> Option<SecurityEvent> {
        let (cause, detail) = match *error {
            Error::Peer(PeerError::Authentication) => (Cause::AuthenticationFailure, 0),
            // A record older than the window is a replay the window can no longer name.
            Error::Peer(PeerError::Replayed | PeerError::TooOld) => (Cause::ReplayedRecord, 0),
            Error::Peer(_) => (Cause::DecodeError, 0),
            Error::Malformed(Malformed::Message(p)) => (Cause::DecodeError, problem_code(p.kind)),
            Error::Malformed(_) => (Cause::DecodeError, 0),
            Error::Local(Local::NotAllowed) => (Cause::DowngradeAttempt, 0),
            Error::Command(r) => (Cause::CommandRejected, r as u64),
            Error::Update(r) => (Cause::UpdateRejected, r as u64),
            Error::Storage(e) => (Cause::StorageTampered, storage_code(e)?),
            Error::Policy(r) => (Cause::TrustPolicyRejection, rejection_code(r)),
            _ => return None,
        };
        Some(SecurityEvent {
            time_ms,
            cause,
            detail,
            count: 1,
        })
    }
}

/// A decoded security-events batch, borrowed from the message bytes; validated once by
/// [`SecurityEventBatch::decode`].
pub type SecurityEventBatch<'a> = Batch<'a, SecurityEvent>;

impl<'a> Batch<'a, SecurityEvent> {
    /// Encodes a batch as a whole message (`[4, body]`) into `out` and returns its length.
    ///
    /// Events 1..=32, times at or after `base` and non-decreasing, counts at least 1, vendor
    /// causes at least [`VENDOR_MIN`]; otherwise [`Local::Config`] and nothing is written.
    pub fn encode(base: u64, events: &[SecurityEvent], out: &mut [u8]) -> Result<usize, Error> {
        if events.is_empty() || events.len() > MAX_EVENTS {
            return Err(Local::Config.into());
        }
        let mut prev = base;
        for ev in events {
            if ev.time_ms < prev
                || ev.count == 0
                || Cause::from_u64(ev.cause.to_u64()) != Some(ev.cause)
            {
                return Err(Local::Config.into());
            }
            prev = ev.time_ms;
        }
        encode_batch(
            Kind::SecurityEvents,
            base,
            events.len(),
            out,
            |e, i, prev| {
                let Some(ev) = events.get(i) else {
                    return Ok(prev);
                };
                e.array(4)?
                    .u64(ev.time_ms.saturating_sub(prev))?
                    .u64(ev.cause.to_u64())?
                    .u64(ev.detail)?
                    .u64(ev.count)?;
                Ok(ev.time_ms)
            },
        )
    }

    /// Decodes a whole security-events message strictly (spec/MESSAGES.md section 4).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        decode_batch(
            bytes,
            Kind::SecurityEvents,
            &FIELDS,
            MAX_EVENTS,
            MAX_MAP_ENTRIES,
            read_event,
        )
    }

    /// The events, in order, with absolute times (re-walks the validated bytes).
    pub fn events(&self) -> SecurityEvents<'a> {
        self.rows(read_event)
    }
}

/// Reads one `[dt, cause, detail, count]` event; `time` is the previous event's time and
/// becomes this one's.
fn read_event(r: &mut Reader<'_>, time: &mut u64) -> Result<SecurityEvent, Problem> {
    r.array_exact(F_EVENTS, 4)?;
    let dt = r.uint(F_DT)?;
    let t = time
        .checked_add(dt)
        .ok_or(Problem::new(F_DT, ProblemKind::OutOfRange))?;
    let cause =
        Cause::from_u64(r.uint(F_CAUSE)?).ok_or(Problem::new(F_CAUSE, ProblemKind::OutOfRange))?;
    let detail = r.uint(F_DETAIL)?;
    let count = r.uint_in(F_COUNT, 1, u64::MAX)?;
    *time = t;
    Ok(SecurityEvent {
        time_ms: t,
        cause,
        detail,
        count,
    })
}

/// The events of a decoded batch, in order, with absolute times.
pub type SecurityEvents<'a> = Rows<'a, SecurityEvent>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::{Enc, EncResult};
    use crate::error::{CommandRejection, UpdateRejection};
    use crate::message::decimal::test_support::{build, problem, strip_unknown_keys};
    use proptest::prelude::*;
    use std::vec::Vec;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn errors_become_audit_events() {
        use crate::error::Problem;
        let ev = |e: Error| SecurityEvent::from_error(&e, T0).map(|ev| (ev.cause, ev.detail));
        assert_eq!(
            ev(PeerError::Authentication.into()),
            Some((Cause::AuthenticationFailure, 0))
        );
        assert_eq!(
            ev(PeerError::Replayed.into()),
            Some((Cause::ReplayedRecord, 0))
        );
        assert_eq!(
            ev(Problem::new("vitals", ProblemKind::TooMany).into()),
            Some((Cause::DecodeError, 5))
        );
        assert_eq!(
            ev(Malformed::Truncated.into()),
            Some((Cause::DecodeError, 0))
        );
        assert_eq!(
            ev(Local::NotAllowed.into()),
            Some((Cause::DowngradeAttempt, 0))
        );
        assert_eq!(
            ev(CommandRejection::Replayed.into()),
            Some((Cause::CommandRejected, 8))
        );
        assert_eq!(
            ev(UpdateRejection::Rollback.into()),
            Some((Cause::UpdateRejected, 4))
        );
        assert_eq!(
            ev(StorageError::RolledBack.into()),
            Some((Cause::StorageTampered, 3))
        );
        assert_eq!(
            ev(Rejection::Revoked.into()),
            Some((Cause::TrustPolicyRejection, 2))
        );
        assert_eq!(ev(StorageError::Io.into()), None);
        assert_eq!(ev(Local::BufferTooSmall { needed: 3 }.into()), None);
        assert_eq!(
            SecurityEvent::from_error(&PeerError::Replayed.into(), T0)
                .unwrap()
                .count,
            1
        );
    }

    fn ev(time_ms: u64, cause: Cause, detail: u64, count: u64) -> SecurityEvent {
        SecurityEvent {
            time_ms,
            cause,
            detail,
            count,
        }
    }

    fn enc(base: u64, events: &[SecurityEvent]) -> Vec<u8> {
        let mut buf = std::vec![0u8; 4096];
        let n = SecurityEventBatch::encode(base, events, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    fn err(bytes: &[u8]) -> Problem {
        problem(SecurityEventBatch::decode(bytes).unwrap_err())
    }

    /// `[4, {0: 0, 1: <events>}]`.
    fn body<F: Fn(&mut Enc<'_>) -> EncResult>(events: F) -> Vec<u8> {
        build(|e| {
            e.array(2)?.u8(4)?.map(2)?.u8(0)?.u8(0)?.u8(1)?;
            events(e)
        })
    }

    #[test]
    fn known_answer() {
        let events = [
            ev(T0, Cause::AuthenticationFailure, AUTH_RECORD, 250),
            ev(
                T0 + 40,
                Cause::CommandRejected,
                CommandRejection::Expired as u64,
                1,
            ),
            ev(
                T0 + 40,
                Cause::StorageTampered,
                storage_code(StorageError::RolledBack).unwrap(),
                1,
            ),
        ];
        let b = enc(T0, &events);
        let expected = [
            0x82, 0x04, 0xa2, // [4, {
            0x00, 0x1b, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // 0: base
            0x01, 0x83, // 1: [
            0x84, 0x00, 0x01, 0x02, 0x18, 0xfa, // [0, 1, 2, 250]
            0x84, 0x18, 0x28, 0x05, 0x04, 0x01, // [40, 5, 4, 1]
            0x84, 0x00, 0x07, 0x03, 0x01, // [0, 7, 3, 1]
        ];
        assert_eq!(b, expected);
        let d = SecurityEventBatch::decode(&b).unwrap();
        assert_eq!(d.base(), T0);
        assert_eq!((d.len(), d.is_empty()), (3, false));
        assert_eq!(d.events().len(), 3);
        assert_eq!(d.events().collect::<Vec<_>>(), events);
    }

    #[test]
    fn causes_and_detail_codes() {
        for n in 0..2000u64 {
            match Cause::from_u64(n) {
                Some(c) => assert_eq!(c.to_u64(), n),
                None => assert!(n == 0 || (10..VENDOR_MIN).contains(&n), "{n}"),
            }
        }
        // Detail lists are numbered 1.. without gaps or repeats.
        let kinds = [
            ProblemKind::Truncated,
            ProblemKind::WrongType,
            ProblemKind::NotCanonical,
            ProblemKind::TooLong,
            ProblemKind::TooMany,
            ProblemKind::OutOfRange,
            ProblemKind::Missing,
            ProblemKind::Order,
            ProblemKind::UnknownCritical,
            ProblemKind::TrailingBytes,
            ProblemKind::Utf8,
        ];
        for (i, k) in kinds.into_iter().enumerate() {
            assert_eq!(problem_code(k), i as u64 + 1);
        }
        assert_eq!(storage_code(StorageError::Tampered), Some(1));
        assert_eq!(storage_code(StorageError::Reordered), Some(4));
        assert_eq!(storage_code(StorageError::Io), None);
        assert_eq!(rejection_code(Rejection::UnknownPeer), 1);
        assert_eq!(rejection_code(Rejection::NotAllowed), 8);
        assert_eq!(UpdateRejection::Rollback as u64, 4);
    }

    #[test]
    fn encoder_refuses_bad_input() {
        let mut buf = [0u8; 1024];
        let config = Err(Error::Local(Local::Config));
        let one = ev(T0, Cause::ReplayedRecord, 0, 1);
        assert_eq!(SecurityEventBatch::encode(T0, &[], &mut buf), config);
        let many = [one; MAX_EVENTS + 1];
        assert_eq!(SecurityEventBatch::encode(T0, &many, &mut buf), config);
        assert!(SecurityEventBatch::encode(T0, &many[1..], &mut buf).is_ok());
        assert_eq!(
            SecurityEventBatch::encode(T0, &[ev(T0, Cause::ReplayedRecord, 0, 0)], &mut buf),
            config
        );
        assert_eq!(SecurityEventBatch::encode(T0 + 1, &[one], &mut buf), config);
        assert_eq!(
            SecurityEventBatch::encode(
                T0,
                &[ev(T0 + 5, Cause::ReplayedRecord, 0, 1), one],
                &mut buf
            ),
            config
        );
        assert_eq!(
            SecurityEventBatch::encode(T0, &[ev(T0, Cause::Vendor(1023), 0, 1)], &mut buf),
            config
        );
        let n = SecurityEventBatch::encode(T0, &[one], &mut buf).unwrap();
        assert_eq!(
            SecurityEventBatch::encode(T0, &[one], &mut buf[..n - 1]),
            Err(Error::Local(Local::BufferTooSmall { needed: n }))
        );
    }

    #[test]
    fn hand_built_body_decodes_and_any_detail_is_accepted() {
        let b = body(|e| {
            e.array(1)?.array(4)?.u8(3)?.u8(3)?.u64(u64::MAX)?.u8(2)?;
            Ok(())
        });
        let d = SecurityEventBatch::decode(&b).unwrap();
        assert_eq!(
            d.events().collect::<Vec<_>>(),
            [ev(3, Cause::DecodeError, u64::MAX, 2)]
        );
    }

    #[test]
    fn rejects_reserved_causes() {
        for cause in [0u64, 10, 1023] {
            let b = body(|e| {
                e.array(1)?.array(4)?.u8(0)?.u64(cause)?.u8(0)?.u8(1)?;
                Ok(())
            });
            assert_eq!(
                err(&b),
                Problem::new(F_CAUSE, ProblemKind::OutOfRange),
                "{cause}"
            );
        }
    }

    #[test]
    fn rejects_zero_count() {
        let b = body(|e| {
            e.array(1)?.array(4)?.u8(0)?.u8(1)?.u8(0)?.u8(0)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_COUNT, ProblemKind::OutOfRange));
    }

    #[test]
    fn rejects_negative_detail() {
        let b = body(|e| {
            e.array(1)?.array(4)?.u8(0)?.u8(1)?.i8(-1)?.u8(1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_DETAIL, ProblemKind::WrongType));
    }

    #[test]
    fn rejects_event_count_and_shape() {
        let b = body(|e| {
            e.array(0)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_EVENTS, ProblemKind::OutOfRange));
        let b = body(|e| {
            e.array(33)?;
            for _ in 0..33 {
                e.array(4)?.u8(0)?.u8(1)?.u8(0)?.u8(1)?;
            }
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_EVENTS, ProblemKind::TooMany));
        let b = body(|e| {
            e.array(1)?.array(3)?.u8(0)?.u8(1)?.u8(0)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_EVENTS, ProblemKind::WrongType));
    }

    #[test]
    fn rejects_time_overflow() {
        let b = build(|e| {
            e.array(2)?.u8(4)?.map(2)?.u8(0)?.u64(u64::MAX - 1)?.u8(1)?;
            e.array(1)?.array(4)?.u8(2)?.u8(1)?.u8(0)?.u8(1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_DT, ProblemKind::OutOfRange));
    }

    #[test]
    fn map_rules() {
        let b = build(|e| {
            e.array(2)?.u8(4)?.map(1)?.u8(1)?;
            e.array(1)?.array(4)?.u8(0)?.u8(1)?.u8(0)?.u8(1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_BASE, ProblemKind::Missing));
        let with = |key: i64| {
            build(move |e| {
                e.array(2)?.u8(4)?.map(3)?.u8(0)?.u8(0)?.u8(1)?;
                e.array(1)?.array(4)?.u8(0)?.u8(1)?.u8(0)?.u8(1)?;
                e.i64(key)?.array(0)?;
                Ok(())
            })
        };
        assert_eq!(SecurityEventBatch::decode(&with(7)).map(|d| d.len()), Ok(1));
        assert_eq!(
            err(&with(-7)),
            Problem::new(F_BODY, ProblemKind::UnknownCritical)
        );
        let mut b = enc(T0, &[ev(T0, Cause::PairingFailure, 0, 1)]);
        b.push(0xf7);
        assert_eq!(err(&b), Problem::new("message", ProblemKind::TrailingBytes));
        // base 23 written in two bytes.
        let b = build(|e| {
            use minicbor::encode::Write;
            e.array(2)?.u8(4)?.map(2)?.u8(0)?;
            e.writer_mut()
                .write_all(&[0x18, 0x17])
                .map_err(minicbor::encode::Error::write)?;
            e.u8(1)?.array(1)?.array(4)?.u8(0)?.u8(1)?.u8(0)?.u8(1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_BASE, ProblemKind::NotCanonical));
    }

    fn any_cause() -> impl Strategy<Value = Cause> {
        prop_oneof![
            4 => (1u64..=9).prop_map(|n| Cause::from_u64(n).unwrap()),
            1 => (VENDOR_MIN..=u64::MAX).prop_map(Cause::Vendor),
        ]
    }

    prop_compose! {
        fn any_batch()(
            base in 0u64..=1 << 50,
            raw in proptest::collection::vec(
                (
                    prop_oneof![0u64..100, 0u64..1 << 40],
                    any_cause(),
                    prop_oneof![0u64..12, any::<u64>()],
                    prop_oneof![1u64..5, 1u64..=u64::MAX],
                ),
                1..=MAX_EVENTS,
            ),
        ) -> (u64, Vec<SecurityEvent>) {
            let mut t = base;
            let events = raw
                .into_iter()
                .map(|(dt, cause, detail, count)| {
                    t += dt;
                    ev(t, cause, detail, count)
                })
                .collect();
            (base, events)
        }
    }

    proptest! {
        #[test]
        fn round_trip((base, events) in any_batch()) {
            let b = enc(base, &events);
            let d = SecurityEventBatch::decode(&b).unwrap();
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
            if let Ok(d) = SecurityEventBatch::decode(&b) {
                let again = enc(d.base(), &d.events().collect::<Vec<_>>());
                prop_assert_eq!(again, strip_unknown_keys(&b, &[0, 1]).unwrap());
            }
        }

        #[test]
        fn every_truncation_fails((base, events) in any_batch()) {
            let b = enc(base, &events);
            for n in 0..b.len() {
                prop_assert!(SecurityEventBatch::decode(&b[..n]).is_err());
            }
        }
    }
}
