//! A compact batch of timestamped vital-sign observations (spec/MESSAGES.md section 4,
//! "Vitals").
//!
//! A pulse oximeter reports SpO2 and pulse rate every second; over a BLE link at tens of kB/s,
//! through a phone, and from a battery, every byte counts. So a batch names its channels once
//! (what is measured, in which unit, at which default precision), then lists readings as flat
//! triples `[dt, ch, value]`: a time delta in ticks, a channel index and a value relative to the
//! channel's exponent. A typical reading costs about four bytes, where one FHIR Observation costs
//! hundreds (see `cargo run --example vitals_size`).
//!
//! Decoding validates the whole batch once, allocates nothing, and keeps the readings as borrowed
//! bytes; [`VitalsBatch::readings`] walks them again without any check able to fail.

use crate::cbor::{Enc, EncResult, Reader};
use crate::error::{Error, Local, Problem, ProblemKind};
use crate::message::decimal::{read_value, write_value, Value, ValueFields};
use crate::message::envelope::{encode_message, open_message, Kind};

/// Most channels one batch may define.
pub const MAX_CHANNELS: usize = 16;
/// Most readings one batch may carry (so the `readings` array holds at most 1536 items).
pub const MAX_READINGS: usize = 512;
/// The longest tick: one hour, in milliseconds.
pub const MAX_TICK_MS: u32 = 3_600_000;
/// Most entries the body map may have, known and unknown keys together.
pub const MAX_MAP_ENTRIES: usize = 16;
/// Channel codes below this are entries of tether's code table; from it on, IEEE 11073-10101
/// codes (partition × 65536 + term, partition >= 1).
pub const MDC_MIN: u32 = 65_536;

const KEY_BASE: i64 = 0;
const KEY_TICK: i64 = 1;
const KEY_CHANNELS: i64 = 2;
const KEY_READINGS: i64 = 3;

const F_BODY: &str = "vitals";
const F_BASE: &str = "vitals.base";
const F_TICK: &str = "vitals.tick";
const F_CHANNELS: &str = "vitals.channels";
const F_CODE: &str = "vitals.channels.code";
const F_UNIT: &str = "vitals.channels.unit";
const F_EXPONENT: &str = "vitals.channels.exponent";
const F_READINGS: &str = "vitals.readings";
const F_DT: &str = "vitals.readings.dt";
const F_CH: &str = "vitals.readings.ch";
const F_VALUE: ValueFields = ValueFields {
    value: "vitals.readings.value",
    exponent: "vitals.readings.value.exponent",
    mantissa: "vitals.readings.value.mantissa",
};

/// The common vital signs, as one-byte entries of tether's code table, so the usual channels
/// cost two bytes instead of eleven. Each maps to its IEEE 11073-10101 observation and unit
/// codes, a LOINC code and a UCUM unit, which is what a FHIR server needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum VitalCode {
    /// Oxygen saturation by pulse oximetry, %.
    SpO2 = 1,
    /// Pulse rate from the oximeter, beats per minute.
    PulseRate = 2,
    /// Heart rate from the ECG, beats per minute.
    HeartRate = 3,
    /// Non-invasive blood pressure, systolic, mmHg.
    NibpSystolic = 4,
    /// Non-invasive blood pressure, diastolic, mmHg.
    NibpDiastolic = 5,
    /// Non-invasive blood pressure, mean, mmHg.
    NibpMean = 6,
    /// Body temperature, °C.
    BodyTemperature = 7,
    /// Respiration rate, breaths per minute.
    RespirationRate = 8,
    /// Capillary blood glucose, mg/dL.
    GlucoseMgDl = 9,
    /// Capillary blood glucose, mmol/L.
    GlucoseMmolL = 10,
}

impl VitalCode {
    /// Every table entry, in code order.
    pub const ALL: [VitalCode; 10] = [
        VitalCode::SpO2,
        VitalCode::PulseRate,
        VitalCode::HeartRate,
        VitalCode::NibpSystolic,
        VitalCode::NibpDiastolic,
        VitalCode::NibpMean,
        VitalCode::BodyTemperature,
        VitalCode::RespirationRate,
        VitalCode::GlucoseMgDl,
        VitalCode::GlucoseMmolL,
    ];

    /// The table code on the wire.
    pub const fn table_code(self) -> u8 {
        self as u8
    }

    /// The entry with table code `n`, if the table has one.
    pub fn from_table_code(n: u64) -> Option<VitalCode> {
        VitalCode::ALL
            .into_iter()
            .find(|c| c.table_code() as u64 == n)
    }

    /// The table entry for an 11073 observation code and unit, if there is one (a receiver of
    /// the long channel form uses this to refuse a second encoding of a table entry).
    pub fn from_mdc(mdc: u32, unit: u32) -> Option<VitalCode> {
        VitalCode::ALL
            .into_iter()
            .find(|c| c.mdc() == mdc && c.unit() == unit)
    }

    /// The IEEE 11073-10101 observation code (partition × 65536 + term).
    pub const fn mdc(self) -> u32 {
        match self {
            VitalCode::SpO2 => 150_456,
            VitalCode::PulseRate => 149_530,
            VitalCode::HeartRate => 147_842,
            VitalCode::NibpSystolic => 150_021,
            VitalCode::NibpDiastolic => 150_022,
            VitalCode::NibpMean => 150_023,
            VitalCode::BodyTemperature => 150_364,
            VitalCode::RespirationRate => 151_562,
            VitalCode::GlucoseMgDl | VitalCode::GlucoseMmolL => 160_184,
        }
    }

    /// The IEEE 11073-10101 unit code (MDC_DIM_*).
    pub const fn unit(self) -> u32 {
        match self {
            VitalCode::SpO2 => 262_688,
            VitalCode::PulseRate | VitalCode::HeartRate => 264_864,
            VitalCode::NibpSystolic | VitalCode::NibpDiastolic | VitalCode::NibpMean => 266_016,
            VitalCode::BodyTemperature => 268_192,
            VitalCode::RespirationRate => 264_928,
            VitalCode::GlucoseMgDl => 264_274,
            VitalCode::GlucoseMmolL => 266_866,
        }
    }

    /// The LOINC code a FHIR vital-signs Observation uses for this measurement.
    pub const fn loinc(self) -> &'static str {
        match self {
            VitalCode::SpO2 => "2708-6",
            VitalCode::PulseRate | VitalCode::HeartRate => "8867-4",
            VitalCode::NibpSystolic => "8480-6",
            VitalCode::NibpDiastolic => "8462-4",
            VitalCode::NibpMean => "8478-0",
            VitalCode::BodyTemperature => "8310-5",
            VitalCode::RespirationRate => "9279-1",
            VitalCode::GlucoseMgDl => "2339-0",
            VitalCode::GlucoseMmolL => "15074-8",
        }
    }

    /// The UCUM unit (FHIR `valueQuantity.code`).
    pub const fn ucum(self) -> &'static str {
        match self {
            VitalCode::SpO2 => "%",
            VitalCode::PulseRate | VitalCode::HeartRate | VitalCode::RespirationRate => "/min",
            VitalCode::NibpSystolic | VitalCode::NibpDiastolic | VitalCode::NibpMean => "mm[Hg]",
            VitalCode::BodyTemperature => "Cel",
            VitalCode::GlucoseMgDl => "mg/dL",
            VitalCode::GlucoseMmolL => "mmol/L",
        }
    }
}

/// What one channel of a batch measures, and the precision its values usually have.
///
/// The exponent is the channel's default: values with it cost a plain integer, others a
/// decimal fraction. Choose the sensor's usual resolution (0 for SpO2 in whole percent, -1 for a
/// temperature in tenths of a degree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// An entry of tether's code table.
    Known {
        /// The table entry.
        code: VitalCode,
        /// The default exponent of the channel's values.
        exponent: i8,
    },
    /// Any other IEEE 11073-10101 observation, with its unit.
    Other {
        /// The observation code, at least [`MDC_MIN`], not a table entry's code and unit.
        mdc: u32,
        /// The MDC unit code.
        unit: u32,
        /// The default exponent of the channel's values.
        exponent: i8,
    },
}

impl Channel {
    /// A channel for an 11073 observation code and unit, using the table entry when there is
    /// one (the only form the encoder accepts for those), so callers that map codes generically
    /// need not know the table.
    pub fn from_mdc(mdc: u32, unit: u32, exponent: i8) -> Channel {
        match VitalCode::from_mdc(mdc, unit) {
            Some(code) => Channel::Known { code, exponent },
            None => Channel::Other {
                mdc,
                unit,
                exponent,
            },
        }
    }

    /// The channel's default exponent.
    pub const fn exponent(&self) -> i8 {
        match *self {
            Channel::Known { exponent, .. } | Channel::Other { exponent, .. } => exponent,
        }
    }

    /// The 11073 observation code, for either form.
    pub const fn mdc(&self) -> u32 {
        match *self {
            Channel::Known { code, .. } => code.mdc(),
            Channel::Other { mdc, .. } => mdc,
        }
    }

    /// The 11073 unit code, for either form.
    pub const fn unit(&self) -> u32 {
        match *self {
            Channel::Known { code, .. } => code.unit(),
            Channel::Other { unit, .. } => unit,
        }
    }

    /// True when the encoder accepts it: an `Other` must have an MDC code (>= [`MDC_MIN`]) and
    /// must not be a table entry written the long way.
    fn is_valid(&self) -> bool {
        match *self {
            Channel::Known { .. } => true,
            Channel::Other { mdc, unit, .. } => {
                mdc >= MDC_MIN && VitalCode::from_mdc(mdc, unit).is_none()
            }
        }
    }

    fn write(&self, e: &mut Enc<'_>) -> EncResult {
        match *self {
            Channel::Known { code, exponent } => {
                e.array(2)?.u8(code.table_code())?.i8(exponent)?;
            }
            Channel::Other {
                mdc,
                unit,
                exponent,
            } => {
                e.array(3)?.u32(mdc)?.u32(unit)?.i8(exponent)?;
            }
        }
        Ok(())
    }

    fn read(r: &mut Reader<'_>) -> Result<Channel, Problem> {
        let n = r.array_len(F_CHANNELS, usize::MAX)?;
        let exponent = |r: &mut Reader<'_>| -> Result<i8, Problem> {
            let x = r.int_in(F_EXPONENT, i64::from(i8::MIN), i64::from(i8::MAX))?;
            i8::try_from(x).map_err(|_| Problem::new(F_EXPONENT, ProblemKind::OutOfRange))
        };
        match n {
            2 => {
                let code = r.uint(F_CODE)?;
                let code = VitalCode::from_table_code(code)
                    .ok_or(Problem::new(F_CODE, ProblemKind::OutOfRange))?;
                Ok(Channel::Known {
                    code,
                    exponent: exponent(r)?,
                })
            }
            3 => {
                let mdc = r.uint_in(F_CODE, u64::from(MDC_MIN), u64::from(u32::MAX))?;
                let mdc = u32::try_from(mdc)
                    .map_err(|_| Problem::new(F_CODE, ProblemKind::OutOfRange))?;
                let unit = r.uint_in(F_UNIT, 0, u64::from(u32::MAX))?;
                let unit = u32::try_from(unit)
                    .map_err(|_| Problem::new(F_UNIT, ProblemKind::OutOfRange))?;
                if VitalCode::from_mdc(mdc, unit).is_some() {
                    // A table entry has exactly one encoding: its table code.
                    return Err(Problem::new(F_CODE, ProblemKind::NotCanonical));
                }
                Ok(Channel::Other {
                    mdc,
                    unit,
                    exponent: exponent(r)?,
                })
            }
            _ => Err(Problem::new(F_CHANNELS, ProblemKind::WrongType)),
        }
    }
}

/// One observation: when, on which channel, what value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reading {
    /// Milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// Index into the batch's channels.
    pub channel: u8,
    /// The measured value (or why there is none).
    pub value: Value,
}

/// A decoded vitals batch, borrowed from the message bytes.
///
/// Everything was validated by [`VitalsBatch::decode`]; the accessors cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VitalsBatch<'a> {
    base: u64,
    tick: u32,
    channels: [Channel; MAX_CHANNELS],
    channel_count: u8,
    /// The `readings` array's items (the triples), already validated.
    readings: &'a [u8],
    reading_count: u16,
}

const PLACEHOLDER: Channel = Channel::Known {
    code: VitalCode::SpO2,
    exponent: 0,
};

/// `n / d` and `n % d` for a non-zero `d`, without a 64-bit division: on 32-bit
/// microcontrollers that is a library routine of about 900 bytes of flash that nothing else on
/// the device path needs. Deltas between readings nearly always fit 32 bits (the hardware
/// divides those); longer ones take a 32-step shift-and-subtract.
fn div_rem(n: u64, d: u32) -> (u64, u32) {
    if d == 0 {
        return (0, 0);
    }
    if let Ok(n32) = u32::try_from(n) {
        return (u64::from(n32 / d), n32 % d);
    }
    let (hi, lo) = ((n >> 32) as u32, n as u32);
    let q_hi = hi / d;
    // Long division of (hi % d) * 2^32 + lo, one bit of lo at a time; the running remainder
    // stays below 2d, so it fits 33 bits of a u64 and never needs a division.
    let d64 = u64::from(d);
    let mut rem = u64::from(hi % d);
    let mut q_lo = 0u32;
    for bit in (0..32).rev() {
        rem = (rem << 1) | u64::from((lo >> bit) & 1);
        if rem >= d64 {
            rem -= d64;
            q_lo |= 1 << bit;
        }
    }
    ((u64::from(q_hi) << 32) | u64::from(q_lo), rem as u32)
}

/// What [`VitalsBatch::encode_from`] writes for a reading its producer no longer gives.
const ZERO_READING: Reading = Reading {
    time_ms: 0,
    channel: 0,
    value: Value::NaN,
};

impl<'a> VitalsBatch<'a> {
    /// Encodes a batch as a whole message (`[1, body]`) into `out` and returns its length.
    ///
    /// Reading times must be at or after `base`, non-decreasing, and a whole number of ticks
    /// after `base`; channels 1..=16 and valid (see [`Channel::from_mdc`]); readings 1..=512,
    /// each naming an existing channel; `tick` 1..=3_600_000. Otherwise [`Local::Config`] and
    /// nothing is written. A small `out` gives [`Local::BufferTooSmall`] with the size needed.
    pub fn encode(
        base: u64,
        tick: u32,
        channels: &[Channel],
        readings: &[Reading],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        Self::encode_from(
            base,
            tick,
            channels,
            readings.len(),
            |i| readings.get(i).copied(),
            out,
        )
    }

    /// Like [`VitalsBatch::encode`], with the `count` readings produced by `reading(i)` for `i`
    /// in `0..count` instead of held in a slice (each is asked for more than once; `None` is
    /// [`Local::Config`]). For callers whose readings live in another layout, such as the C ABI
    /// or a sensor ring buffer: no copy of the whole batch is needed.
    pub fn encode_from(
        base: u64,
        tick: u32,
        channels: &[Channel],
        count: usize,
        reading: impl Fn(usize) -> Option<Reading>,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if tick == 0
            || tick > MAX_TICK_MS
            || channels.is_empty()
            || channels.len() > MAX_CHANNELS
            || count == 0
            || count > MAX_READINGS
            || !channels.iter().all(Channel::is_valid)
        {
            return Err(Local::Config.into());
        }
        let mut prev = base;
        for i in 0..count {
            let r = reading(i).ok_or(Local::Config)?;
            // Each step from the previous reading (the first from base) a whole number of ticks,
            // which is the same as every time a whole number of ticks after base.
            if usize::from(r.channel) >= channels.len()
                || r.time_ms < prev
                || div_rem(r.time_ms - prev, tick).1 != 0
            {
                return Err(Local::Config.into());
            }
            prev = r.time_ms;
        }
        encode_message(Kind::Vitals, out, |e| {
            e.map(4)?;
            e.i64(KEY_BASE)?.u64(base)?;
            e.i64(KEY_TICK)?.u32(tick)?;
            e.i64(KEY_CHANNELS)?.array(channels.len() as u64)?;
            for c in channels {
                c.write(e)?;
            }
            e.i64(KEY_READINGS)?.array(3 * count as u64)?;
            let mut prev = base;
            // Every reading was produced and checked above; a producer that changes its mind
            // between the passes gets a zero reading rather than a panic.
            for r in (0..count).map(|i| reading(i).unwrap_or(ZERO_READING)) {
                let exponent = channels
                    .get(usize::from(r.channel))
                    .map_or(0, Channel::exponent);
                e.u64(div_rem(r.time_ms.saturating_sub(prev), tick).0)?
                    .u8(r.channel)?;
                write_value(e, &r.value, exponent)?;
                prev = r.time_ms;
            }
            Ok(())
        })
    }

    /// Decodes a whole vitals message strictly (spec/MESSAGES.md section 4): every rule is
    /// checked here, once, and the first broken one is reported with its field.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Error> {
        let mut r = open_message(bytes, Kind::Vitals)?;
        let mut m = r.map(F_BODY, MAX_MAP_ENTRIES)?;

        m.require(&mut r, KEY_BASE, F_BASE)?;
        let base = r.uint(F_BASE)?;

        m.require(&mut r, KEY_TICK, F_TICK)?;
        let tick = r.uint_in(F_TICK, 1, u64::from(MAX_TICK_MS))?;
        let tick =
            u32::try_from(tick).map_err(|_| Problem::new(F_TICK, ProblemKind::OutOfRange))?;

        m.require(&mut r, KEY_CHANNELS, F_CHANNELS)?;
        let channel_count = r.array_len(F_CHANNELS, MAX_CHANNELS)?;
        if channel_count == 0 {
            return Err(Problem::new(F_CHANNELS, ProblemKind::OutOfRange).into());
        }
        let mut channels = [PLACEHOLDER; MAX_CHANNELS];
        for slot in channels.iter_mut().take(channel_count) {
            *slot = Channel::read(&mut r)?;
        }
        let mut exponents = [0i8; MAX_CHANNELS];
        for (x, c) in exponents.iter_mut().zip(channels.iter()) {
            *x = c.exponent();
        }

        m.require(&mut r, KEY_READINGS, F_READINGS)?;
        let items = r.array_len(F_READINGS, 3 * MAX_READINGS)?;
        if items == 0 || items % 3 != 0 {
            return Err(Problem::new(F_READINGS, ProblemKind::OutOfRange).into());
        }
        let start = r.position();
        let mut walk = Walk::new(base, u64::from(tick), exponents, channel_count);
        for _ in 0..items / 3 {
            walk.next(&mut r)?;
        }
        let readings = r.since(start);

        m.finish(&mut r)?;
        r.finish("message")?;
        Ok(VitalsBatch {
            base,
            tick,
            channels,
            channel_count: u8::try_from(channel_count)
                .map_err(|_| Problem::new(F_CHANNELS, ProblemKind::TooMany))?,
            readings,
            reading_count: u16::try_from(items / 3)
                .map_err(|_| Problem::new(F_READINGS, ProblemKind::TooMany))?,
        })
    }

    /// The reference time of the first delta, in milliseconds since the Unix epoch.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Milliseconds per delta unit.
    pub fn tick(&self) -> u32 {
        self.tick
    }

    /// The channels the readings refer to by index.
    pub fn channels(&self) -> &[Channel] {
        self.channels
            .get(..usize::from(self.channel_count))
            .unwrap_or(&[])
    }

    /// How many readings the batch holds (1..=512).
    pub fn len(&self) -> usize {
        usize::from(self.reading_count)
    }

    /// Always false for a decoded batch (a batch holds at least one reading); here because
    /// `len` is.
    pub fn is_empty(&self) -> bool {
        self.reading_count == 0
    }

    /// The readings, in order, with absolute times. Re-walks the validated bytes: no
    /// allocation, nothing left to fail.
    pub fn readings(&self) -> Readings<'a> {
        let mut exponents = [0i8; MAX_CHANNELS];
        for (x, c) in exponents.iter_mut().zip(self.channels.iter()) {
            *x = c.exponent();
        }
        Readings {
            r: Reader::new(self.readings),
            left: self.reading_count,
            walk: Walk::new(
                self.base,
                u64::from(self.tick),
                exponents,
                usize::from(self.channel_count),
            ),
        }
    }
}

/// The state of a pass over the reading triples: decoding checks with it, the iterator re-walks
/// with it, so both compute times and values the same way.
#[derive(Debug, Clone)]
struct Walk {
    base: u64,
    tick: u64,
    /// Sum of the deltas so far, in ticks.
    ticks: u64,
    exponents: [i8; MAX_CHANNELS],
    channel_count: usize,
}

impl Walk {
    fn new(base: u64, tick: u64, exponents: [i8; MAX_CHANNELS], channel_count: usize) -> Self {
        Walk {
            base,
            tick,
            ticks: 0,
            exponents,
            channel_count,
        }
    }

    fn next(&mut self, r: &mut Reader<'_>) -> Result<Reading, Problem> {
        let dt = r.uint(F_DT)?;
        let overflow = Problem::new(F_DT, ProblemKind::OutOfRange);
        let ticks = self.ticks.checked_add(dt).ok_or(overflow)?;
        let time_ms = ticks
            .checked_mul(self.tick)
            .and_then(|ms| self.base.checked_add(ms))
            .ok_or(overflow)?;
        let ch = r.uint(F_CH)?;
        let index = usize::try_from(ch)
            .ok()
            .filter(|i| *i < self.channel_count)
            .ok_or(Problem::new(F_CH, ProblemKind::OutOfRange))?;
        let exponent = self.exponents.get(index).copied().unwrap_or(0);
        let value = read_value(r, exponent, &F_VALUE)?;
        self.ticks = ticks;
        Ok(Reading {
            time_ms,
            channel: u8::try_from(index)
                .map_err(|_| Problem::new(F_CH, ProblemKind::OutOfRange))?,
            value,
        })
    }
}

/// The readings of a [`VitalsBatch`], in order.
#[derive(Clone)]
pub struct Readings<'a> {
    r: Reader<'a>,
    left: u16,
    walk: Walk,
}

impl core::fmt::Debug for Readings<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Readings")
            .field("left", &self.left)
            .finish()
    }
}

impl Iterator for Readings<'_> {
    type Item = Reading;

    fn next(&mut self) -> Option<Reading> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // Validated when the batch was decoded, so this cannot fail; stop rather than panic if
        // it somehow did.
        match self.walk.next(&mut self.r) {
            Ok(reading) => Some(reading),
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl ExactSizeIterator for Readings<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn div_rem_is_division(n in proptest::prelude::any::<u64>(), d in 1u32..) {
            proptest::prop_assert_eq!(div_rem(n, d), (n / u64::from(d), (n % u64::from(d)) as u32));
        }
    }

    #[test]
    fn div_rem_edges() {
        for (n, d) in [
            (0u64, 1u32),
            (u64::MAX, 1),
            (u64::MAX, u32::MAX),
            (1 << 32, 3),
            (u64::from(u32::MAX), 7),
        ] {
            assert_eq!(div_rem(n, d), (n / u64::from(d), (n % u64::from(d)) as u32));
        }
    }
    use crate::message::decimal::test_support::{build, problem, strip_unknown_keys};
    use proptest::prelude::*;
    use std::vec::Vec;

    const T0: u64 = 1_700_000_000_000;
    const SPO2: Channel = Channel::Known {
        code: VitalCode::SpO2,
        exponent: 0,
    };
    const TEMP: Channel = Channel::Known {
        code: VitalCode::BodyTemperature,
        exponent: -1,
    };

    fn enc(base: u64, tick: u32, channels: &[Channel], readings: &[Reading]) -> Vec<u8> {
        let mut buf = std::vec![0u8; 16 * 1024];
        let n = VitalsBatch::encode(base, tick, channels, readings, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    fn reenc(b: &VitalsBatch<'_>) -> Vec<u8> {
        let readings: Vec<Reading> = b.readings().collect();
        enc(b.base(), b.tick(), b.channels(), &readings)
    }

    fn err(bytes: &[u8]) -> Problem {
        problem(VitalsBatch::decode(bytes).unwrap_err())
    }

    fn reading(time_ms: u64, channel: u8, value: Value) -> Reading {
        Reading {
            time_ms,
            channel,
            value,
        }
    }

    /// `[1, {0: 1000, 1: 10, 2: <channels>, 3: <readings>}]`.
    fn body<C, R>(channels: C, readings: R) -> Vec<u8>
    where
        C: Fn(&mut Enc<'_>) -> EncResult,
        R: Fn(&mut Enc<'_>) -> EncResult,
    {
        build(|e| {
            e.array(2)?.u8(1)?.map(4)?;
            e.u8(0)?.u16(1000)?.u8(1)?.u8(10)?.u8(2)?;
            channels(e)?;
            e.u8(3)?;
            readings(e)
        })
    }

    fn one_spo2(e: &mut Enc<'_>) -> EncResult {
        e.array(1)?.array(2)?.u8(1)?.i8(0)?;
        Ok(())
    }

    fn one_reading(e: &mut Enc<'_>) -> EncResult {
        e.array(3)?.u8(0)?.u8(0)?.u8(97)?;
        Ok(())
    }

    #[test]
    fn known_answer_and_accessors() {
        let readings = [
            reading(T0, 0, Value::number(97, 0)),
            reading(T0 + 1000, 1, Value::number(372, -1)),
            reading(T0 + 1000, 0, Value::NaN),
            reading(T0 + 2000, 1, Value::number(3720, -2)),
        ];
        let b = enc(T0, 1000, &[SPO2, TEMP], &readings);
        let expected = [
            0x82, 0x01, 0xa4, // [1, {4 entries
            0x00, 0x1b, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // 0: base
            0x01, 0x19, 0x03, 0xe8, // 1: tick 1000
            0x02, 0x82, 0x82, 0x01, 0x00, 0x82, 0x07, 0x20, // 2: [[1, 0], [7, -1]]
            0x03, 0x8c, // 3: 12 items
            0x00, 0x00, 0x18, 0x61, // dt 0, ch 0, 97
            0x01, 0x01, 0x19, 0x01, 0x74, // dt 1, ch 1, 372
            0x00, 0x00, 0xf9, 0x7e, 0x00, // dt 0, ch 0, NaN
            0x01, 0x01, 0xc4, 0x82, 0x21, 0x19, 0x0e, 0x88, // dt 1, ch 1, 4([-2, 3720])
        ];
        assert_eq!(b, expected);
        let d = VitalsBatch::decode(&b).unwrap();
        assert_eq!(d.base(), T0);
        assert_eq!(d.tick(), 1000);
        assert_eq!(d.channels(), &[SPO2, TEMP]);
        assert_eq!(d.len(), 4);
        assert!(!d.is_empty());
        assert_eq!(d.readings().len(), 4);
        assert_eq!(d.readings().collect::<Vec<_>>(), readings);
    }

    #[test]
    fn code_table_is_consistent() {
        for (i, c) in VitalCode::ALL.iter().enumerate() {
            assert_eq!(usize::from(c.table_code()), i + 1);
            assert_eq!(
                VitalCode::from_table_code(u64::from(c.table_code())),
                Some(*c)
            );
            assert_eq!(VitalCode::from_mdc(c.mdc(), c.unit()), Some(*c));
            assert!(c.mdc() >= MDC_MIN);
            assert!(!c.loinc().is_empty() && !c.ucum().is_empty());
        }
        assert_eq!(VitalCode::from_table_code(0), None);
        assert_eq!(VitalCode::from_table_code(11), None);
        // Glucose shares its observation code; the unit tells the entries apart.
        assert_eq!(
            VitalCode::from_mdc(160_184, 266_866),
            Some(VitalCode::GlucoseMmolL)
        );
        assert_eq!(
            Channel::from_mdc(150_456, 262_688, 0),
            Channel::Known {
                code: VitalCode::SpO2,
                exponent: 0
            }
        );
        let other = Channel::from_mdc(150_017, 266_016, 0);
        assert!(matches!(other, Channel::Other { mdc: 150_017, .. }));
        assert_eq!(
            (other.mdc(), other.unit(), other.exponent()),
            (150_017, 266_016, 0)
        );
    }

    #[test]
    fn other_channel_long_form() {
        let invasive = Channel::Other {
            mdc: 150_017,
            unit: 266_016,
            exponent: 0,
        };
        let b = enc(
            T0,
            1,
            &[invasive],
            &[reading(T0 + 5, 0, Value::number(118, 0))],
        );
        let d = VitalsBatch::decode(&b).unwrap();
        assert_eq!(d.channels(), &[invasive]);
        assert_eq!(d.readings().next().unwrap().time_ms, T0 + 5);
    }

    #[test]
    fn encoder_refuses_bad_input() {
        let ok = [reading(T0, 0, Value::number(97, 0))];
        let mut buf = [0u8; 256];
        let config = Err(Error::Local(Local::Config));
        assert_eq!(VitalsBatch::encode(T0, 0, &[SPO2], &ok, &mut buf), config);
        assert_eq!(
            VitalsBatch::encode(T0, MAX_TICK_MS + 1, &[SPO2], &ok, &mut buf),
            config
        );
        assert!(VitalsBatch::encode(T0, MAX_TICK_MS, &[SPO2], &ok, &mut buf).is_ok());
        assert_eq!(VitalsBatch::encode(T0, 1, &[], &ok, &mut buf), config);
        assert_eq!(
            VitalsBatch::encode(T0, 1, &[SPO2; 17], &ok, &mut buf),
            config
        );
        assert_eq!(VitalsBatch::encode(T0, 1, &[SPO2], &[], &mut buf), config);
        let many = std::vec![ok[0]; MAX_READINGS + 1];
        let mut big = std::vec![0u8; 8192];
        assert_eq!(VitalsBatch::encode(T0, 1, &[SPO2], &many, &mut big), config);
        assert!(VitalsBatch::encode(T0, 1, &[SPO2], &many[1..], &mut big).is_ok());
        // Before base, decreasing, not a whole number of ticks, unknown channel.
        for bad in [
            [reading(T0 - 1, 0, Value::NaN), reading(T0, 0, Value::NaN)],
            [
                reading(T0 + 20, 0, Value::NaN),
                reading(T0 + 10, 0, Value::NaN),
            ],
            [reading(T0, 0, Value::NaN), reading(T0 + 15, 0, Value::NaN)],
            [reading(T0, 0, Value::NaN), reading(T0 + 10, 1, Value::NaN)],
        ] {
            assert_eq!(VitalsBatch::encode(T0, 10, &[SPO2], &bad, &mut buf), config);
        }
        // Long form with a partition-0 code, or for a table entry.
        for c in [
            Channel::Other {
                mdc: 7,
                unit: 266_016,
                exponent: 0,
            },
            Channel::Other {
                mdc: 150_456,
                unit: 262_688,
                exponent: 0,
            },
        ] {
            assert_eq!(VitalsBatch::encode(T0, 1, &[c], &ok, &mut buf), config);
        }
        // A small buffer says how much is needed.
        let n = VitalsBatch::encode(T0, 1, &[SPO2], &ok, &mut buf).unwrap();
        assert_eq!(
            VitalsBatch::encode(T0, 1, &[SPO2], &ok, &mut buf[..n - 1]),
            Err(Error::Local(Local::BufferTooSmall { needed: n }))
        );
    }

    #[test]
    fn hand_built_body_decodes() {
        // The helper's baseline is valid, so each rejection below is caused by its one change.
        let b = body(one_spo2, one_reading);
        let d = VitalsBatch::decode(&b).unwrap();
        assert_eq!(d.base(), 1000);
        assert_eq!(d.tick(), 10);
        assert_eq!(
            d.readings().collect::<Vec<_>>(),
            [reading(1000, 0, Value::number(97, 0))]
        );
    }

    #[test]
    fn rejects_non_canonical_integer() {
        // base 5 written as 0x18 0x05.
        let mut b = body(one_spo2, one_reading);
        let base = [0x00, 0x19, 0x03, 0xe8];
        let at = b.windows(4).position(|w| w == base).unwrap();
        b.splice(at + 1..at + 4, [0x18, 0x05]);
        assert_eq!(err(&b), Problem::new(F_BASE, ProblemKind::NotCanonical));
    }

    #[test]
    fn rejects_tag4_with_default_exponent() {
        let b = body(one_spo2, |e| {
            e.array(3)?.u8(0)?.u8(0)?;
            e.tag(minicbor::data::Tag::new(4))?
                .array(2)?
                .i8(0)?
                .u8(97)?;
            Ok(())
        });
        assert_eq!(
            err(&b),
            Problem::new("vitals.readings.value.exponent", ProblemKind::NotCanonical)
        );
    }

    #[test]
    fn rejects_bad_value_type() {
        let b = body(one_spo2, |e| {
            e.array(3)?.u8(0)?.u8(0)?.f32(97.0)?;
            Ok(())
        });
        assert_eq!(
            err(&b),
            Problem::new("vitals.readings.value", ProblemKind::WrongType)
        );
    }

    #[test]
    fn rejects_unknown_table_code() {
        for code in [0u32, 11, 65_535] {
            let b = body(
                |e| {
                    e.array(1)?.array(2)?.u32(code)?.i8(0)?;
                    Ok(())
                },
                one_reading,
            );
            assert_eq!(
                err(&b),
                Problem::new(F_CODE, ProblemKind::OutOfRange),
                "{code}"
            );
        }
        // An MDC code in the two-element form.
        let b = body(
            |e| {
                e.array(1)?.array(2)?.u32(150_456)?.i8(0)?;
                Ok(())
            },
            one_reading,
        );
        assert_eq!(err(&b), Problem::new(F_CODE, ProblemKind::OutOfRange));
    }

    #[test]
    fn rejects_bad_long_form_channel() {
        // Partition 0.
        let b = body(
            |e| {
                e.array(1)?.array(3)?.u32(65_535)?.u32(266_016)?.i8(0)?;
                Ok(())
            },
            one_reading,
        );
        assert_eq!(err(&b), Problem::new(F_CODE, ProblemKind::OutOfRange));
        // Code beyond u32.
        let b = body(
            |e| {
                e.array(1)?.array(3)?.u64(1 << 32)?.u32(266_016)?.i8(0)?;
                Ok(())
            },
            one_reading,
        );
        assert_eq!(err(&b), Problem::new(F_CODE, ProblemKind::OutOfRange));
        // Unit beyond u32.
        let b = body(
            |e| {
                e.array(1)?.array(3)?.u32(150_017)?.u64(1 << 32)?.i8(0)?;
                Ok(())
            },
            one_reading,
        );
        assert_eq!(err(&b), Problem::new(F_UNIT, ProblemKind::OutOfRange));
        // A table entry written the long way.
        let b = body(
            |e| {
                e.array(1)?.array(3)?.u32(150_456)?.u32(262_688)?.i8(0)?;
                Ok(())
            },
            one_reading,
        );
        assert_eq!(err(&b), Problem::new(F_CODE, ProblemKind::NotCanonical));
    }

    #[test]
    fn rejects_channel_of_wrong_shape() {
        for n in [0u64, 1, 4] {
            let b = body(
                |e| {
                    e.array(1)?.array(n)?;
                    for _ in 0..n {
                        e.u8(1)?;
                    }
                    Ok(())
                },
                one_reading,
            );
            assert_eq!(
                err(&b),
                Problem::new(F_CHANNELS, ProblemKind::WrongType),
                "{n}"
            );
        }
        let b = body(
            |e| {
                e.array(1)?.u8(1)?;
                Ok(())
            },
            one_reading,
        );
        assert_eq!(err(&b), Problem::new(F_CHANNELS, ProblemKind::WrongType));
    }

    #[test]
    fn rejects_channel_exponent_out_of_range() {
        let b = body(
            |e| {
                e.array(1)?.array(2)?.u8(1)?.i16(-129)?;
                Ok(())
            },
            one_reading,
        );
        assert_eq!(err(&b), Problem::new(F_EXPONENT, ProblemKind::OutOfRange));
    }

    #[test]
    fn rejects_channel_count() {
        let b = body(
            |e| {
                e.array(0)?;
                Ok(())
            },
            one_reading,
        );
        assert_eq!(err(&b), Problem::new(F_CHANNELS, ProblemKind::OutOfRange));
        let b = body(
            |e| {
                e.array(17)?;
                for _ in 0..17 {
                    e.array(2)?.u8(1)?.u8(0)?;
                }
                Ok(())
            },
            one_reading,
        );
        assert_eq!(err(&b), Problem::new(F_CHANNELS, ProblemKind::TooMany));
    }

    #[test]
    fn rejects_channel_index_out_of_range() {
        let b = body(one_spo2, |e| {
            e.array(3)?.u8(0)?.u8(1)?.u8(97)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_CH, ProblemKind::OutOfRange));
    }

    #[test]
    fn rejects_count_not_multiple_of_three() {
        for n in [1u64, 2, 4] {
            let b = body(one_spo2, |e| {
                e.array(n)?;
                for _ in 0..n {
                    e.u8(0)?;
                }
                Ok(())
            });
            assert_eq!(
                err(&b),
                Problem::new(F_READINGS, ProblemKind::OutOfRange),
                "{n}"
            );
        }
        let b = body(one_spo2, |e| {
            e.array(0)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_READINGS, ProblemKind::OutOfRange));
    }

    #[test]
    fn rejects_too_many_readings() {
        let b = body(one_spo2, |e| {
            e.array(3 * 513)?;
            for _ in 0..513 {
                e.u8(0)?.u8(0)?.u8(97)?;
            }
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_READINGS, ProblemKind::TooMany));
        // 512 is fine.
        let b = body(one_spo2, |e| {
            e.array(3 * 512)?;
            for _ in 0..512 {
                e.u8(0)?.u8(0)?.u8(97)?;
            }
            Ok(())
        });
        assert_eq!(VitalsBatch::decode(&b).unwrap().readings().count(), 512);
    }

    #[test]
    fn rejects_tick_out_of_range() {
        for tick in [0u64, 3_600_001] {
            let b = build(|e| {
                e.array(2)?.u8(1)?.map(4)?;
                e.u8(0)?.u8(0)?.u8(1)?.u64(tick)?.u8(2)?;
                one_spo2(e)?;
                e.u8(3)?;
                one_reading(e)
            });
            assert_eq!(
                err(&b),
                Problem::new(F_TICK, ProblemKind::OutOfRange),
                "{tick}"
            );
        }
    }

    #[test]
    fn rejects_time_overflow() {
        // base u64::MAX - 5, tick 10: the first delta of 1 overflows.
        let b = build(|e| {
            e.array(2)?.u8(1)?.map(4)?;
            e.u8(0)?.u64(u64::MAX - 5)?.u8(1)?.u8(10)?.u8(2)?;
            one_spo2(e)?;
            e.u8(3)?.array(3)?.u8(1)?.u8(0)?.u8(97)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_DT, ProblemKind::OutOfRange));
        // The sum of deltas overflowing u64 by itself.
        let b = build(|e| {
            e.array(2)?.u8(1)?.map(4)?;
            e.u8(0)?.u8(0)?.u8(1)?.u8(1)?.u8(2)?;
            one_spo2(e)?;
            e.u8(3)?.array(6)?;
            e.u64(u64::MAX)?.u8(0)?.u8(97)?.u8(1)?.u8(0)?.u8(97)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_DT, ProblemKind::OutOfRange));
    }

    #[test]
    fn rejects_missing_keys() {
        let b = build(|e| {
            e.array(2)?.u8(1)?.map(3)?;
            e.u8(0)?.u8(0)?.u8(2)?;
            one_spo2(e)?;
            e.u8(3)?;
            one_reading(e)
        });
        assert_eq!(err(&b), Problem::new(F_TICK, ProblemKind::Missing));
        let b = build(|e| {
            e.array(2)?.u8(1)?.map(3)?;
            e.u8(0)?.u8(0)?.u8(1)?.u8(1)?.u8(2)?;
            one_spo2(e)
        });
        assert_eq!(err(&b), Problem::new(F_READINGS, ProblemKind::Missing));
    }

    #[test]
    fn unknown_keys_optional_skipped_critical_rejected() {
        let with_extra = |key: i64| {
            build(move |e| {
                e.array(2)?.u8(1)?.map(5)?;
                e.u8(0)?.u8(0)?.u8(1)?.u8(1)?.u8(2)?;
                one_spo2(e)?;
                e.u8(3)?;
                one_reading(e)?;
                e.i64(key)?.str("future")?;
                Ok(())
            })
        };
        let d = VitalsBatch::decode(&with_extra(9)).map(|d| d.len());
        assert_eq!(d, Ok(1));
        assert_eq!(
            err(&with_extra(-1)),
            Problem::new(F_BODY, ProblemKind::UnknownCritical)
        );
    }

    #[test]
    fn rejects_keys_out_of_order() {
        // A repeated key.
        let b = build(|e| {
            e.array(2)?.u8(1)?.map(5)?;
            e.u8(0)?.u8(0)?.u8(0)?.u8(0)?.u8(1)?.u8(1)?.u8(2)?;
            one_spo2(e)?;
            e.u8(3)?;
            one_reading(e)
        });
        assert_eq!(err(&b), Problem::new(F_BODY, ProblemKind::Order));
        // Unknown keys in descending order.
        let b = build(|e| {
            e.array(2)?.u8(1)?.map(6)?;
            e.u8(0)?.u8(0)?.u8(1)?.u8(1)?.u8(2)?;
            one_spo2(e)?;
            e.u8(3)?;
            one_reading(e)?;
            e.u8(9)?.u8(0)?.u8(5)?.u8(0)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_BODY, ProblemKind::Order));
        // A known key after a larger one: the smaller key is missing where it was due.
        let b = build(|e| {
            e.array(2)?.u8(1)?.map(4)?;
            e.u8(1)?.u8(1)?.u8(0)?.u8(0)?.u8(2)?;
            one_spo2(e)?;
            e.u8(3)?;
            one_reading(e)
        });
        assert_eq!(err(&b), Problem::new(F_BASE, ProblemKind::Missing));
    }

    #[test]
    fn rejects_body_of_wrong_type_and_too_many_entries() {
        let b = build(|e| {
            e.array(2)?.u8(1)?.array(0)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_BODY, ProblemKind::WrongType));
        let b = build(|e| {
            e.array(2)?.u8(1)?.map(17)?;
            Ok(())
        });
        assert_eq!(err(&b), Problem::new(F_BODY, ProblemKind::TooMany));
    }

    #[test]
    fn rejects_trailing_bytes_and_wrong_kind() {
        let mut b = body(one_spo2, one_reading);
        b.push(0x00);
        assert_eq!(err(&b), Problem::new("message", ProblemKind::TrailingBytes));
        let mut b = body(one_spo2, one_reading);
        b[1] = 2;
        assert_eq!(
            err(&b),
            Problem::new("message.kind", ProblemKind::OutOfRange)
        );
    }

    #[test]
    fn size_goal_for_a_minute_of_oximetry() {
        // 60 s of SpO2 + pulse rate each second, one NIBP triple, one temperature (the batch of
        // examples/vitals_size.rs): at most 5 bytes per reading, envelope included.
        let channels = [
            SPO2,
            Channel::Known {
                code: VitalCode::PulseRate,
                exponent: 0,
            },
            Channel::Known {
                code: VitalCode::NibpSystolic,
                exponent: 0,
            },
            Channel::Known {
                code: VitalCode::NibpDiastolic,
                exponent: 0,
            },
            Channel::Known {
                code: VitalCode::NibpMean,
                exponent: 0,
            },
            TEMP,
        ];
        let mut readings = Vec::new();
        for s in 0..60u64 {
            let t = T0 + 1000 * s;
            readings.push(reading(t, 0, Value::number(95 + (s % 4) as i64, 0)));
            readings.push(reading(t, 1, Value::number(68 + (s % 9) as i64, 0)));
            if s == 30 {
                readings.push(reading(t, 2, Value::number(121, 0)));
                readings.push(reading(t, 3, Value::number(79, 0)));
                readings.push(reading(t, 4, Value::number(93, 0)));
            }
            if s == 45 {
                readings.push(reading(t, 5, Value::number(371, -1)));
            }
        }
        let b = enc(T0, 1000, &channels, &readings);
        assert_eq!(readings.len(), 124);
        assert!(b.len() <= 5 * readings.len(), "{} bytes", b.len());
    }

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            6 => (-300i64..300, -3i8..=1).prop_map(|(m, e)| Value::number(m, e)),
            2 => (any::<i64>(), any::<i8>()).prop_map(|(m, e)| Value::number(m, e)),
            1 => Just(Value::NaN),
            1 => Just(Value::NRes),
            1 => Just(Value::PosInf),
            1 => Just(Value::NegInf),
        ]
    }

    fn any_channel() -> impl Strategy<Value = Channel> {
        prop_oneof![
            (0..VitalCode::ALL.len(), -3i8..=1).prop_map(|(i, exponent)| Channel::Known {
                code: VitalCode::ALL[i],
                exponent
            }),
            (MDC_MIN..=u32::MAX, any::<u32>(), any::<i8>())
                .prop_map(|(mdc, unit, exponent)| Channel::from_mdc(mdc, unit, exponent)),
        ]
    }

    prop_compose! {
        fn any_batch()(
            base in prop_oneof![0u64..=1 << 45, Just(0u64)],
            tick in prop_oneof![1u32..=MAX_TICK_MS, Just(1000u32)],
            channels in proptest::collection::vec(any_channel(), 1..=MAX_CHANNELS),
            raw in proptest::collection::vec((0u64..50, any::<u8>(), any_value()), 1..40),
        ) -> (u64, u32, Vec<Channel>, Vec<Reading>) {
            let mut t = base;
            let readings = raw
                .into_iter()
                .map(|(dt, ch, value)| {
                    t += dt * u64::from(tick);
                    reading(t, ch % channels.len() as u8, value)
                })
                .collect();
            (base, tick, channels, readings)
        }
    }

    proptest! {
        #[test]
        fn round_trip((base, tick, channels, readings) in any_batch()) {
            let b = enc(base, tick, &channels, &readings);
            let d = VitalsBatch::decode(&b).unwrap();
            prop_assert_eq!(d.base(), base);
            prop_assert_eq!(d.tick(), tick);
            prop_assert_eq!(d.channels(), &channels[..]);
            prop_assert_eq!(d.readings().collect::<Vec<_>>(), readings);
        }

        #[test]
        fn single_byte_changes_never_fix_silently(
            (base, tick, channels, readings) in any_batch(),
            pos in any::<usize>(),
            byte in any::<u8>(),
        ) {
            let mut b = enc(base, tick, &channels, &readings);
            let i = pos % b.len();
            b[i] = byte;
            if let Ok(d) = VitalsBatch::decode(&b) {
                let stripped = strip_unknown_keys(&b, &[0, 1, 2, 3]).unwrap();
                prop_assert_eq!(reenc(&d), stripped);
            }
        }

        #[test]
        fn every_truncation_fails((base, tick, channels, readings) in any_batch()) {
            let b = enc(base, tick, &channels, &readings);
            for n in 0..b.len() {
                prop_assert!(VitalsBatch::decode(&b[..n]).is_err(), "accepted {} of {} bytes", n, b.len());
            }
        }
    }
}
