//! Manufacturer credentials: an Ed25519 signature by the manufacturer's key over a device's
//! identifier, its static X25519 public key and a validity period.
//!
//! A credential lets a cloud service accept a device it has never seen, during enrollment, by
//! trusting the manufacturer's key instead of a per-device registry entry. The signed bytes are a
//! fixed binary layout (not CBOR), so there is exactly one encoding to sign and verify
//! (`spec/PROTOCOL.md`, "Manufacturer credential").

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use minicbor::encode::write::{Cursor, EndOfSlice};
use minicbor::Encoder;

use crate::cbor::Reader;
use crate::error::{Error, Local};
use crate::handshake::identity::{Bounded, DecodeError};
use crate::handshake::policy::Rejection;
use crate::keys::PublicKey;
use crate::time::UnixTime;

/// Domain separation for the signed bytes.
const LABEL: &[u8] = b"tether-v1 credential";
/// Largest signed message: label, id (1 + 32), key, two times, issuer (1 + 16).
const MAX_SIGNED: usize = LABEL.len() + 33 + 32 + 16 + 17;

/// A manufacturer's statement that `static key` belongs to `device id` between two times.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Credential {
    not_before: UnixTime,
    not_after: UnixTime,
    issuer: Bounded<16>,
    signature: [u8; 64],
}

impl Credential {
    /// Signs a credential (manufacturing tooling). `issuer` names the manufacturer key (up to 16
    /// bytes) so that verifiers can pick the right public key.
    pub fn issue(
        manufacturer: &SigningKey,
        issuer: &[u8],
        device_id: &[u8],
        device_key: &PublicKey,
        not_before: UnixTime,
        not_after: UnixTime,
    ) -> Result<Self, Error> {
        let issuer = Bounded::<16>::new(issuer)?;
        let mut msg = [0u8; MAX_SIGNED];
        let len = signed_bytes(
            &mut msg,
            device_id,
            device_key,
            not_before,
            not_after,
            issuer.as_slice(),
        )?;
        let signature = manufacturer.sign(msg.get(..len).ok_or(Local::Config)?);
        Ok(Self {
            not_before,
            not_after,
            issuer,
            signature: signature.to_bytes(),
        })
    }

    /// Rebuilds a credential from its fields (for example read from device storage).
    pub fn from_parts(
        not_before: UnixTime,
        not_after: UnixTime,
        issuer: &[u8],
        signature: [u8; 64],
    ) -> Result<Self, Error> {
        Ok(Self {
            not_before,
            not_after,
            issuer: Bounded::new(issuer)?,
            signature,
        })
    }

    /// The name of the manufacturer key that signed this credential.
    pub fn issuer(&self) -> &[u8] {
        self.issuer.as_slice()
    }

    /// Start of the validity period.
    pub fn not_before(&self) -> UnixTime {
        self.not_before
    }

    /// End of the validity period (inclusive).
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }

    /// Checks the signature by `manufacturer` over `device_id` and `device_key`, and that `now`
    /// lies within the validity period. Uses strict Ed25519 verification (no malleable or
    /// small-order signatures).
    pub fn verify(
        &self,
        manufacturer: &VerifyingKey,
        device_id: &[u8],
        device_key: &PublicKey,
        now: UnixTime,
    ) -> Result<(), Rejection> {
        let mut msg = [0u8; MAX_SIGNED];
        let len = signed_bytes(
            &mut msg,
            device_id,
            device_key,
            self.not_before,
            self.not_after,
            self.issuer.as_slice(),
        )
        .map_err(|_| Rejection::BadCredential)?;
        let msg = msg.get(..len).ok_or(Rejection::BadCredential)?;
        manufacturer
            .verify_strict(msg, &Signature::from_bytes(&self.signature))
            .map_err(|_| Rejection::BadCredential)?;
        if now < self.not_before {
            return Err(Rejection::NotYetValid);
        }
        if now > self.not_after {
            return Err(Rejection::Expired);
        }
        Ok(())
    }

    /// CBOR array `[not_before, not_after, issuer, signature]`.
    pub(crate) fn encode_cbor(
        &self,
        enc: &mut Encoder<Cursor<&mut [u8]>>,
    ) -> Result<(), minicbor::encode::Error<EndOfSlice>> {
        enc.array(4)?
            .u64(self.not_before.0)?
            .u64(self.not_after.0)?
            .bytes(self.issuer.as_slice())?
            .bytes(&self.signature)?;
        Ok(())
    }

    pub(crate) fn decode_cbor(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        r.array_exact("credential", 4)?;
        let not_before = UnixTime(r.uint("credential.not_before")?);
        let not_after = UnixTime(r.uint("credential.not_after")?);
        let issuer = r.bytes("credential.issuer", 64)?;
        let signature = r.bytes_exact::<64>("credential.signature")?;
        Self::from_parts(not_before, not_after, issuer, signature).map_err(|_| DecodeError)
    }
}

/// `label || len(id) || id || key || not_before (u64 BE) || not_after (u64 BE) || len(issuer) ||
/// issuer`.
fn signed_bytes(
    out: &mut [u8; MAX_SIGNED],
    device_id: &[u8],
    device_key: &PublicKey,
    not_before: UnixTime,
    not_after: UnixTime,
    issuer: &[u8],
) -> Result<usize, Error> {
    let id_len = u8::try_from(device_id.len()).map_err(|_| Local::Config)?;
    let issuer_len = u8::try_from(issuer.len()).map_err(|_| Local::Config)?;
    let parts: [&[u8]; 8] = [
        LABEL,
        &[id_len],
        device_id,
        device_key.as_bytes(),
        &not_before.0.to_be_bytes(),
        &not_after.0.to_be_bytes(),
        &[issuer_len],
        issuer,
    ];
    let mut at = 0;
    for part in parts {
        let end = at + part.len();
        out.get_mut(at..end)
            .ok_or(Local::Config)?
            .copy_from_slice(part);
        at = end;
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manufacturer() -> SigningKey {
        SigningKey::from_bytes(&[42u8; 32])
    }

    #[test]
    fn issued_credential_verifies_and_binds_every_field() {
        let m = manufacturer();
        let key = PublicKey([5; 32]);
        let c = Credential::issue(&m, b"mfr", b"SN1", &key, UnixTime(100), UnixTime(200)).unwrap();
        let vk = m.verifying_key();
        assert_eq!(c.verify(&vk, b"SN1", &key, UnixTime(150)), Ok(()));
        assert_eq!(c.verify(&vk, b"SN1", &key, UnixTime(100)), Ok(()));
        assert_eq!(c.verify(&vk, b"SN1", &key, UnixTime(200)), Ok(()));
        assert_eq!(
            c.verify(&vk, b"SN1", &key, UnixTime(99)),
            Err(Rejection::NotYetValid)
        );
        assert_eq!(
            c.verify(&vk, b"SN1", &key, UnixTime(201)),
            Err(Rejection::Expired)
        );
        assert_eq!(
            c.verify(&vk, b"SN2", &key, UnixTime(150)),
            Err(Rejection::BadCredential)
        );
        assert_eq!(
            c.verify(&vk, b"SN1", &PublicKey([6; 32]), UnixTime(150)),
            Err(Rejection::BadCredential)
        );
        let other = SigningKey::from_bytes(&[43u8; 32]).verifying_key();
        assert_eq!(
            c.verify(&other, b"SN1", &key, UnixTime(150)),
            Err(Rejection::BadCredential)
        );
        // Extending the validity period invalidates the signature.
        let stretched =
            Credential::from_parts(UnixTime(100), UnixTime(300), b"mfr", c.signature).unwrap();
        assert_eq!(
            stretched.verify(&vk, b"SN1", &key, UnixTime(150)),
            Err(Rejection::BadCredential)
        );
    }
}
