//! Erasing what foreign types leave behind.
//!
//! tether's own key types zeroize themselves on drop. Two dependencies keep secrets in state they
//! never erase, and tether cannot reach inside them without `unsafe`; instead it overwrites the
//! whole value in place with one that holds no secret, just before the memory is released:
//!
//! - aes-gcm 0.10 keeps its GHASH key (`H`, derived from the AES key) in polyval 0.6, whose
//!   run-time-dispatched backend is a union of `ManuallyDrop` fields that is never dropped, so
//!   neither backend's own zeroizing runs. [`AesGcm`] replaces the cipher with one keyed by zeros.
//! - snow 0.10 keeps the chaining key, the handshake hash and the pre-shared key in its
//!   `HandshakeState` and erases none of them. [`NoiseState`] replaces the state with a blank
//!   one (hosted builds: building it costs a second state's memory for a moment, which firmware
//!   cannot spare; firmware frees through an allocator that zeroes, see spec section 7).
//!
//! An overwrite followed by a free is a dead store an optimiser may delete; passing the value
//! through [`core::hint::black_box`] afterwards keeps it. What stays behind: copies made while a
//! value was moved (Rust moves by copying bytes), and the temporaries inside the dependencies'
//! own functions, on the stack.

use alloc::boxed::Box;
use core::ops::{Deref, DerefMut};

/// AES-256-GCM whose memory holds no key material once dropped.
#[cfg(any(feature = "aes-gcm", feature = "outbox"))]
pub(crate) struct AesGcm(aes_gcm::Aes256Gcm);

#[cfg(any(feature = "aes-gcm", feature = "outbox"))]
impl AesGcm {
    pub(crate) fn new(key: &[u8; 32]) -> AesGcm {
        use aes_gcm::KeyInit;
        AesGcm(aes_gcm::Aes256Gcm::new(key.into()))
    }
}

#[cfg(any(feature = "aes-gcm", feature = "outbox"))]
impl Deref for AesGcm {
    type Target = aes_gcm::Aes256Gcm;
    fn deref(&self) -> &aes_gcm::Aes256Gcm {
        &self.0
    }
}

#[cfg(any(feature = "aes-gcm", feature = "outbox"))]
impl Drop for AesGcm {
    fn drop(&mut self) {
        use aes_gcm::KeyInit;
        // The assignment drops the old cipher in place (the aes crate zeroizes its round keys)
        // and writes the zero-keyed one over every byte, the GHASH key included.
        self.0 = aes_gcm::Aes256Gcm::new(&[0u8; 32].into());
        core::hint::black_box(&mut self.0);
    }
}

/// snow's handshake state, boxed (744 bytes on Cortex-M: callers never hold it on their stack),
/// overwritten with a blank state when dropped on hosted builds.
pub(crate) struct NoiseState(pub(crate) Box<snow::HandshakeState>);

impl Deref for NoiseState {
    type Target = snow::HandshakeState;
    fn deref(&self) -> &snow::HandshakeState {
        &self.0
    }
}

impl DerefMut for NoiseState {
    fn deref_mut(&mut self) -> &mut snow::HandshakeState {
        &mut self.0
    }
}

#[cfg(feature = "std")]
impl Drop for NoiseState {
    fn drop(&mut self) {
        // Dropping the old state in place releases what it owns (tether's key, cipher and hash
        // objects erase themselves); the blank state's bytes then cover its chaining key,
        // handshake hash and pre-shared keys. If the blank cannot be built, nothing is lost but
        // the overwrite.
        if let Some(blank) = crate::handshake::blank_noise_state() {
            *self.0 = blank;
            core::hint::black_box(&mut *self.0);
        }
    }
}
