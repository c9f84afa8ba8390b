//! One fragment on the air: a two-byte header (four in a unit's first fragment), then a piece of
//! the unit (spec/LINK.md section 3).
//!
//! ```text
//! byte 0:  bit 7 START (the unit's first fragment), bit 6 END (its last),
//!          bits 5..0 the unit's number modulo 64
//! byte 1:  the fragment's index in its unit, 0..=255 (0 in a START fragment)
//! START fragments only, bytes 2..4: the unit's length in bytes (u16, big-endian, 1..=65535)
//! then:    payload, the next bytes of the unit
//! ```

use crate::error::{Error, LinkError};
use crate::link::{HEADER_LEN, START_HEADER_LEN};

/// Bit 7 of byte 0: the unit's first fragment.
pub(crate) const START: u8 = 0b1000_0000;
/// Bit 6 of byte 0: the unit's last fragment.
pub(crate) const END: u8 = 0b0100_0000;
/// Bits 5..0 of byte 0: the unit's number modulo 64.
pub(crate) const NUMBER_MASK: u8 = 0b0011_1111;

/// A fragment's header read from its bytes, with its payload borrowed. Says nothing about
/// whether the fragment fits the unit in progress: that is the [`crate::link::Reassembler`]'s
/// decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    start: bool,
    end: bool,
    number: u8,
    index: u8,
    unit_len: Option<u16>,
    payload: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// Reads the header of `bytes`: [`LinkError::Truncated`] when they are shorter than it (2
    /// bytes, 4 for a START fragment), [`LinkError::StartIndex`] for a START fragment whose
    /// index is not 0. The unit length is not checked here (its bounds are the receiver's).
    pub fn parse(bytes: &'a [u8]) -> Result<Fragment<'a>, Error> {
        let (&[flags, index], rest) = bytes
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(LinkError::Truncated)?;
        let start = flags & START != 0;
        let (unit_len, payload) = if start {
            let (len, payload) = rest
                .split_first_chunk::<{ START_HEADER_LEN - HEADER_LEN }>()
                .ok_or(LinkError::Truncated)?;
            if index != 0 {
                return Err(LinkError::StartIndex.into());
            }
            (Some(u16::from_be_bytes(*len)), payload)
        } else {
            (None, rest)
        };
        Ok(Fragment {
            start,
            end: flags & END != 0,
            number: flags & NUMBER_MASK,
            index,
            unit_len,
            payload,
        })
    }

    /// The unit's first fragment (START bit).
    pub fn is_start(&self) -> bool {
        self.start
    }

    /// The unit's last fragment (END bit).
    pub fn is_end(&self) -> bool {
        self.end
    }

    /// The unit's number modulo 64.
    pub fn number(&self) -> u8 {
        self.number
    }

    /// The fragment's index in its unit.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The unit's length as its START fragment declares it; `None` in other fragments.
    pub fn unit_len(&self) -> Option<u16> {
        self.unit_len
    }

    /// The bytes of the unit this fragment carries.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// Writes a fragment header into the front of `out` and returns its length (2, or 4 with a
/// unit length). The caller has checked that `out` holds it.
pub(crate) fn write_header(
    out: &mut [u8],
    end: bool,
    number: u8,
    index: u8,
    unit_len: Option<u16>,
) -> usize {
    let end_bit = if end { END } else { 0 };
    let number = number & NUMBER_MASK;
    match unit_len {
        Some(len) => {
            if let Some(h) = out.first_chunk_mut::<START_HEADER_LEN>() {
                let [l0, l1] = len.to_be_bytes();
                *h = [START | end_bit | number, index, l0, l1];
            }
            START_HEADER_LEN
        }
        None => {
            if let Some(h) = out.first_chunk_mut::<HEADER_LEN>() {
                *h = [end_bit | number, index];
            }
            HEADER_LEN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        let start = [0b1100_0101, 0, 0x00, 0x03, 7, 8, 9];
        let f = Fragment::parse(&start).unwrap();
        assert!(f.is_start() && f.is_end());
        assert_eq!((f.number(), f.index(), f.unit_len()), (5, 0, Some(3)));
        assert_eq!(f.payload(), [7, 8, 9]);

        let middle = [0b0011_1111, 255];
        let f = Fragment::parse(&middle).unwrap();
        assert!(!f.is_start() && !f.is_end());
        assert_eq!((f.number(), f.index(), f.unit_len()), (63, 255, None));
        assert!(f.payload().is_empty());

        let last = [0b0100_0000, 2, 1];
        let f = Fragment::parse(&last).unwrap();
        assert!(!f.is_start() && f.is_end());
        assert_eq!(f.payload(), [1]);
        // The length is big-endian.
        let f = Fragment::parse(&[0x80, 0, 0x12, 0x34]).unwrap();
        assert_eq!(f.unit_len(), Some(0x1234));
    }

    #[test]
    fn short_or_bad_headers() {
        let truncated = Err(LinkError::Truncated.into());
        assert_eq!(Fragment::parse(&[]), truncated);
        assert_eq!(Fragment::parse(&[0x00]), truncated);
        assert_eq!(Fragment::parse(&[0x80, 0]), truncated);
        assert_eq!(Fragment::parse(&[0xC0, 0, 1]), truncated);
        // Truncation is found before the index is looked at.
        assert_eq!(Fragment::parse(&[0x80, 1, 0]), truncated);
        assert_eq!(
            Fragment::parse(&[0x80, 1, 0, 1, 0]),
            Err(LinkError::StartIndex.into())
        );
    }

    #[test]
    fn written_headers_parse_back() {
        let mut buf = [0u8; 4];
        for number in [0u8, 1, 63, 64, 255] {
            for end in [false, true] {
                assert_eq!(write_header(&mut buf, end, number, 0, Some(513)), 4);
                let f = Fragment::parse(&buf).unwrap();
                assert!(f.is_start());
                assert_eq!((f.is_end(), f.number()), (end, number & 63));
                assert_eq!(f.unit_len(), Some(513));
                assert_eq!(write_header(&mut buf, end, number, 9, None), 2);
                let f = Fragment::parse(&buf[..2]).unwrap();
                assert!(!f.is_start());
                assert_eq!((f.is_end(), f.number(), f.index()), (end, number & 63, 9));
            }
        }
    }
}
