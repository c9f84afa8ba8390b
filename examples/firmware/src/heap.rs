//! The global allocator: embedded-alloc's `LlffHeap` (linked-list first fit), wrapped so that it
//!
//! - **zeroizes freed memory** before handing it back to the heap. snow's handshake state keeps
//!   the chaining key and the handshake hash (and, when pairing, copies of the PSK) in plain arrays
//!   and does not zeroize them when it is dropped (snow issue 99), and the hash objects tether
//!   gives snow hold HMAC-keyed state that the blake2 crate cannot zeroize. tether wipes the keys
//!   it owns (static, ephemeral and cipher keys), but the rest of those blocks would be freed as
//!   they are. Wiping every block on `dealloc` makes sure none of it lingers in the arena for the
//!   next allocation (or a memory dump) to find. `realloc` is not forwarded to the inner heap: the
//!   default `GlobalAlloc::realloc` allocates, copies and frees through `dealloc` below, so a moved
//!   block is wiped too.
//! - **counts** the bytes in use and their peak, both as requested (`Layout::size`) and as the
//!   arena sees them (`LlffHeap::used`, which includes the allocator's rounding), plus the number
//!   of allocations, so that the firmware can report the heap footprint of each phase.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::sync::atomic::{compiler_fence, AtomicUsize, Ordering};

use embedded_alloc::LlffHeap;

/// Size of the heap arena. The device role needs well under 2 KiB at its peak; the rest is room
/// for fragmentation and for the application.
pub const ARENA_SIZE: usize = 8 * 1024;

/// The arena lives in `.uninit` (cortex-m-rt leaves it alone at reset), so that `.data + .bss`
/// counts only real static variables and the arena is reported on its own.
#[link_section = ".uninit.tether_heap_arena"]
static mut ARENA: [MaybeUninit<u8>; ARENA_SIZE] = [MaybeUninit::uninit(); ARENA_SIZE];

/// The allocator every `Box` and `Vec` of tether and snow goes through.
#[global_allocator]
pub static HEAP: CountingHeap = CountingHeap::new();

/// `LlffHeap` plus zeroize-on-free and counters.
pub struct CountingHeap {
    inner: LlffHeap,
    /// Requested bytes currently allocated.
    current: AtomicUsize,
    /// Highest `current` since the last [`CountingHeap::mark`].
    peak: AtomicUsize,
    /// Highest `LlffHeap::used()` since the last mark.
    arena_peak: AtomicUsize,
    /// Allocations since boot.
    allocations: AtomicUsize,
}

/// The heap's state at the start of a phase: the peaks are measured from here.
#[derive(Clone, Copy)]
pub struct Mark {
    current: usize,
    arena: usize,
    allocations: usize,
}

/// What a phase used, relative to its [`Mark`].
#[derive(Clone, Copy)]
pub struct Usage {
    /// Peak requested bytes above the mark.
    pub peak: usize,
    /// Peak arena bytes (with the allocator's rounding) above the mark.
    pub arena_peak: usize,
    /// Requested bytes still allocated, above the mark.
    pub in_use: usize,
    /// Allocations made since the mark.
    pub allocations: usize,
}

impl CountingHeap {
    const fn new() -> Self {
        Self {
            inner: LlffHeap::empty(),
            current: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            arena_peak: AtomicUsize::new(0),
            allocations: AtomicUsize::new(0),
        }
    }

    /// Hands the arena to the allocator. Call once, before anything allocates.
    pub fn init(&self) {
        // SAFETY: called once from `main` before any allocation; the arena is used by nothing
        // else, and only its address is taken here.
        unsafe {
            let start = core::ptr::addr_of_mut!(ARENA) as usize;
            self.inner.init(start, ARENA_SIZE);
        }
    }

    /// Starts a phase: resets the peaks to the current figures.
    pub fn mark(&self) -> Mark {
        let current = self.current.load(Ordering::Relaxed);
        let arena = self.inner.used();
        self.peak.store(current, Ordering::Relaxed);
        self.arena_peak.store(arena, Ordering::Relaxed);
        Mark {
            current,
            arena,
            allocations: self.allocations.load(Ordering::Relaxed),
        }
    }

    /// What was used since `mark`.
    pub fn usage(&self, mark: Mark) -> Usage {
        Usage {
            peak: self
                .peak
                .load(Ordering::Relaxed)
                .saturating_sub(mark.current),
            arena_peak: self
                .arena_peak
                .load(Ordering::Relaxed)
                .saturating_sub(mark.arena),
            in_use: self
                .current
                .load(Ordering::Relaxed)
                .saturating_sub(mark.current),
            allocations: self.allocations.load(Ordering::Relaxed) - mark.allocations,
        }
    }

    /// Requested bytes allocated right now.
    pub fn in_use(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }
}

// SAFETY: forwards to `LlffHeap`, which is a correct allocator; the extra work only touches the
// block being freed (while it is still owned by the caller) and atomic counters.
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = GlobalAlloc::alloc(&self.inner, layout);
        if !ptr.is_null() {
            let now = self.current.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            self.peak.fetch_max(now, Ordering::Relaxed);
            self.arena_peak
                .fetch_max(self.inner.used(), Ordering::Relaxed);
            self.allocations.fetch_add(1, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Zeroize the block before the allocator takes it back (see the module documentation).
        // Volatile writes and a fence so that the wipe is not optimized away as a dead store.
        for i in 0..layout.size() {
            ptr.add(i).write_volatile(0);
        }
        compiler_fence(Ordering::SeqCst);
        GlobalAlloc::dealloc(&self.inner, ptr, layout);
        self.current.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}
