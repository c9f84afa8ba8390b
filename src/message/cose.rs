//! COSE_Sign1 (RFC 9052 section 4.2) with one profile: EdDSA over Ed25519, nothing else
//! (spec/MESSAGES.md section 5, "COSE profile").
//!
//! Therapy commands, firmware manifests and app update notices are signed end to end by an
//! authority the device was provisioned with, so a phone, relay or gateway in between can neither
//! forge nor alter them. The profile is deliberately narrow: the protected header is exactly
//! `{1: -8}` (alg EdDSA), the unprotected header exactly `{4: kid}`, the payload is embedded and
//! at most [`MAX_SIGNED_PAYLOAD`] bytes, the external AAD is empty. Crypto agility here is a new
//! version of the specification, not a header a sender may choose: an attacker who could pick
//! the algorithm could pick a weak one.
//!
//! Verification uses ed25519-dalek's `verify_strict` (no small-order keys or `R`, canonical `S`).
//! Building the `Sig_structure` uses a fixed stack buffer; nothing is allocated.

use core::fmt;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::cbor::{encode_into, Enc, EncResult, Reader};
use crate::error::{Error, Local, Problem, ProblemKind};
use crate::message::envelope::{encode_message, Kind, Message};

/// Largest payload a COSE_Sign1 may carry. Bounds the stack buffer the `Sig_structure` is built
/// in, and every signed message tether defines fits well inside it.
pub const MAX_SIGNED_PAYLOAD: usize = 512;

/// Largest key identifier, so an authority's name costs little on the wire and in a policy table.
pub const MAX_KID: usize = 16;

/// The only protected header tether accepts: the bstr content `{1: -8}` (alg: EdDSA).
pub const PROTECTED: [u8; 3] = [0xa1, 0x01, 0x27];

/// The CBOR tag of a COSE_Sign1 (RFC 9052 section 2), required so that the object says what it
/// is even outside its envelope.
pub const COSE_SIGN1_TAG: u64 = 18;

/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Largest encoded COSE_Sign1: tag (1), array head (1), protected (4), unprotected map with a
/// 16-byte kid (1 + 1 + 17), payload (3 + 512), signature (2 + 64). Lets callers size buffers.
pub const MAX_SIGN1_LEN: usize = 1 + 1 + 4 + 1 + 1 + 1 + MAX_KID + 3 + MAX_SIGNED_PAYLOAD + 2 + 64;

/// The context string of a COSE_Sign1 `Sig_structure`.
const CONTEXT: &str = "Signature1";

/// Largest `Sig_structure`: array head, context, protected bstr, empty external AAD, payload bstr
/// (head up to 3 bytes for 512).
const MAX_SIG_STRUCTURE: usize = 1 + 1 + CONTEXT.len() + 4 + 1 + 3 + MAX_SIGNED_PAYLOAD;

/// A key identifier of 1..=[`MAX_KID`] bytes, stored inline so policy tables need no lifetime.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Kid {
    len: u8,
    bytes: [u8; MAX_KID],
}

impl Kid {
    /// A key identifier; fails with [`Local::Config`] unless `kid` is 1..=16 bytes, the bound
    /// a decoder enforces, so that a configured kid can always match one on the wire.
    pub fn new(kid: &[u8]) -> Result<Self, Error> {
        if kid.is_empty() || kid.len() > MAX_KID {
            return Err(Local::Config.into());
        }
        let mut bytes = [0u8; MAX_KID];
        bytes
            .get_mut(..kid.len())
            .ok_or(Local::Config)?
            .copy_from_slice(kid);
        Ok(Kid {
            len: kid.len() as u8,
            bytes,
        })
    }

    /// The identifier's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl fmt::Debug for Kid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kid(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A signing authority a device trusts: the public key and the kid senders name it by. Shared by
/// command authorities and update authorities, so one provisioning format serves both.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AuthorityKey {
    kid: Kid,
    public: VerifyingKey,
}

impl AuthorityKey {
    /// An authority named `kid` (1..=16 bytes) with Ed25519 key `public`. A weak (small-order)
    /// key is refused with [`Local::BadKey`]: it could never verify strictly anyway, so it can
    /// only be a provisioning mistake.
    pub fn new(kid: &[u8], public: VerifyingKey) -> Result<Self, Error> {
        if public.is_weak() {
            return Err(Local::BadKey.into());
        }
        Ok(AuthorityKey {
            kid: Kid::new(kid)?,
            public,
        })
    }

    /// Like [`AuthorityKey::new`] from the key's 32 bytes (as provisioned); a value that is not
    /// a valid point is [`Local::BadKey`].
    pub fn from_bytes(kid: &[u8], public: &[u8; 32]) -> Result<Self, Error> {
        let public = VerifyingKey::from_bytes(public).map_err(|_| Local::BadKey)?;
        Self::new(kid, public)
    }

    /// The key identifier senders put in the unprotected header.
    pub fn kid(&self) -> &[u8] {
        self.kid.as_bytes()
    }

    /// The Ed25519 public key.
    pub fn public(&self) -> &VerifyingKey {
        &self.public
    }
}

/// An authority's signing side (cloud, clinician tooling, tests): an Ed25519 key and its kid.
///
/// The secret key is wiped when the signer is dropped (ed25519-dalek's `SigningKey` zeroizes on
/// drop); `Signer` is not `Clone`, so no second copy is made, and its `Debug` shows only the
/// kid and the public key.
pub struct Signer {
    key: SigningKey,
    kid: Kid,
}

// The key wipes itself on drop (ed25519-dalek's `zeroize` feature), so the signer does too.
impl zeroize::ZeroizeOnDrop for Signer {}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("public", &self.key.verifying_key())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `key`, named `kid` (1..=16 bytes) in every object it signs.
    pub fn new(key: SigningKey, kid: &[u8]) -> Result<Self, Error> {
        Ok(Signer {
            kid: Kid::new(kid)?,
            key,
        })
    }

    /// A signer from a 32-byte Ed25519 seed (RFC 8032 secret key). The caller keeps and wipes
    /// its own copy of the seed.
    pub fn from_seed(seed: &[u8; 32], kid: &[u8]) -> Result<Self, Error> {
        Self::new(SigningKey::from_bytes(seed), kid)
    }

    /// The public half, as devices are provisioned with it.
    pub fn authority_key(&self) -> AuthorityKey {
        AuthorityKey {
            kid: self.kid,
            public: self.key.verifying_key(),
        }
    }

    /// The kid this signer writes.
    pub fn kid(&self) -> &[u8] {
        self.kid.as_bytes()
    }

    fn signature(&self, payload: &[u8]) -> Result<[u8; SIGNATURE_LEN], Error> {
        let mut buf = [0u8; MAX_SIG_STRUCTURE];
        let n = sig_structure(payload, &mut buf)?;
        let msg = buf.get(..n).ok_or(Local::Config)?;
        Ok(self.key.sign(msg).to_bytes())
    }

    /// Signs `payload` (at most [`MAX_SIGNED_PAYLOAD`] bytes, else a `TooLong` problem at
    /// `cose.payload`) and writes the tagged COSE_Sign1 into `out`; returns its length.
    /// Ed25519 is deterministic: the same payload always gives the same bytes.
    pub fn sign(&self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let sig = self.signature(payload)?;
        encode_into(out, |e| write_sign1(e, self.kid(), payload, &sig))
    }

    /// Signs `payload` and writes the whole application message `[kind, COSE_Sign1]`.
    pub(crate) fn sign_message(
        &self,
        kind: Kind,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let sig = self.signature(payload)?;
        encode_message(kind, out, |e| write_sign1(e, self.kid(), payload, &sig))
    }

    /// Writes a payload with `write` (into a stack buffer of [`MAX_SIGNED_PAYLOAD`] bytes),
    /// signs it and writes the whole message `[kind, COSE_Sign1]`: every signed message's
    /// `encode`.
    pub(crate) fn sign_encoded(
        &self,
        kind: Kind,
        out: &mut [u8],
        write: impl Fn(&mut Enc<'_>) -> EncResult,
    ) -> Result<usize, Error> {
        let mut payload = [0u8; MAX_SIGNED_PAYLOAD];
        let n = encode_into(&mut payload, write)?;
        self.sign_message(kind, payload.get(..n).ok_or(Local::Config)?, out)
    }
}

/// Writes `#6.18([h'a10127', {4: kid}, payload, signature])`.
fn write_sign1(e: &mut Enc<'_>, kid: &[u8], payload: &[u8], sig: &[u8; 64]) -> EncResult {
    e.tag(minicbor::data::Tag::new(COSE_SIGN1_TAG))?
        .array(4)?
        .bytes(&PROTECTED)?
        .map(1)?
        .u8(4)?
        .bytes(kid)?
        .bytes(payload)?
        .bytes(sig)?;
    Ok(())
}

/// Builds `["Signature1", h'a10127', h'', payload]` into `out`; returns its length.
fn sig_structure(payload: &[u8], out: &mut [u8; MAX_SIG_STRUCTURE]) -> Result<usize, Error> {
    if payload.len() > MAX_SIGNED_PAYLOAD {
        return Err(Problem::new("cose.payload", ProblemKind::TooLong).into());
    }
    encode_into(out, |e| {
        e.array(4)?
            .str(CONTEXT)?
            .bytes(&PROTECTED)?
            .bytes(&[])?
            .bytes(payload)?;
        Ok(())
    })
}

/// A parsed COSE_Sign1, borrowed from the input. Parsing checks the structure only; call
/// [`Sign1::verify`] before trusting the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sign1<'a> {
    /// The protected header's bytes (always [`PROTECTED`] once parsed).
    pub protected: &'a [u8],
    /// Names the key that signed: 1..=16 bytes.
    pub kid: &'a [u8],
    /// The signed payload (not yet authenticated).
    pub payload: &'a [u8],
    /// The Ed25519 signature.
    pub signature: &'a [u8; SIGNATURE_LEN],
}

fn problem(field: &'static str, kind: ProblemKind) -> Problem {
    Problem::new(field, kind)
}

impl<'a> Sign1<'a> {
    /// Parses a tagged COSE_Sign1 under tether's profile: tag 18, protected exactly
    /// [`PROTECTED`], unprotected exactly `{4: kid}`, embedded payload of at most
    /// [`MAX_SIGNED_PAYLOAD`] bytes, 64-byte signature, nothing after it.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Ok(Self::parse_problem(bytes)?)
    }

    fn parse_problem(bytes: &'a [u8]) -> Result<Self, Problem> {
        let mut r = Reader::new(bytes);
        if r.tag("cose")? != COSE_SIGN1_TAG {
            return Err(problem("cose", ProblemKind::WrongType));
        }
        r.array_exact("cose", 4)?;
        // Read with a generous bound so that any other header is "out of range" (not the one
        // profile), yet the length is still checked before anything is read.
        let protected = r.bytes("cose.protected", MAX_SIGNED_PAYLOAD)?;
        if protected != PROTECTED {
            return Err(problem("cose.protected", ProblemKind::OutOfRange));
        }
        if r.map_len("cose.unprotected", 1)? != 1 {
            return Err(problem("cose.kid", ProblemKind::Missing));
        }
        if r.int("cose.unprotected")? != 4 {
            return Err(problem("cose.unprotected", ProblemKind::OutOfRange));
        }
        let kid = r.bytes("cose.kid", MAX_KID)?;
        if kid.is_empty() {
            return Err(problem("cose.kid", ProblemKind::OutOfRange));
        }
        let payload = r.bytes("cose.payload", MAX_SIGNED_PAYLOAD)?;
        let signature = r.bytes("cose.signature", SIGNATURE_LEN)?;
        let signature = <&[u8; SIGNATURE_LEN]>::try_from(signature)
            .map_err(|_| problem("cose.signature", ProblemKind::OutOfRange))?;
        r.finish("cose")?;
        Ok(Sign1 {
            protected,
            kid,
            payload,
            signature,
        })
    }

    /// True when the signature verifies strictly under `key` over the `Sig_structure`
    /// `["Signature1", protected, h'', payload]`.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        if self.payload.len() > MAX_SIGNED_PAYLOAD {
            return false;
        }
        let (head, n) = sig_structure_head(self.payload.len());
        let Some(head) = head.get(..n) else {
            return false;
        };
        ed25519_verify(key, &[head, self.payload], self.signature)
    }
}

/// Ed25519 verification (RFC 8032 section 5.1.7) of the concatenation of `message` under `key`,
/// with the rules of ed25519-dalek's `verify_strict`: a weak (small-order) key or R is refused,
/// `s` must be canonical, and R is compared in its compressed form (so a non-canonical R fails).
///
/// Composed here from the curve library rather than calling `verify_strict`, for the stack of
/// a microcontroller: `verify_strict` computes `[s]B - [k]A` with a variable-time double-base
/// multiplication that builds two lookup tables and two 256-entry NAFs in one frame (about
/// 7.5 KB of stack on Cortex-M3 with the table constructor), and needs the whole signed message
/// in one buffer. Here the message is hashed as it streams past, and `[s]B` and `[k]A` are two
/// constant-time multiplications one after the other (about 2 KB each, never nested). The
/// result is the same; only public values are involved, so constant time is not needed but
/// costs little. Tests compare it with `verify_strict` on valid, altered and random inputs.
pub(crate) fn ed25519_verify(key: &VerifyingKey, message: &[&[u8]], signature: &[u8; 64]) -> bool {
    use curve25519_dalek::{EdwardsPoint, Scalar};
    use sha2::{Digest, Sha512};

    if key.is_weak() {
        return false;
    }
    let (r_bytes, s_bytes) = signature.split_at(32);
    let (Ok(r_bytes), Ok(s_bytes)) = (<[u8; 32]>::try_from(r_bytes), <[u8; 32]>::try_from(s_bytes))
    else {
        return false;
    };
    match CompressedEdwardsY(r_bytes).decompress() {
        Some(r) if !r.is_small_order() => {}
        _ => return false,
    }
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    // k = SHA-512(R || A || M) mod l.
    let mut h = Sha512::new();
    h.update(r_bytes);
    h.update(key.as_bytes());
    for part in message {
        h.update(part);
    }
    let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
    // R' = [s]B - [k]A, in two separate multiplications (see above).
    let sb = EdwardsPoint::mul_base(&s);
    let ka = ka(key, &k);
    (sb - ka).compress().to_bytes() == r_bytes
}

/// `[k]A`, in its own frame so its lookup table is not on the stack at the same time as `[s]B`'s.
#[inline(never)]
fn ka(key: &VerifyingKey, k: &curve25519_dalek::Scalar) -> curve25519_dalek::EdwardsPoint {
    key.to_edwards() * k
}

/// The bytes of `["Signature1", h'a10127', h'', payload]` that come before the payload itself,
/// for a payload of `len` (at most [`MAX_SIGNED_PAYLOAD`]) bytes.
fn sig_structure_head(len: usize) -> ([u8; 24], usize) {
    let mut head = [0u8; 24];
    let fixed = [0x84, 0x60 | CONTEXT.len() as u8];
    let mut n = 0;
    let mut put = |bytes: &[u8]| {
        if let Some(to) = head.get_mut(n..n + bytes.len()) {
            to.copy_from_slice(bytes);
        }
        n += bytes.len();
    };
    put(&fixed);
    put(CONTEXT.as_bytes());
    put(&[0x40 | PROTECTED.len() as u8]);
    put(&PROTECTED);
    put(&[0x40]);
    match len {
        0..=23 => put(&[0x40 | len as u8]),
        24..=0xff => put(&[0x58, len as u8]),
        _ => put(&[0x59, (len >> 8) as u8, len as u8]),
    }
    (head, n)
}

/// Why a signed object was not authenticated (mapped to each message's own rejection enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No trusted key has this kid.
    UnknownAuthority,
    /// The named key's signature does not verify.
    BadSignature,
}

/// Finds the first key whose kid is the object's and verifies the signature with it.
pub(crate) fn authenticate<'k, I>(
    sign1: &Sign1<'_>,
    keys: I,
) -> Result<&'k AuthorityKey, AuthFailure>
where
    I: IntoIterator<Item = &'k AuthorityKey>,
{
    let key = keys
        .into_iter()
        .find(|k| k.kid() == sign1.kid)
        .ok_or(AuthFailure::UnknownAuthority)?;
    if sign1.verify(key.public()) {
        Ok(key)
    } else {
        Err(AuthFailure::BadSignature)
    }
}

/// Splits an application message of `kind` whose body is a COSE_Sign1 (structure only).
pub(crate) fn open_signed(bytes: &[u8], kind: Kind) -> Result<Sign1<'_>, Error> {
    let m = Message::parse(bytes)?;
    if m.kind != kind {
        return Err(Problem::new("message.kind", ProblemKind::OutOfRange).into());
    }
    Sign1::parse(m.body)
}

/// Fixed keys for the tests of the signed messages.
#[cfg(test)]
pub(crate) mod test_keys {
    /// RFC 8032 section 7.1, TEST 1 secret key.
    pub(crate) const SEED1: [u8; 32] = [
        0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c,
        0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae,
        0x7f, 0x60,
    ];
    /// RFC 8032 section 7.1, TEST 2 secret key.
    pub(crate) const SEED2: [u8; 32] = [
        0x4c, 0xcd, 0x08, 0x9b, 0x28, 0xff, 0x96, 0xda, 0x9d, 0xb6, 0xc3, 0x46, 0xec, 0x11, 0x4e,
        0x0f, 0x5b, 0x8a, 0x31, 0x9f, 0x35, 0xab, 0xa6, 0x24, 0xda, 0x8c, 0xf6, 0xed, 0x4f, 0xb8,
        0xa6, 0xfb,
    ];
}

#[cfg(test)]
mod tests {
    use super::test_keys::SEED1 as SEED;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn signer() -> Signer {
        Signer::from_seed(&SEED, b"k1").unwrap()
    }

    fn signed(payload: &[u8]) -> Vec<u8> {
        let mut out = [0u8; MAX_SIGN1_LEN];
        let n = signer().sign(payload, &mut out).unwrap();
        out[..n].to_vec()
    }

    #[test]
    fn layout_is_the_profile() {
        let b = signed(b"\xa0");
        // Tag 18, array of 4, protected h'a10127', {4: h'6b31'}, payload h'a0', signature.
        assert_eq!(
            &b[..14],
            &[0xd2, 0x84, 0x43, 0xa1, 0x01, 0x27, 0xa1, 0x04, 0x42, b'k', b'1', 0x41, 0xa0, 0x58]
        );
        assert_eq!(b.len(), 14 + 1 + 64);
        let s = Sign1::parse(&b).unwrap();
        assert_eq!(
            (s.kid, s.payload, s.protected),
            (&b"k1"[..], &b"\xa0"[..], &PROTECTED[..])
        );
        assert!(s.verify(signer().authority_key().public()));
        let other = Signer::from_seed(&[7; 32], b"k1").unwrap();
        assert!(!s.verify(other.authority_key().public()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Same answer as ed25519-dalek's verify_strict, on genuine signatures and on signatures,
        /// messages and keys with a byte changed.
        #[test]
        fn ed25519_verify_agrees_with_verify_strict(
            seed in proptest::prelude::any::<[u8; 32]>(),
            msg in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            split in 0usize..300,
            flip in proptest::prelude::any::<(u8, u8, u8)>(),
        ) {
            let sk = SigningKey::from_bytes(&seed);
            let vk = sk.verifying_key();
            let mut sig = sk.sign(&msg).to_bytes();
            let mut msg = msg;
            let cut = split.min(msg.len());
            let check = |vk: &VerifyingKey, msg: &[u8], sig: &[u8; 64]| {
                let (a, b) = msg.split_at(cut);
                let ours = ed25519_verify(vk, &[a, b], sig);
                let theirs = vk.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig)).is_ok();
                proptest::prop_assert_eq!(ours, theirs);
                Ok(ours)
            };
            proptest::prop_assert!(check(&vk, &msg, &sig)?);
            let (what, at, x) = flip;
            let x = x | 1;
            match what % 3 {
                0 => sig[usize::from(at) % 64] ^= x,
                1 if !msg.is_empty() => { let i = usize::from(at) % msg.len(); msg[i] ^= x }
                _ => {
                    let mut pk = vk.to_bytes();
                    pk[usize::from(at) % 32] ^= x;
                    if let Ok(other) = VerifyingKey::from_bytes(&pk) {
                        proptest::prop_assert!(!check(&other, &msg, &sig)?);
                    }
                    return Ok(());
                }
            }
            proptest::prop_assert!(!check(&vk, &msg, &sig)?);
        }
    }

    #[test]
    fn ed25519_verify_refuses_weak_keys_and_small_order_r() {
        // The identity point as a key (weak), and as R with s = 0: [0]B - [k]identity = identity,
        // which a non-strict verifier would accept for any message.
        let identity = {
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        };
        let weak = VerifyingKey::from_bytes(&identity).unwrap();
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&identity);
        assert!(!ed25519_verify(&weak, &[b"any"], &sig));
        let sk = SigningKey::from_bytes(&[7; 32]);
        assert!(!ed25519_verify(&sk.verifying_key(), &[b"any"], &sig));
        // A non-canonical s (s + l) is refused even though the equation would hold.
        let good = sk.sign(b"m").to_bytes();
        assert!(ed25519_verify(&sk.verifying_key(), &[b"m"], &good));
        let mut bad = good;
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(bad[32 + i]) + u16::from(l[i]) + carry;
            bad[32 + i] = v as u8;
            carry = v >> 8;
        }
        if carry == 0 && bad[63] & 0xe0 == 0 {
            assert!(!ed25519_verify(&sk.verifying_key(), &[b"m"], &bad));
        }
    }

    #[test]
    fn streamed_head_is_the_sig_structure_prefix() {
        let mut buf = [0u8; MAX_SIG_STRUCTURE];
        for len in [0usize, 1, 23, 24, 255, 256, MAX_SIGNED_PAYLOAD] {
            let payload = std::vec![0xa5u8; len];
            let n = sig_structure(&payload, &mut buf).unwrap();
            let (head, h) = sig_structure_head(len);
            assert_eq!(&buf[..h], &head[..h], "payload of {len} bytes");
            assert_eq!(&buf[h..n], &payload[..]);
        }
    }

    #[test]
    fn sig_structure_is_rfc9052() {
        let mut buf = [0u8; MAX_SIG_STRUCTURE];
        let n = sig_structure(b"xy", &mut buf).unwrap();
        let mut want = std::vec![0x84, 0x6a];
        want.extend_from_slice(b"Signature1");
        want.extend_from_slice(&[0x43, 0xa1, 0x01, 0x27, 0x40, 0x42, b'x', b'y']);
        assert_eq!(&buf[..n], &want[..]);
        // Largest payload fits; one more byte is refused.
        let big = [0u8; MAX_SIGNED_PAYLOAD];
        assert_eq!(sig_structure(&big, &mut buf), Ok(MAX_SIG_STRUCTURE));
        let mut out = [0u8; MAX_SIGN1_LEN + 8];
        let n = signer().sign(&big, &mut out).unwrap();
        assert_eq!(n, MAX_SIGN1_LEN - (MAX_KID - 2));
        let too_big = [0u8; MAX_SIGNED_PAYLOAD + 1];
        assert_eq!(
            signer().sign(&too_big, &mut out),
            Err(Problem::new("cose.payload", ProblemKind::TooLong).into())
        );
    }

    #[test]
    fn small_buffer_reports_needed() {
        let mut out = [0u8; 10];
        assert_eq!(
            signer().sign(b"\xa0", &mut out),
            Err(Local::BufferTooSmall { needed: 79 }.into())
        );
    }

    fn parse_err(b: &[u8]) -> Problem {
        match Sign1::parse(b) {
            Err(Error::Malformed(crate::error::Malformed::Message(p))) => p,
            other => panic!("expected a problem, got {other:?}"),
        }
    }

    #[test]
    fn strict_structure() {
        let good = signed(b"\xa0");
        // Untagged.
        assert_eq!(parse_err(&good[1..]).kind, ProblemKind::WrongType);
        // Another tag (17 = COSE_Mac0).
        let mut b = good.clone();
        b[0] = 0xd1;
        assert_eq!(parse_err(&b), Problem::new("cose", ProblemKind::WrongType));
        // Another algorithm (-7, ES256) in the protected header.
        let mut b = good.clone();
        b[5] = 0x26;
        assert_eq!(
            parse_err(&b),
            Problem::new("cose.protected", ProblemKind::OutOfRange)
        );
        // Extra protected header (content type 3: 0) makes it longer.
        let mut b = std::vec![0xd2, 0x84, 0x45, 0xa2, 0x01, 0x27, 0x03, 0x00];
        b.extend_from_slice(&good[6..]);
        assert_eq!(
            parse_err(&b),
            Problem::new("cose.protected", ProblemKind::OutOfRange)
        );
        // Empty unprotected map.
        let mut b = good[..6].to_vec();
        b.push(0xa0);
        b.extend_from_slice(&good[11..]);
        assert_eq!(
            parse_err(&b),
            Problem::new("cose.kid", ProblemKind::Missing)
        );
        // Another unprotected label (5 = IV).
        let mut b = good.clone();
        b[7] = 0x05;
        assert_eq!(
            parse_err(&b),
            Problem::new("cose.unprotected", ProblemKind::OutOfRange)
        );
        // Empty kid.
        let mut b = good[..8].to_vec();
        b.push(0x40);
        b.extend_from_slice(&good[11..]);
        assert_eq!(
            parse_err(&b),
            Problem::new("cose.kid", ProblemKind::OutOfRange)
        );
        // Detached payload (nil).
        let mut b = good[..11].to_vec();
        b.push(0xf6);
        b.extend_from_slice(&good[13..]);
        assert_eq!(
            parse_err(&b),
            Problem::new("cose.payload", ProblemKind::WrongType)
        );
        // Short signature.
        let mut b = good[..13].to_vec();
        b.extend_from_slice(&[0x58, 63]);
        b.extend_from_slice(&[0; 63]);
        assert_eq!(
            parse_err(&b),
            Problem::new("cose.signature", ProblemKind::OutOfRange)
        );
        // Trailing byte.
        let mut b = good.clone();
        b.push(0);
        assert_eq!(
            parse_err(&b),
            Problem::new("cose", ProblemKind::TrailingBytes)
        );
    }

    #[test]
    fn kid_bounds() {
        assert!(Kid::new(b"").is_err());
        assert!(Kid::new(&[1; 17]).is_err());
        assert_eq!(Kid::new(&[1; 16]).unwrap().as_bytes(), &[1; 16]);
        assert!(Signer::from_seed(&SEED, b"").is_err());
        assert_eq!(
            std::format!("{:?}", Kid::new(b"\x01\xab").unwrap()),
            "Kid(01ab)"
        );
    }

    #[test]
    fn secret_is_wiped_on_drop() {
        fn zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroize_on_drop::<SigningKey>();
        zeroize_on_drop::<Signer>();
    }

    #[test]
    fn debug_hides_the_secret() {
        let s = std::format!("{:?}", signer());
        let seed_hex: std::string::String = SEED.iter().map(|b| std::format!("{b:02x}")).collect();
        assert!(!s.contains(&seed_hex));
        assert!(!s.contains("157, 97"), "{s}");
        assert!(s.contains("Signer"));
    }

    #[test]
    fn weak_authority_key_refused() {
        // The identity point (small order) encodes as 1 followed by zeros.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert_eq!(
            AuthorityKey::from_bytes(b"k", &id),
            Err(Local::BadKey.into())
        );
    }

    #[test]
    fn authenticate_picks_by_kid() {
        let a = signer().authority_key();
        let b = Signer::from_seed(&[7; 32], b"k2").unwrap().authority_key();
        let bytes = signed(b"\xa0");
        let s = Sign1::parse(&bytes).unwrap();
        assert_eq!(authenticate(&s, [&b, &a]), Ok(&a));
        assert_eq!(authenticate(&s, [&b]), Err(AuthFailure::UnknownAuthority));
        let wrong = AuthorityKey::new(b"k1", *b.public()).unwrap();
        assert_eq!(authenticate(&s, [&wrong]), Err(AuthFailure::BadSignature));
    }

    proptest! {
        #[test]
        fn sign_parse_verify(payload in proptest::collection::vec(any::<u8>(), 0..=MAX_SIGNED_PAYLOAD)) {
            let b = signed(&payload);
            let s = Sign1::parse(&b).unwrap();
            prop_assert_eq!(s.payload, &payload[..]);
            prop_assert!(s.verify(signer().authority_key().public()));
        }

        #[test]
        fn any_byte_change_fails(payload in proptest::collection::vec(any::<u8>(), 0..64), at in any::<usize>(), x in 1u8..=255) {
            let mut b = signed(&payload);
            let i = at % b.len();
            b[i] ^= x;
            let key = signer().authority_key();
            let ok = Sign1::parse(&b).map(|s| s.kid == key.kid() && s.verify(key.public()));
            prop_assert!(ok != Ok(true));
        }

        #[test]
        fn truncation_fails(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let b = signed(&payload);
            for n in 0..b.len() {
                prop_assert!(Sign1::parse(&b[..n]).is_err());
            }
        }

        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Sign1::parse(&b);
        }
    }
}
