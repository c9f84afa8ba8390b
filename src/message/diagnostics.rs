//! One diagnostics report: battery, firmware, error counters, uptime, radio
//! (spec/MESSAGES.md section 4, "Diagnostics").
//!
//! Field service and post-market surveillance need to know a device's health before it fails
//! (a battery running down, a sensor error counting up, a weak radio), without a technician
//! attaching a cable. Every field but the time is optional, so a device sends only what it
//! measures; a report with a battery level alone costs about twenty bytes.

use core::fmt;

use crate::cbor::Reader;
use crate::error::{Error, Local, Problem, ProblemKind};
use crate::message::envelope::{encode_message, open_message, Kind};

/// Longest firmware version text, in bytes of UTF-8.
pub const MAX_FIRMWARE_LEN: usize = 32;
/// Most error counters one report may carry.
pub const MAX_ERRORS: usize = 32;
/// Most entries the body map may have, known and unknown keys together.
pub const MAX_MAP_ENTRIES: usize = 16;
/// Weakest signal strength a report may state, in dBm.
pub const MIN_SIGNAL_DBM: i16 = -150;
/// Strongest signal strength a report may state, in dBm.
pub const MAX_SIGNAL_DBM: i16 = 20;

const KEY_TIME: i64 = 0;
const KEY_BATTERY_PERCENT: i64 = 1;
const KEY_BATTERY_MV: i64 = 2;
const KEY_FIRMWARE: i64 = 3;
const KEY_ERRORS: i64 = 4;
const KEY_UPTIME: i64 = 5;
const KEY_SIGNAL: i64 = 6;

const F_BODY: &str = "diagnostics";
const F_TIME: &str = "diagnostics.time";
const F_BATTERY_PERCENT: &str = "diagnostics.battery_percent";
const F_BATTERY_MV: &str = "diagnostics.battery_mv";
const F_FIRMWARE: &str = "diagnostics.firmware";
const F_ERRORS: &str = "diagnostics.errors";
const F_ERROR_CODE: &str = "diagnostics.errors.code";
const F_ERROR_COUNT: &str = "diagnostics.errors.count";
const F_UPTIME: &str = "diagnostics.uptime";
const F_SIGNAL: &str = "diagnostics.signal";

/// How often one device error (a vendor-defined code) happened since it was last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCount {
    /// The vendor's error code.
    pub code: u32,
    /// How many times (at least 1: a counter of zero is not reported).
    pub count: u32,
}

/// A report's error counters: a slice the caller supplies for encoding, or a borrowed view of
/// the validated message bytes after decoding. Either way, [`ErrorCounts::iter`] yields the
/// counters in order and nothing is allocated.
#[derive(Clone, Copy)]
pub struct ErrorCounts<'a>(Counts<'a>);

#[derive(Clone, Copy)]
enum Counts<'a> {
    Slice(&'a [ErrorCount]),
    /// The items of the `errors` array, validated, and how many there are.
    Wire(&'a [u8], u8),
}

impl<'a> ErrorCounts<'a> {
    /// Counters to encode.
    pub const fn new(counts: &'a [ErrorCount]) -> Self {
        ErrorCounts(Counts::Slice(counts))
    }

    /// How many counters there are.
    pub fn len(&self) -> usize {
        match self.0 {
            Counts::Slice(s) => s.len(),
            Counts::Wire(_, n) => usize::from(n),
        }
    }

    /// True when there are none (an empty list is a valid, explicit "no errors").
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The counters, in order.
    pub fn iter(&self) -> ErrorCountIter<'a> {
        match self.0 {
            Counts::Slice(s) => ErrorCountIter(IterInner::Slice(s.iter())),
            Counts::Wire(bytes, n) => ErrorCountIter(IterInner::Wire(Reader::new(bytes), n)),
        }
    }
}

impl PartialEq for ErrorCounts<'_> {
    /// Equal when they hold the same counters in the same order, whichever form they are in.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for ErrorCounts<'_> {}

impl fmt::Debug for ErrorCounts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &ErrorCounts<'a> {
    type Item = ErrorCount;
    type IntoIter = ErrorCountIter<'a>;
    fn into_iter(self) -> ErrorCountIter<'a> {
        self.iter()
    }
}

/// The counters of an [`ErrorCounts`], in order.
#[derive(Clone)]
pub struct ErrorCountIter<'a>(IterInner<'a>);

#[derive(Clone)]
enum IterInner<'a> {
    Slice(core::slice::Iter<'a, ErrorCount>),
    Wire(Reader<'a>, u8),
}

impl fmt::Debug for ErrorCountIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorCountIter")
            .field("left", &self.size_hint().0)
            .finish()
    }
}

impl Iterator for ErrorCountIter<'_> {
    type Item = ErrorCount;

    fn next(&mut self) -> Option<ErrorCount> {
        match &mut self.0 {
            IterInner::Slice(it) => it.next().copied(),
            IterInner::Wire(r, left) => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                // Validated at decode time; stop rather than panic if it somehow failed.
                match read_error_count(r) {
                    Ok(c) => Some(c),
                    Err(_) => {
                        *left = 0;
                        None
                    }
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IterInner::Slice(it) => it.len(),
            IterInner::Wire(_, left) => usize::from(*left),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for ErrorCountIter<'_> {}

fn read_error_count(r: &mut Reader<'_>) -> Result<ErrorCount, Problem> {
    r.array_exact(F_ERRORS, 2)?;
    let code = r.uint_in(F_ERROR_CODE, 0, u64::from(u32::MAX))?;
    let count = r.uint_in(F_ERROR_COUNT, 1, u64::from(u32::MAX))?;
    Ok(ErrorCount {
        code: u32::try_from(code)
            .map_err(|_| Problem::new(F_ERROR_CODE, ProblemKind::OutOfRange))?,
        count: u32::try_from(count)
            .map_err(|_| Problem::new(F_ERROR_COUNT, ProblemKind::OutOfRange))?,
    })
}

/// A diagnostics report. Build one with [`DiagnosticsReport::new`] and set the fields the device
/// measures; a decoded report borrows its text and error counters from the message bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagnosticsReport<'a> {
    /// When the report was taken, in milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// Battery charge, 0..=100 %.
    pub battery_percent: Option<u8>,
    /// Battery voltage, in millivolts.
    pub battery_mv: Option<u16>,
    /// The running firmware's version, at most 32 bytes of UTF-8.
    pub firmware: Option<&'a str>,
    /// Error counters (at most 32).
    pub errors: Option<ErrorCounts<'a>>,
    /// Seconds since the device last started.
    pub uptime_s: Option<u64>,
    /// Radio signal strength, -150..=20 dBm.
    pub signal_dbm: Option<i16>,
}

impl<'a> DiagnosticsReport<'a> {
    /// A report taken at `time_ms` with no optional field set.
    pub const fn new(time_ms: u64) -> Self {
        DiagnosticsReport {
            time_ms,
            battery_percent: None,
            battery_mv: None,
            firmware: None,
            errors: None,
            uptime_s: None,
            signal_dbm: None,
        }
    }

    /// Encodes the report as a whole message (`[3, body]`) into `out` and returns its length.
    /// A field outside its bound (battery over 100 %, firmware text over 32 bytes, more than 32
    /// error counters or a zero count, signal outside -150..=20 dBm) is [`Local::Config`] and
    /// nothing is written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        let bad_percent = self.battery_percent.is_some_and(|p| p > 100);
        let bad_firmware = self.firmware.is_some_and(|s| s.len() > MAX_FIRMWARE_LEN);
        let bad_errors = self
            .errors
            .is_some_and(|e| e.len() > MAX_ERRORS || e.iter().any(|c| c.count == 0));
        let bad_signal = self
            .signal_dbm
            .is_some_and(|s| !(MIN_SIGNAL_DBM..=MAX_SIGNAL_DBM).contains(&s));
        if bad_percent || bad_firmware || bad_errors || bad_signal {
            return Err(Local::Config.into());
        }
        let entries = 1
            + u64::from(self.battery_percent.is_some())
            + u64::from(self.battery_mv.is_some())
            + u64::from(self.firmware.is_some())
            + u64::from(self.errors.is_some())
            + u64::from(self.uptime_s.is_some())
            + u64::from(self.signal_dbm.is_some());
        encode_message(Kind::Diagnostics, out, |e| {
            e.map(entries)?;
            e.i64(KEY_TIME)?.u64(self.time_ms)?;
            if let Some(p) = self.battery_percent {
                e.i64(KEY_BATTERY_PERCENT)?.u8(p)?;
            }
            if let Some(mv) = self.battery_mv {
                e.i64(KEY_BATTERY_MV)?.u16(mv)?;
            }
            if let Some(s) = self.firmware {
                e.i64(KEY_FIRMWARE)?.str(s)?;
            }
            if let Some(errors) = &self.errors {
                e.i64(KEY_ERRORS)?.array(errors.len() as u64)?;
                for c in errors {
                    e.array(2)?.u32(c.code)?.u32(c.count)?;
                }
            }
            if let Some(u) = self.uptime_s {
                e.i64(KEY_UPTIME)?.u64(u)?;
            }
            if let Some(s) = self.signal_dbm {
                e.i64(KEY_SIGNAL)?.i16(s)?;
            }
            Ok(())
        })
    }

    /// Decodes a whole diagnostics message strictly (spec/MESSAGES.md section 4).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut r = open_message(bytes, Kind::Diagnostics)?;
        let mut m = r.map(F_BODY, MAX_MAP_ENTRIES)?;
        m.require(&mut r, KEY_TIME, F_TIME)?;
        let mut report = DiagnosticsReport::new(r.uint(F_TIME)?);
        if m.key(&mut r, KEY_BATTERY_PERCENT)? {
            let p = r.uint_in(F_BATTERY_PERCENT, 0, 100)?;
            report.battery_percent = Some(
                u8::try_from(p)
                    .map_err(|_| Problem::new(F_BATTERY_PERCENT, ProblemKind::OutOfRange))?,
            );
        }
        if m.key(&mut r, KEY_BATTERY_MV)? {
            let mv = r.uint_in(F_BATTERY_MV, 0, u64::from(u16::MAX))?;
            report.battery_mv = Some(
                u16::try_from(mv)
                    .map_err(|_| Problem::new(F_BATTERY_MV, ProblemKind::OutOfRange))?,
            );
        }
        if m.key(&mut r, KEY_FIRMWARE)? {
            report.firmware = Some(r.text(F_FIRMWARE, MAX_FIRMWARE_LEN)?);
        }
        if m.key(&mut r, KEY_ERRORS)? {
            let n = r.array_len(F_ERRORS, MAX_ERRORS)?;
            let start = r.position();
            for _ in 0..n {
                read_error_count(&mut r)?;
            }
            let n = u8::try_from(n).map_err(|_| Problem::new(F_ERRORS, ProblemKind::TooMany))?;
            report.errors = Some(ErrorCounts(Counts::Wire(r.since(start), n)));
        }
        if m.key(&mut r, KEY_UPTIME)? {
            report.uptime_s = Some(r.uint(F_UPTIME)?);
        }
        if m.key(&mut r, KEY_SIGNAL)? {
            let s = r.int_in(
                F_SIGNAL,
                i64::from(MIN_SIGNAL_DBM),
                i64::from(MAX_SIGNAL_DBM),
            )?;
            report.signal_dbm = Some(
                i16::try_from(s).map_err(|_| Problem::new(F_SIGNAL, ProblemKind::OutOfRange))?,
            );
        }
        m.finish(&mut r)?;
        r.finish("message")?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::{Enc, EncResult};
    use crate::message::decimal::test_support::{build, problem, strip_unknown_keys};
    use proptest::prelude::*;
    use std::string::String;
    use std::vec::Vec;

    const T0: u64 = 1_700_000_000_000;

    fn enc(r: &DiagnosticsReport<'_>) -> Vec<u8> {
        let mut buf = std::vec![0u8; 2048];
        let n = r.encode(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    fn err(bytes: &[u8]) -> Problem {
        problem(DiagnosticsReport::decode(bytes).unwrap_err())
    }

    /// `[3, {0: 0, <key>: <value>}]`.
    fn with<F: Fn(&mut Enc<'_>) -> EncResult>(key: i64, value: F) -> Vec<u8> {
        build(|e| {
            e.array(2)?.u8(3)?.map(2)?.u8(0)?.u8(0)?.i64(key)?;
            value(e)
        })
    }

    #[test]
    fn known_answer_full_and_minimal() {
        let counts = [
            ErrorCount { code: 17, count: 2 },
            ErrorCount {
                code: 0x0001_0000,
                count: 1,
            },
        ];
        let report = DiagnosticsReport {
            time_ms: T0,
            battery_percent: Some(87),
            battery_mv: Some(3712),
            firmware: Some("2.4.1"),
            errors: Some(ErrorCounts::new(&counts)),
            uptime_s: Some(86_400),
            signal_dbm: Some(-67),
        };
        let b = enc(&report);
        let expected = [
            0x82, 0x03, 0xa7, // [3, {7 entries
            0x00, 0x1b, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // 0: time
            0x01, 0x18, 0x57, // 1: 87
            0x02, 0x19, 0x0e, 0x80, // 2: 3712
            0x03, 0x65, b'2', b'.', b'4', b'.', b'1', // 3: "2.4.1"
            0x04, 0x82, 0x82, 0x11, 0x02, 0x82, 0x1a, 0x00, 0x01, 0x00, 0x00, 0x01, // 4
            0x05, 0x1a, 0x00, 0x01, 0x51, 0x80, // 5: 86400
            0x06, 0x38, 0x42, // 6: -67
        ];
        assert_eq!(b, expected);
        let d = DiagnosticsReport::decode(&b).unwrap();
        assert_eq!(d, report);
        let errors = d.errors.unwrap();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors.iter().len(), 2);
        assert_eq!(errors.iter().collect::<Vec<_>>(), counts);

        let minimal = DiagnosticsReport::new(5);
        let b = enc(&minimal);
        assert_eq!(b, [0x82, 0x03, 0xa1, 0x00, 0x05]);
        assert_eq!(DiagnosticsReport::decode(&b), Ok(minimal));
    }

    #[test]
    fn empty_error_list_differs_from_none() {
        let mut r = DiagnosticsReport::new(1);
        r.errors = Some(ErrorCounts::new(&[]));
        let b = enc(&r);
        assert_eq!(b, [0x82, 0x03, 0xa2, 0x00, 0x01, 0x04, 0x80]);
        let d = DiagnosticsReport::decode(&b).unwrap();
        assert!(d.errors.unwrap().is_empty());
        assert_ne!(d, DiagnosticsReport::new(1));
    }

    #[test]
    fn encoder_refuses_bad_input() {
        let mut buf = [0u8; 256];
        let config = Err(Error::Local(Local::Config));
        let base = DiagnosticsReport::new(T0);
        let mut r = base;
        r.battery_percent = Some(101);
        assert_eq!(r.encode(&mut buf), config);
        let mut r = base;
        r.firmware = Some("0123456789abcdef0123456789abcdef!");
        assert_eq!(r.encode(&mut buf), config);
        let mut r = base;
        let many = [ErrorCount { code: 1, count: 1 }; 33];
        r.errors = Some(ErrorCounts::new(&many));
        assert_eq!(r.encode(&mut buf), config);
        r.errors = Some(ErrorCounts::new(&many[1..]));
        assert!(r.encode(&mut buf).is_ok());
        r.errors = Some(ErrorCounts::new(&[ErrorCount { code: 1, count: 0 }]));
        assert_eq!(r.encode(&mut buf), config);
        for s in [-151, 21] {
            let mut r = base;
            r.signal_dbm = Some(s);
            assert_eq!(r.encode(&mut buf), config);
        }
        let n = base.encode(&mut buf).unwrap();
        assert_eq!(
            base.encode(&mut buf[..n - 1]),
            Err(Error::Local(Local::BufferTooSmall { needed: n }))
        );
    }

    #[test]
    fn rejects_battery_out_of_range() {
        let b = with(1, |e| e.u8(101).map(|_| ()));
        assert_eq!(
            err(&b),
            Problem::new(F_BATTERY_PERCENT, ProblemKind::OutOfRange)
        );
        let b = with(2, |e| e.u32(65_536).map(|_| ()));
        assert_eq!(err(&b), Problem::new(F_BATTERY_MV, ProblemKind::OutOfRange));
    }

    #[test]
    fn rejects_bad_firmware_text() {
        let b = with(3, |e| {
            e.str_len(2)?;
            use minicbor::encode::Write;
            e.writer_mut()
                .write_all(&[0xc3, 0x28])
                .map_err(minicbor::encode::Error::write)
        });
        assert_eq!(err(&b), Problem::new(F_FIRMWARE, ProblemKind::Utf8));
        let b = with(3, |e| e.str(&"x".repeat(33)).map(|_| ()));
        assert_eq!(err(&b), Problem::new(F_FIRMWARE, ProblemKind::TooLong));
        let b = with(3, |e| e.str(&"x".repeat(32)).map(|_| ()));
        assert_eq!(
            DiagnosticsReport::decode(&b)
                .unwrap()
                .firmware
                .map(str::len),
            Some(32)
        );
        let b = with(3, |e| e.bytes(b"2.4").map(|_| ()));
        assert_eq!(err(&b), Problem::new(F_FIRMWARE, ProblemKind::WrongType));
    }

    #[test]
    fn rejects_bad_error_counters() {
        let b = with(4, |e| {
            e.array(1)?.array(2)?.u8(1)?.u8(0)?;
            Ok(())
        });
        assert_eq!(
            err(&b),
            Problem::new(F_ERROR_COUNT, ProblemKind::OutOfRange)
        );
        let b = with(4, |e| {
            e.array(1)?.array(2)?.u64(1 << 32)?.u8(1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_ERROR_CODE, ProblemKind::OutOfRange));
        let b = with(4, |e| {
            e.array(1)?.array(2)?.u8(1)?.u64(1 << 32)?;
            Ok(())
        });
        assert_eq!(
            err(&b),
            Problem::new(F_ERROR_COUNT, ProblemKind::OutOfRange)
        );
        let b = with(4, |e| {
            e.array(1)?.array(3)?.u8(1)?.u8(1)?.u8(1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_ERRORS, ProblemKind::WrongType));
        let b = with(4, |e| {
            e.array(33)?;
            for _ in 0..33 {
                e.array(2)?.u8(1)?.u8(1)?;
            }
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_ERRORS, ProblemKind::TooMany));
    }

    #[test]
    fn rejects_signal_out_of_range() {
        for s in [-151i64, 21] {
            let b = with(6, |e| e.i64(s).map(|_| ()));
            assert_eq!(
                err(&b),
                Problem::new(F_SIGNAL, ProblemKind::OutOfRange),
                "{s}"
            );
        }
        let b = with(6, |e| e.i64(-150).map(|_| ()));
        assert_eq!(
            DiagnosticsReport::decode(&b).unwrap().signal_dbm,
            Some(-150)
        );
    }

    #[test]
    fn rejects_negative_uptime_and_time() {
        let b = with(5, |e| e.i8(-1).map(|_| ()));
        assert_eq!(err(&b), Problem::new(F_UPTIME, ProblemKind::WrongType));
        let b = build(|e| {
            e.array(2)?.u8(3)?.map(1)?.u8(0)?.i8(-1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_TIME, ProblemKind::WrongType));
    }

    #[test]
    fn map_rules() {
        // Time is required.
        let b = build(|e| {
            e.array(2)?.u8(3)?.map(1)?.u8(1)?.u8(50)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_TIME, ProblemKind::Missing));
        // Unknown optional keys are skipped, critical ones refused.
        let b = with(7, |e| e.str("later").map(|_| ()));
        assert_eq!(DiagnosticsReport::decode(&b), Ok(DiagnosticsReport::new(0)));
        let b = with(-1, |e| e.u8(0).map(|_| ()));
        assert_eq!(err(&b), Problem::new(F_BODY, ProblemKind::UnknownCritical));
        // Order: 5 before 1.
        let b = build(|e| {
            e.array(2)?
                .u8(3)?
                .map(3)?
                .u8(0)?
                .u8(0)?
                .u8(5)?
                .u8(1)?
                .u8(1)?
                .u8(1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_BODY, ProblemKind::Order));
        // Repeated optional key.
        let b = build(|e| {
            e.array(2)?
                .u8(3)?
                .map(3)?
                .u8(0)?
                .u8(0)?
                .u8(1)?
                .u8(1)?
                .u8(1)?
                .u8(1)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_BODY, ProblemKind::Order));
        // Trailing bytes; non-canonical integer.
        let mut b = enc(&DiagnosticsReport::new(0));
        b.push(0);
        assert_eq!(err(&b), Problem::new("message", ProblemKind::TrailingBytes));
        let b = [0x82, 0x03, 0xa1, 0x00, 0x19, 0x00, 0x05];
        assert_eq!(err(&b), Problem::new(F_TIME, ProblemKind::NotCanonical));
    }

    prop_compose! {
        fn any_report()(
            time_ms in any::<u64>(),
            battery_percent in proptest::option::of(0u8..=100),
            battery_mv in proptest::option::of(any::<u16>()),
            firmware in proptest::option::of("[ -~é€]{0,8}"),
            errors in proptest::option::of(proptest::collection::vec(
                (any::<u32>(), 1u32..=u32::MAX).prop_map(|(code, count)| ErrorCount { code, count }),
                0..=MAX_ERRORS,
            )),
            uptime_s in proptest::option::of(any::<u64>()),
            signal_dbm in proptest::option::of(MIN_SIGNAL_DBM..=MAX_SIGNAL_DBM),
        ) -> (u64, Option<u8>, Option<u16>, Option<String>, Option<Vec<ErrorCount>>, Option<u64>, Option<i16>) {
            (time_ms, battery_percent, battery_mv, firmware, errors, uptime_s, signal_dbm)
        }
    }

    type Parts = (
        u64,
        Option<u8>,
        Option<u16>,
        Option<String>,
        Option<Vec<ErrorCount>>,
        Option<u64>,
        Option<i16>,
    );

    fn report(p: &Parts) -> DiagnosticsReport<'_> {
        DiagnosticsReport {
            time_ms: p.0,
            battery_percent: p.1,
            battery_mv: p.2,
            firmware: p.3.as_deref(),
            errors: p.4.as_deref().map(ErrorCounts::new),
            uptime_s: p.5,
            signal_dbm: p.6,
        }
    }

    proptest! {
        #[test]
        fn round_trip(p in any_report()) {
            let r = report(&p);
            let b = enc(&r);
            prop_assert_eq!(DiagnosticsReport::decode(&b), Ok(r));
        }

        #[test]
        fn single_byte_changes_never_fix_silently(
            p in any_report(),
            pos in any::<usize>(),
            byte in any::<u8>(),
        ) {
            let mut b = enc(&report(&p));
            let i = pos % b.len();
            b[i] = byte;
            if let Ok(d) = DiagnosticsReport::decode(&b) {
                let stripped = strip_unknown_keys(&b, &[0, 1, 2, 3, 4, 5, 6]).unwrap();
                prop_assert_eq!(enc(&d), stripped);
            }
        }

        #[test]
        fn every_truncation_fails(p in any_report()) {
            let b = enc(&report(&p));
            for n in 0..b.len() {
                prop_assert!(DiagnosticsReport::decode(&b[..n]).is_err());
            }
        }
    }
}
