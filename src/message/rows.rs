//! Iterating over a batch's rows after the batch was decoded.
//!
//! Usage events and security events are both arrays of short rows whose times are deltas from
//! the previous row. Their decoders check every row once; [`Rows`] then walks the same bytes
//! again, row by row, without allocating.

use core::fmt;

use crate::cbor::Reader;
use crate::error::Problem;

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
