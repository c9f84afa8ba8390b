//! The stream decoder: splits a byte stream into units.

use tether::{SessionConfig, StreamDecoder};

use crate::boundary::{boundary, boundary_or, bytes, set, Storage};
use crate::status::tether_status::{self, *};

/// Bytes of storage a stream decoder needs.
pub const TETHER_DECODER_SIZE: usize = 64;
/// Alignment of that storage.
pub const TETHER_DECODER_ALIGN: usize = 8;

/// Storage for one stream decoder. Never copy or move it while it is initialized.
#[allow(non_camel_case_types)]
#[repr(C, align(8))]
pub struct tether_decoder {
    /// Opaque: never read or write it.
    pub _opaque: [u64; 8],
}

impl Storage for tether_decoder {
    type Value = StreamDecoder;
}

/// Sets up a decoder for a session whose largest plaintext is `max_plaintext` (the
/// configuration's value; it also accepts every handshake message). Its reassembly buffer is
/// allocated once, here. `TETHER_ERR_NULL`, `TETHER_ERR_BAD_CONFIG`.
///
/// # Safety
/// `dec` must be NULL or storage you own.
#[no_mangle]
pub unsafe extern "C" fn tether_decoder_init(
    dec: *mut tether_decoder,
    max_plaintext: u32,
) -> tether_status {
    boundary(|| {
        if dec.is_null() {
            return TETHER_ERR_NULL;
        }
        let cfg = SessionConfig {
            max_plaintext: usize::try_from(max_plaintext).unwrap_or(usize::MAX),
            ..SessionConfig::default()
        };
        if cfg.validate().is_err() {
            return TETHER_ERR_BAD_CONFIG;
        }
        // SAFETY: the caller's storage.
        unsafe { tether_decoder::put(dec, StreamDecoder::for_session_config(&cfg)) };
        TETHER_OK
    })
}

/// Consumes bytes from `input` until one unit is complete. Stores the number of input bytes
/// consumed in `*consumed` (feed the rest in the next call) and, if a unit is complete, points
/// `*unit` at it and its length in `*unit_len`; otherwise `*unit` is NULL and all input was
/// consumed (read more from the transport). `*unit` stays valid until the next call on `dec` or
/// until `input` is freed, whichever is first. A length prefix above the maximum is
/// `TETHER_ERR_OVERSIZED` and consumes nothing: the stream is broken.
///
/// # Safety
/// `dec` initialized by `tether_decoder_init`; `input` readable for `input_len` bytes; the out
/// pointers writable.
#[no_mangle]
pub unsafe extern "C" fn tether_decoder_next(
    dec: *mut tether_decoder,
    input: *const u8,
    input_len: usize,
    consumed: *mut usize,
    unit: *mut *const u8,
    unit_len: *mut usize,
) -> tether_status {
    boundary(|| {
        if dec.is_null() || consumed.is_null() || unit.is_null() || unit_len.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's buffers and storage.
        let Some(mut rest) = (unsafe { bytes(input, input_len) }) else {
            return TETHER_ERR_NULL;
        };
        let Some(d) = (unsafe { tether_decoder::get(dec) }) else {
            return TETHER_ERR_BAD_STATE;
        };
        let total = rest.len();
        let (ptr, len) = match d.next(&mut rest) {
            Ok(Some(u)) => (u.as_ptr(), u.len()),
            Ok(None) => (core::ptr::null(), 0),
            Err(e) => return e.into(),
        };
        // SAFETY: checked non-NULL.
        unsafe {
            set(consumed, total - rest.len());
            set(unit, ptr);
            set(unit_len, len);
        }
        TETHER_OK
    })
}

/// Frees the decoder's buffer and zeroes the storage. Safe on NULL, zeroed or wiped storage.
///
/// # Safety
/// `dec` must be NULL or storage passed to `tether_decoder_init` (or zeroed).
#[no_mangle]
pub unsafe extern "C" fn tether_decoder_wipe(dec: *mut tether_decoder) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_decoder::wipe(dec) })
}
