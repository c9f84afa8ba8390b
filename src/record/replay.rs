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

/// Which counters of the last `W` have been accepted.
///
/// The ring is indexed relative to the block of the highest accepted counter (`head`), so that
/// no record pays a division: a block `d` blocks behind the highest is `head - d` around the ring.
#[derive(Clone)]
#[cfg_attr(test, derive(PartialEq, Eq))]
pub(crate) struct ReplayWindow {
    /// Bit `c % 64` of the block for `c / 64` is set when counter `c` was accepted.
    blocks: Vec<u64>,
    /// Window size in records: a multiple of 64.
    window: u64,
    /// The highest accepted counter, `None` before the first.
    max_seen: Option<u64>,
    /// Index in `blocks` of the block holding `max_seen`.
    head: usize,
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
            head: 0,
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

    /// The ring index and bit of `counter`, which is at most `max` and within the window.
    #[inline]
    fn locate(&self, counter: u64, max: u64) -> Option<(usize, u64)> {
        let behind = usize::try_from(max / BLOCK_BITS - counter / BLOCK_BITS).ok()?;
        let n = self.blocks.len();
        if behind >= n {
            return None;
        }
        let block = if self.head >= behind {
            self.head - behind
        } else {
            self.head + n - behind
        };
        Some((block, 1u64 << (counter % BLOCK_BITS)))
    }

    /// Whether `counter` may still be accepted; changes nothing.
    #[inline]
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
        match self
            .locate(counter, max)
            .and_then(|(block, bit)| Some((self.blocks.get(block)?, bit)))
        {
            Some((b, bit)) if b & bit != 0 => Err(PeerError::Replayed),
            _ => Ok(()),
        }
    }

    /// Records `counter` as accepted. Call only after `check` passed and the record authenticated.
    #[inline]
    pub(crate) fn mark(&mut self, counter: u64) {
        let n = self.blocks.len();
        let max = match self.max_seen {
            Some(max) if counter <= max => max,
            Some(max) => {
                // Step the head to the counter's block, clearing the blocks the window slides
                // into (all of them for a large jump).
                let steps = counter / BLOCK_BITS - max / BLOCK_BITS;
                match usize::try_from(steps) {
                    Ok(steps) if steps < n => {
                        for _ in 0..steps {
                            self.head = if self.head + 1 >= n { 0 } else { self.head + 1 };
                            if let Some(b) = self.blocks.get_mut(self.head) {
                                *b = 0;
                            }
                        }
                    }
                    _ => {
                        self.blocks.fill(0);
                        self.head = 0;
                    }
                }
                self.max_seen = Some(counter);
                counter
            }
            None => {
                self.head = 0;
                self.max_seen = Some(counter);
                counter
            }
        };
        if let Some((block, bit)) = self.locate(counter, max) {
            if let Some(b) = self.blocks.get_mut(block) {
                *b |= bit;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
