//! Pairing by a short code for C (spec/PROTOCOL.md 4.7.2): the device shows six digits, the user
//! types them into the phone, and a code exchange (two code messages, SPAKE2) gives both sides
//! the key of the pairing handshake.
//!
//! ```text
//!   phone                                             device (shows the code)
//!   tether_code_pairing_init_phone(code typed)        tether_short_code_generate, then
//!                                                     tether_code_pairing_init_device(code shown)
//!   tether_code_pairing_start ──── code message 0 ──▶ tether_code_pairing_respond (limiter, now)
//!   tether_code_pairing_finish ◀── code message 1 ─── (the code is spent: show a fresh one)
//!   tether_handshake_init_code_initiator ─ XXpsk0 ──▶ tether_handshake_init_code_responder
//!   ... the handshake as usual, then tether_handshake_finish on both sides ...
//!   (phone: paired once a record of the device opens)  tether_attempt_limiter_succeeded
//! ```
//!
//! A `tether_code_pairing` lives in caller storage like every handle. It holds the code, then
//! the exchange in progress, then the key; the handshake init takes the key (single use). The
//! device's attempt limiter is a plain struct the firmware keeps (its failure count in flash).

use tether::short_code::{
    AttemptLimiter, CodeKey, DevicePairing, PhonePairing, ShortCode, CODE_DIGITS, CODE_MESSAGE_LEN,
    CODE_UNIT_MAX,
};
use tether::{Error, Framing, Instant, Local};

use crate::boundary::{
    boundary, boundary_or, bytes, bytes_mut, disjoint, enter_checked, lengths, read, set, Region,
    Storage, KIND_CODE_PAIRING,
};
use crate::config::framing;
use crate::platform::tether_platform;
use crate::status::tether_status::{self, *};

/// Digits in a short code (`tether_short_code_generate` writes this many ASCII digits, no NUL).
pub const TETHER_SHORT_CODE_LEN: usize = 6;
/// The largest code message (35 bytes on a stream, 33 as a datagram): an output of this size
/// always suffices for `tether_code_pairing_start` and `tether_code_pairing_respond`.
pub const TETHER_CODE_MESSAGE_MAX: usize = 35;
/// Bytes of storage a code pairing needs (`sizeof(tether_code_pairing)`).
pub const TETHER_CODE_PAIRING_SIZE: usize = 512;
/// Alignment of that storage.
pub const TETHER_CODE_PAIRING_ALIGN: usize = 8;
const _: () =
    assert!(TETHER_SHORT_CODE_LEN == CODE_DIGITS && TETHER_CODE_MESSAGE_MAX == CODE_UNIT_MAX);

/// Storage for one side of one short-code exchange, phone or device. Set it up with
/// `tether_code_pairing_init_phone` or `tether_code_pairing_init_device`, clear it with
/// `tether_code_pairing_wipe` (which zeroizes the code and the key). Never copy or move it while
/// it is initialized (`TETHER_ERR_COPIED`).
#[allow(non_camel_case_types)]
#[repr(C, align(8))]
pub struct tether_code_pairing {
    /// Opaque: never read or write it.
    pub _opaque: [u64; 64],
}

/// The device's pairing attempt limiter (spec/PROTOCOL.md 4.7.2): a plain struct the firmware
/// owns and passes to every `tether_code_pairing_respond`. All zero is a limiter with no
/// failures. The first 3 consecutive failed attempts may follow each other at once; after that
/// each attempt waits twice as long as the one before, from 30 seconds up to an hour. An attempt
/// counts as failed from the moment the device answers it until
/// `tether_attempt_limiter_succeeded` (the pairing handshake finished).
///
/// Keep `failures` in non-volatile memory whenever it changes, and after a reboot rebuild the
/// limiter with `tether_attempt_limiter_restore`: otherwise a power cycle resets the count.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct tether_attempt_limiter {
    /// Consecutive attempts that have not succeeded, one in progress included: the number to keep
    /// across reboots.
    pub failures: u32,
    /// When the next attempt is allowed, on the clock whose readings are passed as `now_ms`
    /// (a monotonic one). Meaningful only until a reboot restarts that clock.
    pub next_allowed_ms: u64,
}

/// Where one side's exchange stands.
enum Stage {
    /// Phone: the code the user typed, until `start` writes code message 0.
    Typed(ShortCode),
    /// Phone: code message 0 sent; waiting for code message 1.
    Started(PhonePairing),
    /// Device: the code on display, until an attempt takes it.
    Shown(DevicePairing),
    /// Either side: the exchange is done; the key of the pairing handshake.
    Keyed(CodeKey),
    /// The key went into a handshake, or the phone's exchange ended without one: start again
    /// with a fresh code.
    Spent,
}

pub(crate) struct FfiCodePairing {
    platform: tether_platform,
    framing: Framing,
    phone: bool,
    stage: Stage,
}

impl FfiCodePairing {
    /// The key, for the role that may use it (the phone's for an initiator, the device's for a
    /// responder): `TETHER_ERR_BAD_STATE` before the exchange is done, once the key is used, or
    /// for the other role.
    pub(crate) fn key(&self, initiator: bool) -> Result<&CodeKey, tether_status> {
        match &self.stage {
            Stage::Keyed(key) if self.phone == initiator => Ok(key),
            _ => Err(TETHER_ERR_BAD_STATE),
        }
    }

    /// Moves the key out (see [`FfiCodePairing::key`]); the pairing is spent.
    pub(crate) fn take_key(&mut self, initiator: bool) -> Result<CodeKey, tether_status> {
        self.key(initiator)?;
        match core::mem::replace(&mut self.stage, Stage::Spent) {
            Stage::Keyed(key) => Ok(key),
            _ => Err(TETHER_ERR_INTERNAL),
        }
    }

    /// Forgets the key (it went into a handshake).
    pub(crate) fn spend(&mut self) {
        self.stage = Stage::Spent;
    }
}

impl Storage for tether_code_pairing {
    type Value = FfiCodePairing;
    const KIND: u64 = KIND_CODE_PAIRING;
}

/// A code message's length in `framing`.
fn message_len(framing: Framing) -> usize {
    match framing {
        Framing::Datagram => CODE_MESSAGE_LEN,
        Framing::Stream => CODE_UNIT_MAX,
    }
}

impl From<&tether_attempt_limiter> for AttemptLimiter {
    /// The core's limiter for the C struct: the same failure count and next allowed time.
    fn from(c: &tether_attempt_limiter) -> Self {
        AttemptLimiter::from_parts(c.failures, Instant(c.next_allowed_ms))
    }
}

impl From<&AttemptLimiter> for tether_attempt_limiter {
    fn from(l: &AttemptLimiter) -> Self {
        tether_attempt_limiter {
            failures: l.failures(),
            next_allowed_ms: l.next_allowed().0,
        }
    }
}

/// Draws a fresh short code from the platform's entropy, uniformly, and writes its six ASCII
/// digits (`TETHER_SHORT_CODE_LEN` bytes, no NUL) to `digits_out`, for the device to show. Draw
/// one per attempt: an attempt spends its code.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_ENTROPY` (nothing written).
///
/// # Safety
/// `platform` NULL or valid; `digits_out` NULL or writable for `TETHER_SHORT_CODE_LEN` bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_short_code_generate(
    platform: *const tether_platform,
    digits_out: *mut u8,
) -> tether_status {
    boundary(|| {
        if digits_out.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's pointer; copied out.
        let Ok(p) = (unsafe { read(platform) }) else {
            return TETHER_ERR_NULL;
        };
        let code = match ShortCode::generate(&mut p.entropy()) {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        // SAFETY: checked non-NULL; writable for 6 bytes by contract; the code is on the stack.
        unsafe { core::ptr::copy_nonoverlapping(code.digits().as_ptr(), digits_out, CODE_DIGITS) };
        TETHER_OK
    })
}

/// # Safety
/// As for the init functions.
unsafe fn init(
    cp: *mut tether_code_pairing,
    platform: *const tether_platform,
    framing_id: u8,
    code: *const u8,
    code_len: usize,
    phone: bool,
) -> tether_status {
    if code.is_null() && code_len != 0 {
        return TETHER_ERR_NULL;
    }
    // SAFETY: the caller's pointer; copied out.
    let Ok(p) = (unsafe { read(platform) }) else {
        return TETHER_ERR_NULL;
    };
    // SAFETY: the caller's storage.
    if let Err(e) = unsafe { tether_code_pairing::check_init(cp) } {
        return e;
    }
    if let Err(e) = lengths(&[(code, code_len)]).and_then(|()| {
        disjoint(
            &[tether_code_pairing::region(cp)],
            &[Region::of(code, code_len)],
        )
    }) {
        return e;
    }
    let Some(framing) = framing(framing_id) else {
        return TETHER_ERR_BAD_CONFIG;
    };
    // SAFETY: valid by contract, outside the storage.
    let digits = match unsafe { bytes(code, code_len) } {
        Ok(d) => d,
        Err(e) => return e,
    };
    let code = match ShortCode::parse(digits) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    let stage = if phone {
        Stage::Typed(code)
    } else {
        Stage::Shown(DevicePairing::new(framing, code))
    };
    let value = FfiCodePairing {
        platform: p,
        framing,
        phone,
        stage,
    };
    // SAFETY: the caller's storage, checked above.
    match unsafe { tether_code_pairing::init(cp, value) } {
        Ok(()) => TETHER_OK,
        Err(e) => e,
    }
}

/// Sets up `cp` as the phone's side of a short-code exchange with the code the user typed
/// (`code_len` bytes, exactly six ASCII digits, no NUL), in `framing` (1 stream, 2 datagram: BLE),
/// the framing of the pairing handshake that follows. Then `tether_code_pairing_start`. The
/// platform's entropy is drawn by `start`; `platform->user` must stay valid while `cp` lives.
/// Storage rules as for `tether_handshake_init_initiator`: zeroed storage, storage a wipe left, a
/// copy (overwritten), or a code pairing set up at this address (wiped and replaced).
///
/// Returns `TETHER_OK`, or `TETHER_ERR_PAIRING_CODE` (not six ASCII digits),
/// `TETHER_ERR_BAD_CONFIG` (an unknown framing), `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`,
/// `TETHER_ERR_BAD_STATE` (storage holds another kind of object), `TETHER_ERR_BUSY`,
/// `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`code` inside `cp`). On error `cp` is left as it
/// was.
///
/// # Safety
/// `cp` NULL or storage of `TETHER_CODE_PAIRING_SIZE` bytes you own; `platform` NULL or valid;
/// `code` readable for `code_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_code_pairing_init_phone(
    cp: *mut tether_code_pairing,
    platform: *const tether_platform,
    framing: u8,
    code: *const u8,
    code_len: usize,
) -> tether_status {
    // SAFETY: forwarded.
    boundary(|| unsafe { init(cp, platform, framing, code, code_len, true) })
}

/// Sets up `cp` as the device's side of a short-code exchange, answering one attempt with the
/// code it shows (`code_len` bytes, six ASCII digits, as `tether_short_code_generate` wrote
/// them), in `framing` (1 stream, 2 datagram). Then `tether_code_pairing_respond` on the phone's
/// code message 0. Storage rules, statuses and safety as for `tether_code_pairing_init_phone`.
///
/// # Safety
/// As for `tether_code_pairing_init_phone`.
#[no_mangle]
pub unsafe extern "C" fn tether_code_pairing_init_device(
    cp: *mut tether_code_pairing,
    platform: *const tether_platform,
    framing: u8,
    code: *const u8,
    code_len: usize,
) -> tether_status {
    // SAFETY: forwarded.
    boundary(|| unsafe { init(cp, platform, framing, code, code_len, false) })
}

/// Phone: starts the exchange, writing code message 0 into `out` (`TETHER_CODE_MESSAGE_MAX`
/// bytes always suffice: 35 on a stream, 33 as a datagram) and its length into `*written`. Send
/// it to the device, then pass its answer to `tether_code_pairing_finish`. Draws 64 bytes from
/// the platform's entropy.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BUFFER_TOO_SMALL` (nothing written to `out`, the size
/// needed in `*written`), `TETHER_ERR_ENTROPY`, `TETHER_ERR_BAD_STATE` (`cp` is a device's, or
/// already started, or holds no code pairing), `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`,
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY` (also from the entropy callback),
/// `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`out` and `written` overlapping each other or
/// `cp`). On error nothing changes: the code is kept for another try.
///
/// # Safety
/// `cp` as for `tether_code_pairing_init_phone`; `out` writable for `out_len` bytes; `written`
/// writable.
#[no_mangle]
pub unsafe extern "C" fn tether_code_pairing_start(
    cp: *mut tether_code_pairing,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        if written.is_null() || (out.is_null() && out_len != 0) {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(out, out_len)]) {
            return e;
        }
        let outputs = [Region::of(out, out_len), Region::out(written)];
        // SAFETY: the caller's storage and buffers.
        let mut g = match unsafe { enter_checked(cp, &outputs, &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract, checked not to overlap anything.
        let out = match unsafe { bytes_mut(out, out_len) } {
            Ok(o) => o,
            Err(e) => return e,
        };
        let h = g.value();
        let Stage::Typed(code) = &h.stage else {
            return TETHER_ERR_BAD_STATE;
        };
        let needed = message_len(h.framing);
        if out.len() < needed {
            // SAFETY: checked non-NULL.
            unsafe { set(written, needed) };
            return TETHER_ERR_BUFFER_TOO_SMALL;
        }
        // The exchange takes a copy: the handle keeps its code until the message is written.
        let copy = match ShortCode::parse(code.digits()) {
            Ok(c) => c,
            Err(e) => return e.into(),
        };
        match PhonePairing::start(h.framing, copy, &mut h.platform.entropy(), out) {
            Ok((pairing, n)) => {
                h.stage = Stage::Started(pairing);
                // SAFETY: checked non-NULL.
                unsafe { set(written, n) };
                TETHER_OK
            }
            Err(e) => e.into(),
        }
    })
}

/// Phone: reads the device's code message 1 (as framed on the wire) and keeps the key of the
/// pairing handshake; then `tether_handshake_init_code_initiator`. Whether the codes matched
/// shows only in that handshake: with a wrong code the device refuses its message 0 and sends
/// nothing back.
///
/// A unit that is not a valid code message 1 is refused and changes nothing (keep waiting: the
/// genuine answer can still come): a malformed-input status (`TETHER_ERR_TRUNCATED`,
/// `TETHER_ERR_LENGTH`, `TETHER_ERR_OVERSIZED`, `TETHER_ERR_VERSION`,
/// `TETHER_ERR_UNKNOWN_TYPE`), `TETHER_ERR_UNEXPECTED_MESSAGE` (a code message 0) or
/// `TETHER_ERR_AUTHENTICATION` (a point that is not canonical, not in the prime-order subgroup
/// or of small order: a forgery). Once an answer is accepted `cp` holds the key
/// (`TETHER_ERR_BAD_STATE` for a second answer).
///
/// Returns `TETHER_OK`, those statuses, or: `TETHER_ERR_BAD_STATE` (`cp` is a device's, not
/// started, already finished or spent, or holds no code pairing), `TETHER_ERR_NULL`,
/// `TETHER_ERR_MISALIGNED`, `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`,
/// `TETHER_ERR_OVERLAP` (`unit` inside `cp`).
///
/// # Safety
/// `cp` as for `tether_code_pairing_init_phone`; `unit` readable for `unit_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_code_pairing_finish(
    cp: *mut tether_code_pairing,
    unit: *const u8,
    unit_len: usize,
) -> tether_status {
    boundary(|| {
        if unit.is_null() && unit_len != 0 {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(unit, unit_len)]) {
            return e;
        }
        // SAFETY: the caller's storage and buffer.
        let mut g = match unsafe { enter_checked(cp, &[], &[Region::of(unit, unit_len)]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract, outside the handle.
        let unit = match unsafe { bytes(unit, unit_len) } {
            Ok(u) => u,
            Err(e) => return e,
        };
        let h = g.value();
        let Stage::Started(pairing) = &mut h.stage else {
            return TETHER_ERR_BAD_STATE;
        };
        // A refused unit changes nothing (the core checks it whole before taking the exchange).
        match pairing.finish(unit) {
            Ok(key) => {
                h.stage = Stage::Keyed(key);
                TETHER_OK
            }
            Err(e) => e.into(),
        }
    })
}

/// Device: answers the phone's code message 0 (as framed on the wire): writes code message 1
/// into `out` (`TETHER_CODE_MESSAGE_MAX` bytes always suffice) and its length into `*written`,
/// and keeps the key of the pairing handshake; send the message, then wait for the phone's
/// handshake message 0 with `tether_handshake_init_code_responder`. `limiter` is the device's
/// attempt limiter and `now_ms` the time on its monotonic clock. Draws 64 bytes from the
/// platform's entropy.
///
/// From the moment it answers, the attempt counts as failed in `*limiter` (save `failures` in
/// flash) until `tether_attempt_limiter_succeeded`, and the code is spent whatever happens next:
/// show a fresh one (`tether_short_code_generate`, `tether_code_pairing_init_device`) for the
/// next attempt.
///
/// A refused message changes nothing (no attempt counted, the code kept, nothing written):
/// a malformed-input status (`TETHER_ERR_TRUNCATED`, `TETHER_ERR_LENGTH`, `TETHER_ERR_OVERSIZED`,
/// `TETHER_ERR_VERSION`, `TETHER_ERR_UNKNOWN_TYPE`), `TETHER_ERR_UNEXPECTED_MESSAGE` (a code
/// message 1), `TETHER_ERR_AUTHENTICATION` (an invalid point), `TETHER_ERR_RATE_LIMITED` (too
/// many failures: the milliseconds until the next attempt is allowed are stored in
/// `*retry_in_ms`, if not NULL), `TETHER_ERR_BUFFER_TOO_SMALL` (the size needed in `*written`),
/// `TETHER_ERR_ENTROPY`.
///
/// Returns `TETHER_OK`, those statuses, or: `TETHER_ERR_BAD_STATE` (`cp` is a phone's, or its
/// code is spent, or it holds no code pairing), `TETHER_ERR_NULL` (`cp`, `limiter`, `written`,
/// or a buffer with a length), `TETHER_ERR_MISALIGNED`, `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`
/// (also from the entropy callback), `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`out`,
/// `written`, `retry_in_ms` and `limiter` overlapping each other, `unit` or `cp`, or `unit`
/// inside `cp`). `*written` is written only by `TETHER_OK` and `TETHER_ERR_BUFFER_TOO_SMALL`,
/// `*retry_in_ms` only by `TETHER_ERR_RATE_LIMITED`, `*limiter` only when an attempt is counted.
///
/// # Safety
/// `cp` as for `tether_code_pairing_init_device`; `limiter` NULL or valid for reads and writes;
/// `unit` readable for `unit_len` bytes; `out` writable for `out_len` bytes; `written` writable;
/// `retry_in_ms` NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tether_code_pairing_respond(
    cp: *mut tether_code_pairing,
    limiter: *mut tether_attempt_limiter,
    now_ms: u64,
    unit: *const u8,
    unit_len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
    retry_in_ms: *mut u64,
) -> tether_status {
    boundary(|| {
        if limiter.is_null()
            || written.is_null()
            || (unit.is_null() && unit_len != 0)
            || (out.is_null() && out_len != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(unit, unit_len), (out, out_len)]) {
            return e;
        }
        let outputs = [
            Region::of(out, out_len),
            Region::out(written),
            Region::out(retry_in_ms),
            Region::out(limiter),
        ];
        // SAFETY: the caller's storage and buffers.
        let mut g = match unsafe { enter_checked(cp, &outputs, &[Region::of(unit, unit_len)]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract, checked not to overlap each other or the handle; the
        // limiter is copied out (it is written back below only through its pointer).
        let (unit, out, saved) = match unsafe {
            (
                bytes(unit, unit_len),
                bytes_mut(out, out_len),
                read(limiter),
            )
        } {
            (Ok(u), Ok(o), Ok(l)) => (u, o, l),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e,
        };
        let FfiCodePairing {
            platform, stage, ..
        } = g.value();
        let Stage::Shown(device) = stage else {
            return TETHER_ERR_BAD_STATE;
        };
        let before = AttemptLimiter::from(&saved);
        let mut attempts = before;
        let result = device.respond(
            &mut attempts,
            Instant(now_ms),
            unit,
            &mut platform.entropy(),
            out,
        );
        if attempts != before {
            // SAFETY: checked non-NULL and not overlapping anything.
            unsafe { set(limiter, tether_attempt_limiter::from(&attempts)) };
        }
        match result {
            Ok((key, n)) => {
                *stage = Stage::Keyed(key);
                // SAFETY: as above.
                unsafe { set(written, n) };
                TETHER_OK
            }
            Err(e @ Error::Local(Local::BufferTooSmall { needed })) => {
                // SAFETY: as above.
                unsafe { set(written, needed) };
                e.into()
            }
            Err(e @ Error::Local(Local::RateLimited { retry_in_ms: wait })) => {
                // SAFETY: optional, checked not to overlap.
                unsafe { set(retry_in_ms, wait) };
                e.into()
            }
            Err(e) => e.into(),
        }
    })
}

/// Zeroizes the code, the exchange and the key, frees what the exchange allocated and zeroes the
/// storage. Safe on NULL, fresh, zeroed or wiped storage; storage that holds another kind of live
/// object is left alone; a copy is zeroed without touching the original.
///
/// # Safety
/// `cp` must be NULL or storage of `TETHER_CODE_PAIRING_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_code_pairing_wipe(cp: *mut tether_code_pairing) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_code_pairing::wipe(cp) })
}

/// After a reboot: sets `*limiter` to `failures` consecutive failed attempts (as saved in flash),
/// with the monotonic clock restarted at `now_ms`. The device waits the full delay for that
/// count before the next attempt, as if the last one had just failed (3 or more failures: 30
/// seconds, doubling per failure, at most an hour).
///
/// Returns `TETHER_OK` or `TETHER_ERR_NULL`.
///
/// # Safety
/// `limiter` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tether_attempt_limiter_restore(
    limiter: *mut tether_attempt_limiter,
    failures: u32,
    now_ms: u64,
) -> tether_status {
    boundary(|| {
        if limiter.is_null() {
            return TETHER_ERR_NULL;
        }
        let restored = AttemptLimiter::restore(failures, Instant(now_ms));
        // SAFETY: checked non-NULL, writable by contract.
        unsafe { set(limiter, tether_attempt_limiter::from(&restored)) };
        TETHER_OK
    })
}

/// The pairing handshake of the last attempt finished at the device (`tether_handshake_finish`
/// succeeded): the failure count starts again from zero (save it). Sets `*limiter` to all zero.
///
/// Returns `TETHER_OK` or `TETHER_ERR_NULL`.
///
/// # Safety
/// `limiter` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tether_attempt_limiter_succeeded(
    limiter: *mut tether_attempt_limiter,
) -> tether_status {
    boundary(|| {
        if limiter.is_null() {
            return TETHER_ERR_NULL;
        }
        let mut l = AttemptLimiter::new();
        l.succeeded();
        // SAFETY: checked non-NULL, writable by contract.
        unsafe { set(limiter, tether_attempt_limiter::from(&l)) };
        TETHER_OK
    })
}
