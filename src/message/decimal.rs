//! Measured values that keep the device's precision (spec/MESSAGES.md section 4, "Values").
//!
//! A sensor that reports 37.20 °C has said something different from one that reports 37.2 °C:
//! the number of digits is the resolution of the measurement. So a value here is a decimal
//! fraction, `mantissa × 10^exponent`, that is never normalised (`2` and `2.00` are different
//! values), plus the four special values of ISO/IEEE 11073-20601 (not a number, not at this
//! resolution, ±infinity). Devices read sensors in 11073's SFLOAT and FLOAT formats, so both
//! convert to and from [`Value`] exactly.
//!
//! On the wire a value is relative to a *default exponent* `d` (a vitals channel's, or 0 for a
//! standalone value): a number with exponent `d` is a plain CBOR integer (the common case, one to
//! three bytes), any other exponent is a decimal fraction (tag 4, RFC 8949 3.4.4), and the special
//! values are fixed one- or three-byte items. Each value has exactly one encoding.

use core::fmt;

use minicbor::data::Tag;
use minicbor::encode::Write;

use crate::cbor::{encode_into, major, Enc, EncResult, Reader};
use crate::error::{Error, Local, Problem, ProblemKind};

/// A decimal fraction `mantissa × 10^exponent`, kept exactly as the device measured it.
///
/// Not normalised: precision is information, so `Decimal::new(2, 0)` and `Decimal::new(200, -2)`
/// compare unequal and encode differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    /// The digits, with their sign.
    pub mantissa: i64,
    /// The power of ten the digits are scaled by (negative: digits after the decimal point).
    pub exponent: i8,
}

impl Decimal {
    /// `mantissa × 10^exponent`, exactly (no normalisation).
    pub const fn new(mantissa: i64, exponent: i8) -> Self {
        Decimal { mantissa, exponent }
    }
}

impl fmt::Display for Decimal {
    /// Writes the exact decimal with as many fraction digits as the exponent says (`37.20`,
    /// `-0.05`, `120`), or `<mantissa>e<exponent>` for a positive exponent (`5e2`), so the
    /// precision survives the trip to text. The output is also a valid JSON number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.exponent > 0 {
            return write!(f, "{}e{}", self.mantissa, self.exponent);
        }
        if self.mantissa < 0 {
            f.write_str("-")?;
        }
        // Digits of |mantissa|, most significant first (at most 20).
        let mut digits = [0u8; 20];
        let mut n = self.mantissa.unsigned_abs();
        let mut len = 0usize;
        loop {
            if let Some(slot) = digits.get_mut(len) {
                *slot = b'0' + (n % 10) as u8;
            }
            len += 1;
            n /= 10;
            if n == 0 || len >= digits.len() {
                break;
            }
        }
        let frac = usize::from(self.exponent.unsigned_abs());
        let write_digit = |f: &mut fmt::Formatter<'_>, i: usize| -> fmt::Result {
            let d = digits.get(i).copied().unwrap_or(b'0');
            fmt::Write::write_char(f, char::from(d))
        };
        if frac >= len {
            f.write_str("0")?;
            if frac > 0 {
                f.write_str(".")?;
            }
            for _ in len..frac {
                f.write_str("0")?;
            }
            for i in (0..len).rev() {
                write_digit(f, i)?;
            }
        } else {
            for i in (0..len).rev() {
                if i + 1 == frac {
                    f.write_str(".")?;
                }
                write_digit(f, i)?;
            }
        }
        Ok(())
    }
}

/// A measured value: a number, or one of ISO/IEEE 11073-20601's special values.
///
/// The special values say why there is no number (a sensor fault, a value outside what the
/// resolution can show, an overflow), which a monitoring service must not confuse with a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Value {
    /// A measured number.
    Number(Decimal),
    /// Not a number: the measurement is invalid (11073 NaN).
    NaN,
    /// Not at this resolution: a value exists but cannot be shown with the channel's precision
    /// (11073 NRes).
    NRes,
    /// Positive infinity: above the sensor's range.
    PosInf,
    /// Negative infinity: below the sensor's range.
    NegInf,
}

/// 11073 SFLOAT special values (the whole 16-bit pattern, exponent 0).
mod sfloat {
    pub const NAN: u16 = 0x07FF;
    pub const NRES: u16 = 0x0800;
    pub const POS_INF: u16 = 0x07FE;
    pub const NEG_INF: u16 = 0x0802;
    pub const RESERVED: u16 = 0x0801;
}

/// 11073 FLOAT special values (the whole 32-bit pattern, exponent 0).
mod float {
    pub const NAN: u32 = 0x007F_FFFF;
    pub const NRES: u32 = 0x0080_0000;
    pub const POS_INF: u32 = 0x007F_FFFE;
    pub const NEG_INF: u32 = 0x0080_0002;
    pub const RESERVED: u32 = 0x0080_0001;
}

impl Value {
    /// A number `mantissa × 10^exponent`.
    pub const fn number(mantissa: i64, exponent: i8) -> Self {
        Value::Number(Decimal::new(mantissa, exponent))
    }

    /// Converts an ISO/IEEE 11073-20601 SFLOAT (4-bit signed exponent, 12-bit signed mantissa),
    /// the format most personal-health sensors report in. The reserved pattern 0x0801 is
    /// [`ProblemKind::OutOfRange`] at field `"sfloat"`.
    pub fn from_sfloat(raw: u16) -> Result<Value, Error> {
        match raw {
            sfloat::NAN => Ok(Value::NaN),
            sfloat::NRES => Ok(Value::NRes),
            sfloat::POS_INF => Ok(Value::PosInf),
            sfloat::NEG_INF => Ok(Value::NegInf),
            sfloat::RESERVED => Err(Problem::new("sfloat", ProblemKind::OutOfRange).into()),
            _ => {
                // Sign-extend the two fields by shifting them to the top and back.
                let exponent = ((raw >> 12) as i8) << 4 >> 4;
                let mantissa = ((raw << 4) as i16) >> 4;
                Ok(Value::number(i64::from(mantissa), exponent))
            }
        }
    }

    /// Converts to an 11073 SFLOAT, for a device that forwards values in that format. Fails with
    /// [`Local::Config`] when the value does not fit exactly (mantissa outside -2048..=2047,
    /// exponent outside -8..=7, or a number whose bits would read as a special value); the value
    /// is never rounded, since that would change its precision.
    pub fn to_sfloat(&self) -> Result<u16, Error> {
        match *self {
            Value::NaN => Ok(sfloat::NAN),
            Value::NRes => Ok(sfloat::NRES),
            Value::PosInf => Ok(sfloat::POS_INF),
            Value::NegInf => Ok(sfloat::NEG_INF),
            Value::Number(d) => {
                if !(-8..=7).contains(&d.exponent) || !(-2048..=2047).contains(&d.mantissa) {
                    return Err(Local::Config.into());
                }
                let raw = ((d.exponent as u16 & 0xF) << 12) | (d.mantissa as u16 & 0x0FFF);
                if matches!(
                    raw,
                    sfloat::NAN
                        | sfloat::NRES
                        | sfloat::POS_INF
                        | sfloat::NEG_INF
                        | sfloat::RESERVED
                ) {
                    return Err(Local::Config.into());
                }
                Ok(raw)
            }
        }
    }

    /// Converts an ISO/IEEE 11073-20601 FLOAT (8-bit signed exponent, 24-bit signed mantissa).
    /// The reserved pattern 0x00800001 is [`ProblemKind::OutOfRange`] at field `"float"`.
    pub fn from_float(raw: u32) -> Result<Value, Error> {
        match raw {
            float::NAN => Ok(Value::NaN),
            float::NRES => Ok(Value::NRes),
            float::POS_INF => Ok(Value::PosInf),
            float::NEG_INF => Ok(Value::NegInf),
            float::RESERVED => Err(Problem::new("float", ProblemKind::OutOfRange).into()),
            _ => {
                let exponent = (raw >> 24) as u8 as i8;
                let mantissa = ((raw << 8) as i32) >> 8;
                Ok(Value::number(i64::from(mantissa), exponent))
            }
        }
    }

    /// Converts to an 11073 FLOAT. Fails with [`Local::Config`] when the mantissa is outside
    /// -2^23..=2^23-1 or the number's bits would read as a special value (never rounds).
    pub fn to_float(&self) -> Result<u32, Error> {
        match *self {
            Value::NaN => Ok(float::NAN),
            Value::NRes => Ok(float::NRES),
            Value::PosInf => Ok(float::POS_INF),
            Value::NegInf => Ok(float::NEG_INF),
            Value::Number(d) => {
                if !(-(1 << 23)..(1 << 23)).contains(&d.mantissa) {
                    return Err(Local::Config.into());
                }
                let raw = (u32::from(d.exponent as u8) << 24) | (d.mantissa as u32 & 0x00FF_FFFF);
                if matches!(
                    raw,
                    float::NAN | float::NRES | float::POS_INF | float::NEG_INF | float::RESERVED
                ) {
                    return Err(Local::Config.into());
                }
                Ok(raw)
            }
        }
    }

    /// Encodes this value alone (default exponent 0, no envelope) into `out` and returns the
    /// length: the form other messages embed, and the one the Value vectors show.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        encode_into(out, |e| write_value(e, self, 0))
    }

    /// Decodes a value encoded alone (default exponent 0), strictly: trailing bytes are
    /// [`ProblemKind::TrailingBytes`].
    pub fn decode(bytes: &[u8]) -> Result<Value, Error> {
        let mut r = Reader::new(bytes);
        let v = read_value(&mut r, 0, &STANDALONE)?;
        r.finish(STANDALONE.value)?;
        Ok(v)
    }
}

impl fmt::Display for Value {
    /// The number as [`Decimal`] shows it, or `NaN`, `NRes`, `+inf`, `-inf`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(d) => d.fmt(f),
            Value::NaN => f.write_str("NaN"),
            Value::NRes => f.write_str("NRes"),
            Value::PosInf => f.write_str("+inf"),
            Value::NegInf => f.write_str("-inf"),
        }
    }
}

/// The field names a value's decoding problems are reported under (static, since [`Problem`]
/// names fields with `&'static str`).
pub(crate) struct ValueFields {
    /// The value item itself (wrong type, not canonical, ...).
    pub value: &'static str,
    /// A decimal fraction's exponent.
    pub exponent: &'static str,
    /// A decimal fraction's mantissa.
    pub mantissa: &'static str,
}

/// Field names of a standalone value.
const STANDALONE: ValueFields = ValueFields {
    value: "value",
    exponent: "value.exponent",
    mantissa: "value.mantissa",
};

/// CBOR tag 4: decimal fraction `[exponent, mantissa]` (RFC 8949 3.4.4).
const TAG_DECIMAL: u64 = 4;
/// Half-precision quiet NaN, the one NaN encoding accepted.
const HALF_NAN: u64 = 0x7e00;
/// Half-precision +infinity.
const HALF_POS_INF: u64 = 0x7c00;
/// Half-precision -infinity.
const HALF_NEG_INF: u64 = 0xfc00;
/// Additional information of a half float (major type 7).
const INFO_HALF: u8 = 25;
/// Additional information of `undefined` (major type 7).
const INFO_UNDEFINED: u8 = 23;

/// Writes `v` relative to the default exponent `d`.
pub(crate) fn write_value(e: &mut Enc<'_>, v: &Value, d: i8) -> EncResult {
    let raw: &[u8] = match v {
        Value::Number(n) if n.exponent == d => {
            e.i64(n.mantissa)?;
            return Ok(());
        }
        Value::Number(n) => {
            e.tag(Tag::new(TAG_DECIMAL))?
                .array(2)?
                .i8(n.exponent)?
                .i64(n.mantissa)?;
            return Ok(());
        }
        Value::NaN => &[0xf9, 0x7e, 0x00],
        Value::PosInf => &[0xf9, 0x7c, 0x00],
        Value::NegInf => &[0xf9, 0xfc, 0x00],
        Value::NRes => &[0xf7],
    };
    e.writer_mut()
        .write_all(raw)
        .map_err(minicbor::encode::Error::write)
}

/// Reads one value relative to the default exponent `d`, under the strict rules: a tag-4
/// fraction whose exponent is `d` is [`ProblemKind::NotCanonical`] (it has a shorter, unique
/// form); any float, simple value or tag other than the four fixed special encodings and tag 4
/// is [`ProblemKind::WrongType`].
pub(crate) fn read_value(r: &mut Reader<'_>, d: i8, f: &ValueFields) -> Result<Value, Problem> {
    match r.peek_major() {
        Some(major::UINT) | Some(major::NINT) => {
            let m = r.int(f.value)?;
            Ok(Value::number(m, d))
        }
        Some(major::TAG) => {
            if r.tag(f.value)? != TAG_DECIMAL {
                return Err(Problem::new(f.value, ProblemKind::WrongType));
            }
            r.array_exact(f.value, 2)?;
            let exponent = r.int_in(f.exponent, i64::from(i8::MIN), i64::from(i8::MAX))?;
            let exponent = i8::try_from(exponent)
                .map_err(|_| Problem::new(f.exponent, ProblemKind::OutOfRange))?;
            if exponent == d {
                return Err(Problem::new(f.exponent, ProblemKind::NotCanonical));
            }
            let mantissa = r.int(f.mantissa)?;
            Ok(Value::number(mantissa, exponent))
        }
        Some(major::SIMPLE) => {
            let h = r.head(f.value)?;
            match (h.info, h.arg) {
                (INFO_HALF, HALF_NAN) => Ok(Value::NaN),
                (INFO_HALF, HALF_POS_INF) => Ok(Value::PosInf),
                (INFO_HALF, HALF_NEG_INF) => Ok(Value::NegInf),
                (INFO_UNDEFINED, _) => Ok(Value::NRes),
                _ => Err(Problem::new(f.value, ProblemKind::WrongType)),
            }
        }
        Some(_) => {
            // Read the head so a non-canonical or reserved head reports as such.
            r.head(f.value)?;
            Err(Problem::new(f.value, ProblemKind::WrongType))
        }
        None => Err(Problem::new(f.value, ProblemKind::Truncated)),
    }
}

/// Helpers the telemetry message tests share: the strictness property needs to know which
/// top-level map entries a decoder was allowed to skip.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use std::vec::Vec;

    /// Rewrites an enveloped message `[kind, {k: v, ...}]`, dropping the body map's entries whose
    /// keys are not in `known` (the unknown non-negative keys a decoder skips). Returns `None` if
    /// the bytes are not shaped like that at all. Heads are copied byte for byte, so the result
    /// equals the input when nothing is dropped.
    pub(crate) fn strip_unknown_keys(bytes: &[u8], known: &[i64]) -> Option<Vec<u8>> {
        let mut r = Reader::new(bytes);
        r.array_exact("t", 2).ok()?;
        r.uint("t").ok()?;
        let prefix_end = r.position();
        let map_start = r.position();
        let n = r.map_len("t", usize::MAX).ok()?;
        let mut kept = Vec::new();
        let mut kept_n = 0u64;
        for _ in 0..n {
            let start = r.position();
            let k = r.int("t").ok()?;
            r.skip("t").ok()?;
            if known.contains(&k) {
                kept.extend_from_slice(r.since(start));
                kept_n += 1;
            }
        }
        let rest_start = r.position();
        let mut out = Vec::new();
        out.extend_from_slice(bytes.get(..prefix_end)?);
        if kept_n == n as u64 {
            out.extend_from_slice(bytes.get(map_start..rest_start)?);
        } else {
            let mut head = [0u8; 9];
            let len = encode_into(&mut head, |e| e.map(kept_n).map(|_| ())).ok()?;
            out.extend_from_slice(head.get(..len)?);
            out.extend_from_slice(&kept);
        }
        out.extend_from_slice(bytes.get(rest_start..)?);
        Some(out)
    }

    /// Writes CBOR by hand (for tests that need encodings the encoders refuse to produce).
    pub(crate) fn build<F>(f: F) -> Vec<u8>
    where
        F: Fn(&mut Enc<'_>) -> EncResult,
    {
        let mut buf = std::vec![0u8; 1 << 16];
        let n = encode_into(&mut buf, f).unwrap();
        buf.truncate(n);
        buf
    }

    /// The [`Problem`] inside a message decoding error (panics on any other error: tests only).
    pub(crate) fn problem(e: Error) -> Problem {
        match e {
            Error::Malformed(crate::error::Malformed::Message(p)) => p,
            other => panic!("not a message problem: {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::ToString;
    use std::vec::Vec;

    fn enc(v: &Value, d: i8) -> Vec<u8> {
        let mut buf = [0u8; 32];
        let n = encode_into(&mut buf, |e| write_value(e, v, d)).unwrap();
        buf[..n].to_vec()
    }

    fn dec(bytes: &[u8], d: i8) -> Result<Value, Problem> {
        let mut r = Reader::new(bytes);
        let v = read_value(&mut r, d, &STANDALONE)?;
        r.finish("value")?;
        Ok(v)
    }

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            4 => (any::<i64>(), any::<i8>()).prop_map(|(m, e)| Value::number(m, e)),
            1 => Just(Value::NaN),
            1 => Just(Value::NRes),
            1 => Just(Value::PosInf),
            1 => Just(Value::NegInf),
        ]
    }

    #[test]
    fn encodings_of_each_form() {
        // Default exponent: a plain integer.
        assert_eq!(enc(&Value::number(97, 0), 0), [0x18, 0x61]);
        assert_eq!(enc(&Value::number(-5, -1), -1), [0x24]);
        // Another exponent: tag 4 [exponent, mantissa]; 37.20 with d = -1.
        assert_eq!(
            enc(&Value::number(3720, -2), -1),
            [0xc4, 0x82, 0x21, 0x19, 0x0e, 0x88]
        );
        assert_eq!(enc(&Value::NaN, 0), [0xf9, 0x7e, 0x00]);
        assert_eq!(enc(&Value::PosInf, 0), [0xf9, 0x7c, 0x00]);
        assert_eq!(enc(&Value::NegInf, 0), [0xf9, 0xfc, 0x00]);
        assert_eq!(enc(&Value::NRes, 0), [0xf7]);
        // Extremes of i64.
        assert_eq!(
            dec(&enc(&Value::number(i64::MIN, 0), 0), 0),
            Ok(Value::number(i64::MIN, 0))
        );
        assert_eq!(
            dec(&enc(&Value::number(i64::MAX, 5), 0), 0),
            Ok(Value::number(i64::MAX, 5))
        );
    }

    #[test]
    fn precision_is_kept() {
        let two = Value::number(2, 0);
        let two_00 = Value::number(200, -2);
        assert_ne!(two, two_00);
        assert_ne!(enc(&two, 0), enc(&two_00, 0));
        assert_eq!(dec(&enc(&two_00, 0), 0), Ok(two_00));
    }

    #[test]
    fn rejects_tag4_with_default_exponent() {
        // 4([-1, 372]) where -1 is the default exponent: must have been the integer 372.
        let b = [0xc4, 0x82, 0x20, 0x19, 0x01, 0x74];
        assert_eq!(
            dec(&b, -1),
            Err(Problem::new("value.exponent", ProblemKind::NotCanonical))
        );
        assert_eq!(dec(&b, 0), Ok(Value::number(372, -1)));
    }

    #[test]
    fn rejects_other_floats_and_simple_values() {
        for b in [
            &[0xf9, 0x7e, 0x01][..],               // NaN with a payload
            &[0xf9, 0x3c, 0x00],                   // 1.0 as a half float
            &[0xfa, 0x7f, 0xc0, 0x00, 0x00],       // single-precision NaN
            &[0xfb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0], // double-precision NaN
            &[0xf6],                               // null
            &[0xf4],                               // false
            &[0xf0],                               // simple(16)
            &[0xf8, 0x20],                         // simple(32)
        ] {
            assert_eq!(
                dec(b, 0),
                Err(Problem::new("value", ProblemKind::WrongType)),
                "{b:02x?}"
            );
        }
        // simple(23) in the two-byte form is not the preferred encoding.
        assert_eq!(
            dec(&[0xf8, 0x17], 0),
            Err(Problem::new("value", ProblemKind::NotCanonical))
        );
    }

    #[test]
    fn rejects_other_tags_and_types() {
        // Tag 5 (bigfloat).
        assert_eq!(
            dec(&[0xc5, 0x82, 0x20, 0x01], 0),
            Err(Problem::new("value", ProblemKind::WrongType))
        );
        // A text string.
        assert_eq!(
            dec(&[0x61, 0x31], 0),
            Err(Problem::new("value", ProblemKind::WrongType))
        );
        // Tag 4 with three elements.
        assert_eq!(
            dec(&[0xc4, 0x83, 0x20, 0x01, 0x01], 0),
            Err(Problem::new("value", ProblemKind::WrongType))
        );
        // Tag 4 with a bignum mantissa.
        assert_eq!(
            dec(&[0xc4, 0x82, 0x20, 0xc2, 0x41, 0x01], 0),
            Err(Problem::new("value.mantissa", ProblemKind::WrongType))
        );
    }

    #[test]
    fn rejects_out_of_range_parts() {
        // Exponent 128 does not fit i8.
        assert_eq!(
            dec(&[0xc4, 0x82, 0x18, 0x80, 0x01], 0),
            Err(Problem::new("value.exponent", ProblemKind::OutOfRange))
        );
        // Exponent -129.
        assert_eq!(
            dec(&[0xc4, 0x82, 0x38, 0x80, 0x01], 0),
            Err(Problem::new("value.exponent", ProblemKind::OutOfRange))
        );
        // Mantissa 2^63 does not fit i64 (plain and in a fraction).
        let big = [0x1b, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            dec(&big, 0),
            Err(Problem::new("value", ProblemKind::OutOfRange))
        );
        let mut frac = std::vec![0xc4, 0x82, 0x20];
        frac.extend_from_slice(&big);
        assert_eq!(
            dec(&frac, 0),
            Err(Problem::new("value.mantissa", ProblemKind::OutOfRange))
        );
        // -2^64 likewise.
        assert_eq!(
            dec(&[0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0),
            Err(Problem::new("value", ProblemKind::OutOfRange))
        );
    }

    #[test]
    fn rejects_non_canonical_integers() {
        assert_eq!(
            dec(&[0x18, 0x05], 0),
            Err(Problem::new("value", ProblemKind::NotCanonical))
        );
        assert_eq!(
            dec(&[0xc4, 0x82, 0x38, 0x01, 0x01], 0),
            Err(Problem::new("value.exponent", ProblemKind::NotCanonical))
        );
    }

    #[test]
    fn standalone_encode_decode() {
        let mut buf = [0u8; 16];
        let n = Value::number(975, -1).encode(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[0xc4, 0x82, 0x20, 0x19, 0x03, 0xcf]);
        assert_eq!(Value::decode(&buf[..n]), Ok(Value::number(975, -1)));
        assert_eq!(
            Value::decode(&[0x01, 0x00]),
            Err(Problem::new("value", ProblemKind::TrailingBytes).into())
        );
        assert_eq!(
            Value::number(975, -1).encode(&mut buf[..3]),
            Err(Local::BufferTooSmall { needed: 6 }.into())
        );
    }

    #[test]
    fn sfloat_known_answers() {
        // 0xF2E6: exponent -1, mantissa 0x2E6 = 742 -> 74.2.
        assert_eq!(Value::from_sfloat(0xF2E6), Ok(Value::number(742, -1)));
        // 0x0062: 98.
        assert_eq!(Value::from_sfloat(0x0062), Ok(Value::number(98, 0)));
        // 0xFFFF: exponent -1, mantissa -1 -> -0.1.
        assert_eq!(Value::from_sfloat(0xFFFF), Ok(Value::number(-1, -1)));
        // 0x7800: exponent 7, mantissa -2048.
        assert_eq!(Value::from_sfloat(0x7800), Ok(Value::number(-2048, 7)));
        assert_eq!(Value::from_sfloat(0x07FF), Ok(Value::NaN));
        assert_eq!(Value::from_sfloat(0x0800), Ok(Value::NRes));
        assert_eq!(Value::from_sfloat(0x07FE), Ok(Value::PosInf));
        assert_eq!(Value::from_sfloat(0x0802), Ok(Value::NegInf));
        assert_eq!(
            Value::from_sfloat(0x0801),
            Err(Problem::new("sfloat", ProblemKind::OutOfRange).into())
        );
        assert_eq!(Value::number(742, -1).to_sfloat(), Ok(0xF2E6));
        assert_eq!(Value::NRes.to_sfloat(), Ok(0x0800));
        // Does not fit, or would collide with a special value.
        for v in [
            Value::number(2048, 0),
            Value::number(-2049, 0),
            Value::number(1, 8),
            Value::number(1, -9),
            Value::number(2047, 0),
            Value::number(-2047, 0),
        ] {
            assert_eq!(v.to_sfloat(), Err(Local::Config.into()), "{v:?}");
        }
        // The same mantissa with another exponent is an ordinary number.
        assert_eq!(Value::number(2047, 1).to_sfloat(), Ok(0x17FF));
    }

    #[test]
    fn float_known_answers() {
        // 0xFD00_0001: exponent -3, mantissa 1.
        assert_eq!(Value::from_float(0xFD00_0001), Ok(Value::number(1, -3)));
        // 0x00FF_FFFF: mantissa -1.
        assert_eq!(Value::from_float(0x00FF_FFFF), Ok(Value::number(-1, 0)));
        assert_eq!(Value::from_float(0x007F_FFFF), Ok(Value::NaN));
        assert_eq!(Value::from_float(0x0080_0000), Ok(Value::NRes));
        assert_eq!(Value::from_float(0x007F_FFFE), Ok(Value::PosInf));
        assert_eq!(Value::from_float(0x0080_0002), Ok(Value::NegInf));
        assert_eq!(
            Value::from_float(0x0080_0001),
            Err(Problem::new("float", ProblemKind::OutOfRange).into())
        );
        assert_eq!(Value::number(1, -3).to_float(), Ok(0xFD00_0001));
        assert_eq!(
            Value::number(1 << 23, 0).to_float(),
            Err(Local::Config.into())
        );
        assert_eq!(
            Value::number(-(1 << 23), 0).to_float(),
            Err(Local::Config.into())
        );
        assert_eq!(Value::number(-(1 << 23), 1).to_float(), Ok(0x0180_0000));
    }

    #[test]
    fn display_keeps_precision() {
        assert_eq!(Decimal::new(3720, -2).to_string(), "37.20");
        assert_eq!(Decimal::new(2, 0).to_string(), "2");
        assert_eq!(Decimal::new(-5, -2).to_string(), "-0.05");
        assert_eq!(Decimal::new(0, -1).to_string(), "0.0");
        assert_eq!(Decimal::new(5, 2).to_string(), "5e2");
        assert_eq!(
            Decimal::new(i64::MIN, -3).to_string(),
            "-9223372036854775.808"
        );
        assert_eq!(Value::NaN.to_string(), "NaN");
        assert_eq!(Value::NegInf.to_string(), "-inf");
    }

    proptest! {
        #[test]
        fn value_round_trips(v in any_value(), d in any::<i8>()) {
            prop_assert_eq!(dec(&enc(&v, d), d), Ok(v));
        }

        #[test]
        fn value_mutations_never_fix_silently(
            v in any_value(), d in any::<i8>(), pos in any::<usize>(), byte in any::<u8>()
        ) {
            let mut b = enc(&v, d);
            let i = pos % b.len();
            b[i] = byte;
            if let Ok(w) = dec(&b, d) {
                prop_assert_eq!(enc(&w, d), b);
            }
        }

        #[test]
        fn sfloat_round_trips(raw in any::<u16>()) {
            match Value::from_sfloat(raw) {
                Ok(v) => prop_assert_eq!(v.to_sfloat(), Ok(raw)),
                Err(_) => prop_assert_eq!(raw, 0x0801),
            }
        }

        #[test]
        fn float_round_trips(raw in any::<u32>()) {
            match Value::from_float(raw) {
                Ok(v) => prop_assert_eq!(v.to_float(), Ok(raw)),
                Err(_) => prop_assert_eq!(raw, 0x0080_0001),
            }
        }

        #[test]
        fn display_parses_back(m in any::<i64>(), e in -30i8..=0) {
            // The text is exact: digits without the point equal the mantissa, and the number of
            // fraction digits equals -exponent.
            let s = Decimal::new(m, e).to_string();
            let frac = s.split_once('.').map_or(0, |(_, f)| f.len());
            prop_assert_eq!(frac, usize::from(e.unsigned_abs()));
            let digits: std::string::String = s.chars().filter(|c| *c != '.').collect();
            prop_assert_eq!(digits.parse::<i128>().unwrap(), i128::from(m));
        }
    }
}
