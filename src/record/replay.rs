//! Anti-replay window for datagram framing (RFC 6479).
//!
//! A ring of `W/64 + 1` 64-bit blocks, allocated once. The extra block lets the window slide a
//! whole block at a time: advancing only clears the blocks that the new highest counter enters,
//! never shifts bits. Checking and marking are separate so that a record is marked only after it
//! authenticates; a forged record changes nothing.

use alloc::vec;
use alloc::vec::Vec;

use crate::error::PeerError;

const BLOCK_BITS: u64 = 64;

/// `x % n` for a ring of `n` blocks (at most 1025, so below 2^11) in 32-bit arithmetic: a 64-bit
/// division would link compiler-builtins' software `u64` division (866 bytes on Cortex-M).
fn ring_index(x: u64, n: u64) -> usize {
    let n = n as u32;
    let hi = ((x >> 32) as u32) % n;
    let lo = (x as u32) % n;
    // 2^32 mod n
    let base = (u32::MAX % n + 1) % n;
    // hi * base < n^2 < 2^22 and lo < n: no overflow.
    ((hi * base + lo) % n) as usize
}

/// Which counters of the last `W` have been accepted.
#[derive(Clone)]
#[cfg_attr(test, derive(PartialEq, Eq))]
pub(crate) struct ReplayWindow {
    /// Bit `c % (64 * blocks.len())` is set when counter `c` was accepted.
    blocks: Vec<u64>,
    /// Window size in records: a multiple of 64.
    window: u64,
    /// The highest accepted counter, `None` before the first.
    max_seen: Option<u64>,
}

/// A short view: the bitmap would flood a log.
impl core::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReplayWindow")
            .field("window", &self.window)
            .field("max_seen", &self.max_seen)
            .finish_non_exhaustive()
    }
}

impl ReplayWindow {
    /// A window of at least `size` records (rounded up to a multiple of 64, and at least 64).
    pub(crate) fn new(size: u32) -> Self {
        let blocks = u64::from(size).div_ceil(BLOCK_BITS).max(1);
        let window = blocks * BLOCK_BITS;
        // At most 2^32 / 64 + 1 blocks; `SessionConfig::validate` keeps it at 1025.
        let len = usize::try_from(blocks + 1).unwrap_or(usize::MAX);
        Self {
            blocks: vec![0; len],
            window,
            max_seen: None,
        }
    }

    /// The window size `W` in records.
    pub(crate) fn window(&self) -> u64 {
        self.window
    }

    /// The highest accepted counter.
    pub(crate) fn max_seen(&self) -> Option<u64> {
        self.max_seen
    }

    fn locate(&self, counter: u64) -> (usize, u64) {
        let n = self.blocks.len() as u64;
        // The remainder is below `blocks.len()`, so it fits in usize.
        let block = ring_index(counter / BLOCK_BITS, n);
        (block, 1u64 << (counter % BLOCK_BITS))
    }

    /// Whether `counter` may still be accepted; changes nothing.
    pub(crate) fn check(&self, counter: u64) -> Result<(), PeerError> {
        let Some(max) = self.max_seen else {
            return Ok(());
        };
        if counter > max {
            return Ok(());
        }
        if max - counter >= self.window {
            return Err(PeerError::TooOld);
        }
        let (block, bit) = self.locate(counter);
        match self.blocks.get(block) {
            Some(b) if b & bit != 0 => Err(PeerError::Replayed),
            _ => Ok(()),
        }
    }

    /// Records `counter` as accepted. Call only after `check` passed and the record authenticated.
    pub(crate) fn mark(&mut self, counter: u64) {
        match self.max_seen {
            Some(max) if counter <= max => {}
            Some(max) => {
                // Clear the blocks the window slides into (all of them for a large jump).
                let n = self.blocks.len() as u64;
                let from = max / BLOCK_BITS;
                let steps = (counter / BLOCK_BITS - from).min(n);
                for i in 1..=steps {
                    let idx = ring_index(from + i, n);
                    if let Some(b) = self.blocks.get_mut(idx) {
                        *b = 0;
                    }
                }
                self.max_seen = Some(counter);
            }
            None => self.max_seen = Some(counter),
        }
        let (block, bit) = self.locate(counter);
        if let Some(b) = self.blocks.get_mut(block) {
            *b |= bit;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn ring_index_is_the_remainder(x in proptest::prelude::any::<u64>(), n in 1u64..=1025) {
            proptest::prop_assert_eq!(ring_index(x, n), (x % n) as usize);
        }
    }
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn sizes() {
        assert_eq!(ReplayWindow::new(1024).window(), 1024);
        assert_eq!(ReplayWindow::new(1000).window(), 1024);
        assert_eq!(ReplayWindow::new(1025).window(), 1088);
        assert_eq!(ReplayWindow::new(1024).blocks.len(), 17);
        assert_eq!(ReplayWindow::new(65536).blocks.len(), 1025);
        assert_eq!(ReplayWindow::new(0).window(), 64);
    }

    #[test]
    fn basic() {
        let mut w = ReplayWindow::new(1024);
        assert_eq!(w.check(0), Ok(()));
        w.mark(0);
        assert_eq!(w.check(0), Err(PeerError::Replayed));
        assert_eq!(w.check(1), Ok(()));
        w.mark(5000);
        assert_eq!(w.max_seen(), Some(5000));
        assert_eq!(w.check(5000), Err(PeerError::Replayed));
        assert_eq!(w.check(5000 - 1024), Err(PeerError::TooOld));
        assert_eq!(w.check(5000 - 1023), Ok(()));
        w.mark(5000 - 1023);
        assert_eq!(w.check(5000 - 1023), Err(PeerError::Replayed));
        // Marking a lower counter does not move the window.
        assert_eq!(w.max_seen(), Some(5000));
        // check never mutates.
        let before = w.clone();
        let _ = w.check(4999);
        let _ = w.check(9999);
        assert_eq!(before, w);
    }

    #[test]
    fn big_jump_clears_everything() {
        let mut w = ReplayWindow::new(1024);
        for c in 0..1024 {
            w.mark(c);
        }
        w.mark(1_000_000);
        for c in 1_000_000 - 1023..1_000_000 {
            assert_eq!(w.check(c), Ok(()), "{c}");
        }
    }

    proptest! {
        /// Against a model (a set of accepted counters): check agrees for every counter around
        /// the window after any sequence of marks.
        #[test]
        fn matches_model(
            size in 64u32..400,
            steps in proptest::collection::vec((0u64..3000, any::<bool>()), 1..200),
        ) {
            let mut w = ReplayWindow::new(size);
            let win = w.window();
            let mut seen = BTreeSet::new();
            for (c, do_mark) in steps {
                let max = seen.iter().next_back().copied();
                let expect = match max {
                    None => Ok(()),
                    Some(m) if c > m => Ok(()),
                    Some(m) if m - c >= win => Err(PeerError::TooOld),
                    Some(_) if seen.contains(&c) => Err(PeerError::Replayed),
                    Some(_) => Ok(()),
                };
                prop_assert_eq!(w.check(c), expect);
                if do_mark && expect.is_ok() {
                    w.mark(c);
                    seen.insert(c);
                }
            }
            let max = seen.iter().next_back().copied().unwrap_or(0);
            for c in max.saturating_sub(win + 5)..max + 5 {
                let expect = if c > max {
                    Ok(())
                } else if max - c >= win {
                    Err(PeerError::TooOld)
                } else if seen.contains(&c) {
                    Err(PeerError::Replayed)
                } else {
                    Ok(())
                };
                prop_assert_eq!(w.check(c), expect, "counter {}", c);
            }
        }
    }
}
