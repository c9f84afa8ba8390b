//! Static X25519 keys: the long-term identity of a device, a cloud service or a phone.

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::entropy::{draw, Entropy};
use crate::error::Error;

/// An X25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicKey(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// The X25519 public key of `secret`.
///
/// Hosted builds (`std`) use x25519-dalek's fixed-base multiplication with precomputed tables,
/// about three times faster than the ladder. Firmware builds run the Montgomery ladder with the
/// base point, which the handshake's DH links anyway: the table-less fixed-base code would add
/// about 2 KB of flash and a 2 KB stack frame on Cortex-M.
pub(crate) fn public_from_secret(secret: &[u8; 32]) -> [u8; 32] {
    #[cfg(feature = "std")]
    {
        x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*secret)).to_bytes()
    }
    #[cfg(not(feature = "std"))]
    {
        x25519_dalek::x25519(*secret, x25519_dalek::X25519_BASEPOINT_BYTES)
    }
}

/// A static X25519 key pair. The secret half is zeroized on drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StaticKeypair {
    secret: [u8; 32],
    #[zeroize(skip)]
    public: PublicKey,
}

impl StaticKeypair {
    /// Generates a key pair from the caller's entropy.
    pub fn generate(rng: &mut (impl Entropy + ?Sized)) -> Result<Self, Error> {
        let secret = draw::<32>(rng)?;
        Ok(Self::from_secret(*secret))
    }

    /// Rebuilds a key pair from its 32-byte secret (for example read from secure storage).
    /// Any 32 bytes are a valid X25519 secret (they are clamped on use).
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let mut secret = Zeroizing::new(secret);
        let public = PublicKey(public_from_secret(&secret));
        let keypair = Self {
            secret: *secret,
            public,
        };
        secret.zeroize();
        keypair
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The secret half, for handing to the Noise state only.
    pub(crate) fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl fmt::Debug for StaticKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticKeypair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}
