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

/// X25519 (RFC 7748) of `secret` and the peer's `public`: the same bytes as
/// `x25519_dalek::x25519`, that is the Montgomery ladder with the clamped secret.
///
/// Hosted x86-64 builds (`std`) on a CPU with AVX2 compute it on the Edwards form of the curve
/// instead, when the peer's key is a point of the curve (any key a peer made honestly; the twist
/// and the one unmappable value fall back to the ladder): curve25519-dalek's variable-base
/// multiplication runs on its AVX2 backend, about 0.75 times the ladder's time. Both are
/// constant-time in the secret; which route is taken depends only on the CPU and the public key.
/// Elsewhere (no AVX2, other architectures, firmware) the ladder, as x25519-dalek computes it:
/// the Edwards route's gain comes from the AVX2 backend, and on Cortex-M the ladder is smaller
/// and needs less stack.
pub(crate) fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if std::is_x86_feature_detected!("avx2") {
        let point = curve25519_dalek::montgomery::MontgomeryPoint(*public);
        if let Some(edwards) = point.to_edwards(0) {
            return Zeroizing::new(edwards.mul_clamped(*secret).to_montgomery().to_bytes());
        }
    }
    Zeroizing::new(x25519_dalek::x25519(*secret, *public))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Public keys where the two routes could part: the small-order points (RFC 7748 and the
    /// "cofactor" list of the curve), 0, -1 (not mappable to Edwards), non-canonical encodings
    /// (u >= p, the top bit set), and points of the twist.
    fn special_keys() -> std::vec::Vec<[u8; 32]> {
        let hex32 = |s: &str| -> [u8; 32] { hex::decode(s).unwrap().try_into().unwrap() };
        let mut keys = std::vec![
            [0u8; 32],
            {
                let mut k = [0u8; 32];
                k[0] = 1;
                k
            },
            // 325606250916557431795983626356110631294008115727848805560023387167927233504
            hex32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
            // 39382357235489614581723060781553021112529911719440698176882885853963445705823
            hex32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
            // p - 1, p, p + 1, 2^255 - 1
            hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
            hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
            hex32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
            [0xff; 32],
            // The base point, and it with the top bit set.
            x25519_dalek::X25519_BASEPOINT_BYTES,
        ];
        let mut high = x25519_dalek::X25519_BASEPOINT_BYTES;
        high[31] |= 0x80;
        keys.push(high);
        // u = 2: not on the curve (on its twist).
        let mut two = [0u8; 32];
        two[0] = 2;
        keys.push(two);
        keys
    }

    #[test]
    fn x25519_matches_the_ladder_on_special_keys() {
        // Both routes are exercised (on a CPU with AVX2; elsewhere every key takes the ladder).
        let ladder = special_keys()
            .iter()
            .filter(|k| {
                curve25519_dalek::montgomery::MontgomeryPoint(**k)
                    .to_edwards(0)
                    .is_none()
            })
            .count();
        assert!(ladder >= 2 && ladder < special_keys().len() - 2, "{ladder}");
        for (i, public) in special_keys().iter().enumerate() {
            for s in 0..8u8 {
                let secret = [s.wrapping_mul(37).wrapping_add(i as u8); 32];
                assert_eq!(
                    *x25519(&secret, public),
                    x25519_dalek::x25519(secret, *public),
                    "key {i}"
                );
            }
        }
    }

    proptest! {
        /// Any 32 bytes as the peer's key (about half are on the curve, half on the twist).
        #[test]
        fn x25519_matches_the_ladder(secret in any::<[u8; 32]>(), public in any::<[u8; 32]>()) {
            prop_assert_eq!(*x25519(&secret, &public), x25519_dalek::x25519(secret, public));
        }

        /// Honest keys (all on the curve): the Edwards route.
        #[test]
        fn x25519_matches_on_honest_keys(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let public = public_from_secret(&b);
            prop_assert_eq!(*x25519(&a, &public), x25519_dalek::x25519(a, public));
            prop_assert_eq!(*x25519(&a, &public), *x25519(&b, &public_from_secret(&a)));
        }
    }
}
