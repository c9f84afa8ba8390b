//! The record layer never allocates: once a session exists, sealing, opening, key updates
//! (automatic and forced), the stream decoder, replay rejection and close all run without touching
//! the heap. Checked with a counting global allocator; this file holds one test so that no other
//! test allocates at the same time.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tether::*;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn pair(suite: Suite, framing: Framing) -> (Session, Session) {
    let (dev, cl) = (device(), cloud());
    let mut icfg = config(&dev, suite, framing, ChannelKind::DeviceCloud);
    // Automatic key updates every 100 records, so they happen inside the measured loop.
    icfg.session.key_update.records = 100;
    let rcfg = responder_config(&cl, framing, ChannelKind::DeviceCloud);
    let hs = Initiator::provisioned(&icfg, &cl.key.public(), &mut ChaCha20Rng::seed_from_u64(1))
        .unwrap();
    let (i, r, _) = drive(
        hs,
        &rcfg,
        &mut accept_all,
        &mut accept_all,
        &mut ChaCha20Rng::seed_from_u64(2),
    )
    .unwrap();
    (i.session, r.session)
}

/// Everything a session does with records, on buffers allocated beforehand. Returns the number of
/// data records delivered, so the work cannot be optimised away.
fn exercise(
    a: &mut Session,
    b: &mut Session,
    dec: &mut StreamDecoder,
    wire: &mut [u8],
    out: &mut [u8],
    stash: &mut [u8],
) -> usize {
    let msg = [0x5Au8; 1400];
    let mut delivered = 0;
    let mut t = 0u64;
    for n in 0..1000 {
        t += 1;
        let len = [0, 64, 1400][n % 3];
        let sealed = a.seal(Instant(t), &msg[..len], wire).unwrap();
        let total = sealed.total();
        match a.framing() {
            Framing::Stream => {
                // Feed in two chunks so that the decoder's own buffer is used too.
                let (first, second) = wire[..total].split_at(total / 2);
                for chunk in [first, second] {
                    let mut input = chunk;
                    while let Some(unit) = dec.next(&mut input).unwrap() {
                        if let Event::Data(_) = b.open(Instant(t), unit, out).unwrap() {
                            delivered += 1;
                        }
                    }
                }
            }
            Framing::Datagram => {
                for unit in sealed.units(wire) {
                    if let Event::Data(_) = b.open(Instant(t), unit, out).unwrap() {
                        delivered += 1;
                    }
                }
                // Replays are refused without allocating.
                let last = &wire[sealed.key_update..total];
                assert!(b.open(Instant(t), last, out).is_err());
                // Reordering: hold one record back and deliver it after the next.
                if n % 10 == 0 {
                    let held = a.seal(Instant(t), &msg[..64], wire).unwrap();
                    stash[..held.total()].copy_from_slice(&wire[..held.total()]);
                    let sealed = a.seal(Instant(t), &msg[..64], wire).unwrap();
                    for unit in sealed.units(wire) {
                        b.open(Instant(t), unit, out).unwrap();
                    }
                    for unit in held.units(stash) {
                        b.open(Instant(t), unit, out).unwrap();
                    }
                    delivered += 2;
                }
            }
        }
    }
    let n = a.update_key(Instant(t), wire).unwrap();
    match a.framing() {
        Framing::Stream => {
            let mut input = &wire[..n];
            while let Some(unit) = dec.next(&mut input).unwrap() {
                b.open(Instant(t), unit, out).unwrap();
            }
        }
        Framing::Datagram => {
            b.open(Instant(t), &wire[..n], out).unwrap();
        }
    }
    let n = a.close(wire).unwrap();
    let mut input = &wire[..n];
    if a.framing() == Framing::Stream {
        while let Some(unit) = dec.next(&mut input).unwrap() {
            assert_eq!(b.open(Instant(t), unit, out).unwrap(), Event::Close);
        }
    } else {
        assert_eq!(b.open(Instant(t), input, out).unwrap(), Event::Close);
    }
    delivered
}

#[test]
fn records_never_allocate() {
    for &suite in Suite::ENABLED {
        for framing in [Framing::Stream, Framing::Datagram] {
            let (mut a, mut b) = pair(suite, framing);
            let mut dec = StreamDecoder::for_session_config(b.config());
            let mut wire = vec![0u8; a.seal_capacity(1400)];
            let mut out = vec![0u8; 16384];
            let mut stash = vec![0u8; a.seal_capacity(1400)];
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            let delivered = exercise(&mut a, &mut b, &mut dec, &mut wire, &mut out, &mut stash);
            let after = ALLOCATIONS.load(Ordering::SeqCst);
            assert!(delivered >= 1000, "{delivered}");
            assert!(
                a.send_epoch() >= 10,
                "automatic key updates happened: {}",
                a.send_epoch()
            );
            assert_eq!(
                after - before,
                0,
                "{suite:?} {framing:?}: {} heap allocations while sealing and opening records",
                after - before
            );
        }
    }
}
