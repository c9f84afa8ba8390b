//! Memory hygiene: once tether frees a handshake or a session, none of its secrets is left in the
//! freed memory. A global allocator scans every block as it is freed for the secrets this test
//! knows: the pairing PSK, the handshake hash (next to snow's chaining key), the static and
//! ephemeral private keys, the epoch-0 record keys and the AES-GCM GHASH key derived from them.
//! (snow keeps the first three in its handshake state and erases nothing; aes-gcm's GHASH key
//! sits in a polyval union that is never dropped: tether overwrites both, see src/hygiene.rs.)
#![cfg(all(feature = "std", feature = "aes-gcm"))]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use common::*;
use tether::pairing::PairingCode;
use tether::*;

/// Scans freed blocks while armed.
struct Scanner;

static ARMED: AtomicBool = AtomicBool::new(false);
/// Bit i set: secret i was found in a freed block.
static FOUND: AtomicU64 = AtomicU64::new(0);
static SECRETS: Mutex<Vec<(&'static str, [u8; 16])>> = Mutex::new(Vec::new());

unsafe impl GlobalAlloc for Scanner {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.load(Ordering::SeqCst) {
            // try_lock: a free while this thread holds the lock (never while armed) is skipped.
            if let Ok(secrets) = SECRETS.try_lock() {
                let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
                for (i, (_, s)) in secrets.iter().enumerate() {
                    if block.windows(16).any(|w| w == s) {
                        FOUND.fetch_or(1 << i, Ordering::SeqCst);
                    }
                }
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Scanner = Scanner;

/// Both 16-byte halves of a 32-byte secret.
fn halves(name: &'static str, s: &[u8; 32]) -> [(&'static str, [u8; 16]); 2] {
    [
        (name, s[..16].try_into().unwrap()),
        (name, s[16..].try_into().unwrap()),
    ]
}

/// Runs `f` with the scanner armed for `secrets`; returns the names of those found.
fn freed_secrets(secrets: &[(&'static str, [u8; 16])], f: impl FnOnce()) -> Vec<&'static str> {
    *SECRETS.lock().unwrap() = secrets.to_vec();
    FOUND.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    let found = FOUND.load(Ordering::SeqCst);
    let mut names: Vec<_> = secrets
        .iter()
        .enumerate()
        .filter(|(i, _)| found & (1 << i) != 0)
        .map(|(_, (n, _))| *n)
        .collect();
    names.dedup();
    names
}

fn blake2s(parts: &[&[u8]]) -> [u8; 32] {
    use blake2::Digest;
    let mut h = blake2::Blake2s256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The GHASH key of AES-256-GCM under `key`, in the forms aes-gcm and polyval store it.
fn ghash_forms(key: &[u8; 32]) -> [[u8; 16]; 2] {
    use aes::cipher::{BlockEncrypt, KeyInit};
    let cipher = aes::Aes256::new(key.into());
    let mut h = [0u8; 16].into();
    cipher.encrypt_block(&mut h);
    let mut reversed: [u8; 16] = h.into();
    reversed.reverse();
    let polyval_key = polyval::mulx(&reversed.into());
    [h.into(), polyval_key.into()]
}

/// snow's own primitives, and a generator that is never asked (the ephemeral keys are fixed).
struct NoRandom;

impl snow::resolvers::CryptoResolver for NoRandom {
    fn resolve_rng(&self) -> Option<Box<dyn snow::types::Random>> {
        Some(Box::new(Unused))
    }
    fn resolve_dh(&self, c: &snow::params::DHChoice) -> Option<Box<dyn snow::types::Dh>> {
        snow::resolvers::DefaultResolver.resolve_dh(c)
    }
    fn resolve_hash(&self, c: &snow::params::HashChoice) -> Option<Box<dyn snow::types::Hash>> {
        snow::resolvers::DefaultResolver.resolve_hash(c)
    }
    fn resolve_cipher(
        &self,
        c: &snow::params::CipherChoice,
    ) -> Option<Box<dyn snow::types::Cipher>> {
        snow::resolvers::DefaultResolver.resolve_cipher(c)
    }
}

struct Unused;
impl snow::types::Random for Unused {
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), snow::Error> {
        Err(snow::Error::Rng)
    }
}

/// The epoch-0 keys (initiator to responder, responder to initiator) of the handshake tether
/// runs below, computed independently with plain snow from the same keys and transcript.
fn split_keys(
    pattern_name: &str,
    prologue: &[u8],
    ini: &Party,
    res: &Party,
) -> ([u8; 32], [u8; 32]) {
    let e_i = [0xE1u8; 32];
    let e_r = [0xE2u8; 32];
    let mut id = [0u8; 256];
    let n = ini.identity.encode(&mut id).unwrap();
    let ini_id = id[..n].to_vec();
    let n = res.identity.encode(&mut id).unwrap();
    let res_id = id[..n].to_vec();
    let params: snow::params::NoiseParams = pattern_name.parse().unwrap();
    let ini_secret = [1u8; 32];
    let res_secret = [2u8; 32];
    let builder = |p| snow::Builder::with_resolver(p, Box::new(NoRandom));
    let mut i = builder(params.clone())
        .prologue(prologue)
        .unwrap()
        .local_private_key(&ini_secret)
        .unwrap()
        .remote_public_key(res.key.public().as_bytes())
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&e_i)
        .build_initiator()
        .unwrap();
    let mut r = builder(params)
        .prologue(prologue)
        .unwrap()
        .local_private_key(&res_secret)
        .unwrap()
        .fixed_ephemeral_key_for_testing_only(&e_r)
        .build_responder()
        .unwrap();
    let mut m = [0u8; 1024];
    let mut p = [0u8; 1024];
    let n = i.write_message(&ini_id, &mut m).unwrap();
    r.read_message(&m[..n], &mut p).unwrap();
    let n = r.write_message(&res_id, &mut m).unwrap();
    i.read_message(&m[..n], &mut p).unwrap();
    i.dangerously_get_raw_split()
}

#[test]
fn freed_handshakes_and_sessions_hold_no_secrets() {
    // The scanner works: a freed block holding a secret is reported.
    let probe = [0x5Au8; 32];
    let found = freed_secrets(&halves("probe", &probe), || drop(Box::new(probe)));
    assert_eq!(found, ["probe"], "the scanner must see a freed secret");

    // Pairing (XXpsk0) between the fixture phone and device, datagrams, both suites.
    for suite in Suite::ENABLED {
        let (ini, res) = (phone(), device());
        let secret = [0x5Au8; 16];
        let code = PairingCode::from_secret(secret, &res.key.public());
        let fp = tether::pairing::fingerprint(&res.key.public());
        let psk = blake2s(&[b"tether-v1 pairing psk", &secret, &fp]);
        let icfg = config(&ini, *suite, Framing::Datagram, ChannelKind::DevicePhone);
        let mut rcfg = responder_config(&res, Framing::Datagram, ChannelKind::DevicePhone);
        rcfg.pairing = Some(&code);
        let mut hash = [0u8; 32];
        let mut secrets = Vec::new();
        secrets.extend(halves("psk", &psk));
        secrets.extend(halves("phone static secret", &[3; 32]));
        secrets.extend(halves("device static secret", &[1; 32]));
        secrets.extend(halves("initiator ephemeral", &[0xE1; 32]));
        // (The test's entropy sources keep their bytes in a Vec: freed outside the scan.)
        let (mut e_i, mut e_r) = (
            FixedEntropy::new(&[0xE1; 32]),
            FixedEntropy::new(&[0xE2; 32]),
        );
        let found = freed_secrets(&secrets, || {
            let hs = Initiator::pairing(&icfg, &code, &mut e_i).unwrap();
            let (i, r, _) = drive(hs, &rcfg, &mut accept_all, &mut accept_all, &mut e_r).unwrap();
            hash = i.handshake_hash;
            drop((i, r));
        });
        assert!(
            found.is_empty(),
            "{suite:?} pairing left {found:?} in freed memory"
        );
        // The handshake hash is only known afterwards: run again, watching for it.
        drop((e_i, e_r));
        let (mut e_i, mut e_r) = (
            FixedEntropy::new(&[0xE1; 32]),
            FixedEntropy::new(&[0xE2; 32]),
        );
        let found = freed_secrets(&halves("handshake hash", &hash), || {
            let hs = Initiator::pairing(&icfg, &code, &mut e_i).unwrap();
            let done = drive(hs, &rcfg, &mut accept_all, &mut accept_all, &mut e_r).unwrap();
            assert_eq!(done.0.handshake_hash, hash);
        });
        assert!(
            found.is_empty(),
            "{suite:?} pairing left {found:?} in freed memory"
        );
    }

    // A provisioned (IK) AES-GCM session, boxed and dropped: no record key, no GHASH key.
    let (ini, res) = (device(), cloud());
    let suite = Suite::AesGcmSha256;
    let prologue = [b"tether".as_slice(), &[1, 2, 1, 1, 2, 0]].concat();
    let (k1, k2) = split_keys("Noise_IK_25519_AESGCM_SHA256", &prologue, &ini, &res);
    let mut secrets = Vec::new();
    for (key, ghash, polyval, k) in [
        ("k1", "GHASH key of k1", "polyval key of k1", &k1),
        ("k2", "GHASH key of k2", "polyval key of k2", &k2),
    ] {
        secrets.extend(halves(key, k));
        let [h, pv] = ghash_forms(k);
        secrets.push((ghash, h));
        secrets.push((polyval, pv));
    }
    let icfg = config(&ini, suite, Framing::Datagram, ChannelKind::DeviceCloud);
    let rcfg = responder_config(&res, Framing::Datagram, ChannelKind::DeviceCloud);
    let hs = Initiator::provisioned(
        &icfg,
        &res.key.public(),
        &mut FixedEntropy::new(&[0xE1; 32]),
    )
    .unwrap();
    let (i, r, _) = drive(
        hs,
        &rcfg,
        &mut accept_all,
        &mut accept_all,
        &mut FixedEntropy::new(&[0xE2; 32]),
    )
    .unwrap();
    let (mut a, mut b) = (Box::new(i.session), Box::new(r.session));
    // The independent split keys are the session's: a record sealed by one opens at the other
    // and, checked with the raw AEAD, under k1.
    let mut wire = [0u8; 64];
    let sealed = a.seal(T0, b"reading", &mut wire).unwrap();
    {
        use aes_gcm::aead::{AeadInPlace, KeyInit};
        let unit = &wire[..sealed.total()];
        let (head, rest) = unit.split_at(9);
        let (ct, tag) = rest.split_at(rest.len() - 16);
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&head[1..]);
        let mut buf = ct.to_vec();
        aes_gcm::Aes256Gcm::new((&k1).into())
            .decrypt_in_place_detached(&nonce.into(), head, &mut buf, tag.into())
            .expect("k1 is the initiator's sending key");
        assert_eq!(buf, b"reading");
    }
    let mut out = [0u8; 64];
    assert_eq!(
        b.open(T0, &wire[..sealed.total()], &mut out).unwrap(),
        Event::Data(b"reading")
    );
    let found = freed_secrets(&secrets, || drop((a, b)));
    assert!(
        found.is_empty(),
        "a dropped AES-GCM session left {found:?} in freed memory"
    );
}
