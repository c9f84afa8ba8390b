//! Known-answer vectors in spec/vectors/: regenerated from fixed static and ephemeral keys and
//! compared byte for byte with the checked-in files. Any wire-format change shows up here; after a
//! deliberate change, regenerate with `TETHER_BLESS=1 cargo test --test vectors` and update
//! spec/PROTOCOL.md in the same commit.
//!
//! Every vector is generated through tether's public API, and its intermediate values (split keys,
//! pairing fingerprint and PSK, record keys, nonces and associated data, credential bytes) are
//! computed independently of tether by `independent` (plain snow, RustCrypto, ed25519-dalek),
//! which also checks every handshake message and record against them. The file families and their
//! JSON format are described in spec/PROTOCOL.md, section 8.

mod common;
mod independent;

use std::path::Path;

use common::*;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};
use tether::credential::Credential;
use tether::handshake::Established;
use tether::pairing::PairingCode;
use tether::policy::ManufacturerCredential;
use tether::*;

const INITIATOR_EPHEMERAL: [u8; 32] = [0xE1; 32];
const RESPONDER_EPHEMERAL: [u8; 32] = [0xE2; 32];
const PAIRING_SECRET: [u8; 16] = [0x5A; 16];
/// The short code of the code-pairing vectors, and the 64 bytes each side draws for its SPAKE2
/// scalar (spec/PROTOCOL.md 4.7.2).
const SHORT_CODE: &str = "306119";
const PHONE_SCALAR_ENTROPY: [u8; 64] = counting(0x00);
const DEVICE_SCALAR_ENTROPY: [u8; 64] = counting(0x80);

/// 64 bytes counting up from `start`: no byte order reads them the same way.
const fn counting(start: u8) -> [u8; 64] {
    let mut out = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        out[i] = start.wrapping_add(i as u8);
        i += 1;
    }
    out
}

/// The manufacturer key of the credential vectors (an Ed25519 seed, RFC 8032).
const MANUFACTURER_SEED: [u8; 32] = [0x4D; 32];
const ISSUER: &[u8] = b"acme-mfr-1";
const NOT_BEFORE: u64 = 1_700_000_000;
const NOT_AFTER: u64 = 2_000_000_000;

/// The prologue context of the channel-4 vectors.
const CONTEXT: &[u8] = b"gateway.example/v1";

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

/// The file name of a handshake vector of the main matrix.
fn matrix_name(pattern: Pattern, suite: Suite, framing: Framing) -> String {
    format!(
        "{}_{}_{}",
        noise_pattern(pattern),
        suite.noise_suffix(),
        framing_name(framing)
    )
}

/// `group.variant` in snake case, as section 8 names errors: `peer.replayed`, `peer.too_old`.
fn error_name(e: Error) -> String {
    fn snake(debug: String) -> String {
        let mut out = String::new();
        for (i, c) in debug
            .chars()
            .take_while(|c| c.is_alphanumeric())
            .enumerate()
        {
            if c.is_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }
    match e {
        Error::Malformed(m) => format!("malformed.{}", snake(format!("{m:?}"))),
        Error::Peer(p) => format!("peer.{}", snake(format!("{p:?}"))),
        Error::Local(l) => format!("local.{}", snake(format!("{l:?}"))),
        Error::Policy(r) => format!("policy.{}", snake(format!("{r:?}"))),
        other => panic!("unexpected error {other:?}"),
    }
}

/// A manufacturer credential computed without tether: the signed bytes of section 4.5 and their
/// Ed25519 signature.
struct CredentialInfo {
    signed: Vec<u8>,
    signature: [u8; 64],
}

fn manufacturer() -> SigningKey {
    SigningKey::from_bytes(&MANUFACTURER_SEED)
}

fn party_json(p: &Party, seed: u8, ephemeral: &[u8; 32], cred: Option<&CredentialInfo>) -> Value {
    let mut id = [0u8; 256];
    let n = p.identity.encode(&mut id).unwrap();
    let mut identity = json!({
        "id": String::from_utf8_lossy(p.identity.id()),
        "model": p.identity.model(),
        "version": p.identity.version(),
        "key_id": hex(p.identity.key_id()),
    });
    if let Some(c) = p.identity.credential() {
        let info = cred.expect("the case describes the credential");
        identity["credential"] = json!({
            "not_before": c.not_before().0,
            "not_after": c.not_after().0,
            "issuer": hex(c.issuer()),
            "signature": hex(&info.signature),
        });
    }
    json!({
        "static_private": hex(&[seed; 32]),
        "static_public": hex(p.key.public().as_bytes()),
        "ephemeral_private": hex(ephemeral),
        "identity": identity,
        "identity_cbor": hex(&id[..n]),
    })
}

/// The bytes of the vector `name` in the message-layer vector file `file` (under `list`).
fn message_vector(file: &str, list: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("spec/vectors")
        .join(file);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let found = v[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {file}"));
    hex::decode(found["hex"].as_str().unwrap()).unwrap()
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

fn prologue(
    suite: Suite,
    pattern: Pattern,
    channel: ChannelKind,
    framing: Framing,
    context: &[u8],
) -> Vec<u8> {
    let mut p = b"tether".to_vec();
    let len = u8::try_from(context.len()).unwrap();
    p.extend_from_slice(&[
        1,
        suite.id(),
        pattern.id(),
        channel as u8,
        framing as u8,
        len,
    ]);
    p.extend_from_slice(context);
    p
}

/// One handshake to run: who, how, and with which record-layer settings.
struct Case {
    description: &'static str,
    suite: Suite,
    pattern: Pattern,
    framing: Framing,
    channel: ChannelKind,
    context: &'static [u8],
    ini: Party,
    ini_seed: u8,
    res: Party,
    res_seed: u8,
    /// Both sides' record-layer settings (they do not affect the handshake bytes).
    session: SessionConfig,
    /// The initiator carries this credential and the responder checks it
    /// (`ManufacturerCredential`).
    credential: Option<CredentialInfo>,
    /// `Pairing` through a short code (4.7.2) instead of a QR code (4.7.1).
    short_code: bool,
}

/// The parties of the main matrix: device -> cloud on channel 1, phone -> device on channel 2 for
/// Pairing.
fn matrix_case(suite: Suite, pattern: Pattern, framing: Framing) -> Case {
    let (ini, ini_seed, res, res_seed, channel) = match pattern {
        Pattern::Pairing => (phone(), 3, device(), 1, ChannelKind::DevicePhone),
        _ => (device(), 1, cloud(), 2, ChannelKind::DeviceCloud),
    };
    Case {
        description: "tether protocol v1 known-answer vector: every byte of the handshake and of a record sequence",
        suite,
        pattern,
        framing,
        channel,
        context: b"",
        ini,
        ini_seed,
        res,
        res_seed,
        session: SessionConfig::default(),
        credential: None,
        short_code: false,
    }
}

/// A phone pairing with a device through the short code [`SHORT_CODE`]: the code exchange, then
/// `XXpsk0` keyed by it.
fn code_case(suite: Suite, framing: Framing) -> Case {
    let mut c = matrix_case(suite, Pattern::Pairing, framing);
    c.description = "tether protocol v1 known-answer vector: pairing by a short code (section 4.7.2): the two code messages, every intermediate value of the exchange, then the XXpsk0 handshake keyed by it and a record sequence";
    c.short_code = true;
    c
}

/// A device (seed 1) with a manufacturer credential enrolling with the cloud (`XX`), which checks
/// the credential. The signed bytes and signature are computed here from section 4.5, then the
/// credential is issued by tether and must carry the same signature.
fn credential_case(suite: Suite, framing: Framing) -> Case {
    let mut c = matrix_case(suite, Pattern::Enrollment, framing);
    c.description = "tether protocol v1 known-answer vector: a device identity carrying a manufacturer credential (section 4.5), enrolled with XX by a responder that verifies it";
    let device_key = c.ini.key.public();
    let signed = independent::credential_signed_bytes(
        c.ini.identity.id(),
        device_key.as_bytes(),
        NOT_BEFORE,
        NOT_AFTER,
        ISSUER,
    );
    let m = manufacturer();
    let signature = m.sign(&signed);
    m.verifying_key()
        .verify_strict(&signed, &signature)
        .expect("the signature verifies over the spec's signed bytes");
    let cred = Credential::issue(
        &m,
        ISSUER,
        c.ini.identity.id(),
        &device_key,
        UnixTime(NOT_BEFORE),
        UnixTime(NOT_AFTER),
    )
    .unwrap();
    assert_eq!(
        cred.verify(&m.verifying_key(), c.ini.identity.id(), &device_key, NOW),
        Ok(())
    );
    c.ini.identity = c.ini.identity.clone().with_credential(cred);
    c.credential = Some(CredentialInfo {
        signed,
        signature: signature.to_bytes(),
    });
    c
}

/// A phone (seed 3) calling the cloud (`IK`) on channel 4 with a non-empty prologue context.
fn context_case(suite: Suite, framing: Framing) -> Case {
    let mut c = matrix_case(suite, Pattern::Provisioned, framing);
    c.description = "tether protocol v1 known-answer vector: phone to cloud (channel 4) with a non-empty prologue context";
    c.ini = phone();
    c.ini_seed = 3;
    c.channel = ChannelKind::PhoneCloud;
    c.context = CONTEXT;
    c
}

struct Run {
    i: Established,
    r: Established,
    transcript: Transcript,
    code: PairingCode,
    /// Short-code pairing: code messages 0 and 1.
    exchange: Option<(Vec<u8>, Vec<u8>)>,
}

/// The short-code exchange (4.7.2), then the pairing handshake it keys.
fn run_short_code(case: &Case) -> Run {
    use tether::short_code::{AttemptLimiter, DevicePairing, PhonePairing, ShortCode};
    let code = || ShortCode::parse(SHORT_CODE.as_bytes()).unwrap();
    let framing = case.framing;
    let mut m0 = [0u8; 64];
    let (mut pake, n0) = PhonePairing::start(
        framing,
        code(),
        &mut FixedEntropy::new(&PHONE_SCALAR_ENTROPY),
        &mut m0,
    )
    .unwrap();
    let mut m1 = [0u8; 64];
    let (device_key, n1) = DevicePairing::new(framing, code())
        .respond(
            &mut AttemptLimiter::new(),
            T0,
            &m0[..n0],
            &mut FixedEntropy::new(&DEVICE_SCALAR_ENTROPY),
            &mut m1,
        )
        .unwrap();
    let phone_key = pake.finish(&m1[..n1]).unwrap();
    let icfg = config(&case.ini, case.suite, framing, case.channel);
    let rcfg = responder_config(&case.res, framing, case.channel);
    let mut init = Initiator::code_pairing(
        &icfg,
        &phone_key,
        &mut FixedEntropy::new(&INITIATOR_EPHEMERAL),
    )
    .unwrap();
    let mut transcript = Transcript::new();
    let mut buf = vec![0u8; 2048];
    let n = write(&mut init, &mut buf).unwrap();
    transcript.push((true, buf[..n].to_vec()));
    let mut resp = Responder::accept_code_pairing(
        &rcfg,
        &device_key,
        &buf[..n],
        &mut accept_all,
        NOW,
        &mut FixedEntropy::new(&RESPONDER_EPHEMERAL),
    )
    .unwrap();
    let n = write(&mut resp, &mut buf).unwrap();
    transcript.push((false, buf[..n].to_vec()));
    init.read_message(&buf[..n], &mut accept_all, NOW).unwrap();
    let n = write(&mut init, &mut buf).unwrap();
    transcript.push((true, buf[..n].to_vec()));
    resp.read_message(&buf[..n], &mut accept_all, NOW).unwrap();
    Run {
        i: init.finish(T0).unwrap(),
        r: resp.finish(T0).unwrap(),
        transcript,
        code: PairingCode::from_secret(PAIRING_SECRET, &case.res.key.public()),
        exchange: Some((m0[..n0].to_vec(), m1[..n1].to_vec())),
    }
}

fn run(case: &Case) -> Run {
    if case.short_code {
        return run_short_code(case);
    }
    let code = PairingCode::from_secret(PAIRING_SECRET, &case.res.key.public());
    let mut icfg = config(&case.ini, case.suite, case.framing, case.channel);
    icfg.context = case.context;
    icfg.session = case.session;
    let mut rcfg = responder_config(&case.res, case.framing, case.channel);
    rcfg.context = case.context;
    rcfg.session = case.session;
    rcfg.known_initiator = Some(case.ini.key.public());
    rcfg.pairing = Some(&code);
    // One responder configuration for every pattern of the matrix.
    rcfg.allow_without_code = true;
    let mut ini_rng = FixedEntropy::new(&INITIATOR_EPHEMERAL);
    let hs = initiator_for(
        case.pattern,
        &icfg,
        &case.res.key.public(),
        Some(&code),
        &mut ini_rng,
    )
    .unwrap();
    let mut res_rng = FixedEntropy::new(&RESPONDER_EPHEMERAL);
    let issuers = [(ISSUER, manufacturer().verifying_key())];
    let mut check_credential = ManufacturerCredential::new(&issuers, |_, _| false);
    let mut accept = accept_all;
    let resp_policy: &mut dyn TrustPolicy = if case.credential.is_some() {
        &mut check_credential
    } else {
        &mut accept
    };
    let (i, r, transcript) = drive(hs, &rcfg, &mut accept_all, resp_policy, &mut res_rng).unwrap();
    assert_eq!(r.peer.identity, case.ini.identity);
    assert_eq!(i.peer.identity, case.res.identity);
    Run {
        i,
        r,
        transcript,
        code,
        exchange: None,
    }
}

/// A handshake vector: the handshake, the standard record sequence, and every intermediate value,
/// each recomputed independently.
fn handshake_vector(case: &Case) -> Value {
    let Run {
        mut i,
        mut r,
        transcript,
        code,
        exchange,
    } = run(case);
    let (suite, pattern, framing, channel) = (case.suite, case.pattern, case.framing, case.channel);
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
    // The data records carry real application messages, the message layer's own vectors
    // (spec/MESSAGES.md): a vitals batch up, a signed command down, its acknowledgement up, a
    // signed firmware manifest down. A device replaying these records works its message layer
    // on exactly what the session delivered.
    let vitals = message_vector(
        "messages_telemetry.json",
        "valid",
        "vitals/spo2-and-temperature",
    );
    let command = message_vector("messages_signed.json", "vectors", "command_basal_rate");
    let ack = message_vector("messages_signed.json", "vectors", "ack_accepted");
    let manifest = message_vector("messages_signed.json", "vectors", "firmware_manifest");
    records.extend(record(true, a, b, "data", &vitals));
    records.extend(record(false, b, a, "data", &command));
    records.extend(record(true, a, b, "data", b""));
    records.extend(record(true, a, b, "key_update", b""));
    records.extend(record(true, a, b, "data", &ack));
    records.extend(record(false, b, a, "key_update", b""));
    records.extend(record(false, b, a, "data", &manifest));
    records.extend(record(true, a, b, "close", b""));
    records.extend(record(false, b, a, "close", b""));
    let mut v = json!({
        "description": case.description,
        "pattern": format!("{pattern:?}"),
        "noise_protocol": format!("Noise_{}_{}", noise_pattern(pattern), suite.noise_suffix()),
        "suite_id": suite.id(),
        "pattern_id": pattern.id(),
        "channel_id": channel as u8,
        "framing": framing_name(framing),
        "context": std::str::from_utf8(case.context).unwrap(),
        "prologue": hex(&prologue(suite, pattern, channel, framing, case.context)),
        "initiator": party_json(&case.ini, case.ini_seed, &INITIATOR_EPHEMERAL, case.credential.as_ref()),
        "responder": party_json(&case.res, case.res_seed, &RESPONDER_EPHEMERAL, None),
        "handshake": handshake,
        "handshake_hash": hex(&i.handshake_hash),
        "records": records,
    });
    if let Some((m0, m1)) = &exchange {
        v["code_exchange"] = json!({
            "code": SHORT_CODE,
            "phone_entropy": hex(&PHONE_SCALAR_ENTROPY),
            "device_entropy": hex(&DEVICE_SCALAR_ENTROPY),
            "code_message_0": hex(m0),
            "code_message_1": hex(m1),
        });
    } else if pattern == Pattern::Pairing {
        v["pairing_code"] = json!(String::from_utf8(code.to_text().to_vec()).unwrap());
        v["pairing_secret"] = json!(hex(&PAIRING_SECRET));
    }
    if let Some(info) = &case.credential {
        let m = manufacturer();
        v["credential"] = json!({
            "manufacturer_seed": hex(&MANUFACTURER_SEED),
            "manufacturer_public": hex(m.verifying_key().as_bytes()),
            "issuer": hex(ISSUER),
            "device_id": hex(case.ini.identity.id()),
            "device_static_public": hex(case.ini.key.public().as_bytes()),
            "not_before": NOT_BEFORE,
            "not_after": NOT_AFTER,
            "signed": hex(&info.signed),
            "signature": hex(&info.signature),
            "verified_at": NOW.0,
        });
    }
    add_intermediates(&mut v);
    if let (Some(fp), None) = (v.get("fingerprint"), &exchange) {
        assert_eq!(independent::unhex(fp), code.fingerprint());
    }
    v
}

/// Recomputes, without tether, what a handshake vector implies and adds it to the vector:
/// identity CBOR (4.4), `split` (4.8), pairing `fingerprint` and `psk` (4.7), and for every record
/// its `counter`, `nonce` and `ad` (5.3) plus the `epoch_keys` of each direction (5.4). Every
/// handshake message and every record of the vector is checked against them.
fn add_intermediates(v: &mut Value) {
    for side in ["initiator", "responder"] {
        assert_eq!(
            independent::identity_cbor(&v[side]["identity"]),
            independent::unhex(&v[side]["identity_cbor"]),
            "{side} identity CBOR (section 4.4)"
        );
    }
    let split = independent::noise_split(v);
    assert_eq!(
        split.handshake_hash,
        independent::unhex(&v["handshake_hash"])
    );
    v["split"] = json!({ "k1": hex(&split.k1), "k2": hex(&split.k2) });
    if let Some(fp) = split.fingerprint {
        v["fingerprint"] = json!(hex(&fp));
    }
    if let Some(psk) = split.psk {
        v["psk"] = json!(hex(&psk));
    }
    if let Some(steps) = &split.code_exchange {
        for (name, value) in steps {
            v["code_exchange"][*name] = json!(hex(value));
        }
    }
    let suite_id = u8::try_from(v["suite_id"].as_u64().unwrap()).unwrap();
    let stream = v["framing"] == "stream";
    let records = v["records"].as_array_mut().unwrap();
    let max_epoch = records
        .iter()
        .map(|r| r["epoch"].as_u64().unwrap())
        .max()
        .unwrap_or(0);
    let count = usize::try_from(max_epoch).unwrap() + 1;
    let keys_i = independent::epoch_keys(suite_id, split.k1, count);
    let keys_r = independent::epoch_keys(suite_id, split.k2, count);
    let mut next = [0u64; 2];
    for rec in records.iter_mut() {
        let from_initiator = rec["from"] == "initiator";
        let dir = usize::from(!from_initiator);
        let epoch = rec["epoch"].as_u64().unwrap();
        let keys = if from_initiator { &keys_i } else { &keys_r };
        let checked = independent::check_record(
            suite_id,
            stream,
            &keys[usize::try_from(epoch).unwrap()],
            rec,
            next[dir],
        );
        next[dir] += 1;
        rec["counter"] = json!(checked.counter);
        rec["nonce"] = json!(hex(&checked.nonce));
        rec["ad"] = json!(hex(&checked.ad));
    }
    let hexes = |keys: &[[u8; 32]]| keys.iter().map(|k| hex(k)).collect::<Vec<_>>();
    v["epoch_keys"] = json!({ "initiator": hexes(&keys_i), "responder": hexes(&keys_r) });
}

// ---------------------------------------------------------------------------------------------
// Record sequences: loss, reordering, replay, the window edge, key updates, epochs, close.

/// One record the sender produced.
struct Sent {
    counter: u64,
    epoch: u32,
    ty: &'static str,
    plaintext: Vec<u8>,
    sealed_at: u64,
    by: &'static str,
    unit: Vec<u8>,
    note: Option<&'static str>,
}

/// The sending side of a scenario, counting its records.
struct Sender {
    session: Session,
    next_counter: u64,
}

impl Sender {
    fn push(
        &mut self,
        out: &mut Vec<Sent>,
        ty: &'static str,
        pt: &[u8],
        at: u64,
        by: &'static str,
        unit: &[u8],
    ) {
        out.push(Sent {
            counter: self.next_counter,
            epoch: self.session.send_epoch(),
            ty,
            plaintext: pt.to_vec(),
            sealed_at: at,
            by,
            unit: unit.to_vec(),
            note: None,
        });
        self.next_counter += 1;
    }

    /// `seal`: one data record, or a key update record and a data record.
    fn seal(&mut self, out: &mut Vec<Sent>, at: u64, pt: &[u8]) {
        let mut buf = vec![0u8; self.session.seal_capacity(pt.len())];
        let sealed = self.session.seal(Instant(at), pt, &mut buf).unwrap();
        let units: Vec<&[u8]> = sealed.units(&buf).collect();
        if let [ku, data] = units[..] {
            self.push(out, "key_update", b"", at, "seal", ku);
            self.push(out, "data", pt, at, "seal", data);
        } else {
            self.push(out, "data", pt, at, "seal", units[0]);
        }
    }

    fn close(&mut self, out: &mut Vec<Sent>, at: u64) {
        let mut buf = vec![0u8; self.session.record_len(0)];
        let n = self.session.close(&mut buf).unwrap();
        self.push(out, "close", b"", at, "close", &buf[..n]);
    }
}

/// What the receiver must do with one delivery: `Ok(())` accept, `Err(name)` reject with that
/// error.
struct Delivery {
    counter: u64,
    now: u64,
    expect: Result<(), &'static str>,
    epoch_after: u32,
    note: &'static str,
}

const fn accept(counter: u64, now: u64, epoch_after: u32, note: &'static str) -> Delivery {
    Delivery {
        counter,
        now,
        expect: Ok(()),
        epoch_after,
        note,
    }
}

const fn reject(
    counter: u64,
    now: u64,
    error: &'static str,
    epoch_after: u32,
    note: &'static str,
) -> Delivery {
    Delivery {
        counter,
        now,
        expect: Err(error),
        epoch_after,
        note,
    }
}

fn config_json(c: &SessionConfig) -> Value {
    json!({
        "max_plaintext": c.max_plaintext,
        "replay_window": c.replay_window,
        "key_update": {
            "records": c.key_update.records,
            "bytes": c.key_update.bytes,
            "interval_ms": c.key_update.interval_ms,
        },
        "previous_key_ms": c.previous_key_ms,
    })
}

/// A fresh session pair (initiator sends, responder receives) from the matrix's `IK` handshake
/// with `config` on both sides. The handshake is byte for byte the one of the `IK` vector of the
/// same suite and framing.
fn session_pair(suite: Suite, framing: Framing, config: SessionConfig) -> (Sender, Session) {
    let mut case = matrix_case(suite, Pattern::Provisioned, framing);
    case.session = config;
    let with_config = run(&case);
    let plain = run(&matrix_case(suite, Pattern::Provisioned, framing));
    assert_eq!(with_config.transcript, plain.transcript);
    assert_eq!(with_config.i.session.config(), &config);
    assert_eq!(with_config.r.session.config(), &config);
    (
        Sender {
            session: with_config.i.session,
            next_counter: 0,
        },
        with_config.r.session,
    )
}

/// Runs the deliveries on `receiver`, checks each against its expectation and describes it.
fn deliver(receiver: &mut Session, sent: &[Sent], deliveries: &[Delivery]) -> Vec<Value> {
    let mut out = vec![0u8; receiver.config().max_plaintext];
    let mut last = 0;
    deliveries
        .iter()
        .map(|d| {
            assert!(d.now >= last, "the receiver's clock never goes back");
            last = d.now;
            let [rec] = sent
                .iter()
                .filter(|s| s.counter == d.counter)
                .collect::<Vec<_>>()[..]
            else {
                panic!("no single record with counter {}", d.counter)
            };
            let got = receiver.open(Instant(d.now), &rec.unit, &mut out);
            let mut v = json!({
                "counter": d.counter,
                "unit": hex(&rec.unit),
                "now_ms": d.now,
                "receiver_epoch": d.epoch_after,
                "note": d.note,
            });
            match (d.expect, got) {
                (Ok(()), Ok(event)) => {
                    let ev = match event {
                        Event::Data(pt) => {
                            assert_eq!((rec.ty, pt), ("data", &rec.plaintext[..]));
                            json!({ "type": "data", "plaintext": hex(pt) })
                        }
                        Event::KeyUpdate { epoch } => {
                            assert_eq!((rec.ty, epoch), ("key_update", rec.epoch));
                            json!({ "type": "key_update", "epoch": epoch })
                        }
                        Event::Close => {
                            assert_eq!(rec.ty, "close");
                            json!({ "type": "close" })
                        }
                    };
                    v["result"] = json!("accept");
                    v["event"] = ev;
                }
                (Err(name), Err(e)) => {
                    assert_eq!(error_name(e), name, "counter {}: {}", d.counter, d.note);
                    v["result"] = json!("reject");
                    v["error"] = json!(name);
                }
                (want, got) => panic!(
                    "counter {} at {} ms ({}): expected {want:?}, got {got:?}",
                    d.counter, d.now, d.note
                ),
            }
            assert_eq!(receiver.recv_epoch(), d.epoch_after, "{}", d.note);
            v
        })
        .collect()
}

/// Describes a scenario; `all_records`: whether `sent` lists every record the sender sealed or
/// only those delivered.
fn scenario_json(
    name: &str,
    description: &str,
    config: &SessionConfig,
    sent: &[Sent],
    all_records: bool,
    deliveries: Vec<Value>,
) -> Value {
    let records: Vec<Value> = sent
        .iter()
        .filter(|s| all_records || deliveries.iter().any(|d| d["counter"] == s.counter))
        .map(|s| {
            let mut r = json!({
                "counter": s.counter,
                "epoch": s.epoch,
                "type": s.ty,
                "plaintext": hex(&s.plaintext),
                "sealed_at_ms": s.sealed_at,
                "sealed_by": s.by,
                "unit": hex(&s.unit),
            });
            if let Some(note) = s.note {
                r["note"] = json!(note);
            }
            r
        })
        .collect();
    json!({
        "name": name,
        "description": description,
        "config": config_json(config),
        "session_start_ms": T0.0,
        "all_records_listed": all_records,
        "records": records,
        "deliveries": deliveries,
    })
}

fn auto_update_config() -> SessionConfig {
    let mut c = SessionConfig::default();
    c.key_update.records = 3;
    c
}

/// Datagram scenarios: automatic key updates with loss, reordering, replay, the previous key and
/// its expiry, the E+2 jump and the epoch bits wrapping; the replay window's edge; close.
fn datagram_scenarios(suite: Suite) -> Vec<Value> {
    let mut scenarios = Vec::new();

    // 1. Automatic key updates every 3 data records: epochs 0..=4 over counters 0..=17.
    let config = auto_update_config();
    let (mut tx, mut rx) = session_pair(suite, Framing::Datagram, config);
    let mut sent = Vec::new();
    for i in 0..14 {
        tx.seal(&mut sent, 0, format!("reading {i}").as_bytes());
    }
    let shape: Vec<(u64, &str, u32)> = sent.iter().map(|s| (s.counter, s.ty, s.epoch)).collect();
    let ku = |c: u64, e: u32| (c, "key_update", e);
    let d = |c: u64, e: u32| (c, "data", e);
    assert_eq!(
        shape,
        [
            d(0, 0),
            d(1, 0),
            d(2, 0),
            ku(3, 1),
            d(4, 1),
            d(5, 1),
            d(6, 1),
            ku(7, 2),
            d(8, 2),
            d(9, 2),
            d(10, 2),
            ku(11, 3),
            d(12, 3),
            d(13, 3),
            d(14, 3),
            ku(15, 4),
            d(16, 4),
            d(17, 4),
        ]
    );
    let deliveries = deliver(
        &mut rx,
        &sent,
        &[
            accept(0, 0, 0, "in order"),
            accept(2, 10, 0, "counter 1 is late: reordering within the window"),
            accept(4, 20, 1, "epoch 1 before its key update record (counter 3, late): E+1, derive key(1); key(0) becomes the previous key"),
            accept(1, 30, 1, "epoch 0 after the switch to epoch 1: E-1, the previous key, 10 ms after the switch"),
            reject(1, 40, "peer.replayed", 1, "counter 1 again"),
            accept(3, 50, 1, "the late key update record of epoch 1, under the current key"),
            accept(12, 60, 3, "epoch 3 while at epoch 1, no record of epoch 2 seen (counters 7 to 10 not delivered yet): E+2, derive key(2) and key(3); key(2) becomes the previous key"),
            accept(9, 70, 3, "epoch 2 after the jump: E-1, the previous key (the epoch that was skipped)"),
            reject(5, 80, "peer.authentication", 3, "epoch 1 at epoch 3: its epoch bits 01 equal (E+2) mod 4, so it is tried under key(5) and fails; records of epoch E-2 can no longer be opened"),
            accept(10, 60059, 3, "epoch 2: the previous key 59999 ms after the switch (at 60 ms), within previous_key_ms"),
            reject(8, 60060, "peer.too_old", 3, "epoch 2: 60000 ms after the switch, previous_key_ms has passed and the previous key opens nothing"),
            accept(13, 60070, 3, "epoch 3, current key (counters 6, 7 and 11 are never delivered: loss)"),
            accept(16, 60080, 4, "epoch 4, whose epoch bits are 00 again: E+1, key update record (counter 15) late"),
            accept(15, 60090, 4, "the late key update record of epoch 4"),
            accept(14, 60100, 4, "epoch 3 through the previous key, 20 ms after the switch"),
            accept(17, 60110, 4, "epoch 4, current key"),
        ],
    );
    scenarios.push(scenario_json(
        "key_updates_loss_reordering",
        "The initiator seals 14 data records at 0 ms with key_update.records = 3, so seal emits a key update record before the 4th, 7th, 10th and 13th data record (epochs 0 to 4, counters 0 to 17). The responder receives some of them, out of order, some twice, some never.",
        &config,
        &sent,
        true,
        deliveries,
    ));

    // 2. The replay window: W = 1024 (the default), no key update.
    let config = SessionConfig::default();
    let (mut tx, mut rx) = session_pair(suite, Framing::Datagram, config);
    let mut sent = Vec::new();
    for c in 0..1029 {
        tx.seal(&mut sent, 0, format!("record {c}").as_bytes());
    }
    assert!(sent.iter().all(|s| s.ty == "data" && s.epoch == 0));
    let deliveries = deliver(
        &mut rx,
        &sent,
        &[
            accept(0, 0, 0, "first record"),
            reject(0, 1, "peer.replayed", 0, "counter 0 again"),
            accept(
                1026,
                2,
                0,
                "the highest accepted counter becomes 1026 (counters 1 to 1025 not delivered yet)",
            ),
            reject(2, 3, "peer.too_old", 0, "1026 - 2 = 1024 = W: too old"),
            accept(
                3,
                4,
                0,
                "1026 - 3 = 1023 = W - 1 and never accepted: accepted",
            ),
            reject(
                3,
                5,
                "peer.replayed",
                0,
                "counter 3 again, still inside the window",
            ),
            accept(
                1025,
                6,
                0,
                "below the highest, inside the window, never accepted",
            ),
            accept(1027, 7, 0, "the highest accepted counter becomes 1027"),
            reject(
                3,
                8,
                "peer.too_old",
                0,
                "counter 3 again, now exactly W behind: too old (checked before replay)",
            ),
            accept(4, 9, 0, "1027 - 4 = 1023 = W - 1: accepted"),
        ],
    );
    scenarios.push(scenario_json(
        "replay_window",
        "The initiator seals 1029 data records (counters 0 to 1028, epoch 0) at 0 ms with the default configuration (W = replay_window = 1024). Only the records delivered are listed.",
        &config,
        &sent,
        false,
        deliveries,
    ));

    // 3. Close: records before the close still arrive; anything after it is refused.
    let config = SessionConfig::default();
    let (mut tx, mut rx) = session_pair(suite, Framing::Datagram, config);
    let (mut twin, _) = session_pair(suite, Framing::Datagram, config);
    let mut sent = Vec::new();
    let mut twin_sent = Vec::new();
    for pt in [&b"last reading"[..], b"bye"] {
        tx.seal(&mut sent, 0, pt);
        twin.seal(&mut twin_sent, 0, pt);
    }
    tx.close(&mut sent, 0);
    twin.seal(&mut twin_sent, 0, b"not sent");
    twin.seal(&mut twin_sent, 0, b"after close");
    assert_eq!(
        sent[1].unit, twin_sent[1].unit,
        "the twin is the same session"
    );
    let mut late = twin_sent.pop().unwrap();
    late.note = Some("sealed by a second copy of the sender's session (the same handshake) that ignored its close: a conforming sender never sends it, but it authenticates");
    sent.push(late);
    let deliveries = deliver(
        &mut rx,
        &sent,
        &[
            accept(0, 0, 0, "data"),
            accept(2, 1, 0, "the close record, before counter 1"),
            accept(
                1,
                2,
                0,
                "counter 1, sealed before the close, reordered behind it: still accepted",
            ),
            reject(
                3,
                3,
                "peer.after_close",
                0,
                "a counter above the close record's",
            ),
            reject(2, 4, "peer.replayed", 0, "the close record again"),
        ],
    );
    scenarios.push(scenario_json(
        "close",
        "The initiator seals two data records and a close record (counters 0 to 2) at 0 ms with the default configuration; counter 3 comes from a sender that ignored its own close.",
        &config,
        &sent,
        false,
        deliveries,
    ));
    scenarios
}

/// The stream scenario: the same automatic key update, in order, with two out-of-order units.
fn stream_scenarios(suite: Suite) -> Vec<Value> {
    let config = auto_update_config();
    let (mut tx, mut rx) = session_pair(suite, Framing::Stream, config);
    let mut sent = Vec::new();
    for i in 0..7 {
        tx.seal(&mut sent, 0, format!("reading {i}").as_bytes());
    }
    tx.close(&mut sent, 0);
    let shape: Vec<(u64, &str, u32)> = sent.iter().map(|s| (s.counter, s.ty, s.epoch)).collect();
    assert_eq!(
        shape,
        [
            (0, "data", 0),
            (1, "data", 0),
            (2, "data", 0),
            (3, "key_update", 1),
            (4, "data", 1),
            (5, "data", 1),
            (6, "data", 1),
            (7, "key_update", 2),
            (8, "data", 2),
            (9, "close", 2),
        ]
    );
    let mut script = vec![
        accept(0, 0, 0, "in order"),
        accept(1, 10, 0, "in order"),
        reject(
            3,
            20,
            "peer.out_of_order",
            0,
            "counter 3 while 2 is expected (a lost unit)",
        ),
        accept(2, 30, 0, "in order"),
        reject(
            1,
            40,
            "peer.out_of_order",
            0,
            "counter 1 again (a replayed unit)",
        ),
    ];
    for c in 3..10u64 {
        let epoch = sent[usize::try_from(c).unwrap()].epoch;
        script.push(accept(c, 40 + 10 * (c - 2), epoch, "in order"));
    }
    let deliveries = deliver(&mut rx, &sent, &script);
    assert!(rx.peer_closed());
    vec![scenario_json(
        "key_updates",
        "The initiator seals 7 data records and a close record at 0 ms with key_update.records = 3: seal emits a key update record before the 4th and 7th data record, sent back to back with it. The responder reads the units in order, except two it must refuse.",
        &config,
        &sent,
        true,
        deliveries,
    )]
}

/// A record-sequence file: the scenarios of one suite and framing, with the session's split keys
/// and epoch keys recomputed independently, and every listed record checked against them.
fn records_vector(suite: Suite, framing: Framing) -> Value {
    let base = handshake_vector(&matrix_case(suite, Pattern::Provisioned, framing));
    let scenarios = match framing {
        Framing::Datagram => datagram_scenarios(suite),
        Framing::Stream => stream_scenarios(suite),
    };
    let k1 = independent::unhex32(&base["split"]["k1"]);
    let max_epoch = scenarios
        .iter()
        .flat_map(|s| s["records"].as_array().unwrap())
        .map(|r| r["epoch"].as_u64().unwrap())
        .max()
        .unwrap();
    let keys = independent::epoch_keys(suite.id(), k1, usize::try_from(max_epoch).unwrap() + 1);
    for s in &scenarios {
        for r in s["records"].as_array().unwrap() {
            let epoch = r["epoch"].as_u64().unwrap();
            independent::check_record(
                suite.id(),
                framing == Framing::Stream,
                &keys[usize::try_from(epoch).unwrap()],
                r,
                r["counter"].as_u64().unwrap(),
            );
        }
    }
    json!({
        "description": format!(
            "tether protocol v1 record-layer vector ({} framing): record sequences sent by the initiator and what the responder must do with each delivery",
            framing_name(framing)
        ),
        "suite_id": suite.id(),
        "noise_protocol": base["noise_protocol"],
        "framing": framing_name(framing),
        "session_from": format!("{}.json", matrix_name(Pattern::Provisioned, suite, framing)),
        "split": base["split"],
        "sender": "initiator",
        "receiver": "responder",
        "epoch_keys": keys.iter().map(|k| hex(k)).collect::<Vec<_>>(),
        "scenarios": scenarios,
    })
}

/// Every file of spec/vectors/: its name (without `.json`), its suite (files of a suite this build
/// lacks are only checked to exist) and its generator.
#[allow(clippy::type_complexity)]
fn all_vectors() -> Vec<(String, Suite, Box<dyn Fn() -> Value>)> {
    let mut files: Vec<(String, Suite, Box<dyn Fn() -> Value>)> = Vec::new();
    for suite in [Suite::ChaChaPolyBlake2s, Suite::AesGcmSha256] {
        for pattern in Pattern::ALL {
            for framing in [Framing::Stream, Framing::Datagram] {
                files.push((
                    matrix_name(pattern, suite, framing),
                    suite,
                    Box::new(move || handshake_vector(&matrix_case(suite, pattern, framing))),
                ));
            }
        }
        let f = Framing::Datagram;
        files.push((
            format!("credential_{}", matrix_name(Pattern::Enrollment, suite, f)),
            suite,
            Box::new(move || handshake_vector(&credential_case(suite, f))),
        ));
        files.push((
            format!("code_{}", matrix_name(Pattern::Pairing, suite, f)),
            suite,
            Box::new(move || handshake_vector(&code_case(suite, f))),
        ));
        files.push((
            format!(
                "context_channel4_{}",
                matrix_name(Pattern::Provisioned, suite, f)
            ),
            suite,
            Box::new(move || handshake_vector(&context_case(suite, f))),
        ));
        for framing in [Framing::Datagram, Framing::Stream] {
            files.push((
                format!("records_{}_{}", framing_name(framing), suite.noise_suffix()),
                suite,
                Box::new(move || records_vector(suite, framing)),
            ));
        }
    }
    files
}

#[test]
fn vectors_match_the_checked_in_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/vectors");
    let bless = std::env::var_os("TETHER_BLESS").is_some();
    let files = all_vectors();
    let mut checked = 0;
    let mut stale = Vec::new();
    for (name, suite, generate) in &files {
        let name = format!("{name}.json");
        let path = dir.join(&name);
        if !suite.is_enabled() {
            assert!(path.exists(), "{name} missing");
            continue;
        }
        let text = serde_json::to_string_pretty(&generate()).unwrap() + "\n";
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name);
        }
        checked += 1;
    }
    assert!(
        stale.is_empty(),
        "vectors differ from the implementation (or are missing): {stale:?}; if the change is \
         deliberate, run TETHER_BLESS=1 cargo test --test vectors and update spec/PROTOCOL.md"
    );
    let per_suite = files.len() / 2;
    assert_eq!(checked, Suite::ENABLED.len() * per_suite);
    assert_eq!(per_suite, 4 * 2 + 3 + 2);
    // No stray file: every JSON file in the directory is one the test generates, except the
    // message-layer vectors (spec/MESSAGES.md), which tests/message_vectors_*.rs check, the
    // link-layer vectors (spec/LINK.md), which tests/link_vectors.rs checks, and the relay
    // envelope's, which tests/relay_vectors.rs checks.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.starts_with("messages_")
            || ["pycose_signed.json", "link.json", "relay.json"].contains(&name.as_str())
        {
            continue;
        }
        if let Some(stem) = name.strip_suffix(".json") {
            assert!(
                files.iter().any(|(n, _, _)| n == stem),
                "spec/vectors/{name} is not generated by this test"
            );
        }
    }
}

#[test]
fn vectors_are_deterministic() {
    let case = || {
        matrix_case(
            Suite::ChaChaPolyBlake2s,
            Pattern::Provisioned,
            Framing::Datagram,
        )
    };
    assert_eq!(handshake_vector(&case()), handshake_vector(&case()));
    assert_eq!(
        records_vector(Suite::ChaChaPolyBlake2s, Framing::Datagram),
        records_vector(Suite::ChaChaPolyBlake2s, Framing::Datagram)
    );
}
