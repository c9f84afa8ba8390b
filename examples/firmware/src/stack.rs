//! Stack high-water mark by painting.
//!
//! cortex-m-rt's linker script gives the stack region: it grows down from `_stack_start` (the top
//! of RAM) to `_stack_end` (the end of `.uninit`, where the heap arena lives). [`paint`] fills
//! the free part of that region, below the current stack pointer, with a pattern at the start of
//! `main`; [`peak`] scans up from `_stack_end` for the first word that is no longer the pattern.
//! Everything above it counts as used, including the reset handler's and `main`'s own frames.

use core::ptr::addr_of;

extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
}

const PAINT: u32 = 0x5AFE_C0DE;

/// Bytes between the stack pointer and the painted area, so that painting never touches a word
/// this function itself might use.
const MARGIN: usize = 16;

fn bounds() -> (usize, usize) {
    // Only the addresses of the linker symbols are taken, never their contents.
    (
        addr_of!(_stack_end) as usize,
        addr_of!(_stack_start) as usize,
    )
}

/// Bytes in the stack region.
pub fn size() -> usize {
    let (bottom, top) = bounds();
    top - bottom
}

/// Paints the free stack below the current stack pointer.
#[inline(never)]
pub fn paint() {
    let (bottom, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = (bottom + 3) & !3;
    while p + 4 <= sp - MARGIN {
        // SAFETY: `[bottom, sp)` is the unused part of the stack region: no Rust object lives
        // there (interrupts are not enabled), and the writes are word-aligned.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
}

/// The deepest the stack has been since [`paint`], in bytes from its top. `None` if no painted
/// word is left (the stack reached the bottom of its region).
#[inline(never)]
pub fn peak() -> Option<usize> {
    let (bottom, top) = bounds();
    let mut p = (bottom + 3) & !3;
    // SAFETY: reads of words inside the stack region, below the current stack pointer or in use
    // by frames above it; a plain read of initialized or painted memory.
    while p < top && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    if p == bottom {
        None
    } else {
        Some(top - p)
    }
}
