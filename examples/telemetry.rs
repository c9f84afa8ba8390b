//! The application layer end to end over loopback TCP: a device sends a vitals batch, a
//! diagnostics report and a usage report, each kept sealed in its outbox until the cloud says it is
//! stored; the connection drops before one acknowledgement arrives, the device reconnects and
//! sends that message again, and the cloud recognises the copy and stores nothing twice. Then the
//! cloud sends a therapy command signed by a clinic's authority key; the device checks it (signature,
//! authority, its own id, validity, allowed operation and range, order) and acknowledges it.
//!
//! ```text
//! cargo run --example telemetry
//! ```
//!
//! Both sides run in this process (the cloud on a thread); everything between them crosses a real
//! socket as tether records. The keys are fixed so the output is the same on every run. Never ship
//! fixed keys.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use tether::delivery::{
    Endpoint, FileStorage, Incoming, MemStorage, Outbox, OutboxConfig, OutboxStorage,
    ReceiverState, Sender, SenderConfig, StorageKey,
};
use tether::handshake::Established;
use tether::message::command::{
    AckStatus, Command, CommandAck, CommandAuthority, CommandPolicy, CommandVerifier, Grant,
    ParamRule, Params,
};
use tether::message::cose::Signer;
use tether::message::decimal::{Decimal, Value};
use tether::message::diagnostics::{DiagnosticsReport, ErrorCount, ErrorCounts};
use tether::message::security_event::{SecurityEvent, SecurityEventBatch};
use tether::message::usage::{UsageBatch, UsageEvent, UsageKind};
use tether::message::vitals::{Channel, Reading, VitalCode, VitalsBatch};
use tether::message::{Kind, Message};
use tether::policy::{AllowList, PinnedKey};
use tether::*;

const CLOUD_SECRET: [u8; 32] = [0xC1; 32];
const DEVICE_SECRET: [u8; 32] = [0xD1; 32];
/// The clinic's command-authority key (in a real deployment: in an HSM, never on the gateway).
const CLINIC_SEED: [u8; 32] = [0xA7; 32];
const DEVICE_ID: &[u8] = b"SN-DEMO-0001";
/// The wall clock of this story, in ms since the Unix epoch (2026-01-15 08:30 UTC).
const T0: u64 = 1_768_465_800_000;
/// Set basal rate, parameter 1 in 0.001 U/h: the one operation the clinic may order here.
const SET_BASAL_RATE: u16 = 1;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// One session over a TCP stream: seal and send frames, receive and open them.
struct Link {
    sock: TcpStream,
    session: Session,
    dec: StreamDecoder,
    pending: Vec<u8>,
}

impl Link {
    fn send(&mut self, frame: &[u8]) -> Res<()> {
        let mut wire = vec![0u8; self.session.seal_capacity(frame.len())];
        let sealed = self.session.seal(Instant(0), frame, &mut wire)?;
        self.sock.write_all(&wire[..sealed.total()])?;
        Ok(())
    }

    /// The next application frame, or None when the peer hung up or closed.
    fn recv(&mut self) -> Res<Option<Vec<u8>>> {
        loop {
            let mut input = &self.pending[..];
            let mut out = vec![0u8; 2048];
            let got = match self.dec.next(&mut input)? {
                Some(unit) => Some(match self.session.open(Instant(0), unit, &mut out)? {
                    Event::Data(d) => Some(d.to_vec()),
                    Event::Close => None,
                    Event::KeyUpdate { .. } => Some(Vec::new()),
                }),
                None => None,
            };
            let used = self.pending.len() - input.len();
            self.pending.drain(..used);
            match got {
                Some(Some(frame)) if frame.is_empty() => continue,
                Some(frame) => return Ok(frame),
                None => {}
            }
            let mut chunk = [0u8; 4096];
            let n = self.sock.read(&mut chunk)?;
            if n == 0 {
                return Ok(None);
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends everything the endpoint has due (acknowledgements, hello, data).
    fn flush<S: OutboxStorage>(&mut self, ep: &mut Endpoint<S>, now_ms: u64) -> Res<()> {
        let mut out = vec![0u8; 2048];
        while let Some(n) = ep.poll(now_ms, &mut out)? {
            self.send(&out[..n])?;
        }
        Ok(())
    }
}

fn session_config() -> SessionConfig {
    SessionConfig::default()
}

// ---------------------------------------------------------------- cloud

/// What the cloud keeps across connections (its database, here in memory).
struct CloudStore {
    /// The device's receiver state, stored with the messages (one transaction in a real gateway).
    device_stream: ReceiverState,
    stored: Vec<(u64, Vec<u8>)>,
    /// The cloud's own outbox toward the device (commands), and its sender.
    to_device: Option<Sender<MemStorage>>,
}

fn cloud(listener: TcpListener, done: mpsc::Sender<String>) -> Res<()> {
    let cloud_key = StaticKeypair::from_secret(CLOUD_SECRET);
    let device_key = StaticKeypair::from_secret(DEVICE_SECRET).public();
    let identity = Identity::new(b"ingest.example", "gateway", "1.0", b"k1")?;
    let config = ResponderConfig {
        suites: Suite::ENABLED,
        patterns: &[Pattern::Provisioned],
        channel: ChannelKind::DeviceCloud,
        framing: Framing::Stream,
        context: b"",
        identity: &identity,
        static_key: &cloud_key,
        session: session_config(),
        known_initiator: None,
        pairing: None,
        allow_without_code: false,
        dh_cache: None,
    };
    let registry = [(DEVICE_ID, device_key)];
    let outbox = Outbox::open(
        MemStorage::new(16, 1100),
        &StorageKey::new([0x5C; 32]),
        OutboxConfig::default(),
        &mut OsEntropy,
    )
    .map_err(|r| r.error())?;
    let mut store = CloudStore {
        device_stream: ReceiverState::NEW,
        stored: Vec::new(),
        to_device: Some(Sender::new(outbox, SenderConfig::default())?),
    };
    for connection in 1..=2 {
        let (sock, _) = listener.accept()?;
        sock.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut dec = StreamDecoder::for_session_config(&config.session);
        let mut pending = Vec::new();
        let mut sock2 = sock.try_clone()?;
        // Handshake: IK, the device's key must be registered.
        let hs = loop {
            let mut chunk = [0u8; 2048];
            let n = sock2.read(&mut chunk)?;
            pending.extend_from_slice(&chunk[..n]);
            let mut input = &pending[..];
            if let Some(unit) = dec.next(&mut input)? {
                let r = Responder::accept(
                    &config,
                    unit,
                    &mut AllowList::new(&registry),
                    UnixTime(T0 / 1000),
                    &mut OsEntropy,
                )?;
                let used = pending.len() - input.len();
                pending.drain(..used);
                break r;
            }
        };
        let mut hs = hs;
        let mut buf = vec![0u8; 2048];
        let n = hs.write_message(&mut buf)?;
        sock2.write_all(&buf[..n])?;
        let Established { session, .. } = hs.finish(Instant(0))?;
        println!(
            "[cloud]  connection {connection}: session up with {}",
            String::from_utf8_lossy(DEVICE_ID)
        );
        let mut link = Link {
            sock,
            session,
            dec,
            pending,
        };
        let sender = store.to_device.take().ok_or("sender")?;
        let mut ep = Endpoint::new(sender, store.device_stream);
        ep.on_reconnect();
        let result = serve(&mut link, &mut ep, &mut store, connection);
        let (sender, _) = ep.into_parts();
        store.to_device = Some(sender);
        if let Err(e) = result {
            println!("[cloud]  connection {connection} ended: {e}");
        }
    }
    let summary = format!(
        "stored {} messages, sequence numbers {:?}",
        store.stored.len(),
        store.stored.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
    println!("[cloud]  {summary}");
    done.send(summary)?;
    Ok(())
}

fn serve(
    link: &mut Link,
    ep: &mut Endpoint<MemStorage>,
    store: &mut CloudStore,
    connection: u32,
) -> Res<()> {
    let mut out = vec![0u8; 2048];
    let mut command_sent = false;
    while let Some(frame) = link.recv()? {
        match ep.handle(&frame)? {
            Incoming::Message { seq, bytes, then } => {
                describe_up(seq, bytes)?;
                // "Durably" stored with the receiver state, then acknowledged.
                store.stored.push((seq, bytes.to_vec()));
                store.device_stream = then;
                let n = ep.delivered(seq, &mut out)?;
                link.send(&out[..n])?;
            }
            Incoming::Duplicate { ack } => {
                println!(
                    "[cloud]  <- a copy of message {ack}, already stored: dropped, acknowledged again"
                );
            }
            Incoming::NewStream { first_seq, .. } => {
                println!("[cloud]  <- hello: a new message stream from the device, starting at {first_seq}")
            }
            Incoming::Resumed { ack } => {
                println!("[cloud]  <- hello: the device resumes; everything up to {ack} is stored")
            }
            _ => {}
        }
        link.flush(ep, 0)?;
        // Once the device has caught up on the second connection, order a therapy change.
        if connection == 2 && !command_sent && store.stored.len() >= 3 {
            command_sent = true;
            let signer = Signer::from_seed(&CLINIC_SEED, b"clinic")?;
            let command = Command {
                device_id: DEVICE_ID,
                command_id: 1,
                issued_ms: T0 + 60_000,
                expires_ms: T0 + 360_000,
                operation: SET_BASAL_RATE,
                params: Params::new(&[(1, 1250)])?,
            };
            let n = command.encode(&signer, &mut out)?;
            let seq = ep.push(&out[..n])?;
            println!(
                "[cloud]  -> therapy command 1 (set basal rate 1.250 U/h), signed by the clinic: {n} bytes, message {seq} to the device"
            );
            link.flush(ep, 0)?;
        }
    }
    Ok(())
}

fn describe_up(seq: u64, bytes: &[u8]) -> Res<()> {
    match Message::parse(bytes)?.kind {
        Kind::Vitals => {
            let b = VitalsBatch::decode(bytes)?;
            let shown: Vec<String> = b
                .readings()
                .take(4)
                .map(|r| {
                    let ch = b.channels()[usize::from(r.channel)];
                    format!("{} {}", value_text(&r.value), unit_text(&ch))
                })
                .collect();
            println!(
                "[cloud]  <- message {seq}: vitals, {} readings in {} bytes ({:.1} per reading): {} ...",
                b.len(),
                bytes.len(),
                bytes.len() as f64 / b.len() as f64,
                shown.join(", ")
            );
        }
        Kind::Diagnostics => {
            let d = DiagnosticsReport::decode(bytes)?;
            println!(
                "[cloud]  <- message {seq}: diagnostics, battery {}% ({} mV), firmware {}, uptime {} s, {} error code(s)",
                d.battery_percent.unwrap_or(0),
                d.battery_mv.unwrap_or(0),
                d.firmware.unwrap_or("?"),
                d.uptime_s.unwrap_or(0),
                d.errors.map_or(0, |e| e.len())
            );
        }
        Kind::Usage => {
            let u = UsageBatch::decode(bytes)?;
            println!("[cloud]  <- message {seq}: usage, {} event(s)", u.len());
        }
        Kind::SecurityEvents => {
            let b = SecurityEventBatch::decode(bytes)?;
            for e in b.events() {
                println!(
                    "[cloud]  <- message {seq}: security event {:?} (detail {}) x{} at {} ms: into the audit trail",
                    e.cause, e.detail, e.count, e.time_ms
                );
            }
        }
        Kind::CommandAck => {
            let a = CommandAck::decode(bytes)?;
            println!(
                "[cloud]  <- message {seq}: acknowledgement of command {}: {:?}",
                a.command_id, a.status
            );
        }
        other => println!("[cloud]  <- message {seq}: {other:?}"),
    }
    Ok(())
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Number(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn unit_text(ch: &Channel) -> &'static str {
    match ch {
        Channel::Known { code, .. } => code.ucum(),
        _ => "",
    }
}

// ---------------------------------------------------------------- device

fn connect(addr: &str) -> Res<Link> {
    let key = StaticKeypair::from_secret(DEVICE_SECRET);
    let cloud_key = StaticKeypair::from_secret(CLOUD_SECRET).public();
    let identity = Identity::new(DEVICE_ID, "InsulinPump P2", "2.5.0", b"k1")?;
    let config = HandshakeConfig {
        suite: Suite::ChaChaPolyBlake2s,
        channel: ChannelKind::DeviceCloud,
        framing: Framing::Stream,
        context: b"",
        identity: &identity,
        static_key: &key,
        session: session_config(),
        dh_cache: None,
    };
    let mut sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut hs = Initiator::provisioned(&config, &cloud_key, &mut OsEntropy)?;
    let mut buf = vec![0u8; 2048];
    let n = hs.write_message(&mut buf)?;
    sock.write_all(&buf[..n])?;
    let mut dec = StreamDecoder::for_session_config(&config.session);
    let mut pending = Vec::new();
    loop {
        let mut chunk = [0u8; 2048];
        let n = sock.read(&mut chunk)?;
        if n == 0 {
            return Err("cloud hung up during the handshake".into());
        }
        pending.extend_from_slice(&chunk[..n]);
        let mut input = &pending[..];
        if let Some(unit) = dec.next(&mut input)? {
            hs.read_message(unit, &mut PinnedKey(cloud_key), UnixTime(T0 / 1000))?;
            let used = pending.len() - input.len();
            pending.drain(..used);
            break;
        }
    }
    let session = hs.finish(Instant(0))?.session;
    Ok(Link {
        sock,
        session,
        dec,
        pending,
    })
}

/// Says what an acknowledgement freed, once per new acknowledgement.
fn report_ack(seq: u64, last: &mut u64) {
    if seq > *last {
        println!("[device] <- the cloud has stored everything up to message {seq}: freed from the outbox");
        *last = seq;
    }
}

/// Waits until the sender has nothing unacknowledged, handling what arrives meanwhile.
fn until_acknowledged<S: OutboxStorage>(
    link: &mut Link,
    ep: &mut Endpoint<S>,
    last: &mut u64,
) -> Res<()> {
    while ep.sender().unacknowledged() > 0 {
        let frame = link.recv()?.ok_or("cloud hung up")?;
        if let Incoming::Ack(seq) = ep.handle(&frame)? {
            report_ack(seq, last);
        }
        link.flush(ep, 0)?;
    }
    Ok(())
}

fn vitals_batch(out: &mut [u8]) -> Res<usize> {
    let channels = [
        Channel::Known {
            code: VitalCode::SpO2,
            exponent: 0,
        },
        Channel::Known {
            code: VitalCode::PulseRate,
            exponent: 0,
        },
        Channel::Known {
            code: VitalCode::BodyTemperature,
            exponent: -1,
        },
    ];
    let mut readings = Vec::new();
    for s in 0..30u64 {
        let t = T0 + s * 1000;
        let spo2 = [97, 97, 96, 98][s as usize % 4];
        readings.push(Reading {
            time_ms: t,
            channel: 0,
            value: Value::Number(Decimal::new(spo2, 0)),
        });
        readings.push(Reading {
            time_ms: t,
            channel: 1,
            value: Value::Number(Decimal::new(72 + (s as i64 % 3), 0)),
        });
    }
    readings.push(Reading {
        time_ms: T0 + 30_000,
        channel: 2,
        value: Value::Number(Decimal::new(372, -1)),
    });
    readings.push(Reading {
        time_ms: T0 + 30_000,
        channel: 0,
        value: Value::NaN,
    });
    Ok(VitalsBatch::encode(T0, 1000, &channels, &readings, out)?)
}

fn device(addr: &str, outbox_dir: &std::path::Path) -> Res<()> {
    let storage_key = StorageKey::new([0x0B; 32]);
    let storage = FileStorage::new(outbox_dir, 16, 1100)?;
    let outbox = Outbox::open(
        storage,
        &storage_key,
        OutboxConfig::default(),
        &mut OsEntropy,
    )
    .map_err(|r| r.error())?;
    let mut ep = Endpoint::new(
        Sender::new(outbox, SenderConfig::default())?,
        ReceiverState::NEW,
    );
    let mut msg = vec![0u8; 1100];
    let mut acked = 0;

    // Connection 1: a vitals batch and a diagnostics report, both acknowledged.
    let mut link = connect(addr)?;
    println!("[device] connection 1: session up (Noise IK, ChaChaPoly)");
    ep.on_reconnect();
    let n = vitals_batch(&mut msg)?;
    let seq = ep.push(&msg[..n])?;
    println!("[device] -> message {seq}: vitals batch, 62 readings, {n} bytes (sealed in the outbox first)");
    let errors = [ErrorCount {
        code: 0x2101,
        count: 2,
    }];
    let mut report = DiagnosticsReport::new(T0 + 31_000);
    report.battery_percent = Some(82);
    report.battery_mv = Some(3_912);
    report.firmware = Some("2.5.0");
    report.errors = Some(ErrorCounts::new(&errors));
    report.uptime_s = Some(86_400);
    report.signal_dbm = Some(-67);
    let n = report.encode(&mut msg)?;
    let seq = ep.push(&msg[..n])?;
    println!("[device] -> message {seq}: diagnostics report, {n} bytes");
    link.flush(&mut ep, 0)?;
    until_acknowledged(&mut link, &mut ep, &mut acked)?;

    // A usage report goes out, and the link drops before its acknowledgement comes back.
    let events = [
        UsageEvent {
            time_ms: T0 + 40_000,
            kind: UsageKind::TherapyStarted,
            value: 3,
        },
        UsageEvent {
            time_ms: T0 + 41_000,
            kind: UsageKind::ButtonPressed,
            value: 1,
        },
    ];
    let n = UsageBatch::encode(T0 + 40_000, &events, &mut msg)?;
    let seq = ep.push(&msg[..n])?;
    println!("[device] -> message {seq}: usage report, {n} bytes ... and the link drops");
    link.flush(&mut ep, 0)?;
    link.sock.shutdown(std::net::Shutdown::Both)?;
    drop(link);
    println!(
        "[device] offline: {} message(s) unacknowledged, kept sealed in {}",
        ep.sender().unacknowledged(),
        outbox_dir.display()
    );
    thread::sleep(Duration::from_millis(100));

    // Connection 2: everything unacknowledged goes again; then a command comes down.
    let mut link = connect(addr)?;
    println!("[device] connection 2: session up; resending what was not acknowledged");
    ep.on_reconnect();
    link.flush(&mut ep, 0)?;
    let authority_key = Signer::from_seed(&CLINIC_SEED, b"clinic")?.authority_key();
    let rules = [ParamRule {
        id: 1,
        min: 0,
        max: 5_000,
        required: true,
    }];
    let grants = [Grant {
        operation: SET_BASAL_RATE,
        params: &rules,
    }];
    let authorities = [CommandAuthority {
        key: authority_key,
        grants: &grants,
    }];
    let policy = CommandPolicy {
        device_id: DEVICE_ID,
        authorities: &authorities,
        max_clock_skew_ms: 60_000,
    };
    let mut verifier = CommandVerifier::new(0);
    let now = T0 + 61_000;
    loop {
        let frame = link.recv()?.ok_or("cloud hung up")?;
        let mut ack_out = vec![0u8; 64];
        match ep.handle(&frame)? {
            Incoming::Ack(seq) => report_ack(seq, &mut acked),
            Incoming::Message { seq, bytes, .. } => {
                let (id, status) = match verifier.verify(&policy, bytes, now) {
                    Ok(c) => {
                        let c = c.command();
                        println!(
                            "[device] <- command {}: operation {}, rate {} (0.001 U/h): signature, authority, device id, validity, range and order check out",
                            c.command_id,
                            c.operation,
                            c.params.get(1).unwrap_or(0)
                        );
                        (c.command_id, AckStatus::Executed)
                    }
                    Err(e) => {
                        println!("[device] <- command refused: {e}");
                        let reason = tether::message::command::rejection_of(&e);
                        (
                            CommandAck::rejected(bytes, reason, now).command_id,
                            AckStatus::Rejected(reason),
                        )
                    }
                };
                let n = ep.delivered(seq, &mut ack_out)?;
                link.send(&ack_out[..n])?;
                let ack = CommandAck {
                    command_id: id,
                    status,
                    time_ms: now,
                };
                let n = ack.encode(&mut msg)?;
                let s = ep.push(&msg[..n])?;
                println!("[device] -> message {s}: acknowledgement {status:?} of command {id}");
                // The same command again (a relay replaying it) is refused and changes nothing;
                // the refusal goes into the audit trail as a security event.
                if let Err(e) = verifier.verify(&policy, bytes, now) {
                    println!("[device]    the same command replayed: refused ({e})");
                    if let Some(event) = SecurityEvent::from_error(&e, now) {
                        let n = SecurityEventBatch::encode(now, &[event], &mut msg)?;
                        let s = ep.push(&msg[..n])?;
                        println!("[device] -> message {s}: security event for the audit trail");
                    }
                }
            }
            _ => {}
        }
        link.flush(&mut ep, 0)?;
        if ep.sender().unacknowledged() == 0 && verifier.last_accepted() > 0 {
            break;
        }
    }
    let mut buf = vec![0u8; 128];
    let n = link.session.close(&mut buf)?;
    link.sock.write_all(&buf[..n])?;
    println!("[device] all messages acknowledged; close");
    Ok(())
}

fn main() -> Res<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let (done_tx, done_rx) = mpsc::channel();
    let cloud_thread = thread::spawn(move || {
        if let Err(e) = cloud(listener, done_tx) {
            eprintln!("[cloud] error: {e}");
        }
    });
    let dir = std::env::temp_dir().join(format!("tether-telemetry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = device(&addr, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    let summary = done_rx.recv_timeout(Duration::from_secs(10))?;
    cloud_thread.join().map_err(|_| "cloud thread panicked")?;
    println!("done: the cloud {summary}");
    Ok(())
}
