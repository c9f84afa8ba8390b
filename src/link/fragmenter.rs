//! Splitting one unit into fragments, each as large as the carrier allows (spec/LINK.md
//! section 4).

use crate::error::{Error, Local};
use crate::link::fragment::write_header;
use crate::link::{Mtu, HEADER_LEN, START_HEADER_LEN};

/// Writes the fragments of one unit, one call per fragment, into the caller's buffer: nothing is
/// allocated or copied but the fragment itself. Every fragment but the last is exactly
/// [`Mtu::max_fragment`] bytes, so a unit takes as few writes or notifications as possible.
///
/// ```
/// use tether::link::{Fragmenter, Mtu};
///
/// let unit = [0xAB; 50]; // a handshake message or datagram record
/// let mut frags = Fragmenter::new(&unit, Mtu::DEFAULT, 5)?;
/// assert_eq!(frags.count(), 3); // 16 + 18 + 16 bytes of the unit
/// let mut value = [0u8; 20];
/// while let Some(n) = frags.next(&mut value)? {
///     // notify(&value[..n]) or write(&value[..n]), one ATT value per fragment
///     assert!(n <= 20);
/// }
/// # Ok::<(), tether::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Fragmenter<'u> {
    /// The bytes of the unit not yet written.
    rest: &'u [u8],
    /// The unit's length, written in the START fragment.
    unit_len: u16,
    /// The unit's number modulo 64.
    number: u8,
    /// Fragments written so far; the next one's index.
    written: usize,
    /// Fragments in all.
    count: usize,
    /// The largest fragment.
    max_fragment: usize,
}

impl<'u> Fragmenter<'u> {
    /// The fragments of `unit` at `mtu`, for the unit numbered `number` (only its 6 low bits
    /// travel, so a wrapping `u8` counter serves). The sender gives each unit the next number.
    ///
    /// Refuses a unit the link cannot carry: [`Local::Config`] for an empty one (no receiver
    /// accepts it), [`Local::PlaintextTooLarge`] above [`Mtu::max_unit`] (256 fragments, or
    /// 65535 bytes). A receiver may accept less ([`crate::link::Reassembler::max_unit`]).
    pub fn new(unit: &'u [u8], mtu: Mtu, number: u8) -> Result<Self, Error> {
        let count = mtu.fragments(unit.len()).ok_or(if unit.is_empty() {
            Local::Config
        } else {
            Local::PlaintextTooLarge
        })?;
        let unit_len = u16::try_from(unit.len()).map_err(|_| Local::PlaintextTooLarge)?;
        Ok(Fragmenter {
            rest: unit,
            unit_len,
            number,
            written: 0,
            count,
            max_fragment: mtu.max_fragment(),
        })
    }

    /// How many fragments the unit takes.
    pub fn count(&self) -> usize {
        self.count
    }

    /// How many fragments are still to be written.
    pub fn remaining(&self) -> usize {
        self.count - self.written
    }

    /// The length of the next fragment, or `None` once all are written.
    pub fn next_len(&self) -> Option<usize> {
        if self.rest.is_empty() {
            return None;
        }
        let header = self.header_len();
        Some(header + self.rest.len().min(self.max_fragment - header))
    }

    /// Writes the next fragment into the front of `out` and returns its length, or `Ok(None)`
    /// once every fragment is written. [`Local::BufferTooSmall`] (with the length needed) when
    /// `out` cannot hold it; then nothing is written and the same fragment comes next.
    pub fn next(&mut self, out: &mut [u8]) -> Result<Option<usize>, Error> {
        let Some(len) = self.next_len() else {
            return Ok(None);
        };
        let Some(dst) = out.get_mut(..len) else {
            return Err(Local::BufferTooSmall { needed: len }.into());
        };
        // At most 256 fragments (checked by `new`), so every index fits a byte, and `next_len`
        // never asks for more than the rest of the unit: neither error can happen.
        let index = u8::try_from(self.written).map_err(|_| Local::WrongState)?;
        let (piece, rest) = self
            .rest
            .split_at_checked(len - self.header_len())
            .ok_or(Local::WrongState)?;
        let end = rest.is_empty();
        let unit_len = (index == 0).then_some(self.unit_len);
        let header = write_header(dst, end, self.number, index, unit_len);
        if let Some(payload) = dst.get_mut(header..) {
            payload.copy_from_slice(piece);
        }
        self.rest = rest;
        self.written += 1;
        Ok(Some(len))
    }

    /// Passes over the next `n` fragments without writing them: for a sender that cannot keep
    /// the fragmenter (which borrows the unit) between writes, such as a C caller, and rebuilds
    /// it over the same unit to go on where it stopped. [`Local::WrongState`] beyond the last
    /// fragment, and then nothing changes.
    pub fn skip(&mut self, n: usize) -> Result<(), Error> {
        if n > self.remaining() {
            return Err(Local::WrongState.into());
        }
        for _ in 0..n {
            let len = self.next_len().ok_or(Local::WrongState)?;
            let piece = len - self.header_len();
            self.rest = self.rest.get(piece..).ok_or(Local::WrongState)?;
            self.written += 1;
        }
        Ok(())
    }

    fn header_len(&self) -> usize {
        if self.written == 0 {
            START_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn all(unit: &[u8], mtu: Mtu, number: u8) -> Vec<Vec<u8>> {
        let mut frags = Fragmenter::new(unit, mtu, number).unwrap();
        let mut buf = [0u8; 512];
        let mut out = Vec::new();
        while let Some(n) = frags.next(&mut buf).unwrap() {
            out.push(buf[..n].to_vec());
        }
        assert_eq!(frags.remaining(), 0);
        assert_eq!(frags.next_len(), None);
        out
    }

    /// Skipping `k` fragments and going on gives the same fragments as writing them all.
    #[test]
    fn skip_resumes_where_writing_would() {
        for (len, att) in [
            (40usize, 23u16),
            (1000, 23),
            (1000, 185),
            (5000, 517),
            (1, 23),
        ] {
            let unit: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mtu = Mtu::new(att).unwrap();
            let every = all(&unit, mtu, 9);
            for k in 0..=every.len() {
                let mut frags = Fragmenter::new(&unit, mtu, 9).unwrap();
                frags.skip(k).unwrap();
                assert_eq!(frags.remaining(), every.len() - k);
                let mut buf = [0u8; 512];
                let mut rest = Vec::new();
                while let Some(n) = frags.next(&mut buf).unwrap() {
                    rest.push(buf[..n].to_vec());
                }
                assert_eq!(rest, every[k..], "len {len}, ATT_MTU {att}, skip {k}");
            }
            let mut frags = Fragmenter::new(&unit, mtu, 9).unwrap();
            assert_eq!(
                frags.skip(every.len() + 1),
                Err(Local::WrongState.into()),
                "beyond the last"
            );
            assert_eq!(frags.remaining(), every.len(), "and nothing changed");
        }
    }

    /// The exact bytes of a three-fragment unit at the default MTU.
    #[test]
    fn exact_bytes() {
        let unit: Vec<u8> = (0..40).collect();
        let frags = all(&unit, Mtu::DEFAULT, 5);
        let mut first = vec![0x85, 0, 0, 40];
        first.extend(0..16);
        let mut second = vec![0x05, 1];
        second.extend(16..34);
        let mut third = vec![0x45, 2];
        third.extend(34..40);
        assert_eq!(frags, [first, second, third]);
    }

    #[test]
    fn one_fragment_units() {
        assert_eq!(all(&[0xAA], Mtu::DEFAULT, 0), [[0xC0, 0, 0, 1, 0xAA]]);
        // Only the number's 6 low bits travel.
        assert_eq!(all(&[0xAA], Mtu::DEFAULT, 64 + 63), [[0xFF, 0, 0, 1, 0xAA]]);
        let full = [7u8; 16];
        let frags = all(&full, Mtu::DEFAULT, 1);
        assert_eq!(frags.len(), 1);
        assert_eq!(frags[0].len(), 20);
        assert_eq!(frags[0][..4], [0xC1, 0, 0, 16]);
    }

    #[test]
    fn every_fragment_but_the_last_is_full() {
        for mtu in [23u16, 185, 247, 517] {
            let mtu = Mtu::new(mtu).unwrap();
            for len in [1, 100, 1063, 4606, mtu.max_unit()] {
                let unit: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let frags = all(&unit, mtu, 9);
                assert_eq!(Some(frags.len()), mtu.fragments(len));
                let (last, full) = frags.split_last().unwrap();
                assert!(full.iter().all(|f| f.len() == mtu.max_fragment()));
                assert!(!last.is_empty() && last.len() <= mtu.max_fragment());
                let payload: usize = frags.iter().map(Vec::len).sum();
                assert_eq!(payload, len + 2 + 2 * frags.len(), "link overhead");
            }
        }
    }

    #[test]
    fn refused_units() {
        assert_eq!(
            Fragmenter::new(&[], Mtu::DEFAULT, 0).map(|_| ()),
            Err(Local::Config.into())
        );
        let big = vec![0u8; 4607];
        assert_eq!(
            Fragmenter::new(&big, Mtu::DEFAULT, 0).map(|_| ()),
            Err(Local::PlaintextTooLarge.into())
        );
        assert!(Fragmenter::new(&big, Mtu::new(24).unwrap(), 0).is_ok());
        let huge = vec![0u8; 65536];
        assert_eq!(
            Fragmenter::new(&huge, Mtu::LARGEST, 0).map(|_| ()),
            Err(Local::PlaintextTooLarge.into())
        );
    }

    /// A buffer too small changes nothing: the same fragment comes next.
    #[test]
    fn small_buffer() {
        let unit = [3u8; 30];
        let mut frags = Fragmenter::new(&unit, Mtu::DEFAULT, 2).unwrap();
        assert_eq!((frags.count(), frags.next_len()), (2, Some(20)));
        let mut small = [0u8; 19];
        assert_eq!(
            frags.next(&mut small),
            Err(Local::BufferTooSmall { needed: 20 }.into())
        );
        assert_eq!(small, [0u8; 19], "nothing written");
        assert_eq!((frags.remaining(), frags.next_len()), (2, Some(20)));
        let mut buf = [0u8; 64];
        assert_eq!(frags.next(&mut buf), Ok(Some(20)));
        assert_eq!(buf[..4], [0x82, 0, 0, 30]);
        assert_eq!(frags.next(&mut buf[..16]), Ok(Some(16)));
        assert_eq!(buf[..2], [0x42, 1]);
        assert_eq!(frags.next(&mut buf), Ok(None));
    }
}
