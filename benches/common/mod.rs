//! Fixtures shared by the benchmark (`benches/tether.rs`) and the profiling workload
//! (`benches/profile.rs`): parties with fixed keys and realistic identities, tether's handshake
//! driven in memory, the same handshake in plain snow, the raw keyed-once AEAD, snow's transport,
//! and the X25519 operations that bound a handshake from below.
#![allow(dead_code)]

use std::hint::black_box;

use aes_gcm::Aes256Gcm;
use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::ChaCha20Poly1305;
use rand_core::{CryptoRng, RngCore};
use snow::params::{CipherChoice, DHChoice, HashChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver, FallbackResolver};
use snow::types::{Cipher, Dh, Hash, Random};
use snow::{HandshakeState, TransportState};
use tether::handshake::Established;
use tether::pairing::PairingCode;
use tether::policy::{AllowList, PeerInfo, PinnedKey, Rejection};
use tether::*;

/// Wall clock for credential checks, and the monotonic clock of the record layer (frozen: no
/// time-based key update fires during a measurement).
pub const NOW: UnixTime = UnixTime(1_790_000_000);
pub const T0: Instant = Instant(0);

/// Plaintext sizes measured: a reading, a full Ethernet-sized record, the largest record.
pub const SIZES: [usize; 3] = [64, 1400, 16384];
pub const SUITES: [Suite; 2] = [Suite::ChaChaPolyBlake2s, Suite::AesGcmSha256];
pub const FRAMINGS: [Framing; 2] = [Framing::Stream, Framing::Datagram];

pub fn suite_name(s: Suite) -> &'static str {
    match s {
        Suite::ChaChaPolyBlake2s => "chachapoly",
        Suite::AesGcmSha256 => "aesgcm",
    }
}

pub fn suite_suffix(s: Suite) -> &'static str {
    match s {
        Suite::ChaChaPolyBlake2s => "25519_ChaChaPoly_BLAKE2s",
        Suite::AesGcmSha256 => "25519_AESGCM_SHA256",
    }
}

pub fn framing_name(f: Framing) -> &'static str {
    match f {
        Framing::Stream => "stream",
        Framing::Datagram => "datagram",
    }
}

pub fn pattern_name(p: Pattern) -> &'static str {
    match p {
        Pattern::Provisioned => "provisioned",
        Pattern::Enrollment => "enrollment",
        Pattern::Pairing => "pairing",
        Pattern::Reconnect => "reconnect",
    }
}

/// The DH and key-generation operations a pattern needs, both sides together, counted from its
/// Noise tokens: every `ee`/`es`/`se`/`ss` is one DH on each side; every `e` one key generation
/// on its writer. (Not counted: deriving each side's static public key from its private key,
/// which snow's `Dh::set` does again at every handshake; see benches/README.md.)
pub fn floor_ops(p: Pattern) -> (u32, u32) {
    match p {
        // -> e, es, s, ss   <- e, ee, se: 4 DH tokens, 2 ephemerals
        Pattern::Provisioned => (8, 2),
        // -> e   <- e, ee, s, es   -> s, se: 3 DH tokens
        Pattern::Enrollment | Pattern::Pairing => (6, 2),
        // -> e, es, ss   <- e, ee, se: 4 DH tokens
        Pattern::Reconnect => (8, 2),
    }
}

/// A deterministic, cheap generator (SplitMix64) standing in for the caller's entropy, the same
/// for tether and for snow so that neither pays more for randomness. Benchmarks only.
#[derive(Clone)]
pub struct BenchRng(pub u64);

impl BenchRng {
    fn step(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl RngCore for BenchRng {
    fn next_u32(&mut self) -> u32 {
        self.step() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.step()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let v = self.step().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for BenchRng {}

impl Random for BenchRng {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// snow without `std`/`getrandom` has no generator: this resolver supplies one and nothing else;
/// [`FallbackResolver`] sends every primitive to snow's own `DefaultResolver`.
struct RngOnly(std::cell::Cell<u64>);

impl CryptoResolver for RngOnly {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        let seed = self.0.get();
        self.0.set(seed.wrapping_add(1));
        Some(Box::new(BenchRng(seed)))
    }
    fn resolve_dh(&self, _: &DHChoice) -> Option<Box<dyn Dh>> {
        None
    }
    fn resolve_hash(&self, _: &HashChoice) -> Option<Box<dyn Hash>> {
        None
    }
    fn resolve_cipher(&self, _: &CipherChoice) -> Option<Box<dyn Cipher>> {
        None
    }
}

/// snow's own primitives (`DefaultResolver`) plus a generator.
pub fn snow_resolver(seed: u64) -> Box<dyn CryptoResolver + Send> {
    Box::new(FallbackResolver::new(
        Box::new(RngOnly(std::cell::Cell::new(seed))),
        Box::new(DefaultResolver),
    ))
}

/// The three parties of tether's situations, with fixed keys and realistic identities (no
/// manufacturer credential).
pub struct Parties {
    pub device: StaticKeypair,
    pub cloud: StaticKeypair,
    pub phone: StaticKeypair,
    pub device_id: Identity,
    pub cloud_id: Identity,
    pub phone_id: Identity,
    pub code: PairingCode,
}

impl Default for Parties {
    fn default() -> Self {
        Self::new()
    }
}

impl Parties {
    pub fn new() -> Self {
        let device = StaticKeypair::from_secret([1; 32]);
        let code = PairingCode::from_secret([9; 16], &device.public());
        Parties {
            device,
            cloud: StaticKeypair::from_secret([2; 32]),
            phone: StaticKeypair::from_secret([3; 32]),
            device_id: Identity::new(b"SN-0001", "PulseOximeter P3", "2.4.1", b"k1").unwrap(),
            cloud_id: Identity::new(b"ingest.example", "gateway", "1.0", b"k1").unwrap(),
            phone_id: Identity::new(b"phone-app-7f3a", "CompanionApp", "3.2.0", b"k1").unwrap(),
            code,
        }
    }

    /// (initiator key, initiator identity, responder key, responder identity, channel) of the
    /// situation a pattern serves: a device calling the cloud for `Provisioned` and `Enrollment`,
    /// a phone calling its device for `Pairing` and `Reconnect`.
    pub fn roles(
        &self,
        p: Pattern,
    ) -> (
        &StaticKeypair,
        &Identity,
        &StaticKeypair,
        &Identity,
        ChannelKind,
    ) {
        match p {
            Pattern::Provisioned | Pattern::Enrollment => (
                &self.device,
                &self.device_id,
                &self.cloud,
                &self.cloud_id,
                ChannelKind::DeviceCloud,
            ),
            Pattern::Pairing | Pattern::Reconnect => (
                &self.phone,
                &self.phone_id,
                &self.device,
                &self.device_id,
                ChannelKind::DevicePhone,
            ),
        }
    }

    /// Encoded identity lengths (initiator, responder) for a pattern.
    pub fn identity_lens(&self, p: Pattern) -> (usize, usize) {
        let (_, iid, _, rid, _) = self.roles(p);
        let mut buf = [0u8; 256];
        (iid.encode(&mut buf).unwrap(), rid.encode(&mut buf).unwrap())
    }
}

/// One complete tether handshake, both sides, in memory: constructors, every message written and
/// read, the trust decisions (allow lists and pinned keys, the pairing fingerprint check), and
/// `finish` on both sides. Returns both results and the size of each unit that crossed.
pub fn tether_handshake(
    parties: &Parties,
    pattern: Pattern,
    suite: Suite,
    framing: Framing,
    rng: &mut BenchRng,
) -> (Established, Established, [usize; 3]) {
    tether_handshake_cached(parties, pattern, suite, framing, rng, None)
}

/// The same with a static-static DH cache on each side (initiator's, responder's): a repeat
/// handshake between peers that know each other once the caches are warm.
pub fn tether_handshake_cached(
    parties: &Parties,
    pattern: Pattern,
    suite: Suite,
    framing: Framing,
    rng: &mut BenchRng,
    caches: Option<(&DhCache, &DhCache)>,
) -> (Established, Established, [usize; 3]) {
    let (ikey, iid, rkey, rid, channel) = parties.roles(pattern);
    let icfg = HandshakeConfig {
        suite,
        channel,
        framing,
        context: b"",
        identity: iid,
        static_key: ikey,
        session: SessionConfig::default(),
        dh_cache: caches.map(|c| c.0),
    };
    let rcfg = ResponderConfig {
        suites: Suite::ENABLED,
        patterns: &[pattern],
        channel,
        framing,
        context: b"",
        identity: rid,
        static_key: rkey,
        session: SessionConfig::default(),
        known_initiator: (pattern == Pattern::Reconnect).then(|| ikey.public()),
        pairing: (pattern == Pattern::Pairing).then_some(&parties.code),
        allow_without_code: false,
        dh_cache: caches.map(|c| c.1),
    };
    // Who trusts whom: the cloud keeps a registry, a device pins its cloud or its bonded phone,
    // a phone pins its bonded device; in pairing the code (and its fingerprint) decides.
    let registry = [(iid.id(), ikey.public())];
    let mut accept_any = |_: &PeerInfo<'_>| -> Result<(), Rejection> { Ok(()) };
    let mut pin_r = PinnedKey(rkey.public());
    let mut pin_i = PinnedKey(ikey.public());
    let mut allow = AllowList::new(&registry);
    let (ipol, rpol): (&mut dyn TrustPolicy, &mut dyn TrustPolicy) = match pattern {
        Pattern::Provisioned => (&mut pin_r, &mut allow),
        Pattern::Enrollment => (&mut pin_r, &mut allow),
        Pattern::Pairing => (&mut accept_any, &mut pin_i),
        Pattern::Reconnect => (&mut pin_r, &mut pin_i),
    };
    let mut init = match pattern {
        Pattern::Provisioned => Initiator::provisioned(&icfg, &rkey.public(), rng),
        Pattern::Enrollment => Initiator::enrollment(&icfg, rng),
        Pattern::Pairing => Initiator::pairing(&icfg, &parties.code, rng),
        Pattern::Reconnect => Initiator::reconnect(&icfg, &rkey.public(), rng),
    }
    .unwrap();
    let mut sizes = [0usize; 3];
    let mut buf = [0u8; 1100];
    let n = init.write_message(&mut buf).unwrap();
    sizes[0] = n;
    let mut resp = Responder::accept(&rcfg, &buf[..n], rpol, NOW, rng).unwrap();
    let mut index = 1;
    while !(init.is_finished() && resp.is_finished()) {
        if resp.is_my_turn() {
            let n = resp.write_message(&mut buf).unwrap();
            init.read_message(&buf[..n], ipol, NOW).unwrap();
            sizes[index] = n;
        } else {
            let n = init.write_message(&mut buf).unwrap();
            resp.read_message(&buf[..n], rpol, NOW).unwrap();
            sizes[index] = n;
        }
        index += 1;
    }
    (init.finish(T0).unwrap(), resp.finish(T0).unwrap(), sizes)
}

/// What plain snow needs for the same handshake: the same protocol name, prologue bytes, keys and
/// payload sizes (the encoded identities, in the same messages).
pub struct SnowCase {
    pub params: NoiseParams,
    pub prologue: Vec<u8>,
    pub init_secret: [u8; 32],
    pub resp_secret: [u8; 32],
    pub init_remote: Option<[u8; 32]>,
    pub resp_remote: Option<[u8; 32]>,
    pub psk: Option<[u8; 32]>,
    /// The payload of each message (the sender's encoded identity, or empty).
    pub payloads: Vec<Vec<u8>>,
}

impl SnowCase {
    pub fn new(parties: &Parties, pattern: Pattern, suite: Suite, framing: Framing) -> Self {
        let (ikey, iid, rkey, rid, channel) = parties.roles(pattern);
        let name = format!("Noise_{}_{}", pattern.noise_name(), suite_suffix(suite));
        // spec/PROTOCOL.md 4.2, empty context.
        let mut prologue = b"tether".to_vec();
        prologue.extend([
            PROTOCOL_VERSION,
            suite.id(),
            pattern.id(),
            channel.id(),
            framing as u8,
            0,
        ]);
        let encode = |id: &Identity| {
            let mut b = [0u8; 256];
            let n = id.encode(&mut b).unwrap();
            b[..n].to_vec()
        };
        let messages = pattern.message_count();
        let mut payloads = vec![Vec::new(); messages];
        payloads[pattern.identity_message(true)] = encode(iid);
        payloads[pattern.identity_message(false)] = encode(rid);
        // tether keeps secrets to itself: find the fixed seed `Parties` made each key from.
        let secret_of = |k: &StaticKeypair| -> [u8; 32] {
            let seed = [1u8, 2, 3]
                .into_iter()
                .find(|&s| StaticKeypair::from_secret([s; 32]).public() == k.public())
                .unwrap();
            [seed; 32]
        };
        let knows_r = pattern.initiator_knows_responder();
        let knows_i = pattern.responder_knows_initiator();
        SnowCase {
            params: name.parse().unwrap(),
            prologue,
            init_secret: secret_of(ikey),
            resp_secret: secret_of(rkey),
            init_remote: knows_r.then(|| rkey.public().0),
            resp_remote: knows_i.then(|| ikey.public().0),
            // Any 32 bytes: plain snow just mixes a PSK.
            psk: (pattern == Pattern::Pairing).then_some([0x5a; 32]),
            payloads,
        }
    }

    fn build(&self, initiator: bool, seed: u64) -> HandshakeState {
        let (secret, remote) = if initiator {
            (&self.init_secret, &self.init_remote)
        } else {
            (&self.resp_secret, &self.resp_remote)
        };
        let mut b = snow::Builder::with_resolver(self.params.clone(), snow_resolver(seed))
            .prologue(&self.prologue)
            .unwrap()
            .local_private_key(secret)
            .unwrap();
        if let Some(r) = remote {
            b = b.remote_public_key(r).unwrap();
        }
        if let Some(psk) = &self.psk {
            b = b.psk(0, psk).unwrap();
        }
        if initiator {
            b.build_initiator().unwrap()
        } else {
            b.build_responder().unwrap()
        }
    }

    /// One complete plain-snow handshake, both sides, into transport mode.
    pub fn run(&self, seed: u64) -> (TransportState, TransportState) {
        let mut i = self.build(true, seed);
        let mut r = self.build(false, seed.wrapping_add(0x1000));
        let mut buf = [0u8; 1100];
        let mut payload = [0u8; 1100];
        for (index, p) in self.payloads.iter().enumerate() {
            let (w, rd) = if index % 2 == 0 {
                (&mut i, &mut r)
            } else {
                (&mut r, &mut i)
            };
            let n = w.write_message(p, &mut buf).unwrap();
            let m = rd.read_message(&buf[..n], &mut payload).unwrap();
            black_box(&payload[..m]);
        }
        (
            i.into_transport_mode().unwrap(),
            r.into_transport_mode().unwrap(),
        )
    }
}

/// A session pair (device, cloud) from a Provisioned handshake.
pub fn session_pair(parties: &Parties, suite: Suite, framing: Framing) -> (Session, Session) {
    let (i, r, _) = tether_handshake(
        parties,
        Pattern::Provisioned,
        suite,
        framing,
        &mut BenchRng(1),
    );
    (i.session, r.session)
}

/// The sender seals one record and the peer opens every unit `seal` wrote (one, or two when an
/// automatic key update was due). On a stream each unit is opened directly, as the
/// `StreamDecoder` would return it when a whole unit is in one read (its zero-copy path).
#[inline(never)]
pub fn tether_seal_open(
    tx: &mut Session,
    rx: &mut Session,
    msg: &[u8],
    wire: &mut [u8],
    out: &mut [u8],
) -> usize {
    let sealed = tx.seal(T0, msg, wire).unwrap();
    let mut got = 0;
    for unit in sealed.units(wire) {
        if let Event::Data(d) = rx.open(T0, unit, out).unwrap() {
            got += d.len();
        }
    }
    got
}

/// The same with the in-place API: the plaintext lies at `buf[tx.seal_headroom()..][..len]`,
/// is sealed where it lies, and each unit is opened where it is, which puts the plaintext back at
/// the same place for the next iteration.
#[inline(never)]
pub fn tether_seal_open_in_place(
    tx: &mut Session,
    rx: &mut Session,
    len: usize,
    buf: &mut [u8],
) -> usize {
    let sealed = tx.seal_in_place(T0, buf, len).unwrap();
    let (key_update, record) =
        buf[sealed.start..sealed.start + sealed.total()].split_at_mut(sealed.key_update);
    if !key_update.is_empty() {
        rx.open_in_place(T0, key_update).unwrap();
    }
    match rx.open_in_place(T0, record).unwrap() {
        Event::Data(d) => d.len(),
        _ => 0,
    }
}

/// The raw AEAD of a suite, keyed once.
pub enum RawAead {
    ChaCha(Box<ChaCha20Poly1305>),
    Aes(Box<Aes256Gcm>),
}

impl RawAead {
    pub fn new(suite: Suite, key: &[u8; 32]) -> Self {
        let key = GenericArray::from_slice(key);
        match suite {
            Suite::ChaChaPolyBlake2s => RawAead::ChaCha(Box::new(ChaCha20Poly1305::new(key))),
            Suite::AesGcmSha256 => RawAead::Aes(Box::new(Aes256Gcm::new(key))),
        }
    }
}

/// The floor of a record: one sender and one receiver AEAD, each keyed once, sealing and opening
/// in place with a counter nonce and the same 9 bytes of associated data that a tether record
/// authenticates (flags || counter). No framing, no copies, no checks.
pub struct RawPair {
    pub tx: RawAead,
    pub rx: RawAead,
    pub counter: u64,
}

impl RawPair {
    pub fn new(suite: Suite) -> Self {
        RawPair {
            tx: RawAead::new(suite, &[0x42; 32]),
            rx: RawAead::new(suite, &[0x42; 32]),
            counter: 0,
        }
    }

    #[inline(never)]
    pub fn seal_open(&mut self, buf: &mut [u8]) {
        self.counter += 1;
        let c = self.counter.to_be_bytes();
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&c);
        let nonce = GenericArray::from(nonce);
        let mut ad = [0x10u8; 9];
        ad[1..].copy_from_slice(&c);
        let tag = match &self.tx {
            RawAead::ChaCha(a) => a.encrypt_in_place_detached(&nonce, &ad, buf),
            RawAead::Aes(a) => a.encrypt_in_place_detached(&nonce, &ad, buf),
        }
        .unwrap();
        match &self.rx {
            RawAead::ChaCha(a) => a.decrypt_in_place_detached(&nonce, &ad, buf, &tag),
            RawAead::Aes(a) => a.decrypt_in_place_detached(&nonce, &ad, buf, &tag),
        }
        .unwrap();
    }
}

/// snow's transport after a plain snow handshake (IK, same suite).
pub fn snow_transport_pair(parties: &Parties, suite: Suite) -> (TransportState, TransportState) {
    SnowCase::new(parties, Pattern::Provisioned, suite, Framing::Datagram).run(7)
}

/// snow's sender writes one transport message and the peer reads it.
#[inline(never)]
pub fn snow_write_read(
    tx: &mut TransportState,
    rx: &mut TransportState,
    msg: &[u8],
    wire: &mut [u8],
    out: &mut [u8],
) -> usize {
    let n = tx.write_message(msg, wire).unwrap();
    rx.read_message(&wire[..n], out).unwrap()
}

/// X25519 with x25519-dalek: the operations a handshake cannot avoid.
pub struct Floor {
    pub secret: x25519_dalek::StaticSecret,
    pub peer: x25519_dalek::PublicKey,
    pub seed: [u8; 32],
}

impl Default for Floor {
    fn default() -> Self {
        Self::new()
    }
}

impl Floor {
    pub fn new() -> Self {
        let secret = x25519_dalek::StaticSecret::from([0x11; 32]);
        let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([0x22; 32]));
        Floor {
            secret,
            peer,
            seed: [0x33; 32],
        }
    }

    /// One X25519 shared secret.
    pub fn dh(&self) -> [u8; 32] {
        self.secret.diffie_hellman(black_box(&self.peer)).to_bytes()
    }

    /// One key generation: a private key from 32 random bytes and its public key.
    pub fn keygen(&mut self, rng: &mut BenchRng) -> [u8; 32] {
        rng.fill_bytes(&mut self.seed);
        let s = x25519_dalek::StaticSecret::from(self.seed);
        x25519_dalek::PublicKey::from(&s).to_bytes()
    }
}
