//! Pairing a phone with a device through a high-entropy QR code.
//!
//! The device shows (on its display or a label) a QR code carrying a 128-bit secret and a 128-bit
//! fingerprint of its static key. The phone scans it and runs the [`crate::Pattern::Pairing`]
//! handshake (Noise `XXpsk0`) with a pre-shared key derived from both halves.
//!
//! Why not a short numeric code as the PSK: a 6-digit code has 20 bits; an attacker who takes
//! part in a single handshake gets a transcript against which every candidate code can be tested
//! offline in well under a second. With 128 bits of secret, the same transcript is worthless:
//! testing candidates offline costs 2^127 work on average. A wrong code (or a substitute device
//! whose key does not match the fingerprint) fails the very first handshake message, so a failed
//! attempt tells the attacker only that its guess was wrong. See `spec/PROTOCOL.md`, "Pairing".
//!
//! Devices that can only show a few digits need a PAKE instead; that is not in this version.

use core::fmt;

use data_encoding::BASE32_NOPAD;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::entropy::{draw, Entropy};
use crate::error::{Error, Malformed};
use crate::handshake::noise_crypto::blake2s;
use crate::keys::PublicKey;

/// The text prefix of an encoded pairing code (uppercase, so that the whole code fits a QR code's
/// compact alphanumeric mode).
pub const PAIRING_PREFIX: &str = "TETHER1:";
/// Length of the encoded code: prefix plus 52 base32 characters for 32 bytes.
pub const PAIRING_TEXT_LEN: usize = PAIRING_PREFIX.len() + 52;

const FINGERPRINT_LABEL: &[u8] = b"tether-v1 key fingerprint";
const PSK_LABEL: &[u8] = b"tether-v1 pairing psk";

/// A pairing code: a 128-bit secret and the fingerprint of the device's static key.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct PairingCode {
    secret: [u8; 16],
    fingerprint: [u8; 16],
}

impl PairingCode {
    /// A fresh code for the device whose static key is `device_key`. Devices with a display
    /// should make a new one for every pairing session.
    pub fn generate(
        rng: &mut (impl Entropy + ?Sized),
        device_key: &PublicKey,
    ) -> Result<Self, Error> {
        let secret = draw::<16>(rng)?;
        Ok(Self {
            secret: *secret,
            fingerprint: fingerprint(device_key),
        })
    }

    /// Rebuilds a code from the secret stored on the device.
    pub fn from_secret(secret: [u8; 16], device_key: &PublicKey) -> Self {
        Self {
            secret,
            fingerprint: fingerprint(device_key),
        }
    }

    /// The fingerprint of the device key this code is for.
    pub fn fingerprint(&self) -> &[u8; 16] {
        &self.fingerprint
    }

    /// Whether `key` is the device key this code names.
    pub fn matches(&self, key: &PublicKey) -> bool {
        fingerprint(key) == self.fingerprint
    }

    /// The text to put in the QR code: `TETHER1:` and 52 base32 characters.
    pub fn to_text(&self) -> Zeroizing<[u8; PAIRING_TEXT_LEN]> {
        let mut raw = Zeroizing::new([0u8; 32]);
        let (s, f) = raw.split_at_mut(16);
        s.copy_from_slice(&self.secret);
        f.copy_from_slice(&self.fingerprint);
        let mut out = Zeroizing::new([0u8; PAIRING_TEXT_LEN]);
        let (prefix, body) = out.split_at_mut(PAIRING_PREFIX.len());
        prefix.copy_from_slice(PAIRING_PREFIX.as_bytes());
        BASE32_NOPAD.encode_mut(raw.as_ref(), body);
        out
    }

    /// Parses the text scanned from a QR code.
    pub fn parse(text: &[u8]) -> Result<Self, Error> {
        let body = text
            .strip_prefix(PAIRING_PREFIX.as_bytes())
            .ok_or(Malformed::PairingCode)?;
        if body.len() != PAIRING_TEXT_LEN - PAIRING_PREFIX.len() {
            return Err(Malformed::PairingCode.into());
        }
        let mut raw = Zeroizing::new([0u8; 32]);
        BASE32_NOPAD
            .decode_mut(body, raw.as_mut())
            .map_err(|_| Malformed::PairingCode)?;
        let (s, f) = raw.split_at(16);
        let mut code = Self {
            secret: [0; 16],
            fingerprint: [0; 16],
        };
        code.secret.copy_from_slice(s);
        code.fingerprint.copy_from_slice(f);
        Ok(code)
    }

    /// The Noise PSK: BLAKE2s(label || secret || fingerprint).
    pub(crate) fn psk(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(blake2s(&[PSK_LABEL, &self.secret, &self.fingerprint]))
    }
}

impl fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingCode")
            .field("secret", &"<redacted>")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// The first 16 bytes of BLAKE2s(label || key).
pub fn fingerprint(key: &PublicKey) -> [u8; 16] {
    let full = blake2s(&[FINGERPRINT_LABEL, key.as_bytes()]);
    let mut out = [0u8; 16];
    out.copy_from_slice(full.first_chunk::<16>().map_or(&[0u8; 16][..], |c| &c[..]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn text_round_trip_and_qr_alphabet() {
        let code = PairingCode::from_secret([9; 16], &PublicKey([1; 32]));
        let text = code.to_text();
        assert!(text
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b':'));
        assert_eq!(PairingCode::parse(&text[..]).unwrap(), code);
        assert!(code.matches(&PublicKey([1; 32])));
        assert!(!code.matches(&PublicKey([2; 32])));
    }

    #[test]
    fn bad_text_is_rejected() {
        let code = PairingCode::from_secret([9; 16], &PublicKey([1; 32]));
        let text = code.to_text();
        assert!(PairingCode::parse(&text[1..]).is_err());
        assert!(PairingCode::parse(&text[..text.len() - 1]).is_err());
        let mut bad = *text;
        bad[10] = b'0'; // '0' is not in the base32 alphabet
        assert!(PairingCode::parse(&bad).is_err());
        assert!(PairingCode::parse(b"").is_err());
    }

    #[test]
    fn psk_depends_on_both_halves() {
        let a = PairingCode::from_secret([9; 16], &PublicKey([1; 32]));
        let b = PairingCode::from_secret([8; 16], &PublicKey([1; 32]));
        let c = PairingCode::from_secret([9; 16], &PublicKey([2; 32]));
        assert_ne!(*a.psk(), *b.psk());
        assert_ne!(*a.psk(), *c.psk());
    }

    #[test]
    fn debug_hides_the_secret() {
        let code = PairingCode::from_secret([0xab; 16], &PublicKey([1; 32]));
        let s = format!("{code:?}");
        assert!(s.contains("redacted") && !s.contains("171, 171"));
    }
}
