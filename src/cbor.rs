//! Strict CBOR for application messages (spec/MESSAGES.md section 2).
//!
//! A small reader of tether's own rather than a general decoder, because the rules are tether's:
//! preferred (shortest) heads only, no indefinite lengths, every length and count bounded before
//! anything is read, integer map keys in ascending encoded order, unknown negative keys rejected
//! and unknown non-negative keys skipped. Decoding borrows from the input and allocates nothing.
//! Every failure names the field it happened in ([`Problem`]).
//!
//! Writing goes through minicbor's encoder, which always produces the preferred encoding.

use minicbor::encode::write::{Cursor, EndOfSlice};
use minicbor::encode::Write;
use minicbor::Encoder;

use crate::error::{Error, Local, Problem, ProblemKind};

/// CBOR major types.
pub(crate) mod major {
    pub const UINT: u8 = 0;
    pub const NINT: u8 = 1;
    pub const BYTES: u8 = 2;
    pub const TEXT: u8 = 3;
    pub const ARRAY: u8 = 4;
    pub const MAP: u8 = 5;
    pub const TAG: u8 = 6;
    pub const SIMPLE: u8 = 7;
}

/// Deepest nesting [`Reader::skip`] follows inside an unknown optional field.
pub(crate) const MAX_SKIP_DEPTH: u8 = 8;

/// A cursor over one message's bytes that enforces the strict rules.
#[derive(Clone)]
pub(crate) struct Reader<'b> {
    input: &'b [u8],
    pos: usize,
}

/// One CBOR data item's head: major type and argument (additional information decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub major: u8,
    pub arg: u64,
    /// For major type 7: the additional-information value (20 false, 21 true, 22 null,
    /// 23 undefined, 25 half float, 26 single, 27 double).
    pub info: u8,
}

fn problem(field: &'static str, kind: ProblemKind) -> Problem {
    Problem::new(field, kind)
}

impl<'b> Reader<'b> {
    pub(crate) fn new(input: &'b [u8]) -> Self {
        Reader { input, pos: 0 }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// The input from `start` to the current position (for example a signed payload's bytes).
    pub(crate) fn since(&self, start: usize) -> &'b [u8] {
        self.input.get(start..self.pos).unwrap_or(&[])
    }

    /// True when every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Fails with [`ProblemKind::TrailingBytes`] unless every byte has been read.
    pub(crate) fn finish(&self, field: &'static str) -> Result<(), Problem> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(problem(field, ProblemKind::TrailingBytes))
        }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'b [u8], Problem> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or(problem(field, ProblemKind::Truncated))?;
        let s = self
            .input
            .get(self.pos..end)
            .ok_or(problem(field, ProblemKind::Truncated))?;
        self.pos = end;
        Ok(s)
    }

    /// The next head's major type, without consuming anything.
    pub(crate) fn peek_major(&self) -> Option<u8> {
        self.input.get(self.pos).map(|b| b >> 5)
    }

    /// Reads one head, checking that its argument uses the shortest form (RFC 8949 4.2.1) and
    /// that it is not an indefinite length or a reserved value.
    pub(crate) fn head(&mut self, field: &'static str) -> Result<Head, Problem> {
        let first = *self
            .take(1, field)?
            .first()
            .ok_or(problem(field, ProblemKind::Truncated))?;
        let major = first >> 5;
        let info = first & 0x1f;
        let arg = match info {
            0..=23 => u64::from(info),
            24 => {
                let b = self.byte(field)?;
                if major != major::SIMPLE && b < 24 {
                    return Err(problem(field, ProblemKind::NotCanonical));
                }
                if major == major::SIMPLE && b < 32 {
                    // Simple values below 32 must use the one-byte form.
                    return Err(problem(field, ProblemKind::NotCanonical));
                }
                u64::from(b)
            }
            25 => {
                let v = u64::from(u16::from_be_bytes(self.array::<2>(field)?));
                if major != major::SIMPLE && v <= 0xff {
                    return Err(problem(field, ProblemKind::NotCanonical));
                }
                v
            }
            26 => {
                let v = u64::from(u32::from_be_bytes(self.array::<4>(field)?));
                if major != major::SIMPLE && v <= 0xffff {
                    return Err(problem(field, ProblemKind::NotCanonical));
                }
                v
            }
            27 => {
                let v = u64::from_be_bytes(self.array::<8>(field)?);
                if major != major::SIMPLE && v <= 0xffff_ffff {
                    return Err(problem(field, ProblemKind::NotCanonical));
                }
                v
            }
            // 28..=30 are reserved; 31 is an indefinite length or "break".
            _ => return Err(problem(field, ProblemKind::NotCanonical)),
        };
        Ok(Head { major, arg, info })
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, Problem> {
        Ok(self.array::<1>(field)?[0])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], Problem> {
        let s = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn expect(&mut self, field: &'static str, major: u8) -> Result<u64, Problem> {
        let h = self.head(field)?;
        if h.major != major {
            return Err(problem(field, ProblemKind::WrongType));
        }
        Ok(h.arg)
    }

    /// An unsigned integer.
    pub(crate) fn uint(&mut self, field: &'static str) -> Result<u64, Problem> {
        self.expect(field, major::UINT)
    }

    /// An unsigned integer in `min..=max`.
    pub(crate) fn uint_in(
        &mut self,
        field: &'static str,
        min: u64,
        max: u64,
    ) -> Result<u64, Problem> {
        let v = self.uint(field)?;
        if v < min || v > max {
            return Err(problem(field, ProblemKind::OutOfRange));
        }
        Ok(v)
    }

    /// A signed integer (major type 0 or 1) that fits an `i64`.
    pub(crate) fn int(&mut self, field: &'static str) -> Result<i64, Problem> {
        let h = self.head(field)?;
        let v = i64::try_from(h.arg).map_err(|_| problem(field, ProblemKind::OutOfRange))?;
        match h.major {
            major::UINT => Ok(v),
            major::NINT => Ok(-1 - v),
            _ => Err(problem(field, ProblemKind::WrongType)),
        }
    }

    /// A signed integer in `min..=max`.
    pub(crate) fn int_in(
        &mut self,
        field: &'static str,
        min: i64,
        max: i64,
    ) -> Result<i64, Problem> {
        let v = self.int(field)?;
        if v < min || v > max {
            return Err(problem(field, ProblemKind::OutOfRange));
        }
        Ok(v)
    }

    /// A byte string of at most `max` bytes, borrowed from the input.
    pub(crate) fn bytes(&mut self, field: &'static str, max: usize) -> Result<&'b [u8], Problem> {
        let len = self.expect(field, major::BYTES)?;
        let len = usize::try_from(len).map_err(|_| problem(field, ProblemKind::TooLong))?;
        if len > max {
            return Err(problem(field, ProblemKind::TooLong));
        }
        self.take(len, field)
    }

    /// A byte string of exactly `N` bytes.
    pub(crate) fn bytes_exact<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], Problem> {
        let s = self.bytes(field, N)?;
        <[u8; N]>::try_from(s).map_err(|_| problem(field, ProblemKind::OutOfRange))
    }

    /// A UTF-8 text string of at most `max` bytes, borrowed from the input.
    pub(crate) fn text(&mut self, field: &'static str, max: usize) -> Result<&'b str, Problem> {
        let len = self.expect(field, major::TEXT)?;
        let len = usize::try_from(len).map_err(|_| problem(field, ProblemKind::TooLong))?;
        if len > max {
            return Err(problem(field, ProblemKind::TooLong));
        }
        let s = self.take(len, field)?;
        core::str::from_utf8(s).map_err(|_| problem(field, ProblemKind::Utf8))
    }

    /// An array head with at most `max` entries; returns the count.
    pub(crate) fn array_len(&mut self, field: &'static str, max: usize) -> Result<usize, Problem> {
        let n = self.expect(field, major::ARRAY)?;
        bounded(n, max, field)
    }

    /// An array head with exactly `n` entries.
    pub(crate) fn array_exact(&mut self, field: &'static str, n: usize) -> Result<(), Problem> {
        let got = self.expect(field, major::ARRAY)?;
        if got != n as u64 {
            return Err(problem(field, ProblemKind::WrongType));
        }
        Ok(())
    }

    /// A map head with at most `max` entries; returns the count.
    pub(crate) fn map_len(&mut self, field: &'static str, max: usize) -> Result<usize, Problem> {
        let n = self.expect(field, major::MAP)?;
        bounded(n, max, field)
    }

    /// A tag head; returns the tag number.
    pub(crate) fn tag(&mut self, field: &'static str) -> Result<u64, Problem> {
        self.expect(field, major::TAG)
    }

    /// Skips one complete data item of any type (an unknown optional field's value), following
    /// at most [`MAX_SKIP_DEPTH`] levels of nesting. The strict head rules apply inside it too.
    pub(crate) fn skip(&mut self, field: &'static str) -> Result<(), Problem> {
        self.skip_depth(field, 0)
    }

    fn skip_depth(&mut self, field: &'static str, depth: u8) -> Result<(), Problem> {
        if depth > MAX_SKIP_DEPTH {
            return Err(problem(field, ProblemKind::TooMany));
        }
        let h = self.head(field)?;
        match h.major {
            major::UINT | major::NINT | major::SIMPLE => Ok(()),
            major::BYTES | major::TEXT => {
                let len =
                    usize::try_from(h.arg).map_err(|_| problem(field, ProblemKind::TooLong))?;
                self.take(len, field).map(|_| ())
            }
            major::TAG => self.skip_depth(field, depth + 1),
            major::ARRAY | major::MAP => {
                let per = if h.major == major::MAP { 2 } else { 1 };
                // Each item takes at least one byte: a count beyond the remaining input is
                // truncated, which also bounds the loop.
                let remaining = self.input.len().saturating_sub(self.pos) as u64;
                let items = h.arg.saturating_mul(per);
                if items > remaining {
                    return Err(problem(field, ProblemKind::Truncated));
                }
                for _ in 0..items {
                    self.skip_depth(field, depth + 1)?;
                }
                Ok(())
            }
            _ => Err(problem(field, ProblemKind::WrongType)),
        }
    }

    /// Starts walking a map of integer keys (see [`MapWalk`]).
    pub(crate) fn map(&mut self, field: &'static str, max: usize) -> Result<MapWalk, Problem> {
        let entries = self.map_len(field, max)?;
        Ok(MapWalk {
            field,
            left: entries,
            last: None,
            pending: None,
        })
    }
}

fn bounded(n: u64, max: usize, field: &'static str) -> Result<usize, Problem> {
    let n = usize::try_from(n).map_err(|_| problem(field, ProblemKind::TooMany))?;
    if n > max {
        return Err(problem(field, ProblemKind::TooMany));
    }
    Ok(n)
}

/// The encoded bytes of an integer key, for comparing key order the way RFC 8949 4.2.1 sorts
/// them (bytewise on the encoding: 0..=23, 24.., then -1, -2, ...).
fn key_order(k: i64) -> (u8, u64) {
    if k >= 0 {
        (0, k as u64)
    } else {
        (1, (-1 - k) as u64)
    }
}

/// Walks a map whose keys are integers in ascending encoded order, one known key at a time.
///
/// The message decoder asks for its known keys in ascending order with [`MapWalk::key`];
/// unknown non-negative keys in between are skipped, an unknown negative key is
/// [`ProblemKind::UnknownCritical`], a repeated or out-of-order key is [`ProblemKind::Order`].
pub(crate) struct MapWalk {
    field: &'static str,
    left: usize,
    last: Option<i64>,
    /// A key read but not yet claimed (the decoder asked for a smaller one).
    pending: Option<i64>,
}

impl MapWalk {
    fn next_key(&mut self, r: &mut Reader<'_>) -> Result<Option<i64>, Problem> {
        if let Some(k) = self.pending {
            return Ok(Some(k));
        }
        if self.left == 0 {
            return Ok(None);
        }
        let k = r.int(self.field)?;
        if let Some(last) = self.last {
            if key_order(k) <= key_order(last) {
                return Err(problem(self.field, ProblemKind::Order));
            }
        }
        self.left -= 1;
        self.last = Some(k);
        self.pending = Some(k);
        Ok(Some(k))
    }

    /// Positions the reader at key `want`'s value and returns true, or returns false if the map
    /// has no such key. Keys must be asked for in ascending encoded order. Unknown keys below
    /// `want` are skipped (non-negative) or rejected (negative).
    pub(crate) fn key(&mut self, r: &mut Reader<'_>, want: i64) -> Result<bool, Problem> {
        loop {
            let Some(k) = self.next_key(r)? else {
                return Ok(false);
            };
            if k == want {
                self.pending = None;
                return Ok(true);
            }
            if key_order(k) > key_order(want) {
                return Ok(false);
            }
            self.pending = None;
            if k < 0 {
                return Err(problem(self.field, ProblemKind::UnknownCritical));
            }
            r.skip(self.field)?;
        }
    }

    /// Like [`MapWalk::key`], but a missing key is [`ProblemKind::Missing`] at `field`.
    pub(crate) fn require(
        &mut self,
        r: &mut Reader<'_>,
        want: i64,
        field: &'static str,
    ) -> Result<(), Problem> {
        if self.key(r, want)? {
            Ok(())
        } else {
            Err(problem(field, ProblemKind::Missing))
        }
    }

    /// Skips or rejects whatever keys remain after the last known one.
    pub(crate) fn finish(mut self, r: &mut Reader<'_>) -> Result<(), Problem> {
        while let Some(k) = self.next_key(r)? {
            self.pending = None;
            if k < 0 {
                return Err(problem(self.field, ProblemKind::UnknownCritical));
            }
            r.skip(self.field)?;
        }
        Ok(())
    }
}

/// Counts bytes instead of writing them, to report how large an output buffer must be.
pub(crate) struct Counter(pub usize);

impl Write for Counter {
    type Error = core::convert::Infallible;
    fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error> {
        self.0 = self.0.saturating_add(buf.len());
        Ok(())
    }
}

/// Encodes with `f` into `out` and returns the length written. If `out` is too small, nothing
/// useful is left in it and the error says how many bytes suffice (measured by encoding again
/// into a counter).
pub(crate) fn encode_into<F>(out: &mut [u8], f: F) -> Result<usize, Error>
where
    F: Fn(&mut Enc<'_>) -> EncResult,
{
    let mut cursor = SliceWriter(Cursor::new(out));
    let res = {
        let mut enc = Encoder::new(&mut cursor as &mut dyn WriteAny);
        f(&mut enc)
    };
    match res {
        Ok(()) => Ok(cursor.0.position()),
        Err(_) => {
            let mut counter = CountWriter(Counter(0));
            let mut enc = Encoder::new(&mut counter as &mut dyn WriteAny);
            f(&mut enc).map_err(|_| Local::Config)?;
            Err(Local::BufferTooSmall {
                needed: counter.0 .0,
            }
            .into())
        }
    }
}

/// The one error a [`WriteAny`] reports: the output is full.
#[derive(Debug)]
pub(crate) struct WriteFailed;

/// An object-safe byte sink, so one encoding function serves both the slice and the counter.
pub(crate) trait WriteAny {
    fn put(&mut self, buf: &[u8]) -> Result<(), WriteFailed>;
}

impl Write for &mut dyn WriteAny {
    type Error = WriteFailed;
    fn write_all(&mut self, buf: &[u8]) -> Result<(), WriteFailed> {
        self.put(buf)
    }
}

struct SliceWriter<'a>(Cursor<&'a mut [u8]>);

impl WriteAny for SliceWriter<'_> {
    fn put(&mut self, buf: &[u8]) -> Result<(), WriteFailed> {
        self.0.write_all(buf).map_err(|_: EndOfSlice| WriteFailed)
    }
}

struct CountWriter(Counter);

impl WriteAny for CountWriter {
    fn put(&mut self, buf: &[u8]) -> Result<(), WriteFailed> {
        self.0 .0 = self.0 .0.saturating_add(buf.len());
        Ok(())
    }
}

/// The encoder type every message's `encode_cbor` takes.
pub(crate) type Enc<'a> = Encoder<&'a mut dyn WriteAny>;
/// The result every message's `encode_cbor` returns.
pub(crate) type EncResult = Result<(), minicbor::encode::Error<WriteFailed>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(bytes: &[u8], wanted: &[i64]) -> Result<std::vec::Vec<u64>, Problem> {
        let mut r = Reader::new(bytes);
        let mut m = r.map("m", 16)?;
        let mut got = std::vec::Vec::new();
        for &k in wanted {
            if m.key(&mut r, k)? {
                got.push(r.uint("v")?);
            }
        }
        m.finish(&mut r)?;
        r.finish("m")?;
        Ok(got)
    }

    #[test]
    fn rejects_non_preferred_heads() {
        // 5 written in two bytes, 0x18 0x05.
        assert_eq!(
            Reader::new(&[0x18, 0x05]).uint("x"),
            Err(Problem::new("x", ProblemKind::NotCanonical))
        );
        assert_eq!(
            Reader::new(&[0x19, 0x00, 0xff]).uint("x").unwrap_err().kind,
            ProblemKind::NotCanonical
        );
        assert_eq!(Reader::new(&[0x19, 0x01, 0x00]).uint("x"), Ok(256));
        // Indefinite-length array.
        assert_eq!(
            Reader::new(&[0x9f, 0xff])
                .array_len("x", 4)
                .unwrap_err()
                .kind,
            ProblemKind::NotCanonical
        );
    }

    #[test]
    fn bounds_are_checked_before_reading() {
        // A byte string claiming 2^32 bytes in a 5-byte input.
        let r = Reader::new(&[0x5a, 0xff, 0xff, 0xff, 0xff]).bytes("b", 64);
        assert_eq!(r.unwrap_err().kind, ProblemKind::TooLong);
        assert_eq!(
            Reader::new(&[0x85]).array_len("a", 4).unwrap_err().kind,
            ProblemKind::TooMany
        );
    }

    #[test]
    fn map_keys_known_unknown_and_critical() {
        // {1: 10, 2: 20, 3: 30}: 2 is unknown and optional, so it is skipped.
        assert_eq!(
            walk(&[0xa3, 1, 10, 2, 20, 3, 23], &[1, 3]),
            Ok(std::vec![10, 23])
        );
        // {1: 10, -1: 5}: -1 is unknown and critical.
        assert_eq!(
            walk(&[0xa2, 1, 10, 0x20, 5], &[1]).unwrap_err().kind,
            ProblemKind::UnknownCritical
        );
        // A known negative key is fine.
        assert_eq!(
            walk(&[0xa2, 1, 10, 0x20, 5], &[1, -1]),
            Ok(std::vec![10, 5])
        );
        // Duplicate and descending keys.
        assert_eq!(
            walk(&[0xa2, 1, 10, 1, 10], &[1]).unwrap_err().kind,
            ProblemKind::Order
        );
        assert_eq!(
            walk(&[0xa2, 3, 10, 1, 10], &[1, 3]).unwrap_err().kind,
            ProblemKind::Order
        );
        // Missing key reported by require.
        let mut r = Reader::new(&[0xa1, 3, 1]);
        let mut m = r.map("m", 4).unwrap();
        assert_eq!(
            m.require(&mut r, 1, "m.one").unwrap_err(),
            Problem::new("m.one", ProblemKind::Missing)
        );
    }

    #[test]
    fn skip_is_bounded() {
        // 20 nested one-element arrays under an unknown key.
        let mut v = std::vec![0xa1, 0x05];
        v.extend(std::iter::repeat_n(0x81, 20));
        v.push(0x00);
        assert_eq!(walk(&v, &[]).unwrap_err().kind, ProblemKind::TooMany);
        // An array claiming more items than bytes remain.
        assert_eq!(
            walk(&[0xa1, 0x05, 0x9a, 0xff, 0xff, 0xff, 0xff], &[])
                .unwrap_err()
                .kind,
            ProblemKind::Truncated
        );
    }

    #[test]
    fn encode_into_reports_needed() {
        let mut small = [0u8; 2];
        let e = encode_into(&mut small, |e| e.bytes(&[1, 2, 3]).map(|_| ())).unwrap_err();
        assert_eq!(e, Error::Local(Local::BufferTooSmall { needed: 4 }));
        let mut big = [0u8; 8];
        assert_eq!(
            encode_into(&mut big, |e| e.bytes(&[1, 2, 3]).map(|_| ())),
            Ok(4)
        );
        assert_eq!(&big[..4], &[0x43, 1, 2, 3]);
    }
}
