//! Iterating over a batch's rows after the batch was decoded.
//!
//! Usage events and security events are both arrays of short rows whose times are deltas from
//! the previous row. Their decoders check every row once; [`Rows`] then walks the same bytes
//! again, row by row, without allocating.

use core::fmt;
use core::marker::PhantomData;

use crate::cbor::{Enc, EncResult, Reader};
use crate::error::{Error, Problem, ProblemKind};
use crate::message::envelope::{encode_message, open_message, Kind};

/// Key of a batch's base time.
const KEY_BASE: i64 = 0;
/// Key of a batch's rows.
const KEY_ROWS: i64 = 1;

/// The names a batch's decoding errors carry.
pub(crate) struct BatchFields {
    /// The body map (`usage`).
    pub body: &'static str,
    /// The base time (`usage.base`).
    pub base: &'static str,
    /// The rows array (`usage.events`).
    pub rows: &'static str,
}

/// A decoded batch of delta-timed rows (usage events, security events), borrowed from the
/// message bytes and validated once by its `decode`; its `events` walks the rows again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<'a, T> {
    base: u64,
    /// The rows array's items, already validated.
    rows: &'a [u8],
    count: u8,
    row: PhantomData<fn() -> T>,
}

impl<'a, T> Batch<'a, T> {
    /// The reference time of the first delta, in milliseconds since the Unix epoch.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// How many rows the batch holds.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Always false for a decoded batch; here because `len` is.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The rows, in order, with absolute times, read again with `read`.
    pub(crate) fn rows(&self, read: ReadRow<T>) -> Rows<'a, T> {
        Rows::new(Reader::new(self.rows), self.count, self.base, read)
    }
}

/// Decodes `[kind, {0: base, 1: [row, ...]}]` strictly: 1..=`max` rows, each checked by `read`
/// once here (so iterating later cannot fail), unknown keys by the usual rules.
pub(crate) fn decode_batch<'a, T>(
    bytes: &'a [u8],
    kind: Kind,
    names: &BatchFields,
    max: usize,
    max_entries: usize,
    read: ReadRow<T>,
) -> Result<Batch<'a, T>, Error> {
    let mut r = open_message(bytes, kind)?;
    let mut m = r.map(names.body, max_entries)?;
    m.require(&mut r, KEY_BASE, names.base)?;
    let base = r.uint(names.base)?;
    m.require(&mut r, KEY_ROWS, names.rows)?;
    let count = r.array_len(names.rows, max)?;
    if count == 0 {
        return Err(Problem::new(names.rows, ProblemKind::OutOfRange).into());
    }
    let start = r.position();
    let mut time = base;
    for _ in 0..count {
        read(&mut r, &mut time)?;
    }
    let rows = r.since(start);
    m.finish(&mut r)?;
    r.finish("message")?;
    let count = u8::try_from(count).map_err(|_| Problem::new(names.rows, ProblemKind::TooMany))?;
    Ok(Batch {
        base,
        rows,
        count,
        row: PhantomData,
    })
}

/// Writes `[kind, {0: base, 1: [row, ...]}]` with `count` rows, `write(e, i, prev)` writing row
/// `i` given the previous row's time (`base` for the first). The caller has validated the rows.
pub(crate) fn encode_batch(
    kind: Kind,
    base: u64,
    count: usize,
    out: &mut [u8],
    write: impl Fn(
        &mut Enc<'_>,
        usize,
        u64,
    ) -> Result<u64, minicbor::encode::Error<crate::cbor::WriteFailed>>,
) -> Result<usize, Error> {
    encode_message(kind, out, |e| -> EncResult {
        e.map(2)?;
        e.i64(KEY_BASE)?.u64(base)?;
        e.i64(KEY_ROWS)?.array(count as u64)?;
        let mut prev = base;
        for i in 0..count {
            prev = write(e, i, prev)?;
        }
        Ok(())
    })
}

/// Reads one row, advancing the running time.
pub(crate) type ReadRow<T> = fn(&mut Reader<'_>, &mut u64) -> Result<T, Problem>;

/// The rows of a decoded batch, in order, with absolute times.
pub struct Rows<'a, T> {
    r: Reader<'a>,
    left: u8,
    time: u64,
    read: ReadRow<T>,
}

impl<'a, T> Rows<'a, T> {
    /// `count` rows from `r`, with times relative to `base`.
    pub(crate) fn new(r: Reader<'a>, count: u8, base: u64, read: ReadRow<T>) -> Self {
        Rows {
            r,
            left: count,
            time: base,
            read,
        }
    }
}

impl<T> Clone for Rows<'_, T> {
    fn clone(&self) -> Self {
        Rows {
            r: self.r.clone(),
            left: self.left,
            time: self.time,
            read: self.read,
        }
    }
}

impl<T> fmt::Debug for Rows<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rows").field("left", &self.left).finish()
    }
}

impl<T> Iterator for Rows<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Validated at decode time; stop rather than panic if it somehow failed.
        match (self.read)(&mut self.r, &mut self.time) {
            Ok(row) => Some(row),
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl<T> ExactSizeIterator for Rows<'_, T> {}
