//! The record AEAD, keyed once per epoch.
//!
//! Nonce = 4 zero bytes || counter (u64 big-endian), for both suites. The next epoch's key is
//! Noise's REKEY: the first 32 bytes of `Encrypt(key, nonce = 2^64 - 1, ad = "", 32 zero bytes)`.
//! Record counters stay below 2^62, so the REKEY nonce never protects a record.

use core::fmt;

#[cfg(feature = "aes-gcm")]
use aead::{generic_array::GenericArray, AeadInPlace};
use zeroize::Zeroizing;

use crate::error::{Error, Local};
use crate::record::chacha::ChaChaPoly1305;
use crate::record::header::TAG_LEN;
use crate::suite::Suite;

/// Bytes of a record key.
pub(crate) const KEY_LEN: usize = 32;

/// The nonce Noise reserves for REKEY.
const REKEY_NONCE: u64 = u64::MAX;

/// One direction's AEAD for one epoch. Nothing of its key stays in memory once it is dropped:
/// [`ChaChaPoly1305`] keeps its key in `Zeroizing`, and the AES-GCM variant is a
/// [`crate::hygiene::AesGcm`], which overwrites its round keys and GHASH key.
// The AES variant holds expanded round keys; it lives inline (not boxed) so that a key update
// allocates nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum RecordCipher {
    /// ChaCha20-Poly1305 (RFC 8439).
    ChaCha(ChaChaPoly1305),
    /// AES-256-GCM.
    #[cfg(feature = "aes-gcm")]
    Aes(crate::hygiene::AesGcm),
}

impl fmt::Debug for RecordCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            RecordCipher::ChaCha(_) => "ChaCha20Poly1305",
            #[cfg(feature = "aes-gcm")]
            RecordCipher::Aes(_) => "Aes256Gcm",
        };
        f.debug_struct("RecordCipher")
            .field("aead", &name)
            .field("key", &"<redacted>")
            .finish()
    }
}

fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    let (_, c) = n.split_at_mut(4);
    c.copy_from_slice(&counter.to_be_bytes());
    n
}

/// Encryption only fails for inputs far beyond `MAX_PLAINTEXT`.
fn seal_err(_: aead::Error) -> Error {
    Error::Local(Local::PlaintextTooLarge)
}

impl RecordCipher {
    /// Keys the suite's AEAD. A suite this build lacks is `Local::NotAllowed`.
    pub(crate) fn new(suite: Suite, key: &[u8; KEY_LEN]) -> Result<Self, Error> {
        match suite {
            Suite::ChaChaPolyBlake2s => Ok(RecordCipher::ChaCha(ChaChaPoly1305::new(key))),
            #[cfg(feature = "aes-gcm")]
            Suite::AesGcmSha256 => Ok(RecordCipher::Aes(crate::hygiene::AesGcm::new(key))),
            #[cfg(not(feature = "aes-gcm"))]
            Suite::AesGcmSha256 => Err(Local::NotAllowed.into()),
        }
    }

    /// Encrypts `buf` in place under `counter` and returns the tag.
    pub(crate) fn seal(
        &self,
        counter: u64,
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        let n = nonce(counter);
        match self {
            RecordCipher::ChaCha(c) => c.seal_in_place_detached(&n, ad, buf),
            #[cfg(feature = "aes-gcm")]
            RecordCipher::Aes(c) => c
                .encrypt_in_place_detached(GenericArray::from_slice(&n), ad, buf)
                .map(Into::into),
        }
        .map_err(seal_err)
    }

    /// Decrypts `buf` in place if `tag` authenticates it. On failure `buf` is left as the
    /// ciphertext (both AEADs check the tag before decrypting).
    pub(crate) fn open(
        &self,
        counter: u64,
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), ()> {
        let n = nonce(counter);
        match self {
            RecordCipher::ChaCha(c) => c.open_in_place_detached(&n, ad, buf, tag),
            #[cfg(feature = "aes-gcm")]
            RecordCipher::Aes(c) => c.decrypt_in_place_detached(
                GenericArray::from_slice(&n),
                ad,
                buf,
                GenericArray::from_slice(tag),
            ),
        }
        .map_err(|_| ())
    }

    /// The next epoch's key (Noise REKEY).
    pub(crate) fn next_key(&self) -> Result<Zeroizing<[u8; KEY_LEN]>, Error> {
        let mut k = Zeroizing::new([0u8; KEY_LEN]);
        // The tag is discarded: REKEY keeps only the first 32 bytes of the ciphertext.
        self.seal(REKEY_NONCE, &[], k.as_mut_slice())?;
        Ok(k)
    }

    /// A cipher for the next epoch, built from `next_key` (whose bytes are zeroized on return).
    pub(crate) fn next(&self, suite: Suite) -> Result<Self, Error> {
        let k = self.next_key()?;
        RecordCipher::new(suite, &k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::aead::generic_array::GenericArray;
    use chacha20poly1305::aead::{AeadInPlace, KeyInit};

    fn key(b: u8) -> [u8; 32] {
        [b; 32]
    }

    #[test]
    fn seal_open_round_trip_and_tamper() {
        for &suite in Suite::ENABLED {
            let c = RecordCipher::new(suite, &key(7)).unwrap();
            let mut buf = *b"hello telemetry";
            let ad = [1u8; 9];
            let tag = c.seal(5, &ad, &mut buf).unwrap();
            assert_ne!(&buf, b"hello telemetry");
            let ct = buf;
            c.open(5, &ad, &mut buf, &tag).unwrap();
            assert_eq!(&buf, b"hello telemetry");

            // Wrong counter, ad, tag or key all fail and leave the ciphertext untouched.
            let mut b2 = ct;
            assert!(c.open(6, &ad, &mut b2, &tag).is_err());
            assert_eq!(b2, ct);
            assert!(c.open(5, &[2u8; 9], &mut b2, &tag).is_err());
            let mut t2 = tag;
            t2[0] ^= 1;
            assert!(c.open(5, &ad, &mut b2, &t2).is_err());
            let other = RecordCipher::new(suite, &key(8)).unwrap();
            assert!(other.open(5, &ad, &mut b2, &tag).is_err());
            assert_eq!(b2, ct);
        }
    }

    /// The nonce layout is the same for both suites: 4 zero bytes, then the counter big-endian.
    #[test]
    fn nonce_layout() {
        assert_eq!(
            nonce(0x0102_0304_0506_0708),
            [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
        );
    }

    /// REKEY is the first 32 bytes of encrypting zeros under nonce 2^64-1, computed here through
    /// the AEAD crates directly, and it changes the key.
    #[test]
    fn rekey_matches_definition() {
        for &suite in Suite::ENABLED {
            let k = key(3);
            let c = RecordCipher::new(suite, &k).unwrap();
            let next = c.next_key().unwrap();
            let mut expect = [0u8; 32];
            let n =
                GenericArray::from([0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
            match suite {
                Suite::ChaChaPolyBlake2s => {
                    chacha20poly1305::ChaCha20Poly1305::new(GenericArray::from_slice(&k))
                        .encrypt_in_place_detached(&n, &[], &mut expect)
                        .unwrap();
                }
                Suite::AesGcmSha256 => {
                    #[cfg(feature = "aes-gcm")]
                    aes_gcm::Aes256Gcm::new(GenericArray::from_slice(&k))
                        .encrypt_in_place_detached(&n, &[], &mut expect)
                        .unwrap();
                }
            }
            assert_eq!(*next, expect);
            assert_ne!(*next, k);
            // Deterministic, and a chain: the next cipher rekeys to something else again.
            assert_eq!(*c.next_key().unwrap(), *next);
            let n2 = c.next(suite).unwrap().next_key().unwrap();
            assert_ne!(*n2, *next);
        }
    }

    #[test]
    fn suites_differ() {
        if Suite::ENABLED.len() < 2 {
            return;
        }
        let a = RecordCipher::new(Suite::ChaChaPolyBlake2s, &key(1)).unwrap();
        let b = RecordCipher::new(Suite::AesGcmSha256, &key(1)).unwrap();
        assert_ne!(*a.next_key().unwrap(), *b.next_key().unwrap());
    }

    #[test]
    fn debug_redacts() {
        for &suite in Suite::ENABLED {
            let c = RecordCipher::new(suite, &key(0xab)).unwrap();
            let s = std::format!("{c:?}");
            assert!(s.contains("<redacted>"));
            assert!(!s.contains("ab, ab") && !s.contains("171"));
        }
    }
}
