//! The two framings of the same records: a length-prefixed byte stream and self-contained
//! datagrams.

/// How records (and handshake messages) travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Framing {
    /// TCP, serial lines: every unit carries a 2-byte length prefix; records arrive in order and
    /// nothing may be lost.
    Stream = 1,
    /// BLE, UDP, store-and-forward relays: every unit is self-contained; records may be lost,
    /// duplicated or reordered.
    Datagram = 2,
}

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::error::{Error, Malformed};
use crate::record::config::SessionConfig;
use crate::record::header::{overhead, LENGTH_PREFIX};

/// Largest handshake message body, framing prefix excluded. A [`StreamDecoder`] built with
/// [`StreamDecoder::for_session_config`] always accepts handshake messages this large.
pub const MAX_HANDSHAKE_UNIT: usize = 1024;

/// Splits a byte stream ([`Framing::Stream`]) into units: handshake messages and records, each
/// with its 2-byte length prefix, ready for the handshake or [`crate::Session::open`].
///
/// Feed it chunks exactly as they arrive, split anywhere. A unit that lies whole in a chunk is
/// returned borrowed from that chunk (no copy); only a unit that spans chunks is assembled in the
/// decoder's buffer, which is allocated once at construction and bounded by the largest unit it
/// accepts. A length prefix above that bound is [`Malformed::Oversized`] and a zero length is
/// [`Malformed::Truncated`]: either means the stream is broken, so drop the connection.
///
/// ```
/// use tether::{SessionConfig, StreamDecoder};
///
/// let mut dec = StreamDecoder::for_session_config(&SessionConfig::default());
/// // One chunk from the socket: a whole 3-byte unit, then the start of the next one.
/// let chunk = [0, 3, 0x10, 0xaa, 0xbb, 0, 40];
/// let mut input = &chunk[..];
/// let mut units = 0;
/// while let Some(unit) = dec.next(&mut input)? {
///     // session.open(now, unit, &mut out)?;
///     assert_eq!(unit, &chunk[..5]);
///     units += 1;
/// }
/// assert_eq!((units, dec.buffered()), (1, 2));
/// # Ok::<(), tether::Error>(())
/// ```
pub struct StreamDecoder {
    /// Holds the prefix and body of a unit that spans chunks; `2 + max_body` bytes.
    buf: Vec<u8>,
    /// Bytes of `buf` that hold the incomplete unit.
    filled: usize,
    /// Largest accepted body (after the prefix).
    max_body: usize,
}

impl fmt::Debug for StreamDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamDecoder")
            .field("max_unit_body", &self.max_body)
            .field("buffered", &self.filled)
            .finish()
    }
}

impl StreamDecoder {
    /// A decoder that accepts unit bodies (after the 2-byte prefix) up to `max_unit_body` bytes,
    /// capped at 65535, what a prefix can express. Allocates `2 + max_unit_body` bytes once.
    pub fn new(max_unit_body: usize) -> Self {
        let max_body = max_unit_body.min(usize::from(u16::MAX));
        Self {
            buf: vec![0; LENGTH_PREFIX + max_body],
            filled: 0,
            max_body,
        }
    }

    /// A decoder sized for the records of a session with `cfg` and for every handshake message.
    pub fn for_session_config(cfg: &SessionConfig) -> Self {
        let record = overhead(Framing::Stream) - LENGTH_PREFIX;
        Self::new(
            cfg.max_plaintext
                .saturating_add(record)
                .max(MAX_HANDSHAKE_UNIT),
        )
    }

    /// Bytes of an incomplete unit held from earlier chunks.
    pub fn buffered(&self) -> usize {
        self.filled
    }

    /// The largest unit body this decoder accepts.
    pub fn max_unit_body(&self) -> usize {
        self.max_body
    }

    fn check_len(&self, prefix: [u8; 2]) -> Result<usize, Error> {
        let len = usize::from(u16::from_be_bytes(prefix));
        if len > self.max_body {
            return Err(Malformed::Oversized.into());
        }
        if len == 0 {
            return Err(Malformed::Truncated.into());
        }
        Ok(len)
    }

    /// Returns the next complete unit (length prefix included) and advances `input` past the
    /// bytes it consumed; `Ok(None)` once `input` is exhausted without completing a unit (its
    /// bytes are kept for the next call). On an error `input` is not advanced and the decoder
    /// stays as it was, so the same error repeats: the stream cannot be resynchronised.
    ///
    /// The two lifetimes let a caller loop: the unit borrows the decoder only until the next
    /// call, and the rest of the chunk stays usable.
    pub fn next<'s, 'i: 's>(&'s mut self, input: &mut &'i [u8]) -> Result<Option<&'s [u8]>, Error> {
        let chunk: &'i [u8] = input;
        if self.filled == 0 {
            // Zero copy when the whole unit is in the input.
            if let Some((prefix, _)) = chunk.split_first_chunk::<LENGTH_PREFIX>() {
                let total = LENGTH_PREFIX + self.check_len(*prefix)?;
                if let Some((unit, rest)) = chunk.split_at_checked(total) {
                    *input = rest;
                    return Ok(Some(unit));
                }
            }
        }
        // Complete the prefix, checking it before consuming any byte that finishes it.
        if self.filled < LENGTH_PREFIX {
            let need = LENGTH_PREFIX - self.filled;
            if input.len() < need {
                self.take(input, input.len());
                return Ok(None);
            }
            let mut prefix = [0u8; LENGTH_PREFIX];
            let held = self.buf.get(..self.filled).unwrap_or_default();
            let more = input.get(..need).unwrap_or_default();
            for (dst, src) in prefix.iter_mut().zip(held.iter().chain(more)) {
                *dst = *src;
            }
            self.check_len(prefix)?;
            self.take(input, need);
        }
        let prefix = self
            .buf
            .first_chunk::<LENGTH_PREFIX>()
            .copied()
            .unwrap_or_default();
        let total = LENGTH_PREFIX + self.check_len(prefix)?;
        let n = (total - self.filled).min(input.len());
        self.take(input, n);
        if self.filled < total {
            return Ok(None);
        }
        self.filled = 0;
        Ok(self.buf.get(..total))
    }

    /// Where the decoder's reassembly buffer lives, as a range of addresses. For bindings that
    /// take input through raw pointers (the C ABI), to refuse input that points into the buffer a
    /// unit was returned from: safe Rust cannot express that mistake.
    #[doc(hidden)]
    pub fn buffer_addresses(&self) -> core::ops::Range<usize> {
        let start = self.buf.as_ptr() as usize;
        start..start.saturating_add(self.buf.len())
    }

    /// Moves `n` bytes from the front of `input` into the buffer.
    fn take(&mut self, input: &mut &[u8], n: usize) {
        let chunk: &[u8] = input;
        let (head, rest) = chunk.split_at_checked(n).unwrap_or((chunk, &[]));
        if let Some(dst) = self.buf.get_mut(self.filled..self.filled + head.len()) {
            dst.copy_from_slice(head);
            self.filled += head.len();
        }
        *input = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn unit(len: usize, fill: u8) -> Vec<u8> {
        let mut u = (len as u16).to_be_bytes().to_vec();
        u.extend(core::iter::repeat_n(fill, len));
        u
    }

    fn decode_all(dec: &mut StreamDecoder, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        for chunk in chunks {
            let mut input = *chunk;
            while let Some(u) = dec.next(&mut input).unwrap() {
                got.push(u.to_vec());
            }
            assert!(input.is_empty());
        }
        got
    }

    #[test]
    fn whole_units_are_borrowed() {
        let mut dec = StreamDecoder::new(100);
        let mut stream = unit(3, 1);
        stream.extend(unit(5, 2));
        let mut input = &stream[..];
        let u = dec.next(&mut input).unwrap().unwrap();
        assert_eq!(u.as_ptr(), stream.as_ptr());
        assert_eq!(u, &unit(3, 1)[..]);
        let u = dec.next(&mut input).unwrap().unwrap();
        assert_eq!(u.as_ptr(), stream[5..].as_ptr());
        assert!(dec.next(&mut input).unwrap().is_none());
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn split_units() {
        let mut dec = StreamDecoder::new(100);
        let stream = [unit(3, 1), unit(5, 2)].concat();
        for cut in 0..=stream.len() {
            let got = decode_all(&mut dec, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(got, [unit(3, 1), unit(5, 2)], "cut {cut}");
            assert_eq!(dec.buffered(), 0);
        }
        let mut input = &stream[..4];
        assert!(dec.next(&mut input).unwrap().is_none());
        assert_eq!(dec.buffered(), 4);
    }

    #[test]
    fn bounds() {
        let mut dec = StreamDecoder::new(10);
        let ok = unit(10, 0);
        assert_eq!(decode_all(&mut dec, &[&ok]), core::slice::from_ref(&ok));
        let big = unit(11, 0);
        let mut input = &big[..];
        assert_eq!(dec.next(&mut input), Err(Malformed::Oversized.into()));
        assert_eq!(input.len(), big.len(), "consumes nothing");
        // Prefix split across chunks: the second byte is not consumed either.
        let mut first = &big[..1];
        assert!(dec.next(&mut first).unwrap().is_none());
        let mut rest = &big[1..];
        assert_eq!(dec.next(&mut rest), Err(Malformed::Oversized.into()));
        assert_eq!(rest.len(), big.len() - 1);
        assert_eq!(dec.buffered(), 1);

        let mut dec = StreamDecoder::new(10);
        let mut zero: &[u8] = &[0, 0, 1];
        assert_eq!(dec.next(&mut zero), Err(Malformed::Truncated.into()));
        assert_eq!(zero.len(), 3);

        let d = StreamDecoder::for_session_config(&SessionConfig::default());
        assert_eq!(
            d.max_unit_body(),
            3 + crate::record::config::MAX_PLAINTEXT + 16
        );
        let cfg = SessionConfig {
            max_plaintext: 100,
            ..SessionConfig::default()
        };
        assert_eq!(
            StreamDecoder::for_session_config(&cfg).max_unit_body(),
            MAX_HANDSHAKE_UNIT
        );
        assert_eq!(StreamDecoder::new(1 << 20).max_unit_body(), 65535);
    }

    proptest! {
        /// Any split of a stream of units into chunks gives the same units in order.
        #[test]
        fn any_split(
            lens in proptest::collection::vec(1usize..300, 1..8),
            cuts in proptest::collection::vec(0usize..3000, 0..12),
        ) {
            let units: Vec<Vec<u8>> =
                lens.iter().enumerate().map(|(i, &l)| unit(l, i as u8)).collect();
            let stream = units.concat();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (stream.len() + 1)).collect();
            cuts.push(0);
            cuts.push(stream.len());
            cuts.sort_unstable();
            let chunks: Vec<&[u8]> = cuts.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
            let mut dec = StreamDecoder::new(300);
            prop_assert_eq!(decode_all(&mut dec, &chunks), units);
            prop_assert_eq!(dec.buffered(), 0);
        }
    }
}
