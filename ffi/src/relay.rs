//! Relayed units for C (spec/PROTOCOL.md 3.4): a two-byte envelope naming the session a unit
//! belongs to on a hop that carries several. A device wraps the units of its end-to-end session
//! with the cloud (`tether_relay_wrap`, index 0) and sends them over its BLE link to the phone
//! beside the units of its own session with the phone (which travel unwrapped); the phone, a
//! relay, moves them between each device's link and its uplink to the gateway through a
//! `tether_relay_table`, rewriting the index in place and never looking past the two bytes; the
//! receiver of a relayed unit finds the session and the unit inside with `tether_relay_parse`.
//!
//! The envelope is routing, not security: a unit delivered to the wrong session fails that
//! session's checks like any forgery.

use tether::link::{relay, RelayIndex, RelayTable, Relayed, Route, RELAY_HEADER_LEN};
use tether::{Error, Local};

use crate::boundary::{
    boundary, boundary_or, bytes, bytes_mut, disjoint, enter_checked, lengths, set, Region,
    Storage, KIND_RELAY_TABLE,
};
use crate::config::framing;
use crate::message::encode_written;
use crate::status::tether_status::{self, *};

/// Bytes the envelope adds to a unit.
pub const TETHER_RELAY_HEADER_LEN: usize = 2;
/// Sessions one hop can address (indexes 0 to 4095), and the largest relay table.
pub const TETHER_RELAY_INDEXES: u32 = 4096;
/// Bytes of storage a relay table needs (`sizeof(tether_relay_table)`; its routes are allocated
/// apart, at init).
pub const TETHER_RELAY_TABLE_SIZE: usize = 64;
/// Alignment of that storage.
pub const TETHER_RELAY_TABLE_ALIGN: usize = 8;
const _: () = assert!(
    TETHER_RELAY_HEADER_LEN == RELAY_HEADER_LEN
        && TETHER_RELAY_INDEXES as usize == tether::link::relay::RELAY_INDEXES
);

/// Storage for a relay's table (the phone's): each (device link, device index) route gets its
/// own index on the uplink, the lowest free one, and keeps it until its link is removed. Its
/// capacity is fixed at init, so a device cannot make it grow. Set it up with
/// `tether_relay_table_init`, clear it with `tether_relay_table_wipe` (which frees the routes).
/// Never copy or move it while it is initialized (`TETHER_ERR_COPIED`).
#[allow(non_camel_case_types)]
#[repr(C, align(8))]
pub struct tether_relay_table {
    /// Opaque: never read or write it.
    pub _opaque: [u64; 8],
}

pub(crate) struct FfiRelayTable {
    table: RelayTable,
}

impl Storage for tether_relay_table {
    type Value = FfiRelayTable;
    const KIND: u64 = KIND_RELAY_TABLE;
}

/// An index from C: `TETHER_ERR_BAD_CONFIG` above 4095.
fn index(value: u16) -> Result<RelayIndex, tether_status> {
    RelayIndex::new(value).map_err(tether_status::from)
}

/// Writes `unit` (a datagram unit: a handshake message, a code message or a record) relayed under
/// `index` into `out`, and its length (`unit_len + TETHER_RELAY_HEADER_LEN`) into `*written`.
/// On a stream hop, put the 2-byte length prefix of the whole relayed unit before it. Each unit
/// gets its own envelope: a seal that also wrote a key-update record (`*key_update_len` non-zero)
/// made two units, to wrap one by one.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BAD_CONFIG` (`index` above 4095), `TETHER_ERR_TRUNCATED`
/// (an empty unit), `TETHER_ERR_BUFFER_TOO_SMALL` (nothing written to `out`, the size needed in
/// `*written`), `TETHER_ERR_NULL`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`out` and
/// `written` overlapping each other or `unit`). On other errors `*written` is not written.
///
/// # Safety
/// `unit` readable for `unit_len` bytes; `out` writable for `out_len` bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_relay_wrap(
    index_value: u16,
    unit: *const u8,
    unit_len: usize,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        if written.is_null() || (unit.is_null() && unit_len != 0) || (out.is_null() && out_len != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(unit, unit_len), (out, out_len)]) {
            return e;
        }
        let outputs = [Region::of(out, out_len), Region::out(written)];
        if let Err(e) = disjoint(&outputs, &[Region::of(unit, unit_len)]) {
            return e;
        }
        // SAFETY: valid by contract, checked not to overlap.
        let (unit, out) = match unsafe { (bytes(unit, unit_len), bytes_mut(out, out_len)) } {
            (Ok(u), Ok(o)) => (u, o),
            (Err(e), _) | (_, Err(e)) => return e,
        };
        let index = match index(index_value) {
            Ok(i) => i,
            Err(e) => return e,
        };
        // SAFETY: `written` checked non-NULL and not overlapping.
        unsafe { encode_written(out, written, |o| relay::wrap(index, unit, o)) }
    })
}

/// Writes the envelope of `index` (`TETHER_RELAY_HEADER_LEN` bytes) into `header_out`: to wrap a
/// unit without copying it, write the unit 2 bytes into a buffer and the header before it.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_BAD_CONFIG` (`index` above 4095; nothing written),
/// `TETHER_ERR_NULL`.
///
/// # Safety
/// `header_out` NULL or writable for 2 bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_relay_header(
    index_value: u16,
    header_out: *mut u8,
) -> tether_status {
    boundary(|| {
        if header_out.is_null() {
            return TETHER_ERR_NULL;
        }
        match index(index_value) {
            Ok(i) => {
                // SAFETY: checked non-NULL, 2 writable bytes by contract.
                unsafe { set(header_out.cast::<[u8; 2]>(), relay::header(i)) };
                TETHER_OK
            }
            Err(e) => e,
        }
    })
}

/// Parses a relayed unit as framed on its hop (`framing` 2, datagram: as a BLE link delivers it;
/// 1, stream: with its 2-byte length prefix, which must match, as a `tether_decoder` returns
/// it): stores the index in `*index`, and where the unit inside starts in `bytes` and its length
/// in `*unit_offset` and `*unit_len` (a datagram unit, for the session of that index; it is not
/// copied). The unit inside must be non-empty and not itself relayed.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_TRUNCATED` (shorter than 3 bytes of body),
/// `TETHER_ERR_LENGTH` (a stream prefix that disagrees), `TETHER_ERR_VERSION`,
/// `TETHER_ERR_UNKNOWN_TYPE` (not a relayed unit, or a relayed unit inside),
/// `TETHER_ERR_BAD_CONFIG` (an unknown framing), `TETHER_ERR_NULL`, `TETHER_ERR_BAD_LENGTH`,
/// `TETHER_ERR_OVERLAP` (the outputs overlapping each other or `bytes`). On error no output is
/// written.
///
/// # Safety
/// `bytes` readable for `len` bytes; `index`, `unit_offset` and `unit_len` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_relay_parse(
    framing_id: u8,
    bytes_in: *const u8,
    len: usize,
    index: *mut u16,
    unit_offset: *mut usize,
    unit_len: *mut usize,
) -> tether_status {
    boundary(|| {
        if index.is_null()
            || unit_offset.is_null()
            || unit_len.is_null()
            || (bytes_in.is_null() && len != 0)
        {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(bytes_in, len)]) {
            return e;
        }
        let outputs = [
            Region::out(index),
            Region::out(unit_offset),
            Region::out(unit_len),
        ];
        if let Err(e) = disjoint(&outputs, &[Region::of(bytes_in, len)]) {
            return e;
        }
        let Some(framing) = framing(framing_id) else {
            return TETHER_ERR_BAD_CONFIG;
        };
        // SAFETY: valid by contract, not overlapping the outputs.
        let all = match unsafe { bytes(bytes_in, len) } {
            Ok(b) => b,
            Err(e) => return e,
        };
        let parsed = match Relayed::parse_framed(framing, all) {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        // The unit inside is the tail of the input: after the stream prefix, if any, and the
        // envelope.
        let offset = all.len().saturating_sub(parsed.unit.len());
        // SAFETY: checked non-NULL and not overlapping.
        unsafe {
            set(index, parsed.index.get());
            set(unit_offset, offset);
            set(unit_len, parsed.unit.len());
        }
        TETHER_OK
    })
}

/// Sets up `t` as a relay table for up to `capacity` routes (1 to `TETHER_RELAY_INDEXES`), whose
/// memory is allocated here, once (a few bytes a route; a no_std firmware build takes it from
/// `tether_alloc_hook`). Storage rules as for `tether_handshake_init_initiator`: zeroed storage,
/// a wiped one, or a table set up at this address (wiped and replaced: its routes are lost).
///
/// Returns `TETHER_OK`, or `TETHER_ERR_BAD_CONFIG` (`capacity` 0 or above 4096, or no memory for
/// it), `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE` (storage holds
/// another kind of object), `TETHER_ERR_BUSY`. On error `t` is left as it was.
///
/// # Safety
/// `t` NULL or storage of `TETHER_RELAY_TABLE_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_relay_table_init(
    t: *mut tether_relay_table,
    capacity: u32,
) -> tether_status {
    boundary(|| {
        // SAFETY: the caller's storage.
        if let Err(e) = unsafe { tether_relay_table::check_init(t) } {
            return e;
        }
        let capacity = usize::try_from(capacity).unwrap_or(usize::MAX);
        let table = match RelayTable::new(capacity) {
            Ok(table) => table,
            Err(e) => return e.into(),
        };
        // SAFETY: the caller's storage, checked above.
        match unsafe { tether_relay_table::init(t, FfiRelayTable { table }) } {
            Ok(()) => TETHER_OK,
            Err(e) => e,
        }
    })
}

/// A relayed unit from the device on `link` going up: rewrites its index in place (`bytes`, the
/// relayed unit without any stream prefix: as a BLE reassembler completed it) to the route's
/// index on the uplink and stores that index in `*uplink_index`. A route (`link`, the unit's
/// index) seen for the first time takes the lowest free uplink index. `link` is the caller's
/// number for the device, stable while the pairing lasts (a bond's slot, not a BLE connection
/// handle), so that a device that comes back keeps its uplink index.
///
/// Returns `TETHER_OK`, or: a malformed-input status (`TETHER_ERR_TRUNCATED`,
/// `TETHER_ERR_VERSION`, `TETHER_ERR_UNKNOWN_TYPE`: not a relayed unit; drop it),
/// `TETHER_ERR_RELAY_FULL` (a new route and no free index), `TETHER_ERR_NULL`,
/// `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE` (`t` holds no relay table),
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`bytes`
/// and `uplink_index` overlapping each other or `t`). On error `bytes`, the table and
/// `*uplink_index` are left as they were.
///
/// # Safety
/// `t` as for `tether_relay_table_init`; `bytes` readable and writable for `len` bytes;
/// `uplink_index` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_relay_table_up(
    t: *mut tether_relay_table,
    link: u32,
    bytes_io: *mut u8,
    len: usize,
    uplink_index: *mut u16,
) -> tether_status {
    boundary(|| {
        if uplink_index.is_null() || (bytes_io.is_null() && len != 0) {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(bytes_io, len)]) {
            return e;
        }
        let outputs = [Region::of(bytes_io, len), Region::out(uplink_index)];
        // SAFETY: the caller's storage and buffers.
        let mut g = match unsafe { enter_checked(t, &outputs, &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract, checked not to overlap the handle or the out-pointer.
        let unit = match unsafe { bytes_mut(bytes_io, len) } {
            Ok(u) => u,
            Err(e) => return e,
        };
        match g.value().table.up(link, unit) {
            Ok(up) => {
                // SAFETY: checked non-NULL and not overlapping.
                unsafe { set(uplink_index, up.get()) };
                TETHER_OK
            }
            Err(Error::Local(Local::LimitReached)) => TETHER_ERR_RELAY_FULL,
            Err(e) => e.into(),
        }
    })
}

/// A relayed unit from the uplink going down: rewrites its index in place (`bytes`, the relayed
/// unit without any stream prefix: 2 bytes into a stream unit) back to the device's and stores
/// the route: `*link`, the device to send it to, and `*device_index`, the index it now carries.
///
/// Returns `TETHER_OK`, or: a malformed-input status (`TETHER_ERR_TRUNCATED`,
/// `TETHER_ERR_VERSION`, `TETHER_ERR_UNKNOWN_TYPE`), `TETHER_ERR_UNEXPECTED_MESSAGE` (well
/// formed, but no route has that uplink index: drop it), `TETHER_ERR_NULL`,
/// `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`, `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`,
/// `TETHER_ERR_BAD_LENGTH`, `TETHER_ERR_OVERLAP` (`bytes`, `link` and `device_index` overlapping
/// each other or `t`). On error `bytes`, `*link` and `*device_index` are left as they were.
///
/// # Safety
/// `t` as for `tether_relay_table_init`; `bytes` readable and writable for `len` bytes; `link`
/// and `device_index` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_relay_table_down(
    t: *mut tether_relay_table,
    bytes_io: *mut u8,
    len: usize,
    link: *mut u32,
    device_index: *mut u16,
) -> tether_status {
    boundary(|| {
        if link.is_null() || device_index.is_null() || (bytes_io.is_null() && len != 0) {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(bytes_io, len)]) {
            return e;
        }
        let outputs = [
            Region::of(bytes_io, len),
            Region::out(link),
            Region::out(device_index),
        ];
        // SAFETY: the caller's storage and buffers.
        let mut g = match unsafe { enter_checked(t, &outputs, &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract, checked not to overlap the handle or the out-pointers.
        let unit = match unsafe { bytes_mut(bytes_io, len) } {
            Ok(u) => u,
            Err(e) => return e,
        };
        match g.value().table.down(unit) {
            Ok(route) => {
                // SAFETY: checked non-NULL and not overlapping.
                unsafe { store_route(route, link, device_index) };
                TETHER_OK
            }
            Err(e) => e.into(),
        }
    })
}

/// # Safety
/// Both pointers non-NULL and writable.
unsafe fn store_route(route: Route, link: *mut u32, device_index: *mut u16) {
    // SAFETY: forwarded.
    unsafe {
        set(link, route.link);
        set(device_index, route.index.get());
    }
}

/// The route behind uplink index `uplink_index`: stores in `*found` whether there is one and, if
/// so, its `*link` and `*device_index` (written only then).
///
/// Returns `TETHER_OK`, or `TETHER_ERR_BAD_CONFIG` (`uplink_index` above 4095),
/// `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`, `TETHER_ERR_COPIED`,
/// `TETHER_ERR_BUSY`, `TETHER_ERR_OVERLAP` (the outputs overlapping each other or `t`). On error
/// no output is written.
///
/// # Safety
/// `t` as for `tether_relay_table_init`; `link`, `device_index` and `found` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_relay_table_route(
    t: *mut tether_relay_table,
    uplink_index: u16,
    link: *mut u32,
    device_index: *mut u16,
    found: *mut bool,
) -> tether_status {
    boundary(|| {
        if link.is_null() || device_index.is_null() || found.is_null() {
            return TETHER_ERR_NULL;
        }
        let outputs = [
            Region::out(link),
            Region::out(device_index),
            Region::out(found),
        ];
        // SAFETY: the caller's storage and out-pointers.
        let mut g = match unsafe { enter_checked(t, &outputs, &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        let uplink = match index(uplink_index) {
            Ok(i) => i,
            Err(e) => return e,
        };
        let route = g.value().table.route(uplink);
        // SAFETY: checked non-NULL and not overlapping.
        unsafe {
            set(found, route.is_some());
            if let Some(r) = route {
                store_route(r, link, device_index);
            }
        }
        TETHER_OK
    })
}

/// Forgets every route of `link` (the device is unpaired, or gone for good): their uplink
/// indexes are free again. Stores how many there were in `*removed` (optional).
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`,
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_OVERLAP` (`removed` inside `t`); nothing
/// changes on error.
///
/// # Safety
/// `t` as for `tether_relay_table_init`; `removed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tether_relay_table_remove_link(
    t: *mut tether_relay_table,
    link: u32,
    removed: *mut usize,
) -> tether_status {
    boundary(|| {
        // SAFETY: the caller's storage and out-pointer.
        let mut g = match unsafe { enter_checked(t, &[Region::out(removed)], &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        let n = g.value().table.remove_link(link);
        // SAFETY: optional, checked not to overlap.
        unsafe { set(removed, n) };
        TETHER_OK
    })
}

/// Frees the table's routes and zeroes the storage. Safe on NULL, fresh, zeroed or wiped
/// storage; storage that holds another kind of live object is left alone; a copy is zeroed
/// without touching the original.
///
/// # Safety
/// `t` must be NULL or storage of `TETHER_RELAY_TABLE_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_relay_table_wipe(t: *mut tether_relay_table) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_relay_table::wipe(t) })
}
