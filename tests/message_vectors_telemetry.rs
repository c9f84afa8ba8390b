//! Known-answer vectors of the telemetry messages (spec/vectors/messages_telemetry.json,
//! format in spec/MESSAGES.md section 4, "Vectors").
//!
//! `vectors_match` reads the checked-in file and, for every valid vector, asserts that decoding
//! its hex gives its JSON value and that encoding the value gives its hex; for every invalid
//! vector, that decoding fails with its field and kind. The file is written by the ignored
//! `generate_vectors` test (`cargo test --test message_vectors_telemetry -- --ignored
//! generate_vectors`) from the cases below; the check parses the file independently of them.
//!
//! Also here: the size comparison of examples/vitals_size.rs, asserted.

use std::convert::Infallible;
use std::path::PathBuf;

use minicbor::data::Tag;
use minicbor::encode::Write;
use minicbor::Encoder;
use serde_json::{json, Map, Value as Json};
use tether::message::decimal::Value;
use tether::message::diagnostics::{DiagnosticsReport, ErrorCount, ErrorCounts};
use tether::message::security_event::{Cause, SecurityEvent, SecurityEventBatch};
use tether::message::usage::{UsageBatch, UsageEvent, UsageKind};
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};
use tether::{Error, Malformed, Problem};

#[path = "../examples/vitals_size.rs"]
#[allow(dead_code)]
mod vitals_size;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("spec/vectors/messages_telemetry.json")
}

// ---------------------------------------------------------------------------------------------
// JSON forms of the values (see the spec's "Vectors" section).

fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Number(d) => json!({"mantissa": d.mantissa, "exponent": d.exponent}),
        Value::NaN => json!("NaN"),
        Value::NRes => json!("NRes"),
        Value::PosInf => json!("+inf"),
        Value::NegInf => json!("-inf"),
    }
}

fn value_from_json(j: &Json) -> Value {
    match j {
        Json::String(s) => match s.as_str() {
            "NaN" => Value::NaN,
            "NRes" => Value::NRes,
            "+inf" => Value::PosInf,
            "-inf" => Value::NegInf,
            other => panic!("unknown special value {other}"),
        },
        Json::Object(o) => Value::number(
            o["mantissa"].as_i64().unwrap(),
            i8::try_from(o["exponent"].as_i64().unwrap()).unwrap(),
        ),
        other => panic!("not a value: {other}"),
    }
}

fn u(j: &Json) -> u64 {
    j.as_u64().unwrap_or_else(|| panic!("not a u64: {j}"))
}

/// A vitals batch as plain data.
#[derive(Debug, PartialEq)]
struct Vitals {
    base: u64,
    tick: u32,
    channels: Vec<Channel>,
    readings: Vec<Reading>,
}

fn vitals_to_json(v: &Vitals) -> Json {
    let channels: Vec<Json> = v
        .channels
        .iter()
        .map(|c| match *c {
            Channel::Known { code, exponent } => {
                json!({"table": code.table_code(), "exponent": exponent})
            }
            Channel::Other {
                mdc,
                unit,
                exponent,
            } => json!({"mdc": mdc, "unit": unit, "exponent": exponent}),
        })
        .collect();
    let readings: Vec<Json> = v
        .readings
        .iter()
        .map(|r| json!({"time_ms": r.time_ms, "channel": r.channel, "value": value_to_json(&r.value)}))
        .collect();
    json!({"base": v.base, "tick": v.tick, "channels": channels, "readings": readings})
}

fn vitals_from_json(j: &Json) -> Vitals {
    let channels = j["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let exponent = i8::try_from(c["exponent"].as_i64().unwrap()).unwrap();
            if let Some(t) = c.get("table") {
                Channel::Known {
                    code: VitalCode::from_table_code(u(t)).unwrap(),
                    exponent,
                }
            } else {
                Channel::Other {
                    mdc: u(&c["mdc"]) as u32,
                    unit: u(&c["unit"]) as u32,
                    exponent,
                }
            }
        })
        .collect();
    let readings = j["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Reading {
            time_ms: u(&r["time_ms"]),
            channel: u(&r["channel"]) as u8,
            value: value_from_json(&r["value"]),
        })
        .collect();
    Vitals {
        base: u(&j["base"]),
        tick: u(&j["tick"]) as u32,
        channels,
        readings,
    }
}

fn usage_to_json(base: u64, events: &[UsageEvent]) -> Json {
    let events: Vec<Json> = events
        .iter()
        .map(|e| json!({"time_ms": e.time_ms, "kind": e.kind.to_u64(), "value": e.value}))
        .collect();
    json!({"base": base, "events": events})
}

fn usage_from_json(j: &Json) -> (u64, Vec<UsageEvent>) {
    let events = j["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| UsageEvent {
            time_ms: u(&e["time_ms"]),
            kind: UsageKind::from_u64(u(&e["kind"])).unwrap(),
            value: e["value"].as_i64().unwrap(),
        })
        .collect();
    (u(&j["base"]), events)
}

fn security_to_json(base: u64, events: &[SecurityEvent]) -> Json {
    let events: Vec<Json> = events
        .iter()
        .map(|e| {
            json!({"time_ms": e.time_ms, "cause": e.cause.to_u64(), "detail": e.detail, "count": e.count})
        })
        .collect();
    json!({"base": base, "events": events})
}

fn security_from_json(j: &Json) -> (u64, Vec<SecurityEvent>) {
    let events = j["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| SecurityEvent {
            time_ms: u(&e["time_ms"]),
            cause: Cause::from_u64(u(&e["cause"])).unwrap(),
            detail: u(&e["detail"]),
            count: u(&e["count"]),
        })
        .collect();
    (u(&j["base"]), events)
}

/// A diagnostics report as owned data.
#[derive(Debug, PartialEq, Default)]
struct Diagnostics {
    time_ms: u64,
    battery_percent: Option<u8>,
    battery_mv: Option<u16>,
    firmware: Option<String>,
    errors: Option<Vec<ErrorCount>>,
    uptime_s: Option<u64>,
    signal_dbm: Option<i16>,
}

impl Diagnostics {
    fn report(&self) -> DiagnosticsReport<'_> {
        DiagnosticsReport {
            time_ms: self.time_ms,
            battery_percent: self.battery_percent,
            battery_mv: self.battery_mv,
            firmware: self.firmware.as_deref(),
            errors: self.errors.as_deref().map(ErrorCounts::new),
            uptime_s: self.uptime_s,
            signal_dbm: self.signal_dbm,
        }
    }
}

fn diagnostics_to_json(d: &Diagnostics) -> Json {
    let mut o = Map::new();
    o.insert("time_ms".into(), json!(d.time_ms));
    if let Some(p) = d.battery_percent {
        o.insert("battery_percent".into(), json!(p));
    }
    if let Some(mv) = d.battery_mv {
        o.insert("battery_mv".into(), json!(mv));
    }
    if let Some(f) = &d.firmware {
        o.insert("firmware".into(), json!(f));
    }
    if let Some(e) = &d.errors {
        let list: Vec<Json> = e
            .iter()
            .map(|c| json!({"code": c.code, "count": c.count}))
            .collect();
        o.insert("errors".into(), Json::Array(list));
    }
    if let Some(s) = d.uptime_s {
        o.insert("uptime_s".into(), json!(s));
    }
    if let Some(s) = d.signal_dbm {
        o.insert("signal_dbm".into(), json!(s));
    }
    Json::Object(o)
}

fn diagnostics_from_json(j: &Json) -> Diagnostics {
    Diagnostics {
        time_ms: u(&j["time_ms"]),
        battery_percent: j.get("battery_percent").map(|v| u(v) as u8),
        battery_mv: j.get("battery_mv").map(|v| u(v) as u16),
        firmware: j.get("firmware").map(|v| v.as_str().unwrap().to_string()),
        errors: j.get("errors").map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|c| ErrorCount {
                    code: u(&c["code"]) as u32,
                    count: u(&c["count"]) as u32,
                })
                .collect()
        }),
        uptime_s: j.get("uptime_s").map(u),
        signal_dbm: j.get("signal_dbm").map(|v| v.as_i64().unwrap() as i16),
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding by message type.

fn encode(ty: &str, value: &Json) -> Vec<u8> {
    let mut buf = vec![0u8; 64 * 1024];
    let n = match ty {
        "value" => value_from_json(value).encode(&mut buf),
        "vitals" => {
            let v = vitals_from_json(value);
            VitalsBatch::encode(v.base, v.tick, &v.channels, &v.readings, &mut buf)
        }
        "usage" => {
            let (base, events) = usage_from_json(value);
            UsageBatch::encode(base, &events, &mut buf)
        }
        "diagnostics" => diagnostics_from_json(value).report().encode(&mut buf),
        "security_events" => {
            let (base, events) = security_from_json(value);
            SecurityEventBatch::encode(base, &events, &mut buf)
        }
        other => panic!("unknown type {other}"),
    }
    .unwrap_or_else(|e| panic!("encoding a {ty} vector failed: {e}"));
    buf.truncate(n);
    buf
}

/// Decodes and converts to the JSON form, so the comparison is of plain data.
fn decode(ty: &str, bytes: &[u8]) -> Result<Json, Error> {
    Ok(match ty {
        "value" => value_to_json(&Value::decode(bytes)?),
        "vitals" => {
            let b = VitalsBatch::decode(bytes)?;
            vitals_to_json(&Vitals {
                base: b.base(),
                tick: b.tick(),
                channels: b.channels().to_vec(),
                readings: b.readings().collect(),
            })
        }
        "usage" => {
            let b = UsageBatch::decode(bytes)?;
            usage_to_json(b.base(), &b.events().collect::<Vec<_>>())
        }
        "diagnostics" => {
            let r = DiagnosticsReport::decode(bytes)?;
            diagnostics_to_json(&Diagnostics {
                time_ms: r.time_ms,
                battery_percent: r.battery_percent,
                battery_mv: r.battery_mv,
                firmware: r.firmware.map(str::to_string),
                errors: r.errors.map(|e| e.iter().collect()),
                uptime_s: r.uptime_s,
                signal_dbm: r.signal_dbm,
            })
        }
        "security_events" => {
            let b = SecurityEventBatch::decode(bytes)?;
            security_to_json(b.base(), &b.events().collect::<Vec<_>>())
        }
        other => panic!("unknown type {other}"),
    })
}

fn problem_of(e: Error) -> Problem {
    match e {
        Error::Malformed(Malformed::Message(p)) => p,
        other => panic!("not a message problem: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The cases the generator writes.

const T0: u64 = 1_768_465_800_000; // 2026-01-15T08:30:00Z

struct VecW(Vec<u8>);

impl Write for VecW {
    type Error = Infallible;
    fn write_all(&mut self, buf: &[u8]) -> Result<(), Infallible> {
        self.0.extend_from_slice(buf);
        Ok(())
    }
}

type E = Encoder<VecW>;
type R = Result<(), minicbor::encode::Error<Infallible>>;

/// CBOR written by hand, for the invalid vectors the encoders refuse to produce.
fn cbor(f: impl FnOnce(&mut E) -> R) -> Vec<u8> {
    let mut e = Encoder::new(VecW(Vec::new()));
    f(&mut e).unwrap();
    e.into_writer().0
}

fn raw(e: &mut E, bytes: &[u8]) -> R {
    e.writer_mut()
        .write_all(bytes)
        .map_err(minicbor::encode::Error::write)
}

/// `[1, {0: T0, 1: 1000, 2: [[1, 0]], 3: <readings>}]`: one SpO2 channel.
fn vitals_with(readings: impl FnOnce(&mut E) -> R) -> Vec<u8> {
    cbor(|e| {
        e.array(2)?.u8(1)?.map(4)?;
        e.u8(0)?.u64(T0)?.u8(1)?.u16(1000)?;
        e.u8(2)?.array(1)?.array(2)?.u8(1)?.u8(0)?;
        e.u8(3)?;
        readings(e)
    })
}

/// `[1, {0: T0, 1: 1000, 2: <channels>, 3: [0, 0, 97]}]`.
fn vitals_channels(channels: impl FnOnce(&mut E) -> R) -> Vec<u8> {
    cbor(|e| {
        e.array(2)?.u8(1)?.map(4)?;
        e.u8(0)?.u64(T0)?.u8(1)?.u16(1000)?.u8(2)?;
        channels(e)?;
        e.u8(3)?.array(3)?.u8(0)?.u8(0)?.u8(97)?;
        Ok(())
    })
}

/// `[3, {0: T0, <key>: <value>}]`.
fn diagnostics_with(key: u8, value: impl FnOnce(&mut E) -> R) -> Vec<u8> {
    cbor(|e| {
        e.array(2)?.u8(3)?.map(2)?.u8(0)?.u64(T0)?.u8(key)?;
        value(e)
    })
}

fn valid_cases() -> Vec<(&'static str, &'static str, Json)> {
    let known = |code, exponent| Channel::Known { code, exponent };
    let rd = |time_ms, channel, value| Reading {
        time_ms,
        channel,
        value,
    };
    let mut v = Vec::new();
    for (name, value) in [
        ("value/integer", Value::number(97, 0)),
        ("value/negative-integer", Value::number(-40, 0)),
        ("value/decimal-fraction", Value::number(975, -1)),
        ("value/precision-kept-2.00", Value::number(200, -2)),
        ("value/positive-exponent", Value::number(5, 3)),
        ("value/NaN", Value::NaN),
        ("value/NRes", Value::NRes),
        ("value/+inf", Value::PosInf),
        ("value/-inf", Value::NegInf),
    ] {
        v.push((name, "value", value_to_json(&value)));
    }
    v.push((
        "vitals/spo2-and-temperature",
        "vitals",
        vitals_to_json(&Vitals {
            base: T0,
            tick: 1000,
            channels: vec![
                known(VitalCode::SpO2, 0),
                known(VitalCode::BodyTemperature, -1),
            ],
            readings: vec![
                rd(T0, 0, Value::number(97, 0)),
                rd(T0 + 1000, 1, Value::number(372, -1)),
                rd(T0 + 1000, 0, Value::NaN),
                rd(T0 + 2000, 1, Value::number(3720, -2)),
                rd(T0 + 2000, 0, Value::number(96, 0)),
            ],
        }),
    ));
    v.push((
        "vitals/other-channel-and-specials",
        "vitals",
        vitals_to_json(&Vitals {
            base: T0,
            tick: 1,
            channels: vec![
                Channel::Other {
                    mdc: 150_017,
                    unit: 266_016,
                    exponent: 0,
                },
                known(VitalCode::RespirationRate, 0),
            ],
            readings: vec![
                rd(T0 + 250, 0, Value::number(118, 0)),
                rd(T0 + 500, 0, Value::PosInf),
                rd(T0 + 500, 1, Value::NRes),
                rd(T0 + 4000, 1, Value::NegInf),
            ],
        }),
    ));
    v.push((
        "vitals/glucose-mmol-per-litre",
        "vitals",
        vitals_to_json(&Vitals {
            base: T0,
            tick: 60_000,
            channels: vec![known(VitalCode::GlucoseMmolL, -1)],
            readings: vec![
                rd(T0 + 60_000, 0, Value::number(54, -1)),
                rd(T0 + 240_000, 0, Value::number(612, -2)),
                rd(T0 + 300_000, 0, Value::number(-1, 0)),
            ],
        }),
    ));
    v.push((
        "usage/therapy-session",
        "usage",
        usage_to_json(
            T0,
            &[
                UsageEvent {
                    time_ms: T0,
                    kind: UsageKind::TherapyStarted,
                    value: 3,
                },
                UsageEvent {
                    time_ms: T0 + 12_345,
                    kind: UsageKind::AlarmRaised,
                    value: 201,
                },
                UsageEvent {
                    time_ms: T0 + 20_000,
                    kind: UsageKind::AlarmCleared,
                    value: 201,
                },
                UsageEvent {
                    time_ms: T0 + 1_800_000,
                    kind: UsageKind::TherapyEnded,
                    value: 1800,
                },
                UsageEvent {
                    time_ms: T0 + 1_800_000,
                    kind: UsageKind::Vendor(4096),
                    value: -7,
                },
            ],
        ),
    ));
    v.push((
        "diagnostics/minimal",
        "diagnostics",
        diagnostics_to_json(&Diagnostics {
            time_ms: T0,
            ..Default::default()
        }),
    ));
    v.push((
        "diagnostics/full",
        "diagnostics",
        diagnostics_to_json(&Diagnostics {
            time_ms: T0,
            battery_percent: Some(87),
            battery_mv: Some(3712),
            firmware: Some("2.4.1-rc.1".into()),
            errors: Some(vec![
                ErrorCount { code: 17, count: 2 },
                ErrorCount {
                    code: 0x0001_0004,
                    count: 1,
                },
            ]),
            uptime_s: Some(86_400),
            signal_dbm: Some(-67),
        }),
    ));
    v.push((
        "security_events/mixed",
        "security_events",
        security_to_json(
            T0,
            &[
                SecurityEvent {
                    time_ms: T0,
                    cause: Cause::AuthenticationFailure,
                    detail: 2,
                    count: 250,
                },
                SecurityEvent {
                    time_ms: T0 + 40,
                    cause: Cause::CommandRejected,
                    detail: 4,
                    count: 1,
                },
                SecurityEvent {
                    time_ms: T0 + 40,
                    cause: Cause::DecodeError,
                    detail: 3,
                    count: 1,
                },
                SecurityEvent {
                    time_ms: T0 + 90_000,
                    cause: Cause::StorageTampered,
                    detail: 3,
                    count: 1,
                },
                SecurityEvent {
                    time_ms: T0 + 90_000,
                    cause: Cause::Vendor(2000),
                    detail: 77,
                    count: 3,
                },
            ],
        ),
    ));
    v
}

/// (name, type, bytes, field, kind).
fn invalid_cases() -> Vec<(
    &'static str,
    &'static str,
    Vec<u8>,
    &'static str,
    &'static str,
)> {
    let reading = |e: &mut E| -> R {
        e.array(3)?.u8(0)?.u8(0)?.u8(97)?;
        Ok(())
    };
    let mut valid_vitals = vitals_with(reading);
    valid_vitals.push(0x00);
    let trailing = valid_vitals;
    vec![
        (
            "value/half-float-1.0",
            "value",
            vec![0xf9, 0x3c, 0x00],
            "value",
            "WrongType",
        ),
        (
            "value/nan-with-payload",
            "value",
            vec![0xf9, 0x7e, 0x01],
            "value",
            "WrongType",
        ),
        (
            "value/tag4-with-default-exponent",
            "value",
            vec![0xc4, 0x82, 0x00, 0x18, 0x61],
            "value.exponent",
            "NotCanonical",
        ),
        (
            "value/truncated",
            "value",
            vec![0xc4, 0x82, 0x20],
            "value.mantissa",
            "Truncated",
        ),
        (
            "vitals/tag4-with-channel-exponent",
            "vitals",
            vitals_with(|e| {
                e.array(3)?.u8(0)?.u8(0)?;
                e.tag(Tag::new(4))?.array(2)?.u8(0)?.u8(97)?;
                Ok(())
            }),
            "vitals.readings.value.exponent",
            "NotCanonical",
        ),
        (
            "vitals/single-precision-nan",
            "vitals",
            vitals_with(|e| {
                e.array(3)?.u8(0)?.u8(0)?;
                raw(e, &[0xfa, 0x7f, 0xc0, 0x00, 0x00])
            }),
            "vitals.readings.value",
            "WrongType",
        ),
        (
            "vitals/non-canonical-integer",
            "vitals",
            vitals_with(|e| {
                e.array(3)?.u8(0)?.u8(0)?;
                raw(e, &[0x19, 0x00, 0x61])
            }),
            "vitals.readings.value",
            "NotCanonical",
        ),
        (
            "vitals/unknown-table-code",
            "vitals",
            vitals_channels(|e| {
                e.array(1)?.array(2)?.u8(11)?.u8(0)?;
                Ok(())
            }),
            "vitals.channels.code",
            "OutOfRange",
        ),
        (
            "vitals/table-entry-in-long-form",
            "vitals",
            vitals_channels(|e| {
                e.array(1)?.array(3)?.u32(150_456)?.u32(262_688)?.u8(0)?;
                Ok(())
            }),
            "vitals.channels.code",
            "NotCanonical",
        ),
        (
            "vitals/channel-index-out-of-range",
            "vitals",
            vitals_with(|e| {
                e.array(3)?.u8(0)?.u8(1)?.u8(97)?;
                Ok(())
            }),
            "vitals.readings.ch",
            "OutOfRange",
        ),
        (
            "vitals/readings-not-multiple-of-3",
            "vitals",
            vitals_with(|e| {
                e.array(4)?.u8(0)?.u8(0)?.u8(97)?.u8(0)?;
                Ok(())
            }),
            "vitals.readings",
            "OutOfRange",
        ),
        (
            // 513 readings claimed by the array head alone: the bound is checked before any
            // item is read, so the missing items are never reached.
            "vitals/513-readings-claimed",
            "vitals",
            vitals_with(|e| {
                e.array(3 * 513)?;
                Ok(())
            }),
            "vitals.readings",
            "TooMany",
        ),
        (
            "vitals/tick-zero",
            "vitals",
            cbor(|e| {
                e.array(2)?.u8(1)?.map(4)?;
                e.u8(0)?.u64(T0)?.u8(1)?.u8(0)?;
                e.u8(2)?.array(1)?.array(2)?.u8(1)?.u8(0)?;
                e.u8(3)?.array(3)?.u8(0)?.u8(0)?.u8(97)?;
                Ok(())
            }),
            "vitals.tick",
            "OutOfRange",
        ),
        (
            "vitals/time-overflow",
            "vitals",
            vitals_with(|e| {
                e.array(3)?.u64(u64::MAX / 1000)?.u8(0)?.u8(97)?;
                Ok(())
            }),
            "vitals.readings.dt",
            "OutOfRange",
        ),
        (
            "vitals/unknown-critical-key",
            "vitals",
            cbor(|e| {
                e.array(2)?.u8(1)?.map(5)?;
                e.u8(0)?.u64(T0)?.u8(1)?.u16(1000)?;
                e.u8(2)?.array(1)?.array(2)?.u8(1)?.u8(0)?;
                e.u8(3)?.array(3)?.u8(0)?.u8(0)?.u8(97)?;
                e.i8(-1)?.u8(0)?;
                Ok(())
            }),
            "vitals",
            "UnknownCritical",
        ),
        (
            "vitals/missing-readings",
            "vitals",
            cbor(|e| {
                e.array(2)?.u8(1)?.map(3)?;
                e.u8(0)?.u64(T0)?.u8(1)?.u16(1000)?;
                e.u8(2)?.array(1)?.array(2)?.u8(1)?.u8(0)?;
                Ok(())
            }),
            "vitals.readings",
            "Missing",
        ),
        (
            "vitals/trailing-byte",
            "vitals",
            trailing,
            "message",
            "TrailingBytes",
        ),
        (
            "vitals/indefinite-length-array",
            "vitals",
            vitals_with(|e| {
                e.begin_array()?.u8(0)?.u8(0)?.u8(97)?.end()?;
                Ok(())
            }),
            "vitals.readings",
            "NotCanonical",
        ),
        (
            "usage/reserved-kind",
            "usage",
            cbor(|e| {
                e.array(2)?.u8(2)?.map(2)?.u8(0)?.u64(T0)?.u8(1)?;
                e.array(1)?.array(3)?.u8(0)?.u8(9)?.u8(0)?;
                Ok(())
            }),
            "usage.events.kind",
            "OutOfRange",
        ),
        (
            "usage/no-events",
            "usage",
            cbor(|e| {
                e.array(2)?.u8(2)?.map(2)?.u8(0)?.u64(T0)?.u8(1)?.array(0)?;
                Ok(())
            }),
            "usage.events",
            "OutOfRange",
        ),
        (
            "diagnostics/bad-utf8",
            "diagnostics",
            diagnostics_with(3, |e| {
                e.str_len(2)?;
                raw(e, &[0xc3, 0x28])
            }),
            "diagnostics.firmware",
            "Utf8",
        ),
        (
            "diagnostics/firmware-33-bytes",
            "diagnostics",
            diagnostics_with(3, |e| e.str(&"9".repeat(33)).map(|_| ())),
            "diagnostics.firmware",
            "TooLong",
        ),
        (
            "diagnostics/battery-101-percent",
            "diagnostics",
            diagnostics_with(1, |e| e.u8(101).map(|_| ())),
            "diagnostics.battery_percent",
            "OutOfRange",
        ),
        (
            "diagnostics/error-count-zero",
            "diagnostics",
            diagnostics_with(4, |e| {
                e.array(1)?.array(2)?.u8(17)?.u8(0)?;
                Ok(())
            }),
            "diagnostics.errors.count",
            "OutOfRange",
        ),
        (
            "diagnostics/signal-below-range",
            "diagnostics",
            diagnostics_with(6, |e| e.i16(-151).map(|_| ())),
            "diagnostics.signal",
            "OutOfRange",
        ),
        (
            "diagnostics/repeated-key",
            "diagnostics",
            cbor(|e| {
                e.array(2)?.u8(3)?.map(3)?.u8(0)?.u64(T0)?;
                e.u8(1)?.u8(50)?.u8(1)?.u8(50)?;
                Ok(())
            }),
            "diagnostics",
            "Order",
        ),
        (
            "diagnostics/missing-time",
            "diagnostics",
            cbor(|e| {
                e.array(2)?.u8(3)?.map(1)?.u8(1)?.u8(50)?;
                Ok(())
            }),
            "diagnostics.time",
            "Missing",
        ),
        (
            "security_events/reserved-cause",
            "security_events",
            cbor(|e| {
                e.array(2)?.u8(4)?.map(2)?.u8(0)?.u64(T0)?.u8(1)?;
                e.array(1)?.array(4)?.u8(0)?.u8(10)?.u8(0)?.u8(1)?;
                Ok(())
            }),
            "security_events.events.cause",
            "OutOfRange",
        ),
        (
            "security_events/count-zero",
            "security_events",
            cbor(|e| {
                e.array(2)?.u8(4)?.map(2)?.u8(0)?.u64(T0)?.u8(1)?;
                e.array(1)?.array(4)?.u8(0)?.u8(1)?.u8(0)?.u8(0)?;
                Ok(())
            }),
            "security_events.events.count",
            "OutOfRange",
        ),
        (
            "security_events/wrong-kind",
            "security_events",
            cbor(|e| {
                e.array(2)?.u8(2)?.map(2)?.u8(0)?.u64(T0)?.u8(1)?;
                e.array(1)?.array(4)?.u8(0)?.u8(1)?.u8(0)?.u8(1)?;
                Ok(())
            }),
            "message.kind",
            "OutOfRange",
        ),
    ]
}

// ---------------------------------------------------------------------------------------------

/// Writes spec/vectors/messages_telemetry.json from the cases above.
#[test]
#[ignore = "writes spec/vectors/messages_telemetry.json; run after a deliberate format change"]
fn generate_vectors() {
    let valid: Vec<Json> = valid_cases()
        .into_iter()
        .map(|(name, ty, value)| {
            let bytes = encode(ty, &value);
            // The generator checks its own output both ways before writing it.
            assert_eq!(decode(ty, &bytes).unwrap(), value, "{name}");
            json!({"name": name, "type": ty, "hex": hex::encode(&bytes), "value": value})
        })
        .collect();
    let invalid: Vec<Json> = invalid_cases()
        .into_iter()
        .map(|(name, ty, bytes, field, kind)| {
            let p = problem_of(decode(ty, &bytes).unwrap_err());
            assert_eq!((p.field, format!("{:?}", p.kind).as_str()), (field, kind), "{name}");
            json!({"name": name, "type": ty, "hex": hex::encode(&bytes), "field": field, "kind": kind})
        })
        .collect();
    let doc = json!({
        "description": "Known-answer vectors of tether's telemetry messages (spec/MESSAGES.md section 4). \
            Each valid vector: decoding hex gives value, and encoding value gives hex. Each invalid \
            vector: decoding hex fails; field and kind are what tether reports.",
        "generator": "cargo test --test message_vectors_telemetry -- --ignored generate_vectors",
        "valid": valid,
        "invalid": invalid,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    std::fs::write(path(), text).unwrap();
}

#[test]
fn vectors_match() {
    let text = std::fs::read_to_string(path()).expect("spec/vectors/messages_telemetry.json");
    let doc: Json = serde_json::from_str(&text).unwrap();
    let valid = doc["valid"].as_array().unwrap();
    let invalid = doc["invalid"].as_array().unwrap();
    assert!(valid.len() >= 15 && invalid.len() >= 25);
    for types in ["value", "vitals", "usage", "diagnostics", "security_events"] {
        assert!(valid.iter().any(|v| v["type"] == types), "no valid {types}");
        assert!(
            invalid.iter().any(|v| v["type"] == types),
            "no invalid {types}"
        );
    }
    for v in valid {
        let (name, ty) = (v["name"].as_str().unwrap(), v["type"].as_str().unwrap());
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        assert_eq!(decode(ty, &bytes).unwrap(), v["value"], "decode {name}");
        assert_eq!(encode(ty, &v["value"]), bytes, "encode {name}");
    }
    for v in invalid {
        let (name, ty) = (v["name"].as_str().unwrap(), v["type"].as_str().unwrap());
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        let p = problem_of(decode(ty, &bytes).expect_err(name));
        assert_eq!(p.field, v["field"], "field of {name}");
        assert_eq!(
            format!("{:?}", p.kind),
            v["kind"].as_str().unwrap(),
            "kind of {name}"
        );
    }
}

#[test]
fn vitals_size_against_naive_cbor_and_fhir() {
    let s = vitals_size::measure();
    assert_eq!(s.readings, 124);
    // The size goal: at most 5 bytes per reading, envelope included.
    assert!(s.tether <= 5 * s.readings, "{s:?}");
    // Measured 538 / 5707 / 57686 bytes: over 10x smaller than one CBOR map per reading, and
    // over 100x smaller than FHIR JSON.
    assert!(s.tether * 10 < s.naive_cbor, "{s:?}");
    assert!(s.tether * 100 < s.fhir_json, "{s:?}");
}

#[test]
fn fhir_rendering_is_what_the_comparison_claims() {
    let (channels, readings) = vitals_size::example_batch();
    let text = vitals_size::fhir_json(&channels, &readings[..1]);
    let obs: Json = serde_json::from_str(&text).unwrap();
    let o = &obs[0];
    assert_eq!(o["resourceType"], "Observation");
    assert_eq!(o["category"][0]["coding"][0]["code"], "vital-signs");
    assert_eq!(
        o["code"]["coding"][0]["system"],
        "urn:iso:std:iso:11073:10101"
    );
    assert_eq!(o["code"]["coding"][0]["code"], "150456");
    assert_eq!(o["code"]["coding"][1]["code"], "2708-6");
    assert_eq!(o["effectiveDateTime"], "2026-01-15T08:30:00.000Z");
    assert_eq!(o["valueQuantity"]["code"], "%");
    assert_eq!(vitals_size::iso8601(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(
        vitals_size::iso8601(951_868_799_500),
        "2000-02-29T23:59:59.500Z"
    );
    // The naive encoding really is one four-entry map per reading.
    let naive = vitals_size::naive_cbor(&channels, &readings[..1]);
    assert_eq!(&naive[..3], &[0x81, 0xa4, 0x64]);
}
