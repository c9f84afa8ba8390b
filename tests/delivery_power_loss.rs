//! Power loss at every single write, and storage that lies.
//!
//! A scripted run (a device pushing messages through its sealed outbox to the cloud, acks coming
//! back) is repeated once per write step of the run, cutting the power at that step in three
//! ways: nothing written, half the bytes written (a torn write), or everything written but the
//! call never returning. Some runs cut a second time soon after the reboot (during the repair
//! of an interrupted reservation, or right after the next one). After each cut the device
//! reopens its outbox and carries on. Every run must show: no message whose push returned is
//! lost, none is delivered twice, and no AES-GCM nonce ever seals two different things (every
//! sealed entry and index is recorded across all cuts of the run).
//!
//! Then the attacks on storage at rest: altered, swapped, cut, moved and stale entries, and a
//! flash image rolled back, both where it is detected and where it is not.
#![cfg(feature = "outbox")]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tether::delivery::{
    Frame, Incoming, IndexSlot, MemStorage, Outbox, OutboxConfig, OutboxStorage, Receiver,
    ReceiverState, Refused, Sender, SenderConfig, StorageKey, MAX_ENTRY, MAX_FRAME,
};
use tether::{Error, StorageError};

const KEY: [u8; 32] = [0x5a; 32];
const SLOTS: u32 = 4;
const BLOCK: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CutMode {
    /// The write does not happen.
    Before,
    /// Half of the bytes are written (the counter cell is atomic: nothing).
    Torn,
    /// The write completes but the call never returns.
    After,
}

#[derive(Debug, Clone, Copy)]
struct Cut {
    at: usize,
    mode: CutMode,
}

/// Flash with a power switch: counts writes, cuts at the scheduled ones, and records the bytes
/// sealed under every nonce.
struct Flash {
    mem: MemStorage,
    writes: usize,
    cuts: Vec<Cut>,
    /// Cuts apply (and writes are counted) once armed.
    armed: bool,
    off: bool,
    /// nonce counter -> the sealed bytes (entry or index) written under it.
    sealed: HashMap<u64, Vec<u8>>,
    nonce_reuse: Vec<u64>,
}

#[derive(Clone)]
struct Faulty(Rc<RefCell<Flash>>);

impl Faulty {
    fn new(cuts: Vec<Cut>) -> Faulty {
        Faulty(Rc::new(RefCell::new(Flash {
            mem: MemStorage::new(SLOTS, MAX_ENTRY),
            writes: 0,
            cuts,
            armed: false,
            off: false,
            sealed: HashMap::new(),
            nonce_reuse: Vec::new(),
        })))
    }

    /// Power comes back.
    fn power_on(&self) {
        self.0.borrow_mut().off = false;
    }

    /// One write step: records sealed bytes, then applies `write` fully, halfway or not at all.
    fn step(
        &self,
        sealed: Option<&[u8]>,
        write: impl FnOnce(&mut MemStorage, Option<usize>),
    ) -> Result<(), StorageError> {
        let mut f = self.0.borrow_mut();
        if f.off {
            return Err(StorageError::Io);
        }
        if let Some(bytes) = sealed {
            let nonce = u64::from_be_bytes(bytes[..8].try_into().unwrap());
            match f.sealed.get(&nonce) {
                Some(prev) if prev.as_slice() != bytes => f.nonce_reuse.push(nonce),
                Some(_) => {}
                None => {
                    f.sealed.insert(nonce, bytes.to_vec());
                }
            }
        }
        let n = f.writes;
        let cut = if f.armed {
            f.writes += 1;
            f.cuts.iter().find(|c| c.at == n).map(|c| c.mode)
        } else {
            None
        };
        match cut {
            None => {
                write(&mut f.mem, None);
                Ok(())
            }
            Some(mode) => {
                match mode {
                    CutMode::Before => {}
                    CutMode::Torn => write(&mut f.mem, Some(sealed.map_or(0, |b| b.len() / 2))),
                    CutMode::After => write(&mut f.mem, None),
                }
                f.off = true;
                Err(StorageError::Io)
            }
        }
    }

    fn read<T>(&self, r: impl FnOnce(&mut MemStorage) -> T) -> Result<T, StorageError> {
        let mut f = self.0.borrow_mut();
        if f.off {
            return Err(StorageError::Io);
        }
        Ok(r(&mut f.mem))
    }
}

impl OutboxStorage for Faulty {
    fn slot_count(&self) -> u32 {
        SLOTS
    }
    fn slot_size(&self) -> usize {
        MAX_ENTRY
    }
    fn read_entry(&mut self, slot: u32, buf: &mut [u8]) -> Result<usize, StorageError> {
        self.read(|m| m.read_entry(slot, buf))?
    }
    fn write_entry(&mut self, slot: u32, data: &[u8]) -> Result<(), StorageError> {
        self.step(Some(data), |m, torn| match torn {
            None => m.write_entry(slot, data).unwrap(),
            Some(half) => m.set_entry(slot, Some(data[..half].to_vec())),
        })
    }
    fn read_index(&mut self, which: IndexSlot, buf: &mut [u8]) -> Result<usize, StorageError> {
        self.read(|m| m.read_index(which, buf))?
    }
    fn write_index(&mut self, which: IndexSlot, data: &[u8]) -> Result<(), StorageError> {
        self.step(Some(data), |m, torn| match torn {
            None => m.write_index(which, data).unwrap(),
            Some(half) => m.set_index(which, Some(data[..half].to_vec())),
        })
    }
    fn erase_index(&mut self, which: IndexSlot) -> Result<(), StorageError> {
        self.step(None, |m, _| m.erase_index(which).unwrap())
    }
    fn read_counter(&mut self) -> Result<u64, StorageError> {
        self.read(|m| m.read_counter())?
    }
    fn write_counter(&mut self, value: u64) -> Result<(), StorageError> {
        // The counter cell is atomic: a torn write leaves the old value.
        self.step(None, |m, torn| {
            if torn.is_none() {
                m.write_counter(value).unwrap()
            }
        })
    }
}

fn message(i: usize) -> Vec<u8> {
    let mut m = format!("reading {i}").into_bytes();
    m.extend(std::iter::repeat_n(i as u8, i * 7 % 60));
    m
}

/// What one scripted run produced.
struct Outcome {
    writes: usize,
    reboots: usize,
    /// Messages whose push returned Ok.
    pushed: Vec<Vec<u8>>,
    /// Messages whose push was interrupted by a cut (they may or may not be delivered).
    interrupted: Vec<Vec<u8>>,
    /// What the cloud applied, in order.
    applied: Vec<Vec<u8>>,
    nonce_reuse: Vec<u64>,
}

/// The device: a sender over the faulty flash, rebooted whenever the power goes.
struct Device {
    flash: Faulty,
    sender: Option<Sender<Faulty>>,
    rng: ChaCha20Rng,
    reboots: usize,
}

impl Device {
    fn boot(&mut self) {
        loop {
            self.flash.power_on();
            match Outbox::open(
                self.flash.clone(),
                &StorageKey::new(KEY),
                OutboxConfig { block: BLOCK },
                &mut self.rng,
            ) {
                Ok(ob) => {
                    let cfg = SenderConfig {
                        window: 3,
                        resend_after_ms: 0,
                    };
                    self.sender = Some(Sender::new(ob, cfg).unwrap());
                    return;
                }
                // A cut during open (repairing a reservation): power on again.
                Err(r) if r.error() == Error::Storage(StorageError::Io) => {
                    self.reboots += 1;
                }
                Err(r) => panic!("reopen refused after a power cut: {:?}", r.error()),
            }
        }
    }

    fn s(&mut self) -> &mut Sender<Faulty> {
        self.sender.as_mut().unwrap()
    }

    /// Handles an error from the device: a power cut reboots it.
    fn failed(&mut self, e: Error, cloud: &mut Receiver) {
        assert_eq!(e, Error::Storage(StorageError::Io), "unexpected error");
        assert!(self.flash.0.borrow().off, "Io without a power cut");
        self.sender = None;
        self.reboots += 1;
        self.boot();
        cloud.on_reconnect();
    }
}

/// The cloud: a receiver whose database is the applied list and its state, written together.
struct Cloud {
    rx: Receiver,
    db_state: ReceiverState,
    applied: Vec<Vec<u8>>,
}

/// Exchanges frames until neither side has anything to send. Returns false if the device lost
/// power meanwhile (it has rebooted).
fn pump(dev: &mut Device, cloud: &mut Cloud) -> bool {
    let mut buf = [0u8; MAX_FRAME];
    let mut ack = [0u8; 16];
    loop {
        let mut progressed = false;
        match dev.s().next_frame(0, &mut buf) {
            Err(e) => {
                dev.failed(e, &mut cloud.rx);
                return false;
            }
            Ok(None) => {}
            Ok(Some(n)) => {
                progressed = true;
                match cloud.rx.handle(&buf[..n]).unwrap() {
                    Incoming::Message { seq, bytes, then } => {
                        cloud.applied.push(bytes.to_vec());
                        cloud.db_state = then;
                        let a = cloud.rx.delivered(seq, &mut ack).unwrap();
                        if let Err(e) = deliver_ack(dev, &ack[..a]) {
                            dev.failed(e, &mut cloud.rx);
                            return false;
                        }
                    }
                    Incoming::Skipped { .. } => panic!("skipped"),
                    Incoming::NewStream { previous, .. } => assert_eq!(previous, None),
                    _ => {}
                }
            }
        }
        if let Some(a) = cloud.rx.poll_ack(&mut ack).unwrap() {
            progressed = true;
            if let Err(e) = deliver_ack(dev, &ack[..a]) {
                dev.failed(e, &mut cloud.rx);
                return false;
            }
        }
        if !progressed {
            return true;
        }
    }
}

fn deliver_ack(dev: &mut Device, frame: &[u8]) -> Result<(), Error> {
    match Frame::decode(frame)? {
        Frame::Ack { seq } => dev.s().on_ack(seq),
        _ => panic!("not an ack"),
    }
}

/// The script: 14 messages, pushed in bursts, the link pumped between bursts; then everything
/// is drained.
fn run(cuts: Vec<Cut>) -> Outcome {
    let flash = Faulty::new(cuts);
    let mut dev = Device {
        flash: flash.clone(),
        sender: None,
        rng: ChaCha20Rng::seed_from_u64(1),
        reboots: 0,
    };
    // The outbox is created before the power starts failing (a cut during creation is
    // `a_cut_while_creating_or_resetting`).
    dev.boot();
    flash.0.borrow_mut().armed = true;
    let mut cloud = Cloud {
        rx: Receiver::new(ReceiverState::NEW),
        db_state: ReceiverState::NEW,
        applied: Vec::new(),
    };
    let mut pushed = Vec::new();
    let mut interrupted = Vec::new();
    let mut i = 0;
    while i < 14 {
        let m = message(i);
        match dev.s().push(&m) {
            Ok(_) => {
                pushed.push(m);
                i += 1;
            }
            Err(Error::Storage(StorageError::Full)) => {
                pump(&mut dev, &mut cloud);
            }
            Err(e) => {
                // The application does not push it again: the reading is lost with the RAM.
                interrupted.push(m);
                i += 1;
                dev.failed(e, &mut cloud.rx);
            }
        }
        if i % 3 == 0 {
            pump(&mut dev, &mut cloud);
        }
    }
    while !pump(&mut dev, &mut cloud) {}
    assert!(dev.s().outbox().is_empty());
    let f = flash.0.borrow();
    Outcome {
        writes: f.writes,
        reboots: dev.reboots,
        pushed,
        interrupted,
        applied: cloud.applied,
        nonce_reuse: f.nonce_reuse.clone(),
    }
}

fn check(o: &Outcome, label: &str) {
    assert!(
        o.nonce_reuse.is_empty(),
        "{label}: nonce reused: {:?}",
        o.nonce_reuse
    );
    // None delivered twice (messages are distinct).
    for (n, m) in o.applied.iter().enumerate() {
        assert!(!o.applied[..n].contains(m), "{label}: delivered twice");
    }
    // Every message whose push returned was delivered, in order; an interrupted one at most
    // once, in its place.
    let without: Vec<_> = o
        .applied
        .iter()
        .filter(|m| !o.interrupted.contains(m))
        .cloned()
        .collect();
    assert_eq!(without, o.pushed, "{label}: lost or reordered");
    for m in &o.applied {
        assert!(
            o.pushed.contains(m) || o.interrupted.contains(m),
            "{label}: invented"
        );
    }
}

#[test]
fn a_power_cut_at_every_write_loses_nothing_and_reuses_no_nonce() {
    let clean = run(Vec::new());
    check(&clean, "no cut");
    assert_eq!(clean.reboots, 0);
    assert_eq!(clean.applied.len(), 14);
    let total = clean.writes;
    assert!(total > 40, "the script writes {total} times");
    let mut runs = 0;
    let mut interrupted_delivered = 0;
    for at in 0..total {
        for mode in [CutMode::Before, CutMode::Torn, CutMode::After] {
            let o = run(vec![Cut { at, mode }]);
            check(&o, &format!("cut {mode:?} at write {at}"));
            assert!(o.reboots >= 1, "cut at {at} never happened");
            interrupted_delivered += o
                .applied
                .iter()
                .filter(|m| o.interrupted.contains(m))
                .count();
            runs += 1;
            // A second cut shortly after the reboot: during the repair of a reservation, or
            // right after the next reservation.
            for later in 1..=6 {
                let o = run(vec![
                    Cut { at, mode },
                    Cut {
                        at: at + later,
                        mode: CutMode::Torn,
                    },
                ]);
                check(
                    &o,
                    &format!("cut {mode:?} at {at} then torn at {}", at + later),
                );
                runs += 1;
            }
        }
    }
    assert!(runs > 500);
    // "After" cuts of a push's index write commit the message although push never returned:
    // the outcome the spec warns the application about.
    assert!(interrupted_delivered > 0);
}

#[test]
fn a_cut_while_creating_or_resetting() {
    let key = StorageKey::new(KEY);
    let cfg = OutboxConfig { block: BLOCK };
    // Creation writes the counter, then the first index. A cut before the index is durable
    // leaves used storage without an index: refused as Truncated, and reset() recovers.
    for at in 0..2 {
        for mode in [CutMode::Before, CutMode::Torn, CutMode::After] {
            let flash = Faulty::new(vec![Cut { at, mode }]);
            flash.0.borrow_mut().armed = true;
            let mut rng = ChaCha20Rng::seed_from_u64(at as u64);
            let r = Outbox::open(flash.clone(), &key, cfg, &mut rng);
            assert_eq!(r.unwrap_err().error(), StorageError::Io.into());
            flash.power_on();
            let mut ob = match Outbox::open(flash.clone(), &key, cfg, &mut rng) {
                Ok(ob) => ob,
                Err(r) => {
                    assert_eq!(r.error(), StorageError::Truncated.into(), "{at} {mode:?}");
                    r.reset(&mut rng).unwrap()
                }
            };
            ob.push(b"works").unwrap();
            assert!(flash.0.borrow().nonce_reuse.is_empty());
        }
    }
    // A reset of a working outbox (factory reset) writes the counter, the new stream's index,
    // then erases the old index: a cut anywhere leaves either the old stream or the new one,
    // never a refusal, and no nonce is reused.
    for at in 0..3 {
        for mode in [CutMode::Before, CutMode::Torn, CutMode::After] {
            let flash = Faulty::new(vec![Cut { at, mode }]);
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            let mut ob = Outbox::open(flash.clone(), &key, cfg, &mut rng).unwrap();
            ob.push(b"old").unwrap();
            let old = ob.stream();
            flash.0.borrow_mut().armed = true;
            assert_eq!(ob.reset(&mut rng), Err(StorageError::Io.into()));
            flash.power_on();
            let mut ob = Outbox::open(flash.clone(), &key, cfg, &mut rng)
                .unwrap_or_else(|r| panic!("{at} {mode:?}: {:?}", r.error()));
            if ob.stream() == old {
                assert_eq!(ob.len(), 1, "{at} {mode:?}: the old stream is intact");
            } else {
                assert!(at >= 1 && ob.is_empty(), "{at} {mode:?}");
            }
            ob.push(b"works").unwrap();
            assert!(flash.0.borrow().nonce_reuse.is_empty());
        }
    }
}

// ---- storage that lies ----

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(42)
}

fn open(s: MemStorage) -> Result<Outbox<MemStorage>, Refused<MemStorage>> {
    Outbox::open(
        s,
        &StorageKey::new(KEY),
        OutboxConfig { block: 8 },
        &mut rng(),
    )
}

fn refused(s: MemStorage) -> Error {
    open(s).unwrap_err().error()
}

/// An outbox with messages 1..=3 unacknowledged (slots 1, 2, 3) and its storage.
fn three() -> MemStorage {
    let mut ob = open(MemStorage::new(SLOTS, MAX_ENTRY)).unwrap();
    for m in [&b"first"[..], b"second", b"third"] {
        ob.push(m).unwrap();
    }
    ob.into_storage()
}

#[test]
fn tampered_entry() {
    let mut s = three();
    let mut e = s.entry(2).unwrap().to_vec();
    e[24] ^= 0x01; // a ciphertext byte
    s.set_entry(2, Some(e));
    assert_eq!(refused(s), StorageError::Tampered.into());
    let mut s = three();
    let mut e = s.entry(2).unwrap().to_vec();
    e[3] ^= 0x01; // the stored nonce
    s.set_entry(2, Some(e));
    assert_eq!(refused(s), StorageError::Tampered.into());
}

#[test]
fn swapped_entries() {
    let mut s = three();
    let (a, b) = (s.entry(1).unwrap().to_vec(), s.entry(3).unwrap().to_vec());
    s.set_entry(1, Some(b));
    s.set_entry(3, Some(a));
    assert_eq!(refused(s), StorageError::Reordered.into());
}

#[test]
fn truncated_or_missing_entry() {
    let mut s = three();
    let e = s.entry(3).unwrap().to_vec();
    s.set_entry(3, Some(e[..e.len() - 1].to_vec()));
    assert_eq!(refused(s), StorageError::Truncated.into());
    let mut s = three();
    s.set_entry(1, Some(vec![0; 5]));
    assert_eq!(refused(s), StorageError::Truncated.into());
    let mut s = three();
    s.set_entry(2, None);
    assert_eq!(refused(s), StorageError::Truncated.into());
}

#[test]
fn entry_from_another_slot_or_an_older_lap() {
    // A copy of slot 1's entry in slot 2 (slot 1 left as it is).
    let mut s = three();
    let e = s.entry(1).unwrap().to_vec();
    s.set_entry(2, Some(e));
    assert_eq!(refused(s), StorageError::Reordered.into());
    // Slot 1 put back to the entry it held one lap earlier (sequence 1 instead of 5).
    let mut ob = open(three()).unwrap();
    let lap1 = ob.storage().entry(1).unwrap().to_vec();
    ob.release(3).unwrap();
    ob.push(b"fourth").unwrap();
    ob.push(b"fifth").unwrap(); // sequence 5, slot 1
    let mut s = ob.into_storage();
    s.set_entry(1, Some(lap1));
    assert_eq!(refused(s), StorageError::Reordered.into());
}

#[test]
fn refusal_changes_nothing_and_reset_starts_a_new_stream() {
    let mut s = three();
    s.set_entry(2, None);
    let before = s.clone();
    let r = open(s).unwrap_err();
    assert_eq!(r.error(), StorageError::Truncated.into());
    let stream_before = open(three()).unwrap().stream();
    let s = r.into_storage();
    assert_eq!(s, before, "a refused open wrote nothing");
    // The application logs the security event, then resets.
    let mut ob = open(s)
        .unwrap_err()
        .reset(&mut ChaCha20Rng::seed_from_u64(9))
        .unwrap();
    assert_ne!(ob.stream(), stream_before);
    assert!(
        ob.storage().counter() > before.counter(),
        "the counter is kept and moves on"
    );
    assert_eq!(ob.push(b"after").unwrap(), 1);
    // The peer sees the new stream as an audit event.
    let mut rx = Receiver::new(ReceiverState {
        stream: Some(stream_before),
        next: 4,
    });
    let cfg = SenderConfig::default();
    let mut tx = Sender::new(ob, cfg).unwrap();
    let mut buf = [0u8; 64];
    let n = tx.next_frame(0, &mut buf).unwrap().unwrap();
    assert!(matches!(
        rx.handle(&buf[..n]).unwrap(),
        Incoming::NewStream { first_seq: 1, previous: Some(p), .. } if p == stream_before
    ));
}

#[test]
fn index_rolled_back_detected_and_within_block() {
    // Block 8: a push takes two nonces, so a reservation lasts about 3.5 pushes.
    let mut ob = open(MemStorage::new(SLOTS, MAX_ENTRY)).unwrap();
    ob.push(b"one").unwrap();
    let snapshot = ob.storage().clone();
    let reserved_at_snapshot = snapshot.counter();
    let restore = |now: &MemStorage| {
        let mut s = snapshot.clone();
        // The attacker restores the flash; the counter cell is out of reach.
        s.set_counter(now.counter());
        s
    };
    // Still under the same reservation: the restore is not detected, and the outbox is back
    // to the snapshot (message "two" pushed after it is gone from the device's view).
    ob.push(b"two").unwrap();
    ob.release(1).unwrap();
    assert_eq!(ob.storage().counter(), reserved_at_snapshot);
    let back = open(restore(ob.storage())).unwrap();
    assert_eq!((back.head(), back.next_seq()), (1, 2));
    // One reservation later: still not detected (the index may lawfully lag one reservation,
    // after a power cut between the counter write and the index write).
    while ob.storage().counter() == reserved_at_snapshot {
        ob.push(b"more").unwrap();
        ob.release(ob.next_seq() - 1).unwrap();
    }
    assert!(open(restore(ob.storage())).is_ok());
    // Two reservations later: detected, and nothing is written.
    let second = ob.storage().counter();
    while ob.storage().counter() == second {
        ob.push(b"more").unwrap();
        ob.release(ob.next_seq() - 1).unwrap();
    }
    let rolled = restore(ob.storage());
    let r = open(rolled.clone()).unwrap_err();
    assert_eq!(r.error(), StorageError::RolledBack.into());
    assert_eq!(r.into_storage(), rolled);
}

#[test]
fn undetected_rollback_resends_only_duplicates() {
    // Within a block the restore is not detected; what it can do to delivery is resend
    // messages the peer already has, which the receiver drops as duplicates.
    let mut ob = open(MemStorage::new(SLOTS, MAX_ENTRY)).unwrap();
    ob.push(b"one").unwrap();
    let snapshot = ob.storage().clone();
    let mut tx = Sender::new(ob, SenderConfig::default()).unwrap();
    let mut rx = Receiver::new(ReceiverState::NEW);
    let mut buf = [0u8; MAX_FRAME];
    let mut ack = [0u8; 16];
    while let Some(n) = tx.next_frame(0, &mut buf).unwrap() {
        if let Incoming::Message { seq, .. } = rx.handle(&buf[..n]).unwrap() {
            let a = rx.delivered(seq, &mut ack).unwrap();
            if let Frame::Ack { seq } = Frame::decode(&ack[..a]).unwrap() {
                tx.on_ack(seq).unwrap();
            }
        }
    }
    assert!(tx.outbox().is_empty());
    let mut s = snapshot;
    s.set_counter(tx.outbox().storage().counter());
    let ob = open(s).unwrap();
    assert_eq!(ob.len(), 1);
    let mut tx = Sender::new(ob, SenderConfig::default()).unwrap();
    rx.on_reconnect();
    let mut seen = Vec::new();
    while let Some(n) = tx.next_frame(0, &mut buf).unwrap() {
        seen.push(rx.handle(&buf[..n]).unwrap().clone_kind());
    }
    assert_eq!(seen, ["resumed", "duplicate"]);
}

trait Kind {
    fn clone_kind(&self) -> &'static str;
}
impl Kind for Incoming<'_> {
    fn clone_kind(&self) -> &'static str {
        match self {
            Incoming::Message { .. } => "message",
            Incoming::Duplicate { .. } => "duplicate",
            Incoming::Gap { .. } => "gap",
            Incoming::Ack(_) => "ack",
            Incoming::NewStream { .. } => "new stream",
            Incoming::Resumed { .. } => "resumed",
            Incoming::Skipped { .. } => "skipped",
        }
    }
}

#[test]
fn a_counter_cell_that_goes_back_is_refused() {
    let mut ob = open(MemStorage::new(SLOTS, MAX_ENTRY)).unwrap();
    ob.push(b"x").unwrap();
    let mut s = ob.into_storage();
    s.set_counter(0);
    assert_eq!(refused(s), StorageError::RolledBack.into());
}
