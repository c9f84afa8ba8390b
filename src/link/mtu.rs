//! A connection's ATT_MTU and what it allows: the largest fragment and the largest unit.

use crate::error::{Error, Local};
use crate::link::{
    ATT_HEADER, HEADER_LEN, MAX_ATTRIBUTE_VALUE, MAX_FRAGMENTS, MAX_UNIT, START_HEADER_LEN,
};

/// The ATT_MTU of a BLE connection (spec/LINK.md section 2): the largest ATT PDU either side
/// sends, agreed by the ATT MTU exchange (23 until then). A fragment is one attribute value, so
/// it is at most `ATT_MTU - 3` bytes (the ATT opcode and handle take 3) and never above 512, the
/// largest attribute value.
///
/// ```
/// use tether::link::Mtu;
///
/// let ios = Mtu::new(185)?;
/// assert_eq!((ios.max_fragment(), ios.max_unit()), (182, 46078));
/// assert_eq!(ios.fragments(1063), Some(6));
/// assert_eq!(Mtu::DEFAULT.max_unit(), 4606);
/// # Ok::<(), tether::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mtu(u16);

impl Mtu {
    /// 23, the ATT_MTU of every LE connection before (or without) an MTU exchange, and the
    /// smallest there is.
    pub const DEFAULT: Mtu = Mtu(23);

    /// 517, the largest ATT_MTU common stacks negotiate. From 515 up, fragments are 512 bytes.
    pub const LARGEST: Mtu = Mtu(517);

    /// The connection's ATT_MTU; [`Local::Config`] below 23, which no LE connection has. Values
    /// above 517 are accepted and give 512-byte fragments, like 515 to 517.
    pub fn new(att_mtu: u16) -> Result<Mtu, Error> {
        if att_mtu < Mtu::DEFAULT.0 {
            return Err(Local::Config.into());
        }
        Ok(Mtu(att_mtu))
    }

    /// The ATT_MTU.
    pub const fn att_mtu(self) -> u16 {
        self.0
    }

    /// The largest fragment in bytes: `min(ATT_MTU - 3, 512)` (20 at the default ATT_MTU).
    pub const fn max_fragment(self) -> usize {
        // ATT_MTU >= 23 (checked by `new`), so the subtraction cannot wrap.
        let value = self.0 as usize - ATT_HEADER;
        if value < MAX_ATTRIBUTE_VALUE {
            value
        } else {
            MAX_ATTRIBUTE_VALUE
        }
    }

    /// The largest unit in bytes: what 256 full fragments carry, at most 65535.
    pub const fn max_unit(self) -> usize {
        let f = self.max_fragment();
        let carried = (f - START_HEADER_LEN) + (MAX_FRAGMENTS - 1) * (f - HEADER_LEN);
        if carried < MAX_UNIT {
            carried
        } else {
            MAX_UNIT
        }
    }

    /// How many fragments a sender writes for a unit of `unit_len` bytes, or `None` when this
    /// MTU cannot carry it (empty, or above [`Mtu::max_unit`]).
    pub const fn fragments(self, unit_len: usize) -> Option<usize> {
        if unit_len == 0 || unit_len > self.max_unit() {
            return None;
        }
        let first = self.max_fragment() - START_HEADER_LEN;
        if unit_len <= first {
            return Some(1);
        }
        let rest = unit_len - first;
        Some(1 + rest.div_ceil(self.max_fragment() - HEADER_LEN))
    }
}

impl Default for Mtu {
    fn default() -> Self {
        Mtu::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_sizes() {
        assert_eq!(Mtu::new(22), Err(Local::Config.into()));
        assert_eq!(Mtu::new(0), Err(Local::Config.into()));
        for (mtu, fragment) in [
            (23, 20),
            (185, 182),
            (247, 244),
            (514, 511),
            (515, 512),
            (517, 512),
            (u16::MAX, 512),
        ] {
            assert_eq!(Mtu::new(mtu).unwrap().max_fragment(), fragment, "MTU {mtu}");
        }
        assert_eq!(Mtu::default(), Mtu::DEFAULT);
        assert_eq!(Mtu::DEFAULT.att_mtu(), 23);
    }

    /// The largest unit per MTU, as spec/LINK.md section 4 states it.
    #[test]
    fn largest_units() {
        for (mtu, largest) in [
            (23, 4606),
            (185, 46078),
            (247, 61950),
            (261, 65534),
            (262, 65535),
            (517, 65535),
        ] {
            let m = Mtu::new(mtu).unwrap();
            assert_eq!(m.max_unit(), largest, "MTU {mtu}");
            assert!(m.fragments(largest).is_some_and(|n| n <= MAX_FRAGMENTS));
            assert_eq!(m.fragments(largest + 1), None);
        }
        // Below 262, the largest unit takes exactly 256 full fragments.
        assert_eq!(Mtu::DEFAULT.fragments(4606), Some(256));
        assert_eq!(Mtu::new(185).unwrap().fragments(46078), Some(256));
        // At 517 the 16-bit length is the limit: 65535 bytes take 129 fragments.
        assert_eq!(Mtu::LARGEST.fragments(65535), Some(129));
    }

    #[test]
    fn fragment_counts() {
        let m = Mtu::DEFAULT; // 16 payload bytes in the first fragment, 18 in the others
        assert_eq!(m.fragments(0), None);
        assert_eq!(m.fragments(1), Some(1));
        assert_eq!(m.fragments(16), Some(1));
        assert_eq!(m.fragments(17), Some(2));
        assert_eq!(m.fragments(34), Some(2));
        assert_eq!(m.fragments(35), Some(3));
        for mtu in [23u16, 24, 100, 185, 247, 300, 515, 517] {
            let m = Mtu::new(mtu).unwrap();
            let f = m.max_fragment();
            for len in 1..=3 * f {
                // The sender's rule of section 4: the first fragment carries f - 4 bytes,
                // every other f - 2.
                let (mut n, mut left) = (1, len.saturating_sub(f - 4));
                while left > 0 {
                    n += 1;
                    left = left.saturating_sub(f - 2);
                }
                assert_eq!(m.fragments(len), Some(n), "MTU {mtu}, {len} bytes");
            }
        }
    }
}
