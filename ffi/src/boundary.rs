//! What every entry point needs: a panic boundary, checked access to the handles that live in
//! caller storage, and checked views of caller buffers.
//!
//! C callers make mistakes that Rust code cannot: passing a session where a handshake is expected,
//! copying a handle with `memcpy`, misaligned storage, lengths that wrap, output buffers that
//! overlap the input or the handle itself, calling back into a handle from its own callback. Each
//! of those is detected here and answered with a status before any reference to the storage is
//! made, so none of them can corrupt memory.
//!
//! Every handle's storage starts with a [`Header`]: which kind of object lives there (one marker
//! per kind), the address it was initialized at (a copy lives elsewhere), and whether a call is
//! running on it. The header is read and written through raw pointers only; a reference to the
//! value behind it exists only inside an [`Entered`] guard, while the header says the handle is
//! busy, so a callback that calls back into the same handle finds it busy and gets a status.

use core::mem::{align_of, size_of};
use core::ptr::{addr_of, addr_of_mut};
use core::sync::atomic::{AtomicU32, Ordering};

use zeroize::Zeroize;

use crate::status::tether_status::{self, *};

/// Runs an entry point's body. With `std`, a panic is caught and reported as
/// `TETHER_ERR_PANIC` instead of unwinding into C (undefined behaviour). Without `std` there is no
/// unwinding to catch: the crate is built with `panic = "abort"` and the firmware's panic handler
/// runs. A test checks that every exported function starts with a call to this (or to
/// [`boundary_or`]).
pub(crate) fn boundary(f: impl FnOnce() -> tether_status) -> tether_status {
    boundary_or(TETHER_ERR_PANIC, f)
}

/// [`boundary`] for entry points that return something other than a status.
pub(crate) fn boundary_or<T>(on_panic: T, f: impl FnOnce() -> T) -> T {
    #[cfg(feature = "std")]
    {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(on_panic)
    }
    #[cfg(not(feature = "std"))]
    {
        let _ = on_panic;
        f()
    }
}

/// One marker per kind of handle: "tether" + a kind letter + 1. Storage whose header holds none of
/// these holds no object.
pub(crate) const KIND_HANDSHAKE: u64 = 0x7465_7468_6572_4801; // ..'H' 1
pub(crate) const KIND_SESSION: u64 = 0x7465_7468_6572_5301; // ..'S' 1
pub(crate) const KIND_DECODER: u64 = 0x7465_7468_6572_4401; // ..'D' 1
pub(crate) const KIND_SENDER: u64 = 0x7465_7468_6572_4f01; // ..'O' 1 (outbox)
pub(crate) const KIND_FRAGMENTER: u64 = 0x7465_7468_6572_4601; // ..'F' 1 (BLE link)
pub(crate) const KIND_REASSEMBLER: u64 = 0x7465_7468_6572_5201; // ..'R' 1 (BLE link)
pub(crate) const KIND_CODE_PAIRING: u64 = 0x7465_7468_6572_4301; // ..'C' 1 (short code)
pub(crate) const KIND_RELAY_TABLE: u64 = 0x7465_7468_6572_5401; // ..'T' 1 (relay table)
const KINDS: [u64; 8] = [
    KIND_HANDSHAKE,
    KIND_SESSION,
    KIND_DECODER,
    KIND_SENDER,
    KIND_FRAGMENTER,
    KIND_REASSEMBLER,
    KIND_CODE_PAIRING,
    KIND_RELAY_TABLE,
];

/// No call is running on the object.
const IDLE: u32 = 0;
/// A call is running on the object.
const BUSY: u32 = 1;
/// A call is running and a wipe was asked for from inside it (a callback): the call wipes the
/// object as it returns.
const BUSY_WIPE: u32 = 2;
/// A panic was caught while a call ran: the object may be half-updated; only wipe (or init) it.
const POISONED: u32 = 3;

/// The start of every handle's storage.
#[repr(C)]
pub(crate) struct Header {
    kind: u64,
    /// The storage's own address when it was set up.
    home: usize,
    state: AtomicU32,
}

/// The layout placed in caller storage: the header, then the value.
#[repr(C)]
pub(crate) struct Slot<T> {
    header: Header,
    value: T,
}

/// What a handle's storage holds, judged by its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// No object: zeroed, wiped, or never set up.
    Empty,
    /// An object of this kind, set up at this address.
    Live,
    /// A copy of an object of this kind, made after setup: it shares the original's memory, so it
    /// must never be used or dropped.
    Copy,
    /// An object of another kind, or a copy of one. Its storage may be smaller than this
    /// kind's, so nothing here writes to it.
    OtherKind,
}

/// Caller-provided storage of `N` 64-bit words, sized and aligned for `Slot<T>` (checked at
/// compile time by [`Storage::CHECK`]).
pub(crate) trait Storage: Sized {
    type Value;
    /// This kind's marker.
    const KIND: u64;
    /// Compile-time proof that the storage fits the slot.
    const CHECK: () = assert!(
        size_of::<Slot<Self::Value>>() <= size_of::<Self>()
            && align_of::<Slot<Self::Value>>() <= align_of::<Self>()
    );

    /// NULL or misaligned storage is refused before anything reads it.
    fn check_address(this: *mut Self) -> Result<(), tether_status> {
        #[allow(clippy::let_unit_value)]
        let () = Self::CHECK;
        if this.is_null() {
            Err(TETHER_ERR_NULL)
        } else if (this as usize) % align_of::<Self>() != 0 {
            Err(TETHER_ERR_MISALIGNED)
        } else {
            Ok(())
        }
    }

    /// The bytes of the storage, as an address range.
    fn region(this: *const Self) -> Region {
        Region::of(this.cast::<u8>(), size_of::<Self>())
    }

    /// Reads the header's kind and home address.
    ///
    /// # Safety
    /// `this` passed [`Storage::check_address`] and points to storage of type `Self` the caller
    /// owns. Its bytes may be anything.
    unsafe fn found(this: *mut Self) -> Found {
        let header = this.cast::<Header>();
        // SAFETY: the storage is at least as large and aligned as a header; any bit pattern is
        // a valid u64 and usize. Volatile: the bytes may have been written by C at any time.
        let (kind, home) = unsafe {
            (
                addr_of!((*header).kind).read_volatile(),
                addr_of!((*header).home).read_volatile(),
            )
        };
        let here = this as usize == home;
        if kind == Self::KIND {
            if here {
                Found::Live
            } else {
                Found::Copy
            }
        } else if KINDS.contains(&kind) {
            Found::OtherKind
        } else {
            Found::Empty
        }
    }

    /// The header's state word.
    ///
    /// # Safety
    /// As for [`Storage::found`].
    unsafe fn state<'a>(this: *mut Self) -> &'a AtomicU32 {
        // SAFETY: in bounds and aligned; an AtomicU32 is valid for any bits and only ever
        // accessed atomically or through raw pointers.
        unsafe { &*addr_of!((*this.cast::<Header>()).state) }
    }

    /// Checks that `init` could place an object here, without changing anything: the storage is
    /// addressable, holds no object of another kind, and is not in a call.
    ///
    /// # Safety
    /// `this` is NULL or points to storage of type `Self` the caller owns.
    unsafe fn check_init(this: *mut Self) -> Result<(), tether_status> {
        Self::check_address(this)?;
        // SAFETY: checked above.
        match unsafe { Self::found(this) } {
            Found::OtherKind => Err(TETHER_ERR_BAD_STATE),
            Found::Live => match unsafe { Self::state(this) }.load(Ordering::Acquire) {
                BUSY | BUSY_WIPE => Err(TETHER_ERR_BUSY),
                _ => Ok(()),
            },
            Found::Empty | Found::Copy => Ok(()),
        }
    }

    /// Starts setting up an object here, before the work that builds it (which may run
    /// callbacks): the storage is marked busy, so that a callback calling back into it is refused
    /// like any other re-entry. Finish with [`Initializing::place`]; dropping the guard instead
    /// puts the storage back exactly as it was.
    ///
    /// # Safety
    /// As for [`Storage::check_init`].
    unsafe fn begin_init<'a>(this: *mut Self) -> Result<Initializing<'a, Self>, tether_status> {
        // SAFETY: forwarded.
        unsafe { Self::check_init(this) }?;
        let header = this.cast::<Header>();
        // SAFETY: checked addressable; the header is read and written through raw pointers only.
        unsafe {
            let before = match Self::found(this) {
                Found::Live => {
                    let state = Self::state(this);
                    let was = state.load(Ordering::Acquire);
                    if state
                        .compare_exchange(was, BUSY, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        return Err(TETHER_ERR_BUSY);
                    }
                    Before::Live(was)
                }
                _ => {
                    // Whatever bytes were there (a copy, zeroes, never-used storage) are kept
                    // to be put back if the setup fails.
                    let saved = header.cast::<HeaderBytes>().read();
                    header.write(Header {
                        kind: Self::KIND,
                        home: this as usize,
                        state: AtomicU32::new(BUSY),
                    });
                    Before::Bytes(saved)
                }
            };
            Ok(Initializing {
                this,
                before,
                _life: core::marker::PhantomData,
            })
        }
    }

    /// Places `value` into the storage. A live object of this kind there is dropped first (its
    /// keys are zeroized); a copy or leftover bytes are simply overwritten, since they own
    /// nothing; an object of another kind is refused (`TETHER_ERR_BAD_STATE`) and `value` is
    /// dropped instead. The whole storage is zeroed before the value is written.
    ///
    /// # Safety
    /// As for [`Storage::check_init`].
    unsafe fn init(this: *mut Self, value: Self::Value) -> Result<(), tether_status> {
        // SAFETY: forwarded.
        let guard = unsafe { Self::begin_init(this) }?;
        guard.place(value);
        Ok(())
    }

    /// Starts a call on the live object: refuses NULL, misaligned, empty, copied, busy, poisoned
    /// and other-kind storage with a status, else marks it busy and returns a guard through which
    /// the value is reached.
    ///
    /// # Safety
    /// As for [`Storage::check_init`].
    unsafe fn enter<'a>(this: *mut Self) -> Result<Entered<'a, Self>, tether_status> {
        Self::check_address(this)?;
        // SAFETY: checked above.
        match unsafe { Self::found(this) } {
            Found::Live => {}
            Found::Copy => return Err(TETHER_ERR_COPIED),
            Found::Empty | Found::OtherKind => return Err(TETHER_ERR_BAD_STATE),
        }
        // SAFETY: as above.
        let state = unsafe { Self::state(this) };
        match state.compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Ok(Entered {
                this,
                _life: core::marker::PhantomData,
            }),
            Err(POISONED) => Err(TETHER_ERR_PANIC),
            Err(_) => Err(TETHER_ERR_BUSY),
        }
    }

    /// Drops a live object (its keys are zeroized by their own `Drop`) and zeroes the storage.
    /// Inside a call on the same object (from a callback) the wipe is deferred to the end of that
    /// call. A copy is zeroed without dropping anything (the original owns the memory); an object
    /// of another kind is left alone; empty storage is zeroed. NULL and misaligned storage are
    /// ignored.
    ///
    /// # Safety
    /// As for [`Storage::check_init`].
    unsafe fn wipe(this: *mut Self) {
        if Self::check_address(this).is_err() {
            return;
        }
        // SAFETY: checked above.
        unsafe {
            match Self::found(this) {
                Found::OtherKind => {}
                Found::Empty | Found::Copy => Self::zero(this),
                Found::Live => {
                    let state = Self::state(this);
                    loop {
                        let now = state.load(Ordering::Acquire);
                        let next = match now {
                            BUSY => BUSY_WIPE,
                            BUSY_WIPE => return,
                            _ => BUSY,
                        };
                        if state
                            .compare_exchange(now, next, Ordering::AcqRel, Ordering::Acquire)
                            .is_ok()
                        {
                            if next == BUSY_WIPE {
                                return;
                            }
                            break;
                        }
                    }
                    Self::drop_and_zero(this);
                }
            }
        }
    }

    /// # Safety
    /// A live object this caller has marked busy.
    unsafe fn drop_and_zero(this: *mut Self) {
        // SAFETY: the caller guarantees a live value nobody else references.
        unsafe {
            core::ptr::drop_in_place(addr_of_mut!((*this.cast::<Slot<Self::Value>>()).value));
            Self::zero(this);
        }
    }

    /// Zeroes every byte of the storage (volatile writes: never optimised away).
    ///
    /// # Safety
    /// Addressable storage of type `Self` that holds nothing anyone still uses.
    unsafe fn zero(this: *mut Self) {
        // SAFETY: the storage is `size_of::<Self>()` writable bytes.
        let all = unsafe { core::slice::from_raw_parts_mut(this.cast::<u8>(), size_of::<Self>()) };
        all.zeroize();
    }
}

/// A header's bytes as they are, padding (which a memcpy'd copy leaves uninitialized) included.
type HeaderBytes = [core::mem::MaybeUninit<u8>; size_of::<Header>()];

/// What the storage held before an init started.
enum Before {
    /// A live object of this kind, in this state.
    Live(u32),
    /// The header's bytes (no object).
    Bytes(HeaderBytes),
}

/// An init in progress: the storage is marked busy while its object is built.
pub(crate) struct Initializing<'a, S: Storage> {
    this: *mut S,
    before: Before,
    _life: core::marker::PhantomData<&'a mut S>,
}

impl<S: Storage> Initializing<'_, S> {
    /// Ends the init by placing `value`: drops the object it replaces, zeroes the storage and
    /// writes the new one. If a callback asked for a wipe meanwhile, the new value is dropped
    /// instead and the storage is left wiped.
    pub(crate) fn place(self, value: S::Value) {
        let (this, live) = (self.this, matches!(self.before, Before::Live(_)));
        core::mem::forget(self);
        // SAFETY: `begin_init` marked the storage busy, so nobody else touched the object.
        unsafe {
            let wiped = S::state(this).load(Ordering::Acquire) == BUSY_WIPE;
            if live {
                S::drop_and_zero(this);
            } else {
                S::zero(this);
            }
            if wiped {
                drop(value);
                return;
            }
            this.cast::<Slot<S::Value>>().write(Slot {
                header: Header {
                    kind: S::KIND,
                    home: this as usize,
                    state: AtomicU32::new(IDLE),
                },
                value,
            });
        }
    }
}

impl<S: Storage> Drop for Initializing<'_, S> {
    /// The init failed: the storage goes back to what it was (or is wiped, if a callback asked).
    fn drop(&mut self) {
        // SAFETY: as for `place`.
        unsafe {
            let wiped = S::state(self.this).load(Ordering::Acquire) == BUSY_WIPE;
            match &self.before {
                Before::Live(_) if wiped => S::drop_and_zero(self.this),
                Before::Live(was) => S::state(self.this).store(*was, Ordering::Release),
                Before::Bytes(_) if wiped => S::zero(self.this),
                Before::Bytes(saved) => {
                    self.this.cast::<HeaderBytes>().write(*saved);
                }
            }
        }
    }
}

/// A call running on a live object. Dropping it ends the call: the object becomes idle again,
/// or is wiped if a wipe was asked for meanwhile, or is poisoned if the call panicked.
pub(crate) struct Entered<'a, S: Storage> {
    this: *mut S,
    _life: core::marker::PhantomData<&'a mut S>,
}

impl<S: Storage> Entered<'_, S> {
    /// The object.
    pub(crate) fn value(&mut self) -> &mut S::Value {
        // SAFETY: `enter` checked that the storage holds a live value and marked it busy, so no
        // other call reaches it until this guard drops; the header is never touched through
        // this reference.
        unsafe { &mut (*self.this.cast::<Slot<S::Value>>()).value }
    }

    /// The storage's address range.
    pub(crate) fn region(&self) -> Region {
        S::region(self.this)
    }

    /// Ends the call by moving the value out; the storage is zeroed and holds nothing.
    pub(crate) fn take(self) -> S::Value {
        let this = self.this;
        core::mem::forget(self);
        // SAFETY: live and busy (see `value`); the value is read once, then the storage is
        // zeroed, so it is never dropped twice.
        unsafe {
            let value = addr_of!((*this.cast::<Slot<S::Value>>()).value).read();
            S::zero(this);
            value
        }
    }
}

impl<S: Storage> Drop for Entered<'_, S> {
    fn drop(&mut self) {
        // SAFETY: the storage was live and busy when the guard was made, and only this guard
        // and `wipe` (which defers to it) change its state meanwhile.
        unsafe {
            let state = S::state(self.this);
            #[cfg(feature = "std")]
            if std::thread::panicking() {
                state.store(POISONED, Ordering::Release);
                return;
            }
            if state.load(Ordering::Acquire) == BUSY_WIPE {
                S::drop_and_zero(self.this);
            } else {
                state.store(IDLE, Ordering::Release);
            }
        }
    }
}

/// Enters a handle and checks that `outputs` overlap neither each other, nor `inputs`, nor the
/// handle's storage, and that no input lies in the handle.
///
/// # Safety
/// As for [`Storage::enter`].
pub(crate) unsafe fn enter_checked<'a, S: Storage>(
    this: *mut S,
    outputs: &[Region],
    inputs: &[Region],
) -> Result<Entered<'a, S>, tether_status> {
    // SAFETY: forwarded from the caller.
    let g = unsafe { S::enter(this) }?;
    let handle = g.region();
    disjoint(outputs, inputs)?;
    disjoint(outputs, &[handle])?;
    disjoint(&[handle], inputs)?;
    Ok(g)
}

/// A range of addresses, for overlap checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    start: usize,
    len: usize,
}

impl Region {
    pub(crate) fn of<T>(ptr: *const T, bytes: usize) -> Region {
        Region {
            start: ptr as usize,
            len: if ptr.is_null() { 0 } else { bytes },
        }
    }

    /// An out-pointer to one `T`.
    pub(crate) fn out<T>(ptr: *const T) -> Region {
        Region::of(ptr, size_of::<T>())
    }

    pub(crate) fn range(r: core::ops::Range<usize>) -> Region {
        Region {
            start: r.start,
            len: r.end.saturating_sub(r.start),
        }
    }

    fn overlaps(self, other: Region) -> bool {
        self.len > 0
            && other.len > 0
            && self.start < other.start.saturating_add(other.len)
            && other.start < self.start.saturating_add(self.len)
    }
}

/// Refuses a call whose outputs overlap each other or anything else it touches (inputs, handle
/// storage): tether never reads and writes the same bytes in one call, and writing into a handle
/// through an output would corrupt it.
pub(crate) fn disjoint(outputs: &[Region], others: &[Region]) -> Result<(), tether_status> {
    for (i, out) in outputs.iter().enumerate() {
        let later = outputs.get(i + 1..).unwrap_or(&[]);
        if later.iter().chain(others).any(|r| out.overlaps(*r)) {
            return Err(TETHER_ERR_OVERLAP);
        }
    }
    Ok(())
}

/// Refuses a length C's pointer arithmetic cannot express: above `PTRDIFF_MAX`, or running past
/// the end of the address space from `ptr`.
fn check_length(ptr: *const u8, len: usize) -> Result<(), tether_status> {
    if len > isize::MAX as usize || (ptr as usize).checked_add(len).is_none() {
        Err(TETHER_ERR_BAD_LENGTH)
    } else {
        Ok(())
    }
}

/// Checks every (pointer, length) pair of a call before anything else looks at the buffers.
pub(crate) fn lengths(buffers: &[(*const u8, usize)]) -> Result<(), tether_status> {
    buffers
        .iter()
        .filter(|(ptr, _)| !ptr.is_null())
        .try_for_each(|&(ptr, len)| check_length(ptr, len))
}

/// A byte slice from C: NULL is allowed only when `len` is 0.
///
/// # Safety
/// If non-NULL, `ptr` must be valid for reads of `len` bytes for `'a`, and not written during
/// `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], tether_status> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(TETHER_ERR_NULL)
        };
    }
    check_length(ptr, len)?;
    // SAFETY: the caller guarantees validity; the length fits a slice.
    Ok(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// A mutable byte slice from C: NULL is allowed only when `len` is 0.
///
/// # Safety
/// If non-NULL, `ptr` must be valid for writes of `len` bytes for `'a` and not otherwise accessed
/// during `'a` (the entry points check overlaps with [`disjoint`] first).
pub(crate) unsafe fn bytes_mut<'a>(
    ptr: *mut u8,
    len: usize,
) -> Result<&'a mut [u8], tether_status> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&mut [])
        } else {
            Err(TETHER_ERR_NULL)
        };
    }
    check_length(ptr, len)?;
    // SAFETY: the caller guarantees validity; the length fits a slice.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
}

/// A fixed-size key from C, copied out (the caller's bytes may then overlap any output).
///
/// # Safety
/// If non-NULL, `ptr` must be valid for reads of `N` bytes.
pub(crate) unsafe fn key<const N: usize>(ptr: *const u8) -> Result<[u8; N], tether_status> {
    if ptr.is_null() {
        return Err(TETHER_ERR_NULL);
    }
    // SAFETY: forwarded; `[u8; N]` has alignment 1.
    Ok(unsafe { ptr.cast::<[u8; N]>().read() })
}

/// A struct from C, copied out whatever the pointer's alignment.
///
/// # Safety
/// If non-NULL, `ptr` must be valid for reads of a `T` holding a valid value.
pub(crate) unsafe fn read<T>(ptr: *const T) -> Result<T, tether_status> {
    if ptr.is_null() {
        return Err(TETHER_ERR_NULL);
    }
    // SAFETY: forwarded.
    Ok(unsafe { ptr.read_unaligned() })
}

/// Writes through an optional out-pointer, whatever its alignment.
///
/// # Safety
/// If non-NULL, `ptr` must be valid for a write of `T`.
pub(crate) unsafe fn set<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: the caller guarantees validity.
        unsafe { ptr.write_unaligned(value) }
    }
}
