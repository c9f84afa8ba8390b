//! The image's own size, from cortex-m-rt's linker symbols: flash is `.text + .rodata`, static
//! RAM `.data + .bss` (the heap arena is in `.uninit` and the stack is the rest of RAM, both
//! reported on their own). `run.sh` checks these against `llvm-size` on the ELF.

use core::ptr::addr_of;

extern "C" {
    static __stext: u8;
    static __etext: u8;
    static __srodata: u8;
    static __erodata: u8;
    static __sdata: u8;
    static __edata: u8;
    static __sbss: u8;
    static __ebss: u8;
}

fn span(start: *const u8, end: *const u8) -> usize {
    (end as usize).saturating_sub(start as usize)
}

/// `.text + .rodata`, in bytes.
pub fn flash() -> usize {
    // Only the addresses of the linker symbols are taken, never their contents.
    span(addr_of!(__stext), addr_of!(__etext)) + span(addr_of!(__srodata), addr_of!(__erodata))
}

/// `.data + .bss`, in bytes.
pub fn static_ram() -> usize {
    span(addr_of!(__sdata), addr_of!(__edata)) + span(addr_of!(__sbss), addr_of!(__ebss))
}
