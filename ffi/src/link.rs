//! The BLE link layer for C (spec/LINK.md): a fragmenter that splits each unit (a handshake
//! message or a datagram record) into fragments of one attribute value each, and a reassembler
//! that puts them back together. Both live in caller storage like every other handle.
//!
//! Neither keeps a pointer to caller memory between calls: the fragmenter is given its unit again
//! at every call, and a unit the reassembler completes is lent to the caller until the next call.
//! Neither has callbacks, so neither can be re-entered; `TETHER_ERR_BUSY` means two threads.

use tether::link::{Fragmenter, Mtu, Reassembler};

use crate::boundary::{
    boundary, boundary_or, bytes, bytes_mut, disjoint, enter_checked as enter, lengths, set,
    Region, Storage, KIND_FRAGMENTER, KIND_REASSEMBLER,
};
use crate::status::tether_status::{self, *};

/// Bytes of storage a fragmenter needs (`sizeof(tether_fragmenter)`).
pub const TETHER_FRAGMENTER_SIZE: usize = 64;
/// Alignment of that storage.
pub const TETHER_FRAGMENTER_ALIGN: usize = 8;
/// Bytes of storage a reassembler needs (`sizeof(tether_reassembler)`; its unit buffer is
/// allocated apart, at init).
pub const TETHER_REASSEMBLER_SIZE: usize = 128;
/// Alignment of that storage.
pub const TETHER_REASSEMBLER_ALIGN: usize = 8;

/// Storage for the sending side of one BLE link (one direction of one connection): it numbers
/// the units and writes their fragments. Set it up with `tether_fragmenter_init` at each
/// connection, clear it with `tether_fragmenter_wipe`. Never copy or move it while it is
/// initialized (a copy is refused with `TETHER_ERR_COPIED`: two copies would give consecutive
/// units the same number).
#[allow(non_camel_case_types)]
#[repr(C, align(8))]
pub struct tether_fragmenter {
    /// Opaque: never read or write it.
    pub _opaque: [u64; 8],
}

/// Storage for the receiving side of one BLE link: it reassembles units from the fragments the
/// connection delivers, one unit at a time, in a buffer of `max_unit` bytes allocated at init.
/// Set it up with `tether_reassembler_init`, clear it with `tether_reassembler_wipe` (which frees
/// the buffer). Never copy or move it while it is initialized (`TETHER_ERR_COPIED`).
#[allow(non_camel_case_types)]
#[repr(C, align(8))]
pub struct tether_reassembler {
    /// Opaque: never read or write it.
    pub _opaque: [u64; 16],
}

/// The unit a fragmenter is sending: what it takes to rebuild the core's fragmenter over the
/// same bytes at the next call.
#[derive(Clone, Copy)]
struct Sending {
    /// The unit's length, to recognise it at every call (at most 65535).
    len: u16,
    /// Its number.
    number: u8,
    /// The ATT_MTU it is cut for (an MTU set meanwhile applies to the next unit).
    mtu: Mtu,
    /// Fragments written so far.
    written: u16,
    /// Fragments in all (at most 256).
    count: u16,
}

pub(crate) struct FfiFragmenter {
    /// The ATT_MTU for the units started from now on.
    mtu: Mtu,
    /// The number the next unit gets; only its 6 low bits travel, so a wrapping `u8` gives
    /// consecutive units different numbers.
    next_number: u8,
    sending: Option<Sending>,
}

impl Storage for tether_fragmenter {
    type Value = FfiFragmenter;
    const KIND: u64 = KIND_FRAGMENTER;
}

pub(crate) struct FfiReassembler {
    reassembler: Reassembler,
    /// The address of the core's unit buffer, learnt when a unit is first lent from it (0
    /// before: the caller cannot hold a pointer into it until then). Fragments and out-pointers
    /// there are refused.
    buffer: usize,
}

impl FfiReassembler {
    fn buffer_region(&self) -> Region {
        Region::of(self.buffer as *const u8, self.reassembler.max_unit())
    }
}

impl Storage for tether_reassembler {
    type Value = FfiReassembler;
    const KIND: u64 = KIND_REASSEMBLER;
}

/// The core's MTU for an ATT_MTU: `TETHER_ERR_BAD_CONFIG` below 23.
fn mtu(att_mtu: u16) -> Result<Mtu, tether_status> {
    Mtu::new(att_mtu).map_err(tether_status::from)
}

/// Sets up `f` for a new connection's link at ATT_MTU `att_mtu` (23 until the ATT MTU exchange;
/// values above 517 act like 517): the next unit is numbered 0. Storage rules as for
/// `tether_handshake_init_initiator`: zeroed storage, or a fragmenter set up at this address
/// (replaced: that is how a fragmenter restarts at a new connection); another kind of live
/// object is refused.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`
/// (storage holds another kind of object), `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_CONFIG`
/// (`att_mtu` below 23). On error `f` is left as it was.
///
/// # Safety
/// `f` must be NULL or storage of `TETHER_FRAGMENTER_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_fragmenter_init(
    f: *mut tether_fragmenter,
    att_mtu: u16,
) -> tether_status {
    boundary(|| {
        // SAFETY: the caller's storage.
        if let Err(e) = unsafe { tether_fragmenter::check_init(f) } {
            return e;
        }
        let mtu = match mtu(att_mtu) {
            Ok(m) => m,
            Err(e) => return e,
        };
        let value = FfiFragmenter {
            mtu,
            next_number: 0,
            sending: None,
        };
        // SAFETY: the caller's storage.
        match unsafe { tether_fragmenter::init(f, value) } {
            Ok(()) => TETHER_OK,
            Err(e) => e,
        }
    })
}

/// Sets the connection's ATT_MTU (after the ATT MTU exchange). It applies from the next unit
/// `tether_fragmenter_start` takes; a unit in progress keeps the size it was cut for.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_BAD_CONFIG` (`att_mtu` below 23; nothing changed),
/// `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE` (`f` holds no fragmenter),
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`.
///
/// # Safety
/// `f` must be NULL or storage of `TETHER_FRAGMENTER_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_fragmenter_set_mtu(
    f: *mut tether_fragmenter,
    att_mtu: u16,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(f, &[], &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        match mtu(att_mtu) {
            Ok(m) => {
                g.value().mtu = m;
                TETHER_OK
            }
            Err(e) => e,
        }
    })
}

/// Starts sending `unit` (a handshake message or a datagram record, 1 byte up to what 256
/// fragments carry at the ATT_MTU: 4606 bytes at 23, 65535 from 262 on): gives it the link's next
/// number and stores in `*count` (optional) how many fragments it takes. Then call
/// `tether_fragmenter_next` `*count` times, with the same unit, and send each fragment as the
/// whole value of one ATT write or notification, in order; the fragmenter is then ready for the
/// next unit. The unit is not copied: keep it, unchanged, until its last fragment is written.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BAD_CONFIG` (an empty unit),
/// `TETHER_ERR_PLAINTEXT_TOO_LARGE` (more than 256 fragments, or above 65535 bytes; at ATT_MTU 23
/// a session whose `max_plaintext` exceeds 4581 can seal such a record), `TETHER_ERR_BAD_STATE`
/// (a unit is still in progress: write its remaining fragments, or init the fragmenter again at
/// a new connection; or `f` holds no fragmenter), `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`,
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP`
/// (`count` overlapping `unit` or `f`, or `unit` overlapping `f`). On error nothing changes and
/// `*count` is not written.
///
/// # Safety
/// `f` as for `tether_fragmenter_set_mtu`; `unit` readable for `unit_len` bytes; `count` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn tether_fragmenter_start(
    f: *mut tether_fragmenter,
    unit: *const u8,
    unit_len: usize,
    count: *mut usize,
) -> tether_status {
    boundary(|| {
        if unit.is_null() && unit_len != 0 {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(unit, unit_len)]) {
            return e;
        }
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(f, &[Region::out(count)], &[Region::of(unit, unit_len)]) }
        {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract; checked not to overlap the handle or the out-pointer.
        let unit = match unsafe { bytes(unit, unit_len) } {
            Ok(u) => u,
            Err(e) => return e,
        };
        let ff = g.value();
        if ff.sending.is_some() {
            return TETHER_ERR_BAD_STATE;
        }
        let number = ff.next_number;
        let fragments = match Fragmenter::new(unit, ff.mtu, number) {
            Ok(fr) => fr.count(),
            Err(e) => return e.into(),
        };
        // The core refuses units above 65535 bytes and 256 fragments, so both fit 16 bits.
        let (Ok(len), Ok(n)) = (u16::try_from(unit.len()), u16::try_from(fragments)) else {
            return TETHER_ERR_INTERNAL;
        };
        ff.sending = Some(Sending {
            len,
            number,
            mtu: ff.mtu,
            written: 0,
            count: n,
        });
        ff.next_number = number.wrapping_add(1);
        // SAFETY: optional out-pointer, checked not to overlap anything.
        unsafe { set(count, fragments) };
        TETHER_OK
    })
}

/// Writes the next fragment of the unit in progress into `out` and its length into `*written`
/// (at most `min(ATT_MTU - 3, 512)` bytes: `TETHER_LINK_MAX_FRAGMENT` always suffices). Every
/// fragment but the last fills the ATT value. After the last one the fragmenter is ready for the
/// next `tether_fragmenter_start`. `unit` must be the unit given to `tether_fragmenter_start`,
/// unchanged (only its length is checked; other bytes would make fragments the receiver joins
/// into a unit that then fails authentication).
///
/// The fragmenter keeps no pointer to the unit between calls: each call finds its place in the
/// unit again from the number of fragments already written (no copying).
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BUFFER_TOO_SMALL` (nothing written to `out`, nothing
/// changed, the fragment's length in `*written`: the same fragment comes next),
/// `TETHER_ERR_BAD_STATE` (no unit in progress, `unit_len` is not its length, or `f` holds no
/// fragmenter), `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_COPIED`,
/// `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`out` or `written`
/// overlapping each other, `unit` or `f`). Only `TETHER_OK` and `TETHER_ERR_BUFFER_TOO_SMALL`
/// write `*written`.
///
/// # Safety
/// `f` as for `tether_fragmenter_set_mtu`; `unit` readable for `unit_len` bytes; `out` writable
/// for `out_len` bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_fragmenter_next(
    f: *mut tether_fragmenter,
    unit: *const u8,
    unit_len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        if written.is_null() || (out.is_null() && out_len != 0) || (unit.is_null() && unit_len != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(unit, unit_len), (out, out_len)]) {
            return e;
        }
        let outputs = [Region::of(out, out_len), Region::out(written)];
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(f, &outputs, &[Region::of(unit, unit_len)]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract; checked not to overlap each other or the handle.
        let (unit, out) = match unsafe { (bytes(unit, unit_len), bytes_mut(out, out_len)) } {
            (Ok(u), Ok(o)) => (u, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let ff = g.value();
        let Some(s) = ff.sending else {
            return TETHER_ERR_BAD_STATE;
        };
        if unit.len() != usize::from(s.len) {
            return TETHER_ERR_BAD_STATE;
        }
        let mut fragments = match Fragmenter::new(unit, s.mtu, s.number) {
            Ok(fr) => fr,
            Err(e) => return e.into(),
        };
        // The core's fragmenter borrows the unit, which the handle must not keep: rebuilt over
        // the same bytes, it passes over the fragments already sent.
        if fragments.skip(usize::from(s.written)).is_err() {
            return TETHER_ERR_INTERNAL;
        }
        match fragments.next(out) {
            Ok(Some(n)) => {
                let done = s.written + 1;
                ff.sending = (done < s.count).then_some(Sending { written: done, ..s });
                // SAFETY: checked non-NULL and not overlapping.
                unsafe { set(written, n) };
                TETHER_OK
            }
            // `written < count` while a unit is in progress, so a fragment always remains.
            Ok(None) => TETHER_ERR_INTERNAL,
            Err(e @ tether::Error::Local(tether::Local::BufferTooSmall { needed })) => {
                // SAFETY: checked non-NULL.
                unsafe { set(written, needed) };
                e.into()
            }
            Err(e) => e.into(),
        }
    })
}

/// Zeroes the storage (a fragmenter holds no keys and nothing allocated). Safe on NULL, fresh,
/// zeroed or wiped storage; storage that holds another kind of live object is left alone.
///
/// # Safety
/// `f` must be NULL or storage of `TETHER_FRAGMENTER_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_fragmenter_wipe(f: *mut tether_fragmenter) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_fragmenter::wipe(f) })
}

/// Sets up `r` to reassemble units of 1 to `max_unit` bytes (`TETHER_LINK_DEFAULT_MAX_UNIT`,
/// 1063, holds every record of the delivery layer and every handshake message; a session whose
/// records are larger needs `25 + max_plaintext`). Its buffer of `max_unit` bytes is allocated
/// once, here; nothing a peer sends makes it allocate or keep more. It accepts fragments of any
/// ATT_MTU until `tether_reassembler_set_mtu` names the connection's. Storage rules as for
/// `tether_fragmenter_init` (init again, or `tether_reassembler_reset`, when the connection
/// drops).
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`,
/// `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_CONFIG` (`max_unit` 0 or above `TETHER_LINK_MAX_UNIT`).
/// On error `r` is left as it was.
///
/// # Safety
/// `r` must be NULL or storage of `TETHER_REASSEMBLER_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_reassembler_init(
    r: *mut tether_reassembler,
    max_unit: u32,
) -> tether_status {
    boundary(|| {
        // SAFETY: the caller's storage.
        if let Err(e) = unsafe { tether_reassembler::check_init(r) } {
            return e;
        }
        let max_unit = usize::try_from(max_unit).unwrap_or(usize::MAX);
        let reassembler = match Reassembler::new(max_unit) {
            Ok(re) => re,
            Err(e) => return e.into(),
        };
        let value = FfiReassembler {
            reassembler,
            buffer: 0,
        };
        // SAFETY: the caller's storage.
        match unsafe { tether_reassembler::init(r, value) } {
            Ok(()) => TETHER_OK,
            Err(e) => e,
        }
    })
}

/// Sets the connection's ATT_MTU once it is known: fragments longer than `min(ATT_MTU - 3, 512)`
/// are refused from now on (`TETHER_ERR_LINK_TOO_LONG`). A unit in progress is kept.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_BAD_CONFIG` (`att_mtu` below 23; nothing changed),
/// `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE` (`r` holds no
/// reassembler), `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`.
///
/// # Safety
/// `r` must be NULL or storage of `TETHER_REASSEMBLER_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_reassembler_set_mtu(
    r: *mut tether_reassembler,
    att_mtu: u16,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(r, &[], &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        match mtu(att_mtu) {
            Ok(m) => {
                g.value().reassembler.set_mtu(m);
                TETHER_OK
            }
            Err(e) => e,
        }
    })
}

/// Takes the next fragment the connection delivered (the whole value of one ATT write or
/// notification), in the order they arrived. When it completes a unit, points `*unit` at it and
/// stores its length in `*unit_len`; otherwise `*unit` is NULL and `*unit_len` 0.
/// `*interrupted` (optional) tells whether this START fragment abandoned a unit in progress
/// (whose end was lost): the fragment itself was accepted, so this is not an error.
///
/// `*unit` points into `fragment` (a unit of one fragment) or into the reassembler's own buffer.
/// It stays valid until the next call on `r` or until `fragment` is freed, whichever comes
/// first, and is read-only: pass it to `tether_handshake_read` or `tether_session_open` (to open
/// it in place, copy it out first). Never pass it back as a fragment (`TETHER_ERR_OVERLAP`).
///
/// Returns `TETHER_OK`, or a link status (160..169, spec/LINK.md section 6): the fragment was
/// dropped and the reassembler is idle, any unit in progress lost; carry on with the next
/// fragment (the next START fragment begins afresh): `TETHER_ERR_LINK_TOO_LONG`,
/// `TETHER_ERR_LINK_TRUNCATED`, `TETHER_ERR_LINK_START_INDEX`, `TETHER_ERR_LINK_OVERSIZED`,
/// `TETHER_ERR_LINK_NOT_STARTED`, `TETHER_ERR_LINK_WRONG_UNIT`, `TETHER_ERR_LINK_GAP`,
/// `TETHER_ERR_LINK_DUPLICATE`, `TETHER_ERR_LINK_OVERRUN`, `TETHER_ERR_LINK_INCOMPLETE`. On
/// these, all three outputs are written (NULL, 0, false). Misuse, with no output written and
/// nothing changed: `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE` (`r`
/// holds no reassembler), `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`,
/// `TETHER_ERR_OVERLAP` (out-pointers overlapping each other, `fragment`, `r` or the
/// reassembler's buffer, or `fragment` overlapping `r` or its buffer).
///
/// # Safety
/// `r` as for `tether_reassembler_set_mtu`; `fragment` readable for `fragment_len` bytes; `unit`
/// and `unit_len` writable; `interrupted` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tether_reassembler_push(
    r: *mut tether_reassembler,
    fragment: *const u8,
    fragment_len: usize,
    unit: *mut *const u8,
    unit_len: *mut usize,
    interrupted: *mut bool,
) -> tether_status {
    boundary(|| {
        if unit.is_null() || unit_len.is_null() || (fragment.is_null() && fragment_len != 0) {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(fragment, fragment_len)]) {
            return e;
        }
        let outputs = [
            Region::out(unit),
            Region::out(unit_len),
            Region::out(interrupted),
        ];
        let input = Region::of(fragment, fragment_len);
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(r, &outputs, &[input]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        let own_buffer = g.value().buffer_region();
        if let Err(e) =
            disjoint(&outputs, &[own_buffer]).and_then(|()| disjoint(&[own_buffer], &[input]))
        {
            return e;
        }
        // SAFETY: valid by contract; checked outside the handle, its buffer and the outputs.
        let fragment = match unsafe { bytes(fragment, fragment_len) } {
            Ok(f) => f,
            Err(e) => return e,
        };
        // SAFETY: checked non-NULL (or optional) and not overlapping anything.
        unsafe {
            set(unit, core::ptr::null());
            set(unit_len, 0);
            set(interrupted, false);
        }
        let fr = g.value();
        let (ptr, len, was_interrupted) = match fr.reassembler.push(fragment) {
            Ok(p) => (
                p.unit.map_or(core::ptr::null(), <[u8]>::as_ptr),
                p.unit.map_or(0, <[u8]>::len),
                p.interrupted,
            ),
            Err(e) => return e.into(),
        };
        // A unit outside the fragment was lent from the buffer, which it starts.
        if !ptr.is_null() && disjoint(&[Region::of(ptr, len)], &[input]).is_ok() {
            fr.buffer = ptr as usize;
        }
        // SAFETY: as above.
        unsafe {
            set(unit, ptr);
            set(unit_len, len);
            set(interrupted, was_interrupted);
        }
        TETHER_OK
    })
}

/// Abandons the unit in progress, if any, and stores in `*abandoned` (optional) whether there
/// was one. Call it when the connection drops: a unit's fragments cannot continue on the next
/// connection.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`
/// (`r` holds no reassembler), `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_OVERLAP`
/// (`abandoned` inside `r` or its buffer); `*abandoned` is written only on success.
///
/// # Safety
/// `r` as for `tether_reassembler_set_mtu`; `abandoned` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tether_reassembler_reset(
    r: *mut tether_reassembler,
    abandoned: *mut bool,
) -> tether_status {
    boundary(|| {
        let outputs = [Region::out(abandoned)];
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(r, &outputs, &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        let fr = g.value();
        if let Err(e) = disjoint(&outputs, &[fr.buffer_region()]) {
            return e;
        }
        let was = fr.reassembler.reset();
        // SAFETY: optional, checked not to overlap.
        unsafe { set(abandoned, was) };
        TETHER_OK
    })
}

/// Frees the reassembler's buffer and zeroes the storage. Safe on NULL, fresh, zeroed or wiped
/// storage; storage that holds another kind of live object is left alone; a copy is zeroed
/// without touching the original. A unit it lent is gone with it.
///
/// # Safety
/// `r` must be NULL or storage of `TETHER_REASSEMBLER_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_reassembler_wipe(r: *mut tether_reassembler) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_reassembler::wipe(r) })
}
