//! Independent re-derivation of the intermediate values of the vectors in spec/vectors/, from the
//! JSON alone and the formulas of spec/PROTOCOL.md: plain snow with its own primitives for the
//! handshake and `Split()`, the blake2 crate for pairing fingerprints and PSKs, the RustCrypto
//! AEAD crates for records (nonce and associated data of section 5.3, REKEY of section 5.4), and
//! ed25519-dalek for credentials (section 4.5). Nothing here calls tether's cryptography, so a
//! vector that passes these checks proves the spec's formulas, not just tether's self-consistency.
#![allow(dead_code)]

use blake2::{Blake2s256, Digest};
use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use serde_json::Value;
use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver, FallbackResolver};
use snow::types::{Cipher, Dh, Hash, Random};

pub fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

pub fn unhex32(v: &Value) -> [u8; 32] {
    unhex(v).try_into().expect("32 bytes")
}

/// BLAKE2s-256 of the concatenation of `parts`.
pub fn blake2s(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Blake2s256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Spec 4.7: `BLAKE2s-256("tether-v1 key fingerprint" || key)[0..16]`.
pub fn fingerprint(device_static_public: &[u8]) -> [u8; 16] {
    let full = blake2s(&[b"tether-v1 key fingerprint", device_static_public]);
    full[..16].try_into().unwrap()
}

/// Spec 4.7: `BLAKE2s-256("tether-v1 pairing psk" || secret || fingerprint)`.
pub fn pairing_psk(secret: &[u8], fingerprint: &[u8]) -> [u8; 32] {
    blake2s(&[b"tether-v1 pairing psk", secret, fingerprint])
}

/// Spec 4.5: the bytes a manufacturer signs.
pub fn credential_signed_bytes(
    device_id: &[u8],
    device_static_public: &[u8; 32],
    not_before: u64,
    not_after: u64,
    issuer: &[u8],
) -> Vec<u8> {
    let mut m = b"tether-v1 credential".to_vec();
    m.push(u8::try_from(device_id.len()).unwrap());
    m.extend_from_slice(device_id);
    m.extend_from_slice(device_static_public);
    m.extend_from_slice(&not_before.to_be_bytes());
    m.extend_from_slice(&not_after.to_be_bytes());
    m.push(u8::try_from(issuer.len()).unwrap());
    m.extend_from_slice(issuer);
    m
}

/// RFC 4648 base32, no padding.
pub fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// snow's default resolver has no generator without its `use-getrandom` feature, and none is
/// needed: both ephemerals are fixed. This one refuses to produce random bytes, so a vector can
/// never depend on one.
struct NoRng;

impl Random for NoRng {
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), snow::Error> {
        Err(snow::Error::Rng)
    }
}

struct NoRngResolver;

impl CryptoResolver for NoRngResolver {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(NoRng))
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

/// What [`noise_split`] recomputes.
pub struct Split {
    pub k1: [u8; 32],
    pub k2: [u8; 32],
    pub handshake_hash: Vec<u8>,
    /// Pairing only.
    pub fingerprint: Option<[u8; 16]>,
    pub psk: Option<[u8; 32]>,
    /// Short-code pairing only: the exchange's intermediate values, in the order of 4.7.2.
    pub code_exchange: Option<Vec<(&'static str, Vec<u8>)>>,
}

/// Spec 4.7.2, from the formulas alone (curve25519-dalek's group operations, the hkdf, sha2 and
/// blake2 crates): recomputes both code messages from the code and each side's 64 drawn bytes,
/// checks them against the vector's, and returns the intermediate values ending with `psk`.
pub fn code_exchange(ex: &Value) -> Vec<(&'static str, Vec<u8>)> {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::scalar::Scalar;
    use sha2::Sha256;

    let point = |h: &str| {
        CompressedEdwardsY(hex::decode(h).unwrap().try_into().unwrap())
            .decompress()
            .unwrap()
    };
    let m = point("15cfd18e385952982b6a8f8c7854963b58e34388c8e6dae891db756481a02312");
    let n = point("f04f2e7eb734b2a8f8b472eaf9c3c632576ac64aea650b496a8a20ff00e583c3");
    let code = ex["code"].as_str().unwrap().as_bytes();
    let mut okm = [0u8; 48];
    hkdf::Hkdf::<Sha256>::new(Some(b""), code)
        .expand(b"SPAKE2 pw", &mut okm)
        .unwrap();
    // OS2IP: big-endian; from_bytes_mod_order_wide reads 64 bytes little-endian.
    let mut wide = [0u8; 64];
    for (i, b) in okm.iter().enumerate() {
        wide[47 - i] = *b;
    }
    let w = Scalar::from_bytes_mod_order_wide(&wide);
    let scalar = |h: &Value| Scalar::from_bytes_mod_order_wide(&unhex(h).try_into().unwrap());
    let x = scalar(&ex["phone_entropy"]);
    let y = scalar(&ex["device_entropy"]);
    let big_x = (B * x + m * w).compress();
    let big_y = (B * y + n * w).compress();
    let m0 = unhex(&ex["code_message_0"]);
    let m1 = unhex(&ex["code_message_1"]);
    assert_eq!(m0[0], 0x51, "code message 0 first byte");
    assert_eq!(m1[0], 0x55, "code message 1 first byte");
    assert_eq!(&m0[1..], big_x.as_bytes(), "code message 0 carries X");
    assert_eq!(&m1[1..], big_y.as_bytes(), "code message 1 carries Y");
    let k_phone = (big_y.decompress().unwrap() - n * w) * x;
    let k_device = (big_x.decompress().unwrap() - m * w) * y;
    assert_eq!(k_phone, k_device, "both sides compute the same K");
    let k = k_phone.compress();
    let sha = |d: &[u8]| -> [u8; 32] { Sha256::digest(d).into() };
    let mut transcript = Vec::new();
    transcript.extend_from_slice(&sha(code));
    transcript.extend_from_slice(&sha(b"tether-v1 code pairing phone"));
    transcript.extend_from_slice(&sha(b"tether-v1 code pairing device"));
    transcript.extend_from_slice(big_x.as_bytes());
    transcript.extend_from_slice(big_y.as_bytes());
    transcript.extend_from_slice(k.as_bytes());
    let key = sha(&transcript);
    let psk = blake2s(&[b"tether-v1 code pairing psk", &key]);
    vec![
        ("w", w.to_bytes().to_vec()),
        ("x", x.to_bytes().to_vec()),
        ("y", y.to_bytes().to_vec()),
        ("X", big_x.as_bytes().to_vec()),
        ("Y", big_y.as_bytes().to_vec()),
        ("K", k.as_bytes().to_vec()),
        ("key", key.to_vec()),
        ("psk", psk.to_vec()),
    ]
}

/// Index of the handshake message that carries the initiator's (`true`) or responder's identity
/// (spec 4.4).
fn identity_message(noise_pattern: &str, initiator: bool) -> usize {
    match (noise_pattern, initiator) {
        ("IK" | "KK", true) => 0,
        ("IK" | "KK", false) => 1,
        ("XX" | "XXpsk0", true) => 2,
        ("XX" | "XXpsk0", false) => 1,
        _ => panic!("unknown pattern {noise_pattern}"),
    }
}

/// Replays the handshake of a vector with plain snow (its own primitives), from the vector's keys,
/// prologue and payloads; asserts that every Noise message equals the one in the vector's
/// transcript (after the tether header of section 4.3 and the framing of section 3), that each
/// payload decrypts to the sender's identity CBOR, and that both sides agree on the handshake hash;
/// returns `Split()`.
pub fn noise_split(v: &Value) -> Split {
    let name = v["noise_protocol"].as_str().unwrap();
    let pattern = name.split('_').nth(1).unwrap();
    let stream = v["framing"] == "stream";
    let ini = &v["initiator"];
    let res = &v["responder"];
    let prologue = unhex(&v["prologue"]);

    let code_steps = v.get("code_exchange").map(code_exchange);
    let (fingerprint, psk) = if let Some(steps) = &code_steps {
        let psk = steps.last().unwrap().1.clone().try_into().unwrap();
        (None, Some(psk))
    } else if pattern == "XXpsk0" {
        let fp = fingerprint(&unhex(&res["static_public"]));
        let secret = unhex(&v["pairing_secret"]);
        let mut raw = secret.clone();
        raw.extend_from_slice(&fp);
        let text = format!("TETHER1:{}", base32(&raw));
        assert_eq!(v["pairing_code"], text.as_str(), "pairing code text");
        (Some(fp), Some(pairing_psk(&secret, &fp)))
    } else {
        (None, None)
    };

    let build = |me: &Value, peer: &Value, initiator: bool| {
        let params: snow::params::NoiseParams = name.parse().unwrap();
        let resolver = Box::new(FallbackResolver::new(
            Box::new(NoRngResolver),
            Box::new(DefaultResolver),
        ));
        let my_static = unhex(&me["static_private"]);
        let my_ephemeral = unhex(&me["ephemeral_private"]);
        let peer_static = unhex(&peer["static_public"]);
        let mut b = snow::Builder::with_resolver(params, resolver)
            .prologue(&prologue)
            .unwrap()
            .local_private_key(&my_static)
            .unwrap()
            .fixed_ephemeral_key_for_testing_only(&my_ephemeral);
        let knows_peer = match pattern {
            "IK" => initiator,
            "KK" => true,
            _ => false,
        };
        if knows_peer {
            b = b.remote_public_key(&peer_static).unwrap();
        }
        if let Some(psk) = &psk {
            b = b.psk(0, psk).unwrap();
        }
        if initiator {
            b.build_initiator().unwrap()
        } else {
            b.build_responder().unwrap()
        }
    };
    let mut i = build(ini, res, true);
    let mut r = build(res, ini, false);

    let messages = v["handshake"].as_array().unwrap();
    let count = if pattern.starts_with("XX") { 3 } else { 2 };
    assert_eq!(messages.len(), count);
    for (index, m) in messages.iter().enumerate() {
        let from_initiator = index % 2 == 0;
        assert_eq!(
            m["from"],
            if from_initiator {
                "initiator"
            } else {
                "responder"
            }
        );
        let unit = unhex(&m["unit"]);
        // Section 3: the stream length prefix.
        let body = if stream {
            let len = usize::from(u16::from_be_bytes([unit[0], unit[1]]));
            assert_eq!(len, unit.len() - 2, "stream length prefix");
            &unit[2..]
        } else {
            &unit[..]
        };
        // Sections 3.1 and 4.3: the handshake byte, and the suite and pattern in message 0.
        let index_bits = u8::try_from(index).unwrap() << 2;
        let noise = if index == 0 {
            let header = [0x50, v["suite_id"].as_u64().unwrap() as u8, {
                v["pattern_id"].as_u64().unwrap() as u8
            }];
            assert_eq!(body[..3], header, "message 0 header");
            &body[3..]
        } else {
            assert_eq!(body[0], 0x50 | index_bits, "message {index} header");
            &body[1..]
        };
        let sender = if from_initiator { ini } else { res };
        let payload = if identity_message(pattern, from_initiator) == index {
            unhex(&sender["identity_cbor"])
        } else {
            Vec::new()
        };
        let (w, rd) = if from_initiator {
            (&mut i, &mut r)
        } else {
            (&mut r, &mut i)
        };
        let mut out = vec![0u8; 2048];
        let n = w.write_message(&payload, &mut out).unwrap();
        assert_eq!(
            hex::encode(&out[..n]),
            hex::encode(noise),
            "{name}: snow's message {index} differs from the vector"
        );
        let mut got = vec![0u8; 2048];
        let n = rd.read_message(noise, &mut got).unwrap();
        assert_eq!(got[..n], payload[..], "payload of message {index}");
    }
    assert!(i.is_handshake_finished() && r.is_handshake_finished());
    assert_eq!(i.get_handshake_hash(), r.get_handshake_hash());
    let (k1, k2) = i.dangerously_get_raw_split();
    assert_eq!(r.dangerously_get_raw_split(), (k1, k2));
    Split {
        k1,
        k2,
        handshake_hash: i.get_handshake_hash().to_vec(),
        fingerprint,
        psk,
        code_exchange: code_steps,
    }
}

/// Spec 5.3: `0x00000000 || counter (u64)`.
pub fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

/// Spec 5.3: `flags (u8) || counter (u64)`.
pub fn associated_data(flags: u8, counter: u64) -> [u8; 9] {
    let mut ad = [0u8; 9];
    ad[0] = flags;
    ad[1..].copy_from_slice(&counter.to_be_bytes());
    ad
}

/// AEAD-Encrypt of section 2 (suite 1: ChaCha20-Poly1305, suite 2: AES-256-GCM): ciphertext
/// followed by the 16-byte tag.
pub fn aead_encrypt(
    suite_id: u8,
    key: &[u8; 32],
    nonce: &[u8; 12],
    ad: &[u8],
    pt: &[u8],
) -> Vec<u8> {
    let mut buf = pt.to_vec();
    let tag: [u8; 16] = match suite_id {
        1 => ChaCha20Poly1305::new(key.into())
            .encrypt_in_place_detached(nonce.into(), ad, &mut buf)
            .unwrap()
            .into(),
        #[cfg(feature = "aes-gcm")]
        2 => aes_gcm::Aes256Gcm::new(key.into())
            .encrypt_in_place_detached(nonce.into(), ad, &mut buf)
            .unwrap()
            .into(),
        _ => panic!("suite {suite_id} not available"),
    };
    buf.extend_from_slice(&tag);
    buf
}

/// AEAD-Decrypt; `None` when it does not authenticate.
pub fn aead_decrypt(
    suite_id: u8,
    key: &[u8; 32],
    nonce: &[u8; 12],
    ad: &[u8],
    ct_and_tag: &[u8],
) -> Option<Vec<u8>> {
    let split = ct_and_tag.len().checked_sub(16)?;
    let (ct, tag) = ct_and_tag.split_at(split);
    let mut buf = ct.to_vec();
    let ok = match suite_id {
        1 => ChaCha20Poly1305::new(key.into())
            .decrypt_in_place_detached(nonce.into(), ad, &mut buf, tag.into())
            .is_ok(),
        #[cfg(feature = "aes-gcm")]
        2 => aes_gcm::Aes256Gcm::new(key.into())
            .decrypt_in_place_detached(nonce.into(), ad, &mut buf, tag.into())
            .is_ok(),
        _ => panic!("suite {suite_id} not available"),
    };
    ok.then_some(buf)
}

/// Spec 5.4: `key(e + 1)` = the first 32 bytes of AEAD-Encrypt(key(e), nonce = 0x00000000 ||
/// 0xFFFFFFFFFFFFFFFF, empty associated data, 32 zero bytes).
pub fn rekey(suite_id: u8, key: &[u8; 32]) -> [u8; 32] {
    let out = aead_encrypt(suite_id, key, &nonce(u64::MAX), &[], &[0u8; 32]);
    out[..32].try_into().unwrap()
}

/// `key(e)` for `e` in `0..count`, from `key(0)`.
pub fn epoch_keys(suite_id: u8, key0: [u8; 32], count: usize) -> Vec<[u8; 32]> {
    let mut keys = vec![key0];
    while keys.len() < count {
        let next = rekey(suite_id, keys.last().unwrap());
        keys.push(next);
    }
    keys
}

/// Record type codes of section 5.1.
pub fn record_type_code(name: &str) -> u8 {
    match name {
        "data" => 0,
        "key_update" => 1,
        "close" => 2,
        _ => panic!("unknown record type {name}"),
    }
}

/// One record, checked against the spec's layout and AEAD: what it proves.
pub struct CheckedRecord {
    pub counter: u64,
    pub nonce: [u8; 12],
    pub ad: [u8; 9],
}

/// Parses a record of a vector (`unit`, `type`, `epoch`, `plaintext`; section 5.2), checks its
/// flags against `type` and `epoch` and its counter (the full counter on datagrams; on a stream the
/// 16 low bits of `counter`, which the caller knows from the order), and decrypts it with `key`
/// (section 5.3): the result must be `plaintext`.
pub fn check_record(
    suite_id: u8,
    stream: bool,
    key: &[u8; 32],
    record: &Value,
    counter: u64,
) -> CheckedRecord {
    let unit = &unhex(&record["unit"])[..];
    let ty = record["type"].as_str().unwrap();
    let epoch = record["epoch"].as_u64().unwrap();
    let plaintext = unhex(&record["plaintext"]);
    let (flags, wire_counter, body) = if stream {
        let len = usize::from(u16::from_be_bytes([unit[0], unit[1]]));
        assert_eq!(len, unit.len() - 2, "stream length prefix");
        let low = u16::from_be_bytes([unit[3], unit[4]]);
        assert_eq!(u64::from(low), counter & 0xFFFF, "stream counter bits");
        (unit[2], counter, &unit[5..])
    } else {
        let c = u64::from_be_bytes(unit[1..9].try_into().unwrap());
        (unit[0], c, &unit[9..])
    };
    assert_eq!(wire_counter, counter, "record counter");
    let expected_flags = 0x10 | (record_type_code(ty) << 2) | (epoch & 3) as u8;
    assert_eq!(flags, expected_flags, "record flags");
    let n = nonce(counter);
    let ad = associated_data(flags, counter);
    let pt = aead_decrypt(suite_id, key, &n, &ad, body)
        .unwrap_or_else(|| panic!("record {counter} does not decrypt under the spec's formulas"));
    assert_eq!(pt, plaintext, "record {counter} plaintext");
    CheckedRecord {
        counter,
        nonce: n,
        ad,
    }
}

/// A CBOR head (RFC 8949 section 3): major type and argument, shortest form.
fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xFF {
        out.extend_from_slice(&[m | 24, n as u8]);
    } else if n <= 0xFFFF {
        out.push(m | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xFFFF_FFFF {
        out.push(m | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn cbor_bytes(out: &mut Vec<u8>, major: u8, b: &[u8]) {
    cbor_head(out, major, b.len() as u64);
    out.extend_from_slice(b);
}

/// Section 4.4: the canonical CBOR of an identity as the vectors describe it (`id`, `model` and
/// `version` as text, `key_id` and the credential's `issuer` and `signature` as hex).
pub fn identity_cbor(identity: &Value) -> Vec<u8> {
    let text = |k: &str| identity[k].as_str().unwrap().as_bytes().to_vec();
    let cred = identity.get("credential");
    let mut out = Vec::new();
    cbor_head(&mut out, 5, if cred.is_some() { 5 } else { 4 });
    cbor_head(&mut out, 0, 1);
    cbor_bytes(&mut out, 2, &text("id"));
    cbor_head(&mut out, 0, 2);
    cbor_bytes(&mut out, 3, &text("model"));
    cbor_head(&mut out, 0, 3);
    cbor_bytes(&mut out, 3, &text("version"));
    cbor_head(&mut out, 0, 4);
    cbor_bytes(&mut out, 2, &unhex(&identity["key_id"]));
    if let Some(c) = cred {
        cbor_head(&mut out, 0, 5);
        cbor_head(&mut out, 4, 4);
        cbor_head(&mut out, 0, c["not_before"].as_u64().unwrap());
        cbor_head(&mut out, 0, c["not_after"].as_u64().unwrap());
        cbor_bytes(&mut out, 2, &unhex(&c["issuer"]));
        cbor_bytes(&mut out, 2, &unhex(&c["signature"]));
    }
    out
}
