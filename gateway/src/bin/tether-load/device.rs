//! One simulated device: a handshake, then a vitals message at a set rate, kept in its outbox
//! until the gateway acknowledges it, across faults and reconnects. Its fault role, if any,
//! breaks its own connection now and then in one way.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tether::delivery::{
    Endpoint, Incoming, MemStorage, Outbox, OutboxConfig, ReceiverState, Sender, SenderConfig,
    StorageKey, MAX_FRAME,
};
use tether::message::decimal::{Decimal, Value};
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};
use tether::policy::PinnedKey;
use tether::{
    ChannelKind, Event, Framing, HandshakeConfig, Identity, Initiator, Instant as TInstant,
    OsEntropy, PublicKey, Session, SessionConfig, StaticKeypair, StreamDecoder, Suite, UnixTime,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep, timeout, Instant};

/// What a device is doing, set by the harness for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connect and stay idle (memory per idle session is measured here).
    Connect,
    /// Send readings at the set rate.
    Load,
    /// Stop producing; wait until everything is acknowledged.
    Drain,
    /// Close the session and leave.
    Leave,
}

/// How a device misbehaves (its own connection only; the gateway must shrug it off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Behaves.
    None,
    /// Writes half of a record, then drops the connection (cut and truncated records).
    Cut,
    /// Flips a byte of a record (corrupted bytes).
    Corrupt,
    /// Writes a record twice (duplicated bytes).
    Duplicate,
    /// Writes a record of an earlier session at the start of a new one (replayed bytes).
    Replay,
    /// Drops the connection right after sending, before the acknowledgement (reconnect
    /// mid-stream: the message is sent again on the next session).
    Reconnect,
}

impl Fault {
    /// The fault of device `i` when `1/every` of the devices misbehave (in turn, each kind).
    pub fn of(i: usize, every: usize) -> Fault {
        if every == 0 || i % every != every - 1 {
            return Fault::None;
        }
        match (i / every) % 5 {
            0 => Fault::Cut,
            1 => Fault::Corrupt,
            2 => Fault::Duplicate,
            3 => Fault::Replay,
            _ => Fault::Reconnect,
        }
    }
}

/// The harness's settings for every device.
pub struct Ctx {
    /// The gateway's address.
    pub addr: std::net::SocketAddr,
    /// Its public key.
    pub gateway_key: PublicKey,
    /// Messages per second per device.
    pub rate: f64,
    /// Readings per message.
    pub readings: usize,
    /// Seconds between a faulty device's faults.
    pub fault_every_s: f64,
    /// The phase.
    pub phase: watch::Receiver<Phase>,
    /// Devices with a session up now.
    pub connected: AtomicU64,
    /// Handshakes completed.
    pub handshakes: AtomicU64,
    /// Messages acknowledged.
    pub acked: AtomicU64,
    /// Connection attempts that failed (refused, reset, timed out).
    pub connect_failures: AtomicU64,
}

/// What one device reports at the end.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Its id.
    pub id: String,
    /// Its message stream.
    pub stream: [u8; 8],
    /// Messages pushed (sequence numbers 1..=pushed).
    pub pushed: u64,
    /// The highest sequence number acknowledged.
    pub acked: u64,
    /// Ticks skipped because the outbox was full.
    pub outbox_full: u64,
    /// Sessions established.
    pub sessions: u64,
    /// Faults injected.
    pub faults: u64,
    /// Acknowledgement latencies in microseconds (push to acknowledgement).
    pub latencies_us: Vec<u32>,
    /// Whether it left cleanly (everything acknowledged, session closed).
    pub finished: bool,
    /// The last error that ended a session, for the report.
    pub last_error: Option<String>,
}

/// The secret of device `i` (deterministic, so a run can be reproduced).
pub fn secret(seed: u64, i: usize) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"tether-load device");
    h.update(seed.to_be_bytes());
    h.update((i as u64).to_be_bytes());
    h.finalize().into()
}

/// The id of device `i`.
pub fn id(i: usize) -> String {
    format!("LOAD-{i:06}")
}

type Res<T> = Result<T, String>;

struct Dev {
    index: usize,
    ep: Endpoint<MemStorage>,
    /// Pushed and not yet acknowledged: sequence number and push time.
    inflight: VecDeque<(u64, Instant)>,
    out: Outcome,
    /// A record of an earlier session, for the replay fault.
    old_record: Option<Vec<u8>>,
    next_fault: Instant,
    start: std::time::Instant,
}

/// Runs device `i` until the harness says leave (or `deadline`).
pub async fn run(i: usize, seed: u64, fault: Fault, ctx: Arc<Ctx>) -> Outcome {
    let key = StaticKeypair::from_secret(secret(seed, i));
    let outbox = match Outbox::open(
        MemStorage::new(256, 256),
        &StorageKey::new(secret(seed ^ 0x5555, i)),
        OutboxConfig::default(),
        &mut OsEntropy,
    ) {
        Ok(o) => o,
        Err(r) => {
            return Outcome {
                id: id(i),
                last_error: Some(format!("outbox: {}", r.error())),
                ..Outcome::default()
            }
        }
    };
    let sender = match Sender::new(
        outbox,
        SenderConfig {
            window: 32,
            resend_after_ms: 0,
        },
    ) {
        Ok(s) => s,
        Err(e) => {
            return Outcome {
                id: id(i),
                last_error: Some(format!("sender: {e}")),
                ..Outcome::default()
            }
        }
    };
    let stream = sender.outbox().stream().0;
    let mut dev = Dev {
        index: i,
        ep: Endpoint::new(sender, ReceiverState::NEW),
        inflight: VecDeque::new(),
        out: Outcome {
            id: id(i),
            stream,
            ..Outcome::default()
        },
        old_record: None,
        next_fault: Instant::now() + jitter(i, ctx.fault_every_s),
        start: std::time::Instant::now(),
    };
    let identity = match Identity::new(id(i).as_bytes(), "LoadSim", "1.0", b"k1") {
        Ok(x) => x,
        Err(e) => {
            dev.out.last_error = Some(format!("identity: {e}"));
            return dev.out;
        }
    };
    let mut backoff = Duration::from_millis(100);
    let mut phase_rx = ctx.phase.clone();
    loop {
        let result = session(&mut dev, &key, &identity, fault, &ctx).await;
        match result {
            Ok(()) => {
                dev.out.finished = true;
                break;
            }
            Err(e) => {
                dev.out.last_error = Some(e);
            }
        }
        if *phase_rx.borrow_and_update() == Phase::Leave && dev.ep.sender().unacknowledged() == 0 {
            break;
        }
        // Back off with jitter so that a restarted gateway is not hit by everyone at once.
        let wait = backoff + Duration::from_millis((i as u64 * 7919) % 250);
        sleep(wait).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
        if dev.out.sessions > 0 {
            backoff = backoff.min(Duration::from_millis(400));
        }
    }
    dev.out
}

fn jitter(i: usize, every_s: f64) -> Duration {
    let base = every_s.max(0.1);
    Duration::from_secs_f64(base * (0.5 + ((i * 2654435761) % 1000) as f64 / 1000.0))
}

fn now(dev: &Dev) -> TInstant {
    TInstant(dev.start.elapsed().as_millis() as u64)
}

async fn session(
    dev: &mut Dev,
    key: &StaticKeypair,
    identity: &Identity,
    fault: Fault,
    ctx: &Ctx,
) -> Res<()> {
    let session_config = SessionConfig {
        max_plaintext: MAX_FRAME,
        ..SessionConfig::default()
    };
    let config = HandshakeConfig {
        suite: Suite::ChaChaPolyBlake2s,
        channel: ChannelKind::DeviceCloud,
        framing: Framing::Stream,
        context: b"",
        identity,
        static_key: key,
        session: session_config,
        dh_cache: None,
    };
    let mut sock = match timeout(Duration::from_secs(5), TcpStream::connect(ctx.addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            ctx.connect_failures.fetch_add(1, Ordering::Relaxed);
            return Err(format!("connect: {e}"));
        }
        Err(_) => {
            ctx.connect_failures.fetch_add(1, Ordering::Relaxed);
            return Err("connect: timed out".into());
        }
    };
    let _ = sock.set_nodelay(true);
    let mut hs = Initiator::provisioned(&config, &ctx.gateway_key, &mut OsEntropy)
        .map_err(|e| format!("handshake: {e}"))?;
    let mut buf = vec![0u8; 2048];
    let n = hs.write_message(&mut buf).map_err(|e| e.to_string())?;
    sock.write_all(&buf[..n]).await.map_err(|e| e.to_string())?;
    let mut dec = StreamDecoder::for_session_config(&session_config);
    let mut pending: Vec<u8> = Vec::new();
    let reply = timeout(
        Duration::from_secs(15),
        read_unit(&sock, &mut dec, &mut pending),
    )
    .await
    .map_err(|_| {
        ctx.connect_failures.fetch_add(1, Ordering::Relaxed);
        "handshake: no reply".to_string()
    })??;
    hs.read_message(&reply, &mut PinnedKey(ctx.gateway_key), unix_now())
        .map_err(|e| format!("handshake: {e}"))?;
    let mut session = hs
        .finish(now(dev))
        .map_err(|e| format!("handshake: {e}"))?
        .session;
    ctx.handshakes.fetch_add(1, Ordering::Relaxed);
    ctx.connected.fetch_add(1, Ordering::Relaxed);
    dev.out.sessions += 1;
    let r = serve(dev, &mut sock, &mut session, &mut dec, pending, fault, ctx).await;
    ctx.connected.fetch_sub(1, Ordering::Relaxed);
    r
}

fn unix_now() -> UnixTime {
    UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

async fn read_unit(
    sock: &TcpStream,
    dec: &mut StreamDecoder,
    pending: &mut Vec<u8>,
) -> Res<Vec<u8>> {
    loop {
        if !pending.is_empty() {
            let mut input = &pending[..];
            let unit = dec
                .next(&mut input)
                .map_err(|e| format!("framing: {e}"))?
                .map(<[u8]>::to_vec);
            let used = pending.len() - input.len();
            pending.drain(..used);
            if let Some(u) = unit {
                return Ok(u);
            }
        }
        sock.readable().await.map_err(|e| e.to_string())?;
        let mut chunk = [0u8; 4096];
        match sock.try_read(&mut chunk) {
            Ok(0) => return Err("the gateway closed the connection".into()),
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn vitals(readings: usize, out: &mut [u8]) -> Res<usize> {
    let channels = [
        Channel::Known {
            code: VitalCode::SpO2,
            exponent: 0,
        },
        Channel::Known {
            code: VitalCode::PulseRate,
            exponent: 0,
        },
    ];
    let t = tether_gateway::wall_ms();
    let list: Vec<Reading> = (0..readings)
        .map(|k| Reading {
            time_ms: t + (k / 2) as u64 * 200,
            channel: (k % 2) as u8,
            value: Value::Number(Decimal::new(
                if k % 2 == 0 {
                    95 + (k as i64 % 4)
                } else {
                    70 + (k as i64 % 7)
                },
                0,
            )),
        })
        .collect();
    VitalsBatch::encode(t, 100, &channels, &list, out).map_err(|e| e.to_string())
}

enum Step {
    Continue,
    Leave,
}

async fn serve(
    dev: &mut Dev,
    sock: &mut TcpStream,
    session: &mut Session,
    dec: &mut StreamDecoder,
    mut pending: Vec<u8>,
    fault: Fault,
    ctx: &Ctx,
) -> Res<()> {
    dev.ep.on_reconnect();
    let mut phase_rx = ctx.phase.clone();
    let period = Duration::from_secs_f64(1.0 / ctx.rate.max(0.001));
    // Each device at its own phase of the period, as real devices are: not all in the same
    // millisecond. The clock starts when the load does (a tick missed while idle would
    // otherwise fire for every device at once).
    let offset =
        period.mul_f64(((dev.index as u64).wrapping_mul(2_654_435_761) % 10_000) as f64 / 10_000.0);
    let mut tick = tokio::time::interval_at(Instant::now() + offset, period);
    let mut ticking = *phase_rx.borrow() == Phase::Load;
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut wire = Vec::new();
    // A replayed record from an earlier session, first thing (the gateway must drop us).
    if fault == Fault::Replay && Instant::now() >= dev.next_fault {
        if let Some(old) = dev.old_record.take() {
            dev.out.faults += 1;
            dev.next_fault = Instant::now() + jitter(dev.out.pushed as usize, ctx.fault_every_s);
            sock.write_all(&old).await.map_err(|e| e.to_string())?;
        }
    }
    let mut closing = false;
    loop {
        // Whatever is due to the gateway: acknowledgements, hello, data.
        let mut frame = [0u8; MAX_FRAME];
        while let Some(n) = dev
            .ep
            .poll(now(dev).0, &mut frame)
            .map_err(|e| format!("delivery: {e}"))?
        {
            let start = wire.len();
            wire.resize(start + session.seal_capacity(n), 0);
            let sealed = session
                .seal(now(dev), &frame[..n], &mut wire[start..])
                .map_err(|e| format!("seal: {e}"))?;
            wire.truncate(start + sealed.total());
            if fault == Fault::Replay && dev.old_record.is_none() {
                dev.old_record = Some(wire[start..].to_vec());
            }
        }
        if !wire.is_empty() {
            let injected = fault != Fault::None
                && fault != Fault::Replay
                && Instant::now() >= dev.next_fault
                && !dev.inflight.is_empty();
            if injected {
                dev.out.faults += 1;
                dev.next_fault =
                    Instant::now() + jitter(dev.out.pushed as usize, ctx.fault_every_s);
                match fault {
                    Fault::Cut => {
                        let half = wire.len() / 2;
                        let _ = sock.write_all(&wire[..half.max(1)]).await;
                        return Err("fault: cut mid-record".into());
                    }
                    Fault::Corrupt => {
                        let at = wire.len() - 3;
                        wire[at] ^= 0x40;
                        let _ = sock.write_all(&wire).await;
                    }
                    Fault::Duplicate => {
                        let copy = wire.clone();
                        wire.extend_from_slice(&copy);
                        let _ = sock.write_all(&wire).await;
                    }
                    Fault::Reconnect => {
                        let _ = sock.write_all(&wire).await;
                        return Err("fault: reconnect before the acknowledgement".into());
                    }
                    Fault::None | Fault::Replay => {}
                }
                wire.clear();
            } else {
                sock.write_all(&wire).await.map_err(|e| e.to_string())?;
                wire.clear();
            }
        }
        let phase = *phase_rx.borrow();
        if phase == Phase::Load && !ticking {
            tick = tokio::time::interval_at(Instant::now() + offset, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticking = true;
        }
        if phase == Phase::Leave && dev.ep.sender().unacknowledged() == 0 && !closing {
            let mut close = [0u8; 64];
            let n = session.close(&mut close).map_err(|e| e.to_string())?;
            sock.write_all(&close[..n])
                .await
                .map_err(|e| e.to_string())?;
            closing = true;
        }
        tokio::select! {
            _ = tick.tick(), if phase == Phase::Load => {
                let mut msg = [0u8; 512];
                let n = vitals(ctx.readings, &mut msg)?;
                match dev.ep.push(&msg[..n]) {
                    Ok(seq) => {
                        dev.out.pushed = seq;
                        dev.inflight.push_back((seq, Instant::now()));
                    }
                    Err(_) => dev.out.outbox_full += 1,
                }
            }
            r = sock.readable() => {
                r.map_err(|e| e.to_string())?;
                let mut chunk = [0u8; 4096];
                match sock.try_read(&mut chunk) {
                    Ok(0) => {
                        return if closing { Ok(()) } else { Err("the gateway closed the connection".into()) };
                    }
                    Ok(n) => pending.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e.to_string()),
                }
                match on_input(dev, session, dec, &mut pending, ctx)? {
                    Step::Continue => {}
                    Step::Leave => return Ok(()),
                }
            }
            _ = phase_rx.changed() => {}
        }
    }
}

fn on_input(
    dev: &mut Dev,
    session: &mut Session,
    dec: &mut StreamDecoder,
    pending: &mut Vec<u8>,
    ctx: &Ctx,
) -> Res<Step> {
    let mut plain = [0u8; MAX_FRAME + 64];
    let mut input = &pending[..];
    let mut step = Step::Continue;
    while let Some(unit) = dec.next(&mut input).map_err(|e| format!("framing: {e}"))? {
        let t = TInstant(dev.start.elapsed().as_millis() as u64);
        match session.open(t, unit, &mut plain) {
            Ok(Event::Data(d)) => {
                if let Incoming::Ack(n) = dev.ep.handle(d).map_err(|e| format!("delivery: {e}"))? {
                    let at = Instant::now();
                    while dev.inflight.front().is_some_and(|(s, _)| *s <= n) {
                        if let Some((_, pushed)) = dev.inflight.pop_front() {
                            let us = at.duration_since(pushed).as_micros().min(u32::MAX as u128);
                            dev.out.latencies_us.push(us as u32);
                            ctx.acked.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    dev.out.acked = dev.out.acked.max(n);
                }
            }
            Ok(Event::KeyUpdate { .. }) => {}
            Ok(Event::Close) => {
                step = Step::Leave;
                break;
            }
            Err(e) => return Err(format!("record: {e}")),
        }
    }
    let used = pending.len() - input.len();
    pending.drain(..used);
    Ok(step)
}
