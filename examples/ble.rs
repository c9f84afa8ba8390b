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
//! Then, at each ATT_MTU again, the device relays through the phone (spec/PROTOCOL.md 3.4): beside
//! its session with the phone it holds an end-to-end session with the cloud (Noise `IK`, channel
//! kind relayed), whose units travel the same link in a 2-byte envelope. The phone tells the two
//! apart by the first byte, cannot open the relayed units, and forwards them through its relay
//! table over a simulated TCP socket to an in-process cloud, and the cloud's acknowledgements
//! back. Part of that run the phone is out of range. It prints what a relayed reading costs on
//! the air beside a direct one, and on the socket.
//!
//! It checks what it prints and exits non-zero otherwise: a lone reading's PDUs and bytes on air
//! must be those of spec/LINK.md section 7 (the spec is read when the example is built, so the
//! two cannot drift apart), the phone must store each reading the device took, once, in order,
//! equal to what was sent, and so must the cloud each relayed reading; a relayed reading must
//! cost on the air what a direct one costs plus the envelope, and the phone's session must fail
//! to authenticate a relayed record.
//!
//! The file has four parts. The simulated radio ([`Loss`], [`Link`], [`Connection`]) carries
//! units and knows nothing of sessions. The device and the phone ([`Device`], [`Phone`]) are the
//! two ends of one session, and send through a [`Carrier`]. The run ([`main`]) puts them together
//! per MTU. The relay ([`Relaying`], [`Cloud`], [`run_relay`]) reuses the first two as they are:
//! a relayed session's ends are a [`Device`] and a [`Phone`] whose carriers wrap each unit.
//!
//! The static keys are fixed so that the output is the same on every run, but for the
//! wall-clock rates. Never ship fixed keys.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant as WallClock};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tether::delivery::{
    Frame, Incoming, MemStorage, Outbox, OutboxConfig, Receiver, ReceiverState, Sender,
    SenderConfig, StorageKey, MAX_FRAME,
};
use tether::link::{
    relay, Fragmenter, LinkError, Mtu, Reassembler, RelayIndex, RelayTable, Relayed, ATT_HEADER,
    DEFAULT_MAX_UNIT, HEADER_LEN, MAX_ATTRIBUTE_VALUE, RELAY_HEADER_LEN,
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

/// Where a session's units go: a [`Link`] here; in the relay part, the same link with each unit in
/// a relay envelope, or the phone's socket to the cloud. The ends of a session ([`Device`],
/// [`Phone`]) see only this, so they serve on every hop as they are.
trait Carrier {
    /// Sends one unit (a handshake message or a record).
    fn send(&mut self, unit: &[u8]) -> Res<()>;

    /// Nothing waits to be sent.
    fn is_idle(&self) -> bool;
}

impl Carrier for Link {
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

    fn is_idle(&self) -> bool {
        self.queue.is_empty()
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
fn send_record(
    session: &mut Session,
    now_ms: u64,
    plaintext: &[u8],
    link: &mut impl Carrier,
) -> Res<()> {
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
    fn send_next(&mut self, link: &mut impl Carrier, now_ms: u64) -> Res<()> {
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
/// (the messages it stored, and the receiver state saved with the last of them: one write). In
/// the relay part the cloud keeps one per relayed session: it is the receiving end of a delivery
/// stream, whatever carries it.
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
    fn receive(&mut self, unit: &[u8], now_ms: u64, link: &mut impl Carrier) -> Res<()> {
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
    println!();

    println!(
        "relayed: the device's end-to-end session with the cloud (Noise IK, datagram framing), \
         through the phone, on the same BLE link as its session with the phone"
    );
    println!(
        "socket model (an assumption): the phone's TCP connection to the cloud, stream framing \
         (a 2-byte length prefix per relayed unit), {UPLINK_MS} ms each way, nothing lost"
    );
    println!();
    let mut relayed = Vec::new();
    for (att_mtu, direct) in MTUS.into_iter().zip(&summaries) {
        relayed.push(run_relay(att_mtu, direct)?);
    }
    print_relay_summary(&relayed, &summaries);
    Ok(())
}

/// A table with right-aligned columns as wide as their widest cell.
fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
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
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
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
    print_table(header, &rows);
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

// ================================================================ relaying through the phone

/// Readings the device sends to the cloud through the phone at each ATT_MTU: the first
/// [`CLEAN_READINGS`] in range (the same messages as the first part's clean stretch, so the two
/// compare byte for byte), the rest across a stretch out of range.
const RELAYED_READINGS: u64 = 1_200;
/// The phone goes out of range once the device has taken this many readings, in the middle of
/// the stream, and comes back after `OUT_OF_RANGE_MS` of the simulated clock.
const OUT_OF_RANGE_AT: u64 = 900;
const OUT_OF_RANGE_MS: u64 = 20_000;
/// The socket's delay each way (an assumption: a phone on a mobile network). The round trip
/// through it stays shorter than the radio's time for a window of 8 messages, so the radio still
/// sets the rate.
const UPLINK_MS: u64 = 50;
/// The phone's number for the device in its relay table: the bond, not the BLE connection handle,
/// which changes with every connection. So the device keeps its uplink index when it comes back in
/// range (spec/PROTOCOL.md 3.4), and the cloud still finds its session under that index.
const DEVICE_ROUTE: u32 = 1;
/// Routes the phone's table holds: a phone relays a handful of devices.
const RELAY_ROUTES: usize = 8;
/// Bytes of a stream unit's length prefix (spec/PROTOCOL.md 3.2).
const LENGTH_PREFIX: usize = 2;
/// Bytes one more fragment adds on the air: its fragment header and its ATT header.
const PER_FRAGMENT: i64 = (HEADER_LEN + ATT_HEADER) as i64;

const CLOUD_SECRET: [u8; 32] = [0xC1; 32];
const CLOUD_ID: &[u8] = b"cloud.example";

/// "1 unit", "4 units".
fn plural(n: u64, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// `unit` in the relay envelope of `index`.
fn envelope(index: RelayIndex, unit: &[u8]) -> Res<Vec<u8>> {
    let mut relayed = vec![0u8; RELAY_HEADER_LEN + unit.len()];
    let n = relay::wrap(index, unit, &mut relayed)?;
    relayed.truncate(n);
    Ok(relayed)
}

/// The device's end-to-end session on the BLE link: each unit in the envelope of `index`, on the
/// same link as the device's own session with the phone, whose units travel bare.
struct Enveloped<'a> {
    index: RelayIndex,
    link: &'a mut Link,
}

impl Carrier for Enveloped<'_> {
    fn send(&mut self, unit: &[u8]) -> Res<()> {
        self.link.send(&envelope(self.index, unit)?)
    }

    fn is_idle(&self) -> bool {
        self.link.is_idle()
    }
}

/// One direction of the phone's socket to the cloud, a TCP connection in stream framing: each
/// relayed unit behind a 2-byte length prefix (spec/PROTOCOL.md 3.4). What is written arrives
/// [`UPLINK_MS`] later, run together with whatever else arrived, and a [`StreamDecoder`] splits
/// it again. Nothing is lost: TCP resends below.
struct Pipe {
    /// Chunks written and when each arrives.
    in_flight: VecDeque<(u64, Vec<u8>)>,
    decoder: StreamDecoder,
    /// Bytes written (prefixes included) and relayed units, since last taken.
    bytes: u64,
    units: u64,
}

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            in_flight: VecDeque::new(),
            decoder: StreamDecoder::new(RELAY_HEADER_LEN + DEFAULT_MAX_UNIT),
            bytes: 0,
            units: 0,
        }
    }

    fn write(&mut self, now_ms: u64, relayed: &[u8]) -> Res<()> {
        let mut chunk = u16::try_from(relayed.len())?.to_be_bytes().to_vec();
        chunk.extend_from_slice(relayed);
        self.bytes += chunk.len() as u64;
        self.units += 1;
        self.in_flight.push_back((now_ms + UPLINK_MS, chunk));
        Ok(())
    }

    /// One read of everything that has arrived by `now_ms`: the relayed units in it, without
    /// their prefix.
    fn read(&mut self, now_ms: u64) -> Res<Vec<Vec<u8>>> {
        let ready = self
            .in_flight
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .count();
        let arrived: Vec<u8> = self.in_flight.drain(..ready).flat_map(|(_, c)| c).collect();
        let mut input = &arrived[..];
        let mut units = Vec::new();
        while let Some(unit) = self.decoder.next(&mut input)? {
            // This socket carries relayed units only: anything else means it is broken.
            let UnitType::Relayed(_) = UnitType::of(Framing::Stream, unit)? else {
                return Err("the socket carried a unit that is not relayed".into());
            };
            units.push(unit[LENGTH_PREFIX..].to_vec());
        }
        Ok(units)
    }

    fn is_idle(&self) -> bool {
        self.in_flight.is_empty()
    }

    /// Bytes and units written since last taken.
    fn take_counters(&mut self) -> [u64; 2] {
        [
            std::mem::take(&mut self.bytes),
            std::mem::take(&mut self.units),
        ]
    }
}

/// The phone's socket to the cloud, both directions.
struct Socket {
    to_cloud: Pipe,
    to_phone: Pipe,
}

/// The cloud's side of a relayed session: its units go down the socket in the envelope of the
/// uplink index they came under.
struct Downlink<'a> {
    index: RelayIndex,
    pipe: &'a mut Pipe,
    now_ms: u64,
}

impl Carrier for Downlink<'_> {
    fn send(&mut self, unit: &[u8]) -> Res<()> {
        self.pipe.write(self.now_ms, &envelope(self.index, unit)?)
    }

    /// A socket takes whatever is written.
    fn is_idle(&self) -> bool {
        true
    }
}

/// The records of the relayed session, as those of the device's session with the phone: never
/// more than a delivery frame.
fn relayed_session_config() -> SessionConfig {
    SessionConfig {
        max_plaintext: MAX_FRAME,
        ..SessionConfig::default()
    }
}

/// The cloud: per uplink index, the session relayed under it (spec/PROTOCOL.md 3.4) and the
/// delivery receiver behind it. It knows the device's key (its registry, of one here).
struct Cloud {
    key: StaticKeypair,
    identity: Identity,
    device_key: PublicKey,
    ends: HashMap<RelayIndex, Phone>,
}

impl Cloud {
    fn new() -> Res<Cloud> {
        Ok(Cloud {
            key: StaticKeypair::from_secret(CLOUD_SECRET),
            identity: Identity::new(CLOUD_ID, "tether gateway", "1.0", b"k1")?,
            device_key: StaticKeypair::from_secret(DEVICE_SECRET).public(),
            ends: HashMap::new(),
        })
    }

    /// Reads what the socket brought and answers each unit under the index it came with: a
    /// handshake message 0 makes that index's session (`IK`: the cloud's answer completes it), a
    /// record goes to it.
    fn receive(&mut self, socket: &mut Socket, now_ms: u64) -> Res<()> {
        for relayed in socket.to_cloud.read(now_ms)? {
            let Relayed { index, unit } = Relayed::parse(&relayed)?;
            let mut reply = Downlink {
                index,
                pipe: &mut socket.to_phone,
                now_ms,
            };
            match UnitType::of(Framing::Datagram, unit)? {
                UnitType::Handshake(0) => {
                    let session = self.accept(unit, &mut reply, now_ms)?;
                    self.ends.insert(index, Phone::new(session));
                }
                UnitType::Record(_) => self
                    .ends
                    .get_mut(&index)
                    .ok_or("cloud: a record under an index without a session")?
                    .receive(unit, now_ms, &mut reply)?,
                other => return Err(format!("cloud: unexpected {other:?}").into()),
            }
        }
        Ok(())
    }

    /// Answers a device's `IK` message 0, on the relayed channel kind only: a direct device's
    /// handshake replayed through a phone fails here (spec/PROTOCOL.md 4.2).
    fn accept(&self, unit: &[u8], reply: &mut Downlink, now_ms: u64) -> Res<Session> {
        let config = ResponderConfig {
            suites: &[Suite::ChaChaPolyBlake2s],
            patterns: &[Pattern::Provisioned],
            channel: ChannelKind::Relayed,
            framing: Framing::Datagram,
            context: b"",
            identity: &self.identity,
            static_key: &self.key,
            session: relayed_session_config(),
            known_initiator: None,
            pairing: None,
            allow_without_code: false,
            dh_cache: None,
        };
        let mut handshake = Responder::accept(
            &config,
            unit,
            &mut PinnedKey(self.device_key),
            UnixTime(T0 / 1000),
            &mut OsEntropy,
        )?;
        let mut message = [0u8; 1024];
        let n = handshake.write_message(&mut message)?;
        reply.send(&message[..n])?;
        Ok(handshake.finish(Instant(now_ms))?.session)
    }
}

/// The oximeter of the relay part: its session with the phone and its end-to-end session with the
/// cloud, each with its own delivery stream and outbox.
struct Oximeter {
    direct: Device,
    e2e: Device,
}

impl Oximeter {
    /// A unit from the phone, told apart by its first byte: in the envelope of index 0 it is the
    /// end-to-end session's, bare it is the session with the phone's.
    fn receive(&mut self, unit: &[u8], now_ms: u64) -> Res<()> {
        match UnitType::of(Framing::Datagram, unit)? {
            UnitType::Relayed(RelayIndex::ZERO) => {
                self.e2e.receive(Relayed::parse(unit)?.unit, now_ms)
            }
            UnitType::Relayed(index) => Err(format!("device: no session under {index:?}").into()),
            _ => self.direct.receive(unit, now_ms),
        }
    }
}

/// What the phone and the connection did with units since last taken.
#[derive(Default)]
struct RelayCounts {
    /// Units the phone gave its own session; relayed units it sent up and down.
    own: u64,
    up: u64,
    down: u64,
    /// Relayed units for the device that came while it was out of range: dropped, as a relay with
    /// no connection to the device must (the delivery layer resends what they acknowledged).
    undeliverable: u64,
    /// PDUs still queued when the connection dropped: lost with it, never on the air.
    discarded: u64,
}

/// Everything between the device and the cloud at one ATT_MTU: the radio, the phone (its own
/// session with the device, its relay table and its socket) and the cloud.
struct Relaying {
    conn: Connection,
    phone: Phone,
    table: RelayTable,
    socket: Socket,
    cloud: Cloud,
    in_range: bool,
    counts: RelayCounts,
    /// The device's index on the uplink, once the phone has assigned it.
    uplink_index: Option<RelayIndex>,
    /// What the phone's own session made of the first relayed record the phone saw.
    phone_tried: Option<Error>,
}

impl Relaying {
    fn is_idle(&self) -> bool {
        self.conn.is_idle() && self.socket.to_cloud.is_idle() && self.socket.to_phone.is_idle()
    }

    /// A unit the phone received from the device, told apart by its first byte: a relayed unit
    /// goes up the socket under the device's uplink index, anything else is for the phone's own
    /// session (which acknowledges on the device's link).
    fn at_phone(&mut self, unit: &[u8], now_ms: u64) -> Res<()> {
        let UnitType::Relayed(_) = UnitType::of(Framing::Datagram, unit)? else {
            self.counts.own += 1;
            return self.phone.receive(unit, now_ms, &mut self.conn.to_device);
        };
        let inner = Relayed::parse(unit)?.unit;
        if self.phone_tried.is_none()
            && matches!(UnitType::of(Framing::Datagram, inner)?, UnitType::Record(_))
        {
            // The phone holds only its own session's keys: they do not open the relayed record.
            // A failed open changes nothing in its session.
            let mut plain = [0u8; MAX_FRAME];
            match self.phone.session.open(Instant(now_ms), inner, &mut plain) {
                Ok(_) => return Err("the phone's own session opened a relayed record".into()),
                Err(e) => self.phone_tried = Some(e),
            }
        }
        let mut relayed = unit.to_vec();
        let index = self.table.up(DEVICE_ROUTE, &mut relayed)?;
        self.uplink_index.get_or_insert(index);
        self.counts.up += 1;
        self.socket.to_cloud.write(now_ms, &relayed)
    }

    /// The cloud reads what has arrived and answers; the phone reads the answers and passes each
    /// to the device its route names, if it is in range.
    fn cloud_turn(&mut self, now_ms: u64) -> Res<()> {
        self.cloud.receive(&mut self.socket, now_ms)?;
        for mut relayed in self.socket.to_phone.read(now_ms)? {
            let route = self.table.down(&mut relayed)?;
            if route.link != DEVICE_ROUTE {
                return Err(format!("the phone routed a unit to {route:?}").into());
            }
            self.counts.down += 1;
            if self.in_range {
                self.conn.to_device.send(&relayed)?;
            } else {
                self.counts.undeliverable += 1;
            }
        }
        Ok(())
    }

    /// Empty connection events (the clock runs) until something the cloud sent waits on the
    /// link to the device.
    fn wait_for_cloud(&mut self) -> Res<()> {
        for _ in 0..1_000 {
            if !self.conn.to_device.is_idle() {
                return Ok(());
            }
            self.conn.event()?;
            self.cloud_turn(self.conn.now_ms())?;
        }
        Err("the cloud did not answer".into())
    }

    /// One connection event with both of the device's sessions sending (the end-to-end one
    /// first: it carries the readings), and everything it delivered handled. Out of range there
    /// is no connection: the clock runs, and only the socket moves.
    fn step(&mut self, device: &mut Oximeter) -> Res<()> {
        if !self.in_range {
            self.conn.events += 1;
            return self.cloud_turn(self.conn.now_ms());
        }
        let now = self.conn.now_ms();
        let mut relayed = Enveloped {
            index: RelayIndex::ZERO,
            link: &mut self.conn.to_phone,
        };
        device.e2e.send_next(&mut relayed, now)?;
        device.direct.send_next(&mut self.conn.to_phone, now)?;
        let arrived = self.conn.event()?;
        let now = self.conn.now_ms();
        for unit in &arrived.at_phone {
            self.at_phone(unit, now)?;
        }
        self.cloud_turn(now)?;
        for unit in &arrived.at_device {
            device.receive(unit, now)?;
        }
        Ok(())
    }

    /// The phone goes out of range: the connection drops with whatever its links had queued, and
    /// the next one starts with idle reassemblers and unit numbers from 0 (spec/LINK.md 4, 5.1).
    /// Both sessions outlive it: datagram records need nothing of the connection.
    fn drop_connection(&mut self) {
        for link in [&mut self.conn.to_phone, &mut self.conn.to_device] {
            self.counts.discarded += link.queue.len() as u64;
            link.queue.clear();
            link.reassembler.reset();
            link.number = 0;
        }
        self.in_range = false;
    }

    /// The cloud's end of the device's relayed session.
    fn cloud_end(&self) -> Res<&Phone> {
        let index = self.uplink_index.ok_or("the phone relayed nothing")?;
        Ok(self
            .cloud
            .ends
            .get(&index)
            .ok_or("the cloud has no session for the device")?)
    }
}

/// The device's handshake with the cloud (Noise `IK`, the cloud's key pinned, channel kind
/// relayed), each message in the envelope of index 0 on the BLE link and behind a length prefix
/// on the socket. Returns the device's session.
fn relayed_handshake(relaying: &mut Relaying) -> Res<Session> {
    let device_key = StaticKeypair::from_secret(DEVICE_SECRET);
    let identity = Identity::new(DEVICE_ID, "PulseOx P1", "1.0.0", b"k1")?;
    let config = HandshakeConfig {
        suite: Suite::ChaChaPolyBlake2s,
        channel: ChannelKind::Relayed,
        framing: Framing::Datagram,
        context: b"",
        identity: &identity,
        static_key: &device_key,
        session: relayed_session_config(),
        dh_cache: None,
    };
    let cloud_key = relaying.cloud.key.public();
    let mut handshake = Initiator::provisioned(&config, &cloud_key, &mut OsEntropy)?;
    let mut message = [0u8; 1024];
    let n = handshake.write_message(&mut message)?;
    let mut relayed = Enveloped {
        index: RelayIndex::ZERO,
        link: &mut relaying.conn.to_phone,
    };
    relayed.send(&message[..n])?;
    let unit = relaying.conn.next_unit(End::Phone)?;
    relaying.at_phone(&unit, relaying.conn.now_ms())?;
    relaying.wait_for_cloud()?;
    let unit = relaying.conn.next_unit(End::Device)?;
    let Relayed { index, unit } = Relayed::parse(&unit)?;
    if index != RelayIndex::ZERO {
        return Err(format!("the cloud's answer came under {index:?}").into());
    }
    handshake.read_message(unit, &mut PinnedKey(cloud_key), UnixTime(T0 / 1000))?;
    Ok(handshake.finish(Instant(relaying.conn.now_ms()))?.session)
}

/// What one stretch of the relay part carried and cost: the radio's side as in the first part
/// (the cloud's receiver in the phone's place), and the socket's.
struct RelayPhase {
    phase: Phase,
    /// Bytes written to the socket, up and down.
    socket: [u64; 2],
    counts: RelayCounts,
    outage: Option<Outage>,
}

/// A stretch out of range, and where the stream stood when it began and ended.
struct Outage {
    seconds: f64,
    /// When the connection dropped: the last message the device had taken, the oldest one not
    /// acknowledged, how many it had sent and not had acknowledged, and the last the cloud stored.
    taken: u64,
    head: u64,
    in_flight: u64,
    stored: u64,
    /// The last message the cloud stored while the phone was out of range (from the socket).
    stored_out: u64,
}

impl RelayPhase {
    /// Socket bytes per reading, up and down.
    fn socket_bytes(&self) -> [f64; 2] {
        self.socket.map(|b| self.phase.per_reading(b))
    }

    /// As [`Phase::print_costs`], with the socket's bytes.
    fn print_costs(&self) {
        let [up, down, total] = self.phase.bytes();
        let [up_pdus, down_pdus] = self.phase.pdus();
        let [s_up, s_down] = self.socket_bytes();
        println!(
            "                per reading: device -> phone {up:.1} B in {up_pdus:.2} PDUs, \
             acknowledgements phone -> device {down:.1} B in {down_pdus:.2} PDUs, total {total:.1} B"
        );
        println!(
            "                socket per reading: {s_up:.1} B up, {s_down:.1} B down \
             (length prefix, envelope, record)"
        );
        println!(
            "                {:.1} s on the radio: {:.1} readings/s; whole stack {:.0} readings/s \
             by wall clock ({:.2} s)",
            self.phase.radio_seconds(),
            self.phase.radio_rate(),
            self.phase.stack_rate(),
            self.phase.wall.as_secs_f64()
        );
    }
}

/// Runs until the device has taken `upto` samples, the cloud has acknowledged every one and
/// nothing is in flight. With `outage` = (at, ms), the phone goes out of range once the device has
/// taken `at` samples and comes back `ms` later; meanwhile the device fills its outbox.
fn run_relayed(
    relaying: &mut Relaying,
    device: &mut Oximeter,
    upto: u64,
    mut outage: Option<(u64, u64)>,
) -> Res<RelayPhase> {
    /// As in [`run_phase`]: a stalled exchange fails rather than spins.
    const MAX_EVENTS: u64 = 1_000_000;
    let e2e = &device.e2e;
    let cloud = relaying.cloud_end()?;
    let start = (
        e2e.taken,
        relaying.conn.events,
        e2e.data_frames,
        e2e.highest_sent,
        cloud.duplicates,
        cloud.gaps,
    );
    let mut out_of_range: Option<(Outage, u64)> = None;
    let wall = WallClock::now();
    loop {
        device.e2e.take_samples(upto)?;
        let now = relaying.conn.now_ms();
        if let Some((at, ms)) = outage {
            if device.e2e.taken >= at {
                relaying.drop_connection();
                let stored = relaying.cloud_end()?.stored.last().copied().unwrap_or(0);
                let gone = Outage {
                    seconds: ms as f64 / 1000.0,
                    taken: device.e2e.taken,
                    head: device.e2e.sender.outbox().head(),
                    in_flight: device.e2e.sender.in_flight(),
                    stored,
                    stored_out: stored,
                };
                out_of_range = Some((gone, now + ms));
                outage = None;
            }
        }
        if let Some((gone, back)) = &mut out_of_range {
            if !relaying.in_range && now >= *back {
                // Back in range, on a new connection. The device does not tell its sender: the
                // session with the cloud is the same one (`Sender::on_reconnect` is for a new
                // session), and its resend timer and the cloud's cumulative acknowledgements
                // recover what the drop lost.
                relaying.in_range = true;
                gone.stored_out = relaying.cloud_end()?.stored.last().copied().unwrap_or(0);
            }
        }
        if device.e2e.taken == upto
            && device.e2e.sender.unacknowledged() == 0
            && relaying.in_range
            && relaying.is_idle()
        {
            break;
        }
        if relaying.conn.events - start.1 > MAX_EVENTS {
            return Err(format!("stalled at relayed message {}", device.e2e.taken).into());
        }
        relaying.step(device)?;
    }
    let wall = wall.elapsed();
    let cloud = relaying.cloud_end()?;
    let (duplicates, gaps) = (cloud.duplicates - start.4, cloud.gaps - start.5);
    let e2e = &device.e2e;
    let data_frames = e2e.data_frames - start.2;
    let phase = Phase {
        readings: upto - start.0,
        to_phone: relaying.conn.to_phone.take_counters(),
        to_device: relaying.conn.to_device.take_counters(),
        events: relaying.conn.events - start.1,
        wall,
        data_frames,
        resent: data_frames - (e2e.highest_sent - start.3),
        duplicates,
        gaps,
    };
    let socket = [
        relaying.socket.to_cloud.take_counters()[0],
        relaying.socket.to_phone.take_counters()[0],
    ];
    Ok(RelayPhase {
        phase,
        socket,
        counts: std::mem::take(&mut relaying.counts),
        outage: out_of_range.map(|(gone, _)| gone),
    })
}

/// The figures of the relay part at one ATT_MTU, for its summary.
struct RelaySummary {
    att_mtu: u16,
    /// The `IK` handshake's bytes on air, both ways, and on the socket, both ways.
    handshake: (u64, u64),
    in_range: RelayPhase,
    across: RelayPhase,
}

/// The relay part at one ATT_MTU: a new connection and the device's session with the phone
/// (`KK`, as in the first part), then its end-to-end session with the cloud through the phone,
/// the two delivery streams' hellos, readings in range, then readings across a stretch out of
/// range, and the check that the cloud got every reading exactly once.
fn run_relay(att_mtu: u16, direct: &Summary) -> Res<RelaySummary> {
    let mut conn = Connection::new(att_mtu)?;
    println!("ATT_MTU {att_mtu}, relayed:");
    // A new session with the phone, so that its receive window is fresh: the check below that its
    // keys do not open a relayed record then fails at the AEAD, not at the replay window.
    let (device_session, phone_session) = reconnect(&mut conn)?;
    let (up, down) = (
        conn.to_phone.take_counters(),
        conn.to_device.take_counters(),
    );
    println!(
        "  reconnect     Noise KK with the phone, as above: device -> phone {}, {} B; \
         phone -> device {}, {} B",
        pdus(up.pdus),
        up.bytes_on_air,
        pdus(down.pdus),
        down.bytes_on_air
    );
    let mut relaying = Relaying {
        conn,
        phone: Phone::new(phone_session),
        table: RelayTable::new(RELAY_ROUTES)?,
        socket: Socket {
            to_cloud: Pipe::new(),
            to_phone: Pipe::new(),
        },
        cloud: Cloud::new()?,
        in_range: true,
        counts: RelayCounts::default(),
        uplink_index: None,
        phone_tried: None,
    };

    let e2e_session = relayed_handshake(&mut relaying)?;
    let (up, down) = (
        relaying.conn.to_phone.take_counters(),
        relaying.conn.to_device.take_counters(),
    );
    let [s_up, s_down] = [
        relaying.socket.to_cloud.take_counters()[0],
        relaying.socket.to_phone.take_counters()[0],
    ];
    let uplink_index = relaying.uplink_index.ok_or("the phone relayed nothing")?;
    println!(
        "  handshake     Noise IK with the cloud, channel kind relayed, in the envelope of index 0 \
         (uplink index {}): device -> phone {}, {} B, socket up {s_up} B; socket down {s_down} B, \
         phone -> device {}, {} B",
        uplink_index.get(),
        pdus(up.pdus),
        up.bytes_on_air,
        pdus(down.pdus),
        down.bytes_on_air
    );
    let handshake = (up.bytes_on_air + down.bytes_on_air, s_up + s_down);
    relaying.counts = RelayCounts::default();

    // Both delivery streams start: the end-to-end one's hello first, the first record of either
    // session that reaches the phone.
    let mut device = Oximeter {
        direct: Device::new(device_session)?,
        e2e: Device::new(e2e_session)?,
    };
    relaying.step(&mut device)?;
    for _ in 0..1_000 {
        if relaying.is_idle() {
            break;
        }
        relaying.step(&mut device)?;
    }
    if !relaying.is_idle() {
        return Err("the hellos were not acknowledged".into());
    }
    let (up, down) = (
        relaying.conn.to_phone.take_counters(),
        relaying.conn.to_device.take_counters(),
    );
    let counts = std::mem::take(&mut relaying.counts);
    relaying.socket.to_cloud.take_counters();
    relaying.socket.to_phone.take_counters();
    println!(
        "  streams       hellos to the cloud (relayed) and to the phone, both acknowledged: \
         {} B on air to the phone, {} B back",
        up.bytes_on_air, down.bytes_on_air
    );
    println!(
        "                the phone told them apart by their first byte: {} unit for its own \
         session, {} relayed up, {} relayed down",
        counts.own, counts.up, counts.down
    );
    if relaying.phone_tried != Some(Error::Peer(PeerError::Authentication))
        || relaying.phone.receiver.state().stream.is_none()
    {
        return Err(format!(
            "the phone's own session should fail to authenticate a relayed record, not {:?}",
            relaying.phone_tried
        )
        .into());
    }
    println!(
        "                the phone's own session does not open the relayed hello: \
         peer.authentication (at the AEAD: its counter and epoch were acceptable), and then opens \
         the device's own hello"
    );

    let in_range = run_relayed(&mut relaying, &mut device, CLEAN_READINGS, None)?;
    println!(
        "  in range      {} readings to the cloud, messages 1 to {CLEAN_READINGS}",
        in_range.phase.readings
    );
    in_range.print_costs();
    let (bytes, more_pdus) = same_but_envelope(&in_range.phase, &direct.clean)?;
    println!(
        "                relayed - direct: {bytes:+.1} B and {more_pdus:+.2} PDUs per reading: the \
         2-byte envelope on each unit, and {PER_FRAGMENT} B per extra PDU; the IK session's \
         records are the size of the KK session's"
    );

    let across = run_relayed(
        &mut relaying,
        &mut device,
        RELAYED_READINGS,
        Some((OUT_OF_RANGE_AT, OUT_OF_RANGE_MS)),
    )?;
    let gone = across
        .outage
        .as_ref()
        .ok_or("the phone never went out of range")?;
    println!(
        "  out of range  {} readings, messages {} to {RELAYED_READINGS}; the phone goes out of \
         range for {:.0} s once the device has taken message {}",
        across.phase.readings,
        CLEAN_READINGS + 1,
        gone.seconds,
        gone.taken
    );
    println!(
        "                the connection drops with {} queued, lost with it; the device's outbox \
         holds messages {} to {} (all {OUTBOX_SLOTS} slots: the sensor waits for room), {} of them \
         sent; the cloud had stored up to {}",
        pdus(across.counts.discarded),
        gone.head,
        gone.taken,
        gone.in_flight,
        gone.stored
    );
    println!(
        "                out of range nothing moves on the radio; the cloud stores up to {} from \
         the socket, and the phone drops the {} it sends back: no connection to the device",
        gone.stored_out,
        plural(across.counts.undeliverable, "unit")
    );
    println!(
        "                back in range: {} data frames for {} messages ({} sent again); the \
         cloud's receiver dropped {} and {}",
        across.phase.data_frames,
        across.phase.readings,
        across.phase.resent,
        plural(across.phase.duplicates, "duplicate"),
        plural(across.phase.gaps, "out-of-order frame")
    );
    across.print_costs();

    // Exactly once, at the cloud: messages 1..=RELAYED_READINGS, each stored once and in order
    // (each checked against the device's sample as it arrived), and the saved state says so.
    let cloud = relaying.cloud_end()?;
    let expected: Vec<u64> = (1..=RELAYED_READINGS).collect();
    if cloud.stored != expected
        || cloud.saved_state.next != RELAYED_READINGS + 1
        || device.e2e.sender.unacknowledged() != 0
    {
        return Err(format!(
            "ATT_MTU {att_mtu}: the cloud stored {} messages, not 1 to {RELAYED_READINGS} once \
             each in order",
            cloud.stored.len()
        )
        .into());
    }
    if !relaying.phone.stored.is_empty() || across.counts.own + in_range.counts.own != 0 {
        return Err("a relayed reading reached the phone's own session".into());
    }
    println!(
        "  at the cloud  {RELAYED_READINGS} readings, each exactly once and in order, each equal \
         to the sample the device took; outbox empty; none reached the phone's own session"
    );
    println!();
    Ok(RelaySummary {
        att_mtu,
        handshake,
        in_range,
        across,
    })
}

/// Checks that a relayed stretch differs from the direct one only by the envelope: the same units
/// each way, each 2 bytes longer, and fragment for fragment what that costs. Returns the
/// difference in bytes and in PDUs per reading.
fn same_but_envelope(relayed: &Phase, direct: &Phase) -> Res<(f64, f64)> {
    let (mut total, mut more_pdus) = (0i64, 0i64);
    for (r, d) in [
        (&relayed.to_phone, &direct.to_phone),
        (&relayed.to_device, &direct.to_device),
    ] {
        let diff = r.bytes_on_air as i64 - d.bytes_on_air as i64;
        let expected = (RELAY_HEADER_LEN as u64 * r.units) as i64
            + PER_FRAGMENT * (r.pdus as i64 - d.pdus as i64);
        if r.units != d.units || diff != expected {
            return Err(format!(
                "relayed {} units, {} B; direct {} units, {} B: not the envelope alone",
                r.units, r.bytes_on_air, d.units, d.bytes_on_air
            )
            .into());
        }
        total += diff;
        more_pdus += r.pdus as i64 - d.pdus as i64;
    }
    let per_reading = |n: i64| n as f64 / relayed.readings as f64;
    Ok((per_reading(total), per_reading(more_pdus)))
}

/// The relay part's closing table, beside the first part's direct figures.
fn print_relay_summary(summaries: &[RelaySummary], direct: &[Summary]) {
    println!("relayed through the phone, per reading in range: bytes on air, direct (first part) / relayed");
    let header = [
        "ATT_MTU",
        "device -> phone",
        "acks, phone -> device",
        "total",
        "socket, up + down",
        "radio, simulated",
        "whole stack, wall clock",
        "IK handshake, air + socket",
    ];
    let mut rows = Vec::new();
    for (s, d) in summaries.iter().zip(direct) {
        let [up, down, total] = s.in_range.phase.bytes();
        let [d_up, d_down, d_total] = d.clean.bytes();
        let [s_up, s_down] = s.in_range.socket_bytes();
        rows.push([
            s.att_mtu.to_string(),
            format!("{d_up:.1} / {up:.1} B"),
            format!("{d_down:.1} / {down:.1} B"),
            format!("{d_total:.1} / {total:.1} B"),
            format!("{s_up:.1} + {s_down:.1} B"),
            format!(
                "{:.1} / {:.1} /s",
                d.clean.radio_rate(),
                s.in_range.phase.radio_rate()
            ),
            format!(
                "{:.0} / {:.0} /s",
                d.clean.stack_rate(),
                s.in_range.phase.stack_rate()
            ),
            format!("{} + {} B", s.handshake.0, s.handshake.1),
        ]);
    }
    print_table(header, &rows);
    println!(
        "the difference is the relay envelope, {RELAY_HEADER_LEN} B on each record each way: the \
         IK session's records are as long as the KK session's, and its handshake is paid once per \
         session, not per reading"
    );
    println!(
        "socket: bytes written to the phone's TCP connection (2-byte length prefix, envelope, \
         record), not its TCP and IP headers; {UPLINK_MS} ms each way"
    );
    println!(
        "with the phone out of range for {:.0} s from message {OUT_OF_RANGE_AT}:",
        OUT_OF_RANGE_MS as f64 / 1000.0
    );
    for s in summaries {
        let [up, down, total] = s.across.phase.bytes();
        println!(
            "  ATT_MTU {:>3}: {up:.1} + {down:.1} = {total:.1} B per reading, {} sent again, {} \
             dropped by the cloud, every reading at the cloud once",
            s.att_mtu,
            plural(s.across.phase.resent, "frame"),
            plural(s.across.phase.duplicates, "duplicate")
        );
    }
    println!(
        "acknowledgements are cumulative, so those the phone dropped cost nothing once the cloud \
         acknowledges the next message; frames are sent again only where the drop lost one on the \
         radio (from there on, go-back-N)"
    );
}
