//! Relayed units (spec/PROTOCOL.md 3.4) end to end, through a phone that is an adversary.
//!
//! A device holds two sessions on its BLE link to the phone: (a) its end-to-end session with the
//! cloud (`IK`, device initiator, channel kind `Relayed`, datagram records), whose units it wraps
//! at index 0 and which the phone relays through a [`RelayTable`] onto its one uplink; and (b) its
//! own session with the phone (`KK`, channel kind `DevicePhone`), whose units travel unwrapped on
//! the same link. Over (a) both ends run the delivery layer (spec/MESSAGES.md 6): the device's
//! readings go up, the cloud's commands come down, each side with its sender, its receiver and
//! acknowledgements. Over (b) the device shows its readings to the phone app, and the phone sends
//! the device its own messages.
//!
//! The phone is trusted with (b) only. For (a) it does everything a relay can: drop, duplicate,
//! reorder, delay, flip bits, replay (also units recorded in an earlier session), inject random
//! bytes and random relayed units, rewrite indexes, re-wrap (b)'s units as relayed units, strip
//! envelopes and send units back the way they came. 3.4 promises that this at worst delays the
//! sessions inside: the tests check that each application applies exactly the messages its peer
//! pushed, once each and in push order, nothing else, and that once the phone behaves everything
//! pushed arrives.
//!
//! Every application keeps a database of what it applied and its receiver state, written together
//! (the atomic write MESSAGES.md 6.3.1 asks for); a reboot keeps that and the outbox storage and
//! loses everything else, sessions included. Time is a number the tests move; nothing sleeps.
#![cfg(feature = "outbox")]

mod common;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::OnceLock;

use common::{accept_all, config, drive, party, responder_config, Party, NOW};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngAlgorithm, RngSeed, TestRng, TestRunner};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use tether::delivery::{
    Endpoint, Frame, Incoming, MemStorage, Outbox, OutboxConfig, ReceiverState, Sender,
    SenderConfig, StorageKey, StreamId, MAX_FRAME,
};
use tether::link::relay::{header, rewrite_index, wrap, RELAY_INDEXES};
use tether::link::{RelayIndex, RelayTable, Relayed, Route, RELAY_HEADER_LEN};
use tether::policy::AllowList;
use tether::{
    ChannelKind, Error, Event, Framing, Handshake, Initiator, Instant, KeyUpdatePolicy, Local,
    Malformed, Pattern, PeerError, PublicKey, Responder, Session, SessionConfig, StorageError,
    Suite, UnitType,
};

const FRAMING: Framing = Framing::Datagram;
/// The delivery layer resends what was not acknowledged after this long (MESSAGES.md 6.4.2).
const RESEND_MS: u64 = 50;
/// The device resends its handshake message 0, unchanged, this often until a reply opens
/// (PROTOCOL.md 4.10).
const HANDSHAKE_RETRY_MS: u64 = 120;
/// A session on which nothing authentic arrived for this long, while the device waits for
/// something (the answer to its hello, acknowledgements, or records that keep failing to open),
/// is replaced by a new handshake: what a device does when a relay has made its session useless
/// (for example by letting one side run more than two epochs ahead, PROTOCOL.md 5.5).
const SESSION_DEAD_MS: u64 = 600;
/// Units the phone remembers for replays (plus, for good, those of the earlier session).
const REMEMBERED: usize = 256;

/// The end-to-end session's configuration on both sides: a key update every 6 data records, so
/// that epochs change while the relay reorders, drops and replays (PROTOCOL.md 5.5).
fn churning_keys() -> SessionConfig {
    SessionConfig {
        key_update: KeyUpdatePolicy {
            records: 6,
            ..KeyUpdatePolicy::default()
        },
        ..SessionConfig::default()
    }
}

/// A distinct, recognisable message: who pushed it and its number (sizes vary a little).
fn message(who: &str, i: usize) -> Vec<u8> {
    let mut m = format!("{who}#{i}|").into_bytes();
    m.extend(std::iter::repeat_n(b'.', i % 23));
    m
}

fn show(m: &[u8]) -> String {
    String::from_utf8_lossy(m).into_owned()
}

/// The property every test asserts, as a value so that a test can also check that it fails when
/// it should: `applied` holds only messages of `pushed`, none twice, in push order (so a prefix
/// of it), and all of them when `complete`.
fn exactly_once(applied: &[Vec<u8>], pushed: &[Vec<u8>], complete: bool) -> Result<(), String> {
    let mut counts: HashMap<&[u8], usize> = HashMap::new();
    for m in pushed {
        *counts.entry(m).or_default() += 1;
    }
    assert!(
        counts.values().all(|&n| n == 1),
        "the test pushed a message twice: its checks would be blind"
    );
    counts.clear();
    for m in applied {
        let n = counts.entry(m).or_default();
        *n += 1;
        if *n > 1 {
            return Err(format!("applied twice: {}", show(m)));
        }
        if !pushed.contains(m) {
            return Err(format!("applied, never pushed: {}", show(m)));
        }
    }
    if !pushed.starts_with(applied) {
        return Err(format!(
            "applied out of push order: {:?}",
            applied.iter().map(|m| show(m)).collect::<Vec<_>>()
        ));
    }
    if complete && applied.len() != pushed.len() {
        return Err(format!(
            "{} of {} pushed messages applied",
            applied.len(),
            pushed.len()
        ));
    }
    Ok(())
}

/// Counts a refusal by its reason (an error, or what was out of place).
fn tally(counts: &mut BTreeMap<String, usize>, why: String) {
    *counts.entry(why).or_default() += 1;
}

fn note(counts: &mut BTreeMap<String, usize>, why: impl std::fmt::Debug) {
    tally(counts, format!("{why:?}"));
}

fn wrapped(index: RelayIndex, unit: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; unit.len() + RELAY_HEADER_LEN];
    let n = wrap(index, unit, &mut out).unwrap();
    assert_eq!(n, out.len());
    out
}

/// Seals one frame; on datagrams a key update record, when one is due, is its own unit.
fn seal(session: &mut Session, now: u64, plaintext: &[u8]) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; session.seal_capacity(plaintext.len())];
    let sealed = session.seal(Instant(now), plaintext, &mut buf).unwrap();
    sealed.units(&buf).map(<[u8]>::to_vec).collect()
}

fn index(i: u16) -> RelayIndex {
    RelayIndex::new(i).unwrap()
}

/// One side's delivery application: its endpoint, its database, what it pushed and has still to
/// push.
struct App {
    label: String,
    key: StorageKey,
    endpoint: Option<Endpoint<MemStorage>>,
    /// The database: what the application applied and the receiver state, written together.
    db_applied: Vec<Vec<u8>>,
    db_state: ReceiverState,
    /// Messages whose push returned, in push order.
    pushed: Vec<Vec<u8>>,
    /// Messages still to push (the outbox may be full).
    pending: VecDeque<Vec<u8>>,
    new_streams: Vec<(StreamId, Option<StreamId>)>,
    skipped: usize,
    /// Data frames of messages already applied (their acknowledgement was lost).
    duplicates: usize,
    /// Faulty application, to show the checks fail: applies the message of a duplicate too.
    apply_duplicates: bool,
    rng: ChaCha20Rng,
}

impl App {
    fn new(label: &str, slots: u32, seed: u64) -> App {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let key = StorageKey::new(key);
        let outbox = Outbox::open(
            MemStorage::new(slots, 128),
            &key,
            OutboxConfig::default(),
            &mut rng,
        )
        .unwrap();
        App {
            label: label.to_owned(),
            key,
            endpoint: Some(Endpoint::new(
                Sender::new(outbox, sender_config()).unwrap(),
                ReceiverState::NEW,
            )),
            db_applied: Vec::new(),
            db_state: ReceiverState::NEW,
            pushed: Vec::new(),
            pending: VecDeque::new(),
            new_streams: Vec::new(),
            skipped: 0,
            duplicates: 0,
            apply_duplicates: false,
            rng,
        }
    }

    fn queue(&mut self, count: usize) {
        let first = self.pushed.len() + self.pending.len();
        for i in first..first + count {
            let m = message(&self.label, i);
            self.pending.push_back(m);
        }
    }

    fn ep(&mut self) -> &mut Endpoint<MemStorage> {
        self.endpoint.as_mut().unwrap()
    }

    fn stream(&self) -> StreamId {
        self.endpoint.as_ref().unwrap().sender().outbox().stream()
    }

    fn unacknowledged(&self) -> u64 {
        self.endpoint.as_ref().unwrap().sender().unacknowledged()
    }

    /// Pushes the next pending message if the outbox has room; returns it.
    fn push_one(&mut self) -> Option<Vec<u8>> {
        let m = self.pending.front()?.clone();
        match self.ep().push(&m) {
            Ok(seq) => {
                assert_eq!(seq as usize, self.pushed.len() + 1, "{}", self.label);
                self.pushed.push(m.clone());
                self.pending.pop_front();
                Some(m)
            }
            Err(Error::Storage(StorageError::Full)) => None,
            Err(e) => panic!("{}: push failed: {e:?}", self.label),
        }
    }

    /// A crash: RAM is lost, the outbox storage and the database survive.
    fn reboot(&mut self) {
        let (sender, _) = self.endpoint.take().unwrap().into_parts();
        let storage = sender.into_outbox().into_storage();
        let outbox = Outbox::open(storage, &self.key, OutboxConfig::default(), &mut self.rng)
            .expect("a rebooted outbox opens");
        self.endpoint = Some(Endpoint::new(
            Sender::new(outbox, sender_config()).unwrap(),
            self.db_state,
        ));
    }

    fn on_reconnect(&mut self) {
        self.ep().on_reconnect();
    }

    /// Up to `max` frames due now.
    fn poll(&mut self, now: u64, max: usize) -> Vec<Vec<u8>> {
        let mut buf = [0u8; MAX_FRAME];
        let mut frames = Vec::new();
        while frames.len() < max {
            match self.ep().poll(now, &mut buf).unwrap() {
                Some(n) => frames.push(buf[..n].to_vec()),
                None => break,
            }
        }
        frames
    }

    /// One frame that opened in this side's session; returns frames to send back at once.
    fn receive(&mut self, frame: &[u8]) -> Vec<Vec<u8>> {
        let mut replies = Vec::new();
        let ep = self.endpoint.as_mut().unwrap();
        match ep.handle(frame) {
            Ok(Incoming::Message { seq, bytes, then }) => {
                assert_eq!(then.next, seq + 1);
                // The application's transaction: the effect and the state together.
                self.db_applied.push(bytes.to_vec());
                self.db_state = then;
                let mut buf = [0u8; 16];
                let n = ep.delivered(seq, &mut buf).unwrap();
                replies.push(buf[..n].to_vec());
            }
            Ok(Incoming::Duplicate { .. }) => {
                self.duplicates += 1;
                if self.apply_duplicates {
                    if let Ok(Frame::Data { message, .. }) = Frame::decode(frame) {
                        self.db_applied.push(message.to_vec());
                    }
                }
            }
            Ok(Incoming::NewStream {
                stream, previous, ..
            }) => self.new_streams.push((stream, previous)),
            Ok(Incoming::Skipped { .. }) => self.skipped += 1,
            Ok(_) => {}
            Err(e) => {
                // Every frame here is authentic. The only refusal a faithful peer causes is data
                // that the relay reordered ahead of its session's hello.
                let ack = matches!(Frame::decode(frame), Ok(Frame::Ack { .. }));
                assert!(!ack, "{}: an authentic ack was refused: {e:?}", self.label);
                assert_eq!(
                    e,
                    Error::Peer(PeerError::UnexpectedMessage),
                    "{}",
                    self.label
                );
            }
        }
        replies
    }

    fn finished(&self) -> bool {
        self.pending.is_empty() && self.unacknowledged() == 0
    }
}

fn sender_config() -> SenderConfig {
    SenderConfig {
        window: 4,
        resend_after_ms: RESEND_MS,
    }
}

fn relayed_config(party: &Party, session: SessionConfig) -> tether::HandshakeConfig<'_> {
    let mut cfg = config(
        party,
        Suite::ChaChaPolyBlake2s,
        FRAMING,
        ChannelKind::Relayed,
    );
    cfg.session = session;
    cfg
}

/// The device's end of session (a).
enum Relay {
    /// No session and no handshake: the next poll starts one.
    Idle,
    /// Message 0 sent (and resent), waiting for message 1.
    Handshaking {
        hs: Box<Handshake>,
        msg0: Vec<u8>,
        sent_at: u64,
    },
    Established {
        session: Box<Session>,
        /// Something authentic came on this session.
        heard: bool,
        last_heard: u64,
        /// A record failed to open since the last authentic one.
        failing: bool,
    },
}

struct Device {
    party: Party,
    cloud_key: PublicKey,
    /// The phone's number for this device's link.
    link: u32,
    in_range: bool,
    app: App,
    relay: Relay,
    session_config: SessionConfig,
    /// Replace a session that went quiet after this long; `None`: never.
    dead_ms: Option<u64>,
    /// Session (b), with the phone.
    own: Option<Session>,
    shown_to_phone: Vec<Vec<u8>>,
    from_phone: Vec<Vec<u8>>,
    handshakes: usize,
    refused: BTreeMap<String, usize>,
    rng: ChaCha20Rng,
}

impl Device {
    fn key(&self) -> PublicKey {
        self.party.key.public()
    }

    fn reboot(&mut self) {
        self.app.reboot();
        self.relay = Relay::Idle;
        self.own = None;
    }

    /// Relayed units (index 0) due now: a handshake message, or up to `max` sealed frames.
    fn poll(&mut self, now: u64, max: usize) -> Vec<Vec<u8>> {
        if let Relay::Established {
            heard,
            last_heard,
            failing,
            ..
        } = self.relay
        {
            let waiting = !heard || failing || self.app.unacknowledged() > 0;
            let quiet = self
                .dead_ms
                .is_some_and(|d| now.saturating_sub(last_heard) >= d);
            if waiting && quiet {
                self.relay = Relay::Idle;
            }
        }
        let mut out = Vec::new();
        if matches!(self.relay, Relay::Idle) {
            let cfg = relayed_config(&self.party, self.session_config);
            let mut hs = Initiator::provisioned(&cfg, &self.cloud_key, &mut self.rng).unwrap();
            let mut msg0 = vec![0u8; hs.next_message_len()];
            let n = hs.write_message(&mut msg0).unwrap();
            msg0.truncate(n);
            out.push(wrapped(RelayIndex::ZERO, &msg0));
            self.relay = Relay::Handshaking {
                hs: Box::new(hs),
                msg0,
                sent_at: now,
            };
            self.handshakes += 1;
            return out;
        }
        match &mut self.relay {
            Relay::Handshaking { msg0, sent_at, .. } => {
                if now.saturating_sub(*sent_at) >= HANDSHAKE_RETRY_MS {
                    out.push(wrapped(RelayIndex::ZERO, msg0));
                    *sent_at = now;
                }
            }
            Relay::Established { session, .. } => {
                for frame in self.app.poll(now, max) {
                    for unit in seal(session, now, &frame) {
                        out.push(wrapped(RelayIndex::ZERO, &unit));
                    }
                }
            }
            Relay::Idle => unreachable!(),
        }
        out
    }

    /// A unit from the phone; returns relayed units to send back.
    fn receive(&mut self, now: u64, unit: &[u8]) -> Vec<Vec<u8>> {
        match UnitType::of(FRAMING, unit) {
            Ok(UnitType::Relayed(i)) if i == RelayIndex::ZERO => {
                let inner = Relayed::parse(unit).unwrap().unit;
                self.receive_relayed(now, inner)
            }
            Ok(UnitType::Relayed(i)) => {
                // The device holds one relayed session, at index 0 (3.4).
                tally(&mut self.refused, format!("relayed at index {}", i.get()));
                Vec::new()
            }
            Ok(UnitType::Record(_)) => {
                self.receive_own(now, unit);
                Vec::new()
            }
            Ok(other) => {
                tally(&mut self.refused, format!("unwrapped {other:?}"));
                Vec::new()
            }
            Err(e) => {
                note(&mut self.refused, e);
                Vec::new()
            }
        }
    }

    fn receive_relayed(&mut self, now: u64, inner: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        match (UnitType::of(FRAMING, inner), &mut self.relay) {
            (Ok(UnitType::Handshake(1)), Relay::Handshaking { hs, .. }) => {
                match hs.read_message(inner, &mut accept_all, NOW) {
                    Ok(()) => {
                        let Relay::Handshaking { hs, .. } =
                            std::mem::replace(&mut self.relay, Relay::Idle)
                        else {
                            unreachable!()
                        };
                        let est = hs.finish(Instant(now)).unwrap();
                        assert_eq!(est.peer.static_key, self.cloud_key);
                        self.relay = Relay::Established {
                            session: Box::new(est.session),
                            heard: false,
                            last_heard: now,
                            failing: false,
                        };
                        self.app.on_reconnect();
                    }
                    Err(e) => {
                        // 4.10: a message that does not authenticate changes nothing, so the
                        // genuine reply can still complete the handshake.
                        assert!(!hs.is_failed(), "a refused message 1 ended the handshake");
                        note(&mut self.refused, e);
                    }
                }
            }
            (
                Ok(UnitType::Record(_)),
                Relay::Established {
                    session,
                    heard,
                    last_heard,
                    failing,
                },
            ) => {
                let mut plain = vec![0u8; inner.len()];
                match session.open(Instant(now), inner, &mut plain) {
                    Ok(event) => {
                        *heard = true;
                        *last_heard = now;
                        *failing = false;
                        if let Event::Data(frame) = event {
                            for reply in self.app.receive(frame) {
                                for unit in seal(session, now, &reply) {
                                    out.push(wrapped(RelayIndex::ZERO, &unit));
                                }
                            }
                        }
                    }
                    Err(e) => {
                        if e != Error::Peer(PeerError::Replayed) {
                            *failing = true;
                        }
                        note(&mut self.refused, e);
                    }
                }
            }
            (t, _) => tally(&mut self.refused, format!("relayed {t:?} out of turn")),
        }
        out
    }

    /// A unit of session (b).
    fn receive_own(&mut self, now: u64, unit: &[u8]) {
        let Some(session) = self.own.as_mut() else {
            tally(&mut self.refused, "own session: none".to_owned());
            return;
        };
        let mut plain = vec![0u8; unit.len()];
        match session.open(Instant(now), unit, &mut plain) {
            Ok(Event::Data(m)) => self.from_phone.push(m.to_vec()),
            Ok(_) => {}
            Err(e) => note(&mut self.refused, ("own session", e)),
        }
    }
}

/// A session at one uplink index, with the device it authenticated.
struct Live {
    session: Session,
    peer: PublicKey,
}

/// The cloud's state at one uplink index (3.4): the established session, the new handshake that
/// replaces it once a record opens under its keys (4.10), and the last message 0 answered.
#[derive(Default)]
struct Slot {
    current: Option<Live>,
    pending: Option<Live>,
    last_msg0: Vec<u8>,
    last_reply: Vec<u8>,
}

struct Cloud {
    party: Party,
    session_config: SessionConfig,
    /// The devices it serves (its trust policy).
    allowed: Vec<(Vec<u8>, PublicKey)>,
    /// One uplink connection: a slot per index.
    slots: BTreeMap<u16, Slot>,
    /// Per device (by its authenticated key, never by index): its application.
    apps: BTreeMap<[u8; 32], App>,
    handshakes: usize,
    switches: usize,
    refused: BTreeMap<String, usize>,
    /// Records refused by the sessions at an index (by index).
    refused_by_session: BTreeMap<u16, usize>,
    last_refusal: Option<(Option<u16>, String)>,
    rng: ChaCha20Rng,
}

impl Cloud {
    fn refuse(&mut self, at: Option<RelayIndex>, why: impl std::fmt::Debug) {
        let why = format!("{why:?}");
        tally(&mut self.refused, why.clone());
        self.last_refusal = Some((at.map(RelayIndex::get), why));
    }

    fn app(&mut self, device: &PublicKey) -> &mut App {
        self.apps.get_mut(&device.0).unwrap()
    }

    /// A unit from the uplink; returns relayed units for the downlink.
    fn receive(&mut self, now: u64, unit: &[u8]) -> Vec<Vec<u8>> {
        let relayed = match Relayed::parse(unit) {
            Ok(r) => r,
            Err(e) => {
                self.refuse(None, e);
                return Vec::new();
            }
        };
        let (at, inner) = (relayed.index, relayed.unit);
        match UnitType::of(FRAMING, inner) {
            Ok(UnitType::Handshake(0)) => self.handshake(now, at, inner),
            Ok(UnitType::Record(_)) => self.record(now, at, inner),
            Ok(other) => {
                self.refuse(Some(at), ("unexpected", other));
                Vec::new()
            }
            Err(e) => {
                self.refuse(Some(at), e);
                Vec::new()
            }
        }
    }

    fn handshake(&mut self, now: u64, at: RelayIndex, msg0: &[u8]) -> Vec<Vec<u8>> {
        if let Some(slot) = self.slots.get(&at.get()) {
            if slot.last_msg0 == msg0 {
                // 4.10: a copy of a message already answered gets the same reply.
                return vec![wrapped(at, &slot.last_reply)];
            }
        }
        let mut rcfg = responder_config(&self.party, FRAMING, ChannelKind::Relayed);
        rcfg.patterns = &[Pattern::Provisioned];
        rcfg.session = self.session_config;
        let allowed: Vec<(&[u8], PublicKey)> = self
            .allowed
            .iter()
            .map(|(id, key)| (id.as_slice(), *key))
            .collect();
        let mut policy = AllowList::new(&allowed);
        let mut hs = match Responder::accept(&rcfg, msg0, &mut policy, NOW, &mut self.rng) {
            Ok(hs) => hs,
            Err(e) => {
                self.refuse(Some(at), e);
                return Vec::new();
            }
        };
        let mut reply = vec![0u8; hs.next_message_len()];
        let n = hs.write_message(&mut reply).unwrap();
        reply.truncate(n);
        let est = hs.finish(Instant(now)).unwrap();
        let slot = self.slots.entry(at.get()).or_default();
        // 3.4 and 4.10: the session at this index stays until a record opens under the new keys
        // (a replayed message 0 also gets this far).
        slot.pending = Some(Live {
            session: est.session,
            peer: est.peer.static_key,
        });
        slot.last_msg0 = msg0.to_vec();
        slot.last_reply = reply.clone();
        self.handshakes += 1;
        vec![wrapped(at, &reply)]
    }

    fn record(&mut self, now: u64, at: RelayIndex, unit: &[u8]) -> Vec<Vec<u8>> {
        let Some(slot) = self.slots.get_mut(&at.get()) else {
            self.refuse(Some(at), "no session");
            return Vec::new();
        };
        let mut plain = vec![0u8; unit.len()];
        let mut failure = None;
        let mut opened: Option<(bool, Option<Vec<u8>>)> = None;
        if let Some(p) = slot.pending.as_mut() {
            match p.session.open(Instant(now), unit, &mut plain) {
                Ok(ev) => opened = Some((true, data(ev))),
                Err(e) => failure = Some(e),
            }
        }
        if opened.is_none() {
            if let Some(c) = slot.current.as_mut() {
                match c.session.open(Instant(now), unit, &mut plain) {
                    Ok(ev) => opened = Some((false, data(ev))),
                    Err(e) => failure = Some(e),
                }
            }
        }
        let Some((switch, frame)) = opened else {
            match failure {
                Some(e) => {
                    *self.refused_by_session.entry(at.get()).or_default() += 1;
                    self.refuse(Some(at), e);
                }
                None => self.refuse(Some(at), "no session"),
            }
            return Vec::new();
        };
        if switch {
            // The new handshake's first authentic record: this index now uses it, and any
            // other index's session with the same device is over.
            slot.current = slot.pending.take();
            let peer = slot.current.as_ref().unwrap().peer;
            for (i, s) in self.slots.iter_mut() {
                if *i != at.get() && s.current.as_ref().is_some_and(|c| c.peer == peer) {
                    s.current = None;
                }
            }
            self.switches += 1;
            self.app(&peer).on_reconnect();
        }
        let mut out = Vec::new();
        if let Some(frame) = frame {
            let live = self
                .slots
                .get_mut(&at.get())
                .and_then(|s| s.current.as_mut())
                .unwrap();
            let app = self.apps.get_mut(&live.peer.0).unwrap();
            for reply in app.receive(&frame) {
                for u in seal(&mut live.session, now, &reply) {
                    out.push(wrapped(at, &u));
                }
            }
        }
        out
    }

    /// Frames due for every device with a session, sealed and wrapped at its index.
    fn poll(&mut self, now: u64, max: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (key, app) in self.apps.iter_mut() {
            let Some((at, live)) = self.slots.iter_mut().find_map(|(i, s)| {
                s.current
                    .as_mut()
                    .filter(|c| c.peer.0 == *key)
                    .map(|c| (index(*i), c))
            }) else {
                continue;
            };
            for frame in app.poll(now, max) {
                for u in seal(&mut live.session, now, &frame) {
                    out.push(wrapped(at, &u));
                }
            }
        }
        out
    }

    /// The index of the device's session, if it has one.
    fn index_of(&self, device: &PublicKey) -> Option<u16> {
        self.slots
            .iter()
            .find(|(_, s)| s.current.as_ref().is_some_and(|c| c.peer == *device))
            .map(|(i, _)| *i)
    }
}

fn data(event: Event<'_>) -> Option<Vec<u8>> {
    match event {
        Event::Data(d) => Some(d.to_vec()),
        _ => None,
    }
}

/// The phone: its relay table, and its own session (b) with each device.
struct Phone {
    party: Party,
    table: RelayTable,
    own: BTreeMap<u32, Session>,
    /// Readings each device showed it over (b).
    readings: BTreeMap<u32, Vec<Vec<u8>>>,
    /// What it sent each device over (b).
    said: BTreeMap<u32, Vec<Vec<u8>>>,
    refused: BTreeMap<String, usize>,
}

/// Session (b): `KK`, the device initiating, as after pairing (tests/short_code.rs). Returns the
/// device's session, the phone's, and the two handshake units.
fn pair_own(device: &Party, phone: &Party, seed: u64) -> (Session, Session, Vec<Vec<u8>>) {
    let cfg = config(
        device,
        Suite::ChaChaPolyBlake2s,
        FRAMING,
        ChannelKind::DevicePhone,
    );
    let mut rcfg = responder_config(phone, FRAMING, ChannelKind::DevicePhone);
    rcfg.known_initiator = Some(device.key.public());
    rcfg.patterns = &[Pattern::Reconnect];
    let hs = Initiator::reconnect(
        &cfg,
        &phone.key.public(),
        &mut ChaCha20Rng::seed_from_u64(seed),
    )
    .unwrap();
    let (d, p, transcript) = drive(
        hs,
        &rcfg,
        &mut accept_all,
        &mut accept_all,
        &mut ChaCha20Rng::seed_from_u64(seed ^ 0x5555),
    )
    .unwrap();
    let units = transcript.into_iter().map(|(_, u)| u).collect();
    (d.session, p.session, units)
}

/// Units of an earlier session (a) of `device` with the cloud, as a phone could have recorded
/// them: its handshake, and records carrying frames in the streams the applications use now, so
/// that a replay that got through would show as an invented message (or a forged ack).
fn earlier_session(
    device: &Party,
    cloud: &Party,
    device_stream: StreamId,
    cloud_stream: StreamId,
) -> Vec<Vec<u8>> {
    let icfg = relayed_config(device, churning_keys());
    let mut rcfg = responder_config(cloud, FRAMING, ChannelKind::Relayed);
    rcfg.patterns = &[Pattern::Provisioned];
    let hs = Initiator::provisioned(
        &icfg,
        &cloud.key.public(),
        &mut ChaCha20Rng::seed_from_u64(0xE0),
    )
    .unwrap();
    let (mut d, mut c, transcript) = drive(
        hs,
        &rcfg,
        &mut accept_all,
        &mut accept_all,
        &mut ChaCha20Rng::seed_from_u64(0xE1),
    )
    .unwrap();
    let mut units: Vec<Vec<u8>> = transcript
        .iter()
        .map(|(_, u)| wrapped(RelayIndex::ZERO, u))
        .collect();
    let frame = |f: Frame<'_>| {
        let mut buf = [0u8; 64];
        let n = f.encode(&mut buf).unwrap();
        buf[..n].to_vec()
    };
    let up = [
        frame(Frame::Hello {
            stream: device_stream,
            first_seq: 1,
        }),
        frame(Frame::Data {
            seq: 1,
            message: &b"OLD reading, never pushed"[..],
        }),
        frame(Frame::Data {
            seq: 2,
            message: &b"OLD reading 2"[..],
        }),
        frame(Frame::Ack { seq: 40 }),
    ];
    let down = [
        frame(Frame::Hello {
            stream: cloud_stream,
            first_seq: 1,
        }),
        frame(Frame::Data {
            seq: 1,
            message: &b"OLD command, never pushed"[..],
        }),
        // Would free readings the cloud never applied.
        frame(Frame::Ack { seq: 3 }),
    ];
    for f in &up {
        for u in seal(&mut d.session, 0, f) {
            units.push(wrapped(RelayIndex::ZERO, &u));
        }
    }
    for f in &down {
        for u in seal(&mut c.session, 0, f) {
            units.push(wrapped(RelayIndex::ZERO, &u));
        }
    }
    units
}

/// The devices, the phone between them and the cloud, and what is in flight.
struct World {
    now: u64,
    devices: Vec<Device>,
    cloud: Cloud,
    phone: Phone,
    /// The phone's uplink works.
    uplink: bool,
    /// Relayed units the phone received from devices and has not forwarded.
    up: VecDeque<(u32, Vec<u8>)>,
    /// Relayed units the phone received from the cloud and has not forwarded.
    down: VecDeque<Vec<u8>>,
    /// What the phone recorded, for replays: units of an earlier session, then recent ones.
    old: Vec<Vec<u8>>,
    seen: VecDeque<Vec<u8>>,
    /// Units of session (b), to re-wrap as relayed units.
    own_units: VecDeque<Vec<u8>>,
    seed: u64,
    /// Outbox slots of every application, and session (a)'s configuration, for new devices.
    slots: u32,
    session_config: SessionConfig,
    /// Per device, messages applied (by the cloud, by the device) before the clean tail.
    under_attack: Vec<(usize, usize)>,
}

impl World {
    /// Outboxes of 8 slots (so they fill up under attack) and keys that change every 6 records.
    fn new(devices: usize, table_capacity: usize, seed: u64) -> World {
        World::with(devices, table_capacity, seed, 8, churning_keys())
    }

    fn with(
        devices: usize,
        table_capacity: usize,
        seed: u64,
        slots: u32,
        session_config: SessionConfig,
    ) -> World {
        let cloud_party = common::cloud();
        let mut w = World {
            now: 1_000,
            devices: Vec::new(),
            cloud: Cloud {
                party: cloud_party,
                session_config,
                allowed: Vec::new(),
                slots: BTreeMap::new(),
                apps: BTreeMap::new(),
                handshakes: 0,
                switches: 0,
                refused: BTreeMap::new(),
                refused_by_session: BTreeMap::new(),
                last_refusal: None,
                rng: ChaCha20Rng::seed_from_u64(seed ^ 0xC10D),
            },
            phone: Phone {
                party: common::phone(),
                table: RelayTable::new(table_capacity).unwrap(),
                own: BTreeMap::new(),
                readings: BTreeMap::new(),
                said: BTreeMap::new(),
                refused: BTreeMap::new(),
            },
            uplink: true,
            up: VecDeque::new(),
            down: VecDeque::new(),
            old: Vec::new(),
            seen: VecDeque::new(),
            own_units: VecDeque::new(),
            seed,
            slots,
            session_config,
            under_attack: Vec::new(),
        };
        for _ in 0..devices {
            w.add_device();
        }
        let d = &w.devices[0];
        let streams = (d.app.stream(), w.cloud.apps[&d.key().0].stream());
        // Made once (a handshake costs a tenth of a second in a debug build): the streams, and
        // so the units, are the same in every world.
        static EARLIER: OnceLock<(StreamId, StreamId, Vec<Vec<u8>>)> = OnceLock::new();
        let (device_stream, cloud_stream, units) = EARLIER.get_or_init(|| {
            let units = earlier_session(&d.party, &w.cloud.party, streams.0, streams.1);
            (streams.0, streams.1, units)
        });
        assert_eq!((*device_stream, *cloud_stream), streams);
        w.old = units.clone();
        w
    }

    /// A device paired with the phone and registered with the cloud; returns its position.
    fn add_device(&mut self) -> usize {
        let n = self.devices.len();
        let party = if n == 0 {
            common::device()
        } else {
            party(0x10 + n as u8, &format!("SN-10{n}"), "GlucoseMonitor G1")
        };
        let seed = self.seed.wrapping_mul(31).wrapping_add(n as u64);
        // The applications' seeds (so their stream ids) depend on the device's position only.
        let app_seed = 0xA99 + n as u64;
        let link = 0x40 + n as u32;
        let key = party.key.public();
        self.cloud.allowed.push((party.identity.id().to_vec(), key));
        let cloud_app = App::new(&format!("cmd{n}"), self.slots, app_seed ^ 0xA);
        self.cloud.apps.insert(key.0, cloud_app);
        let (mine, phones, units) = pair_own(&party, &self.phone.party, seed ^ 0xB);
        self.own_units.extend(units);
        self.phone.own.insert(link, phones);
        self.phone.readings.insert(link, Vec::new());
        self.phone.said.insert(link, Vec::new());
        self.devices.push(Device {
            party,
            cloud_key: self.cloud.party.key.public(),
            link,
            in_range: true,
            app: App::new(&format!("dev{n}"), self.slots, app_seed ^ 0xD),
            relay: Relay::Idle,
            session_config: self.session_config,
            dead_ms: Some(SESSION_DEAD_MS),
            own: Some(mine),
            shown_to_phone: Vec::new(),
            from_phone: Vec::new(),
            handshakes: 0,
            refused: BTreeMap::new(),
            rng: ChaCha20Rng::seed_from_u64(seed ^ 0xE),
        });
        n
    }

    fn cloud_app(&self, d: usize) -> &App {
        &self.cloud.apps[&self.devices[d].key().0]
    }

    fn remember(&mut self, unit: &[u8]) {
        if self.seen.len() == REMEMBERED {
            self.seen.pop_front();
        }
        self.seen.push_back(unit.to_vec());
    }

    fn remember_own(&mut self, unit: &[u8]) {
        if self.own_units.len() == 64 {
            self.own_units.pop_front();
        }
        self.own_units.push_back(unit.to_vec());
    }

    /// Units a device sent over BLE: the phone has them if the device is in range.
    fn units_from_device(&mut self, d: usize, units: Vec<Vec<u8>>) {
        if !self.devices[d].in_range {
            return;
        }
        let link = self.devices[d].link;
        for u in units {
            self.remember(&u);
            self.up.push_back((link, u));
        }
    }

    /// Whatever the phone writes on its uplink.
    fn write_uplink(&mut self, unit: &[u8]) {
        if !self.uplink {
            return;
        }
        for r in self.cloud.receive(self.now, unit) {
            self.remember(&r);
            self.down.push_back(r);
        }
    }

    /// Whatever the phone writes to a device's link.
    fn write_device(&mut self, link: u32, unit: &[u8]) {
        let now = self.now;
        let Some(d) = self.devices.iter().position(|d| d.link == link) else {
            return;
        };
        if !self.devices[d].in_range {
            return;
        }
        let replies = self.devices[d].receive(now, unit);
        self.units_from_device(d, replies);
    }

    /// The phone relays a unit from a device, as a relay should.
    fn forward_up(&mut self, link: u32, mut unit: Vec<u8>) {
        match self.phone.table.up(link, &mut unit) {
            Ok(_) => self.write_uplink(&unit),
            Err(e) => note(&mut self.phone.refused, ("up", e)),
        }
    }

    /// The phone relays a unit from the cloud, as a relay should.
    fn forward_down(&mut self, mut unit: Vec<u8>) {
        match self.phone.table.down(&mut unit) {
            Ok(route) => self.write_device(route.link, &unit),
            Err(e) => note(&mut self.phone.refused, ("down", e)),
        }
    }

    fn device_poll(&mut self, d: usize, max: usize) {
        let now = self.now;
        let units = self.devices[d].poll(now, max);
        self.units_from_device(d, units);
    }

    fn cloud_poll(&mut self, max: usize) {
        let now = self.now;
        for u in self.cloud.poll(now, max) {
            if self.uplink {
                self.remember(&u);
                self.down.push_back(u);
            }
        }
    }

    /// The device pushes its next reading and, when the phone is in range, shows it to the
    /// phone over (b).
    fn device_push(&mut self, d: usize) {
        let now = self.now;
        let Some(reading) = self.devices[d].app.push_one() else {
            return;
        };
        let dev = &mut self.devices[d];
        let (Some(own), true) = (dev.own.as_mut(), dev.in_range) else {
            return;
        };
        let units = seal(own, now, &reading);
        dev.shown_to_phone.push(reading);
        let link = dev.link;
        for u in units {
            self.remember_own(&u);
            let session = self.phone.own.get_mut(&link).unwrap();
            let mut plain = vec![0u8; u.len()];
            // The phone is faithful on its own session, and the device's link to it is direct.
            match session.open(Instant(now), &u, &mut plain).unwrap() {
                Event::Data(m) => self.phone.readings.get_mut(&link).unwrap().push(m.to_vec()),
                other => panic!("phone got {other:?}"),
            }
        }
    }

    /// The phone sends a device a message of its own over (b).
    fn phone_says(&mut self, d: usize) {
        let link = self.devices[d].link;
        let said = self.phone.said.get_mut(&link).unwrap();
        let text = format!("phone->{link}#{}", said.len()).into_bytes();
        said.push(text.clone());
        let units = seal(self.phone.own.get_mut(&link).unwrap(), self.now, &text);
        for u in units {
            self.remember_own(&u);
            self.write_device(link, &u);
        }
    }

    /// A device reboots: the outbox storage and the database survive, the sessions do not. It
    /// pairs with the phone again over (b) (KK).
    fn reboot(&mut self, d: usize) {
        let seed = self.seed ^ self.now;
        let dev = &mut self.devices[d];
        dev.reboot();
        let (mine, phones, units) = pair_own(&dev.party, &self.phone.party, seed);
        dev.own = Some(mine);
        self.phone.own.insert(dev.link, phones);
        for u in units {
            self.remember_own(&u);
        }
    }

    fn queue(&mut self, d: usize, readings: usize, commands: usize) {
        self.devices[d].app.queue(readings);
        let key = self.devices[d].key();
        self.cloud.app(&key).queue(commands);
    }

    /// Every device in range and its cloud application have pushed and had acknowledged
    /// everything.
    fn done(&self) -> bool {
        self.uplink
            && self
                .devices
                .iter()
                .enumerate()
                .all(|(i, d)| !d.in_range || (d.app.finished() && self.cloud_app(i).finished()))
    }

    /// One round of a faithful phone: everyone pushes and polls, and everything in flight is
    /// relayed; time moves on (more when nothing moved, so that resends come due).
    fn round(&mut self, max: usize) {
        for d in 0..self.devices.len() {
            if self.devices[d].in_range {
                self.device_push(d);
            }
        }
        for app in self.cloud.apps.values_mut() {
            app.push_one();
        }
        for d in 0..self.devices.len() {
            self.device_poll(d, max);
        }
        self.cloud_poll(max);
        let mut moved = false;
        loop {
            if let Some((link, u)) = self.up.pop_front() {
                self.forward_up(link, u);
            } else if let Some(u) = self.down.pop_front() {
                self.forward_down(u);
            } else {
                break;
            }
            moved = true;
        }
        self.now += if moved { 1 } else { RESEND_MS };
    }

    /// The phone behaves from now on: everything pushed gets through.
    fn settle(&mut self) {
        for _ in 0..20_000 {
            if self.done() {
                return;
            }
            self.round(8);
        }
        panic!("did not settle:\n{}", self.describe());
    }

    fn describe(&self) -> String {
        let mut s = format!("now {}\n", self.now);
        for (i, d) in self.devices.iter().enumerate() {
            let state = match &d.relay {
                Relay::Idle => "idle".to_owned(),
                Relay::Handshaking { .. } => "handshaking".to_owned(),
                Relay::Established {
                    heard, last_heard, ..
                } => format!("established heard={heard} last_heard={last_heard}"),
            };
            let c = self.cloud_app(i);
            s += &format!(
                "device {i}: {state}, handshakes {}, pending {} unacked {}, applied {}/{}; \
                 cloud app pending {} unacked {}, applied {}/{}, at index {:?}\n  refused {:?}\n",
                d.handshakes,
                d.app.pending.len(),
                d.app.unacknowledged(),
                d.app.db_applied.len(),
                c.pushed.len(),
                c.pending.len(),
                c.unacknowledged(),
                c.db_applied.len(),
                d.app.pushed.len(),
                self.cloud.index_of(&d.key()),
                d.refused,
            );
        }
        s + &format!(
            "cloud refused {:?}\nphone refused {:?}\n",
            self.cloud.refused, self.phone.refused
        )
    }

    /// What holds at every moment, whatever the phone does: each application applied a prefix
    /// of what its peer pushed, and session (b) carried exactly what was sent on it.
    fn check_safety(&self) -> Result<(), String> {
        for (i, d) in self.devices.iter().enumerate() {
            let c = self.cloud_app(i);
            exactly_once(&c.db_applied, &d.app.pushed, false)
                .map_err(|e| format!("cloud, device {i}: {e}"))?;
            exactly_once(&d.app.db_applied, &c.pushed, false)
                .map_err(|e| format!("device {i}: {e}"))?;
            if self.phone.readings[&d.link] != d.shown_to_phone {
                return Err(format!("phone's readings of device {i} differ"));
            }
            if d.from_phone != self.phone.said[&d.link] {
                return Err(format!("device {i} got other phone messages than sent"));
            }
        }
        Ok(())
    }

    /// After `settle`: everything arrived, once, and the streams are the peers' own.
    fn check_complete(&self) -> Result<(), String> {
        self.check_safety()?;
        for (i, d) in self.devices.iter().enumerate().filter(|(_, d)| d.in_range) {
            let c = self.cloud_app(i);
            exactly_once(&c.db_applied, &d.app.pushed, true)
                .map_err(|e| format!("cloud, device {i}: {e}"))?;
            exactly_once(&d.app.db_applied, &c.pushed, true)
                .map_err(|e| format!("device {i}: {e}"))?;
            if c.skipped + d.app.skipped > 0 {
                return Err(format!("device {i}: messages skipped"));
            }
            for (stream, previous) in &c.new_streams {
                if (*stream, *previous) != (d.app.stream(), None) {
                    return Err(format!("cloud followed another stream for device {i}"));
                }
            }
            for (stream, previous) in &d.app.new_streams {
                if (*stream, *previous) != (c.stream(), None) {
                    return Err(format!("device {i} followed another stream"));
                }
            }
        }
        Ok(())
    }

    /// Session (b) still works: one more message each way arrives.
    fn check_own_session(&mut self, d: usize) {
        let link = self.devices[d].link;
        let (shown, heard) = (
            self.phone.readings[&link].len(),
            self.devices[d].from_phone.len(),
        );
        self.devices[d].app.queue(1);
        self.device_push(d);
        self.phone_says(d);
        let dev = &self.devices[d];
        assert_eq!(self.phone.readings[&link].len(), shown + 1);
        assert_eq!(dev.from_phone.len(), heard + 1);
        assert_eq!(self.phone.readings[&link], dev.shown_to_phone);
        assert_eq!(dev.from_phone, self.phone.said[&link]);
    }

    /// One step of the adversarial phone (test 1). `up`: the device-to-cloud direction, or the
    /// cloud as target.
    fn apply(&mut self, op: &Op) {
        match *op {
            Op::DevicePush => {
                for d in 0..self.devices.len() {
                    self.device_push(d);
                }
            }
            Op::CloudPush => {
                for app in self.cloud.apps.values_mut() {
                    app.push_one();
                }
            }
            Op::DevicePoll => {
                for d in 0..self.devices.len() {
                    self.device_poll(d, 4);
                }
            }
            Op::CloudPoll => self.cloud_poll(4),
            Op::PhoneSays => self.phone_says(0),
            Op::Tick(ms) => self.now += ms,
            Op::Reboot => self.reboot(0),
            Op::Forward(true, i) => {
                if let Some((l, u)) = take(&mut self.up, i) {
                    self.forward_up(l, u);
                }
            }
            Op::Forward(false, i) => {
                if let Some(u) = take(&mut self.down, i) {
                    self.forward_down(u);
                }
            }
            Op::Flush(true) => {
                for (l, u) in std::mem::take(&mut self.up) {
                    self.forward_up(l, u);
                }
            }
            Op::Flush(false) => {
                for u in std::mem::take(&mut self.down) {
                    self.forward_down(u);
                }
            }
            Op::Blackout(true) => self.up.clear(),
            Op::Blackout(false) => self.down.clear(),
            Op::Drop(up, i) => {
                if up {
                    take(&mut self.up, i);
                } else {
                    take(&mut self.down, i);
                }
            }
            Op::Duplicate(up, i) => {
                if up && !self.up.is_empty() {
                    let copy = self.up[i % self.up.len()].clone();
                    self.up.push_back(copy);
                } else if !up && !self.down.is_empty() {
                    let copy = self.down[i % self.down.len()].clone();
                    self.down.push_back(copy);
                }
            }
            Op::Flip(up, i, bit) => {
                let unit = if up {
                    let n = self.up.len();
                    self.up.get_mut(i % n.max(1)).map(|(_, u)| u)
                } else {
                    let n = self.down.len();
                    self.down.get_mut(i % n.max(1))
                };
                if let Some(u) = unit.filter(|u| !u.is_empty()) {
                    let bit = bit % (u.len() * 8);
                    u[bit / 8] ^= 1 << (bit % 8);
                }
            }
            Op::Reindex(true, i, to) => {
                // A device's unit written on the uplink under another index (another device's
                // session, or none yet), bypassing the table.
                if let Some((_, mut u)) = take(&mut self.up, i) {
                    let _ = rewrite_index(&mut u, index(to));
                    self.write_uplink(&u);
                }
            }
            Op::Reindex(false, i, to) => {
                // A cloud unit given another uplink index, then routed by the table: to the
                // device of that index, if any (else to device 0 as it is).
                if let Some(mut u) = take(&mut self.down, i) {
                    let _ = rewrite_index(&mut u, index(to));
                    let mut routed = u.clone();
                    match self.phone.table.down(&mut routed) {
                        Ok(route) => self.write_device(route.link, &routed),
                        Err(_) => self.send(false, &u),
                    }
                }
            }
            Op::Swap(up, i) => {
                // Back the way it came: the device's unit to the device, the cloud's to the
                // cloud.
                if up {
                    if let Some((l, u)) = take(&mut self.up, i) {
                        self.write_device(l, &u);
                    }
                } else if let Some(u) = take(&mut self.down, i) {
                    self.write_uplink(&u);
                }
            }
            Op::Unwrap(up, i) => {
                let unit = if up {
                    take(&mut self.up, i).map(|(_, u)| u)
                } else {
                    take(&mut self.down, i)
                };
                if let Some(u) = unit {
                    let bare = Relayed::parse(&u).map_or(u.clone(), |r| r.unit.to_vec());
                    self.send(up, &bare);
                }
            }
            Op::Replay(to_cloud, k) => {
                if let Some(u) = self.recorded(k) {
                    self.send(to_cloud, &u);
                }
            }
            Op::Mangle(to_cloud, k, keep, seed) => {
                // A recorded unit with its first bytes kept (envelope, kind, counter...) and the
                // rest random, at its length: forgeries that pass every size check.
                if let Some(mut u) = self.recorded(k) {
                    let keep = keep.min(u.len());
                    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut u[keep..]);
                    self.send(to_cloud, &u);
                }
            }
            Op::Random(to_cloud, len, seed) => {
                let mut u = vec![0u8; len];
                ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut u);
                self.send(to_cloud, &u);
            }
            Op::RandomRelayed(to_cloud, at, kind, len, seed) => {
                let mut u = vec![0u8; len.max(1)];
                ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut u);
                // A first byte that looks right: a record of any type and epoch, an IK message
                // 0 (suite, pattern) or a message 1.
                match kind % 4 {
                    0 => u[0] = 0x10 | (u[0] & 0x0B),
                    1 => {
                        u[0] = 0x50;
                        u.insert(1, 1);
                        u.insert(2, 1);
                    }
                    2 => u[0] = 0x54,
                    _ => {}
                }
                let u = wrapped(index(at), &u);
                self.send(to_cloud, &u);
            }
            Op::RewrapOwn(to_cloud, k, at) => {
                // A unit of the phone's own session (b), as a relayed unit of session (a).
                if !self.own_units.is_empty() {
                    let u = self.own_units[k % self.own_units.len()].clone();
                    let u = wrapped(index(at), &u);
                    self.send(to_cloud, &u);
                }
            }
        }
    }

    fn recorded(&self, k: usize) -> Option<Vec<u8>> {
        let n = self.old.len() + self.seen.len();
        if n == 0 {
            return None;
        }
        let k = k % n;
        Some(if k < self.old.len() {
            self.old[k].clone()
        } else {
            self.seen[k - self.old.len()].clone()
        })
    }

    fn send(&mut self, to_cloud: bool, unit: &[u8]) {
        if to_cloud {
            self.write_uplink(unit);
        } else {
            let link = self.devices[0].link;
            self.write_device(link, unit);
        }
    }
}

fn take<T>(q: &mut VecDeque<T>, i: usize) -> Option<T> {
    if q.is_empty() {
        None
    } else {
        q.remove(i % q.len())
    }
}

/// One step of the adversarial phone. `true`: the direction from device to cloud, or the cloud
/// as the target.
#[derive(Debug, Clone)]
enum Op {
    DevicePush,
    CloudPush,
    DevicePoll,
    CloudPoll,
    PhoneSays,
    Tick(u64),
    Reboot,
    /// Relay the i-th unit waiting (any of them: reordering), as a relay should.
    Forward(bool, usize),
    /// Relay everything waiting in that direction, in order.
    Flush(bool),
    /// Drop everything waiting in that direction.
    Blackout(bool),
    Drop(bool, usize),
    Duplicate(bool, usize),
    /// Flip one bit of a waiting unit, which stays in the queue.
    Flip(bool, usize, usize),
    Reindex(bool, usize, u16),
    Swap(bool, usize),
    Unwrap(bool, usize),
    Replay(bool, usize),
    Mangle(bool, usize, usize, u64),
    Random(bool, usize, u64),
    RandomRelayed(bool, u16, u8, usize, u64),
    RewrapOwn(bool, usize, u16),
}

fn some_index() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => Just(0u16),
        1 => Just(1u16),
        1 => Just(RelayIndex::MAX.get()),
        1 => 0u16..RELAY_INDEXES as u16,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    // Which waiting unit: mostly the oldest (so that things move), sometimes any (reordering).
    let i = || prop_oneof![4 => Just(0usize), 1 => 0usize..16];
    prop_oneof![
        4 => Just(Op::DevicePush),
        2 => Just(Op::CloudPush),
        5 => Just(Op::DevicePoll),
        4 => Just(Op::CloudPoll),
        1 => Just(Op::PhoneSays),
        4 => (1u64..=RESEND_MS).prop_map(Op::Tick),
        14 => (any::<bool>(), i()).prop_map(|(u, i)| Op::Forward(u, i)),
        2 => any::<bool>().prop_map(Op::Flush),
        1 => any::<bool>().prop_map(Op::Blackout),
        3 => (any::<bool>(), i()).prop_map(|(u, i)| Op::Drop(u, i)),
        2 => (any::<bool>(), i()).prop_map(|(u, i)| Op::Duplicate(u, i)),
        1 => (any::<bool>(), i(), any::<usize>()).prop_map(|(u, i, b)| Op::Flip(u, i, b)),
        1 => (any::<bool>(), i(), some_index()).prop_map(|(u, i, x)| Op::Reindex(u, i, x)),
        1 => (any::<bool>(), i()).prop_map(|(u, i)| Op::Swap(u, i)),
        1 => (any::<bool>(), i()).prop_map(|(u, i)| Op::Unwrap(u, i)),
        2 => (any::<bool>(), any::<usize>()).prop_map(|(c, k)| Op::Replay(c, k)),
        1 => (any::<bool>(), any::<usize>(), 1usize..12, any::<u64>())
            .prop_map(|(c, k, keep, s)| Op::Mangle(c, k, keep, s)),
        1 => (any::<bool>(), 0usize..80, any::<u64>()).prop_map(|(c, l, s)| Op::Random(c, l, s)),
        1 => (any::<bool>(), some_index(), any::<u8>(), 1usize..140, any::<u64>())
            .prop_map(|(c, x, k, l, s)| Op::RandomRelayed(c, x, k, l, s)),
        1 => (any::<bool>(), any::<usize>(), some_index())
            .prop_map(|(c, k, x)| Op::RewrapOwn(c, k, x)),
    ]
}

/// Ops with a rare reboot of the device mixed in.
fn op_or_reboot() -> impl Strategy<Value = Op> {
    prop_oneof![100 => op(), 1 => Just(Op::Reboot)]
}

/// Runs the adversary's `ops` against `devices` devices (its targeted attacks aim at device 0,
/// whose index is 0 on both hops; device 1's session is at uplink index 1, one of the indexes the
/// phone rewrites to most), then a faithful phone until everything arrived. Every step is
/// checked for safety unless the cloud's application is `faulty`.
fn attack(ops: &[Op], devices: usize, messages: (usize, usize), seed: u64, faulty: bool) -> World {
    let mut w = World::new(devices, 16, seed);
    for d in 0..devices {
        w.queue(d, messages.0 >> d, messages.1 >> d);
    }
    for app in w.cloud.apps.values_mut() {
        app.apply_duplicates = faulty;
    }
    for op in ops {
        w.apply(op);
        if !faulty {
            if let Err(e) = w.check_safety() {
                panic!("after {op:?}: {e}\n{}", w.describe());
            }
        }
    }
    w.under_attack = (0..devices)
        .map(|d| {
            let c = w.cloud_app(d);
            (c.db_applied.len(), w.devices[d].app.db_applied.len())
        })
        .collect();
    // The clean tail: the phone relays faithfully, everything pushed gets through.
    w.up.clear();
    w.down.clear();
    w.settle();
    w
}

/// The same adversary, drawn from a fixed seed (so it needs no proptest run to reproduce).
fn seeded_ops(seed: u8, count: usize) -> Vec<Op> {
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    );
    proptest::collection::vec(op_or_reboot(), count)
        .new_tree(&mut runner)
        .unwrap()
        .current()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 16,
        rng_seed: RngSeed::Fixed(0x7e7e_0304),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Test 1 under proptest: whatever the phone does, nothing is invented or applied twice (at
    /// every step), (b) keeps working, and a faithful tail delivers everything.
    #[test]
    fn a_malicious_phone_can_delay_but_not_forge(
        ops in proptest::collection::vec(op_or_reboot(), 0..240),
        readings in 0usize..16,
        commands in 0usize..8,
        seed in any::<u64>(),
    ) {
        let mut w = attack(&ops, 2, (readings, commands), seed, false);
        if let Err(e) = w.check_complete() {
            panic!("{e}\n{}", w.describe());
        }
        w.check_own_session(0);
        w.check_own_session(1);
    }
}

fn count(tally: &BTreeMap<String, usize>, what: &str) -> usize {
    tally
        .iter()
        .filter(|(k, _)| k.contains(what))
        .map(|(_, n)| n)
        .sum()
}

/// Test 1 as a long fixed run, with counts that show the adversary reached every path it should
/// (so that a run in which nothing happened would fail here).
#[test]
fn a_long_seeded_attack_through_the_phone() {
    let ops = seeded_ops(1, 1500);
    let mut w = attack(&ops, 2, (40, 12), 11, false);
    w.check_complete().unwrap();
    assert_eq!(w.devices[0].app.pushed.len(), 40);
    assert_eq!(w.cloud_app(0).pushed.len(), 12);
    assert_eq!(w.devices[1].app.pushed.len(), 20);
    eprintln!(
        "under attack {:?}; duplicates at cloud {} device {}; handshakes {} (cloud {}, switches \
         {}); device refused {:?}; cloud refused {:?} by session {:?}; phone refused {:?}",
        w.under_attack,
        w.cloud_app(0).duplicates,
        w.devices[0].app.duplicates,
        w.devices[0].handshakes,
        w.cloud.handshakes,
        w.cloud.switches,
        w.devices[0].refused,
        w.cloud.refused,
        w.cloud.refused_by_session,
        w.phone.refused
    );
    let auth = format!("{:?}", Error::Peer(PeerError::Authentication));
    let replayed = format!("{:?}", Error::Peer(PeerError::Replayed));
    let d = &w.devices[0];
    // Messages went both ways during the attack, and some came twice (lost acknowledgements):
    // the per-step checks had something to check.
    let (up, down) = w.under_attack[0];
    assert!(up > 5 && down > 2, "{:?}", w.under_attack);
    assert!(w.cloud_app(0).duplicates > 0 && d.app.duplicates > 0);
    // Forgeries and misrouted units reached both ends and were refused by authentication; units
    // rewritten to uplink index 1 reached device 1's sessions, which refused them (by
    // authentication, or before it by their counter or epoch, 5.6) ...
    assert!(count(&w.cloud.refused, &auth) > 10);
    assert!(count(&d.refused, &auth) > 10);
    assert!(w.cloud.refused_by_session.get(&1).copied().unwrap_or(0) > 0);
    let peer_errors = |dev: &Device| count(&dev.refused, "Peer(") - count(&dev.refused, "own");
    assert!(peer_errors(&w.devices[1]) > 0, "{:?}", w.devices[1].refused);
    // ... replays by the replay window ...
    assert!(count(&w.cloud.refused, &replayed) > 0);
    assert!(count(&d.refused, &replayed) > 0);
    // ... (b)'s units, re-wrapped or sent back, failed on the device's sessions ...
    assert!(count(&d.refused, "own session") > 0);
    // ... the device made new handshakes after the phone broke its session, and the cloud
    // switched sessions only when the device's records opened under the new keys (replayed
    // message 0s made handshakes that never did).
    assert!(d.handshakes > 1);
    assert!(w.cloud.handshakes > w.cloud.switches);
    assert!(w.cloud.switches > 1);
    w.check_own_session(0);
    w.check_own_session(1);
}

/// The checks can fail: a cloud application that applies the message of a duplicate frame (it
/// ignores the receiver's verdict) is caught by the same adversary.
#[test]
fn the_checks_catch_an_application_that_applies_duplicates() {
    let ops = seeded_ops(1, 600);
    let w = attack(&ops, 1, (20, 0), 11, true);
    let e = w.check_complete().unwrap_err();
    assert!(e.contains("applied twice"), "{e}");
    // And the check itself, on lists made by hand.
    let p: Vec<Vec<u8>> = (0..3).map(|i| message("x", i)).collect();
    assert!(exactly_once(&p, &p, true).is_ok());
    assert!(exactly_once(&p[..2], &p, false).is_ok());
    assert!(exactly_once(&p[..2], &p, true)
        .unwrap_err()
        .contains("2 of 3"));
    let twice = [p[0].clone(), p[0].clone()];
    assert!(exactly_once(&twice, &p, false)
        .unwrap_err()
        .contains("twice"));
    let invented = [p[0].clone(), message("y", 1)];
    assert!(exactly_once(&invented, &p, false)
        .unwrap_err()
        .contains("never pushed"));
    let swapped = [p[1].clone(), p[0].clone()];
    assert!(exactly_once(&swapped, &p, false)
        .unwrap_err()
        .contains("order"));
}

/// Two attacks of test 1, on their own: a replayed message 0 (here the earlier session's) makes
/// the cloud answer and hold a new handshake at the index, but the established session stays
/// and carries on (4.10, 3.4); a forged message 1 of the right size, while the device waits for
/// its reply, is refused and leaves the handshake able to complete with the genuine one.
#[test]
fn a_replayed_message_0_and_a_forged_message_1_change_nothing() {
    let mut w = World::new(1, 4, 41);
    w.queue(0, 2, 1);
    w.settle();
    let key = w.devices[0].key();
    assert_eq!((w.devices[0].handshakes, w.cloud.switches), (1, 1));

    let old_msg0 = w.old[0].clone();
    assert_eq!(Relayed::parse(&old_msg0).unwrap().unit[0], 0x50);
    w.write_uplink(&old_msg0);
    assert_eq!(
        w.cloud.handshakes, 2,
        "IK message 0 authenticates the device: a reply"
    );
    assert!(w.cloud.slots[&0].pending.is_some());
    assert_eq!(w.down.len(), 1);
    // A copy gets the same reply, with no new handshake.
    w.write_uplink(&old_msg0);
    assert_eq!(w.cloud.handshakes, 2);
    assert_eq!(w.down[0], w.down[1]);
    w.queue(0, 3, 1);
    w.settle();
    w.check_complete().unwrap();
    assert_eq!(w.cloud.app(&key).db_applied.len(), 5);
    assert_eq!(
        (w.devices[0].handshakes, w.cloud.switches),
        (1, 1),
        "the session was not displaced"
    );
    assert!(
        w.cloud.slots[&0].pending.is_some(),
        "the replay's handshake never completes"
    );

    // The device starts a new handshake; the phone answers first with a forgery the size of
    // the genuine reply.
    w.devices[0].relay = Relay::Idle;
    w.device_poll(0, 4);
    let (link, msg0) = w.up.pop_front().unwrap();
    w.forward_up(link, msg0);
    let reply = w.down.pop_front().unwrap();
    let mut forged = reply.clone();
    ChaCha20Rng::seed_from_u64(5).fill_bytes(&mut forged[3..]);
    let auth = format!("{:?}", Error::Peer(PeerError::Authentication));
    let before = w.devices[0].refused.get(&auth).copied().unwrap_or(0);
    w.forward_down(forged);
    assert_eq!(w.devices[0].refused.get(&auth).copied(), Some(before + 1));
    assert!(matches!(w.devices[0].relay, Relay::Handshaking { .. }));
    w.forward_down(reply);
    assert!(matches!(w.devices[0].relay, Relay::Established { .. }));
    w.queue(0, 2, 1);
    w.settle();
    w.check_complete().unwrap();
    assert_eq!(w.devices[0].handshakes, 2);
    assert_eq!(w.cloud.switches, 2);
}

/// Test 2: the phone goes out of range for 90 minutes while the device keeps pushing readings
/// into its outbox; nothing moves, and when it comes back every reading arrives once. The
/// device keeps its session (datagram records carry full counters, and the cloud follows the
/// key update the hour brought), so no new handshake is needed.
#[test]
fn out_of_range_then_back_on_the_same_session() {
    let mut w = World::with(1, 4, 21, 32, SessionConfig::default());
    w.devices[0].dead_ms = None;
    w.queue(0, 5, 2);
    w.settle();
    let key = w.devices[0].key();
    assert_eq!(w.cloud.app(&key).db_applied.len(), 5);

    w.devices[0].in_range = false;
    w.queue(0, 20, 3);
    for _ in 0..30 {
        w.device_push(0);
        w.cloud.app(&key).push_one();
        w.device_poll(0, 4);
        w.cloud_poll(4);
        while let Some(u) = w.down.pop_front() {
            w.forward_down(u);
        }
        w.now += 3 * 60_000;
    }
    // Nothing moved: the readings wait in the outbox.
    assert!(w.up.is_empty());
    assert_eq!(w.cloud.app(&key).db_applied.len(), 5);
    assert_eq!(w.devices[0].app.unacknowledged(), 20);

    w.devices[0].in_range = true;
    w.settle();
    w.check_complete().unwrap();
    assert_eq!(w.cloud.app(&key).db_applied.len(), 25);
    assert_eq!(
        w.devices[0].handshakes, 1,
        "the session survived the outage"
    );
    let Relay::Established { session, .. } = &w.devices[0].relay else {
        panic!("no session")
    };
    assert!(session.send_epoch() >= 1, "the hour brought a key update");
}

/// Test 2 with a reboot: the device reboots while out of range, keeping its outbox storage and
/// its receiver state, and needs a new handshake. A command it applied just before (whose
/// acknowledgement the outage swallowed) comes again and is recognised as a duplicate.
#[test]
fn out_of_range_reboot_then_back() {
    let mut w = World::with(1, 4, 22, 32, churning_keys());
    // Only the reboot may call for a new handshake here (the count is checked below).
    w.devices[0].dead_ms = None;
    w.queue(0, 4, 2);
    w.settle();
    let key = w.devices[0].key();

    // A command reaches the device, which applies it; its acknowledgement never leaves.
    w.cloud.app(&key).queue(1);
    w.cloud.app(&key).push_one();
    w.cloud_poll(4);
    while let Some(u) = w.down.pop_front() {
        w.forward_down(u);
    }
    assert_eq!(w.devices[0].app.db_applied.len(), 3);
    w.up.clear();
    w.devices[0].in_range = false;

    w.queue(0, 10, 0);
    for _ in 0..10 {
        w.device_push(0);
        w.device_poll(0, 4);
        w.now += 200;
    }
    w.reboot(0);
    w.queue(0, 5, 0);
    for _ in 0..5 {
        w.device_push(0);
        w.device_poll(0, 4);
        w.now += 200;
    }
    assert_eq!(w.cloud.app(&key).db_applied.len(), 4);

    w.devices[0].in_range = true;
    w.settle();
    w.check_complete().unwrap();
    assert_eq!(w.cloud.app(&key).db_applied.len(), 19);
    assert_eq!(
        w.devices[0].app.db_applied.len(),
        3,
        "the command applied once"
    );
    assert_eq!(w.devices[0].handshakes, 2);
    assert_eq!(
        w.cloud.app(&key).new_streams.len(),
        1,
        "the same stream resumed"
    );
    assert_eq!(w.devices[0].app.new_streams.len(), 1);
}

/// Test 2, the phone without uplink: it holds what the device sends (readings, their resends,
/// the device's new handshake once it gives its quiet session up) and forwards it all late, in
/// an order of its own, when the uplink returns. Then it forwards the same held units once more,
/// after everything was delivered: nothing changes.
#[test]
fn units_held_without_uplink_and_forwarded_late() {
    for (seed, shuffle) in [(23u64, false), (24, true)] {
        let mut w = World::with(1, 4, seed, 32, churning_keys());
        w.queue(0, 3, 1);
        w.settle();
        let key = w.devices[0].key();

        w.uplink = false;
        w.queue(0, 12, 2);
        for _ in 0..60 {
            w.device_push(0);
            w.cloud.app(&key).push_one();
            w.device_poll(0, 4);
            w.cloud_poll(4);
            w.now += 40;
        }
        assert_eq!(w.cloud.app(&key).db_applied.len(), 3);
        let mut held: Vec<(u32, Vec<u8>)> = w.up.drain(..).collect();
        assert!(held.len() > 12, "resends and a new handshake were held too");
        if shuffle {
            let mut rng = ChaCha20Rng::seed_from_u64(seed);
            for i in (1..held.len()).rev() {
                held.swap(i, rng.next_u32() as usize % (i + 1));
            }
        }

        w.uplink = true;
        for (link, u) in held.clone() {
            w.forward_up(link, u);
        }
        w.settle();
        w.check_complete().unwrap();
        assert_eq!(w.cloud.app(&key).db_applied.len(), 15);
        assert_eq!(w.devices[0].app.db_applied.len(), 3);

        let before = w.cloud.app(&key).db_applied.clone();
        let refused: usize = w.cloud.refused.values().sum();
        for (link, u) in held {
            w.forward_up(link, u);
        }
        w.settle();
        assert_eq!(w.cloud.app(&key).db_applied, before);
        assert!(w.cloud.refused.values().sum::<usize>() > refused);
        w.check_complete().unwrap();
    }
}

/// Test 3: three devices through one phone, one table and one uplink socket; routing by index,
/// misrouted units refused by the session they reach, routes kept across an absence, and a
/// full table refusing a fifth device without changing anything.
#[test]
fn several_devices_share_one_phone_and_one_uplink() {
    // Keys that never change here, so that a misrouted record is refused by authentication
    // rather than by its epoch bits (test 1 has the churn).
    let mut w = World::with(3, 4, 31, 16, SessionConfig::default());
    for d in 0..3 {
        w.queue(d, 3 + d, 1);
    }
    w.settle();
    w.check_complete().unwrap();
    let links: Vec<u32> = w.devices.iter().map(|d| d.link).collect();
    let keys: Vec<PublicKey> = w.devices.iter().map(Device::key).collect();
    // Uplink indexes in the order the devices first spoke; one cloud session per index.
    for d in 0..3 {
        assert_eq!(
            w.phone.table.route(index(d as u16)),
            Some(Route {
                link: links[d],
                index: RelayIndex::ZERO
            })
        );
        assert_eq!(w.cloud.index_of(&keys[d]), Some(d as u16));
        assert_eq!(w.cloud_app(d).db_applied.len(), 3 + d);
    }
    assert_eq!(w.phone.table.route(index(3)), None);

    // Device 0's reading, given device 1's index on the uplink: device 1's session refuses it
    // (authentication) and nothing changes; device 0 resends it and it arrives once. Device 0
    // first sends more than device 1 did, so that the counter is new to device 1's session
    // (otherwise its replay window, checked first, 5.6, refuses it as replayed).
    w.queue(0, 8, 0);
    w.settle();
    w.queue(0, 1, 0);
    w.device_push(0);
    w.device_poll(0, 4);
    let (link, mut unit) = w.up.pop_front().unwrap();
    assert!(w.up.is_empty());
    assert_eq!(w.phone.table.up(link, &mut unit), Ok(index(0)));
    rewrite_index(&mut unit, index(1)).unwrap();
    let applied: Vec<usize> = (0..3).map(|d| w.cloud_app(d).db_applied.len()).collect();
    w.write_uplink(&unit);
    let auth = format!("{:?}", Error::Peer(PeerError::Authentication));
    assert_eq!(w.cloud.last_refusal, Some((Some(1), auth.clone())));
    assert!(w.down.is_empty(), "no answer to a refused unit");
    let now: Vec<usize> = (0..3).map(|d| w.cloud_app(d).db_applied.len()).collect();
    assert_eq!(now, applied);
    // The same on the way down: a command for device 0 given device 2's index reaches device 2,
    // whose session refuses it.
    w.queue(0, 0, 1);
    w.cloud.app(&keys[0]).push_one();
    w.cloud_poll(4);
    let mut unit = w.down.pop_front().unwrap();
    rewrite_index(&mut unit, index(2)).unwrap();
    let before = w.devices[2].refused.get(&auth).copied().unwrap_or(0);
    w.forward_down(unit);
    assert_eq!(w.devices[2].refused.get(&auth).copied(), Some(before + 1));
    assert!(w.devices[2].app.db_applied.len() == 1 && w.up.is_empty());
    w.settle();
    w.check_complete().unwrap();
    assert_eq!(w.cloud_app(0).db_applied.len(), 12);
    assert_eq!(w.devices[0].app.db_applied.len(), 2);

    // Device 1 goes away and comes back on the same link (the phone numbers links by pairing,
    // not by connection): it keeps its index, and here its session too (it does not give a
    // quiet session up), which the cloud still holds at that index.
    w.devices[1].dead_ms = None;
    let handshakes = w.devices[1].handshakes;
    w.devices[1].in_range = false;
    w.queue(1, 3, 1);
    for _ in 0..3 {
        w.device_push(1);
        w.device_poll(1, 4);
    }
    w.queue(0, 2, 0);
    w.settle();
    w.devices[1].in_range = true;
    w.settle();
    w.check_complete().unwrap();
    assert_eq!(
        w.phone.table.route(index(1)),
        Some(Route {
            link: links[1],
            index: RelayIndex::ZERO
        })
    );
    assert_eq!(w.cloud.index_of(&keys[1]), Some(1));
    assert_eq!(w.devices[1].handshakes, handshakes);
    assert_eq!(w.phone.table.route(index(3)), None, "no new route");
    assert_eq!(w.cloud_app(1).db_applied.len(), 7);

    // A fourth device takes the last index; a fifth finds the table full.
    let d3 = w.add_device();
    w.queue(d3, 2, 0);
    w.settle();
    assert_eq!(w.cloud.index_of(&w.devices[d3].key()), Some(3));
    let d4 = w.add_device();
    let mut unit = w.devices[d4].poll(w.now, 4).pop().unwrap();
    let original = unit.clone();
    let routes: Vec<_> = (0..4).map(|i| w.phone.table.route(index(i))).collect();
    assert_eq!(
        w.phone.table.up(w.devices[d4].link, &mut unit),
        Err(Error::Local(Local::LimitReached))
    );
    assert_eq!(unit, original, "a refused unit is left as it was");
    let after: Vec<_> = (0..4).map(|i| w.phone.table.route(index(i))).collect();
    assert_eq!(after, routes, "the table did not change");
    // Once the fourth is unpaired, its index is the fifth's, and the cloud's session at that
    // index becomes the fifth device's when its first record opens.
    assert_eq!(w.phone.table.remove_link(w.devices[d3].link), 1);
    w.devices[d3].in_range = false;
    w.queue(d4, 2, 1);
    w.settle();
    w.check_complete().unwrap();
    assert_eq!(w.cloud.index_of(&w.devices[d4].key()), Some(3));
    assert_eq!(w.cloud.index_of(&w.devices[d3].key()), None);
    assert_eq!(
        w.phone.table.route(index(3)),
        Some(Route {
            link: w.devices[d4].link,
            index: RelayIndex::ZERO
        })
    );
    for d in 0..3 {
        w.check_own_session(d);
    }
}

/// Test 4: the table refuses what is not a relayed unit, and an index it does not know, leaving
/// the bytes and itself as they were (3.4: truncated, version or unknown type).
#[test]
fn relay_table_misuse_changes_nothing() {
    let truncated = Error::Malformed(Malformed::Truncated);
    let unknown = Error::Malformed(Malformed::UnknownType);
    let version = Error::Malformed(Malformed::Version);
    let cases: [(&[u8], Error, &str); 12] = [
        (&[], truncated, "empty"),
        (&[0x90], truncated, "half a header"),
        (&[0x90, 0x00], truncated, "a header and no unit"),
        (&[0x10, 0, 0, 0, 0, 0, 0, 0, 0], unknown, "a bare record"),
        (&[0x50, 1, 1], unknown, "a bare handshake message"),
        (&[0x51, 0, 0], unknown, "a bare code message"),
        (&[0x90, 0x00, 0x90, 0x00, 0x13], unknown, "relayed inside"),
        (&[0x90, 0x00, 0xA0, 0x00], unknown, "kind 10 of v2 inside"),
        (&[0xA0, 0x00, 0x13], version, "version 2"),
        (&[0x80, 0x00, 0x13], version, "version 0"),
        (&[0xD0, 0x00, 0x13], unknown, "reserved kind 11"),
        (&[0x9F], truncated, "index 4095, cut"),
    ];
    let mut table = RelayTable::new(2).unwrap();
    for (bytes, error, why) in cases {
        let mut copy = bytes.to_vec();
        assert_eq!(table.up(7, &mut copy), Err(error), "up: {why}");
        assert_eq!(copy, bytes, "up: {why}: bytes changed");
        assert_eq!(table.down(&mut copy), Err(error), "down: {why}");
        assert_eq!(copy, bytes, "down: {why}: bytes changed");
        assert_eq!(Relayed::parse(bytes).err(), Some(error), "parse: {why}");
    }
    assert_eq!(table.route(index(0)), None, "no route was made");

    // Down with an index that has no route: well formed, but not expected here (3.4: dropped);
    // bytes untouched.
    let mut unit = wrapped(index(0), &[0x13, 1, 2]);
    let original = unit.clone();
    assert_eq!(
        table.down(&mut unit),
        Err(Error::Peer(PeerError::UnexpectedMessage))
    );
    assert_eq!(unit, original);

    // A route is made on the way up, and the lowest free index taken.
    let mut a = wrapped(index(5), &[0x13, 1]);
    assert_eq!(table.up(7, &mut a), Ok(index(0)));
    assert_eq!(Relayed::parse(&a).unwrap().index, index(0));
    assert_eq!(&a[2..], &[0x13, 1], "the unit inside is never touched");
    let mut again = wrapped(index(5), &[0x13, 2]);
    assert_eq!(
        table.up(7, &mut again),
        Ok(index(0)),
        "same route, same index"
    );
    let mut b = wrapped(index(0), &[0x13, 3]);
    assert_eq!(
        table.up(7, &mut b),
        Ok(index(1)),
        "another index of the link"
    );
    // Full: a third route is refused, nothing changes.
    let mut c = wrapped(index(0), &[0x13, 4]);
    let c0 = c.clone();
    assert_eq!(table.up(8, &mut c), Err(Error::Local(Local::LimitReached)));
    assert_eq!(c, c0);
    assert_eq!(
        table.route(index(0)),
        Some(Route {
            link: 7,
            index: index(5)
        })
    );
    assert_eq!(
        table.route(index(1)),
        Some(Route {
            link: 7,
            index: index(0)
        })
    );
    // Down restores the device's index; an index beyond the capacity has no route.
    let mut d = wrapped(index(0), &[0x13, 5]);
    assert_eq!(
        table.down(&mut d),
        Ok(Route {
            link: 7,
            index: index(5)
        })
    );
    assert_eq!(d, wrapped(index(5), &[0x13, 5]));
    let mut e = wrapped(index(2), &[0x13, 6]);
    assert_eq!(
        table.down(&mut e),
        Err(Error::Peer(PeerError::UnexpectedMessage))
    );
    assert_eq!(e, wrapped(index(2), &[0x13, 6]));
    // Truncated units down, even at a known index.
    for cut in [&[0x90u8][..], &[0x90, 0x00]] {
        let mut u = cut.to_vec();
        assert_eq!(table.down(&mut u), Err(truncated));
        assert_eq!(u, cut);
    }
    // Forgetting a link frees its indexes, lowest first again.
    assert_eq!(table.remove_link(8), 0);
    assert_eq!(table.remove_link(7), 2);
    assert_eq!(table.route(index(0)), None);
    assert_eq!(table.up(8, &mut c), Ok(index(0)));

    // Sizes: 1..=4096 routes.
    assert_eq!(RelayTable::new(0).err(), Some(Error::Local(Local::Config)));
    assert_eq!(
        RelayTable::new(RELAY_INDEXES + 1).err(),
        Some(Error::Local(Local::Config))
    );
    // wrap refuses an empty unit and a short buffer without writing.
    let mut out = [0xEEu8; 4];
    assert_eq!(wrap(index(1), &[], &mut out), Err(truncated));
    assert_eq!(
        wrap(index(1), &[0x13, 1, 2], &mut out),
        Err(Error::Local(Local::BufferTooSmall { needed: 5 }))
    );
    assert_eq!(out, [0xEE; 4]);
    assert_eq!(header(RelayIndex::MAX), [0x9F, 0xFF]);
}

/// A full-size table: 4096 routes, the last at index 4095 (header 9F FF), then LimitReached.
#[test]
fn a_full_size_table_uses_every_index() {
    let mut table = RelayTable::new(RELAY_INDEXES).unwrap();
    for link in 0..RELAY_INDEXES as u32 {
        let mut u = wrapped(RelayIndex::ZERO, &[0x13]);
        assert_eq!(table.up(link, &mut u), Ok(index(link as u16)));
        if link == RelayIndex::MAX.get() as u32 {
            assert_eq!(u, [0x9F, 0xFF, 0x13]);
        }
    }
    let mut u = wrapped(RelayIndex::ZERO, &[0x13]);
    assert_eq!(
        table.up(RELAY_INDEXES as u32, &mut u),
        Err(Error::Local(Local::LimitReached))
    );
    assert_eq!(u, [0x90, 0x00, 0x13]);
    let mut down = [0x9F, 0xFF, 0x13];
    assert_eq!(
        table.down(&mut down),
        Ok(Route {
            link: RelayIndex::MAX.get() as u32,
            index: RelayIndex::ZERO
        })
    );
    assert_eq!(down, [0x90, 0x00, 0x13]);
}
