//! The stream decoder: splits a byte stream into units.

use tether::{SessionConfig, StreamDecoder};

use crate::boundary::{
    boundary, boundary_or, bytes, disjoint, lengths, set, Region, Storage, KIND_DECODER,
};
use crate::status::tether_status::{self, *};

/// Bytes of storage a stream decoder needs.
pub const TETHER_DECODER_SIZE: usize = 64;
/// Alignment of that storage.
pub const TETHER_DECODER_ALIGN: usize = 8;

/// Storage for one stream decoder. Never copy or move it while it is initialized (a copy is
/// refused with `TETHER_ERR_COPIED`).
#[allow(non_camel_case_types)]
#[repr(C, align(8))]
pub struct tether_decoder {
    /// Opaque: never read or write it.
    pub _opaque: [u64; 8],
}

impl Storage for tether_decoder {
    type Value = StreamDecoder;
    const KIND: u64 = KIND_DECODER;
}

/// Sets up a decoder for a session whose largest plaintext is `max_plaintext` (the
/// configuration's value; it also accepts every handshake message). Its reassembly buffer is
/// allocated once, here. Storage rules as for `tether_handshake_init_initiator`: fresh storage,
/// or a decoder set up at this address (replaced); another kind of live object is refused.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`,
/// `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_CONFIG` (`max_plaintext` is 0 or above
/// `TETHER_MAX_PLAINTEXT`). On error `dec` is left as it was.
///
/// # Safety
/// `dec` must be NULL or storage of `TETHER_DECODER_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_decoder_init(
    dec: *mut tether_decoder,
    max_plaintext: u32,
) -> tether_status {
    boundary(|| {
        // SAFETY: the caller's storage.
        if let Err(e) = unsafe { tether_decoder::check_init(dec) } {
            return e;
        }
        let cfg = SessionConfig {
            max_plaintext: usize::try_from(max_plaintext).unwrap_or(usize::MAX),
            ..SessionConfig::default()
        };
        if cfg.validate().is_err() {
            return TETHER_ERR_BAD_CONFIG;
        }
        // SAFETY: the caller's storage.
        match unsafe { tether_decoder::init(dec, StreamDecoder::for_session_config(&cfg)) } {
            Ok(()) => TETHER_OK,
            Err(e) => e,
        }
    })
}

/// Consumes bytes from `input` until one unit is complete. Stores the number of input bytes
/// consumed in `*consumed` (feed the rest in the next call) and, if a unit is complete, points
/// `*unit` at it and its length in `*unit_len`; otherwise `*unit` is NULL, `*unit_len` 0, and
/// all input was consumed (read more from the transport). `*unit` points into `input` or into the
/// decoder's own buffer; it stays valid until the next call on `dec` or until `input` is freed,
/// whichever is first. Never pass it back as `input`.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_OVERSIZED` (a length prefix above the maximum) and
/// `TETHER_ERR_TRUNCATED` (a zero length prefix): the stream is broken, close the connection.
/// Nothing of the bad prefix is consumed, so the same bytes give the same error again; the decoder
/// cannot find the next unit after it (it does not look for one). On those two errors all three
/// outputs are written: `*consumed` 0, `*unit` NULL, `*unit_len` 0. Misuse, with no output
/// written: `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`,
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP`
/// (out-pointers overlapping each other, `input` or `dec`, or `input` inside the decoder's
/// buffer).
///
/// # Safety
/// `dec` NULL or storage of `TETHER_DECODER_SIZE` bytes you own; `input` readable for
/// `input_len` bytes; the out-pointers writable.
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
        if consumed.is_null()
            || unit.is_null()
            || unit_len.is_null()
            || (input.is_null() && input_len != 0)
        {
            return TETHER_ERR_NULL;
        }
        // SAFETY: the caller's storage.
        let mut g = match unsafe { tether_decoder::enter(dec) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        if let Err(e) = lengths(&[(input, input_len)]) {
            return e;
        }
        let outputs = [
            Region::out(consumed),
            Region::out(unit),
            Region::out(unit_len),
        ];
        let own_buffer = Region::range(g.value().buffer_addresses());
        let input_region = Region::of(input, input_len);
        if let Err(e) = disjoint(&outputs, &[input_region, g.region()])
            .and_then(|()| disjoint(&[g.region(), own_buffer], &[input_region]))
        {
            return e;
        }
        // SAFETY: valid by contract; checked outside the decoder and its buffer.
        let mut rest = match unsafe { bytes(input, input_len) } {
            Ok(r) => r,
            Err(e) => return e,
        };
        // SAFETY: checked non-NULL and not overlapping anything.
        unsafe {
            set(consumed, 0);
            set(unit, core::ptr::null());
            set(unit_len, 0);
        }
        let total = rest.len();
        let (ptr, len) = match g.value().next(&mut rest) {
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

/// Frees the decoder's buffer and zeroes the storage. Safe on NULL, fresh, zeroed or wiped
/// storage; storage that holds a live handshake or session is left alone.
///
/// # Safety
/// `dec` must be NULL or storage of `TETHER_DECODER_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_decoder_wipe(dec: *mut tether_decoder) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_decoder::wipe(dec) })
}
