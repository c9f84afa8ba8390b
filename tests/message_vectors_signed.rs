//! Known-answer vectors for the signed messages (spec/MESSAGES.md section 5): commands and their
//! acknowledgements, firmware manifests, image chunks, update status, app update notices, and
//! rejected cases with the reason a device must give.
//!
//! `generate_vectors` (ignored) writes spec/vectors/messages_signed.json once; the other tests
//! read that file and check tether against it in both directions (decode(hex) == value and
//! encode(value) == hex), replay every verification and transfer, and check the COSE objects
//! pycose produced (spec/vectors/check_cose.py writes spec/vectors/pycose_signed.json).
//!
//! Regenerate: `cargo test -p tether --test message_vectors_signed -- --ignored generate_vectors`.

use std::path::PathBuf;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tether::message::command::{
    AckStatus, Command, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier, Grant,
    ParamRule, Params,
};
use tether::message::cose::{AuthorityKey, Sign1, Signer, MAX_SIGN1_LEN};
use tether::message::update::{
    AppUpdateNotice, FirmwareManifest, ImageChunk, ImageStore, Progress, Receiving, Update,
    UpdatePolicy, UpdateState, UpdateStatus,
};
use tether::message::{Kind, Message};
use tether::{CommandRejection, Error, Malformed, StorageError, UpdateRejection};

// ---------------------------------------------------------------------------------------------
// Fixed inputs of the generator.

/// RFC 8032 section 7.1, TEST 1 secret key: the command authority.
const CLINIC_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// RFC 8032 section 7.1, TEST 2 secret key: the update authority.
const VENDOR_SEED: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
/// 32 bytes of 0x09: a key no device trusts.
const OUTSIDER_SEED: &str = "0909090909090909090909090909090909090909090909090909090909090909";

const NOW: u64 = 1_790_000_000_000;
const DEVICE: &[u8] = b"SN-0001";
const VENDOR_ID: [u8; 16] = *b"tether-vendor-01";
const CLASS_ID: [u8; 16] = *b"insulin-pump-p2a";
const INSTALLED: u64 = 41;
const APP_ID: &str = "com.example.pump";

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
}

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

fn vectors_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("spec/vectors")
        .join(name)
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_path(name))
        .unwrap_or_else(|e| panic!("spec/vectors/{name}: {e}"));
    serde_json::from_str(&text).expect("valid JSON")
}

/// What a verification or transfer step gave, as the vectors file writes it.
fn outcome(r: Result<Value, Error>) -> Value {
    match r {
        Ok(v) => v,
        Err(Error::Command(c)) => {
            json!({"result": "rejected", "reason": snake(format!("{c:?}")), "code": c as u8})
        }
        Err(Error::Update(c)) => {
            json!({"result": "rejected", "reason": snake(format!("{c:?}")), "code": c as u8})
        }
        Err(Error::Malformed(Malformed::Message(p))) => json!({
            "result": "malformed",
            "field": p.field,
            "problem": snake(format!("{:?}", p.kind)),
        }),
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and policies, from the file.

fn signer(file: &Value, name: &str) -> Signer {
    let k = &file["keys"][name];
    let seed: [u8; 32] = unhex(&k["seed"]).try_into().unwrap();
    Signer::from_seed(&seed, &unhex(&k["kid"])).unwrap()
}

fn authority(file: &Value, name: &str) -> AuthorityKey {
    let k = &file["keys"][name];
    let public: [u8; 32] = unhex(&k["public"]).try_into().unwrap();
    let a = AuthorityKey::from_bytes(&unhex(&k["kid"]), &public).unwrap();
    // The public key in the file is the seed's.
    assert_eq!(signer(file, name).authority_key(), a, "key {name}");
    a
}

fn with_command_policy<R>(file: &Value, f: impl FnOnce(&CommandPolicy<'_>) -> R) -> R {
    let p = &file["command_policy"];
    let auths = p["authorities"].as_array().unwrap();
    let rules: Vec<Vec<Vec<ParamRule>>> = auths
        .iter()
        .map(|a| {
            a["grants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| {
                    g["params"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| ParamRule {
                            id: u(&r["id"]) as u8,
                            min: r["min"].as_i64().unwrap(),
                            max: r["max"].as_i64().unwrap(),
                            required: r["required"].as_bool().unwrap(),
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let grants: Vec<Vec<Grant<'_>>> = auths
        .iter()
        .zip(&rules)
        .map(|(a, rs)| {
            a["grants"]
                .as_array()
                .unwrap()
                .iter()
                .zip(rs)
                .map(|(g, r)| Grant {
                    operation: u(&g["operation"]) as u16,
                    params: r,
                })
                .collect()
        })
        .collect();
    let authorities: Vec<CommandAuthority<'_>> = auths
        .iter()
        .zip(&grants)
        .map(|(a, g)| CommandAuthority {
            key: authority(file, a["key"].as_str().unwrap()),
            grants: g,
        })
        .collect();
    let device = unhex(&p["device_id"]);
    f(&CommandPolicy {
        device_id: &device,
        authorities: &authorities,
        max_clock_skew_ms: u(&p["max_clock_skew_ms"]),
    })
}

fn with_update_policy<R>(file: &Value, f: impl FnOnce(&UpdatePolicy<'_>) -> R) -> R {
    let p = &file["update_policy"];
    let keys: Vec<AuthorityKey> = p["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| authority(file, k.as_str().unwrap()))
        .collect();
    f(&UpdatePolicy {
        vendor_id: unhex(&p["vendor_id"]).try_into().unwrap(),
        class_id: unhex(&p["class_id"]).try_into().unwrap(),
        installed_sequence: u(&p["installed_sequence"]),
        max_image_size: u(&p["max_image_size"]) as u32,
        authorities: &keys,
    })
}

// ---------------------------------------------------------------------------------------------
// Values <-> JSON.

fn command_json(c: &Command<'_>) -> Value {
    json!({
        "device_id": hex(c.device_id),
        "command_id": c.command_id,
        "issued_ms": c.issued_ms,
        "expires_ms": c.expires_ms,
        "operation": c.operation,
        "params": c.params.as_slice().iter().map(|&(id, v)| json!([id, v])).collect::<Vec<_>>(),
    })
}

/// Calls `f` with the command a JSON value describes (it borrows the decoded device id).
fn with_command<R>(v: &Value, f: impl FnOnce(&Command<'_>) -> R) -> R {
    let device = unhex(&v["device_id"]);
    let pairs: Vec<(u8, i64)> = v["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (u(&p[0]) as u8, p[1].as_i64().unwrap()))
        .collect();
    f(&Command {
        device_id: &device,
        command_id: u(&v["command_id"]),
        issued_ms: u(&v["issued_ms"]),
        expires_ms: u(&v["expires_ms"]),
        operation: u(&v["operation"]) as u16,
        params: Params::new(&pairs).unwrap(),
    })
}

fn ack_json(a: &CommandAck) -> Value {
    let (status, reason) = match a.status {
        AckStatus::Accepted => ("accepted", None),
        AckStatus::Rejected(r) => ("rejected", Some(r as u64)),
        AckStatus::Executed => ("executed", None),
        AckStatus::Failed(c) => ("failed", Some(c)),
    };
    json!({"command_id": a.command_id, "status": status, "reason": reason, "time_ms": a.time_ms})
}

fn command_rejection(code: u64) -> CommandRejection {
    use CommandRejection as R;
    [
        R::BadSignature,
        R::UnknownAuthority,
        R::WrongDevice,
        R::Expired,
        R::NotYetValid,
        R::OperationNotAllowed,
        R::ParameterOutOfRange,
        R::Replayed,
        R::Malformed,
    ]
    .into_iter()
    .find(|r| *r as u64 == code)
    .unwrap()
}

fn update_rejection(code: u64) -> UpdateRejection {
    use UpdateRejection as R;
    [
        R::BadSignature,
        R::UnknownAuthority,
        R::WrongClass,
        R::Rollback,
        R::TooLarge,
        R::DigestMismatch,
        R::SizeMismatch,
        R::BadOffset,
        R::Malformed,
    ]
    .into_iter()
    .find(|r| *r as u64 == code)
    .unwrap()
}

fn ack_from(v: &Value) -> CommandAck {
    let reason = v["reason"].as_u64();
    let status = match (v["status"].as_str().unwrap(), reason) {
        ("accepted", None) => AckStatus::Accepted,
        ("executed", None) => AckStatus::Executed,
        ("rejected", Some(c)) => AckStatus::Rejected(command_rejection(c)),
        ("failed", Some(c)) => AckStatus::Failed(c),
        other => panic!("bad ack status {other:?}"),
    };
    CommandAck {
        command_id: u(&v["command_id"]),
        status,
        time_ms: u(&v["time_ms"]),
    }
}

fn manifest_json(m: &FirmwareManifest<'_>) -> Value {
    json!({
        "vendor_id": hex(&m.vendor_id),
        "class_id": hex(&m.class_id),
        "version": m.version,
        "sequence": m.sequence,
        "image_size": m.image_size,
        "digest": hex(&m.digest),
        "uri": m.uri,
    })
}

fn with_manifest<R>(v: &Value, f: impl FnOnce(&FirmwareManifest<'_>) -> R) -> R {
    f(&FirmwareManifest {
        vendor_id: unhex(&v["vendor_id"]).try_into().unwrap(),
        class_id: unhex(&v["class_id"]).try_into().unwrap(),
        version: v["version"].as_str().unwrap(),
        sequence: u(&v["sequence"]),
        image_size: u(&v["image_size"]) as u32,
        digest: unhex(&v["digest"]).try_into().unwrap(),
        uri: v["uri"].as_str(),
    })
}

fn chunk_json(c: &ImageChunk<'_>) -> Value {
    json!({"sequence": c.sequence, "offset": c.offset, "data": hex(c.data)})
}

fn status_json(s: &UpdateStatus) -> Value {
    let (state, reason) = match s.state {
        UpdateState::Receiving => ("receiving", None),
        UpdateState::Installable => ("installable", None),
        UpdateState::Rejected(r) => ("rejected", Some(r as u8)),
    };
    json!({"sequence": s.sequence, "state": state, "reason": reason, "next_offset": s.next_offset})
}

fn status_from(v: &Value) -> UpdateStatus {
    let state = match (v["state"].as_str().unwrap(), v["reason"].as_u64()) {
        ("receiving", None) => UpdateState::Receiving,
        ("installable", None) => UpdateState::Installable,
        ("rejected", Some(c)) => UpdateState::Rejected(update_rejection(c)),
        other => panic!("bad state {other:?}"),
    };
    UpdateStatus {
        sequence: u(&v["sequence"]),
        state,
        next_offset: u(&v["next_offset"]) as u32,
    }
}

fn notice_json(n: &AppUpdateNotice<'_>) -> Value {
    json!({
        "app_id": n.app_id,
        "version": n.version,
        "sequence": n.sequence,
        "digest": hex(&n.digest),
        "uri": n.uri,
        "min_firmware_sequence": n.min_firmware_sequence,
    })
}

fn with_notice<R>(v: &Value, f: impl FnOnce(&AppUpdateNotice<'_>) -> R) -> R {
    f(&AppUpdateNotice {
        app_id: v["app_id"].as_str().unwrap(),
        version: v["version"].as_str().unwrap(),
        sequence: u(&v["sequence"]),
        digest: unhex(&v["digest"]).try_into().unwrap(),
        uri: v["uri"].as_str(),
        min_firmware_sequence: v["min_firmware_sequence"].as_u64(),
    })
}

// ---------------------------------------------------------------------------------------------
// Checks a device (or cloud) runs, with their results as JSON.

fn check_command(file: &Value, bytes: &[u8], now: u64, last: u64) -> (Value, u64) {
    with_command_policy(file, |p| {
        let mut v = CommandVerifier::new(last);
        let r = v.verify(p, bytes, now);
        if r.is_err() {
            assert_eq!(v.last_accepted(), last, "a rejection changed the verifier");
        }
        (
            outcome(
                r.map(|c| json!({"result": "accepted", "authority": hex(c.authority().kid())})),
            ),
            v.last_accepted(),
        )
    })
}

fn check_manifest(file: &Value, bytes: &[u8]) -> Value {
    with_update_policy(file, |p| {
        outcome(Update::start(p, bytes).map(|_| json!({"result": "accepted"})))
    })
}

fn check_notice(file: &Value, bytes: &[u8]) -> Value {
    let p = &file["app_policy"];
    let keys: Vec<AuthorityKey> = p["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| authority(file, k.as_str().unwrap()))
        .collect();
    outcome(
        AppUpdateNotice::verify(
            bytes,
            &keys,
            p["app_id"].as_str().unwrap(),
            u(&p["installed_sequence"]),
        )
        .map(|_| json!({"result": "accepted"})),
    )
}

#[derive(Clone, PartialEq, Debug)]
struct MemStore(Vec<u8>);

impl ImageStore for MemStore {
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), StorageError> {
        let o = offset as usize;
        self.0
            .get_mut(o..o + data.len())
            .ok_or(StorageError::Io)?
            .copy_from_slice(data);
        Ok(())
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), StorageError> {
        let o = offset as usize;
        buf.copy_from_slice(self.0.get(o..o + buf.len()).ok_or(StorageError::Io)?);
        Ok(())
    }
}

fn progress_json(p: Progress) -> Value {
    match p {
        Progress::Receiving { next_offset } => {
            json!({"result": "receiving", "next_offset": next_offset})
        }
        Progress::Complete => json!({"result": "complete"}),
    }
}

/// Runs a transfer scenario: start (or resume), the chunks, an optional alteration of the store,
/// finish. Returns each step's outcome and the finish outcome.
fn run_transfer(file: &Value, manifest: &[u8], t: &Value) -> (Vec<Value>, Value) {
    with_update_policy(file, |p| {
        let image = unhex(&file["image"]);
        let mut store = MemStore(vec![0xff; image.len()]);
        let offset = u(&t["resume_offset"]) as u32;
        if offset > 0 {
            // What arrived before the interruption is already in the store.
            store.0[..offset as usize].copy_from_slice(&image[..offset as usize]);
        }
        let mut rx: Receiving = Receiving::resume(manifest, p, offset).unwrap();
        let mut steps = Vec::new();
        for c in t["chunks"].as_array().unwrap() {
            let before = (rx.clone(), store.clone());
            let r = rx.chunk(&unhex(c), &mut store);
            if r.is_err() {
                assert_eq!(
                    (rx.clone(), store.clone()),
                    before,
                    "a rejected chunk changed state"
                );
            }
            steps.push(outcome(r.map(progress_json)));
        }
        if let Some(alter) = t.get("alter_store") {
            store.0[u(&alter["offset"]) as usize] ^= u(&alter["xor"]) as u8;
        }
        let fin = outcome(rx.finish(&mut store).map(|i| {
            json!({"result": "installable", "sequence": i.sequence(), "digest": hex(i.digest())})
        }));
        (steps, fin)
    })
}

// ---------------------------------------------------------------------------------------------
// The generator.

fn key_json(seed: &str, kid: &str, source: &str) -> Value {
    let s: [u8; 32] = hex::decode(seed).unwrap().try_into().unwrap();
    let signer = Signer::from_seed(&s, kid.as_bytes()).unwrap();
    json!({
        "source": source,
        "seed": seed,
        "public": hex(signer.authority_key().public().as_bytes()),
        "kid": hex(kid.as_bytes()),
        "kid_text": kid,
    })
}

fn envelope(kind: Kind, cose: &[u8]) -> Vec<u8> {
    let mut b = vec![0x82];
    let k = kind as u8;
    if k < 24 {
        b.push(k);
    } else {
        b.extend_from_slice(&[0x18, k]);
    }
    b.extend_from_slice(cose);
    b
}

fn sign_raw(s: &Signer, kind: Kind, payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; MAX_SIGN1_LEN];
    let n = s.sign(payload, &mut out).unwrap();
    envelope(kind, &out[..n])
}

/// A signed vector: the message, its COSE object and payload, who signed it and whether the
/// signature verifies under that key with the algorithm the object names.
fn signed_vector(name: &str, ty: &str, signer: &str, bytes: &[u8], valid: bool) -> Value {
    let m = Message::parse(bytes).unwrap();
    let mut v = json!({
        "name": name,
        "type": ty,
        "hex": hex(bytes),
        "cose": hex(m.body),
        "signer": signer,
        "signature_valid": valid,
    });
    if let Ok(s) = Sign1::parse(m.body) {
        v["payload"] = json!(hex(s.payload));
    }
    v
}

fn generate() -> Value {
    let mut file = json!({
        "description": "Known-answer vectors for tether's signed messages: therapy commands and acknowledgements, firmware manifests, image chunks, update status, companion-app update notices, and rejected cases with the reason a device must give.",
        "spec": "spec/MESSAGES.md section 5",
        "conventions": "Byte strings are lowercase hex. 'hex' is the whole application message [kind, body]; 'cose' is its body, the tagged COSE_Sign1; 'payload' is the signed payload. Times are ms since the Unix epoch. Ed25519 is deterministic: encoding 'value' with the 'signer' key (seed and kid under 'keys') gives 'hex' exactly. 'expect' is what a verifier with the file's policy returns at check.now_ms: accepted, rejected with reason (snake-case name and code), or malformed with the field and problem.",
        "keys": {
            "clinic": key_json(CLINIC_SEED, "clinic", "RFC 8032 section 7.1, TEST 1 secret key"),
            "vendor": key_json(VENDOR_SEED, "fw-1", "RFC 8032 section 7.1, TEST 2 secret key"),
            "stranger": key_json(OUTSIDER_SEED, "stranger", "32 bytes of 0x09; not an authority of the device"),
            "impostor": key_json(OUTSIDER_SEED, "clinic", "32 bytes of 0x09 claiming the clinic's kid"),
            "fw_impostor": key_json(OUTSIDER_SEED, "fw-1", "32 bytes of 0x09 claiming the vendor's kid"),
        },
        "command_policy": {
            "device_id": hex(DEVICE),
            "max_clock_skew_ms": 60_000,
            "authorities": [{
                "key": "clinic",
                "grants": [
                    {"operation": 1, "name": "set basal rate (0.001 U/h)", "params": [
                        {"id": 1, "min": 0, "max": 5_000, "required": true},
                    ]},
                    {"operation": 2, "name": "bolus (0.001 U, over seconds)", "params": [
                        {"id": 1, "min": 1, "max": 10_000, "required": true},
                        {"id": 2, "min": 0, "max": 3_600, "required": false},
                    ]},
                ],
            }],
        },
        "update_policy": {
            "vendor_id": hex(&VENDOR_ID),
            "class_id": hex(&CLASS_ID),
            "installed_sequence": INSTALLED,
            "max_image_size": 4096,
            "authorities": ["vendor"],
        },
        "app_policy": {
            "app_id": APP_ID,
            "installed_sequence": 300,
            "authorities": ["vendor"],
        },
    });
    let clinic = signer(&file, "clinic");
    let vendor = signer(&file, "vendor");
    let stranger = signer(&file, "stranger");
    let impostor = signer(&file, "impostor");
    let fw_impostor = signer(&file, "fw_impostor");
    let mut vectors = Vec::new();
    let mut buf = vec![0u8; 2048];

    // Commands.
    let basal = Command {
        device_id: DEVICE,
        command_id: 7,
        issued_ms: NOW - 1_000,
        expires_ms: NOW + 300_000,
        operation: 1,
        params: Params::new(&[(1, 1_250)]).unwrap(),
    };
    let mut command =
        |name: &str, c: &Command<'_>, s: &Signer, signer_name: &str, valid: bool, last: u64| {
            let n = c.encode(s, &mut buf).unwrap();
            let bytes = buf[..n].to_vec();
            let mut v = signed_vector(name, "command", signer_name, &bytes, valid);
            v["value"] = command_json(c);
            v["check"] = json!({"now_ms": NOW, "last_accepted": last});
            let (expect, after) = check_command(&file, &bytes, NOW, last);
            v["expect"] = expect;
            v["last_accepted_after"] = json!(after);
            vectors.push(v);
            bytes
        };
    let basal_bytes = command("command_basal_rate", &basal, &clinic, "clinic", true, 5);
    let bolus = Command {
        command_id: 8,
        operation: 2,
        params: Params::new(&[(1, 500), (2, 600)]).unwrap(),
        ..basal
    };
    command("command_bolus", &bolus, &clinic, "clinic", true, 7);
    command("command_replayed", &basal, &clinic, "clinic", true, 7);
    command(
        "command_unknown_authority",
        &basal,
        &stranger,
        "stranger",
        true,
        5,
    );
    command(
        "command_bad_signature",
        &basal,
        &impostor,
        "impostor",
        true,
        5,
    );
    let c = Command {
        device_id: b"SN-0002",
        ..basal
    };
    command("command_wrong_device", &c, &clinic, "clinic", true, 5);
    let c = Command {
        issued_ms: NOW + 60_001,
        expires_ms: NOW + 360_000,
        ..basal
    };
    command("command_not_yet_valid", &c, &clinic, "clinic", true, 5);
    let c = Command {
        expires_ms: NOW,
        ..basal
    };
    let expired_bytes = command("command_expired", &c, &clinic, "clinic", true, 5);
    let c = Command {
        operation: 3,
        params: Params::EMPTY,
        ..basal
    };
    command(
        "command_operation_not_allowed",
        &c,
        &clinic,
        "clinic",
        true,
        5,
    );
    let c = Command {
        params: Params::new(&[(1, 5_001)]).unwrap(),
        ..basal
    };
    command(
        "command_parameter_out_of_range",
        &c,
        &clinic,
        "clinic",
        true,
        5,
    );
    let c = Command {
        params: Params::new(&[(1, 1_000), (2, 10)]).unwrap(),
        ..basal
    };
    command(
        "command_parameter_not_granted",
        &c,
        &clinic,
        "clinic",
        true,
        5,
    );
    let c = Command {
        params: Params::new(&[]).unwrap(),
        ..basal
    };
    command("command_parameter_missing", &c, &clinic, "clinic", true, 5);

    // Commands the encoder refuses to write, signed as raw payloads.
    let mut raw = |name: &str, payload: &[u8], note: &str| {
        let bytes = sign_raw(&clinic, Kind::Command, payload);
        let mut v = signed_vector(name, "command", "clinic", &bytes, true);
        v["note"] = json!(note);
        v["check"] = json!({"now_ms": NOW, "last_accepted": 5});
        let (expect, after) = check_command(&file, &bytes, NOW, 5);
        v["expect"] = expect;
        v["last_accepted_after"] = json!(after);
        vectors.push(v);
    };
    raw(
        "command_malformed_payload",
        &[0xa0],
        "a signed empty map: no device id",
    );
    // expires == issued: an empty validity window.
    let mut p = Vec::new();
    p.extend_from_slice(&[0xa6, 0x01, 0x47]);
    p.extend_from_slice(DEVICE);
    p.extend_from_slice(&[0x02, 0x07, 0x03, 0x1b]);
    p.extend_from_slice(&(NOW - 1_000).to_be_bytes());
    p.extend_from_slice(&[0x04, 0x1b]);
    p.extend_from_slice(&(NOW - 1_000).to_be_bytes());
    p.extend_from_slice(&[0x05, 0x01, 0x06, 0xa1, 0x01, 0x19, 0x04, 0xe2]);
    raw(
        "command_empty_validity_window",
        &p,
        "expires_ms equal to issued_ms",
    );

    // A payload byte changed after signing (the parameter value 1250 -> 1251).
    let mut t = basal_bytes.clone();
    let n = t.len();
    assert_eq!(&t[n - 68..n - 66], &[0x04, 0xe2]);
    t[n - 67] = 0xe3;
    let mut v = signed_vector("command_tampered_payload", "command", "clinic", &t, false);
    v["note"] = json!("command_basal_rate with its parameter value changed from 1250 to 1251");
    v["check"] = json!({"now_ms": NOW, "last_accepted": 5});
    let (expect, after) = check_command(&file, &t, NOW, 5);
    v["expect"] = expect;
    v["last_accepted_after"] = json!(after);
    vectors.push(v);

    // Properly signed, but with alg -7 (ES256) in the protected header.
    let m = Message::parse(&basal_bytes).unwrap();
    let payload = Sign1::parse(m.body).unwrap().payload.to_vec();
    let mut tbs = vec![0x84, 0x6a];
    tbs.extend_from_slice(b"Signature1");
    tbs.extend_from_slice(&[0x43, 0xa1, 0x01, 0x26, 0x40, 0x58, payload.len() as u8]);
    tbs.extend_from_slice(&payload);
    let seed: [u8; 32] = hex::decode(CLINIC_SEED).unwrap().try_into().unwrap();
    let sig = {
        use ed25519_dalek::Signer as _;
        ed25519_dalek::SigningKey::from_bytes(&seed)
            .sign(&tbs)
            .to_bytes()
    };
    let mut cose = vec![0xd2, 0x84, 0x43, 0xa1, 0x01, 0x26, 0xa1, 0x04, 0x46];
    cose.extend_from_slice(b"clinic");
    cose.extend_from_slice(&[0x58, payload.len() as u8]);
    cose.extend_from_slice(&payload);
    cose.extend_from_slice(&[0x58, 0x40]);
    cose.extend_from_slice(&sig);
    let bytes = envelope(Kind::Command, &cose);
    let mut v = signed_vector(
        "command_other_algorithm",
        "command",
        "clinic",
        &bytes,
        false,
    );
    v["payload"] = json!(hex(&payload));
    v["note"] = json!("protected header {1: -7} (ES256) with an Ed25519 signature over its own Sig_structure; outside the profile");
    v["check"] = json!({"now_ms": NOW, "last_accepted": 5});
    let (expect, after) = check_command(&file, &bytes, NOW, 5);
    v["expect"] = expect;
    v["last_accepted_after"] = json!(after);
    vectors.push(v);

    // The genuine signature with s replaced by s + L (the group order): the verification
    // equation still holds, so a verifier that does not insist on a canonical s accepts it; a
    // strict one (section 5.1) refuses it.
    let mut t = basal_bytes.clone();
    let n = t.len();
    let l: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (b, l) in t[n - 32..].iter_mut().zip(l) {
        let v = u16::from(*b) + u16::from(l) + carry;
        *b = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0, "s + L fits 256 bits");
    let mut v = signed_vector("command_non_canonical_s", "command", "clinic", &t, false);
    v["note"] = json!("command_basal_rate with its signature's s replaced by s + L: the equation holds, s is not canonical");
    v["check"] = json!({"now_ms": NOW, "last_accepted": 5});
    let (expect, after) = check_command(&file, &t, NOW, 5);
    assert_eq!(expect["reason"], "bad_signature");
    v["expect"] = expect;
    v["last_accepted_after"] = json!(after);
    vectors.push(v);

    // Acknowledgements.
    let mut ack = |name: &str, a: CommandAck| {
        let n = a.encode(&mut buf).unwrap();
        vectors.push(json!({
            "name": name,
            "type": "command_ack",
            "hex": hex(&buf[..n]),
            "value": ack_json(&a),
        }));
    };
    ack(
        "ack_accepted",
        CommandAck {
            command_id: 7,
            status: AckStatus::Accepted,
            time_ms: NOW + 20,
        },
    );
    ack(
        "ack_executed",
        CommandAck {
            command_id: 7,
            status: AckStatus::Executed,
            time_ms: NOW + 1_500,
        },
    );
    ack(
        "ack_rejected_expired",
        CommandAck::rejected(&expired_bytes, CommandRejection::Expired, NOW + 20),
    );
    ack(
        "ack_failed",
        CommandAck {
            command_id: 8,
            status: AckStatus::Failed(0x0102),
            time_ms: NOW + 2_000,
        },
    );
    ack(
        "ack_rejected_unreadable",
        CommandAck::rejected(&[0x82, 0x10, 0x00], CommandRejection::Malformed, NOW + 20),
    );

    // Firmware: a 48-byte image in two chunks.
    let image: Vec<u8> = (0..48u32).map(|i| (i * 7 + 3) as u8).collect();
    file["image"] = json!(hex(&image));
    file["image_note"] =
        json!("the firmware image of firmware_manifest: bytes (7 i + 3) mod 256 for i = 0..47");
    let manifest = FirmwareManifest {
        vendor_id: VENDOR_ID,
        class_id: CLASS_ID,
        version: "2.5.0",
        sequence: 42,
        image_size: 48,
        digest: Sha256::digest(&image).into(),
        uri: Some("https://fw.example/p2a/2.5.0.bin"),
    };
    let mut man = |name: &str, m: &FirmwareManifest<'_>, s: &Signer, sn: &str, valid: bool| {
        let n = m.encode(s, &mut buf).unwrap();
        let bytes = buf[..n].to_vec();
        let mut v = signed_vector(name, "firmware_manifest", sn, &bytes, valid);
        v["value"] = manifest_json(m);
        v["expect"] = check_manifest(&file, &bytes);
        vectors.push(v);
        bytes
    };
    let manifest_bytes = man("firmware_manifest", &manifest, &vendor, "vendor", true);
    man(
        "manifest_unknown_authority",
        &manifest,
        &stranger,
        "stranger",
        true,
    );
    man(
        "manifest_bad_signature",
        &manifest,
        &fw_impostor,
        "fw_impostor",
        true,
    );
    let m = FirmwareManifest {
        class_id: *b"insulin-pump-p3b",
        ..manifest
    };
    man("manifest_wrong_class", &m, &vendor, "vendor", true);
    let m = FirmwareManifest {
        sequence: INSTALLED,
        ..manifest
    };
    man("manifest_rollback", &m, &vendor, "vendor", true);
    let m = FirmwareManifest {
        image_size: 4097,
        ..manifest
    };
    man("manifest_too_large", &m, &vendor, "vendor", true);
    let bytes = sign_raw(&vendor, Kind::FirmwareManifest, &[0xa1, 0x01, 0x41, 0x00]);
    let mut v = signed_vector(
        "manifest_malformed_payload",
        "firmware_manifest",
        "vendor",
        &bytes,
        true,
    );
    v["note"] = json!("a signed map holding a 1-byte vendor id and nothing else");
    v["expect"] = check_manifest(&file, &bytes);
    vectors.push(v);

    let mut chunk = |name: &str, c: ImageChunk<'_>| {
        let n = c.encode(&mut buf).unwrap();
        vectors.push(json!({
            "name": name,
            "type": "image_chunk",
            "hex": hex(&buf[..n]),
            "value": chunk_json(&c),
        }));
        buf[..n].to_vec()
    };
    let chunk0 = chunk(
        "image_chunk_0",
        ImageChunk {
            sequence: 42,
            offset: 0,
            data: &image[..32],
        },
    );
    let chunk1 = chunk(
        "image_chunk_1",
        ImageChunk {
            sequence: 42,
            offset: 32,
            data: &image[32..],
        },
    );
    let chunk_old = chunk(
        "image_chunk_other_transfer",
        ImageChunk {
            sequence: 41,
            offset: 0,
            data: &image[..32],
        },
    );
    let chunk_long = chunk(
        "image_chunk_beyond_image",
        ImageChunk {
            sequence: 42,
            offset: 32,
            data: &[0u8; 17],
        },
    );

    let mut status = |name: &str, s: UpdateStatus| {
        let n = s.encode(&mut buf).unwrap();
        vectors.push(json!({
            "name": name,
            "type": "update_status",
            "hex": hex(&buf[..n]),
            "value": status_json(&s),
        }));
    };
    status(
        "update_status_receiving",
        UpdateStatus {
            sequence: 42,
            state: UpdateState::Receiving,
            next_offset: 32,
        },
    );
    status(
        "update_status_installable",
        UpdateStatus {
            sequence: 42,
            state: UpdateState::Installable,
            next_offset: 48,
        },
    );
    status(
        "update_status_rejected",
        UpdateStatus::rejected(42, 0, UpdateRejection::DigestMismatch),
    );

    // Transfers.
    let transfer =
        |name: &str, resume: u32, chunks: &[&[u8]], alter: Option<(u32, u8)>, note: &str| {
            let mut t = json!({
                "name": name,
                "type": "transfer",
                "note": note,
                "manifest": "firmware_manifest",
                "resume_offset": resume,
                "chunks": chunks.iter().map(|c| hex(c)).collect::<Vec<_>>(),
            });
            if let Some((offset, xor)) = alter {
                t["alter_store"] = json!({"offset": offset, "xor": xor});
            }
            let (steps, fin) = run_transfer(&file, &manifest_bytes, &t);
            t["expect_steps"] = json!(steps);
            t["expect_finish"] = fin;
            t
        };
    let ts = [
        transfer("transfer_complete", 0, &[&chunk0, &chunk1], None, "both chunks in order, then the stored image is read back and matches"),
        transfer("transfer_chunk_wrong_offset", 0, &[&chunk1, &chunk0, &chunk1], None, "chunk 1 first is refused (bad_offset) and changes nothing; then both in order"),
        transfer("transfer_chunk_other_transfer", 0, &[&chunk_old, &chunk0, &chunk1], None, "a chunk of sequence 41 during the transfer of sequence 42 is a bad_offset"),
        transfer("transfer_chunk_beyond_image", 0, &[&chunk0, &chunk_long, &chunk1], None, "17 bytes at offset 32 of a 48-byte image: size_mismatch"),
        transfer("transfer_resumed", 32, &[&chunk1], None, "resumed at the persisted offset 32 after a reboot (the store already holds bytes 0..32)"),
        transfer("transfer_finish_early", 0, &[&chunk0], None, "finish before the last byte: size_mismatch"),
        transfer("transfer_stored_image_altered", 0, &[&chunk0, &chunk1], Some((5, 0x01)), "every chunk was right, but byte 5 of the store changed before finish: digest_mismatch"),
    ];
    vectors.extend(ts);

    // App update notices.
    let notice = AppUpdateNotice {
        app_id: APP_ID,
        version: "3.1.0",
        sequence: 310,
        digest: Sha256::digest(b"companion app 3.1.0 package").into(),
        uri: Some("https://apps.example/pump"),
        min_firmware_sequence: Some(42),
    };
    let mut note = |name: &str, n: &AppUpdateNotice<'_>| {
        let k = n.encode(&vendor, &mut buf).unwrap();
        let bytes = buf[..k].to_vec();
        let mut v = signed_vector(name, "app_update_notice", "vendor", &bytes, true);
        v["value"] = notice_json(n);
        v["expect"] = check_notice(&file, &bytes);
        vectors.push(v);
    };
    note("app_update_notice", &notice);
    note(
        "app_update_notice_minimal",
        &AppUpdateNotice {
            uri: None,
            min_firmware_sequence: None,
            sequence: 311,
            ..notice
        },
    );
    note(
        "app_notice_wrong_app",
        &AppUpdateNotice {
            app_id: "com.example.meter",
            ..notice
        },
    );
    note(
        "app_notice_rollback",
        &AppUpdateNotice {
            sequence: 300,
            ..notice
        },
    );

    file["vectors"] = json!(vectors);
    file
}

#[test]
#[ignore = "writes spec/vectors/messages_signed.json; run once after a deliberate change"]
fn generate_vectors() {
    let text = serde_json::to_string_pretty(&generate()).unwrap() + "\n";
    std::fs::write(vectors_path("messages_signed.json"), text).unwrap();
}

#[test]
fn generator_matches_the_checked_in_file() {
    assert_eq!(
        generate(),
        load("messages_signed.json"),
        "run: cargo test -p tether --test message_vectors_signed -- --ignored generate_vectors"
    );
}

// ---------------------------------------------------------------------------------------------
// Checks of the checked-in file.

/// For a signed vector: the COSE object is the body, its payload is "payload", re-signing the
/// payload with the named key gives the same bytes when the signature is valid.
fn check_signed_parts(file: &Value, v: &Value, kind: Kind) -> Vec<u8> {
    let bytes = unhex(&v["hex"]);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.kind, kind);
    assert_eq!(m.body, &unhex(&v["cose"])[..]);
    if let Ok(s) = Sign1::parse(m.body) {
        assert_eq!(s.payload, &unhex(&v["payload"])[..]);
        let key = authority(file, v["signer"].as_str().unwrap());
        assert_eq!(s.verify(key.public()), v["signature_valid"] == true);
        assert_eq!(s.kid, key.kid());
        if v["signature_valid"] == true {
            let mut out = [0u8; MAX_SIGN1_LEN];
            let n = signer(file, v["signer"].as_str().unwrap())
                .sign(s.payload, &mut out)
                .unwrap();
            assert_eq!(&out[..n], m.body);
        }
    }
    bytes
}

#[test]
fn vectors_decode_and_encode_both_ways() {
    let file = load("messages_signed.json");
    let mut counts = std::collections::BTreeMap::new();
    let mut out = vec![0u8; 2048];
    for v in file["vectors"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let ty = v["type"].as_str().unwrap();
        *counts.entry(ty.to_string()).or_insert(0) += 1;
        match ty {
            "command" => {
                let bytes = check_signed_parts(&file, v, Kind::Command);
                if !v["value"].is_null() {
                    let payload = unhex(&v["payload"]);
                    let decoded = Command::decode_payload(&payload).unwrap();
                    assert_eq!(command_json(&decoded), v["value"], "{name}: decode");
                    let s = signer(&file, v["signer"].as_str().unwrap());
                    let n = with_command(&v["value"], |c| c.encode(&s, &mut out).unwrap());
                    assert_eq!(hex(&out[..n]), v["hex"], "{name}: encode");
                }
                let check = &v["check"];
                let (expect, after) = check_command(
                    &file,
                    &bytes,
                    u(&check["now_ms"]),
                    u(&check["last_accepted"]),
                );
                assert_eq!(expect, v["expect"], "{name}: verify");
                assert_eq!(after, u(&v["last_accepted_after"]), "{name}");
            }
            "command_ack" => {
                let bytes = unhex(&v["hex"]);
                assert_eq!(
                    ack_json(&CommandAck::decode(&bytes).unwrap()),
                    v["value"],
                    "{name}"
                );
                let n = ack_from(&v["value"]).encode(&mut out).unwrap();
                assert_eq!(&out[..n], &bytes[..], "{name}");
            }
            "firmware_manifest" => {
                let bytes = check_signed_parts(&file, v, Kind::FirmwareManifest);
                if !v["value"].is_null() {
                    let payload = unhex(&v["payload"]);
                    let decoded = FirmwareManifest::decode_payload(&payload).unwrap();
                    assert_eq!(manifest_json(&decoded), v["value"], "{name}: decode");
                    let s = signer(&file, v["signer"].as_str().unwrap());
                    let n = with_manifest(&v["value"], |m| m.encode(&s, &mut out).unwrap());
                    assert_eq!(hex(&out[..n]), v["hex"], "{name}: encode");
                }
                assert_eq!(check_manifest(&file, &bytes), v["expect"], "{name}: verify");
            }
            "image_chunk" => {
                let bytes = unhex(&v["hex"]);
                let c = ImageChunk::decode(&bytes).unwrap();
                assert_eq!(chunk_json(&c), v["value"], "{name}");
                let data = unhex(&v["value"]["data"]);
                let n = ImageChunk {
                    sequence: u(&v["value"]["sequence"]),
                    offset: u(&v["value"]["offset"]) as u32,
                    data: &data,
                }
                .encode(&mut out)
                .unwrap();
                assert_eq!(&out[..n], &bytes[..], "{name}");
            }
            "update_status" => {
                let bytes = unhex(&v["hex"]);
                assert_eq!(
                    status_json(&UpdateStatus::decode(&bytes).unwrap()),
                    v["value"]
                );
                let n = status_from(&v["value"]).encode(&mut out).unwrap();
                assert_eq!(&out[..n], &bytes[..], "{name}");
            }
            "app_update_notice" => {
                let bytes = check_signed_parts(&file, v, Kind::AppUpdateNotice);
                let payload = unhex(&v["payload"]);
                let decoded = AppUpdateNotice::decode_payload(&payload).unwrap();
                assert_eq!(notice_json(&decoded), v["value"], "{name}: decode");
                let s = signer(&file, v["signer"].as_str().unwrap());
                let n = with_notice(&v["value"], |m| m.encode(&s, &mut out).unwrap());
                assert_eq!(hex(&out[..n]), v["hex"], "{name}: encode");
                assert_eq!(check_notice(&file, &bytes), v["expect"], "{name}: verify");
            }
            "transfer" => {
                let manifest = file["vectors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["name"] == v["manifest"])
                    .unwrap();
                let (steps, fin) = run_transfer(&file, &unhex(&manifest["hex"]), v);
                assert_eq!(json!(steps), v["expect_steps"], "{name}");
                assert_eq!(fin, v["expect_finish"], "{name}");
            }
            other => panic!("unknown vector type {other}"),
        }
    }
    // Every kind of message is covered, with the rejected cases the spec lists.
    let want = [
        ("command", 17),
        ("command_ack", 5),
        ("firmware_manifest", 7),
        ("image_chunk", 4),
        ("update_status", 3),
        ("app_update_notice", 4),
        ("transfer", 7),
    ];
    for (ty, n) in want {
        assert_eq!(counts.get(ty), Some(&n), "{ty}");
    }
}

#[test]
fn every_rejection_reason_has_a_vector() {
    let file = load("messages_signed.json");
    let reasons: std::collections::BTreeSet<String> = file["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|v| {
            let mut r: Vec<&Value> = vec![&v["expect"], &v["expect_finish"]];
            if let Some(steps) = v["expect_steps"].as_array() {
                r.extend(steps);
            }
            r.into_iter()
                .filter_map(|e| {
                    e["reason"]
                        .as_str()
                        .map(|s| format!("{}:{s}", v["type"].as_str().unwrap()))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for r in [
        "bad_signature",
        "unknown_authority",
        "wrong_device",
        "expired",
        "not_yet_valid",
        "operation_not_allowed",
        "parameter_out_of_range",
        "replayed",
        "malformed",
    ] {
        assert!(reasons.contains(&format!("command:{r}")), "command {r}");
    }
    for r in [
        "bad_signature",
        "unknown_authority",
        "wrong_class",
        "rollback",
        "too_large",
        "malformed",
    ] {
        assert!(
            reasons.contains(&format!("firmware_manifest:{r}")),
            "manifest {r}"
        );
    }
    for r in ["bad_offset", "size_mismatch", "digest_mismatch"] {
        assert!(reasons.contains(&format!("transfer:{r}")), "transfer {r}");
    }
}

/// spec/vectors/pycose_signed.json: COSE objects pycose made from this file's payloads and seeds.
/// tether accepts them, and (Ed25519 being deterministic and both sides writing preferred CBOR)
/// they are byte for byte tether's own.
#[test]
fn pycose_objects_are_accepted() {
    let file = load("messages_signed.json");
    let py = load("pycose_signed.json");
    let objects = py["objects"].as_array().unwrap();
    assert!(objects.len() >= 2);
    let mut kinds = std::collections::BTreeSet::new();
    for o in objects {
        let name = o["name"].as_str().unwrap();
        let source = file["vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == o["source"])
            .unwrap();
        let bytes = unhex(&o["hex"]);
        let m = Message::parse(&bytes).unwrap();
        assert_eq!(m.body, &unhex(&o["cose"])[..], "{name}");
        let s = Sign1::parse(m.body).unwrap();
        assert_eq!(s.payload, &unhex(&source["payload"])[..], "{name}");
        match o["type"].as_str().unwrap() {
            "command" => {
                let (expect, _) = check_command(&file, &bytes, NOW, 5);
                assert_eq!(expect["result"], "accepted", "{name}");
            }
            "firmware_manifest" => {
                assert_eq!(
                    check_manifest(&file, &bytes)["result"],
                    "accepted",
                    "{name}"
                );
            }
            other => panic!("unexpected type {other}"),
        }
        kinds.insert(o["type"].as_str().unwrap().to_string());
        assert_eq!(o["identical_to_tether"], true, "{name}");
        assert_eq!(
            o["hex"], source["hex"],
            "{name}: pycose's bytes are tether's"
        );
    }
    assert_eq!(kinds.len(), 2);
}
