//! Fixtures for the fuzz targets: fixed parties, deterministic entropy, established sessions, and
//! plain snow as the peer that writes real handshake messages around fuzzer-chosen payloads.

use std::sync::OnceLock;

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::{CryptoRng, RngCore};
use snow::params::{CipherChoice, DHChoice, HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use tether::credential::Credential;
use tether::identity::MAX_IDENTITY_LEN;
use tether::pairing::PairingCode;
use tether::policy::{ManufacturerCredential, PeerInfo, Rejection};
use tether::*;

pub const NOW: UnixTime = UnixTime(1_790_000_000);
/// The fixtures' static secrets and pairing secret (snow needs the raw bytes too).
pub const INIT_SECRET: [u8; 32] = [1; 32];
pub const RESP_SECRET: [u8; 32] = [2; 32];
pub const PAIRING_SECRET: [u8; 16] = [5; 16];
/// The issuer name of the fixed manufacturer key.
pub const ISSUER: &[u8] = b"mfr";

/// Deterministic entropy: fuzzing needs reproducible runs. Never use outside tests.
pub struct Counter(pub u8);

impl RngCore for Counter {
    fn next_u32(&mut self) -> u32 {
        u32::from(self.next_byte())
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_byte())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest {
            *d = self.next_byte();
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for Counter {}
impl Counter {
    fn next_byte(&mut self) -> u8 {
        self.0 = self.0.wrapping_mul(31).wrapping_add(7);
        self.0
    }
}

pub fn accept_all(_: &PeerInfo<'_>) -> Result<(), Rejection> {
    Ok(())
}

pub struct Parties {
    pub init_key: StaticKeypair,
    pub init_id: Identity,
    pub resp_key: StaticKeypair,
    pub resp_id: Identity,
    pub code: PairingCode,
}

pub fn parties() -> Parties {
    let resp_key = StaticKeypair::from_secret(RESP_SECRET);
    let code = PairingCode::from_secret(PAIRING_SECRET, &resp_key.public());
    Parties {
        init_key: StaticKeypair::from_secret(INIT_SECRET),
        init_id: Identity::new(b"SN-1", "fuzz", "1", b"k").unwrap(),
        resp_key,
        resp_id: Identity::new(b"cloud", "fuzz", "1", b"k").unwrap(),
        code,
    }
}

/// The same parties, built once (deriving their public keys costs more than most targets' work).
pub fn fixtures() -> &'static Parties {
    static PARTIES: OnceLock<Parties> = OnceLock::new();
    PARTIES.get_or_init(parties)
}

impl Parties {
    pub fn initiator_config(&self, suite: Suite, framing: Framing) -> HandshakeConfig<'_> {
        HandshakeConfig {
            suite,
            channel: ChannelKind::DeviceCloud,
            framing,
            context: b"",
            identity: &self.init_id,
            static_key: &self.init_key,
            session: SessionConfig::default(),
            dh_cache: None,
        }
    }

    pub fn responder_config(&self, framing: Framing) -> ResponderConfig<'_> {
        ResponderConfig {
            suites: Suite::ENABLED,
            patterns: &Pattern::ALL,
            channel: ChannelKind::DeviceCloud,
            framing,
            context: b"",
            identity: &self.resp_id,
            static_key: &self.resp_key,
            session: SessionConfig::default(),
            known_initiator: Some(self.init_key.public()),
            pairing: Some(&self.code),
            // One configuration answers every pattern, so that the fuzzer reaches them all.
            allow_without_code: true,
            dh_cache: None,
        }
    }

    /// A fresh initiator for `pattern` that has not written yet.
    pub fn initiator(&self, pattern: Pattern, suite: Suite, framing: Framing) -> Handshake {
        let cfg = self.initiator_config(suite, framing);
        let rng = &mut Counter(pattern.id());
        match pattern {
            Pattern::Provisioned => Initiator::provisioned(&cfg, &self.resp_key.public(), rng),
            Pattern::Enrollment => Initiator::enrollment(&cfg, rng),
            Pattern::Pairing => Initiator::pairing(&cfg, &self.code, rng),
            _ => Initiator::reconnect(&cfg, &self.resp_key.public(), rng),
        }
        .unwrap()
    }

    /// Two sessions keyed for each other without a handshake (cheap enough for every input), with
    /// keys that depend on every byte of `input`. With fixed keys a record sealed while running
    /// one input would be genuine in every other, and libFuzzer learns such records from the
    /// comparisons it watches: a target asserting that input it did not seal never opens would
    /// report a 'forgery' (one did).
    pub fn session_pair_for_input(
        suite: Suite,
        framing: Framing,
        input: &[u8],
    ) -> (Session, Session) {
        let mut state = input_seed(input);
        let mut key = || {
            let mut k = [0u8; 32];
            for chunk in k.chunks_mut(8) {
                chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
            }
            k
        };
        let (k1, k2) = (key(), key());
        (
            Session::for_fuzzing(suite, framing, k1, k2).unwrap(),
            Session::for_fuzzing(suite, framing, k2, k1).unwrap(),
        )
    }

    /// Plain snow as tether's peer: the initiator (`initiator`) or the responder of `pattern`,
    /// with the fixtures' keys, the pairing PSK, and the prologue written out from spec 4.2.
    pub fn snow_peer(
        &self,
        pattern: Pattern,
        suite: Suite,
        framing: Framing,
        initiator: bool,
    ) -> SnowPeer {
        let name = format!("Noise_{}_{}", pattern.noise_name(), suite.noise_suffix());
        let params: NoiseParams = name.parse().unwrap();
        let framing_id = match framing {
            Framing::Stream => 1,
            Framing::Datagram => 2,
        };
        let mut prologue = b"tether".to_vec();
        // version, suite, pattern, channel, framing, len(context); no context.
        prologue.extend([1, suite.id(), pattern.id(), 1, framing_id, 0]);
        let psk = pairing_psk(&self.code);
        let remote = match (pattern, initiator) {
            (Pattern::Provisioned | Pattern::Reconnect, true) => Some(self.resp_key.public()),
            (Pattern::Reconnect, false) => Some(self.init_key.public()),
            _ => None,
        };
        let resolver = Box::new(SnowResolver(pattern.id() | u8::from(initiator) << 4));
        let mut b = snow::Builder::with_resolver(params, resolver)
            .prologue(&prologue)
            .unwrap()
            .local_private_key(if initiator {
                &INIT_SECRET
            } else {
                &RESP_SECRET
            })
            .unwrap();
        if let Some(key) = &remote {
            b = b.remote_public_key(key.as_bytes()).unwrap();
        }
        if pattern == Pattern::Pairing {
            b = b.psk(0, &psk).unwrap();
        }
        let noise = if initiator {
            b.build_initiator()
        } else {
            b.build_responder()
        };
        SnowPeer {
            noise: noise.unwrap(),
            suite,
            pattern,
            framing,
            next: 0,
        }
    }
}

/// Plain snow on the other side of a tether handshake; frames and unframes as spec 4.3 says.
pub struct SnowPeer {
    pub noise: snow::HandshakeState,
    suite: Suite,
    pattern: Pattern,
    framing: Framing,
    next: usize,
}

impl SnowPeer {
    /// Header of message `next`: 0x50 || suite || pattern, 0x54, or 0x58.
    fn header(&self) -> Vec<u8> {
        match self.next {
            0 => vec![0x50, self.suite.id(), self.pattern.id()],
            1 => vec![0x54],
            _ => vec![0x58],
        }
    }

    /// Writes the next message with `payload`, framed (stream: u16 big-endian length first).
    pub fn write(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut noise = [0u8; 2048];
        let n = self.noise.write_message(payload, &mut noise).unwrap();
        let mut body = self.header();
        body.extend_from_slice(&noise[..n]);
        self.next += 1;
        match self.framing {
            Framing::Stream => [&(body.len() as u16).to_be_bytes()[..], &body].concat(),
            Framing::Datagram => body,
        }
    }

    /// Reads the next message from a unit tether wrote, checking its framing and header, and
    /// returns the payload.
    pub fn read(&mut self, unit: &[u8]) -> Vec<u8> {
        let body = match self.framing {
            Framing::Stream => {
                let (len, body) = unit.split_at(2);
                assert_eq!(
                    usize::from(u16::from_be_bytes([len[0], len[1]])),
                    body.len()
                );
                body
            }
            Framing::Datagram => unit,
        };
        let header = self.header();
        assert_eq!(body[..header.len()], header[..], "handshake header");
        let mut payload = [0u8; 2048];
        let n = self
            .noise
            .read_message(&body[header.len()..], &mut payload)
            .expect("snow reads tether's handshake message");
        self.next += 1;
        payload[..n].to_vec()
    }
}

/// The pairing PSK of spec 4.7, computed outside tether: BLAKE2s(label || secret || fingerprint).
pub fn pairing_psk(code: &PairingCode) -> [u8; 32] {
    let mut h = DefaultResolver.resolve_hash(&HashChoice::Blake2s).unwrap();
    h.input(b"tether-v1 pairing psk");
    h.input(&PAIRING_SECRET);
    h.input(code.fingerprint());
    let mut out = [0u8; 32];
    h.result(&mut out);
    out
}

/// snow's own primitives, with deterministic entropy for its ephemeral keys.
struct SnowResolver(u8);

impl CryptoResolver for SnowResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(SnowRng(Counter(self.0))))
    }
    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }
    fn resolve_hash(&self, choice: &HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }
    fn resolve_cipher(&self, choice: &CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

struct SnowRng(Counter);

impl Random for SnowRng {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.0.fill_bytes(dest);
        Ok(())
    }
}

/// The fixed manufacturer key that signs credentials for the fuzz targets.
pub fn manufacturer() -> &'static (SigningKey, VerifyingKey) {
    static KEY: OnceLock<(SigningKey, VerifyingKey)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = SigningKey::from_bytes(&[42; 32]);
        let public = key.verifying_key();
        (key, public)
    })
}

/// Accepts peers with a valid credential from [`manufacturer`] under [`ISSUER`].
pub fn credential_policy(peer: &PeerInfo<'_>) -> Result<(), Rejection> {
    let issuers = [(ISSUER, manufacturer().1)];
    ManufacturerCredential::new(&issuers, |_: &Identity, _: &PublicKey| false).check(peer)
}

/// The canonical encoding of the initiator's (`true`) or responder's fixture identity with a
/// genuine credential from [`manufacturer`] for its static key, valid an hour either side of NOW.
pub fn credentialed(initiator: bool) -> &'static [u8] {
    static CACHE: [OnceLock<Vec<u8>>; 2] = [OnceLock::new(), OnceLock::new()];
    CACHE[usize::from(initiator)].get_or_init(|| {
        let p = fixtures();
        let (id, key) = if initiator {
            (&p.init_id, p.init_key.public())
        } else {
            (&p.resp_id, p.resp_key.public())
        };
        let (nb, na) = (UnixTime(NOW.0 - 3600), UnixTime(NOW.0 + 3600));
        let c = Credential::issue(&manufacturer().0, ISSUER, id.id(), &key, nb, na).unwrap();
        let mut out = [0u8; MAX_IDENTITY_LEN];
        let n = id.clone().with_credential(c).encode(&mut out).unwrap();
        out[..n].to_vec()
    })
}

/// The Ed25519 signature of [`credentialed`]'s credential: the last 64 bytes of that encoding,
/// for callers that pass a credential field by field (the C ABI's `tether_identity`). The
/// credential is valid from [`CREDENTIAL_VALIDITY`]`.0` to `.1`, issued by [`ISSUER`].
pub fn credential_signature(initiator: bool) -> [u8; 64] {
    let encoded = credentialed(initiator);
    encoded[encoded.len() - 64..].try_into().unwrap()
}

/// The validity period of the fixture credentials: an hour either side of [`NOW`].
pub const CREDENTIAL_VALIDITY: (u64, u64) = (NOW.0 - 3600, NOW.0 + 3600);

/// A seed for [`splitmix64`] that depends on every byte of `input`, so that keys drawn from it
/// differ from one input to the next (see [`Parties::session_pair_for_input`]).
pub fn input_seed(input: &[u8]) -> u64 {
    input.iter().fold(0x7465_7468_6572_u64, |h, b| {
        let mut h = h ^ u64::from(*b);
        splitmix64(&mut h)
    })
}

/// SplitMix64: a deterministic stream of well-mixed words from a counter, for entropy callbacks
/// that must not repeat within one input (unlike [`Counter`], whose bytes cycle every 256).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Arbitrary bytes that start out as `base`, so that valid encodings are a few mutations away:
/// the first byte of `data` drops that many bytes (modulo) from the end of `base`, the rest is
/// XORed over what is left and extends it. All zeros give `base`.
pub fn mutate(base: &[u8], data: &[u8]) -> Vec<u8> {
    let (cut, edits) = data
        .split_first()
        .map_or((0, data), |(c, e)| (usize::from(*c), e));
    let mut out = base[..base.len() - cut % (base.len() + 1)].to_vec();
    for (i, e) in edits.iter().enumerate() {
        match out.get_mut(i) {
            Some(b) => *b ^= e,
            None => out.push(*e),
        }
    }
    out
}

/// What every accepted identity satisfies: `bytes` is exactly its canonical encoding (decode
/// then encode round-trips), at most 256 bytes, and each field within its bound.
pub fn check_identity(identity: &Identity, bytes: &[u8]) {
    let mut again = [0u8; MAX_IDENTITY_LEN];
    let n = identity
        .encode(&mut again)
        .expect("a decoded identity encodes");
    assert_eq!(&again[..n], bytes, "decode then encode changed the bytes");
    assert!(bytes.len() <= MAX_IDENTITY_LEN);
    assert!((1..=32).contains(&identity.id().len()));
    assert!(identity.model().len() <= 32);
    assert!(identity.version().len() <= 16);
    assert!(identity.key_id().len() <= 16);
    if let Some(c) = identity.credential() {
        assert!(c.issuer().len() <= 16);
    }
}

/// Reads a fuzz input front to back; past its end, bytes read as zero.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn byte(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }
    /// Two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}
