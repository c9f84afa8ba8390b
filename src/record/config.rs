//! Record-layer configuration and the protocol's hard limits.

use crate::error::{Error, Local};
use crate::suite::Suite;

/// Largest plaintext one record may carry, whatever the configuration (`spec/PROTOCOL.md`,
/// "Limits"). Larger payloads (firmware images) are chunked by the layer above.
pub const MAX_PLAINTEXT: usize = 16384;

/// Smallest allowed anti-replay window, in records.
pub const MIN_REPLAY_WINDOW: u32 = 1024;
/// Largest allowed anti-replay window, in records.
pub const MAX_REPLAY_WINDOW: u32 = 65536;

/// The largest record counter a sender may use. Counters run from 0 across all epochs of one
/// direction; a sender refuses to seal past this value.
pub const MAX_COUNTER: u64 = (1 << 62) - 1;

/// The most records one key may protect before a key update is mandatory. AES-GCM: well under the
/// 2^24.5 full-size records that RFC 8446 section 5.5 allows per key. ChaCha20-Poly1305: well
/// under its 2^36 bound of RFC 9147 section 4.5.3 (kept low so that keys also rotate for forward
/// secrecy).
pub const fn max_records_per_epoch(suite: Suite) -> u64 {
    match suite {
        Suite::ChaChaPolyBlake2s => 1 << 32,
        Suite::AesGcmSha256 => 1 << 23,
    }
}

/// The most key updates one direction of a session may perform; then a new handshake is needed.
pub const MAX_EPOCH: u32 = u32::MAX;

/// When the sender updates its key. A key update happens before sealing the record that would
/// reach any of these limits; zero disables a limit, but the per-suite hard limit
/// ([`max_records_per_epoch`]) always applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUpdatePolicy {
    /// Records sealed under one key.
    pub records: u64,
    /// Plaintext bytes sealed under one key.
    pub bytes: u64,
    /// Milliseconds of the caller's clock since the key came into use.
    pub interval_ms: u64,
}

impl Default for KeyUpdatePolicy {
    /// 2^20 records, 2^30 bytes or one hour, whichever comes first.
    fn default() -> Self {
        Self {
            records: 1 << 20,
            bytes: 1 << 30,
            interval_ms: 3_600_000,
        }
    }
}

/// How a session's record layer behaves. The defaults suit servers; firmware usually lowers
/// `max_plaintext` to bound its buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Largest plaintext per record, at most [`MAX_PLAINTEXT`]. A peer's record that is larger is
    /// rejected, so both sides should agree (the layer above negotiates it).
    pub max_plaintext: usize,
    /// Anti-replay window in records (datagram framing), between [`MIN_REPLAY_WINDOW`] and
    /// [`MAX_REPLAY_WINDOW`]; rounded up to a multiple of 64.
    pub replay_window: u32,
    /// When to update the sending key.
    pub key_update: KeyUpdatePolicy,
    /// How long, in milliseconds, a receiver keeps the previous epoch's key after the peer's key
    /// update, for records reordered across it (datagram framing). The key is dropped sooner once
    /// every record it could open lies behind the replay window.
    pub previous_key_ms: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_plaintext: MAX_PLAINTEXT,
            replay_window: MIN_REPLAY_WINDOW,
            key_update: KeyUpdatePolicy::default(),
            previous_key_ms: 60_000,
        }
    }
}

impl SessionConfig {
    /// Checks every value against the protocol's limits.
    pub fn validate(&self) -> Result<(), Error> {
        let window_ok = (MIN_REPLAY_WINDOW..=MAX_REPLAY_WINDOW).contains(&self.replay_window);
        if self.max_plaintext == 0 || self.max_plaintext > MAX_PLAINTEXT || !window_ok {
            return Err(Local::Config.into());
        }
        Ok(())
    }
}
