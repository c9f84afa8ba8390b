//! Exactly once, in order, none invented: two endpoints (a device and the cloud), messages in
//! both directions, over a link that loses, duplicates and reorders frames, with disconnects
//! and reboots of either side.
//!
//! The proptest drives delivery frames directly (no record layer: it only shuffles bytes, and
//! skipping the handshake lets it try thousands of schedules); `over_real_sessions` runs the same
//! endpoints inside real tether sessions (datagram records, a new handshake per connection).
//!
//! Each side's "application" keeps a database of the messages it applied and its receiver
//! state, always written together (the atomic write spec/MESSAGES.md section 6 asks for). A reboot
//! keeps the database and the outbox storage and loses everything else.
#![cfg(feature = "outbox")]

mod common;

use std::collections::VecDeque;

use proptest::prelude::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tether::delivery::{
    Endpoint, Frame, Incoming, MemStorage, Outbox, OutboxConfig, ReceiverState, Sender,
    SenderConfig, StorageKey, StreamId, MAX_FRAME,
};
use tether::{Error, PeerError, StorageError};

const SLOTS: u32 = 6;
const RESEND_MS: u64 = 40;

fn sender_config() -> SenderConfig {
    SenderConfig {
        window: 3,
        resend_after_ms: RESEND_MS,
    }
}

fn outbox_config() -> OutboxConfig {
    OutboxConfig { block: 6 }
}

/// A distinct, recognisable message: who sent it and its number.
fn message(side: u8, i: usize) -> Vec<u8> {
    let mut m = format!("{side}:{i}:").into_bytes();
    m.extend(std::iter::repeat_n(side, i % 50));
    m
}

/// One side: its endpoint, its application's database, and what it has still to send.
struct App {
    name: u8,
    key: StorageKey,
    endpoint: Option<Endpoint<MemStorage>>,
    /// The application's database: what it applied and the receiver state, written together.
    db_state: ReceiverState,
    db_applied: Vec<Vec<u8>>,
    /// Messages whose push returned Ok, in push order.
    pushed: Vec<Vec<u8>>,
    /// Messages still to push.
    pending: VecDeque<Vec<u8>>,
    /// (stream, previous) of every NewStream event.
    new_streams: Vec<(StreamId, Option<StreamId>)>,
    rng: ChaCha20Rng,
}

impl App {
    fn new(name: u8, messages: usize, seed: u64) -> App {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let key = StorageKey::new([name; 32]);
        let outbox =
            Outbox::open(MemStorage::new(SLOTS, 128), &key, outbox_config(), &mut rng).unwrap();
        let endpoint = Endpoint::new(
            Sender::new(outbox, sender_config()).unwrap(),
            ReceiverState::NEW,
        );
        App {
            name,
            key,
            endpoint: Some(endpoint),
            db_state: ReceiverState::NEW,
            db_applied: Vec::new(),
            pushed: Vec::new(),
            pending: (0..messages).map(|i| message(name, i)).collect(),
            new_streams: Vec::new(),
            rng,
        }
    }

    fn ep(&mut self) -> &mut Endpoint<MemStorage> {
        self.endpoint.as_mut().unwrap()
    }

    fn stream(&self) -> StreamId {
        self.endpoint.as_ref().unwrap().sender().outbox().stream()
    }

    /// Pushes the next pending message if the outbox has room.
    fn push(&mut self) {
        let Some(m) = self.pending.front().cloned() else {
            return;
        };
        match self.ep().push(&m) {
            Ok(seq) => {
                assert_eq!(seq as usize, self.pushed.len() + 1, "side {}", self.name);
                self.pushed.push(m);
                self.pending.pop_front();
            }
            Err(Error::Storage(StorageError::Full)) => {}
            Err(e) => panic!("push failed: {e:?}"),
        }
    }

    /// A crash: RAM is lost, the outbox storage and the database survive.
    fn reboot(&mut self) {
        let (sender, _) = self.endpoint.take().unwrap().into_parts();
        let storage = sender.into_outbox().into_storage();
        let outbox = Outbox::open(storage, &self.key, outbox_config(), &mut self.rng)
            .expect("a rebooted outbox opens");
        self.endpoint = Some(Endpoint::new(
            Sender::new(outbox, sender_config()).unwrap(),
            self.db_state,
        ));
    }

    /// Everything the endpoint wants to send now (at most `max` frames).
    fn poll(&mut self, now: u64, wire: &mut VecDeque<Vec<u8>>, max: usize) -> usize {
        let mut buf = [0u8; MAX_FRAME];
        let mut sent = 0;
        while sent < max {
            match self.ep().poll(now, &mut buf).unwrap() {
                Some(n) => wire.push_back(buf[..n].to_vec()),
                None => break,
            }
            sent += 1;
        }
        sent
    }

    /// One frame from the peer, handled the way an application would.
    fn receive(&mut self, frame: &[u8], wire: &mut VecDeque<Vec<u8>>) {
        let is_ack = matches!(Frame::decode(frame), Ok(Frame::Ack { .. }));
        let mut buf = [0u8; 16];
        match self.ep().handle(frame) {
            Ok(Incoming::Message { seq, bytes, then }) => {
                assert_eq!(then.next, seq + 1);
                let bytes = bytes.to_vec();
                // The application's transaction: the effect and the state together.
                self.db_applied.push(bytes);
                self.db_state = then;
                let n = self.ep().delivered(seq, &mut buf).unwrap();
                wire.push_back(buf[..n].to_vec());
            }
            Ok(Incoming::NewStream {
                stream, previous, ..
            }) => self.new_streams.push((stream, previous)),
            Ok(Incoming::Skipped { .. }) => panic!("side {}: messages skipped", self.name),
            Ok(_) => {}
            Err(e) => {
                // The only refusal a faithful peer causes: data reordered ahead of the hello of
                // its session. An acknowledgement is never refused.
                assert!(!is_ack, "side {}: ack refused: {e:?}", self.name);
                assert_eq!(e, Error::Peer(PeerError::UnexpectedMessage));
            }
        }
    }

    fn finished(&self) -> bool {
        self.pending.is_empty() && self.endpoint.as_ref().unwrap().sender().outbox().is_empty()
    }
}

/// The two sides and the link between them.
struct World {
    device: App,
    cloud: App,
    /// Frames in flight, device to cloud and cloud to device.
    up: VecDeque<Vec<u8>>,
    down: VecDeque<Vec<u8>>,
    now: u64,
}

#[derive(Debug, Clone)]
enum Op {
    Push(bool),
    Poll(bool),
    Deliver(bool, usize),
    Drop(bool, usize),
    Duplicate(bool, usize),
    Tick(u64),
    Disconnect,
    Reboot(bool),
}

impl World {
    fn new(messages: usize, seed: u64) -> World {
        World {
            device: App::new(1, messages, seed),
            cloud: App::new(2, messages, seed + 1),
            up: VecDeque::new(),
            down: VecDeque::new(),
            now: 0,
        }
    }

    fn disconnect(&mut self) {
        self.up.clear();
        self.down.clear();
        self.device.ep().on_reconnect();
        self.cloud.ep().on_reconnect();
    }

    /// `device`: the device's side (or frames the device sent).
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Push(device) => self.side(device).push(),
            Op::Poll(device) => {
                let now = self.now;
                let (app, wire) = if device {
                    (&mut self.device, &mut self.up)
                } else {
                    (&mut self.cloud, &mut self.down)
                };
                app.poll(now, wire, 4);
            }
            Op::Deliver(from_device, i) => {
                let (wire, to, back) = if from_device {
                    (&mut self.up, &mut self.cloud, &mut self.down)
                } else {
                    (&mut self.down, &mut self.device, &mut self.up)
                };
                if !wire.is_empty() {
                    let f = wire.remove(i % wire.len()).unwrap();
                    to.receive(&f, back);
                }
            }
            Op::Drop(from_device, i) => {
                let wire = self.wire(from_device);
                if !wire.is_empty() {
                    let at = i % wire.len();
                    wire.remove(at);
                }
            }
            Op::Duplicate(from_device, i) => {
                let wire = self.wire(from_device);
                if !wire.is_empty() {
                    let f = wire[i % wire.len()].clone();
                    wire.push_back(f);
                }
            }
            Op::Tick(ms) => self.now += ms,
            Op::Disconnect => self.disconnect(),
            Op::Reboot(device) => {
                self.side(device).reboot();
                // The session died with it.
                self.disconnect();
            }
        }
    }

    fn side(&mut self, device: bool) -> &mut App {
        if device {
            &mut self.device
        } else {
            &mut self.cloud
        }
    }

    fn wire(&mut self, from_device: bool) -> &mut VecDeque<Vec<u8>> {
        if from_device {
            &mut self.up
        } else {
            &mut self.down
        }
    }

    /// A good connection from here on: everything left is delivered.
    fn drain(&mut self) {
        self.disconnect();
        for _ in 0..100_000 {
            if self.device.finished() && self.cloud.finished() {
                break;
            }
            self.device.push();
            self.cloud.push();
            let now = self.now;
            self.device.poll(now, &mut self.up, usize::MAX);
            self.cloud.poll(now, &mut self.down, usize::MAX);
            if self.up.is_empty() && self.down.is_empty() {
                self.now += RESEND_MS;
            }
            while let Some(f) = self.up.pop_front() {
                self.cloud.receive(&f, &mut self.down);
            }
            while let Some(f) = self.down.pop_front() {
                self.device.receive(&f, &mut self.up);
            }
        }
        assert!(
            self.device.finished() && self.cloud.finished(),
            "drain stalled"
        );
    }

    fn check(&self) {
        // Everything pushed on one side was applied on the other, once, in order, and nothing
        // else was.
        assert_eq!(self.cloud.db_applied, self.device.pushed);
        assert_eq!(self.device.db_applied, self.cloud.pushed);
        for (app, peer) in [(&self.device, &self.cloud), (&self.cloud, &self.device)] {
            if !peer.pushed.is_empty() {
                assert!(!app.new_streams.is_empty());
            }
            for (stream, previous) in &app.new_streams {
                assert_eq!(*stream, peer.stream());
                assert_eq!(*previous, None);
            }
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(Op::Push),
        4 => any::<bool>().prop_map(Op::Poll),
        8 => (any::<bool>(), 0usize..8).prop_map(|(d, i)| Op::Deliver(d, i)),
        2 => (any::<bool>(), 0usize..8).prop_map(|(d, i)| Op::Drop(d, i)),
        1 => (any::<bool>(), 0usize..8).prop_map(|(d, i)| Op::Duplicate(d, i)),
        2 => (1u64..=2 * RESEND_MS).prop_map(Op::Tick),
        1 => Just(Op::Disconnect),
        1 => any::<bool>().prop_map(Op::Reboot),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_message_exactly_once_in_order(
        ops in proptest::collection::vec(op(), 0..300),
        messages in 0usize..20,
        seed in any::<u64>(),
    ) {
        let mut w = World::new(messages, seed);
        for op in &ops {
            w.apply(op);
            // At every point, what was applied is a prefix of what the peer pushed.
            prop_assert!(w.device.pushed.starts_with(&w.cloud.db_applied));
            prop_assert!(w.cloud.pushed.starts_with(&w.device.db_applied));
        }
        w.drain();
        w.check();
    }
}

#[test]
fn a_lossy_run_with_reboots_delivers_everything() {
    // A fixed schedule with every kind of trouble, so a regression shows without proptest.
    let mut w = World::new(30, 7);
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    for step in 0..3000u32 {
        let op = match rng.next_u32() % 20 {
            0..=2 => Op::Push(step % 2 == 0),
            3..=6 => Op::Poll(rng.next_u32() % 2 == 0),
            7..=13 => Op::Deliver(rng.next_u32() % 2 == 0, rng.next_u32() as usize),
            14 | 15 => Op::Drop(rng.next_u32() % 2 == 0, rng.next_u32() as usize),
            16 => Op::Duplicate(rng.next_u32() % 2 == 0, rng.next_u32() as usize),
            17 | 18 => Op::Tick(u64::from(rng.next_u32()) % 60),
            _ if step % 7 == 0 => Op::Reboot(rng.next_u32() % 2 == 0),
            _ => Op::Disconnect,
        };
        w.apply(&op);
    }
    w.drain();
    w.check();
    assert_eq!(w.device.pushed.len(), 30);
}

#[test]
fn a_factory_reset_device_starts_a_new_stream() {
    let mut w = World::new(4, 3);
    w.drain();
    let old = w.device.stream();
    // The device pushes one more message, which is lost with the reset.
    w.device.pending.push_back(b"lost in the reset".to_vec());
    w.device.push();
    w.disconnect();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    w.device.ep().sender_mut().reset(&mut rng).unwrap();
    w.device.pushed.clear();
    w.device.pending.push_back(b"after the reset".to_vec());
    w.cloud.db_applied.clear();
    w.drain();
    assert_ne!(w.device.stream(), old);
    assert_eq!(w.cloud.db_applied, vec![b"after the reset".to_vec()]);
    let (stream, previous) = *w.cloud.new_streams.last().unwrap();
    assert_eq!((stream, previous), (w.device.stream(), Some(old)));
}

/// The endpoints inside real sessions: each connection is a new Noise handshake, frames are
/// sealed into datagram records, and the link loses, duplicates and reorders records.
#[test]
fn over_real_sessions() {
    use common::*;
    use tether::{ChannelKind, Framing, Initiator, Instant, Pattern, Session, Suite};

    let dev = device();
    let cld = cloud();
    let icfg = config(
        &dev,
        Suite::ChaChaPolyBlake2s,
        Framing::Datagram,
        ChannelKind::DeviceCloud,
    );
    let mut rcfg = responder_config(&cld, Framing::Datagram, ChannelKind::DeviceCloud);
    rcfg.patterns = &[Pattern::Provisioned];
    let connect = |seed: u64| -> (Session, Session) {
        let mut r = ChaCha20Rng::seed_from_u64(seed);
        let hs = Initiator::provisioned(&icfg, &cld.key.public(), &mut r).unwrap();
        let mut r2 = ChaCha20Rng::seed_from_u64(seed + 1_000);
        let (d, c, _) = drive(hs, &rcfg, &mut accept_all, &mut accept_all, &mut r2).unwrap();
        (d.session, c.session)
    };

    let mut w = World::new(25, 21);
    let mut link = ChaCha20Rng::seed_from_u64(99);
    let (mut dev_s, mut cld_s) = connect(0);
    let mut connections = 1;
    let mut up: VecDeque<Vec<u8>> = VecDeque::new();
    let mut down: VecDeque<Vec<u8>> = VecDeque::new();
    let mut plain = vec![0u8; MAX_FRAME + 64];
    for round in 0..4000u32 {
        if w.device.finished() && w.cloud.finished() && round > 400 {
            break;
        }
        // Every so often the connection breaks (and sometimes a side reboots with it).
        if round % 100 == 99 {
            match link.next_u32() % 3 {
                0 => w.device.reboot(),
                1 => w.cloud.reboot(),
                _ => {}
            }
            w.device.ep().on_reconnect();
            w.cloud.ep().on_reconnect();
            up.clear();
            down.clear();
            (dev_s, cld_s) = connect(u64::from(round));
            connections += 1;
        }
        w.device.push();
        w.cloud.push();
        let now = u64::from(round) * 5;
        // Frames into records.
        let mut frames = VecDeque::new();
        w.device.poll(now, &mut frames, 4);
        for f in frames.drain(..) {
            let mut wire = vec![0u8; dev_s.seal_capacity(f.len())];
            let sealed = dev_s.seal(Instant(now), &f, &mut wire).unwrap();
            let (ku, rec) = wire.split_at(sealed.key_update);
            if !ku.is_empty() {
                up.push_back(ku.to_vec());
            }
            up.push_back(rec[..sealed.record].to_vec());
        }
        w.cloud.poll(now, &mut frames, 4);
        for f in frames.drain(..) {
            let mut wire = vec![0u8; cld_s.seal_capacity(f.len())];
            let sealed = cld_s.seal(Instant(now), &f, &mut wire).unwrap();
            let (ku, rec) = wire.split_at(sealed.key_update);
            if !ku.is_empty() {
                down.push_back(ku.to_vec());
            }
            down.push_back(rec[..sealed.record].to_vec());
        }
        // The link: 15% lost, 10% duplicated, 10% swapped with the next.
        let batch: Vec<Vec<u8>> = up.drain(..).collect();
        carry(
            batch,
            &mut cld_s,
            &mut w.cloud,
            &mut down,
            &mut link,
            now,
            &mut plain,
        );
        let batch: Vec<Vec<u8>> = down.drain(..).collect();
        carry(
            batch,
            &mut dev_s,
            &mut w.device,
            &mut up,
            &mut link,
            now,
            &mut plain,
        );
    }
    assert!(connections > 3);
    assert!(w.device.finished() && w.cloud.finished(), "did not finish");
    w.check();
}

/// Moves one direction's records over the bad link into `app`, sealing its replies (acks) with
/// the same session into `back`.
fn carry(
    mut batch: Vec<Vec<u8>>,
    session: &mut tether::Session,
    app: &mut App,
    back: &mut VecDeque<Vec<u8>>,
    link: &mut ChaCha20Rng,
    now: u64,
    plain: &mut [u8],
) {
    use tether::{Event, Instant};
    let mut i = 0;
    while i < batch.len() {
        let roll = link.next_u32() % 100;
        if roll < 10 && i + 1 < batch.len() {
            batch.swap(i, i + 1);
        } else if roll < 20 {
            let copy = batch[i].clone();
            batch.insert(i, copy);
            i += 1;
        }
        i += 1;
    }
    for rec in batch {
        if link.next_u32() % 100 < 15 {
            continue;
        }
        let frame = match session.open(Instant(now), &rec, plain) {
            Ok(Event::Data(d)) => d.to_vec(),
            Ok(_) => continue,
            // A duplicated record is refused by the record layer's replay window.
            Err(Error::Peer(PeerError::Replayed)) => continue,
            Err(e) => panic!("record refused: {e:?}"),
        };
        let mut replies = VecDeque::new();
        app.receive(&frame, &mut replies);
        for r in replies {
            let mut wire = vec![0u8; session.seal_capacity(r.len())];
            let sealed = session.seal(Instant(now), &r, &mut wire).unwrap();
            back.push_back(wire[..sealed.total()].to_vec());
        }
    }
}
