//! Entropy, passed in by the caller.
//!
//! Any `rand_core` 0.6 generator that is marked cryptographically secure works (the same trait
//! that x25519-dalek and ed25519-dalek use), so firmware can wrap its hardware TRNG and servers can
//! use the operating system's generator ([`OsEntropy`], with the `std` feature).

use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::error::{Error, Local};

/// A cryptographically secure random number generator supplied by the caller.
pub trait Entropy: RngCore + CryptoRng {}

impl<T: RngCore + CryptoRng + ?Sized> Entropy for T {}

/// The operating system's generator (`getrandom`), for hosted targets.
#[cfg(feature = "std")]
pub use rand_core::OsRng as OsEntropy;

/// Draws `N` bytes, reporting a failing source as [`Local::Entropy`].
pub(crate) fn draw<const N: usize>(
    rng: &mut (impl Entropy + ?Sized),
) -> Result<Zeroizing<[u8; N]>, Error> {
    let mut out = Zeroizing::new([0u8; N]);
    rng.try_fill_bytes(out.as_mut())
        .map_err(|_| Error::Local(Local::Entropy))?;
    Ok(out)
}
