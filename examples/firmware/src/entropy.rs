//! Entropy for the replay: serves the vector's ephemeral bytes, once.
//!
//! A real device wraps its hardware TRNG here (any `rand_core` 0.6 `RngCore + CryptoRng` is a
//! `tether::Entropy`). For the known-answer replay the generator hands out exactly the 32 bytes
//! the reference implementation drew for the device's ephemeral key, then fails every later
//! request: if the library ever drew more or other randomness, the handshake would fail or
//! differ from the vector instead of passing by luck.

use core::num::NonZeroU32;

use rand_core::{CryptoRng, Error, RngCore};

/// The 32 bytes, served to the first request that fits them.
pub struct VectorEntropy {
    bytes: [u8; 32],
    spent: bool,
}

/// Reported when the bytes are spent (a custom `rand_core` error code).
const SPENT: NonZeroU32 = match NonZeroU32::new(Error::CUSTOM_START) {
    Some(code) => code,
    None => panic!("CUSTOM_START is non-zero"),
};

impl VectorEntropy {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self {
            bytes,
            spent: false,
        }
    }

    /// Whether the bytes were drawn.
    pub fn is_spent(&self) -> bool {
        self.spent
    }
}

impl RngCore for VectorEntropy {
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
        if self.try_fill_bytes(dest).is_err() {
            panic!("entropy: the vector's ephemeral bytes are spent");
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), Error> {
        match self.bytes.get(..dest.len()) {
            Some(src) if !self.spent => {
                dest.copy_from_slice(src);
                self.spent = true;
                // Wipe our copy, as a TRNG wrapper would not keep what it handed out.
                for b in self.bytes.iter_mut() {
                    // SAFETY: a valid, aligned, exclusive reference.
                    unsafe { core::ptr::write_volatile(b, 0) };
                }
                Ok(())
            }
            _ => Err(Error::from(SPENT)),
        }
    }
}

impl CryptoRng for VectorEntropy {}
