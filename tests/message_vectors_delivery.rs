//! Known-answer vectors for the delivery layer: spec/vectors/messages_delivery.json.
//!
//! `delivery_vectors_match` checks every vector both ways (decode(hex) == value and
//! encode(value) == hex for frames; for the outbox, replaying the steps produces exactly the
//! stored bytes, and opening the stored bytes gives back the messages). The file is written by
//! the ignored generator: `cargo test --test message_vectors_delivery -- --ignored generate`.
#![cfg(feature = "outbox")]

use rand_core::{CryptoRng, RngCore};
use serde_json::{json, Value};
use tether::delivery::{
    Frame, IndexSlot, MemStorage, Outbox, OutboxConfig, StorageKey, StreamId, MAX_ENTRY, MAX_FRAME,
    MAX_SEQ,
};
use tether::{Error, Malformed, Problem};

fn path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/vectors/messages_delivery.json")
}

fn encode(f: &Frame<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_FRAME];
    let n = f.encode(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn frame_json(f: &Frame<'_>) -> Value {
    match f {
        Frame::Data { seq, message } => {
            json!({"type": "data", "seq": seq, "message": hex::encode(message)})
        }
        Frame::Ack { seq } => json!({"type": "ack", "seq": seq}),
        Frame::Hello { stream, first_seq } => {
            json!({"type": "hello", "stream": hex::encode(stream.0), "first_seq": first_seq})
        }
    }
}

/// Builds the frame a JSON value describes and hands it to `f` (the frame borrows `bytes`).
fn with_frame<R>(v: &Value, f: impl FnOnce(Frame<'_>) -> R) -> R {
    let seq = |k: &str| v[k].as_u64().unwrap();
    match v["type"].as_str().unwrap() {
        "data" => {
            let message = hex::decode(v["message"].as_str().unwrap()).unwrap();
            f(Frame::Data {
                seq: seq("seq"),
                message: &message,
            })
        }
        "ack" => f(Frame::Ack { seq: seq("seq") }),
        "hello" => {
            let s = hex::decode(v["stream"].as_str().unwrap()).unwrap();
            f(Frame::Hello {
                stream: StreamId(s.try_into().unwrap()),
                first_seq: seq("first_seq"),
            })
        }
        t => panic!("unknown frame type {t}"),
    }
}

fn valid_frames() -> Vec<(&'static str, Vec<u8>, Frame<'static>)> {
    let msg: &'static [u8] = &[0x82, 0x01, 0x80];
    let m24: &'static [u8] = Box::leak(vec![0x24u8; 24].into_boxed_slice());
    let m256: &'static [u8] = Box::leak((0..=255u8).collect::<Vec<_>>().into_boxed_slice());
    let stream = StreamId([0, 1, 2, 3, 4, 5, 6, 7]);
    let frames = [
        (
            "data, seq 1, a 3-byte message",
            Frame::Data {
                seq: 1,
                message: msg,
            },
        ),
        (
            "data, empty message",
            Frame::Data {
                seq: 2,
                message: &[],
            },
        ),
        (
            "data, seq 23 (last one-byte head)",
            Frame::Data {
                seq: 23,
                message: msg,
            },
        ),
        (
            "data, seq 24 (two-byte head)",
            Frame::Data {
                seq: 24,
                message: msg,
            },
        ),
        (
            "data, seq 256 (three-byte head)",
            Frame::Data {
                seq: 256,
                message: msg,
            },
        ),
        (
            "data, seq 65536 (five-byte head)",
            Frame::Data {
                seq: 65_536,
                message: msg,
            },
        ),
        (
            "data, seq 2^32 (nine-byte head)",
            Frame::Data {
                seq: 1 << 32,
                message: msg,
            },
        ),
        (
            "data, seq MAX_SEQ",
            Frame::Data {
                seq: MAX_SEQ,
                message: msg,
            },
        ),
        (
            "data, 24-byte message (two-byte length)",
            Frame::Data {
                seq: 3,
                message: m24,
            },
        ),
        (
            "data, 256-byte message (three-byte length)",
            Frame::Data {
                seq: 4,
                message: m256,
            },
        ),
        ("ack 0 (nothing delivered yet)", Frame::Ack { seq: 0 }),
        ("ack 1", Frame::Ack { seq: 1 }),
        ("ack 500", Frame::Ack { seq: 500 }),
        ("ack MAX_SEQ", Frame::Ack { seq: MAX_SEQ }),
        (
            "hello, a new stream",
            Frame::Hello {
                stream,
                first_seq: 1,
            },
        ),
        (
            "hello, resuming at 24",
            Frame::Hello {
                stream,
                first_seq: 24,
            },
        ),
        (
            "hello, first_seq MAX_SEQ + 1 (everything acknowledged)",
            Frame::Hello {
                stream,
                first_seq: MAX_SEQ + 1,
            },
        ),
    ];
    frames
        .into_iter()
        .map(|(n, f)| (n, encode(&f), f))
        .collect()
}

fn invalid_frames() -> Vec<(&'static str, Vec<u8>)> {
    let mut v: Vec<(&'static str, Vec<u8>)> = vec![
        ("empty input", vec![]),
        ("empty array", vec![0x80]),
        ("four elements", vec![0x84, 0, 1, 0x40, 0]),
        ("data without message", vec![0x82, 0x00, 0x01]),
        ("unknown frame type 3", vec![0x83, 0x03, 0x01, 0x40]),
        ("negative frame type", vec![0x83, 0x20, 0x01, 0x40]),
        ("data with seq 0", vec![0x83, 0x00, 0x00, 0x40]),
        (
            "seq 1 in two bytes (not preferred)",
            vec![0x83, 0x00, 0x18, 0x01, 0x40],
        ),
        ("message as text", vec![0x83, 0x00, 0x01, 0x60]),
        ("message cut short", vec![0x83, 0x00, 0x01, 0x42, 0xaa]),
        (
            "indefinite-length message",
            vec![0x83, 0x00, 0x01, 0x5f, 0xff],
        ),
        ("trailing byte", vec![0x83, 0x00, 0x01, 0x40, 0x00]),
        ("indefinite-length array", vec![0x9f, 0x01, 0x00, 0xff]),
        ("ack with three elements", vec![0x83, 0x01, 0x00, 0x00]),
        (
            "message of 1025 bytes (head only)",
            vec![0x83, 0x00, 0x01, 0x59, 0x04, 0x01],
        ),
        (
            "hello with a 7-byte stream id",
            vec![0x83, 0x02, 0x47, 1, 2, 3, 4, 5, 6, 7, 1],
        ),
        (
            "hello with first_seq 0",
            vec![0x83, 0x02, 0x48, 1, 2, 3, 4, 5, 6, 7, 8, 0],
        ),
    ];
    let mut ack = vec![0x82, 0x01, 0x1b];
    ack.extend_from_slice(&(MAX_SEQ + 1).to_be_bytes());
    v.push(("ack above MAX_SEQ", ack));
    let mut data = vec![0x83, 0x00, 0x1b];
    data.extend_from_slice(&(MAX_SEQ + 1).to_be_bytes());
    data.push(0x40);
    v.push(("data seq above MAX_SEQ", data));
    v
}

fn problem(bytes: &[u8]) -> Problem {
    match Frame::decode(bytes) {
        Err(Error::Malformed(Malformed::Message(p))) => p,
        other => panic!("{bytes:02x?} decoded to {other:?}"),
    }
}

/// Serves fixed bytes (the stream ids of the vectors).
struct Fixed(Vec<u8>);
impl RngCore for Fixed {
    fn next_u32(&mut self) -> u32 {
        unimplemented!()
    }
    fn next_u64(&mut self) -> u64 {
        unimplemented!()
    }
    fn fill_bytes(&mut self, d: &mut [u8]) {
        for x in d {
            *x = self.0.remove(0);
        }
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(d);
        Ok(())
    }
}
impl CryptoRng for Fixed {}

const OUTBOX_KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = i as u8;
        i += 1;
    }
    k
};
const OUTBOX_STREAM: [u8; 8] = [0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8];
const OUTBOX_SLOTS: u32 = 4;
const OUTBOX_BLOCK: u32 = 4;

fn hex_or_null(b: Option<&[u8]>) -> Value {
    b.map_or(Value::Null, |b| Value::String(hex::encode(b)))
}

fn storage_json(s: &MemStorage) -> Value {
    json!({
        "counter": s.counter(),
        "index_a": hex_or_null(s.index(IndexSlot::A)),
        "index_b": hex_or_null(s.index(IndexSlot::B)),
        "entries": (0..OUTBOX_SLOTS).map(|i| hex_or_null(s.entry(i))).collect::<Vec<_>>(),
    })
}

/// Replays the outbox scenario; returns the storage after each step.
fn outbox_scenario(steps: &[Value]) -> Vec<Value> {
    let mut ob = Outbox::open(
        MemStorage::new(OUTBOX_SLOTS, MAX_ENTRY),
        &StorageKey::new(OUTBOX_KEY),
        OutboxConfig {
            block: OUTBOX_BLOCK,
        },
        &mut Fixed(OUTBOX_STREAM.to_vec()),
    )
    .unwrap();
    let mut after = Vec::new();
    for step in steps {
        if let Some(m) = step.get("push") {
            let m = hex::decode(m.as_str().unwrap()).unwrap();
            assert_eq!(ob.push(&m).unwrap(), step["seq"].as_u64().unwrap());
        } else if let Some(upto) = step.get("release") {
            ob.release(upto.as_u64().unwrap()).unwrap();
        } else {
            assert_eq!(step["open"], true);
        }
        after.push(storage_json(ob.storage()));
    }
    after
}

fn outbox_steps() -> Vec<Value> {
    vec![
        json!({"open": true}),
        json!({"push": hex::encode([0x82, 0x01, 0x80]), "seq": 1}),
        json!({"push": hex::encode(b"second message"), "seq": 2}),
        json!({"release": 1}),
        json!({"push": hex::encode([]), "seq": 3}),
    ]
}

fn storage_from_json(v: &Value) -> MemStorage {
    let mut s = MemStorage::new(OUTBOX_SLOTS, MAX_ENTRY);
    let h = |v: &Value| v.as_str().map(|h| hex::decode(h).unwrap());
    s.set_counter(v["counter"].as_u64().unwrap());
    s.set_index(IndexSlot::A, h(&v["index_a"]));
    s.set_index(IndexSlot::B, h(&v["index_b"]));
    for (i, e) in v["entries"].as_array().unwrap().iter().enumerate() {
        s.set_entry(i as u32, h(e));
    }
    s
}

#[test]
#[ignore = "writes spec/vectors/messages_delivery.json"]
fn generate() {
    let frames: Vec<Value> = valid_frames()
        .iter()
        .map(
            |(name, hex, f)| json!({"name": name, "frame": frame_json(f), "hex": hex::encode(hex)}),
        )
        .collect();
    let invalid: Vec<Value> = invalid_frames()
        .iter()
        .map(|(name, bytes)| {
            let p = problem(bytes);
            json!({"name": name, "hex": hex::encode(bytes), "field": p.field, "problem": format!("{:?}", p.kind)})
        })
        .collect();
    let steps = outbox_steps();
    let after = outbox_scenario(&steps);
    let steps: Vec<Value> = steps
        .into_iter()
        .zip(after)
        .map(|(mut s, a)| {
            s["storage_after"] = a;
            s
        })
        .collect();
    let doc = json!({
        "description": "tether delivery layer (spec/MESSAGES.md section 6): frames, invalid frames with the field and problem a strict decoder reports, and an outbox scenario with every stored byte",
        "frames": frames,
        "invalid_frames": invalid,
        "outbox": {
            "key": hex::encode(OUTBOX_KEY),
            "stream": hex::encode(OUTBOX_STREAM),
            "slots": OUTBOX_SLOTS,
            "block": OUTBOX_BLOCK,
            "note": "storage starts empty with counter 0; 'open' creates the stream; storage_after is the whole storage after the step; messages are hex",
            "steps": steps,
            "unacknowledged": [{"seq": 2, "message": hex::encode(b"second message")}, {"seq": 3, "message": ""}],
        },
    });
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    std::fs::write(path(), text).unwrap();
}

#[test]
fn delivery_vectors_match() {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    let frames = doc["frames"].as_array().unwrap();
    assert_eq!(frames.len(), valid_frames().len());
    for v in frames {
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        let name = v["name"].as_str().unwrap();
        with_frame(&v["frame"], |f| {
            assert_eq!(Frame::decode(&bytes), Ok(f), "decode: {name}");
            assert_eq!(encode(&f), bytes, "encode: {name}");
        });
    }
    let invalid = doc["invalid_frames"].as_array().unwrap();
    assert_eq!(invalid.len(), invalid_frames().len());
    for v in invalid {
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        let p = problem(&bytes);
        assert_eq!(p.field, v["field"].as_str().unwrap(), "{}", v["name"]);
        assert_eq!(format!("{:?}", p.kind), v["problem"].as_str().unwrap());
    }

    let ob = &doc["outbox"];
    assert_eq!(ob["key"], hex::encode(OUTBOX_KEY));
    assert_eq!(ob["stream"], hex::encode(OUTBOX_STREAM));
    let steps = ob["steps"].as_array().unwrap();
    // Encoding: replaying the steps writes exactly the stored bytes.
    let after = outbox_scenario(steps);
    for (step, got) in steps.iter().zip(&after) {
        assert_eq!(&step["storage_after"], got, "{step}");
    }
    // Decoding: the final stored bytes open and give back the unacknowledged messages.
    let last = &steps.last().unwrap()["storage_after"];
    let mut opened = Outbox::open(
        storage_from_json(last),
        &StorageKey::new(OUTBOX_KEY),
        OutboxConfig {
            block: OUTBOX_BLOCK,
        },
        &mut Fixed(Vec::new()),
    )
    .unwrap();
    assert_eq!(opened.stream(), StreamId(OUTBOX_STREAM));
    let want = ob["unacknowledged"].as_array().unwrap();
    assert_eq!(opened.len(), want.len() as u64);
    for w in want {
        let mut out = [0u8; 64];
        let n = opened.read(w["seq"].as_u64().unwrap(), &mut out).unwrap();
        assert_eq!(hex::encode(&out[..n]), w["message"].as_str().unwrap());
    }
}
