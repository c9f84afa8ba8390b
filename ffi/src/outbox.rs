//! The sending half of delivery through the C ABI: a sender handle over the sealed outbox, whose
//! bytes live in the firmware's flash behind callbacks (spec/MESSAGES.md 6.4 and 6.5).

use core::ffi::c_void;

use tether::delivery::{IndexSlot, Outbox, OutboxConfig, OutboxStorage, Sender, SenderConfig};
use tether::delivery::{Refused, StorageKey};
use tether::{Error, StorageError};
use zeroize::Zeroizing;

use crate::boundary::{
    boundary, boundary_or, bytes, bytes_mut, disjoint, key, lengths, read, set, Entered, Region,
    Storage, KIND_SENDER,
};
use crate::platform::tether_platform;
use crate::status::tether_status::{self, *};

/// Bytes of storage a sender needs (`sizeof(tether_sender)`).
pub const TETHER_SENDER_SIZE: usize = 2048;
/// Alignment of that storage.
pub const TETHER_SENDER_ALIGN: usize = 16;
/// Largest application message one push takes (larger payloads are chunked by the message
/// layer).
pub const TETHER_DELIVERY_MAX_MESSAGE: usize = 1024;
/// Largest delivery frame: an output buffer of this size always suffices for
/// `tether_sender_next_frame`, and a session whose `max_plaintext` is at least this carries any
/// frame in one record (the gateway uses exactly this). Sealed, a frame needs
/// `TETHER_SEAL_CAPACITY(TETHER_DELIVERY_MAX_FRAME)` bytes.
pub const TETHER_DELIVERY_MAX_FRAME: usize = 1038;
/// Largest hello or ack frame: an output buffer of this size always suffices for
/// `tether_sender_hello`, `tether_receiver_delivered` and `tether_receiver_poll_ack`.
pub const TETHER_DELIVERY_CONTROL_MAX: usize = 20;
/// Bytes an outbox entry adds to its message: `slot_size` must be at least this plus the
/// largest message the application pushes.
pub const TETHER_OUTBOX_ENTRY_OVERHEAD: usize = 38;
/// Bytes of one index slot: each of the two index slots must hold this many.
pub const TETHER_OUTBOX_INDEX_LEN: usize = 68;
/// A good default for the nonce reservation `block` (writes of the counter cell per 16 pushes).
pub const TETHER_OUTBOX_DEFAULT_BLOCK: u32 = 32;
/// The smallest `block`.
pub const TETHER_OUTBOX_MIN_BLOCK: u32 = 4;
/// The largest `block` (larger only weakens rollback detection).
pub const TETHER_OUTBOX_MAX_BLOCK: u32 = 1048576;

/// Reads a slot: copies at most `cap` bytes of what the slot holds into `buf`, stores in `*len`
/// how many bytes the slot holds (which may exceed `cap`; 0 = empty or erased; an erased flash
/// page of 0xff bytes is empty). Returns 0, or non-zero on an I/O failure.
#[allow(non_camel_case_types)]
pub type tether_storage_read_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        which: u32,
        buf: *mut u8,
        cap: usize,
        len: *mut usize,
    ) -> i32,
>;
/// Replaces a slot's whole contents with `len` bytes at `data`, durably before returning 0.
/// Non-zero on an I/O failure (the slot may then hold old bytes, nothing or a prefix).
#[allow(non_camel_case_types)]
pub type tether_storage_write_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, which: u32, data: *const u8, len: usize) -> i32>;

/// The outbox's storage, implemented by the firmware over its flash: `slot_count` entry slots of
/// `slot_size` bytes, two index slots of `TETHER_OUTBOX_INDEX_LEN` bytes, and a monotonic counter
/// cell. Everything written is already sealed (AES-256-GCM), so the storage needs no secrecy of
/// its own; it needs durability, and a counter that whoever copies the flash cannot roll back
/// (a secure element's monotonic counter, OTP, RPMB). Copied into the sender at open; the
/// callbacks are called only from inside calls on that sender, on the calling thread, with
/// `user`. Every callback returns 0 on success and non-zero on an I/O failure, which the call
/// reports as `TETHER_ERR_STORAGE_IO`. All seven are required.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct tether_outbox_storage {
    /// Passed unchanged to every callback.
    pub user: *mut c_void,
    /// Number of entry slots: the most unacknowledged messages the outbox holds (1 or more).
    pub slot_count: u32,
    /// Bytes per entry slot: `TETHER_OUTBOX_ENTRY_OVERHEAD` plus the largest message pushed
    /// (bytes beyond `TETHER_OUTBOX_ENTRY_OVERHEAD + TETHER_DELIVERY_MAX_MESSAGE` are unused).
    pub slot_size: u32,
    /// Reads entry slot `which` (0 .. slot_count - 1).
    pub read_entry: tether_storage_read_fn,
    /// Writes entry slot `which` (at most `slot_size` bytes).
    pub write_entry: tether_storage_write_fn,
    /// Reads index slot `which` (0 or 1).
    pub read_index: tether_storage_read_fn,
    /// Writes index slot `which` (0 or 1; `TETHER_OUTBOX_INDEX_LEN` bytes).
    pub write_index: tether_storage_write_fn,
    /// Empties index slot `which` (0 or 1), so that it then reads as 0 bytes. Used by reset only.
    pub erase_index: Option<unsafe extern "C" fn(user: *mut c_void, which: u32) -> i32>,
    /// Stores the counter cell's value in `*value` (0 when never written).
    pub read_counter: Option<unsafe extern "C" fn(user: *mut c_void, value: *mut u64) -> i32>,
    /// Replaces the counter cell with `value` (always larger than the current one), atomically
    /// (old or new value after a power cut) and durably.
    pub write_counter: Option<unsafe extern "C" fn(user: *mut c_void, value: u64) -> i32>,
}

type ReadFn = unsafe extern "C" fn(*mut c_void, u32, *mut u8, usize, *mut usize) -> i32;
type WriteFn = unsafe extern "C" fn(*mut c_void, u32, *const u8, usize) -> i32;

/// The C callbacks, all present, as an [`OutboxStorage`].
pub(crate) struct CStorage {
    user: *mut c_void,
    slot_count: u32,
    slot_size: u32,
    read_entry: ReadFn,
    write_entry: WriteFn,
    read_index: ReadFn,
    write_index: WriteFn,
    erase_index: unsafe extern "C" fn(*mut c_void, u32) -> i32,
    read_counter: unsafe extern "C" fn(*mut c_void, *mut u64) -> i32,
    write_counter: unsafe extern "C" fn(*mut c_void, u64) -> i32,
}

impl CStorage {
    /// Refuses a storage with a missing callback.
    fn new(c: &tether_outbox_storage) -> Result<CStorage, tether_status> {
        match (
            c.read_entry,
            c.write_entry,
            c.read_index,
            c.write_index,
            c.erase_index,
            c.read_counter,
            c.write_counter,
        ) {
            (Some(re), Some(we), Some(ri), Some(wi), Some(ei), Some(rc), Some(wc)) => {
                Ok(CStorage {
                    user: c.user,
                    slot_count: c.slot_count,
                    slot_size: c.slot_size,
                    read_entry: re,
                    write_entry: we,
                    read_index: ri,
                    write_index: wi,
                    erase_index: ei,
                    read_counter: rc,
                    write_counter: wc,
                })
            }
            _ => Err(TETHER_ERR_NULL),
        }
    }
}

fn io(rc: i32) -> Result<(), StorageError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(StorageError::Io)
    }
}

fn index_number(which: IndexSlot) -> u32 {
    u32::from(which.number())
}

// SAFETY of the calls below: the callbacks' contract (documented on `tether_outbox_storage`) is
// that they may be called with `user` and any buffer valid for the length passed, from inside a
// call on the sender that holds them.
impl OutboxStorage for CStorage {
    fn slot_count(&self) -> u32 {
        self.slot_count
    }

    fn slot_size(&self) -> usize {
        usize::try_from(self.slot_size).unwrap_or(usize::MAX)
    }

    fn read_entry(&mut self, slot: u32, buf: &mut [u8]) -> Result<usize, StorageError> {
        let mut len = 0usize;
        // SAFETY: `buf` is valid for writes of its length, `len` for one usize.
        io(unsafe { (self.read_entry)(self.user, slot, buf.as_mut_ptr(), buf.len(), &mut len) })?;
        Ok(len)
    }

    fn write_entry(&mut self, slot: u32, data: &[u8]) -> Result<(), StorageError> {
        // SAFETY: `data` is valid for reads of its length.
        io(unsafe { (self.write_entry)(self.user, slot, data.as_ptr(), data.len()) })
    }

    fn read_index(&mut self, which: IndexSlot, buf: &mut [u8]) -> Result<usize, StorageError> {
        let mut len = 0usize;
        let w = index_number(which);
        // SAFETY: as for `read_entry`.
        io(unsafe { (self.read_index)(self.user, w, buf.as_mut_ptr(), buf.len(), &mut len) })?;
        Ok(len)
    }

    fn write_index(&mut self, which: IndexSlot, data: &[u8]) -> Result<(), StorageError> {
        let w = index_number(which);
        // SAFETY: as for `write_entry`.
        io(unsafe { (self.write_index)(self.user, w, data.as_ptr(), data.len()) })
    }

    fn erase_index(&mut self, which: IndexSlot) -> Result<(), StorageError> {
        // SAFETY: the callback's contract.
        io(unsafe { (self.erase_index)(self.user, index_number(which)) })
    }

    fn read_counter(&mut self) -> Result<u64, StorageError> {
        let mut value = 0u64;
        // SAFETY: `value` is valid for one u64.
        io(unsafe { (self.read_counter)(self.user, &mut value) })?;
        Ok(value)
    }

    fn write_counter(&mut self, value: u64) -> Result<(), StorageError> {
        // SAFETY: the callback's contract.
        io(unsafe { (self.write_counter)(self.user, value) })
    }
}

/// Storage for one sender: the sealed outbox (its AES key schedule included) and the sending
/// state of the current session. Never copy or move it while it is open (a copy is refused with
/// `TETHER_ERR_COPIED`: two copies would assign the same sequence numbers and nonces).
#[allow(non_camel_case_types)]
#[repr(C, align(16))]
pub struct tether_sender {
    /// Opaque: never read or write it.
    pub _opaque: [u64; 256],
}

pub(crate) struct FfiSender {
    sender: Sender<CStorage>,
    /// The outbox was reset on this handle: acknowledgements in flight name the old stream's
    /// numbers, so nothing is sent or accepted until the next session (as `Sender::reset`).
    await_session: bool,
}

impl Storage for tether_sender {
    type Value = FfiSender;
    const KIND: u64 = KIND_SENDER;
}

/// Enters the sender and checks that `outputs` overlap neither each other, nor `inputs`, nor the
/// sender's storage.
///
/// # Safety
/// As for the entry points.
unsafe fn enter<'a>(
    s: *mut tether_sender,
    outputs: &[Region],
    inputs: &[Region],
) -> Result<Entered<'a, tether_sender>, tether_status> {
    // SAFETY: forwarded from the caller.
    let g = unsafe { tether_sender::enter(s) }?;
    let handle = g.region();
    disjoint(outputs, inputs)?;
    disjoint(outputs, &[handle])?;
    disjoint(&[handle], inputs)?;
    Ok(g)
}

/// Shared body of open and reset.
///
/// # Safety
/// As for `tether_sender_open`.
#[allow(clippy::too_many_arguments)]
unsafe fn open(
    s: *mut tether_sender,
    storage: *const tether_outbox_storage,
    storage_key: *const u8,
    platform: *const tether_platform,
    block: u32,
    window: u32,
    resend_after_ms: u64,
    reset: bool,
) -> tether_status {
    // SAFETY: the caller guarantees validity of non-NULL pointers; all three are copied out.
    let (c, p, k) = match unsafe { (read(storage), read(platform), key::<32>(storage_key)) } {
        (Ok(c), Ok(p), Ok(k)) => (c, p, Zeroizing::new(k)),
        _ => return TETHER_ERR_NULL,
    };
    let cstorage = match CStorage::new(&c) {
        Ok(cs) => cs,
        Err(e) => return e,
    };
    if !(1..=65_535).contains(&window) {
        return TETHER_ERR_BAD_CONFIG;
    }
    let config = SenderConfig {
        window,
        resend_after_ms,
    };
    // SAFETY: the caller's storage. Marked busy while the outbox is opened: the storage and
    // entropy callbacks run meanwhile, and a call they make on `s` is refused like any re-entry.
    let slot = match unsafe { tether_sender::begin_init(s) } {
        Ok(slot) => slot,
        Err(e) => return e,
    };
    let storage_key = StorageKey::new(*k);
    let rng = &mut p.entropy();
    let opened = Outbox::open(cstorage, &storage_key, OutboxConfig { block }, rng);
    drop(storage_key);
    let outbox = match (opened, reset) {
        (Ok(ob), false) => ob,
        (Ok(mut ob), true) => match ob.reset(rng) {
            Ok(()) => ob,
            Err(e) => return e.into(),
        },
        (Err(refused), true) => match Refused::reset(refused, rng) {
            Ok(ob) => ob,
            Err(r) => return r.error().into(),
        },
        (Err(refused), false) => return refused.error().into(),
    };
    match Sender::new(outbox, config) {
        Ok(sender) => {
            slot.place(FfiSender {
                sender,
                await_session: reset,
            });
            TETHER_OK
        }
        Err(e) => e.into(),
    }
}

/// Opens the outbox kept in `storage` and sets up `s` as its sender, at the start of a session
/// (the hello is due). Reads both indexes and the counter, checks every stored entry, and
/// repairs a reservation a power cut interrupted. Storage never used (both index slots empty,
/// counter 0) gets a new stream, whose random id comes from `platform->fill_random`.
/// `storage_key` (32 bytes, from the platform's key store; wipe your copy) seals everything
/// stored; the sender keeps only the cipher made from it, which `tether_sender_wipe` erases.
/// `block` is the nonce reservation (`TETHER_OUTBOX_MIN_BLOCK ..= TETHER_OUTBOX_MAX_BLOCK`,
/// `TETHER_OUTBOX_DEFAULT_BLOCK` unless the counter cell wears out), `window` the most data
/// frames in flight (1..=65535, 8 is typical), `resend_after_ms` the silence after which
/// everything unacknowledged is sent again (0: never within a session, for stream links).
/// `storage`, `storage_key` and `platform` are copied; `storage->user` must outlive the sender.
/// Storage rules as for `tether_handshake_init_initiator`: fresh storage, or a sender set up at
/// this address (replaced on success).
///
/// Returns `TETHER_OK`, or: a detection, each a security event for the application's log, after
/// which `tether_sender_reset_storage` is the recovery: `TETHER_ERR_STORAGE_TAMPERED`,
/// `TETHER_ERR_STORAGE_TRUNCATED`, `TETHER_ERR_STORAGE_ROLLED_BACK`,
/// `TETHER_ERR_STORAGE_REORDERED`; `TETHER_ERR_STORAGE_IO` (a callback failed: retry later);
/// `TETHER_ERR_ENTROPY` (new storage and no entropy); `TETHER_ERR_BAD_CONFIG` (`block`,
/// `window`, `slot_count` 0, or `slot_size` below `TETHER_OUTBOX_ENTRY_OVERHEAD`);
/// `TETHER_ERR_NULL` (a NULL argument or callback), `TETHER_ERR_MISALIGNED`,
/// `TETHER_ERR_BAD_STATE` (another kind of object lives in `s`), `TETHER_ERR_BUSY`. On any error
/// `s` is left as it was (uninitialised storage stays uninitialised). A detection writes
/// nothing to the storage.
///
/// # Safety
/// `s` NULL or storage of `TETHER_SENDER_SIZE` bytes you own; `storage` and `platform` NULL or
/// valid structs whose callbacks honour their contracts; `storage_key` NULL or 32 readable bytes.
#[no_mangle]
pub unsafe extern "C" fn tether_sender_open(
    s: *mut tether_sender,
    storage: *const tether_outbox_storage,
    storage_key: *const u8,
    platform: *const tether_platform,
    block: u32,
    window: u32,
    resend_after_ms: u64,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded.
        unsafe {
            open(
                s,
                storage,
                storage_key,
                platform,
                block,
                window,
                resend_after_ms,
                false,
            )
        }
    })
}

/// The explicit recovery after a detection (or a factory reset): forgets every message in
/// `storage` and starts a new stream there (new random id, sequence numbers from 1), keeping the
/// counter so that no nonce is ever reused, then sets up `s` as its sender. Call it only after
/// recording the security event `tether_sender_open` reported; the peer sees the new stream id
/// in the next hello (an audit event there too). Arguments as for `tether_sender_open`. The new
/// stream must not be used on a session that was already open: `tether_sender_hello`,
/// `tether_sender_next_frame` and `tether_sender_on_ack` return `TETHER_ERR_BAD_STATE` until
/// `tether_sender_reconnect` (call it when the next session starts); `tether_sender_push` works
/// at once. A reset cut short by a power loss leaves the storage as it was: call it again.
///
/// Returns `TETHER_OK` or the statuses of `tether_sender_open` except the detections (storage
/// that cannot be reset gives `TETHER_ERR_STORAGE_IO` or `TETHER_ERR_BAD_CONFIG`); on error `s`
/// is left as it was.
///
/// # Safety
/// As for `tether_sender_open`.
#[no_mangle]
pub unsafe extern "C" fn tether_sender_reset_storage(
    s: *mut tether_sender,
    storage: *const tether_outbox_storage,
    storage_key: *const u8,
    platform: *const tether_platform,
    block: u32,
    window: u32,
    resend_after_ms: u64,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded.
        unsafe {
            open(
                s,
                storage,
                storage_key,
                platform,
                block,
                window,
                resend_after_ms,
                true,
            )
        }
    })
}

/// Seals `message` (at most `TETHER_DELIVERY_MAX_MESSAGE` bytes, and at most `slot_size -
/// TETHER_OUTBOX_ENTRY_OVERHEAD`) into the outbox, durably before returning, and stores its
/// sequence number in `*seq` (optional). `tether_sender_next_frame` sends it; it stays in the
/// storage until the peer acknowledges it, across sessions and reboots. `message` must not lie in
/// memory the storage callbacks write.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_OUTBOX_FULL` (wait for acknowledgements),
/// `TETHER_ERR_PLAINTEXT_TOO_LARGE`, `TETHER_ERR_LIMIT_REACHED` (sequence numbers exhausted:
/// reset the storage), `TETHER_ERR_STORAGE_IO` (the message is not in the outbox; the sender
/// refuses every call with it until opened again), a detection status (the outbox stopped:
/// log, then `tether_sender_reset_storage`), `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`,
/// `TETHER_ERR_BAD_STATE`, `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`,
/// `TETHER_ERR_OVERLAP`. On error `*seq` is not written and the message is not in the outbox.
///
/// # Safety
/// `s` as for `tether_sender_open`; `message` readable for `message_len` bytes; `seq` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn tether_sender_push(
    s: *mut tether_sender,
    message: *const u8,
    message_len: usize,
    seq: *mut u64,
) -> tether_status {
    boundary(|| {
        if message.is_null() && message_len != 0 {
            return TETHER_ERR_NULL;
        }
        if let Err(e) = lengths(&[(message, message_len)]) {
            return e;
        }
        let input = Region::of(message, message_len);
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(s, &[Region::out(seq)], &[input]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        // SAFETY: valid by contract; checked outside the sender.
        let m = match unsafe { bytes(message, message_len) } {
            Ok(m) => m,
            Err(e) => return e,
        };
        match g.value().sender.push(m) {
            Ok(n) => {
                // SAFETY: optional, checked not to overlap.
                unsafe { set(seq, n) };
                TETHER_OK
            }
            Err(e) => e.into(),
        }
    })
}

/// Shared body of the calls that write one frame into `out`.
///
/// # Safety
/// As for `tether_sender_next_frame`.
unsafe fn write_frame(
    s: *mut tether_sender,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
    f: impl FnOnce(&mut Sender<CStorage>, &mut [u8]) -> Result<Option<usize>, Error>,
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
    if g.value().await_session {
        return TETHER_ERR_BAD_STATE;
    }
    // SAFETY: valid by contract; checked not to overlap.
    let out = match unsafe { bytes_mut(out, out_len) } {
        Ok(o) => o,
        Err(e) => return e,
    };
    match f(&mut g.value().sender, out) {
        Ok(n) => {
            // SAFETY: checked non-NULL.
            unsafe { set(written, n.unwrap_or(0)) };
            TETHER_OK
        }
        Err(e @ Error::Local(tether::Local::BufferTooSmall { needed })) => {
            // SAFETY: checked non-NULL.
            unsafe { set(written, needed) };
            e.into()
        }
        Err(e) => e.into(),
    }
}

/// Writes the hello frame (this sender's stream and oldest unacknowledged message) into `out`.
/// `tether_sender_next_frame` sends it by itself when it is due; call this only to send it some
/// other way. `TETHER_DELIVERY_CONTROL_MAX` bytes always suffice.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BUFFER_TOO_SMALL` (the size needed in `*written`,
/// nothing else changed), `TETHER_ERR_BAD_STATE` (after `tether_sender_reset_storage`, until
/// `tether_sender_reconnect`; or `s` holds no sender), `TETHER_ERR_NULL`,
/// `TETHER_ERR_MISALIGNED`, `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_BAD_LENGTH`,
/// `TETHER_ERR_OVERLAP`. Only `TETHER_OK` and `TETHER_ERR_BUFFER_TOO_SMALL` write `*written`.
///
/// # Safety
/// `s` as for `tether_sender_open`; `out` writable for `out_len` bytes; `written` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_sender_hello(
    s: *mut tether_sender,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded.
        unsafe {
            write_frame(s, out, out_len, written, |snd, out| {
                snd.hello(out).map(Some)
            })
        }
    })
}

/// Writes the next frame to send on this session into `out`, or stores 0 in `*written` when
/// nothing is due now: first the hello, then data frames in order while fewer than `window` are
/// unacknowledged; after `resend_after_ms` without acknowledgement progress, everything
/// unacknowledged again. `now_ms` is any monotonic millisecond clock. Seal each frame in one
/// record and send it; call again until `*written` is 0. `TETHER_DELIVERY_MAX_FRAME` bytes
/// always suffice.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_BUFFER_TOO_SMALL` (the size needed in `*written`,
/// nothing else changed), a detection status or `TETHER_ERR_STORAGE_IO` (a stored entry could
/// not be read back: the outbox stopped; log, then reset or reopen), `TETHER_ERR_BAD_STATE`
/// (after `tether_sender_reset_storage` until `tether_sender_reconnect`), and the misuse
/// statuses of `tether_sender_hello`. Only `TETHER_OK` and `TETHER_ERR_BUFFER_TOO_SMALL` write
/// `*written`; on error no plaintext is left in `out`.
///
/// # Safety
/// As for `tether_sender_hello`.
#[no_mangle]
pub unsafe extern "C" fn tether_sender_next_frame(
    s: *mut tether_sender,
    now_ms: u64,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded.
        unsafe {
            write_frame(s, out, out_len, written, |snd, out| {
                snd.next_frame(now_ms, out)
            })
        }
    })
}

/// The peer acknowledged every message up to `seq` (a `TETHER_INCOMING_ACK` from
/// `tether_receiver_handle`): frees them in the outbox (one index write). An old
/// acknowledgement is ignored.
///
/// Returns `TETHER_OK`, or: `TETHER_ERR_UNEXPECTED_MESSAGE` (above every number this sender ever
/// assigned: a misbehaving peer, or storage rolled back within the undetectable window; an audit
/// event; nothing changed), `TETHER_ERR_STORAGE_IO` or a detection status (the outbox stopped),
/// `TETHER_ERR_BAD_STATE` (after `tether_sender_reset_storage` until `tether_sender_reconnect`),
/// `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`.
///
/// # Safety
/// `s` as for `tether_sender_open`.
#[no_mangle]
pub unsafe extern "C" fn tether_sender_on_ack(s: *mut tether_sender, seq: u64) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(s, &[], &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        let fs = g.value();
        if fs.await_session {
            return TETHER_ERR_BAD_STATE;
        }
        match fs.sender.on_ack(seq) {
            Ok(()) => TETHER_OK,
            Err(e) => e.into(),
        }
    })
}

/// A new session started (after each handshake): the hello is due again and every
/// unacknowledged message is sent again. Also ends the wait after `tether_sender_reset_storage`.
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`,
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`.
///
/// # Safety
/// `s` as for `tether_sender_open`.
#[no_mangle]
pub unsafe extern "C" fn tether_sender_reconnect(s: *mut tether_sender) -> tether_status {
    boundary(|| {
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(s, &[], &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        let fs = g.value();
        fs.sender.on_reconnect();
        fs.await_session = false;
        TETHER_OK
    })
}

/// Stores in `*count` how many messages were pushed and not yet acknowledged (no storage
/// access).
///
/// Returns `TETHER_OK`, or `TETHER_ERR_NULL`, `TETHER_ERR_MISALIGNED`, `TETHER_ERR_BAD_STATE`,
/// `TETHER_ERR_COPIED`, `TETHER_ERR_BUSY`, `TETHER_ERR_OVERLAP`; on error `*count` is not
/// written.
///
/// # Safety
/// `s` as for `tether_sender_open`; `count` writable.
#[no_mangle]
pub unsafe extern "C" fn tether_sender_pending(
    s: *mut tether_sender,
    count: *mut u64,
) -> tether_status {
    boundary(|| {
        if count.is_null() {
            return TETHER_ERR_NULL;
        }
        // SAFETY: forwarded from the caller.
        let mut g = match unsafe { enter(s, &[Region::out(count)], &[]) } {
            Ok(g) => g,
            Err(e) => return e,
        };
        let n = g.value().sender.unacknowledged();
        // SAFETY: checked non-NULL and not overlapping.
        unsafe { set(count, n) };
        TETHER_OK
    })
}

/// Drops the sender, erasing the cipher made from the storage key and the scratch buffer, and
/// zeroes the storage; the messages stay in the outbox's storage. Safe on NULL, fresh, zeroed or
/// wiped storage; storage holding another kind of object is left alone; a copy is zeroed without
/// touching the original. From one of this sender's own callbacks, the wipe happens when the
/// running call returns.
///
/// # Safety
/// `s` must be NULL or storage of `TETHER_SENDER_SIZE` bytes you own.
#[no_mangle]
pub unsafe extern "C" fn tether_sender_wipe(s: *mut tether_sender) {
    // SAFETY: forwarded.
    boundary_or((), || unsafe { tether_sender::wipe(s) })
}

#[cfg(test)]
mod tests {
    //! Cheap on purpose (they run under Miri): a few pushes over `MemStorage` behind the C
    //! callbacks.
    use super::*;
    use crate::receiver::*;
    use std::boxed::Box;
    use std::vec::Vec;
    use tether::delivery::MemStorage;

    /// The "flash" behind the callbacks, plus knobs to make them fail or re-enter.
    struct Flash {
        mem: MemStorage,
        fail: bool,
        reenter: *mut tether_sender,
        reentry: Option<tether_status>,
    }

    fn flash(user: *mut c_void) -> &'static mut Flash {
        // SAFETY: every test passes a live `Flash` as `user`.
        unsafe { &mut *user.cast::<Flash>() }
    }

    /// Runs the re-entry probe, then reports a failure if asked to.
    fn hook(f: &mut Flash) -> i32 {
        if !f.reenter.is_null() {
            let mut n = 0;
            // SAFETY: a live sender the test owns.
            f.reentry = Some(unsafe { tether_sender_pending(f.reenter, &mut n) });
        }
        i32::from(f.fail)
    }

    fn which(w: u32) -> IndexSlot {
        if w == 0 {
            IndexSlot::A
        } else {
            IndexSlot::B
        }
    }

    unsafe extern "C" fn read_entry(
        u: *mut c_void,
        slot: u32,
        buf: *mut u8,
        cap: usize,
        len: *mut usize,
    ) -> i32 {
        let f = flash(u);
        let b = unsafe { core::slice::from_raw_parts_mut(buf, cap) };
        match f.mem.read_entry(slot, b) {
            Ok(n) => {
                unsafe { *len = n };
                hook(f)
            }
            Err(_) => 1,
        }
    }
    unsafe extern "C" fn write_entry(u: *mut c_void, slot: u32, d: *const u8, n: usize) -> i32 {
        let f = flash(u);
        if hook(f) != 0 {
            return 1;
        }
        let d = unsafe { core::slice::from_raw_parts(d, n) };
        i32::from(f.mem.write_entry(slot, d).is_err())
    }
    unsafe extern "C" fn read_index(
        u: *mut c_void,
        w: u32,
        buf: *mut u8,
        cap: usize,
        len: *mut usize,
    ) -> i32 {
        let f = flash(u);
        let b = unsafe { core::slice::from_raw_parts_mut(buf, cap) };
        let n = f.mem.read_index(which(w), b).unwrap();
        unsafe { *len = n };
        hook(f)
    }
    unsafe extern "C" fn write_index(u: *mut c_void, w: u32, d: *const u8, n: usize) -> i32 {
        let f = flash(u);
        if hook(f) != 0 {
            return 1;
        }
        let d = unsafe { core::slice::from_raw_parts(d, n) };
        f.mem.write_index(which(w), d).unwrap();
        0
    }
    unsafe extern "C" fn erase_index(u: *mut c_void, w: u32) -> i32 {
        flash(u).mem.erase_index(which(w)).unwrap();
        0
    }
    unsafe extern "C" fn read_counter(u: *mut c_void, v: *mut u64) -> i32 {
        unsafe { *v = flash(u).mem.read_counter().unwrap() };
        0
    }
    unsafe extern "C" fn write_counter(u: *mut c_void, v: u64) -> i32 {
        flash(u).mem.write_counter(v).unwrap();
        0
    }
    unsafe extern "C" fn fill_random(u: *mut c_void, buf: *mut u8, len: usize) -> i32 {
        let c = unsafe { &mut *u.cast::<u8>() };
        for b in unsafe { core::slice::from_raw_parts_mut(buf, len) } {
            *c = c.wrapping_add(1);
            *b = *c;
        }
        0
    }

    /// The flash and the sender are reached through raw pointers only (also by the test), so
    /// that the `user` pointer a sender keeps stays valid under Miri's aliasing rules.
    fn new_flash() -> *mut Flash {
        Box::into_raw(Box::new(Flash {
            mem: MemStorage::new(4, 64),
            fail: false,
            reenter: core::ptr::null_mut(),
            reentry: None,
        }))
    }

    fn fl<'a>(f: *mut Flash) -> &'a mut Flash {
        // SAFETY: a live flash; each reference is used for one statement.
        unsafe { &mut *f }
    }

    fn is_zeroed(s: *mut tether_sender) -> bool {
        unsafe { (*s)._opaque.iter().all(|w| *w == 0) }
    }

    fn free(s: *mut tether_sender, f: *mut Flash) {
        unsafe {
            tether_sender_wipe(s);
            drop(Box::from_raw(s));
            drop(Box::from_raw(f));
        }
    }

    fn callbacks(f: *mut Flash) -> tether_outbox_storage {
        tether_outbox_storage {
            user: f.cast(),
            slot_count: 4,
            slot_size: 64,
            read_entry: Some(read_entry),
            write_entry: Some(write_entry),
            read_index: Some(read_index),
            write_index: Some(write_index),
            erase_index: Some(erase_index),
            read_counter: Some(read_counter),
            write_counter: Some(write_counter),
        }
    }

    fn platform(counter: &mut u8) -> tether_platform {
        tether_platform {
            user: (counter as *mut u8).cast(),
            fill_random: Some(fill_random),
            monotonic_ms: None,
            unix_time: None,
            check_peer: None,
        }
    }

    const KEY: [u8; 32] = [9; 32];

    fn zeroed_sender() -> *mut tether_sender {
        Box::into_raw(Box::new(tether_sender { _opaque: [0; 256] }))
    }

    fn open(s: *mut tether_sender, f: *mut Flash, rng: &mut u8, reset: bool) -> tether_status {
        let c = callbacks(f);
        let p = platform(rng);
        let call = if reset {
            tether_sender_reset_storage
        } else {
            tether_sender_open
        };
        unsafe { call(s, &c, KEY.as_ptr(), &p, 4, 8, 0) }
    }

    fn next(s: *mut tether_sender) -> (tether_status, Vec<u8>) {
        let mut out = [0u8; TETHER_DELIVERY_MAX_FRAME];
        let mut n = 0;
        let st = unsafe { tether_sender_next_frame(s, 0, out.as_mut_ptr(), out.len(), &mut n) };
        (st, out[..n.min(out.len())].to_vec())
    }

    fn handle(st: &mut tether_receiver_state, frame: &[u8]) -> (tether_status, tether_incoming) {
        // A valid value to start from (all zeroes is not: no kind is 0), which a refused frame
        // leaves as it is.
        let mut inc = tether_incoming {
            kind: tether_incoming_kind::TETHER_INCOMING_GAP,
            seq: u64::MAX,
            expected: u64::MAX,
            message: core::ptr::null(),
            message_len: 0,
            stream: [0; 8],
            previous: [0; 8],
            has_previous: false,
            then: [0; 16],
        };
        let rc = unsafe { tether_receiver_handle(st, frame.as_ptr(), frame.len(), &mut inc) };
        (rc, inc)
    }

    #[test]
    fn constants_match_the_core() {
        use tether::delivery as d;
        assert_eq!(TETHER_DELIVERY_MAX_MESSAGE, d::MAX_MESSAGE);
        assert_eq!(TETHER_DELIVERY_MAX_FRAME, d::MAX_FRAME);
        assert_eq!(TETHER_OUTBOX_ENTRY_OVERHEAD, d::ENTRY_OVERHEAD);
        assert_eq!(TETHER_OUTBOX_INDEX_LEN, d::INDEX_LEN);
        assert_eq!(TETHER_OUTBOX_DEFAULT_BLOCK, d::DEFAULT_BLOCK);
        assert_eq!(TETHER_OUTBOX_MIN_BLOCK, d::MIN_BLOCK);
        assert_eq!(TETHER_OUTBOX_MAX_BLOCK, d::MAX_BLOCK);
        assert_eq!(TETHER_RECEIVER_STATE_LEN, d::RECEIVER_STATE_LEN);
        let mut buf = [0u8; 64];
        let hello = Frame::Hello {
            stream: d::StreamId([0xff; 8]),
            first_seq: d::MAX_SEQ + 1,
        };
        assert_eq!(hello.encode(&mut buf), Ok(TETHER_DELIVERY_CONTROL_MAX));
        let ack = Frame::Ack { seq: d::MAX_SEQ };
        assert!(ack.encode(&mut buf).unwrap() <= TETHER_DELIVERY_CONTROL_MAX);
        assert_eq!(core::mem::size_of::<tether_sender>(), TETHER_SENDER_SIZE);
        assert_eq!(core::mem::align_of::<tether_sender>(), TETHER_SENDER_ALIGN);
    }
    use tether::delivery::Frame;

    #[test]
    fn exported_functions_are_inside_the_panic_boundary() {
        let mut exported = 0;
        for src in [include_str!("outbox.rs"), include_str!("receiver.rs")] {
            let mut rest = src;
            while let Some(at) = rest.find("#[no_mangle]\n") {
                rest = &rest[at + 12..];
                let body = rest[rest.find('{').unwrap() + 1..].trim_start();
                let body = body
                    .strip_prefix("// SAFETY: forwarded.")
                    .unwrap_or(body)
                    .trim_start();
                assert!(body.starts_with("boundary(") || body.starts_with("boundary_or("));
                exported += 1;
            }
        }
        assert_eq!(exported, 13);
    }

    #[test]
    fn delivery_statuses_are_unique_described_and_mapped() {
        use crate::status::{storage_status, ALL, DELIVERY};
        let mut seen = std::collections::HashSet::new();
        for s in ALL.into_iter().chain(DELIVERY) {
            assert!(seen.insert(s as i32));
        }
        for s in DELIVERY {
            assert!((140..=159).contains(&(s as i32)));
            assert_eq!(tether_status::from_raw(s as i32), Some(s));
            let text = unsafe { std::ffi::CStr::from_ptr(crate::tether_strerror(s as i32)) };
            assert_ne!(text.to_bytes(), b"unknown status");
        }
        let errs = [
            StorageError::Io,
            StorageError::Full,
            StorageError::Tampered,
            StorageError::Truncated,
            StorageError::RolledBack,
            StorageError::Reordered,
        ];
        let mapped: std::collections::HashSet<_> =
            errs.iter().map(|e| storage_status(*e) as i32).collect();
        assert_eq!(mapped.len(), errs.len());
        assert_eq!(
            tether_status::from(Error::Storage(StorageError::Reordered)),
            TETHER_ERR_STORAGE_REORDERED
        );
    }

    #[test]
    fn deliver_reopen_detect_and_reset() {
        let f = new_flash();
        let mut rng = 0u8;
        let s = zeroed_sender();
        assert_eq!(open(s, f, &mut rng, false), TETHER_OK);
        let mut seq = 0;
        let pushed = unsafe { tether_sender_push(s, b"hi".as_ptr(), 2, &mut seq) };
        assert_eq!((pushed, seq), (TETHER_OK, 1));
        // The receiver follows: hello, then the message, delivered with its ack.
        let mut rx = tether_receiver_state {
            bytes: [0; 16],
            session: 0,
        };
        let (st, hello) = next(s);
        assert_eq!(st, TETHER_OK);
        let (rc, inc) = handle(&mut rx, &hello);
        assert_eq!(
            (rc, inc.kind),
            (TETHER_OK, tether_incoming_kind::TETHER_INCOMING_NEW_STREAM)
        );
        assert_eq!(
            (inc.seq, inc.has_previous, inc.stream),
            (1, false, [1, 2, 3, 4, 5, 6, 7, 8])
        );
        let (_, data) = next(s);
        let (rc, inc) = handle(&mut rx, &data);
        assert_eq!(
            (rc, inc.kind, inc.seq),
            (TETHER_OK, tether_incoming_kind::TETHER_INCOMING_MESSAGE, 1)
        );
        let msg = unsafe { core::slice::from_raw_parts(inc.message, inc.message_len) };
        assert_eq!(msg, b"hi");
        assert_eq!(&inc.then[8..], &2u64.to_be_bytes());
        assert_eq!(next(s), (TETHER_OK, Vec::new()));
        let mut ack = [0u8; TETHER_DELIVERY_CONTROL_MAX];
        let mut n = 0;
        let rc =
            unsafe { tether_receiver_delivered(&mut rx, 1, ack.as_mut_ptr(), ack.len(), &mut n) };
        assert_eq!(rc, TETHER_OK);
        assert_eq!(rx.bytes, inc.then);
        // Delivered twice: refused, nothing changes.
        let again =
            unsafe { tether_receiver_delivered(&mut rx, 1, ack.as_mut_ptr(), ack.len(), &mut n) };
        assert_eq!(again, TETHER_ERR_BAD_STATE);
        let mut back = tether_receiver_state {
            bytes: [0; 16],
            session: 0,
        };
        let (rc, inc) = handle(&mut back, &ack[..3]);
        assert_eq!(
            (rc, inc.kind, inc.seq),
            (TETHER_OK, tether_incoming_kind::TETHER_INCOMING_ACK, 1)
        );
        assert_eq!(unsafe { tether_sender_on_ack(s, 1) }, TETHER_OK);
        let mut count = 9;
        assert_eq!(unsafe { tether_sender_pending(s, &mut count) }, TETHER_OK);
        assert_eq!(count, 0);
        assert_eq!(
            unsafe { tether_sender_on_ack(s, 2) },
            TETHER_ERR_UNEXPECTED_MESSAGE
        );

        // Re-entry from a storage callback is refused; the push itself succeeds.
        fl(f).reenter = s;
        let pushed = unsafe { tether_sender_push(s, b"x".as_ptr(), 1, &mut seq) };
        fl(f).reenter = core::ptr::null_mut();
        assert_eq!(
            (pushed, seq, fl(f).reentry),
            (TETHER_OK, 2, Some(TETHER_ERR_BUSY))
        );
        // An I/O failure: its status, and the message pushed before survives a reopen.
        fl(f).fail = true;
        let failed = unsafe { tether_sender_push(s, b"y".as_ptr(), 1, &mut seq) };
        assert_eq!((failed, seq), (TETHER_ERR_STORAGE_IO, 2));
        fl(f).fail = false;
        assert_eq!(unsafe { tether_sender_pending(s, &mut count) }, TETHER_OK);
        unsafe { tether_sender_wipe(s) };
        assert!(is_zeroed(s));
        assert_eq!(open(s, f, &mut rng, false), TETHER_OK);
        assert_eq!(unsafe { tether_sender_pending(s, &mut count) }, TETHER_OK);
        assert_eq!(count, 1);

        // Tampered entry: distinct status, the handle stays uninitialised; reset recovers.
        unsafe { tether_sender_wipe(s) };
        let good = fl(f).mem.clone();
        let mut e = fl(f).mem.entry(2).unwrap().to_vec();
        e[30] ^= 1;
        fl(f).mem.set_entry(2, Some(e));
        assert_eq!(open(s, f, &mut rng, false), TETHER_ERR_STORAGE_TAMPERED);
        assert!(is_zeroed(s));
        assert_eq!(
            unsafe { tether_sender_pending(s, &mut count) },
            TETHER_ERR_BAD_STATE
        );
        assert_eq!(open(s, f, &mut rng, true), TETHER_OK);
        assert_eq!(next(s).0, TETHER_ERR_BAD_STATE);
        assert_eq!(unsafe { tether_sender_reconnect(s) }, TETHER_OK);
        let (st, hello) = next(s);
        assert_eq!(st, TETHER_OK);
        let (rc, inc) = handle(&mut rx, &hello);
        assert_eq!(
            (rc, inc.kind, inc.has_previous),
            (
                TETHER_OK,
                tether_incoming_kind::TETHER_INCOMING_NEW_STREAM,
                true
            )
        );
        assert_ne!(inc.stream, inc.previous);
        assert!(fl(f).mem.counter() >= good.counter());
        free(s, f);
    }

    #[test]
    fn misuse_gets_a_status() {
        let f = new_flash();
        let mut rng = 0u8;
        let s = zeroed_sender();
        let c = callbacks(f);
        let p = platform(&mut rng);
        unsafe {
            assert_eq!(
                tether_sender_open(s, core::ptr::null(), KEY.as_ptr(), &p, 4, 8, 0),
                TETHER_ERR_NULL
            );
            assert_eq!(
                tether_sender_open(s, &c, core::ptr::null(), &p, 4, 8, 0),
                TETHER_ERR_NULL
            );
            let mut missing = c;
            missing.erase_index = None;
            assert_eq!(
                tether_sender_open(s, &missing, KEY.as_ptr(), &p, 4, 8, 0),
                TETHER_ERR_NULL
            );
            assert_eq!(
                tether_sender_open(s, &c, KEY.as_ptr(), &p, 3, 8, 0),
                TETHER_ERR_BAD_CONFIG
            );
            assert_eq!(
                tether_sender_open(s, &c, KEY.as_ptr(), &p, 4, 0, 0),
                TETHER_ERR_BAD_CONFIG
            );
            assert_eq!(
                fl(f).mem,
                MemStorage::new(4, 64),
                "refused opens write nothing"
            );
            assert_eq!(
                tether_sender_open(s, &c, KEY.as_ptr(), &p, 4, 8, 0),
                TETHER_OK
            );
            // Too large, and a small output buffer.
            let big = [0u8; 64];
            assert_eq!(
                tether_sender_push(s, big.as_ptr(), big.len(), core::ptr::null_mut()),
                TETHER_ERR_PLAINTEXT_TOO_LARGE
            );
            let mut small = [0u8; 4];
            let mut n = 0;
            assert_eq!(
                tether_sender_hello(s, small.as_mut_ptr(), small.len(), &mut n),
                TETHER_ERR_BUFFER_TOO_SMALL
            );
            assert!(n > small.len() && n <= TETHER_DELIVERY_CONTROL_MAX);
            // Output overlapping the handle.
            let inside = s.cast::<u8>().add(64);
            assert_eq!(
                tether_sender_hello(s, inside, 32, &mut n),
                TETHER_ERR_OVERLAP
            );
            // A copy is refused, and wiping it leaves the original working.
            let copy = zeroed_sender();
            core::ptr::copy_nonoverlapping(s, copy, 1);
            assert_eq!(tether_sender_reconnect(copy), TETHER_ERR_COPIED);
            tether_sender_wipe(copy);
            drop(Box::from_raw(copy));
            assert_eq!(tether_sender_reconnect(s), TETHER_OK);
            // Another kind of handle is refused.
            let mut dec = Box::new(crate::tether_decoder { _opaque: [0; 8] });
            assert_eq!(crate::tether_decoder_init(&mut *dec, 1024), TETHER_OK);
            let as_sender = (&mut *dec as *mut crate::tether_decoder).cast::<tether_sender>();
            let mut count = 0;
            assert_eq!(
                tether_sender_pending(as_sender, &mut count),
                TETHER_ERR_BAD_STATE
            );
            crate::tether_decoder_wipe(&mut *dec);
        }
        free(s, f);
    }

    #[test]
    fn receiver_refuses_bad_state_and_early_data() {
        let mut rx = tether_receiver_state {
            bytes: [0; 16],
            session: 0,
        };
        let mut buf = [0u8; 32];
        let n = Frame::Data {
            seq: 1,
            message: b"a",
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(handle(&mut rx, &buf[..n]).0, TETHER_ERR_UNEXPECTED_MESSAGE);
        assert_eq!(handle(&mut rx, &[0x83, 0x00]).0, TETHER_ERR_BAD_FRAME);
        assert_eq!(
            rx,
            tether_receiver_state {
                bytes: [0; 16],
                session: 0
            }
        );
        for bad in [
            tether_receiver_state {
                bytes: [0; 16],
                session: 4,
            },
            tether_receiver_state {
                bytes: [0; 16],
                session: 1,
            },
            tether_receiver_state {
                bytes: [0; 16],
                session: 2,
            },
            tether_receiver_state {
                bytes: [0xff; 16],
                session: 0,
            },
        ] {
            let mut st = bad;
            assert_eq!(handle(&mut st, &buf[..n]).0, TETHER_ERR_BAD_RECEIVER_STATE);
            assert_eq!(
                unsafe { tether_receiver_reconnect(&mut st) },
                TETHER_ERR_BAD_RECEIVER_STATE
            );
            assert_eq!(st, bad);
        }
        // A hello, an ack due, then a session change: data refused again.
        let h = Frame::Hello {
            stream: tether::delivery::StreamId([5; 8]),
            first_seq: 1,
        }
        .encode(&mut buf)
        .unwrap();
        let hello = buf[..h].to_vec();
        assert_eq!(handle(&mut rx, &hello).0, TETHER_OK);
        assert_eq!(rx.session, HELLO_AND_ACK);
        let mut out = [0u8; 8];
        let mut w = 0;
        assert_eq!(
            unsafe { tether_receiver_poll_ack(&mut rx, out.as_mut_ptr(), 8, &mut w) },
            TETHER_OK
        );
        assert_eq!(&out[..w], &[0x82, 0x01, 0x00]);
        assert_eq!(
            unsafe { tether_receiver_poll_ack(&mut rx, out.as_mut_ptr(), 8, &mut w) },
            TETHER_OK
        );
        assert_eq!(w, 0);
        assert_eq!(unsafe { tether_receiver_reconnect(&mut rx) }, TETHER_OK);
        let n = Frame::Data {
            seq: 1,
            message: b"a",
        }
        .encode(&mut buf)
        .unwrap();
        assert_eq!(handle(&mut rx, &buf[..n]).0, TETHER_ERR_UNEXPECTED_MESSAGE);
        // The frame overlapping the output is refused.
        let mut inc = core::mem::MaybeUninit::<tether_incoming>::zeroed();
        let inside = inc.as_mut_ptr().cast::<u8>();
        assert_eq!(
            unsafe { tether_receiver_handle(&mut rx, inside, 4, inc.as_mut_ptr()) },
            TETHER_ERR_OVERLAP
        );
    }
    const HELLO_AND_ACK: u32 = 3;
}
