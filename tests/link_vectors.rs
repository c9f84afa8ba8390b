//! Known-answer vectors of the BLE link layer (spec/LINK.md section 9): spec/vectors/link.json,
//! regenerated here and compared byte for byte with the checked-in file; after a deliberate
//! change, `TETHER_BLESS=1 cargo test --test link_vectors` rewrites it (update spec/LINK.md in the
//! same commit). `python3 spec/vectors/check_link.py` checks the file again from the spec alone.
//!
//! The expected outcome of every step of every sequence is written here by hand and checked
//! against the reassembler before it goes into the file, so the file is not merely what the code
//! happens to do. The bytes-on-air table of spec/LINK.md section 7 is computed here from a real
//! reading (vitals message, delivery frame, sealed datagram record) and must appear in the spec
//! verbatim. The last test checks that fragmenting and reassembling never allocate.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use common::*;
use serde_json::{json, Value};
use tether::delivery::Frame;
use tether::link::{
    Fragmenter, LinkError, Mtu, Progress, Pushed, Reassembler, ATT_HEADER, DEFAULT_MAX_UNIT,
    MAX_UNIT,
};
use tether::message::decimal::Value as Number;
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};
use tether::*;

/// The MTUs of the vectors: the default, iOS's usual, the largest.
const MTUS: [u16; 3] = [23, 185, 517];

fn hex(b: &[u8]) -> String {
    hex::encode(b)
}

fn mtu(m: u16) -> Mtu {
    Mtu::new(m).unwrap()
}

fn fragments(unit: &[u8], mtu: Mtu, number: u8) -> Vec<Vec<u8>> {
    let mut f = Fragmenter::new(unit, mtu, number).unwrap();
    let mut buf = [0u8; 512];
    let mut out = Vec::new();
    while let Some(n) = f.next(&mut buf).unwrap() {
        out.push(buf[..n].to_vec());
    }
    out
}

/// Filler units: byte `i` is `(i * 7 + seed) mod 256`.
fn filler(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

/// `link.snake_case`, the names spec/LINK.md section 6 gives the errors.
fn error_name(e: LinkError) -> String {
    let mut out = String::from("link.");
    for (i, c) in format!("{e:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The reading: one SpO2 and pulse pair, in a delivery frame, in a sealed datagram record.
// ---------------------------------------------------------------------------------------------

/// 2026-01-15T08:30:00Z.
const READING_MS: u64 = 1_768_465_800_000;
/// The delivery sequence number of the reading: a day of one message a second.
const READING_SEQ: u64 = 86_400;

/// The standard BLE encodings of the same reading, without security: the PLX Continuous
/// Measurement (0x2A5F) with only its mandatory fields (flags, SpO2 and pulse rate as SFLOAT) and
/// the PLX Spot-Check Measurement (0x2A5E) with its timestamp (flags, SpO2, PR, Date Time of 7
/// bytes): Bluetooth SIG, Pulse Oximeter Service 1.0.1 and GATT Specification Supplement.
const PLX_CONTINUOUS: usize = 1 + 2 + 2;
const PLX_SPOT_CHECK_TIMESTAMP: usize = 1 + 2 + 2 + 7;

/// TLS 1.3's bytes around each record's content: 5 of header, 1 of inner content type, 16 of AEAD
/// tag (RFC 8446 section 5.2; the record-layer comparison in the project's domain notes).
const TLS13_RECORD_OVERHEAD: usize = 5 + 1 + 16;

struct ReadingBytes {
    message: Vec<u8>,
    frame: Vec<u8>,
    record: Vec<u8>,
}

/// The reading, sealed by the device of the `IK` ChaChaPoly datagram handshake vector (the same
/// fixed keys and ephemeral keys as tests/vectors.rs), as its first record.
fn reading() -> ReadingBytes {
    let channels = [
        Channel::Known {
            code: VitalCode::SpO2,
            exponent: 0,
        },
        Channel::Known {
            code: VitalCode::PulseRate,
            exponent: 0,
        },
    ];
    let readings = [
        Reading {
            time_ms: READING_MS,
            channel: 0,
            value: Number::number(97, 0),
        },
        Reading {
            time_ms: READING_MS,
            channel: 1,
            value: Number::number(72, 0),
        },
    ];
    let mut buf = [0u8; 256];
    let n = VitalsBatch::encode(READING_MS, 1000, &channels, &readings, &mut buf).unwrap();
    let message = buf[..n].to_vec();
    let n = Frame::Data {
        seq: READING_SEQ,
        message: &message,
    }
    .encode(&mut buf)
    .unwrap();
    let frame = buf[..n].to_vec();

    let (dev, cl) = (device(), cloud());
    let icfg = config(
        &dev,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DeviceCloud,
    );
    let rcfg = responder_config(&cl, Framing::Datagram, ChannelKind::DeviceCloud);
    let hs = Initiator::provisioned(&icfg, &cl.key.public(), &mut FixedEntropy::new(&[0xE1; 32]))
        .unwrap();
    let (mut d, mut c, _) = drive(
        hs,
        &rcfg,
        &mut accept_all,
        &mut accept_all,
        &mut FixedEntropy::new(&[0xE2; 32]),
    )
    .unwrap();
    let mut wire = [0u8; 512];
    let sealed = d.session.seal(T0, &frame, &mut wire).unwrap();
    let record = wire[..sealed.total()].to_vec();
    assert_eq!(record.len(), d.session.record_len(frame.len()));
    let mut plain = [0u8; 256];
    assert_eq!(
        c.session.open(T0, &record, &mut plain).unwrap(),
        Event::Data(&frame[..])
    );
    ReadingBytes {
        message,
        frame,
        record,
    }
}

/// Bytes on air for `unit` at `m`: every fragment plus its ATT header.
fn on_air(unit: &[u8], m: Mtu) -> (usize, usize) {
    let f = fragments(unit, m, 0);
    let n = f.len();
    (n, f.iter().map(|f| f.len() + ATT_HEADER).sum())
}

/// The bytes-on-air block of spec/LINK.md section 7, exactly as it must appear there.
fn bytes_on_air_table(r: &ReadingBytes) -> String {
    let mut t = format!(
        "The reading: a vitals message of {} bytes (one SpO2 and one pulse-rate reading),\n\
         in a delivery data frame of {} bytes (sequence number {}),\n\
         in a datagram record of {} bytes.\n\
         \n\
         | carrier | ATT PDUs | link headers | ATT headers | bytes on air |\n\
         |---|---:|---:|---:|---:|\n",
        r.message.len(),
        r.frame.len(),
        READING_SEQ,
        r.record.len()
    );
    for m in MTUS {
        let (n, air) = on_air(&r.record, mtu(m));
        let link = 2 + 2 * n;
        assert_eq!(air, r.record.len() + link + ATT_HEADER * n);
        t += &format!(
            "| tether, ATT_MTU {m} | {n} | {link} | {} | **{air}** |\n",
            ATT_HEADER * n
        );
    }
    // TLS 1.3 carrying the same delivery frame: one record, its bytes cut into attribute values
    // of the largest size as a byte stream (TLS needs the values in order and none lost, so no
    // header of its own).
    for m in MTUS {
        let tls = r.frame.len() + TLS13_RECORD_OVERHEAD;
        let n = tls.div_ceil(mtu(m).max_fragment());
        t += &format!(
            "| TLS 1.3 record of the same frame, a byte stream, ATT_MTU {m} | {n} | 0 | {} | **{}** |\n",
            ATT_HEADER * n,
            tls + ATT_HEADER * n
        );
    }
    for (name, len) in [
        ("PLX Continuous Measurement, no security", PLX_CONTINUOUS),
        (
            "PLX Spot-Check Measurement with timestamp, no security",
            PLX_SPOT_CHECK_TIMESTAMP,
        ),
    ] {
        t += &format!(
            "| {name} ({len}-byte value) | 1 | 0 | {ATT_HEADER} | **{}** |\n",
            len + ATT_HEADER
        );
    }
    t
}

#[test]
fn bytes_on_air_table_is_in_the_spec() {
    let r = reading();
    let table = bytes_on_air_table(&r);
    let spec = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("spec/LINK.md"))
        .unwrap();
    assert!(
        spec.contains(&table),
        "spec/LINK.md section 7 must contain exactly:\n\n{table}"
    );
}

// ---------------------------------------------------------------------------------------------
// Units: fragments per MTU.
// ---------------------------------------------------------------------------------------------

fn units_json(r: &ReadingBytes) -> Value {
    let mut out = Vec::new();
    let mut i = 0u8;
    for m in MTUS {
        let mtu = mtu(m);
        let f = mtu.max_fragment();
        let cases: [(&str, Vec<u8>); 6] = [
            ("1 byte", filler(1, 1)),
            ("exactly one full fragment", filler(f - 4, 2)),
            ("one byte more than a full fragment", filler(f - 3, 3)),
            (
                "a reading: one datagram record (spec/LINK.md section 7)",
                r.record.clone(),
            ),
            (
                "the largest delivery record (DEFAULT_MAX_UNIT)",
                filler(DEFAULT_MAX_UNIT, 4),
            ),
            (
                "the largest unit at ATT_MTU 23",
                filler(Mtu::DEFAULT.max_unit(), 5),
            ),
        ];
        for (name, unit) in cases {
            // Numbers spread over the 6 bits from 63; the sender passes any u8 (a wrapping
            // counter), of which the 6 low bits travel.
            let number = i.wrapping_mul(37).wrapping_add(63);
            i += 1;
            let frags = fragments(&unit, mtu, number);
            let n = frags.len();
            assert_eq!(Some(n), mtu.fragments(unit.len()));
            // Reassembled, they give the unit back.
            let mut rx = Reassembler::new(MAX_UNIT).unwrap();
            rx.set_mtu(mtu);
            let mut got = None;
            for (i, frag) in frags.iter().enumerate() {
                let p = rx.push(frag).unwrap();
                assert!(!p.interrupted);
                assert_eq!(p.unit.is_some(), i + 1 == n);
                got = p.unit.map(<[u8]>::to_vec);
            }
            assert_eq!(got.as_deref(), Some(&unit[..]));
            let link_overhead = 2 + 2 * n;
            let bytes_on_air: usize = frags.iter().map(|f| f.len() + ATT_HEADER).sum();
            assert_eq!(bytes_on_air, unit.len() + link_overhead + ATT_HEADER * n);
            out.push(json!({
                "name": name,
                "mtu": m,
                "max_fragment": f,
                "number": number & 63,
                "unit_len": unit.len(),
                "unit": hex(&unit),
                "fragments": frags.iter().map(|f| hex(f)).collect::<Vec<_>>(),
                "link_overhead": link_overhead,
                "bytes_on_air": bytes_on_air,
            }));
        }
    }
    Value::Array(out)
}

// ---------------------------------------------------------------------------------------------
// Sequences: fragments into a fresh reassembler, with the outcome of every step.
// ---------------------------------------------------------------------------------------------

/// The expected outcome of one step.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    Pending { interrupted: bool },
    Unit { unit: Vec<u8>, interrupted: bool },
    Error(LinkError),
}

const P: Want = Want::Pending { interrupted: false };
const PI: Want = Want::Pending { interrupted: true };

fn unit(u: &[u8]) -> Want {
    Want::Unit {
        unit: u.to_vec(),
        interrupted: false,
    }
}

fn err(e: LinkError) -> Want {
    Want::Error(e)
}

struct Sequence {
    name: &'static str,
    description: &'static str,
    mtu: u16,
    max_unit: usize,
    steps: Vec<(Vec<u8>, Want)>,
}

fn seq(name: &'static str, description: &'static str, steps: Vec<(Vec<u8>, Want)>) -> Sequence {
    Sequence {
        name,
        description,
        mtu: 23,
        max_unit: DEFAULT_MAX_UNIT,
        steps,
    }
}

fn with_end(mut f: Vec<u8>) -> Vec<u8> {
    f[0] |= 0x40;
    f
}

fn sequences() -> Vec<Sequence> {
    let m = Mtu::DEFAULT;
    // A: 60 bytes in 4 fragments (16 + 18 + 18 + 8), number 1. B: 40 bytes in 3 (16 + 18 + 6),
    // number 2. C: 10 bytes in one, number 3.
    let a_unit = filler(60, 0xA0);
    let a = fragments(&a_unit, m, 1);
    let b_unit = filler(40, 0xB0);
    let b = fragments(&b_unit, m, 2);
    let c_unit = filler(10, 0xC0);
    let c = fragments(&c_unit, m, 3);
    // D: 60 bytes like A, number 1 + 64, so the same number on the air.
    let d_unit = filler(60, 0xD0);
    let d = fragments(&d_unit, m, 65);
    let mut spliced = a_unit[..34].to_vec();
    spliced.extend_from_slice(&d_unit[34..]);
    let s = |f: &[u8]| f.to_vec();

    let mut out = vec![
        seq(
            "in_order",
            "the three fragments of B in order",
            vec![(s(&b[0]), P), (s(&b[1]), P), (s(&b[2]), unit(&b_unit))],
        ),
        seq(
            "single_fragment",
            "a one-fragment unit: START and END set",
            vec![(s(&c[0]), unit(&c_unit))],
        ),
        seq(
            "interrupted_keeps_new",
            "A's fragments 0 and 1, then B: B's START fragment abandons A, is reported as \
             interrupted, and B completes",
            vec![
                (s(&a[0]), P),
                (s(&a[1]), P),
                (s(&b[0]), PI),
                (s(&b[1]), P),
                (s(&b[2]), unit(&b_unit)),
            ],
        ),
        seq(
            "interrupted_by_one_fragment_unit",
            "A's fragment 0, then C (one fragment): C is yielded by the call that reports the \
             interruption",
            vec![
                (s(&a[0]), P),
                (
                    s(&c[0]),
                    Want::Unit {
                        unit: c_unit.clone(),
                        interrupted: true,
                    },
                ),
            ],
        ),
        seq(
            "repeated_start_restarts",
            "A's START fragment twice: the second restarts A, which then completes",
            vec![
                (s(&a[0]), P),
                (s(&a[0]), PI),
                (s(&a[1]), P),
                (s(&a[2]), P),
                (s(&a[3]), unit(&a_unit)),
            ],
        ),
        seq(
            "not_started",
            "A without its START fragment",
            vec![
                (s(&a[1]), err(LinkError::NotStarted)),
                (s(&a[2]), err(LinkError::NotStarted)),
                (s(&a[3]), err(LinkError::NotStarted)),
            ],
        ),
        seq(
            "wrong_unit",
            "A's fragment 0, then B's fragment 1: A is abandoned, and its fragment 1 finds no \
             unit in progress",
            vec![
                (s(&a[0]), P),
                (s(&b[1]), err(LinkError::WrongUnit)),
                (s(&a[1]), err(LinkError::NotStarted)),
            ],
        ),
        seq(
            "gap",
            "A's fragment 1 lost",
            vec![
                (s(&a[0]), P),
                (s(&a[2]), err(LinkError::Gap)),
                (s(&a[3]), err(LinkError::NotStarted)),
            ],
        ),
        seq(
            "duplicate",
            "A's fragment 1 twice: the copy abandons A",
            vec![
                (s(&a[0]), P),
                (s(&a[1]), P),
                (s(&a[1]), err(LinkError::Duplicate)),
                (s(&a[2]), err(LinkError::NotStarted)),
            ],
        ),
        seq(
            "earlier_index",
            "A's fragment 1 again after fragment 2",
            vec![
                (s(&a[0]), P),
                (s(&a[1]), P),
                (s(&a[2]), P),
                (s(&a[1]), err(LinkError::Duplicate)),
                (s(&a[3]), err(LinkError::NotStarted)),
            ],
        ),
        seq(
            "oversized_zero",
            "START fragments declaring a unit of 0 bytes",
            vec![
                (vec![0xC0, 0, 0, 0], err(LinkError::Oversized)),
                (vec![0x80, 0, 0, 0, 0xEE], err(LinkError::Oversized)),
            ],
        ),
        Sequence {
            max_unit: 100,
            ..seq(
                "oversized_max_unit",
                "a receiver with max_unit 100: a 101-byte unit is refused at its first fragment",
                {
                    let u = filler(101, 0x11);
                    let f = fragments(&u, m, 4);
                    let ok = filler(100, 0x12);
                    let g = fragments(&ok, m, 5);
                    let mut steps = vec![
                        (f[0].clone(), err(LinkError::Oversized)),
                        (f[1].clone(), err(LinkError::NotStarted)),
                    ];
                    let last = g.len() - 1;
                    for (i, frag) in g.into_iter().enumerate() {
                        steps.push((frag, if i == last { unit(&ok) } else { P }));
                    }
                    steps
                },
            )
        },
        Sequence {
            max_unit: MAX_UNIT,
            ..seq(
                "oversized_for_mtu",
                "max_unit 65535 at ATT_MTU 23: 4607 bytes need 257 fragments; 4606 is accepted",
                vec![
                    (vec![0x86, 0, 0x11, 0xFF, 0xEE], err(LinkError::Oversized)),
                    (vec![0x86, 0, 0x11, 0xFE, 0xEE], P),
                ],
            )
        },
        seq(
            "overrun_in_start",
            "START fragments carrying more than their declared length",
            vec![
                (vec![0xC7, 0, 0, 1, 0xEE, 0xEE], err(LinkError::Overrun)),
                (vec![0x87, 0, 0, 1, 0xEE, 0xEE], err(LinkError::Overrun)),
            ],
        ),
        seq(
            "overrun_in_last",
            "A's last fragment with one byte too many",
            vec![
                (s(&a[0]), P),
                (s(&a[1]), P),
                (s(&a[2]), P),
                (
                    {
                        let mut f = a[3].clone();
                        f.push(0xEE);
                        f
                    },
                    err(LinkError::Overrun),
                ),
            ],
        ),
        seq(
            "incomplete_end",
            "A's fragment 1 with END set: 34 of 60 bytes",
            vec![
                (s(&a[0]), P),
                (with_end(a[1].clone()), err(LinkError::Incomplete)),
                (s(&a[2]), err(LinkError::NotStarted)),
            ],
        ),
        seq(
            "incomplete_single",
            "a START and END fragment declaring 3 bytes and carrying 2",
            vec![(vec![0xC8, 0, 0, 3, 0xEE, 0xEE], err(LinkError::Incomplete))],
        ),
        seq(
            "incomplete_at_index_255",
            "a unit declared 1000 bytes sent one byte per fragment: index 255 without END \
             cannot be followed",
            {
                let mut steps = vec![(vec![0x89, 0, 0x03, 0xE8, 0], P)];
                for i in 1..=254u8 {
                    steps.push((vec![0x09, i, i], P));
                }
                steps.push((vec![0x09, 255, 255], err(LinkError::Incomplete)));
                steps
            },
        ),
        seq(
            "truncated",
            "fragments shorter than their header, alone and inside A",
            vec![
                (vec![], err(LinkError::Truncated)),
                (vec![0x01], err(LinkError::Truncated)),
                (vec![0x81, 0], err(LinkError::Truncated)),
                (vec![0xC1, 0, 0], err(LinkError::Truncated)),
                (s(&a[0]), P),
                (vec![0x01], err(LinkError::Truncated)),
                (s(&a[1]), err(LinkError::NotStarted)),
            ],
        ),
        seq(
            "too_long",
            "a 21-byte fragment at ATT_MTU 23 (fragments of ATT_MTU 24), then A interrupted by \
             one",
            {
                let big = fragments(&filler(60, 0x21), mtu(24), 6);
                vec![
                    (big[0].clone(), err(LinkError::TooLong)),
                    (s(&a[0]), P),
                    (big[1].clone(), err(LinkError::TooLong)),
                    (s(&a[1]), err(LinkError::NotStarted)),
                ]
            },
        ),
        seq(
            "start_index",
            "a START fragment with index 1",
            vec![
                (
                    {
                        let mut f = a[0].clone();
                        f[1] = 1;
                        f
                    },
                    err(LinkError::StartIndex),
                ),
                (s(&a[1]), err(LinkError::NotStarted)),
            ],
        ),
        seq(
            "short_fragments",
            "fragments shorter than the MTU allows, one of them empty, and an empty END: the \
             receiver accepts any split",
            vec![
                (vec![0x8A, 0, 0, 4, 1], P),
                (vec![0x0A, 1], P),
                (vec![0x0A, 2, 2, 3], P),
                (vec![0x0A, 3, 4], P),
                (vec![0x4A, 4], unit(&[1, 2, 3, 4])),
            ],
        ),
        seq(
            "splice_same_number",
            "a limit, not a requirement: A's first two fragments, then everything lost up to \
             D's fragment 2, 64 units later (the same number on the air, the same length). The \
             link layer yields a unit that was never sent; the record layer's AEAD rejects it \
             (spec/LINK.md section 8)",
            vec![
                (s(&a[0]), P),
                (s(&a[1]), P),
                (s(&d[2]), P),
                (s(&d[3]), unit(&spliced)),
            ],
        ),
    ];
    // Every error kind appears at least once.
    let kinds = [
        LinkError::TooLong,
        LinkError::Truncated,
        LinkError::StartIndex,
        LinkError::Oversized,
        LinkError::NotStarted,
        LinkError::WrongUnit,
        LinkError::Gap,
        LinkError::Duplicate,
        LinkError::Overrun,
        LinkError::Incomplete,
    ];
    for k in kinds {
        assert!(
            out.iter()
                .any(|s| s.steps.iter().any(|(_, w)| *w == Want::Error(k))),
            "no sequence for {k:?}"
        );
    }
    out.sort_by_key(|s| s.name);
    out
}

fn progress_json(p: Option<Progress>) -> Value {
    match p {
        None => Value::Null,
        Some(p) => json!({
            "number": p.number,
            "next_index": p.next_index,
            "received": p.received,
            "unit_len": p.unit_len,
        }),
    }
}

/// Runs a sequence, checks every step against its expected outcome, and describes it.
fn sequence_json(s: &Sequence) -> Value {
    let mut rx = Reassembler::new(s.max_unit).unwrap();
    rx.set_mtu(mtu(s.mtu));
    let mut steps = Vec::new();
    for (i, (fragment, want)) in s.steps.iter().enumerate() {
        let got = match rx.push(fragment) {
            Ok(Pushed {
                unit: Some(u),
                interrupted,
            }) => Want::Unit {
                unit: u.to_vec(),
                interrupted,
            },
            Ok(Pushed {
                unit: None,
                interrupted,
            }) => Want::Pending { interrupted },
            Err(Error::Link(e)) => Want::Error(e),
            Err(e) => panic!("{}: step {i}: not a link error: {e:?}", s.name),
        };
        assert_eq!(&got, want, "{}: step {i}", s.name);
        let mut step = json!({
            "fragment": hex(fragment),
            "in_progress": progress_json(rx.in_progress()),
        });
        match got {
            Want::Pending { interrupted } => {
                step["result"] = json!("pending");
                step["interrupted"] = json!(interrupted);
            }
            Want::Unit { unit, interrupted } => {
                step["result"] = json!("unit");
                step["interrupted"] = json!(interrupted);
                step["unit"] = json!(hex(&unit));
            }
            Want::Error(e) => {
                assert_eq!(rx.in_progress(), None, "{}: idle after an error", s.name);
                step["result"] = json!("error");
                step["error"] = json!(error_name(e));
            }
        }
        steps.push(step);
    }
    json!({
        "name": s.name,
        "description": s.description,
        "mtu": s.mtu,
        "max_unit": s.max_unit,
        "steps": steps,
    })
}

fn reading_json(r: &ReadingBytes) -> Value {
    let per_mtu: Vec<Value> = MTUS
        .iter()
        .map(|&m| {
            let (n, air) = on_air(&r.record, mtu(m));
            json!({
                "mtu": m,
                "fragments": n,
                "link_overhead": 2 + 2 * n,
                "att_headers": ATT_HEADER * n,
                "bytes_on_air": air,
            })
        })
        .collect();
    json!({
        "description": "one SpO2 (97 %) and one pulse-rate (72 /min) reading at 2026-01-15T08:30:00Z \
                        as a vitals message (spec/MESSAGES.md section 4), in a delivery data frame \
                        (section 6.2), sealed as the device's first datagram record of the \
                        IK_25519_ChaChaPoly_BLAKE2s_datagram handshake vector",
        "message": hex(&r.message),
        "frame": hex(&r.frame),
        "seq": READING_SEQ,
        "record": hex(&r.record),
        "per_mtu": per_mtu,
        "plx_continuous_len": PLX_CONTINUOUS,
        "plx_spot_check_timestamp_len": PLX_SPOT_CHECK_TIMESTAMP,
    })
}

fn vectors() -> Value {
    let r = reading();
    json!({
        "description": "BLE link layer vectors (spec/LINK.md section 9): units fragmented at \
                        ATT_MTU 23, 185 and 517; fragment sequences into a fresh reassembler with \
                        the outcome of every step; the bytes on air of one reading",
        "att_header": ATT_HEADER,
        "default_max_unit": DEFAULT_MAX_UNIT,
        "units": units_json(&r),
        "sequences": sequences().iter().map(sequence_json).collect::<Vec<_>>(),
        "reading": reading_json(&r),
    })
}

#[test]
fn vectors_match_the_checked_in_file() {
    common::match_or_bless("link.json", &vectors(), "link_vectors", "spec/LINK.md");
}

#[test]
fn vectors_are_deterministic() {
    assert_eq!(vectors(), vectors());
}

// ---------------------------------------------------------------------------------------------
// No allocation per fragment or unit.
// ---------------------------------------------------------------------------------------------

/// Counts the allocations of the current thread only, so that the other tests of this file,
/// running at the same time, do not disturb the count.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn no_allocation_per_fragment_or_unit() {
    let units: Vec<Vec<u8>> = [1, 16, 17, 80, 1063]
        .iter()
        .map(|&l| filler(l, 0x42))
        .collect();
    let mut rx = Reassembler::new(DEFAULT_MAX_UNIT).unwrap();
    rx.set_mtu(Mtu::DEFAULT);
    let mut buf = [0u8; 512];
    let before = ALLOCATIONS.with(Cell::get);
    let mut yielded = 0;
    for round in 0..20u8 {
        for (i, u) in units.iter().enumerate() {
            let mut f = Fragmenter::new(u, Mtu::DEFAULT, round.wrapping_add(i as u8)).unwrap();
            while let Some(n) = f.next(&mut buf).unwrap() {
                // Every other round, drop the third fragment: errors allocate nothing either.
                if round % 2 == 1 && f.remaining() + 3 == f.count() {
                    continue;
                }
                match rx.push(&buf[..n]) {
                    Ok(p) => yielded += usize::from(p.unit.is_some()),
                    Err(e) => assert!(matches!(e, Error::Link(_))),
                }
            }
        }
    }
    assert_eq!(ALLOCATIONS.with(Cell::get), before);
    // Even rounds deliver all five units; odd ones lose those of three fragments or more.
    assert_eq!(yielded, 10 * 5 + 10 * 3);
}
