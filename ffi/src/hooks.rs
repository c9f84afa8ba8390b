//! What a `no_std` C firmware build needs from the firmware: where to abort, and where memory
//! comes from. Only with the `c-hooks` feature (and without `std`); a Rust firmware that links
//! this crate as a library uses its own panic handler and allocator instead.
//!
//! The firmware defines, in C:
//! ```c
//! _Noreturn void tether_panic_hook(void);                   /* log, then reset or halt */
//! void *tether_alloc_hook(size_t size, size_t align);       /* NULL when out of memory */
//! void tether_free_hook(void *ptr, size_t size, size_t align);
//! ```
//! The allocator serves the Noise handshake state (about 1.3 KB while a handshake runs), each
//! session's replay window and each stream decoder's buffer: all at init, none per record. A
//! static pool suffices; it should zero freed memory (snow does not zeroize its handshake keys).

use core::alloc::{GlobalAlloc, Layout};

extern "C" {
    /// no_std firmware builds (feature `c-hooks`) only: defined by the firmware; called when the
    /// library panics. Must not return (log, then reset or halt).
    fn tether_panic_hook() -> !;
    /// no_std firmware builds only: defined by the firmware; returns `size` bytes aligned to
    /// `align`, or NULL when out of memory. Called at init, never per record.
    fn tether_alloc_hook(size: usize, align: usize) -> *mut core::ffi::c_void;
    /// no_std firmware builds only: defined by the firmware; takes back what
    /// `tether_alloc_hook` returned. Should zero the memory.
    fn tether_free_hook(ptr: *mut core::ffi::c_void, size: usize, align: usize);
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: the firmware's hook never returns (its C declaration is _Noreturn).
    unsafe { tether_panic_hook() }
}

struct HookAllocator;

// SAFETY: forwards to the firmware's allocator, which must return memory valid for `size` bytes
// at `align` (or NULL), and accept back exactly what it returned.
unsafe impl GlobalAlloc for HookAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the hook's contract.
        unsafe { tether_alloc_hook(layout.size(), layout.align()).cast() }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with the same layout.
        unsafe { tether_free_hook(ptr.cast(), layout.size(), layout.align()) }
    }
}

#[global_allocator]
static ALLOCATOR: HookAllocator = HookAllocator;
