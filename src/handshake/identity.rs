//! The identity each side proves in the handshake: a compact CBOR map.
//!
//! Fields are bounded and stored inline (no heap), so decoding a hostile payload costs a fixed
//! amount of memory. Decoding is strict: only the canonical encoding that [`Identity::encode`]
//! produces is accepted (`spec/PROTOCOL.md`, "Handshake payload"), so two implementations can
//! never disagree on what an identity says.

use core::fmt;

use minicbor::encode::write::Cursor;
use minicbor::Encoder;

use crate::cbor::Reader;

use crate::error::{Error, Local, Malformed};
use crate::handshake::credential::Credential;

/// The largest encoded identity, credential included.
pub const MAX_IDENTITY_LEN: usize = 256;

/// At most `N` bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bounded<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> Bounded<N> {
    /// Copies `bytes`, or fails with [`Local::Config`] if there are more than `N`.
    pub fn new(bytes: &[u8]) -> Result<Self, Error> {
        let mut out = Self {
            len: 0,
            bytes: [0; N],
        };
        let len = u8::try_from(bytes.len()).map_err(|_| Local::Config)?;
        out.bytes
            .get_mut(..bytes.len())
            .ok_or(Local::Config)?
            .copy_from_slice(bytes);
        out.len = len;
        Ok(out)
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl<const N: usize> fmt::Debug for Bounded<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(self.as_slice()) {
            Ok(s) if s.chars().all(|c| !c.is_control()) => write!(f, "{s:?}"),
            _ => {
                for b in self.as_slice() {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// Who a peer says it is. The static key is not part of it: the handshake authenticates that
/// separately, and the [`crate::TrustPolicy`] ties the two together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    id: Bounded<32>,
    model: Bounded<32>,
    version: Bounded<16>,
    key_id: Bounded<16>,
    credential: Option<Credential>,
}

/// CBOR map keys, in the order they must appear.
mod key {
    pub const ID: u8 = 1;
    pub const MODEL: u8 = 2;
    pub const VERSION: u8 = 3;
    pub const KEY_ID: u8 = 4;
    pub const CREDENTIAL: u8 = 5;
}

impl Identity {
    /// An identity: `id` (1 to 32 bytes: a device serial number or a service name), `model` (up to
    /// 32 bytes of UTF-8), firmware or software `version` (up to 16 bytes of UTF-8), and `key_id`
    /// (up to 16 bytes naming which of the entity's keys is in use, for rotation).
    pub fn new(id: &[u8], model: &str, version: &str, key_id: &[u8]) -> Result<Self, Error> {
        if id.is_empty() {
            return Err(Local::Config.into());
        }
        Ok(Self {
            id: Bounded::new(id)?,
            model: Bounded::new(model.as_bytes())?,
            version: Bounded::new(version.as_bytes())?,
            key_id: Bounded::new(key_id)?,
            credential: None,
        })
    }

    /// Attaches a manufacturer credential.
    pub fn with_credential(mut self, credential: Credential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// The entity identifier.
    pub fn id(&self) -> &[u8] {
        self.id.as_slice()
    }

    /// The model name.
    pub fn model(&self) -> &str {
        core::str::from_utf8(self.model.as_slice()).unwrap_or("")
    }

    /// The firmware or software version.
    pub fn version(&self) -> &str {
        core::str::from_utf8(self.version.as_slice()).unwrap_or("")
    }

    /// The key identifier.
    pub fn key_id(&self) -> &[u8] {
        self.key_id.as_slice()
    }

    /// The manufacturer credential, if any.
    pub fn credential(&self) -> Option<&Credential> {
        self.credential.as_ref()
    }

    /// Writes the canonical CBOR encoding into `out`, returning its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut enc = Encoder::new(Cursor::new(out));
        let entries = if self.credential.is_some() { 5 } else { 4 };
        let res = (|| {
            enc.map(entries)?
                .u8(key::ID)?
                .bytes(self.id.as_slice())?
                .u8(key::MODEL)?
                .str(self.model())?
                .u8(key::VERSION)?
                .str(self.version())?
                .u8(key::KEY_ID)?
                .bytes(self.key_id.as_slice())?;
            if let Some(c) = &self.credential {
                enc.u8(key::CREDENTIAL)?;
                c.encode_cbor(&mut enc)?;
            }
            Ok::<(), minicbor::encode::Error<minicbor::encode::write::EndOfSlice>>(())
        })();
        res.map_err(|_| Local::BufferTooSmall {
            needed: MAX_IDENTITY_LEN,
        })?;
        Ok(enc.writer().position())
    }

    /// Decodes an identity, accepting only its canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_IDENTITY_LEN {
            return Err(Malformed::Oversized.into());
        }
        let identity = Self::decode_lenient(bytes).map_err(|_| Malformed::Cbor)?;
        // Canonical form only: re-encoding must give back exactly the input. This rejects
        // non-minimal integers and lengths, indefinite lengths, and trailing bytes in one check.
        let mut again = [0u8; MAX_IDENTITY_LEN];
        let len = identity.encode(&mut again)?;
        if again.get(..len) != Some(bytes) {
            return Err(Malformed::Cbor.into());
        }
        Ok(identity)
    }

    fn decode_lenient(bytes: &[u8]) -> Result<Self, DecodeError> {
        // The message layer's strict reader: one CBOR decoder in the firmware image, not two.
        let mut r = Reader::new(bytes);
        let entries = r.map_len("identity", 5)?;
        if entries < 4 {
            return Err(DecodeError);
        }
        let field = |r: &mut Reader<'_>, k: u8| -> Result<(), DecodeError> {
            if r.uint("identity")? == u64::from(k) {
                Ok(())
            } else {
                Err(DecodeError)
            }
        };
        field(&mut r, key::ID)?;
        let id = r.bytes("identity.id", MAX_IDENTITY_LEN)?;
        field(&mut r, key::MODEL)?;
        let model = r.text("identity.model", MAX_IDENTITY_LEN)?;
        field(&mut r, key::VERSION)?;
        let version = r.text("identity.version", MAX_IDENTITY_LEN)?;
        field(&mut r, key::KEY_ID)?;
        let key_id = r.bytes("identity.key_id", MAX_IDENTITY_LEN)?;
        let mut identity = Identity::new(id, model, version, key_id).map_err(|_| DecodeError)?;
        if entries == 5 {
            field(&mut r, key::CREDENTIAL)?;
            identity.credential = Some(Credential::decode_cbor(&mut r)?);
        }
        Ok(identity)
    }
}

/// Any CBOR decoding failure; callers report it as [`Malformed::Cbor`].
#[derive(Debug)]
pub(crate) struct DecodeError;

impl From<crate::error::Problem> for DecodeError {
    fn from(_: crate::error::Problem) -> Self {
        DecodeError
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::UnixTime;
    use std::vec;

    fn sample() -> Identity {
        Identity::new(b"SN-0042", "InfusionPump X2", "3.1.4", &[1, 2, 3, 4]).unwrap()
    }

    #[test]
    fn round_trip_without_and_with_credential() {
        let mut buf = [0u8; MAX_IDENTITY_LEN];
        let id = sample();
        let n = id.encode(&mut buf).unwrap();
        assert_eq!(Identity::decode(&buf[..n]).unwrap(), id);

        let cred = Credential::from_parts(UnixTime(10), UnixTime(20), b"mfr-1", [7u8; 64]).unwrap();
        let id = sample().with_credential(cred);
        let n = id.encode(&mut buf).unwrap();
        assert_eq!(Identity::decode(&buf[..n]).unwrap(), id);
    }

    #[test]
    fn largest_identity_fits_the_bound() {
        let cred =
            Credential::from_parts(UnixTime(u64::MAX), UnixTime(u64::MAX), &[9; 16], [7; 64])
                .unwrap();
        let id = Identity::new(&[0xff; 32], &"m".repeat(32), &"v".repeat(16), &[1; 16])
            .unwrap()
            .with_credential(cred);
        let mut buf = [0u8; MAX_IDENTITY_LEN];
        let n = id.encode(&mut buf).unwrap();
        assert!(n <= MAX_IDENTITY_LEN);
        assert_eq!(Identity::decode(&buf[..n]).unwrap(), id);
    }

    #[test]
    fn rejects_bad_field_bounds() {
        assert!(Identity::new(b"", "m", "v", b"").is_err());
        assert!(Identity::new(&[0; 33], "m", "v", b"").is_err());
        assert!(Identity::new(b"x", &"m".repeat(33), "v", b"").is_err());
        assert!(Identity::new(b"x", "m", &"v".repeat(17), b"").is_err());
        assert!(Identity::new(b"x", "m", "v", &[0; 17]).is_err());
    }

    #[test]
    fn rejects_non_canonical_and_trailing_bytes() {
        let mut buf = [0u8; MAX_IDENTITY_LEN];
        let n = sample().encode(&mut buf).unwrap();
        // Trailing byte.
        let mut long = buf[..n].to_vec();
        long.push(0);
        assert_eq!(Identity::decode(&long), Err(Malformed::Cbor.into()));
        // Non-minimal key encoding: 0x18 0x01 instead of 0x01 for key 1.
        let mut loose = vec![buf[0], 0x18];
        loose.extend_from_slice(&buf[1..n]);
        assert_eq!(Identity::decode(&loose), Err(Malformed::Cbor.into()));
        // Indefinite-length map.
        let mut indef = vec![0xbf];
        indef.extend_from_slice(&buf[1..n]);
        indef.push(0xff);
        assert_eq!(Identity::decode(&indef), Err(Malformed::Cbor.into()));
        // Keys out of order: swap not possible cheaply; a wrong first key instead.
        let mut wrong = buf[..n].to_vec();
        wrong[1] = 2;
        assert_eq!(Identity::decode(&wrong), Err(Malformed::Cbor.into()));
    }

    #[test]
    fn every_truncation_is_rejected() {
        let mut buf = [0u8; MAX_IDENTITY_LEN];
        let cred = Credential::from_parts(UnixTime(1), UnixTime(2), b"i", [3; 64]).unwrap();
        let n = sample().with_credential(cred).encode(&mut buf).unwrap();
        for cut in 0..n {
            assert!(
                Identity::decode(&buf[..cut]).is_err(),
                "prefix of {cut} bytes accepted"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = Identity::decode(&bytes);
        }
    }
}
