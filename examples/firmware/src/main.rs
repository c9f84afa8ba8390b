//! tether's device role on a Cortex-M, under QEMU: replays the known-answer vector
//! `spec/vectors/IK_25519_ChaChaPoly_BLAKE2s_datagram.json` end to end (handshake, records, key
//! updates, close), checks every byte, and reports its footprint over semihosting, one
//! `FOOTPRINT name=value` line per figure.
//!
//! Machines: lm3s6965evb (Cortex-M3, `thumbv7m-none-eabi`) and mps2-an386 (Cortex-M4,
//! `thumbv7em-none-eabihf`); `build.rs` picks the memory layout. `examples/firmware/run.sh`
//! builds, runs and checks both.
//!
//! Exit status (semihosting): 0 when every check passed, 1 on any failure or panic.
#![no_std]
#![no_main]

extern crate alloc;

mod app;
mod device;
mod entropy;
mod heap;
mod layout;
mod messages;
#[macro_use]
mod out;
mod slot;
mod stack;
mod vector;

use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};

include!(concat!(env!("OUT_DIR"), "/machine.rs"));

/// The line `run.sh` looks for.
const SUCCESS: &str = "tether-firmware: PASS";

#[entry]
fn main() -> ! {
    // First of all, before the stack grows: paint it, to find its high-water mark at the end.
    stack::paint();
    heap::HEAP.init();
    say!(
        "tether-firmware on ",
        MACHINE,
        ": device role, replaying the IK vector"
    );

    let Some(app) = app::App::provisioned() else {
        say!("tether-firmware: FAIL at provisioning: the authorities' keys");
        debug::exit(EXIT_FAILURE);
        #[allow(clippy::empty_loop)]
        loop {}
    };
    let status = match device::run(app).and_then(|f| messages::run(app).map(|()| f)) {
        Ok(figures) => report(&figures),
        Err(failure) => {
            say!("tether-firmware: FAIL at ", failure);
            EXIT_FAILURE
        }
    };
    debug::exit(status);
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Prints the figures, one `FOOTPRINT name=value` line each, then the success line.
fn report(f: &device::Figures) -> debug::ExitStatus {
    let Some(stack_peak) = stack::peak() else {
        say!("tether-firmware: FAIL: the stack overflowed its region");
        return EXIT_FAILURE;
    };
    let h = &f.handshake_heap;
    say!("FOOTPRINT flash=", layout::flash());
    say!("FOOTPRINT static_ram=", layout::static_ram());
    // Requested bytes (Layout::size) at the peak of the handshake.
    say!("FOOTPRINT heap_peak=", h.peak);
    // The same peak as the allocator's arena counts it (with its rounding).
    say!("FOOTPRINT heap_peak_arena=", h.arena_peak);
    say!("FOOTPRINT heap_allocations=", h.allocations);
    // Deepest stack of the whole run, reset handler and main included.
    say!("FOOTPRINT stack_peak=", stack_peak);
    say!("FOOTPRINT stack_region=", stack::size());
    say!("FOOTPRINT session_size=", f.session_size);
    say!("FOOTPRINT session_heap=", f.session_heap);
    say!("FOOTPRINT session_ram=", f.session_size + f.session_heap);
    say!("FOOTPRINT heap_arena=", heap::ARENA_SIZE);
    if f.heap_leaked != 0 || heap::HEAP.in_use() != 0 {
        say!(
            "tether-firmware: FAIL: ",
            heap::HEAP.in_use(),
            " heap bytes still in use after the session ended"
        );
        return EXIT_FAILURE;
    }
    say!(SUCCESS);
    EXIT_SUCCESS
}

/// Any panic is a failure: say where (the message would need `core::fmt`, see `out.rs`) and exit
/// with a non-zero status.
#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    match info.location() {
        Some(at) => say!("tether-firmware: PANIC at ", at.file(), ":", at.line()),
        None => say!("tether-firmware: PANIC"),
    }
    debug::exit(EXIT_FAILURE);
    #[allow(clippy::empty_loop)]
    loop {}
}
