//! tether over a simulated Bluetooth LE link, in one process. A pulse oximeter and the patient's
//! phone, paired earlier so that each knows the other's static key, reconnect (Noise `KK`, device
//! to phone, datagram framing); then the device sends SpO2 and pulse readings through the delivery
//! layer and the phone acknowledges each one the other way. Every handshake message and record
//! crosses the link as fragments of spec/LINK.md, one ATT notification or write each.
//!
//! ```text
//! cargo run --example ble
//! ```
//!
//! At ATT_MTU 23, 185 and 517 it prints what one reading costs on the air, next to the same
//! reading in the Bluetooth SIG's Pulse Oximeter Service (which has no security of its own), and
//! how many readings a second the whole stack (by wall clock, here) and the radio (simulated, on
//! a stated model) carry. In the second part of each run the radio loses fragments: the delivery
//! layer resends, and the phone still stores every reading exactly once.
//!
//! It checks what it prints and exits non-zero otherwise: a lone reading's PDUs and bytes on air
//! must be those of spec/LINK.md section 7 (the spec is read when the example is built, so the
//! two cannot drift apart), and the phone must store each reading the device took, once, in
//! order, equal to what was sent.
//!
//! The file has three parts. The simulated radio ([`Loss`], [`Link`], [`Connection`]) carries
//! units and knows nothing of sessions. The device and the phone ([`Device`], [`Phone`]) are the
//! two ends of one session. The run ([`main`]) puts them together per MTU. A later part that
//! relays the device's end-to-end session with the cloud through the phone can reuse the first
//! two as they are.
//!
//! The static keys are fixed so that the output is the same on every run, but for the
//! wall-clock rates. Never ship fixed keys.

use std::collections::VecDeque;
use std::time::{Duration, Instant as WallClock};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tether::delivery::{
    Frame, Incoming, MemStorage, Outbox, OutboxConfig, Receiver, ReceiverState, Sender,
    SenderConfig, StorageKey, MAX_FRAME,
};
use tether::link::{
    Fragmenter, LinkError, Mtu, Reassembler, ATT_HEADER, DEFAULT_MAX_UNIT, MAX_ATTRIBUTE_VALUE,
};
use tether::message::decimal::Value;
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};
use tether::policy::PinnedKey;
use tether::*;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The ATT_MTUs of spec/LINK.md's tables: the default, iOS's usual, Android's largest.
const MTUS: [u16; 3] = [23, 185, 517];

/// Readings sent on a clean radio, then readings sent while it loses fragments.
const CLEAN_READINGS: u64 = 600;
const LOSSY_READINGS: u64 = 600;
/// The share of ATT PDUs the radio loses, each way, while it is lossy.
const LOSS_RATE: f64 = 0.03;

/// The radio model behind every rate "of the radio" below: in each connection event one ATT PDU
/// goes each way (the central's packet and the peripheral's answer), events `INTERVAL_MS` apart.
/// Deliberately plain and conservative: stacks often fit several PDUs in one event, and intervals
/// go down to 7.5 ms.
const INTERVAL_MS: u64 = 30;
const PDUS_PER_EVENT: usize = 1;

/// The delivery sender: at most 8 messages unacknowledged on the link, and everything from the
/// oldest unacknowledged one sent again after 1 s of the simulated clock without progress (about
/// 33 connection events: far more than an acknowledgement takes when nothing is lost).
const SENDER: SenderConfig = SenderConfig {
    window: 8,
    resend_after_ms: 1_000,
};
/// Outbox slots: readings taken and not yet acknowledged.
const OUTBOX_SLOTS: u32 = 16;

const DEVICE_SECRET: [u8; 32] = [0xD1; 32];
const PHONE_SECRET: [u8; 32] = [0xB1; 32];
const DEVICE_ID: &[u8] = b"SN-DEMO-0001";
const PHONE_ID: &[u8] = b"phone-0001";

/// 2026-01-15T08:30:00Z: the reading of spec/LINK.md section 7, and the first of the run.
const T0: u64 = 1_768_465_800_000;
/// The sequence number of spec/LINK.md's reading: a day of one message a second.
const SPEC_SEQ: u64 = 86_400;

/// spec/LINK.md, read when this example is built: its figures are checked here, not copied.
const LINK_MD: &str = include_str!("../spec/LINK.md");

// ================================================================ the simulated radio

/// Which ATT PDUs the radio loses: each with probability `rate`, drawn from a seeded generator
/// so that every run loses the same ones. BLE's link layer retransmits what interference
/// corrupts; what is really lost is what a stack drops (a full transmit queue) or what is in
/// flight when a connection drops (spec/LINK.md section 2).
struct Loss {
    rng: ChaCha8Rng,
    /// A PDU is lost when a 32-bit draw is below this.
    threshold: u32,
}

impl Loss {
    fn new(seed: u64) -> Loss {
        Loss {
            rng: ChaCha8Rng::seed_from_u64(seed),
            threshold: 0,
        }
    }

    fn set_rate(&mut self, rate: f64) {
        self.threshold = (rate.clamp(0.0, 1.0) * f64::from(u32::MAX)) as u32;
    }

    /// Whether the next PDU is lost. Draws nothing on a clean radio, so the losses of a lossy
    /// stretch do not depend on how much traffic came before it.
    fn drops(&mut self) -> bool {
        self.threshold > 0 && self.rng.next_u32() < self.threshold
    }
}

/// What one link carried since its counters were last taken.
#[derive(Debug, Default, Clone)]
struct LinkCounters {
    /// Units handed to the link: handshake messages and records.
    units: u64,
    /// Units the receiving end completed.
    delivered: u64,
    /// ATT PDUs sent, one per fragment, lost ones included (the sender spent the air time).
    pdus: u64,
    /// Their bytes: the 3-byte ATT header plus the fragment (spec/LINK.md section 7).
    bytes_on_air: u64,
    /// PDUs the radio lost.
    lost: u64,
    /// What the receiving reassembler reported: its errors (spec/LINK.md section 6), and START
    /// fragments that abandoned a unit in progress.
    errors: Vec<(LinkError, u64)>,
    interrupted: u64,
}

impl LinkCounters {
    fn count_error(&mut self, error: LinkError) {
        match self.errors.iter_mut().find(|(e, _)| *e == error) {
            Some((_, n)) => *n += 1,
            None => self.errors.push((error, 1)),
        }
    }

    /// The reassembler's reports as spec/LINK.md names them: "link.gap 3, ...".
    fn reports(&self) -> String {
        let mut out: Vec<String> = self
            .errors
            .iter()
            .map(|(e, n)| format!("{} {n}", spec_name(*e)))
            .collect();
        if self.interrupted > 0 {
            out.push(format!("interrupted {}", self.interrupted));
        }
        if out.is_empty() {
            "none".into()
        } else {
            out.join(", ")
        }
    }
}

/// `link.not_started` for [`LinkError::NotStarted`]: the names of spec/LINK.md section 6.
fn spec_name(error: LinkError) -> String {
    let mut name = String::from("link.");
    for (i, c) in format!("{error:?}").chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// One link of spec/LINK.md: one direction of a connection's attribute values (the device's
/// notifications, or the phone's writes). The sending end cuts each unit into fragments and
/// queues them as a BLE stack queues PDUs; the receiving end is the peer's reassembler.
struct Link {
    mtu: Mtu,
    /// The next unit's number (its 6 low bits travel).
    number: u8,
    queue: VecDeque<Vec<u8>>,
    reassembler: Reassembler,
    loss: Loss,
    counters: LinkCounters,
}

impl Link {
    fn new(mtu: Mtu, seed: u64) -> Res<Link> {
        let mut reassembler = Reassembler::new(DEFAULT_MAX_UNIT)?;
        reassembler.set_mtu(mtu);
        Ok(Link {
            mtu,
            number: 0,
            queue: VecDeque::new(),
            reassembler,
            loss: Loss::new(seed),
            counters: LinkCounters::default(),
        })
    }

    /// Queues the fragments of one unit, each the whole value of one ATT PDU.
    fn send(&mut self, unit: &[u8]) -> Res<()> {
        let mut fragments = Fragmenter::new(unit, self.mtu, self.number)?;
        self.number = self.number.wrapping_add(1);
        let mut value = [0u8; MAX_ATTRIBUTE_VALUE];
        while let Some(n) = fragments.next(&mut value)? {
            self.queue.push_back(value[..n].to_vec());
        }
        self.counters.units += 1;
        Ok(())
    }

    /// Nothing waits to be sent.
    fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Sends the next queued PDU, if any: counts it, and either loses it or hands its value to
    /// the receiving end's reassembler. Returns the unit that value completed.
    fn transmit(&mut self) -> Res<Option<Vec<u8>>> {
        let Some(value) = self.queue.pop_front() else {
            return Ok(None);
        };
        self.counters.pdus += 1;
        self.counters.bytes_on_air += (ATT_HEADER + value.len()) as u64;
        if self.loss.drops() {
            self.counters.lost += 1;
            return Ok(None);
        }
        let unit = match self.reassembler.push(&value) {
            Ok(pushed) => {
                self.counters.interrupted += u64::from(pushed.interrupted);
                pushed.unit.map(<[u8]>::to_vec)
            }
            // What a loss looks like at the receiving end: this fragment and the unit in
            // progress are dropped, and the layers above resend.
            Err(Error::Link(e)) => {
                self.counters.count_error(e);
                None
            }
            Err(e) => return Err(e.into()),
        };
        self.counters.delivered += u64::from(unit.is_some());
        Ok(unit)
    }

    /// The counters since they were last taken.
    fn take_counters(&mut self) -> LinkCounters {
        std::mem::take(&mut self.counters)
    }
}

/// Which end of the connection.
#[derive(Debug, Clone, Copy)]
enum End {
    Device,
    Phone,
}

/// The units one connection event completed, at each end.
#[derive(Default)]
struct Arrived {
    at_phone: Vec<Vec<u8>>,
    at_device: Vec<Vec<u8>>,
}

/// A BLE connection at one ATT_MTU between the device (peripheral and GATT server: it notifies)
/// and the phone (central and GATT client: it writes), on the radio model of [`INTERVAL_MS`].
/// More links (another characteristic each) can ride the same connection.
struct Connection {
    mtu: Mtu,
    /// The device's notifications.
    to_phone: Link,
    /// The phone's writes.
    to_device: Link,
    /// Connection events so far: the simulated clock.
    events: u64,
}

impl Connection {
    fn new(att_mtu: u16) -> Res<Connection> {
        let mtu = Mtu::new(att_mtu)?;
        let seed = u64::from(att_mtu);
        Ok(Connection {
            mtu,
            to_phone: Link::new(mtu, seed)?,
            to_device: Link::new(mtu, seed + 1_000)?,
            events: 0,
        })
    }

    /// Milliseconds since the connection began, on the simulated clock both ends read.
    fn now_ms(&self) -> u64 {
        self.events * INTERVAL_MS
    }

    fn set_loss(&mut self, rate: f64) {
        self.to_phone.loss.set_rate(rate);
        self.to_device.loss.set_rate(rate);
    }

    fn is_idle(&self) -> bool {
        self.to_phone.is_idle() && self.to_device.is_idle()
    }

    /// One connection event: up to [`PDUS_PER_EVENT`] PDUs each way.
    fn event(&mut self) -> Res<Arrived> {
        let mut arrived = Arrived::default();
        for _ in 0..PDUS_PER_EVENT {
            arrived.at_phone.extend(self.to_phone.transmit()?);
            arrived.at_device.extend(self.to_device.transmit()?);
        }
        self.events += 1;
        Ok(arrived)
    }

    /// Runs events until one unit reaches `end`, for exchanges that nothing resends (the
    /// handshake, the probe) and that run on a clean radio.
    fn next_unit(&mut self, end: End) -> Res<Vec<u8>> {
        while !self.is_idle() {
            let arrived = self.event()?;
            let (mine, other) = match end {
                End::Phone => (arrived.at_phone, arrived.at_device),
                End::Device => (arrived.at_device, arrived.at_phone),
            };
            if !other.is_empty() {
                return Err(
                    format!("a unit reached the wrong end (waiting at the {end:?})").into(),
                );
            }
            if let Some(unit) = mine.into_iter().next() {
                return Ok(unit);
            }
        }
        Err(format!("the link went idle before a unit reached the {end:?}").into())
    }
}

/// "1 PDU", "4 PDUs".
fn pdus(n: u64) -> String {
    format!("{n} PDU{}", if n == 1 { "" } else { "s" })
}

/// Seals `plaintext` as one datagram record (after a key-update record, when one is due) and
/// queues each unit on `link`.
fn send_record(session: &mut Session, now_ms: u64, plaintext: &[u8], link: &mut Link) -> Res<()> {
    let mut wire = vec![0u8; session.seal_capacity(plaintext.len())];
    let sealed = session.seal(Instant(now_ms), plaintext, &mut wire)?;
    for unit in sealed.units(&wire) {
        link.send(unit)?;
    }
    Ok(())
}

// ================================================================ the device and the phone

/// The oximeter's two channels, as the reading of spec/LINK.md section 7 has them.
const CHANNELS: [Channel; 2] = [
    Channel::Known {
        code: VitalCode::SpO2,
        exponent: 0,
    },
    Channel::Known {
        code: VitalCode::PulseRate,
        exponent: 0,
    },
];

/// One sample of the oximeter: SpO2 in % and pulse rate in /min, at one time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    time_ms: u64,
    spo2: i64,
    pulse: i64,
}

/// The reading of spec/LINK.md section 7: 97 % and 72 /min at 2026-01-15T08:30:00Z.
const SPEC_SAMPLE: Sample = Sample {
    time_ms: T0,
    spo2: 97,
    pulse: 72,
};

/// Sample `n` (from 1) of the run: one a second from [`T0`], values that vary. Both values stay
/// in 24..=255, so every message has the size of spec/LINK.md's (35 bytes).
fn sample(n: u64) -> Sample {
    Sample {
        time_ms: T0 + (n - 1) * 1000,
        spo2: 94 + (n * 7 % 6) as i64,
        pulse: 60 + (n * 13 % 40) as i64,
    }
}

impl Sample {
    fn readings(&self) -> [Reading; 2] {
        let at = |channel, value| Reading {
            time_ms: self.time_ms,
            channel,
            value: Value::number(value, 0),
        };
        [at(0, self.spo2), at(1, self.pulse)]
    }

    /// The vitals message carrying this one sample, as spec/LINK.md section 7 encodes it (the
    /// batch starts at the sample's time, one tick a second).
    fn message(&self) -> Res<Vec<u8>> {
        let mut out = [0u8; 128];
        let n = VitalsBatch::encode(self.time_ms, 1000, &CHANNELS, &self.readings(), &mut out)?;
        Ok(out[..n].to_vec())
    }

    /// The same sample in the PLX Continuous Measurement characteristic (0x2A5F) with only its
    /// mandatory fields: flags 0, then SpO2 and pulse rate as IEEE 11073 SFLOATs, little-endian.
    fn plx_continuous(&self) -> Res<Vec<u8>> {
        let mut value = vec![0x00];
        for v in [self.spo2, self.pulse] {
            value.extend(Value::number(v, 0).to_sfloat()?.to_le_bytes());
        }
        Ok(value)
    }

    /// The same sample in the PLX Spot-Check Measurement characteristic (0x2A5E) with its
    /// timestamp: flags with bit 0 (Timestamp present), SpO2 and pulse rate as SFLOATs, then a
    /// Date Time (year as u16 little-endian, month, day, hours, minutes, seconds; UTC here).
    fn plx_spot_check(&self) -> Res<Vec<u8>> {
        let mut value = vec![0x01];
        for v in [self.spo2, self.pulse] {
            value.extend(Value::number(v, 0).to_sfloat()?.to_le_bytes());
        }
        let (year, rest) = date_time(self.time_ms);
        value.extend(year.to_le_bytes());
        value.extend(rest);
        Ok(value)
    }
}

/// The UTC calendar year and [month, day, hours, minutes, seconds] of a time in milliseconds
/// since the Unix epoch.
fn date_time(ms: u64) -> (u16, [u8; 5]) {
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let secs = ms / 1000;
    let mut days = secs / 86_400;
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let february = if leap(year) { 29 } else { 28 };
    let mut month = 1;
    for len in [31, february, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
        if days < len {
            break;
        }
        days -= len;
        month += 1;
    }
    let time = secs % 86_400;
    let parts = [month, days + 1, time / 3600, time / 60 % 60, time % 60];
    (year as u16, parts.map(|p| p as u8))
}

/// Checks that `message` is exactly sample `seq`: the phone's half of "each reading arrives
/// equal to what was sent".
fn check_reading(seq: u64, message: &[u8]) -> Res<()> {
    let batch = VitalsBatch::decode(message)?;
    let got: Vec<Reading> = batch.readings().collect();
    let want = sample(seq).readings();
    if batch.channels() != CHANNELS || got != want {
        return Err(
            format!("message {seq}: the phone decoded {got:?}, the device sent {want:?}").into(),
        );
    }
    Ok(())
}

/// The pulse oximeter: its session with the phone, and its delivery sender over a sealed outbox
/// (in memory here, on flash in a device).
struct Device {
    session: Session,
    sender: Sender<MemStorage>,
    /// Samples taken so far; sample `n` is delivery message `n`.
    taken: u64,
    /// Data frames handed to the link, resends included, and the highest sequence number among
    /// them (so the frames sent for the first time).
    data_frames: u64,
    highest_sent: u64,
}

impl Device {
    fn new(session: Session) -> Res<Device> {
        let outbox = Outbox::open(
            MemStorage::new(OUTBOX_SLOTS, 256),
            &StorageKey::new([0x0D; 32]),
            OutboxConfig::default(),
            &mut OsEntropy,
        )
        .map_err(|refused| refused.error())?;
        Ok(Device {
            session,
            sender: Sender::new(outbox, SENDER)?,
            taken: 0,
            data_frames: 0,
            highest_sent: 0,
        })
    }

    /// Takes samples up to number `upto` while the outbox has room: a sensor that samples as
    /// fast as the link carries, so that the rates below are the link's and the stack's.
    fn take_samples(&mut self, upto: u64) -> Res<()> {
        while self.taken < upto && self.sender.unacknowledged() < u64::from(OUTBOX_SLOTS) {
            let n = self.taken + 1;
            let seq = self.sender.push(&sample(n).message()?)?;
            if seq != n {
                return Err(format!("sample {n} became message {seq}").into());
            }
            self.taken = n;
        }
        Ok(())
    }

    /// Hands the sender's next frame to `link` once the link has sent everything before it: a
    /// stack's transmit queue is short, and the sender then decides as late as possible what to
    /// send (or send again).
    fn send_next(&mut self, link: &mut Link, now_ms: u64) -> Res<()> {
        if !link.is_idle() {
            return Ok(());
        }
        let mut frame = [0u8; MAX_FRAME];
        let Some(n) = self.sender.next_frame(now_ms, &mut frame)? else {
            return Ok(());
        };
        if let Frame::Data { seq, .. } = Frame::decode(&frame[..n])? {
            self.data_frames += 1;
            self.highest_sent = self.highest_sent.max(seq);
        }
        send_record(&mut self.session, now_ms, &frame[..n], link)
    }

    /// A unit from the phone: its acknowledgement frees messages in the outbox.
    fn receive(&mut self, unit: &[u8], now_ms: u64) -> Res<()> {
        let mut plain = [0u8; MAX_FRAME];
        match self.session.open(Instant(now_ms), unit, &mut plain)? {
            Event::Data(frame) => match Frame::decode(frame)? {
                Frame::Ack { seq } => self.sender.on_ack(seq)?,
                other => return Err(format!("device: unexpected {other:?}").into()),
            },
            Event::KeyUpdate { .. } => {}
            Event::Close => return Err("device: the phone closed the session".into()),
        }
        Ok(())
    }
}

/// The phone: its session with the device, its delivery receiver, and its application's store
/// (the messages it stored, and the receiver state saved with the last of them: one write).
struct Phone {
    session: Session,
    receiver: Receiver,
    stored: Vec<u64>,
    saved_state: ReceiverState,
    /// Data frames the receiver recognised as already stored (their acknowledgement was lost,
    /// or came too late), and frames beyond the next expected one (an earlier one was lost).
    duplicates: u64,
    gaps: u64,
}

impl Phone {
    fn new(session: Session) -> Phone {
        Phone {
            session,
            receiver: Receiver::new(ReceiverState::NEW),
            stored: Vec::new(),
            saved_state: ReceiverState::NEW,
            duplicates: 0,
            gaps: 0,
        }
    }

    /// A unit from the device: a new message is checked against the sample the device took,
    /// stored and acknowledged over `link`; a duplicate is acknowledged again.
    fn receive(&mut self, unit: &[u8], now_ms: u64, link: &mut Link) -> Res<()> {
        let mut plain = [0u8; MAX_FRAME];
        let frame = match self.session.open(Instant(now_ms), unit, &mut plain)? {
            Event::Data(frame) => frame,
            Event::KeyUpdate { .. } => return Ok(()),
            Event::Close => return Err("phone: the device closed the session".into()),
        };
        let mut ack = [0u8; 16];
        let ack_len = match self.receiver.handle(frame)? {
            Incoming::Message { seq, bytes, then } => {
                check_reading(seq, bytes)?;
                self.stored.push(seq);
                self.saved_state = then;
                Some(self.receiver.delivered(seq, &mut ack)?)
            }
            Incoming::Duplicate { .. } => {
                self.duplicates += 1;
                self.receiver.poll_ack(&mut ack)?
            }
            Incoming::Gap { .. } => {
                self.gaps += 1;
                None
            }
            Incoming::NewStream { .. } | Incoming::Resumed { .. } => {
                self.receiver.poll_ack(&mut ack)?
            }
            other => return Err(format!("phone: unexpected {other:?}").into()),
        };
        if let Some(n) = ack_len {
            send_record(&mut self.session, now_ms, &ack[..n], link)?;
        }
        Ok(())
    }
}

/// The reconnect of a paired device and phone (Noise `KK`), every message carried over `conn`:
/// the device initiates, and the phone answers only the device it paired with. Returns the
/// device's session and the phone's.
fn reconnect(conn: &mut Connection) -> Res<(Session, Session)> {
    let device_key = StaticKeypair::from_secret(DEVICE_SECRET);
    let phone_key = StaticKeypair::from_secret(PHONE_SECRET);
    let device_identity = Identity::new(DEVICE_ID, "PulseOx P1", "1.0.0", b"k1")?;
    let phone_identity = Identity::new(PHONE_ID, "tether companion", "1.0", b"k1")?;
    // Records never carry more than a delivery frame, so the receive buffers stay small.
    let session = SessionConfig {
        max_plaintext: MAX_FRAME,
        ..SessionConfig::default()
    };
    let device_config = HandshakeConfig {
        suite: Suite::ChaChaPolyBlake2s,
        channel: ChannelKind::DevicePhone,
        framing: Framing::Datagram,
        context: b"",
        identity: &device_identity,
        static_key: &device_key,
        session,
        dh_cache: None,
    };
    let phone_config = ResponderConfig {
        suites: &[Suite::ChaChaPolyBlake2s],
        patterns: &[Pattern::Reconnect],
        channel: ChannelKind::DevicePhone,
        framing: Framing::Datagram,
        context: b"",
        identity: &phone_identity,
        static_key: &phone_key,
        session,
        known_initiator: Some(device_key.public()),
        pairing: None,
        allow_without_code: false,
        dh_cache: None,
    };
    let wall = UnixTime(T0 / 1000);
    let mut message = [0u8; 1024];

    let mut device = Initiator::reconnect(&device_config, &phone_key.public(), &mut OsEntropy)?;
    let n = device.write_message(&mut message)?;
    conn.to_phone.send(&message[..n])?;
    let unit = conn.next_unit(End::Phone)?;
    let mut phone = Responder::accept(
        &phone_config,
        &unit,
        &mut PinnedKey(device_key.public()),
        wall,
        &mut OsEntropy,
    )?;
    let n = phone.write_message(&mut message)?;
    conn.to_device.send(&message[..n])?;
    let unit = conn.next_unit(End::Device)?;
    device.read_message(&unit, &mut PinnedKey(phone_key.public()), wall)?;

    let now = Instant(conn.now_ms());
    Ok((device.finish(now)?.session, phone.finish(now)?.session))
}

// ================================================================ the run

/// The numbers of the row of spec/LINK.md section 7's table for `carrier` (the whole first cell,
/// or its start before " ("): ATT PDUs, link headers, ATT headers, bytes on air.
fn spec_row(carrier: &str) -> Res<[u64; 4]> {
    let prefix = format!("{carrier} (");
    for line in LINK_MD.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let [_, first, numbers @ .., _] = cells.as_slice() else {
            continue;
        };
        if numbers.len() == 4 && (*first == carrier || first.starts_with(&prefix)) {
            let mut row = [0u64; 4];
            for (slot, cell) in row.iter_mut().zip(numbers) {
                *slot = cell.trim_matches('*').parse()?;
            }
            return Ok(row);
        }
    }
    Err(format!("spec/LINK.md section 7 has no row for {carrier:?}").into())
}

/// Fails unless spec/LINK.md contains `text`.
fn spec_says(text: &str) -> Res<()> {
    if LINK_MD.contains(text) {
        Ok(())
    } else {
        Err(format!("spec/LINK.md no longer says {text:?}").into())
    }
}

/// Sends spec/LINK.md's reading alone (its message in a data frame numbered 86400, sealed by
/// this session) and returns its PDUs and bytes on air, after checking them against the spec.
/// The phone opens and checks it but does not give it to its delivery receiver: number 86400
/// belongs to no stream here. Prints one line.
fn lone_reading(conn: &mut Connection, device: &mut Device, phone: &mut Phone) -> Res<(u64, u64)> {
    let message = SPEC_SAMPLE.message()?;
    let mut frame = [0u8; MAX_FRAME];
    let frame_len = Frame::Data {
        seq: SPEC_SEQ,
        message: &message,
    }
    .encode(&mut frame)?;
    let frame = &frame[..frame_len];
    let now = conn.now_ms();
    send_record(&mut device.session, now, frame, &mut conn.to_phone)?;
    let record = conn.next_unit(End::Phone)?;
    let mut plain = [0u8; MAX_FRAME];
    let Event::Data(opened) = phone.session.open(Instant(now), &record, &mut plain)? else {
        return Err("the lone reading did not open to data".into());
    };
    let Frame::Data { seq, message: got } = Frame::decode(opened)? else {
        return Err("the lone reading is not a data frame".into());
    };
    VitalsBatch::decode(got)?;
    if seq != SPEC_SEQ || got != message.as_slice() {
        return Err("the lone reading changed on the way".into());
    }

    let air = conn.to_phone.take_counters();
    conn.to_device.take_counters();
    let link_headers = air.bytes_on_air - record.len() as u64 - ATT_HEADER as u64 * air.pdus;
    let measured = [
        air.pdus,
        link_headers,
        ATT_HEADER as u64 * air.pdus,
        air.bytes_on_air,
    ];
    spec_says(&format!(
        "a vitals message of {} bytes (one SpO2 and one pulse-rate reading),\n\
         in a delivery data frame of {} bytes (sequence number {SPEC_SEQ}),\n\
         in a datagram record of {} bytes.",
        message.len(),
        frame.len(),
        record.len()
    ))?;
    let att_mtu = conn.mtu.att_mtu();
    let spec = spec_row(&format!("tether, ATT_MTU {att_mtu}"))?;
    if measured != spec {
        return Err(format!(
            "ATT_MTU {att_mtu}: a lone reading took [PDUs, link headers, ATT headers, bytes on \
             air] = {measured:?}, spec/LINK.md section 7 says {spec:?}"
        )
        .into());
    }
    println!(
        "  lone reading  message {} B, frame {} B (sequence number {SPEC_SEQ}), record {} B: \
         {}, {} B on air (spec/LINK.md section 7: {}, {} B)",
        message.len(),
        frame.len(),
        record.len(),
        pdus(air.pdus),
        air.bytes_on_air,
        pdus(spec[0]),
        spec[3]
    );
    Ok((air.pdus, air.bytes_on_air))
}

/// The same reading without security, in the two PLX characteristics, checked against
/// spec/LINK.md; returns their bytes on air (one PDU each). Prints one line.
fn plx_reading() -> Res<[u64; 2]> {
    let values = [
        (
            "PLX Continuous Measurement, no security",
            "PLX Continuous",
            SPEC_SAMPLE.plx_continuous()?,
        ),
        (
            "PLX Spot-Check Measurement with timestamp, no security",
            "PLX Spot-Check with timestamp",
            SPEC_SAMPLE.plx_spot_check()?,
        ),
    ];
    let mut air = [0u64; 2];
    let mut shown = Vec::new();
    for ((carrier, short, value), air) in values.iter().zip(&mut air) {
        *air = (ATT_HEADER + value.len()) as u64;
        let measured = [1, 0, ATT_HEADER as u64, *air];
        let spec = spec_row(carrier)?;
        if measured != spec {
            return Err(
                format!("{carrier}: measured {measured:?}, spec/LINK.md says {spec:?}").into(),
            );
        }
        let hex: Vec<String> = value.iter().map(|b| format!("{b:02x}")).collect();
        shown.push(format!("{short} [{}] {air} B", hex.join(" ")));
    }
    println!(
        "the reading without security, at any ATT_MTU: {} (1 PDU each, as spec/LINK.md)",
        shown.join(", ")
    );
    Ok(air)
}

/// What one stretch of the run carried and cost.
struct Phase {
    readings: u64,
    to_phone: LinkCounters,
    to_device: LinkCounters,
    /// Connection events the stretch took: its time on the simulated radio.
    events: u64,
    wall: Duration,
    /// Data frames sent, and of them sent again.
    data_frames: u64,
    resent: u64,
    duplicates: u64,
    gaps: u64,
}

impl Phase {
    fn per_reading(&self, n: u64) -> f64 {
        n as f64 / self.readings as f64
    }

    fn radio_seconds(&self) -> f64 {
        (self.events * INTERVAL_MS) as f64 / 1000.0
    }

    /// Readings a second on the simulated radio.
    fn radio_rate(&self) -> f64 {
        self.readings as f64 / self.radio_seconds()
    }

    /// Readings a second through the whole stack, by this process's wall clock.
    fn stack_rate(&self) -> f64 {
        self.readings as f64 / self.wall.as_secs_f64()
    }

    /// Bytes on air per reading: device to phone, phone to device (acknowledgements), total.
    fn bytes(&self) -> [f64; 3] {
        let up = self.per_reading(self.to_phone.bytes_on_air);
        let down = self.per_reading(self.to_device.bytes_on_air);
        [up, down, up + down]
    }

    /// PDUs (fragments) per reading, each way.
    fn pdus(&self) -> [f64; 2] {
        [
            self.per_reading(self.to_phone.pdus),
            self.per_reading(self.to_device.pdus),
        ]
    }

    fn print_costs(&self) {
        let [up, down, total] = self.bytes();
        let [up_pdus, down_pdus] = self.pdus();
        println!(
            "                per reading: device -> phone {up:.1} B in {up_pdus:.2} PDUs, \
             acknowledgements phone -> device {down:.1} B in {down_pdus:.2} PDUs, total {total:.1} B"
        );
        println!(
            "                {:.1} s on the radio: {:.1} readings/s; whole stack {:.0} readings/s \
             by wall clock ({:.2} s)",
            self.radio_seconds(),
            self.radio_rate(),
            self.stack_rate(),
            self.wall.as_secs_f64()
        );
    }
}

/// Runs connection events until the device has taken `upto` samples, the phone has acknowledged
/// every one and both links are idle, with the radio losing `loss` of the PDUs each way.
fn run_phase(
    conn: &mut Connection,
    device: &mut Device,
    phone: &mut Phone,
    upto: u64,
    loss: f64,
) -> Res<Phase> {
    /// Far beyond what any stretch here needs: a stalled exchange fails rather than spins.
    const MAX_EVENTS: u64 = 1_000_000;
    conn.set_loss(loss);
    let start = (
        device.taken,
        conn.events,
        device.data_frames,
        device.highest_sent,
        phone.duplicates,
        phone.gaps,
    );
    let wall = WallClock::now();
    loop {
        device.take_samples(upto)?;
        if device.taken == upto && device.sender.unacknowledged() == 0 && conn.is_idle() {
            break;
        }
        if conn.events - start.1 > MAX_EVENTS {
            return Err(format!("stalled at message {}", phone.stored.len() + 1).into());
        }
        let now = conn.now_ms();
        device.send_next(&mut conn.to_phone, now)?;
        let arrived = conn.event()?;
        let now = conn.now_ms();
        for unit in &arrived.at_phone {
            phone.receive(unit, now, &mut conn.to_device)?;
        }
        for unit in &arrived.at_device {
            device.receive(unit, now)?;
        }
    }
    let wall = wall.elapsed();
    conn.set_loss(0.0);
    let data_frames = device.data_frames - start.2;
    Ok(Phase {
        readings: upto - start.0,
        to_phone: conn.to_phone.take_counters(),
        to_device: conn.to_device.take_counters(),
        events: conn.events - start.1,
        wall,
        data_frames,
        resent: data_frames - (device.highest_sent - start.3),
        duplicates: phone.duplicates - start.4,
        gaps: phone.gaps - start.5,
    })
}

/// The figures of one ATT_MTU, for the summary.
struct Summary {
    att_mtu: u16,
    lone: (u64, u64),
    clean: Phase,
    lossy: Phase,
}

/// The whole run at one ATT_MTU: reconnect, the lone reading, the delivery stream's hello, a
/// clean stretch, a lossy one, and the check that every reading was stored exactly once.
fn run(att_mtu: u16) -> Res<Summary> {
    let mut conn = Connection::new(att_mtu)?;
    let f = conn.mtu.max_fragment();
    println!(
        "ATT_MTU {att_mtu}: fragments of up to {f} bytes ({} of a unit in the first, {} in the others)",
        f - 4,
        f - 2
    );

    let (device_session, phone_session) = reconnect(&mut conn)?;
    let (up, down) = (
        conn.to_phone.take_counters(),
        conn.to_device.take_counters(),
    );
    println!(
        "  reconnect     Noise KK, ChaChaPoly, datagram framing: device -> phone {}, {} B; \
         phone -> device {}, {} B",
        pdus(up.pdus),
        up.bytes_on_air,
        pdus(down.pdus),
        down.bytes_on_air
    );
    let mut device = Device::new(device_session)?;
    let mut phone = Phone::new(phone_session);

    let lone = lone_reading(&mut conn, &mut device, &mut phone)?;

    // The delivery stream starts with the device's hello, which the phone acknowledges.
    let now = conn.now_ms();
    device.send_next(&mut conn.to_phone, now)?;
    let unit = conn.next_unit(End::Phone)?;
    let now = conn.now_ms();
    phone.receive(&unit, now, &mut conn.to_device)?;
    let unit = conn.next_unit(End::Device)?;
    device.receive(&unit, conn.now_ms())?;
    let (up, down) = (
        conn.to_phone.take_counters(),
        conn.to_device.take_counters(),
    );
    println!(
        "  stream        hello {} B on air, acknowledged ({} B): a new message stream",
        up.bytes_on_air, down.bytes_on_air
    );

    let clean = run_phase(&mut conn, &mut device, &mut phone, CLEAN_READINGS, 0.0)?;
    println!(
        "  clean radio   {} readings, messages 1 to {CLEAN_READINGS}",
        clean.readings
    );
    clean.print_costs();

    let all = CLEAN_READINGS + LOSSY_READINGS;
    let lossy = run_phase(&mut conn, &mut device, &mut phone, all, LOSS_RATE)?;
    println!(
        "  lossy radio   {} readings, messages {} to {all}, {:.0} % of PDUs lost each way: \
         {} of {} to the phone, {} of {} to the device",
        lossy.readings,
        CLEAN_READINGS + 1,
        LOSS_RATE * 100.0,
        lossy.to_phone.lost,
        lossy.to_phone.pdus,
        lossy.to_device.lost,
        lossy.to_device.pdus
    );
    for (name, link) in [("phone", &lossy.to_phone), ("device", &lossy.to_device)] {
        println!(
            "                at the {name}: {} of {} units lost; the reassembler reported {}",
            link.units - link.delivered,
            link.units,
            link.reports()
        );
    }
    println!(
        "                delivery: {} data frames for {} messages ({} sent again), {} duplicates \
         and {} out-of-order frames dropped by the phone's receiver",
        lossy.data_frames, lossy.readings, lossy.resent, lossy.duplicates, lossy.gaps
    );
    lossy.print_costs();

    // Exactly once: messages 1..=all, each stored once and in order (each was checked against
    // the device's sample as it arrived), and the saved receiver state says so.
    let expected: Vec<u64> = (1..=all).collect();
    if phone.stored != expected || phone.saved_state.next != all + 1 {
        return Err(format!(
            "ATT_MTU {att_mtu}: the phone stored {} messages, not 1 to {all} once each in order",
            phone.stored.len()
        )
        .into());
    }
    println!(
        "  stored        {all} readings, each exactly once and in order, each equal to the sample \
         the device took; outbox empty"
    );
    println!();
    Ok(Summary {
        att_mtu,
        lone,
        clean,
        lossy,
    })
}

fn main() -> Res<()> {
    println!(
        "tether over a simulated BLE link: a pulse oximeter (peripheral, notifies) and the \
         patient's phone (central, writes)"
    );
    println!(
        "radio model (an assumption, for the radio rates): {PDUS_PER_EVENT} ATT PDU each way per \
         connection event, connection interval {INTERVAL_MS} ms"
    );
    println!(
        "bytes on air: ATT PDUs (3-byte ATT header + value), as spec/LINK.md section 7 counts them; \
         lost PDUs count as sent"
    );
    println!(
        "wall clock: this process, {} build, both ends and the radio on one thread",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let plx = plx_reading()?;
    println!();

    let mut summaries = Vec::new();
    for att_mtu in MTUS {
        summaries.push(run(att_mtu)?);
    }

    print_summary(&summaries, plx);
    Ok(())
}

/// The closing tables: each MTU's figures side by side.
fn print_summary(summaries: &[Summary], plx: [u64; 2]) {
    println!("per reading on a clean radio: bytes on air (PDUs)");
    let header = [
        "ATT_MTU",
        "lone reading, spec",
        "device -> phone",
        "acks, phone -> device",
        "total",
        "radio, simulated",
        "radio, estimate",
        "whole stack, wall clock",
    ];
    let mut rows = Vec::new();
    for s in summaries {
        let [up, down, total] = s.clean.bytes();
        let [up_pdus, down_pdus] = s.clean.pdus();
        // The closed form of the radio model: as many events per reading as the busier
        // direction needs PDUs.
        let events_per_s = 1000.0 / INTERVAL_MS as f64 * PDUS_PER_EVENT as f64;
        let estimate = events_per_s / up_pdus.max(down_pdus);
        rows.push([
            s.att_mtu.to_string(),
            format!("{} B ({})", s.lone.1, s.lone.0),
            format!("{up:.1} B ({up_pdus:.2})"),
            format!("{down:.1} B ({down_pdus:.2})"),
            format!("{total:.1} B"),
            format!("{:.1} /s", s.clean.radio_rate()),
            format!("{estimate:.1} /s"),
            format!("{:.0} /s", s.clean.stack_rate()),
        ]);
    }
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:>width$}"))
            .collect();
        println!("{}", padded.join(" | "));
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    println!(
        "no security, the same reading: PLX Continuous Measurement {} B, PLX Spot-Check \
         Measurement with timestamp {} B (1 PDU, no acknowledgement)",
        plx[0], plx[1]
    );
    println!(
        "radio, estimate: {:.1} connection events/s over the PDUs per reading of the busier \
         direction",
        1000.0 / INTERVAL_MS as f64
    );
    println!(
        "the lone reading is spec/LINK.md's, numbered {SPEC_SEQ} (5 bytes of CBOR); the run's \
         messages are numbered 1 to {} (1 to 3 bytes), so their records are 2 to 4 bytes shorter",
        CLEAN_READINGS + LOSSY_READINGS
    );
    println!("with {:.0} % of PDUs lost each way:", LOSS_RATE * 100.0);
    for s in summaries {
        let [up, down, total] = s.lossy.bytes();
        println!(
            "  ATT_MTU {:>3}: {up:.1} + {down:.1} = {total:.1} B per reading, {:.1} readings/s on \
             the radio, {} frames sent again, every reading stored once",
            s.att_mtu,
            s.lossy.radio_rate(),
            s.lossy.resent
        );
    }
}
