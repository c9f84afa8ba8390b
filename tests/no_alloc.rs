//! The record layer never allocates: once a session exists, sealing, opening, key updates
//! (automatic and forced), the stream decoder, replay rejection and close all run without touching
//! the heap. Neither does the message layer or the delivery receiver: encoding and decoding vitals,
//! verifying a signed command and a manifest, acknowledging, decoding delivery frames. Checked with
//! a counting global allocator; this file holds one test so that no other test allocates at the
//! same time.

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

/// The in-place API: each record sealed where its plaintext lies and opened where it arrived
/// (both framings: a stream unit, length prefix included, opens in place too).
fn exercise_in_place(a: &mut Session, b: &mut Session, buf: &mut [u8], t0: u64) -> usize {
    let mut delivered = 0;
    for n in 0..1000u64 {
        let t = t0 + n;
        let len = [0, 64, 1400][(n % 3) as usize];
        let at = a.seal_headroom();
        buf[at..at + len].fill(0x5A);
        let sealed = a.seal_in_place(Instant(t), buf, len).unwrap();
        let (key_update, record) =
            buf[sealed.start..sealed.start + sealed.total()].split_at_mut(sealed.key_update);
        if !key_update.is_empty() {
            b.open_in_place(Instant(t), key_update).unwrap();
        }
        if let Event::Data(d) = b.open_in_place(Instant(t), record).unwrap() {
            assert_eq!(d.len(), len);
            delivered += 1;
        }
    }
    delivered
}

/// Everything the device does with messages, on inputs and buffers made beforehand.
fn messages_without_allocating() -> usize {
    use tether::delivery::{Frame, Incoming, Receiver, ReceiverState, StreamId};
    use tether::message::command::{
        AckStatus, Command, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier, Grant,
        ParamRule, Params,
    };
    use tether::message::cose::Signer;
    use tether::message::decimal::{Decimal, Value};
    use tether::message::update::{FirmwareManifest, UpdatePolicy};
    use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};

    const NOW: u64 = 1_790_000_000_000;
    // Inputs, made before counting starts.
    let signer = Signer::from_seed(&[3; 32], b"clinic").unwrap();
    let mut cmd = vec![0u8; 512];
    let n = Command {
        device_id: b"SN-1",
        command_id: 9,
        issued_ms: NOW,
        expires_ms: NOW + 60_000,
        operation: 1,
        params: Params::new(&[(1, 100)]).unwrap(),
    }
    .encode(&signer, &mut cmd)
    .unwrap();
    cmd.truncate(n);
    let mut manifest = vec![0u8; 512];
    let n = FirmwareManifest {
        vendor_id: [1; 16],
        class_id: [2; 16],
        version: "1.0",
        sequence: 5,
        image_size: 64,
        digest: [7; 32],
        uri: None,
    }
    .encode(&signer, &mut manifest)
    .unwrap();
    manifest.truncate(n);
    let key = signer.authority_key();
    let rules = [ParamRule {
        id: 1,
        min: 0,
        max: 1000,
        required: true,
    }];
    let grants = [Grant {
        operation: 1,
        params: &rules,
    }];
    let authorities = [CommandAuthority {
        key,
        grants: &grants,
    }];
    let policy = CommandPolicy {
        device_id: b"SN-1",
        authorities: &authorities,
        max_clock_skew_ms: 0,
    };
    let update_keys = [key];
    let update_policy = UpdatePolicy {
        vendor_id: [1; 16],
        class_id: [2; 16],
        installed_sequence: 4,
        max_image_size: 1024,
        authorities: &update_keys,
    };
    let channels = [
        Channel::Known {
            code: VitalCode::SpO2,
            exponent: 0,
        },
        Channel::Known {
            code: VitalCode::BodyTemperature,
            exponent: -1,
        },
    ];
    let readings: Vec<Reading> = (0..100u64)
        .map(|i| Reading {
            time_ms: NOW + i * 1000,
            channel: (i % 2) as u8,
            value: Value::Number(Decimal::new(90 + (i % 7) as i64, -((i % 2) as i8))),
        })
        .collect();
    let mut out = vec![0u8; 2048];
    let mut frames = vec![0u8; 2048];
    let hello = {
        let n = Frame::Hello {
            stream: StreamId([4; 8]),
            first_seq: 1,
        }
        .encode(&mut frames)
        .unwrap();
        frames[..n].to_vec()
    };

    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let mut work = 0;
    let n = VitalsBatch::encode(NOW, 1000, &channels, &readings, &mut out).unwrap();
    let batch = VitalsBatch::decode(&out[..n]).unwrap();
    work += batch.readings().filter(|r| r.channel == 1).count();
    let mut verifier = CommandVerifier::new(0);
    let id = verifier
        .verify(&policy, &cmd, NOW)
        .unwrap()
        .command()
        .command_id;
    let ack = CommandAck {
        command_id: id,
        status: AckStatus::Executed,
        time_ms: NOW,
    };
    work += ack.encode(&mut frames).unwrap();
    work += FirmwareManifest::verify(&update_policy, &manifest)
        .unwrap()
        .image_size as usize;
    let mut rx = Receiver::new(ReceiverState::NEW);
    assert!(matches!(rx.handle(&hello), Ok(Incoming::NewStream { .. })));
    let n = Frame::Data {
        seq: 1,
        message: &cmd,
    }
    .encode(&mut frames)
    .unwrap();
    if let Ok(Incoming::Message { seq, .. }) = rx.handle(&frames[..n]) {
        work += rx.delivered(seq, &mut out).unwrap();
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    assert_eq!(
        after - before,
        0,
        "{} heap allocations in the message layer",
        after - before
    );
    work
}

#[test]
fn records_and_messages_never_allocate() {
    assert!(messages_without_allocating() > 0);
    for &suite in Suite::ENABLED {
        for framing in [Framing::Stream, Framing::Datagram] {
            let (mut a, mut b) = pair(suite, framing);
            let mut dec = StreamDecoder::for_session_config(b.config());
            let mut wire = vec![0u8; a.seal_capacity(1400)];
            let mut out = vec![0u8; 16384];
            let mut stash = vec![0u8; a.seal_capacity(1400)];
            let mut in_place = vec![0u8; a.seal_in_place_len(1400)];
            let before = ALLOCATIONS.load(Ordering::SeqCst);
            let delivered = exercise_in_place(&mut a, &mut b, &mut in_place, 1)
                + exercise(&mut a, &mut b, &mut dec, &mut wire, &mut out, &mut stash);
            let after = ALLOCATIONS.load(Ordering::SeqCst);
            assert!(delivered >= 2000, "{delivered}");
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
