//! The two things every entry point needs: a panic boundary, and typed access to caller-provided
//! storage.

use core::mem::{align_of, size_of, MaybeUninit};

use zeroize::Zeroize;

use crate::status::tether_status;

/// Runs an entry point's body. With `std`, a panic is caught and reported as
/// `TETHER_ERR_PANIC` instead of unwinding into C (undefined behaviour). Without `std` there is no
/// unwinding to catch: the crate is built with `panic = "abort"` and the firmware's panic handler
/// runs. A test checks that every exported function starts with a call to this (or to
/// [`boundary_or`]).
pub(crate) fn boundary(f: impl FnOnce() -> tether_status) -> tether_status {
    boundary_or(tether_status::TETHER_ERR_PANIC, f)
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

/// Marks storage that holds a live value; anything else is treated as uninitialized or wiped.
const LIVE: u64 = 0x7465_7468_6572_0001; // "tether" + 1

/// The layout placed in caller storage: a marker, then the value.
#[repr(C)]
pub(crate) struct Slot<T> {
    marker: u64,
    value: T,
}

/// Caller-provided storage of `N` 64-bit words, sized and aligned for `Slot<T>` (checked at
/// compile time by [`Storage::CHECK`]).
pub(crate) trait Storage: Sized {
    type Value;
    /// Compile-time proof that the storage fits the slot.
    const CHECK: () = assert!(
        size_of::<Slot<Self::Value>>() <= size_of::<Self>()
            && align_of::<Slot<Self::Value>>() <= align_of::<Self>()
    );

    /// Places `value` into the storage, replacing (and dropping) any live value first.
    ///
    /// # Safety
    /// `this` must point to writable storage of type `Self` that the caller owns and does not
    /// move while it is live.
    unsafe fn put(this: *mut Self, value: Self::Value) {
        #[allow(clippy::let_unit_value)]
        let () = Self::CHECK;
        // SAFETY: the caller guarantees `this` is valid for writes; drop any live value first.
        unsafe {
            Self::wipe(this);
            this.cast::<Slot<Self::Value>>().write(Slot {
                marker: LIVE,
                value,
            });
        }
    }

    /// The live value, or `None` if the storage was never set up or was wiped.
    ///
    /// # Safety
    /// `this` must be NULL or point to storage of type `Self` that was zeroed, wiped, or set by
    /// [`Storage::put`], and not accessed concurrently.
    unsafe fn get<'a>(this: *mut Self) -> Option<&'a mut Self::Value> {
        if this.is_null() {
            return None;
        }
        let slot = this.cast::<Slot<Self::Value>>();
        // SAFETY: the storage is at least as large and aligned as a slot (CHECK); reading the
        // marker as a plain u64 is valid for any bit pattern the caller left there.
        unsafe {
            if (*slot).marker != LIVE {
                return None;
            }
            Some(&mut (*slot).value)
        }
    }

    /// Drops a live value (its keys are zeroized by their own `Drop`), then zeroes every byte of
    /// the storage. Safe to call on wiped or zeroed storage.
    ///
    /// # Safety
    /// As for [`Storage::get`].
    unsafe fn wipe(this: *mut Self) {
        if this.is_null() {
            return;
        }
        // SAFETY: as for `get`; after the drop the storage is treated as plain bytes.
        unsafe {
            let slot = this.cast::<Slot<Self::Value>>();
            if (*slot).marker == LIVE {
                core::ptr::drop_in_place(&mut (*slot).value);
            }
            let bytes = this.cast::<MaybeUninit<u8>>();
            let all = core::slice::from_raw_parts_mut(bytes.cast::<u8>(), size_of::<Self>());
            all.zeroize();
        }
    }

    /// Moves the live value out and wipes the storage.
    ///
    /// # Safety
    /// As for [`Storage::get`].
    unsafe fn take(this: *mut Self) -> Option<Self::Value> {
        // SAFETY: as for `get`; the marker is cleared before the bytes are wiped, so the moved-out
        // value is not dropped twice.
        unsafe {
            Self::get(this)?;
            let slot = this.cast::<Slot<Self::Value>>();
            let value = core::ptr::read(&(*slot).value);
            (*slot).marker = 0;
            Self::wipe(this);
            Some(value)
        }
    }
}

/// A byte slice from C: NULL is allowed only when `len` is 0.
///
/// # Safety
/// If non-NULL, `ptr` must be valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> Option<&'a [u8]> {
    if ptr.is_null() {
        return (len == 0).then_some(&[]);
    }
    // SAFETY: the caller guarantees validity.
    Some(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// A mutable byte slice from C: NULL is allowed only when `len` is 0.
///
/// # Safety
/// If non-NULL, `ptr` must be valid for writes of `len` bytes for `'a` and not aliased.
pub(crate) unsafe fn bytes_mut<'a>(ptr: *mut u8, len: usize) -> Option<&'a mut [u8]> {
    if ptr.is_null() {
        return (len == 0).then_some(&mut []);
    }
    // SAFETY: the caller guarantees validity.
    Some(unsafe { core::slice::from_raw_parts_mut(ptr, len) })
}

/// A fixed-size key from C.
///
/// # Safety
/// If non-NULL, `ptr` must be valid for reads of 32 bytes.
pub(crate) unsafe fn key32(ptr: *const u8) -> Option<[u8; 32]> {
    // SAFETY: forwarded.
    let b = unsafe { bytes(ptr, 32) }?;
    if ptr.is_null() {
        return None;
    }
    b.try_into().ok()
}

/// Writes through an optional out-pointer.
///
/// # Safety
/// If non-NULL, `ptr` must be valid for a write of `T`.
pub(crate) unsafe fn set<T>(ptr: *mut T, value: T) {
    if !ptr.is_null() {
        // SAFETY: the caller guarantees validity.
        unsafe { ptr.write(value) }
    }
}
