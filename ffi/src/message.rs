//! The application messages (spec/MESSAGES.md) through the C ABI: what kind a message is, and
//! the checked access to caller arrays that the vitals, command and update functions share.
//!
//! Messages travel inside session records; these functions only turn bytes into values and
//! values into bytes, like the core's message layer. Decoding is strict and names nothing to C
//! but a status: `TETHER_ERR_MESSAGE` for any malformed message.

use core::mem::size_of;

use tether::message::Message;

use crate::boundary::{boundary, bytes, disjoint, lengths, set, Region};
use crate::status::tether_status::{self, *};

/// Message kind: a batch of vital signs (`tether_vitals_decode`).
pub const TETHER_KIND_VITALS: u32 = 1;
/// Message kind: device usage events.
pub const TETHER_KIND_USAGE: u32 = 2;
/// Message kind: a diagnostics report.
pub const TETHER_KIND_DIAGNOSTICS: u32 = 3;
/// Message kind: security events.
pub const TETHER_KIND_SECURITY_EVENTS: u32 = 4;
/// Message kind: a signed therapy command (`tether_command_verify`).
pub const TETHER_KIND_COMMAND: u32 = 16;
/// Message kind: a command acknowledgement.
pub const TETHER_KIND_COMMAND_ACK: u32 = 17;
/// Message kind: a signed firmware manifest (`tether_manifest_verify`).
pub const TETHER_KIND_FIRMWARE_MANIFEST: u32 = 32;
/// Message kind: one chunk of a firmware image (`tether_image_chunk_decode`).
pub const TETHER_KIND_IMAGE_CHUNK: u32 = 33;
/// Message kind: a device's update status report.
pub const TETHER_KIND_UPDATE_STATUS: u32 = 34;
/// Message kind: a signed companion-app update notice.
pub const TETHER_KIND_APP_UPDATE_NOTICE: u32 = 35;

/// Tells what an application message is, so a receiver can route it to the right decoder (or
/// drop a kind it does not handle) before decoding its body. Only the envelope `[kind, body]`
/// is checked: the body is checked by the kind's own decoder.
///
/// Returns `TETHER_OK` with `*kind` set to a `TETHER_KIND_*` value, or `TETHER_ERR_MESSAGE` (not
/// an envelope, or an unknown kind), `TETHER_ERR_NULL`, `TETHER_ERR_BAD_LENGTH`,
/// `TETHER_ERR_OVERLAP` (`kind` inside `msg`). On error `*kind` is not written.
///
/// # Safety
/// `msg` readable for `len` bytes; `kind` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_message_kind(
    msg: *const u8,
    len: usize,
    kind: *mut u32,
) -> tether_status {
    boundary(|| {
        if kind.is_null() || (msg.is_null() && len != 0) {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(msg, len)]) {
            return e;
        }
        if let Err(e) = disjoint(&[Region::out(kind)], &[Region::of(msg, len)]) {
            return e;
        }
        // SAFETY: valid by contract; nothing writes it during the call.
        let msg = match unsafe { bytes(msg, len) } {
            Ok(m) => m,
            Err(e) => return e,
        };
        match Message::parse(msg) {
            Ok(m) => {
                // SAFETY: checked non-NULL.
                unsafe { set(kind, m.kind as u32) };
                TETHER_OK
            }
            Err(e) => e.into(),
        }
    })
}

/// The bytes a C array of `n` `T`s spans, refused as `TETHER_ERR_BAD_LENGTH` when that
/// overflows, exceeds `PTRDIFF_MAX` or runs past the address space, and as `TETHER_ERR_NULL`
/// when `ptr` is NULL with `n > 0`.
pub(crate) fn array_bytes<T>(ptr: *const T, n: usize) -> Result<usize, tether_status> {
    if n == 0 {
        return Ok(0);
    }
    if ptr.is_null() {
        return Err(TETHER_ERR_NULL);
    }
    let total = n.checked_mul(size_of::<T>()).ok_or(TETHER_ERR_BAD_LENGTH)?;
    lengths(&[(ptr.cast::<u8>(), total)])?;
    Ok(total)
}

/// The address range of a C array of `n` `T`s (empty when that does not fit a `usize`; call
/// [`array_bytes`] first).
pub(crate) fn array_region<T>(ptr: *const T, n: usize) -> Region {
    Region::of(ptr, n.checked_mul(size_of::<T>()).unwrap_or(0))
}

/// Copies element `i` of a C array, whatever its alignment.
///
/// # Safety
/// `ptr` passed [`array_bytes`] for some `n > i`, and points to `n` valid `T`s.
pub(crate) unsafe fn element<T>(ptr: *const T, i: usize) -> T {
    // SAFETY: in bounds of the caller's array (contract); unaligned read.
    unsafe { ptr.add(i).read_unaligned() }
}

/// Writes element `i` of a C array, whatever its alignment.
///
/// # Safety
/// `ptr` passed [`array_bytes`] for some `n > i`, and is writable for `n` `T`s.
pub(crate) unsafe fn put<T>(ptr: *mut T, i: usize, value: T) {
    // SAFETY: in bounds of the caller's array (contract); unaligned write.
    unsafe { ptr.add(i).write_unaligned(value) }
}

/// A byte string from C that must be 1..=`max` bytes (an id, a kid): `TETHER_ERR_NULL` for a
/// NULL pointer, `TETHER_ERR_BAD_CONFIG` for a length outside the range.
///
/// # Safety
/// If non-NULL, `ptr` readable for `len` bytes for `'a`.
pub(crate) unsafe fn id_bytes<'a>(
    ptr: *const u8,
    len: usize,
    max: usize,
) -> Result<&'a [u8], tether_status> {
    if ptr.is_null() {
        return Err(TETHER_ERR_NULL);
    }
    if len == 0 || len > max {
        return Err(TETHER_ERR_BAD_CONFIG);
    }
    // SAFETY: forwarded.
    unsafe { bytes(ptr, len) }
}

/// Runs an encoder so that a too-small `out` is left untouched, as the header promises: the
/// core's encoders stop part-way into a small buffer, so the size is found first with an empty
/// one (a counting pass), and `out` is written only when the message fits.
pub(crate) fn encode_whole(
    out: &mut [u8],
    encode: impl Fn(&mut [u8]) -> Result<usize, tether::Error>,
) -> Result<usize, tether::Error> {
    use tether::{Error, Local};
    match encode(&mut []) {
        Err(e @ Error::Local(Local::BufferTooSmall { needed })) if needed > out.len() => Err(e),
        Err(Error::Local(Local::BufferTooSmall { .. })) | Ok(_) => encode(out),
        Err(e) => Err(e),
    }
}

/// [`encode_whole`], then the header's convention for an encoder's outputs: the length in
/// `*written` on success, the size needed in `*written` on `TETHER_ERR_BUFFER_TOO_SMALL`, nothing
/// on any other error.
///
/// # Safety
/// `written` checked non-NULL and writable.
pub(crate) unsafe fn encode_written(
    out: &mut [u8],
    written: *mut usize,
    encode: impl Fn(&mut [u8]) -> Result<usize, tether::Error>,
) -> tether_status {
    use tether::{Error, Local};
    match encode_whole(out, encode) {
        Ok(n) => {
            // SAFETY: the caller's contract.
            unsafe { set(written, n) };
            TETHER_OK
        }
        Err(e @ Error::Local(Local::BufferTooSmall { needed })) => {
            // SAFETY: the caller's contract.
            unsafe { set(written, needed) };
            e.into()
        }
        Err(e) => e.into(),
    }
}
