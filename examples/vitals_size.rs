//! What a vitals batch costs on the wire, measured against two common alternatives.
//!
//! Builds one minute of pulse oximetry (SpO2 and pulse rate every second), one NIBP measurement
//! (systolic, diastolic, mean) and one body temperature: 124 readings. Encodes them three ways and
//! prints the bytes per reading:
//!
//! 1. tether's vitals batch (spec/MESSAGES.md section 4), envelope included;
//! 2. naive CBOR: an array of maps, one per reading, with text keys "time", "code", "unit",
//!    "value", the full millisecond time, 11073 codes, and the value as a tag-4 decimal fraction;
//! 3. FHIR R4 JSON: an array of vital-signs Observations (category vital-signs, code with the
//!    11073 MDC code and LOINC, subject, effectiveDateTime in ISO 8601, valueQuantity in UCUM),
//!    serialized compactly.
//!
//! Run with `cargo run --example vitals_size`. tests/message_vectors_telemetry.rs includes this
//! file and asserts the ratios, so the numbers in the spec cannot drift from the code.

use minicbor::data::Tag;
use minicbor::encode::write::Cursor;
use minicbor::Encoder;
use serde_json::json;
use tether::message::decimal::Value;
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};

/// 2026-01-15T08:30:00Z, the batch's start.
pub const BASE_MS: u64 = 1_768_465_800_000;
/// One second per tick: the oximeter's rate.
pub const TICK_MS: u32 = 1000;

/// The measured sizes, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Readings in the batch.
    pub readings: usize,
    /// tether's vitals batch, envelope included.
    pub tether: usize,
    /// One CBOR map per reading with text keys.
    pub naive_cbor: usize,
    /// FHIR R4 Observations as compact JSON.
    pub fhir_json: usize,
}

/// The example batch: channels and readings.
pub fn example_batch() -> (Vec<Channel>, Vec<Reading>) {
    let known = |code, exponent| Channel::Known { code, exponent };
    let channels = vec![
        known(VitalCode::SpO2, 0),
        known(VitalCode::PulseRate, 0),
        known(VitalCode::NibpSystolic, 0),
        known(VitalCode::NibpDiastolic, 0),
        known(VitalCode::NibpMean, 0),
        known(VitalCode::BodyTemperature, -1),
    ];
    let reading = |s: u64, channel: u8, value: Value| Reading {
        time_ms: BASE_MS + s * u64::from(TICK_MS),
        channel,
        value,
    };
    let mut readings = Vec::new();
    for s in 0..60u64 {
        // A plausible, slowly wandering signal.
        let spo2 = 95 + ((s / 7) % 4) as i64;
        let pulse = 68 + ((s * 5 / 3) % 11) as i64;
        readings.push(reading(s, 0, Value::number(spo2, 0)));
        readings.push(reading(s, 1, Value::number(pulse, 0)));
        if s == 30 {
            readings.push(reading(s, 2, Value::number(121, 0)));
            readings.push(reading(s, 3, Value::number(79, 0)));
            readings.push(reading(s, 4, Value::number(93, 0)));
        }
        if s == 45 {
            readings.push(reading(s, 5, Value::number(371, -1)));
        }
    }
    (channels, readings)
}

/// tether's encoding.
pub fn tether_bytes(channels: &[Channel], readings: &[Reading]) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = VitalsBatch::encode(BASE_MS, TICK_MS, channels, readings, &mut buf)
        .expect("the example batch is valid");
    buf.truncate(n);
    buf
}

/// The naive CBOR encoding: `[{"time": ms, "code": mdc, "unit": unit, "value": 4([e, m])}, ...]`.
pub fn naive_cbor(channels: &[Channel], readings: &[Reading]) -> Vec<u8> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut e = Encoder::new(Cursor::new(&mut buf[..]));
    e.array(readings.len() as u64).unwrap();
    for r in readings {
        let c = channels[usize::from(r.channel)];
        e.map(4).unwrap();
        e.str("time").unwrap().u64(r.time_ms).unwrap();
        e.str("code").unwrap().u32(c.mdc()).unwrap();
        e.str("unit").unwrap().u32(c.unit()).unwrap();
        e.str("value").unwrap();
        match r.value {
            Value::Number(d) => {
                e.tag(Tag::new(4)).unwrap().array(2).unwrap();
                e.i8(d.exponent).unwrap().i64(d.mantissa).unwrap();
            }
            Value::NaN | Value::NRes => {
                e.f32(f32::NAN).unwrap();
            }
            Value::PosInf => {
                e.f32(f32::INFINITY).unwrap();
            }
            Value::NegInf => {
                e.f32(f32::NEG_INFINITY).unwrap();
            }
        }
    }
    let n = e.writer().position();
    buf.truncate(n);
    buf
}

/// Milliseconds since the Unix epoch as ISO 8601 UTC (`2026-01-15T08:30:00.000Z`).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian, 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// The readings as FHIR R4 vital-signs Observations, one JSON array, compact.
pub fn fhir_json(channels: &[Channel], readings: &[Reading]) -> String {
    let observations: Vec<serde_json::Value> = readings
        .iter()
        .map(|r| {
            let c = channels[usize::from(r.channel)];
            let (loinc, ucum) = match c {
                Channel::Known { code, .. } => (Some(code.loinc()), code.ucum().to_string()),
                Channel::Other { unit, .. } => (None, unit.to_string()),
            };
            let mut coding = vec![json!({
                "system": "urn:iso:std:iso:11073:10101",
                "code": c.mdc().to_string(),
            })];
            if let Some(l) = loinc {
                coding.push(json!({"system": "http://loinc.org", "code": l}));
            }
            let value: serde_json::Value = match r.value {
                Value::Number(d) => serde_json::from_str(&d.to_string()).expect("a JSON number"),
                _ => serde_json::Value::Null,
            };
            json!({
                "resourceType": "Observation",
                "status": "final",
                "category": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }]}],
                "code": {"coding": coding},
                "subject": {"reference": "Patient/p1"},
                "effectiveDateTime": iso8601(r.time_ms),
                "valueQuantity": {
                    "value": value,
                    "unit": ucum,
                    "system": "http://unitsofmeasure.org",
                    "code": ucum,
                },
            })
        })
        .collect();
    serde_json::to_string(&observations).expect("JSON values serialize")
}

/// Encodes the example batch all three ways and measures.
pub fn measure() -> Sizes {
    let (channels, readings) = example_batch();
    Sizes {
        readings: readings.len(),
        tether: tether_bytes(&channels, &readings).len(),
        naive_cbor: naive_cbor(&channels, &readings).len(),
        fhir_json: fhir_json(&channels, &readings).len(),
    }
}

fn main() {
    let s = measure();
    let per = |n: usize| n as f64 / s.readings as f64;
    println!(
        "{} readings (60 s of SpO2 + pulse rate at 1 Hz, one NIBP, one temperature)\n",
        s.readings
    );
    println!("| encoding | bytes | bytes per reading | x tether |");
    println!("|---|---:|---:|---:|");
    for (name, n) in [
        ("tether vitals batch (envelope included)", s.tether),
        ("naive CBOR, one map per reading", s.naive_cbor),
        ("FHIR R4 JSON Observations, compact", s.fhir_json),
    ] {
        println!(
            "| {name} | {n} | {:.2} | {:.1} |",
            per(n),
            n as f64 / s.tether as f64
        );
    }
}
