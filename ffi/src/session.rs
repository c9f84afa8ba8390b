//! Session handles in caller-provided storage: seal and open records.

use tether::{Event, Session};

use crate::boundary::{
    boundary, boundary_or, bytes, bytes_mut, disjoint, lengths, set, Entered, Region, Storage,
    KIND_SESSION,
};
use crate::platform::tether_platform;
use crate::status::tether_status::{self, *};

/// Bytes of storage a session needs (`sizeof(tether_session)`).
pub const TETHER_SESSION_SIZE: usize = 4096;
/// Alignment of that storage.
pub const TETHER_SESSION_ALIGN: usize = 16;

/// Storage for one established session, filled by `tether_handshake_finish` and cleared by
/// `tether_session_wipe`. Never copy or move it while it is initialized (a copy is refused with
/// `TETHER_ERR_COPIED`: two copies would send with one key and one counter).
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
    /// Application data: deliver the `*data_len` bytes written to `out` (opened in place: the
    /// bytes at `unit + *data_offset`).
    TETHER_EVENT_DATA = 1,
    /// The peer updated its sending key; nothing to deliver.
    TETHER_EVENT_KEY_UPDATE = 2,
    /// The peer closed the session: it will seal nothing more. On datagrams, records it sealed
    /// before the close may still arrive (reordered) and are delivered; anything sealed after
    /// is refused with `TETHER_ERR_AFTER_CLOSE`.
    TETHER_EVENT_CLOSE = 3,
}

pub(crate) struct FfiSession {
    pub platform: tether_platform,
    pub session: Session,
}

impl Storage for tether_session {
    type Value = FfiSession;
    const KIND: u64 = KIND_SESSION;
}

/// Enters the session and checks that `outputs` overlap neither each other, nor `inputs`, nor
/// the session's storage.
///
/// # Safety
/// As for the entry points.
unsafe fn enter<'a>(
    s: *mut tether_session,
    outputs: &[Region],
    inputs: &[Region],
) -> Result<Entered<'a, tether_session>, tether_status> {
    // SAFETY: forwarded from the caller.
    let g = unsafe { tether_session::enter(s) }?;
    let handle = g.region();
    disjoint(outputs, inputs)?;
    disjoint(outputs, &[handle])?;
    disjoint(&[handle], inputs)?;
    Ok(g)
}

/// A size the session computes, or 0 when `s` holds no usable session.
///
/// # Safety
/// As for the entry points.
unsafe fn size_query(s: *mut tether_session, f: impl FnOnce(&Session) -> usize) -> usize {
    // SAFETY: the caller's storage.
    match unsafe { tether_session::enter(s) } {
        Ok(mut g) => f(&g.value().session),
        Err(_) => 0,
    }
}

/// Seals `plaintext` as one record into `out`. If a key update is due, a key-update record comes
/// first: `out[0 .. *key_update_len]` is that record and the data record follows. On a stream send
/// all `*written` bytes; on datagrams send the key-update record and the data record as two
/// datagrams. Not in place: `out` must not overlap `plaintext` (`tether_session_seal_in_place`
/// seals without a copy).
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BUFFER_TOO_SMALL` (nothing written to `out`, nothing
/// changed, the size needed in `*written`; `TETHER_SEAL_CAPACITY(plaintext_len)` or
/// `tether_session_seal_capacity` always suffice), `TETHER_ERR_PLAINTEXT_TOO_LARGE` (above the
/// session's `max_plaintext`), `TETHER_ERR_LIMIT_REACHED` (counter or epochs exhausted: start a
/// new handshake), `TETHER_ERR_BAD_STATE` (after `tether_session_close`, or `s` holds no
/// session), `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`,
/// `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP`. Only `TETHER_ERR_BUFFER_TOO_SMALL` writes an
/// output; every error leaves the session as it was.
///
/// # Safety
/// `s` NULL or storage of `TETHER_SESSION_SIZE` bytes you own; `plaintext` readable for
/// `plaintext_len` bytes; `out` writable for `out_len` bytes; `written` writable;
/// `key_update_len` NULL or writable.
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
        if written.is_null()
            || (out.is_null() && out_len != 0)
            || (plaintext.is_null() && plaintext_len != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(plaintext, plaintext_len), (out, out_len)]) {
            return e;
        }
        let outputs = [
            Region::of(out, out_len),
            Region::out(written),
            Region::out(key_update_len),
        ];
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(s, &outputs, &[Region::of(plaintext, plaintext_len)]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract; checked not to overlap each other or the session.
        let (pt, out) = match unsafe { (bytes(plaintext, plaintext_len), bytes_mut(out, out_len)) }
        {
            (Ok(p), Ok(o)) => (p, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let fs = g.value();
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
/// plus a possible key-update record): the same as `TETHER_SEAL_CAPACITY(plaintext_len)`, or
/// less on a stream. It is arithmetic only (saturating at `SIZE_MAX`): a length above the
/// session's `max_plaintext` gets a size too, but sealing it is refused. 0 if `s` holds no usable
/// session.
///
/// # Safety
/// `s` as for `tether_session_seal`.
#[no_mangle]
pub unsafe extern "C" fn tether_session_seal_capacity(
    s: *mut tether_session,
    plaintext_len: usize,
) -> usize {
    boundary_or(0, || {
        // SAFETY: forwarded from the caller.
        unsafe { size_query(s, |session| session.seal_capacity(plaintext_len)) }
    })
}

/// Where `tether_session_seal_in_place` expects the plaintext in its buffer: at
/// `buf + TETHER_SEAL_HEADROOM` (34) in both framings; this returns the same. The bytes before it
/// are room for the record header and for a key-update record that may go first. 0 if `s` holds
/// no usable session.
///
/// # Safety
/// `s` as for `tether_session_seal`.
#[no_mangle]
pub unsafe extern "C" fn tether_session_seal_headroom(s: *mut tether_session) -> usize {
    boundary_or(0, || {
        // SAFETY: forwarded from the caller.
        unsafe { size_query(s, Session::seal_headroom) }
    })
}

/// Size of the buffer `tether_session_seal_in_place` needs for `plaintext_len` bytes: headroom,
/// plaintext and the 16-byte tag. The same as `TETHER_SEAL_IN_PLACE_LEN(plaintext_len)`. It is arithmetic only (saturating at `SIZE_MAX`): a length above the session's
/// `max_plaintext` gets a size too, but sealing it is refused. 0 if `s` holds no usable session.
///
/// # Safety
/// `s` as for `tether_session_seal`.
#[no_mangle]
pub unsafe extern "C" fn tether_session_seal_in_place_len(
    s: *mut tether_session,
    plaintext_len: usize,
) -> usize {
    boundary_or(0, || {
        // SAFETY: forwarded from the caller.
        unsafe { size_query(s, |session| session.seal_in_place_len(plaintext_len)) }
    })
}

/// Seals the `plaintext_len` bytes at `buf + TETHER_SEAL_HEADROOM` as one record where
/// they lie, with no copy: the record header is written just before them, the tag just after, and
/// a key-update record, when one is due, before the header. On `TETHER_OK` the units to send are
/// `buf[*start .. *start + *written]` (where they start depends on the framing and on whether a
/// key-update record went first: datagrams 0 or 25, a stream 8 or 29): the first
/// `*key_update_len` bytes are the key-update record (0 if none was due) and the data record
/// follows. On a stream send all `*written` bytes; on datagrams send the key-update record and
/// the data record as two datagrams. Bytes of `buf` outside the units are not touched. In place:
/// `buf` is input and output at once, and must overlap neither the session's storage nor the
/// out-pointers.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BUFFER_TOO_SMALL` (`buf_len` is below
/// `tether_session_seal_in_place_len(s, plaintext_len)`, whose value is stored in `*written`;
/// nothing else written, nothing changed; `TETHER_SEAL_IN_PLACE_LEN(plaintext_len)` always
/// suffices), `TETHER_ERR_PLAINTEXT_TOO_LARGE` (above the session's `max_plaintext`),
/// `TETHER_ERR_LIMIT_REACHED` (counter or epochs exhausted: start a new handshake),
/// `TETHER_ERR_BAD_STATE` (after `tether_session_close`, or `s` holds no session),
/// `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`,
/// `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`buf` overlapping the session's storage or an
/// out-pointer, or out-pointers overlapping each other). Only `TETHER_ERR_BUFFER_TOO_SMALL` writes
/// an output; every error leaves the session and `buf` as they were.
///
/// # Safety
/// `s` as for `tether_session_seal`; `buf` readable and writable for `buf_len` bytes, and
/// initialized where the plaintext lies; `start` and `written` writable; `key_update_len` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn tether_session_seal_in_place(
    s: *mut tether_session,
    buf: *mut u8,
    buf_len: usize,
    plaintext_len: usize,
    start: *mut usize,
    written: *mut usize,
    key_update_len: *mut usize,
) -> tether_status {
    boundary(|| {
        if start.is_null() || written.is_null() || (buf.is_null() && buf_len != 0) {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(buf, buf_len)]) {
            return e;
        }
        let outputs = [
            Region::of(buf, buf_len),
            Region::out(start),
            Region::out(written),
            Region::out(key_update_len),
        ];
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(s, &outputs, &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract; checked not to overlap the out-pointers or the session.
        let buf = match unsafe { bytes_mut(buf, buf_len) } {
            Ok(b) => b,
            Err(e) => return e,
        };
        let fs = g.value();
        let now = fs.platform.now();
        match fs.session.seal_in_place(now, buf, plaintext_len) {
            Ok(sealed) => {
                // SAFETY: checked or optional out-pointers.
                unsafe {
                    set(start, sealed.start);
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

/// Opens one unit (a datagram, or one stream unit from `tether_decoder_next`). Stores what it
/// carried in `*event`; for data, the plaintext is in `out[0 .. *data_len]`. Not in place: `out`
/// must not overlap `unit` (`tether_session_open_in_place` opens without a copy).
///
/// Statuses, and what to do: `TETHER_OK`; `TETHER_ERR_BUFFER_TOO_SMALL` (the plaintext size is
/// stored in `*data_len`: call again with a larger `out`). Malformed (20..39) and peer (40..59)
/// statuses mean the unit was refused and changed nothing: on datagrams drop it and go on; on a
/// stream close the connection, since the byte stream can no longer be trusted. Which peer status
/// means what: `TETHER_ERR_AUTHENTICATION` (tampered, forged or another session's record),
/// `TETHER_ERR_REPLAYED` (datagrams: a counter already accepted), `TETHER_ERR_TOO_OLD` (datagrams:
/// behind the replay window, or from an epoch whose key is gone), `TETHER_ERR_EPOCH` (an epoch too
/// far ahead, or a stream epoch change without a key update), `TETHER_ERR_OUT_OF_ORDER` (streams:
/// any record that is not the next one, which includes a replayed, lost or reordered record; on a
/// stream replays are reported this way, never as `TETHER_ERR_REPLAYED`),
/// `TETHER_ERR_AFTER_CLOSE`, `TETHER_ERR_COUNTER_EXHAUSTED`, `TETHER_ERR_UNEXPECTED_MESSAGE` (a
/// handshake message, or an authentic key-update or close record that carries bytes). Misuse:
/// `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`, `TETHER_ERR_COPIED`,
/// `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP`. On any error `*event` is not
/// written and no plaintext is left in `out`.
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
        if event.is_null()
            || data_len.is_null()
            || (out.is_null() && out_len != 0)
            || (unit.is_null() && unit_len != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(unit, unit_len), (out, out_len)]) {
            return e;
        }
        let outputs = [
            Region::of(out, out_len),
            Region::out(event),
            Region::out(data_len),
        ];
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(s, &outputs, &[Region::of(unit, unit_len)]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract; checked not to overlap each other or the session.
        let (unit, out) = match unsafe { (bytes(unit, unit_len), bytes_mut(out, out_len)) } {
            (Ok(u), Ok(o)) => (u, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let fs = g.value();
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

/// Opens one unit (a datagram, or one stream unit with its length prefix) where it lies, with no
/// copy: the plaintext is decrypted over the ciphertext. Stores what the unit carried in `*event`;
/// for data, the plaintext is `unit[*data_offset .. *data_offset + *data_len]` (`*data_offset` is
/// 5 on a stream, 9 on datagrams); for a key update or a close, `*data_offset` and `*data_len`
/// are 0. In place: `unit` is input and output at once, and must overlap neither the session's
/// storage nor the out-pointers. It must be memory you may write: a stream unit from
/// `tether_decoder_next` is that only when it points into your `input`; one in the decoder's own
/// buffer is not (open that one with `tether_session_open`, or copy it out first).
///
/// Statuses, and what to do, as for `tether_session_open`, except that there is no
/// `TETHER_ERR_BUFFER_TOO_SMALL` (nothing is copied): `TETHER_OK`; malformed (20..39) and peer
/// (40..59) statuses mean the unit was refused and the session did not change (on datagrams drop
/// it and go on; on a stream close the connection): `TETHER_ERR_AUTHENTICATION`,
/// `TETHER_ERR_REPLAYED`, `TETHER_ERR_TOO_OLD`, `TETHER_ERR_EPOCH`, `TETHER_ERR_OUT_OF_ORDER`,
/// `TETHER_ERR_AFTER_CLOSE`, `TETHER_ERR_COUNTER_EXHAUSTED`, `TETHER_ERR_UNEXPECTED_MESSAGE`, each
/// meaning what it means there. Misuse: `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`,
/// `TETHER_ERR_BAD_STATE`, `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`,
/// `TETHER_ERR_OVERLAP` (`unit` overlapping the session's storage or an out-pointer, or
/// out-pointers overlapping each other). On any error `*event`, `*data_offset` and `*data_len`
/// are not written, the session is unchanged, and the unit is left as it was (a unit that fails
/// to authenticate included), except one case: an authentic key-update or close record that
/// carries bytes (`TETHER_ERR_UNEXPECTED_MESSAGE`) has those bytes zeroed.
///
/// # Safety
/// `s` as for `tether_session_seal`; `unit` readable and writable for `unit_len` bytes; `event`,
/// `data_offset` and `data_len` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_session_open_in_place(
    s: *mut tether_session,
    unit: *mut u8,
    unit_len: usize,
    event: *mut tether_event,
    data_offset: *mut usize,
    data_len: *mut usize,
) -> tether_status {
    boundary(|| {
        if event.is_null()
            || data_offset.is_null()
            || data_len.is_null()
            || (unit.is_null() && unit_len != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(unit, unit_len)]) {
            return e;
        }
        let outputs = [
            Region::of(unit, unit_len),
            Region::out(event),
            Region::out(data_offset),
            Region::out(data_len),
        ];
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(s, &outputs, &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract; checked not to overlap the out-pointers or the session.
        let unit = match unsafe { bytes_mut(unit, unit_len) } {
            Ok(u) => u,
            Err(e) => return e,
        };
        let base = unit.as_ptr() as usize;
        let fs = g.value();
        let now = fs.platform.now();
        let (ev, at, n) = match fs.session.open_in_place(now, unit) {
            // The plaintext lies inside the unit: its offset is the distance between the two.
            Ok(Event::Data(d)) => (
                tether_event::TETHER_EVENT_DATA,
                (d.as_ptr() as usize).saturating_sub(base),
                d.len(),
            ),
            Ok(Event::KeyUpdate { .. }) => (tether_event::TETHER_EVENT_KEY_UPDATE, 0, 0),
            Ok(Event::Close) => (tether_event::TETHER_EVENT_CLOSE, 0, 0),
            Err(e) => return e.into(),
        };
        // SAFETY: checked non-NULL.
        unsafe {
            set(event, ev);
            set(data_offset, at);
            set(data_len, n);
        }
        TETHER_OK
    })
}

/// Erases what time alone has made useless: the previous receive key, once the platform's
/// monotonic clock shows at least `previous_key_ms` since the peer's last key update (from then
/// on the key opens nothing, erased or not). Opening a
/// record does this too; call `tether_session_poll` from a timer on a session that may sit idle,
/// so that an old key does not stay in memory. `*erased` (optional) is set to whether a key was
/// erased.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`,
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_OVERLAP`.
///
/// # Safety
/// `s` as for `tether_session_seal`; `erased` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tether_session_poll(
    s: *mut tether_session,
    erased: *mut bool,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(s, &[Region::out(erased)], &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        let fs = g.value();
        let now = fs.platform.now();
        let did = fs.session.poll(now);
        // SAFETY: optional, checked not to overlap.
        unsafe { set(erased, did) };
        TETHER_OK
    })
}

/// Moves to a new sending key now and writes the key-update record to send
/// (`TETHER_STREAM_OVERHEAD` or `TETHER_DATAGRAM_OVERHEAD` bytes). Statuses and buffer rules as for
/// `tether_session_seal`.
///
/// # Safety
/// `s` as for `tether_session_seal`; `out` writable for `out_len` bytes; `written` writable.
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
/// until the peer closes). Statuses and buffer rules as for `tether_session_update_key`.
///
/// # Safety
/// As for `tether_session_update_key`.
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
/// As for `tether_session_update_key`.
unsafe fn control(
    s: *mut tether_session,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
    f: impl FnOnce(&mut FfiSession, &mut [u8]) -> Result<usize, tether::Error>,
) -> tether_status {
    if written.is_null() || (out.is_null() && out_len != 0) {
        return TETHER_ERR_NULL;
    }
    if let Err(e) = lengths(&[(out, out_len)]) {
        return e;
    }
    let outputs = [Region::of(out, out_len), Region::out(written)];
    // SAFETY: forwarded from the caller.
    let mut g = match unsafe { enter(s, &outputs, &[]) } {
        Ok(g) => g,
        Err(e) => return e,
    };
    // SAFETY: valid by contract; checked not to overlap.
    let out = match unsafe { bytes_mut(out, out_len) } {
        Ok(o) => o,
        Err(e) => return e,
    };
    let fs = g.value();
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

/// Drops the session, zeroizing its keys, and zeroes the storage. Safe on NULL, fresh, zeroed or
/// already wiped storage. Storage that holds a live handshake or decoder is left alone; a copy of
/// a session is zeroed without touching the original. Called from one of this session's own
/// callbacks, the wipe happens when the running call returns.
///
/// # Safety
/// `s` must be NULL or storage of `TETHER_SESSION_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_session_wipe(s: *mut tether_session) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_session::wipe(s) })
}
