//! Vital-sign batches (spec/messages/telemetry.md, "Vitals") and 11073 value conversion for C:
//! firmware encodes what its sensors measured, a phone decodes what it shows.

use tether::message::decimal::Value;
use tether::message::vitals::{
    Channel, Reading, VitalCode, VitalsBatch, MAX_CHANNELS, MAX_READINGS, MDC_MIN,
};
use tether::Error;

use crate::boundary::{boundary, bytes, bytes_mut, disjoint, lengths, set, Region};
use crate::message::{array_bytes, array_region, element, encode_written, put};
use crate::status::tether_status::{self, *};

/// `tether_vital_value.special`: a number, `mantissa × 10^exponent`.
pub const TETHER_VALUE_NUMBER: u8 = 0;
/// `tether_vital_value.special`: not a number (11073 NaN: the measurement is invalid).
pub const TETHER_VALUE_NAN: u8 = 1;
/// `tether_vital_value.special`: not at this resolution (11073 NRes).
pub const TETHER_VALUE_NRES: u8 = 2;
/// `tether_vital_value.special`: positive infinity (above the sensor's range).
pub const TETHER_VALUE_POS_INF: u8 = 3;
/// `tether_vital_value.special`: negative infinity (below the sensor's range).
pub const TETHER_VALUE_NEG_INF: u8 = 4;

/// Most channels one batch may define.
pub const TETHER_VITALS_MAX_CHANNELS: usize = 16;
/// Most readings one batch may carry.
pub const TETHER_VITALS_MAX_READINGS: usize = 512;
/// Channel codes below this are entries of tether's code table (1 SpO2 %, 2 pulse rate, 3 heart
/// rate, 4..6 NIBP systolic/diastolic/mean mmHg, 7 body temperature °C, 8 respiration rate,
/// 9 glucose mg/dL, 10 glucose mmol/L); from it on, IEEE 11073-10101 (MDC) codes.
pub const TETHER_VITALS_MDC_MIN: u32 = 65_536;
const _: () = assert!(
    TETHER_VITALS_MAX_CHANNELS == MAX_CHANNELS
        && TETHER_VITALS_MAX_READINGS == MAX_READINGS
        && TETHER_VITALS_MDC_MIN == MDC_MIN
);

/// What one channel of a batch measures. `code` below `TETHER_VITALS_MDC_MIN` is a table code
/// (`unit` is then ignored when encoding and 0 when decoded); from it on, an 11073 observation
/// code with its 11073 unit code in `unit` (a pair that is a table entry is sent as that entry,
/// and decodes as its table code). `exponent` is the channel's default precision: values with
/// it cost the fewest bytes.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct tether_vital_channel {
    /// Table code (1..=10) or 11073 observation code (>= 65536).
    pub code: u32,
    /// 11073 unit code for an 11073 `code`; 0 for a table code.
    pub unit: u32,
    /// Default power of ten of the channel's values.
    pub exponent: i8,
}

/// A measured value, kept exactly as the device measured it: `mantissa × 10^exponent` (never
/// normalised: 37.20 is `{3720, -2}`, not `{372, -1}`), or a special value.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct tether_vital_value {
    /// The digits with their sign (0 for a special value).
    pub mantissa: i64,
    /// The power of ten (0 for a special value).
    pub exponent: i8,
    /// `TETHER_VALUE_NUMBER`, or which special value (`TETHER_VALUE_NAN`, ...).
    pub special: u8,
}

/// One observation: when, on which channel (an index into the batch's channels), what value.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct tether_vital_reading {
    /// Milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// Index into the batch's channels.
    pub channel: u8,
    /// The value.
    pub value: tether_vital_value,
}

impl tether_vital_value {
    pub(crate) fn from_value(v: Value) -> Self {
        let special = |special| tether_vital_value {
            mantissa: 0,
            exponent: 0,
            special,
        };
        match v {
            Value::Number(d) => tether_vital_value {
                mantissa: d.mantissa,
                exponent: d.exponent,
                special: TETHER_VALUE_NUMBER,
            },
            Value::NaN => special(TETHER_VALUE_NAN),
            Value::NRes => special(TETHER_VALUE_NRES),
            Value::PosInf => special(TETHER_VALUE_POS_INF),
            Value::NegInf => special(TETHER_VALUE_NEG_INF),
        }
    }

    /// The core's value; `None` for an unknown `special`.
    fn to_value(self) -> Option<Value> {
        match self.special {
            TETHER_VALUE_NUMBER => Some(Value::number(self.mantissa, self.exponent)),
            TETHER_VALUE_NAN => Some(Value::NaN),
            TETHER_VALUE_NRES => Some(Value::NRes),
            TETHER_VALUE_POS_INF => Some(Value::PosInf),
            TETHER_VALUE_NEG_INF => Some(Value::NegInf),
            _ => None,
        }
    }
}

impl tether_vital_channel {
    pub(crate) fn from_channel(c: &Channel) -> Self {
        match *c {
            Channel::Known { code, exponent } => tether_vital_channel {
                code: u32::from(code.table_code()),
                unit: 0,
                exponent,
            },
            Channel::Other {
                mdc,
                unit,
                exponent,
            } => tether_vital_channel {
                code: mdc,
                unit,
                exponent,
            },
        }
    }

    /// The core's channel; `None` for a code that is neither a table entry nor an MDC code.
    fn to_channel(self) -> Option<Channel> {
        if self.code < MDC_MIN {
            VitalCode::from_table_code(u64::from(self.code)).map(|code| Channel::Known {
                code,
                exponent: self.exponent,
            })
        } else {
            Some(Channel::from_mdc(self.code, self.unit, self.exponent))
        }
    }
}

/// Converts one C reading; `None` for an unknown special value.
fn reading(r: tether_vital_reading) -> Option<Reading> {
    Some(Reading {
        time_ms: r.time_ms,
        channel: r.channel,
        value: r.value.to_value()?,
    })
}

/// Encodes a batch of vital signs as a whole message (`[1, body]`) into `out`, ready to seal.
/// Reading times are absolute (ms since the Unix epoch): each at or after `base_ms`, not
/// decreasing, and a whole number of `tick_ms` after `base_ms`. The readings are read from
/// `readings` as they are encoded (no copy of the batch: the stack use does not grow with it).
///
/// Returns `TETHER_OK` with the length in `*written`, or: `TETHER_ERR_BUFFER_TOO_SMALL` (the size
/// needed in `*written`, nothing written to `out`), `TETHER_ERR_BAD_CONFIG` (0 or more than
/// `TETHER_VITALS_MAX_CHANNELS` channels, 0 or more than `TETHER_VITALS_MAX_READINGS` readings,
/// `tick_ms` outside 1..=3600000, an unknown table code, an MDC code below 65536, a reading on a
/// channel that does not exist, an unknown `special`, or times out of order or off the tick),
/// `TETHER_ERR_NULL`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`out` or `written` overlap
/// each other or an input). Only `TETHER_OK` and `TETHER_ERR_BUFFER_TOO_SMALL` write `*written`.
///
/// # Safety
/// `channels` readable for `n_channels` entries, `readings` for `n_readings`; `out` writable for
/// `out_len` bytes; `written` writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tether_vitals_encode(
    base_ms: u64,
    tick_ms: u32,
    channels: *const tether_vital_channel,
    n_channels: usize,
    readings: *const tether_vital_reading,
    n_readings: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        if written.is_null()
            || (out.is_null() && out_len != 0)
            || (channels.is_null() && n_channels != 0)
            || (readings.is_null() && n_readings != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = array_bytes(channels, n_channels)
            .and_then(|_| array_bytes(readings, n_readings))
            .and_then(|_| lengths(&[(out, out_len)]))
        {
            return e;
        }
        let outputs = [Region::of(out, out_len), Region::out(written)];
        let inputs = [
            array_region(channels, n_channels),
            array_region(readings, n_readings),
        ];
        if let Err(e) = disjoint(&outputs, &inputs) {
            return e;
        }
        if n_channels == 0
            || n_channels > MAX_CHANNELS
            || n_readings == 0
            || n_readings > MAX_READINGS
        {
            return TETHER_ERR_BAD_CONFIG;
        }
        let mut chans = [Channel::Known {
            code: VitalCode::SpO2,
            exponent: 0,
        }; MAX_CHANNELS];
        for (i, slot) in chans.iter_mut().take(n_channels).enumerate() {
            // SAFETY: i < n_channels, checked above.
            match unsafe { element(channels, i) }.to_channel() {
                Some(c) => *slot = c,
                None => return TETHER_ERR_BAD_CONFIG,
            }
        }
        let chans = chans.get(..n_channels).unwrap_or(&[]);
        // SAFETY: checked, not overlapping any input.
        let out = match unsafe { bytes_mut(out, out_len) } {
            Ok(o) => o,
            Err(e) => return e,
        };
        // Each reading is converted when the encoder asks for it.
        let at = |i: usize| {
            if i < n_readings {
                // SAFETY: `readings` checked readable for `n_readings` entries.
                reading(unsafe { element(readings, i) })
            } else {
                None
            }
        };
        // SAFETY: `written` checked non-NULL.
        unsafe {
            encode_written(out, written, |buf| {
                VitalsBatch::encode_from(base_ms, tick_ms, chans, n_readings, at, buf)
            })
        }
    })
}

/// Decodes a vitals message (`[1, body]`) strictly, for display or forwarding: the base time,
/// the tick, the channels into `channels_out` and the readings (absolute times) into
/// `readings_out`, with their counts in `*n_channels` and `*n_readings`.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BUFFER_TOO_SMALL` (`channels_cap` or `readings_cap` too
/// small: the counts needed are stored in `*n_channels` and `*n_readings`, nothing else is
/// written; at most `TETHER_VITALS_MAX_CHANNELS` and `TETHER_VITALS_MAX_READINGS` always
/// suffice), `TETHER_ERR_MESSAGE` (malformed, or not a vitals message), `TETHER_ERR_NULL`,
/// `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (outputs overlap each other or `msg`). On any
/// other error nothing is written.
///
/// # Safety
/// `msg` readable for `len` bytes; `channels_out` writable for `channels_cap` entries,
/// `readings_out` for `readings_cap`; the four scalar outputs writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tether_vitals_decode(
    msg: *const u8,
    len: usize,
    base_ms: *mut u64,
    tick_ms: *mut u32,
    channels_out: *mut tether_vital_channel,
    channels_cap: usize,
    n_channels: *mut usize,
    readings_out: *mut tether_vital_reading,
    readings_cap: usize,
    n_readings: *mut usize,
) -> tether_status {
    boundary(|| {
        if base_ms.is_null()
            || tick_ms.is_null()
            || n_channels.is_null()
            || n_readings.is_null()
            || (msg.is_null() && len != 0)
            || (channels_out.is_null() && channels_cap != 0)
            || (readings_out.is_null() && readings_cap != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(msg, len)])
            .and_then(|_| array_bytes(channels_out, channels_cap))
            .and_then(|_| array_bytes(readings_out, readings_cap))
        {
            return e;
        }
        let outputs = [
            Region::out(base_ms),
            Region::out(tick_ms),
            array_region(channels_out, channels_cap),
            Region::out(n_channels),
            array_region(readings_out, readings_cap),
            Region::out(n_readings),
        ];
        if let Err(e) = disjoint(&outputs, &[Region::of(msg, len)]) {
            return e;
        }
        // SAFETY: valid by contract; no output overlaps it.
        let msg = match unsafe { bytes(msg, len) } {
            Ok(m) => m,
            Err(e) => return e,
        };
        let batch = match VitalsBatch::decode(msg) {
            Ok(b) => b,
            Err(e) => return e.into(),
        };
        let chans = batch.channels();
        if chans.len() > channels_cap || batch.len() > readings_cap {
            // SAFETY: checked non-NULL.
            unsafe {
                set(n_channels, chans.len());
                set(n_readings, batch.len());
            }
            return TETHER_ERR_BUFFER_TOO_SMALL;
        }
        // SAFETY: every index is below its cap (checked above); outputs checked disjoint.
        unsafe {
            for (i, c) in chans.iter().enumerate() {
                put(channels_out, i, tether_vital_channel::from_channel(c));
            }
            let mut count = 0;
            for (i, r) in batch.readings().enumerate().take(readings_cap) {
                put(
                    readings_out,
                    i,
                    tether_vital_reading {
                        time_ms: r.time_ms,
                        channel: r.channel,
                        value: tether_vital_value::from_value(r.value),
                    },
                );
                count += 1;
            }
            set(base_ms, batch.base());
            set(tick_ms, batch.tick());
            set(n_channels, chans.len());
            set(n_readings, count);
        }
        TETHER_OK
    })
}

/// Writes the value a converter produced, or maps its error.
///
/// # Safety
/// `out` writable, checked non-NULL.
unsafe fn store_value(out: *mut tether_vital_value, v: Result<Value, Error>) -> tether_status {
    match v {
        Ok(v) => {
            // SAFETY: forwarded.
            unsafe { set(out, tether_vital_value::from_value(v)) };
            TETHER_OK
        }
        Err(e) => e.into(),
    }
}

/// The IEEE 11073-10101 observation and unit codes of tether's table code `table_code`
/// (spec/MESSAGES.md 4.3.1; 1 SpO2 ... 10 capillary glucose in mmol/L), for showing or
/// forwarding a channel that `tether_vitals_decode` gave in table form (`code` below
/// `TETHER_VITALS_MDC_MIN`). One table, the core's: bindings need no copy of it.
///
/// Returns `TETHER_OK`, `TETHER_ERR_BAD_CONFIG` (not a table code; nothing written) or
/// `TETHER_ERR_NULL`, `TETHER_ERR_OVERLAP` (the two outputs overlap).
///
/// # Safety
/// `mdc_code` and `unit_code` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_vital_table_codes(
    table_code: u32,
    mdc_code: *mut u32,
    unit_code: *mut u32,
) -> tether_status {
    boundary(|| {
        if mdc_code.is_null() || unit_code.is_null() {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = disjoint(&[Region::out(mdc_code), Region::out(unit_code)], &[]) {
            return e;
        }
        let Some(code) = VitalCode::from_table_code(u64::from(table_code)) else {
            return TETHER_ERR_BAD_CONFIG;
        };
        // SAFETY: checked non-NULL and not overlapping.
        unsafe {
            set(mdc_code, code.mdc());
            set(unit_code, code.unit());
        }
        TETHER_OK
    })
}

/// Converts an ISO/IEEE 11073-20601 SFLOAT (16 bits: 4-bit exponent, 12-bit mantissa), the
/// format most personal-health sensors report in, exactly (precision kept, specials mapped).
///
/// Returns `TETHER_OK`, `TETHER_ERR_MESSAGE` (the reserved pattern 0x0801; nothing written) or
/// `TETHER_ERR_NULL`.
///
/// # Safety
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_value_from_sfloat(
    raw: u16,
    out: *mut tether_vital_value,
) -> tether_status {
    boundary(|| {
        if out.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { store_value(out, Value::from_sfloat(raw)) }
    })
}

/// Converts an ISO/IEEE 11073-20601 FLOAT (32 bits: 8-bit exponent, 24-bit mantissa) exactly.
///
/// Returns `TETHER_OK`, `TETHER_ERR_MESSAGE` (the reserved pattern 0x00800001; nothing
/// written) or `TETHER_ERR_NULL`.
///
/// # Safety
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_value_from_float(
    raw: u32,
    out: *mut tether_vital_value,
) -> tether_status {
    boundary(|| {
        if out.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { store_value(out, Value::from_float(raw)) }
    })
}
