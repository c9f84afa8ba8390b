//! tether's own crypto provider for snow.
//!
//! snow's `DefaultResolver` is not used: it links every hash and cipher of the Noise specification
//! (SHA-512 and BLAKE2b cost tens of kilobytes of flash on a microcontroller even when unused) and
//! draws its randomness from `getrandom`, which `no_std` targets lack. [`TetherResolver`] instead
//! resolves snow's primitives to the crates the record layer already links:
//!
//! | Noise name   | Implementation                                   | Build             |
//! |--------------|--------------------------------------------------|-------------------|
//! | `25519`      | x25519-dalek `StaticSecret`                      | always            |
//! | `ChaChaPoly` | chacha20 + poly1305 (`record::chacha`)           | always            |
//! | `BLAKE2s`    | blake2 `Blake2s256`                              | always            |
//! | `AESGCM`     | aes-gcm `Aes256Gcm`                              | feature `aes-gcm` |
//! | `SHA256`     | sha2 `Sha256`                                    | feature `aes-gcm` |
//!
//! Everything else (Curve448, BLAKE2b, SHA-512, ...) resolves to `None`, so snow refuses such a
//! protocol name when the handshake state is built.
//!
//! Randomness is not drawn here: the caller draws the 32 bytes of the ephemeral private key from its
//! own [`Entropy`](crate::Entropy) source and hands them to [`TetherResolver::new`]; the resolver
//! serves them to snow exactly once.
//!
//! Secrets (private keys, cipher keys, the pre-drawn entropy) live in types that are zeroized when
//! dropped or replaced. Hash states (whose block buffer keeps the last bytes hashed, HMAC-keyed
//! during snow's HKDF) are overwritten with a fresh state when dropped: the blake2 and sha2 0.10
//! crates offer no zeroizing. No type here prints key material through `Debug`.

use alloc::boxed::Box;
use core::cell::RefCell;
use core::fmt;

use aead::consts::{U12, U16};
use aead::AeadInPlace;
use blake2::digest::{core_api::BlockSizeUser, FixedOutputReset};
use blake2::{Blake2s256, Digest};
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::CryptoResolver;
use snow::types::{Cipher, Dh, Hash, Random};
use x25519_dalek::StaticSecret;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

#[cfg(feature = "std")]
use crate::handshake::dh_cache::Memo;

/// Length of an X25519 key (private, public and shared secret) and of a Noise cipher key.
const KEY_LEN: usize = 32;
/// Length of the AEAD tag for both Noise ciphers (Noise's `TAGLEN`).
const TAG_LEN: usize = 16;
/// Length of the AEAD nonce for both Noise ciphers.
const NONCE_LEN: usize = 12;

/// BLAKE2s-256 of the concatenation of `parts`.
pub(crate) fn blake2s(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Blake2s256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The [`CryptoResolver`] tether hands to snow: see the module documentation for the primitives.
///
/// One resolver serves one `snow::Builder`, that is one side of one handshake: it carries the 32
/// bytes of pre-drawn entropy that become that side's ephemeral private key.
pub(crate) struct TetherResolver {
    /// The pre-drawn entropy, until [`CryptoResolver::resolve_rng`] hands it out (then `None`,
    /// and the bytes are wiped).
    entropy: RefCell<Option<Zeroizing<[u8; KEY_LEN]>>>,
    /// The static key pair snow will `set`, with its public half already known, so that the
    /// builder does not recompute it (a scalar multiplication, and the deepest stack of the
    /// handshake on Cortex-M).
    known: Option<KnownPair>,
    /// The static-static result cache of this handshake, if it has one.
    #[cfg(feature = "std")]
    memo: Option<alloc::sync::Arc<Memo>>,
}

/// A static key pair whose public half is known.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct KnownPair {
    pub(crate) secret: [u8; KEY_LEN],
    #[zeroize(skip)]
    pub(crate) public: [u8; KEY_LEN],
}

impl TetherResolver {
    /// A resolver whose random number generator serves exactly `entropy`, once.
    pub(crate) fn new(entropy: Zeroizing<[u8; KEY_LEN]>) -> Self {
        TetherResolver {
            entropy: RefCell::new(Some(entropy)),
            known: None,
            #[cfg(feature = "std")]
            memo: None,
        }
    }

    /// Also hands `memo` to the static key's DH object, which looks up and notes its results
    /// there.
    #[cfg(feature = "std")]
    pub(crate) fn with_memo(mut self, memo: Option<alloc::sync::Arc<Memo>>) -> Self {
        self.memo = memo;
        self
    }

    /// Also hands `known` to the DH objects it resolves.
    pub(crate) fn with_known_pair(mut self, known: KnownPair) -> Self {
        self.known = Some(known);
        self
    }
}

impl fmt::Debug for TetherResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only whether the entropy is still there, never the bytes.
        let unused = self
            .entropy
            .try_borrow()
            .map(|slot| slot.is_some())
            .unwrap_or(false);
        f.debug_struct("TetherResolver")
            .field("entropy_unused", &unused)
            .finish()
    }
}

impl CryptoResolver for TetherResolver {
    /// The first call moves the pre-drawn entropy into the returned generator (and wipes the
    /// resolver's copy); any later call returns a generator that is already spent, so a second
    /// key drawn through the same resolver fails with `snow::Error::Rng` instead of repeating
    /// the first one.
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        // A `RefCell` borrow only fails when re-entered, and snow never calls the resolver from
        // inside itself; if it ever did, the generator is simply spent.
        let bytes = match self.entropy.try_borrow_mut() {
            Ok(mut slot) => {
                let bytes = slot.as_ref().map(|entropy| Zeroizing::new(**entropy));
                slot.zeroize();
                bytes
            }
            Err(_) => None,
        };
        Some(Box::new(OneShotRng::new(bytes)))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => {
                let mut dh = Box::<Dh25519>::default();
                dh.known = self.known.clone();
                #[cfg(feature = "std")]
                {
                    dh.memo = self.memo.clone();
                }
                Some(dh)
            }
            _ => None,
        }
    }

    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        match choice {
            HashChoice::Blake2s => Some(Box::new(NoiseHash::<Blake2s256>::new("BLAKE2s"))),
            #[cfg(feature = "aes-gcm")]
            HashChoice::SHA256 => Some(Box::new(NoiseHash::<sha2::Sha256>::new("SHA256"))),
            _ => None,
        }
    }

    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        match choice {
            CipherChoice::ChaChaPoly => Some(Box::<ChaChaPoly>::default()),
            #[cfg(feature = "aes-gcm")]
            CipherChoice::AESGCM => Some(Box::<AesGcm>::default()),
            // Reachable without the `aes-gcm` feature, or if another crate in the build turns on
            // snow's `use-xchacha20poly1305` (which adds `XChaChaPoly`).
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

/// A generator that serves its bytes to the first request and fails every later one.
struct OneShotRng {
    /// The bytes still to hand out; `None` once spent.
    bytes: Option<Zeroizing<[u8; KEY_LEN]>>,
}

impl OneShotRng {
    fn new(bytes: Option<Zeroizing<[u8; KEY_LEN]>>) -> Self {
        OneShotRng { bytes }
    }
}

impl fmt::Debug for OneShotRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneShotRng")
            .field("spent", &self.bytes.is_none())
            .finish()
    }
}

impl Random for OneShotRng {
    /// Fills `dest` from the leading bytes of the pre-drawn entropy. The first request spends the
    /// generator whatever its size; a request longer than the entropy fails and writes nothing.
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        let result = match self
            .bytes
            .as_ref()
            .and_then(|bytes| bytes.get(..dest.len()))
        {
            Some(src) => {
                dest.copy_from_slice(src);
                Ok(())
            }
            None => Err(snow::Error::Rng),
        };
        // Wipes the bytes and leaves `None`.
        self.bytes.zeroize();
        result
    }
}

/// X25519 over x25519-dalek.
#[derive(Default, Zeroize, ZeroizeOnDrop)]
struct Dh25519 {
    /// The private key; `None` until `set` or `generate` succeeds.
    secret: Option<StaticSecret>,
    /// The public key of `secret` (all zero while `secret` is `None`).
    public: [u8; KEY_LEN],
    /// A pair whose public half need not be computed.
    known: Option<KnownPair>,
    /// Whether the installed key is `known`: the static key (snow resolves one object for the
    /// static key and one for the ephemeral key). Only a cache needs to know.
    #[cfg(feature = "std")]
    is_static: bool,
    /// Where the static key's results are looked up and noted (hosted builds, with a cache).
    #[cfg(feature = "std")]
    #[zeroize(skip)]
    memo: Option<alloc::sync::Arc<Memo>>,
}

impl Dh25519 {
    fn install(&mut self, private: &[u8; KEY_LEN]) {
        let secret = StaticSecret::from(*private);
        if let Some(known) = &self.known {
            if known
                .secret
                .iter()
                .zip(private)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
            {
                self.public = known.public;
                self.secret = Some(secret);
                #[cfg(feature = "std")]
                {
                    self.is_static = true;
                }
                return;
            }
        }
        self.public = crate::keys::public_from_secret(private);
        self.secret = Some(secret);
    }
}

impl fmt::Debug for Dh25519 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dh25519")
            .field("has_private_key", &self.secret.is_some())
            .field("public", &self.public)
            .finish()
    }
}

impl Dh for Dh25519 {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        KEY_LEN
    }

    fn priv_len(&self) -> usize {
        KEY_LEN
    }

    /// Installs a 32-byte private key. A key of any other length leaves no key at all (and a
    /// zero public key), so every later `dh` fails instead of running on a wrong key.
    fn set(&mut self, privkey: &[u8]) {
        let known = self.known.take();
        self.zeroize();
        self.known = known;
        if let Ok(private) = <&[u8; KEY_LEN]>::try_from(privkey) {
            self.install(private);
        }
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        self.zeroize();
        let mut private = Zeroizing::new([0u8; KEY_LEN]);
        rng.try_fill_bytes(private.as_mut_slice())?;
        self.install(&private);
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        &self.public
    }

    /// The private key, or an empty slice when none is set (snow only reads it after a successful
    /// `generate`).
    fn privkey(&self) -> &[u8] {
        match &self.secret {
            Some(secret) => secret.as_bytes(),
            None => &[],
        }
    }

    /// X25519 with the first 32 bytes of `pubkey` (snow passes its `MAXDHLEN`-sized buffers), into
    /// the first 32 bytes of `out`.
    ///
    /// Fails with `snow::Error::Dh`, writing nothing, when no private key is set, a buffer is
    /// short, or the result is all zero: a low-order peer key, which would make the exchange
    /// non-contributory (Noise permits this check).
    fn dh(&self, pubkey: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        let secret = self.secret.as_ref().ok_or(snow::Error::Dh)?;
        let peer = pubkey
            .get(..KEY_LEN)
            .and_then(|bytes| <[u8; KEY_LEN]>::try_from(bytes).ok())
            .ok_or(snow::Error::Dh)?;
        let out = out.get_mut(..KEY_LEN).ok_or(snow::Error::Dh)?;
        #[cfg(feature = "std")]
        let memo = self.memo.as_ref().filter(|_| self.is_static);
        #[cfg(feature = "std")]
        if let Some(cached) = memo.and_then(|m| m.lookup(&peer)) {
            out.copy_from_slice(cached.as_slice());
            return Ok(());
        }
        let shared = crate::keys::x25519(secret.as_bytes(), &peer);
        // All zero: a low-order peer key (RFC 7748 section 6.1's check, in constant time).
        if shared.iter().fold(0u8, |acc, b| acc | b) == 0 {
            return Err(snow::Error::Dh);
        }
        out.copy_from_slice(shared.as_slice());
        #[cfg(feature = "std")]
        if let Some(m) = memo {
            m.computed(&peer, &shared);
        }
        Ok(())
    }
}

/// Noise's ChaChaPoly nonce: 32 zero bits, then the counter little-endian.
fn nonce_le(n: u64) -> [u8; NONCE_LEN] {
    let [a, b, c, d, e, f, g, h] = n.to_le_bytes();
    [0, 0, 0, 0, a, b, c, d, e, f, g, h]
}

/// Noise's AESGCM nonce: 32 zero bits, then the counter big-endian.
#[cfg(feature = "aes-gcm")]
fn nonce_be(n: u64) -> [u8; NONCE_LEN] {
    let [a, b, c, d, e, f, g, h] = n.to_be_bytes();
    [0, 0, 0, 0, a, b, c, d, e, f, g, h]
}

/// Encrypts `plaintext` into `out` as ciphertext then tag, returning the length written.
///
/// Returns 0 and writes nothing if `out` cannot hold `plaintext.len() + 16` bytes. snow never lets
/// that happen: its handshake and transport `write_message` check the room for the payload and the
/// tag before encrypting, and its default `rekey` passes exactly 48 bytes for 32.
fn seal<A>(aead: &A, nonce: &[u8; NONCE_LEN], ad: &[u8], plaintext: &[u8], out: &mut [u8]) -> usize
where
    A: AeadInPlace<NonceSize = U12, TagSize = U16>,
{
    let Some(total) = plaintext.len().checked_add(TAG_LEN) else {
        return 0;
    };
    let Some((body, tag_out)) = out
        .get_mut(..total)
        .and_then(|dst| dst.split_at_mut_checked(plaintext.len()))
    else {
        return 0;
    };
    body.copy_from_slice(plaintext);
    match aead.encrypt_in_place_detached(nonce.into(), ad, body) {
        Ok(tag) => {
            // `tag_out` is exactly `TAG_LEN` bytes, the size of `tag`.
            tag_out.copy_from_slice(tag.as_slice());
            total
        }
        Err(_) => {
            // Only for inputs beyond the cipher's limits (far above Noise's 64 KiB messages).
            body.zeroize();
            0
        }
    }
}

/// Authenticates and decrypts `ciphertext` (ciphertext then tag) into `out`, returning the
/// plaintext length. On failure `out` holds no plaintext (the bytes it used are wiped).
fn open<A>(
    aead: &A,
    nonce: &[u8; NONCE_LEN],
    ad: &[u8],
    ciphertext: &[u8],
    out: &mut [u8],
) -> Result<usize, snow::Error>
where
    A: AeadInPlace<NonceSize = U12, TagSize = U16>,
{
    let len = ciphertext
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(snow::Error::Decrypt)?;
    let (body, tag) = ciphertext
        .split_at_checked(len)
        .ok_or(snow::Error::Decrypt)?;
    let tag = <[u8; TAG_LEN]>::try_from(tag).map_err(|_| snow::Error::Decrypt)?;
    let dst = out.get_mut(..len).ok_or(snow::Error::Decrypt)?;
    dst.copy_from_slice(body);
    match aead.decrypt_in_place_detached(nonce.into(), ad, dst, (&tag).into()) {
        Ok(()) => Ok(len),
        Err(_) => {
            dst.zeroize();
            Err(snow::Error::Decrypt)
        }
    }
}

/// Noise's `ChaChaPoly`: ChaCha20-Poly1305 (RFC 8439).
#[derive(Default, Zeroize, ZeroizeOnDrop)]
struct ChaChaPoly {
    key: [u8; KEY_LEN],
}

impl fmt::Debug for ChaChaPoly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaChaPoly").finish_non_exhaustive()
    }
}

impl Cipher for ChaChaPoly {
    fn name(&self) -> &'static str {
        "ChaChaPoly"
    }

    fn set(&mut self, key: &[u8; KEY_LEN]) {
        self.key = *key;
    }

    fn encrypt(&self, nonce: u64, authtext: &[u8], plaintext: &[u8], out: &mut [u8]) -> usize {
        // The cipher instance wipes its copy of the key when dropped.
        let aead = crate::record::chacha::ChaChaPoly1305::new(&self.key);
        seal(&aead, &nonce_le(nonce), authtext, plaintext, out)
    }

    fn decrypt(
        &self,
        nonce: u64,
        authtext: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, snow::Error> {
        let aead = crate::record::chacha::ChaChaPoly1305::new(&self.key);
        open(&aead, &nonce_le(nonce), authtext, ciphertext, out)
    }
}

/// Noise's `AESGCM`: AES-256-GCM.
#[cfg(feature = "aes-gcm")]
#[derive(Default, Zeroize, ZeroizeOnDrop)]
struct AesGcm {
    key: [u8; KEY_LEN],
}

#[cfg(feature = "aes-gcm")]
impl fmt::Debug for AesGcm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesGcm").finish_non_exhaustive()
    }
}

#[cfg(feature = "aes-gcm")]
impl Cipher for AesGcm {
    fn name(&self) -> &'static str {
        "AESGCM"
    }

    fn set(&mut self, key: &[u8; KEY_LEN]) {
        self.key = *key;
    }

    fn encrypt(&self, nonce: u64, authtext: &[u8], plaintext: &[u8], out: &mut [u8]) -> usize {
        // Built per call so that no expanded key outlives the operation; dropping it erases the
        // round keys and the GHASH key (see `crate::hygiene::AesGcm`).
        let aead = crate::hygiene::AesGcm::new(&self.key);
        seal(&*aead, &nonce_be(nonce), authtext, plaintext, out)
    }

    fn decrypt(
        &self,
        nonce: u64,
        authtext: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, snow::Error> {
        let aead = crate::hygiene::AesGcm::new(&self.key);
        open(&*aead, &nonce_be(nonce), authtext, ciphertext, out)
    }
}

/// A Noise hash over a RustCrypto digest. HMAC and HKDF are snow's default trait methods.
struct NoiseHash<D: Default> {
    hasher: D,
    name: &'static str,
}

impl<D: Default> NoiseHash<D> {
    fn new(name: &'static str) -> Self {
        NoiseHash {
            hasher: D::default(),
            name,
        }
    }
}

/// The digest state keeps the last block it was fed (after a reset too): overwrite all of it.
impl<D: Default> Drop for NoiseHash<D> {
    fn drop(&mut self) {
        // A fresh state has an all-zero buffer; the assignment writes every byte of the old one.
        self.hasher = D::default();
        core::hint::black_box(&mut self.hasher);
    }
}

impl<D: Default> fmt::Debug for NoiseHash<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseHash")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<D> Hash for NoiseHash<D>
where
    D: Digest + FixedOutputReset + BlockSizeUser + Default + Send + Sync,
{
    fn name(&self) -> &'static str {
        self.name
    }

    /// 64 for both BLAKE2s and SHA-256.
    fn block_len(&self) -> usize {
        D::block_size()
    }

    /// 32 for both BLAKE2s and SHA-256.
    fn hash_len(&self) -> usize {
        <D as Digest>::output_size()
    }

    fn reset(&mut self) {
        Digest::reset(&mut self.hasher);
    }

    fn input(&mut self, data: &[u8]) {
        Digest::update(&mut self.hasher, data);
    }

    /// Writes the digest into the first `hash_len()` bytes of `out` and resets the state.
    ///
    /// Writes nothing if `out` is shorter than the digest: snow always passes a `MAXHASHLEN`
    /// (64-byte) buffer or one of exactly `hash_len()` bytes.
    fn result(&mut self, out: &mut [u8]) {
        let digest = Digest::finalize_reset(&mut self.hasher);
        if let Some(dst) = out.get_mut(..digest.len()) {
            dst.copy_from_slice(&digest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use alloc::format;
    use alloc::string::String;
    use alloc::vec;
    use alloc::vec::Vec;
    use serde_json::Value;
    use snow::params::NoiseParams;

    const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/noise_vectors.json");

    fn key32(hex_str: &str) -> [u8; 32] {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    fn resolver(entropy: [u8; 32]) -> Box<TetherResolver> {
        Box::new(TetherResolver::new(Zeroizing::new(entropy)))
    }

    /// Byte strings of a vector field, if present.
    fn field(v: &Value, name: &str) -> Option<Vec<u8>> {
        v.get(name)
            .map(|s| hex::decode(s.as_str().unwrap()).unwrap())
    }

    fn psks(v: &Value, name: &str) -> Vec<[u8; 32]> {
        match v.get(name) {
            Some(list) => list
                .as_array()
                .unwrap()
                .iter()
                .map(|s| key32(s.as_str().unwrap()))
                .collect(),
            None => Vec::new(),
        }
    }

    /// The PSK locations of a pattern name such as `XXpsk3` or `NNpsk0+psk2`, in order.
    fn psk_locations(protocol_name: &str) -> Vec<u8> {
        let pattern = protocol_name.split('_').nth(1).unwrap();
        pattern
            .match_indices("psk")
            .map(|(i, _)| {
                let digit = pattern.as_bytes()[i + 3];
                assert!(digit.is_ascii_digit(), "{protocol_name}");
                digit - b'0'
            })
            .collect()
    }

    fn build(v: &Value, side: &str, initiator: bool) -> snow::HandshakeState {
        let name = v["protocol_name"].as_str().unwrap();
        let params: NoiseParams = name.parse().unwrap();
        let entropy = key32(v[&format!("{side}_ephemeral")].as_str().unwrap());
        let prologue = field(v, &format!("{side}_prologue")).unwrap();
        let local = field(v, &format!("{side}_static"));
        let remote = field(v, &format!("{side}_remote_static"));
        let keys = psks(v, &format!("{side}_psks"));
        let locations = psk_locations(name);
        assert_eq!(keys.len(), locations.len(), "{name}: PSK count");

        let mut builder = snow::Builder::with_resolver(params, resolver(entropy))
            .prologue(&prologue)
            .unwrap();
        if let Some(local) = &local {
            builder = builder.local_private_key(local).unwrap();
        }
        if let Some(remote) = &remote {
            builder = builder.remote_public_key(remote).unwrap();
        }
        for (location, key) in locations.iter().zip(&keys) {
            builder = builder.psk(*location, key).unwrap();
        }
        if initiator {
            builder.build_initiator().unwrap()
        } else {
            builder.build_responder().unwrap()
        }
    }

    fn runnable(protocol_name: &str) -> bool {
        cfg!(feature = "aes-gcm")
            || !(protocol_name.contains("AESGCM") || protocol_name.contains("SHA256"))
    }

    /// Runs one vector; every message alternates initiator -> responder -> initiator ...
    fn run_vector(v: &Value) {
        let name = v["protocol_name"].as_str().unwrap();
        let mut init = build(v, "init", true);
        let mut resp = build(v, "resp", false);
        let messages = v["messages"].as_array().unwrap();
        let mut buf = vec![0u8; 65535];
        let mut plain = vec![0u8; 65535];

        let mut index = 0;
        while !(init.is_handshake_finished() && resp.is_handshake_finished()) {
            let m = &messages[index];
            let payload = hex::decode(m["payload"].as_str().unwrap()).unwrap();
            let ciphertext = hex::decode(m["ciphertext"].as_str().unwrap()).unwrap();
            let (sender, receiver) = if index % 2 == 0 {
                (&mut init, &mut resp)
            } else {
                (&mut resp, &mut init)
            };
            let len = sender.write_message(&payload, &mut buf).unwrap();
            assert_eq!(
                hex::encode(&buf[..len]),
                hex::encode(&ciphertext),
                "{name}: handshake message {index}"
            );
            let len = receiver.read_message(&ciphertext, &mut plain).unwrap();
            assert_eq!(&plain[..len], &payload[..], "{name}: payload {index}");
            index += 1;
        }

        assert_eq!(init.get_handshake_hash(), resp.get_handshake_hash());
        if let Some(hash) = field(v, "handshake_hash") {
            assert_eq!(
                hex::encode(init.get_handshake_hash()),
                hex::encode(&hash),
                "{name}: handshake hash"
            );
        }

        let mut init = init.into_transport_mode().unwrap();
        let mut resp = resp.into_transport_mode().unwrap();
        let transport = messages.len() - index;
        assert!(transport > 0, "{name}: no transport messages");
        for (index, m) in messages.iter().enumerate().skip(index) {
            let payload = hex::decode(m["payload"].as_str().unwrap()).unwrap();
            let ciphertext = hex::decode(m["ciphertext"].as_str().unwrap()).unwrap();
            let (sender, receiver) = if index % 2 == 0 {
                (&mut init, &mut resp)
            } else {
                (&mut resp, &mut init)
            };
            let len = sender.write_message(&payload, &mut buf).unwrap();
            assert_eq!(
                hex::encode(&buf[..len]),
                hex::encode(&ciphertext),
                "{name}: transport message {index}"
            );
            let len = receiver.read_message(&ciphertext, &mut plain).unwrap();
            assert_eq!(&plain[..len], &payload[..], "{name}: payload {index}");
        }
    }

    #[test]
    fn cacophony_vectors() {
        let text = std::fs::read_to_string(VECTORS).unwrap();
        let json: Value = serde_json::from_str(&text).unwrap();
        let vectors = json["vectors"].as_array().unwrap();
        assert_eq!(vectors.len(), 40);

        let mut ran: Vec<String> = Vec::new();
        for v in vectors {
            let name = v["protocol_name"].as_str().unwrap();
            if !runnable(name) {
                continue;
            }
            run_vector(v);
            ran.push(name.into());
        }
        // 10 patterns x {ChaChaPoly, AESGCM} x {BLAKE2s, SHA256}; only ChaChaPoly_BLAKE2s without
        // the aes-gcm feature.
        let expected = if cfg!(feature = "aes-gcm") { 40 } else { 10 };
        assert_eq!(ran.len(), expected, "ran: {ran:?}");
    }

    #[test]
    fn psk_locations_parse() {
        assert_eq!(psk_locations("Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s"), [3]);
        assert_eq!(
            psk_locations("Noise_NNpsk0+psk2_25519_ChaChaPoly_BLAKE2s"),
            [0, 2]
        );
        assert!(psk_locations("Noise_XX_25519_ChaChaPoly_BLAKE2s").is_empty());
    }

    /// No cacophony vector covers XXpsk0 (tether's pairing pattern): run it end to end with
    /// both suites, and check that a wrong PSK fails on the first message.
    #[test]
    fn xxpsk0_round_trip() {
        let suites = [
            "25519_ChaChaPoly_BLAKE2s",
            #[cfg(feature = "aes-gcm")]
            "25519_AESGCM_SHA256",
        ];
        for suite in suites {
            let name = format!("Noise_XXpsk0_{suite}");
            let psk = [7u8; 32];
            let init_static = [1u8; 32];
            let resp_static = [2u8; 32];
            let mut init = snow::Builder::with_resolver(name.parse().unwrap(), resolver([3; 32]))
                .local_private_key(&init_static)
                .unwrap()
                .psk(0, &psk)
                .unwrap()
                .build_initiator()
                .unwrap();
            let mut resp = snow::Builder::with_resolver(name.parse().unwrap(), resolver([4; 32]))
                .local_private_key(&resp_static)
                .unwrap()
                .psk(0, &psk)
                .unwrap()
                .build_responder()
                .unwrap();
            let mut buf = [0u8; 256];
            let mut plain = [0u8; 256];
            let mut turn = 0;
            while !init.is_handshake_finished() {
                let (s, r) = if turn % 2 == 0 {
                    (&mut init, &mut resp)
                } else {
                    (&mut resp, &mut init)
                };
                let len = s.write_message(b"hello", &mut buf).unwrap();
                let n = r.read_message(&buf[..len], &mut plain).unwrap();
                assert_eq!(&plain[..n], b"hello");
                turn += 1;
            }
            assert_eq!(turn, 3);
            assert!(resp.is_handshake_finished());
            assert_eq!(init.get_handshake_hash(), resp.get_handshake_hash());
            let mut init = init.into_transport_mode().unwrap();
            let mut resp = resp.into_transport_mode().unwrap();
            let len = init.write_message(b"telemetry", &mut buf).unwrap();
            let n = resp.read_message(&buf[..len], &mut plain).unwrap();
            assert_eq!(&plain[..n], b"telemetry");

            // Wrong PSK on the responder: the first message does not authenticate.
            let mut init = snow::Builder::with_resolver(name.parse().unwrap(), resolver([3; 32]))
                .local_private_key(&init_static)
                .unwrap()
                .psk(0, &psk)
                .unwrap()
                .build_initiator()
                .unwrap();
            let mut resp = snow::Builder::with_resolver(name.parse().unwrap(), resolver([4; 32]))
                .local_private_key(&resp_static)
                .unwrap()
                .psk(0, &[8u8; 32])
                .unwrap()
                .build_responder()
                .unwrap();
            let len = init.write_message(b"hello", &mut buf).unwrap();
            assert_eq!(
                resp.read_message(&buf[..len], &mut plain),
                Err(snow::Error::Decrypt)
            );
        }
    }

    #[test]
    fn rng_serves_entropy_once() {
        let entropy: [u8; 32] = core::array::from_fn(|i| i as u8 + 1);
        let resolver = TetherResolver::new(Zeroizing::new(entropy));
        let mut rng = resolver.resolve_rng().unwrap();
        let mut out = [0u8; 32];
        rng.try_fill_bytes(&mut out).unwrap();
        assert_eq!(out, entropy);

        // A second draw from the same generator fails and writes nothing.
        let mut again = [0u8; 32];
        assert_eq!(rng.try_fill_bytes(&mut again), Err(snow::Error::Rng));
        assert_eq!(again, [0u8; 32]);

        // So does a second generator from the same resolver.
        let mut rng2 = resolver.resolve_rng().unwrap();
        assert_eq!(rng2.try_fill_bytes(&mut again), Err(snow::Error::Rng));
        assert_eq!(again, [0u8; 32]);
    }

    #[test]
    fn rng_refuses_more_than_it_has() {
        let resolver = TetherResolver::new(Zeroizing::new([9u8; 32]));
        let mut rng = resolver.resolve_rng().unwrap();
        let mut big = [0u8; 33];
        assert_eq!(rng.try_fill_bytes(&mut big), Err(snow::Error::Rng));
        assert_eq!(big, [0u8; 33]);
        // The failed request spent the generator.
        let mut out = [0u8; 32];
        assert_eq!(rng.try_fill_bytes(&mut out), Err(snow::Error::Rng));
    }

    #[test]
    fn second_ephemeral_from_one_resolver_fails() {
        // `generate_keypair` spends the entropy; the handshake built from the same builder then
        // cannot draw its ephemeral key.
        let name = "Noise_NN_25519_ChaChaPoly_BLAKE2s";
        let builder = snow::Builder::with_resolver(name.parse().unwrap(), resolver([5; 32]));
        let keypair = builder.generate_keypair().unwrap();
        assert_eq!(keypair.private, [5u8; 32]);
        let mut hs = builder.build_initiator().unwrap();
        let mut buf = [0u8; 128];
        assert_eq!(hs.write_message(&[], &mut buf), Err(snow::Error::Rng));
    }

    #[test]
    fn debug_hides_entropy() {
        let resolver = TetherResolver::new(Zeroizing::new([0xab; 32]));
        let text = format!("{resolver:?}");
        assert!(!text.contains("171"), "{text}");
        assert!(text.contains("entropy_unused: true"), "{text}");
        let _ = resolver.resolve_rng();
        assert!(format!("{resolver:?}").contains("entropy_unused: false"));

        let mut dh = Dh25519::default();
        dh.set(&[0xab; 32]);
        let text = format!("{dh:?}");
        assert!(!text.contains("171, 171"), "{text}");
        let mut cipher = ChaChaPoly::default();
        cipher.set(&[0xab; 32]);
        assert!(!format!("{cipher:?}").contains("171"));
    }

    #[test]
    fn rfc7748_x25519() {
        // RFC 7748, section 6.1.
        let alice_private =
            key32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let alice_public =
            key32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let bob_private = key32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let bob_public = key32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let shared = key32("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");

        let mut alice = Dh25519::default();
        alice.set(&alice_private);
        assert_eq!(alice.pubkey(), alice_public);
        assert_eq!(alice.privkey(), alice_private);
        let mut bob = Dh25519::default();
        bob.set(&bob_private);
        assert_eq!(bob.pubkey(), bob_public);

        // snow passes MAXDHLEN (56-byte) buffers; only the first 32 bytes count.
        let mut peer = [0xffu8; 56];
        peer[..32].copy_from_slice(&bob_public);
        let mut out = [0u8; 56];
        alice.dh(&peer, &mut out).unwrap();
        assert_eq!(out[..32], shared);
        assert_eq!(out[32..], [0u8; 24]);

        let mut out = [0u8; 32];
        bob.dh(&alice_public, &mut out).unwrap();
        assert_eq!(out, shared);
    }

    #[test]
    fn dh_rejects_low_order_points() {
        let mut dh = Dh25519::default();
        dh.set(&key32(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        // u = 0 and u = 1 (both of small order): the shared secret is all zero.
        let mut one = [0u8; 32];
        one[0] = 1;
        for point in [[0u8; 32], one] {
            let mut out = [0x55u8; 32];
            assert_eq!(dh.dh(&point, &mut out), Err(snow::Error::Dh));
            assert_eq!(out, [0x55u8; 32], "nothing written");
        }
    }

    #[test]
    fn dh_without_key_or_with_short_buffers_fails() {
        let mut dh = Dh25519::default();
        let bob_public = key32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        let mut out = [0u8; 32];
        assert_eq!(dh.dh(&bob_public, &mut out), Err(snow::Error::Dh));
        assert!(dh.privkey().is_empty());

        dh.set(&[1u8; 31]);
        assert_eq!(dh.dh(&bob_public, &mut out), Err(snow::Error::Dh));
        assert_eq!(dh.pubkey(), [0u8; 32]);

        dh.set(&[1u8; 32]);
        assert_eq!(dh.dh(&bob_public[..31], &mut out), Err(snow::Error::Dh));
        assert_eq!(dh.dh(&bob_public, &mut out[..31]), Err(snow::Error::Dh));
        dh.dh(&bob_public, &mut out).unwrap();
    }

    #[test]
    fn dh_generate_draws_from_rng() {
        let resolver = TetherResolver::new(Zeroizing::new([6u8; 32]));
        let mut rng = resolver.resolve_rng().unwrap();
        let mut dh = Dh25519::default();
        dh.generate(&mut *rng).unwrap();
        assert_eq!(dh.privkey(), [6u8; 32]);
        let mut expected = Dh25519::default();
        expected.set(&[6u8; 32]);
        assert_eq!(dh.pubkey(), expected.pubkey());
        // The generator is spent: a second key fails and leaves no key behind.
        assert_eq!(dh.generate(&mut *rng), Err(snow::Error::Rng));
        assert!(dh.privkey().is_empty());
    }

    #[test]
    fn resolver_refuses_unsupported_primitives() {
        let resolver = TetherResolver::new(Zeroizing::new([0u8; 32]));
        assert!(resolver.resolve_dh(&DHChoice::Curve448).is_none());
        assert!(resolver.resolve_hash(&HashChoice::SHA512).is_none());
        assert!(resolver.resolve_hash(&HashChoice::Blake2b).is_none());

        let dh = resolver.resolve_dh(&DHChoice::Curve25519).unwrap();
        assert_eq!((dh.name(), dh.pub_len(), dh.priv_len()), ("25519", 32, 32));
        let hash = resolver.resolve_hash(&HashChoice::Blake2s).unwrap();
        assert_eq!(
            (hash.name(), hash.block_len(), hash.hash_len()),
            ("BLAKE2s", 64, 32)
        );
        let cipher = resolver.resolve_cipher(&CipherChoice::ChaChaPoly).unwrap();
        assert_eq!(cipher.name(), "ChaChaPoly");

        let sha256 = resolver.resolve_hash(&HashChoice::SHA256);
        let aesgcm = resolver.resolve_cipher(&CipherChoice::AESGCM);
        if cfg!(feature = "aes-gcm") {
            let hash = sha256.unwrap();
            assert_eq!(
                (hash.name(), hash.block_len(), hash.hash_len()),
                ("SHA256", 64, 32)
            );
            assert_eq!(aesgcm.unwrap().name(), "AESGCM");
        } else {
            assert!(sha256.is_none());
            assert!(aesgcm.is_none());
        }

        // snow refuses to build such a handshake.
        for name in [
            "Noise_NN_448_ChaChaPoly_BLAKE2s",
            "Noise_NN_25519_ChaChaPoly_SHA512",
            "Noise_NN_25519_ChaChaPoly_BLAKE2b",
        ] {
            let result = snow::Builder::with_resolver(name.parse().unwrap(), resolver_box())
                .build_initiator();
            assert!(matches!(result, Err(snow::Error::Init(_))), "{name}");
        }
    }

    fn resolver_box() -> Box<TetherResolver> {
        resolver([1; 32])
    }

    fn ciphers() -> Vec<Box<dyn Cipher>> {
        let resolver = resolver_box();
        let mut out = vec![resolver.resolve_cipher(&CipherChoice::ChaChaPoly).unwrap()];
        if let Some(aes) = resolver.resolve_cipher(&CipherChoice::AESGCM) {
            out.push(aes);
        }
        out
    }

    #[test]
    fn cipher_round_trip_and_tamper() {
        for mut cipher in ciphers() {
            cipher.set(&[0x42; 32]);
            let mut ct = [0u8; 5 + 16];
            assert_eq!(cipher.encrypt(7, b"ad", b"hello", &mut ct), 21);
            let mut pt = [0u8; 5];
            assert_eq!(cipher.decrypt(7, b"ad", &ct, &mut pt), Ok(5));
            assert_eq!(&pt, b"hello");

            // Wrong nonce, wrong associated data, flipped bit: refused, nothing left in `out`.
            for (nonce, ad, flip) in [
                (8, &b"ad"[..], None),
                (7, &b"ae"[..], None),
                (7, &b"ad"[..], Some(20)),
            ] {
                let mut bad = ct;
                if let Some(i) = flip {
                    bad[i] ^= 1;
                }
                let mut pt = [0x55u8; 5];
                assert_eq!(
                    cipher.decrypt(nonce, ad, &bad, &mut pt),
                    Err(snow::Error::Decrypt),
                    "{}",
                    cipher.name()
                );
                assert_eq!(pt, [0u8; 5]);
            }

            // Short inputs and outputs: no panic, nothing written.
            assert_eq!(
                cipher.decrypt(7, b"ad", &ct[..15], &mut pt),
                Err(snow::Error::Decrypt)
            );
            assert_eq!(
                cipher.decrypt(7, b"ad", &ct, &mut pt[..4]),
                Err(snow::Error::Decrypt)
            );
            let mut small = [0u8; 20];
            assert_eq!(cipher.encrypt(7, b"ad", b"hello", &mut small), 0);
            assert_eq!(small, [0u8; 20]);

            // Empty plaintext: only the tag.
            let mut tag = [0u8; 16];
            assert_eq!(cipher.encrypt(0, &[], &[], &mut tag), 16);
            assert_eq!(cipher.decrypt(0, &[], &tag, &mut []), Ok(0));

            // snow's default rekey (encrypt 32 zero bytes at nonce 2^64-1) works and changes
            // the key.
            cipher.rekey();
            assert_eq!(
                cipher.decrypt(7, b"ad", &ct, &mut pt),
                Err(snow::Error::Decrypt)
            );
        }
    }

    #[test]
    fn chachapoly_matches_rfc8439_nonce_layout() {
        // The Noise nonce for counter n is 0x00000000 || n (little-endian) for ChaChaPoly.
        assert_eq!(nonce_le(1), [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        #[cfg(feature = "aes-gcm")]
        assert_eq!(nonce_be(1), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn blake2s_helper() {
        // RFC 7693, appendix B.
        let expected = key32("508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
        assert_eq!(blake2s(&[b"abc"]), expected);
        assert_eq!(blake2s(&[b"a", b"", b"bc"]), expected);
        assert_eq!(
            blake2s(&[]),
            key32("69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9")
        );

        // The snow Hash over the same digest agrees, and `result` resets the state.
        let resolver = resolver_box();
        let mut hash = resolver.resolve_hash(&HashChoice::Blake2s).unwrap();
        hash.input(b"ab");
        hash.input(b"c");
        let mut out = [0u8; 64];
        hash.result(&mut out);
        assert_eq!(out[..32], expected);
        assert_eq!(out[32..], [0u8; 32]);
        hash.input(b"abc");
        let mut out = [0u8; 32];
        hash.result(&mut out);
        assert_eq!(out, expected);
        // Too short an output: nothing written, no panic.
        hash.input(b"abc");
        let mut short = [0u8; 31];
        hash.result(&mut short);
        assert_eq!(short, [0u8; 31]);
    }
}
