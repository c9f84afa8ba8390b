//! Cipher suites: which Diffie-Hellman, AEAD and hash a session uses.

use crate::error::{Error, Local, Malformed};

/// A cipher suite. The DH function is always X25519.
///
/// The suite is bound into the handshake prologue, so an attacker who rewrites the suite byte of
/// the first handshake message makes the handshake fail instead of downgrading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Suite {
    /// `25519_ChaChaPoly_BLAKE2s`: the default, fast in software on microcontrollers without AES
    /// hardware. Always built in.
    ChaChaPolyBlake2s = 1,
    /// `25519_AESGCM_SHA256`: for AES accelerators and servers with AES-NI. Needs the `aes-gcm`
    /// feature (on by default).
    AesGcmSha256 = 2,
}

impl Suite {
    /// Every suite this build can run, default first.
    pub const ENABLED: &'static [Suite] = &[
        Suite::ChaChaPolyBlake2s,
        #[cfg(feature = "aes-gcm")]
        Suite::AesGcmSha256,
    ];

    /// The identifier on the wire (first handshake message) and in the prologue.
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// Parses a wire identifier. Unknown identifiers are malformed; known suites that this build
    /// lacks are [`Local::NotAllowed`].
    pub fn from_id(id: u8) -> Result<Suite, Error> {
        let suite = match id {
            1 => Suite::ChaChaPolyBlake2s,
            2 => Suite::AesGcmSha256,
            _ => return Err(Malformed::UnknownType.into()),
        };
        if suite.is_enabled() {
            Ok(suite)
        } else {
            Err(Local::NotAllowed.into())
        }
    }

    /// Whether this build includes the suite.
    pub fn is_enabled(self) -> bool {
        Suite::ENABLED.contains(&self)
    }

    /// The Noise name of the suite's DH, cipher and hash, as in `Noise_IK_25519_ChaChaPoly_BLAKE2s`.
    pub const fn noise_suffix(self) -> &'static str {
        match self {
            Suite::ChaChaPolyBlake2s => "25519_ChaChaPoly_BLAKE2s",
            Suite::AesGcmSha256 => "25519_AESGCM_SHA256",
        }
    }
}
