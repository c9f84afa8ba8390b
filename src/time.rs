//! Time, passed in by the caller: tether never reads a clock.

/// A point on the caller's monotonic clock, in milliseconds from any origin. It drives time-based
/// key updates and how long an old receive key is kept. It must never go backwards within a
/// session; if it does, tether treats the elapsed time as zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    /// Milliseconds from `earlier` to `self`, zero if the clock went backwards.
    pub fn since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Wall-clock time in seconds since the Unix epoch, used only to check the validity period of a
/// manufacturer credential during the handshake. A device without a real-time clock passes the
/// build time of its firmware or the last time it learned from the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);
