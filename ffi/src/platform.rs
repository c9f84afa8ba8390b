//! The platform: entropy, clocks and trust decisions, supplied by the caller as function pointers
//! with a `void *user` (no globals, no thread-locals).

use core::ffi::c_void;

use rand_core::{CryptoRng, RngCore};
use tether::policy::{PeerInfo, Rejection, TrustPolicy};
use tether::{Instant, PublicKey, UnixTime};

use crate::peer::{call_with_info, tether_peer_info};
use crate::status::{status_rejection, tether_status};

/// Services the platform provides. Copied into each handshake and session at init; the
/// functions are called only during tether calls on the same handle, on the calling thread, with
/// `user` as given.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct tether_platform {
    /// Passed unchanged to every callback.
    pub user: *mut c_void,
    /// Fills `buf` with `len` bytes from a cryptographically secure generator (a hardware TRNG,
    /// `getrandom`). Returns 0 on success, anything else on failure. Required.
    pub fill_random:
        Option<unsafe extern "C" fn(user: *mut c_void, buf: *mut u8, len: usize) -> i32>,
    /// Milliseconds on a monotonic clock (any origin). Drives time-based key updates. If NULL,
    /// time stands still at 0 and only record and byte limits update keys.
    pub monotonic_ms: Option<unsafe extern "C" fn(user: *mut c_void) -> u64>,
    /// Seconds since the Unix epoch, for credential validity. If NULL, 0.
    pub unix_time: Option<unsafe extern "C" fn(user: *mut c_void) -> u64>,
    /// Decides whether an authenticated peer is accepted: return `TETHER_OK` (0) to accept, or a
    /// rejection status (`TETHER_ERR_UNKNOWN_PEER`, `TETHER_ERR_REVOKED`, ...; any other non-zero
    /// value counts as `TETHER_ERR_REJECTED`). `info` and everything it points to are valid only
    /// during the call. If NULL, a peer is accepted only when its static key equals the
    /// configured `peer_static_key` (deny by default).
    pub check_peer:
        Option<unsafe extern "C" fn(user: *mut c_void, info: *const tether_peer_info) -> i32>,
}

// SAFETY of use: the platform's contract (documented in the header) is that callbacks are safe to
// call with `user` from the thread that calls into tether.

impl tether_platform {
    pub(crate) fn now(&self) -> Instant {
        // SAFETY: the caller provided a valid function for this user pointer.
        Instant(self.monotonic_ms.map_or(0, |f| unsafe { f(self.user) }))
    }

    pub(crate) fn wall_clock(&self) -> UnixTime {
        // SAFETY: as above.
        UnixTime(self.unix_time.map_or(0, |f| unsafe { f(self.user) }))
    }

    pub(crate) fn entropy(&self) -> PlatformEntropy<'_> {
        PlatformEntropy(self)
    }
}

/// The platform's generator as a `rand_core` RNG.
pub(crate) struct PlatformEntropy<'a>(&'a tether_platform);

impl RngCore for PlatformEntropy<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // tether always calls try_fill_bytes; a failure here leaves zeros, which no tether path
        // uses.
        let _ = self.try_fill_bytes(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        let failed = || rand_core::Error::from(core::num::NonZeroU32::MIN);
        let f = self.0.fill_random.ok_or_else(failed)?;
        // SAFETY: `dest` is valid for writes of its length; the callback's contract.
        let rc = unsafe { f(self.0.user, dest.as_mut_ptr(), dest.len()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(failed())
        }
    }
}

impl CryptoRng for PlatformEntropy<'_> {}

/// The platform's trust decision, with the configured pinned key as the default.
pub(crate) struct PlatformPolicy<'a> {
    pub platform: &'a tether_platform,
    pub pinned: Option<PublicKey>,
}

impl TrustPolicy for PlatformPolicy<'_> {
    fn check(&mut self, peer: &PeerInfo<'_>) -> Result<(), Rejection> {
        match self.platform.check_peer {
            Some(f) => {
                // SAFETY: the platform's contract for its callback.
                let rc = unsafe { call_with_info(f, self.platform.user, peer) };
                if rc == tether_status::TETHER_OK as i32 {
                    Ok(())
                } else {
                    Err(status_rejection(rc))
                }
            }
            None => match self.pinned {
                Some(k) if &k == peer.static_key => Ok(()),
                Some(_) => Err(Rejection::KeyMismatch),
                None => Err(Rejection::UnknownPeer),
            },
        }
    }
}
