//! Session handles in caller-provided storage: seal and open records.

use tether::{Event, Session};

use crate::boundary::{boundary, boundary_or, bytes, bytes_mut, set, Storage};
use crate::platform::tether_platform;
use crate::status::tether_status::{self, *};

/// Bytes of storage a session needs (`sizeof(tether_session)`).
pub const TETHER_SESSION_SIZE: usize = 4096;
/// Alignment of that storage.
pub const TETHER_SESSION_ALIGN: usize = 16;

/// Storage for one established session, filled by `tether_handshake_finish` and cleared by
/// `tether_session_wipe`. Never copy or move it while it is initialized.
#[allow(non_camel_case_types)]
#[repr(C, align(16))]
pub struct tether_session {
    /// Opaque: never read or write it.
    pub _opaque: [u64; 512],
}

/// What an opened record carried.
#[allow(non_camel_case_types)]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tether_event {
    /// Application data: deliver the `*data_len` bytes written to `out`.
    TETHER_EVENT_DATA = 1,
    /// The peer updated its sending key; nothing to deliver.
    TETHER_EVENT_KEY_UPDATE = 2,
    /// The peer closed the session; nothing more will come.
    TETHER_EVENT_CLOSE = 3,
}

pub(crate) struct FfiSession {
    pub platform: tether_platform,
    pub session: Session,
}

impl Storage for tether_session {
    type Value = FfiSession;
}

/// Common argument checks: the live session and an output buffer.
///
/// # Safety
/// As for the entry points.
unsafe fn session_and_out<'a>(
    s: *mut tether_session,
    out: *mut u8,
    out_len: usize,
) -> Result<(&'a mut FfiSession, &'a mut [u8]), tether_status> {
    if s.is_null() {
        return Err(TETHER_ERR_NULL);
    }
    // SAFETY: forwarded from the caller.
    let out = unsafe { bytes_mut(out, out_len) }.ok_or(TETHER_ERR_NULL)?;
    let session = unsafe { tether_session::get(s) }.ok_or(TETHER_ERR_BAD_STATE)?;
    Ok((session, out))
}

/// Seals `plaintext` as one record into `out`. If a key update is due, a key-update record comes
/// first: `out[0 .. *key_update_len]` is that record and the data record follows. On a stream send
/// all `*written` bytes; on datagrams send the key-update record and the data record as two
/// datagrams. If `out_len` is too small: `TETHER_ERR_BUFFER_TOO_SMALL`, nothing written or
/// changed, and the size needed in `*written` (`tether_session_seal_capacity` always suffices).
/// Other errors: `TETHER_ERR_PLAINTEXT_TOO_LARGE`, `TETHER_ERR_LIMIT_REACHED`,
/// `TETHER_ERR_BAD_STATE` (after close or uninitialized).
///
/// # Safety
/// `s` storage filled by `tether_handshake_finish` (or zeroed); `plaintext` readable for
/// `plaintext_len` bytes; `out` writable for `out_len` bytes; `written` writable;
/// `key_update_len` NULL or writable. `out` must not overlap `plaintext`.
#[no_mangle]
pub unsafe extern "C" fn tether_session_seal(
    s: *mut tether_session,
    plaintext: *const u8,
    plaintext_len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
    key_update_len: *mut usize,
) -> tether_status {
    boundary(|| {
        if written.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: forwarded from the caller.
        let (fs, out) = match unsafe { session_and_out(s, out, out_len) } {
            Ok(v) => v,
            Err(e) => return e,
        };
        let Some(pt) = (unsafe { bytes(plaintext, plaintext_len) }) else {
            return TETHER_ERR_NULL;
        };
        let now = fs.platform.now();
        match fs.session.seal(now, pt, out) {
            Ok(sealed) => {
                // SAFETY: checked or optional out-pointers.
                unsafe {
                    set(written, sealed.total());
                    set(key_update_len, sealed.key_update);
                }
                TETHER_OK
            }
            Err(e @ tether::Error::Local(tether::Local::BufferTooSmall { needed })) => {
                // SAFETY: checked non-NULL.
                unsafe { set(written, needed) };
                e.into()
            }
            Err(e) => e.into(),
        }
    })
}

/// Size of an output buffer that always suffices to seal `plaintext_len` bytes (a data record
/// plus a possible key-update record). 0 if `s` is NULL or not a session.
///
/// # Safety
/// `s` as for `tether_session_seal`.
#[no_mangle]
pub unsafe extern "C" fn tether_session_seal_capacity(
    s: *mut tether_session,
    plaintext_len: usize,
) -> usize {
    boundary_or(0, || {
        // SAFETY: the caller's storage.
        unsafe { tether_session::get(s) }.map_or(0, |fs| fs.session.seal_capacity(plaintext_len))
    })
}

/// Opens one unit (a datagram, or one stream unit from `tether_decoder_next`). Stores what it
/// carried in `*event`; for data, the plaintext is in `out[0 .. *data_len]`. Any error changes
/// nothing: drop the unit (on a stream, close the connection on any error but
/// `TETHER_ERR_BUFFER_TOO_SMALL`, whose needed size is stored in `*data_len`).
///
/// # Safety
/// `s` as for `tether_session_seal`; `unit` readable for `unit_len` bytes; `out` writable for
/// `out_len` bytes; `event` and `data_len` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_session_open(
    s: *mut tether_session,
    unit: *const u8,
    unit_len: usize,
    out: *mut u8,
    out_len: usize,
    event: *mut tether_event,
    data_len: *mut usize,
) -> tether_status {
    boundary(|| {
        if event.is_null() || data_len.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: forwarded from the caller.
        let (fs, out) = match unsafe { session_and_out(s, out, out_len) } {
            Ok(v) => v,
            Err(e) => return e,
        };
        let Some(unit) = (unsafe { bytes(unit, unit_len) }) else {
            return TETHER_ERR_NULL;
        };
        let now = fs.platform.now();
        let (ev, n) = match fs.session.open(now, unit, out) {
            Ok(Event::Data(d)) => (tether_event::TETHER_EVENT_DATA, d.len()),
            Ok(Event::KeyUpdate { .. }) => (tether_event::TETHER_EVENT_KEY_UPDATE, 0),
            Ok(Event::Close) => (tether_event::TETHER_EVENT_CLOSE, 0),
            Err(e @ tether::Error::Local(tether::Local::BufferTooSmall { needed })) => {
                // SAFETY: checked non-NULL.
                unsafe { set(data_len, needed) };
                return e.into();
            }
            Err(e) => return e.into(),
        };
        // SAFETY: checked non-NULL.
        unsafe {
            set(event, ev);
            set(data_len, n);
        }
        TETHER_OK
    })
}

/// Moves to a new sending key now and writes the key-update record to send. Buffer rules as for
/// `tether_session_seal`.
///
/// # Safety
/// As for `tether_session_seal`.
#[no_mangle]
pub unsafe extern "C" fn tether_session_update_key(
    s: *mut tether_session,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        unsafe {
            control(s, out, out_len, written, |fs, out| {
                fs.session.update_key(fs.platform.now(), out)
            })
        }
    })
}

/// Writes a close record to send; afterwards sealing is `TETHER_ERR_BAD_STATE` (opening goes on
/// until the peer closes). Buffer rules as for `tether_session_seal`.
///
/// # Safety
/// As for `tether_session_seal`.
#[no_mangle]
pub unsafe extern "C" fn tether_session_close(
    s: *mut tether_session,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        unsafe { control(s, out, out_len, written, |fs, out| fs.session.close(out)) }
    })
}

/// Shared body of the calls that write one control record.
///
/// # Safety
/// As for `tether_session_seal`.
unsafe fn control(
    s: *mut tether_session,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
    f: impl FnOnce(&mut FfiSession, &mut [u8]) -> Result<usize, tether::Error>,
) -> tether_status {
    if written.is_null() {
        return TETHER_ERR_NULL;
    }
    // SAFETY: forwarded from the caller.
    let (fs, out) = match unsafe { session_and_out(s, out, out_len) } {
        Ok(v) => v,
        Err(e) => return e,
    };
    let needed = fs.session.record_len(0);
    if out.len() < needed {
        // SAFETY: checked non-NULL.
        unsafe { set(written, needed) };
        return TETHER_ERR_BUFFER_TOO_SMALL;
    }
    match f(fs, out) {
        Ok(n) => {
            // SAFETY: checked non-NULL.
            unsafe { set(written, n) };
            TETHER_OK
        }
        Err(e) => e.into(),
    }
}

/// Drops the session, zeroizing its keys, and zeroes the storage. Safe on NULL, zeroed or already
/// wiped storage.
///
/// # Safety
/// `s` must be NULL or storage filled by `tether_handshake_finish` (or zeroed).
#[no_mangle]
pub unsafe extern "C" fn tether_session_wipe(s: *mut tether_session) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_session::wipe(s) })
}
