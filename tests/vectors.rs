//! Known-answer vectors in spec/vectors/: regenerated from fixed static and ephemeral keys and
//! compared byte for byte with the checked-in files. Any wire-format change shows up here; after a
//! deliberate change, regenerate with `TETHER_BLESS=1 cargo test --test vectors` and update
//! spec/PROTOCOL.md in the same commit.

mod common;

use common::*;
use serde_json::{json, Value};
use tether::pairing::PairingCode;
use tether::*;

const INITIATOR_EPHEMERAL: [u8; 32] = [0xE1; 32];
const RESPONDER_EPHEMERAL: [u8; 32] = [0xE2; 32];
const PAIRING_SECRET: [u8; 16] = [0x5A; 16];

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn framing_name(f: Framing) -> &'static str {
    match f {
        Framing::Stream => "stream",
        Framing::Datagram => "datagram",
    }
}

fn noise_pattern(p: Pattern) -> &'static str {
    match p {
        Pattern::Provisioned => "IK",
        Pattern::Enrollment => "XX",
        Pattern::Pairing => "XXpsk0",
        Pattern::Reconnect => "KK",
    }
}

fn party_json(p: &Party, seed: u8, ephemeral: &[u8; 32]) -> Value {
    let mut id = [0u8; 256];
    let n = p.identity.encode(&mut id).unwrap();
    json!({
        "static_private": hex(&[seed; 32]),
        "static_public": hex(p.key.public().as_bytes()),
        "ephemeral_private": hex(ephemeral),
        "identity": {
            "id": String::from_utf8_lossy(p.identity.id()),
            "model": p.identity.model(),
            "version": p.identity.version(),
            "key_id": hex(p.identity.key_id()),
        },
        "identity_cbor": hex(&id[..n]),
    })
}

/// One record: seals on `from`, opens on `to`, checks the plaintext, and describes it.
fn record(
    from_initiator: bool,
    from: &mut Session,
    to: &mut Session,
    kind: &str,
    plaintext: &[u8],
) -> Vec<Value> {
    let mut wire = vec![0u8; 256];
    let mut out = vec![0u8; 256];
    let mut units = Vec::new();
    match kind {
        "data" => {
            let sealed = from.seal(T0, plaintext, &mut wire).unwrap();
            assert_eq!(sealed.key_update, 0);
            units.push(wire[..sealed.total()].to_vec());
        }
        "key_update" => {
            let n = from.update_key(T0, &mut wire).unwrap();
            units.push(wire[..n].to_vec());
        }
        "close" => {
            let n = from.close(&mut wire).unwrap();
            units.push(wire[..n].to_vec());
        }
        _ => unreachable!(),
    }
    units
        .into_iter()
        .map(|unit| {
            let event = to.open(T0, &unit, &mut out).unwrap();
            match (kind, event) {
                ("data", Event::Data(d)) => assert_eq!(d, plaintext),
                ("key_update", Event::KeyUpdate { .. }) | ("close", Event::Close) => {}
                (k, e) => panic!("{k}: unexpected {e:?}"),
            }
            json!({
                "from": if from_initiator { "initiator" } else { "responder" },
                "type": kind,
                "epoch": from.send_epoch(),
                "plaintext": hex(plaintext),
                "unit": hex(&unit),
            })
        })
        .collect()
}

fn prologue(suite: Suite, pattern: Pattern, channel: ChannelKind, framing: Framing) -> Vec<u8> {
    let mut p = b"tether".to_vec();
    p.extend_from_slice(&[1, suite.id(), pattern.id(), channel as u8, framing as u8, 0]);
    p
}

fn generate(suite: Suite, pattern: Pattern, framing: Framing) -> Value {
    let (ini, ini_seed, res, res_seed, channel) = match pattern {
        Pattern::Pairing => (phone(), 3, device(), 1, ChannelKind::DevicePhone),
        _ => (device(), 1, cloud(), 2, ChannelKind::DeviceCloud),
    };
    let code = PairingCode::from_secret(PAIRING_SECRET, &res.key.public());
    let icfg = config(&ini, suite, framing, channel);
    let mut rcfg = responder_config(&res, framing, channel);
    rcfg.known_initiator = Some(ini.key.public());
    rcfg.pairing = Some(&code);
    // One responder configuration for every pattern of the matrix.
    rcfg.allow_without_code = true;
    let mut ini_rng = FixedEntropy::new(&INITIATOR_EPHEMERAL);
    let hs = initiator_for(pattern, &icfg, &res.key.public(), Some(&code), &mut ini_rng).unwrap();
    let mut res_rng = FixedEntropy::new(&RESPONDER_EPHEMERAL);
    let (mut i, mut r, transcript) =
        drive(hs, &rcfg, &mut accept_all, &mut accept_all, &mut res_rng).unwrap();
    let handshake: Vec<Value> = transcript
        .iter()
        .map(|(from_init, unit)| {
            json!({
                "from": if *from_init { "initiator" } else { "responder" },
                "unit": hex(unit),
            })
        })
        .collect();
    let (a, b) = (&mut i.session, &mut r.session);
    let mut records = Vec::new();
    records.extend(record(true, a, b, "data", b"reading 1: SpO2 97 %"));
    records.extend(record(false, b, a, "data", b"command 1"));
    records.extend(record(true, a, b, "data", b""));
    records.extend(record(true, a, b, "key_update", b""));
    records.extend(record(true, a, b, "data", b"reading 2 after key update"));
    records.extend(record(false, b, a, "key_update", b""));
    records.extend(record(false, b, a, "data", b"ack"));
    records.extend(record(true, a, b, "close", b""));
    records.extend(record(false, b, a, "close", b""));
    let mut v = json!({
        "description": "tether protocol v1 known-answer vector: every byte of the handshake and of a record sequence",
        "pattern": format!("{pattern:?}"),
        "noise_protocol": format!("Noise_{}_{}", noise_pattern(pattern), suite.noise_suffix()),
        "suite_id": suite.id(),
        "pattern_id": pattern.id(),
        "channel_id": channel as u8,
        "framing": framing_name(framing),
        "context": "",
        "prologue": hex(&prologue(suite, pattern, channel, framing)),
        "initiator": party_json(&ini, ini_seed, &INITIATOR_EPHEMERAL),
        "responder": party_json(&res, res_seed, &RESPONDER_EPHEMERAL),
        "handshake": handshake,
        "handshake_hash": hex(&i.handshake_hash),
        "records": records,
    });
    if pattern == Pattern::Pairing {
        v["pairing_code"] = json!(String::from_utf8(code.to_text().to_vec()).unwrap());
        v["pairing_secret"] = json!(hex(&PAIRING_SECRET));
    }
    v
}

#[test]
fn vectors_match_the_checked_in_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/vectors");
    let bless = std::env::var_os("TETHER_BLESS").is_some();
    let mut checked = 0;
    let mut stale = Vec::new();
    for suite in [Suite::ChaChaPolyBlake2s, Suite::AesGcmSha256] {
        for pattern in Pattern::ALL {
            for framing in [Framing::Stream, Framing::Datagram] {
                let name = format!(
                    "{}_{}_{}.json",
                    noise_pattern(pattern),
                    suite.noise_suffix(),
                    framing_name(framing)
                );
                let path = dir.join(&name);
                if !suite.is_enabled() {
                    assert!(path.exists(), "{name} missing");
                    continue;
                }
                let text = serde_json::to_string_pretty(&generate(suite, pattern, framing))
                    .unwrap()
                    + "\n";
                if bless {
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(&path, &text).unwrap();
                } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    stale.push(name);
                }
                checked += 1;
            }
        }
    }
    assert!(
        stale.is_empty(),
        "vectors differ from the implementation: {stale:?}; if the change is deliberate, \
         run TETHER_BLESS=1 cargo test --test vectors and update spec/PROTOCOL.md"
    );
    assert_eq!(checked, Suite::ENABLED.len() * 4 * 2);
}

#[test]
fn vectors_are_deterministic() {
    let a = generate(
        Suite::ChaChaPolyBlake2s,
        Pattern::Provisioned,
        Framing::Datagram,
    );
    let b = generate(
        Suite::ChaChaPolyBlake2s,
        Pattern::Provisioned,
        Framing::Datagram,
    );
    assert_eq!(a, b);
}
