//! The delivery layer on hostile input: frames, a receiver fed a sequence of fuzzed frames, and
//! an outbox reopened over storage the input has tampered with.
//!
//! Never a panic. A decoded frame encodes back to exactly its bytes. The receiver delivers a
//! message only at its next expected sequence number and moves by exactly one when told it was
//! delivered. An outbox reopened over altered storage either refuses with a storage error or
//! gives back, for every sequence number it still holds, exactly the message pushed under it:
//! altered, moved, truncated or stale bytes are never returned as a message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tether::delivery::{
    Frame, Incoming, IndexSlot, MemStorage, Outbox, OutboxConfig, Receiver, ReceiverState,
    StorageKey,
};
use tether::*;
use tether_fuzz::Counter;

const SLOTS: u32 = 4;
const SLOT_SIZE: usize = 96;

fn message(seq: u64) -> Vec<u8> {
    (0..(seq as usize * 7 % 40 + 1)).map(|i| (i as u8) ^ (seq as u8)).collect()
}

fn frames(data: &[u8]) {
    if let Ok(f) = Frame::decode(data) {
        let mut out = [0u8; 2048];
        let n = f.encode(&mut out).expect("a decoded frame encodes");
        assert_eq!(&out[..n], data, "a frame has one encoding");
    }
    let mut rx = Receiver::new(ReceiverState::NEW);
    let mut ack = [0u8; 64];
    for piece in data.split(|&b| b == 0xff) {
        let before = rx.state();
        match rx.handle(piece) {
            Ok(Incoming::Message { seq, then, .. }) => {
                assert_eq!(Some(seq), Some(before.next), "delivered out of order");
                let _ = then;
                rx.delivered(seq, &mut ack).expect("the delivered message acks");
                assert_eq!(rx.state().next, seq + 1);
            }
            Ok(_) => {}
            Err(_) => assert_eq!(rx.state(), before, "a refused frame changed the receiver"),
        }
    }
}

fn outbox(data: &[u8]) {
    let key = StorageKey::new([9; 32]);
    let cfg = OutboxConfig { block: 4 };
    let Ok(mut ob) = Outbox::open(MemStorage::new(SLOTS, SLOT_SIZE), &key, cfg, &mut Counter(1))
    else {
        panic!("a fresh outbox opens");
    };
    let pushes = data.first().map_or(3, |b| 1 + u64::from(b % 6));
    let released = data.get(1).map_or(0, |b| u64::from(b % 3));
    let mut pushed = Vec::new();
    for i in 1..=pushes {
        match ob.push(&message(i)) {
            Ok(seq) => pushed.push(seq),
            Err(e) => assert_eq!(e, Error::Storage(StorageError::Full)),
        }
        if i == 2 && released > 0 {
            ob.release(released.min(*pushed.last().unwrap_or(&0))).unwrap();
        }
    }
    let mut st = ob.into_storage();
    // Edits: [op, target, position, value]...
    for e in data.get(2..).unwrap_or(&[]).chunks(4) {
        let &[op, target, pos, val] = e else { break };
        match op % 5 {
            0 => {
                let slot = u32::from(target) % SLOTS;
                if let Some(mut bytes) = st.entry(slot).map(<[u8]>::to_vec) {
                    if !bytes.is_empty() {
                        let i = usize::from(pos) % bytes.len();
                        bytes[i] ^= val | 1;
                    }
                    st.set_entry(slot, Some(bytes));
                }
            }
            1 => {
                let (a, b) = (u32::from(target) % SLOTS, u32::from(pos) % SLOTS);
                let (x, y) = (st.entry(a).map(<[u8]>::to_vec), st.entry(b).map(<[u8]>::to_vec));
                st.set_entry(a, y);
                st.set_entry(b, x);
            }
            2 => {
                let slot = u32::from(target) % SLOTS;
                let cut = st.entry(slot).map(|b| b[..usize::from(pos) % (b.len() + 1)].to_vec());
                st.set_entry(slot, cut);
            }
            3 => {
                let which = IndexSlot::for_generation(u64::from(target));
                if let Some(mut bytes) = st.index(which).map(<[u8]>::to_vec) {
                    if !bytes.is_empty() {
                        let i = usize::from(pos) % bytes.len();
                        bytes[i] ^= val | 1;
                    }
                    st.set_index(which, Some(bytes));
                }
            }
            _ => st.set_counter(st.counter().saturating_add(u64::from(val))),
        }
    }
    match Outbox::open(st, &key, cfg, &mut Counter(2)) {
        Ok(mut ob) => {
            let mut out = [0u8; SLOT_SIZE];
            for seq in ob.head()..ob.next_seq() {
                match ob.read(seq, &mut out) {
                    Ok(n) => assert_eq!(&out[..n], &message(seq)[..], "altered message returned"),
                    Err(e) => assert!(matches!(e, Error::Storage(_)), "{e:?}"),
                }
            }
        }
        Err(refused) => assert!(matches!(refused.error(), Error::Storage(_)), "{:?}", refused.error()),
    }
}

fuzz_target!(|data: &[u8]| {
    frames(data);
    outbox(data);
});
